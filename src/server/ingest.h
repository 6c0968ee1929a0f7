/* Ingest: POST /api/v1/builds/{build}/steps/{step}/stream, processed as the
 * body arrives (records or raw text, see docs/api.md), and
 * GET …/stream → {"durable_seq","received_seq","bytes"}.
 *
 * Each piece of body goes through the line splitter and the record parser
 * straight into the step's live object (one lock per piece; subscribers are
 * woken once per piece). Duplicates are ignored; a gap, a malformed or an
 * over-long record stops the request with 409/400/413 (records before it are
 * kept). At the end of the body the request waits, suspended, until the
 * flusher has made everything received durable, then answers
 * {"durable_seq","bytes","accepted","duplicates"}. Above --max-pending the
 * request is suspended before taking more body (backpressure, never drop).
 * A request sending faster than --max-request-rate is likewise suspended
 * (its body left unread, so TCP slows the sender) and resumed by the
 * server's timer thread when its token bucket (ratelimit.h) has refilled. */
#ifndef LS_SERVER_INGEST_H
#define LS_SERVER_INGEST_H

#include "server/http.h"

extern const ls_handler ls_ingest_handler;
extern const ls_handler ls_stream_status_handler;

#endif
