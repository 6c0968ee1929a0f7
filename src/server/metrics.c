#include "server/metrics.h"

#include <inttypes.h>
#include <string.h>

static const double flush_bounds[LS_FLUSH_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
};

static const char *const reject_names[LS_REJECT_COUNT] = {
    [LS_REJECT_BAD_RECORD] = "bad_record",
    [LS_REJECT_SEQ_GAP] = "seq_gap",
    [LS_REJECT_LINE_TOO_LONG] = "line_too_long",
    [LS_REJECT_REQUEST_TOO_LARGE] = "request_too_large",
    [LS_REJECT_UNSUPPORTED_MEDIA_TYPE] = "unsupported_media_type",
    [LS_REJECT_NOT_FOUND] = "not_found",
    [LS_REJECT_STORAGE_FULL] = "insufficient_storage",
};

void ls_metrics_init(ls_metrics *m)
{
    memset(m, 0, sizeof(*m));
    ls_tool_counters_init(&m->tool_usage);
}

const char *ls_reject_code_name(ls_reject_code c)
{
    return c < LS_REJECT_COUNT ? reject_names[c] : "unknown";
}

void ls_metrics_reject(ls_metrics *m, ls_reject_code c)
{
    if (c < LS_REJECT_COUNT)
        atomic_fetch_add(&m->rejected[c], 1);
}

void ls_metrics_observe_flush(ls_metrics *m, int64_t ns, uint64_t lines)
{
    double s = (double)ns / 1e9;
    for (int i = 0; i < LS_FLUSH_BUCKETS; i++) {
        if (s <= flush_bounds[i]) {
            atomic_fetch_add(&m->flush_bucket[i], 1);
            break;
        }
    }
    atomic_fetch_add(&m->flush_count, 1);
    atomic_fetch_add(&m->flush_sum_ns, (uint64_t)(ns > 0 ? ns : 0));
    atomic_fetch_add(&m->flushed_lines, lines);
}

void ls_metrics_counter(ls_buf *out, const char *name, const char *help, uint64_t v)
{
    ls_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help, name, name,
                  v);
}

void ls_metrics_gauge(ls_buf *out, const char *name, const char *help, int64_t v)
{
    ls_buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRId64 "\n", name, help, name, name,
                  v);
}

static void render_flush_histogram(ls_metrics *m, ls_buf *out)
{
    const char *name = "logstream_flush_seconds";
    ls_buf_printf(out, "# HELP %s Time of one flush transaction to the store.\n", name);
    ls_buf_printf(out, "# TYPE %s histogram\n", name);
    uint64_t cum = 0;
    for (int i = 0; i < LS_FLUSH_BUCKETS; i++) {
        cum += atomic_load(&m->flush_bucket[i]);
        ls_buf_printf(out, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, flush_bounds[i], cum);
    }
    uint64_t count = atomic_load(&m->flush_count);
    ls_buf_printf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, count);
    ls_buf_printf(out, "%s_sum %.9f\n", name, (double)atomic_load(&m->flush_sum_ns) / 1e9);
    ls_buf_printf(out, "%s_count %" PRIu64 "\n", name, count);
}

void ls_metrics_render(ls_metrics *m, const ls_metrics_gauges *g, ls_buf *out)
{
    ls_metrics_counter(out, "logstream_lines_ingested_total", "Log lines accepted by ingest.",
                       atomic_load(&m->lines_ingested));
    ls_metrics_counter(out, "logstream_bytes_ingested_total",
                       "Text bytes of the lines accepted by ingest.",
                       atomic_load(&m->bytes_ingested));
    ls_metrics_counter(out, "logstream_duplicate_lines_total",
                       "Records ignored because the server already held their seq.",
                       atomic_load(&m->duplicates));
    ls_metrics_gauge(out, "logstream_active_streams", "Ingest requests in progress.",
                     atomic_load(&m->active_streams));
    ls_metrics_gauge(out, "logstream_sse_clients", "Connected Server-Sent Events clients.",
                     atomic_load(&m->sse_clients));
    ls_metrics_counter(out, "logstream_sse_disconnected_slow_total",
                       "SSE clients disconnected for falling more than --sse-max-lag behind.",
                       atomic_load(&m->sse_disconnected_slow));
    ls_buf_puts(out, "# HELP logstream_ingest_rejected_total Ingest requests refused, by code.\n"
                     "# TYPE logstream_ingest_rejected_total counter\n");
    for (int i = 0; i < LS_REJECT_COUNT; i++)
        ls_buf_printf(out, "logstream_ingest_rejected_total{code=\"%s\"} %" PRIu64 "\n",
                      reject_names[i], atomic_load(&m->rejected[i]));
    render_flush_histogram(m, out);
    ls_metrics_counter(out, "logstream_flushed_lines_total", "Lines made durable by the flusher.",
                       atomic_load(&m->flushed_lines));
    ls_metrics_counter(out, "logstream_flush_errors_total",
                       "Flush transactions that failed (retried).", atomic_load(&m->flush_errors));
    ls_metrics_counter(out, "logstream_backpressure_waits_total",
                       "Times an ingest request was paused because --max-pending was reached.",
                       atomic_load(&m->backpressure_waits));
    ls_metrics_counter(
        out, "logstream_ingest_throttled_total",
        "Times an ingest request was paused for sending faster than --max-request-rate.",
        atomic_load(&m->throttle_waits));
    ls_buf_printf(out,
                  "# HELP logstream_ingest_throttled_seconds_total Time ingest requests spent "
                  "paused by --max-request-rate.\n"
                  "# TYPE logstream_ingest_throttled_seconds_total counter\n"
                  "logstream_ingest_throttled_seconds_total %.6f\n",
                  (double)atomic_load(&m->throttled_ns) / 1e9);
    ls_metrics_counter(
        out, "logstream_dropped_lines_total",
        "Lines dropped from the middle of logs over --max-step-bytes/--max-build-bytes.",
        atomic_load(&m->dropped_lines));
    ls_metrics_counter(out, "logstream_dropped_bytes_total", "Text bytes of the dropped lines.",
                       atomic_load(&m->dropped_bytes));
    ls_metrics_counter(out, "logstream_limit_errors_total",
                       "Failed attempts to drop the middle of a log (retried at the next flush).",
                       atomic_load(&m->limit_errors));
    ls_metrics_counter(out, "logstream_retention_deleted_builds_total",
                       "Builds deleted because they finished longer ago than --retention.",
                       atomic_load(&m->retention_deleted_builds));
    ls_metrics_gauge(out, "logstream_storage_full",
                     "1 while the store is out of space (ingest answers 507), else 0.",
                     atomic_load(&m->storage_full) ? 1 : 0);
    ls_metrics_gauge(out, "logstream_pending_bytes", "Bytes accepted but not yet durable.",
                     (int64_t)g->pending_bytes);
    ls_metrics_gauge(out, "logstream_live_steps", "Steps with a live object in memory.",
                     (int64_t)g->live_steps);
    ls_tool_counters_render(&m->tool_usage, out);
}
