/*  test_pd_netlist - IP networks and membership */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "pd_netlist.h"

static void
test_addresses_and_networks (void **state)
{
    char error[128];
    pd_netlist_t *list =
        pd_netlist_new ("127.0.0.1, 10.0.0.0/8,fd00::/8  ::1", error, sizeof (error));
    assert_non_null (list);
    assert_int_equal (pd_netlist_size (list), 4);
    assert_true (pd_netlist_has (list, "127.0.0.1"));
    assert_false (pd_netlist_has (list, "127.0.0.2"));
    assert_true (pd_netlist_has (list, "10.255.1.2"));
    assert_false (pd_netlist_has (list, "11.0.0.1"));
    assert_true (pd_netlist_has (list, "fd12:3456::1"));
    assert_false (pd_netlist_has (list, "fe80::1"));
    assert_true (pd_netlist_has (list, "::1"));
    //  An IPv4-mapped IPv6 address is the IPv4 address; a zone is ignored
    assert_true (pd_netlist_has (list, "::ffff:10.1.2.3"));
    assert_true (pd_netlist_has (list, "fd00::5%eth0"));
    //  Not addresses
    assert_false (pd_netlist_has (list, "localhost"));
    assert_false (pd_netlist_has (list, ""));
    assert_false (pd_netlist_has (list, NULL));
    pd_netlist_destroy (&list);
    assert_null (list);
}

static void
test_prefixes_match_bit_by_bit (void **state)
{
    char error[128];
    pd_netlist_t *list =
        pd_netlist_new ("192.168.4.0/22, 2001:db8::/33, 0.0.0.0/0", error, sizeof (error));
    assert_non_null (list);
    assert_true (pd_netlist_has (list, "8.8.8.8")); //  /0 is everything IPv4
    pd_netlist_destroy (&list);
    list = pd_netlist_new ("192.168.4.0/22, 2001:db8::/33", error, sizeof (error));
    assert_true (pd_netlist_has (list, "192.168.7.255"));
    assert_false (pd_netlist_has (list, "192.168.8.0"));
    assert_false (pd_netlist_has (list, "192.168.3.255"));
    assert_true (pd_netlist_has (list, "2001:db8:7fff::1"));
    assert_false (pd_netlist_has (list, "2001:db8:8000::1"));
    //  IPv4 networks never match IPv6 addresses outside the mapped range
    assert_false (pd_netlist_has (list, "::192.168.5.1"));
    pd_netlist_destroy (&list);
}

static void
test_bad_entries_are_refused (void **state)
{
    const char *bad[] = {"10.0.0.0/33",  "::/129",      "10.0.0.1/",    "10.0.0.1/x",
                         "host.example", "10.0.0.1/-1", "fe80::1%eth0", "1.2.3"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        char error[128] = "";
        assert_null (pd_netlist_new (bad[i], error, sizeof (error)));
        assert_true (error[0] != '\0');
    }
    char error[128];
    pd_netlist_t *empty = pd_netlist_new ("", error, sizeof (error));
    assert_non_null (empty);
    assert_int_equal (pd_netlist_size (empty), 0);
    assert_false (pd_netlist_has (empty, "127.0.0.1"));
    pd_netlist_destroy (&empty);
    empty = pd_netlist_new (NULL, error, sizeof (error));
    assert_non_null (empty);
    pd_netlist_destroy (&empty);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_addresses_and_networks),
        cmocka_unit_test (test_prefixes_match_bit_by_bit),
        cmocka_unit_test (test_bad_entries_are_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
