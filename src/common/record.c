#include "common/record.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Parses len bytes of decimal digits into a value <= INT64_MAX. Returns 0,
 * -EINVAL for empty input or a non-digit, -ERANGE on overflow. */
static int parse_decimal(const char *p, size_t len, uint64_t *ret)
{
    if (len == 0)
        return -EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9)
            return -EINVAL;
        if (v > ((uint64_t)INT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *ret = v;
    return 0;
}

static const char *decimal_error(int r, size_t len, const char *empty, const char *not_digits,
                                 const char *too_big)
{
    if (r == -ERANGE)
        return too_big;
    return len == 0 ? empty : not_digits;
}

/* Splits the record at its first three tabs; the text is everything after the
 * third (and may contain more tabs). */
static const char *split_fields(const char *rec, size_t len, const char *field[4], size_t flen[4])
{
    static const char *missing[3] = {
        "record has no tab after the seq (expected SEQ<TAB>TS_MS<TAB>STREAM<TAB>TEXT)",
        "record has no tab after the timestamp (expected SEQ<TAB>TS_MS<TAB>STREAM<TAB>TEXT)",
        "record has no tab after the stream (expected SEQ<TAB>TS_MS<TAB>STREAM<TAB>TEXT)",
    };
    const char *p = rec, *end = rec + len;
    for (int i = 0; i < 3; i++) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        if (!tab)
            return missing[i];
        field[i] = p;
        flen[i] = (size_t)(tab - p);
        p = tab + 1;
    }
    field[3] = p;
    flen[3] = (size_t)(end - p);
    return NULL;
}

/* Checks the stream field; fills stream and continued. */
static const char *parse_stream(const char *s, size_t len, char *stream, bool *continued)
{
    static const char *unknown = "unknown stream (expected o, e, o+, e+ or h)";
    if (len == 0 || len > 2)
        return unknown;
    if (s[0] != LS_STREAM_STDOUT && s[0] != LS_STREAM_STDERR && s[0] != LS_STREAM_HEARTBEAT)
        return unknown;
    if (len == 2 && (s[1] != '+' || s[0] == LS_STREAM_HEARTBEAT))
        return unknown;
    *stream = s[0];
    *continued = len == 2;
    return NULL;
}

static const char *check_seq(char stream, uint64_t seq, size_t text_len)
{
    if (stream == LS_STREAM_HEARTBEAT) {
        if (seq != 0)
            return "heartbeat must have seq 0";
        if (text_len != 0)
            return "heartbeat must have no text";
        return NULL;
    }
    if (seq == 0)
        return "seq must be 1 or more (seq 0 is only for heartbeats)";
    return NULL;
}

/* Reads 1 to 18 digits followed by a tab at *p (18 digits cannot overflow
 * INT64_MAX) and moves *p past the tab; false for anything else. */
static bool fast_field(const char **p, const char *end, uint64_t *ret)
{
    const char *q = *p;
    uint64_t v = 0;
    size_t n = 0;
    for (; q < end && n <= 18; q++, n++) {
        unsigned d = (unsigned char)*q - '0';
        if (d > 9)
            break;
        v = v * 10 + d;
    }
    if (n == 0 || n > 18 || q == end || *q != '\t')
        return false;
    *ret = v;
    *p = q + 1;
    return true;
}

/* The common record ("SEQ\tTS\tS\tTEXT" or with "S+", seq >= 1, text within
 * max_text) in one pass without memchr calls; false for anything else, which
 * the full parser then checks field by field and explains. */
static bool parse_fast(const char *rec, size_t len, size_t max_text, ls_line *line)
{
    const char *p = rec, *end = rec + len;
    uint64_t seq, ts;
    if (!fast_field(&p, end, &seq) || !fast_field(&p, end, &ts) || seq == 0)
        return false;
    if (end - p < 2 || (p[0] != LS_STREAM_STDOUT && p[0] != LS_STREAM_STDERR))
        return false;
    bool continued = p[1] == '+';
    const char *text = p + 1 + continued;
    if (text >= end || *text != '\t')
        return false;
    text++;
    size_t text_len = (size_t)(end - text);
    if (text_len > max_text || text_len > UINT32_MAX)
        return false;
    *line = (ls_line){.seq = seq,
                      .ts_ms = (int64_t)ts,
                      .stream = p[0],
                      .continued = continued,
                      .len = (uint32_t)text_len,
                      .text = text};
    return true;
}

int ls_record_parse_fields(const char *rec, size_t len, size_t max_text, ls_line *ret_line,
                           const char **ret_error)
{
    const char *field[4];
    size_t flen[4];
    uint64_t seq = 0, ts = 0;
    ls_line line = {0};
    const char *error = split_fields(rec, len, field, flen);
    int r = -EINVAL;
    if (error)
        goto out;
    int pr = parse_decimal(field[0], flen[0], &seq);
    if (pr < 0) {
        error = decimal_error(pr, flen[0], "seq is empty", "seq is not a decimal number",
                              "seq is too large (over 2^63-1)");
        goto out;
    }
    pr = parse_decimal(field[1], flen[1], &ts);
    if (pr < 0) {
        error = decimal_error(pr, flen[1], "timestamp is empty",
                              "timestamp is not a decimal number of milliseconds",
                              "timestamp is too large (over 2^63-1)");
        goto out;
    }
    error = parse_stream(field[2], flen[2], &line.stream, &line.continued);
    if (!error)
        error = check_seq(line.stream, seq, flen[3]);
    if (error)
        goto out;
    if (flen[3] > max_text || flen[3] > UINT32_MAX) {
        error = "text is longer than the line limit";
        r = -E2BIG;
        goto out;
    }
    line.seq = seq;
    line.ts_ms = (int64_t)ts;
    line.len = (uint32_t)flen[3];
    line.text = field[3];
    *ret_line = line;
    r = 0;
out:
    if (r < 0 && ret_error)
        *ret_error = error;
    return r;
}

int ls_record_parse(const char *rec, size_t len, size_t max_text, ls_line *ret_line,
                    const char **ret_error)
{
    if (parse_fast(rec, len, max_text, ret_line))
        return 0;
    return ls_record_parse_fields(rec, len, max_text, ret_line, ret_error);
}

/* "00" "01" ... "99": two digits per division, the worker formats a record per
 * line it reads (with a 13-digit timestamp), so this is on its hot path. */
static const char digit_pairs[201] = "0001020304050607080910111213141516171819"
                                     "2021222324252627282930313233343536373839"
                                     "4041424344454647484950515253545556575859"
                                     "6061626364656667686970717273747576777879"
                                     "8081828384858687888990919293949596979899";

/* Number of decimal digits of v (1 for 0). */
static size_t decimal_len(uint64_t v)
{
    size_t n = 1;
    for (;;) {
        if (v < 10)
            return n;
        if (v < 100)
            return n + 1;
        if (v < 1000)
            return n + 2;
        if (v < 10000)
            return n + 3;
        v /= 10000;
        n += 4;
    }
}

/* Writes v in decimal at p; returns the number of bytes written (<= 20). */
static size_t put_u64(char *p, uint64_t v)
{
    size_t n = decimal_len(v);
    char *q = p + n;
    while (v >= 100) {
        size_t i = (size_t)(v % 100) * 2;
        v /= 100;
        q -= 2;
        memcpy(q, digit_pairs + i, 2);
    }
    if (v >= 10) {
        q -= 2;
        memcpy(q, digit_pairs + v * 2, 2);
    } else {
        *--q = (char)('0' + v);
    }
    return n;
}

/* Writes a signed value; negative timestamps never come from the parser but
 * are formatted faithfully rather than wrapped. */
static size_t put_i64(char *p, int64_t v)
{
    if (v >= 0)
        return put_u64(p, (uint64_t)v);
    p[0] = '-';
    return 1 + put_u64(p + 1, (uint64_t)0 - (uint64_t)v);
}

/* The numbers of the last record formatted on this thread, as text. A
 * worker's records come in runs: seq is the previous one + 1 (its text is
 * incremented in place) and every line of one read shares a timestamp, so
 * most records need no conversion at all. A pure cache: any other value is
 * converted and replaces it. */
typedef struct number_cache {
    uint64_t seq;
    int64_t ts;
    uint8_t seq_len, ts_len; /* 0 = empty */
    char seq_text[24], ts_text[24];
} number_cache;

static _Thread_local number_cache cache;

/* Writes seq at p (room for 24 bytes); returns its length. */
static size_t put_seq(char *p, uint64_t seq)
{
    number_cache *c = &cache;
    if (c->seq_len && seq == c->seq + 1 && seq != 0) {
        size_t i = c->seq_len;
        while (i > 0 && c->seq_text[i - 1] == '9')
            c->seq_text[--i] = '0';
        if (i > 0) {
            c->seq_text[i - 1]++;
        } else { /* 99...9 + 1: one more digit */
            c->seq_text[0] = '1';
            c->seq_text[c->seq_len++] = '0';
        }
    } else {
        c->seq_len = (uint8_t)put_u64(c->seq_text, seq);
    }
    c->seq = seq;
    memcpy(p, c->seq_text, sizeof(c->seq_text)); /* fixed size: no call */
    return c->seq_len;
}

/* Writes ts at p (room for 24 bytes); returns its length. */
static size_t put_ts(char *p, int64_t ts)
{
    number_cache *c = &cache;
    if (!c->ts_len || ts != c->ts) {
        c->ts_len = (uint8_t)put_i64(c->ts_text, ts);
        c->ts = ts;
    }
    memcpy(p, c->ts_text, sizeof(c->ts_text));
    return c->ts_len;
}

void ls_record_format(ls_buf *out, const ls_line *line)
{
    /* seq and ts are written 24 bytes at a time (at most 20 + 21 used), then
     * tab + tab + 2 + tab + text + newline */
    char *p = ls_buf_reserve(out, 72 + (size_t)line->len);
    char *start = p;
    p += put_seq(p, line->seq);
    *p++ = '\t';
    p += put_ts(p, line->ts_ms);
    *p++ = '\t';
    *p++ = line->stream;
    if (line->continued)
        *p++ = '+';
    *p++ = '\t';
    if (line->len)
        memcpy(p, line->text, line->len);
    p += line->len;
    *p++ = '\n';
    out->len += (size_t)(p - start);
    out->data[out->len] = '\0';
}

void ls_record_format_heartbeat(ls_buf *out, long long ts_ms)
{
    ls_line hb = {.seq = 0, .ts_ms = ts_ms, .stream = LS_STREAM_HEARTBEAT};
    ls_record_format(out, &hb);
}
