/*  pd_test_zmtp - a ZMTP 3.0 CURVE client written by hand, for tests

    libzmq always sends the Socket-Type property in its handshake; an
    attacker need not. This client speaks ZMTP 3.0 (RFC 23) with the CURVE
    mechanism (RFC 26) over one TCP connection with libsodium's box, and can
    leave Socket-Type out, so tests can check that nothing trusts a peer
    for what it omits.
*/
#ifndef PD_TEST_ZMTP_H_INCLUDED
#define PD_TEST_ZMTP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _pd_test_zmtp_t pd_test_zmtp_t;

#define PD_TEST_ZMTP_MAX_PARTS 8
#define PD_TEST_ZMTP_MAX_PART  4000 //  bytes of one part, sent or received

//  Connect to 127.0.0.1:port and do the CURVE handshake with the client
//  keypair and the server's public key (Z85), as a DEALER; with_socket_type
//  false leaves the Socket-Type property out. NULL if the server refused
//  the handshake (ERROR) or the connection failed.
pd_test_zmtp_t *pd_test_zmtp_new (int port, const char *public_key, const char *secret_key,
                                  const char *server_key, bool with_socket_type);
void pd_test_zmtp_destroy (pd_test_zmtp_t **self_p);

//  Send one message of `count` parts. 0 or -1.
int pd_test_zmtp_send (pd_test_zmtp_t *self, const void *const parts[], const size_t sizes[],
                       size_t count);

//  Receive one message within timeout_ms: its parts into parts[i] (each
//  PD_TEST_ZMTP_MAX_PART bytes) and sizes[i]. The number of parts, or -1
//  (time-out, closed, malformed).
int pd_test_zmtp_recv (pd_test_zmtp_t *self, uint8_t parts[][PD_TEST_ZMTP_MAX_PART], size_t sizes[],
                       size_t max, int timeout_ms);

#endif
