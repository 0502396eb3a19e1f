/*
 * ids.c - NHS numbers, ODS codes and timestamps.
 *
 * Shapes are checked with PCRE2 patterns compiled once (cpis_ids_init),
 * JIT-compiled where the library can, and shared read-only between threads
 * with one match context (the match limit); each call creates its own match
 * data.
 * Arithmetic checks (Modulus 11, calendar ranges) are plain C.
 */
#include "ids.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    PAT_NHS,    /* 10 digits, optionally grouped 3-3-4 by single spaces */
    PAT_ODS,    /* 1-9 letters and digits */
    PAT_HL7TS,  /* YYYYMMDD[HH[MM[SS[.f+]]]][+|-HHMM] */
    PAT_ISO,    /* YYYY-MM-DD[Thh:mm[:ss[.f+]](Z|+hh:mm)] */
    PAT_COUNT_
};

static const char *const patterns[PAT_COUNT_] = {
    [PAT_NHS] = "\\A(?:[0-9]{10}|[0-9]{3} [0-9]{3} [0-9]{4})\\z",
    [PAT_ODS] = "\\A[A-Za-z0-9]{1,9}\\z",
    [PAT_HL7TS] = "\\A([0-9]{4})([0-9]{2})([0-9]{2})"
                  "(?:([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\\.([0-9]{1,9}))?)?)?)?"
                  "(?:([+-])([0-9]{2})([0-9]{2}))?\\z",
    [PAT_ISO] = "\\A([0-9]{4})-([0-9]{2})-([0-9]{2})"
                "(?:T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\\.([0-9]{1,9}))?)?"
                "(?:(Z)|([+-])([0-9]{2}):([0-9]{2})))?\\z",
};

static pcre2_code *compiled[PAT_COUNT_];
/* The match limit, set once: a context only read while matching may be
 * shared between threads (pcre2api, "Match context"). */
static pcre2_match_context *match_ctx;
static int init_status = -1;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void ids_init_once(void)
{
    for (int i = 0; i < PAT_COUNT_; i++) {
        int errcode;
        PCRE2_SIZE erroff;
        compiled[i] = pcre2_compile((PCRE2_SPTR)patterns[i], PCRE2_ZERO_TERMINATED,
                                    0, &errcode, &erroff, NULL);
        if (compiled[i] == NULL) {
            init_status = -1;
            return;
        }
        /* JIT-compiled when the library can (a match costs a tenth of the
         * interpreter's); when it cannot (no JIT support, executable memory
         * refused), pcre2_match interprets the same pattern: the result is
         * the same either way. */
        (void)pcre2_jit_compile(compiled[i], PCRE2_JIT_COMPLETE);
    }
    match_ctx = pcre2_match_context_create(NULL);
    if (match_ctx == NULL)
        return;
    pcre2_set_match_limit(match_ctx, 10000);
    init_status = 0;
}

/* The compiled patterns live as long as the library: freed when the plugin
 * is unloaded (dlclose), so a host that loads and unloads it leaks nothing. */
__attribute__((destructor)) static void ids_fini(void)
{
    for (int i = 0; i < PAT_COUNT_; i++) {
        pcre2_code_free(compiled[i]);
        compiled[i] = NULL;
    }
    pcre2_match_context_free(match_ctx);
    match_ctx = NULL;
}

int cpis_ids_init(void)
{
    pthread_once(&init_once, ids_init_once);
    return init_status;
}

/* Match s against pattern p.  Returns the number of capture pairs set (>= 1)
 * or 0 when no match; ovec receives up to 12 groups. */
static int match(int p, const char *s, size_t ovec_out[][2], int max_groups)
{
    if (s == NULL || cpis_ids_init() != 0)
        return 0;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(compiled[p], NULL);
    if (md == NULL)
        return 0;
    int rc = pcre2_match(compiled[p], (PCRE2_SPTR)s, strlen(s), 0, 0, md, match_ctx);
    if (rc > 0 && ovec_out != NULL) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        uint32_t n = pcre2_get_ovector_count(md);
        for (int g = 0; g < max_groups; g++) {
            if ((uint32_t)g < n && g < rc) {
                ovec_out[g][0] = ov[2 * g];
                ovec_out[g][1] = ov[2 * g + 1];
            } else {
                ovec_out[g][0] = ovec_out[g][1] = PCRE2_UNSET;
            }
        }
    }
    pcre2_match_data_free(md);
    return rc > 0 ? rc : 0;
}

int cpis_nhs_normalise(const char *in, char *out, size_t cap)
{
    if (in == NULL || out == NULL || cap < 11)
        return -1;
    if (!match(PAT_NHS, in, NULL, 0))
        return -1;
    char d[11];
    size_t k = 0;
    for (const char *p = in; *p && k < 10; p++)
        if (*p >= '0' && *p <= '9')
            d[k++] = *p;
    d[k] = '\0';
    int sum = 0;
    for (int i = 0; i < 9; i++)
        sum += (d[i] - '0') * (10 - i);
    int check = 11 - (sum % 11);
    if (check == 11)
        check = 0;
    if (check == 10 || check != d[9] - '0')
        return -2;
    memcpy(out, d, 11);
    return 0;
}

void cpis_nhs_mask(const char *nhs, char *out, size_t cap)
{
    size_t n = nhs ? strlen(nhs) : 0;
    const char *last4 = n >= 4 ? nhs + n - 4 : "????";
    snprintf(out, cap, "*** *** %.4s", last4);
}

void cpis_nhs_display(const char *nhs, char *out, size_t cap)
{
    if (nhs == NULL || strlen(nhs) != 10) {
        snprintf(out, cap, "%s", nhs ? nhs : "");
        return;
    }
    snprintf(out, cap, "%.3s %.3s %.4s", nhs, nhs + 3, nhs + 6);
}

int cpis_ods_code_valid(const char *code)
{
    return match(PAT_ODS, code, NULL, 0) ? 1 : 0;
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int cpis_utc_from_fields(int y, int mo, int d, int h, int mi, int s, int64_t *out)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || y > 9999 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || s < 0 || s > 60)
        return -1;
    int dim = mdays[mo - 1] + (mo == 2 && is_leap(y));
    if (d > dim)
        return -1;
    if (s == 60) /* leap second: count it as the next minute's first */
        s = 59;
    /* days from civil (proleptic Gregorian), 1970-01-01 = 0 */
    int64_t yy = y - (mo <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t mp = (mo + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    *out = days * 86400 + h * 3600 + mi * 60 + s;
    return 0;
}

static int num(const char *s, size_t a, size_t b)
{
    int v = 0;
    for (size_t i = a; i < b; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

#define GRP(g) (ov[g][0] != (size_t)PCRE2_UNSET)
#define VAL(g) (GRP(g) ? num(ts, ov[g][0], ov[g][1]) : 0)

/* Epoch seconds of 01:00 UTC on the last Sunday of month mo (3 or 10). */
static int64_t last_sunday_0100(int y, int mo)
{
    int64_t t = 0;
    (void)cpis_utc_from_fields(y, mo, 31, 1, 0, 0, &t);
    int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int dow = (int)(((days % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday (4) */
    return t - (int64_t)dow * 86400;
}

int64_t cpis_london_to_utc(int64_t local)
{
    /* the year of the local wall time (a day either side of a year's end
     * is always GMT, so the year of local and UTC never matter) */
    char iso[32];
    cpis_iso_format(local, iso, sizeof iso);
    int y = 0;
    for (int i = 0; i < 4 && iso[i] >= '0' && iso[i] <= '9'; i++)
        y = y * 10 + (iso[i] - '0');
    int64_t start = last_sunday_0100(y, 3), end = last_sunday_0100(y, 10);
    int64_t as_bst = local - 3600;
    /* BST when the BST reading falls inside summer time.  In October the
     * hour 01:00-01:59 happens twice: this takes the first (BST) one.  In
     * March 01:00-01:59 never happens on the clock: it is read as GMT. */
    if (as_bst >= start && as_bst < end)
        return as_bst;
    return local;
}

int cpis_hl7_ts_parse(const char *ts, int64_t *out)
{
    size_t ov[12][2];
    if (!match(PAT_HL7TS, ts, ov, 11))
        return -1;
    int has_off = GRP(8);
    int64_t t;
    if (cpis_utc_from_fields(VAL(1), VAL(2), VAL(3), VAL(4), VAL(5), VAL(6), &t) != 0)
        return -1;
    if (has_off) {
        int oh = VAL(9), om = VAL(10);
        if (oh > 14 || om > 59)
            return -1;
        int64_t off = oh * 3600 + om * 60;
        t += (ts[ov[8][0]] == '-') ? off : -off;
    } else {
        t = cpis_london_to_utc(t); /* no offset: UK local time */
    }
    *out = t;
    return 0;
}

int cpis_iso_ts_parse(const char *ts, int64_t *out)
{
    size_t ov[12][2];
    if (!match(PAT_ISO, ts, ov, 12))
        return -1;
    int has_time = GRP(4);
    if (has_time && !GRP(8) && !GRP(9))
        return -1; /* a time needs a zone */
    int64_t t;
    if (cpis_utc_from_fields(VAL(1), VAL(2), VAL(3), VAL(4), VAL(5), VAL(6), &t) != 0)
        return -1;
    if (GRP(9)) {
        int oh = VAL(10), om = VAL(11);
        if (oh > 14 || om > 59)
            return -1;
        int64_t off = oh * 3600 + om * 60;
        t += (ts[ov[9][0]] == '-') ? off : -off;
    }
    *out = t;
    return 0;
}

#undef GRP
#undef VAL

void cpis_iso_format(int64_t t, char *out, size_t cap)
{
    int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t secs = t - days * 86400;
    /* civil from days */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2)
        y++;
    if (y < 0 || y > 9999) { /* outside four digits: the general path */
        snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)y, (int)m, (int)d,
                 (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
        return;
    }
    /* "YYYY-MM-DDTHH:MM:SSZ" digit by digit: this runs for every time in
     * every landing entry, case note and record (snprintf was most of it). */
    char b[21];
    const int v[6] = {(int)(y / 100), (int)(y % 100), (int)m, (int)d,
                      (int)(secs / 3600), (int)(secs / 60 % 60)};
    static const char sep[6] = {0, 0, '-', '-', 'T', ':'};
    size_t k = 0;
    for (int i = 0; i < 6; i++) {
        if (sep[i])
            b[k++] = sep[i];
        b[k++] = (char)('0' + v[i] / 10);
        b[k++] = (char)('0' + v[i] % 10);
    }
    b[k++] = ':';
    b[k++] = (char)('0' + (int)(secs % 60) / 10);
    b[k++] = (char)('0' + (int)(secs % 60) % 10);
    b[k++] = 'Z';
    b[k] = '\0';
    if (cap > 0) {
        size_t n = k < cap - 1 ? k : cap - 1;
        memcpy(out, b, n);
        out[n] = '\0';
    }
}
