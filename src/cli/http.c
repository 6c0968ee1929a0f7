#include "cli/http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "common/http_json.h"

/* Keep at most this much of an error answer's body, to quote it. */
#define ERROR_BODY_MAX 8192

static char g_token[512];

void ls_http_set_token(const char *token)
{
    snprintf(g_token, sizeof(g_token), "%s", token ? token : "");
}

struct curl_slist *ls_http_auth_header(struct curl_slist *headers)
{
    return ls_http_json_auth_header(headers, g_token);
}

typedef struct get_ctx {
    ls_http_body_fn fn;
    void *fn_ctx;
    ls_buf error_body;
    int stopped;
} get_ctx;

int ls_http_status_error(const char *url, long status, const char *body, size_t len, char *err,
                         size_t errlen)
{
    const char *msg = NULL;
    json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    if (j && json_is_object(j))
        msg = json_string_value(json_object_get(j, "error"));
    const char *hint = "";
    if (status == 401)
        hint = g_token[0] ? " (is --token / LOGSTREAM_TOKEN a current token?)"
                          : " (give a read token with --token or LOGSTREAM_TOKEN)";
    else if (status == 403)
        hint = " (the token's scope does not allow this: use a read token)";
    if (msg)
        snprintf(err, errlen, "%s: HTTP %ld: %s%s", url, status, msg, hint);
    else
        snprintf(err, errlen, "%s: HTTP %ld%s", url, status, hint);
    json_decref(j);
    if (status == 401 || status == 403)
        return -EACCES;
    return status == 404 ? -ENOENT : -EIO;
}

int ls_http_curl_error(const char *url, CURLcode code, const char *detail, char *err, size_t errlen)
{
    const char *why = detail && *detail ? detail : curl_easy_strerror(code);
    switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        snprintf(err, errlen,
                 "cannot reach the logstream server at %s (%s); is `logstream server` "
                 "running? Set --server or LOGSTREAM_SERVER to its URL",
                 url, why);
        return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(err, errlen, "%s: timed out (%s)", url, why);
        return -ETIMEDOUT;
    default:
        snprintf(err, errlen, "%s: %s", url, why);
        return -EIO;
    }
}

/* A 2xx body streams to the caller; another status's body is kept to quote. */
static int on_body(void *ctx, long status, const char *data, size_t len)
{
    get_ctx *g = ctx;
    if (status < 200 || status > 299) {
        if (g->error_body.len + len <= ERROR_BODY_MAX)
            ls_buf_append(&g->error_body, data, len);
        return 0;
    }
    if (g->fn && g->fn(g->fn_ctx, data, len) != 0) {
        g->stopped = 1;
        return 1;
    }
    return 0;
}

int ls_http_get(const char *url, const char *accept, int64_t timeout_ms, ls_http_body_fn fn,
                void *ctx, char *err, size_t errlen)
{
    long status = 0;
    ls_http_json_failure fail;
    get_ctx g = {.fn = fn, .fn_ctx = ctx, .error_body = LS_BUF_INIT};
    ls_http_json_req req = {.url = url,
                            .token = g_token,
                            .accept = accept,
                            .timeout_ms = timeout_ms,
                            .fn = on_body,
                            .fn_ctx = &g};
    int r = ls_http_json_perform(&req, &status, &fail);
    if (r == -ENOMEM) {
        snprintf(err, errlen, "cannot initialise libcurl");
    } else if (g.stopped) {
        snprintf(err, errlen, "%s: stopped", url);
        r = -ECANCELED;
    } else if (r < 0) {
        r = ls_http_curl_error(url, fail.code, fail.detail, err, errlen);
    } else if (status < 200 || status > 299) {
        r = ls_http_status_error(url, status, g.error_body.data, g.error_body.len, err, errlen);
    }
    ls_buf_free(&g.error_body);
    return r;
}

typedef struct collect_ctx {
    ls_buf *out;
    size_t max;
    size_t got;
    int too_big;
} collect_ctx;

static int collect(void *ctx, const char *data, size_t len)
{
    collect_ctx *c = ctx;
    if (c->got + len > c->max) {
        c->too_big = 1;
        return 1;
    }
    ls_buf_append(c->out, data, len);
    c->got += len;
    return 0;
}

int ls_http_get_buf(const char *url, const char *accept, int64_t timeout_ms, size_t max,
                    ls_buf *out, char *err, size_t errlen)
{
    collect_ctx c = {.out = out, .max = max};
    int r = ls_http_get(url, accept, timeout_ms, collect, &c, err, errlen);
    if (r == -ECANCELED && c.too_big) {
        snprintf(err, errlen, "%s: answer larger than %zu bytes", url, max);
        return -EFBIG;
    }
    return r;
}
