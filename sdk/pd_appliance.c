/*  pd_appliance - the appliance SDK (see pd_appliance.h)

    One DEALER socket, a CURVE client, connected without ZMQ_IMMEDIATE: a
    message sent while the server is away waits in the socket's queue (up to
    the high-water mark; sends never block) and goes out on reconnection.
    Requests (claim, report) wait for the "reply" with their id, up to the
    caller's time-out; replies with other ids are stale and dropped.
    Commands that come during such a wait are queued (bounded) and handled
    by the next pd_appliance_poll. Anything malformed from the server is
    counted and dropped, never trusted.

    PDA1 frames (schemas/PROTOCOL.md):
      appliance -> server: "PDA1", type, request id (u64 BE), body
                           "result" adds status (u16 BE) before the body
      server -> appliance: "PDA1", "reply", request id, status, body
                           "PDA1", "command", request id, body
                           "PDA1", "close", 0, status, error body

    A `close` ends the link for good (the appliance was revoked): the SDK
    disconnects, so libzmq stops reconnecting to a server that would refuse
    the key, and every later call answers the close's status.
*/
#include "pd_appliance.h"

#include <czmq.h>
#include <jansson.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "pd_messages.h"
#include "pd_status.h"

#define S_SIGNATURE    PD_LINK_SIGNATURE
#define S_MAX_MSG_SIZE (PD_SCHEMA_MAX_INPUT + 4096)
#define S_ID_SIZE      8
#define S_STATUS_SIZE  2
#define S_TEXT_MAX     64 //  status / version text kept for heartbeats

struct _pd_appliance_t {
    zsock_t *sock; //  DEALER, CURVE client
    char public_key[PD_APPLIANCE_KEY_LEN + 1];
    int heartbeat_ms;                  //  interval of automatic heartbeats
    int64_t heartbeat_at;              //  zclock_mono time the next one is due
    uint64_t last_id;                  //  id of the last request sent
    char *status;                      //  last status text given (or NULL)
    char *version;                     //  last software version given (or NULL)
    zlist_t *commands;                 //  zmsg_t * received while waiting for a reply
    zlist_t *tickets;                  //  ...ticket changes, apart: they never crowd out commands
    int64_t seen_at;                   //  zclock_mono () of the last `seen` sent (0: none)
    pd_appliance_ticket_fn *on_ticket; //  ticket changes go to it (NULL: not answered)
    void *on_ticket_arg;
    pd_appliance_stats_t stats; //  counters
    char *endpoint;             //  connected to, until a close
    int closed;                 //  0, or the status of the server's close
    char closed_detail[256];    //  the close's detail
};

//  A parsed server message; frames point into the zmsg
typedef struct {
    bool command;   //  "command"
    bool ticket;    //  "ticket"
    bool close;     //  "close" (else "reply")
    uint64_t id;    //  request id
    int status;     //  reply: PD_OK or PD_E_*
    zframe_t *body; //  msgpack body
} s_incoming_t;

static bool
s_key_valid (const char *key)
{
    uint8_t binary[32];
    return key && strlen (key) == PD_APPLIANCE_KEY_LEN && zmq_z85_decode (binary, key) != NULL;
}

static void
s_copy (char *dest, size_t size, const char *text)
{
    if (dest && size)
        snprintf (dest, size, "%s", text ? text : "");
}

int
pd_appliance_keypair (char public_key[PD_APPLIANCE_KEY_LEN + 1],
                      char secret_key[PD_APPLIANCE_KEY_LEN + 1])
{
    if (!public_key || !secret_key)
        return -1;
    return zmq_curve_keypair (public_key, secret_key) == 0 ? 0 : -1;
}

pd_appliance_t *
pd_appliance_new (const pd_appliance_config_t *config)
{
    if (!config || !config->endpoint || !*config->endpoint ||
        !s_key_valid (config->server_public_key) || !s_key_valid (config->public_key) ||
        !s_key_valid (config->secret_key) || config->heartbeat_ms < 0)
        return NULL;
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return NULL;
    zsock_set_linger (sock, 0);
    zsock_set_immediate (sock, 0);
    zsock_set_sndtimeo (sock, 0);
    zsock_set_rcvtimeo (sock, 0);
    zsock_set_maxmsgsize (sock, S_MAX_MSG_SIZE);
    zsock_set_tcp_keepalive (sock, 1);
    zsock_set_tcp_keepalive_idle (sock, PD_APPLIANCE_TCP_KEEPALIVE_IDLE);
    zsock_set_tcp_keepalive_intvl (sock, PD_APPLIANCE_TCP_KEEPALIVE_INTVL);
    zsock_set_tcp_keepalive_cnt (sock, PD_APPLIANCE_TCP_KEEPALIVE_CNT);
    zsock_set_tcp_maxrt (sock, PD_APPLIANCE_TCP_MAXRT_MS);
    zsock_set_handshake_ivl (sock, PD_APPLIANCE_HANDSHAKE_MS);
    zsock_set_reconnect_ivl (sock, PD_APPLIANCE_RECONNECT_MS);
    zsock_set_reconnect_ivl_max (sock, PD_APPLIANCE_RECONNECT_MAX_MS);
    zsock_set_curve_serverkey (sock, config->server_public_key);
    zsock_set_curve_publickey (sock, config->public_key);
    zsock_set_curve_secretkey (sock, config->secret_key);
    if (zsock_connect (sock, "%s", config->endpoint) != 0) {
        zsock_destroy (&sock);
        return NULL;
    }
    pd_appliance_t *self = (pd_appliance_t *)zmalloc (sizeof (pd_appliance_t));
    self->sock = sock;
    s_copy (self->public_key, sizeof (self->public_key), config->public_key);
    self->heartbeat_ms = config->heartbeat_ms ? config->heartbeat_ms : PD_APPLIANCE_HEARTBEAT_MS;
    self->heartbeat_at = zclock_mono ();
    self->commands = zlist_new ();
    self->tickets = zlist_new ();
    self->endpoint = strdup (config->endpoint);
    return self;
}

void
pd_appliance_destroy (pd_appliance_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pd_appliance_t *self = *self_p;
    zmsg_t *msg;
    while ((msg = (zmsg_t *)zlist_pop (self->commands)))
        zmsg_destroy (&msg);
    while ((msg = (zmsg_t *)zlist_pop (self->tickets)))
        zmsg_destroy (&msg);
    zlist_destroy (&self->commands);
    zlist_destroy (&self->tickets);
    //  A `seen` just sent goes out rather than die with the socket (else
    //  the change comes again on the next connection)
    if (self->seen_at && zclock_mono () - self->seen_at < PD_APPLIANCE_SEEN_LINGER_MS * 4)
        zsock_set_linger (self->sock, PD_APPLIANCE_SEEN_LINGER_MS);
    zsock_destroy (&self->sock);
    free (self->endpoint);
    free (self->status);
    free (self->version);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Sending: frames go out with ZMQ_DONTWAIT; a full queue is PD_E_BUSY

static int
s_send_frames (pd_appliance_t *self, const char *type, uint64_t id, const int *status,
               const uint8_t *body, size_t body_size)
{
    void *handle = zsock_resolve (self->sock);
    uint8_t id_bytes[S_ID_SIZE];
    for (int i = 0; i < S_ID_SIZE; i++)
        id_bytes[i] = (uint8_t)(id >> (8 * (S_ID_SIZE - 1 - i)));
    //  The first frame decides: later frames of a message always queue
    if (zmq_send (handle, S_SIGNATURE, strlen (S_SIGNATURE), ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0)
        return errno == EAGAIN ? PD_E_BUSY : PD_E_INTERNAL;
    zmq_send (handle, type, strlen (type), ZMQ_DONTWAIT | ZMQ_SNDMORE);
    zmq_send (handle, id_bytes, sizeof (id_bytes), ZMQ_DONTWAIT | ZMQ_SNDMORE);
    if (status) {
        uint16_t wire = pd_status_to_wire (*status);
        uint8_t status_bytes[S_STATUS_SIZE] = {(uint8_t)(wire >> 8), (uint8_t)wire};
        zmq_send (handle, status_bytes, sizeof (status_bytes), ZMQ_DONTWAIT | ZMQ_SNDMORE);
    }
    zmq_send (handle, body, body_size, ZMQ_DONTWAIT);
    return PD_OK;
}

//  Validate and encode `record`, then send it
static int
s_send_record (pd_appliance_t *self, const char *type, uint64_t id, const int *status,
               const pd_schema_t *schema, const void *record, char *error, size_t error_size)
{
    pd_schema_error_t err = {0};
    int rc = pd_schema_validate (schema, record, &err);
    if (rc != PD_OK) {
        if (error && error_size)
            snprintf (error, error_size, "%s: %s", err.field, err.detail);
        return rc;
    }
    uint8_t *data = NULL;
    size_t size = 0;
    rc = pd_schema_encode (schema, record, &data, &size);
    if (rc == PD_OK)
        rc = s_send_frames (self, type, id, status, data, size);
    free (data);
    if (rc != PD_OK)
        s_copy (error, error_size, pd_status_title (rc));
    return rc;
}

//  --------------------------------------------------------------------------
//  Receiving

//  Check the frames of a server message; false if malformed
static bool
s_parse (zmsg_t *msg, s_incoming_t *incoming)
{
    memset (incoming, 0, sizeof (*incoming));
    size_t frames = zmsg_size (msg);
    zframe_t *frame = zmsg_first (msg);
    if (frames < 4 || !zframe_streq (frame, S_SIGNATURE))
        return false;
    zframe_t *type = zmsg_next (msg);
    const pd_link_type_t *link = pd_link_type_find (zframe_data (type), zframe_size (type));
    if (!link || link->direction != PD_LINK_DOWN || frames != link->frames)
        return false;
    incoming->command = streq (link->name, "command");
    incoming->ticket = streq (link->name, "ticket");
    incoming->close = streq (link->name, "close");
    zframe_t *id = zmsg_next (msg);
    if (zframe_size (id) != S_ID_SIZE)
        return false;
    for (int i = 0; i < S_ID_SIZE; i++)
        incoming->id = (incoming->id << 8) | zframe_data (id)[i];
    if (link->status) {
        zframe_t *status = zmsg_next (msg);
        if (zframe_size (status) != S_STATUS_SIZE)
            return false;
        const uint8_t *bytes = zframe_data (status);
        incoming->status = pd_status_from_wire ((uint16_t)((bytes[0] << 8) | bytes[1]));
    }
    incoming->body = zmsg_next (msg);
    return true;
}

//  The next message if one is ready now (caller destroys), else NULL
static zmsg_t *
s_recv_ready (pd_appliance_t *self)
{
    if (!(zsock_events (self->sock) & ZMQ_POLLIN))
        return NULL;
    return zmsg_recv (self->sock);
}

//  Wait up to `ms` for the socket to be readable: 1 readable, 0 not, -1
//  interrupted
static int
s_wait (pd_appliance_t *self, int64_t ms)
{
    if (zsys_interrupted)
        return -1;
    zmq_pollitem_t item = {zsock_resolve (self->sock), 0, ZMQ_POLLIN, 0};
    int rc = zmq_poll (&item, 1, (long)(ms < 0 ? 0 : ms));
    if (rc < 0)
        return -1;
    return (item.revents & ZMQ_POLLIN) ? 1 : 0;
}

//  Answer one command message (parsed already): its output, or an `error`
//  body when the handler failed or the command did not decode
static void
s_handle_command (pd_appliance_t *self, const s_incoming_t *incoming,
                  pd_appliance_command_fn *handler, void *arg)
{
    pd_appliance_command_t command = {0};
    char *output = NULL;
    int rc = pd_schema_decode (&pd_appliance_command_schema, zframe_data (incoming->body),
                               zframe_size (incoming->body), &command, NULL);
    if (rc == PD_OK)
        rc = handler ? handler (command.command, command.payload, &output, arg) : PD_E_UNAVAILABLE;
    if (rc > 0)
        rc = PD_E_INTERNAL; //  handlers return 0 or a negative status
    if (rc == PD_OK) {
        pd_command_result_t result = {0};
        result.output = output;
        int sent = s_send_record (self, "result", incoming->id, &rc, &pd_command_result_schema,
                                  &result, NULL, 0);
        if (sent == PD_E_INVALID_FIELD || sent == PD_E_TOO_LARGE)
            rc = PD_E_INTERNAL; //  output not valid text: answered as an error
    }
    if (rc != PD_OK) {
        pd_error_t error = {0};
        error.code = (char *)pd_status_code (rc);
        error.detail = (char *)pd_status_title (rc);
        s_send_record (self, "result", incoming->id, &rc, &pd_error_schema, &error, NULL, 0);
    }
    free (output);
    pd_schema_clear (&pd_appliance_command_schema, &command);
    self->stats.commands++;
}

//  Hand one ticket change (parsed already) to the application; `seen`
//  answers it once the handler took it (else it comes again, on the next
//  connection at the latest)
static void
s_handle_ticket (pd_appliance_t *self, const s_incoming_t *incoming)
{
    pd_ticket_update_t update = {0};
    if (pd_schema_decode (&pd_ticket_update_schema, zframe_data (incoming->body),
                          zframe_size (incoming->body), &update, NULL) != PD_OK) {
        self->stats.ignored++;
        return;
    }
    int rc = PD_E_UNAVAILABLE;
    if (self->on_ticket) {
        pd_appliance_ticket_t ticket = {update.id,          update.status,   update.version,
                                        update.at,          update.by,       update.note,
                                        update.incident_id, update.dedup_key};
        rc = self->on_ticket (&ticket, self->on_ticket_arg);
    }
    if (rc == PD_OK) {
        pd_ticket_seen_t seen = {0};
        seen.id = update.id;
        seen.version = update.version;
        PD_MARK (&seen, ticket_seen, version);
        if (s_send_record (self, "seen", ++self->last_id, NULL, &pd_ticket_seen_schema, &seen, NULL,
                           0) == PD_OK)
            self->seen_at = zclock_mono ();
        self->stats.tickets++;
    }
    pd_schema_clear (&pd_ticket_update_schema, &update);
}

void
pd_appliance_on_ticket (pd_appliance_t *self, pd_appliance_ticket_fn *handler, void *arg)
{
    if (!self)
        return;
    self->on_ticket = handler;
    self->on_ticket_arg = arg;
}

//  --------------------------------------------------------------------------
//  Requests: claim and report

static void s_on_close (pd_appliance_t *self, const s_incoming_t *incoming);

//  Send a request and wait for its reply. On PD_OK *body_msg holds the
//  reply message and *body its body frame (caller destroys the message).
static int
s_request (pd_appliance_t *self, const char *type, const pd_schema_t *schema, const void *record,
           int timeout_ms, zmsg_t **reply_msg, zframe_t **body, char *error, size_t error_size)
{
    *reply_msg = NULL;
    *body = NULL;
    if (self->closed) {
        s_copy (error, error_size, self->closed_detail);
        return self->closed;
    }
    uint64_t id = ++self->last_id;
    int rc = s_send_record (self, type, id, NULL, schema, record, error, error_size);
    if (rc != PD_OK)
        return rc;
    int64_t deadline = zclock_mono () + (timeout_ms > 0 ? timeout_ms : 0);
    while (true) {
        zmsg_t *msg;
        while ((msg = s_recv_ready (self))) {
            s_incoming_t incoming;
            if (!s_parse (msg, &incoming)) {
                self->stats.ignored++;
                zmsg_destroy (&msg);
            } else if (incoming.close) {
                s_on_close (self, &incoming);
                zmsg_destroy (&msg);
                s_copy (error, error_size, self->closed_detail);
                return self->closed;
            } else if (incoming.command || incoming.ticket) {
                zlist_t *queue = incoming.command ? self->commands : self->tickets;
                if (zlist_size (queue) < PD_APPLIANCE_QUEUE_MAX)
                    zlist_append (queue, msg);
                else {
                    self->stats.ignored++;
                    zmsg_destroy (&msg);
                }
            } else if (incoming.id != id) {
                self->stats.ignored++; //  a reply that came after its time-out
                zmsg_destroy (&msg);
            } else {
                *reply_msg = msg;
                *body = incoming.body;
                return incoming.status;
            }
        }
        int64_t left = deadline - zclock_mono ();
        if (left <= 0) {
            s_copy (error, error_size, "no answer from partnerd in time");
            return PD_E_TIMEOUT;
        }
        if (s_wait (self, left) < 0) {
            s_copy (error, error_size, "interrupted");
            return PD_E_TIMEOUT;
        }
    }
}

//  The server's message of a failed reply, into error
static void
s_error_detail (zframe_t *body, int status, char *error, size_t error_size)
{
    if (!error || !error_size)
        return;
    pd_error_t record = {0};
    if (body && pd_schema_decode (&pd_error_schema, zframe_data (body), zframe_size (body), &record,
                                  NULL) == PD_OK)
        s_copy (error, error_size, record.detail ? record.detail : record.code);
    else
        s_copy (error, error_size, pd_status_title (status));
    pd_schema_clear (&pd_error_schema, &record);
}

//  The server ended the link: remember why, and stop reconnecting
static void
s_on_close (pd_appliance_t *self, const s_incoming_t *incoming)
{
    if (self->closed)
        return;
    //  Never 0 nor -1 (poll's "interrupted"), whatever the server says
    self->closed = incoming->status < -1 ? incoming->status : PD_E_GONE;
    s_error_detail (incoming->body, self->closed, self->closed_detail,
                    sizeof (self->closed_detail));
    //  The detail is for an operator's screen: no control characters
    for (char *c = self->closed_detail; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7F)
            *c = '?';
    if (self->endpoint)
        zsock_disconnect (self->sock, "%s", self->endpoint);
}

int
pd_appliance_closed (pd_appliance_t *self, char *error, size_t error_size)
{
    if (!self)
        return PD_E_BAD_REQUEST;
    if (self->closed)
        s_copy (error, error_size, self->closed_detail);
    return self->closed;
}

int
pd_appliance_claim (pd_appliance_t *self, const char *code, const char *mac, const char *hostname,
                    int timeout_ms, pd_appliance_claimed_t *claimed, char *error, size_t error_size)
{
    if (!self || !code || !mac) {
        s_copy (error, error_size, "code and mac are required");
        return PD_E_MISSING_FIELD;
    }
    if (claimed)
        memset (claimed, 0, sizeof (*claimed));
    s_copy (error, error_size, "");
    pd_claim_t claim = {0};
    claim.code = (char *)code;
    claim.mac = (char *)mac;
    claim.public_key = self->public_key;
    claim.hostname = (char *)hostname;
    claim.software_version = self->version;
    zmsg_t *reply = NULL;
    zframe_t *body = NULL;
    int rc = s_request (self, "claim", &pd_claim_schema, &claim, timeout_ms, &reply, &body, error,
                        error_size);
    if (rc == PD_OK) {
        pd_appliance_setup_t config = {0};
        if (pd_schema_decode (&pd_appliance_setup_schema, zframe_data (body), zframe_size (body),
                              &config, NULL) != PD_OK) {
            s_copy (error, error_size, "malformed claim answer");
            rc = PD_E_PROTOCOL;
        } else if (claimed) {
            s_copy (claimed->appliance_id, sizeof (claimed->appliance_id), config.appliance_id);
            s_copy (claimed->site_id, sizeof (claimed->site_id), config.site_id);
            s_copy (claimed->site_name, sizeof (claimed->site_name), config.site_name);
            s_copy (claimed->partner_id, sizeof (claimed->partner_id), config.partner_id);
            s_copy (claimed->partner_name, sizeof (claimed->partner_name), config.partner_name);
        }
        pd_schema_clear (&pd_appliance_setup_schema, &config);
    } else if (reply)
        s_error_detail (body, rc, error, error_size);
    zmsg_destroy (&reply);
    return rc;
}

//  Remember status and version for later heartbeats (NULL keeps the old)
static void
s_remember (pd_appliance_t *self, const char *status, const char *version)
{
    if (status && strlen (status) <= S_TEXT_MAX) {
        free (self->status);
        self->status = strdup (status);
    }
    if (version && strlen (version) <= S_TEXT_MAX) {
        free (self->version);
        self->version = strdup (version);
    }
}

int
pd_appliance_report (pd_appliance_t *self, const char *status, const char *version,
                     const char *detail, int timeout_ms, char *error, size_t error_size)
{
    if (!self)
        return PD_E_BAD_REQUEST;
    s_copy (error, error_size, "");
    s_remember (self, status, version);
    pd_appliance_report_t report = {0};
    report.status = self->status;
    report.software_version = self->version;
    report.detail = (char *)detail;
    zmsg_t *reply = NULL;
    zframe_t *body = NULL;
    int rc = s_request (self, "report", &pd_appliance_report_schema, &report, timeout_ms, &reply,
                        &body, error, error_size);
    if (rc != PD_OK && reply)
        s_error_detail (body, rc, error, error_size);
    zmsg_destroy (&reply);
    return rc;
}

//  Details as the record keeps them: a JSON object's text as it is, any
//  other text as a JSON string (caller frees; NULL for none or no memory)
static char *
s_details_json (const char *details)
{
    if (!details)
        return NULL;
    json_t *value = json_loads (details, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object (value)) {
        json_decref (value);
        value = json_string (details);
    }
    char *text = value ? json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref (value);
    return text;
}

int
pd_appliance_escalate (pd_appliance_t *self, const pd_appliance_escalation_t *escalation,
                       int timeout_ms, pd_appliance_receipt_t *receipt, char *error,
                       size_t error_size)
{
    if (receipt)
        memset (receipt, 0, sizeof (*receipt));
    if (!self || !escalation || !escalation->priority || !escalation->title) {
        s_copy (error, error_size, "priority and title are required");
        return PD_E_MISSING_FIELD;
    }
    s_copy (error, error_size, "");
    pd_escalation_input_t input = {0};
    input.priority = (char *)escalation->priority;
    input.title = (char *)escalation->title;
    input.details = s_details_json (escalation->details);
    input.category = (char *)escalation->category;
    input.dedup_key = (char *)escalation->dedup_key;
    input.incident_id = (char *)escalation->incident_id;
    input.host = (char *)escalation->host;
    if (escalation->details && !input.details) {
        s_copy (error, error_size, "details not encoded");
        return PD_E_INVALID_FIELD;
    }
    zmsg_t *reply = NULL;
    zframe_t *body = NULL;
    int rc = s_request (self, "escalate", &pd_escalation_input_schema, &input, timeout_ms, &reply,
                        &body, error, error_size);
    free (input.details);
    if (rc == PD_OK) {
        pd_escalation_receipt_t answer = {0};
        if (pd_schema_decode (&pd_escalation_receipt_schema, zframe_data (body), zframe_size (body),
                              &answer, NULL) != PD_OK) {
            s_copy (error, error_size, "malformed escalation answer");
            rc = PD_E_PROTOCOL;
        } else if (receipt) {
            s_copy (receipt->id, sizeof (receipt->id), answer.id);
            s_copy (receipt->status, sizeof (receipt->status), answer.status);
            receipt->created = answer.created;
            receipt->reopened = answer.reopened;
            receipt->occurrence_count = answer.occurrence_count;
        }
        pd_schema_clear (&pd_escalation_receipt_schema, &answer);
    } else if (reply)
        s_error_detail (body, rc, error, error_size);
    zmsg_destroy (&reply);
    return rc;
}

int
pd_appliance_heartbeat (pd_appliance_t *self, const char *status, const char *version)
{
    if (!self)
        return PD_E_BAD_REQUEST;
    if (self->closed)
        return self->closed;
    s_remember (self, status, version);
    pd_appliance_report_t report = {0};
    report.status = self->status;
    report.software_version = self->version;
    int rc = s_send_record (self, "heartbeat", ++self->last_id, NULL, &pd_appliance_report_schema,
                            &report, NULL, 0);
    self->heartbeat_at = zclock_mono () + self->heartbeat_ms;
    if (rc == PD_OK)
        self->stats.heartbeats++;
    return rc;
}

//  --------------------------------------------------------------------------
//  The loop

int
pd_appliance_poll (pd_appliance_t *self, int timeout_ms, pd_appliance_command_fn *handler,
                   void *arg)
{
    if (!self)
        return -1;
    int handled = 0;
    int64_t deadline = zclock_mono () + (timeout_ms > 0 ? timeout_ms : 0);
    while (true) {
        //  Commands queued during a claim or report first
        zmsg_t *msg;
        while (!self->closed &&
               ((msg = (zmsg_t *)zlist_pop (self->commands)) ||
                (msg = (zmsg_t *)zlist_pop (self->tickets)) || (msg = s_recv_ready (self)))) {
            s_incoming_t incoming;
            bool parsed = s_parse (msg, &incoming);
            if (parsed && incoming.close)
                s_on_close (self, &incoming);
            else if (parsed && incoming.command) {
                s_handle_command (self, &incoming, handler, arg);
                handled++;
            } else if (parsed && incoming.ticket)
                s_handle_ticket (self, &incoming);
            else
                self->stats.ignored++; //  malformed, or a reply nobody waits for
            zmsg_destroy (&msg);
        }
        if (self->closed)
            return self->closed;
        int64_t now = zclock_mono ();
        if (now >= self->heartbeat_at)
            pd_appliance_heartbeat (self, NULL, NULL);
        if (now >= deadline)
            return handled;
        int64_t wait = deadline - now;
        if (self->heartbeat_at - now < wait)
            wait = self->heartbeat_at - now;
        if (s_wait (self, wait) < 0)
            return -1;
    }
}

void *
pd_appliance_sock (pd_appliance_t *self)
{
    return self ? self->sock : NULL;
}

int
pd_appliance_due_ms (pd_appliance_t *self)
{
    if (!self)
        return 0;
    if (self->closed)
        return INT_MAX; //  nothing is ever due on a closed link
    int64_t left = self->heartbeat_at - zclock_mono ();
    return left > 0 ? (int)left : 0;
}

void
pd_appliance_stats (pd_appliance_t *self, pd_appliance_stats_t *stats)
{
    if (self && stats)
        *stats = self->stats;
}
