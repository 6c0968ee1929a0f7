#include "pluginhost/runner.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/timeutil.h"
#include "pluginhost/http.h"

ls_runner *ls_runner_new(struct ls_pluginhost *h, const ls_plugin_v1 *def)
{
    ls_runner *r = ls_xcalloc(1, sizeof(*r));
    ls_buf b = LS_BUF_INIT;
    r->host = h;
    r->def = def;
    ls_buf_printf(&b, "[%s] ", def->name);
    r->out_prefix = ls_buf_steal(&b);
    ls_buf_printf(&b, LS_PH_DIAG_PREFIX "%s: ", def->name);
    r->trace_prefix = ls_buf_steal(&b);
    ls_ph_queue_init(&r->queue, (size_t)h->opt.max_pending);
    return r;
}

void ls_runner_free(ls_runner *r)
{
    if (!r)
        return;
    ls_ph_queue_destroy(&r->queue);
    free(r->out_prefix);
    free(r->trace_prefix);
    free(r);
}

static ls_runner *runner_of(const ls_plugin_context *ctx)
{
    return ctx->host;
}

static void ctx_trace(const ls_plugin_context *ctx, const char *fmt, ...)
{
    ls_runner *r = runner_of(ctx);
    va_list ap;
    va_start(ap, fmt);
    ls_ph_sink_vprintf(&r->host->diag, r->trace_prefix, fmt, ap);
    va_end(ap);
}

/* User output, capped at --plugin-max-output bytes per plugin: past the cap
 * the user is told once and the rest is dropped. */
static void ctx_output(const ls_plugin_context *ctx, const char *fmt, ...)
{
    ls_runner *r = runner_of(ctx);
    ls_buf text = LS_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    ls_buf_vprintf(&text, fmt, ap);
    va_end(ap);
    size_t used = atomic_fetch_add(&r->output_used, text.len);
    if (used + text.len <= (size_t)r->host->opt.max_output) {
        ls_ph_sink_write(&r->host->out, r->out_prefix, text.data ? text.data : "", text.len);
    } else if (!atomic_exchange(&r->output_capped, true)) {
        ls_ph_sink_printf(&r->host->out, LS_PH_OUT_PREFIX,
                          "%s: output limit of %lld bytes reached (--plugin-max-output); its "
                          "further messages are dropped",
                          r->def->name, (long long)r->host->opt.max_output);
    }
    ls_buf_free(&text);
}

static const char *lookup(const ls_plugin_variable *v, size_t n, const char *name, bool icase)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((icase ? strcasecmp(v[i].name, name) : strcmp(v[i].name, name)) == 0)
            return v[i].value;
    return NULL;
}

static const char *ctx_variable(const ls_plugin_context *ctx, const char *name)
{
    return lookup(ctx->variables, ctx->n_variables, name, true);
}

static const char *ctx_setting(const ls_plugin_context *ctx, const char *key)
{
    const ls_job_plugin_conf *c = runner_of(ctx)->conf;
    return c ? lookup(c->settings, c->n_settings, key, false) : NULL;
}

static int ctx_publish(const ls_plugin_context *ctx, const char *path, const char *json,
                       long *ret_status)
{
    ls_runner *r = runner_of(ctx);
    return ls_ph_http_post_json(ctx->server_url, ctx->token, path, json,
                                r->host->opt.http_timeout_ms, ret_status);
}

void ls_runner_setup_context(ls_runner *r, const ls_job *job)
{
    ls_plugin_context *c = &r->ctx;
    r->conf = ls_job_plugin(job, r->def->name);
    c->abi_version = LS_PLUGIN_ABI_VERSION;
    c->size = sizeof(*c);
    c->plugin_name = r->def->name;
    c->build_id = job->build_id;
    c->server_url = job->server_url;
    c->token = job->token;
    c->temp_dir = job->temp_dir;
    c->variables = job->variables;
    c->n_variables = job->n_variables;
    c->steps = job->steps;
    c->n_steps = job->n_steps;
    c->repositories = job->repositories;
    c->n_repositories = job->n_repositories;
    c->settings_json = r->conf ? r->conf->settings_json : "{}";
    c->trace = ctx_trace;
    c->output = ctx_output;
    c->variable = ctx_variable;
    c->setting = ctx_setting;
    c->publish = ctx_publish;
    c->host = r;
}

bool ls_runner_set_verdict_locked(ls_runner *r, ls_runner_verdict v, const char *fmt, ...)
{
    if (r->verdict != LS_VERDICT_NONE)
        return false;
    r->verdict = v;
    r->reason[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
        va_end(ap);
    }
    pthread_cond_broadcast(&r->host->changed);
    return true;
}

static void set_phase(ls_runner *r, ls_runner_phase p)
{
    pthread_mutex_lock(&r->host->lock);
    r->phase = p;
    r->phase_since_ms = ls_mono_ms();
    pthread_cond_broadcast(&r->host->changed);
    pthread_mutex_unlock(&r->host->lock);
}

/* Sets a verdict from the plugin's own thread and tells the user when it is
 * a failure. The message is written before the verdict is set (under the
 * host's lock; the sink's lock is a leaf): once the verdict is seen the host
 * may end, and the message must not come after that. */
static void conclude(ls_runner *r, ls_runner_verdict v, int err, const char *what)
{
    struct ls_pluginhost *h = r->host;
    pthread_mutex_lock(&h->lock);
    if (r->verdict == LS_VERDICT_NONE && ls_ph_verdict_is_failure(v))
        ls_ph_sink_printf(&h->out, LS_PH_OUT_PREFIX, "%s: %s failed: %s", r->def->name, what,
                          strerror(-err));
    if (err)
        ls_runner_set_verdict_locked(r, v, "%s failed: %s", what, strerror(-err));
    else
        ls_runner_set_verdict_locked(r, v, NULL);
    pthread_mutex_unlock(&h->lock);
}

/* Runs process_line on every record of b; stops the plugin after too many
 * errors in a row. Returns false when the plugin must stop. */
static bool process_block(ls_runner *r, void *state, const ls_ph_block *b, uint64_t *in_a_row)
{
    const ls_plugin_step *steps = r->ctx.steps;
    size_t off = 0;
    uint32_t step;
    const char *text;
    size_t len;
    uint64_t done = 0;
    bool keep_going = true;
    while (ls_ph_block_next(b, &off, &step, &text, &len)) {
        if (ls_ph_queue_is_discarded(&r->queue)) {
            keep_going = false;
            break;
        }
        int rc = r->def->process_line(&r->ctx, state, &steps[step], text, len);
        done++;
        if (rc >= 0) {
            *in_a_row = 0;
            continue;
        }
        atomic_fetch_add_explicit(&r->errors, 1, memory_order_relaxed);
        if (++*in_a_row < (uint64_t)r->host->opt.max_errors)
            continue;
        /* the count and the message before the verdict: once it is seen the
         * host may sum up and end (see conclude) */
        atomic_fetch_add_explicit(&r->lines_done, done, memory_order_relaxed);
        done = 0;
        struct ls_pluginhost *h = r->host;
        pthread_mutex_lock(&h->lock);
        if (r->verdict == LS_VERDICT_NONE)
            ls_ph_sink_printf(&h->out, LS_PH_OUT_PREFIX,
                              "%s stopped: process_line failed %llu times in a row (last error: "
                              "%s); its finalize is skipped",
                              r->def->name, (unsigned long long)*in_a_row, strerror(-rc));
        ls_runner_set_verdict_locked(r, LS_VERDICT_STOPPED,
                                     "process_line failed %llu times in a row (last: %s)",
                                     (unsigned long long)*in_a_row, strerror(-rc));
        pthread_mutex_unlock(&h->lock);
        ls_ph_queue_discard(&r->queue);
        keep_going = false;
        break;
    }
    atomic_fetch_add_explicit(&r->lines_done, done, memory_order_relaxed);
    return keep_going;
}

static void consume(ls_runner *r, void *state)
{
    uint64_t in_a_row = 0;
    ls_ph_block *b;
    while ((b = ls_ph_queue_pop(&r->queue)) != NULL) {
        bool keep_going = process_block(r, state, b, &in_a_row);
        ls_ph_queue_done(&r->queue, b);
        if (!keep_going)
            break;
    }
}

/* Whether the queue ended because the finish line came and nobody stopped
 * the plugin: then it is finalized. */
static bool should_finalize(ls_runner *r)
{
    pthread_mutex_lock(&r->host->lock);
    bool yes = r->verdict == LS_VERDICT_NONE && r->host->finish_ms != 0;
    pthread_mutex_unlock(&r->host->lock);
    return yes;
}

static void *runner_main(void *arg)
{
    ls_runner *r = arg;
    struct ls_pluginhost *h = r->host;
    void *state = NULL;
    int rc = r->def->init(&r->ctx, &state);
    if (rc == LS_PLUGIN_DECLINE || rc < 0) {
        ls_ph_queue_discard(&r->queue);
        conclude(r, rc < 0 ? LS_VERDICT_FAILED : LS_VERDICT_DECLINED, rc < 0 ? rc : 0, "init");
        r->ctx.trace(&r->ctx, "%s", rc < 0 ? "init failed" : "declined to run for this job");
        goto out;
    }
    set_phase(r, LS_PHASE_LINES);
    consume(r, state);
    if (should_finalize(r)) {
        set_phase(r, LS_PHASE_FINALIZING);
        rc = r->def->finalize ? r->def->finalize(&r->ctx, state) : 0;
        conclude(r, rc < 0 ? LS_VERDICT_FAILED : LS_VERDICT_DONE, rc < 0 ? rc : 0, "finalize");
    }
    if (r->def->destroy)
        r->def->destroy(state);
out:
    set_phase(r, LS_PHASE_EXITED);
    ls_ph_unref(h);
    return NULL;
}

int ls_runner_start(ls_runner *r)
{
    set_phase(r, LS_PHASE_INIT);
    ls_ph_ref(r->host);
    int rc = -pthread_create(&r->thread, NULL, runner_main, r);
    if (rc < 0) {
        set_phase(r, LS_PHASE_EXITED);
        ls_ph_unref(r->host);
        return rc;
    }
    r->has_thread = true;
    return 0;
}

void ls_runner_release_thread(ls_runner *r)
{
    if (!r->has_thread)
        return;
    pthread_mutex_lock(&r->host->lock);
    bool exited = r->phase == LS_PHASE_EXITED;
    pthread_mutex_unlock(&r->host->lock);
    if (exited)
        pthread_join(r->thread, NULL); /* also waits for its thread-local cleanup */
    else
        pthread_detach(r->thread); /* stuck in plugin code: left behind */
    r->has_thread = false;
}
