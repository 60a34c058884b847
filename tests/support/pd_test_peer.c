/*  pd_test_peer - a raw PDP/1 peer (see pd_test_peer.h) */
#include "pd_test_peer.h"

#include "pd_proto.h"

zsock_t *
pd_test_peer_ready (const char *endpoint, const pd_keys_pair_t *keys, const char *service)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return NULL;
    if (keys)
        pd_keys_pair_apply (keys, sock);
    zsock_set_linger (sock, 0);
    zmsg_t *msg = pd_proto_msg (PD_PDP_READY);
    zmsg_addstr (msg, service);
    zmsg_append (msg, &(zframe_t *){pd_proto_u16 (1)});
    if (zsock_connect (sock, "%s", endpoint) || zmsg_send (&msg, sock)) {
        zmsg_destroy (&msg);
        zsock_destroy (&sock);
    }
    return sock;
}

int
pd_test_peer_command (zsock_t *sock, int timeout_ms)
{
    zpoller_t *poller = zpoller_new (sock, NULL);
    zmsg_t *msg = zpoller_wait (poller, timeout_ms) ? zmsg_recv (sock) : NULL;
    zpoller_destroy (&poller);
    int command = msg ? pd_proto_take_command (msg) : -1;
    zmsg_destroy (&msg);
    return command;
}
