/*
 * ods.h - the ODS directory: access location code -> readable origin.
 * Built once (cpis_ods_load*), then read-only and shared between threads.
 */
#ifndef CPIS_ODS_H
#define CPIS_ODS_H

#include <stddef.h>

struct cpis_ods; /* opaque */

enum cpis_ods_source { ODS_SRC_TRUST = 0, ODS_SRC_SITE = 1, ODS_SRC_PRACTICE = 2,
                       ODS_SRC_OTHER = 3 };

struct cpis_ods_org {
    const char *code;
    const char *name;
    const char *phone;        /* "" if none */
    const char *parent_code;  /* site: parent trust; practice: commissioner; "" */
    const char *close_date;   /* "YYYYMMDD" or "" */
    int source;               /* enum cpis_ods_source, from the file name */
    int prescribing_setting;  /* epraccur column 26, -1 if none */
    char status;              /* epraccur column 13 ('A','C','D','P') or 0 */
};

struct cpis_ods *cpis_ods_new(void);
void cpis_ods_free(struct cpis_ods *d);

/* Load one path: a CSV file, or a folder whose every *.csv is read (sorted by
 * name).  The file's base name says what it holds: etr* trusts, ets* sites,
 * epraccur* practices, anything else ODS_SRC_OTHER.  Malformed rows are
 * counted and skipped.  Returns 0, or -1 with err naming the path and reason
 * (missing file, unreadable, not a 27-column ODS file). */
int cpis_ods_load_path(struct cpis_ods *d, const char *path, char *err, size_t cap);
/* Load from memory (fuzzing, tests). name decides the source kind. */
int cpis_ods_load_buffer(struct cpis_ods *d, const char *name, const char *buf,
                         size_t len, char *err, size_t cap);

/* Admin override: code -> setting name.  Also checked here: returns -1 for
 * an invalid code or a name cpis_setting_valid() refuses; NULL setting
 * removes an override.  May be set before or after loading.  A site whose
 * parent trust has an override (and itself none) gets the parent's.  An
 * override never makes an unknown code resolve. */
int cpis_ods_set_setting(struct cpis_ods *d, const char *code, const char *setting);

size_t cpis_ods_count(const struct cpis_ods *d);
size_t cpis_ods_rejected_rows(const struct cpis_ods *d);

/* Constant-time lookup (case-insensitive code); NULL when unknown. */
const struct cpis_ods_org *cpis_ods_find(const struct cpis_ods *d, const char *code);

/* Resolved description of an access location. */
struct cpis_ods_resolution {
    int resolved;             /* 1 when the code is in the data */
    int closed;               /* 1 when it has a close date or status C */
    const char *name;         /* ODS name, or NULL when unresolved */
    const char *parent_code;  /* a site's parent trust, or NULL */
    const char *parent_name;
    const char *phone;        /* site phone, else parent's, else NULL */
    const char *setting;      /* always set: contract setting name */
};

/* Resolve a code following docs/reference.md ("setting"): overrides (own, then a site's
 * parent trust's), then epraccur prescribing setting, then AMBULANCE / 111
 * in the organisation's own name, then in its parent trust's name (so an
 * NHS 111 site of an ambulance trust is nhs_111), then trust or trust site ->
 * hospital, else "other"; unknown -> "unknown" (resolved 0, every pointer
 * but setting NULL).  Only sites report a parent (column 15, else the trust
 * whose code the site code starts with); parent_name is NULL when that trust
 * is not loaded.  out's strings live as long as the directory. */
void cpis_ods_resolve(const struct cpis_ods *d, const char *code,
                      struct cpis_ods_resolution *out);

/* Is name one of the contract's setting names? */
int cpis_setting_valid(const char *name);

#endif
