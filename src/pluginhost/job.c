#include "pluginhost/job.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/buf.h"

/* Returns a malloc'ed text form of a scalar JSON value (string as is, numbers
 * and booleans in JSON spelling), or NULL for null, arrays and objects. */
static char *scalar_text(const json_t *v)
{
    char tmp[64];
    switch (json_typeof(v)) {
    case JSON_STRING:
        return ls_xmemdup0(json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return ls_xstrdup(tmp);
    case JSON_REAL:
        snprintf(tmp, sizeof(tmp), "%.17g", json_real_value(v));
        return ls_xstrdup(tmp);
    case JSON_TRUE:
        return ls_xstrdup("true");
    case JSON_FALSE:
        return ls_xstrdup("false");
    default:
        return NULL;
    }
}

/* A string member of obj, "" when absent or not a scalar. */
static char *member_text(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    char *s = v ? scalar_text(v) : NULL;
    return s ? s : ls_xstrdup("");
}

static void warn(ls_buf *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(ls_buf *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ls_buf_vprintf(w, fmt, ap);
    va_end(ap);
    ls_buf_putc(w, '\n');
}

/* Fills a name/value array from a JSON object of scalars; skips the rest. */
static ls_plugin_variable *parse_pairs(const json_t *obj, const char *what, size_t *ret_n,
                                       ls_buf *w)
{
    size_t n = 0;
    ls_plugin_variable *out = ls_xcalloc(json_object_size(obj) + 1, sizeof(*out));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        char *text = scalar_text(v);
        if (!text) {
            warn(w, "%s \"%s\" is not a string, number or boolean: skipped", what, key);
            continue;
        }
        out[n].name = ls_xstrdup(key);
        out[n].value = text;
        n++;
    }
    *ret_n = n;
    return out;
}

static void free_pairs(ls_plugin_variable *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)p[i].name);
        free((char *)p[i].value);
    }
    free(p);
}

static bool valid_step_id(const char *id, size_t len)
{
    return len > 0 && len <= LS_JOB_MAX_STEP_ID && !memchr(id, ':', len) &&
           !memchr(id, '\n', len) && !memchr(id, '\0', len);
}

static size_t hash_id(const char *id, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)id[i]) * 1099511628211ULL;
    return (size_t)h;
}

/* Builds the id -> step hash (load factor <= 1/2). */
static void index_steps(ls_job *job)
{
    size_t cap = 8;
    while (cap < job->n_steps * 2)
        cap *= 2;
    job->step_index = ls_xcalloc(cap, sizeof(size_t));
    job->step_index_mask = cap - 1;
    for (size_t i = 0; i < job->n_steps; i++) {
        const char *id = job->steps[i].id;
        size_t slot = hash_id(id, strlen(id)) & job->step_index_mask;
        while (job->step_index[slot])
            slot = (slot + 1) & job->step_index_mask;
        job->step_index[slot] = i + 1;
    }
}

const ls_plugin_step *ls_job_find_step(const ls_job *job, const char *id, size_t len)
{
    size_t slot = hash_id(id, len) & job->step_index_mask;
    for (size_t k; (k = job->step_index[slot]) != 0; slot = (slot + 1) & job->step_index_mask) {
        const ls_plugin_step *s = &job->steps[k - 1];
        if (strncmp(s->id, id, len) == 0 && s->id[len] == '\0')
            return s;
    }
    return NULL;
}

static bool has_step(const ls_job *job, const char *id)
{
    for (size_t i = 0; i < job->n_steps; i++)
        if (strcmp(job->steps[i].id, id) == 0)
            return true;
    return false;
}

static void parse_steps(ls_job *job, const json_t *arr, ls_buf *w)
{
    job->steps = ls_xcalloc(json_array_size(arr) + 1, sizeof(*job->steps));
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s)
    {
        const json_t *idv = json_is_object(s) ? json_object_get(s, "id") : NULL;
        char *id = idv && (json_is_string(idv) || json_is_integer(idv)) ? scalar_text(idv) : NULL;
        const char *why = !id                              ? "no \"id\" (string or integer)"
                          : !valid_step_id(id, strlen(id)) ? "id is empty, too long or has ':'"
                          : has_step(job, id)              ? "duplicate id"
                                                           : NULL;
        if (why) {
            warn(w, "steps[%zu]: %s: skipped", i, why);
            free(id);
            continue;
        }
        ls_plugin_step *st = &job->steps[job->n_steps];
        st->id = id;
        st->name = member_text(s, "name");
        st->index = job->n_steps++;
    }
}

static void parse_repositories(ls_job *job, const json_t *arr, ls_buf *w)
{
    job->repositories = ls_xcalloc(json_array_size(arr) + 1, sizeof(*job->repositories));
    size_t i;
    json_t *r;
    json_array_foreach(arr, i, r)
    {
        if (!json_is_object(r)) {
            warn(w, "repositories[%zu]: not an object: skipped", i);
            continue;
        }
        ls_plugin_repository *repo = &job->repositories[job->n_repositories++];
        repo->name = member_text(r, "name");
        repo->url = member_text(r, "url");
        repo->ref = member_text(r, "ref");
        repo->commit = member_text(r, "commit");
        repo->path = member_text(r, "path");
    }
}

/* One "plugins" entry: true/false, or {"enabled": bool, "settings": {...}}. */
static bool parse_plugin(ls_job_plugin_conf *c, const char *name, const json_t *v, ls_buf *w)
{
    const json_t *settings = NULL;
    if (json_is_boolean(v)) {
        c->enabled = json_is_true(v);
    } else if (json_is_object(v)) {
        const json_t *en = json_object_get(v, "enabled");
        if (en && !json_is_boolean(en))
            warn(w, "plugins.%s.enabled is not a boolean: taken as true", name);
        c->enabled = !json_is_false(en);
        settings = json_object_get(v, "settings");
        if (settings && !json_is_object(settings)) {
            warn(w, "plugins.%s.settings is not an object: ignored", name);
            settings = NULL;
        }
    } else {
        warn(w, "plugins.%s is neither a boolean nor an object: skipped", name);
        return false;
    }
    c->name = ls_xstrdup(name);
    if (settings) {
        c->settings_json = json_dumps(settings, JSON_COMPACT | JSON_ENCODE_ANY);
        c->settings = parse_pairs(settings, "setting", &c->n_settings, w);
    }
    if (!c->settings_json)
        c->settings_json = ls_xstrdup("{}");
    if (!c->settings)
        c->settings = ls_xcalloc(1, sizeof(*c->settings));
    return true;
}

static void parse_plugins(ls_job *job, const json_t *obj, ls_buf *w)
{
    job->plugins_listed = true;
    job->plugins = ls_xcalloc(json_object_size(obj) + 1, sizeof(*job->plugins));
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)obj, name, v)
    {
        if (parse_plugin(&job->plugins[job->n_plugins], name, v, w))
            job->n_plugins++;
    }
}

/* Type-checks an optional member: absent -> NULL; wrong type -> warning, NULL. */
static const json_t *member(const json_t *root, const char *key, json_type type, ls_buf *w)
{
    const json_t *v = json_object_get(root, key);
    if (v && json_typeof(v) != type) {
        warn(w, "\"%s\" has the wrong type: ignored", key);
        return NULL;
    }
    return v;
}

static void parse_members(ls_job *job, const json_t *root, ls_buf *w)
{
    const json_t *server = member(root, "server", JSON_OBJECT, w);
    job->build_id = member_text(root, "build_id");
    job->server_url = member_text(server, "url");
    size_t n = strlen(job->server_url);
    while (n > 0 && job->server_url[n - 1] == '/')
        job->server_url[--n] = '\0';
    job->token = member_text(server, "token");
    job->temp_dir = member_text(root, "temp_dir");

    const json_t *vars = member(root, "variables", JSON_OBJECT, w);
    if (vars)
        job->variables = parse_pairs(vars, "variable", &job->n_variables, w);
    else
        job->variables = ls_xcalloc(1, sizeof(*job->variables));

    const json_t *steps = member(root, "steps", JSON_ARRAY, w);
    if (steps)
        parse_steps(job, steps, w);
    else
        job->steps = ls_xcalloc(1, sizeof(*job->steps));
    index_steps(job);

    const json_t *repos = member(root, "repositories", JSON_ARRAY, w);
    if (repos)
        parse_repositories(job, repos, w);
    else
        job->repositories = ls_xcalloc(1, sizeof(*job->repositories));

    const json_t *plugins = member(root, "plugins", JSON_OBJECT, w);
    if (plugins)
        parse_plugins(job, plugins, w);
}

int ls_job_parse(const char *text, size_t len, ls_job **ret_job, char **ret_warnings, char *err,
                 size_t errlen)
{
    int r = -EINVAL;
    ls_buf w = LS_BUF_INIT;
    ls_job *job = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "context is not valid JSON (column %d: %s)", jerr.column, jerr.text);
        goto out;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "context is not a JSON object");
        goto out;
    }
    const json_t *nonce = json_object_get(root, "finish_nonce");
    if (!json_is_string(nonce) || json_string_length(nonce) == 0 ||
        memchr(json_string_value(nonce), '\n', json_string_length(nonce))) {
        snprintf(err, errlen, "context has no \"finish_nonce\" (a non-empty string)");
        goto out;
    }
    job = ls_xcalloc(1, sizeof(*job));
    job->finish_nonce = ls_xmemdup0(json_string_value(nonce), json_string_length(nonce));
    parse_members(job, root, &w);
    *ret_job = job;
    *ret_warnings = w.len ? ls_buf_steal(&w) : NULL;
    job = NULL;
    r = 0;
out:
    ls_buf_free(&w);
    ls_job_free(job);
    json_decref(root);
    return r;
}

static void free_steps(ls_plugin_step *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)s[i].id);
        free((char *)s[i].name);
    }
    free(s);
}

static void free_repositories(ls_plugin_repository *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)r[i].name);
        free((char *)r[i].url);
        free((char *)r[i].ref);
        free((char *)r[i].commit);
        free((char *)r[i].path);
    }
    free(r);
}

void ls_job_free(ls_job *job)
{
    if (!job)
        return;
    free(job->build_id);
    free(job->server_url);
    free(job->token);
    free(job->temp_dir);
    free(job->finish_nonce);
    free_pairs(job->variables, job->n_variables);
    free_steps(job->steps, job->n_steps);
    free_repositories(job->repositories, job->n_repositories);
    for (size_t i = 0; i < job->n_plugins; i++) {
        free(job->plugins[i].name);
        free(job->plugins[i].settings_json);
        free_pairs(job->plugins[i].settings, job->plugins[i].n_settings);
    }
    free(job->plugins);
    free(job->step_index);
    free(job);
}

const ls_job_plugin_conf *ls_job_plugin(const ls_job *job, const char *name)
{
    for (size_t i = 0; i < job->n_plugins; i++)
        if (strcmp(job->plugins[i].name, name) == 0)
            return &job->plugins[i];
    return NULL;
}

bool ls_job_plugin_enabled(const ls_job *job, const char *name)
{
    if (!job->plugins_listed)
        return true;
    const ls_job_plugin_conf *c = ls_job_plugin(job, name);
    if (!c)
        c = ls_job_plugin(job, LS_JOB_PLUGIN_DEFAULT); /* "*": plugins not named */
    return c && c->enabled;
}
