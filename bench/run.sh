#!/usr/bin/env bash
# bench/run.sh - `make bench`: prints a table and writes it to
# $BUILD/bench/results.md.  Not part of `make check`; no target is asserted.
#
# Notifications are generated in process and delivered straight into the
# plugin through the mock host's runner (bench/bench.c); no files.  The host
# side is the mock host as shipped (store.c, group commit; cases answered from the plan).  One measurement
# uses files: 10 000 HL7 V3 notifications written by `cpis-mockhost
# generate`, read by `xmllint --noout` and replayed whole by `cpis-mockhost
# replay` (in-memory store), the same files in the same run.
#   BENCH_MAX   largest scaling point (default 1000000; 100000 skips 1M)
#   FILE_MAX    largest file-store point (default BENCH_MAX)
#   FILE1_MAX   largest file-store point also measured with one transaction
#               per delivery, the baseline of group commit (default 100000)
#   STEP_TIMEOUT seconds allowed per measurement (default 900)
set -uo pipefail
BUILD=${BUILD:-build}
BENCH_MAX=${BENCH_MAX:-1000000}
FILE_MAX=${FILE_MAX:-$BENCH_MAX}
STEP_TIMEOUT=${STEP_TIMEOUT:-900}
B=$BUILD/bench/cpis-bench
OUT=$BUILD/bench
mkdir -p "$OUT"
common=(--plugin "$BUILD/cpis_notify.so" --config samples/config/v6.json --tmp "$OUT")
rows=()
ratio_row=""
jget() { grep -o "\"$1\":[^,}]*" <<<"$2" | head -1 | cut -d: -f2 | tr -d '"'; }

step() { # label, then cpis-bench args; the JSON line is left in $line
    local label=$1
    shift
    echo "... $label" >&2
    line=$(timeout "$STEP_TIMEOUT" "$B" "$@" "${common[@]}") || line=""
    rm -f "$OUT"/bench-*.db "$OUT"/bench-*.db-wal "$OUT"/bench-*.db-shm
    if [ -z "$line" ]; then
        rows+=("| $label | failed, or not finished within ${STEP_TIMEOUT}s (see stderr) | | | |")
        return 1
    fi
    echo "$line" >>"$OUT/results.jsonl"
    if [ "$(jget mode "$line")" = ratio ]; then
        ratio_row="| $label, in process vs bare libxml2 | $(jget bare_us "$line") | $(jget full_us "$line") | **$(jget ratio "$line")x** |"
    else
        rows+=("| $label | $(jget us_per_notification "$line") | $(jget per_second "$line") | $(jget peak_rss_mb "$line") | $(jget deliver_s "$line") |")
    fi
}

# Full replay of files against xmllint on the same files (best of 2 each).
replay_row="| full replay | not measured (xmllint missing?) | | |"
replay_vs_xmllint() {
    local dir=$OUT/replay-files n=10000
    rm -rf "$dir" "$dir.cases.json"
    echo "... generate $n HL7 V3 files" >&2
    "$BUILD/cpis-mockhost" generate --seed 7 --notifications $n --format hl7v3 \
        --mesh-share 0 "$dir" >/dev/null || return 1
    command -v xmllint >/dev/null || return 1
    best() { # command...: the best wall time of two runs, in seconds
        local b="" t0 t1 t
        for _ in 1 2; do
            t0=$(date +%s.%N)
            "$@" >/dev/null 2>&1 || return 1
            t1=$(date +%s.%N)
            t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
            b=$(awk -v b="$b" -v t="$t" 'BEGIN { print (b == "" || t < b) ? t : b }')
        done
        echo "$b"
    }
    echo "... xmllint --noout, $n files" >&2
    local x r
    find "$dir" -name '*.xml' -print0 | sort -z >"$dir.list"
    x=$(best xargs -0 -n 2000 -a "$dir.list" xmllint --noout) || return 1
    echo "... cpis-mockhost replay, $n files" >&2
    r=$(best "$BUILD/cpis-mockhost" --plugin "$BUILD/cpis_notify.so" \
        --config samples/config/v6.json --cases "$dir.cases.json" replay "$dir") || return 1
    replay_row=$(awk -v x="$x" -v r="$r" -v n=$n 'BEGIN {
        printf "| %d HL7 V3 files, full replay (memory store) vs xmllint --noout | %.1f | %.1f | **%.2fx** |",
            n, 1e6 * x / n, 1e6 * r / n, r / x }')
    echo "{\"mode\":\"replay\",\"n\":$n,\"xmllint_s\":$x,\"replay_s\":$r}" >>"$OUT/results.jsonl"
    rm -rf "$dir" "$dir.cases.json" "$dir.list"
}

: >"$OUT/results.jsonl"
replay_vs_xmllint || echo "bench: the replay/xmllint measurement failed" >&2
points=(10000 100000 1000000)
declare -A us
step "10 000 HL7 V3, memory store" ratio --n 10000
for n in "${points[@]}"; do
    [ "$n" -le "$BENCH_MAX" ] || continue
    step "$n, memory store" scale --n "$n" && us[m$n]=$(jget us_per_notification "$line")
done
# The file store twice per point: one transaction per delivery (what the
# store did before group commit; the baseline of the same run), then group
# commit as shipped (256 deliveries or 50 ms a transaction).  FILE1_MAX: the
# largest point measured one transaction per delivery (default 100000).
FILE1_MAX=${FILE1_MAX:-100000}
for n in "${points[@]}"; do
    [ "$n" -le "$BENCH_MAX" ] && [ "$n" -le "$FILE_MAX" ] || continue
    if [ "$n" -le "$FILE1_MAX" ]; then
        step "$n, SQLite file store, one transaction per delivery (--commit-every 1)" \
            scale --n "$n" --db "$OUT/bench-$n.db" --commit-every 1 &&
            us[o$n]=$(jget us_per_notification "$line")
    fi
    step "$n, SQLite file store, group commit (default)" scale --n "$n" --db "$OUT/bench-$n.db" &&
        us[f$n]=$(jget us_per_notification "$line")
done
growth() { # key prefix, largest point
    local a=${us[${1}10000]:-} b=${us[$1$2]:-}
    [ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2fx", b / a }'
}
big=$BENCH_MAX
[ "$big" -ge 1000000 ] && big=1000000 || big=100000

{
    echo "# cpis-notify benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, config v6)"
    echo
    echo "In-process generation (bench/bench.c), only deliver calls timed; mixed"
    echo "HL7 V3/FHIR, paper open:closed ratio, ~5 notifications a child.  Host"
    echo "side as shipped: store.c (cached statements, group commit: 256 deliveries"
    echo "or 50 ms a transaction, each delivery a savepoint; a file store in WAL mode,"
    echo "synchronous=NORMAL, 64 MiB page cache); cases answered from the plan."
    echo
    echo "(a) Full pipeline against bare libxml2 parsing of the same bytes"
    echo
    echo "| run | baseline us | full us | ratio |"
    echo "| --- | --- | --- | --- |"
    echo "$replay_row"
    echo "${ratio_row:-| ratio | not finished | | |}"
    echo
    echo "Replay row: baseline xmllint --noout on the files (target: replay <= 2.0x)."
    echo "In-process row: baseline xmlReadMemory + xmlFreeDoc on the same bytes; the"
    echo "full pipeline includes the host's calls (the store), the issue's 1.5x"
    echo "target is for the plugin's own cost without them (see docs/performance.md)."
    echo
    echo "(b) scaling, memory store; (c) the SQLite file store"
    echo
    echo "| run | us / notification | notifications / s | peak RSS MB | deliver s |"
    echo "| --- | --- | --- | --- | --- |"
    printf '%s\n' "${rows[@]}"
    echo
    echo "Growth of us/notification, ${big} vs 10 000 (target <= 1.2x): memory store" \
        "$(growth m "$big" || echo "not measured"), file store $(growth f "$big" || echo "not measured")" \
        "(one transaction per delivery: $(growth o "$big" || echo "not measured"))."
    for n in "${points[@]}"; do
        a=${us[o$n]:-} b=${us[f$n]:-}
        [ -n "$a" ] && [ -n "$b" ] || continue
        awk -v n="$n" -v a="$a" -v b="$b" 'BEGIN { printf "File store at %d: group commit %.2fx the time of one transaction per delivery (%.1f vs %.1f us).\n", n, b / a, b, a }'
    done
    echo
    echo "Peak RSS: the in-memory store is itself a SQLite database in this process"
    echo "holding every row (items, records, notes, the plugin's state), about 3.5 KB"
    echo "a notification, so it grows with the run; the file-store rows show the"
    echo "process without that: the plugin, libxml2, the generator's plan and the"
    echo "plan's case lookup, plus SQLite's page cache for the file (up to 64 MiB,"
    echo "store.h STORE_FILE_CACHE_KB).  The memory store's image lives in an address range reserved"
    echo "once (store.c, memory_region), so it is never copied as it grows and has no"
    echo "2 GB ceiling."
    echo
    echo "Targets: full replay <= 2.0x xmllint; plugin's own cost <= 1.5x bare libxml2; us/notification at 1M <= 1.2x"
    echo "that at 10k; peak memory < 100 MB at 1M; >= 20 000 notifications/s with the"
    echo "file store on one core.  Raw lines: results.jsonl."
} >"$OUT/results.md"
cat "$OUT/results.md"
