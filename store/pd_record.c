/*  pd_record - schema records in the store (see pd_record.h) */
#include "pd_record.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int
pd_record_get (pd_store_t *store, const pd_table_t *table, const char *key, void *record,
               uint64_t *version)
{
    assert (table && table->schema);
    const pd_schema_t *schema = table->schema;
    pd_store_value_t value = {0};
    int rc = pd_store_get (store, table->name, key, strlen (key), &value);
    if (rc == PD_OK && pd_schema_decode (schema, value.data, value.size, record, NULL) != PD_OK)
        rc = PD_E_INTERNAL;
    if (rc == PD_OK && version)
        *version = value.version;
    pd_store_value_clear (&value);
    return rc;
}

int
pd_record_put (pd_store_batch_t *batch, const pd_table_t *table, const char *key,
               const void *record, uint64_t expect)
{
    assert (table && table->schema);
    uint8_t *data = NULL;
    size_t size = 0;
    int rc = pd_schema_encode (table->schema, record, &data, &size);
    if (rc == PD_OK)
        rc = pd_store_batch_put (batch, table->name, key, strlen (key), data, size, expect);
    free (data);
    return rc;
}

//  Set the record's INT field `version`, if it has one
static void
s_set_version (const pd_schema_t *schema, void *record, uint64_t version)
{
    size_t index = 0;
    const pd_field_t *field = pd_schema_field (schema, "version", &index);
    if (field && field->type == PD_T_INT) {
        *(int64_t *)((char *)record + field->offset) = (int64_t)version;
        *(uint64_t *)record |= UINT64_C (1) << index; //  `present` comes first
    }
}

int
pd_record_page (pd_store_t *store, const pd_table_t *table, const char *cursor, size_t limit,
                pd_record_filter_fn *filter, void *arg, pd_list_t *list, char **next_cursor)
{
    assert (table && table->schema);
    const pd_schema_t *schema = table->schema;
    *next_cursor = NULL;
    list->size = 0;
    list->items = calloc (limit, schema->size);
    if (!list->items)
        return PD_E_INTERNAL;
    char *after = strdup (cursor ? cursor : "");
    if (!after)
        return PD_E_INTERNAL;
    size_t chunk = limit + 1; //  one more than a page tells whether more remain
    bool more = false, exhausted = false;
    int rc = PD_OK;
    while (rc == PD_OK && !more && !exhausted) {
        pd_store_item_t *found = NULL;
        size_t count = 0;
        rc = pd_store_scan (store, table->name, NULL, 0, after, strlen (after), chunk, &found,
                            &count);
        exhausted = count < chunk;
        for (size_t i = 0; rc == PD_OK && i < count && !more; i++) {
            void *record = (char *)list->items + list->size * schema->size;
            if (list->size == limit) {
                //  A full page: is anything after it wanted?
                void *probe = calloc (1, schema->size);
                if (!probe ||
                    pd_schema_decode (schema, found[i].data, found[i].size, probe, NULL) != PD_OK)
                    rc = PD_E_INTERNAL;
                else
                    more = !filter || filter (probe, arg);
                if (probe)
                    pd_schema_clear (schema, probe);
                free (probe);
                if (more)
                    break;
            } else if (pd_schema_decode (schema, found[i].data, found[i].size, record, NULL) !=
                       PD_OK)
                rc = PD_E_INTERNAL;
            else if (filter && !filter (record, arg))
                pd_schema_clear (schema, record);
            else {
                s_set_version (schema, record, found[i].version);
                list->size++;
            }
            if (rc == PD_OK) {
                char *key = strndup (found[i].key, found[i].key_size);
                if (!key)
                    rc = PD_E_INTERNAL;
                else {
                    free (after);
                    after = key;
                }
            }
        }
        pd_store_items_destroy (&found, count);
    }
    if (rc == PD_OK && more) {
        //  The last key read before the first record of the next page
        *next_cursor = after;
        after = NULL;
    }
    free (after);
    return rc;
}

int
pd_record_sweep (pd_store_t *store, const pd_table_t *table, pd_record_expired_fn *expired,
                 void *arg, int64_t now, char **cursor, size_t max)
{
    assert (table && table->schema);
    const pd_schema_t *schema = table->schema;
    pd_store_item_t *found = NULL;
    size_t count = 0;
    const char *after = *cursor ? *cursor : "";
    int rc =
        pd_store_scan (store, table->name, NULL, 0, after, strlen (after), max, &found, &count);
    pd_store_batch_t *batch = rc == PD_OK ? pd_store_batch_new () : NULL;
    if (rc == PD_OK && !batch)
        rc = PD_E_INTERNAL;
    void *record = rc == PD_OK ? calloc (1, schema->size) : NULL;
    if (rc == PD_OK && !record)
        rc = PD_E_INTERNAL;
    for (size_t i = 0; rc == PD_OK && i < count; i++) {
        //  A record that does not decode is left for a person to look at
        if (pd_schema_decode (schema, found[i].data, found[i].size, record, NULL) == PD_OK &&
            expired (record, now, arg))
            rc = pd_store_batch_delete (batch, table->name, found[i].key, found[i].key_size,
                                        found[i].version);
        pd_schema_clear (schema, record);
    }
    size_t deleted = batch ? pd_store_batch_size (batch) : 0;
    if (rc == PD_OK && deleted)
        rc = pd_store_commit (store, batch);
    if (rc == PD_OK) {
        //  Next time from where this scan ended; from the start after the end
        free (*cursor);
        *cursor = count == max ? strndup (found[count - 1].key, found[count - 1].key_size) : NULL;
    }
    free (record);
    pd_store_batch_destroy (&batch);
    pd_store_items_destroy (&found, count);
    if (rc == PD_E_CONFLICT)
        return 0; //  something changed meanwhile: the next sweep sees it
    return rc == PD_OK ? (int)deleted : rc;
}

int
pd_record_load (pd_store_t *store, const pd_table_t *table, const char *key, void *record)
{
    uint64_t version = 0;
    int rc = pd_record_get (store, table, key, record, &version);
    if (rc == PD_OK)
        s_set_version (table->schema, record, version);
    return rc;
}

int
pd_record_store (pd_store_batch_t *batch, const pd_table_t *table, const char *key,
                 const void *record, uint64_t expect)
{
    assert (table && table->schema);
    const pd_schema_t *schema = table->schema;
    size_t index = 0;
    const pd_field_t *field = pd_schema_field (schema, "version", &index);
    if (!field)
        return pd_record_put (batch, table, key, record, expect);
    //  A shallow copy shares the strings: encoding only reads them
    void *stored = malloc (schema->size);
    if (!stored)
        return PD_E_INTERNAL;
    memcpy (stored, record, schema->size);
    *(uint64_t *)stored &= ~(UINT64_C (1) << index); //  `present` comes first
    int rc = pd_record_put (batch, table, key, stored, expect);
    free (stored);
    return rc;
}
