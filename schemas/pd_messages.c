/*  pd_messages - field tables and catalogue derived from pd_messages.h

    Nothing here is written by hand per record: every table below is an
    expansion of the declarations in pd_messages.h.
*/
#include "pd_messages.h"

#include <stddef.h>
#include <string.h>

//  Forward declarations, so sub-records may be named before they are defined
#define S_DECLARE(R) extern const pd_schema_t pd_##R##_schema;
PD_RECORDS (S_DECLARE)
#undef S_DECLARE

#define S_STR(R, name, flags, min, max, fmt, choices)                          \
    {#name, PD_T_STR, (flags), offsetof (pd_##R##_t, name), (min), (max), (fmt), (choices), NULL},
#define S_INT(R, name, flags, min, max)                                        \
    {#name, PD_T_INT, (flags), offsetof (pd_##R##_t, name), (min), (max), PD_FMT_TEXT, NULL, NULL},
#define S_BOOL(R, name, flags)                                                 \
    {#name, PD_T_BOOL, (flags), offsetof (pd_##R##_t, name), 0, 1, PD_FMT_TEXT, NULL, NULL},
#define S_BIN(R, name, flags, min, max)                                        \
    {#name, PD_T_BIN, (flags), offsetof (pd_##R##_t, name), (min), (max), PD_FMT_TEXT, NULL, NULL},
#define S_OBJ(R, name, flags, sub)                                             \
    {#name, PD_T_OBJ, (flags), offsetof (pd_##R##_t, name), 0, 0, PD_FMT_TEXT, NULL,          \
     &pd_##sub##_schema},
#define S_LIST(R, name, flags, sub, max)                                       \
    {#name, PD_T_LIST, (flags), offsetof (pd_##R##_t, name), 0, (max), PD_FMT_TEXT, NULL,     \
     &pd_##sub##_schema},

//  A record with no fields still gets a one-entry array (C has no empty
//  initialisers); field_count says how many entries are real.
#define S_TABLE(R)                                                             \
    static const pd_field_t s_fields_##R[] = {                                 \
        PD_FIELDS_##R (R, S_STR, S_INT, S_BOOL, S_BIN, S_OBJ, S_LIST)          \
        {NULL, PD_T_STR, 0, 0, 0, 0, PD_FMT_TEXT, NULL, NULL}};                \
    _Static_assert (PD_FIELD_COUNT_##R <= PD_SCHEMA_MAX_FIELDS,                \
                    "record " #R " has too many fields");                      \
    const pd_schema_t pd_##R##_schema = {#R, sizeof (pd_##R##_t),              \
                                         PD_FIELD_COUNT_##R, s_fields_##R};
PD_RECORDS (S_TABLE)

#define S_MESSAGE(type, service, request, reply)                               \
    {type, service, &pd_##request##_schema, &pd_##reply##_schema},
const pd_message_t pd_message_catalogue[] = {PD_MESSAGE_TYPES (S_MESSAGE)};
const size_t pd_message_catalogue_size =
    sizeof (pd_message_catalogue) / sizeof (pd_message_catalogue[0]);

#define S_TABLE_NAME(name) name,
const char *const pd_store_table_names[] = {PD_STORE_TABLES (S_TABLE_NAME) NULL};

const pd_message_t *
pd_message_find (const char *type)
{
    for (size_t i = 0; type && i < pd_message_catalogue_size; i++)
        if (strcmp (pd_message_catalogue[i].type, type) == 0)
            return &pd_message_catalogue[i];
    return NULL;
}
