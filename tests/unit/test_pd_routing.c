/*  test_pd_routing - the routing function, as a table of cases

    Each row: an event, which of the partner's channels and which site
    overrides are in force, and the channels expected, in order.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "pd_messages.h"
#include "pd_routing.h"

#define BIT(name) (UINT32_C (1) << PD_NOTIFY_BIT_##name)

//  The partner's channels
static const pd_routing_channel_t s_channels[] = {
    {"slack", true, 0, 0},                                                  //  everything
    {"pager", true, BIT (OPENED) | BIT (RESOLVED) | BIT (ACKNOWLEDGED), 1}, //  P1 tickets
    {"mail", true, BIT (SLA_BREACHED) | BIT (APPLIANCE_OFFLINE), 2},        //  P1-P2, offline
    {"hook", false, 0, 0},                                                  //  disabled
};

//  Overrides a site may have
static const pd_routing_channel_t s_site_channels[] = {
    {"site-teams", true, 0, 0}, {"slack", true, 0, 0}, //  the same id as the partner's: chosen once
};
static const pd_routing_override_t s_mute_low = {PD_ROUTING_MUTE, 0,
                                                 PD_ROUTING_P (3) | PD_ROUTING_P (4), NULL, 0};
static const pd_routing_override_t s_mute_all = {PD_ROUTING_MUTE, 0, 0, NULL, 0};
static const pd_routing_override_t s_replace_breaches = {PD_ROUTING_REPLACE, BIT (SLA_BREACHED), 0,
                                                         s_site_channels, 1};
static const pd_routing_override_t s_add_teams = {
    PD_ROUTING_ADD, 0, PD_ROUTING_P (1) | PD_ROUTING_P (2) | PD_ROUTING_P (3), s_site_channels, 2};

typedef struct {
    const char *name;
    const char *type;
    const char *priority;
    const pd_routing_override_t *overrides[3];
    const char *expected; //  ids, space-separated, in order
} s_case_t;

static const s_case_t s_cases[] = {
    {"P1 opened: all that want it", "escalation.opened", "P1", {NULL}, "slack pager"},
    {"P3 opened: the pager wants P1 only", "escalation.opened", "P3", {NULL}, "slack"},
    {"P2 breach: mail wants P1-P2 breaches", "sla.breached", "P2", {NULL}, "slack mail"},
    {"P3 breach: not for mail", "sla.breached", "P3", {NULL}, "slack"},
    {"offline (no priority): any minimum passes", "appliance.offline", NULL, {NULL}, "slack mail"},
    {"online: mail does not want it", "appliance.online", NULL, {NULL}, "slack"},
    {"an event nobody is notified of", "escalation.repeated", "P1", {NULL}, ""},
    {"muted at the site", "escalation.opened", "P1", {&s_mute_all}, ""},
    {"replace for breaches only: breach",
     "sla.breached",
     "P1",
     {&s_replace_breaches},
     "site-teams"},
    {"replace for breaches only: opened",
     "escalation.opened",
     "P1",
     {&s_replace_breaches},
     "slack pager"},
    {"add for P1-P3, once each",
     "escalation.opened",
     "P1",
     {&s_add_teams},
     "slack pager site-teams"},
    {"add for P1-P3: P4 is not added", "escalation.opened", "P4", {&s_add_teams}, "slack"},
    {"replace and add",
     "sla.breached",
     "P2",
     {&s_replace_breaches, &s_add_teams},
     "site-teams slack"},
    {"mute wins over add", "escalation.resolved", "P1", {&s_add_teams, &s_mute_all}, ""},
    {"P3 and P4 muted: P4", "escalation.opened", "P4", {&s_mute_low}, ""},
    {"P3 and P4 muted: P2", "sla.breached", "P2", {&s_mute_low}, "slack mail"},
    {"P3 and P4 muted: offline has no priority",
     "appliance.offline",
     NULL,
     {&s_mute_low},
     "slack mail"},
    {"add scoped to priorities: offline not added",
     "appliance.offline",
     NULL,
     {&s_add_teams},
     "slack mail"},
};

static void
test_table (void **state)
{
    for (size_t i = 0; i < sizeof (s_cases) / sizeof (s_cases[0]); i++) {
        const s_case_t *row = &s_cases[i];
        pd_routing_override_t overrides[3];
        size_t count = 0;
        for (; count < 3 && row->overrides[count]; count++)
            overrides[count] = *row->overrides[count];
        pd_routing_event_t event = {pd_notify_event_bit (row->type),
                                    pd_routing_priority (row->priority)};
        const pd_routing_channel_t *chosen[8];
        size_t n = pd_routing_select (&event, s_channels, 4, overrides, count, chosen, 8);
        char got[256] = "";
        for (size_t k = 0; k < n; k++)
            snprintf (got + strlen (got), sizeof (got) - strlen (got), "%s%s", k ? " " : "",
                      chosen[k]->id);
        if (strcmp (got, row->expected) != 0)
            fail_msg ("%s: got \"%s\", expected \"%s\"", row->name, got, row->expected);
    }
}

//  A mute of one kind; the output is bounded by max; the parsers
static void
test_scoped_mute_and_bounds (void **state)
{
    pd_routing_override_t mute_warnings = {PD_ROUTING_MUTE, BIT (SLA_WARNING), 0, NULL, 0};
    pd_routing_event_t warning = {pd_notify_event_bit ("sla.warning"), 4};
    pd_routing_event_t opened = {pd_notify_event_bit ("escalation.opened"), 4};
    const pd_routing_channel_t *chosen[8];
    assert_int_equal (pd_routing_select (&warning, s_channels, 4, &mute_warnings, 1, chosen, 8), 0);
    assert_int_equal (pd_routing_select (&opened, s_channels, 4, &mute_warnings, 1, chosen, 8), 1);
    pd_routing_event_t p1 = {pd_notify_event_bit ("escalation.opened"), 1};
    assert_int_equal (pd_routing_select (&p1, s_channels, 4, NULL, 0, chosen, 1), 1);
    assert_string_equal (chosen[0]->id, "slack");
    assert_int_equal (pd_routing_priority ("P0"), 0);
    assert_int_equal (pd_routing_priority ("P12"), 0);
    assert_int_equal (pd_routing_priority (NULL), 0);
    assert_int_equal (pd_routing_priority ("P4"), 4);
    assert_int_equal (pd_notify_event_bit ("nothing"), 0);
    assert_int_equal (pd_notify_event_bit ("sla.breached"), BIT (SLA_BREACHED));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_table),
        cmocka_unit_test (test_scoped_mute_and_bounds),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
