/*
 * test_parse.c - the dispatcher (size limit first, encoding, sniffing),
 * every error code with at least two inputs, the hostile files under
 * tests/data/hl7 (file name prefix = expected error code), MESH control
 * files, silence on stderr, the entity loader and thread safety.
 *
 * Paths: samples from CPIS_SAMPLES (fallback "samples"), test data from
 * "$CPIS_SAMPLES/../tests/data" (fallback "tests/data").
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <zlib.h>

#include "cpis/plugin.h"
#include "ids.h"
#include "parse.h"

#define LIMIT (1024u * 1024u)

static char samples_dir[1024];
static char data_dir[1024];

static void init_paths(void)
{
    const char *s = getenv("CPIS_SAMPLES");
    if (s != NULL && s[0] != '\0') {
        snprintf(samples_dir, sizeof samples_dir, "%s", s);
        snprintf(data_dir, sizeof data_dir, "%s/../tests/data", s);
    } else {
        snprintf(samples_dir, sizeof samples_dir, "samples");
        snprintf(data_dir, sizeof data_dir, "tests/data");
    }
}

static uint8_t *load_path(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        print_error("cannot open %s\n", path);
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return NULL;
    }
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    size_t n = buf != NULL ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (buf != NULL)
        buf[n] = 0;
    *len = n;
    return buf;
}

static uint8_t *load_sample(const char *rel, size_t *len)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", samples_dir, rel);
    return load_path(p, len);
}

static uint8_t *load_data(const char *rel, size_t *len)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", data_dir, rel);
    return load_path(p, len);
}

static const char *const code_names[] = {
#define X(sym, val, name) [val] = name,
    CPIS_MESSAGE_ERROR_LIST(X)
#undef X
};

static int code_from_name(const char *file)
{
    for (int c = 1; c < CPIS_MSG_END_; c++) {
        size_t n = strlen(code_names[c]);
        if (strncmp(file, code_names[c], n) == 0 && file[n] == '-')
            return c;
    }
    return -1;
}

/* Nothing identifying may appear in an error detail. */
static void assert_detail_clean(const char *d)
{
    int run = 0;
    for (const char *p = d; *p; p++) {
        run = (*p >= '0' && *p <= '9') ? run + 1 : 0;
        assert_true(run < 10); /* never a 10-digit number */
    }
    static const char *const words[] = {"9449305552", "Patel", "Sam", "ROYAL STOKE",
                                        "root:", "/bin/", "passwd", "lol", "STAFFS-CP"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        assert_null(strstr(d, words[i]));
    assert_true(strlen(d) > 0);
}

static int parse_buf(const uint8_t *b, size_t len, size_t limit, struct cpis_message *n,
                     struct cpis_parse_error *e)
{
    memset(e, 0xAA, sizeof *e); /* the parser must set both fields */
    return cpis_parse_message(b, len, "application/xml", limit, n, e);
}

static int mem_contains(const void *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    const unsigned char *h = hay;
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(h + i, needle, k) == 0)
            return 1;
    return 0;
}

static void assert_zeroed(const struct cpis_message *n)
{
    static const struct cpis_message zero;
    assert_memory_equal(n, &zero, sizeof zero);
}

/* ------------------------------------------------------------------------ */

static void test_hostile_files(void **state)
{
    (void)state;
    DIR *d = NULL;
    char dir[1400];
    snprintf(dir, sizeof dir, "%s/hl7", data_dir);
    d = opendir(dir);
    assert_non_null(d);
    int per_code[CPIS_MSG_END_] = {0};
    int files = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        int want = code_from_name(de->d_name);
        if (want < 0) {
            print_error("test data file without an error-code prefix: %s\n", de->d_name);
            fail();
        }
        size_t len = 0;
        char rel[512];
        snprintf(rel, sizeof rel, "hl7/%s", de->d_name);
        uint8_t *b = load_data(rel, &len);
        assert_non_null(b);
        struct cpis_message n;
        struct cpis_parse_error e;
        int rc = parse_buf(b, len, LIMIT, &n, &e);
        if (rc != want)
            print_error("%s: got %s (%s), want %s\n", de->d_name,
                        rc >= 0 && rc < CPIS_MSG_END_ ? code_names[rc] : "?", e.detail,
                        code_names[want]);
        assert_int_equal(rc, want);
        assert_int_equal(e.code, want);
        assert_detail_clean(e.detail);
        assert_zeroed(&n);
        per_code[want]++;
        files++;
        free(b);
    }
    closedir(d);
    assert_true(files >= 30);
    /* at least two hostile inputs per code (too_large is tested by limit) */
    for (int c = CPIS_MSG_MALFORMED; c <= CPIS_MSG_BAD_ENCODING; c++) {
        if (c == CPIS_MSG_TOO_LARGE)
            continue;
        if (per_code[c] < 2)
            print_error("only %d files for %s\n", per_code[c], code_names[c]);
        assert_true(per_code[c] >= 2);
    }
}

static void test_too_large_before_parsing(void **state)
{
    (void)state;
    struct cpis_message n;
    struct cpis_parse_error e;
    size_t len;
    /* valid messages over a small limit */
    static const char *const ok[] = {"cascade/01-nhs111.xml", "messages/multi-access.xml"};
    for (size_t i = 0; i < 2; i++) {
        uint8_t *b = load_sample(ok[i], &len);
        assert_non_null(b);
        assert_int_equal(parse_buf(b, len, 100, &n, &e), CPIS_MSG_TOO_LARGE);
        assert_detail_clean(e.detail);
        assert_zeroed(&n);
        /* exactly at the limit is fine */
        assert_int_equal(parse_buf(b, len, len, &n, &e), CPIS_MSG_OK);
        cpis_message_free(&n);
        assert_int_equal(parse_buf(b, len, len - 1, &n, &e), CPIS_MSG_TOO_LARGE);
        free(b);
    }
    /* hostile content over the limit is rejected on size, never parsed:
     * otherwise these would give forbidden_construct / bad_encoding */
    static const char *const bad[] = {"hl7/forbidden_construct-external-entity.xml",
                                      "hl7/bad_encoding-nul-byte.xml",
                                      "hl7/malformed-deep-nesting.xml"};
    for (size_t i = 0; i < 3; i++) {
        uint8_t *b = load_data(bad[i], &len);
        assert_non_null(b);
        assert_int_equal(parse_buf(b, len, 64, &n, &e), CPIS_MSG_TOO_LARGE);
        free(b);
    }
    /* the default 1 MiB limit: one byte over */
    size_t big = LIMIT + 1;
    uint8_t *b = malloc(big);
    assert_non_null(b);
    memset(b, ' ', big);
    memcpy(b, "<a>", 3);
    assert_int_equal(parse_buf(b, big, LIMIT, &n, &e), CPIS_MSG_TOO_LARGE);
    free(b);
}

static void test_empty_and_sniffing(void **state)
{
    (void)state;
    struct cpis_message n;
    struct cpis_parse_error e;
    assert_int_equal(parse_buf((const uint8_t *)"", 0, LIMIT, &n, &e), CPIS_MSG_MALFORMED);
    assert_int_equal(parse_buf(NULL, 0, LIMIT, &n, &e), CPIS_MSG_MALFORMED);
    assert_int_equal(parse_buf((const uint8_t *)" \r\n\t", 4, LIMIT, &n, &e),
                     CPIS_MSG_MALFORMED);
    assert_int_equal(parse_buf((const uint8_t *)"\xEF\xBB\xBF  ", 5, LIMIT, &n, &e),
                     CPIS_MSG_MALFORMED);
    assert_int_equal(parse_buf((const uint8_t *)"hello", 5, LIMIT, &n, &e),
                     CPIS_MSG_MALFORMED);
    assert_int_equal(parse_buf((const uint8_t *)"9449305552", 10, LIMIT, &n, &e),
                     CPIS_MSG_MALFORMED);
    assert_detail_clean(e.detail);

    size_t len;
    uint8_t *b = load_sample("cascade/04-emergency-department.xml", &len);
    assert_non_null(b);
    /* XML sniffed with or without a content type, after a BOM and blanks */
    static const char *const types[] = {NULL, "application/xml", "text/plain",
                                        "application/hl7-v3+xml"};
    for (size_t i = 0; i < 4; i++) {
        memset(&e, 0, sizeof e);
        assert_int_equal(cpis_parse_message(b, len, types[i], LIMIT, &n, &e), CPIS_MSG_OK);
        assert_int_equal(n.v[0].format, REC_FORMAT_HL7V3);
        cpis_message_free(&n);
    }
    uint8_t *pre = malloc(len + 8);
    assert_non_null(pre);
    memcpy(pre, "\xEF\xBB\xBF \n\t", 6);
    /* drop the XML declaration: it must come first in a document */
    const char *start = strstr((const char *)b, "<CP-IS");
    assert_non_null(start);
    size_t rest = len - (size_t)(start - (const char *)b);
    memcpy(pre + 6, start, rest);
    assert_int_equal(cpis_parse_message(pre, rest + 6, NULL, LIMIT, &n, &e), CPIS_MSG_OK);
    assert_string_equal(n.v[0].message_id, "C7B09A3E-51D4-4E2B-8F16-9A3D52E0B604");
    cpis_message_free(&n);
    /* a JSON content type sends even an XML body to the FHIR parser, which
     * cannot accept it: proves the content type is honoured */
    assert_int_not_equal(cpis_parse_message(b, len, "application/fhir+json", LIMIT, &n, &e),
                         CPIS_MSG_OK);
    assert_zeroed(&n);
    assert_int_not_equal(cpis_parse_message(b, len, "APPLICATION/JSON; charset=utf-8", LIMIT,
                                            &n, &e),
                         CPIS_MSG_OK);
    /* a leading '{' goes to FHIR too; '{' is never well-formed XML, so a
     * result other than an XML error shows the dispatch */
    assert_int_not_equal(cpis_parse_message((const uint8_t *)"{}", 2, NULL, LIMIT, &n, &e),
                         CPIS_MSG_OK);
    free(pre);
    free(b);
}

static void test_encoding_checks(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t n;
        int want;
    } cases[] = {
        {"abc", 3, 0},
        {"\xEF\xBB\xBF<a/>", 7, 0},
        {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 14, 0},
        {"\xF4\x8F\xBF\xBF", 4, 0},      /* U+10FFFF */
        {"a\0b", 3, -2},                 /* NUL */
        {"\xC3\xA9\0", 3, -2},
        {"\xFF", 1, -1},
        {"\xC0\xAF", 2, -1},             /* overlong '/' */
        {"\xE0\x80\xAF", 3, -1},         /* overlong */
        {"\xED\xA0\x80", 3, -1},         /* surrogate */
        {"\xF4\x90\x80\x80", 4, -1},     /* > U+10FFFF */
        {"\xE2\x82", 2, -1},             /* truncated at the end */
        {"\x80", 1, -1},                 /* lone continuation */
        {"\xFF\0", 2, -2},               /* NUL wins over bad UTF-8 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = cpis_utf8_check((const uint8_t *)cases[i].s, cases[i].n);
        if (got != cases[i].want)
            print_error("case %zu: %d\n", i, got);
        assert_int_equal(got, cases[i].want);
    }
    /* the same verdicts at every position of a longer buffer (ASCII is
     * checked eight bytes at a time): a NUL, a byte that never starts a
     * character, a truncated sequence and a good two-byte character, each
     * at offsets 0..40 of 48 ASCII bytes */
    for (size_t at = 0; at <= 40; at++) {
        uint8_t b[48];
        memset(b, 'a', sizeof b);
        b[at] = 0;
        assert_int_equal(cpis_utf8_check(b, sizeof b), -2);
        b[at] = 0xFF;
        assert_int_equal(cpis_utf8_check(b, sizeof b), -1);
        b[47] = 0; /* NUL after bad UTF-8 still wins */
        assert_int_equal(cpis_utf8_check(b, sizeof b), -2);
        b[47] = 'a';
        b[at] = 0xC3;
        assert_int_equal(cpis_utf8_check(b, sizeof b), -1); /* 'a' is no continuation */
        b[at + 1] = 0xA9;
        assert_int_equal(cpis_utf8_check(b, sizeof b), 0);
        b[at] = 0xE0; /* overlong three-byte form */
        b[at + 1] = 0x80;
        b[at + 2] = 0xAF;
        assert_int_equal(cpis_utf8_check(b, sizeof b), -1);
    }
    struct cpis_message n;
    struct cpis_parse_error e;
    assert_int_equal(parse_buf((const uint8_t *)"<a>\xC3</a>", 8, LIMIT, &n, &e),
                     CPIS_MSG_BAD_ENCODING);
    assert_int_equal(parse_buf((const uint8_t *)"<a>\0</a>", 8, LIMIT, &n, &e),
                     CPIS_MSG_BAD_ENCODING);
    /* the HL7 parser checks by itself when called directly */
    assert_int_equal(cpis_parse_hl7v3((const uint8_t *)"<a>\xFF</a>", 8, &n, &e),
                     CPIS_MSG_BAD_ENCODING);
}

/* Two in-memory inputs per code, besides the files. */
static void test_every_code_in_memory(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = load_sample("cascade/02-ambulance-control.xml", &len);
    assert_non_null(b);
    const char *doc = (const char *)b;
    struct {
        const char *from, *to;
        int want;
    } edits[] = {
        {"extension=\"9449305552\"", "extension=\"9449305553\"", CPIS_MSG_INVALID_NHS_NUMBER},
        {"extension=\"9449305552\"", "extension=\"944-930-5552\"", CPIS_MSG_INVALID_NHS_NUMBER},
        {"extension=\"QQA01\"", "extension=\"QQA 01\"", CPIS_MSG_INVALID_ODS_CODE},
        {"extension=\"QQA01\"", "extension=\"\xC3\x89QQA\"", CPIS_MSG_INVALID_ODS_CODE},
        {"extension=\"QQA01\"", "extension=\"\"", CPIS_MSG_MISSING_FIELD},
        {"value=\"202403151405+0000\"", "value=\"2024031514+01\"", CPIS_MSG_INVALID_TIMESTAMP},
        {"value=\"202403151405+0000\"", "value=\"20241315\"", CPIS_MSG_INVALID_TIMESTAMP},
        {"value=\"202403151405+0000\"", "value=\"\"", CPIS_MSG_MISSING_FIELD},
        {"<v3:CP-ISAccessToServiceNotification xmlns:v3=", "<v3:CP-ISAccessToServiceNotifications xmlns:v3=",
         CPIS_MSG_MALFORMED /* end tag mismatch */},
        {"xmlns:v3=\"urn:hl7-org:v3\"", "xmlns:v3=\"urn:hl7-org:v2\"", CPIS_MSG_UNSUPPORTED},
        {"<v3:CP-ISAccessToServiceNotification xmlns:v3=\"urn:hl7-org:v3\"",
         "<!DOCTYPE x [<!ENTITY a \"b\">]><v3:CP-ISAccessToServiceNotification xmlns:v3=\"urn:hl7-org:v3\"",
         CPIS_MSG_FORBIDDEN_CONSTRUCT},
        {"CRESTWOOD EMERGENCY", "&#x26;amp; &unknown; EMERGENCY", CPIS_MSG_FORBIDDEN_CONSTRUCT},
        {"v3:CP-ISAccessToServiceNotification xmlns", "v3:CP-ISAccessToServiceNotification a=\"1\" a=\"2\" xmlns",
         CPIS_MSG_MALFORMED},
        {"CRESTWOOD EMERGENCY", "CRESTWOOD \x01 EMERGENCY", CPIS_MSG_MALFORMED /* not an XML char */},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        const char *at = strstr(doc, edits[i].from);
        assert_non_null(at);
        size_t fl = strlen(edits[i].from), tl = strlen(edits[i].to);
        size_t nl = len - fl + tl;
        char *m = malloc(nl + 1);
        assert_non_null(m);
        size_t pre = (size_t)(at - doc);
        memcpy(m, doc, pre);
        memcpy(m + pre, edits[i].to, tl);
        memcpy(m + pre + tl, at + fl, len - pre - fl);
        m[nl] = '\0';
        struct cpis_message n;
        struct cpis_parse_error e;
        int rc = parse_buf((const uint8_t *)m, nl, LIMIT, &n, &e);
        if (rc != edits[i].want)
            print_error("edit %zu: got %d (%s), want %d\n", i, rc, e.detail, edits[i].want);
        assert_int_equal(rc, edits[i].want);
        assert_detail_clean(e.detail);
        assert_zeroed(&n);
        free(m);
    }
    free(b);
}

/* A start tag with more than 256 attributes is refused before libxml2 sees
 * it (its duplicate check is quadratic); 256 are not, nor are many
 * attributes spread over several tags, nor '=' inside values, comments or
 * text. */
static int read_with_attrs(const char *const *tags, size_t n_tags, const size_t *attrs,
                           struct cpis_parse_error *e)
{
    size_t cap = 64;
    for (size_t t = 0; t < n_tags; t++)
        cap += strlen(tags[t]) + 32 + attrs[t] * 16;
    char *doc = malloc(cap);
    assert_non_null(doc);
    size_t w = (size_t)snprintf(doc, cap, "<r>");
    for (size_t t = 0; t < n_tags; t++) {
        w += (size_t)snprintf(doc + w, cap - w, "<%s", tags[t]);
        for (size_t i = 0; i < attrs[t]; i++)
            w += (size_t)snprintf(doc + w, cap - w, " a%zu=\"=\"", i);
        w += (size_t)snprintf(doc + w, cap - w, "/>");
    }
    w += (size_t)snprintf(doc + w, cap - w, "<!-- == --> = </r>");
    struct cpis_message n;
    int rc = cpis_parse_message((const uint8_t *)doc, w, NULL, LIMIT, &n, e);
    cpis_message_free(&n);
    free(doc);
    return rc;
}

static void test_attribute_limit(void **state)
{
    (void)state;
    struct cpis_parse_error e;
    static const char *const one[] = {"x"};
    static const char *const three[] = {"x", "y", "z"};
    size_t n256[] = {256}, n257[] = {257}, spread[] = {200, 200, 200}, late[] = {1, 1, 257};
    /* read (then refused as no CP-IS payload: the XML itself passed) */
    assert_int_equal(read_with_attrs(one, 1, n256, &e), CPIS_MSG_UNSUPPORTED);
    assert_int_equal(read_with_attrs(three, 3, spread, &e), CPIS_MSG_UNSUPPORTED);
    assert_int_equal(read_with_attrs(one, 1, n257, &e), CPIS_MSG_MALFORMED);
    assert_non_null(strstr(e.detail, "more than 256 attributes"));
    assert_int_equal(read_with_attrs(three, 3, late, &e), CPIS_MSG_MALFORMED);
    assert_non_null(strstr(e.detail, "more than 256 attributes"));
}

static void test_xxe_never_leaks(void **state)
{
    (void)state;
    static const char *const files[] = {"hl7/forbidden_construct-external-entity.xml",
                                        "hl7/forbidden_construct-parameter-entity.xml",
                                        "hl7/forbidden_construct-external-dtd.xml"};
    for (size_t i = 0; i < 3; i++) {
        size_t len;
        uint8_t *b = load_data(files[i], &len);
        assert_non_null(b);
        assert_non_null(strstr((const char *)b, "file:///etc/passwd"));
        struct cpis_message n;
        struct cpis_parse_error e;
        assert_int_equal(parse_buf(b, len, LIMIT, &n, &e), CPIS_MSG_FORBIDDEN_CONSTRUCT);
        assert_null(strstr(e.detail, "root:"));
        assert_false(mem_contains(&n, sizeof n, "root:"));
        assert_null(n.v);
        /* directly through the HL7 parser as well */
        assert_int_equal(cpis_parse_hl7v3(b, len, &n, &e), CPIS_MSG_FORBIDDEN_CONSTRUCT);
        assert_null(strstr(e.detail, "root:"));
        assert_null(n.v);
        free(b);
    }
}

/* libxml2 must print nothing (its messages quote input lines). */
static void test_stderr_silent(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/cpis-stderr-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    dup2(fd, 2);

    char dir[1400];
    snprintf(dir, sizeof dir, "%s/hl7", data_dir);
    DIR *d = opendir(dir);
    int parsed = 0;
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            char rel[512];
            snprintf(rel, sizeof rel, "hl7/%s", de->d_name);
            size_t len;
            uint8_t *b = load_data(rel, &len);
            if (b == NULL)
                continue;
            struct cpis_message n;
            struct cpis_parse_error e;
            cpis_parse_message(b, len, NULL, LIMIT, &n, &e);
            cpis_parse_hl7v3(b, len, &n, &e); /* skips the dispatcher's checks */
            cpis_message_free(&n);
            char id[64], lid[64];
            cpis_parse_mesh_ctl(b, len, id, sizeof id, lid, sizeof lid, &e);
            free(b);
            parsed++;
        }
        closedir(d);
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    close(fd);
    unlink(tmpl);
    assert_non_null(d);
    assert_true(parsed >= 30);
    assert_int_equal(st.st_size, 0);
}

static void test_mesh_ctl(void **state)
{
    (void)state;
    static const struct {
        const char *file, *dts, *local;
    } ctl[] = {
        {"mesh/20240315140530_000001.ctl", "20240315140530118842_5A1C3E", "CPIS-ASN-3F2A9C14"},
        {"mesh/20240315140802_000002.ctl", "20240315140802402217_8B2D4F", "CPIS-ASN-8D4E61B2"},
        {"mesh/20240315161500_000003.ctl", "20240315161500775309_C9E0A7",
         "CPIS-ASN-3F2A9C14-RESEND"},
    };
    for (size_t i = 0; i < 3; i++) {
        size_t len;
        uint8_t *b = load_sample(ctl[i].file, &len);
        assert_non_null(b);
        char dts[64], lid[64];
        struct cpis_parse_error e;
        assert_int_equal(cpis_parse_mesh_ctl(b, len, dts, sizeof dts, lid, sizeof lid, &e),
                         CPIS_MSG_OK);
        assert_string_equal(dts, ctl[i].dts);
        assert_string_equal(lid, ctl[i].local);
        /* an id that does not fit is an error, never a truncated id */
        assert_int_equal(cpis_parse_mesh_ctl(b, len, dts, 10, lid, sizeof lid, &e),
                         CPIS_MSG_MALFORMED);
        assert_string_equal(dts, "");
        free(b);
    }
    /* the resend carries the same payload (same notification id) under a new DTSId */
    size_t l1, l3;
    uint8_t *d1 = load_sample("mesh/20240315140530_000001.dat", &l1);
    uint8_t *d3 = load_sample("mesh/20240315161500_000003.dat", &l3);
    assert_non_null(d1);
    assert_non_null(d3);
    struct cpis_message n1, n3;
    struct cpis_parse_error e;
    assert_int_equal(parse_buf(d1, l1, LIMIT, &n1, &e), CPIS_MSG_OK);
    assert_int_equal(parse_buf(d3, l3, LIMIT, &n3, &e), CPIS_MSG_OK);
    assert_string_equal(n1.v[0].message_id, n3.v[0].message_id);
    assert_string_equal(n1.v[0].message_id, "3F2A9C14-7B1E-4D6A-9E35-1C8B04D2A701");
    cpis_message_free(&n1);
    cpis_message_free(&n3);
    free(d1);
    free(d3);

    char dts[64], lid[64];
    const char *s = "<DTSControl><DTSId> X1 </DTSId></DTSControl>";
    assert_int_equal(cpis_parse_mesh_ctl((const uint8_t *)s, strlen(s), dts, sizeof dts, lid,
                                         sizeof lid, &e),
                     CPIS_MSG_OK);
    assert_string_equal(dts, "X1");
    assert_string_equal(lid, "");
    s = "<NotDTS><DTSId>X1</DTSId></NotDTS>";
    assert_int_equal(cpis_parse_mesh_ctl((const uint8_t *)s, strlen(s), dts, sizeof dts, lid,
                                         sizeof lid, &e),
                     CPIS_MSG_UNSUPPORTED);
    s = "<!DOCTYPE DTSControl [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
        "<DTSControl><DTSId>&x;</DTSId></DTSControl>";
    assert_int_equal(cpis_parse_mesh_ctl((const uint8_t *)s, strlen(s), dts, sizeof dts, lid,
                                         sizeof lid, &e),
                     CPIS_MSG_FORBIDDEN_CONSTRUCT);
    assert_string_equal(dts, "");
    s = "<DTSControl><DTSId>X1</DTSId>";
    assert_int_equal(cpis_parse_mesh_ctl((const uint8_t *)s, strlen(s), dts, sizeof dts, lid,
                                         sizeof lid, &e),
                     CPIS_MSG_MALFORMED);
    assert_int_equal(cpis_parse_mesh_ctl((const uint8_t *)"", 0, dts, sizeof dts, lid,
                                         sizeof lid, &e),
                     CPIS_MSG_MALFORMED);
    s = "<DTSControl><DTSId>\xFF</DTSId></DTSControl>";
    assert_int_equal(cpis_parse_mesh_ctl((const uint8_t *)s, strlen(s), dts, sizeof dts, lid,
                                         sizeof lid, &e),
                     CPIS_MSG_BAD_ENCODING);
}

/* The external entity loader: ours refuses for our contexts, passes the
 * host's own parses to the loader that was there before, and is removed
 * again by cpis_parse_shutdown. */
static void test_entity_loader(void **state)
{
    (void)state;
    assert_int_equal(cpis_parse_init(), 0);
    xmlExternalEntityLoader ours = xmlGetExternalEntityLoader();
    cpis_parse_shutdown();
    xmlExternalEntityLoader before = xmlGetExternalEntityLoader();
    assert_ptr_not_equal(ours, before);
    assert_int_equal(cpis_parse_init(), 0);
    assert_ptr_equal(xmlGetExternalEntityLoader(), ours);
    assert_int_equal(cpis_parse_init(), 0); /* idempotent */
    assert_ptr_equal(xmlGetExternalEntityLoader(), ours);

    /* a host parse that asks for entities still gets them */
    char tmpl[] = "/tmp/cpis-ent-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "HOSTDATA", 8), 8);
    close(fd);
    char doc[512];
    snprintf(doc, sizeof doc,
             "<!DOCTYPE r [<!ENTITY e SYSTEM \"file://%s\">]><r>&e;</r>", tmpl);
    xmlDocPtr d = xmlReadMemory(doc, (int)strlen(doc), NULL, NULL,
                                XML_PARSE_NOENT | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    assert_non_null(d);
    xmlChar *c = xmlNodeGetContent(xmlDocGetRootElement(d));
    assert_non_null(c);
    assert_string_equal((const char *)c, "HOSTDATA");
    xmlFree(c);
    xmlFreeDoc(d);

    /* ours refuses the same request */
    struct cpis_message n;
    struct cpis_parse_error e;
    assert_int_equal(cpis_parse_hl7v3((const uint8_t *)doc, strlen(doc), &n, &e),
                     CPIS_MSG_FORBIDDEN_CONSTRUCT);
    assert_null(strstr(e.detail, "HOSTDATA"));
    unlink(tmpl);
}

static void *parse_thread(void *arg)
{
    (void)arg;
    static const char *const files[] = {"cascade/01-nhs111.xml", "messages/multi-access.xml",
                                        "messages/explicit-prefix.xml"};
    long bad = 0;
    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < 3; i++) {
            size_t len;
            uint8_t *b = load_sample(files[i], &len);
            if (b == NULL)
                return (void *)1;
            struct cpis_message n;
            struct cpis_parse_error e;
            if (cpis_parse_message(b, len, NULL, LIMIT, &n, &e) != CPIS_MSG_OK)
                bad++;
            else if (n.n < 1 || n.v[0].n_access < 1)
                bad++;
            cpis_message_free(&n);
            free(b);
        }
        size_t len;
        uint8_t *b = load_data("hl7/forbidden_construct-internal-entity.xml", &len);
        if (b == NULL)
            return (void *)1;
        struct cpis_message n;
        struct cpis_parse_error e;
        if (cpis_parse_message(b, len, NULL, LIMIT, &n, &e) != CPIS_MSG_FORBIDDEN_CONSTRUCT)
            bad++;
        free(b);
    }
    return (void *)bad;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, parse_thread, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        assert_int_equal(pthread_join(t[i], &r), 0);
        assert_null(r);
    }
}


/* ---- MESH deliveries (issue 11): gzip, reports, WorkflowId ---------------- */

/* gzip (not zlib) of buf, malloc'd. */
static uint8_t *gzip_buf(const uint8_t *buf, size_t len, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
                     Z_OK);
    size_t cap = deflateBound(&z, (uLong)len) + 64;
    uint8_t *out = malloc(cap);
    assert_non_null(out);
    z.next_in = (Bytef *)(uintptr_t)buf;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static struct cpis_event mesh_event(const uint8_t *p, size_t n, const char *enc,
                                    const char *type, const char *wf)
{
    struct cpis_event ev;
    memset(&ev, 0, sizeof ev);
    ev.struct_size = sizeof ev;
    ev.kind = CPIS_EVENT_NOTIFICATION;
    ev.payload = p;
    ev.payload_len = n;
    ev.source_name = "x.dat";
    ev.transport_id = "20240316101530447120_9B2D41";
    ev.content_encoding = enc;
    ev.mesh_message_type = type;
    ev.workflow_id = wf;
    return ev;
}

static void test_mesh_delivery(void **state)
{
    (void)state;
    size_t len, zlen;
    uint8_t *plain = load_sample("mesh/20240315140530_000001.dat", &len);
    uint8_t *gz = gzip_buf(plain, len, &zlen);
    struct cpis_message a = {0, NULL}, b = {0, NULL};
    struct cpis_parse_error e;

    /* Compress Y: inflated, read as the plain payload; WorkflowId kept */
    struct cpis_event ev = mesh_event(plain, len, NULL, "Data", NULL);
    assert_int_equal(cpis_parse_event(&ev, 1 << 20, &a, &e), CPIS_MSG_OK);
    ev = mesh_event(gz, zlen, "gzip", "Data", "CPIS_ASN");
    assert_int_equal(cpis_parse_event(&ev, 1 << 20, &b, &e), CPIS_MSG_OK);
    assert_string_equal(a.v[0].message_id, b.v[0].message_id);
    assert_int_equal(a.v[0].n_access, b.v[0].n_access);
    assert_string_equal(b.v[0].workflow_id, "CPIS_ASN");
    assert_string_equal(a.v[0].workflow_id, "");
    cpis_message_free(&b);
    /* gzip recognised by its magic bytes when the host did not say */
    ev = mesh_event(gz, zlen, NULL, NULL, NULL);
    assert_int_equal(cpis_parse_event(&ev, 1 << 20, &b, &e), CPIS_MSG_OK);
    assert_string_equal(a.v[0].message_id, b.v[0].message_id);
    cpis_message_free(&b);
    /* the limit applies to the inflated bytes: too_large just below them */
    ev = mesh_event(gz, zlen, "gzip", NULL, NULL);
    assert_int_equal(cpis_parse_event(&ev, len - 1, &b, &e), CPIS_MSG_TOO_LARGE);
    assert_non_null(strstr(e.detail, "inflates past"));
    assert_int_equal(cpis_parse_event(&ev, len, &b, &e), CPIS_MSG_OK);
    cpis_message_free(&b);
    /* Compress Y on a payload that is not gzip; a truncated one; an
     * encoding the plugin does not know */
    ev = mesh_event(plain, len, "gzip", NULL, NULL);
    assert_int_equal(cpis_parse_event(&ev, 1 << 20, &b, &e), CPIS_MSG_BAD_ENCODING);
    ev = mesh_event(gz, zlen / 2, "gzip", NULL, NULL);
    assert_int_equal(cpis_parse_event(&ev, 1 << 20, &b, &e), CPIS_MSG_BAD_ENCODING);
    assert_non_null(strstr(e.detail, "truncated"));
    ev = mesh_event(plain, len, "br", NULL, NULL);
    assert_int_equal(cpis_parse_event(&ev, 1 << 20, &b, &e), CPIS_MSG_BAD_ENCODING);
    /* a MESH report: ignored, whatever the payload (here none) */
    ev = mesh_event(NULL, 0, NULL, "Report", "CPIS_UPLOAD");
    assert_int_equal(cpis_parse_event(&ev, 1 << 20, &b, &e), CPIS_MSG_OK);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.v[0].kind, REC_KIND_IGNORED);
    assert_string_equal(b.v[0].reason, "mesh_report");
    assert_string_equal(b.v[0].message_id, "20240316101530447120_9B2D41");
    assert_string_equal(b.v[0].workflow_id, "CPIS_UPLOAD");
    assert_int_equal(b.v[0].n_access, 0);
    cpis_message_free(&b);
    /* an ABI 1.0 host's shorter event: the appended fields are not read */
    ev = mesh_event(plain, len, "gzip", "Report", "X");
    ev.struct_size = (uint32_t)offsetof(struct cpis_event, content_encoding);
    assert_int_equal(cpis_parse_event(&ev, 1 << 20, &b, &e), CPIS_MSG_OK);
    assert_int_equal(b.v[0].kind, a.v[0].kind);
    assert_string_equal(b.v[0].workflow_id, "");
    cpis_message_free(&b);
    cpis_message_free(&a);
    free(gz);
    free(plain);
}

/* A small file that inflates far past the limit stops one byte past it. */
static void test_gzip_bomb(void **state)
{
    (void)state;
    size_t big = 32u << 20, zlen = 0;
    uint8_t *zeros = calloc(1, big);
    assert_non_null(zeros);
    uint8_t *gz = gzip_buf(zeros, big, &zlen);
    free(zeros);
    assert_true(zlen < 64 * 1024);
    uint8_t *out = NULL;
    size_t olen = 0;
    struct cpis_parse_error e;
    assert_int_equal(cpis_gunzip(gz, zlen, 1 << 20, &out, &olen, &e), CPIS_MSG_TOO_LARGE);
    assert_null(out);
    assert_int_equal(cpis_gunzip(gz, zlen, big, &out, &olen, &e), CPIS_MSG_OK);
    assert_int_equal(olen, big);
    free(out);
    /* two gzip members one after the other are one payload */
    uint8_t two[8];
    memcpy(two, "abcdefgh", 8);
    size_t l1, l2;
    uint8_t *g1 = gzip_buf(two, 4, &l1), *g2 = gzip_buf(two + 4, 4, &l2);
    uint8_t *cat = malloc(l1 + l2);
    memcpy(cat, g1, l1);
    memcpy(cat + l1, g2, l2);
    assert_int_equal(cpis_gunzip(cat, l1 + l2, 100, &out, &olen, &e), CPIS_MSG_OK);
    assert_int_equal(olen, 8);
    assert_memory_equal(out, "abcdefgh", 8);
    free(out);
    free(cat);
    free(g1);
    free(g2);
    free(gz);
}

int main(void)
{
    init_paths();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_too_large_before_parsing),
        cmocka_unit_test(test_empty_and_sniffing),
        cmocka_unit_test(test_encoding_checks),
        cmocka_unit_test(test_every_code_in_memory),
        cmocka_unit_test(test_attribute_limit),
        cmocka_unit_test(test_xxe_never_leaks),
        cmocka_unit_test(test_stderr_silent),
        cmocka_unit_test(test_mesh_ctl),
        cmocka_unit_test(test_mesh_delivery),
        cmocka_unit_test(test_gzip_bomb),
        cmocka_unit_test(test_entity_loader),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
