/*  pd_stream - follow an event stream from a sequence number, then live

    Events are stored (by the actor that emits them, in the same store
    transaction as the change they describe) with a gapless sequence number,
    then published live by the broker. A follower:
    1. subscribes to the broker's stream socket (buffering live events),
    2. reads history through the "stream" service (message stream.read)
       from `from` on, page by page, up to the stream's last sequence,
    3. then delivers live events, dropping those it already delivered and,
       when it sees a gap (a live seq beyond the next one expected, or a
       silence of one heartbeat while the stream has grown), reading the
       missing ones from history.
    So the caller sees every event from `from` on, in order, exactly once,
    including events published while it was catching up or while a PUB
    high-water mark dropped some.
*/
#ifndef PD_STREAM_H_INCLUDED
#define PD_STREAM_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "pd_keys.h"
#include "pd_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _pd_stream_t pd_stream_t;

//  Follow `stream`. `from` is the first sequence number wanted (1 = all of
//  it); 0 means "only events after the current end". broker_endpoint is the
//  services socket, stream_endpoint the XPUB socket. NULL on failure.
pd_stream_t *pd_stream_new (const char *broker_endpoint, const char *stream_endpoint,
                            const char *stream, uint64_t from);

//  The same, as a CURVE client of both sockets with these credentials
//  (NULL: as pd_stream_new). The keys are used at once, not kept.
pd_stream_t *pd_stream_new_curve (const char *broker_endpoint, const char *stream_endpoint,
                                  const char *stream, uint64_t from, const pd_keys_pair_t *keys);
void pd_stream_destroy (pd_stream_t **self_p);

//  Next event, waiting up to timeout_ms (< 0: no limit, but an interrupt
//  returns PD_E_TIMEOUT). PD_OK with *seq and *event (malloc'd msgpack,
//  caller frees) set; PD_E_TIMEOUT if nothing came; other codes if the
//  history could not be read (e.g. PD_E_UNAVAILABLE); calling again retries.
int pd_stream_next (pd_stream_t *self, uint64_t *seq, uint8_t **event, size_t *size,
                    int timeout_ms);

//  Sequence number of the last event delivered (from - 1 at start).
uint64_t pd_stream_position (pd_stream_t *self);

#ifdef __cplusplus
}
#endif
#endif
