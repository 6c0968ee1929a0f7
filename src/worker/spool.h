/* Spool: the worker's local copy of one step's log, written before a line is
 * sent and deleted only after the server has confirmed the final seq and byte
 * count (DESIGN.md, "Worker -> server: the ingest stream").
 *
 * A spool is an append-only file of wire records (common/record.h), seq 1, 2,
 * ... in order. Appends go to a small in-memory buffer that is written out
 * when it fills or when a reader needs the data, so a reader always reads from
 * the file. A sparse index (one entry per index_every records, or per
 * index_bytes of file, whichever comes first) maps seq -> file offset for
 * resends, so memory stays flat however many lines the step prints.
 *
 * Thread-safe: one thread may append while another reads (an internal mutex
 * guards the buffer, counters and index). */
#ifndef LS_WORKER_SPOOL_H
#define LS_WORKER_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/line.h"

typedef struct ls_spool ls_spool;

typedef struct ls_spool_options {
    size_t max_line;      /* text limit used when re-reading a spool; 0 = LS_DEFAULT_MAX_LINE */
    size_t write_buffer;  /* bytes buffered before a write(); 0 = 64 KiB */
    uint64_t index_every; /* records between index entries; 0 = 1024 */
    uint64_t index_bytes; /* file bytes between index entries; 0 = 1 MiB */
} ls_spool_options;

/* A reader's position: the next record to read is next_seq, at offset. */
typedef struct ls_spool_cursor {
    uint64_t next_seq;
    off_t offset;
} ls_spool_cursor;

/* Opens (creating if needed) the spool file at path. An existing file is
 * scanned to rebuild the index, the last seq and the byte count; a torn last
 * record (no newline) is cut off. opts may be NULL for defaults. Returns 0 and
 * *ret, -EBADMSG when an existing file holds something that is not a run of
 * records 1, 2, ..., or a negative errno from the file system. */
int ls_spool_open(const char *path, const ls_spool_options *opts, ls_spool **ret);

/* Closes the file and frees; the file stays on disk. NULL is a no-op. */
void ls_spool_free(ls_spool *s);

/* Appends line (line->seq must be last_seq + 1; -EINVAL otherwise). Counts
 * line->len towards the byte total. Returns 0 or a negative errno (a failed
 * write leaves the spool unchanged). */
int ls_spool_append(ls_spool *s, const ls_line *line);

/* Writes buffered records to the file. Returns 0 or a negative errno. */
int ls_spool_flush(ls_spool *s);

/* Last seq appended (0 when empty) and total text bytes of lines 1..last. */
uint64_t ls_spool_last_seq(ls_spool *s);
uint64_t ls_spool_bytes(ls_spool *s);

/* Positions *ret_cursor at record seq (1 <= seq <= last seq + 1; seq = last+1
 * is the end, where later appends will appear). Returns 0, -ERANGE for a seq
 * outside that range, or a negative errno. */
int ls_spool_seek(ls_spool *s, uint64_t seq, ls_spool_cursor *ret_cursor);

/* Appends whole records starting at the cursor to out: at most max_bytes, but
 * always at least one record when one is available (a record is never split).
 * Advances the cursor. *ret_count gets the number of records read (0 at the
 * end). Returns 0 or a negative errno. */
int ls_spool_read(ls_spool *s, ls_spool_cursor *cursor, size_t max_bytes, ls_buf *out,
                  uint64_t *ret_count);

/* Number of entries in the sparse index (for tests and memory checks). */
size_t ls_spool_index_entries(ls_spool *s);

/* The file's path (owned by the spool). */
const char *ls_spool_path(const ls_spool *s);

/* Deletes the file (the spool stays usable as an empty object only for
 * ls_spool_free). Returns 0 or a negative errno. */
int ls_spool_remove(ls_spool *s);

#endif
