/* Blocking JSON calls to the server's API, for the few requests the worker
 * must finish before it can go on (creating the build). Everything sent while
 * steps run goes through the uploader instead. */
#ifndef LS_WORKER_API_CLIENT_H
#define LS_WORKER_API_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ls_api_client {
    const char *server; /* base URL, e.g. "http://127.0.0.1:8080" (trailing '/' allowed) */
    const char *token;  /* NULL = none */
    int64_t timeout_ms; /* whole request; 0 = 30 s */
} ls_api_client;

/* Sends METHOD server+path with body (JSON text or NULL). On an HTTP answer
 * returns 0, *ret_status, and *ret_json (the parsed body, NULL when it is not
 * JSON; caller json_decref's). On a transport failure (refused, timeout, ...)
 * returns -EIO and writes libcurl's message into err. */
int ls_api_call(const ls_api_client *c, const char *method, const char *path, const char *body,
                long *ret_status, json_t **ret_json, char *err, size_t errlen);

#endif
