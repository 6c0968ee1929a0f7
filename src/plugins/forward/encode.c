#include "plugins/forward/encode.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "plugins/forward/json_text.h"

/* Decimal digits of v at the end of buf (which holds 20 bytes); returns the
 * first. printf costs more than the rest of a line's encoding. */
static char *u64_digits(uint64_t v, char buf[20])
{
    char *p = buf + 20;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

static void put_u64(ls_buf *out, uint64_t v)
{
    char buf[20];
    char *p = u64_digits(v, buf);
    ls_buf_append(out, p, (size_t)(buf + 20 - p));
}

static void put_i64(ls_buf *out, int64_t v)
{
    if (v < 0) {
        ls_buf_putc(out, '-');
        put_u64(out, (uint64_t)0 - (uint64_t)v);
    } else {
        put_u64(out, (uint64_t)v);
    }
}

void ls_fw_format_time(int64_t ts_ns, int digits, char *out, size_t size)
{
    /* one gmtime_r per second: lines come many per second */
    static _Thread_local time_t cached_secs = -1;
    static _Thread_local char cached[96]; /* room for any int fields (gcc checks) */
    static _Thread_local size_t cached_len;
    time_t secs = (time_t)(ts_ns / 1000000000);
    long frac = (long)(ts_ns % 1000000000);
    if (frac < 0) {
        frac += 1000000000;
        secs--;
    }
    if (secs != cached_secs) {
        struct tm tm;
        gmtime_r(&secs, &tm);
        int n = snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached_len = n > 0 ? (size_t)n : 0;
        cached_secs = secs;
    }
    if (digits < 1)
        digits = 1;
    if (digits > 9)
        digits = 9;
    for (int i = digits; i < 9; i++)
        frac /= 10;
    /* "<cached>.<digits>Z" */
    if (size < cached_len + (size_t)digits + 3) {
        if (size)
            out[0] = '\0';
        return;
    }
    memcpy(out, cached, cached_len);
    char *p = out + cached_len;
    *p++ = '.';
    for (int i = digits - 1; i >= 0; i--) {
        p[i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    p += digits;
    *p++ = 'Z';
    *p = '\0';
}

static void put_str(ls_buf *out, const char *s)
{
    ls_json_put_string(out, s, strlen(s));
}

static void put_labels(const ls_fw_labels *l, size_t step, ls_buf *out)
{
    ls_buf_puts(out, "\"build\":");
    put_str(out, l->build);
    ls_buf_puts(out, ",\"step\":");
    put_str(out, l->step_ids[step]);
    ls_buf_puts(out, ",\"step_name\":");
    put_str(out, l->step_names[step]);
}

void ls_fw_encode_loki(const ls_fw_labels *l, const ls_fw_record *r, size_t n, ls_buf *out)
{
    ls_buf_puts(out, "{\"streams\":[");
    for (size_t i = 0; i < n;) {
        size_t step = r[i].step;
        if (i)
            ls_buf_putc(out, ',');
        ls_buf_puts(out, "{\"stream\":{\"job\":\"logstream\",");
        put_labels(l, step, out);
        for (size_t k = 0; k < l->n_extra; k++) {
            ls_buf_putc(out, ',');
            put_str(out, l->extra_keys[k]);
            ls_buf_putc(out, ':');
            put_str(out, l->extra_values[k]);
        }
        ls_buf_puts(out, "},\"values\":[");
        size_t j = i;
        for (; j < n && r[j].step == step; j++) {
            ls_buf_puts(out, j == i ? "[\"" : ",[\"");
            put_i64(out, r[j].ts_ns);
            ls_buf_puts(out, "\",");
            ls_json_put_string(out, r[j].text, r[j].len);
            ls_buf_putc(out, ']');
        }
        i = j;
        ls_buf_puts(out, "]}");
    }
    ls_buf_puts(out, "]}");
}

void ls_fw_ndjson_labels(const ls_fw_labels *l, size_t step, ls_buf *out)
{
    put_labels(l, step, out);
}

void ls_fw_ndjson_extra(const ls_fw_labels *l, ls_buf *out)
{
    if (!l->n_extra)
        return;
    ls_buf_puts(out, ",\"labels\":{");
    for (size_t k = 0; k < l->n_extra; k++) {
        if (k)
            ls_buf_putc(out, ',');
        put_str(out, l->extra_keys[k]);
        ls_buf_putc(out, ':');
        put_str(out, l->extra_values[k]);
    }
    ls_buf_putc(out, '}');
}

void ls_fw_encode_ndjson_record(const char *labels, size_t labels_len, const char *extra,
                                size_t extra_len, const ls_fw_record *r, ls_buf *out)
{
    char ts[64];
    ls_fw_format_time(r->ts_ns, 9, ts, sizeof(ts));
    /* room for everything but the escaped line, which reserves its own */
    ls_buf_reserve(out, 64 + sizeof(ts) + labels_len + extra_len + r->len);
    ls_buf_puts(out, "{\"ts\":\"");
    ls_buf_puts(out, ts);
    ls_buf_puts(out, "\",\"ts_ns\":");
    put_i64(out, r->ts_ns);
    ls_buf_putc(out, ',');
    ls_buf_append(out, labels, labels_len);
    ls_buf_puts(out, ",\"seq\":");
    put_u64(out, r->seq);
    ls_buf_puts(out, ",\"line\":");
    ls_json_put_string(out, r->text, r->len);
    if (extra_len)
        ls_buf_append(out, extra, extra_len);
    ls_buf_puts(out, "}\n");
}

void ls_fw_encode_ndjson(const ls_fw_labels *l, const ls_fw_record *r, size_t n, ls_buf *out)
{
    /* the labels of a step, and the extra ones, are the same on every line:
     * rendered once per run of lines of one step */
    ls_buf labels = LS_BUF_INIT, extra = LS_BUF_INIT;
    size_t labels_step = SIZE_MAX;
    ls_fw_ndjson_extra(l, &extra);
    for (size_t i = 0; i < n; i++) {
        if (r[i].step != labels_step) {
            ls_buf_reset(&labels);
            put_labels(l, r[i].step, &labels);
            labels_step = r[i].step;
        }
        ls_fw_encode_ndjson_record(labels.data, labels.len, extra.data, extra.len, &r[i], out);
    }
    ls_buf_free(&labels);
    ls_buf_free(&extra);
}

/* An SD-PARAM value: '"', '\' and ']' escaped with '\' (RFC 5424 6.3.3). */
static void put_sd_value(ls_buf *out, const char *s)
{
    ls_buf_putc(out, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\' || *s == ']')
            ls_buf_putc(out, '\\');
        ls_buf_putc(out, *s);
    }
    ls_buf_putc(out, '"');
}

/* An SD-NAME: printable ASCII but '=', ' ', ']', '"', at most 32 characters. */
static void put_sd_name(ls_buf *out, const char *s)
{
    size_t k = 0;
    for (; *s && k < 32; s++) {
        unsigned char c = (unsigned char)*s;
        if (c > 32 && c < 127 && c != '=' && c != ']' && c != '"') {
            ls_buf_putc(out, (char)c);
            k++;
        }
    }
    if (k == 0)
        ls_buf_putc(out, '_');
}

size_t ls_fw_encode_syslog(const ls_fw_labels *l, const ls_fw_syslog_opts *o, const ls_fw_record *r,
                           size_t n, ls_buf *out, size_t *ret_ends)
{
    char ts[64];
    size_t cut = 0;
    ls_buf msg = LS_BUF_INIT;
    int pri = (o->facility >= 0 && o->facility <= 23 ? o->facility : 1) * 8 + 6;
    for (size_t i = 0; i < n; i++) {
        ls_buf_reset(&msg);
        ls_fw_format_time(r[i].ts_ns, 6, ts, sizeof(ts));
        ls_buf_printf(&msg, "<%d>1 %s %s %s - - [logstream@32473 build=", pri, ts,
                      o->hostname && *o->hostname ? o->hostname : "-",
                      o->app_name && *o->app_name ? o->app_name : "logstream");
        put_sd_value(&msg, l->build);
        ls_buf_puts(&msg, " step=");
        put_sd_value(&msg, l->step_ids[r[i].step]);
        ls_buf_puts(&msg, " step_name=");
        put_sd_value(&msg, l->step_names[r[i].step]);
        ls_buf_puts(&msg, " seq=\"");
        put_u64(&msg, r[i].seq);
        ls_buf_putc(&msg, '"');
        for (size_t k = 0; k < l->n_extra; k++) {
            ls_buf_putc(&msg, ' ');
            put_sd_name(&msg, l->extra_keys[k]);
            ls_buf_putc(&msg, '=');
            put_sd_value(&msg, l->extra_values[k]);
        }
        ls_buf_puts(&msg, "] ");
        ls_buf_append(&msg, r[i].text, r[i].len);
        size_t len = msg.len;
        if (o->max_message && len > o->max_message) {
            len = ls_plugin_utf8_cut(msg.data, msg.len, o->max_message);
            cut++;
        }
        if (o->octet_counting)
            ls_buf_printf(out, "%zu ", len);
        ls_buf_append(out, msg.data, len);
        if (ret_ends)
            ret_ends[i] = out->len;
    }
    ls_buf_free(&msg);
    return cut;
}
