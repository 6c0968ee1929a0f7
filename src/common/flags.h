/* Command-line flags. Every flag can also be set in the environment as
 * LOGSTREAM_<NAME> (upper case, '-' -> '_'); the command line wins over the
 * environment, which wins over the default. */
#ifndef LS_COMMON_FLAGS_H
#define LS_COMMON_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    LS_FLAG_STRING,   /* target: char * (malloc'ed, caller frees with ls_flags_free) */
    LS_FLAG_INT,      /* target: int64_t; decimal */
    LS_FLAG_SIZE,     /* target: int64_t bytes; accepts 512, 64KiB, 10MiB, 1GiB, 1k, 1M
                         (suffixes are case-insensitive and binary: k = KB = KiB = 1024) */
    LS_FLAG_DURATION, /* target: int64_t milliseconds; accepts 250ms, 15s, 2m, 1h, 1d,
                         plain = ms */
    LS_FLAG_BOOL,     /* target: bool; "--name" sets true, "--name=false|0|no|off" sets false */
} ls_flag_type;

typedef struct ls_flag {
    const char *name; /* without the leading "--", e.g. "flush-interval" */
    char short_name;  /* e.g. 'f' for -f, or 0 */
    ls_flag_type type;
    void *target;
    const char *def;  /* default as text (parsed like a command-line value); NULL = unset */
    const char *help; /* one line */
} ls_flag;

/* Parses argv[0..argc) (argv[0] is NOT the program name: pass the words after
 * the subcommand). flags is an array ended by an entry whose name is NULL.
 * Accepted forms: --name=value, --name value, -x value, -xvalue, grouped short
 * booleans (-vq), and "--" (every later word is positional). Applies defaults, then the
 * environment, then the command line. Words that are not flags are positional: up to max_pos of
 * them are stored in ret_pos (borrowed from argv) and their count in *ret_npos.
 * "--help"/"-h" returns -EAGAIN (the caller prints ls_flags_usage and exits 0).
 * On bad input returns -EINVAL and writes a message naming the flag and the
 * problem into err (errlen bytes). */
int ls_flags_parse(const ls_flag *flags, int argc, char **argv, const char **ret_pos, int max_pos,
                   int *ret_npos, char *err, size_t errlen);

/* Prints "usage: logstream CMD SYNOPSIS" and every flag with its default and
 * help to f. */
void ls_flags_usage(FILE *f, const char *cmd, const char *synopsis, const ls_flag *flags);

/* Frees the strings held by LS_FLAG_STRING targets. */
void ls_flags_free(const ls_flag *flags);

/* Value parsers used by the flags (exposed for tests and config files).
 * Return 0 or -EINVAL. */
int ls_parse_size(const char *s, int64_t *ret);
int ls_parse_duration_ms(const char *s, int64_t *ret);

#endif
