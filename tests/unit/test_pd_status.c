/*  test_pd_status - the status table is dense, stable and round-trips */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "pd_status.h"

static void
test_codes_map_to_http (void **state)
{
    assert_string_equal (pd_status_code (PD_E_NOT_FOUND), "not_found");
    assert_int_equal (pd_status_http (PD_E_NOT_FOUND), 404);
    assert_int_equal (pd_status_http (PD_E_CONFLICT), 409);
    assert_int_equal (pd_status_http (PD_E_STORAGE_FULL), 507);
    assert_int_equal (pd_status_http (PD_OK), 200);
}

static void
test_wire_round_trip (void **state)
{
#define PD_CHECK_ROW(name, num, code, http, title, meaning)                                        \
    assert_int_equal (pd_status_to_wire (name), num);                                              \
    assert_int_equal (pd_status_from_wire (num), name);                                            \
    assert_int_equal (pd_status_from_code (code), name);
    PD_STATUS_MAP (PD_CHECK_ROW)
#undef PD_CHECK_ROW
}

static void
test_unknown_values_are_internal (void **state)
{
    assert_int_equal (pd_status_from_wire (9999), PD_E_INTERNAL);
    assert_string_equal (pd_status_code (-9999), "internal_error");
    assert_string_equal (pd_status_code (5), "internal_error");
    assert_int_equal (pd_status_from_code ("no_such_code"), PD_E_INTERNAL);
    assert_int_equal (pd_status_from_code (NULL), PD_E_INTERNAL);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_codes_map_to_http),
        cmocka_unit_test (test_wire_round_trip),
        cmocka_unit_test (test_unknown_values_are_internal),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
