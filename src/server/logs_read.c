#include "server/logs_read.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "server/jsonline.h"
#include "server/linesource.h"
#include "server/sse.h"

#define PIECE_BYTES (64u * 1024u)
#define PIECE_LINES 2000u

typedef struct logs_reader {
    ls_server *srv;
    ls_live_step *step;
    bool raw;
    uint64_t after; /* last seq written to out */
    uint64_t upto;  /* last seq to send */
    ls_buf out;
    size_t pos;
} logs_reader;

static void reader_free(void *cls)
{
    logs_reader *lr = cls;
    ls_live_release(lr->step);
    ls_buf_free(&lr->out);
    free(lr);
}

static int format_line(void *arg, const ls_line *line)
{
    logs_reader *lr = arg;
    if (lr->raw) {
        ls_buf_append(&lr->out, line->text, line->len);
        if (!line->continued)
            ls_buf_putc(&lr->out, '\n');
    } else {
        ls_jsonline_format(&lr->out, line);
        ls_buf_putc(&lr->out, '\n');
    }
    lr->after = line->seq;
    return lr->out.len >= PIECE_BYTES ? 1 : 0;
}

static ssize_t read_logs(void *cls, uint64_t pos, char *buf, size_t max)
{
    logs_reader *lr = cls;
    while (lr->pos == lr->out.len) {
        if (lr->after >= lr->upto)
            return MHD_CONTENT_READER_END_OF_STREAM;
        ls_buf_reset(&lr->out);
        lr->pos = 0;
        int n = ls_linesource_read(lr->srv, lr->step, lr->after, lr->upto, PIECE_LINES, format_line,
                                   lr, NULL);
        if (n < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (n == 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = lr->out.len - lr->pos;
    if (n > max)
        n = max;
    memcpy(buf, lr->out.data + lr->pos, n);
    lr->pos += n;
    return (ssize_t)n;
}

static enum MHD_Result step_error(ls_req *r, int rc)
{
    char msg[200];
    if (rc == -ENOENT) {
        snprintf(msg, sizeof(msg), "build %lld has no step %d", (long long)r->route.build,
                 r->route.step);
        return ls_req_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", msg, NULL);
    }
    snprintf(msg, sizeof(msg), "storage failed: %s", ls_store_last_error());
    return ls_req_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_error", msg, NULL);
}

/* The last seq of a page of `limit` lines after `since`. Lines dropped from
 * the middle of the log (server/limits.h) are one marker line to a reader,
 * so a page that reaches them reaches that much further. */
static uint64_t page_end(const ls_live_state *st, uint64_t since, uint64_t limit)
{
    uint64_t hidden = st->drop_last ? st->drop_last - st->drop_first : 0;
    if (hidden == 0 || since >= st->drop_last)
        return since + limit;
    if (since >= st->drop_first)
        return st->drop_last + limit; /* resumes after the dropped run */
    if (since + limit >= st->drop_first)
        return since + limit + hidden;
    return since + limit;
}

/* Where the last n lines a reader sees start (the marker counting as one). */
static uint64_t tail_start(const ls_live_state *st, uint64_t n)
{
    uint64_t last = st->received_seq;
    if (!st->drop_last || last - st->drop_last >= n)
        return last > n ? last - n : 0;
    uint64_t rest = n - (last - st->drop_last) - 1; /* after the tail and the marker */
    return st->drop_first - 1 > rest ? st->drop_first - 1 - rest : 0;
}

static enum MHD_Result logs_begin(ls_req *r)
{
    if (ls_accepts_event_stream(ls_req_header(r, MHD_HTTP_HEADER_ACCEPT)))
        return ls_sse_logs_begin(r);
    ls_logs_query q;
    const char *err = NULL;
    if (ls_logs_query_parse(ls_req_query(r, "since"), ls_req_query(r, "limit"),
                            ls_req_query(r, "tail"), &q, &err) < 0)
        return ls_req_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_query", err, NULL);
    ls_live_step *step = NULL;
    int rc = ls_linesource_open_step(r->srv, r->route.build, r->route.step, &step, NULL);
    if (rc < 0)
        return step_error(r, rc);
    ls_live_state st;
    ls_live_get_state(step, &st);
    logs_reader *lr = ls_xcalloc(1, sizeof(*lr));
    lr->srv = r->srv;
    lr->step = step;
    lr->raw = q.mode == LS_LOGS_RAW;
    lr->upto = st.received_seq;
    if (q.mode == LS_LOGS_SINCE) {
        lr->after = q.since;
        uint64_t end = page_end(&st, q.since, q.limit);
        if (end < st.received_seq)
            lr->upto = end;
    } else if (q.mode == LS_LOGS_TAIL) {
        lr->after = tail_start(&st, q.limit);
    }
    return ls_req_respond_stream(r, MHD_HTTP_OK,
                                 lr->raw ? "text/plain; charset=utf-8" : "application/x-ndjson",
                                 read_logs, lr, reader_free, false);
}

const ls_handler ls_logs_handler = {.begin = logs_begin};
