/*
 * ods.c - the ODS directory: NHS Organisation Data Service extracts (etr,
 * ets, epraccur, ...) loaded once into an open-addressing hash table, then
 * read-only and shared between threads (docs/glossary.md "ODS", the `setting`
 * rules of docs/reference.md).
 *
 * Layout: every organisation is an entry in a growable array; strings live
 * in an arena owned by the directory; the hash table holds entry indexes
 * (index + 1, 0 = empty slot), linear probing, power-of-two size, load
 * factor kept at or below one half.  Codes are stored upper-case and looked
 * up case-insensitively.  Admin overrides (cpis_ods_set_setting) live in the
 * same table: an override for a code absent from the data is an entry with
 * no organisation (has_org == 0), so it can still apply to that code's sites.
 *
 * Nothing here may depend on another plugin file but ods.h: the fuzz target
 * links ods.c alone.
 */
#include "ods.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ODS_COLUMNS      27
#define ODS_CODE_MAX     9
#define ODS_LINE_MAX     (64u * 1024u)          /* longer lines are rejected rows */
#define ODS_FILE_MAX     ((size_t)256 << 20)    /* 256 MiB: far above any real extract */
#define ODS_ENTRIES_MAX  ((size_t)1 << 26)      /* 67 million organisations */
#define ARENA_BLOCK      (64u * 1024u)

/* ---- arena ------------------------------------------------------------ */

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    char data[];
};

struct entry {
    struct cpis_ods_org org;
    const char *override;  /* canonical setting name (static string) or NULL */
    uint32_t hash;
    int has_org;           /* 0: override-only entry */
    const char *code;      /* upper-case, in the arena (stable address) */
};

struct cpis_ods {
    struct entry *entries;
    size_t n_entries, cap_entries;
    uint32_t *slots;       /* index + 1, 0 = empty */
    size_t n_slots;        /* power of two */
    size_t n_orgs;         /* entries with has_org */
    size_t rejected;
    struct arena_block *arena;
    struct cpis_ods_file_report *files; /* one per file loaded, in order */
    size_t n_files, cap_files;
};

static void *arena_alloc(struct cpis_ods *d, size_t n)
{
    struct arena_block *b = d->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->cap = cap;
        b->used = 0;
        if (n > ARENA_BLOCK && d->arena) {
            /* Oversized: keep the current block for small strings. */
            b->next = d->arena->next;
            d->arena->next = b;
        } else {
            b->next = d->arena;
            d->arena = b;
        }
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

static const char *arena_strndup(struct cpis_ods *d, const char *s, size_t n)
{
    if (n == 0)
        return "";
    char *p = arena_alloc(d, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* ---- small helpers ---------------------------------------------------- */

static void set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static int is_alnum_ascii(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static char upper_ascii(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* Normalise an ODS code (1-9 ASCII letters/digits) into out upper-case.
 * Returns its length, or 0 when invalid. */
static size_t norm_code(const char *s, size_t n, char out[ODS_CODE_MAX + 1])
{
    if (n == 0 || n > ODS_CODE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum_ascii((unsigned char)s[i]))
            return 0;
        out[i] = upper_ascii(s[i]);
    }
    out[n] = '\0';
    return n;
}

static uint32_t hash_code(const char *code)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *code; code++) {
        h ^= (unsigned char)*code;
        h *= 16777619u;
    }
    return h;
}

/* Case-insensitive ASCII substring search. */
static int contains_ci(const char *hay, const char *needle)
{
    if (!hay)
        return 0;
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && upper_ascii(hay[i]) == upper_ascii(needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return 0;
}

static int starts_with_ci(const char *s, const char *prefix)
{
    for (; *prefix; prefix++, s++)
        if (upper_ascii(*s) != upper_ascii(*prefix))
            return 0;
    return 1;
}

/* ---- settings --------------------------------------------------------- */

static const char *const setting_names[] = {
    "nhs_111", "ambulance", "hospital", "walk_in_centre", "out_of_hours",
    "urgent_care", "gp_practice", "sexual_assault_referral_centre", "other",
    "unknown",
};

static const char *canonical_setting(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof setting_names / sizeof setting_names[0]; i++)
        if (strcmp(name, setting_names[i]) == 0)
            return setting_names[i];
    return NULL;
}

int cpis_setting_valid(const char *name)
{
    return canonical_setting(name) != NULL;
}

/* epraccur column 26 -> setting; NULL when the row has none. */
static const char *prescribing_setting_name(int ps)
{
    switch (ps) {
    case -1: return NULL;
    case 1:  return "walk_in_centre";
    case 2:  /* out of hours */
    case 3:  return "out_of_hours"; /* walk-in centre + out of hours */
    case 4:  return "gp_practice";
    case 12: return "urgent_care";
    case 22: return "sexual_assault_referral_centre";
    default: return "other";
    }
}

/* ---- hash table ------------------------------------------------------- */

/* Slot index holding code, or the empty slot where it would go. */
static size_t probe(const struct cpis_ods *d, const char *code, uint32_t h)
{
    size_t mask = d->n_slots - 1;
    size_t i = h & mask;
    for (;;) {
        uint32_t s = d->slots[i];
        if (s == 0)
            return i;
        const struct entry *e = &d->entries[s - 1];
        if (e->hash == h && strcmp(e->code, code) == 0)
            return i;
        i = (i + 1) & mask;
    }
}

static int grow_slots(struct cpis_ods *d)
{
    size_t n = d->n_slots ? d->n_slots * 2 : 1024;
    uint32_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return -1;
    free(d->slots);
    d->slots = slots;
    d->n_slots = n;
    for (size_t k = 0; k < d->n_entries; k++) {
        size_t i = probe(d, d->entries[k].code, d->entries[k].hash);
        d->slots[i] = (uint32_t)(k + 1);
    }
    return 0;
}

/* Find or create the entry for a normalised code; NULL on allocation failure
 * or when the table is full. */
static struct entry *entry_get(struct cpis_ods *d, const char *code)
{
    uint32_t h = hash_code(code);
    if (d->n_slots) {
        size_t i = probe(d, code, h);
        if (d->slots[i])
            return &d->entries[d->slots[i] - 1];
    }
    if (d->n_entries >= ODS_ENTRIES_MAX)
        return NULL;
    if ((d->n_entries + 1) * 2 > d->n_slots && grow_slots(d) != 0)
        return NULL;
    if (d->n_entries == d->cap_entries) {
        size_t cap = d->cap_entries ? d->cap_entries * 2 : 256;
        struct entry *e = realloc(d->entries, cap * sizeof *e);
        if (!e)
            return NULL;
        d->entries = e;
        d->cap_entries = cap;
    }
    const char *stored = arena_strndup(d, code, strlen(code));
    if (!stored)
        return NULL;
    struct entry *e = &d->entries[d->n_entries];
    memset(e, 0, sizeof *e);
    e->code = stored;
    e->hash = h;
    d->slots[probe(d, code, h)] = (uint32_t)(d->n_entries + 1);
    d->n_entries++;
    return e;
}

static const struct entry *entry_find(const struct cpis_ods *d, const char *code)
{
    if (!d || !code || d->n_slots == 0)
        return NULL;
    char norm[ODS_CODE_MAX + 1];
    if (!norm_code(code, strlen(code), norm))
        return NULL;
    size_t i = probe(d, norm, hash_code(norm));
    return d->slots[i] ? &d->entries[d->slots[i] - 1] : NULL;
}

/* ---- public: lifecycle ------------------------------------------------ */

struct cpis_ods *cpis_ods_new(void)
{
    return calloc(1, sizeof(struct cpis_ods));
}

void cpis_ods_free(struct cpis_ods *d)
{
    if (!d)
        return;
    struct arena_block *b = d->arena;
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(d->slots);
    free(d->entries);
    free(d->files);
    free(d);
}

size_t cpis_ods_file_count(const struct cpis_ods *d)
{
    return d ? d->n_files : 0;
}

const struct cpis_ods_file_report *cpis_ods_file(const struct cpis_ods *d, size_t i)
{
    return d && i < d->n_files ? &d->files[i] : NULL;
}

const char *cpis_ods_skip_reason(int why)
{
    switch (why) {
    case ODS_SKIP_BAD_CODE: return "not an ODS code in column 1";
    case ODS_SKIP_QUOTING:  return "malformed quoting";
    case ODS_SKIP_TOO_MANY: return "more than 27 columns";
    case ODS_SKIP_TOO_FEW:  return "no name column";
    case ODS_SKIP_TOO_LONG: return "line longer than 64 KiB";
    case ODS_SKIP_NUL:      return "NUL byte";
    default:                return "unreadable";
    }
}

/* A new file report (path copied into the arena); NULL when out of memory. */
static struct cpis_ods_file_report *file_report(struct cpis_ods *d, const char *path)
{
    if (d->n_files == d->cap_files) {
        size_t cap = d->cap_files ? d->cap_files * 2 : 8;
        struct cpis_ods_file_report *f = realloc(d->files, cap * sizeof *f);
        if (!f)
            return NULL;
        d->files = f;
        d->cap_files = cap;
    }
    const char *p = arena_strndup(d, path, strlen(path));
    if (!p)
        return NULL;
    struct cpis_ods_file_report *r = &d->files[d->n_files++];
    memset(r, 0, sizeof *r);
    r->path = p;
    r->why = "";
    return r;
}

size_t cpis_ods_count(const struct cpis_ods *d)
{
    return d ? d->n_orgs : 0;
}

size_t cpis_ods_rejected_rows(const struct cpis_ods *d)
{
    return d ? d->rejected : 0;
}

int cpis_ods_set_setting(struct cpis_ods *d, const char *code, const char *setting)
{
    char norm[ODS_CODE_MAX + 1];
    if (!d || !code || !norm_code(code, strlen(code), norm))
        return -1;
    const char *canon = NULL;
    if (setting) {   /* NULL removes an override */
        canon = canonical_setting(setting);
        if (!canon)
            return -1;
    }
    struct entry *e = entry_get(d, norm);
    if (!e)
        return -1;
    e->override = canon;
    return 0;
}

/* ---- CSV parsing ------------------------------------------------------ */

struct field {
    const char *s;
    size_t n;
};

/* Split one line (no line terminator) into at most ODS_COLUMNS fields,
 * unescaping quoted fields into scratch (which has room for len bytes).
 * Quotes are optional (a spreadsheet re-save drops them).  Returns the
 * number of fields, or -1 - enum cpis_ods_skip for a line that cannot be
 * read. */
static int split_line(const char *line, size_t len, char *scratch,
                      struct field f[ODS_COLUMNS])
{
    size_t i = 0, out = 0;
    int nf = 0;
    if (memchr(line, '\0', len))
        return -1 - ODS_SKIP_NUL;
    for (;;) {
        if (nf == ODS_COLUMNS)
            return -1 - ODS_SKIP_TOO_MANY;
        char *start = scratch + out;
        if (i < len && line[i] == '"') {
            i++;
            for (;;) {
                if (i >= len)
                    return -1 - ODS_SKIP_QUOTING; /* unterminated quote */
                if (line[i] == '"') {
                    if (i + 1 < len && line[i + 1] == '"') {
                        scratch[out++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                scratch[out++] = line[i++];
            }
            if (i < len && line[i] != ',')
                return -1 - ODS_SKIP_QUOTING; /* "abc"x */
        } else {
            while (i < len && line[i] != ',')
                scratch[out++] = line[i++];
        }
        f[nf].s = start;
        f[nf].n = (size_t)(scratch + out - start);
        nf++;
        if (i >= len)
            return nf;
        i++; /* the comma */
    }
}

static struct field trim(struct field f)
{
    while (f.n && (f.s[0] == ' ' || f.s[0] == '\t')) {
        f.s++;
        f.n--;
    }
    while (f.n && (f.s[f.n - 1] == ' ' || f.s[f.n - 1] == '\t'))
        f.n--;
    return f;
}

static int is_date8(struct field f)
{
    if (f.n != 8)
        return 0;
    for (size_t i = 0; i < 8; i++)
        if (f.s[i] < '0' || f.s[i] > '9')
            return 0;
    return 1;
}

/* Small non-negative integer (prescribing setting), -1 when absent/invalid. */
static int small_int(struct field f)
{
    if (f.n == 0 || f.n > 4)
        return -1;
    int v = 0;
    for (size_t i = 0; i < f.n; i++) {
        if (f.s[i] < '0' || f.s[i] > '9')
            return -1;
        v = v * 10 + (f.s[i] - '0');
    }
    return v;
}

static int source_from_name(const char *name)
{
    const char *base = name ? name : "";
    const char *slash = strrchr(base, '/');
    if (slash)
        base = slash + 1;
    if (starts_with_ci(base, "epraccur"))
        return ODS_SRC_PRACTICE;
    if (starts_with_ci(base, "ebranchs"))
        return ODS_SRC_BRANCH;
    if (starts_with_ci(base, "etr"))
        return ODS_SRC_TRUST;
    if (starts_with_ci(base, "ets"))
        return ODS_SRC_SITE;
    return ODS_SRC_OTHER;
}

/* Store one 27-field row.  Returns 1 stored, 0 rejected (bad code),
 * -1 out of memory. */
static int store_row(struct cpis_ods *d, int source, struct field f[ODS_COLUMNS])
{
    char code[ODS_CODE_MAX + 1];
    struct field c = trim(f[0]);
    if (!norm_code(c.s, c.n, code))
        return 0;
    struct field name = trim(f[1]);
    struct field close = trim(f[11]);
    struct field status = trim(f[12]);
    struct field parent = trim(f[14]);
    struct field phone = trim(f[17]);
    struct field presc = trim(f[25]);

    struct entry *e = entry_get(d, code);
    if (!e)
        return -1;
    struct cpis_ods_org o;
    memset(&o, 0, sizeof o);
    o.code = e->code;
    o.name = arena_strndup(d, name.s, name.n);
    o.phone = arena_strndup(d, phone.s, phone.n);
    /* Column 15 is the parent trust (ets) or the commissioner (epraccur);
     * other files leave it empty or use it for something else. */
    o.parent_code = "";
    if (source == ODS_SRC_SITE || source == ODS_SRC_PRACTICE || source == ODS_SRC_BRANCH) {
        char pcode[ODS_CODE_MAX + 1];
        if (norm_code(parent.s, parent.n, pcode))
            o.parent_code = arena_strndup(d, pcode, strlen(pcode));
    }
    /* Only a well-formed YYYYMMDD counts as a close date. */
    o.close_date = is_date8(close) ? arena_strndup(d, close.s, close.n) : "";
    o.source = source;
    o.prescribing_setting = source == ODS_SRC_PRACTICE ? small_int(presc) : -1;
    o.status = 0;
    if (source == ODS_SRC_PRACTICE && status.n == 1) {
        char s = upper_ascii(status.s[0]);
        if (s == 'A' || s == 'C' || s == 'D' || s == 'P')
            o.status = s;
    }
    if (!o.name || !o.phone || !o.parent_code || !o.close_date)
        return -1;
    /* Duplicate code (same or another file): the later row wins, whole. */
    if (!e->has_org)
        d->n_orgs++;
    e->has_org = 1;
    e->org = o;
    return 1;
}

/* Read one extract into d, filling its report.  Returns 0 (the report says
 * whether it was an extract) or -1 when out of memory (err set). */
static int load_buf(struct cpis_ods *d, const char *label, int source, const char *buf,
                    size_t len, struct cpis_ods_file_report *rep, char *err, size_t cap)
{
    size_t pos = 0, lines = 0;
    char *scratch = malloc(ODS_LINE_MAX);
    if (!scratch) {
        set_err(err, cap, "%s: out of memory", label);
        return -1;
    }
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        pos = 3; /* UTF-8 byte order mark */
    while (pos < len) {
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (n && line[n - 1] == '\r')
            n--;
        size_t k = 0;
        while (k < n && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r' || line[k] == ','))
            k++;
        if (k == n)
            continue; /* blank line (a spreadsheet may leave ",,,,") */
        lines++;
        int why = -1;
        struct field f[ODS_COLUMNS];
        int nf = 0;
        if (n > ODS_LINE_MAX) {
            why = ODS_SKIP_TOO_LONG;
        } else {
            nf = split_line(line, n, scratch, f);
            if (nf < 0)
                why = -1 - nf;
            else if (nf < 2)
                why = ODS_SKIP_TOO_FEW;
        }
        if (why < 0) {
            /* Trailing empty columns a spreadsheet dropped are empty. */
            for (int i = nf; i < ODS_COLUMNS; i++) {
                f[i].s = "";
                f[i].n = 0;
            }
            int r = store_row(d, source, f);
            if (r < 0) {
                free(scratch);
                set_err(err, cap, "%s: out of memory (or more than %zu organisations)",
                        label, ODS_ENTRIES_MAX);
                return -1;
            }
            if (r > 0) {
                rep->rows_read++;
                continue;
            }
            why = ODS_SKIP_BAD_CODE;
        }
        rep->rows_skipped++;
        rep->skipped[why]++;
        d->rejected++;
    }
    free(scratch);
    if (rep->rows_read == 0) {
        rep->not_extract = 1;
        int top = 0;
        for (int i = 1; i < ODS_SKIP_N; i++)
            if (rep->skipped[i] > rep->skipped[top])
                top = i;
        char why[160];
        if (lines == 0)
            snprintf(why, sizeof why, "not an ODS extract: empty (no rows)");
        else
            snprintf(why, sizeof why, "not an ODS extract: no row could be read "
                     "(%zu skipped, mostly: %s)", rep->rows_skipped, cpis_ods_skip_reason(top));
        rep->why = arena_strndup(d, why, strlen(why));
        if (!rep->why) {
            rep->why = "";
            set_err(err, cap, "%s: out of memory", label);
            return -1;
        }
    }
    return 0;
}

int cpis_ods_load_buffer(struct cpis_ods *d, const char *name, const char *buf,
                         size_t len, char *err, size_t cap)
{
    const char *label = name ? name : "(buffer)";
    if (!d || (!buf && len)) {
        set_err(err, cap, "%s: no directory or buffer", label);
        return -1;
    }
    struct cpis_ods_file_report *rep = file_report(d, label);
    if (!rep) {
        set_err(err, cap, "%s: out of memory", label);
        return -1;
    }
    if (load_buf(d, label, source_from_name(name), buf ? buf : "", len, rep, err, cap) != 0)
        return -1;
    if (rep->not_extract) {
        set_err(err, cap, "%s: %s", label, rep->why);
        return -1;
    }
    return 0;
}

/* ---- files and folders ------------------------------------------------ */

static int load_file(struct cpis_ods *d, const char *path, char *err, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        set_err(err, cap, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0) {
        int e = errno;
        fclose(fp);
        set_err(err, cap, "%s: %s", path, strerror(e));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(fp);
        set_err(err, cap, "%s: not a regular file or folder", path);
        return -1;
    }
    if ((uint64_t)st.st_size > ODS_FILE_MAX) {
        fclose(fp);
        set_err(err, cap, "%s: too large for an ODS file (%lld bytes, limit %zu)",
                path, (long long)st.st_size, ODS_FILE_MAX);
        return -1;
    }
    size_t want = (size_t)st.st_size;
    char *buf = malloc(want ? want : 1);
    if (!buf) {
        fclose(fp);
        set_err(err, cap, "%s: out of memory", path);
        return -1;
    }
    size_t got = fread(buf, 1, want, fp);
    int rerr = ferror(fp) ? errno : 0;
    fclose(fp);
    if (rerr || got != want) {
        free(buf);
        set_err(err, cap, "%s: %s", path, rerr ? strerror(rerr) : "short read");
        return -1;
    }
    struct cpis_ods_file_report *rep = file_report(d, path);
    int rc = rep ? load_buf(d, path, source_from_name(path), buf, got, rep, err, cap) : -1;
    if (!rep)
        set_err(err, cap, "%s: out of memory", path);
    free(buf);
    return rc; /* a file that is not an extract is reported, not fatal */
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_csv_name(const char *n)
{
    size_t l = strlen(n);
    return l > 4 && n[0] != '.' && starts_with_ci(n + l - 4, ".csv");
}

static int load_dir(struct cpis_ods *d, const char *path, char *err, size_t cap)
{
    DIR *dir = opendir(path);
    if (!dir) {
        set_err(err, cap, "%s: %s", path, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, ncap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (!is_csv_name(de->d_name))
            continue;
        if (n == ncap) {
            size_t c = ncap ? ncap * 2 : 16;
            char **nn = realloc(names, c * sizeof *nn);
            if (!nn) { rc = -1; break; }
            names = nn;
            ncap = c;
        }
        names[n] = strdup(de->d_name);
        if (!names[n]) { rc = -1; break; }
        n++;
    }
    closedir(dir);
    if (rc != 0) {
        set_err(err, cap, "%s: out of memory", path);
    } else if (n == 0) {
        set_err(err, cap, "%s: folder holds no *.csv file", path);
        rc = -1;
    } else {
        qsort(names, n, sizeof *names, cmp_str);
        size_t plen = strlen(path);
        int slash = plen && path[plen - 1] == '/';
        /* In name order, so for a code in two files the later file wins. */
        for (size_t i = 0; i < n && rc == 0; i++) {
            size_t need = plen + 1 + strlen(names[i]) + 1;
            char *full = malloc(need);
            if (!full) {
                set_err(err, cap, "%s: out of memory", path);
                rc = -1;
                break;
            }
            snprintf(full, need, "%s%s%s", path, slash ? "" : "/", names[i]);
            struct stat st;
            /* Only regular files (a sub-folder named x.csv is skipped). */
            if (stat(full, &st) == 0 && !S_ISREG(st.st_mode)) {
                free(full);
                continue;
            }
            rc = load_file(d, full, err, cap);
            free(full);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int cpis_ods_load_path(struct cpis_ods *d, const char *path, char *err, size_t cap)
{
    if (!d || !path || !*path) {
        set_err(err, cap, "ODS path: none given");
        return -1;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        set_err(err, cap, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode))
        return load_dir(d, path, err, cap);
    return load_file(d, path, err, cap);
}

/* ---- lookups ---------------------------------------------------------- */

const struct cpis_ods_org *cpis_ods_find(const struct cpis_ods *d, const char *code)
{
    const struct entry *e = entry_find(d, code);
    return e && e->has_org ? &e->org : NULL;
}

static const char *override_for(const struct cpis_ods *d, const char *code)
{
    const struct entry *e = entry_find(d, code);
    return e ? e->override : NULL;
}

/* Resolve an organisation the data holds (e->has_org). */
static void resolve_org(const struct cpis_ods *d, const struct entry *e,
                        struct cpis_ods_resolution *out)
{
    const struct cpis_ods_org *o = &e->org;
    out->resolved = 1;
    out->closed = o->close_date[0] != '\0' || o->status == 'C';
    out->close_date = o->close_date[0] ? o->close_date : NULL;
    out->name = o->name;

    const char *parent_code = NULL;
    const struct cpis_ods_org *parent = NULL;
    if (o->source == ODS_SRC_SITE || o->source == ODS_SRC_BRANCH) {
        size_t plen = o->source == ODS_SRC_SITE ? 3 : 6;
        if (o->parent_code[0]) {
            parent_code = o->parent_code;
        } else if (strlen(o->code) > plen) {
            /* No column 15: a site code starts with its trust's code, a
             * branch surgery's with its practice's. */
            char t[ODS_CODE_MAX + 1];
            memcpy(t, o->code, plen);
            t[plen] = '\0';
            const struct entry *pe = entry_find(d, t);
            if (pe && pe->has_org)
                parent_code = pe->code;
        }
        if (parent_code) {
            parent = cpis_ods_find(d, parent_code);
            out->parent_code = parent_code;
            out->parent_name = parent ? parent->name : NULL;
        }
    }
    if (o->phone[0])
        out->phone = o->phone;
    else if (parent && parent->phone[0])
        out->phone = parent->phone;

    /* 1. admin override: the code itself, then a site's parent trust. */
    const char *s = e->override;
    if (!s && parent_code)
        s = override_for(d, parent_code);
    /* 2. epraccur prescribing setting (a branch surgery: its practice's). */
    if (!s && o->source == ODS_SRC_PRACTICE)
        s = prescribing_setting_name(o->prescribing_setting);
    if (!s && o->source == ODS_SRC_BRANCH && parent && parent->source == ODS_SRC_PRACTICE)
        s = prescribing_setting_name(parent->prescribing_setting);
    /* 3. names: the organisation's own name first (AMBULANCE, then 111), then
     * the parent trust's, so e.g. an NHS 111 site of an ambulance trust is
     * nhs_111 while the trust's other sites are ambulance. */
    if (!s) {
        if (contains_ci(o->name, "AMBULANCE"))
            s = "ambulance";
        else if (contains_ci(o->name, "111"))
            s = "nhs_111";
        else if (parent && contains_ci(parent->name, "AMBULANCE"))
            s = "ambulance";
        else if (parent && contains_ci(parent->name, "111"))
            s = "nhs_111";
    }
    /* 4. any other trust or trust site is a hospital; the rest "other". */
    if (!s)
        s = (o->source == ODS_SRC_TRUST || o->source == ODS_SRC_SITE) ? "hospital"
                                                                      : "other";
    out->setting = s;
}

/* The parent a code no file holds falls back to: a five-character site code
 * -> its first three characters (the trust); a nine-character branch surgery
 * code whose first six are a practice code (a letter and five digits) ->
 * those six.  Returns the parent's length, 0 when the code has neither
 * shape. */
static size_t fallback_len(const char *code)
{
    size_t n = strlen(code);
    if (n == 5)
        return 3;
    if (n == 9 && is_alnum_ascii((unsigned char)code[0]) && !(code[0] >= '0' && code[0] <= '9')) {
        for (size_t i = 1; i < 6; i++)
            if (code[i] < '0' || code[i] > '9')
                return 0;
        return 6;
    }
    return 0;
}

void cpis_ods_resolve(const struct cpis_ods *d, const char *code,
                      struct cpis_ods_resolution *out)
{
    memset(out, 0, sizeof *out);
    out->setting = "unknown";
    const struct entry *e = entry_find(d, code);
    if (e && e->has_org) {
        resolve_org(d, e, out);
        return;
    }
    /* ods.settings applies whether or not a file holds the code. */
    const char *own = e ? e->override : NULL;
    size_t plen = code ? fallback_len(code) : 0;
    if (plen) {
        char t[ODS_CODE_MAX + 1];
        memcpy(t, code, plen);
        t[plen] = '\0';
        const struct entry *pe = entry_find(d, t);
        if (pe && pe->has_org) {
            struct cpis_ods_resolution pr;
            memset(&pr, 0, sizeof pr);
            resolve_org(d, pe, &pr);
            out->via_parent = 1;
            out->closed = pr.closed;
            out->close_date = pr.close_date;
            out->parent_code = pe->code;
            out->parent_name = pr.name;
            out->phone = pr.phone;
            out->setting = pr.setting;
        }
    }
    if (own)
        out->setting = own;
}
