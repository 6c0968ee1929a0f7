/* Removes ANSI/ECMA-48 escape sequences (colours, cursor movement, window
 * titles) from log text for --no-color, incrementally: a sequence may be cut
 * between two calls. CSI (ESC [ ... final), string sequences (OSC, DCS, SOS,
 * PM, APC, ended by BEL or ESC \), and two-or-more byte escapes (ESC
 * intermediates final) are removed. A newline always ends a sequence, so a
 * broken sequence never swallows more than the rest of its line. */
#ifndef LS_CLI_ANSI_STRIP_H
#define LS_CLI_ANSI_STRIP_H

#include <stddef.h>

#include "common/buf.h"

typedef struct ls_ansi_strip {
    int state; /* 0 = plain text */
} ls_ansi_strip;

#define LS_ANSI_STRIP_INIT                                                                         \
    {                                                                                              \
        0                                                                                          \
    }

/* Appends to out the bytes of in[0..len) that are not part of an escape
 * sequence. */
void ls_ansi_strip_feed(ls_ansi_strip *s, const char *in, size_t len, ls_buf *out);

/* Forgets a sequence in progress (at the end of a log line). */
void ls_ansi_strip_reset(ls_ansi_strip *s);

#endif
