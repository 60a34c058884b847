/*  pd_ticket - what every writer of an escalation ticket does the same way

    The escalation actor (open, repeat, re-open, acknowledge, resolve) and
    the SLA actor (warnings and breaches) change tickets; each change adds a
    timeline entry, moves the ticket's pending deadlines and appends the
    ticket's event to the escalation stream, in the change's batch. These
    are those steps, once.
*/
#ifndef PD_TICKET_H_INCLUDED
#define PD_TICKET_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "pd_actor.h"
#include "pd_sla.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Append the ticket's event `type` to the escalation stream in `batch`;
//  target ("response", "resolution" or NULL) for SLA events. A status
//  change (PD_TICKET_UPDATE_EVENTS) of a ticket an appliance raised also
//  goes to the appliance's escalation_outbox.
int pd_ticket_emit (pd_ctx_t *ctx, pd_store_batch_t *batch, const char *type,
                    const pd_escalation_t *ticket, const char *target);

//  The appliance whose incident the ticket is now: the last that raised it
//  (a repeat from another appliance of the site moves it), or NULL
const char *pd_ticket_appliance (const pd_escalation_t *ticket);

//  Add the ticket's next timeline entry to `batch` (counts it in
//  ticket->entries)
int pd_ticket_entry (pd_store_batch_t *batch, pd_escalation_t *ticket, const char *action,
                     const char *by, const char *note, int64_t at);

//  The ticket's pending deadline of `kind`: true with *due set, or false
bool pd_ticket_pending (const pd_escalation_t *ticket, pd_sla_kind_t kind, int64_t *due);

//  Forget the pending deadline of `kind` on the ticket (not its record)
void pd_ticket_forget (pd_escalation_t *ticket, pd_sla_kind_t kind);

//  Start the ticket's SLA clocks at `now` under its own terms: its four
//  deadlines set and stored in `batch`
int pd_ticket_clocks_start (pd_store_batch_t *batch, pd_escalation_t *ticket, int64_t now);

//  Cancel its pending deadlines of kinds first..last, records included
int pd_ticket_clocks_stop (pd_store_batch_t *batch, pd_escalation_t *ticket, pd_sla_kind_t first,
                           pd_sla_kind_t last);

#ifdef __cplusplus
}
#endif
#endif
