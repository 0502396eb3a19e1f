#!/usr/bin/env bash
# e2e_policies.sh - the mock host command line end to end, on the samples
# (issue 4, item 8; docs/reference.md "The mock host's command line"):
#   - `replay` of every sample folder under v5 and v6: exit 0 and the exact
#     summary counts, worked out by hand from the samples (see EXPECTED below);
#   - every contract summary key present; `report` prints the same line;
#   - every `deliver` action line names case, recipient and notification;
#   - `parse` of every sample: ok lines with the contract keys;
#   - `parse` of every hostile file under tests/data/{hl7,fhir}: one error
#     line with a contract error code, exit 1 (files named ok-* are valid
#     controls and must parse).
set -euo pipefail
. "$(dirname "$0")/../data/e2e/lib.sh"
preflight e2e_policies

# ---- expected summaries -----------------------------------------------------
# Worked out from the samples and docs/architecture.md's universe:
#  cascade: 5 accesses, child 9449305552, open case C-1001, 14:02..18:45 on
#    15 Mar 2024, each within 720 min of the previous: v5 = 3 activities per
#    access = 15; v6 = one episode: 1 landing entry, 1 case note.
#  messages: 17 files; 2 empty + 2 inactive-number notifications (no access),
#    1 upload acknowledgement (FileResponse: ignored, not a notification);
#    fhir-multi and multi-access hold 2 accesses each: 14 accesses.
#    On open cases (C-1001 x1, C-1003 x2, C-1002 x3): 6 -> v5 18 activities.
#    Closed/unknown (C-0999 x5, C-0875 x2, unknown x1): 8 -> 16 FR alerts;
#    C-0999's accesses in delivery (name) order 10 Jan, 20 Feb, 2 Apr,
#    16 Mar, 18 Mar: the 3rd, 4th and 5th have >= 3 within 183 days: 3
#    follow-ups.  v6 episodes (720 min window): C-0999 5, C-0875 2,
#    C-1001 1, C-1003 2, C-1002 2 (fhir-multi 10:05 and multi-access 09:12
#    on 18 Mar join, out of order), unknown 1 = 13; on open cases 5 ->
#    5 landing entries, 5 case notes.  Inactive: the HL7 V3 notification names
#    2 children, the FHIR one 1 -> 3 data-quality items (one per child).
#  mesh: 3 .ctl/.dat pairs; the third re-sends the first (same message id,
#    new DTSId): 2 notifications, 1 duplicate; both on C-1001, 3 min apart.
#  all three folders together: mesh's messages are cascade 01 and 02 again
#    (3 duplicates); fhir-access-person (C-1001, 15 Mar 14:29:58) joins the
#    cascade episode.
declare -A EXPECTED=(
  [cascade/v5]="notifications=5 accesses=5 duplicates=0 rejected=0 activities=15 first_response_alerts=0 first_response_followups=0 landing_entries=0 case_notes=0 episodes=0 records_kept=5 quarantined=0 data_quality_items=0"
  [cascade/v6]="notifications=5 accesses=5 duplicates=0 rejected=0 activities=0 first_response_alerts=0 first_response_followups=0 landing_entries=1 case_notes=1 episodes=1 records_kept=5 quarantined=0 data_quality_items=0 landing_updates=4"
  [messages/v5]="notifications=15 accesses=14 duplicates=0 rejected=0 activities=21 first_response_alerts=14 first_response_followups=3 landing_entries=0 case_notes=0 episodes=0 records_kept=14 quarantined=0 data_quality_items=2 ignored=1"
  [messages/v6]="notifications=15 accesses=14 duplicates=0 rejected=0 activities=0 first_response_alerts=0 first_response_followups=0 landing_entries=5 case_notes=5 episodes=12 records_kept=14 quarantined=0 data_quality_items=2 landing_updates=2 ignored=1"
  [mesh/v5]="notifications=2 accesses=2 duplicates=1 rejected=0 activities=6 first_response_alerts=0 first_response_followups=0 landing_entries=0 case_notes=0 episodes=0 records_kept=2 quarantined=0"
  [mesh/v6]="notifications=2 accesses=2 duplicates=1 rejected=0 activities=0 first_response_alerts=0 first_response_followups=0 landing_entries=1 case_notes=1 episodes=1 records_kept=2 quarantined=0 landing_updates=1"
  [all/v5]="notifications=20 accesses=19 duplicates=3 rejected=0 activities=36 first_response_alerts=14 first_response_followups=3 landing_entries=0 case_notes=0 episodes=0 records_kept=19 data_quality_items=2 ignored=1"
  [all/v6]="notifications=20 accesses=19 duplicates=3 rejected=0 activities=0 first_response_alerts=0 first_response_followups=0 landing_entries=5 case_notes=5 episodes=12 records_kept=19 data_quality_items=2 ignored=1"
)

# check_action_lines NAME FILE : every action line names case, recipient and
# notification; the kinds that address someone have a non-empty recipient.
check_action_lines() {
    local name=$1 file=$2 line kind n=0 bad=0
    while IFS= read -r line; do
        kind=$(str action "$line")
        [ -n "$kind" ] || continue
        [ "$kind" = items_closed ] && continue # not about one notification
        n=$((n + 1))
        case "$line" in *'"case":"'*) ;; *) bad=1; fail "$name: $kind line without case: $line" ;; esac
        case "$line" in *'"recipient":"'*) ;; *) bad=1; fail "$name: $kind line without recipient: $line" ;; esac
        if [ -z "$(str notification "$line")" ] && [ "$kind" != quarantine ]; then
            bad=1; fail "$name: $kind line without notification id: $line"
        fi
        case $kind in
        activity | first_response_alert | data_quality_item | landing_entry | landing_update | case_note | case_note_update)
            [ -n "$(str recipient "$line")" ] || { bad=1; fail "$name: $kind line with empty recipient: $line"; } ;;
        esac
        case $kind in
        activity | landing_entry | landing_update | case_note | case_note_update)
            [ -n "$(str case "$line")" ] || { bad=1; fail "$name: $kind line with empty case: $line"; } ;;
        esac
    done <"$file"
    [ "$n" -gt 0 ] || { bad=1; fail "$name: no action lines"; }
    [ "$bad" -eq 1 ] || ok
}

# ---- replay every folder under both versions ---------------------------------
for folder in cascade messages mesh all; do
    if [ "$folder" = all ]; then paths=("$S/cascade" "$S/messages" "$S/mesh"); else paths=("$S/$folder"); fi
    for v in v5 v6; do
        name="replay $folder $v"
        run "$name" 0 mh --config "$S/config/$v.json" --db "$tmp/$folder-$v.db" replay "${paths[@]}"
        summary=$(tail -n 1 "$tmp/out")
        expect_summary_keys "$name" "$summary"
        # shellcheck disable=SC2086
        expect_counts "$name" "$summary" ${EXPECTED[$folder/$v]}
        expect_counts "$name: nothing failed" "$summary" failed=0
        head -n -1 "$tmp/out" >"$tmp/actions"
        check_action_lines "$name" "$tmp/actions"
        # `report` on the same store prints the same summary line.
        run "report $folder $v" 0 mh --db "$tmp/$folder-$v.db" report
        expect_eq "report $folder $v = replay summary" "$(cat "$tmp/out")" "$summary"
    done
done

# The counted actions match the action lines printed.
mh --config "$V5" --db "$tmp/c5.db" deliver "$S/cascade" >"$tmp/deliver" 2>"$tmp/err"
expect_eq "v5 cascade: 15 activity lines" "$(grep -c '"action":"activity"' "$tmp/deliver")" 15
for who in sw.ahmed tm.brooks "team:Stafford North"; do
    expect_eq "v5 cascade: 5 activities for $who" \
        "$(grep -F '"action":"activity"' "$tmp/deliver" | grep -cF "\"recipient\":\"$who\"")" 5
done
expect_eq "v5 cascade: 5 record lines" "$(grep -c '"action":"record"' "$tmp/deliver")" 5
mh --config "$V6" --db "$tmp/c6.db" deliver "$S/cascade" >"$tmp/deliver" 2>"$tmp/err"
expect_eq "v6 cascade: 1 landing entry" "$(grep -c '"action":"landing_entry"' "$tmp/deliver")" 1
expect_eq "v6 cascade: 4 landing updates" "$(grep -c '"action":"landing_update"' "$tmp/deliver")" 4
expect_eq "v6 cascade: 1 case note" "$(grep -c '"action":"case_note"' "$tmp/deliver")" 1
expect_eq "v6 cascade: no activity" "$(grep -c '"action":"activity"' "$tmp/deliver" || true)" 0
expect_eq "v6 cascade: all on case C-1001" \
    "$(grep -v '"case":"C-1001"' "$tmp/deliver" | wc -l)" 0
mh --config "$V5" deliver "$S/messages" >"$tmp/deliver" 2>"$tmp/err"
expect_eq "v5 messages: 14 FR alert lines" "$(grep -c '"action":"first_response_alert"' "$tmp/deliver")" 14
expect_eq "v5 messages: 6 follow-up alert lines (3 accesses x 2)" \
    "$(grep -c '"followup":true' "$tmp/deliver")" 6
mh --config "$V5" deliver "$S/mesh" >"$tmp/deliver" 2>"$tmp/err"
expect_eq "mesh: one duplicate line" "$(grep -c '"action":"duplicate"' "$tmp/deliver")" 1
expect_in "mesh: the duplicate is the resend" "$tmp/deliver" '"notification":"3F2A9C14-7B1E-4D6A-9E35-1C8B04D2A701"'
check_action_lines "deliver mesh (with a duplicate line)" "$tmp/deliver"

# ---- parse: every sample gives ok lines with the contract keys ----------------
ACCESS_KEYS="file ok kind format message_id created accessed_at nhs_number la_code location_code location_name setting viewer viewer_role"
find "$S/cascade" "$S/messages" "$S/mesh" -type f ! -name '*.ctl' | sort >"$tmp/samples"
nsamples=0
while IFS= read -r f; do
    nsamples=$((nsamples + 1))
    run "parse $(basename "$f")" 0 mh --config "$V6" parse "$f"
    [ -s "$tmp/out" ] || fail "parse $(basename "$f"): no output"
    while IFS= read -r line; do
        case "$line" in *'"ok":true'*) ok ;; *) fail "parse $(basename "$f"): not ok: $line" ;; esac
        kind=$(str kind "$line")
        case $kind in
        access) keys=$ACCESS_KEYS ;;
        inactive_nhs_number) keys="file ok kind format message_id created nhs_number la_code" ;;
        empty) keys="file ok kind format message_id created la_code" ;;
        ignored) keys="file ok kind format reason" ;;
        *) keys=""; fail "parse $(basename "$f"): unknown kind '$kind'" ;;
        esac
        for k in $keys; do
            case "$line" in *"\"$k\":"*) ok ;; *) fail "parse $(basename "$f"): key $k missing: $line" ;; esac
        done
        case $(str format "$line") in hl7v3 | fhir) ok ;; *) fail "parse $(basename "$f"): format: $line" ;; esac
    done <"$tmp/out"
done <"$tmp/samples"
expect_eq "sample files parsed" "$nsamples" 24
run "parse all samples at once" 0 mh --config "$V6" parse "$S/cascade" "$S/messages" "$S/mesh"
expect_eq "parse all samples: 27 lines (two messages hold 2 accesses, one 2 inactive subjects)" "$(wc -l <"$tmp/out")" 27
expect_in "message id kept as in the message" "$tmp/out" '"message_id":"4b7c9e21-6f3a-4d8b-a5c2-9e1d7f0b3a64"'
expect_in "ODS name resolved" "$tmp/out" '"location_code":"RJE01","location_name":"ROYAL STOKE UNIVERSITY HOSPITAL","location_resolution":"ods","setting":"hospital"'

# ---- parse: every hostile file is one error line with a contract code ----------
CODES=" malformed unsupported_message missing_field invalid_nhs_number invalid_ods_code invalid_timestamp too_large forbidden_construct bad_encoding "
nbad=0
for f in "$TESTDATA"/hl7/* "$TESTDATA"/fhir/*; do
    b=$(basename "$f")
    if [[ $b == ok-* ]]; then # valid controls kept beside the hostile files
        run "parse control $b" 0 mh --config "$V6" parse "$f"
        expect_in "parse control $b" "$tmp/out" '"ok":true'
        continue
    fi
    nbad=$((nbad + 1))
    run "parse hostile $b" 1 mh --config "$V6" parse "$f"
    expect_eq "parse hostile $b: one line" "$(wc -l <"$tmp/out")" 1
    line=$(head -n 1 "$tmp/out")
    case "$line" in *'"ok":false'*) ok ;; *) fail "parse hostile $b: not an error line: $line" ;; esac
    code=$(str error "$line")
    case "$CODES" in *" $code "*) ok ;; *) fail "parse hostile $b: error '$code' not a contract code" ;; esac
    case "$line" in *'"detail":"'*) ok ;; *) fail "parse hostile $b: no detail: $line" ;; esac
    # The file name says which code: hl7/CODE-*.xml; fhir/PREFIX-*.json.
    want=""
    case "$f" in
    */hl7/*) want=${b%%-*} ;;
    */fhir/bad-encoding-*) want=bad_encoding ;;
    */fhir/missing-*) want=missing_field ;;
    */fhir/nhs-*) want=invalid_nhs_number ;;
    */fhir/ods-*) want=invalid_ods_code ;;
    */fhir/ts-*) want=invalid_timestamp ;;
    */fhir/unsupported-*) want=unsupported_message ;;
    */fhir/malformed-nul-byte*) want=$code ;; # a NUL byte: malformed or bad_encoding
    */fhir/malformed-*) want=malformed ;;
    esac
    expect_eq "parse hostile $b: code" "$code" "$want"
done
[ "$nbad" -ge 100 ] && ok || fail "only $nbad hostile files found under $TESTDATA"

# ---- the published schema shapes, end to end ------------------------------------
# Two record accesses: two access lines, every field of the contract.
run "parse multi-access" 0 mh --config "$V6" parse "$S/messages/multi-access.xml"
expect_eq "multi-access: two access lines" "$(grep -c '"kind":"access"' "$tmp/out")" 2
expect_in "multi-access: first access" "$tmp/out" '"accessed_at":"2024-03-18T09:12:00Z","nhs_number":"9000000009","la_code":"706","location_code":"RR801","location_name":"LEEDS GENERAL INFIRMARY","location_resolution":"ods","setting":"hospital","viewer":"Dr Amira Khan","viewer_role":"R0260"'
expect_in "multi-access: query id, upload file, LA child id" "$tmp/out" '"access_id":"5B05F221-24D3-54F4-A123-D5E70B536367","upload_file":"706_CPIS_20240301.csv","la_child_id":"STAFFS-CP-0388"'
expect_in "multi-access: second access" "$tmp/out" '"accessed_at":"2024-03-18T09:25:00Z","nhs_number":"4010232137"'
expect_in "multi-access: second query id" "$tmp/out" '"access_id":"2B51CF3A-32F3-57A5-9D5E-67A737ACDE5C"'
# Several queries in one record access, behind a SOAP envelope: three lines.
run "parse SOAP-wrapped" 0 mh --config "$V6" parse "$TESTDATA/hl7ok/soap-wrapped.xml"
expect_eq "SOAP-wrapped: three access lines" "$(grep -c '"kind":"access"' "$tmp/out")" 3
# An inactive notification: one line per child, the replacement named.
run "parse inactive" 0 mh --config "$V6" parse "$S/messages/inactive-nhs-number.xml"
expect_eq "inactive: one line per subject" "$(grep -c '"kind":"inactive_nhs_number"' "$tmp/out")" 2
expect_in "inactive: replacement" "$tmp/out" '"nhs_number":"9378657974","replacement_nhs_number":"9434765919","upload_file":"706_CPIS_20240301.csv"'
# A stated count higher than what the notification holds: missing_field,
# quarantined by deliver, never "empty".
run "parse fewer than stated" 1 mh --config "$V6" parse "$TESTDATA/hl7/missing_field-fewer-than-stated.xml"
expect_in "fewer than stated: missing_field" "$tmp/out" '"error":"missing_field"'
expect_in "fewer than stated: detail says what is missing" "$tmp/out" 'states 3 access(es) (pertinentTotalReturnedRecords) but holds 2 pertinentCP-ISNHSQuery: 1 missing'
run "deliver fewer than stated" 1 mh --config "$V6" deliver "$TESTDATA/hl7/missing_field-fewer-than-stated.xml"
expect_in "fewer than stated: quarantined" "$tmp/out" '"action":"quarantine"'
expect_in "fewer than stated: quarantined as missing_field" "$tmp/out" '"error":"missing_field"'
# The acknowledgement of the LA's upload: ignored with a reason, exit 0.
run "deliver upload acknowledgement" 0 mh --config "$V6" replay "$S/messages/upload-acknowledgement.xml"
expect_in "upload acknowledgement: counted as ignored" "$tmp/out" '"notifications":0,'
expect_in "upload acknowledgement: ignored 1" "$tmp/out" '"ignored":1'
expect_not_in "upload acknowledgement: not quarantined" "$tmp/out" '"action":"quarantine"'

finish e2e_policies
