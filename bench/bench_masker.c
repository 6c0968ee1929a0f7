/* links: mask common */
/* Masking throughput on realistic CI log lines.
 *
 * Builds a masker with --secrets secrets (tokens, passwords with punctuation,
 * cloud keys) and all their encodings, generates --mib MiB of ~100-byte log
 * lines in which --leak-per-mille lines carry a secret in one of its forms,
 * and masks them line by line as the worker does. Baselines over the same
 * lines: memchr for the newline, and memcpy of each line into the output
 * buffer (the least any masker must do).
 *
 *   bench_masker [--secrets 100] [--mib 4] [--leak-per-mille 5] [--rounds 30]
 *                [--secret-len 0] [--min-len 8]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/flags.h"
#include "common/timeutil.h"
#include "mask/masker.h"

typedef struct opts {
    int64_t secrets;
    int64_t mib;
    int64_t leak_per_mille;
    int64_t rounds;
    int64_t secret_len;
    int64_t min_len;
} opts;

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void rand_chars(ls_buf *b, const char *alphabet, size_t n)
{
    size_t k = strlen(alphabet);
    for (size_t i = 0; i < n; i++)
        ls_buf_putc(b, alphabet[rnd() % k]);
}

static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/* One secret of a kind seen in CI: GitHub-style token, AWS key, password;
 * or, when len > 0, len random letters and digits. */
static void make_secret(ls_buf *b, int i, size_t len)
{
    if (len > 0) {
        rand_chars(b, alnum, len);
        return;
    }
    switch (i % 4) {
    case 0:
        ls_buf_puts(b, "ghp_");
        rand_chars(b, alnum, 36);
        break;
    case 1:
        ls_buf_puts(b, "AKIA");
        rand_chars(b, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16);
        break;
    case 2:
        rand_chars(b, alnum, 12);
        rand_chars(b, "!@#$%^&*()/+= \"\\", 2);
        rand_chars(b, alnum, 6);
        break;
    default:
        rand_chars(b, "0123456789abcdef", 32);
        break;
    }
}

static const char *const words[] = {
    "Downloading",
    "Compiling",
    "Running",
    "test",
    "tests",
    "passed",
    "failed",
    "warning:",
    "error:",
    "info",
    "module",
    "package",
    "build",
    "target",
    "src/main.c",
    "node_modules/react/index.js",
    "0.0.1",
    "v1.2.3",
    "[INFO]",
    "[DEBUG]",
    "INFO",
    "==>",
    "Step",
    "ok",
    "github.com/acme/app",
    "done",
    "in",
    "ms",
    "bytes",
    "from",
    "https://registry.npmjs.org/lodash",
    "cache",
    "hit",
    "miss",
    "layer",
    "sha256:",
    "{\"level\":\"info\"}",
};

/* A log line of about 100 bytes; with a secret (in some encoding) if leak. */
static void make_line(ls_buf *b, const char *secret_form)
{
    ls_buf_printf(b, "2024-05-%02u %02u:%02u:%02u.%03u ", (unsigned)(rnd() % 28 + 1),
                  (unsigned)(rnd() % 24), (unsigned)(rnd() % 60), (unsigned)(rnd() % 60),
                  (unsigned)(rnd() % 1000));
    size_t target = 45 + rnd() % 60;
    size_t start = b->len;
    bool placed = secret_form == NULL;
    while (b->len - start < target) {
        if (!placed && rnd() % 4 == 0) {
            ls_buf_puts(b, secret_form);
            placed = true;
        } else if (rnd() % 5 == 0) {
            rand_chars(b, "0123456789abcdef", 12);
        } else {
            ls_buf_puts(b, words[rnd() % (sizeof(words) / sizeof(words[0]))]);
        }
        ls_buf_putc(b, ' ');
    }
    if (!placed)
        ls_buf_puts(b, secret_form);
    ls_buf_putc(b, '\n');
}

static char *base64(const char *s)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    ls_buf b = LS_BUF_INIT;
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)s[i + 2];
        ls_buf_putc(&b, t[v >> 18]);
        ls_buf_putc(&b, t[(v >> 12) & 63]);
        ls_buf_putc(&b, i + 1 < n ? t[(v >> 6) & 63] : '=');
        ls_buf_putc(&b, i + 2 < n ? t[v & 63] : '=');
    }
    return ls_buf_steal(&b);
}

typedef struct lines {
    ls_buf data;
    size_t *start; /* line i is data[start[i], start[i+1]-1) (newline excluded) */
    size_t count;
    size_t leaks;
} lines;

static void make_lines(lines *l, char **secrets, size_t nsecrets, size_t bytes, int64_t per_mille)
{
    size_t cap = bytes / 50 + 16;
    l->start = malloc(cap * sizeof(*l->start));
    while (l->data.len < bytes && l->count + 1 < cap) {
        l->start[l->count++] = l->data.len;
        char *form = NULL;
        if ((int64_t)(rnd() % 1000) < per_mille) {
            const char *s = secrets[rnd() % nsecrets];
            form = rnd() % 2 ? strdup(s) : base64(s);
            l->leaks++;
        }
        make_line(&l->data, form);
        free(form);
    }
    l->start[l->count] = l->data.len;
}

static double mb_per_s(size_t bytes, int64_t ns)
{
    return (double)bytes / 1e6 / ((double)ns / 1e9);
}

/* CPU time of this thread: the machine may be shared, and a round that loses
 * the CPU should not count the time it waited. */
static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Best of rounds, in ns of CPU time. */
typedef size_t (*pass_fn)(const lines *l, ls_masker *m, ls_buf *out);

static size_t pass_memchr(const lines *l, ls_masker *m, ls_buf *out)
{
    size_t found = 0;
    const char *p = l->data.data, *end = p + l->data.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        found++;
        p = nl + 1;
    }
    return found;
}

static size_t pass_memcpy(const lines *l, ls_masker *m, ls_buf *out)
{
    size_t sum = 0;
    for (size_t i = 0; i < l->count; i++) {
        ls_buf_reset(out);
        ls_buf_append(out, l->data.data + l->start[i], l->start[i + 1] - l->start[i] - 1);
        sum += out->len;
    }
    return sum;
}

static size_t pass_mask(const lines *l, ls_masker *m, ls_buf *out)
{
    size_t regions = 0;
    for (size_t i = 0; i < l->count; i++) {
        ls_buf_reset(out);
        regions +=
            ls_masker_apply(m, l->data.data + l->start[i], l->start[i + 1] - l->start[i] - 1, out);
    }
    return regions;
}

static int64_t best_of(int64_t rounds, pass_fn fn, const lines *l, ls_masker *m, ls_buf *out,
                       size_t *ret_result)
{
    int64_t best = INT64_MAX;
    for (int64_t r = 0; r < rounds; r++) {
        int64_t t0 = cpu_ns();
        *ret_result = fn(l, m, out);
        int64_t dt = cpu_ns() - t0;
        best = dt < best ? dt : best;
    }
    return best;
}

int main(int argc, char **argv)
{
    opts o;
    const ls_flag flags[] = {
        {"secrets", 's', LS_FLAG_INT, &o.secrets, "100", "number of secrets"},
        {"mib", 'm', LS_FLAG_INT, &o.mib, "4",
         "MiB of log lines (4 stays in cache, like lines just read)"},
        {"leak-per-mille", 0, LS_FLAG_INT, &o.leak_per_mille, "5", "lines with a secret, per 1000"},
        {"rounds", 'r', LS_FLAG_INT, &o.rounds, "30", "timed rounds (best is reported)"},
        {"secret-len", 0, LS_FLAG_INT, &o.secret_len, "0",
         "all secrets this long (0 = a mix of tokens, keys and passwords, 20-40 bytes)"},
        {"min-len", 0, LS_FLAG_INT, &o.min_len, "8", "the masker's shortest secret"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    char err[256];
    int r = ls_flags_parse(flags, argc - 1, argv + 1, NULL, 0, NULL, err, sizeof(err));
    if (r == -EAGAIN) {
        ls_flags_usage(stdout, "bench_masker", "[flags]", flags);
        return 0;
    }
    if (r < 0 || o.secrets < 1 || o.mib < 1 || o.rounds < 1 || o.min_len < 1 || o.secret_len < 0) {
        fprintf(stderr, "bench_masker: %s\n", r < 0 ? err : "values must be >= 1");
        return 2;
    }

    ls_masker *m = ls_masker_new((size_t)o.min_len);
    char **secrets = calloc((size_t)o.secrets, sizeof(*secrets));
    for (int64_t i = 0; i < o.secrets; i++) {
        ls_buf b = LS_BUF_INIT;
        make_secret(&b, (int)i, (size_t)o.secret_len);
        secrets[i] = ls_buf_steal(&b);
        if (ls_masker_add(m, secrets[i], strlen(secrets[i])) != 0) {
            fprintf(stderr, "bench_masker: secret %lld refused\n", (long long)i);
            return 1;
        }
    }
    lines l = {LS_BUF_INIT, NULL, 0, 0};
    make_lines(&l, secrets, (size_t)o.secrets, (size_t)o.mib << 20, o.leak_per_mille);
    ls_buf out = LS_BUF_INIT;

    int64_t t0 = ls_mono_ns();
    ls_buf_reset(&out);
    ls_masker_apply(m, "x", 1, &out); /* builds the automaton */
    int64_t build_ns = ls_mono_ns() - t0;

    size_t res_chr, res_cpy, res_mask;
    int64_t ns_chr = best_of(o.rounds, pass_memchr, &l, m, &out, &res_chr);
    int64_t ns_cpy = best_of(o.rounds, pass_memcpy, &l, m, &out, &res_cpy);
    int64_t ns_mask = best_of(o.rounds, pass_mask, &l, m, &out, &res_mask);
    size_t bytes = l.data.len;

    printf("secrets %lld, patterns %zu (%zu bytes), automaton built in %.1f ms\n",
           (long long)o.secrets, ls_masker_count(m), ls_masker_pattern_bytes(m),
           (double)build_ns / 1e6);
    printf("lines %zu (%.1f MB, avg %.0f bytes), lines with a secret %zu, masked regions %zu\n",
           l.count, (double)bytes / 1e6, (double)bytes / (double)l.count, l.leaks, res_mask);
    printf("throughput in MB/s of CPU time, best of %lld rounds\n", (long long)o.rounds);
    printf("memchr  %8.0f MB/s\n", mb_per_s(bytes, ns_chr));
    printf("memcpy  %8.0f MB/s   (per-line copy into the output buffer)\n",
           mb_per_s(bytes, ns_cpy));
    printf("masker  %8.0f MB/s   (%.2fx memchr, %.2fx memcpy)\n", mb_per_s(bytes, ns_mask),
           (double)ns_chr / (double)ns_mask, (double)ns_cpy / (double)ns_mask);
    if (res_mask < l.leaks)
        printf("WARNING: fewer masked regions than lines with a secret\n");

    for (int64_t i = 0; i < o.secrets; i++)
        free(secrets[i]);
    free(secrets);
    free(l.start);
    ls_buf_free(&l.data);
    ls_buf_free(&out);
    ls_masker_free(m);
    return res_mask < l.leaks ? 1 : 0;
}
