#include "cli/http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

/* Keep at most this much of an error answer's body, to quote it. */
#define ERROR_BODY_MAX 8192

static char g_auth_header[512];

void ls_http_set_token(const char *token)
{
    if (token && *token)
        snprintf(g_auth_header, sizeof(g_auth_header), "Authorization: Bearer %s", token);
    else
        g_auth_header[0] = '\0';
}

struct curl_slist *ls_http_auth_header(struct curl_slist *headers)
{
    if (!g_auth_header[0])
        return headers;
    struct curl_slist *l = curl_slist_append(headers, g_auth_header);
    return l ? l : headers;
}

typedef struct get_ctx {
    CURL *easy;
    long status; /* 0 until the first body byte */
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
        hint = g_auth_header[0] ? " (is --token / LOGSTREAM_TOKEN a current token?)"
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

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
    get_ctx *g = userdata;
    size_t len = size * n;
    if (!g->status)
        curl_easy_getinfo(g->easy, CURLINFO_RESPONSE_CODE, &g->status);
    if (g->status < 200 || g->status > 299) {
        if (g->error_body.len + len <= ERROR_BODY_MAX)
            ls_buf_append(&g->error_body, data, len);
        return len;
    }
    if (g->fn && g->fn(g->fn_ctx, data, len) != 0) {
        g->stopped = 1;
        return 0;
    }
    return len;
}

int ls_http_get(const char *url, const char *accept, int64_t timeout_ms, ls_http_body_fn fn,
                void *ctx, char *err, size_t errlen)
{
    int r = 0;
    char curl_err[CURL_ERROR_SIZE] = "";
    char accept_hdr[256];
    struct curl_slist *hdrs = NULL;
    get_ctx g = {.fn = fn, .fn_ctx = ctx, .error_body = LS_BUF_INIT};
    g.easy = curl_easy_init();
    if (!g.easy) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return -ENOMEM;
    }
    if (accept) {
        snprintf(accept_hdr, sizeof(accept_hdr), "Accept: %s", accept);
        hdrs = curl_slist_append(hdrs, accept_hdr);
    }
    hdrs = ls_http_auth_header(hdrs);
    curl_easy_setopt(g.easy, CURLOPT_URL, url);
    curl_easy_setopt(g.easy, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(g.easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(g.easy, CURLOPT_WRITEDATA, &g);
    curl_easy_setopt(g.easy, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(g.easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(g.easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    CURLcode code = curl_easy_perform(g.easy);
    if (g.stopped) {
        snprintf(err, errlen, "%s: stopped", url);
        r = -ECANCELED;
        goto out;
    }
    if (code != CURLE_OK) {
        r = ls_http_curl_error(url, code, curl_err, err, errlen);
        goto out;
    }
    curl_easy_getinfo(g.easy, CURLINFO_RESPONSE_CODE, &g.status);
    if (g.status < 200 || g.status > 299)
        r = ls_http_status_error(url, g.status, g.error_body.data, g.error_body.len, err, errlen);
out:
    curl_easy_cleanup(g.easy);
    curl_slist_free_all(hdrs);
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
