/* The fan-out's database poller (see server/fanout.h): what NATS lost, or
 * everything while NATS is down or absent (database-only), read from the
 * store for the steps and builds this instance's followers watch. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/timeutil.h"
#include "server/build_events.h"
#include "server/fanout_internal.h"
#include "server/linesource.h"
#include "server/live.h"
#include "server/routes_builds.h"
#include "server/server_events.h"
#include "store/store.h"

/* Builds read per query when the builds list is polled (a page, not a limit). */
#define LIST_PAGE 100u

typedef struct watch_key {
    int64_t build;
    int step;
} watch_key;

/* With f->mu held: the followed steps and builds. */
static size_t watched_keys(ls_fanout *f, watch_key **ret)
{
    watch_key *v = f->n_watches ? ls_xcalloc(f->n_watches, sizeof(*v)) : NULL;
    size_t n = 0;
    for (size_t i = 0; i < WATCH_BUCKETS; i++)
        for (watch *w = f->watches[i]; w; w = w->next)
            if (w->count > 0 && n < f->n_watches)
                v[n++] = (watch_key){w->build, w->step};
    *ret = v;
    return n;
}

/* Refreshes a followed step whose lines come from another instance from the
 * store: lines NATS lost and the step's status. Returns true while the step
 * is still behind what NATS brought (a gap, an end waiting for lines). */
static bool poll_step(ls_fanout *f, int64_t build, int number)
{
    bool behind = false;
    ls_live_step *s = ls_live_find(f->srv->live, build, number);
    if (!s)
        return false;
    ls_live_state st;
    ls_live_get_state(s, &st);
    if (!ls_live_is_remote(s) || (st.final && st.durable_seq == st.received_seq))
        goto out;
    ls_step_info info;
    atomic_fetch_add(&f->polls, 1);
    if (ls_store_get_step(f->srv->store, build, number, &info) < 0)
        goto out; /* tried again next interval */
    ls_live_init init;
    ls_linesource_init_of(&info, &init);
    if (ls_live_refresh(s, &init))
        atomic_fetch_add(&f->poll_refreshes, 1);
    ls_live_get_state(s, &st);
    pthread_mutex_lock(&f->mu);
    watch *w = ls_fanout_watch_find(f, build, number);
    if (w && w->end_waiting && st.final)
        w->end_waiting = false;
    behind = w && (st.received_seq < w->nats_seq || w->end_waiting);
    pthread_mutex_unlock(&f->mu);
out:
    ls_live_release(s);
    return behind;
}

/* Sends the build's followers the step and build changes they were not sent
 * (NATS lost them): compares the stored build with what was sent. The first
 * poll of a build only records what it sees (the followers got it with the
 * build's snapshot). */
static void poll_build(ls_fanout *f, int64_t build)
{
    pthread_mutex_lock(&f->mu);
    watch *fw = ls_fanout_watch_find(f, build, 0);
    const char *seen_status =
        fw && fw->seen ? json_string_value(json_object_get(fw->seen, "build")) : NULL;
    ls_status bst;
    bool ended = seen_status && ls_status_parse(seen_status, &bst) == 0 && ls_status_is_final(bst);
    pthread_mutex_unlock(&f->mu);
    if (ended)
        return; /* its followers got the end */
    atomic_fetch_add(&f->polls, 1);
    json_t *obj = ls_build_json_load(f->srv, build);
    if (!obj)
        return;
    json_t *steps = json_object_get(obj, "steps");
    const char *bstatus = json_string_value(json_object_get(obj, "status"));
    json_t *changed = json_array();
    bool build_changed = false;
    pthread_mutex_lock(&f->mu);
    watch *w = ls_fanout_watch_find(f, build, 0);
    if (w && w->count > 0) {
        bool first = !w->seen;
        if (first)
            w->seen = json_object();
        size_t i;
        json_t *step;
        json_array_foreach(steps, i, step)
        {
            char key[24], sig[64];
            snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(step, "number")));
            ls_fanout_step_sig(step, sig, sizeof(sig));
            const char *old = json_string_value(json_object_get(w->seen, key));
            if (!old || strcmp(old, sig) != 0) {
                json_object_set_new(w->seen, key, json_string(sig));
                if (!first && old)
                    json_array_append(changed, step);
            }
        }
        const char *old = json_string_value(json_object_get(w->seen, "build"));
        if (bstatus && (!old || strcmp(old, bstatus) != 0)) {
            build_changed = !first && old;
            json_object_set_new(w->seen, "build", json_string(bstatus));
        }
    }
    pthread_mutex_unlock(&f->mu);
    size_t i;
    json_t *step;
    json_array_foreach(changed, i, step)
    {
        atomic_fetch_add(&f->poll_refreshes, 1);
        ls_build_events_publish(f->srv->events, build, "step", step, false);
    }
    if (build_changed) {
        ls_status bs = LS_STATUS_PENDING;
        ls_status_parse(bstatus, &bs);
        json_t *copy = json_deep_copy(obj);
        json_object_del(copy, "steps");
        atomic_fetch_add(&f->poll_refreshes, 1);
        ls_build_events_publish(f->srv->events, build, "build", copy, ls_status_is_final(bs));
        json_decref(copy);
    }
    json_decref(changed);
    json_decref(obj);
}

/* Sends the builds list's clients (GET /api/v1/events) what NATS did not
 * bring while it is down: the builds created since the newest one this
 * instance knows of, and the changes of the builds it knows have not ended. */
static void poll_list(ls_fanout *f)
{
    ls_server *srv = f->srv;
    pthread_mutex_lock(&f->mu);
    int64_t max_id = f->list_max_id;
    json_t *open = json_deep_copy(f->list_open);
    pthread_mutex_unlock(&f->mu);
    atomic_fetch_add(&f->polls, 1);
    /* new builds: newest first, a page at a time, then sent oldest first */
    json_t *news = json_array();
    int64_t before = 0;
    for (;;) {
        ls_build_info *v = NULL;
        size_t n = 0;
        if (ls_store_list_builds(srv->store, before, LIST_PAGE, &v, &n) < 0)
            break; /* again next interval */
        bool done = n < LIST_PAGE;
        for (size_t i = 0; i < n; i++) {
            if (v[i].id <= max_id) {
                done = true;
                break;
            }
            json_array_insert_new(news, 0, ls_build_json(srv, &v[i], NULL, 0));
            before = v[i].id;
        }
        free(v);
        if (done)
            break;
    }
    /* changes of the builds not ended */
    const char *key;
    json_t *sig;
    json_object_foreach(open, key, sig)
    {
        ls_build_info b;
        if (ls_store_get_build(srv->store, strtoll(key, NULL, 10), &b, NULL, NULL) < 0)
            continue;
        json_array_append_new(news, ls_build_json(srv, &b, NULL, 0));
    }
    json_decref(open);
    size_t i;
    json_t *b;
    json_array_foreach(news, i, b)
    {
        if (!ls_fanout_note_listed(f, b))
            continue;
        atomic_fetch_add(&f->poll_refreshes, 1);
        ls_server_events_publish(srv->server_events, "build", b);
    }
    json_decref(news);
}

/* The builds list is polled (NATS does not bring its events). */
static bool list_polled(ls_fanout *f)
{
    return f->db_only || !atomic_load(&f->connected);
}

/* Sleeps while nothing is followed; else polls every --remote-poll-interval
 * while NATS is not connected (or database-only) or a step is behind what
 * NATS brought, every --remote-safety-poll-interval while NATS is healthy (what
 * it lost without a sign: a build event), and at once after a gap. */
void *ls_fanout_poll_main(void *arg)
{
    ls_fanout *f = arg;
    pthread_mutex_lock(&f->mu);
    while (!f->stop) {
        if (f->n_watches == 0 && !f->poll_soon && !list_polled(f)) {
            pthread_cond_wait(&f->poll_cond, &f->mu);
            continue;
        }
        if (!f->poll_soon) {
            bool fast = f->behind || list_polled(f);
            struct timespec ts;
            ls_mono_deadline(&ts, fast ? f->srv->cfg.remote_poll_interval_ms
                                       : f->srv->cfg.remote_safety_poll_ms);
            while (!f->stop && !f->poll_soon &&
                   pthread_cond_timedwait(&f->poll_cond, &f->mu, &ts) != ETIMEDOUT)
                ;
            if (f->stop)
                break;
        }
        f->poll_soon = false;
        f->behind = false; /* set again by a step still behind, or a new gap */
        watch_key *keys = NULL;
        size_t n = watched_keys(f, &keys);
        pthread_mutex_unlock(&f->mu);
        bool behind = false;
        if (list_polled(f))
            poll_list(f);
        for (size_t i = 0; i < n; i++) {
            if (keys[i].step)
                behind |= poll_step(f, keys[i].build, keys[i].step);
            else
                poll_build(f, keys[i].build);
        }
        free(keys);
        pthread_mutex_lock(&f->mu);
        f->behind |= behind;
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}
