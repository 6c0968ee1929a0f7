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

#include "server/search.h"
#include "server/server_events.h"

/* The text a terminal shows for s. */
static void check_render(const char *s, const char *want)
{
    ls_search_scratch sc = {0};
    ls_buf out = LS_BUF_INIT;
    ls_search_render_line(s, strlen(s), &sc, &out);
    assert_string_equal(out.data ? out.data : "", want);
    ls_buf_free(&out);
    ls_search_scratch_free(&sc);
}

static bool matches(const char *q, const char *line)
{
    ls_search_needle n;
    assert_int_equal(ls_search_needle_init(&n, q, strlen(q)), 0);
    ls_search_scratch sc = {0};
    bool m = ls_search_line_matches(&n, line, strlen(line), &sc);
    ls_search_scratch_free(&sc);
    ls_search_needle_free(&n);
    return m;
}

static void test_render(void **state)
{
    (void)state;
    check_render("", "");
    check_render("plain text", "plain text");
    check_render("\x1b[31mred\x1b[0m and \x1b[1;38;5;208mbold\x1b[m", "red and bold");
    check_render("\x1b[38;2;10;200;30mtrue\x1b[0m", "true");
    /* progress lines: the last state of the line */
    check_render("progress 10%\rprogress 50%\rprogress 100%", "progress 100%");
    check_render("abcdef\rXY", "XYcdef");
    check_render("abcdef\rXY\x1b[K", "XY");
    check_render("abcdef\r\x1b[2K", "");
    check_render("abcdef\x1b[3D\x1b[1K!", "   !ef");
    check_render("ab\x08X", "aX");
    check_render("\x08\x08"
                 "a",
                 "a");
    check_render("a\x1b[5Gb", "a   b");
    check_render("a\x1b[3Cb", "a   b");
    /* GitLab section header: the title after \r\e[0K */
    check_render("\x1b[0Ksection_start:1700000000:build\r\x1b[0KBuilding", "Building");
    /* OSC (title, hyperlink) with BEL or ST; charset selection */
    check_render("\x1b]0;title\x07x\x1b]8;;http://e\x1b\\link\x1b]8;;\x1b\\", "xlink");
    check_render("\x1b(Bplain", "plain");
    /* cut-off sequences show nothing */
    check_render("text\x1b[31", "text");
    check_render("text\x1b", "text");
    check_render("text\x1b]0;never ends", "text");
    /* invalid UTF-8 is U+FFFD per byte; valid multi-byte text stays */
    check_render("a\xff\xfe"
                 "b",
                 "a\xef\xbf\xbd\xef\xbf\xbd"
                 "b");
    check_render("\xc3\xa4rger \xe2\x9c\x93 \xf0\x9f\x98\x80",
                 "\xc3\xa4rger \xe2\x9c\x93 \xf0\x9f\x98\x80");
    check_render("\x1b[1m\xc3\xa4\x1b[0m", "\xc3\xa4");
}

/* A cursor move far to the right is bounded, not gigabytes of spaces. */
static void test_render_hostile_move(void **state)
{
    (void)state;
    ls_search_scratch sc = {0};
    ls_buf out = LS_BUF_INIT;
    const char *s = "\x1b[999999999999Gx";
    ls_search_render_line(s, strlen(s), &sc, &out);
    assert_true(out.len <= 65536 + 1);
    assert_int_equal(out.data[out.len - 1], 'x');
    ls_buf_free(&out);
    ls_search_scratch_free(&sc);
}

static void test_match(void **state)
{
    (void)state;
    assert_true(matches("world", "hello World"));
    assert_true(matches("WORLD", "hello world"));
    assert_false(matches("worlds", "hello world"));
    assert_false(matches("hello world!", "hello world"));
    assert_true(matches("o", "o"));
    /* escapes split the word in the raw bytes, not on screen */
    assert_true(matches("gcc -o2", "\x1b[32mg\x1b[0mcc -O2"));
    assert_true(matches("needle-deep", "the \x1b[1mNeedle\x1b[0m-deep inside"));
    /* only the last state of a \r line counts */
    assert_true(matches("progress 100", "progress 10%\rprogress 100%"));
    assert_false(matches("10%", "progress 10%\rprogress 100%"));
    assert_false(matches("abc", "abc\r\x1b[K"));
    /* an escape sequence's own bytes never match */
    assert_false(matches("31m", "\x1b[31mred"));
    assert_false(matches("title", "\x1b]0;title\x07x"));
    /* repeated candidates of the first letter */
    assert_true(matches("aab", "aaaaab"));
    assert_true(matches("Aab", "AaAaAb"));
    assert_true(matches("--x", "---x"));
    assert_false(matches("aab", "aaaaa"));
    /* non-ASCII: folded both ways */
    assert_true(matches("\xc3\xa4rger", "\xc3\x84RGER \xc3\x9c"
                                        "BER")); /* ärger ÄRGER */
    assert_true(matches("\xc3\xbc"
                        "ber",
                        "\x1b[1m\xc3\x9c"
                        "BER\x1b[0m")); /* über ÜBER */
    assert_true(
        matches("\xd0\xbf\xd1\x80\xd0\xb8", "\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92")); /* при ПРИВ */
    assert_true(matches("\xce\xb1\xce\xb2", "\xce\x91\xce\x92\xce\x93"));         /* αβ ΑΒΓ */
    assert_true(matches("\xc5\x82\xc3\xb3", "\xc5\x81\xc3\x93\xc5\x81"));         /* łó ŁÓŁ */
    assert_false(matches("\xc3\xa4", "a"));
    assert_true(matches("\xe2\x9c\x93 ok", "\xe2\x9c\x93 OK"));
}

static void test_needle(void **state)
{
    (void)state;
    ls_search_needle n;
    assert_int_equal(ls_search_needle_init(&n, "", 0), -EINVAL);
    assert_int_equal(ls_search_needle_init(&n, "a\xff", 2), -EINVAL);
    assert_int_equal(ls_search_needle_init(&n, "AbC", 3), 0);
    assert_string_equal(n.folded, "abc");
    assert_true(n.ascii);
    ls_search_needle_free(&n);
    assert_int_equal(ls_search_needle_init(&n, "\xc3\x84", 2), 0);
    assert_string_equal(n.folded, "\xc3\xa4");
    assert_false(n.ascii);
    ls_search_needle_free(&n);
}

static void test_query_parse(void **state)
{
    (void)state;
    ls_search_query q;
    char err[200];
    assert_int_equal(ls_search_query_parse("x", NULL, NULL, 1024, 100000, &q, err, sizeof(err)), 0);
    assert_int_equal(q.limit, 10000);
    assert_int_equal(q.since, 0);
    assert_int_equal(q.q_len, 1);
    /* the default never exceeds the flag */
    assert_int_equal(ls_search_query_parse("x", NULL, NULL, 1024, 50, &q, err, sizeof(err)), 0);
    assert_int_equal(q.limit, 50);
    assert_int_equal(ls_search_query_parse("x", "7", "42", 1024, 100, &q, err, sizeof(err)), 0);
    assert_int_equal(q.limit, 7);
    assert_int_equal(q.since, 42);
    assert_int_equal(ls_search_query_parse(NULL, NULL, NULL, 1024, 100, &q, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "?q="));
    assert_int_equal(ls_search_query_parse("", NULL, NULL, 1024, 100, &q, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(ls_search_query_parse("12345", NULL, NULL, 4, 100, &q, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "--search-max-query"));
    assert_int_equal(ls_search_query_parse("\xff", NULL, NULL, 4, 100, &q, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "UTF-8"));
    assert_int_equal(ls_search_query_parse("x", "0", NULL, 4, 100, &q, err, sizeof(err)), -EINVAL);
    assert_int_equal(ls_search_query_parse("x", "101", NULL, 4, 100, &q, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "--search-max-matches"));
    assert_int_equal(ls_search_query_parse("x", "-1", NULL, 4, 100, &q, err, sizeof(err)), -EINVAL);
    assert_int_equal(ls_search_query_parse("x", NULL, "01", 4, 100, &q, err, sizeof(err)), -EINVAL);
}

static void test_event_id(void **state)
{
    (void)state;
    uint64_t e, n;
    assert_int_equal(ls_server_events_parse_id("1700000000000-42", &e, &n), 0);
    assert_int_equal(e, 1700000000000ull);
    assert_int_equal(n, 42);
    assert_int_equal(ls_server_events_parse_id(" 5-0 ", &e, &n), 0);
    assert_int_equal(e, 5);
    assert_int_equal(n, 0);
    assert_int_equal(ls_server_events_parse_id("42", &e, &n), -EINVAL);
    assert_int_equal(ls_server_events_parse_id("-1", &e, &n), -EINVAL);
    assert_int_equal(ls_server_events_parse_id("1-", &e, &n), -EINVAL);
    assert_int_equal(ls_server_events_parse_id("1-2-3", &e, &n), -EINVAL);
    assert_int_equal(ls_server_events_parse_id("a-1", &e, &n), -EINVAL);
    assert_int_equal(ls_server_events_parse_id(NULL, &e, &n), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),      cmocka_unit_test(test_render_hostile_move),
        cmocka_unit_test(test_match),       cmocka_unit_test(test_needle),
        cmocka_unit_test(test_query_parse), cmocka_unit_test(test_event_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
