/*  pd_proto - frames of the partnerd broker protocol (PDP/1)

    The normative description is schemas/PROTOCOL.md; this header gives the
    constants and the helpers that build and parse frames, shared by the
    broker, its clients and its workers. Nothing here knows services:
    header and body frames are opaque msgpack bytes, but for the error
    body the broker itself writes, which is the `error` record.

    Every message on the services socket is a multipart ZeroMQ message whose
    first frame is the signature PD_PROTO_SIGNATURE and second frame a
    one-byte command; the commands and the frames each carries are the
    tables PD_PDP_COMMANDS and PD_PDP_FRAMES of schemas/pd_messages.h
    (READY, REQUEST, REPLY, HEARTBEAT, DISCONNECT, PUBLISH).
    Integers are unsigned, big-endian (network order), exactly 2, 4 or 8
    bytes. Service and stream names are 1..64 printable ASCII bytes without
    spaces; names starting with '$' belong to the broker. There is no empty
    delimiter frame (peers are DEALERs), and frame counts are exact: any
    other message is malformed and dropped. On the stream (XPUB) socket each
    event is: stream, seq (u64), event.
*/
#ifndef PD_PROTO_H_INCLUDED
#define PD_PROTO_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

#include "pd_messages.h"
#include "pd_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PD_PROTO_SIGNATURE "PDP1"

//  Limits and defaults
#define PD_PROTO_MAX_SERVICE        64            //  bytes of a service name
#define PD_PROTO_MAX_STREAM         64            //  bytes of a stream name
#define PD_PROTO_MAX_MSG_SIZE       (1024 * 1024) //  ZMQ_MAXMSGSIZE of public sockets
#define PD_PROTO_HEARTBEAT_MS       1000
#define PD_PROTO_LIVENESS           3 //  heartbeats missed before a peer is dead
#define PD_PROTO_DEFAULT_TIMEOUT_MS 5000
#define PD_PROTO_MAX_TIMEOUT_MS     300000
#define PD_PROTO_HWM                10000 //  ZeroMQ high-water marks
#define PD_PROTO_QUEUE_MAX          10000 //  queued requests per service

//  The broker's built-in services (answered by the broker itself)
#define PD_PROTO_SERVICE_PING  "$broker.ping"  //  reply PD_OK, body = empty msgpack map
#define PD_PROTO_SERVICE_STATS "$broker.stats" //  reply PD_OK, body = msgpack map of counters

//  Big-endian integer frames
zframe_t *pd_proto_u16 (uint16_t value);
zframe_t *pd_proto_u32 (uint32_t value);
zframe_t *pd_proto_u64 (uint64_t value);
//  Read a frame of exactly 2/4/8 bytes. 0 on success, -1 if the size is wrong
//  or the frame is NULL.
int pd_proto_get_u16 (zframe_t *frame, uint16_t *value);
int pd_proto_get_u32 (zframe_t *frame, uint32_t *value);
int pd_proto_get_u64 (zframe_t *frame, uint64_t *value);

//  The options of every PDP/1 socket: linger 0, high-water marks
//  PD_PROTO_HWM, ZMQ_MAXMSGSIZE PD_PROTO_MAX_MSG_SIZE, send and receive
//  time-outs 0 (a call never blocks). Call before connecting or binding.
void pd_proto_set_options (zsock_t *sock);

//  Start a message with signature and command frames.
zmsg_t *pd_proto_msg (pd_pdp_command_t command);

//  Check and strip signature and command frames. Returns the command, or -1
//  if the message is not PDP/1 (wrong signature, missing/invalid command).
int pd_proto_take_command (zmsg_t *msg);

//  An error body: the `error` record of schemas/pd_messages.h ({code: the
//  status's stable code, field, detail}), encoded by its schema; field and
//  detail may be NULL, and are cut to the schema's limits. Caller destroys
//  the frame (empty when out of memory).
zframe_t *pd_proto_error_body (int status, const char *field, const char *detail);

#ifdef __cplusplus
}
#endif
#endif
