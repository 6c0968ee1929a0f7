/* Reading a step's lines out of its chunk rows: the part of ls_store_read
 * that every back end shares. A back end runs its range query (the rows that
 * overlap [from, from + limit), ordered by first_seq) and hands each row to
 * ls_chunk_read_row; this module decodes it, checks it against its columns and
 * passes on the lines the reader has not had yet. */
#ifndef LS_STORE_CHUNK_READ_H
#define LS_STORE_CHUNK_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/chunk.h"
#include "store/store_backend.h"

/* One read in progress. Set it up with ls_chunk_read_init; the fields are
 * the module's. */
typedef struct ls_chunk_read {
    uint64_t next; /* the next seq to deliver: lines below it were delivered or not asked for */
    uint64_t end;  /* exclusive */
    ls_store_line_cb cb;
    void *userdata;
    int cb_ret;
    bool done;
    /* the row being decoded */
    uint64_t row_first, row_last; /* what its columns say */
    ls_chunk_info info;           /* what its blob says, set before its first line */
    bool checked;
} ls_chunk_read;

/* Starts a read of [from_seq, from_seq + limit) (from_seq 0 = 1, limit 0 = no
 * limit) delivering to cb. Returns false when nothing can match (from_seq
 * beyond INT64_MAX): the back end then returns 0 without a query. */
bool ls_chunk_read_init(ls_chunk_read *rd, uint64_t from_seq, uint64_t limit, ls_store_line_cb cb,
                        void *userdata);

/* The query's bounds as SQL integers: rows overlapping [*ret_from, *ret_end). */
void ls_chunk_read_bounds(const ls_chunk_read *rd, int64_t *ret_from, int64_t *ret_end);

/* Decodes one row (columns first_seq, last_seq and its blob) and delivers its
 * lines from rd->next on, each exactly once: a line at or below the last one
 * delivered (a row that overlaps one already read) is skipped, so a reader
 * never sees a seq twice or going backwards. Returns 0 (check rd->done: the
 * limit was reached or cb stopped the read), or -EBADMSG/-EFBIG when the row
 * is corrupt or does not hold the lines its columns say (with
 * ls_store_set_error). */
int ls_chunk_read_row(ls_chunk_read *rd, ls_chunk_decoder *d, uint64_t row_first, uint64_t row_last,
                      const void *blob, size_t len);

/* What the read returns once the rows are done: 0 or cb's non-zero value. */
int ls_chunk_read_result(const ls_chunk_read *rd);

#endif
