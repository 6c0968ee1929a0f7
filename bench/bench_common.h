/* Helpers shared by bench_latency.c and bench_ingest.c (header only, so each
 * benchmark stays one source file for ls_linked_executable): clocks, a
 * temporary directory, starting and stopping a real `logstream server` (with
 * its admin token and a worker and a read token made through the tokens API),
 * a blocking loopback HTTP/1.1 client with a chunked-encoding decoder, and
 * percentiles.
 *
 * Benchmarks are programs for people: these helpers print their errors to
 * stderr and return -1 (or NULL), and the caller gives up. */
#ifndef LS_BENCH_COMMON_H
#define LS_BENCH_COMMON_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Room for a token ("lst_" and 43 characters) and its NUL. */
#define BENCH_TOKEN_MAX 128

/* ---- clocks ---- */

static inline int64_t bench_clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t bench_mono_ns(void)
{
    return bench_clock_ns(CLOCK_MONOTONIC);
}

static inline int64_t bench_real_ns(void)
{
    return bench_clock_ns(CLOCK_REALTIME);
}

static inline void bench_sleep_ms(int64_t ms)
{
    struct timespec d = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&d, NULL);
}

/* ---- temporary directory ---- */

/* DIR/NAME, malloc'ed. */
static inline char *bench_path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p)
        abort();
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Creates PARENT/NAME-XXXXXX; returns a malloc'ed path or NULL. */
static inline char *bench_mkdtemp(const char *parent, const char *name)
{
    size_t n = strlen(parent) + strlen(name) + 16;
    char *path = malloc(n);
    if (!path)
        return NULL;
    snprintf(path, n, "%s/%s-XXXXXX", parent, name);
    if (!mkdtemp(path)) {
        fprintf(stderr, "bench: mkdtemp %s: %s\n", path, strerror(errno));
        free(path);
        return NULL;
    }
    return path;
}

/* Removes a directory tree (files and directories only, no symlink walking). */
static inline void bench_rmtree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *child = bench_path_join(path, e->d_name);
            struct stat st;
            if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
                bench_rmtree(child);
            else
                unlink(child);
            free(child);
        }
        closedir(d);
    }
    rmdir(path);
}

/* Sum of the sizes of the regular files in a directory tree. */
static inline long long bench_du(const char *path)
{
    long long total = 0;
    DIR *d = opendir(path);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *child = bench_path_join(path, e->d_name);
        struct stat st;
        if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
            total += bench_du(child);
        else if (lstat(child, &st) == 0 && S_ISREG(st.st_mode))
            total += st.st_size;
        free(child);
    }
    closedir(d);
    return total;
}

/* ---- processes ---- */

/* fork+exec argv with stdout and stderr appended to log_path. Returns the pid
 * or -1. */
static inline pid_t bench_spawn(char *const argv[], const char *log_path)
{
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "bench: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        int null = open("/dev/null", O_RDONLY);
        if (fd < 0 || null < 0)
            _exit(127);
        dup2(null, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execv(argv[0], argv);
        dprintf(fd, "bench: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

/* Waits for pid at most timeout_ms; SIGKILLs it after that. Returns the raw
 * wait status, or -1 when it had to be killed. */
static inline int bench_wait(pid_t pid, int64_t timeout_ms)
{
    int64_t deadline = bench_mono_ns() + timeout_ms * 1000000;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0)
            return -1;
        if (bench_mono_ns() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        bench_sleep_ms(5);
    }
}

/* CPU seconds (user + system) a running process has used, from /proc. */
static inline double bench_proc_cpu_s(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p)
        return 0;
    unsigned long long utime = 0, stime = 0;
    /* after ")": state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return 0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Peak resident set of a running process in KiB (VmHWM), 0 if unknown. */
static inline long bench_proc_hwm_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long kib = 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* Per-thread scheduler figures of a process, from /proc/PID/task/TID/schedstat:
 * time on a CPU and time spent runnable but waiting for a CPU (a busy
 * machine shows up there), grouped by thread name. */
#define BENCH_MAX_THREAD_NAMES 16

typedef struct bench_thread_stat {
    char name[32];
    int threads;
    int64_t cpu_ns;
    int64_t wait_ns;
} bench_thread_stat;

typedef struct bench_sched {
    bench_thread_stat t[BENCH_MAX_THREAD_NAMES];
    int n;
} bench_sched;

static inline bench_thread_stat *bench_sched_slot(bench_sched *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->t[i].name, name) == 0)
            return &s->t[i];
    if (s->n == BENCH_MAX_THREAD_NAMES)
        return NULL;
    bench_thread_stat *t = &s->t[s->n++];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    return t;
}

static inline void bench_sched_read(pid_t pid, bench_sched *ret)
{
    ret->n = 0;
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *task = bench_path_join(dir, e->d_name);
        char *comm_path = bench_path_join(task, "comm");
        char *stat_path = bench_path_join(task, "schedstat");
        char name[32] = "?";
        long long cpu = 0, wait = 0;
        FILE *f = fopen(comm_path, "r");
        if (f) {
            if (fgets(name, sizeof(name), f))
                name[strcspn(name, "\n")] = '\0';
            fclose(f);
        }
        f = fopen(stat_path, "r");
        if (f) {
            if (fscanf(f, "%lld %lld", &cpu, &wait) != 2)
                cpu = wait = 0;
            fclose(f);
        }
        bench_thread_stat *t = bench_sched_slot(ret, name);
        if (t) {
            t->threads++;
            t->cpu_ns += cpu;
            t->wait_ns += wait;
        }
        free(task);
        free(comm_path);
        free(stat_path);
    }
    closedir(d);
}

/* after - before, by thread name (threads that started in between count
 * from 0). */
static inline void bench_sched_diff(const bench_sched *before, const bench_sched *after,
                                    bench_sched *ret)
{
    *ret = *after;
    for (int i = 0; i < ret->n; i++)
        for (int j = 0; j < before->n; j++)
            if (strcmp(ret->t[i].name, before->t[j].name) == 0) {
                ret->t[i].cpu_ns -= before->t[j].cpu_ns;
                ret->t[i].wait_ns -= before->t[j].wait_ns;
            }
}

/* "NAME cpu X s, waited Y s for a CPU; ..." on one line. */
static inline void bench_sched_print(const char *prefix, const bench_sched *s)
{
    printf("%s", prefix);
    bool first = true;
    for (int i = 0; i < s->n; i++) {
        const bench_thread_stat *t = &s->t[i];
        if (t->cpu_ns < 1000000 && t->wait_ns < 1000000)
            continue;
        printf("%s%s", first ? "" : "; ", t->name);
        if (t->threads > 1)
            printf(" (%d threads)", t->threads);
        printf(" cpu %.2f s, waited %.2f s for a CPU", (double)t->cpu_ns / 1e9,
               (double)t->wait_ns / 1e9);
        first = false;
    }
    printf("\n");
}

/* ---- sockets ---- */

static inline int bench_connect(const char *host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        fprintf(stderr, "bench: connect %s:%d: %s\n", host, port, strerror(errno));
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static inline int bench_write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- HTTP/1.1 chunked transfer decoding (incremental) ---- */

typedef struct bench_dechunk {
    int state;       /* 0 size line, 1 data, 2 CRLF after data, 3 done */
    uint64_t remain; /* bytes left in the current chunk */
    bool seen_digit;
} bench_dechunk;

/* Decodes in[0..n) in place; returns the number of payload bytes now at the
 * start of in, or -1 on a framing error. d->state == 3 after the last chunk. */
static inline ssize_t bench_dechunk_feed(bench_dechunk *d, char *in, size_t n)
{
    size_t out = 0;
    for (size_t i = 0; i < n && d->state != 3;) {
        char c = in[i];
        if (d->state == 0) {
            i++;
            int v = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (v >= 0 && d->remain < (1ull << 56)) {
                d->remain = d->remain * 16 + (uint64_t)v;
                d->seen_digit = true;
            } else if (c == '\n') {
                if (!d->seen_digit)
                    return -1;
                d->state = d->remain ? 1 : 3;
                d->seen_digit = false;
            } /* '\r' and chunk extensions are skipped */
        } else if (d->state == 1) {
            size_t take = n - i < d->remain ? n - i : (size_t)d->remain;
            memmove(in + out, in + i, take);
            out += take;
            i += take;
            d->remain -= take;
            if (d->remain == 0)
                d->state = 2;
        } else { /* state 2: skip "\r\n" */
            i++;
            if (c == '\n')
                d->state = 0;
        }
    }
    return (ssize_t)out;
}

/* ---- a small blocking HTTP client ---- */

typedef struct bench_response {
    int status;
    char *body; /* malloc'ed, NUL-terminated */
    size_t body_len;
} bench_response;

/* Reads one HTTP response (Content-Length, chunked, or until close) from fd. */
static inline int bench_read_response(int fd, bench_response *ret)
{
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        abort();
    char *hdr_end = NULL;
    while (!hdr_end) {
        if (len + 1 >= cap && !(buf = realloc(buf, cap *= 2)))
            abort();
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r <= 0)
            goto fail;
        len += (size_t)r;
        buf[len] = '\0';
        hdr_end = strstr(buf, "\r\n\r\n");
    }
    *hdr_end = '\0';
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        goto fail;
    bool chunked = strcasestr(buf, "\ntransfer-encoding: chunked") != NULL;
    const char *cl = strcasestr(buf, "\ncontent-length:");
    long long want = cl ? atoll(cl + 16) : -1;
    size_t start = (size_t)(hdr_end + 4 - buf);
    memmove(buf, buf + start, len - start);
    len -= start;
    bench_dechunk d = {0};
    size_t body = 0;
    if (chunked) {
        ssize_t k = bench_dechunk_feed(&d, buf, len);
        if (k < 0)
            goto fail;
        body = (size_t)k;
    } else {
        body = len;
    }
    for (;;) {
        if (chunked ? d.state == 3 : want >= 0 && (long long)body >= want)
            break;
        if (body + 65536 >= cap && !(buf = realloc(buf, cap *= 2)))
            abort();
        ssize_t r = read(fd, buf + body, cap - body - 1);
        if (r < 0)
            goto fail;
        if (r == 0) {
            if (chunked || want >= 0)
                goto fail;
            break;
        }
        if (chunked) {
            ssize_t k = bench_dechunk_feed(&d, buf + body, (size_t)r);
            if (k < 0)
                goto fail;
            body += (size_t)k;
        } else {
            body += (size_t)r;
        }
    }
    buf[body] = '\0';
    ret->status = status;
    ret->body = buf;
    ret->body_len = body;
    return 0;
fail:
    free(buf);
    fprintf(stderr, "bench: bad or cut HTTP response\n");
    return -1;
}

/* "Authorization: Bearer TOKEN\r\n" in out, or "" when token is NULL or "". */
static inline void bench_auth_header(const char *token, char *out, size_t size)
{
    if (token && *token)
        snprintf(out, size, "Authorization: Bearer %s\r\n", token);
    else if (size)
        out[0] = '\0';
}

/* One request on a new connection (Connection: close), with
 * "Authorization: Bearer TOKEN" unless token is NULL. body may be NULL. */
static inline int bench_http(const char *host, int port, const char *method, const char *path,
                             const char *token, const char *body, bench_response *ret)
{
    int fd = bench_connect(host, port);
    if (fd < 0)
        return -1;
    char head[1024], auth[BENCH_TOKEN_MAX + 32];
    bench_auth_header(token, auth, sizeof(auth));
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(head, sizeof(head),
                     "%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n%s"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     method, path, host, port, auth, blen);
    int rc = -1;
    if (bench_write_all(fd, head, (size_t)n) == 0 && bench_write_all(fd, body, blen) == 0)
        rc = bench_read_response(fd, ret);
    close(fd);
    return rc;
}

/* The integer after "KEY": in a JSON text, or -1. */
static inline long long bench_json_int(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = json ? strstr(json, pat) : NULL;
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* The string after "KEY":" in a JSON text (no escapes: tokens and ids), or -1. */
static inline int bench_json_str(const char *json, const char *key, char *out, size_t size)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *p = json ? strstr(json, pat) : NULL;
    if (!p)
        return -1;
    p += strlen(pat);
    size_t n = strcspn(p, "\"\\");
    if (p[n] != '"' || n == 0 || n >= size)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

/* ---- the server under test ---- */

typedef struct bench_server {
    pid_t pid;
    char host[64];
    int port;
    char url[128];
    char *dir;                          /* temp dir: data/, admin.token and server.log */
    char *data_dir;                     /* dir/data */
    char admin_token[BENCH_TOKEN_MAX];  /* from --admin-token-file DIR/admin.token */
    char worker_token[BENCH_TOKEN_MAX]; /* POST /api/v1/tokens {"scope":"worker"} */
    char read_token[BENCH_TOKEN_MAX];   /* POST /api/v1/tokens {"scope":"read"} */
} bench_server;

/* Reads the first line of path into out (without the newline); -1 if the
 * file is missing or empty. */
static inline int bench_read_line(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    bool got = fgets(out, (int)size, f) != NULL;
    fclose(f);
    if (!got)
        return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return out[0] ? 0 : -1;
}

/* Makes a token of scope ("worker", "read") with the admin token. */
static inline int bench_make_token(const bench_server *s, const char *scope, char *out, size_t size)
{
    char body[128];
    snprintf(body, sizeof(body), "{\"scope\":\"%s\",\"name\":\"bench %s\"}", scope, scope);
    bench_response r = {0};
    if (bench_http(s->host, s->port, "POST", "/api/v1/tokens", s->admin_token, body, &r) < 0)
        return -1;
    int rc = r.status == 201 ? bench_json_str(r.body, "token", out, size) : -1;
    if (rc < 0)
        fprintf(stderr, "bench: POST /api/v1/tokens (%s): HTTP %d %s\n", scope, r.status,
                r.body ? r.body : "");
    free(r.body);
    return rc;
}

/* Starts `LOGSTREAM server --listen 127.0.0.1:0 --data DIR/data
 * --admin-token-file DIR/admin.token EXTRA...`, waits (up to 10 s) for its
 * "listening on http://HOST:PORT" line, reads the admin token and makes a
 * worker and a read token with it. */
static inline int bench_server_start(bench_server *s, const char *logstream, const char *parent,
                                     char *const extra[])
{
    memset(s, 0, sizeof(*s));
    s->pid = -1;
    s->dir = bench_mkdtemp(parent, "logstream-bench");
    if (!s->dir)
        return -1;
    size_t n = strlen(s->dir) + 16;
    s->data_dir = malloc(n);
    char *log = malloc(n), *token_file = malloc(n);
    if (!s->data_dir || !log || !token_file)
        abort();
    snprintf(s->data_dir, n, "%s/data", s->dir);
    snprintf(log, n, "%s/server.log", s->dir);
    snprintf(token_file, n, "%s/admin.token", s->dir);
    char *argv[64] = {(char *)logstream, "server",    "--listen",           "127.0.0.1:0",
                      "--data",          s->data_dir, "--admin-token-file", token_file};
    int argc = 8;
    for (int i = 0; extra && extra[i] && argc < 62; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    s->pid = bench_spawn(argv, log);
    int rc = -1;
    for (int tries = 0; s->pid > 0 && tries < 1000; tries++) {
        /* the admin token line (stderr) may come before it */
        FILE *f = fopen(log, "r");
        char line[512] = "";
        const char *p = NULL;
        while (f && !p && fgets(line, sizeof(line), f))
            p = strchr(line, '\n') ? strstr(line, "listening on http://") : NULL;
        if (f)
            fclose(f);
        if (p && sscanf(p, "listening on http://%63[^:]:%d", s->host, &s->port) == 2) {
            snprintf(s->url, sizeof(s->url), "http://%s:%d", s->host, s->port);
            rc = 0;
            break;
        }
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = -1;
            break;
        }
        bench_sleep_ms(10);
    }
    if (rc < 0)
        fprintf(stderr, "bench: the server did not start; see %s\n", log);
    if (rc == 0 && bench_read_line(token_file, s->admin_token, sizeof(s->admin_token)) < 0) {
        fprintf(stderr, "bench: no admin token in %s; see %s\n", token_file, log);
        rc = -1;
    }
    if (rc == 0 && (bench_make_token(s, "worker", s->worker_token, sizeof(s->worker_token)) < 0 ||
                    bench_make_token(s, "read", s->read_token, sizeof(s->read_token)) < 0))
        rc = -1;
    free(log);
    free(token_file);
    return rc;
}

/* SIGTERM, wait up to 10 s, and remove the temp dir unless keep is set. */
static inline void bench_server_stop(bench_server *s, bool keep)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        bench_wait(s->pid, 10000);
        s->pid = -1;
    }
    if (s->dir && !keep)
        bench_rmtree(s->dir);
    else if (s->dir)
        fprintf(stderr, "bench: kept %s\n", s->dir);
    free(s->dir);
    free(s->data_dir);
    s->dir = s->data_dir = NULL;
}

/* Splits "http://HOST:PORT[/]" into host and port. */
static inline int bench_parse_url(const char *url, char *host, size_t host_size, int *port)
{
    char fmt[32];
    snprintf(fmt, sizeof(fmt), "http://%%%zu[^:/]:%%d", host_size - 1);
    if (sscanf(url, fmt, host, port) != 2) {
        fprintf(stderr, "bench: cannot parse the URL %s (want http://HOST:PORT)\n", url);
        return -1;
    }
    return 0;
}

/* ---- statistics ---- */

static inline int bench_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array (p in 0..100). */
static inline int64_t bench_percentile(const int64_t *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

/* The load average over the last minute, as /proc/loadavg says. */
static inline double bench_loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

#endif
