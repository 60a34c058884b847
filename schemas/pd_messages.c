/*  pd_messages - field tables and catalogue derived from pd_messages.h

    Nothing here is written by hand per record: every table below is an
    expansion of the declarations in pd_messages.h.
*/
#include "pd_messages.h"

#include <stddef.h>
#include <string.h>

PD_RECORDS (PD_GEN_TABLE)

#define S_MESSAGE(type, service, request, reply)                                                   \
    {type, service, &pd_##request##_schema, &pd_##reply##_schema},
const pd_message_t pd_message_catalogue[] = {PD_MESSAGE_TYPES (S_MESSAGE)};
const size_t pd_message_catalogue_size =
    sizeof (pd_message_catalogue) / sizeof (pd_message_catalogue[0]);

#define S_TABLE(name, schema) const pd_table_t pd_table_##name = {#name, schema};
PD_STORE_TABLES (S_TABLE)
#undef S_TABLE

#define S_TABLE_NAME(name, schema) #name,
const char *const pd_store_table_names[] = {PD_STORE_TABLES (S_TABLE_NAME) NULL};

#define S_INDEX(index, table, field, since)                                                        \
    const pd_owner_index_t pd_index_##index = {&pd_table_##index, &pd_table_##table, #field, since};
PD_OWNER_INDEXES (S_INDEX)
#undef S_INDEX
#define S_INDEX_REF(index, table, field, since) &pd_index_##index,
const pd_owner_index_t *const pd_owner_indexes[] = {PD_OWNER_INDEXES (S_INDEX_REF) NULL};
#undef S_INDEX_REF

uint32_t
pd_notify_event_bit (const char *type)
{
#define S_NOTIFY_MATCH(name, text)                                                                 \
    if (type && strcmp (type, text) == 0)                                                          \
        return UINT32_C (1) << PD_NOTIFY_BIT_##name;
    PD_NOTIFY_EVENTS (S_NOTIFY_MATCH)
#undef S_NOTIFY_MATCH
    return 0;
}

bool
pd_ticket_update_event (const char *type)
{
#define S_UPDATE(name)                                                                             \
    if (type && strcmp (type, name) == 0)                                                          \
        return true;
    PD_TICKET_UPDATE_EVENTS (S_UPDATE)
#undef S_UPDATE
    return false;
}

const pd_message_t *
pd_message_find (const char *type)
{
    for (size_t i = 0; type && i < pd_message_catalogue_size; i++)
        if (strcmp (pd_message_catalogue[i].type, type) == 0)
            return &pd_message_catalogue[i];
    return NULL;
}

#define S_LINK_TYPE(type, direction, status, R, error_body, answered_by, carried_by)               \
    {#type,      direction,   status,    status ? 5 : 4, &pd_##R##_schema,                         \
     error_body, answered_by, carried_by},
const pd_link_type_t pd_link_types[] = {PD_LINK_TYPES (S_LINK_TYPE)};
const size_t pd_link_types_size = sizeof (pd_link_types) / sizeof (pd_link_types[0]);

#define S_PDP_FRAMES(command, sender, receiver, both, count, text)                                 \
    {#command, PD_PDP_##command, PD_PDP_##sender, PD_PDP_##receiver, both, count, text},
const pd_pdp_frames_t pd_pdp_frames_table[] = {PD_PDP_FRAMES (S_PDP_FRAMES)};
const size_t pd_pdp_frames_table_size =
    sizeof (pd_pdp_frames_table) / sizeof (pd_pdp_frames_table[0]);

int
pd_pdp_frames (int code, pd_pdp_peer_t receiver)
{
    for (size_t i = 0; i < pd_pdp_frames_table_size; i++) {
        const pd_pdp_frames_t *row = &pd_pdp_frames_table[i];
        if ((int)row->code == code &&
            (row->to == receiver || (row->both_ways && row->from == receiver)))
            return (int)row->frames;
    }
    return -1;
}

const pd_link_type_t *
pd_link_type_find (const void *name, size_t size)
{
    for (size_t i = 0; name && i < pd_link_types_size; i++)
        if (strlen (pd_link_types[i].name) == size &&
            memcmp (pd_link_types[i].name, name, size) == 0)
            return &pd_link_types[i];
    return NULL;
}
