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

    assert_true (pd_admission_admit (admission, "192.0.2.1", 1000, -1));
    assert_true (pd_admission_admit (admission, "192.0.2.1", 1001, -1));
    assert_false (pd_admission_admit (admission, "192.0.2.1", 1002, -1)); //  per client
    //  A trusted proxy is not limited per address, only in total
    assert_true (pd_admission_admit (admission, "10.0.0.1", 2000, -1));
    assert_true (pd_admission_admit (admission, "10.0.0.1", 2001, -1));
    assert_true (pd_admission_admit (admission, "10.0.0.1", 2002, -1));
    assert_false (pd_admission_admit (admission, "198.51.100.7", 3000, -1)); //  in total
    pd_admission_stats_t stats;
    pd_admission_stats (admission, &stats);
    assert_int_equal (stats.admitted, 5);
    assert_int_equal (stats.refused_client, 1);
    assert_int_equal (stats.refused_total, 1);
    assert_int_equal (stats.open, 5);

    //  Releases are exact: a connection never admitted frees nothing
    pd_admission_release (admission, "192.0.2.1", 1002);
    pd_admission_release (admission, "198.51.100.7", 3000);
    assert_false (pd_admission_admit (admission, "198.51.100.7", 3001, -1));
    pd_admission_release (admission, "192.0.2.1", 1000);
    assert_true (pd_admission_admit (admission, "198.51.100.7", 3002, -1));
    pd_admission_release (admission, "10.0.0.1", 2000);
    assert_true (pd_admission_admit (admission, "192.0.2.1", 1003, -1));
    pd_admission_stats (admission, &stats);
    assert_int_equal (stats.open, 5);

    pd_admission_destroy (&admission);
    assert_null (admission);
    pd_netlist_destroy (&trusted);
}

static void
test_a_read_past_its_deadline_is_cut (void **state)
{
    pd_admission_config_t config = {.max_total = 4, .max_per_client = 4};
    pd_admission_t *admission = pd_admission_new (&config);
    int pair[2];
    assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM, 0, pair), 0);
    assert_true (pd_admission_admit (admission, "192.0.2.9", 4000, pair[0]));
    assert_int_equal (pd_admission_deadline_set (admission, "192.0.2.9", 4001, 1), -1);

    //  A deadline that is met changes nothing
    assert_int_equal (
        pd_admission_deadline_set (admission, "192.0.2.9", 4000, zclock_mono () + 60000), 0);
    assert_false (pd_admission_deadline_clear (admission, "192.0.2.9", 4000));

    //  A blocked read past its deadline ends: the reading side is shut, and
    //  the clear says so; writing still works (the 408 goes out)
    int64_t start = zclock_mono ();
    assert_int_equal (pd_admission_deadline_set (admission, "192.0.2.9", 4000, start + 200), 0);
    char byte;
    ssize_t got = recv (pair[0], &byte, 1, 0); //  blocks until the watchdog cuts it
    int64_t waited = zclock_mono () - start;
    assert_int_equal (got, 0);
    assert_true (waited >= 190 && waited < 2000);
    assert_true (pd_admission_deadline_clear (admission, "192.0.2.9", 4000));
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
        cmocka_unit_test (test_a_read_past_its_deadline_is_cut),
        cmocka_unit_test (test_zero_limits_are_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
