/* links: worker mask common */
/* The uploader against a small in-process HTTP server that implements the
 * ingest contract of docs/api.md (durable_seq, duplicates ignored, 409 on a
 * gap) and injects faults: connections cut mid-body (losing what was not yet
 * durable), 4xx answers, chunked vs Content-Length checks. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/record.h"
#include "common/timeutil.h"
#include "worker/spool.h"
#include "worker/uploader.h"

/* ---- fake server ---- */

typedef struct fake_server {
    int listen_fd;
    int port;
    pthread_t thread;
    pthread_mutex_t lock;
    /* The stored log of the one stream under test. */
    uint64_t held_seq;
    uint64_t durable_seq;
    uint64_t durable_bytes;
    uint64_t held_bytes;
    ls_buf log; /* "text\n" per held line */
    size_t log_len_at_durable;
    /* Observations. */
    int stream_posts;
    int chunked_posts;
    int length_posts;
    int heartbeats;
    int duplicates;
    char patches[8][256];
    uint64_t held_at_patch[8];
    int n_patches;
    /* Faults. */
    int cut_after_records; /* > 0: cut the connection after this many records of one body */
    int cuts_left;
    int answer_400;     /* answer every stream POST with 400 */
    int buffer_chunked; /* like a buffering proxy: apply a chunked body only at its end */
    /* Durability check: every record received must already be in this file. */
    char spool_path[256];
    uint64_t spool_checks;
    uint64_t not_in_spool; /* records received before the worker had written them */
} fake_server;

typedef struct conn {
    fake_server *srv;
    int fd;
    char buf[65536];
    size_t len, off;
} conn;

static int conn_fill(conn *c)
{
    if (c->off > 0) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (c->len == sizeof(c->buf))
        return -1;
    ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
    if (n <= 0)
        return -1;
    c->len += (size_t)n;
    return 0;
}

/* Reads one CRLF-terminated line (without CRLF) into out. */
static int conn_line(conn *c, char *out, size_t n)
{
    for (;;) {
        char *end = memmem(c->buf + c->off, c->len - c->off, "\r\n", 2);
        if (end) {
            size_t l = (size_t)(end - (c->buf + c->off));
            if (l >= n)
                return -1;
            memcpy(out, c->buf + c->off, l);
            out[l] = '\0';
            c->off += l + 2;
            return 0;
        }
        if (conn_fill(c) < 0)
            return -1;
    }
}

static int conn_bytes(conn *c, ls_buf *out, size_t n)
{
    while (n > 0) {
        if (c->off == c->len && conn_fill(c) < 0)
            return -1;
        size_t take = c->len - c->off < n ? c->len - c->off : n;
        ls_buf_append(out, c->buf + c->off, take);
        c->off += take;
        n -= take;
    }
    return 0;
}

static void respond(conn *c, int status, const char *body)
{
    char head[256];
    int n =
        snprintf(head, sizeof(head),
                 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                 status, strlen(body));
    if (write(c->fd, head, (size_t)n) < 0 || write(c->fd, body, strlen(body)) < 0)
        return;
}

/* Number of records in the spool file at path (0 when it is missing). */
static uint64_t spool_file_records(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    uint64_t n = 0;
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof(buf), f)) > 0) {
        for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + k - p))); p++)
            n++;
    }
    fclose(f);
    return n;
}

/* Applies complete records in pending; returns -1 to cut the connection,
 * 409 on a gap, 400 on a bad record, 0 otherwise. */
static int apply_records(fake_server *s, ls_buf *pending, int *records_this_body, uint64_t *expect)
{
    size_t pos = 0;
    int rc = 0;
    uint64_t max_seq = 0;
    if (pending->len == 0)
        return 0;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        char *nl = memchr(pending->data + pos, '\n', pending->len - pos);
        if (!nl)
            break;
        ls_line line;
        const char *err;
        size_t len = (size_t)(nl - (pending->data + pos));
        if (ls_record_parse(pending->data + pos, len, 1 << 20, &line, &err) < 0) {
            rc = 400;
            break;
        }
        pos += len + 1;
        if (line.stream == LS_STREAM_HEARTBEAT) {
            s->heartbeats++;
            continue;
        }
        if (line.seq > max_seq)
            max_seq = line.seq;
        if (s->cut_after_records > 0 && s->cuts_left > 0 &&
            ++*records_this_body > s->cut_after_records) {
            /* Crash: lose everything not durable. */
            s->cuts_left--;
            s->held_seq = s->durable_seq;
            s->held_bytes = s->durable_bytes;
            s->log.len = s->log_len_at_durable;
            rc = -1;
            break;
        }
        if (line.seq <= s->held_seq) {
            s->duplicates++;
            continue;
        }
        if (line.seq != s->held_seq + 1) {
            *expect = s->held_seq + 1;
            rc = 409;
            break;
        }
        s->held_seq = line.seq;
        s->held_bytes += line.len;
        ls_buf_append(&s->log, line.text, line.len);
        ls_buf_putc(&s->log, '\n');
    }
    if (s->spool_path[0] && max_seq > 0) {
        s->spool_checks++;
        if (spool_file_records(s->spool_path) < max_seq)
            s->not_in_spool++;
    }
    pthread_mutex_unlock(&s->lock);
    ls_buf_consume(pending, pos);
    return rc;
}

static void make_durable(fake_server *s)
{
    pthread_mutex_lock(&s->lock);
    s->durable_seq = s->held_seq;
    s->durable_bytes = s->held_bytes;
    s->log_len_at_durable = s->log.len;
    pthread_mutex_unlock(&s->lock);
}

static void durable_json(fake_server *s, char *out, size_t n)
{
    pthread_mutex_lock(&s->lock);
    snprintf(out, n, "{\"durable_seq\":%llu,\"received_seq\":%llu,\"bytes\":%llu}",
             (unsigned long long)s->durable_seq, (unsigned long long)s->held_seq,
             (unsigned long long)s->durable_bytes);
    pthread_mutex_unlock(&s->lock);
}

/* Handles one POST .../stream body. Returns -1 when the connection must close. */
static int handle_stream_post(conn *c, bool chunked, size_t content_length)
{
    fake_server *s = c->srv;
    ls_buf pending = LS_BUF_INIT;
    int records = 0, rc = 0;
    uint64_t expect = 0;
    pthread_mutex_lock(&s->lock);
    s->stream_posts++;
    s->chunked_posts += chunked;
    s->length_posts += !chunked;
    bool bad = s->answer_400;
    pthread_mutex_unlock(&s->lock);
    for (;;) {
        size_t n = content_length;
        if (chunked) {
            char line[64];
            if (conn_line(c, line, sizeof(line)) < 0) {
                rc = -1;
                break;
            }
            n = strtoul(line, NULL, 16);
        }
        if (conn_bytes(c, &pending, n) < 0) {
            rc = -1;
            break;
        }
        if (chunked) {
            char crlf[8];
            if (conn_line(c, crlf, sizeof(crlf)) < 0) {
                rc = -1;
                break;
            }
        }
        bool hold = chunked && n > 0 && s->buffer_chunked;
        if (!bad && rc == 0 && !hold)
            rc = apply_records(s, &pending, &records, &expect);
        if (rc == -1 || n == 0 || !chunked)
            break;
    }
    ls_buf_free(&pending);
    if (rc == -1)
        return -1;
    if (bad) {
        respond(c, 400, "{\"error\":\"record 1 is malformed\",\"code\":\"bad_record\"}");
        return 0;
    }
    if (rc == 409) {
        char body[128];
        snprintf(body, sizeof(body), "{\"code\":\"seq_gap\",\"expected\":%llu}",
                 (unsigned long long)expect);
        respond(c, 409, body);
        return -1;
    }
    make_durable(s);
    char body[256];
    durable_json(s, body, sizeof(body));
    respond(c, 200, body);
    return 0;
}

static void *conn_thread(void *arg)
{
    conn *c = arg;
    for (;;) {
        char reqline[512], hdr[1024];
        if (conn_line(c, reqline, sizeof(reqline)) < 0)
            break;
        bool chunked = false;
        size_t clen = 0;
        for (;;) {
            if (conn_line(c, hdr, sizeof(hdr)) < 0)
                goto out;
            if (!hdr[0])
                break;
            if (strncasecmp(hdr, "Transfer-Encoding: chunked", 26) == 0)
                chunked = true;
            if (strncasecmp(hdr, "Content-Length:", 15) == 0)
                clen = strtoul(hdr + 15, NULL, 10);
        }
        if (strncmp(reqline, "GET ", 4) == 0 && strstr(reqline, "/stream")) {
            char body[256];
            durable_json(c->srv, body, sizeof(body));
            respond(c, 200, body);
        } else if (strncmp(reqline, "POST ", 5) == 0 && strstr(reqline, "/stream")) {
            if (handle_stream_post(c, chunked, clen) < 0)
                break;
        } else if (strncmp(reqline, "PATCH ", 6) == 0) {
            ls_buf body = LS_BUF_INIT;
            if (conn_bytes(c, &body, clen) < 0)
                break;
            fake_server *s = c->srv;
            pthread_mutex_lock(&s->lock);
            if (s->n_patches < 8) {
                snprintf(s->patches[s->n_patches], sizeof(s->patches[0]), "%s %s",
                         strtok(reqline + 6, " "), body.data ? body.data : "");
                s->held_at_patch[s->n_patches] = s->held_seq;
                s->n_patches++;
            }
            pthread_mutex_unlock(&s->lock);
            ls_buf_free(&body);
            respond(c, 200, "{}");
        } else {
            respond(c, 404, "{\"error\":\"no such route\"}");
        }
    }
out:
    close(c->fd);
    free(c);
    return NULL;
}

static void *accept_thread(void *arg)
{
    fake_server *s = arg;
    for (;;) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0)
            break;
        conn *c = ls_xcalloc(1, sizeof(*c));
        c->srv = s;
        c->fd = fd;
        pthread_t t;
        pthread_create(&t, NULL, conn_thread, c);
        pthread_detach(t);
    }
    return NULL;
}

static fake_server *fake_start(void)
{
    fake_server *s = ls_xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->listen_fd, 16), 0);
    socklen_t al = sizeof(a);
    getsockname(s->listen_fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, accept_thread, s);
    return s;
}

static void fake_stop(fake_server *s)
{
    shutdown(s->listen_fd, SHUT_RDWR);
    close(s->listen_fd);
    pthread_join(s->thread, NULL);
    /* Connection threads are detached; give them a moment to see EOF. */
    usleep(100 * 1000);
    ls_buf_free(&s->log);
    free(s);
}

/* ---- helpers ---- */

static char spool_dir[64];
static int notices;

static void count_notice(void *userdata, const char *msg)
{
    (void)userdata;
    (void)msg;
    notices++;
}

static ls_uploader *make_uploader(fake_server *s, ls_transport t, int64_t heartbeat_ms)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", s->port);
    ls_uploader_options o = {
        .server = url,
        .transport = t,
        .heartbeat_ms = heartbeat_ms,
        .batch_interval_ms = 50,
        .batch_max_bytes = 64 * 1024,
        .backoff_base_ms = 10,
        .backoff_max_ms = 50,
        .notice = count_notice,
    };
    ls_uploader *u;
    assert_int_equal(ls_uploader_new(&o, &u), 0);
    return u;
}

static ls_spool *last_spool; /* the spool of the last open_stream */

static ls_upload_stream *open_stream(ls_uploader *u, const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", spool_dir, name);
    ls_spool *sp;
    assert_int_equal(ls_spool_open(path, NULL, &sp), 0);
    last_spool = sp;
    ls_upload_stream *st;
    assert_int_equal(ls_uploader_open_stream(u, 1, 1, sp, &st), 0);
    return st;
}

/* Pushes lines "line N" for N in [first, last]; appends them to expect. */
static void push_lines(ls_upload_stream *st, uint64_t first, uint64_t last, ls_buf *expect)
{
    for (uint64_t i = first; i <= last; i++) {
        char text[64];
        int n = snprintf(text, sizeof(text), "line %llu", (unsigned long long)i);
        ls_line line = {
            .seq = i, .ts_ms = ls_now_ms(), .stream = 'o', .len = (uint32_t)n, .text = text};
        assert_int_equal(ls_upload_stream_push(st, &line), 0);
        ls_buf_append(expect, text, (size_t)n);
        ls_buf_putc(expect, '\n');
    }
}

static int setup(void **state)
{
    (void)state;
    strcpy(spool_dir, "/tmp/test_uploader.XXXXXX");
    notices = 0;
    return mkdtemp(spool_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", spool_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void assert_log_equal(fake_server *s, const ls_buf *expect)
{
    pthread_mutex_lock(&s->lock);
    assert_int_equal(s->log.len, expect->len);
    assert_memory_equal(s->log.data, expect->data, expect->len);
    pthread_mutex_unlock(&s->lock);
}

/* ---- tests ---- */

static void test_stream_delivers_everything_then_patches(void **state)
{
    (void)state;
    fake_server *s = fake_start();
    snprintf(s->spool_path, sizeof(s->spool_path), "%s/a.spool", spool_dir);
    ls_uploader *u = make_uploader(s, LS_TRANSPORT_STREAM, 0);
    ls_upload_stream *st = open_stream(u, "a.spool");
    ls_buf expect = LS_BUF_INIT;
    push_lines(st, 1, 20000, &expect);
    usleep(50 * 1000);
    push_lines(st, 20001, 30000, &expect);
    ls_upload_stream_close(st, "{\"status\":\"success\",\"exit_code\":0}");
    assert_int_equal(ls_uploader_drain(u, ls_mono_ms() + 20000), 0);
    assert_log_equal(s, &expect);
    assert_int_equal(s->n_patches, 1);
    assert_string_equal(s->patches[0],
                        "/api/v1/builds/1/steps/1 {\"status\":\"success\",\"exit_code\":0}");
    assert_int_equal(s->held_at_patch[0], 30000);
    assert_true(s->chunked_posts >= 1);
    assert_int_equal(s->length_posts, 0);
    ls_uploader_stats st_;
    ls_uploader_get_stats(u, &st_);
    assert_int_equal(st_.confirmed, 1);
    /* Nothing reached the server before it was in the spool file. */
    assert_true(s->spool_checks >= 1);
    assert_int_equal(s->not_in_spool, 0);
    /* No failure, so no resend: the lines went out from memory. */
    ls_spool_stats sps;
    ls_spool_get_stats(last_spool, &sps);
    assert_true(sps.bytes_from_memory > 0);
    /* A confirmed spool is deleted (by the unlinker thread, which
     * ls_uploader_free waits for). */
    ls_uploader_free(u);
    char path[128];
    snprintf(path, sizeof(path), "%s/a.spool", spool_dir);
    assert_int_equal(access(path, F_OK), -1);
    fake_stop(s);
    ls_buf_free(&expect);
}

static void test_cut_connections_resume_from_durable(void **state)
{
    (void)state;
    fake_server *s = fake_start();
    s->cut_after_records = 3000;
    s->cuts_left = 3;
    snprintf(s->spool_path, sizeof(s->spool_path), "%s/b.spool", spool_dir);
    ls_uploader *u = make_uploader(s, LS_TRANSPORT_STREAM, 0);
    ls_upload_stream *st = open_stream(u, "b.spool");
    ls_buf expect = LS_BUF_INIT;
    /* more than the spool keeps in memory (its newest write batch), so that
     * the resends read the file back */
    push_lines(st, 1, 100000, &expect);
    ls_upload_stream_close(st, "{\"status\":\"failure\",\"exit_code\":3}");
    assert_int_equal(ls_uploader_drain(u, ls_mono_ms() + 30000), 0);
    assert_log_equal(s, &expect);
    assert_int_equal(s->cuts_left, 0);
    assert_true(s->stream_posts >= 4);
    ls_uploader_stats stats;
    ls_uploader_get_stats(u, &stats);
    assert_true(stats.reconnects >= 3);
    assert_int_equal(stats.confirmed, 1);
    assert_true(notices >= 1);
    assert_int_equal(s->held_at_patch[0], 100000);
    assert_int_equal(s->not_in_spool, 0);
    /* The resends after the cuts read the file back. */
    ls_spool_stats sps;
    ls_spool_get_stats(last_spool, &sps);
    assert_true(sps.bytes_from_file > 0);
    ls_uploader_free(u);
    fake_stop(s);
    ls_buf_free(&expect);
}

static void test_batch_transport_uses_content_length(void **state)
{
    (void)state;
    fake_server *s = fake_start();
    ls_uploader *u = make_uploader(s, LS_TRANSPORT_BATCH, 0);
    ls_upload_stream *st = open_stream(u, "c.spool");
    ls_buf expect = LS_BUF_INIT;
    push_lines(st, 1, 15000, &expect);
    ls_upload_stream_close(st, NULL);
    assert_int_equal(ls_uploader_drain(u, ls_mono_ms() + 20000), 0);
    assert_log_equal(s, &expect);
    assert_int_equal(s->chunked_posts, 0);
    /* 15000 records of ~25 bytes in bodies of at most 64 KiB. */
    assert_true(s->length_posts >= 5);
    assert_int_equal(s->n_patches, 0);
    ls_uploader_free(u);
    fake_stop(s);
    ls_buf_free(&expect);
}

static void test_requests_rotate_by_size_and_age(void **state)
{
    (void)state;
    fake_server *s = fake_start();
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", s->port);
    ls_uploader_options o = {.server = url,
                             .transport = LS_TRANSPORT_STREAM,
                             .rotate_bytes = 8192,
                             .rotate_age_ms = 200,
                             .backoff_base_ms = 10,
                             .backoff_max_ms = 50,
                             .notice = count_notice};
    ls_uploader *u;
    assert_int_equal(ls_uploader_new(&o, &u), 0);
    ls_upload_stream *st = open_stream(u, "r.spool");
    ls_buf expect = LS_BUF_INIT;
    /* About 400 KB of records: a new request at least every 64 KiB refill. */
    push_lines(st, 1, 20000, &expect);
    int64_t until = ls_mono_ms() + 10000;
    uint64_t durable = 0;
    while (ls_mono_ms() < until && durable < 20000) {
        usleep(20 * 1000);
        pthread_mutex_lock(&s->lock);
        durable = s->durable_seq;
        pthread_mutex_unlock(&s->lock);
    }
    /* Without closing: only rotation can have ended those requests. */
    assert_int_equal(durable, 20000);
    int posts_before_idle = s->stream_posts;
    assert_true(posts_before_idle >= 5);
    /* Idle: the age limit still rotates the open request. */
    usleep(700 * 1000);
    pthread_mutex_lock(&s->lock);
    int posts_after_idle = s->stream_posts;
    pthread_mutex_unlock(&s->lock);
    assert_true(posts_after_idle >= posts_before_idle + 2);
    assert_int_equal(notices, 0);
    ls_upload_stream_close(st, NULL);
    assert_int_equal(ls_uploader_drain(u, ls_mono_ms() + 10000), 0);
    assert_log_equal(s, &expect);
    assert_int_equal(s->duplicates, 0);
    ls_uploader_free(u);
    fake_stop(s);
    ls_buf_free(&expect);
}

static void test_heartbeats_while_silent(void **state)
{
    (void)state;
    fake_server *s = fake_start();
    snprintf(s->spool_path, sizeof(s->spool_path), "%s/d.spool", spool_dir);
    ls_uploader *u = make_uploader(s, LS_TRANSPORT_STREAM, 100);
    ls_upload_stream *st = open_stream(u, "d.spool");
    ls_buf expect = LS_BUF_INIT;
    push_lines(st, 1, 1, &expect);
    usleep(700 * 1000);
    /* A live line: written to the file, then sent from memory. */
    ls_spool_stats sps;
    ls_spool_get_stats(last_spool, &sps);
    assert_true(sps.writes >= 1);
    assert_int_equal(sps.bytes_from_file, 0);
    assert_true(sps.bytes_from_memory > 0);
    pthread_mutex_lock(&s->lock);
    int hb = s->heartbeats;
    int posts = s->stream_posts;
    pthread_mutex_unlock(&s->lock);
    assert_true(hb >= 3);
    assert_int_equal(posts, 1);
    ls_upload_stream_close(st, NULL);
    assert_int_equal(ls_uploader_drain(u, ls_mono_ms() + 10000), 0);
    assert_log_equal(s, &expect);
    assert_true(s->spool_checks >= 1);
    assert_int_equal(s->not_in_spool, 0);
    ls_uploader_free(u);
    fake_stop(s);
    ls_buf_free(&expect);
}

static void test_bad_record_answer_fails_stream_and_keeps_spool(void **state)
{
    (void)state;
    fake_server *s = fake_start();
    s->answer_400 = 1;
    ls_uploader *u = make_uploader(s, LS_TRANSPORT_STREAM, 0);
    ls_upload_stream *st = open_stream(u, "e.spool");
    ls_buf expect = LS_BUF_INIT;
    push_lines(st, 1, 10, &expect);
    ls_upload_stream_close(st, "{\"status\":\"success\",\"exit_code\":0}");
    assert_int_equal(ls_uploader_drain(u, ls_mono_ms() + 10000), 0);
    ls_uploader_stats stats;
    ls_uploader_get_stats(u, &stats);
    assert_int_equal(stats.failed, 1);
    assert_int_equal(stats.confirmed, 0);
    assert_true(notices >= 1);
    /* The step still ends on the server; the spool stays for inspection. */
    assert_int_equal(s->n_patches, 1);
    char path[128];
    snprintf(path, sizeof(path), "%s/e.spool", spool_dir);
    assert_int_equal(access(path, F_OK), 0);
    ls_uploader_free(u);
    fake_stop(s);
    ls_buf_free(&expect);
}

/* Control requests queued together go out one after the other without a
 * pause: the second one's wake is taken while the first runs, and the thread
 * used to sleep its longest poll (1 s) before starting it. */
static void test_queued_control_requests_go_out_back_to_back(void **state)
{
    (void)state;
    fake_server *s = fake_start();
    ls_uploader *u = make_uploader(s, LS_TRANSPORT_STREAM, 0);
    int64_t t0 = ls_mono_ms();
    for (int i = 1; i <= 4; i++) {
        char body[64];
        snprintf(body, sizeof(body), "{\"status\":\"running\",\"n\":%d}", i);
        ls_uploader_request(u, "PATCH", "/api/v1/builds/1/steps/1", body);
    }
    assert_int_equal(ls_uploader_drain(u, ls_mono_ms() + 10000), 0);
    int64_t took = ls_mono_ms() - t0;
    assert_int_equal(s->n_patches, 4);
    assert_string_equal(s->patches[3], "/api/v1/builds/1/steps/1 {\"status\":\"running\",\"n\":4}");
    /* Four loopback requests take milliseconds; each lost wake cost 1 s. */
    if (took >= 900)
        fail_msg("4 queued control requests took %lld ms", (long long)took);
    ls_uploader_free(u);
    fake_stop(s);
}

static void test_server_down_then_up(void **state)
{
    (void)state;
    /* Reserve a port, close it: connections are refused until the server starts. */
    fake_server *probe = fake_start();
    int port = probe->port;
    fake_stop(probe);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    ls_uploader_options o = {
        .server = url, .backoff_base_ms = 10, .backoff_max_ms = 100, .notice = count_notice};
    ls_uploader *u;
    assert_int_equal(ls_uploader_new(&o, &u), 0);
    ls_upload_stream *st = open_stream(u, "f.spool");
    ls_buf expect = LS_BUF_INIT;
    push_lines(st, 1, 500, &expect);
    ls_upload_stream_close(st, NULL);
    assert_int_equal(ls_uploader_drain(u, ls_mono_ms() + 500), -ETIMEDOUT);

    fake_server *s = ls_xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        /* Port taken meanwhile: nothing to test. */
        close(s->listen_fd);
        free(s);
        ls_uploader_free(u);
        ls_buf_free(&expect);
        skip();
    }
    listen(s->listen_fd, 16);
    s->port = port;
    pthread_create(&s->thread, NULL, accept_thread, s);
    assert_int_equal(ls_uploader_drain(u, ls_mono_ms() + 10000), 0);
    assert_log_equal(s, &expect);
    ls_uploader_free(u);
    fake_stop(s);
    ls_buf_free(&expect);
}

static void test_auto_switches_to_batch_when_stream_stalls(void **state)
{
    (void)state;
    fake_server *s = fake_start();
    s->buffer_chunked = 1;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", s->port);
    ls_uploader_options o = {.server = url,
                             .transport = LS_TRANSPORT_AUTO,
                             .stall_timeout_ms = 300,
                             .batch_interval_ms = 50,
                             .backoff_base_ms = 10,
                             .backoff_max_ms = 50,
                             .notice = count_notice};
    ls_uploader *u;
    assert_int_equal(ls_uploader_new(&o, &u), 0);
    ls_upload_stream *st = open_stream(u, "g.spool");
    ls_buf expect = LS_BUF_INIT;
    push_lines(st, 1, 100, &expect);
    /* The step is still running: only batches can make these lines durable. */
    int64_t until = ls_mono_ms() + 5000;
    uint64_t durable = 0;
    while (ls_mono_ms() < until && durable < 100) {
        usleep(50 * 1000);
        pthread_mutex_lock(&s->lock);
        durable = s->durable_seq;
        pthread_mutex_unlock(&s->lock);
    }
    assert_int_equal(durable, 100);
    ls_uploader_stats stats;
    ls_uploader_get_stats(u, &stats);
    assert_true(stats.batch_mode);
    assert_true(s->length_posts >= 1);
    assert_true(notices >= 1);
    push_lines(st, 101, 200, &expect);
    ls_upload_stream_close(st, NULL);
    assert_int_equal(ls_uploader_drain(u, ls_mono_ms() + 10000), 0);
    assert_log_equal(s, &expect);
    ls_uploader_free(u);
    fake_stop(s);
    ls_buf_free(&expect);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stream_delivers_everything_then_patches, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cut_connections_resume_from_durable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_transport_uses_content_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeats_while_silent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requests_rotate_by_size_and_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_record_answer_fails_stream_and_keeps_spool, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queued_control_requests_go_out_back_to_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_down_then_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_switches_to_batch_when_stream_stalls, setup,
                                        teardown),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return r;
}
