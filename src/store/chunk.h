/* Chunk codec: a run of log lines of one step as one byte blob, the unit the
 * store keeps per database row.
 *
 * Raw blob (an open chunk), all integers little-endian:
 *   byte    LS_CHUNK_RAW (0x01)
 *   u32     number of lines
 *   per line:
 *     varint  seq - previous seq, > 0 (previous is 0 for the first line)
 *     varint  zigzag(ts_ms - previous ts_ms) (previous is 0 for the first line)
 *     byte    flags: bit 0 = stderr, bit 1 = continued; other bits are zero
 *     varint  text length
 *     bytes   text
 * Varints are LEB128 (7 bits per byte, low first), at most 10 bytes, and
 * canonical (no trailing zero byte), so a valid raw blob has exactly one
 * encoding. A 100-byte line with consecutive seq and a small ts delta costs
 * 104 bytes.
 *
 * Sealed blob (a full chunk): byte LS_CHUNK_ZSTD (0x02), then exactly one zstd
 * frame, with its content size and checksum, whose content is a raw blob.
 *
 * The decoder treats every blob as untrusted: any inconsistency returns
 * -EBADMSG before a single line is delivered. */
#ifndef LS_STORE_CHUNK_H
#define LS_STORE_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/line.h"

enum {
    LS_CHUNK_RAW = 0x01,
    LS_CHUNK_ZSTD = 0x02,
};

/* Size of the raw blob header (format byte and line count). */
#define LS_CHUNK_HEADER_BYTES 5u

/* Builds a raw blob line by line. The blob is buf.data[0..buf.len) and is a
 * valid raw blob at any time (zero lines after init/reset). */
typedef struct ls_chunk_writer {
    ls_buf buf;          /* the raw blob; owned */
    uint32_t n_lines;    /* lines added */
    uint64_t first_seq;  /* seq of the first line; 0 when empty */
    uint64_t last_seq;   /* seq of the last line; 0 when empty */
    int64_t last_ts_ms;  /* ts of the last line; 0 when empty */
    uint64_t text_bytes; /* sum of the lines' text lengths */
} ls_chunk_writer;

/* Initialises an empty writer. Free with ls_chunk_writer_free. */
void ls_chunk_writer_init(ls_chunk_writer *w);

/* Empties the writer, keeping its storage. */
void ls_chunk_writer_reset(ls_chunk_writer *w);

/* Frees the storage; the writer can be initialised again. */
void ls_chunk_writer_free(ls_chunk_writer *w);

/* Appends one line (its text is copied). -EINVAL when seq is 0 or not above
 * the previous line's, or stream is neither stdout nor stderr; -E2BIG when the
 * writer already holds UINT32_MAX lines. The writer is unchanged on failure. */
int ls_chunk_writer_add(ls_chunk_writer *w, const ls_line *line);

/* Compresses raw blobs into sealed blobs; holds a reusable zstd context. */
typedef struct ls_chunk_compressor ls_chunk_compressor;

/* level: zstd level (0 = zstd's default, 3). Returns 0 and *ret (free with
 * ls_chunk_compressor_free), or -ENOMEM. */
int ls_chunk_compressor_new(int level, ls_chunk_compressor **ret);

/* NULL is a no-op. */
void ls_chunk_compressor_free(ls_chunk_compressor *c);

/* Replaces the contents of out with the sealed blob of the raw blob
 * raw[0..len). -EINVAL when raw does not start like a raw blob; -EIO when
 * zstd fails (out is then empty). */
int ls_chunk_compress(ls_chunk_compressor *c, const void *raw, size_t len, ls_buf *out);

/* Decodes raw and sealed blobs; holds a reusable zstd context and the buffer
 * for decompressed content. */
typedef struct ls_chunk_decoder ls_chunk_decoder;

/* max_raw: the largest decompressed content accepted (a bound against
 * decompression bombs; 0 = 64 MiB). Returns 0 and *ret (free with
 * ls_chunk_decoder_free), or -ENOMEM. */
int ls_chunk_decoder_new(size_t max_raw, ls_chunk_decoder **ret);

/* NULL is a no-op. */
void ls_chunk_decoder_free(ls_chunk_decoder *d);

/* Called for each line in order; the line (and its text) is valid only during
 * the call. A non-zero return stops decoding and is returned by it. */
typedef int (*ls_chunk_line_cb)(void *userdata, const ls_line *line);

/* Summary of a valid blob. */
typedef struct ls_chunk_info {
    uint32_t n_lines;
    uint64_t first_seq; /* 0 when n_lines == 0 */
    uint64_t last_seq;  /* 0 when n_lines == 0 */
    uint64_t text_bytes;
    size_t raw_bytes; /* size of the raw blob (the decompressed content when sealed) */
} ls_chunk_info;

/* Checks the whole blob (raw or sealed) blob[0..len) and then calls cb for
 * each of its lines (cb may be NULL to only validate). ret_info may be NULL;
 * it is filled before the first callback. Returns 0, cb's non-zero value, -EBADMSG when the blob is
 * corrupt (no line has been delivered then), or -EFBIG when a sealed blob's content is larger than
 * the decoder's max_raw. The lines' text points into blob or into the decoder's buffer, which the
 * next call reuses. */
int ls_chunk_decode(ls_chunk_decoder *d, const void *blob, size_t len, ls_chunk_line_cb cb,
                    void *userdata, ls_chunk_info *ret_info);

#endif
