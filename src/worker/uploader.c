#include "worker/uploader.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/backoff.h"
#include "common/nice.h"
#include "common/record.h"
#include "common/timeutil.h"
#include "worker/upload_req.h"

/* Records taken from the spool per refill: at least one of its writes, so
 * that a reader that keeps up takes whole writes and need not count lines. */
#define STREAM_READ_BYTES (256u * 1024u)
/* Longest poll wait: bounds how late a timer (heartbeat, retry) fires. */
#define MAX_POLL_MS 1000

typedef enum {
    S_NEED_PROBE, /* ask the server where it is */
    S_PROBING,
    S_STREAMING, /* a chunked POST is running */
    S_BATCH_IDLE,
    S_BATCH_SENDING,
    S_BACKOFF, /* waiting for retry_at */
    S_DONE,    /* confirmed or failed */
} stream_state;

typedef struct control_req {
    char *method;
    char *path;
    char *body;
    struct control_req *next;
} control_req;

/* A confirmed spool file to delete. */
typedef struct unlink_req {
    char *path;
    struct unlink_req *next;
} unlink_req;

struct ls_upload_stream {
    ls_uploader *u;
    long long build_id;
    int step;
    char *stream_url;
    ls_spool *spool;
    struct ls_upload_stream *next;

    /* Executor thread only. */
    bool held; /* between ls_upload_stream_hold and _release */

    /* Shared with the executor thread, under u->lock. */
    bool closed;
    char *completion_json;

    /* Uploader thread only. */
    stream_state state;
    uint64_t durable_seq;
    uint64_t durable_bytes;
    ls_upload_req *active;   /* probe, stream or batch request */
    ls_upload_req *progress; /* stall check */
    ls_spool_cursor cursor;  /* next record to send */
    ls_buf out;              /* records taken from the spool, not yet given to curl */
    size_t out_off;
    bool paused;
    bool ending;               /* the read callback ends the body at the next call */
    int64_t req_started;       /* mono ms */
    int64_t req_bytes;         /* body bytes handed to curl in this request */
    int64_t last_send;         /* mono ms of the last bytes handed to curl */
    int64_t unconfirmed_since; /* mono ms; 0 = server durable up to what was sent */
    int64_t next_progress;
    int64_t retry_at;
    int64_t next_batch;
    bool batch_full; /* last batch hit batch_max_bytes: send the next at once */
    bool failing;    /* in a series of failures (for messages) */
    ls_backoff backoff;
    bool failed;
};

struct ls_uploader {
    ls_uploader_options o;
    char *server;
    char *token;
    CURLM *multi;
    pthread_t thread;
    bool thread_started;
    atomic_bool wake_pending;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t changed;
    bool stop;
    ls_upload_stream *streams;
    control_req *ctl_head, *ctl_tail;
    ls_uploader_stats stats;

    /* Uploader thread only. */
    bool batch_mode;
    ls_upload_req *ctl_active;
    int64_t ctl_retry_at;
    ls_backoff ctl_backoff;

    /* The unlinker thread deletes confirmed spools, so that freeing a large
     * file's page cache delays neither the step's completion request nor
     * other streams. Under unlink_lock. */
    pthread_t unlinker;
    bool unlinker_started;
    pthread_mutex_t unlink_lock;
    pthread_cond_t unlink_cond;
    unlink_req *unlink_head, *unlink_tail;
    bool unlink_stop;
};

int ls_transport_parse(const char *s, ls_transport *ret)
{
    if (strcmp(s, "auto") == 0)
        *ret = LS_TRANSPORT_AUTO;
    else if (strcmp(s, "stream") == 0)
        *ret = LS_TRANSPORT_STREAM;
    else if (strcmp(s, "batch") == 0)
        *ret = LS_TRANSPORT_BATCH;
    else
        return -EINVAL;
    return 0;
}

static void notice(ls_uploader *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(ls_uploader *u, const char *fmt, ...)
{
    if (!u->o.notice)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    u->o.notice(u->o.notice_userdata, msg);
}

/* Called for every line: a plain load first, so that while a wake-up is
 * pending (the thread has not yet looked) a push costs no atomic write. */
static void wake(ls_uploader *u)
{
    if (!atomic_load_explicit(&u->wake_pending, memory_order_relaxed) &&
        !atomic_exchange(&u->wake_pending, true))
        curl_multi_wakeup(u->multi);
}

static void signal_changed(ls_uploader *u)
{
    pthread_mutex_lock(&u->lock);
    pthread_cond_broadcast(&u->changed);
    pthread_mutex_unlock(&u->lock);
}

static bool stream_closed(ls_upload_stream *s, char **ret_completion)
{
    pthread_mutex_lock(&s->u->lock);
    bool closed = s->closed;
    if (ret_completion) {
        *ret_completion = s->completion_json;
        s->completion_json = NULL;
    }
    pthread_mutex_unlock(&s->u->lock);
    return closed;
}

static ls_upload_req *new_req(ls_uploader *u, ls_req_kind kind, void *owner, const char *url,
                              const char *method, const char *content_type, int64_t timeout_ms)
{
    ls_upload_req_params p = {
        .url = url,
        .method = method,
        .token = u->token,
        .content_type = content_type,
        .connect_timeout_ms = u->o.connect_timeout_ms,
        .timeout_ms = timeout_ms,
    };
    return ls_upload_req_new(kind, owner, &p);
}

static void drop_req(ls_uploader *u, ls_upload_req **req)
{
    if (!*req)
        return;
    curl_multi_remove_handle(u->multi, (*req)->easy);
    ls_upload_req_free(*req);
    *req = NULL;
}

/* Parses {"durable_seq":N,"bytes":B} from a response. */
static int parse_durable(const ls_buf *resp, uint64_t *ret_seq, uint64_t *ret_bytes)
{
    json_t *j = json_loadb(resp->data ? resp->data : "", resp->len, 0, NULL);
    int r = -EBADMSG;
    if (!j)
        return r;
    json_t *seq = json_object_get(j, "durable_seq");
    json_t *bytes = json_object_get(j, "bytes");
    if (json_is_integer(seq) && json_integer_value(seq) >= 0) {
        *ret_seq = (uint64_t)json_integer_value(seq);
        *ret_bytes = json_is_integer(bytes) ? (uint64_t)json_integer_value(bytes) : 0;
        r = 0;
    }
    json_decref(j);
    return r;
}

/* The server's "error" message from a 4xx/5xx body, or the body itself. */
static void server_error(const ls_upload_req *req, char *out, size_t n)
{
    json_t *j =
        req->response.data ? json_loadb(req->response.data, req->response.len, 0, NULL) : NULL;
    const char *msg = j ? json_string_value(json_object_get(j, "error")) : NULL;
    snprintf(out, n, "%s", msg ? msg : (req->response.data ? req->response.data : ""));
    json_decref(j);
}

static bool transient_status(long status)
{
    return status == 0 || status >= 500 || status == 408 || status == 409 || status == 429;
}

/* ---- stream lifecycle ---- */

/* Hands a confirmed spool's path to the unlinker thread. */
static void queue_unlink(ls_uploader *u, const char *path)
{
    unlink_req *r = ls_xcalloc(1, sizeof(*r));
    r->path = ls_xstrdup(path);
    pthread_mutex_lock(&u->unlink_lock);
    if (u->unlink_tail)
        u->unlink_tail->next = r;
    else
        u->unlink_head = r;
    u->unlink_tail = r;
    pthread_cond_signal(&u->unlink_cond);
    pthread_mutex_unlock(&u->unlink_lock);
}

static void *unlinker_thread(void *arg)
{
    ls_uploader *u = arg;
    pthread_mutex_lock(&u->unlink_lock);
    for (;;) {
        unlink_req *r = u->unlink_head;
        if (!r) {
            if (u->unlink_stop)
                break;
            pthread_cond_wait(&u->unlink_cond, &u->unlink_lock);
            continue;
        }
        u->unlink_head = r->next;
        if (!u->unlink_head)
            u->unlink_tail = NULL;
        pthread_mutex_unlock(&u->unlink_lock);
        unlink(r->path); /* ENOENT: someone removed it already, fine */
        free(r->path);
        free(r);
        pthread_mutex_lock(&u->unlink_lock);
    }
    pthread_mutex_unlock(&u->unlink_lock);
    return NULL;
}

static void finish_stream(ls_upload_stream *s, bool confirmed)
{
    ls_uploader *u = s->u;
    char *completion = NULL;
    stream_closed(s, &completion);
    s->state = S_DONE;
    drop_req(u, &s->active);
    drop_req(u, &s->progress);
    ls_buf_free(&s->out);
    /* The completion first: the step ends on the server without waiting for
     * the file system. */
    if (completion) {
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/builds/%lld/steps/%d", s->build_id, s->step);
        ls_uploader_request(u, "PATCH", path, completion);
        free(completion);
    }
    if (confirmed) {
        ls_spool_close_file(s->spool);
        if (u->unlinker_started)
            queue_unlink(u, ls_spool_path(s->spool));
        else
            unlink(ls_spool_path(s->spool));
    }
    pthread_mutex_lock(&u->lock);
    if (confirmed)
        u->stats.confirmed++;
    else
        u->stats.failed++;
    pthread_cond_broadcast(&u->changed);
    pthread_mutex_unlock(&u->lock);
}

static void fail_stream(ls_upload_stream *s, const char *why)
{
    s->failed = true;
    notice(s->u, "step %d: upload given up: %s; its log is kept in %s", s->step, why,
           ls_spool_path(s->spool));
    finish_stream(s, false);
}

static void retry_later(ls_upload_stream *s, const char *why)
{
    ls_uploader *u = s->u;
    drop_req(u, &s->active);
    drop_req(u, &s->progress);
    int64_t delay = ls_backoff_next(&s->backoff);
    if (!s->failing)
        notice(u, "step %d: upload interrupted (%s); retrying", s->step, why);
    s->failing = true;
    s->state = S_BACKOFF;
    s->retry_at = ls_mono_ms() + delay;
    pthread_mutex_lock(&u->lock);
    u->stats.reconnects++;
    pthread_mutex_unlock(&u->lock);
}

/* After learning the server's durable position: confirm, fail on a
 * mismatch, or go on sending. Returns true when the stream is done. */
static bool check_final(ls_upload_stream *s)
{
    if (!stream_closed(s, NULL))
        return false;
    uint64_t last = ls_spool_last_seq(s->spool);
    uint64_t bytes = ls_spool_bytes(s->spool);
    if (s->durable_seq < last)
        return false;
    if (s->durable_seq == last && s->durable_bytes == bytes) {
        finish_stream(s, true);
        return true;
    }
    char why[256];
    snprintf(why, sizeof(why),
             "the server holds %llu lines / %llu bytes but the worker sent %llu lines / %llu "
             "bytes",
             (unsigned long long)s->durable_seq, (unsigned long long)s->durable_bytes,
             (unsigned long long)last, (unsigned long long)bytes);
    fail_stream(s, why);
    return true;
}

/* Hands body bytes to libcurl: queued records, new records from the spool, a
 * heartbeat, or the end of the body; pauses when there is nothing to send. */
static size_t stream_read(char *buf, size_t size, size_t nitems, void *userdata)
{
    ls_upload_stream *s = userdata;
    ls_uploader *u = s->u;
    size_t room = size * nitems;
    int64_t now = ls_mono_ms();
    if (s->out_off == s->out.len && !s->ending) {
        ls_buf_reset(&s->out);
        s->out_off = 0;
        bool rotate =
            now - s->req_started >= u->o.rotate_age_ms || s->req_bytes >= u->o.rotate_bytes;
        uint64_t count = 0;
        if (!rotate) {
            /* Up to the rotation size (a request ends within one record of it). */
            size_t want = STREAM_READ_BYTES;
            if ((uint64_t)(u->o.rotate_bytes - s->req_bytes) < want)
                want = (size_t)(u->o.rotate_bytes - s->req_bytes);
            if (ls_spool_read(s->spool, &s->cursor, want, &s->out, &count) < 0)
                return CURL_READFUNC_ABORT;
        }
        if (count > 0) {
            if (s->unconfirmed_since == 0)
                s->unconfirmed_since = now;
        } else if (rotate) {
            s->ending = true;
        } else if (stream_closed(s, NULL) && s->cursor.next_seq > ls_spool_last_seq(s->spool)) {
            s->ending = true;
        } else if (now - s->last_send >= u->o.heartbeat_ms) {
            ls_record_format_heartbeat(&s->out, ls_now_ms());
        }
    }
    if (s->out_off < s->out.len) {
        size_t n = s->out.len - s->out_off;
        if (n > room)
            n = room;
        memcpy(buf, s->out.data + s->out_off, n);
        s->out_off += n;
        s->req_bytes += (int64_t)n;
        s->last_send = now;
        return n;
    }
    if (s->ending)
        return 0;
    s->paused = true;
    return CURL_READFUNC_PAUSE;
}

static void start_probe(ls_upload_stream *s, ls_req_kind kind)
{
    ls_uploader *u = s->u;
    ls_upload_req *req = new_req(u, kind, s, s->stream_url, "GET", NULL, u->o.request_timeout_ms);
    if (!req) {
        retry_later(s, "cannot create a request");
        return;
    }
    curl_multi_add_handle(u->multi, req->easy);
    if (kind == LS_REQ_PROBE) {
        s->active = req;
        s->state = S_PROBING;
    } else {
        s->progress = req;
    }
}

static void start_streaming(ls_upload_stream *s)
{
    ls_uploader *u = s->u;
    if (ls_spool_seek(s->spool, s->durable_seq + 1, &s->cursor) < 0) {
        fail_stream(s, "the server holds lines this worker never wrote (was the step reused?)");
        return;
    }
    ls_upload_req *req =
        new_req(u, LS_REQ_STREAM, s, s->stream_url, "POST", "application/x-logstream-records", 0);
    if (!req) {
        retry_later(s, "cannot create a request");
        return;
    }
    curl_easy_setopt(req->easy, CURLOPT_READFUNCTION, stream_read);
    curl_easy_setopt(req->easy, CURLOPT_READDATA, s);
    ls_buf_reset(&s->out);
    s->out_off = 0;
    s->paused = false;
    s->ending = false;
    s->req_started = s->last_send = ls_mono_ms();
    s->req_bytes = 0;
    s->unconfirmed_since = 0;
    s->next_progress = s->req_started + u->o.stall_timeout_ms / 4;
    s->active = req;
    s->state = S_STREAMING;
    curl_multi_add_handle(u->multi, req->easy);
}

static void start_batch(ls_upload_stream *s)
{
    ls_uploader *u = s->u;
    ls_spool_cursor cur;
    if (ls_spool_seek(s->spool, s->durable_seq + 1, &cur) < 0) {
        fail_stream(s, "the server holds lines this worker never wrote (was the step reused?)");
        return;
    }
    ls_upload_req *req = new_req(u, LS_REQ_BATCH, s, s->stream_url, "POST",
                                 "application/x-logstream-records", u->o.request_timeout_ms);
    if (!req) {
        retry_later(s, "cannot create a request");
        return;
    }
    uint64_t count = 0;
    if (ls_spool_read(s->spool, &cur, (size_t)u->o.batch_max_bytes, &req->body, &count) < 0) {
        ls_upload_req_free(req);
        fail_stream(s, "cannot read the spool file");
        return;
    }
    s->batch_full = req->body.len >= (size_t)u->o.batch_max_bytes;
    ls_upload_req_set_body(req);
    s->active = req;
    s->state = S_BATCH_SENDING;
    curl_multi_add_handle(u->multi, req->easy);
}

/* The server's position is known: go on in the current transport. */
static void continue_sending(ls_upload_stream *s)
{
    if (check_final(s))
        return;
    if (s->failing)
        notice(s->u, "step %d: upload resumed after line %llu", s->step,
               (unsigned long long)s->durable_seq);
    s->failing = false;
    ls_backoff_reset(&s->backoff);
    if (s->u->batch_mode) {
        s->state = S_BATCH_IDLE;
        s->next_batch = ls_mono_ms();
    } else {
        start_streaming(s);
    }
}

/* Auto mode: a stream request stopped making progress; use batches. */
static void switch_to_batch(ls_uploader *u, ls_upload_stream *stalled)
{
    notice(u,
           "step %d: the stream made no progress for %lld ms (a proxy may be buffering the "
           "request); switching to batch uploads",
           stalled->step, (long long)u->o.stall_timeout_ms);
    u->batch_mode = true;
    pthread_mutex_lock(&u->lock);
    u->stats.batch_mode = true;
    ls_upload_stream *list = u->streams;
    pthread_mutex_unlock(&u->lock);
    for (ls_upload_stream *s = list; s; s = s->next) {
        if (s->state != S_STREAMING)
            continue;
        drop_req(u, &s->active);
        drop_req(u, &s->progress);
        s->state = S_NEED_PROBE;
    }
}

static void on_progress_done(ls_upload_stream *s, ls_upload_req *req, CURLcode rc)
{
    ls_uploader *u = s->u;
    uint64_t seq, bytes;
    int64_t now = ls_mono_ms();
    bool ok = rc == CURLE_OK && ls_upload_req_status(req) == 200 &&
              parse_durable(&req->response, &seq, &bytes) == 0;
    drop_req(u, &s->progress);
    s->next_progress = now + u->o.stall_timeout_ms / 4;
    if (!ok || s->state != S_STREAMING)
        return;
    uint64_t sent = s->cursor.next_seq - 1;
    if (seq >= sent) {
        s->unconfirmed_since = 0;
    } else if (seq > s->durable_seq) {
        s->unconfirmed_since = now; /* progress: restart the clock */
    } else if (s->unconfirmed_since && now - s->unconfirmed_since >= u->o.stall_timeout_ms &&
               u->o.transport == LS_TRANSPORT_AUTO) {
        switch_to_batch(u, s);
        return;
    }
    if (seq > s->durable_seq) {
        s->durable_seq = seq;
        s->durable_bytes = bytes;
    }
}

/* Handles the end of a probe, stream or batch request. */
static void on_stream_req_done(ls_upload_stream *s, ls_upload_req *req, CURLcode rc)
{
    long status = ls_upload_req_status(req);
    char why[512];
    if (rc != CURLE_OK) {
        snprintf(why, sizeof(why), "%s", req->errbuf[0] ? req->errbuf : curl_easy_strerror(rc));
        retry_later(s, why);
        return;
    }
    if (status != 200) {
        char err[256];
        server_error(req, err, sizeof(err));
        snprintf(why, sizeof(why), "HTTP %ld: %s", status, err);
        if (transient_status(status))
            retry_later(s, why);
        else
            fail_stream(s, why);
        return;
    }
    uint64_t seq, bytes;
    if (parse_durable(&req->response, &seq, &bytes) < 0) {
        retry_later(s, "the server's answer has no durable_seq");
        return;
    }
    ls_req_kind kind = req->kind;
    drop_req(s->u, &s->active);
    drop_req(s->u, &s->progress);
    s->durable_seq = seq;
    s->durable_bytes = bytes;
    if (kind == LS_REQ_BATCH) {
        if (check_final(s))
            return;
        s->state = S_BATCH_IDLE;
        s->next_batch = ls_mono_ms() + (s->batch_full ? 0 : s->u->o.batch_interval_ms);
        return;
    }
    continue_sending(s);
}

/* Per-loop work for one stream: start what is due, resume a paused body. */
static void tick_stream(ls_upload_stream *s, int64_t now)
{
    ls_uploader *u = s->u;
    /* A streaming request writes pending lines when it reads them; otherwise
     * (probing, backoff, between batches) write them now, so they are on
     * disk soon whatever the network does. A failure is retried next time. */
    if (s->state != S_STREAMING && s->state != S_DONE)
        ls_spool_flush(s->spool);
    switch (s->state) {
    case S_BACKOFF:
        if (now < s->retry_at)
            break;
        s->state = S_NEED_PROBE;
        /* fall through */
    case S_NEED_PROBE:
        start_probe(s, LS_REQ_PROBE);
        break;
    case S_STREAMING:
        if (s->paused && (ls_spool_last_seq(s->spool) >= s->cursor.next_seq ||
                          stream_closed(s, NULL) || now - s->last_send >= u->o.heartbeat_ms ||
                          now - s->req_started >= u->o.rotate_age_ms)) {
            s->paused = false;
            curl_easy_pause(s->active->easy, CURLPAUSE_CONT);
        }
        if (u->o.transport == LS_TRANSPORT_AUTO && s->state == S_STREAMING && !s->progress &&
            s->unconfirmed_since && now >= s->next_progress)
            start_probe(s, LS_REQ_PROGRESS);
        break;
    case S_BATCH_IDLE:
        if (now >= s->next_batch &&
            (ls_spool_last_seq(s->spool) > s->durable_seq || stream_closed(s, NULL)))
            start_batch(s);
        break;
    default:
        break;
    }
}

/* When this stream next needs attention without any I/O (mono ms); new lines
 * and closes wake the thread by themselves. */
static int64_t stream_deadline(ls_upload_stream *s, const ls_uploader *u)
{
    switch (s->state) {
    case S_BACKOFF:
        return s->retry_at;
    case S_BATCH_IDLE:
        if (ls_spool_last_seq(s->spool) > s->durable_seq || stream_closed(s, NULL))
            return s->next_batch;
        return INT64_MAX;
    case S_STREAMING: {
        int64_t d = INT64_MAX;
        if (s->paused) {
            d = s->last_send + u->o.heartbeat_ms;
            int64_t r = s->req_started + u->o.rotate_age_ms;
            if (r < d)
                d = r;
        }
        if (u->o.transport == LS_TRANSPORT_AUTO && !s->progress && s->unconfirmed_since &&
            s->next_progress < d)
            d = s->next_progress;
        return d;
    }
    default:
        return INT64_MAX;
    }
}

/* ---- control requests ---- */

static void start_control(ls_uploader *u, int64_t now)
{
    if (u->ctl_active || now < u->ctl_retry_at)
        return;
    pthread_mutex_lock(&u->lock);
    control_req *c = u->ctl_head;
    pthread_mutex_unlock(&u->lock);
    if (!c)
        return;
    char url[2048];
    snprintf(url, sizeof(url), "%s%s", u->server, c->path);
    ls_upload_req *req = new_req(u, LS_REQ_CONTROL, NULL, url, c->method,
                                 c->body ? "application/json" : NULL, u->o.request_timeout_ms);
    if (!req) {
        u->ctl_retry_at = now + ls_backoff_next(&u->ctl_backoff);
        return;
    }
    if (c->body || strcmp(c->method, "GET") != 0) {
        ls_buf_puts(&req->body, c->body ? c->body : "");
        ls_upload_req_set_body(req);
    }
    u->ctl_active = req;
    curl_multi_add_handle(u->multi, req->easy);
}

static void pop_control(ls_uploader *u, bool failed)
{
    pthread_mutex_lock(&u->lock);
    control_req *c = u->ctl_head;
    u->ctl_head = c->next;
    if (!u->ctl_head)
        u->ctl_tail = NULL;
    if (failed)
        u->stats.requests_failed++;
    pthread_cond_broadcast(&u->changed);
    pthread_mutex_unlock(&u->lock);
    free(c->method);
    free(c->path);
    free(c->body);
    free(c);
}

static void on_control_done(ls_uploader *u, ls_upload_req *req, CURLcode rc)
{
    long status = ls_upload_req_status(req);
    pthread_mutex_lock(&u->lock);
    control_req *c = u->ctl_head;
    pthread_mutex_unlock(&u->lock);
    if (rc == CURLE_OK && status >= 200 && status < 300) {
        ls_backoff_reset(&u->ctl_backoff);
        pop_control(u, false);
    } else if (rc != CURLE_OK || status >= 500 || status == 408 || status == 429) {
        u->ctl_retry_at = ls_mono_ms() + ls_backoff_next(&u->ctl_backoff);
    } else {
        char err[256];
        server_error(req, err, sizeof(err));
        notice(u, "%s %s failed: HTTP %ld: %s", c->method, c->path, status, err);
        pop_control(u, true);
    }
    drop_req(u, &u->ctl_active);
}

/* ---- the thread ---- */

static void dispatch_done(ls_uploader *u, CURLMsg *msg)
{
    ls_upload_req *req = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
    CURLcode rc = msg->data.result;
    if (req->kind == LS_REQ_CONTROL) {
        on_control_done(u, req, rc);
        return;
    }
    ls_upload_stream *s = req->owner;
    if (req->kind == LS_REQ_PROGRESS)
        on_progress_done(s, req, rc);
    else
        on_stream_req_done(s, req, rc);
}

static int poll_timeout(ls_uploader *u, ls_upload_stream *list, int64_t now)
{
    int64_t deadline = now + MAX_POLL_MS;
    for (ls_upload_stream *s = list; s; s = s->next) {
        int64_t d = stream_deadline(s, u);
        if (d < deadline)
            deadline = d;
    }
    if (!u->ctl_active) {
        /* The next control request starts as soon as the previous one ended
         * (its wake was taken while that one ran): without this, a step's
         * final status waited for MAX_POLL_MS in ~3 % of runs. */
        pthread_mutex_lock(&u->lock);
        bool queued = u->ctl_head != NULL;
        pthread_mutex_unlock(&u->lock);
        if (queued && u->ctl_retry_at < deadline)
            deadline = u->ctl_retry_at;
    }
    long curl_ms = -1;
    curl_multi_timeout(u->multi, &curl_ms);
    if (curl_ms >= 0 && now + curl_ms < deadline)
        deadline = now + curl_ms;
    return deadline <= now ? 0 : (int)(deadline - now);
}

static void *uploader_thread(void *arg)
{
    ls_uploader *u = arg;
    ls_nice_thread(u->o.nice); /* uploading yields to the steps on a busy machine */
    for (;;) {
        atomic_store(&u->wake_pending, false);
        pthread_mutex_lock(&u->lock);
        bool stop = u->stop;
        ls_upload_stream *list = u->streams;
        pthread_mutex_unlock(&u->lock);
        if (stop)
            break;
        int64_t now = ls_mono_ms();
        for (ls_upload_stream *s = list; s; s = s->next)
            tick_stream(s, now);
        start_control(u, now);
        int running;
        curl_multi_perform(u->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(u->multi, &left))) {
            if (msg->msg == CURLMSG_DONE)
                dispatch_done(u, msg);
        }
        signal_changed(u);
        if (atomic_load(&u->wake_pending))
            continue;
        curl_multi_poll(u->multi, NULL, 0, poll_timeout(u, list, ls_mono_ms()), NULL);
    }
    return NULL;
}

/* ---- public API ---- */

static void apply_defaults(ls_uploader_options *o)
{
#define DEF(field, value)                                                                          \
    if (o->field <= 0)                                                                             \
    o->field = (value)
    DEF(heartbeat_ms, 15000);
    DEF(rotate_age_ms, 5 * 60 * 1000);
    DEF(rotate_bytes, 64LL * 1024 * 1024);
    DEF(stall_timeout_ms, 10000);
    DEF(batch_interval_ms, 1000);
    DEF(batch_max_bytes, 1024 * 1024);
    DEF(backoff_base_ms, 100);
    DEF(backoff_max_ms, 5000);
    DEF(connect_timeout_ms, 10000);
    DEF(request_timeout_ms, 30000);
#undef DEF
}

int ls_uploader_new(const ls_uploader_options *opts, ls_uploader **ret)
{
    ls_uploader *u = ls_xcalloc(1, sizeof(*u));
    u->o = *opts;
    apply_defaults(&u->o);
    u->server = ls_xstrdup(opts->server);
    size_t n = strlen(u->server);
    while (n > 0 && u->server[n - 1] == '/')
        u->server[--n] = '\0';
    u->token = ls_xstrdup(opts->token);
    u->batch_mode = u->o.transport == LS_TRANSPORT_BATCH;
    u->stats.batch_mode = u->batch_mode;
    ls_backoff_init(&u->ctl_backoff, u->o.backoff_base_ms, u->o.backoff_max_ms, 0);
    pthread_mutex_init(&u->lock, NULL);
    pthread_cond_init(&u->changed, NULL);
    atomic_init(&u->wake_pending, false);
    pthread_mutex_init(&u->unlink_lock, NULL);
    pthread_cond_init(&u->unlink_cond, NULL);
    u->multi = curl_multi_init();
    if (!u->multi) {
        ls_uploader_free(u);
        return -ENOMEM;
    }
    int r = pthread_create(&u->unlinker, NULL, unlinker_thread, u);
    if (r != 0) {
        ls_uploader_free(u);
        return -r;
    }
    u->unlinker_started = true;
    r = pthread_create(&u->thread, NULL, uploader_thread, u);
    if (r != 0) {
        ls_uploader_free(u);
        return -r;
    }
    u->thread_started = true;
    *ret = u;
    return 0;
}

static void free_stream(ls_uploader *u, ls_upload_stream *s)
{
    drop_req(u, &s->active);
    drop_req(u, &s->progress);
    ls_buf_free(&s->out);
    ls_spool_free(s->spool);
    free(s->completion_json);
    free(s->stream_url);
    free(s);
}

void ls_uploader_free(ls_uploader *u)
{
    if (!u)
        return;
    if (u->thread_started) {
        pthread_mutex_lock(&u->lock);
        u->stop = true;
        pthread_mutex_unlock(&u->lock);
        curl_multi_wakeup(u->multi);
        pthread_join(u->thread, NULL);
    }
    /* Let the unlinker finish the deletions already queued. */
    if (u->unlinker_started) {
        pthread_mutex_lock(&u->unlink_lock);
        u->unlink_stop = true;
        pthread_cond_signal(&u->unlink_cond);
        pthread_mutex_unlock(&u->unlink_lock);
        pthread_join(u->unlinker, NULL);
    }
    while (u->streams) {
        ls_upload_stream *s = u->streams;
        u->streams = s->next;
        free_stream(u, s);
    }
    drop_req(u, &u->ctl_active);
    while (u->ctl_head)
        pop_control(u, false);
    if (u->multi)
        curl_multi_cleanup(u->multi);
    pthread_cond_destroy(&u->changed);
    pthread_mutex_destroy(&u->lock);
    pthread_cond_destroy(&u->unlink_cond);
    pthread_mutex_destroy(&u->unlink_lock);
    free(u->server);
    free(u->token);
    free(u);
}

int ls_uploader_open_stream(ls_uploader *u, long long build_id, int step, ls_spool *spool,
                            ls_upload_stream **ret)
{
    ls_upload_stream *s = ls_xcalloc(1, sizeof(*s));
    s->u = u;
    s->build_id = build_id;
    s->step = step;
    s->spool = spool;
    s->state = S_NEED_PROBE;
    ls_backoff_init(&s->backoff, u->o.backoff_base_ms, u->o.backoff_max_ms, 0);
    size_t n = strlen(u->server) + 96;
    s->stream_url = ls_xmalloc(n);
    snprintf(s->stream_url, n, "%s/api/v1/builds/%lld/steps/%d/stream", u->server, build_id, step);
    /* Prepend: the thread walks the list without the lock; a new head does
     * not disturb a walk already under way. */
    pthread_mutex_lock(&u->lock);
    s->next = u->streams;
    u->streams = s;
    u->stats.streams++;
    pthread_mutex_unlock(&u->lock);
    wake(u);
    *ret = s;
    return 0;
}

int ls_upload_stream_push(ls_upload_stream *s, const ls_line *line)
{
    int r = ls_spool_append(s->spool, line);
    if (r == 0 && !s->held)
        wake(s->u);
    return r;
}

void ls_upload_stream_hold(ls_upload_stream *s)
{
    ls_spool_hold(s->spool);
    s->held = true;
}

void ls_upload_stream_release(ls_upload_stream *s)
{
    s->held = false;
    ls_spool_release(s->spool);
    wake(s->u);
}

void ls_upload_stream_close(ls_upload_stream *s, const char *completion_json)
{
    /* No flush here: the uploader thread writes the pending lines before it
     * sends them, and the executor's thread does no I/O for the spool. */
    pthread_mutex_lock(&s->u->lock);
    s->closed = true;
    free(s->completion_json);
    s->completion_json = ls_xstrdup(completion_json);
    pthread_mutex_unlock(&s->u->lock);
    wake(s->u);
}

uint64_t ls_upload_stream_last_seq(ls_upload_stream *s)
{
    return ls_spool_last_seq(s->spool);
}

void ls_uploader_request(ls_uploader *u, const char *method, const char *path,
                         const char *json_body)
{
    control_req *c = ls_xcalloc(1, sizeof(*c));
    c->method = ls_xstrdup(method);
    c->path = ls_xstrdup(path);
    c->body = ls_xstrdup(json_body);
    pthread_mutex_lock(&u->lock);
    if (u->ctl_tail)
        u->ctl_tail->next = c;
    else
        u->ctl_head = c;
    u->ctl_tail = c;
    pthread_mutex_unlock(&u->lock);
    wake(u);
}

static bool all_done_locked(ls_uploader *u)
{
    if (u->ctl_head)
        return false;
    return u->stats.confirmed + u->stats.failed == u->stats.streams;
}

int ls_uploader_drain(ls_uploader *u, int64_t deadline_ms)
{
    int r = 0;
    pthread_mutex_lock(&u->lock);
    while (!all_done_locked(u)) {
        int64_t left = deadline_ms - ls_mono_ms();
        if (left <= 0) {
            r = -ETIMEDOUT;
            break;
        }
        if (left > 200)
            left = 200;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(left % 1000) * 1000000L;
        ts.tv_sec += (time_t)(left / 1000) + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&u->changed, &u->lock, &ts);
    }
    pthread_mutex_unlock(&u->lock);
    return r;
}

void ls_uploader_get_stats(ls_uploader *u, ls_uploader_stats *ret)
{
    pthread_mutex_lock(&u->lock);
    *ret = u->stats;
    pthread_mutex_unlock(&u->lock);
}
