#include "cli/follow.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli/build_info.h"
#include "cli/http.h"
#include "cli/sse_client.h"
#include "common/alloc.h"
#include "common/backoff.h"
#include "common/buf.h"
#include "common/timeutil.h"

#define ERROR_BODY_MAX 8192
#define CONNECT_TIMEOUT_MS 10000L
#define GAP_FETCH_TIMEOUT_MS 30000
#define POLL_MAX_MS 200

/* A callback's way to end a connection on purpose (after an end event). */
#define STOP_CONNECTION 1

typedef enum { CONN_EVENTS, CONN_LOG } conn_kind;

typedef struct follower follower;

/* One SSE connection: the build's events, or one step's log. */
typedef struct conn {
    follower *f;
    conn_kind kind;
    int step; /* CONN_LOG: the step's number */
    CURL *easy;
    struct curl_slist *hdrs;
    ls_sse_parser *parser;
    ls_backoff backoff;
    int64_t retry_at;   /* monotonic ms before which not to reconnect */
    int64_t last_ok_ms; /* monotonic ms of the last answer from the server */
    bool started;       /* header printed, first connection made */
    bool done;          /* got its end event (or will never run) */
    bool progressed;    /* this connection delivered at least one event */
    long status;        /* HTTP status of the current connection */
    ls_buf err_body;
    int64_t last_seq; /* last line printed */
    char *prefix;     /* services: "NAME | " */
    ls_print_stream ps;
    char curl_err[CURL_ERROR_SIZE];
} conn;

struct follower {
    const ls_follow_opts *o;
    CURLM *multi;
    ls_build_info build;
    bool build_final;
    conn events;
    conn **logs; /* by step number; NULL until needed */
    size_t nlogs;
    int error; /* first fatal error */
    char *err;
    size_t errlen;
};

static void fail(follower *f, int error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(follower *f, int error, const char *fmt, ...)
{
    if (f->error)
        return;
    f->error = error;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->err, f->errlen, fmt, ap);
    va_end(ap);
}

static void conn_init(follower *f, conn *c, conn_kind kind, int step)
{
    c->f = f;
    c->kind = kind;
    c->step = step;
    c->parser = NULL;
    ls_backoff_init(&c->backoff, f->o->backoff_base_ms, f->o->backoff_cap_ms, 0);
    c->last_ok_ms = ls_mono_ms();
}

static void conn_disconnect(conn *c)
{
    if (c->easy) {
        curl_multi_remove_handle(c->f->multi, c->easy);
        curl_easy_cleanup(c->easy);
        c->easy = NULL;
    }
    curl_slist_free_all(c->hdrs);
    c->hdrs = NULL;
}

static void conn_free(conn *c)
{
    if (!c)
        return;
    conn_disconnect(c);
    ls_sse_parser_free(c->parser);
    ls_buf_free(&c->err_body);
    free(c->prefix);
}

static conn *log_conn(follower *f, int step)
{
    if ((size_t)step >= f->nlogs) {
        size_t n = (size_t)step + 1;
        f->logs = ls_xreallocarray(f->logs, n, sizeof(*f->logs));
        memset(f->logs + f->nlogs, 0, (n - f->nlogs) * sizeof(*f->logs));
        f->nlogs = n;
    }
    if (!f->logs[step]) {
        f->logs[step] = ls_xcalloc(1, sizeof(conn));
        conn_init(f, f->logs[step], CONN_LOG, step);
    }
    return f->logs[step];
}

/* ---- printing lines ---------------------------------------------------- */

/* Prints one NDJSON line object if it is the next line; returns its seq, or
 * -EPROTO when it is not a line object. */
static int64_t print_line_object(conn *c, const char *s, size_t len)
{
    json_t *j = json_loadb(s, len, JSON_ALLOW_NUL, NULL);
    json_t *seq = json_object_get(j, "seq");
    json_t *text = json_object_get(j, "text");
    int64_t r = -EPROTO;
    if (!json_is_integer(seq) || !json_is_string(text))
        goto out;
    r = json_integer_value(seq);
    if (r != c->last_seq + 1)
        goto out; /* a duplicate, or after a gap: the caller decides */
    json_t *ts = json_object_get(j, "ts");
    bool continued = json_is_true(json_object_get(j, "continued"));
    ls_printer_line(c->f->o->printer, &c->ps, json_is_integer(ts) ? json_integer_value(ts) : 0,
                    json_string_value(text), json_string_length(text), continued);
    c->last_seq = r;
out:
    json_decref(j);
    return r;
}

typedef struct page_ctx {
    conn *c;
    int64_t upto;
    bool bad;
} page_ctx;

/* Prints the lines of an NDJSON page that continue the log, up to page->upto. */
static void print_page(page_ctx *pg, const char *data, size_t len)
{
    const char *end = data + len;
    while (data < end) {
        const char *nl = memchr(data, '\n', (size_t)(end - data));
        size_t n = nl ? (size_t)(nl - data) : (size_t)(end - data);
        if (n > 0 && pg->c->last_seq < pg->upto && print_line_object(pg->c, data, n) == -EPROTO)
            pg->bad = true;
        data += n + (nl ? 1 : 0);
    }
}

/* Fetches lines last_seq+1..upto with the NDJSON API, for a gap in what the
 * live stream sent. Says so on stderr when the server does not have them. */
static void fill_gap(conn *c, int64_t upto)
{
    follower *f = c->f;
    while (c->last_seq < upto && !f->error) {
        int64_t want = upto - c->last_seq;
        if (want > (int64_t)f->o->page_lines)
            want = (int64_t)f->o->page_lines;
        char url[512], err[512];
        snprintf(url, sizeof(url),
                 "%s/api/v1/builds/%" PRId64 "/steps/%d/logs?since=%" PRId64 "&limit=%" PRId64,
                 f->o->server, f->o->build_id, c->step, c->last_seq, want);
        ls_buf body = LS_BUF_INIT;
        int64_t before = c->last_seq;
        int r = ls_http_get_buf(url, "application/x-ndjson", GAP_FETCH_TIMEOUT_MS, f->o->max_event,
                                &body, err, sizeof(err));
        page_ctx pg = {.c = c, .upto = upto};
        if (r == 0)
            print_page(&pg, body.data ? body.data : "", body.len);
        ls_buf_free(&body);
        if (r < 0 || pg.bad || c->last_seq == before) {
            fprintf(stderr,
                    "logstream: lines %" PRId64 "..%" PRId64 " of step %d are missing from "
                    "the server's answers%s%s\n",
                    c->last_seq + 1, upto, c->step, r < 0 ? ": " : "", r < 0 ? err : "");
            c->last_seq = upto;
            return;
        }
    }
}

/* An "event: lines" event: one NDJSON line object per data line. */
static int on_lines(conn *c, const ls_sse_event *ev)
{
    const char *p = ev->data, *end = ev->data + ev->data_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > 0) {
            int64_t seq = print_line_object(c, p, n);
            if (seq == -EPROTO) {
                fail(c->f, -EPROTO,
                     "step %d: the server sent a line that is not a line object: "
                     "%.*s",
                     c->step, (int)(n > 200 ? 200 : n), p);
                return -EPROTO;
            }
            if (seq > c->last_seq + 1) {
                fill_gap(c, seq - 1);
                print_line_object(c, p, n);
            }
        }
        p += n + (nl ? 1 : 0);
    }
    return 0;
}

static void print_step_end(conn *c, const ls_step_info *s)
{
    if (c->f->o->only_step)
        return;
    char code[32] = "";
    if (s && s->has_exit_code)
        snprintf(code, sizeof(code), ", exit %d", s->exit_code);
    ls_printer_note(c->f->o->printer, "── %s %d: %s finished: %s%s ──",
                    s && s->service ? "service" : "step", c->step, s ? s->name : "?",
                    s ? s->status : "?", code);
}

/* An "event: end" event: the step has finished and every line was sent. */
static int on_end(conn *c, const ls_sse_event *ev)
{
    follower *f = c->f;
    json_t *j = json_loadb(ev->data, ev->data_len, 0, NULL);
    json_t *lines = json_object_get(j, "lines");
    if (json_is_integer(lines) && json_integer_value(lines) > c->last_seq)
        fill_gap(c, json_integer_value(lines));
    ls_step_info *s = ls_build_info_step(&f->build, c->step);
    const char *status = json_string_value(json_object_get(j, "status"));
    json_t *code = json_object_get(j, "exit_code");
    if (s && status && strlen(status) < sizeof(s->status))
        snprintf(s->status, sizeof(s->status), "%s", status);
    if (s && json_is_integer(code)) {
        s->has_exit_code = true;
        s->exit_code = (int)json_integer_value(code);
    }
    json_decref(j);
    print_step_end(c, s);
    c->done = true;
    return STOP_CONNECTION;
}

/* ---- the build's events ------------------------------------------------ */

static int on_build_event(follower *f, const ls_sse_event *ev)
{
    json_t *j = json_loadb(ev->data, ev->data_len, 0, NULL);
    int r = 0;
    if (!strcmp(ev->type, "build") && !json_is_array(json_object_get(j, "steps"))) {
        /* A build change without the steps: only the status matters here. */
        const char *status = json_string_value(json_object_get(j, "status"));
        if (!status || strlen(status) >= sizeof(f->build.status)) {
            r = -EPROTO;
        } else {
            snprintf(f->build.status, sizeof(f->build.status), "%s", status);
            f->build_final = f->build_final || ls_status_name_is_final(status);
        }
    } else if (!strcmp(ev->type, "build")) {
        ls_build_info b;
        if (ls_build_info_from_json(j, &b) < 0) {
            r = -EPROTO;
        } else {
            ls_build_info_clear(&f->build);
            f->build = b;
            f->build_final = f->build_final || ls_status_name_is_final(b.status);
        }
    } else if (!strcmp(ev->type, "step")) {
        ls_step_info s;
        if (ls_step_info_from_json(j, &s) < 0)
            r = -EPROTO;
        else
            ls_build_info_update_step(&f->build, &s);
    } else if (!strcmp(ev->type, "end")) {
        f->build_final = true;
        f->events.done = true;
        r = STOP_CONNECTION;
    }
    if (r == -EPROTO)
        fail(f, -EPROTO, "build %" PRId64 ": the server sent a malformed '%s' event: %.*s",
             f->o->build_id, ev->type, (int)(ev->data_len > 200 ? 200 : ev->data_len), ev->data);
    json_decref(j);
    return r;
}

static int on_event(void *ctx, const ls_sse_event *ev)
{
    conn *c = ctx;
    c->progressed = true;
    if (c->kind == CONN_EVENTS)
        return on_build_event(c->f, ev);
    int r = 0;
    if (!strcmp(ev->type, "lines"))
        r = on_lines(c, ev);
    else if (!strcmp(ev->type, "end"))
        r = on_end(c, ev);
    if (ls_printer_flush(c->f->o->printer) < 0) {
        fail(c->f, -EPIPE, "cannot write the logs: %s", strerror(errno ? errno : EPIPE));
        return -EPIPE;
    }
    return r;
}

/* ---- connections -------------------------------------------------------- */

static bool is_event_stream(CURL *easy)
{
    char *type = NULL;
    curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &type);
    return type && strncasecmp(type, "text/event-stream", 17) == 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
    conn *c = userdata;
    size_t len = size * n;
    if (!c->status) {
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
        c->last_ok_ms = ls_mono_ms();
        if (c->status == 200 && !is_event_stream(c->easy)) {
            fail(c->f, -EPROTO,
                 "the server did not answer with text/event-stream; is the URL "
                 "a logstream server?");
            return 0;
        }
    }
    if (c->status != 200) {
        if (c->err_body.len + len <= ERROR_BODY_MAX)
            ls_buf_append(&c->err_body, data, len);
        return len;
    }
    c->last_ok_ms = ls_mono_ms();
    int r = ls_sse_parser_feed(c->parser, data, len);
    if (r == -E2BIG)
        fail(c->f, -EPROTO, "the server sent an event larger than the limit (%zu bytes)",
             c->f->o->max_event);
    return r == 0 ? len : 0;
}

static void conn_url(const conn *c, char *url, size_t len)
{
    const ls_follow_opts *o = c->f->o;
    if (c->kind == CONN_EVENTS)
        snprintf(url, len, "%s/api/v1/builds/%" PRId64 "/events", o->server, o->build_id);
    else
        snprintf(url, len, "%s/api/v1/builds/%" PRId64 "/steps/%d/logs", o->server, o->build_id,
                 c->step);
}

static void conn_connect(conn *c)
{
    follower *f = c->f;
    char url[512], hdr[64];
    conn_url(c, url, sizeof(url));
    if (!c->parser)
        c->parser = ls_sse_parser_new(f->o->max_event, f->o->max_event, on_event, NULL, c);
    ls_sse_parser_reset(c->parser);
    c->status = 0;
    c->progressed = false;
    ls_buf_reset(&c->err_body);
    c->curl_err[0] = '\0';
    c->hdrs = curl_slist_append(NULL, "Accept: text/event-stream");
    if (c->kind == CONN_LOG && c->last_seq > 0) {
        snprintf(hdr, sizeof(hdr), "Last-Event-ID: %" PRId64, c->last_seq);
        c->hdrs = curl_slist_append(c->hdrs, hdr);
    }
    c->hdrs = ls_http_auth_header(c->hdrs);
    c->easy = curl_easy_init();
    if (!c->easy || !c->hdrs) {
        fail(f, -ENOMEM, "cannot initialise libcurl");
        return;
    }
    curl_easy_setopt(c->easy, CURLOPT_URL, url);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->curl_err);
    curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    if (f->o->idle_timeout_ms > 0) {
        curl_easy_setopt(c->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c->easy, CURLOPT_LOW_SPEED_TIME,
                         (long)((f->o->idle_timeout_ms + 999) / 1000));
    }
    curl_multi_add_handle(f->multi, c->easy);
}

static const char *conn_name(const conn *c, char *buf, size_t len)
{
    if (c->kind == CONN_EVENTS)
        snprintf(buf, len, "the events of build %" PRId64, c->f->o->build_id);
    else
        snprintf(buf, len, "the log of step %d", c->step);
    return buf;
}

/* A connection ended: done, fatal, or to be resumed after a backoff delay. */
static void conn_finished(conn *c, CURLcode code)
{
    follower *f = c->f;
    char url[512], err[1024], name[64];
    conn_url(c, url, sizeof(url));
    long status = c->status;
    if (!status)
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    conn_disconnect(c);
    if (c->done || f->error)
        return;
    if (status >= 400 && status < 500) {
        int r =
            ls_http_status_error(url, status, c->err_body.data, c->err_body.len, err, sizeof(err));
        fail(f, r, "%s", err);
        return;
    }
    int64_t now = ls_mono_ms();
    const char *why;
    if (status >= 500) {
        ls_http_status_error(url, status, c->err_body.data, c->err_body.len, err, sizeof(err));
        why = err;
    } else if (code != CURLE_OK) {
        ls_http_curl_error(url, code, c->curl_err, err, sizeof(err));
        why = err;
    } else {
        why = "the server closed the stream";
    }
    if (f->o->give_up_ms > 0 && now - c->last_ok_ms > f->o->give_up_ms) {
        fail(f, code == CURLE_OK ? -EIO : -ECONNREFUSED,
             "giving up on %s after %" PRId64 " ms without an answer: %s",
             conn_name(c, name, sizeof(name)), now - c->last_ok_ms, why);
        return;
    }
    if (c->progressed)
        ls_backoff_reset(&c->backoff);
    int64_t delay = ls_backoff_next(&c->backoff);
    c->retry_at = now + delay;
    if (!f->o->quiet)
        fprintf(stderr, "logstream: lost %s (%s); resuming in %" PRId64 " ms\n",
                conn_name(c, name, sizeof(name)), why, delay);
}

/* Makes sure c is connected or will reconnect when its delay is over. */
static void want(conn *c, int64_t now)
{
    if (!c->easy && !c->done && now >= c->retry_at)
        conn_connect(c);
}

/* ---- what to follow now ------------------------------------------------- */

static void start_log(follower *f, conn *c, const ls_step_info *s)
{
    if (c->started)
        return;
    c->started = true;
    if (s->service && !f->o->only_step) {
        size_t n = strlen(s->name) + 4;
        c->prefix = ls_xmalloc(n);
        snprintf(c->prefix, n, "%s | ", s->name);
        c->ps.prefix = c->prefix;
    }
    if (f->o->only_step)
        return;
    if (s->service)
        ls_printer_note(f->o->printer, "── service %d: %s (its lines start with \"%s\") ──",
                        s->number, s->name, c->prefix);
    else
        ls_printer_note(f->o->printer, "── step %d: %s ──", s->number, s->name);
}

/* A step that has not started when the build is over will never run. */
static void skip_never_run(follower *f, conn *c, const ls_step_info *s)
{
    c->done = true;
    if (!f->o->only_step)
        ls_printer_note(f->o->printer, "── %s %d: %s: not run (%s) ──",
                        s->service ? "service" : "step", s->number, s->name, s->status);
}

/* Opens the log of a step that has started; returns false while it waits. */
static bool follow_step(follower *f, const ls_step_info *s, int64_t now)
{
    conn *c = log_conn(f, s->number);
    if (c->done)
        return true;
    if (!strcmp(s->status, "pending")) {
        if (f->build_final)
            skip_never_run(f, c, s);
        return c->done;
    }
    start_log(f, c, s);
    want(c, now);
    return false;
}

/* Decides which logs to read; returns true when everything has been printed. */
static bool schedule(follower *f)
{
    int64_t now = ls_mono_ms();
    want(&f->events, now);
    bool all_done = true;
    bool step_waiting = false; /* an earlier step is still being printed */
    for (size_t i = 0; i < f->build.nsteps; i++) {
        const ls_step_info *s = &f->build.steps[i];
        if (f->o->only_step && s->number != f->o->only_step)
            continue;
        if (!s->service && step_waiting) {
            all_done = false;
            continue;
        }
        bool done = follow_step(f, s, now);
        all_done = all_done && done;
        if (!s->service && !done)
            step_waiting = true;
    }
    ls_printer_flush(f->o->printer);
    return all_done && f->build_final;
}

static void process_messages(follower *f)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(f->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        conn *c = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        conn_finished(c, msg->data.result);
    }
}

/* Milliseconds until the next reconnect is due, at most POLL_MAX_MS. */
static int poll_timeout(follower *f)
{
    int64_t now = ls_mono_ms(), t = POLL_MAX_MS;
    for (size_t i = 0; i <= f->nlogs; i++) {
        conn *c = i == f->nlogs ? &f->events : f->logs[i];
        if (c && !c->easy && !c->done && c->retry_at - now < t)
            t = c->retry_at - now;
    }
    return t < 0 ? 0 : (int)t;
}

static int fetch_build(follower *f)
{
    char url[512], err[1024];
    ls_buf body = LS_BUF_INIT;
    snprintf(url, sizeof(url), "%s/api/v1/builds/%" PRId64, f->o->server, f->o->build_id);
    int r = ls_http_get_buf(url, "application/json", GAP_FETCH_TIMEOUT_MS, f->o->max_event, &body,
                            err, sizeof(err));
    if (r == -ENOENT) {
        fail(f, r, "build %" PRId64 " not found on %s", f->o->build_id, f->o->server);
        goto out;
    }
    if (r < 0) {
        fail(f, r, "%s", err);
        goto out;
    }
    json_t *j = json_loadb(body.data, body.len, 0, NULL);
    r = ls_build_info_from_json(j, &f->build);
    json_decref(j);
    if (r < 0) {
        fail(f, -EPROTO, "%s: the answer is not a build object", url);
        goto out;
    }
    f->build_final = ls_status_name_is_final(f->build.status);
    if (f->o->only_step && !ls_build_info_step(&f->build, f->o->only_step)) {
        r = -ENOENT;
        fail(f, r, "build %" PRId64 " has no step %d", f->o->build_id, f->o->only_step);
    }
out:
    ls_buf_free(&body);
    return r;
}

static void follower_free(follower *f)
{
    conn_free(&f->events);
    for (size_t i = 0; i < f->nlogs; i++) {
        conn_free(f->logs[i]);
        free(f->logs[i]);
    }
    free(f->logs);
    ls_build_info_clear(&f->build);
    if (f->multi)
        curl_multi_cleanup(f->multi);
}

int ls_follow_build(const ls_follow_opts *o, char *err, size_t errlen)
{
    follower f = {.o = o, .err = err, .errlen = errlen};
    if (fetch_build(&f) < 0)
        goto out;
    f.multi = curl_multi_init();
    if (!f.multi) {
        fail(&f, -ENOMEM, "cannot initialise libcurl");
        goto out;
    }
    conn_init(&f, &f.events, CONN_EVENTS, 0);
    while (!f.error) {
        if (o->stop && *o->stop) {
            fail(&f, -EINTR, "interrupted");
            break;
        }
        if (schedule(&f))
            break;
        int running;
        curl_multi_perform(f.multi, &running);
        process_messages(&f);
        if (!f.error)
            curl_multi_poll(f.multi, NULL, 0, poll_timeout(&f), NULL);
    }
out:
    follower_free(&f);
    return f.error;
}
