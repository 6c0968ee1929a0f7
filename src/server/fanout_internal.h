/* Internals shared by the fan-out's files (server/fanout.h is the API):
 * fanout.c (NATS connection, publisher thread, what NATS brings, followers)
 * and fanout_poll.c (the database poller thread). */
#ifndef LS_SERVER_FANOUT_INTERNAL_H
#define LS_SERVER_FANOUT_INTERNAL_H

#include <jansson.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/fanout.h"

#define WATCH_BUCKETS 256u

/* One queued message. */
typedef struct pub_msg {
    struct pub_msg *next;
    char subject[LS_FANOUT_SUBJECT_MAX];
    size_t len;
    char data[];
} pub_msg;

/* Followers of one step (step > 0) or of one build's events (step == 0). */
typedef struct watch {
    struct watch *next;
    int64_t build;
    int step;
    int count;             /* followers here */
    natsSubscription *sub; /* owned by the publisher thread */
    json_t *seen;          /* builds: {"build": STATUS, "N": "STATUS EXIT"} last sent */
    uint64_t nats_seq;     /* steps: the highest seq NATS brought */
    bool end_waiting;      /* steps: NATS brought an end that waits for lines */
} watch;

struct ls_fanout {
    ls_server *srv;
    bool db_only; /* PostgreSQL without --nats: no NATS, the poller only */
    natsOptions *opts;
    natsConnection *nc;
    natsSubscription *server_sub; /* logstream.events, always */

    pthread_mutex_t mu; /* queue, watches, flags below */
    pthread_cond_t pub_cond, poll_cond;
    pub_msg *head, *tail;
    size_t queued_bytes;
    bool subs_dirty; /* a watch count went to or from 0 */
    bool poll_soon;  /* a gap or a waiting end: poll now */
    bool behind;     /* a gap or a waiting end not filled yet: poll at the fast interval */
    /* the builds list (GET /api/v1/events) while NATS is down: the newest
     * build id and the builds not ended that this instance knows of (from
     * its own events, NATS's and the store at start), {"ID": "SIG"} */
    int64_t list_max_id;
    json_t *list_open;
    bool stop;
    bool dropping; /* reported the current streak of dropped messages */
    watch *watches[WATCH_BUCKETS];
    size_t n_watches;
    pthread_t pub_thread, poll_thread;
    bool pub_started, poll_started;

    atomic_bool connected;
    atomic_bool closing; /* ls_fanout_stop closes the connection: no messages about it */
    atomic_uint_fast64_t published, dropped, received, received_lines, gaps, reconnects,
        disconnects, polls, poll_refreshes, subscriptions;
};

/* With f->mu held: the watch of a step (step > 0) or of a build's events
 * (step 0), or NULL. */
watch *ls_fanout_watch_find(ls_fanout *f, int64_t build, int step);
/* "STATUS EXIT" of a step object into buf (what a build's followers were
 * last sent of it). */
void ls_fanout_step_sig(json_t *step, char *buf, size_t len);
/* Notes a build of the builds list (a "build" server event) the list's
 * clients got: its id, and its signature while it has not ended. Returns
 * false when it was noted with this signature already (takes f->mu). */
bool ls_fanout_note_listed(ls_fanout *f, json_t *b);
/* The poller thread (pthread entry; arg is the fan-out). */
void *ls_fanout_poll_main(void *arg);

#endif
