#include "server/routes_builds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/timeutil.h"
#include "server/auth.h"
#include "server/build_events.h"
#include "server/fanout.h"
#include "server/server_events.h"
#include "server/live.h"

#define MAX_STEPS_PER_BUILD 1000

static json_t *time_or_null(int64_t ms)
{
    return ms ? json_integer(ms) : json_null();
}

json_t *ls_step_json(ls_server *srv, const ls_step_info *st)
{
    uint64_t lines = st->line_count, bytes = st->byte_count;
    uint64_t drop_first = st->drop_first, drop_last = st->drop_last, drop_bytes = st->drop_bytes;
    ls_live_step *ls = ls_live_find(srv->live, st->build_id, st->number);
    if (ls) {
        ls_live_state s;
        ls_live_get_state(ls, &s);
        ls_live_release(ls);
        if (s.durable_seq > lines) {
            lines = s.durable_seq;
            bytes = s.durable_bytes;
        }
        if (s.drop_last > drop_last) {
            drop_first = s.drop_first;
            drop_last = s.drop_last;
            drop_bytes = s.drop_bytes;
        }
    }
    json_t *o = json_object();
    json_object_set_new(o, "number", json_integer(st->number));
    json_object_set_new(o, "name", json_string(st->name));
    json_object_set_new(o, "kind",
                        json_string(st->plugins   ? "plugins"
                                    : st->service ? "service"
                                                  : "step"));
    json_object_set_new(o, "status", json_string(ls_status_name(st->status)));
    json_object_set_new(o, "exit_code",
                        st->has_exit_code ? json_integer(st->exit_code) : json_null());
    json_object_set_new(o, "started_ms", time_or_null(st->started_ms));
    json_object_set_new(o, "finished_ms", time_or_null(st->finished_ms));
    json_object_set_new(o, "lines", json_integer((json_int_t)lines));
    json_object_set_new(o, "bytes", json_integer((json_int_t)bytes));
    json_object_set_new(o, "truncated", json_boolean(st->truncated || drop_last));
    /* the dropped middle (server/limits.h): readers see one marker line at
     * seq first, then seq last + 1 */
    json_object_set_new(o, "dropped",
                        drop_last
                            ? json_pack("{s:I, s:I, s:I}", "first", (json_int_t)drop_first, "last",
                                        (json_int_t)drop_last, "bytes", (json_int_t)drop_bytes)
                            : json_null());
    return o;
}

json_t *ls_build_json(ls_server *srv, const ls_build_info *b, const ls_step_info *steps,
                      size_t n_steps)
{
    char url[512];
    snprintf(url, sizeof(url), "%s/builds/%lld", srv->public_url, (long long)b->id);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(b->id));
    json_object_set_new(o, "name", json_string(b->name));
    json_object_set_new(o, "number", json_integer(b->number));
    json_object_set_new(o, "status", json_string(ls_status_name(b->status)));
    json_object_set_new(o, "created_ms", json_integer(b->created_ms));
    json_object_set_new(o, "started_ms", time_or_null(b->started_ms));
    json_object_set_new(o, "finished_ms", time_or_null(b->finished_ms));
    json_object_set_new(o, "url", json_string(url));
    if (steps) {
        json_t *a = json_array();
        for (size_t i = 0; i < n_steps; i++)
            json_array_append_new(a, ls_step_json(srv, &steps[i]));
        json_object_set_new(o, "steps", a);
    }
    return o;
}

json_t *ls_build_json_load(ls_server *srv, int64_t build_id)
{
    ls_build_info b;
    ls_step_info *steps = NULL;
    size_t n = 0;
    if (ls_store_get_build(srv->store, build_id, &b, &steps, &n) < 0)
        return NULL;
    json_t *o = ls_build_json(srv, &b, steps ? steps : (ls_step_info[1]){{0}}, n);
    free(steps);
    return o;
}

static enum MHD_Result store_error(ls_req *r, int rc, const char *what)
{
    char msg[300];
    if (rc == -ENOENT) {
        if (r->route.step)
            snprintf(msg, sizeof(msg), "build %lld has no step %d", (long long)r->route.build,
                     r->route.step);
        else
            snprintf(msg, sizeof(msg), "there is no build %lld", (long long)r->route.build);
        return ls_req_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", msg, NULL);
    }
    if (rc == -ENOSPC) {
        snprintf(msg, sizeof(msg),
                 "the server is out of storage space (disk full or --max-disk reached) while %s: "
                 "retry later",
                 what);
        return ls_req_respond_error(r, MHD_HTTP_INSUFFICIENT_STORAGE, "insufficient_storage", msg,
                                    NULL);
    }
    snprintf(msg, sizeof(msg), "storage failed while %s: %s (see the server log)", what,
             ls_store_last_error());
    return ls_req_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_error", msg, NULL);
}

/* Reads a required name field (1..LS_NAME_MAX-1 bytes, no NUL). */
static const char *get_name(json_t *obj, const char *key, const char **ret_error)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        *ret_error = "is missing or not a string";
        return NULL;
    }
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (len == 0 || len >= LS_NAME_MAX || strlen(s) != len) {
        *ret_error = "must be 1 to 255 bytes of text without NUL";
        return NULL;
    }
    return s;
}

static int parse_steps(json_t *arr, ls_step_info **ret, size_t *ret_n, char *msg, size_t msglen)
{
    size_t n = json_array_size(arr);
    if (arr && !json_is_array(arr)) {
        snprintf(msg, msglen, "\"steps\" must be an array of {\"name\":…,\"kind\":…}");
        return -EINVAL;
    }
    if (n > MAX_STEPS_PER_BUILD) {
        snprintf(msg, msglen, "a build has at most %d steps", MAX_STEPS_PER_BUILD);
        return -EINVAL;
    }
    ls_step_info *steps = ls_xcalloc(n ? n : 1, sizeof(*steps));
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(arr, i);
        const char *err = NULL;
        const char *name = json_is_object(s) ? get_name(s, "name", &err) : NULL;
        if (!name) {
            snprintf(msg, msglen, "steps[%zu].name %s", i, err ? err : "is missing");
            free(steps);
            return -EINVAL;
        }
        json_t *kind = json_object_get(s, "kind");
        const char *k = kind ? json_string_value(kind) : "step";
        if (!k ||
            (strcmp(k, "step") != 0 && strcmp(k, "service") != 0 && strcmp(k, "plugins") != 0)) {
            snprintf(msg, msglen, "steps[%zu].kind must be \"step\", \"service\" or \"plugins\"",
                     i);
            free(steps);
            return -EINVAL;
        }
        /* the plugin host's output: one log per build, after every step and service */
        if (strcmp(k, "plugins") == 0 && (i + 1 != n || strcmp(name, "plugins") != 0)) {
            snprintf(msg, msglen,
                     "steps[%zu]: a build has at most one log of kind \"plugins\", named "
                     "\"plugins\" and listed last",
                     i);
            free(steps);
            return -EINVAL;
        }
        snprintf(steps[i].name, sizeof(steps[i].name), "%s", name);
        steps[i].service = strcmp(k, "service") == 0;
        steps[i].plugins = strcmp(k, "plugins") == 0;
    }
    *ret = steps;
    *ret_n = n;
    return 0;
}

static enum MHD_Result builds_create(ls_req *r)
{
    json_t *body = ls_req_json_body(r);
    if (!body)
        return MHD_YES;
    enum MHD_Result ret;
    const char *err = NULL;
    char msg[300];
    ls_step_info *steps = NULL;
    size_t n = 0;
    const char *name = get_name(body, "name", &err);
    if (!name) {
        snprintf(msg, sizeof(msg), "\"name\" %s", err);
        ret = ls_req_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_build", msg, NULL);
        goto out;
    }
    if (parse_steps(json_object_get(body, "steps"), &steps, &n, msg, sizeof(msg)) < 0) {
        ret = ls_req_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_build", msg, NULL);
        goto out;
    }
    ls_build_info b;
    int rc = ls_store_create_build(r->srv->store, name, steps, n, &b);
    if (rc < 0) {
        ret = store_error(r, rc, "creating the build");
        goto out;
    }
    json_t *obj = ls_build_json_load(r->srv, b.id);
    if (!obj) {
        ret = store_error(r, -EIO, "reading the new build");
        goto out;
    }
    /* The build's own upload token (auth.h): the worker streams and PATCHes
     * with it, so its own token never reaches the steps' plugins; it stops
     * working when the build reaches a final status. */
    char token[LS_TOKEN_BUF], token_name[64];
    snprintf(token_name, sizeof(token_name), "upload token of build %lld", (long long)b.id);
    rc = ls_auth_issue(r->srv, LS_SCOPE_BUILD, token_name, b.id, r->srv->cfg.build_token_ttl_ms,
                       token, NULL);
    if (rc < 0) {
        json_decref(obj);
        ret = store_error(r, rc == -ENOENT ? -EIO : rc, "making the build's upload token");
        goto out;
    }
    json_t *listed = ls_build_json(r->srv, &b, NULL, 0);
    ls_server_events_publish(r->srv->server_events, "build", listed);
    ls_fanout_publish_server_event(r->srv->fanout, "build", listed);
    json_decref(listed);
    json_object_set_new(obj, "upload_token", json_string(token));
    memset(token, 0, sizeof(token));
    ret = ls_req_respond_json(r, MHD_HTTP_CREATED, obj);
out:
    free(steps);
    json_decref(body);
    return ret;
}

static enum MHD_Result builds_list(ls_req *r)
{
    uint64_t limit;
    int64_t before;
    const char *err = NULL;
    if (ls_builds_query_parse(ls_req_query(r, "limit"), ls_req_query(r, "before"), &limit, &before,
                              &err) < 0)
        return ls_req_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_query", err, NULL);
    ls_build_info *builds = NULL;
    size_t n = 0;
    int rc = ls_store_list_builds(r->srv->store, before, limit, &builds, &n);
    if (rc < 0)
        return store_error(r, rc, "listing builds");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, ls_build_json(r->srv, &builds[i], NULL, 0));
    free(builds);
    return ls_req_respond_json(r, MHD_HTTP_OK, json_pack("{s:o}", "builds", arr));
}

static enum MHD_Result build_get(ls_req *r)
{
    ls_build_info b;
    ls_step_info *steps = NULL;
    size_t n = 0;
    int rc = ls_store_get_build(r->srv->store, r->route.build, &b, &steps, &n);
    if (rc < 0)
        return store_error(r, rc, "reading the build");
    json_t *obj = ls_build_json(r->srv, &b, steps ? steps : (ls_step_info[1]){{0}}, n);
    free(steps);
    return ls_req_respond_json(r, MHD_HTTP_OK, obj);
}

/* Reads and checks "status" of a PATCH body against the current status
 * (absent when optional: the status stays). Returns 0 (and *ret_changed=false
 * when it is the same status), or queues a 400/409 and returns -EINVAL. */
static int patch_status(ls_req *r, json_t *body, bool optional, ls_status cur, ls_status *ret,
                        bool *ret_changed)
{
    json_t *v = json_object_get(body, "status");
    ls_status st;
    if (!v && optional) {
        *ret = cur;
        *ret_changed = false;
        return 0;
    }
    if (!json_is_string(v) || ls_status_parse(json_string_value(v), &st) < 0) {
        ls_req_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_status",
                             "\"status\" must be one of pending, running, success, failure, "
                             "canceled",
                             NULL);
        return -EINVAL;
    }
    if (ls_status_is_final(cur) && st != cur) {
        char msg[200];
        snprintf(msg, sizeof(msg), "the status is already final (%s) and cannot become %s",
                 ls_status_name(cur), ls_status_name(st));
        ls_req_respond_error(r, MHD_HTTP_CONFLICT, "status_final", msg,
                             json_pack("{s:s}", "status", ls_status_name(cur)));
        return -EINVAL;
    }
    *ret = st;
    *ret_changed = st != cur;
    return 0;
}

/* Stamps started/finished times for a move to status st. */
static void stamp_times(ls_status st, int64_t *started_ms, int64_t *finished_ms)
{
    int64_t now = ls_now_ms();
    if ((st == LS_STATUS_RUNNING || ls_status_is_final(st)) && !*started_ms)
        *started_ms = now;
    if (ls_status_is_final(st) && !*finished_ms)
        *finished_ms = now;
}

static enum MHD_Result build_patch(ls_req *r)
{
    json_t *body = ls_req_json_body(r);
    if (!body)
        return MHD_YES;
    enum MHD_Result ret = MHD_YES;
    ls_build_info b;
    bool changed;
    int rc = ls_store_get_build(r->srv->store, r->route.build, &b, NULL, NULL);
    if (rc < 0) {
        ret = store_error(r, rc, "reading the build");
        goto out;
    }
    if (patch_status(r, body, false, b.status, &b.status, &changed) < 0)
        goto out;
    if (changed) {
        stamp_times(b.status, &b.started_ms, &b.finished_ms);
        rc = ls_store_update_build(r->srv->store, &b);
        if (rc < 0) {
            ret = store_error(r, rc, "updating the build");
            goto out;
        }
    }
    json_t *obj = ls_build_json_load(r->srv, b.id);
    if (!obj) {
        ret = store_error(r, -EIO, "reading the build");
        goto out;
    }
    if (changed) {
        json_t *ev = ls_build_json(r->srv, &b, NULL, 0);
        ls_build_events_publish(r->srv->events, b.id, "build", ev, ls_status_is_final(b.status));
        ls_server_events_publish(r->srv->server_events, "build", ev);
        ls_fanout_publish_build_event(r->srv->fanout, b.id, "build", ev,
                                      ls_status_is_final(b.status));
        ls_fanout_publish_server_event(r->srv->fanout, "build", ev);
        json_decref(ev);
    }
    ret = ls_req_respond_json(r, MHD_HTTP_OK, obj);
out:
    json_decref(body);
    return ret;
}

static enum MHD_Result step_get(ls_req *r)
{
    ls_step_info st;
    int rc = ls_store_get_step(r->srv->store, r->route.build, r->route.step, &st);
    if (rc < 0)
        return store_error(r, rc, "reading the step");
    return ls_req_respond_json(r, MHD_HTTP_OK, ls_step_json(r->srv, &st));
}

/* Reads optional "exit_code" (integer or null). */
static int patch_exit_code(ls_req *r, json_t *body, ls_step_info *st)
{
    json_t *v = json_object_get(body, "exit_code");
    if (!v)
        return 0;
    if (json_is_null(v)) {
        st->has_exit_code = false;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < -2147483647 - 1 ||
        json_integer_value(v) > 2147483647) {
        ls_req_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_exit_code",
                             "\"exit_code\" must be an integer or null", NULL);
        return -EINVAL;
    }
    st->has_exit_code = true;
    st->exit_code = (int)json_integer_value(v);
    return 0;
}

static enum MHD_Result step_patch(ls_req *r)
{
    json_t *body = ls_req_json_body(r);
    if (!body)
        return MHD_YES;
    enum MHD_Result ret = MHD_YES;
    ls_step_info st;
    bool changed;
    int rc = ls_store_get_step(r->srv->store, r->route.build, r->route.step, &st);
    if (rc < 0) {
        ret = store_error(r, rc, "reading the step");
        goto out;
    }
    ls_step_info before = st;
    if (patch_status(r, body, true, st.status, &st.status, &changed) < 0)
        goto out;
    if (patch_exit_code(r, body, &st) < 0)
        goto out;
    changed =
        changed || st.has_exit_code != before.has_exit_code || st.exit_code != before.exit_code;
    if (changed) {
        stamp_times(st.status, &st.started_ms, &st.finished_ms);
        rc = ls_store_update_step(r->srv->store, &st);
        if (rc < 0) {
            ret = store_error(r, rc, "updating the step");
            goto out;
        }
        /* the lines the step has: other instances send the end after them */
        ls_fanout_status fst = {.status = st.status,
                                .has_exit_code = st.has_exit_code,
                                .exit_code = st.exit_code,
                                .lines = st.line_count};
        ls_live_step *ls = ls_live_find(r->srv->live, st.build_id, st.number);
        if (ls && !r->srv->fanout) {
            ls_live_set_status(ls, st.status, st.has_exit_code, st.exit_code, ls_mono_ms());
        } else if (ls) {
            /* several instances: when the lines come from another one, the
             * end waits until they are all here (or read from the store) */
            ls_live_state lst;
            ls_live_get_state(ls, &lst);
            if (!ls_live_is_remote(ls) && lst.received_seq > fst.lines)
                fst.lines = lst.received_seq;
            ls_live_set_status_remote(ls, st.status, st.has_exit_code, st.exit_code, fst.lines);
        }
        ls_live_release(ls);
        ls_fanout_publish_status(r->srv->fanout, st.build_id, st.number, &fst);
    }
    json_t *obj = ls_step_json(r->srv, &st);
    if (changed) {
        ls_build_events_publish(r->srv->events, st.build_id, "step", obj, false);
        ls_fanout_publish_build_event(r->srv->fanout, st.build_id, "step", obj, false);
    }
    ret = ls_req_respond_json(r, MHD_HTTP_OK, obj);
out:
    json_decref(body);
    return ret;
}

const ls_handler ls_builds_list_handler = {.begin = builds_list};
const ls_handler ls_builds_create_handler = {.finish = builds_create};
const ls_handler ls_build_get_handler = {.begin = build_get};
const ls_handler ls_build_patch_handler = {.finish = build_patch};
const ls_handler ls_step_get_handler = {.begin = step_get};
const ls_handler ls_step_patch_handler = {.finish = step_patch};
