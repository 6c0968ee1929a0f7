#include "server/jsonline.h"

#include "common/json_text.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

void ls_jsonline_format(ls_buf *out, const ls_line *line)
{
    char stream[2] = {line->stream, '\0'};
    ls_buf_printf(out,
                  "{\"seq\":%" PRIu64 ",\"ts\":%" PRId64 ",\"stream\":\"%s\",\"text\":", line->seq,
                  line->ts_ms, stream);
    ls_json_put_string(out, line->text, line->len);
    if (line->continued)
        ls_buf_puts(out, ",\"continued\":true}");
    else
        ls_buf_putc(out, '}');
}
