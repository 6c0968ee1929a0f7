#include "server/flusher.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/alloc.h"
#include "common/timeutil.h"
#include "server/limits.h"
#include "server/live.h"
#include "store/store.h"

#define SWEEP_INTERVAL_MS 1000

struct ls_flusher {
    ls_server *srv;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu; /* kicked, stop, waiters */
    pthread_cond_t cond;
    bool kicked, stop;
    atomic_bool idle;
    ls_flusher_waiter *waiters;
    pthread_mutex_t flush_mu; /* one flush at a time */
    ls_line *lines;           /* reused across flushes */
    size_t lines_cap;
    int64_t last_sweep_ms;
    bool failing; /* the last flush failed (report once per streak) */
};

void ls_flusher_kick(ls_flusher *fl)
{
    pthread_mutex_lock(&fl->mu);
    fl->kicked = true;
    pthread_cond_signal(&fl->cond);
    pthread_mutex_unlock(&fl->mu);
}

void ls_flusher_note_pending(ls_flusher *fl)
{
    uint64_t pending = ls_live_pending_bytes(fl->srv->live);
    if (atomic_load(&fl->idle) || pending >= (uint64_t)fl->srv->cfg.max_pending / 2)
        ls_flusher_kick(fl);
}

void ls_flusher_wait_space(ls_flusher *fl, ls_flusher_waiter *w)
{
    pthread_mutex_lock(&fl->mu);
    if (!w->queued) {
        w->queued = true;
        w->prev = NULL;
        w->next = fl->waiters;
        if (fl->waiters)
            fl->waiters->prev = w;
        fl->waiters = w;
    }
    fl->kicked = true;
    pthread_cond_signal(&fl->cond);
    pthread_mutex_unlock(&fl->mu);
}

/* With fl->mu held. */
static void unlink_waiter(ls_flusher *fl, ls_flusher_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        fl->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->queued = false;
}

void ls_flusher_cancel_wait(ls_flusher *fl, ls_flusher_waiter *w)
{
    pthread_mutex_lock(&fl->mu);
    if (w->queued)
        unlink_waiter(fl, w);
    pthread_mutex_unlock(&fl->mu);
}

static void wake_space_waiters(ls_flusher *fl)
{
    pthread_mutex_lock(&fl->mu);
    while (fl->waiters) {
        ls_flusher_waiter *w = fl->waiters;
        unlink_waiter(fl, w);
        ls_waker_wake(w->waker);
    }
    pthread_mutex_unlock(&fl->mu);
}

/* Stores every pending line of every live step in one transaction. */
static void flush_once(ls_flusher *fl)
{
    ls_server *srv = fl->srv;
    ls_live_step **steps = NULL;
    size_t n_steps = ls_live_collect_pending(srv->live, &steps);
    if (n_steps == 0)
        return;
    ls_store_batch *batches = ls_xcalloc(n_steps, sizeof(*batches));
    size_t *offsets = ls_xcalloc(n_steps, sizeof(*offsets));
    size_t n_lines = 0;
    for (size_t i = 0; i < n_steps; i++) {
        offsets[i] = n_lines;
        batches[i].build_id = ls_live_step_build(steps[i]);
        batches[i].step = ls_live_step_number(steps[i]);
        batches[i].n_lines = ls_live_flush_begin(steps[i], &fl->lines, &n_lines, &fl->lines_cap);
    }
    for (size_t i = 0; i < n_steps; i++)
        batches[i].lines = fl->lines + offsets[i];
    int64_t t0 = ls_mono_ns();
    int rc = ls_store_append(srv->store, batches, n_steps);
    int64_t dt = ls_mono_ns() - t0;
    for (size_t i = 0; i < n_steps; i++)
        ls_live_flush_done(steps[i], rc == 0);
    if (rc == 0)
        ls_limits_after_flush(srv, steps, n_steps);
    for (size_t i = 0; i < n_steps; i++)
        ls_live_release(steps[i]);
    if (rc == 0)
        atomic_store(&srv->metrics.storage_full, false);
    else if (rc == -ENOSPC)
        atomic_store(&srv->metrics.storage_full, true);
    if (rc == 0) {
        ls_metrics_observe_flush(&srv->metrics, dt, n_lines);
        if (fl->failing)
            fprintf(stderr, "logstream server: storing log lines works again\n");
        fl->failing = false;
    } else {
        atomic_fetch_add(&srv->metrics.flush_errors, 1);
        if (!fl->failing)
            fprintf(stderr,
                    "logstream server: cannot store log lines (%s); keeping them in memory and "
                    "retrying every flush interval%s\n",
                    ls_store_last_error(),
                    rc == -ENOSPC ? "; ingest answers 507 until there is space again" : "");
        fl->failing = true;
    }
    free(offsets);
    free(batches);
    free(steps);
}

void ls_flusher_flush_now(ls_flusher *fl)
{
    pthread_mutex_lock(&fl->flush_mu);
    flush_once(fl);
    pthread_mutex_unlock(&fl->flush_mu);
    wake_space_waiters(fl);
}

/* Sleeps until kicked, stopped, or the interval (or, when nothing is
 * pending, the sweep interval) passes. Returns false when stopping. */
static bool wait_for_work(ls_flusher *fl)
{
    pthread_mutex_lock(&fl->mu);
    /* Say "idle" first, then look at the pending bytes: ingest adds its bytes
     * first, then looks at "idle" (ls_flusher_note_pending), so one of the two
     * sees the other and a line is never left waiting for the sweep interval
     * (looking first and saying it after left a window where neither did). */
    atomic_store(&fl->idle, true);
    bool idle = ls_live_pending_bytes(fl->srv->live) == 0;
    if (!idle)
        atomic_store(&fl->idle, false);
    struct timespec ts;
    ls_mono_deadline(&ts, idle ? SWEEP_INTERVAL_MS : fl->srv->cfg.flush_interval_ms);
    while (!fl->kicked && !fl->stop) {
        if (pthread_cond_timedwait(&fl->cond, &fl->mu, &ts) == ETIMEDOUT)
            break;
    }
    atomic_store(&fl->idle, false);
    fl->kicked = false;
    bool go_on = !fl->stop;
    pthread_mutex_unlock(&fl->mu);
    return go_on;
}

static void *flusher_main(void *arg)
{
    ls_flusher *fl = arg;
    while (wait_for_work(fl)) {
        ls_flusher_flush_now(fl);
        int64_t now = ls_mono_ms();
        if (now - fl->last_sweep_ms >= SWEEP_INTERVAL_MS) {
            ls_live_sweep(fl->srv->live, now);
            fl->last_sweep_ms = now;
        }
    }
    return NULL;
}

int ls_flusher_start(ls_server *srv, ls_flusher **ret)
{
    ls_flusher *fl = ls_xcalloc(1, sizeof(*fl));
    fl->srv = srv;
    pthread_mutex_init(&fl->mu, NULL);
    pthread_mutex_init(&fl->flush_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&fl->cond, &ca);
    pthread_condattr_destroy(&ca);
    fl->last_sweep_ms = ls_mono_ms();
    int rc = pthread_create(&fl->thread, NULL, flusher_main, fl);
    if (rc != 0) {
        ls_flusher_stop(fl);
        return -rc;
    }
    fl->started = true;
    *ret = fl;
    return 0;
}

void ls_flusher_stop(ls_flusher *fl)
{
    if (!fl)
        return;
    if (fl->started) {
        pthread_mutex_lock(&fl->mu);
        fl->stop = true;
        pthread_cond_signal(&fl->cond);
        pthread_mutex_unlock(&fl->mu);
        pthread_join(fl->thread, NULL);
    }
    ls_flusher_flush_now(fl);
    pthread_cond_destroy(&fl->cond);
    pthread_mutex_destroy(&fl->mu);
    pthread_mutex_destroy(&fl->flush_mu);
    free(fl->lines);
    free(fl);
}
