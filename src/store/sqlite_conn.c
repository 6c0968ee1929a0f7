/* SQLite connection helpers, see sqlite_conn.h. */
#include "store/sqlite_conn.h"

#include <errno.h>
#include <string.h>

#include "store/store_backend.h"

int ls_sqlite_fail(ls_sqlite_conn *c, int rc, const char *what)
{
    const char *msg = (c && c->db) ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
    ls_store_set_error("%s: %s", what, msg);
    switch (rc & 0xff) {
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_NOMEM:
        return -ENOMEM;
    default:
        return -EIO;
    }
}

int ls_sqlite_conn_open(ls_sqlite_conn *c, const char *path, int flags, int busy_timeout_ms,
                        const char *const *sql, int n_sql)
{
    memset(c, 0, sizeof(*c));
    if (n_sql > LS_SQLITE_MAX_STMTS)
        return -EINVAL;
    c->sql = sql;
    c->n_sql = n_sql;
    if (pthread_mutex_init(&c->lock, NULL) != 0)
        return -ENOMEM;
    c->lock_ready = true;
    int rc = sqlite3_open_v2(path, &c->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return ls_sqlite_fail(c, rc, path);
    sqlite3_extended_result_codes(c->db, 1);
    rc = sqlite3_busy_timeout(c->db, busy_timeout_ms);
    if (rc != SQLITE_OK)
        return ls_sqlite_fail(c, rc, "setting the busy timeout");
    return 0;
}

void ls_sqlite_conn_close(ls_sqlite_conn *c)
{
    for (int i = 0; i < LS_SQLITE_MAX_STMTS; i++) {
        sqlite3_finalize(c->stmts[i]);
        c->stmts[i] = NULL;
    }
    sqlite3_close(c->db); /* NULL is a no-op */
    c->db = NULL;
    if (c->lock_ready)
        pthread_mutex_destroy(&c->lock);
    c->lock_ready = false;
}

sqlite3_stmt *ls_sqlite_stmt(ls_sqlite_conn *c, int id)
{
    if (id < 0 || id >= c->n_sql) {
        ls_store_set_error("internal: no statement %d", id);
        return NULL;
    }
    sqlite3_stmt *s = c->stmts[id];
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return s;
    }
    int rc = sqlite3_prepare_v3(c->db, c->sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
    if (rc != SQLITE_OK) {
        ls_sqlite_fail(c, rc, "preparing a statement");
        return NULL;
    }
    c->stmts[id] = s;
    return s;
}

sqlite3_stmt *ls_sqlite_prepare(ls_sqlite_conn *c, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        ls_sqlite_fail(c, rc, sql);
        sqlite3_finalize(stmt);
        return NULL;
    }
    return stmt;
}

int ls_sqlite_exec(ls_sqlite_conn *c, const char *sql, const char *what)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : ls_sqlite_fail(c, rc, what);
}

int ls_sqlite_run(ls_sqlite_conn *c, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);
    int r = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : ls_sqlite_fail(c, rc, what);
    sqlite3_reset(stmt);
    return r;
}

int ls_sqlite_query_int(ls_sqlite_conn *c, const char *sql, int64_t *ret)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
    int r;
    if (rc != SQLITE_OK) {
        r = ls_sqlite_fail(c, rc, sql);
        goto out;
    }
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        r = ls_sqlite_fail(c, rc == SQLITE_DONE ? SQLITE_ERROR : rc, sql);
        goto out;
    }
    *ret = sqlite3_column_int64(s, 0);
    r = 0;
out:
    sqlite3_finalize(s);
    return r;
}
