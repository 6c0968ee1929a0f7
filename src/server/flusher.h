/* The flusher: a thread that makes received lines durable. Every
 * --flush-interval (or at once when kicked) it takes the pending lines of
 * every live step and stores them in ONE ls_store_append transaction, then
 * marks them durable (which wakes requests waiting for durability), records
 * the flush latency, and wakes ingest requests paused by --max-pending.
 * When nothing is pending it sleeps until kicked (and sweeps unused live
 * objects once a second). */
#ifndef LS_SERVER_FLUSHER_H
#define LS_SERVER_FLUSHER_H

#include <stdbool.h>

#include "server/srv.h"
#include "server/waker.h"

typedef struct ls_flusher ls_flusher;

/* Starts the thread. Returns 0 and *ret, or a negative errno. */
int ls_flusher_start(ls_server *srv, ls_flusher **ret);
/* Final flush, then stops the thread and frees. NULL is a no-op. */
void ls_flusher_stop(ls_flusher *fl);

/* Asks for a flush as soon as possible (cheap; any thread). */
void ls_flusher_kick(ls_flusher *fl);
/* Tells the flusher new lines are pending: wakes it if it sleeps idle, and
 * kicks it when pending bytes pass half of --max-pending. */
void ls_flusher_note_pending(ls_flusher *fl);
/* Runs one flush on the calling thread (serialised with the thread's). */
void ls_flusher_flush_now(ls_flusher *fl);

/* An ingest request paused because --max-pending was reached; woken after
 * each flush. */
typedef struct ls_flusher_waiter {
    ls_waker *waker;
    bool queued;
    struct ls_flusher_waiter *prev, *next;
} ls_flusher_waiter;

/* Queues w (once) to be woken after the next flush. */
void ls_flusher_wait_space(ls_flusher *fl, ls_flusher_waiter *w);
/* Removes w if queued (before its waker is destroyed). */
void ls_flusher_cancel_wait(ls_flusher *fl, ls_flusher_waiter *w);

#endif
