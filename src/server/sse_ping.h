/* The server's timer thread. It sleeps until the earliest deadline (or
 * forever when there is none) and wakes that connection's waker:
 * - keep-alive pings for Server-Sent Events connections: a client silent
 *   for a ping interval is woken so its content reader sends ": ping";
 * - one-shot wake-ups at a given time (an ingest request paused by
 *   --max-request-rate is woken when its token bucket has refilled).
 * No polling: an idle server with followers wakes once per ping. */
#ifndef LS_SERVER_SSE_PING_H
#define LS_SERVER_SSE_PING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/waker.h"

typedef struct ls_pinger ls_pinger;

typedef struct ls_ping_entry {
    ls_waker *waker;
    atomic_int_fast64_t last_ms; /* monotonic ms of the last bytes sent */
    struct ls_ping_entry *prev, *next;
} ls_ping_entry;

/* A one-shot wake-up; zero it before first use. Owned by the caller, linked
 * into the pinger's list between ls_pinger_wake_at() and its firing or
 * ls_pinger_cancel(). */
typedef struct ls_wakeup {
    ls_waker *waker;
    int64_t at_ms; /* monotonic ms */
    bool queued;   /* in the list (under the pinger's lock) */
    struct ls_wakeup *prev, *next;
} ls_wakeup;

/* Starts the timer thread; interval_ms > 0. Returns 0 or a negative errno. */
int ls_pinger_start(int64_t interval_ms, ls_pinger **ret);
/* Stops the thread and frees; the lists must be empty. NULL is a no-op. */
void ls_pinger_stop(ls_pinger *p);

/* Adds e (its waker must stay valid until ls_pinger_remove). */
void ls_pinger_add(ls_pinger *p, ls_ping_entry *e, ls_waker *w);
void ls_pinger_remove(ls_pinger *p, ls_ping_entry *e);
/* Notes that bytes were just sent to e's client. */
void ls_pinger_touch(ls_ping_entry *e);
/* True when e's client has been silent for a ping interval. */
bool ls_pinger_due(const ls_pinger *p, ls_ping_entry *e);

/* Wakes w once, on the timer thread, when ls_mono_ms() >= at_ms. Queues e,
 * or moves it to the new time when it is queued already; it leaves the list
 * when it fires. w must stay valid until it fired or ls_pinger_cancel(). */
void ls_pinger_wake_at(ls_pinger *p, ls_wakeup *e, ls_waker *w, int64_t at_ms);
/* Takes e out of the list if it is there (it will not fire). Call before
 * freeing e or its waker. */
void ls_pinger_cancel(ls_pinger *p, ls_wakeup *e);

#endif
