/* PostgreSQL back end: appending log lines as chunk rows and reading them
 * back. The chunk rows and the sealing rule are SQLite's (store_sqlite_log.c):
 * new lines of a step become one open (raw) row per append; when a step's
 * open rows and the new lines reach chunk_bytes they are merged into one
 * sealed (zstd) row and the open rows are deleted, in the same transaction.
 *
 * One append is one transaction with a fixed number of round trips whatever
 * the number of steps: lock the steps' rows (SELECT ... FOR UPDATE, in key
 * order) and read their counters, size their open rows, then one COPY of
 * every new chunk row and one UPDATE of every counter. Sealing a step whose
 * open rows exist adds a read and a delete of those rows.
 *
 * Several servers may append to one database: the row lock makes appenders
 * of a step take turns, and each skips the lines at or below the durable seq
 * it reads under the lock, so a line is stored once even when two servers
 * receive it. */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "store/chunk_read.h"
#include "store/store_pg.h"

/* A COPY buffer larger than this is freed after the append instead of kept. */
#define COPY_KEEP_BYTES (8u * 1024u * 1024u)

#define COPY_SQL                                                                                   \
    "COPY chunks(build_id, step, first_seq, last_seq, n_bytes, sealed, data) FROM STDIN "          \
    "WITH (FORMAT binary)"

/* Where a step stands inside the current append transaction. */
typedef struct step_state {
    int64_t build_id;
    int step;
    bool found;           /* its row exists (and is locked) */
    bool changed;         /* new lines stored: write the counters */
    uint64_t durable_seq; /* last stored seq */
    uint64_t byte_count;  /* stored text bytes */
    int64_t open_rows;    /* rows with sealed = 0 */
    uint64_t open_bytes;  /* their raw size */
} step_state;

static int cmp_state(const void *a, const void *b)
{
    const step_state *x = a, *y = b;
    if (x->build_id != y->build_id)
        return x->build_id < y->build_id ? -1 : 1;
    return (x->step > y->step) - (x->step < y->step);
}

static step_state *find_state(step_state *states, size_t n, int64_t build_id, int step)
{
    step_state key = {.build_id = build_id, .step = step};
    return bsearch(&key, states, n, sizeof(*states), cmp_state);
}

/* ---- COPY BINARY encoding ---- */

static void put_u16(ls_buf *b, uint16_t v)
{
    v = htobe16(v);
    ls_buf_append(b, &v, 2);
}

static void put_u32(ls_buf *b, uint32_t v)
{
    v = htobe32(v);
    ls_buf_append(b, &v, 4);
}

static void put_i64_field(ls_buf *b, int64_t v)
{
    uint64_t be = htobe64((uint64_t)v);
    put_u32(b, 8);
    ls_buf_append(b, &be, 8);
}

static void copy_header(ls_buf *b)
{
    static const char sig[11] = "PGCOPY\n\377\r\n";
    ls_buf_reset(b);
    ls_buf_append(b, sig, sizeof(sig)); /* the 11th byte is the NUL */
    put_u32(b, 0);                      /* flags */
    put_u32(b, 0);                      /* header extension length */
}

/* Queues one chunk row: lines w->first_seq..w->last_seq, raw size w->buf.len,
 * stored as data[0..len). */
static void copy_row(ls_buf *b, const step_state *st, const ls_chunk_writer *w, const void *data,
                     size_t len, bool sealed)
{
    put_u16(b, 7);
    put_i64_field(b, st->build_id);
    put_u32(b, 4);
    put_u32(b, (uint32_t)st->step);
    put_i64_field(b, (int64_t)w->first_seq);
    put_i64_field(b, (int64_t)w->last_seq);
    put_i64_field(b, (int64_t)w->buf.len);
    put_u32(b, 2);
    put_u16(b, sealed ? 1 : 0);
    put_u32(b, (uint32_t)len);
    ls_buf_append(b, data, len);
}

/* ---- reading the steps under lock ---- */

/* "{a,b,c}" of the states' build ids (or step numbers, or counters). */
static void array_of(ls_buf *out, const step_state *states, size_t n, int which, bool changed_only)
{
    ls_buf_reset(out);
    ls_buf_putc(out, '{');
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        const step_state *st = &states[i];
        if (changed_only && !st->changed)
            continue;
        if (!first)
            ls_buf_putc(out, ',');
        first = false;
        switch (which) {
        case 0:
            ls_buf_printf(out, "%lld", (long long)st->build_id);
            break;
        case 1:
            ls_buf_printf(out, "%d", st->step);
            break;
        case 2:
            ls_buf_printf(out, "%llu", (unsigned long long)st->durable_seq);
            break;
        default:
            ls_buf_printf(out, "%llu", (unsigned long long)st->byte_count);
            break;
        }
    }
    ls_buf_putc(out, '}');
}

/* Locks the steps' rows and reads their counters and open rows' sizes. */
static int load_states(ls_pg_conn *c, step_state *states, size_t n)
{
    ls_buf builds = LS_BUF_INIT, steps = LS_BUF_INIT;
    ls_pg_params p = {0};
    PGresult *res = NULL;
    array_of(&builds, states, n, 0, false);
    array_of(&steps, states, n, 1, false);
    ls_pg_param_textfmt(&p, builds.data);
    ls_pg_param_textfmt(&p, steps.data);
    int r = ls_pg_query(c, PG_STEPS_LOCK, &p, "locking steps", &res);
    if (r < 0)
        goto out;
    for (int i = 0; i < PQntuples(res); i++) {
        step_state *st =
            find_state(states, n, ls_pg_get_i64(res, i, 0), (int)ls_pg_get_i64(res, i, 1));
        if (!st)
            continue;
        st->found = true;
        st->durable_seq = (uint64_t)ls_pg_get_i64(res, i, 2);
        st->byte_count = (uint64_t)ls_pg_get_i64(res, i, 3);
    }
    PQclear(res);
    res = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!states[i].found) {
            r = ls_store_no_step(states[i].build_id, states[i].step);
            goto out;
        }
    }
    /* A separate statement: under READ COMMITTED it sees what the previous
     * holder of the lock committed. */
    r = ls_pg_query(c, PG_OPEN_SIZES, &p, "sizing open log chunks", &res);
    if (r < 0)
        goto out;
    for (int i = 0; i < PQntuples(res); i++) {
        step_state *st =
            find_state(states, n, ls_pg_get_i64(res, i, 0), (int)ls_pg_get_i64(res, i, 1));
        if (!st)
            continue;
        st->open_rows = ls_pg_get_i64(res, i, 2);
        st->open_bytes = (uint64_t)ls_pg_get_i64(res, i, 3);
    }
out:
    PQclear(res);
    ls_buf_free(&builds);
    ls_buf_free(&steps);
    return r;
}

/* ---- sealing ---- */

static int add_line_to_writer(void *userdata, const ls_line *line)
{
    return ls_chunk_writer_add(userdata, line);
}

/* Fills x->merged with the step's open rows followed by the pending lines. */
static int merge_open_rows(ls_store_pg *s, ls_pg_conn *c, ls_pg_scratch *x, const step_state *st)
{
    ls_pg_params p = {0};
    PGresult *res = NULL;
    (void)s;
    ls_pg_param_i64(&p, st->build_id);
    ls_pg_param_i64(&p, st->step);
    int r = ls_pg_query(c, PG_OPEN_ROWS, &p, "reading open log chunks", &res);
    if (r < 0)
        return r;
    ls_chunk_writer_reset(&x->merged);
    for (int i = 0; i < PQntuples(res) && r == 0; i++) {
        size_t len;
        const char *blob = ls_pg_get_bytes(res, i, 0, &len);
        r = ls_chunk_decode(x->merge_decoder, blob, len, add_line_to_writer, &x->merged, NULL);
    }
    PQclear(res);
    if (r == 0)
        r = ls_chunk_decode(x->merge_decoder, x->pending.buf.data, x->pending.buf.len,
                            add_line_to_writer, &x->merged, NULL);
    if (r < 0)
        ls_store_set_error("step %d of build %lld: open log chunk is corrupt (%d)", st->step,
                           (long long)st->build_id, r);
    return r;
}

/* Seals the open rows (if any) and the pending lines into one zstd chunk row. */
static int seal(ls_store_pg *s, ls_pg_conn *c, ls_pg_scratch *x, step_state *st)
{
    const ls_chunk_writer *w = &x->pending;
    int r;
    if (st->open_rows > 0) {
        r = merge_open_rows(s, c, x, st);
        if (r < 0)
            return r;
        w = &x->merged;
    }
    r = ls_chunk_compress(x->compressor, w->buf.data, w->buf.len, &x->sealed);
    if (r < 0) {
        ls_store_set_error("compressing a log chunk failed");
        return r;
    }
    if (st->open_rows > 0) {
        ls_pg_params p = {0};
        ls_pg_param_i64(&p, st->build_id);
        ls_pg_param_i64(&p, st->step);
        r = ls_pg_query(c, PG_OPEN_DELETE, &p, "deleting open log chunks", NULL);
        if (r < 0)
            return r;
        st->open_rows = 0;
        st->open_bytes = 0;
    }
    copy_row(&x->copy, st, w, x->sealed.data, x->sealed.len, true);
    ls_chunk_writer_reset(&x->pending);
    return 0;
}

/* ---- appending ---- */

/* Adds the lines of b above the step's durable seq to x->pending, sealing
 * whenever the step's open rows and pending lines reach the chunk size. */
static int add_batch(ls_store_pg *s, ls_pg_conn *c, ls_pg_scratch *x, step_state *st,
                     const ls_store_batch *b)
{
    size_t first = 0;
    while (first < b->n_lines && b->lines[first].seq <= st->durable_seq)
        first++;
    for (size_t i = first; i < b->n_lines; i++) {
        const ls_line *line = &b->lines[i];
        uint64_t expected = st->durable_seq + 1;
        if (line->seq != expected || expected > (uint64_t)INT64_MAX) {
            ls_store_set_error("step %d of build %lld: expected line %llu, got %llu", st->step,
                               (long long)st->build_id, (unsigned long long)expected,
                               (unsigned long long)line->seq);
            return -EINVAL;
        }
        int r = ls_chunk_writer_add(&x->pending, line);
        if (r < 0) {
            ls_store_set_error("step %d of build %lld: line %llu has stream '%c'", st->step,
                               (long long)st->build_id, (unsigned long long)line->seq,
                               line->stream);
            return r;
        }
        st->durable_seq = line->seq;
        st->byte_count += line->len;
        st->changed = true;
        if (st->open_bytes + x->pending.buf.len >= s->chunk_bytes) {
            r = seal(s, c, x, st);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

static int check_db_size(ls_store_pg *s, ls_pg_conn *c)
{
    PGresult *res = NULL;
    int r = ls_pg_query(c, PG_DB_SIZE, NULL, "sizing the database", &res);
    if (r < 0)
        return r;
    int64_t size = PQntuples(res) == 1 ? ls_pg_get_i64(res, 0, 0) : 0;
    PQclear(res);
    if (size >= 0 && (uint64_t)size >= s->max_db_bytes) {
        ls_store_set_error("the database holds %lld bytes, the limit is %llu", (long long)size,
                           (unsigned long long)s->max_db_bytes);
        return -ENOSPC;
    }
    return 0;
}

static int write_counters(ls_pg_conn *c, const step_state *states, size_t n)
{
    ls_buf a[4] = {LS_BUF_INIT, LS_BUF_INIT, LS_BUF_INIT, LS_BUF_INIT};
    ls_pg_params p = {0};
    for (int k = 0; k < 4; k++) {
        array_of(&a[k], states, n, k, true);
        ls_pg_param_textfmt(&p, a[k].data);
    }
    int r = ls_pg_query(c, PG_STEPS_SET_COUNTERS, &p, "updating steps' counters", NULL);
    for (int k = 0; k < 4; k++)
        ls_buf_free(&a[k]);
    return r;
}

/* Everything between BEGIN and COMMIT. */
static int append_in_tx(ls_store_pg *s, ls_pg_conn *c, ls_pg_scratch *x, step_state *states,
                        size_t n_states, const ls_store_batch *batches, size_t n_batches)
{
    int r = 0;
    if (s->max_db_bytes)
        r = check_db_size(s, c);
    if (r == 0)
        r = load_states(c, states, n_states);
    if (r < 0)
        return r;
    copy_header(&x->copy);
    size_t header = x->copy.len;
    bool any_changed = false;
    /* step by step (in key order), each step's batches in call order */
    for (size_t k = 0; k < n_states; k++) {
        step_state *st = &states[k];
        ls_chunk_writer_reset(&x->pending);
        for (size_t i = 0; i < n_batches; i++) {
            if (batches[i].build_id != st->build_id || batches[i].step != st->step)
                continue;
            r = add_batch(s, c, x, st, &batches[i]);
            if (r < 0)
                return r;
        }
        if (x->pending.n_lines > 0)
            copy_row(&x->copy, st, &x->pending, x->pending.buf.data, x->pending.buf.len, false);
        any_changed |= st->changed;
    }
    if (x->copy.len > header) {
        put_u16(&x->copy, 0xffff); /* trailer */
        r = ls_pg_copy_in(c, COPY_SQL, x->copy.data, x->copy.len, "storing log chunks");
        if (r < 0)
            return r;
    }
    if (any_changed)
        r = write_counters(c, states, n_states);
    return r;
}

int ls_store_pg_append(ls_store *st, const ls_store_batch *batches, size_t n_batches)
{
    ls_store_pg *s = (ls_store_pg *)st;
    ls_pg_conn *c;
    step_state *states = ls_xcalloc(n_batches, sizeof(*states));
    size_t n_states = 0;
    for (size_t i = 0; i < n_batches; i++)
        states[i] = (step_state){.build_id = batches[i].build_id, .step = batches[i].step};
    qsort(states, n_batches, sizeof(*states), cmp_state);
    for (size_t i = 0; i < n_batches; i++) {
        if (n_states == 0 || cmp_state(&states[n_states - 1], &states[i]) != 0)
            states[n_states++] = states[i];
    }

    int r = ls_store_pg_begin(s, &c);
    if (r < 0)
        goto out;
    ls_pg_scratch *x = &s->scratch[c->index];
    r = append_in_tx(s, c, x, states, n_states, batches, n_batches);
    ls_chunk_writer_reset(&x->pending);
    if (x->copy.cap > COPY_KEEP_BYTES)
        ls_buf_free(&x->copy);
    r = ls_store_pg_end(s, c, r);
out:
    free(states);
    return r;
}

/* ---- reading ---- */

int ls_store_pg_read(ls_store *st, int64_t build_id, int step, uint64_t from_seq, uint64_t limit,
                     ls_store_line_cb cb, void *userdata)
{
    ls_store_pg *s = (ls_store_pg *)st;
    ls_chunk_read rd;
    if (!ls_chunk_read_init(&rd, from_seq, limit, cb, userdata))
        return 0;
    int64_t from, end;
    ls_chunk_read_bounds(&rd, &from, &end);
    ls_pg_conn *c;
    ls_pg_params p = {0};
    PGresult *row = NULL;
    int r = ls_pg_acquire(s->pool, &c);
    if (r < 0)
        return r;
    ls_chunk_decoder *d = s->scratch[c->index].read_decoder;
    ls_pg_param_i64(&p, build_id);
    ls_pg_param_i64(&p, step);
    ls_pg_param_i64(&p, from);
    ls_pg_param_i64(&p, end);
    /* one row at a time: a long log is never held in memory as a whole */
    r = ls_pg_send_rows(c, PG_CHUNK_RANGE, &p, "reading log chunks");
    while (r == 0 && !rd.done) {
        int got = ls_pg_next_row(c, "reading log chunks", &row);
        if (got <= 0) {
            r = got;
            break;
        }
        size_t len;
        const char *blob = ls_pg_get_bytes(row, 0, 2, &len);
        r = ls_chunk_read_row(&rd, d, (uint64_t)ls_pg_get_i64(row, 0, 0),
                              (uint64_t)ls_pg_get_i64(row, 0, 1), blob, len);
        PQclear(row);
    }
    if (r != 0 || rd.done)
        ls_pg_drain(c);
    if (r == 0)
        r = ls_chunk_read_result(&rd);
    ls_pg_release(s->pool, c);
    return r;
}
