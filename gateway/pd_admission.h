/*  pd_admission - who may hold one of the gateway's connections

    CivetWeb gives every connection a worker thread of its own from the
    moment it is accepted until it closes, and has no hook at accept time: a
    few hundred idle or slow connections would hold every worker, and
    /healthz would wait behind them. Admission decides at accept time, in
    CivetWeb's accepting thread and before any worker is involved:
    - at most max_total connections are held at once (the gateway sizes
      CivetWeb's worker pool to this, so an admitted connection never waits
      for a worker);
    - at most max_per_client from one client address (the TCP peer), except
      from the trusted proxies (they multiplex many clients and do their own
      limiting);
    A connection beyond either limit is answered at once with a 503
    problem+json (Retry-After) and closed.

    Deadlines: CivetWeb bounds the time of a request's head, but a read of
    its body waits as long as bytes keep trickling in. The gateway sets a
    deadline on a connection while it reads a body; a watchdog thread shuts
    the reading side of an overdue connection (shutdown SHUT_RD), which
    ends the blocked read at once; the gateway then answers 408 and the
    connection closes.

    How: this module defines accept(2). The program's own definition
    interposes on libc's for CivetWeb's shared library (it calls accept(2)
    for its listening sockets, ELF symbol interposition), and forwards
    every call to accept4(2); only listening sockets registered with
    pd_admission_watch are subject to admission, every other caller of
    accept(2) is unaffected. tests/integration/test_http_edges holds
    connections beyond the limits, so a CivetWeb that stopped calling
    accept(2) would fail it rather than go unnoticed.
*/
#ifndef PD_ADMISSION_H_INCLUDED
#define PD_ADMISSION_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pd_netlist.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _pd_admission_t pd_admission_t;

//  Bytes of a numeric address: CivetWeb's remote_addr, which getnameinfo
//  fills (so both sides write, or fail to write, the same text)
#define PD_ADMISSION_ADDRESS_MAX 48

//  One connection: the client's numeric address and port, and the port of
//  the listening socket it came to (CivetWeb's remote_addr, remote_port,
//  server_port)
typedef struct {
    const char *address;
    int port;
    int local_port;
} pd_admission_peer_t;

typedef struct {
    size_t max_total;            //  connections held at once, > 0
    size_t max_per_client;       //  from one address, > 0
    const pd_netlist_t *trusted; //  addresses exempt from max_per_client (may be NULL;
                                 //  borrowed: must outlive the admission)
} pd_admission_config_t;

typedef struct {
    uint64_t admitted;       //  connections admitted so far
    uint64_t refused_total;  //  refused: max_total held
    uint64_t refused_client; //  refused: max_per_client held by that address
    uint64_t open;           //  held now
    uint64_t cut;            //  reads cut at their deadline
} pd_admission_stats_t;

//  NULL if a limit is 0 or memory is short.
pd_admission_t *pd_admission_new (const pd_admission_config_t *config);

//  Stops watching (see below) and frees; nulls *self_p. The listening socket
//  must be closed first (mg_stop).
void pd_admission_destroy (pd_admission_t **self_p);

//  Apply admission to the connections accepted on a listening socket
//  bound to TCP `port`; call once per listening socket (two sockets on one
//  port, two calls). 0, or -1 when the process already watches as many
//  listening sockets as it can.
int pd_admission_watch (pd_admission_t *self, int port);

//  Decide on a new connection `fd`: true, and it counts as held until
//  pd_admission_release; false if a limit is reached (counted as refused).
//  The per-client limit counts an IPv4 address, or an IPv6 /64 (one
//  subscriber's usual allocation). Thread-safe.
bool pd_admission_admit (pd_admission_t *self, const pd_admission_peer_t *peer, int fd);

//  The connection must be done reading by zclock_mono () time deadline_ms,
//  or its reading side is shut. PD_OK, or -1 if it is no admitted
//  connection. Thread-safe.
int pd_admission_deadline_set (pd_admission_t *self, const pd_admission_peer_t *peer,
                               int64_t deadline_ms);

//  Clear that deadline. true if it had passed and the reading side was
//  shut (the request is then answered 408). Thread-safe.
bool pd_admission_deadline_clear (pd_admission_t *self, const pd_admission_peer_t *peer);

//  The connection closed. Connections never admitted (accepted before
//  pd_admission_watch) are ignored. Thread-safe.
void pd_admission_release (pd_admission_t *self, const pd_admission_peer_t *peer);

void pd_admission_stats (pd_admission_t *self, pd_admission_stats_t *stats);

#ifdef __cplusplus
}
#endif
#endif
