/* Size limits and retention of stored logs (docs/api.md, "Size limits and
 * retention").
 *
 * Per step (--max-step-bytes) and per build (--max-build-bytes): when the
 * text a step keeps in the store grows past its limit, the middle of its log
 * is dropped. The head (the first chunks, about half the limit) stays, the
 * most recent lines stay, and the oldest chunks after the head are deleted,
 * so the dropped lines are always one run of seqs, drop_first..drop_last.
 * Readers see that run as a single marker line with seq drop_first whose
 * text says how many lines and bytes were dropped and why; the next line
 * they see has seq drop_last + 1. Seqs, durable_seq and the byte counters
 * are not changed by a drop: the lines were received, and the worker's final
 * check (durable_seq and bytes of lines 1..durable_seq) still holds.
 *
 * Server disk usage (--max-disk, or the disk itself): an append that fails
 * for lack of space marks the server's storage as full; ingest then answers
 * 507 until a later flush succeeds (see server/ingest.c).
 *
 * Retention (--retention): a background thread deletes builds (with their
 * steps and logs) that finished longer ago than the retention, every
 * --retention-interval. */
#ifndef LS_SERVER_LIMITS_H
#define LS_SERVER_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "server/live.h"
#include "server/srv.h"

typedef struct ls_limits ls_limits;

/* Starts the retention thread when srv->cfg.retention_ms > 0 (else only
 * allocates). Returns 0 and *ret, or a negative errno. */
int ls_limits_start(ls_server *srv, ls_limits **ret);

/* Stops the retention thread (waking it at once) and frees. NULL is a no-op. */
void ls_limits_stop(ls_limits *lim);

/* Runs one retention pass now, on the calling thread: deletes every build
 * that finished before now - retention and has no live object. Returns how
 * many builds were deleted, or a negative errno from the store. */
int ls_limits_retention_pass(ls_server *srv);

/* Called by the flusher after a successful flush, for the steps it stored:
 * drops the middle of those over their size limit (store first, then the
 * live object so readers see the gap at once). Errors are counted and
 * reported on stderr once, never fatal: the next flush tries again. */
void ls_limits_after_flush(ls_server *srv, ls_live_step *const *steps, size_t n_steps);

/* The limit a step's stored text is held to: --max-step-bytes, lowered to
 * what --max-build-bytes leaves after the build's other steps (but never
 * below a floor of a few chunks). build_bytes is the stored text of the
 * whole build, step_bytes that of this step (both after drops). Exposed for
 * unit tests. */
uint64_t ls_limits_step_limit(const ls_server_config *cfg, uint64_t build_bytes,
                              uint64_t step_bytes);

/* Writes the marker line's text for a drop of `lines` lines and `bytes`
 * bytes into buf (NUL-terminated, cut to size) and returns its length. The
 * reason names --max-step-bytes when the step alone (total_bytes, every byte
 * it received) is over that limit, else --max-build-bytes. */
size_t ls_limits_marker_text(const ls_server_config *cfg, uint64_t lines, uint64_t bytes,
                             uint64_t total_bytes, char *buf, size_t size);

#endif
