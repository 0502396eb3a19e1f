#!/usr/bin/env bash
# e2e_valgrind.sh - the mock host under valgrind memcheck (issue 5 item 6):
# replay of every sample folder under v5 and v6, parse of every sample and
# of every hostile file under tests/data/{hl7,fhir}, and a --db session
# (deliver twice, quarantine list, report): zero errors, no definite or
# indirect leak.  Runs on the plain build only (ASan and valgrind do not
# mix): skipped for build/san and when valgrind is not installed.
set -euo pipefail
. "$(dirname "$0")/../data/e2e/lib.sh"

if ! command -v valgrind >/dev/null 2>&1; then
    echo "e2e_valgrind: SKIPPED (valgrind not installed)"
    echo "e2e_valgrind: 0 passed, 0 failed"
    exit 0
fi
case "$M" in
*/san/* | */tsan/*)
    echo "e2e_valgrind: SKIPPED ($M is a sanitizer build)"
    echo "e2e_valgrind: 0 passed, 0 failed"
    exit 0
    ;;
esac
preflight e2e_valgrind

VG=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect --track-origins=yes --num-callers=30)

# vg NAME EXPECTED_STATUS ARGS... : the mock host under valgrind.
vg() {
    local name=$1 want=$2 got=0
    shift 2
    "${VG[@]}" --log-file="$tmp/vg.log" "$M" --cases "$CASES" "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
    local summary
    summary=$(grep -h 'ERROR SUMMARY' "$tmp/vg.log" | sed 's/^==[0-9]*== //' | head -n 1)
    echo "$name: $summary"
    if [ "$got" -eq 99 ]; then
        fail "$name: valgrind found errors: $(grep -A14 -E 'definitely lost in|indirectly lost in|Invalid|uninitialised|Mismatched' "$tmp/vg.log" | head -n 40)"
    elif [ "$got" -ne "$want" ]; then
        fail "$name: exit $got, expected $want: $(head -c 300 "$tmp/err")"
    else ok; fi
    case "$summary" in "ERROR SUMMARY: 0 errors"*) ok ;; *) fail "$name: $summary" ;; esac
    if grep -qE 'definitely lost: [1-9]|indirectly lost: [1-9]' "$tmp/vg.log"; then
        fail "$name: $(grep -E 'definitely lost:|indirectly lost:' "$tmp/vg.log" | sed 's/^==[0-9]*== //' | tr '\n' ' ')"
    else ok; fi
}

for cfg in v5 v6; do
    for d in cascade messages mesh; do
        vg "replay $d $cfg" 0 --config "$S/config/$cfg.json" replay "$S/$d"
    done
done
vg "parse samples" 0 --config "$V6" parse "$S/cascade" "$S/messages" "$S/mesh"
vg "parse hostile hl7" 1 --config "$V6" parse "$TESTDATA/hl7"
vg "parse hostile fhir" 1 --config "$V6" parse "$TESTDATA/fhir"
db=$tmp/vg.db
vg "deliver with --db" 0 --config "$V6" --db "$db" deliver "$S/cascade" "$S/mesh"
vg "deliver again (duplicates)" 0 --config "$V6" --db "$db" deliver "$S/cascade"
vg "deliver hostile (quarantine)" 1 --config "$V6" --db "$db" deliver "$TESTDATA/hl7"
vg "quarantine list" 0 --db "$db" quarantine list
vg "switch 5 -> 6 via the config hook" 0 --config "$V5" --reconfigure "$V6" replay "$S/cascade"
vg "report" 0 --db "$db" report

finish e2e_valgrind
