/* Live fan-out between several server instances on one database, through
 * NATS (core, at-most-once; subjects and payloads in server/fanout_msg.h).
 *
 * An instance that accepts lines for a step publishes them (one message per
 * ingest chunk) and its status changes; an instance with followers of a step
 * (SSE log followers, build event followers) subscribes to that step's or
 * build's subject while it has them, appends the remote lines to its live
 * object (never storing them: the accepting instance does) and wakes its
 * followers at once. What NATS loses (an outage, a gap, a slow consumer) comes
 * from the store: a poller reads the store for every followed step whose
 * lines this instance does not accept itself, and refreshes the live object
 * (ls_live_refresh), so followers still get every line and the step's end,
 * only later: every --remote-poll-interval while NATS is not connected or a
 * step is behind what NATS brought (a gap, an end waiting for lines), at once
 * after a gap, and every --remote-safety-poll-interval while NATS is healthy.
 * While NATS is down (or database-only) the poller also reads the newest
 * builds and those not ended every --remote-poll-interval, so the builds list
 * (GET /api/v1/events) gets the builds created and changed elsewhere.
 *
 * Publishing never blocks the caller (MHD's thread): messages go to a queue
 * bounded by --nats-max-pending, sent by the fan-out's own thread; a message
 * that does not fit is dropped and counted (the store has the lines). The
 * connection reconnects for ever; the server says in its log when NATS is
 * lost and back, and /metrics has logstream_nats_connected.
 *
 * On PostgreSQL without --nats (the database may be shared all the same) the
 * fan-out runs database-only: nothing is published or subscribed, and every
 * followed step and build of another instance is read from the store every
 * --remote-poll-interval.
 *
 * Every function takes a NULL fan-out (single-instance mode: SQLite without
 * --nats) and then does nothing. */
#ifndef LS_SERVER_FANOUT_H
#define LS_SERVER_FANOUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "server/fanout_msg.h"
#include "server/srv.h"

typedef struct ls_fanout ls_fanout;

/* Connects to srv->cfg.nats_url (in the background when NATS is not up yet:
 * the server starts anyway and connects when it can; database-only without a
 * URL) and starts the
 * publisher and poller threads. The server's live registry, build events and
 * store must exist. Returns 0 and *ret, or a negative errno with a message in
 * err (a bad URL, no thread). */
int ls_fanout_start(ls_server *srv, ls_fanout **ret, char *err, size_t errlen);

/* Stops the threads, closes the connection and the NATS library (one fan-out
 * per process) and frees. Every watcher must be gone. NULL is a no-op. */
void ls_fanout_stop(ls_fanout *f);

/* Queues a lines payload (ls_fanout_lines_add records) of the step, copied. */
void ls_fanout_publish_lines(ls_fanout *f, int64_t build, int step, const char *data, size_t len);
/* Queues a step's status change. */
void ls_fanout_publish_status(ls_fanout *f, int64_t build, int step, const ls_fanout_status *st);
/* Queues a build event (ls_build_events_publish's arguments; obj borrowed). */
void ls_fanout_publish_build_event(ls_fanout *f, int64_t build, const char *name, json_t *obj,
                                   bool end);
/* Queues a server-wide event (ls_server_events_publish's arguments). */
void ls_fanout_publish_server_event(ls_fanout *f, const char *name, json_t *obj);

/* A follower of the step (SSE log follower) starts / stops: the step's subject
 * is subscribed while it has followers, and the step is polled from the store
 * while its lines come from another instance. Each watch needs one unwatch. */
void ls_fanout_watch_step(ls_fanout *f, int64_t build, int step);
void ls_fanout_unwatch_step(ls_fanout *f, int64_t build, int step);

/* The same for a follower of the build's events. */
void ls_fanout_watch_build(ls_fanout *f, int64_t build);
void ls_fanout_unwatch_build(ls_fanout *f, int64_t build);
/* The build object (with steps) a new follower was sent as its snapshot,
 * after ls_fanout_watch_build: what the poller compares the store with
 * (unless the build's followers were sent something already). obj borrowed. */
void ls_fanout_note_build(ls_fanout *f, int64_t build, json_t *obj);

/* Appends the fan-out's metrics (Prometheus text) to out; nothing for NULL. */
void ls_fanout_render_metrics(ls_fanout *f, ls_buf *out);

#endif
