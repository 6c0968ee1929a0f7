/* Keep-alive pings for Server-Sent Events connections: a timer thread that
 * sleeps until the earliest client is due (or forever when there are none)
 * and wakes that client's connection so its content reader sends
 * ": ping". No polling: an idle server with followers wakes once per ping. */
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

/* Starts the timer thread; interval_ms > 0. Returns 0 or a negative errno. */
int ls_pinger_start(int64_t interval_ms, ls_pinger **ret);
/* Stops the thread and frees; the list must be empty. NULL is a no-op. */
void ls_pinger_stop(ls_pinger *p);

/* Adds e (its waker must stay valid until ls_pinger_remove). */
void ls_pinger_add(ls_pinger *p, ls_ping_entry *e, ls_waker *w);
void ls_pinger_remove(ls_pinger *p, ls_ping_entry *e);
/* Notes that bytes were just sent to e's client. */
void ls_pinger_touch(ls_ping_entry *e);
/* True when e's client has been silent for a ping interval. */
bool ls_pinger_due(const ls_pinger *p, ls_ping_entry *e);

#endif
