/* links: server store common */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/reqparse.h"

static int num(const char *s, uint64_t max, uint64_t *v)
{
    return ls_parse_uint_strict(s, strlen(s), max, v);
}

static void test_uint_strict(void **state)
{
    uint64_t v = 7;
    assert_int_equal(num("0", 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(num("10", 10, &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(num("18446744073709551615", UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(num("18446744073709551616", UINT64_MAX, &v), -ERANGE);
    assert_int_equal(num("99999999999999999999", UINT64_MAX, &v), -ERANGE);
    assert_int_equal(num("11", 10, &v), -ERANGE);
    const char *bad[] = {
        "", "01", "00", "+1", "-1", " 1", "1 ", "1a", "0x10", "1.0", "123456789012345678901"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 7;
        assert_int_equal(num(bad[i], UINT64_MAX, &v), -EINVAL);
        assert_int_equal(v, 7); /* untouched on failure */
    }
    assert_int_equal(ls_parse_uint_strict("12", 1, 100, &v), 0); /* length-bounded */
    assert_int_equal(v, 1);
}

static void test_routes(void **state)
{
    struct {
        const char *path;
        int rc;
        ls_route_id id;
        int64_t build;
        int step;
    } cases[] = {
        {"/healthz", 0, LS_ROUTE_HEALTHZ, 0, 0},
        {"/metrics", 0, LS_ROUTE_METRICS, 0, 0},
        {"/api/v1/builds", 0, LS_ROUTE_BUILDS, 0, 0},
        {"/api/v1/builds/12", 0, LS_ROUTE_BUILD, 12, 0},
        {"/api/v1/builds/12/events", 0, LS_ROUTE_BUILD_EVENTS, 12, 0},
        {"/api/v1/builds/12/steps/3", 0, LS_ROUTE_STEP, 12, 3},
        {"/api/v1/builds/12/steps/3/stream", 0, LS_ROUTE_STEP_STREAM, 12, 3},
        {"/api/v1/builds/9007199254740991/steps/1000000/logs", 0, LS_ROUTE_STEP_LOGS,
         9007199254740991LL, 1000000},
        {"/api/v1/builds/9007199254740992", -EINVAL, 0, 0, 0},
        {"/api/v1/builds/1/steps/1000001", -EINVAL, 0, 0, 0},
        {"/api/v1/builds/0", -EINVAL, 0, 0, 0},
        {"/api/v1/builds/1/steps/0/logs", -EINVAL, 0, 0, 0},
        {"/api/v1/builds/x", -EINVAL, 0, 0, 0},
        {"/api/v1/builds/", -EINVAL, 0, 0, 0},
        {"/api/v1/builds/1/", -ENOENT, 0, 0, 0},
        {"/api/v1/builds/1/steps", -ENOENT, 0, 0, 0},
        {"/api/v1/builds/1/steps/2/logs/", -ENOENT, 0, 0, 0},
        {"/api/v1/builds/1/steps/2/other", -ENOENT, 0, 0, 0},
        {"/api/v1/builds/1/events/x", -ENOENT, 0, 0, 0},
        {"/api/v1/build", -ENOENT, 0, 0, 0},
        {"/healthz/", -ENOENT, 0, 0, 0},
        {"", -ENOENT, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ls_route r = {.id = LS_ROUTE_METRICS, .build = -1, .step = -1};
        const char *err = NULL;
        int rc = ls_route_parse(cases[i].path, &r, &err);
        if (rc != cases[i].rc)
            fail_msg("%s: rc %d, expected %d", cases[i].path, rc, cases[i].rc);
        if (rc == 0) {
            assert_int_equal(r.id, cases[i].id);
            assert_int_equal(r.build, cases[i].build);
            assert_int_equal(r.step, cases[i].step);
        } else {
            assert_non_null(err);
            assert_int_equal(r.build, -1); /* untouched */
        }
    }
    assert_int_equal(ls_route_parse(NULL, &(ls_route){0}, NULL), -ENOENT);
}

static void test_logs_query(void **state)
{
    ls_logs_query q;
    const char *err = NULL;
    assert_int_equal(ls_logs_query_parse(NULL, NULL, NULL, &q, &err), 0);
    assert_int_equal(q.mode, LS_LOGS_RAW);
    assert_int_equal(ls_logs_query_parse("5", NULL, NULL, &q, &err), 0);
    assert_int_equal(q.mode, LS_LOGS_SINCE);
    assert_int_equal(q.since, 5);
    assert_int_equal(q.limit, LS_LOGS_DEFAULT_LIMIT);
    assert_int_equal(ls_logs_query_parse(NULL, "7", NULL, &q, &err), 0);
    assert_int_equal(q.mode, LS_LOGS_SINCE);
    assert_int_equal(q.since, 0);
    assert_int_equal(q.limit, 7);
    assert_int_equal(ls_logs_query_parse(NULL, NULL, "3", &q, &err), 0);
    assert_int_equal(q.mode, LS_LOGS_TAIL);
    assert_int_equal(q.limit, 3);
    assert_int_equal(ls_logs_query_parse(NULL, "100000", NULL, &q, &err), 0);
    assert_int_equal(ls_logs_query_parse(NULL, "100001", NULL, &q, &err), -EINVAL);
    assert_int_equal(ls_logs_query_parse(NULL, "0", NULL, &q, &err), -EINVAL);
    assert_int_equal(ls_logs_query_parse(NULL, NULL, "0", &q, &err), -EINVAL);
    assert_int_equal(ls_logs_query_parse("1", NULL, "3", &q, &err), -EINVAL);
    assert_int_equal(ls_logs_query_parse("-1", NULL, NULL, &q, &err), -EINVAL);
    assert_int_equal(ls_logs_query_parse("", NULL, NULL, &q, &err), -EINVAL);
    assert_non_null(err);
}

static void test_builds_query(void **state)
{
    uint64_t limit;
    int64_t before;
    const char *err = NULL;
    assert_int_equal(ls_builds_query_parse(NULL, NULL, &limit, &before, &err), 0);
    assert_int_equal(limit, LS_BUILDS_DEFAULT_LIMIT);
    assert_int_equal(before, 0);
    assert_int_equal(ls_builds_query_parse("3", "40", &limit, &before, &err), 0);
    assert_int_equal(limit, 3);
    assert_int_equal(before, 40);
    assert_int_equal(ls_builds_query_parse("1001", NULL, &limit, &before, &err), -EINVAL);
    assert_int_equal(ls_builds_query_parse(NULL, "x", &limit, &before, &err), -EINVAL);
}

static void test_sse_resume(void **state)
{
    uint64_t after = 99;
    const char *err = NULL;
    assert_int_equal(ls_sse_resume_parse(NULL, NULL, &after, &err), 0);
    assert_int_equal(after, 0);
    assert_int_equal(ls_sse_resume_parse(NULL, "12", &after, &err), 0);
    assert_int_equal(after, 12);
    /* the header wins over the query (a reconnecting EventSource) */
    assert_int_equal(ls_sse_resume_parse(" 40 ", "12", &after, &err), 0);
    assert_int_equal(after, 40);
    assert_int_equal(ls_sse_resume_parse("", "12", &after, &err), 0);
    assert_int_equal(after, 0);
    assert_int_equal(ls_sse_resume_parse("4x", NULL, &after, &err), -EINVAL);
    assert_int_equal(ls_sse_resume_parse("9223372036854775808", NULL, &after, &err), -EINVAL);
    assert_int_equal(ls_sse_resume_parse(NULL, "-3", &after, &err), -EINVAL);
}

static void test_content_type_and_accept(void **state)
{
    ls_ingest_mode m;
    assert_int_equal(ls_ingest_mode_parse(NULL, &m), 0);
    assert_int_equal(m, LS_INGEST_RECORDS);
    assert_int_equal(ls_ingest_mode_parse("Application/X-Logstream-Records; v=1", &m), 0);
    assert_int_equal(m, LS_INGEST_RECORDS);
    assert_int_equal(ls_ingest_mode_parse(" text/plain ;charset=utf-8", &m), 0);
    assert_int_equal(m, LS_INGEST_TEXT);
    assert_int_equal(ls_ingest_mode_parse("application/json", &m), -EMEDIUMTYPE);
    assert_int_equal(ls_ingest_mode_parse("text/plainx", &m), -EMEDIUMTYPE);
    assert_int_equal(ls_ingest_mode_parse("", &m), -EMEDIUMTYPE);
    assert_true(ls_accepts_event_stream("text/event-stream"));
    assert_true(ls_accepts_event_stream("text/html, text/event-stream;q=0.9"));
    assert_false(ls_accepts_event_stream("*/*"));
    assert_false(ls_accepts_event_stream("text/event-streams"));
    assert_false(ls_accepts_event_stream(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uint_strict), cmocka_unit_test(test_routes),
        cmocka_unit_test(test_logs_query),  cmocka_unit_test(test_builds_query),
        cmocka_unit_test(test_sse_resume),  cmocka_unit_test(test_content_type_and_accept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
