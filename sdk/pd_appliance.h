/*  pd_appliance - the appliance SDK: talk to partnerd over CurveZMQ

    A small C library for appliance makers (CZMQ, libsodium via libzmq's
    CURVE, msgpack-c). An appliance:
      1. makes its keypair once (pd_appliance_keypair) and keeps it;
      2. connects with the server's public key (from the QR code or its
         config) (pd_appliance_new);
      3. claims its provision code once (pd_appliance_claim): the answer is
         what it writes to its config file (appliance and site ids, partner
         branding, endpoints);
      4. then loops on pd_appliance_poll: heartbeats go out when due, and
         commands from the server are handed to its handler, whose output
         goes back.
    The connection reconnects by itself (libzmq, with jittered back-off) if
    partnerd restarts. The wire protocol is PDA1, schemas/PROTOCOL.md.
*/
#ifndef PD_APPLIANCE_H_INCLUDED
#define PD_APPLIANCE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _pd_appliance_t pd_appliance_t;

#define PD_APPLIANCE_KEY_LEN 40 //  Z85 text of a CURVE key

//  Link settings (libzmq): reconnect back-off doubles from RECONNECT_MS up
//  to RECONNECT_MAX_MS, jittered; TCP keepalive notices a dead server
//  (schemas/PROTOCOL.md 16.1: no ZMTP heartbeats on the link).
#define PD_APPLIANCE_HEARTBEAT_MS        10000 //  default application heartbeat
#define PD_APPLIANCE_RECONNECT_MS        250
#define PD_APPLIANCE_RECONNECT_MAX_MS    8000
#define PD_APPLIANCE_TCP_KEEPALIVE_IDLE  30    //  s of silence before the first probe
#define PD_APPLIANCE_TCP_KEEPALIVE_INTVL 10    //  s between probes
#define PD_APPLIANCE_TCP_KEEPALIVE_CNT   3     //  unanswered probes: reconnect
#define PD_APPLIANCE_TCP_MAXRT_MS        60000 //  unacknowledged data this long: reconnect
#define PD_APPLIANCE_HANDSHAKE_MS        10000 //  ZMQ_HANDSHAKE_IVL
#define PD_APPLIANCE_QUEUE_MAX           64  //  commands (and ticket changes) held during a request
#define PD_APPLIANCE_SEEN_LINGER_MS      250 //  destroy waits this long for a `seen` just sent

typedef struct {
    const char *endpoint;          //  partnerd's appliance endpoint (tcp://host:port)
    const char *server_public_key; //  Z85
    const char *public_key;        //  this appliance's keypair, Z85
    const char *secret_key;
    int heartbeat_ms; //  0 = 10000
} pd_appliance_config_t;

//  What a successful claim gives (and what goes in the config file)
typedef struct {
    char appliance_id[65];
    char site_id[65];
    char site_name[201];
    char partner_id[65];
    char partner_name[201];
} pd_appliance_claimed_t;

//  A new keypair (Z85, NUL-terminated). 0 or -1.
int pd_appliance_keypair (char public_key[PD_APPLIANCE_KEY_LEN + 1],
                          char secret_key[PD_APPLIANCE_KEY_LEN + 1]);

//  Connect (asynchronously: the handshake completes in the background).
pd_appliance_t *pd_appliance_new (const pd_appliance_config_t *config);
void pd_appliance_destroy (pd_appliance_t **self_p);

//  Claim a provision code with this appliance's MAC (aa:bb:cc:dd:ee:ff).
//  Returns 0 with *claimed filled, or a negative partnerd status
//  (pd_status.h numbers: e.g. -8 not found, -22 gone (revoked/expired),
//  -10 conflict (already used), -14 rate limited, -17 timeout); `error`
//  (may be NULL) gets the server's message.
int pd_appliance_claim (pd_appliance_t *self, const char *code, const char *mac,
                        const char *hostname, int timeout_ms, pd_appliance_claimed_t *claimed,
                        char *error, size_t error_size);

//  Send a heartbeat now (status and software version may be NULL; they are
//  remembered and repeated by the heartbeats pd_appliance_poll sends).
//  Fire-and-forget: 0, or PD_E_BUSY (-21) if the send queue is full
//  (server unreachable for long), PD_E_INVALID_FIELD if a value is invalid.
int pd_appliance_heartbeat (pd_appliance_t *self, const char *status, const char *version);

//  Report state (like a heartbeat, but answered): 0, or a negative status
//  (-6 unauthorized for a key partnerd does not know, -17 timeout when no
//  answer came in timeout_ms, e.g. a refused or unreachable link). `detail`
//  may be NULL; `error` (may be NULL) gets the server's message.
int pd_appliance_report (pd_appliance_t *self, const char *status, const char *version,
                         const char *detail, int timeout_ms, char *error, size_t error_size);

//  An L3 escalation (schemas/PROTOCOL.md 16.3: `escalate`). Partner, site
//  and appliance are this link's; nothing in here can name others.
typedef struct {
    const char *priority;    //  P1..P4, or critical|high|medium|low (required)
    const char *title;       //  required, up to 200 bytes
    const char *details;     //  NULL, plain text, or the JSON text of an object
    const char *category;    //  NULL or a token (letters, digits, _.:-)
    const char *dedup_key;   //  NULL or up to 255 bytes: repeats count on one ticket
    const char *incident_id; //  NULL or the appliance's own incident id
    const char *host;        //  NULL or the host concerned
} pd_appliance_escalation_t;

//  What partnerd made of it
typedef struct {
    char id[65];              //  the ticket
    bool created;             //  this escalation opened it
    bool reopened;            //  it re-opened a ticket resolved within the window
    char status[17];          //  open, acknowledged
    int64_t occurrence_count; //  escalations counted on it so far
} pd_appliance_receipt_t;

//  Raise an escalation and wait for its ticket: 0 with *receipt filled
//  (may be NULL), or a negative status (-3 invalid field, -14 rate
//  limited, -17 timeout, ...) with the server's message in `error`.
int pd_appliance_escalate (pd_appliance_t *self, const pd_appliance_escalation_t *escalation,
                           int timeout_ms, pd_appliance_receipt_t *receipt, char *error,
                           size_t error_size);

//  A change of a ticket this appliance raised (acknowledged, resolved,
//  re-opened), so that its agent can close or re-open its local incident.
//  Strings may be NULL; they live for the handler's call only.
typedef struct {
    const char *id;          //  the ticket (pd_appliance_receipt_t.id)
    const char *status;      //  open, acknowledged or resolved: what it is now
    int64_t version;         //  grows with each change of the ticket
    int64_t at;              //  when (ms since the epoch)
    const char *by;          //  who ("user:<id>@<partner>", "appliance:<id>")
    const char *note;        //  the resolution note (resolved)
    const char *incident_id; //  as the escalation gave them
    const char *dedup_key;
} pd_appliance_ticket_t;

//  Take a ticket change: return 0 once it is handled (partnerd then
//  forgets it), or a negative status to have it again on the next
//  connection. A change may come more than once: keep the highest
//  `version` per ticket and ignore a lower one.
typedef int (pd_appliance_ticket_fn) (const pd_appliance_ticket_t *ticket, void *arg);

//  Have ticket changes handed to `handler` (in pd_appliance_poll); NULL
//  stops it (changes then wait on the server). Changes made while the
//  appliance was away come on its next connection.
void pd_appliance_on_ticket (pd_appliance_t *self, pd_appliance_ticket_fn *handler, void *arg);

//  Handle one command: set *output (malloc'd, may stay NULL) and return 0,
//  or a negative status.
typedef int (pd_appliance_command_fn) (const char *command, const char *payload, char **output,
                                       void *arg);

//  Wait up to timeout_ms (negative counts as 0; 0 = do what is ready now)
//  for something to do: answer commands with `handler` (NULL answers them
//  PD_E_UNAVAILABLE), hand ticket changes to the pd_appliance_on_ticket
//  handler, send heartbeats when due. Commands and ticket changes that
//  came during a claim, report or escalation are handled here. Returns the number of commands
//  handled (>= 0), -1 if interrupted (a signal, zsys_interrupted), or the
//  negative status of the server's `close` (pd_appliance_closed).
int pd_appliance_poll (pd_appliance_t *self, int timeout_ms, pd_appliance_command_fn *handler,
                       void *arg);

//  The ZeroMQ socket (a zsock_t *), for programs that poll many appliances:
//  when it is readable or pd_appliance_due_ms says 0, call
//  pd_appliance_poll (self, 0, ...). Do not read or write it directly.
void *pd_appliance_sock (pd_appliance_t *self);

//  Has the server closed the link for good? 0 if not; else the negative
//  status it gave (-29 appliance_revoked), with its message in `error`
//  (may be NULL). After a close the SDK no longer connects, and claim,
//  report, heartbeat and poll answer that status: the appliance should
//  stop, tell its operator, and not retry with this key.
int pd_appliance_closed (pd_appliance_t *self, char *error, size_t error_size);

//  Milliseconds until the next heartbeat is due (0: due now; INT_MAX once
//  the link is closed).
int pd_appliance_due_ms (pd_appliance_t *self);

//  Counters since pd_appliance_new
typedef struct {
    uint64_t heartbeats; //  heartbeats sent
    uint64_t commands;   //  commands answered
    uint64_t tickets;    //  ticket changes handled (answered `seen`)
    uint64_t ignored;    //  malformed or stale frames dropped
} pd_appliance_stats_t;
void pd_appliance_stats (pd_appliance_t *self, pd_appliance_stats_t *stats);

#ifdef __cplusplus
}
#endif
#endif
