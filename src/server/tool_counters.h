/* The labelled counter logstream_tool_usage_total{tool,action} of /metrics:
 * tool-usage events stored by POST /api/v1/builds/{build}/tool-usage (new
 * events only, dry runs excluded). A fixed table of (tool, action) pairs
 * behind a mutex; it lives inside ls_metrics. */
#ifndef LS_SERVER_TOOL_COUNTERS_H
#define LS_SERVER_TOOL_COUNTERS_H

#include <pthread.h>
#include <stdint.h>

#include "common/buf.h"

/* Distinct (tool, action) label pairs kept; later pairs are counted under
 * tool="other", action="other" so a publisher cannot grow /metrics without bound. */
#define LS_TOOL_COUNTERS_MAX 128

typedef struct ls_tool_counter {
    char tool[33];
    char action[33];
    uint64_t n;
} ls_tool_counter;

typedef struct ls_tool_counters {
    pthread_mutex_t lock;
    ls_tool_counter c[LS_TOOL_COUNTERS_MAX];
    size_t n;
    uint64_t other;
} ls_tool_counters;

/* Initialises an empty table. */
void ls_tool_counters_init(ls_tool_counters *t);

/* Adds n to the counter of (tool, action): each 1..32 bytes of [a-z0-9._-]
 * (the server validates them before). */
void ls_tool_counters_add(ls_tool_counters *t, const char *tool, const char *action, uint64_t n);

/* Appends the counter in the Prometheus text format (HELP and TYPE even when
 * nothing was counted yet). */
void ls_tool_counters_render(ls_tool_counters *t, ls_buf *out);

#endif
