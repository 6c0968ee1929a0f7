/* Recognises publishes and deploys in a build's log, line by line: npm
 * publish, docker push, kubectl apply/create, nuget push, helm
 * install/upgrade, terraform apply, cargo publish, twine upload, gem push and
 * mvn deploy. Pure (no I/O): the tool-usage plugin feeds it lines and
 * publishes what it emits; tests and the fuzzer feed it sample logs.
 *
 * Two kinds of evidence are read:
 *   - the command as the worker echoes it ("$ docker push app:1.2"; also
 *     "+ docker push …" from `set -x`, for a recognised tool only), split at
 *     && || ; | & into simple commands, with wrappers (sudo, env, time,
 *     python -m, dotnet nuget, ./mvnw) looked through;
 *   - the tool's own output ("The push refers to repository […]",
 *     "+ pkg@1.2.3", "Uploading crate v1.0 (…)", "deployment.apps/web
 *     created", "Apply complete! …").
 *
 * Counting rule (each invocation counts once):
 *   1. An echoed command opens one event per recognised simple command.
 *   2. A tool's "start" output line (the line it prints once per artifact it
 *      publishes: docker "The push refers to repository", npm "Publishing
 *      to", cargo "Uploading", twine "Uploading distributions to", gem
 *      "Pushing gem to", nuget "Pushing X to", mvn "--- deploy … @ artifact",
 *      helm 'Release "x" has been upgraded' or its NAME/LAST DEPLOYED block)
 *      first claims an open event of the same tool in the same step that has
 *      not seen its start line yet: it completes that event instead of
 *      adding one. Otherwise it opens a new event (source "output"): the tool
 *      ran without an echo (inside a script), or published a second artifact
 *      (a second nuget package, a second maven module, a second docker tag).
 *   3. Confirmation, detail and error lines (docker "TAG: digest: …", npm
 *      "+ pkg@ver", "Uploaded …", "STATUS: deployed", "error: …") only update
 *      the newest open event of their tool in the step; they never add one,
 *      except where a tool prints nothing else: kubectl's "kind/name created"
 *      lines open one event for a run of consecutive resource lines, and
 *      terraform's "Apply complete!" opens (and closes) one.
 *   4. An event is emitted when it is complete: at its tool's final line
 *      (npm "+ pkg@ver", docker digest of a single-tag push, cargo
 *      "Uploaded"/dry-run abort, helm "REVISION:", terraform "Apply
 *      complete!", twine's "View at:" URL, gem "Successfully registered",
 *      nuget "Your package was pushed.", mvn BUILD SUCCESS/FAILURE, the first
 *      non-resource line after kubectl's resource lines), at the next echoed
 *      command of its step, or at ls_tu_finish().
 * Each emitted event has an outcome: "succeeded" when the tool's output
 * confirmed it, "failed" when the tool printed an error for it, "unknown"
 * when only the command was seen. Dry runs (--dry-run, "(dry run)") are
 * emitted with dry_run set. ANSI colour sequences are ignored. */
#ifndef LS_PLUGINS_TOOL_USAGE_RECOGNIZER_H
#define LS_PLUGINS_TOOL_USAGE_RECOGNIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Longest target / details text kept (bytes, without NUL); longer text is
 * cut at a UTF-8 character boundary. */
#define LS_TU_TEXT_MAX 1024
/* Events that may be open at once in one step; opening one more emits the oldest. */
#define LS_TU_MAX_OPEN 8

typedef enum {
    LS_TU_UNKNOWN,   /* only the command was seen */
    LS_TU_SUCCEEDED, /* the tool's output confirmed it */
    LS_TU_FAILED,    /* the tool printed an error for it */
} ls_tu_outcome;

typedef struct ls_tu_event {
    const char *tool;                 /* "npm", "docker", "kubectl", "nuget", "helm", "terraform",
                                         "cargo", "twine", "gem", "mvn" (static) */
    const char *action;               /* "publish", "push", "apply", "create", "install", "upgrade",
                                         "upload", "deploy" (static) */
    char target[LS_TU_TEXT_MAX + 1];  /* artifact/resource names, ", "-separated; may be "" */
    char details[LS_TU_TEXT_MAX + 1]; /* registry, digest, revision, counts; may be "" */
    bool dry_run;
    ls_tu_outcome outcome;
    bool from_output; /* opened by the tool's output rather than an echoed command */
    size_t step;      /* step index given to ls_tu_line */
    uint64_t line;    /* 1-based line number within the step where it was opened */
    uint64_t seq;     /* 1, 2, ... in emission order, over the whole job */
} ls_tu_event;

/* Called for each complete event; ev is valid during the call only. */
typedef void (*ls_tu_emit_fn)(void *userdata, const ls_tu_event *ev);

typedef struct ls_tu ls_tu;

/* A recognizer for a job of n_steps steps (lines name their step by index,
 * 0..n_steps-1). Never returns NULL (allocation failure aborts). */
ls_tu *ls_tu_new(size_t n_steps, ls_tu_emit_fn emit, void *userdata);

/* Feeds one line (len bytes, any bytes, no newline) of step `step`. Lines of
 * a step index >= n_steps are ignored. */
void ls_tu_line(ls_tu *t, size_t step, const char *line, size_t len);

/* Emits every event still open, step by step. */
void ls_tu_finish(ls_tu *t);

/* Frees; NULL is a no-op. Open events are dropped (call ls_tu_finish first). */
void ls_tu_free(ls_tu *t);

/* "succeeded", "failed" or "unknown". */
const char *ls_tu_outcome_name(ls_tu_outcome o);

/* Appends the event as the JSON object the plugin publishes:
 * {"seq":N,"step":STEP,"line":N,"tool":…,"action":…,"target":…,"details":…,
 *  "dry_run":bool,"outcome":…,"source":"command"|"output"}
 * where STEP is step_number (the step's number on the server). Text is
 * escaped, invalid UTF-8 replaced by U+FFFD. */
void ls_tu_event_json(const ls_tu_event *ev, long long step_number, ls_buf *out);

#endif
