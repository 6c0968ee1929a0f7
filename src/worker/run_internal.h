/* Internals shared by `logstream run`'s files (worker/run.h is the API):
 * run.c (flags, the build, steps and services, their lines), run_plugins.c
 * (the plugin host) and run_forward.c (forward's replace_log: a step whose
 * log is delivered elsewhere). */
#ifndef LS_WORKER_RUN_INTERNAL_H
#define LS_WORKER_RUN_INTERNAL_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/line.h"
#include "mask/masker.h"
#include "worker/executor.h"
#include "worker/pipeline.h"
#include "worker/plugin_driver.h"
#include "worker/spool.h"
#include "worker/uploader.h"

typedef struct run_flags {
    char *server;
    char *token;
    char *spool_dir;
    char *transport;
    int64_t heartbeat, rotate_age, rotate_bytes, stall_timeout, batch_interval, batch_max_bytes;
    int64_t backoff_base, backoff_max, max_line, idle_flush, min_secret_length;
    int64_t upload_deadline, create_timeout, request_timeout, stop_grace;
    bool no_plugins;
    char *plugin, *disable_plugin, *plugin_dir, *plugin_diagnostics;
    int64_t plugin_queue, plugin_spill, plugin_finish_timeout, forward_keep_bytes;
    int64_t upload_nice, plugin_nice, flood_pace_us;
} run_flags;

typedef struct run_ctx run_ctx;

/* One step or service being run: its process and its upload stream. */
typedef struct run_stream {
    run_ctx *ctx;
    const ls_pipeline_step *step;
    int number;
    char plugin_id[16]; /* number in decimal: the STEP_ID of its lines for the plugin host */
    ls_upload_stream *up;
    ls_proc *proc;
    uint64_t next_seq;
    bool prev_continued; /* the previous piece was cut: this one is not a line start */
    bool stopped;        /* we stopped it (services at the end, or a signal) */
    bool up_held;        /* a run of lines is being pushed under one lock (lines_end) */
    bool closed;
    int64_t started_mono;
    /* forward's replace_log: the one line the server gets instead of the log */
    char *forward_notice;   /* NULL: the log is uploaded as usual */
    const char *fw_where;   /* in forward_notice: the target, "Loki at URL" */
    FILE *fw_keep;          /* the masked lines given to the host, until delivery is confirmed */
    char *fw_keep_path;     /* in the spool directory */
    uint64_t fw_fed;        /* lines of the step given to the host (and kept) */
    uint64_t fw_keep_bytes; /* bytes in fw_keep */
    bool fw_fallen;         /* the full log went to the server after all */
    char *fw_completion;    /* a deferred step: its completion body, sent after the plugins */
} run_stream;

struct run_ctx {
    run_flags f;
    ls_pipeline *pipeline;
    ls_masker *masker;
    char **secret_values; /* parallel to secret_names */
    char **secret_names;
    size_t n_secrets;
    char *spool_dir;
    bool spool_dir_created;
    long long build_id;
    char *upload_token; /* the build-scoped token from POST /api/v1/builds */
    ls_uploader *uploader;
    run_stream *services;
    size_t n_services;
    ls_buf scratch;
    bool spool_error;
    /* the plugin host (docs/plugins.md, "The worker side") */
    char *plugins_json; /* the context's "plugins" object; NULL = no plugins */
    ls_plugin_driver *plugins;
    bool plugins_held;            /* the lines of one read are fed under one lock (lines_end) */
    ls_upload_stream *plugins_up; /* the build's "plugins" log */
    uint64_t plugins_seq;         /* next seq of that log (written by one thread at a time) */
    char *job_temp_dir;
    int plugin_diag_fd; /* --plugin-diagnostics: -1 = nowhere */
    /* forward's replace_log: steps waiting for the plugins to confirm delivery */
    run_stream **fw_deferred;
    size_t n_fw_deferred;
    ls_buf fw_confirmed;    /* the "[forward] logs for step ..." lines, '\n'-separated */
    char fw_failure[512];   /* why forward failed (set once, by the driver's thread) */
    _Atomic bool fw_failed; /* fw_failure is set */
};

/* SIGINT/SIGTERM received so far (the first cancels the build, the second
 * stops waiting for the plugins). */
extern volatile sig_atomic_t ls_run_signals;

/* Queues "PATCH .../steps/NUMBER" with status (and exit_code when >= 0). */
void ls_run_patch_step(run_ctx *c, int number, const char *status, int exit_code);

/* Opens the spool of stream `number` (a step, a service or the plugins log)
 * in the spool directory. When it cannot, says so on stderr, with `then`
 * (what follows from it, "" for nothing) after the reason, and returns the
 * negative errno. */
int ls_run_open_spool(run_ctx *c, int number, const char *then, ls_spool **ret);

/* Hands a line to the step's upload stream (spool first) and advances its
 * seq; a spool error is reported once and the line is lost. */
void ls_run_push_line(run_stream *rs, const ls_line *line);

/* ---- the plugin host (run_plugins.c) ---- */

/* When the build has plugins (c->plugins_json): opens the build's "plugins"
 * log and starts the plugin host beside the build. A host that cannot start
 * is reported in that log; the build goes on without plugins. */
void ls_run_plugins_start(run_ctx *c);

/* After the steps: the finish line (none when canceled), then waits for the
 * host up to --plugin-finish-timeout (--stop-grace when canceled; a second
 * signal stops it at once) while its output still streams, settles the
 * steps forward held back and closes the plugins log. The build's result
 * does not depend on it. */
void ls_run_plugins_finish(run_ctx *c);

/* Removes the plugins' temporary directory (transient files only): it goes
 * with the build, like the spool. */
void ls_run_plugins_remove_temp_dir(run_ctx *c);

/* ---- forward's replace_log (run_forward.c) ---- */

/* Before the step starts: when the forward plugin's replace_log covers it,
 * puts the notice in the step's log and opens the side file that keeps its
 * lines until delivery is confirmed. Otherwise does nothing. */
void ls_run_forward_start(run_stream *rs);

/* After a line was offered to the plugin host (fed: what
 * ls_plugin_driver_feed returned): keeps it in the side file. Returns NULL
 * when it is kept, or why the step's log must go to the server after all. */
const char *ls_run_forward_keep(run_stream *rs, const ls_line *line, int fed);

/* Delivery is not confirmed: puts a line saying why in the step's log, then
 * the kept lines; later lines of the step are uploaded as usual. */
void ls_run_forward_fallback(run_stream *rs, const char *why);

/* When the step ends, with its completion body. Returns true when the step
 * waits for the plugin host to finish (ls_run_forward_settle closes it);
 * false when it can be closed now. */
bool ls_run_forward_end(run_stream *rs, const char *completion);

/* After the plugin host ended: closes each waiting step, with only the
 * notice when forward confirmed its lines, else with the full log after it
 * (host_why: what to say when forward said nothing). */
void ls_run_forward_settle(run_ctx *c, const char *host_why);

/* On the plugin driver's thread, for each plugins-log line: notes forward's
 * confirmations and failures. */
void ls_run_forward_watch(run_ctx *c, const char *text, size_t len, bool continued);

#endif
