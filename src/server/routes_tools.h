/* Tool-usage API (docs/api.md, "Tool usage"):
 *   POST /api/v1/builds/{build}/tool-usage  {"events":[{"step":N,"tool":"docker",
 *        "action":"push","target":"registry/app:1.2",...}]} (or one event) -> 201
 *        {"stored":N,"duplicates":M}; an event whose seq the build already holds
 *        is ignored. New events that are not dry runs are counted in
 *        logstream_tool_usage_total{tool,action}.
 *   GET  /api/v1/builds/{build}/tool-usage[?after=ID&limit=N] -> {"build":B,
 *        "events":[...],"next_after":ID|null} in the order they were stored. */
#ifndef LS_SERVER_ROUTES_TOOLS_H
#define LS_SERVER_ROUTES_TOOLS_H

#include "server/http.h"

extern const ls_handler ls_tool_usage_post_handler;
extern const ls_handler ls_tool_usage_get_handler;

#endif
