/* Plugin driver: the worker's side of `logstream plugin-host` (DESIGN.md,
 * "Log plugins"; docs/plugins.md, "The worker side").
 *
 * The driver starts the host as a child process in its own process group,
 * writes the job context as line 1 of its stdin, then every log line as
 * "STEP_ID:TEXT", then "##[logplugin.finish]NONCE". It reads the host's stdout
 * (the lines meant for the user) and hands each line to a callback, and copies
 * its stderr (diagnostics) to a file descriptor with a prefix, or drops it.
 *
 * The job never waits for the host: ls_plugin_driver_feed() only appends to a
 * queue in memory bounded in bytes (max_queue). When it is full and a spill
 * directory is set, lines go on to an unlinked file there (up to max_spill
 * bytes waiting) until the host has caught up, so a host that falls behind
 * in a burst — niced, or on a busy machine — still gets every line, in
 * order, later; without one, or beyond max_spill, the line is dropped and
 * counted. One I/O thread writes the queue into the host's stdin (a
 * non-blocking pipe) and reads its stdout and stderr, waiting in poll() on
 * the pipes, an eventfd (new lines, finish, kill) and a pidfd (the host's
 * exit); nothing polls on a timer.
 *
 * If the host dies, the driver stops feeding it (further lines are ignored)
 * and says so through the output callback, once the host's last output has
 * been read: "plugin host exited with signal 11 (Segmentation fault); plugins
 * are off for the rest of this build". Lines dropped because the queue was
 * full are reported once, at the end: "plugin host is behind; N lines not
 * given to plugins".
 *
 * The host is reaped with waitpid(pid) only (the executor relies on nobody
 * calling waitpid(-1)). */
#ifndef LS_WORKER_PLUGIN_DRIVER_H
#define LS_WORKER_PLUGIN_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/pipeline.h"

typedef struct ls_plugin_driver ls_plugin_driver;

/* Called on the driver's I/O thread, one call at a time, for each line of the
 * plugins log: a line the host wrote on stdout (without its newline; a line
 * longer than max_line comes in pieces, continued = true on all but the last)
 * or one of the driver's own notices. text is valid during the call only. */
typedef void (*ls_plugin_driver_output_cb)(void *userdata, const char *text, size_t len,
                                           bool continued);

typedef struct ls_plugin_driver_options {
    const char *exe;          /* program to start, e.g. "/proc/self/exe" */
    char *const *argv;        /* its argv, argv[0] first, NULL-terminated */
    char *const *envp;        /* its environment, NULL-terminated (NULL = empty) */
    const char *context_json; /* line 1 (a JSON object, no newline) */
    const char *finish_nonce; /* as in the context */
    size_t max_queue;         /* bytes of lines waiting for the host in memory; 0 = 1 MiB */
    const char *spill_dir;    /* where lines beyond max_queue wait; NULL = they are dropped */
    uint64_t max_spill;       /* bytes of lines waiting in the spill file at most; 0 = 1 GiB */
    size_t max_line;          /* longest output line passed whole; 0 = 64 KiB */
    int64_t drain_ms;         /* after the host exited, stop reading output that stays silent
                               * this long (a child of a plugin may hold the pipe); 0 = 500 */
    ls_plugin_driver_output_cb on_output;
    void *userdata;
    int diag_fd;             /* where the driver's notices go too (besides on_output); 0 = 2 */
    int host_diag_fd;        /* where the host's stderr lines go: 0 = diag_fd, -1 = nowhere
                              * (read and dropped: they are for plugin developers) */
    const char *diag_prefix; /* put before each of them; NULL = "" */
    int nice;                /* the I/O thread's nice value is raised by this (0..19) */
} ls_plugin_driver_options;

/* Starts the host and the I/O thread and queues the context line. Returns 0
 * and *ret, -EINVAL for missing options, or the negative errno of a failed
 * pipe, spawn (e.g. -ENOENT when exe does not exist) or thread. */
int ls_plugin_driver_start(const ls_plugin_driver_options *opts, ls_plugin_driver **ret);

/* Queues "STEP_ID:TEXT\n" for the host (a '\n' inside text becomes ' ').
 * Never blocks on the host: when the queue lacks room the line is spilled to
 * the file (one write per 256 KiB, by the feeding thread) or dropped and
 * counted. Ignored once the host has exited or finish was called. Thread-safe
 * (one lock), except that while a thread holds the driver (below) no other
 * thread may feed. Returns 0 when the line was queued, -ENOBUFS when it was
 * dropped for lack of room, -EPIPE when the host takes no more lines. */
int ls_plugin_driver_feed(ls_plugin_driver *d, const char *step_id, const char *text, size_t len);

/* A run of feeds under one lock: between ls_plugin_driver_hold and
 * ls_plugin_driver_release, ls_plugin_driver_feed (from the holding thread
 * only) takes no lock of its own, and the I/O thread is woken once, at the
 * release, instead of at each line that finds it idle. For the lines of one
 * read; never hold across a wait. */
void ls_plugin_driver_hold(ls_plugin_driver *d);
void ls_plugin_driver_release(ls_plugin_driver *d);

/* Ends the input: with send_finish, queues the finish line (whatever the
 * queue's limit) so plugins finalize; without it (a canceled build) drops the
 * queued lines and closes the host's stdin, so the host ends without
 * finalizing. Later calls are no-ops. Does not wait. */
void ls_plugin_driver_finish(ls_plugin_driver *d, bool send_finish);

/* Waits until the host has exited and its output has been read (and the
 * I/O thread has ended), or until the monotonic time deadline_ms
 * (ls_mono_ms). Returns 0 or -ETIMEDOUT. */
int ls_plugin_driver_wait(ls_plugin_driver *d, int64_t deadline_ms);

/* Kills the host's process group with SIGKILL (if it still runs). notice
 * (copied; NULL = none) replaces the "exited with signal 9" line in the
 * plugins log. Does not wait. */
void ls_plugin_driver_kill(ls_plugin_driver *d, const char *notice);

typedef struct ls_plugin_driver_stats {
    int pid;          /* the host's pid */
    uint64_t fed;     /* lines queued for the host */
    uint64_t dropped; /* lines dropped because the queue was full */
    uint64_t spilled; /* lines fed that waited in the spill file (counted in fed) */
    size_t queued;    /* bytes waiting now */
    bool exited;      /* the host has been reaped */
    bool crashed;     /* it exited before the finish line was sent, or by a signal */
    int exit_code;    /* once exited: its status, or 128 + signal */
} ls_plugin_driver_stats;

/* A consistent snapshot. */
void ls_plugin_driver_get_stats(ls_plugin_driver *d, ls_plugin_driver_stats *ret);

/* Kills the host if it still runs, waits for it and the I/O thread, closes
 * everything and frees. NULL is a no-op. */
void ls_plugin_driver_free(ls_plugin_driver *d);

/* ---- which plugins run ---- */

/* What the command line says (flags win over the pipeline file). */
typedef struct ls_plugin_flags {
    bool none;           /* --no-plugins */
    const char *enable;  /* --plugin: comma-separated names, or NULL */
    const char *disable; /* --disable-plugin: comma-separated names, or NULL */
} ls_plugin_flags;

/* Whether the log of the step or service named step_name goes to the
 * forward plugin instead of the server (its replace_log setting,
 * docs/forward.md), given the context's "plugins" object from
 * ls_plugin_select (NULL = no plugins). Returns 1 and *ret_notice (malloc'ed)
 * "logs for this step were forwarded to WHERE", the one line to store on the
 * server instead, when forward runs with valid settings whose replace_log
 * covers the step; 0 otherwise. */
int ls_plugin_replaced_log(const char *plugins_json, const char *step_name, char **ret_notice);

/* Combines the pipeline's plugins: key with the flags into the context's
 * "plugins" object (compact JSON, malloc'ed, in *ret_json): every installed
 * plugin runs unless plugins.enabled is false; plugins.disable and
 * --disable-plugin stop one, plugins.enable and --plugin start one, and the
 * flags win over the file. The object lists "*" (the default for plugins not
 * named) and each named plugin as {"enabled": bool, "settings": {...}}.
 * *ret_json is NULL when no plugin can run (--no-plugins, or enabled: false
 * and nothing enabled): then the host is not started. pl may be NULL.
 * Returns 0, or -EINVAL with a message in err for a bad plugin name or a name
 * given to both --plugin and --disable-plugin (or with --no-plugins). */
int ls_plugin_select(const ls_pipeline_plugins *pl, const ls_plugin_flags *f, char **ret_json,
                     char *err, size_t errlen);

#endif
