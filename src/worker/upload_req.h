/* One HTTP request of the uploader: a libcurl easy handle with its headers,
 * its body (owned copy, or fed by a read callback) and its response buffered
 * up to a limit. Used only from the uploader thread. */
#ifndef LS_WORKER_UPLOAD_REQ_H
#define LS_WORKER_UPLOAD_REQ_H

#include <curl/curl.h>
#include <stdint.h>

#include "common/buf.h"

/* Responses longer than this are cut (ours are small JSON objects). */
#define LS_UPLOAD_MAX_RESPONSE (64u * 1024u)
/* libcurl's upload buffer for a stream request. */
#define LS_UPLOAD_STREAM_BUFFER (256u * 1024u)

typedef enum {
    LS_REQ_PROBE,    /* GET .../stream before sending */
    LS_REQ_PROGRESS, /* GET .../stream while a stream request runs (stall check) */
    LS_REQ_STREAM,   /* chunked POST fed by a read callback */
    LS_REQ_BATCH,    /* POST with Content-Length */
    LS_REQ_CONTROL,  /* a control request from the FIFO */
} ls_req_kind;

typedef struct ls_upload_req {
    CURL *easy;
    ls_req_kind kind;
    void *owner; /* the stream (or NULL for control requests) */
    struct curl_slist *headers;
    ls_buf body;     /* request body for batch and control requests */
    ls_buf response; /* up to LS_UPLOAD_MAX_RESPONSE bytes */
    char errbuf[CURL_ERROR_SIZE];
} ls_upload_req;

typedef struct ls_upload_req_params {
    const char *url;
    const char *method; /* "GET", "POST", "PATCH" */
    const char *token;  /* NULL = no Authorization header */
    const char *content_type;
    int64_t connect_timeout_ms;
    int64_t timeout_ms; /* 0 = none (streams) */
} ls_upload_req_params;

/* Creates a request. For LS_REQ_STREAM the caller sets CURLOPT_READFUNCTION
 * and CURLOPT_READDATA afterwards; for others the body (may be empty) is
 * taken from req->body at ls_upload_req_set_body. Returns NULL when libcurl
 * cannot create a handle. CURLOPT_PRIVATE points at the request. */
ls_upload_req *ls_upload_req_new(ls_req_kind kind, void *owner, const ls_upload_req_params *p);

/* Sends req->body (its current contents) with a Content-Length. */
void ls_upload_req_set_body(ls_upload_req *req);

/* HTTP status of a finished request (0 when there was none). */
long ls_upload_req_status(ls_upload_req *req);

/* Frees the easy handle (already removed from the multi), headers and buffers.
 * NULL is a no-op. */
void ls_upload_req_free(ls_upload_req *req);

#endif
