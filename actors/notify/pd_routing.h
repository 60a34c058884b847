/*  pd_routing - which channels an event goes to: one pure function

    (event, the partner's channels, the site's overrides) -> channels. No
    store, no clock, no I/O: the notifier calls it in the event's
    transaction to write the deliveries (its outbox), and the table of
    cases in test_pd_routing says what it does.

    - A channel takes an event if it is enabled, wants its kind (its event
      mask holds the event's bit, PD_NOTIFY_EVENTS; mask 0: every kind),
      and the event is at least as severe as the channel's minimum
      priority (P1 is the most severe; events without a priority, such as
      an appliance going offline, pass any minimum).
    - A site's overrides apply, in order, to the events they match (kinds
      by their mask, 0: all; priorities by theirs, a bit per priority, 0:
      all, else only events of those priorities): `mute` sends the site's
      matching events nowhere (say, its P3 and P4); `replace` sends
      them to the override's channels instead of the partner's (the first
      replace that matches wins); `add` sends them to its channels as well.
    - A channel is chosen once, whichever list it comes from.
*/
#ifndef PD_ROUTING_H_INCLUDED
#define PD_ROUTING_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

//  What routing needs of an event
typedef struct {
    uint32_t bit; //  pd_notify_event_bit (its type); 0: nobody is notified
    int priority; //  1..4 (P1..P4), 0: none
} pd_routing_event_t;

//  ...of a channel
typedef struct {
    const char *id;
    bool enabled;
    uint32_t events;  //  the kinds it wants (0: all)
    int min_priority; //  1..4: events at least this severe; 0: all
} pd_routing_channel_t;

typedef enum { PD_ROUTING_ADD, PD_ROUTING_REPLACE, PD_ROUTING_MUTE } pd_routing_mode_t;

//  The bit of priority p (1..4) in an override's priorities
#define PD_ROUTING_P(p) (UINT32_C (1) << ((p)-1))

//  ...of a site override
typedef struct {
    pd_routing_mode_t mode;
    uint32_t events;                      //  the kinds it applies to (0: all)
    uint32_t priorities;                  //  PD_ROUTING_P (1..4) bits it applies to (0: all)
    const pd_routing_channel_t *channels; //  add, replace
    size_t channel_count;
} pd_routing_override_t;

//  The channels the event goes to, into chosen (at most max; each a
//  pointer to one of the given channels), in order: the partner's (or the
//  replacing override's), then those added. Returns how many.
size_t pd_routing_select (const pd_routing_event_t *event, const pd_routing_channel_t *channels,
                          size_t channel_count, const pd_routing_override_t *overrides,
                          size_t override_count, const pd_routing_channel_t **chosen, size_t max);

//  1..4 for "P1".."P4", 0 for anything else
int pd_routing_priority (const char *priority);

#ifdef __cplusplus
}
#endif
#endif
