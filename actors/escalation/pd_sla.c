/*  pd_sla - SLA policies and deadlines (see pd_sla.h)
 */
#include "pd_sla.h"

#include "pd_calendar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_record.h"

#define S_PRIORITIES 4
#define S_WORKDAYS   5

const char *const pd_sla_kind_names[PD_SLA_KINDS] = {"response_warning", "response",
                                                     "resolution_warning", "resolution"};

static const char *const s_priorities[S_PRIORITIES] = {"P1", "P2", "P3", "P4"};

//  X (priority, response s, resolution s, business hours)
static const struct {
    int64_t response_s;
    int64_t resolution_s;
    bool business_hours;
} s_defaults[S_PRIORITIES] = {
    {15 * 60, 4 * 3600, false},
    {3600, 8 * 3600, false},
    {4 * 3600, 24 * 3600, true},
    {8 * 3600, 72 * 3600, true},
};

static const char *const s_workdays[S_WORKDAYS] = {"mon", "tue", "wed", "thu", "fri"};

int
pd_sla_kind (const char *name)
{
    for (int k = 0; name && k < PD_SLA_KINDS; k++)
        if (strcmp (pd_sla_kind_names[k], name) == 0)
            return k;
    return -1;
}

static int
s_priority_index (const char *priority)
{
    for (int p = 0; priority && p < S_PRIORITIES; p++)
        if (strcmp (s_priorities[p], priority) == 0)
            return p;
    return -1;
}

static int
s_calendar_default (pd_sla_calendar_t **calendar_p)
{
    pd_sla_calendar_t *calendar = calloc (1, sizeof (pd_sla_calendar_t));
    pd_business_day_t *week = calloc (S_WORKDAYS, sizeof (pd_business_day_t));
    *calendar_p = calendar;
    if (!calendar || !week) {
        free (week);
        return PD_E_INTERNAL;
    }
    calendar->week.items = week;
    calendar->week.size = S_WORKDAYS;
    int rc = pd_schema_set_str (&calendar->timezone, PD_SLA_DEFAULT_TIMEZONE);
    for (int d = 0; rc == PD_OK && d < S_WORKDAYS; d++) {
        rc = pd_schema_set_str (&week[d].day, s_workdays[d]);
        if (rc == PD_OK)
            rc = pd_schema_set_str (&week[d].start, PD_SLA_DEFAULT_OPEN);
        if (rc == PD_OK)
            rc = pd_schema_set_str (&week[d].end, PD_SLA_DEFAULT_CLOSE);
    }
    return rc;
}

int
pd_sla_policy_complete (pd_sla_policy_t *policy)
{
    pd_sla_terms_t *terms = calloc (S_PRIORITIES, sizeof (pd_sla_terms_t));
    if (!terms)
        return PD_E_INTERNAL;
    bool given[S_PRIORITIES] = {false};
    int rc = PD_OK;
    const pd_sla_terms_t *have = policy->definitions.items;
    for (size_t i = 0; rc == PD_OK && i < policy->definitions.size; i++) {
        int p = s_priority_index (have[i].priority);
        if (p < 0 || given[p])
            continue;
        given[p] = true;
        rc = pd_schema_copy (&pd_sla_terms_schema, &terms[p], &have[i]);
    }
    for (int p = 0; rc == PD_OK && p < S_PRIORITIES; p++) {
        pd_sla_terms_t *t = &terms[p];
        if (!given[p]) {
            rc = pd_schema_set_str (&t->priority, s_priorities[p]);
            t->response_s = s_defaults[p].response_s;
            t->resolution_s = s_defaults[p].resolution_s;
            t->business_hours = s_defaults[p].business_hours;
            PD_MARK (t, sla_terms, response_s);
            PD_MARK (t, sla_terms, resolution_s);
            PD_MARK (t, sla_terms, business_hours);
        }
        if (!PD_HAS (t, sla_terms, warning_percent)) {
            t->warning_percent = PD_SLA_WARNING_DEFAULT;
            PD_MARK (t, sla_terms, warning_percent);
        }
        PD_MARK (t, sla_terms, business_hours);
    }
    //  Swap the completed list in
    pd_list_t old = policy->definitions;
    policy->definitions.items = terms;
    policy->definitions.size = S_PRIORITIES;
    PD_MARK (policy, sla_policy, definitions);
    for (size_t i = 0; i < old.size; i++)
        pd_schema_clear (&pd_sla_terms_schema, (pd_sla_terms_t *)old.items + i);
    free (old.items);
    if (rc == PD_OK && !policy->calendar)
        rc = s_calendar_default (&policy->calendar);
    return rc;
}

int
pd_sla_policy_load (pd_store_t *store, const char *partner_id, pd_sla_policy_t *policy,
                    uint64_t *version)
{
    uint64_t stored = 0;
    int rc = pd_record_get (store, &pd_table_sla_definitions, partner_id, policy, &stored);
    if (rc == PD_E_NOT_FOUND) {
        rc = PD_OK;
        stored = 0;
    }
    if (version)
        *version = stored;
    if (rc == PD_OK)
        rc = pd_sla_policy_complete (policy);
    return rc;
}

int
pd_sla_policy_check (const pd_sla_policy_t *policy, int64_t now, pd_schema_error_t *err)
{
    bool seen[S_PRIORITIES] = {false};
    const pd_sla_terms_t *terms = policy->definitions.items;
    for (size_t i = 0; i < policy->definitions.size; i++) {
        char path[40];
        snprintf (path, sizeof (path), "definitions.%zu", i);
        int p = s_priority_index (terms[i].priority);
        if (p < 0 || seen[p])
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path, "names priority %s twice",
                                   terms[i].priority ? terms[i].priority : "?");
        seen[p] = true;
        if (terms[i].response_s > terms[i].resolution_s)
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path,
                                   "response_s must not exceed resolution_s");
    }
    if (policy->calendar) {
        char field[64] = "", error[PD_CALENDAR_ERROR_MAX] = "";
        pd_calendar_t *calendar =
            pd_calendar_new (policy->calendar, field, sizeof (field), error, sizeof (error));
        if (!calendar) {
            char path[96];
            snprintf (path, sizeof (path), "calendar%s%s", *field ? "." : "", field);
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path, "%s", error);
        }
        pd_calendar_destroy (&calendar);
    }
    //  Every business-hours target must end within the calendar's horizon
    //  (a week of one minute cannot hold a year), or tickets could not open
    for (size_t i = 0; policy->calendar && i < policy->definitions.size; i++) {
        int64_t due[PD_SLA_KINDS];
        if (terms[i].business_hours &&
            pd_sla_deadlines (&terms[i], policy->calendar, now, due) != PD_OK) {
            char path[40];
            snprintf (path, sizeof (path), "definitions.%zu", i);
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path,
                                   "its targets do not fit %d days of these business hours",
                                   PD_CALENDAR_HORIZON_DAYS);
        }
    }
    return PD_OK;
}

const pd_sla_terms_t *
pd_sla_policy_terms (const pd_sla_policy_t *policy, const char *priority)
{
    const pd_sla_terms_t *terms = policy->definitions.items;
    for (size_t i = 0; i < policy->definitions.size; i++)
        if (terms[i].priority && priority && strcmp (terms[i].priority, priority) == 0)
            return &terms[i];
    return NULL;
}

int
pd_sla_deadlines (const pd_sla_terms_t *terms, const pd_sla_calendar_t *calendar, int64_t start,
                  int64_t due[PD_SLA_KINDS])
{
    int64_t percent = PD_HAS (terms, sla_terms, warning_percent) ? terms->warning_percent
                                                                 : PD_SLA_WARNING_DEFAULT;
    //  Seconds of (business) time to each deadline
    int64_t after[PD_SLA_KINDS] = {terms->response_s * percent / 100, terms->response_s,
                                   terms->resolution_s * percent / 100, terms->resolution_s};
    if (!terms->business_hours) {
        for (int k = 0; k < PD_SLA_KINDS; k++)
            due[k] = start + after[k] * 1000;
        return PD_OK;
    }
    pd_calendar_t *cal = pd_calendar_new (calendar, NULL, 0, NULL, 0);
    if (!cal)
        return PD_E_INVALID_FIELD;
    int rc = PD_OK;
    for (int k = 0; rc == PD_OK && k < PD_SLA_KINDS; k++)
        rc = pd_calendar_add (cal, start, after[k], &due[k]);
    pd_calendar_destroy (&cal);
    return rc;
}

int
pd_sla_deadline_key (int64_t due, const char *ticket_id, pd_sla_kind_t kind, char *key, size_t size)
{
    if (due < 0 || (int)kind < 0 || kind >= PD_SLA_KINDS)
        return PD_E_BAD_REQUEST;
    int length =
        snprintf (key, size, "%015lld/%s/%s", (long long)due, ticket_id, pd_sla_kind_names[kind]);
    return length > 0 && (size_t)length < size ? PD_OK : PD_E_BAD_REQUEST;
}

int
pd_sla_deadline_add (pd_store_batch_t *batch, const char *ticket_id, pd_sla_kind_t kind,
                     int64_t due)
{
    char key[PD_SLA_KEY_MAX];
    int rc = pd_sla_deadline_key (due, ticket_id, kind, key, sizeof (key));
    if (rc != PD_OK)
        return rc;
    pd_sla_deadline_t deadline = {0};
    deadline.ticket_id = (char *)ticket_id;
    deadline.kind = (char *)pd_sla_kind_names[kind];
    deadline.due_at = due;
    PD_MARK (&deadline, sla_deadline, due_at);
    return pd_record_put (batch, &pd_table_sla_deadlines, key, &deadline, PD_STORE_ANY);
}

int
pd_sla_deadline_remove (pd_store_batch_t *batch, const char *ticket_id, pd_sla_kind_t kind,
                        int64_t due)
{
    char key[PD_SLA_KEY_MAX];
    int rc = pd_sla_deadline_key (due, ticket_id, kind, key, sizeof (key));
    return rc == PD_OK ? pd_store_batch_delete (batch, pd_table_sla_deadlines.name, key,
                                                strlen (key), PD_STORE_ANY)
                       : rc;
}
