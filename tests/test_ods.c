/*
 * test_ods.c - the ODS directory (plugin/ods.c): loading the sample
 * extracts and generated files, the setting rules of docs/reference.md, overrides,
 * CSV quoting, malformed rows and error messages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ods.h"

/* ---- helpers ---------------------------------------------------------- */

static const char *samples_dir(void)
{
    const char *s = getenv("CPIS_SAMPLES");
    return (s && *s) ? s : "samples";
}

static void sample_path(char *out, size_t cap, const char *rel)
{
    snprintf(out, cap, "%s/%s", samples_dir(), rel);
}

/* A 27-column row, every field quoted as in real extracts.  Columns not
 * named are empty; CSV quoting of the given values is done here. */
struct rowspec {
    const char *code, *name, *close, *status, *parent, *phone, *presc;
};

static void append_field(char *buf, size_t cap, const char *v, int first)
{
    size_t n = strlen(buf);
    if (!first && n + 1 < cap)
        buf[n++] = ',';
    if (n + 1 < cap)
        buf[n++] = '"';
    for (; v && *v && n + 2 < cap; v++) {
        if (*v == '"')
            buf[n++] = '"';
        buf[n++] = *v;
    }
    if (n + 1 < cap)
        buf[n++] = '"';
    buf[n] = '\0';
}

static void make_row(char *buf, size_t cap, const struct rowspec *r, const char *eol)
{
    const char *f[27] = { 0 };
    f[0] = r->code;
    f[1] = r->name;
    f[2] = "Y60";
    f[3] = "QNC";
    f[4] = "1 HIGH STREET";
    f[6] = "STAFFORD";
    f[9] = "ST16 1AA";
    f[10] = "20000401";
    f[11] = r->close;
    f[12] = r->status;
    f[14] = r->parent;
    f[17] = r->phone;
    f[21] = "0";
    f[25] = r->presc;
    buf[0] = '\0';
    for (int i = 0; i < 27; i++)
        append_field(buf, cap, f[i] ? f[i] : "", i == 0);
    strncat(buf, eol, cap - strlen(buf) - 1);
}

static struct cpis_ods *load_samples(void)
{
    struct cpis_ods *d = cpis_ods_new();
    assert_non_null(d);
    char path[1024], err[512] = "";
    sample_path(path, sizeof path, "ods");
    int rc = cpis_ods_load_path(d, path, err, sizeof err);
    if (rc != 0)
        fail_msg("loading %s: %s", path, err);
    return d;
}

static int load_str(struct cpis_ods *d, const char *name, const char *s, char *err,
                    size_t cap)
{
    return cpis_ods_load_buffer(d, name, s, strlen(s), err, cap);
}

static void make_tmpdir(char *out, size_t cap)
{
    const char *t = getenv("TMPDIR");
    snprintf(out, cap, "%s/cpis_ods_XXXXXX", (t && *t) ? t : "/tmp");
    assert_non_null(mkdtemp(out));
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static void rm_tree(const char *dir)
{
    char cmd[600];
    if (!dir[0] || strncmp(dir, "/", 1) != 0 || strstr(dir, "cpis_ods_") == NULL)
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* ---- the sample universe (docs/architecture.md) ------------------------ */

struct expect {
    const char *code, *name, *setting, *parent_code, *parent_name, *phone;
    int closed;
};

static const struct expect universe[] = {
    { "QQ1", "KESTRELMOOR HEALTH CARE CIC - NHS 111 WEST MIDLANDS", "nhs_111", NULL, NULL,
      "0306 999 0404", 0 },
    { "RYA", "WEST MIDLANDS AMBULANCE SERVICE UNIVERSITY NHS FOUNDATION TRUST",
      "ambulance", NULL, NULL, "01384 215555", 0 },
    { "QQA01", "WMAS CRESTWOOD EMERGENCY OPERATIONS CENTRE", "ambulance", "RYA",
      "WEST MIDLANDS AMBULANCE SERVICE UNIVERSITY NHS FOUNDATION TRUST",
      "0121 496 0555", 0 },
    /* QQA02 has no phone of its own: the parent trust's. */
    { "QQA02", "STAFFORD LARKSPUR AMBULANCE HUB", "ambulance", "RYA",
      "WEST MIDLANDS AMBULANCE SERVICE UNIVERSITY NHS FOUNDATION TRUST",
      "01384 215555", 0 },
    { "RJE", "UNIVERSITY HOSPITALS OF NORTH MIDLANDS NHS TRUST", "hospital", NULL,
      NULL, "01782 715444", 0 },
    { "RJE01", "ROYAL STOKE UNIVERSITY HOSPITAL", "hospital", "RJE",
      "UNIVERSITY HOSPITALS OF NORTH MIDLANDS NHS TRUST", "01782 715444", 0 },
    { "QQE09", "STAFFORD BRIARWOOD HOSPITAL", "hospital", "RJE",
      "UNIVERSITY HOSPITALS OF NORTH MIDLANDS NHS TRUST", "01632 960731", 0 },
    { "RR8", "LEEDS TEACHING HOSPITALS NHS TRUST", "hospital", NULL, NULL,
      "0113 243 3144", 0 },
    { "RR801", "LEEDS GENERAL INFIRMARY", "hospital", "RR8",
      "LEEDS TEACHING HOSPITALS NHS TRUST", "0113 243 2799", 0 },
    { "RX7", "NORTH WEST AMBULANCE SERVICE NHS TRUST", "ambulance", NULL, NULL,
      "0345 112 0999", 0 },
    { "Q99010", "HANLEY FERNWICK WALK-IN CENTRE", "walk_in_centre", NULL, NULL,
      "01632 960500", 0 },
    { "Q99620", "ROWANBANK DOCTORS URGENT CARE OOH", "out_of_hours", NULL, NULL,
      "01632 960311", 0 },
    { "Q99001", "THISTLEGATE MEDICAL PRACTICE", "gp_practice", NULL, NULL,
      "01632 960244", 0 },
    { "Q99700", "CANNOCK HEATHERSIDE URGENT TREATMENT CENTRE", "urgent_care", NULL, NULL,
      "01632 960757", 0 },
    { "Q99800", "THE WILLOWGLADE CENTRE SARC", "sexual_assault_referral_centre", NULL,
      NULL, "0808 157 0375", 0 },
    { "Q99999", "QUARRYSIDE SURGERY", "gp_practice", NULL, NULL, "01632 960301", 1 },
};

static void check_expect(const struct cpis_ods *d, const struct expect *x)
{
    struct cpis_ods_resolution r;
    cpis_ods_resolve(d, x->code, &r);
    if (!r.resolved)
        fail_msg("%s did not resolve", x->code);
    assert_string_equal(r.name, x->name);
    assert_string_equal(r.setting, x->setting);
    if (x->parent_code) {
        assert_non_null(r.parent_code);
        assert_string_equal(r.parent_code, x->parent_code);
        assert_non_null(r.parent_name);
        assert_string_equal(r.parent_name, x->parent_name);
    } else {
        assert_null(r.parent_code);
        assert_null(r.parent_name);
    }
    assert_non_null(r.phone);
    assert_string_equal(r.phone, x->phone);
    assert_int_equal(r.closed, x->closed);
}

static void test_sample_universe(void **state)
{
    (void)state;
    struct cpis_ods *d = load_samples();
    for (size_t i = 0; i < sizeof universe / sizeof universe[0]; i++)
        check_expect(d, &universe[i]);
    /* 7 trusts + 9 sites + 10 practices + 4 others, all well formed. */
    assert_int_equal(cpis_ods_count(d), 30);
    assert_int_equal(cpis_ods_rejected_rows(d), 0);
    cpis_ods_free(d);
}

static void test_sample_files_one_by_one(void **state)
{
    (void)state;
    static const struct { const char *file; int source; const char *code; } f[] = {
        { "ods/etr.csv", ODS_SRC_TRUST, "RJE" },
        { "ods/ets.csv", ODS_SRC_SITE, "RJE01" },
        { "ods/epraccur.csv", ODS_SRC_PRACTICE, "Q99001" },
        { "ods/eother.csv", ODS_SRC_OTHER, "QQ1" },
    };
    for (size_t i = 0; i < 4; i++) {
        struct cpis_ods *d = cpis_ods_new();
        char path[1024], err[512] = "";
        sample_path(path, sizeof path, f[i].file);
        assert_int_equal(cpis_ods_load_path(d, path, err, sizeof err), 0);
        const struct cpis_ods_org *o = cpis_ods_find(d, f[i].code);
        assert_non_null(o);
        assert_int_equal(o->source, f[i].source);
        assert_string_equal(o->code, f[i].code);
        cpis_ods_free(d);
    }
}

static void test_sample_fields(void **state)
{
    (void)state;
    struct cpis_ods *d = load_samples();
    const struct cpis_ods_org *o = cpis_ods_find(d, "Q99999");
    assert_non_null(o);
    assert_int_equal(o->status, 'C');
    assert_string_equal(o->close_date, "20230331");
    assert_int_equal(o->prescribing_setting, 4);
    assert_string_equal(o->parent_code, "05V"); /* commissioner */
    o = cpis_ods_find(d, "QQE09");
    assert_non_null(o);
    assert_int_equal(o->status, 0);
    assert_int_equal(o->prescribing_setting, -1);
    assert_string_equal(o->parent_code, "RJE");
    assert_string_equal(o->close_date, "");
    /* A practice's commissioner is not reported as a parent trust. */
    struct cpis_ods_resolution r;
    cpis_ods_resolve(d, "Q99001", &r);
    assert_null(r.parent_code);
    /* Other sample rows: a closed trust, a parent-named ambulance site, a
     * name with doubled quotes, a mental-health trust (-> hospital). */
    cpis_ods_resolve(d, "RLN", &r);
    assert_int_equal(r.closed, 1);
    assert_string_equal(r.setting, "hospital");
    cpis_ods_resolve(d, "QQX02", &r);
    assert_string_equal(r.setting, "ambulance");
    assert_string_equal(r.parent_code, "RX7");
    cpis_ods_resolve(d, "QQ4", &r);
    assert_string_equal(r.name, "PENNYMEADOW \"TOGETHER\" COMMUNITY CARE CIC");
    assert_string_equal(r.setting, "other");
    cpis_ods_resolve(d, "QQ3", &r);
    assert_string_equal(r.name, "LARKHOLLOW COMMUNITY CARE LEEDS, SOCIAL ENTERPRISE");
    cpis_ods_resolve(d, "RLY", &r);
    assert_string_equal(r.setting, "hospital");
    cpis_ods_resolve(d, "Q99641", &r); /* prescribing setting 7 */
    assert_string_equal(r.setting, "other");
    cpis_ods_resolve(d, "QQE60", &r);  /* no phone: the trust's */
    assert_string_equal(r.phone, "01782 715444");
    cpis_ods_free(d);
}

/* ---- overrides ------------------------------------------------------- */

static void test_overrides(void **state)
{
    (void)state;
    struct cpis_ods *d = load_samples();
    struct cpis_ods_resolution r;

    /* On a practice: beats the prescribing setting. */
    assert_int_equal(cpis_ods_set_setting(d, "Q99001", "urgent_care"), 0);
    cpis_ods_resolve(d, "Q99001", &r);
    assert_string_equal(r.setting, "urgent_care");

    /* On a trust: applies to the trust and, via the parent, to its sites. */
    assert_int_equal(cpis_ods_set_setting(d, "rje", "walk_in_centre"), 0);
    cpis_ods_resolve(d, "RJE", &r);
    assert_string_equal(r.setting, "walk_in_centre");
    cpis_ods_resolve(d, "RJE01", &r);
    assert_string_equal(r.setting, "walk_in_centre");
    cpis_ods_resolve(d, "QQE09", &r);
    assert_string_equal(r.setting, "walk_in_centre");
    /* The site's own override beats its parent's. */
    assert_int_equal(cpis_ods_set_setting(d, "QQE09", "hospital"), 0);
    cpis_ods_resolve(d, "QQE09", &r);
    assert_string_equal(r.setting, "hospital");
    cpis_ods_resolve(d, "RJE01", &r);
    assert_string_equal(r.setting, "walk_in_centre");
    /* Other trusts are untouched. */
    cpis_ods_resolve(d, "RR801", &r);
    assert_string_equal(r.setting, "hospital");

    /* Beats the name rules (QQ1 has 111 in its name). */
    assert_int_equal(cpis_ods_set_setting(d, "QQ1", "out_of_hours"), 0);
    cpis_ods_resolve(d, "QQ1", &r);
    assert_string_equal(r.setting, "out_of_hours");

    /* NULL removes an override. */
    assert_int_equal(cpis_ods_set_setting(d, "QQ1", NULL), 0);
    cpis_ods_resolve(d, "QQ1", &r);
    assert_string_equal(r.setting, "nhs_111");

    /* Invalid setting or code is refused and changes nothing. */
    assert_int_equal(cpis_ods_set_setting(d, "RR8", "car_park"), -1);
    assert_int_equal(cpis_ods_set_setting(d, "R R8", "hospital"), -1);
    assert_int_equal(cpis_ods_set_setting(d, "", "hospital"), -1);
    assert_int_equal(cpis_ods_set_setting(d, "ABCDEFGHIJ", "hospital"), -1);
    cpis_ods_resolve(d, "RR8", &r);
    assert_string_equal(r.setting, "hospital");

    /* An override for a code absent from the data applies all the same (an
     * NHS 111 provider's code, the usual reason to set one) but the code
     * stays unresolved and is not counted as an organisation. */
    size_t n = cpis_ods_count(d);
    assert_int_equal(cpis_ods_set_setting(d, "ZZZ99", "hospital"), 0);
    cpis_ods_resolve(d, "ZZZ99", &r);
    assert_int_equal(r.resolved, 0);
    assert_string_equal(r.setting, "hospital");
    assert_null(cpis_ods_find(d, "ZZZ99"));
    assert_int_equal(cpis_ods_count(d), n);
    cpis_ods_free(d);
}

static void test_override_before_load_and_parent_not_loaded(void **state)
{
    (void)state;
    /* the sample config's example: "RYA": "ambulance"; set before the data, and a
     * site whose parent trust is not in the data at all. */
    struct cpis_ods *d = cpis_ods_new();
    assert_int_equal(cpis_ods_set_setting(d, "RYA", "ambulance"), 0);
    assert_int_equal(cpis_ods_set_setting(d, "QQQ", "nhs_111"), 0);
    char buf[4096], err[256];
    struct rowspec a = { .code = "QQA01", .name = "EMERGENCY OPERATIONS CENTRE",
                         .parent = "RYA" };
    struct rowspec b = { .code = "QQQ01", .name = "CALL CENTRE", .parent = "QQQ",
                         .phone = "0300 000 0001" };
    struct rowspec c = { .code = "XYZ01", .name = "CLINIC", .parent = "XYZ" };
    char all[12288] = "";
    make_row(buf, sizeof buf, &a, "\n");
    strcat(all, buf);
    make_row(buf, sizeof buf, &b, "\n");
    strcat(all, buf);
    make_row(buf, sizeof buf, &c, "\n");
    strcat(all, buf);
    assert_int_equal(load_str(d, "ets.csv", all, err, sizeof err), 0);
    struct cpis_ods_resolution r;
    cpis_ods_resolve(d, "QQA01", &r);
    assert_string_equal(r.setting, "ambulance");
    assert_string_equal(r.parent_code, "RYA");
    assert_null(r.parent_name);
    assert_null(r.phone);
    cpis_ods_resolve(d, "QQQ01", &r);
    assert_string_equal(r.setting, "nhs_111");
    cpis_ods_resolve(d, "XYZ01", &r);
    assert_string_equal(r.setting, "hospital");
    assert_int_equal(cpis_ods_count(d), 3);
    cpis_ods_free(d);
}

/* ---- setting rules --------------------------------------------------- */

static void test_prescribing_settings(void **state)
{
    (void)state;
    static const struct { const char *ps, *setting; } t[] = {
        { "1", "walk_in_centre" }, { "2", "out_of_hours" }, { "3", "out_of_hours" },
        { "4", "gp_practice" }, { "12", "urgent_care" },
        { "22", "sexual_assault_referral_centre" }, { "0", "other" },
        { "5", "other" }, { "8", "other" }, { "13", "other" }, { "25", "other" },
        { "99", "other" },
    };
    struct cpis_ods *d = cpis_ods_new();
    char all[65536] = "", buf[4096], code[16], err[256];
    size_t n = sizeof t / sizeof t[0];
    for (size_t i = 0; i < n; i++) {
        snprintf(code, sizeof code, "P%05zu", i);
        /* The name says AMBULANCE: the prescribing setting still wins. */
        struct rowspec r = { .code = code, .name = "AMBULANCE 111 PRACTICE",
                             .status = "A", .presc = t[i].ps };
        make_row(buf, sizeof buf, &r, "\r\n");
        strcat(all, buf);
    }
    /* No prescribing setting: name rules, then "other" (not a trust). */
    struct rowspec x = { .code = "P90000", .name = "NHS 111 HUB", .status = "A" };
    make_row(buf, sizeof buf, &x, "\r\n");
    strcat(all, buf);
    struct rowspec y = { .code = "P90001", .name = "PLAIN CLINIC", .status = "A",
                         .presc = "x" };
    make_row(buf, sizeof buf, &y, "\r\n");
    strcat(all, buf);
    assert_int_equal(load_str(d, "epraccur.csv", all, err, sizeof err), 0);
    for (size_t i = 0; i < n; i++) {
        struct cpis_ods_resolution r;
        snprintf(code, sizeof code, "P%05zu", i);
        cpis_ods_resolve(d, code, &r);
        assert_int_equal(r.resolved, 1);
        if (strcmp(r.setting, t[i].setting) != 0)
            fail_msg("prescribing setting %s: got %s, want %s", t[i].ps, r.setting,
                     t[i].setting);
        assert_int_equal(cpis_ods_find(d, code)->prescribing_setting, atoi(t[i].ps));
    }
    struct cpis_ods_resolution r;
    cpis_ods_resolve(d, "P90000", &r);
    assert_string_equal(r.setting, "nhs_111");
    assert_int_equal(cpis_ods_find(d, "P90000")->prescribing_setting, -1);
    cpis_ods_resolve(d, "P90001", &r);
    assert_string_equal(r.setting, "other");
    cpis_ods_free(d);
}

static void test_name_rules(void **state)
{
    (void)state;
    struct cpis_ods *d = cpis_ods_new();
    char err[256], buf[4096], all[32768] = "";
    struct rowspec trusts[] = {
        { .code = "T01", .name = "SOUTH CENTRAL AMBULANCE SERVICE NHS FOUNDATION TRUST" },
        { .code = "T02", .name = "NHS 111 NORTH" },
        { .code = "T03", .name = "SOMEWHERE NHS TRUST" },
        { .code = "T04", .name = "Lower Case Ambulance Trust" },
    };
    for (size_t i = 0; i < 4; i++) {
        make_row(buf, sizeof buf, &trusts[i], "\n");
        strcat(all, buf);
    }
    assert_int_equal(load_str(d, "etr_test.csv", all, err, sizeof err), 0);
    all[0] = '\0';
    struct rowspec sites[] = {
        { .code = "T0101", .name = "DEPOT", .parent = "T01" },          /* parent AMBULANCE */
        { .code = "T0201", .name = "CALL CENTRE", .parent = "T02" },    /* parent 111 */
        { .code = "T0301", .name = "MAIN HOSPITAL", .parent = "T03" },  /* hospital */
        { .code = "T0302", .name = "AMBULANCE BAY", .parent = "T03" },  /* own AMBULANCE */
        { .code = "T0102", .name = "NHS 111 SERVICE", .parent = "T01" },/* own 111 first */
        { .code = "T0401", .name = "STATION", .parent = "T04" },        /* case-insensitive */
    };
    for (size_t i = 0; i < 6; i++) {
        make_row(buf, sizeof buf, &sites[i], "\n");
        strcat(all, buf);
    }
    assert_int_equal(load_str(d, "ets_test.csv", all, err, sizeof err), 0);
    all[0] = '\0';
    struct rowspec others[] = {
        { .code = "O1", .name = "PRIVATE AMBULANCE LTD" },
        { .code = "O2", .name = "INTEGRATED URGENT CARE 111" },
        { .code = "O3", .name = "HOSPICE" },
    };
    for (size_t i = 0; i < 3; i++) {
        make_row(buf, sizeof buf, &others[i], "\n");
        strcat(all, buf);
    }
    assert_int_equal(load_str(d, "independent.csv", all, err, sizeof err), 0);

    static const struct { const char *code, *setting; } want[] = {
        { "T01", "ambulance" }, { "T02", "nhs_111" }, { "T03", "hospital" },
        { "T04", "ambulance" }, { "T0101", "ambulance" }, { "T0201", "nhs_111" },
        { "T0301", "hospital" }, { "T0302", "ambulance" }, { "T0102", "nhs_111" },
        { "T0401", "ambulance" }, { "O1", "ambulance" }, { "O2", "nhs_111" },
        { "O3", "other" },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        struct cpis_ods_resolution r;
        cpis_ods_resolve(d, want[i].code, &r);
        if (!r.resolved || strcmp(r.setting, want[i].setting) != 0)
            fail_msg("%s: got %s, want %s", want[i].code, r.setting, want[i].setting);
    }
    assert_int_equal(cpis_ods_find(d, "O3")->source, ODS_SRC_OTHER);
    cpis_ods_free(d);
}

static void test_unknown_code(void **state)
{
    (void)state;
    struct cpis_ods *d = load_samples();
    const char *codes[] = { "ZZ999", "QQZ02", "", "RJE 01", "RJE-01", "ABCDEFGHIJ",
                            "R\xC3\x89" };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        struct cpis_ods_resolution r;
        memset(&r, 0x5A, sizeof r);
        cpis_ods_resolve(d, codes[i], &r);
        assert_int_equal(r.resolved, 0);
        assert_int_equal(r.closed, 0);
        assert_null(r.name);
        assert_null(r.parent_code);
        assert_null(r.parent_name);
        assert_null(r.phone);
        assert_string_equal(r.setting, "unknown");
        assert_null(cpis_ods_find(d, codes[i]));
    }
    struct cpis_ods_resolution r;
    cpis_ods_resolve(d, NULL, &r);
    assert_int_equal(r.resolved, 0);
    assert_string_equal(r.setting, "unknown");
    /* An empty directory resolves nothing. */
    struct cpis_ods *e = cpis_ods_new();
    cpis_ods_resolve(e, "RJE", &r);
    assert_int_equal(r.resolved, 0);
    assert_int_equal(cpis_ods_count(e), 0);
    cpis_ods_free(e);
    cpis_ods_free(d);
}

static void test_closed(void **state)
{
    (void)state;
    struct cpis_ods *d = cpis_ods_new();
    char err[256], buf[4096], all[16384] = "";
    struct rowspec rows[] = {
        { .code = "C00001", .name = "BOTH", .close = "20230331", .status = "C", .presc = "4" },
        { .code = "C00002", .name = "STATUS ONLY", .status = "C", .presc = "4" },
        { .code = "C00003", .name = "DATE ONLY", .close = "20200101", .status = "A", .presc = "4" },
        { .code = "C00004", .name = "ACTIVE", .status = "A", .presc = "4" },
        { .code = "C00005", .name = "DORMANT", .status = "D", .presc = "4" },
        { .code = "C00006", .name = "BAD DATE", .close = "2020-01-01", .status = "A" },
    };
    static const int closed[] = { 1, 1, 1, 0, 0, 0 };
    for (size_t i = 0; i < 6; i++) {
        make_row(buf, sizeof buf, &rows[i], "\n");
        strcat(all, buf);
    }
    assert_int_equal(load_str(d, "epraccur.csv", all, err, sizeof err), 0);
    for (size_t i = 0; i < 6; i++) {
        struct cpis_ods_resolution r;
        cpis_ods_resolve(d, rows[i].code, &r);
        assert_int_equal(r.resolved, 1);
        assert_int_equal(r.closed, closed[i]);
        assert_string_equal(r.name, rows[i].name);
    }
    assert_int_equal(cpis_ods_find(d, "C00005")->status, 'D');
    assert_string_equal(cpis_ods_find(d, "C00006")->close_date, "");
    /* Closed still resolves with its setting (displayed, marked closed). */
    struct cpis_ods_resolution r;
    cpis_ods_resolve(d, "C00001", &r);
    assert_string_equal(r.setting, "gp_practice");
    cpis_ods_free(d);
}

static void test_case_insensitive(void **state)
{
    (void)state;
    struct cpis_ods *d = load_samples();
    const char *forms[] = { "rje01", "Rje01", "rJE01", "RJE01" };
    for (size_t i = 0; i < 4; i++) {
        const struct cpis_ods_org *o = cpis_ods_find(d, forms[i]);
        assert_non_null(o);
        assert_string_equal(o->code, "RJE01");
        struct cpis_ods_resolution r;
        cpis_ods_resolve(d, forms[i], &r);
        assert_string_equal(r.name, "ROYAL STOKE UNIVERSITY HOSPITAL");
        assert_string_equal(r.parent_code, "RJE");
    }
    /* Lower-case codes in the file are stored upper-case. */
    struct cpis_ods *e = cpis_ods_new();
    char buf[4096], err[256];
    struct rowspec a = { .code = "ab1", .name = "LOWER", .parent = "rje" };
    make_row(buf, sizeof buf, &a, "\n");
    assert_int_equal(load_str(e, "ets.csv", buf, err, sizeof err), 0);
    assert_string_equal(cpis_ods_find(e, "AB1")->code, "AB1");
    assert_string_equal(cpis_ods_find(e, "ab1")->parent_code, "RJE");
    cpis_ods_free(e);
    cpis_ods_free(d);
}

/* ---- CSV ------------------------------------------------------------- */

static void test_quoting(void **state)
{
    (void)state;
    struct cpis_ods *d = cpis_ods_new();
    char err[256];
    /* Quoted with commas and doubled quotes; unquoted; mixed; spaces. */
    const char *csv =
        "\"Q1\",\"SMITH, JONES \"\"AND\"\" PARTNERS\",\"Y60\",\"QNC\",\"A, B\",,,,,"
        "\"ST1 1AA\",\"20000401\",,\"A\",\"B\",\"05W\",,,\"01782 000001\",,,,\"0\",,,,\"4\",\n"
        "Q2,PLAIN NAME,Y60,QNC,,,,,,ST1 1AB,20000401,,A,B,05W,,,01782 000002,,,,0,,,,1,\n"
        "\"Q3\",\"\"\"QUOTED START\",Y60,QNC,,,,,,,,,A,,,,,,,,,,,,,\"12\",\"\"\n"
        " Q4 , SPACED NAME ,,,,,,,,,,,A,,,,,,,,,,,,,22,\n";
    assert_int_equal(load_str(d, "epraccur.csv", csv, err, sizeof err), 0);
    assert_int_equal(cpis_ods_rejected_rows(d), 0);
    assert_int_equal(cpis_ods_count(d), 4);
    struct cpis_ods_resolution r;
    cpis_ods_resolve(d, "Q1", &r);
    assert_string_equal(r.name, "SMITH, JONES \"AND\" PARTNERS");
    assert_string_equal(r.phone, "01782 000001");
    assert_string_equal(r.setting, "gp_practice");
    assert_string_equal(cpis_ods_find(d, "Q1")->parent_code, "05W");
    cpis_ods_resolve(d, "q2", &r);
    assert_string_equal(r.name, "PLAIN NAME");
    assert_string_equal(r.setting, "walk_in_centre");
    cpis_ods_resolve(d, "Q3", &r);
    assert_string_equal(r.name, "\"QUOTED START");
    assert_string_equal(r.setting, "urgent_care");
    assert_null(r.phone);
    cpis_ods_resolve(d, "Q4", &r);
    assert_string_equal(r.name, "SPACED NAME");
    assert_string_equal(r.setting, "sexual_assault_referral_centre");
    cpis_ods_free(d);
}

static void test_line_endings(void **state)
{
    (void)state;
    char a[4096], b[4096], c[4096], all[16384], err[256];
    struct rowspec ra = { .code = "L1", .name = "CRLF ONE", .phone = "1" };
    struct rowspec rb = { .code = "L2", .name = "LF TWO", .phone = "2" };
    struct rowspec rc = { .code = "L3", .name = "NO EOL", .phone = "3" };
    static const char *const eols[][3] = {
        { "\r\n", "\r\n", "" },   /* CRLF, last line unterminated */
        { "\n", "\n", "\n" },     /* LF */
        { "\r\n", "\n", "\r\n" }, /* mixed */
        { "\r\n\r\n", "\n\n", "\r\n\r\n" }, /* blank lines in between */
    };
    for (size_t k = 0; k < 4; k++) {
        make_row(a, sizeof a, &ra, eols[k][0]);
        make_row(b, sizeof b, &rb, eols[k][1]);
        make_row(c, sizeof c, &rc, eols[k][2]);
        snprintf(all, sizeof all, "%s%s%s", a, b, c);
        struct cpis_ods *d = cpis_ods_new();
        assert_int_equal(load_str(d, "etr.csv", all, err, sizeof err), 0);
        assert_int_equal(cpis_ods_count(d), 3);
        assert_int_equal(cpis_ods_rejected_rows(d), 0);
        /* No stray \r at the end of the last field or the names. */
        assert_string_equal(cpis_ods_find(d, "L1")->name, "CRLF ONE");
        assert_string_equal(cpis_ods_find(d, "L3")->name, "NO EOL");
        assert_string_equal(cpis_ods_find(d, "L2")->phone, "2");
        cpis_ods_free(d);
    }
    /* A UTF-8 byte order mark before the first row is ignored. */
    struct cpis_ods *d = cpis_ods_new();
    make_row(a, sizeof a, &ra, "\r\n");
    snprintf(all, sizeof all, "\xEF\xBB\xBF%s", a);
    assert_int_equal(load_str(d, "etr.csv", all, err, sizeof err), 0);
    assert_non_null(cpis_ods_find(d, "L1"));
    cpis_ods_free(d);
}

static void test_malformed_rows(void **state)
{
    (void)state;
    struct cpis_ods *d = cpis_ods_new();
    char err[256], good[4096], all[200000] = "";
    struct rowspec g = { .code = "G1", .name = "GOOD ONE" };
    make_row(good, sizeof good, &g, "\n");
    strcat(all, good);
    strcat(all, "\"B1\"\n");                                             /* 1 column */
    strcat(all, "\"B2\",\"TOO MANY\",,,,,,,,,,,,,,,,,,,,,,,,,,,\n");      /* 28 columns */
    strcat(all, "\"B3\",\"UNTERMINATED,,,,,,,,,,,,,,,,,,,,,,,,,\n");      /* open quote */
    strcat(all, "\"B4\"x,\"JUNK AFTER QUOTE\",,,,,,,,,,,,,,,,,,,,,,,,,\n");
    strcat(all, "\"B 5\",\"BAD CODE\",,,,,,,,,,,,,,,,,,,,,,,,,\n");       /* space */
    strcat(all, "\"\",\"EMPTY CODE\",,,,,,,,,,,,,,,,,,,,,,,,,\n");
    strcat(all, "\"ABCDEFGHIJ\",\"TEN CHARS\",,,,,,,,,,,,,,,,,,,,,,,,,\n");
    strcat(all, "\"B-8\",\"PUNCTUATION\",,,,,,,,,,,,,,,,,,,,,,,,,\n");
    struct rowspec g2 = { .code = "G2", .name = "GOOD TWO" };
    make_row(good, sizeof good, &g2, "\n");
    strcat(all, good);
    assert_int_equal(load_str(d, "etr.csv", all, err, sizeof err), 0);
    assert_int_equal(cpis_ods_count(d), 2);
    assert_int_equal(cpis_ods_rejected_rows(d), 8);
    const struct cpis_ods_file_report *fr = cpis_ods_file(d, 0);
    assert_non_null(fr);
    assert_int_equal(fr->rows_read, 2);
    assert_int_equal(fr->rows_skipped, 8);
    assert_int_equal(fr->skipped[ODS_SKIP_TOO_FEW], 1);
    assert_int_equal(fr->skipped[ODS_SKIP_TOO_MANY], 1);
    assert_int_equal(fr->skipped[ODS_SKIP_QUOTING], 2);
    assert_int_equal(fr->skipped[ODS_SKIP_BAD_CODE], 4);
    assert_int_equal(fr->not_extract, 0);
    assert_non_null(cpis_ods_find(d, "G1"));
    assert_non_null(cpis_ods_find(d, "G2"));
    assert_null(cpis_ods_find(d, "B1"));
    assert_null(cpis_ods_find(d, "B2"));

    /* A NUL byte inside a row rejects that row only. */
    char nul[4096];
    struct rowspec g3 = { .code = "G3", .name = "NUL ROW" };
    make_row(nul, sizeof nul, &g3, "\n");
    size_t nlen = strlen(nul);
    nul[8] = '\0'; /* inside the name */
    memcpy(nul + nlen, good, strlen(good) + 1);
    assert_int_equal(cpis_ods_load_buffer(d, "etr.csv", nul, nlen + strlen(good), err,
                                          sizeof err), 0);
    assert_null(cpis_ods_find(d, "G3"));
    assert_int_equal(cpis_ods_rejected_rows(d), 9);

    /* A line over 64 KiB is rejected as a row, the next one still loads. */
    size_t big = 70 * 1024;
    char *huge = malloc(big + 8192);
    assert_non_null(huge);
    struct rowspec h = { .code = "H1", .name = "HUGE" };
    make_row(huge, 4096, &h, "");
    size_t hl = strlen(huge);
    huge[hl - 1] = 'x'; /* past the last quote: keep the line long, not valid */
    memset(huge + hl, 'y', big - hl);
    huge[big] = '\n';
    struct rowspec g4 = { .code = "G4", .name = "AFTER HUGE" };
    make_row(huge + big + 1, 4096, &g4, "\n");
    assert_int_equal(cpis_ods_load_buffer(d, "etr.csv", huge, strlen(huge), err,
                                          sizeof err), 0);
    assert_null(cpis_ods_find(d, "H1"));
    assert_non_null(cpis_ods_find(d, "G4"));
    assert_int_equal(cpis_ods_rejected_rows(d), 10);
    free(huge);
    cpis_ods_free(d);
}

static void test_no_valid_row_is_error(void **state)
{
    (void)state;
    struct cpis_ods *d = cpis_ods_new();
    char err[512] = "";
    /* A CSV of another shape: no row has an ODS code in column 1. */
    assert_int_equal(load_str(d, "etr_wrong.csv", "org code,name,x\nthe trust,TRUST,1\n", err,
                              sizeof err), -1);
    assert_non_null(strstr(err, "etr_wrong.csv"));
    assert_non_null(strstr(err, "not an ODS extract"));
    assert_non_null(strstr(err, "not an ODS code in column 1"));
    /* Rows of one column only. */
    err[0] = '\0';
    assert_int_equal(load_str(d, "ets_bad.csv", "RJE\nRR8\n", err, sizeof err), -1);
    assert_non_null(strstr(err, "ets_bad.csv"));
    assert_non_null(strstr(err, "no name column"));
    /* Empty and blank-only buffers. */
    err[0] = '\0';
    assert_int_equal(load_str(d, "epraccur.csv", "", err, sizeof err), -1);
    assert_non_null(strstr(err, "epraccur.csv"));
    assert_non_null(strstr(err, "empty"));
    err[0] = '\0';
    assert_int_equal(load_str(d, "epraccur.csv", "\r\n\n  \n", err, sizeof err), -1);
    assert_non_null(strstr(err, "empty"));
    assert_int_equal(cpis_ods_count(d), 0);
    /* err may be NULL. */
    assert_int_equal(load_str(d, "x.csv", "", NULL, 0), -1);
    cpis_ods_free(d);
}

/* ---- files and folders ----------------------------------------------- */

static void test_missing_path(void **state)
{
    (void)state;
    struct cpis_ods *d = cpis_ods_new();
    char err[512] = "";
    const char *p = "/nonexistent/cpis/ods/etr.csv";
    assert_int_equal(cpis_ods_load_path(d, p, err, sizeof err), -1);
    assert_non_null(strstr(err, p));
    assert_non_null(strstr(err, strerror(ENOENT)));
    err[0] = '\0';
    assert_int_equal(cpis_ods_load_path(d, "/nonexistent/cpis/ods", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/cpis/ods"));
    assert_int_equal(cpis_ods_load_path(d, "", err, sizeof err), -1);
    /* A path through a file (unreadable even for root). */
    char path[1024];
    sample_path(path, sizeof path, "ods/etr.csv/x.csv");
    err[0] = '\0';
    assert_int_equal(cpis_ods_load_path(d, path, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, strerror(ENOTDIR)));
    assert_int_equal(cpis_ods_count(d), 0);
    cpis_ods_free(d);
}

static void test_unreadable_file(void **state)
{
    (void)state;
    if (geteuid() == 0)
        skip(); /* root reads anything */
    char dir[300], path[400], err[512] = "";
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/etr.csv", dir);
    write_file(path, "x", 1);
    assert_int_equal(chmod(path, 0), 0);
    struct cpis_ods *d = cpis_ods_new();
    assert_int_equal(cpis_ods_load_path(d, path, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, strerror(EACCES)));
    cpis_ods_free(d);
    rm_tree(dir);
}

static void test_empty_file(void **state)
{
    (void)state;
    char dir[300], path[400], err[512] = "";
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/etr.csv", dir);
    write_file(path, "", 0);
    /* Not an extract: reported and skipped, never fatal. */
    struct cpis_ods *d = cpis_ods_new();
    assert_int_equal(cpis_ods_load_path(d, path, err, sizeof err), 0);
    assert_int_equal(cpis_ods_file_count(d), 1);
    assert_string_equal(cpis_ods_file(d, 0)->path, path);
    assert_int_equal(cpis_ods_file(d, 0)->not_extract, 1);
    assert_non_null(strstr(cpis_ods_file(d, 0)->why, "empty"));
    assert_int_equal(cpis_ods_count(d), 0);
    /* A folder holding it and a good extract: the good one loads. */
    char good[400];
    snprintf(good, sizeof good, "%s/ets.csv", dir);
    write_file(good, "RJE01,ROYAL STOKE UNIVERSITY HOSPITAL\n", 36);
    assert_int_equal(cpis_ods_load_path(d, dir, err, sizeof err), 0);
    assert_int_equal(cpis_ods_file_count(d), 3);
    assert_int_equal(cpis_ods_file(d, 1)->not_extract, 1);
    assert_int_equal(cpis_ods_file(d, 2)->rows_read, 1);
    assert_non_null(cpis_ods_find(d, "RJE01"));
    cpis_ods_free(d);
    rm_tree(dir);
}

static void test_folder(void **state)
{
    (void)state;
    char dir[300], path[400], err[512] = "", row[4096];
    make_tmpdir(dir, sizeof dir);
    /* Duplicate code D1 in two files: the later name (b_) wins. */
    struct rowspec a1 = { .code = "D1", .name = "FIRST", .phone = "111" };
    struct rowspec a2 = { .code = "D2", .name = "ONLY IN A" };
    struct rowspec b1 = { .code = "d1", .name = "SECOND", .parent = "D2" };
    char all[9000] = "";
    make_row(row, sizeof row, &a1, "\n");
    strcat(all, row);
    make_row(row, sizeof row, &a2, "\n");
    strcat(all, row);
    snprintf(path, sizeof path, "%s/etr_a.csv", dir);
    write_file(path, all, strlen(all));
    make_row(row, sizeof row, &b1, "\r\n");
    snprintf(path, sizeof path, "%s/ets_b.csv", dir);
    write_file(path, row, strlen(row));
    /* Not *.csv: ignored even though its content would fail. */
    snprintf(path, sizeof path, "%s/readme.txt", dir);
    write_file(path, "not csv\n", 8);
    snprintf(path, sizeof path, "%s/sub.csv", dir); /* a folder named *.csv */
    assert_int_equal(mkdir(path, 0700), 0);
    struct cpis_ods *d = cpis_ods_new();
    assert_int_equal(cpis_ods_load_path(d, dir, err, sizeof err), 0);
    assert_int_equal(cpis_ods_count(d), 2);
    const struct cpis_ods_org *o = cpis_ods_find(d, "D1");
    assert_non_null(o);
    assert_string_equal(o->name, "SECOND");
    assert_int_equal(o->source, ODS_SRC_SITE);
    assert_string_equal(o->phone, ""); /* the whole row was replaced */
    struct cpis_ods_resolution r;
    cpis_ods_resolve(d, "D1", &r);
    assert_string_equal(r.parent_code, "D2");
    assert_string_equal(r.parent_name, "ONLY IN A");
    assert_string_equal(r.setting, "hospital");
    cpis_ods_free(d);

    /* A folder with no *.csv is an error naming it. */
    char empty[300];
    make_tmpdir(empty, sizeof empty);
    d = cpis_ods_new();
    err[0] = '\0';
    assert_int_equal(cpis_ods_load_path(d, empty, err, sizeof err), -1);
    assert_non_null(strstr(err, empty));
    assert_non_null(strstr(err, "no *.csv"));
    cpis_ods_free(d);
    rm_tree(empty);
    rm_tree(dir);
}

static void test_sample_folder_trailing_slash(void **state)
{
    (void)state;
    char path[1024], err[512] = "";
    sample_path(path, sizeof path, "ods/");
    struct cpis_ods *d = cpis_ods_new();
    assert_int_equal(cpis_ods_load_path(d, path, err, sizeof err), 0);
    assert_int_equal(cpis_ods_count(d), 30);
    /* Loading the same data twice replaces, it does not duplicate. */
    assert_int_equal(cpis_ods_load_path(d, path, err, sizeof err), 0);
    assert_int_equal(cpis_ods_count(d), 30);
    cpis_ods_free(d);
}

static void test_large_file(void **state)
{
    (void)state;
    enum { N = 50000 };
    char dir[300], path[400], err[512] = "", row[4096], code[16], name[64], phone[32];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/epraccur.csv", dir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    static const char *const ps[] = { "1", "2", "3", "4", "12", "22", "7" };
    for (int i = 0; i < N; i++) {
        snprintf(code, sizeof code, "%c%05d", 'A' + i / 10000 % 26, i % 100000);
        snprintf(name, sizeof name, "PRACTICE NUMBER %d, LEEDS", i);
        snprintf(phone, sizeof phone, "0113 %03d %04d", i / 10000, i % 10000);
        struct rowspec r = { .code = code, .name = name, .status = i % 97 ? "A" : "C",
                             .phone = phone, .parent = "15F", .presc = ps[i % 7] };
        make_row(row, sizeof row, &r, "\r\n");
        assert_int_equal(fputs(row, fp) >= 0, 1);
    }
    assert_int_equal(fclose(fp), 0);
    struct cpis_ods *d = cpis_ods_new();
    assert_int_equal(cpis_ods_load_path(d, path, err, sizeof err), 0);
    assert_int_equal(cpis_ods_count(d), N);
    assert_int_equal(cpis_ods_rejected_rows(d), 0);
    static const char *const want[] = { "walk_in_centre", "out_of_hours", "out_of_hours",
                                        "gp_practice", "urgent_care",
                                        "sexual_assault_referral_centre", "other" };
    for (int i = 0; i < N; i++) {
        snprintf(code, sizeof code, "%c%05d", 'a' + i / 10000 % 26, i % 100000);
        struct cpis_ods_resolution r;
        cpis_ods_resolve(d, code, &r);
        if (!r.resolved)
            fail_msg("row %d (%s) not found", i, code);
        snprintf(name, sizeof name, "PRACTICE NUMBER %d, LEEDS", i);
        assert_string_equal(r.name, name);
        assert_string_equal(r.setting, want[i % 7]);
        assert_int_equal(r.closed, i % 97 ? 0 : 1);
    }
    assert_null(cpis_ods_find(d, "Z99999"));
    cpis_ods_free(d);
    rm_tree(dir);
}

/* Read-only after loading: many threads resolve at once (run under
 * `make check-tsan` too). */
static void *resolver_thread(void *arg)
{
    const struct cpis_ods *d = arg;
    uintptr_t bad = 0;
    for (int k = 0; k < 2000; k++) {
        for (size_t i = 0; i < sizeof universe / sizeof universe[0]; i++) {
            struct cpis_ods_resolution r;
            cpis_ods_resolve(d, universe[i].code, &r);
            if (!r.resolved || strcmp(r.setting, universe[i].setting) != 0 ||
                strcmp(r.name, universe[i].name) != 0)
                bad++;
        }
    }
    return (void *)bad;
}

static void test_threads(void **state)
{
    (void)state;
    struct cpis_ods *d = load_samples();
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, resolver_thread, d), 0);
    for (int i = 0; i < 8; i++) {
        void *bad = NULL;
        assert_int_equal(pthread_join(t[i], &bad), 0);
        assert_int_equal((uintptr_t)bad, 0);
    }
    cpis_ods_free(d);
}

static void test_setting_valid(void **state)
{
    (void)state;
    const char *ok[] = { "nhs_111", "ambulance", "hospital", "walk_in_centre",
                         "out_of_hours", "urgent_care", "gp_practice",
                         "sexual_assault_referral_centre", "other", "unknown" };
    for (size_t i = 0; i < 10; i++)
        assert_true(cpis_setting_valid(ok[i]));
    const char *bad[] = { "", "Hospital", "hospital ", "nhs111", "gp", "car_park" };
    for (size_t i = 0; i < 6; i++)
        assert_false(cpis_setting_valid(bad[i]));
    assert_false(cpis_setting_valid(NULL));
}


/* ---- extracts as they are found (as found in the field) ---------------- */

/* A real etr.csv re-saved by a spreadsheet: quotes gone, 24 columns (the
 * empty trailing ones dropped), a byte-order mark, CRLF; most trust rows
 * have no phone number. */
static void test_spreadsheet_resave(void **state)
{
    (void)state;
    struct cpis_ods *d = cpis_ods_new();
    char err[256] = "";
    const char *etr =
        "\xEF\xBB\xBF"
        "RJE,UNIVERSITY HOSPITALS OF NORTH MIDLANDS NHS TRUST,Y60,QNC,NEWCASTLE ROAD,,"
        "STOKE-ON-TRENT,STAFFORDSHIRE,,ST4 6QG,20140401,,,,,,,01782 715444,,,,0,,\r\n"
        "RR8,LEEDS TEACHING HOSPITALS NHS TRUST,Y63,QWO,ST. JAMES'S UNIVERSITY HOSPITAL,"
        "BECKETT STREET,LEEDS,WEST YORKSHIRE,,LS9 7TF,19980401,,,,,,,,,,,0,,\r\n"
        ",,,,,,,,,,,,,,,,,,,,,,,\r\n";
    assert_int_equal(load_str(d, "etr.csv", etr, err, sizeof err), 0);
    const struct cpis_ods_file_report *fr = cpis_ods_file(d, 0);
    assert_int_equal(fr->rows_read, 2);
    assert_int_equal(fr->rows_skipped, 0); /* the all-empty row is blank */
    const struct cpis_ods_org *o = cpis_ods_find(d, "RJE");
    assert_non_null(o);
    assert_string_equal(o->name, "UNIVERSITY HOSPITALS OF NORTH MIDLANDS NHS TRUST");
    assert_string_equal(o->phone, "01782 715444");
    assert_string_equal(cpis_ods_find(d, "RR8")->phone, "");
    /* ets.csv with its columns cut after the parent (15), mixed quoting */
    const char *ets =
        "\"RJE01\",ROYAL STOKE UNIVERSITY HOSPITAL,Y60,QNC,NEWCASTLE ROAD,,,,,ST4 6QG,"
        "20120401,,,A,\"RJE\"\n"
        "RR801,LEEDS GENERAL INFIRMARY\n";
    assert_int_equal(load_str(d, "ets.csv", ets, err, sizeof err), 0);
    struct cpis_ods_resolution r;
    cpis_ods_resolve(d, "RJE01", &r);
    assert_int_equal(r.resolved, 1);
    assert_string_equal(r.parent_code, "RJE");
    assert_string_equal(r.phone, "01782 715444"); /* the site has none: the trust's */
    assert_string_equal(r.setting, "hospital");
    cpis_ods_resolve(d, "RR801", &r);
    assert_string_equal(r.parent_name, "LEEDS TEACHING HOSPITALS NHS TRUST");
    assert_null(r.phone); /* no file has one */
    cpis_ods_free(d);
}

/* A site code no file holds falls back to its trust; a branch surgery to
 * its practice; ods.settings still applies to the code itself. */
static void test_parent_fallback(void **state)
{
    (void)state;
    struct cpis_ods *d = cpis_ods_new();
    char err[256] = "";
    assert_int_equal(load_str(d, "etr.csv",
                              "RKE,WHITTINGTON HEALTH NHS TRUST,,,,,,,,,,,,,,,,020 7272 3070\n"
                              "RYA,WEST MIDLANDS AMBULANCE SERVICE UNIVERSITY NHS FOUNDATION TRUST\n"
                              "RLN,CITY HOSPITALS SUNDERLAND NHS FOUNDATION TRUST,,,,,,,,,,20190331\n",
                              err, sizeof err), 0);
    assert_int_equal(load_str(d, "epraccur.csv",
                              "Q98094,A PRACTICE,,,,,,,,,,,A,,,,,,,,,,,,,4\n", err, sizeof err), 0);
    struct cpis_ods_resolution r;
    cpis_ods_resolve(d, "RKEAA", &r);
    assert_int_equal(r.resolved, 0);
    assert_int_equal(r.via_parent, 1);
    assert_null(r.name);
    assert_string_equal(r.parent_code, "RKE");
    assert_string_equal(r.parent_name, "WHITTINGTON HEALTH NHS TRUST");
    assert_string_equal(r.phone, "020 7272 3070");
    assert_string_equal(r.setting, "hospital");
    cpis_ods_resolve(d, "RYAX1", &r);
    assert_int_equal(r.via_parent, 1);
    assert_string_equal(r.setting, "ambulance");
    /* a closed parent is shown closed, with its date */
    cpis_ods_resolve(d, "RLN99", &r);
    assert_int_equal(r.via_parent, 1);
    assert_int_equal(r.closed, 1);
    assert_string_equal(r.close_date, "20190331");
    /* branch surgery: practice code and three more */
    cpis_ods_resolve(d, "Q98094001", &r);
    assert_int_equal(r.via_parent, 1);
    assert_string_equal(r.parent_code, "Q98094");
    assert_string_equal(r.setting, "gp_practice");
    /* neither shape, or a parent nobody holds: unknown */
    cpis_ods_resolve(d, "RKEA", &r);
    assert_int_equal(r.via_parent, 0);
    assert_string_equal(r.setting, "unknown");
    cpis_ods_resolve(d, "QQQAA", &r);
    assert_int_equal(r.via_parent, 0);
    /* the code's own override first, whether or not a file holds it */
    assert_int_equal(cpis_ods_set_setting(d, "RKEAA", "nhs_111"), 0);
    cpis_ods_resolve(d, "RKEAA", &r);
    assert_int_equal(r.via_parent, 1);
    assert_string_equal(r.setting, "nhs_111");
    assert_int_equal(cpis_ods_set_setting(d, "NLO", "nhs_111"), 0);
    cpis_ods_resolve(d, "NLO", &r);
    assert_int_equal(r.resolved, 0);
    assert_string_equal(r.setting, "nhs_111");
    cpis_ods_free(d);
}

/* ebranchs.csv, eother.csv and ecare.csv: the same layout, read the same way. */
static void test_other_extracts(void **state)
{
    (void)state;
    struct cpis_ods *d = cpis_ods_new();
    char err[256] = "";
    assert_int_equal(load_str(d, "epraccur.csv",
                              "\"Q98094\",\"A PRACTICE\",,,,,,,,,,,\"A\",,,,,\"0113 000 0000\",,,,,,,,\"4\"\n",
                              err, sizeof err), 0);
    assert_int_equal(load_str(d, "ebranchs.csv",
                              "\"Q98094002\",\"A BRANCH SURGERY\",\"Y63\",\"QWO\"\n", err, sizeof err), 0);
    assert_int_equal(load_str(d, "eother.csv", "XYZ12,SOME OTHER ORGANISATION\n", err,
                              sizeof err), 0);
    assert_int_equal(load_str(d, "ecare.csv", "VAB12,A CARE HOME,,,,,,,,,,,,,,,,01234 567890\n",
                              err, sizeof err), 0);
    struct cpis_ods_resolution r;
    cpis_ods_resolve(d, "Q98094002", &r);
    assert_int_equal(r.resolved, 1);
    assert_string_equal(r.name, "A BRANCH SURGERY");
    assert_string_equal(r.parent_code, "Q98094");
    assert_string_equal(r.phone, "0113 000 0000");
    assert_string_equal(r.setting, "gp_practice");
    assert_int_equal(cpis_ods_find(d, "Q98094002")->source, ODS_SRC_BRANCH);
    cpis_ods_resolve(d, "XYZ12", &r);
    assert_int_equal(r.resolved, 1);
    assert_string_equal(r.setting, "other");
    cpis_ods_resolve(d, "VAB12", &r);
    assert_string_equal(r.phone, "01234 567890");
    assert_int_equal(cpis_ods_file_count(d), 4);
    cpis_ods_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_universe),
        cmocka_unit_test(test_sample_files_one_by_one),
        cmocka_unit_test(test_sample_fields),
        cmocka_unit_test(test_sample_folder_trailing_slash),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_override_before_load_and_parent_not_loaded),
        cmocka_unit_test(test_prescribing_settings),
        cmocka_unit_test(test_name_rules),
        cmocka_unit_test(test_unknown_code),
        cmocka_unit_test(test_closed),
        cmocka_unit_test(test_case_insensitive),
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_malformed_rows),
        cmocka_unit_test(test_no_valid_row_is_error),
        cmocka_unit_test(test_missing_path),
        cmocka_unit_test(test_unreadable_file),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_folder),
        cmocka_unit_test(test_large_file),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_setting_valid),
        cmocka_unit_test(test_spreadsheet_resave),
        cmocka_unit_test(test_parent_fallback),
        cmocka_unit_test(test_other_extracts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
