/*
 * parse.c - from bytes to a normalised record: size limit, encoding check,
 * sniffing, dispatch to the HL7 V3 (hl7v3.c) or FHIR (fhir.c) parser.
 *
 * Order of checks in cpis_parse_message (each cheaper than the next, and
 * nothing touches libxml2 or cJSON before the first three pass):
 *   1. len > max_bytes        -> too_large  (before any parsing)
 *   2. empty / only blanks    -> malformed
 *   3. NUL byte, bad UTF-8    -> bad_encoding (whole buffer; BOM allowed)
 *   4. sniff: content type mentioning "json" or first non-blank '{' -> FHIR,
 *      '<' -> HL7 V3, anything else -> malformed.
 *
 * Initialisation: cpis_parse_init() runs xmlInitParser() and cpis_ids_init()
 * exactly once (pthread_once) and installs the refusing external entity
 * loader (see hl7v3.c for the trade-off).  xmlCleanupParser() is never
 * called: the host process may still be using libxml2.
 */
#include "parse.h"

#include <libxml/parser.h>
#include <pthread.h>
#include <string.h>

#include "ids.h"

static pthread_once_t parse_once = PTHREAD_ONCE_INIT;
static int parse_init_status = -1;

static void parse_init_once(void)
{
    xmlInitParser();
    parse_init_status = cpis_ids_init() == 0 ? 0 : -1;
}

int cpis_parse_init(void)
{
    pthread_once(&parse_once, parse_init_once);
    if (parse_init_status == 0)
        cpis_xml_loader_install(); /* idempotent */
    return parse_init_status;
}

void cpis_parse_shutdown(void)
{
    cpis_xml_loader_remove();
}

/* Strict UTF-8 (RFC 3629).  Written here because the libraries do not offer
 * it: libxml2 2.9.14's xmlGetUTF8Char() accepts overlong forms (C0 AF),
 * UTF-16 surrogates (ED A0 80) and code points above U+10FFFF (checked on
 * Debian 12), xmlCheckUTF8() needs NUL-terminated text, and cJSON does not
 * validate UTF-8 at all. */
int cpis_utf8_check(const uint8_t *buf, size_t len)
{
    size_t i = 0;
    int bad = 0;
    if (len >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF)
        i = 3;
    while (i < len) {
        uint8_t c = buf[i];
        if (c == 0)
            return -2;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1Fu;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0Fu;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07u;
        } else {
            bad = 1; /* continuation byte, C0/C1 overlong lead, F5..FF */
            i++;
            continue;
        }
        if (len - i - 1 < need) {
            bad = 1;
            break;
        }
        int ok = 1;
        for (size_t k = 1; k <= need; k++) {
            uint8_t cc = buf[i + k];
            if ((cc & 0xC0) != 0x80) {
                ok = 0;
                break;
            }
            cp = (cp << 6) | (cc & 0x3Fu);
        }
        if (!ok || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
            bad = 1;
            i++;
            continue; /* keep scanning: a NUL later still wins */
        }
        i += need + 1;
    }
    /* scan the rest for NUL so "NUL anywhere" is reported consistently */
    if (bad) {
        if (memchr(buf, 0, len) != NULL)
            return -2;
        return -1;
    }
    return 0;
}

static int is_blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int ci_contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++) {
        size_t k = 0;
        while (k < n && p[k] != '\0') {
            char a = p[k], b = needle[k];
            if (a >= 'A' && a <= 'Z')
                a = (char)(a - 'A' + 'a');
            if (a != b)
                break;
            k++;
        }
        if (k == n)
            return 1;
    }
    return 0;
}

int cpis_parse_message(const uint8_t *buf, size_t len, const char *content_type,
                       size_t max_bytes, struct cpis_message *out,
                       struct cpis_parse_error *err)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (err != NULL) {
        err->code = CPIS_MSG_OK;
        err->detail[0] = '\0';
    }
    if (out == NULL || (buf == NULL && len > 0))
        return cpis_fail(err, CPIS_MSG_MALFORMED, "no buffer");
    if (len > max_bytes)
        return cpis_fail(err, CPIS_MSG_TOO_LARGE,
                         "message is %zu bytes, limit %zu", len, max_bytes);
    if (cpis_parse_init() != 0)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "parser initialisation failed");

    size_t i = 0;
    if (len >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF)
        i = 3;
    while (i < len && is_blank(buf[i]))
        i++;
    if (i >= len)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "empty message");

    int enc = cpis_utf8_check(buf, len);
    if (enc == -2)
        return cpis_fail(err, CPIS_MSG_BAD_ENCODING, "NUL byte in message");
    if (enc != 0)
        return cpis_fail(err, CPIS_MSG_BAD_ENCODING, "message is not valid UTF-8");

    int rc;
    if ((content_type != NULL && ci_contains(content_type, "json")) || buf[i] == '{') {
        struct cpis_notification *n = cpis_message_add(out);
        if (n == NULL)
            return cpis_fail(err, CPIS_MSG_MALFORMED, "out of memory");
        rc = cpis_parse_fhir(buf, len, n, err);
    } else if (buf[i] == '<') {
        rc = cpis_parse_hl7v3(buf, len, out, err);
    } else {
        return cpis_fail(err, CPIS_MSG_MALFORMED,
                         "neither XML nor JSON (does not start with '<' or '{')");
    }
    if (rc != CPIS_MSG_OK) {
        cpis_message_free(out);
        if (err != NULL && err->code == CPIS_MSG_OK)
            cpis_fail(err, rc, "rejected");
    }
    return rc;
}
