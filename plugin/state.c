/*
 * state.c - (de)serialise struct wf_child with cJSON.
 *
 * Shape: {"v":2,"hist":"AT KEY;AT KEY;...","ep":[{"id":..,"first":..,
 *         "last":..,"rev":..,"acc":[{...access...}]}],"one":[...]}
 * An episode whose case note was completed also has "done":1,"done_at":T;
 * "one" (episodes off: the one-access entries on open cases) is written only
 * when not empty.  Both are read as absent from states written before.
 * The history (every access of the child within the rule horizon: the
 * longest part of the state) is one string of "epoch-seconds key" pairs
 * rather than an array of arrays: one JSON value instead of three per
 * access, which more than halves the cost of reading and writing a child's
 * state on every notification.  Episode times are JSON numbers (exact up to
 * 2^53 seconds).  Format 3 adds, after the key, " F" when the access gave
 * First Response alerts (F = wf_hist.fr, 1 or 2; nothing when 0).  Formats
 * 2 and 1 (history as an array of [at, key]) are still read (fr 0); an
 * older plugin refuses format 3 rather than misreading it.
 */
#include "state.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_FORMAT 3

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v && v[0])
        cJSON_AddStringToObject(o, k, v);
}

static cJSON *access_json(const struct wf_access *a)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "key", a->key);
    cJSON_AddNumberToObject(o, "at", (double)a->at);
    add_str(o, "nid", a->notification_id);
    add_str(o, "code", a->place_code);
    add_str(o, "place", a->place);
    if (a->place_resolved)
        cJSON_AddNumberToObject(o, "res", 1);
    add_str(o, "parent", a->parent);
    add_str(o, "setting", a->setting);
    add_str(o, "phone", a->phone);
    add_str(o, "viewer", a->viewer);
    add_str(o, "role", a->role);
    add_str(o, "role_name", a->role_name);
    if (a->system)
        cJSON_AddNumberToObject(o, "sys", 1);
    add_str(o, "sys_name", a->system_name);
    add_str(o, "inmsg", a->place_in_message);
    if (a->place_via_parent)
        cJSON_AddNumberToObject(o, "via", 1);
    add_str(o, "closed", a->closed_on);
    return o;
}

/* An episode; "done"/"done_at" only once its case note was completed. */
static cJSON *episode_to_json(const struct wf_episode *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", e->id);
    cJSON_AddNumberToObject(o, "first", (double)e->first);
    cJSON_AddNumberToObject(o, "last", (double)e->last);
    cJSON_AddNumberToObject(o, "rev", e->revision);
    if (e->done) {
        cJSON_AddNumberToObject(o, "done", 1);
        cJSON_AddNumberToObject(o, "done_at", (double)e->done_at);
    }
    cJSON *acc = cJSON_AddArrayToObject(o, "acc");
    for (size_t j = 0; acc && j < e->n; j++)
        cJSON_AddItemToArray(acc, access_json(&e->acc[j]));
    return o;
}

char *cpis_state_encode(const struct wf_child *c)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON_AddNumberToObject(root, "v", STATE_FORMAT);
    size_t cap = c->n_hist * (WF_KEY_MAX + 24) + 1, len = 0;
    char *hist = malloc(cap);
    if (hist == NULL) {
        cJSON_Delete(root);
        return NULL;
    }
    hist[0] = '\0';
    for (size_t i = 0; i < c->n_hist; i++) {
        int fr = c->hist[i].fr;
        int n = fr == 1 || fr == 2
                    ? snprintf(hist + len, cap - len, "%s%lld %s %d", i ? ";" : "",
                               (long long)c->hist[i].at, c->hist[i].key, fr)
                    : snprintf(hist + len, cap - len, "%s%lld %s", i ? ";" : "",
                               (long long)c->hist[i].at, c->hist[i].key);
        if (n < 0 || (size_t)n >= cap - len)
            break;
        len += (size_t)n;
    }
    cJSON_AddStringToObject(root, "hist", hist);
    free(hist);
    cJSON *eps = cJSON_AddArrayToObject(root, "ep");
    for (size_t i = 0; eps && i < c->n_ep; i++)
        cJSON_AddItemToArray(eps, episode_to_json(&c->ep[i]));
    if (c->n_one) {
        cJSON *one = cJSON_AddArrayToObject(root, "one");
        for (size_t i = 0; one && i < c->n_one; i++)
            cJSON_AddItemToArray(one, episode_to_json(&c->one[i]));
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

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

int cpis_state_decode(const char *json, size_t len, struct wf_child *c)
{
    memset(c, 0, sizeof *c);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root) || get_num(root, "v") < 1 || get_num(root, "v") > STATE_FORMAT) {
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
    wf_child_free(c);
    memset(c, 0, sizeof *c);
    return -1;
}
