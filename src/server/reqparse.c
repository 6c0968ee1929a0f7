#include "server/reqparse.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

int ls_parse_uint_strict(const char *s, size_t len, uint64_t max, uint64_t *ret)
{
    if (!s || len == 0 || len > 20)
        return -EINVAL;
    if (len > 1 && s[0] == '0')
        return -EINVAL;
    uint64_t v = 0;
    bool overflow = false;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned char)s[i] - (unsigned)'0';
        if (d > 9)
            return -EINVAL;
        if (v > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            v = v * 10 + d;
    }
    if (overflow || v > max)
        return -ERANGE;
    *ret = v;
    return 0;
}

/* Takes the next '/'-separated segment of *p (which points after a '/').
 * Returns its length and advances *p past it and its trailing '/', or sets
 * *p to NULL at the end of the path. */
static size_t next_segment(const char **p, const char **ret_seg)
{
    const char *s = *p;
    const char *slash = strchr(s, '/');
    *ret_seg = s;
    if (!slash) {
        *p = NULL;
        return strlen(s);
    }
    *p = slash + 1;
    return (size_t)(slash - s);
}

static bool seg_is(const char *seg, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(seg, word, len) == 0;
}

static int parse_id_segment(const char *seg, size_t len, uint64_t min, uint64_t max, uint64_t *ret)
{
    uint64_t v;
    if (ls_parse_uint_strict(seg, len, max, &v) < 0 || v < min)
        return -EINVAL;
    *ret = v;
    return 0;
}

/* Parses what follows "/api/v1/builds/":
 * {build}[/events|/tests|/tool-usage|/steps/{step}[/stream|/logs|/search]]. */
static int parse_build_tail(const char *p, ls_route *r, const char **ret_error)
{
    const char *seg;
    size_t len = next_segment(&p, &seg);
    uint64_t v;
    if (parse_id_segment(seg, len, 1, LS_MAX_BUILD_ID, &v) < 0) {
        *ret_error = "build id must be a decimal number from 1 to 2^53-1";
        return -EINVAL;
    }
    r->build = (int64_t)v;
    if (!p) {
        r->id = LS_ROUTE_BUILD;
        return 0;
    }
    len = next_segment(&p, &seg);
    if (seg_is(seg, len, "events") && !p) {
        r->id = LS_ROUTE_BUILD_EVENTS;
        return 0;
    }
    if (seg_is(seg, len, "tests") && !p) {
        r->id = LS_ROUTE_BUILD_TESTS;
        return 0;
    }
    if (seg_is(seg, len, "tool-usage") && !p) {
        r->id = LS_ROUTE_BUILD_TOOL_USAGE;
        return 0;
    }
    if (!seg_is(seg, len, "steps") || !p)
        return -ENOENT;
    len = next_segment(&p, &seg);
    if (parse_id_segment(seg, len, 1, LS_MAX_STEP_NUMBER, &v) < 0) {
        *ret_error = "step number must be a decimal number from 1 to 1000000";
        return -EINVAL;
    }
    r->step = (int)v;
    if (!p) {
        r->id = LS_ROUTE_STEP;
        return 0;
    }
    len = next_segment(&p, &seg);
    if (p)
        return -ENOENT;
    if (seg_is(seg, len, "stream"))
        r->id = LS_ROUTE_STEP_STREAM;
    else if (seg_is(seg, len, "logs"))
        r->id = LS_ROUTE_STEP_LOGS;
    else if (seg_is(seg, len, "search"))
        r->id = LS_ROUTE_STEP_SEARCH;
    else
        return -ENOENT;
    return 0;
}

int ls_route_parse(const char *path, ls_route *ret_route, const char **ret_error)
{
    static const char builds_prefix[] = "/api/v1/builds/";
    static const char tokens_prefix[] = "/api/v1/tokens/";
    ls_route r = {0};
    const char *error = "no such path";
    int ret = -ENOENT;
    if (!path)
        goto out;
    if (strcmp(path, "/healthz") == 0) {
        r.id = LS_ROUTE_HEALTHZ;
        ret = 0;
    } else if (strcmp(path, "/metrics") == 0) {
        r.id = LS_ROUTE_METRICS;
        ret = 0;
    } else if (strcmp(path, "/api/v1/builds") == 0) {
        r.id = LS_ROUTE_BUILDS;
        ret = 0;
    } else if (strncmp(path, builds_prefix, sizeof(builds_prefix) - 1) == 0) {
        ret = parse_build_tail(path + sizeof(builds_prefix) - 1, &r, &error);
    } else if (strcmp(path, "/api/v1/events") == 0) {
        r.id = LS_ROUTE_EVENTS;
        ret = 0;
    } else if (strcmp(path, "/api/v1/tokens") == 0) {
        r.id = LS_ROUTE_TOKENS;
        ret = 0;
    } else if (strncmp(path, tokens_prefix, sizeof(tokens_prefix) - 1) == 0) {
        uint64_t v;
        const char *p = path + sizeof(tokens_prefix) - 1;
        if (parse_id_segment(p, strlen(p), 1, LS_MAX_BUILD_ID, &v) < 0) {
            error = "token id must be a decimal number from 1 to 2^53-1";
            ret = -EINVAL;
        } else {
            r.id = LS_ROUTE_TOKEN;
            r.token = (int64_t)v;
            ret = 0;
        }
    }
out:
    if (ret == 0)
        *ret_route = r;
    else if (ret_error)
        *ret_error = error;
    return ret;
}

static int parse_value(const char *s, uint64_t max, uint64_t *ret)
{
    return ls_parse_uint_strict(s, strlen(s), max, ret);
}

int ls_logs_query_parse(const char *since, const char *limit, const char *tail, ls_logs_query *ret,
                        const char **ret_error)
{
    ls_logs_query q = {.mode = LS_LOGS_RAW, .since = 0, .limit = LS_LOGS_DEFAULT_LIMIT};
    if (tail) {
        if (since || limit) {
            *ret_error = "tail cannot be combined with since or limit";
            return -EINVAL;
        }
        if (parse_value(tail, LS_LOGS_MAX_LIMIT, &q.limit) < 0 || q.limit == 0) {
            *ret_error = "tail must be a number of lines from 1 to 100000";
            return -EINVAL;
        }
        q.mode = LS_LOGS_TAIL;
        *ret = q;
        return 0;
    }
    if (since) {
        if (parse_value(since, LS_MAX_SEQ, &q.since) < 0) {
            *ret_error = "since must be a decimal seq (0 for the first line)";
            return -EINVAL;
        }
        q.mode = LS_LOGS_SINCE;
    }
    if (limit) {
        if (parse_value(limit, LS_LOGS_MAX_LIMIT, &q.limit) < 0 || q.limit == 0) {
            *ret_error = "limit must be a number of lines from 1 to 100000";
            return -EINVAL;
        }
        q.mode = LS_LOGS_SINCE;
    }
    *ret = q;
    return 0;
}

int ls_builds_query_parse(const char *limit, const char *before, uint64_t *ret_limit,
                          int64_t *ret_before, const char **ret_error)
{
    uint64_t l = LS_BUILDS_DEFAULT_LIMIT, b = 0;
    if (limit && (parse_value(limit, LS_BUILDS_MAX_LIMIT, &l) < 0 || l == 0)) {
        *ret_error = "limit must be a number of builds from 1 to 1000";
        return -EINVAL;
    }
    if (before && parse_value(before, LS_MAX_BUILD_ID, &b) < 0) {
        *ret_error = "before must be a build id";
        return -EINVAL;
    }
    *ret_limit = l;
    *ret_before = (int64_t)b;
    return 0;
}

int ls_sse_resume_parse(const char *last_event_id, const char *since, uint64_t *ret_after,
                        const char **ret_error)
{
    uint64_t v = 0;
    if (last_event_id) {
        const char *s = last_event_id;
        size_t len = strlen(s);
        while (len && *s == ' ') {
            s++;
            len--;
        }
        while (len && s[len - 1] == ' ')
            len--;
        if (len == 0) {
            v = 0; /* an empty id resets, as EventSource does */
        } else if (ls_parse_uint_strict(s, len, LS_MAX_SEQ, &v) < 0) {
            *ret_error = "Last-Event-ID must be a seq sent by this server";
            return -EINVAL;
        }
        *ret_after = v;
        return 0;
    }
    if (since && parse_value(since, LS_MAX_SEQ, &v) < 0) {
        *ret_error = "since must be a decimal seq (0 for the first line)";
        return -EINVAL;
    }
    *ret_after = v;
    return 0;
}

/* Compares the media type of ct (before any ';', spaces trimmed) to type. */
static bool media_type_is(const char *ct, const char *type)
{
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t len = strcspn(ct, ";");
    while (len && (ct[len - 1] == ' ' || ct[len - 1] == '\t'))
        len--;
    return len == strlen(type) && strncasecmp(ct, type, len) == 0;
}

int ls_ingest_mode_parse(const char *content_type, ls_ingest_mode *ret)
{
    if (!content_type || media_type_is(content_type, "application/x-logstream-records")) {
        *ret = LS_INGEST_RECORDS;
        return 0;
    }
    if (media_type_is(content_type, "text/plain")) {
        *ret = LS_INGEST_TEXT;
        return 0;
    }
    return -EMEDIUMTYPE;
}

bool ls_accepts_event_stream(const char *accept)
{
    if (!accept)
        return false;
    const char *p = accept;
    while (*p) {
        size_t len = strcspn(p, ",");
        char item[64];
        if (len < sizeof(item)) {
            memcpy(item, p, len);
            item[len] = '\0';
            if (media_type_is(item, "text/event-stream"))
                return true;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}
