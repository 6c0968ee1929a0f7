/* Executor: runs one step or service as "/bin/sh -e" in its own process group,
 * captures stdout and stderr through pipes (or a PTY when tty is set) and
 * delivers every line, stamped with the time it was read. A partial line
 * (no newline yet) is delivered after idle_flush_ms without more output, as
 * a continued piece: the rest of the line is the next piece (and the end of
 * the stream closes it with an empty piece), so the log holds the lines the
 * process printed however it paused.
 *
 * Single-threaded and event driven: the caller polls any number of running
 * processes with ls_proc_poll().
 *
 * A stream that floods (a full read_chunk or more arrived between two reads)
 * is read on a timer, every flood_pace_us, until it slows down, instead of on
 * every write: each write into a pipe its reader waits on wakes the reader as
 * a "sync" wakeup, which the kernel places on the writer's CPU, so on a busy
 * machine the step and the thread reading it took turns on one CPU (and the
 * step waited each time). Read on a timer, the reader stays on its own CPU
 * and takes the output in larger batches. Lines read during a flood wait at
 * most flood_pace_us longer; below read_chunk per pause every write is read
 * at once, as before. Only a pipe of at least 512 KiB is paced (it must hold
 * what a fast writer prints during the pause): not a PTY, nor a pipe the
 * kernel did not enlarge (pipe_size). */
#ifndef LS_WORKER_EXECUTOR_H
#define LS_WORKER_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "worker/pipeline.h"

typedef struct ls_proc ls_proc;

/* Called for each line: stream 'o' or 'e' (with a PTY everything is 'o'),
 * text without newline, continued = cut at max_line and goes on in the next
 * call, ts_ms = wall clock when read. */
typedef void (*ls_proc_line_cb)(void *userdata, char stream, const char *text, size_t len,
                                bool continued, int64_t ts_ms);

/* Optional: bytes at the end of text, a piece about to be cut off the rest of
 * its line (at max_line, or a partial line after idle_flush_ms), to keep for
 * the next piece instead (the worker keeps a possible start of a secret:
 * ls_masker_hold_back), at most max_hold (a max_line piece keeps a byte); a
 * partial line held whole waits for more output or the end of the stream,
 * and is not offered again until more bytes come. */
typedef size_t (*ls_proc_hold_cb)(void *userdata, const char *text, size_t len, size_t max_hold);

/* Optional: called after a run of on_line calls (the lines of one read, or
 * those a timer or the end of a stream flushed), before the executor reads or
 * waits again: the worker appends a run of lines under one lock. */
typedef void (*ls_proc_lines_end_cb)(void *userdata);

typedef struct ls_proc_options {
    const char *script;  /* shell script text (see ls_script_build) */
    char *const *env;    /* NULL-terminated environment for the process */
    const char *workdir; /* NULL = current directory */
    bool tty;
    size_t max_line;       /* 0 = LS_DEFAULT_MAX_LINE */
    int64_t idle_flush_ms; /* 0 = 200 */
    int64_t timeout_ms;    /* 0 = none; on expiry the group gets SIGTERM, then SIGKILL */
    ls_proc_line_cb on_line;
    ls_proc_hold_cb hold_back;      /* NULL = lines are cut anywhere; gets userdata */
    ls_proc_lines_end_cb lines_end; /* NULL = none; gets userdata */
    void *userdata;
    int64_t kill_grace_ms;   /* 0 = 5000: SIGTERM -> SIGKILL delay after a timeout */
    int64_t drain_idle_ms;   /* 0 = 250: once the shell exited, stop reading output that
                              * stays silent this long (a background child may hold it) */
    int64_t drain_max_ms;    /* 0 = 5000: once the shell exited, stop reading after this
                              * long even if a background child keeps writing */
    size_t read_chunk;       /* 0 = 64 KiB: bytes per read() */
    int64_t flood_pace_us;   /* 0 = 300 us: pause between reads of a flooding stream (see
                              * above); < 0 = none, read on every write */
    int pipe_size;           /* 0 = 1 MiB: capacity asked for the stdout and stderr pipes */
    unsigned short tty_cols; /* 0 = 120: PTY window size */
    unsigned short tty_rows; /* 0 = 40 */
} ls_proc_options;

/* Exit code reported for a step killed by its timeout. */
#define LS_EXIT_TIMEOUT 124

/* Builds the script for a step: "set -e", then for each command a line that
 * prints "$ COMMAND" and the command itself. Appends to out. */
void ls_script_build(const ls_pipeline_step *step, ls_buf *out);

/* Starts the process: "/bin/sh -e -c SCRIPT" (a script over 100 KB is passed
 * through a memfd instead) in a new process group (a new session with the PTY
 * as controlling terminal when tty is set), stdin from /dev/null, every other
 * descriptor of the caller closed, signal dispositions reset. Returns 0 and
 * *ret, or a negative errno (-EINVAL without script or on_line; the errno of
 * execve when /bin/sh cannot be started). */
int ls_proc_start(const ls_proc_options *opts, ls_proc **ret);

/* Waits up to timeout_ms (-1 = until something happens) for output or exit
 * of any of the n processes, reads what is there, delivers lines, flushes
 * idle partial lines, enforces timeouts and reaps exits. Returns 0 or a
 * negative errno. Processes already done are ignored. Returns early (0) when
 * a signal interrupts the wait, and at once when no process is running.
 * Reads at most 16 chunks per stream per call, so one chatty process cannot
 * starve the others (or the caller). The callbacks run inside this call and
 * must not free the process; they may call ls_proc_stop.
 *
 * When a process finishes, whatever is left of its process group (background
 * children) is killed with SIGKILL; the child is reaped by pid only, so the
 * caller must not reap with waitpid(-1) or ignore SIGCHLD. */
int ls_proc_poll(ls_proc **procs, size_t n, int timeout_ms);

/* true once the process has exited and all its output has been delivered. */
bool ls_proc_done(const ls_proc *p);

/* Exit status once done: the exit code, 128+N for a signal N,
 * LS_EXIT_TIMEOUT for a timeout; -1 before that (or if someone else reaped
 * the child and its status is lost). */
int ls_proc_exit_code(const ls_proc *p);

/* Sends SIGTERM to the process group, then SIGKILL after grace_ms
 * (the following ls_proc_poll calls carry it out). No-op once the shell has
 * exited. */
void ls_proc_stop(ls_proc *p, int64_t grace_ms);

/* true when the process was killed by its timeout. */
bool ls_proc_timed_out(const ls_proc *p);

/* Process id of the shell (also its process group id). */
int ls_proc_pid(const ls_proc *p);

/* Frees; kills the group if still running. NULL is a no-op. */
void ls_proc_free(ls_proc *p);

#endif
