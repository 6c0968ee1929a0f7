#include "pluginhost/supervisor.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/timeutil.h"

/* Times are whole milliseconds, truncated: one more makes sure a limit never
 * fires before its full duration has passed. */
#define MS_GRAIN 1

/* Human text for a duration or a size in messages. */
static void fmt_ms(char *out, size_t n, int64_t ms)
{
    if (ms % 1000 == 0)
        snprintf(out, n, "%lld s", (long long)(ms / 1000));
    else
        snprintf(out, n, "%lld ms", (long long)ms);
}

static void fmt_bytes(char *out, size_t n, uint64_t b)
{
    if (b >= 1024 * 1024 && b % (1024 * 1024) == 0)
        snprintf(out, n, "%llu MiB", (unsigned long long)(b >> 20));
    else if (b >= 1024 && b % 1024 == 0)
        snprintf(out, n, "%llu KiB", (unsigned long long)(b >> 10));
    else
        snprintf(out, n, "%llu bytes", (unsigned long long)b);
}

static size_t published_pending(const ls_runner *r)
{
    return atomic_load_explicit(&r->queue.pending, memory_order_relaxed);
}

void ls_ph_supervisor_queue_full(struct ls_pluginhost *h, ls_runner *r)
{
    pthread_mutex_lock(&h->lock);
    if (!r->over && r->verdict == LS_VERDICT_NONE) {
        r->over = true;
        r->over_since_ms = ls_mono_ms();
        r->announce_over = true;
        pthread_cond_broadcast(&h->changed);
    }
    r->producer_over = true;
    pthread_mutex_unlock(&h->lock);
}

/* A queue that has come back down to half its limit is no longer "over". */
static bool caught_up_locked(ls_runner *r)
{
    if (!r->over || published_pending(r) > r->queue.max_pending / 2)
        return false;
    r->over = false;
    r->announce_caught_up = true;
    pthread_cond_broadcast(&r->host->changed);
    return true;
}

void ls_ph_supervisor_after_publish(struct ls_pluginhost *h, ls_runner *r)
{
    pthread_mutex_lock(&h->lock);
    caught_up_locked(r);
    r->producer_over = r->over;
    pthread_mutex_unlock(&h->lock);
}

/* Work found while holding the lock, done after releasing it. */
typedef struct actions {
    ls_buf msgs; /* user messages, one per line, without prefix */
    ls_runner *discard[64];
    size_t n_discard;
} actions;

static void stop_locked(ls_runner *r, actions *a, ls_runner_verdict v, const char *why)
{
    if (!ls_runner_set_verdict_locked(r, v, "%s", why))
        return;
    if (a->n_discard < sizeof(a->discard) / sizeof(a->discard[0]))
        a->discard[a->n_discard++] = r;
    else
        ls_ph_queue_discard(&r->queue); /* takes only the queue's own lock */
    ls_buf_printf(&a->msgs, "%s %s: %s\n", r->def->name,
                  v == LS_VERDICT_ABANDONED ? "abandoned" : "stopped", why);
}

static void announce_locked(ls_runner *r, actions *a)
{
    const ls_pluginhost_options *o = &r->host->opt;
    char lim[32], win[32];
    fmt_bytes(lim, sizeof(lim), (uint64_t)o->max_pending);
    fmt_ms(win, sizeof(win), o->breaker_window_ms);
    /* A stopped plugin's own message says it all; any other is told. */
    bool quiet = r->verdict == LS_VERDICT_STOPPED || r->verdict == LS_VERDICT_ABANDONED;
    bool spills = r->queue.spill_dir && !atomic_load(&r->queue.spill_failed);
    if (r->announce_over && !quiet && spills)
        ls_buf_printf(
            &a->msgs,
            "%s cannot keep up: more than %s of lines wait for it (--plugin-max-pending); "
            "they wait on disk until it catches up, and it is stopped if it is still "
            "behind after %s\n",
            r->def->name, lim, win);
    else if (r->announce_over && !quiet)
        ls_buf_printf(&a->msgs,
                      "%s cannot keep up: its queue is full (%s, --plugin-max-pending); its lines "
                      "are dropped until it catches up, and it is stopped if it is still behind "
                      "after %s\n",
                      r->def->name, lim, win);
    uint64_t dropped = atomic_load(&r->dropped_lines);
    if (r->announce_caught_up && !quiet && dropped)
        ls_buf_printf(&a->msgs, "%s caught up; %llu lines were dropped for it so far\n",
                      r->def->name, (unsigned long long)dropped);
    else if (r->announce_caught_up && !quiet)
        ls_buf_printf(&a->msgs, "%s caught up; no line was dropped\n", r->def->name);
    r->announce_over = r->announce_caught_up = false;
}

/* Checks r's deadlines; returns the next one (INT64_MAX if none). */
static int64_t check_locked(ls_runner *r, int64_t now, actions *a)
{
    struct ls_pluginhost *h = r->host;
    const ls_pluginhost_options *o = &h->opt;
    char why[256], lim[32], win[32], tmo[32];
    fmt_bytes(lim, sizeof(lim), (uint64_t)o->max_pending);
    fmt_ms(win, sizeof(win), o->breaker_window_ms);
    fmt_ms(tmo, sizeof(tmo), o->finalize_timeout_ms);
    /* a plugin may drain its queue and finish before this thread looks at
     * it again: its catch-up is told all the same */
    if (r->over)
        caught_up_locked(r);
    announce_locked(r, a);
    if (r->verdict != LS_VERDICT_NONE || r->phase == LS_PHASE_IDLE || r->phase == LS_PHASE_EXITED)
        return INT64_MAX;
    int64_t next = INT64_MAX;
    if (r->phase == LS_PHASE_FINALIZING) {
        int64_t deadline = r->phase_since_ms + o->finalize_timeout_ms + MS_GRAIN;
        snprintf(why, sizeof(why), "finalize did not return within %s (--plugin-finalize-timeout)",
                 tmo);
        if (now >= deadline)
            stop_locked(r, a, LS_VERDICT_ABANDONED, why);
        return now >= deadline ? INT64_MAX : deadline;
    }
    if (r->over && !caught_up_locked(r)) {
        int64_t deadline = r->over_since_ms + o->breaker_window_ms + MS_GRAIN;
        snprintf(why, sizeof(why),
                 "circuit breaker: more than %s of lines waited for it for longer than %s; its "
                 "queue is discarded and its finalize skipped",
                 lim, win);
        if (now >= deadline) {
            stop_locked(r, a, LS_VERDICT_STOPPED, why);
            return INT64_MAX;
        }
        next = deadline;
    }
    if (h->finish_ms) {
        int64_t deadline = h->finish_ms + o->breaker_window_ms + MS_GRAIN;
        snprintf(why, sizeof(why),
                 "it could not process its queued lines within %s of the finish line; its "
                 "finalize is skipped",
                 win);
        if (now >= deadline) {
            stop_locked(r, a, LS_VERDICT_STOPPED, why);
            return INT64_MAX;
        }
        next = deadline < next ? deadline : next;
    }
    announce_locked(r, a); /* a catch-up noticed above */
    return next;
}

static void wait_until_locked(struct ls_pluginhost *h, int64_t deadline_ms)
{
    if (deadline_ms == INT64_MAX) {
        pthread_cond_wait(&h->changed, &h->lock);
        return;
    }
    struct timespec ts = {.tv_sec = deadline_ms / 1000, .tv_nsec = (deadline_ms % 1000) * 1000000};
    pthread_cond_timedwait(&h->changed, &h->lock, &ts);
}

static void run_actions(struct ls_pluginhost *h, actions *a)
{
    for (size_t i = 0; i < a->n_discard; i++)
        ls_ph_queue_discard(&a->discard[i]->queue);
    if (a->msgs.len)
        ls_ph_sink_write(&h->out, LS_PH_OUT_PREFIX, a->msgs.data, a->msgs.len);
    a->n_discard = 0;
    ls_buf_reset(&a->msgs);
}

static void *supervisor_main(void *arg)
{
    struct ls_pluginhost *h = arg;
    actions a = {.msgs = LS_BUF_INIT};
    pthread_mutex_lock(&h->lock);
    for (;;) {
        int64_t now = ls_mono_ms(), next = INT64_MAX;
        for (size_t i = 0; i < h->n_runners; i++) {
            int64_t d = check_locked(h->runners[i], now, &a);
            next = d < next ? d : next;
        }
        if (a.msgs.len || a.n_discard) {
            pthread_mutex_unlock(&h->lock);
            run_actions(h, &a);
            pthread_mutex_lock(&h->lock);
            continue;
        }
        /* stopping: one last pass above has told what was left to tell */
        if (h->stop_supervisor)
            break;
        wait_until_locked(h, next);
    }
    pthread_mutex_unlock(&h->lock);
    ls_buf_free(&a.msgs);
    return NULL;
}

int ls_ph_supervisor_start(struct ls_pluginhost *h)
{
    return -pthread_create(&h->supervisor, NULL, supervisor_main, h);
}

void ls_ph_supervisor_stop(struct ls_pluginhost *h)
{
    pthread_mutex_lock(&h->lock);
    h->stop_supervisor = true;
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->supervisor, NULL);
}
