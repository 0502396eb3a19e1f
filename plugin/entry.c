/*
 * entry.c - the single exported entry point, the plugin's lifecycle, its
 * hooks and the configuration swap.
 *
 * Threads: init and shutdown never overlap a hook (the host's promise).
 * Hooks run concurrently; each takes a reference on the current runtime
 * (config + ODS directory + policy) under a mutex and releases it when done,
 * so a configuration change swaps the runtime whole while hooks finish on the
 * one they started with.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "internal.h"
#include "parse.h"

#define PLUGIN_VERSION "0.1.0"

static const char *status_name(int status)
{
    switch (status) {
#define CPIS_X_CASE(sym, val, name)                                                    \
    case val:                                                                          \
        return name;
        CPIS_STATUS_LIST(CPIS_X_CASE)
#undef CPIS_X_CASE
    default:
        return "unknown_status";
    }
}

const char *cpis_message_error_name(int error)
{
    switch (error) {
#define CPIS_X_CASE(sym, val, name)                                                    \
    case val:                                                                          \
        return name;
        CPIS_MESSAGE_ERROR_LIST(CPIS_X_CASE)
#undef CPIS_X_CASE
    default:
        return "unknown_error";
    }
}

static void set_err(char *err, size_t cap, const char *fmt, ...) CPIS_PRINTF(3, 4);
static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (err == NULL || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* ---- runtime: config + ODS + policy ------------------------------------ */

static void runtime_free(struct runtime *rt)
{
    if (rt == NULL)
        return;
    cpis_ods_free(rt->ods);
    cpis_config_free(&rt->cfg);
    free(rt);
}

static struct runtime *runtime_build(const struct cpis_config_source *src, char *err,
                                     size_t cap)
{
    struct runtime *rt = calloc(1, sizeof *rt);
    if (rt == NULL) {
        set_err(err, cap, "out of memory");
        return NULL;
    }
    const char *json = src && CPIS_HAS_FIELD(src, struct cpis_config_source, json) ? src->json
                                                                                   : NULL;
    size_t len = json ? src->json_len : 0;
    const char *base = src && CPIS_HAS_FIELD(src, struct cpis_config_source, base_dir)
                           ? src->base_dir
                           : NULL;
    const char *const *ods = src && CPIS_HAS_FIELD(src, struct cpis_config_source, ods_paths)
                                 ? src->ods_paths
                                 : NULL;
    if (cpis_config_parse(json, len, base, ods, &rt->cfg, err, cap) != 0) {
        free(rt);
        return NULL;
    }
    rt->ods = cpis_ods_new();
    if (rt->ods == NULL) {
        set_err(err, cap, "out of memory");
        runtime_free(rt);
        return NULL;
    }
    for (size_t i = 0; i < rt->cfg.n_ods_paths; i++) {
        char why[512];
        if (cpis_ods_load_path(rt->ods, rt->cfg.ods_paths[i], why, sizeof why) != 0) {
            set_err(err, cap, "ods.paths[%zu]: %s", i, why);
            runtime_free(rt);
            return NULL;
        }
    }
    for (size_t i = 0; i < rt->cfg.n_overrides; i++)
        cpis_ods_set_setting(rt->ods, rt->cfg.overrides[i].code, rt->cfg.overrides[i].setting);

    struct wf_policy *p = &rt->pol;
    const struct cpis_config *c = &rt->cfg;
    p->version = c->version;
    p->task_activities = c->flag[FLAG_TASK_ACTIVITIES];
    p->first_response_routing = c->flag[FLAG_FIRST_RESPONSE_ROUTING];
    p->landing_page = c->flag[FLAG_LANDING_PAGE];
    p->case_note_stubs = c->flag[FLAG_CASE_NOTE_STUBS];
    p->episodes = c->flag[FLAG_EPISODES];
    p->window_minutes = c->window_minutes;
    p->max_span_minutes = c->max_span_minutes;
    p->threshold_count = c->threshold_count;
    p->threshold_days = c->threshold_days;
    p->repeat_window_days = c->repeat_window_days;
    p->repeat_threshold = c->repeat_threshold;
    p->data_quality_owner = c->data_quality_owner;
    p->first_response_inbox = c->first_response_inbox;
    p->first_response_duty = c->first_response_duty;
    rt->refs = 1; /* the plugin's own reference */
    return rt;
}

/* Says in the log what the ODS files gave: a file that is not an extract
 * (skipped), rows skipped (counted).  No row content is ever logged. */
static void log_ods_files(struct cpis_plugin *p, const struct runtime *rt)
{
    for (size_t i = 0; i < cpis_ods_file_count(rt->ods); i++) {
        const struct cpis_ods_file_report *f = cpis_ods_file(rt->ods, i);
        if (f->not_extract)
            cpis_log(p, CPIS_LOG_WARN, "ODS file %s skipped: %s", f->path, f->why);
        else if (f->rows_skipped)
            cpis_log(p, CPIS_LOG_INFO, "ODS file %s: %zu rows read, %zu skipped (see config "
                     "check)", f->path, f->rows_read, f->rows_skipped);
    }
}

static struct runtime *rt_acquire(struct cpis_plugin *p)
{
    pthread_mutex_lock(&p->lock);
    struct runtime *rt = p->rt;
    rt->refs++;
    pthread_mutex_unlock(&p->lock);
    return rt;
}

static void rt_release(struct cpis_plugin *p, struct runtime *rt)
{
    pthread_mutex_lock(&p->lock);
    unsigned left = --rt->refs;
    pthread_mutex_unlock(&p->lock);
    if (left == 0)
        runtime_free(rt);
}

/* ---- hooks ----------------------------------------------------------------- */

static int on_notification(void *user, const struct cpis_event *ev, struct cpis_outcome *out)
{
    struct cpis_plugin *p = user;
    if (p == NULL || ev == NULL || ev->struct_size < offsetof(struct cpis_event, local_id) ||
        (ev->payload == NULL && ev->payload_len > 0))
        return CPIS_ERR_INVALID_ARG;

    pthread_mutex_lock(&p->lock);
    int pending = p->switch_pending;
    pthread_mutex_unlock(&p->lock);

    struct runtime *rt = rt_acquire(p);
    if (pending)
        (void)cpis_apply_switch(p, rt);
    int rc = cpis_handle_event(p, rt, ev, out);
    rt_release(p, rt);
    if (out && CPIS_HAS_FIELD(out, struct cpis_outcome, status))
        out->status = rc;
    return rc;
}

static int on_config_changed(void *user, const struct cpis_config_source *src, char *err,
                             size_t cap)
{
    struct cpis_plugin *p = user;
    if (p == NULL)
        return CPIS_ERR_INVALID_ARG;
    char why[2048] = "";
    struct runtime *fresh = runtime_build(src, why, sizeof why);
    if (fresh == NULL) {
        set_err(err, cap, "%s", why);
        cpis_log(p, CPIS_LOG_ERROR, "configuration refused; the running configuration stays");
        return CPIS_ERR_CONFIG;
    }
    pthread_mutex_lock(&p->lock);
    struct runtime *old = p->rt;
    p->rt = fresh;
    pthread_mutex_unlock(&p->lock);
    rt_release(p, old);
    cpis_log(p, CPIS_LOG_INFO, "configuration applied: workflow version %d", fresh->cfg.version);
    struct runtime *rt = rt_acquire(p);
    log_ods_files(p, rt);
    (void)cpis_apply_switch(p, rt);
    rt_release(p, rt);
    return CPIS_OK;
}

static int on_note_completed(void *user, const struct cpis_note_completion *nc)
{
    struct cpis_plugin *p = user;
    if (p == NULL || nc == NULL)
        return CPIS_ERR_INVALID_ARG;
    struct runtime *rt = rt_acquire(p);
    int rc = cpis_note_completed(p, rt, nc);
    rt_release(p, rt);
    return rc;
}

static void on_shutdown(void *user)
{
    struct cpis_plugin *p = user;
    cpis_log(p, CPIS_LOG_INFO, "shutting down");
}

/* ---- lifecycle ------------------------------------------------------------- */

/* Live plugin instances in this process: the parsers' process-wide hook (the
 * external entity loader) is removed when the last one shuts down, so
 * nothing points into the library after dlclose. */
static pthread_mutex_t instances_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned instances;

static void instance_gone(void)
{
    pthread_mutex_lock(&instances_lock);
    if (instances > 0 && --instances == 0)
        cpis_parse_shutdown();
    pthread_mutex_unlock(&instances_lock);
}

static int plugin_init(const struct cpis_host_api *host, const struct cpis_config_source *config,
                       struct cpis_plugin **out, char *err, size_t cap)
{
    if (out == NULL) {
        set_err(err, cap, "init: no place for the plugin handle (out is NULL)");
        return CPIS_ERR_INVALID_ARG;
    }
    *out = NULL;
    if (host == NULL) {
        set_err(err, cap, "init: the host API table is NULL");
        return CPIS_ERR_INVALID_ARG;
    }
    if (host->abi_major != CPIS_ABI_MAJOR) {
        set_err(err, cap,
                "host ABI %u.%u is not compatible with plugin ABI %u.%u "
                "(the major versions differ)",
                host->abi_major, host->abi_minor, CPIS_ABI_MAJOR, CPIS_ABI_MINOR);
        return CPIS_ERR_ABI;
    }
    if (host->struct_size < CPIS_HOST_API_MIN_SIZE) {
        set_err(err, cap,
                "host API table is %u bytes, too short for the functions plugin ABI %u.%u "
                "requires (%zu bytes); host says ABI %u.%u",
                host->struct_size, CPIS_ABI_MAJOR, CPIS_ABI_MINOR,
                (size_t)CPIS_HOST_API_MIN_SIZE, host->abi_major, host->abi_minor);
        return CPIS_ERR_ABI;
    }
    const char *missing = !host->log             ? "log"
                          : !host->register_hook ? "register_hook"
                          : !host->case_lookup   ? "case_lookup"
                          : !host->create_item   ? "create_item"
                          : !host->keep_record   ? "keep_record"
                          : !host->state_get     ? "state_get"
                          : !host->state_put     ? "state_put"
                          : !host->quarantine    ? "quarantine"
                                                 : NULL;
    if (missing) {
        set_err(err, cap, "host API table: required function %s is NULL", missing);
        return CPIS_ERR_ABI;
    }
    pthread_mutex_lock(&instances_lock);
    int prc = cpis_parse_init();
    if (prc == 0)
        instances++;
    pthread_mutex_unlock(&instances_lock);
    if (prc != 0) {
        set_err(err, cap, "init: could not initialise the parsers");
        return CPIS_ERR_INTERNAL;
    }

    struct cpis_plugin *p = calloc(1, sizeof *p);
    if (p == NULL) {
        set_err(err, cap, "out of memory");
        instance_gone();
        return CPIS_ERR_NOMEM;
    }
    p->host = host;
    pthread_mutex_init(&p->lock, NULL);
    char why[2048] = "";
    p->rt = runtime_build(config, why, sizeof why);
    if (p->rt == NULL) {
        set_err(err, cap, "%s", why);
        pthread_mutex_destroy(&p->lock);
        free(p);
        instance_gone();
        return CPIS_ERR_CONFIG;
    }

    struct {
        int kind;
        void (*fn)(void);
    } hooks[] = {
        {CPIS_HOOK_NOTIFICATION, (void (*)(void))on_notification},
        {CPIS_HOOK_CONFIG_CHANGED, (void (*)(void))on_config_changed},
        {CPIS_HOOK_SHUTDOWN, (void (*)(void))on_shutdown},
    };
    for (size_t i = 0; i < sizeof hooks / sizeof hooks[0]; i++) {
        int rc = host->register_hook(host->ctx, hooks[i].kind, hooks[i].fn, p);
        if (rc != CPIS_OK) {
            set_err(err, cap, "init: the host refused hook %d (%s)", hooks[i].kind,
                    status_name(rc));
            runtime_free(p->rt);
            pthread_mutex_destroy(&p->lock);
            free(p);
            instance_gone();
            return rc;
        }
    }
    /* ABI 1.1: completed case notes.  A 1.0 host is not asked (it does not
     * know the hook kind); the plugin works without it (entries then stay
     * "awaiting action"). */
    if (host->abi_minor >= 1) {
        /* Optional: a host that refuses it still gets everything else. */
        int rc = host->register_hook(host->ctx, CPIS_HOOK_NOTE_COMPLETED,
                                     (void (*)(void))on_note_completed, p);
        if (rc != CPIS_OK)
            cpis_log(p, CPIS_LOG_INFO, "host refused the note-completed hook (%s): "
                     "landing entries stay awaiting action", status_name(rc));
    } else {
        cpis_log(p, CPIS_LOG_INFO, "host ABI %u.%u: no child name or date of birth, no "
                 "completed case notes (ABI 1.1); working without them",
                 host->abi_major, host->abi_minor);
    }
    if (!host->publish_landing || !host->write_case_note)
        cpis_log(p, CPIS_LOG_WARN,
                 "host offers no %s: working degraded (those items are not written)",
                 !host->publish_landing ? "landing-page module" : "case notes");
    log_ods_files(p, p->rt);
    cpis_log(p, CPIS_LOG_INFO, "cpis-notify %s loaded (ABI %u.%u, host ABI %u.%u), workflow "
             "version %d", PLUGIN_VERSION, CPIS_ABI_MAJOR, CPIS_ABI_MINOR, host->abi_major,
             host->abi_minor, p->rt->cfg.version);
    (void)cpis_apply_switch(p, p->rt);
    *out = p;
    return CPIS_OK;
}

static void plugin_shutdown(struct cpis_plugin *p)
{
    if (p == NULL)
        return;
    rt_release(p, p->rt);
    pthread_mutex_destroy(&p->lock);
    free(p);
    instance_gone();
}

/* ---- parse (dry run) ------------------------------------------------------- */

static void add_s(cJSON *o, const char *k, const char *v) { cJSON_AddStringToObject(o, k, v ? v : ""); }

struct line_buf {
    char *buf;
    size_t len, cap;
    int failed;
};

/* Append o as one line and delete it. */
static void put_line(struct line_buf *b, cJSON *o)
{
    char *line = o != NULL ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (line == NULL) {
        b->failed = 1;
        return;
    }
    size_t ln = strlen(line);
    if (b->len + ln + 2 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (b->len + ln + 2 > cap)
            cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (nb == NULL) {
            free(line);
            b->failed = 1;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, line, ln);
    b->len += ln;
    b->buf[b->len++] = '\n';
    b->buf[b->len] = '\0';
    free(line);
}

static const char *kind_name(int kind)
{
    return kind == REC_KIND_ACCESS     ? "access"
           : kind == REC_KIND_INACTIVE ? "inactive_nhs_number"
           : kind == REC_KIND_IGNORED  ? "ignored"
                                       : "empty";
}

/* The keys every success line of notification n starts with. */
static cJSON *line_head(const char *file, const struct cpis_notification *n)
{
    char ts[32];
    cJSON *o = cJSON_CreateObject();
    add_s(o, "file", file);
    cJSON_AddTrueToObject(o, "ok");
    add_s(o, "kind", kind_name(n->kind));
    /* a MESH report is ignored unread: no format, no created time, and its
     * MESH id (if any) as message_id */
    int unread = n->kind == REC_KIND_IGNORED && n->created == 0;
    if (!unread)
        add_s(o, "format", n->format == REC_FORMAT_FHIR ? "fhir" : "hl7v3");
    if (!unread || n->message_id[0])
        add_s(o, "message_id", n->message_id);
    if (!unread) {
        cpis_iso_format(n->created, ts, sizeof ts);
        add_s(o, "created", ts);
    }
    if (n->workflow_id[0])
        add_s(o, "workflow_id", n->workflow_id);
    return o;
}

static void access_line(struct runtime *rt, struct line_buf *b, const char *file,
                        const struct cpis_notification *n, size_t i)
{
    const struct cpis_access *a = &n->access[i];
    cJSON *o = line_head(file, n);
    char ts[32];
    struct wf_access w;
    cpis_enrich_access(rt, a, &w, n->message_id);
    cpis_iso_format(a->accessed_at, ts, sizeof ts);
    add_s(o, "accessed_at", ts);
    add_s(o, "nhs_number", a->nhs_number);
    add_s(o, "la_code", n->la_code);
    add_s(o, "location_code", w.place_code);
    if (strcmp(w.place_code, a->location_code) != 0)
        add_s(o, "location_code_in_message", a->location_code);
    /* the ODS name, the parent's, else the message's; "" when none is known */
    add_s(o, "location_name",
          w.place_resolved || w.place_via_parent || a->location_name[0] ? w.place : "");
    add_s(o, "location_resolution", w.place_resolved     ? "ods"
                                    : w.place_via_parent ? "parent"
                                    : a->location_name[0] ? "message"
                                                          : "none");
    if (w.place_in_message[0])
        add_s(o, "location_name_in_message", w.place_in_message);
    add_s(o, "setting", w.setting);
    add_s(o, "viewer", a->viewer);
    add_s(o, "viewer_role", a->viewer_role);
    add_s(o, "viewer_role_name", a->viewer_role_name);
    add_s(o, "author_kind", a->author_kind == AUTHOR_SYSTEM ? "system" : "person");
    if (a->author_kind == AUTHOR_SYSTEM) {
        if (a->system_asid[0])
            add_s(o, "system_asid", a->system_asid);
        if (a->system_name[0])
            add_s(o, "system_name", a->system_name);
    }
    if (a->access_id[0])
        add_s(o, "access_id", a->access_id);
    if (a->upload_file[0])
        add_s(o, "upload_file", a->upload_file);
    if (a->la_child_id[0])
        add_s(o, "la_child_id", a->la_child_id);
    cJSON_AddBoolToObject(o, "location_resolved", w.place_resolved);
    if (w.parent[0]) {
        struct cpis_ods_resolution r;
        cpis_ods_resolve(rt->ods, w.place_code, &r);
        add_s(o, "location_parent_code", r.parent_code);
        add_s(o, "location_parent_name", w.parent);
    }
    if (w.closed_on[0])
        add_s(o, "location_closed", w.closed_on);
    if (w.phone[0])
        add_s(o, "location_phone", w.phone);
    cJSON_AddNumberToObject(o, "record_index", (double)i);
    cJSON_AddNumberToObject(o, "records", (double)n->n_access);
    put_line(b, o);
}

static void inactive_line(struct line_buf *b, const char *file,
                          const struct cpis_notification *n, size_t i)
{
    const struct cpis_inactive_subject *s = &n->inactive[i];
    cJSON *o = line_head(file, n);
    add_s(o, "la_code", n->la_code);
    add_s(o, "nhs_number", s->nhs_number);
    if (s->replacement_nhs_number[0])
        add_s(o, "replacement_nhs_number", s->replacement_nhs_number);
    if (s->upload_file[0])
        add_s(o, "upload_file", s->upload_file);
    if (s->la_child_id[0])
        add_s(o, "la_child_id", s->la_child_id);
    cJSON_AddNumberToObject(o, "subject_index", (double)i);
    cJSON_AddNumberToObject(o, "subjects", (double)n->n_inactive);
    put_line(b, o);
}

static char *parse_lines(struct runtime *rt, const struct cpis_event *ev, int *rc_out)
{
    struct cpis_message m = {0, NULL};
    struct cpis_parse_error perr = {0, ""};
    const char *file = ev->source_name ? ev->source_name : "";
    int code = cpis_parse_event(ev, rt->cfg.max_message_bytes, &m, &perr);
    struct line_buf b = {NULL, 0, 0, 0};
    if (code != CPIS_MSG_OK) {
        cJSON *o = cJSON_CreateObject();
        add_s(o, "file", file);
        cJSON_AddFalseToObject(o, "ok");
        add_s(o, "error", cpis_message_error_name(code));
        add_s(o, "detail", perr.detail);
        put_line(&b, o);
    }
    for (size_t k = 0; k < m.n && !b.failed; k++) {
        const struct cpis_notification *n = &m.v[k];
        if (n->kind == REC_KIND_ACCESS) {
            for (size_t i = 0; i < n->n_access && !b.failed; i++)
                access_line(rt, &b, file, n, i);
        } else if (n->kind == REC_KIND_INACTIVE) {
            for (size_t i = 0; i < n->n_inactive && !b.failed; i++)
                inactive_line(&b, file, n, i);
        } else {
            cJSON *o = line_head(file, n);
            add_s(o, "la_code", n->la_code);
            if (n->kind == REC_KIND_IGNORED)
                add_s(o, "reason", n->reason);
            put_line(&b, o);
        }
    }
    cpis_message_free(&m);
    if (b.failed) {
        free(b.buf);
        return NULL;
    }
    *rc_out = code == CPIS_MSG_OK ? CPIS_OK : CPIS_REJECTED;
    return b.buf;
}

static int plugin_parse(struct cpis_plugin *p, const struct cpis_event *ev, char *out,
                        size_t cap, size_t *len)
{
    if (p == NULL || ev == NULL || (ev->payload == NULL && ev->payload_len > 0))
        return CPIS_ERR_INVALID_ARG;
    struct runtime *rt = rt_acquire(p);
    int rc = CPIS_ERR_NOMEM;
    char *lines = parse_lines(rt, ev, &rc);
    rt_release(p, rt);
    if (lines == NULL)
        return CPIS_ERR_NOMEM;
    size_t n = strlen(lines);
    if (len)
        *len = n + 1;
    if (out == NULL || cap < n + 1) {
        free(lines);
        return CPIS_ERR_BUFFER;
    }
    memcpy(out, lines, n + 1);
    free(lines);
    return rc;
}

/* ---- config check ---------------------------------------------------------- */

/* Adds "ods_files" to the effective JSON: per ODS file read, its rows read
 * and skipped (by reason), or why it is not an extract at all. */
static int add_ods_files(const struct cpis_ods *ods, char *effective, size_t eff_cap)
{
    cJSON *root = cJSON_Parse(effective);
    if (root == NULL)
        return CPIS_OK; /* not ours to judge: left as it is */
    cJSON *files = cJSON_AddArrayToObject(root, "ods_files");
    for (size_t i = 0; files != NULL && i < cpis_ods_file_count(ods); i++) {
        const struct cpis_ods_file_report *f = cpis_ods_file(ods, i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", f->path);
        cJSON_AddNumberToObject(o, "rows_read", (double)f->rows_read);
        cJSON_AddNumberToObject(o, "rows_skipped", (double)f->rows_skipped);
        cJSON *why = cJSON_AddObjectToObject(o, "skipped");
        for (int k = 0; k < ODS_SKIP_N; k++)
            if (f->skipped[k])
                cJSON_AddNumberToObject(why, cpis_ods_skip_reason(k), (double)f->skipped[k]);
        if (f->not_extract)
            cJSON_AddStringToObject(o, "not_an_extract", f->why);
        cJSON_AddItemToArray(files, o);
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (text == NULL)
        return CPIS_ERR_NOMEM;
    size_t n = strlen(text);
    int rc = n + 1 > eff_cap ? CPIS_ERR_BUFFER : CPIS_OK;
    if (rc == CPIS_OK)
        memcpy(effective, text, n + 1);
    free(text);
    return rc;
}

static int plugin_config_check(const struct cpis_config_source *src, char *err, size_t cap,
                               char *effective, size_t eff_cap)
{
    if (cpis_parse_init() != 0)
        return CPIS_ERR_INTERNAL;
    struct runtime *rt = runtime_build(src, err, cap);
    if (rt == NULL)
        return CPIS_ERR_CONFIG;
    if (effective && eff_cap) {
        size_t need = cpis_config_effective_json(&rt->cfg, effective, eff_cap);
        if (need + 1 > eff_cap) {
            runtime_free(rt);
            return CPIS_ERR_BUFFER;
        }
        int rc = add_ods_files(rt->ods, effective, eff_cap);
        if (rc != CPIS_OK) {
            runtime_free(rt);
            return rc;
        }
    }
    runtime_free(rt);
    if (err && cap)
        err[0] = '\0';
    return CPIS_OK;
}

static const struct cpis_descriptor descriptor = {
    .struct_size = sizeof(struct cpis_descriptor),
    .abi_major = CPIS_ABI_MAJOR,
    .abi_minor = CPIS_ABI_MINOR,
    .name = "cpis-notify",
    .version = PLUGIN_VERSION,
    .init = plugin_init,
    .shutdown = plugin_shutdown,
    .parse = plugin_parse,
    .status_name = status_name,
    .message_error_name = cpis_message_error_name,
    .config_check = plugin_config_check,
};

CPIS_EXPORT const struct cpis_descriptor *cpis_plugin_entry(void) { return &descriptor; }
