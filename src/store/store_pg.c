/* PostgreSQL back end: opening, builds and steps. Log chunks are in
 * store_pg_log.c, the schema in pg_schema.c.
 *
 * Every call takes a connection from the pool for its duration. Parameters
 * and results are binary (no text formatting of integers or blobs), except
 * arrays, which are sent as text literals. */
#include "store/store_pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/timeutil.h"

#define DEFAULT_CHUNK_BYTES (256u * 1024u)
#define DEFAULT_ZSTD_LEVEL 3
#define DEFAULT_POOL_SIZE 4
#define MAX_POOL_SIZE 1024
#define MIN_MAX_RAW (64u * 1024u * 1024u)

#define BUILD_COLUMNS "id, name, number, status, created_ms, started_ms, finished_ms"
#define STEP_COLUMNS                                                                               \
    "build_id, number, name, kind, status, exit_code, started_ms, finished_ms, line_count, "       \
    "byte_count, truncated, drop_first, drop_last, drop_bytes"
#define TOKEN_COLUMNS "id, name, scope, build_id, created_ms, expires_ms, hash"
/* Advisory lock class for "a build of this name is being numbered" ('lgst'). */
#define BUILD_LOCK_CLASS "1819506548"

static const char *const sql_texts[PG_COUNT] = {
    /* Numbering builds per name needs the MAX of committed rows: two servers
     * creating builds of one name take turns on this lock. */
    [PG_BUILD_LOCK_NAME] = "SELECT pg_advisory_xact_lock(" BUILD_LOCK_CLASS ", hashtext($1::text))",
    [PG_BUILD_INSERT] =
        "WITH b AS (INSERT INTO builds(name, number, status, created_ms) VALUES($1::text, "
        "(SELECT COALESCE(MAX(number), 0) + 1 FROM builds WHERE name = $1::text), $2::text, "
        "$3::bigint) RETURNING id, number), "
        "s AS (INSERT INTO steps(build_id, number, name, kind, status) "
        "SELECT b.id, t.n, t.name, t.kind, $2::text FROM b, "
        "unnest($4::text[], $5::text[]) WITH ORDINALITY AS t(name, kind, n)) "
        "SELECT id, number FROM b",
    [PG_BUILD_GET] = "SELECT " BUILD_COLUMNS " FROM builds WHERE id = $1::bigint",
    [PG_BUILD_LIST] = "SELECT " BUILD_COLUMNS
                      " FROM builds WHERE id < $1::bigint ORDER BY id DESC LIMIT $2::bigint",
    [PG_BUILD_UPDATE] = "UPDATE builds SET status = $2::text, started_ms = $3::bigint, "
                        "finished_ms = $4::bigint WHERE id = $1::bigint",
    [PG_STEP_GET] =
        "SELECT " STEP_COLUMNS " FROM steps WHERE build_id = $1::bigint AND number = $2::bigint",
    [PG_STEPS_OF_BUILD] =
        "SELECT " STEP_COLUMNS " FROM steps WHERE build_id = $1::bigint ORDER BY number",
    [PG_STEP_UPDATE] = "UPDATE steps SET status = $3::text, exit_code = $4::bigint, "
                       "started_ms = $5::bigint, finished_ms = $6::bigint, "
                       "truncated = GREATEST(truncated, $7::bigint) "
                       "WHERE build_id = $1::bigint AND number = $2::bigint",
    /* The appender's lock on its steps: in key order, so two appenders with
     * overlapping steps never deadlock. */
    [PG_STEPS_LOCK] = "SELECT s.build_id, s.number, s.line_count, s.byte_count FROM steps s "
                      "JOIN unnest($1::bigint[], $2::int[]) AS k(b, n) "
                      "ON s.build_id = k.b AND s.number = k.n "
                      "ORDER BY s.build_id, s.number FOR UPDATE OF s",
    [PG_OPEN_SIZES] = "SELECT c.build_id, c.step, COUNT(*), COALESCE(SUM(c.n_bytes), 0)::bigint "
                      "FROM chunks c JOIN unnest($1::bigint[], $2::int[]) AS k(b, n) "
                      "ON c.build_id = k.b AND c.step = k.n WHERE c.sealed = 0 "
                      "GROUP BY c.build_id, c.step",
    [PG_OPEN_ROWS] = "SELECT data FROM chunks WHERE build_id = $1::bigint AND step = $2::bigint "
                     "AND sealed = 0 ORDER BY first_seq",
    [PG_OPEN_DELETE] = "DELETE FROM chunks WHERE build_id = $1::bigint AND step = $2::bigint "
                       "AND sealed = 0",
    [PG_STEPS_SET_COUNTERS] =
        "UPDATE steps AS s SET line_count = v.lc, byte_count = v.bc "
        "FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::bigint[]) AS v(b, n, lc, bc) "
        "WHERE s.build_id = v.b AND s.number = v.n",
    [PG_DB_SIZE] = "SELECT pg_database_size(current_database())",
    /* Chunks overlapping [$3, $4): from the last chunk starting at or before
     * $3 (found with the primary key index) up to the first starting at $4. */
    [PG_CHUNK_RANGE] =
        "SELECT first_seq, last_seq, data FROM chunks "
        "WHERE build_id = $1::bigint AND step = $2::bigint AND first_seq < $4::bigint "
        "AND first_seq >= COALESCE((SELECT first_seq FROM chunks WHERE build_id = $1::bigint "
        "AND step = $2::bigint AND first_seq <= $3::bigint ORDER BY first_seq DESC LIMIT 1), 0) "
        "ORDER BY first_seq",
    [PG_TOKEN_INSERT] = "INSERT INTO tokens(hash, scope, name, build_id, created_ms, expires_ms) "
                        "VALUES($1::bytea, $2::text, $3::text, $4::bigint, $5::bigint, "
                        "$6::bigint) RETURNING id",
    [PG_TOKEN_FIND] = "SELECT " TOKEN_COLUMNS " FROM tokens WHERE hash = $1::bytea",
    [PG_TOKEN_LIST] = "SELECT " TOKEN_COLUMNS " FROM tokens WHERE scope <> 'build' ORDER BY id",
    [PG_TOKEN_DELETE] = "DELETE FROM tokens WHERE id = $1::bigint",
    /* dropping locks the step like an append: they take turns */
    [PG_DROP_LOAD] = "SELECT drop_first, drop_last, drop_bytes FROM steps "
                     "WHERE build_id = $1::bigint AND number = $2::bigint FOR UPDATE",
    /* The head's last chunk: the first (in seq order) whose running total of
     * raw bytes reaches $3, and whether every chunk up to it is sealed. */
    [PG_DROP_HEAD] = "SELECT last_seq, all_sealed FROM (SELECT first_seq, last_seq, "
                     "SUM(n_bytes) OVER w AS total, BOOL_AND(sealed = 1) OVER w AS all_sealed "
                     "FROM chunks WHERE build_id = $1::bigint AND step = $2::bigint "
                     "WINDOW w AS (ORDER BY first_seq)) x "
                     "WHERE total >= $3::bigint ORDER BY first_seq LIMIT 1",
    [PG_DROP_CHUNK_GET] = "SELECT last_seq, sealed, data FROM chunks WHERE build_id = $1::bigint "
                          "AND step = $2::bigint AND first_seq = $3::bigint",
    [PG_DROP_CHUNK_DELETE] = "DELETE FROM chunks WHERE build_id = $1::bigint "
                             "AND step = $2::bigint AND first_seq = $3::bigint",
    [PG_DROP_SAVE] = "UPDATE steps SET drop_first = $3::bigint, drop_last = $4::bigint, "
                     "drop_bytes = $5::bigint, truncated = 1 "
                     "WHERE build_id = $1::bigint AND number = $2::bigint",
    [PG_BUILD_BYTES] = "SELECT COALESCE(SUM(byte_count - drop_bytes), 0)::bigint FROM steps "
                       "WHERE build_id = $1::bigint",
    [PG_BUILD_CHUNKS_DELETE] = "DELETE FROM chunks WHERE build_id = $1::bigint",
    [PG_BUILD_DELETE] = "DELETE FROM builds WHERE id = $1::bigint",
    [PG_FINISHED_BEFORE] = "SELECT id FROM builds WHERE finished_ms > 0 AND finished_ms < "
                           "$1::bigint AND id > $2::bigint AND status IN ('success', 'failure', "
                           "'canceled') ORDER BY id LIMIT $3::bigint",
    [PG_TEST_RUN_INSERT] = "INSERT INTO test_runs(build_id, step, framework, passed, failed, "
                           "skipped, duration_ms, partial, failures, created_ms) VALUES("
                           "$1::bigint, $2::bigint, $3::text, $4::bigint, $5::bigint, $6::bigint, "
                           "$7::bigint, $8::bigint, $9::text, $10::bigint) RETURNING id",
    [PG_TEST_RUNS_OF_BUILD] = "SELECT id, step, framework, passed, failed, skipped, duration_ms, "
                              "partial, failures, created_ms FROM test_runs "
                              "WHERE build_id = $1::bigint ORDER BY id",
    [PG_TOOL_EVENT_INSERT] =
        "INSERT INTO tool_events(build_id, step, seq, line, tool, action, target, details, "
        "dry_run, outcome, source, created_ms) VALUES($1::bigint, $2::bigint, $3::bigint, "
        "$4::bigint, $5::text, $6::text, $7::text, $8::text, $9::bigint, $10::text, $11::text, "
        "$12::bigint) ON CONFLICT (build_id, seq) DO NOTHING RETURNING id",
    [PG_TOOL_EVENTS_OF_BUILD] =
        "SELECT id, step, seq, line, tool, action, target, details, dry_run, outcome, source, "
        "created_ms FROM tool_events WHERE build_id = $1::bigint AND id > $2::bigint "
        "ORDER BY id LIMIT $3::bigint",
};

static ls_store_pg *from_store(ls_store *st)
{
    return (ls_store_pg *)st;
}

int ls_store_pg_begin(ls_store_pg *s, ls_pg_conn **ret_conn)
{
    ls_pg_conn *c;
    int r = ls_pg_acquire(s->pool, &c);
    if (r < 0)
        return r;
    r = ls_pg_exec(c, "BEGIN", "starting a transaction");
    if (r < 0) {
        ls_pg_release(s->pool, c);
        return r;
    }
    *ret_conn = c;
    return 0;
}

int ls_store_pg_end(ls_store_pg *s, ls_pg_conn *c, int r)
{
    if (r == 0)
        r = ls_pg_exec(c, "COMMIT", "committing");
    if (r < 0)
        ls_pg_rollback(c);
    ls_pg_release(s->pool, c);
    return r;
}

/* ---- rows ---- */

/* Copies a text column into dst (size bytes), cut to fit. */
static void copy_text(char *dst, size_t size, const PGresult *res, int row, int col)
{
    size_t n;
    const char *text = ls_pg_get_bytes(res, row, col, &n);
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(dst, text, n);
    dst[n] = '\0';
}

static int column_status(const PGresult *res, int row, int col, ls_status *ret)
{
    char name[32];
    copy_text(name, sizeof(name), res, row, col);
    if (ls_status_parse(name, ret) < 0) {
        ls_store_set_error("stored status '%s' is not a status", name);
        return -EIO;
    }
    return 0;
}

static int row_to_build(const PGresult *res, int row, ls_build_info *b)
{
    memset(b, 0, sizeof(*b));
    b->id = ls_pg_get_i64(res, row, 0);
    copy_text(b->name, sizeof(b->name), res, row, 1);
    b->number = ls_pg_get_i64(res, row, 2);
    b->created_ms = ls_pg_get_i64(res, row, 4);
    b->started_ms = ls_pg_get_i64(res, row, 5);
    b->finished_ms = ls_pg_get_i64(res, row, 6);
    return column_status(res, row, 3, &b->status);
}

static int row_to_step(const PGresult *res, int row, ls_step_info *st)
{
    char kind[16];
    memset(st, 0, sizeof(*st));
    st->build_id = ls_pg_get_i64(res, row, 0);
    st->number = (int)ls_pg_get_i64(res, row, 1);
    copy_text(st->name, sizeof(st->name), res, row, 2);
    copy_text(kind, sizeof(kind), res, row, 3);
    st->service = strcmp(kind, "service") == 0;
    st->plugins = strcmp(kind, "plugins") == 0;
    st->has_exit_code = !ls_pg_is_null(res, row, 5);
    st->exit_code = st->has_exit_code ? (int)ls_pg_get_i64(res, row, 5) : 0;
    st->started_ms = ls_pg_get_i64(res, row, 6);
    st->finished_ms = ls_pg_get_i64(res, row, 7);
    st->line_count = (uint64_t)ls_pg_get_i64(res, row, 8);
    st->byte_count = (uint64_t)ls_pg_get_i64(res, row, 9);
    st->truncated = ls_pg_get_i64(res, row, 10) != 0;
    st->drop_first = (uint64_t)ls_pg_get_i64(res, row, 11);
    st->drop_last = (uint64_t)ls_pg_get_i64(res, row, 12);
    st->drop_bytes = (uint64_t)ls_pg_get_i64(res, row, 13);
    return column_status(res, row, 4, &st->status);
}

static int check_status(ls_status status)
{
    if ((unsigned)status > LS_STATUS_CANCELED) {
        ls_store_set_error("status %d is not a status", (int)status);
        return -EINVAL;
    }
    return 0;
}

/* Appends s to an array literal being built in buf as a quoted element. */
static void array_add_text(ls_buf *buf, const char *s)
{
    ls_buf_append(buf, buf->len > 1 ? ",\"" : "\"", buf->len > 1 ? 2 : 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            ls_buf_append(buf, "\\", 1);
        ls_buf_append(buf, s, 1);
    }
    ls_buf_append(buf, "\"", 1);
}

/* ---- builds ---- */

static int pg_create_build(ls_store *st, const char *name, const ls_step_info *steps,
                           size_t n_steps, ls_build_info *ret_build)
{
    ls_store_pg *s = from_store(st);
    ls_buf names = LS_BUF_INIT, kinds = LS_BUF_INIT;
    ls_build_info b;
    ls_pg_conn *c = NULL;
    PGresult *res = NULL;
    ls_pg_params p = {0};

    memset(&b, 0, sizeof(b));
    b.created_ms = ls_now_ms();
    b.status = LS_STATUS_PENDING;
    snprintf(b.name, sizeof(b.name), "%s", name);
    ls_buf_append(&names, "{", 1);
    ls_buf_append(&kinds, "{", 1);
    for (size_t i = 0; i < n_steps; i++) {
        array_add_text(&names, steps[i].name);
        array_add_text(&kinds, steps[i].plugins   ? "plugins"
                               : steps[i].service ? "service"
                                                  : "step");
    }
    ls_buf_putc(&names, '}');
    ls_buf_putc(&kinds, '}');

    int r = ls_store_pg_begin(s, &c);
    if (r < 0)
        goto out;
    ls_pg_param_str(&p, name);
    r = ls_pg_query(c, PG_BUILD_LOCK_NAME, &p, "locking the build name", NULL);
    if (r < 0)
        goto end;
    ls_pg_param_str(&p, ls_status_name(b.status));
    ls_pg_param_i64(&p, b.created_ms);
    ls_pg_param_textfmt(&p, names.data);
    ls_pg_param_textfmt(&p, kinds.data);
    r = ls_pg_query(c, PG_BUILD_INSERT, &p, "inserting a build", &res);
    if (r < 0)
        goto end;
    if (PQntuples(res) != 1) {
        ls_store_set_error("inserting a build returned no row");
        r = -EIO;
        goto end;
    }
    b.id = ls_pg_get_i64(res, 0, 0);
    b.number = ls_pg_get_i64(res, 0, 1);
end:
    r = ls_store_pg_end(s, c, r);
out:
    PQclear(res);
    ls_buf_free(&names);
    ls_buf_free(&kinds);
    if (r == 0 && ret_build)
        *ret_build = b;
    return r;
}

static int read_steps(ls_pg_conn *c, int64_t build_id, ls_step_info **ret_steps, size_t *ret_n)
{
    ls_pg_params p = {0};
    PGresult *res = NULL;
    ls_step_info *steps = NULL;
    ls_pg_param_i64(&p, build_id);
    int r = ls_pg_query(c, PG_STEPS_OF_BUILD, &p, "reading steps", &res);
    if (r < 0)
        return r;
    int n = PQntuples(res);
    steps = ls_xcalloc(n ? (size_t)n : 1, sizeof(*steps));
    for (int i = 0; i < n && r == 0; i++)
        r = row_to_step(res, i, &steps[i]);
    PQclear(res);
    if (r < 0) {
        free(steps);
        return r;
    }
    *ret_steps = steps;
    *ret_n = (size_t)n;
    return 0;
}

static int pg_get_build(ls_store *st, int64_t build_id, ls_build_info *ret_build,
                        ls_step_info **ret_steps, size_t *ret_n_steps)
{
    ls_store_pg *s = from_store(st);
    ls_pg_conn *c;
    ls_pg_params p = {0};
    PGresult *res = NULL;
    ls_build_info b;
    int r = ls_pg_acquire(s->pool, &c);
    if (r < 0)
        return r;
    ls_pg_param_i64(&p, build_id);
    r = ls_pg_query(c, PG_BUILD_GET, &p, "reading a build", &res);
    if (r < 0)
        goto out;
    if (PQntuples(res) == 0) {
        ls_store_set_error("no build %lld", (long long)build_id);
        r = -ENOENT;
        goto out;
    }
    r = row_to_build(res, 0, &b);
    if (r == 0 && ret_steps)
        r = read_steps(c, build_id, ret_steps, ret_n_steps);
out:
    PQclear(res);
    ls_pg_release(s->pool, c);
    if (r == 0 && ret_build)
        *ret_build = b;
    return r;
}

static int pg_list_builds(ls_store *st, int64_t before_id, size_t limit, ls_build_info **ret_builds,
                          size_t *ret_n)
{
    ls_store_pg *s = from_store(st);
    ls_pg_conn *c;
    ls_pg_params p = {0};
    PGresult *res = NULL;
    ls_build_info *builds = NULL;
    int r = ls_pg_acquire(s->pool, &c);
    if (r < 0)
        return r;
    ls_pg_param_i64(&p, before_id > 0 ? before_id : INT64_MAX);
    ls_pg_param_i64(&p, limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit);
    r = ls_pg_query(c, PG_BUILD_LIST, &p, "listing builds", &res);
    ls_pg_release(s->pool, c);
    if (r < 0)
        return r;
    int n = PQntuples(res);
    builds = ls_xcalloc(n ? (size_t)n : 1, sizeof(*builds));
    for (int i = 0; i < n && r == 0; i++)
        r = row_to_build(res, i, &builds[i]);
    PQclear(res);
    if (r < 0) {
        free(builds);
        return r;
    }
    *ret_builds = builds;
    *ret_n = (size_t)n;
    return 0;
}

static int pg_get_step(ls_store *st, int64_t build_id, int step, ls_step_info *ret_step)
{
    ls_store_pg *s = from_store(st);
    ls_pg_conn *c;
    ls_pg_params p = {0};
    PGresult *res = NULL;
    ls_step_info info;
    int r = ls_pg_acquire(s->pool, &c);
    if (r < 0)
        return r;
    ls_pg_param_i64(&p, build_id);
    ls_pg_param_i64(&p, step);
    r = ls_pg_query(c, PG_STEP_GET, &p, "reading a step", &res);
    ls_pg_release(s->pool, c);
    if (r < 0)
        return r;
    if (PQntuples(res) == 0) {
        r = ls_store_no_step(build_id, step);
    } else {
        r = row_to_step(res, 0, &info);
    }
    PQclear(res);
    if (r == 0)
        *ret_step = info;
    return r;
}

/* Runs an UPDATE; -ENOENT with message missing when no row matched. */
static int run_update(ls_store_pg *s, int id, const ls_pg_params *p, const char *what,
                      const char *missing)
{
    ls_pg_conn *c;
    PGresult *res = NULL;
    int r = ls_pg_acquire(s->pool, &c);
    if (r < 0)
        return r;
    r = ls_pg_query(c, id, p, what, &res);
    ls_pg_release(s->pool, c);
    if (r == 0 && strcmp(PQcmdTuples(res), "0") == 0) {
        ls_store_set_error("%s", missing);
        r = -ENOENT;
    }
    PQclear(res);
    return r;
}

static int pg_update_step(ls_store *st, const ls_step_info *step)
{
    ls_pg_params p = {0};
    char missing[96];
    int r = check_status(step->status);
    if (r < 0)
        return r;
    snprintf(missing, sizeof(missing), "no step %d in build %lld", step->number,
             (long long)step->build_id);
    ls_pg_param_i64(&p, step->build_id);
    ls_pg_param_i64(&p, step->number);
    ls_pg_param_str(&p, ls_status_name(step->status));
    if (step->has_exit_code)
        ls_pg_param_i64(&p, step->exit_code);
    else
        ls_pg_param_null(&p);
    ls_pg_param_i64(&p, step->started_ms);
    ls_pg_param_i64(&p, step->finished_ms);
    ls_pg_param_i64(&p, step->truncated ? 1 : 0);
    return run_update(from_store(st), PG_STEP_UPDATE, &p, "updating a step", missing);
}

static int pg_update_build(ls_store *st, const ls_build_info *build)
{
    ls_pg_params p = {0};
    char missing[64];
    int r = check_status(build->status);
    if (r < 0)
        return r;
    snprintf(missing, sizeof(missing), "no build %lld", (long long)build->id);
    ls_pg_param_i64(&p, build->id);
    ls_pg_param_str(&p, ls_status_name(build->status));
    ls_pg_param_i64(&p, build->started_ms);
    ls_pg_param_i64(&p, build->finished_ms);
    return run_update(from_store(st), PG_BUILD_UPDATE, &p, "updating a build", missing);
}

/* ---- open and close ---- */

static void free_scratch(ls_pg_scratch *x)
{
    ls_chunk_compressor_free(x->compressor);
    ls_chunk_decoder_free(x->merge_decoder);
    ls_chunk_decoder_free(x->read_decoder);
    ls_chunk_writer_free(&x->pending);
    ls_chunk_writer_free(&x->merged);
    ls_buf_free(&x->sealed);
    ls_buf_free(&x->copy);
}

static void pg_free(ls_store *st)
{
    ls_store_pg *s = from_store(st);
    int n = s->pool ? ls_pg_pool_size(s->pool) : 0;
    ls_pg_pool_free(s->pool);
    for (int i = 0; s->scratch && i < n; i++)
        free_scratch(&s->scratch[i]);
    free(s->scratch);
    free(s);
}

static const ls_store_ops pg_ops = {
    .free = pg_free,
    .create_build = pg_create_build,
    .get_build = pg_get_build,
    .list_builds = pg_list_builds,
    .get_step = pg_get_step,
    .update_step = pg_update_step,
    .update_build = pg_update_build,
    .append = ls_store_pg_append,
    .read = ls_store_pg_read,
    .create_token = ls_store_pg_create_token,
    .find_token = ls_store_pg_find_token,
    .list_tokens = ls_store_pg_list_tokens,
    .delete_token = ls_store_pg_delete_token,
    .drop_middle = ls_store_pg_drop_middle,
    .build_bytes = ls_store_pg_build_bytes,
    .delete_build = ls_store_pg_delete_build,
    .list_finished_before = ls_store_pg_list_finished_before,
    .add_test_run = ls_store_pg_add_test_run,
    .list_test_runs = ls_store_pg_list_test_runs,
    .add_tool_events = ls_store_pg_add_tool_events,
    .list_tool_events = ls_store_pg_list_tool_events,
};

static int init_scratch(ls_pg_scratch *x, int level, size_t max_raw)
{
    ls_chunk_writer_init(&x->pending);
    ls_chunk_writer_init(&x->merged);
    x->sealed = (ls_buf)LS_BUF_INIT;
    x->copy = (ls_buf)LS_BUF_INIT;
    int r = ls_chunk_compressor_new(level, &x->compressor);
    if (r == 0)
        r = ls_chunk_decoder_new(max_raw, &x->merge_decoder);
    if (r == 0)
        r = ls_chunk_decoder_new(max_raw, &x->read_decoder);
    if (r < 0)
        ls_store_set_error("cannot set up zstd (level %d)", level);
    return r;
}

int ls_store_open_pg(const char *url, const ls_store_options *opts, ls_store **ret_store)
{
    ls_store_options o = opts ? *opts : (ls_store_options){0};
    int pool_size = o.pool_size > 0 ? o.pool_size : DEFAULT_POOL_SIZE;
    int level = o.zstd_level ? o.zstd_level : DEFAULT_ZSTD_LEVEL;
    ls_pg_conn *c = NULL;
    int r;

    if (pool_size > MAX_POOL_SIZE) {
        ls_store_set_error("a pool of %d connections is more than %d", pool_size, MAX_POOL_SIZE);
        return -EINVAL;
    }
    ls_store_pg *s = ls_xcalloc(1, sizeof(*s));
    s->base.ops = &pg_ops;
    s->chunk_bytes = o.chunk_bytes ? o.chunk_bytes : DEFAULT_CHUNK_BYTES;
    s->max_db_bytes = o.max_db_bytes;
    r = ls_pg_pool_new(url, pool_size, sql_texts, PG_COUNT, &s->pool);
    if (r < 0)
        goto out;
    s->scratch = ls_xcalloc((size_t)pool_size, sizeof(*s->scratch));
    size_t max_raw = s->chunk_bytes > MIN_MAX_RAW / 4 ? 4 * s->chunk_bytes : MIN_MAX_RAW;
    for (int i = 0; i < pool_size && r == 0; i++)
        r = init_scratch(&s->scratch[i], level, max_raw);
    if (r < 0)
        goto out;
    r = ls_pg_acquire(s->pool, &c);
    if (r < 0)
        goto out;
    r = ls_pg_migrate(c);
    ls_pg_release(s->pool, c);
    if (r < 0)
        goto out;
    *ret_store = &s->base;
    s = NULL;
out:
    if (s)
        pg_free(&s->base);
    return r;
}
