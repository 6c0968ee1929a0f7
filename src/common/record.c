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

int ls_record_parse(const char *rec, size_t len, size_t max_text, ls_line *ret_line,
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

/* Writes v in decimal at p; returns the number of bytes written (<= 20). */
static size_t put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
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

void ls_record_format(ls_buf *out, const ls_line *line)
{
    /* 20 + tab + 20 + tab + 2 + tab + text + newline */
    char *p = ls_buf_reserve(out, 48 + (size_t)line->len);
    char *start = p;
    p += put_u64(p, line->seq);
    *p++ = '\t';
    p += put_i64(p, line->ts_ms);
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
