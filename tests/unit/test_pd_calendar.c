/*  test_pd_calendar - business-hours deadlines in named time zones (ICU),
    and the SLA deadlines built on them

    Expected instants are written as UTC wall times and turned into epoch
    milliseconds with timegm: the test never relies on the process's TZ.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pd_calendar.h"
#include "pd_sla.h"

#define S_HOUR_MS (3600 * 1000LL)

//  Milliseconds of a UTC wall time
static int64_t
s_utc (int year, int month, int day, int hour, int minute)
{
    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    return (int64_t)timegm (&tm) * 1000;
}

//  A calendar record: `zone`, the same hours on each of `days`, holidays
typedef struct {
    pd_sla_calendar_t record;
    pd_business_day_t week[7];
    pd_holiday_t holidays[4];
} s_calendar_t;

static void
s_calendar (s_calendar_t *self, const char *zone, const char *const days[], const char *start,
            const char *end, const char *const holidays[])
{
    memset (self, 0, sizeof (*self));
    self->record.timezone = (char *)zone;
    size_t n = 0;
    for (; days[n]; n++)
        self->week[n] = (pd_business_day_t){0, (char *)days[n], (char *)start, (char *)end};
    self->record.week = (pd_list_t){n, self->week};
    size_t h = 0;
    for (; holidays && holidays[h]; h++)
        self->holidays[h] = (pd_holiday_t){0, (char *)holidays[h]};
    self->record.holidays = (pd_list_t){h, self->holidays};
}

static const char *const s_workdays[] = {"mon", "tue", "wed", "thu", "fri", NULL};
static const char *const s_every_day[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun", NULL};

static int64_t
s_add (const pd_sla_calendar_t *record, int64_t start, int64_t seconds)
{
    char field[64], error[PD_CALENDAR_ERROR_MAX];
    pd_calendar_t *calendar =
        pd_calendar_new (record, field, sizeof (field), error, sizeof (error));
    if (!calendar)
        fail_msg ("calendar refused: %s %s", field, error);
    int64_t due = 0;
    assert_int_equal (pd_calendar_add (calendar, start, seconds, &due), PD_OK);
    pd_calendar_destroy (&calendar);
    assert_null (calendar);
    return due;
}

//  Friday 16:00 in Berlin plus two business hours is Monday 10:00; the
//  weekend in between is the one of the spring DST change (29 March 2026),
//  so Friday is UTC+1 and Monday UTC+2
static void
test_weekend_and_dst (void **state)
{
    s_calendar_t berlin;
    s_calendar (&berlin, "Europe/Berlin", s_workdays, "09:00", "17:00", NULL);
    //  Winter: Friday 16:00 CET = 15:00Z; Monday 10:00 CET = 09:00Z
    assert_int_equal (s_add (&berlin.record, s_utc (2026, 1, 9, 15, 0), 7200),
                      s_utc (2026, 1, 12, 9, 0));
    //  Across the change: Friday 16:00 CET = 15:00Z; Monday 10:00 CEST = 08:00Z
    //  (a fixed offset would say 09:00Z)
    assert_int_equal (s_add (&berlin.record, s_utc (2026, 3, 27, 15, 0), 7200),
                      s_utc (2026, 3, 30, 8, 0));
    //  Autumn (25 October 2026): Friday 16:00 CEST = 14:00Z; Monday 10:00 CET = 09:00Z
    assert_int_equal (s_add (&berlin.record, s_utc (2026, 10, 23, 14, 0), 7200),
                      s_utc (2026, 10, 26, 9, 0));
    //  Started outside hours (Saturday): counting begins Monday 09:00
    assert_int_equal (s_add (&berlin.record, s_utc (2026, 3, 28, 10, 0), 3600),
                      s_utc (2026, 3, 30, 8, 0));
    //  Within one day: Tuesday 09:30 CEST + 30 min
    assert_int_equal (s_add (&berlin.record, s_utc (2026, 3, 31, 7, 30), 1800),
                      s_utc (2026, 3, 31, 8, 0));
    //  Exactly a day's hours: Tuesday 09:00 -> Tuesday 17:00
    assert_int_equal (s_add (&berlin.record, s_utc (2026, 3, 31, 7, 0), 8 * 3600),
                      s_utc (2026, 3, 31, 15, 0));
}

//  Holidays are skipped; a calendar around the clock counts real time
//  across the 23-hour day of the change
static void
test_holidays_and_full_days (void **state)
{
    const char *const easter[] = {"2026-04-06", NULL}; //  Easter Monday
    s_calendar_t berlin;
    s_calendar (&berlin, "Europe/Berlin", s_workdays, "09:00", "17:00", easter);
    //  Thursday 2 April 16:00 CEST = 14:00Z, + 2 h: Friday 10:00 CEST
    assert_int_equal (s_add (&berlin.record, s_utc (2026, 4, 2, 14, 0), 7200),
                      s_utc (2026, 4, 3, 8, 0));
    //  Friday 3 April 16:00 + 2 h: not Monday (a holiday) but Tuesday 10:00
    assert_int_equal (s_add (&berlin.record, s_utc (2026, 4, 3, 14, 0), 7200),
                      s_utc (2026, 4, 7, 8, 0));

    s_calendar_t always;
    s_calendar (&always, "Europe/Berlin", s_every_day, "00:00", "24:00", NULL);
    //  Saturday 28 March 12:00 CET (11:00Z) + 24 h = Sunday 11:00Z (13:00 CEST)
    assert_int_equal (s_add (&always.record, s_utc (2026, 3, 28, 11, 0), 24 * 3600),
                      s_utc (2026, 3, 29, 11, 0));

    //  Another zone, another change: New York falls back on 1 November 2026
    s_calendar_t york;
    s_calendar (&york, "America/New_York", s_workdays, "08:00", "18:00", NULL);
    //  Friday 30 October 17:00 EDT = 21:00Z, + 2 h: Monday 09:00 EST = 14:00Z
    assert_int_equal (s_add (&york.record, s_utc (2026, 10, 30, 21, 0), 7200),
                      s_utc (2026, 11, 2, 14, 0));
}

//  What a calendar must be
static void
test_refusals (void **state)
{
    char field[64], error[PD_CALENDAR_ERROR_MAX];
    s_calendar_t bad;
    s_calendar (&bad, "Mars/Olympus_Mons", s_workdays, "09:00", "17:00", NULL);
    assert_null (pd_calendar_new (&bad.record, field, sizeof (field), error, sizeof (error)));
    assert_string_equal (field, "timezone");
    s_calendar (&bad, "Europe/Berlin", s_workdays, "17:00", "09:00", NULL);
    assert_null (pd_calendar_new (&bad.record, field, sizeof (field), error, sizeof (error)));
    assert_string_equal (field, "week.0");
    s_calendar (&bad, "Europe/Berlin", s_workdays, "9:00", "17:00", NULL);
    assert_null (pd_calendar_new (&bad.record, field, sizeof (field), error, sizeof (error)));
    const char *const none[] = {NULL};
    s_calendar (&bad, "Europe/Berlin", none, "09:00", "17:00", NULL);
    assert_null (pd_calendar_new (&bad.record, field, sizeof (field), error, sizeof (error)));
    assert_string_equal (field, "week");
    const char *const twice[] = {"mon", "mon", NULL};
    s_calendar (&bad, "Europe/Berlin", twice, "09:00", "17:00", NULL);
    assert_null (pd_calendar_new (&bad.record, field, sizeof (field), error, sizeof (error)));
    assert_non_null (strstr (error, "overlap"));
    const char *const bad_date[] = {"2026-13-01", NULL};
    s_calendar (&bad, "Europe/Berlin", s_workdays, "09:00", "17:00", bad_date);
    assert_null (pd_calendar_new (&bad.record, field, sizeof (field), error, sizeof (error)));
    assert_string_equal (field, "holidays.0.date");
}

//  SLA deadlines: around the clock they are plain sums; in business hours
//  they pause outside them; the defaults fill what a partner never set
static void
test_sla_deadlines (void **state)
{
    pd_sla_policy_t policy = {0};
    assert_int_equal (pd_sla_policy_complete (&policy), PD_OK);
    assert_int_equal (policy.definitions.size, 4);
    const pd_sla_terms_t *p1 = pd_sla_policy_terms (&policy, "P1");
    const pd_sla_terms_t *p3 = pd_sla_policy_terms (&policy, "P3");
    assert_non_null (p1);
    assert_non_null (p3);
    assert_false (p1->business_hours);
    assert_true (p3->business_hours);

    int64_t start = s_utc (2026, 3, 27, 15, 0); //  Friday 15:00 UTC
    int64_t due[PD_SLA_KINDS];
    assert_int_equal (pd_sla_deadlines (p1, policy.calendar, start, due), PD_OK);
    assert_int_equal (due[PD_SLA_RESPONSE], start + 15 * 60 * 1000);
    assert_int_equal (due[PD_SLA_RESPONSE_WARNING], start + 12 * 60 * 1000);
    assert_int_equal (due[PD_SLA_RESOLUTION], start + 4 * S_HOUR_MS);
    //  P3: 4 h response in Mon-Fri 09-17 UTC: 2 h on Friday, 2 h on Monday
    assert_int_equal (pd_sla_deadlines (p3, policy.calendar, start, due), PD_OK);
    assert_int_equal (due[PD_SLA_RESPONSE], s_utc (2026, 3, 30, 11, 0));
    //  its warning at 80 % (3 h 12 min): Monday 10:12
    assert_int_equal (due[PD_SLA_RESPONSE_WARNING], s_utc (2026, 3, 30, 10, 12));
    pd_schema_clear (&pd_sla_policy_schema, &policy);

    //  Deadline keys sort by due time
    char a[PD_SLA_KEY_MAX], b[PD_SLA_KEY_MAX];
    assert_int_equal (pd_sla_deadline_key (999, "esc_b", PD_SLA_RESPONSE, a, sizeof (a)), PD_OK);
    assert_int_equal (pd_sla_deadline_key (1000, "esc_a", PD_SLA_RESPONSE, b, sizeof (b)), PD_OK);
    assert_true (strcmp (a, b) < 0);
    assert_string_equal (a, "000000000000999/esc_b/response");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_weekend_and_dst),
        cmocka_unit_test (test_holidays_and_full_days),
        cmocka_unit_test (test_refusals),
        cmocka_unit_test (test_sla_deadlines),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
