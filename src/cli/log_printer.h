/* Writes log lines to the terminal (or a pipe) the way `logstream logs` shows
 * them: optional time prefix, optional per-stream prefix (services), ANSI
 * escapes kept or stripped, flushed after every batch so a follower sees each
 * line as soon as it arrives. */
#ifndef LS_CLI_LOG_PRINTER_H
#define LS_CLI_LOG_PRINTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/ansi_strip.h"
#include "common/buf.h"

typedef struct ls_printer {
    FILE *out;
    bool timestamps;      /* prefix each line with its UTC time, ms precision */
    bool strip_ansi;      /* --no-color */
    const void *mid_line; /* the stream whose last line is not finished, or NULL */
    ls_buf scratch;
} ls_printer;

/* The state of one log (a step or a service) being printed. */
typedef struct ls_print_stream {
    const char *prefix; /* e.g. "db | " for services, or NULL; borrowed */
    bool mid_line;      /* the last line printed was "continued" */
    ls_ansi_strip ansi;
} ls_print_stream;

/* Prints one log line (text without its newline). continued: the line goes on
 * in the next record, so no newline is written and the next piece gets no
 * prefix. ts_ms is the line's time (unix ms). */
void ls_printer_line(ls_printer *p, ls_print_stream *s, int64_t ts_ms, const char *text, size_t len,
                     bool continued);

/* Prints a chunk of a raw text log (the plain-text download), unchanged but
 * for --no-color. */
void ls_printer_raw(ls_printer *p, ls_print_stream *s, const char *data, size_t len);

/* Prints a line of our own (a step header): first ends any unfinished line. */
void ls_printer_note(ls_printer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Flushes the output; returns 0 or -errno when writing failed (e.g. EPIPE). */
int ls_printer_flush(ls_printer *p);

/* Frees the scratch buffer. */
void ls_printer_free(ls_printer *p);

#endif
