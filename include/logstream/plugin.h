/* logstream log plugin ABI, version 1.
 *
 * This is the only public header of logstream. A log plugin sees every line a
 * build prints (already masked: secrets never reach a plugin), one line at a
 * time, while the build runs, and is finalized when the build's steps are done.
 * It runs inside `logstream plugin-host`, a process the worker starts beside the
 * build, so a plugin can never change a build's result, slow its log or crash
 * the worker. See docs/plugins.md for the whole story and a walk-through of the
 * sample plugin (src/plugins/resave/resave.c).
 *
 * A plugin is one constant descriptor, ls_plugin_v1, with four callbacks:
 *
 *   init          once, before any line: look at the job, allocate state, or
 *                 decline to run for this job.
 *   process_line  once per log line, in order. Keep it light: stream, never
 *                 buffer the whole log.
 *   finalize      once, after the last line, when the build's steps are done.
 *   destroy       once, last, whatever happened before (if init ran and gave
 *                 a state).
 *
 * Threading: every callback of one plugin runs on that plugin's own thread,
 * one call at a time, so a plugin needs no locking for its own state. Plugins
 * run concurrently with each other and with the host's reading of stdin. The
 * context functions may be called from the plugin's thread only, during a
 * callback.
 *
 * Limits the host enforces (flags of `logstream plugin-host`):
 *   - lines wait for a plugin in a queue of at most --plugin-max-pending bytes
 *     (default 10 MiB). When it is full the host drops that plugin's lines (and
 *     says so); if it stays full for --plugin-breaker-window (default 100 s)
 *     the plugin is stopped: its queue is dropped and finalize is not called.
 *   - --plugin-max-errors (default 100) process_line errors in a row stop the
 *     plugin the same way.
 *   - finalize must return within --plugin-finalize-timeout (default 60 s), or
 *     the plugin is abandoned.
 *   - output() accepts at most --plugin-max-output bytes (default 1 MiB) per
 *     plugin.
 *
 * Built-in plugins are compiled into logstream. A third-party plugin is a
 * shared object in the directory given by --plugin-dir that exports the
 * descriptor under the name LS_PLUGIN_SYMBOL:
 *
 *     #include <logstream/plugin.h>
 *     LS_PLUGIN_EXPORT const ls_plugin_v1 logstream_plugin = {
 *         .abi_version = LS_PLUGIN_ABI_VERSION,
 *         .name = "my-plugin",
 *         .init = my_init,
 *         .process_line = my_process_line,
 *         .finalize = my_finalize,
 *         .destroy = my_destroy,
 *     };
 *
 *     cc -shared -fPIC -o my-plugin.so my-plugin.c
 *
 * A plugin whose abi_version differs from the host's is refused with a message
 * naming both versions. A plugin must not call exit(), install signal
 * handlers, or write to stdout/stderr directly: use output() and trace().
 */
#ifndef LOGSTREAM_PLUGIN_H
#define LOGSTREAM_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. Incremented on any incompatible
 * change; fields are only ever appended to ls_plugin_context (check
 * ctx->size before using a field added later than your header). */
#define LS_PLUGIN_ABI_VERSION 1u

/* The name under which a shared-object plugin exports its descriptor. */
#define LS_PLUGIN_SYMBOL "logstream_plugin"

/* Marks the descriptor as exported from a shared object, even when the
 * plugin is built with -fvisibility=hidden. */
#define LS_PLUGIN_EXPORT __attribute__((visibility("default")))

/* Names a plugin's descriptor so that one source file serves both ways:
 * compiled into logstream it is `ls_plugin_<id>` (listed in the built-in
 * table); compiled with -DLS_PLUGIN_SHARED into a shared object it is the
 * exported `logstream_plugin`. Third-party plugins can simply write
 * `logstream_plugin`. */
#ifdef LS_PLUGIN_SHARED
#define LS_PLUGIN_DESCRIPTOR(id) logstream_plugin
#else
#define LS_PLUGIN_DESCRIPTOR(id) ls_plugin_##id
#endif

/* Return values of init. Any negative value is an error (a negative errno),
 * reported to the user as a failure of the plugin. */
#define LS_PLUGIN_RUN 0     /* run for this job; *ret_state is set */
#define LS_PLUGIN_DECLINE 1 /* not for this job (nothing to do): no failure */

/* A job variable (non-secret). */
typedef struct ls_plugin_variable {
    const char *name;
    const char *value;
} ls_plugin_variable;

/* A step of the job. Lines name their step by id. */
typedef struct ls_plugin_step {
    const char *id;   /* as in the worker's `STEP_ID:TEXT` lines; never contains ':' */
    const char *name; /* the pipeline's step name; "" when the context gave none */
    size_t index;     /* position in ctx->steps, 0-based: handy as an array index */
} ls_plugin_step;

/* A repository checked out for the job. Absent fields are "". */
typedef struct ls_plugin_repository {
    const char *name;
    const char *url;
    const char *ref;
    const char *commit;
    const char *path; /* where it is checked out on the worker */
} ls_plugin_repository;

typedef struct ls_plugin_context ls_plugin_context;

/* What a plugin knows about the job, and what it can do. The host fills one
 * per plugin; every pointer in it stays valid until destroy returns. Strings
 * are NUL-terminated UTF-8 (as the worker sent them); absent ones are "". */
struct ls_plugin_context {
    uint32_t abi_version; /* the host's LS_PLUGIN_ABI_VERSION */
    uint32_t size;        /* sizeof(ls_plugin_context) as the host knows it */

    const char *plugin_name; /* this plugin's name */
    const char *build_id;    /* the build's id on the server */
    const char *server_url;  /* e.g. "http://127.0.0.1:8080", no trailing '/' */
    const char *token;       /* build-scoped token for server_url (a secret: never print it) */
    const char *temp_dir;    /* job temp directory: write transient files here */

    const ls_plugin_variable *variables; /* job variables, in the context's order */
    size_t n_variables;
    const ls_plugin_step *steps; /* the steps of the job, in order */
    size_t n_steps;
    const ls_plugin_repository *repositories;
    size_t n_repositories;

    /* This plugin's settings from the context, as compact JSON text of an
     * object ("{}" when there are none). For structured settings; scalar ones
     * are easier through setting(). */
    const char *settings_json;

    /* Writes a diagnostic message (printf-style; no newline needed) to the
     * host's diagnostics channel, prefixed with the plugin's name. For
     * developers, not shown in the build's log. */
    void (*trace)(const ls_plugin_context *ctx, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

    /* Writes a message (printf-style) for the user: it appears live in the
     * build's "plugins" log as "[plugin-name] message". A message with
     * newlines becomes several lines, each prefixed. */
    void (*output)(const ls_plugin_context *ctx, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

    /* Returns the value of job variable `name` (compared case-insensitively),
     * or NULL when the job has no such variable. */
    const char *(*variable)(const ls_plugin_context *ctx, const char *name);

    /* Returns this plugin's setting `key` as text (strings as they are,
     * numbers and booleans in JSON spelling), or NULL when it is absent, null,
     * an array or an object. */
    const char *(*setting)(const ls_plugin_context *ctx, const char *key);

    /* POSTs `json` (a NUL-terminated JSON document) to server_url + path
     * (path starts with '/', e.g. "/api/v1/builds/7/tests") with the build's
     * token as a bearer token, waiting at most --plugin-http-timeout. Stores
     * the HTTP status (0 when none was received) in *ret_status when
     * ret_status is not NULL. Returns 0 for a 2xx answer, -EPROTO for any
     * other status, -EINVAL when there is no server URL or path is not
     * absolute, -ETIMEDOUT on timeout, -ECONNREFUSED or -EIO when the server
     * could not be reached. Blocks the calling plugin only. */
    int (*publish)(const ls_plugin_context *ctx, const char *path, const char *json,
                   long *ret_status);

    void *host; /* private to the host: do not touch */
};

/* The plugin descriptor: what a plugin exports. Must be a constant object
 * with static storage (it is read, never written, by the host). */
typedef struct ls_plugin_v1 {
    /* LS_PLUGIN_ABI_VERSION from the header the plugin was built with. Stays
     * the first field in every version, so a host can check it before
     * reading anything else. */
    uint32_t abi_version;

    /* Short unique name: lower-case letters, digits and '-', 1..32 chars.
     * Prefixes the plugin's output and keys its settings in the context. */
    const char *name;

    /* One line saying what the plugin does (may be NULL). */
    const char *description;

    /* Looks at the job and decides whether to run. Returns LS_PLUGIN_RUN after
     * storing the plugin's state (may be NULL) in *ret_state, LS_PLUGIN_DECLINE
     * when the plugin has nothing to do for this job, or a negative errno
     * (reported as a failure). Lines arriving meanwhile are queued. Required. */
    int (*init)(const ls_plugin_context *ctx, void **ret_state);

    /* Called for each log line of the job, in order. `line` holds len bytes
     * (the text as the step printed it, masked; no newline; may be empty; may
     * contain any byte) followed by a NUL that is not counted in len. The
     * memory is the host's and is valid during the call only. Returns 0, or a
     * negative errno: the host counts errors, and stops the plugin after
     * --plugin-max-errors of them in a row. Required. */
    int (*process_line)(const ls_plugin_context *ctx, void *state, const ls_plugin_step *step,
                        const char *line, size_t len);

    /* Called once after the last line, when the build's steps have finished:
     * publish results, write a summary with output(). Not called when the
     * plugin was stopped or the host's input ended without the finish line.
     * Returns 0 or a negative errno (reported as a failure). May be NULL. */
    int (*finalize)(const ls_plugin_context *ctx, void *state);

    /* Frees the state init returned. Called exactly once after a successful
     * init, on the plugin's thread, whether or not finalize ran (a plugin
     * stuck inside one of its own calls is left behind by the host, and
     * destroyed only if that call ever returns). May be NULL. */
    void (*destroy)(void *state);
} ls_plugin_v1;

#ifdef __cplusplus
}
#endif

#endif
