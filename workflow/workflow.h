/*
 * workflow.h - the policies as pure functions.
 *
 * No I/O, no host calls, no globals, no locks: given a policy, the case facts
 * the host gave, the child's state (history and episodes, loaded by the
 * plugin from the host store) and one enriched access, decide the actions.
 * The same inputs always give the same outputs, which makes re-delivery
 * idempotent: deciding an access that is already in the state changes nothing
 * and re-emits the same actions (the host drops what it already has).
 * Memory: functions allocate with malloc; every struct has a _free.
 */
#ifndef CPIS_WORKFLOW_H
#define CPIS_WORKFLOW_H

#include <stddef.h>
#include <stdint.h>

#include "cpis/plugin.h"

struct wf_policy {
    int version;                 /* 5 or 6, informational */
    int task_activities;         /* flags, 0/1 */
    int first_response_routing;
    int landing_page;
    int case_note_stubs;
    int episodes;
    int window_minutes;
    int max_span_minutes;
    int threshold_count;
    int threshold_days;
    int repeat_window_days;      /* repeats.window_days: 0 = 183 */
    int repeat_threshold;        /* repeats.threshold: 0 = 2 */
    const char *data_quality_owner;   /* recipient of inactive-number items */
    const char *first_response_inbox; /* First Response alert recipients */
    const char *first_response_duty;
};

#define WF_KEY_MAX 24
/* The history (struct wf_child) keeps every access up to this many; beyond,
 * accesses older than the rule horizon are dropped (workflow.c, "State
 * bound"). */
#define WF_HIST_KEEP 1024
#define WF_STR_MAX 256

/* One access as the workflow sees it: parsed, validated and enriched. */
struct wf_access {
    char key[WF_KEY_MAX];        /* wf_access_key(): idempotency key */
    int64_t at;                  /* access time, epoch seconds UTC */
    char notification_id[128];
    char place_code[24];         /* ODS code */
    char place[WF_STR_MAX];      /* resolved name, else message name, else code */
    int place_resolved;          /* 1 when from ODS data */
    char parent[WF_STR_MAX];     /* parent trust name for a site, "" */
    char setting[40];            /* contract setting name */
    char phone[40];              /* "" if unknown */
    char viewer[WF_STR_MAX];     /* person, or responsible person, or "" */
    char role[24];               /* SDS job role code */
    char role_name[WF_STR_MAX];  /* its display name, "" */
    int system;                  /* 1 for a system (NHS 111-style) author */
    char system_name[WF_STR_MAX];
    /* Added for issue 11 (state format 2 keys "inmsg", "via", "closed"): */
    char place_in_message[WF_STR_MAX]; /* the message's own name when it
                                          differs from place, else "" */
    int place_via_parent;        /* 1: the code is not in the ODS data, its
                                    parent (trust / practice) is: place is
                                    "a site of" parent */
    char closed_on[12];          /* "YYYYMMDD" when ODS says closed with a
                                    date, "closed" without one, else "" */
};

/* The idempotency key of an access: "a" + 16 lower-case hex digits of a
 * 64-bit FNV-1a hash over NHS number, access time, author id and location.
 * Two deliveries of the same access (whatever their notification ids) get
 * the same key. */
void wf_access_key(const char *nhs, int64_t at, const char *author_id,
                   const char *location_code, char out[WF_KEY_MAX]);

struct wf_episode {
    char id[40];                 /* "ep-" + key of the access that opened it */
    int64_t first, last;         /* access times */
    uint32_t revision;           /* bumped whenever an access joins, and
                                    when the case note is completed */
    size_t n;                    /* accesses, sorted by time */
    struct wf_access *acc;
    int done;                    /* 1: the case-note stub was completed (a
                                    later access joining reopens it) */
    int64_t done_at;             /* when it was completed, 0 if not done */
};

/* One access in the history.  fr: whether it gave First Response alerts
 * and with which flag - 0 none (open case, or routing off), 1 alerts
 * without the follow-up flag, 2 alerts with it.  A late arrival that
 * brings an access with fr 1 to the threshold raises it to 2 (see
 * "Follow-up rule" at the top of workflow.c). */
struct wf_hist { int64_t at; char key[WF_KEY_MAX]; int fr; };

/* Everything the workflow remembers about one child. */
struct wf_child {
    size_t n_hist;               /* every access seen (for the follow-up rule
                                    and idempotency), sorted by time */
    struct wf_hist *hist;
    size_t n_ep;                 /* episodes, sorted by first access */
    struct wf_episode *ep;
    size_t n_one;                /* with episodes off: the one-access
                                    entries written on an open case (id
                                    "land/" + key), kept so that completing
                                    their case note can re-render them;
                                    sorted by time, pruned like the history */
    struct wf_episode *one;
};

void wf_child_free(struct wf_child *c);

enum wf_action_kind {
    WF_ACT_RECORD = 1,      /* keep the access on the child's record */
    WF_ACT_ITEM,            /* create_item (activity, FR alert, DQ item) */
    WF_ACT_LANDING,         /* publish_landing (upsert) */
    WF_ACT_CASE_NOTE        /* write_case_note (upsert) */
};

struct wf_action {
    int kind;                    /* enum wf_action_kind */
    int item_kind;               /* enum cpis_item_kind for WF_ACT_ITEM */
    char id[96];                 /* idempotency key of what is written */
    char recipient[128];
    char case_id[64];
    char worker[64];
    char team[128];
    char notification_id[128];
    char access_key[WF_KEY_MAX];
    int followup;                /* FR alert: the follow-up rule is met */
    int raise;                   /* FR alert of an EARLIER access whose
                                    follow-up flag this access raises: same
                                    item id as that alert, followup 1, no
                                    notification id (the host raises the
                                    kept item's flag, cpis/plugin.h) */
    uint32_t revision;           /* landing / case note */
    int64_t at;                  /* access time (latest for an episode) */
    char *title;                 /* malloc'd */
    char *body;                  /* malloc'd */
    const struct wf_episode *episode; /* landing/case note: borrowed from the
                                         wf_child passed in; NULL otherwise */
    /* Added by workflow: when episodes are off, a landing entry / case note
     * is about one access and has no episode in the state; the action then
     * owns a one-access episode here (malloc'd, acc malloc'd too) and
     * `episode` points at it.  wf_actions_free frees it.  NULL otherwise.
     * Borrowed `episode` pointers into the state stay valid until the next
     * call that changes that wf_child (wf_decide_access, wf_child_free). */
    struct wf_episode *owned_episode;
    /* Landing entry / case note: the child's repeat count (wf_repeats) and
     * whether the entry is done (its case note was completed). */
    struct wf_repeat *repeat;    /* malloc'd, NULL for other actions */
    int done;
    int64_t done_at;
};

/* ---- repeats (shown, not pushed) ------------------------------------------ */

#define WF_REPEAT_SHOW 5

/* An earlier episode of the child, for "2nd episode in 183 days: ...". */
struct wf_earlier {
    int64_t at;                  /* its first access */
    char place[WF_STR_MAX];      /* its last access's place, "" if not kept */
};

struct wf_repeat {
    int count;                   /* episodes in the window, this one included */
    int repeat;                  /* count >= the policy's repeat threshold */
    int window_days;
    int threshold;
    size_t n_earlier;            /* earlier episodes shown, newest first */
    struct wf_earlier earlier[WF_REPEAT_SHOW];
};

/* The child's episodes whose first access lies in the repeat window that
 * ends at ep's first access (window_days days before it, up to it), ep
 * included once whether or not the state holds it yet.  With an "ep-"
 * episode the state's episodes are counted; with a one-access entry (episodes
 * off: id "land/" + key) each access in the history is its own episode and
 * earlier places are not known (the history keeps times only). */
void wf_repeats(const struct wf_policy *p, const struct wf_child *state,
                const struct wf_episode *ep, struct wf_repeat *out);

/* "944 930 5552" or "9449305552" -> "*** *** 5552" ("" stays ""). */
void wf_mask_nhs(const char *nhs, char out[16]);

/* One phone format for every text and page: UK numbers grouped as people
 * write them (020 7946 0000, 0114 496 0000, 01782 715444, 0300 123 4567,
 * 07700 900123, 111); anything else is left as given. */
void wf_format_phone(const char *in, char *out, size_t cap);

struct wf_actions {
    size_t n, cap;
    struct wf_action *v;
    int new_access;              /* 1 when the access was not in the state */
    int new_episode;             /* 1 when the access opened an episode */
    size_t n_raised;             /* earlier accesses whose follow-up flag
                                    this decision raised (2 actions each) */
};

void wf_actions_free(struct wf_actions *a);

/* Decide one access.  state is updated in place (history, episodes).  The
 * workflow's own choices (routing when a recipient is missing, episode
 * joining, the bound on the state, re-decision of a known access) are
 * written down at the top of workflow/workflow.c.  out is overwritten (it is
 * not freed first).  Actions, in this order: WF_ACT_RECORD (title = a
 * one-line summary, body NULL), then task activities, First Response
 * alerts, the landing entry, the case note.  The
 * case is the host's answer (status UNKNOWN when the child is not known).
 * nhs_display is "944 930 5552" for the texts.  Returns 0, or -1 on
 * allocation failure (state and out are then unchanged/empty). */
int wf_decide_access(const struct wf_policy *p, const struct cpis_case *c,
                     const char *nhs_display, const struct wf_access *a,
                     struct wf_child *state, struct wf_actions *out);

/* One subject (child) of an inactive NHS number notification: one
 * data-quality item for the owner of the CP-IS uploads, in both versions.
 * subject_index numbers the subjects of one notification (the item id is
 * "dq/<notification id>/<index>"); replacement_display is the number that
 * replaces the inactive one, NULL or "" when the Spine gave none. */
int wf_decide_inactive(const struct wf_policy *p, const char *notification_id,
                       size_t subject_index, const char *nhs_display,
                       const char *replacement_display, const char *la_code,
                       const char *upload_file, int64_t created,
                       struct wf_actions *out);

/* A practitioner completed the case-note stub note_id ("note/ep-..." or
 * "note/" + access key) at `at`: mark the entry done in state and emit the
 * landing entry again (a new revision, state done) when the policy and the
 * case give it one.  Returns 0 (out->new_access = 1 when the state changed,
 * 0 when it was already done), 1 when the state holds no such episode or
 * access (pruned, or not this child's), -1 on allocation failure. */
int wf_decide_note_done(const struct wf_policy *p, const struct cpis_case *c,
                        const char *nhs_display, const char *note_id, int64_t at,
                        struct wf_child *state, struct wf_actions *out);

/* Texts: plain words a social worker can act on.  malloc'd, NUL-terminated.
 * The NHS number rule (docs/nhs-number.md): wf_render_landing_ex (the
 * landing entry) shows it masked "*** *** 5552"; the case note (on the
 * child's case) and wf_render_landing (the body of legacy work items, which
 * their recipients use to find the child) show nhs_display as given.  The
 * _ex forms add the child's repeat count (rep may be NULL) and the entry's
 * state. */
char *wf_render_landing(const struct cpis_case *c, const char *nhs_display,
                        const struct wf_episode *ep);
char *wf_render_case_note(const struct cpis_case *c, const char *nhs_display,
                          const struct wf_episode *ep);
char *wf_render_landing_ex(const struct cpis_case *c, const char *nhs_display,
                           const struct wf_episode *ep, const struct wf_repeat *rep,
                           int done, int64_t done_at);
char *wf_render_case_note_ex(const struct cpis_case *c, const char *nhs_display,
                             const struct wf_episode *ep, const struct wf_repeat *rep);
/* "2nd episode in 183 days: 10 Mar 2024, ROYAL STOKE UNIVERSITY HOSPITAL"
 * (one line, no newline).  malloc'd. */
char *wf_render_repeat_line(const struct wf_repeat *rep);
/* The child as the host knows them: "Amelia Hughes, born 12 May 2015", or
 * "name not known to the host".  malloc'd. */
char *wf_render_child(const struct cpis_case *c);

/* A name for people: an ALL-CAPITALS ODS name in title case that keeps NHS
 * abbreviations and codes as they are ("UNIVERSITY HOSPITALS OF NORTH
 * MIDLANDS NHS TRUST" -> "University Hospitals of North Midlands NHS Trust",
 * "WMAS CRESTWOOD EMERGENCY OPERATIONS CENTRE" ->
 * "WMAS Crestwood Emergency Operations Centre");
 * a name with any lower-case letter is copied as it is. */
void wf_display_name(const char *name, char *out, size_t cap);

/* Human label of a setting name ("ambulance" -> "Ambulance service"). */
const char *wf_setting_label(const char *setting);

/* ---- added by workflow (extensions; the plugin may use them) ---- */

#define WF_TIME_MAX 40

/* UK local time for people: "15 Mar 2024 14:02 GMT" / "1 Jul 2024 14:00 BST". */
void wf_format_time(int64_t t, char out[WF_TIME_MAX]);

/* One-line title of a landing entry / case note / work item about an
 * episode (case, latest place and time, number of views).  malloc'd. */
char *wf_render_title(const struct cpis_case *c, const struct wf_episode *ep);

/* The data-quality item text for an inactive NHS number: returns the body
 * and sets *subject (both malloc'd), or NULL (and *subject NULL). */
char *wf_render_inactive(const char *nhs_display, const char *replacement_display,
                         const char *la_code, const char *upload_file, int64_t created,
                         char **subject);

#endif
