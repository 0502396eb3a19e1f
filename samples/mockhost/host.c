/*
 * host.c - the host table the mock host hands to the plugin (see host.h).
 *
 * Every function follows the contract of include/cpis/plugin.h:
 *   - pointers received are borrowed: whatever is kept is copied (SQLite
 *     copies every bound value, SQLITE_TRANSIENT);
 *   - every function may be called from any thread (the store has a mutex;
 *     the case fixture is read-only; action lines are written whole);
 *   - register_hook is accepted only while descriptor->init runs.
 *
 * When a write changes the store, the mock host prints one JSON "action
 * line" (for `deliver`); an idempotent repeat prints nothing.
 */
#include "host.h"
#include "scrub.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

/* ---- status names (from the header's single list) ---------------------- */

const char *host_status_name(int status)
{
    switch (status) {
#define CPIS_X_NAME(sym, val, name)                                           \
    case sym:                                                                 \
        return name;
        CPIS_STATUS_LIST(CPIS_X_NAME)
#undef CPIS_X_NAME
    default:
        return "unknown_status";
    }
}

const char *host_message_error_name(uint32_t error)
{
    switch (error) {
#define CPIS_X_NAME(sym, val, name)                                           \
    case sym:                                                                 \
        return name;
        CPIS_MESSAGE_ERROR_LIST(CPIS_X_NAME)
#undef CPIS_X_NAME
    default:
        return "unknown_error";
    }
}

/* ---- environment -------------------------------------------------------- */

/* Parses a non-negative decimal integer; -1 when malformed. */
static int parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s == '\0' || strspn(s, "0123456789") != strlen(s))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno != 0)
        return -1;
    *out = v;
    return 0;
}

int host_read_env(struct mock_host *h, char *err, size_t err_cap)
{
    const char *s = getenv("CPIS_MOCK_FAIL_CALL");
    h->fail_call = 0;
    h->fail_status = CPIS_ERR_RETRY;
    h->fixed_now_ms = -1;
    atomic_store(&h->calls, 0);
    atomic_store(&h->conflicts, 0);
    atomic_store(&h->rounds_retried, 0);
    if (s != NULL && *s != '\0' && parse_u64(s, &h->fail_call) != 0) {
        snprintf(err, err_cap, "CPIS_MOCK_FAIL_CALL must be a call number");
        return -1;
    }
    h->fail_count = 1;
    s = getenv("CPIS_MOCK_FAIL_COUNT");
    if (s != NULL && *s != '\0' &&
        (parse_u64(s, &h->fail_count) != 0 || h->fail_count == 0)) {
        snprintf(err, err_cap, "CPIS_MOCK_FAIL_COUNT must be a positive count");
        return -1;
    }
    s = getenv("CPIS_MOCK_FAIL_MODE");
    if (s != NULL && *s != '\0') {
        if (strcmp(s, "permanent") == 0)
            h->fail_status = CPIS_ERR_HOST;
        else if (strcmp(s, "transient") != 0) {
            snprintf(err, err_cap,
                     "CPIS_MOCK_FAIL_MODE must be \"transient\" or \"permanent\"");
            return -1;
        }
    }
    s = getenv("CPIS_MOCK_NOW_MS");
    if (s != NULL && *s != '\0') {
        uint64_t v;
        if (parse_u64(s, &v) != 0 || v > (uint64_t)INT64_MAX) {
            snprintf(err, err_cap, "CPIS_MOCK_NOW_MS must be epoch milliseconds");
            return -1;
        }
        h->fixed_now_ms = (int64_t)v;
    }
    h->kill_after = 0;
    s = getenv("CPIS_MOCK_KILL_AFTER");
    if (s != NULL && *s != '\0' && parse_u64(s, &h->kill_after) != 0) {
        snprintf(err, err_cap, "CPIS_MOCK_KILL_AFTER must be a delivery count");
        return -1;
    }
    h->fail_commit = 0;
    h->commits = 0;
    s = getenv("CPIS_MOCK_FAIL_COMMIT");
    if (s != NULL && *s != '\0' && parse_u64(s, &h->fail_commit) != 0) {
        snprintf(err, err_cap, "CPIS_MOCK_FAIL_COMMIT must be a commit number");
        return -1;
    }
    h->omit = 0;
    s = getenv("CPIS_MOCK_OMIT");
    while (s != NULL && *s != '\0') {
        static const struct {
            const char *name;
            unsigned bit;
        } names[] = {{"clock_ms", HOST_OMIT_CLOCK},
                     {"publish_landing", HOST_OMIT_LANDING},
                     {"write_case_note", HOST_OMIT_CASE_NOTE},
                     {"close_items", HOST_OMIT_CLOSE_ITEMS}};
        size_t len = strcspn(s, ",");
        size_t i;
        for (i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strlen(names[i].name) == len && strncmp(s, names[i].name, len) == 0)
                break;
        if (i == sizeof names / sizeof names[0]) {
            snprintf(err, err_cap, "CPIS_MOCK_OMIT: unknown function \"%.*s\"",
                     (int)len, s);
            return -1;
        }
        h->omit |= names[i].bit;
        s += len;
        if (*s == ',')
            s++;
    }
    return 0;
}

int64_t host_now_ms(const struct mock_host *h)
{
    if (h->fixed_now_ms >= 0)
        return h->fixed_now_ms;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Counts one host call and says whether this one must fail (fault
 * injection).  Returns CPIS_OK or the injected status. */
static int count_call(struct mock_host *h, const char *fn)
{
    uint64_t n = atomic_fetch_add(&h->calls, 1) + 1;
    if (h->fail_call != 0 && n >= h->fail_call &&
        n - h->fail_call < h->fail_count) {
        if (h->verbose)
            fprintf(stderr, "cpis-mockhost: injected %s at host call %llu (%s)\n",
                    host_status_name(h->fail_status), (unsigned long long)n, fn);
        return h->fail_status;
    }
    return CPIS_OK;
}

/* ---- acknowledgements (group commit, host.h) ------------------------------ */

/* Guards the queue: the plugin may call the host table (and so emit action
 * lines) from several threads during a delivery. */
static pthread_mutex_t ack_lock = PTHREAD_MUTEX_INITIALIZER;

/* Queues `len` bytes for `to`, or writes them now when no delivery awaits
 * its commit.  Called with ack_lock held. */
static void ack_put_locked(struct mock_host *h, FILE *to, const char *text, size_t len)
{
    if (h->awaiting == 0) {
        flockfile(to);
        fwrite(text, 1, len, to);
        funlockfile(to);
        return;
    }
    size_t need = h->ack_len + sizeof to + sizeof len + len;
    if (need > h->ack_cap) {
        size_t cap = h->ack_cap ? h->ack_cap : 4096;
        while (cap < need)
            cap *= 2;
        char *bigger = realloc(h->ack_buf, cap);
        if (bigger == NULL)
            return; /* out of memory: an acknowledgement lost is safe (the
                       redelivery finds the message done), an early one is not */
        h->ack_buf = bigger;
        h->ack_cap = cap;
    }
    memcpy(h->ack_buf + h->ack_len, &to, sizeof to);
    memcpy(h->ack_buf + h->ack_len + sizeof to, &len, sizeof len);
    memcpy(h->ack_buf + h->ack_len + sizeof to + sizeof len, text, len);
    h->ack_len = need;
}

void host_ack(struct mock_host *h, FILE *to, const char *fmt, ...)
{
    char small[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0 || to == NULL)
        return;
    char *text = small;
    if ((size_t)n >= sizeof small) {
        text = malloc((size_t)n + 1);
        if (text == NULL)
            return;
        va_start(ap, fmt);
        vsnprintf(text, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_lock(&ack_lock);
    ack_put_locked(h, to, text, (size_t)n);
    pthread_mutex_unlock(&ack_lock);
    if (text != small)
        free(text);
}

/* Forgets the pending deliveries and the queue (memory released, so a
 * host that is zeroed afterwards leaks nothing).  ack_lock held. */
static void acks_reset_locked(struct mock_host *h)
{
    for (size_t i = 0; i < h->npending; i++)
        free(h->pending[i]);
    free(h->pending);
    free(h->ack_buf);
    h->pending = NULL;
    h->npending = h->pending_cap = 0;
    h->awaiting = 0;
    h->ack_buf = NULL;
    h->ack_len = h->ack_cap = 0;
}

int host_batch_commit(struct mock_host *h)
{
    int rc = CPIS_OK;
    if (h->store != NULL) {
        /* the test knob: this commit fails (host.h) */
        if (h->awaiting > 0 && ++h->commits == h->fail_commit &&
            store_batch_abort(h->store) != CPIS_OK)
            rc = CPIS_ERR_HOST;
        else
            rc = store_batch_commit(h->store);
    }
    pthread_mutex_lock(&ack_lock);
    if (rc == CPIS_OK) {
        /* committed: now the deliveries may be said done */
        FILE *last = NULL;
        for (size_t off = 0; off < h->ack_len;) {
            FILE *to;
            size_t len;
            memcpy(&to, h->ack_buf + off, sizeof to);
            memcpy(&len, h->ack_buf + off + sizeof to, sizeof len);
            off += sizeof to + sizeof len;
            fwrite(h->ack_buf + off, 1, len, to);
            off += len;
            if (last != NULL && last != to)
                fflush(last);
            last = to;
        }
        if (last != NULL)
            fflush(last);
    } else if (h->awaiting > 0) {
        for (size_t i = 0; i < h->npending; i++)
            fprintf(stderr, "cpis-mockhost: %s: failed: the store could not commit the"
                            " batch that held it (%llu deliveries): not acknowledged;"
                            " deliver it again\n",
                    FILE_LABEL(h->pending[i]), (unsigned long long)h->awaiting);
        h->lost += h->awaiting;
    }
    acks_reset_locked(h);
    pthread_mutex_unlock(&ack_lock);
    return rc;
}

/* A delivery starts: it awaits its commit from now on (its action lines
 * are queued).  Returns the queue length, to drop what it queued if it is
 * rolled back. */
static size_t pending_add(struct mock_host *h, const char *source)
{
    pthread_mutex_lock(&ack_lock);
    if (h->npending == h->pending_cap) {
        size_t cap = h->pending_cap ? h->pending_cap * 2 : 64;
        char **bigger = realloc(h->pending, cap * sizeof *bigger);
        if (bigger != NULL) {
            h->pending = bigger;
            h->pending_cap = cap;
        }
    }
    h->awaiting++;
    char *copy = strdup(source != NULL ? source : "");
    if (h->npending < h->pending_cap && copy != NULL)
        h->pending[h->npending++] = copy;
    else
        free(copy); /* out of memory: only the failure message loses its name */
    size_t mark = h->ack_len;
    pthread_mutex_unlock(&ack_lock);
    return mark;
}

/* Drops what was queued after `mark` (a delivery rolled back). */
static void acks_truncate(struct mock_host *h, size_t mark)
{
    pthread_mutex_lock(&ack_lock);
    if (mark < h->ack_len)
        h->ack_len = mark;
    pthread_mutex_unlock(&ack_lock);
}

/* ---- action lines -------------------------------------------------------- */

/* Prints {"action":KIND,"case":..,"recipient":..,"notification":..,"id":..,
 * "file":..} plus `extra` members (moved into the line).  Strings that are
 * NULL print as "".  The line is written with one call under the stream
 * lock, so lines from concurrent calls never interleave. */
static void emit_action(struct mock_host *h, const char *kind,
                        const char *case_id, const char *recipient,
                        const char *notification_id, const char *id,
                        cJSON *extra)
{
    if (h->actions == NULL) {
        cJSON_Delete(extra);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) {
        cJSON_Delete(extra);
        return;
    }
    cJSON_AddStringToObject(o, "action", kind);
    cJSON_AddStringToObject(o, "case", case_id != NULL ? case_id : "");
    cJSON_AddStringToObject(o, "recipient", recipient != NULL ? recipient : "");
    cJSON_AddStringToObject(o, "notification",
                            notification_id != NULL ? notification_id : "");
    cJSON_AddStringToObject(o, "id", id != NULL ? id : "");
    if (h->current_source != NULL)
        cJSON_AddStringToObject(o, "file", h->current_source);
    if (extra != NULL) {
        cJSON *m = extra->child;
        while (m != NULL) {
            cJSON *next = m->next;
            cJSON_AddItemToObject(o, m->string,
                                  cJSON_DetachItemViaPointer(extra, m));
            m = next;
        }
        cJSON_Delete(extra);
    }
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (line != NULL) {
        host_ack(h, h->actions, "%s\n", line);
        free(line);
    }
}

/* ---- the host functions -------------------------------------------------- */

static void mh_log(void *ctx, int level, const char *msg)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    struct mock_host *h = ctx;
    /* Without -v, only the plugin's errors, and only those the mock host
     * does not report itself: during a delivery, init or a reconfiguration
     * the mock host prints the outcome (rejected, failed, refused) as one
     * line naming the file, so the plugin's line would say it twice. */
    if (!h->verbose &&
        (level > CPIS_LOG_ERROR || h->current_source != NULL || h->in_init ||
         h->reconfiguring))
        return;
    const char *name = level >= 0 && level <= CPIS_LOG_DEBUG ? names[level]
                                                             : "log";
    fprintf(stderr, "[%s] %s\n", name, msg != NULL ? msg : "");
}

static int mh_register_hook(void *ctx, int hook_kind, void (*fn)(void),
                            void *user)
{
    struct mock_host *h = ctx;
    if (!h->in_init)
        return CPIS_ERR_STATE; /* registration only while init runs */
    if (fn == NULL)
        return CPIS_ERR_INVALID_ARG;
    /* The plugin passed one of the cpis_*_hook types cast to void (*)(void);
     * casting back to the real type before calling is well defined. */
    switch (hook_kind) {
    case CPIS_HOOK_NOTIFICATION:
        h->on_notification = (cpis_notification_hook)fn;
        h->notification_user = user;
        return CPIS_OK;
    case CPIS_HOOK_CONFIG_CHANGED:
        h->on_config = (cpis_config_hook)fn;
        h->config_user = user;
        return CPIS_OK;
    case CPIS_HOOK_SHUTDOWN:
        h->on_shutdown = (cpis_shutdown_hook)fn;
        h->shutdown_user = user;
        return CPIS_OK;
    case CPIS_HOOK_NOTE_COMPLETED:
        h->on_note_completed = (cpis_note_hook)fn;
        h->note_user = user;
        return CPIS_OK;
    default:
        return CPIS_ERR_UNSUPPORTED;
    }
}

static int mh_case_lookup(void *ctx, const char *nhs_number,
                          struct cpis_case *out)
{
    struct mock_host *h = ctx;
    int rc = count_call(h, "case_lookup");
    if (rc != CPIS_OK)
        return rc;
    if (nhs_number == NULL || !CPIS_HAS_FIELD(out, struct cpis_case, team))
        return CPIS_ERR_INVALID_ARG;
    cases_lookup(h->cases, nhs_number, out);
    return CPIS_OK;
}

static int mh_create_item(void *ctx, const struct cpis_item *item)
{
    static const char *const kinds[] = {
        NULL, "activity", "first_response_alert", "data_quality_item"};
    struct mock_host *h = ctx;
    int rc = count_call(h, "create_item");
    if (rc != CPIS_OK)
        return rc;
    if (!CPIS_HAS_FIELD(item, struct cpis_item, occurred_at) ||
        item->item_id == NULL || item->item_id[0] == '\0' || item->kind < 1 ||
        item->kind > CPIS_ITEM_DATA_QUALITY)
        return CPIS_ERR_INVALID_ARG;
    int changed = 0;
    rc = store_create_item(h->store, item, &changed);
    if (rc == CPIS_OK && changed) {
        cJSON *extra = NULL;
        if (item->kind == CPIS_ITEM_FIRST_RESPONSE_ALERT) {
            extra = cJSON_CreateObject();
            cJSON_AddBoolToObject(extra, "followup", item->followup != 0);
        }
        /* a kept alert raised to a follow-up (or completed) has its own
         * action line, so a new alert is never counted twice */
        emit_action(h, changed == 2 ? "first_response_followup_raised" : kinds[item->kind],
                    item->case_id, item->recipient, item->notification_id, item->item_id,
                    extra);
    }
    return rc;
}

/* Landing entries and case notes share the upsert; only the action names
 * differ.  The recipient shown is the worker, else the team. */
static int upsert_document(struct mock_host *h, enum store_doc_table table,
                           const struct cpis_document *doc)
{
    if (!CPIS_HAS_FIELD(doc, struct cpis_document, updated_at) ||
        doc->id == NULL || doc->id[0] == '\0' || doc->revision == 0)
        return CPIS_ERR_INVALID_ARG;
    enum store_upsert what;
    int rc = store_upsert_document(h->store, table, doc, &what);
    if (rc == CPIS_OK && what != STORE_UNCHANGED) {
        const char *kind =
            table == STORE_LANDING
                ? (what == STORE_INSERTED ? "landing_entry" : "landing_update")
                : (what == STORE_INSERTED ? "case_note" : "case_note_update");
        const char *recipient =
            doc->worker != NULL && doc->worker[0] != '\0' ? doc->worker
                                                          : doc->team;
        cJSON *extra = cJSON_CreateObject();
        cJSON_AddNumberToObject(extra, "revision", doc->revision);
        cJSON_AddStringToObject(extra, "team", doc->team != NULL ? doc->team : "");
        emit_action(h, kind, doc->case_id, recipient, doc->notification_id,
                    doc->id, extra);
    }
    return rc;
}

static int mh_publish_landing(void *ctx, const struct cpis_document *entry)
{
    struct mock_host *h = ctx;
    int rc = count_call(h, "publish_landing");
    return rc != CPIS_OK ? rc : upsert_document(h, STORE_LANDING, entry);
}

static int mh_write_case_note(void *ctx, const struct cpis_document *note)
{
    struct mock_host *h = ctx;
    int rc = count_call(h, "write_case_note");
    return rc != CPIS_OK ? rc : upsert_document(h, STORE_CASE_NOTES, note);
}

static int mh_keep_record(void *ctx, const struct cpis_record *rec)
{
    struct mock_host *h = ctx;
    int rc = count_call(h, "keep_record");
    if (rc != CPIS_OK)
        return rc;
    if (!CPIS_HAS_FIELD(rec, struct cpis_record, accessed_at) ||
        rec->record_id == NULL || rec->record_id[0] == '\0')
        return CPIS_ERR_INVALID_ARG;
    int changed = 0;
    rc = store_keep_record(h->store, rec, &changed);
    if (rc == CPIS_OK && changed)
        emit_action(h, "record", rec->case_id, "", rec->notification_id,
                    rec->record_id, NULL);
    return rc;
}

static int mh_quarantine(void *ctx, const struct cpis_quarantine *q)
{
    struct mock_host *h = ctx;
    int rc = count_call(h, "quarantine");
    if (rc != CPIS_OK)
        return rc;
    if (!CPIS_HAS_FIELD(q, struct cpis_quarantine, payload_len) ||
        q->quarantine_id == NULL || q->quarantine_id[0] == '\0' ||
        (q->payload == NULL && q->payload_len != 0))
        return CPIS_ERR_INVALID_ARG;
    int changed = 0;
    rc = store_quarantine(h->store, q, host_now_ms(h), &changed);
    if (rc == CPIS_OK && changed) {
        cJSON *extra = cJSON_CreateObject();
        cJSON_AddStringToObject(extra, "error",
                                q->error_name != NULL ? q->error_name : "");
        emit_action(h, "quarantine", "", "", q->notification_id,
                    q->quarantine_id, extra);
    }
    return rc;
}

static int mh_state_get(void *ctx, const char *key, char *buf, size_t cap,
                        size_t *len, uint64_t *version)
{
    struct mock_host *h = ctx;
    int rc = count_call(h, "state_get");
    if (rc != CPIS_OK)
        return rc;
    if (key == NULL || len == NULL || version == NULL)
        return CPIS_ERR_INVALID_ARG;
    return store_state_get(h->store, key, buf, cap, len, version);
}

static int mh_state_put(void *ctx, const char *key, const char *value,
                        size_t len, uint64_t expected_version)
{
    struct mock_host *h = ctx;
    int rc = count_call(h, "state_put");
    if (rc != CPIS_OK)
        return rc;
    if (key == NULL || (value == NULL && len != 0))
        return CPIS_ERR_INVALID_ARG;
    rc = store_state_put(h->store, key, value, len, expected_version);
    if (rc == CPIS_ERR_CONFLICT)
        atomic_fetch_add(&h->conflicts, 1); /* another node won: the plugin re-reads */
    return rc;
}

static int mh_close_items(void *ctx, int item_kind, const char *reason,
                          uint64_t *closed)
{
    struct mock_host *h = ctx;
    int rc = count_call(h, "close_items");
    if (rc != CPIS_OK)
        return rc;
    if (closed == NULL || item_kind < CPIS_ITEM_TASK_ACTIVITY ||
        item_kind > CPIS_ITEM_DATA_QUALITY)
        return CPIS_ERR_INVALID_ARG;
    rc = store_close_items(h->store, item_kind, reason, host_now_ms(h), closed);
    if (rc == CPIS_OK && *closed > 0 && h->actions != NULL) {
        /* Not an action about one notification: its own line shape. */
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "action", "items_closed");
        cJSON_AddNumberToObject(o, "kind", item_kind);
        cJSON_AddNumberToObject(o, "closed", (double)*closed);
        cJSON_AddStringToObject(o, "reason", reason != NULL ? reason : "");
        char *line = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (line != NULL) {
            host_ack(h, h->actions, "%s\n", line);
            free(line);
        }
    }
    return rc;
}

static int64_t mh_clock_ms(void *ctx)
{
    return host_now_ms(ctx);
}

void host_fill_api(struct mock_host *h, struct cpis_host_api *api)
{
    memset(api, 0, sizeof *api);
    api->struct_size = (uint32_t)sizeof *api;
    api->abi_major = CPIS_ABI_MAJOR;
    api->abi_minor = CPIS_ABI_MINOR;
    api->ctx = h;
    api->host_name = "cpis-mockhost";
    /* required */
    api->log = mh_log;
    api->register_hook = mh_register_hook;
    api->case_lookup = mh_case_lookup;
    api->create_item = mh_create_item;
    api->keep_record = mh_keep_record;
    api->state_get = mh_state_get;
    api->state_put = mh_state_put;
    api->quarantine = mh_quarantine;
    /* optional: the mock host offers all of them unless CPIS_MOCK_OMIT
     * names them (a host without them must still work, degraded) */
    api->clock_ms = (h->omit & HOST_OMIT_CLOCK) ? NULL : mh_clock_ms;
    api->publish_landing = (h->omit & HOST_OMIT_LANDING) ? NULL : mh_publish_landing;
    api->write_case_note = (h->omit & HOST_OMIT_CASE_NOTE) ? NULL : mh_write_case_note;
    api->close_items = (h->omit & HOST_OMIT_CLOSE_ITEMS) ? NULL : mh_close_items;
}

const char *host_file_label(const char *path, char *buf, size_t cap)
{
    cpis_scrub_file_name(path != NULL ? path : "", buf, cap);
    return buf;
}

/* ---- one delivery ---------------------------------------------------------- */

int host_deliver(struct mock_host *h, const char *prog,
                 const struct cpis_event *ev, int say_retries,
                 struct cpis_outcome *out)
{
    int status = CPIS_ERR_INTERNAL;
    /* A crash mid-batch, for the group-commit test (host.h). */
    if (h->kill_after != 0 && h->delivered == h->kill_after)
        raise(SIGKILL);
    h->delivered++;
    /* The deliveries before this one are committed when their batch is
     * due (full or old), and only then acknowledged. */
    if (h->awaiting > 0 && store_batch_due(h->store))
        host_batch_commit(h);
    size_t mark = pending_add(h, ev->source_name);
    for (int round = 0; round < HOST_MAX_ROUNDS; round++) {
        /* One savepoint for the whole delivery, in the store's shared
         * transaction: every store write the plugin makes from the hook,
         * its retries and the delivery row. */
        if (store_delivery_begin(h->store) != CPIS_OK)
            fprintf(stderr, "%s: %s: store busy; delivering without a transaction\n",
                    prog, FILE_LABEL(ev->source_name));
        h->current_source = ev->source_name;
        for (int attempt = 0; attempt <= HOST_MAX_RETRIES; attempt++) {
            memset(out, 0, sizeof *out);
            out->struct_size = (uint32_t)sizeof *out;
            status = h->on_notification(h->notification_user, ev, out);
            if (status != CPIS_ERR_RETRY || store_delivery_doomed(h->store))
                break;
            if (attempt < HOST_MAX_RETRIES && say_retries)
                fprintf(stderr, "%s: %s: retry_later (%s); delivering again (%d of %d)\n",
                        prog, FILE_LABEL(ev->source_name), out->detail[0] ? out->detail : "no detail",
                        attempt + 1, HOST_MAX_RETRIES);
        }
        h->current_source = NULL;
        /* The outcome's strings are fixed-size; make sure they are
         * terminated whatever the plugin wrote. */
        out->kind[sizeof out->kind - 1] = '\0';
        out->notification_id[sizeof out->notification_id - 1] = '\0';
        out->detail[sizeof out->detail - 1] = '\0';
        const char *error =
            status == CPIS_REJECTED ? host_message_error_name(out->error) : "";
        int doomed = store_delivery_doomed(h->store);
        /* A failed delivery (retries exhausted, a host failure) is not
         * acknowledged: its writes are rolled back with the action lines
         * that announced them, and a redelivery does it whole.  What
         * stays is its row (the `failed` count). */
        if (!doomed && status != CPIS_OK && status != CPIS_DUPLICATE &&
            status != CPIS_REJECTED && store_delivery_discard(h->store))
            acks_truncate(h, mark);
        if (!doomed &&
            store_add_delivery(h->store, ev->source_name, ev->transport_id,
                               host_status_name(status), out->kind,
                               out->notification_id, out->accesses, error,
                               out->detail, host_now_ms(h)) != CPIS_OK &&
            !(doomed = store_delivery_doomed(h->store)))
            fprintf(stderr, "%s: %s: could not record the delivery in the store\n",
                    prog, FILE_LABEL(ev->source_name));
        int end = store_delivery_end(h->store);
        if (end == CPIS_ERR_RETRY) {
            /* Rolled back whole (a server-aborted transaction, or a COMMIT
             * that failed transiently): nothing of this round stays, so
             * deliver again.  (A COMMIT whose connection was lost may have
             * landed: then this round finds it done, a duplicate.)  The
             * action lines this round queued are dropped with it. */
            acks_truncate(h, mark);
            if (h->verbose)
                fprintf(stderr, "%s: %s: the store aborted the delivery's"
                        " transaction; delivering again\n", prog, FILE_LABEL(ev->source_name));
            atomic_fetch_add(&h->rounds_retried, 1);
            status = CPIS_ERR_RETRY;
            continue;
        }
        if (doomed || end != CPIS_OK) {
            fprintf(stderr, "%s: %s: could not commit the delivery to the store\n",
                    prog, FILE_LABEL(ev->source_name));
            if (status == CPIS_OK || status == CPIS_DUPLICATE)
                status = end == CPIS_ERR_RETRY ? CPIS_ERR_RETRY : CPIS_ERR_HOST;
        }
        return status;
    }
    return status;
}

void host_print_file_error(const char *file, const char *err)
{
    file = FILE_LABEL(file);
    const char *p = err ? err : "";
    int printed = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n > 0) {
            fprintf(stderr, "cpis-mockhost: %s: %.*s\n", file, (int)n, p);
            printed = 1;
        }
        p += n + (nl ? 1 : 0);
    }
    if (!printed)
        fprintf(stderr, "cpis-mockhost: %s: refused\n", file);
}
