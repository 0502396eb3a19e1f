# cpis-notify build.  `make` builds the plugin and the mock host; `make check`
# runs every test, then the suite again under ASan+UBSan.  See README.md.

PKGS      := libxml-2.0 libcjson libpcre2-8 zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
CMOCKA_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   := $(shell pkg-config --libs cmocka 2>/dev/null)
SQLITE_CFLAGS := $(shell pkg-config --cflags sqlite3)
SQLITE_LIBS   := $(shell pkg-config --libs sqlite3)
# The mock host's stores: SQLite (default) and PostgreSQL (libpq).
SQLITE_CFLAGS += $(shell pkg-config --cflags libpq)
SQLITE_LIBS   += $(shell pkg-config --libs libpq)

CC      ?= cc
BUILD   ?= build
SAN     ?=
PREFIX  ?= /usr/local
DESTDIR ?=

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
           -Wmissing-prototypes -Wvla -Wno-unused-parameter
HARDEN  := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIC
OPT     ?= -O2 -g
CSTD    := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
ifeq ($(SAN),1)
  OPT    := -O1 -g -fno-omit-frame-pointer
  SANFL  := -fsanitize=address,undefined -fno-sanitize-recover=all
  HARDEN := -fstack-protector-strong -fPIC
endif
# Undefined symbols in the plugin are link errors, except under TSan, whose
# runtime lives in the executable that loads the plugin.
ZDEFS   := -Wl,-z,defs
ifeq ($(SAN),thread)
  ZDEFS  :=
  OPT    := -O1 -g -fno-omit-frame-pointer
  SANFL  := -fsanitize=thread
  HARDEN := -fstack-protector-strong -fPIC
endif
CFLAGS_ALL  = $(CSTD) $(OPT) $(WARN) $(HARDEN) $(SANFL) -Iinclude -Iplugin -Iplugin/read -Iworkflow $(PKG_CFLAGS) $(CFLAGS)
LDHARDEN    := -Wl,-z,relro,-z,now -Wl,--as-needed
LDFLAGS_ALL = $(SANFL) $(LDHARDEN) $(LDFLAGS)

PLUGIN_SRCS := $(sort $(wildcard plugin/*.c) $(wildcard plugin/read/*.c) $(wildcard workflow/*.c))
PLUGIN_OBJS := $(PLUGIN_SRCS:%.c=$(BUILD)/obj/%.o)
# plugin/scrub.c: the mock host masks its own error lines as the plugin does
MOCK_SRCS   := $(sort $(wildcard samples/mockhost/*.c)) plugin/scrub.c
MOCK_OBJS   := $(MOCK_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_SRCS   := $(sort $(wildcard tests/test_*.c))
TEST_BINS   := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
TEST_SUPPORT_SRCS := $(sort $(wildcard tests/support/*.c))
TEST_SUPPORT_OBJS := $(TEST_SUPPORT_SRCS:%.c=$(BUILD)/obj/%.o)

FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_REPLAY_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz-replay/%)

SO       := $(BUILD)/cpis_notify.so
MOCKHOST := $(BUILD)/cpis-mockhost
INTERNAL := $(BUILD)/libcpis_internal.a

.SECONDARY:
.PHONY: preview-png
.PHONY: all check test-run fuzz-replay fuzz-smoke demo check-san check-tsan check-exports check-header \
        install clean fuzz bench bench-pg scenarios

all: $(SO) $(MOCKHOST)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fvisibility=hidden -MMD -MP -c $< -o $@

$(BUILD)/obj/samples/mockhost/%.o: samples/mockhost/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(SQLITE_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(CMOCKA_CFLAGS) -Itests -MMD -MP -c $< -o $@

$(SO): $(PLUGIN_OBJS) plugin/cpis_notify.map
	$(CC) -shared -o $@ $(PLUGIN_OBJS) $(LDFLAGS_ALL) \
	  -Wl,--version-script=plugin/cpis_notify.map $(ZDEFS) $(PKG_LIBS) -lpthread

$(INTERNAL): $(PLUGIN_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(MOCKHOST): $(MOCK_OBJS)
	$(CC) -o $@ $^ $(LDFLAGS_ALL) -rdynamic $(SQLITE_LIBS) $(PKG_LIBS) -ldl -lpthread

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_SUPPORT_OBJS) $(INTERNAL)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(TEST_SUPPORT_OBJS) $(INTERNAL) $(LDFLAGS_ALL) $(CMOCKA_LIBS) $(PKG_LIBS) -ldl -lpthread

# ---- tests ---------------------------------------------------------------
# Every CMocka binary runs with the plugin, the mock host and the samples
# named in the environment; CMocka's summary is on stderr, so 2>&1.
TEST_ENV = CPIS_PLUGIN_SO=$(abspath $(SO)) CPIS_MOCKHOST=$(abspath $(MOCKHOST)) \
           CPIS_SAMPLES=$(abspath samples) \
           ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1

# Each test's output is kept in $(BUILD)/test-logs and shown; the last line
# adds up every runner's own count (CMocka's summary is on stderr: 2>&1).
test-run: $(SO) $(MOCKHOST) $(TEST_BINS) $(FUZZ_REPLAY_BINS) check-exports
	@rm -rf $(BUILD)/test-logs; mkdir -p $(BUILD)/test-logs; fail=0; \
	run() { log=$(BUILD)/test-logs/$$(echo "$$1" | tr '/ ' '__').log; \
	  echo "== $$1"; shift; "$$@" > $$log 2>&1; rc=$$?; cat $$log; return $$rc; }; \
	for t in $(TEST_BINS); do run $$t env $(TEST_ENV) $$t || fail=1; done; \
	for f in $(FUZZ_NAMES); do \
	  run "fuzz corpus $$f" env $(TEST_ENV) $(BUILD)/fuzz-replay/$$f $$f tests/fuzz/corpus/$$f || fail=1; \
	done; \
	for s in $(sort $(wildcard tests/scenarios/*.sh)); do run $$s env $(TEST_ENV) bash $$s || fail=1; done; \
	cat $(BUILD)/test-logs/*.log | awk ' \
	  /^\[  PASSED  \] [0-9]+ test/ { p += $$4 } \
	  /^\[  FAILED  \] [0-9]+ test/ { f += $$4 } \
	  /^[A-Za-z0-9_ -]+: [0-9]+ passed, [0-9]+ failed/ { sub(/^.*: /, ""); p += $$1; f += $$3 } \
	  END { printf "%s: %d passed, %d failed\n", "$(BUILD)", p, f }'; \
	exit $$fail

# The suite, then again under ASan+UBSan, then under ThreadSanitizer when
# clang and its sanitizer runtime are installed (.ci/run installs them).
HAVE_TSAN := $(shell command -v clang >/dev/null 2>&1 && ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.tsan-x86_64.a >/dev/null 2>&1 && echo yes)
check: check-header
	$(MAKE) test-run
	$(MAKE) BUILD=build/san SAN=1 test-run
	$(MAKE) fuzz-smoke
ifeq ($(HAVE_TSAN),yes)
	$(MAKE) check-tsan
	@echo "make check: all tests passed (plain, ASan+UBSan, ThreadSanitizer)"
else
	@echo "make check: all tests passed (plain and ASan+UBSan; ThreadSanitizer skipped: no clang runtime)"
endif

check-san:
	$(MAKE) BUILD=build/san SAN=1 test-run

# check-tsan: defined in the e2e block at the end of this file.

# The plugin must export its entry point and nothing else.
check-exports: $(SO)
	@syms=$$(nm -D --defined-only $(SO) | awk '{print $$3}' | grep -v '^$$' | sort); \
	if [ "$$syms" != "cpis_plugin_entry" ]; then \
	  echo "check-exports: unexpected exports:"; echo "$$syms"; exit 1; \
	else echo "check-exports: only cpis_plugin_entry is exported"; fi

# The contract header compiles alone as C99 and C11, with nothing else.
check-header:
	@mkdir -p $(BUILD)
	@for std in c99 c11; do \
	  printf '#include "cpis/plugin.h"\nint main(void){return (int)sizeof(struct cpis_host_api) == 0;}\n' \
	  | $(CC) -std=$$std -pedantic -Wall -Wextra -Werror -Iinclude -x c - -o $(BUILD)/header-$$std || exit 1; \
	done; echo "check-header: include/cpis/plugin.h compiles as C99 and C11"

# ---- demo: the mock host replays the samples under both policies ---------------
demo: $(SO) $(MOCKHOST)
	@echo "== The cascade (NHS 111 -> ambulance control -> crew -> A&E -> ward), version 5 (legacy):"
	@$(MOCKHOST) --config samples/config/v5.json replay samples/cascade | tail -n 1
	@echo "== The same cascade, version 6 (revised policy):"
	@$(MOCKHOST) --config samples/config/v6.json replay samples/cascade | tail -n 1
	@echo "== What version 6 writes, action by action:"
	@$(MOCKHOST) --config samples/config/v6.json deliver samples/cascade
	@echo "== Every sample (HL7 V3, FHIR, MESH pairs), version 6:"
	@$(MOCKHOST) --config samples/config/v6.json replay samples/cascade samples/messages samples/mesh | tail -n 1

# ---- the landing-page screenshot in README.md and docs/ ----------------------
# Made from exactly the README's commands (replay the cascade and the
# messages, render sw.ahmed's page), then a headless-Chromium screenshot.
preview-png: $(SO) $(MOCKHOST)
	@rm -f $(BUILD)/preview.db
	$(MOCKHOST) --config samples/config/v6.json --db $(BUILD)/preview.db replay samples/cascade samples/messages >/dev/null
	$(MOCKHOST) --db $(BUILD)/preview.db landing --worker sw.ahmed --html $(BUILD)/sw.ahmed.html
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir=$(abspath $(BUILD))/chromium-profile \
	  --screenshot=docs/landing-preview.png --window-size=1366,1640 file://$(abspath $(BUILD))/sw.ahmed.html

# ---- fuzzing ---------------------------------------------------------------
# tests/fuzz/fuzz_NAME.c are libFuzzer targets; tests/fuzz/corpus/NAME/ their
# committed seeds.  `make check` replays every corpus (replay_main.c, no
# libFuzzer needed) and, when clang and libclang-rt-14-dev are installed,
# builds every target with libFuzzer and fuzzes each for FUZZ_SMOKE_SECONDS
# (fuzz-smoke).  `make fuzz` runs each of FUZZ_TARGETS (default: all; e.g.
# FUZZ_TARGETS=xml) for FUZZ_SECONDS, installing clang on demand.
# The fuzz binaries link the readers and what they use, not the plugin's
# entry and actions (entry.c, act.c): they drive no host.
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_POSIX_C_SOURCE=200809L \
              -D_DEFAULT_SOURCE -Iinclude -Iplugin -Iplugin/read -Iworkflow $(PKG_CFLAGS)
FUZZ_LIB_SRCS := $(filter-out plugin/entry.c plugin/act.c,$(PLUGIN_SRCS))
HAVE_FUZZER := $(shell command -v clang >/dev/null 2>&1 && ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 && echo yes)

$(BUILD)/fuzz-replay/%: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c $(INTERNAL)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -o $@ $< tests/fuzz/replay_main.c $(INTERNAL) \
	  $(LDFLAGS_ALL) $(PKG_LIBS) -lpthread

build/fuzz/%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_SRCS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $< $(FUZZ_LIB_SRCS) $(PKG_LIBS) -lpthread

# run_fuzz SECONDS TARGETS: fuzz each target into a scratch corpus seeded by
# the committed one; print runs, coverage and peak memory.
define run_fuzz
	@mkdir -p build/fuzz/logs
	@for f in $(2); do \
	  rm -rf build/fuzz/work-$$f; mkdir -p build/fuzz/work-$$f; \
	  echo "== fuzzing $$f for $(1)s"; \
	  build/fuzz/$$f -max_total_time=$(1) -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix=build/fuzz/ build/fuzz/work-$$f tests/fuzz/corpus/$$f \
	    > build/fuzz/logs/$$f.log 2>&1 || { tail -40 build/fuzz/logs/$$f.log; exit 1; }; \
	  grep -E '^stat::(number_of_executed_units|peak_rss_mb)|cov:' build/fuzz/logs/$$f.log | tail -3; \
	done
endef

fuzz:
	@command -v clang >/dev/null && [ -n "$$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ] || \
	  { apt-get install -y clang libclang-rt-14-dev || { echo "fuzz: needs clang and libclang-rt-14-dev"; exit 2; }; }
	$(MAKE) $(FUZZ_TARGETS:%=build/fuzz/%)
	$(call run_fuzz,$(FUZZ_SECONDS),$(FUZZ_TARGETS))

# Part of `make check`: every target builds with libFuzzer and survives a
# few seconds of fuzzing (timings belong to `make fuzz`, not here).
fuzz-smoke:
ifeq ($(HAVE_FUZZER),yes)
	$(MAKE) $(FUZZ_NAMES:%=build/fuzz/%)
	$(call run_fuzz,$(FUZZ_SMOKE_SECONDS),$(FUZZ_NAMES))
	@echo "fuzz-smoke: $(words $(FUZZ_NAMES)) targets built and fuzzed for $(FUZZ_SMOKE_SECONDS)s each"
else
	@echo "fuzz-smoke: SKIPPED: clang and libclang-rt-14-dev are not installed (.ci/run installs them)"
endif

install: all
	install -d $(DESTDIR)$(PREFIX)/lib/cpis-notify $(DESTDIR)$(PREFIX)/bin \
	  $(DESTDIR)$(PREFIX)/include/cpis
	install -m 0644 $(SO) $(DESTDIR)$(PREFIX)/lib/cpis-notify/cpis_notify.so
	install -m 0755 $(MOCKHOST) $(DESTDIR)$(PREFIX)/lib/cpis-notify/cpis-mockhost
	ln -sf ../lib/cpis-notify/cpis-mockhost $(DESTDIR)$(PREFIX)/bin/cpis-mockhost
	install -m 0644 include/cpis/plugin.h $(DESTDIR)$(PREFIX)/include/cpis/plugin.h

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- bench (figures) ------------------------------------------------------
# `make bench` (never part of `make check`): bench/run.sh runs build/bench/
# cpis-bench (bench/bench.c + the mock host's objects except main.o) and
# writes build/bench/results.md.  BENCH_MAX=100000 skips the 1M point.
BENCH_MAX  ?= 1000000
BENCH_BIN  := $(BUILD)/bench/cpis-bench
BENCH_OBJS := $(BUILD)/obj/bench/bench.o \
              $(filter-out $(BUILD)/obj/samples/mockhost/main.o,$(MOCK_OBJS))

$(BUILD)/obj/bench/%.o: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(SQLITE_CFLAGS) -Isamples/mockhost -MMD -MP -c $< -o $@

$(BENCH_BIN): $(BENCH_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS_ALL) -rdynamic $(SQLITE_LIBS) $(PKG_LIBS) -ldl -lpthread

bench: $(SO) $(MOCKHOST) $(BENCH_BIN)
	BENCH_MAX=$(BENCH_MAX) BUILD=$(BUILD) bash bench/run.sh
# `make bench-pg`: bench/pg_nodes.sh on a throw-away PostgreSQL cluster
# (tests/support/pg_cluster.sh): 4 nodes on one PostgreSQL store against the
# SQLite file store, BENCH_PG_N notifications; writes build/bench/pg_nodes.md.
BENCH_PG_N ?= 20000
bench-pg: $(SO) $(MOCKHOST)
	BUILD=$(BUILD) bash tests/support/pg_cluster.sh run bash bench/pg_nodes.sh $(BENCH_PG_N) 4
# ---- end bench -------------------------------------------------------------
# ==== e2e block (branch e2e): ThreadSanitizer check ==========================
# `make check-tsan`: every CMocka test built with clang -fsanitize=thread in
# build/tsan and run there (test_pipeline's stress: 8 threads, 3000
# notifications + 300 racing duplicates, a config change in the middle).  Any
# ThreadSanitizer report fails the run (halt_on_error, exit code 66).  Only
# the plugin .so is built under TSan too, without -z defs (clang links the
# TSan runtime into executables only), and the tests dlopen that one.
TSAN_CC    ?= clang
TSAN_BUILD := build/tsan
TSAN_BINS   = $(TEST_SRCS:tests/%.c=$(TSAN_BUILD)/tests/%)
TSAN_ENV    = CPIS_PLUGIN_SO=$(abspath $(TSAN_BUILD)/cpis_notify.so) CPIS_MOCKHOST=$(abspath $(MOCKHOST)) \
              CPIS_SAMPLES=$(abspath samples) \
              TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1"

check-tsan: $(SO) $(MOCKHOST)
	$(MAKE) BUILD=$(TSAN_BUILD) SAN=thread CC=$(TSAN_CC) $(TSAN_BINS) $(TSAN_BUILD)/cpis_notify.so
	@fail=0; for t in $(TSAN_BINS); do \
	  echo "== $$t (ThreadSanitizer)"; \
	  $(TSAN_ENV) $$t 2>&1 || fail=1; \
	done; \
	if [ $$fail -eq 0 ]; then echo "check-tsan: all tests passed under ThreadSanitizer"; fi; \
	exit $$fail
# ==== end of the e2e block ====================================================
