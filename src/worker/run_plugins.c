/* The plugin host in `logstream run` (docs/plugins.md, "The worker side"):
 * starts it with the job's context, gives it every step's lines (run.c's
 * on_line feeds it), stores what it prints as the build's "plugins" log, and
 * ends it after the last step, waiting --plugin-finish-timeout for the
 * plugins to finish. */
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/timeutil.h"
#include "mask/masker.h"
#include "worker/plugin_driver.h"
#include "worker/run_internal.h"
#include "worker/spool.h"
#include "worker/uploader.h"

extern char **environ;

/* A line of the plugins log. Called on the driver's thread, or on this one
 * before the driver runs or after it ended: never both at once. */
static void push_plugins_line(run_ctx *c, const char *text, size_t len, bool continued)
{
    ls_line line = {
        .seq = c->plugins_seq,
        .ts_ms = ls_now_ms(),
        .stream = 'o',
        .continued = continued,
        .len = (uint32_t)len,
        .text = text,
    };
    if (ls_upload_stream_push(c->plugins_up, &line) == 0)
        c->plugins_seq++;
}

static void on_plugin_output(void *userdata, const char *text, size_t len, bool continued)
{
    ls_run_forward_watch(userdata, text, len, continued);
    push_plugins_line(userdata, text, len, continued);
}

static void __attribute__((format(printf, 2, 3))) plugins_notice(run_ctx *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "logstream: %s\n", msg);
    push_plugins_line(c, msg, strlen(msg), false);
}

static int plugins_number(const run_ctx *c)
{
    return (int)(c->pipeline->n_steps + c->pipeline->n_services + 1);
}

/* The job context, line 1 of the host's input (docs/plugins.md). Variable
 * values go through the masker: a pipeline value may hold a secret's text. */
static char *plugin_context_json(run_ctx *c, const char *nonce)
{
    const ls_pipeline *p = c->pipeline;
    json_t *vars = json_object();
    ls_buf masked = LS_BUF_INIT;
    for (size_t i = 0; i < p->n_env; i++) {
        ls_buf_reset(&masked);
        ls_masker_apply(c->masker, p->env[i].value, strlen(p->env[i].value), &masked);
        json_object_set_new(vars, p->env[i].key,
                            json_stringn(masked.data ? masked.data : "", masked.len));
    }
    ls_buf_free(&masked);
    json_t *steps = json_array();
    for (size_t i = 0; i < p->n_steps; i++)
        json_array_append_new(steps,
                              json_pack("{s:i, s:s}", "id", (int)i + 1, "name", p->steps[i].name));
    for (size_t i = 0; i < p->n_services; i++)
        json_array_append_new(steps, json_pack("{s:i, s:s}", "id", (int)(p->n_steps + i + 1),
                                               "name", p->services[i].name));
    json_t *server = json_pack("{s:s}", "url", c->f.server);
    const char *token = c->upload_token ? c->upload_token : c->f.token;
    if (token)
        json_object_set_new(server, "token", json_string(token));
    char build_id[32];
    snprintf(build_id, sizeof(build_id), "%lld", c->build_id);
    json_t *ctx = json_pack("{s:s, s:o, s:s, s:s, s:o, s:o, s:o}", "build_id", build_id, "server",
                            server, "temp_dir", c->job_temp_dir, "finish_nonce", nonce, "variables",
                            vars, "steps", steps, "plugins", json_loads(c->plugins_json, 0, NULL));
    char *text = ctx ? json_dumps(ctx, JSON_COMPACT) : NULL;
    json_decref(ctx);
    if (!text)
        abort();
    return text;
}

/* The worker's environment without the secrets the steps get and without
 * the worker's own token: a plugin sees neither. */
static char **plugin_host_env(const run_ctx *c)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = ls_xcalloc(n + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        bool drop =
            len == strlen("LOGSTREAM_TOKEN") && !strncmp(environ[i], "LOGSTREAM_TOKEN", len);
        for (size_t s = 0; s < c->n_secrets && !drop; s++)
            drop =
                strlen(c->secret_names[s]) == len && !strncmp(environ[i], c->secret_names[s], len);
        if (!drop)
            env[k++] = environ[i];
    }
    return env;
}

static int make_job_temp_dir(run_ctx *c)
{
    const char *tmp = getenv("TMPDIR");
    char templ[4096];
    snprintf(templ, sizeof(templ), "%s/logstream-job-%lld-XXXXXX", tmp && *tmp ? tmp : "/tmp",
             c->build_id);
    if (!mkdtemp(templ))
        return -errno;
    c->job_temp_dir = ls_xstrdup(templ);
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* The plugins' temp directory holds transient files only (plugin.h): it goes
 * with the build, like the spool. */
void ls_run_plugins_remove_temp_dir(run_ctx *c)
{
    if (c->job_temp_dir)
        nftw(c->job_temp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(c->job_temp_dir);
    c->job_temp_dir = NULL;
}

/* Opens the plugins log and starts the plugin host beside the build. A host
 * that cannot start is reported in that log; the build goes on. */
void ls_run_plugins_start(run_ctx *c)
{
    if (!c->plugins_json)
        return;
    int number = plugins_number(c);
    ls_spool *spool;
    int r = ls_run_open_spool(c, number, "; plugins are off", &spool);
    if (r < 0) {
        ls_run_patch_step(c, number, "failure", -1);
        return;
    }
    ls_uploader_open_stream(c->uploader, c->build_id, number, spool, &c->plugins_up);
    c->plugins_seq = 1;
    ls_run_patch_step(c, number, "running", -1);

    unsigned char raw[16];
    char nonce[2 * sizeof(raw) + 1];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        for (size_t i = 0; i < sizeof(raw); i++) /* never expected: still unique enough */
            raw[i] = (unsigned char)(ls_mono_ms() >> (i % 8) ^ getpid() ^ (int)i * 131);
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(nonce + 2 * i, 3, "%02x", raw[i]);
    r = make_job_temp_dir(c);
    if (r < 0) {
        plugins_notice(c,
                       "cannot create a temporary directory for the plugins: %s; plugins are "
                       "off for this build",
                       strerror(-r));
        return;
    }
    char *context = plugin_context_json(c, nonce);
    char **env = plugin_host_env(c);
    char nice[16];
    snprintf(nice, sizeof(nice), "%lld", (long long)c->f.plugin_nice);
    char *argv[] = {
        "logstream",     "plugin-host", "--nice", nice, c->f.plugin_dir ? "--plugin-dir" : NULL,
        c->f.plugin_dir, NULL};
    ls_plugin_driver_options o = {
        .exe = "/proc/self/exe",
        .argv = argv,
        .envp = env,
        .context_json = context,
        .finish_nonce = nonce,
        .max_queue = (size_t)c->f.plugin_queue,
        .spill_dir = c->f.plugin_spill > 0 ? c->spool_dir : NULL,
        .max_spill = (uint64_t)c->f.plugin_spill,
        .max_line = (size_t)c->f.max_line,
        .on_output = on_plugin_output,
        .userdata = c,
        .host_diag_fd = c->plugin_diag_fd,
        .diag_prefix = "logstream: ", /* the host says "plugin-host: " itself */
        .nice = (int)c->f.plugin_nice,
    };
    r = ls_plugin_driver_start(&o, &c->plugins);
    if (r < 0) {
        c->plugins = NULL;
        plugins_notice(c, "cannot start the plugin host: %s; plugins are off for this build",
                       strerror(-r));
    }
    free(env);
    free(context);
}

/* After the steps: the finish line (none when canceled), then waits for the
 * host up to --plugin-finish-timeout while its output still streams, and
 * closes the plugins log. The build's result does not depend on it. */
void ls_run_plugins_finish(run_ctx *c)
{
    if (!c->plugins_up)
        return;
    const char *status = "failure";
    int code = -1;
    if (c->plugins) {
        bool canceled = ls_run_signals != 0;
        ls_plugin_driver_finish(c->plugins, !canceled);
        int64_t limit = canceled ? c->f.stop_grace : c->f.plugin_finish_timeout;
        int64_t deadline = ls_mono_ms() + limit;
        bool killed = false;
        for (;;) {
            int64_t until = ls_mono_ms() + 250;
            if (until > deadline && !killed)
                until = deadline;
            if (ls_plugin_driver_wait(c->plugins, until) == 0)
                break;
            if (!killed && (ls_mono_ms() >= deadline || ls_run_signals > 1)) {
                char msg[160];
                snprintf(msg, sizeof(msg), "plugin host did not finish within %.1fs; stopped it",
                         (double)limit / 1000.0);
                ls_plugin_driver_kill(
                    c->plugins, ls_run_signals > 1 ? "canceled; stopped the plugin host" : msg);
                killed = true;
            }
        }
        ls_plugin_driver_stats st;
        ls_plugin_driver_get_stats(c->plugins, &st);
        code = st.exit_code;
        status = canceled ? "canceled" : code == 0 && !st.crashed ? "success" : "failure";
        if (st.dropped)
            fprintf(stderr, "logstream: plugin host was behind: %llu lines not given to plugins\n",
                    (unsigned long long)st.dropped);
        ls_plugin_driver_free(c->plugins); /* the thread has ended: no more output */
        c->plugins = NULL;
        char why[128];
        if (canceled)
            snprintf(why, sizeof(why), "the build was canceled before the plugins finished");
        else if (st.crashed || code != 0)
            snprintf(why, sizeof(why), "the plugin host ended with status %d", code);
        else
            snprintf(why, sizeof(why), "forward did not confirm that every line was delivered");
        ls_run_forward_settle(c, why);
    }
    ls_run_forward_settle(c, "the plugin host has exited");
    char body[128];
    if (code >= 0)
        snprintf(body, sizeof(body), "{\"status\":\"%s\",\"exit_code\":%d}", status, code);
    else
        snprintf(body, sizeof(body), "{\"status\":\"%s\"}", status);
    ls_upload_stream_close(c->plugins_up, body);
    ls_run_plugins_remove_temp_dir(c);
}
