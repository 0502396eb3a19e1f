/*
 * state.c - (de)serialise struct wf_child, the child's workflow state.
 *
 * Format 4 (written since issue 15) is line-oriented text, written with
 * a growing buffer and read by a hand parser over the known fields, so that
 * the state read and written on every notification builds no tree of
 * allocated nodes (the JSON formats cost a cJSON node, and a malloc, per
 * field: a fifth of all instructions in a profile of the pipeline):
 *
 *   CPIS-STATE 4 <n_hist> <n_ep> <n_one>\n
 *   H <at> <key> <fr>\n                      one per history entry
 *   E <first> <last> <rev> <done> <done_at> <n_acc> <id>\n   an episode
 *   O ... as E ...                           a one-access entry (episodes off)
 *   A <at> <res> <sys> <via> <key>\t<nid>\t<code>\t<place>\t<parent>\t
 *     <setting>\t<phone>\t<viewer>\t<role>\t<role_name>\t<sys_name>\t
 *     <inmsg>\t<closed>\n                  the episode's accesses, in order
 *
 * Numbers are decimal; strings escape backslash, tab, newline and carriage
 * return as \\ \t \n \r.  The counts in the first line and in each E/O
 * line size every array before it is filled, and a state that does not
 * match them exactly is refused.  An older plugin refuses format 4 (it is
 * not JSON) rather than misreading it.
 *
 * Formats 1-3 (JSON, read with cJSON; never written any more):
 * {"v":3,"hist":"AT KEY[ F];...","ep":[{"id":..,"first":..,"last":..,
 * "rev":..,["done":1,"done_at":T,]"acc":[{...access...}]}],["one":[...]]}.
 * Format 2 has no " F" First Response mark (read as fr 0); format 1 has the
 * history as an array of [at, key].  "done"/"done_at", "one" and the access
 * keys "inmsg", "via", "closed" are read as absent from states written
 * before them.
 */
#include "state.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_MAGIC "CPIS-STATE 4 "
#define JSON_FORMAT_MAX 3

/* ---- format 4: writing ------------------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
    int oom;
};

static int buf_room(struct buf *b, size_t more)
{
    if (b->oom)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *np = realloc(b->p, cap);
    if (np == NULL) {
        b->oom = 1;
        return -1;
    }
    b->p = np;
    b->cap = cap;
    return 0;
}

static void put_ch(struct buf *b, char c)
{
    if (buf_room(b, 1) == 0)
        b->p[b->len++] = c;
}

static void put_i64(struct buf *b, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (buf_room(b, n + 1) != 0)
        return;
    if (v < 0)
        b->p[b->len++] = '-';
    while (n)
        b->p[b->len++] = tmp[--n];
}

/* A string field, escaped; the separator that follows is the caller's. */
static void put_str(struct buf *b, const char *s)
{
    size_t n = strlen(s);
    if (buf_room(b, 2 * n) != 0)
        return;
    /* runs without a character to escape are copied whole */
    while (*s) {
        size_t run = strcspn(s, "\\\t\n\r");
        memcpy(b->p + b->len, s, run);
        b->len += run;
        s += run;
        if (*s == '\0')
            break;
        char c = *s++;
        b->p[b->len++] = '\\';
        b->p[b->len++] = c == '\\' ? '\\' : c == '\t' ? 't' : c == '\n' ? 'n' : 'r';
    }
}

static void put_episode(struct buf *b, char tag, const struct wf_episode *e)
{
    put_ch(b, tag);
    put_ch(b, ' ');
    put_i64(b, e->first);
    put_ch(b, ' ');
    put_i64(b, e->last);
    put_ch(b, ' ');
    put_i64(b, e->revision);
    put_ch(b, ' ');
    put_i64(b, e->done != 0);
    put_ch(b, ' ');
    put_i64(b, e->done ? e->done_at : 0);
    put_ch(b, ' ');
    put_i64(b, (int64_t)e->n);
    put_ch(b, ' ');
    put_str(b, e->id);
    put_ch(b, '\n');
    for (size_t j = 0; j < e->n; j++) {
        const struct wf_access *a = &e->acc[j];
        put_ch(b, 'A');
        put_ch(b, ' ');
        put_i64(b, a->at);
        put_ch(b, ' ');
        put_i64(b, a->place_resolved != 0);
        put_ch(b, ' ');
        put_i64(b, a->system != 0);
        put_ch(b, ' ');
        put_i64(b, a->place_via_parent != 0);
        put_ch(b, ' ');
        const char *f[] = {a->key,      a->notification_id, a->place_code,  a->place,
                           a->parent,   a->setting,         a->phone,       a->viewer,
                           a->role,     a->role_name,       a->system_name, a->place_in_message,
                           a->closed_on};
        for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
            if (k)
                put_ch(b, '\t');
            put_str(b, f[k]);
        }
        put_ch(b, '\n');
    }
}

char *cpis_state_encode(const struct wf_child *c)
{
    struct buf b = {NULL, 0, 0, 0};
    if (buf_room(&b, 64 + c->n_hist * (WF_KEY_MAX + 16)) != 0)
        return NULL;
    memcpy(b.p, STATE_MAGIC, sizeof STATE_MAGIC - 1);
    b.len = sizeof STATE_MAGIC - 1;
    put_i64(&b, (int64_t)c->n_hist);
    put_ch(&b, ' ');
    put_i64(&b, (int64_t)c->n_ep);
    put_ch(&b, ' ');
    put_i64(&b, (int64_t)c->n_one);
    put_ch(&b, '\n');
    for (size_t i = 0; i < c->n_hist; i++) {
        put_ch(&b, 'H');
        put_ch(&b, ' ');
        put_i64(&b, c->hist[i].at);
        put_ch(&b, ' ');
        put_str(&b, c->hist[i].key);
        put_ch(&b, ' ');
        put_i64(&b, c->hist[i].fr == 1 || c->hist[i].fr == 2 ? c->hist[i].fr : 0);
        put_ch(&b, '\n');
    }
    for (size_t i = 0; i < c->n_ep; i++)
        put_episode(&b, 'E', &c->ep[i]);
    for (size_t i = 0; i < c->n_one; i++)
        put_episode(&b, 'O', &c->one[i]);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    b.p[b.len] = '\0';
    return b.p;
}

/* ---- format 4: reading ------------------------------------------------- */

struct rd {
    const char *q, *end;
};

/* A decimal integer followed by exactly one space or newline (sep). */
static int get_i64(struct rd *r, char sep, int64_t *out)
{
    const char *q = r->q;
    int neg = q < r->end && *q == '-';
    q += neg;
    uint64_t v = 0;
    const char *digits = q;
    while (q < r->end && *q >= '0' && *q <= '9' && q - digits < 19)
        v = v * 10 + (uint64_t)(*q++ - '0');
    if (q == digits || q >= r->end || *q != sep)
        return -1;
    *out = neg ? -(int64_t)v : (int64_t)v;
    r->q = q + 1;
    return 0;
}

/* A string field up to sep (tab or newline), unescaped into out[cap]
 * (truncated to cap - 1 bytes, as the JSON reader's snprintf did). */
/* The bytes that end a run of plain characters in a string field. */
static const unsigned char stops[256] = {['\\'] = 1, ['\t'] = 1, ['\n'] = 1};

static int get_str4(struct rd *r, char sep, char *out, size_t cap)
{
    size_t n = 0;
    const char *q = r->q;
    while (q < r->end && *q != sep) {
        /* a run of plain characters (no escape, no separator) at once */
        const char *run = q;
        if (sep == ' ') {
            while (q < r->end && *q != ' ' && !stops[(unsigned char)*q])
                q++;
        } else { /* sep is a tab or newline: in the table already */
            while (q < r->end && !stops[(unsigned char)*q])
                q++;
        }
        size_t len = (size_t)(q - run);
        size_t take = n + len < cap ? len : (n + 1 < cap ? cap - 1 - n : 0);
        memcpy(out + n, run, take);
        n += take;
        if (q >= r->end || *q == sep)
            break;
        char c = *q++;
        if (c == '\t' || c == '\n')
            return -1; /* a separator where this field is not over */
        /* c is a backslash */
        if (q >= r->end)
            return -1;
        char e = *q++;
        c = e == '\\' ? '\\' : e == 't' ? '\t' : e == 'n' ? '\n' : e == 'r' ? '\r' : 0;
        if (c == 0)
            return -1;
        if (n + 1 < cap)
            out[n++] = c;
    }
    if (q >= r->end)
        return -1;
    out[n] = '\0';
    r->q = q + 1;
    return 0;
}

static int get_tag(struct rd *r, char tag)
{
    if (r->end - r->q < 2 || r->q[0] != tag || r->q[1] != ' ')
        return -1;
    r->q += 2;
    return 0;
}

/* A count, at most what the remaining text could hold (one line each). */
static int get_count(struct rd *r, char sep, size_t *out)
{
    int64_t v;
    if (get_i64(r, sep, &v) != 0 || v < 0 || v > r->end - r->q)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int read_episode(struct rd *r, char tag, struct wf_episode *e)
{
    int64_t rev, done;
    size_t na;
    if (get_tag(r, tag) != 0 || get_i64(r, ' ', &e->first) != 0 ||
        get_i64(r, ' ', &e->last) != 0 || get_i64(r, ' ', &rev) != 0 ||
        get_i64(r, ' ', &done) != 0 || get_i64(r, ' ', &e->done_at) != 0 ||
        get_count(r, ' ', &na) != 0 || get_str4(r, '\n', e->id, sizeof e->id) != 0 ||
        rev < 0 || rev > UINT32_MAX || (done != 0 && done != 1))
        return -1;
    e->revision = (uint32_t)rev;
    e->done = (int)done;
    e->acc = na ? calloc(na, sizeof *e->acc) : NULL;
    if (na && !e->acc)
        return -1;
    for (; e->n < na; e->n++) {
        struct wf_access *a = &e->acc[e->n];
        int64_t res, sys, via;
        if (get_tag(r, 'A') != 0 || get_i64(r, ' ', &a->at) != 0 ||
            get_i64(r, ' ', &res) != 0 || get_i64(r, ' ', &sys) != 0 ||
            get_i64(r, ' ', &via) != 0)
            return -1;
        a->place_resolved = res != 0;
        a->system = sys != 0;
        a->place_via_parent = via != 0;
        struct {
            char *p;
            size_t cap;
        } f[] = {{a->key, sizeof a->key},
                 {a->notification_id, sizeof a->notification_id},
                 {a->place_code, sizeof a->place_code},
                 {a->place, sizeof a->place},
                 {a->parent, sizeof a->parent},
                 {a->setting, sizeof a->setting},
                 {a->phone, sizeof a->phone},
                 {a->viewer, sizeof a->viewer},
                 {a->role, sizeof a->role},
                 {a->role_name, sizeof a->role_name},
                 {a->system_name, sizeof a->system_name},
                 {a->place_in_message, sizeof a->place_in_message},
                 {a->closed_on, sizeof a->closed_on}};
        size_t nf = sizeof f / sizeof f[0];
        for (size_t k = 0; k < nf; k++)
            if (get_str4(r, k + 1 < nf ? '\t' : '\n', f[k].p, f[k].cap) != 0)
                return -1;
    }
    return 0;
}

static int decode_text(const char *s, size_t len, struct wf_child *c)
{
    struct rd r = {s + (sizeof STATE_MAGIC - 1), s + len};
    size_t nh, ne, no;
    if (get_count(&r, ' ', &nh) != 0 || get_count(&r, ' ', &ne) != 0 ||
        get_count(&r, '\n', &no) != 0)
        return -1;
    c->hist = nh ? calloc(nh, sizeof *c->hist) : NULL;
    c->ep = ne ? calloc(ne, sizeof *c->ep) : NULL;
    c->one = no ? calloc(no, sizeof *c->one) : NULL;
    if ((nh && !c->hist) || (ne && !c->ep) || (no && !c->one))
        return -1;
    for (; c->n_hist < nh; c->n_hist++) {
        struct wf_hist *h = &c->hist[c->n_hist];
        int64_t fr;
        if (get_tag(&r, 'H') != 0 || get_i64(&r, ' ', &h->at) != 0 ||
            get_str4(&r, ' ', h->key, sizeof h->key) != 0 || h->key[0] == '\0' ||
            get_i64(&r, '\n', &fr) != 0 || fr < 0 || fr > 2)
            return -1;
        h->fr = (int)fr;
    }
    /* Counted as soon as allocated, so wf_child_free releases a half-read
     * episode's accesses. */
    for (size_t i = 0; i < ne; i++)
        if (read_episode(&r, 'E', &c->ep[c->n_ep++]) != 0)
            return -1;
    for (size_t i = 0; i < no; i++)
        if (read_episode(&r, 'O', &c->one[c->n_one++]) != 0)
            return -1;
    return r.q == r.end ? 0 : -1; /* nothing after the last line */
}

/* ---- formats 1-3: reading the JSON ------------------------------------- */

static void get_str(const cJSON *o, const char *k, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    out[0] = '\0';
    if (cJSON_IsString(v))
        snprintf(out, cap, "%s", v->valuestring);
}

static int64_t get_num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static void access_from_json(const cJSON *o, struct wf_access *a)
{
    memset(a, 0, sizeof *a);
    get_str(o, "key", a->key, sizeof a->key);
    a->at = get_num(o, "at");
    get_str(o, "nid", a->notification_id, sizeof a->notification_id);
    get_str(o, "code", a->place_code, sizeof a->place_code);
    get_str(o, "place", a->place, sizeof a->place);
    a->place_resolved = get_num(o, "res") != 0;
    get_str(o, "parent", a->parent, sizeof a->parent);
    get_str(o, "setting", a->setting, sizeof a->setting);
    get_str(o, "phone", a->phone, sizeof a->phone);
    get_str(o, "viewer", a->viewer, sizeof a->viewer);
    get_str(o, "role", a->role, sizeof a->role);
    get_str(o, "role_name", a->role_name, sizeof a->role_name);
    a->system = get_num(o, "sys") != 0;
    get_str(o, "sys_name", a->system_name, sizeof a->system_name);
    get_str(o, "inmsg", a->place_in_message, sizeof a->place_in_message);
    a->place_via_parent = get_num(o, "via") != 0;
    get_str(o, "closed", a->closed_on, sizeof a->closed_on);
}

static int episode_from_json(const cJSON *it, struct wf_episode *e)
{
    get_str(it, "id", e->id, sizeof e->id);
    e->first = get_num(it, "first");
    e->last = get_num(it, "last");
    e->revision = (uint32_t)get_num(it, "rev");
    e->done = get_num(it, "done") != 0;
    e->done_at = get_num(it, "done_at");
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(it, "acc");
    if (!cJSON_IsArray(acc))
        return -1;
    size_t na = (size_t)cJSON_GetArraySize(acc);
    e->acc = na ? calloc(na, sizeof *e->acc) : NULL;
    if (na && !e->acc)
        return -1;
    const cJSON *a;
    cJSON_ArrayForEach(a, acc) access_from_json(a, &e->acc[e->n++]);
    return 0;
}

static int decode_json(const char *json, size_t len, struct wf_child *c)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root) || get_num(root, "v") < 1 || get_num(root, "v") > JSON_FORMAT_MAX) {
        cJSON_Delete(root);
        return -1;
    }
    const cJSON *hist = cJSON_GetObjectItemCaseSensitive(root, "hist");
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "ep");
    int format = (int)get_num(root, "v");
    if (!cJSON_IsArray(eps) || (format >= 2 && !cJSON_IsString(hist)) ||
        (format == 1 && !cJSON_IsArray(hist)))
        goto bad;
    size_t nh = 0;
    if (format == 1) {
        nh = (size_t)cJSON_GetArraySize(hist);
    } else {
        for (const char *q = hist->valuestring; *q; q++)
            nh += *q == ';';
        nh += hist->valuestring[0] != '\0';
    }
    size_t ne = (size_t)cJSON_GetArraySize(eps);
    c->hist = nh ? calloc(nh, sizeof *c->hist) : NULL;
    c->ep = ne ? calloc(ne, sizeof *c->ep) : NULL;
    if ((nh && !c->hist) || (ne && !c->ep))
        goto bad;
    const cJSON *it;
    if (format == 1) {
        cJSON_ArrayForEach(it, hist)
        {
            const cJSON *at = cJSON_GetArrayItem(it, 0), *key = cJSON_GetArrayItem(it, 1);
            if (!cJSON_IsNumber(at) || !cJSON_IsString(key))
                goto bad;
            struct wf_hist *h = &c->hist[c->n_hist++];
            h->at = (int64_t)at->valuedouble;
            snprintf(h->key, sizeof h->key, "%s", key->valuestring);
        }
    } else {
        const char *q = hist->valuestring;
        while (*q && c->n_hist < nh) {
            char *end;
            long long at = strtoll(q, &end, 10);
            if (end == q || *end != ' ')
                goto bad;
            q = end + 1;
            size_t kl = strcspn(q, format >= 3 ? " ;" : ";");
            if (kl == 0 || kl >= WF_KEY_MAX)
                goto bad;
            struct wf_hist *h = &c->hist[c->n_hist++];
            h->at = (int64_t)at;
            memcpy(h->key, q, kl);
            h->key[kl] = '\0';
            q += kl;
            if (*q == ' ') { /* format 3: " F", the First Response state */
                if ((q[1] != '1' && q[1] != '2') || (q[2] != ';' && q[2] != '\0'))
                    goto bad;
                h->fr = q[1] - '0';
                q += 2;
            }
            if (*q == ';')
                q++;
        }
    }
    cJSON_ArrayForEach(it, eps)
    {
        if (episode_from_json(it, &c->ep[c->n_ep++]) != 0)
            goto bad;
    }
    const cJSON *one = cJSON_GetObjectItemCaseSensitive(root, "one");
    if (one != NULL) {
        if (!cJSON_IsArray(one))
            goto bad;
        size_t no = (size_t)cJSON_GetArraySize(one);
        c->one = no ? calloc(no, sizeof *c->one) : NULL;
        if (no && !c->one)
            goto bad;
        cJSON_ArrayForEach(it, one)
        {
            if (episode_from_json(it, &c->one[c->n_one++]) != 0)
                goto bad;
        }
    }
    cJSON_Delete(root);
    return 0;
bad:
    cJSON_Delete(root);
    return -1;
}

int cpis_state_decode(const char *s, size_t len, struct wf_child *c)
{
    memset(c, 0, sizeof *c);
    int rc = len >= sizeof STATE_MAGIC - 1 && memcmp(s, STATE_MAGIC, sizeof STATE_MAGIC - 1) == 0
                 ? decode_text(s, len, c)
                 : decode_json(s, len, c);
    if (rc != 0) {
        wf_child_free(c);
        memset(c, 0, sizeof *c);
    }
    return rc;
}
