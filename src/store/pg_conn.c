/* PostgreSQL connection pool and helpers, see pg_conn.h. */
#include "store/pg_conn.h"

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "store/store_backend.h"

/* Seconds to wait for a connection before giving up (the URL may override). */
#define CONNECT_TIMEOUT "10"

struct ls_pg_pool {
    char *url;
    const char *const *sql;
    int n_sql;
    int size;
    ls_pg_conn *conns;
    bool *busy;
    pthread_mutex_t lock;
    pthread_cond_t freed;
};

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* The URL's own settings win over these defaults (later keywords override
 * earlier ones when dbname is expanded). */
static int connect_one(ls_pg_pool *p, ls_pg_conn *c)
{
    static const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *values[] = {CONNECT_TIMEOUT, "logstream", p->url, NULL};
    PQfinish(c->pg);
    c->prepared = 0;
    c->broken = true;
    c->pg = PQconnectdbParams(keys, values, 1);
    if (!c->pg) {
        ls_store_set_error("connecting to PostgreSQL: out of memory");
        return -ENOMEM;
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        /* libpq's message ends with a newline */
        const char *msg = PQerrorMessage(c->pg);
        int n = (int)strlen(msg);
        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
            n--;
        ls_store_set_error("cannot connect to PostgreSQL: %.*s", n, msg);
        return -EIO;
    }
    PQsetNoticeProcessor(c->pg, ignore_notice, NULL);
    c->broken = false;
    return 0;
}

int ls_pg_pool_new(const char *url, int size, const char *const *sql, int n_sql, ls_pg_pool **ret)
{
    if (!url || !*url || size < 1 || n_sql > LS_PG_MAX_STMTS) {
        ls_store_set_error("no database URL or no connections");
        return -EINVAL;
    }
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &err);
    if (!opts) {
        ls_store_set_error("bad PostgreSQL URL: %s", err ? err : "out of memory");
        PQfreemem(err);
        return -EINVAL;
    }
    PQconninfoFree(opts);

    ls_pg_pool *p = ls_xcalloc(1, sizeof(*p));
    p->url = ls_xstrdup(url);
    p->sql = sql;
    p->n_sql = n_sql;
    p->size = size;
    p->conns = ls_xcalloc((size_t)size, sizeof(*p->conns));
    p->busy = ls_xcalloc((size_t)size, sizeof(*p->busy));
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    int r = 0;
    for (int i = 0; i < size && r == 0; i++) {
        p->conns[i].index = i;
        p->conns[i].sql = sql;
        p->conns[i].n_sql = n_sql;
        r = connect_one(p, &p->conns[i]);
    }
    if (r < 0) {
        ls_pg_pool_free(p);
        return r;
    }
    *ret = p;
    return 0;
}

void ls_pg_pool_free(ls_pg_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->size; i++)
        PQfinish(p->conns[i].pg);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->freed);
    free(p->conns);
    free(p->busy);
    free(p->url);
    free(p);
}

int ls_pg_pool_size(const ls_pg_pool *p)
{
    return p->size;
}

int ls_pg_acquire(ls_pg_pool *p, ls_pg_conn **ret)
{
    ls_pg_conn *c = NULL;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        /* prefer a healthy connection over one that needs a reconnect */
        for (int i = 0; i < p->size; i++) {
            if (!p->busy[i] && (!c || (c->broken && !p->conns[i].broken)))
                c = &p->conns[i];
        }
        if (c)
            break;
        pthread_cond_wait(&p->freed, &p->lock);
    }
    p->busy[c->index] = true;
    pthread_mutex_unlock(&p->lock);
    if (c->broken || PQstatus(c->pg) != CONNECTION_OK) {
        int r = connect_one(p, c);
        if (r < 0) {
            ls_pg_release(p, c);
            return r;
        }
    }
    *ret = c;
    return 0;
}

void ls_pg_release(ls_pg_pool *p, ls_pg_conn *c)
{
    if (!c->broken && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        ls_pg_rollback(c);
        if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
            c->broken = true;
    }
    pthread_mutex_lock(&p->lock);
    p->busy[c->index] = false;
    /* A lost connection usually means a restarted or unreachable server: the
     * idle connections are gone too, so reconnect them before their next use
     * instead of failing one more call each. */
    if (c->broken) {
        for (int i = 0; i < p->size; i++) {
            if (!p->busy[i])
                p->conns[i].broken = true;
        }
    }
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

/* ---- parameters ---- */

static void add_param(ls_pg_params *p, const char *value, int len, int format)
{
    if (p->n >= LS_PG_MAX_PARAMS)
        abort(); /* a programming error: the statements are fixed */
    p->values[p->n] = value;
    p->lengths[p->n] = len;
    p->formats[p->n] = format;
    p->n++;
}

/* The buffer of the next parameter's binary integer. */
static char *int_slot(ls_pg_params *p)
{
    if (p->n >= LS_PG_MAX_PARAMS)
        abort(); /* a programming error: the statements are fixed */
    return p->ints[p->n];
}

void ls_pg_param_i64(ls_pg_params *p, int64_t v)
{
    uint64_t be = htobe64((uint64_t)v);
    char *slot = int_slot(p);
    memcpy(slot, &be, 8);
    add_param(p, slot, 8, 1);
}

void ls_pg_param_i32(ls_pg_params *p, int32_t v)
{
    uint32_t be = htobe32((uint32_t)v);
    char *slot = int_slot(p);
    memcpy(slot, &be, 4);
    add_param(p, slot, 4, 1);
}

void ls_pg_param_bytes(ls_pg_params *p, const void *data, size_t len)
{
    /* a non-NULL pointer even for zero bytes: NULL would mean SQL NULL */
    add_param(p, len ? (const char *)data : "", (int)len, 1);
}

void ls_pg_param_str(ls_pg_params *p, const char *s)
{
    add_param(p, s, (int)strlen(s), 1);
}

void ls_pg_param_textfmt(ls_pg_params *p, const char *s)
{
    add_param(p, s, 0, 0);
}

void ls_pg_param_null(ls_pg_params *p)
{
    add_param(p, NULL, 0, 1);
}

/* ---- errors ---- */

static bool is_connection_state(const char *state)
{
    return strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
           strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0;
}

int ls_pg_fail(ls_pg_conn *c, const PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (!msg || !*msg)
        msg = PQerrorMessage(c->pg);
    int n = (int)strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    ls_store_set_error("%s: %.*s%s%s%s", what, n, msg, state ? " (SQLSTATE " : "",
                       state ? state : "", state ? ")" : "");
    if (PQstatus(c->pg) != CONNECTION_OK || (state && is_connection_state(state))) {
        c->broken = true;
        return -EIO;
    }
    if (!state)
        return -EIO;
    if (strcmp(state, "53100") == 0)
        return -ENOSPC;
    if (strcmp(state, "53200") == 0)
        return -ENOMEM;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0)
        return -EBUSY;
    if (strcmp(state, "22021") == 0 || strcmp(state, "22P05") == 0)
        return -EINVAL;
    if (strcmp(state, "23505") == 0)
        return -EEXIST;
    if (strcmp(state, "23503") == 0)
        return -ENOENT;
    return -EIO;
}

/* ---- statements ---- */

static int prepare(ls_pg_conn *c, int id, const char *what)
{
    if (id < 0 || id >= c->n_sql) {
        ls_store_set_error("internal: no statement %d", id);
        return -EINVAL;
    }
    if (c->prepared & (1ull << id))
        return 0;
    char name[16];
    snprintf(name, sizeof(name), "ls%d", id);
    PGresult *res = PQprepare(c->pg, name, c->sql[id], 0, NULL);
    int r = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        r = ls_pg_fail(c, res, what);
    else
        c->prepared |= 1ull << id;
    PQclear(res);
    return r;
}

int ls_pg_query(ls_pg_conn *c, int id, const ls_pg_params *params, const char *what,
                PGresult **ret_res)
{
    int r = prepare(c, id, what);
    if (r < 0)
        return r;
    char name[16];
    snprintf(name, sizeof(name), "ls%d", id);
    PGresult *res =
        PQexecPrepared(c->pg, name, params ? params->n : 0, params ? params->values : NULL,
                       params ? params->lengths : NULL, params ? params->formats : NULL, 1);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        r = ls_pg_fail(c, res, what);
        PQclear(res);
        return r;
    }
    if (ret_res)
        *ret_res = res;
    else
        PQclear(res);
    return 0;
}

int ls_pg_send_rows(ls_pg_conn *c, int id, const ls_pg_params *params, const char *what)
{
    int r = prepare(c, id, what);
    if (r < 0)
        return r;
    char name[16];
    snprintf(name, sizeof(name), "ls%d", id);
    if (!PQsendQueryPrepared(c->pg, name, params ? params->n : 0, params ? params->values : NULL,
                             params ? params->lengths : NULL, params ? params->formats : NULL, 1))
        return ls_pg_fail(c, NULL, what);
    if (!PQsetSingleRowMode(c->pg)) {
        r = ls_pg_fail(c, NULL, what);
        ls_pg_drain(c);
        return r;
    }
    return 0;
}

int ls_pg_next_row(ls_pg_conn *c, const char *what, PGresult **ret_row)
{
    PGresult *res = PQgetResult(c->pg);
    if (!res)
        return 0;
    switch (PQresultStatus(res)) {
    case PGRES_SINGLE_TUPLE:
        *ret_row = res;
        return 1;
    case PGRES_TUPLES_OK: /* the end: no more rows */
        PQclear(res);
        ls_pg_drain(c);
        return 0;
    default: {
        int r = ls_pg_fail(c, res, what);
        PQclear(res);
        ls_pg_drain(c);
        return r;
    }
    }
}

void ls_pg_drain(ls_pg_conn *c)
{
    PGresult *res;
    while ((res = PQgetResult(c->pg)) != NULL)
        PQclear(res);
}

int ls_pg_exec(ls_pg_conn *c, const char *sql, const char *what)
{
    PGresult *res = PQexec(c->pg, sql);
    ExecStatusType st = PQresultStatus(res);
    int r = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : ls_pg_fail(c, res, what);
    PQclear(res);
    return r;
}

int ls_pg_copy_in(ls_pg_conn *c, const char *sql, const void *data, size_t len, const char *what)
{
    PGresult *res = PQexec(c->pg, sql);
    int r = 0;
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        r = ls_pg_fail(c, res, what);
        PQclear(res);
        return r;
    }
    PQclear(res);
    const char *p = data;
    /* libpq takes an int length: send big inputs in pieces */
    while (len > 0 && r == 0) {
        int n = len > (1u << 30) ? (1 << 30) : (int)len;
        if (PQputCopyData(c->pg, p, n) != 1)
            r = -EIO;
        p += n;
        len -= (size_t)n;
    }
    if (PQputCopyEnd(c->pg, r == 0 ? NULL : "logstream: sending the data failed") != 1 && r == 0)
        r = -EIO;
    int fail = 0;
    while ((res = PQgetResult(c->pg)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && fail == 0)
            fail = ls_pg_fail(c, res, what);
        PQclear(res);
    }
    if (fail < 0)
        return fail;
    if (r < 0)
        return ls_pg_fail(c, NULL, what);
    return 0;
}

void ls_pg_rollback(ls_pg_conn *c)
{
    if (c->broken || PQstatus(c->pg) != CONNECTION_OK)
        return;
    if (PQtransactionStatus(c->pg) == PQTRANS_IDLE)
        return;
    PGresult *res = PQexec(c->pg, "ROLLBACK");
    PQclear(res);
}

/* ---- results ---- */

int64_t ls_pg_get_i64(const PGresult *res, int row, int col)
{
    const unsigned char *v = (const unsigned char *)PQgetvalue(res, row, col);
    switch (PQgetlength(res, row, col)) {
    case 8: {
        uint64_t x;
        memcpy(&x, v, 8);
        return (int64_t)be64toh(x);
    }
    case 4: {
        uint32_t x;
        memcpy(&x, v, 4);
        return (int32_t)be32toh(x);
    }
    case 2: {
        uint16_t x;
        memcpy(&x, v, 2);
        return (int16_t)be16toh(x);
    }
    case 1: /* boolean */
        return v[0];
    default:
        return 0;
    }
}

const char *ls_pg_get_bytes(const PGresult *res, int row, int col, size_t *ret_len)
{
    *ret_len = (size_t)PQgetlength(res, row, col);
    return PQgetvalue(res, row, col);
}

bool ls_pg_is_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) != 0;
}
