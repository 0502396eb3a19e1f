/*
 * test_config.c - the admin configuration: defaults per version, explicit
 * flags, every validation error names its key, relative ODS paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "support/fakehost.h"

static int parse(const char *json, struct cpis_config *c, char *err, size_t cap)
{
    return cpis_config_parse(json, json ? strlen(json) : 0, "/etc/cpis", NULL, c, err, cap);
}

static void test_defaults_v6(void **state)
{
    (void)state;
    struct cpis_config c;
    char err[256];
    assert_int_equal(parse(NULL, &c, err, sizeof err), 0);
    assert_int_equal(c.version, 6);
    assert_int_equal(c.flag[FLAG_TASK_ACTIVITIES], 0);
    assert_int_equal(c.flag[FLAG_FIRST_RESPONSE_ROUTING], 0);
    assert_int_equal(c.flag[FLAG_LANDING_PAGE], 1);
    assert_int_equal(c.flag[FLAG_CASE_NOTE_STUBS], 1);
    assert_int_equal(c.flag[FLAG_EPISODES], 1);
    assert_int_equal(c.window_minutes, 720);
    assert_int_equal(c.max_span_minutes, 4320);
    assert_int_equal(c.threshold_count, 3);
    assert_int_equal(c.threshold_days, 183);
    assert_int_equal(c.repeat_window_days, 183);
    assert_int_equal(c.repeat_threshold, 2);
    assert_int_equal(c.max_message_bytes, 1048576);
    cpis_config_free(&c);
}

static void test_defaults_v5(void **state)
{
    (void)state;
    struct cpis_config c;
    char err[256];
    assert_int_equal(parse("{\"workflow\":{\"version\":5}}", &c, err, sizeof err), 0);
    assert_int_equal(c.version, 5);
    assert_int_equal(c.flag[FLAG_TASK_ACTIVITIES], 1);
    assert_int_equal(c.flag[FLAG_FIRST_RESPONSE_ROUTING], 1);
    assert_int_equal(c.flag[FLAG_LANDING_PAGE], 0);
    assert_int_equal(c.flag[FLAG_CASE_NOTE_STUBS], 0);
    assert_int_equal(c.flag[FLAG_EPISODES], 0);
    for (int f = 0; f < FLAG_COUNT_; f++)
        assert_int_equal(c.flag_explicit[f], 0);
    cpis_config_free(&c);
}

static void test_explicit_flag_overrides(void **state)
{
    (void)state;
    struct cpis_config c;
    char err[256];
    assert_int_equal(parse("{\"workflow\":{\"version\":6},\"flags\":{\"task_activities\":true,"
                           "\"episodes\":false}}",
                           &c, err, sizeof err),
                     0);
    assert_int_equal(c.flag[FLAG_TASK_ACTIVITIES], 1);
    assert_int_equal(c.flag_explicit[FLAG_TASK_ACTIVITIES], 1);
    assert_int_equal(c.flag[FLAG_EPISODES], 0);
    assert_int_equal(c.flag[FLAG_LANDING_PAGE], 1);
    assert_int_equal(c.flag_explicit[FLAG_LANDING_PAGE], 0);
    char eff[4096];
    size_t n = cpis_config_effective_json(&c, eff, sizeof eff);
    assert_true(n > 0 && n < sizeof eff);
    assert_non_null(strstr(eff, "\"task_activities\":\t{"));
    assert_non_null(strstr(eff, "explicit"));
    assert_non_null(strstr(eff, "version default"));
    cpis_config_free(&c);
}

struct bad {
    const char *json;
    const char *must_name;
};

static void test_every_error_names_the_key(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        {"{\"workflow\":{\"version\":7}}", "workflow.version"},
        {"{\"workflow\":{\"version\":\"6\"}}", "workflow.version"},
        {"{\"workflow\":{\"versoin\":6}}", "workflow.versoin: unknown key"},
        {"{\"flags\":{\"task_activities\":1}}", "flags.task_activities: expected true or false"},
        {"{\"flags\":{\"landing\":true}}", "flags.landing: unknown key"},
        {"{\"episodes\":{\"window_minutes\":0}}", "episodes.window_minutes"},
        {"{\"episodes\":{\"window_minutes\":12.5}}", "episodes.window_minutes"},
        {"{\"episodes\":{\"window_minutes\":600,\"max_span_minutes\":60}}",
         "episodes.max_span_minutes"},
        {"{\"first_response\":{\"threshold_count\":-1}}", "first_response.threshold_count"},
        {"{\"first_response\":{\"threshold_days\":\"183\"}}", "first_response.threshold_days"},
        {"{\"repeats\":{\"window_days\":0}}", "repeats.window_days"},
        {"{\"repeats\":{\"window_days\":\"183\"}}", "repeats.window_days"},
        {"{\"repeats\":{\"threshold\":1}}", "repeats.threshold"},
        {"{\"repeats\":{\"threshold\":2.5}}", "repeats.threshold"},
        {"{\"repeats\":{\"treshold\":2}}", "repeats.treshold: unknown key"},
        {"{\"repeats\":true}", "repeats: expected an object"},
        {"{\"ods\":{\"paths\":\"../ods\"}}", "ods.paths"},
        {"{\"ods\":{\"paths\":[1]}}", "ods.paths[0]"},
        {"{\"ods\":{\"settings\":{\"RYA\":\"spaceship\"}}}", "ods.settings.RYA"},
        {"{\"ods\":{\"settings\":{\"R-YA\":\"ambulance\"}}}", "ods.settings.R-YA"},
        {"{\"limits\":{\"max_message_bytes\":10}}", "limits.max_message_bytes"},
        {"{\"colour\":\"blue\"}", "colour: unknown key"},
        {"{\"flags\":[]}", "flags: expected an object"},
        {"[1,2]", "expected a JSON object"},
        {"{\"workflow\":{\"version\":6}} trailing", "not valid JSON"},
        {"{\"workflow\":", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cpis_config c;
        memset(&c, 0x5a, sizeof c);
        char err[1024] = "";
        int rc = parse(cases[i].json, &c, err, sizeof err);
        if (rc != -1 || strstr(err, cases[i].must_name) == NULL)
            fail_msg("config %s: rc %d, error '%s' does not name '%s'", cases[i].json, rc, err,
                     cases[i].must_name);
    }
}

/* Issue 12: text that is not one JSON object is refused, never read as
 * "all defaults"; numbers out of range say so (and UBSan watches that no
 * out-of-range double is cast to an integer on the way). */
static void test_refused_text_and_numbers(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        {"", "the file is empty"},
        {" \n\t\r\n", "the file is empty"},
        {"null", "expected a JSON object"},
        {"\"v6\"", "expected a JSON object"},
        {"6", "expected a JSON object"},
        {"{\"workflow\":{\"version\":5},\"workflow\":{\"version\":6}}",
         "duplicated key \"workflow\""},
        {"{\"flags\":{\"episodes\":true,\"episodes\":false}}", "duplicated key \"episodes\""},
        {"{\"episodes\":{\"window_minutes\":1e300}}", "episodes.window_minutes"},
        {"{\"episodes\":{\"window_minutes\":1e300}}", "above the range"},
        {"{\"episodes\":{\"window_minutes\":-1e300}}", "a negative number"},
        {"{\"first_response\":{\"threshold_days\":-5}}", "a negative number"},
        {"{\"first_response\":{\"threshold_count\":2.5}}", "a fraction"},
        {"{\"limits\":{\"max_message_bytes\":1e19}}", "limits.max_message_bytes"},
        {"{\"limits\":{\"max_message_bytes\":4294967297}}", "above the range"},
        {"{\"data_quality\":{\"owner\":\"a\\u0000b\"}}", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cpis_config c;
        memset(&c, 0x5a, sizeof c);
        char err[1024] = "";
        int rc = parse(cases[i].json, &c, err, sizeof err);
        if (rc != -1 || strstr(err, cases[i].must_name) == NULL)
            fail_msg("config '%s': rc %d, error '%s' does not say '%s'", cases[i].json, rc,
                     err, cases[i].must_name);
    }
    /* A zero-length buffer that is there (a zero-byte file) is refused;
     * only "no configuration at all" (NULL) means the defaults. */
    struct cpis_config c;
    char err[256] = "";
    assert_int_equal(cpis_config_parse("", 0, "/etc/cpis", NULL, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty"));
}

static void test_repeats_section(void **state)
{
    (void)state;
    struct cpis_config c;
    char err[512] = "";
    assert_int_equal(parse("{\"repeats\":{\"window_days\":90,\"threshold\":3}}", &c, err,
                           sizeof err),
                     0);
    assert_int_equal(c.repeat_window_days, 90);
    assert_int_equal(c.repeat_threshold, 3);
    char eff[4096];
    cpis_config_effective_json(&c, eff, sizeof eff);
    assert_non_null(strstr(eff, "\"repeats\""));
    assert_non_null(strstr(eff, "\"window_days\":\t90"));
    cpis_config_free(&c);
}

static void test_all_problems_reported(void **state)
{
    (void)state;
    struct cpis_config c;
    char err[1024] = "";
    assert_int_equal(parse("{\"workflow\":{\"version\":9},\"flags\":{\"episodes\":\"yes\"},"
                           "\"limits\":{\"max_message_bytes\":1}}",
                           &c, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "workflow.version"));
    assert_non_null(strstr(err, "flags.episodes"));
    assert_non_null(strstr(err, "limits.max_message_bytes"));
}

static void test_relative_ods_paths(void **state)
{
    (void)state;
    struct cpis_config c;
    char err[256];
    assert_int_equal(parse("{\"ods\":{\"paths\":[\"../ods\",\"/abs/etr.csv\"],"
                           "\"settings\":{\"RYA\":\"ambulance\"}}}",
                           &c, err, sizeof err),
                     0);
    assert_int_equal(c.n_ods_paths, 2);
    assert_string_equal(c.ods_paths[0], "/etc/cpis/../ods");
    assert_string_equal(c.ods_paths[1], "/abs/etr.csv");
    assert_int_equal(c.n_overrides, 1);
    assert_string_equal(c.overrides[0].code, "RYA");
    assert_string_equal(c.overrides[0].setting, "ambulance");
    cpis_config_free(&c);

    const char *const cli[] = {"cli/ods", NULL};
    const char *j = "{\"ods\":{\"paths\":[\"x\"]}}";
    if (cpis_config_parse(j, strlen(j), "/etc/cpis", cli, &c, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(c.n_ods_paths, 1);
    assert_string_equal(c.ods_paths[0], "cli/ods");
    cpis_config_free(&c);
}

static void test_sample_configs(void **state)
{
    (void)state;
    const char *names[] = {"config/v5.json", "config/v6.json"};
    for (int i = 0; i < 2; i++) {
        char path[1024];
        size_t len;
        char *json = fake_host_read_file(fake_host_sample(names[i], path, sizeof path), &len);
        assert_non_null(json);
        struct cpis_config c;
        char err[512] = "";
        if (cpis_config_parse(json, len, "samples/config", NULL, &c, err, sizeof err) != 0)
            fail_msg("%s: %s", names[i], err);
        assert_int_equal(c.version, i == 0 ? 5 : 6);
        assert_int_equal(c.flag[FLAG_TASK_ACTIVITIES], i == 0);
        assert_int_equal(c.flag[FLAG_LANDING_PAGE], i == 1);
        cpis_config_free(&c);
        free(json);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_v6),
        cmocka_unit_test(test_defaults_v5),
        cmocka_unit_test(test_explicit_flag_overrides),
        cmocka_unit_test(test_every_error_names_the_key),
        cmocka_unit_test(test_refused_text_and_numbers),
        cmocka_unit_test(test_all_problems_reported),
        cmocka_unit_test(test_repeats_section),
        cmocka_unit_test(test_relative_ods_paths),
        cmocka_unit_test(test_sample_configs),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
