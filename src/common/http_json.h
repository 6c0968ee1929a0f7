/* One blocking request to the logstream JSON API (libcurl easy interface): the
 * part every client of the API shares. It builds the headers (the bearer
 * token, Accept, Content-Type for a JSON body), sends the request, hands the
 * answer's body to the caller together with its HTTP status, and reports a
 * transfer failure as libcurl's code and message. What a failure means, how
 * long to wait, whether to retry and how to read the body stay with the
 * callers (src/cli/http.c, src/worker/api_client.c, src/pluginhost/http.c):
 * they differ on purpose.
 *
 * The caller must have called curl_global_init() (or ls_ph_http_global_init())
 * before the first request, from one thread. */
#ifndef LS_COMMON_HTTP_JSON_H
#define LS_COMMON_HTTP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

/* Receives the answer's body as it arrives, with the answer's HTTP status.
 * Returns 0 to go on, non-zero to stop the transfer (the request then fails
 * with CURLE_WRITE_ERROR; the sink remembers why). */
typedef int (*ls_http_json_sink_fn)(void *ctx, long status, const char *data, size_t len);

typedef struct ls_http_json_req {
    const char *method;      /* NULL = GET, or POST when body is set */
    const char *url;         /* the whole URL */
    const char *token;       /* sent as "Authorization: Bearer TOKEN"; NULL or "" = none */
    const char *accept;      /* value of the Accept header; NULL = none */
    const char *body;        /* NUL-terminated JSON sent as application/json; NULL = none */
    int64_t timeout_ms;      /* bounds the whole request; 0 = no limit */
    bool http_only;          /* refuse URLs of other protocols than http and https */
    ls_http_json_sink_fn fn; /* NULL = the body is discarded */
    void *fn_ctx;
} ls_http_json_req;

/* What a failed transfer reports: libcurl's code and its message (may be ""). */
typedef struct ls_http_json_failure {
    CURLcode code;
    char detail[CURL_ERROR_SIZE];
} ls_http_json_failure;

/* Appends "Authorization: Bearer TOKEN" to a header list when token is not
 * NULL or "", and returns the list (as curl_slist_append does; the list given
 * when appending fails). */
struct curl_slist *ls_http_json_auth_header(struct curl_slist *headers, const char *token);

/* Sends req. Returns 0 when an HTTP answer came, whatever its status, and
 * stores the status in *ret_status; -EIO when the transfer failed (refused,
 * timed out, stopped by the sink, ...): then *fail (when not NULL) holds
 * libcurl's code and message; -ENOMEM when libcurl cannot make a handle. */
int ls_http_json_perform(const ls_http_json_req *req, long *ret_status, ls_http_json_failure *fail);

#endif
