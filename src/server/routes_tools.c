/* Tool-usage API (docs/api.md, "Tool usage"): the tool-usage plugin POSTs
 * the publishes and deploys it recognises; GET lists a build's events. New,
 * non-dry-run events are counted in logstream_tool_usage_total{tool,action}. */
#include "server/routes_tools.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "store/store_tools.h"

/* Events accepted in one POST. */

/* 1..32 bytes of [a-z0-9._-]: safe as a Prometheus label value as it is. */
static bool label_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= LS_TOOL_NAME_MAX)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
              *p == '-'))
            return false;
    return true;
}

/* Copies an optional string field (absent = def) of at most max-1 bytes
 * without NUL. Returns false with *ret_error set when it is not such a string.
 */
static bool get_text(json_t *o, const char *key, const char *def, char *dst, size_t max,
                     const char **ret_error)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        snprintf(dst, max, "%s", def);
        return true;
    }
    if (!json_is_string(v) || json_string_length(v) >= max ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        *ret_error = "must be a string (without NUL) that is not too long";
        return false;
    }
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return true;
}

static bool get_int(json_t *o, const char *key, int64_t min, int64_t max, int64_t *ret,
                    const char **ret_error)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return true; /* keep the default */
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        *ret_error = "must be an integer in range";
        return false;
    }
    *ret = json_integer_value(v);
    return true;
}

/* Reads one event object; on failure writes a message into msg. */
static bool parse_event(json_t *o, size_t i, int64_t build, ls_tool_event *e, char *msg,
                        size_t msglen)
{
    const char *err = NULL, *field = NULL;
    int64_t step = 0;
    memset(e, 0, sizeof(*e));
    e->build_id = build;
    if (!json_is_object(o)) {
        snprintf(msg, msglen, "events[%zu] must be an object", i);
        return false;
    }
    if (!get_int(o, "step", 1, 1000000, &step, &err) || step == 0) {
        field = "step";
        err = err ? err : "is required: the step's number in the build";
    } else if (!get_int(o, "seq", 1, INT64_MAX, &e->seq, &err)) {
        field = "seq";
    } else if (!get_int(o, "line", 0, INT64_MAX, &e->line, &err)) {
        field = "line";
    } else if (!get_text(o, "tool", "", e->tool, sizeof(e->tool), &err) || !label_ok(e->tool)) {
        field = "tool";
        err = "must be 1 to 32 characters of a-z, 0-9, '.', '_' and '-'";
    } else if (!get_text(o, "action", "", e->action, sizeof(e->action), &err) ||
               !label_ok(e->action)) {
        field = "action";
        err = "must be 1 to 32 characters of a-z, 0-9, '.', '_' and '-'";
    } else if (!get_text(o, "target", "", e->target, sizeof(e->target), &err)) {
        field = "target";
        err = "must be a string of at most 1024 bytes";
    } else if (!get_text(o, "details", "", e->details, sizeof(e->details), &err)) {
        field = "details";
        err = "must be a string of at most 1024 bytes";
    } else if (!get_text(o, "outcome", "unknown", e->outcome, sizeof(e->outcome), &err) ||
               (strcmp(e->outcome, "succeeded") && strcmp(e->outcome, "failed") &&
                strcmp(e->outcome, "unknown"))) {
        field = "outcome";
        err = "must be \"succeeded\", \"failed\" or \"unknown\"";
    } else if (!get_text(o, "source", "command", e->source, sizeof(e->source), &err) ||
               (strcmp(e->source, "command") && strcmp(e->source, "output"))) {
        field = "source";
        err = "must be \"command\" or \"output\"";
    } else {
        json_t *dr = json_object_get(o, "dry_run");
        if (dr && !json_is_boolean(dr) && !json_is_null(dr)) {
            field = "dry_run";
            err = "must be true or false";
        } else {
            e->dry_run = json_is_true(dr);
        }
    }
    if (field) {
        snprintf(msg, msglen, "events[%zu].%s %s", i, field, err);
        return false;
    }
    e->step = (int)step;
    return true;
}

static enum MHD_Result store_failure(ls_req *r, int rc, const char *what)
{
    char msg[300];
    if (rc == -ENOENT) {
        snprintf(msg, sizeof(msg), "%s", ls_store_last_error());
        return ls_req_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", msg, NULL);
    }
    if (rc == -ENOTSUP) {
        snprintf(msg, sizeof(msg), "this server's storage does not keep tool-usage events");
        return ls_req_respond_error(r, MHD_HTTP_NOT_IMPLEMENTED, "not_supported", msg, NULL);
    }
    snprintf(msg, sizeof(msg), "storage failed while %s: %s (see the server log)", what,
             ls_store_last_error());
    return ls_req_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_error", msg, NULL);
}

static enum MHD_Result tool_usage_post(ls_req *r)
{
    json_t *body = ls_req_json_body(r);
    if (!body)
        return MHD_YES;
    char msg[300];
    enum MHD_Result ret;
    ls_tool_event *events = NULL;
    bool *added = NULL;
    size_t n = 0;
    /* {"events":[...]} or one event object */
    json_t *arr = json_object_get(body, "events");
    if (!arr && json_object_get(body, "tool")) {
        arr = json_array();
        json_array_append(arr, body);
    } else if (json_is_array(arr)) {
        json_incref(arr);
    } else {
        ret = ls_req_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_event",
                                   "the body must be {\"events\":[{\"step\":N,\"tool\":…,"
                                   "\"action\":…,\"target\":…}]} or one such event",
                                   NULL);
        goto out_body;
    }
    n = json_array_size(arr);
    if ((int64_t)n > r->srv->cfg.max_tool_events) {
        snprintf(msg, sizeof(msg),
                 "%zu events in one request; at most %lld (--max-tool-events): send them in "
                 "several requests",
                 n, (long long)r->srv->cfg.max_tool_events);
        ret = ls_req_respond_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "too_many_events", msg, NULL);
        goto out;
    }
    events = ls_xcalloc(n ? n : 1, sizeof(*events));
    added = ls_xcalloc(n ? n : 1, sizeof(*added));
    for (size_t i = 0; i < n; i++) {
        if (!parse_event(json_array_get(arr, i), i, r->route.build, &events[i], msg, sizeof(msg))) {
            ret = ls_req_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_event", msg, NULL);
            goto out;
        }
    }
    int rc = ls_store_add_tool_events(r->srv->store, events, n, added);
    if (rc < 0) {
        ret = store_failure(r, rc, "storing tool-usage events");
        goto out;
    }
    size_t stored = 0;
    for (size_t i = 0; i < n; i++) {
        if (!added[i])
            continue;
        stored++;
        if (!events[i].dry_run)
            ls_tool_counters_add(&r->srv->metrics.tool_usage, events[i].tool, events[i].action, 1);
    }
    ret = ls_req_respond_json(r, MHD_HTTP_CREATED,
                              json_pack("{s:I, s:I}", "stored", (json_int_t)stored, "duplicates",
                                        (json_int_t)(n - stored)));
out:
    json_decref(arr);
out_body:
    json_decref(body);
    free(events);
    free(added);
    return ret;
}

static json_t *event_json(const ls_tool_event *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(e->id));
    json_object_set_new(o, "step", json_integer(e->step));
    json_object_set_new(o, "seq", e->seq ? json_integer(e->seq) : json_null());
    json_object_set_new(o, "line", json_integer(e->line));
    json_object_set_new(o, "tool", json_string(e->tool));
    json_object_set_new(o, "action", json_string(e->action));
    json_object_set_new(o, "target", json_string(e->target));
    json_object_set_new(o, "details", json_string(e->details));
    json_object_set_new(o, "dry_run", json_boolean(e->dry_run));
    json_object_set_new(o, "outcome", json_string(e->outcome));
    json_object_set_new(o, "source", json_string(e->source));
    json_object_set_new(o, "created_ms", json_integer(e->created_ms));
    return o;
}

#define LIST_DEFAULT_LIMIT 1000
#define LIST_MAX_LIMIT 10000

static enum MHD_Result tool_usage_get(ls_req *r)
{
    uint64_t after = 0, limit = LIST_DEFAULT_LIMIT;
    const char *a = ls_req_query(r, "after"), *l = ls_req_query(r, "limit");
    if (a && ls_parse_uint_strict(a, strlen(a), LS_MAX_SEQ, &after) < 0)
        return ls_req_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_query",
                                    "after must be an event id (0 for the first)", NULL);
    if (l && (ls_parse_uint_strict(l, strlen(l), LIST_MAX_LIMIT, &limit) < 0 || limit == 0))
        return ls_req_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_query",
                                    "limit must be a number of events from 1 to 10000", NULL);
    ls_build_info b;
    int rc = ls_store_get_build(r->srv->store, r->route.build, &b, NULL, NULL);
    if (rc < 0) {
        if (rc == -ENOENT) {
            char msg[100];
            snprintf(msg, sizeof(msg), "there is no build %lld", (long long)r->route.build);
            return ls_req_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", msg, NULL);
        }
        return store_failure(r, rc, "reading a build");
    }
    ls_tool_event *events = NULL;
    size_t n = 0;
    rc = ls_store_list_tool_events(r->srv->store, r->route.build, (int64_t)after, limit, &events,
                                   &n);
    if (rc < 0)
        return store_failure(r, rc, "listing tool-usage events");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, event_json(&events[i]));
    json_t *o = json_object();
    json_object_set_new(o, "build", json_integer(r->route.build));
    json_object_set_new(o, "events", arr);
    /* a full page may have more after it */
    json_object_set_new(o, "next_after", n == limit ? json_integer(events[n - 1].id) : json_null());
    free(events);
    return ls_req_respond_json(r, MHD_HTTP_OK, o);
}

const ls_handler ls_tool_usage_post_handler = {.finish = tool_usage_post};
const ls_handler ls_tool_usage_get_handler = {.begin = tool_usage_get};
