/*
 * cases.c - the case fixture (see cases.h).
 *
 * A real host answers case_lookup from its case-management database; the
 * mock host answers it from a small JSON file so that scenario tests can set
 * up open, closed and unknown children.
 */
#include "cases.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

struct case_row {
    char nhs_number[16];
    size_t order;       /* position in the file: the first entry wins */
    struct cpis_case c; /* struct_size unused here; copied field by field */
};

/* rows sorted by (nhs_number, order) once loaded, so a lookup is a binary
 * search, O(log n): the benchmark's fixtures hold 200 000+ children. */
struct cases {
    struct case_row *rows;
    size_t n;
};

static int row_cmp(const void *a, const void *b)
{
    const struct case_row *x = a, *y = b;
    int c = strcmp(x->nhs_number, y->nhs_number);
    if (c != 0)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Reads a whole (small) file into a NUL-terminated buffer. */
static char *slurp(const char *path, size_t *len, char *err, size_t err_cap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, err_cap, "cannot read: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (n + 1 >= cap) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (buf == NULL || bad) {
        snprintf(err, err_cap, "%s", buf == NULL ? "out of memory" : "read error");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Copies an optional string member into dst (truncating); a present member
 * that is not a string is an error. */
static int copy_member(const cJSON *obj, const char *key, char *dst,
                       size_t cap, size_t index, char *err, size_t err_cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    dst[0] = '\0';
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v)) {
        snprintf(err, err_cap, "entry %zu: \"%s\" must be a string", index, key);
        return -1;
    }
    snprintf(dst, cap, "%s", v->valuestring);
    return 0;
}

/* "YYYY-MM-DD" with a month 01-12 and a day 01-31. */
static int is_iso_date(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    int m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    return m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

struct cases *cases_load(const char *path, char *err, size_t err_cap)
{
    size_t len = 0;
    char *text = slurp(path, &len, err, err_cap);
    if (text == NULL)
        return NULL;
    /* len + 1: cJSON 1.7.15 checks for the terminating NUL inside the
     * length it is given (require_null_terminated: no trailing text). */
    cJSON *root = cJSON_ParseWithLengthOpts(text, len + 1, NULL, 1);
    free(text);
    if (!cJSON_IsArray(root)) {
        snprintf(err, err_cap, "not a JSON array of cases");
        cJSON_Delete(root);
        return NULL;
    }
    struct cases *c = calloc(1, sizeof *c);
    size_t n = (size_t)cJSON_GetArraySize(root);
    if (c != NULL && n > 0)
        c->rows = calloc(n, sizeof *c->rows);
    if (c == NULL || (n > 0 && c->rows == NULL)) {
        snprintf(err, err_cap, "out of memory");
        cases_free(c);
        cJSON_Delete(root);
        return NULL;
    }
    const cJSON *e;
    size_t i = 0;
    cJSON_ArrayForEach(e, root) {
        struct case_row *r = &c->rows[i];
        char status[16];
        if (!cJSON_IsObject(e) ||
            copy_member(e, "nhs_number", r->nhs_number, sizeof r->nhs_number,
                        i, err, err_cap) != 0 ||
            copy_member(e, "case_id", r->c.case_id, sizeof r->c.case_id, i,
                        err, err_cap) != 0 ||
            copy_member(e, "status", status, sizeof status, i, err,
                        err_cap) != 0 ||
            copy_member(e, "worker", r->c.worker, sizeof r->c.worker, i, err,
                        err_cap) != 0 ||
            copy_member(e, "manager", r->c.manager, sizeof r->c.manager, i,
                        err, err_cap) != 0 ||
            copy_member(e, "team", r->c.team, sizeof r->c.team, i, err,
                        err_cap) != 0 ||
            copy_member(e, "child_name", r->c.child_name, sizeof r->c.child_name,
                        i, err, err_cap) != 0 ||
            copy_member(e, "date_of_birth", r->c.date_of_birth,
                        sizeof r->c.date_of_birth, i, err, err_cap) != 0) {
            if (!cJSON_IsObject(e))
                snprintf(err, err_cap, "entry %zu: not an object", i);
            cases_free(c);
            cJSON_Delete(root);
            return NULL;
        }
        if (strlen(r->nhs_number) != 10 ||
            strspn(r->nhs_number, "0123456789") != 10) {
            snprintf(err, err_cap, "entry %zu: \"nhs_number\" must be 10 digits", i);
            cases_free(c);
            cJSON_Delete(root);
            return NULL;
        }
        if (r->c.date_of_birth[0] != '\0' && !is_iso_date(r->c.date_of_birth)) {
            snprintf(err, err_cap,
                     "entry %zu: \"date_of_birth\" must be a date YYYY-MM-DD", i);
            cases_free(c);
            cJSON_Delete(root);
            return NULL;
        }
        if (strcmp(status, "open") == 0)
            r->c.status = CPIS_CASE_OPEN;
        else if (strcmp(status, "closed") == 0)
            r->c.status = CPIS_CASE_CLOSED;
        else {
            snprintf(err, err_cap,
                     "entry %zu: \"status\" must be \"open\" or \"closed\"", i);
            cases_free(c);
            cJSON_Delete(root);
            return NULL;
        }
        r->order = i;
        i++;
    }
    c->n = i;
    cJSON_Delete(root);
    if (c->n > 1)
        qsort(c->rows, c->n, sizeof *c->rows, row_cmp);
    return c;
}

void cases_free(struct cases *c)
{
    if (c == NULL)
        return;
    free(c->rows);
    free(c);
}

void cases_lookup(const struct cases *c, const char *nhs_number,
                  struct cpis_case *out)
{
    /* The fields of ABI 1.0 are written only if the caller's struct is big
     * enough to hold them; the child's name and date of birth (ABI 1.1) only
     * if it holds those too (a plugin built against 1.0 passes a shorter
     * struct).  struct_size then says how much was filled. */
    if (!CPIS_HAS_FIELD(out, struct cpis_case, team))
        return;
    int child = CPIS_HAS_FIELD(out, struct cpis_case, date_of_birth);
    if (child)
        out->struct_size = (uint32_t)sizeof *out;
    out->status = CPIS_CASE_UNKNOWN;
    out->case_id[0] = out->worker[0] = out->manager[0] = out->team[0] = '\0';
    if (child)
        out->child_name[0] = out->date_of_birth[0] = '\0';
    if (c == NULL || nhs_number == NULL || c->n == 0)
        return;
    /* Lower bound: the first row whose number is not less than the one
     * asked for (with duplicates, the one earliest in the file). */
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(c->rows[mid].nhs_number, nhs_number) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == c->n || strcmp(c->rows[lo].nhs_number, nhs_number) != 0)
        return;
    const struct case_row *r = &c->rows[lo];
    out->status = r->c.status;
    memcpy(out->case_id, r->c.case_id, sizeof out->case_id);
    memcpy(out->worker, r->c.worker, sizeof out->worker);
    memcpy(out->manager, r->c.manager, sizeof out->manager);
    memcpy(out->team, r->c.team, sizeof out->team);
    if (child) {
        memcpy(out->child_name, r->c.child_name, sizeof out->child_name);
        memcpy(out->date_of_birth, r->c.date_of_birth, sizeof out->date_of_birth);
    }
}

const char *cases_nhs_of_case(const struct cases *c, const char *case_id)
{
    for (size_t i = 0; c != NULL && case_id != NULL && i < c->n; i++)
        if (strcmp(c->rows[i].c.case_id, case_id) == 0)
            return c->rows[i].nhs_number;
    return NULL;
}


/* Edit distance between a and b, ignoring case (Levenshtein, two rows;
 * ids are short: longer strings are cut at 63 characters). */
static size_t distance(const char *a, const char *b)
{
    size_t la = strnlen(a, 63), lb = strnlen(b, 63);
    size_t prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (strncasecmp(a + i - 1, b + j - 1, 1) != 0);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

const char *cases_find_person(const struct cases *c, const char *id, int team,
                              char *near, size_t near_cap)
{
    enum { NEAR = 3 };
    const char *best[NEAR] = {NULL, NULL, NULL};
    size_t best_d[NEAR] = {0, 0, 0};
    if (near_cap > 0)
        near[0] = '\0';
    for (size_t i = 0; c != NULL && i < c->n; i++) {
        const struct cpis_case *k = &c->rows[i].c;
        const char *names[2] = {team ? k->team : k->worker, team ? NULL : k->manager};
        for (int w = 0; w < 2; w++) {
            const char *name = names[w];
            if (name == NULL || name[0] == '\0')
                continue;
            if (strcasecmp(name, id) == 0)
                return name;
            size_t d = distance(name, id);
            int seen = 0;
            for (int b = 0; b < NEAR; b++)
                if (best[b] != NULL && strcmp(best[b], name) == 0)
                    seen = 1;
            if (seen)
                continue;
            /* insert in order of distance, then of name */
            for (int b = 0; b < NEAR; b++) {
                if (best[b] == NULL || d < best_d[b] ||
                    (d == best_d[b] && strcmp(name, best[b]) < 0)) {
                    for (int m = NEAR - 1; m > b; m--) {
                        best[m] = best[m - 1];
                        best_d[m] = best_d[m - 1];
                    }
                    best[b] = name;
                    best_d[b] = d;
                    break;
                }
            }
        }
    }
    size_t used = 0;
    for (int b = 0; b < NEAR && best[b] != NULL && used < near_cap; b++) {
        int n = snprintf(near + used, near_cap - used, "%s%s", b > 0 ? ", " : "",
                         best[b]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return NULL;
}
