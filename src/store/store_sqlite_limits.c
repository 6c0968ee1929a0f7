/* SQLite back end: size limits and retention (store.h, "Size limits and
 * retention"): dropping the middle of a step's log chunk by chunk, the
 * stored size of a build, and deleting old builds.
 *
 * These run rarely (a drop deletes whole chunks, retention runs every few
 * minutes), so their statements are prepared per call instead of cached. */
#include <errno.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "store/store_sqlite.h"

static ls_store_sqlite *from_store(ls_store *st)
{
    return (ls_store_sqlite *)st;
}

/* Reads the step's drop columns. */
static int load_drop(ls_sqlite_conn *c, int64_t build_id, int step, uint64_t *first, uint64_t *last,
                     uint64_t *bytes)
{
    sqlite3_stmt *stmt = ls_sqlite_prepare(c, "SELECT drop_first, drop_last, drop_bytes FROM steps "
                                              "WHERE build_id = ?1 AND number = ?2");
    if (!stmt)
        return -EIO;
    sqlite3_bind_int64(stmt, 1, build_id);
    sqlite3_bind_int(stmt, 2, step);
    int rc = sqlite3_step(stmt), r = 0;
    if (rc == SQLITE_ROW) {
        *first = (uint64_t)sqlite3_column_int64(stmt, 0);
        *last = (uint64_t)sqlite3_column_int64(stmt, 1);
        *bytes = (uint64_t)sqlite3_column_int64(stmt, 2);
    } else if (rc == SQLITE_DONE) {
        r = ls_store_no_step(build_id, step);
    } else {
        r = ls_sqlite_fail(c, rc, "reading a step's dropped lines");
    }
    sqlite3_finalize(stmt);
    return r;
}

/* The last seq of the head: the first sealed chunks up to the chunk boundary
 * at or after head_bytes of raw chunk data. 0 when the head is not sealed
 * yet (an open row comes first, or there is not enough data). */
static int find_head(ls_sqlite_conn *c, int64_t build_id, int step, uint64_t head_bytes,
                     uint64_t *ret_last)
{
    sqlite3_stmt *stmt =
        ls_sqlite_prepare(c, "SELECT last_seq, n_bytes, sealed FROM chunks "
                             "WHERE build_id = ?1 AND step = ?2 ORDER BY first_seq");
    if (!stmt)
        return -EIO;
    sqlite3_bind_int64(stmt, 1, build_id);
    sqlite3_bind_int(stmt, 2, step);
    uint64_t sum = 0;
    int rc, r = 0;
    *ret_last = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (!sqlite3_column_int(stmt, 2))
            break;
        sum += (uint64_t)sqlite3_column_int64(stmt, 1);
        if (sum >= head_bytes || head_bytes == 0) {
            *ret_last = (uint64_t)sqlite3_column_int64(stmt, 0);
            break;
        }
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = ls_sqlite_fail(c, rc, "listing a step's log chunks");
    sqlite3_finalize(stmt);
    return r;
}

/* Deletes the sealed chunk starting at first_seq, if there is one, adding
 * its text bytes to *bytes and setting *ret_last to its last seq (0 when
 * there is no such sealed chunk). */
static int drop_chunk(ls_store_sqlite *s, int64_t build_id, int step, uint64_t first_seq,
                      uint64_t *bytes, uint64_t *ret_last)
{
    ls_sqlite_conn *c = &s->writer;
    sqlite3_stmt *sel =
        ls_sqlite_prepare(c, "SELECT last_seq, sealed, data FROM chunks "
                             "WHERE build_id = ?1 AND step = ?2 AND first_seq = ?3");
    sqlite3_stmt *del = NULL;
    int r = -EIO;
    *ret_last = 0;
    if (!sel)
        goto out;
    sqlite3_bind_int64(sel, 1, build_id);
    sqlite3_bind_int(sel, 2, step);
    sqlite3_bind_int64(sel, 3, (int64_t)first_seq);
    int rc = sqlite3_step(sel);
    if (rc == SQLITE_DONE || (rc == SQLITE_ROW && !sqlite3_column_int(sel, 1))) {
        r = 0; /* no chunk there, or the open rows: nothing more to drop */
        goto out;
    }
    if (rc != SQLITE_ROW) {
        r = ls_sqlite_fail(c, rc, "reading a log chunk");
        goto out;
    }
    uint64_t last = (uint64_t)sqlite3_column_int64(sel, 0);
    ls_chunk_info info;
    r = ls_chunk_decode(s->merge_decoder, sqlite3_column_blob(sel, 2),
                        (size_t)sqlite3_column_bytes(sel, 2), NULL, NULL, &info);
    if (r < 0 || info.first_seq != first_seq || info.last_seq != last) {
        ls_store_set_error("log chunk of lines %llu-%llu is corrupt", (unsigned long long)first_seq,
                           (unsigned long long)last);
        r = -EBADMSG;
        goto out;
    }
    sqlite3_reset(sel);
    del = ls_sqlite_prepare(
        c, "DELETE FROM chunks WHERE build_id = ?1 AND step = ?2 AND first_seq = ?3");
    if (!del) {
        r = -EIO;
        goto out;
    }
    sqlite3_bind_int64(del, 1, build_id);
    sqlite3_bind_int(del, 2, step);
    sqlite3_bind_int64(del, 3, (int64_t)first_seq);
    r = ls_sqlite_run(c, del, "deleting a log chunk");
    if (r == 0) {
        *bytes += info.text_bytes;
        *ret_last = last;
    }
out:
    sqlite3_finalize(sel);
    sqlite3_finalize(del);
    return r;
}

static int save_drop(ls_sqlite_conn *c, int64_t build_id, int step, uint64_t first, uint64_t last,
                     uint64_t bytes)
{
    sqlite3_stmt *stmt = ls_sqlite_prepare(c, "UPDATE steps SET drop_first = ?3, drop_last = ?4, "
                                              "drop_bytes = ?5, truncated = 1 "
                                              "WHERE build_id = ?1 AND number = ?2");
    if (!stmt)
        return -EIO;
    sqlite3_bind_int64(stmt, 1, build_id);
    sqlite3_bind_int(stmt, 2, step);
    sqlite3_bind_int64(stmt, 3, (int64_t)first);
    sqlite3_bind_int64(stmt, 4, (int64_t)last);
    sqlite3_bind_int64(stmt, 5, (int64_t)bytes);
    int r = ls_sqlite_run(c, stmt, "recording dropped lines");
    sqlite3_finalize(stmt);
    return r;
}

int ls_store_sqlite_drop_middle(ls_store *st, int64_t build_id, int step, uint64_t head_bytes,
                                uint64_t excess_bytes, ls_step_info *ret_step)
{
    ls_store_sqlite *s = from_store(st);
    uint64_t first = 0, last = 0, bytes = 0;
    pthread_mutex_lock(&s->writer.lock);
    int r = ls_store_sqlite_begin(s);
    if (r == 0)
        r = load_drop(&s->writer, build_id, step, &first, &last, &bytes);
    if (r < 0)
        goto out;
    uint64_t next = last + 1;
    if (first == 0) {
        uint64_t head_last = 0;
        r = find_head(&s->writer, build_id, step, head_bytes, &head_last);
        if (r < 0 || head_last == 0)
            goto out;
        next = head_last + 1;
    }
    uint64_t new_first = first ? first : next, new_last = last, dropped = 0;
    while (dropped < excess_bytes) {
        uint64_t chunk_last = 0;
        r = drop_chunk(s, build_id, step, next, &dropped, &chunk_last);
        if (r < 0)
            goto out;
        if (chunk_last == 0)
            break;
        new_last = chunk_last;
        next = chunk_last + 1;
    }
    if (new_last != last)
        r = save_drop(&s->writer, build_id, step, new_first, new_last, bytes + dropped);
out:
    if (r == 0)
        r = ls_store_sqlite_commit(s);
    if (r < 0)
        ls_store_sqlite_rollback(s);
    pthread_mutex_unlock(&s->writer.lock);
    if (r == 0 && ret_step)
        r = st->ops->get_step(st, build_id, step, ret_step);
    return r;
}

int ls_store_sqlite_build_bytes(ls_store *st, int64_t build_id, uint64_t *ret_bytes)
{
    ls_store_sqlite *s = from_store(st);
    pthread_mutex_lock(&s->reader.lock);
    sqlite3_stmt *stmt =
        ls_sqlite_prepare(&s->reader, "SELECT COALESCE(SUM(byte_count - drop_bytes), 0) "
                                      "FROM steps WHERE build_id = ?1");
    int r = -EIO;
    if (stmt) {
        sqlite3_bind_int64(stmt, 1, build_id);
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            int64_t v = sqlite3_column_int64(stmt, 0);
            *ret_bytes = v > 0 ? (uint64_t)v : 0;
            r = 0;
        } else {
            r = ls_sqlite_fail(&s->reader, rc, "summing a build's log sizes");
        }
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->reader.lock);
    return r;
}

int ls_store_sqlite_delete_build(ls_store *st, int64_t build_id)
{
    ls_store_sqlite *s = from_store(st);
    pthread_mutex_lock(&s->writer.lock);
    sqlite3_stmt *stmt = NULL;
    int r = ls_store_sqlite_begin(s);
    if (r < 0)
        goto out;
    /* the chunks first, explicitly: the bulk of the work, and independent of
     * whether this connection enforces the foreign keys' cascades */
    stmt = ls_sqlite_prepare(&s->writer, "DELETE FROM chunks WHERE build_id = ?1");
    r = stmt ? 0 : -EIO;
    if (r == 0) {
        sqlite3_bind_int64(stmt, 1, build_id);
        r = ls_sqlite_run(&s->writer, stmt, "deleting a build's log chunks");
    }
    sqlite3_finalize(stmt);
    stmt = NULL;
    if (r < 0)
        goto out;
    stmt = ls_sqlite_prepare(&s->writer, "DELETE FROM builds WHERE id = ?1");
    r = stmt ? 0 : -EIO;
    if (r == 0) {
        sqlite3_bind_int64(stmt, 1, build_id);
        r = ls_sqlite_run(&s->writer, stmt, "deleting a build");
    }
    if (r == 0 && sqlite3_changes(s->writer.db) == 0) {
        ls_store_set_error("no build %lld", (long long)build_id);
        r = -ENOENT;
    }
    if (r == 0)
        r = ls_store_sqlite_commit(s);
out:
    sqlite3_finalize(stmt);
    if (r < 0)
        ls_store_sqlite_rollback(s);
    pthread_mutex_unlock(&s->writer.lock);
    return r;
}

int ls_store_sqlite_list_finished_before(ls_store *st, int64_t before_ms, int64_t after_id,
                                         size_t max, int64_t **ret_ids, size_t *ret_n)
{
    ls_store_sqlite *s = from_store(st);
    int64_t *ids = ls_xmalloc(0);
    size_t n = 0;
    int r = -EIO, rc;
    pthread_mutex_lock(&s->reader.lock);
    sqlite3_stmt *stmt = ls_sqlite_prepare(
        &s->reader, "SELECT id FROM builds WHERE finished_ms > 0 AND finished_ms < ?1 "
                    "AND id > ?2 AND status IN ('success', 'failure', 'canceled') "
                    "ORDER BY id LIMIT ?3");
    if (!stmt)
        goto out;
    sqlite3_bind_int64(stmt, 1, before_ms);
    sqlite3_bind_int64(stmt, 2, after_id);
    sqlite3_bind_int64(stmt, 3, max > (size_t)INT64_MAX ? INT64_MAX : (int64_t)max);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        ids = ls_xreallocarray(ids, n + 1, sizeof(*ids));
        ids[n++] = sqlite3_column_int64(stmt, 0);
    }
    if (rc != SQLITE_DONE) {
        r = ls_sqlite_fail(&s->reader, rc, "listing finished builds");
        goto out;
    }
    *ret_ids = ids;
    *ret_n = n;
    ids = NULL;
    r = 0;
out:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->reader.lock);
    free(ids);
    return r;
}
