/*  pd_test_peer - a raw PDP/1 peer, as an attacker writes one

    A DEALER with CURVE client credentials that sends READY for a service
    by hand, and a way to read what the broker answers. Test code only.
*/
#ifndef PD_TEST_PEER_H_INCLUDED
#define PD_TEST_PEER_H_INCLUDED

#include <czmq.h>

#include "pd_keys.h"

//  Connect to `endpoint` with `keys` (NULL: NULL security) and send READY
//  for `service` (queued until the handshake is done: never, if it is
//  refused). NULL if the socket cannot be made.
zsock_t *pd_test_peer_ready (const char *endpoint, const pd_keys_pair_t *keys, const char *service);

//  The command of the next PDP/1 message within timeout_ms, -1 if none.
int pd_test_peer_command (zsock_t *sock, int timeout_ms);

#endif
