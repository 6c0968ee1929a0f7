/* A step for the benchmarks: prints numbered lines of a fixed length to
 * stdout, either as fast as it can (buffered, 64 KiB writes) or one every
 * --interval-us microseconds, each written with its own write(2) and carrying
 * the CLOCK_REALTIME time in nanoseconds taken just before the write.
 *
 *   emit_lines [--lines N] [--bytes N] [--interval-us N] [--delay-ms N]
 *              [--time-file PATH]
 *
 * --lines   number of lines (default 1000000)
 * --bytes   length of each line's text, without the newline (default 100,
 *           at least 40 so the stamp fits)
 * --interval-us  0 (default) = as fast as possible; otherwise lines are
 *           paced on an absolute schedule (no drift) and stamped
 * --delay-ms  sleep this long before the first line (lets a viewer subscribe)
 * --time-file  at the end, write to PATH the nanoseconds from the start of
 *           main() until the last write returned and stdout was closed: the
 *           step's own wall time, as it sees it (bench_worker.py)
 *
 * Each line starts with "t=<ns> n=<index> " (t=0 when not paced) and is padded
 * with letters. Standalone: bench/run-all.sh compiles it with `cc -O2`. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct emit_opts {
    unsigned long long lines;
    size_t bytes;
    long long interval_us;
    long long delay_ms;
    const char *time_file;
} emit_opts;

static int parse_args(int argc, char **argv, emit_opts *o)
{
    *o = (emit_opts){.lines = 1000000, .bytes = 100};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) {
            fprintf(stderr, "emit_lines: %s needs a value (or is unknown)\n", a);
            return -EINVAL;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--lines") == 0)
            o->lines = strtoull(v, NULL, 10);
        else if (strcmp(a, "--bytes") == 0)
            o->bytes = strtoull(v, NULL, 10);
        else if (strcmp(a, "--interval-us") == 0)
            o->interval_us = strtoll(v, NULL, 10);
        else if (strcmp(a, "--delay-ms") == 0)
            o->delay_ms = strtoll(v, NULL, 10);
        else if (strcmp(a, "--time-file") == 0)
            o->time_file = v;
        else {
            fprintf(stderr, "emit_lines: unknown option %s\n", a);
            return -EINVAL;
        }
    }
    if (o->bytes < 40 || o->bytes > 1000000 || o->interval_us < 0 || o->delay_ms < 0) {
        fprintf(stderr, "emit_lines: --bytes 40..1000000, --interval-us and --delay-ms >= 0\n");
        return -EINVAL;
    }
    return 0;
}

static int64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t realtime_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

/* Writes ns and a newline to path; returns 0 or -errno. */
static int write_time_file(const char *path, int64_t ns)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fprintf(f, "%lld\n", (long long)ns);
    return fclose(f) == 0 ? 0 : -errno;
}

static void add_ns(struct timespec *t, int64_t ns)
{
    t->tv_nsec += ns % 1000000000;
    t->tv_sec += ns / 1000000000;
    if (t->tv_nsec >= 1000000000) {
        t->tv_nsec -= 1000000000;
        t->tv_sec++;
    }
}

/* Writes "t=<ns> n=<i> " then padding into line (bytes + 1 with the newline). */
static size_t format_line(char *line, size_t bytes, int64_t t_ns, unsigned long long i)
{
    int n = snprintf(line, bytes + 1, "t=%lld n=%llu ", (long long)t_ns, i);
    for (size_t k = (size_t)n; k < bytes; k++)
        line[k] = (char)('a' + k % 26);
    line[bytes] = '\n';
    return bytes + 1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int emit_paced(const emit_opts *o, char *line)
{
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (unsigned long long i = 1; i <= o->lines; i++) {
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        size_t n = format_line(line, o->bytes, realtime_ns(), i);
        int r = write_all(STDOUT_FILENO, line, n);
        if (r < 0)
            return r;
        add_ns(&next, o->interval_us * 1000);
    }
    return 0;
}

static int emit_fast(const emit_opts *o)
{
    size_t cap = 64 * 1024 > o->bytes + 1 ? 64 * 1024 : o->bytes + 1;
    char *out = malloc(cap);
    if (!out)
        return -ENOMEM;
    size_t len = 0;
    int r = 0;
    for (unsigned long long i = 1; i <= o->lines && r == 0; i++) {
        if (len + o->bytes + 1 > cap) {
            r = write_all(STDOUT_FILENO, out, len);
            len = 0;
        }
        len += format_line(out + len, o->bytes, 0, i);
    }
    if (r == 0)
        r = write_all(STDOUT_FILENO, out, len);
    free(out);
    return r;
}

int main(int argc, char **argv)
{
    int64_t start_ns = clock_ns(CLOCK_MONOTONIC);
    emit_opts o;
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    char *line = malloc(o.bytes + 64);
    if (!line)
        return 1;
    if (o.delay_ms > 0) {
        struct timespec d = {.tv_sec = o.delay_ms / 1000, .tv_nsec = (o.delay_ms % 1000) * 1000000};
        nanosleep(&d, NULL);
    }
    int r = o.interval_us > 0 ? emit_paced(&o, line) : emit_fast(&o);
    free(line);
    if (r == 0 && close(STDOUT_FILENO) < 0)
        r = -errno;
    if (r < 0) {
        fprintf(stderr, "emit_lines: write: %s\n", strerror(-r));
        return 1;
    }
    if (o.time_file && (r = write_time_file(o.time_file, clock_ns(CLOCK_MONOTONIC) - start_ns))) {
        fprintf(stderr, "emit_lines: %s: %s\n", o.time_file, strerror(-r));
        return 1;
    }
    return 0;
}
