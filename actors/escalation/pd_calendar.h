/*  pd_calendar - business-hours arithmetic in a named time zone

    An SLA counted in business hours runs only inside a weekly schedule of
    local opening hours, in an IANA time zone, and not on holidays (local
    dates). pd_calendar_add answers when a stretch of business time that
    starts at an instant ends: the clock pauses outside the schedule, and
    local times are turned into instants by ICU's calendar (ucal), so that
    daylight-saving changes are the zone's own. The process's TZ is never
    touched. A calendar is used by one thread at a time.
*/
#ifndef PD_CALENDAR_H_INCLUDED
#define PD_CALENDAR_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "pd_messages.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _pd_calendar_t pd_calendar_t;

//  Days looked ahead for business time before giving up (ten years)
#define PD_CALENDAR_HORIZON_DAYS 3660
#define PD_CALENDAR_ERROR_MAX    160

//  A calendar from its record: the zone must be one ICU knows, start and
//  end "HH:MM" with end after start (end may be "24:00"), a weekday's
//  hours may not overlap, holidays "YYYY-MM-DD", and the week must have
//  some hours. NULL with the reason in `error` (and the field's path in
//  `field`, both may be NULL) otherwise.
pd_calendar_t *pd_calendar_new (const pd_sla_calendar_t *record, char *field, size_t field_size,
                                char *error, size_t error_size);
void pd_calendar_destroy (pd_calendar_t **self_p);

//  The instant (ms) at which `seconds` of business time, counted from
//  start_ms (or from the next opening, if start_ms is outside hours), have
//  passed. PD_OK, or PD_E_INVALID_FIELD when the horizon holds too little
//  business time (a calendar of holidays only).
int pd_calendar_add (pd_calendar_t *self, int64_t start_ms, int64_t seconds, int64_t *due_ms);

//  Is `instant` (ms) inside business hours?
bool pd_calendar_open_at (pd_calendar_t *self, int64_t instant);

#ifdef __cplusplus
}
#endif
#endif
