/* The messages that server instances on one database exchange through NATS
 * (server/fanout.h): their subjects and payloads. Pure functions, no I/O.
 *
 * Subjects (BUILD and STEP in decimal):
 *   logstream.BUILD.STEP.lines   lines an instance accepted for the step:
 *                                ingest records "SEQ\tTS\to|e[+]\tTEXT\n"
 *                                (common/record.h), in seq order
 *   logstream.BUILD.STEP.status  a step's status change: "STATUS EXIT LINES\n"
 *                                (EXIT is "-" without exit code; LINES is the
 *                                number of lines the step had then)
 *   logstream.BUILD.events       a build event (server/build_events.h):
 *                                "NAME END\nJSON" (END is 0 or 1)
 *   logstream.events             a server-wide event (server/server_events.h):
 *                                "NAME\nJSON"
 * An instance that follows a step subscribes to logstream.BUILD.STEP.*. */
#ifndef LS_SERVER_FANOUT_MSG_H
#define LS_SERVER_FANOUT_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/line.h"
#include "store/store.h"

/* Longest subject this module makes, with its NUL. */
#define LS_FANOUT_SUBJECT_MAX 80
/* Longest event name in an event payload. */
#define LS_FANOUT_NAME_MAX 32

typedef enum {
    LS_FANOUT_LINES,        /* logstream.B.S.lines */
    LS_FANOUT_STATUS,       /* logstream.B.S.status */
    LS_FANOUT_STEP_ALL,     /* logstream.B.S.* (subscriptions only) */
    LS_FANOUT_BUILD_EVENT,  /* logstream.B.events */
    LS_FANOUT_SERVER_EVENT, /* logstream.events */
} ls_fanout_kind;

/* Writes the subject of kind for build/step (step unused for build and
 * server events) into buf (LS_FANOUT_SUBJECT_MAX bytes). Returns its length. */
size_t ls_fanout_subject(char *buf, ls_fanout_kind kind, int64_t build, int step);

/* Parses a subject made by ls_fanout_subject (not the wildcard). Returns 0 and
 * fills *ret_kind, *ret_build and *ret_step (0 for events), or -EINVAL. */
int ls_fanout_subject_parse(const char *subject, ls_fanout_kind *ret_kind, int64_t *ret_build,
                            int *ret_step);

/* Appends one line to a lines payload. */
void ls_fanout_lines_add(ls_buf *out, const ls_line *line);

/* Called by ls_fanout_lines_decode for each line (valid during the call).
 * Return 0 to go on, anything else to stop. */
typedef int (*ls_fanout_line_cb)(void *arg, const ls_line *line);

/* Decodes a lines payload of len bytes: lines of at most max_text bytes of
 * text, seqs > 0 and increasing. Returns the number of lines passed to cb
 * (all of them, or up to the one that stopped it), or -EINVAL when the
 * payload is malformed (lines before the bad record have been passed). */
int ls_fanout_lines_decode(const char *data, size_t len, size_t max_text, ls_fanout_line_cb cb,
                           void *arg);

/* A step's status message. */
typedef struct ls_fanout_status {
    ls_status status;
    bool has_exit_code;
    int exit_code;
    uint64_t lines;
} ls_fanout_status;

void ls_fanout_status_encode(ls_buf *out, const ls_fanout_status *st);
/* Returns 0 and fills *ret, or -EINVAL. */
int ls_fanout_status_decode(const char *data, size_t len, ls_fanout_status *ret);

/* Event payloads. name: [a-z_] only, 1..LS_FANOUT_NAME_MAX-1 bytes; json: the
 * event's data (no newline needed, any bytes after the first '\n' are data). */
void ls_fanout_event_encode(ls_buf *out, const char *name, bool with_end, bool end,
                            const char *json);
/* Decodes an event payload: the name goes to ret_name (LS_FANOUT_NAME_MAX
 * bytes), *ret_end (with_end payloads only), *ret_json and *ret_json_len point into
 * data. Returns 0 or -EINVAL. */
int ls_fanout_event_decode(const char *data, size_t len, bool with_end, char *ret_name,
                           bool *ret_end, const char **ret_json, size_t *ret_json_len);

/* Splits --nats, one NATS URL or a comma-separated list of them ("nats://a:4222,
 * nats://b:4222"; blanks around each URL are ignored), into *ret_urls
 * (*ret_n URLs, each and the array malloc'ed: ls_fanout_urls_free). Returns 0,
 * or -EINVAL (an empty list or an empty or blank-containing URL) with a message
 * in err. */
int ls_fanout_urls_parse(const char *list, char ***ret_urls, size_t *ret_n, char *err,
                         size_t errlen);
/* Frees what ls_fanout_urls_parse returned; NULL is a no-op. */
void ls_fanout_urls_free(char **urls, size_t n);

#endif
