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
#include "common/linesplit.h"

/* Records every delivered piece as "text|" or "text+|" (continued) in out. */
typedef struct recorder {
    ls_buf out;
    int calls;
    int fail_at; /* call number (1-based) that returns -EIO; 0 = never */
} recorder;

static int record_cb(void *userdata, const char *text, size_t len, bool continued)
{
    recorder *r = userdata;
    r->calls++;
    if (r->fail_at && r->calls == r->fail_at)
        return -EIO;
    ls_buf_append(&r->out, text, len);
    ls_buf_puts(&r->out, continued ? "+|" : "|");
    return 0;
}

static const char *out_str(recorder *r)
{
    return r->out.data ? r->out.data : "";
}

static void test_basic_lines(void **state)
{
    recorder r = {LS_BUF_INIT, 0, 0};
    ls_linesplit *s = ls_linesplit_new(100, record_cb, &r);
    assert_non_null(s);
    const char *in = "one\ntwo\r\n\nthree";
    assert_int_equal(ls_linesplit_feed(s, in, strlen(in)), 0);
    assert_string_equal(out_str(&r), "one|two\r||");
    assert_int_equal(ls_linesplit_pending(s), 5);
    assert_int_equal(ls_linesplit_feed(s, " more\n", 6), 0);
    assert_string_equal(out_str(&r), "one|two\r||three more|");
    assert_int_equal(ls_linesplit_pending(s), 0);
    ls_linesplit_free(s);
    ls_buf_free(&r.out);
}

static void test_invalid_args(void **state)
{
    recorder r = {LS_BUF_INIT, 0, 0};
    assert_null(ls_linesplit_new(0, record_cb, &r));
    assert_null(ls_linesplit_new(10, NULL, &r));
    ls_linesplit_free(NULL);
}

static void test_exact_max_len_not_continued(void **state)
{
    recorder r = {LS_BUF_INIT, 0, 0};
    ls_linesplit *s = ls_linesplit_new(4, record_cb, &r);
    const char *in = "abcd\nabcde\nabcdefgh\nabcdefghi\n";
    assert_int_equal(ls_linesplit_feed(s, in, strlen(in)), 0);
    assert_string_equal(out_str(&r), "abcd|abcd+|e|abcd+|efgh|abcd+|efgh+|i|");
    ls_linesplit_free(s);
    ls_buf_free(&r.out);
}

static void test_exact_max_len_across_feeds(void **state)
{
    recorder r = {LS_BUF_INIT, 0, 0};
    ls_linesplit *s = ls_linesplit_new(4, record_cb, &r);
    assert_int_equal(ls_linesplit_feed(s, "ab", 2), 0);
    assert_int_equal(ls_linesplit_feed(s, "cd", 2), 0);
    /* 4 bytes held: whether they are continued depends on the next byte */
    assert_string_equal(out_str(&r), "");
    assert_int_equal(ls_linesplit_pending(s), 4);
    assert_int_equal(ls_linesplit_feed(s, "\n", 1), 0);
    assert_string_equal(out_str(&r), "abcd|");

    assert_int_equal(ls_linesplit_feed(s, "wxyz", 4), 0);
    assert_int_equal(ls_linesplit_feed(s, "Q\n", 2), 0);
    assert_string_equal(out_str(&r), "abcd|wxyz+|Q|");
    ls_linesplit_free(s);
    ls_buf_free(&r.out);
}

static void test_flush(void **state)
{
    recorder r = {LS_BUF_INIT, 0, 0};
    ls_linesplit *s = ls_linesplit_new(8, record_cb, &r);
    assert_int_equal(ls_linesplit_flush(s), 0);
    assert_int_equal(r.calls, 0);
    assert_int_equal(ls_linesplit_feed(s, "partial", 7), 0);
    assert_int_equal(r.calls, 0);
    assert_int_equal(ls_linesplit_flush(s), 0);
    assert_string_equal(out_str(&r), "partial|");
    assert_int_equal(ls_linesplit_pending(s), 0);
    assert_int_equal(ls_linesplit_flush(s), 0);
    assert_int_equal(r.calls, 1);
    /* a full buffer at flush time is a complete line, not continued */
    assert_int_equal(ls_linesplit_feed(s, "12345678", 8), 0);
    assert_int_equal(ls_linesplit_flush(s), 0);
    assert_string_equal(out_str(&r), "partial|12345678|");
    ls_linesplit_free(s);
    ls_buf_free(&r.out);
}

/* A partial line sent early (the writer went quiet) is a continued piece; the
 * rest of the line follows it, and the end of the stream closes a line left
 * open with an empty piece. */
static void test_send_partial(void **state)
{
    recorder r = {LS_BUF_INIT, 0, 0};
    ls_linesplit *s = ls_linesplit_new(8, record_cb, &r);
    assert_int_equal(ls_linesplit_send_partial(s), 0);
    assert_int_equal(r.calls, 0);
    assert_int_equal(ls_linesplit_feed(s, "123", 3), 0);
    assert_int_equal(ls_linesplit_send_partial(s), 0);
    assert_string_equal(out_str(&r), "123+|");
    assert_int_equal(ls_linesplit_pending(s), 0);
    assert_int_equal(ls_linesplit_feed(s, "45\n6", 4), 0);
    assert_string_equal(out_str(&r), "123+|45|");
    assert_int_equal(ls_linesplit_send_partial(s), 0);
    assert_int_equal(ls_linesplit_flush(s), 0);
    assert_string_equal(out_str(&r), "123+|45|6+||");
    /* closed: a second flush delivers nothing */
    assert_int_equal(ls_linesplit_flush(s), 0);
    assert_int_equal(r.calls, 4);
    /* a line completed after a partial needs no closing piece */
    assert_int_equal(ls_linesplit_feed(s, "ab", 2), 0);
    assert_int_equal(ls_linesplit_send_partial(s), 0);
    assert_int_equal(ls_linesplit_feed(s, "\n", 1), 0);
    assert_int_equal(ls_linesplit_flush(s), 0);
    assert_string_equal(out_str(&r), "123+|45|6+||ab+||");
    ls_linesplit_free(s);
    ls_buf_free(&r.out);
}

static void test_error_propagates(void **state)
{
    recorder r = {LS_BUF_INIT, 0, 2};
    ls_linesplit *s = ls_linesplit_new(16, record_cb, &r);
    const char *in = "first\nsecond\nthird\n";
    assert_int_equal(ls_linesplit_feed(s, in, strlen(in)), -EIO);
    assert_string_equal(out_str(&r), "first|");
    /* the splitter keeps working after the error */
    assert_int_equal(ls_linesplit_feed(s, "fourth\n", 7), 0);
    assert_string_equal(out_str(&r), "first|fourth|");

    /* error while completing a buffered line: the line is consumed */
    r.calls = 0;
    r.fail_at = 1;
    ls_buf_reset(&r.out);
    assert_int_equal(ls_linesplit_feed(s, "buf", 3), 0);
    assert_int_equal(ls_linesplit_feed(s, "fered\nnext\n", 11), -EIO);
    assert_int_equal(ls_linesplit_pending(s), 0);
    assert_int_equal(ls_linesplit_feed(s, "after\n", 6), 0);
    assert_string_equal(out_str(&r), "after|");

    /* error from flush */
    r.calls = 0;
    r.fail_at = 1;
    assert_int_equal(ls_linesplit_feed(s, "tail", 4), 0);
    assert_int_equal(ls_linesplit_flush(s), -EIO);
    assert_int_equal(ls_linesplit_pending(s), 0);
    ls_linesplit_free(s);
    ls_buf_free(&r.out);
}

/* The straightforward byte-at-a-time definition of the splitter. */
static void reference_split(const char *in, size_t len, size_t max_len, ls_buf *out)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        bool end = i == len;
        if (!end && in[i] != '\n' && i - start < max_len)
            continue;
        if (end && i == start)
            break;
        if (!end && in[i] != '\n') {
            /* i - start == max_len and in[i] is not a newline */
            ls_buf_append(out, in + start, max_len);
            ls_buf_puts(out, "+|");
            start = i;
            continue;
        }
        ls_buf_append(out, in + start, i - start);
        ls_buf_puts(out, "|");
        start = i + 1;
    }
}

/* Random input fed in random chunk sizes must split exactly like the reference. */
static void test_random_chunks_match_reference(void **state)
{
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    char in[4096];
    for (int round = 0; round < 300; round++) {
        size_t len = 0;
        size_t total = 1 + round * 13 % sizeof(in);
        while (len < total) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            in[len++] = (rng % 11 == 0) ? '\n' : (char)('a' + rng % 26);
        }
        size_t max_len = 1 + round % 37;
        ls_buf expect = LS_BUF_INIT;
        reference_split(in, len, max_len, &expect);

        recorder r = {LS_BUF_INIT, 0, 0};
        ls_linesplit *s = ls_linesplit_new(max_len, record_cb, &r);
        for (size_t off = 0; off < len;) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            size_t n = 1 + rng % (round % 2 ? 7 : 200);
            if (n > len - off)
                n = len - off;
            assert_int_equal(ls_linesplit_feed(s, in + off, n), 0);
            off += n;
        }
        assert_int_equal(ls_linesplit_flush(s), 0);
        assert_string_equal(out_str(&r), expect.data ? expect.data : "");
        ls_linesplit_free(s);
        ls_buf_free(&r.out);
        ls_buf_free(&expect);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_lines),
        cmocka_unit_test(test_invalid_args),
        cmocka_unit_test(test_exact_max_len_not_continued),
        cmocka_unit_test(test_exact_max_len_across_feeds),
        cmocka_unit_test(test_flush),
        cmocka_unit_test(test_send_partial),
        cmocka_unit_test(test_error_propagates),
        cmocka_unit_test(test_random_chunks_match_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
