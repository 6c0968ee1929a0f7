/* Strict parsing of what a request brings: the path (route and its numeric
 * parameters), query values, Last-Event-ID and the ingest Content-Type.
 * Everything here is pure (no I/O, no allocation) so it can be fuzzed
 * (fuzz/fuzz_query.c) and unit tested (tests/unit/test_reqparse.c). */
#ifndef LS_SERVER_REQPARSE_H
#define LS_SERVER_REQPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest build id accepted in a path (JSON-safe integer). */
#define LS_MAX_BUILD_ID ((uint64_t)9007199254740991)
/* Largest step number accepted in a path. */
#define LS_MAX_STEP_NUMBER 1000000u
/* Largest seq accepted in since / Last-Event-ID. */
#define LS_MAX_SEQ ((uint64_t)INT64_MAX)

/* Parses a decimal number: digits only (no sign, space or leading zero unless
 * the number is "0"), at most 20 digits, value <= max. Returns 0 and *ret,
 * -EINVAL for anything that is not such a number, -ERANGE when above max. */
int ls_parse_uint_strict(const char *s, size_t len, uint64_t max, uint64_t *ret);

typedef enum {
    LS_ROUTE_HEALTHZ,
    LS_ROUTE_METRICS,
    LS_ROUTE_BUILDS,           /* /api/v1/builds */
    LS_ROUTE_BUILD,            /* /api/v1/builds/{build} */
    LS_ROUTE_BUILD_EVENTS,     /* /api/v1/builds/{build}/events */
    LS_ROUTE_STEP,             /* /api/v1/builds/{build}/steps/{step} */
    LS_ROUTE_STEP_STREAM,      /* /api/v1/builds/{build}/steps/{step}/stream */
    LS_ROUTE_STEP_LOGS,        /* /api/v1/builds/{build}/steps/{step}/logs */
    LS_ROUTE_TOKENS,           /* /api/v1/tokens */
    LS_ROUTE_TOKEN,            /* /api/v1/tokens/{token} */
    LS_ROUTE_BUILD_TESTS,      /* /api/v1/builds/{build}/tests */
    LS_ROUTE_BUILD_TOOL_USAGE, /* /api/v1/builds/{build}/tool-usage */
    LS_ROUTE_STEP_SEARCH,      /* /api/v1/builds/{build}/steps/{step}/search */
    LS_ROUTE_EVENTS,           /* /api/v1/events */
} ls_route_id;

typedef struct ls_route {
    ls_route_id id;
    int64_t build; /* 0 when the route has none */
    int step;      /* 0 when the route has none */
    int64_t token; /* LS_ROUTE_TOKEN: the token's id; else 0 */
} ls_route;

/* Matches a request path (without query string). Returns 0 and *ret_route;
 * -ENOENT when no route has this shape; -EINVAL when the shape matches but a
 * build id or step number is not a strict decimal in range (then *ret_error
 * names the bad parameter). A trailing '/' is not accepted. */
int ls_route_parse(const char *path, ls_route *ret_route, const char **ret_error);

typedef enum {
    LS_LOGS_RAW,   /* no query: the whole log as text */
    LS_LOGS_SINCE, /* ?since=SEQ&limit=N as NDJSON */
    LS_LOGS_TAIL,  /* ?tail=N as NDJSON */
} ls_logs_mode;

#define LS_LOGS_DEFAULT_LIMIT 1000u
#define LS_LOGS_MAX_LIMIT 100000u

typedef struct ls_logs_query {
    ls_logs_mode mode;
    uint64_t since; /* lines with seq > since */
    uint64_t limit; /* at most this many lines (SINCE and TAIL) */
} ls_logs_query;

/* Interprets the since, limit and tail query values of GET .../logs (each
 * NULL when absent). limit without since means since=0; tail excludes since
 * and limit. Returns 0 and *ret, or -EINVAL with *ret_error naming the
 * problem. */
int ls_logs_query_parse(const char *since, const char *limit, const char *tail, ls_logs_query *ret,
                        const char **ret_error);

#define LS_BUILDS_DEFAULT_LIMIT 50u
#define LS_BUILDS_MAX_LIMIT 1000u

/* Interprets ?limit=N&before=ID of GET /api/v1/builds (NULL when absent).
 * Returns 0, or -EINVAL with *ret_error. */
int ls_builds_query_parse(const char *limit, const char *before, uint64_t *ret_limit,
                          int64_t *ret_before, const char **ret_error);

/* Where an SSE log reader starts: Last-Event-ID header (what a reconnecting
 * EventSource sends, so it wins) or else ?since=. Surrounding spaces in the
 * header are ignored. Returns 0 and *ret_after (0 = from the first line), or
 * -EINVAL with *ret_error. */
int ls_sse_resume_parse(const char *last_event_id, const char *since, uint64_t *ret_after,
                        const char **ret_error);

typedef enum {
    LS_INGEST_RECORDS, /* application/x-logstream-records (or no Content-Type) */
    LS_INGEST_TEXT,    /* text/plain */
} ls_ingest_mode;

/* Maps a Content-Type (NULL when absent) to an ingest mode: media types
 * compare case-insensitively, parameters after ';' are ignored. Returns 0, or
 * -EMEDIUMTYPE for any other type. */
int ls_ingest_mode_parse(const char *content_type, ls_ingest_mode *ret);

/* True when an Accept header asks for text/event-stream. */
bool ls_accepts_event_stream(const char *accept);

#endif
