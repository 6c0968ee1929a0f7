/* The forward plugin's wire formats: a batch of log records encoded as a
 * Grafana Loki push request (JSON), NDJSON, or RFC 5424 syslog messages.
 * Pure functions over a record array, so they are unit tested directly. */
#ifndef LS_PLUGINS_FORWARD_ENCODE_H
#define LS_PLUGINS_FORWARD_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* One forwarded line. */
typedef struct ls_fw_record {
    const char *text; /* len bytes, any bytes */
    size_t len;
    size_t step;   /* index into the labels' steps */
    uint64_t seq;  /* 1-based line number within its step, as the plugin received it */
    int64_t ts_ns; /* unix time in ns when the plugin received the line */
} ls_fw_record;

/* What every record is labelled with. */
typedef struct ls_fw_labels {
    const char *build;             /* build id */
    const char *const *step_ids;   /* by step index */
    const char *const *step_names; /* by step index */
    const char *const *extra_keys; /* extra static labels (settings "labels") */
    const char *const *extra_values;
    size_t n_extra;
} ls_fw_labels;

/* Loki push API body (POST /loki/api/v1/push, Content-Type
 * application/json): consecutive records of one step form one stream
 * {"job":"logstream","build":B,"step":ID,"step_name":NAME,extra...}; each
 * value is ["<ts_ns>","<line>"]. */
void ls_fw_encode_loki(const ls_fw_labels *l, const ls_fw_record *r, size_t n, ls_buf *out);

/* NDJSON, one object a line:
 * {"ts":"2026-11-23T19:30:00.123456789Z","ts_ns":N,"build":B,"step":ID,
 *  "step_name":NAME,"seq":N,"line":TEXT[,"labels":{...}]} */
void ls_fw_encode_ndjson(const ls_fw_labels *l, const ls_fw_record *r, size_t n, ls_buf *out);

/* The same, one record at a time, for an encoder that keeps the labels:
 * ls_fw_ndjson_labels() appends a step's "build":…,"step":…,"step_name":…
 * and ls_fw_ndjson_extra() the ,"labels":{…} part ("" without extra labels);
 * ls_fw_encode_ndjson_record() appends one NDJSON line with them. */
void ls_fw_ndjson_labels(const ls_fw_labels *l, size_t step, ls_buf *out);
void ls_fw_ndjson_extra(const ls_fw_labels *l, ls_buf *out);
void ls_fw_encode_ndjson_record(const char *labels, size_t labels_len, const char *extra,
                                size_t extra_len, const ls_fw_record *r, ls_buf *out);

typedef struct ls_fw_syslog_opts {
    int facility;         /* 0..23 (1 = user) */
    const char *hostname; /* printable ASCII, no spaces; "" = "-" */
    const char *app_name; /* printable ASCII, no spaces */
    bool octet_counting;  /* TCP: "LEN SP MSG" framing (RFC 6587); UDP: false */
    size_t max_message;   /* cut longer messages (UDP datagrams); 0 = no limit */
} ls_fw_syslog_opts;

/* RFC 5424 messages, severity informational:
 * <PRI>1 TIMESTAMP HOST APP - - [logstream@32473 build="B" step="ID"
 * step_name="NAME" seq="N" extra...] LINE
 * With octet_counting each is framed "LEN SP MSG" (RFC 6587) and they are
 * concatenated; otherwise they are concatenated unframed and *ret_ends (n
 * entries, may be NULL) receives the end offset of each in out, for sending
 * one datagram each. Returns how many messages were cut to max_message. */
size_t ls_fw_encode_syslog(const ls_fw_labels *l, const ls_fw_syslog_opts *o, const ls_fw_record *r,
                           size_t n, ls_buf *out, size_t *ret_ends);

/* Formats unix ns as RFC 3339 UTC with `digits` fractional digits (1..9). */
void ls_fw_format_time(int64_t ts_ns, int digits, char *out, size_t size);

#endif
