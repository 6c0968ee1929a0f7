#include "server/fanout.h"

#include <errno.h>
#include <inttypes.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/timeutil.h"
#include "server/build_events.h"
#include "server/linesource.h"
#include "server/live.h"
#include "server/metrics.h"
#include "server/routes_builds.h"
#include "server/server_events.h"
#include "store/store.h"

#include "server/fanout_internal.h"

/* ---- the connection --------------------------------------------------------- */

/* Subscriptions that failed (NATS was not there yet) are made again. */
static void resync_subscriptions(ls_fanout *f)
{
    pthread_mutex_lock(&f->mu);
    f->subs_dirty = true;
    f->poll_soon = true; /* lines published by others meanwhile are in the store */
    pthread_cond_signal(&f->pub_cond);
    pthread_cond_signal(&f->poll_cond);
    pthread_mutex_unlock(&f->mu);
}

static void on_connected(natsConnection *nc, void *closure)
{
    ls_fanout *f = closure;
    atomic_store(&f->connected, true);
    resync_subscriptions(f);
    fprintf(stderr, "logstream server: connected to NATS (--nats); live lines fan out to the "
                    "other instances\n");
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    ls_fanout *f = closure;
    if (!atomic_exchange(&f->connected, false) || atomic_load(&f->closing))
        return;
    atomic_fetch_add(&f->disconnects, 1);
    pthread_mutex_lock(&f->mu);
    f->poll_soon = true; /* and every --remote-poll-interval from now on */
    pthread_cond_signal(&f->poll_cond);
    pthread_mutex_unlock(&f->mu);
    fprintf(stderr, "logstream server: lost the NATS connection (--nats); reconnecting; meanwhile "
                    "followers of steps streamed to other instances read the database every "
                    "--remote-poll-interval\n");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    ls_fanout *f = closure;
    atomic_fetch_add(&f->reconnects, 1);
    atomic_store(&f->connected, true);
    fprintf(stderr, "logstream server: NATS connection back (--nats); live fan-out resumed\n");
    resync_subscriptions(f);
}

static void on_nats_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    ls_fanout *f = closure;
    /* a slow consumer lost messages: the poller fills the gap from the store */
    if (err == NATS_SLOW_CONSUMER) {
        pthread_mutex_lock(&f->mu);
        f->poll_soon = true;
        pthread_cond_signal(&f->poll_cond);
        pthread_mutex_unlock(&f->mu);
    }
}

/* ---- receiving -------------------------------------------------------------- */

typedef struct remote_feed {
    ls_live_step *step;
    int rc; /* first refusal other than a duplicate */
    uint64_t appended;
    uint64_t max_seq;
} remote_feed;

static int append_remote(void *arg, const ls_line *line)
{
    remote_feed *rf = arg;
    if (line->seq > rf->max_seq)
        rf->max_seq = line->seq;
    int rc = ls_live_append_remote_locked(rf->step, line);
    if (rc == -EEXIST)
        return 0;
    if (rc == -ERANGE) {
        rf->rc = rc; /* kept past the gap until the store fills it */
        return 0;
    }
    if (rc < 0) {
        rf->rc = rc;
        return 1;
    }
    rf->appended++;
    return 0;
}

/* Polls at once; with seq or end, the step is behind what NATS brought (seq:
 * the highest seq it brought; end: a final status waits for lines) until the
 * store fills it, and the poller keeps to --remote-poll-interval meanwhile. */
static void poll_soon_step(ls_fanout *f, int64_t build, int step, uint64_t seq, bool end)
{
    pthread_mutex_lock(&f->mu);
    watch *w = step ? ls_fanout_watch_find(f, build, step) : NULL;
    if (w && seq > w->nats_seq)
        w->nats_seq = seq;
    if (w && end)
        w->end_waiting = true;
    f->behind = true;
    f->poll_soon = true;
    pthread_cond_signal(&f->poll_cond);
    pthread_mutex_unlock(&f->mu);
}

static void poll_soon(ls_fanout *f)
{
    pthread_mutex_lock(&f->mu);
    f->poll_soon = true;
    pthread_cond_signal(&f->poll_cond);
    pthread_mutex_unlock(&f->mu);
}

static void receive_lines(ls_fanout *f, int64_t build, int step, const char *data, size_t len)
{
    ls_live_step *s = ls_live_find(f->srv->live, build, step);
    if (!s)
        return; /* nobody here follows it (any more) */
    remote_feed rf = {.step = s};
    ls_live_lock(s);
    int n = ls_fanout_lines_decode(data, len, (size_t)f->srv->cfg.max_line, append_remote, &rf);
    ls_live_unlock(s); /* wakes the followers */
    ls_live_release(s);
    atomic_fetch_add(&f->received_lines, rf.appended);
    if (rf.rc == -ERANGE || (n < 0 && rf.rc == 0)) {
        atomic_fetch_add(&f->gaps, 1);
        poll_soon_step(f, build, step, rf.max_seq, false);
    } else if (rf.rc == -EBUSY || rf.rc == -E2BIG) {
        poll_soon(f); /* the store decides once this instance's own lines are stored */
    }
}

static void receive_status(ls_fanout *f, int64_t build, int step, const char *data, size_t len)
{
    ls_fanout_status st;
    if (ls_fanout_status_decode(data, len, &st) < 0)
        return;
    ls_live_step *s = ls_live_find(f->srv->live, build, step);
    if (!s)
        return;
    bool taken = ls_live_set_status_remote(s, st.status, st.has_exit_code, st.exit_code, st.lines);
    ls_live_release(s);
    if (!taken) /* the end waits for lines that NATS may have lost */
        poll_soon_step(f, build, step, st.lines, true);
}

/* "STATUS EXIT" of a step object. */
void ls_fanout_step_sig(json_t *step, char *buf, size_t len)
{
    json_t *code = json_object_get(step, "exit_code");
    const char *status = json_string_value(json_object_get(step, "status"));
    if (json_is_integer(code))
        snprintf(buf, len, "%s %" JSON_INTEGER_FORMAT, status ? status : "?",
                 json_integer_value(code));
    else
        snprintf(buf, len, "%s -", status ? status : "?");
}

/* The "seen" record of a build object (with steps). */
static json_t *seen_of(json_t *build)
{
    json_t *seen = json_object();
    const char *status = json_string_value(json_object_get(build, "status"));
    if (status)
        json_object_set_new(seen, "build", json_string(status));
    size_t i;
    json_t *step;
    json_array_foreach(json_object_get(build, "steps"), i, step)
    {
        char key[24], sig[64];
        snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(step, "number")));
        ls_fanout_step_sig(step, sig, sizeof(sig));
        json_object_set_new(seen, key, json_string(sig));
    }
    return seen;
}

/* With f->mu held: the watch of build/step, or NULL. */
watch *ls_fanout_watch_find(ls_fanout *f, int64_t build, int step)
{
    size_t b = ((uint64_t)build * 31u + (unsigned)step) % WATCH_BUCKETS;
    for (watch *w = f->watches[b]; w; w = w->next)
        if (w->build == build && w->step == step)
            return w;
    return NULL;
}

/* Notes in the build's watch what its followers were sent (name/obj of a
 * build event), so the poller does not send it again. */
static void note_seen(ls_fanout *f, int64_t build, const char *name, json_t *obj)
{
    pthread_mutex_lock(&f->mu);
    watch *w = ls_fanout_watch_find(f, build, 0);
    if (w && w->seen) {
        const char *status = json_string_value(json_object_get(obj, "status"));
        if (strcmp(name, "build") == 0 && status) {
            json_object_set_new(w->seen, "build", json_string(status));
        } else if (strcmp(name, "step") == 0 && status) {
            char key[24], val[64];
            snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(obj, "number")));
            ls_fanout_step_sig(obj, val, sizeof(val));
            json_object_set_new(w->seen, key, json_string(val));
        }
    }
    pthread_mutex_unlock(&f->mu);
}

static void receive_event(ls_fanout *f, ls_fanout_kind kind, int64_t build, const char *data,
                          size_t len)
{
    char name[LS_FANOUT_NAME_MAX];
    bool end = false;
    const char *json;
    size_t json_len;
    if (ls_fanout_event_decode(data, len, kind == LS_FANOUT_BUILD_EVENT, name, &end, &json,
                               &json_len) < 0)
        return;
    json_t *obj = json_loadb(json, json_len, 0, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return;
    }
    if (kind == LS_FANOUT_BUILD_EVENT) {
        note_seen(f, build, name, obj);
        ls_build_events_publish(f->srv->events, build, name, obj, end);
    } else {
        if (strcmp(name, "build") == 0)
            ls_fanout_note_listed(f, obj);
        ls_server_events_publish(f->srv->server_events, name, obj);
    }
    json_decref(obj);
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    ls_fanout *f = closure;
    ls_fanout_kind kind;
    int64_t build;
    int step;
    const char *data = natsMsg_GetData(msg);
    size_t len = (size_t)natsMsg_GetDataLength(msg);
    atomic_fetch_add(&f->received, 1);
    if (ls_fanout_subject_parse(natsMsg_GetSubject(msg), &kind, &build, &step) == 0 && data) {
        if (kind == LS_FANOUT_LINES)
            receive_lines(f, build, step, data, len);
        else if (kind == LS_FANOUT_STATUS)
            receive_status(f, build, step, data, len);
        else
            receive_event(f, kind, build, data, len);
    }
    natsMsg_Destroy(msg);
}

/* "STATUS STARTED FINISHED" of a build object (of the builds list). */
static void build_sig(json_t *b, char *buf, size_t len)
{
    const char *status = json_string_value(json_object_get(b, "status"));
    snprintf(buf, len, "%s %" JSON_INTEGER_FORMAT " %" JSON_INTEGER_FORMAT, status ? status : "?",
             json_integer_value(json_object_get(b, "started_ms")),
             json_integer_value(json_object_get(b, "finished_ms")));
}

/* Notes a build of the builds list (a "build" server event) the list's
 * clients got: its id, and its signature while it has not ended. Returns
 * false when it was noted with this signature already. */
bool ls_fanout_note_listed(ls_fanout *f, json_t *b)
{
    json_int_t id = json_integer_value(json_object_get(b, "id"));
    const char *status = json_string_value(json_object_get(b, "status"));
    ls_status st;
    if (id <= 0 || !status || ls_status_parse(status, &st) < 0)
        return false;
    char key[24], sig[96];
    snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, id);
    build_sig(b, sig, sizeof(sig));
    pthread_mutex_lock(&f->mu);
    bool news = id > f->list_max_id;
    if (news)
        f->list_max_id = id;
    const char *old = json_string_value(json_object_get(f->list_open, key));
    if (old)
        news |= strcmp(old, sig) != 0;
    if (ls_status_is_final(st))
        json_object_del(f->list_open, key);
    else
        json_object_set_new(f->list_open, key, json_string(sig));
    pthread_mutex_unlock(&f->mu);
    return news;
}

/* ---- publishing --------------------------------------------------------------- */

static void enqueue(ls_fanout *f, const char *subject, const char *data, size_t len)
{
    if (!f || f->db_only)
        return; /* without NATS the others read the store */
    pthread_mutex_lock(&f->mu);
    if (f->stop || f->queued_bytes + len > (size_t)f->srv->cfg.nats_max_pending) {
        atomic_fetch_add(&f->dropped, 1);
        if (!f->dropping && !f->stop)
            fprintf(stderr, "logstream server: the NATS publish queue is over --nats-max-pending; "
                            "dropping live messages (other instances read those lines from the "
                            "database)\n");
        f->dropping = true;
        pthread_mutex_unlock(&f->mu);
        return;
    }
    f->dropping = false;
    pub_msg *m = ls_xmalloc(sizeof(*m) + len);
    m->next = NULL;
    snprintf(m->subject, sizeof(m->subject), "%s", subject);
    m->len = len;
    memcpy(m->data, data, len);
    if (f->tail)
        f->tail->next = m;
    else
        f->head = m;
    f->tail = m;
    f->queued_bytes += len;
    pthread_cond_signal(&f->pub_cond);
    pthread_mutex_unlock(&f->mu);
}

void ls_fanout_publish_lines(ls_fanout *f, int64_t build, int step, const char *data, size_t len)
{
    if (!f || len == 0)
        return;
    char subject[LS_FANOUT_SUBJECT_MAX];
    ls_fanout_subject(subject, LS_FANOUT_LINES, build, step);
    enqueue(f, subject, data, len);
}

void ls_fanout_publish_status(ls_fanout *f, int64_t build, int step, const ls_fanout_status *st)
{
    if (!f)
        return;
    char subject[LS_FANOUT_SUBJECT_MAX];
    ls_fanout_subject(subject, LS_FANOUT_STATUS, build, step);
    ls_buf b = LS_BUF_INIT;
    ls_fanout_status_encode(&b, st);
    enqueue(f, subject, b.data, b.len);
    ls_buf_free(&b);
}

void ls_fanout_publish_build_event(ls_fanout *f, int64_t build, const char *name, json_t *obj,
                                   bool end)
{
    if (!f)
        return;
    note_seen(f, build, name, obj);
    char *json = json_dumps(obj, JSON_COMPACT);
    if (!json)
        return;
    char subject[LS_FANOUT_SUBJECT_MAX];
    ls_fanout_subject(subject, LS_FANOUT_BUILD_EVENT, build, 0);
    ls_buf b = LS_BUF_INIT;
    ls_fanout_event_encode(&b, name, true, end, json);
    enqueue(f, subject, b.data, b.len);
    ls_buf_free(&b);
    free(json);
}

void ls_fanout_publish_server_event(ls_fanout *f, const char *name, json_t *obj)
{
    if (!f)
        return;
    if (strcmp(name, "build") == 0)
        ls_fanout_note_listed(f, obj);
    char *json = json_dumps(obj, JSON_COMPACT);
    if (!json)
        return;
    char subject[LS_FANOUT_SUBJECT_MAX];
    ls_fanout_subject(subject, LS_FANOUT_SERVER_EVENT, 0, 0);
    ls_buf b = LS_BUF_INIT;
    ls_fanout_event_encode(&b, name, false, false, json);
    enqueue(f, subject, b.data, b.len);
    ls_buf_free(&b);
    free(json);
}

/* A subscription change the publisher thread makes outside the lock. */
typedef struct sub_change {
    int64_t build;
    int step;
    natsSubscription *old; /* to unsubscribe (its watch is gone), or NULL to subscribe */
} sub_change;

/* On the publisher thread, with f->mu held (released meanwhile, since
 * subscribing writes to the connection): subscribes the watches that gained
 * followers, unsubscribes and frees those that lost them all. Only this
 * thread sets w->sub and frees watches. */
static void sync_subscriptions(ls_fanout *f)
{
    sub_change *v = ls_xcalloc(f->n_watches + 1, sizeof(*v));
    size_t n = 0;
    bool server_sub = f->server_sub != NULL;
    for (size_t i = 0; i < WATCH_BUCKETS; i++) {
        watch **pp = &f->watches[i];
        while (*pp) {
            watch *w = *pp;
            if (w->count == 0) {
                if (w->sub)
                    v[n++] = (sub_change){w->build, w->step, w->sub};
                *pp = w->next;
                json_decref(w->seen);
                free(w);
                f->n_watches--;
                continue;
            }
            if (!w->sub)
                v[n++] = (sub_change){w->build, w->step, NULL};
            pp = &w->next;
        }
    }
    pthread_mutex_unlock(&f->mu);
    char subject[LS_FANOUT_SUBJECT_MAX];
    natsSubscription *ssub = NULL;
    if (f->db_only)
        n = 0; /* nothing to subscribe: watches are only freed here */
    if (!server_sub && !f->db_only) {
        ls_fanout_subject(subject, LS_FANOUT_SERVER_EVENT, 0, 0);
        if (natsConnection_Subscribe(&ssub, f->nc, subject, on_msg, f) != NATS_OK)
            ssub = NULL; /* again when NATS (re)connects */
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i].old) {
            natsSubscription_Unsubscribe(v[i].old);
            natsSubscription_Destroy(v[i].old);
            atomic_fetch_sub(&f->subscriptions, 1);
            v[i].old = NULL;
            continue;
        }
        ls_fanout_subject(subject, v[i].step ? LS_FANOUT_STEP_ALL : LS_FANOUT_BUILD_EVENT,
                          v[i].build, v[i].step);
        if (natsConnection_Subscribe(&v[i].old, f->nc, subject, on_msg, f) != NATS_OK)
            v[i].old = NULL; /* again when NATS (re)connects; the poller covers it */
    }
    pthread_mutex_lock(&f->mu);
    if (ssub) {
        f->server_sub = ssub;
        atomic_fetch_add(&f->subscriptions, 1);
    }
    for (size_t i = 0; i < n; i++) {
        if (!v[i].old)
            continue;
        /* the watch is still there (only this thread frees watches); if it
         * lost its followers meanwhile, the next sync unsubscribes */
        watch *w = ls_fanout_watch_find(f, v[i].build, v[i].step);
        if (!w || w->sub) { /* cannot happen; never leak a subscription */
            natsSubscription_Destroy(v[i].old);
            continue;
        }
        w->sub = v[i].old;
        atomic_fetch_add(&f->subscriptions, 1);
        if (w->count == 0)
            f->subs_dirty = true;
    }
    free(v);
}

static void *pub_main(void *arg)
{
    ls_fanout *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->head && !f->subs_dirty && !f->stop)
            pthread_cond_wait(&f->pub_cond, &f->mu);
        if (f->subs_dirty) {
            f->subs_dirty = false;
            sync_subscriptions(f);
        }
        pub_msg *batch = f->head;
        f->head = f->tail = NULL;
        f->queued_bytes = 0;
        bool stop = f->stop;
        pthread_mutex_unlock(&f->mu);
        while (batch) {
            pub_msg *next = batch->next;
            if (natsConnection_Publish(f->nc, batch->subject, batch->data, (int)batch->len) ==
                NATS_OK)
                atomic_fetch_add(&f->published, 1);
            else
                atomic_fetch_add(&f->dropped, 1); /* e.g. the reconnect buffer is full */
            free(batch);
            batch = next;
        }
        pthread_mutex_lock(&f->mu);
        if (stop && !f->head)
            break;
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* ---- watching ------------------------------------------------------------------- */

static void watch_change(ls_fanout *f, int64_t build, int step, int delta)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    watch *w = ls_fanout_watch_find(f, build, step);
    if (!w && delta > 0) {
        size_t b = ((uint64_t)build * 31u + (unsigned)step) % WATCH_BUCKETS;
        w = ls_xcalloc(1, sizeof(*w));
        w->build = build;
        w->step = step;
        w->next = f->watches[b];
        f->watches[b] = w;
        f->n_watches++;
    }
    if (w) {
        int before = w->count;
        w->count += delta;
        if (w->count < 0)
            w->count = 0;
        if ((before == 0) != (w->count == 0)) {
            /* a new follower: one read at --remote-poll-interval covers
             * what was sent before the subscription was made */
            if (before == 0)
                f->behind = true;
            f->subs_dirty = true;
            pthread_cond_signal(&f->pub_cond);
            pthread_cond_signal(&f->poll_cond);
        }
    }
    pthread_mutex_unlock(&f->mu);
}

void ls_fanout_watch_step(ls_fanout *f, int64_t build, int step)
{
    watch_change(f, build, step, 1);
}

void ls_fanout_unwatch_step(ls_fanout *f, int64_t build, int step)
{
    watch_change(f, build, step, -1);
}

void ls_fanout_watch_build(ls_fanout *f, int64_t build)
{
    watch_change(f, build, 0, 1);
}

void ls_fanout_unwatch_build(ls_fanout *f, int64_t build)
{
    watch_change(f, build, 0, -1);
}

void ls_fanout_note_build(ls_fanout *f, int64_t build, json_t *obj)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    watch *w = ls_fanout_watch_find(f, build, 0);
    if (w && !w->seen)
        w->seen = seen_of(obj);
    pthread_mutex_unlock(&f->mu);
}

/* ---- life cycle ---------------------------------------------------------------------- */

int ls_fanout_start(ls_server *srv, ls_fanout **ret, char *err, size_t errlen)
{
    ls_fanout *f = ls_xcalloc(1, sizeof(*f));
    f->srv = srv;
    pthread_mutex_init(&f->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->pub_cond, &ca);
    pthread_cond_init(&f->poll_cond, &ca);
    pthread_condattr_destroy(&ca);
    int rc = -EINVAL;
    f->list_open = json_object();
    /* what the builds list poller starts from: the newest builds (as many as
     * --events-backlog) and which of them have not ended */
    ls_build_info *v = NULL;
    size_t nv = 0;
    if (ls_store_list_builds(srv->store, 0, (size_t)srv->cfg.events_backlog, &v, &nv) == 0) {
        for (size_t i = nv; i-- > 0;) {
            json_t *b = ls_build_json(srv, &v[i], NULL, 0);
            ls_fanout_note_listed(f, b);
            json_decref(b);
        }
        free(v);
    }
    f->db_only = !srv->cfg.nats_url || !*srv->cfg.nats_url;
    if (f->db_only) {
        fprintf(stderr, "logstream server: PostgreSQL without --nats: followers of steps streamed "
                        "to other instances on this database read it every "
                        "--remote-poll-interval (give every instance --nats for live lines)\n");
        goto threads;
    }
    char **urls = NULL;
    size_t n_urls = 0;
    if (ls_fanout_urls_parse(srv->cfg.nats_url, &urls, &n_urls, err, errlen) < 0)
        goto fail;
    natsStatus s = natsOptions_Create(&f->opts);
    if (s == NATS_OK)
        s = natsOptions_SetServers(f->opts, (const char **)urls, (int)n_urls);
    ls_fanout_urls_free(urls, n_urls);
    if (s != NATS_OK) {
        snprintf(err, errlen,
                 "--nats must be a NATS URL such as nats://127.0.0.1:4222 or a comma-separated "
                 "list of them: %s",
                 natsStatus_GetText(s));
        goto fail;
    }
    const ls_server_config *c = &srv->cfg;
    s = natsOptions_SetName(f->opts, "logstream server");
    if (s == NATS_OK)
        s = natsOptions_SetAllowReconnect(f->opts, true);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(f->opts, -1); /* for ever */
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(f->opts, c->nats_reconnect_wait_ms);
    if (s == NATS_OK)
        s = natsOptions_SetRetryOnFailedConnect(f->opts, true, on_connected, f);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(f->opts, on_disconnected, f);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(f->opts, on_reconnected, f);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(f->opts, on_nats_error, f);
    if (s == NATS_OK)
        s = natsOptions_SetNoEcho(f->opts, true); /* our own lines are here already */
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap(f->opts, true); /* from our own thread: lowest latency */
    if (s == NATS_OK)
        s = natsOptions_UseGlobalMessageDelivery(f->opts, true); /* not a thread per step */
    if (s == NATS_OK)
        s = natsOptions_SetReconnectBufSize(f->opts, (int)c->nats_max_pending);
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(f->opts, 5000);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(f->opts, 2);
    if (s != NATS_OK) {
        snprintf(err, errlen, "cannot set up NATS: %s", natsStatus_GetText(s));
        goto fail;
    }
    s = natsConnection_Connect(&f->nc, f->opts);
    if (s == NATS_OK) {
        on_connected(f->nc, f);
    } else if (s == NATS_NOT_YET_CONNECTED) {
        fprintf(stderr, "logstream server: NATS (--nats) is not reachable yet; connecting in "
                        "the background, meanwhile followers of other instances' steps read the "
                        "database\n");
    } else {
        snprintf(err, errlen,
                 "--nats: cannot connect to NATS (%s); give a URL such as nats://127.0.0.1:4222 "
                 "(or a comma-separated list)",
                 natsStatus_GetText(s));
        goto fail;
    }
threads:
    f->subs_dirty = true; /* the publisher thread subscribes logstream.events first */
    rc = -pthread_create(&f->pub_thread, NULL, pub_main, f);
    if (rc == 0) {
        f->pub_started = true;
        rc = -pthread_create(&f->poll_thread, NULL, ls_fanout_poll_main, f);
    }
    if (rc < 0) {
        snprintf(err, errlen, "cannot start a thread: %s", strerror(-rc));
        goto fail;
    }
    f->poll_started = true;
    *ret = f;
    return 0;
fail:
    ls_fanout_stop(f);
    return rc;
}

void ls_fanout_stop(ls_fanout *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    pthread_cond_broadcast(&f->pub_cond);
    pthread_cond_broadcast(&f->poll_cond);
    pthread_mutex_unlock(&f->mu);
    if (f->pub_started)
        pthread_join(f->pub_thread, NULL);
    if (f->poll_started)
        pthread_join(f->poll_thread, NULL);
    for (size_t i = 0; i < WATCH_BUCKETS; i++) {
        while (f->watches[i]) {
            watch *w = f->watches[i];
            f->watches[i] = w->next;
            if (w->sub) {
                natsSubscription_Unsubscribe(w->sub);
                natsSubscription_Destroy(w->sub);
            }
            json_decref(w->seen);
            free(w);
        }
    }
    atomic_store(&f->closing, true);
    if (f->db_only)
        goto freed;
    if (f->server_sub) {
        natsSubscription_Unsubscribe(f->server_sub);
        natsSubscription_Destroy(f->server_sub);
    }
    if (f->nc) {
        natsConnection_Close(f->nc);
        natsConnection_Destroy(f->nc);
    }
    natsOptions_Destroy(f->opts);
    /* waits for the library's threads, so no callback runs after this */
    nats_CloseAndWait(5000);
freed:
    while (f->head) {
        pub_msg *m = f->head;
        f->head = m->next;
        free(m);
    }
    json_decref(f->list_open);
    pthread_cond_destroy(&f->pub_cond);
    pthread_cond_destroy(&f->poll_cond);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

void ls_fanout_render_metrics(ls_fanout *f, ls_buf *out)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    size_t queued = f->queued_bytes, watches = f->n_watches;
    pthread_mutex_unlock(&f->mu);
    if (f->db_only)
        goto poller;
    ls_metrics_gauge(out, "logstream_nats_connected", "1 while connected to NATS (--nats), else 0.",
                     atomic_load(&f->connected) ? 1 : 0);
    ls_metrics_counter(out, "logstream_nats_published_total",
                       "Messages (line batches, status changes, events) published to NATS.",
                       atomic_load(&f->published));
    ls_metrics_counter(
        out, "logstream_nats_dropped_total",
        "Messages not published (queue over --nats-max-pending, or refused by NATS).",
        atomic_load(&f->dropped));
    ls_metrics_gauge(out, "logstream_nats_queue_bytes", "Bytes queued for publishing to NATS.",
                     (int64_t)queued);
    ls_metrics_counter(out, "logstream_nats_received_total", "Messages received from NATS.",
                       atomic_load(&f->received));
    ls_metrics_counter(out, "logstream_nats_received_lines_total",
                       "Lines of other instances appended to live steps from NATS.",
                       atomic_load(&f->received_lines));
    ls_metrics_counter(
        out, "logstream_nats_gaps_total",
        "NATS line messages that did not follow on (lost messages): read from the database.",
        atomic_load(&f->gaps));
    ls_metrics_counter(out, "logstream_nats_disconnects_total",
                       "Times the NATS connection was lost.", atomic_load(&f->disconnects));
    ls_metrics_counter(out, "logstream_nats_reconnects_total",
                       "Times the NATS connection came back.", atomic_load(&f->reconnects));
    ls_metrics_gauge(out, "logstream_nats_subscriptions",
                     "NATS subscriptions (followed steps and builds).",
                     (int64_t)atomic_load(&f->subscriptions));
poller:
    ls_metrics_gauge(out, "logstream_fanout_watches", "Steps and builds followed here.",
                     (int64_t)watches);
    ls_metrics_counter(
        out, "logstream_remote_polls_total",
        "Database reads for followed steps and builds of other instances (and for the "
        "builds list while NATS is down).",
        atomic_load(&f->polls));
    ls_metrics_counter(out, "logstream_remote_poll_updates_total",
                       "Polls that found lines, a status or an event that NATS had not delivered.",
                       atomic_load(&f->poll_refreshes));
}
