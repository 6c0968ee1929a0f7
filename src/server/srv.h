/* The server's shared state, seen by every server module (not by other
 * components: they use server.h). */
#ifndef LS_SERVER_SRV_H
#define LS_SERVER_SRV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/metrics.h"
#include "server/server.h"

struct ls_store;
struct ls_live;
struct ls_flusher;
struct ls_http;
struct ls_pinger;
struct ls_build_events;
struct ls_server_events;
struct ls_waker_set;
struct ls_limits;
struct ls_fanout;

/* Every limit of the server, from its flags (see server.c for defaults). */
typedef struct ls_server_config {
    char *listen;
    char *data_dir;
    char *database;        /* PostgreSQL URL, or NULL for DATA/logstream.db */
    int64_t database_pool; /* PostgreSQL connections */
    char *public_url;
    int64_t flush_interval_ms;
    int64_t max_line;
    int64_t max_connections;
    int64_t max_request_bytes;
    int64_t max_request_rate; /* body bytes/s of one ingest request, 0 = none */
    int64_t max_json_bytes;
    int64_t sse_max_lag_bytes;
    int64_t sse_max_lag_lines;
    int64_t sse_ping_ms;
    int64_t live_buffer;
    int64_t live_linger_ms;
    int64_t max_pending;
    /* size limits and retention (limits.h) */
    int64_t max_step_bytes;
    int64_t max_build_bytes; /* 0 = none */
    int64_t max_disk_bytes;  /* 0 = none (the disk's own size) */
    int64_t retention_ms;    /* 0 = keep builds forever */
    int64_t retention_interval_ms;
    int64_t idle_timeout_ms;
    int64_t connection_memory;
    int64_t error_drain_bytes;
    int64_t error_drain_ms;
    int64_t chunk_bytes;
    int64_t zstd_level;
    /* access control and TLS (auth.h) */
    bool public_read;
    bool public_metrics;
    char *admin_token_file;
    int64_t build_token_ttl_ms;
    char *tls_cert;
    char *tls_key;
    /* log search and the server-wide build events (search.h, server_events.h) */
    int64_t search_max_query;
    int64_t search_max_matches;
    int64_t events_backlog;
    /* test results and tool usage (routes_tests.h, routes_tools.h) */
    int64_t max_test_runs;     /* test runs stored per build */
    int64_t max_test_failures; /* failed tests listed per run */
    int64_t max_tool_events;   /* tool-usage events per POST */
    /* several instances on one database (fanout.h) */
    char *nats_url; /* NULL or "" = single instance */
    int64_t remote_poll_interval_ms;
    int64_t remote_safety_poll_ms; /* the same while NATS is healthy */
    int64_t nats_max_pending;
    int64_t nats_reconnect_wait_ms;
} ls_server_config;

struct ls_server {
    ls_server_config cfg;
    char *public_url; /* without a trailing '/' */
    char *listen_url; /* http://HOST:PORT actually bound */
    struct ls_store *store;
    struct ls_live *live;
    struct ls_flusher *flusher;
    struct ls_http *http;
    struct ls_pinger *pinger;
    struct ls_build_events *events;
    struct ls_server_events *server_events; /* GET /api/v1/events */
    struct ls_limits *limits;
    struct ls_waker_set *wakers;
    struct ls_fanout *fanout; /* NULL on SQLite without --nats */
    ls_metrics metrics;
    atomic_bool stopping;
    char *new_admin_token; /* made at this start (first start only), else NULL */
    char *tls_cert_pem;    /* --tls-cert and --tls-key contents, NULL without TLS */
    char *tls_key_pem;
};

#endif
