/* fakehost.c - see fakehost.h. */
#include "fakehost.h"

#include <dlfcn.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_s(const char *s)
{
    if (s == NULL)
        s = "";
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static struct fh_row *find_row(struct fh_table *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].key, key) == 0)
            return &t->v[i];
    return NULL;
}

const struct fh_row *fake_host_find(struct fh_table *t, const char *key)
{
    return find_row(t, key);
}

static struct fh_row *add_row(struct fh_table *t, const char *key)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->v = realloc(t->v, t->cap * sizeof *t->v);
    }
    struct fh_row *r = &t->v[t->n++];
    memset(r, 0, sizeof *r);
    r->key = dup_s(key);
    return r;
}

static void free_row(struct fh_row *r)
{
    free(r->key);
    free(r->a);
    free(r->b);
    free(r->c);
    free(r->d);
    free(r->e);
    free(r->blob);
}

static void free_table(struct fh_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free_row(&t->v[i]);
    free(t->v);
    memset(t, 0, sizeof *t);
}

static void set_s(char **dst, const char *s)
{
    free(*dst);
    *dst = dup_s(s);
}

static void set_blob(struct fh_row *r, const void *p, size_t n)
{
    free(r->blob);
    r->blob = malloc(n + 1);
    if (n)
        memcpy(r->blob, p, n);
    r->blob[n] = 0;
    r->blob_len = n;
}

/* Fault injection: every table call but log, clock and register counts. */
static int fault(struct fake_host *fh)
{
    fh->calls++;
    if (fh->fail_at > 0 && (fh->calls == fh->fail_at || (fh->fail_repeat && fh->calls > fh->fail_at)))
        return fh->fail_rc ? fh->fail_rc : CPIS_ERR_RETRY;
    return CPIS_OK;
}

#define FH(ctx) ((struct fake_host *)(ctx))
#define LOCKED_FAULT(fh)                                                                 \
    do {                                                                                 \
        pthread_mutex_lock(&(fh)->lock);                                                 \
        int frc_ = fault(fh);                                                            \
        if (frc_ != CPIS_OK) {                                                           \
            pthread_mutex_unlock(&(fh)->lock);                                           \
            return frc_;                                                                 \
        }                                                                                \
    } while (0)

static void h_log(void *ctx, int level, const char *msg)
{
    struct fake_host *fh = FH(ctx);
    pthread_mutex_lock(&fh->lock);
    struct fh_row *r = add_row(&fh->logs, msg);
    r->n1 = level;
    pthread_mutex_unlock(&fh->lock);
}

static int h_register(void *ctx, int kind, void (*fn)(void), void *user)
{
    struct fake_host *fh = FH(ctx);
    if (!fh->in_init)
        return CPIS_ERR_STATE;
    switch (kind) {
    case CPIS_HOOK_NOTIFICATION:
        fh->on_note = (cpis_notification_hook)(void *)fn;
        fh->note_user = user;
        break;
    case CPIS_HOOK_CONFIG_CHANGED:
        fh->on_config = (cpis_config_hook)(void *)fn;
        fh->config_user = user;
        break;
    case CPIS_HOOK_SHUTDOWN:
        fh->on_shutdown = (cpis_shutdown_hook)(void *)fn;
        fh->shutdown_user = user;
        break;
    case CPIS_HOOK_NOTE_COMPLETED:
        if (fh->api.abi_minor < 1)
            return CPIS_ERR_INVALID_ARG; /* as a 1.0 host answers an unknown kind */
        fh->on_note_done = (cpis_note_hook)(void *)fn;
        fh->note_done_user = user;
        break;
    default:
        return CPIS_ERR_INVALID_ARG;
    }
    fh->hooks_registered++;
    return CPIS_OK;
}

static int h_case_lookup(void *ctx, const char *nhs, struct cpis_case *out)
{
    struct fake_host *fh = FH(ctx);
    LOCKED_FAULT(fh);
    struct fh_row *r = find_row(&fh->cases, nhs);
    out->status = CPIS_CASE_UNKNOWN;
    out->case_id[0] = out->worker[0] = out->manager[0] = out->team[0] = '\0';
    if (r) {
        out->status = (uint32_t)r->n1;
        snprintf(out->case_id, sizeof out->case_id, "%s", r->a);
        snprintf(out->worker, sizeof out->worker, "%s", r->b);
        snprintf(out->manager, sizeof out->manager, "%s", r->c);
        snprintf(out->team, sizeof out->team, "%s", r->d);
    }
    /* ABI 1.1: the child, when the caller's struct holds it; a 1.0 host
     * (abi10_cases) knows nothing of these fields and leaves them alone. */
    if (!fh->abi10_cases && CPIS_HAS_FIELD(out, struct cpis_case, date_of_birth)) {
        out->struct_size = sizeof *out;
        snprintf(out->child_name, sizeof out->child_name, "%s", r && r->e ? r->e : "");
        snprintf(out->date_of_birth, sizeof out->date_of_birth, "%s",
                 r && r->blob ? (const char *)r->blob : "");
    }
    pthread_mutex_unlock(&fh->lock);
    return CPIS_OK;
}

static int h_create_item(void *ctx, const struct cpis_item *it)
{
    struct fake_host *fh = FH(ctx);
    LOCKED_FAULT(fh);
    if (find_row(&fh->items, it->item_id) == NULL) {
        struct fh_row *r = add_row(&fh->items, it->item_id);
        r->a = dup_s(it->case_id);
        r->b = dup_s(it->recipient);
        r->c = dup_s(it->notification_id);
        r->d = dup_s(CPIS_HAS_FIELD(it, struct cpis_item, access_id) ? it->access_id : "");
        r->e = dup_s(it->subject);
        r->n1 = it->kind;
        r->n2 = it->followup;
        r->n3 = 1;
        set_blob(r, it->body ? it->body : "", it->body ? strlen(it->body) : 0);
    } else {
        /* the follow-up raise and the completion of a raised item, as
         * cpis/plugin.h (struct cpis_item) says a host does */
        struct fh_row *r = find_row(&fh->items, it->item_id);
        const char *nid = it->notification_id ? it->notification_id : "";
        const char *body = it->body ? it->body : "";
        int raise = r->n1 == CPIS_ITEM_FIRST_RESPONSE_ALERT && it->followup && !r->n2;
        int fill = r->n1 == CPIS_ITEM_FIRST_RESPONSE_ALERT && (r->c == NULL || !r->c[0]) &&
                   nid[0];
        if (raise || fill) {
            size_t lo = r->blob_len, ln = strlen(body);
            char *joined = malloc(lo + ln + 1);
            if (joined != NULL) {
                if (raise) {
                    memcpy(joined, body, ln);
                    memcpy(joined + ln, r->blob, lo);
                } else {
                    memcpy(joined, r->blob, lo);
                    memcpy(joined + lo, body, ln);
                }
                set_blob(r, joined, lo + ln);
                free(joined);
            }
            if (raise) {
                r->n2 = 1;
                free(r->e);
                r->e = dup_s(it->subject);
            }
            if (fill) {
                free(r->c);
                r->c = dup_s(nid);
            }
        }
    }
    pthread_mutex_unlock(&fh->lock);
    return CPIS_OK;
}

static int h_keep_record(void *ctx, const struct cpis_record *rec)
{
    struct fake_host *fh = FH(ctx);
    LOCKED_FAULT(fh);
    if (find_row(&fh->records, rec->record_id) == NULL) {
        struct fh_row *r = add_row(&fh->records, rec->record_id);
        r->a = dup_s(rec->nhs_number);
        r->b = dup_s(rec->case_id);
        r->c = dup_s(rec->notification_id);
        r->d = dup_s(rec->summary);
        r->e = dup_s(rec->detail_json);
        r->n1 = (long)rec->accessed_at;
    }
    pthread_mutex_unlock(&fh->lock);
    return CPIS_OK;
}

static int h_state_get(void *ctx, const char *key, char *buf, size_t cap, size_t *len,
                       uint64_t *version)
{
    struct fake_host *fh = FH(ctx);
    LOCKED_FAULT(fh);
    struct fh_row *r = find_row(&fh->state, key);
    int rc = CPIS_OK;
    if (r == NULL) {
        *len = 0;
        *version = 0;
        rc = CPIS_ERR_NOT_FOUND;
    } else {
        *len = r->blob_len;
        *version = (uint64_t)r->n1;
        if (r->blob_len > cap)
            rc = CPIS_ERR_BUFFER;
        else
            memcpy(buf, r->blob, r->blob_len);
    }
    pthread_mutex_unlock(&fh->lock);
    return rc;
}

static int h_state_put(void *ctx, const char *key, const char *value, size_t len,
                       uint64_t expected)
{
    struct fake_host *fh = FH(ctx);
    LOCKED_FAULT(fh);
    struct fh_row *r = find_row(&fh->state, key);
    int rc = CPIS_OK;
    uint64_t cur = r ? (uint64_t)r->n1 : 0;
    if (cur != expected) {
        rc = CPIS_ERR_CONFLICT;
        fh->cas_conflicts++;
    } else {
        if (r == NULL)
            r = add_row(&fh->state, key);
        set_blob(r, value, len);
        r->n1 = (long)expected + 1;
    }
    pthread_mutex_unlock(&fh->lock);
    return rc;
}

static int h_quarantine(void *ctx, const struct cpis_quarantine *q)
{
    struct fake_host *fh = FH(ctx);
    LOCKED_FAULT(fh);
    if (find_row(&fh->quarantine, q->quarantine_id) == NULL) {
        struct fh_row *r = add_row(&fh->quarantine, q->quarantine_id);
        r->a = dup_s(q->error_name);
        r->b = dup_s(q->detail);
        r->c = dup_s(q->source_name);
        r->d = dup_s(q->transport_id);
        r->n1 = q->error;
        set_blob(r, q->payload, q->payload_len);
    }
    pthread_mutex_unlock(&fh->lock);
    return CPIS_OK;
}

static int64_t h_clock(void *ctx) { return FH(ctx)->now_ms; }

static int put_doc(struct fake_host *fh, struct fh_table *t, const struct cpis_document *d)
{
    LOCKED_FAULT(fh);
    struct fh_row *r = find_row(t, d->id);
    if (r == NULL) {
        r = add_row(t, d->id);
        r->n1 = 0;
    }
    if ((long)d->revision > r->n1) {
        set_s(&r->a, d->case_id);
        set_s(&r->b, d->worker);
        set_s(&r->c, d->team);
        set_s(&r->d, d->title);
        set_s(&r->e, d->body);
        r->n1 = d->revision;
        r->n2 = (long)d->updated_at;
        set_blob(r, d->detail_json ? d->detail_json : "", d->detail_json ? strlen(d->detail_json) : 0);
    }
    pthread_mutex_unlock(&fh->lock);
    return CPIS_OK;
}

static int h_publish(void *ctx, const struct cpis_document *d)
{
    return put_doc(FH(ctx), &FH(ctx)->landing, d);
}

static int h_note(void *ctx, const struct cpis_document *d)
{
    return put_doc(FH(ctx), &FH(ctx)->notes, d);
}

static int h_close(void *ctx, int kind, const char *reason, uint64_t *closed)
{
    struct fake_host *fh = FH(ctx);
    LOCKED_FAULT(fh);
    uint64_t n = 0;
    for (size_t i = 0; i < fh->items.n; i++) {
        struct fh_row *r = &fh->items.v[i];
        if (r->n1 == kind && r->n3 == 1) {
            r->n3 = 0;
            set_blob(r, reason, strlen(reason));
            n++;
        }
    }
    if (kind == CPIS_ITEM_TASK_ACTIVITY)
        fh->closed_task_activities += (long)n;
    else if (kind == CPIS_ITEM_FIRST_RESPONSE_ALERT)
        fh->closed_alerts += (long)n;
    if (closed)
        *closed = n;
    pthread_mutex_unlock(&fh->lock);
    return CPIS_OK;
}

void fake_host_init(struct fake_host *fh)
{
    memset(fh, 0, sizeof *fh);
    pthread_mutex_init(&fh->lock, NULL);
    struct cpis_host_api *a = &fh->api;
    a->struct_size = sizeof *a;
    a->abi_major = CPIS_ABI_MAJOR;
    a->abi_minor = CPIS_ABI_MINOR;
    a->ctx = fh;
    a->host_name = "fake host (tests)";
    a->log = h_log;
    a->register_hook = h_register;
    a->case_lookup = h_case_lookup;
    a->create_item = h_create_item;
    a->keep_record = h_keep_record;
    a->state_get = h_state_get;
    a->state_put = h_state_put;
    a->quarantine = h_quarantine;
    a->clock_ms = h_clock;
    a->publish_landing = h_publish;
    a->write_case_note = h_note;
    a->close_items = h_close;
    fh->now_ms = 1710511200000LL; /* 2024-03-15T14:00:00Z */
}

void fake_host_free(struct fake_host *fh)
{
    struct fh_table *ts[] = {&fh->cases, &fh->items, &fh->landing, &fh->notes, &fh->records,
                             &fh->state, &fh->quarantine, &fh->logs};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        free_table(ts[i]);
    pthread_mutex_destroy(&fh->lock);
}

void fake_host_add_case(struct fake_host *fh, const char *nhs, int status, const char *case_id,
                        const char *worker, const char *manager, const char *team)
{
    struct fh_row *r = add_row(&fh->cases, nhs);
    r->a = dup_s(case_id);
    r->b = dup_s(worker);
    r->c = dup_s(manager);
    r->d = dup_s(team);
    r->n1 = status;
}

size_t fake_host_count_items(struct fake_host *fh, int kind, int open_only)
{
    size_t n = 0;
    for (size_t i = 0; i < fh->items.n; i++)
        if (fh->items.v[i].n1 == kind && (!open_only || fh->items.v[i].n3 == 1))
            n++;
    return n;
}

size_t fake_host_count_followups(struct fake_host *fh)
{
    size_t n = 0;
    for (size_t i = 0; i < fh->items.n; i++) {
        const struct fh_row *r = &fh->items.v[i];
        if (r->n1 != CPIS_ITEM_FIRST_RESPONSE_ALERT || !r->n2)
            continue;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) {
            const struct fh_row *q = &fh->items.v[j];
            seen = q->n1 == CPIS_ITEM_FIRST_RESPONSE_ALERT && q->n2 && strcmp(q->d, r->d) == 0;
        }
        n += !seen;
    }
    return n;
}

size_t fake_host_count_prefix(struct fake_host *fh, const char *prefix)
{
    size_t n = 0, pl = strlen(prefix);
    for (size_t i = 0; i < fh->state.n; i++)
        n += strncmp(fh->state.v[i].key, prefix, pl) == 0;
    return n;
}

/* ---- dump ------------------------------------------------------------------ */

struct sbuf {
    char *s;
    size_t n, cap;
};

static void sb_add(struct sbuf *b, const char *s)
{
    size_t k = strlen(s);
    if (b->n + k + 1 > b->cap) {
        b->cap = (b->n + k + 1) * 2;
        b->s = realloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, k + 1);
    b->n += k;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void dump_table(struct sbuf *out, const char *name, struct fh_table *t, int with_blob)
{
    char **lines = calloc(t->n + 1, sizeof *lines);
    for (size_t i = 0; i < t->n; i++) {
        const struct fh_row *r = &t->v[i];
        struct sbuf l = {0};
        sb_add(&l, name);
        const char *cols[] = {r->key, r->a, r->b, r->c, r->d, r->e};
        for (size_t c = 0; c < 6; c++) {
            sb_add(&l, "|");
            sb_add(&l, cols[c] ? cols[c] : "");
        }
        char nums[96];
        snprintf(nums, sizeof nums, "|%ld|%ld|%ld|", r->n1, r->n2, r->n3);
        sb_add(&l, nums);
        if (with_blob && r->blob)
            sb_add(&l, (const char *)r->blob);
        lines[i] = l.s ? l.s : dup_s("");
    }
    qsort(lines, t->n, sizeof *lines, cmp_str);
    for (size_t i = 0; i < t->n; i++) {
        sb_add(out, lines[i]);
        sb_add(out, "\n");
        free(lines[i]);
    }
    free(lines);
}

char *fake_host_dump(struct fake_host *fh)
{
    struct sbuf b = {0};
    sb_add(&b, "");
    pthread_mutex_lock(&fh->lock);
    dump_table(&b, "item", &fh->items, 1);
    dump_table(&b, "landing", &fh->landing, 1);
    dump_table(&b, "note", &fh->notes, 1);
    dump_table(&b, "record", &fh->records, 0);
    dump_table(&b, "state", &fh->state, 1);
    dump_table(&b, "quarantine", &fh->quarantine, 0);
    pthread_mutex_unlock(&fh->lock);
    return b.s;
}

int fake_host_log_matches(struct fake_host *fh, const char *ere)
{
    regex_t re;
    if (regcomp(&re, ere, REG_EXTENDED | REG_NOSUB) != 0)
        return -1;
    int hit = 0;
    pthread_mutex_lock(&fh->lock);
    for (size_t i = 0; i < fh->logs.n && !hit; i++)
        hit = regexec(&re, fh->logs.v[i].key, 0, NULL, 0) == 0;
    pthread_mutex_unlock(&fh->lock);
    regfree(&re);
    return hit;
}

/* ---- loading the real plugin ------------------------------------------------ */

int fake_host_load(struct fake_host *fh, const char *config_json, const char *base_dir,
                   const struct cpis_descriptor **desc, struct cpis_plugin **plugin, void **dl,
                   char *err, size_t cap)
{
    const char *so = getenv("CPIS_PLUGIN_SO");
    if (so == NULL)
        so = "build/cpis_notify.so";
    *dl = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (*dl == NULL) {
        snprintf(err, cap, "dlopen %s: %s", so, dlerror());
        return CPIS_ERR_NOT_FOUND;
    }
    cpis_entry_fn entry;
    *(void **)&entry = dlsym(*dl, CPIS_ENTRY_SYMBOL);
    if (entry == NULL) {
        snprintf(err, cap, "%s has no %s", so, CPIS_ENTRY_SYMBOL);
        return CPIS_ERR_NOT_FOUND;
    }
    *desc = entry();
    struct cpis_config_source src = {
        .struct_size = sizeof src,
        .json = config_json,
        .json_len = config_json ? strlen(config_json) : 0,
        .base_dir = base_dir,
        .ods_paths = NULL,
    };
    fh->in_init = 1;
    int rc = (*desc)->init(&fh->api, &src, plugin, err, cap);
    fh->in_init = 0;
    return rc;
}

int fake_host_deliver(struct fake_host *fh, const char *name, const void *buf, size_t len,
                      const char *transport_id, struct cpis_outcome *out)
{
    struct cpis_event ev = {
        .struct_size = sizeof ev,
        .kind = CPIS_EVENT_NOTIFICATION,
        .payload = buf,
        .payload_len = len,
        .content_type = NULL,
        .source_name = name,
        .transport_id = transport_id,
        .local_id = NULL,
        .received_at_ms = fh->now_ms,
    };
    if (out) {
        memset(out, 0, sizeof *out);
        out->struct_size = sizeof *out;
    }
    return fh->on_note(fh->note_user, &ev, out);
}

char *fake_host_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap + 1);
    size_t k;
    while ((k = fread(b + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap + 1);
        }
    }
    fclose(f);
    b[n] = '\0';
    if (len)
        *len = n;
    return b;
}

const char *fake_host_sample(const char *rel, char *buf, size_t cap)
{
    const char *base = getenv("CPIS_SAMPLES");
    snprintf(buf, cap, "%s/%s", base ? base : "samples", rel);
    return buf;
}

void fake_host_set_child(struct fake_host *fh, const char *nhs, const char *name,
                         const char *dob)
{
    pthread_mutex_lock(&fh->lock);
    struct fh_row *r = find_row(&fh->cases, nhs);
    if (r) {
        free(r->e);
        free(r->blob);
        r->e = dup_s(name);
        r->blob = (unsigned char *)dup_s(dob);
        r->blob_len = strlen(dob) + 1;
    }
    pthread_mutex_unlock(&fh->lock);
}

int fake_host_complete_note(struct fake_host *fh, const char *note_id, const char *case_id,
                            const char *nhs, int64_t completed_at)
{
    if (fh->on_note_done == NULL)
        return CPIS_ERR_UNSUPPORTED;
    struct cpis_note_completion nc;
    memset(&nc, 0, sizeof nc);
    nc.struct_size = sizeof nc;
    nc.note_id = note_id;
    nc.case_id = case_id;
    nc.nhs_number = nhs;
    nc.completed_at = completed_at;
    return fh->on_note_done(fh->note_done_user, &nc);
}
