#!/usr/bin/env bash
# pg_nodes.sh - several mock host nodes on one PostgreSQL store, against the
# SQLite file store, on one generated stream (issue 16).  Never part of
# `make check` (tests/scenarios/pg_multinode.sh is the small, checked
# version).  `make bench-pg` runs it; by hand:
#
#   bash tests/support/pg_cluster.sh run bash bench/pg_nodes.sh [N [NODES]]
#
# N notifications (default 20000) are generated (with 5% resends and 1% bad
# messages); then, on the same machine in the same run:
#   sqlite-1     one process, SQLite file store, the inbox once
#   pg-1         one node, PostgreSQL, the inbox once
#   sqlite-K     K processes at once on one SQLite file (BEGIN IMMEDIATE
#                serialises them), each delivering the whole inbox
#   pg-K         K nodes at once on one PostgreSQL database, each
#                delivering the whole inbox (every message K times)
#   reference    one process, SQLite file, the inbox K times in a row
# and checks that pg-K and sqlite-K end with the reference's report and
# canonical store dump (tests/support/pg_lib.sh), for version 6, or the
# version given by CONFIG (a config file).  Writes a Markdown table to
# stdout and to $BUILD/bench/pg_nodes.md.  The cluster is throw-away
# (fsync off, see pg_cluster.sh): the figures compare the stores' work,
# not the disks'.
set -euo pipefail
: "${CPIS_PG_SOCKET:?run me through tests/support/pg_cluster.sh run}"
cd "$(dirname "$0")/.."
. tests/support/pg_lib.sh
N=${1:-20000}
K=${2:-4}
BUILD=${BUILD:-build}
M=$PWD/$BUILD/cpis-mockhost
CONFIG=${CONFIG:-samples/config/v6.json}
export CPIS_MOCK_NOW_MS=1710511200000
work=$(mktemp -d "${TMPDIR:-/tmp}/cpis-pgbench.XXXXXX")
trap 'rm -rf "$work"' EXIT
gen=$work/inbox
"$M" generate --seed 16 --notifications "$N" --duplicates $((N / 20)) --bad $((N / 100)) "$gen" >/dev/null
files=$(find "$gen" -type f ! -name '*.ctl' | wc -l)
mh() { "$M" --cases "$gen.cases.json" --config "$CONFIG" "$@"; }
now() { date +%s.%N; }

# timed NAME K DB : K processes at once, each delivering the inbox; prints
# the seconds taken; their stderr in $work/NAME.*.err.
timed() {
    local name=$1 k=$2 db=$3 p t0 pids=()
    t0=$(now)
    for p in $(seq "$k"); do
        mh --db "$db" deliver "$gen" >/dev/null 2>"$work/$name.$p.err" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || [ $? -le 1 ]; done
    printf '%.1f\n' "$(echo "$(now) - $t0" | bc)"
}
figures() { # conflicts and rolled-back deliveries over the nodes' stderr
    sed -n 's/.*shared store: \([0-9]*\) compare.* \([0-9]*\) deliver.*/\1 \2/p' "$work/$1".*.err |
        awk '{c += $1; r += $2} END {printf "%d | %d", c, r}'
}

load=$(cut -d' ' -f1 /proc/loadavg)
ref=$work/reference.db
args=(); for _ in $(seq "$K"); do args+=("$gen"); done
t0=$(now); mh --db "$ref" deliver "${args[@]}" >/dev/null 2>&1 || true; tref=$(printf '%.1f' "$(echo "$(now) - $t0" | bc)")
ts1=$(timed sqlite-1 1 "$work/s1.db")
tp1=$(timed pg-1 1 "$(pg_newdb bench1)")
tsk=$(timed sqlite-K "$K" "$work/sk.db")
pgk=$(pg_newdb benchk)
tpk=$(timed pg-K "$K" "$pgk")

want=$(mh --db "$ref" report)
sqlite_dump "$ref" >"$work/ref.dump"
verdict() { # NAME REPORT DUMPFILE
    if [ "$2" = "$want" ] && cmp -s "$3" "$work/ref.dump"; then echo "equal"; else echo "DIFFERENT"; fi
}
pg_dump_store "$pgk" >"$work/pgk.dump"
sqlite_dump "$work/sk.db" >"$work/sk.dump"
vp=$(verdict pg-K "$(mh --db "$pgk" report)" "$work/pgk.dump")
vs=$(verdict sqlite-K "$(mh --db "$work/sk.db" report)" "$work/sk.dump")
rate() { echo "scale=0; $1 / $2" | bc; }
mkdir -p "$BUILD/bench"
{
    echo "Stream: $N notifications, $files messages (seed 16; $(basename "$CONFIG")), $K nodes, $(nproc) CPU(s), load average before: $load."
    echo
    echo "| run | seconds | inbox messages/s | deliveries/s | CAS conflicts | deliveries rolled back | store = serial |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
    echo "| SQLite file, 1 process | $ts1 | $(rate "$files" "$ts1") | $(rate "$files" "$ts1") | 0 | 0 | |"
    echo "| PostgreSQL, 1 node | $tp1 | $(rate "$files" "$tp1") | $(rate "$files" "$tp1") | $(figures pg-1) | |"
    echo "| SQLite file, $K processes | $tsk | $(rate "$files" "$tsk") | $(rate $((files * K)) "$tsk") | $(figures sqlite-K) | $vs |"
    echo "| PostgreSQL, $K nodes | $tpk | $(rate "$files" "$tpk") | $(rate $((files * K)) "$tpk") | $(figures pg-K) | $vp |"
    echo "| reference: SQLite file, 1 process, inbox x$K | $tref | | $(rate $((files * K)) "$tref") | | | |"
    echo
    echo "Report of the reference: $want"
} | tee "$BUILD/bench/pg_nodes.md"
[ "$vp" = equal ] && [ "$vs" = equal ]
