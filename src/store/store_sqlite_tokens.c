/* SQLite back end: API tokens (store.h, "API tokens"). Token calls are rare
 * next to log appends (one lookup per HTTP request at most), so their
 * statements are prepared per call rather than kept in the connection's
 * statement cache. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "store/store_sqlite.h"

#define TOKEN_COLUMNS "id, name, scope, build_id, created_ms, expires_ms, hash"

static ls_store_sqlite *from_store(ls_store *st)
{
    return (ls_store_sqlite *)st;
}

static int prepare(ls_sqlite_conn *c, const char *sql, sqlite3_stmt **ret)
{
    int rc = sqlite3_prepare_v2(c->db, sql, -1, ret, NULL);
    return rc == SQLITE_OK ? 0 : ls_sqlite_fail(c, rc, "preparing a token statement");
}

static int row_to_token(sqlite3_stmt *stmt, ls_token_info *t)
{
    memset(t, 0, sizeof(*t));
    t->id = sqlite3_column_int64(stmt, 0);
    const unsigned char *name = sqlite3_column_text(stmt, 1);
    snprintf(t->name, sizeof(t->name), "%s", name ? (const char *)name : "");
    const char *scope = (const char *)sqlite3_column_text(stmt, 2);
    t->build_id = sqlite3_column_int64(stmt, 3);
    t->created_ms = sqlite3_column_int64(stmt, 4);
    t->expires_ms = sqlite3_column_int64(stmt, 5);
    if (ls_scope_parse(scope, &t->scope) < 0 ||
        sqlite3_column_bytes(stmt, 6) != LS_TOKEN_HASH_BYTES) {
        ls_store_set_error("stored token %lld is damaged (scope '%s')", (long long)t->id,
                           scope ? scope : "(null)");
        return -EIO;
    }
    memcpy(t->hash, sqlite3_column_blob(stmt, 6), LS_TOKEN_HASH_BYTES);
    return 0;
}

int ls_store_sqlite_create_token(ls_store *st, const ls_token_info *tok, int64_t *ret_id)
{
    ls_store_sqlite *s = from_store(st);
    sqlite3_stmt *stmt = NULL;
    pthread_mutex_lock(&s->writer.lock);
    int r = prepare(&s->writer,
                    "INSERT INTO tokens(hash, scope, name, build_id, created_ms, expires_ms) "
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                    &stmt);
    if (r < 0)
        goto out;
    sqlite3_bind_blob(stmt, 1, tok->hash, LS_TOKEN_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, ls_scope_name(tok->scope), -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, tok->name, -1, SQLITE_STATIC);
    if (tok->scope == LS_SCOPE_BUILD)
        sqlite3_bind_int64(stmt, 4, tok->build_id);
    sqlite3_bind_int64(stmt, 5, tok->created_ms);
    sqlite3_bind_int64(stmt, 6, tok->expires_ms);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) {
        if (ret_id)
            *ret_id = sqlite3_last_insert_rowid(s->writer.db);
    } else if (sqlite3_extended_errcode(s->writer.db) == SQLITE_CONSTRAINT_UNIQUE) {
        ls_store_set_error("a token with this hash exists");
        r = -EEXIST;
    } else if (sqlite3_extended_errcode(s->writer.db) == SQLITE_CONSTRAINT_FOREIGNKEY) {
        ls_store_set_error("no build %lld for a build token", (long long)tok->build_id);
        r = -ENOENT;
    } else {
        r = ls_sqlite_fail(&s->writer, rc, "storing a token");
    }
out:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->writer.lock);
    return r;
}

int ls_store_sqlite_find_token(ls_store *st, const unsigned char hash[LS_TOKEN_HASH_BYTES],
                               ls_token_info *ret_token)
{
    ls_store_sqlite *s = from_store(st);
    sqlite3_stmt *stmt = NULL;
    ls_token_info t;
    pthread_mutex_lock(&s->reader.lock);
    int r = prepare(&s->reader, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE hash = ?1", &stmt);
    if (r < 0)
        goto out;
    sqlite3_bind_blob(stmt, 1, hash, LS_TOKEN_HASH_BYTES, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        r = row_to_token(stmt, &t);
    } else if (rc == SQLITE_DONE) {
        ls_store_set_error("no such token");
        r = -ENOENT;
    } else {
        r = ls_sqlite_fail(&s->reader, rc, "looking up a token");
    }
out:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->reader.lock);
    if (r == 0)
        *ret_token = t;
    return r;
}

int ls_store_sqlite_list_tokens(ls_store *st, ls_token_info **ret_tokens, size_t *ret_n)
{
    ls_store_sqlite *s = from_store(st);
    sqlite3_stmt *stmt = NULL;
    ls_token_info *tokens = ls_xmalloc(0);
    size_t n = 0;
    int rc;
    pthread_mutex_lock(&s->reader.lock);
    int r =
        prepare(&s->reader,
                "SELECT " TOKEN_COLUMNS " FROM tokens WHERE scope <> 'build' ORDER BY id", &stmt);
    if (r < 0)
        goto out;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        tokens = ls_xreallocarray(tokens, n + 1, sizeof(*tokens));
        r = row_to_token(stmt, &tokens[n++]);
        if (r < 0)
            goto out;
    }
    if (rc != SQLITE_DONE) {
        r = ls_sqlite_fail(&s->reader, rc, "listing tokens");
        goto out;
    }
    *ret_tokens = tokens;
    *ret_n = n;
    tokens = NULL;
out:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->reader.lock);
    free(tokens);
    return r;
}

int ls_store_sqlite_delete_token(ls_store *st, int64_t id)
{
    ls_store_sqlite *s = from_store(st);
    sqlite3_stmt *stmt = NULL;
    pthread_mutex_lock(&s->writer.lock);
    int r = prepare(&s->writer, "DELETE FROM tokens WHERE id = ?1", &stmt);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(stmt, 1, id);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) {
        r = ls_sqlite_fail(&s->writer, rc, "deleting a token");
    } else if (sqlite3_changes(s->writer.db) == 0) {
        ls_store_set_error("no token %lld", (long long)id);
        r = -ENOENT;
    }
out:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->writer.lock);
    return r;
}
