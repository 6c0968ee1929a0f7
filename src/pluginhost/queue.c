#include "pluginhost/queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

void ls_ph_queue_init(ls_ph_queue *q, size_t max_pending)
{
    memset(q, 0, sizeof(*q));
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->ready, NULL);
    atomic_init(&q->discarded, false);
    atomic_init(&q->pending, 0);
    q->max_pending = max_pending ? max_pending : 1;
    q->block_size = q->max_pending < LS_PH_BLOCK_SIZE ? q->max_pending : LS_PH_BLOCK_SIZE;
}

static void free_chain(ls_ph_block *b)
{
    while (b) {
        ls_ph_block *next = b->next;
        free(b);
        b = next;
    }
}

void ls_ph_queue_destroy(ls_ph_queue *q)
{
    free_chain(q->head);
    free(q->open);
    q->head = q->tail = q->open = NULL;
    pthread_cond_destroy(&q->ready);
    pthread_mutex_destroy(&q->lock);
}

size_t ls_ph_queue_pending(const ls_ph_queue *q)
{
    return atomic_load_explicit(&q->pending, memory_order_relaxed) + (q->open ? q->open->len : 0);
}

bool ls_ph_queue_is_discarded(const ls_ph_queue *q)
{
    return atomic_load_explicit(&q->discarded, memory_order_relaxed);
}

int ls_ph_queue_push(ls_ph_queue *q, uint32_t step, const char *text, size_t len)
{
    if (ls_ph_queue_is_discarded(q))
        return -ECANCELED;
    size_t need = len + LS_PH_RECORD_OVERHEAD;
    if (ls_ph_queue_pending(q) + need > q->max_pending)
        return -ENOBUFS;
    if (q->open && q->open->cap - q->open->len < need)
        ls_ph_queue_publish(q);
    if (!q->open) {
        size_t cap = need > q->block_size ? need : q->block_size;
        q->open = ls_xmalloc(sizeof(ls_ph_block) + cap);
        q->open->next = NULL;
        q->open->len = 0;
        q->open->cap = cap;
    }
    char *p = q->open->data + q->open->len;
    uint32_t len32 = (uint32_t)len;
    memcpy(p, &step, 4);
    memcpy(p + 4, &len32, 4);
    memcpy(p + 8, text, len);
    p[8 + len] = '\0';
    q->open->len += need;
    return 0;
}

void ls_ph_queue_publish(ls_ph_queue *q)
{
    ls_ph_block *b = q->open;
    if (!b)
        return;
    q->open = NULL;
    pthread_mutex_lock(&q->lock);
    if (ls_ph_queue_is_discarded(q)) {
        pthread_mutex_unlock(&q->lock);
        free(b);
        return;
    }
    atomic_fetch_add_explicit(&q->pending, b->len, memory_order_relaxed);
    if (q->tail)
        q->tail->next = b;
    else
        q->head = b;
    q->tail = b;
    if (q->consumer_waiting)
        pthread_cond_signal(&q->ready);
    pthread_mutex_unlock(&q->lock);
}

void ls_ph_queue_close(ls_ph_queue *q)
{
    ls_ph_queue_publish(q);
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_signal(&q->ready);
    pthread_mutex_unlock(&q->lock);
}

size_t ls_ph_queue_discard(ls_ph_queue *q)
{
    size_t bytes = 0;
    pthread_mutex_lock(&q->lock);
    atomic_store(&q->discarded, true);
    ls_ph_block *chain = q->head;
    q->head = q->tail = NULL;
    for (ls_ph_block *b = chain; b; b = b->next)
        bytes += b->len;
    atomic_fetch_sub_explicit(&q->pending, bytes, memory_order_relaxed);
    pthread_cond_signal(&q->ready);
    pthread_mutex_unlock(&q->lock);
    free_chain(chain);
    return bytes;
}

ls_ph_block *ls_ph_queue_pop(ls_ph_queue *q)
{
    ls_ph_block *b = NULL;
    pthread_mutex_lock(&q->lock);
    while (!q->head && !q->closed && !ls_ph_queue_is_discarded(q)) {
        q->consumer_waiting = true;
        pthread_cond_wait(&q->ready, &q->lock);
        q->consumer_waiting = false;
    }
    if (q->head && !ls_ph_queue_is_discarded(q)) {
        b = q->head;
        q->head = b->next;
        if (!q->head)
            q->tail = NULL;
        b->next = NULL;
    }
    pthread_mutex_unlock(&q->lock);
    return b;
}

void ls_ph_queue_done(ls_ph_queue *q, ls_ph_block *b)
{
    if (!b)
        return;
    atomic_fetch_sub_explicit(&q->pending, b->len, memory_order_relaxed);
    free(b);
}

bool ls_ph_block_next(const ls_ph_block *b, size_t *off, uint32_t *ret_step, const char **ret_text,
                      size_t *ret_len)
{
    if (*off + LS_PH_RECORD_OVERHEAD > b->len)
        return false;
    const char *p = b->data + *off;
    uint32_t len32;
    memcpy(ret_step, p, 4);
    memcpy(&len32, p + 4, 4);
    *ret_text = p + 8;
    *ret_len = len32;
    *off += len32 + LS_PH_RECORD_OVERHEAD;
    return true;
}
