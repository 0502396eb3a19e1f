/*
 * json.h - strict JSON for untrusted text (FHIR messages, the admin config),
 * on top of cJSON 1.7.15.
 *
 * cJSON alone accepts what a safeguarding input must not: a key given twice
 * in one object (cJSON keeps both and lookups find the first, while another
 * reader may take the last: the access could land on another child), and
 * text after the document unless asked.  cpis_json_parse_strict() parses
 * with cJSON (require_null_terminated), then walks the tree once and refuses
 * any object holding the same key twice.  No global cJSON state is touched
 * (no cJSON_InitHooks, no cJSON_GetErrorPtr), so it is thread-safe.
 */
#ifndef CPIS_JSON_H
#define CPIS_JSON_H

#include <stddef.h>

struct cJSON;

/* Parse len bytes (need not be NUL-terminated; a NUL byte inside is refused).
 * On success returns the tree (free with cJSON_Delete).  On failure returns
 * NULL and writes a short reason into why (never any text from the input
 * except a duplicated key's name, cut to 40 bytes and only when it is
 * printable ASCII). */
struct cJSON *cpis_json_parse_strict(const char *buf, size_t len, char *why, size_t why_cap);

/* 1 when s (len bytes) holds a control character (U+0000..U+001F or
 * U+007F): no identifier may hold one.  cpis_json_parse_strict() has already
 * refused "\u0000" (which cJSON would decode into a NUL that silently ends
 * the C string) and raw control bytes inside strings; other escaped controls
 * ("\n", "\u0001") decode into the value and are caught here. */
int cpis_json_has_control(const char *s, size_t len);

#endif
