/*  pd_broker - the service broker (see pd_broker.h, schemas/PROTOCOL.md)

    One actor thread owns every socket and every structure here. The loop
    polls the pipe, the services ROUTER and the stream XPUB with a time-out
    that ends at the next timer: the earliest request deadline (a min-heap)
    or the next heartbeat tick.

    A request the broker accepted is tracked from arrival until it is
    finished, keyed by (client route, request id):
    - queued:    in its service's FIFO, in the deadline heap;
    - in flight: in its worker's list, in the deadline heap;
    - answered:  the deadline passed and the client got PD_E_TIMEOUT, but the
                 worker still holds it: it stays in the worker's list (and
                 keeps a credit) until the worker replies (the late reply is
                 dropped) or the worker goes away. At most credit of these
                 per worker, so nothing grows without bound.
*/
#include "pd_broker.h"

#include <inttypes.h>
#include <msgpack.h>
#include <string.h>

#include "pd_zap.h"

//  Router messages handled before the loop looks at the pipe and timers
#define S_BATCH 256
//  heap_index of a request that is not in the deadline heap
#define S_NO_INDEX SIZE_MAX
//  Longest ZeroMQ routing id
#define S_ROUTE_MAX 255
//  Buffer for a request key: hex route, '/', hex id, NUL
#define S_KEY_MAX (2 * S_ROUTE_MAX + 1 + 16 + 1)
//  Most frames after the command (REQUEST)
#define S_MAX_FRAMES PD_PDP_MAX_FRAMES
//  The ZAP domains of a broker's sockets (unique per broker in the process)
#define S_DOMAIN_SERVICES "pd-services-%p"
#define S_DOMAIN_STREAMS  "pd-streams-%p"

//  The counters of pd_broker_stats_t, in one place, for the stats body
#define S_STATS_FIELDS(X)                                                                          \
    X (requests)                                                                                   \
    X (replies)                                                                                    \
    X (timeouts)                                                                                   \
    X (unavailable)                                                                                \
    X (busy)                                                                                       \
    X (expired_workers)                                                                            \
    X (dropped)                                                                                    \
    X (published)                                                                                  \
    X (refused)                                                                                    \
    X (workers)                                                                                    \
    X (queued)

typedef struct _s_service_t s_service_t;
typedef struct _s_worker_t s_worker_t;

//  A request the broker tracks
typedef struct {
    char *key;            //  key in self->requests: hex(client route)/hex(id)
    zframe_t *client;     //  the client's routing id
    uint64_t id;          //  the client's request id
    int64_t deadline;     //  zclock_mono () ms at which the client is answered
    s_service_t *service; //  the service named
    s_worker_t *worker;   //  worker that holds it, NULL while queued
    void *handle;         //  handle in service->queue or worker->requests
    zframe_t *header;     //  header frame, while queued
    zframe_t *body;       //  body frame, while queued
    size_t heap_index;    //  position in the deadline heap, S_NO_INDEX if not there
    bool answered;        //  the client got its deadline error already
} s_request_t;

//  A worker: one DEALER connection that sent READY
struct _s_worker_t {
    char *key;                    //  key in self->workers: hex(route)
    zframe_t *route;              //  its routing id
    s_service_t *service;         //  the service it serves
    const pd_keys_entry_t *entry; //  the key that sent READY; NULL: trusted (inproc)
    void *handle;                 //  handle in service->workers
    size_t credit;                //  requests it takes at once
    zlistx_t *requests;           //  s_request_t * it holds (not owned)
    int64_t expiry;               //  dead if silent until this time
    uint64_t last_active;         //  self->activity when it last got or answered a request
};

//  A service: its workers and its queue
struct _s_service_t {
    char *name;        //  service name, key in self->services
    zlistx_t *workers; //  s_worker_t * (not owned)
    zlistx_t *queue;   //  s_request_t * waiting, oldest first (not owned)
};

//  The actor's state
typedef struct {
    zsock_t *pipe;              //  actor pipe
    zsock_t *router;            //  services socket
    zsock_t *xpub;              //  stream socket, NULL if none
    pd_keys_cluster_t *cluster; //  keys and allow-list; NULL = NULL security
    pd_zap_t *zap_services;     //  the services socket's ZAP domain, with cluster
    pd_zap_t *zap_streams;      //  the stream socket's, with cluster and a stream socket
    int heartbeat_ms;           //  heartbeat interval
    int liveness;               //  heartbeats missed before a worker is dead
    size_t queue_max;           //  queued requests per service
    zhashx_t *services;         //  name -> s_service_t (owned)
    zhashx_t *workers;          //  hex route -> s_worker_t (owned)
    zhashx_t *requests;         //  request key -> s_request_t (owned)
    s_request_t **heap;         //  deadline min-heap of requests whose client waits
    size_t heap_size;           //  entries in the heap
    size_t heap_max;            //  allocated entries
    int64_t heartbeat_at;       //  next heartbeat tick
    uint64_t activity;          //  counts READY, dispatches, replies: orders idleness
    pd_broker_stats_t stats;    //  counters (workers and queued kept live)
    bool terminated;            //  $TERM received
} self_t;

struct _pd_broker_t {
    zactor_t *actor; //  the broker thread
};

//  --------------------------------------------------------------------------
//  Small helpers

static char *
s_route_key (zframe_t *route)
{
    return zframe_strhex (route);
}

static void
s_request_key (char *key, zframe_t *client, uint64_t id)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t size = zframe_size (client);
    const byte *data = zframe_data (client);
    char *cursor = key;
    for (size_t i = 0; i < size; i++) {
        *cursor++ = hex[data[i] >> 4];
        *cursor++ = hex[data[i] & 15];
    }
    snprintf (cursor, S_KEY_MAX - (size_t)(cursor - key), "/%016" PRIx64, id);
}

//  A service or stream name: 1..max printable ASCII characters, no spaces
static bool
s_name_valid (zframe_t *frame, size_t max)
{
    size_t size = frame ? zframe_size (frame) : 0;
    if (size == 0 || size > max)
        return false;
    const byte *data = zframe_data (frame);
    for (size_t i = 0; i < size; i++)
        if (data[i] <= ' ' || data[i] > '~')
            return false;
    return true;
}

//  Who sent a message: with cluster keys, the allow-list entry of the key
//  ZAP admitted: the User-Id of its frames, which libzmq sets from the ZAP
//  reply and no peer can set or remove (a peer's own handshake metadata
//  never overrides it; Socket-Type, by contrast, is the peer's to omit).
//  Every tcp and ipc peer of a CURVE socket has one: the sockets enforce
//  ZAP (pd_zap_apply), so no handshake passes without the handler's
//  verdict, which always names the key. A frame with no User-Id therefore
//  came without a handshake: from an inproc peer, a thread of this
//  process, trusted.
typedef struct {
    bool trusted;                 //  no cluster, or an inproc peer
    const pd_keys_entry_t *entry; //  else its entry; NULL: unknown (refused)
} s_peer_t;

static s_peer_t
s_peer (self_t *self, zframe_t *frame)
{
    s_peer_t peer = {true, NULL};
    const char *user_id = frame ? zframe_meta (frame, "User-Id") : NULL;
    if (self->cluster && !frame)
        peer.trusted = false; //  nothing to tell: refused
    else if (self->cluster && user_id) {
        peer.trusted = false;
        peer.entry = pd_keys_allow_find_name (pd_keys_cluster_allow (self->cluster), user_id);
    }
    return peer;
}

//  A frame's text (a valid service name) in buffer
static const char *
s_frame_text (zframe_t *frame, char *buffer, size_t size)
{
    size_t length = zframe_size (frame) < size ? zframe_size (frame) : size - 1;
    memcpy (buffer, zframe_data (frame), length);
    buffer[length] = 0;
    return buffer;
}

//  Send msg to the peer `route`, never blocking. Takes msg. 0, or -1 if the
//  peer is gone or its pipe is full.
static int
s_send_to (zsock_t *router, zframe_t *route, zmsg_t **msg_p)
{
    zmsg_t *msg = *msg_p;
    *msg_p = NULL;
    int rc = zframe_send (&route, router, ZFRAME_REUSE | ZFRAME_MORE | ZFRAME_DONTWAIT);
    zframe_t *frame;
    while (rc == 0 && (frame = zmsg_pop (msg))) {
        int more = zmsg_size (msg) ? ZFRAME_MORE : 0;
        rc = zframe_send (&frame, router, more | ZFRAME_DONTWAIT);
        zframe_destroy (&frame);
    }
    zmsg_destroy (&msg);
    return rc;
}

static void
s_send_command (self_t *self, zframe_t *route, pd_pdp_command_t command)
{
    zmsg_t *msg = pd_proto_msg (command);
    s_send_to (self->router, route, &msg);
}

//  Answer a client: REPLY id status body. Takes body (NULL = empty).
static void
s_answer (self_t *self, zframe_t *client, uint64_t id, int status, zframe_t *body)
{
    zmsg_t *msg = pd_proto_msg (PD_PDP_REPLY);
    zmsg_append (msg, &(zframe_t *){pd_proto_u64 (id)});
    zmsg_append (msg, &(zframe_t *){pd_proto_u16 (pd_status_to_wire (status))});
    zmsg_append (msg, body ? &body : &(zframe_t *){zframe_new_empty ()});
    if (s_send_to (self->router, client, &msg))
        self->stats.dropped++;
}

//  Answer a client with a broker error and count it
static void
s_fail (self_t *self, zframe_t *client, uint64_t id, int status, const char *detail)
{
    if (status == PD_E_TIMEOUT)
        self->stats.timeouts++;
    else if (status == PD_E_BUSY)
        self->stats.busy++;
    else
        self->stats.unavailable++;
    s_answer (self, client, id, status, pd_proto_error_body (status, NULL, detail));
}

//  --------------------------------------------------------------------------
//  Deadline heap (min-heap on request->deadline)

static void
s_heap_set (self_t *self, size_t index, s_request_t *request)
{
    self->heap[index] = request;
    request->heap_index = index;
}

static void
s_heap_up (self_t *self, size_t index)
{
    s_request_t *request = self->heap[index];
    while (index > 0) {
        size_t parent = (index - 1) / 2;
        if (self->heap[parent]->deadline <= request->deadline)
            break;
        s_heap_set (self, index, self->heap[parent]);
        index = parent;
    }
    s_heap_set (self, index, request);
}

static void
s_heap_down (self_t *self, size_t index)
{
    s_request_t *request = self->heap[index];
    while (true) {
        size_t child = 2 * index + 1;
        if (child >= self->heap_size)
            break;
        if (child + 1 < self->heap_size &&
            self->heap[child + 1]->deadline < self->heap[child]->deadline)
            child++;
        if (request->deadline <= self->heap[child]->deadline)
            break;
        s_heap_set (self, index, self->heap[child]);
        index = child;
    }
    s_heap_set (self, index, request);
}

static void
s_heap_push (self_t *self, s_request_t *request)
{
    if (self->heap_size == self->heap_max) {
        self->heap_max = self->heap_max ? 2 * self->heap_max : 64;
        self->heap = (s_request_t **)realloc (self->heap, self->heap_max * sizeof (*self->heap));
        assert (self->heap);
    }
    self->heap[self->heap_size++] = request;
    s_heap_up (self, self->heap_size - 1);
}

static void
s_heap_remove (self_t *self, s_request_t *request)
{
    size_t index = request->heap_index;
    if (index == S_NO_INDEX)
        return;
    request->heap_index = S_NO_INDEX;
    s_request_t *last = self->heap[--self->heap_size];
    if (index < self->heap_size) {
        s_heap_set (self, index, last);
        s_heap_down (self, index);
        s_heap_up (self, last->heap_index);
    }
}

//  --------------------------------------------------------------------------
//  Requests, workers, services

//  Forget a request: out of the heap, its list and the table; free it
static void
s_request_destroy (self_t *self, s_request_t *request)
{
    s_heap_remove (self, request);
    if (request->worker)
        zlistx_delete (request->worker->requests, request->handle);
    else {
        zlistx_delete (request->service->queue, request->handle);
        self->stats.queued--;
    }
    zframe_destroy (&request->client);
    zframe_destroy (&request->header);
    zframe_destroy (&request->body);
    zhashx_delete (self->requests, request->key);
    free (request->key);
    free (request);
}

static bool
s_service_has_live_worker (s_service_t *service, int64_t now)
{
    for (s_worker_t *worker = (s_worker_t *)zlistx_first (service->workers); worker;
         worker = (s_worker_t *)zlistx_next (service->workers))
        if (worker->expiry > now)
            return true;
    return false;
}

static s_service_t *
s_service_require (self_t *self, zframe_t *name_frame)
{
    char *name = zframe_strdup (name_frame);
    s_service_t *service = (s_service_t *)zhashx_lookup (self->services, name);
    if (!service && zhashx_size (self->services) < PD_BROKER_MAX_SERVICES) {
        service = (s_service_t *)zmalloc (sizeof (s_service_t));
        service->name = name;
        name = NULL;
        service->workers = zlistx_new ();
        service->queue = zlistx_new ();
        zhashx_insert (self->services, service->name, service);
    }
    free (name);
    return service;
}

//  Drop a service that has neither workers nor queued requests
static void
s_service_release (self_t *self, s_service_t *service)
{
    if (zlistx_size (service->workers) || zlistx_size (service->queue))
        return;
    zhashx_delete (self->services, service->name);
    zlistx_destroy (&service->workers);
    zlistx_destroy (&service->queue);
    free (service->name);
    free (service);
}

//  Remove a worker: fail what it holds (PD_E_UNAVAILABLE), forget it. The
//  caller releases the service (s_service_release) when done with it.
static void
s_worker_remove (self_t *self, s_worker_t *worker, bool disconnect)
{
    s_request_t *request;
    while ((request = (s_request_t *)zlistx_first (worker->requests))) {
        if (!request->answered)
            s_fail (self, request->client, request->id, PD_E_UNAVAILABLE, "worker lost");
        s_request_destroy (self, request);
    }
    if (disconnect)
        s_send_command (self, worker->route, PD_PDP_DISCONNECT);
    zlistx_delete (worker->service->workers, worker->handle);
    zlistx_destroy (&worker->requests);
    zframe_destroy (&worker->route);
    zhashx_delete (self->workers, worker->key);
    free (worker->key);
    free (worker);
    self->stats.workers--;
}

//  The worker to give the next request: free credit, fewest in flight,
//  then the longest idle (least recently given or answering a request).
//  NULL if every worker is full.
static s_worker_t *
s_service_pick (s_service_t *service)
{
    s_worker_t *best = NULL;
    for (s_worker_t *worker = (s_worker_t *)zlistx_first (service->workers); worker;
         worker = (s_worker_t *)zlistx_next (service->workers)) {
        size_t load = zlistx_size (worker->requests);
        if (load >= worker->credit)
            continue;
        if (!best || load < zlistx_size (best->requests) ||
            (load == zlistx_size (best->requests) && worker->last_active < best->last_active))
            best = worker;
    }
    return best;
}

//  Send a queued request to a worker. 0, or -1 if the worker is unreachable
//  (then the request is untouched).
static int
s_worker_send_request (self_t *self, s_worker_t *worker, s_request_t *request, int64_t now)
{
    if (zframe_send (&worker->route, self->router, ZFRAME_REUSE | ZFRAME_MORE | ZFRAME_DONTWAIT))
        return -1;
    //  The remaining frames cannot fail once the first was accepted
    int64_t remaining = request->deadline - now;
    zmsg_t *msg = pd_proto_msg (PD_PDP_REQUEST);
    zmsg_append (msg, &(zframe_t *){zframe_dup (request->client)});
    zmsg_append (msg, &(zframe_t *){pd_proto_u64 (request->id)});
    zmsg_append (msg, &(zframe_t *){pd_proto_u32 ((uint32_t)(remaining > 0 ? remaining : 1))});
    zmsg_append (msg, &request->header);
    zmsg_append (msg, &request->body);
    zframe_t *frame;
    while ((frame = zmsg_pop (msg))) {
        int more = zmsg_size (msg) ? ZFRAME_MORE : 0;
        zframe_send (&frame, self->router, more | ZFRAME_DONTWAIT);
        zframe_destroy (&frame);
    }
    zmsg_destroy (&msg);
    return 0;
}

//  Give queued requests of a service to its workers while they have credit
static void s_on_deadline (self_t *self, s_request_t *request, int64_t now);

static void
s_service_dispatch (self_t *self, s_service_t *service)
{
    s_request_t *request;
    while ((request = (s_request_t *)zlistx_first (service->queue))) {
        s_worker_t *worker = s_service_pick (service);
        if (!worker)
            break;
        int64_t now = zclock_mono ();
        if (request->deadline <= now)
            s_on_deadline (self, request, now); //  answers and forgets it
        else if (s_worker_send_request (self, worker, request, now) == 0) {
            zlistx_delete (service->queue, request->handle);
            self->stats.queued--;
            request->worker = worker;
            request->handle = zlistx_add_end (worker->requests, request);
            worker->last_active = ++self->activity;
        } else {
            //  Its connection is gone: it will never answer
            self->stats.expired_workers++;
            s_worker_remove (self, worker, false);
        }
    }
}

//  --------------------------------------------------------------------------
//  Built-in services

static zframe_t *
s_stats_body (self_t *self)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    int rc = 0;
#define S_COUNT(name) +1
    rc |= msgpack_pack_map (&packer, 0 S_STATS_FIELDS (S_COUNT));
#undef S_COUNT
#define S_PACK(name)                                                                               \
    rc |= msgpack_pack_str (&packer, strlen (#name));                                              \
    rc |= msgpack_pack_str_body (&packer, #name, strlen (#name));                                  \
    rc |= msgpack_pack_uint64 (&packer, self->stats.name);
    S_STATS_FIELDS (S_PACK)
#undef S_PACK
    zframe_t *frame = rc ? NULL : zframe_new (buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
    return frame;
}

static void
s_builtin (self_t *self, zframe_t *client, uint64_t id, const char *name)
{
    if (streq (name, PD_PROTO_SERVICE_PING)) {
        static const byte empty_map = 0x80;
        s_answer (self, client, id, PD_OK, zframe_new (&empty_map, 1));
        self->stats.replies++;
    } else if (streq (name, PD_PROTO_SERVICE_STATS)) {
        zframe_t *body = s_stats_body (self);
        if (body) {
            s_answer (self, client, id, PD_OK, body);
            self->stats.replies++;
        } else
            s_fail (self, client, id, PD_E_UNAVAILABLE, "out of memory");
    } else
        s_fail (self, client, id, PD_E_UNAVAILABLE, "no such built-in service");
}

//  --------------------------------------------------------------------------
//  Handlers of the commands a peer sends. Each gets the frames after the
//  command (it may take some, nulling them); malformed messages are
//  dropped and counted.

//  Does a command to the broker carry the frames PD_PDP_FRAMES says?
static bool
s_framed (pd_pdp_command_t command, size_t count)
{
    return pd_pdp_frames (command, PD_PDP_BROKER) == (int)count;
}

//  READY service credit
static void
s_on_ready (self_t *self, s_peer_t peer, zframe_t *route, zframe_t **frame, size_t count)
{
    uint16_t credit;
    if (!s_framed (PD_PDP_READY, count) || !s_name_valid (frame[0], PD_PROTO_MAX_SERVICE) ||
        zframe_data (frame[0])[0] == '$' || pd_proto_get_u16 (frame[1], &credit)) {
        self->stats.dropped++;
        s_send_command (self, route, PD_PDP_DISCONNECT);
        return;
    }
    char name[PD_PROTO_MAX_SERVICE + 1];
    if (!peer.trusted &&
        !pd_keys_may_serve (peer.entry, s_frame_text (frame[0], name, sizeof (name)))) {
        zsys_warning ("broker: READY refused service=%s key=%s", name, peer.entry->name);
        self->stats.refused++;
        s_send_command (self, route, PD_PDP_DISCONNECT);
        return;
    }
    char *key = s_route_key (route);
    s_worker_t *worker = (s_worker_t *)zhashx_lookup (self->workers, key);
    if (worker) {
        //  READY twice on one connection breaks the protocol
        self->stats.dropped++;
        s_service_t *service = worker->service;
        s_worker_remove (self, worker, true);
        s_service_release (self, service);
        free (key);
        return;
    }
    s_service_t *service = s_service_require (self, frame[0]);
    if (!service) {
        self->stats.dropped++;
        s_send_command (self, route, PD_PDP_DISCONNECT);
        free (key);
        return;
    }
    worker = (s_worker_t *)zmalloc (sizeof (s_worker_t));
    worker->key = key;
    worker->route = zframe_dup (route);
    worker->service = service;
    worker->entry = peer.entry;
    worker->credit = credit ? credit : 1;
    worker->requests = zlistx_new ();
    worker->expiry = zclock_mono () + (int64_t)self->heartbeat_ms * self->liveness;
    worker->last_active = ++self->activity;
    worker->handle = zlistx_add_end (service->workers, worker);
    zhashx_insert (self->workers, worker->key, worker);
    self->stats.workers++;
    s_service_dispatch (self, service);
}

//  REQUEST service request_id timeout_ms header body
static void
s_on_request (self_t *self, s_peer_t peer, zframe_t *route, zframe_t **frame, size_t count)
{
    uint64_t id;
    uint32_t timeout;
    if (!s_framed (PD_PDP_REQUEST, count) || !s_name_valid (frame[0], PD_PROTO_MAX_SERVICE) ||
        pd_proto_get_u64 (frame[1], &id) || pd_proto_get_u32 (frame[2], &timeout)) {
        self->stats.dropped++;
        return;
    }
    char name[PD_PROTO_MAX_SERVICE + 1];
    if (!peer.trusted &&
        !pd_keys_may_request (peer.entry, s_frame_text (frame[0], name, sizeof (name)),
                              zframe_data (frame[3]), zframe_size (frame[3]))) {
        self->stats.refused++;
        s_answer (self, route, id, PD_E_FORBIDDEN,
                  pd_proto_error_body (PD_E_FORBIDDEN, NULL, "this key may not call the service"));
        return;
    }
    char key[S_KEY_MAX];
    s_request_key (key, route, id);
    if (zhashx_lookup (self->requests, key)) {
        //  A client reused the id of a request still open: not ours to guess
        self->stats.dropped++;
        return;
    }
    self->stats.requests++;
    if (zframe_data (frame[0])[0] == '$') {
        char *builtin = zframe_strdup (frame[0]);
        s_builtin (self, route, id, builtin);
        free (builtin);
        return;
    }
    s_service_t *service = s_service_require (self, frame[0]);
    if (!service) {
        s_fail (self, route, id, PD_E_UNAVAILABLE, "too many services");
        return;
    }
    if (zlistx_size (service->queue) >= self->queue_max) {
        s_fail (self, route, id, PD_E_BUSY, "service queue full");
        return;
    }
    if (timeout == 0)
        timeout = PD_PROTO_DEFAULT_TIMEOUT_MS;
    else if (timeout > PD_PROTO_MAX_TIMEOUT_MS)
        timeout = PD_PROTO_MAX_TIMEOUT_MS;

    s_request_t *request = (s_request_t *)zmalloc (sizeof (s_request_t));
    request->key = strdup (key);
    request->client = zframe_dup (route);
    request->id = id;
    request->deadline = zclock_mono () + timeout;
    request->service = service;
    request->header = frame[3];
    request->body = frame[4];
    frame[3] = frame[4] = NULL;
    request->handle = zlistx_add_end (service->queue, request);
    request->heap_index = S_NO_INDEX;
    zhashx_insert (self->requests, request->key, request);
    s_heap_push (self, request);
    self->stats.queued++;
    s_service_dispatch (self, service);
}

//  REPLY client_route request_id status body
static void
s_on_reply (self_t *self, s_worker_t *worker, zframe_t **frame, size_t count)
{
    uint64_t id;
    uint16_t status;
    if (!s_framed (PD_PDP_REPLY, count) || zframe_size (frame[0]) == 0 ||
        zframe_size (frame[0]) > S_ROUTE_MAX || pd_proto_get_u64 (frame[1], &id) ||
        pd_proto_get_u16 (frame[2], &status)) {
        self->stats.dropped++;
        return;
    }
    char key[S_KEY_MAX];
    s_request_key (key, frame[0], id);
    s_request_t *request = (s_request_t *)zhashx_lookup (self->requests, key);
    if (!request || request->worker != worker) {
        self->stats.dropped++;
        return;
    }
    if (!request->answered) {
        s_answer (self, request->client, id, pd_status_from_wire (status), frame[3]);
        frame[3] = NULL;
        self->stats.replies++;
    }
    //  else: the late reply of a request answered at its deadline
    s_request_destroy (self, request);
    worker->last_active = ++self->activity;
    s_service_dispatch (self, worker->service);
}

//  PUBLISH stream seq event
static void
s_on_publish (self_t *self, zframe_t **frame, size_t count)
{
    uint64_t seq;
    if (!s_framed (PD_PDP_PUBLISH, count) || !s_name_valid (frame[0], PD_PROTO_MAX_STREAM) ||
        pd_proto_get_u64 (frame[1], &seq) || !self->xpub) {
        self->stats.dropped++;
        return;
    }
    //  An XPUB drops for slow subscribers at its high-water mark (never
    //  blocks); they resume from the stored history (PROTOCOL.md, Streams)
    zmsg_t *msg = zmsg_new ();
    for (size_t i = 0; i < count; i++)
        zmsg_append (msg, &frame[i]);
    if (zmsg_send (&msg, self->xpub) == 0)
        self->stats.published++;
    else {
        zmsg_destroy (&msg);
        self->stats.dropped++;
    }
}

//  HEARTBEAT, DISCONNECT, REPLY: from registered workers only; PUBLISH
//  from any peer that may publish (a worker, or pd_client_publish)
static void
s_on_worker_command (self_t *self, s_peer_t peer, zframe_t *route, int command, zframe_t **frame,
                     size_t count)
{
    char *key = s_route_key (route);
    s_worker_t *worker = (s_worker_t *)zhashx_lookup (self->workers, key);
    free (key);
    if (worker && worker->entry != peer.entry) {
        //  Another key on a worker's routing id (a peer that chose it)
        self->stats.refused++;
        return;
    }
    if (command == PD_PDP_PUBLISH && !peer.trusted && !pd_keys_may_publish (peer.entry)) {
        self->stats.refused++;
        return;
    }
    if (!worker && command == PD_PDP_PUBLISH) {
        //  Events committed outside an actor thread (pd_client_publish: the
        //  gateway serving a local actor), or by a worker whose registration
        //  expired (its next heartbeat learns that); the right was checked
        //  above
        s_on_publish (self, frame, count);
        return;
    }
    if (!worker) {
        //  Expired, or registered with a broker now gone: it must register
        //  again. A DISCONNECT needs no answer.
        if (command == PD_PDP_REPLY || command == PD_PDP_PUBLISH)
            self->stats.dropped++;
        if (command != PD_PDP_DISCONNECT)
            s_send_command (self, route, PD_PDP_DISCONNECT);
        return;
    }
    worker->expiry = zclock_mono () + (int64_t)self->heartbeat_ms * self->liveness;
    if (command == PD_PDP_REPLY)
        s_on_reply (self, worker, frame, count);
    else if (command == PD_PDP_PUBLISH)
        s_on_publish (self, frame, count);
    else if (!s_framed (command, count))
        self->stats.dropped++;
    else if (command == PD_PDP_DISCONNECT) {
        s_service_t *service = worker->service;
        s_worker_remove (self, worker, false);
        s_service_release (self, service);
    }
    //  else HEARTBEAT: the expiry is refreshed
}

//  One message from the services socket: route, signature, command, frames
static void
s_on_router_message (self_t *self, zmsg_t *msg)
{
    zframe_t *route = zmsg_pop (msg);
    s_peer_t peer = s_peer (self, zmsg_first (msg));
    if (!peer.trusted && !peer.entry) {
        //  ZAP admitted it, so this cannot happen; refuse it if it does
        self->stats.refused++;
        zframe_destroy (&route);
        return;
    }
    int command = pd_proto_take_command (msg);
    size_t count = zmsg_size (msg);
    if (!route || command < 0 || count > S_MAX_FRAMES) {
        self->stats.dropped++;
        zframe_destroy (&route);
        return;
    }
    zframe_t *frame[S_MAX_FRAMES] = {NULL};
    for (size_t i = 0; i < count; i++)
        frame[i] = zmsg_pop (msg);
    if (command == PD_PDP_READY)
        s_on_ready (self, peer, route, frame, count);
    else if (command == PD_PDP_REQUEST)
        s_on_request (self, peer, route, frame, count);
    else
        s_on_worker_command (self, peer, route, command, frame, count);
    for (size_t i = 0; i < count; i++)
        zframe_destroy (&frame[i]);
    zframe_destroy (&route);
}

//  --------------------------------------------------------------------------
//  Timers

//  The deadline of the earliest request passed
static void
s_on_deadline (self_t *self, s_request_t *request, int64_t now)
{
    s_heap_remove (self, request);
    s_service_t *service = request->service;
    if (request->worker) {
        s_fail (self, request->client, request->id, PD_E_TIMEOUT, "no reply before the deadline");
        request->answered = true;
        return;
    }
    if (s_service_has_live_worker (service, now))
        s_fail (self, request->client, request->id, PD_E_TIMEOUT,
                "no worker free before the deadline");
    else
        s_fail (self, request->client, request->id, PD_E_UNAVAILABLE,
                "no live worker for the service");
    s_request_destroy (self, request);
    s_service_release (self, service);
}

//  Is the worker busy with a request whose caller still waits? A worker
//  does not heartbeat while its handler runs: it is silent, not dead. A
//  dead one is still found at once, when a heartbeat cannot be sent to it.
static bool
s_worker_busy (s_worker_t *worker, int64_t now)
{
    for (s_request_t *request = (s_request_t *)zlistx_first (worker->requests); request;
         request = (s_request_t *)zlistx_next (worker->requests))
        if (!request->answered && request->deadline > now)
            return true;
    return false;
}

//  Every heartbeat interval: expire silent workers, heartbeat the others
static void
s_on_heartbeat_tick (self_t *self, int64_t now)
{
    zlistx_t *dead = zlistx_new ();
    for (s_worker_t *worker = (s_worker_t *)zhashx_first (self->workers); worker;
         worker = (s_worker_t *)zhashx_next (self->workers)) {
        if (worker->expiry <= now && !s_worker_busy (worker, now)) {
            zlistx_add_end (dead, worker);
            continue;
        }
        zmsg_t *msg = pd_proto_msg (PD_PDP_HEARTBEAT);
        if (s_send_to (self->router, worker->route, &msg))
            zlistx_add_end (dead, worker); //  connection gone
    }
    s_worker_t *worker;
    while ((worker = (s_worker_t *)zlistx_detach (dead, NULL))) {
        s_service_t *service = worker->service;
        self->stats.expired_workers++;
        s_worker_remove (self, worker, true);
        s_service_release (self, service);
    }
    zlistx_destroy (&dead);
}

//  --------------------------------------------------------------------------
//  ZAP events: refusals are counted; if the handler stopped, libzmq would
//  admit any client, so the broker stops (fail closed)

static void
s_on_zap (self_t *self, pd_zap_t *zap)
{
    int event;
    while ((event = pd_zap_recv (zap))) {
        if (event == PD_ZAP_REFUSED)
            self->stats.refused++;
        else {
            zsys_error ("broker: ZAP handler stopped, closing the broker's sockets");
            self->terminated = true;
        }
    }
}

//  --------------------------------------------------------------------------
//  The pipe: $TERM, STATS (pointer to a pd_broker_stats_t to fill)

static void
s_on_pipe (self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg) {
        self->terminated = true; //  the pipe is broken
        return;
    }
    char *command = zmsg_popstr (msg);
    if (command && streq (command, "$TERM"))
        self->terminated = true;
    else if (command && streq (command, "STATS")) {
        zframe_t *frame = zmsg_pop (msg);
        pd_broker_stats_t *stats = NULL;
        if (frame && zframe_size (frame) == sizeof (stats))
            memcpy (&stats, zframe_data (frame), sizeof (stats));
        if (stats)
            *stats = self->stats;
        zframe_destroy (&frame);
        zsock_signal (self->pipe, stats ? 0 : 1);
    }
    free (command);
    zmsg_destroy (&msg);
}

//  --------------------------------------------------------------------------
//  Set-up and tear-down

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    //  Tell workers we go (best effort: sockets linger 0) and fail what is open
    if (self->workers) {
        s_worker_t *worker;
        while ((worker = (s_worker_t *)zhashx_first (self->workers))) {
            s_service_t *service = worker->service;
            s_worker_remove (self, worker, true);
            s_service_release (self, service);
        }
    }
    while (self->heap_size) {
        s_request_t *request = self->heap[0];
        s_service_t *service = request->service;
        s_fail (self, request->client, request->id, PD_E_UNAVAILABLE, "broker stopping");
        s_request_destroy (self, request);
        s_service_release (self, service);
    }
    zhashx_destroy (&self->requests);
    zhashx_destroy (&self->workers);
    zhashx_destroy (&self->services);
    free (self->heap);
    zsock_destroy (&self->router);
    zsock_destroy (&self->xpub);
    pd_zap_destroy (&self->zap_streams);
    pd_zap_destroy (&self->zap_services);
    pd_keys_cluster_destroy (&self->cluster);
    free (self);
    *self_p = NULL;
}

//  A table that holds what its owner allocated: the owner frees the key
//  (a field of the item) and the item after deleting the entry
static zhashx_t *
s_table_new (void)
{
    zhashx_t *table = zhashx_new ();
    zhashx_set_key_duplicator (table, NULL);
    zhashx_set_key_destructor (table, NULL);
    return table;
}

//  ZAP verdicts (pd_zap's thread; the allow-list is read-only): a listed
//  key gets its name as User-Id; the stream socket admits only the roles
//  that may subscribe
static int
s_verdict (const char *public_key, char *user_id, size_t size, const pd_keys_allow_t *allow,
           bool streams)
{
    const pd_keys_entry_t *entry = pd_keys_allow_find_key (allow, public_key);
    if (!entry || (streams && !pd_keys_may_subscribe (entry)))
        return PD_E_FORBIDDEN;
    snprintf (user_id, size, "%s", entry->name);
    return PD_OK;
}

static int
s_services_verdict (const char *public_key, char *user_id, size_t size, void *arg)
{
    return s_verdict (public_key, user_id, size, (const pd_keys_allow_t *)arg, false);
}

static int
s_streams_verdict (const char *public_key, char *user_id, size_t size, void *arg)
{
    return s_verdict (public_key, user_id, size, (const pd_keys_allow_t *)arg, true);
}

//  The ZAP domains, before any CURVE socket binds. 0 or -1.
static int
s_zap_register (self_t *self, bool streams)
{
    const pd_keys_allow_t *allow = pd_keys_cluster_allow (self->cluster);
    char domain[PD_ZAP_DOMAIN_MAX + 1];
    snprintf (domain, sizeof (domain), S_DOMAIN_SERVICES, (void *)self);
    self->zap_services = pd_zap_new (domain, s_services_verdict, (void *)allow);
    if (streams) {
        snprintf (domain, sizeof (domain), S_DOMAIN_STREAMS, (void *)self);
        self->zap_streams = pd_zap_new (domain, s_streams_verdict, (void *)allow);
    }
    return self->zap_services && (self->zap_streams || !streams) ? 0 : -1;
}

//  A socket with the broker's options; a CURVE server in zap's domain, ZAP
//  enforced, when the broker has cluster keys. NULL if ZAP cannot be enforced.
static zsock_t *
s_socket_new (self_t *self, int type, pd_zap_t *zap)
{
    zsock_t *sock = zsock_new (type);
    assert (sock);
    pd_proto_set_options (sock);
    if (self->cluster) {
        const pd_keys_pair_t *pair = pd_keys_cluster_pair (self->cluster);
        zsock_set_curve_server (sock, 1);
        zsock_set_curve_publickey (sock, pair->public_key);
        zsock_set_curve_secretkey (sock, pair->secret_key);
        zsock_set_handshake_ivl (sock, PD_BROKER_HANDSHAKE_MS);
        if (pd_zap_apply (zap, sock) != 0) {
            zsys_error ("broker: libzmq cannot enforce ZAP; refusing to serve CURVE");
            zsock_destroy (&sock);
        }
    }
    return sock;
}

static self_t *
s_self_new (zsock_t *pipe, const pd_broker_config_t *config)
{
    self_t *self = (self_t *)zmalloc (sizeof (self_t));
    self->pipe = pipe;
    self->heartbeat_ms = config->heartbeat_ms > 0 ? config->heartbeat_ms : PD_PROTO_HEARTBEAT_MS;
    self->liveness = config->liveness > 0 ? config->liveness : PD_PROTO_LIVENESS;
    self->queue_max = config->queue_max ? config->queue_max : PD_PROTO_QUEUE_MAX;
    self->services = s_table_new ();
    self->workers = s_table_new ();
    self->requests = s_table_new ();
    self->heartbeat_at = zclock_mono () + self->heartbeat_ms;

    if (config->cluster) {
        self->cluster = pd_keys_cluster_dup (config->cluster);
        if (s_zap_register (self, config->stream_endpoints != NULL)) {
            zsys_error ("broker: cannot register its ZAP domains");
            s_self_destroy (&self);
            return NULL;
        }
    }
    self->router = s_socket_new (self, ZMQ_ROUTER, self->zap_services);
    if (self->router)
        zsock_set_router_mandatory (self->router, 1);
    if (!self->router || !config->endpoints ||
        zsock_attach (self->router, config->endpoints, true)) {
        zsys_error ("broker: bind failed endpoints=%s",
                    config->endpoints ? config->endpoints : "(none)");
        s_self_destroy (&self);
        return NULL;
    }
    if (config->stream_endpoints) {
        self->xpub = s_socket_new (self, ZMQ_XPUB, self->zap_streams);
        if (!self->xpub || zsock_attach (self->xpub, config->stream_endpoints, true)) {
            zsys_error ("broker: bind failed stream_endpoints=%s", config->stream_endpoints);
            s_self_destroy (&self);
            return NULL;
        }
    }
    return self;
}

//  --------------------------------------------------------------------------
//  The actor

static void
s_broker_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_self_new (pipe, (const pd_broker_config_t *)args);
    //  zactor_new's handshake, then the set-up result for pd_broker_new
    zsock_signal (pipe, 0);
    zsock_signal (pipe, self ? 0 : 1);
    if (!self)
        return;

    while (!self->terminated) {
        //  pipe, router, then what exists: stream socket, ZAP events
        zmq_pollitem_t items[5];
        int count = 0;
        items[count++] = (zmq_pollitem_t){zsock_resolve (self->pipe), 0, ZMQ_POLLIN, 0};
        items[count++] = (zmq_pollitem_t){zsock_resolve (self->router), 0, ZMQ_POLLIN, 0};
        int xpub_index = -1;
        if (self->xpub) {
            xpub_index = count;
            items[count++] = (zmq_pollitem_t){zsock_resolve (self->xpub), 0, ZMQ_POLLIN, 0};
        }
        pd_zap_t *item_zap[5] = {NULL}; //  the registration of a ZAP events item
        pd_zap_t *zaps[] = {self->zap_services, self->zap_streams};
        for (size_t i = 0; i < 2; i++)
            if (zaps[i]) {
                item_zap[count] = zaps[i];
                items[count++] =
                    (zmq_pollitem_t){zsock_resolve (pd_zap_events (zaps[i])), 0, ZMQ_POLLIN, 0};
            }
        int64_t now = zclock_mono ();
        int64_t wake = self->heartbeat_at;
        if (self->heap_size && self->heap[0]->deadline < wake)
            wake = self->heap[0]->deadline;
        long timeout = wake > now ? (long)(wake - now) : 0;
        if (zmq_poll (items, count, timeout) == -1) {
            //  A signal does not stop the broker: its owner sends $TERM
            if (errno == EINTR)
                continue;
            break; //  the ZeroMQ context is terminated
        }
        if (items[0].revents & ZMQ_POLLIN)
            s_on_pipe (self);
        if (items[1].revents & ZMQ_POLLIN) {
            zmsg_t *msg;
            for (int n = 0; n < S_BATCH && (msg = zmsg_recv (self->router)); n++) {
                s_on_router_message (self, msg);
                zmsg_destroy (&msg);
            }
        }
        if (xpub_index > 0 && (items[xpub_index].revents & ZMQ_POLLIN)) {
            //  Subscriptions: XPUB filters by itself; we only empty the queue
            zmsg_t *msg;
            for (int n = 0; n < S_BATCH && (msg = zmsg_recv (self->xpub)); n++)
                zmsg_destroy (&msg);
        }
        for (int i = 0; i < count; i++)
            if (item_zap[i] && (items[i].revents & ZMQ_POLLIN))
                s_on_zap (self, item_zap[i]);
        now = zclock_mono ();
        while (self->heap_size && self->heap[0]->deadline <= now)
            s_on_deadline (self, self->heap[0], now);
        if (now >= self->heartbeat_at) {
            s_on_heartbeat_tick (self, now);
            self->heartbeat_at = now + self->heartbeat_ms;
        }
    }
    s_self_destroy (&self);
}

//  --------------------------------------------------------------------------
//  Public API

pd_broker_t *
pd_broker_new (const pd_broker_config_t *config)
{
    if (!config || !config->endpoints)
        return NULL;
    pd_broker_t *self = (pd_broker_t *)zmalloc (sizeof (pd_broker_t));
    //  The actor reads config only before its handshake
    self->actor = zactor_new (s_broker_actor, (void *)config);
    if (!self->actor || zsock_wait (self->actor) != 0) {
        zactor_destroy (&self->actor);
        free (self);
        return NULL;
    }
    return self;
}

void
pd_broker_destroy (pd_broker_t **self_p)
{
    assert (self_p);
    pd_broker_t *self = *self_p;
    if (self) {
        zactor_destroy (&self->actor);
        free (self);
        *self_p = NULL;
    }
}

int
pd_broker_stats (pd_broker_t *self, pd_broker_stats_t *stats)
{
    assert (self);
    assert (stats);
    //  The actor fills *stats before it signals: the pipe orders the access
    if (zsock_send (self->actor, "sp", "STATS", stats))
        return PD_E_UNAVAILABLE;
    return zsock_wait (self->actor) == 0 ? PD_OK : PD_E_UNAVAILABLE;
}
