#include "cli/demo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli/logs.h"
#include "common/alloc.h"
#include "common/flags.h"
#include "server/server.h"

#define SYNOPSIS "[--once] [--listen HOST:PORT] [--data DIR] [--pipeline FILE]"
#define DEFAULT_PIPELINE "examples/hello.yml"
#define MAX_FIRST_LINE 4096

/* The sample pipeline (a copy of examples/hello.yml), for running the demo
 * outside a source checkout. */
static const char builtin_pipeline[] = "version: \"1\"\n"
                                       "steps:\n"
                                       "  - name: logs\n"
                                       "    image: alpine:latest\n"
                                       "    commands:\n"
                                       "      - sleep 1\n"
                                       "      - echo \"hello one\"\n"
                                       "      - sleep 2\n"
                                       "      - echo \"hello two\"\n"
                                       "      - sleep 3\n"
                                       "      - echo \"hello three\"\n";

typedef struct demo_opts {
    bool once;
    char *listen;
    char *data;
    char *pipeline;
} demo_opts;

static volatile sig_atomic_t g_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void install_signals(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Splits "HOST:PORT" ("[v6]:PORT" too) into host and port. */
static int split_listen(const char *listen, char *host, size_t hostlen, unsigned *ret_port)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen)
        return -EINVAL;
    const char *h = listen;
    size_t n = (size_t)(colon - listen);
    if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (n == 0 || n >= hostlen || !colon[1] || *end || errno || port > 65535)
        return -EINVAL;
    memcpy(host, h, n);
    host[n] = '\0';
    *ret_port = (unsigned)port;
    return 0;
}

/* True when something already listens on host:port (our bind fails with
 * EADDRINUSE). */
static bool port_taken(const char *host, unsigned port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
    char service[16];
    snprintf(service, sizeof(service), "%u", port);
    if (getaddrinfo(host, service, &hints, &ai) != 0)
        return false; /* the server will report the bad host */
    bool taken = false;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        taken = bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno == EADDRINUSE;
        close(fd);
    }
    freeaddrinfo(ai);
    return taken;
}

/* Starts the embedded server; falls back to a free port when the port is taken. */
static int start_server(const demo_opts *o, ls_server **ret, char *url, size_t urllen)
{
    char host[256], listen[300], err[512];
    unsigned port;
    if (split_listen(o->listen, host, sizeof(host), &port) < 0) {
        fprintf(stderr, "logstream demo: --listen must be HOST:PORT, not '%s'\n", o->listen);
        return -EINVAL;
    }
    if (port != 0 && port_taken(host, port)) {
        fprintf(stderr, "logstream demo: port %u on %s is taken; using a free port instead\n", port,
                host);
        port = 0;
    }
    bool v6 = strchr(host, ':') != NULL;
    snprintf(listen, sizeof(listen), v6 ? "[%s]:%u" : "%s:%u", host, port);
    char *argv[] = {"--listen", listen, "--data", o->data, NULL};
    int r = ls_server_start(4, argv, ret, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "logstream demo: cannot start the server: %s\n", err);
        return r;
    }
    /* Clients cannot connect to a wildcard address: use loopback for them. */
    const char *client_host = host;
    if (!strcmp(host, "0.0.0.0") || !strcmp(host, "*"))
        client_host = "127.0.0.1";
    else if (!strcmp(host, "::"))
        client_host = "::1";
    v6 = strchr(client_host, ':') != NULL;
    snprintf(url, urllen, v6 ? "http://[%s]:%u" : "http://%s:%u", client_host,
             ls_server_port(*ret));
    printf("logstream server listening on %s (data in %s)\n", url, o->data);
    fflush(stdout);
    return 0;
}

/* Uses the built-in sample when the default pipeline file is not here. */
static int pick_pipeline(demo_opts *o, bool given)
{
    if (access(o->pipeline, R_OK) == 0 || given)
        return 0;
    char *path = NULL;
    if (asprintf(&path, "%s/hello.yml", o->data) < 0)
        return -ENOMEM;
    FILE *f = fopen(path, "w");
    if (!f || fputs(builtin_pipeline, f) < 0 || fclose(f) != 0) {
        int e = errno;
        fprintf(stderr, "logstream demo: cannot write %s: %s\n", path, strerror(e));
        free(path);
        return -e;
    }
    fprintf(stderr, "logstream demo: %s not found; running the built-in sample (%s)\n", o->pipeline,
            path);
    free(o->pipeline);
    o->pipeline = path;
    return 0;
}

/* The demo's tokens: made in-process through the embedded server, like an
 * admin would with POST /api/v1/tokens, and deleted when the demo stops. */
typedef struct demo_tokens {
    char worker[LS_SERVER_TOKEN_BUF]; /* for the `run` child */
    char read[LS_SERVER_TOKEN_BUF];   /* for following, and the browser URL */
    int64_t worker_id, read_id;
} demo_tokens;

static int make_tokens(ls_server *server, const char *data, demo_tokens *t)
{
    const char *admin = ls_server_new_admin_token(server);
    if (admin)
        fprintf(stderr,
                "logstream demo: admin token (shown once, stored hashed in %s/logstream.db): %s\n",
                data, admin);
    int r =
        ls_server_issue_token(server, "worker", "logstream demo: worker", t->worker, &t->worker_id);
    if (r == 0)
        r = ls_server_issue_token(server, "read", "logstream demo: viewer", t->read, &t->read_id);
    if (r < 0)
        fprintf(stderr, "logstream demo: cannot make the demo's tokens: %s\n", strerror(-r));
    return r;
}

static void drop_tokens(ls_server *server, demo_tokens *t)
{
    if (!server)
        return;
    if (t->worker_id)
        ls_server_revoke_token(server, t->worker_id);
    if (t->read_id)
        ls_server_revoke_token(server, t->read_id);
    memset(t, 0, sizeof(*t));
}

/* Runs `logstream run PIPELINE --server URL` with its stdout on a pipe; the
 * worker token goes in LOGSTREAM_TOKEN (the environment, unlike the command
 * line, is not readable by other users). */
static int spawn_worker(const char *pipeline, const char *url, const char *token, pid_t *ret_pid,
                        int *ret_fd)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return -e;
    }
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        dup2(fds[1], STDOUT_FILENO);
        setenv("LOGSTREAM_TOKEN", token, 1);
        execl("/proc/self/exe", "logstream", "run", pipeline, "--server", url, (char *)NULL);
        fprintf(stderr, "logstream demo: cannot run /proc/self/exe: %s\n", strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    *ret_pid = pid;
    *ret_fd = fds[0];
    return 0;
}

/* Reads the worker's first stdout line, "build ID URL". */
static int read_build_line(int fd, int64_t *ret_id, char *build_url, size_t urllen)
{
    char line[MAX_FIRST_LINE];
    size_t n = 0;
    while (n < sizeof(line) - 1) {
        ssize_t r = read(fd, line + n, 1);
        if (r < 0 && errno == EINTR && !g_stop)
            continue;
        if (r <= 0)
            return -EPIPE;
        if (line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    long long id;
    char url[MAX_FIRST_LINE];
    if (sscanf(line, "build %lld %4095s", &id, url) != 2 || id < 1)
        return -EPROTO;
    snprintf(build_url, urllen, "%s", url);
    *ret_id = id;
    return 0;
}

/* Waits for the worker; returns its exit code (128+signal when killed). */
static int wait_worker(pid_t pid, int fd)
{
    char buf[256];
    ssize_t r;
    while ((r = read(fd, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR))
        ; /* drain anything else it prints so it never blocks on a full pipe */
    close(fd);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return 1;
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

static void wait_for_stop_signal(const char *url, const char *read_token)
{
    printf("\nserver still running at %s/?access_token=%s — press Ctrl-C to stop\n", url,
           read_token);
    fflush(stdout);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    while (!g_stop)
        sigsuspend(&old);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

/* Runs the pipeline and follows it; returns the pipeline's exit code. */
static int run_pipeline(const demo_opts *o, const char *server_url, const demo_tokens *t)
{
    pid_t pid = -1;
    int fd = -1, r = spawn_worker(o->pipeline, server_url, t->worker, &pid, &fd);
    if (r < 0) {
        fprintf(stderr, "logstream demo: cannot start the worker: %s\n", strerror(-r));
        return 1;
    }
    int64_t id;
    char build_url[MAX_FIRST_LINE], err[1024];
    r = read_build_line(fd, &id, build_url, sizeof(build_url));
    if (r < 0) {
        int code = wait_worker(pid, fd);
        fprintf(stderr, "logstream demo: the pipeline did not start (exit %d; see above)\n", code);
        return code ? code : 1;
    }
    /* the web UI reads its token from ?access_token= (docs/api.md) */
    printf("\n  ▶ build %" PRId64 ": %s?access_token=%s\n\n", id, build_url, t->read);
    fflush(stdout);
    r = ls_logs_follow_build(server_url, t->read, id, &g_stop, err, sizeof(err));
    if (r < 0 && r != -EINTR)
        fprintf(stderr, "logstream demo: following the logs failed: %s\n", err);
    if (g_stop)
        kill(pid, SIGTERM);
    int code = wait_worker(pid, fd);
    printf("\nbuild %" PRId64 " finished: logstream run exited with %d\n", id, code);
    fflush(stdout);
    return code;
}

int ls_demo_main(int argc, char **argv)
{
    demo_opts o = {0};
    ls_flag flags[] = {
        {"once", 0, LS_FLAG_BOOL, &o.once, "false",
         "exit when the pipeline has finished instead of keeping the server running"},
        {"listen", 'l', LS_FLAG_STRING, &o.listen, "127.0.0.1:8080",
         "address of the embedded server (a free port is used when this one is taken)"},
        {"data", 'd', LS_FLAG_STRING, &o.data, "./logstream-data",
         "directory for the SQLite database"},
        {"pipeline", 'p', LS_FLAG_STRING, &o.pipeline, DEFAULT_PIPELINE, "pipeline file to run"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    char err[512];
    const char *pos[1];
    int npos = 0, rc = 2;
    ls_server *server = NULL;
    demo_tokens tokens = {0};
    int r = ls_flags_parse(flags, argc, argv, pos, 1, &npos, err, sizeof(err));
    if (r == -EAGAIN) {
        ls_flags_usage(stdout, "demo", SYNOPSIS, flags);
        rc = 0;
        goto out;
    }
    if (r < 0 || npos != 0) {
        fprintf(stderr, "logstream demo: %s\n", r < 0 ? err : "takes no arguments");
        ls_flags_usage(stderr, "demo", SYNOPSIS, flags);
        goto out;
    }
    rc = 1;
    if (mkdir(o.data, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "logstream demo: cannot create %s: %s\n", o.data, strerror(errno));
        goto out;
    }
    bool given = false;
    for (int i = 0; i < argc; i++)
        given = given || !strncmp(argv[i], "--pipeline", 10) || !strncmp(argv[i], "-p", 2);
    given = given || getenv("LOGSTREAM_PIPELINE");
    if (pick_pipeline(&o, given) < 0)
        goto out;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    install_signals();
    char url[320];
    if (start_server(&o, &server, url, sizeof(url)) < 0 || make_tokens(server, o.data, &tokens) < 0)
        goto out;
    rc = run_pipeline(&o, url, &tokens);
    if (!o.once && !g_stop)
        wait_for_stop_signal(url, tokens.read);
    printf("stopping the server\n");
    fflush(stdout);
out:
    drop_tokens(server, &tokens);
    ls_server_free(server);
    ls_flags_free(flags);
    return rc;
}
