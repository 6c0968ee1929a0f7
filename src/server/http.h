/* HTTP glue over libmicrohttpd: one daemon in epoll mode with its own
 * thread, suspend/resume and an inter-thread channel; a routing table from
 * (route, method) to a handler; the per-request context; response helpers
 * (JSON, the JSON error object of docs/api.md, text). */
#ifndef LS_SERVER_HTTP_H
#define LS_SERVER_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "server/reqparse.h"
#include "server/srv.h"

typedef struct ls_http ls_http;
typedef struct ls_req ls_req;

/* A route's handler. begin runs on the first call (headers received) and may
 * queue a response at once; body receives upload data (set *size to the
 * bytes not consumed; NULL = accumulate a JSON body up to --max-json); finish
 * runs when the body is complete (and again after a resume) and must queue a
 * response or suspend. Each returns MHD_YES, or MHD_NO to drop the connection. */
typedef struct ls_handler {
    enum MHD_Result (*begin)(ls_req *r);
    enum MHD_Result (*body)(ls_req *r, const char *data, size_t *size);
    enum MHD_Result (*finish)(ls_req *r);
} ls_handler;

struct ls_req {
    ls_server *srv;
    struct MHD_Connection *conn;
    ls_route route;
    const char *method;
    const ls_handler *handler;
    ls_buf body; /* accumulated body (default body handler) */
    bool body_too_big;
    bool responded;
    void *state;                     /* the handler's own state */
    void (*state_free)(void *state); /* called when the request completes */
};

/* Starts the daemon on host:port (port 0 = any free port). Returns 0 and
 * *ret, or a negative errno with a message in err. */
int ls_http_start(ls_server *srv, const char *host, uint16_t port, ls_http **ret, char *err,
                  size_t errlen);
/* The bound port. */
unsigned ls_http_port(const ls_http *h);
/* Stops accepting connections (first step of a shutdown). */
void ls_http_quiesce(ls_http *h);
/* Resumes every suspended connection, waits (bounded) until MHD has handled
 * them, then stops the daemon. NULL is a no-op. */
void ls_http_stop(ls_http *h);

/* Request helpers. */
const char *ls_req_header(ls_req *r, const char *name);
const char *ls_req_query(ls_req *r, const char *name);

/* Queues a response (any thread may call this only from a handler). Each
 * returns MHD_YES or MHD_NO like MHD_queue_response. */
enum MHD_Result ls_req_respond_buf(ls_req *r, unsigned status, const char *content_type,
                                   const char *data, size_t len);
/* Sends obj (stolen) as JSON. */
enum MHD_Result ls_req_respond_json(ls_req *r, unsigned status, json_t *obj);
/* Sends {"error": message, "code": code} plus the fields of extra (stolen,
 * may be NULL). */
enum MHD_Result ls_req_respond_error(ls_req *r, unsigned status, const char *code,
                                     const char *message, json_t *extra);
/* Queues a streaming response from a content reader (MHD_SIZE_UNKNOWN). */
enum MHD_Result ls_req_respond_stream(ls_req *r, unsigned status, const char *content_type,
                                      MHD_ContentReaderCallback reader, void *cls,
                                      MHD_ContentReaderFreeCallback free_cb, bool no_buffering);

/* Parses the accumulated JSON body into an object. On failure queues a 400
 * and returns NULL. */
json_t *ls_req_json_body(ls_req *r);

#endif
