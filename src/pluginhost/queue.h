/* A plugin's line queue: one producer (the thread reading stdin), one
 * consumer (the plugin's thread), bounded and accounted in bytes.
 *
 * The producer appends lines to an open block without locking and hands the
 * block over with ls_ph_queue_publish (once per read from stdin, or when the
 * block is full), so the per-line cost is a copy, and a lock is taken once
 * per block. The producer never waits: a line that would take the queue over
 * its limit is refused and the caller counts it as dropped. */
#ifndef LS_PLUGINHOST_QUEUE_H
#define LS_PLUGINHOST_QUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes a queued line costs besides its text: step index, length, NUL. */
#define LS_PH_RECORD_OVERHEAD 9u
/* Default capacity of one block. */
#define LS_PH_BLOCK_SIZE (64u * 1024u)

typedef struct ls_ph_block {
    struct ls_ph_block *next;
    size_t len; /* bytes of records */
    size_t cap;
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
    ls_ph_block *open; /* producer only */
} ls_ph_queue;

/* Initialises an empty queue holding at most max_pending bytes (max_pending >= 1). */
void ls_ph_queue_init(ls_ph_queue *q, size_t max_pending);
/* Frees every block; the queue must have no users left. */
void ls_ph_queue_destroy(ls_ph_queue *q);

/* Producer: appends one line for step index `step`. Returns 0, -ENOBUFS when
 * the line does not fit under the limit (the queue is unchanged), or
 * -ECANCELED when the queue was discarded. */
int ls_ph_queue_push(ls_ph_queue *q, uint32_t step, const char *text, size_t len);
/* Producer: hands the open block (if any) to the consumer. */
void ls_ph_queue_publish(ls_ph_queue *q);
/* Producer: publishes, then marks the end of input: the consumer drains what
 * is queued and then ls_ph_queue_pop returns NULL. */
void ls_ph_queue_close(ls_ph_queue *q);
/* Bytes queued, including the producer's unpublished block when called by the producer. */
size_t ls_ph_queue_pending(const ls_ph_queue *q);

/* Any thread: drops every queued block and makes the consumer stop. Returns
 * the bytes dropped. The producer's open block is freed by its next publish. */
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
