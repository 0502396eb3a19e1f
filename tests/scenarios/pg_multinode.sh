#!/usr/bin/env bash
# pg_multinode.sh - the mock host on PostgreSQL, several nodes on one store
# (issue 16), on a throw-away cluster (tests/support/pg_cluster.sh: Unix
# socket in a temporary folder, no TCP port, no password, removed after):
#   1. one node on PostgreSQL acts as on SQLite: the samples' report and
#      the canonical dump of the store (items, landing entries, case notes,
#      records, state, quarantine, closures) equal the SQLite file store's;
#      `quarantine list` and `landing` read it; the schema is versioned
#      and a newer one is refused; a bad connection string is a clear
#      error that never echoes a password;
#   2. four nodes delivering the same generated inbox (1 200 notifications,
#      resends and bad messages; every node delivers every message) at once
#      end with the same report and the same dump as the four deliveries
#      made one after the other into a SQLite file, for version 5 and for
#      version 6 (episodes), READ COMMITTED (the default);
#   3. the same under SERIALIZABLE: serialization failures roll whole
#      deliveries back, and they are delivered again, never lost or doubled;
#   4. kill -9 of a node part-way, then one more run: the same dump, the
#      same report but for the deliveries log's duplicates/rejected counts
#      (the killed node's committed deliveries are extra rows);
#   5. lost connections (pg_terminate_backend during a run): retry_later,
#      the connection re-established, the same dump.
# Skipped (exit 0, said on stdout) when the PostgreSQL server binaries are
# not installed (Debian package postgresql).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${CPIS_PG_SOCKET:-}" ]; then
    if ! bash "$here/../support/pg_cluster.sh" available; then
        echo "pg_multinode: skipped: no PostgreSQL server binaries (install the postgresql package)"
        echo "pg_multinode: 0 passed, 0 failed"
        exit 0
    fi
    exec bash "$here/../support/pg_cluster.sh" run bash "$0" "$@"
fi
. "$here/../data/e2e/lib.sh"
. "$here/../support/pg_lib.sh"
if [ "$HAVE_SQLITE" != 1 ]; then
    echo "pg_multinode: skipped: needs the sqlite3 command for the SQLite side"
    echo "pg_multinode: 0 passed, 0 failed"
    exit 0
fi
preflight pg_multinode
NODES=4

# same_dump NAME SQLITE_FILE CONNINFO : the canonical dumps are equal.  On a
# difference only the count of differing lines is shown (the rows hold NHS
# numbers and names).
same_dump() {
    sqlite_dump "$2" >"$tmp/a.dump"
    pg_dump_store "$3" >"$tmp/b.dump"
    if cmp -s "$tmp/a.dump" "$tmp/b.dump" && [ -s "$tmp/a.dump" ]; then ok; else
        fail "$1: the stores differ ($(diff "$tmp/a.dump" "$tmp/b.dump" | grep -c '^[<>]') line(s) of $(wc -l <"$tmp/a.dump"))"
    fi
}

# ---- 1. one node: PostgreSQL acts as SQLite ---------------------------------
db=$(pg_newdb one)
inputs=("$S/cascade" "$S/messages" "$S/mesh" "$TESTDATA/hl7/invalid_nhs_number-check-digit.xml"
        "$TESTDATA/e2e/mesh-bad")
run "one node on PostgreSQL" 1 mh --config "$V6" --db "$db" deliver "${inputs[@]}"
run "the same into SQLite" 1 mh --config "$V6" --db "$tmp/one.db" deliver "${inputs[@]}"
expect_eq "samples: report PostgreSQL = SQLite" "$(mh --db "$db" report)" "$(mh --db "$tmp/one.db" report)"
same_dump "samples: store PostgreSQL = SQLite" "$tmp/one.db" "$db"
run "quarantine list on PostgreSQL" 0 mh --db "$db" quarantine list
expect_in "quarantine list names the error" "$tmp/out" '"error":"invalid_nhs_number"'
expect_eq "quarantine list: as many as SQLite's" "$(wc -l <"$tmp/out")" \
    "$(mh --db "$tmp/one.db" quarantine list | wc -l)"
id=$(str id "$(head -1 "$tmp/out")")
run "the quarantined payload reads back" 1 mh --config "$V6" --db "$db" quarantine redeliver "$id"
expect_eq "still quarantined after redelivery" "$(mh --db "$db" quarantine list | grep -c '"status":"quarantined"')" 2
run "landing page from PostgreSQL" 0 mh --db "$db" landing --worker sw.ahmed --html "$tmp/l.html"
expect_in "landing page lists the cascade" "$tmp/l.html" 'C-1001'
expect_eq "the schema's version is recorded" \
    "$(pg_psql "$db" "SELECT version FROM store_schema WHERE name = 'cpis-mockhost'")" 1
pg_psql "$db" "UPDATE store_schema SET version = 99" >/dev/null
run "a newer schema is refused" 2 mh --db "$db" report
expect_in "refusal names both versions" "$tmp/err" 'schema is version 99; this program knows up to version 1'
run "a bad connection string" 2 mh --db "postgresql://cpis:s3cretpw@/nosuchdb?host=$CPIS_PG_SOCKET" report
expect_in "bad connection: the reason" "$tmp/err" 'cannot connect to PostgreSQL'
expect_not_in "bad connection: no password echoed" "$tmp/err" 's3cretpw'

# ---- the inbox: a generated stream --------------------------------------------
gen=$tmp/inbox
"$M" generate --seed 7 --notifications 1200 --duplicates 80 --bad 16 "$gen" >/dev/null
GCASES=$gen.cases.json
gh() { "$M" --cases "$GCASES" "$@"; }
files=$(find "$gen" -type f ! -name '*.ctl' | wc -l)

# nodes CONFIG CONNINFO [ENV...] : NODES mock hosts delivering the whole inbox
# into one store at once; fails the check of any node that exits 2 or more.
nodes() {
    local cfg=$1 db=$2 p pids=()
    shift 2
    for p in $(seq "$NODES"); do
        env "$@" "$M" --cases "$GCASES" --config "$cfg" --db "$db" deliver "$gen" \
            >"$tmp/n$p.out" 2>"$tmp/n$p.err" &
        pids+=($!)
    done
    for p in $(seq "$NODES"); do
        # exit 1: the inbox holds bad messages (quarantined); 2+: a failure
        local rc=0
        wait "${pids[$((p - 1))]}" || rc=$?
        if [ "$rc" -le 1 ]; then ok; else
            fail "node $p exited $rc: $(grep -v 'rejected' "$tmp/n$p.err" | head -c 300)"
        fi
    done
    expect_eq "no delivery failed" "$(cat "$tmp"/n*.err | grep -c ': failed' || true)" 0
    sed -n 's/.*shared store: \([0-9]*\) compare.* \([0-9]*\) deliver.*/\1 \2/p' "$tmp"/n*.err |
        awk '{c += $1; r += $2} END {printf "%d conflicts retried, %d deliveries rolled back", c, r}' \
        >"$tmp/figures"
}

# serial CONFIG FILE : the reference, the NODES deliveries one after the other.
serial() {
    local args=() p
    for p in $(seq "$NODES"); do args+=("$gen"); done
    gh --config "$1" --db "$2" deliver "${args[@]}" >/dev/null 2>&1 || true
}

# ---- 2. four nodes at once = the same deliveries one after the other ----------
for v in 5 6; do
    cfg=$S/config/v$v.json
    serial "$cfg" "$tmp/serial$v.db"
    ref=$(gh --db "$tmp/serial$v.db" report)
    # the report counts messages by their state (each of the $NODES
    # deliveries of a file is one message): accepted, a duplicate of
    # another, or quarantined
    expect_eq "v$v serial: every message acted on or quarantined" \
        "$(($(num notifications "$ref") + $(num duplicates "$ref") + $(num rejected "$ref")))" \
        "$files"
    db=$(pg_newdb "nodes$v")
    nodes "$cfg" "$db"
    echo "pg_multinode: v$v: $NODES nodes, $files messages each: $(cat "$tmp/figures")"
    # The report compares every key, First Response follow-ups included:
    # nodes deliver in inbox order, so the legacy follow-up rule (which
    # depends on arrival order until issue 12 makes it order-independent)
    # sees the same order; should it ever differ, that is issue 12's rule,
    # not the store (the dump below names the rows).
    expect_eq "v$v: $NODES nodes report = serial report" "$(gh --db "$db" report)" "$ref"
    same_dump "v$v: $NODES nodes store = serial store" "$tmp/serial$v.db" "$db"
done
ref6=$(gh --db "$tmp/serial6.db" report)
expect_counts "v6 has episodes" "$ref6" failed=0
[ "$(num episodes "$ref6")" -gt 100 ] && ok || fail "v6: too few episodes to mean anything: $ref6"

# ---- 3. SERIALIZABLE: serialization failures are retry_later ------------------
db=$(pg_newdb serializable)
nodes "$V6" "$db" PGOPTIONS="-c default_transaction_isolation=serializable"
echo "pg_multinode: v6 SERIALIZABLE: $(cat "$tmp/figures")"
expect_eq "serializable: report = serial report" "$(gh --db "$db" report)" "$ref6"
same_dump "serializable: store = serial store" "$tmp/serial6.db" "$db"

# ---- 4. kill -9 of a node part-way --------------------------------------------
db=$(pg_newdb killed)
pids=()
for p in $(seq "$NODES"); do
    gh --config "$V6" --db "$db" deliver "$gen" >"$tmp/k$p.out" 2>"$tmp/k$p.err" &
    pids+=($!)
done
# Node 1 dies once it has acted a little (or after 20 s at most).
for _ in $(seq 400); do
    [ "$(wc -l <"$tmp/k1.out")" -ge 200 ] && break
    sleep 0.05
done
kill -9 "${pids[0]}" 2>/dev/null || true
rc=0; { wait "${pids[0]}"; } 2>/dev/null || rc=$?
expect_eq "node 1 was killed part-way" "$rc" 137
for p in $(seq 2 "$NODES"); do
    rc=0; wait "${pids[$((p - 1))]}" || rc=$?
    [ "$rc" -le 1 ] && ok || fail "node $p after the kill exited $rc"
done
run "a second run after the kill" 1 gh --config "$V6" --db "$db" deliver "$gen"
expect_eq "after kill -9: report = serial report (but the deliveries log)" \
    "$(gh --db "$db" report | without duplicates rejected)" "$(without duplicates rejected <<<"$ref6")"
same_dump "after kill -9: store = serial store" "$tmp/serial6.db" "$db"

# ---- 5. lost connections --------------------------------------------------------
db=$(pg_newdb dropped)
gh --config "$V6" --db "$db" deliver "$gen" "$gen" >"$tmp/d.out" 2>"$tmp/d.err" &
pid=$!
for _ in $(seq 400); do # until the node is delivering (or 20 s)
    [ -s "$tmp/d.out" ] && break
    sleep 0.05
done
dropped=0
for _ in $(seq 6); do
    sleep 0.3
    n=$(pg_psql "$db" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                       WHERE datname = 'dropped' AND pid <> pg_backend_pid()" 2>/dev/null || echo 0)
    dropped=$((dropped + n))
done
rc=0; wait "$pid" || rc=$?
[ "$rc" -le 1 ] && ok || fail "the node whose connection was dropped exited $rc: $(grep -v rejected "$tmp/d.err" | head -c 300)"
[ "$dropped" -ge 1 ] && ok || fail "no connection was dropped: the run ended too soon"
run "a second run after the dropped connections" 1 gh --config "$V6" --db "$db" deliver "$gen"
same_dump "after dropped connections: store = serial store" "$tmp/serial6.db" "$db"
expect_counts "after dropped connections: nothing failed" "$(gh --db "$db" report)" failed=0

finish pg_multinode
