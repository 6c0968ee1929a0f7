#include "worker/upload_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

static size_t on_response(char *data, size_t size, size_t nmemb, void *userdata)
{
    ls_upload_req *req = userdata;
    size_t n = size * nmemb;
    size_t room =
        req->response.len < LS_UPLOAD_MAX_RESPONSE ? LS_UPLOAD_MAX_RESPONSE - req->response.len : 0;
    ls_buf_append(&req->response, data, n < room ? n : room);
    return n;
}

static void add_header(ls_upload_req *req, const char *fmt, const char *value)
{
    char line[1024];
    snprintf(line, sizeof(line), fmt, value);
    struct curl_slist *l = curl_slist_append(req->headers, line);
    if (l)
        req->headers = l;
}

ls_upload_req *ls_upload_req_new(ls_req_kind kind, void *owner, const ls_upload_req_params *p)
{
    CURL *easy = curl_easy_init();
    if (!easy)
        return NULL;
    ls_upload_req *req = ls_xcalloc(1, sizeof(*req));
    req->easy = easy;
    req->kind = kind;
    req->owner = owner;
    curl_easy_setopt(easy, CURLOPT_URL, p->url);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, req);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->errbuf);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_response);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)p->connect_timeout_ms);
    if (p->timeout_ms > 0)
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
    /* Send the body at once: the server reads it as it arrives. */
    add_header(req, "%s", "Expect:");
    if (p->token && *p->token)
        add_header(req, "Authorization: Bearer %s", p->token);
    if (p->content_type)
        add_header(req, "Content-Type: %s", p->content_type);
    if (kind == LS_REQ_STREAM) {
        add_header(req, "%s", "Transfer-Encoding: chunked");
        curl_easy_setopt(easy, CURLOPT_POST, 1L);
        /* Fewer read callbacks and send() calls per MB (default 64 KiB). */
        curl_easy_setopt(easy, CURLOPT_UPLOAD_BUFFERSIZE, (long)LS_UPLOAD_STREAM_BUFFER);
    } else if (strcmp(p->method, "GET") != 0) {
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, p->method);
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, req->headers);
    return req;
}

void ls_upload_req_set_body(ls_upload_req *req)
{
    curl_easy_setopt(req->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
    curl_easy_setopt(req->easy, CURLOPT_POSTFIELDS, req->body.data ? req->body.data : "");
}

long ls_upload_req_status(ls_upload_req *req)
{
    long status = 0;
    curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

void ls_upload_req_free(ls_upload_req *req)
{
    if (!req)
        return;
    curl_easy_cleanup(req->easy);
    curl_slist_free_all(req->headers);
    ls_buf_free(&req->body);
    ls_buf_free(&req->response);
    free(req);
}
