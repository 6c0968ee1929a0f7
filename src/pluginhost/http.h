/* The plugins' way to publish results: one JSON POST to the logstream server
 * with a timeout (libcurl). */
#ifndef LS_PLUGINHOST_HTTP_H
#define LS_PLUGINHOST_HTTP_H

#include <stdint.h>

/* Prepares libcurl; call once before any thread posts (idempotent, thread-safe). */
void ls_ph_http_global_init(void);

/* POSTs the NUL-terminated json to base_url + path with "Content-Type:
 * application/json" and, when token is non-empty, "Authorization: Bearer
 * TOKEN". Gives up after timeout_ms. Stores the HTTP status (0 when none) in
 * *ret_status when not NULL. Returns 0 for a 2xx status, -EPROTO for another
 * status, -EINVAL when base_url is empty or path does not start with '/',
 * -ETIMEDOUT, -ECONNREFUSED, or -EIO for other transport errors. */
int ls_ph_http_post_json(const char *base_url, const char *token, const char *path,
                         const char *json, int64_t timeout_ms, long *ret_status);

#endif
