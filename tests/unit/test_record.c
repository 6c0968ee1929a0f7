/* links: common */
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

#include "common/buf.h"
#include "common/record.h"

static int parse(const char *rec, size_t max_text, ls_line *line, const char **err)
{
    return ls_record_parse(rec, strlen(rec), max_text, line, err);
}

static void test_parse_stdout_and_stderr(void **state)
{
    ls_line l;
    const char *err = NULL;
    const char *rec = "42\t1700000000123\to\thello world";
    assert_int_equal(parse(rec, 100, &l, &err), 0);
    assert_int_equal(l.seq, 42);
    assert_int_equal(l.ts_ms, 1700000000123LL);
    assert_int_equal(l.stream, LS_STREAM_STDOUT);
    assert_false(l.continued);
    assert_int_equal(l.len, 11);
    assert_memory_equal(l.text, "hello world", 11);
    assert_ptr_equal(l.text, rec + strlen("42\t1700000000123\to\t"));

    assert_int_equal(parse("7\t5\te+\tcut here", 100, &l, &err), 0);
    assert_int_equal(l.stream, LS_STREAM_STDERR);
    assert_true(l.continued);
    assert_int_equal(l.seq, 7);
    assert_int_equal(l.ts_ms, 5);
}

static void test_text_with_tabs_and_cr(void **state)
{
    ls_line l;
    const char *err = NULL;
    assert_int_equal(parse("1\t2\to\ta\tb\t\tc\r", 100, &l, &err), 0);
    assert_int_equal(l.len, 7);
    assert_memory_equal(l.text, "a\tb\t\tc\r", 7);
    /* empty text is a valid (empty) line */
    assert_int_equal(parse("3\t2\to\t", 100, &l, &err), 0);
    assert_int_equal(l.len, 0);
}

static void test_heartbeat(void **state)
{
    ls_line l;
    const char *err = NULL;
    assert_int_equal(parse("0\t1700000000000\th\t", 100, &l, &err), 0);
    assert_int_equal(l.stream, LS_STREAM_HEARTBEAT);
    assert_int_equal(l.seq, 0);
    assert_int_equal(l.ts_ms, 1700000000000LL);

    assert_int_equal(parse("5\t1\th\t", 100, &l, &err), -EINVAL);
    assert_string_equal(err, "heartbeat must have seq 0");
    assert_int_equal(parse("0\t1\th\tx", 100, &l, &err), -EINVAL);
    assert_string_equal(err, "heartbeat must have no text");
    assert_int_equal(parse("0\t1\th+\t", 100, &l, &err), -EINVAL);
    assert_string_equal(err, "unknown stream (expected o, e, o+, e+ or h)");
}

typedef struct bad_case {
    const char *rec;
    int ret;
    const char *error;
} bad_case;

static void test_malformed(void **state)
{
    static const bad_case cases[] = {
        {"", -EINVAL, "record has no tab after the seq"},
        {"12", -EINVAL, "record has no tab after the seq"},
        {"12\t34", -EINVAL, "record has no tab after the timestamp"},
        {"12\t34\to", -EINVAL, "record has no tab after the stream"},
        {"\t1\to\tx", -EINVAL, "seq is empty"},
        {"1a\t1\to\tx", -EINVAL, "seq is not a decimal number"},
        {"-1\t1\to\tx", -EINVAL, "seq is not a decimal number"},
        {" 1\t1\to\tx", -EINVAL, "seq is not a decimal number"},
        {"9223372036854775807\t1\to\tx", 0, NULL},
        {"9223372036854775808\t1\to\tx", -EINVAL, "seq is too large (over 2^63-1)"},
        {"99999999999999999999999\t1\to\tx", -EINVAL, "seq is too large (over 2^63-1)"},
        {"0\t1\to\tx", -EINVAL, "seq must be 1 or more"},
        {"1\t\to\tx", -EINVAL, "timestamp is empty"},
        {"1\t1.5\to\tx", -EINVAL, "timestamp is not a decimal number"},
        {"1\t99999999999999999999\to\tx", -EINVAL, "timestamp is too large"},
        {"1\t1\t\tx", -EINVAL, "unknown stream"},
        {"1\t1\tx\tx", -EINVAL, "unknown stream"},
        {"1\t1\too\tx", -EINVAL, "unknown stream"},
        {"1\t1\to-\tx", -EINVAL, "unknown stream"},
        {"1\t1\to++\tx", -EINVAL, "unknown stream"},
        {"1\t1\tO\tx", -EINVAL, "unknown stream"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ls_line l = {.seq = 999};
        const char *err = NULL;
        int r = parse(cases[i].rec, 100, &l, &err);
        if (r != cases[i].ret)
            fail_msg("record %zu '%s': got %d, want %d", i, cases[i].rec, r, cases[i].ret);
        if (!cases[i].error)
            continue;
        assert_non_null(err);
        if (strncmp(err, cases[i].error, strlen(cases[i].error)) != 0)
            fail_msg("record %zu: got error '%s', want '%s'", i, err, cases[i].error);
        assert_int_equal(l.seq, 999); /* ret_line untouched on failure */
    }
}

static void test_text_limit(void **state)
{
    ls_line l;
    const char *err = NULL;
    assert_int_equal(parse("1\t1\to\t12345", 5, &l, &err), 0);
    assert_int_equal(l.len, 5);
    assert_int_equal(parse("1\t1\to\t123456", 5, &l, &err), -E2BIG);
    assert_string_equal(err, "text is longer than the line limit");
}

static void test_format_roundtrip(void **state)
{
    ls_buf out = LS_BUF_INIT;
    ls_line in = {.seq = 18446744073709551615ULL >> 1,
                  .ts_ms = 1700000000999LL,
                  .stream = LS_STREAM_STDERR,
                  .continued = true,
                  .len = 5,
                  .text = "a\tb\rc"};
    ls_record_format(&out, &in);
    assert_string_equal(out.data, "9223372036854775807\t1700000000999\te+\ta\tb\rc\n");

    ls_line back;
    const char *err = NULL;
    assert_int_equal(ls_record_parse(out.data, out.len - 1, 64, &back, &err), 0);
    assert_int_equal(back.seq, in.seq);
    assert_int_equal(back.ts_ms, in.ts_ms);
    assert_int_equal(back.stream, in.stream);
    assert_true(back.continued);
    assert_int_equal(back.len, in.len);
    assert_memory_equal(back.text, in.text, in.len);

    ls_line plain = {.seq = 1, .ts_ms = 0, .stream = LS_STREAM_STDOUT, .len = 0, .text = NULL};
    ls_record_format(&out, &plain);
    ls_record_format_heartbeat(&out, 1234);
    assert_string_equal(out.data, "9223372036854775807\t1700000000999\te+\ta\tb\rc\n"
                                  "1\t0\to\t\n"
                                  "0\t1234\th\t\n");
    ls_buf_free(&out);
}

/* Every decimal length of seq and of a (possibly negative) timestamp, at the
 * edges where a digit is added, compared with printf's formatting. */
static void test_format_numbers_match_printf(void **state)
{
    uint64_t values[64];
    size_t n = 0;
    values[n++] = 0;
    for (uint64_t p = 1;; p *= 10) {
        values[n++] = p - 1 ? p - 1 : 1;
        values[n++] = p;
        values[n++] = p + 1;
        if (p > UINT64_MAX / 10)
            break;
    }
    values[n++] = INT64_MAX;
    values[n++] = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        ls_buf out = LS_BUF_INIT;
        int64_t ts = (int64_t)(values[i] & INT64_MAX);
        ls_line l = {.seq = values[i], .ts_ms = i % 2 ? -ts : ts, .stream = 'o', .text = ""};
        ls_record_format(&out, &l);
        char expect[64];
        snprintf(expect, sizeof(expect), "%llu\t%lld\to\t\n", (unsigned long long)l.seq,
                 (long long)l.ts_ms);
        assert_string_equal(out.data, expect);
        ls_buf_free(&out);
    }
}

/* Runs of consecutive seqs across every carry (9 -> 10, 99 -> 100, ...),
 * interrupted by heartbeats and jumps, with timestamps that repeat and change:
 * the text must always equal printf's. */
static void test_format_consecutive_seqs(void **state)
{
    ls_buf out = LS_BUF_INIT;
    char expect[128];
    uint64_t p = 1;
    for (int digits = 1; digits <= 19; digits++, p *= 10) {
        uint64_t from = p > 3 ? p - 3 : 1;
        for (uint64_t seq = from; seq < p + 3; seq++) {
            int64_t ts = 1700000000000LL + (int64_t)(seq / 2);
            ls_line l = {.seq = seq, .ts_ms = ts, .stream = 'e', .len = 1, .text = "x"};
            ls_buf_reset(&out);
            ls_record_format(&out, &l);
            snprintf(expect, sizeof(expect), "%llu\t%lld\te\tx\n", (unsigned long long)seq,
                     (long long)ts);
            assert_string_equal(out.data, expect);
            if (seq % 4 == 0) {
                ls_buf_reset(&out);
                ls_record_format_heartbeat(&out, ts + 1);
                snprintf(expect, sizeof(expect), "0\t%lld\th\t\n", (long long)ts + 1);
                assert_string_equal(out.data, expect);
            }
        }
    }
    ls_line top = {.seq = UINT64_MAX, .ts_ms = -1, .stream = 'o', .text = ""};
    ls_buf_reset(&out);
    ls_record_format(&out, &top);
    assert_string_equal(out.data, "18446744073709551615\t-1\to\t\n");
    ls_line wrap = {.seq = 0, .ts_ms = -1, .stream = 'o', .text = ""};
    ls_buf_reset(&out);
    ls_record_format(&out, &wrap);
    assert_string_equal(out.data, "0\t-1\to\t\n");
    ls_buf_free(&out);
}

static void test_format_many_appends(void **state)
{
    ls_buf out = LS_BUF_INIT;
    char text[300];
    memset(text, 'x', sizeof(text));
    for (uint64_t i = 1; i <= 200; i++) {
        ls_line l = {
            .seq = i, .ts_ms = (int64_t)i * 10, .stream = 'o', .len = (uint32_t)i, .text = text};
        ls_record_format(&out, &l);
    }
    /* parse them all back */
    size_t off = 0;
    for (uint64_t i = 1; i <= 200; i++) {
        const char *nl = memchr(out.data + off, '\n', out.len - off);
        assert_non_null(nl);
        ls_line l;
        const char *err = NULL;
        assert_int_equal(
            ls_record_parse(out.data + off, (size_t)(nl - out.data) - off, 1000, &l, &err), 0);
        assert_int_equal(l.seq, i);
        assert_int_equal(l.ts_ms, (int64_t)i * 10);
        assert_int_equal(l.len, i);
        off = (size_t)(nl - out.data) + 1;
    }
    assert_int_equal(off, out.len);
    ls_buf_free(&out);
}

/* The one-pass parser and the field-by-field one agree on edge cases of the
 * fast path (fuzz_record checks it on arbitrary input). */
static void check_parsers_agree(const char *rec, size_t len, size_t max_text)
{
    ls_line a = {0}, b = {0};
    const char *ea = NULL, *eb = NULL;
    int ra = ls_record_parse(rec, len, max_text, &a, &ea);
    int rb = ls_record_parse_fields(rec, len, max_text, &b, &eb);
    assert_int_equal(ra, rb);
    assert_ptr_equal(ea, eb);
    if (ra == 0) {
        assert_int_equal(a.seq, b.seq);
        assert_int_equal(a.ts_ms, b.ts_ms);
        assert_int_equal(a.stream, b.stream);
        assert_int_equal(a.continued, b.continued);
        assert_int_equal(a.len, b.len);
        assert_ptr_equal(a.text, b.text);
    }
}

/* The one-pass parser and the field-by-field one agree on edge cases of the
 * fast path (fuzz_record checks it on arbitrary input): each record alone
 * (too short for the fast path) and followed by a long text. */
static void test_fast_path_agrees(void **state)
{
    (void)state;
    static const char *const recs[] = {
        "1\t2\to\t",
        "1\t2\te+\t",
        "007\t2\to\ta\tb",
        "0\t2\to\t",
        "1\t2\to+",
        "1\t2\tox\t",
        "1\t2\t\t",
        "\t2\to\t",
        "1\t\to\t",
        "1\t2\th\t",
        "12345678\t1764787200123\to\t",
        "1234567\t1764787200123\te+\t",
        "123456789012345\t1\to\t",
        "1234567890123456\t1\to\t",
        "123456789012345678\t1\to\t",
        "9223372036854775808\t1\to\t",
        "1\t123456781234567\to\t",
        "1\t1234567812345678\to\t",
        "12x4\t1\to\t",
        "1\t17647872001/3\to\t",
        "9:\t1\to\t",
    };
    char buf[128];
    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
        size_t len = strlen(recs[i]);
        check_parsers_agree(recs[i], len, 64);
        int n = snprintf(buf, sizeof(buf), "%sa long enough text for the one-pass parser", recs[i]);
        check_parsers_agree(buf, (size_t)n, 64);
        check_parsers_agree(buf, (size_t)n, 8); /* text over the limit */
    }
    /* a valid record goes through the fast path with the right numbers */
    ls_line l;
    const char *err = NULL;
    const char *rec = "12345678\t1764787200123\te+\tsome text of the line, long enough";
    assert_int_equal(ls_record_parse(rec, strlen(rec), 1000, &l, &err), 0);
    assert_int_equal(l.seq, 12345678);
    assert_int_equal(l.ts_ms, 1764787200123LL);
    assert_int_equal(l.stream, 'e');
    assert_true(l.continued);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_stdout_and_stderr),
        cmocka_unit_test(test_text_with_tabs_and_cr),
        cmocka_unit_test(test_heartbeat),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_text_limit),
        cmocka_unit_test(test_fast_path_agrees),
        cmocka_unit_test(test_format_roundtrip),
        cmocka_unit_test(test_format_numbers_match_printf),
        cmocka_unit_test(test_format_consecutive_seqs),
        cmocka_unit_test(test_format_many_appends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
