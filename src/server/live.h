/* The live path: one object per running step holding the lines the server
 * has received but not yet made durable, plus the most recent lines (up to
 * --live-buffer bytes of text) for followers, the step's seq counters and its
 * subscribers. Ingest appends and wakes subscribers at once; the flusher takes
 * the pending lines, stores them, and marks them durable. Nothing here waits
 * for the database.
 *
 * Line text lives in fixed-size segments that are never reallocated, so the
 * flusher can hand pointers to the store without copying while ingest keeps
 * appending; a segment is freed only when all its lines are durable and it is
 * older than the --live-buffer window.
 *
 * Thread safety: the registry has its own lock; each step has a lock taken by
 * every ls_live_step function (or held between ls_live_lock/ls_live_unlock). */
#ifndef LS_SERVER_LIVE_H
#define LS_SERVER_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/line.h"
#include "store/store.h"

typedef struct ls_live ls_live;
typedef struct ls_live_step ls_live_step;

typedef struct ls_live_options {
    size_t buffer_bytes;  /* recent text kept per step for followers (--live-buffer) */
    size_t max_line;      /* longest line text that will be appended */
    size_t segment_bytes; /* text allocation unit; 0 = derived from buffer_bytes */
    int64_t linger_ms;    /* a final step with nothing pending is dropped after this */
    int64_t idle_ms;      /* a non-final step with no activity and no users, after this */
} ls_live_options;

/* The durable state a live object starts from (read from the store). */
typedef struct ls_live_init {
    uint64_t durable_seq;
    uint64_t durable_bytes;
    ls_status status;
    bool has_exit_code;
    int exit_code;
    uint64_t drop_first; /* lines drop_first..drop_last were dropped (0 = none), */
    uint64_t drop_last;  /* see server/limits.h */
    uint64_t drop_bytes; /* their text bytes */
} ls_live_init;

/* A step at one instant, taken under its lock. */
typedef struct ls_live_state ls_live_state;
struct ls_live_state {
    uint64_t received_seq;   /* last line accepted */
    uint64_t durable_seq;    /* last line stored */
    uint64_t received_bytes; /* text bytes of lines 1..received_seq */
    uint64_t durable_bytes;  /* text bytes of lines 1..durable_seq */
    uint64_t oldest_seq;     /* first seq still in memory (received_seq + 1 when none) */
    uint64_t drop_first;     /* the dropped middle of the log, lines drop_first..drop_last */
    uint64_t drop_last;      /* (0 = none; server/limits.h); they count in *_bytes */
    uint64_t drop_bytes;
    ls_status status;
    bool final;
    bool has_exit_code;
    int exit_code;
};

/* Events a subscriber may ask for. */
enum {
    LS_LIVE_EV_LINES = 1,   /* new lines were appended */
    LS_LIVE_EV_DURABLE = 2, /* durable_seq advanced (or a flush failed) */
    LS_LIVE_EV_FINAL = 4,   /* the step reached a final status */
};

/* A subscriber, embedded in its owner. notify runs with the step's lock held
 * (from the thread that caused the event) and gets the step's state at that
 * instant: it must be quick, must not block and must not call ls_live_*
 * functions on this step. */
typedef struct ls_live_sub ls_live_sub;
struct ls_live_sub {
    unsigned events;
    void (*notify)(ls_live_sub *sub, unsigned events, const ls_live_state *st);
    ls_live_sub *prev, *next;
};

/* Creates an empty registry. Never fails (allocation failures abort). */
ls_live *ls_live_new(const ls_live_options *opts);
/* Frees the registry and every step; nobody may hold a step reference. */
void ls_live_free(ls_live *lv);

/* Returns the step's live object with a new reference, or NULL. */
ls_live_step *ls_live_find(ls_live *lv, int64_t build, int step);
/* Returns the step's live object with a new reference, creating it from init
 * when there is none. */
ls_live_step *ls_live_open(ls_live *lv, int64_t build, int step, const ls_live_init *init);
/* Drops a reference from ls_live_find/ls_live_open/ls_live_collect_pending.
 * NULL is a no-op. */
void ls_live_release(ls_live_step *s);

/* Number of live objects. */
size_t ls_live_count(ls_live *lv);
/* Text bytes accepted by all steps and not yet durable. */
uint64_t ls_live_pending_bytes(ls_live *lv);

/* References (caller releases each, frees the array) to every step with
 * lines not yet durable. Returns how many; *ret is NULL when none. */
size_t ls_live_collect_pending(ls_live *lv, ls_live_step ***ret);
/* Drops unused steps with nothing pending that are final since linger_ms or
 * idle since idle_ms. Returns how many were dropped. */
size_t ls_live_sweep(ls_live *lv, int64_t now_ms);

int64_t ls_live_step_build(const ls_live_step *s);
int ls_live_step_number(const ls_live_step *s);

/* Appending: take the lock, append a batch, unlock (which notifies the
 * subscribers once for the batch). */
void ls_live_lock(ls_live_step *s);
void ls_live_unlock(ls_live_step *s);
/* With the lock held. The seq the next appended line must carry. */
uint64_t ls_live_next_seq_locked(const ls_live_step *s);
/* With the lock held. Appends a copy of line (text up to max_line bytes).
 * Returns 0; -EEXIST when line->seq is already held (a duplicate: nothing
 * changes); -ERANGE when line->seq skips ahead (a gap: nothing changes; the
 * expected seq is ls_live_next_seq_locked); -E2BIG when the text is longer
 * than max_line. */
int ls_live_append_locked(ls_live_step *s, const ls_line *line);

/* Called by ls_live_read for each line, under the step's lock; the line is
 * valid only during the call. Return 0 to go on, 1 to stop after this line. */
typedef int (*ls_live_line_cb)(void *arg, const ls_line *line);

/* Delivers in-memory lines with seq > after, in order, at most max_lines
 * (0 = no limit), and fills *ret_state (may be NULL) at the same instant.
 * Returns the number of lines delivered, or -ERANGE when line after+1 is no
 * longer in memory: every line before ret_state->oldest_seq is durable, read
 * it from the store. */
int ls_live_read(ls_live_step *s, uint64_t after, size_t max_lines, ls_live_line_cb cb, void *arg,
                 ls_live_state *ret_state);
void ls_live_get_state(ls_live_step *s, ls_live_state *ret_state);

/* Flusher side. Appends to (*lines, *n, *cap) the lines not yet handed to a
 * flush (pointers into memory that stay valid until ls_live_flush_done) and
 * returns how many. */
size_t ls_live_flush_begin(ls_live_step *s, ls_line **lines, size_t *n, size_t *cap);
/* Ends the flush begun by ls_live_flush_begin: ok makes those lines durable
 * (waking LS_LIVE_EV_DURABLE subscribers, freeing memory beyond the buffer
 * window); !ok makes them pending again (and also notifies, so waiters can
 * see the failure). */
void ls_live_flush_done(ls_live_step *s, bool ok);

/* Records that lines first..last (bytes text bytes) were dropped from the
 * store (server/limits.h); readers skip them from now on. */
void ls_live_set_dropped(ls_live_step *s, uint64_t first, uint64_t last, uint64_t bytes);

/* Records a status change; a final status wakes LS_LIVE_EV_FINAL
 * subscribers. now_ms starts the linger time. */
void ls_live_set_status(ls_live_step *s, ls_status status, bool has_exit_code, int exit_code,
                        int64_t now_ms);

/* Lag of a reader that has sent every line up to sent_seq (sent_bytes text
 * bytes in all): true when it is more than max_bytes or max_lines behind
 * what the step has received. */
bool ls_live_too_far_behind(const ls_live_state *st, uint64_t sent_seq, uint64_t sent_bytes,
                            uint64_t max_bytes, uint64_t max_lines);

/* Several instances on one database (server/fanout.h). A step's lines are
 * "local" on the instance that accepted them until its flusher stored them;
 * another instance holds "remote" lines (from NATS) that it never stores, and
 * refreshes its view of the step from the store. */

/* Takes the stored state init (read from the store a moment ago) when this
 * instance has no ingest request open on the step and nothing of its own to
 * store: lines the store has beyond what memory holds drop the memory (readers
 * read them from the store), a status further on than ours is taken (a final
 * one once every stored line is held). Never goes back to fewer lines.
 * Notifies subscribers of what changed. Returns true when the lines or the
 * status changed. */
bool ls_live_refresh(ls_live_step *s, const ls_live_init *init);

/* An ingest request of this instance starts on the step: when the step's
 * lines are remote (or the store init is ahead of memory), memory restarts
 * from the stored state init, so the worker's lines after init->durable_seq
 * are this instance's to store (duplicates of stored lines are ignored). Until
 * ls_live_writer_end, remote lines are refused. */
void ls_live_writer_begin(ls_live_step *s, const ls_live_init *init);
void ls_live_writer_end(ls_live_step *s);

/* True when this instance has no ingest request open on the step and nothing
 * of its own to store (its lines come from another instance). */
bool ls_live_is_remote(ls_live_step *s);

/* With the lock held. Appends a line another instance accepted (and stores):
 * it never becomes pending here. Returns 0; -EBUSY when this instance ingests
 * the step itself (ls_live_is_remote is false); -EEXIST for a seq already
 * held; -ERANGE for a gap: the line is kept (up to buffer_bytes of them) and
 * appended once the lines before it arrive or a refresh from the store brings
 * them (the caller refreshes); -E2BIG for text longer than max_line. */
int ls_live_append_remote_locked(ls_live_step *s, const ls_line *line);

/* A status change made on another instance, when the step had `lines` lines:
 * taken like ls_live_refresh takes the store's (a final status waits for
 * those lines, unless this instance holds the step's lines itself). Returns
 * false when the status is further on but waits for lines (refresh from the
 * store), else true. */
bool ls_live_set_status_remote(ls_live_step *s, ls_status status, bool has_exit_code, int exit_code,
                               uint64_t lines);

void ls_live_subscribe(ls_live_step *s, ls_live_sub *sub);
void ls_live_unsubscribe(ls_live_step *s, ls_live_sub *sub);

#endif
