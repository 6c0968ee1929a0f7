/* Access control, see auth.h. */
#include "server/auth.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/timeutil.h"

ls_access ls_auth_required(const ls_route *route, const char *method)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    switch (route->id) {
    case LS_ROUTE_HEALTHZ:
        return LS_ACCESS_PUBLIC;
    case LS_ROUTE_METRICS:
        return LS_ACCESS_METRICS;
    case LS_ROUTE_BUILDS:
        return get ? LS_ACCESS_READ : LS_ACCESS_CREATE;
    case LS_ROUTE_STEP_STREAM:
        return get ? LS_ACCESS_STREAM_STATUS : LS_ACCESS_WRITE_BUILD;
    case LS_ROUTE_TOKENS:
    case LS_ROUTE_TOKEN:
        return LS_ACCESS_ADMIN;
    default:
        if (get)
            return LS_ACCESS_READ;
        return route->build ? LS_ACCESS_WRITE_BUILD : LS_ACCESS_ADMIN;
    }
}

static const char *access_name(ls_access a)
{
    switch (a) {
    case LS_ACCESS_READ:
    case LS_ACCESS_METRICS:
        return "a read (or admin) token";
    case LS_ACCESS_CREATE:
        return "a worker (or admin) token";
    case LS_ACCESS_WRITE_BUILD:
        return "a worker or admin token, or this build's upload_token";
    case LS_ACCESS_STREAM_STATUS:
        return "a read, worker or admin token, or this build's upload_token";
    case LS_ACCESS_ADMIN:
        return "an admin token";
    default:
        return "no token";
    }
}

static void refuse(ls_auth_decision *d, unsigned status, const char *code, const char *bearer_error,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void refuse(ls_auth_decision *d, unsigned status, const char *code, const char *bearer_error,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->message, sizeof(d->message), fmt, ap);
    va_end(ap);
    d->allowed = false;
    d->status = status;
    d->code = code;
    d->bearer_error = bearer_error;
}

static bool public_for(const ls_server *srv, ls_access need)
{
    if (need == LS_ACCESS_PUBLIC)
        return true;
    if (need == LS_ACCESS_READ || need == LS_ACCESS_STREAM_STATUS)
        return srv->cfg.public_read;
    if (need == LS_ACCESS_METRICS)
        return srv->cfg.public_read || srv->cfg.public_metrics;
    return false;
}

/* Whether a valid token's scope grants need on build. */
static bool scope_grants(const ls_token_info *t, ls_access need, int64_t build)
{
    switch (t->scope) {
    case LS_SCOPE_ADMIN:
        return true;
    case LS_SCOPE_WORKER:
        return need == LS_ACCESS_CREATE || need == LS_ACCESS_WRITE_BUILD ||
               need == LS_ACCESS_STREAM_STATUS;
    case LS_SCOPE_READ:
        return need == LS_ACCESS_READ || need == LS_ACCESS_METRICS ||
               need == LS_ACCESS_STREAM_STATUS;
    case LS_SCOPE_BUILD:
        return (need == LS_ACCESS_WRITE_BUILD || need == LS_ACCESS_STREAM_STATUS) &&
               build == t->build_id;
    }
    return false;
}

/* Looks the presented token up; refuses (401/503) when it is unknown,
 * expired, or its build has ended. */
static int validate(ls_server *srv, const char *text, size_t len, ls_auth_decision *d)
{
    unsigned char hash[LS_TOKEN_HASH_LEN];
    if (!ls_token_well_formed(text, len)) {
        refuse(d, 401, "invalid_token", "invalid_token",
               "the token is not a logstream token (they look like lst_ and 43 more "
               "characters); check what you sent");
        return -EINVAL;
    }
    ls_token_hash(text, len, hash);
    int rc = ls_store_find_token(srv->store, hash, &d->token);
    if (rc == -ENOENT || (rc == 0 && !ls_token_equal(hash, d->token.hash, sizeof(hash)))) {
        refuse(d, 401, "invalid_token", "invalid_token",
               "the token is unknown or was revoked; ask an admin for a new one");
        return -ENOENT;
    }
    if (rc < 0) {
        refuse(d, 503, "store_error", NULL, "cannot check the token: %s (see the server log)",
               ls_store_last_error());
        return rc;
    }
    if (d->token.expires_ms && ls_now_ms() >= d->token.expires_ms) {
        refuse(d, 401, "token_expired", "invalid_token", "the token expired");
        return -EKEYEXPIRED;
    }
    if (d->token.scope == LS_SCOPE_BUILD) {
        ls_build_info b;
        rc = ls_store_get_build(srv->store, d->token.build_id, &b, NULL, NULL);
        if (rc == 0 && ls_status_is_final(b.status)) {
            refuse(d, 401, "token_expired", "invalid_token",
                   "the upload token of build %lld expired when the build ended (%s)",
                   (long long)b.id, ls_status_name(b.status));
            return -EKEYEXPIRED;
        }
        if (rc == -ENOENT) {
            refuse(d, 401, "token_expired", "invalid_token",
                   "the upload token's build %lld no longer exists", (long long)d->token.build_id);
            return -EKEYEXPIRED;
        }
        if (rc < 0) {
            refuse(d, 503, "store_error", NULL, "cannot check the token: %s (see the server log)",
                   ls_store_last_error());
            return rc;
        }
    }
    d->has_token = true;
    return 0;
}

void ls_auth_check(ls_server *srv, ls_access need, int64_t build, const char *authorization,
                   const char *access_token, bool is_get, ls_auth_decision *ret)
{
    ls_auth_decision *d = ret;
    memset(d, 0, sizeof(*d));
    if (need == LS_ACCESS_PUBLIC) {
        d->allowed = true;
        return;
    }
    const char *text = NULL;
    size_t len = 0;
    if (authorization) {
        text = ls_token_from_bearer(authorization, &len);
        if (!text) {
            refuse(d, 401, "unauthorized", "invalid_request",
                   "the Authorization header must be \"Bearer TOKEN\"");
            return;
        }
    } else if (is_get && access_token && *access_token) {
        text = access_token;
        len = strlen(access_token);
    }
    if (!text) {
        if (public_for(srv, need)) {
            d->allowed = true;
            return;
        }
        refuse(d, 401, "unauthorized", NULL,
               "this needs %s: send \"Authorization: Bearer TOKEN\" (see docs/api.md, "
               "Authentication)",
               access_name(need));
        return;
    }
    if (validate(srv, text, len, d) < 0)
        return;
    if (scope_grants(&d->token, need, build) || public_for(srv, need)) {
        d->allowed = true;
        return;
    }
    if (d->token.scope == LS_SCOPE_BUILD && build && build != d->token.build_id &&
        (need == LS_ACCESS_WRITE_BUILD || need == LS_ACCESS_STREAM_STATUS))
        refuse(d, 403, "wrong_build", NULL,
               "this upload token belongs to build %lld, not to build %lld",
               (long long)d->token.build_id, (long long)build);
    else
        refuse(d, 403, "forbidden", NULL, "a %s token cannot do this: it needs %s",
               ls_scope_name(d->token.scope), access_name(need));
}

/* Stores the hash of the token text (LS_TOKEN_LEN characters). */
static int store_token(ls_server *srv, ls_scope scope, const char *name, int64_t build_id,
                       int64_t ttl_ms, const char *text, int64_t *ret_id)
{
    ls_token_info t = {.scope = scope, .build_id = build_id, .created_ms = ls_now_ms()};
    snprintf(t.name, sizeof(t.name), "%s", name ? name : "");
    if (ttl_ms > 0)
        t.expires_ms = t.created_ms + ttl_ms;
    ls_token_hash(text, LS_TOKEN_LEN, t.hash);
    return ls_store_create_token(srv->store, &t, ret_id);
}

int ls_auth_issue(ls_server *srv, ls_scope scope, const char *name, int64_t build_id,
                  int64_t ttl_ms, char ret_text[LS_TOKEN_BUF], int64_t *ret_id)
{
    char text[LS_TOKEN_BUF];
    int r = ls_token_generate(text);
    if (r == 0)
        r = store_token(srv, scope, name, build_id, ttl_ms, text, ret_id);
    if (r == 0)
        memcpy(ret_text, text, LS_TOKEN_BUF);
    memset(text, 0, sizeof(text));
    return r;
}

/* Writes the token and a newline to path with mode 0600, replacing it. */
static int write_token_file(const char *path, const char *token, char *err, size_t errlen)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        snprintf(err, errlen, "--admin-token-file path is too long");
        return -ENAMETOOLONG;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    int r = 0;
    if (fd < 0)
        goto fail;
    size_t len = strlen(token);
    if (fchmod(fd, 0600) < 0 || write(fd, token, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
        fsync(fd) < 0)
        goto fail;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto fail;
    return 0;
fail:
    r = -errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    snprintf(err, errlen, "cannot write the admin token to %s: %s", path, strerror(-r));
    return r;
}

int ls_auth_bootstrap(ls_server *srv, const char *admin_token_file, char *err, size_t errlen)
{
    ls_token_info *tokens = NULL;
    size_t n = 0;
    int r = ls_store_list_tokens(srv->store, &tokens, &n);
    if (r < 0) {
        snprintf(err, errlen, "cannot read the API tokens: %s", ls_store_last_error());
        return r;
    }
    bool have_admin = false;
    for (size_t i = 0; i < n; i++)
        have_admin = have_admin || tokens[i].scope == LS_SCOPE_ADMIN;
    free(tokens);
    if (have_admin)
        return 0;
    /* The file first: a token whose hash is stored but that nobody can
     * read would lock everyone out (the next start makes a new one when
     * storing fails). */
    char text[LS_TOKEN_BUF];
    r = ls_token_generate(text);
    if (r < 0) {
        snprintf(err, errlen, "cannot make the admin token: getrandom: %s", strerror(-r));
        return r;
    }
    if (admin_token_file && *admin_token_file) {
        r = write_token_file(admin_token_file, text, err, errlen);
        if (r < 0)
            goto out;
    }
    r = store_token(srv, LS_SCOPE_ADMIN, "admin (first start)", 0, 0, text, NULL);
    if (r < 0) {
        snprintf(err, errlen, "cannot store the admin token: %s", ls_store_last_error());
        goto out;
    }
    srv->new_admin_token = ls_xstrdup(text);
out:
    memset(text, 0, sizeof(text));
    return r;
}
_Static_assert(LS_SERVER_TOKEN_BUF == LS_TOKEN_BUF, "server.h token buffer size");
