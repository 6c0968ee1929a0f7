/* Reading a step's log: GET /api/v1/builds/{build}/steps/{step}/logs as raw
 * text, ?since=SEQ&limit=N or ?tail=N as NDJSON, or (Accept:
 * text/event-stream) the SSE follower of sse.h. Responses are streamed in
 * pieces from memory or the store, never built whole. */
#ifndef LS_SERVER_LOGS_READ_H
#define LS_SERVER_LOGS_READ_H

#include "server/http.h"

extern const ls_handler ls_logs_handler;

#endif
