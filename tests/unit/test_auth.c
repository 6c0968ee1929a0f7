/* links: server store common */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/auth.h"

typedef struct fixture {
    char dir[64];
    ls_server srv;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_auth-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/db", f->dir);
    assert_int_equal(ls_store_open_sqlite(path, NULL, &f->srv.store), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ls_store_free(f->srv.store);
    free(f->srv.new_admin_token);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void test_route_table(void **state)
{
    ls_route r = {.id = LS_ROUTE_HEALTHZ};
    assert_int_equal(ls_auth_required(&r, "GET"), LS_ACCESS_PUBLIC);
    r = (ls_route){.id = LS_ROUTE_BUILDS};
    assert_int_equal(ls_auth_required(&r, "GET"), LS_ACCESS_READ);
    assert_int_equal(ls_auth_required(&r, "POST"), LS_ACCESS_CREATE);
    r = (ls_route){.id = LS_ROUTE_STEP_STREAM, .build = 3, .step = 1};
    assert_int_equal(ls_auth_required(&r, "POST"), LS_ACCESS_WRITE_BUILD);
    assert_int_equal(ls_auth_required(&r, "GET"), LS_ACCESS_STREAM_STATUS);
    r = (ls_route){.id = LS_ROUTE_STEP_LOGS, .build = 3, .step = 1};
    assert_int_equal(ls_auth_required(&r, "GET"), LS_ACCESS_READ);
    r = (ls_route){.id = LS_ROUTE_TOKEN, .token = 2};
    assert_int_equal(ls_auth_required(&r, "DELETE"), LS_ACCESS_ADMIN);
    /* a route added later: writes under a build need a writer of that build */
    r = (ls_route){.id = (ls_route_id)999, .build = 3};
    assert_int_equal(ls_auth_required(&r, "POST"), LS_ACCESS_WRITE_BUILD);
    assert_int_equal(ls_auth_required(&r, "GET"), LS_ACCESS_READ);
    r.build = 0;
    assert_int_equal(ls_auth_required(&r, "PUT"), LS_ACCESS_ADMIN);
}

static void check(ls_server *srv, ls_access need, int64_t build, const char *token,
                  unsigned want_status, const char *want_code)
{
    char header[128];
    snprintf(header, sizeof(header), "Bearer %s", token);
    ls_auth_decision d;
    ls_auth_check(srv, need, build, token ? header : NULL, NULL, false, &d);
    if (want_status == 200) {
        if (!d.allowed)
            fail_msg("refused (%u %s: %s), expected allowed", d.status, d.code, d.message);
        return;
    }
    assert_false(d.allowed);
    assert_int_equal(d.status, want_status);
    assert_string_equal(d.code, want_code);
}

static void test_scopes_and_expiry(void **state)
{
    fixture *f = *state;
    ls_server *srv = &f->srv;
    char worker[LS_TOKEN_BUF], read[LS_TOKEN_BUF], up[LS_TOKEN_BUF], old[LS_TOKEN_BUF];
    assert_int_equal(ls_auth_bootstrap(srv, NULL, NULL, 0), 0);
    assert_non_null(srv->new_admin_token);
    assert_int_equal(ls_auth_issue(srv, LS_SCOPE_WORKER, "w", 0, 0, worker, NULL), 0);
    assert_int_equal(ls_auth_issue(srv, LS_SCOPE_READ, "r", 0, 0, read, NULL), 0);
    ls_build_info b, b2;
    assert_int_equal(ls_store_create_build(srv->store, "x", NULL, 0, &b), 0);
    assert_int_equal(ls_store_create_build(srv->store, "x", NULL, 0, &b2), 0);
    assert_int_equal(ls_auth_issue(srv, LS_SCOPE_BUILD, "u", b.id, 0, up, NULL), 0);
    assert_int_equal(ls_auth_issue(srv, LS_SCOPE_BUILD, "t", b.id, 1, old, NULL), 0);
    usleep(5000);

    check(srv, LS_ACCESS_ADMIN, 0, srv->new_admin_token, 200, NULL);
    check(srv, LS_ACCESS_ADMIN, 0, worker, 403, "forbidden");
    check(srv, LS_ACCESS_READ, 0, worker, 403, "forbidden");
    check(srv, LS_ACCESS_CREATE, 0, worker, 200, NULL);
    check(srv, LS_ACCESS_READ, 0, read, 200, NULL);
    check(srv, LS_ACCESS_WRITE_BUILD, b.id, read, 403, "forbidden");
    check(srv, LS_ACCESS_WRITE_BUILD, b.id, up, 200, NULL);
    check(srv, LS_ACCESS_WRITE_BUILD, b2.id, up, 403, "wrong_build");
    check(srv, LS_ACCESS_READ, b.id, up, 403, "forbidden");
    check(srv, LS_ACCESS_WRITE_BUILD, b.id, old, 401, "token_expired"); /* its TTL passed */
    check(srv, LS_ACCESS_READ, 0, NULL, 401, "unauthorized");
    check(srv, LS_ACCESS_PUBLIC, 0, NULL, 200, NULL);
    check(srv, LS_ACCESS_READ, 0, "lst_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 401,
          "invalid_token");
    check(srv, LS_ACCESS_READ, 0, "not-a-token", 401, "invalid_token");

    /* the build ends: its upload token stops working */
    b.status = LS_STATUS_SUCCESS;
    assert_int_equal(ls_store_update_build(srv->store, &b), 0);
    check(srv, LS_ACCESS_WRITE_BUILD, b.id, up, 401, "token_expired");

    /* --public-read: reads need no token, but a sent token must be valid */
    srv->cfg.public_read = true;
    check(srv, LS_ACCESS_READ, 0, NULL, 200, NULL);
    check(srv, LS_ACCESS_METRICS, 0, NULL, 200, NULL);
    check(srv, LS_ACCESS_CREATE, 0, NULL, 401, "unauthorized");
    check(srv, LS_ACCESS_READ, 0, "not-a-token", 401, "invalid_token");

    /* the admin token is made once */
    free(srv->new_admin_token);
    srv->new_admin_token = NULL;
    assert_int_equal(ls_auth_bootstrap(srv, NULL, NULL, 0), 0);
    assert_null(srv->new_admin_token);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_table),
        cmocka_unit_test_setup_teardown(test_scopes_and_expiry, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
