/* links: mask common */
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
#include "mask/masker.h"

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

/* ---- hold-back (issue 5) ------------------------------------------------ */

/* A recorder whose splitter holds back what the masker says; every piece is
 * also kept masked, and a line's masked pieces joined. */
typedef struct hold_rec {
    recorder rec;
    ls_masker *m;
    ls_buf masked; /* masked pieces; "\n" after a line's last piece */
    ls_buf raw;    /* the pieces as delivered; "\n" after a line's last piece */
    size_t max_piece, hold_calls;
    bool empty_continued; /* a continued piece had no byte */
} hold_rec;

static size_t hold_rec_hold(void *userdata, const char *text, size_t len, size_t max_hold)
{
    hold_rec *h = userdata;
    h->hold_calls++;
    return ls_masker_hold_back(h->m, text, len, max_hold);
}

static int hold_rec_cb(void *userdata, const char *text, size_t len, bool continued)
{
    hold_rec *h = userdata;
    record_cb(&h->rec, text, len, continued);
    ls_masker_apply(h->m, text, len, &h->masked);
    ls_buf_append(&h->raw, text, len);
    if (!continued) {
        ls_buf_putc(&h->masked, '\n');
        ls_buf_putc(&h->raw, '\n');
    } else if (len == 0) {
        h->empty_continued = true;
    }
    h->max_piece = len > h->max_piece ? len : h->max_piece;
    return 0;
}

static void hold_rec_init(hold_rec *h, const char *secret)
{
    memset(h, 0, sizeof(*h));
    h->m = ls_masker_new(4);
    if (secret)
        assert_int_equal(ls_masker_add(h->m, secret, strlen(secret)), 0);
}

static void hold_rec_free(hold_rec *h)
{
    ls_masker_free(h->m);
    ls_buf_free(&h->rec.out);
    ls_buf_free(&h->masked);
    ls_buf_free(&h->raw);
}

static const char *str_or_empty(const ls_buf *b)
{
    return b->data ? b->data : "";
}

/* Without a hold-back callback, a partial line is cut where it stops (the
 * leak of issue 5, and still the behaviour of the server's splitters). */
static void test_no_hold_cuts_anywhere(void **state)
{
    hold_rec h;
    hold_rec_init(&h, "HUNTER2X");
    ls_linesplit *s = ls_linesplit_new(64, hold_rec_cb, &h);
    assert_int_equal(ls_linesplit_feed(s, "pw=HUNT", 7), 0);
    assert_int_equal(ls_linesplit_send_partial(s), 0);
    assert_int_equal(ls_linesplit_feed(s, "ER2X ok\n", 8), 0);
    assert_string_equal(out_str(&h.rec), "pw=HUNT+|ER2X ok|");
    ls_linesplit_free(s);
    hold_rec_free(&h);
}

/* A partial piece stops before a possible start of the secret; the held
 * bytes start the next piece, which holds the secret whole. */
static void test_partial_holds_prefix(void **state)
{
    hold_rec h;
    hold_rec_init(&h, "HUNTER2X");
    ls_linesplit *s = ls_linesplit_new(64, hold_rec_cb, &h);
    ls_linesplit_set_hold(s, hold_rec_hold);
    assert_int_equal(ls_linesplit_feed(s, "pw=HUNT", 7), 0);
    assert_int_equal(ls_linesplit_send_partial(s), 0);
    assert_string_equal(out_str(&h.rec), "pw=+|");
    assert_int_equal(ls_linesplit_pending(s), 4);
    assert_int_equal(ls_linesplit_feed(s, "ER2X ok\n", 8), 0);
    assert_string_equal(out_str(&h.rec), "pw=+|HUNTER2X ok|");
    assert_string_equal(str_or_empty(&h.masked), "pw=*** ok\n");
    ls_linesplit_free(s);
    hold_rec_free(&h);
}

/* A partial line that may all be the start of the secret is not sent at all:
 * more bytes, or the end of the stream (everything, masked as usual), decide. */
static void test_partial_held_whole(void **state)
{
    hold_rec h;
    hold_rec_init(&h, "HUNTER2X");
    ls_linesplit *s = ls_linesplit_new(64, hold_rec_cb, &h);
    ls_linesplit_set_hold(s, hold_rec_hold);
    assert_int_equal(ls_linesplit_feed(s, "HUN", 3), 0);
    assert_int_equal(ls_linesplit_send_partial(s), 0);
    assert_int_equal(ls_linesplit_send_partial(s), 0);
    assert_int_equal(h.rec.calls, 0);
    assert_int_equal(ls_linesplit_pending(s), 3);
    assert_int_equal(ls_linesplit_feed(s, "TER", 3), 0);
    assert_int_equal(ls_linesplit_send_partial(s), 0);
    assert_int_equal(h.rec.calls, 0);
    assert_int_equal(ls_linesplit_flush(s), 0);
    assert_string_equal(out_str(&h.rec), "HUNTER|");
    ls_linesplit_free(s);
    hold_rec_free(&h);
}

/* A max-length piece stops before a possible start of the secret, from the
 * caller's memory and from the buffer alike. */
static void test_max_len_holds_prefix(void **state)
{
    const char *line = "0123456HUNTER2X9\n"; /* "HUNTER2X" across offset 10 */
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        hold_rec h;
        hold_rec_init(&h, "HUNTER2X");
        ls_linesplit *s = ls_linesplit_new(10, hold_rec_cb, &h);
        ls_linesplit_set_hold(s, hold_rec_hold);
        for (size_t i = 0; i < strlen(line); i += bytewise ? 1 : strlen(line))
            assert_int_equal(ls_linesplit_feed(s, line + i, bytewise ? 1 : strlen(line)), 0);
        assert_string_equal(out_str(&h.rec), "0123456+|HUNTER2X9|");
        assert_string_equal(str_or_empty(&h.masked), "0123456***9\n");
        ls_linesplit_free(s);
        hold_rec_free(&h);
    }
}

/* A secret longer than max_len cannot be kept whole: the hold is capped so
 * that every piece still has a byte, and the line comes out complete. */
static size_t hold_everything(void *userdata, const char *text, size_t len, size_t max_hold)
{
    (void)userdata, (void)text, (void)max_hold;
    return len; /* more than allowed: the splitter caps it */
}

static void test_max_len_progress(void **state)
{
    recorder r = {LS_BUF_INIT, 0, 0};
    ls_linesplit *s = ls_linesplit_new(4, record_cb, &r);
    ls_linesplit_set_hold(s, hold_everything);
    assert_int_equal(ls_linesplit_feed(s, "abcdefg\n", 8), 0);
    assert_string_equal(out_str(&r), "a+|b+|c+|defg|");
    ls_buf_reset(&r.out);
    assert_int_equal(ls_linesplit_feed(s, "abc", 3), 0);
    assert_int_equal(ls_linesplit_send_partial(s), 0);
    assert_int_equal(ls_linesplit_feed(s, "defgh", 5), 0);
    assert_int_equal(ls_linesplit_feed(s, "ij", 2), 0);
    assert_int_equal(ls_linesplit_flush(s), 0);
    assert_string_equal(out_str(&r), "a+|b+|c+|d+|e+|f+|ghij|");
    ls_linesplit_free(s);
    ls_buf_free(&r.out);

    hold_rec h;
    hold_rec_init(&h, "ABCDEFGHIJKLMNOP"); /* longer than max_len */
    s = ls_linesplit_new(5, hold_rec_cb, &h);
    ls_linesplit_set_hold(s, hold_rec_hold);
    const char *line = "xABCDEFGHIJKLMNOPx\n";
    assert_int_equal(ls_linesplit_feed(s, line, strlen(line)), 0);
    assert_int_equal(ls_linesplit_flush(s), 0);
    assert_string_equal(str_or_empty(&h.raw), line);
    assert_true(h.max_piece <= 5);
    assert_false(h.empty_continued);
    ls_linesplit_free(s);
    hold_rec_free(&h);
}

/* Random lines with secrets (alone, and overlapping "K3YAB12" / "AB12ZZQ")
 * between filler, fed in random chunks with partial sends in between: the
 * pieces join up to the input, no piece exceeds max_len, and the masked
 * pieces equal each line masked whole - no secret is ever cut in two. */
static void test_random_no_secret_cut(void **state)
{
    static const char *const secrets[] = {"HUNTER2X", "K3YAB12", "AB12ZZQ", "P4SS\nW0RD"};
    static const char *const pieces[] = {"HUNTER2X", "K3YAB12", "AB12ZZQ", "K3YAB12ZZQ",
                                         "HUN",      "AB1",     "P4SS",    "W0RD"};
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    for (int round = 0; round < 300; round++) {
        hold_rec h;
        hold_rec_init(&h, NULL);
        for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
            assert_int_equal(ls_masker_add(h.m, secrets[i], strlen(secrets[i])), 0);
        ls_buf in = LS_BUF_INIT;
        while (in.len < 400) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            unsigned k = (unsigned)(rng % 16);
            if (k < 8)
                ls_buf_puts(&in, pieces[k]);
            else if (k == 8)
                ls_buf_putc(&in, '\n');
            ls_buf_putc(&in, (char)('a' + rng % 26)); /* filler: no match touches another */
        }
        ls_buf_putc(&in, '\n');
        size_t max_len = 10 + (size_t)(round % 23);
        ls_linesplit *s = ls_linesplit_new(max_len, hold_rec_cb, &h);
        ls_linesplit_set_hold(s, hold_rec_hold);
        for (size_t off = 0; off < in.len;) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            size_t n = 1 + rng % (round % 2 ? 5 : 60);
            n = n > in.len - off ? in.len - off : n;
            assert_int_equal(ls_linesplit_feed(s, in.data + off, n), 0);
            off += n;
            if (rng % 3 == 0)
                assert_int_equal(ls_linesplit_send_partial(s), 0);
        }
        assert_int_equal(ls_linesplit_flush(s), 0);
        assert_string_equal(str_or_empty(&h.raw), in.data);
        assert_true(h.max_piece <= max_len);
        assert_false(h.empty_continued);
        ls_buf want = LS_BUF_INIT;
        for (const char *p = in.data; p < in.data + in.len;) {
            const char *nl = memchr(p, '\n', (size_t)(in.data + in.len - p));
            ls_masker_apply(h.m, p, (size_t)(nl - p), &want);
            ls_buf_putc(&want, '\n');
            p = nl + 1;
        }
        if (strcmp(str_or_empty(&h.masked), want.data) != 0)
            fail_msg("round %d (max_len %zu):\n pieces %s\n got  %s\n want %s", round, max_len,
                     out_str(&h.rec), str_or_empty(&h.masked), want.data);
        assert_true(h.hold_calls > 0);
        ls_linesplit_free(s);
        hold_rec_free(&h);
        ls_buf_free(&in);
        ls_buf_free(&want);
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
        cmocka_unit_test(test_no_hold_cuts_anywhere),
        cmocka_unit_test(test_partial_holds_prefix),
        cmocka_unit_test(test_partial_held_whole),
        cmocka_unit_test(test_max_len_holds_prefix),
        cmocka_unit_test(test_max_len_progress),
        cmocka_unit_test(test_random_no_secret_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
