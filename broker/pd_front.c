/*  pd_front - the broker's appliance front (see pd_front.h)

    Three threads:
    - the front itself (this actor): the CURVE ROUTER facing appliances, a
      pd_client towards the services, the in-flight tables and the
      heartbeat buffer. It never waits for a service: requests go out with
      pd_client_send and replies are matched by id when they come;
    - the process's ZAP handler (pd_zap, RFC 27): the front registers its
      domain before the ROUTER binds. The handler tells the front about each
      refused handshake in that domain, and that it stopped: the front then
      closes the ROUTER (fail closed);
    - the "appliances" worker: a pd_worker blocks in pd_worker_wait, so it
      has its own thread and hands requests to the front over its pipe
      (pointers; the owner of a pd_request_t is whoever holds it);
    - the followers (when config->stream is set): pd_streams, which may
      block, each in its own thread. One on the audit stream hands the
      front the subject of each link-ending event (PD_LINK_ENDING_EVENTS);
      one on the escalation stream the appliance of each ticket change
      (PD_TICKET_UPDATE_EVENTS), whose unseen changes the front then asks
      for (escalation.updates) and sends down its link as `ticket`s. It
      asks too when an appliance connects: changes made while it was away.

    Connections: libzmq tells a ROUTER nothing when a peer goes, and has no
    call to drop one. A route the front has not heard from for silent_ms is
    forgotten (`connected` counts the others). To end a link the front sends
    `close`, forgets the route and drops what that connection still sends;
    a conforming appliance disconnects. (Shutting the socket down under
    libzmq was tried and dropped: the descriptor a message names may belong
    to another connection by the time the message is read.)
*/
#include "pd_front.h"

#include <inttypes.h>
#include <string.h>

#include "pd_client.h"
#include "pd_messages.h"
#include "pd_stream.h"
#include "pd_worker.h"
#include "pd_zap.h"

#define S_Z85_SIZE    40 //  a CURVE key in Z85
#define S_MAX_FRAMES  6  //  route + the longest PDA1 message (result)
#define S_MAX_USER_ID (sizeof (PD_FRONT_USER_KEY) + S_Z85_SIZE)
#define S_MAX_ID      (PD_ID_MAX + 1) //  an appliance id and its NUL
#define S_BATCH       1000
#define S_SWEEP_MS    100  //  how often deadlines are checked
#define S_LIVENESS_MS 1000 //  how often silent routes are looked for
//  A closed link's messages are dropped this long; later ones find the
//  appliance's state checked again (s_on_appliance)
#define S_ENDED_MS     600000
#define S_FOLLOW_MS    200   //  the follower's longest wait (its $TERM latency)
#define S_RETRY_MS     1000  //  the follower's first wait for an unreadable stream
#define S_RETRY_MAX_MS 30000 //  ...doubling up to this

#define S_KEY_TEXT 40 //  a CURVE key in Z85
//  Ticket changes: an appliance's are asked for at most this often (a new
//  connection, a change), one ask in flight; after a failure the wait
//  doubles up to S_TICKETS_MAX_MS; at most S_TICKETS_PER_SWEEP asks go per
//  sweep (S_SWEEP_MS) over all appliances (a reconnection storm is spread)
#define S_TICKETS_MS        1000
#define S_TICKETS_MAX_MS    30000
#define S_TICKETS_PER_SWEEP 100
#define S_TICKETS_SENT_MAX  1024 //  changes remembered as sent per connection
//  Changes sent and not yet seen, per connection: no more go until `seen`s
//  come (below PD_APPLIANCE_QUEUE_MAX, so that an SDK busy with a request
//  keeps every one)
#define S_TICKETS_WINDOW 32
//  A full window that no `seen` opens this long is opened (the changes in
//  it were refused or lost), so that later changes are not held forever
#define S_TICKETS_UNSEEN_MS 60000

//  What an upstream (pd_client) request was for: a claim, a request the
//  appliance waits on, one nobody waits on (heartbeats, `seen`), the
//  unseen ticket changes of an appliance
typedef enum { S_CLAIM, S_REQUEST, S_ONEWAY, S_UPDATES } s_kind_t;

typedef struct {
    s_kind_t kind;               //  what to do with the reply
    const char *type;            //  the message (the catalogue's text)
    char appliance_id[S_MAX_ID]; //  S_UPDATES: whose
    uint64_t ask;                //  S_UPDATES: which of its asks
    zframe_t *route;             //  the appliance's connection (S_CLAIM, S_REQUEST)
    uint64_t request_id;         //  the appliance's request id
    int64_t deadline;            //  zclock_mono () time after which we answer timeout
    char key[S_KEY_TEXT + 1];    //  S_CLAIM: the claiming connection's CURVE key
} s_upstream_t;

//  A connection whose appliance the front knows
typedef struct {
    char appliance_id[S_MAX_ID];
    char key[S_KEY_TEXT + 1]; //  the CURVE key that claimed on it ("" for ZAP-known keys)
    int64_t forget_at;        //  ending: when to forget it
} s_conn_t;

typedef struct {
    pd_request_t *request;       //  the broker's request, answered at the end
    char appliance_id[S_MAX_ID]; //  who must answer
} s_command_t;

typedef struct {
    zsock_t *pipe;                      //  our actor pipe
    pd_zap_t *zap;                      //  our domain at the process's ZAP handler
    pd_front_authorize_fn *authorize;   //  ZAP verdicts come from it
    void *authorize_arg;                //  its argument
    pd_front_state_fn *appliance_state; //  what a command's appliance is (NULL: active)
    void *appliance_state_arg;
    zsock_t *router;          //  CURVE server; NULL once the ZAP handler died
    pd_client_t *client;      //  requests to the services
    zactor_t *worker;         //  the "appliances" worker thread
    int flush_ms;             //  heartbeat coalescing interval
    int64_t flush_at;         //  next flush
    int64_t sweep_at;         //  next check of deadlines
    zhashx_t *routes;         //  appliance id -> zframe_t * route of its latest connection
    zhashx_t *connections;    //  route (hex) -> s_conn_t *: connections known to be whose
    zhashx_t *ending;         //  route (hex) -> s_conn_t *: links the front is closing
    zactor_t *follower;       //  link-ending events from the audit stream; NULL: none
    zactor_t *tickets;        //  ticket changes from the escalation stream; NULL: none
    zhashx_t *tickets_due;    //  appliance id -> (void *) 1: asks waiting for their turn
    int tickets_budget;       //  asks that may go until the next sweep
    uint64_t tickets_asks;    //  asks made (numbers them)
    int64_t liveness_at;      //  next look for silent routes
    int silent_ms;            //  a route not heard from this long is forgotten
    zhashx_t *beats;          //  appliance id -> s_beat_t *: its heartbeats
    int persist_ms;           //  a heartbeat that changes nothing is sent this seldom
    zhashx_t *upstream;       //  client request id (decimal) -> s_upstream_t *
    zhashx_t *commands;       //  command request id (decimal) -> s_command_t *
    uint64_t last_command_id; //  of commands sent to appliances
    pd_front_stats_t stats;   //  counters
    bool terminated;          //  $TERM received
} self_t;

//  An appliance's heartbeats: the last one sent upstream, and the one that
//  waits for the next flush, kept as it came (decoded only then)
typedef struct {
    int64_t seen;         //  zclock_mono () of the appliance's last message
    int64_t sent_at;      //  when the front received the last one sent (0: none yet)
    uint64_t sent_digest; //  its body's digest
    bool pending;         //  one waits for the next flush
    int64_t at;           //  when the front received it
    uint64_t digest;      //  of its body
    uint8_t *body;        //  its body (msgpack appliance_report), size bytes
    size_t size;
    size_t capacity; //  of body
    //  Its ticket changes
    int64_t tickets_at;  //  zclock_mono () of the last ask (0: none yet)
    int tickets_wait_ms; //  before the next ask may go
    bool asking;         //  an escalation.updates is in flight
    bool wanted;         //  a change may wait: ask when allowed
    bool more;           //  changes wait for the window (S_TICKETS_WINDOW) to open
    int64_t more_since;  //  ...since then (zclock_mono ())
    uint64_t ask;        //  the number of the ask in flight (replies to others are stale)
    zhashx_t *sent;      //  ticket id -> version sent on this connection
    zhashx_t *unseen;    //  ...of those, not seen yet (the window)
} s_beat_t;

//  ==========================================================================
//  ZAP verdicts (pd_zap calls them in its thread)

//  Known active appliances: their id; unknown keys: "key:<Z85>", which may
//  only claim; others (revoked, failed look-ups) are refused
static int
s_verdict (const char *public_key, char *user_id, size_t size, void *arg)
{
    const self_t *self = (const self_t *)arg;
    char appliance_id[S_MAX_ID] = "";
    int rc = self->authorize (public_key, appliance_id, sizeof (appliance_id), self->authorize_arg);
    appliance_id[sizeof (appliance_id) - 1] = 0;
    if (rc == PD_OK && *appliance_id &&
        strncmp (appliance_id, PD_FRONT_USER_KEY, strlen (PD_FRONT_USER_KEY))) {
        snprintf (user_id, size, "%s", appliance_id);
        return PD_OK;
    }
    if (rc == PD_E_NOT_FOUND) {
        snprintf (user_id, size, "%s%s", PD_FRONT_USER_KEY, public_key);
        return PD_OK;
    }
    return PD_E_FORBIDDEN;
}

//  ==========================================================================
//  The "appliances" worker thread

//  Answer a request with an error record (retry_after 0: none)
static void
s_error_reply (pd_worker_t *worker, pd_request_t **request_p, int status,
               const pd_schema_error_t *err, int retry_after)
{
    pd_error_t error = {0};
    error.code = (char *)pd_status_code (status);
    error.detail = (char *)(err->detail[0] ? err->detail : pd_status_title (status));
    error.field = err->field[0] ? (char *)err->field : NULL;
    if (retry_after > 0) {
        error.retry_after = retry_after;
        PD_MARK (&error, error, retry_after);
    }
    uint8_t *body = NULL;
    size_t size = 0;
    pd_schema_encode (&pd_error_schema, &error, &body, &size);
    pd_worker_reply (worker, request_p, status, body, size);
    free (body);
}

//  Judge a command's caller (the front serves nothing else that needs one).
//  False if refused: answered, and *request_p destroyed.
static bool
s_caller_allowed (pd_worker_t *worker, pd_request_t **request_p, pd_front_caller_fn *caller,
                  void *caller_arg)
{
    pd_request_t *request = *request_p;
    pd_header_t header = {0};
    pd_schema_error_t err = {0};
    int retry_after = 0;
    int rc =
        pd_schema_decode (&pd_header_schema, request->header, request->header_size, &header, NULL);
    if (rc == PD_OK && streq (header.type, "appliance.command")) {
        if (caller)
            rc = caller (&header, &err, &retry_after, caller_arg);
        else if (header.credential)
            rc = pd_schema_fail (&err, PD_E_FORBIDDEN, NULL, "no caller resolver");
    } else
        rc = PD_OK; //  the front's thread answers the rest
    pd_schema_clear (&pd_header_schema, &header);
    if (rc == PD_OK)
        return true;
    s_error_reply (worker, request_p, rc, &err, retry_after);
    return false;
}

static void
s_worker_actor (zsock_t *pipe, void *arg)
{
    //  The worker copies what it needs before the handshake
    const pd_front_config_t *front = (const pd_front_config_t *)arg;
    pd_worker_config_t config = {.credit = PD_FRONT_COMMAND_CREDIT, .keys = front->broker_keys};
    pd_worker_t *worker = pd_worker_new (front->broker, PD_FRONT_SERVICE, &config);
    pd_front_caller_fn *caller = front->caller;
    void *caller_arg = front->caller_arg;
    zsock_signal (pipe, 0);
    zsock_signal (pipe, worker ? 0 : 1);
    bool stopping = false;
    while (worker) {
        pd_request_t *request = NULL;
        int rc = stopping ? PD_WORKER_PIPE : pd_worker_wait (worker, pipe, &request);
        if (rc == PD_OK) {
            //  Who calls is judged here, not in the front's thread: judging
            //  may write (failure counts) and must not hold up the link
            if (s_caller_allowed (worker, &request, caller, caller_arg))
                zsock_send (pipe, "sp", "REQUEST", request);
            continue;
        }
        if (rc != PD_WORKER_PIPE)
            break; //  ZeroMQ is shutting down
        char *command = NULL;
        void *pointer = NULL;
        int status = 0;
        byte *body = NULL;
        size_t size = 0;
        if (zsock_recv (pipe, "spib", &command, &pointer, &status, &body, &size)) {
            break;
        }
        bool stop = !command || streq (command, "$TERM");
        if (command && streq (command, "REPLY")) {
            request = (pd_request_t *)pointer;
            pd_worker_reply (worker, &request, status, body, size);
        } else if (command && streq (command, "STOP")) {
            //  The front drains the pipe up to STOPPED: no request leaks
            stopping = true;
            zstr_send (pipe, "STOPPED");
        }
        free (command);
        free (body);
        if (stop)
            break;
    }
    pd_worker_destroy (&worker);
}

//  ==========================================================================
//  The follower thread: link-ending events from the audit stream

//  The status an event ends its subject's link with; PD_OK: none
static int
s_ending_status (const char *type)
{
#define S_ENDING(name, status)                                                                     \
    if (streq (type, name))                                                                        \
        return status;
    PD_LINK_ENDING_EVENTS (S_ENDING)
#undef S_ENDING
    return PD_OK;
}

//  Hand the front [END, appliance id, status] for each link-ending event of
//  the audit stream, [TICKET, appliance id] for each ticket change of the
//  escalation stream. PD_OK, PD_E_TIMEOUT (nothing came), or the error that
//  made the stream unreadable for now.
static int
s_follow (zsock_t *pipe, pd_stream_t *stream, bool tickets)
{
    uint64_t seq = 0;
    uint8_t *data = NULL;
    size_t size = 0;
    int rc = pd_stream_next (stream, &seq, &data, &size, S_FOLLOW_MS);
    if (rc != PD_OK)
        return rc; //  calling again retries
    pd_event_t event = {0};
    bool decoded = pd_schema_decode (&pd_event_schema, data, size, &event, NULL) == PD_OK;
    if (decoded && tickets) {
        if (event.appliance_id && *event.appliance_id && pd_ticket_update_event (event.type))
            zsock_send (pipe, "ss", "TICKET", event.appliance_id);
    } else if (decoded && event.subject) {
        int status = s_ending_status (event.type);
        if (status != PD_OK)
            zsock_send (pipe, "ssi", "END", event.subject, status);
    }
    pd_schema_clear (&pd_event_schema, &event);
    free (data);
    return PD_OK;
}

//  Wait up to `ms` for $TERM on the pipe: true if it came
static bool
s_follower_stopped (zsock_t *pipe, int ms)
{
    zmq_pollitem_t item = {zsock_resolve (pipe), 0, ZMQ_POLLIN, 0};
    if (zmq_poll (&item, 1, ms) == -1)
        return errno != EINTR;
    if (!(item.revents & ZMQ_POLLIN))
        return false;
    char *command = zstr_recv (pipe);
    bool stop = !command || streq (command, "$TERM");
    free (command);
    return stop;
}

//  What a follower follows
typedef struct {
    const pd_front_config_t *config;
    const char *stream; //  PD_STREAM_AUDIT or PD_STREAM_ESCALATIONS
} s_follow_args_t;

static void
s_follower_actor (zsock_t *pipe, void *arg)
{
    //  Copies: the arguments are the caller's, read only before the handshake
    const s_follow_args_t *args = (const s_follow_args_t *)arg;
    const pd_front_config_t *front = args->config;
    const char *name = args->stream; //  a constant
    bool tickets = streq (name, PD_STREAM_ESCALATIONS);
    char *broker = strdup (front->broker);
    char *endpoint = strdup (front->stream);
    pd_keys_pair_t keys;
    bool has_keys = front->broker_keys != NULL;
    if (has_keys)
        keys = *front->broker_keys;
    zsock_signal (pipe, 0);

    //  From the stream's end; each time it is (re)opened, the front checks
    //  the appliances it holds (FOLLOWING): a revocation may have come
    //  while nobody followed (ticket changes wait in the store: an
    //  appliance gets them on its next connection). A stream that cannot be
    //  read is retried with a back-off up to S_RETRY_MAX_MS.
    pd_stream_t *stream = NULL;
    int retry_ms = S_RETRY_MS;
    bool warned = false;
    while (!zsys_interrupted) {
        if (!stream) {
            stream = pd_stream_new_curve (broker, endpoint, name, 0, has_keys ? &keys : NULL);
            if (stream) {
                zstr_send (pipe, "FOLLOWING");
                retry_ms = S_RETRY_MS;
            } else if (!warned) {
                zsys_warning ("front: cannot follow %s yet; retrying", name);
                warned = true;
            }
        }
        int rc = stream ? s_follow (pipe, stream, tickets) : PD_E_UNAVAILABLE;
        int wait = rc == PD_OK || rc == PD_E_TIMEOUT ? 0 : retry_ms;
        if (wait)
            retry_ms = retry_ms * 2 > S_RETRY_MAX_MS ? S_RETRY_MAX_MS : retry_ms * 2;
        if (s_follower_stopped (pipe, wait))
            break;
    }
    pd_stream_destroy (&stream);
    memset (&keys, 0, sizeof (keys));
    free (endpoint);
    free (broker);
}

//  ==========================================================================
//  Helpers

static void
s_upstream_destroy (void **item)
{
    s_upstream_t *self = (s_upstream_t *)*item;
    if (self) {
        zframe_destroy (&self->route);
        free (self);
        *item = NULL;
    }
}

static void
s_command_destroy (void **item)
{
    s_command_t *self = (s_command_t *)*item;
    if (self) {
        pd_request_destroy (&self->request);
        free (self);
        *item = NULL;
    }
}

static void
s_beat_destroy (void **item)
{
    s_beat_t *self = (s_beat_t *)*item;
    if (self) {
        free (self->body);
        zhashx_destroy (&self->sent);
        zhashx_destroy (&self->unseen);
        free (self);
        *item = NULL;
    }
}

static void
s_free_destroy (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_frame_destroy (void **item)
{
    zframe_destroy ((zframe_t **)item);
}

static void *
s_string_dup (const void *item)
{
    return strdup ((const char *)item);
}

static void
s_string_destroy (void **item)
{
    free (*item);
    *item = NULL;
}

static zhashx_t *
s_hash_new (zhashx_destructor_fn *destructor)
{
    zhashx_t *hash = zhashx_new ();
    if (destructor)
        zhashx_set_destructor (hash, destructor);
    else {
        //  values are strings, duplicated on insert
        zhashx_set_duplicator (hash, s_string_dup);
        zhashx_set_destructor (hash, s_string_destroy);
    }
    return hash;
}

static void
s_id_key (uint64_t id, char *key, size_t size)
{
    snprintf (key, size, "%" PRIu64, id);
}

//  The header of a request made for an appliance
static int
s_encode_header (const char *type, const char *appliance_id, const char *key, uint8_t **data,
                 size_t *size)
{
    pd_principal_t principal = {0};
    principal.kind = (char *)"appliance";
    principal.appliance_id = (char *)appliance_id;
    principal.appliance_key = (char *)key;
    pd_header_t header = {0};
    header.type = (char *)type;
    header.principal = &principal;
    header.source = (char *)"link";
    return pd_schema_encode (&pd_header_schema, &header, data, size);
}

//  Decode a body; an empty frame is an empty record
static int
s_decode (const pd_schema_t *schema, zframe_t *frame, void *record, pd_schema_error_t *error)
{
    static const uint8_t s_empty_map[] = {0x80};
    if (zframe_size (frame) == 0)
        return pd_schema_decode (schema, s_empty_map, sizeof (s_empty_map), record, error);
    return pd_schema_decode (schema, zframe_data (frame), zframe_size (frame), record, error);
}

//  ==========================================================================
//  Routes: which connection is whose

//  Forget the connection of route `hex` (zframe_strhex), and its
//  appliance's route if it is the appliance's latest connection
static void
s_forget_conn (self_t *self, const char *hex)
{
    const s_conn_t *conn = (const s_conn_t *)zhashx_lookup (self->connections, hex);
    if (!conn)
        return;
    zframe_t *current = (zframe_t *)zhashx_lookup (self->routes, conn->appliance_id);
    char *current_hex = current ? zframe_strhex (current) : NULL;
    if (current_hex && streq (current_hex, hex)) {
        zhashx_delete (self->beats, conn->appliance_id); //  its next heartbeat is news
        zhashx_delete (self->routes, conn->appliance_id);
    }
    free (current_hex);
    zhashx_delete (self->connections, hex);
}

static void
s_forget_route (self_t *self, zframe_t *route)
{
    char *hex = zframe_strhex (route);
    s_forget_conn (self, hex);
    free (hex);
}

//  The appliance's heartbeats and last message (made on first use)
static s_beat_t *
s_beat_of (self_t *self, const char *appliance_id)
{
    s_beat_t *beat = (s_beat_t *)zhashx_lookup (self->beats, appliance_id);
    if (!beat) {
        beat = (s_beat_t *)zmalloc (sizeof (s_beat_t));
        beat->tickets_wait_ms = S_TICKETS_MS;
        zhashx_insert (self->beats, appliance_id, beat);
    }
    return beat;
}

//  The appliance's latest connection is `route`; it was heard from now.
//  True if that is news: a connection the front did not know as its own.
static bool
s_remember_route (self_t *self, const char *appliance_id, zframe_t *route, const char *key)
{
    zframe_t *current = (zframe_t *)zhashx_lookup (self->routes, appliance_id);
    bool same = current && zframe_eq (current, route);
    s_beat_of (self, appliance_id)->seen = zclock_mono ();
    if (same)
        return false;
    if (current) {
        char *old = zframe_strhex (current);
        zhashx_delete (self->connections, old);
        free (old);
    }
    zhashx_update (self->routes, appliance_id, zframe_dup (route));
    //  Bound to the key that claimed it: another peer that gets the same
    //  routing id later (ids are reused) cannot inherit the appliance
    s_conn_t *conn = (s_conn_t *)zmalloc (sizeof (s_conn_t));
    snprintf (conn->appliance_id, sizeof (conn->appliance_id), "%s", appliance_id);
    snprintf (conn->key, sizeof (conn->key), "%s", key ? key : "");
    char *hex = zframe_strhex (route);
    zhashx_update (self->connections, hex, conn);
    free (hex);
    return true;
}

//  Send to an appliance; a gone peer (ZMQ_ROUTER_MANDATORY) is forgotten.
//  Takes ownership of msg. 0 or -1.
static int
s_send_to (self_t *self, zframe_t *route, zmsg_t **msg_p)
{
    zmsg_prepend (*msg_p, &(zframe_t *){zframe_dup (route)});
    if (!self->router) {
        zmsg_destroy (msg_p);
        return -1;
    }
    if (zmsg_send (msg_p, self->router) == 0)
        return 0;
    if (errno == EHOSTUNREACH)
        s_forget_route (self, route);
    zmsg_destroy (msg_p);
    return -1;
}

static zmsg_t *
s_pda1_msg (const char *type, uint64_t request_id)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, PD_FRONT_SIGNATURE);
    zmsg_addstr (msg, type);
    zmsg_append (msg, &(zframe_t *){pd_proto_u64 (request_id)});
    return msg;
}

//  [PDA1, reply, request_id, status, body]; takes ownership of body
static void
s_reply (self_t *self, zframe_t *route, uint64_t request_id, int status, zframe_t **body_p)
{
    zmsg_t *msg = s_pda1_msg ("reply", request_id);
    zmsg_append (msg, &(zframe_t *){pd_proto_u16 (pd_status_to_wire (status))});
    zmsg_append (msg, body_p);
    s_send_to (self, route, &msg);
}

static void
s_reply_error (self_t *self, zframe_t *route, uint64_t request_id, int status, const char *field,
               const char *detail)
{
    zframe_t *body = pd_proto_error_body (status, field, detail);
    s_reply (self, route, request_id, status, &body);
}

//  End an appliance's link: tell it why (`close`), and forget it at once
//  (no command, not connected; what that connection still sends is dropped
//  for S_ENDED_MS). False if it had no live connection.
static bool
s_end_link (self_t *self, const char *appliance_id, int status, const char *detail)
{
    zframe_t *found = (zframe_t *)zhashx_lookup (self->routes, appliance_id);
    if (!found)
        return false;
    zframe_t *route = zframe_dup (found);
    char *hex = zframe_strhex (route);
    s_conn_t *conn = (s_conn_t *)zhashx_lookup (self->connections, hex);
    if (conn) {
        s_conn_t *ending = (s_conn_t *)zmalloc (sizeof (s_conn_t));
        *ending = *conn;
        int64_t now = zclock_mono ();
        ending->forget_at = now + S_ENDED_MS;
        zhashx_update (self->ending, hex, ending);
    }
    zmsg_t *msg = s_pda1_msg ("close", 0);
    zmsg_append (msg, &(zframe_t *){pd_proto_u16 (pd_status_to_wire (status))});
    zmsg_append (msg, &(zframe_t *){pd_proto_error_body (status, NULL, detail)});
    zframe_t *copy = zframe_dup (route);
    s_send_to (self, copy, &msg);
    zframe_destroy (&copy);
    s_forget_route (self, route);
    self->stats.closed++;
    free (hex);
    zframe_destroy (&route);
    return true;
}

//  Forget links closed S_ENDED_MS ago: a message on such a connection is
//  then a new route again, and the appliance's state ends it (s_on_appliance)
static void
s_sweep_ending (self_t *self, int64_t now)
{
    if (zhashx_size (self->ending) == 0)
        return;
    zlistx_t *done = zlistx_new ();
    zlistx_set_duplicator (done, s_string_dup);
    zlistx_set_destructor (done, s_string_destroy);
    for (s_conn_t *conn = (s_conn_t *)zhashx_first (self->ending); conn;
         conn = (s_conn_t *)zhashx_next (self->ending))
        if (now >= conn->forget_at)
            zlistx_add_end (done, (void *)zhashx_cursor (self->ending));
    for (char *key = (char *)zlistx_first (done); key; key = (char *)zlistx_next (done))
        zhashx_delete (self->ending, key);
    zlistx_destroy (&done);
}

//  Forget the routes of appliances not heard from for silent_ms: their
//  connection is gone or dead (libzmq does not say which); the next message
//  makes it known again. (The binding of a connection that claimed stays:
//  one small entry per claim made on a connection.)
static void
s_sweep_liveness (self_t *self, int64_t now)
{
    zlistx_t *silent = zlistx_new ();
    zlistx_set_duplicator (silent, s_string_dup);
    zlistx_set_destructor (silent, s_string_destroy);
    for (s_beat_t *beat = (s_beat_t *)zhashx_first (self->beats); beat;
         beat = (s_beat_t *)zhashx_next (self->beats))
        if (now - beat->seen > self->silent_ms)
            zlistx_add_end (silent, (void *)zhashx_cursor (self->beats));
    for (char *id = (char *)zlistx_first (silent); id; id = (char *)zlistx_next (silent)) {
        zframe_t *route = (zframe_t *)zhashx_lookup (self->routes, id);
        if (route) {
            //  A connection that claimed keeps what it claimed: if it speaks
            //  again it is still that appliance (ZAP knows its key as the
            //  appliance's only from its next connection on)
            char *hex = zframe_strhex (route);
            const s_conn_t *conn = (const s_conn_t *)zhashx_lookup (self->connections, hex);
            if (conn && !*conn->key)
                zhashx_delete (self->connections, hex);
            free (hex);
            zhashx_delete (self->routes, id);
        }
        zhashx_delete (self->beats, id);
    }
    zlistx_destroy (&silent);
}

//  ==========================================================================
//  Upstream: requests to the services

//  Send a request for an appliance (or a flush, route NULL); its reply is
//  matched in s_on_client. Answers the appliance at once if it cannot go.
//  PD_OK if it went.
static int
s_upstream (self_t *self, s_kind_t kind, const char *type, const char *appliance_id,
            const char *key, const void *body, size_t body_size, zframe_t *route,
            uint64_t request_id, uint64_t ask)
{
    const pd_message_t *message = pd_message_find (type);
    assert (message);
    uint8_t *header = NULL;
    size_t header_size = 0;
    int rc = s_encode_header (type, appliance_id, key, &header, &header_size);
    uint64_t id = 0;
    if (rc == PD_OK)
        rc = pd_client_send (self->client, message->service, header, header_size, body, body_size,
                             PD_FRONT_REQUEST_MS - PD_CLIENT_MARGIN_MS, &id);
    free (header);
    if (rc != PD_OK) {
        if (route)
            s_reply_error (self, route, request_id, rc, NULL, "cannot reach the service");
        else
            zsys_warning ("front: %s not sent rc=%s", type, pd_status_code (rc));
        return rc;
    }
    s_upstream_t *pending = (s_upstream_t *)zmalloc (sizeof (s_upstream_t));
    pending->kind = kind;
    pending->type = message->type;
    if (appliance_id)
        snprintf (pending->appliance_id, sizeof (pending->appliance_id), "%s", appliance_id);
    pending->route = route ? zframe_dup (route) : NULL;
    if (kind == S_CLAIM && key)
        snprintf (pending->key, sizeof (pending->key), "%s", key);
    pending->request_id = request_id;
    pending->ask = ask;
    pending->deadline = zclock_mono () + PD_FRONT_REQUEST_MS;
    char key_text[24];
    s_id_key (id, key_text, sizeof (key_text));
    zhashx_update (self->upstream, key_text, pending);
    return PD_OK;
}

//  --------------------------------------------------------------------------
//  Ticket changes for connected appliances (PROTOCOL.md 16.3): each
//  appliance's are asked for (escalation.updates, a page at a time), sent
//  down its link as `ticket`s, and not sent again on that connection once
//  sent; a failure asks again later, while the appliance stays connected.

//  Ask for the page of the appliance's changes after ticket `after` (NULL:
//  from the first); PD_OK if the ask went
static int
s_tickets_ask (self_t *self, s_beat_t *beat, const char *appliance_id, const char *after)
{
    pd_ticket_updates_ask_t ask = {0};
    ask.after = (char *)after;
    uint8_t *body = NULL;
    size_t size = 0;
    int rc = pd_schema_encode (&pd_ticket_updates_ask_schema, &ask, &body, &size);
    if (rc == PD_OK)
        rc = s_upstream (self, S_UPDATES, "escalation.updates", appliance_id, NULL, body, size,
                         NULL, 0, ++self->tickets_asks);
    free (body);
    beat->asking = rc == PD_OK;
    beat->ask = self->tickets_asks;
    return rc;
}

//  Ask now if the appliance's turn has come and the sweep's budget allows:
//  true if the ask went, or it needs none (gone); false: it waits
static bool
s_tickets_try (self_t *self, const char *appliance_id, int64_t now)
{
    s_beat_t *beat = (s_beat_t *)zhashx_lookup (self->beats, appliance_id);
    if (!beat || !beat->wanted || !zhashx_lookup (self->routes, appliance_id))
        return true; //  gone: asked for at its next connection
    if (beat->more && now - beat->more_since < S_TICKETS_UNSEEN_MS)
        return false; //  its `seen`s open the window (s_tickets_seen)
    if (beat->more) {
        //  Unseen this long: the appliance refused them or lost them; the
        //  window opens, and they may be sent again
        beat->more = false;
        zhashx_purge (beat->unseen);
        zhashx_purge (beat->sent);
    }
    if (beat->asking || self->tickets_budget <= 0 ||
        (beat->tickets_at && now - beat->tickets_at < beat->tickets_wait_ms))
        return false;
    self->tickets_budget--;
    beat->tickets_at = now;
    beat->wanted = false;
    if (s_tickets_ask (self, beat, appliance_id, NULL) == PD_OK)
        return true;
    beat->wanted = true; //  the broker is away: later
    return false;
}

//  Something may wait for the appliance (a new connection, a change of its
//  tickets): ask as soon as its turn comes
static void
s_tickets_want (self_t *self, const char *appliance_id)
{
    s_beat_of (self, appliance_id)->wanted = true;
    if (!s_tickets_try (self, appliance_id, zclock_mono ()))
        zhashx_update (self->tickets_due, appliance_id, (void *)1);
}

//  An ask failed (an error, no answer in time, a send that did not go):
//  again after a longer wait
static void
s_tickets_failed (self_t *self, const char *appliance_id, uint64_t ask)
{
    s_beat_t *beat = (s_beat_t *)zhashx_lookup (self->beats, appliance_id);
    if (!beat || beat->ask != ask)
        return; //  gone, or an older ask's: the one in flight decides
    beat->asking = false;
    beat->wanted = true;
    beat->tickets_wait_ms =
        beat->tickets_wait_ms * 2 > S_TICKETS_MAX_MS ? S_TICKETS_MAX_MS : beat->tickets_wait_ms * 2;
    zhashx_update (self->tickets_due, appliance_id, (void *)1);
}

//  Every sweep: a new budget, and the asks whose turn has come
static void
s_sweep_tickets (self_t *self, int64_t now)
{
    self->tickets_budget = S_TICKETS_PER_SWEEP;
    if (!zhashx_size (self->tickets_due))
        return;
    zlistx_t *done = zlistx_new ();
    zlistx_set_duplicator (done, s_string_dup);
    zlistx_set_destructor (done, s_string_destroy);
    for (void *item = zhashx_first (self->tickets_due); item && self->tickets_budget > 0;
         item = zhashx_next (self->tickets_due)) {
        const char *appliance_id = (const char *)zhashx_cursor (self->tickets_due);
        if (s_tickets_try (self, appliance_id, now))
            zlistx_add_end (done, (void *)appliance_id);
    }
    for (char *id = (char *)zlistx_first (done); id; id = (char *)zlistx_next (done))
        zhashx_delete (self->tickets_due, id);
    zlistx_destroy (&done);
}

//  The appliance answered `seen`: that change is no longer "sent"
static void
s_tickets_seen (self_t *self, const char *appliance_id, const pd_ticket_seen_t *seen)
{
    s_beat_t *beat = (s_beat_t *)zhashx_lookup (self->beats, appliance_id);
    if (!beat || !beat->unseen || !zhashx_lookup (beat->unseen, seen->id) ||
        (intptr_t)zhashx_lookup (beat->unseen, seen->id) > (intptr_t)seen->version)
        return;
    zhashx_delete (beat->unseen, seen->id); //  still "sent": not sent again on this connection
    //  The window half open again: the changes that waited for it, at once
    //  (each ask is earned by `seen`s of changes really sent)
    if (beat->more && !beat->asking && zhashx_size (beat->unseen) <= S_TICKETS_WINDOW / 2) {
        beat->more = false;
        if (self->tickets_budget > 0 && s_tickets_ask (self, beat, appliance_id, NULL) == PD_OK) {
            self->tickets_budget--;
            beat->wanted = false; //  this ask is the one it waited for
        } else {
            beat->wanted = true;
            zhashx_update (self->tickets_due, appliance_id, (void *)1);
        }
    }
}

//  A new connection: nothing was sent on it yet
static void
s_tickets_connected (self_t *self, const char *appliance_id)
{
    s_beat_t *beat = s_beat_of (self, appliance_id);
    if (beat->sent)
        zhashx_purge (beat->sent);
    if (beat->unseen)
        zhashx_purge (beat->unseen);
    beat->more = false;
    beat->tickets_wait_ms = S_TICKETS_MS; //  failures on the old one do not count
    s_tickets_want (self, appliance_id);
}

//  Send one change down the link; PD_OK, or the send failed (queue full,
//  or the appliance went)
static int
s_ticket_send (self_t *self, const char *appliance_id, const pd_ticket_update_t *update)
{
    zframe_t *route = (zframe_t *)zhashx_lookup (self->routes, appliance_id);
    if (!route)
        return PD_E_GONE;
    uint8_t *body = NULL;
    size_t body_size = 0;
    int rc = pd_schema_encode (&pd_ticket_update_schema, update, &body, &body_size);
    if (rc != PD_OK)
        return rc;
    zmsg_t *msg = s_pda1_msg ("ticket", ++self->last_command_id);
    zmsg_addmem (msg, body, body_size);
    free (body);
    zframe_t *copy = zframe_dup (route); //  s_send_to may forget it
    rc = s_send_to (self, copy, &msg) == 0 ? PD_OK : PD_E_BUSY;
    zframe_destroy (&copy);
    if (rc == PD_OK)
        self->stats.tickets++;
    return rc;
}

//  An escalation.updates answer: send the changes not sent on this
//  connection yet; then the next page, or the end of this ask (another if
//  a change came meanwhile)
static void
s_tickets_answer (self_t *self, const char *appliance_id, uint64_t ask, int status,
                  const uint8_t *data, size_t size)
{
    s_beat_t *beat = (s_beat_t *)zhashx_lookup (self->beats, appliance_id);
    if (!beat || beat->ask != ask)
        return; //  an older ask's (the appliance reconnected meanwhile): stale
    if (!zhashx_lookup (self->routes, appliance_id)) {
        beat->asking = false;
        return; //  gone meanwhile: they wait for its next connection
    }
    pd_ticket_updates_t updates = {0};
    if (status == PD_OK &&
        pd_schema_decode (&pd_ticket_updates_schema, data, size, &updates, NULL) != PD_OK)
        status = PD_E_MALFORMED;
    if (!beat->sent)
        beat->sent = zhashx_new ();
    if (!beat->unseen)
        beat->unseen = zhashx_new ();
    const pd_ticket_update_t *items = updates.items.items;
    bool more = false;
    for (size_t i = 0; status == PD_OK && i < updates.items.size; i++) {
        intptr_t sent = (intptr_t)zhashx_lookup (beat->sent, items[i].id);
        if (sent && sent >= (intptr_t)items[i].version)
            continue; //  sent on this connection: its `seen` (or not) is the appliance's
        if (zhashx_size (beat->unseen) >= S_TICKETS_WINDOW) {
            more = true; //  the rest when `seen`s come
            break;
        }
        //  A send that fails forgets the connection, and the beat with it
        status = s_ticket_send (self, appliance_id, &items[i]);
        if (status != PD_OK)
            break;
        if (zhashx_size (beat->sent) >= S_TICKETS_SENT_MAX)
            zhashx_purge (beat->sent); //  (a change may then be sent twice)
        zhashx_update (beat->sent, items[i].id, (void *)(intptr_t)items[i].version);
        zhashx_update (beat->unseen, items[i].id, (void *)(intptr_t)items[i].version);
    }
    beat = (s_beat_t *)zhashx_lookup (self->beats, appliance_id);
    if (!beat || !zhashx_lookup (self->routes, appliance_id)) {
        //  It went (its connection is forgotten): its next one asks
        if (beat) {
            beat->asking = false;
            beat->wanted = true;
        }
    } else if (status != PD_OK) {
        zsys_warning ("front: ticket changes of %s: rc=%s; again later", appliance_id,
                      pd_status_code (status));
        s_tickets_failed (self, appliance_id, ask);
    } else if (more) {
        //  The window is full: the rest when `seen`s come, or after
        //  S_TICKETS_UNSEEN_MS without (refused, or lost: sent again then)
        beat->asking = false;
        beat->more = true;
        beat->more_since = zclock_mono ();
        beat->wanted = true;
        zhashx_update (self->tickets_due, appliance_id, (void *)1);
    } else if (updates.next_after) {
        //  A full read: the next page at once (same ask)
        if (s_tickets_ask (self, beat, appliance_id, updates.next_after) != PD_OK)
            s_tickets_failed (self, appliance_id, beat->ask);
    } else {
        beat->asking = false;
        beat->tickets_wait_ms = S_TICKETS_MS;
        if (beat->wanted) //  a change came while we asked
            zhashx_update (self->tickets_due, appliance_id, (void *)1);
    }
    pd_schema_clear (&pd_ticket_updates_schema, &updates);
}

//  A reply from a service
static void
s_on_service_reply (self_t *self, uint64_t id, int status, uint8_t *data, size_t size)
{
    char key[24];
    s_id_key (id, key, sizeof (key));
    s_upstream_t *pending = (s_upstream_t *)zhashx_lookup (self->upstream, key);
    if (!pending)
        return; //  late: we answered timeout already
    if (pending->kind == S_ONEWAY) {
        if (status != PD_OK)
            zsys_warning ("front: %s failed rc=%s", pending->type, pd_status_code (status));
    } else if (pending->kind == S_UPDATES)
        s_tickets_answer (self, pending->appliance_id, pending->ask, status, data, size);
    else {
        if (pending->kind == S_CLAIM && status == PD_OK) {
            //  From now on this connection is the appliance's
            pd_appliance_setup_t config = {0};
            if (pd_schema_decode (&pd_appliance_setup_schema, data, size, &config, NULL) == PD_OK)
                s_remember_route (self, config.appliance_id, pending->route, pending->key);
            pd_schema_clear (&pd_appliance_setup_schema, &config);
        }
        zframe_t *body = zframe_new (data, size);
        s_reply (self, pending->route, pending->request_id, status, &body);
    }
    zhashx_delete (self->upstream, key);
}

static void
s_on_client (self_t *self)
{
    for (int count = 0; count < S_BATCH; count++) {
        uint64_t id;
        int status;
        uint8_t *data = NULL;
        size_t size = 0;
        if (pd_client_recv (self->client, &id, &status, &data, &size, 0) != PD_OK)
            break;
        s_on_service_reply (self, id, status, data, size);
        free (data);
    }
}

//  FNV-1a over a heartbeat's body as it came: the same bytes, the same
//  heartbeat (another encoding of the same values only costs a write)
static uint64_t
s_digest (const uint8_t *data, size_t size)
{
    uint64_t hash = 1469598103934665603ULL;
    for (size_t i = 0; i < size; i++)
        hash = (hash ^ data[i]) * 1099511628211ULL;
    return hash;
}

//  Send the heartbeats waiting, PD_FRONT_FLUSH_MAX per request: each
//  decoded now (a malformed one is refused here)
static void
s_flush (self_t *self)
{
    static const uint8_t s_empty_map[] = {0x80};
    size_t capacity = PD_FRONT_FLUSH_MAX;
    pd_heartbeat_t *items = NULL;
    size_t count = 0;
    s_beat_t *beat = (s_beat_t *)zhashx_first (self->beats);
    while (true) {
        if (beat && beat->pending) {
            beat->pending = false;
            pd_appliance_report_t report = {0};
            int rc = pd_schema_decode (
                &pd_appliance_report_schema, beat->size ? beat->body : s_empty_map,
                beat->size ? beat->size : sizeof (s_empty_map), &report, NULL);
            if (rc == PD_OK && !items)
                items = (pd_heartbeat_t *)calloc (capacity, sizeof (pd_heartbeat_t));
            if (rc == PD_OK && items) {
                pd_heartbeat_t *item = &items[count++];
                item->appliance_id = strdup ((const char *)zhashx_cursor (self->beats));
                item->at = beat->at;
                PD_MARK (item, heartbeat, at);
                item->status = report.status; //  moved
                item->software_version = report.software_version;
                report.status = report.software_version = NULL;
                beat->sent_at = beat->at;
                beat->sent_digest = beat->digest;
            } else
                self->stats.refused++;
            pd_schema_clear (&pd_appliance_report_schema, &report);
        }
        if (beat)
            beat = (s_beat_t *)zhashx_next (self->beats);
        if (count == capacity || (!beat && count > 0)) {
            pd_heartbeats_t batch = {0};
            batch.items.size = count;
            batch.items.items = items;
            uint8_t *body = NULL;
            size_t body_size = 0;
            int rc = pd_schema_encode (&pd_heartbeats_schema, &batch, &body, &body_size);
            if (rc == PD_OK) {
                s_upstream (self, S_ONEWAY, "appliance.heartbeats", NULL, NULL, body, body_size,
                            NULL, 0, 0);
                self->stats.flushes++;
            } else
                zsys_error ("front: heartbeats not encoded rc=%s", pd_status_code (rc));
            free (body);
            for (size_t i = 0; i < count; i++)
                pd_schema_clear (&pd_heartbeat_schema, &items[i]);
            count = 0;
        }
        if (!beat)
            break;
    }
    free (items);
}

//  ==========================================================================
//  What appliances send

static void
s_on_claim (self_t *self, zframe_t *route, uint64_t request_id, const char *key, zframe_t *frame)
{
    if (!key) {
        s_reply_error (self, route, request_id, PD_E_EXISTS, NULL, "already claimed");
        return;
    }
    pd_claim_t claim = {0};
    pd_schema_error_t error = {0};
    int rc = s_decode (&pd_claim_schema, frame, &claim, &error);
    if (rc != PD_OK) {
        self->stats.refused++;
        s_reply_error (self, route, request_id, rc, error.field, error.detail);
        return;
    }
    //  The key is the handshake's, whatever the body says
    pd_schema_set_str (&claim.public_key, key);
    uint8_t *body = NULL;
    size_t size = 0;
    rc = pd_schema_encode (&pd_claim_schema, &claim, &body, &size);
    pd_schema_clear (&pd_claim_schema, &claim);
    if (rc != PD_OK) {
        s_reply_error (self, route, request_id, rc, NULL, "claim not encoded");
        return;
    }
    self->stats.claims++;
    s_upstream (self, S_CLAIM, "claim.link", NULL, key, body, size, route, request_id, 0);
    free (body);
}

//  A request the link carries on as it came (report, escalate): checked
//  against its record here, so that nothing malformed goes further
static void
s_on_request (self_t *self, const pd_link_type_t *link, zframe_t *route, uint64_t request_id,
              const char *appliance_id, zframe_t *frame)
{
    void *record = calloc (1, link->body->size);
    pd_schema_error_t error = {0};
    int rc = record ? s_decode (link->body, frame, record, &error) : PD_E_INTERNAL;
    if (rc == PD_OK && streq (link->name, "seen"))
        s_tickets_seen (self, appliance_id, (const pd_ticket_seen_t *)record);
    if (record)
        pd_schema_clear (link->body, record);
    free (record);
    //  What nobody waits on (`seen`) is answered by nothing, a refusal neither
    bool answered = link->answered_by != NULL;
    if (rc != PD_OK) {
        self->stats.refused++;
        if (answered)
            s_reply_error (self, route, request_id, rc, error.field, error.detail);
        return;
    }
    s_upstream (self, answered ? S_REQUEST : S_ONEWAY, link->carried_by, appliance_id, NULL,
                zframe_data (frame), zframe_size (frame), answered ? route : NULL, request_id, 0);
}

//  Keep a heartbeat for the next flush if it is news: the appliance's
//  first (of this connection), a change, or persist_ms after the last one
//  that went. Not decoded here: most heartbeats change nothing.
static void
s_on_heartbeat (self_t *self, const char *appliance_id, zframe_t *frame)
{
    self->stats.heartbeats++;
    const uint8_t *data = zframe_data (frame);
    size_t size = zframe_size (frame);
    uint64_t digest = s_digest (data, size);
    int64_t now = zclock_time ();
    s_beat_t *beat = (s_beat_t *)zhashx_lookup (self->beats, appliance_id);
    if (!beat) {
        beat = (s_beat_t *)zmalloc (sizeof (s_beat_t));
        zhashx_insert (self->beats, appliance_id, beat);
    } else if (beat->sent_at && beat->sent_digest == digest &&
               now - beat->sent_at < self->persist_ms) {
        beat->pending = false; //  back to what was sent: nothing to write
        return;
    }
    if (size > beat->capacity) {
        uint8_t *body = (uint8_t *)realloc (beat->body, size);
        if (!body) {
            self->stats.refused++;
            return;
        }
        beat->body = body;
        beat->capacity = size;
    }
    if (size)
        memcpy (beat->body, data, size);
    beat->size = size;
    beat->digest = digest;
    beat->at = now;
    beat->pending = true;
}

//  [status, body] answering command `request_id`
static void
s_on_result (self_t *self, uint64_t request_id, const char *appliance_id, zframe_t *status_frame,
             zframe_t *frame)
{
    char key[24];
    s_id_key (request_id, key, sizeof (key));
    s_command_t *command = (s_command_t *)zhashx_lookup (self->commands, key);
    uint16_t wire;
    if (!command || strcmp (command->appliance_id, appliance_id) ||
        pd_proto_get_u16 (status_frame, &wire)) {
        self->stats.refused++; //  late, someone else's, or malformed
        return;
    }
    int status = pd_status_from_wire (wire);
    zframe_t *body = zframe_dup (frame);
    if (status == PD_OK) {
        pd_command_result_t result = {0};
        if (s_decode (&pd_command_result_schema, frame, &result, NULL) != PD_OK) {
            zframe_destroy (&body);
            status = PD_E_INTERNAL;
            body = pd_proto_error_body (status, NULL, "the appliance's result is malformed");
        }
        pd_schema_clear (&pd_command_result_schema, &result);
    }
    zsock_send (self->worker, "spib", "REPLY", command->request, status, zframe_data (body),
                zframe_size (body));
    command->request = NULL; //  the worker thread has it
    zframe_destroy (&body);
    zhashx_delete (self->commands, key);
}

//  One message from an appliance: frames[0] is its route, fd the socket it
//  came from (-1: unknown)
static void
s_on_appliance (self_t *self, zframe_t **frames, size_t count, const char *user_id)
{
    zframe_t *route = frames[0];
    uint64_t request_id;
    size_t signature_size = strlen (PD_FRONT_SIGNATURE);
    if (count < 4 || !*user_id || zframe_size (frames[1]) != signature_size ||
        memcmp (zframe_data (frames[1]), PD_FRONT_SIGNATURE, signature_size) ||
        zframe_size (frames[2]) < 1 || zframe_size (frames[2]) > PD_FRONT_MAX_TYPE ||
        pd_proto_get_u64 (frames[3], &request_id)) {
        self->stats.refused++; //  malformed: dropped
        return;
    }
    char type[PD_FRONT_MAX_TYPE + 1];
    memcpy (type, zframe_data (frames[2]), zframe_size (frames[2]));
    type[zframe_size (frames[2])] = 0;

    //  A link the front closed: nothing it says counts any more
    if (zhashx_size (self->ending)) {
        char *hex = zframe_strhex (route);
        bool ended = zhashx_lookup (self->ending, hex) != NULL;
        free (hex);
        if (ended) {
            self->stats.refused++;
            return;
        }
    }

    //  Who is it? The handshake's verdict, or what this connection claimed
    const char *key = NULL;
    const char *appliance_id = NULL;
    char id_copy[S_MAX_ID] = "";
    if (strncmp (user_id, PD_FRONT_USER_KEY, strlen (PD_FRONT_USER_KEY)) == 0) {
        //  This connection's claim, if this very key made it on it
        key = user_id + strlen (PD_FRONT_USER_KEY);
        char *hex = zframe_strhex (route);
        const s_conn_t *conn = (const s_conn_t *)zhashx_lookup (self->connections, hex);
        free (hex);
        if (conn && *key && streq (conn->key, key)) {
            snprintf (id_copy, sizeof (id_copy), "%s", conn->appliance_id);
            appliance_id = id_copy;
        }
    } else {
        snprintf (id_copy, sizeof (id_copy), "%s", user_id);
        appliance_id = id_copy;
    }

    //  The link's types (PD_LINK_TYPES): the frames after the routing id
    const pd_link_type_t *link = pd_link_type_find (type, strlen (type));
    bool known = link && link->direction == PD_LINK_UP;
    size_t expected = known ? link->frames + 1 : 0;
    if (known && count != expected) {
        self->stats.refused++;
        return;
    }
    if (!known) {
        self->stats.refused++;
        s_reply_error (self, route, request_id, PD_E_UNKNOWN_TYPE, NULL, "unknown type");
        return;
    }
    if (streq (type, "claim")) {
        //  A connection that claimed already is answered as a known key is
        s_on_claim (self, route, request_id, appliance_id ? NULL : key, frames[4]);
        return;
    }
    if (!appliance_id) {
        self->stats.refused++;
        if (!streq (type, "heartbeat") && !streq (type, "seen"))
            s_reply_error (self, route, request_id, PD_E_UNAUTHORIZED, NULL, "claim first");
        return;
    }
    if (s_remember_route (self, appliance_id, route, key)) {
        if (self->appliance_state &&
            self->appliance_state (appliance_id, self->appliance_state_arg) == PD_E_GONE) {
            //  A new connection of an appliance revoked meanwhile (ZAP
            //  admitted it before, or the front was not following yet): end it
            self->stats.refused++;
            s_end_link (self, appliance_id, PD_E_APPLIANCE_REVOKED, "Appliance revoked");
            return;
        }
        //  A new connection: what changed on its tickets while it was away
        if (self->tickets)
            s_tickets_connected (self, appliance_id);
    }
    if (streq (type, "heartbeat"))
        s_on_heartbeat (self, appliance_id, frames[4]);
    else if (streq (type, "result"))
        s_on_result (self, request_id, appliance_id, frames[4], frames[5]);
    else
        s_on_request (self, link, route, request_id, appliance_id, frames[4]);
}

static void
s_on_router (self_t *self)
{
    for (int batch = 0; batch < S_BATCH && self->router; batch++) {
        zframe_t *frames[S_MAX_FRAMES] = {NULL};
        size_t count = 0;
        bool overflow = false;
        char user_id[S_MAX_USER_ID + S_MAX_ID] = "";
        while (true) {
            zframe_t *frame = NULL;
            bool more = false;
            if (count == 1) {
                //  The first frame the peer sent (the routing id frame is
                //  made by the ROUTER) carries the connection's metadata
                //  and the socket it came from
                zmq_msg_t part;
                zmq_msg_init (&part);
                if (zmq_msg_recv (&part, zsock_resolve (self->router), ZMQ_DONTWAIT) != -1) {
                    const char *meta = zmq_msg_gets (&part, "User-Id");
                    if (meta && strlen (meta) < sizeof (user_id))
                        snprintf (user_id, sizeof (user_id), "%s", meta);
                    more = zmq_msg_more (&part);
                    frame = zframe_new (zmq_msg_data (&part), zmq_msg_size (&part));
                }
                zmq_msg_close (&part);
            } else {
                frame = zframe_recv (self->router);
                more = frame && zframe_more (frame);
            }
            if (!frame)
                break;
            if (count < S_MAX_FRAMES)
                frames[count++] = frame;
            else {
                overflow = true;
                zframe_destroy (&frame);
            }
            if (!more)
                break;
        }
        if (count == 0)
            break;
        if (overflow)
            self->stats.refused++;
        else
            s_on_appliance (self, frames, count, user_id);
        for (size_t i = 0; i < count; i++)
            zframe_destroy (&frames[i]);
    }
}

//  ==========================================================================
//  Downstream: commands from the "appliances" worker

static void
s_worker_reply (self_t *self, pd_request_t *request, int status, const char *detail)
{
    zframe_t *body = pd_proto_error_body (status, NULL, detail);
    zsock_send (self->worker, "spib", "REPLY", request, status, zframe_data (body),
                zframe_size (body));
    zframe_destroy (&body);
}

//  front.stats: the counters, as /metrics shows them
static void
s_stats_reply (self_t *self, pd_request_t *request)
{
    self->stats.connected = zhashx_size (self->routes);
    pd_front_counters_t record = {0};
    record.connected = (int64_t)self->stats.connected;
    record.heartbeats = (int64_t)self->stats.heartbeats;
    record.flushes = (int64_t)self->stats.flushes;
    record.claims = (int64_t)self->stats.claims;
    record.refused = (int64_t)self->stats.refused;
    record.closed = (int64_t)self->stats.closed;
    record.tickets = (int64_t)self->stats.tickets;
    pd_schema_mark_all (&pd_front_counters_schema, &record);
    uint8_t *data = NULL;
    size_t size = 0;
    int rc = pd_schema_encode (&pd_front_counters_schema, &record, &data, &size);
    if (rc == PD_OK)
        zsock_send (self->worker, "spib", "REPLY", request, PD_OK, data, size);
    else
        s_worker_reply (self, request, rc, "cannot encode the counters");
    free (data);
}

static void
s_on_command (self_t *self, pd_request_t *request)
{
    pd_header_t header = {0};
    int rc =
        pd_schema_decode (&pd_header_schema, request->header, request->header_size, &header, NULL);
    bool is_command = rc == PD_OK && streq (header.type, "appliance.command");
    bool is_stats = rc == PD_OK && streq (header.type, "front.stats");
    pd_schema_error_t error = {0};
    pd_schema_clear (&pd_header_schema, &header);
    if (is_stats) {
        s_stats_reply (self, request);
        return;
    }
    if (!is_command) {
        s_worker_reply (self, request, rc == PD_OK ? PD_E_UNKNOWN_TYPE : PD_E_PROTOCOL,
                        "the front serves appliance.command");
        return;
    }
    pd_appliance_command_t command = {0};
    rc = pd_schema_decode (&pd_appliance_command_schema, request->body, request->body_size,
                           &command, &error);
    if (rc != PD_OK) {
        zframe_t *body = pd_proto_error_body (rc, error.field, error.detail);
        zsock_send (self->worker, "spib", "REPLY", request, rc, zframe_data (body),
                    zframe_size (body));
        zframe_destroy (&body);
        return;
    }
    //  An unknown or revoked appliance is told apart from one that is away:
    //  a revoked one gets no command even while its connection lasts
    int state = self->appliance_state
                    ? self->appliance_state (command.appliance_id, self->appliance_state_arg)
                    : PD_OK;
    if (state != PD_OK) {
        bool revoked = state == PD_E_GONE;
        s_worker_reply (self, request, revoked ? PD_E_APPLIANCE_REVOKED : PD_E_NOT_FOUND,
                        revoked ? "appliance revoked" : "no such appliance");
        //  Its revocation's event may be on its way: end the link now (a
        //  failed look-up ends nothing)
        if (revoked)
            s_end_link (self, command.appliance_id, PD_E_APPLIANCE_REVOKED, "Appliance revoked");
        pd_schema_clear (&pd_appliance_command_schema, &command);
        return;
    }
    zframe_t *route = (zframe_t *)zhashx_lookup (self->routes, command.appliance_id);
    uint64_t id = ++self->last_command_id;
    int sent = -1;
    if (route) {
        zframe_t *route_copy = zframe_dup (route); //  s_send_to may forget it
        zmsg_t *msg = s_pda1_msg ("command", id);
        zmsg_addmem (msg, request->body, request->body_size);
        sent = s_send_to (self, route_copy, &msg);
        zframe_destroy (&route_copy);
    }
    if (sent == 0) {
        s_command_t *pending = (s_command_t *)zmalloc (sizeof (s_command_t));
        pending->request = request;
        snprintf (pending->appliance_id, sizeof (pending->appliance_id), "%s",
                  command.appliance_id);
        char key[24];
        s_id_key (id, key, sizeof (key));
        zhashx_update (self->commands, key, pending);
    } else
        s_worker_reply (self, request, PD_E_UNAVAILABLE, "appliance not connected");
    pd_schema_clear (&pd_appliance_command_schema, &command);
}

static void
s_on_worker (self_t *self)
{
    char *command = NULL;
    void *pointer = NULL;
    if (zsock_recv (self->worker, "sp", &command, &pointer) == 0 && command &&
        streq (command, "REQUEST") && pointer)
        s_on_command (self, (pd_request_t *)pointer);
    free (command);
}

//  ==========================================================================
//  Deadlines

static void
s_sweep (self_t *self, int64_t now)
{
    zlistx_t *expired = zlistx_new ();
    zlistx_set_duplicator (expired, s_string_dup);
    zlistx_set_destructor (expired, s_string_destroy);
    for (s_upstream_t *pending = (s_upstream_t *)zhashx_first (self->upstream); pending;
         pending = (s_upstream_t *)zhashx_next (self->upstream))
        if (pending->deadline <= now)
            zlistx_add_end (expired, (void *)zhashx_cursor (self->upstream));
    for (char *key = (char *)zlistx_first (expired); key; key = (char *)zlistx_next (expired)) {
        s_upstream_t *pending = (s_upstream_t *)zhashx_lookup (self->upstream, key);
        if (pending->route)
            s_reply_error (self, pending->route, pending->request_id, PD_E_TIMEOUT, NULL,
                           "no answer from the service");
        if (pending->kind == S_UPDATES)
            s_tickets_failed (self, pending->appliance_id, pending->ask);
        zhashx_delete (self->upstream, key);
    }
    zlistx_purge (expired);
    for (s_command_t *pending = (s_command_t *)zhashx_first (self->commands); pending;
         pending = (s_command_t *)zhashx_next (self->commands))
        if (pending->request->deadline <= now)
            zlistx_add_end (expired, (void *)zhashx_cursor (self->commands));
    for (char *key = (char *)zlistx_first (expired); key; key = (char *)zlistx_next (expired)) {
        s_command_t *pending = (s_command_t *)zhashx_lookup (self->commands, key);
        s_worker_reply (self, pending->request, PD_E_TIMEOUT, "no result from the appliance");
        pending->request = NULL;
        zhashx_delete (self->commands, key);
    }
    zlistx_destroy (&expired);
}

//  ==========================================================================
//  The pipe: $TERM, STATS (pointer to a pd_front_stats_t to fill)

static void
s_on_pipe (self_t *self)
{
    char *command = NULL;
    void *pointer = NULL;
    if (zsock_recv (self->pipe, "sp", &command, &pointer)) {
        self->terminated = true;
        return;
    }
    if (!command || streq (command, "$TERM"))
        self->terminated = true;
    else if (streq (command, "STATS")) {
        pd_front_stats_t *stats = (pd_front_stats_t *)pointer;
        self->stats.connected = zhashx_size (self->routes);
        if (stats)
            *stats = self->stats;
        zsock_signal (self->pipe, stats ? 0 : 1);
    }
    free (command);
}

//  A refused handshake is counted; the handler's end closes the socket
static void
s_on_zap (self_t *self)
{
    int event = pd_zap_recv (self->zap);
    if (event == PD_ZAP_REFUSED)
        self->stats.refused++;
    else if (event == PD_ZAP_STOPPED && self->router) {
        zsys_error ("front: ZAP handler stopped, closing the appliance socket");
        zsock_destroy (&self->router);
    }
}

//  Ask the store about every appliance connected now: end the links of
//  those revoked (the follower just started following)
static void
s_check_connected (self_t *self)
{
    if (!self->appliance_state)
        return;
    zlistx_t *revoked = zlistx_new ();
    zlistx_set_duplicator (revoked, s_string_dup);
    zlistx_set_destructor (revoked, s_string_destroy);
    for (void *route = zhashx_first (self->routes); route; route = zhashx_next (self->routes)) {
        const char *appliance_id = (const char *)zhashx_cursor (self->routes);
        if (self->appliance_state (appliance_id, self->appliance_state_arg) == PD_E_GONE)
            zlistx_add_end (revoked, (void *)appliance_id);
    }
    for (char *id = (char *)zlistx_first (revoked); id; id = (char *)zlistx_next (revoked))
        s_end_link (self, id, PD_E_APPLIANCE_REVOKED, pd_status_title (PD_E_APPLIANCE_REVOKED));
    zlistx_destroy (&revoked);
}

//  From a follower: [END, appliance id, status] (a link-ending event's
//  subject), [FOLLOWING] (it reads its stream from now on: what came
//  before may have been missed), or [TICKET, appliance id] (a change of a
//  ticket it raised)
static void
s_on_follower (self_t *self, zactor_t *follower)
{
    zmsg_t *msg = zmsg_recv (follower);
    char *command = msg ? zmsg_popstr (msg) : NULL;
    if (command && streq (command, "END") && zmsg_size (msg) == 2) {
        char *appliance_id = zmsg_popstr (msg);
        char *status_text = zmsg_popstr (msg);
        int status = status_text ? atoi (status_text) : PD_E_GONE;
        //  The store must agree (an event is only as good as its publisher)
        if (appliance_id &&
            (!self->appliance_state ||
             self->appliance_state (appliance_id, self->appliance_state_arg) == PD_E_GONE))
            s_end_link (self, appliance_id, status, pd_status_title (status));
        free (appliance_id);
        free (status_text);
    } else if (command && streq (command, "FOLLOWING") && follower == self->tickets) {
        //  Every connected appliance's changes, a budget's worth per sweep
        for (void *route = zhashx_first (self->routes); route; route = zhashx_next (self->routes))
            zhashx_update (self->tickets_due, zhashx_cursor (self->routes), (void *)1);
        for (void *route = zhashx_first (self->routes); route; route = zhashx_next (self->routes))
            s_beat_of (self, (const char *)zhashx_cursor (self->routes))->wanted = true;
    } else if (command && streq (command, "FOLLOWING"))
        s_check_connected (self);
    else if (command && streq (command, "TICKET") && zmsg_size (msg) == 1) {
        char *appliance_id = zmsg_popstr (msg);
        if (appliance_id && zhashx_lookup (self->routes, appliance_id))
            s_tickets_want (self, appliance_id);
        free (appliance_id);
    }
    free (command);
    zmsg_destroy (&msg);
}

//  ==========================================================================
//  Set-up and tear-down

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    //  Appliances first: nothing new comes in
    zsock_destroy (&self->router);
    if (self->worker) {
        //  Answer what is in flight, then drain the pipe up to STOPPED
        for (s_command_t *pending = (s_command_t *)zhashx_first (self->commands); pending;
             pending = (s_command_t *)zhashx_next (self->commands)) {
            s_worker_reply (self, pending->request, PD_E_UNAVAILABLE, "front stopping");
            pending->request = NULL;
        }
        zstr_send (self->worker, "STOP");
        while (true) {
            char *command = NULL;
            void *pointer = NULL;
            if (zsock_recv (self->worker, "sp", &command, &pointer))
                break;
            bool stopped = !command || streq (command, "STOPPED");
            if (command && streq (command, "REQUEST")) {
                pd_request_t *request = (pd_request_t *)pointer;
                pd_request_destroy (&request);
            }
            free (command);
            if (stopped)
                break;
        }
        zactor_destroy (&self->worker);
    }
    zactor_destroy (&self->follower);
    zactor_destroy (&self->tickets);
    pd_zap_destroy (&self->zap);
    pd_client_destroy (&self->client);
    zhashx_destroy (&self->commands);
    zhashx_destroy (&self->upstream);
    zhashx_destroy (&self->beats);
    zhashx_destroy (&self->tickets_due);
    zhashx_destroy (&self->ending);
    zhashx_destroy (&self->connections);
    zhashx_destroy (&self->routes);
    free (self);
    *self_p = NULL;
}

//  Bind each of the comma-separated endpoints. 0 or -1.
static int
s_bind (zsock_t *sock, const char *endpoints)
{
    char *copy = strdup (endpoints);
    int rc = 0;
    int bound = 0;
    char *saved = NULL;
    for (char *endpoint = strtok_r (copy, ",", &saved); endpoint && rc == 0;
         endpoint = strtok_r (NULL, ",", &saved)) {
        while (*endpoint == ' ')
            endpoint++;
        if (!*endpoint)
            continue;
        if (zsock_bind (sock, "%s", endpoint) == -1) {
            zsys_error ("front: cannot bind %s: %s", endpoint, zmq_strerror (zmq_errno ()));
            rc = -1;
        } else
            bound++;
    }
    free (copy);
    return rc == 0 && bound > 0 ? 0 : -1;
}

static bool
s_keypair_valid (const char *public_key, const char *secret_key)
{
    if (!public_key || !secret_key || strlen (public_key) != S_Z85_SIZE ||
        strlen (secret_key) != S_Z85_SIZE)
        return false;
    char derived[S_Z85_SIZE + 1];
    return zmq_curve_public (derived, secret_key) == 0 && streq (derived, public_key);
}

static self_t *
s_self_new (zsock_t *pipe, const pd_front_config_t *config)
{
    if (!config || !config->endpoint || !config->broker || !config->authorize ||
        !s_keypair_valid (config->public_key, config->secret_key)) {
        zsys_error ("front: bad configuration (endpoint, broker, authorize or keypair)");
        return NULL;
    }
    self_t *self = (self_t *)zmalloc (sizeof (self_t));
    self->pipe = pipe;
    self->flush_ms = config->flush_ms > 0 ? config->flush_ms : PD_FRONT_FLUSH_MS;
    self->routes = s_hash_new (s_frame_destroy);
    self->connections = s_hash_new (s_free_destroy);
    self->ending = s_hash_new (s_free_destroy);
    self->beats = s_hash_new (s_beat_destroy);
    self->tickets_due = zhashx_new ();
    self->tickets_budget = S_TICKETS_PER_SWEEP;
    self->persist_ms = config->persist_ms > 0 ? config->persist_ms : 0;
    self->upstream = s_hash_new (s_upstream_destroy);
    self->commands = s_hash_new (s_command_destroy);

    //  The ZAP domain first: a CURVE server without a handler admits anybody
    self->authorize = config->authorize;
    self->authorize_arg = config->authorize_arg;
    self->appliance_state = config->appliance_state;
    self->appliance_state_arg = config->appliance_state_arg;
    self->zap = pd_zap_new (PD_FRONT_ZAP_DOMAIN, s_verdict, self);
    if (!self->zap) {
        zsys_error ("front: cannot register ZAP domain %s (is another front running?)",
                    PD_FRONT_ZAP_DOMAIN);
        s_self_destroy (&self);
        return NULL;
    }
    self->client = pd_client_new_curve (config->broker, config->broker_keys);
    //  The front serves thousands of appliances from one loop: with the
    //  broker away it answers "unavailable" at once rather than wait
    if (self->client)
        pd_client_set_never_block (self->client);
    self->worker = zactor_new (s_worker_actor, (void *)config);
    if (self->worker && zsock_wait (self->worker) != 0)
        zactor_destroy (&self->worker);
    if (!self->client || !self->worker) {
        zsys_error ("front: cannot connect to the broker at %s", config->broker);
        s_self_destroy (&self);
        return NULL;
    }
    if (config->stream) {
        s_follow_args_t audit = {config, PD_STREAM_AUDIT};
        s_follow_args_t escalations = {config, PD_STREAM_ESCALATIONS};
        self->follower = zactor_new (s_follower_actor, &audit);
        self->tickets = zactor_new (s_follower_actor, &escalations);
        if (!self->follower || !self->tickets) {
            s_self_destroy (&self);
            return NULL;
        }
    }

    zsock_t *router = zsock_new (ZMQ_ROUTER);
    if (!router) {
        s_self_destroy (&self);
        return NULL;
    }
    zsock_set_curve_server (router, 1);
    zsock_set_curve_secretkey (router, config->secret_key);
    zsock_set_curve_publickey (router, config->public_key);
    if (pd_zap_apply (self->zap, router) != 0) {
        zsys_error ("front: libzmq cannot enforce ZAP; refusing to serve appliances");
        zsock_destroy (&router);
        s_self_destroy (&self);
        return NULL;
    }
    zsock_set_maxmsgsize (router, PD_PROTO_MAX_MSG_SIZE);
    zsock_set_handshake_ivl (router, PD_FRONT_HANDSHAKE_MS);
    zsock_set_tcp_keepalive (router, 1);
    zsock_set_tcp_keepalive_idle (router, PD_FRONT_TCP_KEEPALIVE_IDLE);
    zsock_set_tcp_keepalive_intvl (router, PD_FRONT_TCP_KEEPALIVE_INTVL);
    zsock_set_tcp_keepalive_cnt (router, PD_FRONT_TCP_KEEPALIVE_CNT);
    zsock_set_tcp_maxrt (router, PD_FRONT_TCP_MAXRT_MS);
    zsock_set_sndhwm (router, PD_PROTO_HWM);
    zsock_set_rcvhwm (router, PD_PROTO_HWM);
    zsock_set_router_mandatory (router, 1);
    zsock_set_linger (router, 0);
    //  A reconnect storm (a restart with thousands of appliances) must not
    //  overflow the kernel's accept queue: SYN retries cost seconds
    zsock_set_backlog (router, PD_FRONT_BACKLOG);
    zsock_set_sndtimeo (router, 0);
    zsock_set_rcvtimeo (router, 0);
    self->router = router;
    if (s_bind (router, config->endpoint)) {
        s_self_destroy (&self);
        return NULL;
    }
    int64_t now = zclock_mono ();
    self->flush_at = now + self->flush_ms;
    self->sweep_at = now + S_SWEEP_MS;
    self->liveness_at = now + S_LIVENESS_MS;
    self->silent_ms = config->silent_ms > 0 ? config->silent_ms : PD_FRONT_SILENT_MS;
    return self;
}

//  ==========================================================================
//  The actor

static void
s_front_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_self_new (pipe, (const pd_front_config_t *)args);
    //  zactor_new's handshake, then the set-up result for pd_front_new
    zsock_signal (pipe, 0);
    zsock_signal (pipe, self ? 0 : 1);
    if (!self)
        return;

    while (!self->terminated) {
        zmq_pollitem_t items[7];
        int count = 0;
        items[count++] = (zmq_pollitem_t){zsock_resolve (self->pipe), 0, ZMQ_POLLIN, 0};
        items[count++] =
            (zmq_pollitem_t){zsock_resolve (pd_zap_events (self->zap)), 0, ZMQ_POLLIN, 0};
        items[count++] =
            (zmq_pollitem_t){zsock_resolve (pd_client_sock (self->client)), 0, ZMQ_POLLIN, 0};
        items[count++] = (zmq_pollitem_t){zsock_resolve (self->worker), 0, ZMQ_POLLIN, 0};
        if (self->router)
            items[count++] = (zmq_pollitem_t){zsock_resolve (self->router), 0, ZMQ_POLLIN, 0};
        int follower = -1, tickets = -1;
        if (self->follower) {
            follower = count;
            items[count++] = (zmq_pollitem_t){zsock_resolve (self->follower), 0, ZMQ_POLLIN, 0};
        }
        if (self->tickets) {
            tickets = count;
            items[count++] = (zmq_pollitem_t){zsock_resolve (self->tickets), 0, ZMQ_POLLIN, 0};
        }
        int64_t now = zclock_mono ();
        int64_t wake = self->flush_at < self->sweep_at ? self->flush_at : self->sweep_at;
        long timeout = wake > now ? (long)(wake - now) : 0;
        if (zmq_poll (items, count, timeout) == -1) {
            if (errno == EINTR)
                continue;
            break; //  the ZeroMQ context is terminated
        }
        if (items[0].revents & ZMQ_POLLIN)
            s_on_pipe (self);
        if (items[1].revents & ZMQ_POLLIN)
            s_on_zap (self);
        if (items[2].revents & ZMQ_POLLIN)
            s_on_client (self);
        if (items[3].revents & ZMQ_POLLIN)
            s_on_worker (self);
        if (self->router && (items[4].revents & ZMQ_POLLIN))
            s_on_router (self);
        if (follower >= 0 && (items[follower].revents & ZMQ_POLLIN))
            s_on_follower (self, self->follower);
        if (tickets >= 0 && (items[tickets].revents & ZMQ_POLLIN))
            s_on_follower (self, self->tickets);
        now = zclock_mono ();
        if (now >= self->flush_at) {
            s_flush (self);
            self->flush_at = now + self->flush_ms;
        }
        if (now >= self->sweep_at) {
            s_sweep (self, now);
            s_sweep_ending (self, now);
            s_sweep_tickets (self, now);
            self->sweep_at = now + S_SWEEP_MS;
        }
        if (now >= self->liveness_at) {
            s_sweep_liveness (self, now);
            self->liveness_at = now + S_LIVENESS_MS;
        }
    }
    s_self_destroy (&self);
}

//  ==========================================================================
//  Public API

struct _pd_front_t {
    zactor_t *actor; //  the front thread
};

pd_front_t *
pd_front_new (const pd_front_config_t *config)
{
    if (!config)
        return NULL;
    pd_front_t *self = (pd_front_t *)zmalloc (sizeof (pd_front_t));
    //  The actor reads config only before its handshake
    self->actor = zactor_new (s_front_actor, (void *)config);
    if (!self->actor || zsock_wait (self->actor) != 0) {
        zactor_destroy (&self->actor);
        free (self);
        return NULL;
    }
    return self;
}

void
pd_front_destroy (pd_front_t **self_p)
{
    assert (self_p);
    pd_front_t *self = *self_p;
    if (self) {
        zactor_destroy (&self->actor);
        free (self);
        *self_p = NULL;
    }
}

int
pd_front_stats (pd_front_t *self, pd_front_stats_t *stats)
{
    assert (self);
    assert (stats);
    //  The actor fills *stats before it signals: the pipe orders the access
    if (zsock_send (self->actor, "sp", "STATS", stats))
        return PD_E_UNAVAILABLE;
    return zsock_wait (self->actor) == 0 ? PD_OK : PD_E_UNAVAILABLE;
}
