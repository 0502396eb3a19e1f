#!/usr/bin/env bash
# mockhost_cli.sh - the mock host's command line: usage, errors, exit codes,
# and the load-time ABI check.  Needs no real plugin: the plugins it loads
# are built here from a few lines of C against include/cpis/plugin.h.
#
# Environment (set by `make check`): CPIS_MOCKHOST (the binary),
# CPIS_SAMPLES (the samples folder).  Optional: CC, CPIS_INCLUDE.
set -euo pipefail

: "${CPIS_MOCKHOST:?set CPIS_MOCKHOST to the cpis-mockhost binary}"
: "${CPIS_SAMPLES:?set CPIS_SAMPLES to the samples folder}"
CC=${CC:-cc}
CPIS_INCLUDE=${CPIS_INCLUDE:-$CPIS_SAMPLES/../include}
M=$CPIS_MOCKHOST
CONFIG=$CPIS_SAMPLES/config/v6.json
CASES=$CPIS_SAMPLES/cases.json

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# run NAME EXPECTED_STATUS CMD... : runs CMD, stdout to $tmp/out, stderr to
# $tmp/err, and checks the exit status.
run() {
    local name=$1 want=$2 got=0
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
    if [ "$got" -eq "$want" ]; then ok; else
        fail "$name: exit $got, expected $want; stderr: $(head -c 400 "$tmp/err")"
    fi
}
# expect_in NAME FILE FIXED_STRING
expect_in() {
    if grep -qF -- "$3" "$2"; then ok; else
        fail "$1: '$3' not in $(basename "$2"): $(head -c 400 "$2")"
    fi
}
# expect_lines NAME FILE N : FILE has exactly N lines
expect_lines() {
    local n
    n=$(wc -l <"$2")
    if [ "$n" -eq "$3" ]; then ok; else fail "$1: $n lines in $(basename "$2"), expected $3"; fi
}

# ---- help and usage -------------------------------------------------------
run "--help" 0 "$M" --help
expect_in "--help text" "$tmp/out" "usage: cpis-mockhost"
expect_in "--help lists replay" "$tmp/out" "replay PATH..."
expect_lines "--help writes nothing to stderr" "$tmp/err" 0

for c in parse deliver replay report quarantine; do
    run "$c --help" 0 "$M" "$c" --help
    expect_in "$c --help text" "$tmp/out" "$c"
done

run "unknown command" 2 "$M" frobnicate
expect_in "unknown command named" "$tmp/err" "frobnicate"
expect_lines "unknown command: one error line" "$tmp/err" 1

run "no command" 2 "$M"
run "unknown option" 2 "$M" --frob report
expect_in "unknown option named" "$tmp/err" "--frob"
run "option without value" 2 "$M" report --db
run "deliver without paths" 2 "$M" --config "$CONFIG" --cases "$CASES" deliver
run "report with operands" 2 "$M" report extra
run "bad fault-injection knob" 2 env CPIS_MOCK_FAIL_CALL=soon "$M" --config "$CONFIG" --cases "$CASES" deliver "$CPIS_SAMPLES/cascade"
expect_in "bad knob named" "$tmp/err" "CPIS_MOCK_FAIL_CALL"

# ---- report and quarantine list: a store, no plugin --------------------------------
run "report without --db" 2 "$M" report
expect_in "report without --db says in memory and empty" "$tmp/err" "in memory and empty"
expect_in "report without --db points to --db" "$tmp/err" "give --db FILE"
run "quarantine list without --db" 2 "$M" quarantine list
run "report, missing --db file" 2 "$M" --db "$tmp/absent.db" report
expect_in "missing --db named" "$tmp/err" "$tmp/absent.db"
if [ -e "$tmp/absent.db" ]; then fail "report created the store it was asked to read"; else ok; fi
run "every named file must exist (--config)" 2 "$M" --config /nonexistent/v9.json --db "$tmp/absent.db" report
expect_in "missing --config named" "$tmp/err" "--config /nonexistent/v9.json"
run "every named file must exist (--plugin)" 2 "$M" --plugin "$tmp/none.so" report
expect_in "missing --plugin named" "$tmp/err" "--plugin $tmp/none.so"
mkdir -p "$tmp/nothing-here"
run "an empty store" 0 "$M" --config "$CONFIG" --cases "$CASES" --db "$tmp/empty.db" replay "$tmp/nothing-here"
run "report, empty store (no plugin loaded)" 0 "$M" --plugin /bin/true --db "$tmp/empty.db" report
expect_in "report keys" "$tmp/out" '"notifications":0,"accesses":0,"duplicates":0,"rejected":0'
expect_in "report extra keys" "$tmp/out" '"quarantined":0,"closed_on_switch":0'
run "quarantine list, empty store" 0 "$M" --db "$tmp/empty.db" quarantine list
expect_lines "quarantine list empty" "$tmp/out" 0

# ---- conventions: --version, --opt=value, help COMMAND, --, --json, tables --------
run "--version" 0 "$M" --version
expect_in "--version: the mock host" "$tmp/out" "cpis-mockhost 0.1.0 (host ABI 1."
expect_in "--version: the plugin and its ABI" "$tmp/out" "cpis-notify 0.1.0 (ABI 1."
run "--version, missing plugin" 2 "$M" --plugin "$tmp/none.so" --version
run "help COMMAND" 0 "$M" help report
expect_in "help report = report --help" "$tmp/out" "usage: cpis-mockhost --db FILE report"
run "help generate" 0 "$M" help generate
expect_in "help generate" "$tmp/out" "usage: cpis-mockhost generate"
run "help unknown" 2 "$M" help frobnicate
for c in parse deliver replay report quarantine landing config help; do
    run "$c --help states exit statuses" 0 "$M" "$c" --help
    expect_in "$c --help: Exit status" "$tmp/out" "Exit status"
done
run "--opt=value" 0 "$M" --config="$CONFIG" --cases="$CASES" --db="$tmp/eq.db" replay "$CPIS_SAMPLES/cascade"
expect_in "--opt=value: the config was used" "$tmp/out" '"landing_entries":1'
run "-- ends options" 1 "$M" --config "$CONFIG" --cases "$CASES" deliver -- --not-an-option
expect_in "-- : the operand is a file" "$tmp/err" "--not-an-option"
# replay prints this run's counts; report the store's
run "replay again: this run" 0 "$M" --config "$CONFIG" --cases "$CASES" --db "$tmp/eq.db" replay "$CPIS_SAMPLES/cascade"
# (the same five messages delivered again: five duplicate deliveries, and
# no new message, so nothing new in this run's counts)
n_dup=$(grep -c '"action":"duplicate"' "$tmp/out" || true)
[ "$n_dup" -eq 5 ] && ok || fail "replay again: $n_dup duplicate deliveries, expected 5"
expect_in "replay again: nothing new" "$tmp/out" '"notifications":0,"accesses":0,"duplicates":0'
run "report: the store" 0 "$M" --db "$tmp/eq.db" report
expect_in "report: the store's totals" "$tmp/out" '"notifications":5,"accesses":5,"duplicates":0'
run "report --json" 0 "$M" --db "$tmp/eq.db" report --json
expect_lines "report --json: one line" "$tmp/out" 1
if command -v script >/dev/null 2>&1 && script -qec true /dev/null >/dev/null 2>&1; then
    script -qec "$M --db $tmp/eq.db report" /dev/null >"$tmp/tty.out" 2>&1 || true
    expect_in "report on a terminal: a table" "$tmp/tty.out" "notifications"
    if grep -q '{"notifications"' "$tmp/tty.out"; then fail "report on a terminal printed JSON"; else ok; fi
    script -qec "$M --db $tmp/eq.db report --json" /dev/null >"$tmp/tty.out" 2>&1 || true
    expect_in "report --json on a terminal: JSON" "$tmp/tty.out" '{"notifications":5'
    script -qec "$M --db $tmp/eq.db quarantine list" /dev/null >"$tmp/tty.out" 2>&1 || true
    expect_in "quarantine list on a terminal: says none" "$tmp/tty.out" "Nothing is quarantined"
else
    echo "mockhost_cli: note: no pseudo-terminal (script(1)): terminal tables not checked"
fi

# ---- configuration and fixture errors -------------------------------------------
run "missing config" 2 "$M" --config "$tmp/no-such-config.json" --cases "$CASES" \
    deliver "$CASES"
expect_in "missing config named" "$tmp/err" "$tmp/no-such-config.json"
expect_lines "missing config: one error line" "$tmp/err" 1

run "missing cases fixture" 2 "$M" --config "$CONFIG" --cases "$tmp/no-cases.json" \
    parse "$CASES"
expect_in "missing fixture named" "$tmp/err" "$tmp/no-cases.json"

printf '[{"nhs_number":"123","case_id":"C-1","status":"open"}]' >"$tmp/bad-cases.json"
run "bad cases fixture" 2 "$M" --config "$CONFIG" --cases "$tmp/bad-cases.json" \
    parse "$CASES"
expect_in "bad fixture reason" "$tmp/err" "nhs_number"

run "missing plugin" 2 "$M" --plugin "$tmp/none.so" --config "$CONFIG" \
    --cases "$CASES" parse "$CASES"
expect_in "missing plugin named" "$tmp/err" "$tmp/none.so"

# ---- plugins built here ---------------------------------------------------------
# One source, three builds: ABI_MAJOR selects the version the descriptor
# claims; REFUSE makes init refuse every configuration with a reason.
cat >"$tmp/plug.c" <<'C'
#include <stdio.h>
#include "cpis/plugin.h"
struct cpis_plugin { int unused; };
static struct cpis_plugin the_plugin;
static int init(const struct cpis_host_api *host,
                const struct cpis_config_source *config,
                struct cpis_plugin **out, char *err, size_t err_cap)
{
    (void)host; (void)config;
#ifdef REFUSE
    snprintf(err, err_cap, "flags.episodes: expected true or false");
    *out = NULL;
    return CPIS_ERR_CONFIG;
#else
    (void)err; (void)err_cap;
    *out = &the_plugin;
    return CPIS_OK;
#endif
}
static int parse(struct cpis_plugin *p, const struct cpis_event *ev,
                 char *out, size_t cap, size_t *len)
{
    (void)p; (void)ev; (void)out; (void)cap;
    *len = 0;
    return CPIS_ERR_UNSUPPORTED;
}
static const struct cpis_descriptor descriptor = {
    sizeof descriptor, ABI_MAJOR, 7, 0, "test", "0", init, NULL, parse,
    NULL, NULL, NULL};
CPIS_EXPORT const struct cpis_descriptor *cpis_plugin_entry(void)
{
    return &descriptor;
}
C
build() { "$CC" -std=c11 -shared -fPIC -I"$CPIS_INCLUDE" "$@"; }
build -DABI_MAJOR=99 -o "$tmp/abi99.so" "$tmp/plug.c"
build -DABI_MAJOR=CPIS_ABI_MAJOR -DREFUSE -o "$tmp/refuse.so" "$tmp/plug.c"
build -DABI_MAJOR=CPIS_ABI_MAJOR -o "$tmp/nohook.so" "$tmp/plug.c"
printf 'int not_a_plugin;\n' >"$tmp/other.c"
build -o "$tmp/other.so" "$tmp/other.c"

run "ABI refusal" 2 "$M" --plugin "$tmp/abi99.so" --config "$CONFIG" \
    --cases "$CASES" deliver "$CASES"
expect_in "ABI refusal names both versions" "$tmp/err" \
    "plugin ABI 99.7 is not compatible with host ABI 1.1"
expect_in "ABI refusal names the plugin" "$tmp/err" "$tmp/abi99.so"
expect_lines "ABI refusal: one error line" "$tmp/err" 1

run "not a plugin" 2 "$M" --plugin "$tmp/other.so" --config "$CONFIG" \
    --cases "$CASES" parse "$CASES"
expect_in "no entry symbol" "$tmp/err" "cpis_plugin_entry"

run "config refused" 2 "$M" --plugin "$tmp/refuse.so" --config "$CONFIG" \
    --cases "$CASES" deliver "$CASES"
expect_in "config refusal names the file" "$tmp/err" "$CONFIG"
expect_in "config refusal gives the plugin's reason" "$tmp/err" "flags.episodes"

run "no notification hook" 2 "$M" --plugin "$tmp/nohook.so" --config "$CONFIG" \
    --cases "$CASES" deliver "$CASES"
expect_in "no hook reported" "$tmp/err" "notification hook"

echo "mockhost_cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
