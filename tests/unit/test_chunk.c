/* links: store common */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zstd.h>

#include "common/buf.h"
#include "store/chunk.h"

/* Decoded lines, with their text copied out of the decoder's buffer. */
typedef struct collected {
    size_t n;
    ls_line lines[64];
    char *texts[64];
    int stop_after; /* return 7 after this many lines; 0 = never */
} collected;

static int collect(void *userdata, const ls_line *line)
{
    collected *c = userdata;
    assert_true(c->n < 64);
    c->lines[c->n] = *line;
    c->texts[c->n] = malloc(line->len + 1);
    if (line->len)
        memcpy(c->texts[c->n], line->text, line->len);
    c->n++;
    if (c->stop_after && (int)c->n == c->stop_after)
        return 7;
    return 0;
}

static void collected_free(collected *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->texts[i]);
    c->n = 0;
}

static ls_line make_line(uint64_t seq, int64_t ts, char stream, bool cont, const char *text,
                         uint32_t len)
{
    ls_line l = {
        .seq = seq, .ts_ms = ts, .stream = stream, .continued = cont, .len = len, .text = text};
    return l;
}

/* A varied set of lines: empty text, NUL and high bytes, negative ts deltas,
 * seq gaps, stderr, continued, and extreme values. */
static size_t sample_lines(ls_line *out, char *big, size_t big_len)
{
    static const char binary[] = {'a', '\0', 'b', '\xff', '\n', '\t', '\x80', '\0'};
    size_t n = 0;
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)(i * 131 + 7);
    out[n++] = make_line(1, 1700000000000, 'o', false, "hello", 5);
    out[n++] = make_line(2, 1700000000000, 'e', false, "", 0);
    out[n++] = make_line(3, 1699999999000, 'o', true, binary, sizeof(binary));
    out[n++] = make_line(4, 1700000000005, 'o', false, "tail of continued", 17);
    out[n++] = make_line(10, INT64_MIN, 'e', true, "x", 1);
    out[n++] = make_line(11, INT64_MAX, 'o', false, big, (uint32_t)big_len);
    out[n++] = make_line(UINT64_MAX, 0, 'o', false, "last", 4);
    return n;
}

static void assert_lines_equal(const collected *c, const ls_line *want, size_t n)
{
    assert_int_equal(c->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_true(c->lines[i].seq == want[i].seq);
        assert_true(c->lines[i].ts_ms == want[i].ts_ms);
        assert_int_equal(c->lines[i].stream, want[i].stream);
        assert_int_equal(c->lines[i].continued, want[i].continued);
        assert_int_equal(c->lines[i].len, want[i].len);
        if (want[i].len)
            assert_memory_equal(c->texts[i], want[i].text, want[i].len);
    }
}

static void encode(ls_chunk_writer *w, const ls_line *lines, size_t n)
{
    ls_chunk_writer_init(w);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ls_chunk_writer_add(w, &lines[i]), 0);
}

static void test_raw_round_trip(void **state)
{
    (void)state;
    size_t big_len = 200000;
    char *big = malloc(big_len);
    ls_line lines[16];
    size_t n = sample_lines(lines, big, big_len);
    ls_chunk_writer w;
    encode(&w, lines, n);
    assert_int_equal(w.n_lines, n);
    assert_true(w.first_seq == 1 && w.last_seq == UINT64_MAX);
    assert_int_equal(w.buf.data[0], LS_CHUNK_RAW);

    ls_chunk_decoder *d;
    assert_int_equal(ls_chunk_decoder_new(0, &d), 0);
    collected c = {0};
    ls_chunk_info info;
    assert_int_equal(ls_chunk_decode(d, w.buf.data, w.buf.len, collect, &c, &info), 0);
    assert_lines_equal(&c, lines, n);
    assert_int_equal(info.n_lines, n);
    assert_true(info.first_seq == 1 && info.last_seq == UINT64_MAX);
    assert_int_equal(info.text_bytes, w.text_bytes);
    assert_int_equal(info.raw_bytes, w.buf.len);
    collected_free(&c);
    ls_chunk_decoder_free(d);
    ls_chunk_writer_free(&w);
    free(big);
}

static void test_sealed_round_trip(void **state)
{
    (void)state;
    size_t big_len = 70000;
    char *big = malloc(big_len);
    ls_line lines[16];
    size_t n = sample_lines(lines, big, big_len);
    ls_chunk_writer w;
    encode(&w, lines, n);
    ls_chunk_compressor *comp;
    assert_int_equal(ls_chunk_compressor_new(3, &comp), 0);
    ls_buf sealed = LS_BUF_INIT;
    assert_int_equal(ls_chunk_compress(comp, w.buf.data, w.buf.len, &sealed), 0);
    assert_int_equal((unsigned char)sealed.data[0], LS_CHUNK_ZSTD);

    ls_chunk_decoder *d;
    assert_int_equal(ls_chunk_decoder_new(0, &d), 0);
    collected c = {0};
    ls_chunk_info info;
    assert_int_equal(ls_chunk_decode(d, sealed.data, sealed.len, collect, &c, &info), 0);
    assert_lines_equal(&c, lines, n);
    assert_int_equal(info.raw_bytes, w.buf.len);
    collected_free(&c);

    /* a decoder whose max_raw is below the content refuses it */
    ls_chunk_decoder *small;
    assert_int_equal(ls_chunk_decoder_new(1000, &small), 0);
    assert_int_equal(ls_chunk_decode(small, sealed.data, sealed.len, collect, &c, NULL), -EFBIG);
    assert_int_equal(c.n, 0);

    ls_chunk_decoder_free(small);
    ls_chunk_decoder_free(d);
    ls_buf_free(&sealed);
    ls_chunk_compressor_free(comp);
    ls_chunk_writer_free(&w);
    free(big);
}

static void test_compression_shrinks_logs(void **state)
{
    (void)state;
    ls_chunk_writer w;
    ls_chunk_writer_init(&w);
    char text[128];
    for (uint64_t seq = 1; seq <= 2000; seq++) {
        int len = snprintf(text, sizeof(text), "[%05llu] compiling src/module_%llu.c ... ok",
                           (unsigned long long)seq, (unsigned long long)(seq % 37));
        ls_line l = make_line(seq, 1700000000000 + (int64_t)seq, 'o', false, text, (uint32_t)len);
        assert_int_equal(ls_chunk_writer_add(&w, &l), 0);
    }
    ls_chunk_compressor *comp;
    assert_int_equal(ls_chunk_compressor_new(3, &comp), 0);
    ls_buf sealed = LS_BUF_INIT;
    assert_int_equal(ls_chunk_compress(comp, w.buf.data, w.buf.len, &sealed), 0);
    assert_true(sealed.len * 4 < w.buf.len);
    ls_buf_free(&sealed);
    ls_chunk_compressor_free(comp);
    ls_chunk_writer_free(&w);
}

static void test_empty_blob(void **state)
{
    (void)state;
    ls_chunk_writer w;
    ls_chunk_writer_init(&w);
    assert_int_equal(w.buf.len, LS_CHUNK_HEADER_BYTES);
    ls_chunk_decoder *d;
    assert_int_equal(ls_chunk_decoder_new(0, &d), 0);
    collected c = {0};
    ls_chunk_info info;
    assert_int_equal(ls_chunk_decode(d, w.buf.data, w.buf.len, collect, &c, &info), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(info.n_lines, 0);
    assert_true(info.first_seq == 0 && info.last_seq == 0);
    ls_chunk_decoder_free(d);
    ls_chunk_writer_free(&w);
}

static void test_writer_rejects_bad_lines(void **state)
{
    (void)state;
    ls_chunk_writer w;
    ls_chunk_writer_init(&w);
    ls_line zero = make_line(0, 0, 'o', false, "a", 1);
    assert_int_equal(ls_chunk_writer_add(&w, &zero), -EINVAL);
    ls_line five = make_line(5, 0, 'o', false, "a", 1);
    assert_int_equal(ls_chunk_writer_add(&w, &five), 0);
    size_t len = w.buf.len;
    assert_int_equal(ls_chunk_writer_add(&w, &five), -EINVAL);
    ls_line four = make_line(4, 0, 'o', false, "a", 1);
    assert_int_equal(ls_chunk_writer_add(&w, &four), -EINVAL);
    ls_line heartbeat = make_line(6, 0, 'h', false, "", 0);
    assert_int_equal(ls_chunk_writer_add(&w, &heartbeat), -EINVAL);
    assert_int_equal(w.buf.len, len);
    assert_int_equal(w.n_lines, 1);
    ls_chunk_writer_reset(&w);
    assert_int_equal(w.n_lines, 0);
    assert_int_equal(ls_chunk_writer_add(&w, &four), 0);
    ls_chunk_writer_free(&w);
}

static void test_callback_stop_value(void **state)
{
    (void)state;
    char big[10];
    ls_line lines[16];
    size_t n = sample_lines(lines, big, sizeof(big));
    ls_chunk_writer w;
    encode(&w, lines, n);
    ls_chunk_decoder *d;
    assert_int_equal(ls_chunk_decoder_new(0, &d), 0);
    collected c = {.stop_after = 2};
    assert_int_equal(ls_chunk_decode(d, w.buf.data, w.buf.len, collect, &c, NULL), 7);
    assert_int_equal(c.n, 2);
    collected_free(&c);
    ls_chunk_decoder_free(d);
    ls_chunk_writer_free(&w);
}

/* Decodes blob and expects -EBADMSG with no line delivered. */
static void assert_corrupt(ls_chunk_decoder *d, const void *blob, size_t len)
{
    collected c = {0};
    assert_int_equal(ls_chunk_decode(d, blob, len, collect, &c, NULL), -EBADMSG);
    assert_int_equal(c.n, 0);
}

static void test_corrupt_raw(void **state)
{
    (void)state;
    char big[300];
    ls_line lines[16];
    size_t n = sample_lines(lines, big, sizeof(big));
    ls_chunk_writer w;
    encode(&w, lines, n);
    ls_chunk_decoder *d;
    assert_int_equal(ls_chunk_decoder_new(0, &d), 0);
    unsigned char *copy = malloc(w.buf.len + 1);

    /* every truncation */
    for (size_t len = 0; len < w.buf.len; len++)
        assert_corrupt(d, w.buf.data, len);
    /* a trailing byte */
    memcpy(copy, w.buf.data, w.buf.len);
    copy[w.buf.len] = 0;
    assert_corrupt(d, copy, w.buf.len + 1);
    /* a line count that disagrees with the lines */
    copy[1] = (unsigned char)(n + 1);
    assert_corrupt(d, copy, w.buf.len);
    copy[1] = (unsigned char)(n - 1);
    assert_corrupt(d, copy, w.buf.len);
    /* an unknown format byte */
    memcpy(copy, w.buf.data, w.buf.len);
    copy[0] = 0x7f;
    assert_corrupt(d, copy, w.buf.len);

    /* hand-made lines: header for one line, then the line */
    static const unsigned char zero_delta[] = {1, 1, 0, 0, 0, 0x00, 0x00, 0x00, 0x00};
    assert_corrupt(d, zero_delta, sizeof(zero_delta));
    static const unsigned char bad_flags[] = {1, 1, 0, 0, 0, 0x01, 0x00, 0x04, 0x00};
    assert_corrupt(d, bad_flags, sizeof(bad_flags));
    static const unsigned char overlong[] = {1, 1, 0, 0, 0, 0x81, 0x00, 0x00, 0x00, 0x00};
    assert_corrupt(d, overlong, sizeof(overlong));
    static const unsigned char too_long_len[] = {1, 1, 0, 0, 0, 0x01, 0x00, 0x00, 0x05, 'a'};
    assert_corrupt(d, too_long_len, sizeof(too_long_len));
    static const unsigned char varint_65_bits[] = {1,    1,    0,    0,    0,    0xff,
                                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                                   0xff, 0xff, 0x02, 0x00, 0x00, 0x00};
    assert_corrupt(d, varint_65_bits, sizeof(varint_65_bits));
    static const unsigned char good[] = {1, 1, 0, 0, 0, 0x01, 0x00, 0x03, 0x01, 'a'};
    collected c = {0};
    assert_int_equal(ls_chunk_decode(d, good, sizeof(good), collect, &c, NULL), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.lines[0].stream, 'e');
    assert_true(c.lines[0].continued);
    collected_free(&c);

    free(copy);
    ls_chunk_decoder_free(d);
    ls_chunk_writer_free(&w);
}

static void test_corrupt_sealed(void **state)
{
    (void)state;
    char big[3000];
    ls_line lines[16];
    size_t n = sample_lines(lines, big, sizeof(big));
    ls_chunk_writer w;
    encode(&w, lines, n);
    ls_chunk_compressor *comp;
    assert_int_equal(ls_chunk_compressor_new(1, &comp), 0);
    ls_buf sealed = LS_BUF_INIT;
    assert_int_equal(ls_chunk_compress(comp, w.buf.data, w.buf.len, &sealed), 0);
    ls_chunk_decoder *d;
    assert_int_equal(ls_chunk_decoder_new(0, &d), 0);

    for (size_t len = 0; len < sealed.len; len++)
        assert_corrupt(d, sealed.data, len);
    /* a flipped bit anywhere after the format byte is caught (checksum,
     * structure), or is harmless (zstd ignores its frame header's unused bit) */
    unsigned char *copy = malloc(sealed.len);
    for (size_t i = 1; i < sealed.len; i++) {
        memcpy(copy, sealed.data, sealed.len);
        copy[i] ^= 0x10;
        collected c = {0};
        int r = ls_chunk_decode(d, copy, sealed.len, collect, &c, NULL);
        if (r == 0)
            assert_lines_equal(&c, lines, n);
        else
            assert_true(r == -EBADMSG || r == -EFBIG);
        if (r != 0)
            assert_int_equal(c.n, 0);
        collected_free(&c);
    }
    /* a sealed blob whose content is not a raw blob (a sealed one inside) */
    static const char nested[] = {LS_CHUNK_ZSTD, 0, 0, 0, 0};
    unsigned char frame[128];
    frame[0] = LS_CHUNK_ZSTD;
    size_t flen = ZSTD_compress(frame + 1, sizeof(frame) - 1, nested, sizeof(nested), 1);
    assert_false(ZSTD_isError(flen));
    assert_corrupt(d, frame, flen + 1);
    /* and the compressor refuses to seal what is not a raw blob */
    ls_buf bad = LS_BUF_INIT;
    assert_int_equal(ls_chunk_compress(comp, nested, sizeof(nested), &bad), -EINVAL);
    ls_buf_free(&bad);
    free(copy);
    ls_chunk_decoder_free(d);
    ls_buf_free(&sealed);
    ls_chunk_compressor_free(comp);
    ls_chunk_writer_free(&w);
}

/* Random mutations of a valid raw blob never crash and, when accepted, decode
 * to lines that re-encode to exactly the same bytes (the encoding is canonical). */
static void test_random_mutations(void **state)
{
    (void)state;
    char big[100];
    ls_line lines[16];
    size_t n = sample_lines(lines, big, sizeof(big));
    ls_chunk_writer w;
    encode(&w, lines, n);
    ls_chunk_decoder *d;
    assert_int_equal(ls_chunk_decoder_new(0, &d), 0);
    unsigned char *copy = malloc(w.buf.len);
    unsigned seed = 12345;
    size_t accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(copy, w.buf.data, w.buf.len);
        int flips = 1 + rand_r(&seed) % 3;
        for (int f = 0; f < flips; f++)
            copy[(size_t)rand_r(&seed) % w.buf.len] = (unsigned char)rand_r(&seed);
        collected c = {0};
        int r = ls_chunk_decode(d, copy, w.buf.len, collect, &c, NULL);
        assert_true(r == 0 || r == -EBADMSG);
        if (r == 0) {
            accepted++;
            ls_chunk_writer again;
            ls_chunk_writer_init(&again);
            for (size_t i = 0; i < c.n; i++) {
                ls_line l = c.lines[i];
                l.text = c.texts[i];
                assert_int_equal(ls_chunk_writer_add(&again, &l), 0);
            }
            assert_int_equal(again.buf.len, w.buf.len);
            assert_memory_equal(again.buf.data, copy, w.buf.len);
            ls_chunk_writer_free(&again);
        }
        collected_free(&c);
    }
    assert_true(accepted > 0); /* flips inside text bytes stay valid */
    free(copy);
    ls_chunk_decoder_free(d);
    ls_chunk_writer_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_round_trip),
        cmocka_unit_test(test_sealed_round_trip),
        cmocka_unit_test(test_compression_shrinks_logs),
        cmocka_unit_test(test_empty_blob),
        cmocka_unit_test(test_writer_rejects_bad_lines),
        cmocka_unit_test(test_callback_stop_value),
        cmocka_unit_test(test_corrupt_raw),
        cmocka_unit_test(test_corrupt_sealed),
        cmocka_unit_test(test_random_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
