# lib.sh - helpers shared by tests/scenarios/e2e_*.sh (sourced, not run).
#
# Environment (set by `make test-run`): CPIS_MOCKHOST (absolute path of
# build/cpis-mockhost or build/san/cpis-mockhost), CPIS_SAMPLES (samples/).
# Needs only bash, coreutils, grep and sed; sqlite3 is used when installed.
: "${CPIS_MOCKHOST:?set CPIS_MOCKHOST to the cpis-mockhost binary}"
: "${CPIS_SAMPLES:?set CPIS_SAMPLES to the samples folder}"
M=$CPIS_MOCKHOST
S=$CPIS_SAMPLES
V5=$S/config/v5.json
V6=$S/config/v6.json
CASES=$S/cases.json
TESTDATA=$S/../tests/data
# A fixed host clock: quarantine times and every "now" are reproducible.
export CPIS_MOCK_NOW_MS=1710511200000
unset CPIS_MOCK_FAIL_CALL CPIS_MOCK_FAIL_MODE CPIS_MOCK_FAIL_COUNT CPIS_MOCK_OMIT

# Temp files on tmpfs when there is one: SQLite fsyncs every commit, which
# makes hundreds of --db runs slow on a disk.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    tmp=$(mktemp -d /dev/shm/cpis-e2e.XXXXXX)
else
    tmp=$(mktemp -d)
fi
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# mh ARGS... : the mock host with the sample fixture (the san build has no
# samples/ beside it, so --cases is always explicit).
mh() { "$M" --cases "$CASES" "$@"; }

# run NAME EXPECTED_STATUS CMD... : stdout to $tmp/out, stderr to $tmp/err.
run() {
    local name=$1 want=$2 got=0
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
    if [ "$got" -eq "$want" ]; then ok; else
        fail "$name: exit $got, expected $want; stderr: $(head -c 600 "$tmp/err")"
    fi
}
# expect_in NAME FILE FIXED_STRING
expect_in() {
    if grep -qF -- "$3" "$2"; then ok; else
        fail "$1: '$3' not in $(basename "$2"): $(head -c 400 "$2")"
    fi
}
# expect_not_in NAME FILE FIXED_STRING
expect_not_in() {
    if grep -qF -- "$3" "$2"; then fail "$1: '$3' found in $(basename "$2")"; else ok; fi
}
# expect_eq NAME GOT WANT
expect_eq() {
    if [ "$2" = "$3" ]; then ok; else fail "$1: got '$2', expected '$3'"; fi
}
# num KEY LINE : the number after "KEY": in a flat JSON line ("" if absent).
num() { printf '%s\n' "$2" | sed -n "s/.*\"$1\":\\(-\\{0,1\\}[0-9][0-9]*\\).*/\\1/p"; }
# str KEY LINE : the string after "KEY": in a flat JSON line.
str() { printf '%s\n' "$2" | sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
# expect_counts NAME LINE key=value... : each numeric key has that value.
expect_counts() {
    local name=$1 line=$2 kv k v got
    shift 2
    for kv in "$@"; do
        k=${kv%%=*}
        v=${kv#*=}
        got=$(num "$k" "$line")
        if [ "$got" = "$v" ]; then ok; else
            fail "$name: $k is '${got}', expected $v (line: $line)"
        fi
    done
}
# The contract's summary keys (docs/reference.md, "Report keys").
SUMMARY_KEYS="notifications accesses duplicates rejected activities first_response_alerts first_response_followups landing_entries case_notes episodes records_kept"
# expect_summary_keys NAME LINE : every contract key is present, numeric.
expect_summary_keys() {
    local k
    for k in $SUMMARY_KEYS; do
        if [ -n "$(num "$k" "$2")" ]; then ok; else fail "$1: summary key $k missing: $2"; fi
    done
}
# without KEYS... < LINE : the summary line minus those numeric keys.
without() {
    local line k
    line=$(cat)
    for k in "$@"; do
        line=$(printf '%s\n' "$line" | sed "s/\"$k\":-\\{0,1\\}[0-9]*,\\{0,1\\}//")
    done
    printf '%s\n' "$line"
}

# store_dump DB : every table the plugin writes through the host, sorted
# (not the mock host's own deliveries log).  Needs sqlite3; prints nothing
# without it.
HAVE_SQLITE=0
if command -v sqlite3 >/dev/null 2>&1; then HAVE_SQLITE=1; fi
store_dump() {
    [ "$HAVE_SQLITE" = 1 ] || return 0
    sqlite3 "$1" \
        "SELECT 'item',item_id,kind,case_id,recipient,notification_id,access_id,subject,body,followup,occurred_at,status,closed_reason FROM items ORDER BY 2;" \
        "SELECT 'landing',id,revision,case_id,worker,team,notification_id,title,body,detail_json,updated_at FROM landing ORDER BY 2;" \
        "SELECT 'note',id,revision,case_id,worker,team,notification_id,title,body,detail_json,updated_at FROM case_notes ORDER BY 2;" \
        "SELECT 'record',* FROM records ORDER BY 2;" \
        "SELECT 'state',key,value FROM state ORDER BY 2;" \
        "SELECT 'quarantine',quarantine_id,error,error_name,detail,source_name,transport_id,notification_id,hex(payload),status FROM quarantine ORDER BY 2;" \
        "SELECT 'closure',kind,reason,closed FROM closures ORDER BY 2,3;"
}

# finish NAME : the summary line; the exit status.
finish() {
    echo "$1: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# preflight NAME : a fault-free delivery of one sample must exit 0 with
# nothing on stderr; otherwise (e.g. a leak report under LeakSanitizer)
# report it once and stop, rather than failing every later check.
preflight() {
    local rc=0
    mh --config "$V6" deliver "$S/cascade/01-nhs111.xml" >"$tmp/pre.out" 2>"$tmp/pre.err" || rc=$?
    if [ "$rc" -ne 0 ] || [ -s "$tmp/pre.err" ]; then
        fail "preflight: one fault-free delivery exited $rc; stderr: $(head -c 1500 "$tmp/pre.err")"
        finish "$1"
        exit 1
    fi
    ok
}
