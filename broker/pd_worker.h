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

#include "pd_keys.h"
#include "pd_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _pd_worker_t pd_worker_t;

//  Reconnection back-off: from the heartbeat interval, doubling per failed
//  attempt, at most this (or the heartbeat, if longer), with jitter (each
//  wait is a random time between half and all of the step).
#define PD_WORKER_BACKOFF_MAX_MS 4000

typedef struct {
    int heartbeat_ms;           //  0 = PD_PROTO_HEARTBEAT_MS
    int liveness;               //  0 = PD_PROTO_LIVENESS
    int credit;                 //  requests in flight at once, 0 = 1
    const pd_keys_pair_t *keys; //  CURVE client credentials; NULL = none. Copied.
} pd_worker_config_t;

//  A request taken from the broker. The fields are read-only for the user.
typedef struct {
    uint64_t id;      //  client's request id
    int64_t deadline; //  zclock_mono () time (ms) after which no one waits
    uint8_t *header;  //  msgpack header (envelope), owned
    size_t header_size;
    uint8_t *body; //  msgpack body, owned
    size_t body_size;
    zframe_t *route; //  the client's route at the broker (private)
    uint64_t epoch;  //  the worker connection it came on (private)
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
//  Heartbeats and reconnection happen inside. PD_E_UNAVAILABLE if ZeroMQ is
//  shutting down (the caller should stop). Requests whose deadline passed
//  before they were taken are answered PD_E_TIMEOUT here, not returned.
int pd_worker_wait (pd_worker_t *self, zsock_t *pipe, pd_request_t **request_p);

//  pd_worker_wait, but return PD_E_TIMEOUT once zclock_mono () reaches
//  `until` with no request ready (until < 0: no limit). For actors with
//  timed work.
int pd_worker_wait_until (pd_worker_t *self, zsock_t *pipe, pd_request_t **request_p,
                          int64_t until);

//  Reply to a request and destroy it. `status` is PD_OK or a PD_E_* code;
//  body may be NULL when body_size is 0. PD_OK; PD_E_UNAVAILABLE if the
//  reply could not be sent (not connected, or the request came on an
//  earlier connection; the broker fails the request itself);
//  PD_E_TOO_LARGE if body_size is over PD_PROTO_MAX_MSG_SIZE (the client
//  gets PD_E_INTERNAL instead).
int pd_worker_reply (pd_worker_t *self, pd_request_t **request_p, int status, const void *body,
                     size_t body_size);

//  Forward an event (already stored with sequence `seq`) to the broker's
//  stream socket. PD_OK (handed to ZeroMQ; delivery is best effort, readers
//  fill gaps from history), PD_E_BAD_REQUEST (stream name), PD_E_TOO_LARGE,
//  or PD_E_UNAVAILABLE (not connected to a broker now).
int pd_worker_publish (pd_worker_t *self, const char *stream, uint64_t seq, const void *event,
                       size_t size);

#ifdef __cplusplus
}
#endif
#endif
