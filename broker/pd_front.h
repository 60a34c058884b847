/*  pd_front - the broker's appliance front: CurveZMQ link to appliances

    A ROUTER socket that is a CURVE server, with a ZAP handler started
    before it binds (fail closed: if the handler stops, the socket closes).
    The ZAP handler asks `authorize` about each client key: known active
    appliances are admitted with their appliance id as User-Id; unknown
    keys are admitted with User-Id "key:<Z85 public key>" and may only send
    a claim; revoked keys are refused at the handshake. An appliance is
    always identified by the User-Id of its messages (ZAP's verdict), never
    by an id in a message body.

    Upstream: a claim becomes a "claim.link" request to the claim service
    (principal {kind appliance, appliance_key}), its answer goes back to the
    appliance, and from then on that connection is the appliance's.
    Heartbeats are gathered in memory and sent every flush_ms as one
    "appliance.heartbeats" request (one store transaction), not one write
    each; an appliance's heartbeat that changes nothing (same status and
    software version as the last one sent) is sent at most every
    persist_ms. Reports become "appliance.status".
    Downstream: the front serves service "appliances" (message
    appliance.command) as a broker worker: it sends the command to the
    connected appliance and answers with its result, or PD_E_UNAVAILABLE
    if that appliance is not connected.
    Link ends: the front follows the audit stream; an event of
    PD_LINK_ENDING_EVENTS (a revocation) that the store confirms ends its
    subject's live link at once: a PDA1 `close` with the reason, no
    command any more, nothing it sends read; the appliance disconnects
    (libzmq has no call to drop one ROUTER peer) and its reconnections are
    refused at ZAP.

    The wire protocol (PDA1) is specified in schemas/PROTOCOL.md. The front
    runs in its own thread (zactor); it knows no store.
*/
#ifndef PD_FRONT_H_INCLUDED
#define PD_FRONT_H_INCLUDED

#include <stddef.h>

#include "pd_keys.h"
#include "pd_messages.h"
#include "pd_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _pd_front_t pd_front_t;

#define PD_FRONT_SIGNATURE    PD_LINK_SIGNATURE //  schemas/pd_messages.h
#define PD_FRONT_USER_KEY     "key:"            //  User-Id prefix of unclaimed keys
#define PD_FRONT_BACKLOG      4096              //  ZMQ_BACKLOG: connections waiting to be accepted
#define PD_FRONT_HANDSHAKE_MS 5000              //  ZMQ_HANDSHAKE_IVL
//  Dead peers are found by TCP keepalive, not ZMTP heartbeats: appliances
//  send a PDA1 heartbeat every PD_FRONT_HEARTBEAT_MS anyway, and libzmq
//  4.3's ZMTP heartbeat timers cost O(n) each (O(n^2) for n connections).
//  A peer that stops answering is dropped after IDLE + CNT x INTVL seconds.
#define PD_FRONT_TCP_KEEPALIVE_IDLE  30 //  s of silence before the first probe
#define PD_FRONT_TCP_KEEPALIVE_INTVL 10 //  s between probes
#define PD_FRONT_TCP_KEEPALIVE_CNT   3  //  unanswered probes that drop the peer
//  Keepalive probes are not sent while data is unacknowledged (a command
//  to a vanished appliance): then unacknowledged data for this long drops
//  the peer (ZMQ_TCP_MAXRT, TCP_USER_TIMEOUT), not Linux's ~15 minutes
#define PD_FRONT_TCP_MAXRT_MS   60000
#define PD_FRONT_ZAP_DOMAIN     "partnerd"       //  ZMQ_ZAP_DOMAIN of the CURVE socket
#define PD_FRONT_SERVICE        "appliances"     //  the broker service the front serves
#define PD_FRONT_FLUSH_MS       1000             //  default heartbeat flush interval
#define PD_FRONT_FLUSH_MAX      2000             //  heartbeats per appliance.heartbeats request
#define PD_FRONT_REQUEST_MS     5000             //  deadline of a claim or report upstream
#define PD_FRONT_COMMAND_CREDIT 100              //  appliance.command requests in flight
#define PD_FRONT_MAX_TYPE       PD_LINK_TYPE_MAX //  bytes of a PDA1 type frame
#define PD_FRONT_HEARTBEAT_MS   10000            //  how often appliances SHOULD heartbeat
#define PD_FRONT_SILENT_MS      30000            //  not heard from: not connected (3 heartbeats)

//  One front per process: its ZAP domain is registered once at the
//  process's ZAP handler (pd_zap), shared with the broker's CURVE sockets.

//  PD_OK + appliance id; PD_E_NOT_FOUND (unknown: claim only);
//  PD_E_FORBIDDEN (refuse). Called from the ZAP handler's thread.
typedef int (pd_front_authorize_fn) (const char *public_key, char *appliance_id, size_t size,
                                     void *arg);

//  What a command's appliance is: PD_OK (active), PD_E_GONE (revoked),
//  PD_E_NOT_FOUND (none). Called from the front's thread, per command.
typedef int (pd_front_state_fn) (const char *appliance_id, void *arg);

//  Who calls appliance.command: resolve the header's credential into its
//  principal (the header may be changed) and check its access, as the
//  actor runtime does (pd_caller). PD_OK, or the refusal's status with err's
//  field and detail and *retry_after (seconds, 0: none). Called per command
//  from the front's worker thread (it may write: failure counts), never
//  from the thread that serves the link.
typedef int (pd_front_caller_fn) (pd_header_t *header, pd_schema_error_t *err, int *retry_after,
                                  void *arg);

typedef struct {
    const char *endpoint;   //  CURVE ROUTER bind (comma-separated)
    const char *broker;     //  broker services endpoint
    const char *public_key; //  server keypair, Z85
    const char *secret_key;
    pd_front_authorize_fn *authorize;
    void *authorize_arg;
    pd_front_state_fn *appliance_state; //  NULL: every appliance counts as active
    void *appliance_state_arg;
    pd_front_caller_fn *caller; //  NULL: commands with a credential are refused
    void *caller_arg;
    int flush_ms;       //  heartbeat coalescing; 0 = 1000
    int persist_ms;     //  a heartbeat that changes nothing goes upstream at most this often
                        //  per appliance; 0 = every flush
    const char *stream; //  the broker's event stream (XPUB) endpoint, followed for link
                        //  ends; NULL = none (revocations end links at reconnection only)
    int silent_ms;      //  an appliance not heard from this long is not connected;
                        //  0 = PD_FRONT_SILENT_MS
    //  CURVE credentials for the broker (role front); NULL = none (inproc,
    //  or a private ipc broker). Copied.
    const pd_keys_pair_t *broker_keys;
} pd_front_config_t;

//  Start: ZAP handler first, then bind. NULL if anything fails.
pd_front_t *pd_front_new (const pd_front_config_t *config);
void pd_front_destroy (pd_front_t **self_p);

//  Counters (for metrics and benchmarks)
typedef struct {
    uint64_t connected;  //  appliances heard from within silent_ms
    uint64_t heartbeats; //  heartbeats received
    uint64_t flushes;    //  appliance.heartbeats requests sent
    uint64_t claims;     //  claims forwarded
    uint64_t refused;    //  messages refused (unknown key, bad frames, a closed link)
    uint64_t closed;     //  links the front closed (PD_LINK_ENDING_EVENTS)
    uint64_t tickets;    //  ticket changes sent down links
} pd_front_stats_t;
int pd_front_stats (pd_front_t *self, pd_front_stats_t *stats);

#ifdef __cplusplus
}
#endif
#endif
