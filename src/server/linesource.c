#include "server/linesource.h"

#include <errno.h>

#include "common/timeutil.h"
#include "server/limits.h"
#include "store/store.h"

typedef struct bounded_cb {
    ls_live_line_cb cb;
    void *arg;
    uint64_t upto;
    uint64_t last; /* the highest seq passed on (or the read's `after`) */
    size_t max_lines;
    size_t delivered;
    int stopped;
} bounded_cb;

/* Passes a line on unless it is past the bound; stops at the bound. A line at
 * or below the last one passed on is skipped: whatever the memory and the
 * store hand over across their boundary, a reader never gets a seq twice or
 * going backwards. */
static int bounded(void *arg, const ls_line *line)
{
    bounded_cb *b = arg;
    if (line->seq <= b->last)
        return 0;
    b->last = line->seq;
    if (b->upto && line->seq > b->upto) {
        b->stopped = 1;
        return 1;
    }
    b->delivered++;
    int r = b->cb(b->arg, line);
    if (r != 0 || (b->upto && line->seq >= b->upto) || b->delivered >= b->max_lines) {
        b->stopped = 1;
        return 1;
    }
    return 0;
}

static int store_line(void *arg, const ls_line *line)
{
    return bounded(arg, line);
}

/* Delivers the marker line that stands for the dropped lines (seq
 * drop_first). Returns bounded()'s result: 1 when the read stops here. */
static int deliver_marker(ls_server *srv, const ls_live_state *st, bounded_cb *b)
{
    char text[400];
    size_t len = ls_limits_marker_text(&srv->cfg, st->drop_last - st->drop_first + 1,
                                       st->drop_bytes, st->received_bytes, text, sizeof(text));
    ls_line marker = {
        .seq = st->drop_first,
        .ts_ms = ls_now_ms(),
        .stream = LS_STREAM_STDOUT,
        .len = (uint32_t)len,
        .text = text,
    };
    return bounded(b, &marker);
}

int ls_linesource_read(ls_server *srv, ls_live_step *step, uint64_t after, uint64_t upto,
                       size_t max_lines, ls_live_line_cb cb, void *arg, ls_live_state *ret_state)
{
    bounded_cb b = {
        .cb = cb, .arg = arg, .upto = upto, .last = after, .max_lines = max_lines ? max_lines : 1};
    ls_live_state st;
    ls_live_get_state(step, &st);
    /* The dropped middle (server/limits.h): one marker line at drop_first,
     * then on after drop_last; a read that starts in the head stops at its
     * end, so the marker comes next. (Lines of the gap may still be in
     * memory: they are skipped all the same.) */
    if (st.drop_last && after < st.drop_last && after + 1 >= st.drop_first) {
        if (after + 1 == st.drop_first && (!upto || st.drop_first <= upto) &&
            deliver_marker(srv, &st, &b))
            goto out;
        after = st.drop_last;
    } else if (st.drop_first && after + 1 < st.drop_first) {
        if (!b.upto || b.upto >= st.drop_first)
            b.upto = st.drop_first - 1;
    }
    if (b.upto && after >= b.upto)
        goto out;
    int n = ls_live_read(step, after, b.max_lines, bounded, &b, &st);
    if (n >= 0)
        goto out;
    /* Not in memory: lines after..oldest_seq-1 are durable in the store. */
    uint64_t last = st.oldest_seq - 1;
    if (b.upto == 0 || b.upto > last)
        b.upto = last;
    size_t before = b.delivered;
    int rc = ls_store_read(srv->store, ls_live_step_build(step), ls_live_step_number(step),
                           after + 1, b.max_lines, store_line, &b);
    if (rc < 0)
        return rc;
    if (b.delivered == before)
        return -EIO; /* the store lacks lines it reported durable (or a drop just took them) */
out:
    if (ret_state)
        *ret_state = st;
    return (int)b.delivered;
}

void ls_linesource_init_of(const ls_step_info *info, ls_live_init *ret)
{
    ls_live_init init = {
        .drop_first = info->drop_first,
        .drop_last = info->drop_last,
        .drop_bytes = info->drop_bytes,
        .durable_seq = info->line_count,
        .durable_bytes = info->byte_count,
        .status = info->status,
        .has_exit_code = info->has_exit_code,
        .exit_code = info->exit_code,
    };
    *ret = init;
}

int ls_linesource_open_step(ls_server *srv, int64_t build, int step, ls_live_step **ret,
                            ls_step_info *ret_info)
{
    ls_step_info info;
    int rc = ls_store_get_step(srv->store, build, step, &info);
    if (rc < 0)
        return rc;
    ls_live_init init;
    ls_linesource_init_of(&info, &init);
    *ret = ls_live_open(srv->live, build, step, &init);
    /* a PostgreSQL database (with or without --nats; there is a fan-out
     * then) may be shared: another instance may have stored lines or changed
     * the status since this live object last looked */
    if (srv->fanout)
        ls_live_refresh(*ret, &init);
    if (ret_info)
        *ret_info = info;
    return 0;
}
