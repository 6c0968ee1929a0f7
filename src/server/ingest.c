#include "server/ingest.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/linesplit.h"
#include "common/record.h"
#include "common/timeutil.h"
#include "server/fanout.h"
#include "server/flusher.h"
#include "server/linesource.h"
#include "server/live.h"
#include "server/ratelimit.h"
#include "server/sse_ping.h"
#include "server/waker.h"

/* Longest "SEQ\tTS\tS+\t" prefix of a record: 20 + 1 + 20 + 1 + 2 + 1. */
#define RECORD_HEADER_MAX 48

#define STORAGE_FULL_MESSAGE                                                                       \
    "the server is out of storage space (disk full or --max-disk reached) and cannot store "       \
    "more lines now: keep them and retry later (GET .../stream says what is stored)"

typedef struct ingest {
    ls_server *srv;
    ls_live_step *step;
    ls_ingest_mode mode;
    ls_linesplit *split;
    ls_waker waker;
    ls_live_sub sub; /* LS_LIVE_EV_DURABLE while waiting for durability */
    bool subscribed;
    ls_flusher_waiter space;
    uint64_t body_bytes;
    uint64_t records, accepted, duplicates, bytes;
    int64_t now_ms; /* stamp of raw-text lines of the current piece */
    bool body_done;
    uint64_t target_seq; /* durable_seq to wait for */
    unsigned err_status; /* 0 = no error */
    ls_reject_code err_code;
    char err_msg[300];
    json_t *err_extra;
    int64_t err_at_ms; /* monotonic */
    uint64_t drained;
    bool writer; /* ls_live_writer_begin was called (several instances, --nats) */
    ls_buf pub;  /* lines accepted by the current feed, for the other instances */

    ls_ratelimit rate;       /* --max-request-rate */
    ls_wakeup rate_wakeup;   /* the timer that resumes a throttled request */
    int64_t throttled_at_ns; /* monotonic start of the current pause, 0 = none */
} ingest;

/* Counts the time the request was paused by --max-request-rate. */
static void throttle_ended(ingest *ing)
{
    if (!ing->throttled_at_ns)
        return;
    int64_t ns = ls_mono_ns() - ing->throttled_at_ns;
    atomic_fetch_add(&ing->srv->metrics.throttled_ns, (uint64_t)(ns > 0 ? ns : 0));
    ing->throttled_at_ns = 0;
}

static void ingest_free(void *arg)
{
    ingest *ing = arg;
    ls_pinger_cancel(ing->srv->pinger, &ing->rate_wakeup);
    throttle_ended(ing);
    if (ing->subscribed)
        ls_live_unsubscribe(ing->step, &ing->sub);
    if (ing->writer)
        ls_live_writer_end(ing->step);
    ls_buf_free(&ing->pub);
    ls_flusher_cancel_wait(ing->srv->flusher, &ing->space);
    ls_waker_destroy(&ing->waker);
    ls_linesplit_free(ing->split);
    ls_live_release(ing->step);
    json_decref(ing->err_extra);
    atomic_fetch_sub(&ing->srv->metrics.active_streams, 1);
    free(ing);
}

static void wake_on_durable(ls_live_sub *sub, unsigned events, const ls_live_state *st)
{
    ingest *ing = (ingest *)((char *)sub - offsetof(ingest, sub));
    ls_waker_wake(&ing->waker);
}

/* Records the request's (first) error; the splitter stops on the return. */
static int fail(ingest *ing, unsigned status, ls_reject_code code, json_t *extra, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));
static int fail(ingest *ing, unsigned status, ls_reject_code code, json_t *extra, const char *fmt,
                ...)
{
    if (ing->err_status) {
        json_decref(extra);
        return -ECANCELED;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ing->err_msg, sizeof(ing->err_msg), fmt, ap);
    va_end(ap);
    ing->err_status = status;
    ing->err_at_ms = ls_mono_ms();
    ing->err_code = code;
    ing->err_extra = extra;
    ls_metrics_reject(&ing->srv->metrics, code);
    return -ECANCELED;
}

/* Appends one line under the step's lock (held around the whole feed). */
static int append(ingest *ing, const ls_line *line)
{
    int rc = ls_live_append_locked(ing->step, line);
    if (rc == 0) {
        ing->accepted++;
        ing->bytes += line->len;
        if (ing->srv->fanout)
            ls_fanout_lines_add(&ing->pub, line);
        return 0;
    }
    if (rc == -EEXIST) {
        ing->duplicates++;
        return 0;
    }
    uint64_t expected = ls_live_next_seq_locked(ing->step);
    if (rc == -ERANGE)
        return fail(ing, MHD_HTTP_CONFLICT, LS_REJECT_SEQ_GAP,
                    json_pack("{s:I,s:I}", "expected", (json_int_t)expected, "record",
                              (json_int_t)ing->records),
                    "record %llu has seq %llu but the next seq of this step is %llu: resend "
                    "from seq %llu",
                    (unsigned long long)ing->records, (unsigned long long)line->seq,
                    (unsigned long long)expected, (unsigned long long)expected);
    return fail(ing, MHD_HTTP_CONTENT_TOO_LARGE, LS_REJECT_LINE_TOO_LONG,
                json_pack("{s:I}", "record", (json_int_t)ing->records),
                "record %llu is longer than the line limit", (unsigned long long)ing->records);
}

static int on_record(void *arg, const char *text, size_t len, bool continued)
{
    ingest *ing = arg;
    size_t max_line = (size_t)ing->srv->cfg.max_line;
    ing->records++;
    if (continued)
        return fail(ing, MHD_HTTP_CONTENT_TOO_LARGE, LS_REJECT_LINE_TOO_LONG,
                    json_pack("{s:I,s:I}", "record", (json_int_t)ing->records, "max_line",
                              (json_int_t)max_line),
                    "record %llu is longer than the line limit of %zu bytes: split long lines "
                    "and mark them continued (o+/e+)",
                    (unsigned long long)ing->records, max_line);
    ls_line line;
    const char *perr = NULL;
    int rc = ls_record_parse(text, len, max_line, &line, &perr);
    if (rc == -E2BIG)
        return fail(ing, MHD_HTTP_CONTENT_TOO_LARGE, LS_REJECT_LINE_TOO_LONG,
                    json_pack("{s:I,s:I}", "record", (json_int_t)ing->records, "max_line",
                              (json_int_t)max_line),
                    "record %llu: text is longer than the line limit of %zu bytes",
                    (unsigned long long)ing->records, max_line);
    if (rc < 0)
        return fail(ing, MHD_HTTP_BAD_REQUEST, LS_REJECT_BAD_RECORD,
                    json_pack("{s:I}", "record", (json_int_t)ing->records),
                    "record %llu is malformed: %s", (unsigned long long)ing->records,
                    perr ? perr : "unparsable");
    if (line.stream == LS_STREAM_HEARTBEAT)
        return 0;
    return append(ing, &line);
}

static int on_text_line(void *arg, const char *text, size_t len, bool continued)
{
    ingest *ing = arg;
    ing->records++;
    ls_line line = {
        .seq = ls_live_next_seq_locked(ing->step),
        .ts_ms = ing->now_ms,
        .stream = LS_STREAM_STDOUT,
        .continued = continued,
        .len = (uint32_t)len,
        .text = text,
    };
    return append(ing, &line);
}

static enum MHD_Result ingest_begin(ls_req *r)
{
    ls_server *srv = r->srv;
    ls_ingest_mode mode;
    if (ls_ingest_mode_parse(ls_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE), &mode) < 0) {
        ls_metrics_reject(&srv->metrics, LS_REJECT_UNSUPPORTED_MEDIA_TYPE);
        return ls_req_respond_error(
            r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
            "send records as application/x-logstream-records, or raw text as text/plain", NULL);
    }
    if (atomic_load(&srv->metrics.storage_full)) {
        ls_metrics_reject(&srv->metrics, LS_REJECT_STORAGE_FULL);
        return ls_req_respond_error(r, MHD_HTTP_INSUFFICIENT_STORAGE, "insufficient_storage",
                                    STORAGE_FULL_MESSAGE, NULL);
    }
    ls_live_step *step = NULL;
    ls_step_info info;
    int rc = ls_linesource_open_step(srv, r->route.build, r->route.step, &step, &info);
    if (rc < 0) {
        char msg[200];
        if (rc == -ENOENT) {
            ls_metrics_reject(&srv->metrics, LS_REJECT_NOT_FOUND);
            snprintf(msg, sizeof(msg), "build %lld has no step %d (create the build first)",
                     (long long)r->route.build, r->route.step);
            return ls_req_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", msg, NULL);
        }
        snprintf(msg, sizeof(msg), "storage failed: %s", ls_store_last_error());
        return ls_req_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_error", msg, NULL);
    }
    ingest *ing = ls_xcalloc(1, sizeof(*ing));
    ing->srv = srv;
    ing->step = step;
    ing->mode = mode;
    if (srv->fanout) {
        /* several instances: the worker may come from another one, resuming
         * from what the store holds; from now on this instance stores the
         * step's lines it accepts (ls_live_writer_begin) */
        ls_live_init init;
        ls_linesource_init_of(&info, &init);
        ls_live_writer_begin(step, &init);
        ing->writer = true;
    }
    ls_waker_init(&ing->waker, srv->wakers, r->conn);
    ls_ratelimit_init(&ing->rate, (uint64_t)srv->cfg.max_request_rate, 0, ls_mono_ns());
    ing->sub.events = LS_LIVE_EV_DURABLE;
    ing->sub.notify = wake_on_durable;
    ing->space.waker = &ing->waker;
    size_t max_line = (size_t)srv->cfg.max_line;
    ing->split = mode == LS_INGEST_RECORDS
                     ? ls_linesplit_new(max_line + RECORD_HEADER_MAX, on_record, ing)
                     : ls_linesplit_new(max_line, on_text_line, ing);
    atomic_fetch_add(&srv->metrics.active_streams, 1);
    r->state = ing;
    r->state_free = ingest_free;
    return MHD_YES;
}

/* Feeds len bytes of body under the step's lock; updates the metrics. */
static void feed(ingest *ing, const char *data, size_t len, bool flush)
{
    uint64_t acc0 = ing->accepted, bytes0 = ing->bytes, dup0 = ing->duplicates;
    ing->now_ms = ls_now_ms();
    ls_live_lock(ing->step);
    if (len)
        ls_linesplit_feed(ing->split, data, len);
    if (flush && !ing->err_status)
        ls_linesplit_flush(ing->split);
    ls_live_unlock(ing->step);
    if (ing->pub.len) {
        ls_fanout_publish_lines(ing->srv->fanout, ls_live_step_build(ing->step),
                                ls_live_step_number(ing->step), ing->pub.data, ing->pub.len);
        ls_buf_reset(&ing->pub);
    }
    ls_metrics *m = &ing->srv->metrics;
    if (ing->accepted != acc0) {
        atomic_fetch_add(&m->lines_ingested, ing->accepted - acc0);
        atomic_fetch_add(&m->bytes_ingested, ing->bytes - bytes0);
        ls_flusher_note_pending(ing->srv->flusher);
    }
    if (ing->duplicates != dup0)
        atomic_fetch_add(&m->duplicates, ing->duplicates - dup0);
}

/* Backpressure: true when the request was suspended until the flusher
 * catches up (the caller must not consume the data). */
static bool pause_for_space(ls_req *r, ingest *ing)
{
    uint64_t max = (uint64_t)r->srv->cfg.max_pending;
    for (;;) {
        if (!ls_waker_arm(&ing->waker))
            return false; /* shutting down: take it, the final flush stores it */
        if (ls_live_pending_bytes(r->srv->live) <= max)
            return false;
        ls_flusher_wait_space(r->srv->flusher, &ing->space);
        if (ls_waker_suspend(&ing->waker)) {
            atomic_fetch_add(&r->srv->metrics.backpressure_waits, 1);
            return true;
        }
    }
}

/* The body rate limit (--max-request-rate): returns how many of the `want`
 * bytes on offer the request may take now. Unless that is all of them, the
 * request has been suspended and the server's timer thread resumes it when
 * the token bucket has refilled; MHD then offers the rest again. The caller
 * consumes exactly the bytes returned (0: none). Never sleeps. */
static size_t throttle(ls_req *r, ingest *ing, size_t want)
{
    if (!ls_ratelimit_active(&ing->rate))
        return want;
    size_t got = 0;
    for (;;) {
        if (!ls_waker_arm(&ing->waker))
            return want; /* shutting down: take it, the final flush stores it */
        int64_t now = ls_mono_ns();
        got += ls_ratelimit_take(&ing->rate, want - got, now);
        if (got == want)
            return got;
        int64_t at_ns = now + ls_ratelimit_wait_ns(&ing->rate, want - got, now);
        ls_pinger_wake_at(r->srv->pinger, &ing->rate_wakeup, &ing->waker,
                          (at_ns + 999999) / 1000000);
        if (ls_waker_suspend(&ing->waker)) {
            atomic_fetch_add(&r->srv->metrics.throttle_waits, 1);
            ing->throttled_at_ns = now;
            return got;
        }
        /* woken meanwhile (the timer, or the server stops): look again */
    }
}

static enum MHD_Result ingest_body(ls_req *r, const char *data, size_t *size)
{
    ingest *ing = r->state;
    throttle_ended(ing);
    if (!ing->err_status && atomic_load(&r->srv->metrics.storage_full))
        fail(ing, MHD_HTTP_INSUFFICIENT_STORAGE, LS_REJECT_STORAGE_FULL, NULL,
             STORAGE_FULL_MESSAGE);
    if (ing->err_status) {
        /* MHD cannot answer before the body ends (MHD_queue_response fails
         * during upload): read on for a little while so a short request gets
         * its JSON error, then drop the connection so that a long-lived
         * stream notices at once (its worker then asks GET .../stream). */
        const ls_server_config *c = &r->srv->cfg;
        ing->drained += *size;
        *size = 0;
        bool give_up = ing->drained > (uint64_t)c->error_drain_bytes ||
                       ls_mono_ms() - ing->err_at_ms > c->error_drain_ms;
        return give_up ? MHD_NO : MHD_YES;
    }
    if (pause_for_space(r, ing))
        return MHD_YES;
    size_t n = throttle(r, ing, *size);
    if (n == 0)
        return MHD_YES; /* suspended, nothing taken */
    uint64_t max = (uint64_t)r->srv->cfg.max_request_bytes;
    bool too_large = ing->body_bytes + n > max;
    if (too_large)
        n = (size_t)(max - ing->body_bytes);
    ing->body_bytes += n;
    feed(ing, data, n, false);
    /* the rest (if throttled) is offered again when the timer resumes us */
    *size = too_large ? 0 : *size - n;
    if (too_large && !ing->err_status)
        fail(ing, MHD_HTTP_CONTENT_TOO_LARGE, LS_REJECT_REQUEST_TOO_LARGE, NULL,
             "the request body is larger than --max-request-bytes (%llu): end the request and "
             "continue in a new one",
             (unsigned long long)max);
    return MHD_YES;
}

static json_t *counters(ingest *ing, const ls_live_state *st)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I}", "durable_seq", (json_int_t)st->durable_seq,
                     "received_seq", (json_int_t)st->received_seq, "bytes",
                     (json_int_t)st->durable_bytes, "accepted", (json_int_t)ing->accepted,
                     "duplicates", (json_int_t)ing->duplicates);
}

static enum MHD_Result respond_error(ls_req *r, ingest *ing)
{
    ls_live_state st;
    ls_live_get_state(ing->step, &st);
    json_t *extra = counters(ing, &st);
    if (ing->err_extra)
        json_object_update(extra, ing->err_extra);
    return ls_req_respond_error(r, ing->err_status, ls_reject_code_name(ing->err_code),
                                ing->err_msg, extra);
}

static enum MHD_Result ingest_finish(ls_req *r)
{
    ingest *ing = r->state;
    if (!ing->body_done) {
        ing->body_done = true;
        if (!ing->err_status)
            feed(ing, NULL, 0, true); /* a last record without '\n' */
        if (ing->err_status)
            return respond_error(r, ing);
        ls_live_state st;
        ls_live_get_state(ing->step, &st);
        ing->target_seq = st.received_seq;
        ls_flusher_kick(r->srv->flusher);
    }
    for (;;) {
        bool open = ls_waker_arm(&ing->waker);
        ls_live_state st;
        ls_live_get_state(ing->step, &st);
        if (st.durable_seq >= ing->target_seq) {
            json_t *obj = counters(ing, &st);
            json_object_del(obj, "received_seq");
            return ls_req_respond_json(r, MHD_HTTP_OK, obj);
        }
        if (atomic_load(&r->srv->metrics.storage_full)) {
            ls_metrics_reject(&r->srv->metrics, LS_REJECT_STORAGE_FULL);
            return ls_req_respond_error(r, MHD_HTTP_INSUFFICIENT_STORAGE, "insufficient_storage",
                                        STORAGE_FULL_MESSAGE, counters(ing, &st));
        }
        if (!open)
            return ls_req_respond_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting_down",
                                        "the server is stopping; resend from durable_seq+1 "
                                        "after it restarts",
                                        counters(ing, &st));
        if (!ing->subscribed) {
            ls_live_subscribe(ing->step, &ing->sub);
            ing->subscribed = true;
            continue; /* look again: a flush may have ended meanwhile */
        }
        if (ls_waker_suspend(&ing->waker))
            return MHD_YES;
    }
}

static enum MHD_Result stream_status(ls_req *r)
{
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
    ls_live_state st;
    ls_live_get_state(step, &st);
    ls_live_release(step);
    return ls_req_respond_json(r, MHD_HTTP_OK,
                               json_pack("{s:I,s:I,s:I}", "durable_seq", (json_int_t)st.durable_seq,
                                         "received_seq", (json_int_t)st.received_seq, "bytes",
                                         (json_int_t)st.durable_bytes));
}

const ls_handler ls_ingest_handler = {
    .begin = ingest_begin, .body = ingest_body, .finish = ingest_finish};
const ls_handler ls_stream_status_handler = {.begin = stream_status};
