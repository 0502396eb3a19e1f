#!/usr/bin/env bash
# sample_codes.sh - the samples tell the truth about ODS codes
# (samples/ods/README.md): every row of the sample ODS extracts, and every
# organisation code in the sample messages, is either one of the real codes
# listed there, carrying its own organisation's real name, or in the range
# made up for the samples (Q and five digits, a branch surgery being that and
# three more, or a code beginning QQ), which ODS gives to no organisation.
set -euo pipefail
. "$(dirname "$0")/../data/e2e/lib.sh"

# The real codes and their real names (samples/ods/README.md, ALL CAPITALS
# as ODS writes them).
REAL='RJE|UNIVERSITY HOSPITALS OF NORTH MIDLANDS NHS TRUST
RR8|LEEDS TEACHING HOSPITALS NHS TRUST
RWW|WARRINGTON AND HALTON TEACHING HOSPITALS NHS FOUNDATION TRUST
RX7|NORTH WEST AMBULANCE SERVICE NHS TRUST
RYA|WEST MIDLANDS AMBULANCE SERVICE UNIVERSITY NHS FOUNDATION TRUST
RLY|NORTH STAFFORDSHIRE COMBINED HEALTHCARE NHS TRUST
RLN|CITY HOSPITALS SUNDERLAND NHS FOUNDATION TRUST
RJE01|ROYAL STOKE UNIVERSITY HOSPITAL
RR801|LEEDS GENERAL INFIRMARY'
MADE_UP='^(Q[0-9]{5}([0-9]{3})?|QQ[A-Z0-9]{1,7})$'

# rows FILE : "code|name" for each row of an ODS extract (quotes optional,
# doubled quotes inside a quoted field, a byte-order mark, CRLF).
rows() {
    sed -e '1s/^\xEF\xBB\xBF//' -e 's/\r$//' "$1" | awk '
    function field(    f, c) {
        f = ""
        if (substr(line, 1, 1) == "\"") {
            line = substr(line, 2)
            while (length(line) > 0) {
                c = substr(line, 1, 1)
                if (c == "\"" && substr(line, 2, 1) == "\"") { f = f "\""; line = substr(line, 3); continue }
                if (c == "\"") { line = substr(line, 2); break }
                f = f c; line = substr(line, 2)
            }
        } else {
            c = index(line, ",")
            if (c == 0) { f = line; line = ""; return f }
            f = substr(line, 1, c - 1); line = substr(line, c)
        }
        if (substr(line, 1, 1) == ",") line = substr(line, 2)
        return f
    }
    NF { line = $0; code = field(); name = field(); print code "|" name }'
}

# check_file NAME FILE : every row's code is real with its real name, or made up.
check_file() {
    local name=$1 file=$2 code oname want n=0
    while IFS='|' read -r code oname; do
        n=$((n + 1))
        want=$(printf '%s\n' "$REAL" | sed -n "s/^$code|//p")
        if [ -n "$want" ]; then
            expect_eq "$name: $code carries its real name" "$oname" "$want"
        elif printf '%s\n' "$code" | grep -Eq "$MADE_UP"; then
            ok
        else
            fail "$name: $code ($oname) is neither a listed real code nor in the made-up range"
        fi
    done < <(rows "$file")
    [ "$n" -gt 0 ] || fail "$name: no rows read from $file"
}

for f in "$S"/ods/*.csv "$S"/ods-spreadsheet/*.csv; do
    check_file "${f#"$S"/}" "$f"
done

# The README lists every real code, and the check can fail: a real code with
# another organisation's name, and a code outside both lists, are caught.
while IFS='|' read -r code _; do
    expect_in "README lists $code" "$S/ods/README.md" "| \`$code\` |"
done <<<"$REAL"
expect_not_in "README: nothing left unfinished" "$S/ods/README.md" "Unfinished"
printf '"M83001","NOT ITS NAME"\nRJE,ANOTHER NHS TRUST\n"QQ1","FINE"\n' >"$tmp/bad.csv"
saved_passed=$passed saved_failed=$failed
check_file bad "$tmp/bad.csv" 2>"$tmp/bad.err"
bad_failed=$((failed - saved_failed))
passed=$saved_passed failed=$saved_failed
expect_eq "the check catches a real-looking code and a wrong name" "$bad_failed" 2
expect_in "the check names the code outside both lists" "$tmp/bad.err" "M83001 (NOT ITS NAME) is neither"

# The organisation codes the sample messages carry (HL7 V3 organisation ids,
# FHIR ODS identifiers, codes in brackets at the end of a display), the gzip
# MESH payloads inflated; 706 is the recipient local authority, not an
# organisation in these files.
{
    cat "$S"/messages/* "$S"/cascade/* "$S"/mesh/*.dat
    for z in "$S"/mesh-gzip/*.dat; do [ -s "$z" ] && gzip -dc "$z"; done
} >"$tmp/messages"
grep -oE '2\.16\.840\.1\.113883\.2\.1\.3\.2\.4\.19\.1" extension="[^"]*"' "$tmp/messages" \
    | sed 's/.*extension="\([^"]*\)"/\1/' >"$tmp/codes" || true
grep -oE 'ods-organization-code", *"value": *"[^"]*"' "$tmp/messages" \
    | sed 's/.*"\([^"]*\)"$/\1/' >>"$tmp/codes" || true
grep -oE '\(([A-Z0-9]{3,9})\)"' "$tmp/messages" | tr -d '()"' >>"$tmp/codes" || true
[ -s "$tmp/codes" ] && ok || fail "no organisation codes found in the sample messages"
for code in $(sort -u "$tmp/codes"); do
    if [ "$code" = 706 ] || printf '%s\n' "$REAL" | grep -q "^$code|" ||
        printf '%s\n' "$code" | grep -Eq "$MADE_UP"; then
        ok
    else
        fail "sample messages: $code is neither a listed real code nor in the made-up range"
    fi
done

finish sample_codes
