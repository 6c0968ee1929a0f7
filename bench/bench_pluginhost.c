/* links: plugins pluginhost common worker */
/* Plugin host benchmarks (worker is linked only for libcurl).
 *
 * 1. Throughput: N log lines through a pipe into the host running the
 *    built-in resave plugin and a no-op plugin, with queues large enough that
 *    no line is dropped; lines/s from the first byte written to the return of
 *    ls_pluginhost_run (every line processed by both and finalized).
 *    Target: >= 1,000,000 lines/s.
 * 2. Stalled plugin: the no-op plugin plus a second plugin that is either
 *    healthy (also a no-op) or never returns from process_line; default
 *    queue limit (10 MiB). Reports the rate at which the writer
 * (the worker's side of the pipe) gets its lines in, before and after the circuit breaker trips,
 * against the unstalled rate. Target: within 10% before the trip.
 *
 * usage: bench_pluginhost [LINES [BREAKER_WINDOW_MS]]   (defaults 5000000, 300)
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Input: a context, n lines of 20..140 bytes over four steps, the finish line. */
static void make_input(ls_buf *in, long n, const char *temp_dir)
{
    ls_buf_printf(in,
                  "{\"build_id\":1,\"temp_dir\":\"%s\",\"finish_nonce\":\"bench\",\"steps\":["
                  "{\"id\":\"1\",\"name\":\"checkout\"},{\"id\":\"2\",\"name\":\"build\"},"
                  "{\"id\":\"3\",\"name\":\"test\"},{\"id\":\"4\",\"name\":\"deploy\"}]}\n",
                  temp_dir);
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

typedef struct run_result {
    double run_s;
    writer w;
    out_reader out;
    ls_pluginhost_summary s;
} run_result;

enum { NO_SECOND, SECOND_HEALTHY, SECOND_STALLED };

static int run(const ls_buf *in, bool resave, int second, int64_t window_ms, int64_t max_pending,
               run_result *res)
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
    for (size_t i = 0; resave && i < nb; i++)
        if (strcmp(builtins[i]->name, "resave") == 0)
            ls_pluginhost_add(h, builtins[i], NULL, err, sizeof(err));
    ls_pluginhost_add(h, &noop_plugin, NULL, err, sizeof(err));
    if (second != NO_SECOND)
        ls_pluginhost_add(h, second == SECOND_STALLED ? &stalled_plugin : &unstalled_plugin, NULL,
                          err, sizeof(err));
    memset(res, 0, sizeof(*res));
    res->w.fd = inp[1];
    res->w.in = in;
    res->out.fd = outp[0];
    pthread_t wt, ot;
    pthread_create(&ot, NULL, out_main, &res->out);
    pthread_create(&wt, NULL, writer_main, &res->w);
    int64_t t0 = ls_mono_ns();
    int rc = ls_pluginhost_run(h, inp[0], &res->s);
    res->run_s = (double)(ls_mono_ns() - t0) / 1e9;
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

int main(int argc, char **argv)
{
    long lines = argc > 1 ? atol(argv[1]) : 5000000;
    int64_t window_ms = argc > 2 ? atol(argv[2]) : 300;
    char dir[] = "/tmp/bench_pluginhost_XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    ls_buf in = LS_BUF_INIT;
    make_input(&in, lines, dir);
    printf("input: %ld lines, %.1f MB, through a pipe; plugins resave + noop\n", lines,
           (double)in.len / 1e6);

    run_result base;
    /* Queues big enough that no plugin drops a line: the time is that of the
     * slowest plugin processing everything. */
    if (run(&in, true, NO_SECOND, window_ms, 1LL << 30, &base) < 0 ||
        base.s.lines != (uint64_t)lines)
        return fprintf(stderr, "unstalled run failed\n"), 1;
    double thr = (double)lines / base.run_s;
    printf("throughput: %.2f s for every line processed and finalized: %.0f lines/s (%.0f MB/s) "
           "[target >= 1000000] %s\n",
           base.run_s, thr, (double)in.len / 1e6 / base.run_s, thr >= 1e6 ? "OK" : "BELOW");
    bool dropped = strstr(base.out.text.data ? base.out.text.data : "", "were not given") != NULL;
    printf("lines dropped by a plugin that fell behind: %s\n",
           dropped ? "YES (see below)" : "none");
    if (dropped)
        fputs(base.out.text.data, stdout);

    /* The stall comparison, REPEAT times alternately to average out a busy
     * machine: the no-op plugin plus a second plugin, healthy or stalled,
     * default limits (10 MiB queues); writer rate over the stretch of input written
     * before the breaker tripped. (resave is left out here: at full pipe speed
     * its disk writes, not the host, would set the pace.) */
    double ratios[REPEAT];
    for (int rep = 0; rep < REPEAT; rep++) {
        run_result ref, st;
        if (run(&in, false, SECOND_HEALTHY, window_ms, 10LL << 20, &ref) < 0 ||
            run(&in, false, SECOND_STALLED, window_ms, 10LL << 20, &st) < 0)
            return fprintf(stderr, "stall comparison failed\n"), 1;
        int before = 0;
        for (int k = 1; k <= MARKS; k++)
            if (st.out.trip_ns && st.w.mark_ns[k] <= st.out.trip_ns)
                before = k;
        double wref = before >= 1 ? rate(&ref.w, lines, 0, before) : 0;
        double wbefore = before >= 1 ? rate(&st.w, lines, 0, before) : 0;
        double wafter = before < MARKS ? rate(&st.w, lines, before, MARKS) : 0;
        double trip_s = st.out.trip_ns ? (double)(st.out.trip_ns - st.w.t0_ns) / 1e9 : -1;
        ratios[rep] = wref > 0 ? wbefore / wref : 0;
        printf("stall run %d: breaker (window %lld ms) tripped %.2f s after the first line, "
               "%d/%d of the input written by then; writer %.0f lines/s vs %.0f unstalled = "
               "%.1f%%; after the trip %.0f lines/s; plugins failed: %u\n",
               rep + 1, (long long)window_ms, trip_s, before, MARKS, wbefore, wref,
               100 * ratios[rep], wafter, st.s.plugins_failed);
        if (rep == 0)
            printf("its output:\n%s", st.out.text.data ? st.out.text.data : "");
        ls_buf_free(&ref.out.text);
    }
    qsort(ratios, REPEAT, sizeof(double), cmp_double);
    printf("stalled plugin: median writer rate before the trip = %.1f%% of unstalled "
           "[target >= 90%%] %s\n",
           100 * ratios[REPEAT / 2], ratios[REPEAT / 2] >= 0.9 ? "OK" : "BELOW");
    pthread_mutex_lock(&stall_lock);
    stall_released = true;
    pthread_cond_broadcast(&stall_cond);
    pthread_mutex_unlock(&stall_lock);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    ls_buf_free(&in);
    ls_buf_free(&base.out.text);
    return 0;
}
