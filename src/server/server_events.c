/* Server-wide build events, see server_events.h. */
#include "server/server_events.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/timeutil.h"
#include "server/sse.h"
#include "server/sse_ping.h"
#include "server/waker.h"

typedef struct sev_client {
    ls_server_events *ev;
    ls_waker waker;
    ls_ping_entry ping;
    ls_buf queue; /* formatted events not yet sent, under ev->mu */
    size_t pos;
    bool overflow; /* under ev->mu */
    struct sev_client *prev, *next;
} sev_client;

typedef struct kept_event {
    uint64_t n;
    char *name;
    char *data;
} kept_event;

struct ls_server_events {
    ls_server *srv;
    uint64_t epoch;
    pthread_mutex_t mu;
    uint64_t last_n;   /* id of the newest event (0: none yet) */
    kept_event *kept;  /* ring of the newest events */
    size_t cap, first; /* ring size; index of the oldest */
    size_t count;
    sev_client *head;
};

ls_server_events *ls_server_events_new(ls_server *srv)
{
    ls_server_events *ev = ls_xcalloc(1, sizeof(*ev));
    ev->srv = srv;
    ev->epoch = (uint64_t)ls_now_ms();
    ev->cap = srv->cfg.events_backlog > 0 ? (size_t)srv->cfg.events_backlog : 0;
    ev->kept = ev->cap ? ls_xcalloc(ev->cap, sizeof(*ev->kept)) : NULL;
    pthread_mutex_init(&ev->mu, NULL);
    return ev;
}

void ls_server_events_free(ls_server_events *ev)
{
    if (!ev)
        return;
    for (size_t i = 0; i < ev->count; i++) {
        kept_event *k = &ev->kept[(ev->first + i) % ev->cap];
        free(k->name);
        free(k->data);
    }
    free(ev->kept);
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}

int ls_server_events_parse_id(const char *s, uint64_t *ret_epoch, uint64_t *ret_n)
{
    if (!s)
        return -EINVAL;
    while (*s == ' ')
        s++;
    size_t len = strlen(s);
    while (len && s[len - 1] == ' ')
        len--;
    const char *dash = memchr(s, '-', len);
    uint64_t e, n;
    if (!dash || ls_parse_uint_strict(s, (size_t)(dash - s), UINT64_MAX, &e) < 0 ||
        ls_parse_uint_strict(dash + 1, len - (size_t)(dash + 1 - s), UINT64_MAX, &n) < 0)
        return -EINVAL;
    *ret_epoch = e;
    *ret_n = n;
    return 0;
}

/* With ev->mu held: appends an event to a client's queue; a client that
 * falls more than --sse-max-lag behind is marked for disconnection. */
static void enqueue(ls_server_events *ev, sev_client *c, const char *name, const char *data,
                    uint64_t n)
{
    if (c->overflow)
        return;
    char id[48];
    snprintf(id, sizeof(id), "%" PRIu64 "-%" PRIu64, ev->epoch, n);
    ls_sse_format_event(&c->queue, name, data, id);
    if (c->queue.len - c->pos > (size_t)ev->srv->cfg.sse_max_lag_bytes) {
        c->overflow = true;
        atomic_fetch_add(&ev->srv->metrics.sse_disconnected_slow, 1);
    }
}

void ls_server_events_publish(ls_server_events *ev, const char *name, json_t *obj)
{
    if (!ev)
        return;
    char *data = json_dumps(obj, JSON_COMPACT);
    if (!data)
        return;
    pthread_mutex_lock(&ev->mu);
    uint64_t n = ++ev->last_n;
    for (sev_client *c = ev->head; c; c = c->next) {
        enqueue(ev, c, name, data, n);
        ls_waker_wake(&c->waker);
    }
    if (ev->cap) {
        if (ev->count == ev->cap) {
            kept_event *old = &ev->kept[ev->first];
            free(old->name);
            free(old->data);
            ev->first = (ev->first + 1) % ev->cap;
            ev->count--;
        }
        kept_event *k = &ev->kept[(ev->first + ev->count) % ev->cap];
        k->n = n;
        k->name = ls_xstrdup(name);
        k->data = data;
        data = NULL;
        ev->count++;
    }
    pthread_mutex_unlock(&ev->mu);
    free(data);
}

static void client_free(void *cls)
{
    sev_client *c = cls;
    ls_server_events *ev = c->ev;
    pthread_mutex_lock(&ev->mu);
    if (c->prev)
        c->prev->next = c->next;
    else if (ev->head == c)
        ev->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&ev->mu);
    ls_pinger_remove(ev->srv->pinger, &c->ping);
    ls_waker_destroy(&c->waker);
    ls_buf_free(&c->queue);
    atomic_fetch_sub(&ev->srv->metrics.sse_clients, 1);
    free(c);
}

/* Copies queued bytes to buf (under ev->mu). Returns bytes, 0 when nothing
 * is queued, or an MHD end code. */
static ssize_t take_queued(sev_client *c, char *buf, size_t max)
{
    if (c->overflow)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = c->queue.len - c->pos;
    if (n == 0)
        return 0;
    if (n > max)
        n = max;
    memcpy(buf, c->queue.data + c->pos, n);
    c->pos += n;
    if (c->pos == c->queue.len) {
        ls_buf_reset(&c->queue);
        c->pos = 0;
    }
    return (ssize_t)n;
}

static ssize_t read_events(void *cls, uint64_t pos, char *buf, size_t max)
{
    sev_client *c = cls;
    ls_server_events *ev = c->ev;
    (void)pos;
    for (;;) {
        if (!ls_waker_arm(&c->waker))
            return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(&ev->mu);
        ssize_t n = take_queued(c, buf, max);
        pthread_mutex_unlock(&ev->mu);
        if (n != 0) {
            if (n > 0)
                ls_pinger_touch(&c->ping);
            return n;
        }
        if (ls_pinger_due(ev->srv->pinger, &c->ping) && max >= 8) {
            memcpy(buf, ": ping\n\n", 8);
            ls_pinger_touch(&c->ping);
            return 8;
        }
        if (ls_waker_suspend(&c->waker))
            return 0;
    }
}

/* With ev->mu held: queues what a client resuming after `after` missed, or
 * a reset when the backlog no longer has it. */
static void queue_resume(ls_server_events *ev, sev_client *c, const char *last_event_id)
{
    uint64_t epoch, n;
    if (!last_event_id || !*last_event_id)
        return; /* a fresh client: from now on */
    uint64_t oldest = ev->count ? ev->kept[ev->first].n : ev->last_n + 1;
    if (ls_server_events_parse_id(last_event_id, &epoch, &n) < 0 || epoch != ev->epoch ||
        n > ev->last_n || n + 1 < oldest) {
        ls_sse_format_event(&c->queue, "reset", "{}", NULL);
        return;
    }
    for (size_t i = 0; i < ev->count; i++) {
        kept_event *k = &ev->kept[(ev->first + i) % ev->cap];
        if (k->n > n)
            enqueue(ev, c, k->name, k->data, k->n);
    }
}

static enum MHD_Result events_begin(ls_req *r)
{
    ls_server_events *ev = r->srv->server_events;
    sev_client *c = ls_xcalloc(1, sizeof(*c));
    c->ev = ev;
    ls_waker_init(&c->waker, r->srv->wakers, r->conn);
    ls_buf_puts(&c->queue, "retry: 2000\n\n");
    pthread_mutex_lock(&ev->mu);
    queue_resume(ev, c, ls_req_header(r, "Last-Event-ID"));
    enqueue(ev, c, "ready", "{}", ev->last_n);
    c->next = ev->head;
    if (ev->head)
        ev->head->prev = c;
    ev->head = c;
    pthread_mutex_unlock(&ev->mu);
    ls_pinger_add(r->srv->pinger, &c->ping, &c->waker);
    atomic_fetch_add(&r->srv->metrics.sse_clients, 1);
    return ls_req_respond_stream(r, MHD_HTTP_OK, "text/event-stream", read_events, c, client_free,
                                 true);
}

const ls_handler ls_server_events_handler = {.begin = events_begin};
