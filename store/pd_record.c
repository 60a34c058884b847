/*  pd_record - schema records in the store (see pd_record.h) */
#include "pd_record.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
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

//  ------------------------------------------------------------------------
//  Index tables

int
pd_record_lookup (pd_store_t *store, const pd_table_t *index, const char *key, char *id,
                  size_t size)
{
    pd_store_value_t value = {0};
    int rc = pd_store_lookup (store, index->name, key, strlen (key), &value);
    if (rc == PD_OK) {
        if (value.size == 0 || value.size >= size)
            rc = PD_E_INTERNAL;
        else {
            memcpy (id, value.data, value.size);
            id[value.size] = 0;
        }
    }
    pd_store_value_clear (&value);
    return rc;
}

bool
pd_record_key_lower (const char *text, char *key, size_t size)
{
    size_t i = 0;
    for (; text[i] && i + 1 < size; i++)
        key[i] = (char)tolower ((unsigned char)text[i]);
    if (size)
        key[i] = 0;
    return text[i] == 0;
}

//  ------------------------------------------------------------------------
//  Owner indexes

static int
s_index_key (const char *owner, const char *id, char *key, size_t size)
{
    if (!owner || !*owner || !id || !*id)
        return -1;
    int length = snprintf (key, size, "%s/%s", owner, id);
    return length > 0 && (size_t)length < size ? length : -1;
}

int
pd_record_index_add (pd_store_batch_t *batch, const pd_owner_index_t *index, const char *owner,
                     const char *id)
{
    char key[PD_RECORD_INDEX_KEY_MAX];
    int length = s_index_key (owner, id, key, sizeof (key));
    if (length < 0)
        return PD_E_BAD_REQUEST;
    return pd_store_batch_put (batch, index->index->name, key, (size_t)length, "", 0, PD_STORE_ANY);
}

int
pd_record_index_remove (pd_store_batch_t *batch, const pd_owner_index_t *index, const char *owner,
                        const char *id)
{
    char key[PD_RECORD_INDEX_KEY_MAX];
    int length = s_index_key (owner, id, key, sizeof (key));
    if (length < 0)
        return PD_E_BAD_REQUEST;
    return pd_store_batch_delete (batch, index->index->name, key, (size_t)length, PD_STORE_ANY);
}

int
pd_record_page_of (pd_store_t *store, const pd_owner_index_t *index, const char *owner,
                   const char *cursor, size_t limit, pd_record_filter_fn *filter, void *arg,
                   pd_list_t *list, char **next_cursor)
{
    const pd_schema_t *schema = index->table->schema;
    assert (schema && limit >= 1);
    *next_cursor = NULL;
    list->size = 0;
    list->items = NULL;
    char prefix[PD_RECORD_INDEX_KEY_MAX], after[PD_RECORD_INDEX_KEY_MAX];
    int prefix_size = snprintf (prefix, sizeof (prefix), "%s/", owner ? owner : "");
    if (!owner || !*owner || prefix_size < 0 || (size_t)prefix_size >= sizeof (prefix))
        return PD_E_BAD_REQUEST;
    int after_size = cursor && *cursor ? s_index_key (owner, cursor, after, sizeof (after)) : 0;
    if (after_size < 0)
        return PD_E_BAD_REQUEST;
    list->items = calloc (limit, schema->size);
    void *probe = calloc (1, schema->size);
    int rc = list->items && probe ? PD_OK : PD_E_INTERNAL;
    char last[PD_RECORD_INDEX_KEY_MAX] = ""; //  id of the last record on the page
    bool more = false, exhausted = false;
    size_t chunk = limit + 1;
    while (rc == PD_OK && !more && !exhausted) {
        pd_store_item_t *found = NULL;
        size_t count = 0;
        rc = pd_store_scan (store, index->index->name, prefix, (size_t)prefix_size,
                            after_size ? after : NULL, (size_t)after_size, chunk, &found, &count);
        exhausted = count < chunk;
        for (size_t i = 0; rc == PD_OK && i < count && !more; i++) {
            char id[PD_RECORD_INDEX_KEY_MAX];
            size_t id_size = found[i].key_size - (size_t)prefix_size;
            snprintf (id, sizeof (id), "%.*s", (int)id_size,
                      (const char *)found[i].key + prefix_size);
            memcpy (after, found[i].key, found[i].key_size);
            after_size = (int)found[i].key_size;
            bool full = list->size == limit;
            void *record = full ? probe : (char *)list->items + list->size * schema->size;
            int got = pd_record_load (store, index->table, id, record);
            if (got == PD_E_NOT_FOUND)
                continue;
            if (got != PD_OK) {
                rc = got;
                break;
            }
            bool wanted = !filter || filter (record, arg);
            if (full || !wanted)
                pd_schema_clear (schema, record);
            if (full)
                more = wanted;
            else if (wanted) {
                list->size++;
                snprintf (last, sizeof (last), "%s", id);
            }
        }
        pd_store_items_destroy (&found, count);
    }
    free (probe);
    if (rc == PD_OK && more) {
        *next_cursor = strdup (last);
        if (!*next_cursor)
            rc = PD_E_INTERNAL;
    }
    if (rc != PD_OK) {
        for (size_t i = 0; list->items && i < list->size; i++)
            pd_schema_clear (schema, (char *)list->items + i * schema->size);
        free (list->items);
        list->items = NULL;
        list->size = 0;
    }
    return rc;
}

//  The owner named by a record's STR field, NULL if none
static const char *
s_owner (const pd_schema_t *schema, const void *record, const char *name)
{
    const pd_field_t *field = pd_schema_field (schema, name, NULL);
    if (!field || field->type != PD_T_STR)
        return NULL;
    return *(char *const *)((const char *)record + field->offset);
}

//  Build one index from every record of its table, a chunk per commit
static int
s_index_build (pd_store_t *store, const pd_owner_index_t *index)
{
    const pd_schema_t *schema = index->table->schema;
    void *record = calloc (1, schema->size);
    if (!record)
        return PD_E_INTERNAL;
    char *after = NULL;
    int rc = PD_OK;
    while (rc == PD_OK) {
        pd_store_item_t *items = NULL;
        size_t count = 0;
        rc = pd_store_scan (store, index->table->name, "", 0, after, after ? strlen (after) : 0, 0,
                            &items, &count);
        pd_store_batch_t *batch = rc == PD_OK && count ? pd_store_batch_new () : NULL;
        if (rc == PD_OK && count && !batch)
            rc = PD_E_INTERNAL;
        for (size_t i = 0; rc == PD_OK && batch && i < count; i++) {
            char key[PD_RECORD_INDEX_KEY_MAX];
            snprintf (key, sizeof (key), "%.*s", (int)items[i].key_size,
                      (const char *)items[i].key);
            rc = pd_schema_decode (schema, items[i].data, items[i].size, record, NULL);
            const char *owner = rc == PD_OK ? s_owner (schema, record, index->owner_field) : NULL;
            if (rc == PD_OK && owner && *owner)
                rc = pd_record_index_add (batch, index, owner, key);
            pd_schema_clear (schema, record);
        }
        if (rc == PD_OK && batch)
            rc = pd_store_commit (store, batch);
        pd_store_batch_destroy (&batch);
        free (after);
        after =
            count ? strndup ((const char *)items[count - 1].key, items[count - 1].key_size) : NULL;
        pd_store_items_destroy (&items, count);
        if (!after)
            break;
    }
    free (after);
    free (record);
    return rc;
}

int
pd_record_migrate (pd_store_t *store, uint32_t from_version, uint32_t to_version, void *arg)
{
    const pd_owner_index_t *const *indexes = arg;
    int rc = PD_OK;
    for (size_t i = 0; rc == PD_OK && indexes && indexes[i]; i++)
        if (indexes[i]->since > from_version && indexes[i]->since <= to_version)
            rc = s_index_build (store, indexes[i]);
    return rc;
}
