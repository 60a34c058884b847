/*  pd_store - key/value store with transactions, on LMDB

    The only module that knows LMDB. Actors use this API and nothing below it,
    so another engine can be slotted in later without touching them.

    Model
    - A store is one LMDB environment (a directory). It has named tables,
      fixed when the store is opened. Keys are byte strings (1..511 bytes),
      values byte strings. Every record carries a version: 1 when created,
      +1 on each put. Versions make races visible: a batch can require that
      a record still has the version it read, or does not exist yet.
    - Reads (get, scan, stream_read) are short read-only transactions on the
      caller's thread. Results are copies: LMDB memory never leaves here.
    - Writes are batches. pd_store_commit hands a batch to the store's single
      writer thread and blocks until it is durable. The writer commits the
      batches of all waiting callers in one LMDB transaction (group commit),
      each batch in its own nested transaction: a batch whose checks fail is
      rolled back alone and the others still commit. pd_store_commit returns
      only after the enclosing transaction has been fsync'ed (never
      MDB_NOSYNC): an acknowledged write survives a crash.
    - Unique secondary indexes are tables that map an index key to a primary
      key; pd_store_batch_index_add fails the batch with PD_E_EXISTS when the
      index key is taken.
    - Streams: pd_store_batch_append adds a value to a named stream at the
      next sequence number (1, 2, 3 ... with no gaps), assigned by the writer
      inside the transaction, so an event commits atomically with the state
      change it describes.
    - Schema version: a meta record holds the version of the stored layout.
      On open, if it is older than config->schema_version, config->migrate is
      called (once, before any other access) and the new version recorded.

    Status codes (pd_status.h): PD_OK, PD_E_NOT_FOUND, PD_E_CONFLICT (a
    version check failed), PD_E_EXISTS (unique key taken / record exists
    where absence was required), PD_E_STORAGE_FULL (MDB_MAP_FULL: the
    transaction is aborted, nothing of it is kept), PD_E_BAD_REQUEST (bad
    arguments: unknown table, key too long), PD_E_INTERNAL (I/O error).
    MDB_PANIC is fatal: the store logs it and aborts the process, for the
    supervisor to restart it.

    Thread safety: every function may be called from any thread, except
    pd_store_destroy. Batches belong to one thread at a time.
*/
#ifndef PD_STORE_H_INCLUDED
#define PD_STORE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "pd_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _pd_store_t pd_store_t;
typedef struct _pd_store_batch_t pd_store_batch_t;

#define PD_STORE_MAX_KEY     511                     //  LMDB's default max key size
#define PD_STORE_DEFAULT_MAP (1024ULL * 1024 * 1024) //  1 GiB map
#define PD_STORE_MAX_TABLES  64
#define PD_STORE_GROUP_MAX   1024 //  batches per transaction at most
#define PD_STORE_MAX_READERS 1024 //  threads reading at once, over every process of the store

//  Version expectations for put/delete
#define PD_STORE_ANY    UINT64_MAX //  no check
#define PD_STORE_ABSENT 0          //  record must not exist (PD_E_EXISTS if it does)

typedef int (pd_store_migrate_fn) (pd_store_t *store, uint32_t from_version, uint32_t to_version,
                                   void *arg);

typedef struct {
    const char *const *tables;    //  NULL-terminated table names (required)
    uint64_t map_size;            //  bytes; 0 = PD_STORE_DEFAULT_MAP
    uint32_t schema_version;      //  layout version the caller expects (0 = none)
    pd_store_migrate_fn *migrate; //  called when the stored version is older; may be NULL
    void *migrate_arg;
} pd_store_config_t;

//  A copied value. Free with pd_store_value_clear.
typedef struct {
    void *data;
    size_t size;
    uint64_t version;
} pd_store_value_t;

//  A copied record from a scan or stream read. Free arrays with
//  pd_store_items_destroy.
typedef struct {
    void *key;
    size_t key_size;
    void *data;
    size_t size;
    uint64_t version; //  record version (0 for stream items)
    uint64_t seq;     //  stream sequence number (0 for table items)
} pd_store_item_t;

//  Open (creating if needed) the store in directory `path` (created with
//  mode 0700 if missing). Clears stale reader slots, opens every table, runs
//  the migration hook if due, starts the writer. Returns NULL on failure
//  (and logs why once).
pd_store_t *pd_store_new (const char *path, const pd_store_config_t *config);

//  Stop the writer (after it has committed what was queued), close the
//  environment, free, and null *self_p. Idempotent.
void pd_store_destroy (pd_store_t **self_p);

//  Make this thread's reads of the store, until pd_store_read_end, read one
//  snapshot (one LMDB read transaction) instead of one each: what a request
//  reads is then consistent, and cheaper. A commit by this thread moves the
//  snapshot on, so that the thread sees its own writes (and a retry after a
//  conflict sees the newer version). Calls nest (the outermost pair counts);
//  a thread holds a snapshot of one store at a time (PD_E_BAD_REQUEST for a
//  second store). Keep it short: an open snapshot keeps old pages alive.
int pd_store_read_begin (pd_store_t *self);
void pd_store_read_end (pd_store_t *self);

//  Read one record. PD_OK with a copy in *value, or PD_E_NOT_FOUND.
int pd_store_get (pd_store_t *self, const char *table, const void *key, size_t key_size,
                  pd_store_value_t *value);

//  Free a value's data and zero it.
void pd_store_value_clear (pd_store_value_t *value);

//  Read up to `limit` records (limit 0 = PD_STORE_SCAN_MAX) whose key starts
//  with `prefix` (may be empty), in key order, starting strictly after key
//  `after` (NULL = from the first). *items is malloc'd (NULL when *count is
//  0); free with pd_store_items_destroy.
#define PD_STORE_SCAN_MAX 10000
int pd_store_scan (pd_store_t *self, const char *table, const void *prefix, size_t prefix_size,
                   const void *after, size_t after_size, size_t limit, pd_store_item_t **items,
                   size_t *count);

void pd_store_items_destroy (pd_store_item_t **items_p, size_t count);

//  Look an index key up: PD_OK with the primary key copied into *primary.
int pd_store_lookup (pd_store_t *self, const char *index, const void *index_key,
                     size_t index_key_size, pd_store_value_t *primary);

//  Read up to `limit` items of stream `stream` from sequence `from` (>= 1)
//  on, in order. item.seq is set; item.key is NULL.
int pd_store_stream_read (pd_store_t *self, const char *table, const char *stream, uint64_t from,
                          size_t limit, pd_store_item_t **items, size_t *count);

//  Last sequence number of a stream, 0 if empty.
uint64_t pd_store_stream_last (pd_store_t *self, const char *table, const char *stream);

//  Copy the environment, compacted and consistent, to directory `path`
//  (which must exist and be empty). Safe under load.
int pd_store_backup (pd_store_t *self, const char *path);

//  Stored layout version (0 if never set).
uint32_t pd_store_schema_version (pd_store_t *self);

//  ------------------------------------------------------------------------
//  Batches: a list of operations committed atomically, all or nothing.
//  Adding an operation copies its arguments. The add functions return
//  PD_E_BAD_REQUEST for invalid arguments (which also fails the commit).

pd_store_batch_t *pd_store_batch_new (void);
void pd_store_batch_destroy (pd_store_batch_t **self_p);

//  Put `data` under `key`. `expect` is PD_STORE_ANY, PD_STORE_ABSENT, or the
//  version the record must have now. Commit fails PD_E_CONFLICT if the
//  version differs (or the record is gone), PD_E_EXISTS if ABSENT was
//  required and the record exists.
int pd_store_batch_put (pd_store_batch_t *self, const char *table, const void *key, size_t key_size,
                        const void *data, size_t size, uint64_t expect);

//  Delete `key`, checked like put. Deleting an absent record with
//  PD_STORE_ANY is not an error.
int pd_store_batch_delete (pd_store_batch_t *self, const char *table, const void *key,
                           size_t key_size, uint64_t expect);

//  Add a unique index entry index_key -> primary key. Commit fails
//  PD_E_EXISTS if index_key is present (whatever it points to).
int pd_store_batch_index_add (pd_store_batch_t *self, const char *index, const void *index_key,
                              size_t index_key_size, const void *primary, size_t primary_size);

//  Remove an index entry (absent is not an error).
int pd_store_batch_index_remove (pd_store_batch_t *self, const char *index, const void *index_key,
                                 size_t index_key_size);

//  Append `data` to stream `stream` (name 1..64 bytes, no NUL) held in table
//  `table`. The sequence number is known after a successful commit.
int pd_store_batch_append (pd_store_batch_t *self, const char *table, const char *stream,
                           const void *data, size_t size);

//  After a successful commit: sequence number given to the n-th append of
//  the batch (0-based), 0 if there is no such append.
uint64_t pd_store_batch_seq (pd_store_batch_t *self, size_t append_index);

//  After a successful commit: version written by the n-th operation of the
//  batch (0-based; puts and index adds have one), 0 otherwise.
uint64_t pd_store_batch_version (pd_store_batch_t *self, size_t op_index);

//  Number of operations in the batch.
size_t pd_store_batch_size (pd_store_batch_t *self);

//  Commit durably. Blocks until the writer has committed (fsync'ed) the
//  transaction holding this batch. Returns PD_OK, or the status of the first
//  failed check (the batch then changed nothing). An empty batch commits
//  trivially. The caller keeps ownership of the batch.
int pd_store_commit (pd_store_t *self, pd_store_batch_t *batch);

//  Counters, for metrics
typedef struct {
    uint64_t transactions; //  durable LMDB transactions committed
    uint64_t batches;      //  batches committed
    uint64_t conflicts;    //  batches failed on a check
} pd_store_stats_t;
void pd_store_stats (pd_store_t *self, pd_store_stats_t *stats);

#ifdef __cplusplus
}
#endif
#endif
