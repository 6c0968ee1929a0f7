/* test-results: removes terminal colours and cursor codes from a line, so
 * the parsers see what a person sees. Internal to src/plugins/test_results. */
#ifndef LS_PLUGINS_TR_ANSI_H
#define LS_PLUGINS_TR_ANSI_H

#include <stddef.h>

#include "common/buf.h"

/* Replaces out's contents with line[0..len) without ANSI escape sequences
 * (CSI "ESC [ ... final", OSC "ESC ] ... BEL|ESC \", and two-byte "ESC x"),
 * without a trailing CR, and, when the line contains CRs (progress redrawn in
 * place), only the text after the last one. */
void tr_ansi_strip(const char *line, size_t len, ls_buf *out);

#endif
