/* PostgreSQL back end: size limits and retention (store.h, "size limits and
 * retention"), the same rules as store_sqlite_limits.c. A drop locks the
 * step's row first, as an append does, so the two take turns across servers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "store/store_pg.h"

static ls_store_pg *from_store(ls_store *st)
{
    return (ls_store_pg *)st;
}

static void step_params(ls_pg_params *p, int64_t build_id, int step)
{
    memset(p, 0, sizeof(*p));
    ls_pg_param_i64(p, build_id);
    ls_pg_param_i64(p, step);
}

/* Locks the step's row and reads its drop columns. */
static int load_drop(ls_pg_conn *c, int64_t build_id, int step, uint64_t *first, uint64_t *last,
                     uint64_t *bytes)
{
    ls_pg_params p;
    PGresult *res = NULL;
    step_params(&p, build_id, step);
    int r = ls_pg_query(c, PG_DROP_LOAD, &p, "reading a step's dropped lines", &res);
    if (r < 0)
        return r;
    if (PQntuples(res) == 0) {
        r = ls_store_no_step(build_id, step);
    } else {
        *first = (uint64_t)ls_pg_get_i64(res, 0, 0);
        *last = (uint64_t)ls_pg_get_i64(res, 0, 1);
        *bytes = (uint64_t)ls_pg_get_i64(res, 0, 2);
    }
    PQclear(res);
    return r;
}

/* The last seq of the head (0 when the head is not sealed yet). */
static int find_head(ls_pg_conn *c, int64_t build_id, int step, uint64_t head_bytes,
                     uint64_t *ret_last)
{
    ls_pg_params p;
    PGresult *res = NULL;
    step_params(&p, build_id, step);
    ls_pg_param_i64(&p, head_bytes > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)head_bytes);
    int r = ls_pg_query(c, PG_DROP_HEAD, &p, "listing a step's log chunks", &res);
    if (r < 0)
        return r;
    *ret_last = 0;
    if (PQntuples(res) == 1 && ls_pg_get_i64(res, 0, 1))
        *ret_last = (uint64_t)ls_pg_get_i64(res, 0, 0);
    PQclear(res);
    return 0;
}

/* Deletes the sealed chunk starting at first_seq, if there is one, adding
 * its text bytes to *bytes and setting *ret_last to its last seq (0 when
 * there is no such sealed chunk). */
static int drop_chunk(ls_store_pg *s, ls_pg_conn *c, int64_t build_id, int step, uint64_t first_seq,
                      uint64_t *bytes, uint64_t *ret_last)
{
    ls_pg_params p;
    PGresult *res = NULL;
    *ret_last = 0;
    step_params(&p, build_id, step);
    ls_pg_param_i64(&p, (int64_t)first_seq);
    int r = ls_pg_query(c, PG_DROP_CHUNK_GET, &p, "reading a log chunk", &res);
    if (r < 0)
        return r;
    if (PQntuples(res) == 0 || ls_pg_get_i64(res, 0, 1) == 0) {
        PQclear(res); /* no chunk there, or the open rows: nothing more to drop */
        return 0;
    }
    uint64_t last = (uint64_t)ls_pg_get_i64(res, 0, 0);
    size_t len;
    const char *blob = ls_pg_get_bytes(res, 0, 2, &len);
    ls_chunk_info info;
    r = ls_chunk_decode(s->scratch[c->index].merge_decoder, blob, len, NULL, NULL, &info);
    PQclear(res);
    if (r < 0 || info.first_seq != first_seq || info.last_seq != last) {
        ls_store_set_error("log chunk of lines %llu-%llu is corrupt", (unsigned long long)first_seq,
                           (unsigned long long)last);
        return -EBADMSG;
    }
    r = ls_pg_query(c, PG_DROP_CHUNK_DELETE, &p, "deleting a log chunk", NULL);
    if (r == 0) {
        *bytes += info.text_bytes;
        *ret_last = last;
    }
    return r;
}

static int drop_in_tx(ls_store_pg *s, ls_pg_conn *c, int64_t build_id, int step,
                      uint64_t head_bytes, uint64_t excess_bytes)
{
    uint64_t first = 0, last = 0, bytes = 0;
    int r = load_drop(c, build_id, step, &first, &last, &bytes);
    if (r < 0)
        return r;
    uint64_t next = last + 1;
    if (first == 0) {
        uint64_t head_last = 0;
        r = find_head(c, build_id, step, head_bytes, &head_last);
        if (r < 0 || head_last == 0)
            return r;
        next = head_last + 1;
    }
    uint64_t new_first = first ? first : next, new_last = last, dropped = 0;
    while (dropped < excess_bytes) {
        uint64_t chunk_last = 0;
        r = drop_chunk(s, c, build_id, step, next, &dropped, &chunk_last);
        if (r < 0)
            return r;
        if (chunk_last == 0)
            break;
        new_last = chunk_last;
        next = chunk_last + 1;
    }
    if (new_last == last)
        return 0;
    ls_pg_params p;
    step_params(&p, build_id, step);
    ls_pg_param_i64(&p, (int64_t)new_first);
    ls_pg_param_i64(&p, (int64_t)new_last);
    ls_pg_param_i64(&p, (int64_t)(bytes + dropped));
    return ls_pg_query(c, PG_DROP_SAVE, &p, "recording dropped lines", NULL);
}

int ls_store_pg_drop_middle(ls_store *st, int64_t build_id, int step, uint64_t head_bytes,
                            uint64_t excess_bytes, ls_step_info *ret_step)
{
    ls_store_pg *s = from_store(st);
    ls_pg_conn *c;
    int r = ls_store_pg_begin(s, &c);
    if (r < 0)
        return r;
    r = drop_in_tx(s, c, build_id, step, head_bytes, excess_bytes);
    r = ls_store_pg_end(s, c, r);
    if (r == 0 && ret_step)
        r = st->ops->get_step(st, build_id, step, ret_step);
    return r;
}

int ls_store_pg_build_bytes(ls_store *st, int64_t build_id, uint64_t *ret_bytes)
{
    ls_store_pg *s = from_store(st);
    ls_pg_conn *c;
    ls_pg_params p = {0};
    PGresult *res = NULL;
    int r = ls_pg_acquire(s->pool, &c);
    if (r < 0)
        return r;
    ls_pg_param_i64(&p, build_id);
    r = ls_pg_query(c, PG_BUILD_BYTES, &p, "summing a build's log sizes", &res);
    ls_pg_release(s->pool, c);
    if (r < 0)
        return r;
    int64_t v = PQntuples(res) == 1 ? ls_pg_get_i64(res, 0, 0) : 0;
    PQclear(res);
    *ret_bytes = v > 0 ? (uint64_t)v : 0;
    return 0;
}

int ls_store_pg_delete_build(ls_store *st, int64_t build_id)
{
    ls_store_pg *s = from_store(st);
    ls_pg_conn *c;
    ls_pg_params p = {0};
    PGresult *res = NULL;
    int r = ls_store_pg_begin(s, &c);
    if (r < 0)
        return r;
    ls_pg_param_i64(&p, build_id);
    /* the chunks first: the bulk of the work; steps, test runs and build
     * tokens go by their foreign keys' cascades */
    r = ls_pg_query(c, PG_BUILD_CHUNKS_DELETE, &p, "deleting a build's log chunks", NULL);
    if (r == 0)
        r = ls_pg_query(c, PG_BUILD_DELETE, &p, "deleting a build", &res);
    if (r == 0 && strcmp(PQcmdTuples(res), "0") == 0) {
        ls_store_set_error("no build %lld", (long long)build_id);
        r = -ENOENT;
    }
    PQclear(res);
    return ls_store_pg_end(s, c, r);
}

int ls_store_pg_list_finished_before(ls_store *st, int64_t before_ms, int64_t after_id, size_t max,
                                     int64_t **ret_ids, size_t *ret_n)
{
    ls_store_pg *s = from_store(st);
    ls_pg_conn *c;
    ls_pg_params p = {0};
    PGresult *res = NULL;
    int r = ls_pg_acquire(s->pool, &c);
    if (r < 0)
        return r;
    ls_pg_param_i64(&p, before_ms);
    ls_pg_param_i64(&p, after_id);
    ls_pg_param_i64(&p, max > (size_t)INT64_MAX ? INT64_MAX : (int64_t)max);
    r = ls_pg_query(c, PG_FINISHED_BEFORE, &p, "listing finished builds", &res);
    ls_pg_release(s->pool, c);
    if (r < 0)
        return r;
    int n = PQntuples(res);
    int64_t *ids = ls_xcalloc(n ? (size_t)n : 1, sizeof(*ids));
    for (int i = 0; i < n; i++)
        ids[i] = ls_pg_get_i64(res, i, 0);
    PQclear(res);
    *ret_ids = ids;
    *ret_n = (size_t)n;
    return 0;
}
