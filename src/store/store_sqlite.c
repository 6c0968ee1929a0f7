/* SQLite back end: opening, builds and steps. Log chunks are in
 * store_sqlite_log.c. */
#include "store/store_sqlite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/timeutil.h"
#include "store/sqlite_schema.h"

#define DEFAULT_CHUNK_BYTES (256u * 1024u)
#define DEFAULT_ZSTD_LEVEL 3
#define DEFAULT_BUSY_TIMEOUT_MS 5000
#define MIN_MAX_RAW (64u * 1024u * 1024u)
#define DEFAULT_CACHE_BYTES ((size_t)64 * 1024 * 1024)
#define DB_PAGE_SIZE 16384

#define BUILD_COLUMNS "id, name, number, status, created_ms, started_ms, finished_ms"
#define STEP_COLUMNS                                                                               \
    "build_id, number, name, kind, status, exit_code, started_ms, finished_ms, line_count, "       \
    "byte_count, truncated, drop_first, drop_last, drop_bytes"

static const char *const sql_texts[SQL_COUNT] = {
    [SQL_BEGIN] = "BEGIN IMMEDIATE",
    [SQL_COMMIT] = "COMMIT",
    [SQL_ROLLBACK] = "ROLLBACK",
    [SQL_BUILD_INSERT] = "INSERT INTO builds(name, number, status, created_ms) VALUES(?1, "
                         "(SELECT COALESCE(MAX(number), 0) + 1 FROM builds WHERE name = ?1), "
                         "?2, ?3) RETURNING id, number",
    [SQL_STEP_INSERT] = "INSERT INTO steps(build_id, number, name, kind, status) "
                        "VALUES(?1, ?2, ?3, ?4, ?5)",
    [SQL_BUILD_GET] = "SELECT " BUILD_COLUMNS " FROM builds WHERE id = ?1",
    [SQL_BUILD_LIST] =
        "SELECT " BUILD_COLUMNS " FROM builds WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
    [SQL_BUILD_UPDATE] =
        "UPDATE builds SET status = ?2, started_ms = ?3, finished_ms = ?4 WHERE id = ?1",
    [SQL_STEP_GET] = "SELECT " STEP_COLUMNS " FROM steps WHERE build_id = ?1 AND number = ?2",
    [SQL_STEPS_OF_BUILD] = "SELECT " STEP_COLUMNS " FROM steps WHERE build_id = ?1 ORDER BY number",
    [SQL_STEP_UPDATE] = "UPDATE steps SET status = ?3, exit_code = ?4, started_ms = ?5, "
                        "finished_ms = ?6, truncated = MAX(truncated, ?7) "
                        "WHERE build_id = ?1 AND number = ?2",
    [SQL_STEP_COUNTERS] =
        "SELECT line_count, byte_count FROM steps WHERE build_id = ?1 AND number = ?2",
    [SQL_STEP_SET_COUNTERS] = "UPDATE steps SET line_count = ?3, byte_count = ?4 "
                              "WHERE build_id = ?1 AND number = ?2",
    [SQL_OPEN_SIZE] = "SELECT COUNT(*), COALESCE(SUM(n_bytes), 0) FROM chunks "
                      "WHERE build_id = ?1 AND step = ?2 AND sealed = 0",
    [SQL_OPEN_ROWS] = "SELECT data FROM chunks WHERE build_id = ?1 AND step = ?2 AND sealed = 0 "
                      "ORDER BY first_seq",
    [SQL_OPEN_DELETE] = "DELETE FROM chunks WHERE build_id = ?1 AND step = ?2 AND sealed = 0",
    [SQL_CHUNK_INSERT] = "INSERT INTO chunks(build_id, step, first_seq, last_seq, n_bytes, "
                         "sealed, data) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    /* Chunks overlapping [?3, ?4): from the last chunk starting at or before
     * ?3 (found with the primary key index) up to the first starting at ?4. */
    [SQL_CHUNK_RANGE] = "SELECT first_seq, last_seq, data FROM chunks "
                        "WHERE build_id = ?1 AND step = ?2 AND first_seq < ?4 AND first_seq >= "
                        "COALESCE((SELECT first_seq FROM chunks WHERE build_id = ?1 AND step = ?2 "
                        "AND first_seq <= ?3 ORDER BY first_seq DESC LIMIT 1), 0) "
                        "ORDER BY first_seq",
};

static ls_store_sqlite *from_store(ls_store *st)
{
    return (ls_store_sqlite *)st;
}

int ls_store_sqlite_step_exists(ls_store_sqlite *s, int64_t build_id, int step, const char *what)
{
    sqlite3_stmt *stmt = ls_sqlite_stmt(&s->writer, SQL_STEP_COUNTERS);
    if (!stmt)
        return -EIO;
    sqlite3_bind_int64(stmt, 1, build_id);
    sqlite3_bind_int(stmt, 2, step);
    int rc = sqlite3_step(stmt);
    int r = rc == SQLITE_ROW    ? 0
            : rc == SQLITE_DONE ? ls_store_no_step(build_id, step)
                                : ls_sqlite_fail(&s->writer, rc, what);
    sqlite3_reset(stmt);
    return r;
}

int ls_store_sqlite_begin(ls_store_sqlite *s)
{
    sqlite3_stmt *stmt = ls_sqlite_stmt(&s->writer, SQL_BEGIN);
    return stmt ? ls_sqlite_run(&s->writer, stmt, "starting a transaction") : -EIO;
}

int ls_store_sqlite_commit(ls_store_sqlite *s)
{
    sqlite3_stmt *stmt = ls_sqlite_stmt(&s->writer, SQL_COMMIT);
    return stmt ? ls_sqlite_run(&s->writer, stmt, "committing") : -EIO;
}

void ls_store_sqlite_rollback(ls_store_sqlite *s)
{
    if (sqlite3_get_autocommit(s->writer.db))
        return; /* SQLite already rolled back (e.g. after SQLITE_FULL) */
    sqlite3_stmt *stmt = ls_sqlite_stmt(&s->writer, SQL_ROLLBACK);
    if (stmt) {
        sqlite3_step(stmt);
        sqlite3_reset(stmt);
    }
}

/* ---- rows ---- */

static void copy_name(char dst[LS_NAME_MAX], sqlite3_stmt *stmt, int col)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    size_t n = (size_t)sqlite3_column_bytes(stmt, col);
    if (n >= LS_NAME_MAX)
        n = LS_NAME_MAX - 1;
    if (n)
        memcpy(dst, text, n);
    dst[n] = '\0';
}

static int column_status(sqlite3_stmt *stmt, int col, ls_status *ret)
{
    const char *name = (const char *)sqlite3_column_text(stmt, col);
    if (ls_status_parse(name, ret) < 0) {
        ls_store_set_error("stored status '%s' is not a status", name ? name : "(null)");
        return -EIO;
    }
    return 0;
}

static int row_to_build(sqlite3_stmt *stmt, ls_build_info *b)
{
    memset(b, 0, sizeof(*b));
    b->id = sqlite3_column_int64(stmt, 0);
    copy_name(b->name, stmt, 1);
    b->number = sqlite3_column_int64(stmt, 2);
    b->created_ms = sqlite3_column_int64(stmt, 4);
    b->started_ms = sqlite3_column_int64(stmt, 5);
    b->finished_ms = sqlite3_column_int64(stmt, 6);
    return column_status(stmt, 3, &b->status);
}

static int row_to_step(sqlite3_stmt *stmt, ls_step_info *st)
{
    memset(st, 0, sizeof(*st));
    st->build_id = sqlite3_column_int64(stmt, 0);
    st->number = sqlite3_column_int(stmt, 1);
    copy_name(st->name, stmt, 2);
    const char *kind = (const char *)sqlite3_column_text(stmt, 3);
    st->service = kind && strcmp(kind, "service") == 0;
    st->plugins = kind && strcmp(kind, "plugins") == 0;
    st->has_exit_code = sqlite3_column_type(stmt, 5) != SQLITE_NULL;
    st->exit_code = st->has_exit_code ? sqlite3_column_int(stmt, 5) : 0;
    st->started_ms = sqlite3_column_int64(stmt, 6);
    st->finished_ms = sqlite3_column_int64(stmt, 7);
    st->line_count = (uint64_t)sqlite3_column_int64(stmt, 8);
    st->byte_count = (uint64_t)sqlite3_column_int64(stmt, 9);
    st->truncated = sqlite3_column_int(stmt, 10) != 0;
    st->drop_first = (uint64_t)sqlite3_column_int64(stmt, 11);
    st->drop_last = (uint64_t)sqlite3_column_int64(stmt, 12);
    st->drop_bytes = (uint64_t)sqlite3_column_int64(stmt, 13);
    return column_status(stmt, 4, &st->status);
}

static int check_status(ls_status status)
{
    if ((unsigned)status > LS_STATUS_CANCELED) {
        ls_store_set_error("status %d is not a status", (int)status);
        return -EINVAL;
    }
    return 0;
}

/* ---- builds ---- */

static int insert_steps(ls_store_sqlite *s, int64_t build_id, const ls_step_info *steps,
                        size_t n_steps)
{
    for (size_t i = 0; i < n_steps; i++) {
        sqlite3_stmt *stmt = ls_sqlite_stmt(&s->writer, SQL_STEP_INSERT);
        if (!stmt)
            return -EIO;
        sqlite3_bind_int64(stmt, 1, build_id);
        sqlite3_bind_int64(stmt, 2, (int64_t)i + 1);
        sqlite3_bind_text(stmt, 3, steps[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 4,
                          steps[i].plugins   ? "plugins"
                          : steps[i].service ? "service"
                                             : "step",
                          -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 5, ls_status_name(LS_STATUS_PENDING), -1, SQLITE_STATIC);
        int r = ls_sqlite_run(&s->writer, stmt, "inserting a step");
        if (r < 0)
            return r;
    }
    return 0;
}

static int insert_build(ls_store_sqlite *s, const char *name, ls_build_info *b)
{
    sqlite3_stmt *stmt = ls_sqlite_stmt(&s->writer, SQL_BUILD_INSERT);
    if (!stmt)
        return -EIO;
    memset(b, 0, sizeof(*b));
    b->created_ms = ls_now_ms();
    b->status = LS_STATUS_PENDING;
    snprintf(b->name, sizeof(b->name), "%s", name);
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, ls_status_name(b->status), -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, b->created_ms);
    int rc = sqlite3_step(stmt);
    int r = 0;
    if (rc == SQLITE_ROW) {
        b->id = sqlite3_column_int64(stmt, 0);
        b->number = sqlite3_column_int64(stmt, 1);
    } else {
        r = ls_sqlite_fail(&s->writer, rc, "inserting a build");
    }
    sqlite3_reset(stmt);
    return r;
}

static int sqlite_create_build(ls_store *st, const char *name, const ls_step_info *steps,
                               size_t n_steps, ls_build_info *ret_build)
{
    ls_store_sqlite *s = from_store(st);
    ls_build_info b;
    pthread_mutex_lock(&s->writer.lock);
    int r = ls_store_sqlite_begin(s);
    if (r < 0)
        goto out;
    r = insert_build(s, name, &b);
    if (r < 0)
        goto out;
    r = insert_steps(s, b.id, steps, n_steps);
    if (r < 0)
        goto out;
    r = ls_store_sqlite_commit(s);
out:
    if (r < 0)
        ls_store_sqlite_rollback(s);
    pthread_mutex_unlock(&s->writer.lock);
    if (r == 0 && ret_build)
        *ret_build = b;
    return r;
}

static int read_steps(ls_store_sqlite *s, int64_t build_id, ls_step_info **ret_steps, size_t *ret_n)
{
    sqlite3_stmt *stmt = ls_sqlite_stmt(&s->reader, SQL_STEPS_OF_BUILD);
    ls_step_info *steps = NULL;
    size_t n = 0, cap = 0;
    int r = -EIO, rc;
    if (!stmt)
        goto out;
    sqlite3_bind_int64(stmt, 1, build_id);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            steps = ls_xreallocarray(steps, cap, sizeof(*steps));
        }
        r = row_to_step(stmt, &steps[n++]);
        if (r < 0)
            goto out;
    }
    if (rc != SQLITE_DONE) {
        r = ls_sqlite_fail(&s->reader, rc, "reading steps");
        goto out;
    }
    *ret_steps = steps ? steps : ls_xmalloc(0);
    *ret_n = n;
    steps = NULL;
    r = 0;
out:
    if (stmt)
        sqlite3_reset(stmt);
    free(steps);
    return r;
}

static int sqlite_get_build(ls_store *st, int64_t build_id, ls_build_info *ret_build,
                            ls_step_info **ret_steps, size_t *ret_n_steps)
{
    ls_store_sqlite *s = from_store(st);
    ls_build_info b;
    pthread_mutex_lock(&s->reader.lock);
    sqlite3_stmt *stmt = ls_sqlite_stmt(&s->reader, SQL_BUILD_GET);
    int r = -EIO;
    if (!stmt)
        goto out;
    sqlite3_bind_int64(stmt, 1, build_id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) {
        ls_store_set_error("no build %lld", (long long)build_id);
        r = -ENOENT;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        r = ls_sqlite_fail(&s->reader, rc, "reading a build");
        goto out;
    }
    r = row_to_build(stmt, &b);
    sqlite3_reset(stmt);
    if (r < 0)
        goto out;
    if (ret_steps)
        r = read_steps(s, build_id, ret_steps, ret_n_steps);
out:
    if (stmt)
        sqlite3_reset(stmt);
    pthread_mutex_unlock(&s->reader.lock);
    if (r == 0 && ret_build)
        *ret_build = b;
    return r;
}

static int sqlite_list_builds(ls_store *st, int64_t before_id, size_t limit,
                              ls_build_info **ret_builds, size_t *ret_n)
{
    ls_store_sqlite *s = from_store(st);
    ls_build_info *builds = ls_xmalloc(0);
    size_t n = 0;
    int r = -EIO, rc;
    pthread_mutex_lock(&s->reader.lock);
    sqlite3_stmt *stmt = ls_sqlite_stmt(&s->reader, SQL_BUILD_LIST);
    if (!stmt)
        goto out;
    sqlite3_bind_int64(stmt, 1, before_id > 0 ? before_id : INT64_MAX);
    sqlite3_bind_int64(stmt, 2, limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        builds = ls_xreallocarray(builds, n + 1, sizeof(*builds));
        r = row_to_build(stmt, &builds[n++]);
        if (r < 0)
            goto out;
    }
    if (rc != SQLITE_DONE) {
        r = ls_sqlite_fail(&s->reader, rc, "listing builds");
        goto out;
    }
    *ret_builds = builds;
    *ret_n = n;
    builds = NULL;
    r = 0;
out:
    if (stmt)
        sqlite3_reset(stmt);
    pthread_mutex_unlock(&s->reader.lock);
    free(builds);
    return r;
}

static int sqlite_get_step(ls_store *st, int64_t build_id, int step, ls_step_info *ret_step)
{
    ls_store_sqlite *s = from_store(st);
    ls_step_info info;
    int r = -EIO;
    pthread_mutex_lock(&s->reader.lock);
    sqlite3_stmt *stmt = ls_sqlite_stmt(&s->reader, SQL_STEP_GET);
    if (!stmt)
        goto out;
    sqlite3_bind_int64(stmt, 1, build_id);
    sqlite3_bind_int(stmt, 2, step);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        r = row_to_step(stmt, &info);
    } else if (rc == SQLITE_DONE) {
        r = ls_store_no_step(build_id, step);
    } else {
        r = ls_sqlite_fail(&s->reader, rc, "reading a step");
    }
out:
    if (stmt)
        sqlite3_reset(stmt);
    pthread_mutex_unlock(&s->reader.lock);
    if (r == 0)
        *ret_step = info;
    return r;
}

/* Runs an UPDATE on the writer; -ENOENT with message missing when no row matched. */
static int run_update(ls_store_sqlite *s, sqlite3_stmt *stmt, const char *what, const char *missing)
{
    int r = ls_sqlite_run(&s->writer, stmt, what);
    if (r == 0 && sqlite3_changes(s->writer.db) == 0) {
        ls_store_set_error("%s", missing);
        r = -ENOENT;
    }
    return r;
}

static int sqlite_update_step(ls_store *st, const ls_step_info *step)
{
    ls_store_sqlite *s = from_store(st);
    int r = check_status(step->status);
    if (r < 0)
        return r;
    pthread_mutex_lock(&s->writer.lock);
    sqlite3_stmt *stmt = ls_sqlite_stmt(&s->writer, SQL_STEP_UPDATE);
    r = -EIO;
    if (stmt) {
        char missing[96];
        snprintf(missing, sizeof(missing), "no step %d in build %lld", step->number,
                 (long long)step->build_id);
        sqlite3_bind_int64(stmt, 1, step->build_id);
        sqlite3_bind_int(stmt, 2, step->number);
        sqlite3_bind_text(stmt, 3, ls_status_name(step->status), -1, SQLITE_STATIC);
        if (step->has_exit_code)
            sqlite3_bind_int(stmt, 4, step->exit_code);
        sqlite3_bind_int64(stmt, 5, step->started_ms);
        sqlite3_bind_int64(stmt, 6, step->finished_ms);
        sqlite3_bind_int(stmt, 7, step->truncated);
        r = run_update(s, stmt, "updating a step", missing);
    }
    pthread_mutex_unlock(&s->writer.lock);
    return r;
}

static int sqlite_update_build(ls_store *st, const ls_build_info *build)
{
    ls_store_sqlite *s = from_store(st);
    int r = check_status(build->status);
    if (r < 0)
        return r;
    pthread_mutex_lock(&s->writer.lock);
    sqlite3_stmt *stmt = ls_sqlite_stmt(&s->writer, SQL_BUILD_UPDATE);
    r = -EIO;
    if (stmt) {
        char missing[64];
        snprintf(missing, sizeof(missing), "no build %lld", (long long)build->id);
        sqlite3_bind_int64(stmt, 1, build->id);
        sqlite3_bind_text(stmt, 2, ls_status_name(build->status), -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 3, build->started_ms);
        sqlite3_bind_int64(stmt, 4, build->finished_ms);
        r = run_update(s, stmt, "updating a build", missing);
    }
    pthread_mutex_unlock(&s->writer.lock);
    return r;
}

/* ---- open and close ---- */

static void sqlite_free(ls_store *st)
{
    ls_store_sqlite *s = from_store(st);
    ls_sqlite_conn_close(&s->reader);
    ls_sqlite_conn_close(&s->writer);
    ls_chunk_compressor_free(s->compressor);
    ls_chunk_decoder_free(s->merge_decoder);
    ls_chunk_decoder_free(s->read_decoder);
    ls_chunk_writer_free(&s->pending);
    ls_chunk_writer_free(&s->merged);
    ls_buf_free(&s->sealed);
    free(s);
}

static const ls_store_ops sqlite_ops = {
    .free = sqlite_free,
    .create_build = sqlite_create_build,
    .get_build = sqlite_get_build,
    .list_builds = sqlite_list_builds,
    .get_step = sqlite_get_step,
    .update_step = sqlite_update_step,
    .update_build = sqlite_update_build,
    .append = ls_store_sqlite_append,
    .read = ls_store_sqlite_read,
    .create_token = ls_store_sqlite_create_token,
    .find_token = ls_store_sqlite_find_token,
    .list_tokens = ls_store_sqlite_list_tokens,
    .delete_token = ls_store_sqlite_delete_token,
    .drop_middle = ls_store_sqlite_drop_middle,
    .build_bytes = ls_store_sqlite_build_bytes,
    .delete_build = ls_store_sqlite_delete_build,
    .list_finished_before = ls_store_sqlite_list_finished_before,
    .add_test_run = ls_store_sqlite_add_test_run,
    .list_test_runs = ls_store_sqlite_list_test_runs,
    .add_tool_events = ls_store_sqlite_add_tool_events,
    .list_tool_events = ls_store_sqlite_list_tool_events,
};

/* Sets the page cache of a connection to about `bytes`. */
static int set_cache_size(ls_sqlite_conn *c, size_t bytes)
{
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA cache_size = -%zu", bytes / 1024 ? bytes / 1024 : 1);
    return ls_sqlite_exec(c, pragma, "setting the cache size");
}

/* Page size, cache, WAL, durability, foreign keys and the size cap on the
 * writer connection. */
static int configure_writer(ls_store_sqlite *s, const ls_store_options *o)
{
    ls_sqlite_conn *c = &s->writer;
    int64_t page_size = 0;
    char pragma[64];
    /* 16 KiB pages: a chunk is a short overflow chain instead of a long one
     * (fewer syscalls and WAL frames than 4 KiB) while a compressed chunk
     * still packs tightly (64 KiB pages measured 25% more disk). Only takes
     * effect when the file is new. */
    snprintf(pragma, sizeof(pragma), "PRAGMA page_size = %d", DB_PAGE_SIZE);
    int r = ls_sqlite_exec(c, pragma, "setting the page size");
    if (r < 0)
        return r;
    r = set_cache_size(c, o->cache_bytes ? o->cache_bytes : DEFAULT_CACHE_BYTES);
    if (r < 0)
        return r;
    r = ls_sqlite_exec(c, "PRAGMA journal_mode = WAL", "switching to WAL");
    if (r < 0)
        return r;
    if (sqlite3_db_readonly(c->db, "main") == 1) {
        ls_store_set_error("the database is read-only");
        return -EACCES;
    }
    r = ls_sqlite_exec(c,
                       o->full_sync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
                       "setting synchronous");
    if (r == 0)
        r = ls_sqlite_exec(c, "PRAGMA foreign_keys = ON", "enabling foreign keys");
    /* after a checkpoint, shrink a WAL that a burst made large */
    if (r == 0)
        r = ls_sqlite_exec(c, "PRAGMA journal_size_limit = 67108864", "limiting the WAL size");
    if (r == 0)
        r = ls_sqlite_query_int(c, "PRAGMA page_size", &page_size);
    if (r == 0 && o->max_db_bytes) {
        uint64_t pages = o->max_db_bytes / (uint64_t)(page_size > 0 ? page_size : 4096);
        snprintf(pragma, sizeof(pragma), "PRAGMA max_page_count = %llu",
                 (unsigned long long)(pages ? pages : 1));
        r = ls_sqlite_exec(c, pragma, "setting max_page_count");
    }
    return r;
}

/* Checks that the writer really is in WAL mode (a read during a write needs it). */
static int check_wal(ls_store_sqlite *s)
{
    sqlite3_stmt *stmt = NULL;
    int r = -EIO;
    if (sqlite3_prepare_v2(s->writer.db, "PRAGMA journal_mode", -1, &stmt, NULL) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_ROW) {
        r = ls_sqlite_fail(&s->writer, sqlite3_errcode(s->writer.db), "reading journal_mode");
        goto out;
    }
    const char *mode = (const char *)sqlite3_column_text(stmt, 0);
    if (!mode || strcmp(mode, "wal") != 0) {
        ls_store_set_error("the database cannot use WAL mode (journal_mode is %s)",
                           mode ? mode : "unknown");
        goto out;
    }
    r = 0;
out:
    sqlite3_finalize(stmt);
    return r;
}

int ls_store_open_sqlite(const char *path, const ls_store_options *opts, ls_store **ret_store)
{
    ls_store_options o = opts ? *opts : (ls_store_options){0};
    ls_store_sqlite *s = ls_xcalloc(1, sizeof(*s));
    int busy = o.busy_timeout_ms > 0 ? o.busy_timeout_ms : DEFAULT_BUSY_TIMEOUT_MS;
    int r;

    s->base.ops = &sqlite_ops;
    s->chunk_bytes = o.chunk_bytes ? o.chunk_bytes : DEFAULT_CHUNK_BYTES;
    ls_chunk_writer_init(&s->pending);
    ls_chunk_writer_init(&s->merged);
    s->sealed = (ls_buf)LS_BUF_INIT;
    if (!path || !*path) {
        ls_store_set_error("no database path");
        r = -EINVAL;
        goto out;
    }
    size_t max_raw = s->chunk_bytes > MIN_MAX_RAW / 4 ? 4 * s->chunk_bytes : MIN_MAX_RAW;
    r = ls_chunk_compressor_new(o.zstd_level ? o.zstd_level : DEFAULT_ZSTD_LEVEL, &s->compressor);
    if (r == 0)
        r = ls_chunk_decoder_new(max_raw, &s->merge_decoder);
    if (r == 0)
        r = ls_chunk_decoder_new(max_raw, &s->read_decoder);
    if (r < 0) {
        ls_store_set_error("cannot set up zstd (level %d)", o.zstd_level);
        goto out;
    }
    r = ls_sqlite_conn_open(&s->writer, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, busy,
                            sql_texts, SQL_COUNT);
    if (r == 0)
        r = configure_writer(s, &o);
    if (r == 0)
        r = check_wal(s);
    if (r == 0)
        r = ls_sqlite_migrate(&s->writer);
    if (r == 0)
        r = ls_sqlite_conn_open(&s->reader, path, SQLITE_OPEN_READWRITE, busy, sql_texts,
                                SQL_COUNT);
    if (r == 0)
        r = ls_sqlite_exec(&s->reader, "PRAGMA query_only = 1", "making the reader read-only");
    if (r == 0)
        r = set_cache_size(&s->reader, (o.cache_bytes ? o.cache_bytes : DEFAULT_CACHE_BYTES) / 4);
    if (r < 0)
        goto out;
    *ret_store = &s->base;
    s = NULL;
out:
    if (s)
        sqlite_free(&s->base);
    return r;
}
