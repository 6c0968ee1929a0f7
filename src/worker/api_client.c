#include "worker/api_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"

/* Answers larger than this are cut; ours are small JSON objects. */
#define MAX_ANSWER (1024u * 1024u)

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    ls_buf *b = userdata;
    size_t n = size * nmemb;
    if (b->len < MAX_ANSWER)
        ls_buf_append(b, data, n < MAX_ANSWER - b->len ? n : MAX_ANSWER - b->len);
    return n;
}

int ls_api_call(const ls_api_client *c, const char *method, const char *path, const char *body,
                long *ret_status, json_t **ret_json, char *err, size_t errlen)
{
    int r = 0;
    ls_buf answer = LS_BUF_INIT;
    struct curl_slist *headers = NULL;
    char url[2048], auth[1024], errbuf[CURL_ERROR_SIZE] = "";
    CURL *easy = curl_easy_init();
    if (!easy) {
        snprintf(err, errlen, "cannot create an HTTP request");
        return -ENOMEM;
    }
    size_t n = strlen(c->server);
    while (n > 0 && c->server[n - 1] == '/')
        n--;
    snprintf(url, sizeof(url), "%.*s%s", (int)n, c->server, path);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    if (c->token && *c->token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
        headers = curl_slist_append(headers, auth);
    }
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)(c->timeout_ms > 0 ? c->timeout_ms : 30000));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &answer);
    if (strcmp(method, "GET") != 0)
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(easy);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
        r = -EIO;
        goto out;
    }
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, ret_status);
    *ret_json = answer.len ? json_loadb(answer.data, answer.len, 0, NULL) : NULL;
out:
    curl_slist_free_all(headers);
    curl_easy_cleanup(easy);
    ls_buf_free(&answer);
    return r;
}
