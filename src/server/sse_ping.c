#include "server/sse_ping.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "common/alloc.h"
#include "common/timeutil.h"

struct ls_pinger {
    int64_t interval_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
    ls_ping_entry *head;
    ls_wakeup *wakeups; /* one-shot, in no order */
};

void ls_pinger_touch(ls_ping_entry *e)
{
    atomic_store(&e->last_ms, ls_mono_ms());
}

bool ls_pinger_due(const ls_pinger *p, ls_ping_entry *e)
{
    return ls_mono_ms() - atomic_load(&e->last_ms) >= p->interval_ms;
}

void ls_pinger_add(ls_pinger *p, ls_ping_entry *e, ls_waker *w)
{
    e->waker = w;
    ls_pinger_touch(e);
    pthread_mutex_lock(&p->mu);
    e->prev = NULL;
    e->next = p->head;
    if (p->head)
        p->head->prev = e;
    p->head = e;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->mu);
}

void ls_pinger_remove(ls_pinger *p, ls_ping_entry *e)
{
    pthread_mutex_lock(&p->mu);
    if (e->prev)
        e->prev->next = e->next;
    else if (p->head == e)
        p->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->prev = e->next = NULL;
    pthread_mutex_unlock(&p->mu);
}

void ls_pinger_wake_at(ls_pinger *p, ls_wakeup *e, ls_waker *w, int64_t at_ms)
{
    pthread_mutex_lock(&p->mu);
    e->waker = w;
    e->at_ms = at_ms;
    if (!e->queued) {
        e->prev = NULL;
        e->next = p->wakeups;
        if (p->wakeups)
            p->wakeups->prev = e;
        p->wakeups = e;
        e->queued = true;
    }
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->mu);
}

/* With p->mu held. */
static void unlink_wakeup(ls_pinger *p, ls_wakeup *e)
{
    if (!e->queued)
        return;
    if (e->prev)
        e->prev->next = e->next;
    else
        p->wakeups = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->prev = e->next = NULL;
    e->queued = false;
}

void ls_pinger_cancel(ls_pinger *p, ls_wakeup *e)
{
    pthread_mutex_lock(&p->mu);
    unlink_wakeup(p, e);
    pthread_mutex_unlock(&p->mu);
}

/* With p->mu held: wakes the due one-shot wake-ups (they leave the list);
 * returns the ms until the next one is due, or -1 when there are none. */
static int64_t fire_wakeups(ls_pinger *p, int64_t now)
{
    int64_t next = -1;
    ls_wakeup *e = p->wakeups;
    while (e) {
        ls_wakeup *following = e->next;
        if (e->at_ms <= now) {
            unlink_wakeup(p, e);
            ls_waker_wake(e->waker);
        } else if (next < 0 || e->at_ms - now < next) {
            next = e->at_ms - now;
        }
        e = following;
    }
    return next;
}

/* With p->mu held: wakes the due clients and wake-ups; returns the ms until
 * the next one is due, or -1 when there are none. */
static int64_t wake_due(ls_pinger *p)
{
    int64_t now = ls_mono_ms();
    int64_t next = fire_wakeups(p, now);
    for (ls_ping_entry *e = p->head; e; e = e->next) {
        int64_t due = atomic_load(&e->last_ms) + p->interval_ms;
        if (due <= now) {
            ls_waker_wake(e->waker);
            /* not touched until it sends: look again in one interval */
            due = now + p->interval_ms;
        }
        if (next < 0 || due - now < next)
            next = due - now;
    }
    return next;
}

static void *pinger_main(void *arg)
{
    ls_pinger *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        int64_t wait_ms = wake_due(p);
        if (wait_ms < 0) {
            pthread_cond_wait(&p->cond, &p->mu);
            continue;
        }
        struct timespec ts;
        ls_mono_deadline(&ts, wait_ms + 1);
        pthread_cond_timedwait(&p->cond, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int ls_pinger_start(int64_t interval_ms, ls_pinger **ret)
{
    ls_pinger *p = ls_xcalloc(1, sizeof(*p));
    p->interval_ms = interval_ms > 0 ? interval_ms : 15000;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&p->thread, NULL, pinger_main, p);
    if (rc != 0) {
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return -rc;
    }
    *ret = p;
    return 0;
}

void ls_pinger_stop(ls_pinger *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
