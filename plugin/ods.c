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
    free(d);
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
 * Returns the number of fields, or -1 for a malformed line (unterminated
 * quote, text after a closing quote, a NUL byte, too many fields). */
static int split_line(const char *line, size_t len, char *scratch,
                      struct field f[ODS_COLUMNS])
{
    size_t i = 0, out = 0;
    int nf = 0;
    if (memchr(line, '\0', len))
        return -1;
    for (;;) {
        if (nf == ODS_COLUMNS)
            return -1;
        char *start = scratch + out;
        if (i < len && line[i] == '"') {
            i++;
            for (;;) {
                if (i >= len)
                    return -1; /* unterminated quote */
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
                return -1; /* "abc"x */
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
    if (source == ODS_SRC_SITE || source == ODS_SRC_PRACTICE) {
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

int cpis_ods_load_buffer(struct cpis_ods *d, const char *name, const char *buf,
                         size_t len, char *err, size_t cap)
{
    const char *label = name ? name : "(buffer)";
    if (!d || (!buf && len)) {
        set_err(err, cap, "%s: no directory or buffer", label);
        return -1;
    }
    int source = source_from_name(name);
    size_t pos = 0, stored = 0, rejected = 0, lines = 0, rows27 = 0;
    int first_bad_cols = -2; /* column count of the first rejected line */
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
        while (k < n && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
            k++;
        if (k == n)
            continue; /* blank line */
        lines++;
        if (n > ODS_LINE_MAX) {
            rejected++;
            if (first_bad_cols == -2)
                first_bad_cols = -3;
            continue;
        }
        struct field f[ODS_COLUMNS];
        int nf = split_line(line, n, scratch, f);
        if (nf != ODS_COLUMNS) {
            rejected++;
            if (first_bad_cols == -2)
                first_bad_cols = nf;
            continue;
        }
        rows27++;
        int r = store_row(d, source, f);
        if (r < 0) {
            free(scratch);
            d->rejected += rejected;
            set_err(err, cap, "%s: out of memory (or more than %zu organisations)",
                    label, ODS_ENTRIES_MAX);
            return -1;
        }
        if (r == 0)
            rejected++;
        else
            stored++;
    }
    free(scratch);
    d->rejected += rejected;
    if (stored == 0) {
        if (lines == 0)
            set_err(err, cap, "%s: not an ODS file: empty (no rows)", label);
        else if (rows27 > 0)
            set_err(err, cap, "%s: not an ODS file: no row has a valid ODS code "
                    "(%zu rows rejected)", label, rejected);
        else if (first_bad_cols == -3)
            set_err(err, cap, "%s: not an ODS file: no row has %d columns "
                    "(lines longer than %u bytes)", label, ODS_COLUMNS, ODS_LINE_MAX);
        else if (first_bad_cols == -1)
            set_err(err, cap, "%s: not an ODS file: no row has %d columns "
                    "(malformed quoting or more than %d fields)", label,
                    ODS_COLUMNS, ODS_COLUMNS);
        else
            set_err(err, cap, "%s: not an ODS file: no row has %d columns "
                    "(first row has %d)", label, ODS_COLUMNS, first_bad_cols);
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
    int rc = cpis_ods_load_buffer(d, path, buf, got, err, cap);
    free(buf);
    return rc;
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

void cpis_ods_resolve(const struct cpis_ods *d, const char *code,
                      struct cpis_ods_resolution *out)
{
    memset(out, 0, sizeof *out);
    out->setting = "unknown";
    const struct entry *e = entry_find(d, code);
    /* A code absent from the data is "unknown" even with an override
     * (docs/reference.md: setting comes from the ODS data when the code is known). */
    if (!e || !e->has_org)
        return;
    const struct cpis_ods_org *o = &e->org;
    out->resolved = 1;
    out->closed = o->close_date[0] != '\0' || o->status == 'C';
    out->name = o->name;

    const char *parent_code = NULL;
    const struct cpis_ods_org *parent = NULL;
    if (o->source == ODS_SRC_SITE) {
        if (o->parent_code[0]) {
            parent_code = o->parent_code;
        } else if (strlen(o->code) > 3) {
            /* No column 15: a site code starts with its trust's code. */
            char t[4] = { o->code[0], o->code[1], o->code[2], '\0' };
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
    /* 2. epraccur prescribing setting. */
    if (!s && o->source == ODS_SRC_PRACTICE)
        s = prescribing_setting_name(o->prescribing_setting);
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
