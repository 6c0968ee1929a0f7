/* Server metrics: lock-free counters updated on the hot paths and rendered
 * in the Prometheus text format for GET /metrics. */
#ifndef LS_SERVER_METRICS_H
#define LS_SERVER_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "server/tool_counters.h"

/* Why an ingest request was refused (label "code" of
 * logstream_ingest_rejected_total). */
typedef enum {
    LS_REJECT_BAD_RECORD,
    LS_REJECT_SEQ_GAP,
    LS_REJECT_LINE_TOO_LONG,
    LS_REJECT_REQUEST_TOO_LARGE,
    LS_REJECT_UNSUPPORTED_MEDIA_TYPE,
    LS_REJECT_NOT_FOUND,
    LS_REJECT_STORAGE_FULL,
    LS_REJECT_COUNT
} ls_reject_code;

/* Upper bounds (seconds) of the flush latency histogram buckets. */
#define LS_FLUSH_BUCKETS 12

typedef struct ls_metrics {
    atomic_uint_fast64_t lines_ingested;
    atomic_uint_fast64_t bytes_ingested;
    atomic_uint_fast64_t duplicates;
    atomic_int_fast64_t active_streams;
    atomic_int_fast64_t sse_clients;
    atomic_uint_fast64_t sse_disconnected_slow;
    atomic_uint_fast64_t rejected[LS_REJECT_COUNT];
    atomic_uint_fast64_t flush_errors;
    atomic_uint_fast64_t flush_bucket[LS_FLUSH_BUCKETS]; /* not cumulative */
    atomic_uint_fast64_t flush_count;
    atomic_uint_fast64_t flush_sum_ns;
    atomic_uint_fast64_t flushed_lines;
    atomic_uint_fast64_t backpressure_waits;
    atomic_uint_fast64_t throttle_waits; /* ingest paused by --max-request-rate */
    atomic_uint_fast64_t throttled_ns;   /* and for how long, in total */
    /* size limits and retention (limits.h) */
    atomic_uint_fast64_t dropped_lines; /* lines dropped from the middle of logs */
    atomic_uint_fast64_t dropped_bytes;
    atomic_uint_fast64_t limit_errors;
    atomic_uint_fast64_t retention_deleted_builds;
    /* the last flush failed for lack of space (disk full or --max-disk):
     * ingest answers 507 until a flush succeeds */
    atomic_bool storage_full;
    ls_tool_counters tool_usage; /* logstream_tool_usage_total{tool,action} */
} ls_metrics;

/* Zeroes every counter. */
void ls_metrics_init(ls_metrics *m);

/* The code's label value, e.g. "seq_gap" (also the API's error code). */
const char *ls_reject_code_name(ls_reject_code c);

void ls_metrics_reject(ls_metrics *m, ls_reject_code c);

/* Records one flush that took ns nanoseconds and stored lines lines. */
void ls_metrics_observe_flush(ls_metrics *m, int64_t ns, uint64_t lines);

/* Gauges owned by other modules, sampled at render time. */
typedef struct ls_metrics_gauges {
    uint64_t pending_bytes; /* accepted, not yet durable */
    uint64_t live_steps;    /* steps with a live object */
} ls_metrics_gauges;

/* Appends the Prometheus text exposition of m and g to out. */
void ls_metrics_render(ls_metrics *m, const ls_metrics_gauges *g, ls_buf *out);

/* Appends one counter / gauge in the Prometheus text format (HELP, TYPE and
 * the sample) to out: for other modules' metrics (server/fanout.c). */
void ls_metrics_counter(ls_buf *out, const char *name, const char *help, uint64_t v);
void ls_metrics_gauge(ls_buf *out, const char *name, const char *help, int64_t v);

#endif
