/* Spool: the worker's local copy of one step's log, written before a line is
 * sent and deleted only after the server has confirmed the final seq and byte
 * count (DESIGN.md, "Worker -> server: the ingest stream").
 *
 * A spool is an append-only file of wire records (common/record.h), seq 1, 2,
 * ... in order. A sparse index (one entry per index_every records, or per
 * index_bytes of file, whichever comes first) maps seq -> file offset for
 * resends, so memory stays flat however many lines the step prints.
 *
 * Two threads, two roles: one appender (the executor's thread) and one reader
 * (the uploader's thread).
 *
 * - Appending only formats the record into an in-memory pending buffer under a
 *   short lock (no I/O). The pending records are written to the file with one
 *   write per batch by the reader: whenever it reads and write_buffer bytes
 *   are pending, or it has read everything already in the file and looks for
 *   more (ls_spool_read, ls_spool_seek, ls_spool_flush). So the file writes
 *   run on the reader's thread (the worker's upload thread, which yields to
 *   the steps: --upload-nice), not on the thread the steps' output waits for.
 *   Only once max_pending bytes are pending (the reader fell behind, or the
 *   disk cannot keep up) does the appender write them itself, waiting for a
 *   write under way: back pressure.
 * - "In the spool before it is sent": the reader returns only records whose
 *   write() has completed (it writes the pending records itself first when it
 *   has caught up). Nothing is sent that is not in the file.
 * - The most recent written records (tail_bytes, at least the last write)
 *   stay in memory, so a reader that keeps up never reads the file back;
 *   reads further behind (resends after a failure) pread the file, outside
 *   every lock.
 *
 * No lock is held during file I/O that the appender could need: writes hold a
 * separate write lock, which the appender only takes past max_pending. */
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
    size_t write_buffer;  /* pending bytes that a read writes to the file first; 0 = 128 KiB */
    size_t max_pending;   /* pending bytes at which the appender writes them itself, waiting
                           * for a write under way; 0 = 8 x write_buffer (at least
                           * write_buffer) */
    size_t tail_bytes;    /* written bytes kept in memory for the reader; 0 = 1 MiB */
    uint64_t index_every; /* records between index entries; 0 = 1024 */
    uint64_t index_bytes; /* file bytes between index entries; 0 = 1 MiB */
} ls_spool_options;

/* A reader's position: the next record to read is next_seq, at offset. */
typedef struct ls_spool_cursor {
    uint64_t next_seq;
    off_t offset;
} ls_spool_cursor;

/* Read statistics (for tests and benchmarks). */
typedef struct ls_spool_stats {
    uint64_t writes;          /* write batches that reached the file */
    uint64_t appender_writes; /* of which written by the appending thread */
    uint64_t bytes_from_memory;
    uint64_t bytes_from_file; /* read back with pread */
} ls_spool_stats;

/* Opens (creating if needed) the spool file at path. An existing file is
 * scanned to rebuild the index, the last seq and the byte count; a torn last
 * record (no newline) is cut off. opts may be NULL for defaults. Returns 0 and
 * *ret, -EBADMSG when an existing file holds something that is not a run of
 * records 1, 2, ..., or a negative errno from the file system. */
int ls_spool_open(const char *path, const ls_spool_options *opts, ls_spool **ret);

/* Writes what is pending, closes the file and frees; the file stays on disk.
 * NULL is a no-op. */
void ls_spool_free(ls_spool *s);

/* Appends line (line->seq must be last_seq + 1; -EINVAL otherwise). Counts
 * line->len towards the byte total. Does no I/O unless write_buffer bytes are
 * pending (see above). Returns 0 or a negative errno: when a write it had to
 * do fails, the line is not appended (the lines pending before it stay
 * pending and are written by the next write). */
int ls_spool_append(ls_spool *s, const ls_line *line);

/* The appending thread may take the spool's lock once for a run of appends
 * (the lines of one read) instead of once per line: between ls_spool_hold and
 * ls_spool_release, ls_spool_append takes no lock of its own (it still lets
 * go of it while it writes). Hold it for one run of appends only, never
 * across a wait. Only the appending thread may call these. */
void ls_spool_hold(ls_spool *s);
void ls_spool_release(ls_spool *s);

/* Writes pending records to the file. Returns 0 or a negative errno (the
 * records stay pending). */
int ls_spool_flush(ls_spool *s);

/* Last seq appended (0 when empty) and total text bytes of lines 1..last
 * (pending ones included). */
uint64_t ls_spool_last_seq(ls_spool *s);
uint64_t ls_spool_bytes(ls_spool *s);

/* Positions *ret_cursor at record seq (1 <= seq <= last seq + 1; seq = last+1
 * is the end, where later appends will appear). Writes pending records first.
 * Returns 0, -ERANGE for a seq outside that range, or a negative errno. */
int ls_spool_seek(ls_spool *s, uint64_t seq, ls_spool_cursor *ret_cursor);

/* Appends whole records starting at the cursor to out: at most max_bytes, but
 * always at least one record when one is available (a record is never split).
 * Only written records are returned; when the cursor has reached the end of
 * the file, the pending records are written first. Advances the cursor.
 * *ret_count gets the number of records read (0 at the end). Returns 0 or a
 * negative errno. Reader thread only. */
int ls_spool_read(ls_spool *s, ls_spool_cursor *cursor, size_t max_bytes, ls_buf *out,
                  uint64_t *ret_count);

/* Number of entries in the sparse index (for tests and memory checks). */
size_t ls_spool_index_entries(ls_spool *s);

/* A snapshot of the read statistics. */
void ls_spool_get_stats(ls_spool *s, ls_spool_stats *ret);

/* The file's path (owned by the spool). */
const char *ls_spool_path(const ls_spool *s);

/* Closes the file without deleting it, dropping anything still pending (call
 * it once the server has confirmed every line). Afterwards the spool serves
 * only ls_spool_path, the counters and ls_spool_free; the caller may unlink
 * the path from any thread (unlinking a large file takes a while: the kernel
 * frees its page cache). Returns 0 or a negative errno. */
int ls_spool_close_file(ls_spool *s);

/* ls_spool_close_file, then deletes the file. Returns 0 or a negative errno. */
int ls_spool_remove(ls_spool *s);

#endif
