/*
 * ods.h - the ODS directory: access location code -> readable origin.
 * Built once (cpis_ods_load*), then read-only and shared between threads.
 */
#ifndef CPIS_ODS_H
#define CPIS_ODS_H

#include <stddef.h>

struct cpis_ods; /* opaque */

enum cpis_ods_source { ODS_SRC_TRUST = 0, ODS_SRC_SITE = 1, ODS_SRC_PRACTICE = 2,
                       ODS_SRC_OTHER = 3, ODS_SRC_BRANCH = 4 };

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
 * epraccur* practices, ebranchs* branch surgeries, anything else (eother,
 * ecare, ...) ODS_SRC_OTHER.  Extracts are read as they are found
 * (docs/admin-guide.md, ODS files): quotes optional, a UTF-8 byte-order mark, CRLF,
 * missing trailing columns (a spreadsheet re-save keeps 24 of 27).  A row
 * that cannot be read is skipped and counted by reason; a file with no
 * readable row is "not an ODS extract": reported (cpis_ods_file_report) and
 * skipped, never fatal to the other files.  Returns -1 with err naming the
 * path and the reason only when the path itself is missing or unreadable
 * (or memory runs out). */
int cpis_ods_load_path(struct cpis_ods *d, const char *path, char *err, size_t cap);
/* Load from memory (fuzzing, tests). name decides the source kind.  Also
 * returns -1 (with err) when the buffer is not an ODS extract (no readable
 * row); it is still reported in the file reports. */
int cpis_ods_load_buffer(struct cpis_ods *d, const char *name, const char *buf,
                         size_t len, char *err, size_t cap);

/* Why a row was skipped. */
enum cpis_ods_skip {
    ODS_SKIP_BAD_CODE = 0,   /* column 1 is not an ODS code (a header row) */
    ODS_SKIP_QUOTING,        /* unterminated quote or text after a quote */
    ODS_SKIP_TOO_MANY,       /* more than 27 columns */
    ODS_SKIP_TOO_FEW,        /* no name column */
    ODS_SKIP_TOO_LONG,       /* a line longer than 64 KiB */
    ODS_SKIP_NUL,            /* a NUL byte */
    ODS_SKIP_N
};
const char *cpis_ods_skip_reason(int why); /* "not an ODS code in column 1", ... */

/* What loading one file did (config check prints these). */
struct cpis_ods_file_report {
    const char *path;
    size_t rows_read, rows_skipped;
    size_t skipped[ODS_SKIP_N];
    int not_extract;          /* 1: no readable row; the file was skipped */
    const char *why;          /* not_extract: why, "" otherwise */
};
size_t cpis_ods_file_count(const struct cpis_ods *d);
const struct cpis_ods_file_report *cpis_ods_file(const struct cpis_ods *d, size_t i);

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
    int via_parent;           /* 1 when only its parent is: a site code no
                                 file holds -> the trust of its first three
                                 characters; a branch surgery (practice code
                                 and three more) -> the practice of its first
                                 six.  resolved is 0, name NULL, parent_* and
                                 phone are the parent's, setting the parent's
                                 (after the code's own override) */
    int closed;               /* 1 when it has a close date or status C */
    const char *close_date;   /* "YYYYMMDD" or NULL */
    const char *name;         /* ODS name, or NULL when unresolved */
    const char *parent_code;  /* a site's parent trust, or NULL */
    const char *parent_name;
    const char *phone;        /* site phone, else parent's, else NULL */
    const char *setting;      /* always set: contract setting name */
};

/* Resolve a code following docs/reference.md ("setting"): overrides (own -- whether or not a
 * file holds the code --, then a site's
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
