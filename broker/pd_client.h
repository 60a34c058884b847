/*  pd_client - the client side of the broker protocol

    One DEALER connected to the broker. Many requests may be in flight; each
    gets an id (increasing per client) and its reply carries the same id.
    A client belongs to one thread (ZeroMQ sockets are not thread-safe): the
    gateway keeps one per CivetWeb worker thread.

    No call blocks past its timeout, also when the broker is down.
*/
#ifndef PD_CLIENT_H_INCLUDED
#define PD_CLIENT_H_INCLUDED

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

#include "pd_keys.h"
#include "pd_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _pd_client_t pd_client_t;

//  pd_client_request gives the broker a deadline shorter than its own wait
//  by timeout/PD_CLIENT_MARGIN_DIVISOR, at most PD_CLIENT_MARGIN_MS, so that
//  the broker's verdict (PD_E_TIMEOUT or PD_E_UNAVAILABLE) arrives in time.
#define PD_CLIENT_MARGIN_DIVISOR 10
#define PD_CLIENT_MARGIN_MS      100

//  Connect to a broker's services endpoint. NULL on failure.
pd_client_t *pd_client_new (const char *endpoint);

//  The same, as a CURVE client with these credentials (NULL: as
//  pd_client_new). The keys are used at once, not kept.
pd_client_t *pd_client_new_curve (const char *endpoint, const pd_keys_pair_t *keys);
void pd_client_destroy (pd_client_t **self_p);

//  Send a request without waiting. timeout_ms (1..PD_PROTO_MAX_TIMEOUT_MS)
//  is the deadline the broker and worker apply. *request_id (may be NULL)
//  gets the id. PD_OK, PD_E_BAD_REQUEST (bad arguments), PD_E_TOO_LARGE
//  (header or body over PD_PROTO_MAX_MSG_SIZE), or PD_E_UNAVAILABLE if the
//  message could not be queued within timeout_ms (ZMQ_SNDTIMEO).
int pd_client_send (pd_client_t *self, const char *service, const void *header, size_t header_size,
                    const void *body, size_t body_size, int timeout_ms, uint64_t *request_id);

//  Wait up to timeout_ms for the next reply, whatever its id. PD_OK with
//  *request_id, *status and *body (malloc'd, caller frees; may be NULL when
//  empty) set; PD_E_TIMEOUT if none came. Any output pointer may be NULL.
int pd_client_recv (pd_client_t *self, uint64_t *request_id, int *status, uint8_t **body,
                    size_t *body_size, int timeout_ms);

//  Send a request and wait for its reply; replies to other (older, timed
//  out) requests are discarded. Returns the reply's status (PD_OK or the
//  error the broker/worker sent), or PD_E_TIMEOUT when no reply came within
//  timeout_ms. *reply is set (malloc'd, caller frees) whenever a reply came
//  with a non-empty body, NULL otherwise; reply/reply_size may be NULL.
//  The broker's deadline is timeout_ms less a margin (see above).
int pd_client_request (pd_client_t *self, const char *service, const void *header,
                       size_t header_size, const void *body, size_t body_size, int timeout_ms,
                       uint8_t **reply, size_t *reply_size);

//  From now on a send fails at once (PD_E_UNAVAILABLE) when the queue to the
//  broker is full, instead of waiting up to its timeout: for event loops
//  that serve others (the appliance front).
void pd_client_set_never_block (pd_client_t *self);

//  Publish an event the caller committed (stream, its sequence number, the
//  encoded event), as an actor's worker does: the broker passes it to the
//  stream socket. Only peers that may publish are heard (inproc peers, keys
//  of role actor); the broker answers nothing. Never blocks: PD_OK, or
//  PD_E_UNAVAILABLE if the message could not be queued.
int pd_client_publish (pd_client_t *self, const char *stream, uint64_t seq, const void *event,
                       size_t size);

//  The socket, for polling several clients at once (benchmarks).
zsock_t *pd_client_sock (pd_client_t *self);

#ifdef __cplusplus
}
#endif
#endif
