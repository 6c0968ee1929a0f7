#include "pluginhost/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void init_curl(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void ls_ph_http_global_init(void)
{
    pthread_once(&curl_once, init_curl);
}

/* The answer's body is not used: discard it. */
static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    return size * nmemb;
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
    ls_buf url = LS_BUF_INIT, auth = LS_BUF_INIT;
    struct curl_slist *headers = NULL;
    CURL *c = NULL;
    if (!base_url || !*base_url || !path || path[0] != '/' || !json)
        goto out;
    ls_ph_http_global_init();
    c = curl_easy_init();
    if (!c) {
        r = -ENOMEM;
        goto out;
    }
    ls_buf_printf(&url, "%s%s", base_url, path);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    if (token && *token) {
        ls_buf_printf(&auth, "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, auth.data);
    }
    curl_easy_setopt(c, CURLOPT_URL, url.data);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        r = curl_error_to_errno(cc);
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    r = status >= 200 && status < 300 ? 0 : -EPROTO;
out:
    if (ret_status)
        *ret_status = status;
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    ls_buf_free(&url);
    ls_buf_free(&auth);
    return r;
}
