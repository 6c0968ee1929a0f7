#include "pluginhost/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/http_json.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void init_curl(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void ls_ph_http_global_init(void)
{
    pthread_once(&curl_once, init_curl);
}

static int curl_error_to_errno(CURLcode c)
{
    switch (c) {
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return -EINVAL;
    default:
        return -EIO;
    }
}

int ls_ph_http_post_json(const char *base_url, const char *token, const char *path,
                         const char *json, int64_t timeout_ms, long *ret_status)
{
    int r = -EINVAL;
    long status = 0;
    ls_buf url = LS_BUF_INIT;
    ls_http_json_failure fail;
    if (!base_url || !*base_url || !path || path[0] != '/' || !json)
        goto out;
    ls_ph_http_global_init();
    ls_buf_printf(&url, "%s%s", base_url, path);
    /* the answer's body is not used: no sink discards it */
    ls_http_json_req req = {
        .url = url.data, .token = token, .body = json, .timeout_ms = timeout_ms, .http_only = true};
    r = ls_http_json_perform(&req, &status, &fail);
    if (r == -EIO)
        r = curl_error_to_errno(fail.code);
    else if (r == 0)
        r = status >= 200 && status < 300 ? 0 : -EPROTO;
out:
    if (ret_status)
        *ret_status = status;
    ls_buf_free(&url);
    return r;
}
