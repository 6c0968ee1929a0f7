/* Follows a build's logs live: the build's event stream says which steps exist
 * and when they start and end; each step's log is read over Server-Sent
 * Events and printed as its lines arrive. Steps are printed one after another
 * in order, each under a header line; services run beside the steps, so their
 * lines are printed as they arrive, interleaved, each prefixed with
 * "SERVICE | ". A dropped connection is resumed after the last line printed
 * (Last-Event-ID) with capped, jittered backoff; a line is never printed twice
 * and a gap in what the server sends is filled from the NDJSON read API. */
#ifndef LS_CLI_FOLLOW_H
#define LS_CLI_FOLLOW_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/log_printer.h"

typedef struct ls_follow_opts {
    const char *server; /* base URL without a trailing '/', e.g. http://127.0.0.1:8080 */
    int64_t build_id;
    int only_step;               /* follow this step alone, without headers; 0 = whole build */
    ls_printer *printer;         /* where the lines go */
    int64_t backoff_base_ms;     /* first reconnect delay */
    int64_t backoff_cap_ms;      /* longest reconnect delay */
    int64_t give_up_ms;          /* fail after this long without reaching the server; 0 = never */
    int64_t idle_timeout_ms;     /* reconnect when a stream is silent this long (server pings
                                    every 15 s); 0 = never */
    size_t max_event;            /* largest SSE event (and line) accepted, bytes */
    size_t page_lines;           /* lines per request when filling a gap */
    bool quiet;                  /* no reconnect notes on stderr */
    volatile sig_atomic_t *stop; /* when it becomes non-zero, return -EINTR; may be NULL */
} ls_follow_opts;

/* Follows until the build (or the step) has ended and every line is printed.
 * Returns 0; -ENOENT when the build or step does not exist; -ECONNREFUSED when
 * the server stayed unreachable for give_up_ms; -EPIPE when the output was
 * closed; -EINTR when *stop was set; -EPROTO when the server sent something
 * that is not the API. On failure a message is in err. */
int ls_follow_build(const ls_follow_opts *o, char *err, size_t errlen);

#endif
