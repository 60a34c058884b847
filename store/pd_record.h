/*  pd_record - schema records in the store

    The glue every actor needs between pd_schema and pd_store: read a record
    and decode it by its schema, or encode a record into a batch. Stored
    records are the msgpack form of the schema; the store keeps versions.
*/
#ifndef PD_RECORD_H_INCLUDED
#define PD_RECORD_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pd_schema.h"
#include "pd_store.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Every call names a table object (pd_table_partners, ...): the record
//  is that table's schema (a table of no schema, an index, is no table of
//  records: asserted).

//  Read `key` (a string) from `table` and decode it into `record` (zeroed).
//  *version (may be NULL) gets the record's version. PD_OK, PD_E_NOT_FOUND,
//  or PD_E_INTERNAL when what is stored does not decode.
int pd_record_get (pd_store_t *store, const pd_table_t *table, const char *key, void *record,
                   uint64_t *version);

//  Encode `record` and add a put of it under `key` to `batch`, with the
//  version expectation of pd_store_batch_put.
int pd_record_put (pd_store_batch_t *batch, const pd_table_t *table, const char *key,
                   const void *record, uint64_t expect);

//  pd_record_get, and the record's `version` field (if its schema has one)
//  set from the store's version.
int pd_record_load (pd_store_t *store, const pd_table_t *table, const char *key, void *record);

//  pd_record_put of the record without its `version` field: the store
//  keeps versions, the stored bytes do not.
int pd_record_store (pd_store_batch_t *batch, const pd_table_t *table, const char *key,
                     const void *record, uint64_t expect);

//  Does a decoded record belong on the page? (arg as given)
typedef bool (pd_record_filter_fn) (const void *record, void *arg);

//  A page of `table`'s records in key order, starting after key `cursor`
//  (NULL or "" = from the first), keeping those `filter` accepts (NULL =
//  all), at most `limit` (>= 1). Fills list->items (a calloc'd array of
//  the table's records, owned by the list) and list->size; sets each record's
//  `version` field if the schema has one. *next_cursor gets the last key
//  (malloc'd) when more records remain, else stays NULL. PD_OK, or
//  PD_E_INTERNAL (a stored record that does not decode, OOM).
int pd_record_page (pd_store_t *store, const pd_table_t *table, const char *cursor, size_t limit,
                    pd_record_filter_fn *filter, void *arg, pd_list_t *list, char **next_cursor);

//  Is a decoded record past its life at `now` (ms)?
typedef bool (pd_record_expired_fn) (const void *record, int64_t now, void *arg);

//  Delete expired records of `table`, reading at most `max` records from
//  *cursor on (a malloc'd key owned by the caller's state, NULL = from the
//  first; it wraps to NULL at the end), in one batch; each delete is
//  guarded by the version read, so a record changed meanwhile stays.
//  Returns how many were deleted (>= 0) or an error status.
int pd_record_sweep (pd_store_t *store, const pd_table_t *table, pd_record_expired_fn *expired,
                     void *arg, int64_t now, char **cursor, size_t max);

//  ------------------------------------------------------------------------
//  Index tables (key -> primary key)

//  Look `key` up in `index` and copy the primary key it points to into id
//  (size bytes, NUL-terminated). PD_OK, PD_E_NOT_FOUND, or PD_E_INTERNAL if
//  what is stored is empty or does not fit.
int pd_record_lookup (pd_store_t *store, const pd_table_t *index, const char *key, char *id,
                      size_t size);

//  `text` lower-cased into key (size bytes), for indexes unique regardless
//  of case (names, emails, domains). False if it did not fit (key then
//  holds what fitted).
bool pd_record_key_lower (const char *text, char *key, size_t size);

//  ------------------------------------------------------------------------
//  Owner indexes (pd_owner_index_t): an owner's records by prefix scan

#define PD_RECORD_INDEX_KEY_MAX 256 //  bytes of "<owner>/<id>" (ids are short tokens)

//  Add the entry of record `id` of `owner` to the index in `batch`.
//  PD_E_BAD_REQUEST if either is empty or the key too long.
int pd_record_index_add (pd_store_batch_t *batch, const pd_owner_index_t *index, const char *owner,
                         const char *id);

//  Remove that entry (absent is not an error).
int pd_record_index_remove (pd_store_batch_t *batch, const pd_owner_index_t *index,
                            const char *owner, const char *id);

//  A page of `owner`'s records of index->table, in id order, starting after
//  id `cursor` (NULL or "" = from the first), keeping those `filter` accepts
//  (NULL = all), at most `limit` (>= 1); as pd_record_page otherwise (list,
//  versions, *next_cursor). Reads only the owner's index entries and their
//  records: its cost does not grow with other owners' records. An entry
//  whose record is gone is skipped.
int pd_record_page_of (pd_store_t *store, const pd_owner_index_t *index, const char *owner,
                       const char *cursor, size_t limit, pd_record_filter_fn *filter, void *arg,
                       pd_list_t *list, char **next_cursor);

//  The store's migration of the owner indexes (pd_store_migrate_fn; `arg`
//  is a NULL-terminated array of const pd_owner_index_t *, e.g.
//  pd_owner_indexes): builds from the records every index added after
//  from_version, up to to_version.
int pd_record_migrate (pd_store_t *store, uint32_t from_version, uint32_t to_version, void *arg);

#ifdef __cplusplus
}
#endif
#endif
