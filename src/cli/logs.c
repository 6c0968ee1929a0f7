#include "cli/logs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli/build_info.h"
#include "cli/follow.h"
#include "cli/http.h"
#include "cli/log_printer.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/flags.h"

#define SYNOPSIS "[-f] [--server URL] [--token TOKEN] BUILD[/STEP]"
#define REQUEST_TIMEOUT_MS 60000

typedef struct logs_opts {
    bool follow;
    char *server;
    char *token;
    bool timestamps;
    bool no_color;
    bool quiet;
    int64_t backoff_base_ms;
    int64_t backoff_cap_ms;
    int64_t give_up_ms;
    int64_t idle_timeout_ms;
    int64_t max_event;
    int64_t page_lines;
} logs_opts;

static void flag_table(logs_opts *o, ls_flag *t)
{
    const ls_flag flags[] = {
        {"follow", 'f', LS_FLAG_BOOL, &o->follow, "false",
         "follow the logs live until the build (or step) ends"},
        {"server", 's', LS_FLAG_STRING, &o->server, "http://127.0.0.1:8080",
         "URL of the logstream server"},
        {"token", 0, LS_FLAG_STRING, &o->token, NULL,
         "read token (sent as \"Authorization: Bearer TOKEN\"); not needed with --public-read"},
        {"timestamps", 't', LS_FLAG_BOOL, &o->timestamps, "false",
         "prefix each line with the time the worker read it (UTC)"},
        {"no-color", 0, LS_FLAG_BOOL, &o->no_color, "false",
         "remove ANSI colour and cursor escape sequences (also when NO_COLOR is set)"},
        {"quiet", 'q', LS_FLAG_BOOL, &o->quiet, "false", "no reconnect notes on stderr"},
        {"backoff-base", 0, LS_FLAG_DURATION, &o->backoff_base_ms, "250ms",
         "first delay before resuming a dropped stream"},
        {"backoff-cap", 0, LS_FLAG_DURATION, &o->backoff_cap_ms, "5s",
         "longest delay between reconnect attempts"},
        {"give-up", 0, LS_FLAG_DURATION, &o->give_up_ms, "5m",
         "fail when the server stays unreachable this long (0 = never)"},
        {"idle-timeout", 0, LS_FLAG_DURATION, &o->idle_timeout_ms, "60s",
         "reconnect when a stream sends nothing, not even a ping, this long (0 = never)"},
        {"max-event", 0, LS_FLAG_SIZE, &o->max_event, "16MiB",
         "largest server-sent event or JSON answer accepted"},
        {"page-lines", 0, LS_FLAG_INT, &o->page_lines, "1000",
         "lines per request when reading lines with timestamps or filling a gap"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    memcpy(t, flags, sizeof(flags));
}

#define NFLAGS 13

/* ---- BUILD[/STEP] ------------------------------------------------------- */

typedef struct target {
    int64_t build;
    const char *step; /* borrowed from the argument, or NULL */
    char *server;     /* from a URL argument, or NULL */
} target;

static int parse_id(const char *s, size_t len, int64_t *ret)
{
    int64_t v = 0;
    if (len == 0 || len > 18)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1)
        return -EINVAL;
    *ret = v;
    return 0;
}

/* Accepts "12", "12/3", "12/build" and "http://host:port/builds/12[/3]". */
static int parse_target(const char *arg, target *ret)
{
    target t = {0};
    const char *p = arg;
    if (!strncmp(arg, "http://", 7) || !strncmp(arg, "https://", 8)) {
        const char *b = strstr(arg, "/builds/");
        if (!b)
            return -EINVAL;
        const char *api = strstr(arg, "/api/v1/builds/");
        const char *root = api && api < b ? api : b;
        t.server = ls_xmemdup0(arg, (size_t)(root - arg));
        p = b + strlen("/builds/");
    }
    const char *slash = strchr(p, '/');
    size_t idlen = slash ? (size_t)(slash - p) : strlen(p);
    if (parse_id(p, idlen, &t.build) < 0) {
        free(t.server);
        return -EINVAL;
    }
    if (slash && slash[1]) {
        t.step = slash + 1;
        if (!strncmp(t.step, "steps/", 6) && t.step[6])
            t.step += 6;
    }
    *ret = t;
    return 0;
}

/* Resolves STEP (a number or a name) against the build; 0 when not found. */
static int resolve_step(const ls_build_info *b, const char *step)
{
    int64_t n;
    if (parse_id(step, strlen(step), &n) == 0 && n <= 1000000 && ls_build_info_step(b, (int)n))
        return (int)n;
    const ls_step_info *s = ls_build_info_step_by_name(b, step);
    return s ? s->number : 0;
}

static void trim_slashes(char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
}

/* ---- printing a finished (or partial) log -------------------------------- */

typedef struct print_ctx {
    ls_printer *printer;
    ls_print_stream ps;
    ls_buf pending; /* NDJSON: a line object cut between two chunks */
    int64_t last_seq;
    int bad;
} print_ctx;

static int print_raw_chunk(void *ctx, const char *data, size_t len)
{
    print_ctx *pc = ctx;
    ls_printer_raw(pc->printer, &pc->ps, data, len);
    return 0;
}

static void print_ndjson_object(print_ctx *pc, const char *s, size_t len)
{
    json_t *j = json_loadb(s, len, JSON_ALLOW_NUL, NULL);
    json_t *seq = json_object_get(j, "seq");
    json_t *text = json_object_get(j, "text");
    if (!json_is_integer(seq) || !json_is_string(text)) {
        pc->bad = 1;
    } else if (json_integer_value(seq) > pc->last_seq) {
        json_t *ts = json_object_get(j, "ts");
        ls_printer_line(pc->printer, &pc->ps, json_is_integer(ts) ? json_integer_value(ts) : 0,
                        json_string_value(text), json_string_length(text),
                        json_is_true(json_object_get(j, "continued")));
        pc->last_seq = json_integer_value(seq);
    }
    json_decref(j);
}

static int print_ndjson_chunk(void *ctx, const char *data, size_t len)
{
    print_ctx *pc = ctx;
    ls_buf_append(&pc->pending, data, len);
    size_t start = 0;
    for (;;) {
        char *nl = memchr(pc->pending.data + start, '\n', pc->pending.len - start);
        if (!nl)
            break;
        size_t n = (size_t)(nl - (pc->pending.data + start));
        if (n)
            print_ndjson_object(pc, pc->pending.data + start, n);
        start += n + 1;
    }
    ls_buf_consume(&pc->pending, start);
    return 0;
}

/* Reads the log page by page with times (NDJSON) until a page adds nothing. */
static int print_with_times(const logs_opts *o, print_ctx *pc, const char *base, char *err,
                            size_t errlen)
{
    for (;;) {
        char url[640];
        int64_t before = pc->last_seq;
        snprintf(url, sizeof(url), "%s?since=%" PRId64 "&limit=%" PRId64, base, pc->last_seq,
                 o->page_lines);
        ls_buf_reset(&pc->pending);
        int r = ls_http_get(url, "application/x-ndjson", REQUEST_TIMEOUT_MS, print_ndjson_chunk, pc,
                            err, errlen);
        if (r < 0)
            return r;
        if (pc->pending.len)
            print_ndjson_object(pc, pc->pending.data, pc->pending.len);
        if (pc->bad) {
            snprintf(err, errlen, "%s: the answer is not NDJSON line objects", url);
            return -EPROTO;
        }
        if (pc->last_seq == before)
            return 0;
    }
}

static int print_step_log(const logs_opts *o, ls_printer *p, int64_t build, int step, char *err,
                          size_t errlen)
{
    char base[512];
    snprintf(base, sizeof(base), "%s/api/v1/builds/%" PRId64 "/steps/%d/logs", o->server, build,
             step);
    print_ctx pc = {.printer = p, .pending = LS_BUF_INIT};
    int r = o->timestamps ? print_with_times(o, &pc, base, err, errlen)
                          : ls_http_get(base, "text/plain", REQUEST_TIMEOUT_MS, print_raw_chunk,
                                        &pc, err, errlen);
    ls_buf_free(&pc.pending);
    if (r == 0)
        r = ls_printer_flush(p);
    if (r == -EPIPE || r == -EIO)
        snprintf(err, errlen, "cannot write the logs: %s", strerror(-r));
    return r;
}

static void print_header(ls_printer *p, const ls_step_info *s)
{
    char code[32] = "";
    if (s->has_exit_code)
        snprintf(code, sizeof(code), ", exit %d", s->exit_code);
    ls_printer_note(p, "── %s %d: %s (%s%s) ──", s->service ? "service" : "step", s->number,
                    s->name, s->status, code);
}

/* Steps first, then services, each under its header. */
static int print_build(const logs_opts *o, ls_printer *p, const ls_build_info *b, char *err,
                       size_t errlen)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < b->nsteps; i++) {
            const ls_step_info *s = &b->steps[i];
            if (s->service != (pass == 1))
                continue;
            print_header(p, s);
            if (!strcmp(s->status, "pending"))
                continue;
            int r = print_step_log(o, p, b->id, s->number, err, errlen);
            if (r < 0)
                return r;
        }
    }
    return ls_printer_flush(p);
}

static int fetch_build(const logs_opts *o, int64_t id, ls_build_info *ret, char *err, size_t errlen)
{
    char url[512];
    ls_buf body = LS_BUF_INIT;
    snprintf(url, sizeof(url), "%s/api/v1/builds/%" PRId64, o->server, id);
    int r = ls_http_get_buf(url, "application/json", REQUEST_TIMEOUT_MS, (size_t)o->max_event,
                            &body, err, errlen);
    if (r == -ENOENT)
        snprintf(err, errlen, "build %" PRId64 " not found on %s", id, o->server);
    if (r < 0)
        goto out;
    json_t *j = json_loadb(body.data, body.len, 0, NULL);
    r = ls_build_info_from_json(j, ret);
    json_decref(j);
    if (r < 0) {
        snprintf(err, errlen, "%s: the answer is not a build object", url);
        r = -EPROTO;
    }
out:
    ls_buf_free(&body);
    return r;
}

/* ---- the command ---------------------------------------------------------- */

static void follow_opts_from(const logs_opts *o, ls_printer *p, int64_t build, int step,
                             ls_follow_opts *f)
{
    *f = (ls_follow_opts){
        .server = o->server,
        .build_id = build,
        .only_step = step,
        .printer = p,
        .backoff_base_ms = o->backoff_base_ms,
        .backoff_cap_ms = o->backoff_cap_ms,
        .give_up_ms = o->give_up_ms,
        .idle_timeout_ms = o->idle_timeout_ms,
        .max_event = (size_t)o->max_event,
        .page_lines = (size_t)o->page_lines,
        .quiet = o->quiet,
    };
}

static int check_opts(const logs_opts *o, char *err, size_t errlen)
{
    if (o->page_lines < 1 || o->page_lines > 100000) {
        snprintf(err, errlen, "--page-lines must be between 1 and 100000");
        return -EINVAL;
    }
    if (o->max_event < 64 * 1024) {
        snprintf(err, errlen, "--max-event must be at least 64KiB");
        return -EINVAL;
    }
    if (o->backoff_base_ms < 1 || o->backoff_cap_ms < o->backoff_base_ms) {
        snprintf(err, errlen, "--backoff-base must be >= 1ms and --backoff-cap >= it");
        return -EINVAL;
    }
    if (strncmp(o->server, "http://", 7) && strncmp(o->server, "https://", 8)) {
        snprintf(err, errlen, "--server must be an http:// or https:// URL, not '%s'", o->server);
        return -EINVAL;
    }
    return 0;
}

static int run_logs(logs_opts *o, const target *t)
{
    char err[1024] = "";
    ls_build_info b = {0};
    ls_printer p = {.out = stdout, .timestamps = o->timestamps, .strip_ansi = o->no_color};
    int step = 0, r = fetch_build(o, t->build, &b, err, sizeof(err));
    if (r < 0)
        goto out;
    if (t->step && !(step = resolve_step(&b, t->step))) {
        r = -ENOENT;
        snprintf(err, sizeof(err), "build %" PRId64 " has no step '%s' (steps: 1..%zu)", t->build,
                 t->step, b.nsteps);
        goto out;
    }
    if (o->follow) {
        ls_follow_opts f;
        follow_opts_from(o, &p, t->build, step, &f);
        r = ls_follow_build(&f, err, sizeof(err));
    } else if (step) {
        r = print_step_log(o, &p, t->build, step, err, sizeof(err));
    } else {
        r = print_build(o, &p, &b, err, sizeof(err));
    }
out:
    if (r < 0)
        fprintf(stderr, "logstream logs: %s\n", err[0] ? err : strerror(-r));
    ls_build_info_clear(&b);
    ls_printer_free(&p);
    return r < 0 ? 1 : 0;
}

int ls_logs_main(int argc, char **argv)
{
    logs_opts o = {0};
    ls_flag flags[NFLAGS];
    flag_table(&o, flags);
    const char *pos[2];
    int npos = 0, rc = 2;
    char err[512];
    target t = {0};
    int r = ls_flags_parse(flags, argc, argv, pos, 2, &npos, err, sizeof(err));
    if (r == -EAGAIN) {
        ls_flags_usage(stdout, "logs", SYNOPSIS, flags);
        rc = 0;
        goto out;
    }
    if (r < 0 || npos != 1 || parse_target(pos[0], &t) < 0) {
        if (r < 0)
            fprintf(stderr, "logstream logs: %s\n", err);
        else if (npos != 1)
            fprintf(stderr, "logstream logs: expected one BUILD[/STEP] argument, got %d\n", npos);
        else
            fprintf(stderr, "logstream logs: '%s' is not BUILD[/STEP] (e.g. 12 or 12/1)\n", pos[0]);
        ls_flags_usage(stderr, "logs", SYNOPSIS, flags);
        goto out;
    }
    if (t.server) {
        free(o.server);
        o.server = t.server;
        t.server = NULL;
    }
    trim_slashes(o.server);
    if (getenv("NO_COLOR") && *getenv("NO_COLOR"))
        o.no_color = true;
    if (check_opts(&o, err, sizeof(err)) < 0) {
        fprintf(stderr, "logstream logs: %s\n", err);
        goto out;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ls_http_set_token(o.token);
    rc = run_logs(&o, &t);
out:
    free(t.server);
    ls_flags_free(flags);
    return rc;
}

int ls_logs_follow_build(const char *server, const char *token, int64_t build_id,
                         volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    logs_opts o = {0};
    ls_flag flags[NFLAGS];
    flag_table(&o, flags);
    const char *pos[1];
    int npos;
    int r = ls_flags_parse(flags, 0, NULL, pos, 1, &npos, err, errlen);
    if (r < 0)
        goto out;
    free(o.server);
    o.server = ls_xstrdup(server);
    trim_slashes(o.server);
    ls_http_set_token(token);
    if (getenv("NO_COLOR") && *getenv("NO_COLOR"))
        o.no_color = true;
    ls_printer p = {.out = stdout, .timestamps = o.timestamps, .strip_ansi = o.no_color};
    ls_follow_opts f;
    follow_opts_from(&o, &p, build_id, 0, &f);
    f.stop = stop;
    r = ls_follow_build(&f, err, errlen);
    ls_printer_free(&p);
out:
    ls_flags_free(flags);
    return r;
}
