/*  pd_escalation_actor - L3 escalation tickets from appliances
    (see pd_escalation_actor.h)
*/
#include "pd_escalation_actor.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_ratelimit.h"
#include "pd_record.h"
#include "pd_sla.h"
#include "pd_ticket.h"
#include "pd_token.h"

#define S_TICKET_TYPE    "esc"
#define S_RANDOM_LENGTH  10
#define S_ID_SIZE        (PD_ID_MAX + 1)
#define S_KEY_SIZE       (PD_ID_MAX + 1 + PD_DEDUP_KEY_MAX + 1)
#define S_ENTRY_KEY_SIZE (PD_ID_MAX + 16)          //  "<ticket id>/" prefix of its timeline
#define S_TIME_MAX       UINT64_C (0xFFFFFFFFFFFF) //  48 bits of ms: until the year 10889
#define S_HOUR_MS        (3600 * 1000LL)
#define S_MINUTE_MS      (60 * 1000LL)

//  Priority words appliances may send, and the priority each means
static const struct {
    const char *word;
    const char *priority;
} s_priority_words[] = {
    {"critical", "P1"},
    {"high", "P2"},
    {"medium", "P3"},
    {"low", "P4"},
};

static const char *
s_priority (const char *input)
{
    for (size_t i = 0; i < sizeof (s_priority_words) / sizeof (s_priority_words[0]); i++)
        if (strcmp (input, s_priority_words[i].word) == 0)
            return s_priority_words[i].priority;
    return input; //  P1..P4 (the schema let nothing else through)
}

//  A ticket id that sorts newest first: 12 hex digits of the time counted
//  down, then random characters (two tickets of one millisecond differ)
static int
s_ticket_id (int64_t now, char *id, size_t size)
{
    char random[S_ID_SIZE];
    int rc = pd_token_random_id (S_TICKET_TYPE, S_RANDOM_LENGTH, random, sizeof (random));
    if (rc != PD_OK)
        return rc;
    uint64_t down = S_TIME_MAX - ((uint64_t)now & S_TIME_MAX);
    int length = snprintf (id, size, S_TICKET_TYPE "_%012" PRIx64 "%s", down,
                           random + strlen (S_TICKET_TYPE) + 1);
    return length > 0 && (size_t)length < size ? PD_OK : PD_E_INTERNAL;
}

static void
s_clear_str (char **field)
{
    free (*field);
    *field = NULL;
}

//  Load ticket `id` if the caller may see it: its partner, or an admin.
//  Another partner's ticket is not found.
static int
s_ticket_own (pd_ctx_t *ctx, const char *id, pd_escalation_t *ticket)
{
    const char *partner_id = pd_ctx_partner_id (ctx);
    bool admin = strcmp (pd_ctx_principal (ctx)->kind, "admin") == 0;
    if (!partner_id && !admin)
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "partners and admins only");
    int rc = pd_record_load (pd_ctx_store (ctx), &pd_table_escalations, id, ticket);
    if (rc == PD_OK && partner_id && strcmp (ticket->partner_id, partner_id) != 0) {
        pd_schema_clear (&pd_escalation_schema, ticket);
        rc = PD_E_NOT_FOUND;
    }
    if (rc == PD_E_NOT_FOUND)
        return pd_ctx_fail (ctx, rc, "id", "no such ticket");
    return rc;
}

//  ------------------------------------------------------------------------
//  escalation.create

typedef struct {
    const pd_escalation_input_t *input;
    const char *priority;
    const pd_appliance_info_t *appliance;
    const char *by; //  "appliance:<id>"
    pd_escalation_receipt_t *receipt;
} s_raise_t;

//  New tickets an appliance may open in an hour (repeats of open tickets
//  are only counted on them): a runaway agent cannot fill the store. The
//  count is part of the new ticket's batch: one commit for both
static int
s_new_ticket_allowed (pd_ctx_t *ctx, const s_raise_t *raise, pd_store_batch_t *batch)
{
    char key[PD_ID_MAX + 16];
    snprintf (key, sizeof (key), "escalation:%s", raise->appliance->id);
    pd_ratelimit_policy_t policy = {pd_ctx_config (ctx)->escalations_per_appliance, S_HOUR_MS};
    int retry_after = 0;
    int rc = pd_ratelimit_count (pd_ctx_store (ctx), batch, key, &policy, pd_ctx_now (ctx),
                                 &retry_after);
    if (rc == PD_E_RATE_LIMITED) {
        pd_ctx_retry_after (ctx, retry_after);
        return pd_ctx_fail (ctx, rc, NULL, "too many new tickets from this appliance");
    }
    return rc;
}

//  Repeats an appliance may send in a minute: each is a durable write and
//  an event, and a runaway agent repeating in a loop would grow the stream
static int
s_repeat_allowed (pd_ctx_t *ctx, const s_raise_t *raise, pd_store_batch_t *batch)
{
    char key[PD_ID_MAX + 16];
    snprintf (key, sizeof (key), "repeat:%s", raise->appliance->id);
    pd_ratelimit_policy_t policy = {pd_ctx_config (ctx)->escalation_repeats_per_minute,
                                    S_MINUTE_MS};
    int retry_after = 0;
    int rc = pd_ratelimit_count (pd_ctx_store (ctx), batch, key, &policy, pd_ctx_now (ctx),
                                 &retry_after);
    if (rc == PD_E_RATE_LIMITED) {
        pd_ctx_retry_after (ctx, retry_after);
        return pd_ctx_fail (ctx, rc, NULL, "too many repeats from this appliance");
    }
    return rc;
}

//  A new ticket for the escalation, its clocks started under the SLA of
//  its partner and priority now
static int
s_ticket_new (pd_ctx_t *ctx, const s_raise_t *raise, pd_escalation_t *ticket)
{
    int64_t now = pd_ctx_now (ctx);
    const pd_escalation_input_t *in = raise->input;
    char id[S_ID_SIZE];
    int rc = s_ticket_id (now, id, sizeof (id));
    if (rc == PD_OK)
        rc = pd_schema_set_str (&ticket->id, id);
    if (rc == PD_OK)
        rc = pd_schema_set_str (&ticket->partner_id, raise->appliance->partner_id);
    if (rc == PD_OK)
        rc = pd_schema_set_str (&ticket->site_id, raise->appliance->site_id);
    if (rc == PD_OK)
        rc = pd_schema_set_str (&ticket->appliance_id, raise->appliance->id);
    if (rc == PD_OK)
        rc = pd_schema_set_str (&ticket->last_appliance_id, raise->appliance->id);
    if (rc == PD_OK)
        rc = pd_schema_set_str (&ticket->priority, raise->priority);
    if (rc == PD_OK)
        rc = pd_schema_set_str (&ticket->title, in->title);
    if (rc == PD_OK)
        rc = pd_schema_set_str (&ticket->details, in->details);
    if (rc == PD_OK)
        rc = pd_schema_set_str (&ticket->category, in->category);
    if (rc == PD_OK)
        rc = pd_schema_set_str (&ticket->dedup_key, in->dedup_key);
    if (rc == PD_OK)
        rc = pd_schema_set_str (&ticket->incident_id, in->incident_id);
    if (rc == PD_OK)
        rc = pd_schema_set_str (&ticket->host, in->host);
    if (rc == PD_OK)
        rc = pd_schema_set_str (&ticket->status, "open");
    ticket->occurrence_count = 1;
    ticket->created_at = ticket->last_seen_at = now;
    PD_MARK (ticket, escalation, occurrence_count);
    PD_MARK (ticket, escalation, created_at);
    PD_MARK (ticket, escalation, last_seen_at);
    //  The terms it opens under, kept with it
    pd_sla_policy_t policy = {0};
    if (rc == PD_OK)
        rc = pd_sla_policy_load (pd_ctx_store (ctx), ticket->partner_id, &policy, NULL);
    const pd_sla_terms_t *terms =
        rc == PD_OK ? pd_sla_policy_terms (&policy, ticket->priority) : NULL;
    if (rc == PD_OK && !terms)
        rc = PD_E_INTERNAL;
    if (rc == PD_OK) {
        ticket->sla = calloc (1, sizeof (pd_sla_terms_t));
        rc =
            ticket->sla ? pd_schema_copy (&pd_sla_terms_schema, ticket->sla, terms) : PD_E_INTERNAL;
    }
    if (rc == PD_OK && terms->business_hours) {
        ticket->calendar = calloc (1, sizeof (pd_sla_calendar_t));
        rc = ticket->calendar
                 ? pd_schema_copy (&pd_sla_calendar_schema, ticket->calendar, policy.calendar)
                 : PD_E_INTERNAL;
    }
    pd_schema_clear (&pd_sla_policy_schema, &policy);
    return rc;
}

static int
s_raise_once (pd_ctx_t *ctx, s_raise_t *raise)
{
    pd_store_t *store = pd_ctx_store (ctx);
    const pd_escalation_input_t *in = raise->input;
    int64_t now = pd_ctx_now (ctx);
    int64_t window = pd_ctx_config (ctx)->escalation_reopen_window_s * 1000;

    //  The ticket the site's dedup key counts on now, if any
    char key[S_KEY_SIZE] = "";
    pd_escalation_key_t binding = {0};
    uint64_t binding_version = PD_STORE_ABSENT;
    pd_escalation_t ticket = {0};
    bool found = false;
    int rc = PD_OK;
    if (in->dedup_key) {
        snprintf (key, sizeof (key), "%s/%s", raise->appliance->site_id, in->dedup_key);
        rc = pd_record_get (store, &pd_table_escalation_keys, key, &binding, &binding_version);
        if (rc == PD_OK) {
            rc = pd_record_load (store, &pd_table_escalations, binding.ticket_id, &ticket);
            found = rc == PD_OK;
        }
        if (rc == PD_E_NOT_FOUND)
            rc = PD_OK;
    }
    bool repeat = found && strcmp (ticket.status, "resolved") != 0;
    bool reopen = found && !repeat && now - ticket.resolved_at <= window;
    pd_store_batch_t *batch = rc == PD_OK ? pd_store_batch_new () : NULL;
    if (rc == PD_OK && !batch)
        rc = PD_E_INTERNAL;
    const char *type = "escalation.opened";
    if (rc == PD_OK && (repeat || reopen)) {
        uint64_t expect = (uint64_t)ticket.version;
        ticket.occurrence_count++;
        ticket.last_seen_at = now;
        rc = s_repeat_allowed (ctx, raise, batch);
        //  Its changes go to the appliance whose incident it is now
        if (rc == PD_OK)
            rc = pd_schema_set_str (&ticket.last_appliance_id, raise->appliance->id);
        type = "escalation.repeated";
        if (rc == PD_OK && reopen) {
            type = "escalation.reopened";
            rc = pd_schema_set_str (&ticket.status, "open");
            ticket.reopened_at = now;
            ticket.reopen_count++;
            PD_MARK (&ticket, escalation, reopened_at);
            PD_MARK (&ticket, escalation, reopen_count);
            ticket.present &= ~((UINT64_C (1) << PD_FIELD_escalation_acknowledged_at) |
                                (UINT64_C (1) << PD_FIELD_escalation_resolved_at) |
                                (UINT64_C (1) << PD_FIELD_escalation_response_breached) |
                                (UINT64_C (1) << PD_FIELD_escalation_resolution_breached));
            ticket.acknowledged_at = ticket.resolved_at = 0;
            ticket.response_breached = ticket.resolution_breached = false;
            s_clear_str (&ticket.acknowledged_by);
            s_clear_str (&ticket.resolved_by);
            s_clear_str (&ticket.resolution_note);
            if (rc == PD_OK)
                rc = pd_ticket_clocks_start (batch, &ticket, now);
            if (rc == PD_OK)
                rc = pd_ticket_entry (batch, &ticket, "reopened", raise->by, NULL, now);
        }
        if (rc == PD_OK)
            rc = pd_record_store (batch, &pd_table_escalations, ticket.id, &ticket, expect);
    } else if (rc == PD_OK) {
        //  A new ticket (the key, if any, moves to it)
        pd_schema_clear (&pd_escalation_schema, &ticket);
        rc = s_new_ticket_allowed (ctx, raise, batch);
        if (rc == PD_OK)
            rc = s_ticket_new (ctx, raise, &ticket);
        if (rc == PD_OK)
            rc = pd_ticket_clocks_start (batch, &ticket, now);
        if (rc == PD_OK)
            rc = pd_ticket_entry (batch, &ticket, "opened", raise->by, NULL, now);
        if (rc == PD_OK)
            rc =
                pd_record_store (batch, &pd_table_escalations, ticket.id, &ticket, PD_STORE_ABSENT);
        if (rc == PD_OK)
            rc = pd_record_index_add (batch, &pd_index_escalations_by_partner, ticket.partner_id,
                                      ticket.id);
        if (rc == PD_OK && *key) {
            pd_escalation_key_t moved = {.ticket_id = ticket.id};
            rc = pd_record_put (batch, &pd_table_escalation_keys, key, &moved, binding_version);
        }
    }
    if (rc == PD_OK)
        rc = pd_ticket_emit (ctx, batch, type, &ticket, NULL);
    if (rc == PD_OK)
        rc = pd_ctx_commit (ctx, batch);
    if (rc == PD_OK) {
        pd_escalation_receipt_t *receipt = raise->receipt;
        rc = pd_schema_set_str (&receipt->id, ticket.id);
        if (rc == PD_OK)
            rc = pd_schema_set_str (&receipt->status, ticket.status);
        receipt->created = !repeat && !reopen;
        receipt->reopened = reopen;
        receipt->occurrence_count = ticket.occurrence_count;
        PD_MARK (receipt, escalation_receipt, created);
        PD_MARK (receipt, escalation_receipt, reopened);
        PD_MARK (receipt, escalation_receipt, occurrence_count);
    }
    pd_store_batch_destroy (&batch);
    pd_schema_clear (&pd_escalation_schema, &ticket);
    pd_schema_clear (&pd_escalation_key_schema, &binding);
    return rc;
}

static int
s_escalation_create (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const char *appliance_id = pd_ctx_appliance_id (ctx);
    if (!appliance_id)
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "appliances only");
    pd_appliance_info_t appliance = {0};
    int rc = pd_record_load (pd_ctx_store (ctx), &pd_table_appliances, appliance_id, &appliance);
    if (rc == PD_E_NOT_FOUND)
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "no such appliance");
    if (rc == PD_OK && strcmp (appliance.status, "active") != 0)
        rc = pd_ctx_fail (ctx, PD_E_APPLIANCE_REVOKED, NULL, "appliance is %s", appliance.status);
    //  A partner that is not active raises nothing (its keys are refused too)
    pd_partner_t partner = {0};
    if (rc == PD_OK) {
        rc = pd_record_get (pd_ctx_store (ctx), &pd_table_partners, appliance.partner_id, &partner,
                            NULL);
        if (rc == PD_OK && partner.status && strcmp (partner.status, "active") != 0)
            rc =
                pd_ctx_fail (ctx, PD_E_PARTNER_INACTIVE, NULL, "the partner is %s", partner.status);
        else if (rc == PD_E_NOT_FOUND)
            rc = pd_ctx_fail (ctx, PD_E_PARTNER_INACTIVE, NULL, "the partner is gone");
        pd_schema_clear (&pd_partner_schema, &partner);
    }
    char by[PD_ID_MAX + 16];
    snprintf (by, sizeof (by), "appliance:%s", appliance_id);
    const pd_escalation_input_t *in = request;
    s_raise_t raise = {in, s_priority (in->priority), &appliance, by, reply};
    for (int attempt = 0; rc == PD_OK && attempt < PD_ESCALATION_ATTEMPTS; attempt++) {
        rc = s_raise_once (ctx, &raise);
        if (rc == PD_E_CONFLICT || rc == PD_E_EXISTS)
            rc = PD_OK; //  another change came first: read again
        else
            break;
        if (attempt + 1 == PD_ESCALATION_ATTEMPTS)
            rc = pd_ctx_fail (ctx, PD_E_CONFLICT, NULL, "too many concurrent changes; retry");
    }
    pd_schema_clear (&pd_appliance_info_schema, &appliance);
    return rc;
}

//  ------------------------------------------------------------------------
//  Acknowledge, resolve

typedef enum { S_ACKNOWLEDGE, S_RESOLVE } s_change_t;

static int
s_change (pd_ctx_t *ctx, const char *id, const char *note, s_change_t change, void *reply)
{
    if (!pd_ctx_partner_id (ctx))
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "partners only");
    int rc = PD_E_CONFLICT;
    for (int attempt = 0; attempt < PD_ESCALATION_ATTEMPTS && rc == PD_E_CONFLICT; attempt++) {
        pd_escalation_t ticket = {0};
        rc = s_ticket_own (ctx, id, &ticket);
        if (rc != PD_OK)
            return rc;
        bool resolved = strcmp (ticket.status, "resolved") == 0;
        bool acknowledged = strcmp (ticket.status, "acknowledged") == 0;
        if (resolved && change == S_RESOLVE && ticket.resolution_note && note &&
            strcmp (ticket.resolution_note, note) == 0) {
            //  Resolved with this note already: a retried request
            *(pd_escalation_t *)reply = ticket;
            return PD_OK;
        }
        if (resolved) {
            pd_schema_clear (&pd_escalation_schema, &ticket);
            return pd_ctx_fail (ctx, PD_E_INVALID_STATE, "status",
                                "the ticket is resolved; a repeat from its appliance re-opens it");
        }
        if (change == S_ACKNOWLEDGE && acknowledged) {
            //  Acknowledged already: nothing changes (a retried request)
            *(pd_escalation_t *)reply = ticket;
            return PD_OK;
        }
        int64_t now = pd_ctx_now (ctx);
        const char *by = pd_ctx_actor (ctx);
        uint64_t expect = (uint64_t)ticket.version;
        pd_store_batch_t *batch = pd_store_batch_new ();
        rc = batch ? PD_OK : PD_E_INTERNAL;
        if (rc == PD_OK && change == S_ACKNOWLEDGE) {
            rc = pd_schema_set_str (&ticket.status, "acknowledged");
            ticket.acknowledged_at = now;
            PD_MARK (&ticket, escalation, acknowledged_at);
            if (rc == PD_OK)
                rc = pd_schema_set_str (&ticket.acknowledged_by, by);
            if (rc == PD_OK)
                rc = pd_ticket_clocks_stop (batch, &ticket, PD_SLA_RESPONSE_WARNING,
                                            PD_SLA_RESPONSE);
            if (rc == PD_OK)
                rc = pd_ticket_entry (batch, &ticket, "acknowledged", by, note, now);
        } else if (rc == PD_OK) {
            rc = pd_schema_set_str (&ticket.status, "resolved");
            ticket.resolved_at = now;
            PD_MARK (&ticket, escalation, resolved_at);
            if (rc == PD_OK)
                rc = pd_schema_set_str (&ticket.resolved_by, by);
            if (rc == PD_OK)
                rc = pd_schema_set_str (&ticket.resolution_note, note);
            if (rc == PD_OK)
                rc = pd_ticket_clocks_stop (batch, &ticket, PD_SLA_RESPONSE_WARNING,
                                            PD_SLA_RESOLUTION);
            if (rc == PD_OK)
                rc = pd_ticket_entry (batch, &ticket, "resolved", by, note, now);
        }
        if (rc == PD_OK)
            rc = pd_record_store (batch, &pd_table_escalations, ticket.id, &ticket, expect);
        if (rc == PD_OK)
            rc = pd_ticket_emit (ctx, batch,
                                 change == S_ACKNOWLEDGE ? "escalation.acknowledged"
                                                         : "escalation.resolved",
                                 &ticket, NULL);
        if (rc == PD_OK)
            rc = pd_ctx_commit (ctx, batch);
        pd_store_batch_destroy (&batch);
        if (rc == PD_OK) {
            ticket.version = (int64_t)expect + 1;
            *(pd_escalation_t *)reply = ticket;
        } else
            pd_schema_clear (&pd_escalation_schema, &ticket);
    }
    return rc;
}

static int
s_escalation_acknowledge (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_escalation_ack_t *req = request;
    return s_change (ctx, req->id, req->note, S_ACKNOWLEDGE, reply);
}

static int
s_escalation_resolve (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_escalation_resolve_t *req = request;
    return s_change (ctx, req->id, req->note, S_RESOLVE, reply);
}

//  ------------------------------------------------------------------------
//  Reading

//  No change of the ticket waits in the appliance's outbox (true for none)
static bool
s_informed (pd_ctx_t *ctx, const pd_escalation_t *ticket, const char *appliance_id)
{
    if (!appliance_id || !*appliance_id)
        return true;
    char key[2 * PD_ID_MAX + 2];
    int size = snprintf (key, sizeof (key), "%s/%s", appliance_id, ticket->id);
    pd_store_value_t value = {0};
    int rc = pd_store_get (pd_ctx_store (ctx), pd_table_escalation_outbox.name, key, (size_t)size,
                           &value);
    pd_store_value_clear (&value);
    return rc == PD_E_NOT_FOUND;
}

static int
s_escalation_get (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_escalation_ref_t *req = request;
    pd_escalation_t *ticket = reply;
    int rc = s_ticket_own (ctx, req->id, ticket);
    if (rc != PD_OK)
        return rc;
    //  Its timeline: entries "<id>/<n>", in order
    char prefix[S_ENTRY_KEY_SIZE];
    int prefix_size = snprintf (prefix, sizeof (prefix), "%s/", ticket->id);
    pd_store_item_t *items = NULL;
    size_t count = 0;
    rc = pd_store_scan (pd_ctx_store (ctx), pd_table_escalation_timeline.name, prefix,
                        (size_t)prefix_size, NULL, 0, PD_PAGE_LIMIT_MAX, &items, &count);
    if (rc == PD_OK && count) {
        ticket->timeline.items = calloc (count, sizeof (pd_escalation_entry_t));
        rc = ticket->timeline.items ? PD_OK : PD_E_INTERNAL;
    }
    pd_escalation_entry_t *entries = ticket->timeline.items;
    for (size_t i = 0; rc == PD_OK && i < count; i++) {
        rc = pd_schema_decode (&pd_escalation_entry_schema, items[i].data, items[i].size,
                               &entries[i], NULL);
        if (rc == PD_OK)
            ticket->timeline.size = i + 1;
    }
    pd_store_items_destroy (&items, count);
    if (rc != PD_OK)
        return pd_ctx_fail (ctx, PD_E_INTERNAL, NULL, "timeline unreadable");
    //  Has every appliance of the ticket taken its last change?
    ticket->appliance_informed = s_informed (ctx, ticket, ticket->appliance_id) &&
                                 s_informed (ctx, ticket, ticket->last_appliance_id);
    PD_MARK (ticket, escalation, appliance_informed);
    return PD_OK;
}

static bool
s_list_filter (const void *record, void *arg)
{
    const pd_escalation_t *ticket = record;
    const pd_escalation_list_t *req = arg;
    if (req->status && strcmp (ticket->status, req->status) != 0)
        return false;
    if (req->priority && strcmp (ticket->priority, req->priority) != 0)
        return false;
    if (req->site_id && strcmp (ticket->site_id, req->site_id) != 0)
        return false;
    if (req->partner_id && strcmp (ticket->partner_id, req->partner_id) != 0)
        return false;
    if (PD_HAS (req, escalation_list, since) && ticket->created_at < req->since)
        return false;
    if (PD_HAS (req, escalation_list, until) && ticket->created_at >= req->until)
        return false;
    return true;
}

static int
s_escalation_list (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_escalation_list_t *req = request;
    pd_escalation_page_t *page = reply;
    const char *partner_id = pd_ctx_partner_id (ctx);
    bool admin = strcmp (pd_ctx_principal (ctx)->kind, "admin") == 0;
    if (!partner_id && !admin)
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "partners and admins only");
    if (partner_id && req->partner_id && strcmp (req->partner_id, partner_id) != 0)
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, "partner_id", "a partner sees its own tickets");
    size_t limit =
        PD_HAS (req, escalation_list, limit) ? (size_t)req->limit : PD_PAGE_LIMIT_DEFAULT;
    const char *owner = partner_id ? partner_id : req->partner_id;
    int rc = owner ? pd_record_page_of (pd_ctx_store (ctx), &pd_index_escalations_by_partner, owner,
                                        req->cursor, limit, s_list_filter, (void *)req,
                                        &page->items, &page->next_cursor)
                   : pd_record_page (pd_ctx_store (ctx), &pd_table_escalations, req->cursor, limit,
                                     s_list_filter, (void *)req, &page->items, &page->next_cursor);
    //  Lists show summaries: the details and the SLA terms are the
    //  ticket's own page (a page of 200 tickets of 16 KiB details would not
    //  fit one message)
    pd_escalation_t *items = page->items.items;
    for (size_t i = 0; rc == PD_OK && i < page->items.size; i++) {
        s_clear_str (&items[i].details);
        if (items[i].sla)
            pd_schema_clear (&pd_sla_terms_schema, items[i].sla);
        free (items[i].sla);
        items[i].sla = NULL;
        if (items[i].calendar)
            pd_schema_clear (&pd_sla_calendar_schema, items[i].calendar);
        free (items[i].calendar);
        items[i].calendar = NULL;
    }
    if (rc == PD_OK)
        PD_MARK (page, escalation_page, items);
    return rc;
}

//  ------------------------------------------------------------------------
//  Following the escalation stream (the gateway serves it as SSE)

static int
s_escalation_follow (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_stream_follow_t *req = request;
    pd_stream_grant_t *grant = reply;
    const char *partner_id = pd_ctx_partner_id (ctx);
    bool admin = strcmp (pd_ctx_principal (ctx)->kind, "admin") == 0;
    if (!partner_id && !admin)
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "partners and admins only");
    if (partner_id && req->partner_id && strcmp (req->partner_id, partner_id) != 0)
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, "partner_id", "a partner follows its own events");
    //  Where to start: Last-Event-ID resumes after it, `from` names the
    //  first, and without either only new events come
    int64_t from = 0;
    if (req->last_event_id) {
        char *end = NULL;
        long long last = strtoll (req->last_event_id, &end, 10);
        if (!end || *end || last < 0 || last == LLONG_MAX)
            return pd_ctx_fail (ctx, PD_E_INVALID_FIELD, "last_event_id",
                                "Last-Event-ID must be a sequence number");
        from = last + 1;
    } else if (PD_HAS (req, stream_follow, from))
        from = req->from;
    else
        from = (int64_t)pd_store_stream_last (pd_ctx_store (ctx), PD_ACTOR_EVENT_TABLE,
                                              PD_STREAM_ESCALATIONS) +
               1;
    if (req->priority) {
        //  "P1" or a comma-separated list of them
        for (const char *p = req->priority; *p;) {
            if (p[0] != 'P' || p[1] < '1' || p[1] > '4' || (p[2] && p[2] != ','))
                return pd_ctx_fail (ctx, PD_E_INVALID_FIELD, "priority",
                                    "must be priorities P1..P4, comma-separated");
            p += p[2] ? 3 : 2;
        }
    }
    int rc = pd_schema_set_str (&grant->stream, PD_STREAM_ESCALATIONS);
    grant->from = from > 0 ? from : 1;
    PD_MARK (grant, stream_grant, from);
    if (rc == PD_OK)
        rc = pd_schema_set_str (&grant->partner_id, partner_id ? partner_id : req->partner_id);
    if (rc == PD_OK)
        rc = pd_schema_set_str (&grant->site_id, req->site_id);
    if (rc == PD_OK)
        rc = pd_schema_set_str (&grant->priority, req->priority);
    return rc;
}

//  ------------------------------------------------------------------------
//  The changes of its tickets an appliance has not seen (the front sends
//  them down its link as `ticket`s; `seen` answers each)

static int
s_escalation_updates (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const char *appliance_id = pd_ctx_appliance_id (ctx);
    if (!appliance_id)
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "appliances only");
    const pd_ticket_updates_ask_t *ask = request;
    char prefix[PD_ID_MAX + 2], after[2 * PD_ID_MAX + 2] = "";
    int prefix_size = snprintf (prefix, sizeof (prefix), "%s/", appliance_id);
    int after_size =
        ask->after ? snprintf (after, sizeof (after), "%s/%s", appliance_id, ask->after) : 0;
    pd_store_item_t *items = NULL;
    size_t count = 0;
    int rc = pd_store_scan (pd_ctx_store (ctx), pd_table_escalation_outbox.name, prefix,
                            (size_t)prefix_size, after_size ? after : NULL, (size_t)after_size,
                            PD_TICKET_UPDATES_MAX, &items, &count);
    pd_ticket_updates_t *updates = reply;
    if (rc == PD_OK && count) {
        updates->items.items = calloc (count, sizeof (pd_ticket_update_t));
        rc = updates->items.items ? PD_OK : PD_E_INTERNAL;
    }
    //  Changes older than PD_TICKET_UPDATE_TTL_MS (an appliance that never
    //  answers) and records that do not decode go (each delete checked
    //  against the version read: a change written meanwhile stays)
    int64_t oldest = pd_ctx_now (ctx) - PD_TICKET_UPDATE_TTL_MS;
    pd_store_batch_t *stale = NULL;
    pd_ticket_update_t *list = updates->items.items;
    for (size_t i = 0; rc == PD_OK && i < count; i++) {
        pd_ticket_update_t *update = &list[updates->items.size];
        bool decoded = pd_schema_decode (&pd_ticket_update_schema, items[i].data, items[i].size,
                                         update, NULL) == PD_OK;
        if (decoded && update->at >= oldest) {
            updates->items.size++;
            continue;
        }
        if (decoded)
            pd_schema_clear (&pd_ticket_update_schema, update);
        else
            zsys_error ("escalation: undecodable outbox record of %s deleted", appliance_id);
        if (!stale)
            stale = pd_store_batch_new ();
        if (stale)
            pd_store_batch_delete (stale, pd_table_escalation_outbox.name, items[i].key,
                                   items[i].key_size, items[i].version);
    }
    //  A full read: more may follow, after the last one read (whatever
    //  became of it here)
    size_t skip = (size_t)prefix_size;
    if (rc == PD_OK && count == PD_TICKET_UPDATES_MAX && items[count - 1].key_size > skip) {
        char next[PD_ID_MAX + 1];
        size_t size = items[count - 1].key_size - skip;
        if (size < sizeof (next)) {
            memcpy (next, (const char *)items[count - 1].key + skip, size);
            next[size] = 0;
            rc = pd_schema_set_str (&updates->next_after, next);
        }
    }
    pd_store_items_destroy (&items, count);
    if (stale && rc == PD_OK && pd_ctx_commit (ctx, stale) != PD_OK)
        zsys_warning ("escalation: stale outbox records of %s not deleted yet", appliance_id);
    pd_store_batch_destroy (&stale);
    return rc;
}

static int
s_escalation_seen (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const char *appliance_id = pd_ctx_appliance_id (ctx);
    if (!appliance_id)
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "appliances only");
    const pd_ticket_seen_t *seen = request;
    char key[2 * PD_ID_MAX + 2];
    snprintf (key, sizeof (key), "%s/%s", appliance_id, seen->id);
    pd_ticket_update_t update = {0};
    uint64_t version = 0;
    int rc =
        pd_record_get (pd_ctx_store (ctx), &pd_table_escalation_outbox, key, &update, &version);
    bool done = rc == PD_OK && update.version <= seen->version;
    pd_schema_clear (&pd_ticket_update_schema, &update);
    if (rc == PD_E_NOT_FOUND || (rc == PD_OK && !done))
        return PD_OK; //  seen before, or a newer change waits: it stays
    pd_store_batch_t *batch = rc == PD_OK ? pd_store_batch_new () : NULL;
    if (rc == PD_OK && !batch)
        rc = PD_E_INTERNAL;
    if (rc == PD_OK)
        rc = pd_store_batch_delete (batch, pd_table_escalation_outbox.name, key, strlen (key),
                                    version);
    if (rc == PD_OK)
        rc = pd_ctx_commit (ctx, batch);
    if (rc == PD_E_CONFLICT)
        rc = PD_OK; //  a newer change came meanwhile: it stays for the next `seen`
    pd_store_batch_destroy (&batch);
    return rc;
}

static const pd_handler_t s_handlers[] = {
    {"escalation.create", s_escalation_create},
    {"escalation.acknowledge", s_escalation_acknowledge},
    {"escalation.resolve", s_escalation_resolve},
    {"escalation.get", s_escalation_get},
    {"escalation.list", s_escalation_list},
    {"escalation.follow", s_escalation_follow},
    {"escalation.updates", s_escalation_updates},
    {"escalation.seen", s_escalation_seen},
    {NULL, NULL},
};

//  Repeats of one key wait on each other's commits: more instances let
//  them share fsyncs
const pd_actor_def_t pd_escalation_actor = {
    .service = "escalation", .handlers = s_handlers, .min_instances = 4};
