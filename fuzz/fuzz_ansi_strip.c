/* links: cli common */
/* Fuzzes the ANSI escape stripper of `logstream logs --no-color`
 * (src/cli/ansi_strip.c) with arbitrary bytes: the input is stripped once
 * whole and once in chunks whose sizes come from the input, and both outputs
 * must be equal (a sequence may be cut anywhere between two reads). What is
 * left never holds an ESC byte (no sequence gets through to the terminal),
 * keeps every newline, and is never longer than the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ansi_strip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t count(const char *p, size_t n, char c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += p[i] == c;
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* the first byte seeds the chunk sizes */
    unsigned seed = data[0];
    const char *in = (const char *)data + 1;
    size_t len = size - 1;

    ls_buf whole = LS_BUF_INIT, pieces = LS_BUF_INIT;
    ls_ansi_strip s1 = LS_ANSI_STRIP_INIT, s2 = LS_ANSI_STRIP_INIT;
    ls_ansi_strip_feed(&s1, in, len, &whole);
    for (size_t off = 0; off < len;) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 16) % 7;
        if (n > len - off)
            n = len - off;
        ls_ansi_strip_feed(&s2, in + off, n, &pieces);
        off += n;
    }
    if (whole.len != pieces.len || (whole.len && memcmp(whole.data, pieces.data, whole.len)))
        abort();
    if (whole.len > len || memchr(whole.data ? whole.data : "", 0x1b, whole.len))
        abort();
    if (count(whole.data ? whole.data : "", whole.len, '\n') != count(in, len, '\n'))
        abort();
    ls_buf_free(&whole);
    ls_buf_free(&pieces);
    return 0;
}
