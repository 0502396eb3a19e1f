#!/usr/bin/env bash
# e2e_bad_input.sh - issue 12, through the mock host: bad input never
# changes what is good.
#   1. configuration: a zero-byte, blank, non-object or duplicated-key file
#      and out-of-range numbers are refused naming the file, on every path
#      (--config, --reconfigure, config check), and a refused config
#      replayed on a version-5 store closes nothing (no task activity, no
#      First Response alert);
#   2. inbox files: a symbolic link (to a secret file) is refused naming
#      the file and the reason, and its target never reaches the store; a
#      FIFO is refused too; the store and its -wal/-shm are 0600;
#   6. report: rejected, failed and duplicates count messages by their
#      current state, not delivery events (a second replay after a crash
#      leaves rejected = the messages quarantined; failed drops when a
#      later delivery succeeds); the deliveries table keeps the events;
#   8. the mock host's error lines and the plugin's log lines (-v) mask a
#      file name like message text (child-944-930-5552-Patel.xml), while
#      the quarantine id they print stays whole (quarantine list finds it).
set -euo pipefail
. "$(dirname "$0")/../data/e2e/lib.sh"
preflight e2e_bad_input

# ---- 1. configuration --------------------------------------------------------
db=$tmp/v5.db
run "v5 replay" 0 mh --config "$V5" --db "$db" replay "$S/cascade" \
    "$S/messages/closed-child-2024-01-10.xml" "$S/messages/closed-child-2024-02-20.xml"
run "v5 report" 0 mh --db "$db" report
before=$(cat "$tmp/out")
expect_counts "v5 store" "$before" activities=15 first_response_alerts=4 closed_on_switch=0

: >"$tmp/empty.json"
printf ' \n\t\n' >"$tmp/blank.json"
printf '[]\n' >"$tmp/array.json"
printf '{"workflow":{"version":5},"workflow":{"version":6}}\n' >"$tmp/dup.json"
printf '{"workflow":{"version":5},"episodes":{"window_minutes":1e300}}\n' >"$tmp/huge.json"
for bad in empty blank array dup huge; do
    f=$tmp/$bad.json
    run "--config $bad.json refused" 2 mh --config "$f" --db "$db" replay \
        "$S/messages/closed-child-2024-04-02.xml"
    expect_in "--config $bad.json: the error names the file" "$tmp/err" "$f:"
    run "--reconfigure $bad.json refused" 2 mh --config "$V5" --reconfigure "$f" --db "$db" \
        replay "$S/messages/closed-child-2024-04-02.xml"
    expect_in "--reconfigure $bad.json: the error names the file" "$tmp/err" "$f:"
    expect_in "--reconfigure $bad.json: the running config is kept" "$tmp/err" "running configuration is kept"
    expect_not_in "--reconfigure $bad.json: nothing closed" "$tmp/out" '"action":"items_closed"'
    run "config check $bad.json" 2 mh config check "$f"
    expect_in "config check $bad.json names the file" "$tmp/err" "$f"
done
expect_in "the empty file says it is empty" <(mh config check "$tmp/empty.json" 2>&1 || true) "empty"
expect_in "a duplicated key is named" <(mh config check "$tmp/dup.json" 2>&1 || true) 'duplicated key "workflow"'
expect_in "1e300 is above the range" <(mh config check "$tmp/huge.json" 2>&1 || true) "episodes.window_minutes"
run "v5 report after the refused configs" 0 mh --db "$db" report
after=$(cat "$tmp/out")
expect_counts "refused configs closed nothing" "$after" closed_on_switch=0 activities=15
if [ "$HAVE_SQLITE" = 1 ]; then
    expect_eq "every task activity and alert still open" \
        "$(sqlite3 "$db" "SELECT COUNT(*) FROM items WHERE status <> 'open'")" 0
fi
# the control: a good version-6 config does close them
run "v6 replay" 0 mh --config "$V6" --db "$db" replay "$S/messages/closed-child-2024-04-02.xml"
expect_in "v6 closes" "$tmp/out" '"action":"items_closed"'

# ---- 2. inbox files ------------------------------------------------------------
printf 'root:$y$secret-hash-line:19000:0:99999:7:::\n' >"$tmp/shadow"
chmod 600 "$tmp/shadow"
mkdir -p "$tmp/inbox"
cp "$S/cascade/01-nhs111.xml" "$tmp/inbox/a.xml"
ln -s "$tmp/shadow" "$tmp/inbox/x.dat"
ln -s "$S/cascade/02-ambulance-control.xml" "$tmp/inbox/y.xml"
mkfifo "$tmp/inbox/z.xml"
idb=$tmp/inbox.db
run "deliver an inbox with links and a FIFO" 1 mh --config "$V6" --db "$idb" deliver "$tmp/inbox"
expect_in "the link is refused naming the file" "$tmp/err" "$tmp/inbox/x.dat: refused: a symbolic link"
expect_in "a link to a good message is refused too" "$tmp/err" "$tmp/inbox/y.xml: refused: a symbolic link"
expect_in "the regular file is delivered" "$tmp/out" '"action":"landing_entry"'
run "a FIFO named on the command line" 1 mh --config "$V6" --db "$idb" deliver "$tmp/inbox/z.xml"
expect_in "the FIFO is refused naming the file" "$tmp/err" "$tmp/inbox/z.xml: not a regular file"
run "a link named on the command line" 1 mh --config "$V6" --db "$idb" parse "$tmp/inbox/x.dat"
expect_in "parse refuses the link" "$tmp/err" "refused: a symbolic link"
if [ "$HAVE_SQLITE" = 1 ]; then
    expect_eq "the secret is not in the store" \
        "$(sqlite3 "$idb" "SELECT COUNT(*) FROM quarantine WHERE CAST(payload AS TEXT) LIKE '%secret-hash%'")" 0
fi
if grep -qa 'secret-hash' "$idb"* 2>/dev/null; then fail "the secret's bytes are in the store files"; else ok; fi
for f in "$idb" "$idb-wal" "$idb-shm"; do
    if [ -e "$f" ]; then
        expect_eq "$(basename "$f") is owner-only" "$(stat -c %a "$f")" 600
    fi
done
expect_eq "the store file exists" "$([ -e "$idb" ] && echo yes)" yes
# an existing store readable by others is narrowed to 0600
chmod 644 "$db"
run "reopen a 0644 store" 0 mh --db "$db" report
expect_eq "an old 0644 store is narrowed" "$(stat -c %a "$db")" 600

# ---- 6. report counts messages, not events ---------------------------------------
rdb=$tmp/report.db
mkdir -p "$tmp/bad"
printf 'not a message at all\n' >"$tmp/bad/b1.xml"
printf '<?xml version="1.0"?><nothing/>\n' >"$tmp/bad/b2.xml"
printf '{"resourceType":"Bundle"' >"$tmp/bad/b3.json"
cp -r "$S/cascade" "$tmp/mixed"
cp "$tmp/bad/"* "$tmp/mixed/"
# the first replay "crashes" for good at a host call in the middle
rc=0
CPIS_MOCK_FAIL_CALL=12 CPIS_MOCK_FAIL_MODE=permanent CPIS_MOCK_FAIL_COUNT=1000000000 \
    mh --config "$V6" --db "$rdb" replay "$tmp/mixed" >"$tmp/out" 2>"$tmp/err" || rc=$?
expect_eq "the crashed replay exits 1" "$rc" 1
first=$(mh --db "$rdb" report)
[ "$(num failed "$first")" -ge 1 ] && ok || fail "the crashed replay counted no failed message: $first"
for round in 2 3; do
    run "replay $round" 1 mh --config "$V6" --db "$rdb" replay "$tmp/mixed"
done
report=$(mh --db "$rdb" report)
expect_counts "after three replays" "$report" rejected=3 quarantined=3 failed=0 duplicates=0 notifications=5
if [ "$HAVE_SQLITE" = 1 ]; then
    # the events are all still there (the crashed replay could not even
    # quarantine: its host was down)
    expect_eq "rejected delivery events kept" \
        "$(sqlite3 "$rdb" "SELECT COUNT(*) FROM deliveries WHERE status = 'rejected'")" 6
    [ "$(sqlite3 "$rdb" "SELECT COUNT(*) FROM deliveries WHERE status NOT IN ('ok','duplicate','rejected')")" -ge 1 ] \
        && ok || fail "the failed delivery event is not kept"
fi

# ---- 8. file names in error and log lines ------------------------------------------
ldb=$tmp/log.db
mkdir -p "$tmp/names"
printf 'not a message\n' >"$tmp/names/child-944-930-5552-Patel.xml"
ln -s "$tmp/shadow" "$tmp/names/9449305552-Sam.dat"
run "deliver badly named files" 1 mh -v --config "$V6" --db "$ldb" deliver "$tmp/names"
for leak in 944-930-5552 9449305552 Patel Sam; do
    expect_not_in "stderr does not show $leak" "$tmp/err" "$leak"
done
expect_in "the mock host's line names the file, masked" "$tmp/err" "child-***-***-5552-P****.xml: rejected"
expect_in "the link's refusal names it, masked" "$tmp/err" "******5552-S**.dat: refused: a symbolic link"
expect_in "the plugin's line names the file, masked" "$tmp/err" "message $tmp/names/child-***-***-5552-P****.xml rejected"
qid=$(mh --db "$ldb" quarantine list | sed -n 's/.*"id":"\([^"]*\)".*/\1/p' | head -n 1)
expect_in "the quarantine id is logged whole" "$tmp/err" "quarantined as $qid"
run "the logged id finds the message" 0 mh --db "$ldb" quarantine list

finish e2e_bad_input
