/* test-results: ANSI escape removal (tr_ansi.h). */
#include "plugins/test_results/tr_ansi.h"

#include <string.h>

void tr_ansi_strip(const char *line, size_t len, ls_buf *out)
{
    ls_buf_reset(out);
    if (len && line[len - 1] == '\r')
        len--;
    /* what follows the last CR is what the terminal shows */
    const char *cr = len ? memrchr(line, '\r', len) : NULL;
    if (cr) {
        len -= (size_t)(cr + 1 - line);
        line = cr + 1;
    }
    char *dst = ls_buf_reserve(out, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        /* copy up to the next ESC in one go: most lines have none */
        const char *esc = memchr(line + i, 0x1B, len - i);
        size_t run = esc ? (size_t)(esc - (line + i)) : len - i;
        memcpy(dst + n, line + i, run);
        n += run;
        i += run;
        if (!esc)
            break;
        i++;
        if (i >= len)
            break;
        if (line[i] == '[') {
            /* CSI: parameters and intermediates, then one final byte 0x40..0x7E */
            i++;
            while (i < len && ((unsigned char)line[i] < 0x40 || (unsigned char)line[i] > 0x7E))
                i++;
            if (i < len)
                i++;
        } else if (line[i] == ']') {
            /* OSC: up to BEL or ESC \ */
            i++;
            while (i < len && line[i] != 0x07 &&
                   !(line[i] == 0x1B && i + 1 < len && line[i + 1] == '\\'))
                i++;
            if (i < len)
                i += line[i] == 0x07 ? 1 : 2;
        } else {
            i++; /* ESC x */
        }
    }
    out->len = n;
    dst[n] = '\0';
}
