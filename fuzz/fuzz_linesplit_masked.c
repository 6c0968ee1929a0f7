/* links: mask common */
/* The worker's cut lines and its masker together (issue 5: a secret must never
 * be split between two pieces of a line). Feeds text made from arbitrary bytes to a line
 * splitter whose hold-back callback is the masker's, in chunks chosen by the
 * input, with idle partial sends (ls_linesplit_send_partial) between chunks
 * where the input says so, and checks that:
 * - the pieces joined back give the input (plus a newline after a flushed
 *   partial line) and no piece is longer than max_len;
 * - masking every piece on its own gives the same text as masking every
 *   whole line, but for the '*'s (the masker merges adjacent matches into
 *   one "***", so a cut between two whole secrets gives "******"): no secret
 *   was cut, whatever the chunks, the partial sends and the max_len cuts.
 * The secrets overlap on purpose (a prefix of one is a suffix of another).
 * The second check is skipped for a line holding a run of masked bytes
 * (overlapping or adjacent secrets) of max_len bytes or more: such a run
 * cannot be kept in one piece, and a cut inside it may show some of its
 * bytes (see ls_masker_hold_back). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/linesplit.h"
#include "mask/masker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input bytes become letters of a three-letter alphabet (and newlines), so
 * that random inputs are full of secrets and near-secrets: a masker is a
 * table-driven automaton, which gives libFuzzer no comparisons to learn
 * from. */
static const char *const secrets[] = {"abab", "babb", "abca", "bcab", "ccabca"};
#define LONGEST_SECRET 6

static char letter(uint8_t b)
{
    static const char alphabet[16] = "aaaaabbbbbcccc\n\n";
    return alphabet[b % 16];
}

typedef struct check {
    size_t max_len;
    ls_masker *masker;
    ls_buf joined;      /* pieces as delivered, '\n' after a line's last piece */
    ls_buf masked;      /* each piece masked on its own, joined the same way */
    ls_buf piece_masks; /* scratch */
} check;

static int on_line(void *userdata, const char *text, size_t len, bool continued)
{
    check *c = userdata;
    if (len > c->max_len || memchr(text, '\n', len))
        abort();
    ls_buf_append(&c->joined, text, len);
    ls_buf_reset(&c->piece_masks);
    ls_masker_apply(c->masker, text, len, &c->piece_masks);
    ls_buf_append(&c->masked, c->piece_masks.data ? c->piece_masks.data : "", c->piece_masks.len);
    if (!continued) {
        ls_buf_putc(&c->joined, '\n');
        ls_buf_putc(&c->masked, '\n');
    }
    return 0;
}

static size_t hold(void *userdata, const char *text, size_t len, size_t max_hold)
{
    check *c = userdata;
    size_t n = ls_masker_hold_back(c->masker, text, len, max_hold);
    if (n > max_hold)
        abort();
    return n;
}

/* The longest run of bytes covered by secrets in line[0, len), counting
 * touching matches as one run (the masker merges them into one "***"). */
static size_t longest_masked_run(const char *line, size_t len)
{
    size_t longest = 0, run_start = 0, run_end = 0; /* run_end == 0: no run */
    for (size_t i = 0; i < len; i++) {
        for (size_t k = 0; k < sizeof(secrets) / sizeof(secrets[0]); k++) {
            size_t n = strlen(secrets[k]);
            if (n > len - i || memcmp(line + i, secrets[k], n) != 0)
                continue;
            if (run_end == 0 || i > run_end)
                run_start = i, run_end = i + n;
            else if (i + n > run_end)
                run_end = i + n;
            if (run_end - run_start > longest)
                longest = run_end - run_start;
        }
    }
    return longest;
}

/* a and b are the same text once every '*' is left out */
static bool same_but_stars(const ls_buf *a, const ls_buf *b)
{
    size_t i = 0, j = 0;
    for (;;) {
        while (i < a->len && a->data[i] == '*')
            i++;
        while (j < b->len && b->data[j] == '*')
            j++;
        if (i == a->len || j == b->len)
            return i == a->len && j == b->len;
        if (a->data[i++] != b->data[j++])
            return false;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    /* max_len above the longest secret: a longer secret cannot be kept whole
     * (documented in linesplit.h) */
    check c = {.max_len = LONGEST_SECRET + 1 + data[0] % 40,
               .joined = LS_BUF_INIT,
               .masked = LS_BUF_INIT,
               .piece_masks = LS_BUF_INIT};
    unsigned chunk_seed = data[1], partial_bits = data[2];
    size -= 3;
    uint8_t *text_in = malloc(size ? size : 1);
    for (size_t i = 0; i < size; i++)
        text_in[i] = (uint8_t)letter(data[3 + i]);
    data = text_in;
    c.masker = ls_masker_new(4);
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        if (ls_masker_add(c.masker, secrets[i], strlen(secrets[i])) < 0)
            abort();
    ls_linesplit *s = ls_linesplit_new(c.max_len, on_line, &c);
    ls_linesplit_set_hold(s, hold);
    size_t off = 0;
    unsigned round = 0;
    while (off < size) {
        size_t n = 1 + (chunk_seed * 31 + off) % 23;
        if (n > size - off)
            n = size - off;
        char *chunk = malloc(n); /* exact-size copy: ASan sees overreads */
        memcpy(chunk, data + off, n);
        if (ls_linesplit_feed(s, chunk, n) != 0)
            abort();
        free(chunk);
        off += n;
        if (partial_bits & (1u << (round++ % 8)))
            if (ls_linesplit_send_partial(s) != 0)
                abort();
    }
    bool has_tail = size > 0 && data[size - 1] != '\n';
    if (ls_linesplit_flush(s) != 0)
        abort();
    size_t want = size + (has_tail ? 1 : 0);
    if (c.joined.len != want || (size && memcmp(c.joined.data, data, size) != 0))
        abort();

    /* the same input masked line by line */
    ls_buf whole = LS_BUF_INIT;
    const char *text = c.joined.data;
    size_t left = c.joined.len;
    bool comparable = true;
    while (left > 0) {
        const char *nl = memchr(text, '\n', left);
        size_t len = (size_t)(nl - text); /* joined always ends with '\n' */
        if (longest_masked_run(text, len) >= c.max_len)
            comparable = false;
        ls_masker_apply(c.masker, text, len, &whole);
        ls_buf_putc(&whole, '\n');
        text += len + 1;
        left -= len + 1;
    }
    if (comparable && !same_but_stars(&whole, &c.masked))
        abort();

    ls_buf_free(&whole);
    free(text_in);
    ls_linesplit_free(s);
    ls_masker_free(c.masker);
    ls_buf_free(&c.joined);
    ls_buf_free(&c.masked);
    ls_buf_free(&c.piece_masks);
    return 0;
}
