/* links: cli common */
/* Fuzzes the incremental SSE parser and checks that cutting the stream into
 * chunks never changes the events: the input is parsed once whole and once in
 * chunks whose sizes come from the input itself, and both transcripts must be
 * equal. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

/* src/cli is linked into the logstream executable, not a library. */
#include "cli/sse_client.h"

static int record_event(void *ctx, const ls_sse_event *ev)
{
    ls_buf *t = ctx;
    ls_buf_printf(t, "E%zu:%s|%zu:", strlen(ev->type), ev->type, ev->data_len);
    ls_buf_append(t, ev->data, ev->data_len);
    ls_buf_printf(t, "|%s\n", ev->id);
    return 0;
}

static int record_comment(void *ctx, const char *text, size_t len)
{
    ls_buf *t = ctx;
    ls_buf_printf(t, "C%zu:", len);
    ls_buf_append(t, text, len);
    return 0;
}

static int run(const uint8_t *data, size_t size, size_t seed, ls_buf *t)
{
    ls_sse_parser *p = ls_sse_parser_new(256, 1024, record_event, record_comment, t);
    int rc = 0;
    size_t i = 0;
    while (i < size && rc == 0) {
        size_t n = seed ? 1 + (data[(i + seed) % size] % 17) : size;
        if (n > size - i)
            n = size - i;
        rc = ls_sse_parser_feed(p, (const char *)data + i, n);
        i += n;
    }
    ls_buf_printf(t, "rc=%d id=%s retry=%lld", rc, ls_sse_parser_last_id(p),
                  (long long)ls_sse_parser_retry_ms(p));
    ls_sse_parser_free(p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ls_buf whole = LS_BUF_INIT, chunked = LS_BUF_INIT;
    run(data, size, 0, &whole);
    run(data, size, 1, &chunked);
    if (whole.len != chunked.len || memcmp(whole.data, chunked.data, whole.len) != 0)
        abort();
    ls_buf_free(&whole);
    ls_buf_free(&chunked);
    return 0;
}
