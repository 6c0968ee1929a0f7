/* SQLite back end: test runs (store_tests.h). A run is one row of test_runs
 * (schema migration "test runs" in sqlite_schema.c); its failures are kept as
 * the JSON text the server validated. Runs are added a few times per step,
 * so the statements are prepared per call rather than cached. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/timeutil.h"
#include "store/store_sqlite.h"
#include "store/store_tests.h"

static ls_store_sqlite *from_store(ls_store *st)
{
    return (ls_store_sqlite *)st;
}

int ls_store_sqlite_add_test_run(ls_store *st, const ls_test_run *run, int64_t *ret_id)
{
    ls_store_sqlite *s = from_store(st);
    sqlite3_stmt *ins = NULL;
    int rc;
    pthread_mutex_lock(&s->writer.lock);
    /* the step must exist (the foreign key would say so too, but only as a
     * constraint error) */
    int r = ls_store_sqlite_step_exists(s, run->build_id, run->step,
                                        "looking up the step of a test run");
    if (r < 0)
        goto out;
    r = -EIO;
    ins = ls_sqlite_prepare(
        &s->writer, "INSERT INTO test_runs(build_id, step, framework, passed, failed, skipped, "
                    "duration_ms, partial, failures, created_ms) "
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (!ins)
        goto out;
    sqlite3_bind_int64(ins, 1, run->build_id);
    sqlite3_bind_int(ins, 2, run->step);
    sqlite3_bind_text(ins, 3, run->framework, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 4, (int64_t)run->passed);
    sqlite3_bind_int64(ins, 5, (int64_t)run->failed);
    sqlite3_bind_int64(ins, 6, (int64_t)run->skipped);
    if (run->duration_ms >= 0)
        sqlite3_bind_int64(ins, 7, run->duration_ms);
    sqlite3_bind_int(ins, 8, run->partial);
    sqlite3_bind_text(ins, 9, run->failures_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 10, ls_now_ms());
    rc = sqlite3_step(ins);
    if (rc != SQLITE_DONE) {
        r = ls_sqlite_fail(&s->writer, rc, "storing a test run");
        goto out;
    }
    if (ret_id)
        *ret_id = sqlite3_last_insert_rowid(s->writer.db);
    r = 0;
out:
    sqlite3_finalize(ins);
    pthread_mutex_unlock(&s->writer.lock);
    return r;
}

int ls_store_sqlite_list_test_runs(ls_store *st, int64_t build_id, ls_test_run **ret_runs,
                                   size_t *ret_n)
{
    ls_store_sqlite *s = from_store(st);
    ls_test_run *runs = NULL;
    size_t n = 0, cap = 0;
    int r = -EIO, rc;
    pthread_mutex_lock(&s->reader.lock);
    sqlite3_stmt *stmt = ls_sqlite_prepare(
        &s->reader, "SELECT id, step, framework, passed, failed, skipped, duration_ms, "
                    "partial, failures, created_ms FROM test_runs WHERE build_id = ?1 "
                    "ORDER BY id");
    if (!stmt)
        goto out;
    sqlite3_bind_int64(stmt, 1, build_id);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            runs = ls_xreallocarray(runs, cap, sizeof(*runs));
        }
        ls_test_run *t = &runs[n++];
        memset(t, 0, sizeof(*t));
        t->id = sqlite3_column_int64(stmt, 0);
        t->build_id = build_id;
        t->step = sqlite3_column_int(stmt, 1);
        const unsigned char *fw = sqlite3_column_text(stmt, 2);
        snprintf(t->framework, sizeof(t->framework), "%s", fw ? (const char *)fw : "");
        t->passed = (uint64_t)sqlite3_column_int64(stmt, 3);
        t->failed = (uint64_t)sqlite3_column_int64(stmt, 4);
        t->skipped = (uint64_t)sqlite3_column_int64(stmt, 5);
        t->duration_ms =
            sqlite3_column_type(stmt, 6) == SQLITE_NULL ? -1 : sqlite3_column_int64(stmt, 6);
        t->partial = sqlite3_column_int(stmt, 7) != 0;
        const unsigned char *fj = sqlite3_column_text(stmt, 8);
        t->failures_json = ls_xstrdup(fj ? (const char *)fj : "[]");
        t->created_ms = sqlite3_column_int64(stmt, 9);
    }
    if (rc != SQLITE_DONE) {
        r = ls_sqlite_fail(&s->reader, rc, "listing test runs");
        goto out;
    }
    *ret_runs = runs ? runs : ls_xcalloc(1, sizeof(*runs));
    *ret_n = n;
    runs = NULL;
    n = 0;
    r = 0;
out:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->reader.lock);
    ls_test_runs_free(runs, n);
    return r;
}
