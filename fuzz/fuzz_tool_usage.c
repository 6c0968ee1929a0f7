/* links: plugins pluginhost common */
/* Fuzzes the tool-usage recognizer (src/plugins/tool_usage/recognizer.c)
 * with arbitrary log text: lines split at '\n', the first byte of each line
 * picks one of three steps. Every emitted event must be a valid JSON object
 * (the plugin publishes it as is) with a known tool and action, text within
 * its limits, and a line number the step has reached. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "plugins/tool_usage/recognizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t lines_seen[3];

static void check(void *userdata, const ls_tu_event *ev)
{
    uint64_t *emitted = userdata;
    if (ev->step >= 3 || ev->line == 0 || ev->line > lines_seen[ev->step] ||
        ev->seq != ++*emitted || !ev->tool[0] || !ev->action[0] ||
        strlen(ev->target) > LS_TU_TEXT_MAX || strlen(ev->details) > LS_TU_TEXT_MAX)
        abort();
    ls_buf out = LS_BUF_INIT;
    ls_tu_event_json(ev, (long long)ev->step + 1, &out);
    json_error_t err;
    json_t *o = json_loadb(out.data, out.len, 0, &err);
    if (!o || !json_is_object(o) || !json_is_string(json_object_get(o, "target")))
        abort();
    json_decref(o);
    ls_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t emitted = 0;
    memset(lines_seen, 0, sizeof(lines_seen));
    ls_tu *t = ls_tu_new(3, check, &emitted);
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        size_t step = n ? (unsigned char)p[0] % 3 : 0;
        lines_seen[step]++;
        ls_tu_line(t, step, p + (n ? 1 : 0), n ? n - 1 : 0);
        p += n + (nl ? 1 : 0);
    }
    ls_tu_finish(t);
    ls_tu_free(t);
    return 0;
}
