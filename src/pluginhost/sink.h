/* A line-oriented, thread-safe writer to a file descriptor: the host's user
 * output (stdout, streamed by the worker as the build's "plugins" log) and its
 * diagnostics (stderr). Every message is written whole with one lock, so lines
 * of different threads never interleave. */
#ifndef LS_PLUGINHOST_SINK_H
#define LS_PLUGINHOST_SINK_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct ls_ph_sink {
    int fd; /* borrowed */
    pthread_mutex_t lock;
    bool broken; /* a write failed (e.g. EPIPE): later messages are dropped */
} ls_ph_sink;

void ls_ph_sink_init(ls_ph_sink *s, int fd);
void ls_ph_sink_destroy(ls_ph_sink *s);

/* Writes the len bytes of text as lines, each preceded by prefix and ended by
 * '\n'. Newlines in text start new lines; one trailing newline is ignored, so
 * "a\n" is one line. Returns 0 or the negative errno of a failed write. */
int ls_ph_sink_write(ls_ph_sink *s, const char *prefix, const char *text, size_t len);

/* printf-style ls_ph_sink_write. */
int ls_ph_sink_printf(ls_ph_sink *s, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int ls_ph_sink_vprintf(ls_ph_sink *s, const char *prefix, const char *fmt, va_list ap);

#endif
