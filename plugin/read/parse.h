/*
 * parse.h - from bytes to a normalised record.
 * Every function is thread-safe after cpis_parse_init() (one libxml2 parser
 * context per call, no global cJSON state).
 */
#ifndef CPIS_PARSE_H
#define CPIS_PARSE_H

#include "record.h"

int cpis_parse_init(void); /* xmlInitParser + ids; idempotent; 0 = ok */

/* Sniff (content_type may be NULL), check the size limit and dispatch.
 * Returns CPIS_MSG_OK with *out holding one or more notifications (caller
 * frees with cpis_message_free) or an error code with err filled and *out
 * empty.  A file is accepted or rejected whole: one bad notification in a
 * container rejects the file (it is quarantined, nothing is lost). */
int cpis_parse_message(const uint8_t *buf, size_t len, const char *content_type,
                       size_t max_bytes, struct cpis_message *out,
                       struct cpis_parse_error *err);

/* A delivery as the host received it (struct cpis_event): a MESH report
 * (mesh_message_type "Report") is one REC_KIND_IGNORED notification without
 * parsing; a gzip
 * payload (content_encoding "gzip") is inflated, the size limit applying to
 * the inflated bytes (inflating stops one byte past it: too_large); then
 * cpis_parse_message.  The MESH WorkflowId is kept on every notification. */
struct cpis_event;
int cpis_parse_event(const struct cpis_event *ev, size_t max_bytes,
                     struct cpis_message *out, struct cpis_parse_error *err);

/* Inflate a gzip buffer into a malloc'd one of at most max bytes.  Returns
 * CPIS_MSG_OK, CPIS_MSG_TOO_LARGE (more than max), CPIS_MSG_BAD_ENCODING
 * (not gzip, corrupt or truncated) or CPIS_MSG_MALFORMED (out of memory). */
int cpis_gunzip(const uint8_t *buf, size_t len, size_t max, uint8_t **out,
                size_t *out_len, struct cpis_parse_error *err);

/* HL7 V3: every CP-IS payload element the file holds, found by namespace
 * and name wherever it sits (bare, or inside any wrapper). */
int cpis_parse_hl7v3(const uint8_t *buf, size_t len,
                     struct cpis_message *out, struct cpis_parse_error *err);
/* The same for bytes cpis_utf8_check has already accepted (the dispatcher):
 * the encoding is not checked a second time. */
int cpis_parse_hl7v3_utf8(const uint8_t *buf, size_t len,
                          struct cpis_message *out, struct cpis_parse_error *err);
/* FHIR: one notification. */
int cpis_parse_fhir(const uint8_t *buf, size_t len,
                    struct cpis_notification *out, struct cpis_parse_error *err);

/* MESH control file (DTSControl XML): copies DTSId and LocalId (either may
 * be absent -> ""); returns CPIS_MSG_OK or an error code. */
int cpis_parse_mesh_ctl(const uint8_t *buf, size_t len, char *dts_id,
                        size_t dts_cap, char *local_id, size_t local_cap,
                        struct cpis_parse_error *err);

/* Restore the libxml2 external entity loader that was in place before
 * cpis_parse_init() (only if ours is still installed).  Call from the
 * plugin's shutdown, before dlclose(): the loader is a process-global
 * function pointer and must not point into an unloaded plugin.  A later
 * cpis_parse_init() installs it again. */
void cpis_parse_shutdown(void);

/* ---- internal helpers shared by parse.c, hl7v3.c and mesh.c ---- */

/* Whole-buffer encoding check: 0 = valid UTF-8 (a leading BOM is fine),
 * -1 = invalid UTF-8 (bad sequence, overlong, surrogate, > U+10FFFF),
 * -2 = a NUL byte. */
int cpis_utf8_check(const uint8_t *buf, size_t len);

/* Safe libxml2 read (xml.c): no DTD, no entities, no network, errors kept
 * in the context, never printed.  On success *doc is a well-formed tree the
 * caller frees with xmlFreeDoc; otherwise an error code with err filled.
 * flags: CPIS_XML_UTF8_CHECKED when the caller has already had 0 from
 * cpis_utf8_check on these very bytes (the check is not repeated). */
#define CPIS_XML_UTF8_CHECKED 1u
struct _xmlDoc;
int cpis_xml_read(const uint8_t *buf, size_t len, unsigned flags, struct _xmlDoc **doc,
                  struct cpis_parse_error *err);

/* The same read (same checks, options, hooks and errors) building no
 * libxml2 tree: a light one of elements, their attributes, and the text
 * inside elements called "name" (only there: see xml.c, "The light tree").
 * Children are in document order; text nodes appear only inside names. */
enum { CPIS_XN_ELEMENT = 1, CPIS_XN_TEXT = 2 };
struct cpis_xattr {
    const char *name;  /* local name */
    const char *ns;    /* namespace URI, NULL for none */
    const char *value; /* as libxml2's tree gives it (references resolved) */
    struct cpis_xattr *next;
};
struct cpis_xnode {
    int type;                /* CPIS_XN_ELEMENT or CPIS_XN_TEXT */
    unsigned char last_kind, first_text, not_blank; /* xml.c's own */
    const char *name;        /* element: local name */
    const char *ns;          /* element: namespace URI, NULL for none */
    const char *text;        /* text: the characters (CDATA included) */
    size_t len;              /* text: their length */
    struct cpis_xnode *parent, *children, *last, *next;
    struct cpis_xattr *attrs; /* element: in document order */
};
struct cpis_xtree;
int cpis_xml_read_light(const uint8_t *buf, size_t len, unsigned flags,
                        struct cpis_xtree **tree, struct cpis_parse_error *err);
const struct cpis_xnode *cpis_xtree_root(const struct cpis_xtree *t);
void cpis_xtree_free(struct cpis_xtree *t);
/* Install / remove the refusing external entity loader (xml.c). */
void cpis_xml_loader_install(void);
void cpis_xml_loader_remove(void);

#endif
