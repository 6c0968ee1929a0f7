/* forward: sends every line of the build, labelled with the build and step
 * and timestamped, to another service chosen by the settings: a Grafana Loki
 * push endpoint, a generic HTTP endpoint (NDJSON), syslog (RFC 5424 over TCP
 * with octet counting, or UDP) or a file. docs/plugins.md lists the settings.
 *
 * Timestamps: the host gives lines without a time, so each line is stamped
 * with the wall-clock time at which this plugin received it (nanoseconds,
 * made strictly increasing so that a receiver keeps the order and Loki never
 * drops two equal lines as duplicates).
 *
 * Threads and limits: process_line only appends the line (encoded as NDJSON
 * for the http and file targets, so the sender only writes) to a bounded
 * in-memory queue (max_buffer bytes, batches of batch_lines / batch_bytes);
 * a sender thread of its own sends batch after batch, in order, and retries a
 * failed batch with capped exponential backoff (src/common/backoff.h) until
 * it is delivered. So a slow or dead target never blocks the host's reading:
 * when the queue is full, process_line waits for room, the host's queue for
 * this plugin grows instead, and the host's circuit breaker stops the plugin
 * after --plugin-breaker-window, while the job goes on. At finalize the queue
 * is flushed for at most flush_timeout; lines still undelivered then are
 * reported as lost.
 *
 * Delivery: a batch is resent only when its delivery failed, so each line
 * arrives once unless an answer is lost after the target took the batch (an
 * HTTP timeout, a TCP connection that breaks after the send): then it may
 * arrive twice (HTTP) or be lost (TCP). NDJSON and syslog carry a per-step
 * "seq" so that a receiver can drop repeats. UDP is fire and forget: no
 * retries. */
#include "plugins/forward/forward.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/backoff.h"
#include "common/buf.h"
#include "common/flags.h"
#include "common/timeutil.h"
#include "plugins/forward/encode.h"
#include "pluginhost/http.h"

typedef enum { FW_LOKI, FW_HTTP, FW_SYSLOG, FW_FILE } fw_target;

static const char *const target_names[] = {"Loki", "HTTP endpoint", "syslog", "file"};

/* One batch: records packed in `data` (rec header + text), in order. */
typedef struct fw_rec_hdr {
    uint32_t step;
    uint32_t len;
    uint64_t seq;
    int64_t ts_ns;
} fw_rec_hdr;

typedef struct fw_batch {
    struct fw_batch *next;
    ls_buf data;
    size_t n;
    int64_t first_mono_ms; /* when its first line was queued */
    bool sending;          /* taken by the sender: no more appends */
} fw_batch;

typedef struct fw_settings {
    fw_target target;
    char *url;  /* loki / http */
    char *host; /* syslog */
    char *port; /* syslog */
    bool udp;   /* syslog */
    char *path; /* file */
    char **label_keys, **label_values;
    size_t n_labels;
    struct curl_slist *headers;
    int64_t batch_lines, batch_bytes, batch_wait_ms, max_buffer, timeout_ms, retry_min_ms,
        retry_max_ms, flush_timeout_ms, max_message;
    int facility;
    char *hostname, *app_name;
    bool replace_all;     /* replace_log: true */
    char **replace_steps; /* replace_log: [names] */
    size_t n_replace_steps;
    char *display; /* where, for the user: "Loki at http://host:3100" (no credentials) */
} fw_settings;

typedef struct forward {
    fw_settings s;
    /* labels */
    char *build;
    const char **step_ids, **step_names;
    uint64_t *step_lines; /* lines received per step */
    size_t n_steps;
    int64_t last_ts_ns;

    pthread_t sender;
    bool sender_started;
    pthread_mutex_t lock;
    pthread_cond_t space;    /* process_line waits for room */
    pthread_cond_t work;     /* the sender waits for a batch (or a retry time) */
    pthread_cond_t progress; /* finalize waits for the queue to empty */
    fw_batch *head, *tail;
    size_t queued_bytes;
    bool flushing; /* finalize: send partial batches at once */
    bool aborted;  /* give up: stop retrying, leave */

    /* counters, under lock */
    uint64_t delivered, lost, batches, retries, truncated;
    char last_error[256];
    /* for output() from the plugin thread: the sender's state changes */
    atomic_int failing; /* 1 while the target cannot be reached */
    int told_failing;   /* what the user was last told (plugin thread only) */

    fw_batch *spare; /* a sent batch kept for reuse (its buffer stays allocated), under lock */

    /* NDJSON targets (http, file): lines are encoded by process_line, on the
     * plugin's thread, so the sender only writes (two threads share the work) */
    bool pre_encoded;
    ls_buf *ndjson_labels; /* per step: "build":…,"step":…,"step_name":… */
    ls_buf ndjson_extra;   /* ,"labels":{…} or empty */
    ls_buf line_enc;       /* the line being encoded (plugin thread only) */

    /* the sender's connection state (sender thread only) */
    CURL *curl;
    struct curl_slist *curl_headers;
    char curl_err[CURL_ERROR_SIZE];
    int fd;             /* syslog socket or file */
    ls_buf enc;         /* the encoded batch, reused */
    ls_fw_record *recs; /* the batch's records, reused */
    size_t recs_cap;
} forward;

/* ---- settings ---- */

static int64_t setting_num(const ls_plugin_context *ctx, const char *key, bool duration, bool size,
                           int64_t def, int64_t min, int64_t max, int *rc)
{
    const char *v = ctx->setting(ctx, key);
    if (!v || !*v)
        return def;
    int64_t out = 0;
    int r;
    if (duration)
        r = ls_parse_duration_ms(v, &out);
    else if (size)
        r = ls_parse_size(v, &out);
    else {
        char *end = NULL;
        long long x = strtoll(v, &end, 10);
        r = end && *end == '\0' ? 0 : -EINVAL;
        out = x;
    }
    if (r < 0 || out < min || out > max) {
        ctx->output(ctx, "setting \"%s\" must be %s from %lld to %lld, not \"%s\"", key,
                    duration ? "a duration (250ms, 10s, 2m)"
                    : size   ? "a size (64KiB, 8MiB)"
                             : "a number",
                    (long long)min, (long long)max, v);
        *rc = -EINVAL;
        return def;
    }
    return out;
}

/* "scheme://user:pass@host/…" -> "scheme://host/…" for messages. */
static char *without_credentials(const char *url)
{
    const char *scheme = strstr(url, "://");
    const char *start = scheme ? scheme + 3 : url;
    const char *at = strchr(start, '@');
    const char *slash = strchr(start, '/');
    if (!at || (slash && at > slash))
        return ls_xstrdup(url);
    ls_buf b = LS_BUF_INIT;
    ls_buf_append(&b, url, (size_t)(start - url));
    ls_buf_puts(&b, at + 1);
    return ls_buf_steal(&b);
}

static int parse_object_strings(const ls_plugin_context *ctx, json_t *obj, const char *key,
                                char ***ret_keys, char ***ret_values, size_t *ret_n)
{
    json_t *o = json_object_get(obj, key);
    if (!o)
        return 0;
    if (!json_is_object(o)) {
        ctx->output(ctx, "setting \"%s\" must be an object of strings", key);
        return -EINVAL;
    }
    size_t n = json_object_size(o), i = 0;
    char **k = ls_xcalloc(n + 1, sizeof(*k)), **v = ls_xcalloc(n + 1, sizeof(*v));
    const char *name;
    json_t *val;
    json_object_foreach(o, name, val)
    {
        char num[64];
        const char *text = json_string_value(val);
        if (!text && (json_is_integer(val) || json_is_real(val) || json_is_boolean(val))) {
            char *dump = json_dumps(val, JSON_ENCODE_ANY);
            snprintf(num, sizeof(num), "%s", dump ? dump : "");
            free(dump);
            text = num;
        }
        if (!text) {
            ctx->output(ctx, "setting \"%s\": \"%s\" must be a string", key, name);
            for (size_t j = 0; j < i; j++) {
                free(k[j]);
                free(v[j]);
            }
            free(k);
            free(v);
            return -EINVAL;
        }
        k[i] = ls_xstrdup(name);
        v[i] = ls_xstrdup(text);
        i++;
    }
    *ret_keys = k;
    *ret_values = v;
    *ret_n = i;
    return 0;
}

static void settings_free(fw_settings *s)
{
    free(s->url);
    free(s->host);
    free(s->port);
    free(s->path);
    for (size_t i = 0; i < s->n_labels; i++) {
        free(s->label_keys[i]);
        free(s->label_values[i]);
    }
    free(s->label_keys);
    free(s->label_values);
    curl_slist_free_all(s->headers);
    free(s->hostname);
    free(s->app_name);
    free(s->display);
    for (size_t i = 0; i < s->n_replace_steps; i++)
        free(s->replace_steps[i]);
    free(s->replace_steps);
}

/* replace_log: true (every step and service), false, or a list of step and
 * service names (docs/forward.md). The worker reads it too, through
 * ls_forward_replaced_log(). */
static int parse_replace_log(const ls_plugin_context *ctx, json_t *obj, fw_settings *s)
{
    json_t *v = json_object_get(obj, "replace_log");
    if (!v || json_is_null(v) || json_is_boolean(v)) {
        s->replace_all = json_is_true(v);
        return 0;
    }
    size_t i;
    json_t *item;
    if (json_is_array(v)) {
        s->replace_steps = ls_xcalloc(json_array_size(v) + 1, sizeof(char *));
        json_array_foreach(v, i, item)
        {
            if (!json_is_string(item))
                break;
            s->replace_steps[s->n_replace_steps++] = ls_xstrdup(json_string_value(item));
        }
        if (s->n_replace_steps == json_array_size(v))
            return 0;
    }
    ctx->output(ctx, "setting \"replace_log\" must be true, false or a list of step names");
    return -EINVAL;
}

static bool replaces_step(const fw_settings *s, const char *name)
{
    if (s->replace_all)
        return true;
    for (size_t i = 0; i < s->n_replace_steps; i++)
        if (strcmp(s->replace_steps[i], name) == 0)
            return true;
    return false;
}

/* Reads the settings. Returns LS_PLUGIN_DECLINE when there is no target
 * (forward not configured), -EINVAL (after telling the user) when they are
 * wrong, 0 when fine. */
static int parse_settings(const ls_plugin_context *ctx, fw_settings *s)
{
    const char *target = ctx->setting(ctx, "target");
    int rc = 0;
    if (!target || !*target) {
        ctx->trace(ctx, "no \"target\" setting: nothing to forward to");
        return LS_PLUGIN_DECLINE;
    }
    if (strcmp(target, "loki") == 0)
        s->target = FW_LOKI;
    else if (strcmp(target, "http") == 0)
        s->target = FW_HTTP;
    else if (strcmp(target, "syslog") == 0)
        s->target = FW_SYSLOG;
    else if (strcmp(target, "file") == 0)
        s->target = FW_FILE;
    else {
        ctx->output(ctx, "setting \"target\" must be loki, http, syslog or file, not \"%s\"",
                    target);
        return -EINVAL;
    }
    const char *url = ctx->setting(ctx, "url");
    const char *address = ctx->setting(ctx, "address");
    const char *path = ctx->setting(ctx, "path");
    ls_buf display = LS_BUF_INIT;
    ls_buf_printf(&display, "%s at ", target_names[s->target]);
    switch (s->target) {
    case FW_LOKI:
    case FW_HTTP: {
        if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
            ctx->output(ctx, "target %s needs a \"url\" setting (http:// or https://)", target);
            ls_buf_free(&display);
            return -EINVAL;
        }
        ls_buf b = LS_BUF_INIT;
        ls_buf_puts(&b, url);
        /* Loki: a base URL gets the push path */
        const char *push = "/loki/api/v1/push";
        const char *after_host = strchr(url + (url[4] == 's' ? 8 : 7), '/');
        if (s->target == FW_LOKI && (!after_host || strcmp(after_host, "/") == 0)) {
            while (b.len && b.data[b.len - 1] == '/')
                b.data[--b.len] = '\0';
            ls_buf_puts(&b, push);
        }
        s->url = ls_buf_steal(&b);
        char *shown = without_credentials(s->url);
        ls_buf_puts(&display, shown);
        free(shown);
        break;
    }
    case FW_SYSLOG: {
        const char *transport = ctx->setting(ctx, "transport");
        if (transport && strcmp(transport, "udp") == 0)
            s->udp = true;
        else if (transport && strcmp(transport, "tcp") != 0) {
            ctx->output(ctx, "setting \"transport\" must be tcp or udp, not \"%s\"", transport);
            ls_buf_free(&display);
            return -EINVAL;
        }
        const char *colon = address ? strrchr(address, ':') : NULL;
        if (!colon || colon == address || !colon[1]) {
            ctx->output(ctx, "target syslog needs an \"address\" setting, HOST:PORT");
            ls_buf_free(&display);
            return -EINVAL;
        }
        const char *h = address;
        size_t hl = (size_t)(colon - address);
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
            h++;
            hl -= 2;
        }
        s->host = ls_xmemdup0(h, hl);
        s->port = ls_xstrdup(colon + 1);
        ls_buf_printf(&display, "%s://%s", s->udp ? "udp" : "tcp", address);
        break;
    }
    case FW_FILE:
        if (!path || !*path) {
            ctx->output(ctx, "target file needs a \"path\" setting");
            ls_buf_free(&display);
            return -EINVAL;
        }
        s->path = ls_xstrdup(path);
        ls_buf_puts(&display, path);
        break;
    }
    s->display = ls_buf_steal(&display);

    json_error_t jerr;
    json_t *obj = json_loads(ctx->settings_json, 0, &jerr);
    if (obj) {
        char **hk = NULL, **hv = NULL;
        size_t nh = 0;
        rc = parse_object_strings(ctx, obj, "labels", &s->label_keys, &s->label_values,
                                  &s->n_labels);
        if (rc == 0)
            rc = parse_object_strings(ctx, obj, "headers", &hk, &hv, &nh);
        if (rc == 0)
            rc = parse_replace_log(ctx, obj, s);
        for (size_t i = 0; i < nh; i++) {
            char line[2048];
            snprintf(line, sizeof(line), "%s: %s", hk[i], hv[i]);
            s->headers = curl_slist_append(s->headers, line);
            free(hk[i]);
            free(hv[i]);
        }
        free(hk);
        free(hv);
        json_decref(obj);
    }
    s->batch_lines = setting_num(ctx, "batch_lines", false, false, 10000, 1, 1000000, &rc);
    s->batch_bytes = setting_num(ctx, "batch_bytes", false, true, 1 << 20, 1024, 64 << 20, &rc);
    s->batch_wait_ms = setting_num(ctx, "batch_wait", true, false, 1000, 1, 3600000, &rc);
    s->max_buffer = setting_num(ctx, "max_buffer", false, true, 8 << 20, 1024, 1LL << 32, &rc);
    s->timeout_ms = setting_num(ctx, "timeout", true, false, 10000, 10, 600000, &rc);
    s->retry_min_ms = setting_num(ctx, "retry_min", true, false, 200, 1, 600000, &rc);
    s->retry_max_ms = setting_num(ctx, "retry_max", true, false, 30000, 1, 3600000, &rc);
    s->flush_timeout_ms = setting_num(ctx, "flush_timeout", true, false, 30000, 0, 3600000, &rc);
    s->max_message = setting_num(ctx, "max_message", false, true, 8192, 480, 65000, &rc);
    s->facility = (int)setting_num(ctx, "facility", false, false, 1, 0, 23, &rc);
    const char *hn = ctx->setting(ctx, "hostname");
    char host[256] = "-";
    if (!hn || !*hn) {
        if (gethostname(host, sizeof(host) - 1) < 0 || !*host)
            snprintf(host, sizeof(host), "-");
        hn = host;
    }
    s->hostname = ls_xstrdup(hn);
    for (char *p = s->hostname; *p; p++)
        if (*p <= ' ' || *p >= 127)
            *p = '_';
    const char *an = ctx->setting(ctx, "app_name");
    s->app_name = ls_xstrdup(an && *an ? an : "logstream");
    for (char *p = s->app_name; *p; p++)
        if (*p <= ' ' || *p >= 127)
            *p = '_';
    return rc;
}

/* ---- transports (sender thread) ---- */

static size_t discard(char *p, size_t size, size_t n, void *userdata)
{
    return size * n;
}

/* 0 delivered, -EAGAIN retry later, -EPROTO refused for good (a 4xx). The
 * handle and its options are set up once and kept (one connection, kept
 * alive); only the body changes from batch to batch. */
static int send_http(forward *f, const char *body, size_t len, char *err, size_t errlen)
{
    if (!f->curl) {
        f->curl = curl_easy_init();
        if (!f->curl) {
            snprintf(err, errlen, "cannot initialise libcurl");
            return -EAGAIN;
        }
        struct curl_slist *h = NULL;
        h = curl_slist_append(h, f->s.target == FW_LOKI ? "Content-Type: application/json"
                                                        : "Content-Type: application/x-ndjson");
        /* no "Expect: 100-continue" round trip before each large batch */
        h = curl_slist_append(h, "Expect:");
        for (struct curl_slist *x = f->s.headers; x; x = x->next)
            h = curl_slist_append(h, x->data);
        f->curl_headers = h;
        CURL *c = f->curl;
        curl_easy_setopt(c, CURLOPT_URL, f->s.url);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)f->s.timeout_ms);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, f->curl_err);
    }
    CURL *c = f->curl;
    f->curl_err[0] = '\0';
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s", *f->curl_err ? f->curl_err : curl_easy_strerror(cc));
        return -EAGAIN;
    }
    if (status >= 200 && status < 300)
        return 0;
    snprintf(err, errlen, "HTTP %ld", status);
    /* 408, 429 and 5xx are worth retrying; another 4xx will not change */
    if (status == 408 || status == 429 || status >= 500 || status < 400)
        return -EAGAIN;
    return -EPROTO;
}

static void close_fd(forward *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

/* Connects (TCP with a timeout) or creates a connected UDP socket. */
static int connect_syslog(forward *f, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = f->s.udp ? SOCK_DGRAM : SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(f->s.host, f->s.port, &hints, &ai);
    if (rc != 0 || !ai) {
        snprintf(err, errlen, "cannot resolve %s: %s", f->s.host, gai_strerror(rc));
        return -EAGAIN;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int r = -EAGAIN;
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        goto out;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        goto out;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, (int)f->s.timeout_ms) != 1) {
        snprintf(err, errlen, "connect: timed out");
        goto out;
    }
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr) {
        snprintf(err, errlen, "connect: %s", strerror(soerr));
        goto out;
    }
    f->fd = fd;
    fd = -1;
    r = 0;
out:
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return r;
}

/* Writes all of buf to the stream socket or file, waiting (poll) at most
 * timeout for each bit of room. */
static int write_all(forward *f, const char *buf, size_t len, char *err, size_t errlen)
{
    while (len) {
        ssize_t n =
            f->s.target == FW_FILE ? write(f->fd, buf, len) : send(f->fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = f->fd, .events = POLLOUT};
            if (poll(&p, 1, (int)f->s.timeout_ms) == 1)
                continue;
            snprintf(err, errlen, "send: timed out");
            return -EAGAIN;
        }
        snprintf(err, errlen, "%s: %s", f->s.target == FW_FILE ? "write" : "send",
                 n < 0 ? strerror(errno) : "short write");
        return -EAGAIN;
    }
    return 0;
}

/* A kept TCP connection the receiver has closed reads as EOF (or an error):
 * notice before sending into it. */
static bool peer_closed(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 0) != 1)
        return false;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static int send_syslog(forward *f, const char *buf, size_t len, const size_t *ends, size_t n,
                       char *err, size_t errlen)
{
    if (f->fd >= 0 && !f->s.udp && peer_closed(f->fd))
        close_fd(f);
    if (f->fd < 0 && connect_syslog(f, err, errlen) < 0)
        return -EAGAIN;
    if (!f->s.udp) {
        int r = write_all(f, buf, len, err, errlen);
        if (r < 0)
            close_fd(f);
        return r;
    }
    /* UDP: one datagram per message, no retries (nothing acknowledges them) */
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        ssize_t k = send(f->fd, buf + start, ends[i] - start, MSG_NOSIGNAL);
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = f->fd, .events = POLLOUT};
            poll(&p, 1, (int)f->s.timeout_ms);
            k = send(f->fd, buf + start, ends[i] - start, MSG_NOSIGNAL);
        }
        if (k < 0)
            snprintf(err, errlen, "send: %s", strerror(errno));
        start = ends[i];
    }
    return 0;
}

static int send_file(forward *f, const char *buf, size_t len, char *err, size_t errlen)
{
    if (f->fd < 0) {
        f->fd = open(f->s.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (f->fd < 0) {
            snprintf(err, errlen, "cannot open %s: %s", f->s.path, strerror(errno));
            return -EAGAIN;
        }
    }
    int r = write_all(f, buf, len, err, errlen);
    if (r < 0)
        close_fd(f);
    return r;
}

/* Encodes and sends one batch; 0, -EAGAIN (retry), -EPROTO (refused). */
static int send_batch(forward *f, fw_batch *b, char *err, size_t errlen)
{
    if (f->pre_encoded) /* NDJSON already: write it as it is */
        return f->s.target == FW_HTTP
                   ? send_http(f, b->data.data ? b->data.data : "", b->data.len, err, errlen)
                   : send_file(f, b->data.data ? b->data.data : "", b->data.len, err, errlen);
    if (b->n > f->recs_cap) {
        f->recs = ls_xreallocarray(f->recs, b->n, sizeof(*f->recs));
        f->recs_cap = b->n;
    }
    ls_fw_record *recs = f->recs;
    const char *p = b->data.data;
    for (size_t i = 0; i < b->n; i++) {
        fw_rec_hdr h;
        memcpy(&h, p, sizeof(h));
        recs[i] = (ls_fw_record){
            .text = p + sizeof(h), .len = h.len, .step = h.step, .seq = h.seq, .ts_ns = h.ts_ns};
        p += sizeof(h) + h.len;
    }
    ls_fw_labels l = {.build = f->build,
                      .step_ids = f->step_ids,
                      .step_names = f->step_names,
                      .extra_keys = (const char *const *)f->s.label_keys,
                      .extra_values = (const char *const *)f->s.label_values,
                      .n_extra = f->s.n_labels};
    ls_buf *out = &f->enc; /* kept from batch to batch: no page faults for a new one */
    ls_buf_reset(out);
    size_t *ends = NULL;
    int r;
    switch (f->s.target) {
    case FW_LOKI:
        ls_fw_encode_loki(&l, recs, b->n, out);
        r = send_http(f, out->data, out->len, err, errlen);
        break;
    case FW_HTTP:
        ls_fw_encode_ndjson(&l, recs, b->n, out);
        r = send_http(f, out->data ? out->data : "", out->len, err, errlen);
        break;
    case FW_SYSLOG: {
        ls_fw_syslog_opts o = {.facility = f->s.facility,
                               .hostname = f->s.hostname,
                               .app_name = f->s.app_name,
                               .octet_counting = !f->s.udp,
                               .max_message = f->s.udp ? (size_t)f->s.max_message : 0};
        ends = ls_xcalloc(b->n ? b->n : 1, sizeof(*ends));
        size_t cut = ls_fw_encode_syslog(&l, &o, recs, b->n, out, ends);
        r = send_syslog(f, out->data, out->len, ends, b->n, err, errlen);
        if (r == 0) {
            pthread_mutex_lock(&f->lock);
            f->truncated += cut;
            pthread_mutex_unlock(&f->lock);
        }
        break;
    }
    case FW_FILE:
    default:
        ls_fw_encode_ndjson(&l, recs, b->n, out);
        r = send_file(f, out->data ? out->data : "", out->len, err, errlen);
        break;
    }
    if (f->enc.cap > (size_t)4 * f->s.batch_bytes + 65536)
        ls_buf_free(&f->enc); /* an odd huge batch: do not keep its buffer */
    free(ends);
    return r;
}

/* ---- the sender thread ---- */

static bool batch_ready(forward *f, fw_batch *b, int64_t now)
{
    return b->next || b->n >= (size_t)f->s.batch_lines || b->data.len >= (size_t)f->s.batch_bytes ||
           f->flushing || now - b->first_mono_ms >= f->s.batch_wait_ms;
}

static void *sender_main(void *arg)
{
    forward *f = arg;
    ls_backoff bo;
    ls_backoff_init(&bo, f->s.retry_min_ms, f->s.retry_max_ms, 0);
    pthread_mutex_lock(&f->lock);
    for (;;) {
        /* wait for a batch that is full, old enough, or flushed */
        while (!f->aborted) {
            fw_batch *b = f->head;
            int64_t now = ls_mono_ms();
            if (b && b->n && batch_ready(f, b, now))
                break;
            if (b && b->n) {
                struct timespec ts;
                ls_mono_deadline(&ts, b->first_mono_ms + f->s.batch_wait_ms - now);
                pthread_cond_timedwait(&f->work, &f->lock, &ts);
            } else {
                pthread_cond_wait(&f->work, &f->lock);
            }
        }
        if (f->aborted)
            break;
        fw_batch *b = f->head;
        b->sending = true;
        pthread_mutex_unlock(&f->lock);

        char err[256] = "";
        int r = send_batch(f, b, err, sizeof(err));

        pthread_mutex_lock(&f->lock);
        if (r == -EAGAIN && !f->aborted && !(f->s.target == FW_SYSLOG && f->s.udp)) {
            snprintf(f->last_error, sizeof(f->last_error), "%s", err);
            f->retries++;
            if (atomic_exchange(&f->failing, 1) != 1)
                pthread_cond_broadcast(&f->space); /* a waiting process_line tells the user */
            struct timespec ts;
            ls_mono_deadline(&ts, ls_backoff_next(&bo));
            /* an abort (finalize gave up, destroy) wakes this wait */
            pthread_cond_timedwait(&f->work, &f->lock, &ts);
            continue;
        }
        if (r < 0) {
            snprintf(f->last_error, sizeof(f->last_error), "%s", err);
            f->lost += b->n; /* refused for good (or aborted) */
        } else {
            f->delivered += b->n;
            f->batches++;
            if (*err && f->s.udp)
                snprintf(f->last_error, sizeof(f->last_error), "%s", err);
        }
        ls_backoff_reset(&bo);
        atomic_store(&f->failing, r == -EPROTO ? 2 : 0);
        f->head = b->next;
        if (!f->head)
            f->tail = NULL;
        f->queued_bytes -= b->data.len;
        if (!f->spare) {
            ls_buf_reset(&b->data);
            *b = (fw_batch){.data = b->data};
            f->spare = b;
        } else {
            ls_buf_free(&b->data);
            free(b);
        }
        pthread_cond_broadcast(&f->space);
        pthread_cond_broadcast(&f->progress);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

/* ---- plugin callbacks ---- */

static void fw_destroy(void *state)
{
    forward *f = state;
    if (!f)
        return;
    if (f->sender_started) {
        pthread_mutex_lock(&f->lock);
        f->aborted = true;
        pthread_cond_broadcast(&f->work);
        pthread_cond_broadcast(&f->space);
        pthread_mutex_unlock(&f->lock);
        pthread_join(f->sender, NULL);
    }
    for (fw_batch *b = f->head; b;) {
        fw_batch *next = b->next;
        ls_buf_free(&b->data);
        free(b);
        b = next;
    }
    if (f->spare) {
        ls_buf_free(&f->spare->data);
        free(f->spare);
    }
    ls_buf_free(&f->enc);
    free(f->recs);
    for (size_t i = 0; f->ndjson_labels && i < f->n_steps; i++)
        ls_buf_free(&f->ndjson_labels[i]);
    free(f->ndjson_labels);
    ls_buf_free(&f->ndjson_extra);
    ls_buf_free(&f->line_enc);
    if (f->curl)
        curl_easy_cleanup(f->curl);
    curl_slist_free_all(f->curl_headers);
    close_fd(f);
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->space);
    pthread_cond_destroy(&f->work);
    pthread_cond_destroy(&f->progress);
    settings_free(&f->s);
    free(f->build);
    free(f->step_ids);
    free(f->step_names);
    free(f->step_lines);
    free(f);
}

static int fw_init(const ls_plugin_context *ctx, void **ret_state)
{
    forward *f = ls_xcalloc(1, sizeof(*f));
    f->fd = -1;
    pthread_mutex_init(&f->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->space, &ca);
    pthread_cond_init(&f->work, &ca);
    pthread_cond_init(&f->progress, &ca);
    pthread_condattr_destroy(&ca);
    int rc = parse_settings(ctx, &f->s);
    if (rc != 0) {
        fw_destroy(f);
        return rc;
    }
    if (f->s.target == FW_LOKI || f->s.target == FW_HTTP)
        ls_ph_http_global_init();
    f->build = ls_xstrdup(*ctx->build_id ? ctx->build_id : "-");
    f->n_steps = ctx->n_steps;
    f->step_ids = ls_xcalloc(ctx->n_steps + 1, sizeof(*f->step_ids));
    f->step_names = ls_xcalloc(ctx->n_steps + 1, sizeof(*f->step_names));
    f->step_lines = ls_xcalloc(ctx->n_steps + 1, sizeof(*f->step_lines));
    for (size_t i = 0; i < ctx->n_steps; i++) {
        f->step_ids[i] = ctx->steps[i].id; /* valid until destroy */
        f->step_names[i] = ctx->steps[i].name;
    }
    f->pre_encoded = f->s.target == FW_HTTP || f->s.target == FW_FILE;
    if (f->pre_encoded) {
        ls_fw_labels l = {.build = f->build,
                          .step_ids = f->step_ids,
                          .step_names = f->step_names,
                          .extra_keys = (const char *const *)f->s.label_keys,
                          .extra_values = (const char *const *)f->s.label_values,
                          .n_extra = f->s.n_labels};
        f->ndjson_labels = ls_xcalloc(ctx->n_steps + 1, sizeof(*f->ndjson_labels));
        for (size_t i = 0; i < ctx->n_steps; i++)
            ls_fw_ndjson_labels(&l, i, &f->ndjson_labels[i]);
        ls_fw_ndjson_extra(&l, &f->ndjson_extra);
    }
    rc = pthread_create(&f->sender, NULL, sender_main, f);
    if (rc != 0) {
        ctx->output(ctx, "cannot start the sender thread: %s", strerror(rc));
        fw_destroy(f);
        return -rc;
    }
    f->sender_started = true;
    ctx->output(ctx, "forwarding every line to %s", f->s.display);
    *ret_state = f;
    return LS_PLUGIN_RUN;
}

/* Tells the user when the target stops or starts answering (the sender
 * cannot call output(): it runs on its own thread). */
static void tell_state(const ls_plugin_context *ctx, forward *f)
{
    int now = atomic_load(&f->failing);
    if (now == f->told_failing)
        return;
    char err[256];
    pthread_mutex_lock(&f->lock);
    snprintf(err, sizeof(err), "%s", f->last_error);
    pthread_mutex_unlock(&f->lock);
    if (now == 1)
        ctx->output(ctx, "cannot reach %s (%s): lines are kept and retried", f->s.display, err);
    else if (now == 2)
        ctx->output(ctx, "%s refused a batch (%s): those lines are lost", f->s.display, err);
    else if (f->told_failing == 1)
        ctx->output(ctx, "%s reached again: forwarding resumes", f->s.display);
    f->told_failing = now;
}

static int fw_line(const ls_plugin_context *ctx, void *state, const ls_plugin_step *step,
                   const char *line, size_t len)
{
    forward *f = state;
    if (atomic_load(&f->failing) != f->told_failing)
        tell_state(ctx, f);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    if (ns <= f->last_ts_ns)
        ns = f->last_ts_ns + 1; /* strictly increasing: order is kept, never a duplicate */
    f->last_ts_ns = ns;
    fw_rec_hdr h = {.step = (uint32_t)step->index,
                    .len = (uint32_t)len,
                    .seq = ++f->step_lines[step->index],
                    .ts_ns = ns};
    size_t need = sizeof(h) + len;
    if (f->pre_encoded) {
        ls_fw_record rec = {.text = line, .len = len, .step = h.step, .seq = h.seq, .ts_ns = ns};
        const ls_buf *lab = &f->ndjson_labels[step->index];
        ls_buf_reset(&f->line_enc);
        ls_fw_encode_ndjson_record(lab->data, lab->len, f->ndjson_extra.data, f->ndjson_extra.len,
                                   &rec, &f->line_enc);
        need = f->line_enc.len;
    }

    pthread_mutex_lock(&f->lock);
    /* bounded: wait for room (the host queues meanwhile; its breaker decides) */
    while (f->queued_bytes && f->queued_bytes + need > (size_t)f->s.max_buffer && !f->aborted) {
        if (atomic_load(&f->failing) != f->told_failing) {
            /* say why we wait (the sender wakes us when the target fails) */
            pthread_mutex_unlock(&f->lock);
            tell_state(ctx, f);
            pthread_mutex_lock(&f->lock);
            continue;
        }
        pthread_cond_wait(&f->space, &f->lock);
    }
    fw_batch *b = f->tail;
    if (!b || b->sending || b->n >= (size_t)f->s.batch_lines ||
        b->data.len + need > (size_t)f->s.batch_bytes) {
        fw_batch *nb = f->spare ? f->spare : ls_xcalloc(1, sizeof(*nb));
        f->spare = NULL;
        if (f->tail)
            f->tail->next = nb;
        else
            f->head = nb;
        f->tail = nb;
        b = nb;
    }
    if (b->n == 0)
        b->first_mono_ms = ls_mono_ms();
    if (f->pre_encoded) {
        ls_buf_append(&b->data, f->line_enc.data, f->line_enc.len);
    } else {
        ls_buf_append(&b->data, &h, sizeof(h));
        ls_buf_append(&b->data, line, len);
    }
    b->n++;
    f->queued_bytes += need;
    /* wake the sender for the first line of a batch (its timer) and for a full one */
    if (b->n == 1 || b->n >= (size_t)f->s.batch_lines || b->data.len >= (size_t)f->s.batch_bytes)
        pthread_cond_signal(&f->work);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static int fw_finalize(const ls_plugin_context *ctx, void *state)
{
    forward *f = state;
    pthread_mutex_lock(&f->lock);
    f->flushing = true;
    pthread_cond_broadcast(&f->work);
    struct timespec deadline;
    ls_mono_deadline(&deadline, f->s.flush_timeout_ms);
    while (f->head && !f->aborted) {
        if (pthread_cond_timedwait(&f->progress, &f->lock, &deadline) == ETIMEDOUT)
            break;
    }
    uint64_t left = 0;
    for (fw_batch *b = f->head; b; b = b->next)
        left += b->n;
    f->aborted = true; /* the sender stops retrying; what is left is lost */
    pthread_cond_broadcast(&f->work);
    uint64_t delivered = f->delivered, lost = f->lost + left, batches = f->batches,
             retries = f->retries, truncated = f->truncated;
    char err[256];
    snprintf(err, sizeof(err), "%s", f->last_error);
    pthread_mutex_unlock(&f->lock);

    tell_state(ctx, f);
    /* The worker takes this line, with N equal to the lines it gave the host
     * for the step, as the confirmation that a replaced step's log was
     * delivered (run.c, forward_confirmed; docs/forward.md): keep its format. */
    if (lost == 0) {
        for (size_t i = 0; i < f->n_steps; i++)
            if (f->step_lines[i] && replaces_step(&f->s, f->step_names[i]))
                ctx->output(ctx, "logs for step %s (%s) were forwarded to %s: %llu line%s",
                            f->step_ids[i], f->step_names[i], f->s.display,
                            (unsigned long long)f->step_lines[i], f->step_lines[i] == 1 ? "" : "s");
    }
    ctx->output(ctx, "%llu lines forwarded to %s in %llu batches (%llu retries)",
                (unsigned long long)delivered, f->s.display, (unsigned long long)batches,
                (unsigned long long)retries);
    if (truncated)
        ctx->output(ctx, "%llu lines were cut to max_message (%lld bytes) to fit a datagram",
                    (unsigned long long)truncated, (long long)f->s.max_message);
    if (lost) {
        ctx->output(ctx, "%llu lines could not be forwarded to %s (%s)", (unsigned long long)lost,
                    f->s.display, *err ? err : "flush_timeout");
        return -EIO;
    }
    return 0;
}

/* ---- for the worker: replace_log ---- */

/* A context that only answers setting() from a JSON object and keeps quiet:
 * enough for parse_settings() outside the host. */
typedef struct check_ctx {
    ls_plugin_context ctx;
    json_t *obj;
    char **texts; /* setting() answers for numbers and booleans, freed at the end */
    size_t n_texts;
} check_ctx;

static void check_quiet(const ls_plugin_context *ctx, const char *fmt, ...)
{
    (void)ctx, (void)fmt;
}

static const char *check_setting(const ls_plugin_context *ctx, const char *key)
{
    check_ctx *c = (check_ctx *)ctx;
    json_t *v = json_object_get(c->obj, key);
    if (json_is_string(v))
        return json_string_value(v);
    if (!json_is_number(v) && !json_is_boolean(v))
        return NULL;
    char *text = json_dumps(v, JSON_ENCODE_ANY);
    if (!text)
        return NULL;
    c->texts = ls_xreallocarray(c->texts, c->n_texts + 1, sizeof(char *));
    c->texts[c->n_texts++] = text;
    return text;
}

int ls_forward_replaced_log(const char *settings_json, const char *step_name, char **ret_display)
{
    check_ctx c = {.obj = json_loads(settings_json ? settings_json : "{}", 0, NULL)};
    fw_settings s = {0};
    int r = 0;
    if (!json_is_object(c.obj))
        goto out;
    c.ctx = (ls_plugin_context){.abi_version = LS_PLUGIN_ABI_VERSION,
                                .size = sizeof(ls_plugin_context),
                                .plugin_name = "forward",
                                .settings_json = settings_json,
                                .trace = check_quiet,
                                .output = check_quiet,
                                .setting = check_setting};
    if (parse_settings(&c.ctx, &s) != 0 || !replaces_step(&s, step_name))
        goto out;
    *ret_display = s.display;
    s.display = NULL;
    r = 1;
out:
    settings_free(&s);
    for (size_t i = 0; i < c.n_texts; i++)
        free(c.texts[i]);
    free(c.texts);
    json_decref(c.obj);
    return r;
}

LS_PLUGIN_EXPORT const ls_plugin_v1 LS_PLUGIN_DESCRIPTOR(forward) = {
    .abi_version = LS_PLUGIN_ABI_VERSION,
    .name = "forward",
    .description = "sends every line to Loki, an HTTP endpoint (NDJSON), syslog or a file",
    .init = fw_init,
    .process_line = fw_line,
    .finalize = fw_finalize,
    .destroy = fw_destroy,
};
