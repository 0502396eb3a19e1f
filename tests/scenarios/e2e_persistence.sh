#!/usr/bin/env bash
# e2e_persistence.sh - state that persists across mock-host processes with
# --db FILE (issue 4 item 8; issue 5 items 1, 2 and the 5 -> 6 switch):
#   1. deliver, then the same file again in a second process: a duplicate
#      line, the `report` counts unchanged (it counts messages, not deliveries);
#   2. four processes delivering the same folders concurrently into one
#      --db: the same final report (and store) as the same four runs one
#      after the other; every repeat counted as a duplicate;
#   3. deliver under v5, then run under v6 on the same --db: the legacy task
#      activities and First Response alerts still open are closed with a
#      reason, counted in closed_on_switch, and only once;
#   4. quarantine: a bad message (also over MESH: transport id kept) exits
#      1, `quarantine list` shows it with its error code and no NHS number;
#      redelivering the same bad payload leaves it quarantined; messages
#      quarantined as too_large under a small limit are redelivered after
#      the fix (the admin raises the limit) and then act exactly once.
set -euo pipefail
. "$(dirname "$0")/../data/e2e/lib.sh"
preflight e2e_persistence
E2E=$TESTDATA/e2e

# ---- 1. a second process sees the first one's deliveries ----------------------
db=$tmp/dup.db
run "first deliver" 0 mh --config "$V6" --db "$db" deliver "$S/cascade/01-nhs111.xml"
expect_in "first deliver acts" "$tmp/out" '"action":"landing_entry"'
run "report after first" 0 mh --db "$db" report
first=$(cat "$tmp/out")
expect_counts "after first deliver" "$first" notifications=1 accesses=1 duplicates=0 landing_entries=1 case_notes=1 episodes=1 records_kept=1
run "second deliver, new process" 0 mh --config "$V6" --db "$db" deliver "$S/cascade/01-nhs111.xml"
expect_eq "second deliver: exactly one line" "$(wc -l <"$tmp/out")" 1
expect_in "second deliver: a duplicate line" "$tmp/out" '"action":"duplicate"'
expect_in "duplicate names the notification" "$tmp/out" '"notification":"3F2A9C14-7B1E-4D6A-9E35-1C8B04D2A701"'
run "report after second" 0 mh --db "$db" report
second=$(cat "$tmp/out")
# The report counts messages (issue 12): the same file again is the same
# message, accepted once; the duplicate event stays in the deliveries log.
expect_counts "after second deliver" "$second" duplicates=0
expect_eq "counts unchanged" "$second" "$first"
if [ "$HAVE_SQLITE" = 1 ]; then
    expect_eq "the duplicate event is logged" \
        "$(sqlite3 "$db" "SELECT COUNT(*) FROM deliveries WHERE status = 'duplicate'")" 1
fi
# The MESH resend of the same message (new DTSId, same content) in a third
# process is a duplicate too.
run "MESH resend in a third process" 0 mh --config "$V6" --db "$db" deliver \
    "$S/mesh/20240315161500_000003.dat"
expect_in "MESH resend: duplicate" "$tmp/out" '"action":"duplicate"'
# The same access re-sent under a new notification id acts once: make the
# copy by changing the message id only.
sed 's/3F2A9C14-7B1E-4D6A-9E35-1C8B04D2A701/3F2A9C14-7B1E-4D6A-9E35-1C8B04D2A799/' \
    "$S/cascade/01-nhs111.xml" >"$tmp/01-new-id.xml"
run "resend under a new id" 0 mh --config "$V6" --db "$db" deliver "$tmp/01-new-id.xml"
expect_not_in "resend under a new id: no new landing entry" "$tmp/out" '"action":"landing_entry"'
expect_not_in "resend under a new id: no new record" "$tmp/out" '"action":"record"'
run "report after resends" 0 mh --db "$db" report
expect_counts "after resends" "$(cat "$tmp/out")" landing_entries=1 case_notes=1 episodes=1 records_kept=1 accesses=1

# ---- 2. concurrent processes on one store ---------------------------------------
inputs=("$S/cascade" "$S/messages" "$S/mesh")
serial=$tmp/serial.db
for p in 1 2 3 4; do
    mh --config "$V6" --db "$serial" deliver "${inputs[@]}" >"$tmp/serial$p.out" 2>"$tmp/serial$p.err" \
        || fail "serial run $p exited non-zero: $(head -c 300 "$tmp/serial$p.err")"
done
serial_report=$(mh --db "$serial" report)
# 24 files x 4 runs = 96 deliveries: 20 notifications act once; the report
# counts messages (issue 12): the 3 MESH resends / copies are the only
# duplicate messages, the 72 repeated deliveries are events only.
expect_counts "serial runs" "$serial_report" notifications=20 accesses=19 duplicates=3 landing_entries=5 case_notes=5 episodes=12 records_kept=19 failed=0
for round in 1 2 3; do
    conc=$tmp/conc$round.db
    pids=()
    for p in 1 2 3 4; do
        mh --config "$V6" --db "$conc" deliver "${inputs[@]}" >"$tmp/c$p.out" 2>"$tmp/c$p.err" &
        pids+=($!)
    done
    for p in 1 2 3 4; do
        if wait "${pids[$((p - 1))]}"; then ok; else
            fail "concurrent round $round process $p failed: $(head -c 300 "$tmp/c$p.err")"
        fi
    done
    expect_eq "concurrent round $round: report = serial report" "$(mh --db "$conc" report)" "$serial_report"
    expect_eq "concurrent round $round: duplicate lines printed" \
        "$(cat "$tmp"/c[1-4].out | grep -c '"action":"duplicate"')" 72
    # Every landing entry, case note and record printed once over all four.
    for kind in landing_entry case_note record; do
        expect_eq "concurrent round $round: $kind lines once" \
            "$(cat "$tmp"/c[1-4].out | grep -c "\"action\":\"$kind\"")" \
            "$(cat "$tmp"/serial[1-4].out | grep -c "\"action\":\"$kind\"")"
    done
    if [ "$HAVE_SQLITE" = 1 ]; then
        expect_eq "concurrent round $round: store = serial store" \
            "$(store_dump "$conc" | md5sum)" "$(store_dump "$serial" | md5sum)"
    fi
done

# ---- 3. switching from version 5 to version 6 across runs ---------------------
db=$tmp/switch.db
run "v5 deliver" 0 mh --config "$V5" --db "$db" deliver "$S/cascade" "$S/messages"
run "report under v5" 0 mh --db "$db" report
v5=$(cat "$tmp/out")
expect_counts "before the switch" "$v5" activities=36 first_response_alerts=14 closed_on_switch=0 data_quality_items=2
open_legacy=$(($(num activities "$v5") + $(num first_response_alerts "$v5")))
run "v6 run on the v5 store" 0 mh --config "$V6" --db "$db" deliver "$S/mesh"
expect_in "switch closes activities" "$tmp/out" '"action":"items_closed","kind":1,"closed":36'
expect_in "switch closes FR alerts" "$tmp/out" '"action":"items_closed","kind":2,"closed":14'
expect_in "closure has a reason" "$tmp/out" '"reason":"Closed automatically'
expect_eq "mesh after the switch: duplicates only" "$(grep -c '"action":"duplicate"' "$tmp/out")" 3
run "report after the switch" 0 mh --db "$db" report
after=$(cat "$tmp/out")
expect_counts "after the switch" "$after" closed_on_switch=$open_legacy data_quality_items=2
expect_eq "switch: closed_on_switch = open legacy items" "$(num closed_on_switch "$after")" 50
if [ "$HAVE_SQLITE" = 1 ]; then
    expect_eq "no legacy item left open" \
        "$(sqlite3 "$db" "SELECT COUNT(*) FROM items WHERE kind IN (1,2) AND status='open'")" 0
    expect_eq "every closed item has a reason" \
        "$(sqlite3 "$db" "SELECT COUNT(*) FROM items WHERE status='closed' AND (closed_reason IS NULL OR closed_reason='')")" 0
    expect_eq "data-quality items stay open" \
        "$(sqlite3 "$db" "SELECT COUNT(*) FROM items WHERE kind=3 AND status='open'")" 2
fi
run "second v6 run: nothing more to close" 0 mh --config "$V6" --db "$db" deliver "$S/mesh"
expect_not_in "second v6 run: no items_closed" "$tmp/out" 'items_closed'
run "report after second v6 run" 0 mh --db "$db" report
expect_counts "closed only once" "$(cat "$tmp/out")" closed_on_switch=50

# ---- 4. quarantine --------------------------------------------------------------
db=$tmp/q.db
bad=$TESTDATA/hl7/invalid_nhs_number-check-digit.xml
run "bad message quarantined" 1 mh --config "$V6" --db "$db" deliver "$bad" "$E2E/mesh-bad"
expect_eq "two quarantine lines" "$(grep -c '"action":"quarantine"' "$tmp/out")" 2
expect_in "the error names the file" "$tmp/err" "invalid_nhs_number-check-digit.xml"
run "quarantine list" 0 mh --db "$db" quarantine list
cp "$tmp/out" "$tmp/qlist"
expect_eq "quarantine list: two entries" "$(wc -l <"$tmp/qlist")" 2
expect_eq "quarantine list: error codes" "$(grep -c '"error":"invalid_nhs_number"' "$tmp/qlist")" 2
expect_in "quarantine list: status" "$tmp/qlist" '"status":"quarantined"'
expect_in "quarantine list: the host time" "$tmp/qlist" '"time":"2024-03-15T14:00:00Z"'
expect_in "quarantine list: MESH transport id kept" "$tmp/qlist" '"transport_id":"20240316090000000009_BAD009"'
expect_in "quarantine list: the whole payload kept" "$tmp/qlist" "\"bytes\":$(wc -c <"$bad")"
# No NHS number: the transport metadata (file name, MESH DTSId) holds
# digit runs of its own, so scan everything but those two fields.
sed -e 's/"source":"[^"]*"//' -e 's/"transport_id":"[^"]*"//' "$tmp/qlist" >"$tmp/qscan"
if grep -Eq '[0-9]{10}|[0-9]{3} [0-9]{3} [0-9]{4}' "$tmp/qscan"; then
    fail "quarantine list shows an NHS number: $(grep -Eo '[0-9]{10}|[0-9]{3} [0-9]{3} [0-9]{4}' "$tmp/qscan" | head -3)"
else ok; fi
expect_not_in "quarantine list: not the rejected NHS number" "$tmp/qlist" 9912003899
run "report counts the quarantine" 0 mh --db "$db" report
expect_counts "quarantine report" "$(cat "$tmp/out")" quarantined=2 rejected=2 notifications=0
qid=$(str id "$(head -n 1 "$tmp/qlist")")
# Redelivering the same bad payload: rejected again, still quarantined (not
# duplicated).  Observed and documented: `rejected` counts deliveries, so it
# goes up by one; `quarantined` counts messages and stays.
run "redeliver the bad payload" 1 mh --config "$V6" --db "$db" quarantine redeliver "$qid"
run "quarantine list after redeliver" 0 mh --db "$db" quarantine list
expect_eq "still two entries" "$(wc -l <"$tmp/out")" 2
expect_in "still quarantined" "$tmp/out" "\"id\":\"$qid\",\"error\":\"invalid_nhs_number\""
expect_eq "none redelivered" "$(grep -c '"status":"redelivered"' "$tmp/out" || true)" 0
run "report after redeliver" 0 mh --db "$db" report
expect_counts "after redeliver" "$(cat "$tmp/out")" quarantined=2 notifications=0 records_kept=0
run "redeliver an unknown id" 2 mh --config "$V6" --db "$db" quarantine redeliver q-0000000000000000

# After a fix: too_large under a 2048-byte limit, then redelivered under
# the sample config (limit 1 MiB): each acts once, as a direct delivery would.
db=$tmp/fix.db
run "too_large quarantined" 1 mh --config "$E2E/v6-small-limit.json" --db "$db" deliver "$S/cascade"
expect_eq "five too_large quarantines" "$(grep -c '"error":"too_large"' "$tmp/out")" 5
run "list" 0 mh --db "$db" quarantine list
sed -n 's/.*"id":"\([^"]*\)".*/\1/p' "$tmp/out" >"$tmp/qids"
expect_eq "five quarantined ids" "$(wc -l <"$tmp/qids")" 5
# The list is in quarantine order, so redelivery keeps the cascade's order.
while IFS= read -r id; do
    run "redeliver $id after the fix" 0 mh --config "$V6" --db "$db" quarantine redeliver "$id"
done <"$tmp/qids"
run "list after the fix" 0 mh --db "$db" quarantine list
expect_eq "all marked redelivered" "$(grep -c '"status":"redelivered"' "$tmp/out")" 5
run "report after the fix" 0 mh --db "$db" report
expect_counts "after the fix" "$(cat "$tmp/out")" notifications=5 accesses=5 quarantined=0 rejected=0 landing_entries=1 case_notes=1 episodes=1 records_kept=5 activities=0
run "redeliver again: a duplicate" 0 mh --config "$V6" --db "$db" quarantine redeliver "$(head -n 1 "$tmp/qids")"
expect_in "redeliver again: duplicate line" "$tmp/out" '"action":"duplicate"'
run "report after the repeat" 0 mh --db "$db" report
expect_counts "repeat acts once" "$(cat "$tmp/out")" notifications=5 landing_entries=1 records_kept=5 duplicates=0 rejected=0

finish e2e_persistence
