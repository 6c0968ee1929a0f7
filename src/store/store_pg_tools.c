/* PostgreSQL back end: tool-usage events (store_tools.h), the same rows as
 * store_sqlite_tools.c. The events of one call are inserted in one
 * transaction; ON CONFLICT (build_id, seq) DO NOTHING makes a resent event a
 * no-op (RETURNING then gives no row). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/timeutil.h"
#include "store/store_pg.h"
#include "store/store_tools.h"

int ls_store_pg_add_tool_events(ls_store *st, const ls_tool_event *events, size_t n,
                                bool *ret_added)
{
    ls_store_pg *s = (ls_store_pg *)st;
    ls_pg_conn *c = NULL;
    bool *added = ls_xcalloc(n ? n : 1, sizeof(*added));
    int64_t now = ls_now_ms();
    int r = ls_pg_acquire(s->pool, &c);
    if (r < 0)
        goto out;
    r = ls_pg_exec(c, "BEGIN", "starting a transaction");
    for (size_t i = 0; r == 0 && i < n; i++) {
        const ls_tool_event *e = &events[i];
        ls_pg_params p = {0};
        PGresult *res = NULL;
        ls_pg_param_i64(&p, e->build_id);
        ls_pg_param_i64(&p, e->step);
        if (e->seq > 0)
            ls_pg_param_i64(&p, e->seq);
        else
            ls_pg_param_null(&p);
        ls_pg_param_i64(&p, e->line);
        ls_pg_param_str(&p, e->tool);
        ls_pg_param_str(&p, e->action);
        ls_pg_param_str(&p, e->target);
        ls_pg_param_str(&p, e->details);
        ls_pg_param_i64(&p, e->dry_run ? 1 : 0);
        ls_pg_param_str(&p, e->outcome);
        ls_pg_param_str(&p, e->source);
        ls_pg_param_i64(&p, now);
        r = ls_pg_query(c, PG_TOOL_EVENT_INSERT, &p, "storing a tool-usage event", &res);
        if (r == -ENOENT) /* the foreign key: no such step */
            ls_store_no_step(e->build_id, e->step);
        if (r == 0)
            added[i] = PQntuples(res) == 1;
        PQclear(res);
    }
    if (r == 0)
        r = ls_pg_exec(c, "COMMIT", "committing");
    ls_pg_release(s->pool, c); /* rolls back a transaction left open by a failure */
    if (r == 0 && ret_added)
        memcpy(ret_added, added, n * sizeof(*added));
out:
    free(added);
    return r;
}

static void copy_text(char *dst, size_t size, const PGresult *res, int row, int col)
{
    size_t len;
    const char *t = ls_pg_get_bytes(res, row, col, &len);
    snprintf(dst, size, "%.*s", (int)(len < size ? len : size - 1), t ? t : "");
}

int ls_store_pg_list_tool_events(ls_store *st, int64_t build_id, int64_t after_id, size_t limit,
                                 ls_tool_event **ret_events, size_t *ret_n)
{
    ls_store_pg *s = (ls_store_pg *)st;
    ls_pg_conn *c;
    ls_pg_params p = {0};
    PGresult *res = NULL;
    int r = ls_pg_acquire(s->pool, &c);
    if (r < 0)
        return r;
    ls_pg_param_i64(&p, build_id);
    ls_pg_param_i64(&p, after_id);
    ls_pg_param_i64(&p, limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit);
    r = ls_pg_query(c, PG_TOOL_EVENTS_OF_BUILD, &p, "listing tool-usage events", &res);
    ls_pg_release(s->pool, c);
    if (r < 0)
        return r;
    int n = PQntuples(res);
    ls_tool_event *events = ls_xcalloc(n ? (size_t)n : 1, sizeof(*events));
    for (int i = 0; i < n; i++) {
        ls_tool_event *e = &events[i];
        e->id = ls_pg_get_i64(res, i, 0);
        e->build_id = build_id;
        e->step = (int)ls_pg_get_i64(res, i, 1);
        e->seq = ls_pg_is_null(res, i, 2) ? 0 : ls_pg_get_i64(res, i, 2);
        e->line = ls_pg_get_i64(res, i, 3);
        copy_text(e->tool, sizeof(e->tool), res, i, 4);
        copy_text(e->action, sizeof(e->action), res, i, 5);
        copy_text(e->target, sizeof(e->target), res, i, 6);
        copy_text(e->details, sizeof(e->details), res, i, 7);
        e->dry_run = ls_pg_get_i64(res, i, 8) != 0;
        copy_text(e->outcome, sizeof(e->outcome), res, i, 9);
        copy_text(e->source, sizeof(e->source), res, i, 10);
        e->created_ms = ls_pg_get_i64(res, i, 11);
    }
    PQclear(res);
    *ret_events = events;
    *ret_n = (size_t)n;
    return 0;
}
