/* links: common */
/* Live latency: from a step printing a line to an SSE client receiving it.
 *
 *   bench_latency --logstream PATH --emitter PATH [--lines N] [--interval-us N]
 *                 [--line-bytes N] [--delay-ms N] [--flush-interval DUR]
 *                 [--dir DIR] [--timeout-s N] [--baseline] [--dump FILE] [--keep]
 *                 [--upload-nice N]
 *
 * Starts a real `logstream server` on 127.0.0.1:0 (fresh data dir under --dir;
 * its admin token makes a worker token for `logstream run` and a read token
 * for the client), writes a one-step pipeline whose step runs `emit_lines` (bench/emit_lines.c:
 * one line every --interval-us, each carrying the CLOCK_REALTIME time in ns
 * taken just before its write(2)), runs it with `logstream run`, and follows
 * the step with `Accept: text/event-stream` over a raw socket. For every line
 * received, latency = CLOCK_REALTIME after read() returned - the printed time.
 * Prints p50/p90/p99/max/mean. The step waits --delay-ms before its first
 * line so the client is subscribed; lines printed before the subscription (if
 * any) are counted and left out of the figures.
 *
 * --flush-interval is passed to the server (default: the server's own); the
 * live path should not depend on it. --upload-nice is passed to `logstream
 * run` (default: its own).
 *
 * --baseline then runs the same emitter into a pipe read by this program (no
 * logstream) with the same pacing and prints its percentiles and the ratio:
 * the floor this machine sets for a process-to-process hop. --dump FILE writes
 * "printed_ns latency_ns worker_ts_ms" for every line (worker_ts_ms: when the
 * worker read the line, from the record's "ts"), to see which hop a slow line
 * waited in. */
#include "bench_common.h"

/* How long to wait for "event: end" once every line has arrived. */
#define END_WAIT_NS (30 * 1000000000LL)

typedef struct lat_opts {
    const char *logstream;
    const char *emitter;
    long lines;
    long interval_us;
    long line_bytes;
    long delay_ms;
    const char *flush_interval;
    const char *dir;
    long timeout_s;
    bool keep;
    bool baseline;
    const char *dump;
    const char *upload_nice;
} lat_opts;

static int parse_args(int argc, char **argv, lat_opts *o)
{
    *o = (lat_opts){.lines = 2000,
                    .interval_us = 5000,
                    .line_bytes = 100,
                    .delay_ms = 1500,
                    .dir = "/tmp",
                    .timeout_s = 120};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--keep") == 0) {
            o->keep = true;
            continue;
        }
        if (strcmp(a, "--baseline") == 0) {
            o->baseline = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_latency: %s needs a value (or is unknown)\n", a);
            return -1;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--logstream") == 0)
            o->logstream = v;
        else if (strcmp(a, "--emitter") == 0)
            o->emitter = v;
        else if (strcmp(a, "--lines") == 0)
            o->lines = atol(v);
        else if (strcmp(a, "--interval-us") == 0)
            o->interval_us = atol(v);
        else if (strcmp(a, "--line-bytes") == 0)
            o->line_bytes = atol(v);
        else if (strcmp(a, "--delay-ms") == 0)
            o->delay_ms = atol(v);
        else if (strcmp(a, "--flush-interval") == 0)
            o->flush_interval = v;
        else if (strcmp(a, "--dir") == 0)
            o->dir = v;
        else if (strcmp(a, "--dump") == 0)
            o->dump = v;
        else if (strcmp(a, "--timeout-s") == 0)
            o->timeout_s = atol(v);
        else if (strcmp(a, "--upload-nice") == 0)
            o->upload_nice = v;
        else {
            fprintf(stderr, "bench_latency: unknown option %s\n", a);
            return -1;
        }
    }
    if (!o->logstream || !o->emitter || o->lines <= 0 || o->interval_us <= 0 ||
        o->line_bytes < 40 || o->delay_ms < 0 || o->timeout_s <= 0) {
        fprintf(stderr,
                "usage: bench_latency --logstream PATH --emitter PATH [--lines N>0] "
                "[--interval-us N>0] [--line-bytes N>=40] [--delay-ms N] "
                "[--flush-interval DUR] [--dir DIR] [--timeout-s N] [--baseline] [--dump FILE] "
                "[--keep] [--upload-nice N]\n");
        return -1;
    }
    return 0;
}

static int write_pipeline(const char *path, const lat_opts *o)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench_latency: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f,
            "version: \"1\"\nname: bench-latency\nsteps:\n  - name: emit\n    commands:\n"
            "      - '%s --lines %ld --bytes %ld --interval-us %ld --delay-ms %ld'\n",
            o->emitter, o->lines, o->line_bytes, o->interval_us, o->delay_ms);
    return fclose(f) == 0 ? 0 : -1;
}

/* Polls GET /api/v1/builds?limit=1 until the worker has created its build. */
static long long wait_for_build(const bench_server *s, int64_t timeout_ms)
{
    int64_t deadline = bench_mono_ns() + timeout_ms * 1000000;
    while (bench_mono_ns() < deadline) {
        bench_response r = {0};
        if (bench_http(s->host, s->port, "GET", "/api/v1/builds?limit=1", s->read_token, NULL,
                       &r) == 0) {
            long long id = r.status == 200 ? bench_json_int(r.body, "id") : -1;
            free(r.body);
            if (id > 0)
                return id;
        }
        bench_sleep_ms(2);
    }
    fprintf(stderr, "bench_latency: no build appeared on the server\n");
    return -1;
}

typedef struct lat_result {
    int64_t *lat_ns; /* one per line received after the subscription */
    size_t n;
    size_t backlog; /* lines printed before the client subscribed */
    FILE *dump;     /* --dump: "printed_ns latency_ns worker_ts_ms" per line */
    size_t received;
    bool ended; /* got "event: end" */
} lat_result;

/* One SSE text line (without '\n'). */
static void on_sse_line(const char *line, size_t len, int64_t recv_ns, int64_t subscribed_ns,
                        lat_result *res, size_t cap)
{
    if (len >= 10 && memcmp(line, "event: end", 10) == 0) {
        res->ended = true;
        return;
    }
    if (len < 6 || memcmp(line, "data: ", 6) != 0)
        return;
    const char *t = memmem(line, len, "\"text\":\"t=", 10);
    if (!t)
        return;
    int64_t printed = strtoll(t + 10, NULL, 10);
    res->received++;
    if (printed < subscribed_ns)
        res->backlog++;
    else if (res->n < cap)
        res->lat_ns[res->n++] = recv_ns - printed;
    if (res->dump) {
        const char *ts = memmem(line, len, "\"ts\":", 5);
        fprintf(res->dump, "%lld %lld %lld\n", (long long)printed, (long long)(recv_ns - printed),
                ts ? strtoll(ts + 5, NULL, 10) : -1LL);
    }
}

/* Reads the SSE response until "event: end", the expected lines, or timeout. */
static int follow(const bench_server *s, long long build, const lat_opts *o, lat_result *res)
{
    int fd = bench_connect(s->host, s->port);
    if (fd < 0)
        return -1;
    char req[512], auth[BENCH_TOKEN_MAX + 32];
    bench_auth_header(s->read_token, auth, sizeof(auth));
    int n = snprintf(req, sizeof(req),
                     "GET /api/v1/builds/%lld/steps/1/logs?since=0 HTTP/1.1\r\nHost: %s:%d\r\n"
                     "%sAccept: text/event-stream\r\n\r\n",
                     build, s->host, s->port, auth);
    int64_t subscribed_ns = bench_real_ns();
    int rc = -1;
    if (bench_write_all(fd, req, (size_t)n) < 0)
        goto out;
    size_t cap = 1 << 20;
    char *buf = malloc(cap), *line = malloc(cap);
    if (!buf || !line)
        abort();
    size_t line_len = 0;
    bool in_body = false, chunked = false;
    size_t head_len = 0;
    bench_dechunk d = {0};
    int64_t deadline = bench_mono_ns() + (int64_t)o->timeout_s * 1000000000;
    bool all_in = false;
    while (!res->ended) {
        if (!all_in && res->received >= (size_t)o->lines) {
            all_in = true; /* the end event should follow at once */
            int64_t end_deadline = bench_mono_ns() + END_WAIT_NS;
            deadline = end_deadline < deadline ? end_deadline : deadline;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left_ms = (int)((deadline - bench_mono_ns()) / 1000000);
        if (left_ms <= 0 || poll(&p, 1, left_ms) <= 0) {
            fprintf(stderr, "bench_latency: timed out after %zu lines%s\n", res->received,
                    all_in ? " (no end event)" : "");
            break;
        }
        ssize_t r = read(fd, buf + head_len, cap - head_len - 1);
        int64_t recv_ns = bench_real_ns();
        if (r <= 0)
            break;
        size_t got = (size_t)r, off = 0;
        if (!in_body) {
            head_len += got;
            buf[head_len] = '\0';
            char *end = strstr(buf, "\r\n\r\n");
            if (!end) {
                if (head_len + 1 >= cap)
                    break;
                continue;
            }
            *end = '\0';
            if (!strstr(buf, " 200 ")) {
                fprintf(stderr, "bench_latency: SSE request refused: %s\n", buf);
                break;
            }
            chunked = strcasestr(buf, "transfer-encoding: chunked") != NULL;
            in_body = true;
            off = (size_t)(end + 4 - buf);
            got = head_len - off;
            head_len = 0;
        }
        char *payload = buf + off;
        if (chunked) {
            ssize_t k = bench_dechunk_feed(&d, payload, got);
            if (k < 0)
                break;
            got = (size_t)k;
        }
        for (size_t i = 0; i < got; i++) {
            if (payload[i] != '\n') {
                if (line_len < cap)
                    line[line_len++] = payload[i];
                continue;
            }
            on_sse_line(line, line_len, recv_ns, subscribed_ns, res, (size_t)o->lines);
            line_len = 0;
        }
    }
    rc = 0;
    free(buf);
    free(line);
out:
    close(fd);
    return rc;
}

/* Sorts lat[0..n) and prints its percentiles on one line. */
static void print_stats(const char *label, int64_t *lat, size_t n)
{
    qsort(lat, n, sizeof(int64_t), bench_cmp_i64);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)lat[i];
    printf("  %sp50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms  mean %.3f ms  (n=%zu)\n", label,
           (double)bench_percentile(lat, n, 50) / 1e6, (double)bench_percentile(lat, n, 90) / 1e6,
           (double)bench_percentile(lat, n, 99) / 1e6, n ? (double)lat[n - 1] / 1e6 : 0.0,
           n ? sum / (double)n / 1e6 : 0.0, n);
}

static void print_result(const lat_opts *o, lat_result *res, int run_status)
{
    printf("latency: %ld lines of %ld bytes, one every %ld us, server --flush-interval %s\n",
           o->lines, o->line_bytes, o->interval_us,
           o->flush_interval ? o->flush_interval : "(server default)");
    printf("  received %zu/%ld lines (%zu printed before the subscription, left out), "
           "end event %s, logstream run exit %d\n",
           res->received, o->lines, res->backlog, res->ended ? "yes" : "NO",
           WIFEXITED(run_status) ? WEXITSTATUS(run_status) : -1);
    print_stats("", res->lat_ns, res->n);
}

/* Baseline: the same emitter writing into a pipe read by this process, no
 * logstream in between (the machine's own wake-up latency). */
static int measure_pipe_baseline(const lat_opts *o, int64_t *lat, size_t *ret_n)
{
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    char lines[32], bytes[32], interval[32];
    snprintf(lines, sizeof(lines), "%ld", o->lines);
    snprintf(bytes, sizeof(bytes), "%ld", o->line_bytes);
    snprintf(interval, sizeof(interval), "%ld", o->interval_us);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(o->emitter, o->emitter, "--lines", lines, "--bytes", bytes, "--interval-us", interval,
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t cap = 1 << 16, len = 0, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        abort();
    for (;;) {
        ssize_t r = read(fds[0], buf + len, cap - len - 1);
        int64_t now = bench_real_ns();
        if (r <= 0)
            break;
        len += (size_t)r;
        char *p = buf, *nl;
        while ((nl = memchr(p, '\n', len - (size_t)(p - buf)))) {
            if (strncmp(p, "t=", 2) == 0 && n < (size_t)o->lines)
                lat[n++] = now - strtoll(p + 2, NULL, 10);
            p = nl + 1;
        }
        len -= (size_t)(p - buf);
        memmove(buf, p, len);
        if (len + 1 >= cap)
            len = 0; /* a line longer than the buffer: not one of ours */
    }
    free(buf);
    close(fds[0]);
    int status = bench_wait(pid, o->timeout_s * 1000);
    *ret_n = n;
    return status == 0 ? 0 : -1;
}

static void print_baseline(const lat_opts *o, const lat_result *res)
{
    int64_t *lat = calloc((size_t)o->lines, sizeof(int64_t));
    size_t n = 0;
    if (!lat)
        abort();
    if (measure_pipe_baseline(o, lat, &n) < 0 || n == 0) {
        printf("  baseline failed\n");
        free(lat);
        return;
    }
    print_stats("baseline, emit_lines | this process (no logstream): ", lat, n);
    int64_t b50 = bench_percentile(lat, n, 50), b99 = bench_percentile(lat, n, 99);
    int64_t l50 = bench_percentile(res->lat_ns, res->n, 50);
    int64_t l99 = bench_percentile(res->lat_ns, res->n, 99);
    printf("  logstream / baseline: p50 %.1fx, p99 %.1fx; logstream adds %.3f ms at p50\n",
           b50 ? (double)l50 / (double)b50 : 0.0, b99 ? (double)l99 / (double)b99 : 0.0,
           (double)(l50 - b50) / 1e6);
    free(lat);
}

int main(int argc, char **argv)
{
    lat_opts o;
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    char *extra[3] = {NULL};
    if (o.flush_interval) {
        extra[0] = "--flush-interval";
        extra[1] = (char *)o.flush_interval;
    }
    bench_server s = {.pid = -1};
    int rc = 1, run_status = -1;
    lat_result res = {.lat_ns = calloc((size_t)o.lines, sizeof(int64_t))};
    if (!res.lat_ns)
        abort();
    if (o.dump && !(res.dump = fopen(o.dump, "w"))) {
        fprintf(stderr, "bench_latency: %s: %s\n", o.dump, strerror(errno));
        goto out;
    }
    if (bench_server_start(&s, o.logstream, o.dir, extra) < 0)
        goto out;
    char yml[4096], log[4096];
    snprintf(yml, sizeof(yml), "%s/latency.yml", s.dir);
    snprintf(log, sizeof(log), "%s/run.log", s.dir);
    if (write_pipeline(yml, &o) < 0)
        goto out;
    /* the worker token goes in the environment, not on the command line */
    setenv("LOGSTREAM_TOKEN", s.worker_token, 1);
    char *run_argv[] = {(char *)o.logstream,
                        "run",
                        yml,
                        "--server",
                        s.url,
                        o.upload_nice ? "--upload-nice" : NULL,
                        (char *)o.upload_nice,
                        NULL};
    pid_t run = bench_spawn(run_argv, log);
    if (run < 0)
        goto out;
    long long build = wait_for_build(&s, 30000);
    if (build > 0 && follow(&s, build, &o, &res) == 0)
        rc = 0;
    run_status = bench_wait(run, o.timeout_s * 1000);
    print_result(&o, &res, run_status);
    if (res.received != (size_t)o.lines || run_status != 0) {
        fprintf(stderr, "bench_latency: incomplete run; see %s\n", log);
        o.keep = true;
        rc = 1;
    } else if (o.baseline) {
        print_baseline(&o, &res);
    }
    printf("  load average (1 min) at the end: %.2f\n", bench_loadavg());
out:
    if (res.dump)
        fclose(res.dump);
    bench_server_stop(&s, o.keep);
    free(res.lat_ns);
    return rc;
}
