/* test-results: a run being collected, its JSON, and text helpers (tr.h). */
#include "plugins/test_results/tr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

void tr_run_clear(tr_run *r)
{
    for (size_t i = 0; i < r->n_failures; i++) {
        free(r->failures[i]->name);
        ls_buf_free(&r->failures[i]->message);
        free(r->failures[i]);
    }
    free(r->failures);
    size_t max = r->max_failures;
    memset(r, 0, sizeof(*r));
    r->duration_ms = -1;
    r->max_failures = max;
}

void tr_run_reset(tr_run *r, const char *framework)
{
    tr_run_clear(r);
    snprintf(r->framework, sizeof(r->framework), "%s", framework);
}

tr_failure *tr_run_add_failure(tr_run *r, const char *name, size_t len)
{
    size_t max = r->max_failures ? r->max_failures : TR_DEFAULT_MAX_FAILURES;
    if (r->n_failures >= max)
        return NULL;
    if (r->n_failures == r->cap_failures) {
        size_t cap = r->cap_failures ? 2 * r->cap_failures : 8;
        r->cap_failures = cap < max ? cap : max;
        r->failures = ls_xreallocarray(r->failures, r->cap_failures, sizeof(*r->failures));
    }
    tr_failure *f = ls_xcalloc(1, sizeof(*f));
    r->failures[r->n_failures++] = f;
    tr_failure_rename(f, name, len);
    return f;
}

void tr_run_drop_last_failure(tr_run *r)
{
    if (!r->n_failures)
        return;
    tr_failure *f = r->failures[--r->n_failures];
    free(f->name);
    ls_buf_free(&f->message);
    free(f);
}

tr_failure *tr_run_find_failure(tr_run *r, const char *name, size_t len)
{
    if (len > TR_MAX_NAME)
        len = TR_MAX_NAME;
    for (size_t i = r->n_failures; i-- > 0;) {
        const char *n = r->failures[i]->name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return r->failures[i];
    }
    return NULL;
}

void tr_failure_rename(tr_failure *f, const char *name, size_t len)
{
    name = tr_trim(name, &len);
    if (len > TR_MAX_NAME)
        len = TR_MAX_NAME;
    free(f->name);
    f->name = ls_xmemdup0(name, len);
}

void tr_failure_add_line(tr_failure *f, const char *line, size_t len)
{
    if (!f || f->message_full)
        return;
    if (f->message_lines == 0 && len == 0)
        return; /* no leading empty lines */
    size_t need = len + (f->message_lines ? 1 : 0);
    if (f->message_lines >= TR_MAX_MESSAGE_LINES || f->message.len + need > TR_MAX_MESSAGE) {
        f->message_full = true;
        return;
    }
    if (f->message_lines)
        ls_buf_putc(&f->message, '\n');
    ls_buf_append(&f->message, line, len);
    f->message_lines++;
}

void tr_failure_trim(tr_failure *f)
{
    if (!f)
        return;
    while (f->message.len && (f->message.data[f->message.len - 1] == '\n' ||
                              f->message.data[f->message.len - 1] == ' ')) {
        f->message.data[--f->message.len] = '\0';
    }
}

void tr_emit(const tr_sink *sink, tr_run *r)
{
    if (r->passed + r->failed + r->skipped > 0 || r->n_failures > 0) {
        for (size_t i = 0; i < r->n_failures; i++)
            tr_failure_trim(r->failures[i]);
        sink->emit(sink->ud, r);
    }
    tr_run_clear(r);
}

/* ---- JSON ---- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    unsigned cp = c & (0xFF >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static void json_str(ls_buf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    ls_buf_putc(out, '"');
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c == '"' || c == '\\') {
            ls_buf_putc(out, '\\');
            ls_buf_putc(out, (char)c);
            i++;
        } else if (c == '\n') {
            ls_buf_puts(out, "\\n");
            i++;
        } else if (c == '\t') {
            ls_buf_puts(out, "\\t");
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            ls_buf_printf(out, "\\u%04x", c);
            i++;
        } else {
            size_t k = utf8_seq(p + i, n - i);
            if (k == 0) {
                ls_buf_puts(out, "\xEF\xBF\xBD"); /* U+FFFD */
                i++;
            } else {
                ls_buf_append(out, p + i, k);
                i += k;
            }
        }
    }
    ls_buf_putc(out, '"');
}

void tr_run_json(const tr_run *r, int step, ls_buf *out)
{
    ls_buf_printf(out, "{\"step\":%d,\"framework\":", step);
    json_str(out, r->framework, strlen(r->framework));
    ls_buf_printf(out, ",\"passed\":%llu,\"failed\":%llu,\"skipped\":%llu,\"total\":%llu",
                  (unsigned long long)r->passed, (unsigned long long)r->failed,
                  (unsigned long long)r->skipped,
                  (unsigned long long)(r->passed + r->failed + r->skipped));
    if (r->duration_ms >= 0)
        ls_buf_printf(out, ",\"duration_ms\":%lld", (long long)r->duration_ms);
    else
        ls_buf_puts(out, ",\"duration_ms\":null");
    ls_buf_printf(out, ",\"partial\":%s,\"failures\":[", r->partial ? "true" : "false");
    for (size_t i = 0; i < r->n_failures; i++) {
        const tr_failure *f = r->failures[i];
        ls_buf_puts(out, i ? ",{\"name\":" : "{\"name\":");
        json_str(out, f->name, strlen(f->name));
        ls_buf_puts(out, ",\"message\":");
        json_str(out, f->message.data ? f->message.data : "", f->message.len);
        ls_buf_putc(out, '}');
    }
    ls_buf_puts(out, "]}");
}

/* ---- text helpers ---- */

size_t tr_indent(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

void tr_skip_spaces(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
}

bool tr_read_u64(const char **p, const char *end, uint64_t *ret)
{
    const char *s = *p;
    uint64_t v = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
        s++;
    }
    if (s == *p)
        return false;
    *p = s;
    *ret = v;
    return true;
}

bool tr_read_milli(const char **p, const char *end, int64_t *ret)
{
    uint64_t whole;
    const char *s = *p;
    if (!tr_read_u64(&s, end, &whole))
        return false;
    if (whole >= (uint64_t)INT64_MAX / 1000) /* room for the fraction's 999 ms */
        whole = (uint64_t)INT64_MAX / 1000 - 1;
    int64_t v = (int64_t)whole * 1000;
    if (s + 1 < end && *s == '.' && s[1] >= '0' && s[1] <= '9') {
        s++;
        int64_t scale = 100;
        while (s < end && *s >= '0' && *s <= '9') {
            v += scale * (*s - '0');
            scale /= 10;
            s++;
        }
    }
    *p = s;
    *ret = v;
    return true;
}

int tr_count_pairs(const char *s, size_t len, const char *sep,
                   void (*fn)(void *ud, uint64_t n, const char *word, size_t wlen), void *ud)
{
    const char *p = s, *end = s + len;
    size_t seplen = strlen(sep);
    int n = 0;
    while (p < end) {
        uint64_t v;
        tr_skip_spaces(&p, end);
        if (!tr_read_u64(&p, end, &v) || p >= end || *p != ' ')
            return -1;
        p++;
        const char *w = p;
        while (p < end && (size_t)(end - p) >= seplen && memcmp(p, sep, seplen) != 0)
            p++;
        if ((size_t)(end - p) < seplen)
            p = end;
        size_t wlen = (size_t)(p - w);
        w = tr_trim(w, &wlen);
        if (wlen == 0)
            return -1;
        fn(ud, v, w, wlen);
        n++;
        if (p < end)
            p += seplen;
    }
    return n;
}

const char *tr_trim(const char *s, size_t *len)
{
    size_t n = *len;
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    *len = n;
    return s;
}
