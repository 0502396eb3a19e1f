#!/usr/bin/env bash
# pg_cluster.sh - a throw-away PostgreSQL cluster for the tests and the bench.
#
#   bash tests/support/pg_cluster.sh run CMD [ARGS...]
#
# creates a cluster in a temporary folder (initdb, then pg_ctl start), runs
# CMD with CPIS_PG set to a libpq connection string for it, stops the server
# and removes the folder (trap: also when CMD fails or the script is
# interrupted), and exits with CMD's status.  The server listens on a Unix
# socket in that folder only (listen_addresses=''): no network port, and
# no password (trust, for the socket only).  Durability is off (fsync,
# synchronous_commit, full_page_writes): nothing in it outlives the run.
#
#   bash tests/support/pg_cluster.sh available
#
# exits 0 when the server binaries are installed (Debian's `postgresql`
# package, /usr/lib/postgresql/<version>/bin), 1 otherwise.
#
# PostgreSQL refuses to run as root: as root, the server runs as `nobody`
# (setpriv), and the temporary folder is given to that user.  PG_BIN may
# name the binaries' folder.
set -euo pipefail

pg_bin() {
    if [ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/initdb" ]; then echo "$PG_BIN"; return 0; fi
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
    done
    return 1
}

case "${1:-}" in
available)
    pg_bin >/dev/null
    exit $?
    ;;
run)
    shift
    [ $# -gt 0 ] || { echo "pg_cluster.sh: run: give a command" >&2; exit 2; }
    ;;
*)
    echo "usage: pg_cluster.sh run CMD [ARGS...] | pg_cluster.sh available" >&2
    exit 2
    ;;
esac

BIN=$(pg_bin) || { echo "pg_cluster.sh: no PostgreSQL server binaries (install the postgresql package)" >&2; exit 2; }
base=$(mktemp -d "${TMPDIR:-/tmp}/cpis-pg.XXXXXX")
as_server=()
if [ "$(id -u)" -eq 0 ]; then
    chown nobody "$base"
    as_server=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --)
fi
started=0
cleanup() {
    if [ "$started" -eq 1 ]; then
        (cd / && "${as_server[@]}" "$BIN/pg_ctl" -D "$base/data" -m immediate -w stop >/dev/null 2>&1) || true
    fi
    rm -rf "$base"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Run from / : the server user may not be able to enter the caller's folder.
(cd / && "${as_server[@]}" "$BIN/initdb" -D "$base/data" -U cpis --auth=trust \
    --no-sync -E UTF8 --locale=C >"$base/initdb.log" 2>&1) ||
    { echo "pg_cluster.sh: initdb failed:" >&2; cat "$base/initdb.log" >&2; exit 2; }
cat >>"$base/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$base'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 40
shared_buffers = 64MB
EOF
(cd / && "${as_server[@]}" "$BIN/pg_ctl" -D "$base/data" -l "$base/server.log" -w -t 60 start >/dev/null) ||
    { echo "pg_cluster.sh: the server did not start:" >&2; cat "$base/server.log" >&2; exit 2; }
started=1
(cd / && "${as_server[@]}" "$BIN/createdb" -h "$base" -U cpis cpis) ||
    { echo "pg_cluster.sh: createdb failed" >&2; exit 2; }

export CPIS_PG="host=$base user=cpis dbname=cpis"
export CPIS_PG_BIN="$BIN" CPIS_PG_SOCKET="$base"
status=0
"$@" || status=$?
exit "$status"
