#!/usr/bin/env bash
# figures_generate.sh - the workload generator, the reproduction of the local
# authority's discussion paper's figures (docs/glossary.md)
# (2253 notifications on open cases + 3739 on closed -> 6759 activities +
# 7478 First Response alerts = 14237 under version 5; nothing under
# version 6) and the what-if `compare` command.  No timings are asserted.
#
# Environment (set by `make check`): CPIS_MOCKHOST, CPIS_SAMPLES.
set -euo pipefail

: "${CPIS_MOCKHOST:?set CPIS_MOCKHOST to the cpis-mockhost binary}"
: "${CPIS_SAMPLES:?set CPIS_SAMPLES to the samples folder}"
M=$CPIS_MOCKHOST
V5=$CPIS_SAMPLES/config/v5.json
V6=$CPIS_SAMPLES/config/v6.json

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
run() {
    local name=$1 want=$2 got=0
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
    if [ "$got" -eq "$want" ]; then ok; else
        fail "$name: exit $got, expected $want; stderr: $(head -c 600 "$tmp/err")"
    fi
}
# jget KEY FILE: the first number after "KEY": in FILE (last line wins)
jget() { grep -o "\"$1\":-\?[0-9]*" "$2" | tail -1 | cut -d: -f2; }
# jin OBJ KEY FILE: the number of KEY inside the JSON object named OBJ
jin() { sed -n "s/.*\"$1\":{\([^}]*\)}.*/\1/p" "$3" | grep -o "\"$2\":-\?[0-9]*" | cut -d: -f2; }
expect_eq() {
    if [ "$2" = "$3" ]; then ok; else fail "$1: got '$2', expected '$3'"; fi
}
expect_in() {
    if grep -qF -- "$3" "$2"; then ok; else fail "$1: '$3' not in $(head -c 400 "$2")"; fi
}

# ---- the paper-sized stream -------------------------------------------------
P=$tmp/paper
run "generate paper" 0 "$M" generate --seed 42 --open 2253 --closed 3739 \
    --duplicates 8 --bad 5 --until 2025-01-01 "$P"
cp "$tmp/out" "$tmp/gen.json"
expect_eq "generate: open" "$(jget open "$tmp/gen.json")" 2253
expect_eq "generate: closed" "$(jget closed "$tmp/gen.json")" 3739
expect_eq "generate: notifications" "$(jget notifications "$tmp/gen.json")" 5992
expect_eq "generate: duplicates" "$(jget duplicates "$tmp/gen.json")" 8
expect_eq "generate: bad" "$(jget bad "$tmp/gen.json")" 5
expect_eq "generate: messages" "$(jget messages "$tmp/gen.json")" 6005
expect_eq "generate: no progress on a pipe" "$(wc -c <"$tmp/err")" 0
expect_eq "generate: from (twelve months before --until)" "$(grep -o '"from":"[^"]*"' "$tmp/gen.json")" '"from":"2024-01-01"'
# every access in [from, until): the parse lines' accessed_at, first and last
"$M" --cases "$P.cases.json" parse "$P" 2>/dev/null | grep -o '"accessed_at":"[^"]*"' | sort >"$tmp/at" || true
expect_eq "first access in range" "$(head -1 "$tmp/at" | cut -c16-19)" 2024
expect_eq "last access in range" "$(tail -1 "$tmp/at" | cut -c16-19)" 2024
# team names as written: never "Team ..." (the landing page says "Team <name>")
expect_eq "team names as written" "$(grep -c '"team": "Team' "$P.cases.json" || true)" 0
expect_in "a team name" "$P.cases.json" '"team": "Stafford North"'
# the default range ends today
run "generate default range" 0 "$M" generate --seed 3 --open 5 --closed 5 "$tmp/today"
expect_in "default --until is today" "$tmp/out" "\"until\":\"$(date -u +%F)\""
run "generate --from --until" 0 "$M" generate --seed 3 --open 50 --closed 50 \
    --from 2023-04-01 --until 2023-07-01 "$tmp/q2"
"$M" --cases "$tmp/q2.cases.json" parse "$tmp/q2" 2>/dev/null | grep -o '"accessed_at":"[^"]*"' | sort >"$tmp/at2" || true
a=$(head -1 "$tmp/at2" | cut -c16-25); b=$(tail -1 "$tmp/at2" | cut -c16-25)
[ "$a" \> "2023-03-31" ] && [ "$b" \< "2023-07-01" ] && ok || fail "--from/--until: accesses $a .. $b"
run "generate: range too short" 2 "$M" generate --from 2024-01-01 --until 2024-02-01 "$tmp/x5"
run "generate: not a date" 2 "$M" generate --until 2024-02-30 "$tmp/x6"
[ -f "$P.cases.json" ] && ok || fail "generate: no fixture at $P.cases.json"

# files: one per message (.ctl beside MESH .dat), names say what they are
nfiles=$(ls "$P" | grep -vc '\.ctl$' || true)
expect_eq "files (payloads)" "$nfiles" 6005
expect_eq "duplicate files" "$(ls "$P" | grep -v '\.ctl$' | grep -cE -- '-(resend|reissue)-' || true)" 8
expect_eq "bad files" "$(ls "$P" | grep -c -- '-bad-' || true)" 5
nctl=$(ls "$P" | grep -c '\.ctl$' || true)
expect_eq "MESH pairs" "$(jget mesh_pairs "$tmp/gen.json")" "$nctl"
[ "$nctl" -gt 0 ] && ok || fail "no MESH pairs"
[ "$(ls "$P" | grep -c '\.json$' || true)" -gt 0 ] && ok || fail "no FHIR files"
[ "$(ls "$P" | grep -c '\.xml$' || true)" -gt 0 ] && ok || fail "no HL7 V3 files"
[ "$(jget system_authors "$tmp/gen.json")" -gt 0 ] && ok || fail "no system authors"
[ "$(jget cascades "$tmp/gen.json")" -gt 0 ] && ok || fail "no cascades"
for f in "$P"/*-nhs111.xml; do grep -q '<COCT_TP145104GB01.System>' "$f" && ok || fail "111 not a system author: $f"; break; done

# the fixture: valid, unique NHS numbers (Modulus 11); one row per child
awk -F'"' '/nhs_number/ {
    n = $4; if (length(n) != 10) { bad++; next }
    s = 0; for (i = 1; i <= 9; i++) s += substr(n, i, 1) * (11 - i)
    c = 11 - s % 11; if (c == 11) c = 0
    if (c == 10 || c != substr(n, 10, 1)) bad++
    if (seen[n]++) dup++
    rows++
} END { printf "%d %d %d\n", rows, bad + 0, dup + 0 }' "$P.cases.json" >"$tmp/nhs"
read -r rows badn dupn <"$tmp/nhs"
expect_eq "fixture rows = children" "$rows" "$(jget children "$tmp/gen.json")"
expect_eq "fixture: invalid NHS numbers" "$badn" 0
expect_eq "fixture: repeated NHS numbers" "$dupn" 0
expect_eq "fixture: open rows" "$(grep -c '"status": "open"' "$P.cases.json")" \
    "$(jget children_open "$tmp/gen.json")"

# every child the messages name is in the fixture, and every location resolves
run "parse originals" 0 "$M" --cases "$P.cases.json" parse $(ls -d "$P"/* | grep -vE -- '-bad-|\.ctl$')
grep -o '"nhs_number":"[0-9]*"' "$tmp/out" | cut -d'"' -f4 | sort -u >"$tmp/msg_nhs"
grep -o '"nhs_number": "[0-9]*"' "$P.cases.json" | cut -d'"' -f4 | sort -u >"$tmp/fix_nhs"
expect_eq "children in messages = fixture" "$(comm -23 "$tmp/msg_nhs" "$tmp/fix_nhs" | wc -l)" 0
expect_eq "every child has notifications" "$(comm -13 "$tmp/msg_nhs" "$tmp/fix_nhs" | wc -l)" 0
expect_eq "locations resolved" "$(grep -c '"setting":"unknown"' "$tmp/out" || true)" 0
expect_eq "parse lines" "$(grep -c '"ok":true' "$tmp/out")" 6000

# ---- determinism ----------------------------------------------------------------
run "generate again" 0 "$M" generate --seed 42 --open 2253 --closed 3739 \
    --duplicates 8 --bad 5 --until 2025-01-01 "$tmp/again"
if diff -r "$P" "$tmp/again" >/dev/null && cmp -s "$P.cases.json" "$tmp/again.cases.json"; then
    ok; else fail "same seed, different files"; fi
run "generate other seed" 0 "$M" generate --seed 43 --open 20 --closed 30 "$tmp/other"
run "generate seed 42 small" 0 "$M" generate --seed 42 --open 20 --closed 30 "$tmp/small"
if diff -r "$tmp/other" "$tmp/small" >/dev/null; then fail "different seeds, same files"; else ok; fi

# --notifications alone: the paper's ratio; --format
run "generate --notifications" 0 "$M" generate --notifications 100 --format fhir \
    --cases-out "$tmp/n100-cases.json" "$tmp/n100"
expect_eq "--notifications: total" "$(jget notifications "$tmp/out")" 100
expect_eq "--notifications: open" "$(jget open "$tmp/out")" 38
expect_eq "--format fhir: no HL7" "$(jget hl7v3 "$tmp/out")" 0
[ -f "$tmp/n100-cases.json" ] && ok || fail "--cases-out not written"

# usage errors
run "generate: no folder" 2 "$M" generate --open 1 --closed 1
run "generate: not empty" 2 "$M" generate --open 1 --closed 1 "$P"
run "generate: open without closed" 2 "$M" generate --open 1 "$tmp/x1"
run "generate: mismatch" 2 "$M" generate --notifications 5 --open 1 --closed 1 "$tmp/x2"
run "generate: bad format" 2 "$M" generate --format yaml "$tmp/x3"
run "generate: bad count" 2 "$M" generate --seed -4 "$tmp/x4"
run "generate --help" 0 "$M" generate --help
expect_in "generate --help" "$tmp/out" "--cases"

# ---- the paper's figures ---------------------------------------------------------
run "replay v5 (bad messages -> exit 1)" 1 "$M" --config "$V5" --cases "$P.cases.json" replay "$P"
tail -1 "$tmp/out" >"$tmp/v5.json"
expect_eq "v5 activities" "$(jget activities "$tmp/v5.json")" 6759
expect_eq "v5 first_response_alerts" "$(jget first_response_alerts "$tmp/v5.json")" 7478
expect_eq "v5 notifications" "$(jget notifications "$tmp/v5.json")" 5992
expect_eq "v5 duplicates" "$(jget duplicates "$tmp/v5.json")" 8
expect_eq "v5 rejected" "$(jget rejected "$tmp/v5.json")" 5
expect_eq "v5 quarantined" "$(jget quarantined "$tmp/v5.json")" 5
expect_eq "v5 records_kept" "$(jget records_kept "$tmp/v5.json")" 5992
expect_eq "v5 activities+alerts" \
    "$(( $(jget activities "$tmp/v5.json") + $(jget first_response_alerts "$tmp/v5.json") ))" 14237

run "replay v6" 1 "$M" --config "$V6" --cases "$P.cases.json" replay "$P"
tail -1 "$tmp/out" >"$tmp/v6.json"
expect_eq "v6 activities" "$(jget activities "$tmp/v6.json")" 0
expect_eq "v6 first_response_alerts" "$(jget first_response_alerts "$tmp/v6.json")" 0
[ "$(jget landing_entries "$tmp/v6.json")" -gt 0 ] && ok || fail "v6: no landing entries"
expect_eq "v6 episodes = incidents" "$(jget episodes "$tmp/v6.json")" "$(jget incidents "$tmp/gen.json")"
expect_eq "v6 records_kept" "$(jget records_kept "$tmp/v6.json")" 5992

# ---- compare ------------------------------------------------------------------------
run "compare --json" 1 "$M" --cases "$P.cases.json" compare "$V5" "$V6" "$P" --json
cp "$tmp/out" "$tmp/cmp.json"
expect_eq "compare: a.activities" "$(jin a activities "$tmp/cmp.json")" 6759
expect_eq "compare: b.activities" "$(jin b activities "$tmp/cmp.json")" 0
expect_eq "compare: difference.first_response_alerts" \
    "$(jin difference first_response_alerts "$tmp/cmp.json")" -7478
expect_eq "compare: b.landing_entries = replay v6" \
    "$(jin b landing_entries "$tmp/cmp.json")" "$(jget landing_entries "$tmp/v6.json")"
expect_eq "compare: difference.landing_entries" \
    "$(jin difference landing_entries "$tmp/cmp.json")" "$(jget landing_entries "$tmp/v6.json")"
expect_in "compare: config names" "$tmp/cmp.json" "\"config_a\":\"$V5\""
expect_eq "compare --json: one line" "$(wc -l <"$tmp/cmp.json")" 1
expect_in "compare: rejections named with the run" "$tmp/err" "A: $P/"

run "compare table" 0 "$M" --cases "$CPIS_SAMPLES/cases.json" compare "$V5" "$V6" "$CPIS_SAMPLES/cascade"
grep -E '^activities ' "$tmp/out" | tr -s ' ' >"$tmp/row"
expect_eq "compare table: activities row" "$(cat "$tmp/row")" "activities 15 0 -15"
expect_in "compare table: landing_entries" "$tmp/out" "landing_entries"
expect_in "compare table: header" "$tmp/out" "B-A"

run "compare: too few operands" 2 "$M" compare "$V5" "$V6"
run "compare: missing config" 2 "$M" compare "$tmp/nope.json" "$V6" "$CPIS_SAMPLES/cascade"
run "compare: --db refused" 2 "$M" --db "$tmp/x.db" compare "$V5" "$V6" "$CPIS_SAMPLES/cascade"
run "compare --help" 0 "$M" compare --help

# ---- progress only on a terminal ---------------------------------------------------------
if command -v script >/dev/null 2>&1 && script -qec true /dev/null >/dev/null 2>&1; then
    script -qec "$M generate --open 3000 --closed 3000 $tmp/tty" /dev/null >"$tmp/tty.out" 2>&1 || true
    expect_in "progress on a TTY" "$tmp/tty.out" "generate: 6000/6000"
else
    echo "figures_generate: note: no pseudo-terminal (script(1)): progress on a terminal not checked"
fi

echo "figures_generate: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
