/* tool-usage: recognises publishes and deploys in the build's log (see
 * recognizer.h for what is recognised and the counting rule) and publishes
 * each event to the server as soon as it is complete:
 *
 *     POST /api/v1/builds/{build}/tool-usage   {"events":[{...}]}
 *
 * and tells the user ("[tool-usage] docker push registry/app:1.2 (step
 * build: succeeded)"). An event that cannot be sent (server down) is kept
 * (at most max_pending events) and sent with the next one, after a backoff,
 * and at finalize; the server ignores an event whose seq it already holds, so
 * a resend after a lost answer does not count twice.
 *
 * Settings: "publish" (default true: false only tells the user),
 * "max_pending" (events kept while the server cannot be reached, default
 * 1000), "max_per_post" (events in one request, default 1000: the server's
 * --max-tool-events), "retry_min" and "retry_max" (backoff between resends,
 * default 500ms and 30s), "summary_tools" (tool/action pairs named in the
 * final summary line, default 16; the others are counted together). */
#include "plugins/tool_usage/tool_usage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/backoff.h"
#include "common/buf.h"
#include "common/flags.h"
#include "common/timeutil.h"
#include "plugins/tool_usage/recognizer.h"

/* defaults of the settings */
#define DEFAULT_MAX_PENDING 1000
#define DEFAULT_MAX_PER_POST 1000
#define DEFAULT_RETRY_MIN_MS 500
#define DEFAULT_RETRY_MAX_MS 30000
#define DEFAULT_SUMMARY_TOOLS 16

typedef struct tally {
    const char *tool, *action;
    unsigned long long n;
} tally;

typedef struct tool_usage {
    const ls_plugin_context *ctx; /* valid during callbacks only (they run on one thread) */
    ls_tu *tu;
    bool publish;
    char path[128]; /* /api/v1/builds/{build}/tool-usage */
    long long *step_numbers;
    /* events not yet accepted by the server, as JSON objects joined by ',' */
    ls_buf pending;
    size_t *ends; /* end of each pending event in `pending` (max_pending of them) */
    size_t n_pending, max_pending, max_per_post;
    unsigned long long dropped, sent, recognised, rejected;
    ls_backoff backoff;
    int64_t next_try_ms; /* monotonic; 0 = now */
    int last_error;
    long last_status;
    tally *tallies; /* summary_tools of them */
    size_t n_tallies, max_tallies;
    unsigned long long untallied; /* events of the tool/action pairs beyond summary_tools */
} tool_usage;

/* A setting: a whole number, or a duration (250ms, 30s) when duration; the
 * default when absent, and the default with a message when wrong. */
static int64_t setting_num(const ls_plugin_context *ctx, const char *key, bool duration,
                           int64_t def, int64_t min, int64_t max)
{
    const char *v = ctx->setting(ctx, key);
    if (!v || !*v)
        return def;
    int64_t out = 0;
    char *end = NULL;
    int r = 0;
    if (duration) {
        r = ls_parse_duration_ms(v, &out);
    } else {
        out = strtoll(v, &end, 10);
        r = end && *end == '\0' ? 0 : -EINVAL;
    }
    if (r < 0 || out < min || out > max) {
        ctx->output(ctx, "setting \"%s\" must be %s from %lld to %lld, not \"%s\"; using %lld", key,
                    duration ? "a duration in ms (250ms, 30s)" : "a number", (long long)min,
                    (long long)max, v, (long long)def);
        return def;
    }
    return out;
}

/* The step's number on the server: its id when that is a number, else its position. */
static long long step_number(const ls_plugin_step *s)
{
    char *end = NULL;
    long long v = strtoll(s->id, &end, 10);
    if (*s->id && end && *end == '\0' && v > 0)
        return v;
    return (long long)s->index + 1;
}

/* Drops the first k pending events (sent, or refused for good). */
static void consume_pending(tool_usage *u, size_t k)
{
    size_t cut = k < u->n_pending ? u->ends[k - 1] + 1 : u->pending.len; /* with its ',' */
    ls_buf_consume(&u->pending, cut);
    for (size_t i = k; i < u->n_pending; i++)
        u->ends[i - k] = u->ends[i] - cut;
    u->n_pending -= k;
}

/* Sends the pending events, at most max_per_post in one request. Keeps them
 * on a transport error or a 5xx/429, drops them (counted) on another
 * refusal. */
static void flush_pending(tool_usage *u, bool force)
{
    if (!u->n_pending || !u->publish)
        return;
    if (!force && u->next_try_ms && ls_mono_ms() < u->next_try_ms)
        return;
    while (u->n_pending) {
        size_t k = u->n_pending < u->max_per_post ? u->n_pending : u->max_per_post;
        ls_buf body = LS_BUF_INIT;
        ls_buf_puts(&body, "{\"events\":[");
        ls_buf_append(&body, u->pending.data, u->ends[k - 1]);
        ls_buf_puts(&body, "]}");
        long status = 0;
        int r = u->ctx->publish(u->ctx, u->path, body.data, &status);
        ls_buf_free(&body);
        u->last_status = status;
        if (r == 0 || (r == -EPROTO && status != 429 && status < 500)) {
            if (r == 0) {
                u->sent += k;
            } else {
                u->rejected += k;
                u->ctx->trace(u->ctx, "the server refused %zu events (HTTP %ld)", k, status);
            }
            consume_pending(u, k);
            ls_backoff_reset(&u->backoff);
            u->next_try_ms = 0;
            continue;
        }
        u->last_error = r;
        u->next_try_ms = ls_mono_ms() + ls_backoff_next(&u->backoff);
        u->ctx->trace(u->ctx, "publishing %zu events failed (%s, HTTP %ld); will retry",
                      u->n_pending, strerror(-r), status);
        return;
    }
}

static void count(tool_usage *u, const ls_tu_event *ev)
{
    for (size_t i = 0; i < u->n_tallies; i++) {
        if (strcmp(u->tallies[i].tool, ev->tool) == 0 &&
            strcmp(u->tallies[i].action, ev->action) == 0) {
            u->tallies[i].n++;
            return;
        }
    }
    if (u->n_tallies < u->max_tallies)
        u->tallies[u->n_tallies++] = (tally){ev->tool, ev->action, 1};
    else
        u->untallied++;
}

static void on_event(void *userdata, const ls_tu_event *ev)
{
    tool_usage *u = userdata;
    const ls_plugin_context *ctx = u->ctx;
    const ls_plugin_step *step = &ctx->steps[ev->step];
    u->recognised++;
    count(u, ev);
    ctx->output(ctx, "%s %s%s%s (step %s: %s%s)", ev->tool, ev->action, ev->target[0] ? " " : "",
                ev->target, *step->name ? step->name : step->id, ls_tu_outcome_name(ev->outcome),
                ev->dry_run ? ", dry run" : "");
    if (!u->publish)
        return;
    if (u->n_pending >= u->max_pending) {
        u->dropped++;
        return;
    }
    if (u->n_pending)
        ls_buf_putc(&u->pending, ',');
    ls_tu_event_json(ev, u->step_numbers[ev->step], &u->pending);
    u->ends[u->n_pending++] = u->pending.len;
    flush_pending(u, false);
}

static void tu_destroy(void *state)
{
    tool_usage *u = state;
    if (!u)
        return;
    ls_tu_free(u->tu);
    ls_buf_free(&u->pending);
    free(u->ends);
    free(u->tallies);
    free(u->step_numbers);
    free(u);
}

static int tu_init(const ls_plugin_context *ctx, void **ret_state)
{
    tool_usage *u = ls_xcalloc(1, sizeof(*u));
    u->ctx = ctx;
    const char *pub = ctx->setting(ctx, "publish");
    u->publish = !(pub && strcmp(pub, "false") == 0);
    u->max_pending =
        (size_t)setting_num(ctx, "max_pending", false, DEFAULT_MAX_PENDING, 1, 1000000);
    u->max_per_post =
        (size_t)setting_num(ctx, "max_per_post", false, DEFAULT_MAX_PER_POST, 1, 1000000);
    int64_t retry_min = setting_num(ctx, "retry_min", true, DEFAULT_RETRY_MIN_MS, 1, 3600 * 1000);
    int64_t retry_max =
        setting_num(ctx, "retry_max", true, DEFAULT_RETRY_MAX_MS, retry_min, 24 * 3600 * 1000);
    u->max_tallies =
        (size_t)setting_num(ctx, "summary_tools", false, DEFAULT_SUMMARY_TOOLS, 1, 1000);
    u->tallies = ls_xcalloc(u->max_tallies, sizeof(*u->tallies));
    u->ends = ls_xcalloc(u->max_pending, sizeof(*u->ends));
    if (u->publish && (!*ctx->server_url || !*ctx->build_id)) {
        ctx->trace(ctx, "no server URL or build id in the context: events are only shown");
        u->publish = false;
    }
    snprintf(u->path, sizeof(u->path), "/api/v1/builds/%.40s/tool-usage", ctx->build_id);
    u->step_numbers = ls_xcalloc(ctx->n_steps + 1, sizeof(*u->step_numbers));
    for (size_t i = 0; i < ctx->n_steps; i++)
        u->step_numbers[i] = step_number(&ctx->steps[i]);
    ls_backoff_init(&u->backoff, retry_min, retry_max, 0);
    u->tu = ls_tu_new(ctx->n_steps, on_event, u);
    *ret_state = u;
    return LS_PLUGIN_RUN;
}

static int tu_line(const ls_plugin_context *ctx, void *state, const ls_plugin_step *step,
                   const char *line, size_t len)
{
    tool_usage *u = state;
    u->ctx = ctx;
    ls_tu_line(u->tu, step->index, line, len);
    return 0;
}

static int tu_finalize(const ls_plugin_context *ctx, void *state)
{
    tool_usage *u = state;
    u->ctx = ctx;
    ls_tu_finish(u->tu);
    flush_pending(u, true);
    if (u->recognised) {
        ls_buf sum = LS_BUF_INIT;
        for (size_t i = 0; i < u->n_tallies; i++)
            ls_buf_printf(&sum, "%s%llu %s %s", i ? ", " : "", u->tallies[i].n, u->tallies[i].tool,
                          u->tallies[i].action);
        if (u->untallied)
            ls_buf_printf(&sum, ", %llu of other tools", u->untallied);
        ctx->output(ctx, "%llu publish/deploy event%s: %s", u->recognised,
                    u->recognised == 1 ? "" : "s", sum.data);
        ls_buf_free(&sum);
    }
    int rc = 0;
    if (u->n_pending || u->dropped) {
        ctx->output(ctx, "%llu event%s could not be sent to the server (%s)",
                    (unsigned long long)u->n_pending + u->dropped,
                    u->n_pending + u->dropped == 1 ? "" : "s",
                    u->last_error ? strerror(-u->last_error) : "too many waiting");
        rc = -EIO;
    }
    if (u->rejected) {
        ctx->output(ctx, "the server refused %llu event%s (HTTP %ld)", u->rejected,
                    u->rejected == 1 ? "" : "s", u->last_status);
        rc = -EPROTO;
    }
    return rc;
}

LS_PLUGIN_EXPORT const ls_plugin_v1 LS_PLUGIN_DESCRIPTOR(tool_usage) = {
    .abi_version = LS_PLUGIN_ABI_VERSION,
    .name = "tool-usage",
    .description = "recognises publishes and deploys (npm, docker, kubectl, helm, terraform, "
                   "cargo, twine, gem, nuget, mvn) and reports them to the server",
    .init = tu_init,
    .process_line = tu_line,
    .finalize = tu_finalize,
    .destroy = tu_destroy,
};
