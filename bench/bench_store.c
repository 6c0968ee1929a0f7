/* links: store common */
/* Store throughput: appends log lines the way the server's flusher does (one
 * ls_store_append per flush, holding the new lines of every running step),
 * then reads them back. Prints lines/s and MB/s of text.
 *
 *   bench_store [--lines N] [--batch N] [--steps N] [--line-bytes N]
 *               [--chunk-bytes N] [--zstd-level N] [--full-sync] [--dir DIR]
 *               [--db URL]
 *
 * --batch is the number of lines per transaction (split evenly across the
 * steps). The database goes into a fresh directory under --dir (default /tmp),
 * removed at the end. --db opens URL with ls_store_open_url instead: a
 * PostgreSQL database for postgres://... or postgresql://... (e.g. the one
 * `scripts/pg-test-cluster.sh start --durable` prints), else the SQLite file
 * at that path; the benchmark's build is deleted from it at the end. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "store/store.h"

typedef struct bench_opts {
    uint64_t lines;
    size_t batch;
    int steps;
    size_t line_bytes;
    size_t chunk_bytes;
    int zstd_level;
    bool full_sync;
    const char *dir;
    const char *db; /* --db URL, NULL: a fresh SQLite file under dir */
} bench_opts;

#define POOL_LINES 65536u
#define MAX_STEPS 1000

static int parse_args(int argc, char **argv, bench_opts *o)
{
    *o = (bench_opts){
        .lines = 2000000, .batch = 10000, .steps = 1, .line_bytes = 100, .dir = "/tmp"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--full-sync") == 0) {
            o->full_sync = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "bench_store: %s needs a value (or is unknown)\n", a);
            return -EINVAL;
        }
        i++;
        if (strcmp(a, "--lines") == 0)
            o->lines = strtoull(v, NULL, 10);
        else if (strcmp(a, "--batch") == 0)
            o->batch = strtoull(v, NULL, 10);
        else if (strcmp(a, "--steps") == 0)
            o->steps = atoi(v);
        else if (strcmp(a, "--line-bytes") == 0)
            o->line_bytes = strtoull(v, NULL, 10);
        else if (strcmp(a, "--chunk-bytes") == 0)
            o->chunk_bytes = strtoull(v, NULL, 10);
        else if (strcmp(a, "--zstd-level") == 0)
            o->zstd_level = atoi(v);
        else if (strcmp(a, "--dir") == 0)
            o->dir = v;
        else if (strcmp(a, "--db") == 0)
            o->db = v;
        else {
            fprintf(stderr, "bench_store: unknown option %s\n", a);
            return -EINVAL;
        }
    }
    if (o->lines == 0 || o->batch == 0 || o->steps <= 0 || o->line_bytes < 16 ||
        o->batch < (size_t)o->steps) {
        fprintf(stderr, "bench_store: --lines, --batch >= --steps >= 1, --line-bytes >= 16\n");
        return -EINVAL;
    }
    return 0;
}

/* Log-like text: a timestamp, a level, a counter and a pseudo-random hash,
 * padded with a phrase; compresses about as well as real build output. */
static char *make_pool(size_t line_bytes)
{
    static const char *const levels[] = {"INFO ", "DEBUG", "WARN ", "INFO ", "INFO "};
    static const char pad[] = " compiling src/components/module/file.c with -O2 -g -Wall ";
    char *pool = malloc(POOL_LINES * line_bytes);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < POOL_LINES; i++) {
        char *p = pool + i * line_bytes;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int n = snprintf(p, line_bytes, "2024-05-01T12:%02zu:%02zu.%03zuZ %s [%06zu] %08llx",
                         (i / 60000) % 60, (i / 1000) % 60, i % 1000, levels[i % 5], i,
                         (unsigned long long)(x & 0xffffffffu));
        for (size_t k = (size_t)n; k < line_bytes; k++)
            p[k] = pad[(k - (size_t)n) % (sizeof(pad) - 1)];
    }
    return pool;
}

static int count_line(void *userdata, const ls_line *line)
{
    uint64_t *bytes = userdata;
    *bytes += line->len;
    return 0;
}

static void remove_db(const char *dir, const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char p[4300];
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* CPU time of the process (all threads), in nanoseconds: steadier than the
 * wall clock on a shared machine. */
static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double mb(uint64_t bytes)
{
    return (double)bytes / 1e6;
}

/* Appends o->lines lines (per step: o->lines / steps) in o->batch-line
 * transactions; returns the seconds spent inside ls_store_append. */
static int run_appends(ls_store *st, const bench_opts *o, int64_t build, const char *pool,
                       double *ret_seconds, double *ret_cpu_seconds)
{
    size_t per_step = o->batch / (size_t)o->steps;
    uint64_t lines_per_step = o->lines / (uint64_t)o->steps;
    ls_line *lines = calloc(per_step * (size_t)o->steps, sizeof(ls_line));
    ls_store_batch *batches = calloc((size_t)o->steps, sizeof(*batches));
    int64_t ns = 0, cpu = 0;
    int r = 0;
    for (uint64_t next = 1; next <= lines_per_step && r == 0; next += per_step) {
        size_t n =
            (size_t)(lines_per_step - next + 1 < per_step ? lines_per_step - next + 1 : per_step);
        for (int s = 0; s < o->steps; s++) {
            ls_line *l = lines + (size_t)s * per_step;
            for (size_t i = 0; i < n; i++) {
                uint64_t seq = next + i;
                l[i] = (ls_line){.seq = seq,
                                 .ts_ms = 1714564800000 + (int64_t)(seq / 50),
                                 .stream = 'o',
                                 .len = (uint32_t)o->line_bytes,
                                 .text =
                                     pool + ((seq + (uint64_t)s * 7) % POOL_LINES) * o->line_bytes};
            }
            batches[s] =
                (ls_store_batch){.build_id = build, .step = s + 1, .lines = l, .n_lines = n};
        }
        int64_t t0 = ls_mono_ns(), c0 = cpu_ns();
        r = ls_store_append(st, batches, (size_t)o->steps);
        ns += ls_mono_ns() - t0;
        cpu += cpu_ns() - c0;
    }
    if (r < 0)
        fprintf(stderr, "bench_store: append: %s\n", ls_store_last_error());
    free(lines);
    free(batches);
    *ret_seconds = (double)ns / 1e9;
    *ret_cpu_seconds = (double)cpu / 1e9;
    return r;
}

static int run_reads(ls_store *st, const bench_opts *o, int64_t build, uint64_t *ret_lines,
                     double *ret_seconds, double *ret_range_us)
{
    uint64_t bytes = 0, total = 0;
    int64_t t0 = ls_mono_ns();
    for (int s = 1; s <= o->steps; s++) {
        int r = ls_store_read(st, build, s, 1, 0, count_line, &bytes);
        if (r != 0)
            return r;
    }
    *ret_seconds = (double)(ls_mono_ns() - t0) / 1e9;
    total = bytes / o->line_bytes;
    *ret_lines = total;

    /* 1000 reads of 100 lines at pseudo-random places (a viewer paging) */
    uint64_t per_step = o->lines / (uint64_t)o->steps, x = 12345;
    t0 = ls_mono_ns();
    for (int i = 0; i < 1000; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t from = 1 + (x >> 33) % per_step;
        int r = ls_store_read(st, build, 1 + (int)(i % o->steps), from, 100, count_line, &bytes);
        if (r != 0)
            return r;
    }
    *ret_range_us = (double)(ls_mono_ns() - t0) / 1e3 / 1000.0;
    return 0;
}

int main(int argc, char **argv)
{
    bench_opts o;
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    char dir[4096] = "", path[4200];
    if (o.db) {
        snprintf(path, sizeof(path), "%s", o.db);
    } else {
        snprintf(dir, sizeof(dir), "%s/bench_store_XXXXXX", o.dir);
        if (!mkdtemp(dir)) {
            perror("bench_store: mkdtemp");
            return 1;
        }
        snprintf(path, sizeof(path), "%s/bench.db", dir);
    }
    bool pg = ls_store_is_pg_url(path);
    char *pool = make_pool(o.line_bytes);
    ls_store_options so = {
        .chunk_bytes = o.chunk_bytes, .zstd_level = o.zstd_level, .full_sync = o.full_sync};
    ls_store *st = NULL;
    ls_build_info b = {0};
    int rc = 1;
    ls_step_info steps[MAX_STEPS];
    memset(steps, 0, sizeof(steps));
    if (o.steps > MAX_STEPS) {
        fprintf(stderr, "bench_store: at most %d steps\n", MAX_STEPS);
        goto out;
    }
    for (int s = 0; s < o.steps; s++)
        snprintf(steps[s].name, sizeof(steps[s].name), "step %d", s + 1);
    if (ls_store_open_url(path, &so, &st) < 0 ||
        ls_store_create_build(st, "bench", steps, (size_t)o.steps, &b) < 0) {
        fprintf(stderr, "bench_store: %s\n", ls_store_last_error());
        goto out;
    }

    double append_s, append_cpu_s, read_s, range_us;
    if (run_appends(st, &o, b.id, pool, &append_s, &append_cpu_s) < 0)
        goto out;
    uint64_t stored = (o.lines / (uint64_t)o.steps) * (uint64_t)o.steps;
    uint64_t text = stored * o.line_bytes;
    int64_t t0 = ls_mono_ns();
    ls_store_free(st); /* SQLite: checkpoints the WAL into the database */
    double close_s = (double)(ls_mono_ns() - t0) / 1e9;
    st = NULL;
    struct stat sb = {0};
    if (!pg)
        stat(path, &sb);

    if (ls_store_open_url(path, &so, &st) < 0) {
        fprintf(stderr, "bench_store: reopen: %s\n", ls_store_last_error());
        goto out;
    }
    uint64_t read_lines;
    if (run_reads(st, &o, b.id, &read_lines, &read_s, &range_us) != 0) {
        fprintf(stderr, "bench_store: read: %s\n", ls_store_last_error());
        goto out;
    }
    if (read_lines != stored) {
        fprintf(stderr, "bench_store: read %llu lines, stored %llu\n",
                (unsigned long long)read_lines, (unsigned long long)stored);
        goto out;
    }

    printf("config: %llu lines x %zu B, %zu lines/transaction over %d step(s), chunk %zu B, "
           "zstd %d, %s\n",
           (unsigned long long)stored, o.line_bytes, o.batch, o.steps,
           o.chunk_bytes ? o.chunk_bytes : 262144, o.zstd_level ? o.zstd_level : 3,
           pg            ? "PostgreSQL (--db)"
           : o.full_sync ? "synchronous=FULL"
                         : "synchronous=NORMAL");
    printf("append: %.3f s  %.0f lines/s  %.1f MB/s of text  (close+checkpoint %.3f s)\n", append_s,
           (double)stored / append_s, mb(text) / append_s, close_s);
    printf("        %.3f s CPU  %.0f lines per CPU second\n", append_cpu_s,
           (double)stored / append_cpu_s);
    if (pg)
        printf("disk:   not measured for a PostgreSQL database\n");
    else
        printf("disk:   %.1f MB database for %.1f MB of text (%.1fx)%s\n", mb((uint64_t)sb.st_size),
               mb(text), sb.st_size ? (double)text / (double)sb.st_size : 0.0,
               o.db ? " (the whole --db file)" : "");
    printf("read:   %.3f s  %.0f lines/s  %.1f MB/s; 100-line range read %.1f us\n", read_s,
           (double)read_lines / read_s, mb(text) / read_s, range_us);
    rc = 0;
out:
    if (o.db && st && b.id > 0 && ls_store_delete_build(st, b.id) < 0)
        fprintf(stderr, "bench_store: delete build %lld: %s\n", (long long)b.id,
                ls_store_last_error());
    ls_store_free(st);
    if (!o.db)
        remove_db(dir, path);
    free(pool);
    return rc;
}
