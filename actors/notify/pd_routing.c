/*  pd_routing - which channels an event goes to (see pd_routing.h)
 */
#include "pd_routing.h"

#include <string.h>

int
pd_routing_priority (const char *priority)
{
    return priority && priority[0] == 'P' && priority[1] >= '1' && priority[1] <= '4' &&
                   !priority[2]
               ? priority[1] - '0'
               : 0;
}

//  Do a channel's mask and minimum priority take the event?
static bool
s_channel_takes (const pd_routing_channel_t *channel, const pd_routing_event_t *event)
{
    if (channel->events && !(channel->events & event->bit))
        return false;
    return !channel->min_priority || !event->priority || event->priority <= channel->min_priority;
}

//  Does an override apply to the event?
static bool
s_override_applies (const pd_routing_override_t *override, const pd_routing_event_t *event)
{
    if (override->events && !(override->events & event->bit))
        return false;
    return !override->priorities ||
           (event->priority && (override->priorities & PD_ROUTING_P (event->priority)));
}

//  Add the channels of a list that take the event, once each
static void
s_take (const pd_routing_event_t *event, const pd_routing_channel_t *channels, size_t count,
        const pd_routing_channel_t **chosen, size_t max, size_t *used)
{
    for (size_t i = 0; i < count && *used < max; i++) {
        const pd_routing_channel_t *channel = &channels[i];
        if (!channel->enabled || !s_channel_takes (channel, event))
            continue;
        bool known = false;
        for (size_t k = 0; k < *used && !known; k++)
            known = chosen[k] == channel ||
                    (chosen[k]->id && channel->id && strcmp (chosen[k]->id, channel->id) == 0);
        if (!known)
            chosen[(*used)++] = channel;
    }
}

size_t
pd_routing_select (const pd_routing_event_t *event, const pd_routing_channel_t *channels,
                   size_t channel_count, const pd_routing_override_t *overrides,
                   size_t override_count, const pd_routing_channel_t **chosen, size_t max)
{
    if (!event->bit)
        return 0;
    const pd_routing_override_t *replace = NULL;
    for (size_t i = 0; i < override_count; i++) {
        const pd_routing_override_t *override = &overrides[i];
        if (!s_override_applies (override, event))
            continue;
        if (override->mode == PD_ROUTING_MUTE)
            return 0;
        if (override->mode == PD_ROUTING_REPLACE && !replace)
            replace = override;
    }
    size_t used = 0;
    if (replace)
        s_take (event, replace->channels, replace->channel_count, chosen, max, &used);
    else
        s_take (event, channels, channel_count, chosen, max, &used);
    for (size_t i = 0; i < override_count; i++) {
        const pd_routing_override_t *override = &overrides[i];
        if (override->mode == PD_ROUTING_ADD && s_override_applies (override, event))
            s_take (event, override->channels, override->channel_count, chosen, max, &used);
    }
    return used;
}
