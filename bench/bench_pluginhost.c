/* links: plugins pluginhost common worker */
/* Plugin host benchmarks (worker is linked only for libcurl).
 *
 * 1. Throughput: N log lines through a pipe into the host running (a) the
 *    built-in resave plugin and a no-op plugin, with queues large enough that
 *    no line is dropped, and (b) every first-party plugin (resave,
 *    test-results, tool-usage, forward) with the host's default queue limit,
 *    forward writing NDJSON to a file and (c) POSTing NDJSON to a local HTTP
 *    sink in this process (keep-alive, answers 204). Lines/s from the first
 *    byte written to the return of ls_pluginhost_run (every line processed by
 *    every plugin and finalized), the process's CPU time (user + system) for
 *    the run, and whether any line was lost: the host's own drops, and
 *    forward's count of lines delivered (and the lines in the file or
 *    received by the sink) against N. Target: >= 1,000,000 lines/s.
 * 2. Stalled plugin: the no-op plugin plus a second plugin that is either
 *    healthy (also a no-op) or never returns from process_line; default
 *    queue limit (10 MiB). Reports the rate at which the writer
 * (the worker's side of the pipe) gets its lines in, before and after the circuit breaker trips,
 * against the unstalled rate. Target: within 10% before the trip.
 *
 * The machine is shared: every run prints the load average (1 min) and the
 * CPU seconds used, so a figure can be read as lines per CPU-second too.
 *
 * usage: bench_pluginhost [LINES [BREAKER_WINDOW_MS [MODE]]]
 *        (defaults 5000000, 300, all; MODE: all | throughput | stall)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/timeutil.h"
#include "logstream/plugin.h"
#include "pluginhost/pluginhost.h"
#include "plugins/builtin.h"

static int noop_init(const ls_plugin_context *ctx, void **ret_state)
{
    *ret_state = NULL;
    return LS_PLUGIN_RUN;
}

static int noop_line(const ls_plugin_context *ctx, void *state, const ls_plugin_step *step,
                     const char *line, size_t len)
{
    return 0;
}

static const ls_plugin_v1 noop_plugin = {
    LS_PLUGIN_ABI_VERSION, "noop", NULL, noop_init, noop_line, NULL, NULL,
};

/* stalled: never comes back from its first line until the bench ends. */
static pthread_mutex_t stall_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stall_cond = PTHREAD_COND_INITIALIZER;
static bool stall_released;

static int stalled_line(const ls_plugin_context *ctx, void *state, const ls_plugin_step *step,
                        const char *line, size_t len)
{
    pthread_mutex_lock(&stall_lock);
    while (!stall_released)
        pthread_cond_wait(&stall_cond, &stall_lock);
    pthread_mutex_unlock(&stall_lock);
    return 0;
}

static const ls_plugin_v1 stalled_plugin = {
    LS_PLUGIN_ABI_VERSION, "stalled", NULL, noop_init, stalled_line, NULL, NULL,
};

/* The same plugin, healthy: the reference for the stall comparison. */
static const ls_plugin_v1 unstalled_plugin = {
    LS_PLUGIN_ABI_VERSION, "stalled", NULL, noop_init, noop_line, NULL, NULL,
};

/* Input: a context, n lines of 20..140 bytes over four steps, the finish line.
 * plugins: the context's "plugins" object, or NULL for none. */
static void make_input(ls_buf *in, long n, const char *temp_dir, const char *plugins)
{
    ls_buf_printf(in, "{\"build_id\":1,\"temp_dir\":\"%s\",\"finish_nonce\":\"bench\",", temp_dir);
    if (plugins)
        ls_buf_printf(in, "\"plugins\":%s,", plugins);
    ls_buf_puts(in, "\"steps\":[{\"id\":\"1\",\"name\":\"checkout\"},{\"id\":\"2\",\"name\":"
                    "\"build\"},{\"id\":\"3\",\"name\":\"test\"},{\"id\":\"4\",\"name\":"
                    "\"deploy\"}]}\n");
    static const char filler[] = "the quick brown fox jumps over the lazy dog 0123456789 "
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz ....";
    for (long i = 0; i < n; i++) {
        int len = 20 + (int)((i * 7919) % 120);
        ls_buf_printf(in, "%ld:[%08ld] %.*s\n", 1 + (i / 1000) % 4, i, len - 11, filler);
    }
    ls_buf_puts(in, "##[logplugin.finish]bench\n");
}

#define MARKS 64
#define REPEAT 5

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct writer {
    int fd;
    const ls_buf *in;
    double bytes_per_s; /* pace (0 = as fast as the pipe takes it) */
    int64_t t0_ns;
    int64_t mark_ns[MARKS + 1]; /* time when (k/MARKS) of the input was written */
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    size_t step = w->in->len / MARKS + 1, next_mark = step;
    int k = 1;
    w->t0_ns = ls_mono_ns();
    for (size_t off = 0; off < w->in->len;) {
        size_t n = w->in->len - off < 65536 ? w->in->len - off : 65536;
        if (w->bytes_per_s > 0) {
            /* paced: sleep until this chunk is due (absolute time, no drift) */
            int64_t due = w->t0_ns + (int64_t)((double)off / w->bytes_per_s * 1e9);
            struct timespec ts = {.tv_sec = due / 1000000000, .tv_nsec = due % 1000000000};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
            }
        }
        ssize_t r = write(w->fd, w->in->data + off, n);
        if (r <= 0)
            break;
        off += (size_t)r;
        while (off >= next_mark && k <= MARKS) {
            w->mark_ns[k++] = ls_mono_ns();
            next_mark += step;
        }
    }
    while (k <= MARKS)
        w->mark_ns[k++] = ls_mono_ns();
    close(w->fd);
    return NULL;
}

/* Reads the host's user output; notes when the breaker message appears. */
typedef struct out_reader {
    int fd;
    int64_t trip_ns;
    ls_buf text;
} out_reader;

static void *out_main(void *arg)
{
    out_reader *o = arg;
    char buf[4096];
    ssize_t n;
    while ((n = read(o->fd, buf, sizeof(buf))) > 0) {
        ls_buf_append(&o->text, buf, (size_t)n);
        if (!o->trip_ns && strstr(o->text.data, "circuit breaker"))
            o->trip_ns = ls_mono_ns();
    }
    return NULL;
}

/* A local NDJSON HTTP sink for forward's http target, in a child process
 * (so that the CPU time measured is the host's alone): one thread per
 * connection (curl keeps one alive), reads each POST's body, counts its
 * lines, answers 204 ("100 Continue" first when asked). The counters live in
 * shared memory. */
typedef struct http_sink {
    int fd;
    int port;
    atomic_ullong lines, bytes, posts;
} http_sink;

static void *sink_conn(void *arg);

static pid_t g_sink_pid; /* the sink's process: > 0 once started */

static void *sink_accept(void *arg)
{
    http_sink *k = arg;
    for (;;) {
        int c = accept(k->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        pthread_t t;
        struct {
            http_sink *k;
            int fd;
        } *a = malloc(sizeof(*a));
        a->k = k;
        a->fd = c;
        pthread_create(&t, NULL, sink_conn, a);
        pthread_detach(t);
    }
}

static void *sink_conn(void *arg)
{
    struct {
        http_sink *k;
        int fd;
    } *a = arg;
    http_sink *k = a->k;
    int fd = a->fd;
    free(a);
    size_t cap = 1 << 20, have = 0;
    char *buf = malloc(cap);
    for (;;) {
        /* headers */
        char *end;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
            if (have == cap)
                goto out;
            ssize_t n = read(fd, buf + have, cap - have);
            if (n <= 0)
                goto out;
            have += (size_t)n;
        }
        size_t hlen = (size_t)(end - buf) + 4;
        long long clen = 0;
        char *cl = memmem(buf, hlen, "Content-Length:", 15);
        if (!cl)
            cl = memmem(buf, hlen, "content-length:", 15);
        if (cl)
            clen = atoll(cl + 15);
        if (memmem(buf, hlen, "Expect: 100", 11) || memmem(buf, hlen, "expect: 100", 11))
            (void)!write(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        memmove(buf, buf + hlen, have - hlen);
        have -= hlen;
        /* body: count newlines as it comes */
        unsigned long long nl = 0;
        long long left = clen;
        for (;;) {
            size_t take = (size_t)left < have ? (size_t)left : have;
            for (char *p = buf; (p = memchr(p, '\n', (size_t)(buf + take - p))) != NULL; p++)
                nl++;
            memmove(buf, buf + take, have - take);
            have -= take;
            left -= (long long)take;
            if (left == 0)
                break;
            ssize_t n = read(fd, buf + have, cap - have);
            if (n <= 0)
                goto out;
            have += (size_t)n;
        }
        atomic_fetch_add(&k->lines, nl);
        atomic_fetch_add(&k->bytes, (unsigned long long)clen);
        atomic_fetch_add(&k->posts, 1);
        static const char ok[] = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n";
        if (write(fd, ok, sizeof(ok) - 1) < 0)
            goto out;
    }
out:
    free(buf);
    close(fd);
    return NULL;
}

static http_sink *sink_start(void)
{
    http_sink *k =
        mmap(NULL, sizeof(*k), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (k == MAP_FAILED)
        return NULL;
    memset(k, 0, sizeof(*k));
    k->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (k->fd < 0 || bind(k->fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(k->fd, 16) < 0 ||
        getsockname(k->fd, (struct sockaddr *)&a, &al) < 0)
        return NULL;
    k->port = ntohs(a.sin_port);
    /* the pid is the parent's own (not in the shared page, which the child shares) */
    pid_t pid = fork();
    if (pid < 0)
        return NULL;
    if (pid == 0) {
        sink_accept(k);
        _exit(0);
    }
    g_sink_pid = pid;
    close(k->fd);
    return k;
}

typedef struct run_result {
    double run_s, cpu_s, load1;
    double reader_cpu_s; /* CPU time of the thread that reads the input (ls_pluginhost_run's) */
    int64_t end_ns;      /* when ls_pluginhost_run returned */
    writer w;
    out_reader out;
    ls_pluginhost_summary s;
} run_result;

enum { NO_SECOND, SECOND_HEALTHY, SECOND_STALLED };
enum { SET_RESAVE_NOOP, SET_NOOP, SET_FIRST_PARTY };

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double load1(void)
{
    double l[1] = {-1};
    getloadavg(l, 1);
    return l[0];
}

static int run(const ls_buf *in, int set, int second, int64_t window_ms, int64_t max_pending,
               double bytes_per_s, run_result *res)
{
    int inp[2], outp[2];
    if (pipe(inp) < 0 || pipe(outp) < 0)
        return -errno;
    ls_pluginhost_options o;
    ls_pluginhost_options_default(&o);
    o.breaker_window_ms = window_ms;
    o.max_pending = max_pending;
    o.out_fd = outp[1];
    ls_pluginhost *h;
    char err[256];
    if (ls_pluginhost_new(&o, &h) < 0)
        return -EINVAL;
    size_t nb;
    const ls_plugin_v1 *const *builtins = ls_builtin_plugins(&nb);
    for (size_t i = 0; set != SET_NOOP && i < nb; i++)
        if (set == SET_FIRST_PARTY || strcmp(builtins[i]->name, "resave") == 0)
            ls_pluginhost_add(h, builtins[i], NULL, err, sizeof(err));
    if (set != SET_FIRST_PARTY)
        ls_pluginhost_add(h, &noop_plugin, NULL, err, sizeof(err));
    if (second != NO_SECOND)
        ls_pluginhost_add(h, second == SECOND_STALLED ? &stalled_plugin : &unstalled_plugin, NULL,
                          err, sizeof(err));
    memset(res, 0, sizeof(*res));
    res->w.fd = inp[1];
    res->w.in = in;
    res->w.bytes_per_s = bytes_per_s;
    res->out.fd = outp[0];
    pthread_t wt, ot;
    res->load1 = load1();
    double cpu0 = cpu_now();
    pthread_create(&ot, NULL, out_main, &res->out);
    pthread_create(&wt, NULL, writer_main, &res->w);
    int64_t t0 = ls_mono_ns();
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    int rc = ls_pluginhost_run(h, inp[0], &res->s);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    res->reader_cpu_s = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    res->end_ns = ls_mono_ns();
    res->run_s = (double)(res->end_ns - t0) / 1e9;
    res->cpu_s = cpu_now() - cpu0;
    pthread_join(wt, NULL);
    ls_pluginhost_free(h);
    close(outp[1]);
    if (second != SECOND_STALLED)
        pthread_join(ot, NULL);
    else
        pthread_detach(ot); /* the stalled thread may still hold the output open */
    close(inp[0]);
    return rc;
}

/* Lines/s written between marks a and b (lines spread evenly over the input). */
static double rate(const writer *w, long lines, int a, int b)
{
    int64_t t_a = a == 0 ? w->t0_ns : w->mark_ns[a];
    double secs = (double)(w->mark_ns[b] - t_a) / 1e9;
    return secs > 0 ? (double)lines * (b - a) / MARKS / secs : 0;
}

static bool host_dropped(const run_result *r)
{
    const char *t = r->out.text.data ? r->out.text.data : "";
    return strstr(t, "were not given") || strstr(t, "cannot keep up") || strstr(t, "dropped") ||
           strstr(t, "circuit breaker");
}

static long count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char buf[1 << 16];
    size_t n;
    long nl = 0;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        for (char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n - p))) != NULL; p++)
            nl++;
    fclose(f);
    return nl;
}

/* One throughput run; prints its line. Returns false when a line was lost.
 * forwarded: lines the target got (-1 = no forward). A paced run's lines/s
 * is the pace; what counts is that nothing was lost and how soon after the
 * last line everything was done. */
static bool report(const char *what, long lines, const ls_buf *in, const run_result *r,
                   long forwarded, bool paced)
{
    double thr = (double)lines / r->run_s;
    char want[64];
    snprintf(want, sizeof(want), "%ld lines forwarded", lines);
    bool lost = host_dropped(r) || r->s.lines != (uint64_t)lines || r->s.plugins_failed ||
                (forwarded >= 0 && (forwarded != lines || !strstr(r->out.text.data, want)));
    printf("%s: %.2f s wall, %.2f s CPU (load avg %.1f): %.0f lines/s (%.0f MB/s), %.0f lines per "
           "CPU-second; lines lost: %s",
           what, r->run_s, r->cpu_s, r->load1, thr, (double)in->len / 1e6 / r->run_s,
           (double)lines / r->cpu_s, lost ? "YES" : "none");
    if (paced)
        printf("; done %.0f ms after the last line was written [target: nothing lost] %s\n",
               (double)(r->end_ns - r->w.mark_ns[MARKS]) / 1e6, lost ? "FAILED" : "OK");
    else
        printf(" [target >= 1000000 lines/s] %s\n", thr >= 1e6 && !lost ? "OK" : "BELOW");
    if (forwarded >= 0)
        printf("  forward target got %ld of %ld lines\n", forwarded, lines);
    if (lost)
        printf("  host output:\n%s", r->out.text.data ? r->out.text.data : "");
    return !lost;
}

static http_sink *g_sink;

static void throughput(long lines, int64_t window_ms, const char *dir)
{
    ls_buf in = LS_BUF_INIT;
    make_input(&in, lines, dir, NULL);
    printf("input: %ld lines, %.1f MB, through a pipe\n", lines, (double)in.len / 1e6);
    run_result r;
    /* resave + no-op, queues big enough that no plugin drops a line */
    if (run(&in, SET_RESAVE_NOOP, NO_SECOND, window_ms, 1LL << 30, 0, &r) < 0)
        fprintf(stderr, "resave + noop run failed\n");
    else
        report("resave + noop (1 GiB queues)", lines, &in, &r, -1, false);
    ls_buf_free(&r.out.text);
    ls_buf_free(&in);

    /* every first-party plugin, forward to a file, then to the HTTP sink */
    http_sink *k = g_sink;
    char path[512], plugins[1024];
    snprintf(path, sizeof(path), "%s/forward.ndjson", dir);
    for (int target = 0; target < 2; target++) {
        if (target == 0)
            snprintf(
                plugins, sizeof(plugins),
                "{\"*\":true,\"forward\":{\"settings\":{\"target\":\"file\",\"path\":\"%s\"}}}",
                path);
        else
            snprintf(plugins, sizeof(plugins),
                     "{\"*\":true,\"forward\":{\"settings\":{\"target\":\"http\",\"url\":"
                     "\"http://127.0.0.1:%d/ingest\"}}}",
                     k->port);
        make_input(&in, lines, dir, plugins);
        /* (1) as fast as it goes: queues big enough that nothing is dropped, so
         * the time is that of the slowest plugin; (2) the writer paced at
         * 1,000,000 lines/s with the host's defaults (10 MiB queues, 100 s
         * breaker window): nothing may be dropped */
        for (int paced = 0; paced < 2; paced++) {
            char what[160];
            snprintf(what, sizeof(what), "all first-party plugins, forward to %s, %s",
                     target == 0 ? "a file" : "an NDJSON HTTP sink",
                     paced ? "writer paced at 1,000,000 lines/s, default queues"
                           : "unpaced, 1 GiB queues");
            unsigned long long before = atomic_load(&k->lines);
            double pace = paced ? (double)in.len / (double)lines * 1e6 : 0;
            if (run(&in, SET_FIRST_PARTY, NO_SECOND, 100000, paced ? 10LL << 20 : 1LL << 30, pace,
                    &r) < 0) {
                fprintf(stderr, "%s: run failed\n", what);
                continue;
            }
            long got = target == 0 ? count_lines(path) : (long)(atomic_load(&k->lines) - before);
            report(what, lines, &in, &r, got, paced);
            unlink(path);
            ls_buf_free(&r.out.text);
        }
        ls_buf_free(&in);
    }
    printf("  sink: %llu POSTs, %.1f MB in all\n", (unsigned long long)atomic_load(&k->posts),
           (double)atomic_load(&k->bytes) / 1e6);
}

/* The stall comparison, REPEAT times alternately to average out a busy
 * machine: the no-op plugin plus a second plugin, healthy or stalled,
 * default limits (10 MiB queues); writer rate over the stretch of input
 * written before the breaker tripped. (The other plugins are left out: at
 * full pipe speed their own work, not the host's reading, would set the
 * pace of the healthy run.) */
static void stall(long lines, int64_t window_ms, const char *dir)
{
    ls_buf in = LS_BUF_INIT;
    make_input(&in, lines, dir, NULL);
    double ratios[REPEAT], cpu_ratios[REPEAT];
    for (int rep = 0; rep < REPEAT; rep++) {
        run_result ref, st;
        if (run(&in, SET_NOOP, SECOND_HEALTHY, window_ms, 10LL << 20, 0, &ref) < 0 ||
            run(&in, SET_NOOP, SECOND_STALLED, window_ms, 10LL << 20, 0, &st) < 0) {
            fprintf(stderr, "stall comparison failed\n");
            return;
        }
        int before = 0;
        for (int k = 1; k <= MARKS; k++)
            if (st.out.trip_ns && st.w.mark_ns[k] <= st.out.trip_ns)
                before = k;
        double wref = before >= 1 ? rate(&ref.w, lines, 0, before) : 0;
        double wbefore = before >= 1 ? rate(&st.w, lines, 0, before) : 0;
        double wafter = before < MARKS ? rate(&st.w, lines, before, MARKS) : 0;
        double trip_s = st.out.trip_ns ? (double)(st.out.trip_ns - st.w.t0_ns) / 1e9 : -1;
        ratios[rep] = wref > 0 ? wbefore / wref : 0;
        /* the reading thread's CPU time for the whole input, which the load of
         * the machine does not change: the stalled plugin's only cost there is
         * the drop check */
        cpu_ratios[rep] = st.reader_cpu_s > 0 ? ref.reader_cpu_s / st.reader_cpu_s : 0;
        printf("stall run %d (load avg %.1f): breaker (window %lld ms) tripped %.2f s after the "
               "first line, %d/%d of the input written by then; writer %.0f lines/s vs %.0f "
               "unstalled = %.1f%%; after the trip %.0f lines/s; reading thread CPU %.3f s stalled "
               "vs %.3f s unstalled (%.0f vs %.0f lines per CPU-second); plugins failed: %u\n",
               rep + 1, st.load1, (long long)window_ms, trip_s, before, MARKS, wbefore, wref,
               100 * ratios[rep], wafter, st.reader_cpu_s, ref.reader_cpu_s,
               (double)lines / st.reader_cpu_s, (double)lines / ref.reader_cpu_s,
               st.s.plugins_failed);
        if (rep == 0)
            printf("its output:\n%s", st.out.text.data ? st.out.text.data : "");
        ls_buf_free(&ref.out.text);
    }
    qsort(ratios, REPEAT, sizeof(double), cmp_double);
    qsort(cpu_ratios, REPEAT, sizeof(double), cmp_double);
    printf("stalled plugin: median writer rate before the trip = %.1f%% of unstalled "
           "[target >= 90%%] %s; median reading-thread CPU rate stalled vs unstalled = %.1f%%\n",
           100 * ratios[REPEAT / 2], ratios[REPEAT / 2] >= 0.9 ? "OK" : "BELOW",
           100 * cpu_ratios[REPEAT / 2]);
    pthread_mutex_lock(&stall_lock);
    stall_released = true;
    pthread_cond_broadcast(&stall_cond);
    pthread_mutex_unlock(&stall_lock);
    ls_buf_free(&in);
}

int main(int argc, char **argv)
{
    long lines = argc > 1 ? atol(argv[1]) : 5000000;
    int64_t window_ms = argc > 2 ? atol(argv[2]) : 300;
    const char *mode = argc > 3 ? argv[3] : "all";
    char dir[] = "/tmp/bench_pluginhost_XXXXXX";
    if (lines < 1 || window_ms < 1 || !mkdtemp(dir))
        return fprintf(stderr,
                       "usage: bench_pluginhost [LINES [WINDOW_MS [all|throughput|stall]]]\n"),
               2;
    printf("2 cores shared with other work; load average (1 min) at start: %.1f\n", load1());
    /* before any thread: the sink is a forked child */
    if (strcmp(mode, "stall") != 0 && !(g_sink = sink_start()))
        return fprintf(stderr, "cannot start the HTTP sink: %s\n", strerror(errno)), 1;
    if (strcmp(mode, "stall") != 0)
        throughput(lines, window_ms, dir);
    if (strcmp(mode, "throughput") != 0)
        stall(lines, window_ms, dir);
    if (g_sink_pid > 0) {
        kill(g_sink_pid, SIGKILL);
        waitpid(g_sink_pid, NULL, 0);
    }
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}
