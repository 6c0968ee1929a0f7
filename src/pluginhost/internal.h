/* Internals of the plugin host shared by its modules (pluginhost.c, input.c,
 * runner.c, supervisor.c). Not for use outside src/pluginhost. */
#ifndef LS_PLUGINHOST_INTERNAL_H
#define LS_PLUGINHOST_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/linesplit.h"
#include "logstream/plugin.h"
#include "pluginhost/job.h"
#include "pluginhost/pluginhost.h"
#include "pluginhost/queue.h"
#include "pluginhost/sink.h"

/* Where a plugin's thread is. Written by the thread, under host->lock. */
typedef enum ls_runner_phase {
    LS_PHASE_IDLE,       /* not started (not enabled for the job) */
    LS_PHASE_INIT,       /* in init */
    LS_PHASE_LINES,      /* processing lines */
    LS_PHASE_FINALIZING, /* in finalize */
    LS_PHASE_EXITED,     /* the thread has returned */
} ls_runner_phase;

/* How a plugin's run ended; the first verdict set wins. */
typedef enum ls_runner_verdict {
    LS_VERDICT_NONE,      /* still running */
    LS_VERDICT_DONE,      /* finalized */
    LS_VERDICT_DECLINED,  /* init declined: nothing to do for this job */
    LS_VERDICT_ENDED,     /* input ended without the finish line: not finalized */
    LS_VERDICT_FAILED,    /* init or finalize returned an error */
    LS_VERDICT_STOPPED,   /* circuit breaker, errors in a row, or could not drain */
    LS_VERDICT_ABANDONED, /* finalize timed out */
} ls_runner_verdict;

typedef struct ls_runner {
    struct ls_pluginhost *host;
    const ls_plugin_v1 *def;
    ls_plugin_context ctx;
    const ls_job_plugin_conf *conf; /* NULL when the context has no entry */
    char *out_prefix;               /* "[name] " */
    char *trace_prefix;             /* "plugin-host: name: " */
    ls_ph_queue queue;

    /* Guarded by host->lock. */
    ls_runner_phase phase;
    ls_runner_verdict verdict;
    char reason[512];      /* why, for FAILED/STOPPED/ABANDONED */
    bool over;             /* queue full: lines are being dropped */
    int64_t over_since_ms; /* monotonic */
    bool announce_over;    /* the supervisor must tell the user */
    bool announce_caught_up;
    int64_t phase_since_ms; /* start of finalize (monotonic) */

    bool started; /* runs for this job: set before any thread starts, then read-only */
    pthread_t thread;
    bool has_thread; /* thread created and not yet joined or detached (owner thread only) */

    /* Producer (input thread) only. */
    bool producer_over; /* mirror of over, refreshed once per read */
    uint64_t producer_dropped_lines, producer_dropped_bytes; /* published in dropped_* */

    /* Written by one thread, read by others at the end. */
    atomic_uint_fast64_t dropped_lines;
    atomic_uint_fast64_t dropped_bytes;
    atomic_uint_fast64_t lines_done;
    atomic_uint_fast64_t errors;
    atomic_size_t output_used;
    atomic_bool output_capped;
} ls_runner;

struct ls_pluginhost {
    ls_pluginhost_options opt;
    atomic_int refs; /* the owner + every running plugin thread */
    ls_ph_sink out;
    ls_ph_sink diag;

    ls_runner **runners;
    size_t n_runners;
    void **dl_handles;
    size_t n_dl_handles;
    unsigned load_failures;

    ls_job *job;
    bool ran;

    pthread_mutex_t lock;
    pthread_cond_t changed; /* any runner or supervisor state changed (CLOCK_MONOTONIC) */
    int64_t finish_ms;      /* monotonic time of the finish line, 0 before */
    bool stop_supervisor;
    pthread_t supervisor;

    /* Input thread only. */
    ls_linesplit *splitter;
    bool finished;
    bool in_continuation;            /* the previous piece was cut: this one continues it */
    const ls_plugin_step *cont_step; /* step of the line being continued, NULL if skipped */
    const ls_plugin_step *last_step; /* cache for runs of lines from one step */
    size_t last_id_len;
    uint64_t lines;
    uint64_t malformed;
    bool context_refused;
};

/* Diagnostics prefix of host messages and user-output prefix of the host. */
#define LS_PH_DIAG_PREFIX "plugin-host: "
#define LS_PH_OUT_PREFIX "[plugin-host] "

/* pluginhost.c */
void ls_ph_ref(struct ls_pluginhost *h);
void ls_ph_unref(struct ls_pluginhost *h);
bool ls_ph_verdict_is_failure(ls_runner_verdict v);
const char *ls_ph_verdict_name(ls_runner_verdict v);

/* runner.c: fills r->ctx for the job; starts the plugin's thread. */
void ls_runner_setup_context(ls_runner *r, const ls_job *job);
int ls_runner_start(ls_runner *r);
/* runner.c: joins the plugin's thread if it has returned, else detaches it
 * (it holds a reference on the host and is left behind). */
void ls_runner_release_thread(ls_runner *r);
/* Sets r's verdict (if none yet) under host->lock, which the caller holds.
 * Returns whether it was set. reason is printf-style. */
bool ls_runner_set_verdict_locked(ls_runner *r, ls_runner_verdict v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* input.c: reads the input after the context line; returns when the finish
 * line or end of input is reached. `rest` holds bytes already read past the
 * context line. */
void ls_ph_input_run(struct ls_pluginhost *h, int fd, const char *rest, size_t rest_len);
/* input.c: reads the context line into *ret (malloc'ed, without '\n') and
 * the bytes read after it into *ret_rest. Returns 0, -E2BIG when the line
 * exceeds max_context, -ENODATA at end of input, or a read error. */
int ls_ph_input_read_context(struct ls_pluginhost *h, int fd, char **ret, size_t *ret_len,
                             char **ret_rest, size_t *ret_rest_len);
/* input.c: reads and discards the input until its end (or any finish line). */
void ls_ph_input_drain(struct ls_pluginhost *h, int fd, const char *rest, size_t rest_len);

/* supervisor.c: the thread that enforces the breaker and the deadlines. */
int ls_ph_supervisor_start(struct ls_pluginhost *h);
void ls_ph_supervisor_stop(struct ls_pluginhost *h);
/* supervisor.c: the producer saw r's queue full (enter) or publishes (check). */
void ls_ph_supervisor_queue_full(struct ls_pluginhost *h, ls_runner *r);
void ls_ph_supervisor_after_publish(struct ls_pluginhost *h, ls_runner *r);

#endif
