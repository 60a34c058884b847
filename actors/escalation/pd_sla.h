/*  pd_sla - SLA policies and deadlines, shared by the escalation actor
    (which starts a ticket's clocks) and the SLA actor (which owns the
    definitions and fires the deadlines)

    A partner's policy is its stored record (table "sla_definitions") with
    the defaults filled in for what it never set:
        P1  response 15 min  resolution 4 h    around the clock
        P2  response 1 h     resolution 8 h    around the clock
        P3  response 4 h     resolution 24 h   business hours
        P4  response 8 h     resolution 72 h   business hours
    warning at 80 % of each target; business hours Monday to Friday 09:00
    to 17:00 UTC, no holidays (PD_SLA_DEFAULT_* below).

    A ticket copies the terms of its priority (and the calendar, for
    business hours) when it opens, so that a later edit never rewrites its
    history; its four deadlines are computed from them.
*/
#ifndef PD_SLA_H_INCLUDED
#define PD_SLA_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "pd_messages.h"
#include "pd_store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PD_SLA_TARGET_RESPONSE   "response" //  PD_SLA_TARGETS
#define PD_SLA_TARGET_RESOLUTION "resolution"

#define PD_SLA_DEFAULT_TIMEZONE "UTC"
#define PD_SLA_DEFAULT_OPEN     "09:00"
#define PD_SLA_DEFAULT_CLOSE    "17:00"

//  The deadlines of one clock start, in PD_SLA_DEADLINE_KINDS order
typedef enum {
    PD_SLA_RESPONSE_WARNING,
    PD_SLA_RESPONSE,
    PD_SLA_RESOLUTION_WARNING,
    PD_SLA_RESOLUTION,
    PD_SLA_KINDS
} pd_sla_kind_t;

extern const char *const pd_sla_kind_names[PD_SLA_KINDS];

//  The kind named `name`, -1 if none
int pd_sla_kind (const char *name);

//  The partner's policy, defaults filled in, into `policy` (zeroed):
//  definitions P1..P4 in that order, and a calendar. *version (may be NULL)
//  gets the stored record's version, 0 when none is stored.
int pd_sla_policy_load (pd_store_t *store, const char *partner_id, pd_sla_policy_t *policy,
                        uint64_t *version);

//  Fill what `policy` lacks with the defaults (missing priorities,
//  warning_percent, calendar) and order its definitions P1..P4.
int pd_sla_policy_complete (pd_sla_policy_t *policy);

//  Check a policy as it will be (completed): each priority at most once,
//  response not longer than resolution, a valid calendar, business-hours
//  targets that end within its horizon for clocks started `now`. PD_OK or
//  PD_E_INVALID_FIELD with err filled.
int pd_sla_policy_check (const pd_sla_policy_t *policy, int64_t now, pd_schema_error_t *err);

//  The terms of `priority` in a completed policy (never NULL for P1..P4)
const pd_sla_terms_t *pd_sla_policy_terms (const pd_sla_policy_t *policy, const char *priority);

//  The four deadlines (ms) of clocks started at `start` under `terms`
//  (counted in `calendar`'s business hours when terms->business_hours).
int pd_sla_deadlines (const pd_sla_terms_t *terms, const pd_sla_calendar_t *calendar, int64_t start,
                      int64_t due[PD_SLA_KINDS]);

//  The key of a deadline in table "sla_deadlines": due time first, as 15
//  digits, so that the due ones are a scan's first
#define PD_SLA_KEY_MAX (16 + PD_ID_MAX + 1 + 32 + 1)
int pd_sla_deadline_key (int64_t due, const char *ticket_id, pd_sla_kind_t kind, char *key,
                         size_t size);

//  Add (put) or remove a deadline record in `batch`
int pd_sla_deadline_add (pd_store_batch_t *batch, const char *ticket_id, pd_sla_kind_t kind,
                         int64_t due);
int pd_sla_deadline_remove (pd_store_batch_t *batch, const char *ticket_id, pd_sla_kind_t kind,
                            int64_t due);

#ifdef __cplusplus
}
#endif
#endif
