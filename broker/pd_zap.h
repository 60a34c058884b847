/*  pd_zap - the process's one ZAP handler (RFC 27)

    libzmq asks one handler per context, bound at inproc://zeromq.zap.01,
    about every handshake of a CURVE server socket, and CZMQ has one global
    context: so every CURVE server of the process (the appliance front, the
    broker's services and stream sockets) shares this handler. Each owner
    registers a ZAP domain, sets it on its socket (ZMQ_ZAP_DOMAIN) and gives
    a verdict callback: a client key is accepted with a User-Id, or refused.
    A handshake in a domain nobody registered is refused, and so is any
    mechanism but CURVE.

    The first registration starts the handler thread, the last one stops
    it. Each registration has an events socket, which the owner polls in
    its own thread (the thread that called pd_zap_new):
      PD_ZAP_REFUSED   a handshake in its domain was refused;
      PD_ZAP_STOPPED   the handler stopped: close the CURVE socket now, since
                       libzmq admits any client when no handler answers
                       (fail closed).
    Register (pd_zap_new) before binding the CURVE socket.
*/
#ifndef PD_ZAP_H_INCLUDED
#define PD_ZAP_H_INCLUDED

#include <czmq.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _pd_zap_t pd_zap_t;

#define PD_ZAP_USER_ID_MAX 256 //  bytes of a User-Id, with its NUL
#define PD_ZAP_DOMAIN_MAX  64  //  bytes of a domain name
//  ZMQ_ZAP_ENFORCE_DOMAIN's number (zmq.h declares it under ZMQ_BUILD_DRAFT_API)
#define PD_ZAP_ENFORCE_DOMAIN 93

//  Events (pd_zap_recv)
#define PD_ZAP_REFUSED 1
#define PD_ZAP_STOPPED 2

//  Accept `public_key` (Z85): return PD_OK with a non-empty User-Id in
//  user_id (size bytes). Any other return refuses the handshake. Called in
//  the handler's thread, one call at a time, never after pd_zap_destroy
//  of its registration returned.
typedef int (pd_zap_verdict_fn) (const char *public_key, char *user_id, size_t size, void *arg);

//  Register `domain` (1..PD_ZAP_DOMAIN_MAX bytes) with its verdict. Starts
//  the handler if it is the first registration. NULL if the domain is taken,
//  the handler cannot bind (another ZAP handler in the context), or it has
//  stopped and registrations of the stopped handler remain.
pd_zap_t *pd_zap_new (const char *domain, pd_zap_verdict_fn *verdict, void *arg);

//  Unregister (no verdict call for it after this returns), null *self_p.
//  Stops the handler with the last registration. Idempotent.
void pd_zap_destroy (pd_zap_t **self_p);

//  The domain registered, for ZMQ_ZAP_DOMAIN.
const char *pd_zap_domain (pd_zap_t *self);

//  Make a CURVE server socket of self's domain refuse every handshake that
//  no ZAP handler answers (libzmq's ZMQ_ZAP_ENFORCE_DOMAIN, a draft option
//  that Debian's libzmq 4.3.4 serves): without it libzmq admits any client
//  while no handler is bound. Sets the domain too. 0, or -1 if libzmq
//  refuses the option (then the socket must not be used: fail closed).
int pd_zap_apply (pd_zap_t *self, zsock_t *sock);

//  The events socket to poll (readable when an event waits).
zsock_t *pd_zap_events (pd_zap_t *self);

//  Read one waiting event without blocking: PD_ZAP_REFUSED, PD_ZAP_STOPPED,
//  or 0 if none waits.
int pd_zap_recv (pd_zap_t *self);

#ifdef __cplusplus
}
#endif
#endif
