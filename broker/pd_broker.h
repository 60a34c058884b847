/*  pd_broker - the service broker

    Workers (actors) connect with a DEALER and send READY for one service;
    clients (the gateway, tools) connect with a DEALER and send REQUESTs
    naming a service, each with a request id and a timeout. The broker:
    - load-balances requests over the live workers of the service, giving
      each worker at most its announced credit of requests at once and the
      next request to the least-loaded worker (ties: the longest idle);
    - queues requests when every worker is busy or none is registered, up to
      PD_PROTO_QUEUE_MAX per service (beyond: PD_E_BUSY at once);
    - fails every request that has no reply by its deadline: PD_E_UNAVAILABLE
      if the service has no live worker at that moment, else PD_E_TIMEOUT;
    - heartbeats workers; a worker silent for liveness x heartbeat is expired
      and its in-flight requests fail with PD_E_UNAVAILABLE at once;
    - forwards events that workers PUBLISH to the stream socket (XPUB);
    - answers its built-in services $broker.ping and $broker.stats;
    - with cluster keys (config.cluster), admits on its services and stream
      sockets only CURVE clients whose key is in the allow-list, and checks
      every READY, REQUEST and PUBLISH against the sender's role
      (pd_keys.h): a refused READY gets DISCONNECT, a refused REQUEST
      PD_E_FORBIDDEN, a refused PUBLISH is dropped; all are counted.
      Peers on inproc:// endpoints have no handshake and no key: they are
      threads of this process, and trusted with every right.
    All sockets have high-water marks and ZMQ_MAXMSGSIZE; nothing it holds
    grows without bound. Messages that are not PDP/1 are dropped and counted.

    The broker runs in its own thread (a zactor). Its pipe takes "$TERM".
*/
#ifndef PD_BROKER_H_INCLUDED
#define PD_BROKER_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

#include "pd_keys.h"
#include "pd_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _pd_broker_t pd_broker_t;

//  ZMQ_HANDSHAKE_IVL of the CURVE sockets: a peer that does not finish its
//  handshake in time is dropped
#define PD_BROKER_HANDSHAKE_MS 5000

//  Services known at once (with workers or queued requests); a request
//  naming a new service beyond this is answered PD_E_UNAVAILABLE at once.
#define PD_BROKER_MAX_SERVICES 1024

typedef struct {
    const char *endpoints;            //  services socket binds, comma-separated
                                      //  ("tcp://127.0.0.1:5555,inproc://pd-broker")
    const char *stream_endpoints;     //  stream (XPUB) binds, comma-separated; NULL = none
    int heartbeat_ms;                 //  0 = PD_PROTO_HEARTBEAT_MS
    int liveness;                     //  0 = PD_PROTO_LIVENESS
    size_t queue_max;                 //  0 = PD_PROTO_QUEUE_MAX
    const pd_keys_cluster_t *cluster; //  NULL: NULL security (inproc, private ipc).
                                      //  Else both sockets are CURVE servers with
                                      //  this keypair, admitting only allow-listed
                                      //  keys, each as its role permits. Copied.
} pd_broker_config_t;

typedef struct {
    uint64_t requests;        //  requests received from clients
    uint64_t replies;         //  replies forwarded to clients
    uint64_t timeouts;        //  requests failed on their deadline
    uint64_t unavailable;     //  requests failed for lack of a live worker
    uint64_t busy;            //  requests refused on a full queue
    uint64_t expired_workers; //  workers expired for silence
    uint64_t dropped;         //  malformed or unroutable messages dropped
    uint64_t published;       //  events forwarded to the stream socket
    uint64_t refused;         //  handshakes and messages the cluster's keys do not permit
    uint64_t workers;         //  live workers now
    uint64_t queued;          //  requests waiting now
} pd_broker_stats_t;

//  Start a broker: binds every endpoint, then returns. NULL (and a log
//  line) if a bind fails.
pd_broker_t *pd_broker_new (const pd_broker_config_t *config);

//  Stop the broker and null *self_p. Idempotent. Workers get DISCONNECT and
//  open requests PD_E_UNAVAILABLE, best effort (sockets linger 0).
void pd_broker_destroy (pd_broker_t **self_p);

//  Snapshot of the counters (asks the broker thread). Call it from the
//  thread that made the broker. PD_OK, or PD_E_UNAVAILABLE if the broker
//  thread is gone.
int pd_broker_stats (pd_broker_t *self, pd_broker_stats_t *stats);

#ifdef __cplusplus
}
#endif
#endif
