/* JSON output for log lines: the NDJSON object of docs/api.md, written
 * straight into a buffer (no jansson on the hot path). Text that is not
 * valid UTF-8 is written with each invalid byte replaced by U+FFFD. */
#ifndef LS_SERVER_JSONLINE_H
#define LS_SERVER_JSONLINE_H

#include <stddef.h>

#include "common/buf.h"
#include "common/json_text.h" /* ls_json_put_string */
#include "common/line.h"

/* Appends {"seq":…,"ts":…,"stream":"o","text":"…"[,"continued":true]}
 * without a trailing newline. */
void ls_jsonline_format(ls_buf *out, const ls_line *line);

#endif
