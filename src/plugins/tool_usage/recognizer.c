/* The tool-usage recognizer: see recognizer.h for the counting rule.
 *
 * Per step it keeps at most LS_TU_MAX_OPEN open events and a little state
 * between lines (a helm "NAME:" line, a twine "View at:" line). A line is
 * first stripped of ANSI sequences (only when it holds an ESC), then either
 * read as an echoed command or matched against the tools' output lines;
 * most lines fail the first byte or prefix tests at once. */
#include "plugins/tool_usage/recognizer.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "plugins/forward/json_text.h"

/* Longest line examined; the rest of a longer line is ignored. */
#define MAX_EXAMINED 8192
/* Words of one simple command kept. */
#define MAX_WORDS 64

enum tool {
    T_NPM,
    T_DOCKER,
    T_KUBECTL,
    T_NUGET,
    T_HELM,
    T_TERRAFORM,
    T_CARGO,
    T_TWINE,
    T_GEM,
    T_MVN,
    T_COUNT
};

static const char *const tool_names[T_COUNT] = {
    [T_NPM] = "npm",     [T_DOCKER] = "docker", [T_KUBECTL] = "kubectl",
    [T_NUGET] = "nuget", [T_HELM] = "helm",     [T_TERRAFORM] = "terraform",
    [T_CARGO] = "cargo", [T_TWINE] = "twine",   [T_GEM] = "gem",
    [T_MVN] = "mvn",
};

/* The action an output-opened event of each tool gets. */
static const char *const default_action[T_COUNT] = {
    [T_NPM] = "publish",  [T_DOCKER] = "push",     [T_KUBECTL] = "apply", [T_NUGET] = "push",
    [T_HELM] = "install", [T_TERRAFORM] = "apply", [T_CARGO] = "publish", [T_TWINE] = "upload",
    [T_GEM] = "push",     [T_MVN] = "deploy",
};

typedef struct open_ev {
    ls_tu_event ev;
    enum tool tool;
    bool used;
    bool seen_start;     /* the tool's start line was matched to it */
    bool close_on_other; /* kubectl: emitted at the first line that is not a resource line */
    bool seen_resource;  /* kubectl: a resource line has been seen */
    bool single_tag;     /* docker: a single-tag push, complete at its digest line */
    char repo[256];      /* docker: repository from "The push refers to repository" */
    uint64_t order;
} open_ev;

typedef struct step_state {
    uint64_t lines;
    open_ev open[LS_TU_MAX_OPEN];
    bool prev_echo;      /* previous line was an echoed command (for "> " continuations) */
    bool twine_view;     /* previous line was twine's "View at:" */
    char helm_name[256]; /* from a helm "NAME: x" line, waiting for "LAST DEPLOYED:" */
} step_state;

struct ls_tu {
    step_state **steps; /* allocated on a step's first line */
    size_t n_steps;
    ls_tu_emit_fn emit;
    void *userdata;
    uint64_t seq;
    uint64_t order;
    char clean[MAX_EXAMINED + 1]; /* the line without ANSI sequences */
};

/* ---- small text helpers ---- */

typedef struct span {
    const char *p;
    size_t n;
} span;

static bool starts(span s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.n >= n && memcmp(s.p, prefix, n) == 0;
}

static bool ends(span s, const char *suffix)
{
    size_t n = strlen(suffix);
    return s.n >= n && memcmp(s.p + s.n - n, suffix, n) == 0;
}

static span skip(span s, size_t n)
{
    return (span){s.p + n, s.n - n};
}

static span ltrim(span s)
{
    while (s.n && (*s.p == ' ' || *s.p == '\t')) {
        s.p++;
        s.n--;
    }
    return s;
}

static span rtrim(span s)
{
    while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t' || s.p[s.n - 1] == '\r'))
        s.n--;
    return s;
}

static const char *find(span s, const char *needle)
{
    return memmem(s.p, s.n, needle, strlen(needle));
}

/* The text up to (not including) the first occurrence of c, or all of s. */
static span until(span s, char c)
{
    const char *e = memchr(s.p, c, s.n);
    return (span){s.p, e ? (size_t)(e - s.p) : s.n};
}

static void text_set(char *dst, span s)
{
    size_t n = ls_plugin_utf8_cut(s.p, s.n, LS_TU_TEXT_MAX);
    memcpy(dst, s.p, n);
    dst[n] = '\0';
}

/* Adds an item to a ", "-separated list unless it is already there. */
static void text_add(char *dst, span s)
{
    if (s.n == 0)
        return;
    size_t len = strlen(dst);
    for (const char *p = dst; p && *p;) {
        const char *e = strstr(p, ", ");
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == s.n && memcmp(p, s.p, n) == 0)
            return;
        p = e ? e + 2 : NULL;
    }
    if (len && len + 2 < LS_TU_TEXT_MAX) {
        memcpy(dst + len, ", ", 2);
        len += 2;
    } else if (len) {
        return; /* full */
    }
    size_t room = LS_TU_TEXT_MAX - len;
    size_t n = ls_plugin_utf8_cut(s.p, s.n, room);
    memcpy(dst + len, s.p, n);
    dst[len + n] = '\0';
}

static void text_printf(char *dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(char *dst, const char *fmt, ...)
{
    char tmp[LS_TU_TEXT_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        text_add(dst, (span){tmp, strlen(tmp)});
}

/* Copies line into buf without ANSI escape sequences (CSI, OSC and
 * two-byte escapes); returns the new length. */
static size_t strip_ansi(const char *line, size_t len, char *buf)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)line[i];
        if (c != 0x1b) {
            buf[o++] = (char)c;
            i++;
            continue;
        }
        i++;
        if (i >= len)
            break;
        if (line[i] == '[') { /* CSI: parameters, then a final byte 0x40..0x7e */
            i++;
            while (i < len && !((unsigned char)line[i] >= 0x40 && (unsigned char)line[i] <= 0x7e))
                i++;
            i++;
        } else if (line[i] == ']') { /* OSC: up to BEL or ESC \ */
            i++;
            while (i < len && line[i] != '\a' && !(line[i] == 0x1b && i + 1 < len))
                i++;
            i += (i < len && line[i] == 0x1b) ? 2 : 1;
        } else {
            i++;
        }
    }
    return o;
}

/* ---- events ---- */

static step_state *step_of(ls_tu *t, size_t step)
{
    if (!t->steps[step])
        t->steps[step] = ls_xcalloc(1, sizeof(step_state));
    return t->steps[step];
}

static void emit(ls_tu *t, open_ev *o)
{
    o->ev.seq = ++t->seq;
    t->emit(t->userdata, &o->ev);
    o->used = false;
}

static open_ev *oldest(step_state *s)
{
    open_ev *best = NULL;
    for (int i = 0; i < LS_TU_MAX_OPEN; i++)
        if (s->open[i].used && (!best || s->open[i].order < best->order))
            best = &s->open[i];
    return best;
}

static void close_all(ls_tu *t, step_state *s)
{
    open_ev *o;
    while ((o = oldest(s)))
        emit(t, o);
}

static open_ev *open_event(ls_tu *t, step_state *st, size_t step, enum tool tool,
                           const char *action, bool from_output)
{
    open_ev *o = NULL;
    for (int i = 0; i < LS_TU_MAX_OPEN && !o; i++)
        if (!st->open[i].used)
            o = &st->open[i];
    if (!o) {
        o = oldest(st);
        emit(t, o);
    }
    memset(o, 0, sizeof(*o));
    o->used = true;
    o->tool = tool;
    o->order = ++t->order;
    o->ev.tool = tool_names[tool];
    o->ev.action = action ? action : default_action[tool];
    o->ev.from_output = from_output;
    o->ev.step = step;
    o->ev.line = st->lines;
    o->ev.outcome = LS_TU_UNKNOWN;
    return o;
}

/* The newest open event of a tool in the step, or NULL. */
static open_ev *newest(step_state *s, enum tool tool)
{
    open_ev *best = NULL;
    for (int i = 0; i < LS_TU_MAX_OPEN; i++) {
        open_ev *o = &s->open[i];
        if (o->used && o->tool == tool && (!best || o->order > best->order))
            best = o;
    }
    return best;
}

/* Rule 2: the oldest open event of the tool that has not seen its start
 * line claims it; otherwise a new event is opened from the output. */
static open_ev *start_line(ls_tu *t, step_state *st, size_t step, enum tool tool,
                           const char *action)
{
    open_ev *best = NULL;
    for (int i = 0; i < LS_TU_MAX_OPEN; i++) {
        open_ev *o = &st->open[i];
        if (o->used && o->tool == tool && !o->seen_start && (!best || o->order < best->order))
            best = o;
    }
    if (!best) {
        /* a new invocation (or artifact): earlier ones of this tool are complete */
        open_ev *prev;
        while ((prev = newest(st, tool)))
            emit(t, prev);
        best = open_event(t, st, step, tool, action, true);
    }
    best->seen_start = true;
    return best;
}

/* ---- echoed commands ---- */

typedef struct words {
    const char *w[MAX_WORDS];
    size_t n;
} words;

static bool word_is(const char *w, const char *s)
{
    return w && strcmp(w, s) == 0;
}

static bool in_list(const char *w, const char *const *list)
{
    for (; list && *list; list++)
        if (strcmp(w, *list) == 0)
            return true;
    return false;
}

/* Positional arguments of args[from..n): words not starting with '-',
 * skipping the value of a flag in value_flags given as a separate word.
 * Stores their indices in pos; returns how many. */
static size_t positionals(const words *a, size_t from, const char *const *value_flags, size_t *pos,
                          size_t max)
{
    size_t k = 0;
    for (size_t i = from; i < a->n; i++) {
        const char *w = a->w[i];
        if (w[0] == '-' && w[1]) {
            if (!strchr(w, '=') && in_list(w, value_flags))
                i++;
            continue;
        }
        if (k < max)
            pos[k++] = i;
    }
    return k;
}

/* The value of a flag given as "--flag VALUE" or "--flag=VALUE" (first one), or NULL. */
static const char *flag_value(const words *a, size_t from, const char *flag)
{
    size_t fl = strlen(flag);
    for (size_t i = from; i < a->n; i++) {
        const char *w = a->w[i];
        if (strcmp(w, flag) == 0 && i + 1 < a->n)
            return a->w[i + 1];
        if (strncmp(w, flag, fl) == 0 && w[fl] == '=')
            return w + fl + 1;
    }
    return NULL;
}

static bool has_flag(const words *a, size_t from, const char *flag)
{
    size_t fl = strlen(flag);
    for (size_t i = from; i < a->n; i++)
        if (strncmp(a->w[i], flag, fl) == 0 && (a->w[i][fl] == '\0' || a->w[i][fl] == '='))
            return true;
    return false;
}

static span sp(const char *s)
{
    return (span){s, s ? strlen(s) : 0};
}

/* Adds every value of a repeatable flag to the event's target. */
static void add_flag_values(open_ev *o, const words *a, size_t from, const char *const *flags)
{
    for (size_t i = from; i < a->n; i++) {
        const char *w = a->w[i];
        for (const char *const *f = flags; *f; f++) {
            size_t fl = strlen(*f);
            if (strcmp(w, *f) == 0 && i + 1 < a->n)
                text_add(o->ev.target, sp(a->w[i + 1]));
            else if (strncmp(w, *f, fl) == 0 && w[fl] == '=')
                text_add(o->ev.target, sp(w + fl + 1));
        }
    }
}

static void cmd_docker(ls_tu *t, step_state *st, size_t step, const words *a)
{
    static const char *const global[] = {"-H",       "--host", "-c",          "--context",
                                         "--config", "-l",     "--log-level", NULL};
    static const char *const push_values[] = {"--platform", NULL};
    static const char *const build_values[] = {
        "-t",         "--tag",    "-f",       "--file",    "--build-arg",
        "--platform", "--target", "-o",       "--output",  "--cache-from",
        "--cache-to", "--label",  "--secret", "--builder", NULL};
    size_t pos[4];
    size_t np = positionals(a, 0, global, pos, 4);
    if (np == 0)
        return;
    size_t v = pos[0];
    if (word_is(a->w[v], "image") && np > 1 && word_is(a->w[pos[1]], "push"))
        v = pos[1];
    if (word_is(a->w[v], "push")) {
        size_t ip[2];
        size_t ni = positionals(a, v + 1, push_values, ip, 2);
        open_ev *o = open_event(t, st, step, T_DOCKER, "push", false);
        if (ni)
            text_set(o->ev.target, sp(a->w[ip[0]]));
        o->single_tag = !has_flag(a, v + 1, "-a") && !has_flag(a, v + 1, "--all-tags");
        return;
    }
    /* docker [buildx] build --push -t IMAGE ... */
    if (word_is(a->w[v], "buildx") && np > 1 && word_is(a->w[pos[1]], "build"))
        v = pos[1];
    if (word_is(a->w[v], "build") &&
        (has_flag(a, v + 1, "--push") || (flag_value(a, v + 1, "--output") &&
                                          strstr(flag_value(a, v + 1, "--output"), "registry")))) {
        static const char *const tags[] = {"-t", "--tag", NULL};
        (void)build_values;
        open_ev *o = open_event(t, st, step, T_DOCKER, "push", false);
        add_flag_values(o, a, v + 1, tags);
        o->single_tag = strchr(o->ev.target, ',') == NULL;
    }
}

static void cmd_npm(ls_tu *t, step_state *st, size_t step, const words *a)
{
    static const char *const values[] = {"--registry", "--tag",       "--access", "--otp",
                                         "-w",         "--workspace", NULL};
    size_t pos[2];
    size_t np = positionals(a, 0, values, pos, 2);
    if (np == 0 || !word_is(a->w[pos[0]], "publish"))
        return;
    open_ev *o = open_event(t, st, step, T_NPM, "publish", false);
    if (np > 1 && !word_is(a->w[pos[1]], "."))
        text_set(o->ev.target, sp(a->w[pos[1]]));
    const char *dr = flag_value(a, pos[0] + 1, "--dry-run");
    o->ev.dry_run = has_flag(a, pos[0] + 1, "--dry-run") && !(dr && word_is(dr, "false"));
    const char *reg = flag_value(a, pos[0] + 1, "--registry");
    if (reg)
        text_printf(o->ev.details, "registry %s", reg);
}

static void cmd_kubectl(ls_tu *t, step_state *st, size_t step, const words *a)
{
    static const char *const values[] = {"-n",
                                         "--namespace",
                                         "--context",
                                         "--kubeconfig",
                                         "-s",
                                         "--server",
                                         "--cluster",
                                         "--user",
                                         "--token",
                                         "--as",
                                         "-f",
                                         "--filename",
                                         "-k",
                                         "--kustomize",
                                         "-o",
                                         "--output",
                                         "-l",
                                         "--selector",
                                         "--image",
                                         "--field-manager",
                                         "--dry-run",
                                         "--port",
                                         "--from-literal",
                                         "--from-file",
                                         "--type",
                                         NULL};
    size_t pos[6];
    size_t np = positionals(a, 0, values, pos, 6);
    if (np == 0 || (!word_is(a->w[pos[0]], "apply") && !word_is(a->w[pos[0]], "create")))
        return;
    size_t v = pos[0];
    open_ev *o = open_event(t, st, step, T_KUBECTL, a->w[v][0] == 'a' ? "apply" : "create", false);
    static const char *const files[] = {"-f", "--filename", "-k", "--kustomize", NULL};
    add_flag_values(o, a, v + 1, files);
    if (!o->ev.target[0] && o->ev.action[0] == 'c' && np >= 3) {
        /* kubectl create KIND [TYPE] NAME */
        const char *kind = a->w[pos[1]];
        size_t name = (word_is(kind, "secret") || word_is(kind, "service")) && np >= 4 ? 3 : 2;
        char buf[LS_TU_TEXT_MAX + 1];
        snprintf(buf, sizeof(buf), "%s/%s", kind, a->w[pos[name]]);
        text_set(o->ev.target, sp(buf));
    }
    const char *dr = flag_value(a, v + 1, "--dry-run");
    o->ev.dry_run = has_flag(a, v + 1, "--dry-run") && !(dr && word_is(dr, "none"));
    const char *ns = flag_value(a, 0, "-n");
    if (!ns)
        ns = flag_value(a, 0, "--namespace");
    if (ns)
        text_printf(o->ev.details, "namespace %s", ns);
}

static void cmd_helm(ls_tu *t, step_state *st, size_t step, const words *a)
{
    static const char *const values[] = {"-n",
                                         "--namespace",
                                         "--kube-context",
                                         "--kubeconfig",
                                         "-f",
                                         "--values",
                                         "--set",
                                         "--set-string",
                                         "--set-file",
                                         "--set-json",
                                         "--version",
                                         "--repo",
                                         "--timeout",
                                         "-o",
                                         "--output",
                                         "--post-renderer",
                                         "--description",
                                         "--username",
                                         "--password",
                                         "--ca-file",
                                         "--cert-file",
                                         "--key-file",
                                         "--history-max",
                                         "--name-template",
                                         NULL};
    size_t pos[4];
    size_t np = positionals(a, 0, values, pos, 4);
    if (np == 0 || (!word_is(a->w[pos[0]], "install") && !word_is(a->w[pos[0]], "upgrade")))
        return;
    size_t v = pos[0];
    open_ev *o = open_event(t, st, step, T_HELM, a->w[v][0] == 'i' ? "install" : "upgrade", false);
    bool generated = has_flag(a, v + 1, "--generate-name") || has_flag(a, v + 1, "-g");
    if (np >= 2 && !generated)
        text_set(o->ev.target, sp(a->w[pos[1]]));
    size_t chart = generated ? 1 : 2;
    if (np > chart)
        text_printf(o->ev.details, "chart %s", a->w[pos[chart]]);
    o->ev.dry_run = has_flag(a, v + 1, "--dry-run");
}

static void cmd_terraform(ls_tu *t, step_state *st, size_t step, const words *a)
{
    static const char *const values[] = {"-var",         "-var-file", "-target",       "-replace",
                                         "-parallelism", "-state",    "-lock-timeout", NULL};
    size_t pos[3];
    size_t np = positionals(a, 0, values, pos, 3);
    if (np == 0 || !word_is(a->w[pos[0]], "apply"))
        return;
    open_ev *o = open_event(t, st, step, T_TERRAFORM, "apply", false);
    const char *chdir = flag_value(a, 0, "-chdir");
    if (np >= 2)
        text_set(o->ev.target, sp(a->w[pos[1]]));
    else if (chdir)
        text_set(o->ev.target, sp(chdir));
}

static void cmd_cargo(ls_tu *t, step_state *st, size_t step, const words *a)
{
    static const char *const values[] = {"-p",      "--package",       "--registry", "--index",
                                         "--token", "--manifest-path", "--target",   "-j",
                                         "--jobs",  "--features",      "-F",         "--target-dir",
                                         NULL};
    size_t pos[2];
    size_t np = positionals(a, 0, values, pos, 2);
    size_t k = 0;
    if (np && a->w[pos[0]][0] == '+') /* cargo +nightly publish */
        k = 1;
    if (np <= k || !word_is(a->w[pos[k]], "publish"))
        return;
    open_ev *o = open_event(t, st, step, T_CARGO, "publish", false);
    const char *pkg = flag_value(a, pos[k] + 1, "-p");
    if (!pkg)
        pkg = flag_value(a, pos[k] + 1, "--package");
    if (pkg)
        text_set(o->ev.target, sp(pkg));
    o->ev.dry_run = has_flag(a, pos[k] + 1, "--dry-run") || has_flag(a, pos[k] + 1, "-n");
    const char *reg = flag_value(a, pos[k] + 1, "--registry");
    if (reg)
        text_printf(o->ev.details, "registry %s", reg);
}

static void cmd_twine(ls_tu *t, step_state *st, size_t step, const words *a)
{
    static const char *const values[] = {"-r",
                                         "--repository",
                                         "--repository-url",
                                         "-u",
                                         "--username",
                                         "-p",
                                         "--password",
                                         "-c",
                                         "--comment",
                                         "--config-file",
                                         "--sign-with",
                                         "-i",
                                         "--identity",
                                         "--client-cert",
                                         "--cert",
                                         NULL};
    size_t pos[16];
    size_t np = positionals(a, 0, values, pos, 16);
    if (np == 0 || !word_is(a->w[pos[0]], "upload"))
        return;
    open_ev *o = open_event(t, st, step, T_TWINE, "upload", false);
    for (size_t i = 1; i < np; i++)
        text_add(o->ev.target, sp(a->w[pos[i]]));
    const char *repo = flag_value(a, pos[0] + 1, "--repository-url");
    if (!repo)
        repo = flag_value(a, pos[0] + 1, "-r");
    if (!repo)
        repo = flag_value(a, pos[0] + 1, "--repository");
    if (repo)
        text_printf(o->ev.details, "repository %s", repo);
}

static void cmd_gem(ls_tu *t, step_state *st, size_t step, const words *a)
{
    static const char *const values[] = {"-k", "--key",        "--host", "--otp",
                                         "-p", "--http-proxy", NULL};
    size_t pos[2];
    size_t np = positionals(a, 0, values, pos, 2);
    if (np == 0 || !word_is(a->w[pos[0]], "push"))
        return;
    open_ev *o = open_event(t, st, step, T_GEM, "push", false);
    if (np > 1)
        text_set(o->ev.target, sp(a->w[pos[1]]));
    const char *host = flag_value(a, pos[0] + 1, "--host");
    if (host)
        text_printf(o->ev.details, "host %s", host);
}

static void cmd_nuget(ls_tu *t, step_state *st, size_t step, const words *a)
{
    static const char *const values[] = {
        "-k",  "--api-key",        "-ApiKey",       "-s",          "--source",     "-Source",
        "-ss", "--symbol-source",  "-SymbolSource", "-t",          "--timeout",    "-Timeout",
        "-sk", "--symbol-api-key", "-SymbolApiKey", "-ConfigFile", "--configfile", NULL};
    size_t pos[2];
    size_t np = positionals(a, 0, values, pos, 2);
    if (np == 0 || !word_is(a->w[pos[0]], "push"))
        return;
    open_ev *o = open_event(t, st, step, T_NUGET, "push", false);
    if (np > 1)
        text_set(o->ev.target, sp(a->w[pos[1]]));
    const char *src = flag_value(a, pos[0] + 1, "-Source");
    if (!src)
        src = flag_value(a, pos[0] + 1, "--source");
    if (!src)
        src = flag_value(a, pos[0] + 1, "-s");
    if (src)
        text_printf(o->ev.details, "source %s", src);
}

static void cmd_mvn(ls_tu *t, step_state *st, size_t step, const words *a)
{
    static const char *const values[] = {"-P",
                                         "-pl",
                                         "--projects",
                                         "-f",
                                         "--file",
                                         "-s",
                                         "--settings",
                                         "-gs",
                                         "--global-settings",
                                         "-T",
                                         "--threads",
                                         "-rf",
                                         "--resume-from",
                                         "-l",
                                         "--log-file",
                                         "-t",
                                         "--toolchains",
                                         "-b",
                                         "--builder",
                                         NULL};
    size_t pos[16];
    size_t np = positionals(a, 0, values, pos, 16);
    for (size_t i = 0; i < np; i++) {
        const char *g = a->w[pos[i]];
        if (word_is(g, "deploy") || strncmp(g, "deploy:", 7) == 0 ||
            (strstr(g, "maven-deploy-plugin") && strstr(g, ":deploy"))) {
            open_ev *o = open_event(t, st, step, T_MVN, "deploy", false);
            const char *art = flag_value(a, 0, "-DartifactId");
            const char *ver = flag_value(a, 0, "-Dversion");
            if (art)
                text_printf(o->ev.target, "%s%s%s", art, ver ? ":" : "", ver ? ver : "");
            return;
        }
    }
}

static const char *basename_of(const char *w)
{
    const char *s = strrchr(w, '/');
    return s ? s + 1 : w;
}

/* NAME=value (a shell assignment before the command). */
static bool is_assignment(const char *w)
{
    if (!((w[0] >= 'A' && w[0] <= 'Z') || (w[0] >= 'a' && w[0] <= 'z') || w[0] == '_'))
        return false;
    for (const char *p = w; *p; p++) {
        if (*p == '=')
            return true;
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return false;
    }
    return false;
}

/* Which tool a simple command runs (looking through wrappers); sets *ret_args
 * to the index of its first argument. Returns T_COUNT for none. */
static enum tool command_tool(const words *a, size_t *ret_args)
{
    size_t i = 0;
    for (;;) {
        while (i < a->n && is_assignment(a->w[i]))
            i++;
        if (i >= a->n)
            return T_COUNT;
        const char *w = basename_of(a->w[i]);
        if (word_is(w, "sudo") || word_is(w, "env") || word_is(w, "time") || word_is(w, "nohup") ||
            word_is(w, "exec") || word_is(w, "command") || word_is(w, "nice")) {
            bool takes_value = word_is(w, "sudo") || word_is(w, "nice");
            i++;
            while (i < a->n && a->w[i][0] == '-') {
                const char *f = a->w[i++];
                if (takes_value && (word_is(f, "-u") || word_is(f, "-g") || word_is(f, "-n")))
                    i++;
            }
            continue;
        }
        if (strncmp(w, "python", 6) == 0 && i + 2 < a->n && word_is(a->w[i + 1], "-m")) {
            i += 2;
            continue;
        }
        break;
    }
    const char *w = basename_of(a->w[i]);
    *ret_args = i + 1;
    if (word_is(w, "dotnet") && i + 1 < a->n && word_is(a->w[i + 1], "nuget")) {
        *ret_args = i + 2;
        return T_NUGET;
    }
    if (word_is(w, "nuget") || word_is(w, "nuget.exe"))
        return T_NUGET;
    if (word_is(w, "mvn") || word_is(w, "mvnw") || word_is(w, "mvn.cmd"))
        return T_MVN;
    for (int k = 0; k < T_COUNT; k++)
        if (k != T_NUGET && k != T_MVN && word_is(w, tool_names[k]))
            return (enum tool)k;
    return T_COUNT;
}

/* Recognises one simple command. Returns true when it names a known tool. */
static bool simple_command(ls_tu *t, step_state *st, size_t step, const words *a, bool dry)
{
    size_t args;
    enum tool tool = command_tool(a, &args);
    if (tool == T_COUNT)
        return false;
    if (dry)
        return true;
    words rest = {.n = 0};
    for (size_t i = args; i < a->n && rest.n < MAX_WORDS; i++)
        rest.w[rest.n++] = a->w[i];
    switch (tool) {
    case T_NPM:
        cmd_npm(t, st, step, &rest);
        break;
    case T_DOCKER:
        cmd_docker(t, st, step, &rest);
        break;
    case T_KUBECTL:
        cmd_kubectl(t, st, step, &rest);
        break;
    case T_NUGET:
        cmd_nuget(t, st, step, &rest);
        break;
    case T_HELM:
        cmd_helm(t, st, step, &rest);
        break;
    case T_TERRAFORM:
        cmd_terraform(t, st, step, &rest);
        break;
    case T_CARGO:
        cmd_cargo(t, st, step, &rest);
        break;
    case T_TWINE:
        cmd_twine(t, st, step, &rest);
        break;
    case T_GEM:
        cmd_gem(t, st, step, &rest);
        break;
    case T_MVN:
        cmd_mvn(t, st, step, &rest);
        break;
    case T_COUNT:
        break;
    }
    return true;
}

/* Splits a command line into simple commands (at && || ; | & ( ) outside
 * quotes, with ' " and \ quoting) and recognises each. With dry set, only
 * reports whether any simple command runs a known tool. */
static bool parse_command(ls_tu *t, step_state *st, size_t step, span cmd, bool dry)
{
    char buf[MAX_EXAMINED + MAX_WORDS + 1];
    size_t o = 0;
    words a = {.n = 0};
    bool in_word = false, any = false;
    char quote = 0;
    for (size_t i = 0; i <= cmd.n; i++) {
        char c = i < cmd.n ? cmd.p[i] : '\0';
        bool end = i == cmd.n;
        if (!end && quote) {
            if (c == quote) {
                quote = 0;
            } else if (c == '\\' && quote == '"' && i + 1 < cmd.n) {
                buf[o++] = cmd.p[++i];
            } else {
                buf[o++] = c;
            }
            continue;
        }
        bool sep = end || c == ';' || c == '|' || c == '&' || c == '(' || c == ')' || c == '\n';
        bool space = c == ' ' || c == '\t';
        if (sep || space) {
            if (in_word) {
                buf[o++] = '\0';
                in_word = false;
            }
            if (sep && a.n) {
                any |= simple_command(t, st, step, &a, dry);
                a.n = 0;
            }
            continue;
        }
        if (!in_word) {
            if (a.n == MAX_WORDS)
                continue;
            a.w[a.n++] = buf + o;
            in_word = true;
        }
        if (c == '\'' || c == '"')
            quote = c;
        else if (c == '\\' && i + 1 < cmd.n)
            buf[o++] = cmd.p[++i];
        else
            buf[o++] = c;
    }
    return any;
}

/* ---- the tools' output ---- */

static void set_repo(open_ev *o, span repo)
{
    size_t n = repo.n < sizeof(o->repo) - 1 ? repo.n : sizeof(o->repo) - 1;
    memcpy(o->repo, repo.p, n);
    o->repo[n] = '\0';
}

static bool out_docker(ls_tu *t, step_state *st, size_t step, span s)
{
    static const char refers[] = "The push refers to repository [";
    if (starts(s, refers)) {
        span repo = until(skip(s, strlen(refers)), ']');
        open_ev *o = start_line(t, st, step, T_DOCKER, "push");
        set_repo(o, repo);
        if (!o->ev.target[0])
            text_set(o->ev.target, repo);
        return true;
    }
    /* "TAG: digest: sha256:HEX size: N" */
    const char *d = find(s, ": digest: sha256:");
    if (d && d > s.p && !memchr(s.p, ' ', (size_t)(d - s.p))) {
        open_ev *o = newest(st, T_DOCKER);
        if (!o)
            return true;
        span tag = {s.p, (size_t)(d - s.p)};
        span digest = until(skip(s, (size_t)(d - s.p) + strlen(": digest: ")), ' ');
        if (o->ev.outcome == LS_TU_SUCCEEDED) {
            /* another tag of a multi-tag push: one event per tag pushed */
            open_ev *n = open_event(t, st, step, T_DOCKER, "push", true);
            n->seen_start = true;
            memcpy(n->repo, o->repo, sizeof(n->repo));
            o = n;
        }
        if (o->repo[0] && (!o->ev.target[0] || !o->single_tag)) {
            char buf[LS_TU_TEXT_MAX + 1];
            snprintf(buf, sizeof(buf), "%s:%.*s", o->repo, (int)tag.n, tag.p);
            text_set(o->ev.target, sp(buf));
        }
        text_printf(o->ev.details, "digest %.*s", (int)digest.n, digest.p);
        o->ev.outcome = LS_TU_SUCCEEDED;
        if (o->single_tag)
            emit(t, o);
        return true;
    }
    return false;
}

static bool docker_error(span s)
{
    return starts(s, "Cannot connect to the Docker daemon") || starts(s, "denied:") ||
           starts(s, "unauthorized:") || starts(s, "Error response from daemon:") ||
           starts(s, "An image does not exist locally") || starts(s, "tag does not exist:") ||
           starts(s, "error parsing reference") || starts(s, "ERROR: failed to");
}

static bool out_npm(ls_tu *t, step_state *st, size_t step, span s)
{
    if (starts(s, "npm notice Publishing to ")) {
        open_ev *o = start_line(t, st, step, T_NPM, "publish");
        span reg = until(skip(s, strlen("npm notice Publishing to ")), ' ');
        text_printf(o->ev.details, "registry %.*s", (int)reg.n, reg.p);
        if (ends(s, "(dry-run)"))
            o->ev.dry_run = true;
        return true;
    }
    /* "npm notice 📦  name@version" (also printed by npm pack: detail only) */
    if (starts(s, "npm notice \xF0\x9F\x93\xA6")) {
        open_ev *o = newest(st, T_NPM);
        if (o && !o->ev.target[0])
            text_set(o->ev.target, ltrim(skip(s, strlen("npm notice \xF0\x9F\x93\xA6"))));
        return true;
    }
    if (starts(s, "npm ERR! ") || starts(s, "npm error ")) {
        open_ev *o = newest(st, T_NPM);
        if (o)
            o->ev.outcome = LS_TU_FAILED;
        return true;
    }
    /* "+ name@version": the last line of a publish */
    if (s.n > 3 && s.p[0] == '+' && s.p[1] == ' ' && !memchr(s.p + 2, ' ', s.n - 2) &&
        memchr(s.p + 3, '@', s.n - 3)) {
        open_ev *o = newest(st, T_NPM);
        if (!o || o->ev.outcome == LS_TU_FAILED)
            return false;
        text_set(o->ev.target, skip(s, 2));
        o->ev.outcome = LS_TU_SUCCEEDED;
        emit(t, o);
        return true;
    }
    return false;
}

/* "NAME vVERSION" at the start of s, as cargo prints a package: returns its
 * length, or 0. */
static size_t cargo_package(span s, span *ret_name, span *ret_version)
{
    span name = until(s, ' ');
    if (name.n == 0 || name.n + 3 > s.n || s.p[name.n + 1] != 'v' || s.p[name.n + 2] < '0' ||
        s.p[name.n + 2] > '9')
        return 0;
    span version = until(skip(s, name.n + 2), ' ');
    *ret_name = name;
    *ret_version = version;
    return name.n + 2 + version.n;
}

static void cargo_target(open_ev *o, span name, span version)
{
    char buf[LS_TU_TEXT_MAX + 1];
    snprintf(buf, sizeof(buf), "%.*s@%.*s", (int)name.n, name.p, (int)version.n, version.p);
    text_set(o->ev.target, sp(buf));
}

static bool out_cargo(ls_tu *t, step_state *st, size_t step, span s)
{
    span name, version;
    if (starts(s, "Uploading ") && cargo_package(skip(s, 10), &name, &version) && ends(s, ")")) {
        open_ev *o = start_line(t, st, step, T_CARGO, "publish");
        cargo_target(o, name, version);
        return true;
    }
    if (starts(s, "Uploaded ") && cargo_package(skip(s, 9), &name, &version)) {
        open_ev *o = newest(st, T_CARGO);
        if (!o)
            return true;
        cargo_target(o, name, version);
        const char *reg = find(s, " to registry `");
        if (reg) {
            span r = until(skip(s, (size_t)(reg - s.p) + strlen(" to registry `")), '`');
            text_printf(o->ev.details, "registry %.*s", (int)r.n, r.p);
        }
        o->ev.outcome = LS_TU_SUCCEEDED;
        emit(t, o);
        return true;
    }
    if (starts(s, "warning: aborting upload due to dry run")) {
        open_ev *o = newest(st, T_CARGO);
        if (o) {
            o->ev.dry_run = true;
            o->ev.outcome = LS_TU_SUCCEEDED;
            emit(t, o);
        }
        return true;
    }
    return false;
}

static bool kubectl_status(span s, span *ret_resource, bool *ret_dry, bool *ret_apply_only)
{
    static const char *const statuses[] = {"created", "configured", "unchanged",
                                           "serverside-applied"};
    bool dry = false;
    if (ends(s, " (dry run)")) {
        s.n -= strlen(" (dry run)");
        dry = true;
    } else if (ends(s, " (server dry run)")) {
        s.n -= strlen(" (server dry run)");
        dry = true;
    }
    span res = until(s, ' ');
    if (res.n == s.n || res.n < 3)
        return false;
    span status = skip(s, res.n + 1);
    bool known = false;
    for (size_t i = 0; i < 4 && !known; i++)
        known = status.n == strlen(statuses[i]) && memcmp(status.p, statuses[i], status.n) == 0;
    if (!known)
        return false;
    /* kind[.group]/name: lower-case DNS-ish words with exactly one '/' */
    const char *slash = memchr(res.p, '/', res.n);
    if (!slash || slash == res.p || slash == res.p + res.n - 1 ||
        memchr(slash + 1, '/', res.n - (size_t)(slash - res.p) - 1))
        return false;
    for (size_t i = 0; i < res.n; i++) {
        char c = res.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == '/' || c == ':'))
            return false;
    }
    *ret_resource = res;
    *ret_dry = dry;
    *ret_apply_only = status.p[0] != 'c' || status.p[1] != 'r'; /* not "created" */
    return true;
}

static bool out_kubectl(ls_tu *t, step_state *st, size_t step, span s)
{
    span res;
    bool dry, apply_only;
    if (!kubectl_status(s, &res, &dry, &apply_only))
        return false;
    open_ev *o = newest(st, T_KUBECTL);
    if (!o) {
        o = open_event(t, st, step, T_KUBECTL, "apply", true);
        o->close_on_other = true;
    }
    if (!o->seen_resource) {
        o->ev.target[0] = '\0'; /* resources name what was deployed better than files */
        o->seen_resource = true;
    }
    text_add(o->ev.target, res);
    o->ev.dry_run |= dry;
    o->ev.outcome = o->ev.outcome == LS_TU_FAILED ? LS_TU_FAILED : LS_TU_SUCCEEDED;
    o->close_on_other = true;
    (void)apply_only;
    return true;
}

static bool out_helm(ls_tu *t, step_state *st, size_t step, span s)
{
    if (starts(s, "Release \"") && find(s, "\" has been upgraded")) {
        span name = until(skip(s, 9), '"');
        open_ev *o = start_line(t, st, step, T_HELM, "upgrade");
        text_set(o->ev.target, name);
        o->ev.outcome = LS_TU_SUCCEEDED;
        st->helm_name[0] = '\0';
        return true;
    }
    if (starts(s, "NAME: ") && s.n < sizeof(st->helm_name) + 6) {
        span name = skip(s, 6);
        memcpy(st->helm_name, name.p, name.n);
        st->helm_name[name.n] = '\0';
        return false; /* not helm's until LAST DEPLOYED follows */
    }
    if (starts(s, "LAST DEPLOYED: ") && st->helm_name[0]) {
        /* the release block: claims the command (or the upgrade line) */
        open_ev *o = newest(st, T_HELM);
        if (!o || o->seen_resource)
            o = start_line(t, st, step, T_HELM, "install");
        o->seen_start = true;
        o->seen_resource = true; /* here: the release block was seen */
        text_set(o->ev.target, sp(st->helm_name));
        st->helm_name[0] = '\0';
        return true;
    }
    open_ev *o = newest(st, T_HELM);
    if (!o)
        return false;
    if (starts(s, "STATUS: ")) {
        span status = skip(s, 8);
        if (starts(status, "deployed"))
            o->ev.outcome = LS_TU_SUCCEEDED;
        else if (starts(status, "failed"))
            o->ev.outcome = LS_TU_FAILED;
        else if (starts(status, "pending-"))
            o->ev.dry_run = true;
        return true;
    }
    if (starts(s, "REVISION: ")) {
        text_printf(o->ev.details, "revision %.*s", (int)(s.n - 10), s.p + 10);
        emit(t, o);
        return true;
    }
    if (starts(s, "Error: ")) {
        o->ev.outcome = LS_TU_FAILED;
        emit(t, o);
        return true;
    }
    return false;
}

static bool out_terraform(ls_tu *t, step_state *st, size_t step, span s)
{
    if (starts(s, "Apply complete! Resources: ")) {
        open_ev *o = newest(st, T_TERRAFORM);
        if (!o)
            o = open_event(t, st, step, T_TERRAFORM, "apply", true);
        span counts = skip(s, strlen("Apply complete! Resources: "));
        if (ends(counts, "."))
            counts.n--;
        text_set(o->ev.details, counts);
        o->ev.outcome = LS_TU_SUCCEEDED;
        emit(t, o);
        return true;
    }
    static const char *const done[] = {": Creation complete after ",
                                       ": Modifications complete after ",
                                       ": Destruction complete after "};
    for (size_t i = 0; i < 3; i++) {
        const char *p = find(s, done[i]);
        if (p) {
            open_ev *o = newest(st, T_TERRAFORM);
            if (o && o->ev.target[0] == '\0')
                o->seen_resource = true;
            if (o && o->seen_resource)
                text_add(o->ev.target, (span){s.p, (size_t)(p - s.p)});
            return true;
        }
    }
    if (starts(s, "Error: ") || starts(s, "\xE2\x94\x82 Error: ")) { /* "│ Error:" */
        open_ev *o = newest(st, T_TERRAFORM);
        if (o)
            o->ev.outcome = LS_TU_FAILED;
        return o != NULL;
    }
    return false;
}

static bool is_dist_file(span f)
{
    return ends(f, ".whl") || ends(f, ".tar.gz") || ends(f, ".zip") || ends(f, ".egg");
}

static bool out_twine(ls_tu *t, step_state *st, size_t step, span s)
{
    if (st->twine_view) {
        st->twine_view = false;
        open_ev *o = newest(st, T_TWINE);
        if (o) {
            text_printf(o->ev.details, "%.*s", (int)s.n, s.p);
            emit(t, o);
            return true;
        }
    }
    if (starts(s, "Uploading distributions to ")) {
        open_ev *o = start_line(t, st, step, T_TWINE, "upload");
        span url = skip(s, strlen("Uploading distributions to "));
        if (!o->ev.details[0])
            text_printf(o->ev.details, "repository %.*s", (int)url.n, url.p);
        return true;
    }
    if (starts(s, "Uploading ") && is_dist_file(until(skip(s, 10), ' '))) {
        open_ev *o = newest(st, T_TWINE);
        if (o) {
            if (!o->seen_resource)
                o->ev.target[0] = '\0'; /* file names rather than the command's glob */
            o->seen_resource = true;
            text_add(o->ev.target, until(skip(s, 10), ' '));
        }
        return o != NULL;
    }
    if (starts(s, "View at:")) {
        open_ev *o = newest(st, T_TWINE);
        if (o)
            o->ev.outcome = LS_TU_SUCCEEDED;
        st->twine_view = o != NULL;
        return o != NULL;
    }
    if (starts(s, "ERROR ") || starts(s, "HTTPError: ")) {
        open_ev *o = newest(st, T_TWINE);
        if (o)
            o->ev.outcome = LS_TU_FAILED;
        return o != NULL;
    }
    return false;
}

static bool out_gem(ls_tu *t, step_state *st, size_t step, span s)
{
    if (starts(s, "Pushing gem to ")) {
        open_ev *o = start_line(t, st, step, T_GEM, "push");
        span url = skip(s, strlen("Pushing gem to "));
        if (ends(url, "..."))
            url.n -= 3;
        text_printf(o->ev.details, "host %.*s", (int)url.n, url.p);
        return true;
    }
    if (starts(s, "Successfully registered gem: ")) {
        open_ev *o = newest(st, T_GEM);
        if (!o)
            return true;
        text_set(o->ev.target, skip(s, strlen("Successfully registered gem: ")));
        o->ev.outcome = LS_TU_SUCCEEDED;
        emit(t, o);
        return true;
    }
    if (starts(s, "ERROR:")) {
        open_ev *o = newest(st, T_GEM);
        if (o)
            o->ev.outcome = LS_TU_FAILED;
        return o != NULL;
    }
    return false;
}

static bool out_nuget(ls_tu *t, step_state *st, size_t step, span s)
{
    span body = s;
    if (starts(body, "info : "))
        body = skip(body, 7);
    /* " to '" is looked for after "Pushing ": in "Pushing to '" it would
     * start inside the prefix and the package name's length would wrap */
    if (starts(body, "Pushing ") && !starts(body, "Pushing gem to ") &&
        find(skip(body, 8), " to '")) {
        const char *to = find(skip(body, 8), " to '");
        open_ev *o = start_line(t, st, step, T_NUGET, "push");
        text_set(o->ev.target, (span){body.p + 8, (size_t)(to - body.p) - 8});
        span url = until(skip(body, (size_t)(to - body.p) + 5), '\'');
        if (!o->ev.details[0])
            text_printf(o->ev.details, "source %.*s", (int)url.n, url.p);
        return true;
    }
    if (starts(body, "Your package was pushed.")) {
        open_ev *o = newest(st, T_NUGET);
        if (o) {
            o->ev.outcome = LS_TU_SUCCEEDED;
            emit(t, o);
        }
        return true;
    }
    if (starts(s, "error: ") || find(s, "Response status code does not indicate success")) {
        open_ev *o = newest(st, T_NUGET);
        if (o)
            o->ev.outcome = LS_TU_FAILED;
        return o != NULL;
    }
    return false;
}

static bool out_mvn(ls_tu *t, step_state *st, size_t step, span s)
{
    if (!starts(s, "[INFO] ") && !starts(s, "[ERROR] "))
        return false;
    /* "[INFO] --- maven-deploy-plugin:2.7:deploy (default-deploy) @ app ---" (3.8)
     * "[INFO] --- deploy:3.1.1:deploy (default-deploy) @ app ---" (3.9) */
    if (starts(s, "[INFO] --- ") &&
        (starts(skip(s, 11), "maven-deploy-plugin:") || starts(skip(s, 11), "deploy:")) &&
        find(s, ":deploy") && find(s, " @ ")) {
        const char *at = find(s, " @ ");
        span art = until(skip(s, (size_t)(at - s.p) + 3), ' ');
        open_ev *o = start_line(t, st, step, T_MVN, "deploy");
        text_set(o->ev.target, art);
        return true;
    }
    open_ev *o = newest(st, T_MVN);
    if (!o)
        return false;
    if (starts(s, "[INFO] Uploaded to ")) {
        span rest = skip(s, strlen("[INFO] Uploaded to "));
        span repo = until(rest, ':');
        if (!o->ev.details[0])
            text_printf(o->ev.details, "repository %.*s", (int)repo.n, repo.p);
        if (o->ev.outcome != LS_TU_FAILED)
            o->ev.outcome = LS_TU_SUCCEEDED;
        return true;
    }
    if (starts(s, "[INFO] BUILD SUCCESS") || starts(s, "[INFO] BUILD FAILURE") ||
        starts(s, "[ERROR] Failed to execute goal")) {
        bool failed = s.p[1] == 'E' || starts(s, "[INFO] BUILD FAILURE");
        /* everything mvn opened in this step is complete */
        open_ev *m;
        while ((m = newest(st, T_MVN))) {
            if (failed && m->ev.outcome != LS_TU_SUCCEEDED)
                m->ev.outcome = LS_TU_FAILED;
            emit(t, m);
        }
        return true;
    }
    return false;
}

/* Error lines of the tools whose errors start with a plain "error:". */
static bool out_generic_error(step_state *st, span s)
{
    if (starts(s, "error: ") || starts(s, "Error from server") ||
        starts(s, "unable to recognize ")) {
        open_ev *best = NULL;
        for (int i = 0; i < LS_TU_MAX_OPEN; i++) {
            open_ev *o = &st->open[i];
            if (o->used && (o->tool == T_KUBECTL || o->tool == T_CARGO || o->tool == T_NUGET) &&
                (!best || o->order > best->order))
                best = o;
        }
        if (best) {
            best->ev.outcome = LS_TU_FAILED;
            return true;
        }
    }
    if (docker_error(s)) {
        open_ev *o = newest(st, T_DOCKER);
        if (o) {
            o->ev.outcome = LS_TU_FAILED;
            return true;
        }
    }
    return false;
}

/* ---- lines ---- */

/* Matches an output line; returns true when some tool claimed it. */
static bool output_line(ls_tu *t, step_state *st, size_t step, span s)
{
    switch (s.p[0]) { /* cheap dispatch on the first byte */
    case 'T':
        if (out_docker(t, st, step, s))
            return true;
        break;
    case 'n':
        if (out_npm(t, st, step, s))
            return true;
        break;
    case '+':
        if (out_npm(t, st, step, s))
            return true;
        break;
    case 'U':
        if (out_cargo(t, st, step, s) || out_twine(t, st, step, s))
            return true;
        break;
    case 'w':
        if (out_cargo(t, st, step, s))
            return true;
        break;
    case 'R':
    case 'N':
    case 'L':
    case 'S':
        if (out_helm(t, st, step, s) || out_gem(t, st, step, s))
            return true;
        break;
    case 'A':
        if (out_terraform(t, st, step, s))
            return true;
        break;
    case 'P':
        if (out_gem(t, st, step, s) || out_nuget(t, st, step, s))
            return true;
        break;
    case 'i':
    case 'Y':
        if (out_nuget(t, st, step, s))
            return true;
        break;
    case '[':
        if (out_mvn(t, st, step, s))
            return true;
        break;
    case 'E':
    case '\xE2':
        if (out_helm(t, st, step, s) || out_terraform(t, st, step, s) ||
            out_twine(t, st, step, s) || out_gem(t, st, step, s))
            return true;
        break;
    case 'H':
    case 'V':
        if (out_twine(t, st, step, s))
            return true;
        break;
    default:
        break;
    }
    /* kubectl's "kind/name created" lines may open an event by themselves */
    char last = s.p[s.n - 1];
    if ((last == 'd' || last == ')') && memchr(s.p, '/', s.n) && out_kubectl(t, st, step, s))
        return true;
    /* the other patterns that do not start with a fixed byte only update open events */
    bool any_open = false;
    for (int i = 0; i < LS_TU_MAX_OPEN && !any_open; i++)
        any_open = st->open[i].used;
    if (!any_open)
        return false;
    if (memchr(s.p, ':', s.n) && (out_docker(t, st, step, s) || out_terraform(t, st, step, s)))
        return true;
    return out_nuget(t, st, step, s) || out_generic_error(st, s);
}

void ls_tu_line(ls_tu *t, size_t step, const char *line, size_t len)
{
    if (step >= t->n_steps)
        return;
    step_state *st = step_of(t, step);
    st->lines++;
    if (len > MAX_EXAMINED)
        len = MAX_EXAMINED;
    span s = {line, len};
    if (memchr(line, 0x1b, len)) {
        s.n = strip_ansi(line, len, t->clean);
        s.p = t->clean;
    }
    s = rtrim(s);
    bool was_echo = st->prev_echo;
    st->prev_echo = false;
    bool twine_view = st->twine_view;

    /* echoed commands: "$ CMD", "> CONTINUATION", "+ CMD" (set -x, known tools only) */
    if (starts(s, "$ ") || (was_echo && starts(s, "> "))) {
        if (s.p[0] == '$')
            close_all(t, st);
        parse_command(t, st, step, skip(s, 2), false);
        st->prev_echo = true;
        st->twine_view = false;
        return;
    }
    if (s.n > 2 && s.p[0] == '+') {
        span cmd = s;
        while (cmd.n && cmd.p[0] == '+')
            cmd = skip(cmd, 1);
        if (cmd.n && cmd.p[0] == ' ' && parse_command(t, st, step, ltrim(cmd), true)) {
            close_all(t, st);
            parse_command(t, st, step, ltrim(cmd), false);
            return;
        }
    }

    span body = ltrim(s);
    if (body.n == 0) {
        st->twine_view = false;
        return;
    }
    bool claimed = output_line(t, st, step, body);
    if (twine_view && st->twine_view && !claimed)
        st->twine_view = false;
    if (!claimed) {
        /* kubectl's run of resource lines ends at the first other line */
        for (int i = 0; i < LS_TU_MAX_OPEN; i++) {
            open_ev *o = &st->open[i];
            if (o->used && o->close_on_other && o->seen_resource)
                emit(t, o);
        }
    }
}

/* ---- object ---- */

ls_tu *ls_tu_new(size_t n_steps, ls_tu_emit_fn emit_fn, void *userdata)
{
    ls_tu *t = ls_xcalloc(1, sizeof(*t));
    t->steps = ls_xcalloc(n_steps ? n_steps : 1, sizeof(*t->steps));
    t->n_steps = n_steps;
    t->emit = emit_fn;
    t->userdata = userdata;
    return t;
}

void ls_tu_finish(ls_tu *t)
{
    for (size_t i = 0; i < t->n_steps; i++)
        if (t->steps[i])
            close_all(t, t->steps[i]);
}

void ls_tu_free(ls_tu *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_steps; i++)
        free(t->steps[i]);
    free(t->steps);
    free(t);
}

const char *ls_tu_outcome_name(ls_tu_outcome o)
{
    switch (o) {
    case LS_TU_SUCCEEDED:
        return "succeeded";
    case LS_TU_FAILED:
        return "failed";
    default:
        return "unknown";
    }
}

void ls_tu_event_json(const ls_tu_event *ev, long long step_number, ls_buf *out)
{
    ls_buf_printf(out, "{\"seq\":%" PRIu64 ",\"step\":%lld,\"line\":%" PRIu64 ",\"tool\":", ev->seq,
                  step_number, ev->line);
    ls_json_put_string(out, ev->tool, strlen(ev->tool));
    ls_buf_puts(out, ",\"action\":");
    ls_json_put_string(out, ev->action, strlen(ev->action));
    ls_buf_puts(out, ",\"target\":");
    ls_json_put_string(out, ev->target, strlen(ev->target));
    ls_buf_puts(out, ",\"details\":");
    ls_json_put_string(out, ev->details, strlen(ev->details));
    ls_buf_printf(out, ",\"dry_run\":%s,\"outcome\":\"%s\",\"source\":\"%s\"}",
                  ev->dry_run ? "true" : "false", ls_tu_outcome_name(ev->outcome),
                  ev->from_output ? "output" : "command");
}
