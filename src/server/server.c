#include "server/server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "common/flags.h"
#include "server/auth.h"
#include "server/build_events.h"
#include "server/fanout.h"
#include "server/server_events.h"
#include "server/flusher.h"
#include "server/http.h"
#include "server/limits.h"
#include "server/live.h"
#include "server/srv.h"
#include "server/sse_ping.h"
#include "server/waker.h"
#include "store/store.h"

#define MAX_FLAGS 56

static void server_flags(ls_server_config *c, ls_flag *f)
{
    const ls_flag flags[] = {
        {"listen", 0, LS_FLAG_STRING, &c->listen, "127.0.0.1:8080",
         "address to listen on, HOST:PORT (port 0 picks a free port)"},
        {"data", 0, LS_FLAG_STRING, &c->data_dir, "./logstream-data",
         "directory for the database (created if missing)"},
        {"database", 0, LS_FLAG_STRING, &c->database, NULL,
         "PostgreSQL URL (postgres://USER@HOST/DB?...) instead of DATA/logstream.db"},
        {"database-pool", 0, LS_FLAG_INT, &c->database_pool, "4",
         "PostgreSQL connections of this server"},
        {"public-url", 0, LS_FLAG_STRING, &c->public_url, NULL,
         "base URL of this server in build \"url\" fields (default http://LISTEN)"},
        {"flush-interval", 0, LS_FLAG_DURATION, &c->flush_interval_ms, "100ms",
         "how often received lines are written to the database"},
        {"max-line", 0, LS_FLAG_SIZE, &c->max_line, "64KiB", "longest log line text accepted"},
        {"max-connections", 0, LS_FLAG_INT, &c->max_connections, "1024",
         "most simultaneous HTTP connections"},
        {"max-request-bytes", 0, LS_FLAG_SIZE, &c->max_request_bytes, "1GiB",
         "largest body of one ingest request (workers rotate requests well before)"},
        {"max-request-rate", 0, LS_FLAG_SIZE, &c->max_request_rate, "512MiB",
         "most body bytes per second of one ingest request, e.g. 10MiB; a faster sender is "
         "paused (its body read later), never refused; 0 = no limit"},
        {"max-test-runs", 0, LS_FLAG_INT, &c->max_test_runs, "1000",
         "test runs stored per build (POST .../tests beyond it: 409)"},
        {"max-test-failures", 0, LS_FLAG_INT, &c->max_test_failures, "1000",
         "failed tests one test run may list (POST .../tests with more: 400); keep it at "
         "least the test-results plugin's max_failures (default 100)"},
        {"max-tool-events", 0, LS_FLAG_INT, &c->max_tool_events, "1000",
         "tool-usage events in one POST .../tool-usage (more: 413)"},
        {"max-json", 0, LS_FLAG_SIZE, &c->max_json_bytes, "1MiB",
         "largest JSON request body (builds, steps)"},
        {"sse-max-lag", 0, LS_FLAG_SIZE, &c->sse_max_lag_bytes, "16MiB",
         "disconnect a follower this many bytes behind (it resumes with Last-Event-ID)"},
        {"sse-max-lag-lines", 0, LS_FLAG_INT, &c->sse_max_lag_lines, "1000000",
         "disconnect a follower this many lines behind"},
        {"sse-ping", 0, LS_FLAG_DURATION, &c->sse_ping_ms, "15s",
         "send an SSE comment after this much silence"},
        {"live-buffer", 0, LS_FLAG_SIZE, &c->live_buffer, "4MiB",
         "recent log text kept in memory per running step for followers"},
        {"live-linger", 0, LS_FLAG_DURATION, &c->live_linger_ms, "30s",
         "keep a finished step in memory this long before reading it from the database"},
        {"max-pending", 0, LS_FLAG_SIZE, &c->max_pending, "64MiB",
         "bytes accepted but not yet stored; above it ingest pauses until the flusher catches up"},
        {"max-step-bytes", 0, LS_FLAG_SIZE, &c->max_step_bytes, "100MiB",
         "log text kept per step: beyond it the middle of the log is dropped (the first and "
         "the most recent lines stay, with a marker line saying what was dropped)"},
        {"max-build-bytes", 0, LS_FLAG_SIZE, &c->max_build_bytes, "1GiB",
         "log text kept per build (its later steps keep less); 0 = no limit"},
        {"max-disk", 0, LS_FLAG_SIZE, &c->max_disk_bytes, "0",
         "largest database file; beyond it ingest answers 507 (0 = up to the disk's size)"},
        {"retention", 0, LS_FLAG_DURATION, &c->retention_ms, "0",
         "delete builds (and their logs) this long after they finished, e.g. 30d; 0 = never"},
        {"retention-interval", 0, LS_FLAG_DURATION, &c->retention_interval_ms, "10m",
         "how often --retention looks for builds to delete"},
        {"idle-timeout", 0, LS_FLAG_DURATION, &c->idle_timeout_ms, "120s",
         "close a connection with no traffic for this long"},
        {"connection-memory", 0, LS_FLAG_SIZE, &c->connection_memory, "256KiB",
         "memory per connection for headers and body reads"},
        {"error-drain", 0, LS_FLAG_SIZE, &c->error_drain_bytes, "1MiB",
         "after rejecting a record, read at most this much more body for the answer, then close"},
        {"chunk-size", 0, LS_FLAG_SIZE, &c->chunk_bytes, "256KiB",
         "log text per compressed chunk in the database"},
        {"zstd-level", 0, LS_FLAG_INT, &c->zstd_level, "1",
         "zstd level of log chunks (negative = faster, larger; 1..19 = smaller, slower)"},
        {"error-drain-time", 0, LS_FLAG_DURATION, &c->error_drain_ms, "1s",
         "after rejecting a record, wait at most this long for the body to end, then close"},
        {"public-read", 0, LS_FLAG_BOOL, &c->public_read, "false",
         "let anyone read builds, logs, events and /metrics without a token"},
        {"public-metrics", 0, LS_FLAG_BOOL, &c->public_metrics, "false",
         "let anyone read /metrics without a token (the rest stays private)"},
        {"admin-token-file", 0, LS_FLAG_STRING, &c->admin_token_file, NULL,
         "at first start, also write the new admin token to this file (mode 0600)"},
        {"build-token-ttl", 0, LS_FLAG_DURATION, &c->build_token_ttl_ms, "7d",
         "a build's upload token stops working this long after the build was created, "
         "if the build has not ended before"},
        {"tls-cert", 0, LS_FLAG_STRING, &c->tls_cert, NULL,
         "serve HTTPS with this PEM certificate (chain) file; needs --tls-key"},
        {"tls-key", 0, LS_FLAG_STRING, &c->tls_key, NULL, "PEM private key file of --tls-cert"},
        {"search-max-query", 0, LS_FLAG_SIZE, &c->search_max_query, "1KiB",
         "longest search text (?q=) of GET .../search"},
        {"search-max-matches", 0, LS_FLAG_INT, &c->search_max_matches, "100000",
         "most match positions one search answers (?limit=; the total is always counted)"},
        {"events-backlog", 0, LS_FLAG_INT, &c->events_backlog, "1000",
         "build events kept for GET /api/v1/events clients that resume with Last-Event-ID"},
        {"nats", 0, LS_FLAG_STRING, &c->nats_url, NULL,
         "NATS URL (nats://HOST:4222, or a comma-separated list) shared by several server "
         "instances on one PostgreSQL "
         "database: live lines fan out between them; empty = a single instance"},
        {"remote-poll-interval", 0, LS_FLAG_DURATION, &c->remote_poll_interval_ms, "250ms",
         "on PostgreSQL: how often a step followed here but streamed to another instance is "
         "read from the database (without --nats, or what NATS lost, e.g. while it is down)"},
        {"remote-safety-poll-interval", 0, LS_FLAG_DURATION, &c->remote_safety_poll_ms, "5s",
         "with --nats, while NATS is connected and brought every line: how often followed "
         "steps and builds of other instances are still read from the database (what NATS "
         "lost without a sign)"},
        {"nats-max-pending", 0, LS_FLAG_SIZE, &c->nats_max_pending, "16MiB",
         "with --nats: bytes queued for NATS (and buffered while reconnecting); beyond it live "
         "messages are dropped (other instances read those lines from the database)"},
        {"nats-reconnect-wait", 0, LS_FLAG_DURATION, &c->nats_reconnect_wait_ms, "1s",
         "with --nats: wait between attempts to reconnect to NATS (it retries for ever)"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    _Static_assert(sizeof(flags) <= MAX_FLAGS * sizeof(ls_flag), "raise MAX_FLAGS");
    memcpy(f, flags, sizeof(flags));
}

/* Checks the limits; returns 0 or -EINVAL with a message. */
static int check_config(const ls_server_config *c, char *err, size_t errlen)
{
    struct {
        const char *name;
        int64_t v, min, max;
    } checks[] = {
        {"flush-interval", c->flush_interval_ms, 1, 60000},
        {"max-line", c->max_line, 16, 16 * 1024 * 1024},
        {"max-connections", c->max_connections, 4, 1000000},
        {"max-request-bytes", c->max_request_bytes, 1024, INT64_MAX},
        {"max-request-rate", c->max_request_rate, 0, INT64_MAX},
        {"max-json", c->max_json_bytes, 1024, 1024 * 1024 * 1024},
        {"max-test-runs", c->max_test_runs, 1, 1000000},
        {"max-test-failures", c->max_test_failures, 1, 100000},
        {"max-tool-events", c->max_tool_events, 1, 1000000},
        {"sse-max-lag", c->sse_max_lag_bytes, 1024, INT64_MAX},
        {"sse-max-lag-lines", c->sse_max_lag_lines, 1, INT64_MAX},
        {"sse-ping", c->sse_ping_ms, 10, 3600000},
        {"live-buffer", c->live_buffer, 0, INT64_MAX},
        {"live-linger", c->live_linger_ms, 0, INT64_MAX},
        {"max-pending", c->max_pending, 1024, INT64_MAX},
        {"max-step-bytes", c->max_step_bytes, 16 * 1024, INT64_MAX / 4},
        {"max-build-bytes", c->max_build_bytes, 0, INT64_MAX / 4},
        {"max-disk", c->max_disk_bytes, 0, INT64_MAX / 4},
        {"database-pool", c->database_pool, 1, 1024},
        {"retention", c->retention_ms, 0, INT64_MAX / 4},
        {"retention-interval", c->retention_interval_ms, 100, 86400000},
        {"search-max-query", c->search_max_query, 1, 64 * 1024},
        {"search-max-matches", c->search_max_matches, 1, 10000000},
        {"events-backlog", c->events_backlog, 0, 1000000},
        {"idle-timeout", c->idle_timeout_ms, 1000, 86400000},
        {"connection-memory", c->connection_memory, 16 * 1024, 64 * 1024 * 1024},
        {"error-drain", c->error_drain_bytes, 0, INT64_MAX},
        {"error-drain-time", c->error_drain_ms, 0, 3600000},
        {"chunk-size", c->chunk_bytes, 4096, 64 * 1024 * 1024},
        {"zstd-level", c->zstd_level, -7, 19},
        {"build-token-ttl", c->build_token_ttl_ms, 60000, INT64_MAX / 2},
        {"remote-poll-interval", c->remote_poll_interval_ms, 10, 60000},
        {"remote-safety-poll-interval", c->remote_safety_poll_ms, 10, 3600000},
        {"nats-max-pending", c->nats_max_pending, 64 * 1024, 1024 * 1024 * 1024},
        {"nats-reconnect-wait", c->nats_reconnect_wait_ms, 10, 600000},
    };
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        if (checks[i].v < checks[i].min || checks[i].v > checks[i].max) {
            snprintf(err, errlen, "--%s is out of range (from %lld to %lld)", checks[i].name,
                     (long long)checks[i].min, (long long)checks[i].max);
            return -EINVAL;
        }
    }
    if (c->max_request_rate > 0 && c->max_request_rate < 1024) {
        snprintf(err, errlen,
                 "--max-request-rate is out of range: 0 (no limit) or at least 1KiB "
                 "(bytes per second)");
        return -EINVAL;
    }
    if (!c->tls_cert != !c->tls_key) {
        snprintf(err, errlen, "--tls-cert and --tls-key go together: give both, or neither");
        return -EINVAL;
    }
    return 0;
}

/* Reads a whole PEM file (at most 1 MiB) into *ret. */
static int read_pem(const char *flag, const char *path, char **ret, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    char *data = NULL;
    size_t len = 0;
    int e = 0;
    if (!f) {
        e = errno;
        goto fail;
    }
    data = ls_xmalloc(1024 * 1024 + 1);
    len = fread(data, 1, 1024 * 1024 + 1, f);
    if (ferror(f))
        e = errno ? errno : EIO;
    fclose(f);
    if (e)
        goto fail;
    if (len == 0 || len > 1024 * 1024 || memchr(data, '\0', len)) {
        snprintf(err, errlen, "--%s %s is not a PEM file of at most 1 MiB", flag, path);
        free(data);
        return -EINVAL;
    }
    data[len] = '\0';
    *ret = data;
    return 0;
fail:
    free(data);
    snprintf(err, errlen, "cannot read --%s %s: %s", flag, path, strerror(e));
    return -e;
}

/* Splits HOST:PORT, [V6]:PORT or :PORT. host is written into hostbuf. */
static int parse_listen(const char *s, char *hostbuf, size_t hostlen, uint16_t *ret_port, char *err,
                        size_t errlen)
{
    const char *colon = strrchr(s, ':');
    const char *h = s;
    size_t hlen = colon ? (size_t)(colon - s) : 0;
    if (!colon)
        goto bad;
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen >= hostlen)
        goto bad;
    memcpy(hostbuf, h, hlen);
    hostbuf[hlen] = '\0';
    char *end = NULL;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || !end || *end || end == colon + 1 || port < 0 || port > 65535)
        goto bad;
    *ret_port = (uint16_t)port;
    return 0;
bad:
    snprintf(err, errlen, "--listen must be HOST:PORT (e.g. 127.0.0.1:8080), not '%s'", s);
    return -EINVAL;
}

static int make_dir(const char *path, char *err, size_t errlen)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) {
        snprintf(err, errlen, "--data path is too long");
        return -ENAMETOOLONG;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            goto fail;
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        goto fail;
    return 0;
fail:;
    int e = errno;
    snprintf(err, errlen, "cannot create the data directory %s: %s", tmp, strerror(e));
    return -e;
}

static int open_parts(ls_server *srv, char *err, size_t errlen)
{
    ls_server_config *c = &srv->cfg;
    char host[256];
    uint16_t port;
    int rc = parse_listen(c->listen, host, sizeof(host), &port, err, errlen);
    if (rc < 0)
        return rc;
    rc = make_dir(c->data_dir, err, errlen);
    if (rc < 0)
        return rc;
    char dbpath[4200];
    snprintf(dbpath, sizeof(dbpath), "%s/logstream.db", c->data_dir);
    ls_store_options so = {.chunk_bytes = (size_t)c->chunk_bytes,
                           .zstd_level = (int)c->zstd_level,
                           .max_db_bytes = (uint64_t)c->max_disk_bytes,
                           .pool_size = (int)c->database_pool};
    if (c->database && !ls_store_is_pg_url(c->database)) {
        snprintf(err, errlen, "--database must be a postgres:// or postgresql:// URL");
        return -EINVAL;
    }
    /* the URL may hold a password: name only the back end in messages */
    rc = ls_store_open_url(c->database ? c->database : dbpath, &so, (ls_store **)&srv->store);
    if (rc < 0) {
        snprintf(err, errlen, "cannot open the database %s: %s",
                 c->database ? "(PostgreSQL, --database)" : dbpath, ls_store_last_error());
        return rc;
    }
    rc = ls_auth_bootstrap(srv, c->admin_token_file, err, errlen);
    if (rc < 0)
        return rc;
    if (c->tls_cert) {
        rc = read_pem("tls-cert", c->tls_cert, &srv->tls_cert_pem, err, errlen);
        if (rc == 0)
            rc = read_pem("tls-key", c->tls_key, &srv->tls_key_pem, err, errlen);
        if (rc < 0)
            return rc;
    }
    ls_live_options lo = {
        .buffer_bytes = (size_t)c->live_buffer,
        .max_line = (size_t)c->max_line,
        .linger_ms = c->live_linger_ms,
        .idle_ms = c->idle_timeout_ms * 2,
    };
    srv->live = ls_live_new(&lo);
    srv->wakers = ls_waker_set_new();
    srv->events = ls_build_events_new(srv);
    srv->server_events = ls_server_events_new(srv);
    rc = ls_pinger_start(c->sse_ping_ms, &srv->pinger);
    if (rc == 0)
        rc = ls_flusher_start(srv, &srv->flusher);
    if (rc == 0)
        rc = ls_limits_start(srv, &srv->limits);
    if (rc < 0) {
        snprintf(err, errlen, "cannot start a thread: %s", strerror(-rc));
        return rc;
    }
    /* a PostgreSQL database may be shared by several instances: without
     * --nats, the fan-out only reads the store (fanout.h) */
    if ((c->nats_url && *c->nats_url) || (c->database && ls_store_is_pg_url(c->database))) {
        rc = ls_fanout_start(srv, &srv->fanout, err, errlen);
        if (rc < 0)
            return rc;
    }
    rc = ls_http_start(srv, host, port, &srv->http, err, errlen);
    if (rc < 0)
        return rc;
    char url[512];
    bool v6 = strchr(host, ':') != NULL;
    snprintf(url, sizeof(url), "%s://%s%s%s:%u", srv->tls_cert_pem ? "https" : "http",
             v6 ? "[" : "", *host ? host : "localhost", v6 ? "]" : "", ls_http_port(srv->http));
    srv->listen_url = ls_xstrdup(url);
    if (c->public_url && *c->public_url)
        snprintf(url, sizeof(url), "%s", c->public_url);
    size_t len = strlen(url);
    while (len && url[len - 1] == '/')
        url[--len] = '\0';
    srv->public_url = ls_xstrdup(url);
    return 0;
}

int ls_server_start(int argc, char **argv, ls_server **ret, char *err, size_t errlen)
{
    ls_server *srv = ls_xcalloc(1, sizeof(*srv));
    ls_metrics_init(&srv->metrics);
    ls_flag flags[MAX_FLAGS];
    server_flags(&srv->cfg, flags);
    int npos = 0;
    int rc = ls_flags_parse(flags, argc, argv, NULL, 0, &npos, err, errlen);
    if (rc == -EAGAIN) {
        ls_flags_usage(stdout, "server", "[--listen HOST:PORT] [--data DIR] [flags]", flags);
        goto fail;
    }
    if (rc == 0 && npos > 0) {
        snprintf(err, errlen, "logstream server takes no arguments besides flags");
        rc = -EINVAL;
    }
    if (rc == 0)
        rc = check_config(&srv->cfg, err, errlen);
    if (rc == 0)
        rc = open_parts(srv, err, errlen);
    if (rc < 0)
        goto fail;
    *ret = srv;
    return 0;
fail:
    ls_server_free(srv);
    return rc;
}

unsigned ls_server_port(const ls_server *s)
{
    return ls_http_port(s->http);
}

const char *ls_server_new_admin_token(const ls_server *s)
{
    return s->new_admin_token;
}

int ls_server_issue_token(ls_server *s, const char *scope, const char *name,
                          char ret_token[LS_SERVER_TOKEN_BUF], int64_t *ret_id)
{
    ls_scope sc;
    if (ls_scope_parse(scope, &sc) < 0 || sc == LS_SCOPE_BUILD)
        return -EINVAL;
    return ls_auth_issue(s, sc, name, 0, 0, ret_token, ret_id);
}

int ls_server_revoke_token(ls_server *s, int64_t id)
{
    return ls_store_delete_token(s->store, id);
}

void ls_server_free(ls_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, true);
    ls_limits_stop(s->limits); /* the retention thread uses the store and the live registry */
    if (s->http) {
        ls_http_quiesce(s->http);
        if (s->flusher)
            ls_flusher_flush_now(s->flusher); /* so waiting uploads can be answered */
        ls_http_stop(s->http);
    }
    ls_flusher_stop(s->flusher);
    ls_fanout_stop(s->fanout); /* after HTTP: its followers unwatch as they go */
    ls_pinger_stop(s->pinger);
    ls_build_events_free(s->events);
    ls_server_events_free(s->server_events);
    ls_live_free(s->live);
    ls_waker_set_free(s->wakers);
    ls_store_free(s->store);
    ls_flag flags[MAX_FLAGS];
    server_flags(&s->cfg, flags);
    ls_flags_free(flags);
    free(s->public_url);
    free(s->listen_url);
    if (s->new_admin_token)
        memset(s->new_admin_token, 0, strlen(s->new_admin_token));
    free(s->new_admin_token);
    if (s->tls_key_pem)
        memset(s->tls_key_pem, 0, strlen(s->tls_key_pem));
    free(s->tls_key_pem);
    free(s->tls_cert_pem);
    free(s);
}

int ls_server_main(int argc, char **argv)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    /* block before any thread starts, so only sigwait sees them */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    char err[512] = "";
    ls_server *srv = NULL;
    int rc = ls_server_start(argc, argv, &srv, err, sizeof(err));
    if (rc == -EAGAIN)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "logstream server: %s\n", err);
        return rc == -EINVAL ? 2 : 1;
    }
    if (srv->new_admin_token)
        fprintf(stderr, "logstream server: admin token (shown once, stored hashed in %s%s): %s\n",
                srv->cfg.database ? "the PostgreSQL database" : srv->cfg.data_dir,
                srv->cfg.database ? "" : "/logstream.db", srv->new_admin_token);
    printf("logstream server listening on %s\n", srv->listen_url);
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "logstream server: stopping (signal %d), storing what was received\n", sig);
    ls_server_free(srv);
    return 0;
}
