#!/usr/bin/env bash
# mockhost_host.sh - the mock host's side of the host table, checked through
# a probe plugin built here: idempotency of every write, the state store's
# compare-and-set, case lookups, close_items, register_hook outside init,
# thread safety (8 threads racing on one state key), the action lines, the
# summary, the quarantine commands, retries and fault injection.
#
# Environment (set by `make check`): CPIS_MOCKHOST, CPIS_SAMPLES.
set -euo pipefail

: "${CPIS_MOCKHOST:?set CPIS_MOCKHOST to the cpis-mockhost binary}"
: "${CPIS_SAMPLES:?set CPIS_SAMPLES to the samples folder}"
CC=${CC:-cc}
CPIS_INCLUDE=${CPIS_INCLUDE:-$CPIS_SAMPLES/../include}
M=$CPIS_MOCKHOST
CONFIG=$CPIS_SAMPLES/config/v6.json
CASES=$CPIS_SAMPLES/cases.json

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
run() {
    local name=$1 want=$2 got=0
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
    if [ "$got" -eq "$want" ]; then ok; else
        fail "$name: exit $got, expected $want; stderr: $(head -c 600 "$tmp/err")"
    fi
}
expect_in() {
    if grep -qF -- "$3" "$2"; then ok; else
        fail "$1: '$3' not in $(basename "$2"): $(head -c 600 "$2")"
    fi
}
expect_not_in() {
    if grep -qF -- "$3" "$2"; then fail "$1: '$3' unexpectedly in $(basename "$2")"; else ok; fi
}
# expect_count NAME FILE FIXED_STRING N : N lines of FILE contain the string
expect_count() {
    local n
    n=$(grep -cF -- "$3" "$2" || true)
    if [ "$n" -eq "$4" ]; then ok; else fail "$1: $n lines with '$3', expected $4"; fi
}

cat >"$tmp/probe.c" <<'C'
/* A probe plugin: init checks the host table's contract and fails (with
 * the name of the first failing check) if anything is off; the
 * notification hook acts on one-line payloads "ID MODE" where MODE is
 * ok, dup, reject or retry. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cpis/plugin.h"

struct cpis_plugin { const struct cpis_host_api *h; };
static struct cpis_plugin P;
static int checks;

#define CHECK(cond, what)                                                \
    do {                                                                 \
        checks++;                                                        \
        if (!(cond)) {                                                   \
            snprintf(err, err_cap, "probe check failed: %s", what);      \
            return CPIS_ERR_INTERNAL;                                    \
        }                                                                \
    } while (0)

/* 8 threads x 200 compare-and-set increments of one counter. */
static void *racer(void *arg)
{
    const struct cpis_host_api *h = arg;
    for (int i = 0; i < 200; i++) {
        for (;;) {
            char buf[32]; size_t len = 0; uint64_t ver = 0;
            int rc = h->state_get(h->ctx, "probe/counter", buf, sizeof buf, &len, &ver);
            long v = rc == CPIS_OK ? strtol(buf, NULL, 10) : 0;
            if (rc != CPIS_OK && rc != CPIS_ERR_NOT_FOUND) return (void *)1;
            char nb[32]; int n = snprintf(nb, sizeof nb, "%ld", v + 1);
            rc = h->state_put(h->ctx, "probe/counter", nb, (size_t)n, ver);
            if (rc == CPIS_OK) break;
            if (rc != CPIS_ERR_CONFLICT) return (void *)1;
        }
        /* the same item ids from every thread: one item each in the end */
        char id[32]; snprintf(id, sizeof id, "race-%d", i % 50);
        struct cpis_item it = {sizeof it, CPIS_ITEM_DATA_QUALITY, id, "", "dq", "N0",
                               "s", "b", 0, 0, 0};
        if (h->create_item(h->ctx, &it) != CPIS_OK) return (void *)1;
    }
    return NULL;
}

static int on_note(void *user, const struct cpis_event *ev, struct cpis_outcome *out)
{
    const struct cpis_host_api *h = ((struct cpis_plugin *)user)->h;
    char id[64] = "", mode[16] = "";
    char text[128];
    size_t n = ev->payload_len < sizeof text - 1 ? ev->payload_len : sizeof text - 1;
    memcpy(text, ev->payload, n); text[n] = '\0';
    sscanf(text, "%63s %15s", id, mode);
    snprintf(out->notification_id, sizeof out->notification_id, "%s", id);
    snprintf(out->kind, sizeof out->kind, "access");
    out->accesses = 1;
    if (h->register_hook(h->ctx, CPIS_HOOK_SHUTDOWN, (void (*)(void))on_note, NULL) != CPIS_ERR_STATE)
        return CPIS_ERR_INTERNAL; /* registration outside init must be refused */
    if (strcmp(mode, "dup") == 0) return CPIS_DUPLICATE;
    if (strcmp(mode, "retry") == 0) { snprintf(out->detail, sizeof out->detail, "probe wants a retry"); return CPIS_ERR_RETRY; }
    if (strcmp(mode, "reject") == 0) {
        char qid[80]; snprintf(qid, sizeof qid, "q-%s", id);
        struct cpis_quarantine q = {sizeof q, CPIS_MSG_MISSING_FIELD, qid, "missing_field",
            "no access time", ev->source_name, ev->transport_id ? ev->transport_id : "", id,
            ev->payload, ev->payload_len};
        int rc = h->quarantine(h->ctx, &q);
        out->error = CPIS_MSG_MISSING_FIELD;
        snprintf(out->detail, sizeof out->detail, "no access time");
        return rc == CPIS_OK ? CPIS_REJECTED : rc;
    }
    struct cpis_case c; memset(&c, 0, sizeof c); c.struct_size = sizeof c;
    int rc = h->case_lookup(h->ctx, "9449305552", &c);
    if (rc != CPIS_OK) return rc;
    char iid[80]; snprintf(iid, sizeof iid, "act-%s", id);
    struct cpis_item it = {sizeof it, CPIS_ITEM_TASK_ACTIVITY, iid, c.case_id, c.worker, id,
                           "subject", "body", 0, 0, 1710511320};
    if ((rc = h->create_item(h->ctx, &it)) != CPIS_OK) return rc;
    char rid[80]; snprintf(rid, sizeof rid, "rec-%s", id);
    struct cpis_record r = {sizeof r, 0, rid, "9449305552", c.case_id, id, "summary", "{}", 1710511320};
    if ((rc = h->keep_record(h->ctx, &r)) != CPIS_OK) return rc;
    char ek[80]; snprintf(ek, sizeof ek, "episode/%s", id);
    rc = h->state_put(h->ctx, ek, "1", 1, 0);
    if (rc != CPIS_OK && rc != CPIS_ERR_CONFLICT) return rc;
    if (ev->transport_id != NULL && ev->transport_id[0] != '\0') {
        char tk[160]; snprintf(tk, sizeof tk, "transport/%s|%s", ev->transport_id,
                               ev->local_id ? ev->local_id : "");
        rc = h->state_put(h->ctx, tk, "1", 1, 0);
        if (rc != CPIS_OK && rc != CPIS_ERR_CONFLICT) return rc;
    }
    return CPIS_OK;
}

static int on_config(void *user, const struct cpis_config_source *src, char *err, size_t cap)
{
    const struct cpis_host_api *h = ((struct cpis_plugin *)user)->h;
    if (strstr(src->json, "\"refuse\"") != NULL) {
        snprintf(err, cap, "refuse: not a known key");
        return CPIS_ERR_CONFIG;
    }
    h->log(h->ctx, CPIS_LOG_WARN, "probe: config changed");
    return CPIS_OK;
}

static int init(const struct cpis_host_api *h, const struct cpis_config_source *cfg,
                struct cpis_plugin **out, char *err, size_t err_cap)
{
    *out = NULL;
    P.h = h;
    CHECK(h->struct_size >= CPIS_HOST_API_MIN_SIZE, "host table size");
    CHECK(h->abi_major == CPIS_ABI_MAJOR, "host ABI major");
    CHECK(cfg->json_len > 0 && cfg->base_dir != NULL, "config source");
    CHECK(h->register_hook(h->ctx, CPIS_HOOK_NOTIFICATION, NULL, NULL) == CPIS_ERR_INVALID_ARG,
          "register_hook NULL fn");
    CHECK(h->register_hook(h->ctx, CPIS_HOOK_NOTIFICATION, (void (*)(void))on_note, &P) == CPIS_OK,
          "register_hook notification");
    h->register_hook(h->ctx, CPIS_HOOK_CONFIG_CHANGED, (void (*)(void))on_config, &P);
    h->log(h->ctx, CPIS_LOG_DEBUG, "probe: debug line");
    if (getenv("PROBE_SKIP_CHECKS") != NULL) { *out = &P; return CPIS_OK; }

    /* clock */
    CHECK(h->clock_ms != NULL && h->clock_ms(h->ctx) == 1710511320000, "clock_ms override");

    /* case lookup: open, closed, unknown */
    struct cpis_case c; memset(&c, 0, sizeof c); c.struct_size = sizeof c;
    CHECK(h->case_lookup(h->ctx, "9449305552", &c) == CPIS_OK && c.status == CPIS_CASE_OPEN &&
          strcmp(c.case_id, "C-1001") == 0 && strcmp(c.worker, "sw.ahmed") == 0 &&
          strcmp(c.manager, "tm.brooks") == 0 && strcmp(c.team, "Stafford North") == 0,
          "case_lookup open");
    CHECK(h->case_lookup(h->ctx, "4010232137", &c) == CPIS_OK && c.status == CPIS_CASE_CLOSED &&
          strcmp(c.case_id, "C-0999") == 0 && c.worker[0] == '\0', "case_lookup closed");
    CHECK(h->case_lookup(h->ctx, "6281948211", &c) == CPIS_OK && c.status == CPIS_CASE_UNKNOWN &&
          c.case_id[0] == '\0', "case_lookup unknown");
    /* ABI 1.1: the child's name and date of birth; a plugin built against
     * 1.0 passes a struct that ends at team: nothing is written past it and
     * struct_size stays as given */
    memset(&c, 0, sizeof c); c.struct_size = sizeof c;
    CHECK(h->case_lookup(h->ctx, "9449305552", &c) == CPIS_OK &&
          strcmp(c.child_name, "Amelia Hughes") == 0 &&
          strcmp(c.date_of_birth, "2015-05-12") == 0 && c.struct_size == sizeof c,
          "case_lookup child (1.1 struct)");
    memset(&c, 0x5a, sizeof c);
    c.struct_size = (uint32_t)(offsetof(struct cpis_case, team) + sizeof c.team);
    CHECK(h->case_lookup(h->ctx, "9449305552", &c) == CPIS_OK && c.status == CPIS_CASE_OPEN &&
          strcmp(c.case_id, "C-1001") == 0 && (unsigned char)c.child_name[0] == 0x5a &&
          (unsigned char)c.date_of_birth[15] == 0x5a &&
          c.struct_size == offsetof(struct cpis_case, team) + sizeof c.team,
          "case_lookup 1.0 struct: child fields untouched");

    /* state: absent, create, conflict, buffer, update */
    char buf[64]; size_t len = 99; uint64_t ver = 99;
    CHECK(h->state_get(h->ctx, "probe/k", buf, sizeof buf, &len, &ver) == CPIS_ERR_NOT_FOUND &&
          ver == 0, "state_get absent");
    CHECK(h->state_put(h->ctx, "probe/k", "hello", 5, 0) == CPIS_OK, "state_put create");
    CHECK(h->state_put(h->ctx, "probe/k", "again", 5, 0) == CPIS_ERR_CONFLICT, "state_put exists");
    CHECK(h->state_get(h->ctx, "probe/k", buf, sizeof buf, &len, &ver) == CPIS_OK && len == 5 &&
          ver == 1 && memcmp(buf, "hello", 6) == 0, "state_get value, version 1, NUL");
    CHECK(h->state_get(h->ctx, "probe/k", buf, 3, &len, &ver) == CPIS_ERR_BUFFER && len >= 5,
          "state_get small buffer");
    CHECK(h->state_put(h->ctx, "probe/k", "world!", 6, 2) == CPIS_ERR_CONFLICT, "state_put stale");
    CHECK(h->state_put(h->ctx, "probe/k", "world!", 6, 1) == CPIS_OK, "state_put update");
    CHECK(h->state_get(h->ctx, "probe/k", buf, sizeof buf, &len, &ver) == CPIS_OK && len == 6 &&
          ver == 2 && memcmp(buf, "world!", 6) == 0, "state_get version 2");
    CHECK(h->state_put(h->ctx, "probe/empty", "", 0, 0) == CPIS_OK &&
          h->state_get(h->ctx, "probe/empty", buf, sizeof buf, &len, &ver) == CPIS_OK && len == 0,
          "state empty value");

    /* items: idempotent on item_id; close_items */
    struct cpis_item it = {sizeof it, CPIS_ITEM_FIRST_RESPONSE_ALERT, "probe-fr-1", "C-0999",
                           "first.response", "N-probe", "s", "b", 1, 0, 1710511320};
    CHECK(h->create_item(h->ctx, &it) == CPIS_OK, "create_item");
    it.subject = "changed";
    CHECK(h->create_item(h->ctx, &it) == CPIS_OK, "create_item repeat");
    struct cpis_item it2 = it; it2.item_id = "probe-fr-2"; it2.recipient = "fr.manager";
    CHECK(h->create_item(h->ctx, &it2) == CPIS_OK, "create_item second alert");
    struct cpis_item bad = it; bad.item_id = NULL;
    CHECK(h->create_item(h->ctx, &bad) == CPIS_ERR_INVALID_ARG, "create_item without id");
    uint64_t closed = 0;
    CHECK(h->close_items != NULL &&
          h->close_items(h->ctx, CPIS_ITEM_FIRST_RESPONSE_ALERT, "probe switch", &closed) == CPIS_OK &&
          closed == 2, "close_items closes 2");
    CHECK(h->close_items(h->ctx, CPIS_ITEM_FIRST_RESPONSE_ALERT, "probe switch", &closed) == CPIS_OK &&
          closed == 0, "close_items again closes 0");
    CHECK(h->create_item(h->ctx, &it) == CPIS_OK, "create_item closed repeat");

    /* documents: revision rule */
    struct cpis_document d = {sizeof d, 1, "probe-ep-1", "C-1001", "sw.ahmed", "Stafford North",
                              "N-probe", "title", "body", NULL, 1710511320};
    CHECK(h->publish_landing(h->ctx, &d) == CPIS_OK, "publish_landing rev 1");
    CHECK(h->publish_landing(h->ctx, &d) == CPIS_OK, "publish_landing rev 1 again");
    d.revision = 3;
    CHECK(h->publish_landing(h->ctx, &d) == CPIS_OK, "publish_landing rev 3");
    d.revision = 2;
    CHECK(h->publish_landing(h->ctx, &d) == CPIS_OK, "publish_landing stale rev 2");
    d.revision = 1;
    CHECK(h->write_case_note(h->ctx, &d) == CPIS_OK, "write_case_note rev 1");
    CHECK(h->write_case_note(h->ctx, &d) == CPIS_OK, "write_case_note rev 1 again");

    /* records and quarantine: insert-or-ignore */
    struct cpis_record r = {sizeof r, 0, "probe-rec-1", "9449305552", "C-1001", "N-probe",
                            "summary", "{}", 1710511320};
    CHECK(h->keep_record(h->ctx, &r) == CPIS_OK && h->keep_record(h->ctx, &r) == CPIS_OK,
          "keep_record twice");
    static const uint8_t payload[] = "<payload/>";
    struct cpis_quarantine q = {sizeof q, CPIS_MSG_MALFORMED, "probe-q-1", "malformed", "probe",
                                "probe.xml", "DTS-1", "", payload, sizeof payload - 1};
    CHECK(h->quarantine(h->ctx, &q) == CPIS_OK && h->quarantine(h->ctx, &q) == CPIS_OK,
          "quarantine twice");

    /* thread safety */
    pthread_t t[8];
    int started = 0;
    for (int i = 0; i < 8; i++)
        if (pthread_create(&t[i], NULL, racer, (void *)h) == 0) started++;
    int bad_threads = 0;
    for (int i = 0; i < started; i++) {
        void *res = NULL;
        pthread_join(t[i], &res);
        if (res != NULL) bad_threads++;
    }
    CHECK(started == 8 && bad_threads == 0, "racing threads ran cleanly");
    CHECK(h->state_get(h->ctx, "probe/counter", buf, sizeof buf, &len, &ver) == CPIS_OK &&
          strtol(buf, NULL, 10) == 1600 && ver == 1600, "1600 compare-and-set increments");

    char msg[64];
    snprintf(msg, sizeof msg, "probe: %d checks passed", checks);
    h->log(h->ctx, CPIS_LOG_WARN, msg);
    *out = &P;
    return CPIS_OK;
}
static int parse(struct cpis_plugin *p, const struct cpis_event *ev, char *out, size_t cap, size_t *len)
{
    (void)p;
    /* a long line, to make the host grow its buffer */
    char line[40000];
    int n = snprintf(line, sizeof line, "{\"file\":\"%s\",\"ok\":true,\"pad\":\"%030000d\"}",
                     ev->source_name, 0);
    *len = (size_t)n + 1;
    if (cap < *len) return CPIS_ERR_BUFFER;
    memcpy(out, line, *len);
    return CPIS_OK;
}
static const struct cpis_descriptor D = {sizeof D, CPIS_ABI_MAJOR, CPIS_ABI_MINOR, 0, "probe", "0",
                                         init, NULL, parse, NULL, NULL, NULL};
CPIS_EXPORT const struct cpis_descriptor *cpis_plugin_entry(void) { return &D; }
C
"$CC" -std=c11 -D_POSIX_C_SOURCE=200809L -shared -fPIC -I"$CPIS_INCLUDE" \
    -o "$tmp/probe.so" "$tmp/probe.c" -lpthread

export CPIS_MOCK_NOW_MS=1710511320000
H=("$M" --plugin "$tmp/probe.so" --config "$CONFIG" --cases "$CASES")

# ---- the host table's contract, checked from inside the plugin --------------
# (the probe's checks run in init; `parse` is the lightest command that inits)
run "probe checks" 0 "${H[@]}" -v --db "$tmp/probe.db" parse "$CASES"
expect_in "probe reports its checks" "$tmp/err" "probe: 37 checks passed"
run "probe without -v" 0 env PROBE_SKIP_CHECKS=1 "${H[@]}" --db "$tmp/probe.db" parse "$CASES"
expect_not_in "no debug line without -v" "$tmp/err" "probe: debug line"
expect_not_in "no warning line without -v" "$tmp/err" "probe: config changed"
expect_in "parse buffer grown to a 30000-byte line" "$tmp/out" '"ok":true'
if [ "$(wc -c <"$tmp/out")" -gt 30000 ]; then ok; else fail "parse line truncated"; fi

# What the probe's init wrote, seen by `report` and `quarantine list`.
run "report after probe" 0 "$M" --db "$tmp/probe.db" report
for kv in '"first_response_alerts":2' '"first_response_followups":1' \
          '"landing_entries":1' '"landing_updates":1' '"case_notes":1' \
          '"records_kept":1' '"quarantined":1' '"closed_on_switch":2' \
          '"data_quality_items":50' '"notifications":0'; do
    expect_in "report $kv" "$tmp/out" "$kv"
done
run "quarantine list" 0 "$M" --db "$tmp/probe.db" quarantine list
expect_in "quarantine list line" "$tmp/out" \
    '{"id":"probe-q-1","error":"malformed","detail":"probe","source":"probe.xml","transport_id":"DTS-1","notification":"","time":"2024-03-15T14:02:00Z","status":"quarantined"'

# ---- action lines: printed once per change ----------------------------------
run "probe parse -v" 0 env PROBE_SKIP_CHECKS=1 "${H[@]}" -v --db "$tmp/probe.db" \
    parse "$CASES"
expect_in "-v passes debug lines" "$tmp/err" "[debug] probe: debug line"

mkdir -p "$tmp/in"
printf 'N1 ok\n' >"$tmp/in/a1.txt"
printf 'N2 ok\n' >"$tmp/in/a2.dat"
printf '<DTSControl><LocalId>L-2</LocalId><DTSId>DTS-N2</DTSId></DTSControl>\n' >"$tmp/in/a2.ctl"
printf 'N1 dup\n' >"$tmp/in/b1.txt"
printf 'N3 reject\n' >"$tmp/in/c1.txt"

export PROBE_SKIP_CHECKS=1
run "deliver folder" 1 "${H[@]}" --db "$tmp/d.db" deliver "$tmp/in"
expect_count "activity lines" "$tmp/out" '"action":"activity"' 2
expect_count "record lines" "$tmp/out" '"action":"record"' 2
expect_in "activity line shape" "$tmp/out" \
    '{"action":"activity","case":"C-1001","recipient":"sw.ahmed","notification":"N1","id":"act-N1"'
expect_in "duplicate line" "$tmp/out" "{\"action\":\"duplicate\",\"case\":\"\",\"recipient\":\"\",\"file\":\"$tmp/in/b1.txt\",\"notification\":\"N1\"}"
expect_in "quarantine line" "$tmp/out" '"action":"quarantine","case":"","recipient":"","notification":"N3","id":"q-N3"'
expect_in "rejection on stderr names the file" "$tmp/err" "$tmp/in/c1.txt: rejected: missing_field"
expect_not_in "the .ctl is not delivered alone" "$tmp/err" "a2.ctl"
# order: a1 before a2 before b1 before c1
order=$(grep -o '"notification":"N[0-9]"' "$tmp/out" | tr -d '\n')
if [ "$order" = '"notification":"N1""notification":"N1""notification":"N2""notification":"N2""notification":"N1""notification":"N3"' ]; then ok; else fail "delivery order: $order"; fi

# The probe keeps "transport/DTSId|LocalId" in its state for a MESH pair.
if command -v sqlite3 >/dev/null; then
    keys=$(sqlite3 "$tmp/d.db" "SELECT key FROM state WHERE key LIKE 'transport/%'")
    if [ "$keys" = "transport/DTS-N2|L-2" ]; then ok; else fail "MESH ids: '$keys'"; fi
fi
run "deliver again: nothing new" 1 "${H[@]}" --db "$tmp/d.db" deliver "$tmp/in"
expect_count "no repeated activity" "$tmp/out" '"action":"activity"' 0
expect_count "no repeated quarantine" "$tmp/out" '"action":"quarantine"' 0

run "report" 0 "$M" --db "$tmp/d.db" report
# two runs: N1 and N2 accepted twice (no new action the second time), b1
# a duplicate twice, c1 rejected twice; the report counts messages by their
# current state, not deliveries (issue 12): one duplicate, one rejected
expect_in "summary" "$tmp/out" \
    '{"notifications":2,"accesses":2,"duplicates":1,"rejected":1,"activities":2,"first_response_alerts":0,"first_response_followups":0,"landing_entries":0,"case_notes":0,"episodes":2,"records_kept":2,"quarantined":1'

# ---- quarantine redeliver -------------------------------------------------------
run "redeliver, still rejected" 1 "${H[@]}" --db "$tmp/d.db" quarantine redeliver q-N3
run "redeliver unknown id" 2 "${H[@]}" --db "$tmp/d.db" quarantine redeliver q-none
expect_in "unknown id named" "$tmp/err" "q-none"

# ---- retries -----------------------------------------------------------------------
printf 'N9 retry\n' >"$tmp/retry.txt"
run "retry exhausted" 1 "${H[@]}" replay "$tmp/retry.txt"
expect_count "3 retries announced" "$tmp/err" "delivering again" 3
expect_in "failure after retries" "$tmp/err" "$tmp/retry.txt: failed: still retry_later after 3 retries"
expect_in "failed counted" "$tmp/out" '"failed":1'

# Fault injection: the 2nd host call (create_item of a1; call 1 is its
# case_lookup) fails once with retry_later; the retry succeeds.
run "injected retry" 0 env CPIS_MOCK_FAIL_CALL=2 "${H[@]}" replay "$tmp/in/a1.txt"
expect_count "one retry announced" "$tmp/err" "delivering again (1 of 3)" 1
expect_in "delivered after the retry" "$tmp/out" '"notifications":1,"accesses":1'
run "injected permanent failure" 1 env CPIS_MOCK_FAIL_CALL=2 CPIS_MOCK_FAIL_MODE=permanent \
    "${H[@]}" replay "$tmp/in/a1.txt"
expect_in "host failure reported" "$tmp/err" "$tmp/in/a1.txt: failed: host_failure"
run "optional functions omitted" 0 env CPIS_MOCK_OMIT=publish_landing,clock_ms \
    "${H[@]}" deliver "$tmp/in/a1.txt"

# ---- configuration change through the config-changed hook ---------------------
printf '{"workflow":{"version":5}}' >"$tmp/v5.json"
printf '{"refuse":true}' >"$tmp/refuse.json"
run "reconfigure accepted" 0 "${H[@]}" -v --reconfigure "$tmp/v5.json" deliver "$tmp/in/a1.txt"
expect_in "config hook called" "$tmp/err" "probe: config changed"
run "reconfigure refused" 2 "${H[@]}" --reconfigure "$tmp/refuse.json" deliver "$tmp/in/a1.txt"
expect_in "refusal names the file and the reason" "$tmp/err" \
    "$tmp/refuse.json: refused, the running configuration is kept: refuse: not a known key"
expect_in "the command still ran" "$tmp/out" '"action":"activity"'

echo "mockhost_host: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
