#include "pluginhost/queue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/fileio.h"

void ls_ph_queue_init(ls_ph_queue *q, size_t max_pending)
{
    memset(q, 0, sizeof(*q));
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->ready, NULL);
    atomic_init(&q->discarded, false);
    atomic_init(&q->pending, 0);
    q->max_pending = max_pending ? max_pending : 1;
    q->block_size = q->max_pending < LS_PH_BLOCK_SIZE ? q->max_pending : LS_PH_BLOCK_SIZE;
    q->spill_fd = -1;
    atomic_init(&q->spill_credit, 0);
    atomic_init(&q->lost_records, 0);
    atomic_init(&q->lost_bytes, 0);
    atomic_init(&q->discarded_records, 0);
    atomic_init(&q->discarded_bytes, 0);
    atomic_init(&q->spill_failed, false);
}

void ls_ph_queue_spill_to(ls_ph_queue *q, const char *dir, size_t max_spill)
{
    free(q->spill_dir);
    q->spill_dir = dir && *dir && max_spill ? ls_xstrdup(dir) : NULL;
    q->max_spill = max_spill;
    atomic_store(&q->spill_credit, q->max_pending < max_spill ? q->max_pending : max_spill);
}

static void free_chain(ls_ph_block *b)
{
    while (b) {
        ls_ph_block *next = b->next;
        free(b);
        b = next;
    }
}

void ls_ph_queue_destroy(ls_ph_queue *q)
{
    free_chain(q->head);
    free(q->open);
    q->head = q->tail = q->open = NULL;
    if (q->spill_fd >= 0)
        close(q->spill_fd);
    free(q->spill_dir);
    pthread_cond_destroy(&q->ready);
    pthread_mutex_destroy(&q->lock);
}

size_t ls_ph_queue_pending(const ls_ph_queue *q)
{
    return atomic_load_explicit(&q->pending, memory_order_relaxed) + (q->open ? q->open->len : 0);
}

bool ls_ph_queue_is_discarded(const ls_ph_queue *q)
{
    return atomic_load_explicit(&q->discarded, memory_order_relaxed);
}

int ls_ph_queue_push(ls_ph_queue *q, uint32_t step, const char *text, size_t len)
{
    if (ls_ph_queue_is_discarded(q))
        return -ECANCELED;
    size_t need = len + LS_PH_RECORD_OVERHEAD;
    size_t pending = ls_ph_queue_pending(q);
    if (pending + need > q->max_pending) {
        /* beyond memory: only as far as the spill file may take it */
        bool can_spill =
            q->spill_dir && !atomic_load_explicit(&q->spill_failed, memory_order_relaxed);
        size_t credit = atomic_load_explicit(&q->spill_credit, memory_order_relaxed);
        size_t open = q->open ? q->open->len : 0;
        if (!can_spill || pending + need > q->max_pending + q->max_spill || open + need > credit)
            return -ENOBUFS;
    }
    if (q->open && q->open->cap - q->open->len < need)
        ls_ph_queue_publish(q);
    if (!q->open) {
        size_t cap = need > q->block_size ? need : q->block_size;
        q->open = ls_xmalloc(sizeof(ls_ph_block) + cap);
        q->open->next = NULL;
        q->open->len = 0;
        q->open->cap = cap;
        q->open->records = 0;
    }
    char *p = q->open->data + q->open->len;
    uint32_t len32 = (uint32_t)len;
    memcpy(p, &step, 4);
    memcpy(p + 4, &len32, 4);
    memcpy(p + 8, text, len);
    p[8 + len] = '\0';
    q->open->len += need;
    q->open->records++;
    return 0;
}

/* ---- the spill file (under lock) ---- */

/* What the file holds before each block's records. */
typedef struct spill_header {
    uint64_t len, records;
} spill_header;

/* Appends b to the file. Returns 0 or a negative errno. */
static int spill_write_locked(ls_ph_queue *q, const ls_ph_block *b)
{
    if (q->spill_fd < 0) {
        /* unlinked at once: nothing is left behind, whatever happens */
        q->spill_fd = ls_open_unlinked(q->spill_dir, "plugin-queue");
        if (q->spill_fd < 0)
            return q->spill_fd;
    }
    spill_header h = {b->len, b->records};
    int r = ls_pwrite_all(q->spill_fd, &h, sizeof(h), (off_t)q->spill_end);
    if (r == 0)
        r = ls_pwrite_all(q->spill_fd, b->data, b->len, (off_t)(q->spill_end + sizeof(h)));
    if (r < 0)
        return r;
    q->spill_end += sizeof(h) + b->len;
    q->file_records += b->records;
    q->file_bytes += b->len;
    return 0;
}

/* Every spilled block has been read back: blocks stay in memory again, and
 * the file is emptied. */
static void spill_end_locked(ls_ph_queue *q)
{
    q->spilling = false;
    q->spill_end = q->spill_read = 0;
    q->file_records = 0;
    q->file_bytes = 0;
    if (q->spill_fd >= 0)
        (void)!ftruncate(q->spill_fd, 0);
}

/* Drops what the file still holds, counting its lines in *records and its
 * bytes in *bytes. */
static void spill_drop_locked(ls_ph_queue *q, atomic_uint_fast64_t *records,
                              atomic_uint_fast64_t *bytes)
{
    atomic_fetch_sub_explicit(&q->pending, q->file_bytes, memory_order_relaxed);
    atomic_fetch_add(records, q->file_records);
    atomic_fetch_add(bytes, q->file_bytes);
    spill_end_locked(q);
}

/* Reads the block at off (no lock: the consumer alone reads the file, and a
 * block once written does not change). Returns NULL and sets *err on
 * failure; a short file (emptied by a discard meanwhile) is EIO. */
static ls_ph_block *spill_read_block(int fd, uint64_t off, int *err)
{
    spill_header h;
    ls_ph_block *b = NULL;
    ssize_t n = ls_pread_full(fd, &h, sizeof(h), (off_t)off);
    if (n == (ssize_t)sizeof(h) && h.len <= SIZE_MAX - sizeof(*b)) {
        b = ls_xmalloc(sizeof(*b) + h.len);
        *b = (ls_ph_block){.len = h.len, .cap = h.len, .records = h.records};
        n = ls_pread_full(fd, b->data, h.len, (off_t)(off + sizeof(h)));
        if (n == (ssize_t)h.len)
            return b;
    }
    *err = n < 0 ? (int)-n : EIO;
    free(b);
    return NULL;
}

bool ls_ph_queue_take_dropped(ls_ph_queue *q, uint64_t *ret_lines, uint64_t *ret_bytes)
{
    *ret_lines = q->dropped_records;
    *ret_bytes = q->dropped_bytes;
    q->dropped_records = q->dropped_bytes = 0;
    return *ret_lines > 0;
}

void ls_ph_queue_publish(ls_ph_queue *q)
{
    ls_ph_block *b = q->open;
    if (!b)
        return;
    q->open = NULL;
    pthread_mutex_lock(&q->lock);
    if (ls_ph_queue_is_discarded(q)) {
        pthread_mutex_unlock(&q->lock);
        free(b);
        return;
    }
    uint64_t dropped = 0;
    bool failed = atomic_load(&q->spill_failed);
    /* Once the file has failed, blocks that would follow what it still holds
     * are dropped until the consumer has read it: they cannot go before it. */
    bool to_file =
        q->spill_dir && (q->spilling || (!failed && q->in_memory + b->len > q->max_pending));
    if (to_file) {
        size_t credit = atomic_load(&q->spill_credit);
        if (failed || credit < b->len) {
            dropped = b->records;
        } else if (spill_write_locked(q, b) == 0) {
            q->spilling = true;
            atomic_store(&q->spill_credit, credit - b->len);
            atomic_fetch_add_explicit(&q->pending, b->len, memory_order_relaxed);
        } else {
            atomic_store(&q->spill_failed, true);
            dropped = b->records;
        }
        if (dropped) {
            q->dropped_records += dropped;
            q->dropped_bytes += b->len - b->records * LS_PH_RECORD_OVERHEAD;
        }
        free(b);
        b = NULL;
    }
    if (b) {
        atomic_fetch_add_explicit(&q->pending, b->len, memory_order_relaxed);
        q->in_memory += b->len;
        if (q->tail)
            q->tail->next = b;
        else
            q->head = b;
        q->tail = b;
    }
    if (q->consumer_waiting && !dropped)
        pthread_cond_signal(&q->ready);
    pthread_mutex_unlock(&q->lock);
}

void ls_ph_queue_close(ls_ph_queue *q)
{
    ls_ph_queue_publish(q);
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_signal(&q->ready);
    pthread_mutex_unlock(&q->lock);
}

size_t ls_ph_queue_discard(ls_ph_queue *q)
{
    size_t bytes = 0;
    uint64_t records = 0;
    pthread_mutex_lock(&q->lock);
    atomic_store(&q->discarded, true);
    ls_ph_block *chain = q->head;
    q->head = q->tail = NULL;
    for (ls_ph_block *b = chain; b; b = b->next) {
        bytes += b->len;
        records += b->records;
    }
    atomic_fetch_sub_explicit(&q->pending, bytes, memory_order_relaxed);
    atomic_fetch_add(&q->discarded_records, records);
    atomic_fetch_add(&q->discarded_bytes, bytes);
    q->in_memory = 0;
    bytes += q->file_bytes;
    spill_drop_locked(q, &q->discarded_records, &q->discarded_bytes);
    pthread_cond_signal(&q->ready);
    pthread_mutex_unlock(&q->lock);
    free_chain(chain);
    return bytes;
}

/* The consumer took len bytes: the file may take LS_PH_SPILL_CREDIT times as many. */
static void earn_credit_locked(ls_ph_queue *q, size_t len)
{
    if (!q->spill_dir)
        return;
    size_t credit = atomic_load(&q->spill_credit);
    size_t room = q->max_spill - credit;
    atomic_store(&q->spill_credit, len <= room / LS_PH_SPILL_CREDIT
                                       ? credit + len * LS_PH_SPILL_CREDIT
                                       : q->max_spill);
}

/* Blocks in memory come first: while the queue spills, none is added there. */
ls_ph_block *ls_ph_queue_pop(ls_ph_queue *q)
{
    ls_ph_block *b = NULL;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!q->head && !q->file_bytes && !q->closed && !ls_ph_queue_is_discarded(q)) {
            q->consumer_waiting = true;
            pthread_cond_wait(&q->ready, &q->lock);
            q->consumer_waiting = false;
        }
        if (ls_ph_queue_is_discarded(q))
            break;
        if (q->head) {
            b = q->head;
            q->head = b->next;
            if (!q->head)
                q->tail = NULL;
            b->next = NULL;
            q->in_memory -= b->len;
            earn_credit_locked(q, b->len);
            break;
        }
        if (!q->file_bytes)
            break; /* closed and empty */
        uint64_t off = q->spill_read;
        int fd = q->spill_fd, err = 0;
        pthread_mutex_unlock(&q->lock);
        b = spill_read_block(fd, off, &err);
        pthread_mutex_lock(&q->lock);
        if (ls_ph_queue_is_discarded(q)) {
            free(b);
            b = NULL;
            break;
        }
        if (!b) {
            /* the rest of the file is lost; the plugin goes on with what
             * comes next */
            atomic_store(&q->spill_failed, true);
            spill_drop_locked(q, &q->lost_records, &q->lost_bytes);
            continue;
        }
        q->spill_read += sizeof(spill_header) + b->len;
        q->file_records -= b->records;
        q->file_bytes -= b->len;
        earn_credit_locked(q, b->len);
        if (q->spill_read == q->spill_end) {
            spill_end_locked(q);
        } else {
            /* give the disk space back as the file is read */
            (void)fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                            (off_t)(sizeof(spill_header) + b->len));
        }
        break;
    }
    pthread_mutex_unlock(&q->lock);
    return b;
}

void ls_ph_queue_done(ls_ph_queue *q, ls_ph_block *b)
{
    if (!b)
        return;
    atomic_fetch_sub_explicit(&q->pending, b->len, memory_order_relaxed);
    free(b);
}

bool ls_ph_block_next(const ls_ph_block *b, size_t *off, uint32_t *ret_step, const char **ret_text,
                      size_t *ret_len)
{
    if (*off + LS_PH_RECORD_OVERHEAD > b->len)
        return false;
    const char *p = b->data + *off;
    uint32_t len32;
    memcpy(ret_step, p, 4);
    memcpy(&len32, p + 4, 4);
    *ret_text = p + 8;
    *ret_len = len32;
    *off += len32 + LS_PH_RECORD_OVERHEAD;
    return true;
}
