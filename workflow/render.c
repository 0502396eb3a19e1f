/*
 * render.c - the texts a social worker reads: landing-page entries, case-note
 * stubs, work-item subjects, setting labels and UK local times.
 *
 * Pure functions: no I/O, no globals that change, no locale.  Times are shown
 * in UK local time (GMT in winter, BST in summer, with the zone written after
 * the time) so nobody has to convert; the rule is the UK one (BST from 01:00
 * UTC on the last Sunday of March to 01:00 UTC on the last Sunday of October),
 * computed with plain calendar arithmetic rather than the process time zone.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workflow.h"

/* ---- a tiny string builder ------------------------------------------- */

struct sb {
    char *s;
    size_t n, cap;
    int failed;
};

static void sb_reserve(struct sb *b, size_t more)
{
    if (b->failed)
        return;
    if (b->n + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + more + 1)
        cap *= 2;
    char *p = realloc(b->s, cap);
    if (!p) {
        b->failed = 1;
        return;
    }
    b->s = p;
    b->cap = cap;
}

static void sb_add(struct sb *b, const char *s)
{
    size_t l = strlen(s);
    sb_reserve(b, l);
    if (b->failed)
        return;
    memcpy(b->s + b->n, s, l);
    b->n += l;
    b->s[b->n] = '\0';
}

static void sb_printf(struct sb *b, const char *fmt, ...) CPIS_PRINTF(2, 3);
static void sb_printf(struct sb *b, const char *fmt, ...)
{
    /* Format straight into the room left; only text longer than that is
     * formatted twice (once to measure).  A document is rendered for every
     * notification, so the common case is one vsnprintf, not two. */
    sb_reserve(b, 128);
    if (b->failed)
        return;
    va_list ap;
    size_t room = b->cap - b->n;
    va_start(ap, fmt);
    int l = vsnprintf(b->s + b->n, room, fmt, ap);
    va_end(ap);
    if (l < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)l >= room) {
        sb_reserve(b, (size_t)l);
        if (b->failed)
            return;
        va_start(ap, fmt);
        vsnprintf(b->s + b->n, (size_t)l + 1, fmt, ap);
        va_end(ap);
    }
    b->n += (size_t)l;
}

static char *sb_finish(struct sb *b)
{
    if (!b->failed && b->s == NULL)
        sb_add(b, "");
    if (b->failed) {
        free(b->s);
        return NULL;
    }
    return b->s;
}

/* ---- calendar ---------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * well-known algorithm, written out from its description). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* Epoch seconds of 01:00 UTC on the last Sunday of month m of year y. */
static int64_t last_sunday_0100(int64_t y, int m)
{
    int64_t last = days_from_civil(y, m, 31); /* March and October have 31 */
    int64_t wd = ((last + 4) % 7 + 7) % 7;    /* 0 = Sunday; 1970-01-01 Thu */
    return (last - wd) * 86400 + 3600;
}

struct uktime {
    int64_t year;
    int month, day, hour, min;
    int bst;
};

static void uk_local(int64_t t, struct uktime *u)
{
    int64_t days = floor_div(t, 86400);
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    u->bst = t >= last_sunday_0100(y, 3) && t < last_sunday_0100(y, 10);
    int64_t lt = t + (u->bst ? 3600 : 0);
    days = floor_div(lt, 86400);
    int64_t sec = lt - days * 86400;
    civil_from_days(days, &u->year, &u->month, &u->day);
    u->hour = (int)(sec / 3600);
    u->min = (int)(sec % 3600 / 60);
}

static const char *const month_abbr[12] = {"Jan", "Feb", "Mar", "Apr",
                                           "May", "Jun", "Jul", "Aug",
                                           "Sep", "Oct", "Nov", "Dec"};

void wf_format_time(int64_t t, char out[WF_TIME_MAX])
{
    struct uktime u;
    uk_local(t, &u);
    snprintf(out, WF_TIME_MAX, "%d %s %lld %02d:%02d %s", u.day,
             month_abbr[u.month - 1], (long long)u.year, u.hour, u.min,
             u.bst ? "BST" : "GMT");
}

/* "14:05", or "16 Mar 09:10" when the local date differs from prev's (the
 * first entry of a pathway has no previous: its date is on the When line). */
static void short_time(int64_t t, int64_t prev, int have_prev, char *out,
                       size_t cap)
{
    struct uktime u, p = {0};
    uk_local(t, &u);
    if (have_prev)
        uk_local(prev, &p);
    if (!have_prev ||
        (p.year == u.year && p.month == u.month && p.day == u.day)) {
        snprintf(out, cap, "%02d:%02d", u.hour, u.min);
        return;
    }
    snprintf(out, cap, "%d %s %02d:%02d", u.day, month_abbr[u.month - 1],
             u.hour, u.min);
}

/* ---- labels and phrases ------------------------------------------------ */

const char *wf_setting_label(const char *setting)
{
    static const struct {
        const char *name, *label;
    } map[] = {
        {"nhs_111", "NHS 111"},
        {"ambulance", "Ambulance service"},
        {"hospital", "Hospital"},
        {"walk_in_centre", "Walk-in centre"},
        {"out_of_hours", "Out-of-hours GP"},
        {"urgent_care", "Urgent care"},
        {"gp_practice", "GP practice"},
        {"sexual_assault_referral_centre", "Sexual assault referral centre"},
        {"other", "Other setting"},
        {"unknown", "Unknown setting"},
    };
    if (setting)
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (strcmp(setting, map[i].name) == 0)
                return map[i].label;
    return "Unknown setting";
}

/* ---- names people can read ------------------------------------------- */

/* Words an ALL-CAPITALS ODS name keeps as they are: NHS abbreviations,
 * ambulance services' short names, organisation forms. */
static const char *const keep_upper[] = {
    "NHS", "GP", "A&E", "UK", "CIC", "ICB", "CCG", "PCT", "PCN", "UTC", "WIC", "OOH",
    "SARC", "MIU", "ED", "EOC", "HQ", "IUC", "CAS", "LLP", "DHU", "WMAS", "NWAS", "EMAS",
    "YAS", "NEAS", "SCAS", "LAS", "EEAST", "SECAMB", "SWASFT", "HMP", "YOI", "CAMHS",
    "NHSE", "LTD", "PLC",
};
/* Small words in lower case (not first). */
static const char *const keep_lower[] = {
    "OF", "AND", "THE", "FOR", "AT", "IN", "ON", "TO", "BY", "WITH", "UPON", "UNDER",
};

static int word_in(const char *w, size_t n, const char *const *list, size_t count)
{
    /* no strlen per entry: this runs for every word of every name shown;
     * no entry of either list is longer than six letters */
    if (n == 0 || n > 6)
        return 0;
    for (size_t i = 0; i < count; i++)
        if (list[i][0] == w[0] && strncmp(list[i], w, n) == 0 && list[i][n] == '\0')
            return 1;
    return 0;
}

static void display_name(const char *name, char *out, size_t cap);

/* The same few names (the place, its trust) are shown in the landing entry,
 * the case note and the detail of every notification: each thread keeps
 * its last few conversions. */
#define NAME_MEMO 4
static _Thread_local struct {
    char in[WF_STR_MAX], out[WF_STR_MAX];
} name_memo[NAME_MEMO];
static _Thread_local unsigned name_memo_next;

void wf_display_name(const char *name, char *out, size_t cap)
{
    if (cap == 0)
        return;
    if (name == NULL || strlen(name) >= WF_STR_MAX) {
        display_name(name, out, cap);
        return;
    }
    for (unsigned i = 0; i < NAME_MEMO; i++)
        if (strcmp(name_memo[i].in, name) == 0 && name_memo[i].out[0]) {
            snprintf(out, cap, "%s", name_memo[i].out);
            return;
        }
    unsigned k = name_memo_next++ % NAME_MEMO;
    display_name(name, name_memo[k].out, sizeof name_memo[k].out);
    snprintf(name_memo[k].in, sizeof name_memo[k].in, "%s", name);
    snprintf(out, cap, "%s", name_memo[k].out);
}

static void display_name(const char *name, char *out, size_t cap)
{
    if (cap == 0)
        return;
    snprintf(out, cap, "%s", name ? name : "");
    for (const char *p = out; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            return; /* already mixed case: as written */
    size_t i = 0, n = strlen(out);
    int first = 1;
    while (i < n) {
        while (i < n && out[i] == ' ')
            i++;
        size_t st = i;
        while (i < n && out[i] != ' ')
            i++;
        size_t len = i - st;
        if (len == 0)
            break;
        /* the word without surrounding punctuation, for the lists */
        size_t ws = st, we = i;
        while (ws < we && (out[ws] == '(' || out[ws] == '"'))
            ws++;
        while (we > ws && strchr(",.)\":;", out[we - 1]) != NULL)
            we--;
        int digit = 0;
        for (size_t k = st; k < i; k++)
            digit |= out[k] >= '0' && out[k] <= '9';
        const char *w = out + ws;
        size_t wn = we - ws;
        int keep = digit || wn <= 1 ||
                   word_in(w, wn, keep_upper, sizeof keep_upper / sizeof keep_upper[0]);
        if (keep && wn == 3 && strncmp(w, "LTD", 3) == 0) {
            out[ws + 1] = 't'; /* "Ltd" */
            out[ws + 2] = 'd';
        } else if (keep && wn == 3 && strncmp(w, "PLC", 3) == 0) {
            keep = 1;
        } else if (!keep && ws > st && out[ws - 1] == '(' && we < i && out[we] == ')') {
            keep = 1; /* "(RKEAA)": a code in brackets */
        } else if (!keep) {
            /* each part of a hyphenated word: "Stoke-on-Trent" */
            size_t ps = ws;
            while (ps < we) {
                size_t pe = ps;
                while (pe < we && out[pe] != '-' && out[pe] != '/')
                    pe++;
                int lower = (!first || ps > ws) &&
                            word_in(out + ps, pe - ps, keep_lower,
                                    sizeof keep_lower / sizeof keep_lower[0]);
                int start = !lower;
                for (size_t k = ps; k < pe; k++) {
                    char c = out[k];
                    if (c >= 'A' && c <= 'Z') {
                        if (!start)
                            out[k] = (char)(c - 'A' + 'a');
                        start = 0;
                    } else {
                        /* after '(' a new part starts upper-case; after an
                         * apostrophe it does not ("St James's") */
                        start = !lower && c == '(';
                    }
                }
                ps = pe < we ? pe + 1 : pe;
            }
        }
        first = 0;
    }
}

/* "31 Mar 2023" from "20230331"; the text itself when it is not a date. */
static void closed_text(const char *ymd, char *out, size_t cap)
{
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int y, m, d;
    if (strlen(ymd) == 8 && sscanf(ymd, "%4d%2d%2d", &y, &m, &d) == 3 && m >= 1 && m <= 12)
        snprintf(out, cap, "closed on %d %s %d", d, mon[m - 1], y);
    else
        snprintf(out, cap, "closed");
}

/* The place: "Name (CODE)" when resolved; "a site of Parent (code X)" when
 * only the parent is; when neither, the code with "(code not found in ODS
 * data)", after the name the message gave if any.  A closed organisation
 * says so, with the date. */
static void add_place(struct sb *b, const struct wf_access *a)
{
    const char *code = a->place_code[0] ? a->place_code : "no code given";
    char name[WF_STR_MAX];
    wf_display_name(a->place, name, sizeof name);
    if (a->place_resolved && a->place[0]) {
        if (a->place_code[0])
            sb_printf(b, "%s (%s)", name, a->place_code);
        else
            sb_add(b, name);
    } else if (a->place_via_parent && a->place[0]) {
        sb_printf(b, "a site of %s (code %s, not itself in the ODS data)", name, code);
    } else if (a->place[0] && strcmp(a->place, a->place_code) != 0) {
        sb_printf(b, "%s, code %s (code not found in ODS data)", name, code);
    } else {
        sb_printf(b, "%s (code not found in ODS data)", code);
    }
    if (a->closed_on[0]) {
        char c[48];
        closed_text(a->closed_on, c, sizeof c);
        sb_printf(b, " [%s]", c);
    }
}

/* Short place for the pathway and titles: the name alone when resolved
 * (the code is in the details), else the code with why it has no name. */
static void add_place_short(struct sb *b, const struct wf_access *a)
{
    const char *code = a->place_code[0] ? a->place_code : "no code given";
    char name[WF_STR_MAX];
    wf_display_name(a->place, name, sizeof name);
    if (a->place_resolved && a->place[0])
        sb_add(b, name);
    else if (a->place_via_parent && a->place[0])
        sb_printf(b, "a site of %s", name);
    else if (a->place[0] && strcmp(a->place, a->place_code) != 0)
        sb_printf(b, "%s, code %s not found in ODS data", name, code);
    else
        sb_printf(b, "%s, code not found in ODS data", code);
}

static int ends_with_ci(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    if (lx > ls)
        return 0;
    s += ls - lx;
    for (size_t i = 0; i < lx; i++) {
        char c = s[i], x = suffix[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != x)
            return 0;
    }
    return 1;
}

static void add_viewer(struct sb *b, const struct wf_access *a)
{
    if (a->system) {
        const char *sys = a->system_name[0] ? a->system_name
                          : strcmp(a->setting, "nhs_111") == 0 ? "NHS 111"
                                                               : "Automated";
        sb_add(b, sys);
        if (!ends_with_ci(sys, "system"))
            sb_add(b, " system");
        sb_printf(b, ", responsible: %s", a->viewer[0] ? a->viewer : "not named");
        return;
    }
    sb_add(b, a->viewer[0] ? a->viewer : "name not given");
    /* The role's name; its code only when the message names no role (the
     * code is always in the entry's detail). */
    if (a->role_name[0])
        sb_printf(b, ", %s", a->role_name);
    else if (a->role[0])
        sb_printf(b, ", job role not named in the message (code %s)", a->role);
}

static void add_access_detail(struct sb *b, size_t i, const struct wf_access *a)
{
    char when[WF_TIME_MAX];
    wf_format_time(a->at, when);
    sb_printf(b, "%zu. %s\n", i + 1, when);
    sb_add(b, "   Where: ");
    add_place(b, a);
    if (a->parent[0] && !a->place_via_parent) {
        char parent[WF_STR_MAX];
        wf_display_name(a->parent, parent, sizeof parent);
        sb_printf(b, ", part of %s", parent);
    }
    if (a->place_in_message[0]) {
        char inmsg[WF_STR_MAX];
        wf_display_name(a->place_in_message, inmsg, sizeof inmsg);
        sb_printf(b, "; as named in the message: %s", inmsg);
    }
    sb_printf(b, "\n   Kind of setting: %s\n", wf_setting_label(a->setting));
    sb_add(b, "   Who viewed: ");
    add_viewer(b, a);
    sb_add(b, "\n   Phone: ");
    if (a->phone[0]) {
        char phone[48];
        wf_format_phone(a->phone, phone, sizeof phone);
        sb_add(b, phone);
    } else {
        sb_add(b, "not known (no number in the ODS data)");
    }
    sb_add(b, "\n");
}

/* The pathway as a short timeline: each place once, in the order the child
 * reached it, with every time it was viewed there ("Hospital: ROYAL STOKE
 * UNIVERSITY HOSPITAL 15:10, 16:20").  A time carries its date when the day
 * differs from the time written before it. */
static int same_place(const struct wf_access *x, const struct wf_access *y)
{
    return strcmp(x->place_code, y->place_code) == 0 && strcmp(x->place, y->place) == 0;
}

static void add_pathway(struct sb *b, const struct wf_episode *ep)
{
    sb_add(b, "Pathway: ");
    int64_t prev = 0;
    int have_prev = 0, groups = 0;
    for (size_t i = 0; i < ep->n; i++) {
        const struct wf_access *a = &ep->acc[i];
        size_t k = 0;
        while (k < i && !same_place(&ep->acc[k], a))
            k++;
        if (k < i)
            continue; /* this place is already written, with all its times */
        if (groups++)
            sb_add(b, " -> ");
        sb_printf(b, "%s: ", wf_setting_label(a->setting));
        add_place_short(b, a);
        int times = 0;
        for (size_t j = i; j < ep->n; j++) {
            if (!same_place(&ep->acc[j], a))
                continue;
            char t[32];
            short_time(ep->acc[j].at, prev, have_prev, t, sizeof t);
            sb_printf(b, "%s%s", times++ ? ", " : " ", t);
            prev = ep->acc[j].at;
            have_prev = 1;
        }
    }
    sb_add(b, "\n");
}

/* "12 May 2015" from "2015-05-12"; the text as given when it is not a date. */
static void add_birth_date(struct sb *b, const char *dob)
{
    int y, m, d;
    char tail;
    if (sscanf(dob, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && m >= 1 && m <= 12 &&
        d >= 1 && d <= 31)
        sb_printf(b, "%d %s %d", d, month_abbr[m - 1], y);
    else
        sb_add(b, dob);
}

static void add_child(struct sb *b, const struct cpis_case *c)
{
    const char *name = c ? c->child_name : "";
    const char *dob = c ? c->date_of_birth : "";
    sb_add(b, name[0] ? name : "name not known to the host");
    if (dob[0]) {
        sb_add(b, ", born ");
        add_birth_date(b, dob);
    }
}

char *wf_render_child(const struct cpis_case *c)
{
    struct sb b = {0};
    add_child(&b, c);
    return sb_finish(&b);
}

static void add_ordinal(struct sb *b, int n)
{
    int t = n % 100, u = n % 10;
    const char *suf = (t >= 11 && t <= 13) ? "th"
                      : u == 1             ? "st"
                      : u == 2             ? "nd"
                      : u == 3             ? "rd"
                                           : "th";
    sb_printf(b, "%d%s", n, suf);
}

static void add_date(struct sb *b, int64_t t)
{
    struct uktime u;
    uk_local(t, &u);
    sb_printf(b, "%d %s %lld", u.day, month_abbr[u.month - 1], (long long)u.year);
}

static void add_repeat(struct sb *b, const struct wf_repeat *rep)
{
    if (rep->repeat)
        sb_add(b, "REPEAT: ");
    add_ordinal(b, rep->count);
    sb_printf(b, " episode for this child in %d days", rep->window_days);
    if (rep->count <= 1) {
        sb_add(b, " (no earlier episode)");
        return;
    }
    sb_add(b, ": earlier ");
    for (size_t i = 0; i < rep->n_earlier; i++) {
        if (i)
            sb_add(b, "; ");
        add_date(b, rep->earlier[i].at);
        if (rep->earlier[i].place[0]) {
            char name[WF_STR_MAX];
            wf_display_name(rep->earlier[i].place, name, sizeof name);
            sb_printf(b, ", %s", name);
        }
    }
    size_t more = (size_t)(rep->count - 1) > rep->n_earlier
                      ? (size_t)(rep->count - 1) - rep->n_earlier
                      : 0;
    if (more)
        sb_printf(b, "; and %zu before", more);
    if (!rep->repeat) {
        sb_add(b, " (marked as a repeat from the ");
        add_ordinal(b, rep->threshold);
        sb_add(b, " episode)");
    }
}

char *wf_render_repeat_line(const struct wf_repeat *rep)
{
    struct sb b = {0};
    if (rep)
        add_repeat(&b, rep);
    return sb_finish(&b);
}

/* The part common to the landing entry and the case note. */
static void add_summary(struct sb *b, const struct cpis_case *c,
                        const char *nhs_display, const struct wf_episode *ep,
                        const struct wf_repeat *rep)
{
    const char *case_id = c && c->case_id[0] ? c->case_id : "no case on record";
    sb_printf(b, "Case: %s\n", case_id);
    sb_add(b, "Child: ");
    add_child(b, c);
    sb_printf(b, ", NHS number %s\n", nhs_display && nhs_display[0]
                                          ? nhs_display
                                          : "not given");
    if (rep) {
        sb_add(b, "Episodes: ");
        add_repeat(b, rep);
        sb_add(b, "\n");
    }
    if (!ep || ep->n == 0 || !ep->acc) {
        sb_add(b, "No access details are available.\n");
        return;
    }
    char first[WF_TIME_MAX], last[WF_TIME_MAX];
    wf_format_time(ep->acc[0].at, first);
    wf_format_time(ep->acc[ep->n - 1].at, last);
    if (ep->n == 1)
        sb_printf(b, "When: %s (1 view)\n", first);
    else
        sb_printf(b, "When: %s to %s (%zu views, grouped as one episode)\n",
                  first, last, ep->n);
    add_pathway(b, ep);
    sb_add(b, "\nViews, earliest first:\n");
    for (size_t i = 0; i < ep->n; i++)
        add_access_detail(b, i, &ep->acc[i]);
}

/* The guidance the page shows too (landing.c keeps the same words). */
static const char WHAT_TO_DO[] =
    "What to do: read the views above. If one gives you cause for concern, call "
    "the service on the number shown to find out why the child was seen. The "
    "health professional who viewed the record is responsible for referring if "
    "the presenting issue meets the threshold. If you take any action, record it "
    "in the case note for this notification; completing the case note marks this "
    "entry done.\n";

static char *render_landing(const struct cpis_case *c, const char *nhs_display,
                            const struct wf_episode *ep, const struct wf_repeat *rep,
                            int done, int64_t done_at, int mask)
{
    struct sb b = {0};
    sb_reserve(&b, 3000); /* a landing entry's usual size: no regrowth */
    char masked[16];
    wf_mask_nhs(nhs_display, masked);
    sb_add(&b, "NHS staff in unscheduled care viewed this child's child "
               "protection (CP-IS) flag.\n");
    if (done) {
        char when[WF_TIME_MAX];
        wf_format_time(done_at, when);
        sb_printf(&b, "State: done (case note completed %s)\n", when);
    } else {
        sb_add(&b, "State: awaiting action (complete the case note)\n");
    }
    add_summary(&b, c, mask ? masked : nhs_display, ep, rep);
    sb_add(&b, "\n");
    sb_add(&b, WHAT_TO_DO);
    return sb_finish(&b);
}

char *wf_render_landing_ex(const struct cpis_case *c, const char *nhs_display,
                           const struct wf_episode *ep, const struct wf_repeat *rep,
                           int done, int64_t done_at)
{
    return render_landing(c, nhs_display, ep, rep, done, done_at, 1);
}

char *wf_render_landing(const struct cpis_case *c, const char *nhs_display,
                        const struct wf_episode *ep)
{
    return render_landing(c, nhs_display, ep, NULL, 0, 0, 0);
}

char *wf_render_case_note_ex(const struct cpis_case *c, const char *nhs_display,
                             const struct wf_episode *ep, const struct wf_repeat *rep)
{
    struct sb b = {0};
    sb_reserve(&b, 3000); /* a case note's usual size: no regrowth */
    sb_add(&b, "CP-IS notification: NHS staff in unscheduled care viewed this "
               "child's child protection (CP-IS) flag.\n");
    add_summary(&b, c, nhs_display, ep, rep);
    sb_add(&b, "\nRecord below what you did about this notification and why "
               "(for example: no action needed, called the service, discussed "
               "with your manager, made a referral).\n\n"
               "ACTION TAKEN (to be completed by the social worker):\n\n");
    return sb_finish(&b);
}

char *wf_render_case_note(const struct cpis_case *c, const char *nhs_display,
                          const struct wf_episode *ep)
{
    return wf_render_case_note_ex(c, nhs_display, ep, NULL);
}

/* ---- NHS number mask and phone format ------------------------------------ */

void wf_mask_nhs(const char *nhs, char out[16])
{
    char digits[11];
    size_t n = 0;
    out[0] = '\0';
    for (const char *q = nhs ? nhs : ""; *q && n < 10; q++)
        if (*q >= '0' && *q <= '9')
            digits[n++] = *q;
    if (n < 4)
        return;
    snprintf(out, 16, "*** *** %.4s", digits + n - 4);
}

void wf_format_phone(const char *in, char *out, size_t cap)
{
    char d[24];
    size_t n = 0;
    int other = 0;
    for (const char *q = in ? in : ""; *q; q++) {
        if (*q >= '0' && *q <= '9') {
            if (n + 1 < sizeof d)
                d[n++] = *q;
            else
                other = 1;
        } else if (*q != ' ' && *q != '-' && *q != '(' && *q != ')') {
            other = 1; /* "+44", an extension, words: leave as given */
        }
    }
    d[n] = '\0';
    if (other || n != 11 || d[0] != '0') {
        snprintf(out, cap, "%s", in ? in : "");
        return;
    }
    int first; /* digits in the first group; the rest split as below */
    if (d[1] == '2')
        first = 3;                               /* 020 7946 0000 */
    else if (d[1] == '1' && (d[2] == '1' || d[3] == '1'))
        first = 4;                               /* 0114 496 0000, 0161 ... */
    else if (d[1] == '1' || d[1] == '7')
        first = 5;                               /* 01782 715444, 07700 900123 */
    else
        first = 4;                               /* 0300 123 4567, 0800 ... */
    if (first == 5)
        snprintf(out, cap, "%.5s %.6s", d, d + 5);
    else if (first == 4)
        snprintf(out, cap, "%.4s %.3s %.4s", d, d + 4, d + 7);
    else
        snprintf(out, cap, "%.3s %.4s %.4s", d, d + 3, d + 7);
}

char *wf_render_title(const struct cpis_case *c, const struct wf_episode *ep)
{
    struct sb b = {0};
    const char *case_id = c && c->case_id[0] ? c->case_id : "no case";
    if (!ep || ep->n == 0 || !ep->acc) {
        sb_printf(&b, "CP-IS notification, case %s", case_id);
        return sb_finish(&b);
    }
    const struct wf_access *a = &ep->acc[ep->n - 1];
    char when[WF_TIME_MAX];
    wf_format_time(a->at, when);
    sb_printf(&b, "CP-IS: case %s, flag viewed at ", case_id);
    add_place_short(&b, a);
    sb_printf(&b, " (%s), %s", wf_setting_label(a->setting), when);
    if (ep->n > 1)
        sb_printf(&b, " (%zu views in this episode)", ep->n);
    return sb_finish(&b);
}

char *wf_render_inactive(const char *nhs_display, const char *replacement_display,
                         const char *la_code, const char *upload_file, int64_t created,
                         char **subject)
{
    const char *repl = replacement_display && replacement_display[0] ? replacement_display
                                                                      : NULL;
    struct sb s = {0}, b = {0};
    const char *file = upload_file && upload_file[0] ? upload_file : NULL;
    const char *nhs = nhs_display && nhs_display[0] ? nhs_display : "not given";
    char when[WF_TIME_MAX];
    wf_format_time(created, when);

    sb_printf(&s, "CP-IS: inactive NHS number %s%s%s%s - correct the CP-IS upload%s%s",
              nhs, repl ? " (replaced by " : "", repl ? repl : "", repl ? ")" : "",
              file ? " " : "", file ? file : "");
    sb_printf(&b, "On %s the NHS Spine reported that NHS number %s, which this "
                  "local authority",
              when, nhs);
    if (la_code && la_code[0])
        sb_printf(&b, " (LA code %s)", la_code);
    sb_add(&b, " uploaded to CP-IS");
    if (file)
        sb_printf(&b, " in upload file %s", file);
    else
        sb_add(&b, " (the message did not name the upload file)");
    sb_add(&b, ", is no longer active.");
    if (repl)
        sb_printf(&b, " The Spine says it is replaced by NHS number %s.", repl);
    sb_add(&b, " Adoption is a common cause.\n"
               "While the number is inactive, health staff who look up the "
               "child will not see the child protection flag.\n\n"
               "What to do:\n"
               "1. Find the child's case from this NHS number and check the "
               "child's current NHS number (with health colleagues if need "
               "be).\n"
               "2. Correct the child's entry in the local authority's CP-IS "
               "upload");
    if (file)
        sb_printf(&b, " (the file %s)", file);
    if (repl)
        sb_printf(&b, ": replace %s by %s, or remove the entry if the ", nhs, repl);
    else
        sb_add(&b, ": replace the inactive number, or remove the entry if the ");
    sb_add(&b, ""
               "child should no longer be on CP-IS.\n"
               "3. Send the corrected upload to the Spine and check that it "
               "is accepted.\n");
    char *subj = sb_finish(&s);
    char *body = sb_finish(&b);
    if (!subj || !body) {
        free(subj);
        free(body);
        *subject = NULL;
        return NULL;
    }
    *subject = subj;
    return body;
}
