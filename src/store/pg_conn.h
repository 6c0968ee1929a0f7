/* A pool of PostgreSQL connections (libpq) with per-connection prepared
 * statements, binary parameters and results, and the mapping of SQLSTATEs to
 * negative errnos. Internal to src/store.
 *
 * A thread takes a connection with ls_pg_acquire() (waiting on a condition
 * variable while all are in use) and gives it back with ls_pg_release(). A
 * connection that failed (server restart, network) is reconnected the next
 * time it is taken; its prepared statements are prepared again on first use. */
#ifndef LS_STORE_PG_CONN_H
#define LS_STORE_PG_CONN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LS_PG_MAX_STMTS 64
#define LS_PG_MAX_PARAMS 12

typedef struct ls_pg_conn {
    PGconn *pg;
    int index;              /* 0..pool size - 1: for per-connection state of the caller */
    uint64_t prepared;      /* bit i: statement i is prepared on this session */
    bool broken;            /* reconnect before the next use */
    const char *const *sql; /* statement texts by id (the pool's) */
    int n_sql;
} ls_pg_conn;

typedef struct ls_pg_pool ls_pg_pool;

/* Connects size connections to url (a libpq URL or conninfo string).
 * sql[0..n_sql) are the statements ls_pg_query() prepares by id (borrowed,
 * static; n_sql <= LS_PG_MAX_STMTS). Returns 0 and *ret, or -EIO (cannot
 * connect; message in ls_store_last_error()), -EINVAL. */
int ls_pg_pool_new(const char *url, int size, const char *const *sql, int n_sql, ls_pg_pool **ret);

/* Closes every connection; NULL is a no-op. No connection may be taken. */
void ls_pg_pool_free(ls_pg_pool *p);

/* Number of connections. */
int ls_pg_pool_size(const ls_pg_pool *p);

/* Takes a free connection (waits for one), reconnecting it if it is broken.
 * Returns 0 and *ret, or -EIO when the reconnect fails (the connection is
 * given back and stays broken). */
int ls_pg_acquire(ls_pg_pool *p, ls_pg_conn **ret);

/* Gives c back; rolls back a transaction left open (or marks c broken when
 * that fails). */
void ls_pg_release(ls_pg_pool *p, ls_pg_conn *c);

/* Parameters of one statement: every value is sent in binary except text
 * arrays (text format). The strings and blobs are borrowed. */
typedef struct ls_pg_params {
    int n;
    const char *values[LS_PG_MAX_PARAMS];
    int lengths[LS_PG_MAX_PARAMS];
    int formats[LS_PG_MAX_PARAMS];
    char ints[LS_PG_MAX_PARAMS][8];
} ls_pg_params;

/* Adds a bigint ($n::bigint in the SQL), an integer ($n::int), text or bytea
 * (binary), a text-format value (e.g. an array literal '{1,2}'), or NULL. */
void ls_pg_param_i64(ls_pg_params *p, int64_t v);
void ls_pg_param_i32(ls_pg_params *p, int32_t v);
void ls_pg_param_bytes(ls_pg_params *p, const void *data, size_t len);
void ls_pg_param_str(ls_pg_params *p, const char *s);
void ls_pg_param_textfmt(ls_pg_params *p, const char *s);
void ls_pg_param_null(ls_pg_params *p);

/* Runs prepared statement id (preparing it on this connection first if
 * needed) with binary results. Returns 0 and *ret_res (PQclear it; NULL if
 * ret_res is NULL) when the statement succeeded, or a negative errno (see
 * ls_pg_fail). */
int ls_pg_query(ls_pg_conn *c, int id, const ls_pg_params *params, const char *what,
                PGresult **ret_res);

/* Sends prepared statement id in single-row mode: the caller then reads
 * results with ls_pg_next_row() until it returns 0. */
int ls_pg_send_rows(ls_pg_conn *c, int id, const ls_pg_params *params, const char *what);

/* Returns 1 and *ret_row (one row; PQclear it), 0 at the end of the rows,
 * or a negative errno. After an error or an early stop call ls_pg_drain(). */
int ls_pg_next_row(ls_pg_conn *c, const char *what, PGresult **ret_row);

/* Reads and discards what is left of a sent query's results. */
void ls_pg_drain(ls_pg_conn *c);

/* Runs SQL text without parameters (BEGIN, COMMIT, DDL, SET). */
int ls_pg_exec(ls_pg_conn *c, const char *sql, const char *what);

/* Runs a COPY ... FROM STDIN statement and sends data[0..len) as its input. */
int ls_pg_copy_in(ls_pg_conn *c, const char *sql, const void *data, size_t len, const char *what);

/* Rolls back the transaction open on c, if any (errors are ignored; a broken
 * connection is left to the next acquire). */
void ls_pg_rollback(ls_pg_conn *c);

/* Records "what: message" as the last error and maps the failure to a negative
 * errno: SQLSTATE 53100 (disk full) -> -ENOSPC, 53200 -> -ENOMEM, 40001,
 * 40P01, 55P03 (serialization, deadlock, lock) -> -EBUSY, 22021/22P05 (bad
 * text encoding) -> -EINVAL, 23505 (unique violation) -> -EEXIST, 23503
 * (foreign key violation) -> -ENOENT, connection failures (class 08, 57P01-57P03, or
 * no SQLSTATE with the connection lost) -> -EIO with c marked broken, anything
 * else -> -EIO. res may be NULL. */
int ls_pg_fail(ls_pg_conn *c, const PGresult *res, const char *what);

/* Column value of row (binary results): an integer of any width, the bytes
 * and length of a text/bytea, NULL test. */
int64_t ls_pg_get_i64(const PGresult *res, int row, int col);
const char *ls_pg_get_bytes(const PGresult *res, int row, int col, size_t *ret_len);
bool ls_pg_is_null(const PGresult *res, int row, int col);

#endif
