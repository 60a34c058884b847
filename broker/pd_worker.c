/*  pd_worker - the worker side of the broker protocol (see pd_worker.h)

    The worker reads what the broker sends into a small FIFO (at most its
    credit of requests, stamped with their deadline when read) and hands
    them out one per pd_worker_wait. Each connection to the broker has an
    epoch: when the worker reconnects (broker silent, or DISCONNECT), the
    requests of the old connection are dropped, and a reply to one of them
    is not sent on the new connection (the new broker would not know it).
*/
#include "pd_worker.h"

#include <string.h>

struct _pd_worker_t {
    char *endpoint;       //  broker services endpoint
    char *service;        //  the service served
    pd_keys_pair_t *keys; //  CURVE client credentials, NULL if none
    int heartbeat_ms;     //  heartbeat interval
    int liveness;         //  heartbeats missed before the broker is dead
    int credit;           //  requests at once, announced in READY
    zsock_t *sock;        //  DEALER to the broker; NULL while backing off
    uint64_t epoch;       //  connections made so far (the current one)
    int64_t heartbeat_at; //  when to send the next HEARTBEAT
    int64_t expiry;       //  the broker is dead if silent until then
    int64_t reconnect_at; //  while sock is NULL: when to connect again
    int attempts;         //  reconnections since the broker last spoke
    uint64_t random;      //  state of the jitter generator (xorshift64)
    zlistx_t *pending;    //  pd_request_t * read, not yet handed out
};

//  --------------------------------------------------------------------------
//  Requests

void
pd_request_destroy (pd_request_t **self_p)
{
    assert (self_p);
    pd_request_t *self = *self_p;
    if (self) {
        free (self->header);
        free (self->body);
        zframe_destroy (&self->route);
        free (self);
        *self_p = NULL;
    }
}

static void
s_pending_destructor (void **item)
{
    pd_request_destroy ((pd_request_t **)item);
}

static uint8_t *
s_copy (zframe_t *frame, size_t *size)
{
    *size = zframe_size (frame);
    if (*size == 0)
        return NULL;
    uint8_t *data = (uint8_t *)malloc (*size);
    assert (data);
    memcpy (data, zframe_data (frame), *size);
    return data;
}

//  --------------------------------------------------------------------------
//  Connection

static int
s_send (pd_worker_t *self, zmsg_t **msg_p)
{
    //  ZMQ_SNDTIMEO is 0: a full queue (broker away) fails, never blocks
    if (zmsg_send (msg_p, self->sock) == 0)
        return PD_OK;
    zmsg_destroy (msg_p); //  CZMQ destroys it only when sent
    return PD_E_UNAVAILABLE;
}

static void
s_send_command (pd_worker_t *self, pd_pdp_command_t command)
{
    zmsg_t *msg = pd_proto_msg (command);
    s_send (self, &msg);
}

//  Connect a new socket (new routing id at the broker) and send READY.
//  -1 if the endpoint is not valid.
static int
s_connect (pd_worker_t *self, int64_t now)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return -1;
    if (self->keys)
        pd_keys_pair_apply (self->keys, sock);
    pd_proto_set_options (sock);
    if (zsock_connect (sock, "%s", self->endpoint)) {
        zsock_destroy (&sock);
        return -1;
    }
    self->sock = sock;
    self->epoch++;
    zmsg_t *msg = pd_proto_msg (PD_PDP_READY);
    zmsg_addstr (msg, self->service);
    zmsg_append (msg, &(zframe_t *){pd_proto_u16 ((uint16_t)self->credit)});
    s_send (self, &msg);
    self->heartbeat_at = now + self->heartbeat_ms;
    self->expiry = now + (int64_t)self->heartbeat_ms * self->liveness;
    return 0;
}

//  A random number in [0, limit]
static int64_t
s_random (pd_worker_t *self, int64_t limit)
{
    self->random ^= self->random << 13;
    self->random ^= self->random >> 7;
    self->random ^= self->random << 17;
    return limit > 0 ? (int64_t)(self->random % (uint64_t)(limit + 1)) : 0;
}

//  Drop the connection and what came on it; connect again after a back-off
static void
s_disconnect (pd_worker_t *self, int64_t now)
{
    zsock_destroy (&self->sock);
    zlistx_purge (self->pending);
    int64_t cap = PD_WORKER_BACKOFF_MAX_MS > self->heartbeat_ms ? PD_WORKER_BACKOFF_MAX_MS
                                                                : self->heartbeat_ms;
    int64_t step = self->heartbeat_ms;
    for (int i = 0; i < self->attempts && step < cap; i++)
        step *= 2;
    if (step > cap)
        step = cap;
    self->attempts++;
    self->reconnect_at = now + step / 2 + s_random (self, step - step / 2);
}

//  --------------------------------------------------------------------------
//  What the broker sends

//  REQUEST client_route request_id timeout_ms header body
static void
s_on_request (pd_worker_t *self, zmsg_t *msg, int64_t now)
{
    uint64_t id;
    uint32_t timeout;
    zframe_t *route = zmsg_first (msg);
    if (zframe_size (route) == 0 || pd_proto_get_u64 (zmsg_next (msg), &id) ||
        pd_proto_get_u32 (zmsg_next (msg), &timeout))
        return; //  not PDP/1: dropped
    pd_request_t *request = (pd_request_t *)zmalloc (sizeof (pd_request_t));
    request->id = id;
    request->deadline = now + timeout;
    request->header = s_copy (zmsg_next (msg), &request->header_size);
    request->body = s_copy (zmsg_next (msg), &request->body_size);
    request->route = zmsg_pop (msg);
    request->epoch = self->epoch;
    zlistx_add_end (self->pending, request);
}

//  Read what is waiting on the socket, a bounded batch: the broker sends at
//  most `credit` requests at once, plus heartbeats
static void
s_read (pd_worker_t *self)
{
    int budget = 2 * self->credit + PD_PROTO_LIVENESS;
    while (self->sock && budget-- > 0 && zlistx_size (self->pending) < (size_t)self->credit) {
        zmsg_t *msg = zmsg_recv (self->sock);
        if (!msg)
            break;
        int64_t now = zclock_mono ();
        int command = pd_proto_take_command (msg);
        if (command > 0 && (int)zmsg_size (msg) != pd_pdp_frames (command, PD_PDP_WORKER))
            command = -1; //  not framed as PD_PDP_FRAMES says: dropped
        if (command > 0)
            self->expiry = now + (int64_t)self->heartbeat_ms * self->liveness;
        if (command == PD_PDP_REQUEST) {
            self->attempts = 0;
            s_on_request (self, msg, now);
        } else if (command == PD_PDP_HEARTBEAT)
            self->attempts = 0;
        else if (command == PD_PDP_DISCONNECT)
            s_disconnect (self, now);
        zmsg_destroy (&msg);
    }
}

//  --------------------------------------------------------------------------
//  Public API

pd_worker_t *
pd_worker_new (const char *endpoint, const char *service, const pd_worker_config_t *config)
{
    size_t service_size = service ? strlen (service) : 0;
    if (!endpoint || service_size == 0 || service_size > PD_PROTO_MAX_SERVICE || service[0] == '$')
        return NULL;
    for (size_t i = 0; i < service_size; i++)
        if (service[i] <= ' ' || service[i] > '~')
            return NULL;

    pd_worker_t *self = (pd_worker_t *)zmalloc (sizeof (pd_worker_t));
    self->endpoint = strdup (endpoint);
    self->service = strdup (service);
    self->keys = pd_keys_pair_dup (config ? config->keys : NULL);
    self->heartbeat_ms =
        config && config->heartbeat_ms > 0 ? config->heartbeat_ms : PD_PROTO_HEARTBEAT_MS;
    self->liveness = config && config->liveness > 0 ? config->liveness : PD_PROTO_LIVENESS;
    self->credit = config && config->credit > 0 ? config->credit : 1;
    if (self->credit > UINT16_MAX)
        self->credit = UINT16_MAX;
    self->random = (uint64_t)zclock_usecs () ^ (uint64_t)(uintptr_t)self;
    if (!self->random)
        self->random = 1;
    self->pending = zlistx_new ();
    zlistx_set_destructor (self->pending, s_pending_destructor);
    if (s_connect (self, zclock_mono ()))
        pd_worker_destroy (&self); //  not a valid endpoint
    return self;
}

void
pd_worker_destroy (pd_worker_t **self_p)
{
    assert (self_p);
    pd_worker_t *self = *self_p;
    if (self) {
        if (self->sock)
            s_send_command (self, PD_PDP_DISCONNECT);
        zsock_destroy (&self->sock);
        zlistx_destroy (&self->pending);
        free (self->endpoint);
        free (self->service);
        pd_keys_pair_destroy (&self->keys);
        free (self);
        *self_p = NULL;
    }
}

//  The next time something is due: heartbeat, broker expiry, reconnection
static int64_t
s_next_timer (pd_worker_t *self)
{
    if (!self->sock)
        return self->reconnect_at;
    return self->heartbeat_at < self->expiry ? self->heartbeat_at : self->expiry;
}

int
pd_worker_wait (pd_worker_t *self, zsock_t *pipe, pd_request_t **request_p)
{
    return pd_worker_wait_until (self, pipe, request_p, -1);
}

int
pd_worker_wait_until (pd_worker_t *self, zsock_t *pipe, pd_request_t **request_p, int64_t until)
{
    assert (self);
    assert (request_p);
    *request_p = NULL;
    while (true) {
        int64_t now = zclock_mono ();
        if (until >= 0 && now >= until && zlistx_size (self->pending) == 0)
            return PD_E_TIMEOUT;
        if (!self->sock && now >= self->reconnect_at && s_connect (self, now))
            s_disconnect (self, now); //  cannot happen: the endpoint worked before

        //  Wait for the socket, the pipe or the next timer; not at all if a
        //  request is ready to hand out
        zmq_pollitem_t items[2];
        int count = 0;
        if (pipe)
            items[count++] = (zmq_pollitem_t){zsock_resolve (pipe), 0, ZMQ_POLLIN, 0};
        if (self->sock)
            items[count++] = (zmq_pollitem_t){zsock_resolve (self->sock), 0, ZMQ_POLLIN, 0};
        int64_t next = s_next_timer (self);
        if (until >= 0 && until < next)
            next = until;
        int64_t timeout = zlistx_size (self->pending) ? 0 : next - now;
        if (timeout < 0)
            timeout = 0;
        if (zmq_poll (items, count, (long)timeout) == -1) {
            if (errno == EINTR)
                continue;
            return PD_E_UNAVAILABLE; //  ZeroMQ is shutting down
        }
        if (pipe && (items[0].revents & ZMQ_POLLIN))
            return PD_WORKER_PIPE;
        s_read (self);

        now = zclock_mono ();
        if (self->sock && now >= self->expiry) {
            zsys_warning ("worker: broker silent, reconnecting service=%s", self->service);
            s_disconnect (self, now);
            continue;
        }
        if (self->sock && now >= self->heartbeat_at) {
            s_send_command (self, PD_PDP_HEARTBEAT);
            self->heartbeat_at = now + self->heartbeat_ms;
        }
        pd_request_t *request;
        while ((request = (pd_request_t *)zlistx_detach (self->pending, NULL))) {
            if (request->deadline > now) {
                *request_p = request;
                return PD_OK;
            }
            //  Nobody waits for it any more: say so and take the next
            zframe_t *body =
                pd_proto_error_body (PD_E_TIMEOUT, NULL, "deadline passed in the worker");
            pd_worker_reply (self, &request, PD_E_TIMEOUT, zframe_data (body), zframe_size (body));
            zframe_destroy (&body);
        }
    }
}

int
pd_worker_reply (pd_worker_t *self, pd_request_t **request_p, int status, const void *body,
                 size_t body_size)
{
    assert (self);
    assert (request_p);
    pd_request_t *request = *request_p;
    if (!request)
        return PD_E_BAD_REQUEST;
    //  A body the broker would refuse (ZMQ_MAXMSGSIZE closes the connection)
    //  becomes an internal error for the client
    bool too_large = body_size > PD_PROTO_MAX_MSG_SIZE;
    zframe_t *error = NULL;
    if (too_large || (!body && body_size)) {
        error =
            pd_proto_error_body (PD_E_INTERNAL, NULL, too_large ? "reply too large" : "no body");
        status = PD_E_INTERNAL;
        body = zframe_data (error);
        body_size = zframe_size (error);
    }
    int rc = PD_E_UNAVAILABLE;
    if (self->sock && request->epoch == self->epoch && request->route) {
        zmsg_t *msg = pd_proto_msg (PD_PDP_REPLY);
        zmsg_append (msg, &request->route);
        zmsg_append (msg, &(zframe_t *){pd_proto_u64 (request->id)});
        zmsg_append (msg, &(zframe_t *){pd_proto_u16 (pd_status_to_wire (status))});
        zmsg_addmem (msg, body, body_size);
        rc = s_send (self, &msg);
    }
    zframe_destroy (&error);
    pd_request_destroy (request_p);
    return rc == PD_OK && too_large ? PD_E_TOO_LARGE : rc;
}

int
pd_worker_publish (pd_worker_t *self, const char *stream, uint64_t seq, const void *event,
                   size_t size)
{
    assert (self);
    size_t stream_size = stream ? strlen (stream) : 0;
    if (stream_size == 0 || stream_size > PD_PROTO_MAX_STREAM || (!event && size))
        return PD_E_BAD_REQUEST;
    for (size_t i = 0; i < stream_size; i++)
        if (stream[i] <= ' ' || stream[i] > '~')
            return PD_E_BAD_REQUEST;
    if (size > PD_PROTO_MAX_MSG_SIZE)
        return PD_E_TOO_LARGE;
    if (!self->sock)
        return PD_E_UNAVAILABLE;
    zmsg_t *msg = pd_proto_msg (PD_PDP_PUBLISH);
    zmsg_addmem (msg, stream, stream_size);
    zmsg_append (msg, &(zframe_t *){pd_proto_u64 (seq)});
    zmsg_addmem (msg, event, size);
    return s_send (self, &msg);
}
