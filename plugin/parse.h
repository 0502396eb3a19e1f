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
 * Returns CPIS_MSG_OK with *out filled (caller frees with
 * cpis_notification_free) or an error code with err filled and *out zeroed. */
int cpis_parse_message(const uint8_t *buf, size_t len, const char *content_type,
                       size_t max_bytes, struct cpis_notification *out,
                       struct cpis_parse_error *err);

int cpis_parse_hl7v3(const uint8_t *buf, size_t len,
                     struct cpis_notification *out, struct cpis_parse_error *err);
int cpis_parse_fhir(const uint8_t *buf, size_t len,
                    struct cpis_notification *out, struct cpis_parse_error *err);

/* MESH control file (DTSControl XML): copies DTSId and LocalId (either may
 * be absent -> ""); returns CPIS_MSG_OK or an error code. */
int cpis_parse_mesh_ctl(const uint8_t *buf, size_t len, char *dts_id,
                        size_t dts_cap, char *local_id, size_t local_cap,
                        struct cpis_parse_error *err);

#endif
