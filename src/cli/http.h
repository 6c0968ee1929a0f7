/* Blocking HTTP GET for the command layer (libcurl easy interface), with
 * errors turned into errno codes plus a message a person can act on. */
#ifndef LS_CLI_HTTP_H
#define LS_CLI_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "common/buf.h"

/* Sets the API token every request of the command layer sends as
 * "Authorization: Bearer TOKEN" (copied; NULL or "" = none). Call before the
 * first request, from one thread. */
void ls_http_set_token(const char *token);

/* Appends the Authorization header of the token set above (if any) to a
 * header list and returns the list (as curl_slist_append does). */
struct curl_slist *ls_http_auth_header(struct curl_slist *headers);

/* Receives body bytes of a 2xx answer; returns 0 to go on, non-zero to stop
 * (ls_http_get then returns -ECANCELED). */
typedef int (*ls_http_body_fn)(void *ctx, const char *data, size_t len);

/* GETs url with the given Accept header (NULL = none). A 2xx body streams to
 * fn. Returns 0 on 2xx; on failure writes a message into err and returns
 * -ECONNREFUSED (server unreachable), -ETIMEDOUT, -ENOENT (404), -EIO (any
 * other HTTP error or transfer failure), -ECANCELED (fn stopped it).
 * timeout_ms bounds the whole request (0 = no limit). */
int ls_http_get(const char *url, const char *accept, int64_t timeout_ms, ls_http_body_fn fn,
                void *ctx, char *err, size_t errlen);

/* Like ls_http_get, collecting the body into out (appended); more than max
 * bytes is -EFBIG. */
int ls_http_get_buf(const char *url, const char *accept, int64_t timeout_ms, size_t max,
                    ls_buf *out, char *err, size_t errlen);

/* Formats the message for a failed HTTP answer: the API's {"error": "..."}
 * text when the body holds one, else the status alone, and for 401/403 how to
 * give a token. Returns the matching -errno as ls_http_get does (-EACCES for
 * 401 and 403). */
int ls_http_status_error(const char *url, long status, const char *body, size_t len, char *err,
                         size_t errlen);

/* Formats the message for a libcurl transfer failure and returns the -errno. */
int ls_http_curl_error(const char *url, CURLcode code, const char *detail, char *err,
                       size_t errlen);

#endif
