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
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "cpis/plugin.h"

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
        /* eight ASCII bytes at a time while none is NUL or >= 0x80 (almost
         * all of a message): any such byte sends that word to the byte
         * loop below */
        while (len - i >= 8) {
            uint64_t w;
            memcpy(&w, buf + i, sizeof w);
            uint64_t high = w & 0x8080808080808080ull;
            uint64_t zero = (w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull;
            if ((high | zero) != 0)
                break;
            i += 8;
        }
        if (i >= len)
            break;
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
        rc = cpis_parse_hl7v3_utf8(buf, len, out, err); /* checked above */
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

/* ---- MESH deliveries: reports and gzip payloads ------------------------- */

int cpis_gunzip(const uint8_t *buf, size_t len, size_t max, uint8_t **out,
                size_t *out_len, struct cpis_parse_error *err)
{
    *out = NULL;
    *out_len = 0;
    z_stream z;
    memset(&z, 0, sizeof z);
    /* 16 + MAX_WBITS: gzip only (a zlib or raw stream is not what MESH
     * sends). */
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "out of memory starting to inflate");
    size_t cap = max < 65536 ? max + 1 : 65536, n = 0;
    uint8_t *dst = malloc(cap);
    if (dst == NULL) {
        inflateEnd(&z);
        return cpis_fail(err, CPIS_MSG_MALFORMED, "out of memory inflating");
    }
    const uint8_t *in = buf;
    size_t in_left = len;
    int rc = CPIS_MSG_OK, zr = Z_OK;
    for (;;) {
        /* feed in slices: avail_in is an unsigned int */
        if (z.avail_in == 0 && in_left > 0) {
            z.next_in = (Bytef *)(uintptr_t)in;
            z.avail_in = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
            in += z.avail_in;
            in_left -= z.avail_in;
        }
        if (n == cap) {
            if (cap > max) { /* already one byte past the limit */
                rc = cpis_fail(err, CPIS_MSG_TOO_LARGE,
                               "gzip payload inflates past the %zu-byte limit", max);
                break;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            uint8_t *bigger = realloc(dst, ncap);
            if (bigger == NULL) {
                rc = cpis_fail(err, CPIS_MSG_MALFORMED, "out of memory inflating");
                break;
            }
            dst = bigger;
            cap = ncap;
        }
        size_t room = cap - n;
        z.next_out = dst + n;
        z.avail_out = room > (1u << 30) ? (1u << 30) : (uInt)room;
        uInt before = z.avail_out;
        zr = inflate(&z, Z_NO_FLUSH);
        n += before - z.avail_out;
        if (zr == Z_STREAM_END) {
            /* another gzip member may follow (concatenated files) */
            if (z.avail_in == 0 && in_left == 0)
                break;
            if (inflateReset(&z) != Z_OK) {
                rc = cpis_fail(err, CPIS_MSG_BAD_ENCODING, "gzip payload is corrupt");
                break;
            }
            continue;
        }
        if (zr == Z_BUF_ERROR && z.avail_in == 0 && in_left == 0) {
            rc = cpis_fail(err, CPIS_MSG_BAD_ENCODING, "gzip payload is truncated");
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = cpis_fail(err, zr == Z_MEM_ERROR ? CPIS_MSG_MALFORMED : CPIS_MSG_BAD_ENCODING,
                           zr == Z_MEM_ERROR ? "out of memory inflating"
                                             : "payload is not valid gzip (the MESH control "
                                               "file says it is compressed)");
            break;
        }
    }
    inflateEnd(&z);
    if (rc == CPIS_MSG_OK && n > max)
        rc = cpis_fail(err, CPIS_MSG_TOO_LARGE,
                       "gzip payload inflates past the %zu-byte limit", max);
    if (rc != CPIS_MSG_OK) {
        free(dst);
        return rc;
    }
    *out = dst;
    *out_len = n;
    return CPIS_MSG_OK;
}

static const char *ev_str(const struct cpis_event *ev, size_t end, const char *const *field)
{
    /* a field appended in ABI 1.1: only when the host's struct holds it */
    if (ev->struct_size < end)
        return NULL;
    return *field != NULL && (*field)[0] != '\0' ? *field : NULL;
}
#define EV_FIELD(ev, f)                                                                   \
    ev_str((ev), offsetof(struct cpis_event, f) + sizeof(((struct cpis_event *)0)->f),    \
           &(ev)->f)

int cpis_parse_event(const struct cpis_event *ev, size_t max_bytes,
                     struct cpis_message *out, struct cpis_parse_error *err)
{
    const char *type = EV_FIELD(ev, mesh_message_type);
    const char *enc = EV_FIELD(ev, content_encoding);
    const char *wf = EV_FIELD(ev, workflow_id);
    int rc;
    out->n = 0;
    out->v = NULL;
    if (type != NULL && strcasecmp(type, "Report") == 0) {
        struct cpis_notification *n = cpis_message_add(out);
        if (n == NULL)
            return cpis_fail(err, CPIS_MSG_MALFORMED, "out of memory");
        if (err != NULL) {
            err->code = CPIS_MSG_OK;
            err->detail[0] = '\0';
        }
        n->kind = REC_KIND_IGNORED;
        n->total_records = -1;
        snprintf(n->reason, sizeof n->reason, "mesh_report");
        /* the message id of a report: its MESH id (DTSId), else none */
        cpis_copy_text(n->message_id, sizeof n->message_id,
                       ev->transport_id ? ev->transport_id : "");
        rc = CPIS_MSG_OK;
    } else if ((enc != NULL && strcasecmp(enc, "gzip") == 0) ||
               (enc == NULL && ev->payload_len >= 2 && ev->payload[0] == 0x1f &&
                ev->payload[1] == 0x8b)) {
        /* gzip as the control file says, or by its magic bytes when the
         * host did not say (a quarantined payload delivered again): neither
         * XML nor JSON can start with 0x1f 0x8b. */
        if (ev->payload_len > max_bytes)
            return cpis_fail(err, CPIS_MSG_TOO_LARGE, "compressed message is %zu bytes, limit %zu",
                             ev->payload_len, max_bytes);
        uint8_t *plain = NULL;
        size_t plen = 0;
        rc = cpis_gunzip(ev->payload, ev->payload_len, max_bytes, &plain, &plen, err);
        if (rc != CPIS_MSG_OK)
            return rc;
        rc = cpis_parse_message(plain, plen, ev->content_type, max_bytes, out, err);
        free(plain);
    } else if (enc != NULL && strcasecmp(enc, "identity") != 0) {
        return cpis_fail(err, CPIS_MSG_BAD_ENCODING, "unknown content encoding");
    } else {
        rc = cpis_parse_message(ev->payload, ev->payload_len, ev->content_type, max_bytes, out,
                                err);
    }
    if (rc == CPIS_MSG_OK && wf != NULL)
        for (size_t i = 0; i < out->n; i++)
            cpis_copy_text(out->v[i].workflow_id, sizeof out->v[i].workflow_id, wf);
    return rc;
}
