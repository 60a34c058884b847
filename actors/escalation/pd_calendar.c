/*  pd_calendar - business-hours arithmetic in a named time zone (see pd_calendar.h)
 */
#include "pd_calendar.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/ucal.h>
#include <unicode/ustring.h>

#define S_ZONE_MAX      128 //  UChars of a zone id
#define S_DAYS          7
#define S_SLOTS_PER_DAY 3 //  opening hours one weekday may have (21 in the record)
#define S_MINUTES_DAY   (24 * 60)
#define S_MS_PER_MIN    60000
#define S_DATE_SIZE     11 //  "YYYY-MM-DD"

typedef struct {
    int start; //  minutes from local midnight
    int end;
} s_slot_t;

struct _pd_calendar_t {
    UCalendar *ucal;
    s_slot_t slots[S_DAYS][S_SLOTS_PER_DAY]; //  by ICU weekday - 1 (0 = Sunday)
    size_t slot_count[S_DAYS];
    char (*holidays)[S_DATE_SIZE]; //  sorted
    size_t holiday_count;
};

static const char *const s_day_names[S_DAYS] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static void
s_error (char *field, size_t field_size, const char *path, char *error, size_t error_size,
         const char *fmt, ...)
{
    if (field && field_size)
        snprintf (field, field_size, "%s", path);
    if (error && error_size) {
        va_list args;
        va_start (args, fmt);
        vsnprintf (error, error_size, fmt, args);
        va_end (args);
    }
}

//  "HH:MM" -> minutes, -1 if malformed; 24:00 is allowed as an end
static int
s_minutes (const char *text)
{
    if (!text || strlen (text) != 5 || text[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (text[i] < '0' || text[i] > '9'))
            return -1;
    int hours = (text[0] - '0') * 10 + (text[1] - '0');
    int minutes = (text[3] - '0') * 10 + (text[4] - '0');
    if (minutes > 59 || hours > 24 || (hours == 24 && minutes != 0))
        return -1;
    return hours * 60 + minutes;
}

static bool
s_date_ok (const char *text)
{
    if (!text || strlen (text) != 10 || text[4] != '-' || text[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9'))
            return false;
    int month = (text[5] - '0') * 10 + (text[6] - '0');
    int day = (text[8] - '0') * 10 + (text[9] - '0');
    return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

static int
s_compare_dates (const void *a, const void *b)
{
    return strcmp ((const char *)a, (const char *)b);
}

static int
s_compare_slots (const void *a, const void *b)
{
    return ((const s_slot_t *)a)->start - ((const s_slot_t *)b)->start;
}

pd_calendar_t *
pd_calendar_new (const pd_sla_calendar_t *record, char *field, size_t field_size, char *error,
                 size_t error_size)
{
    if (!record || !record->timezone) {
        s_error (field, field_size, "timezone", error, error_size, "is required");
        return NULL;
    }
    UChar zone[S_ZONE_MAX];
    UErrorCode status = U_ZERO_ERROR;
    u_strFromUTF8 (zone, S_ZONE_MAX, NULL, record->timezone, -1, &status);
    UChar canonical[S_ZONE_MAX];
    UBool system = false;
    if (U_SUCCESS (status))
        ucal_getCanonicalTimeZoneID (zone, -1, canonical, S_ZONE_MAX, &system, &status);
    if (U_FAILURE (status) || !system) {
        s_error (field, field_size, "timezone", error, error_size,
                 "is not an IANA time zone (e.g. Europe/Berlin)");
        return NULL;
    }
    pd_calendar_t *self = calloc (1, sizeof (pd_calendar_t));
    if (!self) {
        s_error (field, field_size, "", error, error_size, "out of memory");
        return NULL;
    }
    self->ucal = ucal_open (zone, -1, "en_US_POSIX", UCAL_GREGORIAN, &status);
    if (U_FAILURE (status)) {
        s_error (field, field_size, "timezone", error, error_size, "cannot be opened (%s)",
                 u_errorName (status));
        pd_calendar_destroy (&self);
        return NULL;
    }
    size_t hours = 0;
    const pd_business_day_t *days = record->week.items;
    for (size_t i = 0; i < record->week.size; i++) {
        char path[32];
        snprintf (path, sizeof (path), "week.%zu", i);
        int day = -1;
        for (int d = 0; d < S_DAYS; d++)
            if (days[i].day && strcmp (days[i].day, s_day_names[d]) == 0)
                day = d;
        int start = s_minutes (days[i].start), end = s_minutes (days[i].end);
        if (day < 0 || start < 0 || end < 0 || start >= S_MINUTES_DAY || end <= start) {
            s_error (field, field_size, path, error, error_size,
                     "needs a day and start < end, as HH:MM (end up to 24:00)");
            pd_calendar_destroy (&self);
            return NULL;
        }
        if (self->slot_count[day] == S_SLOTS_PER_DAY) {
            s_error (field, field_size, path, error, error_size,
                     "a day has at most %d opening hours", S_SLOTS_PER_DAY);
            pd_calendar_destroy (&self);
            return NULL;
        }
        self->slots[day][self->slot_count[day]++] = (s_slot_t){start, end};
        hours++;
    }
    for (int d = 0; d < S_DAYS; d++) {
        qsort (self->slots[d], self->slot_count[d], sizeof (s_slot_t), s_compare_slots);
        for (size_t s = 1; s < self->slot_count[d]; s++)
            if (self->slots[d][s].start < self->slots[d][s - 1].end) {
                s_error (field, field_size, "week", error, error_size,
                         "opening hours of %s overlap", s_day_names[d]);
                pd_calendar_destroy (&self);
                return NULL;
            }
    }
    if (hours == 0) {
        s_error (field, field_size, "week", error, error_size, "must have opening hours");
        pd_calendar_destroy (&self);
        return NULL;
    }
    if (record->holidays.size) {
        self->holidays = calloc (record->holidays.size, S_DATE_SIZE);
        if (!self->holidays) {
            pd_calendar_destroy (&self);
            return NULL;
        }
        const pd_holiday_t *holidays = record->holidays.items;
        for (size_t i = 0; i < record->holidays.size; i++) {
            if (!s_date_ok (holidays[i].date)) {
                char path[48];
                snprintf (path, sizeof (path), "holidays.%zu.date", i);
                s_error (field, field_size, path, error, error_size, "must be a date YYYY-MM-DD");
                pd_calendar_destroy (&self);
                return NULL;
            }
            memcpy (self->holidays[i], holidays[i].date, S_DATE_SIZE);
        }
        self->holiday_count = record->holidays.size;
        qsort (self->holidays, self->holiday_count, S_DATE_SIZE, s_compare_dates);
    }
    return self;
}

void
pd_calendar_destroy (pd_calendar_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pd_calendar_t *self = *self_p;
    if (self->ucal)
        ucal_close (self->ucal);
    free (self->holidays);
    free (self);
    *self_p = NULL;
}

//  A local day: its date and weekday
typedef struct {
    int year, month, day; //  month 0-based, as ICU's
    int weekday;          //  0 = Sunday
} s_day_t;

//  The local day `offset` days after the local day of `instant`
static int
s_local_day (pd_calendar_t *self, int64_t instant, int offset, s_day_t *day)
{
    UErrorCode status = U_ZERO_ERROR;
    ucal_setMillis (self->ucal, (UDate)instant, &status);
    int year = ucal_get (self->ucal, UCAL_YEAR, &status);
    int month = ucal_get (self->ucal, UCAL_MONTH, &status);
    int date = ucal_get (self->ucal, UCAL_DATE, &status);
    //  Noon of the day, moved on by whole days (lenient fields normalise)
    ucal_clear (self->ucal);
    ucal_setDateTime (self->ucal, year, month, date + offset, 12, 0, 0, &status);
    day->year = ucal_get (self->ucal, UCAL_YEAR, &status);
    day->month = ucal_get (self->ucal, UCAL_MONTH, &status);
    day->day = ucal_get (self->ucal, UCAL_DATE, &status);
    day->weekday = ucal_get (self->ucal, UCAL_DAY_OF_WEEK, &status) - 1;
    return U_SUCCESS (status) ? PD_OK : PD_E_INTERNAL;
}

//  The instant of local time `minutes` after midnight of `day` (a local
//  time that a DST change skips resolves forward, as ICU's lenient mode does)
static int64_t
s_instant (pd_calendar_t *self, const s_day_t *day, int minutes)
{
    UErrorCode status = U_ZERO_ERROR;
    ucal_clear (self->ucal);
    ucal_setDateTime (self->ucal, day->year, day->month, day->day, minutes / 60, minutes % 60, 0,
                      &status);
    UDate millis = ucal_getMillis (self->ucal, &status);
    return U_SUCCESS (status) ? (int64_t)millis : INT64_MIN;
}

static bool
s_holiday (pd_calendar_t *self, const s_day_t *day)
{
    char date[S_DATE_SIZE + 24]; //  room for any int, though dates are 10 bytes
    snprintf (date, sizeof (date), "%04d-%02d-%02d", day->year % 10000, (day->month + 1) % 100,
              day->day % 100);
    return self->holiday_count &&
           bsearch (date, self->holidays, self->holiday_count, S_DATE_SIZE, s_compare_dates);
}

int
pd_calendar_add (pd_calendar_t *self, int64_t start_ms, int64_t seconds, int64_t *due_ms)
{
    int64_t remaining = seconds * 1000;
    int64_t cursor = start_ms;
    if (remaining <= 0) {
        *due_ms = start_ms;
        return PD_OK;
    }
    //  Start a day early: the local day of start_ms may begin before it in
    //  another offset (an opening at 23:00 the day before)
    for (int offset = -1; offset <= PD_CALENDAR_HORIZON_DAYS; offset++) {
        s_day_t day;
        if (s_local_day (self, start_ms, offset, &day) != PD_OK)
            return PD_E_INTERNAL;
        if (s_holiday (self, &day))
            continue;
        for (size_t s = 0; s < self->slot_count[day.weekday]; s++) {
            const s_slot_t *slot = &self->slots[day.weekday][s];
            int64_t open = s_instant (self, &day, slot->start);
            int64_t close = s_instant (self, &day, slot->end);
            if (open == INT64_MIN || close == INT64_MIN)
                return PD_E_INTERNAL;
            int64_t from = open > cursor ? open : cursor;
            if (from >= close)
                continue;
            if (remaining <= close - from) {
                *due_ms = from + remaining;
                return PD_OK;
            }
            remaining -= close - from;
            cursor = close;
        }
    }
    return PD_E_INVALID_FIELD;
}

bool
pd_calendar_open_at (pd_calendar_t *self, int64_t instant)
{
    for (int offset = -1; offset <= 0; offset++) {
        s_day_t day;
        if (s_local_day (self, instant, offset, &day) != PD_OK || s_holiday (self, &day))
            continue;
        for (size_t s = 0; s < self->slot_count[day.weekday]; s++) {
            const s_slot_t *slot = &self->slots[day.weekday][s];
            if (instant >= s_instant (self, &day, slot->start) &&
                instant < s_instant (self, &day, slot->end))
                return true;
        }
    }
    return false;
}
