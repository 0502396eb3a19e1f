#!/usr/bin/env bash
# e2e_privacy.sh - nothing identifying in any log line (issue 5 item 5).
# Runs the commands of the other e2e scenarios with -v (every plugin log
# line, at its most detailed level) and scans ALL of their stderr for
#   - any 10-digit number and any "NNN NNN NNNN" grouping (NHS numbers),
#   - every professional's name in the samples (HL7 given/family, FHIR
#     Practitioner family/given, every `viewer` the parser reports),
#   - the sample NHS numbers themselves, in any spacing;
# and scans `quarantine list` and every parse error detail for NHS numbers.
# Paths of the input files are removed before the digit scan: MESH file
# names are timestamps (20240315140530_000001.dat), not NHS numbers.
# (The samples hold no child names: CP-IS messages carry only the NHS
# number, so there is no child name to look for.)
set -euo pipefail
. "$(dirname "$0")/../data/e2e/lib.sh"
preflight e2e_privacy
E2E=$TESTDATA/e2e
ALL=$tmp/all.err
: >"$ALL"

# v CMD... : run the mock host with -v, stderr appended to $ALL, stdout kept
# in $tmp/out; the exit status is not checked here (other scenarios do).
v() { mh -v "$@" >"$tmp/out" 2>>"$ALL" || true; }

# ---- the scenarios, verbose ---------------------------------------------------
for cfg in "$V5" "$V6"; do
    for d in cascade messages mesh; do v --config "$cfg" replay "$S/$d"; done
    v --config "$cfg" replay "$S/cascade" "$S/messages" "$S/mesh"
done
v --config "$V6" parse "$S/cascade" "$S/messages" "$S/mesh"
v --config "$V6" parse "$TESTDATA/hl7" "$TESTDATA/fhir"
grep -F '"ok":false' "$tmp/out" >"$tmp/parse-errors" || true # the ok-* controls rightly show theirs
# duplicates across processes
db=$tmp/p.db
v --config "$V6" --db "$db" deliver "$S/cascade" "$S/mesh"
v --config "$V6" --db "$db" deliver "$S/cascade" "$S/mesh"
# concurrent processes
db=$tmp/c.db
mh -v --config "$V6" --db "$db" deliver "$S/messages" >/dev/null 2>"$tmp/c1.err" &
p1=$!
mh -v --config "$V6" --db "$db" deliver "$S/messages" >/dev/null 2>"$tmp/c2.err" &
p2=$!
wait "$p1" || true
wait "$p2" || true
cat "$tmp/c1.err" "$tmp/c2.err" >>"$ALL"
# 5 -> 6 switch, across runs and through the config-changed hook
db=$tmp/s.db
v --config "$V5" --db "$db" deliver "$S/cascade" "$S/messages"
v --config "$V6" --db "$db" deliver "$S/mesh"
v --config "$V5" --reconfigure "$V6" deliver "$S/messages"
# quarantine: every hostile file, list, redeliver, the too_large fix
db=$tmp/q.db
v --config "$V6" --db "$db" deliver "$TESTDATA/hl7" "$TESTDATA/fhir" "$E2E/mesh-bad"
v --db "$db" quarantine list
cp "$tmp/out" "$tmp/qlist"
qid=$(str id "$(head -n 1 "$tmp/qlist")")
v --config "$V6" --db "$db" quarantine redeliver "$qid"
db=$tmp/f.db
v --config "$E2E/v6-small-limit.json" --db "$db" deliver "$S/cascade"
v --db "$db" quarantine list
qid=$(str id "$(head -n 1 "$tmp/out")")
v --config "$V6" --db "$db" quarantine redeliver "$qid"
# host faults, transient and permanent, at a spread of calls
for k in 1 2 3 7 20 50 100 150 195; do
    CPIS_MOCK_FAIL_CALL=$k v --config "$V6" deliver "$S/cascade" "$S/messages"
    CPIS_MOCK_FAIL_CALL=$k CPIS_MOCK_FAIL_MODE=permanent v --config "$V5" deliver "$S/cascade" "$S/messages"
    CPIS_MOCK_FAIL_CALL=$k CPIS_MOCK_FAIL_COUNT=4 v --config "$V5" deliver "$S/cascade" "$S/messages"
done
# an optional host function missing
CPIS_MOCK_OMIT=clock_ms,publish_landing,write_case_note,close_items v --config "$V6" deliver "$S/cascade" "$S/messages"

nlines=$(wc -l <"$ALL")
echo "scanned $nlines stderr lines"
[ "$nlines" -ge 200 ] && ok || fail "only $nlines stderr lines: is -v logging?"
grep -q '^\[debug\]' "$ALL" && ok || fail "no debug line: -v is not the most verbose level"

# ---- the digit scan --------------------------------------------------------------
# Remove input paths (under the samples, the test data, the temp folder).
esc() { printf '%s' "$1" | sed 's/[.[\*^$#]/\\&/g'; }
sed -e "s#$(esc "$S")/[^ :;,)\"']*##g" -e "s#$(esc "$TESTDATA")/[^ :;,)\"']*##g" \
    -e "s#$(esc "$tmp")/[^ :;,)\"']*##g" \
    -e 's/q-[0-9a-f]\{16\}/q-ID/g' "$ALL" >"$tmp/scan"
# (quarantine ids, q- and 16 hexadecimal digits, are logged whole on purpose
# so that `quarantine redeliver` can use them; the scrubber keeps them)
if grep -nE '(^|[^0-9])[0-9]{10}([^0-9]|$)' "$tmp/scan" >"$tmp/hits"; then
    fail "a 10-digit number in a log line: $(head -n 3 "$tmp/hits")"
else ok; fi
if grep -nE '(^|[^0-9])[0-9]{3} [0-9]{3} [0-9]{4}([^0-9]|$)' "$tmp/scan" >"$tmp/hits"; then
    fail "an NNN NNN NNNN grouping in a log line: $(head -n 3 "$tmp/hits")"
else ok; fi
# Every sample NHS number, whatever the spacing, in the raw stderr.
nhs_list=$(mh --config "$V6" parse "$S/cascade" "$S/messages" "$S/mesh" 2>/dev/null |
    sed -n 's/.*"nhs_number":"\([0-9]\{10\}\)".*/\1/p' | sort -u)
nnhs=0
for n in $nhs_list 9912003899; do
    nnhs=$((nnhs + 1))
    spaced="${n:0:3} ${n:3:3} ${n:6:4}"
    if grep -qF -e "$n" -e "$spaced" "$ALL"; then fail "NHS number $spaced in a log line"; else ok; fi
done
[ "$nnhs" -ge 7 ] && ok || fail "only $nnhs sample NHS numbers found to look for"

# ---- the name scan ------------------------------------------------------------------
{
    grep -rhoaE '<(given|family)>[^<]*</' "$S" "$TESTDATA" | sed -E 's/<[a-z]+>([^<]*)<\//\1/' || true
    grep -rhoaE '"(family|given)" *: *"[^"]*"' "$S" "$TESTDATA" | sed -E 's/.*: *"([^"]*)"/\1/' || true
    grep -rhoaE '"given" *: *\[[^]]*\]' "$S" "$TESTDATA" | grep -oE '"[^"]*"' | tr -d '"' | grep -v '^given$' || true
    mh --config "$V6" parse "$S/cascade" "$S/messages" "$S/mesh" 2>/dev/null |
        sed -n 's/.*"viewer":"\([^"]*\)".*/\1/p' || true
} | tr ' ' '\n' | { grep -E '^[A-Z][a-z]{2,}$' || true; } | { grep -vxE 'Mrs|Miss|Prof|Sister|Nurse' || true; } | sort -u >"$tmp/names"
nnames=$(wc -l <"$tmp/names")
echo "looking for $nnames names: $(tr '\n' ' ' <"$tmp/names")"
[ "$nnames" -ge 20 ] && ok || fail "only $nnames names extracted from the samples"
grep -qx Patel "$tmp/names" && ok || fail "the sample name Patel was not extracted"
while IFS= read -r name; do
    if grep -qw -- "$name" "$ALL"; then
        fail "name '$name' in a log line: $(grep -w -- "$name" "$ALL" | head -n 2)"
    else ok; fi
done <"$tmp/names"

# ---- quarantine list and parse error details ------------------------------------------
expect_eq "quarantine list not empty" "$([ -s "$tmp/qlist" ] && echo yes)" yes
for f in "$tmp/qlist" "$tmp/parse-errors"; do
    # not the paths, the MESH ids or the quarantine ids (hex hashes)
    sed -e 's/"source":"[^"]*"//' -e 's/"transport_id":"[^"]*"//' -e 's/"file":"[^"]*"//' \
        -e 's/"id":"q-[0-9a-f]*"//' "$f" >"$tmp/scan"
    if grep -nE '(^|[^0-9])[0-9]{10}([^0-9]|$)|[0-9]{3} [0-9]{3} [0-9]{4}' "$tmp/scan" >"$tmp/hits"; then
        fail "$(basename "$f"): an NHS number: $(head -n 2 "$tmp/hits")"
    else ok; fi
    while IFS= read -r name; do
        if grep -qw -- "$name" "$tmp/scan"; then fail "$(basename "$f"): name '$name'"; else ok; fi
    done <"$tmp/names"
done
expect_eq "parse errors: one per hostile file" "$(wc -l <"$tmp/parse-errors")" \
    "$(find "$TESTDATA/hl7" "$TESTDATA/fhir" -type f ! -name 'ok-*' | wc -l)"
expect_eq "quarantine list: every hostile file" "$(wc -l <"$tmp/qlist")" \
    "$(($(find "$TESTDATA/hl7" "$TESTDATA/fhir" -type f ! -name 'ok-*' | wc -l) + 1))"

finish e2e_privacy
