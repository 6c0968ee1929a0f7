#include "server/waker.h"

#include <microhttpd.h>
#include <stdlib.h>

#include "common/alloc.h"

struct ls_waker_set {
    pthread_mutex_t mu;
    ls_waker *head;
    bool closed;
};

ls_waker_set *ls_waker_set_new(void)
{
    ls_waker_set *set = ls_xcalloc(1, sizeof(*set));
    pthread_mutex_init(&set->mu, NULL);
    return set;
}

void ls_waker_set_free(ls_waker_set *set)
{
    if (!set)
        return;
    pthread_mutex_destroy(&set->mu);
    free(set);
}

void ls_waker_init(ls_waker *w, ls_waker_set *set, struct MHD_Connection *conn)
{
    pthread_mutex_init(&w->mu, NULL);
    w->conn = conn;
    w->set = set;
    w->suspended = w->resuming = w->notified = false;
    pthread_mutex_lock(&set->mu);
    w->closed = set->closed;
    w->prev = NULL;
    w->next = set->head;
    if (set->head)
        set->head->prev = w;
    set->head = w;
    pthread_mutex_unlock(&set->mu);
}

void ls_waker_destroy(ls_waker *w)
{
    ls_waker_set *set = w->set;
    if (!set)
        return;
    pthread_mutex_lock(&set->mu);
    if (w->prev)
        w->prev->next = w->next;
    else
        set->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    pthread_mutex_unlock(&set->mu);
    pthread_mutex_destroy(&w->mu);
    w->set = NULL;
}

bool ls_waker_arm(ls_waker *w)
{
    pthread_mutex_lock(&w->mu);
    w->notified = false;
    w->resuming = false;
    bool open = !w->closed;
    pthread_mutex_unlock(&w->mu);
    return open;
}

bool ls_waker_suspend(ls_waker *w)
{
    bool suspended = false;
    pthread_mutex_lock(&w->mu);
    if (!w->notified && !w->closed && !w->suspended) {
        MHD_suspend_connection(w->conn);
        w->suspended = true;
        suspended = true;
    }
    w->notified = false;
    pthread_mutex_unlock(&w->mu);
    return suspended;
}

/* With w->mu held. */
static void wake_locked(ls_waker *w)
{
    if (w->suspended) {
        w->suspended = false;
        w->resuming = true;
        MHD_resume_connection(w->conn);
    } else {
        w->notified = true;
    }
}

void ls_waker_wake(ls_waker *w)
{
    pthread_mutex_lock(&w->mu);
    wake_locked(w);
    pthread_mutex_unlock(&w->mu);
}

void ls_waker_set_close_all(ls_waker_set *set)
{
    pthread_mutex_lock(&set->mu);
    set->closed = true;
    for (ls_waker *w = set->head; w; w = w->next) {
        pthread_mutex_lock(&w->mu);
        w->closed = true;
        wake_locked(w);
        pthread_mutex_unlock(&w->mu);
    }
    pthread_mutex_unlock(&set->mu);
}

int ls_waker_set_busy(ls_waker_set *set)
{
    int n = 0;
    pthread_mutex_lock(&set->mu);
    for (ls_waker *w = set->head; w; w = w->next) {
        pthread_mutex_lock(&w->mu);
        if (w->suspended || w->resuming)
            n++;
        pthread_mutex_unlock(&w->mu);
    }
    pthread_mutex_unlock(&set->mu);
    return n;
}
