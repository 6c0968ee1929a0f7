#include "common/flags.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

#define ENV_PREFIX "LOGSTREAM_"

typedef struct unit {
    const char *suffix;
    int64_t mult;
} unit;

/* Size suffixes are binary (k = KiB) because the limits they set are buffers. */
static const unit size_units[] = {
    {"", 1},
    {"b", 1},
    {"k", 1024LL},
    {"kb", 1024LL},
    {"kib", 1024LL},
    {"m", 1024LL * 1024},
    {"mb", 1024LL * 1024},
    {"mib", 1024LL * 1024},
    {"g", 1024LL * 1024 * 1024},
    {"gb", 1024LL * 1024 * 1024},
    {"gib", 1024LL * 1024 * 1024},
    {"t", 1024LL * 1024 * 1024 * 1024},
    {"tb", 1024LL * 1024 * 1024 * 1024},
    {"tib", 1024LL * 1024 * 1024 * 1024},
    {NULL, 0},
};

static const unit duration_units[] = {
    {"", 1},   {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 86400 * 1000},
    {NULL, 0},
};

/* Parses a non-negative decimal number followed by an optional unit suffix
 * (case-insensitive) from table; checks overflow of number * unit. */
static int parse_with_units(const char *s, const unit *table, int64_t *ret)
{
    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    int64_t n = 0;
    const char *p = s;
    for (; isdigit((unsigned char)*p); p++) {
        int d = *p - '0';
        if (n > (INT64_MAX - d) / 10)
            return -EINVAL;
        n = n * 10 + d;
    }
    for (const unit *u = table; u->suffix; u++) {
        if (strcasecmp(p, u->suffix) != 0)
            continue;
        if (n > INT64_MAX / u->mult)
            return -EINVAL;
        *ret = n * u->mult;
        return 0;
    }
    return -EINVAL;
}

int ls_parse_size(const char *s, int64_t *ret)
{
    return parse_with_units(s, size_units, ret);
}

int ls_parse_duration_ms(const char *s, int64_t *ret)
{
    return parse_with_units(s, duration_units, ret);
}

static int parse_int(const char *s, int64_t *ret)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return -EINVAL;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -EINVAL;
    *ret = v;
    return 0;
}

static int parse_bool(const char *s, bool *ret)
{
    static const char *yes[] = {"true", "1", "yes", "on", NULL};
    static const char *no[] = {"false", "0", "no", "off", NULL};
    for (int i = 0; yes[i]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *ret = true;
            return 0;
        }
    }
    for (int i = 0; no[i]; i++) {
        if (strcasecmp(s, no[i]) == 0) {
            *ret = false;
            return 0;
        }
    }
    return -EINVAL;
}

static const char *type_hint(ls_flag_type t)
{
    switch (t) {
    case LS_FLAG_INT:
        return "is not an integer";
    case LS_FLAG_SIZE:
        return "is not a size (try 512, 64KiB, 10MiB, 1GiB)";
    case LS_FLAG_DURATION:
        return "is not a duration (try 250ms, 2s, 1m)";
    case LS_FLAG_BOOL:
        return "is not a boolean (try true or false)";
    case LS_FLAG_STRING:
        break;
    }
    return "is not valid";
}

static const char *type_metavar(ls_flag_type t)
{
    switch (t) {
    case LS_FLAG_STRING:
        return "STRING";
    case LS_FLAG_INT:
        return "N";
    case LS_FLAG_SIZE:
        return "SIZE";
    case LS_FLAG_DURATION:
        return "DURATION";
    case LS_FLAG_BOOL:
        break;
    }
    return "";
}

static void set_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Stores value into flag's target. origin names where the value came from
 * ("--name", "LOGSTREAM_NAME", "default of --name") for the error message. */
static int set_value(const ls_flag *f, const char *value, const char *origin, char *err,
                     size_t errlen)
{
    int r = 0;
    switch (f->type) {
    case LS_FLAG_STRING: {
        char **target = f->target;
        free(*target);
        *target = ls_xstrdup(value);
        break;
    }
    case LS_FLAG_INT:
        r = parse_int(value, f->target);
        break;
    case LS_FLAG_SIZE:
        r = ls_parse_size(value, f->target);
        break;
    case LS_FLAG_DURATION:
        r = ls_parse_duration_ms(value, f->target);
        break;
    case LS_FLAG_BOOL:
        r = parse_bool(value, f->target);
        break;
    }
    if (r < 0)
        set_error(err, errlen, "%s: '%s' %s", origin, value, type_hint(f->type));
    return r;
}

static void env_name(const ls_flag *f, char *out, size_t outlen)
{
    size_t i = 0, plen = strlen(ENV_PREFIX);
    memcpy(out, ENV_PREFIX, plen < outlen ? plen : outlen - 1);
    i = plen < outlen ? plen : outlen - 1;
    for (const char *p = f->name; *p && i + 1 < outlen; p++)
        out[i++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[i] = '\0';
}

static int apply_defaults_and_env(const ls_flag *flags, char *err, size_t errlen)
{
    char origin[160];
    for (const ls_flag *f = flags; f->name; f++) {
        if (f->def) {
            snprintf(origin, sizeof(origin), "default of --%s", f->name);
            int r = set_value(f, f->def, origin, err, errlen);
            if (r < 0)
                return r;
        }
        env_name(f, origin, sizeof(origin));
        const char *v = getenv(origin);
        if (v) {
            int r = set_value(f, v, origin, err, errlen);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

static const ls_flag *find_long(const ls_flag *flags, const char *name, size_t len)
{
    for (const ls_flag *f = flags; f->name; f++)
        if (strlen(f->name) == len && memcmp(f->name, name, len) == 0)
            return f;
    return NULL;
}

static const ls_flag *find_short(const ls_flag *flags, char c)
{
    for (const ls_flag *f = flags; f->name; f++)
        if (f->short_name && f->short_name == c)
            return f;
    return NULL;
}

/* Handles argv[*i] = "--name[=value]"; may consume argv[*i + 1]. */
static int parse_long(const ls_flag *flags, int argc, char **argv, int *i, char *err, size_t errlen)
{
    const char *word = argv[*i] + 2;
    const char *eq = strchr(word, '=');
    size_t nlen = eq ? (size_t)(eq - word) : strlen(word);
    char origin[160];
    snprintf(origin, sizeof(origin), "--%.*s", (int)nlen, word);

    if (nlen == 4 && memcmp(word, "help", 4) == 0)
        return -EAGAIN;
    const ls_flag *f = find_long(flags, word, nlen);
    if (!f) {
        set_error(err, errlen, "unknown flag %s (see --help)", origin);
        return -EINVAL;
    }
    if (eq)
        return set_value(f, eq + 1, origin, err, errlen);
    if (f->type == LS_FLAG_BOOL) {
        *(bool *)f->target = true;
        return 0;
    }
    if (*i + 1 >= argc) {
        set_error(err, errlen, "%s needs a value", origin);
        return -EINVAL;
    }
    (*i)++;
    return set_value(f, argv[*i], origin, err, errlen);
}

/* Handles argv[*i] = "-x", "-xVALUE", "-x VALUE" or grouped booleans "-xyz". */
static int parse_short(const ls_flag *flags, int argc, char **argv, int *i, char *err,
                       size_t errlen)
{
    for (const char *p = argv[*i] + 1; *p; p++) {
        if (*p == 'h' && !find_short(flags, 'h'))
            return -EAGAIN;
        const ls_flag *f = find_short(flags, *p);
        if (!f) {
            set_error(err, errlen, "unknown flag -%c (see --help)", *p);
            return -EINVAL;
        }
        char origin[8];
        snprintf(origin, sizeof(origin), "-%c", *p);
        if (f->type == LS_FLAG_BOOL) {
            *(bool *)f->target = true;
            continue;
        }
        if (p[1])
            return set_value(f, p + 1, origin, err, errlen);
        if (*i + 1 >= argc) {
            set_error(err, errlen, "%s needs a value", origin);
            return -EINVAL;
        }
        (*i)++;
        return set_value(f, argv[*i], origin, err, errlen);
    }
    return 0;
}

static int add_positional(const char *word, const char **ret_pos, int max_pos, int *npos, char *err,
                          size_t errlen)
{
    if (*npos >= max_pos) {
        set_error(err, errlen, "unexpected argument '%s' (see --help)", word);
        return -EINVAL;
    }
    if (ret_pos)
        ret_pos[*npos] = word;
    (*npos)++;
    return 0;
}

int ls_flags_parse(const ls_flag *flags, int argc, char **argv, const char **ret_pos, int max_pos,
                   int *ret_npos, char *err, size_t errlen)
{
    int npos = 0;
    bool only_positional = false;
    int r = apply_defaults_and_env(flags, err, errlen);
    if (r < 0)
        goto out;
    for (int i = 0; i < argc; i++) {
        const char *w = argv[i];
        if (only_positional || w[0] != '-' || w[1] == '\0')
            r = add_positional(w, ret_pos, max_pos, &npos, err, errlen);
        else if (strcmp(w, "--") == 0)
            only_positional = true;
        else if (w[1] == '-')
            r = parse_long(flags, argc, argv, &i, err, errlen);
        else
            r = parse_short(flags, argc, argv, &i, err, errlen);
        if (r < 0)
            goto out;
    }
    if (ret_npos)
        *ret_npos = npos;
out:
    return r;
}

void ls_flags_usage(FILE *f, const char *cmd, const char *synopsis, const ls_flag *flags)
{
    fprintf(f, "usage: logstream %s %s\n", cmd, synopsis ? synopsis : "");
    if (!flags || !flags->name)
        return;
    fprintf(f, "\nflags (each can also be set as LOGSTREAM_<FLAG> in the environment):\n");
    for (const ls_flag *fl = flags; fl->name; fl++) {
        char left[128];
        const char *meta = type_metavar(fl->type);
        if (fl->short_name)
            snprintf(left, sizeof(left), "-%c, --%s%s%s", fl->short_name, fl->name,
                     *meta ? " " : "", meta);
        else
            snprintf(left, sizeof(left), "    --%s%s%s", fl->name, *meta ? " " : "", meta);
        fprintf(f, "  %-34s %s", left, fl->help ? fl->help : "");
        if (fl->def)
            fprintf(f, " (default: %s)", *fl->def ? fl->def : "\"\"");
        fputc('\n', f);
    }
    fprintf(f, "  %-34s %s\n", "-h, --help", "show this help");
}

void ls_flags_free(const ls_flag *flags)
{
    for (const ls_flag *f = flags; f->name; f++) {
        if (f->type != LS_FLAG_STRING)
            continue;
        char **target = f->target;
        free(*target);
        *target = NULL;
    }
}
