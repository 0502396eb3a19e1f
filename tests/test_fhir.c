/*
 * test_fhir.c - the FHIR reader (plugin/read/fhir.c): the CP-IS FHIR API's
 * AuditEvent searchset Bundle (see plugin/read/fhir.c for what is read).
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

struct exp_access {
    const char *access_id, *nhs, *accessed_at, *viewer, *role, *role_name, *user_id,
        *role_profile, *loc, *loc_name;
    int is_site;
};

static void check_access(const struct cpis_access *a, const struct exp_access *x)
{
    assert_string_equal(a->access_id, x->access_id);
    assert_string_equal(a->nhs_number, x->nhs);
    assert_string_equal(a->la_child_id, "");
    assert_true(a->accessed_at == ts(x->accessed_at));
    assert_int_equal(a->author_kind, AUTHOR_PERSON);
    assert_string_equal(a->viewer, x->viewer);
    assert_string_equal(a->viewer_role, x->role);
    assert_string_equal(a->viewer_role_name, x->role_name);
    assert_string_equal(a->viewer_user_id, x->user_id);
    assert_string_equal(a->viewer_role_profile, x->role_profile);
    assert_string_equal(a->system_asid, "");
    assert_string_equal(a->location_code, x->loc);
    assert_int_equal(a->location_is_site, x->is_site);
    assert_string_equal(a->location_name, x->loc_name);
    /* Enrichment is act.c's job: the parser leaves it empty. */
    assert_string_equal(a->resolved_name, "");
    assert_int_equal(a->resolved, 0);
}

static void check_bundle(const struct cpis_notification *n, int kind, const char *id,
                         const char *created, size_t n_access)
{
    assert_int_equal(n->kind, kind);
    assert_int_equal(n->format, REC_FORMAT_FHIR);
    assert_string_equal(n->message_id, id);
    assert_true(n->created == ts(created));
    assert_string_equal(n->la_code, "");
    assert_int_equal(n->n_access, n_access);
    assert_int_equal(n->total_records, (long)n_access);
}

static const struct exp_access person = {
    .access_id = "0a41c7de-2f1b-4b5e-9c3a-5d8e7f604101", .nhs = "9449305552",
    .accessed_at = "2024-03-15T14:29:58Z", .viewer = "Dr Sam Patel", .role = "158965000",
    .role_name = "Medical practitioner", .user_id = "555000123401",
    .role_profile = "555123456101", .loc = "RR801",
    .loc_name = "LEEDS GENERAL INFIRMARY - PAEDIATRIC EMERGENCY DEPARTMENT (RR801)"};

/* ---- samples ------------------------------------------------------------ */

static void test_sample_access_person(void **state)
{
    (void)state;
    struct cpis_notification n;
    parse_sample_ok("messages/fhir-access-person.json", &n);
    check_bundle(&n, REC_KIND_ACCESS, "4b7c9e21-6f3a-4d8b-a5c2-9e1d7f0b3a64",
                 "2024-03-15T14:32:10Z", 1);
    check_access(&n.access[0], &person);
    cpis_notification_free(&n);
}

/* An NHS 111 clinician: no ODS identifier, the code in brackets only. */
static void test_sample_access_111(void **state)
{
    (void)state;
    struct cpis_notification n;
    parse_sample_ok("messages/fhir-access-111.json", &n);
    check_bundle(&n, REC_KIND_ACCESS, "e9c24a7b-5d18-4f63-8b0e-1a7d3f6c9e52",
                 "2024-03-16T09:43:05Z", 1);
    const struct exp_access x = {
        .access_id = "7c2e9a10-4d3b-4f8e-a1b2-3c4d5e6f7001", .nhs = "1860913903",
        .accessed_at = "2024-03-16T09:41:12Z", .viewer = "Alex Morgan", .role = "224535009",
        .role_name = "Registered nurse", .user_id = "555000223302",
        .role_profile = "555223344502", .loc = "QQ1",
        .loc_name = "KESTRELMOOR HEALTH CARE CIC - NHS 111 WEST MIDLANDS (QQ1)"};
    check_access(&n.access[0], &x);
    cpis_notification_free(&n);
}

/* Two accesses, two PractitionerRoles; requestor once a boolean, once "true". */
static void test_sample_multi(void **state)
{
    (void)state;
    struct cpis_notification n;
    parse_sample_ok("messages/fhir-multi.json", &n);
    check_bundle(&n, REC_KIND_ACCESS, "7d3e9f15-2a6b-4c8d-9e0f-1b3c5d7e9f24",
                 "2024-03-18T10:52:14Z", 2);
    assert_string_equal(n.access[0].viewer, "Dr Priya Shah");
    assert_string_equal(n.access[0].location_code, "QQE09");
    assert_string_equal(n.access[0].access_id, "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c01");
    assert_string_equal(n.access[1].viewer, "Mr Tom Evans");
    assert_string_equal(n.access[1].location_code, "Q99700");
    assert_string_equal(n.access[1].viewer_role, "224535009");
    assert_string_equal(n.access[1].access_id, "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c02");
    assert_string_equal(n.access[0].nhs_number, "9000000009");
    cpis_notification_free(&n);
}

static void test_sample_empty(void **state)
{
    (void)state;
    struct cpis_notification n;
    parse_sample_ok("messages/fhir-empty.json", &n);
    check_bundle(&n, REC_KIND_EMPTY, "2f8a4c6e-0b1d-4e3f-a5b7-c9d1e3f5a7b9",
                 "2024-03-17T06:00:00Z", 0);
    assert_null(n.access);
    cpis_notification_free(&n);
}

static void test_sample_gp_ooh_and_crew(void **state)
{
    (void)state;
    struct cpis_notification n;
    parse_sample_ok("messages/fhir-gp-ooh.json", &n);
    assert_string_equal(n.access[0].location_code, "Q99620");
    assert_string_equal(n.access[0].viewer_role_name, "General practitioner");
    cpis_notification_free(&n);
    parse_sample_ok("cascade/03-ambulance-crew.json", &n);
    assert_string_equal(n.access[0].location_code, "QQA02");
    assert_string_equal(n.access[0].viewer, "Jo Hughes");
    assert_string_equal(n.access[0].viewer_role, "397897005");
    assert_string_equal(n.access[0].viewer_role_name, "Paramedic");
    cpis_notification_free(&n);
}

/* Every *.json under samples/ parses (none is left in the invented shape). */
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
            char rel[4200];
            snprintf(rel, sizeof rel, "%s/%s", dirs[d], de->d_name);
            struct cpis_notification n;
            parse_sample_ok(rel, &n);
            cpis_notification_free(&n);
            seen++;
        }
        closedir(dp);
    }
    assert_true(seen >= 6);
}

/* ---- tests/data/fhir ---------------------------------------------------- */

struct bad_file {
    const char *file;
    int code;
};

static const struct bad_file bad_files[] = {
    {"bad-encoding-latin1.json", CPIS_MSG_BAD_ENCODING},
    {"bad-encoding-overlong.json", CPIS_MSG_BAD_ENCODING},
    {"bad-encoding-utf16.json", CPIS_MSG_BAD_ENCODING},
    {"malformed-access-id-control.json", CPIS_MSG_MALFORMED},
    {"malformed-deep-5000-bare.json", CPIS_MSG_MALFORMED},
    {"malformed-deep-5000.json", CPIS_MSG_MALFORMED},
    {"malformed-duplicate-fullurl.json", CPIS_MSG_MALFORMED},
    {"malformed-duplicate-key-nhs.json", CPIS_MSG_MALFORMED},
    {"malformed-duplicate-key-requestor.json", CPIS_MSG_MALFORMED},
    {"malformed-duplicate-key-resourcetype.json", CPIS_MSG_MALFORMED},
    {"malformed-empty-file.json", CPIS_MSG_MALFORMED},
    {"malformed-entry-is-string.json", CPIS_MSG_MALFORMED},
    {"malformed-entry-not-array.json", CPIS_MSG_MALFORMED},
    {"malformed-fullurl-number.json", CPIS_MSG_MALFORMED},
    {"malformed-nhs-nul-escape.json", CPIS_MSG_MALFORMED},
    {"malformed-no-resourcetype.json", CPIS_MSG_MALFORMED},
    {"malformed-not-json.json", CPIS_MSG_MALFORMED},
    {"malformed-nul-byte.json", CPIS_MSG_MALFORMED},
    {"malformed-ods-nul-escape.json", CPIS_MSG_MALFORMED},
    {"malformed-resource-not-object.json", CPIS_MSG_MALFORMED},
    {"malformed-trailing-garbage.json", CPIS_MSG_MALFORMED},
    {"malformed-truncated.json", CPIS_MSG_MALFORMED},
    {"malformed-two-documents.json", CPIS_MSG_MALFORMED},
    {"missing-agent-empty.json", CPIS_MSG_MISSING_FIELD},
    {"missing-agent.json", CPIS_MSG_MISSING_FIELD},
    {"missing-ods.json", CPIS_MSG_MISSING_FIELD},
    {"missing-organization.json", CPIS_MSG_MISSING_FIELD},
    {"missing-pat-agent.json", CPIS_MSG_MISSING_FIELD},
    {"missing-pat-nhs-system.json", CPIS_MSG_MISSING_FIELD},
    {"missing-pat-nhs.json", CPIS_MSG_MISSING_FIELD},
    {"missing-recorded-number.json", CPIS_MSG_MISSING_FIELD},
    {"missing-recorded.json", CPIS_MSG_MISSING_FIELD},
    {"missing-requestor-not-true.json", CPIS_MSG_MISSING_FIELD},
    {"missing-requestor.json", CPIS_MSG_MISSING_FIELD},
    {"nhs-check-digit.json", CPIS_MSG_INVALID_NHS_NUMBER},
    {"nhs-control-char.json", CPIS_MSG_INVALID_NHS_NUMBER},
    {"nhs-eight-digits.json", CPIS_MSG_INVALID_NHS_NUMBER},
    {"nhs-escape-sequence.json", CPIS_MSG_INVALID_NHS_NUMBER},
    {"nhs-json-number.json", CPIS_MSG_INVALID_NHS_NUMBER},
    {"nhs-letters.json", CPIS_MSG_INVALID_NHS_NUMBER},
    {"nhs-nine-digits.json", CPIS_MSG_INVALID_NHS_NUMBER},
    {"nhs-tab.json", CPIS_MSG_INVALID_NHS_NUMBER},
    {"ods-bracket-bad.json", CPIS_MSG_INVALID_ODS_CODE},
    {"ods-control-char.json", CPIS_MSG_INVALID_ODS_CODE},
    {"ods-json-number.json", CPIS_MSG_INVALID_ODS_CODE},
    {"ods-punctuation.json", CPIS_MSG_INVALID_ODS_CODE},
    {"ods-twelve-chars.json", CPIS_MSG_INVALID_ODS_CODE},
    {"ts-bundle-uk-format.json", CPIS_MSG_INVALID_TIMESTAMP},
    {"ts-feb-30.json", CPIS_MSG_INVALID_TIMESTAMP},
    {"ts-hl7-format.json", CPIS_MSG_INVALID_TIMESTAMP},
    {"ts-month-13.json", CPIS_MSG_INVALID_TIMESTAMP},
    {"ts-no-zone.json", CPIS_MSG_INVALID_TIMESTAMP},
    {"unsupported-collection.json", CPIS_MSG_UNSUPPORTED},
    {"unsupported-message-bundle.json", CPIS_MSG_UNSUPPORTED},
    {"unsupported-no-type.json", CPIS_MSG_UNSUPPORTED},
    {"unsupported-not-bundle.json", CPIS_MSG_UNSUPPORTED},
    {"unsupported-operation-outcome.json", CPIS_MSG_UNSUPPORTED},
    {"unsupported-top-array.json", CPIS_MSG_UNSUPPORTED},
    {"unsupported-top-string.json", CPIS_MSG_UNSUPPORTED},
    {"unsupported-type-message.json", CPIS_MSG_UNSUPPORTED},
    {"unsupported-type-number.json", CPIS_MSG_UNSUPPORTED},
};
#define N_BAD (sizeof bad_files / sizeof bad_files[0])

static const char *const accepted_files[] = {
    "ok-absolute-reference.json", "ok-bracket-code-only.json", "ok-deep-900.json",
    "ok-no-bundle-id.json",       "ok-no-role-included.json",  "ok-requestor-boolean.json",
    "ok-role-by-identifier.json", "ok-role-via-entity.json",
};
#define N_ACCEPTED (sizeof accepted_files / sizeof accepted_files[0])

static void parse_data_ok(const char *name, struct cpis_notification *n)
{
    char path[4200];
    struct cpis_parse_error e;
    data_path(path, sizeof path, name);
    int rc = parse_path(path, n, &e);
    if (rc != CPIS_MSG_OK)
        fail_msg("%s: code %d (%s)", name, rc, e.detail);
}

/* Each accepted variant reads the person sample's access, as far as it
 * carries it. */
static void test_accepted_variants(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ACCEPTED; i++) {
        struct cpis_notification n;
        parse_data_ok(accepted_files[i], &n);
        assert_int_equal(n.n_access, 1);
        const struct cpis_access *a = &n.access[0];
        assert_string_equal(a->nhs_number, "9449305552");
        assert_string_equal(a->location_code, "RR801");
        assert_string_equal(a->viewer, "Dr Sam Patel");
        assert_true(a->accessed_at == ts("2024-03-15T14:29:58Z"));
        if (strcmp(accepted_files[i], "ok-no-role-included.json") != 0) {
            assert_string_equal(a->viewer_role_profile, "555123456101");
            assert_string_equal(a->viewer_role, "158965000");
        }
        if (strcmp(accepted_files[i], "ok-no-bundle-id.json") == 0) {
            /* no Bundle.id: one made of the AuditEvent ids; no meta: the
             * latest access is the creation time */
            assert_true(strncmp(n.message_id, "auditevent-search-", 18) == 0);
            assert_true(n.created == ts("2024-03-15T14:29:58Z"));
        }
        cpis_notification_free(&n);
    }
}

/* The same accesses polled twice (another Bundle id, another order) give
 * the same access records: act.c's keys make them act once. */
static void test_polled_twice(void **state)
{
    (void)state;
    struct cpis_notification a, b;
    parse_data_ok("ok-no-bundle-id.json", &a);
    parse_sample_ok("messages/fhir-access-person.json", &b);
    assert_string_not_equal(a.message_id, b.message_id);
    assert_string_equal(a.access[0].access_id, b.access[0].access_id);
    assert_string_equal(a.access[0].nhs_number, b.access[0].nhs_number);
    assert_true(a.access[0].accessed_at == b.access[0].accessed_at);
    assert_string_equal(a.access[0].viewer_role_profile, b.access[0].viewer_role_profile);
    assert_string_equal(a.access[0].location_code, b.access[0].location_code);
    cpis_notification_free(&a);
    cpis_notification_free(&b);
}

static const char *const secrets[] = {"9449305552", "9000000009", "Patel", "LEEDS",
                                      "RR801", "555123456101", "2024-13", "15/03/2024"};

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
        n->inactive != NULL || n->n_inactive != 0 || n->created != 0 || n->kind != 0)
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

static uint8_t *load_sample(const char *rel, size_t *len)
{
    char path[4200];
    sample_path(path, sizeof path, rel);
    return load(path, len);
}

static int parse_str(const char *s, struct cpis_notification *n, struct cpis_parse_error *e)
{
    size_t len = strlen(s);
    uint8_t *b = malloc(len ? len : 1);
    memcpy(b, s, len);
    int rc = cpis_parse_fhir(b, len, n, e);
    free(b);
    return rc;
}

/* A BOM and trailing white space are fine; the length given is respected. */
static void test_bom_whitespace_and_length(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = load_sample("messages/fhir-access-person.json", &len);
    uint8_t *big = malloc(len + 16);
    memcpy(big, "\xEF\xBB\xBF", 3);
    memcpy(big + 3, buf, len);
    memcpy(big + 3 + len, " \r\n\t", 4);
    struct cpis_notification n;
    struct cpis_parse_error e;
    assert_int_equal(cpis_parse_fhir(big, len + 7, &n, &e), CPIS_MSG_OK);
    cpis_notification_free(&n);
    /* one byte short: no longer JSON */
    assert_int_equal(cpis_parse_fhir(buf, len - 3, &n, &e), CPIS_MSG_MALFORMED);
    free(big);
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

static void test_sweep_multi(void **state)
{
    (void)state;
    sweep("messages/fhir-multi.json");
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
            strcmp(n.access[1].viewer, "Mr Tom Evans") != 0)
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
        cmocka_unit_test(test_sample_access_111),
        cmocka_unit_test(test_sample_multi),
        cmocka_unit_test(test_sample_empty),
        cmocka_unit_test(test_sample_gp_ooh_and_crew),
        cmocka_unit_test(test_every_sample_json_parses),
        cmocka_unit_test(test_accepted_variants),
        cmocka_unit_test(test_polled_twice),
        cmocka_unit_test(test_bom_whitespace_and_length),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_data_dir_fully_listed),
        cmocka_unit_test(test_sweep_person),
        cmocka_unit_test(test_sweep_multi),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, find_samples, NULL);
}
