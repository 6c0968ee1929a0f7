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
#include "server/sse_clients.h"

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
    ls_sse_client *head;
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

/* With ev->mu held: appends event n to a client's queue. */
static void enqueue(ls_server_events *ev, ls_sse_client *c, const char *name, const char *data,
                    uint64_t n)
{
    char id[48];
    snprintf(id, sizeof(id), "%" PRIu64 "-%" PRIu64, ev->epoch, n);
    ls_sse_client_enqueue(c, name, data, id);
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
    for (ls_sse_client *c = ev->head; c; c = c->next) {
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
    ls_sse_client *c = cls;
    ls_sse_client_finish(&c->srv->server_events->head, c);
    free(c);
}

/* With ev->mu held: queues what a client resuming after `after` missed, or
 * a reset when the backlog no longer has it. */
static void queue_resume(ls_server_events *ev, ls_sse_client *c, const char *last_event_id)
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
    ls_sse_client *c = ls_xcalloc(1, sizeof(*c));
    ls_sse_client_init(c, r, &ev->mu);
    pthread_mutex_lock(&ev->mu);
    queue_resume(ev, c, ls_req_header(r, "Last-Event-ID"));
    enqueue(ev, c, "ready", "{}", ev->last_n);
    ls_sse_client_link(&ev->head, c);
    pthread_mutex_unlock(&ev->mu);
    ls_sse_client_start(c);
    return ls_req_respond_stream(r, MHD_HTTP_OK, "text/event-stream", ls_sse_client_read, c,
                                 client_free, true);
}

const ls_handler ls_server_events_handler = {.begin = events_begin};
