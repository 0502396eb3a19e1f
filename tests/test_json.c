/*
 * test_json.c - plugin/read/json.c: strict JSON for untrusted text (FHIR
 * messages, the admin config).  Duplicated keys at any depth, raw control
 * bytes and \u0000 inside strings, NUL bytes in the text, trailing text and
 * empty text are refused with a reason; clean JSON parses as cJSON would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <string.h>

#include "json.h"

static cJSON *parse(const char *text, char *why, size_t cap)
{
    return cpis_json_parse_strict(text, strlen(text), why, cap);
}

static void test_clean_json_parses(void **state)
{
    (void)state;
    char why[128] = "x";
    cJSON *root = parse("{\"a\":{\"b\":[1,{\"c\":\"d\\n\"}],\"B\":2},\"A\":\"\\u00e9\"}", why,
                        sizeof why);
    assert_non_null(root);
    assert_string_equal(why, "");
    /* keys differing only in case are different keys */
    assert_non_null(cJSON_GetObjectItemCaseSensitive(root, "A"));
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "a");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(a, "B")->valueint, 2);
    cJSON_Delete(root);
    /* the same key in two different objects is fine */
    root = parse("[{\"id\":1},{\"id\":2}]", why, sizeof why);
    assert_non_null(root);
    cJSON_Delete(root);
}

static void test_duplicated_keys_refused(void **state)
{
    (void)state;
    static const char *const dup[] = {
        "{\"nhs\":\"9449305552\",\"nhs\":\"4010232137\"}",
        "{\"a\":1,\"b\":2,\"c\":3,\"a\":4}",
        "{\"x\":{\"y\":{\"z\":1,\"z\":1}}}",
        "[1,[2,{\"k\":null,\"k\":null}]]",
    };
    for (size_t i = 0; i < sizeof dup / sizeof dup[0]; i++) {
        char why[128] = "";
        cJSON *root = parse(dup[i], why, sizeof why);
        if (root != NULL || strstr(why, "duplicated key") == NULL)
            fail_msg("%s: accepted or no reason ('%s')", dup[i], why);
    }
    /* a long or non-ASCII key is not echoed */
    char why[128] = "";
    assert_null(parse("{\"\xc3\xa9\":1,\"\xc3\xa9\":2}", why, sizeof why));
    assert_string_equal(why, "a key is given twice in one object");
}

static void test_controls_and_nul_refused(void **state)
{
    (void)state;
    char why[128] = "";
    /* "\u0000" would be decoded into a NUL that cuts the C string */
    assert_null(parse("{\"nhs\":\"9449305552\\u0000junk\"}", why, sizeof why));
    assert_non_null(strstr(why, "\\u0000"));
    /* a raw control byte inside a string */
    assert_null(parse("{\"nhs\":\"94493\x01" "05552\"}", why, sizeof why));
    assert_non_null(strstr(why, "control character"));
    /* a NUL byte in the text */
    static const char nul[] = "{\"a\":1}\0{}";
    assert_null(cpis_json_parse_strict(nul, sizeof nul - 1, why, sizeof why));
    assert_non_null(strstr(why, "NUL"));
    /* an escaped backslash before u0000 is not an escape of NUL */
    cJSON *root = parse("{\"a\":\"\\\\u0000\"}", why, sizeof why);
    assert_non_null(root);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "a")->valuestring, "\\u0000");
    cJSON_Delete(root);
    /* escaped controls decode into the value: has_control finds them */
    root = parse("{\"a\":\"944\\u0001930\"}", why, sizeof why);
    assert_non_null(root);
    const char *v = cJSON_GetObjectItemCaseSensitive(root, "a")->valuestring;
    assert_true(cpis_json_has_control(v, strlen(v)));
    assert_false(cpis_json_has_control("9449305552", 10));
    cJSON_Delete(root);
}

static void test_empty_and_trailing_refused(void **state)
{
    (void)state;
    char why[128] = "";
    assert_null(cpis_json_parse_strict("", 0, why, sizeof why));
    assert_non_null(strstr(why, "empty"));
    assert_null(cpis_json_parse_strict(NULL, 0, why, sizeof why));
    assert_null(parse("   ", why, sizeof why));
    assert_non_null(strstr(why, "not well-formed"));
    assert_null(parse("{} {}", why, sizeof why));
    assert_null(parse("{\"a\":1", why, sizeof why));
    /* no reason buffer: still refused, nothing written */
    assert_null(parse("{\"a\":1,\"a\":2}", NULL, 0));
    /* a length shorter than the text: only that much is read */
    cJSON *root = cpis_json_parse_strict("{\"a\":1}garbage", 7, why, sizeof why);
    assert_non_null(root);
    cJSON_Delete(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_json_parses),
        cmocka_unit_test(test_duplicated_keys_refused),
        cmocka_unit_test(test_controls_and_nul_refused),
        cmocka_unit_test(test_empty_and_trailing_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
