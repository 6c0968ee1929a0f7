#include "worker/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/record.h"

#define DEFAULT_WRITE_BUFFER (64u * 1024u)
#define DEFAULT_INDEX_EVERY 1024u
#define DEFAULT_INDEX_BYTES (1024u * 1024u)
#define READ_CHUNK (64u * 1024u)
/* Room for the record header around a line's text: seq, ts, stream, tabs. */
#define RECORD_OVERHEAD 64u

typedef struct index_entry {
    uint64_t seq;
    off_t offset;
} index_entry;

struct ls_spool {
    pthread_mutex_t lock;
    char *path;
    int fd;
    size_t max_line;
    size_t write_buffer;
    uint64_t index_every;
    uint64_t index_bytes;

    ls_buf wbuf;    /* records not yet written; they start at file_end */
    off_t file_end; /* bytes in the file */
    uint64_t last_seq;
    uint64_t bytes; /* text bytes of lines 1..last_seq */

    index_entry *index; /* index[0] = {1, 0}; ascending */
    size_t n_index;
    size_t cap_index;
};

static void index_add(ls_spool *s, uint64_t seq, off_t offset)
{
    if (s->n_index == s->cap_index) {
        s->cap_index = s->cap_index ? s->cap_index * 2 : 16;
        s->index = ls_xreallocarray(s->index, s->cap_index, sizeof(*s->index));
    }
    s->index[s->n_index++] = (index_entry){seq, offset};
}

/* Adds an index entry for a record about to be written at offset when enough
 * records or bytes have passed since the last entry. */
static void index_maybe_add(ls_spool *s, uint64_t seq, off_t offset)
{
    if (s->n_index == 0) {
        index_add(s, seq, offset);
        return;
    }
    const index_entry *last = &s->index[s->n_index - 1];
    if (seq - last->seq >= s->index_every || (uint64_t)(offset - last->offset) >= s->index_bytes)
        index_add(s, seq, offset);
}

static int write_all(int fd, const char *p, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

static int flush_locked(ls_spool *s)
{
    if (s->wbuf.len == 0)
        return 0;
    int r = write_all(s->fd, s->wbuf.data, s->wbuf.len, s->file_end);
    if (r < 0)
        return r;
    s->file_end += (off_t)s->wbuf.len;
    ls_buf_reset(&s->wbuf);
    return 0;
}

/* Reads up to n bytes at off into out (appending); returns bytes read or -errno. */
static ssize_t read_at(int fd, off_t off, size_t n, ls_buf *out)
{
    char *dst = ls_buf_reserve(out, n);
    for (;;) {
        ssize_t r = pread(fd, dst, n, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        out->len += (size_t)r;
        out->data[out->len] = '\0';
        return r;
    }
}

/* Scans an existing file: checks every record, rebuilds the index and the
 * counters, and cuts a torn last record. */
static int scan_existing(ls_spool *s)
{
    ls_buf chunk = LS_BUF_INIT;
    off_t off = 0;
    int r = 0;
    for (;;) {
        ssize_t n = read_at(s->fd, off + (off_t)chunk.len, READ_CHUNK, &chunk);
        if (n < 0) {
            r = (int)n;
            goto out;
        }
        size_t pos = 0;
        for (;;) {
            char *nl = memchr(chunk.data + pos, '\n', chunk.len - pos);
            if (!nl)
                break;
            size_t len = (size_t)(nl - (chunk.data + pos));
            ls_line line;
            const char *err;
            if (ls_record_parse(chunk.data + pos, len, s->max_line, &line, &err) < 0 ||
                line.seq != s->last_seq + 1) {
                r = -EBADMSG;
                goto out;
            }
            index_maybe_add(s, line.seq, off + (off_t)pos);
            s->last_seq = line.seq;
            s->bytes += line.len;
            pos += len + 1;
        }
        off += (off_t)pos;
        ls_buf_consume(&chunk, pos);
        if (n == 0)
            break;
        if (chunk.len > s->max_line + RECORD_OVERHEAD) {
            r = -EBADMSG;
            goto out;
        }
    }
    if (ftruncate(s->fd, off) < 0) {
        r = -errno;
        goto out;
    }
    s->file_end = off;
out:
    ls_buf_free(&chunk);
    return r;
}

int ls_spool_open(const char *path, const ls_spool_options *opts, ls_spool **ret)
{
    ls_spool_options o = opts ? *opts : (ls_spool_options){0};
    ls_spool *s = ls_xcalloc(1, sizeof(*s));
    int r;
    pthread_mutex_init(&s->lock, NULL);
    s->path = ls_xstrdup(path);
    s->max_line = o.max_line ? o.max_line : LS_DEFAULT_MAX_LINE;
    s->write_buffer = o.write_buffer ? o.write_buffer : DEFAULT_WRITE_BUFFER;
    s->index_every = o.index_every ? o.index_every : DEFAULT_INDEX_EVERY;
    s->index_bytes = o.index_bytes ? o.index_bytes : DEFAULT_INDEX_BYTES;
    s->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->fd < 0) {
        r = -errno;
        goto out;
    }
    r = scan_existing(s);
out:
    if (r < 0) {
        ls_spool_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

void ls_spool_free(ls_spool *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    if (s->fd >= 0) {
        flush_locked(s);
        close(s->fd);
    }
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_destroy(&s->lock);
    ls_buf_free(&s->wbuf);
    free(s->index);
    free(s->path);
    free(s);
}

int ls_spool_append(ls_spool *s, const ls_line *line)
{
    int r = 0;
    pthread_mutex_lock(&s->lock);
    if (s->fd < 0) {
        r = -EBADF;
        goto out;
    }
    if (line->seq != s->last_seq + 1 || line->stream == LS_STREAM_HEARTBEAT) {
        r = -EINVAL;
        goto out;
    }
    size_t before = s->wbuf.len;
    index_maybe_add(s, line->seq, s->file_end + (off_t)before);
    ls_record_format(&s->wbuf, line);
    if (s->wbuf.len >= s->write_buffer) {
        r = flush_locked(s);
        if (r < 0) {
            s->wbuf.len = before;
            if (s->index[s->n_index - 1].seq == line->seq)
                s->n_index--;
            goto out;
        }
    }
    s->last_seq = line->seq;
    s->bytes += line->len;
out:
    pthread_mutex_unlock(&s->lock);
    return r;
}

int ls_spool_flush(ls_spool *s)
{
    pthread_mutex_lock(&s->lock);
    int r = s->fd < 0 ? -EBADF : flush_locked(s);
    pthread_mutex_unlock(&s->lock);
    return r;
}

uint64_t ls_spool_last_seq(ls_spool *s)
{
    pthread_mutex_lock(&s->lock);
    uint64_t v = s->last_seq;
    pthread_mutex_unlock(&s->lock);
    return v;
}

uint64_t ls_spool_bytes(ls_spool *s)
{
    pthread_mutex_lock(&s->lock);
    uint64_t v = s->bytes;
    pthread_mutex_unlock(&s->lock);
    return v;
}

/* Counts newlines in p[0..n) up to want of them; returns the offset just after
 * the last counted newline and the count. */
static size_t skip_records(const char *p, size_t n, uint64_t want, uint64_t *ret_count)
{
    size_t pos = 0;
    uint64_t count = 0;
    while (count < want) {
        const char *nl = memchr(p + pos, '\n', n - pos);
        if (!nl)
            break;
        pos = (size_t)(nl - p) + 1;
        count++;
    }
    *ret_count = count;
    return pos;
}

int ls_spool_seek(ls_spool *s, uint64_t seq, ls_spool_cursor *ret_cursor)
{
    int r = 0;
    ls_buf chunk = LS_BUF_INIT;
    pthread_mutex_lock(&s->lock);
    if (seq < 1 || seq > s->last_seq + 1) {
        r = -ERANGE;
        goto out;
    }
    r = flush_locked(s);
    if (r < 0)
        goto out;
    if (seq == s->last_seq + 1) {
        *ret_cursor = (ls_spool_cursor){seq, s->file_end};
        goto out;
    }
    /* Largest index entry with entry.seq <= seq (index[0].seq == 1). */
    size_t lo = 0, hi = s->n_index;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->index[mid].seq <= seq)
            lo = mid;
        else
            hi = mid;
    }
    uint64_t at = s->index[lo].seq;
    off_t off = s->index[lo].offset;
    while (at < seq) {
        ls_buf_reset(&chunk);
        ssize_t n = read_at(s->fd, off, READ_CHUNK, &chunk);
        if (n <= 0) {
            r = n < 0 ? (int)n : -EIO;
            goto out;
        }
        uint64_t count;
        size_t pos = skip_records(chunk.data, chunk.len, seq - at, &count);
        if (count == 0) {
            /* A record longer than the chunk: skip the chunk and keep counting. */
            off += (off_t)chunk.len;
            continue;
        }
        at += count;
        off += (off_t)pos;
    }
    *ret_cursor = (ls_spool_cursor){seq, off};
out:
    pthread_mutex_unlock(&s->lock);
    ls_buf_free(&chunk);
    return r;
}

int ls_spool_read(ls_spool *s, ls_spool_cursor *cursor, size_t max_bytes, ls_buf *out,
                  uint64_t *ret_count)
{
    int r = 0;
    uint64_t count = 0;
    pthread_mutex_lock(&s->lock);
    r = flush_locked(s);
    if (r < 0)
        goto out;
    size_t start = out->len;
    off_t off = cursor->offset;
    size_t want = max_bytes ? max_bytes : 1;
    for (;;) {
        off_t avail = s->file_end - off;
        if (avail <= 0)
            break;
        size_t n = (size_t)avail < want ? (size_t)avail : want;
        ssize_t got = read_at(s->fd, off, n, out);
        if (got < 0) {
            r = (int)got;
            out->len = start;
            goto out;
        }
        if (got == 0)
            break;
        off += got;
        /* Keep whole records only; past max_bytes, stop at the first end. */
        char *base = out->data + start;
        size_t len = out->len - start;
        char *last_nl = len > max_bytes ? memchr(base, '\n', len) : memrchr(base, '\n', len);
        if (last_nl) {
            size_t keep = (size_t)(last_nl - base) + 1;
            out->len = start + keep;
            out->data[out->len] = '\0';
            for (const char *p = base; p < base + keep; p++)
                count += *p == '\n';
            cursor->offset += (off_t)keep;
            break;
        }
        /* One record longer than max_bytes: read on until its end. */
        want = READ_CHUNK;
    }
    if (count == 0)
        out->len = start;
    if (out->data)
        out->data[out->len] = '\0';
    cursor->next_seq += count;
out:
    pthread_mutex_unlock(&s->lock);
    if (r == 0)
        *ret_count = count;
    return r;
}

size_t ls_spool_index_entries(ls_spool *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->n_index;
    pthread_mutex_unlock(&s->lock);
    return n;
}

const char *ls_spool_path(const ls_spool *s)
{
    return s->path;
}

int ls_spool_remove(ls_spool *s)
{
    pthread_mutex_lock(&s->lock);
    int r = 0;
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    ls_buf_reset(&s->wbuf);
    if (unlink(s->path) < 0 && errno != ENOENT)
        r = -errno;
    pthread_mutex_unlock(&s->lock);
    return r;
}
