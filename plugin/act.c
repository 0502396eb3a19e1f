/*
 * act.c - one inbound event, from bytes to host writes, exactly once.
 *
 *   parse -> (reject: quarantine) -> enrich -> dedupe check -> per access:
 *   case lookup, child state read-decide-compare-and-set, carry out the
 *   actions -> mark seen.
 *
 * Exactly-once effects over at-least-once delivery:
 *   - every host write carries a key derived from the access content
 *     (wf_access_key), so repeating it is harmless;
 *   - the child state is updated with compare-and-set; a conflict (another
 *     thread or host node updated the child) re-reads and re-decides;
 *   - the "seen" markers are written last, so a delivery that failed half-way
 *     (CPIS_ERR_RETRY) is completed by the next one, which finds the access
 *     already in the child state and re-emits the same writes.
 */
#include <cjson/cJSON.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ids.h"
#include "internal.h"
#include "parse.h"
#include "state.h"

#define CAS_ATTEMPTS 64

int cpis_host_status(int rc)
{
    if (rc == CPIS_OK || rc == CPIS_ERR_RETRY)
        return rc;
    return CPIS_ERR_HOST;
}

static uint64_t fnv1a(const void *data, size_t len, uint64_t h)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}
#define FNV_BASIS 14695981039346656037ULL

/* ---- enrichment ------------------------------------------------------------ */

/* The access's idempotency key: child, access time, author, location. */
static void access_key(const struct cpis_access *a, char out[WF_KEY_MAX])
{
    const char *author = a->viewer_user_id[0]        ? a->viewer_user_id
                         : a->viewer_role_profile[0] ? a->viewer_role_profile
                         : a->system_asid[0]         ? a->system_asid
                                                     : a->viewer;
    wf_access_key(a->nhs_number, a->accessed_at, author, a->location_code, out);
}

/* A code in brackets at the end of the message's organisation name
 * ("... MEDICAL TEAM (RKEAA)"): copied into out (upper-case) when it is a
 * valid ODS code; returns 1 then. */
static int bracket_code(const char *name, char out[REC_CODE_MAX])
{
    size_t n = strlen(name);
    while (n > 0 && (name[n - 1] == ' ' || name[n - 1] == '\t'))
        n--;
    if (n < 3 || name[n - 1] != ')')
        return 0;
    size_t open = n - 1;
    while (open > 0 && name[open - 1] != '(')
        open--;
    if (open == 0)
        return 0;
    size_t len = n - 1 - open;
    if (len == 0 || len >= REC_CODE_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[open + i];
        out[i] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    out[len] = '\0';
    return cpis_ods_code_valid(out);
}

/* Same name, case, surrounding space and a trailing "(CODE)" aside (the
 * CP-IS FHIR API writes "NAME (CODE)"). */
static int same_name(const char *msg, const char *ods_name)
{
    char x[REC_TEXT_MAX], y[REC_TEXT_MAX], code[REC_CODE_MAX];
    cpis_copy_text(x, sizeof x, msg);
    cpis_copy_text(y, sizeof y, ods_name);
    if (bracket_code(x, code)) {
        char *open = strrchr(x, '(');
        if (open != NULL) {
            *open = '\0';
            char tmp[REC_TEXT_MAX];
            cpis_copy_text(tmp, sizeof tmp, x);
            memcpy(x, tmp, sizeof x);
        }
    }
    return strcasecmp(x, y) == 0;
}

void cpis_enrich_access(const struct runtime *rt, const struct cpis_access *a,
                        struct wf_access *w, const char *notification_id)
{
    memset(w, 0, sizeof *w);
    access_key(a, w->key);
    w->at = a->accessed_at;
    snprintf(w->notification_id, sizeof w->notification_id, "%s", notification_id);

    /* The bracketed code at the end of the message's name is tried first:
     * it is the more precise one (a team's site beside its trust's code). */
    struct cpis_ods_resolution r;
    const char *code = a->location_code;
    char bc[REC_CODE_MAX];
    if (bracket_code(a->location_name, bc) && strcasecmp(bc, a->location_code) != 0) {
        cpis_ods_resolve(rt->ods, bc, &r);
        if (r.resolved || r.via_parent)
            code = bc;
    }
    cpis_ods_resolve(rt->ods, code, &r);
    snprintf(w->place_code, sizeof w->place_code, "%s", code);
    if (r.resolved && r.name) {
        snprintf(w->place, sizeof w->place, "%s", r.name);
        w->place_resolved = 1;
    } else if (r.via_parent && r.parent_name) {
        snprintf(w->place, sizeof w->place, "%s", r.parent_name);
        w->place_via_parent = 1;
    } else {
        snprintf(w->place, sizeof w->place, "%s", a->location_name[0] ? a->location_name
                                                                     : code);
    }
    if (a->location_name[0] && !same_name(a->location_name, w->place))
        snprintf(w->place_in_message, sizeof w->place_in_message, "%s", a->location_name);
    if (r.parent_name)
        snprintf(w->parent, sizeof w->parent, "%s", r.parent_name);
    if (r.closed)
        snprintf(w->closed_on, sizeof w->closed_on, "%s", r.close_date ? r.close_date : "closed");
    snprintf(w->setting, sizeof w->setting, "%s", r.setting ? r.setting : "unknown");
    if (r.phone)
        snprintf(w->phone, sizeof w->phone, "%s", r.phone);
    snprintf(w->viewer, sizeof w->viewer, "%s", a->viewer);
    snprintf(w->role, sizeof w->role, "%s", a->viewer_role);
    snprintf(w->role_name, sizeof w->role_name, "%s", a->viewer_role_name);
    w->system = a->author_kind == AUTHOR_SYSTEM;
    snprintf(w->system_name, sizeof w->system_name, "%s", a->system_name);
}

/* ---- host state helpers ---------------------------------------------------- */

/* Read a key; *val is malloc'd (NUL-terminated) or NULL when absent. */
static int state_read(struct cpis_plugin *p, const char *key, char **val, size_t *len,
                      uint64_t *version)
{
    const struct cpis_host_api *h = p->host;
    size_t cap = 4096;
    *val = NULL;
    *len = 0;
    *version = 0;
    for (int attempt = 0; attempt < 4; attempt++) {
        char *buf = malloc(cap + 1);
        if (buf == NULL)
            return CPIS_ERR_NOMEM;
        size_t n = 0;
        uint64_t v = 0;
        int rc = h->state_get(h->ctx, key, buf, cap, &n, &v);
        if (rc == CPIS_OK) {
            if (n > cap) {
                free(buf);
                return CPIS_ERR_HOST;
            }
            buf[n] = '\0';
            *val = buf;
            *len = n;
            *version = v;
            return CPIS_OK;
        }
        free(buf);
        if (rc == CPIS_ERR_NOT_FOUND)
            return CPIS_OK;
        if (rc == CPIS_ERR_BUFFER && n > cap) {
            /* room for the value as it is now, plus headroom: another node
             * may make it longer before the next read */
            cap = n + n / 2 + 256;
            continue;
        }
        return cpis_host_status(rc);
    }
    /* the value kept growing faster than we read it: contention, not a
     * host failure; the host delivers again later */
    return CPIS_ERR_RETRY;
}

/* Create-only put.  *owner_matches tells whether an existing value equals
 * value (our own earlier, partial attempt) or belongs to someone else. */
static int state_claim(struct cpis_plugin *p, const char *key, const char *value,
                       int *already, int *ours)
{
    const struct cpis_host_api *h = p->host;
    *already = 0;
    *ours = 1;
    int rc = h->state_put(h->ctx, key, value, strlen(value), 0);
    if (rc == CPIS_OK)
        return CPIS_OK;
    if (rc != CPIS_ERR_CONFLICT)
        return cpis_host_status(rc);
    *already = 1;
    char *cur = NULL;
    size_t len;
    uint64_t ver;
    rc = state_read(p, key, &cur, &len, &ver);
    if (rc != CPIS_OK)
        return rc;
    *ours = cur != NULL && strcmp(cur, value) == 0;
    free(cur);
    return CPIS_OK;
}

/* A delivery's source (file) name as log lines show it: NHS-number digits
 * and name-like words masked (scrub.h), so that child-944-930-5552-Patel.xml
 * is logged as child-***-***-5552-P****.xml.  The buffer is a compound
 * literal: it lives until the end of the enclosing block, i.e. the call. */
static const char *log_name(const struct cpis_event *ev, char *buf, size_t cap)
{
    cpis_scrub_file_name(ev->source_name ? ev->source_name : "(unnamed)", buf, cap);
    return buf;
}
#define LOG_NAME(ev) log_name((ev), (char[256]){0}, 256)

/* ---- quarantine ------------------------------------------------------------ */

static int quarantine(struct cpis_plugin *p, const struct cpis_event *ev, int code,
                      const char *detail, const char *nid, struct cpis_outcome *out)
{
    const struct cpis_host_api *h = p->host;
    char qid[64];
    const char *tid = ev->transport_id && ev->transport_id[0] ? ev->transport_id : NULL;
    uint64_t hash = fnv1a(ev->payload, ev->payload_len, FNV_BASIS);
    if (tid)
        hash = fnv1a(tid, strlen(tid), hash);
    snprintf(qid, sizeof qid, "q-%016llx", (unsigned long long)hash);
    const char *name = cpis_message_error_name(code);
    struct cpis_quarantine q = {
        .struct_size = sizeof q,
        .error = (uint32_t)code,
        .quarantine_id = qid,
        .error_name = name,
        .detail = detail,
        .source_name = ev->source_name ? ev->source_name : "",
        .transport_id = tid ? tid : "",
        .notification_id = nid ? nid : "",
        .payload = ev->payload,
        .payload_len = ev->payload_len,
    };
    if (out) {
        out->error = (uint32_t)code;
        snprintf(out->detail, sizeof out->detail, "%s", detail); /* the code is in out->error */
        cpis_scrub_digits(out->detail);
    }
    int rc = h->quarantine(h->ctx, &q);
    cpis_log(p, CPIS_LOG_WARN, "message %s rejected (%s): %s; quarantined as %s",
             LOG_NAME(ev), name, detail, qid);
    if (rc != CPIS_OK)
        return cpis_host_status(rc);
    return CPIS_REJECTED;
}

/* ---- carrying out actions -------------------------------------------------- */

/* What a landing entry / case note adds to its episode's detail: the case,
 * the child as the host knows them, the entry's state and the repeat count
 * (docs/host-integration.md lists the keys). */
/* Keys are string literals and most values live in the episode for the
 * whole print: cJSON is told so (const keys, string references), which
 * spares two allocations and copies per field of every landing entry,
 * case note and record.  add_str copies (values in local buffers). */
static void add_item(cJSON *o, const char *lit_key, cJSON *v)
{
    if (v != NULL && !cJSON_AddItemToObjectCS(o, lit_key, v))
        cJSON_Delete(v);
}

static void add_str(cJSON *o, const char *lit_key, const char *v)
{
    add_item(o, lit_key, cJSON_CreateString(v));
}

static void add_ref(cJSON *o, const char *lit_key, const char *stable)
{
    if (stable == NULL)
        return; /* as cJSON_AddStringToObject: no key for no value */
    add_item(o, lit_key, cJSON_CreateStringReference(stable));
}

/* An ODS name as people read it (wf_display_name: title case). */
static void add_display(cJSON *o, const char *lit_key, const char *name)
{
    char shown[WF_STR_MAX];
    wf_display_name(name, shown, sizeof shown);
    add_str(o, lit_key, shown);
}

static void add_bool(cJSON *o, const char *lit_key, int v)
{
    add_item(o, lit_key, cJSON_CreateBool(v));
}

static void add_num(cJSON *o, const char *lit_key, double v)
{
    add_item(o, lit_key, cJSON_CreateNumber(v));
}

static void add_document_detail(cJSON *o, const struct wf_action *act,
                                const struct cpis_case *c)
{
    char ts[32];
    add_ref(o, "case_id", act->case_id);
    add_ref(o, "child_name", c ? c->child_name : "");
    add_ref(o, "date_of_birth", c ? c->date_of_birth : "");
    add_ref(o, "worker", act->worker);
    add_ref(o, "team", act->team);
    add_ref(o, "state", act->done ? "done" : "awaiting_action");
    if (act->done) {
        cpis_iso_format(act->done_at, ts, sizeof ts);
        add_str(o, "done_at", ts);
    }
    const struct wf_repeat *r = act->repeat;
    add_num(o, "episodes_in_window", r->count);
    add_bool(o, "repeat", r->repeat);
    add_num(o, "repeat_window_days", r->window_days);
    add_num(o, "repeat_threshold", r->threshold);
    char *line = wf_render_repeat_line(r);
    add_str(o, "repeat_text", line ? line : "");
    free(line);
    cJSON *earlier = cJSON_AddArrayToObject(o, "earlier");
    for (size_t i = 0; earlier && i < r->n_earlier; i++) {
        cJSON *x = cJSON_CreateObject();
        cpis_iso_format(r->earlier[i].at, ts, sizeof ts);
        add_str(x, "first", ts);
        add_ref(x, "place", r->earlier[i].place);
        cJSON_AddItemToArray(earlier, x);
    }
}

static char *episode_json(const struct wf_episode *e, const struct wf_action *act,
                          const struct cpis_case *c)
{
    cJSON *o = cJSON_CreateObject();
    add_ref(o, "episode", e->id);
    char ts[32];
    cpis_iso_format(e->first, ts, sizeof ts);
    add_str(o, "first", ts);
    cpis_iso_format(e->last, ts, sizeof ts);
    add_str(o, "last", ts);
    if (act && act->repeat)
        add_document_detail(o, act, c);
    cJSON *tl = cJSON_AddArrayToObject(o, "timeline");
    for (size_t i = 0; i < e->n; i++) {
        const struct wf_access *a = &e->acc[i];
        cJSON *s = cJSON_CreateObject();
        cpis_iso_format(a->at, ts, sizeof ts);
        add_str(s, "at", ts);
        add_ref(s, "place", a->place);
        add_ref(s, "code", a->place_code);
        add_bool(s, "resolved", a->place_resolved);
        add_ref(s, "parent", a->parent);
        /* for people: names in title case (wf_display_name), the message's
         * own name when it differs, "a site of" and closed organisations */
        add_display(s, "place_display", a->place);
        add_display(s, "parent_display", a->parent);
        if (a->place_via_parent)
            add_bool(s, "via_parent", 1);
        if (a->place_in_message[0]) {
            add_ref(s, "in_message", a->place_in_message);
            add_display(s, "in_message_display", a->place_in_message);
        }
        if (a->closed_on[0])
            add_ref(s, "closed", a->closed_on);
        add_ref(s, "setting", a->setting);
        add_ref(s, "setting_label", wf_setting_label(a->setting));
        char phone[48];
        wf_format_phone(a->phone, phone, sizeof phone);
        add_str(s, "phone", phone);
        add_ref(s, "viewer", a->viewer);
        add_ref(s, "role", a->role);
        add_ref(s, "role_name", a->role_name);
        add_bool(s, "system", a->system);
        add_ref(s, "system_name", a->system_name);
        add_ref(s, "notification", a->notification_id);
        cJSON_AddItemToArray(tl, s);
    }
    char *str = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return str;
}

static char *record_json(const struct wf_access *a)
{
    struct wf_episode one = {.n = 1, .acc = (struct wf_access *)a, .first = a->at,
                             .last = a->at};
    snprintf(one.id, sizeof one.id, "%s", a->key);
    return episode_json(&one, NULL, NULL);
}

/* The episode's machine-readable detail, built once per decision and shared
 * by the landing entry and the case-note stub of the same episode. */
struct detail_cache {
    const struct wf_episode *episode;
    const struct cpis_case *c;   /* the case the documents are about */
    char *json;
};

static const char *episode_detail(struct detail_cache *dc, const struct wf_action *act)
{
    const struct wf_episode *e = act->episode;
    if (e == NULL)
        return NULL;
    if (dc->episode != e || dc->json == NULL) {
        free(dc->json);
        dc->json = episode_json(e, act, dc->c);
        dc->episode = e;
    }
    return dc->json;
}

static int do_action(struct cpis_plugin *p, const struct wf_action *act,
                     const struct wf_access *a, const char *nhs,
                     struct detail_cache *dc)
{
    const struct cpis_host_api *h = p->host;
    int rc = CPIS_OK;
    switch (act->kind) {
    case WF_ACT_RECORD: {
        char *detail = record_json(a);
        struct cpis_record r = {
            .struct_size = sizeof r,
            .record_id = act->id,
            .nhs_number = nhs,
            .case_id = act->case_id,
            .notification_id = act->notification_id,
            .summary = act->title ? act->title : "",
            .detail_json = detail ? detail : "{}",
            .accessed_at = act->at,
        };
        rc = h->keep_record(h->ctx, &r);
        free(detail);
        break;
    }
    case WF_ACT_ITEM: {
        struct cpis_item it = {
            .struct_size = sizeof it,
            .kind = (uint32_t)act->item_kind,
            .item_id = act->id,
            .case_id = act->case_id,
            .recipient = act->recipient,
            .notification_id = act->notification_id,
            .subject = act->title ? act->title : "",
            .body = act->body ? act->body : "",
            .followup = (uint32_t)act->followup,
            .occurred_at = act->at,
            .access_id = act->access_key,
        };
        rc = h->create_item(h->ctx, &it);
        break;
    }
    case WF_ACT_LANDING:
    case WF_ACT_CASE_NOTE: {
        int (*fn)(void *, const struct cpis_document *) =
            act->kind == WF_ACT_LANDING ? h->publish_landing : h->write_case_note;
        if (fn == NULL)
            return CPIS_OK; /* degraded host: logged at init */
        const char *detail = episode_detail(dc, act);
        struct cpis_document d = {
            .struct_size = sizeof d,
            .revision = act->revision,
            .id = act->id,
            .case_id = act->case_id,
            .worker = act->worker,
            .team = act->team,
            .notification_id = act->notification_id,
            .title = act->title ? act->title : "",
            .body = act->body ? act->body : "",
            .detail_json = detail,
            .updated_at = act->at,
        };
        rc = fn(h->ctx, &d);
        break;
    }
    default:
        return CPIS_ERR_INTERNAL;
    }
    return cpis_host_status(rc);
}

/* ---- one access -------------------------------------------------------------- */

/* The host's case for the child.  The child's name and date of birth
 * (appended in ABI 1.1) are read only from a host whose table says 1.1 or
 * later and which left struct_size covering them; from a 1.0 host they stay
 * "" and the texts say the name is not known to the host. */
static int lookup_case(struct cpis_plugin *p, const char *nhs, struct cpis_case *c)
{
    const struct cpis_host_api *h = p->host;
    memset(c, 0, sizeof *c);
    c->struct_size = sizeof *c;
    int rc = h->case_lookup(h->ctx, nhs, c);
    if (rc == CPIS_ERR_NOT_FOUND) {
        memset(c, 0, sizeof *c);
        c->struct_size = sizeof *c;
        c->status = CPIS_CASE_UNKNOWN;
    } else if (rc != CPIS_OK) {
        return cpis_host_status(rc);
    }
    if (c->status != CPIS_CASE_OPEN && c->status != CPIS_CASE_CLOSED)
        c->status = CPIS_CASE_UNKNOWN;
    c->case_id[sizeof c->case_id - 1] = c->worker[sizeof c->worker - 1] = '\0';
    c->manager[sizeof c->manager - 1] = c->team[sizeof c->team - 1] = '\0';
    if (h->abi_minor >= 1 && CPIS_HAS_FIELD(c, struct cpis_case, date_of_birth)) {
        c->child_name[sizeof c->child_name - 1] = '\0';
        c->date_of_birth[sizeof c->date_of_birth - 1] = '\0';
    } else {
        c->child_name[0] = c->date_of_birth[0] = '\0';
    }
    c->struct_size = sizeof *c; /* our own copy from here on */
    return CPIS_OK;
}

static int process_access(struct cpis_plugin *p, const struct runtime *rt,
                          const struct cpis_access *a, const char *nid)
{
    const struct cpis_host_api *h = p->host;
    struct cpis_case c;
    int rc = lookup_case(p, a->nhs_number, &c);
    if (rc != CPIS_OK)
        return rc;

    struct wf_access w;
    cpis_enrich_access(rt, a, &w, nid);
    char display[16], key[32];
    cpis_nhs_display(a->nhs_number, display, sizeof display);
    snprintf(key, sizeof key, "child/%s", a->nhs_number);

    struct wf_child child;
    struct wf_actions acts;
    int decided = 0;
    for (int attempt = 0; attempt < CAS_ATTEMPTS && !decided; attempt++) {
        char *val = NULL;
        size_t len = 0;
        uint64_t ver = 0;
        rc = state_read(p, key, &val, &len, &ver);
        if (rc != CPIS_OK)
            return rc;
        memset(&child, 0, sizeof child);
        if (val != NULL && cpis_state_decode(val, len, &child) != 0) {
            free(val);
            cpis_log(p, CPIS_LOG_ERROR, "stored state for a child is unreadable; not touched");
            return CPIS_ERR_INTERNAL;
        }
        free(val);
        memset(&acts, 0, sizeof acts);
        if (wf_decide_access(&rt->pol, &c, display, &w, &child, &acts) != 0) {
            wf_child_free(&child);
            return CPIS_ERR_NOMEM;
        }
        if (!acts.new_access) {
            decided = 1; /* a re-delivery: the state already holds it */
            break;
        }
        char *enc = cpis_state_encode(&child);
        if (enc == NULL) {
            wf_actions_free(&acts);
            wf_child_free(&child);
            return CPIS_ERR_NOMEM;
        }
        rc = h->state_put(h->ctx, key, enc, strlen(enc), ver);
        free(enc);
        if (rc == CPIS_OK) {
            decided = 1;
        } else {
            wf_actions_free(&acts);
            wf_child_free(&child);
            if (rc != CPIS_ERR_CONFLICT)
                return cpis_host_status(rc);
            sched_yield(); /* let the writer that won finish its turn */
        }
    }
    if (!decided) {
        cpis_log(p, CPIS_LOG_WARN, "child state kept changing under us; retry later");
        return CPIS_ERR_RETRY;
    }

    /* The episode this access founded (if any) is counted once, through a
     * create-only state key; re-emitted on re-delivery, idempotent. */
    rc = CPIS_OK;
    char epkey[64];
    snprintf(epkey, sizeof epkey, "ep-%s", w.key);
    for (size_t i = 0; i < child.n_ep && rt->pol.episodes; i++) {
        if (strcmp(child.ep[i].id, epkey) == 0) {
            char k[96];
            snprintf(k, sizeof k, "episode/%s", epkey);
            int already, ours;
            rc = state_claim(p, k, c.case_id[0] ? c.case_id : "-", &already, &ours);
            break;
        }
    }
    struct detail_cache dc = {NULL, &c, NULL};
    for (size_t i = 0; rc == CPIS_OK && i < acts.n; i++)
        rc = do_action(p, &acts.v[i], &w, a->nhs_number, &dc);
    free(dc.json);
    cpis_log(p, CPIS_LOG_DEBUG,
             "access at %s (%s): case %s, %s, %zu action(s)%s", w.place_code,
             w.setting,
             c.status == CPIS_CASE_OPEN     ? "open"
             : c.status == CPIS_CASE_CLOSED ? "closed"
                                            : "unknown to the host",
             acts.new_access ? "new" : "already recorded (re-delivery)", acts.n,
             rc == CPIS_OK ? "" : ", stopped by a host failure");

    wf_actions_free(&acts);
    wf_child_free(&child);
    return rc;
}

static int process_inactive(struct cpis_plugin *p, const struct runtime *rt,
                            const struct cpis_notification *n)
{
    int rc = CPIS_OK;
    /* One data-quality item per subject: each child is its own item. */
    for (size_t k = 0; rc == CPIS_OK && k < n->n_inactive; k++) {
        const struct cpis_inactive_subject *s = &n->inactive[k];
        char display[16], repl[16] = "";
        cpis_nhs_mask(s->nhs_number, display, sizeof display);
        if (s->replacement_nhs_number[0])
            cpis_nhs_mask(s->replacement_nhs_number, repl, sizeof repl);
        struct wf_actions acts;
        memset(&acts, 0, sizeof acts);
        if (wf_decide_inactive(&rt->pol, n->message_id, k, display, repl, n->la_code,
                               s->upload_file, n->created, &acts) != 0)
            return CPIS_ERR_NOMEM;
        struct detail_cache dc = {NULL, NULL, NULL};
        for (size_t i = 0; rc == CPIS_OK && i < acts.n; i++)
            rc = do_action(p, &acts.v[i], NULL, s->nhs_number, &dc);
        free(dc.json);
        wf_actions_free(&acts);
    }
    return rc;
}

/* ---- dedupe ---------------------------------------------------------------- */

static void content_key(const struct cpis_notification *n, char *out, size_t cap)
{
    out[0] = '\0';
    uint64_t h = FNV_BASIS;
    if (n->kind == REC_KIND_ACCESS) {
        /* order-independent: xor of per-access hashes, then mixed */
        uint64_t x = 0;
        for (size_t i = 0; i < n->n_access; i++) {
            char key[WF_KEY_MAX];
            access_key(&n->access[i], key);
            x ^= fnv1a(key, strlen(key), FNV_BASIS);
        }
        h = fnv1a(&x, sizeof x, h);
    } else if (n->kind == REC_KIND_INACTIVE) {
        h = fnv1a("inactive|", 9, h);
        for (size_t i = 0; i < n->n_inactive; i++) {
            const struct cpis_inactive_subject *s = &n->inactive[i];
            h = fnv1a(s->nhs_number, strlen(s->nhs_number), h);
            h = fnv1a("|", 1, h);
            h = fnv1a(s->upload_file, strlen(s->upload_file), h);
            h = fnv1a("|", 1, h);
        }
    } else {
        return; /* an empty notification has no content to compare */
    }
    snprintf(out, cap, "seen/content/%016llx", (unsigned long long)h);
}

/* Returns CPIS_OK with *dup set when another message already did this. */
static int dedupe_check(struct cpis_plugin *p, const char *const keys[3], const char *nid,
                        int *dup)
{
    *dup = 0;
    for (int i = 0; i < 3 && !*dup; i++) {
        if (keys[i] == NULL || keys[i][0] == '\0')
            continue;
        char *val = NULL;
        size_t len;
        uint64_t ver;
        int rc = state_read(p, keys[i], &val, &len, &ver);
        if (rc != CPIS_OK)
            return rc;
        /* The id key means done; the others mean done by another message
         * unless they hold our own id (our earlier, partial attempt). */
        if (val != NULL && (i == 0 || strcmp(val, nid) != 0))
            *dup = 1;
        free(val);
    }
    return CPIS_OK;
}

static const char *kind_name(int kind)
{
    return kind == REC_KIND_ACCESS     ? "access"
           : kind == REC_KIND_INACTIVE ? "inactive_nhs_number"
           : kind == REC_KIND_IGNORED  ? "ignored"
                                       : "empty";
}

/* One notification of the file: dedupe, act, mark seen.  Returns CPIS_OK,
 * CPIS_DUPLICATE or a host status. */
static int handle_one(struct cpis_plugin *p, struct runtime *rt, const struct cpis_event *ev,
                      const struct cpis_notification *n, int first)
{
    const char *src = LOG_NAME(ev);
    char k_id[REC_ID_MAX + 16], k_content[64];
    char *k_mesh = NULL;
    snprintf(k_id, sizeof k_id, "seen/id/%s", n->message_id);
    /* The MESH id names the whole file: it dedupes the file's first
     * notification only (the others have their own ids and contents).  It
     * is kept whole in its key, never cut: two ids sharing a long prefix
     * are two messages. */
    if (first && ev->transport_id && ev->transport_id[0]) {
        size_t need = strlen(ev->transport_id) + sizeof "seen/mesh/";
        k_mesh = malloc(need);
        if (k_mesh == NULL)
            return CPIS_ERR_NOMEM;
        snprintf(k_mesh, need, "seen/mesh/%s", ev->transport_id);
    }
    content_key(n, k_content, sizeof k_content);
    const char *keys[3] = {k_id, k_mesh != NULL ? k_mesh : "", k_content};

    int dup = 0;
    int rc = dedupe_check(p, keys, n->message_id, &dup);
    if (rc == CPIS_OK && dup) {
        cpis_log(p, CPIS_LOG_INFO, "message %s: notification is a duplicate: no action", src);
        free(k_mesh);
        return CPIS_DUPLICATE;
    }
    for (size_t i = 0; rc == CPIS_OK && i < n->n_access && n->kind == REC_KIND_ACCESS; i++)
        rc = process_access(p, rt, &n->access[i], n->message_id);
    if (rc == CPIS_OK && n->kind == REC_KIND_INACTIVE)
        rc = process_inactive(p, rt, n);

    /* Mark seen: content and transport keys first, the id key last (it is
     * what says "finished"). */
    for (int i = 2; rc == CPIS_OK && i >= 0; i--) {
        if (keys[i][0] == '\0')
            continue;
        int already = 0, ours = 1;
        rc = state_claim(p, keys[i], n->message_id, &already, &ours);
        if (rc == CPIS_OK && already && (i == 0 || !ours))
            rc = CPIS_DUPLICATE; /* another delivery finished it first */
    }
    free(k_mesh);
    return rc;
}

int cpis_handle_event(struct cpis_plugin *p, struct runtime *rt, const struct cpis_event *ev,
                      struct cpis_outcome *out)
{
    if (out && out->struct_size >= sizeof *out) {
        out->error = 0;
        out->accesses = 0;
        out->kind[0] = out->notification_id[0] = out->detail[0] = '\0';
    } else {
        out = NULL; /* an older, shorter outcome: not written */
    }
    const char *src = LOG_NAME(ev);
    struct cpis_message m = {0, NULL};
    struct cpis_parse_error perr = {0, ""};
    int code = cpis_parse_event(ev, rt->cfg.max_message_bytes, &m, &perr);
    if (code != CPIS_MSG_OK)
        return quarantine(p, ev, code, perr.detail, "", out);

    if (out) {
        /* The outcome describes the file's first notification; the access
         * count covers them all. */
        snprintf(out->kind, sizeof out->kind, "%s", kind_name(m.v[0].kind));
        snprintf(out->notification_id, sizeof out->notification_id, "%s", m.v[0].message_id);
        if (m.n > 1)
            snprintf(out->detail, sizeof out->detail, "%zu notifications in one file", m.n);
    }
    int rc = CPIS_OK;
    size_t handled = 0, dups = 0, accesses = 0;
    for (size_t i = 0; i < m.n && (rc == CPIS_OK || rc == CPIS_DUPLICATE); i++) {
        const struct cpis_notification *n = &m.v[i];
        if (n->kind == REC_KIND_IGNORED) {
            /* Not a notification: passed by, neither quarantined nor an error. */
            cpis_log(p, CPIS_LOG_INFO, "message %s ignored: %s", src, n->reason);
            if (out && m.n == 1)
                snprintf(out->detail, sizeof out->detail, "%s", n->reason);
            rc = CPIS_OK;
            continue;
        }
        handled++;
        rc = handle_one(p, rt, ev, n, handled == 1);
        if (rc == CPIS_DUPLICATE)
            dups++;
        else if (rc == CPIS_OK)
            accesses += n->kind == REC_KIND_ACCESS ? n->n_access : 0;
    }
    if (out)
        out->accesses = (uint32_t)accesses;
    if (rc == CPIS_OK || rc == CPIS_DUPLICATE) {
        /* a duplicate only when every notification of the file was one */
        rc = handled > 0 && dups == handled ? CPIS_DUPLICATE : CPIS_OK;
        if (rc == CPIS_DUPLICATE) {
            cpis_log(p, CPIS_LOG_INFO, "message %s is a duplicate: no action", src);
            if (out)
                snprintf(out->detail, sizeof out->detail, "already handled");
        } else {
            cpis_log(p, CPIS_LOG_DEBUG,
                     "message %s handled: %zu notification(s), %zu access record(s)", src,
                     m.n, accesses);
        }
    } else if (rc == CPIS_ERR_RETRY) {
        cpis_log(p, CPIS_LOG_WARN, "a host call failed transiently on %s; deliver it again",
                 src);
    } else if (rc == CPIS_ERR_HOST) {
        cpis_log(p, CPIS_LOG_ERROR, "a host call failed on %s", src);
    }
    if (rc != CPIS_OK && rc != CPIS_DUPLICATE && out)
        snprintf(out->detail, sizeof out->detail, "host call failed: %s",
                 rc == CPIS_ERR_RETRY ? "transient, retry" : "permanent");
    cpis_message_free(&m);
    return rc;
}

/* ---- the version 5 -> 6 switch ---------------------------------------------- */

int cpis_apply_switch(struct cpis_plugin *p, const struct runtime *rt)
{
    const struct cpis_host_api *h = p->host;
    static const char key[] = "config/applied";
    char *val = NULL;
    size_t len = 0;
    uint64_t ver = 0;
    int rc = state_read(p, key, &val, &len, &ver);
    int was_ta = 0, was_fr = 0, had = val != NULL;
    if (rc == CPIS_OK && val) {
        cJSON *o = cJSON_ParseWithLength(val, len);
        was_ta = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "task_activities"));
        was_fr = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "first_response_routing"));
        cJSON_Delete(o);
    }
    free(val);
    int now_ta = rt->pol.task_activities, now_fr = rt->pol.first_response_routing;
    struct {
        int was, now, kind;
        const char *what, *reason;
    } sw[2] = {
        {was_ta, now_ta, CPIS_ITEM_TASK_ACTIVITY, "task activities",
         "Closed automatically: CP-IS notifications no longer create task activities "
         "(workflow version 6). The notification stays on the child's record and appears "
         "in the practitioner's CP-IS landing-page module."},
        {was_fr, now_fr, CPIS_ITEM_FIRST_RESPONSE_ALERT, "First Response alerts",
         "Closed automatically: CP-IS notifications on closed cases are no longer routed "
         "to First Response (workflow version 6). The health professional who viewed the "
         "record refers if the threshold is met; the notification stays on the child's "
         "record."},
    };
    for (int i = 0; rc == CPIS_OK && i < 2; i++) {
        if (!(sw[i].was && !sw[i].now))
            continue;
        if (h->close_items == NULL) {
            cpis_log(p, CPIS_LOG_WARN,
                     "%s were switched off but the host cannot close items: close the open "
                     "ones by hand", sw[i].what);
            continue;
        }
        uint64_t closed = 0;
        rc = cpis_host_status(h->close_items(h->ctx, sw[i].kind, sw[i].reason, &closed));
        if (rc == CPIS_OK)
            cpis_log(p, CPIS_LOG_INFO, "%s switched off: closed %llu open item(s)", sw[i].what,
                     (unsigned long long)closed);
    }
    if (rc == CPIS_OK && (!had || was_ta != now_ta || was_fr != now_fr)) {
        char now[96];
        snprintf(now, sizeof now, "{\"task_activities\":%s,\"first_response_routing\":%s}",
                 now_ta ? "true" : "false", now_fr ? "true" : "false");
        rc = h->state_put(h->ctx, key, now, strlen(now), ver);
        if (rc == CPIS_ERR_CONFLICT)
            rc = CPIS_OK; /* another node applied a config at the same time */
        rc = cpis_host_status(rc);
    }
    pthread_mutex_lock(&p->lock);
    p->switch_pending = rc != CPIS_OK;
    pthread_mutex_unlock(&p->lock);
    if (rc != CPIS_OK)
        cpis_log(p, CPIS_LOG_WARN, "recording the applied workflow failed; will try again");
    return rc;
}

/* ---- a case note completed (ABI 1.1 hook) ------------------------------------ */

int cpis_note_completed(struct cpis_plugin *p, const struct runtime *rt,
                        const struct cpis_note_completion *nc)
{
    const struct cpis_host_api *h = p->host;
    char nhs[16];
    if (!CPIS_HAS_FIELD(nc, struct cpis_note_completion, completed_at) ||
        nc->note_id == NULL || nc->nhs_number == NULL ||
        cpis_nhs_normalise(nc->nhs_number, nhs, sizeof nhs) != 0) {
        cpis_log(p, CPIS_LOG_WARN, "note completion refused: %s",
                 nc == NULL || nc->note_id == NULL ? "no note id"
                                                   : "not a valid NHS number");
        return CPIS_ERR_INVALID_ARG;
    }
    struct cpis_case c;
    int rc = lookup_case(p, nhs, &c);
    if (rc != CPIS_OK)
        return rc;
    char display[16], key[32];
    cpis_nhs_display(nhs, display, sizeof display);
    snprintf(key, sizeof key, "child/%s", nhs);
    int64_t at = nc->completed_at;
    for (int attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
        char *val = NULL;
        size_t len = 0;
        uint64_t ver = 0;
        rc = state_read(p, key, &val, &len, &ver);
        if (rc != CPIS_OK)
            return rc;
        struct wf_child child;
        memset(&child, 0, sizeof child);
        if (val == NULL || cpis_state_decode(val, len, &child) != 0) {
            free(val);
            cpis_log(p, CPIS_LOG_WARN, "note %s completed: the plugin holds no state "
                     "for its child", nc->note_id);
            return CPIS_ERR_NOT_FOUND;
        }
        free(val);
        struct wf_actions acts;
        int d = wf_decide_note_done(&rt->pol, &c, display, nc->note_id, at, &child, &acts);
        if (d != 0) {
            wf_child_free(&child);
            if (d < 0)
                return CPIS_ERR_NOMEM;
            cpis_log(p, CPIS_LOG_WARN, "note %s completed: its episode is no longer "
                     "kept (or not this child's); the landing entry is unchanged",
                     nc->note_id);
            return CPIS_ERR_NOT_FOUND;
        }
        if (acts.new_access) {
            char *enc = cpis_state_encode(&child);
            rc = enc ? h->state_put(h->ctx, key, enc, strlen(enc), ver) : CPIS_ERR_NOMEM;
            free(enc);
            if (rc == CPIS_ERR_CONFLICT) {
                wf_actions_free(&acts);
                wf_child_free(&child);
                sched_yield();
                continue;
            }
            rc = rc == CPIS_ERR_NOMEM ? rc : cpis_host_status(rc);
        }
        struct detail_cache dc = {NULL, &c, NULL};
        for (size_t i = 0; rc == CPIS_OK && i < acts.n; i++)
            rc = do_action(p, &acts.v[i], NULL, nhs, &dc);
        free(dc.json);
        cpis_log(p, CPIS_LOG_INFO, "note %s completed: landing entry %s", nc->note_id,
                 acts.new_access ? "marked done" : "was already done");
        wf_actions_free(&acts);
        wf_child_free(&child);
        return rc;
    }
    cpis_log(p, CPIS_LOG_WARN, "child state kept changing under us; retry later");
    return CPIS_ERR_RETRY;
}
