#include "pluginhost/pluginhost.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/timeutil.h"
#include "pluginhost/internal.h"
#include "pluginhost/runner.h"

void ls_pluginhost_options_default(ls_pluginhost_options *o)
{
    *o = (ls_pluginhost_options){
        .max_pending = 10 * 1024 * 1024,
        .max_spill = 1024 * 1024 * 1024,
        .breaker_window_ms = 100 * 1000,
        .finalize_timeout_ms = 60 * 1000,
        .max_errors = 100,
        .max_line = 128 * 1024,
        .max_context = 16 * 1024 * 1024,
        .max_output = 1024 * 1024,
        .http_timeout_ms = 10 * 1000,
        .read_size = 256 * 1024,
        .max_malformed_reports = 10,
        .out_fd = 1,
        .diag_fd = 2,
    };
}

static bool options_valid(const ls_pluginhost_options *o)
{
    return o->max_pending > 0 && o->max_spill >= 0 && o->breaker_window_ms > 0 &&
           o->finalize_timeout_ms > 0 && o->max_errors > 0 && o->max_line >= LS_PH_MIN_LINE &&
           o->max_line <= 64 * 1024 * 1024 && o->max_context > 0 && o->max_output > 0 &&
           o->http_timeout_ms > 0 && o->read_size > 0 && o->read_size <= 64 * 1024 * 1024 &&
           o->max_malformed_reports >= 0 && o->out_fd >= 0 && o->diag_fd >= 0;
}

int ls_pluginhost_new(const ls_pluginhost_options *o, ls_pluginhost **ret_host)
{
    if (!options_valid(o))
        return -EINVAL;
    ls_pluginhost *h = ls_xcalloc(1, sizeof(*h));
    h->opt = *o;
    atomic_init(&h->refs, 1);
    ls_ph_sink_init(&h->out, o->out_fd);
    ls_ph_sink_init(&h->diag, o->diag_fd);
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->changed, &ca);
    pthread_condattr_destroy(&ca);
    *ret_host = h;
    return 0;
}

static void destroy_host(ls_pluginhost *h)
{
    for (size_t i = 0; i < h->n_runners; i++)
        ls_runner_free(h->runners[i]);
    free(h->runners);
    ls_job_free(h->job);
    for (size_t i = 0; i < h->n_dl_handles; i++)
        dlclose(h->dl_handles[i]);
    free(h->dl_handles);
    ls_ph_sink_destroy(&h->out);
    ls_ph_sink_destroy(&h->diag);
    pthread_cond_destroy(&h->changed);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

void ls_ph_ref(ls_pluginhost *h)
{
    atomic_fetch_add(&h->refs, 1);
}

void ls_ph_unref(ls_pluginhost *h)
{
    if (atomic_fetch_sub(&h->refs, 1) == 1)
        destroy_host(h);
}

void ls_pluginhost_free(ls_pluginhost *h)
{
    if (h)
        ls_ph_unref(h);
}

bool ls_ph_verdict_is_failure(ls_runner_verdict v)
{
    return v == LS_VERDICT_FAILED || v == LS_VERDICT_STOPPED || v == LS_VERDICT_ABANDONED;
}

const char *ls_ph_verdict_name(ls_runner_verdict v)
{
    static const char *const names[] = {
        [LS_VERDICT_NONE] = "running",        [LS_VERDICT_DONE] = "done",
        [LS_VERDICT_DECLINED] = "declined",   [LS_VERDICT_ENDED] = "ended without finalize",
        [LS_VERDICT_FAILED] = "failed",       [LS_VERDICT_STOPPED] = "stopped",
        [LS_VERDICT_ABANDONED] = "abandoned",
    };
    return names[v];
}

static bool valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 32 || strcmp(name, "plugin-host") == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '-'))
            return false;
    return true;
}

int ls_pluginhost_add(ls_pluginhost *h, const ls_plugin_v1 *def, void *dl_handle, char *err,
                      size_t errlen)
{
    if (def->abi_version != LS_PLUGIN_ABI_VERSION) {
        snprintf(err, errlen,
                 "plugin ABI version %u is not supported (this host supports version %u): "
                 "rebuild the plugin against this logstream's <logstream/plugin.h>",
                 def->abi_version, LS_PLUGIN_ABI_VERSION);
        return -EINVAL;
    }
    if (!valid_name(def->name)) {
        snprintf(err, errlen, "plugin name is not 1..32 of [a-z0-9-] (or is reserved)");
        return -EINVAL;
    }
    if (!def->init || !def->process_line) {
        snprintf(err, errlen, "plugin %s has no init or no process_line function", def->name);
        return -EINVAL;
    }
    for (size_t i = 0; i < h->n_runners; i++) {
        if (strcmp(h->runners[i]->def->name, def->name) == 0) {
            snprintf(err, errlen, "a plugin named %s is already loaded", def->name);
            return -EEXIST;
        }
    }
    h->runners = ls_xreallocarray(h->runners, h->n_runners + 1, sizeof(*h->runners));
    h->runners[h->n_runners++] = ls_runner_new(h, def);
    if (dl_handle) {
        h->dl_handles = ls_xreallocarray(h->dl_handles, h->n_dl_handles + 1, sizeof(void *));
        h->dl_handles[h->n_dl_handles++] = dl_handle;
    }
    return 0;
}

void ls_pluginhost_count_load_failure(ls_pluginhost *h)
{
    h->load_failures++;
}

static bool registered(const ls_pluginhost *h, const char *name)
{
    for (size_t i = 0; i < h->n_runners; i++)
        if (strcmp(h->runners[i]->def->name, name) == 0)
            return true;
    return false;
}

/* Chooses the plugins that run for this job; tells the user about enabled
 * plugins that are not installed (each counts as failed). */
static unsigned select_plugins(ls_pluginhost *h, ls_pluginhost_summary *s)
{
    unsigned missing = 0;
    for (size_t i = 0; i < h->job->n_plugins; i++) {
        const ls_job_plugin_conf *c = &h->job->plugins[i];
        if (c->enabled && strcmp(c->name, LS_JOB_PLUGIN_DEFAULT) != 0 && !registered(h, c->name)) {
            ls_ph_sink_printf(&h->out, LS_PH_OUT_PREFIX,
                              "plugin %s is enabled for this job but is not installed", c->name);
            missing++;
        }
    }
    for (size_t i = 0; i < h->n_runners; i++) {
        ls_runner *r = h->runners[i];
        if (!ls_job_plugin_enabled(h->job, r->def->name))
            continue;
        ls_runner_setup_context(r, h->job);
        ls_ph_queue_spill_to(&r->queue, h->job->temp_dir, (size_t)h->opt.max_spill);
        r->started = true;
        s->plugins_run++;
    }
    return missing;
}

static void start_plugins(ls_pluginhost *h)
{
    for (size_t i = 0; i < h->n_runners; i++) {
        ls_runner *r = h->runners[i];
        if (!r->started)
            continue;
        int rc = ls_runner_start(r);
        if (rc < 0) {
            pthread_mutex_lock(&h->lock);
            ls_runner_set_verdict_locked(r, LS_VERDICT_FAILED, "cannot start its thread: %s",
                                         strerror(-rc));
            pthread_mutex_unlock(&h->lock);
            ls_ph_queue_discard(&r->queue);
        }
    }
}

static void wait_deadline_locked(ls_pluginhost *h, int64_t deadline_ms)
{
    struct timespec ts = {.tv_sec = deadline_ms / 1000, .tv_nsec = (deadline_ms % 1000) * 1000000};
    pthread_cond_timedwait(&h->changed, &h->lock, &ts);
}

static bool all_settled_locked(const ls_pluginhost *h)
{
    for (size_t i = 0; i < h->n_runners; i++)
        if (h->runners[i]->started && h->runners[i]->verdict == LS_VERDICT_NONE)
            return false;
    return true;
}

/* Whether a settled plugin's thread may still come back by itself: then the
 * host waits (a bounded time) for its destroy. */
static bool returning_locked(const ls_runner *r)
{
    return r->started && r->phase != LS_PHASE_EXITED && r->verdict != LS_VERDICT_STOPPED &&
           r->verdict != LS_VERDICT_ABANDONED;
}

/* Waits until every plugin has a verdict (the supervisor bounds this), then
 * up to the finalize timeout for threads still returning on their own. */
static void wait_for_plugins(ls_pluginhost *h)
{
    pthread_mutex_lock(&h->lock);
    while (!all_settled_locked(h))
        pthread_cond_wait(&h->changed, &h->lock);
    int64_t deadline = ls_mono_ms() + h->opt.finalize_timeout_ms;
    for (size_t i = 0; i < h->n_runners; i++) {
        ls_runner *r = h->runners[i];
        while (returning_locked(r) && ls_mono_ms() < deadline)
            wait_deadline_locked(h, deadline);
        if (returning_locked(r))
            ls_ph_sink_printf(&h->diag, LS_PH_DIAG_PREFIX, "%s: its thread did not return; left",
                              r->def->name);
    }
    pthread_mutex_unlock(&h->lock);
}

static void finish(ls_pluginhost *h)
{
    pthread_mutex_lock(&h->lock);
    h->finish_ms = ls_mono_ms();
    if (h->finish_ms == 0)
        h->finish_ms = 1;
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->lock);
    for (size_t i = 0; i < h->n_runners; i++)
        if (h->runners[i]->started)
            ls_ph_queue_close(&h->runners[i]->queue);
}

/* End of input without the finish line: the job did not complete, so no
 * plugin is finalized; their queues are dropped. */
static void end_without_finish(ls_pluginhost *h)
{
    ls_ph_sink_printf(&h->diag, LS_PH_DIAG_PREFIX,
                      "input ended without the finish line: plugins stop without finalize");
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->n_runners; i++)
        if (h->runners[i]->started)
            ls_runner_set_verdict_locked(h->runners[i], LS_VERDICT_ENDED, NULL);
    pthread_mutex_unlock(&h->lock);
    for (size_t i = 0; i < h->n_runners; i++)
        if (h->runners[i]->started)
            ls_ph_queue_discard(&h->runners[i]->queue);
}

/* Tells diagnostics how each plugin did, and the user about lost lines. */
static unsigned report(ls_pluginhost *h)
{
    unsigned failed = 0;
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->n_runners; i++) {
        ls_runner *r = h->runners[i];
        if (!r->started)
            continue;
        uint64_t dropped = atomic_load(&r->dropped_lines) + atomic_load(&r->queue.lost_records);
        uint64_t dropped_bytes = atomic_load(&r->dropped_bytes) + atomic_load(&r->queue.lost_bytes);
        if (r->verdict == LS_VERDICT_STOPPED || r->verdict == LS_VERDICT_ABANDONED) {
            /* what was still queued when the breaker (or a timeout) stopped it */
            dropped += atomic_load(&r->queue.discarded_records);
            dropped_bytes += atomic_load(&r->queue.discarded_bytes);
        }
        failed += ls_ph_verdict_is_failure(r->verdict);
        ls_ph_sink_printf(&h->diag, LS_PH_DIAG_PREFIX,
                          "%s: %s; %llu lines processed, %llu dropped, %llu errors%s%s",
                          r->def->name, ls_ph_verdict_name(r->verdict),
                          (unsigned long long)atomic_load(&r->lines_done),
                          (unsigned long long)dropped, (unsigned long long)atomic_load(&r->errors),
                          r->reason[0] ? ": " : "", r->reason);
        if (dropped)
            ls_ph_sink_printf(&h->out, LS_PH_OUT_PREFIX,
                              "%s: %llu lines (%llu bytes) were not given to it because it could "
                              "not keep up",
                              r->def->name, (unsigned long long)dropped,
                              (unsigned long long)dropped_bytes);
    }
    pthread_mutex_unlock(&h->lock);
    if (h->malformed)
        ls_ph_sink_printf(&h->diag, LS_PH_DIAG_PREFIX, "%llu malformed lines skipped",
                          (unsigned long long)h->malformed);
    return failed;
}

/* Reads and checks the context; on refusal says why and swallows the input. */
static int load_context(ls_pluginhost *h, int in_fd, char **ret_rest, size_t *ret_rest_len)
{
    char *text = NULL, *warnings = NULL, err[512] = "";
    size_t len = 0;
    int rc = ls_ph_input_read_context(h, in_fd, &text, &len, ret_rest, ret_rest_len);
    if (rc == 0)
        rc = ls_job_parse(text, len, &h->job, &warnings, err, sizeof(err));
    else if (rc == -E2BIG)
        snprintf(err, sizeof(err), "context line longer than %lld bytes (--plugin-max-context)",
                 (long long)h->opt.max_context);
    else
        snprintf(err, sizeof(err), "no context line: %s",
                 rc == -ENODATA ? "the input ended" : strerror(-rc));
    free(text);
    if (warnings)
        ls_ph_sink_printf(&h->diag, LS_PH_DIAG_PREFIX "context: ", "%s", warnings);
    free(warnings);
    if (rc == 0)
        return 0;
    ls_ph_sink_printf(&h->diag, LS_PH_DIAG_PREFIX, "%s", err);
    ls_ph_sink_printf(&h->out, LS_PH_OUT_PREFIX,
                      "log plugins do not run for this job: its context was refused (%s)", err);
    if (rc != -ENODATA)
        ls_ph_input_drain(h, in_fd, *ret_rest, *ret_rest_len);
    return -EINVAL;
}

int ls_pluginhost_run(ls_pluginhost *h, int in_fd, ls_pluginhost_summary *ret_summary)
{
    if (h->ran)
        return -EALREADY;
    h->ran = true;
    ls_pluginhost_summary s = {0};
    char *rest = NULL;
    size_t rest_len = 0;
    int rc = load_context(h, in_fd, &rest, &rest_len);
    s.plugins_failed = h->load_failures;
    if (rc < 0)
        goto out;
    s.context_ok = true;
    s.plugins_failed += select_plugins(h, &s);
    rc = ls_ph_supervisor_start(h);
    if (rc < 0)
        goto out;
    start_plugins(h);
    ls_ph_input_run(h, in_fd, rest, rest_len);
    if (h->finished)
        finish(h);
    else
        end_without_finish(h);
    wait_for_plugins(h);
    ls_ph_supervisor_stop(h);
    for (size_t i = 0; i < h->n_runners; i++)
        ls_runner_release_thread(h->runners[i]);
    s.plugins_failed += report(h);
    s.finished = h->finished;
    s.lines = h->lines;
    s.malformed = h->malformed;
out:
    free(rest);
    *ret_summary = s;
    return rc;
}
