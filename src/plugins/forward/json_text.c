#include "plugins/forward/json_text.h"

#include <stdbool.h>
#include <stdint.h>

size_t ls_plugin_utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    /* step back over continuation bytes to the start of the cut character */
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}
