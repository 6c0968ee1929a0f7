#include "worker/pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "common/alloc.h"
#include "common/flags.h"

#define DEFAULT_MAX_FILE_BYTES (1024u * 1024u)
#define DEFAULT_MAX_STEPS 256u
#define DEFAULT_MAX_COMMANDS 1000u
#define DEFAULT_MAX_ENV 1000u
#define DEFAULT_MAX_VALUE_BYTES (64u * 1024u)
#define DEFAULT_MAX_NAME_BYTES 128u
#define DEFAULT_MAX_DEPTH 32u
#define DEFAULT_MAX_NODES 50000u
#define DEFAULT_MAX_EXPANDED_BYTES (8u * 1024u * 1024u)

/* State of one parse: where messages go and the limits in force. */
typedef struct parse_ctx {
    const char *filename;
    yaml_document_t *doc;
    ls_pipeline_limits lim;
    size_t expanded; /* bytes of strings copied so far */
    char *err;
    size_t errlen;
} parse_ctx;

static const char *const top_keys[] = {"version",  "name",    "environment", "steps",
                                       "services", "plugins", NULL};
enum { TOP_VERSION, TOP_NAME, TOP_ENV, TOP_STEPS, TOP_SERVICES, TOP_PLUGINS, TOP_COUNT };

static const char *const plugins_keys[] = {"enabled", "disable", "enable", "settings", NULL};
enum { PLUGINS_ENABLED, PLUGINS_DISABLE, PLUGINS_ENABLE, PLUGINS_SETTINGS, PLUGINS_COUNT };

#define PLUGIN_NAME_MAX 32

static const char *const step_keys[] = {"name", "image",   "commands", "environment", "secrets",
                                        "tty",  "timeout", "ruleset",  NULL};
enum {
    STEP_NAME,
    STEP_IMAGE,
    STEP_COMMANDS,
    STEP_ENV,
    STEP_SECRETS,
    STEP_TTY,
    STEP_TIMEOUT,
    STEP_RULESET,
    STEP_COUNT
};

static const char *const ruleset_keys[] = {"continue", NULL};

static void limits_apply_defaults(ls_pipeline_limits *l)
{
    if (!l->max_file_bytes)
        l->max_file_bytes = DEFAULT_MAX_FILE_BYTES;
    if (!l->max_steps)
        l->max_steps = DEFAULT_MAX_STEPS;
    if (!l->max_commands)
        l->max_commands = DEFAULT_MAX_COMMANDS;
    if (!l->max_env)
        l->max_env = DEFAULT_MAX_ENV;
    if (!l->max_value_bytes)
        l->max_value_bytes = DEFAULT_MAX_VALUE_BYTES;
    if (!l->max_name_bytes)
        l->max_name_bytes = DEFAULT_MAX_NAME_BYTES;
    if (!l->max_depth)
        l->max_depth = DEFAULT_MAX_DEPTH;
    if (!l->max_nodes)
        l->max_nodes = DEFAULT_MAX_NODES;
    if (!l->max_expanded_bytes)
        l->max_expanded_bytes = DEFAULT_MAX_EXPANDED_BYTES;
}

/* ---- messages ---------------------------------------------------------- */

static void vset_error(char *err, size_t errlen, const char *filename, size_t line, size_t col,
                       const char *fmt, va_list ap)
{
    if (!err || !errlen)
        return;
    int n = snprintf(err, errlen, "%s:%zu:%zu: ", filename, line, col);
    if (n < 0 || (size_t)n >= errlen)
        return;
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
}

/* Writes "FILE:LINE:COLUMN: message" for a 0-based libyaml mark; returns -EINVAL. */
static int __attribute__((format(printf, 3, 4)))
fail_at(parse_ctx *c, yaml_mark_t mark, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset_error(c->err, c->errlen, c->filename, mark.line + 1, mark.column + 1, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

#define fail(c, node, ...) fail_at((c), (node)->start_mark, __VA_ARGS__)

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "a string";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "empty";
    }
}

static void join_keys(const char *const *keys, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; keys[i] && used < outlen; i++) {
        int n = snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", keys[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* Edit distance, bounded: enough to suggest "commands" for "comands". */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 32 || lb > 32)
        return 99;
    size_t prev[33], cur[33];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(prev));
    }
    return prev[lb];
}

static int fail_unknown_key(parse_ctx *c, yaml_node_t *key, const char *where,
                            const char *const *known)
{
    char list[256], hint[64] = "";
    join_keys(known, list, sizeof(list));
    const char *text = (const char *)key->data.scalar.value;
    for (size_t i = 0; known[i]; i++) {
        if (edit_distance(text, known[i]) <= 2) {
            snprintf(hint, sizeof(hint), " (did you mean \"%s\"?)", known[i]);
            break;
        }
    }
    return fail(c, key, "unknown key \"%.64s\" in %s%s; known keys: %s", text, where, hint, list);
}

/* ---- scalars ----------------------------------------------------------- */

static bool is_scalar(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE;
}

static const char *scalar_text(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* A plain (unquoted) empty value, "~" or "null": YAML's null. */
static bool is_null(const yaml_node_t *n)
{
    if (!is_scalar(n) || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = scalar_text(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* Counts the bytes the parsed pipeline keeps: aliases can repeat a large
 * anchored list many times over without making the file any larger. */
static int account(parse_ctx *c, yaml_node_t *n, size_t len)
{
    c->expanded += len + 1;
    if (c->expanded > c->lim.max_expanded_bytes)
        return fail(c, n, "the pipeline expands to more than %zu bytes (aliases repeat text)",
                    c->lim.max_expanded_bytes);
    return 0;
}

/* Copies a scalar's text, refusing NUL bytes and values over max bytes. */
static int scalar_dup(parse_ctx *c, yaml_node_t *n, const char *what, size_t max, char **ret)
{
    size_t len = n->data.scalar.length;
    if (len > max)
        return fail(c, n, "%s is %zu bytes long; the limit is %zu bytes", what, len, max);
    if (account(c, n, len) < 0)
        return -EINVAL;
    if (memchr(n->data.scalar.value, '\0', len))
        return fail(c, n, "%s contains a NUL byte", what);
    *ret = ls_xmemdup0(n->data.scalar.value, len);
    return 0;
}

/* Environment variable names as the shell accepts them. */
static bool is_var_name(const char *s)
{
    if (!*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++) {
        char ch = *s;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_';
        if (!ok)
            return false;
    }
    return true;
}

static int parse_bool(parse_ctx *c, yaml_node_t *n, const char *key, bool *ret)
{
    static const char *const yes[] = {"true", "yes", "on", NULL};
    static const char *const no[] = {"false", "no", "off", NULL};
    if (is_scalar(n)) {
        for (size_t i = 0; yes[i]; i++) {
            if (!strcasecmp(scalar_text(n), yes[i])) {
                *ret = true;
                return 0;
            }
        }
        for (size_t i = 0; no[i]; i++) {
            if (!strcasecmp(scalar_text(n), no[i])) {
                *ret = false;
                return 0;
            }
        }
    }
    return fail(c, n, "\"%s\" must be true or false", key);
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
    }
    return true;
}

static int parse_timeout(parse_ctx *c, yaml_node_t *n, int64_t *ret)
{
    if (!is_scalar(n))
        return fail(c, n, "\"timeout\" must be a duration such as 30s, 10m or 1h, not %s",
                    node_kind(n));
    const char *s = scalar_text(n);
    /* ls_parse_duration_ms reads a bare number as milliseconds: in a pipeline
     * file "timeout: 600" almost certainly means something else. */
    if (all_digits(s) && strcmp(s, "0") != 0)
        return fail(c, n, "\"timeout\" %.32s has no unit; write e.g. %.32ss or %.32sm", s, s, s);
    int64_t ms;
    if (ls_parse_duration_ms(s, &ms) < 0 || ms < 0)
        return fail(c, n, "invalid \"timeout\" \"%.64s\": use a duration such as 30s, 10m or 1h",
                    s);
    *ret = ms;
    return 0;
}

/* ---- mappings ---------------------------------------------------------- */

/* Looks up a mapping key among the known ones; reports unknown and repeated
 * keys. seen[] holds the key node of each known key met so far. */
static int known_key(parse_ctx *c, yaml_node_t *key, const char *where, const char *const *known,
                     yaml_node_t **seen, int *ret_index)
{
    if (!is_scalar(key))
        return fail(c, key, "a key in %s must be a plain word, not %s", where, node_kind(key));
    for (int i = 0; known[i]; i++) {
        if (strcmp(scalar_text(key), known[i]) != 0)
            continue;
        if (seen[i])
            return fail(c, key, "duplicate key \"%s\" in %s (first at %zu:%zu)", known[i], where,
                        seen[i]->start_mark.line + 1, seen[i]->start_mark.column + 1);
        seen[i] = key;
        *ret_index = i;
        return 0;
    }
    return fail_unknown_key(c, key, where, known);
}

#define MAP_FOREACH(doc, map, pair)                                                                \
    for (yaml_node_pair_t *pair = (map)->data.mapping.pairs.start;                                 \
         pair < (map)->data.mapping.pairs.top; pair++)

#define SEQ_FOREACH(seq, item)                                                                     \
    for (yaml_node_item_t *item = (seq)->data.sequence.items.start;                                \
         item < (seq)->data.sequence.items.top; item++)

static size_t seq_len(const yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static size_t map_len(const yaml_node_t *n)
{
    return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

static yaml_node_t *node(parse_ctx *c, int index)
{
    return yaml_document_get_node(c->doc, index);
}

static void kv_free(ls_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int parse_env_entry(parse_ctx *c, yaml_node_t *k, yaml_node_t *v, ls_kv *out)
{
    if (!is_scalar(k) || !is_var_name(scalar_text(k)))
        return fail(c, k,
                    "invalid environment variable name \"%.64s\": use letters, digits and _, "
                    "not starting with a digit",
                    is_scalar(k) ? scalar_text(k) : node_kind(k));
    if (!is_scalar(v))
        return fail(c, v,
                    "the value of environment variable \"%.64s\" must be a string, number or "
                    "boolean, not %s",
                    scalar_text(k), node_kind(v));
    if (account(c, k, k->data.scalar.length) < 0)
        return -EINVAL;
    char *value;
    if (is_null(v))
        value = ls_xstrdup("");
    else if (scalar_dup(c, v, "this environment value", c->lim.max_value_bytes, &value) < 0)
        return -EINVAL;
    out->key = ls_xstrdup(scalar_text(k));
    out->value = value;
    return 0;
}

/* environment: {KEY: value}; values keep their text (numbers, booleans). */
static int parse_env(parse_ctx *c, yaml_node_t *n, ls_kv **ret, size_t *ret_n)
{
    if (is_null(n))
        return 0;
    if (n->type != YAML_MAPPING_NODE)
        return fail(c, n, "\"environment\" must be a mapping of NAME: value, not %s", node_kind(n));
    if (map_len(n) > c->lim.max_env)
        return fail(c, n, "\"environment\" has %zu entries; the limit is %zu", map_len(n),
                    c->lim.max_env);
    ls_kv *kv = ls_xcalloc(map_len(n), sizeof(*kv));
    size_t count = 0;
    int r = 0;
    MAP_FOREACH(c->doc, n, pair)
    {
        yaml_node_t *k = node(c, pair->key), *v = node(c, pair->value);
        r = parse_env_entry(c, k, v, &kv[count]);
        if (r < 0)
            goto out;
        count++;
        for (size_t i = 0; i + 1 < count; i++) {
            if (!strcmp(kv[i].key, kv[count - 1].key)) {
                r = fail(c, k, "duplicate environment variable \"%s\"", kv[i].key);
                goto out;
            }
        }
    }
    *ret = kv;
    *ret_n = count;
    kv = NULL;
out:
    if (kv)
        kv_free(kv, count);
    return r;
}

/* A list of strings checked one by one by item_check. */
typedef int (*item_check_fn)(parse_ctx *c, yaml_node_t *item, const char *key);

static int parse_string_list(parse_ctx *c, yaml_node_t *n, const char *key, size_t max,
                             bool allow_empty, item_check_fn check, char ***ret, size_t *ret_n)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(c, n, "\"%s\" must be a list of strings", key);
    if (seq_len(n) > max)
        return fail(c, n, "\"%s\" has %zu items; the limit is %zu", key, seq_len(n), max);
    if (!seq_len(n) && !allow_empty)
        return fail(c, n, "\"%s\" is empty; list at least one command", key);
    char **v = ls_xcalloc(seq_len(n), sizeof(*v));
    char what[64];
    snprintf(what, sizeof(what), "this item of \"%s\"", key);
    size_t count = 0;
    int r = 0;
    SEQ_FOREACH(n, item)
    {
        yaml_node_t *it = node(c, *item);
        if (it->type == YAML_MAPPING_NODE) {
            r = fail(c, it,
                     "\"%s\" must be a list of strings, but this item is a mapping; put it in "
                     "quotes if it contains \": \"",
                     key);
            goto out;
        }
        if (!is_scalar(it)) {
            r = fail(c, it, "\"%s\" must be a list of strings, but this item is %s", key,
                     node_kind(it));
            goto out;
        }
        r = check(c, it, key);
        if (r < 0)
            goto out;
        r = scalar_dup(c, it, what, c->lim.max_value_bytes, &v[count]);
        if (r < 0)
            goto out;
        count++;
    }
    *ret = v;
    *ret_n = count;
    v = NULL;
out:
    if (v)
        strv_free(v, count);
    return r;
}

static int check_command(parse_ctx *c, yaml_node_t *it, const char *key)
{
    const char *s = scalar_text(it);
    if (strspn(s, " \t\r\n") == strlen(s))
        return fail(c, it, "empty command in \"%s\"; remove it or write the command", key);
    return 0;
}

static int check_secret(parse_ctx *c, yaml_node_t *it, const char *key)
{
    if (!is_var_name(scalar_text(it)))
        return fail(c, it,
                    "invalid secret name \"%.64s\": a secret names an environment variable of "
                    "the worker (letters, digits and _)",
                    scalar_text(it));
    return 0;
}

static int parse_ruleset(parse_ctx *c, yaml_node_t *n, bool *ret_continue)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail(c, n, "\"ruleset\" must be a mapping such as {continue: true}, not %s",
                    node_kind(n));
    yaml_node_t *seen[1] = {NULL};
    MAP_FOREACH(c->doc, n, pair)
    {
        int idx, r = known_key(c, node(c, pair->key), "\"ruleset\"", ruleset_keys, seen, &idx);
        if (r < 0)
            return r;
        r = parse_bool(c, node(c, pair->value), "continue", ret_continue);
        if (r < 0)
            return r;
    }
    return 0;
}

static int parse_name(parse_ctx *c, yaml_node_t *n, char **ret)
{
    if (!is_scalar(n) || is_null(n))
        return fail(c, n, "\"name\" must be a non-empty string");
    const char *s = scalar_text(n);
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return fail(c, n, "\"name\" must be a single line without control characters");
    }
    if (strspn(s, " ") == strlen(s))
        return fail(c, n, "\"name\" must be a non-empty string");
    return scalar_dup(c, n, "\"name\"", c->lim.max_name_bytes, ret);
}

static void step_clear(ls_pipeline_step *s)
{
    free(s->name);
    free(s->image);
    strv_free(s->commands, s->n_commands);
    kv_free(s->env, s->n_env);
    strv_free(s->secrets, s->n_secrets);
    memset(s, 0, sizeof(*s));
}

/* One key of a step mapping. */
static int parse_step_key(parse_ctx *c, int idx, yaml_node_t *v, ls_pipeline_step *s)
{
    switch (idx) {
    case STEP_NAME:
        return parse_name(c, v, &s->name);
    case STEP_IMAGE:
        if (is_null(v))
            return 0;
        if (!is_scalar(v))
            return fail(c, v, "\"image\" must be a string");
        return scalar_dup(c, v, "\"image\"", c->lim.max_value_bytes, &s->image);
    case STEP_COMMANDS:
        return parse_string_list(c, v, "commands", c->lim.max_commands, false, check_command,
                                 &s->commands, &s->n_commands);
    case STEP_ENV:
        return parse_env(c, v, &s->env, &s->n_env);
    case STEP_SECRETS:
        if (is_null(v))
            return 0;
        return parse_string_list(c, v, "secrets", c->lim.max_env, true, check_secret, &s->secrets,
                                 &s->n_secrets);
    case STEP_TTY:
        return parse_bool(c, v, "tty", &s->tty);
    case STEP_TIMEOUT:
        return parse_timeout(c, v, &s->timeout_ms);
    case STEP_RULESET:
        return parse_ruleset(c, v, &s->continue_on_failure);
    }
    return -EINVAL;
}

static int parse_step(parse_ctx *c, yaml_node_t *n, bool service, ls_pipeline_step *s)
{
    const char *kind = service ? "service" : "step";
    const char *where = service ? "a service" : "a step";
    s->service = service;
    s->line = (int)n->start_mark.line + 1;
    s->column = (int)n->start_mark.column + 1;
    if (n->type != YAML_MAPPING_NODE)
        return fail(c, n, "each %s must be a mapping with \"name\" and \"commands\", not %s", kind,
                    node_kind(n));
    yaml_node_t *seen[STEP_COUNT] = {NULL};
    MAP_FOREACH(c->doc, n, pair)
    {
        int idx = 0, r = known_key(c, node(c, pair->key), where, step_keys, seen, &idx);
        if (r < 0)
            return r;
        r = parse_step_key(c, idx, node(c, pair->value), s);
        if (r < 0)
            return r;
    }
    if (!seen[STEP_NAME])
        return fail(c, n, "this %s has no \"name\"; add one, e.g. name: build", kind);
    if (!seen[STEP_COMMANDS])
        return fail(c, n, "%s \"%s\" has no \"commands\"; add the list of commands to run", kind,
                    s->name);
    return 0;
}

/* Step and service names share one namespace: both get a step number. */
static int check_unique_name(parse_ctx *c, ls_pipeline *p, yaml_node_t *n,
                             const ls_pipeline_step *s)
{
    const ls_pipeline_step *lists[2] = {p->steps, p->services};
    size_t counts[2] = {p->n_steps, p->n_services};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < counts[l]; i++) {
            const ls_pipeline_step *o = &lists[l][i];
            if (strcmp(o->name, s->name) != 0)
                continue;
            return fail(c, n,
                        "duplicate name \"%s\": the %s at %d:%d has it already; steps and "
                        "services need unique names",
                        s->name, o->service ? "service" : "step", o->line, o->column);
        }
    }
    return 0;
}

static yaml_node_t *find_value(parse_ctx *c, yaml_node_t *map, const char *key)
{
    MAP_FOREACH(c->doc, map, pair)
    {
        yaml_node_t *k = node(c, pair->key);
        if (is_scalar(k) && !strcmp(scalar_text(k), key))
            return node(c, pair->value);
    }
    return NULL;
}

/* steps: / services: — a list of step mappings appended to p. */
static int parse_step_list(parse_ctx *c, ls_pipeline *p, yaml_node_t *n, bool service)
{
    const char *key = service ? "services" : "steps";
    if (service && is_null(n))
        return 0;
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(c, n, "\"%s\" must be a list of %s (each item starts with \"- name:\")", key,
                    key);
    if (!service && !seq_len(n))
        return fail(c, n, "\"steps\" is empty; a pipeline needs at least one step");
    size_t total = p->n_steps + p->n_services + seq_len(n);
    if (total > c->lim.max_steps)
        return fail(c, n, "too many steps and services (%zu); the limit is %zu", total,
                    c->lim.max_steps);
    ls_pipeline_step **list = service ? &p->services : &p->steps;
    size_t *count = service ? &p->n_services : &p->n_steps;
    *list = ls_xcalloc(seq_len(n), sizeof(**list));
    SEQ_FOREACH(n, item)
    {
        yaml_node_t *it = node(c, *item);
        ls_pipeline_step s = {0};
        int r = parse_step(c, it, service, &s);
        if (r == 0)
            r = check_unique_name(c, p, find_value(c, it, "name"), &s);
        if (r < 0) {
            step_clear(&s);
            return r;
        }
        (*list)[(*count)++] = s;
    }
    return 0;
}

/* ---- plugins ----------------------------------------------------------- */

/* The plugin host's rule for names: 1..32 of a-z, 0-9 and '-'. */
static bool is_plugin_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > PLUGIN_NAME_MAX)
        return false;
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return false;
    }
    return true;
}

static int check_plugin_name(parse_ctx *c, yaml_node_t *it, const char *key)
{
    if (!is_plugin_name(scalar_text(it)))
        return fail(c, it,
                    "invalid plugin name \"%.64s\" in \"%s\": a plugin name is 1 to %d of a-z, "
                    "0-9 and '-'",
                    scalar_text(it), key, PLUGIN_NAME_MAX);
    return 0;
}

/* A plain scalar that JSON would read as a number. */
static bool is_json_number(const char *s)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (!(*p >= '0' && *p <= '9'))
        return false;
    if (*p == '0' && p[1] >= '0' && p[1] <= '9')
        return false;
    char *end;
    errno = 0;
    strtod(s, &end);
    return *end == '\0' && errno == 0;
}

/* A YAML value as JSON (see the header for the scalar rules). The depth is
 * already bounded by check_shape. */
static int yaml_to_json(parse_ctx *c, yaml_node_t *n, json_t **ret)
{
    if (is_scalar(n)) {
        const char *s = scalar_text(n);
        if (account(c, n, n->data.scalar.length) < 0)
            return -EINVAL;
        if (memchr(s, '\0', n->data.scalar.length))
            return fail(c, n, "a plugin setting contains a NUL byte");
        bool plain = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (plain && is_null(n))
            *ret = json_null();
        else if (plain && !strcmp(s, "true"))
            *ret = json_true();
        else if (plain && !strcmp(s, "false"))
            *ret = json_false();
        else if (plain && is_json_number(s) && strpbrk(s, ".eE"))
            *ret = json_real(strtod(s, NULL));
        else if (plain && is_json_number(s) && strlen(s) < 19)
            *ret = json_integer(strtoll(s, NULL, 10));
        else
            *ret = json_stringn_nocheck(s, n->data.scalar.length);
        return *ret ? 0 : fail(c, n, "a plugin setting is not valid UTF-8");
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        SEQ_FOREACH(n, item)
        {
            json_t *v;
            if (yaml_to_json(c, node(c, *item), &v) < 0) {
                json_decref(a);
                return -EINVAL;
            }
            json_array_append_new(a, v);
        }
        *ret = a;
        return 0;
    }
    if (n->type == YAML_MAPPING_NODE) {
        json_t *o = json_object();
        MAP_FOREACH(c->doc, n, pair)
        {
            yaml_node_t *k = node(c, pair->key);
            json_t *v;
            if (!is_scalar(k) || memchr(scalar_text(k), '\0', k->data.scalar.length)) {
                json_decref(o);
                return fail(c, k, "a key in plugin settings must be a plain word, not %s",
                            node_kind(k));
            }
            if (json_object_get(o, scalar_text(k))) {
                json_decref(o);
                return fail(c, k, "duplicate key \"%.64s\" in plugin settings", scalar_text(k));
            }
            if (account(c, k, k->data.scalar.length) < 0 ||
                yaml_to_json(c, node(c, pair->value), &v) < 0) {
                json_decref(o);
                return -EINVAL;
            }
            json_object_set_new_nocheck(o, scalar_text(k), v);
        }
        *ret = o;
        return 0;
    }
    return fail(c, n, "unsupported value in plugin settings");
}

/* plugins.settings: {NAME: {key: value, ...}} */
static int parse_plugin_settings(parse_ctx *c, yaml_node_t *n, ls_pipeline_plugins *pl)
{
    if (is_null(n))
        return 0;
    if (n->type != YAML_MAPPING_NODE)
        return fail(c, n,
                    "\"settings\" must be a mapping of plugin name to its settings, e.g. "
                    "resave: {dir: /tmp/copies}, not %s",
                    node_kind(n));
    pl->settings = ls_xcalloc(map_len(n) ? map_len(n) : 1, sizeof(*pl->settings));
    MAP_FOREACH(c->doc, n, pair)
    {
        yaml_node_t *k = node(c, pair->key), *v = node(c, pair->value);
        if (!is_scalar(k))
            return fail(c, k, "a key in \"settings\" must be a plugin name, not %s", node_kind(k));
        if (check_plugin_name(c, k, "settings") < 0)
            return -EINVAL;
        for (size_t i = 0; i < pl->n_settings; i++) {
            if (!strcmp(pl->settings[i].name, scalar_text(k)))
                return fail(c, k, "duplicate plugin \"%s\" in \"settings\"", scalar_text(k));
        }
        if (!is_null(v) && v->type != YAML_MAPPING_NODE)
            return fail(c, v,
                        "the settings of plugin \"%s\" must be a mapping of key: value, not %s",
                        scalar_text(k), node_kind(v));
        json_t *obj = NULL;
        if (is_null(v))
            obj = json_object();
        else if (yaml_to_json(c, v, &obj) < 0)
            return -EINVAL;
        char *text = json_dumps(obj, JSON_COMPACT);
        json_decref(obj);
        if (!text)
            abort();
        ls_pipeline_plugin_settings *ps = &pl->settings[pl->n_settings++];
        ps->name = ls_xstrdup(scalar_text(k));
        ps->json = ls_xstrdup(text);
        free(text);
    }
    return 0;
}

/* Rejects a plugin named in both enable and disable, at its later mention. */
static int check_enable_disable(parse_ctx *c, yaml_node_t *enable, yaml_node_t *disable,
                                const ls_pipeline_plugins *pl)
{
    if (!enable || !disable)
        return 0;
    for (size_t i = 0; i < pl->n_enable; i++) {
        for (size_t k = 0; k < pl->n_disable; k++) {
            if (strcmp(pl->enable[i], pl->disable[k]) != 0)
                continue;
            yaml_node_t *later =
                enable->start_mark.index > disable->start_mark.index ? enable : disable;
            return fail(c, later,
                        "plugin \"%s\" is in both \"enable\" and \"disable\"; keep it in one",
                        pl->enable[i]);
        }
    }
    return 0;
}

static int parse_plugins(parse_ctx *c, yaml_node_t *n, ls_pipeline_plugins *pl)
{
    if (is_null(n))
        return 0;
    if (n->type != YAML_MAPPING_NODE)
        return fail(c, n,
                    "\"plugins\" must be a mapping with enabled, disable, enable and settings, "
                    "not %s",
                    node_kind(n));
    yaml_node_t *seen[PLUGINS_COUNT] = {NULL};
    yaml_node_t *lists[PLUGINS_COUNT] = {NULL};
    MAP_FOREACH(c->doc, n, pair)
    {
        int idx, r = known_key(c, node(c, pair->key), "\"plugins\"", plugins_keys, seen, &idx);
        if (r < 0)
            return r;
        yaml_node_t *v = node(c, pair->value);
        lists[idx] = v;
        switch (idx) {
        case PLUGINS_ENABLED:
            r = parse_bool(c, v, "enabled", &pl->enabled);
            break;
        case PLUGINS_DISABLE:
            if (!is_null(v))
                r = parse_string_list(c, v, "disable", c->lim.max_env, true, check_plugin_name,
                                      &pl->disable, &pl->n_disable);
            break;
        case PLUGINS_ENABLE:
            if (!is_null(v))
                r = parse_string_list(c, v, "enable", c->lim.max_env, true, check_plugin_name,
                                      &pl->enable, &pl->n_enable);
            break;
        case PLUGINS_SETTINGS:
            r = parse_plugin_settings(c, v, pl);
            break;
        }
        if (r < 0)
            return r;
    }
    return check_enable_disable(c, lists[PLUGINS_ENABLE], lists[PLUGINS_DISABLE], pl);
}

static void plugins_clear(ls_pipeline_plugins *pl)
{
    strv_free(pl->enable, pl->n_enable);
    strv_free(pl->disable, pl->n_disable);
    for (size_t i = 0; i < pl->n_settings; i++) {
        free(pl->settings[i].name);
        free(pl->settings[i].json);
    }
    free(pl->settings);
    memset(pl, 0, sizeof(*pl));
}

static int parse_version(parse_ctx *c, yaml_node_t *n, char **ret)
{
    if (!is_scalar(n))
        return fail(c, n, "\"version\" must be \"1\", not %s", node_kind(n));
    if (strcmp(scalar_text(n), "1") != 0)
        return fail(c, n, "unsupported version \"%.32s\": this logstream reads version \"1\"",
                    scalar_text(n));
    *ret = ls_xstrdup("1");
    return 0;
}

/* The file's base name without .yml/.yaml: the pipeline's default name. */
static char *default_name(const char *filename, size_t max)
{
    const char *base = filename ? strrchr(filename, '/') : NULL;
    base = base ? base + 1 : (filename ? filename : "");
    size_t len = strlen(base);
    if (len > 5 && !strcmp(base + len - 5, ".yaml"))
        len -= 5;
    else if (len > 4 && !strcmp(base + len - 4, ".yml"))
        len -= 4;
    if (!len)
        return ls_xstrdup("pipeline");
    return ls_xmemdup0(base, len < max ? len : max);
}

static int parse_top_key(parse_ctx *c, ls_pipeline *p, int idx, yaml_node_t *v)
{
    switch (idx) {
    case TOP_VERSION:
        return parse_version(c, v, &p->version);
    case TOP_NAME:
        return parse_name(c, v, &p->name);
    case TOP_ENV:
        return parse_env(c, v, &p->env, &p->n_env);
    case TOP_STEPS:
        return parse_step_list(c, p, v, false);
    case TOP_SERVICES:
        return parse_step_list(c, p, v, true);
    case TOP_PLUGINS:
        return parse_plugins(c, v, &p->plugins);
    }
    return -EINVAL;
}

/* The root mapping. Steps are parsed before services whatever the key order,
 * so that a duplicate name is reported on the later of the two. */
static int parse_root(parse_ctx *c, yaml_node_t *root, ls_pipeline *p)
{
    if (root->type != YAML_MAPPING_NODE)
        return fail(c, root,
                    "the top level must be a mapping with \"version\" and \"steps\", not %s",
                    node_kind(root));
    yaml_node_t *seen[TOP_COUNT] = {NULL};
    yaml_node_t *services = NULL;
    MAP_FOREACH(c->doc, root, pair)
    {
        int idx, r = known_key(c, node(c, pair->key), "the pipeline", top_keys, seen, &idx);
        if (r < 0)
            return r;
        if (idx == TOP_SERVICES) {
            services = node(c, pair->value);
            continue;
        }
        r = parse_top_key(c, p, idx, node(c, pair->value));
        if (r < 0)
            return r;
    }
    if (!seen[TOP_STEPS])
        return fail(c, root, "the pipeline has no \"steps\"; add a list of steps to run");
    if (services) {
        int r = parse_step_list(c, p, services, true);
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- YAML layer -------------------------------------------------------- */

/* Finds a tab in the indentation of the 0-based line, or returns -1. */
static long tab_in_indent(const char *data, size_t len, size_t line)
{
    size_t pos = 0;
    for (size_t l = 0; l < line && pos < len; pos++) {
        if (data[pos] == '\n')
            l++;
    }
    for (size_t col = 0; pos + col < len; col++) {
        char ch = data[pos + col];
        if (ch == '\t')
            return (long)col;
        if (ch != ' ' && ch != '-')
            break;
    }
    return -1;
}

/* Reader errors (bad UTF-8, control characters) come with a byte offset
 * instead of a mark. */
static int fail_reader(parse_ctx *c, yaml_parser_t *parser, const char *data, size_t len)
{
    yaml_mark_t mark = {0};
    size_t end = parser->problem_offset < len ? parser->problem_offset : len;
    for (size_t i = 0; i < end; i++) {
        if (data[i] == '\n') {
            mark.line++;
            mark.column = 0;
        } else if (((unsigned char)data[i] & 0xc0) != 0x80) {
            mark.column++; /* count characters, not UTF-8 continuation bytes */
        }
    }
    const char *problem = parser->problem ? parser->problem : "unreadable input";
    if (parser->problem_value >= 0)
        return fail_at(c, mark, "%s (byte 0x%02x); the file must be UTF-8 text", problem,
                       (unsigned)parser->problem_value & 0xffu);
    return fail_at(c, mark, "%s; the file must be UTF-8 text", problem);
}

static int fail_yaml(parse_ctx *c, yaml_parser_t *parser, const char *data, size_t len)
{
    if (parser->error == YAML_MEMORY_ERROR)
        return fail_at(c, parser->problem_mark, "out of memory while reading YAML");
    if (parser->error == YAML_READER_ERROR)
        return fail_reader(c, parser, data, len);
    yaml_mark_t mark = parser->problem_mark;
    /* libyaml reports a tab used as indentation on its line or on the next. */
    for (size_t l = mark.line + 1; l-- > 0 && l + 2 > mark.line;) {
        long col = tab_in_indent(data, len, l);
        if (col >= 0) {
            yaml_mark_t tab = {.line = l, .column = (size_t)col};
            return fail_at(c, tab, "tab character in indentation; YAML indents with spaces only");
        }
    }
    const char *problem = parser->problem ? parser->problem : "invalid YAML";
    bool same =
        parser->context_mark.line == mark.line && parser->context_mark.column == mark.column;
    if (parser->context && same)
        return fail_at(c, mark, "YAML syntax error: %s (%s)", problem, parser->context);
    if (parser->context)
        return fail_at(c, mark, "YAML syntax error %s started at %zu:%zu: %s", parser->context,
                       parser->context_mark.line + 1, parser->context_mark.column + 1, problem);
    return fail_at(c, mark, "YAML syntax error: %s", problem);
}

/* A first pass over the events: libyaml's scanner slows down with the square
 * of the nesting depth, and its document holds every node in memory, so both
 * are bounded before the document is built. Syntax errors show up here. */
static int check_shape(parse_ctx *c, const char *data, size_t len)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    size_t depth = 0, nodes = 0;
    int r = 0;
    if (!yaml_parser_initialize(&parser))
        return fail_at(c, (yaml_mark_t){0}, "out of memory while reading YAML");
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    for (bool end = false; !end && r == 0;) {
        if (!yaml_parser_parse(&parser, &ev)) {
            r = fail_yaml(c, &parser, data, len);
            break;
        }
        switch (ev.type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++depth > c->lim.max_depth)
                r = fail_at(c, ev.start_mark, "lists and mappings nest deeper than %zu levels",
                            c->lim.max_depth);
            /* fall through */
        case YAML_SCALAR_EVENT:
        case YAML_ALIAS_EVENT:
            if (r == 0 && ++nodes > c->lim.max_nodes)
                r = fail_at(c, ev.start_mark, "more than %zu YAML values in one file",
                            c->lim.max_nodes);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_STREAM_END_EVENT:
            end = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return r;
}

/* Rejects a second document ("---" after the pipeline). */
static int check_single_document(parse_ctx *c, yaml_parser_t *parser, const char *data, size_t len)
{
    yaml_document_t extra;
    if (!yaml_parser_load(parser, &extra))
        return fail_yaml(c, parser, data, len);
    yaml_node_t *root = yaml_document_get_root_node(&extra);
    int r = 0;
    if (root)
        r = fail_at(c, extra.start_mark,
                    "a second YAML document; a pipeline file holds exactly one");
    yaml_document_delete(&extra);
    return r;
}

void ls_pipeline_free(ls_pipeline *p)
{
    if (!p)
        return;
    free(p->version);
    free(p->name);
    kv_free(p->env, p->n_env);
    for (size_t i = 0; i < p->n_steps; i++)
        step_clear(&p->steps[i]);
    free(p->steps);
    for (size_t i = 0; i < p->n_services; i++)
        step_clear(&p->services[i]);
    free(p->services);
    plugins_clear(&p->plugins);
    free(p);
}

int ls_pipeline_parse_limits(const char *data, size_t len, const char *filename,
                             const ls_pipeline_limits *limits, ls_pipeline **ret, char *err,
                             size_t errlen)
{
    parse_ctx c = {.filename = filename ? filename : "pipeline", .err = err, .errlen = errlen};
    if (limits)
        c.lim = *limits;
    limits_apply_defaults(&c.lim);
    if (err && errlen)
        err[0] = '\0';
    yaml_mark_t start = {0};
    if (len > c.lim.max_file_bytes)
        return fail_at(&c, start, "the file is %zu bytes; the limit is %zu bytes", len,
                       c.lim.max_file_bytes);

    int r = check_shape(&c, data, len);
    if (r < 0)
        return r;
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_doc = false;
    ls_pipeline *p = NULL;
    if (!yaml_parser_initialize(&parser))
        return fail_at(&c, start, "out of memory while reading YAML");
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc)) {
        r = fail_yaml(&c, &parser, data, len);
        goto out;
    }
    have_doc = true;
    c.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        r = fail_at(&c, start, "the file is empty; a pipeline needs \"version\" and \"steps\"");
        goto out;
    }
    p = ls_xcalloc(1, sizeof(*p));
    p->plugins.enabled = true;
    r = parse_root(&c, root, p);
    if (r == 0)
        r = check_single_document(&c, &parser, data, len);
    if (r < 0)
        goto out;
    if (!p->version)
        p->version = ls_xstrdup("1");
    if (!p->name)
        p->name = default_name(filename, c.lim.max_name_bytes);
    *ret = p;
    p = NULL;
out:
    ls_pipeline_free(p);
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return r;
}

int ls_pipeline_parse(const char *data, size_t len, const char *filename, ls_pipeline **ret,
                      char *err, size_t errlen)
{
    return ls_pipeline_parse_limits(data, len, filename, NULL, ret, err, errlen);
}

static void set_file_error(char *err, size_t errlen, const char *path, const char *what, int e)
{
    if (err && errlen)
        snprintf(err, errlen, "%s: %s: %s", path, what, strerror(e));
}

/* Reads at most max bytes; -EFBIG when the file is larger. */
static int read_bounded(int fd, size_t max, char **ret, size_t *ret_len)
{
    size_t cap = 4096, len = 0;
    char *buf = ls_xmalloc(cap);
    int r = 0;
    for (;;) {
        if (len == cap) {
            if (cap > max) {
                r = -EFBIG;
                goto out;
            }
            cap *= 2;
            buf = ls_xrealloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            r = -EFBIG;
            goto out;
        }
    }
    *ret = buf;
    *ret_len = len;
    buf = NULL;
out:
    free(buf);
    return r;
}

int ls_pipeline_load_limits(const char *path, const ls_pipeline_limits *limits, ls_pipeline **ret,
                            char *err, size_t errlen)
{
    ls_pipeline_limits lim = {0};
    if (limits)
        lim = *limits;
    limits_apply_defaults(&lim);
    char *data = NULL;
    size_t len = 0;
    int r;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        set_file_error(err, errlen, path, "cannot open the pipeline file", -r);
        goto out;
    }
    r = read_bounded(fd, lim.max_file_bytes, &data, &len);
    if (r == -EFBIG) {
        if (err && errlen)
            snprintf(err, errlen, "%s: the file is larger than the limit of %zu bytes", path,
                     lim.max_file_bytes);
        goto out;
    }
    if (r < 0) {
        set_file_error(err, errlen, path, "cannot read the pipeline file", -r);
        goto out;
    }
    r = ls_pipeline_parse_limits(data, len, path, &lim, ret, err, errlen);
out:
    if (fd >= 0)
        close(fd);
    free(data);
    return r;
}

int ls_pipeline_load(const char *path, ls_pipeline **ret, char *err, size_t errlen)
{
    return ls_pipeline_load_limits(path, NULL, ret, err, errlen);
}
