/* PostgreSQL back end: test runs (store_tests.h), the same rows as
 * store_sqlite_tests.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/timeutil.h"
#include "store/store_pg.h"
#include "store/store_tests.h"

int ls_store_pg_add_test_run(ls_store *st, const ls_test_run *run, int64_t *ret_id)
{
    ls_store_pg *s = (ls_store_pg *)st;
    ls_pg_conn *c;
    ls_pg_params p = {0};
    PGresult *res = NULL;
    int r = ls_pg_acquire(s->pool, &c);
    if (r < 0)
        return r;
    ls_pg_param_i64(&p, run->build_id);
    ls_pg_param_i64(&p, run->step);
    ls_pg_param_str(&p, run->framework);
    ls_pg_param_i64(&p, (int64_t)run->passed);
    ls_pg_param_i64(&p, (int64_t)run->failed);
    ls_pg_param_i64(&p, (int64_t)run->skipped);
    if (run->duration_ms >= 0)
        ls_pg_param_i64(&p, run->duration_ms);
    else
        ls_pg_param_null(&p);
    ls_pg_param_i64(&p, run->partial ? 1 : 0);
    ls_pg_param_str(&p, run->failures_json);
    ls_pg_param_i64(&p, ls_now_ms());
    r = ls_pg_query(c, PG_TEST_RUN_INSERT, &p, "storing a test run", &res);
    ls_pg_release(s->pool, c);
    if (r == -ENOENT) /* the foreign key: no such step */
        ls_store_no_step(run->build_id, run->step);
    if (r == 0 && ret_id && PQntuples(res) == 1)
        *ret_id = ls_pg_get_i64(res, 0, 0);
    PQclear(res);
    return r;
}

int ls_store_pg_list_test_runs(ls_store *st, int64_t build_id, ls_test_run **ret_runs,
                               size_t *ret_n)
{
    ls_store_pg *s = (ls_store_pg *)st;
    ls_pg_conn *c;
    ls_pg_params p = {0};
    PGresult *res = NULL;
    int r = ls_pg_acquire(s->pool, &c);
    if (r < 0)
        return r;
    ls_pg_param_i64(&p, build_id);
    r = ls_pg_query(c, PG_TEST_RUNS_OF_BUILD, &p, "listing test runs", &res);
    ls_pg_release(s->pool, c);
    if (r < 0)
        return r;
    int n = PQntuples(res);
    ls_test_run *runs = ls_xcalloc(n ? (size_t)n : 1, sizeof(*runs));
    for (int i = 0; i < n; i++) {
        ls_test_run *t = &runs[i];
        size_t len;
        t->id = ls_pg_get_i64(res, i, 0);
        t->build_id = build_id;
        t->step = (int)ls_pg_get_i64(res, i, 1);
        const char *fw = ls_pg_get_bytes(res, i, 2, &len);
        snprintf(t->framework, sizeof(t->framework), "%.*s",
                 (int)(len < LS_FRAMEWORK_MAX ? len : LS_FRAMEWORK_MAX - 1), fw);
        t->passed = (uint64_t)ls_pg_get_i64(res, i, 3);
        t->failed = (uint64_t)ls_pg_get_i64(res, i, 4);
        t->skipped = (uint64_t)ls_pg_get_i64(res, i, 5);
        t->duration_ms = ls_pg_is_null(res, i, 6) ? -1 : ls_pg_get_i64(res, i, 6);
        t->partial = ls_pg_get_i64(res, i, 7) != 0;
        const char *fj = ls_pg_get_bytes(res, i, 8, &len);
        t->failures_json = ls_xmemdup0(fj, len);
        t->created_ms = ls_pg_get_i64(res, i, 9);
    }
    PQclear(res);
    *ret_runs = runs;
    *ret_n = (size_t)n;
    return 0;
}
