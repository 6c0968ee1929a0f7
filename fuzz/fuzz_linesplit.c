/* links: common */
/* Feeds arbitrary bytes to the line splitter in chunks chosen by the input and
 * checks the pieces against the definition: pieces never exceed max_len, a
 * continued piece is exactly max_len, and pieces joined back (with '\n' after
 * every non-continued one) give the input. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/linesplit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct check {
    size_t max_len;
    ls_buf joined;
    bool prev_continued;
} check;

static int on_line(void *userdata, const char *text, size_t len, bool continued)
{
    check *c = userdata;
    if (len > c->max_len || (continued && len != c->max_len))
        abort();
    if (memchr(text, '\n', len))
        abort();
    /* a line of exactly max_len bytes is one piece, not a piece and an empty one */
    if (c->prev_continued && len == 0)
        abort();
    c->prev_continued = continued;
    ls_buf_append(&c->joined, text, len);
    if (!continued)
        ls_buf_putc(&c->joined, '\n');
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    check c = {.max_len = 1 + data[0] % 64, .joined = LS_BUF_INIT};
    unsigned chunk_seed = data[1];
    data += 2;
    size -= 2;
    ls_linesplit *s = ls_linesplit_new(c.max_len, on_line, &c);
    size_t off = 0;
    while (off < size) {
        size_t n = 1 + (chunk_seed * 31 + off) % 97;
        if (n > size - off)
            n = size - off;
        char *chunk = malloc(n); /* exact-size copy: ASan sees overreads */
        memcpy(chunk, data + off, n);
        if (ls_linesplit_feed(s, chunk, n) != 0)
            abort();
        free(chunk);
        off += n;
    }
    bool ends_with_newline = size > 0 && data[size - 1] == '\n';
    bool has_tail = size > 0 && !ends_with_newline;
    if ((ls_linesplit_pending(s) > 0) != has_tail)
        abort();
    if (ls_linesplit_flush(s) != 0)
        abort();
    /* After a flush the joined output is the input, plus a newline for the
     * flushed partial line. */
    size_t want = size + (has_tail ? 1 : 0);
    if (c.joined.len != want || (size && memcmp(c.joined.data, data, size) != 0))
        abort();
    ls_linesplit_free(s);
    ls_buf_free(&c.joined);
    return 0;
}
