/* SQLite back end: appending log lines as chunk rows and reading them back.
 *
 * New lines of a step go into one open (raw) row per append. When a step's
 * open rows and the new lines reach chunk_bytes, they are merged into one
 * sealed (zstd) row and the open rows are deleted, in the same transaction:
 * at most one chunk's worth of data is ever rewritten. Lines that fill whole
 * chunks on their own are sealed directly without an open row. */
#include "store/store_sqlite.h"

#include "store/chunk_read.h"

#include <errno.h>
#include <stdbool.h>

/* Where a step stands inside the current append transaction. */
typedef struct step_state {
    int64_t build_id;
    int step;
    uint64_t durable_seq; /* last stored seq */
    uint64_t byte_count;  /* stored text bytes */
    int64_t open_rows;    /* rows with sealed = 0 */
    uint64_t open_bytes;  /* their raw size */
} step_state;

static int bind_step(sqlite3_stmt *stmt, const step_state *st)
{
    sqlite3_bind_int64(stmt, 1, st->build_id);
    return sqlite3_bind_int(stmt, 2, st->step);
}

static int load_step_state(ls_store_sqlite *s, step_state *st)
{
    sqlite3_stmt *stmt = ls_sqlite_stmt(&s->writer, SQL_STEP_COUNTERS);
    int r = -EIO, rc;
    if (!stmt)
        return r;
    bind_step(stmt, st);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) {
        r = ls_store_no_step(st->build_id, st->step);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        r = ls_sqlite_fail(&s->writer, rc, "reading a step's counters");
        goto out;
    }
    st->durable_seq = (uint64_t)sqlite3_column_int64(stmt, 0);
    st->byte_count = (uint64_t)sqlite3_column_int64(stmt, 1);
    sqlite3_reset(stmt);

    stmt = ls_sqlite_stmt(&s->writer, SQL_OPEN_SIZE);
    if (!stmt)
        return -EIO;
    bind_step(stmt, st);
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
        r = ls_sqlite_fail(&s->writer, rc, "sizing a step's open chunk");
        goto out;
    }
    st->open_rows = sqlite3_column_int64(stmt, 0);
    st->open_bytes = (uint64_t)sqlite3_column_int64(stmt, 1);
    r = 0;
out:
    sqlite3_reset(stmt);
    return r;
}

/* Finds the first line above the durable seq and checks that the lines from
 * there on continue it without a gap. */
static int find_new_lines(const ls_store_batch *b, const step_state *st, size_t *ret_first)
{
    size_t first = 0;
    while (first < b->n_lines && b->lines[first].seq <= st->durable_seq)
        first++;
    uint64_t expected = st->durable_seq + 1;
    for (size_t i = first; i < b->n_lines; i++, expected++) {
        if (b->lines[i].seq != expected || expected > (uint64_t)INT64_MAX) {
            ls_store_set_error("step %d of build %lld: expected line %llu, got %llu", st->step,
                               (long long)st->build_id, (unsigned long long)expected,
                               (unsigned long long)b->lines[i].seq);
            return -EINVAL;
        }
    }
    *ret_first = first;
    return 0;
}

static int insert_chunk(ls_store_sqlite *s, const step_state *st, const ls_chunk_writer *w,
                        const ls_buf *data, bool sealed)
{
    sqlite3_stmt *stmt = ls_sqlite_stmt(&s->writer, SQL_CHUNK_INSERT);
    if (!stmt)
        return -EIO;
    bind_step(stmt, st);
    sqlite3_bind_int64(stmt, 3, (int64_t)w->first_seq);
    sqlite3_bind_int64(stmt, 4, (int64_t)w->last_seq);
    sqlite3_bind_int64(stmt, 5, (int64_t)w->buf.len);
    sqlite3_bind_int(stmt, 6, sealed);
    sqlite3_bind_blob(stmt, 7, data->data, (int)data->len, SQLITE_STATIC);
    return ls_sqlite_run(&s->writer, stmt, "inserting a log chunk");
}

static int add_line_to_writer(void *userdata, const ls_line *line)
{
    return ls_chunk_writer_add(userdata, line);
}

/* Fills s->merged with the step's open rows followed by the pending lines
 * (taken from the batch, where they are still at hand, not decoded again). */
static int merge_open_rows(ls_store_sqlite *s, const step_state *st, const ls_line *pending,
                           size_t n_pending)
{
    sqlite3_stmt *stmt = ls_sqlite_stmt(&s->writer, SQL_OPEN_ROWS);
    int r = 0, rc;
    if (!stmt)
        return -EIO;
    ls_chunk_writer_reset(&s->merged);
    bind_step(stmt, st);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        r = ls_chunk_decode(s->merge_decoder, sqlite3_column_blob(stmt, 0),
                            (size_t)sqlite3_column_bytes(stmt, 0), add_line_to_writer, &s->merged,
                            NULL);
        if (r < 0) {
            ls_store_set_error("step %d of build %lld: open log chunk is corrupt (%d)", st->step,
                               (long long)st->build_id, r);
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        r = ls_sqlite_fail(&s->writer, rc, "reading open log chunks");
        goto out;
    }
    for (size_t i = 0; i < n_pending && r == 0; i++)
        r = ls_chunk_writer_add(&s->merged, &pending[i]);
out:
    sqlite3_reset(stmt);
    return r;
}

static int delete_open_rows(ls_store_sqlite *s, step_state *st)
{
    sqlite3_stmt *stmt = ls_sqlite_stmt(&s->writer, SQL_OPEN_DELETE);
    if (!stmt)
        return -EIO;
    bind_step(stmt, st);
    int r = ls_sqlite_run(&s->writer, stmt, "deleting open log chunks");
    if (r == 0) {
        st->open_rows = 0;
        st->open_bytes = 0;
    }
    return r;
}

/* Seals the open rows (if any) and the pending lines (the last n_pending
 * lines before `end` in the batch, encoded in s->pending) into one zstd chunk. */
static int seal(ls_store_sqlite *s, step_state *st, const ls_line *end)
{
    const ls_chunk_writer *w = &s->pending;
    int r;
    if (st->open_rows > 0) {
        r = merge_open_rows(s, st, end - s->pending.n_lines, s->pending.n_lines);
        if (r < 0)
            return r;
        w = &s->merged;
    }
    r = ls_chunk_compress(s->compressor, w->buf.data, w->buf.len, &s->sealed);
    if (r < 0) {
        ls_store_set_error("compressing a log chunk failed");
        return r;
    }
    if (st->open_rows > 0) {
        r = delete_open_rows(s, st);
        if (r < 0)
            return r;
    }
    r = insert_chunk(s, st, w, &s->sealed, true);
    ls_chunk_writer_reset(&s->pending);
    return r;
}

/* Stores the pending lines as one more open row. */
static int store_open_row(ls_store_sqlite *s, step_state *st)
{
    int r = insert_chunk(s, st, &s->pending, &s->pending.buf, false);
    if (r == 0) {
        st->open_rows++;
        st->open_bytes += s->pending.buf.len;
    }
    ls_chunk_writer_reset(&s->pending);
    return r;
}

static int update_counters(ls_store_sqlite *s, const step_state *st)
{
    sqlite3_stmt *stmt = ls_sqlite_stmt(&s->writer, SQL_STEP_SET_COUNTERS);
    if (!stmt)
        return -EIO;
    bind_step(stmt, st);
    sqlite3_bind_int64(stmt, 3, (int64_t)st->durable_seq);
    sqlite3_bind_int64(stmt, 4, (int64_t)st->byte_count);
    return ls_sqlite_run(&s->writer, stmt, "updating a step's counters");
}

static int append_batch(ls_store_sqlite *s, const ls_store_batch *b)
{
    step_state st = {.build_id = b->build_id, .step = b->step};
    size_t first = 0;
    int r = load_step_state(s, &st);
    if (r == 0)
        r = find_new_lines(b, &st, &first);
    if (r < 0 || first == b->n_lines)
        return r;

    ls_chunk_writer_reset(&s->pending);
    for (size_t i = first; i < b->n_lines; i++) {
        const ls_line *line = &b->lines[i];
        r = ls_chunk_writer_add(&s->pending, line);
        if (r < 0) {
            ls_store_set_error("step %d of build %lld: line %llu has stream '%c'", st.step,
                               (long long)st.build_id, (unsigned long long)line->seq, line->stream);
            return r;
        }
        st.durable_seq = line->seq;
        st.byte_count += line->len;
        if (st.open_bytes + s->pending.buf.len >= s->chunk_bytes) {
            r = seal(s, &st, line + 1);
            if (r < 0)
                return r;
        }
    }
    if (s->pending.n_lines > 0) {
        r = store_open_row(s, &st);
        if (r < 0)
            return r;
    }
    return update_counters(s, &st);
}

int ls_store_sqlite_append(ls_store *st, const ls_store_batch *batches, size_t n_batches)
{
    ls_store_sqlite *s = (ls_store_sqlite *)st;
    pthread_mutex_lock(&s->writer.lock);
    int r = ls_store_sqlite_begin(s);
    for (size_t i = 0; r == 0 && i < n_batches; i++)
        r = append_batch(s, &batches[i]);
    if (r == 0)
        r = ls_store_sqlite_commit(s);
    if (r < 0)
        ls_store_sqlite_rollback(s);
    ls_chunk_writer_reset(&s->pending);
    pthread_mutex_unlock(&s->writer.lock);
    return r;
}

/* ---- reading ---- */

int ls_store_sqlite_read(ls_store *st, int64_t build_id, int step, uint64_t from_seq,
                         uint64_t limit, ls_store_line_cb cb, void *userdata)
{
    ls_store_sqlite *s = (ls_store_sqlite *)st;
    ls_chunk_read rd;
    if (!ls_chunk_read_init(&rd, from_seq, limit, cb, userdata))
        return 0;
    int64_t from, end;
    ls_chunk_read_bounds(&rd, &from, &end);
    int r = -EIO, rc = SQLITE_DONE;
    pthread_mutex_lock(&s->reader.lock);
    sqlite3_stmt *stmt = ls_sqlite_stmt(&s->reader, SQL_CHUNK_RANGE);
    if (!stmt)
        goto out;
    sqlite3_bind_int64(stmt, 1, build_id);
    sqlite3_bind_int(stmt, 2, step);
    sqlite3_bind_int64(stmt, 3, from);
    sqlite3_bind_int64(stmt, 4, end);
    r = 0;
    while (!rd.done && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        r = ls_chunk_read_row(&rd, s->read_decoder, (uint64_t)sqlite3_column_int64(stmt, 0),
                              (uint64_t)sqlite3_column_int64(stmt, 1), sqlite3_column_blob(stmt, 2),
                              (size_t)sqlite3_column_bytes(stmt, 2));
        if (r != 0)
            goto out;
    }
    if (!rd.done && rc != SQLITE_DONE)
        r = ls_sqlite_fail(&s->reader, rc, "reading log chunks");
    else
        r = ls_chunk_read_result(&rd);
out:
    if (stmt)
        sqlite3_reset(stmt);
    pthread_mutex_unlock(&s->reader.lock);
    return r;
}
