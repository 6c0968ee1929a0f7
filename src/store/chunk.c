/* Chunk codec, see chunk.h for the format. */
#include "store/chunk.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/alloc.h"

#define VARINT_MAX 10u
#define FLAG_STDERR 0x01u
#define FLAG_CONTINUED 0x02u
#define DEFAULT_MAX_RAW (64u * 1024u * 1024u)

/* ---- varints and fixed-width integers ---- */

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static uint64_t zigzag(uint64_t v)
{
    return (v << 1) ^ (uint64_t)((int64_t)v >> 63);
}

static uint64_t unzigzag(uint64_t v)
{
    return (v >> 1) ^ (uint64_t) - (int64_t)(v & 1);
}

static void put_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A bounded cursor over untrusted bytes. */
typedef struct cursor {
    const uint8_t *p;
    const uint8_t *end;
} cursor;

/* Reads a canonical LEB128 varint of at most 64 bits. */
static int get_varint(cursor *c, uint64_t *ret)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (c->p == c->end)
            return -EBADMSG;
        uint8_t b = *c->p++;
        if (shift == 63 && b > 1)
            return -EBADMSG; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (b == 0 && shift > 0)
                return -EBADMSG; /* overlong encoding */
            *ret = v;
            return 0;
        }
    }
    return -EBADMSG;
}

/* ---- writer ---- */

void ls_chunk_writer_init(ls_chunk_writer *w)
{
    memset(w, 0, sizeof(*w));
    w->buf = (ls_buf)LS_BUF_INIT;
    ls_chunk_writer_reset(w);
}

void ls_chunk_writer_reset(ls_chunk_writer *w)
{
    uint8_t header[LS_CHUNK_HEADER_BYTES] = {LS_CHUNK_RAW, 0, 0, 0, 0};
    ls_buf_reset(&w->buf);
    ls_buf_append(&w->buf, header, sizeof(header));
    w->n_lines = 0;
    w->first_seq = 0;
    w->last_seq = 0;
    w->last_ts_ms = 0;
    w->text_bytes = 0;
}

void ls_chunk_writer_free(ls_chunk_writer *w)
{
    ls_buf_free(&w->buf);
    w->n_lines = 0;
}

int ls_chunk_writer_add(ls_chunk_writer *w, const ls_line *line)
{
    if (line->seq == 0 || line->seq <= w->last_seq)
        return -EINVAL;
    if (line->stream != LS_STREAM_STDOUT && line->stream != LS_STREAM_STDERR)
        return -EINVAL;
    if (w->n_lines == UINT32_MAX)
        return -E2BIG;

    uint8_t *start = (uint8_t *)ls_buf_reserve(&w->buf, 3 * VARINT_MAX + 1 + line->len);
    uint8_t *p = start;
    p = put_varint(p, line->seq - w->last_seq);
    p = put_varint(p, zigzag((uint64_t)line->ts_ms - (uint64_t)w->last_ts_ms));
    *p++ = (uint8_t)((line->stream == LS_STREAM_STDERR ? FLAG_STDERR : 0) |
                     (line->continued ? FLAG_CONTINUED : 0));
    p = put_varint(p, line->len);
    if (line->len)
        memcpy(p, line->text, line->len);
    p += line->len;
    w->buf.len += (size_t)(p - start);
    w->buf.data[w->buf.len] = '\0';

    if (w->n_lines == 0)
        w->first_seq = line->seq;
    w->n_lines++;
    put_u32le((uint8_t *)w->buf.data + 1, w->n_lines);
    w->last_seq = line->seq;
    w->last_ts_ms = line->ts_ms;
    w->text_bytes += line->len;
    return 0;
}

/* ---- raw blob parsing ---- */

/* Reads the line after *prev (the previous line, zeroed before the first). */
static int parse_line(cursor *c, ls_line *prev)
{
    uint64_t seq_delta, ts_zz, len;
    int r = get_varint(c, &seq_delta);
    if (r < 0)
        return r;
    if (seq_delta == 0 || seq_delta > UINT64_MAX - prev->seq)
        return -EBADMSG;
    r = get_varint(c, &ts_zz);
    if (r < 0)
        return r;
    if (c->p == c->end)
        return -EBADMSG;
    uint8_t flags = *c->p++;
    if (flags & ~(FLAG_STDERR | FLAG_CONTINUED))
        return -EBADMSG;
    r = get_varint(c, &len);
    if (r < 0)
        return r;
    if (len > UINT32_MAX || len > (uint64_t)(c->end - c->p))
        return -EBADMSG;

    prev->seq += seq_delta;
    prev->ts_ms = (int64_t)((uint64_t)prev->ts_ms + unzigzag(ts_zz));
    prev->stream = (flags & FLAG_STDERR) ? LS_STREAM_STDERR : LS_STREAM_STDOUT;
    prev->continued = (flags & FLAG_CONTINUED) != 0;
    prev->len = (uint32_t)len;
    prev->text = (const char *)c->p;
    c->p += len;
    return 0;
}

/* Walks a raw blob; with cb NULL it only validates and fills *info. */
static int walk_raw(const uint8_t *data, size_t len, ls_chunk_info *info, ls_chunk_line_cb cb,
                    void *userdata)
{
    if (len < LS_CHUNK_HEADER_BYTES || data[0] != LS_CHUNK_RAW)
        return -EBADMSG;
    cursor c = {data + LS_CHUNK_HEADER_BYTES, data + len};
    uint32_t n = get_u32le(data + 1);
    ls_line line = {0};
    ls_chunk_info found = {.n_lines = n, .raw_bytes = len};

    for (uint32_t i = 0; i < n; i++) {
        int r = parse_line(&c, &line);
        if (r < 0)
            return r;
        if (i == 0)
            found.first_seq = line.seq;
        found.text_bytes += line.len;
        if (cb) {
            r = cb(userdata, &line);
            if (r != 0)
                return r;
        }
    }
    if (c.p != c.end)
        return -EBADMSG; /* trailing bytes */
    found.last_seq = line.seq;
    *info = found;
    return 0;
}

/* ---- compression ---- */

struct ls_chunk_compressor {
    ZSTD_CCtx *cctx;
};

int ls_chunk_compressor_new(int level, ls_chunk_compressor **ret)
{
    ls_chunk_compressor *c = ls_xcalloc(1, sizeof(*c));
    int r = -ENOMEM;
    c->cctx = ZSTD_createCCtx();
    if (!c->cctx)
        goto out;
    if (ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_contentSizeFlag, 1))) {
        r = -EINVAL;
        goto out;
    }
    *ret = c;
    c = NULL;
    r = 0;
out:
    ls_chunk_compressor_free(c);
    return r;
}

void ls_chunk_compressor_free(ls_chunk_compressor *c)
{
    if (!c)
        return;
    ZSTD_freeCCtx(c->cctx);
    free(c);
}

int ls_chunk_compress(ls_chunk_compressor *c, const void *raw, size_t len, ls_buf *out)
{
    if (len < LS_CHUNK_HEADER_BYTES || ((const uint8_t *)raw)[0] != LS_CHUNK_RAW)
        return -EINVAL;
    size_t bound = ZSTD_compressBound(len);
    ls_buf_reset(out);
    char *dst = ls_buf_reserve(out, 1 + bound);
    dst[0] = LS_CHUNK_ZSTD;
    size_t n = ZSTD_compress2(c->cctx, dst + 1, bound, raw, len);
    if (ZSTD_isError(n))
        return -EIO;
    out->len = 1 + n;
    out->data[out->len] = '\0';
    return 0;
}

/* ---- decoding ---- */

struct ls_chunk_decoder {
    ZSTD_DCtx *dctx;
    size_t max_raw;
    uint8_t *buf; /* decompressed content */
    size_t cap;
};

int ls_chunk_decoder_new(size_t max_raw, ls_chunk_decoder **ret)
{
    ls_chunk_decoder *d = ls_xcalloc(1, sizeof(*d));
    d->max_raw = max_raw ? max_raw : DEFAULT_MAX_RAW;
    d->dctx = ZSTD_createDCtx();
    if (!d->dctx) {
        ls_chunk_decoder_free(d);
        return -ENOMEM;
    }
    *ret = d;
    return 0;
}

void ls_chunk_decoder_free(ls_chunk_decoder *d)
{
    if (!d)
        return;
    ZSTD_freeDCtx(d->dctx);
    free(d->buf);
    free(d);
}

/* Decompresses a sealed blob's frame into d->buf; *ret_len is its size. */
static int decompress(ls_chunk_decoder *d, const uint8_t *src, size_t n, size_t *ret_len)
{
    size_t frame = ZSTD_findFrameCompressedSize(src, n);
    if (ZSTD_isError(frame) || frame != n)
        return -EBADMSG; /* not exactly one frame */
    unsigned long long size = ZSTD_getFrameContentSize(src, n);
    if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR ||
        size < LS_CHUNK_HEADER_BYTES)
        return -EBADMSG;
    if (size > d->max_raw)
        return -EFBIG;
    if (size > d->cap) {
        free(d->buf);
        d->buf = ls_xmalloc((size_t)size);
        d->cap = (size_t)size;
    }
    size_t got = ZSTD_decompressDCtx(d->dctx, d->buf, (size_t)size, src, n);
    if (ZSTD_isError(got) || got != size)
        return -EBADMSG;
    *ret_len = got;
    return 0;
}

int ls_chunk_decode(ls_chunk_decoder *d, const void *blob, size_t len, ls_chunk_line_cb cb,
                    void *userdata, ls_chunk_info *ret_info)
{
    const uint8_t *raw = blob;
    size_t raw_len = len;
    ls_chunk_info info;
    int r;

    if (len == 0)
        return -EBADMSG;
    if (raw[0] == LS_CHUNK_ZSTD) {
        r = decompress(d, raw + 1, len - 1, &raw_len);
        if (r < 0)
            return r;
        raw = d->buf;
    }
    /* Validate everything first, so a corrupt blob delivers no line at all. */
    r = walk_raw(raw, raw_len, &info, NULL, NULL);
    if (r < 0)
        return r;
    if (ret_info)
        *ret_info = info;
    if (!cb)
        return 0;
    return walk_raw(raw, raw_len, &info, cb, userdata);
}
