/* Suspending a connection until there is work for it, without lost wakeups
 * and without busy-waiting.
 *
 * A handler (access handler or content reader, on MHD's thread) that finds
 * nothing to do calls ls_waker_arm() BEFORE looking for work, then, if it
 * still found none, ls_waker_suspend(). Any thread that creates work calls
 * ls_waker_wake(). A wake between arm and suspend makes suspend refuse (the
 * caller looks for work again), so a wake is never lost; a wake while
 * suspended resumes the connection (MHD_resume_connection is thread-safe with
 * MHD_USE_ITC); a wake while running is remembered.
 *
 * Every waker belongs to a set, so that on shutdown all suspended connections
 * can be resumed before MHD_stop_daemon (which must not see suspended
 * connections). */
#ifndef LS_SERVER_WAKER_H
#define LS_SERVER_WAKER_H

#include <pthread.h>
#include <stdbool.h>

struct MHD_Connection;

typedef struct ls_waker_set ls_waker_set;

typedef struct ls_waker {
    pthread_mutex_t mu;
    struct MHD_Connection *conn;
    ls_waker_set *set;
    struct ls_waker *prev, *next; /* in set, under the set's lock */
    bool suspended;               /* we suspended conn and nobody resumed it yet */
    bool resuming;                /* resumed, and no handler ran since */
    bool notified;                /* woken while not suspended, since the last arm */
    bool closed;                  /* shutting down: never suspend again */
} ls_waker;

ls_waker_set *ls_waker_set_new(void);
/* Frees the set; it must be empty. NULL is a no-op. */
void ls_waker_set_free(ls_waker_set *set);

/* Initialises w for conn and adds it to set. */
void ls_waker_init(ls_waker *w, ls_waker_set *set, struct MHD_Connection *conn);
/* Removes w from its set and destroys it. Call only when the connection is
 * not suspended (from the request-completed or content-reader-free
 * callback); afterwards no thread may call ls_waker_wake(w). */
void ls_waker_destroy(ls_waker *w);

/* Called on MHD's thread when a handler starts looking for work. Returns
 * false when the waker is closed (the server stops: end the response). */
bool ls_waker_arm(ls_waker *w);
/* Suspends the connection unless a wake arrived since ls_waker_arm() or the
 * waker is closed. Returns true when suspended (return 0 from a content
 * reader / MHD_YES from the access handler), false when the caller must look
 * for work again. Only from MHD's thread, inside a handler. */
bool ls_waker_suspend(ls_waker *w);
/* Wakes w from any thread. Cheap when there is nothing to resume. */
void ls_waker_wake(ls_waker *w);

/* Closes every waker in the set (resuming the suspended ones). */
void ls_waker_set_close_all(ls_waker_set *set);
/* Number of wakers whose connection is suspended or resumed but not yet
 * handled again; MHD_stop_daemon is safe once it is 0. */
int ls_waker_set_busy(ls_waker_set *set);

#endif
