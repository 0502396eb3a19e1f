/*
 * workflow.c - version 5 / version 6 decisions, episodes, the First Response
 * follow-up rule, idempotency and the bounded child state.
 *
 * Pure: no I/O, no globals, no locks.  The caller (plugin/act.c) turns the
 * actions into host calls.
 *
 * Decisions made here, beyond what workflow.h states:
 *
 * - Routing of task activities when the open case lacks someone: the item is
 *   still created (so an open case always gives 3 activities, as the
 *   contract counts them) and a missing worker or manager is routed to the
 *   team inbox "team:<team>", or to "unallocated" when there is no team
 *   either; a missing team inbox goes to "unallocated".  The same routing
 *   chooses the recipient of a landing entry / case note with no worker.
 *   First Response recipients default to "first_response" when the policy
 *   names none, and the data-quality owner to "cpis.data.quality".
 *
 * - Episodes: an access joins an episode E when
 *       E.first - window <= at <= E.last + window
 *   and the span the episode would then have, max(last,at) - min(first,at),
 *   is at most max_span; among several such episodes the one whose nearest
 *   access is closest in time wins (ties: the earlier episode).  An access
 *   that could bridge two episodes joins the closest one; episodes are never
 *   merged.  A merge would change an episode id that the host already shows
 *   on landing pages and case notes (it would have to retract one document
 *   and rewrite another, and a case note may already hold what the worker
 *   wrote), and it would make the result depend even more on arrival order.
 *   Keeping ids stable is worth an occasional incident shown as two
 *   episodes.  Episodes are tracked for every case status while the flag is
 *   on, so the episodes count does not depend on case status.
 *
 * - State bound: after each new access, when the history holds more than
 *   WF_HIST_KEEP (1024) accesses, its entries with an access time before
 *   newest - H  are dropped (oldest first, down to WF_HIST_KEEP), and
 *   episodes whose last access is before  newest - H  always, where
 *       H = max(2 * threshold_days days, 2 * max_span, window)
 *   and newest is the latest access time seen.  2 * threshold_days keeps
 *   the follow-up rule exact for any access arriving at most threshold_days
 *   behind the newest (its own window, and the windows of the accesses it
 *   is re-counted for, reach back at most 2 * threshold_days); 2 * max_span
 *   keeps every episode an in-order access could still join or that a
 *   re-delivery may still name; window is added (the brief asked for the
 *   first two) so that an episode still within joining distance of the newest
 *   access is never dropped when window > 2 * max_span.  The access being
 *   decided (and its episode) is never dropped, even when it is older than
 *   the bound.  So the history holds at most max(WF_HIST_KEEP, the accesses
 *   of the last H of access time) entries (plus that one), and the episodes
 *   those of the last H, whatever the total number of accesses.
 *   Consequences, by design: once a child has more than WF_HIST_KEEP
 *   accesses, one arriving later than H behind the newest is counted for
 *   the follow-up rule only against what is kept, and
 *   a re-delivery of an access already pruned is decided again as new (the
 *   host's item ids and the plugin's notification-id dedupe still stop
 *   duplicates of items and records).
 *
 * - Follow-up rule (legacy, First Response; docs/follow-up-rule.md): an
 *   access X on a closed or unknown case is a follow-up when at least
 *   threshold_count accesses of the child, X included, have an access time
 *   in [X.at - threshold_days days, X.at].  That is a property of the SET of
 *   accesses, not of their arrival order: when a new access A arrives, its
 *   own flag counts what the history holds, and every access X already in
 *   the history whose window A falls in (A.at <= X.at <= A.at + days) and
 *   whose alerts are not flagged yet (fr 1) is counted again; if X now
 *   reaches the threshold, its fr becomes 2 and two "raise" actions are
 *   emitted (the same item ids as X's alerts, followup 1): the host raises
 *   the flag on the alerts it keeps.  Flags only ever go up (an access is
 *   never removed), so whatever the order, and however many nodes decide
 *   (each decision is one compare-and-set of the child's state), the flags
 *   end as the rule says for the whole set.  A re-delivery of A re-emits
 *   the raises of every flagged X in A's forward window (idempotent at the
 *   host), so a failure between the state write and the host calls is
 *   completed.  Bound: only accesses still in the history (the state bound
 *   above) are counted or raised.  The history keeps every access of a
 *   child up to WF_HIST_KEEP (1024) of them, so up to there the flags are
 *   exact whatever the order; beyond, they are exact for every access that
 *   arrives at most threshold_days behind the child's newest, and one that
 *   arrives later still is counted against what is kept.  State written
 *   before this rule (no fr recorded) reads as fr 0: never raised.
 *
 * - Idempotency: an access is "already seen" when its key is in the history
 *   or in an episode.  Then the state is left exactly as it is and the
 *   actions are rebuilt from the current policy, case and state: the same
 *   ids, the follow-up flag counted now, landing / case note with the
 *   episode's current revision.  If the access is in the history but in no
 *   episode (it was decided while episodes were off), its landing / case
 *   note use the one-access form ("land/" + key), as with episodes off.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workflow.h"

/* ---- small helpers ------------------------------------------------------ */

/* dst = a + b, truncated to cap - 1 bytes at a UTF-8 character boundary. */
static void cat2(char *dst, size_t cap, const char *a, const char *b)
{
    if (cap == 0)
        return;
    const char *parts[2] = {a ? a : "", b ? b : ""};
    size_t n = 0;
    int cut = 0;
    for (int k = 0; k < 2 && !cut; k++)
        for (const char *s = parts[k]; *s; s++) {
            if (n + 1 >= cap) {
                cut = 1;
                break;
            }
            dst[n++] = *s;
        }
    if (cut && n > 0) {
        /* drop a last character that lost some of its bytes */
        size_t j = n - 1;
        while (j > 0 && ((unsigned char)dst[j] & 0xC0) == 0x80)
            j--;
        unsigned char lead = (unsigned char)dst[j];
        size_t len = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3
                   : lead >= 0xC0 ? 2 : 1;
        if (j + len > n)
            n = j;
    }
    dst[n] = '\0';
}

static const char *nz(const char *s, const char *dflt)
{
    return s && s[0] ? s : dflt;
}

/* ---- key ------------------------------------------------------------------ */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t fnv_add(uint64_t h, const char *s)
{
    for (; s && *s; s++) {
        h ^= (unsigned char)*s;
        h *= FNV_PRIME;
    }
    return h;
}

void wf_access_key(const char *nhs, int64_t at, const char *author_id,
                   const char *location_code, char out[WF_KEY_MAX])
{
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)at);
    uint64_t h = FNV_OFFSET;
    h = fnv_add(h, nhs);
    h = fnv_add(h, "|");
    h = fnv_add(h, num);
    h = fnv_add(h, "|");
    h = fnv_add(h, author_id);
    h = fnv_add(h, "|");
    h = fnv_add(h, location_code);
    snprintf(out, WF_KEY_MAX, "a%016llx", (unsigned long long)h);
}

/* ---- freeing -------------------------------------------------------------- */

void wf_child_free(struct wf_child *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_ep; i++)
        free(c->ep[i].acc);
    free(c->ep);
    free(c->hist);
    for (size_t i = 0; i < c->n_one; i++)
        free(c->one[i].acc);
    free(c->one);
    memset(c, 0, sizeof *c);
}

static void episode_free(struct wf_episode *e)
{
    if (e) {
        free(e->acc);
        free(e);
    }
}

void wf_actions_free(struct wf_actions *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++) {
        free(a->v[i].title);
        free(a->v[i].body);
        episode_free(a->v[i].owned_episode);
        free(a->v[i].repeat);
    }
    free(a->v);
    memset(a, 0, sizeof *a);
}

static struct wf_action *push(struct wf_actions *out, int kind)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 8;
        struct wf_action *v = realloc(out->v, cap * sizeof *v);
        if (!v)
            return NULL;
        out->v = v;
        out->cap = cap;
    }
    struct wf_action *x = &out->v[out->n++];
    memset(x, 0, sizeof *x);
    x->kind = kind;
    return x;
}

/* ---- ordering and lookup -------------------------------------------------- */

static int cmp_time_key(int64_t at1, const char *k1, int64_t at2, const char *k2)
{
    if (at1 != at2)
        return at1 < at2 ? -1 : 1;
    return strcmp(k1, k2);
}

static int hist_has(const struct wf_child *s, const char *key)
{
    for (size_t i = 0; i < s->n_hist; i++)
        if (strcmp(s->hist[i].key, key) == 0)
            return 1;
    return 0;
}

static int episode_has(const struct wf_episode *e, const char *key)
{
    for (size_t j = 0; j < e->n; j++)
        if (strcmp(e->acc[j].key, key) == 0)
            return 1;
    return 0;
}

static struct wf_episode *episode_of(const struct wf_child *s, const char *key)
{
    for (size_t i = 0; i < s->n_ep; i++)
        if (episode_has(&s->ep[i], key))
            return &s->ep[i];
    return NULL;
}

static struct wf_episode *episode_by_id(const struct wf_child *s, const char *id)
{
    for (size_t i = 0; i < s->n_ep; i++)
        if (strcmp(s->ep[i].id, id) == 0)
            return &s->ep[i];
    return NULL;
}

/* Accesses of this child with at in [t - days, t], counting the access
 * `key` (at t) once whether or not it is already in the history. */
static int followup_count(const struct wf_child *s, const char *key, int64_t t,
                          int days)
{
    int64_t w = (int64_t)days * 86400;
    int n = 1;
    for (size_t i = 0; i < s->n_hist; i++) {
        const struct wf_hist *h = &s->hist[i];
        if (strcmp(h->key, key) == 0)
            continue;
        if (h->at <= t && t - h->at <= w)
            n++;
    }
    return n;
}

static int64_t i64abs(int64_t x) { return x < 0 ? -x : x; }

/* The episode the access at `at` joins, or -1 for a new one. */
static long choose_episode(const struct wf_policy *p, const struct wf_child *s,
                           int64_t at)
{
    int64_t window = (int64_t)p->window_minutes * 60;
    int64_t span = (int64_t)p->max_span_minutes * 60;
    long best = -1;
    int64_t best_d = 0;
    for (size_t i = 0; i < s->n_ep; i++) {
        const struct wf_episode *e = &s->ep[i];
        if (at < e->first - window || at > e->last + window)
            continue;
        int64_t lo = at < e->first ? at : e->first;
        int64_t hi = at > e->last ? at : e->last;
        if (hi - lo > span)
            continue;
        int64_t d = INT64_MAX;
        for (size_t j = 0; j < e->n; j++) {
            int64_t dj = i64abs(e->acc[j].at - at);
            if (dj < d)
                d = dj;
        }
        if (e->n == 0) /* defensive: an empty episode from a bad store */
            d = at < e->first ? e->first - at : at > e->last ? at - e->last : 0;
        if (best < 0 || d < best_d) {
            best = (long)i;
            best_d = d;
        }
    }
    return best;
}

/* A copy of e with a inserted in time order, revision bumped. */
static int episode_with(const struct wf_episode *e, const struct wf_access *a,
                        struct wf_episode *out)
{
    *out = *e;
    out->acc = malloc((e->n + 1) * sizeof *out->acc);
    if (!out->acc)
        return -1;
    size_t k = 0;
    while (k < e->n && cmp_time_key(e->acc[k].at, e->acc[k].key, a->at, a->key) < 0)
        k++;
    if (k)
        memcpy(out->acc, e->acc, k * sizeof *out->acc);
    out->acc[k] = *a;
    if (e->n > k)
        memcpy(out->acc + k + 1, e->acc + k, (e->n - k) * sizeof *out->acc);
    out->n = e->n + 1;
    out->first = out->acc[0].at;
    out->last = out->acc[out->n - 1].at;
    if (e->n) {
        if (e->first < out->first)
            out->first = e->first;
        if (e->last > out->last)
            out->last = e->last;
    }
    out->revision = e->revision + 1;
    out->done = 0; /* a new view reopens a completed entry */
    out->done_at = 0;
    return 0;
}

static void sort_episodes(struct wf_child *s)
{
    /* insertion sort: the array is sorted but for the episode just changed */
    for (size_t i = 1; i < s->n_ep; i++) {
        struct wf_episode t = s->ep[i];
        size_t j = i;
        while (j > 0 && cmp_time_key(s->ep[j - 1].first, s->ep[j - 1].id,
                                     t.first, t.id) > 0) {
            s->ep[j] = s->ep[j - 1];
            j--;
        }
        s->ep[j] = t;
    }
}

/* ---- pruning -------------------------------------------------------------- */

static int repeat_days(const struct wf_policy *p)
{
    return p && p->repeat_window_days > 0 ? p->repeat_window_days : 183;
}

static int64_t horizon(const struct wf_policy *p)
{
    /* twice threshold_days: a late access re-counts the accesses whose
     * window it falls in (up to threshold_days after it), and their windows
     * reach threshold_days further back (the follow-up rule above) */
    int64_t h = 2 * (int64_t)p->threshold_days * 86400;
    int64_t s2 = 2 * (int64_t)p->max_span_minutes * 60;
    int64_t w = (int64_t)p->window_minutes * 60;
    int64_t r = (int64_t)repeat_days(p) * 86400; /* repeat counts stay exact */
    if (r > h)
        h = r;
    if (s2 > h)
        h = s2;
    if (w > h)
        h = w;
    return h;
}

/* Drop the episodes whose last access is before cutoff, but the one that
 * holds keep_key. */
static void prune_episodes(struct wf_episode *v, size_t *n, int64_t cutoff,
                           const char *keep_key)
{
    size_t w = 0;
    for (size_t i = 0; i < *n; i++) {
        if (v[i].last >= cutoff || episode_has(&v[i], keep_key))
            v[w++] = v[i];
        else
            free(v[i].acc);
    }
    *n = w;
}

static void prune(const struct wf_policy *p, struct wf_child *s,
                  const char *keep_key)
{
    if (s->n_hist == 0)
        return;
    int64_t newest = s->hist[s->n_hist - 1].at;
    for (size_t i = 0; i < s->n_ep; i++)
        if (s->ep[i].last > newest)
            newest = s->ep[i].last;
    int64_t cutoff = newest - horizon(p);

    /* The history is sorted by time: drop from the oldest, only beyond
     * WF_HIST_KEEP entries, only what is older than the cutoff. */
    size_t excess = s->n_hist > WF_HIST_KEEP ? s->n_hist - WF_HIST_KEEP : 0;
    size_t w = 0;
    for (size_t i = 0; i < s->n_hist; i++)
        if (excess == 0 || s->hist[i].at >= cutoff || strcmp(s->hist[i].key, keep_key) == 0)
            s->hist[w++] = s->hist[i];
        else
            excess--;
    s->n_hist = w;

    prune_episodes(s->one, &s->n_one, cutoff, keep_key);
    prune_episodes(s->ep, &s->n_ep, cutoff, keep_key);
}

/* ---- actions ---------------------------------------------------------------- */

/* Route to a person, else the team inbox, else "unallocated". */
static void route(char *dst, size_t cap, const char *person,
                  const struct cpis_case *c)
{
    if (person && person[0])
        cat2(dst, cap, person, "");
    else if (c->team[0])
        cat2(dst, cap, "team:", c->team);
    else
        cat2(dst, cap, "unallocated", "");
}

static void fill_common(struct wf_action *x, const struct cpis_case *c,
                        const struct wf_access *a)
{
    cat2(x->case_id, sizeof x->case_id, c->case_id, "");
    cat2(x->notification_id, sizeof x->notification_id, a->notification_id, "");
    cat2(x->access_key, sizeof x->access_key, a->key, "");
    x->at = a->at;
}

static struct wf_episode *one_access_episode(const struct wf_access *a)
{
    struct wf_episode *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->acc = malloc(sizeof *e->acc);
    if (!e->acc) {
        free(e);
        return NULL;
    }
    e->acc[0] = *a;
    e->n = 1;
    e->first = e->last = a->at;
    e->revision = 1;
    cat2(e->id, sizeof e->id, "land/", a->key);
    return e;
}

static char *concat_free(char *head, char *tail)
{
    if (!head || !tail) {
        free(head);
        free(tail);
        return NULL;
    }
    size_t lh = strlen(head), lt = strlen(tail);
    char *r = realloc(head, lh + lt + 1);
    if (!r) {
        free(head);
        free(tail);
        return NULL;
    }
    memcpy(r + lh, tail, lt + 1);
    free(tail);
    return r;
}

static char *dupstr(const char *s)
{
    size_t l = strlen(s);
    char *r = malloc(l + 1);
    if (r)
        memcpy(r, s, l + 1);
    return r;
}

static struct wf_episode *one_of(const struct wf_child *s, const char *key)
{
    for (size_t i = 0; s && i < s->n_one; i++)
        if (s->one[i].n && strcmp(s->one[i].acc[0].key, key) == 0)
            return &s->one[i];
    return NULL;
}

/* Landing entry or case note for episode `ep` (borrowed) or, when ep is NULL,
 * for the access alone (the action owns a one-access episode). */
static int push_document(const struct wf_policy *p, const struct wf_child *state,
                         struct wf_actions *out, int kind,
                         const struct cpis_case *c, const char *nhs_display,
                         const struct wf_access *a, const struct wf_episode *ep)
{
    struct wf_action *x = push(out, kind);
    if (!x)
        return -1;
    if (!ep) {
        x->owned_episode = one_access_episode(a);
        if (!x->owned_episode)
            return -1;
        ep = x->owned_episode;
    }
    x->episode = ep;
    fill_common(x, c, a);
    if (kind == WF_ACT_LANDING)
        cat2(x->id, sizeof x->id, ep->id, "");      /* "ep-..." or "land/" + key */
    else if (x->owned_episode)
        cat2(x->id, sizeof x->id, "note/", a->key); /* one access, no episode */
    else
        cat2(x->id, sizeof x->id, "note/", ep->id);
    route(x->recipient, sizeof x->recipient, c->worker, c);
    cat2(x->worker, sizeof x->worker, c->worker, "");
    cat2(x->team, sizeof x->team, c->team, "");
    if (ep->n > 0)
        cat2(x->notification_id, sizeof x->notification_id,
             ep->acc[ep->n - 1].notification_id, "");
    x->revision = ep->revision;
    x->at = ep->last;
    x->done = ep->done;
    x->done_at = ep->done_at;
    if (x->owned_episode) {
        const struct wf_episode *kept = one_of(state, a->key);
        if (kept) { /* its completion and revision live in the state */
            x->done = kept->done;
            x->done_at = kept->done_at;
            x->revision = kept->revision;
        }
    }
    x->repeat = malloc(sizeof *x->repeat);
    if (!x->repeat)
        return -1;
    wf_repeats(p, state, ep, x->repeat);
    x->title = wf_render_title(c, ep);
    x->body = kind == WF_ACT_LANDING
                  ? wf_render_landing_ex(c, nhs_display, ep, x->repeat, x->done,
                                         x->done_at)
                  : wf_render_case_note_ex(c, nhs_display, ep, x->repeat);
    return x->title && x->body ? 0 : -1;
}

static int build_actions(const struct wf_policy *p, const struct wf_child *state,
                         const struct cpis_case *c,
                         const char *nhs_display, const struct wf_access *a,
                         const struct wf_episode *ep, int followup,
                         int n_followup, struct wf_actions *out)
{
    struct wf_access copy = *a;
    struct wf_episode one;
    memset(&one, 0, sizeof one);
    one.n = 1;
    one.acc = &copy;
    one.first = one.last = a->at;
    one.revision = 1;
    int open = c->status == CPIS_CASE_OPEN;

    struct wf_action *x = push(out, WF_ACT_RECORD);
    if (!x)
        return -1;
    fill_common(x, c, a);
    cat2(x->id, sizeof x->id, "rec/", a->key);
    cat2(x->worker, sizeof x->worker, c->worker, "");
    cat2(x->team, sizeof x->team, c->team, "");
    x->title = wf_render_title(c, &one); /* one-line summary; body unused */
    if (!x->title)
        return -1;

    if (p->task_activities && open) {
        static const char *const suffix[3] = {"/act/worker", "/act/manager",
                                              "/act/team"};
        for (int k = 0; k < 3; k++) {
            x = push(out, WF_ACT_ITEM);
            if (!x)
                return -1;
            x->item_kind = CPIS_ITEM_TASK_ACTIVITY;
            fill_common(x, c, a);
            cat2(x->id, sizeof x->id, a->key, suffix[k]);
            if (k == 0)
                route(x->recipient, sizeof x->recipient, c->worker, c);
            else if (k == 1)
                route(x->recipient, sizeof x->recipient, c->manager, c);
            else
                route(x->recipient, sizeof x->recipient, "", c);
            cat2(x->worker, sizeof x->worker, c->worker, "");
            cat2(x->team, sizeof x->team, c->team, "");
            x->title = wf_render_title(c, &one);
            x->body = wf_render_landing(c, nhs_display, &one);
            if (!x->title || !x->body)
                return -1;
        }
    }

    if (p->first_response_routing && !open) {
        for (int k = 0; k < 2; k++) {
            x = push(out, WF_ACT_ITEM);
            if (!x)
                return -1;
            x->item_kind = CPIS_ITEM_FIRST_RESPONSE_ALERT;
            fill_common(x, c, a);
            cat2(x->id, sizeof x->id, a->key, k == 0 ? "/fr/1" : "/fr/2");
            cat2(x->recipient, sizeof x->recipient,
                 k == 0 ? nz(p->first_response_inbox, "first_response")
                        : nz(p->first_response_duty, "first_response"),
                 "");
            x->followup = followup;
            x->title = wf_render_title(c, &one);
            char head[256];
            if (followup)
                snprintf(head, sizeof head,
                         "FOLLOW UP: this child's CP-IS flag was viewed %d "
                         "times in the %d days up to this view (rule: %d or "
                         "more). Investigate this notification.\n\n",
                         n_followup, p->threshold_days, p->threshold_count);
            else
                snprintf(head, sizeof head,
                         "This child's CP-IS flag was viewed %d time%s in the "
                         "%d days up to this view (follow-up rule: %d or "
                         "more).\n\n",
                         n_followup, n_followup == 1 ? "" : "s",
                         p->threshold_days, p->threshold_count);
            x->body = concat_free(dupstr(head),
                                  wf_render_landing(c, nhs_display, &one));
            if (!x->title || !x->body)
                return -1;
        }
    }

    if (open && p->landing_page &&
        push_document(p, state, out, WF_ACT_LANDING, c, nhs_display, a, ep) < 0)
        return -1;
    if (open && p->case_note_stubs &&
        push_document(p, state, out, WF_ACT_CASE_NOTE, c, nhs_display, a, ep) < 0)
        return -1;
    return 0;
}

/* ---- the follow-up rule, re-evaluated ------------------------------------------- */

/* Two actions raising the follow-up flag of the First Response alerts of
 * the earlier access h (n accesses in its window now). */
static int push_raise(const struct wf_policy *p, const struct cpis_case *c,
                      const struct wf_hist *h, const struct wf_access *late, int n,
                      struct wf_actions *out)
{
    char when[WF_TIME_MAX], late_when[WF_TIME_MAX];
    wf_format_time(h->at, when);
    wf_format_time(late->at, late_when);
    for (int k = 0; k < 2; k++) {
        struct wf_action *x = push(out, WF_ACT_ITEM);
        if (!x)
            return -1;
        x->item_kind = CPIS_ITEM_FIRST_RESPONSE_ALERT;
        x->raise = 1;
        x->followup = 1;
        cat2(x->case_id, sizeof x->case_id, c->case_id, "");
        cat2(x->access_key, sizeof x->access_key, h->key, "");
        x->at = h->at;
        cat2(x->id, sizeof x->id, h->key, k == 0 ? "/fr/1" : "/fr/2");
        cat2(x->recipient, sizeof x->recipient,
             k == 0 ? nz(p->first_response_inbox, "first_response")
                    : nz(p->first_response_duty, "first_response"),
             "");
        char buf[512];
        snprintf(buf, sizeof buf, "FOLLOW UP: CP-IS views of case %s reached %d by %s",
                 c->case_id[0] ? c->case_id : "(no case)", n, when);
        x->title = dupstr(buf);
        snprintf(buf, sizeof buf,
                 "FOLLOW UP: a notification that arrived later (the view of %s) brings "
                 "this child's CP-IS flag views to %d in the %d days up to the view of "
                 "%s (rule: %d or more). Investigate the notification of %s: its alert "
                 "follows.\n\n",
                 late_when, n, p->threshold_days, when, p->threshold_count, when);
        x->body = dupstr(buf);
        if (!x->title || !x->body)
            return -1;
    }
    return 0;
}

static int earlier_in_window(int64_t t, const char *id, int64_t end,
                             const char *end_id, int64_t w);

/* Entries (episodes, or one-access entries with episodes off) whose first
 * access comes after (first, id) but within the repeat window: their count
 * now includes the new one.  Each gets a new revision and is emitted again
 * (landing entry and case note, as the policy gives them). */
static int refresh_later(const struct wf_policy *p, const struct cpis_case *c,
                         const char *nhs_display, struct wf_child *state,
                         const char *id, int64_t first, struct wf_actions *out)
{
    if (c->status != CPIS_CASE_OPEN || (!p->landing_page && !p->case_note_stubs))
        return 0;
    int64_t w = (int64_t)repeat_days(p) * 86400;
    struct wf_episode *v = p->episodes ? state->ep : state->one;
    size_t n = p->episodes ? state->n_ep : state->n_one;
    for (size_t i = 0; i < n; i++) {
        struct wf_episode *e = &v[i];
        if (e->n == 0 || strcmp(e->id, id) == 0 ||
            !earlier_in_window(first, id, e->first, e->id, w))
            continue;
        e->revision++;
        const struct wf_access *last = &e->acc[e->n - 1];
        const struct wf_episode *doc = p->episodes ? e : NULL;
        if (p->landing_page &&
            push_document(p, state, out, WF_ACT_LANDING, c, nhs_display, last, doc) < 0)
            return -1;
        if (p->case_note_stubs &&
            push_document(p, state, out, WF_ACT_CASE_NOTE, c, nhs_display, last, doc) < 0)
            return -1;
    }
    return 0;
}

/* 1 when h is an earlier-decided access whose follow-up window holds a
 * (a.at <= h.at <= a.at + threshold_days days), h not a itself. */
static int in_forward_window(const struct wf_policy *p, const struct wf_hist *h,
                             const struct wf_access *a)
{
    int64_t w = (int64_t)p->threshold_days * 86400;
    return strcmp(h->key, a->key) != 0 && h->at >= a->at && h->at - a->at <= w;
}

/* ---- deciding ------------------------------------------------------------- */

int wf_decide_access(const struct wf_policy *p, const struct cpis_case *c,
                     const char *nhs_display, const struct wf_access *a,
                     struct wf_child *state, struct wf_actions *out)
{
    memset(out, 0, sizeof *out);
    if (!p || !c || !a || !state)
        return -1;

    int seen = hist_has(state, a->key) || episode_of(state, a->key) != NULL;
    int n_fu = followup_count(state, a->key, a->at, p->threshold_days);
    int followup = n_fu >= p->threshold_count;

    if (seen) {
        const struct wf_episode *ep =
            p->episodes ? episode_of(state, a->key) : NULL;
        if (build_actions(p, state, c, nhs_display, a, ep, followup, n_fu, out) < 0) {
            wf_actions_free(out);
            return -1;
        }
        /* the raises this access made, again (idempotent at the host) */
        for (size_t i = 0; i < state->n_hist; i++) {
            const struct wf_hist *h = &state->hist[i];
            if (h->fr != 2 || !p->first_response_routing || !in_forward_window(p, h, a))
                continue;
            int n = followup_count(state, h->key, h->at, p->threshold_days);
            if (n >= p->threshold_count &&
                push_raise(p, c, h, a, n, out) < 0) {
                wf_actions_free(out);
                return -1;
            }
        }
        out->new_access = 0;
        out->new_episode = 0;
        return 0;
    }

    /* Every allocation first, so that a failure leaves the state as it was. */
    struct wf_hist *hist = realloc(state->hist, (state->n_hist + 1) * sizeof *hist);
    if (!hist)
        return -1;
    state->hist = hist; /* same content, one slot more */

    struct wf_episode tmp;
    memset(&tmp, 0, sizeof tmp);
    long join = -1;
    int new_ep = 0;
    if (p->episodes) {
        join = choose_episode(p, state, a->at);
        if (join >= 0) {
            if (episode_with(&state->ep[join], a, &tmp) < 0)
                return -1;
        } else {
            struct wf_episode *ep = realloc(state->ep, (state->n_ep + 1) * sizeof *ep);
            if (!ep)
                return -1;
            state->ep = ep;
            tmp.acc = malloc(sizeof *tmp.acc);
            if (!tmp.acc)
                return -1;
            tmp.acc[0] = *a;
            tmp.n = 1;
            tmp.first = tmp.last = a->at;
            tmp.revision = 1;
            cat2(tmp.id, sizeof tmp.id, "ep-", a->key);
            new_ep = 1;
        }
    }

    /* Episodes off: a landing entry / case note about this access alone is
     * kept in the state, so that completing its case note can mark it done. */
    struct wf_episode *kept = NULL;
    if (!p->episodes && c->status == CPIS_CASE_OPEN &&
        (p->landing_page || p->case_note_stubs)) {
        struct wf_episode *one = realloc(state->one, (state->n_one + 1) * sizeof *one);
        if (!one) {
            free(tmp.acc);
            return -1;
        }
        state->one = one;
        kept = one_access_episode(a);
        if (!kept) {
            free(tmp.acc);
            return -1;
        }
    }

    if (build_actions(p, state, c, nhs_display, a, p->episodes ? &tmp : NULL,
                      followup, n_fu, out) < 0) {
        free(tmp.acc);
        episode_free(kept);
        wf_actions_free(out);
        return -1;
    }
    /* The follow-up rule, re-evaluated for the earlier accesses whose window
     * this one falls in: their counts with this access included. */
    size_t n_raised = 0;
    for (size_t i = 0; i < state->n_hist; i++) {
        const struct wf_hist *h = &state->hist[i];
        if (h->fr != 1 || !p->first_response_routing || !in_forward_window(p, h, a))
            continue;
        int n = followup_count(state, h->key, h->at, p->threshold_days) + 1;
        if (n < p->threshold_count)
            continue;
        if (push_raise(p, c, h, a, n, out) < 0) {
            free(tmp.acc);
            wf_actions_free(out);
            return -1;
        }
        n_raised++;
    }

    /* Commit: nothing below can fail. */
    size_t k = state->n_hist;
    while (k > 0 && cmp_time_key(state->hist[k - 1].at, state->hist[k - 1].key,
                                 a->at, a->key) > 0) {
        state->hist[k] = state->hist[k - 1];
        k--;
    }
    state->hist[k].at = a->at;
    cat2(state->hist[k].key, sizeof state->hist[k].key, a->key, "");
    state->hist[k].fr = p->first_response_routing && c->status != CPIS_CASE_OPEN
                            ? (followup ? 2 : 1)
                            : 0;
    state->n_hist++;
    /* the raised ones are flagged now (the same selection as above) */
    for (size_t i = 0; n_raised > 0 && i < state->n_hist; i++)
        for (size_t j = 0; j < out->n; j++)
            if (out->v[j].raise &&
                strcmp(out->v[j].access_key, state->hist[i].key) == 0) {
                state->hist[i].fr = 2;
                break;
            }

    if (p->episodes) {
        if (join >= 0) {
            free(state->ep[join].acc);
            state->ep[join] = tmp;
        } else {
            state->ep[state->n_ep++] = tmp;
        }
        sort_episodes(state);
    }
    char kept_id[40] = "";
    if (kept) {
        cat2(kept_id, sizeof kept_id, kept->id, "");
        size_t k1 = state->n_one;
        while (k1 > 0 && cmp_time_key(state->one[k1 - 1].first, state->one[k1 - 1].id,
                                      kept->first, kept->id) > 0) {
            state->one[k1] = state->one[k1 - 1];
            k1--;
        }
        state->one[k1] = *kept;
        state->n_one++;
        free(kept); /* its acc now belongs to the state */
    }
    prune(p, state, a->key);

    /* Documents borrowed &tmp: point them at the episode in the state. */
    for (size_t i = 0; i < out->n; i++)
        if (out->v[i].episode && !out->v[i].owned_episode)
            out->v[i].episode = episode_by_id(state, tmp.id);

    /* A new episode that arrived late changes the repeat count of the
     * child's later entries within the window: publish them again.  (A
     * failure here returns -1 with the state already changed in memory;
     * the caller then drops that state, as on any failure.) */
    char new_id[40];
    int64_t new_first = 0;
    if (new_ep) {
        cat2(new_id, sizeof new_id, tmp.id, "");
        new_first = tmp.first;
    } else if (kept_id[0]) {
        cat2(new_id, sizeof new_id, kept_id, "");
        new_first = a->at;
    }
    if ((new_ep || kept_id[0]) &&
        refresh_later(p, c, nhs_display, state, new_id, new_first, out) < 0) {
        wf_actions_free(out);
        return -1;
    }

    out->new_access = 1;
    out->new_episode = new_ep;
    out->n_raised = n_raised;
    return 0;
}

int wf_decide_inactive(const struct wf_policy *p, const char *notification_id,
                       size_t subject_index, const char *nhs_display,
                       const char *replacement_display, const char *la_code,
                       const char *upload_file, int64_t created,
                       struct wf_actions *out)
{
    memset(out, 0, sizeof *out);
    struct wf_action *x = push(out, WF_ACT_ITEM);
    if (!x)
        return -1;
    x->item_kind = CPIS_ITEM_DATA_QUALITY;
    snprintf(x->id, sizeof x->id, "dq/%s/%zu", notification_id ? notification_id : "",
             subject_index);
    cat2(x->recipient, sizeof x->recipient,
         nz(p ? p->data_quality_owner : NULL, "cpis.data.quality"), "");
    cat2(x->notification_id, sizeof x->notification_id, notification_id, "");
    x->at = created;
    x->body = wf_render_inactive(nhs_display, replacement_display, la_code, upload_file,
                                 created, &x->title);
    if (!x->body) {
        wf_actions_free(out);
        return -1;
    }
    out->new_access = 1;
    return 0;
}

/* ---- repeats ---------------------------------------------------------------- */

/* Keep the newest WF_REPEAT_SHOW earlier episodes, newest first. */
static void add_earlier(struct wf_repeat *r, int64_t at, const char *place)
{
    size_t k = r->n_earlier;
    while (k > 0 && r->earlier[k - 1].at < at)
        k--;
    if (k >= WF_REPEAT_SHOW)
        return;
    size_t last = r->n_earlier < WF_REPEAT_SHOW ? r->n_earlier : WF_REPEAT_SHOW - 1;
    for (size_t j = last; j > k; j--)
        r->earlier[j] = r->earlier[j - 1];
    r->earlier[k].at = at;
    cat2(r->earlier[k].place, sizeof r->earlier[k].place, place, "");
    if (r->n_earlier < WF_REPEAT_SHOW)
        r->n_earlier++;
}

/* Whether (t, id) comes before (end, end_id) within w seconds. */
static int earlier_in_window(int64_t t, const char *id, int64_t end,
                             const char *end_id, int64_t w)
{
    if (t > end || end - t > w)
        return 0;
    return t < end || strcmp(id, end_id) < 0;
}

void wf_repeats(const struct wf_policy *p, const struct wf_child *state,
                const struct wf_episode *ep, struct wf_repeat *out)
{
    memset(out, 0, sizeof *out);
    out->window_days = repeat_days(p);
    out->threshold = p && p->repeat_threshold > 0 ? p->repeat_threshold : 2;
    out->count = 1;
    if (ep && state) {
        int64_t w = (int64_t)out->window_days * 86400;
        if (strncmp(ep->id, "ep-", 3) == 0) {
            for (size_t i = 0; i < state->n_ep; i++) {
                const struct wf_episode *e = &state->ep[i];
                if (strcmp(e->id, ep->id) == 0 ||
                    !earlier_in_window(e->first, e->id, ep->first, ep->id, w))
                    continue;
                out->count++;
                add_earlier(out, e->first, e->n ? e->acc[e->n - 1].place : "");
            }
        } else {
            const char *key = ep->n ? ep->acc[0].key : ep->id;
            for (size_t i = 0; i < state->n_hist; i++) {
                const struct wf_hist *h = &state->hist[i];
                if (strcmp(h->key, key) == 0 ||
                    !earlier_in_window(h->at, h->key, ep->first, key, w))
                    continue;
                out->count++;
                const struct wf_episode *kept = one_of(state, h->key);
                add_earlier(out, h->at, kept && kept->n ? kept->acc[0].place : "");
            }
        }
    }
    out->repeat = out->count >= out->threshold;
}

/* ---- a case note completed ---------------------------------------------------- */

int wf_decide_note_done(const struct wf_policy *p, const struct cpis_case *c,
                        const char *nhs_display, const char *note_id, int64_t at,
                        struct wf_child *state, struct wf_actions *out)
{
    memset(out, 0, sizeof *out);
    if (!p || !c || !note_id || !state || strncmp(note_id, "note/", 5) != 0)
        return 1;
    const char *ref = note_id + 5;
    /* a stub of an episode ("note/ep-..."), else of a one-access entry: the
     * landing entry shows its episode's last access, a one-access entry its
     * only one */
    int is_episode = strncmp(ref, "ep-", 3) == 0;
    struct wf_episode *e = is_episode ? episode_by_id(state, ref) : one_of(state, ref);
    if (!e || (is_episode && e->n == 0))
        return 1;
    int changed = 0;
    if (!e->done) {
        e->done = 1;
        e->done_at = at;
        e->revision++;
        changed = 1;
    }
    if (c->status == CPIS_CASE_OPEN && p->landing_page &&
        push_document(p, state, out, WF_ACT_LANDING, c, nhs_display,
                      is_episode ? &e->acc[e->n - 1] : &e->acc[0],
                      is_episode ? e : NULL) < 0) {
        wf_actions_free(out);
        return -1; /* the state change stands: the caller does not store it */
    }
    out->new_access = changed;
    return 0;
}
