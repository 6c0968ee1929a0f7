#include "worker/executor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/line.h"
#include "common/linesplit.h"
#include "common/timeutil.h"
#include "worker/exec_spawn.h"

#define DEFAULT_IDLE_FLUSH_MS 200
#define DEFAULT_KILL_GRACE_MS 5000
#define DEFAULT_DRAIN_IDLE_MS 250
#define DEFAULT_DRAIN_MAX_MS 5000
#define DEFAULT_READ_CHUNK (64u * 1024u)
/* Pause between reads of a flooding stream. At the 1 MiB pipe size
 * (exec_spawn.c) a writer must print over 3 GB/s to fill the pipe in it. */
#define DEFAULT_FLOOD_PACE_US 300
/* The smallest pipe a flood is paced on. */
#define MIN_PACED_PIPE (512 * 1024)
#define DEFAULT_TTY_COLS 120
#define DEFAULT_TTY_ROWS 40
/* Reads per stream per ls_proc_poll call: bounds the time spent on one process. */
#define MAX_READS_PER_POLL 16
/* Without a pidfd the exit is noticed by checking at this interval. */
#define EXIT_CHECK_INTERVAL_MS 20

/* One output stream: a pipe (or the PTY master) and its line splitter. */
typedef struct proc_stream {
    ls_proc *proc;
    char id; /* 'o' or 'e' */
    int fd;  /* -1 once closed */
    ls_linesplit *split;
    int64_t last_read_mono; /* monotonic time of the last bytes read */
    int64_t last_read_ts;   /* wall clock of the same read: the lines' timestamp */
    bool partial_held;      /* the idle partial line was held back whole: no idle
                             * deadline until more bytes come */
    bool flooding;          /* the last read round got at least read_chunk bytes */
    bool pace_ok;           /* a pipe large enough to pause between reads */
} proc_stream;

struct ls_proc {
    pid_t pid;
    int pidfd; /* readable when the shell exits; -1 when unsupported or exited */
    proc_stream streams[2];
    char *buf;
    size_t read_chunk;
    int64_t flood_pace_us; /* 0 = read on every write */
    ls_proc_line_cb on_line;
    ls_proc_hold_cb hold_back;
    ls_proc_lines_end_cb lines_end;
    bool delivered; /* on_line was called since the last lines_end */
    void *userdata;
    int64_t idle_flush_ms, kill_grace_ms, drain_idle_ms, drain_max_ms;
    int64_t deadline_mono; /* timeout; 0 = none */
    int64_t kill_at_mono;  /* SIGKILL due; 0 = none */
    bool exited;           /* the shell exited (still a zombie: its pid stays reserved) */
    bool reaped;
    bool timed_out;
    bool done;
    int status_code; /* exit code or 128+signal, valid once exited */
    int64_t exit_mono;
};

static int64_t or_default(int64_t v, int64_t def)
{
    return v > 0 ? v : def;
}

/* ---- script ------------------------------------------------------------ */

/* Appends s in single quotes: everything inside is literal, and a quote is
 * written as '\'' . */
static void shell_quote(ls_buf *out, const char *s, size_t len)
{
    ls_buf_putc(out, '\'');
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\'')
            ls_buf_puts(out, "'\\''");
        else
            ls_buf_putc(out, s[i]);
    }
    ls_buf_putc(out, '\'');
}

/* "$ CMD" as a terminal would show it: continuation lines start with "> ". */
static void command_echo(ls_buf *echo, const char *cmd)
{
    size_t len = strlen(cmd);
    while (len && (cmd[len - 1] == '\n' || cmd[len - 1] == '\r'))
        len--;
    ls_buf_puts(echo, "$ ");
    for (size_t i = 0; i < len; i++) {
        ls_buf_putc(echo, cmd[i]);
        if (cmd[i] == '\n')
            ls_buf_puts(echo, "> ");
    }
}

void ls_script_build(const ls_pipeline_step *step, ls_buf *out)
{
    ls_buf echo = LS_BUF_INIT;
    ls_buf_puts(out, "set -e\n");
    for (size_t i = 0; i < step->n_commands; i++) {
        const char *cmd = step->commands[i];
        ls_buf_reset(&echo);
        command_echo(&echo, cmd);
        ls_buf_puts(out, "printf '%s\\n' ");
        shell_quote(out, echo.data, echo.len);
        ls_buf_putc(out, '\n');
        ls_buf_puts(out, cmd);
        size_t len = strlen(cmd);
        if (!len || cmd[len - 1] != '\n')
            ls_buf_putc(out, '\n');
    }
    ls_buf_free(&echo);
}

/* ---- start and free ---------------------------------------------------- */

static int deliver_line(void *userdata, const char *text, size_t len, bool continued)
{
    proc_stream *s = userdata;
    s->proc->delivered = true;
    s->proc->on_line(s->proc->userdata, s->id, text, len, continued, s->last_read_ts);
    return 0;
}

/* Ends a run of on_line calls (see ls_proc_lines_end_cb). */
static void lines_end(ls_proc *p)
{
    if (p->delivered && p->lines_end)
        p->lines_end(p->userdata);
    p->delivered = false;
}

static size_t stream_hold(void *userdata, const char *text, size_t len, size_t max_hold)
{
    proc_stream *s = userdata;
    return s->proc->hold_back(s->proc->userdata, text, len, max_hold);
}

static void stream_init(ls_proc *p, proc_stream *s, char id, int fd, size_t max_line)
{
    s->proc = p;
    s->id = id;
    s->fd = fd;
    s->split = fd >= 0 ? ls_linesplit_new(max_line, deliver_line, s) : NULL;
    if (s->split && p->hold_back)
        ls_linesplit_set_hold(s->split, stream_hold);
    s->pace_ok = fd >= 0 && fcntl(fd, F_GETPIPE_SZ) >= MIN_PACED_PIPE; /* a PTY says -1 */
}

int ls_proc_start(const ls_proc_options *opts, ls_proc **ret)
{
    if (!opts || !opts->script || !opts->on_line || !ret)
        return -EINVAL;
    ls_exec_spawn_req req = {
        .script = opts->script,
        .env = opts->env,
        .workdir = opts->workdir,
        .tty = opts->tty,
        .cols = opts->tty_cols ? opts->tty_cols : DEFAULT_TTY_COLS,
        .rows = opts->tty_rows ? opts->tty_rows : DEFAULT_TTY_ROWS,
        .pipe_size = opts->pipe_size,
    };
    ls_exec_spawned sp;
    int r = ls_exec_spawn(&req, &sp);
    if (r < 0)
        return r;
    ls_proc *p = ls_xcalloc(1, sizeof(*p));
    size_t max_line = opts->max_line ? opts->max_line : LS_DEFAULT_MAX_LINE;
    p->pid = sp.pid;
    p->on_line = opts->on_line;
    p->lines_end = opts->lines_end;
    p->hold_back = opts->hold_back;
    p->userdata = opts->userdata;
    p->read_chunk = opts->read_chunk ? opts->read_chunk : DEFAULT_READ_CHUNK;
    p->buf = ls_xmalloc(p->read_chunk);
    p->flood_pace_us =
        opts->flood_pace_us < 0 ? 0 : or_default(opts->flood_pace_us, DEFAULT_FLOOD_PACE_US);
    p->idle_flush_ms = or_default(opts->idle_flush_ms, DEFAULT_IDLE_FLUSH_MS);
    p->kill_grace_ms = or_default(opts->kill_grace_ms, DEFAULT_KILL_GRACE_MS);
    p->drain_idle_ms = or_default(opts->drain_idle_ms, DEFAULT_DRAIN_IDLE_MS);
    p->drain_max_ms = or_default(opts->drain_max_ms, DEFAULT_DRAIN_MAX_MS);
    int64_t now = ls_mono_ms();
    p->deadline_mono = opts->timeout_ms > 0 ? now + opts->timeout_ms : 0;
    stream_init(p, &p->streams[0], LS_STREAM_STDOUT, sp.out_fd, max_line);
    stream_init(p, &p->streams[1], LS_STREAM_STDERR, sp.err_fd, max_line);
    p->pidfd = pidfd_open(sp.pid, 0);
    *ret = p;
    return 0;
}

static void stream_close(proc_stream *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

static void reap(ls_proc *p)
{
    if (p->reaped)
        return;
    while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    p->reaped = true;
}

void ls_proc_free(ls_proc *p)
{
    if (!p)
        return;
    if (!p->reaped) {
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        reap(p);
    }
    for (int i = 0; i < 2; i++) {
        stream_close(&p->streams[i]);
        ls_linesplit_free(p->streams[i].split);
    }
    if (p->pidfd >= 0)
        close(p->pidfd);
    free(p->buf);
    free(p);
}

/* ---- events ------------------------------------------------------------ */

/* End of a stream: the last partial line is complete now. */
static void stream_finish(proc_stream *s)
{
    stream_close(s);
    if (s->split)
        ls_linesplit_flush(s->split);
    lines_end(s->proc);
}

/* Reads what the stream holds (up to MAX_READS_PER_POLL chunks). EOF, and
 * EIO from a PTY whose slave side is closed, end the stream. A stream read
 * empty after a full chunk or more is flooding; one that still holds more
 * after MAX_READS_PER_POLL chunks is not (its writer may be waiting for room:
 * the next poll returns at once). */
static void stream_read(proc_stream *s)
{
    ls_proc *p = s->proc;
    size_t total = 0;
    s->flooding = false;
    for (int i = 0; i < MAX_READS_PER_POLL && s->fd >= 0; i++) {
        ssize_t n = read(s->fd, p->buf, p->read_chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            s->flooding = total >= p->read_chunk;
            return;
        }
        if (n <= 0) {
            stream_finish(s);
            return;
        }
        s->last_read_mono = ls_mono_ms();
        s->last_read_ts = ls_now_ms();
        s->partial_held = false;
        ls_linesplit_feed(s->split, p->buf, (size_t)n);
        lines_end(p);
        total += (size_t)n;
        if ((size_t)n < p->read_chunk) {
            s->flooding = total >= p->read_chunk;
            return; /* drained: the next read would say EAGAIN */
        }
    }
}

/* Notices the shell's exit without reaping it, so that its pid (the group id)
 * cannot be reused before the group is cleaned up. */
static void check_exit(ls_proc *p, int64_t now)
{
    if (p->exited)
        return;
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
        if (errno != ECHILD)
            return;
        p->reaped = true; /* someone else reaped it: the status is lost */
        p->status_code = -1;
    } else if (si.si_pid != p->pid) {
        return;
    } else if (si.si_code == CLD_EXITED) {
        p->status_code = si.si_status;
    } else {
        p->status_code = 128 + si.si_status;
    }
    p->exited = true;
    p->exit_mono = now;
    if (p->pidfd >= 0)
        close(p->pidfd);
    p->pidfd = -1;
}

static void group_signal(ls_proc *p, int sig)
{
    if (!p->reaped && kill(-p->pid, sig) < 0)
        kill(p->pid, sig);
}

/* When a stream stops being read after the exit (a background child holds it). */
static int64_t drain_deadline(const ls_proc *p, const proc_stream *s)
{
    int64_t last = s->last_read_mono > p->exit_mono ? s->last_read_mono : p->exit_mono;
    int64_t idle = last + p->drain_idle_ms, max = p->exit_mono + p->drain_max_ms;
    return idle < max ? idle : max;
}

/* A partial line waits to be sent after idle_flush_ms (not one the hold-back
 * kept whole since the last read: its deadline would fire again and again). */
static bool idle_partial(const proc_stream *s)
{
    return ls_linesplit_pending(s->split) > 0 && !s->partial_held;
}

/* Timeout, SIGKILL escalation, idle partial lines and the end of draining. */
static void run_timers(ls_proc *p, int64_t now)
{
    if (!p->exited && p->deadline_mono && !p->timed_out && now >= p->deadline_mono) {
        p->timed_out = true;
        group_signal(p, SIGTERM);
        p->kill_at_mono = now + p->kill_grace_ms;
    }
    if (!p->exited && p->kill_at_mono && now >= p->kill_at_mono) {
        group_signal(p, SIGKILL);
        p->kill_at_mono = 0;
    }
    for (int i = 0; i < 2; i++) {
        proc_stream *s = &p->streams[i];
        if (s->fd < 0)
            continue;
        if (p->exited && now >= drain_deadline(p, s))
            stream_finish(s);
        else if (idle_partial(s) && now >= s->last_read_mono + p->idle_flush_ms) {
            ls_linesplit_send_partial(s->split); /* the line goes on in the next piece */
            lines_end(p);
            /* What the hold-back kept waits for more bytes (or the end). */
            s->partial_held = ls_linesplit_pending(s->split) > 0;
        }
    }
}

/* Exit seen and output read: kill what is left of the group, then reap. */
static void maybe_finish(ls_proc *p)
{
    if (!p->exited || p->streams[0].fd >= 0 || p->streams[1].fd >= 0)
        return;
    group_signal(p, SIGKILL);
    reap(p);
    p->done = true;
}

static int64_t min_deadline(int64_t a, int64_t b)
{
    return (!a || (b && b < a)) ? b : a;
}

/* The earliest moment a timer of p needs attention (0 = none). */
static int64_t next_deadline(const ls_proc *p, int64_t now)
{
    int64_t d = 0;
    if (!p->exited) {
        if (!p->timed_out)
            d = min_deadline(d, p->deadline_mono);
        d = min_deadline(d, p->kill_at_mono);
        if (p->pidfd < 0)
            d = min_deadline(d, now + EXIT_CHECK_INTERVAL_MS);
    }
    for (int i = 0; i < 2; i++) {
        const proc_stream *s = &p->streams[i];
        if (s->fd < 0)
            continue;
        if (p->exited)
            d = min_deadline(d, drain_deadline(p, s));
        else if (idle_partial(s))
            d = min_deadline(d, s->last_read_mono + p->idle_flush_ms);
    }
    return d;
}

/* Descriptors to watch: per process its two streams and its pidfd. */
typedef struct watch {
    struct pollfd *fds;
    proc_stream **streams; /* NULL for a pidfd */
    size_t n;
} watch;

static void watch_add(watch *w, int fd, proc_stream *s)
{
    w->fds[w->n] = (struct pollfd){.fd = fd, .events = POLLIN};
    w->streams[w->n] = s;
    w->n++;
}

static int wait_timeout(ls_proc **procs, size_t n, int timeout_ms, int64_t now)
{
    int64_t d = 0;
    for (size_t i = 0; i < n; i++) {
        if (procs[i] && !procs[i]->done)
            d = min_deadline(d, next_deadline(procs[i], now));
    }
    if (!d)
        return timeout_ms;
    int64_t wait = d > now ? d - now : 0;
    if (timeout_ms >= 0 && timeout_ms < wait)
        return timeout_ms;
    return (int)(wait > 60000 ? 60000 : wait);
}

/* The pause before the next read when a stream floods: the longest pace of
 * the flooding streams' processes, 0 when none floods. */
static int64_t flood_pause_us(const watch *w)
{
    int64_t us = 0;
    for (size_t i = 0; i < w->n; i++) {
        const proc_stream *s = w->streams[i];
        if (s && s->flooding && s->pace_ok && s->proc->flood_pace_us > us)
            us = s->proc->flood_pace_us;
    }
    return us;
}

/* Sleeps us microseconds, at most timeout_ms (-1 = no bound). A signal ends
 * the sleep early (the caller has something to do). */
static void pause_us(int64_t us, int timeout_ms)
{
    if (timeout_ms >= 0 && us > (int64_t)timeout_ms * 1000)
        us = (int64_t)timeout_ms * 1000;
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

int ls_proc_poll(ls_proc **procs, size_t n, int timeout_ms)
{
    watch w = {0};
    w.fds = ls_xcalloc(n * 3, sizeof(*w.fds));
    w.streams = ls_xcalloc(n * 3, sizeof(*w.streams));
    int64_t now = ls_mono_ms();
    bool running = false;
    for (size_t i = 0; i < n; i++) {
        ls_proc *p = procs[i];
        if (!p || p->done)
            continue;
        running = true;
        for (int k = 0; k < 2; k++) {
            if (p->streams[k].fd >= 0)
                watch_add(&w, p->streams[k].fd, &p->streams[k]);
        }
        if (p->pidfd >= 0)
            watch_add(&w, p->pidfd, NULL);
    }
    int r = 0;
    int wait_ms = wait_timeout(procs, n, timeout_ms, now);
    int64_t pause = flood_pause_us(&w);
    if (pause > 0 && wait_ms != 0) {
        /* A flood: let the output gather instead of waking on each write. */
        pause_us(pause, wait_ms);
        wait_ms = 0;
    }
    if (running && poll(w.fds, w.n, wait_ms) < 0 && errno != EINTR)
        r = -errno;
    for (size_t i = 0; r == 0 && i < w.n; i++) {
        if (!w.streams[i])
            continue;
        if (w.fds[i].revents)
            stream_read(w.streams[i]);
        else
            w.streams[i]->flooding = false; /* nothing came during the pause */
    }
    now = ls_mono_ms();
    for (size_t i = 0; r == 0 && i < n; i++) {
        ls_proc *p = procs[i];
        if (!p || p->done)
            continue;
        check_exit(p, now);
        run_timers(p, now);
        maybe_finish(p);
    }
    free(w.fds);
    free(w.streams);
    return r;
}

/* ---- queries and control ----------------------------------------------- */

bool ls_proc_done(const ls_proc *p)
{
    return p->done;
}

int ls_proc_exit_code(const ls_proc *p)
{
    if (!p->done)
        return -1;
    return p->timed_out ? LS_EXIT_TIMEOUT : p->status_code;
}

bool ls_proc_timed_out(const ls_proc *p)
{
    return p->timed_out;
}

int ls_proc_pid(const ls_proc *p)
{
    return (int)p->pid;
}

void ls_proc_stop(ls_proc *p, int64_t grace_ms)
{
    if (p->exited || p->done)
        return;
    group_signal(p, SIGTERM);
    int64_t at = ls_mono_ms() + (grace_ms > 0 ? grace_ms : 0);
    if (!p->kill_at_mono || at < p->kill_at_mono)
        p->kill_at_mono = at;
}
