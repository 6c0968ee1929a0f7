/* Server-Sent Events follower of a step's log (docs/api.md, "Reading
 * logs"): history from the store, then live lines from memory, with no gap
 * and no duplicate; `id:` is the last seq in each event; resume with
 * Last-Event-ID or ?since=; `: ping` after --sse-ping of silence; `end` once
 * the step is final and every line was sent. A follower that has caught up
 * and then falls more than --sse-max-lag behind is disconnected (it resumes
 * with Last-Event-ID).
 *
 * With nothing to send, the content reader suspends its connection and is
 * resumed by new lines, the final status, or the ping timer: no busy-wait. */
#ifndef LS_SERVER_SSE_H
#define LS_SERVER_SSE_H

#include "server/http.h"

/* Starts the SSE response for r (route LS_ROUTE_STEP_LOGS). */
enum MHD_Result ls_sse_logs_begin(ls_req *r);

/* Appends one SSE event to out: "event: NAME\n", then one "data: " line per
 * line of data, then "id: ID\n" when id is not NULL, then a blank line. */
void ls_sse_format_event(ls_buf *out, const char *name, const char *data, const char *id);

#endif
