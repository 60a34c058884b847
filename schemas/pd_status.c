/*  pd_status - the one status space of partnerd (see pd_status.h) */
#include "pd_status.h"

#include <stddef.h>
#include <string.h>

typedef struct {
    int status;
    const char *code;
    int http;
    const char *title;
} s_entry_t;

static const s_entry_t s_entries[] = {
#define PD_STATUS_ROW(name, num, code, http, title, meaning) {name, code, http, title},
    PD_STATUS_MAP (PD_STATUS_ROW)
#undef PD_STATUS_ROW
};

#define S_ENTRY_COUNT (sizeof (s_entries) / sizeof (s_entries[0]))

static const s_entry_t *
s_find (int status)
{
    //  Entries are numbered densely from 0, so the wire number is the index
    unsigned index = (unsigned)-status;
    if (status > 0 || index >= S_ENTRY_COUNT)
        index = (unsigned)-PD_E_INTERNAL;
    return &s_entries[index];
}

const char *
pd_status_code (int status)
{
    return s_find (status)->code;
}

const char *
pd_status_title (int status)
{
    return s_find (status)->title;
}

int
pd_status_http (int status)
{
    return s_find (status)->http;
}

uint16_t
pd_status_to_wire (int status)
{
    return (uint16_t)-s_find (status)->status;
}

int
pd_status_from_wire (uint16_t wire)
{
    return wire < S_ENTRY_COUNT ? s_entries[wire].status : PD_E_INTERNAL;
}

int
pd_status_from_code (const char *code)
{
    for (size_t i = 0; code && i < S_ENTRY_COUNT; i++)
        if (strcmp (s_entries[i].code, code) == 0)
            return s_entries[i].status;
    return PD_E_INTERNAL;
}
