/* `logstream server`: the HTTP API, live fan-out and storage (see
 * DESIGN.md, "Server: live path and storage", and docs/api.md). */
#ifndef LS_SERVER_SERVER_H
#define LS_SERVER_SERVER_H

#include <stddef.h>

typedef struct ls_server ls_server;

/* Parses server flags from argv (words after "server"), opens the store,
 * starts listening (MHD's own thread) and the flusher. On --help prints usage
 * and returns -EAGAIN. On error writes a message for a person into err and
 * returns a negative errno. */
int ls_server_start(int argc, char **argv, ls_server **ret, char *err, size_t errlen);

/* The TCP port actually bound (useful with --listen 127.0.0.1:0). */
unsigned ls_server_port(const ls_server *s);

/* Stops listening, flushes everything to the store, frees. NULL is a no-op. */
void ls_server_free(ls_server *s);

/* `logstream server`: start, print "logstream server listening on
 * http://HOST:PORT" to stdout (flush), run until SIGINT/SIGTERM, stop;
 * returns the process exit code. */
int ls_server_main(int argc, char **argv);

#endif
