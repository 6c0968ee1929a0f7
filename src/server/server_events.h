/* Server-wide build events: GET /api/v1/events (SSE), what the builds list
 * of the web UI follows instead of re-reading the list.
 *
 *   retry: 2000
 *   event: build          one per build created or changed (status, times),
 *   data: {build object}  the object of GET /api/v1/builds (without steps)
 *   id: EPOCH-N
 *
 * Ids are "EPOCH-N": EPOCH is the server's start time (ms), N counts the
 * events of this server process from 1. The last --events-backlog events are
 * kept, so a client that reconnects with Last-Event-ID gets what it missed.
 * When that is not possible (another server process, or the events were
 * dropped from the backlog) the client gets `event: reset` (data {}) and
 * should read GET /api/v1/builds again. After the replay (or at once on a
 * fresh connect) comes `event: ready` (data {}) carrying the id of the
 * newest event: from then on the client sees every change; a list it reads
 * after `ready` plus the events that follow is complete.
 *
 * Each client has its own queue of formatted events, bounded by
 * --sse-max-lag: a client further behind is disconnected (it resumes with
 * Last-Event-ID). `: ping` after --sse-ping of silence. */
#ifndef LS_SERVER_SERVER_EVENTS_H
#define LS_SERVER_SERVER_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/http.h"

typedef struct ls_server_events ls_server_events;

/* Creates the event hub of srv (its backlog holds srv->cfg.events_backlog
 * events). Never fails (allocation failures abort). */
ls_server_events *ls_server_events_new(ls_server *srv);
/* Frees; every client must be gone. NULL is a no-op. */
void ls_server_events_free(ls_server_events *ev);

/* Sends `event: NAME` with obj (borrowed) as data to every client and keeps
 * it in the backlog. ev may be NULL (then nothing happens). */
void ls_server_events_publish(ls_server_events *ev, const char *name, json_t *obj);

/* Parses an event id "EPOCH-N" (surrounding spaces allowed). Returns 0, or
 * -EINVAL when s is not such an id. */
int ls_server_events_parse_id(const char *s, uint64_t *ret_epoch, uint64_t *ret_n);

extern const ls_handler ls_server_events_handler;

#endif
