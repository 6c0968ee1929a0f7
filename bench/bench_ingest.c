/* links: common */
/* Durable ingest throughput of the HTTP stream endpoint.
 *
 *   bench_ingest (--logstream PATH | --server URL [--token TOKEN]) [--lines N]
 *                [--line-bytes N] [--steps LIST] [--write-bytes N] [--repeat N]
 *                [--dir DIR] [--flush-interval DUR] [--keep]
 *
 * For each step count K in --steps (default "1,2,4"), --repeat times: creates
 * a build with K steps (POST /api/v1/builds), sets them running, and sends
 * --lines records in total (split evenly across the K steps, one thread and
 * one connection per step) as one chunked POST per step over a raw socket,
 * in writes of --write-bytes. The clock stops when the last step's answer to
 * the end of its body has arrived; the server sends it only once every line is
 * durable, and the benchmark checks its durable_seq.
 *
 * Baselines in the same run, same bytes, same threads and write sizes:
 *   file+fsync  the record bytes written to a file in --dir, then fsync;
 *   socket      the same HTTP bytes sent to an in-process loopback sink that
 *               reads and discards them and answers one byte at EOF.
 * Their ratio to logstream shows the cost of HTTP parsing, record parsing,
 * the live path and the database. Every round starts after sync(), so it does
 * not pay for the write-back of the one before.
 *
 * With --logstream the benchmark starts its own server on 127.0.0.1:0 with a
 * fresh data dir under --dir and also reports the server's CPU time; its admin
 * token makes the worker token every request sends. With --server, --token
 * (default: $LOGSTREAM_TOKEN) is a worker (or admin) token of that server. The
 * record bodies are generated in memory before any clock starts. */
#include <pthread.h>
#include <sys/uio.h>

#include "bench_common.h"

typedef struct ing_opts {
    const char *logstream;
    const char *server_url;
    const char *token; /* --token, for --server */
    long long lines;
    size_t line_bytes;
    int steps[8];
    int n_steps;
    size_t write_bytes;
    int repeat;
    const char *dir;
    const char *flush_interval;
    bool keep;
} ing_opts;

static int parse_steps(const char *v, ing_opts *o)
{
    o->n_steps = 0;
    for (const char *p = v; *p;) {
        char *end;
        long k = strtol(p, &end, 10);
        if (end == p || k <= 0 || k > 64 || o->n_steps == 8)
            return -1;
        o->steps[o->n_steps++] = (int)k;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return o->n_steps > 0 ? 0 : -1;
}

static int parse_args(int argc, char **argv, ing_opts *o)
{
    *o = (ing_opts){.lines = 2000000,
                    .line_bytes = 100,
                    .steps = {1, 2, 4},
                    .n_steps = 3,
                    .write_bytes = 1 << 20,
                    .repeat = 3,
                    .dir = "/tmp"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--keep") == 0) {
            o->keep = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_ingest: %s needs a value (or is unknown)\n", a);
            return -1;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--logstream") == 0)
            o->logstream = v;
        else if (strcmp(a, "--server") == 0)
            o->server_url = v;
        else if (strcmp(a, "--token") == 0)
            o->token = v;
        else if (strcmp(a, "--lines") == 0)
            o->lines = atoll(v);
        else if (strcmp(a, "--line-bytes") == 0)
            o->line_bytes = strtoull(v, NULL, 10);
        else if (strcmp(a, "--steps") == 0) {
            if (parse_steps(v, o) < 0) {
                fprintf(stderr, "bench_ingest: --steps wants a list like 1,2,4 (1..64)\n");
                return -1;
            }
        } else if (strcmp(a, "--write-bytes") == 0)
            o->write_bytes = strtoull(v, NULL, 10);
        else if (strcmp(a, "--repeat") == 0)
            o->repeat = atoi(v);
        else if (strcmp(a, "--dir") == 0)
            o->dir = v;
        else if (strcmp(a, "--flush-interval") == 0)
            o->flush_interval = v;
        else {
            fprintf(stderr, "bench_ingest: unknown option %s\n", a);
            return -1;
        }
    }
    if (!o->logstream == !o->server_url || o->lines <= 0 || o->line_bytes < 1 ||
        o->line_bytes > 60000 || o->write_bytes < 1024 || o->repeat < 1) {
        fprintf(stderr,
                "usage: bench_ingest (--logstream PATH | --server URL [--token TOKEN]) "
                "[--lines N] [--line-bytes 1..60000] [--steps 1,2,4] [--write-bytes N>=1024] "
                "[--repeat N] [--dir DIR] [--flush-interval DUR] [--keep]\n");
        return -1;
    }
    return 0;
}

/* ---- the records ---- */

/* Records 1..n in one buffer; off[k] is where record k+1 starts (off[0] = 0),
 * so records 1..k are body[0 .. off[k]). */
typedef struct ing_body {
    char *data;
    uint64_t *off;
    long long n;
} ing_body;

static const char *const WORDS[] = {"compiling", "src/server/ingest.c",
                                    "warning:",  "unused",
                                    "variable",  "linking",
                                    "test",      "passed",
                                    "failed",    "ok",
                                    "[INFO]",    "[DEBUG]",
                                    "npm",       "install",
                                    "docker",    "layer",
                                    "sha256:",   "0x7f3a9c",
                                    "took",      "12ms",
                                    "cache",     "hit",
                                    "miss",      "retrying"};

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A log-like line of exactly len bytes (words, numbers, no tab or newline). */
static void fill_text(char *p, size_t len, long long seq, uint64_t *rng)
{
    size_t n = (size_t)snprintf(p, len + 1, "%lld ", seq);
    while (n < len) {
        const char *w = WORDS[xorshift(rng) % (sizeof(WORDS) / sizeof(WORDS[0]))];
        size_t wl = strlen(w);
        for (size_t i = 0; i < wl && n < len; i++)
            p[n++] = w[i];
        if (n < len)
            p[n++] = ' ';
    }
}

static int make_body(ing_body *b, long long n, size_t line_bytes)
{
    size_t cap = (size_t)n * (line_bytes + 48);
    b->data = malloc(cap);
    b->off = malloc(((size_t)n + 1) * sizeof(uint64_t));
    b->n = n;
    if (!b->data || !b->off) {
        fprintf(stderr, "bench_ingest: cannot allocate %zu bytes for the records\n", cap);
        return -1;
    }
    long long ts_ms = bench_real_ns() / 1000000;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    size_t len = 0;
    b->off[0] = 0;
    for (long long seq = 1; seq <= n; seq++) {
        len += (size_t)sprintf(b->data + len, "%lld\t%lld\to\t", seq, ts_ms);
        fill_text(b->data + len, line_bytes, seq, &rng);
        len += line_bytes;
        b->data[len++] = '\n';
        b->off[seq] = len;
    }
    return 0;
}

/* ---- one sender per step ---- */

typedef enum { TARGET_LOGSTREAM, TARGET_FILE, TARGET_SINK } ing_target;

typedef struct ing_job {
    const ing_opts *o;
    const ing_body *body;
    ing_target target;
    long long lines; /* records 1..lines */
    const char *host;
    int port;
    const char *token; /* worker token, NULL for the sink */
    long long build;
    int step;
    char path[4096]; /* TARGET_FILE */
    int64_t start_ns, sent_ns, end_ns;
    long long durable_seq;
    int rc;
} ing_job;

/* Sends body bytes [0, n) as HTTP chunks of write_bytes, then the last chunk. */
static int send_chunked(int fd, const char *data, size_t n, size_t write_bytes)
{
    for (size_t pos = 0; pos < n;) {
        size_t k = n - pos < write_bytes ? n - pos : write_bytes;
        char head[32];
        int hl = snprintf(head, sizeof(head), "%zx\r\n", k);
        struct iovec iov[3] = {{head, (size_t)hl}, {(char *)data + pos, k}, {"\r\n", 2}};
        size_t total = (size_t)hl + k + 2;
        ssize_t w = writev(fd, iov, 3);
        if (w < 0)
            return -1;
        if ((size_t)w < total) { /* rare: finish the rest the simple way */
            size_t done = (size_t)w;
            for (int i = 0; i < 3; i++) {
                if (done >= iov[i].iov_len) {
                    done -= iov[i].iov_len;
                    continue;
                }
                if (bench_write_all(fd, (char *)iov[i].iov_base + done, iov[i].iov_len - done))
                    return -1;
                done = 0;
            }
        }
        pos += k;
    }
    return bench_write_all(fd, "0\r\n\r\n", 5);
}

static int stream_head(char *buf, size_t size, const ing_job *j)
{
    char auth[BENCH_TOKEN_MAX + 32];
    bench_auth_header(j->token, auth, sizeof(auth));
    return snprintf(buf, size,
                    "POST /api/v1/builds/%lld/steps/%d/stream HTTP/1.1\r\nHost: %s:%d\r\n%s"
                    "Content-Type: application/x-logstream-records\r\n"
                    "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                    j->build, j->step, j->host, j->port, auth);
}

static void run_logstream(ing_job *j)
{
    size_t n = j->body->off[j->lines];
    char head[512];
    int hl = stream_head(head, sizeof(head), j);
    j->rc = -1;
    int fd = bench_connect(j->host, j->port);
    if (fd < 0)
        return;
    j->start_ns = bench_mono_ns();
    if (bench_write_all(fd, head, (size_t)hl) < 0 ||
        send_chunked(fd, j->body->data, n, j->o->write_bytes) < 0) {
        fprintf(stderr, "bench_ingest: step %d: send failed: %s\n", j->step, strerror(errno));
        goto out;
    }
    j->sent_ns = bench_mono_ns();
    bench_response r = {0};
    if (bench_read_response(fd, &r) < 0)
        goto out;
    j->end_ns = bench_mono_ns();
    j->durable_seq = bench_json_int(r.body, "durable_seq");
    if (r.status != 200 || j->durable_seq != j->lines)
        fprintf(stderr, "bench_ingest: step %d: HTTP %d, durable_seq %lld of %lld: %s\n", j->step,
                r.status, j->durable_seq, j->lines, r.body);
    else
        j->rc = 0;
    free(r.body);
out:
    close(fd);
}

static void run_file(ing_job *j)
{
    size_t n = j->body->off[j->lines];
    j->rc = -1;
    j->start_ns = bench_mono_ns();
    int fd = open(j->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "bench_ingest: %s: %s\n", j->path, strerror(errno));
        return;
    }
    for (size_t pos = 0; pos < n;) {
        size_t k = n - pos < j->o->write_bytes ? n - pos : j->o->write_bytes;
        if (bench_write_all(fd, j->body->data + pos, k) < 0)
            goto out;
        pos += k;
    }
    j->sent_ns = bench_mono_ns();
    if (fsync(fd) == 0)
        j->rc = 0;
    j->end_ns = bench_mono_ns();
out:
    close(fd);
    unlink(j->path);
}

static void run_sink_sender(ing_job *j)
{
    size_t n = j->body->off[j->lines];
    char head[512];
    int hl = stream_head(head, sizeof(head), j);
    j->rc = -1;
    int fd = bench_connect(j->host, j->port);
    if (fd < 0)
        return;
    j->start_ns = bench_mono_ns();
    char ack;
    if (bench_write_all(fd, head, (size_t)hl) == 0 &&
        send_chunked(fd, j->body->data, n, j->o->write_bytes) == 0) {
        j->sent_ns = bench_mono_ns();
        shutdown(fd, SHUT_WR);
        if (read(fd, &ack, 1) == 1)
            j->rc = 0;
        j->end_ns = bench_mono_ns();
    }
    close(fd);
}

static void *job_main(void *arg)
{
    ing_job *j = arg;
    if (j->target == TARGET_LOGSTREAM)
        run_logstream(j);
    else if (j->target == TARGET_FILE)
        run_file(j);
    else
        run_sink_sender(j);
    return NULL;
}

/* ---- the loopback sink (baseline) ---- */

typedef struct ing_sink {
    int listen_fd;
    int port;
} ing_sink;

/* Accepts one connection, reads it to EOF, answers one byte. */
static void *sink_main(void *arg)
{
    ing_sink *s = arg;
    int fd = accept(s->listen_fd, NULL, NULL);
    if (fd < 0)
        return NULL;
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    if (!buf)
        abort();
    while (read(fd, buf, cap) > 0)
        ;
    bench_write_all(fd, "k", 1);
    free(buf);
    close(fd);
    return NULL;
}

static int sink_open(ing_sink *s)
{
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(s->listen_fd, 64) < 0 || getsockname(s->listen_fd, (struct sockaddr *)&a, &al) < 0) {
        fprintf(stderr, "bench_ingest: sink socket: %s\n", strerror(errno));
        return -1;
    }
    s->port = ntohs(a.sin_port);
    return 0;
}

/* ---- the server's side of a round: build, steps, status ---- */

static long long create_build(const char *host, int port, const char *token, int k)
{
    char body[4096];
    size_t n = (size_t)snprintf(body, sizeof(body), "{\"name\":\"bench-ingest-%d\",\"steps\":[", k);
    for (int i = 1; i <= k; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%s{\"name\":\"s%d\",\"kind\":\"step\"}",
                              i > 1 ? "," : "", i);
    snprintf(body + n, sizeof(body) - n, "]}");
    bench_response r = {0};
    if (bench_http(host, port, "POST", "/api/v1/builds", token, body, &r) < 0)
        return -1;
    long long id = r.status == 201 ? bench_json_int(r.body, "id") : -1;
    if (id <= 0)
        fprintf(stderr, "bench_ingest: POST /api/v1/builds: HTTP %d %s\n", r.status, r.body);
    free(r.body);
    return id;
}

static int patch_status(const char *host, int port, const char *token, long long build, int step,
                        const char *st)
{
    char path[256], body[128];
    if (step > 0)
        snprintf(path, sizeof(path), "/api/v1/builds/%lld/steps/%d", build, step);
    else
        snprintf(path, sizeof(path), "/api/v1/builds/%lld", build);
    if (strcmp(st, "running") == 0 || step == 0)
        snprintf(body, sizeof(body), "{\"status\":\"%s\"}", st);
    else
        snprintf(body, sizeof(body), "{\"status\":\"%s\",\"exit_code\":0}", st);
    bench_response r = {0};
    if (bench_http(host, port, "PATCH", path, token, body, &r) < 0)
        return -1;
    int rc = r.status == 200 ? 0 : -1;
    if (rc < 0)
        fprintf(stderr, "bench_ingest: PATCH %s: HTTP %d %s\n", path, r.status, r.body);
    free(r.body);
    return rc;
}

/* ---- rounds ---- */

typedef struct ing_round {
    double wall_s;     /* first start to last answer */
    double drain_s;    /* last byte sent to last answer */
    double server_cpu; /* seconds, logstream only, 0 if unknown */
    bench_sched sched; /* the server's threads during the round */
} ing_round;

typedef struct ing_ctx {
    const ing_opts *o;
    const ing_body *body;
    char host[64];
    int port;
    const char *token; /* worker token for every request to the server */
    pid_t server_pid;  /* -1 for an external server */
    ing_sink sink;
} ing_ctx;

/* Runs K jobs of one target at once; fills *ret. */
static int run_round(ing_ctx *c, ing_target t, int k, ing_round *ret)
{
    ing_job jobs[64];
    pthread_t th[64], sinks[64];
    long long build = 0;
    sync(); /* write back the previous round's dirty pages before the clock starts */
    if (t == TARGET_LOGSTREAM) {
        build = create_build(c->host, c->port, c->token, k);
        if (build <= 0)
            return -1;
        patch_status(c->host, c->port, c->token, build, 0, "running");
        for (int i = 1; i <= k; i++)
            if (patch_status(c->host, c->port, c->token, build, i, "running") < 0)
                return -1;
    }
    for (int i = 0; i < k; i++) {
        jobs[i] = (ing_job){.o = c->o,
                            .body = c->body,
                            .target = t,
                            .lines = c->o->lines / k,
                            .host = t == TARGET_SINK ? "127.0.0.1" : c->host,
                            .port = t == TARGET_SINK ? c->sink.port : c->port,
                            .token = t == TARGET_SINK ? NULL : c->token,
                            .build = build,
                            .step = i + 1};
        snprintf(jobs[i].path, sizeof(jobs[i].path), "%s/bench-ingest-%d-%d.records", c->o->dir,
                 (int)getpid(), i);
        if (t == TARGET_SINK)
            pthread_create(&sinks[i], NULL, sink_main, &c->sink);
    }
    double cpu0 = c->server_pid > 0 ? bench_proc_cpu_s(c->server_pid) : 0;
    bench_sched sched0 = {0}, sched1 = {0};
    bool sched = c->server_pid > 0 && t == TARGET_LOGSTREAM;
    if (sched)
        bench_sched_read(c->server_pid, &sched0);
    for (int i = 0; i < k; i++)
        pthread_create(&th[i], NULL, job_main, &jobs[i]);
    int rc = 0;
    int64_t start = INT64_MAX, sent = 0, end = 0;
    for (int i = 0; i < k; i++) {
        pthread_join(th[i], NULL);
        if (t == TARGET_SINK)
            pthread_join(sinks[i], NULL);
        rc |= jobs[i].rc;
        start = jobs[i].start_ns < start ? jobs[i].start_ns : start;
        sent = jobs[i].sent_ns > sent ? jobs[i].sent_ns : sent;
        end = jobs[i].end_ns > end ? jobs[i].end_ns : end;
    }
    double cpu1 = c->server_pid > 0 ? bench_proc_cpu_s(c->server_pid) : 0;
    if (sched)
        bench_sched_read(c->server_pid, &sched1);
    if (t == TARGET_LOGSTREAM) {
        for (int i = 1; i <= k; i++)
            patch_status(c->host, c->port, c->token, build, i, "success");
        patch_status(c->host, c->port, c->token, build, 0, "success");
    }
    if (rc)
        return -1;
    *ret = (ing_round){.wall_s = (double)(end - start) / 1e9,
                       .drain_s = (double)(end - sent) / 1e9,
                       .server_cpu = cpu1 - cpu0};
    bench_sched_diff(&sched0, &sched1, &ret->sched);
    return 0;
}

static int cmp_round(const void *a, const void *b)
{
    return bench_cmp_double(&((const ing_round *)a)->wall_s, &((const ing_round *)b)->wall_s);
}

static void print_rounds(const char *name, ing_round *r, int n, long long lines, size_t text_bytes)
{
    qsort(r, (size_t)n, sizeof(*r), cmp_round);
    ing_round med = r[n / 2], best = r[0];
    printf("    %-11s %7.3f s  %6.3fM lines/s  %6.1f MB/s  (best %.3f s, %.3fM lines/s)", name,
           med.wall_s, (double)lines / med.wall_s / 1e6, (double)text_bytes / med.wall_s / 1e6,
           best.wall_s, (double)lines / best.wall_s / 1e6);
    if (med.server_cpu > 0)
        printf("  server CPU %.2f s = %.2fM lines per CPU-s, wait after last byte %.3f s",
               med.server_cpu, (double)lines / med.server_cpu / 1e6, med.drain_s);
    printf("\n");
    if (med.sched.n > 0)
        bench_sched_print("      server threads in that round: ", &med.sched);
}

/* One step count: --repeat rounds of each target, interleaved. */
static int run_config(ing_ctx *c, int k)
{
    int n = c->o->repeat;
    ing_round *rl = calloc((size_t)n * 3, sizeof(ing_round));
    if (!rl)
        abort();
    ing_round *rf = rl + n, *rs = rl + 2 * n;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        rc |= run_round(c, TARGET_FILE, k, &rf[i]);
        rc |= run_round(c, TARGET_SINK, k, &rs[i]);
        rc |= run_round(c, TARGET_LOGSTREAM, k, &rl[i]);
    }
    if (rc == 0) {
        long long lines = (c->o->lines / k) * k;
        size_t text = (size_t)lines * c->o->line_bytes;
        printf("  steps=%d (%lld lines each), median of %d:\n", k, lines / k, n);
        print_rounds("logstream", rl, n, lines, text);
        print_rounds("file+fsync", rf, n, lines, text);
        print_rounds("socket sink", rs, n, lines, text);
        printf(
            "    ratio: logstream takes %.2fx the time of file+fsync, %.2fx of the socket sink\n",
            rl[n / 2].wall_s / rf[n / 2].wall_s, rl[n / 2].wall_s / rs[n / 2].wall_s);
    }
    free(rl);
    return rc;
}

int main(int argc, char **argv)
{
    ing_opts o;
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    ing_body body = {0};
    ing_ctx c = {.o = &o, .body = &body, .server_pid = -1};
    bench_server s = {.pid = -1};
    int rc = 1;
    if (make_body(&body, o.lines, o.line_bytes) < 0 || sink_open(&c.sink) < 0)
        goto out;
    if (o.logstream) {
        char *extra[3] = {NULL};
        if (o.flush_interval) {
            extra[0] = "--flush-interval";
            extra[1] = (char *)o.flush_interval;
        }
        if (bench_server_start(&s, o.logstream, o.dir, extra) < 0)
            goto out;
        snprintf(c.host, sizeof(c.host), "%s", s.host);
        c.port = s.port;
        c.token = s.worker_token;
        c.server_pid = s.pid;
    } else if (bench_parse_url(o.server_url, c.host, sizeof(c.host), &c.port) < 0) {
        goto out;
    } else {
        c.token = o.token ? o.token : getenv("LOGSTREAM_TOKEN");
    }
    printf("ingest: %lld records of %zu text bytes (%.1f MB of text, %.1f MB on the wire), "
           "writes of %zu bytes, server --flush-interval %s\n",
           o.lines, o.line_bytes, (double)o.lines * (double)o.line_bytes / 1e6,
           (double)body.off[body.n] / 1e6, o.write_bytes,
           o.flush_interval ? o.flush_interval : "(server default)");
    rc = 0;
    for (int i = 0; i < o.n_steps && rc == 0; i++)
        rc = run_config(&c, o.steps[i]);
    if (o.logstream && rc == 0)
        printf("  data dir after all rounds: %.1f MB on disk\n",
               (double)bench_du(s.data_dir) / 1e6);
    printf("  load average (1 min) at the end: %.2f\n", bench_loadavg());
out:
    if (o.logstream)
        bench_server_stop(&s, o.keep);
    if (c.sink.listen_fd > 0)
        close(c.sink.listen_fd);
    free(body.data);
    free(body.off);
    return rc ? 1 : 0;
}
