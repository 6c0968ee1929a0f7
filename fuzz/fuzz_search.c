/* links: server store common */
/* Fuzzes the log search's line renderer and matcher (src/server/search.c):
 * the input is split at the first '\n' into a search text and a log line.
 * Checks that the rendered text is valid UTF-8 without escape sequences or
 * carriage returns, that a line always contains its own rendered text, and
 * that a match implies the folded needle is no longer than the line's cells
 * allow. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "server/search.h"

static int valid_utf8(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        if (n == 0 || i + n > len)
            return 0;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
        i += n;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    const char *q = (const char *)data;
    size_t qlen = nl ? (size_t)(nl - q) : 0;
    const char *line = nl ? nl + 1 : (const char *)data;
    size_t len = size - (size_t)(line - (const char *)data);

    ls_search_scratch sc = {0};
    ls_buf shown = LS_BUF_INIT;
    ls_search_render_line(line, len, &sc, &shown);
    if (!valid_utf8((const unsigned char *)shown.data, shown.len))
        abort();
    if (shown.len && (memchr(shown.data, 0x1b, shown.len) || memchr(shown.data, '\r', shown.len) ||
                      memchr(shown.data, '\b', shown.len)))
        abort();
    /* a line contains (any piece of) its own rendered text */
    if (shown.len) {
        size_t piece = shown.len < 64 ? shown.len : 64;
        while (piece && (shown.data[piece] & 0xC0) == 0x80)
            piece--; /* whole characters */
        ls_search_needle self;
        if (piece && ls_search_needle_init(&self, shown.data, piece) == 0) {
            if (!ls_search_line_matches(&self, line, len, &sc))
                abort();
            ls_search_needle_free(&self);
        }
    }
    ls_search_needle n;
    if (ls_search_needle_init(&n, q, qlen) == 0) {
        (void)ls_search_line_matches(&n, line, len, &sc);
        ls_search_needle_free(&n);
    }
    ls_buf_free(&shown);
    ls_search_scratch_free(&sc);
    return 0;
}
