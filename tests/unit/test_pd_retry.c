/*  test_pd_retry - the retry schedule: caps, jitter bounds, Retry-After,
    the dead letter, and the span over all attempts
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "pd_retry.h"

#define MINUTE (60 * 1000LL)

static void
test_schedule (void **state)
{
    const int64_t caps[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 360, 360, 360};
    int64_t most = 0;
    for (int attempt = 1; attempt < PD_RETRY_ATTEMPTS; attempt++) {
        assert_int_equal (pd_retry_cap_ms (attempt), caps[attempt - 1] * MINUTE);
        //  Full jitter: from 0 to the cap
        assert_int_equal (pd_retry_delay_ms (attempt, 0, 0), 0);
        assert_int_equal (pd_retry_delay_ms (attempt, 0, UINT32_MAX), caps[attempt - 1] * MINUTE);
        int64_t middle = pd_retry_delay_ms (attempt, 0, UINT32_MAX / 2);
        assert_true (middle >= caps[attempt - 1] * MINUTE / 2 - 1 &&
                     middle <= caps[attempt - 1] * MINUTE / 2 + 1);
        most += pd_retry_delay_ms (attempt, 0, UINT32_MAX);
    }
    //  "About a day": at most 26.5 h from the first failure to the last try
    assert_int_equal (most, 1591 * MINUTE);
    //  Then dead
    assert_int_equal (pd_retry_delay_ms (PD_RETRY_ATTEMPTS, 0, 12345), -1);
    assert_int_equal (pd_retry_delay_ms (PD_RETRY_ATTEMPTS + 5, 0, 12345), -1);
    assert_int_equal (pd_retry_cap_ms (0), MINUTE);
}

//  Retry-After is a floor, never a ceiling, and bounded
static void
test_retry_after (void **state)
{
    assert_int_equal (pd_retry_delay_ms (1, 120, 0), 120 * 1000);
    assert_int_equal (pd_retry_delay_ms (1, 120, UINT32_MAX), 120 * 1000); //  above the cap
    assert_int_equal (pd_retry_delay_ms (9, 5, UINT32_MAX), 256 * MINUTE); //  the draw wins
    assert_int_equal (pd_retry_delay_ms (1, 10 * 24 * 3600, 0), PD_RETRY_AFTER_MAX_MS);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_schedule),
        cmocka_unit_test (test_retry_after),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
