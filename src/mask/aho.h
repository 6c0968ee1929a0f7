/* Aho-Corasick multi-pattern search over bytes, for the masker. Private to
 * src/mask.
 *
 * The automaton is a full DFA (states x byte classes, next-state offsets
 * premultiplied) so the inner loop is one table load per byte. In front of it
 * a q-gram filter samples the text every W bytes (W = shortest pattern - q + 1)
 * and the DFA only runs near a sample whose q-gram occurs in the first bytes of
 * some pattern; it hands back to the filter as soon as no partial match of
 * q or more bytes is in progress. When the shortest pattern is so short that
 * the filter would sample every byte, the DFA alone scans the text. */
#ifndef LS_MASK_AHO_H
#define LS_MASK_AHO_H

#include <stddef.h>

typedef struct ls_aho ls_aho;

/* Pattern bytes an automaton must stay below (keeps the table's offsets
 * within 28 bits whatever the alphabet). */
#define LS_AHO_MAX_BYTES ((size_t)1 << 20)

/* Called, in increasing order of end, for each text position where a pattern
 * ends, with the longest pattern ending there: text[start, end). */
typedef void (*ls_aho_match_cb)(void *userdata, size_t start, size_t end);

/* Builds the automaton for n patterns (each len >= 1; total < LS_AHO_MAX_BYTES).
 * The patterns are copied. Returns NULL when n is 0 or a limit is broken. */
ls_aho *ls_aho_build(const unsigned char *const *pats, const size_t *lens, size_t n);
/* Frees; NULL is a no-op. */
void ls_aho_free(ls_aho *a);
/* Reports every match in text. */
void ls_aho_scan(const ls_aho *a, const unsigned char *text, size_t len, ls_aho_match_cb cb,
                 void *userdata);
/* Length of the longest suffix of text that is a proper prefix of some
 * pattern: bytes that may be the start of a match which more text would
 * complete (0 when none). It is the depth of the deepest state on the failure
 * chain of the state reached after text that still has a trie child; only the
 * last (longest pattern) bytes of text are scanned. */
size_t ls_aho_prefix_suffix(const ls_aho *a, const unsigned char *text, size_t len);
/* Number of DFA states (for tests and the benchmark). */
size_t ls_aho_states(const ls_aho *a);
/* Bytes of memory the automaton uses. */
size_t ls_aho_memory(const ls_aho *a);

#endif
