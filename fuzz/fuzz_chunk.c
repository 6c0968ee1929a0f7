/* links: store common */
/* libFuzzer target for the chunk decoder (src/store/chunk.c): any input must
 * decode or be rejected with -EBADMSG/-EFBIG, never crash or read out of
 * bounds. An accepted raw blob must re-encode to the same bytes (the encoding
 * is canonical) and survive sealing and decoding again unchanged. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/chunk.h"

#define MAX_RAW (1u << 20)

typedef struct state {
    ls_chunk_writer again; /* the accepted lines, encoded again */
    uint64_t last_seq;
    uint64_t sum;
    int error;
} state;

static int visit(void *userdata, const ls_line *line)
{
    state *s = userdata;
    if (line->seq <= s->last_seq || (line->stream != 'o' && line->stream != 'e'))
        abort();
    s->last_seq = line->seq;
    for (uint32_t i = 0; i < line->len; i++) /* every byte must be readable */
        s->sum += (unsigned char)line->text[i];
    if (ls_chunk_writer_add(&s->again, line) != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ls_chunk_decoder *dec;
    static ls_chunk_compressor *comp;
    if (!dec && (ls_chunk_decoder_new(MAX_RAW, &dec) < 0 || ls_chunk_compressor_new(1, &comp) < 0))
        abort();

    state s = {0};
    ls_chunk_writer_init(&s.again);
    ls_chunk_info info;
    int r = ls_chunk_decode(dec, data, size, visit, &s, &info);
    if (r != 0 && r != -EBADMSG && r != -EFBIG)
        abort();
    if (r != 0) {
        if (s.again.n_lines != 0) /* a rejected blob delivers nothing */
            abort();
        goto out;
    }
    if (s.again.n_lines != info.n_lines || s.again.text_bytes != info.text_bytes)
        abort();
    if (data[0] == LS_CHUNK_RAW &&
        (s.again.buf.len != size || memcmp(s.again.buf.data, data, size) != 0))
        abort();

    /* seal what was decoded and decode it again: same lines */
    ls_buf sealed = LS_BUF_INIT;
    if (ls_chunk_compress(comp, s.again.buf.data, s.again.buf.len, &sealed) != 0)
        abort();
    state t = {0};
    ls_chunk_writer_init(&t.again);
    if (ls_chunk_decode(dec, sealed.data, sealed.len, visit, &t, NULL) != 0 ||
        t.again.buf.len != s.again.buf.len ||
        memcmp(t.again.buf.data, s.again.buf.data, s.again.buf.len) != 0)
        abort();
    ls_chunk_writer_free(&t.again);
    ls_buf_free(&sealed);
out:
    ls_chunk_writer_free(&s.again);
    return 0;
}
