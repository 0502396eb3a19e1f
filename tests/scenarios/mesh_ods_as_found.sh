#!/usr/bin/env bash
# mesh_ods_as_found.sh - issue 11 through the mock host: ODS extracts as
# they are found (a spreadsheet re-save, a file that is not an extract, a
# row that cannot be read), locations that say as much as is known, and
# MESH pairs as they arrive (gzip payloads, reports, CRLF control files,
# an empty DTSId, long DTSIds kept whole).
set -euo pipefail
. "$(dirname "$0")/../data/e2e/lib.sh"

SHEET=$S/ods-spreadsheet
GZ=$S/mesh-gzip

# ---- ODS: config check per file --------------------------------------------
mkdir -p "$tmp/ods"
cp "$SHEET/etr.csv" "$tmp/ods/etr.csv"
printf 'RJE01,ROYAL STOKE UNIVERSITY HOSPITAL,Y60,QNC,,,,,,,,,,A,RJE\n"QQE09,BROKEN QUOTE\nRJE 9,SPACE IN CODE\n' >"$tmp/ods/ets.csv"
printf 'Organisation code;Name;Notes\nthis file;is not;an extract\n' >"$tmp/ods/notes.csv"
cat >"$tmp/v6.json" <<JSON
{ "workflow": { "version": 6 }, "ods": { "paths": ["ods"], "settings": { "QQ1": "ambulance" } } }
JSON
run "config check: files as found" 0 mh config check "$tmp/v6.json"
expect_in "check: spreadsheet etr.csv" "$tmp/out" "ods/etr.csv: 4 rows read, 0 skipped"
expect_in "check: ets rows skipped and why" "$tmp/out" "ods/ets.csv: 1 rows read, 2 skipped (1 not an ODS code in column 1, 1 malformed quoting)"
expect_in "check: not an extract, skipped" "$tmp/out" "ods/notes.csv: skipped: not an ODS extract"

# ---- locations: parent fallback, the message's own name, settings ----------
run "parse with the spreadsheet extract" 0 mh --config "$tmp/v6.json" --ods "$SHEET" parse "$S/cascade/04-emergency-department.xml"
line=$(cat "$tmp/out")
expect_eq "site -> trust: resolution" "$(str location_resolution "$line")" parent
expect_eq "site -> trust: name" "$(str location_name "$line")" "UNIVERSITY HOSPITALS OF NORTH MIDLANDS NHS TRUST"
expect_eq "site -> trust: message name kept" "$(str location_name_in_message "$line")" "ROYAL STOKE UNIVERSITY HOSPITAL"
expect_eq "site -> trust: setting" "$(str setting "$line")" hospital
run "parse: ods.settings for a code no file holds" 0 mh --config "$tmp/v6.json" --ods "$SHEET" parse "$S/cascade/01-nhs111.xml"
line=$(cat "$tmp/out")
expect_eq "unlisted code: setting from ods.settings" "$(str setting "$line")" ambulance
expect_eq "unlisted code: resolution message" "$(str location_resolution "$line")" message
run "parse with the sample extracts" 0 mh parse "$S/cascade/04-emergency-department.xml"
line=$(cat "$tmp/out")
expect_eq "known site: resolution ods" "$(str location_resolution "$line")" ods
expect_not_in "known site: no name_in_message when equal" "$tmp/out" location_name_in_message

# The code in brackets at the end of the message's name is tried first.
sed -e 's/"value": "RR801"/"value": "RJE"/' \
    -e 's/LEEDS GENERAL INFIRMARY - PAEDIATRIC EMERGENCY DEPARTMENT (RR801)/UNIVERSITY HOSPITALS OF NORTH MIDLANDS NHS TRUST - PAEDIATRIC TEAM (RJE01)/' \
    "$S/messages/fhir-access-person.json" >"$tmp/bracket.json"
run "parse: bracketed site code" 0 mh parse "$tmp/bracket.json"
line=$(cat "$tmp/out")
expect_eq "bracket: the site is used" "$(str location_code "$line")" RJE01
expect_eq "bracket: the message's code kept" "$(str location_code_in_message "$line")" RJE
expect_eq "bracket: resolved by ODS" "$(str location_resolution "$line")" ods
sed -e 's/"value": "RR801"/"value": "RJE"/' \
    -e 's/LEEDS GENERAL INFIRMARY - PAEDIATRIC EMERGENCY DEPARTMENT (RR801)/UNIVERSITY HOSPITALS OF NORTH MIDLANDS NHS TRUST - MEDICAL TEAM (RJEAA)/' \
    "$S/messages/fhir-access-person.json" >"$tmp/bracket2.json"
run "parse: bracketed code no file holds" 0 mh parse "$tmp/bracket2.json"
line=$(cat "$tmp/out")
expect_eq "bracket unlisted: code" "$(str location_code "$line")" RJEAA
expect_eq "bracket unlisted: a site of its trust" "$(str location_resolution "$line")" parent
expect_eq "bracket unlisted: trust name" "$(str location_name "$line")" "UNIVERSITY HOSPITALS OF NORTH MIDLANDS NHS TRUST"
# A code nobody knows and no name: resolution none, location_name empty.
sed -e 's/"value": "RR801"/"value": "QQQ99"/' -e 's/"display": "LEEDS GENERAL INFIRMARY - PAEDIATRIC EMERGENCY DEPARTMENT (RR801)"/"display": ""/' \
    "$S/messages/fhir-access-person.json" >"$tmp/none.json"
run "parse: nothing known" 0 mh parse "$tmp/none.json"
line=$(cat "$tmp/out")
expect_eq "none: resolution" "$(str location_resolution "$line")" none
expect_in "none: empty name" "$tmp/out" '"location_name":""'
expect_eq "none: setting" "$(str setting "$line")" unknown

# landing entry and case note say "a site of" and the message's name
run "deliver with the spreadsheet extract" 0 mh --ods "$SHEET" --db "$tmp/sheet.db" deliver "$S/cascade/04-emergency-department.xml"
if [ "$HAVE_SQLITE" = 1 ]; then
    sqlite3 "$tmp/sheet.db" "SELECT body FROM case_notes" >"$tmp/note"
    expect_in "note: a site of, title case" "$tmp/note" "Where: a site of University Hospitals of North Midlands NHS Trust (code RJE01"
    expect_in "note: as named in the message" "$tmp/note" "as named in the message: Royal Stoke University Hospital"
    sqlite3 "$tmp/sheet.db" "SELECT body FROM landing" >"$tmp/entry"
    expect_in "landing entry: as named in the message" "$tmp/entry" "as named in the message: Royal Stoke University Hospital"
else
    echo "mesh_ods_as_found: sqlite3 not installed: case-note text checks skipped"
fi
run "landing preview" 0 mh --db "$tmp/sheet.db" landing --worker sw.ahmed --html "$tmp/l.html"
expect_in "preview: a site of" "$tmp/l.html" "A site of University Hospitals of North Midlands NHS Trust"
expect_in "preview: as named in the message" "$tmp/l.html" "As named in the message: Royal Stoke University Hospital"

# ---- MESH: a gzip pair (CRLF, no XML declaration, extra elements) and a report
run "parse the gzip pair and the report" 0 mh parse "$GZ"
head -1 "$tmp/out" >"$tmp/l1"
expect_in "gzip: inflated and read" "$tmp/l1" '"message_id":"8C0D2E6F-41A7-4B3C-9D58-E2F7A1B60C04"'
expect_in "gzip: WorkflowId kept" "$tmp/l1" '"workflow_id":"CPIS_ASN"'
sed -n 2p "$tmp/out" >"$tmp/l2"
expect_in "report: ignored" "$tmp/l2" '"kind":"ignored"'
expect_in "report: reason" "$tmp/l2" '"reason":"mesh_report"'
run "replay the gzip pair and the report" 0 mh --db "$tmp/gz.db" replay "$GZ"
sum=$(tail -1 "$tmp/out")
expect_counts "replay gzip" "$sum" notifications=1 accesses=1 ignored=1 rejected=0 landing_entries=1
expect_in "ignored action line" "$tmp/out" '"action":"ignored"'

# A compressed payload that inflates past the limit: too_large, quarantined.
mkdir -p "$tmp/bomb"
head -c 64000000 /dev/zero | gzip -1 >"$tmp/bomb/x.dat"
sed 's/8C0D2E6F/BB0B0000/; s/20240316101530447120_9B2D41/BOMB-1/' "$GZ/20240316101530_000004.ctl" >"$tmp/bomb/x.ctl"
run "gzip bomb" 1 mh --db "$tmp/bomb.db" deliver "$tmp/bomb"
expect_in "gzip bomb: too_large" "$tmp/err" "too_large"
expect_in "gzip bomb: says inflated" "$tmp/err" "inflates past"
# Compress Y but not gzip: bad_encoding, quarantined.
mkdir -p "$tmp/notgz"
cp "$S/mesh/20240315140530_000001.dat" "$tmp/notgz/y.dat"
cp "$tmp/bomb/x.ctl" "$tmp/notgz/y.ctl"
run "Compress Y on a plain payload" 1 mh deliver "$tmp/notgz"
expect_in "not gzip: bad_encoding" "$tmp/err" "bad_encoding"

# Two messages whose DTSIds share their first 150 characters: two messages.
long=$(printf 'A%.0s' $(seq 1 150))
mkdir -p "$tmp/long"
for n in 1 2; do
    src=$(ls "$S"/mesh/*_00000$n.dat)
    cp "$src" "$tmp/long/m$n.dat"
    sed "s|<DTSId>[^<]*</DTSId>|<DTSId>${long}-$n</DTSId>|" "${src%.dat}.ctl" >"$tmp/long/m$n.ctl"
done
run "long DTSIds" 0 mh --db "$tmp/long.db" replay "$tmp/long"
expect_counts "long DTSIds: both messages" "$(tail -1 "$tmp/out")" notifications=2 duplicates=0
# the same long id again, the same payload: handled as a duplicate (no new
# notification; the report counts messages, and this is the same message
# delivered again, so no new duplicate message either)
run "long DTSId again" 0 mh --db "$tmp/long.db" replay "$tmp/long/m2.dat"
expect_in "long DTSId again: a duplicate delivery" "$tmp/out" '"action":"duplicate"'
expect_counts "long DTSId again: nothing new this run" "$(tail -1 "$tmp/out")" notifications=0 duplicates=0

finish mesh_ods_as_found
