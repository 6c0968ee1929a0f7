/* Access control (docs/api.md, "Authentication"): which scope each route
 * needs, checking a request's bearer token against the store, and issuing
 * tokens (the admin token at first start, build-scoped upload tokens, tokens
 * made through the tokens API or in-process by `logstream demo`).
 *
 * Tokens are random (src/common/token.h), stored only as SHA-256 hashes and
 * compared in constant time. Scopes:
 *   admin  everything, including the tokens API;
 *   worker create builds, write to (PATCH, stream into) any build;
 *   read   read builds, logs, events and /metrics;
 *   build  write to one build until it reaches a final status (or the
 *          token's time limit, --build-token-ttl): issued as "upload_token"
 *          in the answer to POST /api/v1/builds.
 * GET .../stream (the durable seq) is open to read tokens and to the writers
 * of the build. /healthz and the web UI's pages are public; with
 * --public-read every read (and /metrics) is; with --public-metrics only
 * /metrics is. */
#ifndef LS_SERVER_AUTH_H
#define LS_SERVER_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/token.h"
#include "server/reqparse.h"
#include "server/srv.h"
#include "store/store.h"

/* What a request needs. */
typedef enum {
    LS_ACCESS_PUBLIC,
    LS_ACCESS_READ,          /* admin, read; anyone with --public-read */
    LS_ACCESS_METRICS,       /* as READ; anyone with --public-metrics too */
    LS_ACCESS_CREATE,        /* admin, worker */
    LS_ACCESS_WRITE_BUILD,   /* admin, worker, the build's own build token */
    LS_ACCESS_STREAM_STATUS, /* READ or WRITE_BUILD */
    LS_ACCESS_ADMIN,
} ls_access;

/* The access a route needs for a method. Routes this table does not name
 * (added later) need READ for GET/HEAD, WRITE_BUILD for other methods on a
 * path with a build, ADMIN otherwise. */
ls_access ls_auth_required(const ls_route *route, const char *method);

/* The outcome of a check. On refusal status is 401 or 403 and code/message
 * say why (for the JSON error body); bearer_error is the RFC 6750 error for
 * the WWW-Authenticate header of a 401 ("invalid_token" when a token was sent
 * but is unknown or expired, NULL when none was sent). */
typedef struct ls_auth_decision {
    bool allowed;
    unsigned status;
    const char *code;
    const char *bearer_error;
    char message[256];
    bool has_token; /* a valid token was presented (then token is set) */
    ls_token_info token;
} ls_auth_decision;

/* Decides whether a request may go on. authorization is the Authorization
 * header (NULL when absent); access_token the ?access_token= query value,
 * used only when is_get and there is no header (EventSource cannot send
 * headers). build is the route's build id (0 when none). Store failures
 * refuse with status 503. Never fails otherwise; fills *ret. */
void ls_auth_check(ls_server *srv, ls_access need, int64_t build, const char *authorization,
                   const char *access_token, bool is_get, ls_auth_decision *ret);

/* Makes a token of a scope (build_id for LS_SCOPE_BUILD, else 0), stores its
 * hash, and writes its text (shown once) into ret_text. ttl_ms > 0 gives it a
 * time limit. Returns 0 (and *ret_id when not NULL) or a negative errno
 * (store errors as store.h; -ENOENT when the build does not exist). */
int ls_auth_issue(ls_server *srv, ls_scope scope, const char *name, int64_t build_id,
                  int64_t ttl_ms, char ret_text[LS_TOKEN_BUF], int64_t *ret_id);

/* First start: when the store has no admin token, makes one, keeps its text
 * in srv->new_admin_token (for ls_server_main to print once) and writes it to
 * admin_token_file (mode 0600, replaced) when that is set. Returns 0 or a
 * negative errno with a message in err. */
int ls_auth_bootstrap(ls_server *srv, const char *admin_token_file, char *err, size_t errlen);

#endif
