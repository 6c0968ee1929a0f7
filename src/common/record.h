/* The ingest wire record: "SEQ\tTS_MS\tSTREAM\tTEXT" (newline excluded), see
 * docs/api.md. STREAM is o, e or h (heartbeat), o and e optionally followed by
 * '+' (continued). */
#ifndef LS_COMMON_RECORD_H
#define LS_COMMON_RECORD_H

#include <stddef.h>

#include "common/buf.h"
#include "common/line.h"

/* Parses one record of len bytes (without its '\n'). On success fills
 * *ret_line (text points into rec) and returns 0; a heartbeat returns 0 with
 * ret_line->stream == LS_STREAM_HEARTBEAT and seq 0. On failure returns
 * -EINVAL and sets *ret_error to a static message naming the problem
 * (e.g. "seq is not a decimal number"); -E2BIG when the text exceeds max_text. */
int ls_record_parse(const char *rec, size_t len, size_t max_text, ls_line *ret_line,
                    const char **ret_error);

/* The same parse, field by field, without the one-pass path ls_record_parse
 * tries first for the common record. Same contract and results; for the
 * fuzzer and tests that check the two agree. */
int ls_record_parse_fields(const char *rec, size_t len, size_t max_text, ls_line *ret_line,
                           const char **ret_error);

/* Appends the record for line, with its '\n', to out. */
void ls_record_format(ls_buf *out, const ls_line *line);

/* Appends a heartbeat record stamped ts_ms to out. */
void ls_record_format_heartbeat(ls_buf *out, long long ts_ms);

#endif
