/* Plugin driver: starts `logstream plugin-host`, feeds it through a bounded
 * queue that never blocks the job, and forwards its output. See
 * plugin_driver.h. */
#include "worker/plugin_driver.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/fileio.h"
#include "common/nice.h"
#include "common/timeutil.h"
#include "plugins/forward/forward.h"

#define DEFAULT_MAX_QUEUE ((size_t)1024 * 1024)
#define DEFAULT_MAX_SPILL ((uint64_t)1024 * 1024 * 1024)
/* Spilled lines are written to the file once this many wait in memory, and
 * read back from it in pieces of this size. */
#define SPILL_CHUNK ((size_t)256 * 1024)
#define DEFAULT_MAX_LINE ((size_t)64 * 1024)
#define DEFAULT_DRAIN_MS 500
#define READ_CHUNK 65536
#define PIPE_SIZE (1024 * 1024)
/* A written queue buffer up to this capacity is reused; a larger one is freed. */
#define KEEP_BUFFER_BYTES ((size_t)1024 * 1024)
#define FINISH_PREFIX "##[logplugin.finish]"
/* without a pidfd (old kernels) the thread checks for the host's exit this often */
#define NO_PIDFD_CHECK_MS 100

/* A pipe read line by line: what came after the last newline. */
typedef struct line_reader {
    int fd;
    bool eof;
    ls_buf partial;
} line_reader;

struct ls_plugin_driver {
    ls_plugin_driver_output_cb on_output;
    void *userdata;
    int diag_fd, host_diag_fd;
    char *diag_prefix;
    char *finish_line; /* "##[logplugin.finish]NONCE\n" */
    size_t max_queue, max_line;
    uint64_t max_spill;
    char *spill_dir; /* NULL: no spilling */
    int nice;
    int64_t drain_ms;

    pid_t pid;
    int pidfd; /* -1 when the kernel has none */
    int in_fd; /* host's stdin (non-blocking); owned by the thread once started */
    int wake_fd;
    line_reader out, err;
    pthread_t thread;
    bool thread_started, thread_joined;

    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    /* under lock: */
    ls_buf inq;       /* lines queued by feed, not yet taken by the thread */
    size_t queued;    /* bytes fed and not yet written to the host, wherever they wait */
    size_t in_memory; /* of them in inq, or taken from it and not yet written */
    /* Spilling (see plugin_driver.h): once the memory queue is full, every
     * line goes to spillq, then to the spill file, until the thread has read
     * the file and spillq back; the memory queue's lines go first. */
    bool spilling;
    ls_buf spillq;       /* spilled lines not yet in the file */
    int spill_fd;        /* -1 until the first spill */
    uint64_t spill_end;  /* bytes in the file */
    uint64_t spill_read; /* bytes of it the thread has taken */
    uint64_t spilled;    /* lines that went through spillq */
    char *spill_error;   /* why spilling stopped for good, for the user; NULL */
    bool accepting;      /* feed queues lines (host alive, input not ended) */
    bool finish_req;     /* finish was called */
    bool close_req;      /* close the host's stdin once the queue is written */
    bool kill_req;
    char *kill_notice;
    bool done; /* the thread has ended */
    uint64_t fed, dropped;
    bool held;     /* the feeding thread holds lock across feeds (ls_plugin_driver_hold) */
    bool wake_due; /* a held feed found the thread idle: wake it at the release */
    bool exited, crashed;
    int exit_code;

    /* the thread's own: */
    ls_buf outq;
    size_t out_off;
    bool out_from_memory; /* outq came from inq (counted in in_memory) */
    bool in_closed, killed;
    int wait_status;
};

/* ---- spawning ---- */

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Starts the host with the pipes as its stdin, stdout and stderr, every other
 * descriptor closed, default signal handling and an empty signal mask, in a
 * process group of its own (a terminal's Ctrl-C reaches the worker, which
 * decides how the host ends). */
static int spawn_host(ls_plugin_driver *d, const ls_plugin_driver_options *o)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    bool fa_init = false, attr_init = false;
    int r;
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        r = -errno;
        goto out;
    }
    /* a larger pipe absorbs bursts while the host is busy (best effort) */
    (void)fcntl(in[1], F_SETPIPE_SZ, PIPE_SIZE);
    if ((r = set_nonblock(in[1])) < 0 || (r = set_nonblock(out[0])) < 0 ||
        (r = set_nonblock(err[0])) < 0)
        goto out;
    r = -posix_spawn_file_actions_init(&fa);
    if (r < 0)
        goto out;
    fa_init = true;
    r = -posix_spawnattr_init(&attr);
    if (r < 0)
        goto out;
    attr_init = true;
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETPGROUP);
    static char *const empty_env[] = {NULL};
    r = -posix_spawn(&d->pid, o->exe, &fa, &attr, o->argv, o->envp ? o->envp : empty_env);
    if (r < 0)
        goto out;
    d->in_fd = in[1];
    d->out.fd = out[0];
    d->err.fd = err[0];
    in[1] = out[0] = err[0] = -1;
    d->pidfd = pidfd_open(d->pid, 0);
    if (d->pidfd >= 0)
        (void)fcntl(d->pidfd, F_SETFD, FD_CLOEXEC);
out:
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_init)
        posix_spawnattr_destroy(&attr);
    for (int i = 0; i < 2; i++) {
        close_fd(&in[i]);
        close_fd(&out[i]);
        close_fd(&err[i]);
    }
    return r;
}

/* ---- output ---- */

static void emit(ls_plugin_driver *d, const char *text, size_t len, bool continued)
{
    if (d->on_output)
        d->on_output(d->userdata, text, len, continued);
}

/* Writes a whole diagnostics line with the prefix to fd (short writes
 * retried); fd < 0 drops it. */
static void write_diag(ls_plugin_driver *d, int fd, const char *text, size_t len)
{
    if (fd < 0)
        return;
    ls_buf b = LS_BUF_INIT;
    ls_buf_append(&b, d->diag_prefix, strlen(d->diag_prefix));
    ls_buf_append(&b, text, len);
    ls_buf_append(&b, "\n", 1);
    size_t off = 0;
    while (off < b.len) {
        ssize_t n = write(fd, b.data + off, b.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    ls_buf_free(&b);
}

static void __attribute__((format(printf, 2, 3))) notice(ls_plugin_driver *d, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;
    emit(d, msg, len, false);
    write_diag(d, d->diag_fd, msg, len); /* for whoever watches the worker's terminal too */
}

static void deliver(ls_plugin_driver *d, line_reader *lr, const char *text, size_t len,
                    bool continued)
{
    if (lr == &d->out)
        emit(d, text, len, continued);
    else
        write_diag(d, d->host_diag_fd, text, len);
}

/* Reads what is there (at most a few chunks, so stdout and stderr take turns)
 * and delivers whole lines; long lines in max_line pieces. Returns true when
 * something was read. */
static bool read_lines(ls_plugin_driver *d, line_reader *lr)
{
    char chunk[READ_CHUNK];
    bool any = false;
    for (int round = 0; round < 16 && !lr->eof; round++) {
        ssize_t n = read(lr->fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break; /* EAGAIN: nothing more for now */
        if (n == 0) {
            lr->eof = true;
            if (lr->partial.len)
                deliver(d, lr, lr->partial.data, lr->partial.len, false);
            ls_buf_reset(&lr->partial);
            break;
        }
        any = true;
        const char *p = chunk, *end = chunk + n;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t take = nl ? (size_t)(nl - p) : (size_t)(end - p);
            ls_buf_append(&lr->partial, p, take);
            while (lr->partial.len > d->max_line) {
                deliver(d, lr, lr->partial.data, d->max_line, true);
                ls_buf_consume(&lr->partial, d->max_line);
            }
            if (nl) {
                deliver(d, lr, lr->partial.data ? lr->partial.data : "", lr->partial.len, false);
                ls_buf_reset(&lr->partial);
            }
            p += take + (nl ? 1 : 0);
        }
    }
    return any;
}

/* ---- spilling (under lock unless said otherwise) ---- */

static uint64_t spill_waiting_locked(const ls_plugin_driver *d)
{
    return d->spill_end - d->spill_read + d->spillq.len;
}

/* Drops every spilled line not yet taken by the thread and empties the file. */
static void spill_clear_locked(ls_plugin_driver *d)
{
    d->queued -= (size_t)spill_waiting_locked(d);
    ls_buf_reset(&d->spillq);
    d->spill_end = d->spill_read = 0;
    if (d->spill_fd >= 0)
        (void)!ftruncate(d->spill_fd, 0);
    d->spilling = false;
}

/* The spill file cannot be used: what waits in it is lost and, from now on,
 * lines beyond the memory queue are dropped. The user is told at the end. */
static void spill_fail_locked(ls_plugin_driver *d, const char *what, int err)
{
    if (!d->spill_error) {
        ls_buf b = LS_BUF_INIT;
        ls_buf_printf(&b,
                      "cannot %s the plugins' spill file in %s: %s; lines waiting for the "
                      "plugins were lost",
                      what, d->spill_dir, strerror(err));
        d->spill_error = ls_buf_steal(&b);
    }
    spill_clear_locked(d);
    free(d->spill_dir);
    d->spill_dir = NULL;
}

/* Appends spillq to the file. */
static void spill_write_locked(ls_plugin_driver *d)
{
    if (d->spillq.len == 0)
        return;
    if (d->spill_fd < 0) {
        /* in the spool directory, unlinked at once: nothing is left behind */
        int fd = ls_open_unlinked(d->spill_dir, "plugin-spill");
        if (fd < 0) {
            spill_fail_locked(d, "create", -fd);
            return;
        }
        d->spill_fd = fd;
    }
    int r = ls_pwrite_all(d->spill_fd, d->spillq.data, d->spillq.len, (off_t)d->spill_end);
    if (r < 0) {
        spill_fail_locked(d, "write", -r);
        return;
    }
    d->spill_end += d->spillq.len;
    ls_buf_reset(&d->spillq);
}

/* ---- the I/O thread ---- */

/* The host's input is gone (it exited or closed stdin): stop feeding it. */
static void input_dead(ls_plugin_driver *d)
{
    close_fd(&d->in_fd);
    d->in_closed = true;
    ls_buf_reset(&d->outq);
    d->out_off = 0;
    pthread_mutex_lock(&d->lock);
    d->accepting = false;
    ls_buf_reset(&d->inq);
    spill_clear_locked(d);
    d->queued = d->in_memory = 0;
    pthread_mutex_unlock(&d->lock);
}

/* Writes as much of the queue as the pipe takes. */
static void write_queue(ls_plugin_driver *d)
{
    while (d->out_off < d->outq.len) {
        ssize_t n = write(d->in_fd, d->outq.data + d->out_off, d->outq.len - d->out_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) {
            input_dead(d); /* EPIPE: the host is gone or closed its stdin */
            return;
        }
        d->out_off += (size_t)n;
        pthread_mutex_lock(&d->lock);
        d->queued -= (size_t)n;
        if (d->out_from_memory)
            d->in_memory -= (size_t)n;
        pthread_mutex_unlock(&d->lock);
    }
}

static void check_exit(ls_plugin_driver *d)
{
    int st;
    pid_t p = waitpid(d->pid, &st, WNOHANG);
    if (p == d->pid) {
        d->wait_status = st;
        pthread_mutex_lock(&d->lock);
        d->exited = true;
        d->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        d->crashed = !d->finish_req || WIFSIGNALED(st);
        pthread_mutex_unlock(&d->lock);
    } else if (p < 0 && errno == ECHILD) {
        /* someone else reaped it: its status is lost */
        pthread_mutex_lock(&d->lock);
        d->exited = true;
        d->exit_code = -1;
        d->crashed = !d->finish_req;
        pthread_mutex_unlock(&d->lock);
        d->wait_status = -1;
    }
}

/* After the host's last output: why it ended, if the user needs to know. */
static void report_end(ls_plugin_driver *d)
{
    pthread_mutex_lock(&d->lock);
    bool finishing = d->finish_req;
    char *kill_notice = d->kill_notice;
    d->kill_notice = NULL;
    uint64_t dropped = d->dropped;
    char *spill_error = d->spill_error;
    d->spill_error = NULL;
    pthread_mutex_unlock(&d->lock);
    if (spill_error)
        notice(d, "%s", spill_error);
    free(spill_error);
    int st = d->wait_status;
    if (dropped)
        notice(d, "plugin host is behind; %llu lines not given to plugins",
               (unsigned long long)dropped);
    if (kill_notice) {
        notice(d, "%s", kill_notice);
    } else if (st != -1 && WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        notice(d, "plugin host exited with signal %d (%s)%s", sig, strsignal(sig),
               finishing ? " while finishing" : "; plugins are off for the rest of this build");
    } else if (!finishing) {
        if (st == -1)
            notice(d, "plugin host ended; plugins are off for the rest of this build");
        else
            notice(d,
                   "plugin host exited with status %d; plugins are off for the rest of this build",
                   WEXITSTATUS(st));
    }
    free(kill_notice);
}

/* A piece of the spill file the thread has taken, to read outside the lock. */
typedef struct spill_piece {
    int fd;
    uint64_t off;
    size_t len;
} spill_piece;

/* Once outq is written: the next lines for the host, in the order they were
 * fed. The memory queue comes first (while spilling it holds only lines fed
 * before the spill began), then the spill file (returned as a piece to read),
 * then spillq, the newest. When nothing spilled is left, lines go to the
 * memory queue again. */
static spill_piece take_next_locked(ls_plugin_driver *d, ls_buf *spare)
{
    spill_piece piece = {-1, 0, 0};
    if (d->spilling && spill_waiting_locked(d) == 0) {
        /* every spilled line is written to the host */
        d->spill_end = d->spill_read = 0;
        if (d->spill_fd >= 0)
            (void)!ftruncate(d->spill_fd, 0);
        d->spilling = false;
    }
    ls_buf written = d->outq;
    ls_buf_reset(&written);
    if (d->inq.len) {
        d->outq = d->inq;
        d->inq = written;
        d->out_from_memory = true;
    } else if (d->spill_read < d->spill_end) {
        uint64_t n = d->spill_end - d->spill_read;
        piece =
            (spill_piece){d->spill_fd, d->spill_read, n < SPILL_CHUNK ? (size_t)n : SPILL_CHUNK};
        d->spill_read += piece.len;
        d->out_from_memory = false;
    } else if (d->spillq.len) {
        d->outq = d->spillq;
        d->spillq = written;
        d->out_from_memory = false;
    } else {
        return piece;
    }
    d->out_off = 0;
    /* Reuse the written buffer unless a burst grew it: kept, the buffers
     * would hold several times the queue's limit resident. */
    ls_buf *kept = d->inq.data == written.data ? &d->inq : &d->spillq;
    if (piece.len == 0 && kept->cap > KEEP_BUFFER_BYTES) {
        *spare = *kept; /* freed outside the lock */
        *kept = (ls_buf)LS_BUF_INIT;
    }
    return piece;
}

/* Reads a piece of the spill file into outq, outside the lock: a piece
 * taken is not written again. The file ends early only when a canceled
 * build emptied it meanwhile (finish without the finish line). */
static void read_spill_piece(ls_plugin_driver *d, spill_piece piece)
{
    ls_buf_reset(&d->outq);
    char *dst = ls_buf_reserve(&d->outq, piece.len);
    ssize_t n = ls_pread_full(piece.fd, dst, piece.len, (off_t)piece.off);
    size_t got = n > 0 ? (size_t)n : 0;
    d->outq.len = got;
    d->out_off = 0;
    if (got < piece.len) {
        pthread_mutex_lock(&d->lock);
        d->queued -= piece.len - got;
        if (n < 0)
            spill_fail_locked(d, "read", (int)-n);
        pthread_mutex_unlock(&d->lock);
    }
}

static void *io_thread(void *arg)
{
    ls_plugin_driver *d = arg;
    ls_nice_thread(d->nice); /* feeding the plugins yields to the steps too */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE); /* a write to a dead host gives EPIPE, not a signal */
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    bool exited = false;
    int64_t last_activity = 0;
    for (;;) {
        ls_buf spare = LS_BUF_INIT;
        spill_piece piece = {-1, 0, 0};
        pthread_mutex_lock(&d->lock);
        if (!d->in_closed && d->out_off == d->outq.len)
            piece = take_next_locked(d, &spare);
        bool want_write = !d->in_closed && d->out_off < d->outq.len;
        bool close_in = !d->in_closed && !want_write && piece.len == 0 && d->close_req;
        bool kill_now = d->kill_req && !d->killed && !d->exited;
        pthread_mutex_unlock(&d->lock);
        ls_buf_free(&spare);
        if (piece.len > 0) {
            read_spill_piece(d, piece);
            continue; /* write it */
        }
        if (kill_now) {
            kill(-d->pid, SIGKILL);
            d->killed = true;
        }
        if (close_in) {
            close_fd(&d->in_fd);
            d->in_closed = true;
        }
        if (exited) {
            bool outputs_done = d->out.eof && d->err.eof;
            if (outputs_done || ls_mono_ms() - last_activity >= d->drain_ms)
                break;
        }
        struct pollfd pfd[5];
        int npfd = 0, i_in = -1, i_out = -1, i_err = -1, i_wake, i_pid = -1;
        if (want_write) {
            i_in = npfd;
            pfd[npfd++] = (struct pollfd){.fd = d->in_fd, .events = POLLOUT};
        }
        if (!d->out.eof) {
            i_out = npfd;
            pfd[npfd++] = (struct pollfd){.fd = d->out.fd, .events = POLLIN};
        }
        if (!d->err.eof) {
            i_err = npfd;
            pfd[npfd++] = (struct pollfd){.fd = d->err.fd, .events = POLLIN};
        }
        i_wake = npfd;
        pfd[npfd++] = (struct pollfd){.fd = d->wake_fd, .events = POLLIN};
        if (!exited && d->pidfd >= 0) {
            i_pid = npfd;
            pfd[npfd++] = (struct pollfd){.fd = d->pidfd, .events = POLLIN};
        }
        int timeout = -1;
        if (exited)
            timeout = (int)(d->drain_ms - (ls_mono_ms() - last_activity));
        else if (d->pidfd < 0)
            timeout = NO_PIDFD_CHECK_MS;
        if (timeout < -1)
            timeout = 0;
        int n = poll(pfd, (nfds_t)npfd, timeout);
        if (n < 0 && errno != EINTR)
            break;
        if (n < 0)
            continue;
        if (pfd[i_wake].revents) {
            uint64_t v;
            (void)!read(d->wake_fd, &v, sizeof(v));
        }
        if (i_in >= 0 && pfd[i_in].revents)
            write_queue(d);
        if (i_out >= 0 && pfd[i_out].revents && read_lines(d, &d->out))
            last_activity = ls_mono_ms();
        if (i_err >= 0 && pfd[i_err].revents && read_lines(d, &d->err))
            last_activity = ls_mono_ms();
        if (!exited && (d->pidfd < 0 || (i_pid >= 0 && pfd[i_pid].revents))) {
            check_exit(d);
            pthread_mutex_lock(&d->lock);
            exited = d->exited;
            pthread_mutex_unlock(&d->lock);
            if (exited) {
                last_activity = ls_mono_ms();
                if (!d->in_closed)
                    input_dead(d);
            }
        }
    }
    if (!exited) {
        /* poll failed: make sure the host ends and is reaped */
        kill(-d->pid, SIGKILL);
        int st;
        while (waitpid(d->pid, &st, 0) < 0 && errno == EINTR) {
        }
        d->wait_status = st;
        pthread_mutex_lock(&d->lock);
        d->exited = true;
        d->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        d->crashed = true;
        pthread_mutex_unlock(&d->lock);
    }
    if (!d->in_closed)
        input_dead(d);
    report_end(d);
    pthread_mutex_lock(&d->lock);
    d->done = true;
    pthread_cond_broadcast(&d->done_cond);
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

static void wake(ls_plugin_driver *d)
{
    uint64_t one = 1;
    (void)!write(d->wake_fd, &one, sizeof(one));
}

/* ---- API ---- */

int ls_plugin_driver_start(const ls_plugin_driver_options *o, ls_plugin_driver **ret)
{
    if (!o || !o->exe || !o->argv || !o->argv[0] || !o->context_json || !o->finish_nonce ||
        !*o->finish_nonce || strchr(o->context_json, '\n'))
        return -EINVAL;
    ls_plugin_driver *d = ls_xcalloc(1, sizeof(*d));
    d->on_output = o->on_output;
    d->userdata = o->userdata;
    d->diag_fd = o->diag_fd > 0 ? o->diag_fd : 2;
    d->host_diag_fd = o->host_diag_fd == 0 ? d->diag_fd : o->host_diag_fd;
    d->diag_prefix = ls_xstrdup(o->diag_prefix ? o->diag_prefix : "");
    size_t flen = strlen(FINISH_PREFIX) + strlen(o->finish_nonce) + 2;
    d->finish_line = ls_xmalloc(flen);
    snprintf(d->finish_line, flen, "%s%s\n", FINISH_PREFIX, o->finish_nonce);
    d->max_queue = o->max_queue ? o->max_queue : DEFAULT_MAX_QUEUE;
    d->max_spill = o->max_spill ? o->max_spill : DEFAULT_MAX_SPILL;
    d->spill_dir = o->spill_dir && *o->spill_dir ? ls_xstrdup(o->spill_dir) : NULL;
    d->spill_fd = -1;
    d->nice = o->nice;
    d->max_line = o->max_line ? o->max_line : DEFAULT_MAX_LINE;
    d->drain_ms = o->drain_ms > 0 ? o->drain_ms : DEFAULT_DRAIN_MS;
    d->pid = -1;
    d->pidfd = d->in_fd = d->out.fd = d->err.fd = -1;
    d->inq = d->outq = d->spillq = d->out.partial = d->err.partial = (ls_buf)LS_BUF_INIT;
    pthread_mutex_init(&d->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->done_cond, &ca);
    pthread_condattr_destroy(&ca);
    int r;
    d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->wake_fd < 0) {
        r = -errno;
        goto fail;
    }
    r = spawn_host(d, o);
    if (r < 0)
        goto fail;
    /* the context goes first, whatever the queue's limit */
    ls_buf_append(&d->inq, o->context_json, strlen(o->context_json));
    ls_buf_append(&d->inq, "\n", 1);
    d->queued = d->in_memory = d->inq.len;
    d->accepting = true;
    r = -pthread_create(&d->thread, NULL, io_thread, d);
    if (r < 0) {
        kill(-d->pid, SIGKILL);
        while (waitpid(d->pid, NULL, 0) < 0 && errno == EINTR) {
        }
        d->pid = -1;
        goto fail;
    }
    d->thread_started = true;
    *ret = d;
    return 0;
fail:
    d->done = true;
    ls_plugin_driver_free(d);
    return r;
}

/* Appends "STEP_ID:TEXT\n"; a newline inside text becomes a space (the host
 * would read two lines). */
static void append_line(ls_buf *q, const char *step_id, size_t idlen, const char *text, size_t len)
{
    size_t at = q->len;
    ls_buf_append(q, step_id, idlen);
    ls_buf_append(q, ":", 1);
    ls_buf_append(q, text, len);
    ls_buf_append(q, "\n", 1);
    for (char *p = q->data + at + idlen + 1, *end = q->data + q->len - 1;
         (p = memchr(p, '\n', (size_t)(end - p))) != NULL;)
        *p = ' ';
}

int ls_plugin_driver_feed(ls_plugin_driver *d, const char *step_id, const char *text, size_t len)
{
    size_t idlen = strlen(step_id);
    size_t need = idlen + 1 + len + 1;
    bool held = d->held; /* only the holding thread feeds while it is set */
    if (!held)
        pthread_mutex_lock(&d->lock);
    int r = 0;
    if (!d->accepting) {
        r = -EPIPE;
        goto out;
    }
    bool spill = d->spilling || d->in_memory + need > d->max_queue;
    if (spill && (!d->spill_dir || spill_waiting_locked(d) + need > d->max_spill)) {
        d->dropped++;
        r = -ENOBUFS;
        goto out;
    }
    bool was_empty = d->queued == 0;
    append_line(spill ? &d->spillq : &d->inq, step_id, idlen, text, len);
    d->queued += need;
    d->fed++;
    if (spill) {
        d->spilling = true;
        d->spilled++;
        if (d->spillq.len >= SPILL_CHUNK)
            spill_write_locked(d);
    } else {
        d->in_memory += need;
    }
    if (held) {
        d->wake_due = d->wake_due || was_empty;
        return 0;
    }
    pthread_mutex_unlock(&d->lock);
    if (was_empty)
        wake(d);
    return 0;
out:
    if (!held)
        pthread_mutex_unlock(&d->lock);
    return r;
}

void ls_plugin_driver_hold(ls_plugin_driver *d)
{
    pthread_mutex_lock(&d->lock);
    d->held = true;
}

void ls_plugin_driver_release(ls_plugin_driver *d)
{
    bool wake_due = d->wake_due;
    d->held = false;
    d->wake_due = false;
    pthread_mutex_unlock(&d->lock);
    if (wake_due)
        wake(d);
}

void ls_plugin_driver_finish(ls_plugin_driver *d, bool send_finish)
{
    pthread_mutex_lock(&d->lock);
    if (d->finish_req || d->done) {
        d->finish_req = true;
        pthread_mutex_unlock(&d->lock);
        return;
    }
    d->finish_req = true;
    if (send_finish && d->accepting) {
        /* after every line, spilled ones included */
        ls_buf_append(d->spilling ? &d->spillq : &d->inq, d->finish_line, strlen(d->finish_line));
        d->queued += strlen(d->finish_line);
        if (!d->spilling)
            d->in_memory += strlen(d->finish_line);
    } else {
        d->queued -= d->inq.len;
        d->in_memory -= d->inq.len;
        ls_buf_reset(&d->inq);
        spill_clear_locked(d);
    }
    d->accepting = false;
    d->close_req = true;
    pthread_mutex_unlock(&d->lock);
    wake(d);
}

int ls_plugin_driver_wait(ls_plugin_driver *d, int64_t deadline_ms)
{
    pthread_mutex_lock(&d->lock);
    while (!d->done) {
        int64_t left = deadline_ms - ls_mono_ms();
        if (left <= 0)
            break;
        struct timespec ts;
        ls_mono_deadline(&ts, left);
        pthread_cond_timedwait(&d->done_cond, &d->lock, &ts);
    }
    bool done = d->done;
    pthread_mutex_unlock(&d->lock);
    if (!done)
        return -ETIMEDOUT;
    if (d->thread_started && !d->thread_joined) {
        pthread_join(d->thread, NULL);
        d->thread_joined = true;
    }
    return 0;
}

void ls_plugin_driver_kill(ls_plugin_driver *d, const char *why)
{
    pthread_mutex_lock(&d->lock);
    if (!d->done && !d->kill_req) {
        d->kill_req = true;
        d->kill_notice = why ? ls_xstrdup(why) : NULL;
    }
    pthread_mutex_unlock(&d->lock);
    wake(d);
}

void ls_plugin_driver_get_stats(ls_plugin_driver *d, ls_plugin_driver_stats *ret)
{
    pthread_mutex_lock(&d->lock);
    *ret = (ls_plugin_driver_stats){
        .pid = d->pid,
        .fed = d->fed,
        .dropped = d->dropped,
        .spilled = d->spilled,
        .queued = d->queued,
        .exited = d->exited,
        .crashed = d->crashed,
        .exit_code = d->exit_code,
    };
    pthread_mutex_unlock(&d->lock);
}

void ls_plugin_driver_free(ls_plugin_driver *d)
{
    if (!d)
        return;
    if (d->thread_started && !d->thread_joined) {
        ls_plugin_driver_kill(d, NULL);
        ls_plugin_driver_wait(d, INT64_MAX);
    }
    close_fd(&d->in_fd);
    close_fd(&d->out.fd);
    close_fd(&d->err.fd);
    close_fd(&d->pidfd);
    close_fd(&d->wake_fd);
    close_fd(&d->spill_fd);
    ls_buf_free(&d->spillq);
    free(d->spill_dir);
    free(d->spill_error);
    ls_buf_free(&d->inq);
    ls_buf_free(&d->outq);
    ls_buf_free(&d->out.partial);
    ls_buf_free(&d->err.partial);
    pthread_cond_destroy(&d->done_cond);
    pthread_mutex_destroy(&d->lock);
    free(d->kill_notice);
    free(d->diag_prefix);
    free(d->finish_line);
    free(d);
}

/* ---- which plugins run ---- */

static bool valid_plugin_name(const char *s, size_t n)
{
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    }
    return true;
}

/* The entry of `name` in the plugins object, created as {"enabled": dflt}. */
static json_t *entry(json_t *plugins, const char *name, bool dflt)
{
    json_t *e = json_object_get(plugins, name);
    if (!e) {
        e = json_pack("{s:b}", "enabled", dflt);
        json_object_set_new(plugins, name, e);
    }
    return e;
}

/* Applies a comma-separated flag value: each name enabled or disabled. */
static int apply_flag_list(json_t *plugins, const char *list, bool enable, const char *flag,
                           char *err, size_t errlen)
{
    if (!list)
        return 0;
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        const char *name = p;
        size_t len = n;
        while (len && (*name == ' ')) {
            name++;
            len--;
        }
        while (len && name[len - 1] == ' ')
            len--;
        if (len) {
            if (!valid_plugin_name(name, len)) {
                snprintf(err, errlen,
                         "%s: '%.*s' is not a plugin name (1 to 32 of a-z, 0-9 and '-')", flag,
                         (int)(len > 64 ? 64 : len), name);
                return -EINVAL;
            }
            char key[33];
            memcpy(key, name, len);
            key[len] = '\0';
            json_object_set_new(entry(plugins, key, enable), "enabled", json_boolean(enable));
        }
        p += n + (p[n] == ',');
    }
    return 0;
}

/* A name both force-enabled and disabled on the command line is a mistake. */
static int check_flag_conflict(const ls_plugin_flags *f, char *err, size_t errlen)
{
    if (!f->enable || !f->disable)
        return 0;
    json_t *en = json_object(), *dis = json_object();
    int r = apply_flag_list(en, f->enable, true, "--plugin", err, errlen);
    if (r == 0)
        r = apply_flag_list(dis, f->disable, false, "--disable-plugin", err, errlen);
    const char *name;
    json_t *v;
    if (r == 0) {
        json_object_foreach(en, name, v)
        {
            if (!json_object_get(dis, name))
                continue;
            snprintf(err, errlen,
                     "plugin %s is given to both --plugin and --disable-plugin; keep one", name);
            r = -EINVAL;
            break;
        }
    }
    json_decref(en);
    json_decref(dis);
    return r;
}

int ls_plugin_select(const ls_pipeline_plugins *pl, const ls_plugin_flags *f, char **ret_json,
                     char *err, size_t errlen)
{
    static const ls_plugin_flags no_flags = {0};
    if (!f)
        f = &no_flags;
    if (err && errlen)
        err[0] = '\0';
    if (f->none && ((f->enable && *f->enable) || (f->disable && *f->disable))) {
        snprintf(err, errlen, "--no-plugins cannot be combined with --plugin or --disable-plugin");
        return -EINVAL;
    }
    json_t *plugins = json_object();
    int r = 0;
    bool dflt = pl ? pl->enabled : true;
    json_object_set_new(plugins, "*", json_boolean(dflt));
    /* resave, the sample plugin, copies logs into the job's temporary
     * directory, which goes with the build: it runs only when asked for
     * (plugins.enable, plugins.settings, --plugin) */
    json_object_set_new(plugins, "resave", json_pack("{s:b}", "enabled", false));
    if (pl) {
        for (size_t i = 0; i < pl->n_settings; i++) {
            json_t *s = json_loads(pl->settings[i].json, 0, NULL);
            json_t *e = entry(plugins, pl->settings[i].name, dflt);
            if (!strcmp(pl->settings[i].name, "resave"))
                json_object_set_new(e, "enabled", json_boolean(dflt));
            json_object_set_new(e, "settings", s ? s : json_object());
        }
        for (size_t i = 0; i < pl->n_enable; i++)
            json_object_set_new(entry(plugins, pl->enable[i], true), "enabled", json_true());
        for (size_t i = 0; i < pl->n_disable; i++)
            json_object_set_new(entry(plugins, pl->disable[i], false), "enabled", json_false());
    }
    if ((r = check_flag_conflict(f, err, errlen)) < 0 ||
        (r = apply_flag_list(plugins, f->disable, false, "--disable-plugin", err, errlen)) < 0 ||
        (r = apply_flag_list(plugins, f->enable, true, "--plugin", err, errlen)) < 0)
        goto out;
    bool any = json_is_true(json_object_get(plugins, "*"));
    const char *name;
    json_t *v;
    json_object_foreach(plugins, name, v)
    {
        if (json_is_object(v) && json_is_true(json_object_get(v, "enabled")))
            any = true;
    }
    *ret_json = NULL;
    if (f->none || !any)
        goto out;
    *ret_json = json_dumps(plugins, JSON_COMPACT | JSON_SORT_KEYS);
    if (!*ret_json)
        abort();
out:
    json_decref(plugins);
    return r;
}

/* ---- a forwarded step's notice ---- */

int ls_plugin_replaced_log(const char *plugins_json, const char *step_name, char **ret_notice)
{
    json_t *plugins = plugins_json ? json_loads(plugins_json, 0, NULL) : NULL;
    json_t *fw = json_object_get(plugins, "forward");
    json_t *settings = json_object_get(fw, "settings");
    char *text = NULL, *where = NULL;
    int r = 0;
    if (!json_is_true(json_object_get(fw, "enabled")) || !json_is_object(settings))
        goto out;
    text = json_dumps(settings, JSON_COMPACT);
    if (!text || ls_forward_replaced_log(text, step_name, &where) != 1)
        goto out;
    ls_buf b = LS_BUF_INIT;
    ls_buf_printf(&b, "logs for this step were forwarded to %s", where);
    *ret_notice = ls_buf_steal(&b);
    r = 1;
out:
    free(where);
    free(text);
    json_decref(plugins);
    return r;
}
