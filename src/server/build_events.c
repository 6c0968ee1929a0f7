#include "server/build_events.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "server/fanout.h"
#include "server/routes_builds.h"
#include "server/sse.h"
#include "server/sse_ping.h"
#include "server/waker.h"

typedef struct bev_client {
    ls_build_events *ev;
    int64_t build;
    ls_waker waker;
    ls_ping_entry ping;
    ls_buf queue; /* formatted events not yet sent, under ev->mu */
    size_t pos;
    bool end_queued, overflow; /* under ev->mu */
    struct bev_client *prev, *next;
} bev_client;

struct ls_build_events {
    ls_server *srv;
    pthread_mutex_t mu;
    bev_client *head;
};

ls_build_events *ls_build_events_new(ls_server *srv)
{
    ls_build_events *ev = ls_xcalloc(1, sizeof(*ev));
    ev->srv = srv;
    pthread_mutex_init(&ev->mu, NULL);
    return ev;
}

void ls_build_events_free(ls_build_events *ev)
{
    if (!ev)
        return;
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}

/* With ev->mu held. */
static void enqueue(ls_build_events *ev, bev_client *c, const char *name, const char *data)
{
    if (c->overflow || c->end_queued)
        return;
    ls_sse_format_event(&c->queue, name, data, NULL);
    if (c->queue.len - c->pos > (size_t)ev->srv->cfg.sse_max_lag_bytes) {
        c->overflow = true;
        atomic_fetch_add(&ev->srv->metrics.sse_disconnected_slow, 1);
    }
}

void ls_build_events_publish(ls_build_events *ev, int64_t build, const char *name, json_t *obj,
                             bool end)
{
    char *data = json_dumps(obj, JSON_COMPACT);
    if (!data)
        return;
    pthread_mutex_lock(&ev->mu);
    for (bev_client *c = ev->head; c; c = c->next) {
        if (c->build != build)
            continue;
        enqueue(ev, c, name, data);
        if (end) {
            enqueue(ev, c, "end", "{}");
            c->end_queued = true;
        }
        ls_waker_wake(&c->waker);
    }
    pthread_mutex_unlock(&ev->mu);
    free(data);
}

static void client_free(void *cls)
{
    bev_client *c = cls;
    ls_build_events *ev = c->ev;
    pthread_mutex_lock(&ev->mu);
    if (c->prev)
        c->prev->next = c->next;
    else if (ev->head == c)
        ev->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&ev->mu);
    ls_fanout_unwatch_build(ev->srv->fanout, c->build);
    ls_pinger_remove(ev->srv->pinger, &c->ping);
    ls_waker_destroy(&c->waker);
    ls_buf_free(&c->queue);
    atomic_fetch_sub(&ev->srv->metrics.sse_clients, 1);
    free(c);
}

/* Copies queued bytes to buf (under ev->mu). Returns bytes, 0 when nothing
 * is queued, or an MHD end code. */
static ssize_t take_queued(bev_client *c, char *buf, size_t max)
{
    if (c->overflow)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = c->queue.len - c->pos;
    if (n == 0)
        return c->end_queued ? MHD_CONTENT_READER_END_OF_STREAM : 0;
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
    bev_client *c = cls;
    ls_build_events *ev = c->ev;
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

static enum MHD_Result events_begin(ls_req *r)
{
    ls_build_events *ev = r->srv->events;
    bev_client *c = ls_xcalloc(1, sizeof(*c));
    c->ev = ev;
    c->build = r->route.build;
    ls_waker_init(&c->waker, r->srv->wakers, r->conn);
    ls_buf_puts(&c->queue, "retry: 2000\n\n");
    /* Subscribe first, then read the build: a change in between is sent
     * after the snapshot rather than lost. */
    pthread_mutex_lock(&ev->mu);
    c->next = ev->head;
    if (ev->head)
        ev->head->prev = c;
    ev->head = c;
    pthread_mutex_unlock(&ev->mu);
    ls_fanout_watch_build(r->srv->fanout, c->build); /* changes made on other instances */
    ls_pinger_add(r->srv->pinger, &c->ping, &c->waker);
    atomic_fetch_add(&r->srv->metrics.sse_clients, 1);

    json_t *build = ls_build_json_load(r->srv, r->route.build);
    if (!build) {
        client_free(c);
        char msg[120];
        snprintf(msg, sizeof(msg), "there is no build %lld", (long long)r->route.build);
        return ls_req_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", msg, NULL);
    }
    ls_fanout_note_build(r->srv->fanout, c->build, build);
    char *data = json_dumps(build, JSON_COMPACT);
    const char *status = json_string_value(json_object_get(build, "status"));
    ls_status st = LS_STATUS_PENDING;
    bool final = status && ls_status_parse(status, &st) == 0 && ls_status_is_final(st);
    /* the snapshot goes before anything published meanwhile */
    ls_buf snapshot = LS_BUF_INIT;
    ls_buf_puts(&snapshot, "retry: 2000\n\n");
    ls_sse_format_event(&snapshot, "build", data ? data : "{}", NULL);
    pthread_mutex_lock(&ev->mu);
    ls_buf_append(&snapshot, c->queue.data + strlen("retry: 2000\n\n"),
                  c->queue.len - strlen("retry: 2000\n\n"));
    ls_buf_free(&c->queue);
    c->queue = snapshot;
    if (final && !c->end_queued) {
        enqueue(ev, c, "end", "{}");
        c->end_queued = true;
    }
    pthread_mutex_unlock(&ev->mu);
    free(data);
    json_decref(build);
    return ls_req_respond_stream(r, MHD_HTTP_OK, "text/event-stream", read_events, c, client_free,
                                 true);
}

const ls_handler ls_build_events_handler = {.begin = events_begin};
