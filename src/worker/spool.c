#include "worker/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/fileio.h"
#include "common/record.h"

#define DEFAULT_WRITE_BUFFER (128u * 1024u)
#define DEFAULT_TAIL_BYTES (1024u * 1024u)
#define DEFAULT_INDEX_EVERY 1024u
#define DEFAULT_INDEX_BYTES (1024u * 1024u)
#define READ_CHUNK (64u * 1024u)
/* Room for the record header around a line's text: seq, ts, stream, tabs. */
#define RECORD_OVERHEAD 64u
/* Writes kept in memory at most (however small they are). */
#define TAIL_MAX_CHUNKS 64u
/* Empty write buffers kept for reuse. */
#define POOL_MAX 2u

typedef struct index_entry {
    uint64_t seq;
    off_t offset;
} index_entry;

/* One write's records, kept in memory after the write. */
typedef struct tail_chunk {
    off_t off; /* file offset of data.data[0] */
    uint64_t last_seq;
    ls_buf data;
} tail_chunk;

/* Lock order: io_lock, then lock. The appender takes lock for every append
 * (or one run of appends: ls_spool_hold; nothing under it does I/O) and
 * io_lock only when it writes itself, at max_pending. */
struct ls_spool {
    pthread_mutex_t lock;
    pthread_mutex_t io_lock;
    char *path;
    int fd; /* written under both locks */
    size_t max_line;
    size_t write_buffer;
    size_t max_pending;
    size_t tail_bytes;
    size_t buf_size; /* capacity of a write buffer: max_pending + one record */
    uint64_t index_every;
    uint64_t index_bytes;

    /* Under lock. */
    ls_buf pending;     /* records appended, not written; they start at pending_off */
    off_t pending_off;  /* = file_end + bytes being written right now */
    uint64_t last_seq;  /* last appended */
    uint64_t bytes;     /* text bytes of lines 1..last_seq */
    bool held;          /* the appender holds lock across appends (ls_spool_hold); its own */
    index_entry *index; /* index[0] = {1, 0}; ascending */
    size_t n_index;
    size_t cap_index;
    ls_spool_stats stats;

    /* Written under both locks, read under either. */
    off_t file_end;       /* bytes in the file */
    uint64_t written_seq; /* last seq in the file */

    /* Under io_lock. */
    tail_chunk tail[TAIL_MAX_CHUNKS]; /* ring, oldest at tail_head */
    size_t tail_head;
    size_t tail_n;
    size_t tail_cap;       /* sum of the chunks' buffer capacities */
    ls_buf pool[POOL_MAX]; /* empty buffers to become the next pending buffer */
    size_t n_pool;
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

/* Counts the newlines in p[0..n). */
static uint64_t count_records(const char *p, size_t n)
{
    uint64_t count = 0;
    const char *end = p + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        count++;
        p = nl + 1;
    }
    return count;
}

/* ---- write buffers and the in-memory tail (io_lock) ---- */

/* Write buffers are allocated at their full size once and reused, so a long
 * log costs no allocations (and no realloc growth) per write. */
static ls_buf buf_get(ls_spool *s)
{
    if (s->n_pool > 0)
        return s->pool[--s->n_pool];
    ls_buf b = LS_BUF_INIT;
    ls_buf_reserve(&b, s->buf_size);
    return b;
}

static void buf_put(ls_spool *s, ls_buf *b)
{
    if (b->data && s->n_pool < POOL_MAX && b->cap <= 2 * s->buf_size) {
        ls_buf_reset(b);
        s->pool[s->n_pool++] = *b;
    } else {
        ls_buf_free(b);
    }
    *b = (ls_buf)LS_BUF_INIT;
}

static tail_chunk *tail_at(ls_spool *s, size_t i)
{
    return &s->tail[(s->tail_head + i) % TAIL_MAX_CHUNKS];
}

static void tail_drop_oldest(ls_spool *s)
{
    tail_chunk *c = tail_at(s, 0);
    s->tail_cap -= c->data.cap;
    buf_put(s, &c->data);
    s->tail_head = (s->tail_head + 1) % TAIL_MAX_CHUNKS;
    s->tail_n--;
}

static void tail_push(ls_spool *s, ls_buf *data, off_t off, uint64_t last_seq)
{
    if (s->tail_n == TAIL_MAX_CHUNKS)
        tail_drop_oldest(s);
    tail_chunk *c = tail_at(s, s->tail_n);
    *c = (tail_chunk){.off = off, .last_seq = last_seq, .data = *data};
    *data = (ls_buf)LS_BUF_INIT;
    s->tail_n++;
    s->tail_cap += c->data.cap;
    /* Always keep the newest chunk: a reader that keeps up reads it next. */
    while (s->tail_n > 1 && s->tail_cap > s->tail_bytes)
        tail_drop_oldest(s);
}

static void tail_clear(ls_spool *s)
{
    while (s->tail_n > 0)
        tail_drop_oldest(s);
    while (s->n_pool > 0)
        ls_buf_free(&s->pool[--s->n_pool]);
}

/* ---- writing (io_lock held) ---- */

/* Writes the pending records. The lock is held only to take the pending
 * buffer and to publish the result; the write itself runs under io_lock
 * alone, so the appender goes on appending meanwhile. */
static int flush_io_locked(ls_spool *s, bool by_appender)
{
    pthread_mutex_lock(&s->lock);
    bool empty = s->fd < 0 || s->pending.len == 0;
    int r = s->fd < 0 ? -EBADF : 0;
    pthread_mutex_unlock(&s->lock);
    if (empty)
        return r;
    ls_buf fresh = buf_get(s); /* outside the lock: it may allocate */
    pthread_mutex_lock(&s->lock);
    ls_buf chunk = s->pending;
    s->pending = fresh;
    off_t off = s->pending_off;
    uint64_t last = s->last_seq;
    s->pending_off += (off_t)chunk.len;
    int fd = s->fd;
    pthread_mutex_unlock(&s->lock);

    r = ls_pwrite_all(fd, chunk.data, chunk.len, off);

    pthread_mutex_lock(&s->lock);
    if (r < 0) {
        /* Put the records back in front of those appended meanwhile. */
        ls_buf later = s->pending;
        if (later.len)
            ls_buf_append(&chunk, later.data, later.len);
        s->pending = chunk;
        s->pending_off = off;
        pthread_mutex_unlock(&s->lock);
        buf_put(s, &later);
        return r;
    }
    s->file_end = off + (off_t)chunk.len;
    s->written_seq = last;
    s->stats.writes++;
    if (by_appender)
        s->stats.appender_writes++;
    pthread_mutex_unlock(&s->lock);
    tail_push(s, &chunk, off, last);
    return 0;
}

/* ---- opening and closing ---- */

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
    /* Cut a torn last record only when there is one: on ext4, truncating a
     * file to size 0 (as for a new, empty spool) makes its close start
     * writing back every page written since (auto_da_alloc), so a confirmed
     * spool would be written to disk, and its close and unlink would take
     * tens of ms, instead of its page cache simply being dropped. */
    if (chunk.len > 0 && ftruncate(s->fd, off) < 0) {
        r = -errno;
        goto out;
    }
    s->file_end = off;
    s->pending_off = off;
    s->written_seq = s->last_seq;
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
    pthread_mutex_init(&s->io_lock, NULL);
    s->path = ls_xstrdup(path);
    s->max_line = o.max_line ? o.max_line : LS_DEFAULT_MAX_LINE;
    s->write_buffer = o.write_buffer ? o.write_buffer : DEFAULT_WRITE_BUFFER;
    s->max_pending = o.max_pending ? o.max_pending : 8 * s->write_buffer;
    if (s->max_pending < s->write_buffer)
        s->max_pending = s->write_buffer;
    s->buf_size = s->max_pending + s->max_line + RECORD_OVERHEAD;
    s->tail_bytes = o.tail_bytes ? o.tail_bytes : DEFAULT_TAIL_BYTES;
    s->index_every = o.index_every ? o.index_every : DEFAULT_INDEX_EVERY;
    s->index_bytes = o.index_bytes ? o.index_bytes : DEFAULT_INDEX_BYTES;
    s->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->fd < 0) {
        r = -errno;
        goto out;
    }
    r = scan_existing(s);
    if (r == 0)
        s->pending = buf_get(s);
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
    pthread_mutex_lock(&s->io_lock);
    if (s->fd >= 0) {
        flush_io_locked(s, false);
        close(s->fd);
        s->fd = -1;
    }
    tail_clear(s);
    pthread_mutex_unlock(&s->io_lock);
    pthread_mutex_destroy(&s->io_lock);
    pthread_mutex_destroy(&s->lock);
    ls_buf_free(&s->pending);
    free(s->index);
    free(s->path);
    free(s);
}

int ls_spool_close_file(ls_spool *s)
{
    int r = 0;
    pthread_mutex_lock(&s->io_lock);
    pthread_mutex_lock(&s->lock);
    if (s->fd >= 0 && close(s->fd) < 0)
        r = -errno;
    s->fd = -1;
    ls_buf_free(&s->pending);
    pthread_mutex_unlock(&s->lock);
    tail_clear(s);
    pthread_mutex_unlock(&s->io_lock);
    return r;
}

int ls_spool_remove(ls_spool *s)
{
    ls_spool_close_file(s);
    if (unlink(s->path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

/* ---- appending ---- */

/* max_pending bytes are pending: the appender writes them itself, waiting
 * for a write under way. Returns 0 or the write's negative errno. */
static int appender_flush(ls_spool *s)
{
    pthread_mutex_lock(&s->io_lock);
    int r = flush_io_locked(s, true);
    pthread_mutex_unlock(&s->io_lock);
    return r;
}

void ls_spool_hold(ls_spool *s)
{
    pthread_mutex_lock(&s->lock);
    s->held = true;
}

void ls_spool_release(ls_spool *s)
{
    s->held = false;
    pthread_mutex_unlock(&s->lock);
}

int ls_spool_append(ls_spool *s, const ls_line *line)
{
    int r = 0;
    bool own_lock = !s->held;
    if (own_lock)
        pthread_mutex_lock(&s->lock);
    if (s->fd < 0) {
        r = -EBADF;
        goto out;
    }
    if (line->seq != s->last_seq + 1 || line->stream == LS_STREAM_HEARTBEAT) {
        r = -EINVAL;
        goto out;
    }
    if (s->pending.len >= s->max_pending) {
        pthread_mutex_unlock(&s->lock);
        r = appender_flush(s);
        pthread_mutex_lock(&s->lock);
        if (r < 0)
            goto out;
        if (s->fd < 0) {
            r = -EBADF;
            goto out;
        }
    }
    index_maybe_add(s, line->seq, s->pending_off + (off_t)s->pending.len);
    ls_record_format(&s->pending, line);
    s->last_seq = line->seq;
    s->bytes += line->len;
out:
    if (own_lock)
        pthread_mutex_unlock(&s->lock);
    return r;
}

int ls_spool_flush(ls_spool *s)
{
    pthread_mutex_lock(&s->io_lock);
    int r = flush_io_locked(s, false);
    pthread_mutex_unlock(&s->io_lock);
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

/* ---- reading ---- */

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
    index_entry from;
    int fd;
    /* Write what is pending, so every seq up to the last is in the file. */
    pthread_mutex_lock(&s->io_lock);
    for (;;) {
        r = flush_io_locked(s, false);
        if (r < 0) {
            pthread_mutex_unlock(&s->io_lock);
            goto out;
        }
        pthread_mutex_lock(&s->lock);
        if (seq < 1 || seq > s->last_seq + 1) {
            r = -ERANGE;
            pthread_mutex_unlock(&s->lock);
            pthread_mutex_unlock(&s->io_lock);
            goto out;
        }
        if (seq <= s->written_seq + 1)
            break;
        pthread_mutex_unlock(&s->lock); /* appended meanwhile: write again */
    }
    pthread_mutex_unlock(&s->io_lock);
    if (seq == s->written_seq + 1) {
        *ret_cursor = (ls_spool_cursor){seq, s->file_end};
        pthread_mutex_unlock(&s->lock);
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
    from = s->index[lo];
    fd = s->fd;
    pthread_mutex_unlock(&s->lock);

    /* The written part of the file never changes: scan it without a lock. */
    uint64_t at = from.seq;
    off_t off = from.offset;
    while (at < seq) {
        ls_buf_reset(&chunk);
        ssize_t n = read_at(fd, off, READ_CHUNK, &chunk);
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
    ls_buf_free(&chunk);
    return r;
}

/* Copies whole records from the in-memory tail (io_lock held; the cursor is
 * inside it). Returns the number of records copied. */
static uint64_t read_tail(ls_spool *s, ls_spool_cursor *cursor, size_t max_bytes, ls_buf *out)
{
    size_t i = s->tail_n;
    while (i > 0 && tail_at(s, i - 1)->off > cursor->offset)
        i--;
    uint64_t count = 0;
    size_t copied = 0;
    for (i = i - 1; i < s->tail_n; i++) {
        const tail_chunk *c = tail_at(s, i);
        size_t pos = (size_t)(cursor->offset - c->off);
        if (pos >= c->data.len)
            continue;
        const char *p = c->data.data + pos;
        size_t avail = c->data.len - pos;
        size_t room = max_bytes > copied ? max_bytes - copied : 0;
        if (avail <= room) {
            /* The rest of the chunk: its last seq gives the count. */
            ls_buf_append(out, p, avail);
            uint64_t n = c->last_seq + 1 - cursor->next_seq;
            count += n;
            cursor->next_seq += n;
            cursor->offset += (off_t)avail;
            copied += avail;
            continue;
        }
        /* Whole records up to room; at least one when nothing is copied yet. */
        const char *nl = room ? memrchr(p, '\n', room) : NULL;
        if (!nl && copied == 0)
            nl = memchr(p, '\n', avail);
        if (nl) {
            size_t keep = (size_t)(nl - p) + 1;
            ls_buf_append(out, p, keep);
            uint64_t n = count_records(p, keep);
            count += n;
            cursor->next_seq += n;
            cursor->offset += (off_t)keep;
        }
        break;
    }
    return count;
}

/* Reads whole records from the file at the cursor, below end (no lock held:
 * the written part of the file never changes). */
static int read_file(int fd, off_t end, ls_spool_cursor *cursor, size_t max_bytes, ls_buf *out,
                     uint64_t *ret_count)
{
    size_t start = out->len;
    off_t off = cursor->offset;
    size_t want = max_bytes ? max_bytes : 1;
    uint64_t count = 0;
    for (;;) {
        off_t avail = end - off;
        if (avail <= 0)
            break;
        size_t n = (size_t)avail < want ? (size_t)avail : want;
        ssize_t got = read_at(fd, off, n, out);
        if (got < 0) {
            out->len = start;
            if (out->data)
                out->data[out->len] = '\0';
            return (int)got;
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
            count = count_records(base, keep);
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
    *ret_count = count;
    return 0;
}

int ls_spool_read(ls_spool *s, ls_spool_cursor *cursor, size_t max_bytes, ls_buf *out,
                  uint64_t *ret_count)
{
    int r = 0;
    uint64_t count = 0;
    pthread_mutex_lock(&s->io_lock);
    pthread_mutex_lock(&s->lock);
    bool batch_due = s->pending.len >= s->write_buffer;
    pthread_mutex_unlock(&s->lock);
    if (batch_due || cursor->offset >= s->file_end) {
        /* A batch is due, or caught up: write what is pending (then send it). */
        r = flush_io_locked(s, false);
        if (r < 0 && r != -EBADF) {
            pthread_mutex_unlock(&s->io_lock);
            return r;
        }
        r = 0;
    }
    if (cursor->offset >= s->file_end) {
        pthread_mutex_unlock(&s->io_lock);
        goto out;
    }
    if (s->tail_n > 0 && cursor->offset >= tail_at(s, 0)->off) {
        size_t before = out->len;
        count = read_tail(s, cursor, max_bytes, out);
        pthread_mutex_lock(&s->lock);
        s->stats.bytes_from_memory += out->len - before;
        pthread_mutex_unlock(&s->lock);
        pthread_mutex_unlock(&s->io_lock);
        goto out;
    }
    off_t end = s->file_end;
    int fd = s->fd;
    pthread_mutex_unlock(&s->io_lock);
    if (fd < 0)
        return -EBADF;
    size_t before = out->len;
    r = read_file(fd, end, cursor, max_bytes, out, &count);
    if (r < 0)
        return r;
    pthread_mutex_lock(&s->lock);
    s->stats.bytes_from_file += out->len - before;
    pthread_mutex_unlock(&s->lock);
out:
    *ret_count = count;
    return 0;
}

size_t ls_spool_index_entries(ls_spool *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->n_index;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void ls_spool_get_stats(ls_spool *s, ls_spool_stats *ret)
{
    pthread_mutex_lock(&s->lock);
    *ret = s->stats;
    pthread_mutex_unlock(&s->lock);
}

const char *ls_spool_path(const ls_spool *s)
{
    return s->path;
}
