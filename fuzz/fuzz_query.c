/* links: server store common */
/* Fuzzes the request parsers of src/server/reqparse.c: the input is split at
 * '\n' into a path, since, limit, tail, Last-Event-ID, Content-Type and
 * Accept value. Checks that accepted values round-trip and stay in range. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/reqparse.h"

#define PARTS 7

/* Round trip: a value the strict parser accepted prints back to its input. */
static void check_number(const char *s)
{
    uint64_t v;
    if (ls_parse_uint_strict(s, strlen(s), UINT64_MAX, &v) != 0)
        return;
    char again[32];
    snprintf(again, sizeof(again), "%" PRIu64, v);
    if (strcmp(again, s) != 0)
        abort();
}

static void check_route(const char *path)
{
    ls_route r;
    const char *err = NULL;
    int rc = ls_route_parse(path, &r, &err);
    if (rc == 0) {
        if (r.build < 0 || (uint64_t)r.build > LS_MAX_BUILD_ID || r.step < 0 ||
            (unsigned)r.step > LS_MAX_STEP_NUMBER)
            abort();
        /* routes under /api/v1/builds/{build} name a build; those under
         * .../steps/{step} a step too (the enum is not ordered by that) */
        bool has_build = r.id == LS_ROUTE_BUILD || r.id == LS_ROUTE_BUILD_EVENTS ||
                         r.id == LS_ROUTE_BUILD_TESTS || r.id == LS_ROUTE_BUILD_TOOL_USAGE;
        bool has_step = r.id == LS_ROUTE_STEP || r.id == LS_ROUTE_STEP_STREAM ||
                        r.id == LS_ROUTE_STEP_LOGS || r.id == LS_ROUTE_STEP_SEARCH;
        if ((has_build || has_step) != (r.build != 0) || has_step != (r.step != 0))
            abort();
        if ((r.id == LS_ROUTE_TOKEN) != (r.token != 0))
            abort();
    } else if (rc != -ENOENT && rc != -EINVAL) {
        abort();
    } else if (!err) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *part[PARTS] = {0};
    char *p = buf;
    for (int i = 0; i < PARTS && p; i++) {
        part[i] = p;
        char *nl = strchr(p, '\n');
        if (nl)
            *nl++ = '\0';
        p = nl;
    }
    check_route(part[0] ? part[0] : "");
    for (int i = 1; i < 5; i++)
        if (part[i])
            check_number(part[i]);

    ls_logs_query q;
    const char *err = NULL;
    if (ls_logs_query_parse(part[1], part[2], part[3], &q, &err) == 0) {
        if (q.limit == 0 || q.limit > LS_LOGS_MAX_LIMIT || q.since > LS_MAX_SEQ)
            abort();
    } else if (!err) {
        abort();
    }
    uint64_t after;
    err = NULL;
    if (ls_sse_resume_parse(part[4], part[1], &after, &err) == 0) {
        if (after > LS_MAX_SEQ)
            abort();
    } else if (!err) {
        abort();
    }
    uint64_t limit;
    int64_t before;
    if (ls_builds_query_parse(part[2], part[3], &limit, &before, &err) == 0 &&
        (limit == 0 || limit > LS_BUILDS_MAX_LIMIT || before < 0))
        abort();
    ls_ingest_mode mode;
    int rc = ls_ingest_mode_parse(part[5], &mode);
    if (rc != 0 && rc != -EMEDIUMTYPE)
        abort();
    (void)ls_accepts_event_stream(part[6]);
    free(buf);
    return 0;
}
