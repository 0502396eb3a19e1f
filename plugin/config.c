/*
 * config.c - the administrators' configuration (docs/reference.md,
 * "Configuration keys"), validated with cJSON.
 *
 * Every problem is reported, one per line, naming the key and what was
 * expected; a config with any problem is refused whole so that a bad config
 * never replaces a good one.  Unknown keys are errors (a typo in a flag name
 * must not silently leave the legacy workflow on).
 */
#include "config.h"
#include "cpis/plugin.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "json.h"
#include "ods.h"

const char *const cpis_flag_names[FLAG_COUNT_] = {
    [FLAG_TASK_ACTIVITIES] = "task_activities",
    [FLAG_FIRST_RESPONSE_ROUTING] = "first_response_routing",
    [FLAG_LANDING_PAGE] = "landing_page",
    [FLAG_CASE_NOTE_STUBS] = "case_note_stubs",
    [FLAG_EPISODES] = "episodes",
};

/* Defaults per workflow version: version 5 = the legacy process, version 6 =
 * the revised policy (docs/reference.md, docs/glossary.md). */
static int flag_default(int version, int flag)
{
    int legacy = (flag == FLAG_TASK_ACTIVITIES || flag == FLAG_FIRST_RESPONSE_ROUTING);
    return version == 5 ? legacy : !legacy;
}

struct problems {
    char *buf;
    size_t cap, len;
    int count;
};

static void problem(struct problems *p, const char *fmt, ...) CPIS_PRINTF(2, 3);
static void problem(struct problems *p, const char *fmt, ...)
{
    p->count++;
    if (p->buf == NULL || p->cap == 0 || p->len + 1 >= p->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    p->len += (size_t)n;
    if (p->len >= p->cap)
        p->len = p->cap - 1;
    if (p->len + 1 < p->cap) {
        p->buf[p->len++] = '\n';
        p->buf[p->len] = '\0';
    }
}

static const char *type_name(const cJSON *v)
{
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsArray(v))
        return "an array";
    if (cJSON_IsObject(v))
        return "an object";
    if (cJSON_IsNull(v))
        return "null";
    return "an unknown value";
}

/* Report keys of obj that are not in allowed (NULL-terminated). */
static void check_keys(struct problems *p, const cJSON *obj, const char *prefix,
                       const char *const *allowed)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (it->string && strcmp(it->string, *a) == 0)
                ok = 1;
        if (!ok) {
            char list[256] = "";
            for (const char *const *a = allowed; *a; a++) {
                strncat(list, *a, sizeof list - strlen(list) - 1);
                if (a[1])
                    strncat(list, ", ", sizeof list - strlen(list) - 1);
            }
            problem(p, "%s%s%s: unknown key (expected one of: %s)", prefix,
                    *prefix ? "." : "", it->string ? it->string : "?", list);
        }
    }
}

static const cJSON *section(struct problems *p, const cJSON *root, const char *name)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, name);
    if (s != NULL && !cJSON_IsObject(s)) {
        problem(p, "%s: expected an object, got %s", name, type_name(s));
        return NULL;
    }
    return s;
}

/* A whole number from lo to hi.  Checked on the double before any
 * conversion: a cast of a value outside the range of the integer type is
 * undefined behaviour (1e300, -1e300), so the range comes first and the
 * cast only once the value is known to fit. */
static void get_int(struct problems *p, const cJSON *sec, const char *sec_name,
                    const char *key, long lo, long hi, int *out)
{
    const cJSON *v = sec ? cJSON_GetObjectItemCaseSensitive(sec, key) : NULL;
    if (v == NULL)
        return;
    if (!cJSON_IsNumber(v)) {
        problem(p, "%s.%s: expected a whole number from %ld to %ld, got %s", sec_name,
                key, lo, hi, type_name(v));
        return;
    }
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi)) { /* NaN fails too */
        problem(p, "%s.%s: expected a whole number from %ld to %ld, got %s", sec_name,
                key, lo, hi,
                d < (double)lo ? (d < 0 ? "a negative number" : "a number below the range")
                               : "a number above the range");
        return;
    }
    long whole = (long)d; /* in range: defined */
    if ((double)whole != d) {
        problem(p, "%s.%s: expected a whole number from %ld to %ld, got a fraction",
                sec_name, key, lo, hi);
        return;
    }
    *out = (int)whole;
}

static void get_string(struct problems *p, const cJSON *sec, const char *sec_name,
                       const char *key, char *out, size_t cap)
{
    const cJSON *v = sec ? cJSON_GetObjectItemCaseSensitive(sec, key) : NULL;
    if (v == NULL)
        return;
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0' || strlen(v->valuestring) >= cap) {
        problem(p, "%s.%s: expected a non-empty string of at most %zu characters", sec_name,
                key, cap - 1);
        return;
    }
    snprintf(out, cap, "%s", v->valuestring);
}

static char *join_path(const char *base, const char *rel)
{
    size_t n;
    char *s;
    if (rel[0] == '/' || base == NULL || base[0] == '\0') {
        n = strlen(rel) + 1;
        s = malloc(n);
        if (s)
            memcpy(s, rel, n);
        return s;
    }
    n = strlen(base) + strlen(rel) + 2;
    s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", base, rel);
    return s;
}

static void set_defaults(struct cpis_config *c)
{
    memset(c, 0, sizeof *c);
    c->version = 6;
    c->window_minutes = 720;
    c->max_span_minutes = 4320;
    c->threshold_count = 3;
    c->threshold_days = 183;
    c->repeat_window_days = 183;
    c->repeat_threshold = 2;
    c->max_message_bytes = 1048576;
    snprintf(c->data_quality_owner, sizeof c->data_quality_owner, "cpis.data.quality");
    snprintf(c->first_response_inbox, sizeof c->first_response_inbox, "first.response.inbox");
    snprintf(c->first_response_duty, sizeof c->first_response_duty, "first.response.duty");
}

static void parse_ods(struct problems *p, const cJSON *ods, const char *base_dir,
                      const char *const *ods_override, struct cpis_config *c)
{
    static const char *const keys[] = {"paths", "settings", NULL};
    if (ods)
        check_keys(p, ods, "ods", keys);
    const cJSON *paths = ods ? cJSON_GetObjectItemCaseSensitive(ods, "paths") : NULL;
    size_t n = 0;
    if (ods_override != NULL) {
        while (ods_override[n])
            n++;
    } else if (paths != NULL) {
        if (!cJSON_IsArray(paths)) {
            problem(p, "ods.paths: expected an array of file or folder paths, got %s",
                    type_name(paths));
            paths = NULL;
        } else {
            n = (size_t)cJSON_GetArraySize(paths);
        }
    }
    if (n > 0) {
        c->ods_paths = calloc(n, sizeof *c->ods_paths);
        if (c->ods_paths == NULL) {
            problem(p, "ods.paths: out of memory");
            return;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *rel;
        if (ods_override != NULL) {
            rel = ods_override[i]; /* command-line paths: relative to the cwd */
            c->ods_paths[c->n_ods_paths] = join_path(NULL, rel);
        } else {
            const cJSON *e = cJSON_GetArrayItem(paths, (int)i);
            if (!cJSON_IsString(e) || e->valuestring[0] == '\0') {
                problem(p, "ods.paths[%zu]: expected a non-empty string, got %s", i,
                        type_name(e));
                continue;
            }
            c->ods_paths[c->n_ods_paths] = join_path(base_dir, e->valuestring);
        }
        if (c->ods_paths[c->n_ods_paths] == NULL) {
            problem(p, "ods.paths[%zu]: out of memory", i);
            continue;
        }
        c->n_ods_paths++;
    }

    const cJSON *settings = ods ? cJSON_GetObjectItemCaseSensitive(ods, "settings") : NULL;
    if (settings == NULL)
        return;
    if (!cJSON_IsObject(settings)) {
        problem(p, "ods.settings: expected an object mapping ODS codes to settings, got %s",
                type_name(settings));
        return;
    }
    size_t ns = (size_t)cJSON_GetArraySize(settings);
    if (ns == 0)
        return;
    c->overrides = calloc(ns, sizeof *c->overrides);
    if (c->overrides == NULL) {
        problem(p, "ods.settings: out of memory");
        return;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, settings)
    {
        const char *code = it->string ? it->string : "";
        if (!cpis_ods_code_valid(code)) {
            problem(p, "ods.settings.%s: expected an ODS code (1 to 9 letters and digits)",
                    code);
            continue;
        }
        if (!cJSON_IsString(it) || !cpis_setting_valid(it->valuestring)) {
            problem(p,
                    "ods.settings.%s: expected one of nhs_111, ambulance, hospital, "
                    "walk_in_centre, out_of_hours, urgent_care, gp_practice, "
                    "sexual_assault_referral_centre, other",
                    code);
            continue;
        }
        struct cpis_setting_override *o = &c->overrides[c->n_overrides++];
        snprintf(o->code, sizeof o->code, "%s", code);
        snprintf(o->setting, sizeof o->setting, "%s", it->valuestring);
    }
}

int cpis_config_parse(const char *json, size_t len, const char *base_dir,
                      const char *const *ods_override, struct cpis_config *out,
                      char *err, size_t err_cap)
{
    struct problems p = {err, err_cap, 0, 0};
    if (err && err_cap)
        err[0] = '\0';
    struct cpis_config c;
    set_defaults(&c);

    /* json == NULL: the host gave no configuration at all, and the
     * defaults (version 6) apply.  Any text given must be one JSON object:
     * an empty file, whitespace, another kind of value, a NUL byte or a key
     * given twice in one object (cJSON keeps the first, another reader may
     * take the last) is refused, so that a truncated or mangled file never
     * silently becomes "all defaults". */
    cJSON *root = NULL;
    if (json != NULL) {
        char why[160];
        int blank = 1;
        for (size_t i = 0; i < len && blank; i++)
            blank = json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r';
        if (blank) {
            problem(&p, "config: the file is empty; expected one JSON object");
            return -1;
        }
        root = cpis_json_parse_strict(json, len, why, sizeof why);
        if (root == NULL) {
            problem(&p, "config: not valid JSON: %s", why);
            return -1;
        }
        if (!cJSON_IsObject(root)) {
            problem(&p, "config: expected a JSON object at the top, got %s", type_name(root));
            cJSON_Delete(root);
            return -1;
        }
    }

    static const char *const top_keys[] = {"workflow", "flags", "episodes", "first_response",
                                           "repeats", "ods", "limits", "data_quality", NULL};
    if (root)
        check_keys(&p, root, "", top_keys);

    const cJSON *wf = section(&p, root, "workflow");
    if (wf) {
        static const char *const k[] = {"version", NULL};
        check_keys(&p, wf, "workflow", k);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(wf, "version");
        if (v != NULL) {
            if (!cJSON_IsNumber(v) || (v->valuedouble != 5 && v->valuedouble != 6))
                problem(&p, "workflow.version: expected 5 (legacy) or 6 (revised), got %s",
                        cJSON_IsNumber(v) ? "another number" : type_name(v));
            else
                c.version = (int)v->valuedouble;
        }
    }

    const cJSON *flags = section(&p, root, "flags");
    if (flags) {
        static const char *const k[] = {"task_activities", "first_response_routing",
                                        "landing_page", "case_note_stubs", "episodes", NULL};
        check_keys(&p, flags, "flags", k);
    }
    for (int f = 0; f < FLAG_COUNT_; f++) {
        c.flag[f] = flag_default(c.version, f);
        const cJSON *v = flags ? cJSON_GetObjectItemCaseSensitive(flags, cpis_flag_names[f])
                               : NULL;
        if (v == NULL)
            continue;
        if (!cJSON_IsBool(v)) {
            problem(&p, "flags.%s: expected true or false, got %s", cpis_flag_names[f],
                    type_name(v));
            continue;
        }
        c.flag[f] = cJSON_IsTrue(v) ? 1 : 0;
        c.flag_explicit[f] = 1;
    }

    const cJSON *ep = section(&p, root, "episodes");
    if (ep) {
        static const char *const k[] = {"window_minutes", "max_span_minutes", NULL};
        check_keys(&p, ep, "episodes", k);
        get_int(&p, ep, "episodes", "window_minutes", 1, 10080, &c.window_minutes);
        get_int(&p, ep, "episodes", "max_span_minutes", 1, 43200, &c.max_span_minutes);
        if (c.max_span_minutes < c.window_minutes)
            problem(&p,
                    "episodes.max_span_minutes: expected at least window_minutes (%d), got %d",
                    c.window_minutes, c.max_span_minutes);
    }

    const cJSON *fr = section(&p, root, "first_response");
    if (fr) {
        static const char *const k[] = {"threshold_count", "threshold_days", "recipients",
                                        NULL};
        check_keys(&p, fr, "first_response", k);
        get_int(&p, fr, "first_response", "threshold_count", 1, 1000, &c.threshold_count);
        get_int(&p, fr, "first_response", "threshold_days", 1, 3660, &c.threshold_days);
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(fr, "recipients");
        if (r != NULL) {
            const cJSON *a = cJSON_GetArrayItem(r, 0), *b = cJSON_GetArrayItem(r, 1);
            if (!cJSON_IsArray(r) || cJSON_GetArraySize(r) != 2 || !cJSON_IsString(a) ||
                !cJSON_IsString(b) || a->valuestring[0] == '\0' || b->valuestring[0] == '\0' ||
                strlen(a->valuestring) >= sizeof c.first_response_inbox ||
                strlen(b->valuestring) >= sizeof c.first_response_duty)
                problem(&p, "first_response.recipients: expected two non-empty strings "
                            "(the First Response inbox and the duty officer)");
            else {
                snprintf(c.first_response_inbox, sizeof c.first_response_inbox, "%s",
                         a->valuestring);
                snprintf(c.first_response_duty, sizeof c.first_response_duty, "%s",
                         b->valuestring);
            }
        }
    }

    const cJSON *rep = section(&p, root, "repeats");
    if (rep) {
        static const char *const k[] = {"window_days", "threshold", NULL};
        check_keys(&p, rep, "repeats", k);
        get_int(&p, rep, "repeats", "window_days", 1, 3660, &c.repeat_window_days);
        get_int(&p, rep, "repeats", "threshold", 2, 1000, &c.repeat_threshold);
    }

    const cJSON *lim = section(&p, root, "limits");
    if (lim) {
        static const char *const k[] = {"max_message_bytes", NULL};
        check_keys(&p, lim, "limits", k);
        int mb = (int)c.max_message_bytes;
        get_int(&p, lim, "limits", "max_message_bytes", 1024, 64 * 1048576, &mb);
        c.max_message_bytes = (size_t)mb;
    }

    const cJSON *dq = section(&p, root, "data_quality");
    if (dq) {
        static const char *const k[] = {"owner", NULL};
        check_keys(&p, dq, "data_quality", k);
        get_string(&p, dq, "data_quality", "owner", c.data_quality_owner,
                   sizeof c.data_quality_owner);
    }

    parse_ods(&p, section(&p, root, "ods"), base_dir, ods_override, &c);
    cJSON_Delete(root);

    if (p.count > 0) {
        cpis_config_free(&c);
        return -1;
    }
    *out = c;
    return 0;
}

void cpis_config_free(struct cpis_config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_ods_paths; i++)
        free(c->ods_paths[i]);
    free(c->ods_paths);
    free(c->overrides);
    c->ods_paths = NULL;
    c->overrides = NULL;
    c->n_ods_paths = c->n_overrides = 0;
}

size_t cpis_config_effective_json(const struct cpis_config *c, char *out, size_t cap)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *wf = cJSON_AddObjectToObject(root, "workflow");
    cJSON_AddNumberToObject(wf, "version", c->version);
    cJSON *flags = cJSON_AddObjectToObject(root, "flags");
    for (int f = 0; f < FLAG_COUNT_; f++) {
        cJSON *o = cJSON_AddObjectToObject(flags, cpis_flag_names[f]);
        cJSON_AddBoolToObject(o, "value", c->flag[f]);
        char src[40];
        snprintf(src, sizeof src, "%s", c->flag_explicit[f] ? "explicit" : "version default");
        cJSON_AddStringToObject(o, "source", src);
    }
    cJSON *ep = cJSON_AddObjectToObject(root, "episodes");
    cJSON_AddNumberToObject(ep, "window_minutes", c->window_minutes);
    cJSON_AddNumberToObject(ep, "max_span_minutes", c->max_span_minutes);
    cJSON *fr = cJSON_AddObjectToObject(root, "first_response");
    cJSON_AddNumberToObject(fr, "threshold_count", c->threshold_count);
    cJSON_AddNumberToObject(fr, "threshold_days", c->threshold_days);
    cJSON *rc = cJSON_AddArrayToObject(fr, "recipients");
    cJSON_AddItemToArray(rc, cJSON_CreateString(c->first_response_inbox));
    cJSON_AddItemToArray(rc, cJSON_CreateString(c->first_response_duty));
    cJSON *rep = cJSON_AddObjectToObject(root, "repeats");
    cJSON_AddNumberToObject(rep, "window_days", c->repeat_window_days);
    cJSON_AddNumberToObject(rep, "threshold", c->repeat_threshold);
    cJSON *ods = cJSON_AddObjectToObject(root, "ods");
    cJSON *paths = cJSON_AddArrayToObject(ods, "paths");
    for (size_t i = 0; i < c->n_ods_paths; i++)
        cJSON_AddItemToArray(paths, cJSON_CreateString(c->ods_paths[i]));
    cJSON *st = cJSON_AddObjectToObject(ods, "settings");
    for (size_t i = 0; i < c->n_overrides; i++)
        cJSON_AddStringToObject(st, c->overrides[i].code, c->overrides[i].setting);
    cJSON *lim = cJSON_AddObjectToObject(root, "limits");
    cJSON_AddNumberToObject(lim, "max_message_bytes", (double)c->max_message_bytes);
    cJSON *dq = cJSON_AddObjectToObject(root, "data_quality");
    cJSON_AddStringToObject(dq, "owner", c->data_quality_owner);

    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (s == NULL) {
        if (cap)
            out[0] = '\0';
        return 0;
    }
    size_t n = strlen(s);
    if (out && cap) {
        size_t k = n < cap - 1 ? n : cap - 1;
        memcpy(out, s, k);
        out[k] = '\0';
    }
    free(s);
    return n;
}
