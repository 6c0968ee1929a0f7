/* Storage of tool-usage events, the part of the store API that keeps what the
 * tool-usage plugin publishes (a publish or deploy seen in a build's log:
 * npm publish, docker push, kubectl apply, ...). Every back end may implement
 * it through the add_tool_events / list_tool_events ops of store_backend.h;
 * one that does not answers -ENOTSUP.
 *
 * A back end keeps the fields as they are, returns a build's events in the
 * order they were added, drops them with their step or build, and ignores an
 * event whose (build, seq) it already holds (seq > 0), so a publisher may
 * resend after a lost answer without counting twice. */
#ifndef LS_STORE_STORE_TOOLS_H
#define LS_STORE_STORE_TOOLS_H

#include "store/store.h"

/* tool and action: 1..32 bytes; target and details: up to 1024 bytes. */
#define LS_TOOL_NAME_MAX 33
#define LS_TOOL_TEXT_MAX 1025

typedef struct ls_tool_event {
    int64_t id; /* assigned by ls_store_add_tool_events (ignored there) */
    int64_t build_id;
    int step;     /* the step's number in the build */
    int64_t seq;  /* the publisher's number for this event in the build; 0 = none */
    int64_t line; /* line of the step where it was seen; 0 = not known */
    char tool[LS_TOOL_NAME_MAX];
    char action[LS_TOOL_NAME_MAX];
    char target[LS_TOOL_TEXT_MAX];
    char details[LS_TOOL_TEXT_MAX];
    bool dry_run;
    char outcome[16];   /* "succeeded", "failed" or "unknown" */
    char source[16];    /* "command" or "output" */
    int64_t created_ms; /* set by ls_store_add_tool_events */
} ls_tool_event;

/* Stores events[0..n) in one transaction (all or nothing). When ret_added is
 * not NULL, ret_added[i] says whether event i was new (false: its seq was
 * already stored, and it was ignored). -ENOENT when a build or step does not
 * exist, -EINVAL for an empty tool or action or a negative seq, -ENOTSUP when
 * the back end does not keep tool-usage events. */
int ls_store_add_tool_events(ls_store *st, const ls_tool_event *events, size_t n, bool *ret_added);

/* Up to limit events of a build with id > after_id, in the order they were
 * added (none for a missing build). *ret_events is malloc'ed (free()). */
int ls_store_list_tool_events(ls_store *st, int64_t build_id, int64_t after_id, size_t limit,
                              ls_tool_event **ret_events, size_t *ret_n);

#endif
