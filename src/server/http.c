#include "server/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/timeutil.h"
#include "server/auth.h"
#include "server/build_events.h"
#include "server/ingest.h"
#include "server/logs_read.h"
#include "server/routes_builds.h"
#include "server/routes_ops.h"
#include "server/routes_tests.h"
#include "server/routes_tools.h"
#include "server/routes_tokens.h"
#include "server/search.h"
#include "server/server_events.h"
#include "server/ui.h"
#include "server/waker.h"

struct ls_http {
    ls_server *srv;
    struct MHD_Daemon *daemon;
    unsigned port;
    bool quiesced;
};

typedef struct route_entry {
    ls_route_id id;
    const char *method;
    const ls_handler *handler;
} route_entry;

static const route_entry routes[] = {
    {LS_ROUTE_HEALTHZ, "GET", &ls_healthz_handler},
    {LS_ROUTE_METRICS, "GET", &ls_metrics_handler},
    {LS_ROUTE_BUILDS, "GET", &ls_builds_list_handler},
    {LS_ROUTE_BUILDS, "POST", &ls_builds_create_handler},
    {LS_ROUTE_BUILD, "GET", &ls_build_get_handler},
    {LS_ROUTE_BUILD, "PATCH", &ls_build_patch_handler},
    {LS_ROUTE_BUILD_EVENTS, "GET", &ls_build_events_handler},
    {LS_ROUTE_STEP, "GET", &ls_step_get_handler},
    {LS_ROUTE_STEP, "PATCH", &ls_step_patch_handler},
    {LS_ROUTE_STEP_STREAM, "POST", &ls_ingest_handler},
    {LS_ROUTE_STEP_STREAM, "GET", &ls_stream_status_handler},
    {LS_ROUTE_STEP_LOGS, "GET", &ls_logs_handler},
    {LS_ROUTE_TOKENS, "GET", &ls_tokens_list_handler},
    {LS_ROUTE_TOKENS, "POST", &ls_tokens_create_handler},
    {LS_ROUTE_TOKEN, "DELETE", &ls_token_delete_handler},
    {LS_ROUTE_STEP_SEARCH, "GET", &ls_search_handler},
    {LS_ROUTE_EVENTS, "GET", &ls_server_events_handler},
    {LS_ROUTE_BUILD_TESTS, "GET", &ls_tests_get_handler},
    {LS_ROUTE_BUILD_TESTS, "POST", &ls_tests_post_handler},
    {LS_ROUTE_BUILD_TOOL_USAGE, "GET", &ls_tool_usage_get_handler},
    {LS_ROUTE_BUILD_TOOL_USAGE, "POST", &ls_tool_usage_post_handler},
};

const char *ls_req_header(ls_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *ls_req_query(ls_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result queue(ls_req *r, unsigned status, struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    if (ret == MHD_YES)
        r->responded = true;
    return ret;
}

enum MHD_Result ls_req_respond_buf(ls_req *r, unsigned status, const char *content_type,
                                   const char *data, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return queue(r, status, resp);
}

enum MHD_Result ls_req_respond_json(ls_req *r, unsigned status, json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!text)
        return MHD_NO;
    size_t len = strlen(text);
    text[len] = '\0';
    /* one trailing newline makes curl output readable */
    char *withnl = ls_xmalloc(len + 2);
    memcpy(withnl, text, len);
    withnl[len] = '\n';
    withnl[len + 1] = '\0';
    free(text);
    enum MHD_Result ret = ls_req_respond_buf(r, status, "application/json", withnl, len + 1);
    free(withnl);
    return ret;
}

enum MHD_Result ls_req_respond_error(ls_req *r, unsigned status, const char *code,
                                     const char *message, json_t *extra)
{
    json_t *obj = json_object();
    json_t *text = json_string(message);
    if (!text) {
        /* not UTF-8 (it quotes a hostile path): show those bytes as '?' */
        char *copy = ls_xstrdup(message ? message : "");
        for (char *p = copy; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        text = json_string(copy);
        free(copy);
    }
    json_object_set_new(obj, "error", text);
    json_object_set_new(obj, "code", json_string(code));
    if (extra) {
        json_object_update(obj, extra);
        json_decref(extra);
    }
    return ls_req_respond_json(r, status, obj);
}

enum MHD_Result ls_req_respond_stream(ls_req *r, unsigned status, const char *content_type,
                                      MHD_ContentReaderCallback reader, void *cls,
                                      MHD_ContentReaderFreeCallback free_cb, bool no_buffering)
{
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, reader, cls, free_cb);
    if (!resp) {
        free_cb(cls);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (no_buffering)
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return queue(r, status, resp);
}

json_t *ls_req_json_body(ls_req *r)
{
    json_error_t jerr;
    json_t *obj = NULL;
    if (r->body_too_big) {
        char msg[128];
        snprintf(msg, sizeof(msg), "request body is larger than --max-json (%lld bytes)",
                 (long long)r->srv->cfg.max_json_bytes);
        ls_req_respond_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large", msg, NULL);
        return NULL;
    }
    obj = json_loadb(r->body.data ? r->body.data : "", r->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj || !json_is_object(obj)) {
        char msg[300];
        if (obj)
            snprintf(msg, sizeof(msg), "the body must be a JSON object");
        else
            snprintf(msg, sizeof(msg), "the body is not valid JSON: %s (line %d, column %d)",
                     jerr.text, jerr.line, jerr.column);
        json_decref(obj);
        ls_req_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_json", msg, NULL);
        return NULL;
    }
    return obj;
}

/* Queues the 401/403/503 of a refused request: the JSON error object, and
 * for a 401 the WWW-Authenticate challenge of RFC 6750. */
static void respond_refused(ls_req *r, const ls_auth_decision *d)
{
    json_t *obj = json_pack("{s:s, s:s}", "error", d->message, "code", d->code);
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!text)
        return;
    size_t len = strlen(text);
    text[len] = '\n'; /* overwrites the NUL; the length says where it ends */
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len + 1, text, MHD_RESPMEM_MUST_COPY);
    free(text);
    if (!resp)
        return;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (d->status == MHD_HTTP_UNAUTHORIZED) {
        char challenge[128];
        if (d->bearer_error)
            snprintf(challenge, sizeof(challenge), "Bearer realm=\"logstream\", error=\"%s\"",
                     d->bearer_error);
        else
            snprintf(challenge, sizeof(challenge), "Bearer realm=\"logstream\"");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, challenge);
    }
    queue(r, d->status, resp);
}

/* The one place where a request's credentials are checked (auth.h says who
 * may do what). Returns true when the request may proceed; otherwise it has
 * queued a 401/403. */
static bool authorize(ls_req *r)
{
    ls_auth_decision d;
    bool get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    ls_auth_check(r->srv, ls_auth_required(&r->route, r->method), r->route.build,
                  ls_req_header(r, MHD_HTTP_HEADER_AUTHORIZATION), ls_req_query(r, "access_token"),
                  get, &d);
    if (d.allowed)
        return true;
    respond_refused(r, &d);
    return false;
}

static enum MHD_Result accumulate_body(ls_req *r, const char *data, size_t *size)
{
    if (r->body.len + *size > (size_t)r->srv->cfg.max_json_bytes)
        r->body_too_big = true;
    else
        ls_buf_append(&r->body, data, *size);
    *size = 0;
    return MHD_YES;
}

/* First call of a request: route, method, authorization, the handler's begin. */
static enum MHD_Result start_request(ls_req *r, const char *url)
{
    const char *error = NULL;
    int rc = ls_route_parse(url, &r->route, &error);
    if (rc == -ENOENT && ls_ui_claims(url))
        return ls_ui_respond(r, url);
    if (rc == -EINVAL)
        return ls_req_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_path", error, NULL);
    if (rc < 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "there is no %.120s; see docs/api.md for the API", url);
        return ls_req_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", msg, NULL);
    }
    bool path_known = false;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (routes[i].id != r->route.id)
            continue;
        path_known = true;
        if (strcmp(routes[i].method, r->method) == 0) {
            r->handler = routes[i].handler;
            break;
        }
    }
    if (!r->handler) {
        (void)path_known;
        char msg[200];
        snprintf(msg, sizeof(msg), "method %.20s is not allowed on %.120s", r->method, url);
        return ls_req_respond_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", msg,
                                    NULL);
    }
    if (!authorize(r))
        return MHD_YES;
    if (r->handler->begin)
        return r->handler->begin(r);
    return MHD_YES;
}

/* Percent-decodes a URL path or query value as MHD does, except one holding
 * %00: decoding it would cut the C string there, and the request would
 * silently address a shorter path (/api/v1/builds/1%00/x as build 1). Left
 * encoded, it fails to parse as the path or value it claims to be: 4xx. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    for (const char *p = strchr(s, '%'); p; p = strchr(p + 1, '%'))
        if (p[1] == '0' && p[2] == '0')
            return strlen(s);
    return MHD_http_unescape(s);
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    ls_http *h = cls;
    ls_req *r = *con_cls;
    if (!r) {
        r = ls_xcalloc(1, sizeof(*r));
        r->srv = h->srv;
        r->conn = conn;
        r->method = method;
        *con_cls = r;
        return start_request(r, url);
    }
    if (r->responded) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (r->handler->body)
            return r->handler->body(r, upload_data, upload_data_size);
        return accumulate_body(r, upload_data, upload_data_size);
    }
    if (!r->handler->finish)
        return MHD_NO;
    return r->handler->finish(r);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    ls_req *r = *con_cls;
    if (!r)
        return;
    if (r->state_free)
        r->state_free(r->state);
    ls_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

/* Resolves host (numeric or a name) for listening. */
static int resolve(const char *host, uint16_t port, struct sockaddr_storage *ret, char *err,
                   size_t errlen)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(*host ? host : NULL, "0", &hints, &ai);
    if (rc != 0 || !ai) {
        snprintf(err, errlen, "cannot resolve listen host '%s': %s", host, gai_strerror(rc));
        return -EINVAL;
    }
    memset(ret, 0, sizeof(*ret));
    memcpy(ret, ai->ai_addr, ai->ai_addrlen);
    if (ret->ss_family == AF_INET)
        ((struct sockaddr_in *)ret)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)ret)->sin6_port = htons(port);
    freeaddrinfo(ai);
    return 0;
}

int ls_http_start(ls_server *srv, const char *host, uint16_t port, ls_http **ret, char *err,
                  size_t errlen)
{
    struct sockaddr_storage addr;
    int rc = resolve(host, port, &addr, err, errlen);
    if (rc < 0)
        return rc;
    ls_http *h = ls_xcalloc(1, sizeof(*h));
    h->srv = srv;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (srv->tls_cert_pem) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, errlen,
                     "this libmicrohttpd was built without TLS: drop --tls-cert "
                     "and put a TLS-terminating proxy in front (docs/deploy.md)");
            return -ENOTSUP;
        }
        flags |= MHD_USE_TLS;
    }
    const ls_server_config *c = &srv->cfg;
    h->daemon = MHD_start_daemon(
        flags, port, NULL, NULL, access_cb, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)((c->idle_timeout_ms + 999) / 1000), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)c->connection_memory, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, h,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
        /* without TLS the next option ends the list */
        srv->tls_cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, srv->tls_cert_pem,
        MHD_OPTION_HTTPS_MEM_KEY, srv->tls_key_pem, MHD_OPTION_END);
    if (!h->daemon) {
        if (srv->tls_cert_pem)
            snprintf(err, errlen,
                     "cannot listen on %s:%u with TLS (address in use, or --tls-cert/--tls-key "
                     "not a matching PEM certificate and key?)",
                     host, (unsigned)port);
        else
            snprintf(err, errlen,
                     "cannot listen on %s:%u (address in use, or not an address of this machine?)",
                     host, (unsigned)port);
        free(h);
        return -EADDRNOTAVAIL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : port;
    *ret = h;
    return 0;
}

unsigned ls_http_port(const ls_http *h)
{
    return h->port;
}

void ls_http_quiesce(ls_http *h)
{
    if (!h || h->quiesced)
        return;
    MHD_socket fd = MHD_quiesce_daemon(h->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    h->quiesced = true;
}

void ls_http_stop(ls_http *h)
{
    if (!h)
        return;
    ls_http_quiesce(h);
    /* MHD_stop_daemon must not see suspended connections: resume them all
     * (their handlers see the closed waker and finish) and wait until MHD has
     * run them. Bounded, in case a connection never comes back. */
    int64_t deadline = ls_mono_ms() + 5000;
    do {
        ls_waker_set_close_all(h->srv->wakers);
        if (ls_waker_set_busy(h->srv->wakers) == 0)
            break;
        usleep(2000);
    } while (ls_mono_ms() < deadline);
    MHD_stop_daemon(h->daemon);
    free(h);
}
