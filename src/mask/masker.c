#include "mask/masker.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "mask/aho.h"
#include "mask/encode.h"

#define MASK_TEXT "***"

_Static_assert(LS_MASKER_MAX_PATTERN_BYTES <= LS_AHO_MAX_BYTES,
               "the masker's limit must fit the automaton's");

typedef struct region {
    size_t start, end;
} region;

struct ls_masker {
    size_t min_len;

    /* Distinct patterns: bytes in arena, pattern i at off[i], len[i]. */
    ls_buf arena;
    size_t *off;
    size_t *len;
    size_t count, cap;
    uint32_t *slots; /* open-addressing set of pattern index + 1; 0 = empty */
    size_t nslots;

    ls_aho *aho; /* built lazily; NULL when stale or empty */
    bool dirty;

    region *regions; /* scratch for one apply */
    size_t nregions, regions_cap;
};

ls_masker *ls_masker_new(size_t min_len)
{
    ls_masker *m = ls_xcalloc(1, sizeof(*m));
    m->min_len = min_len ? min_len : 1;
    return m;
}

void ls_masker_free(ls_masker *m)
{
    if (!m)
        return;
    ls_buf_free(&m->arena);
    free(m->off);
    free(m->len);
    free(m->slots);
    ls_aho_free(m->aho);
    free(m->regions);
    free(m);
}

size_t ls_masker_count(const ls_masker *m)
{
    return m->count;
}

size_t ls_masker_pattern_bytes(const ls_masker *m)
{
    return m->arena.len;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
    return h;
}

/* Slot where p is, or the empty slot where it would go. */
static uint32_t *find_slot(ls_masker *m, const char *p, size_t n)
{
    size_t mask = m->nslots - 1;
    for (size_t i = hash_bytes(p, n) & mask;; i = (i + 1) & mask) {
        uint32_t *slot = &m->slots[i];
        if (*slot == 0)
            return slot;
        size_t k = *slot - 1;
        if (m->len[k] == n && memcmp(m->arena.data + m->off[k], p, n) == 0)
            return slot;
    }
}

static void grow_set(ls_masker *m)
{
    m->nslots = m->nslots ? m->nslots * 2 : 64;
    free(m->slots);
    m->slots = ls_xcalloc(m->nslots, sizeof(*m->slots));
    for (size_t k = 0; k < m->count; k++)
        *find_slot(m, m->arena.data + m->off[k], m->len[k]) = (uint32_t)(k + 1);
}

static bool has_pattern(ls_masker *m, const char *p, size_t n)
{
    return m->nslots && *find_slot(m, p, n) != 0;
}

/* Adds p unless it is already there. */
static void add_pattern(ls_masker *m, const char *p, size_t n)
{
    if (has_pattern(m, p, n))
        return;
    if ((m->count + 1) * 2 > m->nslots)
        grow_set(m);
    if (m->count == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 32;
        m->off = ls_xreallocarray(m->off, m->cap, sizeof(*m->off));
        m->len = ls_xreallocarray(m->len, m->cap, sizeof(*m->len));
    }
    m->off[m->count] = m->arena.len;
    m->len[m->count] = n;
    ls_buf_append(&m->arena, p, n);
    m->count++;
    *find_slot(m, p, n) = (uint32_t)m->count;
    m->dirty = true;
}

/* Candidate patterns of one secret: a buffer of (size_t len, bytes) records. */
static void put_candidate(ls_buf *cands, size_t min_len, const char *p, size_t n)
{
    if (n < min_len)
        return;
    ls_buf_append(cands, &n, sizeof(n));
    ls_buf_append(cands, p, n);
}

static void add_encoded(ls_buf *cands, size_t min_len, ls_buf *tmp)
{
    put_candidate(cands, min_len, tmp->data, tmp->len);
    ls_buf_reset(tmp);
}

static void collect_base64(ls_buf *cands, size_t min_len, const unsigned char *s, size_t n,
                           ls_buf *tmp)
{
    for (unsigned align = 0; align < 3; align++) {
        for (int url_safe = 0; url_safe < 2; url_safe++) {
            ls_mask_base64_inner(tmp, s, n, align, url_safe);
            add_encoded(cands, min_len, tmp);
        }
    }
}

static void collect_json(ls_buf *cands, size_t min_len, const unsigned char *s, size_t n,
                         ls_buf *tmp)
{
    static const unsigned variants[] = {
        0,
        LS_MASK_JSON_UPPER_HEX,
        LS_MASK_JSON_ALL_UNICODE,
        LS_MASK_JSON_ALL_UNICODE | LS_MASK_JSON_UPPER_HEX,
        LS_MASK_JSON_SLASH,
        LS_MASK_JSON_ASCII,
        LS_MASK_JSON_ASCII | LS_MASK_JSON_UPPER_HEX,
        LS_MASK_JSON_ASCII | LS_MASK_JSON_SLASH,
    };
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        if (ls_mask_json_escape(tmp, s, n, variants[i]))
            add_encoded(cands, min_len, tmp);
        ls_buf_reset(tmp);
    }
}

static void collect_url(ls_buf *cands, size_t min_len, const unsigned char *s, size_t n,
                        ls_buf *tmp)
{
    for (int lower = 0; lower < 2; lower++) {
        for (int form = 0; form < 2; form++) {
            ls_mask_url_encode(tmp, s, n, lower, form);
            add_encoded(cands, min_len, tmp);
        }
    }
}

/* Each line of a multi-line secret ("\r\n" or "\n" separated). */
static void collect_lines(ls_buf *cands, size_t min_len, const char *s, size_t n)
{
    if (!memchr(s, '\n', n))
        return;
    const char *end = s + n;
    for (const char *p = s; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        size_t len = (size_t)(line_end - p);
        if (len && p[len - 1] == '\r')
            len--;
        put_candidate(cands, min_len, p, len);
        p = nl ? nl + 1 : end;
    }
}

static void collect_candidates(ls_buf *cands, size_t min_len, const char *secret, size_t len)
{
    const unsigned char *s = (const unsigned char *)secret;
    ls_buf tmp = LS_BUF_INIT;
    put_candidate(cands, min_len, secret, len);
    collect_base64(cands, min_len, s, len, &tmp);
    collect_json(cands, min_len, s, len, &tmp);
    collect_url(cands, min_len, s, len, &tmp);
    collect_lines(cands, min_len, secret, len);
    ls_buf_free(&tmp);
}

int ls_masker_add(ls_masker *m, const char *secret, size_t len)
{
    ls_buf cands = LS_BUF_INIT;
    int r = -EINVAL;
    if (!secret || len < m->min_len)
        goto out;
    collect_candidates(&cands, m->min_len, secret, len);
    size_t added = 0;
    for (size_t i = 0; i < cands.len;) {
        size_t n;
        memcpy(&n, cands.data + i, sizeof(n));
        if (!has_pattern(m, cands.data + i + sizeof(n), n))
            added += n;
        i += sizeof(n) + n;
    }
    r = -E2BIG;
    if (m->arena.len + added >= LS_MASKER_MAX_PATTERN_BYTES)
        goto out;
    for (size_t i = 0; i < cands.len;) {
        size_t n;
        memcpy(&n, cands.data + i, sizeof(n));
        add_pattern(m, cands.data + i + sizeof(n), n);
        i += sizeof(n) + n;
    }
    r = 0;
out:
    ls_buf_free(&cands);
    return r;
}

static void rebuild(ls_masker *m)
{
    ls_aho_free(m->aho);
    m->aho = NULL;
    m->dirty = false;
    if (m->count == 0)
        return;
    const unsigned char **pats = ls_xcalloc(m->count, sizeof(*pats));
    for (size_t i = 0; i < m->count; i++)
        pats[i] = (const unsigned char *)m->arena.data + m->off[i];
    m->aho = ls_aho_build(pats, m->len, m->count);
    free(pats);
}

/* Matches come in increasing order of end; a match that overlaps or touches
 * the last regions swallows them. */
static void on_match(void *userdata, size_t start, size_t end)
{
    ls_masker *m = userdata;
    while (m->nregions > 0 && start <= m->regions[m->nregions - 1].end) {
        region *last = &m->regions[m->nregions - 1];
        start = last->start < start ? last->start : start;
        end = last->end > end ? last->end : end;
        m->nregions--;
    }
    if (m->nregions == m->regions_cap) {
        m->regions_cap = m->regions_cap ? m->regions_cap * 2 : 16;
        m->regions = ls_xreallocarray(m->regions, m->regions_cap, sizeof(*m->regions));
    }
    m->regions[m->nregions++] = (region){start, end};
}

size_t ls_masker_apply(ls_masker *m, const char *text, size_t len, ls_buf *out)
{
    if (len == 0)
        return 0;
    if (m->dirty)
        rebuild(m);
    m->nregions = 0;
    if (m->aho)
        ls_aho_scan(m->aho, (const unsigned char *)text, len, on_match, m);
    size_t done = 0;
    for (size_t i = 0; i < m->nregions; i++) {
        ls_buf_append(out, text + done, m->regions[i].start - done);
        ls_buf_append(out, MASK_TEXT, sizeof(MASK_TEXT) - 1);
        done = m->regions[i].end;
    }
    ls_buf_append(out, text + done, len - done);
    return m->nregions;
}

/* The region strictly around cut, or NULL (regions are disjoint and do not
 * touch: one at most). */
static const region *region_around(const ls_masker *m, size_t cut)
{
    for (size_t i = 0; i < m->nregions; i++) {
        if (m->regions[i].start < cut && cut < m->regions[i].end)
            return &m->regions[i];
    }
    return NULL;
}

size_t ls_masker_hold_back(ls_masker *m, const char *text, size_t len, size_t max_hold)
{
    if (len == 0 || max_hold == 0)
        return 0;
    if (max_hold > len)
        max_hold = len;
    if (m->dirty)
        rebuild(m);
    if (!m->aho)
        return 0;
    const unsigned char *t = (const unsigned char *)text;
    size_t cut = len - ls_aho_prefix_suffix(m->aho, t, len);
    m->nregions = 0;
    ls_aho_scan(m->aho, t, len, on_match, m);
    /* A match wholly in text that straddles the cut moves it to its start. */
    const region *r = region_around(m, cut);
    if (r)
        cut = r->start;
    if (len - cut <= max_hold)
        return len - cut;
    /* Too much to keep: the latest allowed cut, moved past a match it splits. */
    r = region_around(m, len - max_hold);
    return r ? len - r->end : max_hold;
}
