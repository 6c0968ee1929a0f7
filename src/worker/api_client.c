#include "worker/api_client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/http_json.h"

/* Answers larger than this are cut; ours are small JSON objects. */
#define MAX_ANSWER (1024u * 1024u)

static int on_body(void *ctx, long status, const char *data, size_t n)
{
    ls_buf *b = ctx;
    if (b->len < MAX_ANSWER)
        ls_buf_append(b, data, n < MAX_ANSWER - b->len ? n : MAX_ANSWER - b->len);
    return 0;
}

int ls_api_call(const ls_api_client *c, const char *method, const char *path, const char *body,
                long *ret_status, json_t **ret_json, char *err, size_t errlen)
{
    ls_buf answer = LS_BUF_INIT;
    ls_http_json_failure fail;
    char url[2048];
    size_t n = strlen(c->server);
    while (n > 0 && c->server[n - 1] == '/')
        n--;
    snprintf(url, sizeof(url), "%.*s%s", (int)n, c->server, path);
    ls_http_json_req req = {.method = method,
                            .url = url,
                            .token = c->token,
                            .body = body,
                            .timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : 30000,
                            .fn = on_body,
                            .fn_ctx = &answer};
    int r = ls_http_json_perform(&req, ret_status, &fail);
    if (r == -ENOMEM) {
        snprintf(err, errlen, "cannot create an HTTP request");
        goto out;
    }
    if (r < 0) {
        snprintf(err, errlen, "%s", fail.detail[0] ? fail.detail : curl_easy_strerror(fail.code));
        goto out;
    }
    *ret_json = answer.len ? json_loadb(answer.data, answer.len, 0, NULL) : NULL;
out:
    ls_buf_free(&answer);
    return r;
}
