/* test-results: the plugin (see test_results.h, docs/plugins.md).
 *
 * One tr_stream per step (created on the step's first line) feeds every
 * runner parser; a complete run is published at once from the plugin's
 * thread (publish() blocks this plugin only, the host queues the lines
 * meanwhile) and summarised to the user. Settings:
 *   junit      glob(s) of JUnit XML files read at finalize: a string
 *              (several separated by ',') or an array of strings; relative
 *              globs are taken from junit_dir
 *   junit_dir  where relative globs start: default the first repository's
 *              path, else the current directory
 *   junit_step the step number the JUnit runs are filed under (default: the
 *              last step)
 *   max_failures failed tests listed per run, with their messages (default
 *              TR_DEFAULT_MAX_FAILURES = 100, at most TR_MAX_MAX_FAILURES); all
 *              failures are counted. Keep it at most the server's
 *              --max-test-failures (default 1000), which refuses longer lists. */
#include "plugins/test_results/test_results.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "plugins/test_results/junit.h"
#include "plugins/test_results/tr_stream.h"

typedef struct tr_plugin tr_plugin;

typedef struct tr_step {
    tr_plugin *p;
    const ls_plugin_step *step;
    int number;
    tr_stream *stream;
} tr_step;

struct tr_plugin {
    const ls_plugin_context *ctx;
    tr_step *steps;
    size_t n_steps;
    char path[96];
    bool can_publish, told_no_server;
    size_t max_failures;
    ls_buf json;
    uint64_t runs, published, failed_publish;
};

/* The step's number on the server: its id when that is a number, else its
 * position. */
static int step_number(const ls_plugin_step *step)
{
    const char *p = step->id;
    uint64_t v;
    if (*p && tr_read_u64(&p, p + strlen(p), &v) && *p == '\0' && v > 0 && v <= 1000000)
        return (int)v;
    return (int)step->index + 1;
}

static void emit(void *ud, const tr_run *run)
{
    tr_step *s = ud;
    tr_plugin_publish(s->p, s->step ? s->step->name : "", s->number, run);
}

void tr_plugin_publish(tr_plugin *p, const char *step_name, int number, const tr_run *run)
{
    const ls_plugin_context *ctx = p->ctx;
    p->runs++;
    ctx->output(ctx, "step %s: %s: %" PRIu64 " passed, %" PRIu64 " failed, %" PRIu64 " skipped%s",
                *step_name ? step_name : "?", run->framework, run->passed, run->failed,
                run->skipped, run->partial ? " (partial: the log shows only some tests)" : "");
    if (!p->can_publish) {
        if (!p->told_no_server)
            ctx->output(ctx, "no server or build id in the job: test results are not published");
        p->told_no_server = true;
        return;
    }
    ls_buf_reset(&p->json);
    tr_run_json(run, number, &p->json);
    long status = 0;
    int r = ctx->publish(ctx, p->path, p->json.data, &status);
    if (r < 0) {
        p->failed_publish++;
        ctx->output(ctx, "could not publish the %s run of step %s: %s (HTTP status %ld)",
                    run->framework, step_name, strerror(-r), status);
        return;
    }
    p->published++;
}

static void plugin_destroy(void *state)
{
    tr_plugin *p = state;
    if (!p)
        return;
    for (size_t i = 0; i < p->n_steps; i++)
        tr_stream_free(p->steps[i].stream);
    free(p->steps);
    ls_buf_free(&p->json);
    free(p);
}

size_t tr_plugin_max_failures(const struct tr_plugin *p)
{
    return p->max_failures;
}

static int plugin_init(const ls_plugin_context *ctx, void **ret_state)
{
    tr_plugin *p = ls_xcalloc(1, sizeof(*p));
    p->ctx = ctx;
    p->max_failures = (size_t)tr_setting_int(ctx, "max_failures", TR_DEFAULT_MAX_FAILURES, 1,
                                             TR_MAX_MAX_FAILURES);
    p->n_steps = ctx->n_steps;
    p->steps = ls_xcalloc(p->n_steps + 1, sizeof(*p->steps));
    for (size_t i = 0; i < p->n_steps; i++) {
        p->steps[i].p = p;
        p->steps[i].step = &ctx->steps[i];
        p->steps[i].number = step_number(&ctx->steps[i]);
    }
    const char *id = ctx->build_id;
    const char *q = id;
    uint64_t v;
    if (*ctx->server_url && *id && tr_read_u64(&q, id + strlen(id), &v) && *q == '\0') {
        snprintf(p->path, sizeof(p->path), "/api/v1/builds/%" PRIu64 "/tests", v);
        p->can_publish = true;
    }
    *ret_state = p;
    return LS_PLUGIN_RUN;
}

static int plugin_line(const ls_plugin_context *ctx, void *state, const ls_plugin_step *step,
                       const char *line, size_t len)
{
    tr_plugin *p = state;
    (void)ctx;
    if (step->index >= p->n_steps)
        return 0;
    tr_step *s = &p->steps[step->index];
    if (!s->stream) {
        tr_sink sink = {.emit = emit, .ud = s, .max_failures = p->max_failures};
        s->stream = tr_stream_new(&sink);
    }
    tr_stream_line(s->stream, line, len);
    return 0;
}

static int plugin_finalize(const ls_plugin_context *ctx, void *state)
{
    tr_plugin *p = state;
    for (size_t i = 0; i < p->n_steps; i++) {
        if (p->steps[i].stream)
            tr_stream_end(p->steps[i].stream);
    }
    tr_junit_collect(ctx, p);
    if (p->runs == 0)
        return 0;
    if (p->can_publish)
        ctx->output(ctx, "%" PRIu64 " test run%s published%s", p->published,
                    p->published == 1 ? "" : "s",
                    p->failed_publish ? ", some could not be (see above)" : "");
    return 0;
}

LS_PLUGIN_EXPORT const ls_plugin_v1 LS_PLUGIN_DESCRIPTOR(test_results) = {
    .abi_version = LS_PLUGIN_ABI_VERSION,
    .name = "test-results",
    .description = "recognises test runners' output and JUnit XML, publishes test runs",
    .init = plugin_init,
    .process_line = plugin_line,
    .finalize = plugin_finalize,
    .destroy = plugin_destroy,
};
