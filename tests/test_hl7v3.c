/*
 * test_hl7v3.c - the HL7 V3 reader against the published CP-IS schema
 * shapes: every field of every HL7 V3 sample; the real-shape files of
 * tests/data/hl7ok (several queries and record accesses, SOAP, ITK and MCCI
 * wrappers, a container of two, an inactive notification with two subjects,
 * an upload acknowledgement); the count check; reading by namespace, name
 * and identifier root whatever the order, prefix, comments or foreign
 * elements; HL7 timestamps without an offset (Europe/London, both clock
 * changes), with fractions, and dates alone.
 *
 * Files are found through CPIS_SAMPLES (the samples folder; the test data
 * is "$CPIS_SAMPLES/../tests/data"), falling back to "samples" and
 * "tests/data" relative to the current directory (the repo root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ids.h"
#include "parse.h"

#define LIMIT (1024u * 1024u)

static char *load_path(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        print_error("cannot open %s\n", path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while (buf != NULL && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (nb == NULL)
                free(buf);
            buf = nb;
        }
    }
    fclose(f);
    if (buf != NULL)
        buf[n] = '\0';
    *len = n;
    return buf;
}

static const char *samples_dir(void)
{
    const char *dir = getenv("CPIS_SAMPLES");
    return dir != NULL && dir[0] ? dir : "samples";
}

static char *load_sample(const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", samples_dir(), rel);
    return load_path(path, len);
}

static char *load_ok(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/../tests/data/hl7ok/%s", samples_dir(), name);
    return load_path(path, len);
}

static void iso(int64_t t, char *out)
{
    cpis_iso_format(t, out, 32);
}

static int parse_str(const char *s, struct cpis_message *m, struct cpis_parse_error *e)
{
    memset(e, 0, sizeof *e);
    return cpis_parse_message((const uint8_t *)s, strlen(s), "application/xml", LIMIT, m, e);
}

/* Replace the first occurrence of old in s by new (malloc'd result). */
static char *replace1(const char *s, const char *old, const char *new)
{
    const char *p = strstr(s, old);
    assert_non_null(p);
    size_t a = (size_t)(p - s), lo = strlen(old), ln = strlen(new), ls = strlen(s);
    char *r = malloc(ls - lo + ln + 1);
    assert_non_null(r);
    memcpy(r, s, a);
    memcpy(r + a, new, ln);
    memcpy(r + a + ln, p + lo, ls - a - lo + 1);
    return r;
}

/* Cut the element that starts with `open` and ends with the first `close`
 * after it; returns the rest (malloc'd) and the cut text in *cut. */
static char *cut_out(const char *s, const char *open, const char *close, char **cut)
{
    const char *a = strstr(s, open);
    assert_non_null(a);
    const char *b = strstr(a, close);
    assert_non_null(b);
    b += strlen(close);
    size_t na = (size_t)(a - s), nc = (size_t)(b - a);
    *cut = malloc(nc + 1);
    assert_non_null(*cut);
    memcpy(*cut, a, nc);
    (*cut)[nc] = '\0';
    char *r = malloc(strlen(s) - nc + 1);
    assert_non_null(r);
    memcpy(r, s, na);
    strcpy(r + na, b);
    return r;
}

/* ------------------------------------------------------------------------ */
/* Every HL7 V3 sample, field by field                                       */
/* ------------------------------------------------------------------------ */

struct exp_access {
    const char *at, *nhs, *la_child, *access_id;
    int author_kind;
    const char *viewer, *role, *role_name, *user, *profile, *asid;
    const char *loc;
    int site;
    const char *loc_name;
};

struct exp_msg {
    const char *file;
    int kind;
    const char *id, *created, *la;
    long total;
    size_t n;
    struct exp_access acc[3];
};

#define UPLOAD "706_CPIS_20240301.csv"
#define CHILD "9449305552"
#define LA_CHILD "STAFFS-CP-0412"
#define HPAR "Health Professional Access Role"
#define MEDP "Medical Practitioner"
#define NAR "Nurse Access Role"

static const struct exp_msg expected[] = {
    /* no UTC offset on the wire: UK local time, GMT in March */
    {"cascade/01-nhs111.xml", REC_KIND_ACCESS, "3F2A9C14-7B1E-4D6A-9E35-1C8B04D2A701",
     "2024-03-15T14:04:00Z", "706", 1, 1,
     {{"2024-03-15T14:02:00Z", CHILD, LA_CHILD, "5E1C899C-CC1F-5531-97A3-F05B82A53DAC",
       AUTHOR_SYSTEM, "Jo Clarke", "R8003", HPAR, "", "", "200000001234", "QQ1", 0,
       "KESTRELMOOR HEALTH CARE CIC - NHS 111 WEST MIDLANDS"}}},
    {"cascade/02-ambulance-control.xml", REC_KIND_ACCESS,
     "8D4E61B2-0C93-4F7A-A5D8-2E9B17C3F402", "2024-03-15T14:07:11Z", "706", 1, 1,
     {{"2024-03-15T14:05:00Z", CHILD, LA_CHILD, "DA6EEED1-D9B3-57DD-BFFB-690F92523A5D",
       AUTHOR_PERSON, "Megan Hughes", "R8003", HPAR, "555123400002", "555123400102", "",
       "QQA01", 1, "WMAS CRESTWOOD EMERGENCY OPERATIONS CENTRE"}}},
    {"cascade/04-emergency-department.xml", REC_KIND_ACCESS,
     "C7B09A3E-51D4-4E2B-8F16-9A3D52E0B604", "2024-03-15T15:13:42Z", "706", 1, 1,
     {{"2024-03-15T15:10:00Z", CHILD, LA_CHILD, "209673BE-ABFB-5529-8CB6-B5998EB9F400",
       AUTHOR_PERSON, "Dr Sam Patel", "R0260", MEDP, "555123400004", "555123400104", "",
       "RJE01", 1, "ROYAL STOKE UNIVERSITY HOSPITAL"}}},
    {"cascade/05-ward.xml", REC_KIND_ACCESS, "E2A5F7C1-93B8-4D0E-B7A4-6C1F08D9E305",
     "2024-03-15T18:49:03Z", "706", 1, 1,
     {{"2024-03-15T18:45:00Z", CHILD, LA_CHILD, "12009EA8-2976-51D3-B9DD-0325C65A3DD8",
       AUTHOR_PERSON, "Olivia Bennett", "R8001", NAR, "555123400005", "555123400105", "",
       "RJE01", 1, "ROYAL STOKE UNIVERSITY HOSPITAL"}}},
    /* two record accesses (two children), one query each */
    {"messages/multi-access.xml", REC_KIND_ACCESS, "0B6D2F94-A3C1-4E57-9D08-71E4C5B2A9F3",
     "2024-03-18T09:30:15Z", "706", 2, 2,
     {{"2024-03-18T09:12:00Z", "9000000009", "STAFFS-CP-0388",
       "5B05F221-24D3-54F4-A123-D5E70B536367", AUTHOR_PERSON, "Dr Amira Khan", "R0260", MEDP,
       "555123400011", "555123400111", "", "RR801", 1, "LEEDS GENERAL INFIRMARY"},
      {"2024-03-18T09:25:00Z", "4010232137", "", "2B51CF3A-32F3-57A5-9D5E-67A737ACDE5C",
       AUTHOR_PERSON, "Tom Reid", "R8003", HPAR, "555123400012", "555123400112", "", "QQE09",
       1, "STAFFORD BRIARWOOD HOSPITAL"}}},
    {"messages/closed-child-2024-01-10.xml", REC_KIND_ACCESS,
     "5E8F0A21-C4B7-4D93-A16E-2F7B9C0D1E10", "2024-01-10T10:15:30Z", "706", 1, 1,
     {{"2024-01-10T10:12:00Z", "4010232137", "", "2A794C39-5686-52BA-8962-71B7EFE0422F",
       AUTHOR_PERSON, "Dr Lena Fischer", "R0260", MEDP, "555123400021", "555123400121", "",
       "RJE01", 1, "ROYAL STOKE UNIVERSITY HOSPITAL"}}},
    {"messages/closed-child-2024-02-20.xml", REC_KIND_ACCESS,
     "6F9A1B32-D5C8-4EA4-B27F-3A8C0D1E2F20", "2024-02-20T22:48:02Z", "706", 1, 1,
     {{"2024-02-20T22:40:00Z", "4010232137", "", "C2B19E89-C8EC-58A4-9EB6-BF559ECA09EA",
       AUTHOR_PERSON, "Chris Doyle", "R8003", HPAR, "555123400022", "555123400122", "",
       "Q99620", 0, "ROWANBANK DOCTORS URGENT CARE OOH"}}},
    {"messages/closed-child-2024-04-02.xml", REC_KIND_ACCESS,
     "7A0B2C43-E6D9-4FB5-838A-4B9D1E2F3A02", "2024-04-02T07:11:55Z", "706", 1, 1,
     {{"2024-04-02T07:05:00Z", "4010232137", "", "E35317CA-3256-59D2-9B2C-0FD11D0997C1",
       AUTHOR_PERSON, "Sian Morgan", "R8003", HPAR, "555123400023", "555123400123", "", "RX7",
       0, "NORTH WEST AMBULANCE SERVICE NHS TRUST"}}},
    {"messages/unknown-child-walk-in.xml", REC_KIND_ACCESS,
     "9C1D3E54-F7EA-4A06-9B4C-5D0E1F2A3B20", "2024-03-20T11:22:33Z", "706", 1, 1,
     {{"2024-03-20T11:15:00Z", "6281948211", "", "D452CCC0-21AF-5CEA-A217-BF1CA04993A2",
       AUTHOR_PERSON, "Hannah Wright", "R8001", NAR, "555123400031", "555123400131", "",
       "Q99010", 0, "HANLEY FERNWICK WALK-IN CENTRE"}}},
    {"messages/unknown-ods-code.xml", REC_KIND_ACCESS, "AD2E4F65-08FB-4B17-AC5D-6E1F2A3B4C21",
     "2024-03-22T15:30:00Z", "706", 1, 1,
     {{"2024-03-22T15:20:00Z", "1860913903", "STAFFS-CP-0455",
       "B096F548-9916-591F-B2FD-C9EE9BAA3F7B", AUTHOR_PERSON, "Ravi Menon", "R8003", HPAR,
       "555123400041", "555123400141", "", "QQZ01", 0, "MOBILE HEALTH UNIT"}}},
    {"messages/empty.xml", REC_KIND_EMPTY, "BE3F5A76-19AC-4C28-BD6E-7F2A3B4C5D22",
     "2024-03-23T06:00:00Z", "706", 0, 0, {{0}}},
    {"messages/offset-fractional.xml", REC_KIND_ACCESS, "D05B7C98-3BCE-4E4A-9F80-9B4C5D6E7F24",
     /* 20240322000501.2-0500 and 20240321234512.345+0100 */
     "2024-03-22T05:05:01Z", "706", 1, 1,
     {{"2024-03-21T22:45:12Z", "9000000009", "", "77CB0315-DD6B-5553-9612-54FD224FD6E4",
       AUTHOR_PERSON, "Kwame Mensah", "R8003", HPAR, "555123400051", "555123400151", "",
       "Q99700", 0, "CANNOCK HEATHERSIDE URGENT TREATMENT CENTRE"}}},
    {"messages/explicit-prefix.xml", REC_KIND_ACCESS, "E16C8DA9-4CDF-4F5B-A091-AC5D6E7F8025",
     "2024-03-25T14:15:00Z", "706", 1, 1,
     {{"2024-03-25T14:10:00Z", "9960308243", "", "64785004-0525-5027-B004-60FBD4999E27",
       AUTHOR_PERSON, "Dr Eleanor Shaw", "R0260", MEDP, "555123400061", "555123400161", "",
       "Q99001", 0, "THISTLEGATE MEDICAL PRACTICE"}}},
    /* the same notification as cascade/01, delivered as a MESH pair */
    {"mesh/20240315140530_000001.dat", REC_KIND_ACCESS, "3F2A9C14-7B1E-4D6A-9E35-1C8B04D2A701",
     "2024-03-15T14:04:00Z", "706", 1, 1,
     {{"2024-03-15T14:02:00Z", CHILD, LA_CHILD, "5E1C899C-CC1F-5531-97A3-F05B82A53DAC",
       AUTHOR_SYSTEM, "Jo Clarke", "R8003", HPAR, "", "", "200000001234", "QQ1", 0,
       "KESTRELMOOR HEALTH CARE CIC - NHS 111 WEST MIDLANDS"}}},
};

static void check_access(const struct cpis_access *a, const struct exp_access *e,
                         const char *upload)
{
    char t[32];
    iso(a->accessed_at, t);
    assert_string_equal(t, e->at);
    assert_string_equal(a->nhs_number, e->nhs);
    assert_string_equal(a->la_child_id, e->la_child);
    assert_string_equal(a->access_id, e->access_id);
    assert_string_equal(a->upload_file, upload);
    assert_int_equal(a->author_kind, e->author_kind);
    assert_string_equal(a->viewer, e->viewer);
    assert_string_equal(a->viewer_role, e->role);
    assert_string_equal(a->viewer_role_name, e->role_name);
    assert_string_equal(a->viewer_user_id, e->user);
    assert_string_equal(a->viewer_role_profile, e->profile);
    assert_string_equal(a->system_asid, e->asid);
    assert_string_equal(a->system_name, ""); /* an HL7 V3 system has no name */
    assert_string_equal(a->location_code, e->loc);
    assert_int_equal(a->location_is_site, e->site);
    assert_string_equal(a->location_name, e->loc_name);
    /* enrichment is not the parser's job */
    assert_string_equal(a->resolved_name, "");
    assert_string_equal(a->setting, "");
    assert_int_equal(a->resolved, 0);
}

static void check_msg(const struct cpis_message *m, const struct exp_msg *e)
{
    assert_int_equal(m->n, 1);
    const struct cpis_notification *n = &m->v[0];
    char t[32];
    assert_int_equal(n->format, REC_FORMAT_HL7V3);
    assert_int_equal(n->kind, e->kind);
    assert_string_equal(n->message_id, e->id);
    iso(n->created, t);
    assert_string_equal(t, e->created);
    assert_string_equal(n->la_code, e->la);
    assert_int_equal(n->total_records, e->total);
    assert_string_equal(n->reason, "");
    assert_int_equal(n->n_inactive, 0);
    assert_int_equal(n->n_access, e->n);
    if (e->n == 0)
        assert_null(n->access);
    for (size_t i = 0; i < e->n; i++)
        check_access(&n->access[i], &e->acc[i], UPLOAD);
}

static void test_sample(void **state)
{
    const struct exp_msg *e = *state;
    size_t len = 0;
    char *buf = load_sample(e->file, &len);
    assert_non_null(buf);

    struct cpis_message m;
    struct cpis_parse_error err;
    memset(&err, 0, sizeof err);
    int rc = cpis_parse_message((const uint8_t *)buf, len, "application/xml", LIMIT, &m, &err);
    if (rc != CPIS_MSG_OK)
        print_error("%s: %d %s\n", e->file, rc, err.detail);
    assert_int_equal(rc, CPIS_MSG_OK);
    check_msg(&m, e);
    cpis_message_free(&m);
    assert_null(m.v);

    /* sniffed without a content type, and the HL7 reader called directly */
    assert_int_equal(cpis_parse_message((const uint8_t *)buf, len, NULL, LIMIT, &m, &err),
                     CPIS_MSG_OK);
    check_msg(&m, e);
    cpis_message_free(&m);
    assert_int_equal(cpis_parse_hl7v3((const uint8_t *)buf, len, &m, &err), CPIS_MSG_OK);
    check_msg(&m, e);
    cpis_message_free(&m);
    free(buf);
}

/* ------------------------------------------------------------------------ */
/* Inactive NHS Number: every subject its own item                           */
/* ------------------------------------------------------------------------ */

static void test_inactive_subjects(void **state)
{
    (void)state;
    size_t len;
    char *buf = load_sample("messages/inactive-nhs-number.xml", &len);
    assert_non_null(buf);
    struct cpis_message m;
    struct cpis_parse_error e;
    assert_int_equal(cpis_parse_message((const uint8_t *)buf, len, NULL, LIMIT, &m, &e),
                     CPIS_MSG_OK);
    assert_int_equal(m.n, 1);
    const struct cpis_notification *n = &m.v[0];
    char t[32];
    assert_int_equal(n->kind, REC_KIND_INACTIVE);
    assert_string_equal(n->message_id, "CF4A6B87-2ABD-4D39-8E7F-8A3B4C5D6E23");
    iso(n->created, t);
    assert_string_equal(t, "2024-03-24T09:00:00Z");
    assert_string_equal(n->la_code, "706");
    assert_int_equal(n->n_access, 0);
    assert_int_equal(n->n_inactive, 2);
    assert_string_equal(n->inactive[0].nhs_number, "9378657974");
    assert_string_equal(n->inactive[0].replacement_nhs_number, "9434765919");
    assert_string_equal(n->inactive[0].la_child_id, "STAFFS-CP-0390");
    assert_string_equal(n->inactive[0].upload_file, UPLOAD);
    assert_string_equal(n->inactive[1].nhs_number, "5990128088");
    assert_string_equal(n->inactive[1].replacement_nhs_number, "");
    assert_string_equal(n->inactive[1].la_child_id, "STAFFS-LAC-0107");
    assert_string_equal(n->inactive[1].upload_file, UPLOAD);
    cpis_message_free(&m);
    free(buf);
}

/* ------------------------------------------------------------------------ */
/* Several queries and record accesses; wrappers; containers                 */
/* ------------------------------------------------------------------------ */

#define MANY_ID "5D7E9A1C-3B2F-4E6D-8A0C-1F3E5B7D9A21"

/* tests/data/hl7ok/several-queries-and-records.xml, whatever wraps it. */
static void check_many(const struct cpis_notification *n)
{
    static const struct exp_access acc[3] = {
        /* 20240620094500, no offset: BST */
        {"2024-06-20T08:45:00Z", CHILD, LA_CHILD, "A3EDF232-15D4-52D2-A713-A80D2FD55252",
         AUTHOR_PERSON, "Dr Sam Patel", "R0260", MEDP, "555123400004", "555123400104", "",
         "RJE01", 1, "ROYAL STOKE UNIVERSITY HOSPITAL"},
        /* 20240620095512.25: a fraction, no offset */
        {"2024-06-20T08:55:12Z", CHILD, "", "554EDE15-C55E-5B74-B048-53A4D9E0B752",
         AUTHOR_SYSTEM, "Jo Clarke", "R8003", HPAR, "", "", "200000001234", "QQ1", 0,
         "KESTRELMOOR HEALTH CARE CIC - NHS 111 WEST MIDLANDS"},
        /* 20240620100102+0100 */
        {"2024-06-20T09:01:02Z", "9000000009", "STAFFS-CP-0388",
         "EFB60DA2-D529-50B4-8904-094B6FE84608", AUTHOR_PERSON, "Dr Sam Patel", "R0260", MEDP,
         "555123400004", "555123400104", "", "RJE01", 1, "ROYAL STOKE UNIVERSITY HOSPITAL"},
    };
    char t[32];
    assert_int_equal(n->kind, REC_KIND_ACCESS);
    assert_string_equal(n->message_id, MANY_ID);
    iso(n->created, t);
    assert_string_equal(t, "2024-06-20T09:15:00Z");
    assert_int_equal(n->total_records, 3);
    assert_int_equal(n->n_access, 3);
    /* the upload file belongs to each record access */
    check_access(&n->access[0], &acc[0], "706_CPIS_20240601.csv");
    check_access(&n->access[1], &acc[1], "706_CPIS_20240601.csv");
    check_access(&n->access[2], &acc[2], "706_CPIS_20240515.csv");
}

static void check_two_subjects(const struct cpis_notification *n)
{
    char t[32];
    assert_int_equal(n->kind, REC_KIND_INACTIVE);
    assert_string_equal(n->message_id, "8B0D2F4A-6C8E-4A0C-9E2A-4C6E8A0C2E4B");
    iso(n->created, t);
    /* 20241027013000: the repeated October hour, read as its first (BST) */
    assert_string_equal(t, "2024-10-27T00:30:00Z");
    assert_int_equal(n->n_inactive, 2);
    assert_string_equal(n->inactive[0].nhs_number, "9378657974");
    assert_string_equal(n->inactive[0].replacement_nhs_number, "9434765919");
    assert_string_equal(n->inactive[0].upload_file, "706_CPIS_20241001.csv");
    assert_string_equal(n->inactive[1].nhs_number, "5990128088");
    assert_string_equal(n->inactive[1].replacement_nhs_number, "");
    assert_string_equal(n->inactive[1].la_child_id, "");
    assert_string_equal(n->inactive[1].upload_file, "706_CPIS_20240915.csv");
}

static void parse_ok_file(const char *name, struct cpis_message *m)
{
    size_t len;
    char *buf = load_ok(name, &len);
    assert_non_null(buf);
    struct cpis_parse_error e;
    int rc = cpis_parse_message((const uint8_t *)buf, len, NULL, LIMIT, m, &e);
    if (rc != CPIS_MSG_OK)
        print_error("%s: %d %s\n", name, rc, e.detail);
    assert_int_equal(rc, CPIS_MSG_OK);
    free(buf);
}

static void test_several_queries_and_wrappers(void **state)
{
    (void)state;
    static const char *const files[] = {"several-queries-and-records.xml", "soap-wrapped.xml",
                                        "itk-wrapped.xml", "mcci-wrapped.xml"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        struct cpis_message m;
        parse_ok_file(files[i], &m);
        assert_int_equal(m.n, 1);
        check_many(&m.v[0]);
        cpis_message_free(&m);
    }
}

static void test_container_and_inactive_file(void **state)
{
    (void)state;
    struct cpis_message m;
    parse_ok_file("container-two.xml", &m);
    assert_int_equal(m.n, 2); /* two notifications, in document order */
    check_many(&m.v[0]);
    check_two_subjects(&m.v[1]);
    cpis_message_free(&m);
    parse_ok_file("inactive-two-subjects.xml", &m);
    assert_int_equal(m.n, 1);
    check_two_subjects(&m.v[0]);
    cpis_message_free(&m);
}

static void test_file_response_ignored(void **state)
{
    (void)state;
    struct cpis_message m;
    parse_ok_file("file-response.xml", &m);
    assert_int_equal(m.n, 1);
    const struct cpis_notification *n = &m.v[0];
    assert_int_equal(n->kind, REC_KIND_IGNORED);
    assert_non_null(strstr(n->reason, "FileResponse"));
    assert_non_null(strstr(n->reason, "not a notification"));
    assert_int_equal(n->n_access, 0);
    assert_int_equal(n->n_inactive, 0);
    assert_string_equal(n->la_code, "706");
    cpis_message_free(&m);
    /* the same acknowledgement in samples/ */
    size_t len;
    char *buf = load_sample("messages/upload-acknowledgement.xml", &len);
    assert_non_null(buf);
    struct cpis_parse_error e;
    assert_int_equal(cpis_parse_message((const uint8_t *)buf, len, NULL, LIMIT, &m, &e),
                     CPIS_MSG_OK);
    assert_int_equal(m.v[0].kind, REC_KIND_IGNORED);
    cpis_message_free(&m);
    free(buf);
}

/* A bad notification in a container rejects the whole file (quarantined
 * whole: nothing lost), and the detail says which one. */
static void test_container_with_a_bad_one(void **state)
{
    (void)state;
    size_t len;
    char *buf = load_ok("container-two.xml", &len);
    assert_non_null(buf);
    char *bad = replace1(buf, "extension=\"5990128088\"", "extension=\"5990128089\"");
    struct cpis_message m;
    struct cpis_parse_error e;
    assert_int_equal(parse_str(bad, &m, &e), CPIS_MSG_INVALID_NHS_NUMBER);
    assert_null(m.v);
    assert_int_equal(m.n, 0);
    assert_non_null(strstr(e.detail, "(subject 2)"));
    assert_non_null(strstr(e.detail, "(notification 2)"));
    assert_null(strstr(e.detail, "599012808"));
    free(bad);
    free(buf);
}

/* ------------------------------------------------------------------------ */
/* Never a silent empty                                                      */
/* ------------------------------------------------------------------------ */

static char *with_total(const char *doc, const char *from, const char *to)
{
    return replace1(doc, from, to);
}

static void test_count_check(void **state)
{
    (void)state;
    size_t len;
    char *buf = load_ok("several-queries-and-records.xml", &len);
    assert_non_null(buf);
    struct cpis_message m;
    struct cpis_parse_error e;

    /* stated 4, holds 3: missing_field naming the shortfall, never empty */
    char *d = with_total(buf, "<value value=\"3\"/>", "<value value=\"4\"/>");
    assert_int_equal(parse_str(d, &m, &e), CPIS_MSG_MISSING_FIELD);
    assert_non_null(strstr(e.detail, "states 4"));
    assert_non_null(strstr(e.detail, "holds 3"));
    assert_non_null(strstr(e.detail, "1 missing"));
    assert_null(m.v);
    free(d);

    /* stated 2, holds 3: refused too (which count is true is unknown) */
    d = with_total(buf, "<value value=\"3\"/>", "<value value=\"2\"/>");
    assert_int_equal(parse_str(d, &m, &e), CPIS_MSG_MALFORMED);
    free(d);

    /* the second record access gone: stated 3, holds 2 */
    char *cut = NULL;
    char *first = strstr(buf, "<pertinentInformation1>");
    assert_non_null(first);
    char *rest = cut_out(first + 1, "<pertinentInformation1>", "</pertinentInformation1>", &cut);
    size_t head = (size_t)(first + 1 - buf);
    char *d2 = malloc(head + strlen(rest) + 1);
    assert_non_null(d2);
    memcpy(d2, buf, head);
    strcpy(d2 + head, rest);
    assert_int_equal(parse_str(d2, &m, &e), CPIS_MSG_MISSING_FIELD);
    assert_non_null(strstr(e.detail, "holds 2"));
    /* ... and stating 2 makes it whole again */
    char *d3 = with_total(d2, "<value value=\"3\"/>", "<value value=\"2\"/>");
    assert_int_equal(parse_str(d3, &m, &e), CPIS_MSG_OK);
    assert_int_equal(m.v[0].n_access, 2);
    cpis_message_free(&m);
    free(d3);
    free(d2);
    free(rest);
    free(cut);

    /* a nil record access where the count says there is one */
    d = replace1(buf, "<pertinentInformation1>",
                 "<pertinentInformation1 xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
                 " xsi:nil=\"true\"/>\n  <pertinentInformation1>");
    char *d4 = with_total(d, "<value value=\"3\"/>", "<value value=\"3\"/>");
    assert_int_equal(parse_str(d4, &m, &e), CPIS_MSG_OK); /* nil adds no access */
    assert_int_equal(m.v[0].n_access, 3);
    cpis_message_free(&m);
    free(d4);
    free(d);

    /* empty: only a stated 0 with no access */
    d = load_sample("messages/empty.xml", &len);
    assert_non_null(d);
    assert_int_equal(parse_str(d, &m, &e), CPIS_MSG_OK);
    assert_int_equal(m.v[0].kind, REC_KIND_EMPTY);
    assert_int_equal(m.v[0].total_records, 0);
    cpis_message_free(&m);
    char *d5 = with_total(d, "<value value=\"0\"/>", "<value value=\"1\"/>");
    assert_int_equal(parse_str(d5, &m, &e), CPIS_MSG_MISSING_FIELD);
    free(d5);
    /* and no stated count at all is not an empty notification either */
    char *gone = NULL;
    char *d6 = cut_out(d, "<pertinentInformation>", "</pertinentInformation>", &gone);
    assert_int_equal(parse_str(d6, &m, &e), CPIS_MSG_MISSING_FIELD);
    assert_non_null(strstr(e.detail, "pertinentInformation"));
    free(d6);
    free(gone);
    free(d);
    free(buf);
}

/* ------------------------------------------------------------------------ */
/* By namespace, name and root: never by order, position or prefix           */
/* ------------------------------------------------------------------------ */

static void test_order_prefix_comments_foreign(void **state)
{
    (void)state;
    size_t len;
    char *buf = load_ok("several-queries-and-records.xml", &len);
    assert_non_null(buf);
    struct cpis_message m;
    struct cpis_parse_error e;

    /* the recipient first, the record accesses last */
    char *rcp = NULL;
    char *a = cut_out(buf, "<primaryInformationRecipient>", "</primaryInformationRecipient>",
                      &rcp);
    char *with = malloc(strlen(rcp) + 64);
    assert_non_null(with);
    sprintf(with, "%s\n  <effectiveTime ", rcp);
    char *b = replace1(a, "<effectiveTime ", with);
    /* the reference before the queries; the LA child id before the NHS
     * number; the organisation id after its name; a comment, a foreign
     * element and a processing instruction on the access path */
    char *ref = NULL;
    char *c = cut_out(b, "<reference>", "</reference>", &ref);
    char *with2 = malloc(strlen(ref) + 64);
    assert_non_null(with2);
    sprintf(with2, "%s\n      <pertinentInformation2>", ref);
    char *d = replace1(c, "<pertinentInformation2>", with2);
    char *f = replace1(d, "<value root=\"2.16.840.1.113883.2.1.4.1\" extension=\"9449305552\"/>",
                       "<!-- the child --><x:note xmlns:x=\"urn:vendor\">9449305552</x:note>"
                       "<?vendor hint?>"
                       "<value root=\"2.16.840.1.113883.2.1.3.2.4.18.24\" "
                       "extension=\"STAFFS-CP-0412\"/>"
                       "<value root=\"2.16.840.1.113883.2.1.4.1\" extension=\"9449305552\"/>");
    char *g = replace1(f, "<value root=\"2.16.840.1.113883.2.1.3.2.4.18.24\" "
                          "extension=\"STAFFS-CP-0412\"/>\n",
                       "\n"); /* the original second value, now a duplicate */
    assert_int_equal(parse_str(g, &m, &e), CPIS_MSG_OK);
    check_many(&m.v[0]);
    cpis_message_free(&m);

    /* any prefix, and the default namespace on an inner element only */
    char *p = replace1(buf, "<CP-ISAccessToServiceNotification xmlns=\"urn:hl7-org:v3\"",
                       "<v3:CP-ISAccessToServiceNotification xmlns:v3=\"urn:hl7-org:v3\"");
    char *p2 = replace1(p, "</CP-ISAccessToServiceNotification>",
                        "</v3:CP-ISAccessToServiceNotification>");
    /* the children still use the default namespace: they are not HL7 now */
    assert_int_not_equal(parse_str(p2, &m, &e), CPIS_MSG_OK);
    char *p3 = replace1(p2, "xmlns:v3=\"urn:hl7-org:v3\"",
                        "xmlns:v3=\"urn:hl7-org:v3\" xmlns=\"urn:hl7-org:v3\"");
    assert_int_equal(parse_str(p3, &m, &e), CPIS_MSG_OK);
    check_many(&m.v[0]);
    cpis_message_free(&m);

    free(p3);
    free(p2);
    free(p);
    free(g);
    free(f);
    free(d);
    free(with2);
    free(c);
    free(ref);
    free(b);
    free(with);
    free(a);
    free(rcp);
    free(buf);
}

/* White space between elements is indentation whatever its amount (none,
 * or more); inside a name it separates words, even between elements the
 * reader does not know; comments, character and entity references in a
 * value read as their text. */
static char *replace_every(const char *s, const char *old, const char *new)
{
    size_t ol = strlen(old), nl = strlen(new), n = 0;
    for (const char *p = strstr(s, old); p != NULL; p = strstr(p + ol, old))
        n++;
    char *out = malloc(strlen(s) + n * nl + 1);
    assert_non_null(out);
    char *w = out;
    for (const char *p = s;;) {
        const char *q = strstr(p, old);
        size_t k = q != NULL ? (size_t)(q - p) : strlen(p);
        memcpy(w, p, k);
        w += k;
        if (q == NULL)
            break;
        memcpy(w, new, nl);
        w += nl;
        p = q + ol;
    }
    *w = '\0';
    return out;
}

static void test_white_space_and_names(void **state)
{
    (void)state;
    size_t len;
    char *buf = load_ok("several-queries-and-records.xml", &len);
    assert_non_null(buf);
    struct cpis_message m;
    struct cpis_parse_error e;

    /* no indentation at all, then twice as much */
    char *flat = malloc(len + 1);
    assert_non_null(flat);
    size_t w = 0;
    for (size_t r = 0; r < len; r++) {
        if (buf[r] == '>') {
            size_t k = r + 1;
            while (k < len && (buf[k] == ' ' || buf[k] == '\n' || buf[k] == '\r'))
                k++;
            flat[w++] = '>';
            if (k < len && buf[k] == '<')
                r = k - 1;
            continue;
        }
        flat[w++] = buf[r];
    }
    flat[w] = '\0';
    assert_null(strstr(flat, ">\n<"));
    assert_null(strstr(flat, ">\n "));
    assert_int_equal(parse_str(flat, &m, &e), CPIS_MSG_OK);
    check_many(&m.v[0]);
    cpis_message_free(&m);
    char *wide = replace_every(buf, "\n", "\n\t  \r\n  ");
    assert_int_equal(parse_str(wide, &m, &e), CPIS_MSG_OK);
    check_many(&m.v[0]);
    cpis_message_free(&m);

    /* names whose words sit in elements of another namespace, separated by
     * white space only: the words keep their space */
    char *d1 = replace1(buf, "<name>KESTRELMOOR HEALTH CARE CIC - NHS 111 WEST MIDLANDS</name>",
                        "<name><x:p xmlns:x=\"urn:vendor\">KESTRELMOOR</x:p>\n   "
                        "<x:p xmlns:x=\"urn:vendor\">111</x:p></name>");
    char *d2 = replace1(d1, "<name><given>Jo</given><family>Clarke</family></name>",
                        "<name>\n <x:p xmlns:x=\"urn:vendor\">Jo</x:p> "
                        "<x:p xmlns:x=\"urn:vendor\"><x:q>Clarke</x:q>  <x:q>Jr</x:q></x:p>"
                        "\n</name>");
    /* a comment inside a name; a character and an entity reference in
     * attribute values */
    char *d3 = replace1(d2, "<name>ROYAL STOKE UNIVERSITY HOSPITAL</name>",
                        "<name>ROYAL <!-- c --> STOKE</name>");
    char *d4 = replace1(d3, "extension=\"RJE01\"", "extension=\"RJE&#48;1\"");
    char *d5 = replace1(d4, "extension=\"706_CPIS_20240601.csv\"",
                        "extension=\"706&amp;CPIS.csv\"");
    assert_int_equal(parse_str(d5, &m, &e), CPIS_MSG_OK);
    assert_int_equal(m.v[0].n_access, 3);
    assert_string_equal(m.v[0].access[1].location_name, "KESTRELMOOR 111");
    assert_string_equal(m.v[0].access[1].viewer, "Jo Clarke Jr");
    assert_string_equal(m.v[0].access[0].location_name, "ROYAL STOKE");
    assert_string_equal(m.v[0].access[0].location_code, "RJE01");
    assert_string_equal(m.v[0].access[0].upload_file, "706&CPIS.csv");
    assert_string_equal(m.v[0].access[2].location_name, "ROYAL STOKE UNIVERSITY HOSPITAL");
    cpis_message_free(&m);
    /* and the same read directly, without the dispatcher's checks */
    assert_int_equal(cpis_parse_hl7v3((const uint8_t *)d5, strlen(d5), &m, &e), CPIS_MSG_OK);
    assert_string_equal(m.v[0].access[1].location_name, "KESTRELMOOR 111");
    assert_string_equal(m.v[0].access[1].viewer, "Jo Clarke Jr");
    cpis_message_free(&m);

    free(d5);
    free(d4);
    free(d3);
    free(d2);
    free(d1);
    free(wide);
    free(flat);
    free(buf);
}

/* An HL7 element the schema does not put on the access path: refused, so an
 * access is never skipped; the same element elsewhere (inside an author) or
 * in another namespace changes nothing. */
/* What the light tree (xml.c) must keep exactly as libxml2's own tree did:
 * text of names built from CDATA, references and mixed content; attribute
 * values whose references the parser rewrites; the errors libxml2's tree
 * building raised (xml:id, a node deeper than 256, a text node over ten
 * million bytes joined across white space libxml2 drops). */
static char *nested(int depth, const char *inner)
{
    size_t n = (size_t)depth * 7 + strlen(inner) + 1;
    char *s = malloc(n);
    assert_non_null(s);
    size_t w = 0;
    for (int i = 0; i < depth; i++)
        w += (size_t)sprintf(s + w, "<a>");
    w += (size_t)sprintf(s + w, "%s", inner);
    for (int i = 0; i < depth; i++)
        w += (size_t)sprintf(s + w, "</a>");
    return s;
}

static void test_light_tree_edges(void **state)
{
    (void)state;
    size_t len;
    char *buf = load_sample("messages/multi-access.xml", &len);
    assert_non_null(buf);
    struct cpis_message m;
    struct cpis_parse_error e;

    char *d1 = replace1(buf, "<name><prefix>Dr</prefix><given>Amira</given><family>Khan</family></name>",
                        "<name> <given>A<!--c-->my<![CDATA[ra]]></given>&amp;"
                        "<family>K&#104;an<?pi x?></family></name>");
    char *d2 = replace1(d1, "displayName=\"Medical Practitioner\"",
                        "displayName=\"a&amp;#38;b &lt;&#38;&#x26;\tc\"");
    assert_int_equal(parse_str(d2, &m, &e), CPIS_MSG_OK);
    assert_string_equal(m.v[0].access[0].viewer, "Amyra Khan");
    assert_string_equal(m.v[0].access[0].viewer_role_name, "a&#38;b <&& c");
    cpis_message_free(&m);

    /* xml:id: an NCName, once (libxml2 2.9.14 error codes) */
    char *d3 = replace1(buf, "displayName=\"Medical Practitioner\"",
                        "displayName=\"M\" xml:id=\"9\"");
    assert_int_equal(parse_str(d3, &m, &e), CPIS_MSG_MALFORMED);
    assert_non_null(strstr(e.detail, "libxml2 error 539 at line 19"));
    char *d4 = replace1(buf, "displayName=\"Medical Practitioner\"",
                        "displayName=\"M\" xml:id=\"x\"");
    assert_int_equal(parse_str(d4, &m, &e), CPIS_MSG_OK);
    cpis_message_free(&m);
    char *d5 = replace1(d4, "displayName=\"Health Professional Access Role\"",
                        "displayName=\"H\" xml:id=\"x\"");
    assert_int_equal(parse_str(d5, &m, &e), CPIS_MSG_MALFORMED);
    assert_non_null(strstr(e.detail, "libxml2 error 513 at line 55"));

    /* depth: 256 elements are fine, a 257th or anything inside the 256th
     * is not */
    static const char *const inner[] = {"", "t", "<!--c-->", "<?p?>", " ", "<a/>"};
    for (size_t i = 0; i < sizeof inner / sizeof inner[0]; i++) {
        char *deep = nested(256, inner[i]);
        int rc = cpis_parse_hl7v3((const uint8_t *)deep, strlen(deep), &m, &e);
        if (i == 0) {
            assert_int_equal(rc, CPIS_MSG_UNSUPPORTED); /* no payload, not too deep */
        } else {
            assert_int_equal(rc, CPIS_MSG_MALFORMED);
            assert_string_equal(e.detail, "XML nested deeper than 256");
        }
        free(deep);
    }

    /* a text node over 10 000 000 bytes: two CDATA sections between which
     * libxml2 drops the white space make one; text between them does not */
    size_t half = 6000000;
    char *huge = malloc(2 * half + 64);
    assert_non_null(huge);
    for (int sep = 0; sep < 2; sep++) {
        size_t w = (size_t)sprintf(huge, "<a><b/>\n <![CDATA[");
        memset(huge + w, 'x', half);
        w += half;
        w += (size_t)sprintf(huge + w, "]]>%s<![CDATA[", sep ? " t " : "\n ");
        memset(huge + w, 'y', half);
        w += half;
        w += (size_t)sprintf(huge + w, "]]></a>");
        int rc = cpis_parse_hl7v3((const uint8_t *)huge, w, &m, &e);
        if (sep == 0) {
            assert_int_equal(rc, CPIS_MSG_MALFORMED);
            assert_string_equal(e.detail, "XML not well-formed (libxml2 error 2 at line 3)");
        } else {
            assert_int_equal(rc, CPIS_MSG_UNSUPPORTED);
        }
    }
    free(huge);

    free(d5);
    free(d4);
    free(d3);
    free(d2);
    free(d1);
    free(buf);
}

static void test_unknown_elements(void **state)
{
    (void)state;
    size_t len;
    char *buf = load_ok("several-queries-and-records.xml", &len);
    assert_non_null(buf);
    struct cpis_message m;
    struct cpis_parse_error e;
    static const struct {
        const char *at, *insert;
        int want;
    } cases[] = {
        {"<pertinentInformation1>", "<pertinentInformation5/>", CPIS_MSG_UNSUPPORTED},
        {"<pertinentCP-ISRecordAccess>", "<pertinentInformation3/>", CPIS_MSG_UNSUPPORTED},
        {"<pertinentInformation2>", "<pertinentCP-ISNHSQueryV2/>", CPIS_MSG_UNSUPPORTED},
        {"<pertinentCP-ISNHSQuery>", "<subject/>", CPIS_MSG_UNSUPPORTED},
        {"<author>", "<COCT_TP145199GB01.Device/>", CPIS_MSG_UNSUPPORTED},
        {"<pertinentCP-ISRecordAccess>", "<x:ext xmlns:x=\"urn:vendor\"/>", CPIS_MSG_OK},
        {"<COCT_TP145102GB01.AssignedAuthor>", "<telecom value=\"tel:0\"/>", CPIS_MSG_OK},
        {"<pertinentCP-ISRecordAccess>", "<templateId root=\"1.2\"/>", CPIS_MSG_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char with[256];
        snprintf(with, sizeof with, "%s%s", cases[i].at, cases[i].insert);
        char *d = replace1(buf, cases[i].at, with);
        int rc = parse_str(d, &m, &e);
        if (rc != cases[i].want)
            print_error("case %zu: %d %s\n", i, rc, e.detail);
        assert_int_equal(rc, cases[i].want);
        if (rc == CPIS_MSG_OK)
            assert_int_equal(m.v[0].n_access, 3);
        else
            assert_non_null(strstr(e.detail, "unknown HL7 element"));
        cpis_message_free(&m);
        free(d);
    }
    free(buf);
}

static void test_author_details(void **state)
{
    (void)state;
    size_t len;
    char *buf = load_ok("several-queries-and-records.xml", &len);
    assert_non_null(buf);
    struct cpis_message m;
    struct cpis_parse_error e;
    /* a system whose responsible person is not given */
    char *ia = NULL;
    char *d = cut_out(buf, "<indirectAuthority>", "</indirectAuthority>", &ia);
    assert_int_equal(parse_str(d, &m, &e), CPIS_MSG_OK);
    assert_int_equal(m.v[0].access[1].author_kind, AUTHOR_SYSTEM);
    assert_string_equal(m.v[0].access[1].viewer, "");
    assert_string_equal(m.v[0].access[1].viewer_role, "");
    assert_string_equal(m.v[0].access[1].system_asid, "200000001234");
    assert_string_equal(m.v[0].access[1].location_code, "QQ1");
    cpis_message_free(&m);
    free(d);
    free(ia);
    /* two author templates in one author: which one viewed is unknown */
    char *sys = NULL;
    char *d2 = cut_out(buf, "<COCT_TP145104GB01.System>", "</COCT_TP145104GB01.System>", &sys);
    char *with = malloc(strlen(sys) + 64);
    assert_non_null(with);
    sprintf(with, "</COCT_TP145102GB01.AssignedAuthor>%s", sys);
    char *d3 = replace1(buf, "</COCT_TP145102GB01.AssignedAuthor>", with);
    assert_int_equal(parse_str(d3, &m, &e), CPIS_MSG_MALFORMED);
    free(d3);
    free(with);
    free(d2);
    free(sys);
    /* a name with suffix, in any order of parts */
    char *d4 = replace1(buf, "<name><prefix>Dr</prefix><given>Sam</given><family>Patel</family>",
                        "<name><suffix>MBE</suffix><family>Patel</family><given>Sam</given>"
                        "<prefix>Dr</prefix>");
    assert_int_equal(parse_str(d4, &m, &e), CPIS_MSG_OK);
    assert_string_equal(m.v[0].access[0].viewer, "Dr Sam Patel MBE");
    cpis_message_free(&m);
    free(d4);
    free(buf);
}

/* ------------------------------------------------------------------------ */
/* Timestamps as HL7 writes them                                             */
/* ------------------------------------------------------------------------ */

static void ts_is(const char *ts, const char *want)
{
    int64_t t = 0;
    if (cpis_hl7_ts_parse(ts, &t) != 0) {
        print_error("%s: refused\n", ts);
        fail();
    }
    char got[32];
    iso(t, got);
    if (strcmp(got, want) != 0)
        print_error("%s: %s, want %s\n", ts, got, want);
    assert_string_equal(got, want);
}

static void test_timestamps(void **state)
{
    (void)state;
    /* make sure the process's TZ plays no part (and is left alone) */
    setenv("TZ", "America/New_York", 1);
    /* GMT in winter, BST in summer */
    ts_is("20240115120000", "2024-01-15T12:00:00Z");
    ts_is("20240715120000", "2024-07-15T11:00:00Z");
    /* spring: Sunday 31 March 2024, 01:00 GMT -> 02:00 BST */
    ts_is("20240331005959", "2024-03-31T00:59:59Z");
    ts_is("20240331013000", "2024-03-31T01:30:00Z"); /* never on the clock: read as GMT */
    ts_is("20240331020000", "2024-03-31T01:00:00Z");
    ts_is("20240330013000", "2024-03-30T01:30:00Z"); /* the day before: GMT */
    /* autumn: Sunday 27 October 2024, 02:00 BST -> 01:00 GMT */
    ts_is("20241027005959", "2024-10-26T23:59:59Z");
    ts_is("20241027010000", "2024-10-27T00:00:00Z"); /* the repeated hour: first (BST) */
    ts_is("20241027015959", "2024-10-27T00:59:59Z");
    ts_is("20241027020000", "2024-10-27T02:00:00Z");
    ts_is("20241028013000", "2024-10-28T01:30:00Z");
    /* 2025: 30 March and 26 October */
    ts_is("20250330020000", "2025-03-30T01:00:00Z");
    ts_is("20251026013000", "2025-10-26T00:30:00Z");
    ts_is("20251026023000", "2025-10-26T02:30:00Z");
    /* an offset wins over the local rule */
    ts_is("20240715120000+0000", "2024-07-15T12:00:00Z");
    ts_is("20241027013000+0000", "2024-10-27T01:30:00Z");
    ts_is("20240715120000-0500", "2024-07-15T17:00:00Z");
    /* fractions of a second, with and without an offset */
    ts_is("20240315140200.5", "2024-03-15T14:02:00Z");
    ts_is("20240715140200.123456789", "2024-07-15T13:02:00Z");
    ts_is("20240715140200.25+0100", "2024-07-15T13:02:00Z");
    /* shorter precisions; a date alone is local midnight */
    ts_is("202403151402", "2024-03-15T14:02:00Z");
    ts_is("2024031514", "2024-03-15T14:00:00Z");
    ts_is("20240315", "2024-03-15T00:00:00Z");
    ts_is("20240715", "2024-07-14T23:00:00Z");
    /* refused */
    static const char *const bad[] = {"2024131512", "20240230", "2024031514020", "yesterday",
                                      "20240315140200.1234567890", "20240315140200+2500",
                                      "20240315140200Z", "", "20240315 140200"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t t;
        if (cpis_hl7_ts_parse(bad[i], &t) == 0)
            print_error("accepted: %s\n", bad[i]);
        assert_int_not_equal(cpis_hl7_ts_parse(bad[i], &t), 0);
    }
    assert_string_equal(getenv("TZ"), "America/New_York");
    unsetenv("TZ");
}

/* ------------------------------------------------------------------------ */
/* Limits                                                                    */
/* ------------------------------------------------------------------------ */

static void test_too_many_access_records(void **state)
{
    (void)state;
    size_t len;
    char *buf = load_sample("cascade/04-emergency-department.xml", &len);
    assert_non_null(buf);
    char *q0 = NULL;
    char *rest = cut_out(buf, "<pertinentInformation2>", "</pertinentInformation2>", &q0);
    size_t ql = strlen(q0);
    size_t cap = ql * 1001 + len + 64;
    char *many = malloc(cap);
    assert_non_null(many);
    for (size_t i = 0; i < 1001; i++)
        memcpy(many + i * ql, q0, ql);
    many[ql * 1001] = '\0';
    char *d = replace1(rest, "<reference>", "<reference>");
    char *marker = strstr(d, "<reference>");
    size_t head = (size_t)(marker - d);
    char *doc = malloc(head + strlen(many) + strlen(marker) + 1);
    assert_non_null(doc);
    memcpy(doc, d, head);
    strcpy(doc + head, many);
    strcat(doc, marker);
    struct cpis_message m;
    struct cpis_parse_error e;
    memset(&e, 0, sizeof e);
    assert_int_equal(cpis_parse_message((const uint8_t *)doc, strlen(doc), NULL, 4 * LIMIT, &m,
                                        &e),
                     CPIS_MSG_TOO_LARGE);
    assert_null(m.v);
    free(doc);
    free(d);
    free(many);
    free(rest);
    free(q0);
    free(buf);
}

static void test_long_name_truncated_at_utf8_boundary(void **state)
{
    (void)state;
    size_t len;
    char *buf = load_sample("cascade/04-emergency-department.xml", &len);
    assert_non_null(buf);
    char fam[600];
    size_t w = 0;
    for (int i = 0; i < 200; i++) { /* 200 x "é" = 400 bytes */
        fam[w++] = (char)0xC3;
        fam[w++] = (char)0xA9;
    }
    fam[w] = '\0';
    char with[700];
    snprintf(with, sizeof with, "<family>%s</family>", fam);
    char *d = replace1(buf, "<family>Patel</family>", with);
    struct cpis_message m;
    struct cpis_parse_error e;
    assert_int_equal(parse_str(d, &m, &e), CPIS_MSG_OK);
    const char *v = m.v[0].access[0].viewer;
    size_t vl = strlen(v);
    assert_true(vl < REC_TEXT_MAX);
    assert_true(vl > 200);
    assert_int_equal(strncmp(v, "Dr Sam ", 7), 0);
    assert_int_equal((vl - 7) % 2, 0); /* whole two-byte characters only */
    cpis_message_free(&m);
    free(d);
    free(buf);
}

static void test_overlong_identifier_rejected(void **state)
{
    (void)state;
    size_t len;
    char *buf = load_sample("cascade/04-emergency-department.xml", &len);
    assert_non_null(buf);
    char id[300], with[400];
    memset(id, 'A', 200);
    id[200] = '\0';
    snprintf(with, sizeof with, "<id root=\"%s\"/>", id);
    /* a truncated idempotency key would merge different notifications */
    char *d = replace1(buf, "<id root=\"C7B09A3E-51D4-4E2B-8F16-9A3D52E0B604\"/>", with);
    struct cpis_message m;
    struct cpis_parse_error e;
    assert_int_equal(parse_str(d, &m, &e), CPIS_MSG_MALFORMED);
    assert_null(strstr(e.detail, "AAAA"));
    free(d);
    /* the query's id likewise */
    d = replace1(buf, "<id root=\"209673BE-ABFB-5529-8CB6-B5998EB9F400\"/>", with);
    assert_int_equal(parse_str(d, &m, &e), CPIS_MSG_MALFORMED);
    free(d);
    free(buf);
}

/* Details name fields and positions, never a value. */
static void test_details_are_clean(void **state)
{
    (void)state;
    size_t len;
    char *buf = load_sample("cascade/04-emergency-department.xml", &len);
    assert_non_null(buf);
    static const struct {
        const char *from, *to;
    } cases[] = {
        {"extension=\"9449305552\"", "extension=\"9449305553\""},
        {"extension=\"RJE01\"", "extension=\"R JE01\""},
        {"<effectiveTime value=\"202403151510+0000\"/>", "<effectiveTime value=\"Patel\"/>"},
        {"<queryByParameter>", "<queryByParameter><Patel9449305552/>"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *d = replace1(buf, cases[i].from, cases[i].to);
        struct cpis_message m;
        struct cpis_parse_error e;
        int rc = parse_str(d, &m, &e);
        if (i < 3)
            assert_int_not_equal(rc, CPIS_MSG_OK);
        assert_null(strstr(e.detail, "944930555"));
        assert_null(strstr(e.detail, "Patel"));
        assert_null(strstr(e.detail, "R JE01"));
        cpis_message_free(&m);
        free(d);
    }
    free(buf);
}

/* The ISO formatter (written digit by digit for speed) at its edges. */
static void test_iso_format_edges(void **state)
{
    (void)state;
    char out[32];
    iso(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    iso(951782399, out); /* the last second of 28 Feb 2000 */
    assert_string_equal(out, "2000-02-28T23:59:59Z");
    iso(951782400 + 86400, out); /* leap day */
    assert_string_equal(out, "2000-03-01T00:00:00Z");
    iso(1710511530, out);
    assert_string_equal(out, "2024-03-15T14:05:30Z");
    iso(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59Z");
    iso(253402300799LL, out);
    assert_string_equal(out, "9999-12-31T23:59:59Z");
    iso(253402300800LL, out); /* past four digits: still the same form */
    assert_string_equal(out, "10000-01-01T00:00:00Z");
    char small[8];
    cpis_iso_format(0, small, sizeof small);
    assert_string_equal(small, "1970-01");
}

int main(void)
{
    size_t ns = sizeof expected / sizeof expected[0];
    struct CMUnitTest tests[64];
    size_t k = 0;
    for (size_t i = 0; i < ns; i++) {
        tests[k].name = expected[i].file;
        tests[k].test_func = test_sample;
        tests[k].setup_func = NULL;
        tests[k].teardown_func = NULL;
        tests[k].initial_state = (void *)&expected[i];
        k++;
    }
    const struct CMUnitTest more[] = {
        cmocka_unit_test(test_iso_format_edges),
        cmocka_unit_test(test_inactive_subjects),
        cmocka_unit_test(test_several_queries_and_wrappers),
        cmocka_unit_test(test_container_and_inactive_file),
        cmocka_unit_test(test_file_response_ignored),
        cmocka_unit_test(test_container_with_a_bad_one),
        cmocka_unit_test(test_count_check),
        cmocka_unit_test(test_order_prefix_comments_foreign),
        cmocka_unit_test(test_white_space_and_names),
        cmocka_unit_test(test_light_tree_edges),
        cmocka_unit_test(test_unknown_elements),
        cmocka_unit_test(test_author_details),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_too_many_access_records),
        cmocka_unit_test(test_long_name_truncated_at_utf8_boundary),
        cmocka_unit_test(test_overlong_identifier_rejected),
        cmocka_unit_test(test_details_are_clean),
    };
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        tests[k++] = more[i];
    if (cpis_parse_init() != 0)
        return 1;
    return _cmocka_run_group_tests("hl7v3", tests, k, NULL, NULL);
}
