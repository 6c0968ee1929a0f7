/* Uploader: sends every step's log lines to the server (DESIGN.md, "Worker ->
 * server: the ingest stream"; docs/api.md, "Ingest").
 *
 * One thread drives all streams with one libcurl multi handle. The executor
 * side only appends to a stream's spool and wakes the thread (cheap, never
 * blocks on the network). Per stream the thread:
 *   1. asks GET .../stream for the server's durable_seq;
 *   2. streams records durable_seq+1, ... in one chunked POST, pausing the
 *      request (CURL_READFUNC_PAUSE) when there is nothing to send and
 *      resuming it when lines arrive; a heartbeat record goes out after
 *      heartbeat_ms of silence; the request is ended and a new one started
 *      after rotate_age_ms or rotate_bytes;
 *   3. on any failure (refused, reset, timeout, 5xx, 408, 429, 409 seq_gap)
 *      waits a capped, jittered backoff and starts again at 1. — the server
 *      ignores the duplicates this may resend;
 *   4. once the stream is closed and the server reports durable_seq and bytes
 *      equal to the spool's last seq and byte count, queues the stream's
 *      completion request (the step's final PATCH), so viewers have every
 *      line before the step ends, and closes the spool; a second thread
 *      deletes the file (freeing a large file's page cache takes tens of ms,
 *      which neither the PATCH nor the other streams wait for).
 * The lines go to the server from the spool's in-memory tail while the
 * uploader keeps up, and are read back from the file only for resends
 * (spool.h: a line is sent only once its write() to the file returned).
 * Batch transport: a POST with Content-Length carrying the records after
 * durable_seq (at most batch_max_bytes) every batch_interval_ms. In auto mode
 * the uploader starts with streams and switches to batch for good (all
 * streams) when a stream holds data the server has not made durable for
 * stall_timeout_ms (checked with GET .../stream), e.g. behind a proxy that
 * buffers request bodies; it says so through the notice callback.
 *
 * A 400 (bad_record), 413 (line_too_long), 404 or other 4xx answer to an
 * upload is not retried: resending the same bytes would fail again, and
 * skipping a record would leave a gap the server refuses. The stream is marked
 * failed, the notice callback gets the server's message, the spool is kept
 * for inspection, and the completion request is still sent so the step ends.
 *
 * Control requests (build/step PATCHes) go through one FIFO, one at a time and
 * in order, retried like uploads on transient failures; a 4xx is reported and
 * dropped.
 *
 * The caller must have called curl_global_init() before ls_uploader_new(). */
#ifndef LS_WORKER_UPLOADER_H
#define LS_WORKER_UPLOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/line.h"
#include "worker/spool.h"

typedef enum {
    LS_TRANSPORT_AUTO,
    LS_TRANSPORT_STREAM,
    LS_TRANSPORT_BATCH,
} ls_transport;

/* Parses "auto", "stream" or "batch". Returns 0 or -EINVAL. */
int ls_transport_parse(const char *s, ls_transport *ret);

/* Called from the uploader thread with a one-line message for the user. */
typedef void (*ls_uploader_notice_cb)(void *userdata, const char *message);

typedef struct ls_uploader_options {
    const char *server; /* base URL, e.g. "http://127.0.0.1:8080" */
    const char *token;  /* NULL = none; sent as "Authorization: Bearer TOKEN" */
    ls_transport transport;
    int64_t heartbeat_ms;       /* 0 = 15 s */
    int64_t rotate_age_ms;      /* 0 = 5 min */
    int64_t rotate_bytes;       /* 0 = 64 MiB */
    int64_t stall_timeout_ms;   /* 0 = 10 s */
    int64_t batch_interval_ms;  /* 0 = 1 s */
    int64_t batch_max_bytes;    /* 0 = 1 MiB: body limit of one batch request */
    int64_t backoff_base_ms;    /* 0 = 100 ms */
    int64_t backoff_max_ms;     /* 0 = 5 s */
    int64_t connect_timeout_ms; /* 0 = 10 s */
    int64_t request_timeout_ms; /* 0 = 30 s: probes, batches and control requests */
    int nice;                   /* the upload thread's nice value is raised by this (0..19) */
    ls_uploader_notice_cb notice;
    void *notice_userdata;
} ls_uploader_options;

typedef struct ls_uploader ls_uploader;
typedef struct ls_upload_stream ls_upload_stream;

/* Creates the uploader and starts its thread. Returns 0 and *ret, or a
 * negative errno. */
int ls_uploader_new(const ls_uploader_options *opts, ls_uploader **ret);

/* Stops the thread (abandoning whatever is not confirmed: spools stay on disk,
 * their pending lines written), waits for the deletion of confirmed spools
 * and frees every stream. NULL is a no-op. */
void ls_uploader_free(ls_uploader *u);

/* Starts uploading step `step` of build `build_id` from spool, which the
 * stream takes over (also on failure). Lines already in the spool are sent
 * too. *ret stays valid until ls_uploader_free. Returns 0 or a negative errno. */
int ls_uploader_open_stream(ls_uploader *u, long long build_id, int step, ls_spool *spool,
                            ls_upload_stream **ret);

/* Appends a line (seq must be the spool's last seq + 1) and wakes the
 * uploader. Called from the executor's thread, once per line: it formats the
 * record into memory under a short lock and does no I/O (the uploader writes
 * the spool) unless the uploader has fallen the spool's max_pending bytes
 * behind. Returns 0 or the spool's negative errno. */
int ls_upload_stream_push(ls_upload_stream *s, const ls_line *line);

/* A run of pushes under one lock (ls_spool_hold): pushes between hold and
 * release take no lock each and wake the uploader once, at the release. For
 * the lines of one read; never hold across a wait. */
void ls_upload_stream_hold(ls_upload_stream *s);
void ls_upload_stream_release(ls_upload_stream *s);

/* No more lines. Once the server has confirmed them all, the uploader sends
 * "PATCH /api/v1/builds/{build}/steps/{step}" with completion_json (NULL = no
 * request). */
void ls_upload_stream_close(ls_upload_stream *s, const char *completion_json);

/* Last seq pushed and text bytes pushed so far. */
uint64_t ls_upload_stream_last_seq(ls_upload_stream *s);

/* Queues a control request (path starting with "/api/", JSON body or NULL)
 * behind those already queued. */
void ls_uploader_request(ls_uploader *u, const char *method, const char *path,
                         const char *json_body);

/* Waits until every stream is closed and confirmed (or failed) and the
 * control queue is empty, or until the monotonic time deadline_ms
 * (ls_mono_ms). Returns 0, or -ETIMEDOUT. Confirmed spool files may still be
 * being deleted; ls_uploader_free waits for that. */
int ls_uploader_drain(ls_uploader *u, int64_t deadline_ms);

typedef struct ls_uploader_stats {
    size_t streams;         /* opened */
    size_t confirmed;       /* server confirmed every line */
    size_t failed;          /* given up after a 4xx (spool kept) */
    size_t requests_failed; /* control requests answered with a 4xx */
    size_t reconnects;      /* uploads retried after a failure */
    bool batch_mode;        /* switched to (or configured for) batch */
} ls_uploader_stats;

/* A consistent snapshot of the counters. */
void ls_uploader_get_stats(ls_uploader *u, ls_uploader_stats *ret);

#endif
