/*  pd_stream_actor - reading event streams from history

    Service "stream". stream.read returns the events of a stream from a
    sequence number on, as they were stored (msgpack bytes of pd_event_t),
    and the stream's last sequence number, so a follower (broker/pd_stream)
    can catch up before it follows live. Only platform admins may read
    streams: they hold every partner's audit trail.

    A page holds at most `limit` items (default PD_STREAM_ACTOR_READ_DEFAULT,
    at most PD_STREAM_READ_MAX) and at most PD_STREAM_ACTOR_PAGE_BYTES of
    events, so that it fits one message; a short page is not the end of the
    stream: last_seq is.
*/
#ifndef PD_STREAM_ACTOR_H_INCLUDED
#define PD_STREAM_ACTOR_H_INCLUDED

#include "pd_actor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PD_STREAM_ACTOR_READ_DEFAULT 100

//  Bytes of event data in one page; the rest of PD_SCHEMA_MAX_INPUT is
//  left for the page's own framing
#define PD_STREAM_ACTOR_PAGE_BYTES (PD_SCHEMA_MAX_INPUT - 64 * 1024)

extern const pd_actor_def_t pd_stream_actor;

#ifdef __cplusplus
}
#endif
#endif
