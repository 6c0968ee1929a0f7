#include "common/linesplit.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

struct ls_linesplit {
    size_t max_len;
    ls_linesplit_cb cb;
    ls_linesplit_hold_cb hold; /* NULL = cut anywhere */
    void *userdata;
    char *buf; /* max_len bytes: the pending partial line */
    size_t pending;
    bool open; /* the last piece delivered was continued: its line goes on */
};

/* Every piece goes out here, so that `open` follows what was delivered. */
static int deliver(ls_linesplit *s, const char *p, size_t n, bool continued)
{
    s->open = continued;
    return s->cb(s->userdata, p, n, continued);
}

ls_linesplit *ls_linesplit_new(size_t max_len, ls_linesplit_cb cb, void *userdata)
{
    if (max_len == 0 || !cb)
        return NULL;
    ls_linesplit *s = ls_xcalloc(1, sizeof(*s));
    s->max_len = max_len;
    s->cb = cb;
    s->userdata = userdata;
    s->buf = ls_xmalloc(max_len);
    return s;
}

void ls_linesplit_free(ls_linesplit *s)
{
    if (!s)
        return;
    free(s->buf);
    free(s);
}

void ls_linesplit_set_hold(ls_linesplit *s, ls_linesplit_hold_cb hold)
{
    s->hold = hold;
}

/* Bytes at the end of p[0, n) to keep for the next piece: at most n, and at
 * most n - 1 unless all may be kept. */
static size_t hold_back(const ls_linesplit *s, const char *p, size_t n, bool all_ok)
{
    size_t max = all_ok ? n : n - 1;
    size_t h = s->hold && n ? s->hold(s->userdata, p, n, max) : 0;
    return h > max ? max : h;
}

/* Delivers the first n - hold buffered bytes as a continued piece and moves
 * the held bytes to the front (the piece is consumed even when the callback
 * fails). */
static int cut_pending(ls_linesplit *s, bool all_ok)
{
    size_t keep = hold_back(s, s->buf, s->pending, all_ok);
    size_t n = s->pending - keep;
    if (n == 0)
        return 0;
    int r = deliver(s, s->buf, n, true);
    memmove(s->buf, s->buf + n, keep);
    s->pending = keep;
    return r;
}

size_t ls_linesplit_pending(const ls_linesplit *s)
{
    return s->pending;
}

/* Delivers the buffered bytes and empties the buffer (before the callback, so
 * that a failing line is consumed). */
static int emit_pending(ls_linesplit *s, bool continued)
{
    size_t n = s->pending;
    s->pending = 0;
    return deliver(s, s->buf, n, continued);
}

/* Completes the buffered partial line from data. Returns the bytes of data
 * consumed (via *used) and 0 or the callback's error. */
static int complete_pending(ls_linesplit *s, const char *data, size_t len, size_t *used)
{
    size_t room = s->max_len - s->pending;
    size_t scan = len < room + 1 ? len : room + 1;
    const char *nl = memchr(data, '\n', scan);
    if (nl) {
        size_t n = (size_t)(nl - data);
        memcpy(s->buf + s->pending, data, n);
        s->pending += n;
        *used = n + 1;
        return emit_pending(s, false);
    }
    if (len <= room) {
        memcpy(s->buf + s->pending, data, len);
        s->pending += len;
        *used = len;
        return 0;
    }
    /* The buffer fills up and the byte after it is not a newline. */
    memcpy(s->buf + s->pending, data, room);
    s->pending = s->max_len;
    *used = room;
    return cut_pending(s, false);
}

/* Delivers one complete line straight from the caller's memory, cut into
 * pieces of at most max_len bytes (less what the hold-back keeps). */
static int emit_line(ls_linesplit *s, const char *p, size_t n)
{
    while (n > s->max_len) {
        size_t piece = s->max_len - hold_back(s, p, s->max_len, false);
        int r = deliver(s, p, piece, true);
        if (r < 0)
            return r;
        p += piece;
        n -= piece;
    }
    return deliver(s, p, n, false);
}

/* Handles the bytes after the last newline: pieces longer than max_len are
 * followed by more non-newline bytes, so they are delivered as continued; the
 * rest waits in the buffer. */
static int keep_tail(ls_linesplit *s, const char *p, size_t n)
{
    while (n > s->max_len) {
        size_t piece = s->max_len - hold_back(s, p, s->max_len, false);
        int r = deliver(s, p, piece, true);
        p += piece;
        n -= piece;
        if (r < 0)
            return r;
    }
    memcpy(s->buf, p, n);
    s->pending = n;
    return 0;
}

int ls_linesplit_feed(ls_linesplit *s, const char *data, size_t len)
{
    int r = 0;
    while (len > 0) {
        if (s->pending > 0) {
            /* A cut of a full buffer may keep bytes pending: go round again. */
            size_t used = 0;
            r = complete_pending(s, data, len, &used);
            if (r < 0)
                goto out;
            data += used;
            len -= used;
            continue;
        }
        const char *nl = memchr(data, '\n', len);
        if (!nl) {
            r = keep_tail(s, data, len);
            goto out;
        }
        size_t n = (size_t)(nl - data);
        r = emit_line(s, data, n);
        if (r < 0)
            goto out;
        data += n + 1;
        len -= n + 1;
    }
out:
    return r;
}

int ls_linesplit_flush(ls_linesplit *s)
{
    if (s->pending == 0)
        return s->open ? deliver(s, "", 0, false) : 0;
    return emit_pending(s, false);
}

int ls_linesplit_send_partial(ls_linesplit *s)
{
    if (s->pending == 0)
        return 0;
    return cut_pending(s, true);
}
