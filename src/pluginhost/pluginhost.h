/* The log plugin host: reads the job context and the job's log lines from an
 * input descriptor, feeds every enabled plugin through its own bounded queue
 * and thread, enforces the circuit breaker and the finalize timeout, and
 * reports to the user (out_fd) and to diagnostics (diag_fd). The protocol is
 * described in docs/plugins.md. */
#ifndef LS_PLUGINHOST_PLUGINHOST_H
#define LS_PLUGINHOST_PLUGINHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "logstream/plugin.h"

typedef struct ls_pluginhost_options {
    int64_t max_pending;           /* bytes queued in memory per plugin (default 10 MiB) */
    int64_t max_spill;             /* bytes beyond them in a file in the job's temp_dir (1 GiB;
                                    * 0 = none: lines beyond max_pending are dropped) */
    int64_t breaker_window_ms;     /* over max_pending this long stops a plugin (100 s) */
    int64_t finalize_timeout_ms;   /* finalize must return within this (60 s) */
    int64_t max_errors;            /* process_line errors in a row that stop a plugin (100) */
    int64_t max_line;              /* longest input line; longer ones are split (128 KiB) */
    int64_t max_context;           /* longest context line (16 MiB) */
    int64_t max_output;            /* output() bytes per plugin (1 MiB) */
    int64_t http_timeout_ms;       /* publish() timeout (10 s) */
    int64_t read_size;             /* bytes per read of the input (256 KiB) */
    int64_t max_malformed_reports; /* malformed lines reported one by one (10), then counted */
    int out_fd;                    /* user output, streamed as the "plugins" log (1) */
    int diag_fd;                   /* diagnostics (2) */
} ls_pluginhost_options;

/* What happened, for the exit status and for tests. */
typedef struct ls_pluginhost_summary {
    bool context_ok;         /* the context was accepted */
    bool finished;           /* the finish line arrived (else: end of input) */
    uint64_t lines;          /* input lines after the context, finish line excluded */
    uint64_t malformed;      /* lines skipped as malformed */
    unsigned plugins_run;    /* plugins started for the job */
    unsigned plugins_failed; /* failed, stopped, abandoned, not loadable or missing */
} ls_pluginhost_summary;

typedef struct ls_pluginhost ls_pluginhost;

/* Fills o with the defaults listed above. */
void ls_pluginhost_options_default(ls_pluginhost_options *o);

/* Shortest max_line accepted: room for a step id and the finish line. */
#define LS_PH_MIN_LINE 1024

/* Creates a host. Returns -EINVAL when an option is out of range (every size
 * and duration must be positive; max_line between LS_PH_MIN_LINE and 64 MiB,
 * read_size at most 64 MiB). */
int ls_pluginhost_new(const ls_pluginhost_options *o, ls_pluginhost **ret_host);

/* Registers a plugin. dl_handle (may be NULL) is dlclose'd when the host is
 * freed. Refuses (-EINVAL, or -EEXIST for a second plugin of the same name)
 * a descriptor whose ABI version differs from LS_PLUGIN_ABI_VERSION, whose
 * name is not 1..32 of [a-z0-9-] (or is "plugin-host"), or that lacks init or
 * process_line; err (errlen bytes) then says why. On refusal the caller keeps
 * dl_handle. */
int ls_pluginhost_add(ls_pluginhost *h, const ls_plugin_v1 *def, void *dl_handle, char *err,
                      size_t errlen);

/* Counts a plugin that could not even be registered (e.g. a shared object
 * that failed to load), so the run's summary reports it as failed. */
void ls_pluginhost_count_load_failure(ls_pluginhost *h);

/* Reads in_fd until the finish line or end of input, runs the plugins, and
 * returns when every plugin has finished, been stopped or been abandoned.
 * Fills *ret_summary. Returns 0, -EINVAL when the context was refused (the
 * input is then read to its end and discarded, so the writer never blocks),
 * or -EALREADY when called twice. Plugins that fail do not make it fail: see
 * ret_summary->plugins_failed. */
int ls_pluginhost_run(ls_pluginhost *h, int in_fd, ls_pluginhost_summary *ret_summary);

/* Releases the host. Plugin threads that are stuck in plugin code keep what
 * they use alive until they return; NULL is a no-op. */
void ls_pluginhost_free(ls_pluginhost *h);

#endif
