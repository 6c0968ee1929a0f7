/* Followers of an event stream, see sse_clients.h. */
#include "server/sse_clients.h"

#include <string.h>

#include "server/srv.h"
#include "server/sse.h"

void ls_sse_client_init(ls_sse_client *c, ls_req *r, pthread_mutex_t *mu)
{
    c->srv = r->srv;
    c->mu = mu;
    ls_waker_init(&c->waker, r->srv->wakers, r->conn);
    ls_buf_puts(&c->queue, "retry: 2000\n\n");
}

void ls_sse_client_link(ls_sse_client **head, ls_sse_client *c)
{
    c->next = *head;
    if (*head)
        (*head)->prev = c;
    *head = c;
}

void ls_sse_client_start(ls_sse_client *c)
{
    ls_pinger_add(c->srv->pinger, &c->ping, &c->waker);
    atomic_fetch_add(&c->srv->metrics.sse_clients, 1);
}

void ls_sse_client_finish(ls_sse_client **head, ls_sse_client *c)
{
    pthread_mutex_lock(c->mu);
    if (c->prev)
        c->prev->next = c->next;
    else if (*head == c)
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(c->mu);
    ls_pinger_remove(c->srv->pinger, &c->ping);
    ls_waker_destroy(&c->waker);
    ls_buf_free(&c->queue);
    atomic_fetch_sub(&c->srv->metrics.sse_clients, 1);
}

void ls_sse_client_enqueue(ls_sse_client *c, const char *name, const char *data, const char *id)
{
    if (c->overflow || c->end_queued)
        return;
    ls_sse_format_event(&c->queue, name, data, id);
    if (c->queue.len - c->pos > (size_t)c->srv->cfg.sse_max_lag_bytes) {
        c->overflow = true;
        atomic_fetch_add(&c->srv->metrics.sse_disconnected_slow, 1);
    }
}

/* Copies queued bytes to buf (under *c->mu). Returns bytes, 0 when nothing
 * is queued, or an MHD end code. */
static ssize_t take_queued(ls_sse_client *c, char *buf, size_t max)
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

ssize_t ls_sse_client_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    ls_sse_client *c = cls;
    (void)pos;
    for (;;) {
        if (!ls_waker_arm(&c->waker))
            return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(c->mu);
        ssize_t n = take_queued(c, buf, max);
        pthread_mutex_unlock(c->mu);
        if (n != 0) {
            if (n > 0)
                ls_pinger_touch(&c->ping);
            return n;
        }
        if (ls_pinger_due(c->srv->pinger, &c->ping) && max >= 8) {
            memcpy(buf, ": ping\n\n", 8);
            ls_pinger_touch(&c->ping);
            return 8;
        }
        if (ls_waker_suspend(&c->waker))
            return 0;
    }
}
