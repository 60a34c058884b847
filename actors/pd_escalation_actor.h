/*  pd_escalation_actor - L3 escalation tickets from appliances

    Service "escalation". An appliance raises a ticket (over HTTP with its
    token or over the link; partner, site and appliance come from who it
    is). A repeat of a dedup key whose ticket of the same site is open or
    acknowledged counts on it; within escalation_reopen_window_s of the
    ticket's resolution it re-opens it; later it opens a new ticket.
    Partners list, read, acknowledge and resolve their own tickets (another
    partner's is 404); platform admins list and read all.

    Each change is one batch: the ticket (guarded by the version read), its
    timeline entry, its SLA deadlines (started, cancelled), the dedup key's
    record, and the event on stream "escalations" (PD_STREAM_ESCALATIONS):
    the event's sequence number is given in the transaction of the change.
    Of concurrent repeats of one key the version checks let one commit at a
    time; the others re-read and count again.

    Owns the tables escalations, escalation_keys, escalation_timeline and
    escalations_by_partner; writes sla_deadlines (pd_sla) as the SLA actor
    does.
*/
#ifndef PD_ESCALATION_ACTOR_H_INCLUDED
#define PD_ESCALATION_ACTOR_H_INCLUDED

#include "pd_actor.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const pd_actor_def_t pd_escalation_actor;

//  Attempts of one change against concurrent writers of the same ticket
//  (64 concurrent repeats of one key need up to 64)
#define PD_ESCALATION_ATTEMPTS 256

#ifdef __cplusplus
}
#endif
#endif
