#include "server/live.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/record.h"
#include "common/timeutil.h"

#define LIVE_BUCKETS 1024u
#define SEGMENT_MIN (64u * 1024u)
#define SEGMENT_MAX (1024u * 1024u)

typedef struct live_entry {
    int64_t ts_ms;
    uint32_t off;
    uint32_t len;
    char stream;
    bool continued;
} live_entry;

/* A run of consecutive lines: entries plus their text in data[]. */
typedef struct live_seg {
    struct live_seg *next;
    uint64_t first_seq;
    size_t n, cap;
    live_entry *e;
    size_t used, size;
    char data[];
} live_seg;

struct ls_live_step {
    ls_live *lv;
    ls_live_step *hnext; /* hash chain, under the registry lock */
    atomic_int refs;
    int64_t build;
    int number;

    pthread_mutex_t mu;
    uint64_t received_seq, durable_seq, flushing_seq;
    uint64_t received_bytes, durable_bytes, flushing_bytes;
    live_seg *head, *tail;
    size_t mem_bytes;           /* text bytes held in segments */
    uint64_t unpublished_bytes; /* appended since the last unlock, not yet in pending_bytes */
    ls_status status;
    bool has_exit_code;
    int exit_code;
    int64_t final_at_ms, active_at_ms;
    uint64_t drop_first, drop_last, drop_bytes;
    unsigned pending_events; /* to notify at unlock */
    int writers;             /* ingest requests of this instance open on the step */
    /* lines past durable_seq came from another instance (ls_live_append_remote_locked) */
    bool remote;
    ls_buf ahead; /* remote records past a gap (ls_record format), up to buffer_bytes */
    ls_live_sub *subs;
};

struct ls_live {
    ls_live_options opts;
    pthread_mutex_t mu;
    ls_live_step *buckets[LIVE_BUCKETS];
    size_t count;
    atomic_uint_fast64_t pending_bytes;
};

ls_live *ls_live_new(const ls_live_options *opts)
{
    ls_live *lv = ls_xcalloc(1, sizeof(*lv));
    lv->opts = *opts;
    if (lv->opts.max_line == 0)
        lv->opts.max_line = LS_DEFAULT_MAX_LINE;
    if (lv->opts.segment_bytes == 0) {
        size_t seg = lv->opts.buffer_bytes / 4;
        seg = seg < SEGMENT_MIN ? SEGMENT_MIN : seg > SEGMENT_MAX ? SEGMENT_MAX : seg;
        lv->opts.segment_bytes = seg;
    }
    if (lv->opts.segment_bytes < lv->opts.max_line)
        lv->opts.segment_bytes = lv->opts.max_line;
    pthread_mutex_init(&lv->mu, NULL);
    return lv;
}

/* Frees a list of segments. */
static void seg_free(live_seg *seg)
{
    while (seg) {
        live_seg *next = seg->next;
        free(seg->e);
        free(seg);
        seg = next;
    }
}

static void step_free(ls_live_step *s)
{
    seg_free(s->head);
    ls_buf_free(&s->ahead);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void ls_live_free(ls_live *lv)
{
    if (!lv)
        return;
    for (size_t i = 0; i < LIVE_BUCKETS; i++) {
        ls_live_step *s = lv->buckets[i];
        while (s) {
            ls_live_step *next = s->hnext;
            step_free(s);
            s = next;
        }
    }
    pthread_mutex_destroy(&lv->mu);
    free(lv);
}

static size_t bucket_of(int64_t build, int step)
{
    uint64_t h = (uint64_t)build * 0x9E3779B97F4A7C15ull ^ (uint64_t)(unsigned)step * 0xC2B2AE3Du;
    return (size_t)((h >> 17) % LIVE_BUCKETS);
}

/* With lv->mu held. */
static ls_live_step *lookup(ls_live *lv, int64_t build, int step)
{
    for (ls_live_step *s = lv->buckets[bucket_of(build, step)]; s; s = s->hnext)
        if (s->build == build && s->number == step)
            return s;
    return NULL;
}

ls_live_step *ls_live_find(ls_live *lv, int64_t build, int step)
{
    pthread_mutex_lock(&lv->mu);
    ls_live_step *s = lookup(lv, build, step);
    if (s)
        atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&lv->mu);
    return s;
}

ls_live_step *ls_live_open(ls_live *lv, int64_t build, int step, const ls_live_init *init)
{
    pthread_mutex_lock(&lv->mu);
    ls_live_step *s = lookup(lv, build, step);
    if (!s) {
        s = ls_xcalloc(1, sizeof(*s));
        s->lv = lv;
        s->build = build;
        s->number = step;
        atomic_init(&s->refs, 1); /* the registry's */
        pthread_mutex_init(&s->mu, NULL);
        s->received_seq = s->durable_seq = s->flushing_seq = init->durable_seq;
        s->received_bytes = s->durable_bytes = s->flushing_bytes = init->durable_bytes;
        s->status = init->status;
        s->has_exit_code = init->has_exit_code;
        s->exit_code = init->exit_code;
        s->drop_first = init->drop_first;
        s->drop_last = init->drop_last;
        s->drop_bytes = init->drop_bytes;
        s->active_at_ms = ls_mono_ms();
        s->final_at_ms = ls_status_is_final(s->status) ? s->active_at_ms : 0;
        size_t b = bucket_of(build, step);
        s->hnext = lv->buckets[b];
        lv->buckets[b] = s;
        lv->count++;
    }
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&lv->mu);
    return s;
}

void ls_live_release(ls_live_step *s)
{
    if (!s)
        return;
    if (atomic_fetch_sub(&s->refs, 1) == 1)
        step_free(s); /* only after the registry dropped it */
}

size_t ls_live_count(ls_live *lv)
{
    pthread_mutex_lock(&lv->mu);
    size_t n = lv->count;
    pthread_mutex_unlock(&lv->mu);
    return n;
}

uint64_t ls_live_pending_bytes(ls_live *lv)
{
    return atomic_load(&lv->pending_bytes);
}

int64_t ls_live_step_build(const ls_live_step *s)
{
    return s->build;
}

int ls_live_step_number(const ls_live_step *s)
{
    return s->number;
}

size_t ls_live_collect_pending(ls_live *lv, ls_live_step ***ret)
{
    ls_live_step **v = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&lv->mu);
    for (size_t i = 0; i < LIVE_BUCKETS; i++) {
        for (ls_live_step *s = lv->buckets[i]; s; s = s->hnext) {
            pthread_mutex_lock(&s->mu);
            bool pending = s->received_seq > s->flushing_seq;
            pthread_mutex_unlock(&s->mu);
            if (!pending)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                v = ls_xreallocarray(v, cap, sizeof(*v));
            }
            atomic_fetch_add(&s->refs, 1);
            v[n++] = s;
        }
    }
    pthread_mutex_unlock(&lv->mu);
    *ret = v;
    return n;
}

/* With lv->mu and s->mu held. */
static bool droppable(const ls_live *lv, const ls_live_step *s, int64_t now_ms)
{
    if (atomic_load(&s->refs) != 1 || s->subs || s->writers ||
        (!s->remote && (s->received_seq != s->durable_seq || s->flushing_seq != s->durable_seq)))
        return false;
    if (ls_status_is_final(s->status))
        return now_ms - s->final_at_ms >= lv->opts.linger_ms;
    return now_ms - s->active_at_ms >= lv->opts.idle_ms;
}

size_t ls_live_sweep(ls_live *lv, int64_t now_ms)
{
    size_t dropped = 0;
    pthread_mutex_lock(&lv->mu);
    for (size_t i = 0; i < LIVE_BUCKETS; i++) {
        ls_live_step **pp = &lv->buckets[i];
        while (*pp) {
            ls_live_step *s = *pp;
            pthread_mutex_lock(&s->mu);
            bool drop = droppable(lv, s, now_ms);
            pthread_mutex_unlock(&s->mu);
            if (!drop) {
                pp = &s->hnext;
                continue;
            }
            *pp = s->hnext;
            lv->count--;
            dropped++;
            ls_live_release(s);
        }
    }
    pthread_mutex_unlock(&lv->mu);
    return dropped;
}

void ls_live_lock(ls_live_step *s)
{
    pthread_mutex_lock(&s->mu);
}

/* With s->mu held. */
static void state_locked(const ls_live_step *s, ls_live_state *st);

static void notify_locked(ls_live_step *s, unsigned events)
{
    if (!s->subs)
        return;
    ls_live_state st;
    state_locked(s, &st);
    for (ls_live_sub *sub = s->subs; sub; sub = sub->next)
        if (sub->events & events)
            sub->notify(sub, events & sub->events, &st);
}

void ls_live_unlock(ls_live_step *s)
{
    /* One atomic add per batch of appends: per line, the shared counter's
     * cache line bouncing between ingest and flusher cost a fifth of the
     * ingest thread's time. The flusher takes s->mu before it takes lines, so
     * it never sees a line whose bytes are not counted yet. */
    if (s->unpublished_bytes) {
        atomic_fetch_add(&s->lv->pending_bytes, s->unpublished_bytes);
        s->unpublished_bytes = 0;
    }
    unsigned ev = s->pending_events;
    s->pending_events = 0;
    if (ev & LS_LIVE_EV_LINES)
        s->active_at_ms = ls_mono_ms();
    if (ev)
        notify_locked(s, ev);
    pthread_mutex_unlock(&s->mu);
}

uint64_t ls_live_next_seq_locked(const ls_live_step *s)
{
    return s->received_seq + 1;
}

static live_seg *seg_new(uint64_t first_seq, size_t size)
{
    live_seg *seg = ls_xmalloc(sizeof(*seg) + size);
    seg->next = NULL;
    seg->first_seq = first_seq;
    seg->n = seg->cap = 0;
    seg->e = NULL;
    seg->used = 0;
    seg->size = size;
    return seg;
}

/* With s->mu held: a segment with room for len more bytes of text. */
static live_seg *tail_with_room(ls_live_step *s, size_t len)
{
    live_seg *t = s->tail;
    if (t && t->size - t->used >= len)
        return t;
    live_seg *seg = seg_new(s->received_seq + 1, s->lv->opts.segment_bytes);
    if (t)
        t->next = seg;
    else
        s->head = seg;
    s->tail = seg;
    return seg;
}

/* With s->mu held: copies the line that follows received_seq into memory and
 * makes it the last received (ingested here or brought from another
 * instance). */
static void hold_line(ls_live_step *s, const ls_line *line)
{
    live_seg *seg = tail_with_room(s, line->len);
    if (seg->n == seg->cap) {
        seg->cap = seg->cap ? seg->cap * 2 : 256;
        seg->e = ls_xreallocarray(seg->e, seg->cap, sizeof(*seg->e));
    }
    live_entry *e = &seg->e[seg->n++];
    e->ts_ms = line->ts_ms;
    e->off = (uint32_t)seg->used;
    e->len = line->len;
    e->stream = line->stream;
    e->continued = line->continued;
    if (line->len)
        memcpy(seg->data + seg->used, line->text, line->len);
    seg->used += line->len;
    s->mem_bytes += line->len;
    s->received_seq = line->seq;
    s->received_bytes += line->len;
}

int ls_live_append_locked(ls_live_step *s, const ls_line *line)
{
    if (line->seq <= s->received_seq)
        return -EEXIST;
    if (line->seq != s->received_seq + 1)
        return -ERANGE;
    if (line->len > s->lv->opts.max_line)
        return -E2BIG;
    hold_line(s, line);
    s->pending_events |= LS_LIVE_EV_LINES;
    s->unpublished_bytes += line->len;
    return 0;
}

static ls_line entry_line(const live_seg *seg, size_t i)
{
    const live_entry *e = &seg->e[i];
    ls_line l = {
        .seq = seg->first_seq + i,
        .ts_ms = e->ts_ms,
        .stream = e->stream,
        .continued = e->continued,
        .len = e->len,
        .text = seg->data + e->off,
    };
    return l;
}

static void state_locked(const ls_live_step *s, ls_live_state *st)
{
    st->received_seq = s->received_seq;
    st->durable_seq = s->durable_seq;
    st->received_bytes = s->received_bytes;
    st->durable_bytes = s->durable_bytes;
    st->oldest_seq = s->head && s->head->n ? s->head->first_seq : s->received_seq + 1;
    st->drop_first = s->drop_first;
    st->drop_last = s->drop_last;
    st->drop_bytes = s->drop_bytes;
    st->status = s->status;
    st->final = ls_status_is_final(s->status);
    st->has_exit_code = s->has_exit_code;
    st->exit_code = s->exit_code;
}

void ls_live_get_state(ls_live_step *s, ls_live_state *ret_state)
{
    pthread_mutex_lock(&s->mu);
    state_locked(s, ret_state);
    pthread_mutex_unlock(&s->mu);
}

/* With s->mu held: the segment holding seq, or NULL. */
static live_seg *seg_of(const ls_live_step *s, uint64_t seq)
{
    for (live_seg *seg = s->head; seg; seg = seg->next)
        if (seq >= seg->first_seq && seq < seg->first_seq + seg->n)
            return seg;
    return NULL;
}

int ls_live_read(ls_live_step *s, uint64_t after, size_t max_lines, ls_live_line_cb cb, void *arg,
                 ls_live_state *ret_state)
{
    int delivered = 0;
    pthread_mutex_lock(&s->mu);
    ls_live_state st;
    state_locked(s, &st);
    if (ret_state)
        *ret_state = st;
    if (after >= s->received_seq)
        goto out;
    if (after + 1 < st.oldest_seq) {
        delivered = -ERANGE;
        goto out;
    }
    live_seg *seg = seg_of(s, after + 1);
    size_t i = seg ? (size_t)(after + 1 - seg->first_seq) : 0;
    for (; seg; seg = seg->next, i = 0) {
        for (; i < seg->n; i++) {
            ls_line l = entry_line(seg, i);
            delivered++;
            if (cb(arg, &l) != 0 || (max_lines && (size_t)delivered >= max_lines))
                goto out;
            if (delivered == INT32_MAX)
                goto out;
        }
    }
out:
    pthread_mutex_unlock(&s->mu);
    return delivered;
}

size_t ls_live_flush_begin(ls_live_step *s, ls_line **lines, size_t *n, size_t *cap)
{
    size_t taken = 0;
    pthread_mutex_lock(&s->mu);
    uint64_t from = s->flushing_seq + 1;
    live_seg *seg = from <= s->received_seq ? seg_of(s, from) : NULL;
    size_t i = seg ? (size_t)(from - seg->first_seq) : 0;
    uint64_t bytes = 0;
    for (; seg; seg = seg->next, i = 0) {
        for (; i < seg->n; i++) {
            if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 1024;
                *lines = ls_xreallocarray(*lines, *cap, sizeof(**lines));
            }
            ls_line l = entry_line(seg, i);
            bytes += l.len;
            (*lines)[(*n)++] = l;
            taken++;
        }
    }
    s->flushing_seq += taken;
    s->flushing_bytes += bytes;
    pthread_mutex_unlock(&s->mu);
    return taken;
}

/* With s->mu held: frees the oldest segments that are durable and outside the
 * buffer window (always keeping the tail, which ingest appends to). */
static void trim_locked(ls_live_step *s)
{
    while (s->head && s->head != s->tail) {
        live_seg *h = s->head;
        bool durable = h->first_seq + h->n - 1 <= s->durable_seq;
        if (!durable || s->mem_bytes - h->used < s->lv->opts.buffer_bytes)
            break;
        s->head = h->next;
        s->mem_bytes -= h->used;
        h->next = NULL;
        seg_free(h);
    }
}

void ls_live_flush_done(ls_live_step *s, bool ok)
{
    pthread_mutex_lock(&s->mu);
    if (ok) {
        atomic_fetch_sub(&s->lv->pending_bytes, s->flushing_bytes - s->durable_bytes);
        s->durable_seq = s->flushing_seq;
        s->durable_bytes = s->flushing_bytes;
        trim_locked(s);
    } else {
        s->flushing_seq = s->durable_seq;
        s->flushing_bytes = s->durable_bytes;
    }
    notify_locked(s, LS_LIVE_EV_DURABLE);
    pthread_mutex_unlock(&s->mu);
}

void ls_live_set_dropped(ls_live_step *s, uint64_t first, uint64_t last, uint64_t bytes)
{
    pthread_mutex_lock(&s->mu);
    s->drop_first = first;
    s->drop_last = last;
    s->drop_bytes = bytes;
    pthread_mutex_unlock(&s->mu);
}

void ls_live_set_status(ls_live_step *s, ls_status status, bool has_exit_code, int exit_code,
                        int64_t now_ms)
{
    pthread_mutex_lock(&s->mu);
    bool was_final = ls_status_is_final(s->status);
    s->status = status;
    s->has_exit_code = has_exit_code;
    s->exit_code = exit_code;
    s->active_at_ms = now_ms;
    if (ls_status_is_final(status) && !was_final) {
        s->final_at_ms = now_ms;
        notify_locked(s, LS_LIVE_EV_FINAL);
    }
    pthread_mutex_unlock(&s->mu);
}

void ls_live_subscribe(ls_live_step *s, ls_live_sub *sub)
{
    pthread_mutex_lock(&s->mu);
    sub->prev = NULL;
    sub->next = s->subs;
    if (s->subs)
        s->subs->prev = sub;
    s->subs = sub;
    pthread_mutex_unlock(&s->mu);
}

void ls_live_unsubscribe(ls_live_step *s, ls_live_sub *sub)
{
    pthread_mutex_lock(&s->mu);
    if (sub->prev)
        sub->prev->next = sub->next;
    else if (s->subs == sub)
        s->subs = sub->next;
    if (sub->next)
        sub->next->prev = sub->prev;
    sub->prev = sub->next = NULL;
    pthread_mutex_unlock(&s->mu);
}

bool ls_live_too_far_behind(const ls_live_state *st, uint64_t sent_seq, uint64_t sent_bytes,
                            uint64_t max_bytes, uint64_t max_lines)
{
    uint64_t lag_lines = st->received_seq > sent_seq ? st->received_seq - sent_seq : 0;
    uint64_t lag_bytes = st->received_bytes > sent_bytes ? st->received_bytes - sent_bytes : 0;
    return lag_lines > max_lines || lag_bytes > max_bytes;
}

/* With s->mu held: no ingest request of this instance is open and none of the
 * lines in memory waits for this instance's flusher. */
static bool not_local_locked(const ls_live_step *s)
{
    if (s->writers)
        return false;
    return s->remote || (s->received_seq == s->durable_seq && s->flushing_seq == s->durable_seq);
}

/* With s->mu held and not_local_locked: drops every line in memory and starts
 * again from the stored state in init (readers then read the store up to
 * init->durable_seq). */
static void rebase_locked(ls_live_step *s, const ls_live_init *init)
{
    seg_free(s->head);
    s->head = s->tail = NULL;
    s->mem_bytes = 0;
    s->received_seq = s->durable_seq = s->flushing_seq = init->durable_seq;
    s->received_bytes = s->durable_bytes = s->flushing_bytes = init->durable_bytes;
    s->drop_first = init->drop_first;
    s->drop_last = init->drop_last;
    s->drop_bytes = init->drop_bytes;
    s->remote = false;
    s->pending_events |= LS_LIVE_EV_LINES;
}

static void append_remote_now(ls_live_step *s, const ls_line *line);

/* With s->mu held: appends the remote lines kept past a gap that now follow
 * on, drops those already held, keeps the rest. */
static void drain_ahead_locked(ls_live_step *s)
{
    size_t off = 0;
    while (off < s->ahead.len) {
        const char *p = s->ahead.data + off;
        const char *nl = memchr(p, '\n', s->ahead.len - off);
        ls_line line;
        const char *err = NULL;
        if (!nl || ls_record_parse(p, (size_t)(nl - p), s->lv->opts.max_line, &line, &err) < 0) {
            off = s->ahead.len; /* cannot happen: we wrote them */
            break;
        }
        if (line.seq > s->received_seq + 1)
            break; /* still a gap */
        if (line.seq == s->received_seq + 1)
            append_remote_now(s, &line);
        off += (size_t)(nl - p) + 1;
    }
    ls_buf_consume(&s->ahead, off);
}

static int status_rank(ls_status st)
{
    return ls_status_is_final(st) ? 2 : st == LS_STATUS_RUNNING ? 1 : 0;
}

/* With s->mu held: takes a status seen elsewhere (the store, another
 * instance) when it is further on than ours (pending, running, final; a
 * status read a moment ago never takes us back), a final one only once the
 * step's init->durable_seq lines are in memory. */
static bool take_status_locked(ls_live_step *s, const ls_live_init *init)
{
    if (status_rank(init->status) <= status_rank(s->status))
        return true;
    if (ls_status_is_final(init->status) && s->received_seq < init->durable_seq)
        return false;
    s->status = init->status;
    s->has_exit_code = init->has_exit_code;
    s->exit_code = init->exit_code;
    s->active_at_ms = ls_mono_ms();
    if (ls_status_is_final(s->status)) {
        s->final_at_ms = s->active_at_ms;
        s->pending_events |= LS_LIVE_EV_FINAL;
    }
    return true;
}

bool ls_live_refresh(ls_live_step *s, const ls_live_init *init)
{
    bool changed = false;
    ls_live_lock(s);
    if (!not_local_locked(s))
        goto out;
    uint64_t seq0 = s->received_seq;
    ls_status st0 = s->status;
    if (init->durable_seq > s->received_seq) {
        rebase_locked(s, init);
        drain_ahead_locked(s);
    } else if (s->remote && init->durable_seq > s->durable_seq) {
        /* flushing_seq stays at received_seq: remote lines are never ours to store */
        s->durable_seq = init->durable_seq;
        s->durable_bytes = init->durable_bytes;
        if (s->durable_seq == s->received_seq)
            s->remote = false;
        trim_locked(s);
    }
    if (init->drop_last > s->drop_last) {
        s->drop_first = init->drop_first;
        s->drop_last = init->drop_last;
        s->drop_bytes = init->drop_bytes;
    }
    take_status_locked(s, init);
    changed = s->received_seq != seq0 || s->status != st0;
out:
    ls_live_unlock(s);
    return changed;
}

void ls_live_writer_begin(ls_live_step *s, const ls_live_init *init)
{
    ls_live_lock(s);
    ls_buf_reset(&s->ahead); /* the worker resends what is not stored */
    if (not_local_locked(s)) {
        if (s->remote || init->durable_seq > s->received_seq)
            rebase_locked(s, init);
        take_status_locked(s, init);
    }
    s->writers++;
    ls_live_unlock(s);
}

void ls_live_writer_end(ls_live_step *s)
{
    ls_live_lock(s);
    if (s->writers > 0)
        s->writers--;
    ls_live_unlock(s);
}

bool ls_live_is_remote(ls_live_step *s)
{
    ls_live_lock(s);
    bool r = not_local_locked(s);
    ls_live_unlock(s);
    return r;
}

int ls_live_append_remote_locked(ls_live_step *s, const ls_line *line)
{
    if (!not_local_locked(s))
        return -EBUSY;
    if (line->seq <= s->received_seq)
        return -EEXIST;
    if (line->len > s->lv->opts.max_line)
        return -E2BIG;
    if (line->seq != s->received_seq + 1) {
        /* kept (within --live-buffer) until the store fills the gap */
        if (s->ahead.len + line->len + 64 > s->lv->opts.buffer_bytes)
            ls_buf_reset(&s->ahead);
        else
            ls_record_format(&s->ahead, line);
        return -ERANGE;
    }
    append_remote_now(s, line);
    if (s->ahead.len)
        drain_ahead_locked(s);
    return 0;
}

/* With s->mu held: appends the remote line that follows on. */
static void append_remote_now(ls_live_step *s, const ls_line *line)
{
    hold_line(s, line);
    s->flushing_seq = line->seq;
    s->flushing_bytes = s->received_bytes;
    s->remote = true;
    s->pending_events |= LS_LIVE_EV_LINES;
}

bool ls_live_set_status_remote(ls_live_step *s, ls_status status, bool has_exit_code, int exit_code,
                               uint64_t lines)
{
    ls_live_init init = {.durable_seq = lines,
                         .status = status,
                         .has_exit_code = has_exit_code,
                         .exit_code = exit_code};
    ls_live_lock(s);
    /* when this instance holds the step's lines, the end follows them anyway */
    if (!not_local_locked(s))
        init.durable_seq = 0;
    bool taken = take_status_locked(s, &init);
    ls_live_unlock(s);
    return taken;
}
