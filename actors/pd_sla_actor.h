/*  pd_sla_actor - SLA definitions, the SLA timer, SLA metrics

    Service "sla". Partners read their SLA definitions (the defaults of
    pd_sla for what they never set) and partner admins change them; a
    ticket keeps the terms it opened under (pd_escalation_actor), so an
    edit applies to tickets opened after it.

    The timer: every sla_tick_ms each instance reads the deadlines that are
    due (table "sla_deadlines" is ordered by due time) and fires each in
    one batch that deletes the deadline (guarded by the version read),
    updates the ticket (guarded likewise: an acknowledgement that came
    first wins), adds the timeline entry and appends `sla.warning` or
    `sla.breached` to the escalation stream. Of several instances exactly
    one commits each firing; the others fail a version check and skip it.
    Deadlines that passed while partnerd was down are due at the first
    tick. Up to PD_SLA_FIRE_BATCH tickets share one transaction; when one
    of them conflicts, they are fired one by one.

    Metrics are computed from the escalation stream (the ticket events),
    never from counters kept beside it. They describe each ticket's current
    life, as its own fields do: a re-open starts its clocks, its
    acknowledgement and its breaches anew (the breaches of an earlier life
    stay on its timeline and in the stream).
*/
#ifndef PD_SLA_ACTOR_H_INCLUDED
#define PD_SLA_ACTOR_H_INCLUDED

#include "pd_actor.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const pd_actor_def_t pd_sla_actor;

#define PD_SLA_DUE_READ           1024 //  deadlines read per tick at most
#define PD_SLA_FIRE_BATCH         64   //  tickets fired per transaction at most
#define PD_SLA_TICK_ROUNDS        8    //  reads of PD_SLA_DUE_READ per tick at most
#define PD_SLA_FIRE_ATTEMPTS      4    //  tries of one ticket in a tick while others change it
#define PD_SLA_METRICS_DEFAULT_MS (30LL * 24 * 3600 * 1000) //  metrics window without `from`

#ifdef __cplusplus
}
#endif
#endif
