#include "cli/ansi_strip.h"

enum {
    S_TEXT = 0,
    S_ESC,        /* after ESC */
    S_CSI,        /* after ESC [: parameter and intermediate bytes */
    S_ESC_INTER,  /* after ESC and an intermediate byte (e.g. ESC ( B) */
    S_STRING,     /* inside OSC/DCS/SOS/PM/APC */
    S_STRING_ESC, /* ESC inside a string: maybe the ST terminator */
};

#define ESC 0x1b
#define BEL 0x07

void ls_ansi_strip_reset(ls_ansi_strip *s)
{
    s->state = S_TEXT;
}

/* Returns the next state after byte c; sets *emit when c is text. */
static int step(int state, unsigned char c, int *emit)
{
    *emit = 0;
    if (c == '\n') {
        *emit = 1;
        return S_TEXT;
    }
    switch (state) {
    case S_ESC:
        if (c == '[')
            return S_CSI;
        if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_')
            return S_STRING;
        if (c >= 0x20 && c <= 0x2f)
            return S_ESC_INTER;
        if (c >= 0x30 && c <= 0x7e)
            return S_TEXT;
        if (c == ESC)
            return S_ESC;
        break;
    case S_CSI:
        if (c == ESC)
            return S_ESC; /* a new sequence cancels the broken one */
        if (c >= 0x40 && c <= 0x7e)
            return S_TEXT;
        if (c >= 0x20 && c <= 0x3f)
            return S_CSI;
        break;
    case S_ESC_INTER:
        if (c == ESC)
            return S_ESC;
        if (c >= 0x20 && c <= 0x2f)
            return S_ESC_INTER;
        if (c >= 0x30 && c <= 0x7e)
            return S_TEXT;
        break;
    case S_STRING:
        if (c == BEL)
            return S_TEXT;
        return c == ESC ? S_STRING_ESC : S_STRING;
    case S_STRING_ESC:
        if (c == '\\')
            return S_TEXT;
        return c == ESC ? S_STRING_ESC : S_STRING;
    default:
        if (c == ESC)
            return S_ESC;
        break;
    }
    /* Plain text, or a byte that cancels a malformed sequence: keep it. */
    *emit = 1;
    return S_TEXT;
}

void ls_ansi_strip_feed(ls_ansi_strip *s, const char *in, size_t len, ls_buf *out)
{
    size_t run = 0; /* start of the pending run of text bytes */
    for (size_t i = 0; i < len; i++) {
        if (s->state == S_TEXT && in[i] != ESC)
            continue;
        int emit;
        if (s->state == S_TEXT) {
            ls_buf_append(out, in + run, i - run);
            s->state = step(s->state, (unsigned char)in[i], &emit);
            run = i + 1;
            continue;
        }
        s->state = step(s->state, (unsigned char)in[i], &emit);
        if (emit)
            ls_buf_append(out, in + i, 1);
        run = i + 1;
    }
    if (s->state == S_TEXT)
        ls_buf_append(out, in + run, len - run);
}
