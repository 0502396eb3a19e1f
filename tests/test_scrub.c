/*
 * test_scrub.c - plugin/scrub.c: NHS numbers in any grouping are masked to
 * their last four digits, in free text and in file names; identifiers
 * (quarantine ids, UUIDs, hashes, access keys) stay usable; name-like words
 * in a file name are reduced to their initial.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "scrub.h"

static void expect_scrub(const char *in, const char *want)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", in);
    cpis_scrub_digits(buf);
    if (strcmp(buf, want) != 0)
        fail_msg("scrub('%s') = '%s', expected '%s'", in, buf, want);
}

static void test_nhs_numbers_masked(void **state)
{
    (void)state;
    expect_scrub("nhs 9449305552 seen", "nhs ******5552 seen");
    expect_scrub("944 930 5552", "*** *** 5552");
    expect_scrub("944-930-5552", "***-***-5552");
    expect_scrub("944_930_5552", "***_***_5552");
    expect_scrub("94-49-30-55-52", "**-**-**-55-52");
    expect_scrub("9 4 4 9 3 0 5 5 5 2", "* * * * * * 5 5 5 2");
    expect_scrub("child9449305552", "child******5552");
    expect_scrub("x9449305552y", "x******5552y");
    expect_scrub("(9449305552)", "(******5552)");
    /* two numbers glued are one run: all but the last four masked */
    expect_scrub("94493055524010232137", "****************2137");
    /* the first number of a line, and the last */
    expect_scrub("9449305552", "******5552");
    /* fewer than ten digits stay */
    expect_scrub("case C-1001 at 2024-03-15T14:29Z", "case C-1001 at 2024-03-15T14:29Z");
    /* joiners may be mixed ("944-930 5552" is masked), so a date followed
     * by a space and an hour reaches ten digits and is masked too: the
     * price of never leaking a number written with mixed separators */
    expect_scrub("944-930 5552", "***-*** 5552");
    expect_scrub("2024-03-15 14:29", "****-**-15 14:29");
    expect_scrub("call 123456789", "call 123456789");
    /* '.' and '/' do not join groups: OIDs and dates in paths stay */
    expect_scrub("root 2.16.840.1.113883.2.1.4.1", "root 2.16.840.1.113883.2.1.4.1");
    expect_scrub("in/2024/03/15/x", "in/2024/03/15/x");
    /* two joiners in a row end a run */
    expect_scrub("944 930  5552", "944 930  5552");
}

static void test_identifiers_kept(void **state)
{
    (void)state;
    /* quarantine ids (q- + 16 hex), even all digits or with a 10-digit run */
    expect_scrub("quarantined as q-d123456789015489", "quarantined as q-d123456789015489");
    expect_scrub("quarantined as q-1234567890123456", "quarantined as q-1234567890123456");
    /* UUIDs (message ids), upper or lower case */
    expect_scrub("id 3F2A9C14-7B1E-4D6A-9E35-1C8B04D2A701.", "id 3F2A9C14-7B1E-4D6A-9E35-1C8B04D2A701.");
    expect_scrub("id 12345678-1234-1234-1234-123456789012", "id 12345678-1234-1234-1234-123456789012");
    /* hashes and access keys: 16+ hex characters with a letter */
    expect_scrub("key a9449305552123456 ep-a0123456789abcdef0",
                 "key a9449305552123456 ep-a0123456789abcdef0");
    expect_scrub("sha e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                 "sha e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* but an NHS number next to an id is still masked */
    expect_scrub("q-d123456789015489 9449305552", "q-d123456789015489 ******5552");
    expect_scrub("9449305552-3F2A9C14-7B1E-4D6A-9E35-1C8B04D2A701",
                 "******5552-3F2A9C14-7B1E-4D6A-9E35-1C8B04D2A701");
    /* a hex-looking token that is too short is not an id */
    expect_scrub("ab9449305552", "ab******5552");
    /* "q-" must be its own word */
    expect_scrub("faq-1234567890123456", "faq-************3456");
}

static void test_file_names(void **state)
{
    (void)state;
    char out[256];
    cpis_scrub_file_name("inbox/child-944-930-5552-Patel.xml", out, sizeof out);
    assert_string_equal(out, "inbox/child-***-***-5552-P****.xml");
    cpis_scrub_file_name("/data/Smith/Sam Patel 9449305552.json", out, sizeof out);
    /* the name in the last component is masked; folders only by digits */
    assert_string_equal(out, "/data/Smith/S** P**** ******5552.json");
    cpis_scrub_file_name("samples/cascade/01-nhs111.xml", out, sizeof out);
    assert_string_equal(out, "samples/cascade/01-nhs111.xml");
    cpis_scrub_file_name("ASN-NHS-ctl.DAT", out, sizeof out);
    assert_string_equal(out, "ASN-NHS-ctl.DAT");
    cpis_scrub_file_name(NULL, out, sizeof out);
    assert_string_equal(out, "");
    /* cut, never overrun */
    char small[8];
    cpis_scrub_file_name("9449305552.xml", small, sizeof small);
    assert_string_equal(small, "******5");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nhs_numbers_masked),
        cmocka_unit_test(test_identifiers_kept),
        cmocka_unit_test(test_file_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
