/* `logstream server`: the HTTP API, live fan-out and storage (see
 * DESIGN.md, "Server: live path and storage", and docs/api.md). */
#ifndef LS_SERVER_SERVER_H
#define LS_SERVER_SERVER_H

#include <stddef.h>
#include <stdint.h>

typedef struct ls_server ls_server;

/* Parses server flags from argv (words after "server"), opens the store,
 * starts listening (MHD's own thread) and the flusher. On --help prints usage
 * and returns -EAGAIN. On error writes a message for a person into err and
 * returns a negative errno. */
int ls_server_start(int argc, char **argv, ls_server **ret, char *err, size_t errlen);

/* The TCP port actually bound (useful with --listen 127.0.0.1:0). */
unsigned ls_server_port(const ls_server *s);

/* The admin token made at this start (the first start of a data directory:
 * shown once, only its hash is stored), or NULL. */
const char *ls_server_new_admin_token(const ls_server *s);

/* Size of a token buffer with its NUL (LS_TOKEN_BUF of common/token.h). */
#define LS_SERVER_TOKEN_BUF 48

/* For in-process callers (`logstream demo`): makes a token of scope
 * "worker", "read" or "admin" named name, writes its text into ret_token and
 * its id into *ret_id (may be NULL). Returns 0 or a negative errno (-EINVAL
 * for another scope). */
int ls_server_issue_token(ls_server *s, const char *scope, const char *name,
                          char ret_token[LS_SERVER_TOKEN_BUF], int64_t *ret_id);

/* Deletes a token by id (ls_server_issue_token's); -ENOENT when there is none. */
int ls_server_revoke_token(ls_server *s, int64_t id);

/* Stops listening, flushes everything to the store, frees. NULL is a no-op. */
void ls_server_free(ls_server *s);

/* `logstream server`: start, print "logstream server listening on
 * http://HOST:PORT" to stdout (flush), run until SIGINT/SIGTERM, stop;
 * returns the process exit code. */
int ls_server_main(int argc, char **argv);

#endif
