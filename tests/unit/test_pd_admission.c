/*  test_pd_admission - connection limits at accept, read deadlines */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <czmq.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pd_admission.h"

static void
test_limits_per_client_and_in_total (void **state)
{
    char error[64];
    pd_netlist_t *trusted = pd_netlist_new ("10.0.0.1", error, sizeof (error));
    pd_admission_config_t config = {.max_total = 5, .max_per_client = 2, .trusted = trusted};
    pd_admission_t *admission = pd_admission_new (&config);
    assert_non_null (admission);

    assert_true (pd_admission_admit (admission, &(pd_admission_peer_t){"192.0.2.1", 1000, 80}, -1));
    assert_true (pd_admission_admit (admission, &(pd_admission_peer_t){"192.0.2.1", 1001, 80}, -1));
    assert_false (pd_admission_admit (admission, &(pd_admission_peer_t){"192.0.2.1", 1002, 80},
                                      -1)); //  per client
    //  A trusted proxy is not limited per address, only in total
    assert_true (pd_admission_admit (admission, &(pd_admission_peer_t){"10.0.0.1", 2000, 80}, -1));
    assert_true (pd_admission_admit (admission, &(pd_admission_peer_t){"10.0.0.1", 2001, 80}, -1));
    assert_true (pd_admission_admit (admission, &(pd_admission_peer_t){"10.0.0.1", 2002, 80}, -1));
    assert_false (pd_admission_admit (admission, &(pd_admission_peer_t){"198.51.100.7", 3000, 80},
                                      -1)); //  in total
    pd_admission_stats_t stats;
    pd_admission_stats (admission, &stats);
    assert_int_equal (stats.admitted, 5);
    assert_int_equal (stats.refused_client, 1);
    assert_int_equal (stats.refused_total, 1);
    assert_int_equal (stats.open, 5);

    //  Releases are exact: a connection never admitted frees nothing
    pd_admission_release (admission, &(pd_admission_peer_t){"192.0.2.1", 1002, 80});
    pd_admission_release (admission, &(pd_admission_peer_t){"198.51.100.7", 3000, 80});
    assert_false (
        pd_admission_admit (admission, &(pd_admission_peer_t){"198.51.100.7", 3001, 80}, -1));
    pd_admission_release (admission, &(pd_admission_peer_t){"192.0.2.1", 1000, 80});
    assert_true (
        pd_admission_admit (admission, &(pd_admission_peer_t){"198.51.100.7", 3002, 80}, -1));
    pd_admission_release (admission, &(pd_admission_peer_t){"10.0.0.1", 2000, 80});
    assert_true (pd_admission_admit (admission, &(pd_admission_peer_t){"192.0.2.1", 1003, 80}, -1));
    pd_admission_stats (admission, &stats);
    assert_int_equal (stats.open, 5);

    pd_admission_destroy (&admission);
    assert_null (admission);
    pd_netlist_destroy (&trusted);
}

//  An IPv6 client is its /64: one subscriber cannot take every slot by
//  walking its own prefix. An IPv4-mapped address is the IPv4 client.
static void
test_ipv6_clients_are_their_64 (void **state)
{
    pd_admission_config_t config = {.max_total = 10, .max_per_client = 2};
    pd_admission_t *admission = pd_admission_new (&config);
    assert_true (pd_admission_admit (admission, &(pd_admission_peer_t){"2001:db8::1", 1, 80}, -1));
    assert_true (
        pd_admission_admit (admission, &(pd_admission_peer_t){"2001:db8::ffff:2", 2, 80}, -1));
    assert_false (
        pd_admission_admit (admission, &(pd_admission_peer_t){"2001:db8::abcd:1:3", 3, 80}, -1));
    assert_true (
        pd_admission_admit (admission, &(pd_admission_peer_t){"2001:db8:0:1::1", 4, 80}, -1));
    assert_true (pd_admission_admit (admission, &(pd_admission_peer_t){"192.0.2.5", 5, 80}, -1));
    assert_true (
        pd_admission_admit (admission, &(pd_admission_peer_t){"::ffff:192.0.2.5", 6, 80}, -1));
    assert_false (pd_admission_admit (admission, &(pd_admission_peer_t){"192.0.2.5", 7, 80}, -1));
    //  The same client port to two listening sockets: two connections
    pd_admission_release (admission, &(pd_admission_peer_t){"2001:db8::1", 1, 80});
    assert_true (pd_admission_admit (admission, &(pd_admission_peer_t){"2001:db8::9", 9, 80}, -1));
    pd_admission_release (admission, &(pd_admission_peer_t){"2001:db8::9", 9, 443});
    assert_false (
        pd_admission_admit (admission, &(pd_admission_peer_t){"2001:db8::a", 10, 80}, -1));
    pd_admission_destroy (&admission);
}

static void
test_a_read_past_its_deadline_is_cut (void **state)
{
    pd_admission_config_t config = {.max_total = 4, .max_per_client = 4};
    pd_admission_t *admission = pd_admission_new (&config);
    int pair[2];
    assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM, 0, pair), 0);
    assert_true (
        pd_admission_admit (admission, &(pd_admission_peer_t){"192.0.2.9", 4000, 80}, pair[0]));
    assert_int_equal (
        pd_admission_deadline_set (admission, &(pd_admission_peer_t){"192.0.2.9", 4001, 80}, 1),
        -1);

    //  A deadline that is met changes nothing
    assert_int_equal (pd_admission_deadline_set (admission,
                                                 &(pd_admission_peer_t){"192.0.2.9", 4000, 80},
                                                 zclock_mono () + 60000),
                      0);
    assert_false (
        pd_admission_deadline_clear (admission, &(pd_admission_peer_t){"192.0.2.9", 4000, 80}));

    //  A blocked read past its deadline ends: the reading side is shut, and
    //  the clear says so; writing still works (the 408 goes out)
    int64_t start = zclock_mono ();
    assert_int_equal (pd_admission_deadline_set (
                          admission, &(pd_admission_peer_t){"192.0.2.9", 4000, 80}, start + 200),
                      0);
    char byte;
    ssize_t got = recv (pair[0], &byte, 1, 0); //  blocks until the watchdog cuts it
    int64_t waited = zclock_mono () - start;
    assert_int_equal (got, 0);
    assert_true (waited >= 190 && waited < 2000);
    assert_true (
        pd_admission_deadline_clear (admission, &(pd_admission_peer_t){"192.0.2.9", 4000, 80}));
    assert_int_equal (send (pair[0], "x", 1, MSG_NOSIGNAL), 1);
    assert_int_equal (recv (pair[1], &byte, 1, 0), 1);
    pd_admission_stats_t stats;
    pd_admission_stats (admission, &stats);
    assert_int_equal (stats.cut, 1);

    pd_admission_destroy (&admission);
    close (pair[0]);
    close (pair[1]);
}

static void
test_zero_limits_are_refused (void **state)
{
    pd_admission_config_t config = {.max_total = 0, .max_per_client = 1};
    assert_null (pd_admission_new (&config));
    config = (pd_admission_config_t){.max_total = 1, .max_per_client = 0};
    assert_null (pd_admission_new (&config));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_limits_per_client_and_in_total),
        cmocka_unit_test (test_ipv6_clients_are_their_64),
        cmocka_unit_test (test_a_read_past_its_deadline_is_cut),
        cmocka_unit_test (test_zero_limits_are_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
