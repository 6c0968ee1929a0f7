/* links: cli common */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* src/cli is linked into the logstream executable, not into a library, so the
 * module under test is compiled into this test directly. */
#include "cli/sse_client.h"

#define MAX_EVENTS 16

typedef struct recorded {
    char type[64];
    char data[512];
    size_t data_len;
    char id[64];
} recorded;

typedef struct recorder {
    recorded ev[MAX_EVENTS];
    int n;
    char comments[8][64];
    int ncomments;
    int stop_after; /* return 7 from the callback after this many events; 0 = never */
} recorder;

static int on_event(void *ctx, const ls_sse_event *ev)
{
    recorder *r = ctx;
    assert_true(r->n < MAX_EVENTS);
    recorded *e = &r->ev[r->n++];
    snprintf(e->type, sizeof(e->type), "%s", ev->type);
    assert_true(ev->data_len < sizeof(e->data));
    memcpy(e->data, ev->data, ev->data_len);
    e->data[ev->data_len] = '\0';
    e->data_len = ev->data_len;
    assert_int_equal(ev->data[ev->data_len], '\0');
    snprintf(e->id, sizeof(e->id), "%s", ev->id);
    return r->stop_after && r->n >= r->stop_after ? 7 : 0;
}

static int on_comment(void *ctx, const char *text, size_t len)
{
    recorder *r = ctx;
    assert_true(r->ncomments < 8);
    snprintf(r->comments[r->ncomments++], 64, "%.*s", (int)len, text);
    return 0;
}

/* Feeds s to a new parser in pieces of `step` bytes (0 = all at once). */
static int parse(recorder *r, const char *s, size_t len, size_t step, ls_sse_parser **ret_p)
{
    memset(r->ev, 0, sizeof(r->ev));
    r->n = 0;
    r->ncomments = 0;
    ls_sse_parser *p = ls_sse_parser_new(1024, 4096, on_event, on_comment, r);
    int rc = 0;
    if (step == 0)
        step = len ? len : 1;
    for (size_t i = 0; i < len && rc == 0; i += step)
        rc = ls_sse_parser_feed(p, s + i, len - i < step ? len - i : step);
    if (ret_p)
        *ret_p = p;
    else
        ls_sse_parser_free(p);
    return rc;
}

static void test_event_with_all_fields(void **state)
{
    recorder r = {0};
    const char *s = "event: lines\nid: 12\ndata: {\"seq\":11}\ndata: {\"seq\":12}\n\n";
    assert_int_equal(parse(&r, s, strlen(s), 0, NULL), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.ev[0].type, "lines");
    assert_string_equal(r.ev[0].id, "12");
    assert_string_equal(r.ev[0].data, "{\"seq\":11}\n{\"seq\":12}");
}

static void test_default_type_and_id_persists(void **state)
{
    recorder r = {0};
    const char *s = "id: 5\ndata: a\n\ndata: b\n\n";
    assert_int_equal(parse(&r, s, strlen(s), 0, NULL), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.ev[0].type, "message");
    assert_string_equal(r.ev[1].type, "message");
    assert_string_equal(r.ev[0].id, "5");
    assert_string_equal(r.ev[1].id, "5"); /* the last event id carries over */
    assert_string_equal(r.ev[1].data, "b");
}

/* Every line ending and every way of cutting the stream gives the same events. */
static void test_line_endings_and_any_split(void **state)
{
    const char *s = "event: a\r\ndata: 1\r\ndata: 2\r\n\r\n"
                    "event: b\rdata: 3\r\r"
                    "event: c\ndata: 4\n\n"
                    ": ping\r\n"
                    "data: 5\r\n\n";
    size_t len = strlen(s);
    for (size_t step = 0; step <= len; step++) {
        recorder r = {0};
        assert_int_equal(parse(&r, s, len, step, NULL), 0);
        assert_int_equal(r.n, 4);
        assert_string_equal(r.ev[0].type, "a");
        assert_string_equal(r.ev[0].data, "1\n2");
        assert_string_equal(r.ev[1].type, "b");
        assert_string_equal(r.ev[1].data, "3");
        assert_string_equal(r.ev[2].type, "c");
        assert_string_equal(r.ev[2].data, "4");
        assert_string_equal(r.ev[3].type, "message"); /* type does not leak between events */
        assert_string_equal(r.ev[3].data, "5");
        assert_int_equal(r.ncomments, 1);
        assert_string_equal(r.comments[0], " ping");
    }
}

/* CR at the end of one chunk and LF at the start of the next is one line end,
 * not an empty line that would dispatch early. */
static void test_crlf_split_across_chunks(void **state)
{
    recorder r = {0};
    ls_sse_parser *p = ls_sse_parser_new(1024, 4096, on_event, on_comment, &r);
    assert_int_equal(ls_sse_parser_feed(p, "data: x\r", 8), 0);
    assert_int_equal(ls_sse_parser_feed(p, "\ndata: y\r", 9), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(ls_sse_parser_feed(p, "\n\r\n", 3), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.ev[0].data, "x\ny");
    ls_sse_parser_free(p);
}

static void test_event_without_data_commits_id_only(void **state)
{
    recorder r = {0};
    ls_sse_parser *p = NULL;
    const char *s = "event: end\nid: 9\n\n";
    assert_int_equal(parse(&r, s, strlen(s), 0, &p), 0);
    assert_int_equal(r.n, 0);
    assert_string_equal(ls_sse_parser_last_id(p), "9");
    ls_sse_parser_free(p);
}

static void test_field_forms(void **state)
{
    recorder r = {0};
    /* "data" without a colon is an empty data line; only one space is removed;
     * unknown fields are ignored; "data:" with nothing is an empty line too. */
    const char *s = "data\ndata:  two\nfoo: bar\ndata:\ndata:x\n\n";
    assert_int_equal(parse(&r, s, strlen(s), 0, NULL), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.ev[0].data, "\n two\n\nx");
}

static void test_empty_data_is_dispatched(void **state)
{
    recorder r = {0};
    const char *s = "event: end\ndata:\n\n";
    assert_int_equal(parse(&r, s, strlen(s), 0, NULL), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.ev[0].type, "end");
    assert_int_equal(r.ev[0].data_len, 0);
}

static void test_bom_is_stripped_even_when_split(void **state)
{
    const char *s = "\xEF\xBB\xBF"
                    "data: a\n\n";
    for (size_t step = 1; step <= 4; step++) {
        recorder r = {0};
        assert_int_equal(parse(&r, s, strlen(s), step, NULL), 0);
        assert_int_equal(r.n, 1);
        assert_string_equal(r.ev[0].data, "a");
    }
}

static void test_id_with_nul_is_ignored(void **state)
{
    recorder r = {0};
    const char s[] = "id: 3\ndata: a\n\nid: 4\0x\ndata: b\n\n";
    assert_int_equal(parse(&r, s, sizeof(s) - 1, 0, NULL), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.ev[1].id, "3");
}

static void test_data_may_hold_nul(void **state)
{
    recorder r = {0};
    const char s[] = "data: a\0b\n\n";
    assert_int_equal(parse(&r, s, sizeof(s) - 1, 0, NULL), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].data_len, 3);
    assert_memory_equal(r.ev[0].data, "a\0b", 3);
}

static void test_retry(void **state)
{
    recorder r = {0};
    ls_sse_parser *p = NULL;
    const char *s = "retry: 2500\n\nretry: 12x\n\n";
    assert_int_equal(parse(&r, s, strlen(s), 0, &p), 0);
    assert_int_equal(ls_sse_parser_retry_ms(p), 2500); /* the invalid one is ignored */
    ls_sse_parser_free(p);
}

static void test_unfinished_event_is_not_dispatched(void **state)
{
    recorder r = {0};
    const char *s = "data: a\n\ndata: b\n";
    assert_int_equal(parse(&r, s, strlen(s), 0, NULL), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.ev[0].data, "a");
}

static void test_line_limit(void **state)
{
    recorder r = {0};
    ls_sse_parser *p = ls_sse_parser_new(8, 4096, on_event, NULL, &r);
    assert_int_equal(ls_sse_parser_feed(p, "data: 12", 8), 0);
    assert_int_equal(ls_sse_parser_feed(p, "3", 1), -E2BIG);
    assert_int_equal(ls_sse_parser_feed(p, "\n\n", 2), -E2BIG); /* stays failed */
    assert_int_equal(r.n, 0);
    ls_sse_parser_reset(p);
    assert_int_equal(ls_sse_parser_feed(p, "data: 1\n\n", 9), 0);
    assert_int_equal(r.n, 1);
    ls_sse_parser_free(p);
}

static void test_event_limit(void **state)
{
    recorder r = {0};
    ls_sse_parser *p = ls_sse_parser_new(64, 6, on_event, NULL, &r);
    assert_int_equal(ls_sse_parser_feed(p, "data: ab\ndata: cd\n", 18), 0); /* 6 bytes */
    assert_int_equal(ls_sse_parser_feed(p, "data: e\n", 8), -E2BIG);
    assert_int_equal(r.n, 0);
    ls_sse_parser_free(p);
}

static void test_callback_stops_feed(void **state)
{
    recorder r = {0};
    r.stop_after = 1;
    const char *s = "data: a\n\ndata: b\n\n";
    assert_int_equal(parse(&r, s, strlen(s), 0, NULL), 7);
    assert_int_equal(r.n, 1);
}

/* A reconnect drops the half-read event but keeps the last id to resume from. */
static void test_reset_keeps_last_id(void **state)
{
    recorder r = {0};
    ls_sse_parser *p = ls_sse_parser_new(1024, 4096, on_event, NULL, &r);
    const char *s = "id: 41\ndata: a\n\nid: 42\ndata: partial";
    assert_int_equal(ls_sse_parser_feed(p, s, strlen(s)), 0);
    ls_sse_parser_reset(p);
    assert_string_equal(ls_sse_parser_last_id(p), "41");
    assert_int_equal(ls_sse_parser_feed(p, "data: new\n\n", 11), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.ev[1].data, "new");
    assert_string_equal(r.ev[1].id, "41");
    ls_sse_parser_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_with_all_fields),
        cmocka_unit_test(test_default_type_and_id_persists),
        cmocka_unit_test(test_line_endings_and_any_split),
        cmocka_unit_test(test_crlf_split_across_chunks),
        cmocka_unit_test(test_event_without_data_commits_id_only),
        cmocka_unit_test(test_field_forms),
        cmocka_unit_test(test_empty_data_is_dispatched),
        cmocka_unit_test(test_bom_is_stripped_even_when_split),
        cmocka_unit_test(test_id_with_nul_is_ignored),
        cmocka_unit_test(test_data_may_hold_nul),
        cmocka_unit_test(test_retry),
        cmocka_unit_test(test_unfinished_event_is_not_dispatched),
        cmocka_unit_test(test_line_limit),
        cmocka_unit_test(test_event_limit),
        cmocka_unit_test(test_callback_stops_feed),
        cmocka_unit_test(test_reset_keeps_last_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
