/*
 * test_load.c - load the real cpis_notify.so exactly as a host does
 * (dlopen, one dlsym, descriptor, init with a host table) and check the
 * load-time contract: ABI checks, short tables, optional functions,
 * hook registration only during init.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/fakehost.h"

static void test_entry_descriptor(void **state)
{
    (void)state;
    const char *so = getenv("CPIS_PLUGIN_SO");
    void *dl = dlopen(so ? so : "build/cpis_notify.so", RTLD_NOW | RTLD_LOCAL);
    assert_non_null(dl);
    cpis_entry_fn entry;
    *(void **)&entry = dlsym(dl, CPIS_ENTRY_SYMBOL);
    assert_non_null(entry);
    /* nothing else is visible */
    assert_null(dlsym(dl, "cpis_parse_message"));
    assert_null(dlsym(dl, "cpis_config_parse"));
    assert_null(dlsym(dl, "wf_decide_access"));
    const struct cpis_descriptor *d = entry();
    assert_non_null(d);
    assert_int_equal(d->abi_major, CPIS_ABI_MAJOR);
    assert_true(d->struct_size >= offsetof(struct cpis_descriptor, config_check));
    assert_string_equal(d->name, "cpis-notify");
    assert_string_equal(d->status_name(CPIS_ERR_RETRY), "retry_later");
    assert_string_equal(d->status_name(CPIS_DUPLICATE), "duplicate");
    assert_string_equal(d->status_name(12345), "unknown_status");
    assert_string_equal(d->message_error_name(CPIS_MSG_FORBIDDEN_CONSTRUCT),
                        "forbidden_construct");
    /* every status has a distinct name */
    static const int all[] = {
#define X(sym, val, name) val,
        CPIS_STATUS_LIST(X)
#undef X
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        for (size_t j = i + 1; j < sizeof all / sizeof all[0]; j++)
            assert_string_not_equal(d->status_name(all[i]), d->status_name(all[j]));
    dlclose(dl);
}

static void test_happy_path(void **state)
{
    (void)state;
    struct fake_host fh;
    fake_host_init(&fh);
    const struct cpis_descriptor *d;
    struct cpis_plugin *p = NULL;
    void *dl;
    char err[512] = "";
    int rc = fake_host_load(&fh, NULL, NULL, &d, &p, &dl, err, sizeof err);
    assert_int_equal(rc, CPIS_OK);
    assert_non_null(p);
    assert_int_equal(fh.hooks_registered, 4);
    assert_non_null(fh.on_note);
    assert_non_null(fh.on_config);
    assert_non_null(fh.on_shutdown);
    assert_non_null(fh.on_note_done); /* ABI 1.1 */
    assert_true(fake_host_log_matches(&fh, "loaded \\(ABI 1\\.1"));
    fh.on_shutdown(fh.shutdown_user);
    d->shutdown(p);
    dlclose(dl);
    fake_host_free(&fh);
}

static int load_with(struct fake_host *fh, char *err, size_t cap, struct cpis_plugin **p,
                     void **dl)
{
    const struct cpis_descriptor *d;
    int rc = fake_host_load(fh, NULL, NULL, &d, p, dl, err, cap);
    if (rc == CPIS_OK)
        d->shutdown(*p);
    return rc;
}

static void test_wrong_abi_major(void **state)
{
    (void)state;
    struct fake_host fh;
    fake_host_init(&fh);
    fh.api.abi_major = 2;
    fh.api.abi_minor = 3;
    struct cpis_plugin *p = (struct cpis_plugin *)&fh; /* must be reset to NULL */
    void *dl;
    char err[512] = "";
    assert_int_equal(load_with(&fh, err, sizeof err, &p, &dl), CPIS_ERR_ABI);
    assert_null(p);
    assert_non_null(strstr(err, "host ABI 2.3"));
    assert_non_null(strstr(err, "plugin ABI 1.1"));
    assert_int_equal(fh.hooks_registered, 0);
    dlclose(dl);
    fake_host_free(&fh);
}

static void test_short_table(void **state)
{
    (void)state;
    struct fake_host fh;
    fake_host_init(&fh);
    fh.api.struct_size = (uint32_t)offsetof(struct cpis_host_api, keep_record);
    struct cpis_plugin *p = NULL;
    void *dl;
    char err[512] = "";
    assert_int_equal(load_with(&fh, err, sizeof err, &p, &dl), CPIS_ERR_ABI);
    assert_non_null(strstr(err, "too short"));
    assert_non_null(strstr(err, "ABI 1.1"));
    dlclose(dl);
    fake_host_free(&fh);
}

static void test_required_function_missing(void **state)
{
    (void)state;
    struct fake_host fh;
    fake_host_init(&fh);
    fh.api.state_put = NULL;
    struct cpis_plugin *p = NULL;
    void *dl;
    char err[512] = "";
    assert_int_equal(load_with(&fh, err, sizeof err, &p, &dl), CPIS_ERR_ABI);
    assert_non_null(strstr(err, "state_put"));
    dlclose(dl);
    fake_host_free(&fh);
}

/* A table that ends right after the required functions (an older host):
 * accepted, and the plugin works degraded without landing page or notes. */
static void test_minimal_table_degraded(void **state)
{
    (void)state;
    struct fake_host fh;
    fake_host_init(&fh);
    fh.api.struct_size = (uint32_t)CPIS_HOST_API_MIN_SIZE;
    fh.api.clock_ms = NULL;
    fh.api.publish_landing = NULL;
    fh.api.write_case_note = NULL;
    fh.api.close_items = NULL;
    fake_host_add_case(&fh, "9449305552", CPIS_CASE_OPEN, "C-1001", "sw.ahmed", "tm.brooks",
                       "Stafford North");
    const struct cpis_descriptor *d;
    struct cpis_plugin *p = NULL;
    void *dl;
    char err[512] = "";
    assert_int_equal(fake_host_load(&fh, NULL, NULL, &d, &p, &dl, err, sizeof err), CPIS_OK);
    assert_true(fake_host_log_matches(&fh, "degraded"));
    char path[1024];
    size_t len;
    char *msg = fake_host_read_file(
        fake_host_sample("cascade/04-emergency-department.xml", path, sizeof path), &len);
    assert_non_null(msg);
    struct cpis_outcome out;
    assert_int_equal(fake_host_deliver(&fh, "04.xml", msg, len, NULL, &out), CPIS_OK);
    assert_int_equal(out.accesses, 1);
    assert_int_equal(fh.records.n, 1);  /* kept on the record */
    assert_int_equal(fh.landing.n, 0);  /* no landing page on this host */
    assert_int_equal(fh.notes.n, 0);
    free(msg);
    d->shutdown(p);
    dlclose(dl);
    fake_host_free(&fh);
}

static int refuse_register(void *ctx, int kind, void (*fn)(void), void *user)
{
    (void)ctx, (void)kind, (void)fn, (void)user;
    return CPIS_ERR_STATE;
}

/* Registration outside init is refused by the host; the plugin registers
 * only during init and fails cleanly when the host refuses. */
static void test_registration_only_in_init(void **state)
{
    (void)state;
    struct fake_host fh;
    fake_host_init(&fh);
    const struct cpis_descriptor *d;
    struct cpis_plugin *p = NULL;
    void *dl;
    char err[512] = "";
    assert_int_equal(fake_host_load(&fh, NULL, NULL, &d, &p, &dl, err, sizeof err), CPIS_OK);
    /* after init the host refuses any registration */
    assert_int_equal(fh.api.register_hook(fh.api.ctx, CPIS_HOOK_NOTIFICATION,
                                          (void (*)(void))(void *)fh.on_note, NULL),
                     CPIS_ERR_STATE);
    d->shutdown(p);
    dlclose(dl);
    fake_host_free(&fh);

    fake_host_init(&fh);
    fh.api.register_hook = refuse_register;
    p = NULL;
    assert_int_equal(fake_host_load(&fh, NULL, NULL, &d, &p, &dl, err, sizeof err),
                     CPIS_ERR_STATE);
    assert_null(p);
    assert_non_null(strstr(err, "refused hook"));
    dlclose(dl);
    fake_host_free(&fh);
}

static void test_bad_config_refused_at_init(void **state)
{
    (void)state;
    struct fake_host fh;
    fake_host_init(&fh);
    const struct cpis_descriptor *d;
    struct cpis_plugin *p = NULL;
    void *dl;
    char err[1024] = "";
    int rc = fake_host_load(&fh, "{\"workflow\":{\"version\":7}}", NULL, &d, &p, &dl, err,
                            sizeof err);
    assert_int_equal(rc, CPIS_ERR_CONFIG);
    assert_null(p);
    assert_non_null(strstr(err, "workflow.version"));
    assert_int_equal(fh.hooks_registered, 0);
    dlclose(dl);
    fake_host_free(&fh);
}

/* ---- ABI 1.1: the child named, completed case notes; a 1.0 host -------- */

/* Loads the plugin on fh, delivers the cascade's first message (an access
 * on C-1001, the child 944 930 5552) and leaves the plugin loaded. */
static void load_and_deliver(struct fake_host *fh, const struct cpis_descriptor **d,
                             struct cpis_plugin **p, void **dl)
{
    fake_host_add_case(fh, "9449305552", CPIS_CASE_OPEN, "C-1001", "sw.ahmed", "tm.brooks",
                       "Stafford North");
    fake_host_set_child(fh, "9449305552", "Amelia Hughes", "2015-05-12");
    char err[512] = "", path[1024];
    assert_int_equal(fake_host_load(fh, NULL, NULL, d, p, dl, err, sizeof err), CPIS_OK);
    size_t len = 0;
    char *buf = fake_host_read_file(fake_host_sample("cascade/01-nhs111.xml", path,
                                                     sizeof path), &len);
    assert_non_null(buf);
    struct cpis_outcome out;
    memset(&out, 0, sizeof out);
    out.struct_size = sizeof out;
    assert_int_equal(fake_host_deliver(fh, "01-nhs111.xml", buf, len, NULL, &out), CPIS_OK);
    free(buf);
}

static const struct fh_row *only_row(struct fh_table *t)
{
    assert_int_equal(t->n, 1);
    return &t->v[0];
}

/* A 1.0 host: a shorter host table version, a case lookup that knows
 * nothing of the appended fields (leaves them as the plugin zeroed them and
 * struct_size as the plugin set it) and no note-completed hook. */
static void test_abi10_host_still_works(void **state)
{
    (void)state;
    struct fake_host fh;
    fake_host_init(&fh);
    fh.api.abi_minor = 0;
    fh.abi10_cases = 1;
    const struct cpis_descriptor *d;
    struct cpis_plugin *p = NULL;
    void *dl;
    load_and_deliver(&fh, &d, &p, &dl);
    assert_int_equal(fh.hooks_registered, 3); /* the 1.1 hook is not asked for */
    assert_null(fh.on_note_done);
    assert_true(fake_host_log_matches(&fh, "host ABI 1\\.0: no child name"));
    const struct fh_row *l = only_row(&fh.landing);
    /* the name the fixture holds is not read from a 1.0 host */
    assert_non_null(strstr(l->e, "Child: name not known to the host, NHS number *** *** 5552"));
    assert_null(strstr(l->e, "Amelia"));
    assert_null(strstr(l->e, "944 930 5552"));
    assert_non_null(strstr(l->e, "State: awaiting action"));
    assert_non_null(strstr(l->e, "1st episode for this child in 183 days"));
    assert_int_equal(fake_host_complete_note(&fh, "note/x", "C-1001", "9449305552", 1),
                     CPIS_ERR_UNSUPPORTED);
    fh.on_shutdown(fh.shutdown_user);
    d->shutdown(p);
    dlclose(dl);
    fake_host_free(&fh);
}

/* A 1.1 host: the child named in the landing entry and the case note, the
 * NHS number masked on the landing entry only, and completing the case note
 * marks the entry done with a new revision (idempotent). */
static void test_abi11_child_named_and_note_done(void **state)
{
    (void)state;
    struct fake_host fh;
    fake_host_init(&fh);
    const struct cpis_descriptor *d;
    struct cpis_plugin *p = NULL;
    void *dl;
    load_and_deliver(&fh, &d, &p, &dl);
    const struct fh_row *l = only_row(&fh.landing);
    const struct fh_row *n = only_row(&fh.notes);
    const struct fh_row *r = only_row(&fh.records);
    assert_non_null(strstr(l->e, "Child: Amelia Hughes, born 12 May 2015, NHS number *** *** 5552"));
    assert_null(strstr(l->e, "944 930 5552"));
    assert_non_null(strstr(n->e, "Child: Amelia Hughes, born 12 May 2015, NHS number 944 930 5552"));
    assert_string_equal(r->a, "9449305552"); /* the record carries the full number */
    assert_false(fake_host_log_matches(&fh, "Amelia|9449305552|944 930 5552"));
    assert_int_equal(l->n1, 1);
    char note_id[128], land_id[128];
    snprintf(note_id, sizeof note_id, "%s", n->key);
    snprintf(land_id, sizeof land_id, "%s", l->key);
    assert_true(strncmp(note_id, "note/", 5) == 0);

    assert_int_equal(fake_host_complete_note(&fh, note_id, "C-1001", "9449305552",
                                             1710600000),
                     CPIS_OK);
    l = fake_host_find(&fh.landing, land_id);
    assert_non_null(l);
    assert_int_equal(l->n1, 2);
    assert_non_null(strstr(l->e, "State: done (case note completed"));
    /* again: nothing changes */
    assert_int_equal(fake_host_complete_note(&fh, note_id, "C-1001", "9449305552",
                                             1710600000),
                     CPIS_OK);
    assert_int_equal(fake_host_find(&fh.landing, land_id)->n1, 2);
    /* unknown stub, and a bad NHS number */
    assert_int_equal(fake_host_complete_note(&fh, "note/ep-anything", "C-1001",
                                             "9449305552", 1),
                     CPIS_ERR_NOT_FOUND);
    assert_int_equal(fake_host_complete_note(&fh, note_id, "C-1001", "1234567890", 1),
                     CPIS_ERR_INVALID_ARG);
    assert_false(fake_host_log_matches(&fh, "Amelia|9449305552|944 930 5552|1234567890"));
    fh.on_shutdown(fh.shutdown_user);
    d->shutdown(p);
    dlclose(dl);
    fake_host_free(&fh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entry_descriptor),
        cmocka_unit_test(test_happy_path),
        cmocka_unit_test(test_wrong_abi_major),
        cmocka_unit_test(test_short_table),
        cmocka_unit_test(test_required_function_missing),
        cmocka_unit_test(test_minimal_table_degraded),
        cmocka_unit_test(test_registration_only_in_init),
        cmocka_unit_test(test_bad_config_refused_at_init),
        cmocka_unit_test(test_abi10_host_still_works),
        cmocka_unit_test(test_abi11_child_named_and_note_done),
    };
    return cmocka_run_group_tests_name("load", tests, NULL, NULL);
}
