#include "server/sse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/alloc.h"
#include "server/fanout.h"
#include "server/jsonline.h"
#include "server/linesource.h"
#include "server/sse_ping.h"
#include "server/waker.h"

#define EVENT_BYTES (32u * 1024u)
#define EVENT_LINES 1000u

typedef struct sse_client {
    ls_server *srv;
    ls_live_step *step;
    ls_waker waker;
    ls_live_sub sub;
    ls_ping_entry ping;
    /* written on MHD's thread, read by wake_client on the thread that made
     * lines (MHD's for ingest, NATS's or the poller's for another instance's) */
    _Atomic uint64_t sent_seq;   /* last seq formatted into out */
    atomic_bool caught_up;       /* reached the received seq once: lag is tracked from then */
    _Atomic uint64_t sent_bytes; /* text bytes of lines 1..sent_seq, valid once caught_up */
    ls_buf out;
    size_t pos;
    bool end_sent;
    struct MHD_Connection *conn;
    bool slow; /* disconnected for lagging: the reader ends with an error */
} sse_client;

void ls_sse_format_event(ls_buf *out, const char *name, const char *data, const char *id)
{
    ls_buf_printf(out, "event: %s\n", name);
    const char *p = data;
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        ls_buf_puts(out, "data: ");
        ls_buf_append(out, p, len);
        ls_buf_putc(out, '\n');
        if (!nl || !nl[1])
            break;
        p = nl + 1;
    }
    if (id)
        ls_buf_printf(out, "id: %s\n", id);
    ls_buf_putc(out, '\n');
}

static void client_free(void *cls)
{
    sse_client *c = cls;
    ls_live_unsubscribe(c->step, &c->sub);
    ls_fanout_unwatch_step(c->srv->fanout, ls_live_step_build(c->step),
                           ls_live_step_number(c->step));
    ls_pinger_remove(c->srv->pinger, &c->ping);
    ls_waker_destroy(&c->waker);
    ls_live_release(c->step);
    ls_buf_free(&c->out);
    atomic_fetch_sub(&c->srv->metrics.sse_clients, 1);
    free(c);
}

static bool too_slow(sse_client *c, const ls_live_state *st);

/* Closes the socket of a follower that fell too far behind: its content
 * reader is not even called while its socket is full, so the lag is also
 * checked here, when lines arrive. MHD then sees the connection fail and
 * frees it (and this client) on its own thread. */
static void disconnect_slow(sse_client *c)
{
    if (c->slow)
        return;
    c->slow = true;
    atomic_fetch_add(&c->srv->metrics.sse_disconnected_slow, 1);
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (info)
        shutdown(info->connect_fd, SHUT_RDWR);
}

/* Runs on the thread that made the lines or the status change: MHD's for
 * ingest and PATCH, NATS's or the poller's for lines of another instance
 * (server/fanout.h); the client's counters are atomics. */
static void wake_client(ls_live_sub *sub, unsigned events, const ls_live_state *st)
{
    sse_client *c = (sse_client *)((char *)sub - offsetof(sse_client, sub));
    if (too_slow(c, st))
        disconnect_slow(c);
    ls_waker_wake(&c->waker);
}

/* One "data:" line per log line; the event header went first. */
static int format_line(void *arg, const ls_line *line)
{
    sse_client *c = arg;
    ls_buf_puts(&c->out, "data: ");
    ls_jsonline_format(&c->out, line);
    ls_buf_putc(&c->out, '\n');
    c->sent_seq = line->seq;
    c->sent_bytes += line->len;
    return c->out.len >= EVENT_BYTES ? 1 : 0;
}

/* Formats the next `lines` event into out. Returns lines added or < 0. */
static int fill_lines(sse_client *c, ls_live_state *st)
{
    ls_buf_puts(&c->out, "event: lines\n");
    size_t header = c->out.len;
    int n = ls_linesource_read(c->srv, c->step, c->sent_seq, 0, EVENT_LINES, format_line, c, st);
    if (n <= 0) {
        c->out.len = header - strlen("event: lines\n");
        if (c->out.data)
            c->out.data[c->out.len] = '\0';
        return n;
    }
    ls_buf_printf(&c->out, "id: %" PRIu64 "\n\n", c->sent_seq);
    return n;
}

/* True when a caught-up client fell further behind than --sse-max-lag. */
static bool too_slow(sse_client *c, const ls_live_state *st)
{
    if (!c->caught_up)
        return false;
    const ls_server_config *cfg = &c->srv->cfg;
    return ls_live_too_far_behind(st, c->sent_seq, c->sent_bytes, (uint64_t)cfg->sse_max_lag_bytes,
                                  (uint64_t)cfg->sse_max_lag_lines);
}

/* Puts the next thing to send into out (lines, end, ping). Returns 1 when out
 * has bytes, 0 when there is nothing to send now, -1 to close with an error. */
static int next_output(sse_client *c)
{
    ls_live_state st;
    ls_buf_reset(&c->out);
    c->pos = 0;
    if (c->slow)
        return -1;
    int n = fill_lines(c, &st);
    if (n < 0)
        return -1;
    if (too_slow(c, &st)) {
        disconnect_slow(c);
        return -1;
    }
    if (!c->caught_up && c->sent_seq >= st.received_seq) {
        c->caught_up = true;
        c->sent_bytes = st.received_bytes;
    }
    if (n > 0)
        return 1;
    if (st.final && c->sent_seq >= st.received_seq) {
        char data[128];
        char code[16] = "null";
        if (st.has_exit_code)
            snprintf(code, sizeof(code), "%d", st.exit_code);
        snprintf(data, sizeof(data), "{\"status\":\"%s\",\"exit_code\":%s,\"lines\":%" PRIu64 "}",
                 ls_status_name(st.status), code, st.received_seq);
        ls_sse_format_event(&c->out, "end", data, NULL);
        c->end_sent = true;
        return 1;
    }
    if (ls_pinger_due(c->srv->pinger, &c->ping)) {
        ls_buf_puts(&c->out, ": ping\n\n");
        return 1;
    }
    return 0;
}

static ssize_t read_events(void *cls, uint64_t pos, char *buf, size_t max)
{
    sse_client *c = cls;
    while (c->pos == c->out.len) {
        if (c->end_sent)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (!ls_waker_arm(&c->waker))
            return MHD_CONTENT_READER_END_OF_STREAM; /* server stopping */
        int r = next_output(c);
        if (r < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (r == 0 && ls_waker_suspend(&c->waker))
            return 0; /* resumed by new lines, the end, or the ping timer */
    }
    size_t n = c->out.len - c->pos;
    if (n > max)
        n = max;
    memcpy(buf, c->out.data + c->pos, n);
    c->pos += n;
    ls_pinger_touch(&c->ping);
    return (ssize_t)n;
}

enum MHD_Result ls_sse_logs_begin(ls_req *r)
{
    uint64_t after = 0;
    const char *err = NULL;
    if (ls_sse_resume_parse(ls_req_header(r, "Last-Event-ID"), ls_req_query(r, "since"), &after,
                            &err) < 0)
        return ls_req_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_query", err, NULL);
    ls_live_step *step = NULL;
    int rc = ls_linesource_open_step(r->srv, r->route.build, r->route.step, &step, NULL);
    if (rc < 0) {
        char msg[200];
        if (rc == -ENOENT) {
            snprintf(msg, sizeof(msg), "build %lld has no step %d", (long long)r->route.build,
                     r->route.step);
            return ls_req_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", msg, NULL);
        }
        snprintf(msg, sizeof(msg), "storage failed: %s", ls_store_last_error());
        return ls_req_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_error", msg, NULL);
    }
    sse_client *c = ls_xcalloc(1, sizeof(*c));
    c->srv = r->srv;
    c->step = step;
    c->sent_seq = after;
    c->conn = r->conn;
    ls_waker_init(&c->waker, r->srv->wakers, r->conn);
    c->sub.events = LS_LIVE_EV_LINES | LS_LIVE_EV_FINAL;
    c->sub.notify = wake_client;
    ls_live_subscribe(step, &c->sub);
    ls_fanout_watch_step(r->srv->fanout, r->route.build, r->route.step);
    ls_pinger_add(r->srv->pinger, &c->ping, &c->waker);
    atomic_fetch_add(&r->srv->metrics.sse_clients, 1);
    /* the reconnection delay first, so the headers and a first chunk leave at once */
    ls_buf_puts(&c->out, "retry: 2000\n\n");
    return ls_req_respond_stream(r, MHD_HTTP_OK, "text/event-stream", read_events, c, client_free,
                                 true);
}
