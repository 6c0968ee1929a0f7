/* links: common */
/* Parses arbitrary bytes as one ingest record: the one-pass parser and the
 * field-by-field one must agree, and whatever parses must format back to a
 * record that parses to the same line. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/record.h"

#define MAX_TEXT 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a private copy so ASan catches any read past the record */
    char *rec = malloc(size ? size : 1);
    if (!rec)
        return 0;
    memcpy(rec, data, size);
    ls_line line;
    const char *err = NULL;
    int r = ls_record_parse(rec, size, MAX_TEXT, &line, &err);
    ls_line slow;
    const char *slow_err = NULL;
    if (ls_record_parse_fields(rec, size, MAX_TEXT, &slow, &slow_err) != r || slow_err != err)
        abort();
    if (r == 0 &&
        (slow.seq != line.seq || slow.ts_ms != line.ts_ms || slow.stream != line.stream ||
         slow.continued != line.continued || slow.len != line.len || slow.text != line.text))
        abort();
    if (r < 0) {
        if ((r != -EINVAL && r != -E2BIG) || !err)
            abort();
        goto out;
    }
    if (line.len > MAX_TEXT)
        abort();
    ls_buf out = LS_BUF_INIT;
    ls_record_format(&out, &line);
    if (out.len == 0 || out.data[out.len - 1] != '\n')
        abort();
    ls_line back;
    if (ls_record_parse(out.data, out.len - 1, MAX_TEXT, &back, &err) != 0)
        abort();
    if (back.seq != line.seq || back.ts_ms != line.ts_ms || back.stream != line.stream ||
        back.continued != line.continued || back.len != line.len ||
        memcmp(back.text, line.text, line.len) != 0)
        abort();
    ls_buf_free(&out);
out:
    free(rec);
    return 0;
}
