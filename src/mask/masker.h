/* Secret masker: replaces every occurrence of a secret, and of its common
 * encodings, with "***" in one pass over a line (Aho-Corasick automaton).
 *
 * For each secret the masker adds: the value; base64 of it at all three
 * alignments (the stable inner part of the encoding when the secret sits at
 * offset 0, 1 or 2 of a larger base64'ed text); its JSON-escaped form; its
 * URL-encoded form; and, for a multi-line secret, each of its lines (those at
 * least min_len long).
 *
 * Not thread-safe: one masker per thread, or external locking. */
#ifndef LS_MASK_MASKER_H
#define LS_MASK_MASKER_H

#include <stddef.h>

#include "common/buf.h"

typedef struct ls_masker ls_masker;

/* Creates an empty masker; secrets shorter than min_len bytes are refused. */
ls_masker *ls_masker_new(size_t min_len);
/* Frees; NULL is a no-op. */
void ls_masker_free(ls_masker *m);

/* Adds a secret and its encodings. Returns 0, or -EINVAL when the secret is
 * shorter than min_len (nothing is added; the caller warns the user). */
int ls_masker_add(ls_masker *m, const char *secret, size_t len);

/* Number of patterns (secrets and encodings) in the masker. */
size_t ls_masker_count(const ls_masker *m);

/* Appends text with every match replaced by "***" to out (overlapping and
 * adjacent matches merge into one "***"). Returns the number of masked
 * regions. */
size_t ls_masker_apply(ls_masker *m, const char *text, size_t len, ls_buf *out);

#endif
