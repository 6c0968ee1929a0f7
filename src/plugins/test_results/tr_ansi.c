/* test-results: ANSI escape removal (tr_ansi.h). */
#include "plugins/test_results/tr_ansi.h"

void tr_ansi_strip(const char *line, size_t len, ls_buf *out)
{
    ls_buf_reset(out);
    if (len && line[len - 1] == '\r')
        len--;
    /* what follows the last CR is what the terminal shows */
    for (size_t i = len; i-- > 0;) {
        if (line[i] == '\r') {
            line += i + 1;
            len -= i + 1;
            break;
        }
    }
    char *dst = ls_buf_reserve(out, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)line[i];
        if (c != 0x1B) {
            dst[n++] = (char)c;
            i++;
            continue;
        }
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
