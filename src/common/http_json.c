#include "common/http_json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"

typedef struct perform_ctx {
    CURL *easy;
    long status; /* 0 until the first body byte */
    const ls_http_json_req *req;
} perform_ctx;

struct curl_slist *ls_http_json_auth_header(struct curl_slist *headers, const char *token)
{
    if (!token || !*token)
        return headers;
    ls_buf h = LS_BUF_INIT;
    ls_buf_printf(&h, "Authorization: Bearer %s", token);
    struct curl_slist *l = curl_slist_append(headers, h.data);
    ls_buf_free(&h);
    return l ? l : headers;
}

/* libcurl's write callback: the sink learns the status with the first bytes. */
static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
    perform_ctx *p = userdata;
    size_t len = size * n;
    if (!p->req->fn)
        return len;
    if (!p->status)
        curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &p->status);
    return p->req->fn(p->req->fn_ctx, p->status, data, len) == 0 ? len : 0;
}

int ls_http_json_perform(const ls_http_json_req *req, long *ret_status, ls_http_json_failure *fail)
{
    int r = 0;
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    ls_buf accept = LS_BUF_INIT;
    perform_ctx p = {.req = req};
    p.easy = curl_easy_init();
    if (!p.easy)
        return -ENOMEM;
    if (req->accept) {
        ls_buf_printf(&accept, "Accept: %s", req->accept);
        headers = curl_slist_append(headers, accept.data);
    }
    if (req->body) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        /* no "Expect: 100-continue" round trip before a JSON body */
        headers = curl_slist_append(headers, "Expect:");
    }
    headers = ls_http_json_auth_header(headers, req->token);
    curl_easy_setopt(p.easy, CURLOPT_URL, req->url);
    curl_easy_setopt(p.easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(p.easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(p.easy, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(p.easy, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    curl_easy_setopt(p.easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(p.easy, CURLOPT_WRITEDATA, &p);
    if (req->http_only)
        curl_easy_setopt(p.easy, CURLOPT_PROTOCOLS_STR, "http,https");
    if (req->body) {
        curl_easy_setopt(p.easy, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(p.easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(req->body));
    }
    if (req->method && strcmp(req->method, req->body ? "POST" : "GET") != 0)
        curl_easy_setopt(p.easy, CURLOPT_CUSTOMREQUEST, req->method);
    CURLcode code = curl_easy_perform(p.easy);
    if (code != CURLE_OK) {
        if (fail) {
            fail->code = code;
            snprintf(fail->detail, sizeof(fail->detail), "%s", errbuf);
        }
        r = -EIO;
        goto out;
    }
    curl_easy_getinfo(p.easy, CURLINFO_RESPONSE_CODE, ret_status);
out:
    curl_easy_cleanup(p.easy);
    curl_slist_free_all(headers);
    ls_buf_free(&accept);
    return r;
}
