#include "mask/aho.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

/* A DFA table entry: offset of the next state's row (state * ncls) plus flags.
 * SHALLOW marks states of depth < exit_depth, whose depth sits in DEPTH. */
#define ENTRY_OFFSET 0x0fffffffu
#define ENTRY_DEPTH_SHIFT 28
#define ENTRY_SHALLOW 0x40000000u
#define ENTRY_MATCH 0x80000000u
#define ENTRY_SLOW 0x40000000u /* any entry >= this needs a look */

#define MAX_Q 4
#define MAX_STEP 32
/* Below this sampling step the filter costs more than it saves: the DFA
 * alone scans the text. */
#define MIN_FILTER_STEP 2

struct ls_aho {
    uint32_t *table;   /* nstates * ncls entries */
    uint32_t *out_len; /* per state: longest pattern that is a suffix of it */
    uint32_t *prefix;  /* per state: longest suffix of it that is a proper prefix of
                        * some pattern (the state's depth when it has a trie child) */
    size_t nstates;
    size_t ncls;
    uint8_t cls[256]; /* byte -> class; class 0 = bytes in no pattern */

    size_t min_len; /* shortest pattern */
    size_t max_len; /* longest pattern */
    size_t q;       /* bytes per filter gram: min(MAX_Q, min_len) */
    size_t step;    /* sampling step W */
    bool use_filter;
    uint32_t *filter;
    unsigned filter_bits; /* log2 of the filter's size in bits */
};

static uint32_t load_gram(const unsigned char *p, size_t q)
{
    uint32_t x = 0;
    if (q == 4) {
        memcpy(&x, p, 4);
        return x;
    }
    for (size_t i = 0; i < q; i++)
        x |= (uint32_t)p[i] << (8 * i);
    return x;
}

static uint32_t gram_hash(uint32_t x, unsigned bits)
{
    return (x * 0x9E3779B1u) >> (32 - bits);
}

static bool filter_has(const ls_aho *a, uint32_t gram)
{
    uint32_t h = gram_hash(gram, a->filter_bits);
    return (a->filter[h >> 5] >> (h & 31)) & 1u;
}

static void assign_classes(ls_aho *a, const unsigned char *const *pats, const size_t *lens,
                           size_t n)
{
    bool used[256] = {false};
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < lens[i]; j++)
            used[pats[i][j]] = true;
    a->ncls = 1;
    for (int b = 0; b < 256; b++)
        a->cls[b] = used[b] ? (uint8_t)a->ncls++ : 0;
}

/* Builds the trie into the raw table (entry = child state, 0 = none). */
static void build_trie(ls_aho *a, const unsigned char *const *pats, const size_t *lens, size_t n,
                       uint32_t *depth)
{
    a->nstates = 1;
    for (size_t i = 0; i < n; i++) {
        uint32_t s = 0;
        for (size_t j = 0; j < lens[i]; j++) {
            uint32_t *slot = &a->table[(size_t)s * a->ncls + a->cls[pats[i][j]]];
            if (*slot == 0) {
                *slot = (uint32_t)a->nstates++;
                depth[*slot] = depth[s] + 1;
            }
            s = *slot;
        }
        if (a->out_len[s] < lens[i])
            a->out_len[s] = (uint32_t)lens[i];
    }
}

/* Breadth-first pass turning the trie into the full DFA: a missing transition
 * goes where the failure state's does, and each state's output includes its
 * failure state's. Also fills prefix[] (a failure state is shallower, so it is
 * done before the states failing to it). */
static void build_dfa(ls_aho *a, const uint32_t *depth)
{
    size_t ncls = a->ncls;
    uint32_t *fail = ls_xcalloc(a->nstates, sizeof(*fail));
    uint32_t *queue = ls_xcalloc(a->nstates, sizeof(*queue));
    size_t head = 0, tail = 0;
    for (size_t c = 0; c < ncls; c++) {
        uint32_t t = a->table[c];
        if (t)
            queue[tail++] = t; /* fail[t] = 0 */
    }
    while (head < tail) {
        uint32_t s = queue[head++];
        uint32_t *row = &a->table[(size_t)s * ncls];
        const uint32_t *frow = &a->table[(size_t)fail[s] * ncls];
        bool has_child = false;
        for (size_t c = 0; c < ncls; c++)
            has_child |= row[c] != 0;
        a->prefix[s] = has_child ? depth[s] : a->prefix[fail[s]];
        for (size_t c = 0; c < ncls; c++) {
            uint32_t t = row[c];
            if (t == 0) {
                row[c] = frow[c];
                continue;
            }
            fail[t] = frow[c];
            if (a->out_len[t] < a->out_len[fail[t]])
                a->out_len[t] = a->out_len[fail[t]];
            queue[tail++] = t;
        }
    }
    free(fail);
    free(queue);
}

/* Rewrites state numbers as row offsets with the flags the scanner tests. */
static void encode_entries(ls_aho *a, const uint32_t *depth, size_t exit_depth)
{
    size_t total = a->nstates * a->ncls;
    for (size_t i = 0; i < total; i++) {
        uint32_t t = a->table[i];
        uint32_t e = (uint32_t)(t * a->ncls);
        if (a->out_len[t])
            e |= ENTRY_MATCH;
        if (depth[t] < exit_depth)
            e |= ENTRY_SHALLOW | (depth[t] << ENTRY_DEPTH_SHIFT);
        a->table[i] = e;
    }
}

/* Every q-gram at offsets 0..step-1 of every pattern: any occurrence of a
 * pattern contains one sampled position whose gram is one of these. */
static void build_filter(ls_aho *a, const unsigned char *const *pats, size_t n)
{
    size_t want = n * a->step * 16;
    a->filter_bits = 10;
    while (a->filter_bits < 22 && ((size_t)1 << a->filter_bits) < want)
        a->filter_bits++;
    a->filter = ls_xcalloc(((size_t)1 << a->filter_bits) / 32, sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) {
        for (size_t off = 0; off < a->step; off++) {
            uint32_t h = gram_hash(load_gram(pats[i] + off, a->q), a->filter_bits);
            a->filter[h >> 5] |= 1u << (h & 31);
        }
    }
}

ls_aho *ls_aho_build(const unsigned char *const *pats, const size_t *lens, size_t n)
{
    size_t total = 0, min_len = SIZE_MAX, max_len = 0;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] == 0)
            return NULL;
        total += lens[i];
        min_len = lens[i] < min_len ? lens[i] : min_len;
        max_len = lens[i] > max_len ? lens[i] : max_len;
    }
    if (n == 0 || total >= LS_AHO_MAX_BYTES)
        return NULL;

    ls_aho *a = ls_xcalloc(1, sizeof(*a));
    assign_classes(a, pats, lens, n);
    size_t max_states = total + 1;
    a->table = ls_xcalloc(max_states * a->ncls, sizeof(*a->table));
    a->out_len = ls_xcalloc(max_states, sizeof(*a->out_len));
    a->prefix = ls_xcalloc(max_states, sizeof(*a->prefix));
    uint32_t *depth = ls_xcalloc(max_states, sizeof(*depth));
    build_trie(a, pats, lens, n, depth);
    a->table = ls_xreallocarray(a->table, a->nstates * a->ncls, sizeof(*a->table));
    build_dfa(a, depth);

    a->min_len = min_len;
    a->max_len = max_len;
    a->q = min_len < MAX_Q ? min_len : MAX_Q;
    a->step = min_len - a->q + 1;
    if (a->step > MAX_STEP)
        a->step = MAX_STEP;
    a->use_filter = a->step >= MIN_FILTER_STEP;
    /* No whole pattern fits in a partial match shallower than min_len, so
     * rescanning from its start never reports a match twice. Without the
     * filter no state hands back (exit depth 0). */
    encode_entries(a, depth, !a->use_filter ? 0 : min_len < MAX_Q ? min_len : MAX_Q);
    free(depth);
    if (a->use_filter)
        build_filter(a, pats, n);
    return a;
}

void ls_aho_free(ls_aho *a)
{
    if (!a)
        return;
    free(a->table);
    free(a->out_len);
    free(a->prefix);
    free(a->filter);
    free(a);
}

size_t ls_aho_states(const ls_aho *a)
{
    return a->nstates;
}

size_t ls_aho_memory(const ls_aho *a)
{
    return sizeof(*a) + a->nstates * (a->ncls + 2) * sizeof(uint32_t) +
           (a->use_filter ? ((size_t)1 << a->filter_bits) / 8 : 0);
}

size_t ls_aho_prefix_suffix(const ls_aho *a, const unsigned char *text, size_t len)
{
    /* The answer is at most max_len bytes long: the bytes before cannot change it. */
    size_t from = len > a->max_len ? len - a->max_len : 0;
    uint32_t e = 0;
    for (size_t pos = from; pos < len; pos++)
        e = a->table[(e & ENTRY_OFFSET) + a->cls[text[pos]]];
    return a->prefix[(e & ENTRY_OFFSET) / (uint32_t)a->ncls];
}

/* First sampled position >= from whose gram passes the filter, or SIZE_MAX. */
static size_t next_candidate(const ls_aho *a, const unsigned char *text, size_t len, size_t from)
{
    size_t q = a->q, step = a->step;
    if (q == 4) {
        const uint32_t *filter = a->filter;
        unsigned shift = 32 - a->filter_bits;
        for (size_t p = from; p + 4 <= len; p += step) {
            uint32_t x;
            memcpy(&x, text + p, 4);
            uint32_t h = (x * 0x9E3779B1u) >> shift;
            if ((filter[h >> 5] >> (h & 31)) & 1u)
                return p;
        }
        return SIZE_MAX;
    }
    for (size_t p = from; p + q <= len; p += step)
        if (filter_has(a, load_gram(text + p, q)))
            return p;
    return SIZE_MAX;
}

/* Runs the DFA from the root at text[from]; reports matches; returns where
 * the filter takes over again (len at the end of the text). */
static size_t run_dfa(const ls_aho *a, const unsigned char *text, size_t len, size_t from,
                      ls_aho_match_cb cb, void *userdata)
{
    const uint32_t *table = a->table;
    const uint8_t *cls = a->cls;
    uint32_t e = 0;
    for (size_t pos = from; pos < len; pos++) {
        e = table[(e & ENTRY_OFFSET) + cls[text[pos]]];
        if (e < ENTRY_SLOW)
            continue;
        if (e & ENTRY_MATCH) {
            uint32_t state = (e & ENTRY_OFFSET) / (uint32_t)a->ncls;
            cb(userdata, pos + 1 - a->out_len[state], pos + 1);
            continue;
        }
        size_t d = (e >> ENTRY_DEPTH_SHIFT) & 3u;
        if (pos + 1 - d > from)
            return pos + 1 - d;
    }
    return len;
}

void ls_aho_scan(const ls_aho *a, const unsigned char *text, size_t len, ls_aho_match_cb cb,
                 void *userdata)
{
    if (!a->use_filter) {
        run_dfa(a, text, len, 0, cb, userdata);
        return;
    }
    size_t from = 0;
    while (from < len) {
        size_t p = next_candidate(a, text, len, from);
        if (p == SIZE_MAX)
            return;
        size_t start = p >= from + a->step - 1 ? p - (a->step - 1) : from;
        from = run_dfa(a, text, len, start, cb, userdata);
    }
}
