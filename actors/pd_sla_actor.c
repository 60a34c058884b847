/*  pd_sla_actor - SLA definitions, the SLA timer, SLA metrics (see pd_sla_actor.h)
 */
#include "pd_sla_actor.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_record.h"
#include "pd_sla.h"
#include "pd_ticket.h"

#define S_ID_SIZE     (PD_ID_MAX + 1)
#define S_DUE_DIGITS  15
#define S_PRIORITIES  4
#define S_STREAM_PAGE 1000
//  Events are appended about in the order of their `at` (each takes its
//  time before its commit); a window's read starts this much earlier
#define S_DISORDER_MS 60000

//  ------------------------------------------------------------------------
//  Definitions

static int
s_sla_definitions (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const char *partner_id = pd_ctx_partner_id (ctx);
    if (!partner_id)
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "partners only");
    pd_sla_policy_t *policy = reply;
    uint64_t version = 0;
    int rc = pd_sla_policy_load (pd_ctx_store (ctx), partner_id, policy, &version);
    policy->version = (int64_t)version;
    PD_MARK (policy, sla_policy, version);
    return rc;
}

static int
s_sla_define (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_sla_policy_t *req = request;
    const char *partner_id = pd_ctx_partner_id (ctx);
    const pd_principal_t *principal = pd_ctx_principal (ctx);
    if (!partner_id)
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "partners only");
    if (principal->user_id && (!principal->role || strcmp (principal->role, "partner-admin") != 0))
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "partner admins only");
    pd_schema_error_t error = {0};
    if (pd_sla_policy_check (req, pd_ctx_now (ctx), &error) != PD_OK)
        return pd_ctx_fail (ctx, error.status, error.field, "%s", error.detail);
    int rc = PD_E_CONFLICT;
    for (int attempt = 0; attempt < 8 && rc == PD_E_CONFLICT; attempt++) {
        pd_sla_policy_t policy = {0};
        uint64_t version = 0;
        rc = pd_sla_policy_load (pd_ctx_store (ctx), partner_id, &policy, &version);
        //  The definitions given replace those of their priorities
        pd_sla_terms_t *terms = policy.definitions.items;
        const pd_sla_terms_t *given = req->definitions.items;
        for (size_t i = 0; rc == PD_OK && i < req->definitions.size; i++)
            for (size_t j = 0; rc == PD_OK && j < policy.definitions.size; j++)
                if (strcmp (terms[j].priority, given[i].priority) == 0) {
                    pd_schema_clear (&pd_sla_terms_schema, &terms[j]);
                    rc = pd_schema_copy (&pd_sla_terms_schema, &terms[j], &given[i]);
                }
        if (rc == PD_OK && req->calendar) {
            pd_schema_clear (&pd_sla_calendar_schema, policy.calendar);
            rc = pd_schema_copy (&pd_sla_calendar_schema, policy.calendar, req->calendar);
        }
        if (rc == PD_OK)
            rc = pd_sla_policy_complete (&policy);
        //  The policy as it will be (a new calendar meets the old terms)
        if (rc == PD_OK && pd_sla_policy_check (&policy, pd_ctx_now (ctx), &error) != PD_OK) {
            pd_schema_clear (&pd_sla_policy_schema, &policy);
            return pd_ctx_fail (ctx, error.status, error.field, "%s", error.detail);
        }
        policy.updated_at = pd_ctx_now (ctx);
        PD_MARK (&policy, sla_policy, updated_at);
        pd_store_batch_t *batch = rc == PD_OK ? pd_store_batch_new () : NULL;
        if (rc == PD_OK)
            rc = batch ? pd_record_store (batch, &pd_table_sla_definitions, partner_id, &policy,
                                          version ? version : PD_STORE_ABSENT)
                       : PD_E_INTERNAL;
        if (rc == PD_OK) {
            pd_event_t event = {.type = "sla.defined",
                                .partner_id = (char *)partner_id,
                                .subject = (char *)partner_id,
                                .actor = (char *)pd_ctx_actor (ctx)};
            event.at = pd_ctx_now (ctx);
            PD_MARK (&event, event, at);
            rc = pd_ctx_emit (ctx, batch, PD_STREAM_AUDIT, &event);
        }
        if (rc == PD_OK)
            rc = pd_ctx_commit (ctx, batch);
        if (rc == PD_E_EXISTS)
            rc = PD_E_CONFLICT; //  the first definition of two at once: read again
        pd_store_batch_destroy (&batch);
        if (rc == PD_OK) {
            policy.version = (int64_t)version + 1;
            PD_MARK (&policy, sla_policy, version);
            *(pd_sla_policy_t *)reply = policy;
        } else
            pd_schema_clear (&pd_sla_policy_schema, &policy);
    }
    return rc;
}

//  ------------------------------------------------------------------------
//  The timer

//  A due deadline, from its key "<due>/<ticket id>/<kind>"
typedef struct {
    char key[PD_SLA_KEY_MAX];
    size_t key_size;
    uint64_t version;
    int64_t due;
    char ticket_id[S_ID_SIZE];
    pd_sla_kind_t kind;
} s_due_t;

static bool
s_due_parse (const pd_store_item_t *item, s_due_t *due)
{
    if (item->key_size >= sizeof (due->key) || item->key_size <= S_DUE_DIGITS + 2)
        return false;
    memcpy (due->key, item->key, item->key_size);
    due->key[item->key_size] = 0;
    due->key_size = item->key_size;
    due->version = item->version;
    char *end = NULL;
    due->due = strtoll (due->key, &end, 10);
    if (end != due->key + S_DUE_DIGITS || *end != '/')
        return false;
    const char *id = end + 1;
    const char *slash = strchr (id, '/');
    if (!slash || slash == id || (size_t)(slash - id) >= sizeof (due->ticket_id))
        return false;
    memcpy (due->ticket_id, id, (size_t)(slash - id));
    due->ticket_id[slash - id] = 0;
    int kind = pd_sla_kind (slash + 1);
    due->kind = (pd_sla_kind_t)kind;
    return kind >= 0;
}

//  Add the firing of one ticket's due deadlines to `batch`
static int
s_fire_ticket (pd_ctx_t *ctx, pd_store_batch_t *batch, const s_due_t *dues, size_t count)
{
    pd_store_t *store = pd_ctx_store (ctx);
    int rc = PD_OK;
    //  Each deadline goes, whatever else happens: guarded by the version
    //  read, so that only one instance's batch commits
    for (size_t i = 0; rc == PD_OK && i < count; i++)
        rc = pd_store_batch_delete (batch, pd_table_sla_deadlines.name, dues[i].key,
                                    dues[i].key_size, dues[i].version);
    pd_escalation_t ticket = {0};
    int loaded = rc == PD_OK
                     ? pd_record_load (store, &pd_table_escalations, dues[0].ticket_id, &ticket)
                     : rc;
    if (loaded == PD_E_NOT_FOUND)
        return rc; //  a deadline of no ticket: only removed
    if (loaded != PD_OK)
        return loaded;
    uint64_t expect = (uint64_t)ticket.version;
    int64_t now = pd_ctx_now (ctx);
    bool fired = false;
    for (size_t i = 0; rc == PD_OK && i < count; i++) {
        int64_t pending;
        //  A deadline the ticket no longer waits for (met, cancelled,
        //  restarted) is only removed
        if (!pd_ticket_pending (&ticket, dues[i].kind, &pending) || pending != dues[i].due)
            continue;
        pd_ticket_forget (&ticket, dues[i].kind);
        bool breach = dues[i].kind == PD_SLA_RESPONSE || dues[i].kind == PD_SLA_RESOLUTION;
        const char *target =
            dues[i].kind <= PD_SLA_RESPONSE ? PD_SLA_TARGET_RESPONSE : PD_SLA_TARGET_RESOLUTION;
        if (dues[i].kind == PD_SLA_RESPONSE) {
            ticket.response_breached = true;
            PD_MARK (&ticket, escalation, response_breached);
        } else if (dues[i].kind == PD_SLA_RESOLUTION) {
            ticket.resolution_breached = true;
            PD_MARK (&ticket, escalation, resolution_breached);
        }
        const char *action = breach ? "sla.breached" : "sla.warning";
        rc = pd_ticket_entry (batch, &ticket, action, "sla", target, now);
        if (rc == PD_OK)
            rc = pd_ticket_emit (ctx, batch, action, &ticket, target);
        fired = true;
    }
    if (rc == PD_OK && fired)
        rc = pd_record_store (batch, &pd_table_escalations, ticket.id, &ticket, expect);
    pd_schema_clear (&pd_escalation_schema, &ticket);
    return rc;
}

//  Fire one ticket's dues in batches of their own: a conflict (a repeat,
//  an acknowledgement, another instance) re-reads the deadlines still
//  there and tries again, so that a busy ticket's breach is not put off
//  tick after tick; a ticket that cannot be fired for another reason (it
//  does not decode) loses its deadlines, logged, rather than failing every
//  tick
static void
s_fire_one (pd_ctx_t *ctx, const s_due_t *group, size_t count)
{
    s_due_t *dues = malloc (count * sizeof (s_due_t));
    if (!dues)
        return;
    memcpy (dues, group, count * sizeof (s_due_t));
    int rc = PD_E_CONFLICT;
    for (int attempt = 0; attempt < PD_SLA_FIRE_ATTEMPTS && rc == PD_E_CONFLICT && count;
         attempt++) {
        pd_store_batch_t *batch = pd_store_batch_new ();
        rc = batch ? s_fire_ticket (ctx, batch, dues, count) : PD_E_INTERNAL;
        if (rc == PD_OK)
            rc = pd_ctx_commit (ctx, batch);
        else if (batch)
            pd_ctx_discard (ctx, batch);
        pd_store_batch_destroy (&batch);
        if (rc != PD_E_CONFLICT)
            break;
        //  Keep the deadlines that are still there, at their versions now
        size_t kept = 0;
        for (size_t i = 0; i < count; i++) {
            pd_store_value_t value = {0};
            if (pd_store_get (pd_ctx_store (ctx), pd_table_sla_deadlines.name, dues[i].key,
                              dues[i].key_size, &value) == PD_OK) {
                dues[i].version = value.version;
                dues[kept++] = dues[i];
            }
            pd_store_value_clear (&value);
        }
        count = kept;
    }
    if (rc != PD_OK && rc != PD_E_CONFLICT && count) {
        zsys_error ("sla: ticket %s cannot be fired (%s): its %zu deadlines are dropped",
                    dues[0].ticket_id, pd_status_code (rc), count);
        pd_store_batch_t *batch = pd_store_batch_new ();
        for (size_t i = 0; batch && i < count; i++)
            pd_store_batch_delete (batch, pd_table_sla_deadlines.name, dues[i].key,
                                   dues[i].key_size, dues[i].version);
        if (batch)
            pd_store_commit (pd_ctx_store (ctx), batch);
        pd_store_batch_destroy (&batch);
    }
    free (dues);
}

//  Fire tickets [0, count) of `groups` (each a run of dues of one ticket):
//  in one batch, or one by one when that batch does not commit
static int
s_fire_groups (pd_ctx_t *ctx, const s_due_t *dues, const size_t *starts, size_t count)
{
    pd_store_batch_t *batch = pd_store_batch_new ();
    if (!batch)
        return PD_E_INTERNAL;
    int rc = PD_OK;
    for (size_t g = 0; rc == PD_OK && g < count; g++)
        rc = s_fire_ticket (ctx, batch, dues + starts[g], starts[g + 1] - starts[g]);
    if (rc == PD_OK)
        rc = pd_ctx_commit (ctx, batch);
    else
        pd_ctx_discard (ctx, batch);
    pd_store_batch_destroy (&batch);
    if (rc == PD_OK)
        return PD_OK;
    for (size_t g = 0; g < count; g++)
        s_fire_one (ctx, dues + starts[g], starts[g + 1] - starts[g]);
    return PD_OK;
}

static int
s_compare_dues (const void *a, const void *b)
{
    const s_due_t *x = a, *y = b;
    int by_ticket = strcmp (x->ticket_id, y->ticket_id);
    if (by_ticket)
        return by_ticket;
    return x->due < y->due ? -1 : x->due > y->due ? 1 : (int)x->kind - (int)y->kind;
}

//  One read of due deadlines, fired; *full: the read was all due
static int
s_fire_due (pd_ctx_t *ctx, bool *full)
{
    pd_store_t *store = pd_ctx_store (ctx);
    int64_t now = pd_ctx_now (ctx);
    pd_store_item_t *items = NULL;
    size_t count = 0;
    *full = false;
    //  The earliest first: most ticks find nothing due, and should not copy
    //  a whole read of records to learn it
    int rc =
        pd_store_scan (store, pd_table_sla_deadlines.name, NULL, 0, NULL, 0, 1, &items, &count);
    s_due_t first;
    bool look = rc == PD_OK && count == 1 &&
                (!s_due_parse (&items[0], &first) || first.due <= now); //  due, or odd
    pd_store_items_destroy (&items, count);
    count = 0;
    if (look)
        rc = pd_store_scan (store, pd_table_sla_deadlines.name, NULL, 0, NULL, 0, PD_SLA_DUE_READ,
                            &items, &count);
    if (rc != PD_OK || count == 0)
        return rc == PD_E_NOT_FOUND ? PD_OK : rc;
    s_due_t *dues = calloc (count, sizeof (s_due_t));
    size_t *starts = calloc (count + 1, sizeof (size_t));
    size_t due_count = 0;
    for (size_t i = 0; dues && starts && i < count; i++) {
        s_due_t *due = &dues[due_count];
        if (!s_due_parse (&items[i], due)) {
            zsys_warning ("sla: a deadline key that does not parse");
            continue;
        }
        if (due->due > now)
            break; //  keys are in due order: the rest is later
        due_count++;
    }
    *full = due_count == PD_SLA_DUE_READ;
    pd_store_items_destroy (&items, count);
    if (!dues || !starts) {
        free (dues);
        free (starts);
        return PD_E_INTERNAL;
    }
    //  One ticket's dues together, in due order; then fire tickets in
    //  batches of PD_SLA_FIRE_BATCH
    qsort (dues, due_count, sizeof (s_due_t), s_compare_dues);
    size_t groups = 0;
    for (size_t i = 0; i < due_count; i++)
        if (i == 0 || strcmp (dues[i].ticket_id, dues[i - 1].ticket_id) != 0)
            starts[groups++] = i;
    starts[groups] = due_count;
    for (size_t g = 0; rc == PD_OK && g < groups; g += PD_SLA_FIRE_BATCH) {
        size_t n = groups - g < PD_SLA_FIRE_BATCH ? groups - g : PD_SLA_FIRE_BATCH;
        rc = s_fire_groups (ctx, dues, starts + g, n);
    }
    free (dues);
    free (starts);
    return rc;
}

static int
s_tick (void *state, pd_ctx_t *ctx)
{
    bool full = true;
    int rc = PD_OK;
    for (int round = 0; rc == PD_OK && full && round < PD_SLA_TICK_ROUNDS; round++)
        rc = s_fire_due (ctx, &full);
    return rc;
}

static int
s_tick_ms (const pd_config_t *config)
{
    return config->sla_tick_ms > 0 && config->sla_tick_ms < INT32_MAX ? (int)config->sla_tick_ms
                                                                      : 500;
}

//  ------------------------------------------------------------------------
//  Metrics, from the escalation stream

//  What the stream says of one ticket
typedef struct {
    int priority;       //  0..3
    int64_t opened_at;  //  its first opening (the window is of these)
    int64_t life_start; //  the start of its current life: opening or last re-open
    int64_t acknowledged_at;
    int64_t resolved_at; //  its last resolution, while resolved
    bool resolved;
    bool response_breached;
    bool resolution_breached;
} s_story_t;

static void
s_story_free (void **item)
{
    free (*item);
    *item = NULL;
}

static int
s_priority_index (const char *priority)
{
    return priority && priority[0] == 'P' && priority[1] >= '1' && priority[1] <= '4' &&
                   !priority[2]
               ? priority[1] - '1'
               : -1;
}

static void
s_story_apply (zhashx_t *stories, const pd_event_t *event, const pd_sla_metrics_query_t *query,
               int64_t from, int64_t to)
{
    s_story_t *story = zhashx_lookup (stories, event->subject);
    const char *type = event->type;
    if (strcmp (type, "escalation.opened") == 0) {
        if (story || event->at < from || event->at >= to)
            return;
        if (query->site_id && (!event->site_id || strcmp (event->site_id, query->site_id) != 0))
            return;
        int priority = s_priority_index (event->priority);
        if (priority < 0)
            return;
        story = calloc (1, sizeof (s_story_t));
        if (!story)
            return;
        story->priority = priority;
        story->opened_at = story->life_start = event->at;
        zhashx_insert (stories, event->subject, story);
        return;
    }
    if (!story)
        return; //  a ticket outside the window (or another partner's)
    //  A ticket's current life counts, as its own fields do: a re-open
    //  starts the clocks, the acknowledgement and the breaches anew
    if (strcmp (type, "escalation.acknowledged") == 0 && !story->acknowledged_at)
        story->acknowledged_at = event->at;
    else if (strcmp (type, "escalation.resolved") == 0) {
        story->resolved = true;
        story->resolved_at = event->at;
    } else if (strcmp (type, "escalation.reopened") == 0) {
        story->life_start = event->at;
        story->acknowledged_at = 0;
        story->resolved = false;
        story->response_breached = story->resolution_breached = false;
    } else if (strcmp (type, "sla.breached") == 0 && event->target) {
        if (strcmp (event->target, PD_SLA_TARGET_RESPONSE) == 0)
            story->response_breached = true;
        else
            story->resolution_breached = true;
    }
}

static int
s_compare_int64 (const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

//  Mean, p50 and p90 (nearest rank) of values[0..count), sorted here
static void
s_summary (int64_t *values, size_t count, int64_t *mean, int64_t *p50, int64_t *p90)
{
    qsort (values, count, sizeof (int64_t), s_compare_int64);
    int64_t sum = 0;
    for (size_t i = 0; i < count; i++)
        sum += values[i];
    *mean = sum / (int64_t)count;
    *p50 = values[(count * 50 + 99) / 100 - 1];
    *p90 = values[(count * 90 + 99) / 100 - 1];
}

//  The `at` of event `seq` of the escalation stream; false if unreadable
static bool
s_event_at (pd_store_t *store, uint64_t seq, int64_t *at)
{
    pd_store_item_t *items = NULL;
    size_t count = 0;
    bool found = false;
    if (pd_store_stream_read (store, PD_ACTOR_EVENT_TABLE, PD_STREAM_ESCALATIONS, seq, 1, &items,
                              &count) == PD_OK &&
        count == 1) {
        pd_event_t event = {0};
        found = pd_schema_decode (&pd_event_schema, items[0].data, items[0].size, &event, NULL) ==
                    PD_OK &&
                PD_HAS (&event, event, at);
        *at = event.at;
        pd_schema_clear (&pd_event_schema, &event);
    }
    pd_store_items_destroy (&items, count);
    return found;
}

//  The first sequence number of the escalation stream whose event is at or
//  after `at` (a binary search: the stream is in about `at` order, see
//  S_DISORDER_MS), so that a window's metrics read from there rather than
//  the platform's whole history. An unreadable event counts as late (the
//  read starts earlier, never later).
static uint64_t
s_first_at (pd_store_t *store, int64_t at)
{
    uint64_t low = 1;
    uint64_t high = pd_store_stream_last (store, PD_ACTOR_EVENT_TABLE, PD_STREAM_ESCALATIONS) + 1;
    while (low < high) {
        uint64_t middle = low + (high - low) / 2;
        int64_t middle_at = 0;
        if (!s_event_at (store, middle, &middle_at) || middle_at >= at)
            high = middle;
        else
            low = middle + 1;
    }
    return low;
}

typedef struct {
    pd_sla_metric_t metric;
    int64_t *mtta; //  count = acknowledged
    int64_t *mttr; //  count = resolved
    int64_t response_missed, resolution_missed;
} s_tally_t;

static int
s_sla_metrics (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_sla_metrics_query_t *req = request;
    pd_sla_metrics_t *metrics = reply;
    const char *partner_id = pd_ctx_partner_id (ctx);
    if (!partner_id)
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "partners only");
    int64_t to = PD_HAS (req, sla_metrics_query, to) ? req->to : pd_ctx_now (ctx) + 1;
    int64_t from =
        PD_HAS (req, sla_metrics_query, from) ? req->from : to - PD_SLA_METRICS_DEFAULT_MS;
    if (from >= to)
        return pd_ctx_fail (ctx, PD_E_INVALID_FIELD, "from", "from must be before to");

    zhashx_t *stories = zhashx_new ();
    if (!stories)
        return PD_E_INTERNAL;
    zhashx_set_destructor (stories, s_story_free);
    int rc = PD_OK;
    int64_t events = 0;
    //  Tickets opened in the window count, with all their later events
    for (uint64_t next = s_first_at (pd_ctx_store (ctx), from - S_DISORDER_MS); rc == PD_OK;) {
        pd_store_item_t *items = NULL;
        size_t count = 0;
        rc = pd_store_stream_read (pd_ctx_store (ctx), PD_ACTOR_EVENT_TABLE, PD_STREAM_ESCALATIONS,
                                   next, S_STREAM_PAGE, &items, &count);
        if (rc == PD_E_NOT_FOUND) {
            rc = PD_OK;
            count = 0;
        }
        for (size_t i = 0; rc == PD_OK && i < count; i++) {
            pd_event_t event = {0};
            //  Only the caller's events count, `events` included (another
            //  partner's activity shows in nothing)
            if (pd_schema_decode (&pd_event_schema, items[i].data, items[i].size, &event, NULL) ==
                    PD_OK &&
                event.partner_id && event.subject && strcmp (event.partner_id, partner_id) == 0) {
                s_story_apply (stories, &event, req, from, to);
                events++;
            }
            pd_schema_clear (&pd_event_schema, &event);
            next = items[i].seq + 1;
        }
        pd_store_items_destroy (&items, count);
        if (count < S_STREAM_PAGE)
            break;
    }
    //  Tally by priority
    size_t tickets = zhashx_size (stories);
    s_tally_t tally[S_PRIORITIES] = {0};
    for (int p = 0; p < S_PRIORITIES; p++) {
        tally[p].mtta = calloc (tickets + 1, sizeof (int64_t));
        tally[p].mttr = calloc (tickets + 1, sizeof (int64_t));
        if (!tally[p].mtta || !tally[p].mttr)
            rc = PD_E_INTERNAL;
    }
    for (s_story_t *story = zhashx_first (stories); rc == PD_OK && story;
         story = zhashx_next (stories)) {
        s_tally_t *t = &tally[story->priority];
        pd_sla_metric_t *m = &t->metric;
        m->tickets++;
        if (story->acknowledged_at)
            t->mtta[m->acknowledged++] = story->acknowledged_at - story->life_start;
        if (story->resolved)
            t->mttr[m->resolved++] = story->resolved_at - story->life_start;
        //  Response met: answered (acknowledged or resolved) and never
        //  breached; resolution met: resolved and never breached
        if (story->response_breached)
            t->response_missed++;
        else if (story->acknowledged_at || story->resolved)
            m->response_met++;
        if (story->resolution_breached)
            t->resolution_missed++;
        else if (story->resolved)
            m->resolution_met++;
    }
    pd_sla_metric_t *items = rc == PD_OK ? calloc (S_PRIORITIES, sizeof (pd_sla_metric_t)) : NULL;
    if (rc == PD_OK && !items)
        rc = PD_E_INTERNAL;
    for (int p = 0; rc == PD_OK && p < S_PRIORITIES; p++) {
        s_tally_t *t = &tally[p];
        pd_sla_metric_t *m = &items[p];
        *m = t->metric;
        char name[3] = {'P', (char)('1' + p), 0};
        rc = pd_schema_set_str (&m->priority, name);
        m->response_breaches = t->response_missed;
        m->resolution_breaches = t->resolution_missed;
        pd_schema_mark_all (&pd_sla_metric_schema, m);
        if (m->acknowledged)
            s_summary (t->mtta, (size_t)m->acknowledged, &m->mtta_mean_ms, &m->mtta_p50_ms,
                       &m->mtta_p90_ms);
        else
            m->present &= ~((UINT64_C (1) << PD_FIELD_sla_metric_mtta_mean_ms) |
                            (UINT64_C (1) << PD_FIELD_sla_metric_mtta_p50_ms) |
                            (UINT64_C (1) << PD_FIELD_sla_metric_mtta_p90_ms));
        if (m->resolved)
            s_summary (t->mttr, (size_t)m->resolved, &m->mttr_mean_ms, &m->mttr_p50_ms,
                       &m->mttr_p90_ms);
        else
            m->present &= ~((UINT64_C (1) << PD_FIELD_sla_metric_mttr_mean_ms) |
                            (UINT64_C (1) << PD_FIELD_sla_metric_mttr_p50_ms) |
                            (UINT64_C (1) << PD_FIELD_sla_metric_mttr_p90_ms));
        int64_t judged = m->response_met + t->response_missed;
        if (judged)
            m->response_within_percent = m->response_met * 100 / judged;
        else
            m->present &= ~(UINT64_C (1) << PD_FIELD_sla_metric_response_within_percent);
        judged = m->resolution_met + t->resolution_missed;
        if (judged)
            m->resolution_within_percent = m->resolution_met * 100 / judged;
        else
            m->present &= ~(UINT64_C (1) << PD_FIELD_sla_metric_resolution_within_percent);
    }
    for (int p = 0; p < S_PRIORITIES; p++) {
        free (tally[p].mtta);
        free (tally[p].mttr);
    }
    zhashx_destroy (&stories);
    if (rc != PD_OK) {
        if (items)
            for (int p = 0; p < S_PRIORITIES; p++)
                pd_schema_clear (&pd_sla_metric_schema, &items[p]);
        free (items);
        return rc;
    }
    metrics->items.items = items;
    metrics->items.size = S_PRIORITIES;
    metrics->from = from;
    metrics->to = to;
    metrics->events = events;
    pd_schema_mark_all (&pd_sla_metrics_schema, metrics);
    return PD_OK;
}

static const pd_handler_t s_handlers[] = {
    {"sla.definitions", s_sla_definitions},
    {"sla.define", s_sla_define},
    {"sla.metrics", s_sla_metrics},
    {NULL, NULL},
};

const pd_actor_def_t pd_sla_actor = {
    .service = "sla", .handlers = s_handlers, .tick = s_tick, .tick_ms_of = s_tick_ms};
