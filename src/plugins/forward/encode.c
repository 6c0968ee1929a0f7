#include "plugins/forward/encode.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "plugins/forward/json_text.h"

void ls_fw_format_time(int64_t ts_ns, int digits, char *out, size_t size)
{
    /* one gmtime_r per second: lines come many per second */
    static _Thread_local time_t cached_secs = -1;
    static _Thread_local char cached[96]; /* room for any int fields (gcc checks) */
    time_t secs = (time_t)(ts_ns / 1000000000);
    long frac = (long)(ts_ns % 1000000000);
    if (frac < 0) {
        frac += 1000000000;
        secs--;
    }
    if (secs != cached_secs) {
        struct tm tm;
        gmtime_r(&secs, &tm);
        snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached_secs = secs;
    }
    if (digits < 1)
        digits = 1;
    if (digits > 9)
        digits = 9;
    for (int i = digits; i < 9; i++)
        frac /= 10;
    snprintf(out, size, "%s.%0*ldZ", cached, digits, frac);
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
            ls_buf_printf(out, "%s[\"%" PRId64 "\",", j == i ? "" : ",", r[j].ts_ns);
            ls_json_put_string(out, r[j].text, r[j].len);
            ls_buf_putc(out, ']');
        }
        i = j;
        ls_buf_puts(out, "]}");
    }
    ls_buf_puts(out, "]}");
}

void ls_fw_encode_ndjson(const ls_fw_labels *l, const ls_fw_record *r, size_t n, ls_buf *out)
{
    char ts[64];
    for (size_t i = 0; i < n; i++) {
        ls_fw_format_time(r[i].ts_ns, 9, ts, sizeof(ts));
        ls_buf_printf(out, "{\"ts\":\"%s\",\"ts_ns\":%" PRId64 ",", ts, r[i].ts_ns);
        put_labels(l, r[i].step, out);
        ls_buf_printf(out, ",\"seq\":%" PRIu64 ",\"line\":", r[i].seq);
        ls_json_put_string(out, r[i].text, r[i].len);
        if (l->n_extra) {
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
        ls_buf_puts(out, "}\n");
    }
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
        ls_buf_printf(&msg, " seq=\"%" PRIu64 "\"", r[i].seq);
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
