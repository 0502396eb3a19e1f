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
    uint32_t revision;           /* bumped whenever an access joins */
    size_t n;                    /* accesses, sorted by time */
    struct wf_access *acc;
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
};

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

/* Texts (also used by the landing-page preview): plain words a social worker
 * can act on.  malloc'd, NUL-terminated. */
char *wf_render_landing(const struct cpis_case *c, const char *nhs_display,
                        const struct wf_episode *ep);
char *wf_render_case_note(const struct cpis_case *c, const char *nhs_display,
                          const struct wf_episode *ep);

/* A name for people: an ALL-CAPITALS ODS name in title case that keeps NHS
 * abbreviations and codes as they are ("UNIVERSITY HOSPITALS OF NORTH
 * MIDLANDS NHS TRUST" -> "University Hospitals of North Midlands NHS Trust",
 * "WMAS EMERGENCY OPERATIONS CENTRE" -> "WMAS Emergency Operations Centre");
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
