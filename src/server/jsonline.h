/* JSON output for log lines: the NDJSON object of docs/api.md, written
 * straight into a buffer (no jansson on the hot path). Text that is not
 * valid UTF-8 is written with each invalid byte replaced by U+FFFD. */
#ifndef LS_SERVER_JSONLINE_H
#define LS_SERVER_JSONLINE_H

#include <stddef.h>

#include "common/buf.h"
#include "common/line.h"

/* Appends s (len bytes) as a quoted JSON string, escaping as needed and
 * replacing invalid UTF-8 with U+FFFD. */
void ls_json_put_string(ls_buf *out, const char *s, size_t len);

/* Appends {"seq":…,"ts":…,"stream":"o","text":"…"[,"continued":true]}
 * without a trailing newline. */
void ls_jsonline_format(ls_buf *out, const ls_line *line);

#endif
