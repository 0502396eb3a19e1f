/*
 * test_hl7v3.c - every field of every HL7 V3 sample, plus tolerance of
 * prefixes, order, comments, unknown and foreign-namespace elements.
 *
 * Samples are found through CPIS_SAMPLES (absolute samples dir), falling
 * back to "samples" relative to the current directory (the repo root).
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

static char *load_file(const char *rel, size_t *len)
{
    const char *dir = getenv("CPIS_SAMPLES");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir != NULL && dir[0] ? dir : "samples", rel);
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
            if (nb == NULL) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (buf != NULL)
        buf[n] = '\0';
    *len = n;
    return buf;
}

static void iso(int64_t t, char *out)
{
    cpis_iso_format(t, out, 32);
}

/* ------------------------------------------------------------------------ */

struct exp_access {
    const char *at, *nhs, *local;
    int author_kind;
    const char *viewer, *role, *role_name, *user, *profile, *asid, *sys_name;
    const char *loc;
    int site;
    const char *loc_name;
};

struct exp_msg {
    const char *file;
    int kind;
    const char *id, *created, *la, *upload;
    long total;
    const char *inactive;
    size_t n;
    struct exp_access acc[2];
};

#define UPLOAD "706_CPIS_20240301.csv"
#define CHILD "9449305552"
#define LOCAL "STAFFS-CP-0412"
#define HPAR "Health Professional Access Role"
#define MEDP "Medical Practitioner"
#define NAR "Nurse Access Role"

static const struct exp_msg expected[] = {
    {"cascade/01-nhs111.xml", REC_KIND_ACCESS, "3F2A9C14-7B1E-4D6A-9E35-1C8B04D2A701",
     "2024-03-15T14:04:00Z", "706", UPLOAD, 1, "", 1,
     {{"2024-03-15T14:02:00Z", CHILD, LOCAL, AUTHOR_SYSTEM, "Jo Clarke", "R8003", HPAR,
       "555000111222", "", "200000001234", "NHS 111 Clinical Assessment Service", "NL3", 0,
       "DHU HEALTH CARE CIC - NHS 111 WEST MIDLANDS"}}},
    {"cascade/02-ambulance-control.xml", REC_KIND_ACCESS,
     "8D4E61B2-0C93-4F7A-A5D8-2E9B17C3F402", "2024-03-15T14:07:11Z", "706", UPLOAD, 1, "", 1,
     {{"2024-03-15T14:05:00Z", CHILD, LOCAL, AUTHOR_PERSON, "Megan Hughes", "R8003", HPAR,
       "555123400002", "555123400102", "", "", "RYA01", 1, "WMAS EMERGENCY OPERATIONS CENTRE"}}},
    {"cascade/04-emergency-department.xml", REC_KIND_ACCESS,
     "C7B09A3E-51D4-4E2B-8F16-9A3D52E0B604", "2024-03-15T15:13:42Z", "706", UPLOAD, 1, "", 1,
     {{"2024-03-15T15:10:00Z", CHILD, LOCAL, AUTHOR_PERSON, "Dr Sam Patel", "R0260", MEDP,
       "555123400004", "555123400104", "", "", "RJE01", 1, "ROYAL STOKE UNIVERSITY HOSPITAL"}}},
    {"cascade/05-ward.xml", REC_KIND_ACCESS, "E2A5F7C1-93B8-4D0E-B7A4-6C1F08D9E305",
     "2024-03-15T18:49:03Z", "706", UPLOAD, 1, "", 1,
     {{"2024-03-15T18:45:00Z", CHILD, LOCAL, AUTHOR_PERSON, "Olivia Bennett", "R8001", NAR,
       "555123400005", "555123400105", "", "", "RJE01", 1, "ROYAL STOKE UNIVERSITY HOSPITAL"}}},
    {"messages/multi-access.xml", REC_KIND_ACCESS, "0B6D2F94-A3C1-4E57-9D08-71E4C5B2A9F3",
     "2024-03-18T09:30:15Z", "706", UPLOAD, 2, "", 2,
     {{"2024-03-18T09:12:00Z", "9000000009", "STAFFS-CP-0388", AUTHOR_PERSON, "Dr Amira Khan",
       "R0260", MEDP, "555123400011", "555123400111", "", "", "RR801", 1,
       "LEEDS GENERAL INFIRMARY"},
      {"2024-03-18T09:25:00Z", "4010232137", "", AUTHOR_PERSON, "Tom Reid", "R8003", HPAR,
       "555123400012", "555123400112", "", "", "RJE09", 1, "COUNTY HOSPITAL"}}},
    {"messages/closed-child-2024-01-10.xml", REC_KIND_ACCESS,
     "5E8F0A21-C4B7-4D93-A16E-2F7B9C0D1E10", "2024-01-10T10:15:30Z", "706", UPLOAD, 1, "", 1,
     {{"2024-01-10T10:12:00Z", "4010232137", "", AUTHOR_PERSON, "Dr Lena Fischer", "R0260",
       MEDP, "555123400021", "555123400121", "", "", "RJE01", 1,
       "ROYAL STOKE UNIVERSITY HOSPITAL"}}},
    {"messages/closed-child-2024-02-20.xml", REC_KIND_ACCESS,
     "6F9A1B32-D5C8-4EA4-B27F-3A8C0D1E2F20", "2024-02-20T22:48:02Z", "706", UPLOAD, 1, "", 1,
     {{"2024-02-20T22:40:00Z", "4010232137", "", AUTHOR_PERSON, "Chris Doyle", "R8003", HPAR,
       "555123400022", "555123400122", "", "", "M83620", 0,
       "STAFFORDSHIRE DOCTORS URGENT CARE OOH"}}},
    {"messages/closed-child-2024-04-02.xml", REC_KIND_ACCESS,
     "7A0B2C43-E6D9-4FB5-838A-4B9D1E2F3A02", "2024-04-02T07:11:55Z", "706", UPLOAD, 1, "", 1,
     {{"2024-04-02T07:05:00Z", "4010232137", "", AUTHOR_PERSON, "Sian Morgan", "R8003", HPAR,
       "555123400023", "555123400123", "", "", "RX7", 0,
       "NORTH WEST AMBULANCE SERVICE NHS TRUST"}}},
    {"messages/unknown-child-walk-in.xml", REC_KIND_ACCESS,
     "9C1D3E54-F7EA-4A06-9B4C-5D0E1F2A3B20", "2024-03-20T11:22:33Z", "706", UPLOAD, 1, "", 1,
     {{"2024-03-20T11:15:00Z", "6281948211", "", AUTHOR_PERSON, "Hannah Wright", "R8001", NAR,
       "555123400031", "555123400131", "", "", "M83010", 0, "HANLEY WALK-IN CENTRE"}}},
    {"messages/unknown-ods-code.xml", REC_KIND_ACCESS, "AD2E4F65-08FB-4B17-AC5D-6E1F2A3B4C21",
     "2024-03-22T15:30:00Z", "706", UPLOAD, 1, "", 1,
     {{"2024-03-22T15:20:00Z", "1860913903", "STAFFS-CP-0455", AUTHOR_PERSON, "Ravi Menon",
       "R8003", HPAR, "555123400041", "555123400141", "", "", "ZZZ01", 0,
       "MOBILE HEALTH UNIT"}}},
    {"messages/empty.xml", REC_KIND_EMPTY, "BE3F5A76-19AC-4C28-BD6E-7F2A3B4C5D22",
     "2024-03-23T06:00:00Z", "706", UPLOAD, 0, "", 0, {{0}}},
    {"messages/inactive-nhs-number.xml", REC_KIND_INACTIVE,
     "CF4A6B87-2ABD-4D39-8E7F-8A3B4C5D6E23", "2024-03-24T09:00:00Z", "706", UPLOAD, -1,
     "9378657974", 0, {{0}}},
    {"messages/offset-fractional.xml", REC_KIND_ACCESS, "D05B7C98-3BCE-4E4A-9F80-9B4C5D6E7F24",
     /* 20240322000501.2-0500 and 20240321234512.345+0100 */
     "2024-03-22T05:05:01Z", "706", UPLOAD, 1, "", 1,
     {{"2024-03-21T22:45:12Z", "9000000009", "", AUTHOR_PERSON, "Kwame Mensah", "R8003", HPAR,
       "555123400051", "555123400151", "", "", "M83700", 0,
       "CANNOCK URGENT TREATMENT CENTRE"}}},
    {"messages/explicit-prefix.xml", REC_KIND_ACCESS, "E16C8DA9-4CDF-4F5B-A091-AC5D6E7F8025",
     "2024-03-25T14:15:00Z", "706", UPLOAD, 1, "", 1,
     {{"2024-03-25T14:10:00Z", "9960308243", "", AUTHOR_PERSON, "Dr Eleanor Shaw", "R0260",
       MEDP, "555123400061", "555123400161", "", "", "M83001", 0,
       "THE GREEN MEDICAL PRACTICE"}}},
};

/* INTERIM shim while the reader is rewritten: first notification only. */
static int first_of(int rc, struct cpis_message *m, struct cpis_notification *n)
{
    memset(n, 0, sizeof *n);
    if (rc == CPIS_MSG_OK && m->n > 0) {
        *n = m->v[0];
        memset(&m->v[0], 0, sizeof m->v[0]);
    }
    cpis_message_free(m);
    return rc;
}
static int parse_msg_(const uint8_t *b, size_t l, const char *ct, size_t lim,
                      struct cpis_notification *n, struct cpis_parse_error *e)
{
    struct cpis_message m;
    return first_of(cpis_parse_message(b, l, ct, lim, &m, e), &m, n);
}
static int parse_hl7_(const uint8_t *b, size_t l, struct cpis_notification *n,
                      struct cpis_parse_error *e)
{
    struct cpis_message m;
    return first_of(cpis_parse_hl7v3(b, l, &m, e), &m, n);
}
#define cpis_parse_message parse_msg_
#define cpis_parse_hl7v3 parse_hl7_

static void check_access(const struct cpis_access *a, const struct exp_access *e)
{
    char t[32];
    iso(a->accessed_at, t);
    assert_string_equal(t, e->at);
    assert_string_equal(a->nhs_number, e->nhs);
    assert_string_equal(a->la_child_id, e->local);
    assert_int_equal(a->author_kind, e->author_kind);
    assert_string_equal(a->viewer, e->viewer);
    assert_string_equal(a->viewer_role, e->role);
    assert_string_equal(a->viewer_role_name, e->role_name);
    assert_string_equal(a->viewer_user_id, e->user);
    assert_string_equal(a->viewer_role_profile, e->profile);
    assert_string_equal(a->system_asid, e->asid);
    assert_string_equal(a->system_name, e->sys_name);
    assert_string_equal(a->location_code, e->loc);
    assert_int_equal(a->location_is_site, e->site);
    assert_string_equal(a->location_name, e->loc_name);
    /* enrichment is not the parser's job */
    assert_string_equal(a->resolved_name, "");
    assert_string_equal(a->setting, "");
    assert_int_equal(a->resolved, 0);
}

static void check_msg(const struct cpis_notification *n, const struct exp_msg *e)
{
    char t[32];
    assert_int_equal(n->format, REC_FORMAT_HL7V3);
    assert_int_equal(n->kind, e->kind);
    assert_string_equal(n->message_id, e->id);
    iso(n->created, t);
    assert_string_equal(t, e->created);
    assert_string_equal(n->la_code, e->la);
    assert_int_equal(n->total_records, e->total);
    if (e->inactive[0])
        assert_string_equal(n->inactive[0].nhs_number, e->inactive);
    assert_int_equal(n->n_access, e->n);
    if (e->n == 0)
        assert_null(n->access);
    for (size_t i = 0; i < e->n; i++)
        check_access(&n->access[i], &e->acc[i]);
}

static void test_sample(void **state)
{
    const struct exp_msg *e = *state;
    size_t len = 0;
    char *buf = load_file(e->file, &len);
    assert_non_null(buf);

    struct cpis_notification n;
    struct cpis_parse_error err;
    memset(&err, 0, sizeof err);
    int rc = cpis_parse_message((const uint8_t *)buf, len, "application/xml", LIMIT, &n, &err);
    if (rc != CPIS_MSG_OK)
        print_error("%s: %d %s\n", e->file, rc, err.detail);
    assert_int_equal(rc, CPIS_MSG_OK);
    check_msg(&n, e);
    cpis_notification_free(&n);

    /* the HL7 parser called directly, without a content type, agrees */
    rc = cpis_parse_message((const uint8_t *)buf, len, NULL, LIMIT, &n, &err);
    assert_int_equal(rc, CPIS_MSG_OK);
    check_msg(&n, e);
    cpis_notification_free(&n);
    rc = cpis_parse_hl7v3((const uint8_t *)buf, len, &n, &err);
    assert_int_equal(rc, CPIS_MSG_OK);
    check_msg(&n, e);
    cpis_notification_free(&n);
    free(buf);
}

/* ------------------------------------------------------------------------ */
/* In-memory variations of one message                                       */
/* ------------------------------------------------------------------------ */

static int parse_str(const char *s, struct cpis_notification *n, struct cpis_parse_error *e)
{
    memset(e, 0, sizeof *e);
    return cpis_parse_message((const uint8_t *)s, strlen(s), "application/xml", LIMIT, n, e);
}

#define ASN_OPEN(pfx, decl)                                                       \
    "<" pfx "CP-ISAccessToServiceNotification " decl ">"                           \
    "<" pfx "id root=\"1A2B3C4D-0000-4000-8000-00000000000A\"/>"                   \
    "<" pfx "effectiveTime value=\"202403151600+0000\"/>"
#define ASN_CLOSE(pfx) "</" pfx "CP-ISAccessToServiceNotification>"

static void test_prefix_order_comments_unknown(void **state)
{
    (void)state;
    /* One access written three ways: default namespace; prefix "q" with
     * children reversed; comments, PIs, white space, unknown elements and
     * decoys in a foreign namespace (an NHS-number id, a record access and an
     * organisation that must all be ignored). */
    static const char *const variants[] = {
        ASN_OPEN("", "xmlns=\"urn:hl7-org:v3\"")
        "<pertinentInformation><CP-ISRecordAccess>"
        "<effectiveTime value=\"202403151555+0000\"/>"
        "<subject><x><id root=\"2.16.840.1.113883.2.1.4.1\" extension=\"9000000009\"/></x></subject>"
        "<pertinentInformation><CP-ISNHSQuery><author><AssignedAuthor>"
        "<code code=\"R0260\"/>"
        "<assignedPerson><name><given>Ann</given><family>Lee</family></name></assignedPerson>"
        "<representedOrganization><id root=\"2.16.840.1.113883.2.1.3.2.4.19.1\" extension=\"RJE\"/>"
        "<name>UHNM</name></representedOrganization>"
        "</AssignedAuthor></author></CP-ISNHSQuery></pertinentInformation>"
        "</CP-ISRecordAccess></pertinentInformation>" ASN_CLOSE(""),

        "<q:CP-ISAccessToServiceNotification xmlns:q=\"urn:hl7-org:v3\">"
        "<q:pertinentInformation><q:CP-ISRecordAccess>"
        "<q:pertinentInformation><q:CP-ISNHSQuery><q:author><q:AssignedAuthor>"
        "<q:representedOrganization><q:name>UHNM</q:name>"
        "<q:id root=\"2.16.840.1.113883.2.1.3.2.4.19.1\" extension=\"RJE\"/>"
        "</q:representedOrganization>"
        "<q:assignedPerson><q:name><q:family>Lee</q:family><q:given>Ann</q:given></q:name></q:assignedPerson>"
        "<q:code code=\"R0260\"/>"
        "</q:AssignedAuthor></q:author></q:CP-ISNHSQuery></q:pertinentInformation>"
        "<q:subject><q:id root=\"2.16.840.1.113883.2.1.4.1\" extension=\"9000000009\"/></q:subject>"
        "<q:effectiveTime value=\"202403151555+0000\"/>"
        "</q:CP-ISRecordAccess></q:pertinentInformation>"
        "<q:effectiveTime value=\"202403151600+0000\"/>"
        "<q:id root=\"1A2B3C4D-0000-4000-8000-00000000000A\"/>"
        "</q:CP-ISAccessToServiceNotification>",

        "<?xml version=\"1.0\"?>\n<!-- leading comment -->\n<?app-hint keep?>\n"
        "<Wrapper xmlns=\"urn:example:transport\"><Body>\n"
        "<CP-ISAccessToServiceNotification xmlns=\"urn:hl7-org:v3\" xmlns:o=\"urn:other\">\n"
        "  <!-- a comment -->\n"
        "  <o:id root=\"DECOY\"/>\n"
        "  <id root=\"1A2B3C4D-0000-4000-8000-00000000000A\"/>\n"
        "  <somethingNew attr=\"x\"><deeper/></somethingNew>\n"
        "  <effectiveTime value=\"202403151600+0000\"/>\n"
        "  <o:CP-ISRecordAccess><effectiveTime value=\"bad\"/></o:CP-ISRecordAccess>\n"
        "  <pertinentInformation>\n"
        "    <CP-ISRecordAccess>\n"
        "      <effectiveTime value=\"202403151555+0000\"/>\n"
        "      <o:subject><id root=\"2.16.840.1.113883.2.1.4.1\" extension=\"9912003899\"/></o:subject>\n"
        "      <subject><!-- c --><id root=\"2.16.840.1.113883.2.1.4.1\"\n"
        "               extension=\" 900 000 0009 \"/></subject>\n"
        "      <pertinentInformation><CP-ISNHSQuery><author><AssignedAuthor>\n"
        "        <code code=\"R0260\"/>\n"
        "        <assignedPerson><name>\n   <given>Ann</given>\n   <family>Lee</family>\n"
        "        </name></assignedPerson>\n"
        "        <o:representedOrganization><id root=\"2.16.840.1.113883.2.1.3.2.4.19.1\" extension=\"R-X\"/></o:representedOrganization>\n"
        "        <representedOrganization>\n"
        "          <id root=\"2.16.840.1.113883.2.1.3.2.4.19.1\" extension=\"RJE\"/>\n"
        "          <name>  UHNM\n  </name>\n"
        "        </representedOrganization>\n"
        "      </AssignedAuthor></author></CP-ISNHSQuery></pertinentInformation>\n"
        "    </CP-ISRecordAccess>\n"
        "  </pertinentInformation>\n"
        "</CP-ISAccessToServiceNotification>\n</Body></Wrapper>\n",
    };
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        struct cpis_notification n;
        struct cpis_parse_error e;
        int rc = parse_str(variants[v], &n, &e);
        if (rc != CPIS_MSG_OK)
            print_error("variant %zu: %d %s\n", v, rc, e.detail);
        assert_int_equal(rc, CPIS_MSG_OK);
        assert_int_equal(n.kind, REC_KIND_ACCESS);
        assert_string_equal(n.message_id, "1A2B3C4D-0000-4000-8000-00000000000A");
        assert_int_equal(n.total_records, -1);
        assert_string_equal(n.la_code, "");
        assert_int_equal(n.n_access, 1);
        assert_string_equal(n.access[0].nhs_number, "9000000009");
        assert_string_equal(n.access[0].viewer, "Ann Lee");
        assert_string_equal(n.access[0].viewer_role, "R0260");
        assert_string_equal(n.access[0].location_code, "RJE");
        assert_int_equal(n.access[0].location_is_site, 0);
        assert_string_equal(n.access[0].location_name, "UHNM");
        char t[32];
        iso(n.access[0].accessed_at, t);
        assert_string_equal(t, "2024-03-15T15:55:00Z");
        iso(n.created, t);
        assert_string_equal(t, "2024-03-15T16:00:00Z");
        cpis_notification_free(&n);
    }
}

static void test_system_author_without_person(void **state)
{
    (void)state;
    const char *s = ASN_OPEN("", "xmlns=\"urn:hl7-org:v3\"")
        "<pertinentInformation><CP-ISRecordAccess>"
        "<subject><id root=\"2.16.840.1.113883.2.1.4.1\" extension=\"9449305552\"/></subject>"
        "<pertinentInformation><CP-ISNHSQuery>"
        "<effectiveTime value=\"20240315140200+0000\"/>"
        "<author><System><id root=\"1.2.826.0.1285.0.2.0.107\" extension=\"200000001234\"/>"
        "<maintainingOrganization><id root=\"2.16.840.1.113883.2.1.3.2.4.19.1\" extension=\"NL3\"/>"
        "<name>NHS 111</name></maintainingOrganization>"
        "</System></author></CP-ISNHSQuery></pertinentInformation>"
        "</CP-ISRecordAccess></pertinentInformation>" ASN_CLOSE("");
    struct cpis_notification n;
    struct cpis_parse_error e;
    assert_int_equal(parse_str(s, &n, &e), CPIS_MSG_OK);
    assert_int_equal(n.n_access, 1);
    const struct cpis_access *a = &n.access[0];
    assert_int_equal(a->author_kind, AUTHOR_SYSTEM);
    assert_string_equal(a->system_asid, "200000001234");
    assert_string_equal(a->viewer, "");
    assert_string_equal(a->viewer_role, "");
    assert_string_equal(a->location_code, "NL3");
    assert_string_equal(a->location_name, "NHS 111");
    char t[32];
    iso(a->accessed_at, t); /* taken from CP-ISNHSQuery when the record has none */
    assert_string_equal(t, "2024-03-15T14:02:00Z");
    cpis_notification_free(&n);
}

static void test_recognition(void **state)
{
    (void)state;
    struct cpis_notification n;
    struct cpis_parse_error e;
    const char *body =
        "<CP-ISAccessToServiceNotification><id root=\"1A2B3C4D-0000-4000-8000-00000000000B\"/>"
        "<effectiveTime value=\"20240315\"/>"
        "<pertinentInformation><TotalReturnedRecords><value value=\"0\"/></TotalReturnedRecords>"
        "</pertinentInformation></CP-ISAccessToServiceNotification>";
    char doc[2048];

    /* unknown root name, interaction id says ASN */
    snprintf(doc, sizeof doc,
             "<Message xmlns=\"urn:hl7-org:v3\"><interactionId root=\"2.16.840.1.113883.2.1.3.2.4.12\" "
             "extension=\"urn:GB-en-NHS:iops:interaction:CP-ISAccessToServiceNotification-v1-0\"/>%s</Message>",
             body);
    assert_int_equal(parse_str(doc, &n, &e), CPIS_MSG_OK);
    assert_int_equal(n.kind, REC_KIND_EMPTY);
    assert_int_equal(n.total_records, 0);
    char t[32];
    iso(n.created, t); /* a date-only HL7 TS */
    assert_string_equal(t, "2024-03-15T00:00:00Z");
    cpis_notification_free(&n);

    /* REPC_IN000004GB01 root without interactionId */
    snprintf(doc, sizeof doc, "<REPC_IN000004GB01 xmlns=\"urn:hl7-org:v3\">%s</REPC_IN000004GB01>",
             body);
    assert_int_equal(parse_str(doc, &n, &e), CPIS_MSG_OK);
    assert_int_equal(n.kind, REC_KIND_EMPTY);
    cpis_notification_free(&n);

    /* inactive interaction root but an ASN focal act: unsupported */
    snprintf(doc, sizeof doc, "<REPC_IN000005GB01 xmlns=\"urn:hl7-org:v3\">%s</REPC_IN000005GB01>",
             body);
    assert_int_equal(parse_str(doc, &n, &e), CPIS_MSG_UNSUPPORTED);
    assert_int_equal(n.n_access, 0);
    assert_null(n.access);

    /* root name and interaction id disagree */
    snprintf(doc, sizeof doc,
             "<REPC_IN000004GB01 xmlns=\"urn:hl7-org:v3\"><interactionId extension=\"REPC_IN000005GB01\"/>"
             "%s</REPC_IN000004GB01>",
             body);
    assert_int_equal(parse_str(doc, &n, &e), CPIS_MSG_UNSUPPORTED);

    /* no focal act at all, in the right namespace */
    assert_int_equal(parse_str("<REPC_IN000004GB01 xmlns=\"urn:hl7-org:v3\"/>", &n, &e),
                     CPIS_MSG_UNSUPPORTED);
    assert_int_equal(parse_str("<PRPA_IN101001UK01 xmlns=\"urn:hl7-org:v3\"/>", &n, &e),
                     CPIS_MSG_UNSUPPORTED);
    /* TotalReturnedRecords absent and no records: empty */
    assert_int_equal(parse_str("<CP-ISAccessToServiceNotification xmlns=\"urn:hl7-org:v3\">"
                               "<id root=\"A\"/><effectiveTime value=\"20240315\"/>"
                               "</CP-ISAccessToServiceNotification>",
                               &n, &e),
                     CPIS_MSG_OK);
    assert_int_equal(n.kind, REC_KIND_EMPTY);
    assert_int_equal(n.total_records, -1);
    assert_string_equal(n.message_id, "A");
    cpis_notification_free(&n);
}

static void test_too_many_access_records(void **state)
{
    (void)state;
    size_t cap = 64 * 1024;
    char *doc = malloc(cap);
    assert_non_null(doc);
    size_t w = (size_t)snprintf(doc, cap, "%s", ASN_OPEN("", "xmlns=\"urn:hl7-org:v3\""));
    for (int i = 0; i < 1001; i++)
        w += (size_t)snprintf(doc + w, cap - w, "<CP-ISRecordAccess/>");
    snprintf(doc + w, cap - w, "%s", ASN_CLOSE(""));
    struct cpis_notification n;
    struct cpis_parse_error e;
    assert_int_equal(parse_str(doc, &n, &e), CPIS_MSG_TOO_LARGE);
    assert_null(n.access);
    free(doc);
}

static void test_long_name_truncated_at_utf8_boundary(void **state)
{
    (void)state;
    char fam[600];
    size_t w = 0;
    for (int i = 0; i < 200; i++) { /* 200 x "é" = 400 bytes */
        fam[w++] = (char)0xC3;
        fam[w++] = (char)0xA9;
    }
    fam[w] = '\0';
    char doc[4096];
    snprintf(doc, sizeof doc,
             "%s<pertinentInformation><CP-ISRecordAccess>"
             "<effectiveTime value=\"202403151555+0000\"/>"
             "<subject><id root=\"2.16.840.1.113883.2.1.4.1\" extension=\"9000000009\"/></subject>"
             "<author><AssignedAuthor><assignedPerson><name><given>X</given><family>%s</family>"
             "</name></assignedPerson><representedOrganization>"
             "<id root=\"2.16.840.1.113883.2.1.3.2.4.19.2\" extension=\"RJE01\"/>"
             "</representedOrganization></AssignedAuthor></author>"
             "</CP-ISRecordAccess></pertinentInformation>%s",
             ASN_OPEN("", "xmlns=\"urn:hl7-org:v3\""), fam, ASN_CLOSE(""));
    struct cpis_notification n;
    struct cpis_parse_error e;
    assert_int_equal(parse_str(doc, &n, &e), CPIS_MSG_OK);
    const char *v = n.access[0].viewer;
    size_t len = strlen(v);
    assert_true(len < REC_TEXT_MAX);
    assert_true(len > 200);
    assert_int_equal(strncmp(v, "X ", 2), 0);
    assert_int_equal((len - 2) % 2, 0); /* whole two-byte characters only */
    assert_int_equal(n.access[0].location_is_site, 1);
    assert_string_equal(n.access[0].location_name, "");
    cpis_notification_free(&n);
}

static void test_overlong_identifier_rejected(void **state)
{
    (void)state;
    char id[300];
    memset(id, 'A', 200);
    id[200] = '\0';
    char doc[1024];
    snprintf(doc, sizeof doc,
             "<CP-ISAccessToServiceNotification xmlns=\"urn:hl7-org:v3\"><id root=\"%s\"/>"
             "<effectiveTime value=\"20240315\"/></CP-ISAccessToServiceNotification>",
             id);
    struct cpis_notification n;
    struct cpis_parse_error e;
    /* a truncated idempotency key would merge different notifications */
    assert_int_equal(parse_str(doc, &n, &e), CPIS_MSG_MALFORMED);
    assert_null(strstr(e.detail, "AAAA"));
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
        cmocka_unit_test(test_prefix_order_comments_unknown),
        cmocka_unit_test(test_system_author_without_person),
        cmocka_unit_test(test_recognition),
        cmocka_unit_test(test_too_many_access_records),
        cmocka_unit_test(test_long_name_truncated_at_utf8_boundary),
        cmocka_unit_test(test_overlong_identifier_rejected),
    };
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        tests[k++] = more[i];
    if (cpis_parse_init() != 0)
        return 1;
    return _cmocka_run_group_tests("hl7v3", tests, k, NULL, NULL);
}
