/* One SQLite connection behind a mutex, with its cache of prepared
 * statements and the mapping of SQLite errors to negative errnos. Internal to
 * src/store. */
#ifndef LS_STORE_SQLITE_CONN_H
#define LS_STORE_SQLITE_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdint.h>

#define LS_SQLITE_MAX_STMTS 32

typedef struct ls_sqlite_conn {
    sqlite3 *db;
    pthread_mutex_t lock;
    bool lock_ready;
    const char *const *sql; /* statement texts by id (borrowed, static) */
    int n_sql;
    sqlite3_stmt *stmts[LS_SQLITE_MAX_STMTS]; /* prepared on first use */
} ls_sqlite_conn;

/* Opens path with flags (SQLITE_OPEN_*; NOMUTEX is added: the caller holds
 * c->lock) and sets the busy timeout. sql[0..n_sql) are the statements
 * ls_sqlite_stmt() prepares by id. On failure returns a negative errno with
 * the last error set, and c can still be closed. */
int ls_sqlite_conn_open(ls_sqlite_conn *c, const char *path, int flags, int busy_timeout_ms,
                        const char *const *sql, int n_sql);

/* Finalizes the statements and closes; a zeroed or half-opened c is fine. */
void ls_sqlite_conn_close(ls_sqlite_conn *c);

/* Returns statement id, prepared once and cached, reset with no bindings.
 * NULL on failure (last error set). */
sqlite3_stmt *ls_sqlite_stmt(ls_sqlite_conn *c, int id);

/* Prepares sql as a one-off statement (not cached: for statements that run
 * rarely). The caller sqlite3_finalize()s it. NULL on failure, with the last
 * error set to "sql: SQLite's message" (as ls_sqlite_query_int). */
sqlite3_stmt *ls_sqlite_prepare(ls_sqlite_conn *c, const char *sql);

/* Records "what: SQLite's message" as the last error and maps rc to a
 * negative errno: SQLITE_FULL -> -ENOSPC, SQLITE_BUSY/LOCKED -> -EBUSY,
 * SQLITE_NOMEM -> -ENOMEM, anything else -> -EIO. */
int ls_sqlite_fail(ls_sqlite_conn *c, int rc, const char *what);

/* Runs SQL text without results (pragmas, DDL, BEGIN/COMMIT). */
int ls_sqlite_exec(ls_sqlite_conn *c, const char *sql, const char *what);

/* Steps a statement that returns no row (INSERT/UPDATE/DELETE) and resets it. */
int ls_sqlite_run(ls_sqlite_conn *c, sqlite3_stmt *stmt, const char *what);

/* Reads a single-row, single-column integer query (e.g. a pragma). */
int ls_sqlite_query_int(ls_sqlite_conn *c, const char *sql, int64_t *ret);

#endif
