#include "cli/sse_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"

struct ls_sse_parser {
    size_t max_line;
    size_t max_event;
    ls_sse_event_fn on_event;
    ls_sse_comment_fn on_comment;
    void *ctx;

    ls_buf line;    /* the line being read, without its terminator */
    ls_buf data;    /* data buffer of the event being read; each line ends in '\n' */
    ls_buf type;    /* event type buffer */
    ls_buf id_next; /* last event id buffer (committed at the blank line) */
    ls_buf id;      /* last event id string */
    int64_t retry_ms;
    bool skip_lf;    /* the previous byte was a CR: a following LF ends nothing */
    bool first_line; /* no line finished yet: strip a UTF-8 BOM */
    bool failed;     /* a limit was exceeded */
};

ls_sse_parser *ls_sse_parser_new(size_t max_line, size_t max_event, ls_sse_event_fn on_event,
                                 ls_sse_comment_fn on_comment, void *ctx)
{
    ls_sse_parser *p = ls_xcalloc(1, sizeof(*p));
    p->max_line = max_line ? max_line : 1;
    p->max_event = max_event ? max_event : 1;
    p->on_event = on_event;
    p->on_comment = on_comment;
    p->ctx = ctx;
    p->retry_ms = -1;
    p->first_line = true;
    ls_buf_puts(&p->id, "");
    return p;
}

void ls_sse_parser_free(ls_sse_parser *p)
{
    if (!p)
        return;
    ls_buf_free(&p->line);
    ls_buf_free(&p->data);
    ls_buf_free(&p->type);
    ls_buf_free(&p->id_next);
    ls_buf_free(&p->id);
    free(p);
}

void ls_sse_parser_reset(ls_sse_parser *p)
{
    ls_buf_reset(&p->line);
    ls_buf_reset(&p->data);
    ls_buf_reset(&p->type);
    /* The pending id buffer restarts from the committed id, as after a dispatch. */
    ls_buf_reset(&p->id_next);
    ls_buf_append(&p->id_next, p->id.data, p->id.len);
    p->skip_lf = false;
    p->first_line = true;
    p->failed = false;
}

const char *ls_sse_parser_last_id(const ls_sse_parser *p)
{
    return p->id.data;
}

int64_t ls_sse_parser_retry_ms(const ls_sse_parser *p)
{
    return p->retry_ms;
}

/* The blank line: commit the id, then hand over the event if it has data. */
static int dispatch(ls_sse_parser *p)
{
    ls_buf_reset(&p->id);
    ls_buf_append(&p->id, p->id_next.data ? p->id_next.data : "", p->id_next.len);
    if (p->data.len == 0) {
        ls_buf_reset(&p->type);
        return 0;
    }
    p->data.len--; /* the '\n' after the last data line */
    p->data.data[p->data.len] = '\0';
    ls_sse_event ev = {
        .type = p->type.len ? p->type.data : "message",
        .data = p->data.data,
        .data_len = p->data.len,
        .id = p->id.data,
    };
    int r = p->on_event ? p->on_event(p->ctx, &ev) : 0;
    ls_buf_reset(&p->data);
    ls_buf_reset(&p->type);
    return r;
}

static bool field_is(const char *field, size_t len, const char *name)
{
    return strlen(name) == len && memcmp(field, name, len) == 0;
}

static void set_retry(ls_sse_parser *p, const char *v, size_t len)
{
    if (len == 0 || len > 15)
        return;
    int64_t ms = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return;
        ms = ms * 10 + (v[i] - '0');
    }
    p->retry_ms = ms;
}

static int process_field(ls_sse_parser *p, const char *field, size_t flen, const char *v,
                         size_t vlen)
{
    if (field_is(field, flen, "event")) {
        ls_buf_reset(&p->type);
        ls_buf_append(&p->type, v, vlen);
    } else if (field_is(field, flen, "data")) {
        if (p->data.len + vlen + 1 > p->max_event) {
            p->failed = true;
            return -E2BIG;
        }
        ls_buf_append(&p->data, v, vlen);
        ls_buf_putc(&p->data, '\n');
    } else if (field_is(field, flen, "id")) {
        if (!memchr(v, '\0', vlen)) {
            ls_buf_reset(&p->id_next);
            ls_buf_append(&p->id_next, v, vlen);
        }
    } else if (field_is(field, flen, "retry")) {
        set_retry(p, v, vlen);
    }
    return 0;
}

static int process_line(ls_sse_parser *p, const char *s, size_t len)
{
    if (p->first_line) {
        p->first_line = false;
        if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
            s += 3;
            len -= 3;
        }
    }
    if (len == 0)
        return dispatch(p);
    if (s[0] == ':')
        return p->on_comment ? p->on_comment(p->ctx, s + 1, len - 1) : 0;
    const char *colon = memchr(s, ':', len);
    if (!colon)
        return process_field(p, s, len, "", 0);
    size_t flen = (size_t)(colon - s);
    const char *v = colon + 1;
    size_t vlen = len - flen - 1;
    if (vlen > 0 && *v == ' ') {
        v++;
        vlen--;
    }
    return process_field(p, s, flen, v, vlen);
}

/* Ends the current line and processes it. */
static int end_line(ls_sse_parser *p)
{
    int r = process_line(p, p->line.data ? p->line.data : "", p->line.len);
    ls_buf_reset(&p->line);
    return r;
}

int ls_sse_parser_feed(ls_sse_parser *p, const char *data, size_t len)
{
    if (p->failed)
        return -E2BIG;
    size_t i = 0;
    while (i < len) {
        char c = data[i];
        if (p->skip_lf) {
            p->skip_lf = false;
            if (c == '\n') {
                i++;
                continue;
            }
        }
        if (c == '\r' || c == '\n') {
            p->skip_lf = c == '\r';
            i++;
            int r = end_line(p);
            if (r)
                return r;
            continue;
        }
        size_t run = i;
        while (run < len && data[run] != '\r' && data[run] != '\n')
            run++;
        if (p->line.len + (run - i) > p->max_line) {
            p->failed = true;
            return -E2BIG;
        }
        ls_buf_append(&p->line, data + i, run - i);
        i = run;
    }
    return 0;
}
