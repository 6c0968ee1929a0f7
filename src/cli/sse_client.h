/* Incremental Server-Sent Events parser (the event-stream format of the WHATWG
 * HTML standard, section "Server-sent events"). Feed it the response body in
 * chunks of any size, split anywhere (even inside a CRLF or a UTF-8 sequence);
 * it calls back once per complete event and once per comment line.
 *
 * Handled: "event", "data" (several data lines join with '\n'), "id" (kept
 * across events as the last event id; ignored when it contains a NUL), "retry"
 * (digits only), comments (lines starting with ':'), fields without a colon,
 * one optional space after the colon, line ends LF, CR or CRLF, a UTF-8 BOM at
 * the very start. An event with no data lines is not dispatched (per the
 * standard) but its id still becomes the last event id. */
#ifndef LS_CLI_SSE_CLIENT_H
#define LS_CLI_SSE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ls_sse_event {
    const char *type; /* "message" when the event had no "event" field */
    const char *data; /* data lines joined with '\n', NUL-terminated; may hold NULs */
    size_t data_len;
    const char *id; /* the last event id after this event ("" when none yet) */
} ls_sse_event;

/* Called for each dispatched event; the event's strings are borrowed and valid
 * only during the call. A non-zero return stops ls_sse_parser_feed, which
 * returns that value. */
typedef int (*ls_sse_event_fn)(void *ctx, const ls_sse_event *ev);
/* Called for each comment line with the text after the ':' (borrowed, valid
 * only during the call). A non-zero return stops ls_sse_parser_feed likewise. */
typedef int (*ls_sse_comment_fn)(void *ctx, const char *text, size_t len);

typedef struct ls_sse_parser ls_sse_parser;

/* Creates a parser. max_line bounds one line of the stream and max_event the
 * data of one event (bytes); both must be > 0. on_comment may be NULL.
 * Never returns NULL (allocation failures abort, see common/alloc.h). */
ls_sse_parser *ls_sse_parser_new(size_t max_line, size_t max_event, ls_sse_event_fn on_event,
                                 ls_sse_comment_fn on_comment, void *ctx);

/* Feeds len bytes. Returns 0, the first non-zero callback return, or -E2BIG
 * when a line or an event exceeds its limit (the parser is then unusable until
 * ls_sse_parser_reset). */
int ls_sse_parser_feed(ls_sse_parser *p, const char *data, size_t len);

/* Forgets a partial line and partial event (for a new connection) but keeps the
 * last event id, as a reconnecting EventSource does. */
void ls_sse_parser_reset(ls_sse_parser *p);

/* The last event id seen ("" when none), borrowed. */
const char *ls_sse_parser_last_id(const ls_sse_parser *p);

/* The reconnection time in ms from the last valid "retry" field, or -1. */
int64_t ls_sse_parser_retry_ms(const ls_sse_parser *p);

/* Frees the parser; NULL is a no-op. */
void ls_sse_parser_free(ls_sse_parser *p);

#endif
