#include "store/chunk_read.h"

#include <errno.h>

bool ls_chunk_read_init(ls_chunk_read *rd, uint64_t from_seq, uint64_t limit, ls_store_line_cb cb,
                        void *userdata)
{
    *rd = (ls_chunk_read){.next = from_seq ? from_seq : 1, .cb = cb, .userdata = userdata};
    rd->end = (limit && limit <= UINT64_MAX - rd->next) ? rd->next + limit : UINT64_MAX;
    return rd->next <= (uint64_t)INT64_MAX;
}

void ls_chunk_read_bounds(const ls_chunk_read *rd, int64_t *ret_from, int64_t *ret_end)
{
    *ret_from = (int64_t)rd->next;
    *ret_end = rd->end > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)rd->end;
}

static bool chunk_matches_row(const ls_chunk_read *rd)
{
    return rd->info.first_seq == rd->row_first && rd->info.last_seq == rd->row_last;
}

static int deliver_line(void *userdata, const ls_line *line)
{
    ls_chunk_read *rd = userdata;
    if (!rd->checked) {
        rd->checked = true;
        if (!chunk_matches_row(rd))
            return -EBADMSG;
    }
    /* below next: before the range asked for, or already delivered from an
     * earlier row that overlaps this one */
    if (line->seq < rd->next)
        return 0;
    if (line->seq >= rd->end) {
        rd->done = true;
        return 1;
    }
    rd->next = line->seq + 1;
    int r = rd->cb(rd->userdata, line);
    if (r != 0) {
        rd->cb_ret = r;
        rd->done = true;
        return 1;
    }
    if (rd->next >= rd->end)
        rd->done = true;
    return rd->done ? 1 : 0;
}

int ls_chunk_read_row(ls_chunk_read *rd, ls_chunk_decoder *d, uint64_t row_first, uint64_t row_last,
                      const void *blob, size_t len)
{
    rd->row_first = row_first;
    rd->row_last = row_last;
    rd->checked = false;
    if (rd->done || row_last < rd->next)
        return 0;
    int r = ls_chunk_decode(d, blob, len, deliver_line, rd, &rd->info);
    if (r == 1 && rd->done)
        return 0;
    if (r == 0 && !chunk_matches_row(rd))
        r = -EBADMSG;
    if (r < 0)
        ls_store_set_error("log chunk of lines %llu-%llu is corrupt (%d)",
                           (unsigned long long)row_first, (unsigned long long)row_last, r);
    return r;
}

int ls_chunk_read_result(const ls_chunk_read *rd)
{
    return rd->cb_ret;
}
