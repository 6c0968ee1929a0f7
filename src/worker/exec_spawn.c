#include "worker/exec_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

/* Scripts up to this size go on the command line (one argument may not
 * exceed 128 KiB on Linux); longer ones are read from a memfd. */
#define SCRIPT_ARG_MAX 100000u
/* Pipe capacity asked for: fewer wake-ups for a process that prints a lot. */
#define DEFAULT_PIPE_SIZE (1024 * 1024)

/* Descriptors the child needs, all close-on-exec in the parent. */
typedef struct spawn_fds {
    int out_r, out_w;       /* stdout pipe, or PTY master / slave */
    int err_r, err_w;       /* stderr pipe; -1 with a PTY */
    int status_r, status_w; /* exec failure report: the child writes its errno */
    int script;             /* memfd holding a long script, or -1 */
    int max_fd;             /* highest descriptor to close when close_range is missing */
} spawn_fds;

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void close_all(spawn_fds *f)
{
    close_fd(&f->out_r);
    close_fd(&f->out_w);
    close_fd(&f->err_r);
    close_fd(&f->err_w);
    close_fd(&f->status_r);
    close_fd(&f->status_w);
    close_fd(&f->script);
}

/* Moves a descriptor above 0..2 so that the child's dup2 onto its stdio can
 * never clobber it (the caller may run with stdio closed). */
static int above_stdio(int *fd)
{
    if (*fd > 2)
        return 0;
    int n = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
    if (n < 0)
        return -errno;
    close(*fd);
    *fd = n;
    return 0;
}

static int make_pipe(int *r, int *w)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    *r = p[0];
    *w = p[1];
    int ret = above_stdio(r);
    if (ret == 0)
        ret = above_stdio(w);
    return ret;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

/* A PTY whose slave does not turn "\n" into "\r\n" and does not echo. */
static int open_pty(const ls_exec_spawn_req *req, spawn_fds *f)
{
    char name[128];
    f->out_r = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (f->out_r < 0)
        return -errno;
    if (grantpt(f->out_r) < 0 || unlockpt(f->out_r) < 0)
        return -errno;
    int r = ptsname_r(f->out_r, name, sizeof(name));
    if (r)
        return -r;
    f->out_w = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (f->out_w < 0)
        return -errno;
    struct termios tio;
    if (tcgetattr(f->out_w, &tio) == 0) {
        tio.c_oflag &= ~(tcflag_t)ONLCR;
        tio.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        tcsetattr(f->out_w, TCSANOW, &tio);
    }
    struct winsize ws = {.ws_row = req->rows, .ws_col = req->cols};
    ioctl(f->out_w, TIOCSWINSZ, &ws);
    if ((r = above_stdio(&f->out_r)) < 0 || (r = above_stdio(&f->out_w)) < 0)
        return r;
    return 0;
}

static int open_script_memfd(const char *script, int *ret)
{
    int fd = memfd_create("logstream-script", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = strlen(script), off = 0;
    while (off < len) {
        ssize_t n = write(fd, script + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        off += (size_t)n;
    }
    *ret = fd;
    return above_stdio(ret);
}

static int open_fds(const ls_exec_spawn_req *req, spawn_fds *f)
{
    int r;
    if (req->tty)
        r = open_pty(req, f);
    else if ((r = make_pipe(&f->out_r, &f->out_w)) == 0)
        r = make_pipe(&f->err_r, &f->err_w);
    if (r == 0)
        r = make_pipe(&f->status_r, &f->status_w);
    if (r == 0 && strlen(req->script) > SCRIPT_ARG_MAX)
        r = open_script_memfd(req->script, &f->script);
    if (r == 0)
        r = set_nonblock(f->out_r);
    if (r == 0 && f->err_r >= 0)
        r = set_nonblock(f->err_r);
    if (r < 0)
        return r;
    if (!req->tty) {
        int size = req->pipe_size > 0 ? req->pipe_size : DEFAULT_PIPE_SIZE;
        fcntl(f->out_r, F_SETPIPE_SZ, size);
        fcntl(f->err_r, F_SETPIPE_SZ, size);
    }
    struct rlimit rl;
    f->max_fd = 65535;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)f->max_fd)
        f->max_fd = (int)rl.rlim_cur;
    return 0;
}

/* In the child (async-signal-safe calls only): reports errno and exits. */
static _Noreturn void child_fail(int status_w)
{
    int e = errno;
    ssize_t n = write(status_w, &e, sizeof(e));
    (void)n;
    _exit(127);
}

static void child_reset_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &sa, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Every descriptor but stdio (and the script memfd) closes on exec. */
static void child_mark_cloexec(const spawn_fds *f)
{
    if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) < 0) {
        for (int fd = 3; fd <= f->max_fd; fd++)
            fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    if (f->script >= 0)
        fcntl(f->script, F_SETFD, 0);
}

static _Noreturn void child_exec(const ls_exec_spawn_req *req, const spawn_fds *f,
                                 char *const *argv, char *const *env)
{
    if (req->tty) {
        if (setsid() < 0 || ioctl(f->out_w, TIOCSCTTY, 0) < 0)
            child_fail(f->status_w);
    } else if (setpgid(0, 0) < 0) {
        child_fail(f->status_w);
    }
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(f->out_w, 1) < 0 ||
        dup2(f->err_w >= 0 ? f->err_w : f->out_w, 2) < 0)
        child_fail(f->status_w);
    child_reset_signals();
    if (req->workdir && chdir(req->workdir) < 0)
        child_fail(f->status_w);
    child_mark_cloexec(f);
    execve("/bin/sh", argv, env);
    child_fail(f->status_w);
}

/* Waits for the child's exec: EOF on the status pipe means it succeeded. */
static int read_exec_status(int status_r)
{
    int e = 0;
    size_t got = 0;
    while (got < sizeof(e)) {
        ssize_t n = read(status_r, (char *)&e + got, sizeof(e) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got == sizeof(e) ? -(e ? e : ECHILD) : 0;
}

int ls_exec_spawn(const ls_exec_spawn_req *req, ls_exec_spawned *ret)
{
    spawn_fds f = {-1, -1, -1, -1, -1, -1, -1, 0};
    char script_path[32];
    char *argv[5] = {"sh", "-e", "-c", (char *)req->script, NULL};
    char *const *env = req->env ? req->env : environ;
    int r = open_fds(req, &f);
    if (r < 0)
        goto out;
    if (f.script >= 0) {
        snprintf(script_path, sizeof(script_path), "/dev/fd/%d", f.script);
        argv[2] = script_path;
        argv[3] = NULL;
    }
    pid_t pid = fork();
    if (pid < 0) {
        r = -errno;
        goto out;
    }
    if (pid == 0)
        child_exec(req, &f, argv, env);
    if (!req->tty)
        setpgid(pid, pid); /* also in the child: whichever runs first */
    close_fd(&f.out_w);
    close_fd(&f.err_w);
    close_fd(&f.status_w);
    close_fd(&f.script);
    r = read_exec_status(f.status_r);
    if (r < 0) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        goto out;
    }
    ret->pid = pid;
    ret->out_fd = f.out_r;
    ret->err_fd = f.err_r;
    f.out_r = f.err_r = -1;
out:
    close_all(&f);
    return r;
}
