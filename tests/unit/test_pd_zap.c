/*  test_pd_zap - the process's one ZAP handler, shared by domains

    Real CURVE over ipc in a temporary directory: ROUTER servers in their
    domains, DEALER clients. A handshake refused is seen on the server's
    socket monitor (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) and, for a registered
    domain, as a PD_ZAP_REFUSED event: the tests wait for those signals.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pd_status.h"
#include "pd_zap.h"
#include "pd_test_dir.h"

#define S_WAIT_MS 5000

static zcert_t *s_server;  //  the servers' keypair
static zcert_t *s_alice;   //  a client every verdict here accepts
static zcert_t *s_mallory; //  a client domain "a" refuses
static char s_dir[64];
static int s_monitors; //  names monitor endpoints

//  Domain "a": alice is "alice", anybody else refused
static int
s_verdict_a (const char *public_key, char *user_id, size_t size, void *arg)
{
    if (strcmp (public_key, zcert_public_txt (s_alice)))
        return PD_E_FORBIDDEN;
    snprintf (user_id, size, "alice@%s", (const char *)arg);
    return PD_OK;
}

//  A CURVE server in `domain` on ipc, with a monitor for failed handshakes
static zsock_t *
s_server_new (const char *domain, const char *name, char *endpoint, zsock_t **monitor)
{
    zsock_t *sock = zsock_new (ZMQ_ROUTER);
    assert_non_null (sock);
    zcert_apply (s_server, sock);
    zsock_set_curve_server (sock, 1);
    zsock_set_zap_domain (sock, domain);
    zsock_set_linger (sock, 0);
    char address[64];
    snprintf (address, sizeof (address), "inproc://test-zap-monitor-%d", ++s_monitors);
    assert_int_equal (
        zmq_socket_monitor (zsock_resolve (sock), address, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH), 0);
    *monitor = zsock_new (ZMQ_PAIR);
    assert_int_equal (zsock_connect (*monitor, "%s", address), 0);
    snprintf (endpoint, 128, "ipc://%s/%s.ipc", s_dir, name);
    assert_int_equal (zsock_bind (sock, "%s", endpoint), 0);
    return sock;
}

static zsock_t *
s_client_new (zcert_t *cert, const char *endpoint)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    assert_non_null (sock);
    zcert_apply (cert, sock);
    zsock_set_curve_serverkey (sock, zcert_public_txt (s_server));
    zsock_set_linger (sock, 0);
    assert_int_equal (zsock_connect (sock, "%s", endpoint), 0);
    zstr_send (sock, "hello");
    return sock;
}

static bool
s_readable (zsock_t *sock, int timeout_ms)
{
    zmq_pollitem_t item = {zsock_resolve (sock), 0, ZMQ_POLLIN, 0};
    return zmq_poll (&item, 1, timeout_ms) == 1;
}

//  The User-Id of the next message on a server, NULL if none came
static char *
s_user_id (zsock_t *server, int timeout_ms)
{
    if (!s_readable (server, timeout_ms))
        return NULL;
    zmsg_t *msg = zmsg_recv (server);
    zmsg_first (msg);
    const char *user = zframe_meta (zmsg_next (msg), "User-Id");
    char *copy = user ? strdup (user) : NULL;
    zmsg_destroy (&msg);
    return copy;
}

//  One handshake of `cert` with a server in `domain`: the User-Id of the
//  connection (caller frees), or NULL if the server's monitor saw the
//  handshake fail
static char *
s_handshake (const char *domain, zcert_t *cert)
{
    char endpoint[128];
    zsock_t *monitor;
    zsock_t *server = s_server_new (domain, domain, endpoint, &monitor);
    zsock_t *client = s_client_new (cert, endpoint);
    zmq_pollitem_t items[] = {{zsock_resolve (server), 0, ZMQ_POLLIN, 0},
                              {zsock_resolve (monitor), 0, ZMQ_POLLIN, 0}};
    assert_true (zmq_poll (items, 2, S_WAIT_MS) >= 1);
    char *user = (items[0].revents & ZMQ_POLLIN) ? s_user_id (server, 0) : NULL;
    assert_true (user || (items[1].revents & ZMQ_POLLIN));
    zsock_destroy (&client);
    zsock_destroy (&monitor);
    zsock_destroy (&server);
    return user;
}

static void
s_assert_accepted (const char *domain, zcert_t *cert, const char *expected)
{
    char *user = s_handshake (domain, cert);
    assert_non_null (user);
    assert_string_equal (user, expected);
    free (user);
}

//  --------------------------------------------------------------------------

//  Usage: two owners, two domains, one handler; each verdict for its own
static void
test_two_domains (void **state)
{
    pd_zap_t *a = pd_zap_new ("a", s_verdict_a, "a");
    pd_zap_t *b = pd_zap_new ("b", s_verdict_a, "b");
    assert_non_null (a);
    assert_non_null (b);
    assert_string_equal (pd_zap_domain (a), "a");
    assert_null (pd_zap_new ("a", s_verdict_a, NULL)); //  taken
    s_assert_accepted ("a", s_alice, "alice@a");
    s_assert_accepted ("b", s_alice, "alice@b");

    //  mallory is refused in a: the owner of a hears of it, b does not
    assert_null (s_handshake ("a", s_mallory));
    assert_true (s_readable (pd_zap_events (a), S_WAIT_MS));
    assert_int_equal (pd_zap_recv (a), PD_ZAP_REFUSED);
    assert_int_equal (pd_zap_recv (a), 0);
    assert_int_equal (pd_zap_recv (b), 0);

    pd_zap_destroy (&b);
    pd_zap_destroy (&a);
    assert_null (a);
    pd_zap_destroy (&a); //  idempotent
}

//  A socket in a domain nobody registered admits nobody, even a key every
//  registered verdict would accept
static void
test_unknown_domain_refused (void **state)
{
    pd_zap_t *a = pd_zap_new ("a", s_verdict_a, "a");
    assert_non_null (a);
    assert_null (s_handshake ("nobody", s_alice));
    assert_int_equal (pd_zap_recv (a), 0); //  not a's business
    pd_zap_destroy (&a);
}

//  The last registration stops the handler and the next one starts it
//  again; a bad domain is refused
static void
test_handler_restarts (void **state)
{
    assert_null (pd_zap_new ("", s_verdict_a, NULL));
    assert_null (pd_zap_new ("a", NULL, NULL));
    for (int round = 0; round < 3; round++) {
        pd_zap_t *a = pd_zap_new ("a", s_verdict_a, "a");
        assert_non_null (a);
        s_assert_accepted ("a", s_alice, "alice@a");
        pd_zap_destroy (&a);
    }
}

int
main (void)
{
    zsys_init ();
    assert_int_equal (pd_test_dir_make ("test_pd_zap", s_dir, sizeof (s_dir)), 0);
    s_server = zcert_new ();
    s_alice = zcert_new ();
    s_mallory = zcert_new ();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_two_domains),
        cmocka_unit_test (test_unknown_domain_refused),
        cmocka_unit_test (test_handler_restarts),
    };
    int failed = cmocka_run_group_tests (tests, NULL, NULL);
    zcert_destroy (&s_mallory);
    zcert_destroy (&s_alice);
    zcert_destroy (&s_server);
    pd_test_dir_remove (s_dir);
    return failed;
}
