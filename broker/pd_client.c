/*  pd_client - the client side of the broker protocol (see pd_client.h)

    One DEALER, connected without ZMQ_IMMEDIATE: a request sent before the
    connection is up (or while the broker restarts) waits in the socket's
    queue and goes out when the broker is there; the caller's deadline bounds
    the wait, and a reply that comes after it is discarded by its id
    (PROTOCOL.md, "Clients").
*/
#include "pd_client.h"

#include <string.h>

struct _pd_client_t {
    zsock_t *sock;    //  DEALER to the broker's services socket
    uint64_t last_id; //  id of the last request sent (first is 1)
    int sndtimeo;     //  ZMQ_SNDTIMEO set on sock now
    bool never_block; //  sends fail at once on a full queue
};

pd_client_t *
pd_client_new (const char *endpoint)
{
    return pd_client_new_curve (endpoint, NULL);
}

pd_client_t *
pd_client_new_curve (const char *endpoint, const pd_keys_pair_t *keys)
{
    if (!endpoint)
        return NULL;
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return NULL;
    if (keys)
        pd_keys_pair_apply (keys, sock);
    pd_proto_set_options (sock);
    //  Nothing queues towards a broker that is not connected: a request
    //  waits (at most its timeout) for the connection, never sits in a queue
    //  to reach a restarted broker after its caller gave up
    zsock_set_immediate (sock, 1);
    if (zsock_connect (sock, "%s", endpoint)) {
        zsock_destroy (&sock);
        return NULL;
    }
    pd_client_t *self = (pd_client_t *)zmalloc (sizeof (pd_client_t));
    self->sock = sock;
    return self;
}

void
pd_client_destroy (pd_client_t **self_p)
{
    assert (self_p);
    pd_client_t *self = *self_p;
    if (self) {
        zsock_destroy (&self->sock);
        free (self);
        *self_p = NULL;
    }
}

int
pd_client_send (pd_client_t *self, const char *service, const void *header, size_t header_size,
                const void *body, size_t body_size, int timeout_ms, uint64_t *request_id)
{
    assert (self);
    size_t service_size = service ? strlen (service) : 0;
    if (service_size == 0 || service_size > PD_PROTO_MAX_SERVICE || (!header && header_size) ||
        (!body && body_size) || timeout_ms < 1 || timeout_ms > PD_PROTO_MAX_TIMEOUT_MS)
        return PD_E_BAD_REQUEST;
    if (header_size > PD_PROTO_MAX_MSG_SIZE || body_size > PD_PROTO_MAX_MSG_SIZE)
        return PD_E_TOO_LARGE;

    //  A full queue (broker gone for long) blocks the send at most
    //  timeout_ms, or not at all for callers that must never block
    int sndtimeo = self->never_block ? 0 : timeout_ms;
    if (self->sndtimeo != sndtimeo) {
        zsock_set_sndtimeo (self->sock, sndtimeo);
        self->sndtimeo = sndtimeo;
    }
    uint64_t id = self->last_id + 1;
    zmsg_t *msg = pd_proto_msg (PD_PDP_REQUEST);
    zmsg_addmem (msg, service, service_size);
    zmsg_append (msg, &(zframe_t *){pd_proto_u64 (id)});
    zmsg_append (msg, &(zframe_t *){pd_proto_u32 ((uint32_t)timeout_ms)});
    zmsg_addmem (msg, header, header_size);
    zmsg_addmem (msg, body, body_size);
    if (zmsg_send (&msg, self->sock)) {
        zmsg_destroy (&msg); //  CZMQ destroys it only when sent
        return PD_E_UNAVAILABLE;
    }
    self->last_id = id;
    if (request_id)
        *request_id = id;
    return PD_OK;
}

int
pd_client_publish (pd_client_t *self, const char *stream, uint64_t seq, const void *event,
                   size_t size)
{
    assert (self && stream && event);
    size_t stream_size = strlen (stream);
    if (stream_size == 0 || stream_size > PD_PROTO_MAX_STREAM || size > PD_PROTO_MAX_MSG_SIZE)
        return PD_E_BAD_REQUEST;
    if (self->sndtimeo != 0) {
        zsock_set_sndtimeo (self->sock, 0);
        self->sndtimeo = 0;
    }
    zmsg_t *msg = pd_proto_msg (PD_PDP_PUBLISH);
    zmsg_addmem (msg, stream, stream_size);
    zmsg_append (msg, &(zframe_t *){pd_proto_u64 (seq)});
    zmsg_addmem (msg, event, size);
    if (zmsg_send (&msg, self->sock)) {
        zmsg_destroy (&msg);
        return PD_E_UNAVAILABLE;
    }
    return PD_OK;
}

//  Take one REPLY off the socket, if one is there. 1 with the outputs set,
//  0 if nothing (or only non-replies) was read.
static int
s_take_reply (pd_client_t *self, uint64_t *request_id, int *status, uint8_t **body,
              size_t *body_size)
{
    zmsg_t *msg = zmsg_recv (self->sock);
    if (!msg)
        return 0;
    uint64_t id;
    uint16_t wire;
    int found = 0;
    if (pd_proto_take_command (msg) == PD_PDP_REPLY &&
        (int)zmsg_size (msg) == pd_pdp_frames (PD_PDP_REPLY, PD_PDP_CLIENT) &&
        pd_proto_get_u64 (zmsg_first (msg), &id) == 0 &&
        pd_proto_get_u16 (zmsg_next (msg), &wire) == 0) {
        zframe_t *frame = zmsg_next (msg);
        size_t size = zframe_size (frame);
        if (body) {
            *body = size ? (uint8_t *)malloc (size) : NULL;
            assert (*body || !size);
            if (size)
                memcpy (*body, zframe_data (frame), size);
        }
        if (body_size)
            *body_size = size;
        if (request_id)
            *request_id = id;
        if (status)
            *status = pd_status_from_wire (wire);
        found = 1;
    }
    //  Anything else (DISCONNECT, which a client may get, or junk) is ignored
    zmsg_destroy (&msg);
    return found;
}

int
pd_client_recv (pd_client_t *self, uint64_t *request_id, int *status, uint8_t **body,
                size_t *body_size, int timeout_ms)
{
    assert (self);
    if (body)
        *body = NULL;
    if (body_size)
        *body_size = 0;
    int64_t deadline = zclock_mono () + (timeout_ms > 0 ? timeout_ms : 0);
    zmq_pollitem_t item = {zsock_resolve (self->sock), 0, ZMQ_POLLIN, 0};
    while (true) {
        if (s_take_reply (self, request_id, status, body, body_size))
            return PD_OK;
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            return PD_E_TIMEOUT;
        if (zmq_poll (&item, 1, (long)left) == -1 && errno != EINTR)
            return PD_E_TIMEOUT; //  context terminated
    }
}

int
pd_client_request (pd_client_t *self, const char *service, const void *header, size_t header_size,
                   const void *body, size_t body_size, int timeout_ms, uint8_t **reply,
                   size_t *reply_size)
{
    assert (self);
    if (reply)
        *reply = NULL;
    if (reply_size)
        *reply_size = 0;
    if (timeout_ms < 1 || timeout_ms > PD_PROTO_MAX_TIMEOUT_MS)
        return PD_E_BAD_REQUEST;
    int64_t deadline = zclock_mono () + timeout_ms;
    //  The broker gets a slightly shorter deadline, so that its verdict
    //  (PD_E_TIMEOUT or PD_E_UNAVAILABLE) reaches us before we give up
    int margin = timeout_ms / PD_CLIENT_MARGIN_DIVISOR;
    if (margin > PD_CLIENT_MARGIN_MS)
        margin = PD_CLIENT_MARGIN_MS;
    uint64_t id;
    int rc = pd_client_send (self, service, header, header_size, body, body_size,
                             timeout_ms - margin, &id);
    if (rc != PD_OK)
        return rc;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        uint64_t reply_id;
        int status;
        uint8_t *data;
        size_t size;
        if (pd_client_recv (self, &reply_id, &status, &data, &size, left > 0 ? (int)left : 0))
            return PD_E_TIMEOUT;
        if (reply_id == id) {
            if (reply)
                *reply = data;
            else
                free (data);
            if (reply_size)
                *reply_size = size;
            return status;
        }
        free (data); //  the late reply of an older request
    }
}

void
pd_client_set_never_block (pd_client_t *self)
{
    assert (self);
    self->never_block = true;
}

zsock_t *
pd_client_sock (pd_client_t *self)
{
    assert (self);
    return self->sock;
}
