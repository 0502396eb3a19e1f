/*
 * record.h - the normalised notification record.  Both parsers (HL7 V3 and
 * FHIR) produce exactly this; everything after parsing reads only this.
 * Fixed-size fields: a value longer than its field is truncated at a UTF-8
 * boundary by the parser (cpis_copy_text).
 */
#ifndef CPIS_RECORD_H
#define CPIS_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "cpis/plugin.h"

enum cpis_rec_kind {
    REC_KIND_ACCESS = 0,   /* one or more access records */
    REC_KIND_INACTIVE = 1, /* inactive NHS number notification (1..* subjects) */
    REC_KIND_EMPTY = 2,    /* a notification stating 0 accesses and holding none */
    REC_KIND_IGNORED = 3   /* a CP-IS file that is not a notification (the
                              acknowledgement of the LA's upload, a MESH
                              report): passed by, never quarantined;
                              `reason` says which */
};

enum cpis_rec_format { REC_FORMAT_HL7V3 = 0, REC_FORMAT_FHIR = 1 };

enum cpis_author_kind { AUTHOR_PERSON = 0, AUTHOR_SYSTEM = 1 };

#define REC_ID_MAX 128
#define REC_TEXT_MAX 256
#define REC_CODE_MAX 24

/* One access to a child's CP-IS record. */
struct cpis_access {
    char access_id[REC_ID_MAX];       /* the access's own id as in the message
                                         (HL7: the query's id/@root; FHIR: the
                                         AuditEvent id), "" if
                                         the format has none */
    char nhs_number[11];              /* 10 digits, validated (Modulus 11) */
    char la_child_id[64];             /* the LA's own child id from its
                                         upload, "" if absent */
    char upload_file[REC_ID_MAX];     /* the LA upload file the plan came
                                         from, "" if absent */
    int64_t accessed_at;              /* epoch seconds UTC */
    int author_kind;                  /* enum cpis_author_kind */
    char viewer[REC_TEXT_MAX];        /* "Dr Sam Patel"; for a system access,
                                         the responsible person if named */
    char viewer_role[REC_CODE_MAX];   /* SDS job role code, e.g. "R0260" */
    char viewer_role_name[REC_TEXT_MAX]; /* its display name, "" if absent */
    char viewer_user_id[REC_ID_MAX];  /* SDS user id, "" if absent */
    char viewer_role_profile[REC_ID_MAX]; /* SDS role profile id */
    char system_asid[REC_ID_MAX];     /* ASID for a system author */
    char system_name[REC_TEXT_MAX];   /* system's display name, "" if absent
                                         (an HL7 V3 system author has none) */
    char location_code[REC_CODE_MAX]; /* ODS code, validated */
    int location_is_site;             /* 1 when the id root was a site root */
    char location_name[REC_TEXT_MAX]; /* the name given in the message */
    /* Enrichment (ods.c), filled after parsing: */
    char resolved_name[REC_TEXT_MAX];   /* ODS name, "" when unresolved */
    char parent_code[REC_CODE_MAX];     /* parent trust for a site */
    char parent_name[REC_TEXT_MAX];
    char setting[40];                   /* contract setting name */
    char phone[40];
    int resolved;                       /* 1 when found in ODS data */
    int closed;                         /* 1 when ODS says closed */
};

/* One child of an Inactive NHS Number notification. */
struct cpis_inactive_subject {
    char nhs_number[11];              /* the inactive number, validated */
    char replacement_nhs_number[11];  /* the number that replaces it, "" if
                                         not given */
    char la_child_id[64];             /* the LA's own child id, "" if absent */
    char upload_file[REC_ID_MAX];     /* the LA upload file to correct */
};

struct cpis_notification {
    int kind;                        /* enum cpis_rec_kind */
    int format;                      /* enum cpis_rec_format */
    char message_id[REC_ID_MAX];     /* exactly as in the message ("" for an
                                        ignored file that carries none) */
    int64_t created;                 /* epoch seconds UTC (0 if unknown for
                                        an ignored file) */
    char la_code[REC_CODE_MAX];      /* recipient LA ODS code, "" if absent */
    long total_records;              /* as stated, -1 if absent */
    char reason[REC_TEXT_MAX];       /* REC_KIND_IGNORED only: what the file
                                        is and why it is passed by */
    char workflow_id[REC_ID_MAX];    /* MESH WorkflowId of the delivery, "" */
    size_t n_access;
    struct cpis_access *access;      /* heap, n_access entries (ACCESS) */
    size_t n_inactive;
    struct cpis_inactive_subject *inactive; /* heap, n_inactive (INACTIVE) */
};

/* Everything one file (one MESH message) holds: usually one notification,
 * but a wrapper may carry several; each is handled (and deduplicated) on
 * its own. */
struct cpis_message {
    size_t n;
    struct cpis_notification *v;     /* heap, n entries */
};

/* A parse failure: code and a detail that never echoes an NHS number,
 * a name or message text. */
struct cpis_parse_error {
    int code;                 /* enum cpis_message_error */
    char detail[REC_TEXT_MAX];
};

void cpis_notification_free(struct cpis_notification *n);
void cpis_message_free(struct cpis_message *m);

/* Append a zeroed notification to m; NULL when out of memory. */
struct cpis_notification *cpis_message_add(struct cpis_message *m);

/* Copy src into dst (cap bytes), truncating at a UTF-8 character boundary
 * and trimming leading/trailing ASCII white space.  Returns 1 when the
 * trimmed value fitted whole, 0 when it was truncated. */
int cpis_copy_text(char *dst, size_t cap, const char *src);

/* printf into err->detail and set err->code; returns code. */
int cpis_fail(struct cpis_parse_error *err, int code, const char *fmt, ...)
    CPIS_PRINTF(3, 4);

#endif
