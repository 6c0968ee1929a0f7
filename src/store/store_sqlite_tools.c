/* SQLite back end: tool-usage events (store_tools.h). An event is one row of
 * tool_events (schema migration "tool-usage events" in sqlite_schema.c);
 * UNIQUE(build_id, seq) with INSERT OR IGNORE makes a resent event a no-op
 * (rows without a seq hold NULL there, which never conflicts). Events come a
 * few per build, so the statements are prepared per call. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/timeutil.h"
#include "store/store_sqlite.h"
#include "store/store_tools.h"

static ls_store_sqlite *from_store(ls_store *st)
{
    return (ls_store_sqlite *)st;
}

/* Inserts one event inside the caller's transaction; *ret_added says whether
 * a row was added. */
static int insert_one(ls_store_sqlite *s, sqlite3_stmt *ins, const ls_tool_event *e, int64_t now,
                      bool *ret_added)
{
    int rc = ls_store_sqlite_step_exists(s, e->build_id, e->step,
                                         "looking up the step of a tool-usage event");
    if (rc < 0)
        return rc;
    sqlite3_reset(ins);
    sqlite3_clear_bindings(ins);
    sqlite3_bind_int64(ins, 1, e->build_id);
    sqlite3_bind_int(ins, 2, e->step);
    if (e->seq > 0)
        sqlite3_bind_int64(ins, 3, e->seq);
    sqlite3_bind_int64(ins, 4, e->line);
    sqlite3_bind_text(ins, 5, e->tool, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 6, e->action, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 7, e->target, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 8, e->details, -1, SQLITE_STATIC);
    sqlite3_bind_int(ins, 9, e->dry_run);
    sqlite3_bind_text(ins, 10, e->outcome, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 11, e->source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 12, now);
    rc = sqlite3_step(ins);
    if (rc != SQLITE_DONE)
        return ls_sqlite_fail(&s->writer, rc, "storing a tool-usage event");
    *ret_added = sqlite3_changes(s->writer.db) > 0;
    return 0;
}

int ls_store_sqlite_add_tool_events(ls_store *st, const ls_tool_event *events, size_t n,
                                    bool *ret_added)
{
    ls_store_sqlite *s = from_store(st);
    sqlite3_stmt *ins = NULL;
    bool *added = ls_xcalloc(n, sizeof(*added));
    int64_t now = ls_now_ms();
    pthread_mutex_lock(&s->writer.lock);
    int r = ls_store_sqlite_begin(s);
    if (r < 0)
        goto out;
    r = -EIO;
    ins = ls_sqlite_prepare(
        &s->writer, "INSERT OR IGNORE INTO tool_events(build_id, step, seq, line, tool, action, "
                    "target, details, dry_run, outcome, source, created_ms) "
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    if (!ins)
        goto out;
    for (size_t i = 0; i < n; i++) {
        r = insert_one(s, ins, &events[i], now, &added[i]);
        if (r < 0)
            goto out;
    }
    r = ls_store_sqlite_commit(s);
out:
    sqlite3_finalize(ins);
    if (r < 0)
        ls_store_sqlite_rollback(s);
    pthread_mutex_unlock(&s->writer.lock);
    if (r == 0 && ret_added)
        memcpy(ret_added, added, n * sizeof(*added));
    free(added);
    return r;
}

static void column_text(char *dst, size_t size, sqlite3_stmt *stmt, int col)
{
    const unsigned char *t = sqlite3_column_text(stmt, col);
    snprintf(dst, size, "%s", t ? (const char *)t : "");
}

int ls_store_sqlite_list_tool_events(ls_store *st, int64_t build_id, int64_t after_id, size_t limit,
                                     ls_tool_event **ret_events, size_t *ret_n)
{
    ls_store_sqlite *s = from_store(st);
    ls_tool_event *events = NULL;
    size_t n = 0, cap = 0;
    int r = -EIO, rc;
    pthread_mutex_lock(&s->reader.lock);
    sqlite3_stmt *stmt =
        ls_sqlite_prepare(&s->reader, "SELECT id, step, seq, line, tool, action, target, details, "
                                      "dry_run, outcome, source, created_ms FROM tool_events "
                                      "WHERE build_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3");
    if (!stmt)
        goto out;
    sqlite3_bind_int64(stmt, 1, build_id);
    sqlite3_bind_int64(stmt, 2, after_id);
    sqlite3_bind_int64(stmt, 3, limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            events = ls_xreallocarray(events, cap, sizeof(*events));
        }
        ls_tool_event *e = &events[n++];
        memset(e, 0, sizeof(*e));
        e->id = sqlite3_column_int64(stmt, 0);
        e->build_id = build_id;
        e->step = sqlite3_column_int(stmt, 1);
        e->seq = sqlite3_column_int64(stmt, 2); /* NULL reads as 0 */
        e->line = sqlite3_column_int64(stmt, 3);
        column_text(e->tool, sizeof(e->tool), stmt, 4);
        column_text(e->action, sizeof(e->action), stmt, 5);
        column_text(e->target, sizeof(e->target), stmt, 6);
        column_text(e->details, sizeof(e->details), stmt, 7);
        e->dry_run = sqlite3_column_int(stmt, 8) != 0;
        column_text(e->outcome, sizeof(e->outcome), stmt, 9);
        column_text(e->source, sizeof(e->source), stmt, 10);
        e->created_ms = sqlite3_column_int64(stmt, 11);
    }
    if (rc != SQLITE_DONE) {
        r = ls_sqlite_fail(&s->reader, rc, "listing tool-usage events");
        goto out;
    }
    *ret_events = events ? events : ls_xcalloc(1, sizeof(*events));
    *ret_n = n;
    events = NULL;
    r = 0;
out:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->reader.lock);
    free(events);
    return r;
}
