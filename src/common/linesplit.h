/* Line splitter: turns a byte stream into lines. Used by the worker for a
 * step's output, and by the server for ingest bodies (records and raw text).
 * A line longer than max_len is delivered in pieces of max_len bytes with
 * continued=true on every piece but the last. */
#ifndef LS_COMMON_LINESPLIT_H
#define LS_COMMON_LINESPLIT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ls_linesplit ls_linesplit;

/* Called once per line (text without the '\n'; a trailing '\r' is kept).
 * Returning a negative errno stops the feed, which returns that value. */
typedef int (*ls_linesplit_cb)(void *userdata, const char *text, size_t len, bool continued);

/* Optional: asked before a line is cut (a max_len piece, or a partial line
 * sent by ls_linesplit_send_partial) how many bytes, at most max_hold, at the
 * end of the piece text[0, len) to keep for the next piece (the worker keeps
 * a possible start of a secret, so that the masker sees it whole:
 * ls_masker_hold_back). max_hold is len - 1 for a max_len piece, len for a
 * partial line. */
typedef size_t (*ls_linesplit_hold_cb)(void *userdata, const char *text, size_t len,
                                       size_t max_hold);

/* Creates a splitter delivering lines of at most max_len bytes. Returns NULL
 * when max_len is 0 or cb is NULL. A line of exactly max_len bytes is one
 * piece, not continued. */
ls_linesplit *ls_linesplit_new(size_t max_len, ls_linesplit_cb cb, void *userdata);
/* Sets the hold-back callback (called with the splitter's userdata; NULL,
 * the default, keeps nothing back). A max_len piece then carries
 * max_len - hold bytes and the held bytes start the next piece; the hold is
 * at most max_len - 1 so that a piece always has a byte (a pattern longer
 * than max_len cannot be kept whole: such a line may be cut into pieces as
 * short as one byte while the text is a prefix of it). A partial line may be
 * held back whole: see ls_linesplit_send_partial. */
void ls_linesplit_set_hold(ls_linesplit *s, ls_linesplit_hold_cb hold);
/* Frees; NULL is a no-op. A pending partial line is dropped: flush first. */
void ls_linesplit_free(ls_linesplit *s);
/* Feeds bytes; calls cb for each complete line (or max_len piece). Lines that
 * lie wholly inside data are passed without copying. Returns 0 or cb's
 * negative errno. After an error the splitter may be fed again: the failing
 * line (piece) is consumed and the rest of this call's data is discarded. */
int ls_linesplit_feed(ls_linesplit *s, const char *data, size_t len);
/* The end of the stream: delivers the pending partial line (no newline seen
 * yet), if any, as a complete line; when there is none but the last piece
 * delivered was continued (ls_linesplit_send_partial), delivers an empty
 * piece that ends that line. Returns 0 or cb's error. */
int ls_linesplit_flush(ls_linesplit *s);
/* Delivers the pending partial line now, as a continued piece: the rest of
 * the line, when it comes, is the next piece. For a writer that went quiet
 * mid-line: what it printed shows at once, and the log still holds the line
 * it printed, not two (a split made a 1,000,000-line log read back 1,000,002
 * lines when the program was not scheduled for the idle time in the middle of
 * a line). With a hold-back callback only the bytes before the held ones go
 * out (none when it holds them all: they wait for more bytes, or for
 * ls_linesplit_flush, which delivers everything). Returns 0 (nothing pending,
 * all held, or delivered) or cb's error. */
int ls_linesplit_send_partial(ls_linesplit *s);
/* Bytes of the pending partial line. */
size_t ls_linesplit_pending(const ls_linesplit *s);

#endif
