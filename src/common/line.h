/* The log line: the unit that flows from the worker through the server to
 * every viewer. See DESIGN.md, "Data model". */
#ifndef LS_COMMON_LINE_H
#define LS_COMMON_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Stream of a line. LS_STREAM_HEARTBEAT only appears on the ingest wire (seq 0). */
enum {
    LS_STREAM_STDOUT = 'o',
    LS_STREAM_STDERR = 'e',
    LS_STREAM_HEARTBEAT = 'h',
};

typedef struct ls_line {
    uint64_t seq;     /* 1-based line number within the step, assigned by the worker */
    int64_t ts_ms;    /* unix milliseconds when the worker read the line */
    char stream;      /* LS_STREAM_STDOUT or LS_STREAM_STDERR */
    bool continued;   /* the text goes on in line seq+1 (a line cut at the line limit) */
    uint32_t len;     /* bytes of text */
    const char *text; /* len bytes, no newline; not NUL-terminated; borrowed */
} ls_line;

/* Default limit of one line's text; longer lines are split and marked continued. */
#define LS_DEFAULT_MAX_LINE (64u * 1024u)

#endif
