/*
 * test_fhir.c - the FHIR R4 JSON parser (plugin/read/fhir.c).
 *
 * Every field of every FHIR sample, the error code of every file under
 * tests/data/fhir/ (and that no file there goes untested), error details
 * that never echo an NHS number, a name or a bad value, and a mutation
 * sweep that swaps every node of a valid message for a value of each JSON
 * type: the parser must answer with a defined code and a zeroed record,
 * never crash (run under ASan+UBSan by `make check`).
 *
 * Files: $CPIS_SAMPLES (absolute samples dir), tests data in
 * "$CPIS_SAMPLES/../tests/data"; without the variable, "samples" relative to
 * the working directory or up to two levels above it (the repo root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ids.h"
#include "parse.h"
#include "record.h"

/* ---- files ------------------------------------------------------------- */

static char samples_dir[4096];

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int find_samples(void **state)
{
    (void)state;
    const char *env = getenv("CPIS_SAMPLES");
    if (env != NULL && env[0] != '\0' && is_dir(env)) {
        snprintf(samples_dir, sizeof samples_dir, "%s", env);
        return 0;
    }
    static const char *const cands[] = {"samples", "../samples", "../../samples"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        char probe[4200];
        snprintf(probe, sizeof probe, "%s/messages", cands[i]);
        if (is_dir(probe)) {
            snprintf(samples_dir, sizeof samples_dir, "%s", cands[i]);
            return 0;
        }
    }
    fprintf(stderr, "test_fhir: samples directory not found (set CPIS_SAMPLES)\n");
    return -1;
}

/* Read a whole file into an exactly-sized heap buffer (no terminating NUL,
 * so ASan catches any read past len). */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long n = ftell(f);
    rewind(f);
    if (n < 0) {
        fclose(f);
        return NULL;
    }
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf != NULL && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void sample_path(char *out, size_t cap, const char *rel)
{
    snprintf(out, cap, "%s/%s", samples_dir, rel);
}

static void data_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/../tests/data/fhir/%s", samples_dir, name);
}

static uint8_t *load(const char *path, size_t *len)
{
    uint8_t *buf = slurp(path, len);
    if (buf == NULL)
        fail_msg("cannot read %s", path);
    return buf;
}

static int parse_path(const char *path, struct cpis_notification *n, struct cpis_parse_error *e)
{
    size_t len = 0;
    uint8_t *buf = load(path, &len);
    int rc = cpis_parse_fhir(buf, len, n, e);
    free(buf);
    return rc;
}

static void parse_sample_ok(const char *rel, struct cpis_notification *n)
{
    char path[4200];
    struct cpis_parse_error e;
    sample_path(path, sizeof path, rel);
    int rc = parse_path(path, n, &e);
    if (rc != CPIS_MSG_OK)
        fail_msg("%s: code %d (%s)", rel, rc, e.detail);
    assert_int_equal(e.code, CPIS_MSG_OK);
    assert_int_equal(n->format, REC_FORMAT_FHIR);
}

static int64_t ts(const char *iso)
{
    int64_t t = 0;
    assert_int_equal(cpis_iso_ts_parse(iso, &t), 0);
    return t;
}

/* ---- expected records -------------------------------------------------- */

static void check_header(const struct cpis_notification *n, int kind, const char *id,
                         const char *created, const char *la, const char *upload,
                         const char *inactive_nhs, size_t n_access)
{
    assert_int_equal(n->kind, kind);
    assert_int_equal(n->format, REC_FORMAT_FHIR);
    assert_string_equal(n->message_id, id);
    assert_true(n->created == ts(created));
    assert_string_equal(n->la_code, la);
    for (size_t i = 0; i < n->n_access; i++)
        assert_string_equal(n->access[i].upload_file, upload);
    for (size_t i = 0; i < n->n_inactive; i++)
        assert_string_equal(n->inactive[i].upload_file, upload);
    assert_int_equal(n->total_records, -1);
    assert_int_equal(n->n_inactive, inactive_nhs[0] ? 1 : 0);
    if (inactive_nhs[0])
        assert_string_equal(n->inactive[0].nhs_number, inactive_nhs);
    assert_int_equal(n->n_access, n_access);
    if (n_access == 0)
        assert_null(n->access);
    else
        assert_non_null(n->access);
}

struct exp_access {
    const char *nhs, *local_id, *accessed_at;
    int author_kind;
    const char *viewer, *role, *role_name, *user_id, *role_profile, *asid, *system_name;
    const char *loc, *loc_name;
    int is_site;
};

static void check_access(const struct cpis_access *a, const struct exp_access *x)
{
    assert_string_equal(a->nhs_number, x->nhs);
    assert_string_equal(a->la_child_id, x->local_id);
    assert_true(a->accessed_at == ts(x->accessed_at));
    assert_int_equal(a->author_kind, x->author_kind);
    assert_string_equal(a->viewer, x->viewer);
    assert_string_equal(a->viewer_role, x->role);
    assert_string_equal(a->viewer_role_name, x->role_name);
    assert_string_equal(a->viewer_user_id, x->user_id);
    assert_string_equal(a->viewer_role_profile, x->role_profile);
    assert_string_equal(a->system_asid, x->asid);
    assert_string_equal(a->system_name, x->system_name);
    assert_string_equal(a->location_code, x->loc);
    assert_int_equal(a->location_is_site, x->is_site);
    assert_string_equal(a->location_name, x->loc_name);
    /* Enrichment is ods.c's job: the parser leaves it empty. */
    assert_string_equal(a->resolved_name, "");
    assert_string_equal(a->parent_code, "");
    assert_string_equal(a->parent_name, "");
    assert_string_equal(a->setting, "");
    assert_string_equal(a->phone, "");
    assert_int_equal(a->resolved, 0);
    assert_int_equal(a->closed, 0);
}

static const struct exp_access contract_person = {
    .nhs = "9449305552", .local_id = "", .accessed_at = "2024-03-15T14:29:58Z",
    .author_kind = AUTHOR_PERSON, .viewer = "Dr Sam Patel", .role = "R0260",
    .role_name = "General Medical Practitioner", .user_id = "555021931102",
    .role_profile = "555021935107", .asid = "", .system_name = "", .loc = "RR801",
    .loc_name = "LEEDS GENERAL INFIRMARY", .is_site = 1};

/* ---- samples ----------------------------------------------------------- */

static void test_sample_access_person(void **state)
{
    (void)state;
    struct cpis_notification n;
    parse_sample_ok("messages/fhir-access-person.json", &n);
    check_header(&n, REC_KIND_ACCESS, "4B7C9E21-6F3A-4D8B-A5C2-9E1D7F0B3A64",
                 "2024-03-15T14:32:10Z", "706", "", "", 1);
    check_access(&n.access[0], &contract_person);
    cpis_notification_free(&n);
    assert_null(n.access);
    assert_int_equal(n.n_access, 0);
}

static void test_sample_access_system(void **state)
{
    (void)state;
    struct cpis_notification n;
    parse_sample_ok("messages/fhir-access-system.json", &n);
    check_header(&n, REC_KIND_ACCESS, "E9C24A7B-5D18-4F63-8B0E-1A7D3F6C9E52",
                 "2024-03-16T09:43:05Z", "706", "", "", 1);
    const struct exp_access x = {
        .nhs = "1860913903", .local_id = "", .accessed_at = "2024-03-16T09:41:12Z",
        .author_kind = AUTHOR_SYSTEM, .viewer = "Alex Morgan", .role = "", .role_name = "",
        .user_id = "687226510108", .role_profile = "", .asid = "918999198738",
        .system_name = "NHS 111 Clinical Assessment Service", .loc = "NL3",
        .loc_name = "DHU HEALTH CARE CIC - NHS 111 WEST MIDLANDS", .is_site = 0};
    check_access(&n.access[0], &x);
    cpis_notification_free(&n);
}

static void test_sample_multi(void **state)
{
    (void)state;
    struct cpis_notification n;
    parse_sample_ok("messages/fhir-multi.json", &n);
    check_header(&n, REC_KIND_ACCESS, "7D3E9F15-2A6B-4C8D-9E0F-1B3C5D7E9F24",
                 "2024-03-18T10:52:14Z", "706", "", "", 2);
    const struct exp_access a0 = {
        .nhs = "9000000009", .local_id = "", .accessed_at = "2024-03-18T10:05:00Z",
        .author_kind = AUTHOR_PERSON, .viewer = "Dr Priya Shah", .role = "R8000",
        .role_name = "Clinical Practitioner Access Role", .user_id = "555123456789",
        .role_profile = "555123450012", .asid = "", .system_name = "", .loc = "RJE09",
        .loc_name = "COUNTY HOSPITAL", .is_site = 1};
    const struct exp_access a1 = {
        .nhs = "9960308243", .local_id = "", .accessed_at = "2024-03-18T10:47:30Z",
        .author_kind = AUTHOR_PERSON, .viewer = "Mr Tom Evans", .role = "R8001",
        .role_name = "Nurse Access Role", .user_id = "555987654321",
        .role_profile = "555987650044", .asid = "", .system_name = "", .loc = "M83700",
        .loc_name = "CANNOCK URGENT TREATMENT CENTRE", .is_site = 0};
    /* Bundle order is kept. */
    check_access(&n.access[0], &a0);
    check_access(&n.access[1], &a1);
    cpis_notification_free(&n);
}

static void test_sample_empty(void **state)
{
    (void)state;
    struct cpis_notification n;
    parse_sample_ok("messages/fhir-empty.json", &n);
    check_header(&n, REC_KIND_EMPTY, "2F8A4C6E-0B1D-4E3F-A5B7-C9D1E3F5A7B9",
                 "2024-03-17T06:00:00Z", "706", "", "", 0);
    cpis_notification_free(&n);
}

static void test_sample_inactive(void **state)
{
    (void)state;
    struct cpis_notification n;
    parse_sample_ok("messages/fhir-inactive.json", &n);
    check_header(&n, REC_KIND_INACTIVE, "C1E3A5B7-9D0F-4B2D-8F4A-6C8E0A2C4E61",
                 "2024-03-19T08:30:00Z", "706", "706_CPIS_UPLOAD_20240301.xml", "9378657974",
                 0);
    cpis_notification_free(&n);
}

static void test_sample_gp_ooh(void **state)
{
    (void)state;
    struct cpis_notification n;
    parse_sample_ok("messages/fhir-gp-ooh.json", &n);
    check_header(&n, REC_KIND_ACCESS, "9B1D3F5A-7C0E-4A2C-8E4B-6D8F0B2D4F73",
                 "2024-03-16T02:17:41Z", "706", "", "", 1);
    /* The location is a referenced Organization: its name comes from
     * Organization.name. */
    const struct exp_access x = {
        .nhs = "4010232137", .local_id = "", .accessed_at = "2024-03-16T02:15:00Z",
        .author_kind = AUTHOR_PERSON, .viewer = "Dr Helen Carter", .role = "R0260",
        .role_name = "General Medical Practitioner", .user_id = "555246813579",
        .role_profile = "555246810021", .asid = "", .system_name = "", .loc = "M83620",
        .loc_name = "STAFFORDSHIRE DOCTORS URGENT CARE OOH", .is_site = 0};
    check_access(&n.access[0], &x);
    cpis_notification_free(&n);
}

static void test_sample_cascade_crew(void **state)
{
    (void)state;
    struct cpis_notification n;
    parse_sample_ok("cascade/03-ambulance-crew.json", &n);
    check_header(&n, REC_KIND_ACCESS, "A3D58F62-0B7E-4C19-9F24-6E8B1C5D7A30",
                 "2024-03-15T14:21:37Z", "706", "", "", 1);
    const struct exp_access x = {
        .nhs = "9449305552", .local_id = "", .accessed_at = "2024-03-15T14:20:00Z",
        .author_kind = AUTHOR_PERSON, .viewer = "Jo Hughes", .role = "R8003",
        .role_name = "Health Professional Access Role", .user_id = "687402815106",
        .role_profile = "687402819913", .asid = "", .system_name = "", .loc = "RYA02",
        .loc_name = "STAFFORD AMBULANCE HUB", .is_site = 1};
    check_access(&n.access[0], &x);
    cpis_notification_free(&n);
}

/* Every *.json under samples/ that is a FHIR message parses. */
static void test_every_sample_json_parses(void **state)
{
    (void)state;
    static const char *const dirs[] = {"messages", "cascade"};
    int seen = 0;
    for (size_t d = 0; d < 2; d++) {
        char dir[4200];
        sample_path(dir, sizeof dir, dirs[d]);
        DIR *dp = opendir(dir);
        assert_non_null(dp);
        struct dirent *de;
        while ((de = readdir(dp)) != NULL) {
            size_t l = strlen(de->d_name);
            if (l < 5 || strcmp(de->d_name + l - 5, ".json") != 0)
                continue;
            char path[8400];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            struct cpis_notification n;
            struct cpis_parse_error e;
            int rc = parse_path(path, &n, &e);
            if (rc != CPIS_MSG_OK)
                fail_msg("%s: code %d (%s)", de->d_name, rc, e.detail);
            cpis_notification_free(&n);
            seen++;
        }
        closedir(dp);
    }
    assert_true(seen >= 7);
}

/* ---- accepted variants under tests/data/fhir --------------------------- */

static void test_ok_deep_900(void **state)
{
    (void)state;
    char path[4200];
    struct cpis_notification n;
    struct cpis_parse_error e;
    data_path(path, sizeof path, "ok-deep-900.json");
    assert_int_equal(parse_path(path, &n, &e), CPIS_MSG_OK);
    check_header(&n, REC_KIND_ACCESS, "4B7C9E21-6F3A-4D8B-A5C2-9E1D7F0B3A64",
                 "2024-03-15T14:32:10Z", "706", "", "", 1);
    check_access(&n.access[0], &contract_person);
    cpis_notification_free(&n);
}

/* Relative and versioned references, single objects where FHIR has arrays,
 * an inline receiver identifier, a compound SDS job role code, an NHS number
 * in 3-3-4 groups, an LA local id and an official name after a usual one:
 * the same access as the contract example. */
static void test_ok_relative_refs(void **state)
{
    (void)state;
    char path[4200];
    struct cpis_notification n;
    struct cpis_parse_error e;
    data_path(path, sizeof path, "ok-relative-refs.json");
    assert_int_equal(parse_path(path, &n, &e), CPIS_MSG_OK);
    check_header(&n, REC_KIND_ACCESS, "4B7C9E21-6F3A-4D8B-A5C2-9E1D7F0B3A64",
                 "2024-03-15T14:32:10Z", "706", "", "", 1);
    struct exp_access x = contract_person;
    x.local_id = "LA-000123";
    check_access(&n.access[0], &x);
    cpis_notification_free(&n);
}

/* Device author, owner by reference to a site Organization, responsible
 * person a PractitionerRole in agent[2] (agent[1] is not a person). */
static void test_ok_device_role_site(void **state)
{
    (void)state;
    char path[4200];
    struct cpis_notification n;
    struct cpis_parse_error e;
    data_path(path, sizeof path, "ok-device-role-site.json");
    assert_int_equal(parse_path(path, &n, &e), CPIS_MSG_OK);
    check_header(&n, REC_KIND_ACCESS, "E9C24A7B-5D18-4F63-8B0E-1A7D3F6C9E52",
                 "2024-03-16T09:43:05Z", "706", "", "", 1);
    const struct exp_access x = {
        .nhs = "1860913903", .local_id = "", .accessed_at = "2024-03-16T09:41:12Z",
        .author_kind = AUTHOR_SYSTEM, .viewer = "Alex Morgan", .role = "R8001",
        .role_name = "Nurse Access Role", .user_id = "687226510108",
        .role_profile = "687226519951", .asid = "918999198738",
        .system_name = "WMAS Computer Aided Dispatch", .loc = "RYA01",
        .loc_name = "WMAS EMERGENCY OPERATIONS CENTRE", .is_site = 1};
    check_access(&n.access[0], &x);
    cpis_notification_free(&n);
}

/* ---- rejected inputs --------------------------------------------------- */

struct bad {
    const char *file;
    int code;
};

static const struct bad bad_files[] = {
    {"malformed-truncated.json", CPIS_MSG_MALFORMED},
    {"malformed-trailing-garbage.json", CPIS_MSG_MALFORMED},
    {"malformed-two-documents.json", CPIS_MSG_MALFORMED},
    {"malformed-not-json.json", CPIS_MSG_MALFORMED},
    {"malformed-empty-file.json", CPIS_MSG_MALFORMED},
    {"malformed-nul-byte.json", CPIS_MSG_MALFORMED},
    {"malformed-deep-5000.json", CPIS_MSG_MALFORMED},
    {"malformed-deep-5000-bare.json", CPIS_MSG_MALFORMED},
    {"malformed-entry-not-array.json", CPIS_MSG_MALFORMED},
    {"malformed-entry-is-string.json", CPIS_MSG_MALFORMED},
    {"malformed-resource-not-object.json", CPIS_MSG_MALFORMED},
    {"malformed-no-resourcetype.json", CPIS_MSG_MALFORMED},
    {"malformed-fullurl-number.json", CPIS_MSG_MALFORMED},
    {"malformed-duplicate-fullurl.json", CPIS_MSG_MALFORMED},
    {"bad-encoding-latin1.json", CPIS_MSG_BAD_ENCODING},
    {"bad-encoding-utf16.json", CPIS_MSG_BAD_ENCODING},
    {"bad-encoding-overlong.json", CPIS_MSG_BAD_ENCODING},
    {"unsupported-not-bundle.json", CPIS_MSG_UNSUPPORTED},
    {"unsupported-collection.json", CPIS_MSG_UNSUPPORTED},
    {"unsupported-event-code.json", CPIS_MSG_UNSUPPORTED},
    {"unsupported-event-system.json", CPIS_MSG_UNSUPPORTED},
    {"unsupported-top-array.json", CPIS_MSG_UNSUPPORTED},
    {"unsupported-top-string.json", CPIS_MSG_UNSUPPORTED},
    {"unsupported-type-number.json", CPIS_MSG_UNSUPPORTED},
    {"missing-header-id.json", CPIS_MSG_MISSING_FIELD},
    {"missing-header-id-number.json", CPIS_MSG_MISSING_FIELD},
    {"missing-header.json", CPIS_MSG_MISSING_FIELD},
    {"missing-event-coding.json", CPIS_MSG_MISSING_FIELD},
    {"missing-recorded.json", CPIS_MSG_MISSING_FIELD},
    {"missing-recorded-number.json", CPIS_MSG_MISSING_FIELD},
    {"missing-bundle-timestamp.json", CPIS_MSG_MISSING_FIELD},
    {"missing-patient-nhs.json", CPIS_MSG_MISSING_FIELD},
    {"missing-patient-identifier-string.json", CPIS_MSG_MISSING_FIELD},
    {"missing-nhs-value.json", CPIS_MSG_MISSING_FIELD},
    {"missing-dangling-patient-ref.json", CPIS_MSG_MISSING_FIELD},
    {"missing-agent.json", CPIS_MSG_MISSING_FIELD},
    {"missing-agent-string.json", CPIS_MSG_MISSING_FIELD},
    {"missing-agent-who-patient.json", CPIS_MSG_MISSING_FIELD},
    {"missing-location.json", CPIS_MSG_MISSING_FIELD},
    {"missing-location-string.json", CPIS_MSG_MISSING_FIELD},
    {"missing-device-owner.json", CPIS_MSG_MISSING_FIELD},
    {"missing-inactive-patient.json", CPIS_MSG_MISSING_FIELD},
    {"nhs-check-digit.json", CPIS_MSG_INVALID_NHS_NUMBER},
    {"nhs-json-number.json", CPIS_MSG_INVALID_NHS_NUMBER},
    {"nhs-letters.json", CPIS_MSG_INVALID_NHS_NUMBER},
    {"nhs-nine-digits.json", CPIS_MSG_INVALID_NHS_NUMBER},
    {"nhs-inactive-check-digit.json", CPIS_MSG_INVALID_NHS_NUMBER},
    {"ods-punctuation.json", CPIS_MSG_INVALID_ODS_CODE},
    {"ods-twelve-chars.json", CPIS_MSG_INVALID_ODS_CODE},
    {"ods-la-empty.json", CPIS_MSG_INVALID_ODS_CODE},
    {"ods-device-owner-number.json", CPIS_MSG_INVALID_ODS_CODE},
    {"ts-month-13.json", CPIS_MSG_INVALID_TIMESTAMP},
    {"ts-no-zone.json", CPIS_MSG_INVALID_TIMESTAMP},
    {"ts-feb-30.json", CPIS_MSG_INVALID_TIMESTAMP},
    {"ts-created-uk-format.json", CPIS_MSG_INVALID_TIMESTAMP},
};
#define N_BAD (sizeof bad_files / sizeof bad_files[0])

static const char *const accepted_files[] = {"ok-deep-900.json", "ok-relative-refs.json",
                                             "ok-device-role-site.json"};
#define N_ACCEPTED (sizeof accepted_files / sizeof accepted_files[0])

/* Values that must never appear in an error detail: NHS numbers (valid and
 * bad ones from the corpus, in both spellings), names, bad codes. */
static const char *const secrets[] = {
    "9449305552", "944 930 5552", "9912003899", "94493O5552", "944930555", "1860913903",
    "9378657974", "9378657975", "Patel", "Sam", "Morgan", "RR8-01", "RR801ABCDEFG",
    "RR801", "NL3", "2024-13-01", "2024-02-30", "15/03/2024", "4B7C9E21", "E9C24A7B"};

/* A detail is a NUL-terminated, non-empty, printable ASCII sentence with no
 * secret and no run of 6 or more digits (an NHS number, a date, an id). */
static void check_detail(const struct cpis_parse_error *e, const char *what)
{
    size_t n = strnlen(e->detail, sizeof e->detail);
    if (n == 0 || n >= sizeof e->detail)
        fail_msg("%s: detail empty or unterminated", what);
    int run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)e->detail[i];
        if (ch < 0x20 || ch > 0x7e)
            fail_msg("%s: detail has a non-printable byte", what);
        run = isdigit(ch) ? run + 1 : 0;
        if (run >= 6)
            fail_msg("%s: detail has a long digit run: %s", what, e->detail);
    }
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strstr(e->detail, secrets[i]) != NULL)
            fail_msg("%s: detail echoes an input value: %s", what, e->detail);
}

static void check_zeroed(const struct cpis_notification *n, const char *what)
{
    if (n->access != NULL || n->n_access != 0 || n->message_id[0] != '\0' || n->la_code[0] ||
        n->n_inactive != 0 || n->inactive != NULL || n->created != 0 || n->kind != 0)
        fail_msg("%s: record not zeroed on error", what);
}

static void test_bad_files(void **state)
{
    (void)state;
    int per_code[CPIS_MSG_END_] = {0};
    for (size_t i = 0; i < N_BAD; i++) {
        char path[4200];
        data_path(path, sizeof path, bad_files[i].file);
        struct cpis_notification n;
        struct cpis_parse_error e;
        memset(&n, 0x5A, sizeof n); /* garbage in: the parser must reset it */
        memset(&e, 0x5A, sizeof e);
        int rc = parse_path(path, &n, &e);
        if (rc != bad_files[i].code)
            fail_msg("%s: expected code %d, got %d (%s)", bad_files[i].file,
                     bad_files[i].code, rc, rc ? e.detail : "");
        assert_int_equal(e.code, rc);
        check_detail(&e, bad_files[i].file);
        check_zeroed(&n, bad_files[i].file);
        per_code[rc]++;
    }
    /* At least two files per applicable code. */
    static const int codes[] = {CPIS_MSG_MALFORMED,          CPIS_MSG_UNSUPPORTED,
                                CPIS_MSG_MISSING_FIELD,      CPIS_MSG_INVALID_NHS_NUMBER,
                                CPIS_MSG_INVALID_ODS_CODE,   CPIS_MSG_INVALID_TIMESTAMP,
                                CPIS_MSG_BAD_ENCODING};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (per_code[codes[i]] < 2)
            fail_msg("error code %d has fewer than two bad files", codes[i]);
}

/* No file under tests/data/fhir goes untested. */
static void test_data_dir_fully_listed(void **state)
{
    (void)state;
    char dir[4200];
    data_path(dir, sizeof dir, "");
    DIR *dp = opendir(dir);
    assert_non_null(dp);
    struct dirent *de;
    size_t files = 0;
    while ((de = readdir(dp)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        int known = 0;
        for (size_t i = 0; i < N_BAD && !known; i++)
            known = strcmp(de->d_name, bad_files[i].file) == 0;
        for (size_t i = 0; i < N_ACCEPTED && !known; i++)
            known = strcmp(de->d_name, accepted_files[i]) == 0;
        if (!known)
            fail_msg("tests/data/fhir/%s has no expectation in test_fhir.c", de->d_name);
        files++;
    }
    closedir(dp);
    assert_int_equal(files, N_BAD + N_ACCEPTED);
}

/* The NHS number as a JSON number is invalid_nhs_number (documented
 * choice), and the detail says why without the number. */
static void test_nhs_number_as_json_number_detail(void **state)
{
    (void)state;
    char path[4200];
    struct cpis_notification n;
    struct cpis_parse_error e;
    data_path(path, sizeof path, "nhs-json-number.json");
    assert_int_equal(parse_path(path, &n, &e), CPIS_MSG_INVALID_NHS_NUMBER);
    assert_non_null(strstr(e.detail, "not a JSON string"));
}

/* Missing-field details name the field. */
static void test_missing_field_names_field(void **state)
{
    (void)state;
    static const struct {
        const char *file, *field;
    } cases[] = {
        {"missing-header-id.json", "MessageHeader.id"},
        {"missing-recorded.json", "AuditEvent.recorded"},
        {"missing-bundle-timestamp.json", "Bundle.timestamp"},
        {"missing-patient-nhs.json", "nhs-number"},
        {"missing-location.json", "PractitionerRole.organization"},
        {"missing-device-owner.json", "Device.owner"},
        {"missing-agent.json", "AuditEvent.agent[0].who"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[4200];
        struct cpis_notification n;
        struct cpis_parse_error e;
        data_path(path, sizeof path, cases[i].file);
        assert_int_equal(parse_path(path, &n, &e), CPIS_MSG_MISSING_FIELD);
        if (strstr(e.detail, cases[i].field) == NULL)
            fail_msg("%s: detail does not name %s: %s", cases[i].file, cases[i].field,
                     e.detail);
    }
}

/* ---- buffer handling --------------------------------------------------- */

static uint8_t *load_sample(const char *rel, size_t *len)
{
    char path[4200];
    sample_path(path, sizeof path, rel);
    return load(path, len);
}

static void test_trailing_whitespace_and_bom_accepted(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = load_sample("messages/fhir-access-person.json", &len);
    uint8_t *big = malloc(len + 16);
    assert_non_null(big);
    memcpy(big, "\xEF\xBB\xBF", 3);
    memcpy(big + 3, buf, len);
    memcpy(big + 3 + len, " \r\n\t\n", 5);
    struct cpis_notification n;
    struct cpis_parse_error e;
    assert_int_equal(cpis_parse_fhir(big, len + 8, &n, &e), CPIS_MSG_OK);
    check_access(&n.access[0], &contract_person);
    cpis_notification_free(&n);
    free(big);
    free(buf);
}

/* Only len bytes are read: a valid prefix length cut short is malformed even
 * though the bytes after it in memory would complete the document. */
static void test_length_is_respected(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = load_sample("messages/fhir-access-person.json", &len);
    struct cpis_notification n;
    struct cpis_parse_error e;
    assert_int_equal(cpis_parse_fhir(buf, len - 3, &n, &e), CPIS_MSG_MALFORMED);
    check_detail(&e, "cut");
    for (size_t cut = 0; cut < len; cut += 97) {
        int rc = cpis_parse_fhir(buf, cut, &n, &e);
        assert_int_not_equal(rc, CPIS_MSG_OK);
        check_zeroed(&n, "prefix");
    }
    free(buf);
}

static void test_null_arguments(void **state)
{
    (void)state;
    struct cpis_notification n;
    struct cpis_parse_error e;
    assert_int_equal(cpis_parse_fhir(NULL, 10, &n, &e), CPIS_MSG_MALFORMED);
    assert_int_equal(cpis_parse_fhir((const uint8_t *)"{}", 2, NULL, &e), CPIS_MSG_MALFORMED);
    /* err may be NULL */
    assert_int_equal(cpis_parse_fhir((const uint8_t *)"[]", 2, &n, NULL), CPIS_MSG_UNSUPPORTED);
    size_t len;
    uint8_t *buf = load_sample("messages/fhir-empty.json", &len);
    assert_int_equal(cpis_parse_fhir(buf, len, &n, NULL), CPIS_MSG_OK);
    assert_int_equal(n.kind, REC_KIND_EMPTY);
    cpis_notification_free(&n);
    free(buf);
}

/* Inline JSON cases for rules not covered by a file. */
static int parse_str(const char *s, struct cpis_notification *n, struct cpis_parse_error *e)
{
    size_t len = strlen(s);
    uint8_t *b = malloc(len ? len : 1);
    memcpy(b, s, len);
    int rc = cpis_parse_fhir(b, len, n, e);
    free(b);
    return rc;
}

#define HDR(code)                                                                            \
    "{\"resourceType\":\"Bundle\",\"type\":\"message\",\"timestamp\":\"2024-03-15T14:32:10+01:00\"," \
    "\"entry\":[{\"fullUrl\":\"urn:uuid:h\",\"resource\":{\"resourceType\":\"MessageHeader\","  \
    "\"id\":\"H-1\",\"eventCoding\":{\"system\":\"urn:oid:2.16.840.1.113883.2.1.3.2.4.17.470\"," \
    "\"code\":\"" code "\"}}}"

static void test_inline_rules(void **state)
{
    (void)state;
    struct cpis_notification n;
    struct cpis_parse_error e;
    /* No receiver: la_code stays empty; offset timestamps convert to UTC. */
    assert_int_equal(parse_str(HDR("05") "]}", &n, &e), CPIS_MSG_OK);
    assert_int_equal(n.kind, REC_KIND_EMPTY);
    assert_string_equal(n.la_code, "");
    assert_true(n.created == ts("2024-03-15T13:32:10Z"));
    cpis_notification_free(&n);
    /* Inactive without focus: the only Patient. */
    assert_int_equal(parse_str(HDR("06") ",{\"resource\":{\"resourceType\":\"Patient\","
                                         "\"identifier\":[{\"system\":\"https://fhir.nhs.uk/Id/"
                                         "nhs-number\",\"value\":\"9378657974\"}]}}]}",
                               &n, &e),
                     CPIS_MSG_OK);
    assert_int_equal(n.kind, REC_KIND_INACTIVE);
    assert_int_equal(n.n_inactive, 1);
    assert_string_equal(n.inactive[0].nhs_number, "9378657974");
    cpis_notification_free(&n);
    /* Inactive, two Patients and no focus: ambiguous. */
    assert_int_equal(parse_str(HDR("06") ",{\"resource\":{\"resourceType\":\"Patient\"}},"
                                         "{\"resource\":{\"resourceType\":\"Patient\"}}]}",
                               &n, &e),
                     CPIS_MSG_MISSING_FIELD);
    check_detail(&e, "two patients");
    /* An event code that is a number, not a string. */
    assert_int_equal(parse_str("{\"resourceType\":\"Bundle\",\"type\":\"message\",\"entry\":["
                               "{\"resource\":{\"resourceType\":\"MessageHeader\",\"id\":\"x\","
                               "\"eventCoding\":{\"system\":\"urn:oid:2.16.840.1.113883.2.1.3.2."
                               "4.17.470\",\"code\":5}}}]}",
                               &n, &e),
                     CPIS_MSG_MISSING_FIELD);
    /* A MessageHeader.id too long for the record is rejected, not cut. */
    char longid[1024];
    snprintf(longid, sizeof longid,
             "{\"resourceType\":\"Bundle\",\"type\":\"message\",\"timestamp\":\"2024-03-15T"
             "14:32:10Z\",\"entry\":[{\"resource\":{\"resourceType\":\"MessageHeader\",\"id\":"
             "\"%0200d\",\"eventCoding\":{\"system\":\"urn:oid:2.16.840.1.113883.2.1.3.2.4.17."
             "470\",\"code\":\"05\"}}}]}",
             0);
    assert_int_equal(parse_str(longid, &n, &e), CPIS_MSG_MALFORMED);
    check_zeroed(&n, "long id");
    /* JSON null where objects are expected. */
    assert_int_equal(parse_str("{\"resourceType\":\"Bundle\",\"type\":\"message\",\"entry\":null}",
                               &n, &e),
                     CPIS_MSG_MALFORMED);
    assert_int_equal(parse_str("{\"resourceType\":\"Bundle\",\"type\":\"message\"}", &n, &e),
                     CPIS_MSG_MISSING_FIELD);
}

/* Control characters smuggled in through JSON escapes become spaces. */
static void test_control_chars_cleaned(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = load_sample("messages/fhir-access-person.json", &len);
    char *txt = malloc(len + 64);
    memcpy(txt, buf, len);
    txt[len] = '\0';
    char *at = strstr(txt, "\"Sam\"");
    assert_non_null(at);
    static const char repl[] = "\"S\\u0007am\\nX\"";
    memmove(at + sizeof repl - 1, at + 5, strlen(at + 5) + 1);
    memcpy(at, repl, sizeof repl - 1);
    struct cpis_notification n;
    struct cpis_parse_error e;
    assert_int_equal(parse_str(txt, &n, &e), CPIS_MSG_OK);
    assert_string_equal(n.access[0].viewer, "Dr S am X Patel");
    cpis_notification_free(&n);
    free(txt);
    free(buf);
}

/* ---- mutation sweep: every node, every JSON type ----------------------- */

static int count_nodes(const cJSON *j)
{
    int k = 1;
    for (const cJSON *c = j->child; c != NULL; c = c->next)
        k += count_nodes(c);
    return k;
}

/* Pre-order node number idx -> the node (and its parent). */
static cJSON *nth_node(cJSON *j, int *idx, cJSON **parent)
{
    if ((*idx)-- == 0)
        return j;
    for (cJSON *c = j->child; c != NULL; c = c->next) {
        cJSON *hit = nth_node(c, idx, parent);
        if (hit != NULL) {
            if (*parent == NULL)
                *parent = j;
            return hit;
        }
    }
    return NULL;
}

static cJSON *replacement(int kind)
{
    switch (kind) {
    case 0: return cJSON_CreateString("9449305552");
    case 1: return cJSON_CreateNumber(9449305552.0);
    case 2: return cJSON_CreateNull();
    case 3: return cJSON_CreateArray();
    case 4: return cJSON_CreateObject();
    case 5: return cJSON_CreateTrue();
    default: return cJSON_CreateString("");
    }
}

static void sweep(const char *rel)
{
    size_t len;
    uint8_t *buf = load_sample(rel, &len);
    char *txt = malloc(len + 1);
    memcpy(txt, buf, len);
    txt[len] = '\0';
    cJSON *orig = cJSON_Parse(txt);
    assert_non_null(orig);
    int nodes = count_nodes(orig);
    int ok = 0, rejected = 0;
    for (int i = 1; i < nodes; i++) { /* node 0 is the root */
        for (int kind = 0; kind < 8; kind++) {
            cJSON *copy = cJSON_Duplicate(orig, 1);
            int idx = i;
            cJSON *parent = NULL;
            cJSON *node = nth_node(copy, &idx, &parent);
            assert_non_null(node);
            assert_non_null(parent);
            if (kind == 7) {
                cJSON_DetachItemViaPointer(parent, node);
                cJSON_Delete(node);
            } else {
                cJSON_ReplaceItemViaPointer(parent, node, replacement(kind));
            }
            char *out = cJSON_PrintUnformatted(copy);
            cJSON_Delete(copy);
            assert_non_null(out);
            struct cpis_notification n;
            struct cpis_parse_error e;
            int rc = parse_str(out, &n, &e);
            free(out);
            assert_true(rc >= CPIS_MSG_OK && rc < CPIS_MSG_END_);
            assert_int_equal(e.code, rc);
            if (rc == CPIS_MSG_OK) {
                assert_int_equal(n.format, REC_FORMAT_FHIR);
                for (size_t k = 0; k < n.n_access; k++)
                    assert_int_equal(strlen(n.access[k].nhs_number), 10);
                cpis_notification_free(&n);
                ok++;
            } else {
                check_detail(&e, rel);
                check_zeroed(&n, rel);
                rejected++;
            }
        }
    }
    /* Sanity: the sweep really exercised both outcomes. */
    assert_true(ok > 0);
    assert_true(rejected > 0);
    cJSON_Delete(orig);
    free(txt);
    free(buf);
}

static void test_sweep_person(void **state)
{
    (void)state;
    sweep("messages/fhir-access-person.json");
}

static void test_sweep_system(void **state)
{
    (void)state;
    sweep("messages/fhir-access-system.json");
}

static void test_sweep_inactive(void **state)
{
    (void)state;
    sweep("messages/fhir-inactive.json");
}

/* ---- threads ----------------------------------------------------------- */

struct thr {
    uint8_t *buf;
    size_t len;
    int failures;
};

static void *thr_main(void *arg)
{
    struct thr *t = arg;
    for (int i = 0; i < 200; i++) {
        struct cpis_notification n;
        struct cpis_parse_error e;
        if (cpis_parse_fhir(t->buf, t->len, &n, &e) != CPIS_MSG_OK || n.n_access != 2 ||
            strcmp(n.access[1].nhs_number, "9960308243") != 0)
            t->failures++;
        cpis_notification_free(&n);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    struct thr t[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        t[i].buf = load_sample("messages/fhir-multi.json", &t[i].len);
        t[i].failures = 0;
        assert_int_equal(pthread_create(&th[i], NULL, thr_main, &t[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(t[i].failures, 0);
        free(t[i].buf);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_access_person),
        cmocka_unit_test(test_sample_access_system),
        cmocka_unit_test(test_sample_multi),
        cmocka_unit_test(test_sample_empty),
        cmocka_unit_test(test_sample_inactive),
        cmocka_unit_test(test_sample_gp_ooh),
        cmocka_unit_test(test_sample_cascade_crew),
        cmocka_unit_test(test_every_sample_json_parses),
        cmocka_unit_test(test_ok_deep_900),
        cmocka_unit_test(test_ok_relative_refs),
        cmocka_unit_test(test_ok_device_role_site),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_data_dir_fully_listed),
        cmocka_unit_test(test_nhs_number_as_json_number_detail),
        cmocka_unit_test(test_missing_field_names_field),
        cmocka_unit_test(test_trailing_whitespace_and_bom_accepted),
        cmocka_unit_test(test_length_is_respected),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_inline_rules),
        cmocka_unit_test(test_control_chars_cleaned),
        cmocka_unit_test(test_sweep_person),
        cmocka_unit_test(test_sweep_system),
        cmocka_unit_test(test_sweep_inactive),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, find_samples, NULL);
}
