/* A plugin's line queue: one producer (the thread reading stdin), one
 * consumer (the plugin's thread), bounded and accounted in bytes.
 *
 * The producer appends lines to an open block without locking and hands the
 * block over with ls_ph_queue_publish (once per read from stdin, or when the
 * block is full), so the per-line cost is a copy, and a lock is taken once
 * per block. The producer never waits: a line that would take the queue over
 * its limit is refused and the caller counts it as dropped.
 *
 * With a spill file (ls_ph_queue_spill_to), the limit is max_pending bytes
 * in memory plus max_spill bytes on disk: once max_pending bytes are queued,
 * published blocks are appended to an unlinked file, and the consumer reads
 * them back in order after the blocks in memory; when it has read the file
 * to its end, blocks stay in memory again. A plugin that falls behind in a
 * burst gets every line later instead of losing them.
 *
 * The file only takes what a plugin that makes progress will read: its
 * credit starts at max_pending bytes and grows by LS_PH_SPILL_CREDIT bytes
 * for each byte the consumer takes (up to max_spill); a block spilled uses
 * its length, and a block beyond the credit is dropped. A plugin stuck in
 * its own code thus costs the reading thread no more than that in writes,
 * while a slow one (niced, on a busy machine) can fall far behind. */
#ifndef LS_PLUGINHOST_QUEUE_H
#define LS_PLUGINHOST_QUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes a queued line costs besides its text: step index, length, NUL. */
#define LS_PH_RECORD_OVERHEAD 9u
/* Bytes of spill credit earned per byte the consumer takes. */
#define LS_PH_SPILL_CREDIT 64u
/* Default capacity of one block. */
#define LS_PH_BLOCK_SIZE (64u * 1024u)

typedef struct ls_ph_block {
    struct ls_ph_block *next;
    size_t len; /* bytes of records */
    size_t cap;
    uint64_t records; /* lines in it */
    char data[];
} ls_ph_block;

typedef struct ls_ph_queue {
    pthread_mutex_t lock;
    pthread_cond_t ready; /* signalled when a block arrives or the queue ends */
    ls_ph_block *head, *tail;
    bool consumer_waiting;
    bool closed;           /* no more blocks will come: drain, then stop */
    atomic_bool discarded; /* dropped: the consumer stops at once */
    atomic_size_t pending; /* bytes published and not yet consumed */
    size_t max_pending;
    size_t block_size;
    ls_ph_block *open;        /* producer only */
    uint64_t dropped_records; /* producer only: dropped by publish, not yet taken */
    uint64_t dropped_bytes;

    /* Spilling, under lock (spill_dir and max_spill are set before the first push). */
    char *spill_dir; /* NULL: no spill file */
    size_t max_spill;
    atomic_bool spill_failed;   /* the file could not be written or read: no more spilling */
    bool spilling;              /* blocks published go to the file */
    int spill_fd;               /* -1 until the first spilled block */
    uint64_t spill_end;         /* bytes in the file */
    uint64_t spill_read;        /* bytes of it read back */
    uint64_t file_records;      /* lines in the file not yet read back */
    size_t file_bytes;          /* their bytes (block lengths, as counted in pending) */
    size_t in_memory;           /* bytes of published blocks in memory, not yet popped */
    atomic_size_t spill_credit; /* bytes the file may still take (written under lock) */
    /* Lines (and their bytes) lost when the file could not be read back,
     * and those thrown away by ls_ph_queue_discard. */
    atomic_uint_fast64_t lost_records, lost_bytes;
    atomic_uint_fast64_t discarded_records, discarded_bytes;
} ls_ph_queue;

/* Initialises an empty queue holding at most max_pending bytes (max_pending >= 1). */
void ls_ph_queue_init(ls_ph_queue *q, size_t max_pending);
/* Lets the queue spill up to max_spill bytes into an unlinked file created
 * in dir (see above). Call before the first push. */
void ls_ph_queue_spill_to(ls_ph_queue *q, const char *dir, size_t max_spill);
/* Frees every block; the queue must have no users left. */
void ls_ph_queue_destroy(ls_ph_queue *q);

/* Producer: appends one line for step index `step`. Returns 0, -ENOBUFS when
 * the line does not fit under the limit (the queue is unchanged), or
 * -ECANCELED when the queue was discarded. */
int ls_ph_queue_push(ls_ph_queue *q, uint32_t step, const char *text, size_t len);
/* Producer: hands the open block (if any) to the consumer. A block beyond
 * the spill credit, or one the spill file could not take (no later block is
 * spilled then), is dropped and counted for ls_ph_queue_take_dropped. */
void ls_ph_queue_publish(ls_ph_queue *q);
/* Producer: the lines (and their text bytes) publish dropped since the last
 * call; returns false when there were none. */
bool ls_ph_queue_take_dropped(ls_ph_queue *q, uint64_t *ret_lines, uint64_t *ret_bytes);
/* Producer: publishes, then marks the end of input: the consumer drains what
 * is queued and then ls_ph_queue_pop returns NULL. */
void ls_ph_queue_close(ls_ph_queue *q);
/* Bytes queued, including the producer's unpublished block when called by the producer. */
size_t ls_ph_queue_pending(const ls_ph_queue *q);

/* Any thread: drops every queued block and makes the consumer stop; counts
 * them in discarded_records and discarded_bytes. Returns the bytes dropped.
 * The producer's open block is freed by its next publish. */
size_t ls_ph_queue_discard(ls_ph_queue *q);
bool ls_ph_queue_is_discarded(const ls_ph_queue *q);

/* Consumer: waits for the next block; returns NULL when the queue is closed
 * and empty, or discarded. Give the block back with ls_ph_queue_done. */
ls_ph_block *ls_ph_queue_pop(ls_ph_queue *q);
/* Consumer: frees a block taken by ls_ph_queue_pop and un-counts its bytes. */
void ls_ph_queue_done(ls_ph_queue *q, ls_ph_block *b);

/* Reads the record at *off in b and advances *off. Returns false at the end. */
bool ls_ph_block_next(const ls_ph_block *b, size_t *off, uint32_t *ret_step, const char **ret_text,
                      size_t *ret_len);

#endif
