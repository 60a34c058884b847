/*  pd_ticket - what every writer of an escalation ticket does the same way
    (see pd_ticket.h)
*/
#include "pd_ticket.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>

#include "pd_record.h"

#define S_ENTRY_KEY_SIZE (PD_ID_MAX + 16)

const char *
pd_ticket_appliance (const pd_escalation_t *ticket)
{
    return ticket->last_appliance_id && *ticket->last_appliance_id ? ticket->last_appliance_id
                                                                   : ticket->appliance_id;
}

//  The change, for `appliance`: replaces any change of the ticket it has
//  not seen yet
static int
s_outbox_put (pd_ctx_t *ctx, pd_store_batch_t *batch, const pd_escalation_t *ticket,
              const char *appliance)
{
    char key[2 * PD_ID_MAX + 2];
    snprintf (key, sizeof (key), "%s/%s", appliance, ticket->id);
    pd_ticket_update_t update = {0};
    update.id = ticket->id;
    update.status = ticket->status;
    update.version = ticket->entries;
    PD_MARK (&update, ticket_update, version);
    update.at = pd_ctx_now (ctx);
    PD_MARK (&update, ticket_update, at);
    update.by = (char *)pd_ctx_actor (ctx);
    update.note = streq (ticket->status, "resolved") ? ticket->resolution_note : NULL;
    update.incident_id = ticket->incident_id;
    update.dedup_key = ticket->dedup_key;
    return pd_record_put (batch, &pd_table_escalation_outbox, key, &update, PD_STORE_ANY);
}

int
pd_ticket_emit (pd_ctx_t *ctx, pd_store_batch_t *batch, const char *type,
                const pd_escalation_t *ticket, const char *target)
{
    //  The appliance that raised it last, and the one that opened it if
    //  another: both have the incident
    const char *appliance = pd_ticket_appliance (ticket);
    if (appliance && *appliance && pd_ticket_update_event (type)) {
        int rc = s_outbox_put (ctx, batch, ticket, appliance);
        if (rc == PD_OK && ticket->appliance_id && *ticket->appliance_id &&
            strcmp (ticket->appliance_id, appliance) != 0)
            rc = s_outbox_put (ctx, batch, ticket, ticket->appliance_id);
        if (rc != PD_OK)
            return rc;
    }
    pd_event_t event = {0};
    event.type = (char *)type;
    event.at = pd_ctx_now (ctx);
    PD_MARK (&event, event, at);
    event.partner_id = ticket->partner_id;
    event.subject = ticket->id;
    event.actor = (char *)pd_ctx_actor (ctx);
    event.detail = ticket->title;
    event.site_id = ticket->site_id;
    event.appliance_id = (char *)pd_ticket_appliance (ticket);
    event.priority = ticket->priority;
    event.status = ticket->status;
    event.target = (char *)target;
    event.count = ticket->occurrence_count;
    PD_MARK (&event, event, count);
    return pd_ctx_emit (ctx, batch, PD_STREAM_ESCALATIONS, &event);
}

int
pd_ticket_entry (pd_store_batch_t *batch, pd_escalation_t *ticket, const char *action,
                 const char *by, const char *note, int64_t at)
{
    char key[S_ENTRY_KEY_SIZE];
    snprintf (key, sizeof (key), "%s/%08" PRId64, ticket->id, ticket->entries);
    pd_escalation_entry_t entry = {0};
    entry.at = at;
    PD_MARK (&entry, escalation_entry, at);
    entry.action = (char *)action;
    entry.by = (char *)by;
    entry.note = (char *)note;
    ticket->entries++;
    PD_MARK (ticket, escalation, entries);
    return pd_record_put (batch, &pd_table_escalation_timeline, key, &entry, PD_STORE_ABSENT);
}

//  The field of each kind's pending deadline, and its presence bit
static int64_t *
s_field (pd_escalation_t *ticket, pd_sla_kind_t kind)
{
    switch (kind) {
    case PD_SLA_RESPONSE_WARNING:
        return &ticket->response_warn_at;
    case PD_SLA_RESPONSE:
        return &ticket->response_due_at;
    case PD_SLA_RESOLUTION_WARNING:
        return &ticket->resolution_warn_at;
    default:
        return &ticket->resolution_due_at;
    }
}

static const int s_bits[PD_SLA_KINDS] = {
    PD_FIELD_escalation_response_warn_at, PD_FIELD_escalation_response_due_at,
    PD_FIELD_escalation_resolution_warn_at, PD_FIELD_escalation_resolution_due_at};

bool
pd_ticket_pending (const pd_escalation_t *ticket, pd_sla_kind_t kind, int64_t *due)
{
    if (!((ticket->present >> s_bits[kind]) & 1))
        return false;
    *due = *s_field ((pd_escalation_t *)ticket, kind);
    return true;
}

void
pd_ticket_forget (pd_escalation_t *ticket, pd_sla_kind_t kind)
{
    *s_field (ticket, kind) = 0;
    ticket->present &= ~(UINT64_C (1) << s_bits[kind]);
}

int
pd_ticket_clocks_start (pd_store_batch_t *batch, pd_escalation_t *ticket, int64_t now)
{
    int64_t due[PD_SLA_KINDS];
    int rc =
        ticket->sla ? pd_sla_deadlines (ticket->sla, ticket->calendar, now, due) : PD_E_INTERNAL;
    if (rc == PD_E_INVALID_FIELD && ticket->sla->business_hours) {
        //  Terms its calendar cannot hold (the policy check refuses them
        //  now; an older policy may have them): the ticket opens anyway,
        //  its clocks around the clock
        zsys_warning ("sla: ticket %s: business hours cannot hold its targets; counting "
                      "around the clock",
                      ticket->id);
        pd_sla_terms_t terms = *ticket->sla;
        terms.business_hours = false;
        rc = pd_sla_deadlines (&terms, NULL, now, due);
    }
    for (int k = 0; rc == PD_OK && k < PD_SLA_KINDS; k++) {
        *s_field (ticket, (pd_sla_kind_t)k) = due[k];
        ticket->present |= UINT64_C (1) << s_bits[k];
        rc = pd_sla_deadline_add (batch, ticket->id, (pd_sla_kind_t)k, due[k]);
    }
    return rc;
}

int
pd_ticket_clocks_stop (pd_store_batch_t *batch, pd_escalation_t *ticket, pd_sla_kind_t first,
                       pd_sla_kind_t last)
{
    int rc = PD_OK;
    for (int k = first; rc == PD_OK && k <= (int)last; k++) {
        int64_t due;
        if (!pd_ticket_pending (ticket, (pd_sla_kind_t)k, &due))
            continue;
        rc = pd_sla_deadline_remove (batch, ticket->id, (pd_sla_kind_t)k, due);
        pd_ticket_forget (ticket, (pd_sla_kind_t)k);
    }
    return rc;
}
