/* links: common server */
/* src/common/http_json.c against a small libmicrohttpd server on loopback:
 * what goes out (method, body, Content-Type, Authorization, Accept, no
 * Expect), what comes back (status and body to the sink, for 2xx and other
 * statuses), and the failures (refused, stopped by the sink, timed out, a
 * protocol other than http refused). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <microhttpd.h>

#include "common/buf.h"
#include "common/http_json.h"

/* What the server saw of the last request. */
typedef struct seen {
    char method[16];
    char content_type[64];
    char auth[128];
    char accept[64];
    int has_expect;
    ls_buf body;
} seen;

typedef struct fixture {
    struct MHD_Daemon *d;
    int port;
    seen last;
} fixture;

static void copy_header(struct MHD_Connection *conn, const char *name, char *out, size_t len)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
    snprintf(out, len, "%s", v ? v : "");
}

/* /status/NNN answers NNN with {"path": ...}; /slow answers after 2 s. */
static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls)
{
    fixture *f = cls;
    if (!*req_cls) { /* first call: headers only */
        *req_cls = f;
        memset(&f->last, 0, sizeof(f->last) - sizeof(f->last.body));
        ls_buf_reset(&f->last.body);
        snprintf(f->last.method, sizeof(f->last.method), "%s", method);
        copy_header(conn, "Content-Type", f->last.content_type, sizeof(f->last.content_type));
        copy_header(conn, "Authorization", f->last.auth, sizeof(f->last.auth));
        copy_header(conn, "Accept", f->last.accept, sizeof(f->last.accept));
        f->last.has_expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect") != NULL;
        return MHD_YES;
    }
    if (*upload_size) {
        ls_buf_append(&f->last.body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    unsigned status = 200;
    if (strncmp(url, "/status/", 8) == 0)
        status = (unsigned)atoi(url + 8);
    if (strcmp(url, "/slow") == 0)
        sleep(2);
    char body[256];
    snprintf(body, sizeof(body), "{\"path\":\"%s\"}", url);
    struct MHD_Response *res =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result r = MHD_queue_response(conn, status, res);
    MHD_destroy_response(res);
    return r;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
                            NULL, NULL, handler, f, MHD_OPTION_END);
    if (!f->d)
        return -1;
    f->port = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT)->port;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    MHD_stop_daemon(f->d);
    ls_buf_free(&f->last.body);
    free(f);
    return 0;
}

typedef struct got {
    long status;
    ls_buf body;
    int stop;
} got;

static int sink(void *ctx, long status, const char *data, size_t len)
{
    got *g = ctx;
    g->status = status;
    ls_buf_append(&g->body, data, len);
    return g->stop;
}

static void url_of(const fixture *f, const char *path, char *out, size_t len)
{
    snprintf(out, len, "http://127.0.0.1:%d%s", f->port, path);
}

static void test_post_json_with_token(void **state)
{
    fixture *f = *state;
    char url[128];
    url_of(f, "/status/201", url, sizeof(url));
    /* over 1 MiB: libcurl would ask for 100-continue unless told not to */
    size_t body_len = 1100 * 1024;
    char *body = malloc(body_len + 1);
    memset(body, ' ', body_len);
    memcpy(body, "{\"a\":1}", 7);
    body[body_len] = '\0';
    got g = {.body = LS_BUF_INIT};
    ls_http_json_req req = {
        .url = url, .token = "tok1", .body = body, .timeout_ms = 30000, .fn = sink, .fn_ctx = &g};
    long status = 0;
    assert_int_equal(ls_http_json_perform(&req, &status, NULL), 0);
    assert_int_equal(status, 201);
    assert_int_equal(g.status, 201);
    assert_string_equal(g.body.data, "{\"path\":\"/status/201\"}");
    assert_string_equal(f->last.method, "POST");
    assert_string_equal(f->last.content_type, "application/json");
    assert_string_equal(f->last.auth, "Bearer tok1");
    assert_int_equal(f->last.has_expect, 0);
    assert_int_equal(f->last.body.len, strlen(body));
    assert_memory_equal(f->last.body.data, body, strlen(body));
    free(body);
    ls_buf_free(&g.body);
}

static void test_get_with_accept_and_error_status(void **state)
{
    fixture *f = *state;
    char url[128];
    url_of(f, "/status/404", url, sizeof(url));
    got g = {.body = LS_BUF_INIT};
    ls_http_json_req req = {
        .url = url, .token = "", .accept = "application/x-ndjson", .fn = sink, .fn_ctx = &g};
    long status = 0;
    assert_int_equal(ls_http_json_perform(&req, &status, NULL), 0);
    assert_int_equal(status, 404);
    assert_int_equal(g.status, 404); /* the body of any status reaches the sink */
    assert_string_equal(g.body.data, "{\"path\":\"/status/404\"}");
    assert_string_equal(f->last.method, "GET");
    assert_string_equal(f->last.accept, "application/x-ndjson");
    assert_string_equal(f->last.auth, "");         /* "" token: no header */
    assert_string_equal(f->last.content_type, ""); /* no body: no Content-Type */
    ls_buf_free(&g.body);
}

static void test_other_method_and_discarded_body(void **state)
{
    fixture *f = *state;
    char url[128];
    url_of(f, "/x", url, sizeof(url));
    ls_http_json_req req = {.method = "PATCH", .url = url, .body = "{\"s\":1}"};
    long status = 0;
    assert_int_equal(ls_http_json_perform(&req, &status, NULL), 0);
    assert_int_equal(status, 200);
    assert_string_equal(f->last.method, "PATCH");
    assert_string_equal(f->last.body.data, "{\"s\":1}");
}

static void test_failures(void **state)
{
    fixture *f = *state;
    char url[128];
    ls_http_json_failure fail;
    long status = -1;
    got g = {.body = LS_BUF_INIT, .stop = 1};

    /* the sink stops the transfer */
    url_of(f, "/y", url, sizeof(url));
    ls_http_json_req req = {.url = url, .fn = sink, .fn_ctx = &g};
    assert_int_equal(ls_http_json_perform(&req, &status, &fail), -EIO);
    assert_int_equal(fail.code, CURLE_WRITE_ERROR);
    assert_int_equal(status, -1); /* untouched on failure */

    /* times out: the server answers after 2 s */
    url_of(f, "/slow", url, sizeof(url));
    req = (ls_http_json_req){.url = url, .timeout_ms = 200};
    assert_int_equal(ls_http_json_perform(&req, &status, &fail), -EIO);
    assert_int_equal(fail.code, CURLE_OPERATION_TIMEDOUT);
    assert_true(fail.detail[0] != '\0');

    /* only http and https when asked */
    req = (ls_http_json_req){.url = "file:///etc/hostname", .http_only = true};
    assert_int_equal(ls_http_json_perform(&req, &status, &fail), -EIO);
    assert_int_equal(fail.code, CURLE_UNSUPPORTED_PROTOCOL);

    /* nothing listens: stop the server and use its port */
    url_of(f, "/z", url, sizeof(url));
    MHD_stop_daemon(f->d);
    f->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_NO_LISTEN_SOCKET, 0, NULL,
                            NULL, handler, f, MHD_OPTION_END);
    assert_non_null(f->d);
    req = (ls_http_json_req){.url = url, .timeout_ms = 30000};
    assert_int_equal(ls_http_json_perform(&req, &status, &fail), -EIO);
    assert_int_equal(fail.code, CURLE_COULDNT_CONNECT);
    assert_int_equal(status, -1);
    ls_buf_free(&g.body);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_post_json_with_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_with_accept_and_error_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_method_and_discarded_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return r;
}
