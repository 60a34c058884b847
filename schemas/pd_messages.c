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

const pd_message_t *
pd_message_find (const char *type)
{
    for (size_t i = 0; type && i < pd_message_catalogue_size; i++)
        if (strcmp (pd_message_catalogue[i].type, type) == 0)
            return &pd_message_catalogue[i];
    return NULL;
}
