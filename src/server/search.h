/* Search over a whole step log (docs/api.md, "Searching a log"):
 *
 *   GET /api/v1/builds/{build}/steps/{step}/search?q=TEXT[&limit=N][&since=SEQ]
 *   -> {"matches":[seq,...],"total":M,"last_seq":L}
 *
 * Lines are compared as a terminal shows them (ANSI escape sequences
 * removed, carriage returns, backspaces, erase-in-line and cursor moves on
 * the line resolved to its last state: what the web UI renders), case-
 * insensitively (simple case folding of ASCII, Latin-1, Latin Extended-A,
 * Greek and Cyrillic; other characters compare exactly). "matches" holds the
 * first `limit` matching seqs in ascending order (default 10000, at most
 * --search-max-matches), "total" counts every matching line with seq > since
 * up to "last_seq", the last line the step had received when the search
 * began. A line dropped from the middle of an over-size log is not searched;
 * the marker line that stands for them is.
 *
 * The answer is streamed: the log is read piece by piece from memory or the
 * store (server/linesource.h) inside the response's content reader, so a
 * search never holds the whole log and never blocks the event loop for
 * longer than one piece. */
#ifndef LS_SERVER_SEARCH_H
#define LS_SERVER_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "server/http.h"

#define LS_SEARCH_DEFAULT_LIMIT 10000u

/* A search's parameters, from the query string. q points into the caller's
 * string. */
typedef struct ls_search_query {
    const char *q;
    size_t q_len;
    uint64_t limit;
    uint64_t since;
} ls_search_query;

/* Interprets q, limit and since (each NULL when absent): q must be 1 to
 * max_query bytes of UTF-8; limit 1..max_limit (default the smaller of
 * LS_SEARCH_DEFAULT_LIMIT and max_limit); since a seq (default 0). Returns 0
 * and *ret, or -EINVAL with a message for the user in err. */
int ls_search_query_parse(const char *q, const char *limit, const char *since, uint64_t max_query,
                          uint64_t max_limit, ls_search_query *ret, char *err, size_t errlen);

/* A search text, case-folded. */
typedef struct ls_search_needle {
    char *folded; /* folded UTF-8, NUL-terminated */
    size_t len;
    bool ascii; /* only ASCII bytes */
} ls_search_needle;

/* Buffers reused from line to line. Zero-initialise; free with
 * ls_search_scratch_free. */
typedef struct ls_search_scratch {
    uint32_t *cells; /* code points of the rendered line */
    size_t cap;
    ls_buf folded;
} ls_search_scratch;

/* Folds q (len bytes of UTF-8) into n. Returns 0, or -EINVAL when q is
 * empty or not UTF-8 (n is untouched). */
int ls_search_needle_init(ls_search_needle *n, const char *q, size_t len);
/* Frees n's storage. */
void ls_search_needle_free(ls_search_needle *n);
void ls_search_scratch_free(ls_search_scratch *s);

/* Appends to out the UTF-8 text a terminal shows for a line (invalid bytes
 * become U+FFFD, as the JSON readers get them). */
void ls_search_render_line(const char *text, size_t len, ls_search_scratch *s, ls_buf *out);

/* True when the line as a terminal shows it contains n, case-insensitively. */
bool ls_search_line_matches(const ls_search_needle *n, const char *text, size_t len,
                            ls_search_scratch *s);

extern const ls_handler ls_search_handler;

#endif
