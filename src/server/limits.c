#include "server/limits.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/alloc.h"
#include "common/timeutil.h"
#include "store/store.h"

/* A step is never held below this many chunks by the build limit. */
#define FLOOR_CHUNKS 4
/* Builds looked at per store query during a retention pass. */
#define RETENTION_BATCH 64

struct ls_limits {
    ls_server *srv;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
};

uint64_t ls_limits_step_limit(const ls_server_config *cfg, uint64_t build_bytes,
                              uint64_t step_bytes)
{
    uint64_t limit = (uint64_t)cfg->max_step_bytes;
    if (cfg->max_build_bytes <= 0)
        return limit;
    uint64_t max_build = (uint64_t)cfg->max_build_bytes;
    uint64_t others = build_bytes > step_bytes ? build_bytes - step_bytes : 0;
    uint64_t room = max_build > others ? max_build - others : 0;
    uint64_t floor = FLOOR_CHUNKS * (uint64_t)cfg->chunk_bytes;
    if (floor > limit)
        floor = limit;
    if (room < floor)
        room = floor;
    return room < limit ? room : limit;
}

size_t ls_limits_marker_text(const ls_server_config *cfg, uint64_t lines, uint64_t bytes,
                             uint64_t total_bytes, char *buf, size_t size)
{
    bool step = total_bytes > (uint64_t)cfg->max_step_bytes || cfg->max_build_bytes <= 0;
    int n = snprintf(buf, size,
                     "\xe2\x80\xa6 %" PRIu64 " lines (%" PRIu64 " bytes) dropped: the %s "
                     "exceeded --%s (%" PRId64 " bytes); the first lines and the most recent "
                     "lines are kept \xe2\x80\xa6",
                     lines, bytes, step ? "step's log" : "build's logs",
                     step ? "max-step-bytes" : "max-build-bytes",
                     step ? cfg->max_step_bytes : cfg->max_build_bytes);
    if (n < 0)
        n = 0;
    return (size_t)n < size ? (size_t)n : (size ? size - 1 : 0);
}

/* Reports a failing drop once per streak (library code does not print, but
 * the server's own threads report on stderr like the flusher does). */
static void report(ls_server *srv, int rc, int64_t build, int step)
{
    atomic_fetch_add(&srv->metrics.limit_errors, 1);
    if (rc == -EOPNOTSUPP) {
        static atomic_bool told;
        if (!atomic_exchange(&told, true))
            fprintf(stderr,
                    "logstream server: this storage back end cannot drop the middle of a log; "
                    "--max-step-bytes and --max-build-bytes are not enforced\n");
        return;
    }
    fprintf(stderr, "logstream server: cannot drop the middle of build %lld step %d: %s\n",
            (long long)build, step, ls_store_last_error());
}

/* Holds one step to its limit. */
static void enforce(ls_server *srv, ls_live_step *step)
{
    const ls_server_config *cfg = &srv->cfg;
    ls_live_state st;
    ls_live_get_state(step, &st);
    uint64_t kept = st.durable_bytes - st.drop_bytes;
    if (kept <= FLOOR_CHUNKS * (uint64_t)cfg->chunk_bytes && kept <= (uint64_t)cfg->max_step_bytes)
        return; /* below every limit that could apply */
    int64_t build = ls_live_step_build(step);
    int number = ls_live_step_number(step);
    uint64_t build_bytes = kept;
    if (cfg->max_build_bytes > 0) {
        int rc = ls_store_build_bytes(srv->store, build, &build_bytes);
        if (rc < 0) {
            report(srv, rc, build, number);
            return;
        }
    }
    uint64_t limit = ls_limits_step_limit(cfg, build_bytes, kept);
    if (kept <= limit)
        return;
    /* drop a little more than needed, so the next flushes do not drop again at once */
    uint64_t target = limit - limit / 16;
    ls_step_info info;
    int rc = ls_store_drop_middle(srv->store, build, number, limit / 2, kept - target, &info);
    if (rc < 0) {
        report(srv, rc, build, number);
        return;
    }
    if (info.drop_last <= st.drop_last)
        return; /* nothing could be dropped yet (the head is not sealed) */
    atomic_fetch_add(&srv->metrics.dropped_lines,
                     (info.drop_last - info.drop_first + 1) -
                         (st.drop_last ? st.drop_last - st.drop_first + 1 : 0));
    atomic_fetch_add(&srv->metrics.dropped_bytes, info.drop_bytes - st.drop_bytes);
    ls_live_set_dropped(step, info.drop_first, info.drop_last, info.drop_bytes);
}

void ls_limits_after_flush(ls_server *srv, ls_live_step *const *steps, size_t n_steps)
{
    for (size_t i = 0; i < n_steps; i++)
        enforce(srv, steps[i]);
}

/* ---- retention ---- */

/* True when any step of the build has a live object (a reader, an upload,
 * or lines not yet stored): such a build is left for a later pass. */
static bool build_in_use(ls_server *srv, int64_t build)
{
    ls_build_info b;
    ls_step_info *steps = NULL;
    size_t n = 0;
    if (ls_store_get_build(srv->store, build, &b, &steps, &n) < 0)
        return true;
    bool used = false;
    for (size_t i = 0; i < n && !used; i++) {
        ls_live_step *s = ls_live_find(srv->live, build, steps[i].number);
        if (s) {
            used = true;
            ls_live_release(s);
        }
    }
    free(steps);
    return used;
}

int ls_limits_retention_pass(ls_server *srv)
{
    int64_t retention = srv->cfg.retention_ms;
    if (retention <= 0)
        return 0;
    int64_t before = ls_now_ms() - retention;
    int64_t after_id = 0;
    int deleted = 0;
    for (;;) {
        int64_t *ids = NULL;
        size_t n = 0;
        int rc =
            ls_store_list_finished_before(srv->store, before, after_id, RETENTION_BATCH, &ids, &n);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < n && !atomic_load(&srv->stopping); i++) {
            after_id = ids[i];
            if (build_in_use(srv, ids[i]))
                continue;
            rc = ls_store_delete_build(srv->store, ids[i]);
            if (rc == 0) {
                deleted++;
                atomic_fetch_add(&srv->metrics.retention_deleted_builds, 1);
            } else if (rc != -ENOENT) {
                free(ids);
                return rc;
            }
        }
        free(ids);
        if (n < RETENTION_BATCH || atomic_load(&srv->stopping))
            break;
    }
    return deleted;
}

static void *retention_main(void *arg)
{
    ls_limits *lim = arg;
    ls_server *srv = lim->srv;
    bool failing = false;
    pthread_mutex_lock(&lim->mu);
    while (!lim->stop) {
        pthread_mutex_unlock(&lim->mu);
        int rc = ls_limits_retention_pass(srv);
        if (rc < 0 && !failing)
            fprintf(stderr, "logstream server: retention: cannot delete old builds: %s\n",
                    ls_store_last_error());
        else if (rc > 0)
            fprintf(stderr, "logstream server: retention: deleted %d builds older than %lld ms\n",
                    rc, (long long)srv->cfg.retention_ms);
        failing = rc < 0;
        struct timespec ts;
        ls_mono_deadline(&ts, srv->cfg.retention_interval_ms);
        pthread_mutex_lock(&lim->mu);
        while (!lim->stop) {
            if (pthread_cond_timedwait(&lim->cond, &lim->mu, &ts) == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&lim->mu);
    return NULL;
}

int ls_limits_start(ls_server *srv, ls_limits **ret)
{
    ls_limits *lim = ls_xcalloc(1, sizeof(*lim));
    lim->srv = srv;
    pthread_mutex_init(&lim->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&lim->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (srv->cfg.retention_ms > 0) {
        int rc = pthread_create(&lim->thread, NULL, retention_main, lim);
        if (rc != 0) {
            ls_limits_stop(lim);
            return -rc;
        }
        lim->started = true;
    }
    *ret = lim;
    return 0;
}

void ls_limits_stop(ls_limits *lim)
{
    if (!lim)
        return;
    if (lim->started) {
        pthread_mutex_lock(&lim->mu);
        lim->stop = true;
        pthread_cond_signal(&lim->cond);
        pthread_mutex_unlock(&lim->mu);
        pthread_join(lim->thread, NULL);
    }
    pthread_cond_destroy(&lim->cond);
    pthread_mutex_destroy(&lim->mu);
    free(lim);
}
