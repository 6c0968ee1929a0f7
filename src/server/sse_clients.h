/* The followers of a server-pushed event stream whose events are formatted
 * when they are published (GET /api/v1/builds/ID/events in build_events.c,
 * GET /api/v1/events in server_events.c): each follower's queue of formatted
 * events, bounded by --sse-max-lag (a follower further behind is
 * disconnected, and counted), its place in its owner's list, its keep-alive
 * pings, and the MHD content reader that sends the queue.
 *
 * The owner embeds an ls_sse_client as the FIRST member of its own client
 * struct (so the content reader's and free callback's cls is both) and keeps
 * the list head and the mutex that guards every queue and link. */
#ifndef LS_SERVER_SSE_CLIENTS_H
#define LS_SERVER_SSE_CLIENTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "server/http.h"
#include "server/sse_ping.h"
#include "server/waker.h"

typedef struct ls_sse_client {
    ls_server *srv;
    pthread_mutex_t *mu; /* the owner's lock: guards queue, pos, the flags and links */
    ls_waker waker;
    ls_ping_entry ping;
    ls_buf queue; /* formatted events not yet sent */
    size_t pos;
    bool end_queued; /* "end" is queued: nothing more is added; the stream ends after it */
    bool overflow;   /* over --sse-max-lag: the stream ends with an error */
    struct ls_sse_client *prev, *next;
} ls_sse_client;

/* Prepares c (zeroed by the caller) for request r: its waker, and the
 * "retry: 2000" line that opens the stream. mu must outlive c. */
void ls_sse_client_init(ls_sse_client *c, ls_req *r, pthread_mutex_t *mu);

/* With *c->mu held: puts c at the head of the owner's list. */
void ls_sse_client_link(ls_sse_client **head, ls_sse_client *c);

/* Starts c's keep-alive pings and counts it in the sse_clients metric. */
void ls_sse_client_start(ls_sse_client *c);

/* Undoes init, link and start (takes *c->mu for the unlink) and frees the
 * queue; c's own memory stays the owner's. For a client that was linked and
 * started. */
void ls_sse_client_finish(ls_sse_client **head, ls_sse_client *c);

/* With *c->mu held: appends one event (id NULL = no id line). Does nothing
 * once the client overflowed or has "end" queued; a client that gets more
 * than --sse-max-lag behind is marked to be disconnected. The caller wakes
 * c->waker. */
void ls_sse_client_enqueue(ls_sse_client *c, const char *name, const char *data, const char *id);

/* The MHD content reader (cls: the ls_sse_client): sends what is queued, a
 * ": ping" after --sse-ping of silence, and otherwise suspends the
 * connection until the waker is woken. */
ssize_t ls_sse_client_read(void *cls, uint64_t pos, char *buf, size_t max);

#endif
