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
#include "server/sse_clients.h"

/* base first: the stream callbacks' cls is both */
typedef struct bev_client {
    ls_sse_client base;
    ls_build_events *ev;
    int64_t build;
} bev_client;

struct ls_build_events {
    ls_server *srv;
    pthread_mutex_t mu;
    ls_sse_client *head;
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

void ls_build_events_publish(ls_build_events *ev, int64_t build, const char *name, json_t *obj,
                             bool end)
{
    char *data = json_dumps(obj, JSON_COMPACT);
    if (!data)
        return;
    pthread_mutex_lock(&ev->mu);
    for (ls_sse_client *c = ev->head; c; c = c->next) {
        if (((bev_client *)c)->build != build)
            continue;
        ls_sse_client_enqueue(c, name, data, NULL);
        if (end) {
            ls_sse_client_enqueue(c, "end", "{}", NULL);
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
    ls_sse_client_finish(&c->ev->head, &c->base);
    ls_fanout_unwatch_build(c->ev->srv->fanout, c->build);
    free(c);
}

static enum MHD_Result events_begin(ls_req *r)
{
    ls_build_events *ev = r->srv->events;
    bev_client *c = ls_xcalloc(1, sizeof(*c));
    c->ev = ev;
    c->build = r->route.build;
    ls_sse_client_init(&c->base, r, &ev->mu);
    /* Subscribe first, then read the build: a change in between is sent
     * after the snapshot rather than lost. */
    pthread_mutex_lock(&ev->mu);
    ls_sse_client_link(&ev->head, &c->base);
    pthread_mutex_unlock(&ev->mu);
    ls_fanout_watch_build(r->srv->fanout, c->build); /* changes made on other instances */
    ls_sse_client_start(&c->base);

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
    ls_sse_client *q = &c->base;
    ls_buf_append(&snapshot, q->queue.data + strlen("retry: 2000\n\n"),
                  q->queue.len - strlen("retry: 2000\n\n"));
    ls_buf_free(&q->queue);
    q->queue = snapshot;
    if (final && !q->end_queued) {
        ls_sse_client_enqueue(q, "end", "{}", NULL);
        q->end_queued = true;
    }
    pthread_mutex_unlock(&ev->mu);
    free(data);
    json_decref(build);
    return ls_req_respond_stream(r, MHD_HTTP_OK, "text/event-stream", ls_sse_client_read, c,
                                 client_free, true);
}

const ls_handler ls_build_events_handler = {.begin = events_begin};
