/* Build events: GET /api/v1/builds/{build}/events (SSE). On connect the
 * client gets `event: build` with the build object (with steps); then
 * `event: step` / `event: build` on every change published by the builds
 * API, and `event: end` after the build reaches a final status. Each
 * subscriber has its own bounded queue of formatted events (a client more
 * than --sse-max-lag behind is disconnected). */
#ifndef LS_SERVER_BUILD_EVENTS_H
#define LS_SERVER_BUILD_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/http.h"

typedef struct ls_build_events ls_build_events;

ls_build_events *ls_build_events_new(ls_server *srv);
/* Frees; every subscriber must be gone. NULL is a no-op. */
void ls_build_events_free(ls_build_events *ev);

/* Sends `event: NAME` with obj (borrowed) as data to the build's
 * subscribers; with end, an `end` event follows and they close. */
void ls_build_events_publish(ls_build_events *ev, int64_t build, const char *name, json_t *obj,
                             bool end);

extern const ls_handler ls_build_events_handler;

#endif
