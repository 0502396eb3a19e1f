/*
 * generate.c - the workload generator and the `generate` command.  See
 * generate.h for what the stream contains and why.
 *
 * Determinism: one splitmix64 stream per child (seeded from the seed and
 * the child's index), one for the choice of duplicates and bad messages,
 * and one for the plan; nothing depends on the clock, the locale or the
 * platform's rand().
 */
#include "generate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <dirent.h>

#include "cpis/plugin.h"

#include "progress.h"

/* ---- random numbers ----------------------------------------------------- */

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n); n > 0. */
static uint64_t rng_below(struct rng *r, uint64_t n)
{
    return rng_next(r) % n;
}

/* Uniform in [a, b]. */
static int64_t rng_range(struct rng *r, int64_t a, int64_t b)
{
    return a + (int64_t)rng_below(r, (uint64_t)(b - a + 1));
}

static struct rng rng_for(uint64_t seed, uint64_t stream, uint64_t index)
{
    struct rng r = {seed * 0x2545F4914F6CDD1Dull ^ (stream << 56) ^ index};
    rng_next(&r);
    return r;
}

/* ---- NHS numbers ---------------------------------------------------------- */

static int nhs_check(uint64_t base9)
{
    char d[10];
    snprintf(d, sizeof d, "%09" PRIu64, base9);
    int sum = 0;
    for (int i = 0; i < 9; i++)
        sum += (d[i] - '0') * (10 - i);
    int check = 11 - sum % 11;
    if (check == 11)
        check = 0;
    return check; /* 10 = invalid */
}

int gen_nhs_valid(const char *s)
{
    if (s == NULL || strlen(s) != 10)
        return 0;
    uint64_t base = 0;
    for (int i = 0; i < 10; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        if (i < 9)
            base = base * 10 + (uint64_t)(s[i] - '0');
    }
    int check = nhs_check(base);
    return check != 10 && check == s[9] - '0';
}

/* The NHS test range: 999 followed by 6 digits and the check digit.  The
 * k-th candidate is a bijection of k over 0..999999, so numbers never
 * repeat; candidates whose check would be 10 are skipped. */
#define NHS_CANDIDATES 1000000u

static uint64_t nhs_candidate(uint64_t seed, uint64_t k)
{
    return 999000000ull + (k * 7919u + seed % NHS_CANDIDATES) % NHS_CANDIDATES;
}

/* ---- sites (samples/ods codes) -------------------------------------------- */

enum site {
    S_111, S_CONTROL, S_CONTROL_NW, S_CREW,
    S_AE_STOKE, S_AE_BRIARWOOD, S_AE_LEEDS,
    S_WARD_STOKE, S_WARD_BRIARWOOD, S_WARD_LEEDS,
    S_WALKIN, S_OOH, S_UTC, S_GP, S_SARC,
    S_COUNT
};

struct site_info {
    const char *code, *name, *label;
    int system;              /* 1: a system (NHS 111-style) author */
    const char *role, *role_name;
};

static const struct site_info SITES[S_COUNT] = {
    [S_111] = {"QQ1", "KESTRELMOOR HEALTH CARE CIC - NHS 111 WEST MIDLANDS", "nhs111", 1,
               "R8003", "Health Professional Access Role"},
    [S_CONTROL] = {"QQA01", "WMAS CRESTWOOD EMERGENCY OPERATIONS CENTRE",
                   "ambulance-control", 0, "R8003", "Health Professional Access Role"},
    [S_CONTROL_NW] = {"RX7", "NORTH WEST AMBULANCE SERVICE NHS TRUST",
                      "ambulance-control", 0, "R8003",
                      "Health Professional Access Role"},
    [S_CREW] = {"QQA02", "STAFFORD LARKSPUR AMBULANCE HUB", "ambulance-crew", 0, "R8003",
                "Health Professional Access Role"},
    [S_AE_STOKE] = {"RJE01", "ROYAL STOKE UNIVERSITY HOSPITAL",
                    "emergency-department", 0, "R0260", "Medical Practitioner"},
    [S_AE_BRIARWOOD] = {"QQE09", "STAFFORD BRIARWOOD HOSPITAL", "emergency-department",
                        0, "R0260", "Medical Practitioner"},
    [S_AE_LEEDS] = {"RR801", "LEEDS GENERAL INFIRMARY", "emergency-department", 0,
                    "R0260", "Medical Practitioner"},
    [S_WARD_STOKE] = {"RJE01", "ROYAL STOKE UNIVERSITY HOSPITAL", "ward", 0,
                      "R0570", "Nurse Access Role"},
    [S_WARD_BRIARWOOD] = {"QQE09", "STAFFORD BRIARWOOD HOSPITAL", "ward", 0, "R0570",
                          "Nurse Access Role"},
    [S_WARD_LEEDS] = {"RR801", "LEEDS GENERAL INFIRMARY", "ward", 0, "R0570",
                      "Nurse Access Role"},
    [S_WALKIN] = {"Q99010", "HANLEY FERNWICK WALK-IN CENTRE", "walk-in-centre", 0,
                  "R8000", "Clinical Practitioner Access Role"},
    [S_OOH] = {"Q99620", "ROWANBANK DOCTORS URGENT CARE OOH", "out-of-hours", 0,
               "R0260", "Medical Practitioner"},
    [S_UTC] = {"Q99700", "CANNOCK HEATHERSIDE URGENT TREATMENT CENTRE", "urgent-care", 0,
               "R8000", "Clinical Practitioner Access Role"},
    [S_GP] = {"Q99001", "THISTLEGATE MEDICAL PRACTICE", "gp-practice", 0, "R0260",
              "Medical Practitioner"},
    [S_SARC] = {"Q99800", "THE WILLOWGLADE CENTRE SARC", "sarc", 0, "R8000",
                "Clinical Practitioner Access Role"},
};

static const char *const GIVEN[] = {"Jo", "Sam", "Alex", "Priya", "Tom",
                                    "Megan", "Chris", "Aisha", "Ben", "Kate"};
static const char *const FAMILY[] = {"Clarke", "Patel", "Hughes", "Morgan", "Khan",
                                     "Evans", "Smith", "Jones", "Taylor", "Wright"};

#define N_WORKERS 48u
#define WORKERS_PER_TEAM 6u
#define MIN 60
#define HOUR 3600
#define DAY 86400

/* Team names as a local authority writes them (the landing page shows
 * "Team <name>", so a name never starts with "Team").  Past the list, a
 * number is added: "Stafford North 2". */
static const char *const TEAM_NAMES[] = {
    "Stafford North", "Cannock South", "Lichfield and Burntwood", "Tamworth",
    "Burton East", "Newcastle-under-Lyme", "Stoke Central", "Leek and Moorlands",
    "Uttoxeter", "Rugeley", "Stone", "Biddulph", "Kidsgrove", "Codsall",
    "Penkridge", "Cheadle"};
#define TEAM_NAME_COUNT (sizeof TEAM_NAMES / sizeof TEAM_NAMES[0])

static void team_name(unsigned team, char *out, size_t cap)
{
    unsigned round = team / (unsigned)TEAM_NAME_COUNT;
    if (round == 0)
        snprintf(out, cap, "%s", TEAM_NAMES[team]);
    else
        snprintf(out, cap, "%s %u", TEAM_NAMES[team % TEAM_NAME_COUNT], round + 1);
}

/* ---- the plan ----------------------------------------------------------------- */

struct gen_child {
    uint64_t nhs;      /* the full 10-digit number */
    uint32_t budget;   /* notifications */
    uint8_t open;
    uint8_t worker;    /* 0..N_WORKERS-1 (open cases) */
};

struct gen_plan {
    struct gen_params p;
    struct gen_child *c;
    size_t n;
    uint32_t *by_nhs;  /* child indexes sorted by NHS number (gen_plan_case) */
};

void gen_params_default(struct gen_params *p)
{
    memset(p, 0, sizeof *p);
    p->seed = 1;
    p->open = 2253;
    p->closed = 3739;
    p->format = GEN_MIXED;
    p->mesh_share_pct = 20;
    /* the twelve months before today (UTC) */
    p->until = gen_day_start(time(NULL));
    p->from = gen_months_before(p->until, 12);
}

int64_t gen_day_start(int64_t t)
{
    return t - ((t % DAY) + DAY) % DAY;
}

int64_t gen_months_before(int64_t t, int months)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL)
        return t - (int64_t)months * 30 * DAY;
    tm.tm_mon -= months;
    /* 29 Feb (or 31st) to a month without it: the last day of that month */
    int want_day = tm.tm_mday;
    tm.tm_mday = 1;
    time_t first = timegm(&tm);
    struct tm m;
    gmtime_r(&first, &m);
    int days_in = 31;
    while (days_in > 28) {
        struct tm probe = m;
        probe.tm_mday = days_in;
        time_t pt = timegm(&probe);
        struct tm back;
        gmtime_r(&pt, &back);
        if (back.tm_mon == m.tm_mon)
            break;
        days_in--;
    }
    m.tm_mday = want_day < days_in ? want_day : days_in;
    return (int64_t)timegm(&m);
}

int gen_parse_date(const char *s, int64_t *out)
{
    int y, mo, d;
    char tail;
    if (s == NULL || strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &mo, &d, &tail) != 3)
        return -1;
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    time_t t = timegm(&tm);
    struct tm back;
    if (gmtime_r(&t, &back) == NULL || back.tm_year != tm.tm_year ||
        back.tm_mon != tm.tm_mon || back.tm_mday != d)
        return -1; /* 2025-02-30 and the like */
    *out = (int64_t)t;
    return 0;
}

/* Notifications per child: mostly one or two, some cascades' worth, a few
 * children seen very often (mean about 5). */
static uint32_t draw_budget(struct rng *r)
{
    uint64_t u = rng_below(r, 100);
    if (u < 30)
        return 1;
    if (u < 44)
        return 2;
    if (u < 54)
        return 3;
    if (u < 62)
        return 4;
    if (u < 70)
        return 5;
    if (u < 88)
        return (uint32_t)rng_range(r, 6, 10);
    if (u < 98)
        return (uint32_t)rng_range(r, 11, 20);
    return (uint32_t)rng_range(r, 21, 40);
}

static const struct gen_plan *sort_plan; /* qsort has no user pointer */
static int by_nhs_cmp(const void *a, const void *b);

struct gen_plan *gen_plan_new(const struct gen_params *p)
{
    struct gen_plan *g = calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    g->p = *p;
    struct rng r = rng_for(p->seed, 1, 0);
    uint64_t ro = p->open, rc = p->closed, k = 0;
    size_t cap = 0;
    while (ro + rc > 0) {
        if (g->n == cap) {
            cap = cap ? cap * 2 : 1024;
            struct gen_child *bigger = realloc(g->c, cap * sizeof *bigger);
            if (bigger == NULL) {
                gen_plan_free(g);
                return NULL;
            }
            g->c = bigger;
        }
        struct gen_child *c = &g->c[g->n];
        c->open = rng_below(&r, ro + rc) < ro;
        uint64_t *rem = c->open ? &ro : &rc;
        uint32_t b = draw_budget(&r);
        c->budget = b < *rem ? b : (uint32_t)*rem;
        *rem -= c->budget;
        c->worker = (uint8_t)rng_below(&r, N_WORKERS);
        for (;;) {
            if (k >= NHS_CANDIDATES) { /* more children than test numbers */
                gen_plan_free(g);
                errno = ERANGE;
                return NULL;
            }
            uint64_t base = nhs_candidate(p->seed, k++);
            int check = nhs_check(base);
            if (check != 10) {
                c->nhs = base * 10 + (uint64_t)check;
                break;
            }
        }
        g->n++;
    }
    g->by_nhs = malloc((g->n ? g->n : 1) * sizeof *g->by_nhs);
    if (g->by_nhs == NULL) {
        gen_plan_free(g);
        return NULL;
    }
    for (size_t i = 0; i < g->n; i++)
        g->by_nhs[i] = (uint32_t)i;
    sort_plan = g;
    qsort(g->by_nhs, g->n, sizeof *g->by_nhs, by_nhs_cmp);
    sort_plan = NULL;
    return g;
}

static int by_nhs_cmp(const void *a, const void *b)
{
    uint64_t x = sort_plan->c[*(const uint32_t *)a].nhs;
    uint64_t y = sort_plan->c[*(const uint32_t *)b].nhs;
    return x < y ? -1 : x > y;
}

int gen_plan_case(const struct gen_plan *g, const char *nhs_number,
                  struct cpis_case *out)
{
    if (nhs_number == NULL || !CPIS_HAS_FIELD(out, struct cpis_case, team))
        return CPIS_ERR_INVALID_ARG;
    out->status = CPIS_CASE_UNKNOWN;
    out->case_id[0] = out->worker[0] = out->manager[0] = out->team[0] = '\0';
    uint64_t want = 0;
    for (const char *p = nhs_number; *p; p++) {
        if (*p < '0' || *p > '9')
            return CPIS_OK;
        want = want * 10 + (uint64_t)(*p - '0');
    }
    size_t lo = 0, hi = g->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t v = g->c[g->by_nhs[mid]].nhs;
        if (v < want)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == g->n || g->c[g->by_nhs[lo]].nhs != want)
        return CPIS_OK;
    uint32_t i = g->by_nhs[lo];
    const struct gen_child *c = &g->c[i];
    snprintf(out->case_id, sizeof out->case_id, "G-%06u", (unsigned)i + 1);
    if (c->open) {
        unsigned team = c->worker / WORKERS_PER_TEAM;
        out->status = CPIS_CASE_OPEN;
        snprintf(out->worker, sizeof out->worker, "sw.gen%02u", (unsigned)c->worker);
        snprintf(out->manager, sizeof out->manager, "tm.gen%u", team);
        team_name(team, out->team, sizeof out->team);
    } else {
        out->status = CPIS_CASE_CLOSED;
    }
    return CPIS_OK;
}

void gen_plan_free(struct gen_plan *g)
{
    if (g == NULL)
        return;
    free(g->by_nhs);
    free(g->c);
    free(g);
}

int gen_write_cases(const struct gen_plan *g, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fputs("[\n", f);
    for (size_t i = 0; i < g->n; i++) {
        const struct gen_child *c = &g->c[i];
        if (c->open) {
            unsigned team = c->worker / WORKERS_PER_TEAM;
            char name[64];
            team_name(team, name, sizeof name);
            fprintf(f,
                    "  { \"nhs_number\": \"%010" PRIu64 "\", \"case_id\": \"G-%06zu\","
                    " \"status\": \"open\", \"worker\": \"sw.gen%02u\","
                    " \"manager\": \"tm.gen%u\", \"team\": \"%s\" }%s\n",
                    c->nhs, i + 1, (unsigned)c->worker, team, name,
                    i + 1 < g->n ? "," : "");
        } else {
            fprintf(f,
                    "  { \"nhs_number\": \"%010" PRIu64 "\", \"case_id\": \"G-%06zu\","
                    " \"status\": \"closed\" }%s\n",
                    c->nhs, i + 1, i + 1 < g->n ? "," : "");
        }
    }
    fputs("]\n", f);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return -1;
    return 0;
}

/* ---- events ------------------------------------------------------------------ */

struct event {
    int64_t at;        /* access time, epoch seconds */
    uint32_t child;    /* index in the plan */
    uint32_t rnd;      /* author details */
    uint8_t site;
    uint8_t fhir;
    uint8_t mesh;
    uint8_t incident_start; /* the first access of an incident */
};

static int event_cmp(const void *a, const void *b)
{
    const struct event *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->child < y->child ? -1 : x->child > y->child;
}


struct evbuf {
    struct event *e;
    size_t n, cap;
};

static int ev_push(struct evbuf *b, const struct event *e)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        struct event *bigger = realloc(b->e, cap * sizeof *bigger);
        if (bigger == NULL)
            return -1;
        b->e = bigger;
        b->cap = cap;
    }
    b->e[b->n++] = *e;
    return 0;
}

/* Places one child's events (times from 0, in order) in the date range
 * [from, until).  A child whose incidents span more than the range has the
 * gaps BETWEEN incidents shortened in proportion (never below one day; an
 * incident's own timing is kept), so episodes stay what they were; then
 * the whole is put at `place` (0 .. 364 days, drawn) scaled to the room
 * left.  gen_command requires a range of at least GEN_MIN_RANGE_DAYS, which
 * holds the busiest child's incidents a day apart. */
static void fit_range(const struct gen_params *p, struct event *e, size_t n, int64_t place)
{
    if (n == 0)
        return;
    int64_t room = p->until - p->from - 2 * MIN; /* the last jitter stays inside */
    int64_t span = e[n - 1].at - e[0].at;
    if (span > room) {
        int64_t gaps = 0, ngaps = 0;
        for (size_t i = 1; i < n; i++)
            if (e[i].incident_start) {
                gaps += e[i].at - e[i - 1].at;
                ngaps++;
            }
        int64_t above = gaps - ngaps * DAY;          /* every gap is > 7 days */
        int64_t fits = room - (span - gaps) - ngaps * DAY;
        if (fits < 0)
            fits = 0;
        int64_t prev_old = e[0].at;
        for (size_t i = 1; i < n; i++) {
            int64_t d = e[i].at - prev_old;
            prev_old = e[i].at;
            if (e[i].incident_start && above > 0)
                d = DAY + (d - DAY) * fits / above;
            e[i].at = e[i - 1].at + d;
        }
        span = e[n - 1].at - e[0].at;
    }
    int64_t free_room = room > span ? room - span : 0;
    int64_t base = p->from + free_room * place / (364 * DAY) - e[0].at;
    for (size_t i = 0; i < n; i++)
        e[i].at += base;
}

/* The incidents of one child: returns -1 when out of memory. */
static int child_events(const struct gen_plan *g, uint32_t idx, struct evbuf *out,
                        struct gen_stats *st)
{
    const struct gen_child *c = &g->c[idx];
    struct rng r = rng_for(g->p.seed, 2, idx);
    /* Times are drawn from 0 and placed in the date range at the end
     * (fit_range); the first draw says where. */
    int64_t place = rng_range(&r, 0, 364 * DAY);
    int64_t t = 0;
    size_t n0 = out->n;
    uint32_t left = c->budget;
    while (left > 0) {
        /* incident length: 1 (single access) .. 5 (the full cascade) */
        uint64_t u = rng_below(&r, 100);
        uint32_t len = u < 45 ? 1 : u < 65 ? 2 : u < 80 ? 3 : u < 88 ? 4 : 5;
        if (len > left)
            len = left;
        uint8_t seq[5];
        int ae = S_AE_STOKE + (int)(rng_below(&r, 10) < 7 ? 0 : rng_below(&r, 3));
        int ward = ae - S_AE_STOKE + S_WARD_STOKE;
        int control = rng_below(&r, 10) < 9 ? S_CONTROL : S_CONTROL_NW;
        switch (len) {
        case 5:
            seq[0] = S_111, seq[1] = (uint8_t)control, seq[2] = S_CREW,
            seq[3] = (uint8_t)ae, seq[4] = (uint8_t)ward;
            break;
        case 4:
            seq[0] = S_111, seq[1] = (uint8_t)control, seq[2] = S_CREW,
            seq[3] = (uint8_t)ae;
            break;
        case 3:
            if (rng_below(&r, 2)) {
                seq[0] = S_111, seq[1] = (uint8_t)control, seq[2] = S_CREW;
            } else {
                seq[0] = (uint8_t)control, seq[1] = S_CREW, seq[2] = (uint8_t)ae;
            }
            break;
        case 2: {
            uint64_t v = rng_below(&r, 3);
            if (v == 0)
                seq[0] = (uint8_t)ae, seq[1] = (uint8_t)ward;
            else if (v == 1)
                seq[0] = S_111, seq[1] = S_OOH;
            else
                seq[0] = S_111, seq[1] = (uint8_t)ae;
            break;
        }
        default: {
            static const uint8_t singles[] = {S_111, S_111, S_AE_STOKE, S_AE_STOKE,
                                              S_AE_BRIARWOOD, S_WALKIN, S_WALKIN,
                                              S_OOH, S_UTC, S_UTC, S_GP, S_SARC};
            seq[0] = singles[rng_below(&r, sizeof singles)];
            break;
        }
        }
        int64_t at = t;
        for (uint32_t i = 0; i < len; i++) {
            if (i > 0) {
                int prev = seq[i - 1], cur = seq[i];
                if (cur == S_CONTROL || cur == S_CONTROL_NW)
                    at += rng_range(&r, 2 * MIN, 8 * MIN);
                else if (cur == S_CREW)
                    at += rng_range(&r, 5 * MIN, 25 * MIN);
                else if (cur >= S_WARD_STOKE && cur <= S_WARD_LEEDS)
                    at += rng_range(&r, 90 * MIN, 6 * HOUR);
                else if (prev == S_111)
                    at += rng_range(&r, 30 * MIN, 3 * HOUR);
                else
                    at += rng_range(&r, 20 * MIN, 75 * MIN);
            }
            struct event e;
            memset(&e, 0, sizeof e);
            e.at = at + rng_range(&r, 0, 59);
            e.child = idx;
            e.rnd = (uint32_t)rng_next(&r);
            e.site = seq[i];
            e.fhir = g->p.format == GEN_FHIR ||
                     (g->p.format == GEN_MIXED && rng_below(&r, 100) < 30);
            e.mesh = rng_below(&r, 100) < (uint64_t)g->p.mesh_share_pct;
            e.incident_start = i == 0;
            if (ev_push(out, &e) != 0)
                return -1;
        }
        st->incidents++;
        if (len > 1)
            st->cascades++;
        left -= len;
        /* the next incident: weeks later */
        t = at + rng_range(&r, 7 * DAY, 120 * DAY) + rng_range(&r, 0, 23 * HOUR);
    }
    fit_range(&g->p, out->e + n0, out->n - n0, place);
    return 0;
}

/* ---- rendering ------------------------------------------------------------------- */

struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) CPIS_PRINTF(2, 3);
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = vsnprintf(b->s != NULL ? b->s + b->n : NULL, room, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->n <= (size_t)k)
            cap *= 2;
        char *bigger = realloc(b->s, cap);
        if (bigger == NULL) {
            b->oom = 1;
            return;
        }
        b->s = bigger;
        b->cap = cap;
    }
}

static void sb_reset(struct sbuf *b)
{
    b->n = 0;
    b->oom = 0;
    if (b->s != NULL)
        b->s[0] = '\0';
}

/* A UUID-shaped id from r: upper (HL7 ids) or lower case (FHIR urls). */
static void uuid(struct rng *r, int upper, char out[37])
{
    uint64_t a = rng_next(r), b = rng_next(r);
    snprintf(out, 37, upper ? "%08X-%04X-4%03X-%04X-%012" PRIX64
                            : "%08x-%04x-4%03x-%04x-%012" PRIx64,
             (unsigned)(a >> 32), (unsigned)((a >> 16) & 0xFFFF),
             (unsigned)(a & 0xFFF), (unsigned)(0x8000 | ((b >> 48) & 0x3FFF)),
             (uint64_t)(b & 0xFFFFFFFFFFFFull));
}

static void hl7_time(int64_t t, char out[24])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 24, "%Y%m%d%H%M%S+0000", &tm);
}

static void iso_time(int64_t t, char out[24])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 24, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Everything a message says, before it is written in one format. */
struct msg_facts {
    char id[37];          /* notification id */
    int64_t created;
    int64_t at;
    char nhs[16];
    const struct site_info *site;
    uint32_t rnd;
    const char *bad_time; /* non-NULL: this access time text instead */
};

/* The query's id: derived from the notification id (FNV-1a), so that the
 * random stream, and with it every figure of a seed, stays as it was. */
static void query_id(const char *nid, char out[37])
{
    uint64_t h = 1469598103934665603ull, h2;
    for (const char *p = nid; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h2 = (h ^ 0x51u) * 1099511628211ull;
    snprintf(out, 37, "%08X-%04X-4%03X-%04X-%012" PRIX64, (unsigned)(h >> 32),
             (unsigned)((h >> 16) & 0xFFFF), (unsigned)(h & 0xFFF),
             (unsigned)(0x8000 | ((h2 >> 48) & 0x3FFF)), (uint64_t)(h2 & 0xFFFFFFFFFFFFull));
}

/* An Access to Service Notification as the published schema
 * (REPC_MT000004GB01) defines it: the bare payload, one record access
 * holding one query. */
static void render_hl7(struct sbuf *b, const struct msg_facts *f, int doctype)
{
    char created[24], at[24], qid[37];
    hl7_time(f->created, created);
    hl7_time(f->at, at);
    if (f->bad_time != NULL)
        snprintf(at, sizeof at, "%s", f->bad_time);
    query_id(f->id, qid);
    const struct site_info *s = f->site;
    uint32_t rnd = f->rnd;
    sb_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    if (doctype)
        sb_printf(b, "<!DOCTYPE CP-ISAccessToServiceNotification [<!ENTITY who \"x\">]>\n");
    sb_printf(b,
        "<CP-ISAccessToServiceNotification xmlns=\"urn:hl7-org:v3\" "
        "xmlns:npfitlc=\"NPFIT:HL7:Localisation\">\n"
        "  <effectiveTime value=\"%s\"/>\n"
        "  <id root=\"%s\"/>\n"
        "  <pertinentInformation>\n"
        "    <pertinentTotalReturnedRecords>\n"
        "      <value value=\"1\"/>\n"
        "    </pertinentTotalReturnedRecords>\n"
        "  </pertinentInformation>\n"
        "  <pertinentInformation1>\n"
        "    <pertinentCP-ISRecordAccess>\n"
        "      <pertinentInformation2>\n"
        "        <pertinentCP-ISNHSQuery>\n"
        "          <effectiveTime value=\"%s\"/>\n"
        "          <id root=\"%s\"/>\n"
        "          <author>\n",
        created, f->id, at, qid);
    const char *given = GIVEN[rnd % 10], *family = FAMILY[(rnd / 10) % 10];
    if (s->system) {
        sb_printf(b,
            "            <npfitlc:contentId root=\"2.16.840.1.113883.2.1.3.2.4.18.16\" "
            "extension=\"COCT_TP145104GB01#System\"/>\n"
            "            <COCT_TP145104GB01.System>\n"
            "              <id root=\"1.2.826.0.1285.0.2.0.107\" extension=\"2000000%05u\"/>\n"
            "              <indirectAuthority>\n"
            "                <superiorAssignedEntity>\n"
            "                  <code code=\"%s\" codeSystem=\"1.2.826.0.1285.0.2.1.104\" displayName=\"%s\"/>\n"
            "                  <assignedPerson>\n"
            "                    <name><given>%s</given><family>%s</family></name>\n"
            "                  </assignedPerson>\n"
            "                </superiorAssignedEntity>\n"
            "              </indirectAuthority>\n"
            "              <maintainingOrganization>\n"
            "                <id root=\"2.16.840.1.113883.2.1.3.2.4.19.1\" extension=\"%s\"/>\n"
            "                <name>%s</name>\n"
            "              </maintainingOrganization>\n"
            "            </COCT_TP145104GB01.System>\n",
            (unsigned)(rnd % 7 + 1), s->role, s->role_name, given, family, s->code, s->name);
    } else {
        sb_printf(b,
            "            <npfitlc:contentId root=\"2.16.840.1.113883.2.1.3.2.4.18.16\" "
            "extension=\"COCT_TP145102GB01#AssignedAuthor\"/>\n"
            "            <COCT_TP145102GB01.AssignedAuthor>\n"
            "              <code code=\"%s\" codeSystem=\"1.2.826.0.1285.0.2.1.104\" displayName=\"%s\"/>\n"
            "              <id root=\"1.2.826.0.1285.0.2.0.65\" extension=\"5551%08u\"/>\n"
            "              <id root=\"1.2.826.0.1285.0.2.0.67\" extension=\"5552%08u\"/>\n"
            "              <assignedAuthorPerson>\n"
            "                <name><given>%s</given><family>%s</family></name>\n"
            "              </assignedAuthorPerson>\n"
            "              <representedOrganization>\n"
            "                <id root=\"2.16.840.1.113883.2.1.3.2.4.19.%d\" extension=\"%s\"/>\n"
            "                <name>%s</name>\n"
            "              </representedOrganization>\n"
            "            </COCT_TP145102GB01.AssignedAuthor>\n",
            s->role, s->role_name, (unsigned)(rnd % 100000000u),
            (unsigned)((rnd / 7) % 100000000u), given, family, strlen(s->code) == 5 ? 2 : 1, s->code,
            s->name);
    }
    sb_printf(b,
        "          </author>\n"
        "          <queryByParameter>\n"
        "            <person.id>\n"
        "              <value root=\"2.16.840.1.113883.2.1.4.1\" extension=\"%s\"/>\n"
        "              <value root=\"2.16.840.1.113883.2.1.3.2.4.18.24\" extension=\"STAFFS-CP-%04u\"/>\n"
        "            </person.id>\n"
        "          </queryByParameter>\n"
        "        </pertinentCP-ISNHSQuery>\n"
        "      </pertinentInformation2>\n"
        "      <reference>\n"
        "        <referredToLAUploadFile>\n"
        "          <value extension=\"706_CPIS_20240101.csv\"/>\n"
        "        </referredToLAUploadFile>\n"
        "      </reference>\n"
        "    </pertinentCP-ISRecordAccess>\n"
        "  </pertinentInformation1>\n"
        "  <primaryInformationRecipient>\n"
        "    <npfitlc:contentId root=\"2.16.840.1.113883.2.1.3.2.4.18.16\" "
        "extension=\"COCT_TP145103GB01#IntendedRecipient\"/>\n"
        "    <COCT_TP145103GB01.IntendedRecipient>\n"
        "      <representedSourceOrganization>\n"
        "        <id root=\"2.16.840.1.113883.2.1.3.2.4.19.1\" extension=\"706\"/>\n"
        "        <name>STAFFORDSHIRE COUNTY COUNCIL</name>\n"
        "      </representedSourceOrganization>\n"
        "    </COCT_TP145103GB01.IntendedRecipient>\n"
        "  </primaryInformationRecipient>\n"
        "</CP-ISAccessToServiceNotification>\n",
        f->nhs, (unsigned)(rnd % 10000));
}

/* The SNOMED CT job role the CP-IS FHIR API gives for an SDS job role
 * (display when want_display). */
static const char *snomed_role(const char *sds, int want_display)
{
    static const char *const map[][3] = {
        {"R0260", "158965000", "Medical practitioner"},
        {"R0570", "224535009", "Registered nurse"},
        {"R8003", "397897005", "Paramedic"},
        {"R8000", "158965000", "Medical practitioner"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(sds, map[i][0]) == 0)
            return map[i][want_display ? 2 : 1];
    return want_display ? "Healthcare professional" : "223366009";
}

/* The CP-IS FHIR API's answer to an AuditEvent search: a searchset Bundle,
 * one AuditEvent per access, the requesting PractitionerRole included.  The
 * organisation is named "NAME (CODE)"; an NHS 111 clinician's carries only
 * that bracketed code, the others an ODS identifier too. */
static void render_fhir(struct sbuf *b, const struct msg_facts *f, struct rng *r)
{
    char created[24], at[24], unused[37], audit[37], role[37], user[37], x1[37], x2[37];
    iso_time(f->created, created);
    iso_time(f->at, at);
    if (f->bad_time != NULL)
        snprintf(at, sizeof at, "%s", f->bad_time);
    /* six draws, as before: the rest of the stream stays as it was */
    uuid(r, 0, unused);
    uuid(r, 0, x1);
    uuid(r, 0, audit);
    uuid(r, 0, role);
    uuid(r, 0, user);
    uuid(r, 0, x2);
    const struct site_info *s = f->site;
    uint32_t rnd = f->rnd;
    const char *given = GIVEN[rnd % 10], *family = FAMILY[(rnd / 10) % 10];
    char org[320]; /* the identifier, the name and the code: room for long ODS names */
    if (s->system)
        snprintf(org, sizeof org, "\"display\": \"%s (%s)\"", s->name, s->code);
    else
        snprintf(org, sizeof org,
                 "\"identifier\": { \"system\": \"https://fhir.nhs.uk/Id/ods-organization-code\", "
                 "\"value\": \"%s\" }, \"display\": \"%s (%s)\"", s->code, s->name, s->code);
    sb_printf(b,
        "{\n"
        "  \"resourceType\": \"Bundle\",\n"
        "  \"id\": \"%s\",\n"
        "  \"meta\": { \"lastUpdated\": \"%s\" },\n"
        "  \"type\": \"searchset\",\n"
        "  \"total\": 1,\n"
        "  \"entry\": [\n"
        "    { \"fullUrl\": \"https://api.service.nhs.uk/child-protection-information/FHIR/R4/AuditEvent/%s\",\n"
        "      \"resource\": { \"resourceType\": \"AuditEvent\", \"id\": \"%s\",\n"
        "        \"type\": { \"system\": \"http://terminology.hl7.org/CodeSystem/audit-event-type\", \"code\": \"rest\", \"display\": \"RESTful Operation\" },\n"
        "        \"action\": \"R\", \"recorded\": \"%s\", \"outcome\": \"0\",\n"
        "        \"agent\": [\n"
        "          { \"type\": { \"coding\": [ { \"system\": \"http://terminology.hl7.org/CodeSystem/v3-RoleClass\", \"code\": \"PAT\" } ] },\n"
        "            \"who\": { \"identifier\": { \"system\": \"https://fhir.nhs.uk/Id/nhs-number\", \"value\": \"%s\" } }, \"requestor\": \"false\" },\n"
        "          { \"type\": { \"coding\": [ { \"system\": \"http://terminology.hl7.org/CodeSystem/v3-RoleClass\", \"code\": \"ASSIGNED\" } ] },\n"
        "            \"who\": { \"reference\": \"PractitionerRole/%s\" }, \"requestor\": \"true\" } ],\n"
        "        \"source\": { \"observer\": { \"display\": \"CP-IS\" } } },\n"
        "      \"search\": { \"mode\": \"match\" } },\n"
        "    { \"fullUrl\": \"https://api.service.nhs.uk/child-protection-information/FHIR/R4/PractitionerRole/%s\",\n"
        "      \"resource\": { \"resourceType\": \"PractitionerRole\", \"id\": \"%s\",\n"
        "        \"identifier\": [ { \"system\": \"https://fhir.nhs.uk/Id/sds-role-profile-id\", \"value\": \"5552%08u\" } ],\n"
        "        \"practitioner\": { \"identifier\": { \"system\": \"https://fhir.nhs.uk/Id/sds-user-id\", \"value\": \"5551%08u\" }, \"display\": \"%s %s\" },\n"
        "        \"organization\": { %s },\n"
        "        \"code\": [ { \"coding\": [ { \"system\": \"http://snomed.info/sct\", \"code\": \"%s\", \"display\": \"%s\" } ] } ] },\n"
        "      \"search\": { \"mode\": \"include\" } }\n"
        "  ]\n"
        "}\n",
        f->id, created, audit, audit, at, f->nhs, role, role, role,
        (unsigned)((rnd / 7) % 100000000u), (unsigned)(rnd % 100000000u), given, family, org,
        snomed_role(s->role, 0), snomed_role(s->role, 1));
}

static void render_ctl(struct sbuf *b, const char *local_id, const char *dts_id,
                       int64_t t)
{
    char when[24];
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(when, sizeof when, "%Y%m%d%H%M%S", &tm);
    sb_printf(b,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<DTSControl>\n"
        "  <Version>1.0</Version>\n"
        "  <AddressType>DTS</AddressType>\n"
        "  <MessageType>Data</MessageType>\n"
        "  <From_DTS>X26HC001</From_DTS>\n"
        "  <To_DTS>706LAOT001</To_DTS>\n"
        "  <Subject>CP-IS Access to Service Notification</Subject>\n"
        "  <LocalId>%s</LocalId>\n"
        "  <DTSId>%s</DTSId>\n"
        "  <PartnerId></PartnerId>\n"
        "  <Compress>N</Compress>\n"
        "  <Encrypted>N</Encrypted>\n"
        "  <WorkflowId>CPIS_ASN</WorkflowId>\n"
        "  <ProcessId></ProcessId>\n"
        "  <DataChecksum></DataChecksum>\n"
        "  <IsCompressed>N</IsCompressed>\n"
        "  <StatusRecord>\n"
        "    <DateTime>%s</DateTime>\n"
        "    <Event>TRANSFER</Event>\n"
        "    <Status>SUCCESS</Status>\n"
        "    <StatusCode>00</StatusCode>\n"
        "    <Description>Transferred to recipient mailbox</Description>\n"
        "  </StatusRecord>\n"
        "</DTSControl>\n",
        local_id, dts_id, when);
}

/* ---- the run ------------------------------------------------------------------------ */

struct runner {
    const struct gen_plan *g;
    gen_sink sink;
    void *user;
    struct gen_stats *st;
    struct sbuf payload, ctl;
    uint64_t seq;
    struct rng sel;           /* picks duplicates and bad messages */
    uint64_t dup_left, bad_left, orig_left;
};

static int emit(struct runner *R, const char *label, const struct msg_facts *f,
                int fhir, int mesh, enum gen_kind kind, int open_case, struct rng *r)
{
    char name[96], ctl_name[96], dts[64], local[64];
    R->seq++;
    const char *ext = mesh ? "dat" : fhir ? "json" : "xml";
    snprintf(name, sizeof name, "%07" PRIu64 "-%s.%s", R->seq, label, ext);
    struct gen_message m;
    memset(&m, 0, sizeof m);
    m.seq = R->seq;
    m.name = name;
    m.payload = R->payload.s;
    m.payload_len = R->payload.n;
    m.dts_id = "";
    m.local_id = "";
    m.content_type = !mesh && fhir ? "application/fhir+json" : NULL;
    m.kind = kind;
    m.is_fhir = fhir;
    m.open_case = open_case;
    if (mesh) {
        char when[24];
        time_t tt = (time_t)f->created;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(when, sizeof when, "%Y%m%d%H%M%S", &tm);
        snprintf(dts, sizeof dts, "%s%06u_%06X", when,
                 (unsigned)rng_below(r, 1000000), (unsigned)rng_below(r, 0x1000000));
        snprintf(local, sizeof local, "CPIS-ASN-%.8s", f->id);
        snprintf(ctl_name, sizeof ctl_name, "%07" PRIu64 "-%s.ctl", R->seq, label);
        sb_reset(&R->ctl);
        render_ctl(&R->ctl, local, dts, f->created);
        if (R->ctl.oom)
            return -1;
        m.ctl_name = ctl_name;
        m.ctl = R->ctl.s;
        m.ctl_len = R->ctl.n;
        m.dts_id = dts;
        m.local_id = local;
        R->st->mesh_pairs++;
    }
    R->st->messages++;
    return R->sink(R->user, &m);
}

static void facts_for(const struct gen_plan *g, const struct event *e,
                      struct rng *r, struct msg_facts *f)
{
    memset(f, 0, sizeof *f);
    uuid(r, 1, f->id);
    f->at = e->at;
    f->created = e->at + rng_range(r, 20, 300);
    snprintf(f->nhs, sizeof f->nhs, "%010" PRIu64, g->c[e->child].nhs);
    f->site = &SITES[e->site];
    f->rnd = e->rnd;
}

static void render(struct sbuf *b, const struct msg_facts *f, int fhir, struct rng *r)
{
    sb_reset(b);
    if (fhir)
        render_fhir(b, f, r);
    else
        render_hl7(b, f, 0);
}

static const char *const BAD_LABELS[] = {"bad-truncated", "bad-nhs-number",
                                         "bad-json", "bad-doctype",
                                         "bad-timestamp"};

/* A bad message modelled on event e (never acting). */
static int emit_bad(struct runner *R, const struct event *e, struct rng *r)
{
    unsigned kind = (unsigned)(R->st->bad % 5);
    struct msg_facts f;
    facts_for(R->g, e, r, &f);
    sb_reset(&R->payload);
    switch (kind) {
    case 0: /* truncated XML */
        render_hl7(&R->payload, &f, 0);
        R->payload.n = R->payload.n * 3 / 5;
        break;
    case 1: { /* Modulus 11 fails: change the check digit */
        f.nhs[9] = (char)('0' + (f.nhs[9] - '0' + 1) % 10);
        render_hl7(&R->payload, &f, 0);
        break;
    }
    case 2: /* truncated JSON */
        render_fhir(&R->payload, &f, r);
        R->payload.n = R->payload.n / 2;
        break;
    case 3: /* a DTD with an entity */
        render_hl7(&R->payload, &f, 1);
        break;
    default: /* month 13 */
        f.bad_time = "20241345120000+0000";
        render_hl7(&R->payload, &f, 0);
        break;
    }
    if (R->payload.oom)
        return -1;
    R->payload.s[R->payload.n] = '\0';
    R->st->bad++;
    return emit(R, BAD_LABELS[kind], &f, kind == 2, 0, GEN_BAD, 0, r);
}

static int emit_event(struct runner *R, const struct event *e)
{
    const struct gen_plan *g = R->g;
    /* Per-event randomness: independent of what else is in the stream. */
    struct rng r = rng_for(g->p.seed, 3, ((uint64_t)e->child << 24) ^ (uint64_t)e->at);
    struct msg_facts f;
    facts_for(g, e, &r, &f);
    render(&R->payload, &f, e->fhir, &r);
    if (R->payload.oom)
        return -1;
    int open_case = g->c[e->child].open;
    const char *label = SITES[e->site].label;
    struct gen_stats *st = R->st;
    if (open_case)
        st->open++;
    else
        st->closed++;
    if (e->fhir)
        st->fhir++;
    else
        st->hl7v3++;
    if (SITES[e->site].system)
        st->system_authors++;
    int rc = emit(R, label, &f, e->fhir, e->mesh, GEN_ORIGINAL, open_case, &r);
    if (rc != 0)
        return rc;

    /* Selection sampling: exactly dup_left of the remaining originals get a
     * resend, and exactly bad_left a bad message after them. */
    uint64_t orig = R->orig_left--;
    if (R->dup_left > 0 && rng_below(&R->sel, orig) < R->dup_left) {
        R->dup_left--;
        char dlabel[64];
        if (st->duplicates % 2 == 0) {
            /* the same payload again: a MESH resend (new DTSId) for a MESH
             * message, a second copy of the file otherwise */
            snprintf(dlabel, sizeof dlabel, "resend-%s", label);
        } else {
            /* the same access re-issued under a new notification id */
            snprintf(dlabel, sizeof dlabel, "reissue-%s", label);
            int64_t at = f.at;
            facts_for(g, e, &r, &f);
            f.at = at;
            render(&R->payload, &f, e->fhir, &r);
            if (R->payload.oom)
                return -1;
        }
        st->duplicates++;
        rc = emit(R, dlabel, &f, e->fhir, e->mesh, GEN_DUPLICATE, open_case, &r);
        if (rc != 0)
            return rc;
    }
    if (R->bad_left > 0 && rng_below(&R->sel, orig) < R->bad_left) {
        R->bad_left--;
        rc = emit_bad(R, e, &r);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int gen_run(const struct gen_plan *g, gen_sink sink, void *user,
            struct gen_stats *st_out)
{
    struct gen_stats st;
    memset(&st, 0, sizeof st);
    struct runner R;
    memset(&R, 0, sizeof R);
    R.g = g;
    R.sink = sink;
    R.user = user;
    R.st = &st;
    R.sel = rng_for(g->p.seed, 4, 0);
    R.orig_left = g->p.open + g->p.closed;
    R.dup_left = g->p.duplicates < R.orig_left ? g->p.duplicates : R.orig_left;
    R.bad_left = g->p.bad < R.orig_left ? g->p.bad : R.orig_left;
    for (size_t i = 0; i < g->n; i++) {
        st.children++;
        if (g->c[i].open)
            st.children_open++;
        else
            st.children_closed++;
    }
    struct evbuf ev = {0};
    int rc = 0;
    for (size_t b = 0; rc == 0 && b < g->n; b += GEN_BLOCK_CHILDREN) {
        size_t end = b + GEN_BLOCK_CHILDREN < g->n ? b + GEN_BLOCK_CHILDREN : g->n;
        ev.n = 0;
        for (size_t i = b; rc == 0 && i < end; i++)
            if (child_events(g, (uint32_t)i, &ev, &st) != 0)
                rc = -1;
        if (rc != 0)
            break;
        qsort(ev.e, ev.n, sizeof *ev.e, event_cmp);
        for (size_t i = 0; rc == 0 && i < ev.n; i++)
            rc = emit_event(&R, &ev.e[i]);
    }
    free(ev.e);
    free(R.payload.s);
    free(R.ctl.s);
    if (st_out != NULL)
        *st_out = st;
    return rc;
}

/* ---- the `generate` command ------------------------------------------------------ */

static const char GEN_USAGE[] =
    "usage: cpis-mockhost generate [--seed N] [--notifications N]\n"
    "         [--open N --closed N] [--format hl7v3|fhir|mixed]\n"
    "         [--duplicates N] [--bad N] [--mesh-share PCT]\n"
    "         [--from YYYY-MM-DD] [--until YYYY-MM-DD] [--cases-out FILE] OUT_DIR\n"
    "Writes a reproducible stream of CP-IS notifications into OUT_DIR (created;\n"
    "it must be empty), one file per message (MESH pairs as NAME.ctl/NAME.dat),\n"
    "named so that name order is stream order, and the matching case fixture\n"
    "to --cases-out (default: OUT_DIR.cases.json, beside the folder).\n"
    "--open/--closed count NOTIFICATIONS (one access each) on open and closed\n"
    "cases; --notifications N alone splits N in the ratio that reproduces the\n"
    "figures of the local authority's discussion paper (2253:3739; see\n"
    "docs/glossary.md);\n"
    "default: --open 2253 --closed 3739, seed 1, mixed formats.\n"
    "Every access falls in [--from, --until) (UTC days); default --until\n"
    "today, --from twelve months before --until; the range is at least 90\n"
    "days.  The same options and seed give the same files, byte for byte\n"
    "(give --until for that on another day).  Team names in the fixture are\n"
    "written as a local authority names them (\"Stafford North\").  Duplicates\n"
    "(resends, reissues under a new notification id) and bad messages\n"
    "(quarantined) are extra and never act.  Replay it with:\n"
    "  cpis-mockhost --config samples/config/v5.json --cases OUT_DIR.cases.json\n"
    "      replay OUT_DIR\n"
    "Prints one JSON line of counts (and the range, \"from\" and \"until\").\n"
    "Exit status 0, or 2 on a usage error or when the files cannot be written.\n";

static int gen_usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "cpis-mockhost: generate: %s%s%s (try cpis-mockhost generate --help)\n",
            what, arg ? " " : "", arg ? arg : "");
    return 2;
}

static int parse_count(const char *s, uint64_t *out)
{
    if (s == NULL || *s == '\0' || *s == '-')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

struct dir_sink {
    const char *dir;
    struct progress prog;
    char err[512];
};

static int write_whole(const char *dir, const char *name, const char *data,
                       size_t len, char *err, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        snprintf(err, cap, "%.400s: %s", path, strerror(errno));
        return -1;
    }
    size_t w = fwrite(data, 1, len, f);
    int bad = w != len || ferror(f);
    if (fclose(f) != 0 || bad) {
        snprintf(err, cap, "%.400s: write failed", path);
        return -1;
    }
    return 0;
}

static int dir_sink_fn(void *user, const struct gen_message *m)
{
    struct dir_sink *d = user;
    if (write_whole(d->dir, m->name, m->payload, m->payload_len, d->err,
                    sizeof d->err) != 0)
        return 1;
    if (m->ctl != NULL &&
        write_whole(d->dir, m->ctl_name, m->ctl, m->ctl_len, d->err, sizeof d->err) != 0)
        return 1;
    progress_add(&d->prog, 1);
    return 0;
}

/* mkdir -p */
static int mkdir_p(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* 1 when the folder has entries other than . and .. */
static int dir_has_entries(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    struct dirent *e;
    int any = 0;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            any = 1;
            break;
        }
    closedir(d);
    return any;
}

int gen_command(int argc, char **argv)
{
    struct gen_params p;
    gen_params_default(&p);
    uint64_t total = 0, open = 0, closed = 0;
    int have_total = 0, have_open = 0, have_closed = 0, have_from = 0;
    int64_t from = 0;
    const char *out_dir = NULL, *cases_out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(GEN_USAGE, stdout);
            return 0;
        }
        if (a[0] == '-' && a[1] != '\0') {
            const char *v = i + 1 < argc ? argv[i + 1] : NULL;
            if (v == NULL)
                return gen_usage_error("option needs a value:", a);
            i++;
            uint64_t n = 0;
            if (strcmp(a, "--format") == 0) {
                if (strcmp(v, "hl7v3") == 0)
                    p.format = GEN_HL7V3;
                else if (strcmp(v, "fhir") == 0)
                    p.format = GEN_FHIR;
                else if (strcmp(v, "mixed") == 0)
                    p.format = GEN_MIXED;
                else
                    return gen_usage_error("unknown format", v);
                continue;
            }
            if (strcmp(a, "--cases-out") == 0) {
                cases_out = v;
                continue;
            }
            if (strcmp(a, "--from") == 0 || strcmp(a, "--until") == 0) {
                int64_t day;
                if (gen_parse_date(v, &day) != 0)
                    return gen_usage_error("not a date (YYYY-MM-DD):", v);
                if (a[2] == 'f')
                    from = day, have_from = 1;
                else
                    p.until = day;
                continue;
            }
            if (parse_count(v, &n) != 0)
                return gen_usage_error("not a count:", v);
            if (strcmp(a, "--seed") == 0)
                p.seed = n;
            else if (strcmp(a, "--notifications") == 0)
                total = n, have_total = 1;
            else if (strcmp(a, "--open") == 0)
                open = n, have_open = 1;
            else if (strcmp(a, "--closed") == 0)
                closed = n, have_closed = 1;
            else if (strcmp(a, "--duplicates") == 0)
                p.duplicates = n;
            else if (strcmp(a, "--bad") == 0)
                p.bad = n;
            else if (strcmp(a, "--mesh-share") == 0 && n <= 100)
                p.mesh_share_pct = (int)n;
            else
                return gen_usage_error("unknown option or bad value:", a);
            continue;
        }
        if (out_dir != NULL)
            return gen_usage_error("one output folder only; extra:", a);
        out_dir = a;
    }
    if (out_dir == NULL)
        return gen_usage_error("no output folder given", NULL);
    p.from = have_from ? from : gen_months_before(p.until, 12);
    if (p.until - p.from < GEN_MIN_RANGE_DAYS * (int64_t)DAY)
        return gen_usage_error("--from must be at least 90 days before --until", NULL);
    if (have_open != have_closed)
        return gen_usage_error("give --open and --closed together", NULL);
    if (have_open) {
        if (have_total && total != open + closed)
            return gen_usage_error("--notifications is not --open + --closed", NULL);
        p.open = open;
        p.closed = closed;
    } else if (have_total) {
        p.open = (total * 2253 + 5992 / 2) / 5992;
        p.closed = total - p.open;
    }
    if (p.open + p.closed == 0)
        return gen_usage_error("nothing to generate (0 notifications)", NULL);
    if (p.open + p.closed > 100000000ull)
        return gen_usage_error("too many notifications (at most 100000000)", NULL);

    if (mkdir_p(out_dir) != 0) {
        fprintf(stderr, "cpis-mockhost: generate: %s: %s\n", out_dir, strerror(errno));
        return 2;
    }
    if (dir_has_entries(out_dir)) {
        fprintf(stderr, "cpis-mockhost: generate: %s: not empty (a replay reads every "
                        "file in it)\n", out_dir);
        return 2;
    }
    char *owned_cases = NULL;
    if (cases_out == NULL) {
        size_t n = strlen(out_dir);
        while (n > 1 && out_dir[n - 1] == '/')
            n--;
        owned_cases = malloc(n + sizeof ".cases.json");
        if (owned_cases == NULL)
            return 2;
        memcpy(owned_cases, out_dir, n);
        memcpy(owned_cases + n, ".cases.json", sizeof ".cases.json");
        cases_out = owned_cases;
    }
    struct gen_plan *g = gen_plan_new(&p);
    if (g == NULL) {
        fprintf(stderr, "cpis-mockhost: generate: %s\n",
                errno == ERANGE ? "too many children for the NHS test range"
                                : "out of memory");
        free(owned_cases);
        return 2;
    }
    int rc = 0;
    if (gen_write_cases(g, cases_out) != 0) {
        fprintf(stderr, "cpis-mockhost: generate: %s: %s\n", cases_out, strerror(errno));
        rc = 2;
    }
    struct dir_sink d;
    memset(&d, 0, sizeof d);
    d.dir = out_dir;
    struct gen_stats st;
    memset(&st, 0, sizeof st);
    if (rc == 0) {
        progress_start(&d.prog, "generate",
                       p.open + p.closed + p.duplicates + p.bad, -1);
        int r = gen_run(g, dir_sink_fn, &d, &st);
        progress_end(&d.prog);
        if (r != 0) {
            fprintf(stderr, "cpis-mockhost: generate: %s\n",
                    d.err[0] ? d.err : "out of memory");
            rc = 2;
        }
    }
    if (rc == 0) {
        char from_s[16], until_s[16];
        time_t ft = (time_t)p.from, ut = (time_t)p.until;
        struct tm ftm, utm;
        strftime(from_s, sizeof from_s, "%Y-%m-%d", gmtime_r(&ft, &ftm));
        strftime(until_s, sizeof until_s, "%Y-%m-%d", gmtime_r(&ut, &utm));
        printf("{\"out\":\"%s\",\"cases\":\"%s\",\"from\":\"%s\",\"until\":\"%s\",\"seed\":%" PRIu64
               ",\"notifications\":%" PRIu64 ",\"open\":%" PRIu64
               ",\"closed\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"bad\":%" PRIu64
               ",\"messages\":%" PRIu64 ",\"children\":%" PRIu64
               ",\"children_open\":%" PRIu64 ",\"children_closed\":%" PRIu64
               ",\"incidents\":%" PRIu64 ",\"cascades\":%" PRIu64
               ",\"system_authors\":%" PRIu64 ",\"hl7v3\":%" PRIu64
               ",\"fhir\":%" PRIu64 ",\"mesh_pairs\":%" PRIu64
               ",\"expected_v5\":{\"activities\":%" PRIu64
               ",\"first_response_alerts\":%" PRIu64 "}}\n",
               out_dir, cases_out, from_s, until_s, p.seed, st.open + st.closed, st.open, st.closed,
               st.duplicates, st.bad, st.messages, st.children, st.children_open,
               st.children_closed, st.incidents, st.cascades, st.system_authors,
               st.hl7v3, st.fhir, st.mesh_pairs, 3 * st.open, 2 * st.closed);
    }
    gen_plan_free(g);
    free(owned_cases);
    return rc;
}
