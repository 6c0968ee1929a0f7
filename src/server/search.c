/* Search over a whole step log, see search.h. */
#include "server/search.h"

#include "common/json_text.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "server/linesource.h"
#include "store/store.h"

/* Lines searched per call of the content reader: bounds the time one search
 * holds MHD's thread (and, for lines still in memory, the step's lock). */
#define PIECE_LINES 10000u
/* Cursor moves never take a line wider than this many cells (a hostile
 * "ESC[999999999G" must not allocate gigabytes). */
#define MAX_COLUMN 65536u

/* ---- the query -------------------------------------------------------- */

/* Decodes one character: invalid bytes are U+FFFD each. Returns bytes used. */
static size_t next_char(const unsigned char *s, size_t len, uint32_t *ret_cp)
{
    size_t n = ls_utf8_decode(s, len, ret_cp);
    if (n == 0) {
        *ret_cp = 0xFFFD;
        n = 1;
    }
    return n;
}

static bool is_utf8(const char *s, size_t len)
{
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        size_t n = ls_utf8_decode((const unsigned char *)s + i, len - i, &cp);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

int ls_search_query_parse(const char *q, const char *limit, const char *since, uint64_t max_query,
                          uint64_t max_limit, ls_search_query *ret, char *err, size_t errlen)
{
    ls_search_query out = {.limit = LS_SEARCH_DEFAULT_LIMIT < max_limit ? LS_SEARCH_DEFAULT_LIMIT
                                                                        : max_limit};
    if (!q || !*q) {
        snprintf(err, errlen, "give the text to search for as ?q=TEXT (not empty)");
        return -EINVAL;
    }
    out.q = q;
    out.q_len = strlen(q);
    if (out.q_len > max_query) {
        snprintf(err, errlen,
                 "q is %zu bytes long; a search text may have at most %" PRIu64
                 " bytes (--search-max-query)",
                 out.q_len, max_query);
        return -EINVAL;
    }
    if (!is_utf8(q, out.q_len)) {
        snprintf(err, errlen, "q must be UTF-8 text (percent-encoded in the URL)");
        return -EINVAL;
    }
    if (limit &&
        (ls_parse_uint_strict(limit, strlen(limit), max_limit, &out.limit) < 0 || out.limit == 0)) {
        snprintf(err, errlen,
                 "limit must be a number of matches from 1 to %" PRIu64 " (--search-max-matches)",
                 max_limit);
        return -EINVAL;
    }
    if (since && ls_parse_uint_strict(since, strlen(since), LS_MAX_SEQ, &out.since) < 0) {
        snprintf(err, errlen, "since must be a decimal seq (0 for the first line)");
        return -EINVAL;
    }
    *ret = out;
    return 0;
}

/* ---- case folding ----------------------------------------------------- */

/* Simple lower-case mapping of the scripts logs use most; the rest maps to
 * itself. (The browser's toLowerCase knows all of Unicode; both sides agree
 * on these ranges.) */
static uint32_t fold(uint32_t c)
{
    if (c < 0x80)
        return c - 'A' < 26u ? c + 32 : c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
        return c + 32;
    if (c < 0x100)
        return c;
    if (c <= 0x17F) {
        if (c == 0x130 || c == 0x138 || c == 0x149 || c == 0x17F)
            return c;
        if (c == 0x178)
            return 0xFF;
        if (c < 0x138 || (c >= 0x14A && c <= 0x177))
            return c | 1; /* upper case even, lower case odd */
        return (c & 1) ? c + 1 : c;
    }
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2)
        return c + 32;
    if (c >= 0x410 && c <= 0x42F)
        return c + 32;
    if (c >= 0x400 && c <= 0x40F)
        return c + 80;
    return c;
}

static void put_utf8(ls_buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    ls_buf_append(b, u, n);
}

int ls_search_needle_init(ls_search_needle *n, const char *q, size_t len)
{
    if (len == 0 || !is_utf8(q, len))
        return -EINVAL;
    ls_buf b = LS_BUF_INIT;
    bool ascii = true;
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        i += next_char((const unsigned char *)q + i, len - i, &cp);
        ascii = ascii && cp < 0x80;
        put_utf8(&b, fold(cp));
    }
    n->len = b.len;
    n->ascii = ascii;
    n->folded = ls_buf_steal(&b);
    return 0;
}

void ls_search_needle_free(ls_search_needle *n)
{
    if (!n)
        return;
    free(n->folded);
    n->folded = NULL;
}

void ls_search_scratch_free(ls_search_scratch *s)
{
    if (!s)
        return;
    free(s->cells);
    s->cells = NULL;
    s->cap = 0;
    ls_buf_free(&s->folded);
}

/* ---- a line as a terminal shows it ------------------------------------ */
/* The same rules as the web UI's renderLine (web/ansi.js): each line starts
 * at column 0 with nothing on it; a printed character overwrites the cell at
 * the cursor; \r goes to column 0, \b one column left; CSI K erases, CSI
 * G/C/D move the cursor; every other escape sequence (SGR, OSC, charset...)
 * shows nothing. Holes left by cursor moves are spaces. */

typedef struct cells {
    ls_search_scratch *s;
    size_t len, col;
} cells;

static inline void cells_put(cells *c, uint32_t cp)
{
    if (c->col < c->len) {
        c->s->cells[c->col++] = cp; /* overwriting (after \r) */
        return;
    }
    if (c->col >= c->s->cap) {
        size_t cap = c->s->cap ? c->s->cap * 2 : 256;
        while (cap <= c->col)
            cap *= 2;
        c->s->cells = ls_xreallocarray(c->s->cells, cap, sizeof(uint32_t));
        c->s->cap = cap;
    }
    for (size_t i = c->len; i < c->col; i++)
        c->s->cells[i] = ' ';
    c->s->cells[c->col++] = cp;
    if (c->col > c->len)
        c->len = c->col;
}

static void cells_move(cells *c, int64_t col)
{
    if (col < 0)
        col = 0;
    if (col > (int64_t)MAX_COLUMN)
        col = MAX_COLUMN;
    c->col = (size_t)col;
}

/* parseInt(params) > 0 ? it : dflt, as the UI computes it. */
static int64_t first_param(const unsigned char *p, size_t len, int64_t dflt)
{
    int64_t v = 0;
    size_t i = 0;
    for (; i < len && p[i] >= '0' && p[i] <= '9'; i++)
        if (v < 1000000000)
            v = v * 10 + (p[i] - '0');
    return i > 0 && v > 0 ? v : dflt;
}

static void cells_erase(cells *c, int64_t mode)
{
    if (mode == 0) {
        if (c->col < c->len)
            c->len = c->col;
    } else if (mode == 1) {
        for (size_t i = 0; i <= c->col && i < c->len; i++)
            c->s->cells[i] = ' ';
    } else if (mode == 2) {
        c->len = 0;
    }
}

/* Skips the escape sequence at t[i] (an ESC) and applies it. Returns the
 * index after it. */
static size_t escape(cells *c, const unsigned char *t, size_t n, size_t i)
{
    uint32_t cp;
    unsigned char next = i + 1 < n ? t[i + 1] : 0;
    if (next == '[') {
        size_t j = i + 2;
        while (j < n && t[j] >= 0x30 && t[j] <= 0x3f)
            j++;
        const unsigned char *params = t + i + 2;
        size_t plen = j - (i + 2);
        while (j < n && t[j] >= 0x20 && t[j] <= 0x2f)
            j++;
        if (j >= n)
            return n; /* a cut-off sequence shows nothing */
        switch (t[j]) {
        case 'K':
            cells_erase(c, first_param(params, plen, 0));
            break;
        case 'G':
            cells_move(c, first_param(params, plen, 1) - 1);
            break;
        case 'C':
            cells_move(c, (int64_t)c->col + first_param(params, plen, 1));
            break;
        case 'D':
            cells_move(c, (int64_t)c->col - first_param(params, plen, 1));
            break;
        }
        return j + next_char(t + j, n - j, &cp);
    }
    if (next == ']' || next == 'P' || next == '_') {
        for (size_t j = i + 2; j < n; j++) {
            if (t[j] == 0x07)
                return j + 1;
            if (t[j] == 0x1b && j + 1 < n && t[j + 1] == '\\')
                return j + 2;
        }
        return n;
    }
    size_t j = i + 1;
    while (j < n && t[j] >= 0x20 && t[j] <= 0x2f)
        j++;
    return j < n ? j + next_char(t + j, n - j, &cp) : n;
}

/* Renders text into s->cells; returns the number of cells. */
static size_t render_cells(const char *text, size_t len, ls_search_scratch *s)
{
    const unsigned char *t = (const unsigned char *)text;
    cells c = {.s = s};
    for (size_t i = 0; i < len;) {
        unsigned char b = t[i];
        if (b == 0x1b) {
            i = escape(&c, t, len, i);
        } else if (b == '\r') {
            cells_move(&c, 0);
            i++;
        } else if (b == '\b') {
            cells_move(&c, (int64_t)c.col - 1);
            i++;
        } else if (b < 0x80) {
            cells_put(&c, b);
            i++;
        } else {
            uint32_t cp;
            i += next_char(t + i, len - i, &cp);
            cells_put(&c, cp);
        }
    }
    return c.len;
}

static bool has_controls(const char *text, size_t len)
{
    return memchr(text, 0x1b, len) || memchr(text, '\r', len) || memchr(text, '\b', len);
}

/* Appends the UTF-8 of cells[0..n), each mapped through fold when folding. */
static void put_cells(ls_buf *out, const uint32_t *cps, size_t n, bool folding)
{
    char *w = ls_buf_reserve(out, 4 * n + 1);
    char *start = w;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = folding ? fold(cps[i]) : cps[i];
        if (cp < 0x80) {
            *w++ = (char)cp;
        } else if (cp < 0x800) {
            *w++ = (char)(0xC0 | (cp >> 6));
            *w++ = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            *w++ = (char)(0xE0 | (cp >> 12));
            *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *w++ = (char)(0x80 | (cp & 0x3F));
        } else {
            *w++ = (char)(0xF0 | (cp >> 18));
            *w++ = (char)(0x80 | ((cp >> 12) & 0x3F));
            *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *w++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    out->len += (size_t)(w - start);
    out->data[out->len] = '\0';
}

/* Decodes text into s->cells (no rendering); returns the number of cells. */
static size_t decode_cells(const char *text, size_t len, ls_search_scratch *s)
{
    if (s->cap < len) {
        s->cells = ls_xreallocarray(s->cells, len, sizeof(uint32_t));
        s->cap = len;
    }
    size_t n = 0;
    for (size_t i = 0; i < len;)
        i += next_char((const unsigned char *)text + i, len - i, &s->cells[n++]);
    return n;
}

void ls_search_render_line(const char *text, size_t len, ls_search_scratch *s, ls_buf *out)
{
    size_t n = has_controls(text, len) ? render_cells(text, len, s) : decode_cells(text, len, s);
    put_cells(out, s->cells, n, false);
}

/* ---- matching --------------------------------------------------------- */

static inline unsigned char lower_ascii(unsigned char c)
{
    return (unsigned char)((unsigned)(c - 'A') < 26u ? c + 32 : c);
}

/* Case-insensitive find of an ASCII needle (already lower case) in bytes:
 * memchr finds the candidates for its first byte, in either case. */
static bool ascii_find(const unsigned char *h, size_t hl, const unsigned char *nd, size_t nl)
{
    if (nl > hl)
        return false;
    unsigned char lo = nd[0];
    unsigned char up = (unsigned)(lo - 'a') < 26u ? (unsigned char)(lo - 32) : lo;
    const unsigned char *end = h + (hl - nl) + 1; /* candidates start before end */
    const unsigned char *p_lo = h, *p_up = up == lo ? NULL : h;
    for (;;) {
        if (p_lo && p_lo < end && *p_lo != lo)
            p_lo = memchr(p_lo, lo, (size_t)(end - p_lo));
        if (p_up && p_up < end && *p_up != up)
            p_up = memchr(p_up, up, (size_t)(end - p_up));
        if (p_lo && p_lo >= end)
            p_lo = NULL;
        if (p_up && p_up >= end)
            p_up = NULL;
        const unsigned char *p = !p_lo ? p_up : !p_up ? p_lo : p_lo < p_up ? p_lo : p_up;
        if (!p)
            return false;
        size_t k = 1;
        while (k < nl && lower_ascii(p[k]) == nd[k])
            k++;
        if (k == nl)
            return true;
        if (p == p_lo)
            p_lo++;
        else
            p_up++;
    }
}

/* The same over rendered cells (an ASCII needle matches only ASCII cells,
 * and no other character folds to ASCII). */
static bool ascii_find_cells(const uint32_t *h, size_t hl, const unsigned char *nd, size_t nl)
{
    if (nl > hl)
        return false;
    for (size_t i = 0; i + nl <= hl; i++) {
        size_t k = 0;
        while (k < nl && h[i + k] < 0x80 && lower_ascii((unsigned char)h[i + k]) == nd[k])
            k++;
        if (k == nl)
            return true;
    }
    return false;
}

bool ls_search_line_matches(const ls_search_needle *n, const char *text, size_t len,
                            ls_search_scratch *s)
{
    bool controls = has_controls(text, len);
    if (!controls && n->ascii)
        return ascii_find((const unsigned char *)text, len, (const unsigned char *)n->folded,
                          n->len);
    size_t cn = controls ? render_cells(text, len, s) : decode_cells(text, len, s);
    if (n->ascii)
        return ascii_find_cells(s->cells, cn, (const unsigned char *)n->folded, n->len);
    ls_buf_reset(&s->folded);
    put_cells(&s->folded, s->cells, cn, true);
    return s->folded.len >= n->len && memmem(s->folded.data, s->folded.len, n->folded, n->len);
}

/* ---- the handler ------------------------------------------------------ */

typedef struct search_run {
    ls_server *srv;
    ls_live_step *step;
    ls_search_needle needle;
    ls_search_scratch scratch;
    uint64_t after; /* last seq searched */
    uint64_t upto;  /* last seq to search */
    uint64_t limit, listed, total;
    bool started, done;
    ls_buf out;
    size_t pos;
} search_run;

static void run_free(void *cls)
{
    search_run *sr = cls;
    ls_live_release(sr->step);
    ls_search_needle_free(&sr->needle);
    ls_search_scratch_free(&sr->scratch);
    ls_buf_free(&sr->out);
    free(sr);
}

static int search_line(void *arg, const ls_line *line)
{
    search_run *sr = arg;
    sr->after = line->seq;
    if (!ls_search_line_matches(&sr->needle, line->text, line->len, &sr->scratch))
        return 0;
    sr->total++;
    if (sr->listed < sr->limit) {
        ls_buf_printf(&sr->out, "%s%" PRIu64, sr->listed ? "," : "", line->seq);
        sr->listed++;
    }
    return 0;
}

/* Fills sr->out with the next part of the answer. Returns 0, 1 at the end,
 * or a negative errno when the store fails. */
static int next_part(search_run *sr)
{
    ls_buf_reset(&sr->out);
    sr->pos = 0;
    if (!sr->started) {
        ls_buf_puts(&sr->out, "{\"matches\":[");
        sr->started = true;
    }
    if (sr->after < sr->upto) {
        int n = ls_linesource_read(sr->srv, sr->step, sr->after, sr->upto, PIECE_LINES, search_line,
                                   sr, NULL);
        if (n < 0)
            return n;
        if (n == 0)
            sr->after = sr->upto; /* nothing more to read (the rest was dropped) */
    }
    if (sr->after >= sr->upto) {
        ls_buf_printf(&sr->out, "],\"total\":%" PRIu64 ",\"last_seq\":%" PRIu64 "}\n", sr->total,
                      sr->upto);
        sr->done = true;
    }
    if (sr->out.len == 0)
        ls_buf_putc(&sr->out, ' '); /* JSON whitespace: a piece without matches */
    return 0;
}

static ssize_t read_search(void *cls, uint64_t pos, char *buf, size_t max)
{
    search_run *sr = cls;
    (void)pos;
    if (sr->pos == sr->out.len) {
        if (sr->done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (next_part(sr) < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = sr->out.len - sr->pos;
    if (n > max)
        n = max;
    memcpy(buf, sr->out.data + sr->pos, n);
    sr->pos += n;
    return (ssize_t)n;
}

static enum MHD_Result search_begin(ls_req *r)
{
    ls_search_query q;
    char err[200];
    const ls_server_config *cfg = &r->srv->cfg;
    if (ls_search_query_parse(ls_req_query(r, "q"), ls_req_query(r, "limit"),
                              ls_req_query(r, "since"), (uint64_t)cfg->search_max_query,
                              (uint64_t)cfg->search_max_matches, &q, err, sizeof(err)) < 0)
        return ls_req_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_query", err, NULL);
    ls_live_step *step = NULL;
    int rc = ls_linesource_open_step(r->srv, r->route.build, r->route.step, &step, NULL);
    if (rc == -ENOENT) {
        snprintf(err, sizeof(err), "build %lld has no step %d", (long long)r->route.build,
                 r->route.step);
        return ls_req_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", err, NULL);
    }
    if (rc < 0) {
        snprintf(err, sizeof(err), "storage failed: %s", ls_store_last_error());
        return ls_req_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_error", err, NULL);
    }
    search_run *sr = ls_xcalloc(1, sizeof(*sr));
    sr->srv = r->srv;
    sr->step = step;
    sr->limit = q.limit;
    sr->after = q.since;
    ls_live_state st;
    ls_live_get_state(step, &st);
    sr->upto = st.received_seq;
    if (sr->after > sr->upto)
        sr->after = sr->upto;
    ls_search_needle_init(&sr->needle, q.q, q.q_len); /* q was checked: cannot fail */
    return ls_req_respond_stream(r, MHD_HTTP_OK, "application/json", read_search, sr, run_free,
                                 false);
}

const ls_handler ls_search_handler = {.begin = search_begin};
