/*
 * test_state.c - the child state codec (plugin/state.c): what the plugin
 * writes to the host store must read back identically, older formats must
 * still read, and anything else is refused rather than half-read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

static void fill(struct wf_child *c)
{
    memset(c, 0, sizeof *c);
    c->n_hist = 3;
    c->hist = calloc(3, sizeof *c->hist);
    const int64_t at[3] = {1710511320, 1710511500, 1733798564};
    for (size_t i = 0; i < 3; i++) {
        c->hist[i].at = at[i];
        snprintf(c->hist[i].key, sizeof c->hist[i].key, "a%016zx", i + 0xabcdefu);
        c->hist[i].fr = (int)i; /* 0, 1, 2: the First Response state */
    }
    c->n_ep = 1;
    c->ep = calloc(1, sizeof *c->ep);
    struct wf_episode *e = &c->ep[0];
    snprintf(e->id, sizeof e->id, "ep-%s", c->hist[0].key);
    e->first = at[0];
    e->last = at[1];
    e->revision = 2;
    e->n = 2;
    e->acc = calloc(2, sizeof *e->acc);
    for (size_t i = 0; i < 2; i++) {
        struct wf_access *a = &e->acc[i];
        snprintf(a->key, sizeof a->key, "%s", c->hist[i].key);
        a->at = at[i];
        snprintf(a->notification_id, sizeof a->notification_id, "N-%zu", i);
        snprintf(a->place_code, sizeof a->place_code, "%s", i ? "QQA01" : "QQ1");
        snprintf(a->place, sizeof a->place, "%s", i ? "WMAS \"EOC\"" : "NHS 111, West");
        a->place_resolved = 1;
        snprintf(a->setting, sizeof a->setting, "%s", i ? "ambulance" : "nhs_111");
        snprintf(a->phone, sizeof a->phone, "0121 496 0555");
        snprintf(a->viewer, sizeof a->viewer, "Sam Hughes");
        snprintf(a->role, sizeof a->role, "R8003");
        a->system = i == 0;
        snprintf(a->system_name, sizeof a->system_name, "%s", i ? "" : "NHS 111 CAS");
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    struct wf_child c, d;
    fill(&c);
    char *json = cpis_state_encode(&c);
    assert_non_null(json);
    assert_int_equal(cpis_state_decode(json, strlen(json), &d), 0);
    assert_int_equal(d.n_hist, c.n_hist);
    for (size_t i = 0; i < c.n_hist; i++) {
        assert_int_equal(d.hist[i].at, c.hist[i].at);
        assert_string_equal(d.hist[i].key, c.hist[i].key);
        assert_int_equal(d.hist[i].fr, c.hist[i].fr);
    }
    assert_int_equal(d.n_ep, 1);
    assert_string_equal(d.ep[0].id, c.ep[0].id);
    assert_int_equal(d.ep[0].revision, 2);
    assert_int_equal(d.ep[0].n, 2);
    assert_memory_equal(d.ep[0].acc, c.ep[0].acc, 2 * sizeof *c.ep[0].acc);
    /* and again: encoding is stable */
    char *again = cpis_state_encode(&d);
    assert_string_equal(json, again);
    free(json);
    free(again);
    wf_child_free(&c);
    wf_child_free(&d);
}

/* A completed episode and the one-access entries kept with episodes off
 * (issue 13) read back; a state without them reads as before. */
static void test_done_and_one_access_entries(void **state)
{
    (void)state;
    struct wf_child c, d;
    fill(&c);
    c.ep[0].done = 1;
    c.ep[0].done_at = 1710600000;
    c.n_one = 1;
    c.one = calloc(1, sizeof *c.one);
    struct wf_episode *o = &c.one[0];
    snprintf(o->id, sizeof o->id, "land/%s", c.hist[2].key);
    o->first = o->last = c.hist[2].at;
    o->revision = 2;
    o->done = 1;
    o->done_at = 1733800000;
    o->n = 1;
    o->acc = calloc(1, sizeof *o->acc);
    snprintf(o->acc[0].key, sizeof o->acc[0].key, "%s", c.hist[2].key);
    o->acc[0].at = c.hist[2].at;
    snprintf(o->acc[0].place, sizeof o->acc[0].place, "STAFFORD BRIARWOOD HOSPITAL");
    char *json = cpis_state_encode(&c);
    /* format 4: the episode line carries done 1 and its time */
    assert_non_null(strstr(json, "\nE 1710511320 1710511500 2 1 1710600000 2 ep-"));
    assert_non_null(strstr(json, "\nO "));
    assert_int_equal(cpis_state_decode(json, strlen(json), &d), 0);
    assert_int_equal(d.ep[0].done, 1);
    assert_int_equal(d.ep[0].done_at, 1710600000);
    assert_int_equal(d.n_one, 1);
    assert_string_equal(d.one[0].id, c.one[0].id);
    assert_int_equal(d.one[0].revision, 2);
    assert_int_equal(d.one[0].done, 1);
    assert_int_equal(d.one[0].done_at, 1733800000);
    assert_string_equal(d.one[0].acc[0].place, "STAFFORD BRIARWOOD HOSPITAL");
    free(json);
    wf_child_free(&d);
    /* not done, no entries kept: neither key is written */
    c.ep[0].done = 0;
    for (size_t i = 0; i < c.n_one; i++)
        free(c.one[i].acc);
    free(c.one);
    c.one = NULL;
    c.n_one = 0;
    json = cpis_state_encode(&c);
    assert_non_null(strstr(json, "\nE 1710511320 1710511500 2 0 0 2 ep-"));
    assert_null(strstr(json, "\nO "));
    assert_int_equal(cpis_state_decode(json, strlen(json), &d), 0);
    assert_int_equal(d.ep[0].done, 0);
    assert_int_equal(d.n_one, 0);
    free(json);
    wf_child_free(&d);
    wf_child_free(&c);
}

static void test_empty_child(void **state)
{
    (void)state;
    struct wf_child c = {0}, d;
    char *json = cpis_state_encode(&c);
    assert_int_equal(cpis_state_decode(json, strlen(json), &d), 0);
    assert_int_equal(d.n_hist, 0);
    assert_int_equal(d.n_ep, 0);
    free(json);
    wf_child_free(&d);
}

static void test_reads_format_1(void **state)
{
    (void)state;
    const char *v1 = "{\"v\":1,\"hist\":[[1710511320,\"a1\"],[1710511500,\"a2\"]],\"ep\":[]}";
    struct wf_child d;
    assert_int_equal(cpis_state_decode(v1, strlen(v1), &d), 0);
    assert_int_equal(d.n_hist, 2);
    assert_int_equal(d.hist[1].at, 1710511500);
    assert_string_equal(d.hist[1].key, "a2");
    wf_child_free(&d);
}

/* Format 2 (before the First Response state was kept) reads as fr 0; a
 * format-3 mark other than 1 or 2 is refused. */
static void test_reads_format_2_and_fr_marks(void **state)
{
    (void)state;
    const char *v2 = "{\"v\":2,\"hist\":\"1710511320 a1;1710511500 a2\",\"ep\":[]}";
    struct wf_child d;
    assert_int_equal(cpis_state_decode(v2, strlen(v2), &d), 0);
    assert_int_equal(d.n_hist, 2);
    assert_int_equal(d.hist[0].fr + d.hist[1].fr, 0);
    wf_child_free(&d);
    const char *v3 = "{\"v\":3,\"hist\":\"1710511320 a1 2;1710511500 a2\",\"ep\":[]}";
    assert_int_equal(cpis_state_decode(v3, strlen(v3), &d), 0);
    assert_int_equal(d.hist[0].fr, 2);
    assert_int_equal(d.hist[1].fr, 0);
    wf_child_free(&d);
    const char *bad = "{\"v\":3,\"hist\":\"1710511320 a1 7\",\"ep\":[]}";
    assert_int_equal(cpis_state_decode(bad, strlen(bad), &d), -1);
    wf_child_free(&d);
}

static void test_refuses_what_it_did_not_write(void **state)
{
    (void)state;
    const char *bad[] = {
        "", "[]", "{\"v\":4,\"hist\":\"\",\"ep\":[]}", "{\"v\":2,\"hist\":[],\"ep\":[]}",
        "{\"v\":2,\"hist\":\"x a1\",\"ep\":[]}", "{\"v\":2,\"hist\":\"1710511320\",\"ep\":[]}",
        "{\"v\":2,\"hist\":\"1710511320 \",\"ep\":[]}", "{\"v\":2,\"hist\":\"\",\"ep\":{}}",
        "{\"v\":1,\"hist\":[[\"x\",\"a1\"]],\"ep\":[]}", "{\"v\":2,\"hist\":\"\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct wf_child d;
        if (cpis_state_decode(bad[i], strlen(bad[i]), &d) != -1)
            fail_msg("accepted: %s", bad[i]);
        assert_null(d.hist);
        assert_null(d.ep);
    }
}

/* Format 4 is text: separators and escapes inside a field read back, the
 * first line names the format and the counts. */
static void test_format_4_escapes(void **state)
{
    (void)state;
    struct wf_child c, d;
    fill(&c);
    /* whole buffers cleared: the comparison below is of every byte */
    memset(c.ep[0].acc[0].place, 0, sizeof c.ep[0].acc[0].place);
    memset(c.ep[0].acc[1].viewer, 0, sizeof c.ep[0].acc[1].viewer);
    snprintf(c.ep[0].acc[0].place, sizeof c.ep[0].acc[0].place, "A\tB\nC\\D\rE \\t");
    char *s = cpis_state_encode(&c);
    assert_non_null(s);
    assert_memory_equal(s, "CPIS-STATE 4 3 1 0\n", 19);
    assert_null(strchr(s, '{'));
    assert_int_equal(cpis_state_decode(s, strlen(s), &d), 0);
    assert_string_equal(d.ep[0].acc[0].place, "A\tB\nC\\D\rE \\t");
    assert_memory_equal(d.ep[0].acc, c.ep[0].acc, 2 * sizeof *c.ep[0].acc);
    free(s);
    wf_child_free(&d);
    wf_child_free(&c);
}

/* A field longer than its buffer (a state written by a build with larger
 * fields) is cut to the buffer, escapes included, and the rest still reads. */
static void test_format_4_long_field_cut(void **state)
{
    (void)state;
    struct wf_child c, d;
    fill(&c);
    snprintf(c.ep[0].acc[0].role, sizeof c.ep[0].acc[0].role, "%s", "RRRRRRRRRRRRRRRRRRRRRRR");
    char *s = cpis_state_encode(&c);
    assert_non_null(s);
    char *at = strstr(s, "RRRRRRRRRRRRRRRRRRRRRRR");
    assert_non_null(at);
    /* 23 characters become 20 plain, an escaped tab, then 30 more */
    const char *longer = "RRRRRRRRRRRRRRRRRRRR\\tXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";
    size_t tail = strlen(at + 23);
    char *t = malloc(strlen(s) + strlen(longer) + 1);
    assert_non_null(t);
    memcpy(t, s, (size_t)(at - s));
    strcpy(t + (at - s), longer);
    memcpy(t + (at - s) + strlen(longer), at + 23, tail + 1);
    assert_int_equal(cpis_state_decode(t, strlen(t), &d), 0);
    assert_string_equal(d.ep[0].acc[0].role, "RRRRRRRRRRRRRRRRRRRR\tXX"); /* 23 characters: the buffer, less its NUL */
    assert_string_equal(d.ep[0].acc[0].role_name, c.ep[0].acc[0].role_name);
    assert_string_equal(d.ep[0].acc[1].viewer, c.ep[0].acc[1].viewer);
    free(t);
    free(s);
    wf_child_free(&d);
    wf_child_free(&c);
}

/* A format-3 JSON state written by the plugin before issue 15, with a
 * completed episode, its accesses and a one-access entry, reads back whole;
 * written again, it is format 4 and reads back the same. */
static void test_reads_format_3_whole(void **state)
{
    (void)state;
    const char *v3 =
        "{\"v\":3,\"hist\":\"1710511320 a1 1;1710511500 a2\",\"ep\":[{\"id\":\"ep-a1\","
        "\"first\":1710511320,\"last\":1710511500,\"rev\":3,\"done\":1,\"done_at\":1710600000,"
        "\"acc\":[{\"key\":\"a1\",\"at\":1710511320,\"nid\":\"N-1\",\"code\":\"QQA01\","
        "\"place\":\"WMAS\",\"res\":1,\"parent\":\"West Midlands\",\"setting\":\"ambulance\","
        "\"phone\":\"0121 496 0555\",\"viewer\":\"Sam Hughes\",\"role\":\"R8003\","
        "\"role_name\":\"Paramedic\",\"sys\":1,\"sys_name\":\"CAS\",\"inmsg\":\"W.M.A.S.\","
        "\"via\":1,\"closed\":\"20240101\"}]}],\"one\":[{\"id\":\"land/a2\",\"first\":1710511500,"
        "\"last\":1710511500,\"rev\":1,\"acc\":[{\"key\":\"a2\",\"at\":1710511500}]}]}";
    struct wf_child d, e;
    assert_int_equal(cpis_state_decode(v3, strlen(v3), &d), 0);
    assert_int_equal(d.n_hist, 2);
    assert_int_equal(d.hist[0].fr, 1);
    assert_int_equal(d.n_ep, 1);
    assert_int_equal(d.ep[0].revision, 3);
    assert_int_equal(d.ep[0].done, 1);
    const struct wf_access *a = &d.ep[0].acc[0];
    assert_string_equal(a->role_name, "Paramedic");
    assert_string_equal(a->place_in_message, "W.M.A.S.");
    assert_string_equal(a->closed_on, "20240101");
    assert_true(a->place_resolved && a->system && a->place_via_parent);
    assert_int_equal(d.n_one, 1);
    char *s = cpis_state_encode(&d);
    assert_memory_equal(s, "CPIS-STATE 4 ", 13);
    assert_int_equal(cpis_state_decode(s, strlen(s), &e), 0);
    assert_int_equal(e.n_hist, 2);
    assert_int_equal(e.hist[0].fr, 1);
    assert_int_equal(e.ep[0].done_at, 1710600000);
    assert_memory_equal(e.ep[0].acc, d.ep[0].acc, sizeof *a);
    assert_memory_equal(e.one[0].acc, d.one[0].acc, sizeof *a);
    assert_string_equal(e.one[0].id, "land/a2");
    free(s);
    wf_child_free(&d);
    wf_child_free(&e);
}

/* Every truncation of a format-4 state, and states whose counts or fields
 * do not match, are refused rather than half-read. */
static void test_format_4_refuses_damage(void **state)
{
    (void)state;
    struct wf_child c, d;
    fill(&c);
    char *s = cpis_state_encode(&c);
    size_t n = strlen(s);
    for (size_t cut = 0; cut < n; cut++) {
        if (cpis_state_decode(s, cut, &d) != -1)
            fail_msg("accepted a state cut at %zu of %zu bytes", cut, n);
        assert_null(d.hist);
        assert_null(d.ep);
    }
    const char *bad[] = {
        "CPIS-STATE 4 1 0 0\n",                            /* a history line missing */
        "CPIS-STATE 4 0 0 0\nH 1 a1 0\n",                  /* one too many */
        "CPIS-STATE 4 1 0 0\nH 1 a1 3\n",                  /* fr out of range */
        "CPIS-STATE 4 1 0 0\nH x a1 0\n",                  /* not a number */
        "CPIS-STATE 4 0 1 0\nE 1 2 1 0 0 1 ep-a1\n",       /* its access missing */
        "CPIS-STATE 4 0 1 0\nE 1 2 1 2 0 0 ep-a1\n",       /* done is 0 or 1 */
        "CPIS-STATE 4 0 1 0\nE 1 2 1 0 0 0 ep-\\qa1\n",    /* unknown escape */
        "CPIS-STATE 4 0 1 0\nE 1 2 1 0 0 1 ep-a1\nA 1 0 0 0 a1\tN\n", /* fields short */
        "CPIS-STATE 4 0 0 99999999999\n",                  /* a count beyond the text */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cpis_state_decode(bad[i], strlen(bad[i]), &d) != -1)
            fail_msg("accepted: %s", bad[i]);
        assert_null(d.ep);
    }
    const char *good = "CPIS-STATE 4 1 1 0\nH 1 a1 0\nE 1 1 1 0 0 1 ep-a1\n"
                       "A 1 0 0 0 a1\t\t\t\t\t\t\t\t\t\t\t\t\n";
    assert_int_equal(cpis_state_decode(good, strlen(good), &d), 0);
    assert_int_equal(d.ep[0].n, 1);
    assert_string_equal(d.ep[0].acc[0].key, "a1");
    wf_child_free(&d);
    free(s);
    wf_child_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_done_and_one_access_entries),
        cmocka_unit_test(test_empty_child),
        cmocka_unit_test(test_format_4_escapes),
        cmocka_unit_test(test_format_4_long_field_cut),
        cmocka_unit_test(test_reads_format_3_whole),
        cmocka_unit_test(test_format_4_refuses_damage),
        cmocka_unit_test(test_reads_format_1),
        cmocka_unit_test(test_reads_format_2_and_fr_marks),
        cmocka_unit_test(test_refuses_what_it_did_not_write),
    };
    return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
