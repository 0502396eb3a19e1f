/*
 * landing.c - `cpis-mockhost landing`: a preview of the CP-IS notification
 * module on a practitioner's landing page (see landing.h).
 *
 * What the page shows, per landing entry (one per episode): the child's
 * name and date of birth as the host knows them, the case id, the last four
 * digits of the NHS number (masked as "*** *** 5552"; the full number never
 * reaches this file), how many episodes the child had in the repeat window
 * (a repeat is marked), the pathway as a timeline in which each place
 * appears once with its times (kind of setting, a phone number as a tel:
 * link, who viewed), the allocated worker and whether the entry awaits
 * action or is done (its case note was completed).
 *
 * Order: what awaits action first (repeats first, then newest), then what is
 * done, folded in one <details> element.  Nothing awaiting action is folded.
 *
 * The page is self-contained: inline CSS, no script, no network, no web
 * fonts.  Every string from the store is HTML-escaped, and free text is
 * scrubbed of anything shaped like an NHS number (ten digits, or 3-3-4
 * digit groups) as a second line of defence.  Times are shown in UK time
 * (GMT/BST), with the UTC instant in each <time datetime>.
 */
#include "landing.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cpis/plugin.h"

#include "cases.h"
#include "store.h"
#include "store_backend.h"


static const char PROG[] = "cpis-mockhost";

const char LANDING_HELP[] =
    "usage: cpis-mockhost --db FILE landing (--worker ID | --team NAME)\n"
    "                     [--html FILE] [--json]\n"
    "Render the CP-IS notification module of a practitioner's landing page,\n"
    "as the host would show it, from what the --db store holds (run\n"
    "`replay --db FILE ...` first).  One card per episode: the child's name,\n"
    "date of birth and case, how many episodes the child had in the repeat\n"
    "window (a repeat is marked), the pathway as a timeline with each place\n"
    "once (its times, kind of setting, phone number, who viewed), the\n"
    "allocated worker and the state.  What awaits action comes first\n"
    "(repeats first, then newest); what is done (its case note completed)\n"
    "is folded under \"Done\".\n"
    "\n"
    "  --worker ID   entries allocated to this social worker (user id)\n"
    "  --team NAME   entries for this team (with --worker: either matches)\n"
    "  --html FILE   where to write the page (\"-\" = standard output)\n"
    "  --json        print one JSON object per entry, in the page's order (id,\n"
    "                case_id, child_name, date_of_birth, state, first, last,\n"
    "                accesses, places, episodes_in_window, repeat, ...)\n"
    "\n"
    "The page is one self-contained HTML file (no script, no network).  It\n"
    "shows professionals' names and the child's case id, never a full NHS\n"
    "number.  A known worker with no entries gets a page saying so.\n"
    "\n"
    "Worker ids and team names are matched without regard to case against\n"
    "the --cases fixture (or taken as typed when the store holds entries for\n"
    "them); an unknown one is an error that names it and the nearest known\n"
    "ids.\n"
    "Exit status: 0 page written; 1 unknown worker or team (no page), or\n"
    "page written but an entry could not be read (named on stderr); 2 usage\n"
    "error, or the store or page could not be opened.\n";

enum { EXIT_OK = 0, EXIT_REJECTED = 1, EXIT_USAGE = 2 };

static int usage(const char *fmt, ...) CPIS_PRINTF(1, 2);
static int usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: landing: ", PROG);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try %s landing --help)\n", PROG);
    return EXIT_USAGE;
}

/* ---- the entries, copied out of the store -------------------------------- */

struct entry {
    char *id, *case_id, *worker, *team, *title, *nhs_last4;
    int64_t revision, updated_at, note_revision;
    int note_state;
    size_t seq;       /* position in the store's order (newest first) */
    cJSON *detail;    /* parsed detail_json, NULL when absent or unreadable */
    int detail_bad;   /* detail_json was present but not usable */
};

struct entries {
    struct entry *v;
    size_t n, cap;
    int nomem;
};

static void collect(void *user, const struct store_landing_row *r)
{
    struct entries *es = user;
    if (es->nomem)
        return;
    if (es->n == es->cap) {
        size_t cap = es->cap ? es->cap * 2 : 16;
        struct entry *v = realloc(es->v, cap * sizeof *v);
        if (v == NULL) {
            es->nomem = 1;
            return;
        }
        es->v = v;
        es->cap = cap;
    }
    struct entry *e = &es->v[es->n];
    memset(e, 0, sizeof *e);
    e->id = strdup(r->id);
    e->case_id = strdup(r->case_id);
    e->worker = strdup(r->worker);
    e->team = strdup(r->team);
    e->title = strdup(r->title);
    e->nhs_last4 = strdup(r->nhs_last4);
    e->revision = r->revision;
    e->updated_at = r->updated_at;
    e->note_revision = r->note_revision;
    e->note_state = r->note_state;
    e->seq = es->n;
    if (r->detail_json[0] != '\0') {
        e->detail = cJSON_ParseWithOpts(r->detail_json, NULL, 1);
        if (e->detail == NULL ||
            !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(e->detail, "timeline"))) {
            cJSON_Delete(e->detail);
            e->detail = NULL;
            e->detail_bad = 1;
        }
    }
    es->n++;
    if (e->id == NULL || e->case_id == NULL || e->worker == NULL ||
        e->team == NULL || e->title == NULL || e->nhs_last4 == NULL)
        es->nomem = 1;
}

static void entries_free(struct entries *es)
{
    for (size_t i = 0; i < es->n; i++) {
        struct entry *e = &es->v[i];
        free(e->id);
        free(e->case_id);
        free(e->worker);
        free(e->team);
        free(e->title);
        free(e->nhs_last4);
        cJSON_Delete(e->detail);
    }
    free(es->v);
    memset(es, 0, sizeof *es);
}

/* ---- escaping --------------------------------------------------------- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Length of an NHS-number-shaped run at s (ten digits, or the 3-3-4 groups
 * "944 930 5552" / "944-930-5552"), not glued to more digits; 0 if none.
 * prev is the character before s (or '\0'). */
static size_t nhs_shape(const char *s, char prev)
{
    if (is_digit(prev))
        return 0;
    size_t i = 0;
    while (i < 10 && is_digit(s[i]))
        i++;
    if (i == 10 && !is_digit(s[10]))
        return 10;
    static const int groups[] = {3, 3, 4};
    size_t k = 0;
    for (int g = 0; g < 3; g++) {
        if (g > 0) {
            if (s[k] != ' ' && s[k] != '-')
                return 0;
            k++;
        }
        for (int d = 0; d < groups[g]; d++, k++)
            if (!is_digit(s[k]))
                return 0;
    }
    return is_digit(s[k]) ? 0 : k;
}

/* Writes s HTML-escaped (text and attribute safe).  Control characters
 * other than tab and newline are dropped.  With scrub, anything shaped like
 * an NHS number is written masked. */
static void put_esc(FILE *f, const char *s, int scrub)
{
    char prev = '\0';
    for (const char *p = s != NULL ? s : ""; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        size_t run = scrub ? nhs_shape(p, prev) : 0;
        if (run > 0) {
            /* the last four digits of the run */
            char last4[5];
            size_t got = 0;
            for (size_t k = run; k > 0 && got < 4; k--)
                if (is_digit(p[k - 1]))
                    last4[3 - got++] = p[k - 1];
            last4[4] = '\0';
            fprintf(f, "*** *** %s", last4);
            p += run - 1;
            prev = '4';
            continue;
        }
        prev = (char)c;
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default:
            if (c < 0x20 && c != '\t' && c != '\n')
                break;
            if (c == 0x7f)
                break;
            fputc(c, f);
        }
    }
}

/* Free text from the store: escaped and scrubbed. */
static void put_text(FILE *f, const char *s) { put_esc(f, s, 1); }

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring != NULL ? v->valuestring : "";
}

/* A CSS-class-safe token for a setting name ([a-z0-9_] only, else "other"). */
static const char *setting_class(const char *s)
{
    if (s == NULL || *s == '\0')
        return "unknown";
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || is_digit(*p) || *p == '_'))
            return "other";
    return s;
}

/* ---- UK time ----------------------------------------------------------- */

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Epoch seconds of 01:00 UTC on the last Sunday of a month (31 days). */
static int64_t last_sunday_0100(int64_t year, int month)
{
    int64_t day31 = days_from_civil(year, month, 31);
    int64_t wd = (day31 + 4) % 7; /* 1970-01-01 was a Thursday (4) */
    if (wd < 0)
        wd += 7;
    return (day31 - wd) * 86400 + 3600;
}

/* Parses "YYYY-MM-DDTHH:MM:SSZ" into epoch seconds; -1 on error. */
static int parse_iso(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, se;
    char z = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &z) != 7 ||
        z != 'Z' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -1;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return 0;
}

struct uk_time {
    char date[32];  /* "Fri 15 Mar 2024" */
    char hm[8];     /* "14:02" */
    const char *zone; /* "GMT" or "BST" */
};

static void uk_time(int64_t t, struct uk_time *out)
{
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    static const char *const wday[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    int64_t y = tm.tm_year + 1900;
    int bst = t >= last_sunday_0100(y, 3) && t < last_sunday_0100(y, 10);
    if (bst) {
        tt += 3600;
        gmtime_r(&tt, &tm);
    }
    snprintf(out->date, sizeof out->date, "%s %d %s %d", wday[tm.tm_wday % 7],
             tm.tm_mday, mon[tm.tm_mon % 12], tm.tm_year + 1900);
    snprintf(out->hm, sizeof out->hm, "%02d:%02d", tm.tm_hour % 24, tm.tm_min % 60);
    out->zone = bst ? "BST" : "GMT";
}

static void put_time(FILE *f, const char *iso, int with_date)
{
    int64_t t;
    if (parse_iso(iso, &t) != 0) {
        fputs("<span class=\"unknown-time\">", f);
        put_text(f, iso[0] ? iso : "time not given");
        fputs("</span>", f);
        return;
    }
    struct uk_time u;
    uk_time(t, &u);
    fputs("<time datetime=\"", f);
    put_esc(f, iso, 0);
    fputs("\">", f);
    if (with_date)
        fprintf(f, "%s, %s %s", u.date, u.hm, u.zone);
    else
        fprintf(f, "<span class=\"hm\">%s</span> <span class=\"zone\">%s</span>"
                   "<span class=\"day\">%s</span>", u.hm, u.zone, u.date);
    fputs("</time>", f);
}

/* ---- phone numbers ------------------------------------------------------- */

/* The tel: URI of a UK phone number as written in the ODS data: digits
 * only, a leading 0 becomes +44.  "" when there are no digits. */
static void tel_uri(const char *phone, char *out, size_t cap)
{
    size_t n = 0;
    const char *p = phone;
    while (*p == ' ')
        p++;
    int plus = *p == '+' && n + 1 < cap;
    if (plus)
        out[n++] = '+';
    int first = 1;
    for (; *p && n + 4 < cap; p++) {
        if (!is_digit(*p))
            continue;
        if (first && *p == '0' && !plus) {
            memcpy(out + n, "+44", 3);
            n += 3;
            first = 0;
            continue;
        }
        first = 0;
        out[n++] = *p;
    }
    out[n] = '\0';
    if (n > 0 && strspn(out, "+") == n)
        out[0] = '\0';
}

/* ---- the page ---------------------------------------------------------------- */

static const char CSS[] =
    ":root{--text:#212b32;--muted:#4c6272;--bg:#f0f4f5;--card:#fff;--line:#d8dde0;"
    "--blue:#005eb8;--dark-blue:#003087;--focus:#ffeb3b}\n"
    "*{box-sizing:border-box}\n"
    "html{font-size:100%}\n"
    "body{margin:0;background:var(--bg);color:var(--text);"
    "font-family:\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,\"DejaVu Sans\",sans-serif;"
    "line-height:1.5}\n"
    ".skip{position:absolute;left:-999px;top:0;padding:.5rem 1rem;background:var(--focus);"
    "color:var(--text)}\n"
    ".skip:focus{left:1rem}\n"
    ".masthead{background:var(--blue);color:#fff;padding:.75rem 0}\n"
    ".masthead .wrap{display:flex;justify-content:space-between;align-items:baseline;"
    "gap:1rem;flex-wrap:wrap}\n"
    ".masthead p{margin:0}\n"
    ".product{font-weight:700;font-size:1.125rem}\n"
    ".who-am-i{font-size:.95rem}\n"
    ".wrap{max-width:1120px;margin:0 auto;padding:0 1.5rem}\n"
    "main.wrap{padding-top:2rem;padding-bottom:2.5rem}\n"
    "h1{font-size:1.9rem;line-height:1.2;margin:0 0 .25rem}\n"
    ".lede{margin:0 0 1rem;color:var(--muted);font-size:1.05rem}\n"
    ".guidance{background:#fff;border-left:6px solid var(--blue);padding:.75rem 1rem;"
    "margin:0 0 1.5rem;border-radius:0 6px 6px 0}\n"
    ".guidance p{margin:0}\n"
    "h2{font-size:1.3rem;margin:1.75rem 0 .75rem}\n"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:8px;"
    "margin:0 0 1.25rem;box-shadow:0 1px 2px rgba(33,43,50,.08)}\n"
    ".card>header{display:flex;justify-content:space-between;gap:1rem;flex-wrap:wrap;"
    "padding:1rem 1.25rem .75rem;border-bottom:1px solid var(--line)}\n"
    ".card h3{margin:0;font-size:1.25rem;line-height:1.3}\n"
    ".card h3 .case{color:var(--dark-blue)}\n"
    ".facts{margin:.25rem 0 0;padding:0;list-style:none;display:flex;flex-wrap:wrap;"
    "gap:.25rem 1.25rem;color:var(--muted);font-size:.95rem}\n"
    ".facts strong{color:var(--text);font-weight:600}\n"
    ".note{align-self:flex-start;margin:0;padding:.3rem .75rem;border-radius:999px;"
    "font-size:.9rem;font-weight:600;border:2px solid;white-space:nowrap}\n"
    ".note-awaiting{background:#fff4d6;border-color:#b35c00;color:#5c2e00}\n"
    ".note-actioned{background:#e3f4e9;border-color:#007f3b;color:#00401e}\n"
    ".note-written{background:#e8f1fb;border-color:#005eb8;color:#003087}\n"
    ".note-none{background:#eef0f2;border-color:#768692;color:#212b32}\n"
    ".pathway{margin:0;padding:.6rem 1.25rem;font-size:.95rem;color:var(--muted);"
    "border-bottom:1px solid var(--line);background:#fafbfb}\n"
    ".pathway strong{color:var(--text)}\n"
    ".card h3 .child{margin-right:.5rem}\n"
    ".card h3 .case{font-size:1rem;font-weight:600}\n"
    ".card[data-repeat]{border-left:6px solid #b35c00}\n"
    ".episodes{margin:.35rem 0 0;font-size:.95rem}\n"
    ".repeat-flag{display:inline-block;margin-right:.5rem;padding:.05rem .5rem;"
    "border-radius:4px;background:#b35c00;color:#fff;font-weight:700;font-size:.85rem}\n"
    ".note-done{background:#e3f4e9;border-color:#007f3b;color:#00401e}\n"
    ".times{margin:0;font-weight:700}\n"
    ".times time{display:inline}\n"
    ".guidance h2{margin:0 0 .25rem;font-size:1.1rem}\n"
    "details.done>summary{cursor:pointer;font-size:1.05rem;font-weight:600;"
    "color:var(--blue);padding:.4rem .25rem;margin-bottom:.75rem;"
    "text-decoration:underline;text-underline-offset:.2em}\n"
    ".timeline{list-style:none;margin:0;padding:.5rem 1.25rem 1rem}\n"
    ".step{display:grid;grid-template-columns:8.5rem 1fr auto;gap:.25rem 1rem;"
    "padding:.75rem 0 .75rem 1.5rem;position:relative;border-left:3px solid var(--line);"
    "margin-left:.5rem}\n"
    ".step::before{content:\"\";position:absolute;left:-.6rem;top:1.05rem;width:.9rem;"
    "height:.9rem;border-radius:50%;background:#fff;border:3px solid var(--blue)}\n"
    ".step:last-child{border-left-color:transparent}\n"
    ".step.s-ambulance::before{border-color:#007f3b}\n"
    ".step.s-nhs_111::before{border-color:#b35c00}\n"
    ".when{margin:0}\n"
    ".when time{display:block}\n"
    ".hm{font-size:1.15rem;font-weight:700}\n"
    ".zone{font-size:.8rem;font-weight:600;color:var(--muted)}\n"
    ".day{display:block;font-size:.85rem;color:var(--muted)}\n"
    ".what p{margin:0}\n"
    ".place{font-weight:700;font-size:1.02rem}\n"
    ".badge{display:inline-block;margin-left:.5rem;padding:.05rem .5rem;border-radius:4px;"
    "font-size:.8rem;font-weight:600;vertical-align:.1rem;background:#eef0f2;color:#212b32}\n"
    ".b-hospital{background:#e8f1fb;color:#003087}\n"
    ".b-ambulance{background:#e3f4e9;color:#00401e}\n"
    ".b-nhs_111{background:#fff4d6;color:#5c2e00}\n"
    ".b-walk_in_centre,.b-urgent_care,.b-out_of_hours{background:#f3e8f7;color:#4a1361}\n"
    ".sub,.viewer{font-size:.93rem;color:var(--muted)}\n"
    ".viewer strong{color:var(--text);font-weight:600}\n"
    ".call{margin:0;align-self:center}\n"
    ".call a{display:inline-block;padding:.35rem .8rem;border:2px solid var(--blue);"
    "border-radius:6px;color:var(--blue);font-weight:600;text-decoration:none;"
    "white-space:nowrap}\n"
    ".call a:hover{background:var(--blue);color:#fff}\n"
    ".nophone{font-size:.9rem;color:var(--muted)}\n"
    ".fallback{padding:1rem 1.25rem;margin:0}\n"
    "details.older>summary{cursor:pointer;font-size:1.05rem;font-weight:600;"
    "color:var(--blue);padding:.4rem .25rem;margin-bottom:.75rem;"
    "text-decoration:underline;text-underline-offset:.2em}\n"
    ".empty{background:#fff;border:1px solid var(--line);border-radius:8px;"
    "padding:2rem 1.5rem;text-align:center}\n"
    ".empty h2{margin-top:0}\n"
    "footer{color:var(--muted);font-size:.9rem;padding:1rem 0 2rem;"
    "border-top:1px solid var(--line)}\n"
    "a{color:var(--blue)}\n"
    "a:focus-visible,summary:focus-visible,.skip:focus{outline:3px solid transparent;"
    "background:var(--focus);color:var(--text);box-shadow:0 -2px var(--focus),"
    "0 4px var(--text);text-decoration:none}\n"
    "@media (max-width:720px){.step{grid-template-columns:1fr}.call{align-self:start}}\n"
    "@media print{.masthead{background:none;color:var(--text)}.card{break-inside:avoid}}\n";

struct page {
    FILE *f;
    const char *worker, *team;
};

/* The entry's detail as the plugin wrote it (docs/host-integration.md). */
static const cJSON *timeline_of(const struct entry *e)
{
    return e->detail ? cJSON_GetObjectItemCaseSensitive(e->detail, "timeline") : NULL;
}

static int count_of(const struct entry *e)
{
    return cJSON_GetArraySize(timeline_of(e));
}

static const char *dstr(const struct entry *e, const char *key)
{
    return e->detail ? jstr(e->detail, key) : "";
}

static int is_done(const struct entry *e)
{
    return strcmp(dstr(e, "state"), "done") == 0;
}

static int is_repeat(const struct entry *e)
{
    return e->detail && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e->detail, "repeat"));
}

/* Awaiting action first (repeats first, then newest), then done (newest
 * first); the store's order (newest first) breaks ties. */
static int entry_order(const void *x, const void *y)
{
    const struct entry *a = x, *b = y;
    if (is_done(a) != is_done(b))
        return is_done(a) - is_done(b);
    if (!is_done(a) && is_repeat(a) != is_repeat(b))
        return is_repeat(b) - is_repeat(a);
    if (a->updated_at != b->updated_at)
        return a->updated_at > b->updated_at ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void put_state(const struct page *pg, const struct entry *e)
{
    FILE *f = pg->f;
    if (is_done(e)) {
        fputs("<p class=\"note note-done\">Done: case note completed", f);
        const char *at = dstr(e, "done_at");
        if (at[0]) {
            fputs(" ", f);
            put_time(f, at, 1);
        }
        fputs("</p>", f);
    } else if (pg->worker == NULL) {
        fputs("<p class=\"note note-awaiting\">Awaiting the team&rsquo;s action</p>", f);
    } else {
        fputs("<p class=\"note note-awaiting\">Awaiting your action</p>", f);
    }
}

/* "12 May 2015" from "2015-05-12" (as given when not such a date). */
static void put_birth_date(FILE *f, const char *dob)
{
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int y, m, d;
    char tail;
    if (sscanf(dob, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && m >= 1 && m <= 12)
        fprintf(f, "%d %s %d", d, mon[m - 1], y);
    else
        put_text(f, dob);
}

/* The plugin's name for people (title case) when it gave one, else the
 * raw name. */
static const char *shown(const cJSON *s, const char *key, const char *display_key)
{
    const char *d = jstr(s, display_key);
    return d[0] ? d : jstr(s, key);
}

/* One place of the pathway, with every time the child's flag was viewed
 * there (the timeline lists each place once, in the order reached). */
static int same_place(const cJSON *x, const cJSON *y)
{
    return strcmp(jstr(x, "code"), jstr(y, "code")) == 0 &&
           strcmp(jstr(x, "place"), jstr(y, "place")) == 0;
}

static void put_viewer(FILE *f, const cJSON *s)
{
    const char *viewer = jstr(s, "viewer");
    const char *role_name = jstr(s, "role_name");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "system"))) {
        /* a system has no name of its own in CP-IS messages: named by its
         * setting, as the case note does */
        const char *sys = jstr(s, "system_name");
        fputs("the <strong>", f);
        put_text(f, sys[0] ? sys
                    : strcmp(jstr(s, "setting"), "nhs_111") == 0 ? "NHS 111"
                                                                  : "automated");
        fputs(" system</strong>", f);
        if (viewer[0]) {
            fputs("; responsible: <strong>", f);
            put_text(f, viewer);
            fputs("</strong>", f);
        }
    } else {
        fputs("<strong>", f);
        put_text(f, viewer[0] ? viewer : "(name not given)");
        fputs("</strong>", f);
        if (role_name[0]) {
            fputs(", ", f);
            put_text(f, role_name);
        } else if (jstr(s, "role")[0]) {
            fputs(", job role not named in the message", f);
        }
    }
}

static void put_place(FILE *f, const cJSON *timeline, int first_idx)
{
    const cJSON *s = cJSON_GetArrayItem(timeline, first_idx);
    const char *setting = jstr(s, "setting");
    const char *label = jstr(s, "setting_label");
    const char *place = shown(s, "place", "place_display");
    const char *code = jstr(s, "code");
    const char *parent = shown(s, "parent", "parent_display");
    const char *in_message = shown(s, "in_message", "in_message_display");
    int via_parent = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "via_parent"));
    const char *closed = jstr(s, "closed");
    const char *phone = jstr(s, "phone");
    const cJSON *resolved = cJSON_GetObjectItemCaseSensitive(s, "resolved");
    int n = cJSON_GetArraySize(timeline);
    fprintf(f, "<li class=\"step s-%s\">\n<p class=\"when times\">", setting_class(setting));
    int k = 0;
    for (int j = first_idx; j < n; j++) {
        const cJSON *t = cJSON_GetArrayItem(timeline, j);
        if (!same_place(t, s))
            continue;
        if (k++)
            fputs(", ", f);
        put_time(f, jstr(t, "at"), 0);
    }
    fputs("</p>\n<div class=\"what\">\n<p class=\"place\">", f);
    if (via_parent && place[0])
        fputs("A site of ", f);
    put_text(f, place[0] ? place : "Place not named in the message");
    fprintf(f, " <span class=\"badge b-%s\">", setting_class(setting));
    put_text(f, label[0] ? label : "Unknown setting");
    fputs("</span></p>\n<p class=\"sub\">", f);
    if (code[0]) {
        fputs("ODS code ", f);
        put_text(f, code);
    }
    if (parent[0] && !via_parent) {
        fputs(code[0] ? " &middot; part of " : "Part of ", f);
        put_text(f, parent);
    }
    if (via_parent)
        fputs(" &middot; the code itself is not in the ODS data", f);
    else if (cJSON_IsFalse(resolved))
        fputs(" &middot; not found in the ODS data", f);
    if (closed[0]) {
        fputs(" &middot; <strong>closed", f);
        if (strlen(closed) == 8 && closed[0] >= '0' && closed[0] <= '9')
            fprintf(f, " on %.4s-%.2s-%.2s", closed, closed + 4, closed + 6);
        fputs("</strong>", f);
    }
    if (in_message[0]) {
        fputs("</p>\n<p class=\"sub\">As named in the message: ", f);
        put_text(f, in_message);
    }
    fputs("</p>\n", f);
    /* who viewed, one line each; with several views here, each says when */
    int several = k > 1;
    for (int j = first_idx; j < n; j++) {
        const cJSON *t = cJSON_GetArrayItem(timeline, j);
        if (!same_place(t, s))
            continue;
        fputs("<p class=\"viewer\">", f);
        if (several) {
            int64_t at;
            struct uk_time u;
            if (parse_iso(jstr(t, "at"), &at) == 0) {
                uk_time(at, &u);
                fprintf(f, "At %s, viewed by ", u.hm);
            } else {
                fputs("Viewed by ", f);
            }
        } else {
            fputs("Viewed by ", f);
        }
        put_viewer(f, t);
        fputs("</p>\n", f);
    }
    fputs("</div>\n<p class=\"call\">", f);
    char tel[48];
    tel_uri(phone, tel, sizeof tel);
    if (tel[0]) {
        fputs("<a href=\"tel:", f);
        put_esc(f, tel, 0);
        fputs("\">Call ", f);
        put_esc(f, phone, 0);
        fputs("</a>", f);
    } else {
        fputs("<span class=\"nophone\">No phone number known</span>", f);
    }
    fputs("</p>\n</li>\n", f);
}

static void put_timeline(FILE *f, const cJSON *timeline)
{
    int n = cJSON_GetArraySize(timeline);
    fputs("<ol class=\"timeline\" aria-label=\"Where the child was seen, in order\">\n", f);
    for (int i = 0; i < n; i++) {
        const cJSON *s = cJSON_GetArrayItem(timeline, i);
        int seen = 0;
        for (int k = 0; k < i && !seen; k++)
            seen = same_place(cJSON_GetArrayItem(timeline, k), s);
        if (!seen)
            put_place(f, timeline, i);
    }
    fputs("</ol>\n", f);
}

static void put_card(struct page *pg, const struct entry *e, int idx)
{
    FILE *f = pg->f;
    const cJSON *timeline = timeline_of(e);
    int views = count_of(e);
    fprintf(f, "<article class=\"card\"%s aria-labelledby=\"card-%d\">\n<header>\n<div>\n",
            is_repeat(e) ? " data-repeat=\"true\"" : "", idx);
    fprintf(f, "<h3 id=\"card-%d\"><span class=\"child\">", idx);
    const char *name = dstr(e, "child_name");
    put_text(f, name[0] ? name : "Child (name not known to the host)");
    fputs("</span> <span class=\"case\">Case ", f);
    put_text(f, e->case_id[0] ? e->case_id : "(no case id)");
    fputs("</span></h3>\n", f);
    const char *rep = dstr(e, "repeat_text");
    if (strncmp(rep, "REPEAT: ", 8) == 0)
        rep += 8;
    if (rep[0]) {
        fputs("<p class=\"episodes\">", f);
        if (is_repeat(e))
            fputs("<span class=\"repeat-flag\">Repeat</span>", f);
        put_text(f, rep);
        fputs("</p>\n", f);
    }
    fputs("<ul class=\"facts\">\n", f);
    const char *dob = dstr(e, "date_of_birth");
    if (dob[0]) {
        fputs("<li>Born <strong>", f);
        put_birth_date(f, dob);
        fputs("</strong></li>\n", f);
    }
    if (e->nhs_last4[0]) {
        fputs("<li>NHS number <strong>*** *** ", f);
        put_text(f, e->nhs_last4);
        fputs("</strong></li>\n", f);
    }
    if (views > 0) {
        fprintf(f, "<li><strong>%d</strong> view%s</li>\n", views, views == 1 ? "" : "s");
        fputs("<li>Latest ", f);
        put_time(f, jstr(cJSON_GetArrayItem(timeline, views - 1), "at"), 1);
        fputs("</li>\n", f);
    }
    fputs("<li>Allocated to <strong>", f);
    put_text(f, e->worker[0] ? e->worker : "no one (team inbox)");
    fputs("</strong></li>\n", f);
    if (e->team[0]) {
        fputs("<li>Team ", f);
        put_text(f, e->team);
        fputs("</li>\n", f);
    }
    fputs("</ul>\n</div>\n", f);
    put_state(pg, e);
    fputs("</header>\n", f);
    if (views > 0) {
        put_timeline(f, timeline);
    } else {
        /* No timeline (an unreadable entry): the one-line title the plugin
         * wrote, which names the case, place and time. */
        fputs("<p class=\"fallback\">", f);
        put_text(f, e->title);
        fputs("</p>\n", f);
    }
    fputs("</article>\n", f);
}

static void put_head(FILE *f, const char *who)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<meta name=\"color-scheme\" content=\"light\">\n"
          "<meta name=\"referrer\" content=\"no-referrer\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'\">\n<title>CP-IS notifications &ndash; ",
          f);
    put_text(f, who);
    fputs("</title>\n<style>\n", f);
    fputs(CSS, f);
    fputs("</style>\n</head>\n<body>\n"
          "<a class=\"skip\" href=\"#main\">Skip to the notifications</a>\n"
          "<header class=\"masthead\"><div class=\"wrap\">"
          "<p class=\"product\">Case management &middot; Landing page</p>"
          "<p class=\"who-am-i\">Signed in as <strong>",
          f);
    put_text(f, who);
    fputs("</strong> (preview)</p></div></header>\n"
          "<main id=\"main\" class=\"wrap\">\n<h1>CP-IS notifications</h1>\n",
          f);
}

static void put_foot(FILE *f)
{
    fputs("</main>\n<footer class=\"wrap\"><p>NHS Child Protection &ndash; Information "
          "Sharing (CP-IS). Preview rendered by cpis-mockhost from the host&rsquo;s "
          "store; times are UK time. The full NHS number is on the child&rsquo;s "
          "record, not on this page.</p></footer>\n</body>\n</html>\n",
          f);
}

/* The guidance shown above the cards: the same words as the entries'
 * "What to do" (workflow/render.c). */
static const char GUIDANCE[] =
    "Read the views on each card. If one gives you cause for concern, call the "
    "service on the number shown to find out why the child was seen. The health "
    "professional who viewed the record is responsible for referring if the "
    "presenting issue meets the threshold. If you take any action, record it in "
    "the case note for the episode; completing the case note marks the card done. "
    "A card marked <strong>Repeat</strong> is a child seen again and again: it is "
    "listed first.";

static void render(struct page *pg, const struct entries *es)
{
    FILE *f = pg->f;
    const char *who = pg->worker != NULL ? pg->worker : pg->team;
    put_head(f, who);
    if (es->n == 0) {
        fputs("<p class=\"lede\">For ", f);
        put_text(f, who);
        fputs("</p>\n<section class=\"empty\" aria-labelledby=\"empty-h\">\n"
              "<h2 id=\"empty-h\">No notifications</h2>\n<p>There are no CP-IS "
              "notifications for ",
              f);
        put_text(f, who);
        fputs(". When NHS staff in unscheduled care view the CP-IS flag of a "
              "child allocated to you, it appears here.</p>\n</section>\n",
              f);
        put_foot(f);
        return;
    }
    size_t awaiting = 0, repeats = 0;
    while (awaiting < es->n && !is_done(&es->v[awaiting])) {
        repeats += is_repeat(&es->v[awaiting]);
        awaiting++;
    }
    size_t done = es->n - awaiting;
    fputs("<p class=\"lede\">For ", f);
    if (pg->worker != NULL) {
        put_text(f, pg->worker);
        if (pg->team != NULL) {
            fputs(" and team ", f);
            put_text(f, pg->team);
        }
    } else {
        fputs("team ", f);
        put_text(f, pg->team);
    }
    fprintf(f, " &middot; %zu awaiting action", awaiting);
    if (repeats)
        fprintf(f, " (%zu repeat%s)", repeats, repeats == 1 ? "" : "s");
    fprintf(f, ", %zu done</p>\n", done);
    fprintf(f, "<section class=\"guidance\" aria-labelledby=\"todo-h\">\n<h2 id=\"todo-h\">"
               "What to do</h2>\n<p>%s</p>\n</section>\n", GUIDANCE);
    fprintf(f, "<section aria-labelledby=\"awaiting-h\">\n<h2 id=\"awaiting-h\">%s</h2>\n",
            pg->worker != NULL ? "Awaiting your action" : "Awaiting the team&rsquo;s action");
    if (awaiting == 0)
        fputs("<p>Nothing is awaiting action.</p>\n", f);
    for (size_t i = 0; i < awaiting; i++)
        put_card(pg, &es->v[i], (int)i + 1);
    fputs("</section>\n", f);
    if (done > 0) {
        fprintf(f, "<section aria-labelledby=\"done-h\">\n<h2 id=\"done-h\">Done</h2>\n"
                   "<details class=\"done\">\n<summary>Show %zu done episode%s</summary>\n",
                done, done == 1 ? "" : "s");
        for (size_t i = awaiting; i < es->n; i++)
            put_card(pg, &es->v[i], (int)i + 1);
        fputs("</details>\n</section>\n", f);
    }
    put_foot(f);
}

/* `landing --json`: one object per entry, in the page's order. */
static void print_json(const struct entries *es)
{
    for (size_t i = 0; i < es->n; i++) {
        const struct entry *e = &es->v[i];
        const cJSON *timeline = timeline_of(e);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", e->id);
        cJSON_AddStringToObject(o, "case_id", e->case_id);
        cJSON_AddStringToObject(o, "child_name", dstr(e, "child_name"));
        cJSON_AddStringToObject(o, "date_of_birth", dstr(e, "date_of_birth"));
        cJSON_AddStringToObject(o, "state", is_done(e) ? "done" : "awaiting_action");
        cJSON_AddStringToObject(o, "first", dstr(e, "first"));
        cJSON_AddStringToObject(o, "last", dstr(e, "last"));
        cJSON_AddNumberToObject(o, "accesses", count_of(e));
        cJSON *places = cJSON_AddArrayToObject(o, "places");
        int n = cJSON_GetArraySize(timeline);
        for (int j = 0; j < n; j++) {
            const cJSON *s = cJSON_GetArrayItem(timeline, j);
            int seen = 0;
            for (int k = 0; k < j && !seen; k++)
                seen = same_place(cJSON_GetArrayItem(timeline, k), s);
            if (!seen)
                cJSON_AddItemToArray(places, cJSON_CreateString(jstr(s, "place")));
        }
        const cJSON *ew = e->detail ? cJSON_GetObjectItemCaseSensitive(e->detail,
                                                                       "episodes_in_window")
                                    : NULL;
        if (cJSON_IsNumber(ew))
            cJSON_AddNumberToObject(o, "episodes_in_window", ew->valuedouble);
        else
            cJSON_AddNullToObject(o, "episodes_in_window"); /* an older plugin's entry */
        cJSON_AddBoolToObject(o, "repeat", is_repeat(e));
        cJSON_AddStringToObject(o, "repeat_text", dstr(e, "repeat_text"));
        cJSON_AddStringToObject(o, "worker", e->worker);
        cJSON_AddStringToObject(o, "team", e->team);
        if (e->nhs_last4[0]) {
            char masked[16];
            snprintf(masked, sizeof masked, "*** *** %.4s", e->nhs_last4);
            cJSON_AddStringToObject(o, "nhs_number", masked);
        }
        char *line = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (line != NULL) {
            puts(line);
            free(line);
        }
    }
}

/* ---- the command -------------------------------------------------------------- */

/* Counts the entries a page would show (store_landing_each callback). */
static void count_row(void *user, const struct store_landing_row *row)
{
    (void)row;
    (*(size_t *)user)++;
}

/* Resolves *id (a worker, or a team when `team`) to the spelling the host
 * uses: the case fixture's, matched without regard to case; else as typed
 * when the store has entries for it.  Returns 0, or EXIT_REJECTED after
 * naming the id and the nearest known ones. */
static int resolve_person(struct store *st, const struct cases *cs, const char **id,
                          int team)
{
    char near[256];
    const char *known = cases_find_person(cs, *id, team, near, sizeof near);
    if (known != NULL) {
        *id = known;
        return 0;
    }
    size_t n = 0;
    if (store_landing_each(st, team ? NULL : *id, team ? *id : NULL, count_row, &n) ==
            CPIS_OK && n > 0)
        return 0;
    fprintf(stderr, "%s: landing: unknown %s \"%s\": no case in the fixture names it%s%s\n",
            PROG, team ? "team" : "worker", *id, near[0] ? "; nearest known: " : "",
            near);
    return EXIT_REJECTED;
}

int landing_main(const char *db, const char *cases_path, char **args, size_t nargs)
{
    const char *worker = NULL, *team = NULL, *html = NULL;
    int json = 0;
    for (size_t i = 0; i < nargs; i++) {
        const char *a = args[i];
        const char **slot = NULL;
        if (strcmp(a, "--json") == 0) {
            json = 1;
            continue;
        }
        if (strcmp(a, "--worker") == 0)
            slot = &worker;
        else if (strcmp(a, "--team") == 0)
            slot = &team;
        else if (strcmp(a, "--html") == 0)
            slot = &html;
        else if (a[0] == '-' && a[1] != '\0')
            return usage("unknown option %s", a);
        else
            return usage("unexpected operand %s", a);
        if (i + 1 >= nargs)
            return usage("option %s needs a value", a);
        *slot = args[++i];
        if ((*slot)[0] == '\0')
            return usage("option %s needs a non-empty value", a);
    }
    if (worker == NULL && team == NULL)
        return usage("%s", "give --worker ID or --team NAME");
    if (html == NULL && !json)
        return usage("%s", "give --html FILE (\"-\" for standard output) or --json");
    if (json && html != NULL && strcmp(html, "-") == 0)
        return usage("%s", "--json and --html - both write to standard output");
    if (db == NULL)
        return usage("%s", "needs --db FILE, the store a replay wrote");
    if (!store_pg_is_conninfo(db) && access(db, R_OK) != 0) {
        fprintf(stderr, "%s: %s: cannot read the store: %s\n", PROG, db,
                strerror(errno));
        return EXIT_USAGE;
    }

    char err[512];
    struct store *st = store_open(db, err, sizeof err);
    if (st == NULL) {
        fprintf(stderr, "%s: %s: %s\n", PROG, store_label(db), err);
        return EXIT_USAGE;
    }
    struct cases *cs = cases_load(cases_path, err, sizeof err);
    if (cs == NULL) {
        fprintf(stderr, "%s: %s: %s\n", PROG, cases_path, err);
        store_close(st);
        return EXIT_USAGE;
    }
    int unknown = (worker != NULL && resolve_person(st, cs, &worker, 0) != 0) |
                  (team != NULL && resolve_person(st, cs, &team, 1) != 0);
    struct entries es = {0};
    /* the resolved spellings live in the fixture: copied before it goes */
    char wbuf[sizeof ((struct cpis_case *)0)->worker];
    char tbuf[sizeof ((struct cpis_case *)0)->team];
    if (worker != NULL)
        worker = memcpy(wbuf, worker, strnlen(worker, sizeof wbuf - 1) + 1);
    if (team != NULL)
        team = memcpy(tbuf, team, strnlen(team, sizeof tbuf - 1) + 1);
    wbuf[sizeof wbuf - 1] = tbuf[sizeof tbuf - 1] = '\0';
    cases_free(cs);
    int rc = unknown ? CPIS_OK : store_landing_each(st, worker, team, collect, &es);
    store_close(st);
    if (unknown)
        return EXIT_REJECTED;
    if (rc != CPIS_OK || es.nomem) {
        fprintf(stderr, "%s: %s: %s\n", PROG, store_label(db),
                es.nomem ? "out of memory" : "cannot read the landing entries");
        entries_free(&es);
        return EXIT_USAGE;
    }

    if (es.n > 1)
        qsort(es.v, es.n, sizeof *es.v, entry_order);
    if (json)
        print_json(&es);
    if (html == NULL) {
        entries_free(&es);
        return EXIT_OK;
    }

    int to_stdout = strcmp(html, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(html, "w");
    if (f == NULL) {
        fprintf(stderr, "%s: %s: cannot write the page: %s\n", PROG, html,
                strerror(errno));
        entries_free(&es);
        return EXIT_USAGE;
    }
    struct page pg = {f, worker, team};
    render(&pg, &es);
    int bad = fflush(f) != 0 || ferror(f);
    if (!to_stdout && fclose(f) != 0)
        bad = 1;
    if (bad) {
        fprintf(stderr, "%s: %s: cannot write the page: %s\n", PROG, html,
                strerror(errno));
        entries_free(&es);
        return EXIT_USAGE;
    }
    int status = EXIT_OK;
    for (size_t i = 0; i < es.n; i++)
        if (es.v[i].detail_bad) {
            fprintf(stderr,
                    "%s: %s: landing entry %s: detail_json is not an episode "
                    "with a timeline; shown with its title only\n",
                    PROG, db, es.v[i].id);
            status = EXIT_REJECTED;
        }
    entries_free(&es);
    return status;
}
