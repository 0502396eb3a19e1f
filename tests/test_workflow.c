/*
 * test_workflow.c - the pure policy functions (workflow/workflow.h):
 * every policy row for version 5 and 6 defaults and flag mixes, the 5-access
 * cascade, the First Response follow-up boundary, episode boundaries,
 * out-of-order arrival, unknown child, idempotent re-decision, bounded state
 * over 10 000 accesses, the inactive-number item and the texts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "workflow.h"

/* ---- helpers --------------------------------------------------------------- */

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return (int64_t)timegm(&tm);
}

static void put(char *dst, size_t cap, const char *s)
{
    if (!s)
        s = "";
    size_t l = strlen(s);
    assert_true(l < cap);
    memcpy(dst, s, l + 1);
}

/* What a test says about one access; NULL fields are "". */
struct spec {
    const char *nhs;
    int64_t at;
    const char *author;   /* author id (for the key) */
    const char *code;
    const char *place;
    int resolved;
    const char *parent;
    const char *setting;
    const char *phone;
    const char *viewer;
    const char *role;
    const char *role_name;
    int system;
    const char *system_name;
    const char *nid;      /* notification id, default "N-" + key */
};

/* The test helper that builds wf_access values. */
static struct wf_access mk(struct spec s)
{
    struct wf_access a;
    memset(&a, 0, sizeof a);
    const char *nhs = s.nhs ? s.nhs : "9449305552";
    const char *author = s.author ? s.author : "user-1";
    const char *code = s.code ? s.code : "RJE01";
    wf_access_key(nhs, s.at, author, code, a.key);
    a.at = s.at;
    if (s.nid)
        put(a.notification_id, sizeof a.notification_id, s.nid);
    else
        snprintf(a.notification_id, sizeof a.notification_id, "N-%s", a.key);
    put(a.place_code, sizeof a.place_code, code);
    put(a.place, sizeof a.place, s.place ? s.place : "ROYAL STOKE UNIVERSITY HOSPITAL");
    a.place_resolved = s.place ? s.resolved : 1;
    put(a.parent, sizeof a.parent, s.parent);
    put(a.setting, sizeof a.setting, s.setting ? s.setting : "hospital");
    put(a.phone, sizeof a.phone, s.phone);
    put(a.viewer, sizeof a.viewer, s.viewer);
    put(a.role, sizeof a.role, s.role);
    put(a.role_name, sizeof a.role_name, s.role_name);
    a.system = s.system;
    put(a.system_name, sizeof a.system_name, s.system_name);
    return a;
}

#define NAME_111 "KESTRELMOOR HEALTH CARE CIC - NHS 111 WEST MIDLANDS"
#define NAME_RYA "WEST MIDLANDS AMBULANCE SERVICE UNIVERSITY NHS FOUNDATION TRUST"
#define NAME_QQA01 "WMAS CRESTWOOD EMERGENCY OPERATIONS CENTRE"
#define NAME_QQA02 "STAFFORD LARKSPUR AMBULANCE HUB"
#define NAME_RJE "UNIVERSITY HOSPITALS OF NORTH MIDLANDS NHS TRUST"
#define NAME_RJE01 "ROYAL STOKE UNIVERSITY HOSPITAL"
/* As people read them (wf_display_name: title case, NHS abbreviations kept). */
#define SHOW_111 "Kestrelmoor Health Care CIC - NHS 111 West Midlands"
#define SHOW_RYA "West Midlands Ambulance Service University NHS Foundation Trust"
#define SHOW_QQA01 "WMAS Crestwood Emergency Operations Centre"
#define SHOW_QQA02 "Stafford Larkspur Ambulance Hub"
#define SHOW_RJE "University Hospitals of North Midlands NHS Trust"
#define SHOW_RJE01 "Royal Stoke University Hospital"
#define PHONE_111 "0300 100 1111"
#define PHONE_RYA "01384 215555"
#define PHONE_RJE "01782 715444"

/* The cascade of 15 March 2024 (UTC == GMT that day). */
static void cascade(struct wf_access out[5])
{
    out[0] = mk((struct spec){.at = utc(2024, 3, 15, 14, 2), .author = "asid-111",
                              .code = "QQ1", .place = NAME_111, .resolved = 1,
                              .setting = "nhs_111", .phone = PHONE_111,
                              .viewer = "Jo Clarke", .system = 1,
                              .nid = "NID-1"});
    out[1] = mk((struct spec){.at = utc(2024, 3, 15, 14, 5), .author = "u-ctl",
                              .code = "QQA01", .place = NAME_QQA01, .resolved = 1,
                              .parent = NAME_RYA, .setting = "ambulance",
                              .phone = PHONE_RYA, .viewer = "Alex Green",
                              .role = "R8003", .role_name = "Call Handler",
                              .nid = "NID-2"});
    out[2] = mk((struct spec){.at = utc(2024, 3, 15, 14, 20), .author = "u-crew",
                              .code = "QQA02", .place = NAME_QQA02, .resolved = 1,
                              .parent = NAME_RYA, .setting = "ambulance",
                              .phone = PHONE_RYA, .viewer = "Chris Hall",
                              .role = "R1370", .role_name = "Paramedic",
                              .nid = "NID-3"});
    out[3] = mk((struct spec){.at = utc(2024, 3, 15, 15, 10), .author = "u-ed",
                              .code = "RJE01", .place = NAME_RJE01, .resolved = 1,
                              .parent = NAME_RJE, .setting = "hospital",
                              .phone = PHONE_RJE, .viewer = "Dr Sam Patel",
                              .role = "R0260", .role_name = "Specialist Registrar",
                              .nid = "NID-4"});
    out[4] = mk((struct spec){.at = utc(2024, 3, 15, 18, 45), .author = "u-ward",
                              .code = "RJE01", .place = NAME_RJE01, .resolved = 1,
                              .parent = NAME_RJE, .setting = "hospital",
                              .phone = PHONE_RJE, .viewer = "Kim Lee",
                              .role = "R0570", .role_name = "Staff Nurse",
                              .nid = "NID-5"});
}

static struct wf_policy v5(void)
{
    struct wf_policy p = {
        .version = 5, .task_activities = 1, .first_response_routing = 1,
        .landing_page = 0, .case_note_stubs = 0, .episodes = 0,
        .window_minutes = 720, .max_span_minutes = 4320,
        .threshold_count = 3, .threshold_days = 183,
        .data_quality_owner = "cpis.data.quality",
        .first_response_inbox = "first.response",
        .first_response_duty = "first.response.duty"};
    return p;
}

static struct wf_policy v6(void)
{
    struct wf_policy p = v5();
    p.version = 6;
    p.task_activities = 0;
    p.first_response_routing = 0;
    p.landing_page = 1;
    p.case_note_stubs = 1;
    p.episodes = 1;
    return p;
}

static struct cpis_case mkcase(int status, const char *id, const char *worker,
                               const char *manager, const char *team)
{
    struct cpis_case c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    c.status = (uint32_t)status;
    put(c.case_id, sizeof c.case_id, id);
    put(c.worker, sizeof c.worker, worker);
    put(c.manager, sizeof c.manager, manager);
    put(c.team, sizeof c.team, team);
    return c;
}

static struct cpis_case open_case(void)
{
    return mkcase(CPIS_CASE_OPEN, "C-1001", "sw.ahmed", "tm.brooks", "Stafford North");
}
static struct cpis_case closed_case(void)
{
    return mkcase(CPIS_CASE_CLOSED, "C-0999", "", "", "");
}
static struct cpis_case unknown_case(void)
{
    return mkcase(CPIS_CASE_UNKNOWN, "", "", "", "");
}

static size_t count(const struct wf_actions *o, int kind, int item_kind)
{
    size_t n = 0;
    for (size_t i = 0; i < o->n; i++)
        if (o->v[i].kind == kind && (kind != WF_ACT_ITEM || o->v[i].item_kind == item_kind))
            n++;
    return n;
}

static const struct wf_action *find(const struct wf_actions *o, const char *id)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->v[i].id, id) == 0)
            return &o->v[i];
    return NULL;
}

static const struct wf_action *find_kind(const struct wf_actions *o, int kind)
{
    for (size_t i = 0; i < o->n; i++)
        if (o->v[i].kind == kind)
            return &o->v[i];
    return NULL;
}

static void cat(char *dst, size_t cap, const char *a, const char *b)
{
    snprintf(dst, cap, "%s%s", a, b);
}

static void decide(const struct wf_policy *p, const struct cpis_case *c,
                   const struct wf_access *a, struct wf_child *st,
                   struct wf_actions *out)
{
    assert_int_equal(wf_decide_access(p, c, "944 930 5552", a, st, out), 0);
}

/* Every occurrence of code in text is "NAME (CODE": never a bare code. */
static void assert_code_named(const char *text, const char *code, const char *name)
{
    char want[512];
    snprintf(want, sizeof want, "%s (%s", name, code);
    size_t lw = strlen(want), lc = strlen(code);
    int seen = 0;
    for (const char *p = strstr(text, code); p; p = strstr(p + 1, code)) {
        seen = 1;
        size_t off = (size_t)(p - text);
        assert_true(off + lc >= lw);
        assert_memory_equal(p + lc - lw, want, lw);
    }
    assert_true(seen);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* ---- key and labels -------------------------------------------------------- */

static uint64_t ref_fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void test_access_key(void **st)
{
    (void)st;
    char k[WF_KEY_MAX], k2[WF_KEY_MAX], want[WF_KEY_MAX];
    wf_access_key("9449305552", 1710511320, "u-1", "RJE01", k);
    snprintf(want, sizeof want, "a%016llx",
             (unsigned long long)ref_fnv1a("9449305552|1710511320|u-1|RJE01"));
    assert_string_equal(k, want);
    assert_int_equal(strlen(k), 17);
    for (size_t i = 1; i < 17; i++)
        assert_non_null(strchr("0123456789abcdef", k[i]));
    /* FNV-1a 64 of "a" is af63dc4c8601ec8c: the reference is FNV-1a */
    assert_true(ref_fnv1a("a") == 0xaf63dc4c8601ec8cULL);
    wf_access_key("9449305552", 1710511320, "u-1", "RJE01", k2);
    assert_string_equal(k, k2);
    wf_access_key("9449305553", 1710511320, "u-1", "RJE01", k2);
    assert_string_not_equal(k, k2);
    wf_access_key("9449305552", 1710511321, "u-1", "RJE01", k2);
    assert_string_not_equal(k, k2);
    wf_access_key("9449305552", 1710511320, "u-2", "RJE01", k2);
    assert_string_not_equal(k, k2);
    wf_access_key("9449305552", 1710511320, "u-1", "QQE09", k2);
    assert_string_not_equal(k, k2);
}

static void test_setting_labels(void **st)
{
    (void)st;
    assert_string_equal(wf_setting_label("nhs_111"), "NHS 111");
    assert_string_equal(wf_setting_label("ambulance"), "Ambulance service");
    assert_string_equal(wf_setting_label("hospital"), "Hospital");
    assert_string_equal(wf_setting_label("walk_in_centre"), "Walk-in centre");
    assert_string_equal(wf_setting_label("out_of_hours"), "Out-of-hours GP");
    assert_string_equal(wf_setting_label("urgent_care"), "Urgent care");
    assert_string_equal(wf_setting_label("gp_practice"), "GP practice");
    assert_string_equal(wf_setting_label("sexual_assault_referral_centre"),
                        "Sexual assault referral centre");
    assert_string_equal(wf_setting_label("other"), "Other setting");
    assert_string_equal(wf_setting_label("unknown"), "Unknown setting");
    assert_string_equal(wf_setting_label("bogus"), "Unknown setting");
    assert_string_equal(wf_setting_label(NULL), "Unknown setting");
}

static void test_uk_time(void **st)
{
    (void)st;
    char b[WF_TIME_MAX];
    wf_format_time(utc(2024, 3, 15, 14, 2), b);
    assert_string_equal(b, "15 Mar 2024 14:02 GMT");
    wf_format_time(utc(2024, 7, 1, 13, 0), b);
    assert_string_equal(b, "1 Jul 2024 14:00 BST");
    /* 2024: BST from 31 Mar 01:00 UTC to 27 Oct 01:00 UTC */
    wf_format_time(utc(2024, 3, 31, 0, 59), b);
    assert_string_equal(b, "31 Mar 2024 00:59 GMT");
    wf_format_time(utc(2024, 3, 31, 1, 0), b);
    assert_string_equal(b, "31 Mar 2024 02:00 BST");
    wf_format_time(utc(2024, 10, 27, 0, 59), b);
    assert_string_equal(b, "27 Oct 2024 01:59 BST");
    wf_format_time(utc(2024, 10, 27, 1, 0), b);
    assert_string_equal(b, "27 Oct 2024 01:00 GMT");
    wf_format_time(utc(2023, 12, 31, 23, 30), b);
    assert_string_equal(b, "31 Dec 2023 23:30 GMT");
}

/* ---- policy rows ------------------------------------------------------------- */

static void test_v5_open_case(void **st)
{
    (void)st;
    struct wf_policy p = v5();
    struct cpis_case c = open_case();
    struct wf_access acc[5];
    cascade(acc);
    struct wf_child s = {0};
    struct wf_actions o;
    decide(&p, &c, &acc[3], &s, &o);
    assert_int_equal(o.n, 4);
    assert_int_equal(o.new_access, 1);
    assert_int_equal(o.new_episode, 0);
    assert_int_equal(count(&o, WF_ACT_RECORD, 0), 1);
    assert_int_equal(count(&o, WF_ACT_ITEM, CPIS_ITEM_TASK_ACTIVITY), 3);
    assert_int_equal(count(&o, WF_ACT_ITEM, CPIS_ITEM_FIRST_RESPONSE_ALERT), 0);
    assert_int_equal(count(&o, WF_ACT_LANDING, 0), 0);
    assert_int_equal(count(&o, WF_ACT_CASE_NOTE, 0), 0);

    char id[96];
    cat(id, sizeof id, "rec/", acc[3].key);
    const struct wf_action *r = find(&o, id);
    assert_non_null(r);
    assert_int_equal(r->kind, WF_ACT_RECORD);
    assert_string_equal(r->case_id, "C-1001");
    assert_string_equal(r->notification_id, "NID-4");
    assert_string_equal(r->access_key, acc[3].key);
    assert_true(r->at == acc[3].at);

    const char *suffix[3] = {"/act/worker", "/act/manager", "/act/team"};
    const char *to[3] = {"sw.ahmed", "tm.brooks", "team:Stafford North"};
    for (int k = 0; k < 3; k++) {
        cat(id, sizeof id, acc[3].key, suffix[k]);
        const struct wf_action *x = find(&o, id);
        assert_non_null(x);
        assert_int_equal(x->kind, WF_ACT_ITEM);
        assert_int_equal(x->item_kind, CPIS_ITEM_TASK_ACTIVITY);
        assert_string_equal(x->recipient, to[k]);
        assert_string_equal(x->case_id, "C-1001");
        assert_string_equal(x->notification_id, "NID-4");
        assert_int_equal(x->followup, 0);
        assert_null(x->episode);
        assert_non_null(x->title);
        assert_non_null(strstr(x->title, "C-1001"));
        assert_non_null(strstr(x->body, SHOW_RJE01 " (RJE01)"));
        assert_non_null(strstr(x->body, PHONE_RJE));
        assert_non_null(strstr(x->body, "944 930 5552"));
    }
    /* history kept, episodes off: no episode */
    assert_int_equal(s.n_hist, 1);
    assert_string_equal(s.hist[0].key, acc[3].key);
    assert_int_equal(s.n_ep, 0);
    wf_actions_free(&o);
    wf_child_free(&s);
}

static void check_fr_only(const struct wf_actions *o, const struct wf_access *a,
                          const char *case_id, int followup)
{
    assert_int_equal(o->n, 3);
    assert_int_equal(count(o, WF_ACT_RECORD, 0), 1);
    assert_int_equal(count(o, WF_ACT_ITEM, CPIS_ITEM_FIRST_RESPONSE_ALERT), 2);
    assert_int_equal(count(o, WF_ACT_ITEM, CPIS_ITEM_TASK_ACTIVITY), 0);
    assert_int_equal(count(o, WF_ACT_LANDING, 0), 0);
    assert_int_equal(count(o, WF_ACT_CASE_NOTE, 0), 0);
    char id[96];
    const char *to[2] = {"first.response", "first.response.duty"};
    for (int k = 0; k < 2; k++) {
        cat(id, sizeof id, a->key, k == 0 ? "/fr/1" : "/fr/2");
        const struct wf_action *x = find(o, id);
        assert_non_null(x);
        assert_int_equal(x->item_kind, CPIS_ITEM_FIRST_RESPONSE_ALERT);
        assert_string_equal(x->recipient, to[k]);
        assert_string_equal(x->case_id, case_id);
        assert_int_equal(x->followup, followup);
        assert_non_null(strstr(x->body, followup ? "FOLLOW UP" : "follow-up rule"));
    }
    cat(id, sizeof id, "rec/", a->key);
    assert_non_null(find(o, id));
}

static void test_v5_closed_case(void **st)
{
    (void)st;
    struct wf_policy p = v5();
    struct cpis_case c = closed_case();
    struct wf_access a = mk((struct spec){.nhs = "4010232137", .at = utc(2024, 1, 2, 10, 0)});
    struct wf_child s = {0};
    struct wf_actions o;
    decide(&p, &c, &a, &s, &o);
    check_fr_only(&o, &a, "C-0999", 0);
    assert_int_equal(s.n_ep, 0);
    wf_actions_free(&o);
    wf_child_free(&s);
}

static void test_unknown_child(void **st)
{
    (void)st;
    struct cpis_case c = unknown_case();
    struct wf_access a = mk((struct spec){.nhs = "6281948211", .at = utc(2024, 2, 1, 9, 0)});
    /* v5: treated like a closed case, no case id */
    struct wf_policy p = v5();
    struct wf_child s = {0};
    struct wf_actions o;
    decide(&p, &c, &a, &s, &o);
    check_fr_only(&o, &a, "", 0);
    wf_actions_free(&o);
    wf_child_free(&s);

    /* v6: only the record; the episode is still tracked */
    p = v6();
    decide(&p, &c, &a, &s, &o);
    assert_int_equal(o.n, 1);
    assert_int_equal(o.v[0].kind, WF_ACT_RECORD);
    assert_string_equal(o.v[0].case_id, "");
    assert_int_equal(o.new_episode, 1);
    assert_int_equal(s.n_ep, 1);
    assert_int_equal(s.ep[0].n, 1);
    wf_actions_free(&o);

    /* the texts say there is no case */
    char *body = wf_render_landing(&c, "628 194 8211", &s.ep[0]);
    assert_non_null(body);
    assert_non_null(strstr(body, "Case: no case on record"));
    assert_non_null(strstr(body, "628 194 8211"));
    free(body);
    wf_child_free(&s);
}

static void test_v6_open_case(void **st)
{
    (void)st;
    struct wf_policy p = v6();
    struct cpis_case c = open_case();
    struct wf_access acc[5];
    cascade(acc);
    struct wf_child s = {0};
    struct wf_actions o;
    decide(&p, &c, &acc[0], &s, &o);
    assert_int_equal(o.n, 3);
    assert_int_equal(o.new_episode, 1);
    assert_int_equal(count(&o, WF_ACT_RECORD, 0), 1);
    assert_int_equal(count(&o, WF_ACT_ITEM, CPIS_ITEM_TASK_ACTIVITY), 0);
    assert_int_equal(count(&o, WF_ACT_ITEM, CPIS_ITEM_FIRST_RESPONSE_ALERT), 0);
    assert_int_equal(count(&o, WF_ACT_LANDING, 0), 1);
    assert_int_equal(count(&o, WF_ACT_CASE_NOTE, 0), 1);

    char epid[64], id[96];
    cat(epid, sizeof epid, "ep-", acc[0].key);
    assert_int_equal(s.n_ep, 1);
    assert_string_equal(s.ep[0].id, epid);

    const struct wf_action *l = find(&o, epid);
    assert_non_null(l);
    assert_int_equal(l->kind, WF_ACT_LANDING);
    assert_int_equal(l->revision, 1);
    assert_string_equal(l->recipient, "sw.ahmed");
    assert_string_equal(l->worker, "sw.ahmed");
    assert_string_equal(l->team, "Stafford North");
    assert_string_equal(l->case_id, "C-1001");
    assert_string_equal(l->notification_id, "NID-1");
    assert_ptr_equal(l->episode, &s.ep[0]);
    assert_null(l->owned_episode);
    assert_non_null(strstr(l->title, "C-1001"));
    assert_non_null(strstr(l->body, "NHS 111 system, responsible: Jo Clarke"));
    assert_non_null(strstr(l->body, SHOW_111 " (QQ1)"));
    assert_non_null(strstr(l->body, "15 Mar 2024 14:02"));

    cat(id, sizeof id, "note/", epid);
    const struct wf_action *n = find(&o, id);
    assert_non_null(n);
    assert_int_equal(n->kind, WF_ACT_CASE_NOTE);
    assert_int_equal(n->revision, 1);
    assert_string_equal(n->recipient, "sw.ahmed");
    assert_ptr_equal(n->episode, &s.ep[0]);
    assert_true(ends_with(n->body, "ACTION TAKEN (to be completed by the social worker):\n\n"));
    assert_non_null(strstr(n->body, "Case: C-1001"));
    assert_non_null(strstr(n->body, PHONE_111));
    wf_actions_free(&o);
    wf_child_free(&s);
}

static void test_v6_closed_and_unknown_record_only(void **st)
{
    (void)st;
    struct wf_policy p = v6();
    struct cpis_case cases[2] = {closed_case(), unknown_case()};
    for (int k = 0; k < 2; k++) {
        struct wf_access a = mk((struct spec){.nhs = "4010232137", .at = utc(2024, 1, 2, 10, 0)});
        struct wf_child s = {0};
        struct wf_actions o;
        decide(&p, &cases[k], &a, &s, &o);
        assert_int_equal(o.n, 1);
        assert_int_equal(o.v[0].kind, WF_ACT_RECORD);
        char id[96];
        cat(id, sizeof id, "rec/", a.key);
        assert_string_equal(o.v[0].id, id);
        /* episodes are tracked on every case while the flag is on */
        assert_int_equal(o.new_episode, 1);
        assert_int_equal(s.n_ep, 1);
        assert_int_equal(s.n_hist, 1);
        wf_actions_free(&o);
        wf_child_free(&s);
    }
}

/* Run one access through a policy on a fresh state; check the counts. */
static void mix(const struct wf_policy *p, const struct cpis_case *c,
                size_t rec, size_t act, size_t fr, size_t land, size_t note)
{
    struct wf_access acc[5];
    cascade(acc);
    struct wf_child s = {0};
    struct wf_actions o;
    decide(p, c, &acc[1], &s, &o);
    assert_int_equal(count(&o, WF_ACT_RECORD, 0), rec);
    assert_int_equal(count(&o, WF_ACT_ITEM, CPIS_ITEM_TASK_ACTIVITY), act);
    assert_int_equal(count(&o, WF_ACT_ITEM, CPIS_ITEM_FIRST_RESPONSE_ALERT), fr);
    assert_int_equal(count(&o, WF_ACT_LANDING, 0), land);
    assert_int_equal(count(&o, WF_ACT_CASE_NOTE, 0), note);
    assert_int_equal(o.n, rec + act + fr + land + note);
    assert_int_equal(s.n_ep, p->episodes ? 1 : 0);
    wf_actions_free(&o);
    wf_child_free(&s);
}

static void test_flag_mixes(void **st)
{
    (void)st;
    struct cpis_case op = open_case(), cl = closed_case(), un = unknown_case();
    struct wf_policy p;

    /* defaults */
    p = v5();
    mix(&p, &op, 1, 3, 0, 0, 0);
    mix(&p, &cl, 1, 0, 2, 0, 0);
    mix(&p, &un, 1, 0, 2, 0, 0);
    p = v6();
    mix(&p, &op, 1, 0, 0, 1, 1);
    mix(&p, &cl, 1, 0, 0, 0, 0);
    mix(&p, &un, 1, 0, 0, 0, 0);

    /* v6 with task activities on */
    p = v6();
    p.task_activities = 1;
    mix(&p, &op, 1, 3, 0, 1, 1);
    mix(&p, &cl, 1, 0, 0, 0, 0);
    /* v6 with First Response routing on */
    p = v6();
    p.first_response_routing = 1;
    mix(&p, &op, 1, 0, 0, 1, 1);
    mix(&p, &cl, 1, 0, 2, 0, 0);
    mix(&p, &un, 1, 0, 2, 0, 0);
    /* v6 with case notes off / landing off / everything off */
    p = v6();
    p.case_note_stubs = 0;
    mix(&p, &op, 1, 0, 0, 1, 0);
    p = v6();
    p.landing_page = 0;
    mix(&p, &op, 1, 0, 0, 0, 1);
    p = v6();
    p.landing_page = p.case_note_stubs = p.episodes = 0;
    mix(&p, &op, 1, 0, 0, 0, 0);
    /* v5 with the legacy rows off: record only */
    p = v5();
    p.task_activities = 0;
    p.first_response_routing = 0;
    mix(&p, &op, 1, 0, 0, 0, 0);
    mix(&p, &cl, 1, 0, 0, 0, 0);
    /* everything on */
    p = v6();
    p.task_activities = p.first_response_routing = 1;
    mix(&p, &op, 1, 3, 0, 1, 1);
    mix(&p, &cl, 1, 0, 2, 0, 0);
    /* v5 with episodes on: episodes are tracked, nothing else changes */
    p = v5();
    p.episodes = 1;
    mix(&p, &op, 1, 3, 0, 0, 0);
}

static void test_landing_without_episodes(void **st)
{
    (void)st;
    struct wf_policy p = v5();
    p.landing_page = 1;
    p.case_note_stubs = 1;
    struct cpis_case c = open_case();
    struct wf_access acc[5];
    cascade(acc);
    struct wf_child s = {0};
    struct wf_actions o;
    decide(&p, &c, &acc[2], &s, &o);
    assert_int_equal(o.n, 6);
    char id[96];
    cat(id, sizeof id, "land/", acc[2].key);
    const struct wf_action *l = find(&o, id);
    assert_non_null(l);
    assert_int_equal(l->kind, WF_ACT_LANDING);
    assert_int_equal(l->revision, 1);
    assert_non_null(l->owned_episode);
    assert_ptr_equal(l->episode, l->owned_episode);
    assert_int_equal(l->episode->n, 1);
    assert_string_equal(l->episode->acc[0].key, acc[2].key);
    assert_non_null(strstr(l->body, SHOW_QQA02 " (QQA02)"));
    assert_non_null(strstr(l->body, "part of " SHOW_RYA));
    cat(id, sizeof id, "note/", acc[2].key);
    const struct wf_action *n = find(&o, id);
    assert_non_null(n);
    assert_int_equal(n->kind, WF_ACT_CASE_NOTE);
    assert_int_equal(n->revision, 1);
    assert_non_null(n->owned_episode);
    assert_int_equal(s.n_ep, 0);
    wf_actions_free(&o);

    /* decided while episodes were off, re-decided with episodes on: the
     * state is left alone and the one-access form is re-emitted */
    p.episodes = 1;
    decide(&p, &c, &acc[2], &s, &o);
    assert_int_equal(o.new_access, 0);
    assert_int_equal(o.new_episode, 0);
    assert_int_equal(s.n_ep, 0);
    assert_int_equal(s.n_hist, 1);
    cat(id, sizeof id, "land/", acc[2].key);
    assert_non_null(find(&o, id));
    cat(id, sizeof id, "note/", acc[2].key);
    assert_non_null(find(&o, id));
    wf_actions_free(&o);
    wf_child_free(&s);
}

static void test_missing_recipients(void **st)
{
    (void)st;
    struct wf_policy p = v6();
    p.task_activities = 1;
    struct wf_access a = mk((struct spec){.at = utc(2024, 5, 1, 9, 0)});
    char id[96];
    struct {
        struct cpis_case c;
        const char *worker, *manager, *team, *landing;
    } rows[] = {
        {mkcase(CPIS_CASE_OPEN, "C-1", "", "tm.x", "North"), "team:North", "tm.x",
         "team:North", "team:North"},
        {mkcase(CPIS_CASE_OPEN, "C-2", "sw.y", "", "North"), "sw.y", "team:North",
         "team:North", "sw.y"},
        {mkcase(CPIS_CASE_OPEN, "C-3", "sw.y", "tm.x", ""), "sw.y", "tm.x",
         "unallocated", "sw.y"},
        {mkcase(CPIS_CASE_OPEN, "C-4", "", "", ""), "unallocated", "unallocated",
         "unallocated", "unallocated"},
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        struct wf_child s = {0};
        struct wf_actions o;
        decide(&p, &rows[r].c, &a, &s, &o);
        assert_int_equal(count(&o, WF_ACT_ITEM, CPIS_ITEM_TASK_ACTIVITY), 3);
        cat(id, sizeof id, a.key, "/act/worker");
        assert_string_equal(find(&o, id)->recipient, rows[r].worker);
        cat(id, sizeof id, a.key, "/act/manager");
        assert_string_equal(find(&o, id)->recipient, rows[r].manager);
        cat(id, sizeof id, a.key, "/act/team");
        assert_string_equal(find(&o, id)->recipient, rows[r].team);
        assert_string_equal(find_kind(&o, WF_ACT_LANDING)->recipient, rows[r].landing);
        assert_string_equal(find_kind(&o, WF_ACT_CASE_NOTE)->recipient, rows[r].landing);
        wf_actions_free(&o);
        wf_child_free(&s);
    }
}

/* ---- the cascade ------------------------------------------------------------- */

static void test_cascade_v5(void **st)
{
    (void)st;
    struct wf_policy p = v5();
    struct cpis_case c = open_case();
    struct wf_access acc[5];
    cascade(acc);
    struct wf_child s = {0};
    size_t act = 0, land = 0, rec = 0, fr = 0;
    for (int i = 0; i < 5; i++) {
        struct wf_actions o;
        decide(&p, &c, &acc[i], &s, &o);
        act += count(&o, WF_ACT_ITEM, CPIS_ITEM_TASK_ACTIVITY);
        fr += count(&o, WF_ACT_ITEM, CPIS_ITEM_FIRST_RESPONSE_ALERT);
        land += count(&o, WF_ACT_LANDING, 0);
        rec += count(&o, WF_ACT_RECORD, 0);
        wf_actions_free(&o);
    }
    assert_int_equal(act, 15);
    assert_int_equal(land, 0);
    assert_int_equal(fr, 0);
    assert_int_equal(rec, 5);
    assert_int_equal(s.n_hist, 5);
    wf_child_free(&s);
}

static void test_cascade_v6(void **st)
{
    (void)st;
    struct wf_policy p = v6();
    struct cpis_case c = open_case();
    struct wf_access acc[5];
    cascade(acc);
    struct wf_child s = {0};
    char epid[64], noteid[96];
    cat(epid, sizeof epid, "ep-", acc[0].key);
    cat(noteid, sizeof noteid, "note/", epid);
    size_t rec = 0, act = 0, new_eps = 0;
    char *last_landing = NULL, *last_note = NULL;
    for (int i = 0; i < 5; i++) {
        struct wf_actions o;
        decide(&p, &c, &acc[i], &s, &o);
        rec += count(&o, WF_ACT_RECORD, 0);
        act += count(&o, WF_ACT_ITEM, CPIS_ITEM_TASK_ACTIVITY);
        new_eps += (size_t)o.new_episode;
        assert_int_equal(count(&o, WF_ACT_LANDING, 0), 1);
        assert_int_equal(count(&o, WF_ACT_CASE_NOTE, 0), 1);
        const struct wf_action *l = find(&o, epid);
        const struct wf_action *n = find(&o, noteid);
        assert_non_null(l);
        assert_non_null(n);
        assert_int_equal(l->revision, (uint32_t)(i + 1));
        assert_int_equal(n->revision, (uint32_t)(i + 1));
        assert_true(l->at == acc[i].at);
        assert_ptr_equal(l->episode, &s.ep[0]);
        assert_int_equal(l->episode->n, (size_t)(i + 1));
        assert_string_equal(l->notification_id, acc[i].notification_id);
        assert_string_equal(l->recipient, "sw.ahmed");
        if (i == 4) {
            assert_string_equal(l->title, "CP-IS: case C-1001, flag viewed at " SHOW_RJE01
                                          " (Hospital), 15 Mar 2024 18:45 GMT (5 views "
                                          "in this episode)");
            assert_string_equal(n->title, l->title);
        }
        free(last_landing);
        free(last_note);
        last_landing = strdup(l->body);
        last_note = strdup(n->body);
        wf_actions_free(&o);
    }
    assert_int_equal(rec, 5);
    assert_int_equal(act, 0);
    assert_int_equal(new_eps, 1);
    assert_int_equal(s.n_ep, 1);
    assert_int_equal(s.ep[0].n, 5);
    assert_int_equal(s.ep[0].revision, 5);
    assert_true(s.ep[0].first == acc[0].at);
    assert_true(s.ep[0].last == acc[4].at);

    /* each place once, with its times */
    const char *pathway =
        "Pathway: NHS 111: " SHOW_111 " 14:02 -> Ambulance service: " SHOW_QQA01
        " 14:05 -> Ambulance service: " SHOW_QQA02 " 14:20 -> Hospital: " SHOW_RJE01
        " 15:10, 18:45\n";
    const char *texts[2] = {last_landing, last_note};
    for (int t = 0; t < 2; t++) {
        const char *b = texts[t];
        assert_non_null(strstr(b, pathway));
        assert_non_null(strstr(b, "Case: C-1001"));
        /* the landing entry masks the NHS number; the case note shows it */
        assert_non_null(strstr(b, t == 0 ? "NHS number *** *** 5552" : "NHS number 944 930 5552"));
        if (t == 0)
            assert_null(strstr(b, "944 930 5552"));
        assert_non_null(strstr(b, "15 Mar 2024 14:02 GMT to 15 Mar 2024 18:45 GMT (5 views"));
        /* details in time order, with names, parents, roles and phones */
        const char *order[] = {
            "1. 15 Mar 2024 14:02 GMT", SHOW_111 " (QQ1)",
            "NHS 111 system, responsible: Jo Clarke", PHONE_111,
            "2. 15 Mar 2024 14:05 GMT", SHOW_QQA01 " (QQA01), part of " SHOW_RYA,
            "Alex Green, Call Handler\n", PHONE_RYA,
            "3. 15 Mar 2024 14:20 GMT", SHOW_QQA02 " (QQA02)", "Chris Hall, Paramedic",
            "4. 15 Mar 2024 15:10 GMT", SHOW_RJE01 " (RJE01), part of " SHOW_RJE,
            "Dr Sam Patel, Specialist Registrar\n", PHONE_RJE,
            "5. 15 Mar 2024 18:45 GMT", "Kim Lee, Staff Nurse\n", PHONE_RJE};
        const char *from = b;
        for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
            const char *q = strstr(from, order[k]);
            if (!q)
                fail_msg("missing or out of order: %s", order[k]);
            from = q + strlen(order[k]);
        }
        assert_code_named(b, "QQ1", SHOW_111);
        assert_code_named(b, "QQA01", SHOW_QQA01);
        assert_code_named(b, "QQA02", SHOW_QQA02);
        assert_code_named(b, "RJE01", SHOW_RJE01);
        assert_non_null(strstr(b, "Kind of setting: Ambulance service"));
    }
    assert_true(ends_with(last_note, "ACTION TAKEN (to be completed by the social worker):\n\n"));
    assert_null(strstr(last_landing, "ACTION TAKEN"));
    assert_non_null(strstr(last_landing, "What to do"));
    free(last_landing);
    free(last_note);
    wf_child_free(&s);
}

/* ---- follow-up rule ---------------------------------------------------------- */

/* Three accesses: first `spread_days` days before the third, one in between;
 * returns the follow-up flag of the third. */
static int followup_of_third(int64_t spread_seconds)
{
    struct wf_policy p = v5();
    struct cpis_case c = closed_case();
    int64_t t3 = utc(2024, 9, 1, 12, 0);
    struct wf_access a[3] = {
        mk((struct spec){.nhs = "4010232137", .at = t3 - spread_seconds, .author = "x1"}),
        mk((struct spec){.nhs = "4010232137", .at = t3 - 86400 * 30, .author = "x2"}),
        mk((struct spec){.nhs = "4010232137", .at = t3, .author = "x3"}),
    };
    struct wf_child s = {0};
    int fu = -1;
    for (int i = 0; i < 3; i++) {
        struct wf_actions o;
        decide(&p, &c, &a[i], &s, &o);
        assert_int_equal(count(&o, WF_ACT_ITEM, CPIS_ITEM_FIRST_RESPONSE_ALERT), 2);
        size_t nfr = 0;
        for (size_t k = 0; k < o.n; k++)
            if (o.v[k].item_kind == CPIS_ITEM_FIRST_RESPONSE_ALERT) {
                if (i < 2)
                    assert_int_equal(o.v[k].followup, 0);
                else if (nfr++ == 0)
                    fu = o.v[k].followup;
                else
                    assert_int_equal(o.v[k].followup, fu); /* both alerts agree */
            }
        wf_actions_free(&o);
    }
    wf_child_free(&s);
    return fu;
}

static void test_followup_boundary(void **st)
{
    (void)st;
    assert_int_equal(followup_of_third(183LL * 86400), 1);
    assert_int_equal(followup_of_third(184LL * 86400), 0);
    assert_int_equal(followup_of_third(183LL * 86400 + 1), 0);
}

static void test_followup_any_status_and_out_of_order(void **st)
{
    (void)st;
    struct wf_policy p = v5();
    struct cpis_case op = open_case(), cl = closed_case();
    int64_t t0 = utc(2024, 1, 10, 8, 0);
    struct wf_access a[3] = {
        mk((struct spec){.at = t0, .author = "y1"}),
        mk((struct spec){.at = t0 + 86400 * 10, .author = "y2"}),
        mk((struct spec){.at = t0 + 86400 * 20, .author = "y3"}),
    };
    /* two accesses while the case was open count for the closed-case rule */
    struct wf_child s = {0};
    struct wf_actions o;
    decide(&p, &op, &a[0], &s, &o);
    wf_actions_free(&o);
    decide(&p, &op, &a[1], &s, &o);
    wf_actions_free(&o);
    decide(&p, &cl, &a[2], &s, &o);
    check_fr_only(&o, &a[2], "C-0999", 1);
    wf_actions_free(&o);
    wf_child_free(&s);

    /* out of order: latest first.  An earlier access does not count later
     * ones for ITS flag, but it is counted again for the later ones whose
     * window it falls in (issue 12): a[1] completes a[2]'s count, and the
     * alerts of a[2] are raised. */
    decide(&p, &cl, &a[2], &s, &o);
    check_fr_only(&o, &a[2], "C-0999", 0);
    wf_actions_free(&o);
    decide(&p, &cl, &a[0], &s, &o);
    check_fr_only(&o, &a[0], "C-0999", 0);
    assert_int_equal(o.n_raised, 0); /* a[2] sees 2 of 3 */
    wf_actions_free(&o);
    decide(&p, &cl, &a[1], &s, &o);
    assert_int_equal(o.n_raised, 1);
    assert_int_equal(o.n, 5);
    char id[96];
    cat(id, sizeof id, a[1].key, "/fr/1");
    assert_int_equal(find(&o, id)->followup, 0); /* a[0] and a[1]: 2 < 3 */
    for (int k = 0; k < 2; k++) {
        cat(id, sizeof id, a[2].key, k == 0 ? "/fr/1" : "/fr/2");
        const struct wf_action *x = find(&o, id);
        assert_non_null(x);
        assert_int_equal(x->raise, 1);
        assert_int_equal(x->followup, 1);
        assert_string_equal(x->access_key, a[2].key);
        assert_string_equal(x->notification_id, "");
        assert_non_null(strstr(x->body, "FOLLOW UP: a notification that arrived later"));
    }
    wf_actions_free(&o);
    /* a re-delivery of a[1] re-emits the raise (idempotent at the host) */
    decide(&p, &cl, &a[1], &s, &o);
    assert_int_equal(o.new_access, 0);
    assert_int_equal(o.n, 5);
    wf_actions_free(&o);
    /* hist is sorted by time whatever the arrival order */
    assert_int_equal(s.n_hist, 3);
    assert_string_equal(s.hist[0].key, a[0].key);
    assert_string_equal(s.hist[1].key, a[1].key);
    assert_string_equal(s.hist[2].key, a[2].key);
    /* re-deciding the latest now counts all three (counted now) */
    decide(&p, &cl, &a[2], &s, &o);
    assert_int_equal(o.new_access, 0);
    check_fr_only(&o, &a[2], "C-0999", 1);
    wf_actions_free(&o);
    wf_child_free(&s);
}

/* ---- the follow-up rule does not depend on arrival order (issue 12) ---------- */

/* The follow-up flags of a set of accesses decided in the order perm[],
 * as the host would end up holding them: each access's own alert flag,
 * raised (never lowered) by any later raise action naming it.  flags[i]
 * is for acc[i]. */
static void flags_in_order(const struct wf_policy *p, const struct cpis_case *c,
                           const struct wf_access *acc, const size_t *perm, size_t n,
                           int *flags)
{
    struct wf_child s = {0};
    for (size_t i = 0; i < n; i++)
        flags[i] = -1;
    for (size_t k = 0; k < n; k++) {
        struct wf_actions o;
        decide(p, c, &acc[perm[k]], &s, &o);
        for (size_t j = 0; j < o.n; j++) {
            const struct wf_action *x = &o.v[j];
            if (x->kind != WF_ACT_ITEM || x->item_kind != CPIS_ITEM_FIRST_RESPONSE_ALERT)
                continue;
            for (size_t i = 0; i < n; i++)
                if (strcmp(x->access_key, acc[i].key) == 0) {
                    if (x->raise)
                        assert_int_not_equal(flags[i], -1); /* raised only once created */
                    if (x->followup || flags[i] < 0)
                        flags[i] = x->followup;
                }
        }
        wf_actions_free(&o);
    }
    wf_child_free(&s);
}

/* What the rule says for the whole set: acc[i] is a follow-up when at
 * least threshold_count accesses are in [at - days, at]. */
static int rule_for_set(const struct wf_policy *p, const struct wf_access *acc, size_t n,
                        size_t i)
{
    int64_t w = (int64_t)p->threshold_days * 86400;
    int count = 0;
    for (size_t j = 0; j < n; j++)
        if (acc[j].at <= acc[i].at && acc[i].at - acc[j].at <= w)
            count++;
    return count >= p->threshold_count;
}

static int next_perm(size_t *a, size_t n)
{
    if (n < 2)
        return 0;
    size_t i = n - 1;
    while (i > 0 && a[i - 1] >= a[i])
        i--;
    if (i == 0)
        return 0;
    size_t j = n - 1;
    while (a[j] <= a[i - 1])
        j--;
    size_t t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
    for (size_t l = i, r = n - 1; l < r; l++, r--) {
        t = a[l];
        a[l] = a[r];
        a[r] = t;
    }
    return 1;
}

/* Every one of the 720 orders of six accesses (three inside 183 days, one
 * far earlier, two at the edges of the window, one tie) gives the same
 * flags, and they are the rule's for the whole set. */
static void test_followup_every_permutation(void **st)
{
    (void)st;
    struct wf_policy p = v5();
    struct cpis_case cl = closed_case();
    int64_t d = 86400, t0 = utc(2024, 1, 10, 8, 0);
    const int64_t at[6] = {t0, t0 + 200 * d, t0 + 210 * d, t0 + 210 * d,
                           t0 + 200 * d + 183 * d, t0 + 200 * d + 184 * d};
    struct wf_access acc[6];
    for (size_t i = 0; i < 6; i++) {
        char author[16];
        snprintf(author, sizeof author, "p%zu", i);
        acc[i] = mk((struct spec){.at = at[i], .author = author});
    }
    int want[6], any = 0;
    for (size_t i = 0; i < 6; i++) {
        want[i] = rule_for_set(&p, acc, 6, i);
        any += want[i];
    }
    assert_true(any > 0 && any < 6); /* the set has flagged and unflagged ones */
    size_t perm[6] = {0, 1, 2, 3, 4, 5};
    size_t orders = 0;
    do {
        int got[6];
        flags_in_order(&p, &cl, acc, perm, 6, got);
        for (size_t i = 0; i < 6; i++)
            if (got[i] != want[i])
                fail_msg("order %zu %zu %zu %zu %zu %zu: access %zu flag %d, the rule says %d",
                         perm[0], perm[1], perm[2], perm[3], perm[4], perm[5], i, got[i],
                         want[i]);
        orders++;
    } while (next_perm(perm, 6));
    assert_int_equal(orders, 720);
}

/* Another threshold and a bigger set, every order of 7 accesses:
 * threshold 2 in 30 days, the set spanning 60 days (nothing is pruned, so
 * even an access arriving 60 days late is exact). */
static void test_followup_permutations_other_threshold(void **st)
{
    (void)st;
    struct wf_policy p = v5();
    p.threshold_count = 2;
    p.threshold_days = 30;
    struct cpis_case unk = closed_case();
    unk.status = CPIS_CASE_UNKNOWN;
    int64_t d = 86400, t0 = utc(2024, 5, 1, 0, 0);
    const int64_t at[7] = {t0, t0 + 30 * d, t0 + 30 * d + 60, t0 + 31 * d, t0 + 45 * d,
                           t0 + 59 * d, t0 + 60 * d};
    struct wf_access acc[7];
    for (size_t i = 0; i < 7; i++) {
        char author[16];
        snprintf(author, sizeof author, "q%zu", i);
        acc[i] = mk((struct spec){.at = at[i], .author = author});
    }
    size_t perm[7] = {0, 1, 2, 3, 4, 5, 6};
    int first[7];
    flags_in_order(&p, &unk, acc, perm, 7, first);
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(first[i], rule_for_set(&p, acc, 7, i));
    size_t orders = 0;
    do {
        int got[7];
        flags_in_order(&p, &unk, acc, perm, 7, got);
        assert_memory_equal(got, first, sizeof got);
        orders++;
    } while (next_perm(perm, 7));
    assert_int_equal(orders, 5040);
}

/* ---- episode boundaries -------------------------------------------------------- */

/* Decide accesses at the given minute offsets; return the number of episodes. */
static size_t episodes_for(const struct wf_policy *p, const int64_t *min, size_t n,
                           struct wf_child *s)
{
    struct cpis_case c = open_case();
    int64_t base = utc(2024, 4, 1, 0, 0);
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        char author[32];
        snprintf(author, sizeof author, "e%zu", i);
        struct wf_access a = mk((struct spec){.at = base + min[i] * 60, .author = author});
        struct wf_actions o;
        decide(p, &c, &a, s, &o);
        wf_actions_free(&o);
    }
    return s->n_ep;
}

static void test_episode_window(void **st)
{
    (void)st;
    struct wf_policy p = v6(); /* window 720, span 4320 */
    struct wf_child s;
    int64_t in[] = {0, 720 - 1};
    assert_int_equal(episodes_for(&p, in, 2, &s), 1);
    wf_child_free(&s);
    int64_t edge[] = {0, 720};
    assert_int_equal(episodes_for(&p, edge, 2, &s), 1);
    assert_int_equal(s.ep[0].n, 2);
    assert_int_equal(s.ep[0].revision, 2);
    wf_child_free(&s);
    int64_t out[] = {0, 720 + 1};
    assert_int_equal(episodes_for(&p, out, 2, &s), 2);
    assert_int_equal(s.ep[0].n, 1);
    assert_int_equal(s.ep[1].n, 1);
    assert_true(s.ep[0].first < s.ep[1].first);
    wf_child_free(&s);
    /* before the first access, arriving later */
    int64_t before_in[] = {1000, 1000 - 720 + 1};
    assert_int_equal(episodes_for(&p, before_in, 2, &s), 1);
    assert_true(s.ep[0].first == s.ep[0].acc[0].at);
    assert_true(s.ep[0].acc[0].at < s.ep[0].acc[1].at); /* sorted by time */
    wf_child_free(&s);
    int64_t before_out[] = {1000, 1000 - 720 - 1};
    assert_int_equal(episodes_for(&p, before_out, 2, &s), 2);
    assert_true(s.ep[0].first < s.ep[1].first); /* episodes sorted by first */
    wf_child_free(&s);
}

static void test_episode_max_span(void **st)
{
    (void)st;
    struct wf_policy p = v6();
    p.window_minutes = 1000; /* gaps of 720 below are inside the window */
    struct wf_child s;
    int64_t in[] = {0, 900, 1800, 2700, 3600, 4320 - 1};
    assert_int_equal(episodes_for(&p, in, 6, &s), 1);
    wf_child_free(&s);
    int64_t edge[] = {0, 900, 1800, 2700, 3600, 4320};
    assert_int_equal(episodes_for(&p, edge, 6, &s), 1);
    assert_int_equal(s.ep[0].n, 6);
    wf_child_free(&s);
    int64_t out[] = {0, 900, 1800, 2700, 3600, 4320 + 1};
    assert_int_equal(episodes_for(&p, out, 6, &s), 2);
    assert_int_equal(s.ep[0].n, 5);
    assert_int_equal(s.ep[1].n, 1);
    wf_child_free(&s);
}

static void test_episode_bridge_joins_closest(void **st)
{
    (void)st;
    struct wf_policy p = v6();
    p.window_minutes = 600;
    p.max_span_minutes = 1000;
    struct wf_child s;
    /* 0 and 900 are two episodes (span 900 ok but gap > window); 500 fits both
     * windows; nearest access is 500 from 0 and 400 from 900: joins the
     * second; no merge */
    int64_t m[] = {0, 900, 500};
    /* 900 - 0 = 900 > 600: a second episode */
    assert_int_equal(episodes_for(&p, m, 3, &s), 2);
    assert_int_equal(s.ep[0].n, 1);
    assert_int_equal(s.ep[1].n, 2);
    assert_true(s.ep[1].first == s.ep[1].acc[0].at);
    wf_child_free(&s);
}

/* ---- out of order ----------------------------------------------------------- */

static void incident_set(struct wf_access out[8])
{
    cascade(out);
    int64_t d3 = utc(2024, 3, 18, 20, 0);
    out[5] = mk((struct spec){.at = d3, .author = "z1", .code = "Q99620",
                              .place = "ROWANBANK DOCTORS URGENT CARE OOH",
                              .resolved = 1, .setting = "out_of_hours"});
    out[6] = mk((struct spec){.at = d3 + 3600, .author = "z2"});
    out[7] = mk((struct spec){.at = utc(2024, 4, 10, 9, 0), .author = "z3",
                              .code = "Q99001", .place = "THISTLEGATE MEDICAL PRACTICE",
                              .resolved = 1, .setting = "gp_practice"});
}

/* The earliest key of the episode holding key. */
static const char *episode_anchor(const struct wf_child *s, const char *key)
{
    for (size_t i = 0; i < s->n_ep; i++)
        for (size_t j = 0; j < s->ep[i].n; j++)
            if (strcmp(s->ep[i].acc[j].key, key) == 0)
                return s->ep[i].acc[0].key;
    return NULL;
}

static void test_out_of_order_same_episodes(void **st)
{
    (void)st;
    struct wf_policy p = v6();
    struct cpis_case c = open_case();
    struct wf_access a[8];
    incident_set(a);
    const int orders[4][8] = {
        {0, 1, 2, 3, 4, 5, 6, 7},
        {7, 6, 5, 4, 3, 2, 1, 0},
        {3, 6, 0, 7, 4, 1, 5, 2},
        {4, 0, 6, 2, 7, 3, 5, 1},
    };
    struct wf_child ref = {0};
    for (int k = 0; k < 4; k++) {
        struct wf_child s = {0};
        for (int i = 0; i < 8; i++) {
            struct wf_actions o;
            decide(&p, &c, &a[orders[k][i]], &s, &o);
            wf_actions_free(&o);
        }
        assert_int_equal(s.n_ep, 3);
        assert_int_equal(s.n_hist, 8);
        for (size_t i = 1; i < s.n_hist; i++)
            assert_true(s.hist[i - 1].at <= s.hist[i].at);
        for (size_t i = 0; i < s.n_ep; i++) {
            for (size_t j = 1; j < s.ep[i].n; j++)
                assert_true(s.ep[i].acc[j - 1].at <= s.ep[i].acc[j].at);
            assert_true(s.ep[i].first == s.ep[i].acc[0].at);
            assert_true(s.ep[i].last == s.ep[i].acc[s.ep[i].n - 1].at);
            if (i)
                assert_true(s.ep[i - 1].first < s.ep[i].first);
        }
        assert_int_equal(s.ep[0].n, 5);
        assert_int_equal(s.ep[1].n, 2);
        assert_int_equal(s.ep[2].n, 1);
        if (k == 0) {
            ref = s;
            continue;
        }
        for (int i = 0; i < 8; i++)
            assert_string_equal(episode_anchor(&s, a[i].key),
                                episode_anchor(&ref, a[i].key));
        wf_child_free(&s);
    }
    /* the pathway follows access time, not arrival time */
    char *body = wf_render_landing(&c, "944 930 5552", &ref.ep[0]);
    assert_non_null(body);
    assert_non_null(strstr(body, "NHS 111: " SHOW_111 " 14:02 -> Ambulance service: "));
    free(body);
    wf_child_free(&ref);
}

/* ---- idempotency ------------------------------------------------------------- */

static void clone_child(const struct wf_child *s, struct wf_child *d)
{
    *d = *s;
    d->hist = malloc((s->n_hist ? s->n_hist : 1) * sizeof *d->hist);
    assert_non_null(d->hist);
    if (s->n_hist)
        memcpy(d->hist, s->hist, s->n_hist * sizeof *d->hist);
    d->ep = malloc((s->n_ep ? s->n_ep : 1) * sizeof *d->ep);
    assert_non_null(d->ep);
    for (size_t i = 0; i < s->n_ep; i++) {
        d->ep[i] = s->ep[i];
        d->ep[i].acc = malloc((s->ep[i].n ? s->ep[i].n : 1) * sizeof *d->ep[i].acc);
        assert_non_null(d->ep[i].acc);
        for (size_t j = 0; j < s->ep[i].n; j++)
            d->ep[i].acc[j] = s->ep[i].acc[j];
    }
}

static void assert_child_equal(const struct wf_child *a, const struct wf_child *b)
{
    assert_int_equal(a->n_hist, b->n_hist);
    for (size_t i = 0; i < a->n_hist; i++) {
        assert_true(a->hist[i].at == b->hist[i].at);
        assert_string_equal(a->hist[i].key, b->hist[i].key);
    }
    assert_int_equal(a->n_ep, b->n_ep);
    for (size_t i = 0; i < a->n_ep; i++) {
        const struct wf_episode *x = &a->ep[i], *y = &b->ep[i];
        assert_string_equal(x->id, y->id);
        assert_true(x->first == y->first && x->last == y->last);
        assert_int_equal(x->revision, y->revision);
        assert_int_equal(x->n, y->n);
        for (size_t j = 0; j < x->n; j++) {
            assert_string_equal(x->acc[j].key, y->acc[j].key);
            assert_true(x->acc[j].at == y->acc[j].at);
            assert_string_equal(x->acc[j].notification_id, y->acc[j].notification_id);
            assert_string_equal(x->acc[j].place, y->acc[j].place);
            assert_string_equal(x->acc[j].viewer, y->acc[j].viewer);
        }
    }
}

static void assert_actions_equal(const struct wf_actions *a, const struct wf_actions *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct wf_action *x = &a->v[i], *y = &b->v[i];
        assert_int_equal(x->kind, y->kind);
        assert_int_equal(x->item_kind, y->item_kind);
        assert_string_equal(x->id, y->id);
        assert_string_equal(x->recipient, y->recipient);
        assert_string_equal(x->case_id, y->case_id);
        assert_string_equal(x->notification_id, y->notification_id);
        assert_int_equal(x->followup, y->followup);
        assert_int_equal(x->revision, y->revision);
        assert_true(x->at == y->at);
        assert_true((x->title == NULL) == (y->title == NULL));
        if (x->title)
            assert_string_equal(x->title, y->title);
        assert_true((x->body == NULL) == (y->body == NULL));
        if (x->body)
            assert_string_equal(x->body, y->body);
    }
}

static void test_idempotent_redecision(void **st)
{
    (void)st;
    struct wf_policy p = v6();
    p.task_activities = 1;
    struct cpis_case c = open_case();
    struct wf_access acc[5];
    cascade(acc);
    struct wf_child s = {0};
    struct wf_actions o, first_last;
    for (int i = 0; i < 3; i++) {
        decide(&p, &c, &acc[i], &s, &o);
        if (i == 2)
            first_last = o;
        else
            wf_actions_free(&o);
    }
    /* re-deciding the latest access: identical actions, identical state */
    struct wf_child before;
    clone_child(&s, &before);
    decide(&p, &c, &acc[2], &s, &o);
    assert_int_equal(o.new_access, 0);
    assert_int_equal(o.new_episode, 0);
    assert_actions_equal(&o, &first_last);
    assert_child_equal(&s, &before);
    wf_actions_free(&o);
    wf_actions_free(&first_last);

    /* re-deciding an earlier access: same ids, current revision (3) */
    struct wf_actions again;
    decide(&p, &c, &acc[0], &s, &o);
    decide(&p, &c, &acc[0], &s, &again);
    assert_actions_equal(&o, &again);
    assert_int_equal(o.new_access, 0);
    assert_int_equal(o.n, 6);
    char id[96];
    cat(id, sizeof id, "rec/", acc[0].key);
    assert_non_null(find(&o, id));
    cat(id, sizeof id, acc[0].key, "/act/manager");
    assert_non_null(find(&o, id));
    cat(id, sizeof id, "ep-", acc[0].key);
    const struct wf_action *l = find(&o, id);
    assert_non_null(l);
    assert_int_equal(l->revision, 3);
    assert_ptr_equal(l->episode, &s.ep[0]);
    assert_child_equal(&s, &before);
    wf_actions_free(&o);
    wf_actions_free(&again);

    /* a resend under a new notification id: same key, same ids, no change */
    struct wf_access resend = acc[1];
    put(resend.notification_id, sizeof resend.notification_id, "NID-2-RESENT");
    decide(&p, &c, &resend, &s, &o);
    assert_int_equal(o.new_access, 0);
    cat(id, sizeof id, "rec/", acc[1].key);
    assert_non_null(find(&o, id));
    assert_string_equal(find(&o, id)->notification_id, "NID-2-RESENT");
    assert_child_equal(&s, &before);
    wf_actions_free(&o);

    wf_child_free(&before);
    wf_child_free(&s);

    /* v5 closed case: same alert ids, followup unchanged */
    p = v5();
    struct cpis_case cl = closed_case();
    decide(&p, &cl, &acc[0], &s, &o);
    decide(&p, &cl, &acc[0], &s, &again);
    assert_int_equal(again.new_access, 0);
    assert_actions_equal(&o, &again);
    assert_int_equal(s.n_hist, 1);
    wf_actions_free(&o);
    wf_actions_free(&again);
    wf_child_free(&s);
}

/* ---- bounded state -------------------------------------------------------- */

static void test_pruning_bounded(void **st)
{
    (void)st;
    struct wf_policy p = v6();
    p.first_response_routing = 1;
    struct cpis_case c = closed_case();
    int64_t t0 = utc(2015, 1, 1, 0, 0);
    const int64_t step = 6 * 3600; /* every 6 hours: 10 000 over ~6.8 years */
    const size_t max_hist = 366 * 4 + 1;  /* 2 * threshold_days dominates */
    const size_t max_ep = 366 / 3 + 3;    /* episodes capped at 3 days */
    struct wf_child s = {0};
    size_t new_eps = 0;
    for (int i = 0; i < 10000; i++) {
        char author[32];
        snprintf(author, sizeof author, "p%d", i);
        struct wf_access a = mk((struct spec){.nhs = "4010232137",
                                              .at = t0 + (int64_t)i * step,
                                              .author = author});
        struct wf_actions o;
        decide(&p, &c, &a, &s, &o);
        assert_int_equal(o.new_access, 1);
        new_eps += (size_t)o.new_episode;
        assert_true(s.n_hist <= max_hist);
        assert_true(s.n_ep <= max_ep);
        assert_string_equal(s.hist[s.n_hist - 1].key, a.key);
        if (i == 9999) {
            /* the follow-up count is still exact: 733 in [t - 183 d, t] */
            const struct wf_action *x = find_kind(&o, WF_ACT_ITEM);
            assert_non_null(x);
            assert_int_equal(x->followup, 1);
            assert_non_null(strstr(x->body, "viewed 733 times"));
        }
        wf_actions_free(&o);
    }
    assert_int_equal(s.n_hist, max_hist);
    int64_t newest = s.hist[s.n_hist - 1].at;
    assert_true(s.hist[0].at >= newest - 366LL * 86400);
    for (size_t i = 1; i < s.n_hist; i++)
        assert_true(s.hist[i - 1].at < s.hist[i].at);
    for (size_t i = 0; i < s.n_ep; i++) {
        assert_true(s.ep[i].last >= newest - 366LL * 86400);
        assert_true(s.ep[i].last - s.ep[i].first <= 4320LL * 60);
    }
    /* every 6 h with a 12 h window: episodes close by the 3-day span only */
    assert_true(new_eps >= 10000 / 13);
    wf_child_free(&s);
}

static void test_late_access_never_dropped(void **st)
{
    (void)st;
    struct wf_policy p = v5();
    struct cpis_case c = closed_case();
    struct wf_child s = {0};
    struct wf_actions o;
    struct wf_access newer = mk((struct spec){.at = utc(2024, 6, 1, 0, 0), .author = "n"});
    struct wf_access old = mk((struct spec){.at = utc(2023, 1, 1, 0, 0), .author = "o"});
    decide(&p, &c, &newer, &s, &o);
    wf_actions_free(&o);
    decide(&p, &c, &old, &s, &o); /* older than the bound: kept this time */
    assert_int_equal(o.new_access, 1);
    wf_actions_free(&o);
    assert_int_equal(s.n_hist, 2);
    assert_string_equal(s.hist[0].key, old.key);
    decide(&p, &c, &old, &s, &o); /* re-delivery right after: still a duplicate */
    assert_int_equal(o.new_access, 0);
    wf_actions_free(&o);
    wf_child_free(&s);
}

/* ---- inactive ------------------------------------------------------------------ */

static void test_inactive(void **st)
{
    (void)st;
    struct wf_policy p = v6();
    struct wf_actions o;
    assert_int_equal(wf_decide_inactive(&p, "INACT-77", 0, "937 865 7974", NULL, "706",
                                        "CPIS_706_20240301.csv",
                                        utc(2024, 3, 20, 9, 30), &o), 0);
    assert_int_equal(o.n, 1);
    const struct wf_action *x = &o.v[0];
    assert_int_equal(x->kind, WF_ACT_ITEM);
    assert_int_equal(x->item_kind, CPIS_ITEM_DATA_QUALITY);
    assert_string_equal(x->id, "dq/INACT-77/0");
    assert_string_equal(x->recipient, "cpis.data.quality");
    assert_string_equal(x->notification_id, "INACT-77");
    assert_null(strchr(x->title, '\n'));
    assert_non_null(strstr(x->title, "937 865 7974"));
    assert_non_null(strstr(x->title, "correct the CP-IS upload"));
    assert_non_null(strstr(x->title, "CPIS_706_20240301.csv"));
    assert_non_null(strstr(x->body, "937 865 7974"));
    assert_non_null(strstr(x->body, "no longer active"));
    assert_non_null(strstr(x->body, "LA code 706"));
    assert_non_null(strstr(x->body, "upload file CPIS_706_20240301.csv"));
    assert_non_null(strstr(x->body, "Correct the child's entry"));
    assert_non_null(strstr(x->body, "20 Mar 2024 09:30 GMT"));
    assert_null(strstr(x->body, "9378657974")); /* shown only as given */
    assert_null(strstr(x->body, "replaced by"));
    wf_actions_free(&o);
    assert_int_equal(o.n, 0);

    /* a second subject of the same notification, with a replacement number:
     * its own item, naming both numbers */
    assert_int_equal(wf_decide_inactive(&p, "INACT-77", 1, "*** *** 7974", "*** *** 0009",
                                        "706", "CPIS_706_20240301.csv",
                                        utc(2024, 3, 20, 9, 30), &o), 0);
    assert_int_equal(o.n, 1);
    assert_string_equal(o.v[0].id, "dq/INACT-77/1");
    assert_non_null(strstr(o.v[0].title, "*** *** 7974 (replaced by *** *** 0009)"));
    assert_non_null(strstr(o.v[0].body, "replaced by NHS number *** *** 0009"));
    assert_non_null(strstr(o.v[0].body, "replace *** *** 7974 by *** *** 0009"));
    wf_actions_free(&o);

    /* same in version 5; a missing upload file is said plainly */
    p = v5();
    assert_int_equal(wf_decide_inactive(&p, "INACT-78", 0, "937 865 7974", "", "706", "",
                                        utc(2024, 3, 20, 9, 30), &o), 0);
    assert_int_equal(o.n, 1);
    assert_string_equal(o.v[0].id, "dq/INACT-78/0");
    assert_non_null(strstr(o.v[0].body, "did not name the upload file"));
    wf_actions_free(&o);
}

/* ---- texts ---------------------------------------------------------------------- */

static void test_render_places_and_viewers(void **st)
{
    (void)st;
    struct cpis_case c = open_case();
    struct wf_access a[4];
    a[0] = mk((struct spec){.at = utc(2024, 7, 1, 13, 0), .code = "RXX99",
                            .place = "RXX99", .resolved = 0, .setting = "unknown",
                            .viewer = "Pat Doe"});
    a[1] = mk((struct spec){.at = utc(2024, 7, 1, 13, 30), .code = "RXX98",
                            .place = "Somewhere Clinic", .resolved = 0,
                            .setting = "unknown", .role = "R0260"});
    a[2] = mk((struct spec){.at = utc(2024, 7, 2, 9, 10), .code = "Q99010",
                            .place = "HANLEY FERNWICK WALK-IN CENTRE", .resolved = 1,
                            .setting = "walk_in_centre", .phone = "01782 000000",
                            .system = 1, .system_name = "Adastra"});
    a[3] = mk((struct spec){.at = utc(2024, 7, 2, 9, 20), .code = "QQ1",
                            .place = SHOW_111, .resolved = 1, .setting = "nhs_111",
                            .system = 1});
    struct wf_episode ep;
    memset(&ep, 0, sizeof ep);
    put(ep.id, sizeof ep.id, "ep-test");
    ep.acc = a;
    ep.n = 4;
    ep.first = a[0].at;
    ep.last = a[3].at;
    ep.revision = 4;
    char *b = wf_render_case_note(&c, "944 930 5552", &ep);
    assert_non_null(b);
    assert_non_null(strstr(b, "Where: RXX99 (code not found in ODS data)"));
    assert_non_null(strstr(b, "Where: Somewhere Clinic, code RXX98 (code not found in ODS data)"));
    assert_non_null(strstr(b, "Who viewed: Pat Doe\n"));
    assert_non_null(strstr(b, "Who viewed: name not given, job role not named in the "
                              "message (code R0260)"));
    assert_non_null(strstr(b, "Who viewed: Adastra system, responsible: not named"));
    assert_non_null(strstr(b, "Who viewed: NHS 111 system, responsible: not named"));
    assert_non_null(strstr(b, "Phone: not known"));
    assert_non_null(strstr(b, "Kind of setting: Walk-in centre"));
    assert_non_null(strstr(b, "1 Jul 2024 14:00 BST"));
    /* the timeline gives the date when the day changes */
    assert_non_null(strstr(b, "Pathway: Unknown setting: RXX99, code not found in ODS data 14:00 -> "
                              "Unknown setting: Somewhere Clinic, code RXX98 not "
                              "found in ODS data 14:30 -> Walk-in centre: "
                              "Hanley Fernwick Walk-in Centre 2 Jul 10:10 -> NHS 111: " SHOW_111 " 10:20\n"));
    assert_code_named(b, "Q99010", "Hanley Fernwick Walk-in Centre");
    assert_true(ends_with(b, "ACTION TAKEN (to be completed by the social worker):\n\n"));
    free(b);

    char *t = wf_render_title(&c, &ep);
    assert_non_null(t);
    assert_null(strchr(t, '\n'));
    assert_non_null(strstr(t, "C-1001"));
    assert_non_null(strstr(t, "4 views"));
    free(t);

    /* no episode: still a usable text */
    b = wf_render_landing(&c, "944 930 5552", NULL);
    assert_non_null(b);
    assert_non_null(strstr(b, "C-1001"));
    free(b);
}


/* Issue 11: a site only its trust is known for, the message's own name,
 * a closed organisation, names in title case. */
static void test_render_parent_and_message_name(void **st)
{
    (void)st;
    struct cpis_case c = open_case();
    struct wf_access a[2];
    a[0] = mk((struct spec){.at = utc(2024, 3, 15, 14, 0), .code = "RKEAA",
                            .place = "WHITTINGTON HEALTH NHS TRUST", .resolved = 0,
                            .parent = "WHITTINGTON HEALTH NHS TRUST",
                            .setting = "hospital", .viewer = "Pat Doe"});
    a[0].place_via_parent = 1;
    put(a[0].place_in_message, sizeof a[0].place_in_message,
        "WHITTINGTON HEALTH - MEDICAL TEAM (RKEAA)");
    a[1] = mk((struct spec){.at = utc(2024, 3, 15, 15, 0), .code = "RLN",
                            .place = "CITY HOSPITALS SUNDERLAND NHS FOUNDATION TRUST",
                            .resolved = 1, .setting = "hospital"});
    put(a[1].closed_on, sizeof a[1].closed_on, "20190331");
    struct wf_episode ep;
    memset(&ep, 0, sizeof ep);
    put(ep.id, sizeof ep.id, "ep-test");
    ep.acc = a;
    ep.n = 2;
    ep.first = a[0].at;
    ep.last = a[1].at;
    char *b = wf_render_case_note(&c, "944 930 5552", &ep);
    assert_non_null(b);
    assert_non_null(strstr(b, "Where: a site of Whittington Health NHS Trust (code RKEAA, "
                              "not itself in the ODS data); as named in the message: "
                              "Whittington Health - Medical Team (RKEAA)\n"));
    assert_null(strstr(b, "part of Whittington")); /* said once, as "a site of" */
    assert_non_null(strstr(b, "Where: City Hospitals Sunderland NHS Foundation Trust (RLN) "
                              "[closed on 31 Mar 2019]"));
    assert_non_null(strstr(b, "Hospital: a site of Whittington Health NHS Trust 14:00"));
    free(b);
    b = wf_render_landing(&c, "944 930 5552", &ep);
    assert_non_null(strstr(b, "as named in the message: Whittington Health - Medical Team"));
    free(b);
}

/* ---- repeats, completed case notes, the child named (issue 13) ----------------- */

/* The document (landing entry, else case note) of a decision, or NULL. */
static const struct wf_action *doc_of(const struct wf_actions *o)
{
    const struct wf_action *x = find_kind(o, WF_ACT_LANDING);
    return x ? x : find_kind(o, WF_ACT_CASE_NOTE);
}

/* Three visits of one child, far apart (10 Mar, 9 Apr, 26 Sep 2024), under
 * both versions and all 32 flag mixes: every landing entry and case note
 * says how many episodes the child had in the 183-day window, with the
 * earlier dates and places, and marks a repeat from the 2nd. */
static void test_repeats_every_flag_mix(void **st)
{
    (void)st;
    struct cpis_case c = open_case();
    struct wf_access a[3];
    a[0] = mk((struct spec){.at = utc(2024, 3, 10, 9, 0), .code = "RJE01",
                            .place = NAME_RJE01, .resolved = 1, .author = "u1"});
    a[1] = mk((struct spec){.at = utc(2024, 4, 9, 22, 0), .code = "QQA01",
                            .place = NAME_QQA01, .resolved = 1, .setting = "ambulance",
                            .author = "u2"});
    a[2] = mk((struct spec){.at = utc(2024, 9, 26, 12, 0), .code = "QQ1", .place = NAME_111,
                            .resolved = 1, .setting = "nhs_111", .author = "u3"});
    /* expected count per visit; the 3rd: 10 Mar is 200 days before, out */
    static const int want[3] = {1, 2, 2};
    const char *earlier[3] = {NULL, "earlier 10 Mar 2024, " SHOW_RJE01,
                              "earlier 9 Apr 2024, " SHOW_QQA01 "\n"};
    for (int version = 5; version <= 6; version++) {
        for (int mix = 0; mix < 32; mix++) {
            struct wf_policy p = version == 5 ? v5() : v6();
            p.task_activities = mix & 1;
            p.first_response_routing = (mix >> 1) & 1;
            p.landing_page = (mix >> 2) & 1;
            p.case_note_stubs = (mix >> 3) & 1;
            p.episodes = (mix >> 4) & 1;
            p.repeat_window_days = 183;
            p.repeat_threshold = 2;
            struct wf_child s;
            memset(&s, 0, sizeof s);
            for (int i = 0; i < 3; i++) {
                struct wf_actions o;
                decide(&p, &c, &a[i], &s, &o);
                const struct wf_action *x = doc_of(&o);
                if (!p.landing_page && !p.case_note_stubs) {
                    assert_null(x);
                    wf_actions_free(&o);
                    continue;
                }
                assert_non_null(x);
                assert_non_null(x->repeat);
                assert_int_equal(x->repeat->count, want[i]);
                assert_int_equal(x->repeat->repeat, want[i] >= 2);
                assert_int_equal(x->repeat->n_earlier, (size_t)(want[i] - 1));
                for (size_t k = 0; k < o.n; k++) {
                    const struct wf_action *d = &o.v[k];
                    if (d->kind != WF_ACT_LANDING && d->kind != WF_ACT_CASE_NOTE)
                        continue;
                    if (i == 0) {
                        assert_non_null(strstr(d->body, "Episodes: 1st episode for this "
                                                        "child in 183 days (no earlier "
                                                        "episode)\n"));
                    } else {
                        assert_non_null(strstr(d->body, "Episodes: REPEAT: 2nd episode for "
                                                        "this child in 183 days: "));
                        if (!strstr(d->body, earlier[i]))
                            fail_msg("v%d mix %d visit %d: no \"%s\" in\n%s", version, mix,
                                     i, earlier[i], d->body);
                    }
                    /* the landing entry says it awaits action */
                    if (d->kind == WF_ACT_LANDING)
                        assert_non_null(strstr(d->body, "State: awaiting action"));
                }
                wf_actions_free(&o);
            }
            wf_child_free(&s);
        }
    }
}

/* The threshold and the window are the policy's. */
static void test_repeat_threshold_and_window(void **st)
{
    (void)st;
    struct cpis_case c = open_case();
    struct wf_access a0 = mk((struct spec){.at = utc(2024, 3, 1, 9, 0), .author = "u1"});
    struct wf_access a1 = mk((struct spec){.at = utc(2024, 3, 20, 9, 0), .author = "u2"});
    struct wf_policy p = v6();
    p.repeat_window_days = 183;
    p.repeat_threshold = 3;
    struct wf_child s;
    memset(&s, 0, sizeof s);
    struct wf_actions o;
    decide(&p, &c, &a0, &s, &o);
    wf_actions_free(&o);
    decide(&p, &c, &a1, &s, &o);
    const struct wf_action *x = find_kind(&o, WF_ACT_LANDING);
    assert_int_equal(x->repeat->count, 2);
    assert_false(x->repeat->repeat);
    assert_non_null(strstr(x->body, "2nd episode for this child in 183 days: earlier 1 Mar 2024"));
    assert_non_null(strstr(x->body, "(marked as a repeat from the 3rd episode)"));
    wf_actions_free(&o);
    wf_child_free(&s);

    /* a 10-day window: 1 Mar is out of reach of 20 Mar */
    p.repeat_window_days = 10;
    p.repeat_threshold = 2;
    memset(&s, 0, sizeof s);
    decide(&p, &c, &a0, &s, &o);
    wf_actions_free(&o);
    decide(&p, &c, &a1, &s, &o);
    x = find_kind(&o, WF_ACT_LANDING);
    assert_int_equal(x->repeat->count, 1);
    assert_false(x->repeat->repeat);
    assert_non_null(strstr(x->body, "1st episode for this child in 10 days"));
    wf_actions_free(&o);

    /* defaults when the policy leaves them 0: 183 days, threshold 2 */
    struct wf_repeat r;
    wf_repeats(NULL, &s, NULL, &r);
    assert_int_equal(r.window_days, 183);
    assert_int_equal(r.threshold, 2);
    assert_int_equal(r.count, 1);
    wf_child_free(&s);

    /* more earlier episodes than shown: "and N before" */
    p.repeat_window_days = 183;
    memset(&s, 0, sizeof s);
    for (int i = 0; i < WF_REPEAT_SHOW + 3; i++) {
        char au[16];
        snprintf(au, sizeof au, "u%d", i);
        struct wf_access ai = mk((struct spec){.at = utc(2024, 3, 1 + 2 * i, 9, 0),
                                               .author = au});
        decide(&p, &c, &ai, &s, &o);
        if (i == WF_REPEAT_SHOW + 2) {
            x = find_kind(&o, WF_ACT_LANDING);
            assert_int_equal(x->repeat->count, WF_REPEAT_SHOW + 3);
            assert_int_equal(x->repeat->n_earlier, WF_REPEAT_SHOW);
            /* newest first */
            assert_true(x->repeat->earlier[0].at > x->repeat->earlier[1].at);
            assert_non_null(strstr(x->body, "8th episode"));
            assert_non_null(strstr(x->body, "; and 2 before"));
        }
        wf_actions_free(&o);
    }
    wf_child_free(&s);
}

/* Completing the case note marks the landing entry done (a new revision),
 * once; a later view in the same episode reopens it; with episodes off the
 * one-access entry is done too, also on re-delivery. */
static void test_note_done(void **st)
{
    (void)st;
    struct cpis_case c = open_case();
    struct wf_access acc[5];
    cascade(acc);
    for (int episodes = 1; episodes >= 0; episodes--) {
        struct wf_policy p = v6();
        p.episodes = episodes;
        struct wf_child s;
        memset(&s, 0, sizeof s);
        struct wf_actions o;
        decide(&p, &c, &acc[0], &s, &o);
        const struct wf_action *l = find_kind(&o, WF_ACT_LANDING);
        const struct wf_action *n = find_kind(&o, WF_ACT_CASE_NOTE);
        assert_non_null(l);
        assert_non_null(n);
        char note_id[96], land_id[96];
        snprintf(note_id, sizeof note_id, "%s", n->id);
        snprintf(land_id, sizeof land_id, "%s", l->id);
        uint32_t rev = l->revision;
        wf_actions_free(&o);

        int64_t at = utc(2024, 3, 16, 10, 0);
        assert_int_equal(wf_decide_note_done(&p, &c, "944 930 5552", note_id, at, &s, &o), 0);
        assert_int_equal(o.new_access, 1);
        assert_int_equal(o.n, 1);
        l = &o.v[0];
        assert_int_equal(l->kind, WF_ACT_LANDING);
        assert_string_equal(l->id, land_id);
        assert_int_equal(l->revision, rev + 1);
        assert_int_equal(l->done, 1);
        assert_non_null(strstr(l->body, "State: done (case note completed 16 Mar 2024 10:00 GMT)"));
        assert_non_null(strstr(l->body, "NHS number *** *** 5552"));
        wf_actions_free(&o);
        /* again: already done, same revision */
        assert_int_equal(wf_decide_note_done(&p, &c, "944 930 5552", note_id, at, &s, &o), 0);
        assert_int_equal(o.new_access, 0);
        assert_int_equal(o.v[0].revision, rev + 1);
        wf_actions_free(&o);
        /* unknown stubs */
        assert_int_equal(wf_decide_note_done(&p, &c, "944 930 5552", "note/ep-a0", at, &s, &o), 1);
        assert_int_equal(wf_decide_note_done(&p, &c, "944 930 5552", "land/x", at, &s, &o), 1);
        /* a re-delivery of the same access keeps it done */
        decide(&p, &c, &acc[0], &s, &o);
        l = find_kind(&o, WF_ACT_LANDING);
        assert_int_equal(l->done, 1);
        assert_int_equal(l->revision, rev + 1);
        wf_actions_free(&o);
        /* the next view of the cascade */
        decide(&p, &c, &acc[1], &s, &o);
        l = find_kind(&o, WF_ACT_LANDING);
        if (episodes) { /* joins the episode: reopened, newer revision */
            assert_string_equal(l->id, land_id);
            assert_int_equal(l->done, 0);
            assert_int_equal(l->revision, rev + 2);
            assert_non_null(strstr(l->body, "State: awaiting action"));
        } else { /* its own entry, awaiting */
            assert_string_not_equal(l->id, land_id);
            assert_int_equal(l->done, 0);
        }
        wf_actions_free(&o);
        /* the landing page off: the state is marked, nothing to publish */
        p.landing_page = 0;
        assert_int_equal(wf_decide_note_done(&p, &c, "944 930 5552", note_id, at, &s, &o), 0);
        assert_int_equal(o.n, 0);
        wf_actions_free(&o);
        wf_child_free(&s);
    }
}

static void test_child_named_and_masks(void **st)
{
    (void)st;
    struct cpis_case c = open_case();
    put(c.child_name, sizeof c.child_name, "Amelia Hughes");
    put(c.date_of_birth, sizeof c.date_of_birth, "2015-05-12");
    char *t = wf_render_child(&c);
    assert_string_equal(t, "Amelia Hughes, born 12 May 2015");
    free(t);
    struct cpis_case none = open_case();
    t = wf_render_child(&none);
    assert_string_equal(t, "name not known to the host");
    free(t);

    char m[16];
    wf_mask_nhs("944 930 5552", m);
    assert_string_equal(m, "*** *** 5552");
    wf_mask_nhs("9449305552", m);
    assert_string_equal(m, "*** *** 5552");
    wf_mask_nhs("", m);
    assert_string_equal(m, "");

    static const char *const phones[][2] = {
        {"01782715444", "01782 715444"},   {"01782 715 444", "01782 715444"},
        {"0300 100 0404", "0300 100 0404"}, {"03001000404", "0300 100 0404"},
        {"02079460000", "020 7946 0000"},  {"0113-243-2799", "0113 243 2799"},
        {"0161 496 0000", "0161 496 0000"}, {"07700900123", "07700 900123"},
        {"111", "111"},                     {"+44 1782 715444", "+44 1782 715444"},
        {"01782 715444 ext 12", "01782 715444 ext 12"}};
    for (size_t i = 0; i < sizeof phones / sizeof phones[0]; i++) {
        char out[48];
        wf_format_phone(phones[i][0], out, sizeof out);
        assert_string_equal(out, phones[i][1]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_access_key),
        cmocka_unit_test(test_setting_labels),
        cmocka_unit_test(test_uk_time),
        cmocka_unit_test(test_v5_open_case),
        cmocka_unit_test(test_v5_closed_case),
        cmocka_unit_test(test_unknown_child),
        cmocka_unit_test(test_v6_open_case),
        cmocka_unit_test(test_v6_closed_and_unknown_record_only),
        cmocka_unit_test(test_flag_mixes),
        cmocka_unit_test(test_landing_without_episodes),
        cmocka_unit_test(test_missing_recipients),
        cmocka_unit_test(test_cascade_v5),
        cmocka_unit_test(test_cascade_v6),
        cmocka_unit_test(test_followup_boundary),
        cmocka_unit_test(test_followup_any_status_and_out_of_order),
        cmocka_unit_test(test_followup_every_permutation),
        cmocka_unit_test(test_followup_permutations_other_threshold),
        cmocka_unit_test(test_episode_window),
        cmocka_unit_test(test_episode_max_span),
        cmocka_unit_test(test_episode_bridge_joins_closest),
        cmocka_unit_test(test_out_of_order_same_episodes),
        cmocka_unit_test(test_idempotent_redecision),
        cmocka_unit_test(test_pruning_bounded),
        cmocka_unit_test(test_late_access_never_dropped),
        cmocka_unit_test(test_inactive),
        cmocka_unit_test(test_render_places_and_viewers),
        cmocka_unit_test(test_render_parent_and_message_name),
        cmocka_unit_test(test_repeats_every_flag_mix),
        cmocka_unit_test(test_repeat_threshold_and_window),
        cmocka_unit_test(test_note_done),
        cmocka_unit_test(test_child_named_and_masks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
