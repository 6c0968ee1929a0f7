/* `logstream run`: creates the build on the server, runs the services and the
 * steps on this host, masks and spools every line, hands it to the uploader,
 * and reports each step's result once the server holds all its lines. */
#include "worker/run.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/backoff.h"
#include "common/flags.h"
#include "common/timeutil.h"
#include "mask/masker.h"
#include "worker/api_client.h"
#include "worker/executor.h"
#include "worker/pipeline.h"
#include "worker/plugin_driver.h"
#include "worker/run_internal.h"
#include "worker/spool.h"
#include "worker/step_env.h"
#include "worker/uploader.h"

extern char **environ;

#define ADD_MASK "::add-mask::"

volatile sig_atomic_t ls_run_signals;

static void on_signal(int sig)
{
    (void)sig;
    ls_run_signals++;
}

static const ls_flag *flag_table(run_flags *f)
{
    static ls_flag flags[32];
    ls_flag t[] = {
        {"server", 0, LS_FLAG_STRING, &f->server, "http://127.0.0.1:8080", "server base URL"},
        {"token", 0, LS_FLAG_STRING, &f->token, NULL,
         "worker (or admin) API token, used to create the build; the uploads use the "
         "build's own upload token from the server's answer"},
        {"spool-dir", 0, LS_FLAG_STRING, &f->spool_dir, NULL,
         "where lines are kept until the server confirms them (default: a new directory "
         "under $TMPDIR or /tmp)"},
        {"transport", 0, LS_FLAG_STRING, &f->transport, "auto",
         "auto|stream|batch: auto streams and switches to batch when a stream stalls"},
        {"heartbeat", 0, LS_FLAG_DURATION, &f->heartbeat, "15s",
         "send a heartbeat record after this much silence"},
        {"rotate-age", 0, LS_FLAG_DURATION, &f->rotate_age, "5m",
         "end a stream request and start a new one after this long"},
        {"rotate-bytes", 0, LS_FLAG_SIZE, &f->rotate_bytes, "64MiB",
         "end a stream request and start a new one after this many bytes"},
        {"stall-timeout", 0, LS_FLAG_DURATION, &f->stall_timeout, "10s",
         "auto transport: switch to batch when sent lines stay unconfirmed this long"},
        {"batch-interval", 0, LS_FLAG_DURATION, &f->batch_interval, "1s",
         "batch transport: time between uploads"},
        {"batch-max-bytes", 0, LS_FLAG_SIZE, &f->batch_max_bytes, "1MiB",
         "batch transport: body limit of one upload"},
        {"backoff-base", 0, LS_FLAG_DURATION, &f->backoff_base, "100ms",
         "first delay before retrying a failed upload"},
        {"backoff-max", 0, LS_FLAG_DURATION, &f->backoff_max, "5s",
         "longest delay between upload retries"},
        {"max-line", 0, LS_FLAG_SIZE, &f->max_line, "64KiB",
         "longer lines are split and marked continued"},
        {"idle-flush", 0, LS_FLAG_DURATION, &f->idle_flush, "200ms",
         "send a partial line (no newline yet) after this much silence"},
        {"flood-pace-us", 0, LS_FLAG_INT, &f->flood_pace_us, "300",
         "while a step prints over 64 KiB between two reads, read its output every N "
         "microseconds instead of on each write, so that the step keeps its CPU (its lines "
         "wait at most N us longer); 0..10000, 0 = read on each write"},
        {"min-secret-length", 0, LS_FLAG_INT, &f->min_secret_length, "4",
         "shorter secrets cannot be masked safely and are refused"},
        {"upload-deadline", 0, LS_FLAG_DURATION, &f->upload_deadline, "10m",
         "after the last step, how long to keep retrying uploads before giving up"},
        {"create-timeout", 0, LS_FLAG_DURATION, &f->create_timeout, "30s",
         "how long to retry creating the build when the server cannot be reached"},
        {"request-timeout", 0, LS_FLAG_DURATION, &f->request_timeout, "30s",
         "time limit of one API request (not of a stream)"},
        {"stop-grace", 0, LS_FLAG_DURATION, &f->stop_grace, "10s",
         "SIGTERM to SIGKILL delay when stopping services or canceled steps"},
        {"no-plugins", 0, LS_FLAG_BOOL, &f->no_plugins, NULL,
         "do not start the plugin host (no log plugins, no plugins log)"},
        {"plugin", 0, LS_FLAG_STRING, &f->plugin, NULL,
         "run this log plugin whatever the pipeline says (comma list; repeatable)"},
        {"disable-plugin", 0, LS_FLAG_STRING, &f->disable_plugin, NULL,
         "do not run this log plugin (comma list; repeatable)"},
        {"plugin-dir", 0, LS_FLAG_STRING, &f->plugin_dir, NULL,
         "directory of third-party log plugins (*.so), passed to the plugin host"},
        {"upload-nice", 0, LS_FLAG_INT, &f->upload_nice, "10",
         "nice value added to the upload thread, so that on a busy machine the steps get the "
         "CPU first and the upload catches up after (it never drops a line: the spool holds "
         "them); 0..19, 0 = the steps' priority"},
        {"plugin-nice", 0, LS_FLAG_INT, &f->plugin_nice, "13",
         "nice value added to the plugin host (and the thread that feeds it), so that the "
         "steps get the CPU first and the plugins catch up after, losing no line (their "
         "queues spill to disk); 0..19, 0 = the steps' priority"},
        {"plugin-queue", 0, LS_FLAG_SIZE, &f->plugin_queue, "1MiB",
         "bytes of lines waiting for the plugin host in memory; beyond it they wait in a "
         "file in the spool directory (the steps never wait)"},
        {"plugin-spill", 0, LS_FLAG_SIZE, &f->plugin_spill, "1GiB",
         "bytes of lines waiting for the plugin host in that file; beyond it lines are not "
         "given to plugins (0 = no file: beyond --plugin-queue)"},
        {"plugin-finish-timeout", 0, LS_FLAG_DURATION, &f->plugin_finish_timeout, "90s",
         "after the last step, how long the plugins may take to finish"},
        {"forward-keep-bytes", 0, LS_FLAG_SIZE, &f->forward_keep_bytes, "100MiB",
         "forward's replace_log: bytes of a step's masked lines kept on this host until the "
         "plugin confirms their delivery; a larger log is stored on the server after all (as "
         "the server's --max-step-bytes default)"},
        {"plugin-diagnostics", 0, LS_FLAG_STRING, &f->plugin_diagnostics, NULL,
         "where the plugin host's diagnostics (\"plugin-host: ...\" lines, for plugin "
         "developers) go: a file (appended), or - for stderr; default: nowhere"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    memcpy(flags, t, sizeof(t));
    return flags;
}

static void notice_to_stderr(void *userdata, const char *message)
{
    (void)userdata;
    fprintf(stderr, "logstream: %s\n", message);
}

/* ---- secrets ---- */

static bool secret_known(const run_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->n_secrets; i++) {
        if (strcmp(c->secret_names[i], name) == 0)
            return true;
    }
    return false;
}

/* Takes the secrets of every step and service from the worker's environment
 * and adds them to the masker; a missing or too short secret is an error. */
static int resolve_secrets_of(run_ctx *c, const ls_pipeline_step *steps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < steps[i].n_secrets; k++) {
            const char *name = steps[i].secrets[k];
            if (secret_known(c, name))
                continue;
            const char *value = getenv(name);
            if (!value) {
                fprintf(stderr,
                        "logstream: %s '%s' needs the secret %s, which is not set in the "
                        "worker's environment; export it before running\n",
                        steps[i].service ? "service" : "step", steps[i].name, name);
                return -ENOENT;
            }
            if (ls_masker_add(c->masker, value, strlen(value)) < 0) {
                fprintf(stderr,
                        "logstream: secret %s is shorter than %lld bytes and cannot be masked "
                        "safely; use a longer secret or lower --min-secret-length\n",
                        name, (long long)c->f.min_secret_length);
                return -EINVAL;
            }
            c->secret_names = ls_xreallocarray(c->secret_names, c->n_secrets + 1, sizeof(char *));
            c->secret_values = ls_xreallocarray(c->secret_values, c->n_secrets + 1, sizeof(char *));
            c->secret_names[c->n_secrets] = ls_xstrdup(name);
            c->secret_values[c->n_secrets] = ls_xstrdup(value);
            c->n_secrets++;
        }
    }
    return 0;
}

static const char *secret_value(const run_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->n_secrets; i++) {
        if (strcmp(c->secret_names[i], name) == 0)
            return c->secret_values[i];
    }
    return NULL;
}

/* ---- lines ---- */

/* "::add-mask::VALUE" registers VALUE as a secret; the line keeps only
 * "::add-mask::***". Returns true when the line was such a command. */
static bool handle_add_mask(run_stream *rs, const char *text, size_t len)
{
    size_t plen = strlen(ADD_MASK);
    if (rs->prev_continued || len < plen || memcmp(text, ADD_MASK, plen) != 0)
        return false;
    const char *value = text + plen;
    size_t vlen = len - plen;
    while (vlen > 0 && (value[vlen - 1] == '\r' || value[vlen - 1] == ' '))
        vlen--;
    if (vlen > 0 && ls_masker_add(rs->ctx->masker, value, vlen) < 0)
        fprintf(stderr,
                "logstream: %s: a value given to ::add-mask:: is shorter than %lld bytes and "
                "cannot be masked safely; it was not added\n",
                rs->step->name, (long long)rs->ctx->f.min_secret_length);
    return true;
}

static void on_line(void *userdata, char stream, const char *text, size_t len, bool continued,
                    int64_t ts_ms)
{
    run_stream *rs = userdata;
    run_ctx *c = rs->ctx;
    ls_buf_reset(&c->scratch);
    if (handle_add_mask(rs, text, len) && !continued) {
        text = ADD_MASK "***";
        len = strlen(text);
    }
    /* Without secrets (the common case) the line needs no masked copy. */
    if (ls_masker_count(c->masker) > 0) {
        ls_masker_apply(c->masker, text, len, &c->scratch);
        text = c->scratch.data ? c->scratch.data : "";
        len = c->scratch.len;
    }
    rs->prev_continued = continued;
    ls_line line = {
        .seq = rs->next_seq,
        .ts_ms = ts_ms,
        .stream = stream,
        .continued = continued,
        .len = (uint32_t)len,
        .text = len ? text : "",
    };
    int fed = -EPIPE;
    if (c->plugins) {
        if (!c->plugins_held) {
            ls_plugin_driver_hold(c->plugins); /* let go in lines_end */
            c->plugins_held = true;
        }
        fed = ls_plugin_driver_feed(c->plugins, rs->plugin_id, line.text, line.len);
    }
    if (rs->forward_notice && !rs->fw_fallen) {
        const char *why = ls_run_forward_keep(rs, &line, fed);
        if (!why)
            return; /* the forward plugin takes it; the server has the notice */
        ls_run_forward_fallback(rs, why);
        line.seq = rs->next_seq;
    }
    /* The lines of one read go under one lock, let go in lines_end. */
    if (!rs->up_held) {
        ls_upload_stream_hold(rs->up);
        rs->up_held = true;
    }
    ls_run_push_line(rs, &line);
}

static void lines_end(void *userdata)
{
    run_stream *rs = userdata;
    if (rs->up_held) {
        rs->up_held = false;
        ls_upload_stream_release(rs->up);
    }
    if (rs->ctx->plugins_held) {
        rs->ctx->plugins_held = false;
        ls_plugin_driver_release(rs->ctx->plugins);
    }
}

/* The executor cuts a line only where no secret is split (issue 5). A line
 * that starts as "::add-mask::" is held whole: cut, only the first piece of
 * its value would become a secret and the rest would be shown. */
static size_t hold_back(void *userdata, const char *text, size_t len, size_t max_hold)
{
    run_stream *rs = userdata;
    size_t plen = strlen(ADD_MASK);
    if (!rs->prev_continued && memcmp(text, ADD_MASK, len < plen ? len : plen) == 0)
        return max_hold;
    return ls_masker_hold_back(rs->ctx->masker, text, len, max_hold);
}

/* Hands a line to the upload stream (spool first). */
void ls_run_push_line(run_stream *rs, const ls_line *line)
{
    run_ctx *c = rs->ctx;
    int r = ls_upload_stream_push(rs->up, line);
    if (r < 0) {
        if (!c->spool_error)
            fprintf(stderr, "logstream: cannot write the spool in %s: %s; lines are lost\n",
                    c->spool_dir, strerror(-r));
        c->spool_error = true;
        return;
    }
    rs->next_seq++;
}

/* ---- server calls ---- */

static char *build_request_json(const ls_pipeline *p, bool plugins)
{
    json_t *steps = json_array();
    for (size_t i = 0; i < p->n_steps; i++)
        json_array_append_new(steps,
                              json_pack("{s:s, s:s}", "name", p->steps[i].name, "kind", "step"));
    for (size_t i = 0; i < p->n_services; i++)
        json_array_append_new(
            steps, json_pack("{s:s, s:s}", "name", p->services[i].name, "kind", "service"));
    if (plugins) /* the plugin host's output, numbered after the services */
        json_array_append_new(steps, json_pack("{s:s, s:s}", "name", "plugins", "kind", "plugins"));
    json_t *body = json_pack("{s:s, s:o}", "name", p->name ? p->name : "build", "steps", steps);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        abort();
    return text;
}

/* POST /api/v1/builds, retrying unreachable servers for --create-timeout.
 * Prints "build ID URL" on success. */
static int create_build(run_ctx *c)
{
    ls_api_client api = {c->f.server, c->f.token, c->f.request_timeout};
    char *body = build_request_json(c->pipeline, c->plugins_json != NULL);
    ls_backoff b;
    ls_backoff_init(&b, c->f.backoff_base, c->f.backoff_max, 0);
    int64_t deadline = ls_mono_ms() + c->f.create_timeout;
    int r;
    for (;;) {
        char err[512];
        long status = 0;
        json_t *answer = NULL;
        r = ls_api_call(&api, "POST", "/api/v1/builds", body, &status, &answer, err, sizeof(err));
        if (r == 0 && status == 201 && json_is_integer(json_object_get(answer, "id"))) {
            c->build_id = (long long)json_integer_value(json_object_get(answer, "id"));
            const char *url = json_string_value(json_object_get(answer, "url"));
            const char *upload = json_string_value(json_object_get(answer, "upload_token"));
            c->upload_token = ls_xstrdup(upload);
            printf("build %lld %s\n", c->build_id, url ? url : "");
            fflush(stdout);
            json_decref(answer);
            break;
        }
        if (r == 0 && status < 500) {
            const char *msg = json_string_value(json_object_get(answer, "error"));
            fprintf(stderr,
                    "logstream: the server at %s refused to create the build: HTTP %ld%s%s\n",
                    c->f.server, status, msg ? ": " : "", msg ? msg : "");
            if (status == 401 || status == 403)
                fprintf(stderr, "logstream: give a worker token with --token or LOGSTREAM_TOKEN "
                                "(an admin makes one with POST /api/v1/tokens)\n");
            json_decref(answer);
            r = -EPROTO;
            break;
        }
        json_decref(answer);
        if (r == 0)
            snprintf(err, sizeof(err), "HTTP %ld", status);
        int64_t delay = ls_backoff_next(&b);
        if (ls_mono_ms() + delay > deadline || ls_run_signals) {
            fprintf(stderr, "logstream: cannot create the build on %s: %s\n", c->f.server, err);
            r = -EIO;
            break;
        }
        usleep((useconds_t)delay * 1000);
    }
    free(body);
    return r;
}

void ls_run_patch_step(run_ctx *c, int number, const char *status, int exit_code)
{
    char path[128], body[128];
    snprintf(path, sizeof(path), "/api/v1/builds/%lld/steps/%d", c->build_id, number);
    if (exit_code >= 0)
        snprintf(body, sizeof(body), "{\"status\":\"%s\",\"exit_code\":%d}", status, exit_code);
    else
        snprintf(body, sizeof(body), "{\"status\":\"%s\"}", status);
    ls_uploader_request(c->uploader, "PATCH", path, body);
}

static void patch_build(run_ctx *c, const char *status)
{
    char path[128], body[64];
    snprintf(path, sizeof(path), "/api/v1/builds/%lld", c->build_id);
    snprintf(body, sizeof(body), "{\"status\":\"%s\"}", status);
    ls_uploader_request(c->uploader, "PATCH", path, body);
}

/* ---- processes ---- */

static void build_env(run_ctx *c, const ls_pipeline_step *step, ls_env *env)
{
    ls_env_init(env, environ);
    for (size_t i = 0; i < c->pipeline->n_env; i++)
        ls_env_set(env, c->pipeline->env[i].key, c->pipeline->env[i].value);
    for (size_t i = 0; i < step->n_env; i++)
        ls_env_set(env, step->env[i].key, step->env[i].value);
    for (size_t i = 0; i < step->n_secrets; i++)
        ls_env_set(env, step->secrets[i], secret_value(c, step->secrets[i]));
}

int ls_run_open_spool(run_ctx *c, int number, const char *then, ls_spool **ret)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/build-%lld-step-%d.spool", c->spool_dir, c->build_id, number);
    ls_spool_options so = {.max_line = (size_t)c->f.max_line};
    int r = ls_spool_open(path, &so, ret);
    if (r < 0)
        fprintf(stderr, "logstream: cannot create the spool file %s: %s%s\n", path, strerror(-r),
                then);
    return r;
}

/* Opens the spool and the upload stream, marks the step running, starts it. */
static int start_stream(run_ctx *c, run_stream *rs, const ls_pipeline_step *step, int number)
{
    *rs = (run_stream){.ctx = c, .step = step, .number = number, .next_seq = 1};
    snprintf(rs->plugin_id, sizeof(rs->plugin_id), "%d", number);
    ls_spool *spool;
    int r = ls_run_open_spool(c, number, "", &spool);
    if (r < 0)
        return r;
    ls_uploader_open_stream(c->uploader, c->build_id, number, spool, &rs->up);
    ls_run_patch_step(c, number, "running", -1);
    ls_run_forward_start(rs);

    ls_buf script = LS_BUF_INIT;
    ls_script_build(step, &script);
    ls_env env;
    build_env(c, step, &env);
    ls_proc_options po = {
        .script = script.data ? script.data : "",
        .env = env.vars,
        .tty = step->tty,
        .max_line = (size_t)c->f.max_line,
        .idle_flush_ms = c->f.idle_flush,
        .flood_pace_us = c->f.flood_pace_us > 0 ? c->f.flood_pace_us : -1,
        .timeout_ms = step->timeout_ms,
        .on_line = on_line,
        .hold_back = hold_back,
        .lines_end = lines_end,
        .userdata = rs,
        .kill_grace_ms = c->f.stop_grace,
    };
    rs->started_mono = ls_mono_ms();
    r = ls_proc_start(&po, &rs->proc);
    ls_env_free(&env);
    ls_buf_free(&script);
    if (r < 0) {
        fprintf(stderr, "logstream: %s: cannot start /bin/sh: %s\n", step->name, strerror(-r));
        rs->proc = NULL;
    }
    return 0;
}

/* Closes the stream; the uploader PATCHes status once every line is in. */
static void close_stream(run_stream *rs, const char *status, int exit_code)
{
    char body[128];
    snprintf(body, sizeof(body), "{\"status\":\"%s\",\"exit_code\":%d}", status, exit_code);
    if (!ls_run_forward_end(rs, body))
        ls_upload_stream_close(rs->up, body);
    rs->closed = true;
}

static const char *service_status(const run_stream *rs, int code)
{
    if (ls_run_signals)
        return "canceled";
    return rs->stopped || code == 0 ? "success" : "failure";
}

/* Closes the streams of services that have ended. */
static void reap_services(run_ctx *c)
{
    for (size_t i = 0; i < c->n_services; i++) {
        run_stream *rs = &c->services[i];
        if (rs->closed || (rs->proc && !ls_proc_done(rs->proc)))
            continue;
        int code = rs->proc ? ls_proc_exit_code(rs->proc) : 127;
        const char *status = service_status(rs, code);
        fprintf(stderr, "[service] %s: %s (exit %d)\n", rs->step->name, status, code);
        close_stream(rs, status, code);
    }
}

/* Polls the given process together with the running services. */
static void poll_with_services(run_ctx *c, ls_proc *main_proc)
{
    ls_proc *procs[1 + c->n_services];
    size_t n = 0;
    if (main_proc)
        procs[n++] = main_proc;
    for (size_t i = 0; i < c->n_services; i++) {
        if (c->services[i].proc && !ls_proc_done(c->services[i].proc))
            procs[n++] = c->services[i].proc;
    }
    if (n > 0)
        ls_proc_poll(procs, n, 250);
    reap_services(c);
}

static void start_services(run_ctx *c)
{
    const ls_pipeline *p = c->pipeline;
    c->n_services = p->n_services;
    c->services = ls_xcalloc(p->n_services ? p->n_services : 1, sizeof(run_stream));
    for (size_t i = 0; i < p->n_services; i++) {
        int number = (int)(p->n_steps + i + 1);
        if (start_stream(c, &c->services[i], &p->services[i], number) < 0) {
            c->services[i].closed = true;
            continue;
        }
        fprintf(stderr, "[service] %s: running\n", p->services[i].name);
    }
}

static void stop_services(run_ctx *c)
{
    for (size_t i = 0; i < c->n_services; i++) {
        run_stream *rs = &c->services[i];
        if (rs->proc && !ls_proc_done(rs->proc)) {
            rs->stopped = true;
            ls_proc_stop(rs->proc, c->f.stop_grace);
        }
    }
    for (;;) {
        reap_services(c);
        bool open = false;
        for (size_t i = 0; i < c->n_services; i++)
            open |= !c->services[i].closed;
        if (!open)
            break;
        poll_with_services(c, NULL);
    }
}

/* Runs one step to its end. Returns its exit code (-1 when it could not run). */
static int run_step(run_ctx *c, size_t index, const char **ret_status)
{
    const ls_pipeline_step *step = &c->pipeline->steps[index];
    size_t total = c->pipeline->n_steps;
    run_stream rs;
    if (start_stream(c, &rs, step, (int)index + 1) < 0) {
        ls_run_patch_step(c, (int)index + 1, "failure", -1);
        *ret_status = "failure";
        return -1;
    }
    fprintf(stderr, "[%zu/%zu] %s: running\n", index + 1, total, step->name);
    bool stop_sent = false;
    while (rs.proc && !ls_proc_done(rs.proc)) {
        poll_with_services(c, rs.proc);
        if (ls_run_signals && !stop_sent) {
            ls_proc_stop(rs.proc, c->f.stop_grace);
            stop_sent = true;
        }
    }
    int code = rs.proc ? ls_proc_exit_code(rs.proc) : 127;
    const char *status = ls_run_signals ? "canceled" : code == 0 ? "success" : "failure";
    close_stream(&rs, status, code);
    double secs = (double)(ls_mono_ms() - rs.started_mono) / 1000.0;
    fprintf(stderr, "[%zu/%zu] %s: %s (exit %d%s, %.1fs)\n", index + 1, total, step->name, status,
            code, rs.proc && ls_proc_timed_out(rs.proc) ? ", timed out" : "", secs);
    ls_proc_free(rs.proc);
    *ret_status = status;
    return code;
}

/* "--plugin a --plugin b,c" -> "a,b,c": ls_flags keeps only the last value
 * of a flag, these two may be repeated. NULL when the flag is not given. */
static char *collect_list_flag(int argc, char **argv, const char *name)
{
    ls_buf b = LS_BUF_INIT;
    size_t nlen = strlen(name);
    bool found = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--"))
            break;
        if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, nlen) != 0)
            continue;
        const char *v = NULL;
        if (a[2 + nlen] == '=')
            v = a + 3 + nlen;
        else if (a[2 + nlen] == '\0' && i + 1 < argc)
            v = argv[++i];
        if (!v)
            continue;
        if (found)
            ls_buf_putc(&b, ',');
        ls_buf_puts(&b, v);
        found = true;
    }
    if (!found) {
        ls_buf_free(&b);
        return NULL;
    }
    ls_buf_putc(&b, '\0');
    return ls_buf_steal(&b);
}

/* ---- setup and teardown ---- */

static int make_spool_dir(run_ctx *c)
{
    if (c->f.spool_dir && *c->f.spool_dir) {
        if (mkdir(c->f.spool_dir, 0700) < 0 && errno != EEXIST) {
            fprintf(stderr, "logstream: cannot create --spool-dir %s: %s\n", c->f.spool_dir,
                    strerror(errno));
            return -errno;
        }
        c->spool_dir = ls_xstrdup(c->f.spool_dir);
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    char templ[4096];
    snprintf(templ, sizeof(templ), "%s/logstream-spool-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(templ)) {
        fprintf(stderr, "logstream: cannot create a spool directory in %s: %s\n",
                tmp && *tmp ? tmp : "/tmp", strerror(errno));
        return -errno;
    }
    c->spool_dir = ls_xstrdup(templ);
    c->spool_dir_created = true;
    return 0;
}

static void note_images(const ls_pipeline_step *steps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (steps[i].image)
            fprintf(stderr,
                    "logstream: note: %s '%s' sets image: %s, which is ignored (steps run on "
                    "the host shell)\n",
                    steps[i].service ? "service" : "step", steps[i].name, steps[i].image);
    }
}

static int parse_flags(run_ctx *c, int argc, char **argv, const char **ret_file)
{
    const ls_flag *flags = flag_table(&c->f);
    const char *pos[2];
    int npos = 0;
    char err[512];
    const char *synopsis = "PIPELINE.yml [--server URL] [FLAGS]";
    int r = ls_flags_parse(flags, argc, argv, pos, 2, &npos, err, sizeof(err));
    if (r == -EAGAIN) {
        ls_flags_usage(stdout, "run", synopsis, flags);
        return 1;
    }
    if (r < 0) {
        fprintf(stderr, "logstream run: %s\n", err);
        return -EINVAL;
    }
    if (npos != 1) {
        fprintf(stderr, "logstream run: expected one pipeline file, got %d\n", npos);
        ls_flags_usage(stderr, "run", synopsis, flags);
        return -EINVAL;
    }
    const char *list_flags[] = {"plugin", "disable-plugin"};
    char **list_targets[] = {&c->f.plugin, &c->f.disable_plugin};
    for (size_t i = 0; i < 2; i++) {
        char *all = collect_list_flag(argc, argv, list_flags[i]);
        if (all) {
            free(*list_targets[i]);
            *list_targets[i] = all;
        }
    }
    c->plugin_diag_fd = -1;
    const char *pd = c->f.plugin_diagnostics;
    if (pd && !strcmp(pd, "-")) {
        c->plugin_diag_fd = 2;
    } else if (pd && *pd) {
        c->plugin_diag_fd = open(pd, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (c->plugin_diag_fd < 0) {
            fprintf(stderr, "logstream run: --plugin-diagnostics: cannot open %s: %s\n", pd,
                    strerror(errno));
            return -EINVAL;
        }
    }
    if (c->f.upload_nice < 0 || c->f.upload_nice > 19 || c->f.plugin_nice < 0 ||
        c->f.plugin_nice > 19) {
        fprintf(stderr, "logstream run: --upload-nice and --plugin-nice must be 0..19\n");
        return -EINVAL;
    }
    if (c->f.flood_pace_us < 0 || c->f.flood_pace_us > 10000) {
        fprintf(stderr, "logstream run: --flood-pace-us must be 0..10000\n");
        return -EINVAL;
    }
    if (c->f.plugin_queue < 1) {
        fprintf(stderr, "logstream run: --plugin-queue must be at least 1 byte\n");
        return -EINVAL;
    }
    ls_transport t;
    if (ls_transport_parse(c->f.transport, &t) < 0) {
        fprintf(stderr, "logstream run: --transport must be auto, stream or batch, not '%s'\n",
                c->f.transport);
        return -EINVAL;
    }
    if (c->f.max_line < 1 || c->f.min_secret_length < 1) {
        fprintf(stderr, "logstream run: --max-line and --min-secret-length must be at least 1\n");
        return -EINVAL;
    }
    *ret_file = pos[0];
    return 0;
}

static int start_uploader(run_ctx *c)
{
    ls_transport t = LS_TRANSPORT_AUTO;
    ls_transport_parse(c->f.transport, &t);
    ls_uploader_options o = {
        .server = c->f.server,
        .token = c->upload_token ? c->upload_token : c->f.token,
        .transport = t,
        .heartbeat_ms = c->f.heartbeat,
        .rotate_age_ms = c->f.rotate_age,
        .rotate_bytes = c->f.rotate_bytes,
        .stall_timeout_ms = c->f.stall_timeout,
        .batch_interval_ms = c->f.batch_interval,
        .batch_max_bytes = c->f.batch_max_bytes,
        .backoff_base_ms = c->f.backoff_base,
        .backoff_max_ms = c->f.backoff_max,
        .request_timeout_ms = c->f.request_timeout,
        .nice = (int)c->f.upload_nice,
        .notice = notice_to_stderr,
    };
    int r = ls_uploader_new(&o, &c->uploader);
    if (r < 0)
        fprintf(stderr, "logstream: cannot start the uploader: %s\n", strerror(-r));
    return r;
}

/* Waits for the uploads, in steps so a second Ctrl-C can cut the wait. */
static int drain_uploads(run_ctx *c, int64_t deadline)
{
    for (;;) {
        int64_t until = ls_mono_ms() + 250;
        if (until > deadline)
            until = deadline;
        if (ls_uploader_drain(c->uploader, until) == 0)
            return 0;
        if (ls_mono_ms() >= deadline || ls_run_signals > 1)
            return -ETIMEDOUT;
    }
}

static void install_signals(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Runs the steps in order; after a failure the rest are canceled. */
static bool run_steps(run_ctx *c)
{
    bool failed = false;
    for (size_t i = 0; i < c->pipeline->n_steps; i++) {
        if (failed || ls_run_signals) {
            ls_run_patch_step(c, (int)i + 1, "canceled", -1);
            fprintf(stderr, "[%zu/%zu] %s: canceled\n", i + 1, c->pipeline->n_steps,
                    c->pipeline->steps[i].name);
            continue;
        }
        const char *status;
        int code = run_step(c, i, &status);
        if (code != 0 && !c->pipeline->steps[i].continue_on_failure)
            failed = true;
    }
    return !failed;
}

/* Everything after the build exists on the server. Returns the exit code. */
static int run_build(run_ctx *c)
{
    patch_build(c, "running");
    ls_run_plugins_start(c);
    start_services(c);
    bool ok = run_steps(c);
    stop_services(c);
    ls_run_plugins_finish(c);
    const char *status = ls_run_signals ? "canceled" : ok ? "success" : "failure";

    int64_t deadline = ls_mono_ms() + c->f.upload_deadline;
    int r = drain_uploads(c, deadline);
    if (r == 0) {
        patch_build(c, status);
        r = drain_uploads(c, deadline);
    }
    ls_uploader_stats st;
    ls_uploader_get_stats(c->uploader, &st);
    fprintf(stderr, "logstream: build %lld %s\n", c->build_id, status);
    if (r < 0 || st.failed > 0 || c->spool_error) {
        fprintf(stderr,
                "logstream: not every log line reached the server (%zu of %zu logs confirmed); "
                "the spool is kept in %s\n",
                st.confirmed, st.streams, c->spool_dir);
        return 1;
    }
    return strcmp(status, "success") == 0 ? 0 : 1;
}

static void ctx_free(run_ctx *c)
{
    ls_plugin_driver_free(c->plugins); /* only when a signal cut the build short */
    ls_uploader_free(c->uploader);
    free(c->plugins_json);
    ls_run_plugins_remove_temp_dir(c);
    for (size_t i = 0; i < c->n_services; i++)
        ls_proc_free(c->services[i].proc);
    free(c->services);
    ls_masker_free(c->masker);
    for (size_t i = 0; i < c->n_secrets; i++) {
        free(c->secret_names[i]);
        free(c->secret_values[i]);
    }
    free(c->secret_names);
    free(c->secret_values);
    ls_pipeline_free(c->pipeline);
    ls_buf_free(&c->scratch);
    ls_buf_free(&c->fw_confirmed);
    if (c->plugin_diag_fd > 2)
        close(c->plugin_diag_fd);
    if (c->spool_dir_created)
        rmdir(c->spool_dir); /* only succeeds when every spool was confirmed and removed */
    free(c->spool_dir);
    free(c->upload_token);
    ls_flags_free(flag_table(&c->f));
}

int ls_run_main(int argc, char **argv)
{
    run_ctx c = {0};
    const char *file = NULL;
    int code = 2;
    int r = parse_flags(&c, argc, argv, &file);
    if (r != 0) {
        code = r > 0 ? 0 : 2;
        goto out;
    }
    /* the steps inherit our environment: they must not get the API token */
    unsetenv("LOGSTREAM_TOKEN");
    char err[1024];
    if (ls_pipeline_load(file, &c.pipeline, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    ls_plugin_flags pf = {c.f.no_plugins, c.f.plugin, c.f.disable_plugin};
    if (ls_plugin_select(&c.pipeline->plugins, &pf, &c.plugins_json, err, sizeof(err)) < 0) {
        fprintf(stderr, "logstream run: %s\n", err);
        goto out;
    }
    note_images(c.pipeline->steps, c.pipeline->n_steps);
    note_images(c.pipeline->services, c.pipeline->n_services);
    c.masker = ls_masker_new((size_t)c.f.min_secret_length);
    if (resolve_secrets_of(&c, c.pipeline->steps, c.pipeline->n_steps) < 0 ||
        resolve_secrets_of(&c, c.pipeline->services, c.pipeline->n_services) < 0)
        goto out;
    code = 1;
    if (make_spool_dir(&c) < 0)
        goto out;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    install_signals();
    if (create_build(&c) < 0 || start_uploader(&c) < 0)
        goto out;
    code = run_build(&c);
out:
    ctx_free(&c);
    return code;
}
