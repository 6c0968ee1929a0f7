/* PostgreSQL back end: API tokens (store.h, "API tokens"), the same rows and
 * answers as store_sqlite_tokens.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "store/store_pg.h"

static ls_store_pg *from_store(ls_store *st)
{
    return (ls_store_pg *)st;
}

/* Columns: id, name, scope, build_id, created_ms, expires_ms, hash. */
static int row_to_token(const PGresult *res, int row, ls_token_info *t)
{
    char scope[16];
    size_t n, hash_len;
    memset(t, 0, sizeof(*t));
    t->id = ls_pg_get_i64(res, row, 0);
    const char *name = ls_pg_get_bytes(res, row, 1, &n);
    snprintf(t->name, sizeof(t->name), "%.*s", (int)(n < LS_NAME_MAX ? n : LS_NAME_MAX - 1), name);
    const char *sc = ls_pg_get_bytes(res, row, 2, &n);
    snprintf(scope, sizeof(scope), "%.*s", (int)(n < sizeof(scope) ? n : sizeof(scope) - 1), sc);
    t->build_id = ls_pg_is_null(res, row, 3) ? 0 : ls_pg_get_i64(res, row, 3);
    t->created_ms = ls_pg_get_i64(res, row, 4);
    t->expires_ms = ls_pg_get_i64(res, row, 5);
    const char *hash = ls_pg_get_bytes(res, row, 6, &hash_len);
    if (ls_scope_parse(scope, &t->scope) < 0 || hash_len != LS_TOKEN_HASH_BYTES) {
        ls_store_set_error("stored token %lld is damaged (scope '%s')", (long long)t->id, scope);
        return -EIO;
    }
    memcpy(t->hash, hash, LS_TOKEN_HASH_BYTES);
    return 0;
}

int ls_store_pg_create_token(ls_store *st, const ls_token_info *tok, int64_t *ret_id)
{
    ls_store_pg *s = from_store(st);
    ls_pg_conn *c;
    ls_pg_params p = {0};
    PGresult *res = NULL;
    int r = ls_pg_acquire(s->pool, &c);
    if (r < 0)
        return r;
    ls_pg_param_bytes(&p, tok->hash, LS_TOKEN_HASH_BYTES);
    ls_pg_param_str(&p, ls_scope_name(tok->scope));
    ls_pg_param_str(&p, tok->name);
    if (tok->scope == LS_SCOPE_BUILD)
        ls_pg_param_i64(&p, tok->build_id);
    else
        ls_pg_param_null(&p);
    ls_pg_param_i64(&p, tok->created_ms);
    ls_pg_param_i64(&p, tok->expires_ms);
    r = ls_pg_query(c, PG_TOKEN_INSERT, &p, "storing a token", &res);
    ls_pg_release(s->pool, c);
    if (r == -EEXIST)
        ls_store_set_error("a token with this hash exists");
    else if (r == -ENOENT)
        ls_store_set_error("no build %lld for a build token", (long long)tok->build_id);
    if (r == 0 && ret_id && PQntuples(res) == 1)
        *ret_id = ls_pg_get_i64(res, 0, 0);
    PQclear(res);
    return r;
}

int ls_store_pg_find_token(ls_store *st, const unsigned char hash[LS_TOKEN_HASH_BYTES],
                           ls_token_info *ret_token)
{
    ls_store_pg *s = from_store(st);
    ls_pg_conn *c;
    ls_pg_params p = {0};
    PGresult *res = NULL;
    ls_token_info t;
    int r = ls_pg_acquire(s->pool, &c);
    if (r < 0)
        return r;
    ls_pg_param_bytes(&p, hash, LS_TOKEN_HASH_BYTES);
    r = ls_pg_query(c, PG_TOKEN_FIND, &p, "looking up a token", &res);
    ls_pg_release(s->pool, c);
    if (r < 0)
        return r;
    if (PQntuples(res) == 0) {
        ls_store_set_error("no such token");
        r = -ENOENT;
    } else {
        r = row_to_token(res, 0, &t);
    }
    PQclear(res);
    if (r == 0)
        *ret_token = t;
    return r;
}

int ls_store_pg_list_tokens(ls_store *st, ls_token_info **ret_tokens, size_t *ret_n)
{
    ls_store_pg *s = from_store(st);
    ls_pg_conn *c;
    PGresult *res = NULL;
    int r = ls_pg_acquire(s->pool, &c);
    if (r < 0)
        return r;
    r = ls_pg_query(c, PG_TOKEN_LIST, NULL, "listing tokens", &res);
    ls_pg_release(s->pool, c);
    if (r < 0)
        return r;
    int n = PQntuples(res);
    ls_token_info *tokens = ls_xcalloc(n ? (size_t)n : 1, sizeof(*tokens));
    for (int i = 0; i < n && r == 0; i++)
        r = row_to_token(res, i, &tokens[i]);
    PQclear(res);
    if (r < 0) {
        free(tokens);
        return r;
    }
    *ret_tokens = tokens;
    *ret_n = (size_t)n;
    return 0;
}

int ls_store_pg_delete_token(ls_store *st, int64_t id)
{
    ls_store_pg *s = from_store(st);
    ls_pg_conn *c;
    ls_pg_params p = {0};
    PGresult *res = NULL;
    int r = ls_pg_acquire(s->pool, &c);
    if (r < 0)
        return r;
    ls_pg_param_i64(&p, id);
    r = ls_pg_query(c, PG_TOKEN_DELETE, &p, "deleting a token", &res);
    ls_pg_release(s->pool, c);
    if (r == 0 && strcmp(PQcmdTuples(res), "0") == 0) {
        ls_store_set_error("no token %lld", (long long)id);
        r = -ENOENT;
    }
    PQclear(res);
    return r;
}
