/*  pd_worker - the worker side of the broker protocol

    A worker serves one service. It connects a DEALER to the broker, sends
    READY with its credit, and then receives REQUESTs and sends REPLYs. It
    heartbeats the broker and reconnects by itself (re-sending READY) when
    the broker has been silent for liveness x heartbeat, so a broker restart
    needs no human. Requests whose deadline has passed before the worker
    takes them are answered PD_E_TIMEOUT by the worker itself.

    A worker belongs to one thread.
*/
#ifndef PD_WORKER_H_INCLUDED
#define PD_WORKER_H_INCLUDED

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

#include "pd_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _pd_worker_t pd_worker_t;

typedef struct {
    int heartbeat_ms;   //  0 = PD_PROTO_HEARTBEAT_MS
    int liveness;       //  0 = PD_PROTO_LIVENESS
    int credit;         //  requests in flight at once, 0 = 1
} pd_worker_config_t;

//  A request taken from the broker. The fields are read-only for the user.
typedef struct {
    uint64_t id;            //  client's request id
    int64_t deadline;       //  zclock_mono () time (ms) after which no one waits
    uint8_t *header;        //  msgpack header (envelope), owned
    size_t header_size;
    uint8_t *body;          //  msgpack body, owned
    size_t body_size;
    zframe_t *route;        //  the client's route at the broker (private)
} pd_request_t;

void pd_request_destroy (pd_request_t **self_p);

//  Connect to the broker and announce the service. config may be NULL.
pd_worker_t *pd_worker_new (const char *endpoint, const char *service,
                            const pd_worker_config_t *config);

//  Send DISCONNECT, close, null *self_p. Idempotent.
void pd_worker_destroy (pd_worker_t **self_p);

#define PD_WORKER_PIPE 1

//  Block until a request arrives (PD_OK, *request_p set; the caller must
//  pass it to pd_worker_reply or destroy it), or `pipe` (may be NULL) has a
//  message to read (returns PD_WORKER_PIPE, nothing read from it).
//  Heartbeats and reconnection happen inside.
int pd_worker_wait (pd_worker_t *self, zsock_t *pipe, pd_request_t **request_p);

//  Reply to a request and destroy it. PD_OK, or PD_E_UNAVAILABLE if the
//  reply could not be sent (the broker will fail the request at its
//  deadline).
int pd_worker_reply (pd_worker_t *self, pd_request_t **request_p, int status, const void *body,
                     size_t body_size);

//  Forward an event (already stored with sequence `seq`) to the broker's
//  stream socket.
int pd_worker_publish (pd_worker_t *self, const char *stream, uint64_t seq, const void *event,
                       size_t size);

#ifdef __cplusplus
}
#endif
#endif
