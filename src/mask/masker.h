/* Secret masker: replaces every occurrence of a secret, and of its common
 * encodings, with "***" in one pass over a line (Aho-Corasick automaton).
 *
 * For each secret the masker adds: the value; base64 of it at all three
 * alignments (the stable inner part of the encoding when the secret sits at
 * offset 0, 1 or 2 of a larger base64'ed text), in the standard and the
 * URL-safe alphabet; its JSON-escaped forms (\n-style and \u00XX escapes of
 * control characters, lower and upper case hex, "\/" for '/', non-ASCII as
 * \uXXXX); its URL-encoded forms (%2F and %2f, space as %20 or '+'); and, for
 * a multi-line secret, each of its lines. Encoded forms and lines shorter than
 * min_len are left out (they would mask innocent text); identical forms are
 * kept once.
 *
 * Not thread-safe: one masker per thread, or external locking. */
#ifndef LS_MASK_MASKER_H
#define LS_MASK_MASKER_H

#include <stddef.h>

#include "common/buf.h"

typedef struct ls_masker ls_masker;

/* Most bytes of patterns (secrets and encodings) one masker holds. */
#define LS_MASKER_MAX_PATTERN_BYTES ((size_t)1 << 20)

/* Creates an empty masker; secrets shorter than min_len bytes are refused
 * (min_len 0 is taken as 1). */
ls_masker *ls_masker_new(size_t min_len);
/* Frees; NULL is a no-op. */
void ls_masker_free(ls_masker *m);

/* Adds a secret and its encodings (the automaton is rebuilt by the next
 * apply). Returns 0, or -EINVAL when the secret is shorter than min_len, or
 * -E2BIG when the masker would hold more than LS_MASKER_MAX_PATTERN_BYTES;
 * either way nothing is added and the caller warns the user. */
int ls_masker_add(ls_masker *m, const char *secret, size_t len);

/* Number of distinct patterns (secrets and encodings) in the masker. */
size_t ls_masker_count(const ls_masker *m);
/* Total bytes of those patterns. */
size_t ls_masker_pattern_bytes(const ls_masker *m);

/* Appends text with every match replaced by "***" to out (overlapping and
 * adjacent matches merge into one "***"). Returns the number of masked
 * regions. */
size_t ls_masker_apply(ls_masker *m, const char *text, size_t len, ls_buf *out);

/* Bytes at the end of text (a piece of a line about to be cut off the rest of
 * it) that must be kept for the next piece so that no secret is cut in two:
 * at least the longest suffix of text that is a proper prefix of a pattern
 * (the rest of the line may complete it), extended back to the start of a
 * match that the cut would otherwise split (with overlapping patterns, a
 * suffix can be the prefix of one pattern while a whole other one ends there:
 * "abcd" and "cdXY" in "..abcd" give 4, not 2). Cutting text at len - result
 * leaves every match, present or yet to come, whole on one side. 0 without
 * patterns; may be len (keep it all). The result is at most max_hold (a
 * caller that must cut, at the max line length, passes len - 1): when more
 * would be needed, the cut goes at len - max_hold, or after the end of a
 * match it would split - a match in text stays whole, a match the rest of
 * the line might complete may be cut (a secret longer than the piece cannot
 * be kept whole anyway, nor a run of overlapping secrets longer than the
 * piece: up to a secret's length of such a run may show; fuzz/
 * fuzz_linesplit_masked.c checks that nothing shows otherwise). Rebuilds the
 * automaton when secrets were added since the last call (hence not const). */
size_t ls_masker_hold_back(ls_masker *m, const char *text, size_t len, size_t max_hold);

#endif
