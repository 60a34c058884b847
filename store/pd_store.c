/*  pd_store - key/value store with transactions, on LMDB (see pd_store.h)

    Layout in LMDB
    - One environment per store, one named database per table, plus the
      internal table "_meta" (key "schema_version" -> u32 little-endian).
    - Every stored value is an 8-byte little-endian record version followed
      by the data. Index tables use the same layout; their data is the
      primary key. Stream items too (version 1; reported as 0).
    - A stream item's key is the stream name, one 0x00 byte, and the
      sequence number as 8 bytes big-endian, so a stream's items sort
      together and in order, and stream "a" ends before stream "ab" starts.

    Writes
    pd_store_commit queues a job (a batch plus its answer) and waits. The
    writer thread takes up to PD_STORE_GROUP_MAX queued jobs, opens one write
    transaction and applies each batch in a nested transaction: a failed
    check aborts that batch alone. The parent is committed (fsync'ed) and
    then every waiter is answered. When LMDB itself fails inside a batch
    (MDB_MAP_FULL above all), the whole transaction is aborted and each batch
    of the group is retried alone, so one huge batch fails only itself.

    Results (versions, sequence numbers) are written into the batch's
    operations by the writer while its owner waits; the queue mutex orders
    those writes before the owner reads them.
*/
#include "pd_store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_VERSION_SIZE      8  //  bytes of the version before a value's data
#define S_SEQ_SIZE          8  //  bytes of a stream key's sequence number
#define S_STREAM_NAME_MAX   64 //  stream names are 1..64 bytes
#define S_STREAM_KEY_MAX    (S_STREAM_NAME_MAX + 1 + S_SEQ_SIZE)
#define S_DATA_MAX          (UINT32_MAX - S_VERSION_SIZE) //  LMDB's value limit
#define S_META_TABLE        "_meta"
#define S_RESERVED_PREFIX   '_' //  table names starting with it are ours
#define S_SCHEMA_KEY        "schema_version"
#define S_SCHEMA_SIZE       4 //  the schema version is a u32
#define S_FILE_MODE         0600
#define S_DIR_MODE          0700
#define S_READER_CHECK_SECS 60 //  clear stale reader slots this often
#define S_SCAN_INITIAL      16 //  first allocation of a scan's result

typedef enum { S_PUT, S_DELETE, S_INDEX_ADD, S_INDEX_REMOVE, S_APPEND } s_op_kind_t;

//  One operation of a batch; table, key and data share one allocation
typedef struct {
    s_op_kind_t kind;
    char *table;        //  table name (in buf)
    size_t table_index; //  index into the store's tables, set by commit
    unsigned char *key; //  key, index key, or stream name (in buf)
    size_t key_size;
    unsigned char *data; //  value, primary key, or event (in buf)
    size_t size;
    uint64_t expect;  //  version check of put and delete
    uint64_t version; //  result: version written (put, index add)
    uint64_t seq;     //  result: sequence number given (append)
    void *buf;        //  the allocation
} s_op_t;

struct _pd_store_batch_t {
    s_op_t *ops;     //  operations, in order
    size_t count;    //  operations used
    size_t capacity; //  operations allocated
    int status;      //  first failure of an add, sticky
};

//  A batch waiting for the writer; lives on the committing thread's stack
typedef struct _s_job_t {
    pd_store_batch_t *batch; //  the batch (not owned)
    int status;              //  the answer, set by the writer
    bool done;               //  set (under lock) when status is final
    struct _s_job_t *next;   //  queue link
} s_job_t;

struct _pd_store_t {
    MDB_env *env;                               //  the environment
    char *path;                                 //  its directory, for log lines
    size_t table_count;                         //  user tables, then "_meta"
    char *table_names[PD_STORE_MAX_TABLES + 1]; //  copies of the names
    MDB_dbi dbis[PD_STORE_MAX_TABLES + 1];      //  their handles
    size_t meta_index;                          //  index of "_meta"
    pthread_t writer;                           //  the writer thread
    bool writer_started;                        //  writer must be joined
    bool sync_ready;                            //  lock and conds initialised
    s_job_t **group;                            //  writer: jobs of one transaction
    struct timespec next_reader_check;          //  writer: when to clear slots
    pthread_mutex_t lock;                       //  guards the fields below
    pthread_cond_t work;                        //  a job was queued or stop asked
    pthread_cond_t done;                        //  jobs were answered
    s_job_t *head;                              //  queue of waiting jobs
    s_job_t *tail;
    bool stopping;           //  destroy asked, refuse new jobs
    pd_store_stats_t stats;  //  counters
    uint32_t schema_version; //  stored layout version
};

//  ------------------------------------------------------------------------
//  Helpers

static void
s_put_le64 (unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t
s_get_le64 (const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void
s_put_be64 (unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * (7 - i)));
}

static uint64_t
s_get_be64 (const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

//  MDB_PANIC means the environment is unusable: stop, the supervisor restarts
static void
s_check_panic (int rc)
{
    if (rc == MDB_PANIC) {
        fprintf (stderr, "store: fatal MDB_PANIC\n");
        abort ();
    }
}

//  Map an LMDB or errno code to a status; logs what only we can explain
static int
s_status (int rc, const char *what)
{
    s_check_panic (rc);
    switch (rc) {
    case MDB_SUCCESS:
        return PD_OK;
    case MDB_NOTFOUND:
        return PD_E_NOT_FOUND;
    case MDB_MAP_FULL:
        return PD_E_STORAGE_FULL;
    case MDB_TXN_FULL:
        return PD_E_TOO_LARGE;
    case MDB_READERS_FULL:
        return PD_E_BUSY;
    case MDB_BAD_VALSIZE:
        return PD_E_BAD_REQUEST;
    default:
        fprintf (stderr, "store: %s failed: %s\n", what, mdb_strerror (rc));
        return PD_E_INTERNAL;
    }
}

static bool
s_key_valid (const void *key, size_t key_size)
{
    return key && key_size >= 1 && key_size <= PD_STORE_MAX_KEY;
}

//  Stream name length (1..64), or 0 if the name is not valid
static size_t
s_stream_name_len (const char *stream)
{
    if (!stream)
        return 0;
    size_t len = strnlen (stream, S_STREAM_NAME_MAX + 1);
    return len <= S_STREAM_NAME_MAX ? len : 0;
}

//  Copy of bytes, NUL-terminated for callers that store text; NULL on ENOMEM
static void *
s_copy (const void *data, size_t size)
{
    unsigned char *copy = malloc (size + 1);
    if (copy) {
        if (size)
            memcpy (copy, data, size);
        copy[size] = 0;
    }
    return copy;
}

//  Table index by name; the internal table only when asked for
static int
s_table_find (pd_store_t *self, const char *name, bool internal, size_t *index)
{
    if (!name)
        return PD_E_BAD_REQUEST;
    for (size_t i = 0; i < self->table_count; i++) {
        if (strcmp (self->table_names[i], name) == 0) {
            if (i == self->meta_index && !internal)
                return PD_E_BAD_REQUEST;
            *index = i;
            return PD_OK;
        }
    }
    return PD_E_BAD_REQUEST;
}

//  The calling thread's snapshot (pd_store_read_begin): its reads of
//  `store` use `txn` until pd_store_read_end. One store at a time.
static __thread struct {
    pd_store_t *store;
    MDB_txn *txn; //  NULL when renewing it failed: reads then open their own
    int depth;
} s_snapshot;

static bool
s_snapshot_held (pd_store_t *self)
{
    return s_snapshot.depth > 0 && s_snapshot.store == self && s_snapshot.txn;
}

static int
s_read_begin (pd_store_t *self, MDB_txn **txn)
{
    if (s_snapshot_held (self)) {
        *txn = s_snapshot.txn;
        return PD_OK;
    }
    return s_status (mdb_txn_begin (self->env, NULL, MDB_RDONLY, txn), "read begin");
}

static void
s_read_end (pd_store_t *self, MDB_txn *txn)
{
    if (!(s_snapshot_held (self) && txn == s_snapshot.txn))
        mdb_txn_abort (txn);
}

//  After this thread committed: its snapshot moves on to see the commit
static void
s_snapshot_renew (pd_store_t *self)
{
    if (!s_snapshot_held (self))
        return;
    mdb_txn_reset (s_snapshot.txn);
    if (mdb_txn_renew (s_snapshot.txn) != MDB_SUCCESS) {
        mdb_txn_abort (s_snapshot.txn);
        s_snapshot.txn = NULL;
    }
}

int
pd_store_read_begin (pd_store_t *self)
{
    assert (self);
    if (s_snapshot.depth > 0) {
        if (s_snapshot.store != self)
            return PD_E_BAD_REQUEST;
        s_snapshot.depth++;
        return PD_OK;
    }
    MDB_txn *txn;
    int rc = s_status (mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn), "read begin");
    if (rc != PD_OK)
        return rc;
    s_snapshot.store = self;
    s_snapshot.txn = txn;
    s_snapshot.depth = 1;
    return PD_OK;
}

void
pd_store_read_end (pd_store_t *self)
{
    assert (self);
    if (s_snapshot.depth == 0 || s_snapshot.store != self)
        return;
    if (--s_snapshot.depth > 0)
        return;
    if (s_snapshot.txn)
        mdb_txn_abort (s_snapshot.txn);
    s_snapshot.txn = NULL;
    s_snapshot.store = NULL;
}

//  Decode a stored value into version and data; false if it is too short
static bool
s_value_decode (const MDB_val *v, uint64_t *version, const unsigned char **data, size_t *size)
{
    if (v->mv_size < S_VERSION_SIZE)
        return false;
    *version = s_get_le64 (v->mv_data);
    *data = (const unsigned char *)v->mv_data + S_VERSION_SIZE;
    *size = v->mv_size - S_VERSION_SIZE;
    return true;
}

//  Key of a stream item: name, 0x00, seq big-endian. Returns its size.
static size_t
s_stream_key (unsigned char *key, const char *stream, size_t len, uint64_t seq)
{
    memcpy (key, stream, len);
    key[len] = 0;
    s_put_be64 (key + len + 1, seq);
    return len + 1 + S_SEQ_SIZE;
}

static bool
s_is_stream_key (const MDB_val *k, const char *stream, size_t len)
{
    const unsigned char *p = k->mv_data;
    return k->mv_size == len + 1 + S_SEQ_SIZE && memcmp (p, stream, len) == 0 && p[len] == 0;
}

//  Last sequence number of a stream in any transaction; LMDB code
static int
s_stream_last (MDB_txn *txn, MDB_dbi dbi, const char *stream, size_t len, uint64_t *last)
{
    *last = 0;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, dbi, &cursor);
    if (rc)
        return rc;
    //  The first key after every item of this stream is name + 0x01
    unsigned char probe[S_STREAM_NAME_MAX + 1];
    memcpy (probe, stream, len);
    probe[len] = 1;
    MDB_val k = {len + 1, probe}, v;
    rc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE);
    if (rc == MDB_SUCCESS)
        rc = mdb_cursor_get (cursor, &k, &v, MDB_PREV);
    else if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get (cursor, &k, &v, MDB_LAST);
    if (rc == MDB_SUCCESS && s_is_stream_key (&k, stream, len))
        *last = s_get_be64 ((const unsigned char *)k.mv_data + len + 1);
    mdb_cursor_close (cursor);
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

//  ------------------------------------------------------------------------
//  Batches

pd_store_batch_t *
pd_store_batch_new (void)
{
    return calloc (1, sizeof (pd_store_batch_t));
}

void
pd_store_batch_destroy (pd_store_batch_t **self_p)
{
    assert (self_p);
    pd_store_batch_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++)
        free (self->ops[i].buf);
    free (self->ops);
    free (self);
    *self_p = NULL;
}

//  Record the first failure of an add; the commit then answers it
static int
s_batch_fail (pd_store_batch_t *self, int status)
{
    if (self->status == PD_OK)
        self->status = status;
    return status;
}

//  Append one operation, copying table, key and data
static int
s_batch_add (pd_store_batch_t *self, s_op_kind_t kind, const char *table, const void *key,
             size_t key_size, const void *data, size_t size, uint64_t expect)
{
    if (!table || !*table || (!data && size) || size > S_DATA_MAX)
        return s_batch_fail (self, PD_E_BAD_REQUEST);
    if (self->count == self->capacity) {
        size_t capacity = self->capacity ? self->capacity * 2 : 8;
        s_op_t *ops = realloc (self->ops, capacity * sizeof (s_op_t));
        if (!ops)
            return s_batch_fail (self, PD_E_INTERNAL);
        self->ops = ops;
        self->capacity = capacity;
    }
    size_t table_size = strlen (table) + 1;
    unsigned char *buf = malloc (table_size + key_size + size);
    if (!buf)
        return s_batch_fail (self, PD_E_INTERNAL);
    s_op_t *op = &self->ops[self->count++];
    *op = (s_op_t){.kind = kind, .key_size = key_size, .size = size, .expect = expect, .buf = buf};
    op->table = (char *)buf;
    memcpy (op->table, table, table_size);
    op->key = buf + table_size;
    memcpy (op->key, key, key_size);
    op->data = op->key + key_size;
    if (size)
        memcpy (op->data, data, size);
    return PD_OK;
}

int
pd_store_batch_put (pd_store_batch_t *self, const char *table, const void *key, size_t key_size,
                    const void *data, size_t size, uint64_t expect)
{
    assert (self);
    if (!s_key_valid (key, key_size))
        return s_batch_fail (self, PD_E_BAD_REQUEST);
    return s_batch_add (self, S_PUT, table, key, key_size, data, size, expect);
}

int
pd_store_batch_delete (pd_store_batch_t *self, const char *table, const void *key, size_t key_size,
                       uint64_t expect)
{
    assert (self);
    if (!s_key_valid (key, key_size))
        return s_batch_fail (self, PD_E_BAD_REQUEST);
    return s_batch_add (self, S_DELETE, table, key, key_size, NULL, 0, expect);
}

int
pd_store_batch_index_add (pd_store_batch_t *self, const char *index, const void *index_key,
                          size_t index_key_size, const void *primary, size_t primary_size)
{
    assert (self);
    if (!s_key_valid (index_key, index_key_size) || !s_key_valid (primary, primary_size))
        return s_batch_fail (self, PD_E_BAD_REQUEST);
    return s_batch_add (self, S_INDEX_ADD, index, index_key, index_key_size, primary, primary_size,
                        PD_STORE_ABSENT);
}

int
pd_store_batch_index_remove (pd_store_batch_t *self, const char *index, const void *index_key,
                             size_t index_key_size)
{
    assert (self);
    if (!s_key_valid (index_key, index_key_size))
        return s_batch_fail (self, PD_E_BAD_REQUEST);
    return s_batch_add (self, S_INDEX_REMOVE, index, index_key, index_key_size, NULL, 0,
                        PD_STORE_ANY);
}

int
pd_store_batch_append (pd_store_batch_t *self, const char *table, const char *stream,
                       const void *data, size_t size)
{
    assert (self);
    size_t len = s_stream_name_len (stream);
    if (len == 0)
        return s_batch_fail (self, PD_E_BAD_REQUEST);
    return s_batch_add (self, S_APPEND, table, stream, len, data, size, PD_STORE_ANY);
}

uint64_t
pd_store_batch_seq (pd_store_batch_t *self, size_t append_index)
{
    assert (self);
    for (size_t i = 0; i < self->count; i++)
        if (self->ops[i].kind == S_APPEND && append_index-- == 0)
            return self->ops[i].seq;
    return 0;
}

uint64_t
pd_store_batch_version (pd_store_batch_t *self, size_t op_index)
{
    assert (self);
    return op_index < self->count ? self->ops[op_index].version : 0;
}

size_t
pd_store_batch_size (pd_store_batch_t *self)
{
    assert (self);
    return self->count;
}

static void
s_batch_reset_results (pd_store_batch_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        self->ops[i].version = self->ops[i].seq = 0;
}

//  ------------------------------------------------------------------------
//  Writer: applying a batch

//  Check a record's current state against an expectation
static int
s_check_expect (uint64_t expect, bool exists, uint64_t current)
{
    if (expect == PD_STORE_ANY)
        return PD_OK;
    if (expect == PD_STORE_ABSENT)
        return exists ? PD_E_EXISTS : PD_OK;
    return exists && current == expect ? PD_OK : PD_E_CONFLICT;
}

//  Write version + data under key with MDB_RESERVE (no staging copy)
static int
s_write_value (MDB_txn *txn, MDB_dbi dbi, MDB_val *k, uint64_t version, const void *data,
               size_t size, unsigned int flags)
{
    MDB_val v = {S_VERSION_SIZE + size, NULL};
    int rc = mdb_put (txn, dbi, k, &v, flags | MDB_RESERVE);
    if (rc == MDB_SUCCESS) {
        s_put_le64 (v.mv_data, version);
        if (size)
            memcpy ((unsigned char *)v.mv_data + S_VERSION_SIZE, data, size);
    }
    return rc;
}

//  Apply one operation. Returns PD_OK, a failed check (PD_E_CONFLICT,
//  PD_E_EXISTS), or PD_E_INTERNAL with the LMDB code in *lmdb_rc.
static int
s_op_apply (pd_store_t *self, MDB_txn *txn, s_op_t *op, int *lmdb_rc)
{
    MDB_dbi dbi = self->dbis[op->table_index];
    MDB_val k = {op->key_size, op->key}, v;
    int rc = MDB_SUCCESS;

    if (op->kind == S_PUT || op->kind == S_DELETE) {
        uint64_t current = 0;
        const unsigned char *data;
        size_t size;
        rc = mdb_get (txn, dbi, &k, &v);
        bool exists = rc == MDB_SUCCESS;
        if (exists && !s_value_decode (&v, &current, &data, &size))
            rc = MDB_CORRUPTED;
        else if (rc == MDB_SUCCESS || rc == MDB_NOTFOUND) {
            int status = s_check_expect (op->expect, exists, current);
            if (status != PD_OK)
                return status;
            if (op->kind == S_PUT) {
                rc = s_write_value (txn, dbi, &k, current + 1, op->data, op->size, 0);
                op->version = current + 1;
            } else
                rc = exists ? mdb_del (txn, dbi, &k, NULL) : MDB_SUCCESS;
        }
    } else if (op->kind == S_INDEX_ADD) {
        rc = s_write_value (txn, dbi, &k, 1, op->data, op->size, MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST)
            return PD_E_EXISTS;
        op->version = 1;
    } else if (op->kind == S_INDEX_REMOVE) {
        rc = mdb_del (txn, dbi, &k, NULL);
        if (rc == MDB_NOTFOUND)
            rc = MDB_SUCCESS;
    } else {
        assert (op->kind == S_APPEND);
        const char *stream = (const char *)op->key;
        uint64_t last;
        rc = s_stream_last (txn, dbi, stream, op->key_size, &last);
        if (rc == MDB_SUCCESS) {
            unsigned char key[S_STREAM_KEY_MAX];
            MDB_val sk = {s_stream_key (key, stream, op->key_size, last + 1), key};
            rc = s_write_value (txn, dbi, &sk, 1, op->data, op->size, MDB_NOOVERWRITE);
            op->seq = last + 1;
        }
    }
    if (rc != MDB_SUCCESS) {
        *lmdb_rc = rc;
        return PD_E_INTERNAL;
    }
    return PD_OK;
}

static int
s_batch_apply (pd_store_t *self, MDB_txn *txn, pd_store_batch_t *batch, int *lmdb_rc)
{
    s_batch_reset_results (batch);
    for (size_t i = 0; i < batch->count; i++) {
        int status = s_op_apply (self, txn, &batch->ops[i], lmdb_rc);
        if (status != PD_OK)
            return status;
    }
    return PD_OK;
}

//  Apply jobs in one durable transaction, each in a nested one. Returns 0
//  when the transaction committed (each job's status is set), else the LMDB
//  code, with *in_batch telling whether it came from inside a batch.
static int
s_group_apply (pd_store_t *self, s_job_t **jobs, size_t count, bool *in_batch)
{
    *in_batch = false;
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc)
        return rc;
    for (size_t i = 0; i < count; i++) {
        MDB_txn *child;
        rc = mdb_txn_begin (self->env, txn, 0, &child);
        if (rc) {
            mdb_txn_abort (txn);
            return rc;
        }
        int lmdb_rc = MDB_SUCCESS;
        int status = s_batch_apply (self, child, jobs[i]->batch, &lmdb_rc);
        if (status == PD_OK)
            lmdb_rc = mdb_txn_commit (child);
        else
            mdb_txn_abort (child);
        if (lmdb_rc != MDB_SUCCESS) {
            mdb_txn_abort (txn);
            *in_batch = true;
            return lmdb_rc;
        }
        jobs[i]->status = status;
    }
    return mdb_txn_commit (txn);
}

//  Run a group; returns the number of durable transactions committed
static uint64_t
s_group_run (pd_store_t *self, s_job_t **jobs, size_t count)
{
    bool in_batch;
    int rc = s_group_apply (self, jobs, count, &in_batch);
    if (rc == MDB_SUCCESS)
        return 1;
    s_check_panic (rc);
    if (count > 1 && (rc == MDB_MAP_FULL || in_batch)) {
        //  Retry each batch alone: only the guilty one fails
        uint64_t transactions = 0;
        for (size_t i = 0; i < count; i++)
            transactions += s_group_run (self, &jobs[i], 1);
        return transactions;
    }
    int status = s_status (rc, "commit");
    for (size_t i = 0; i < count; i++)
        jobs[i]->status = status;
    return 0;
}

static void
s_reader_check_due (pd_store_t *self)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    if (now.tv_sec < self->next_reader_check.tv_sec)
        return;
    int dead = 0;
    int rc = mdb_reader_check (self->env, &dead);
    if (rc)
        s_status (rc, "reader check");
    self->next_reader_check.tv_sec = now.tv_sec + S_READER_CHECK_SECS;
}

static void *
s_writer (void *arg)
{
    pd_store_t *self = arg;
    pthread_mutex_lock (&self->lock);
    while (self->head || !self->stopping) {
        if (!self->head) {
            //  Idle: wake for work, stop, or the next reader slot check
            pthread_cond_timedwait (&self->work, &self->lock, &self->next_reader_check);
            pthread_mutex_unlock (&self->lock);
            s_reader_check_due (self);
            pthread_mutex_lock (&self->lock);
            continue;
        }
        size_t count = 0;
        while (self->head && count < PD_STORE_GROUP_MAX) {
            self->group[count++] = self->head;
            self->head = self->head->next;
        }
        if (!self->head)
            self->tail = NULL;
        pthread_mutex_unlock (&self->lock);

        uint64_t transactions = s_group_run (self, self->group, count);
        s_reader_check_due (self);

        pthread_mutex_lock (&self->lock);
        self->stats.transactions += transactions;
        for (size_t i = 0; i < count; i++) {
            s_job_t *job = self->group[i];
            if (job->status == PD_OK)
                self->stats.batches++;
            else {
                s_batch_reset_results (job->batch);
                if (job->status == PD_E_CONFLICT || job->status == PD_E_EXISTS)
                    self->stats.conflicts++;
            }
            job->done = true; //  the job may vanish once we unlock
        }
        pthread_cond_broadcast (&self->done);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

//  Resolve table names to indexes; the caller's thread owns the batch
static int
s_batch_resolve (pd_store_t *self, pd_store_batch_t *batch, bool internal)
{
    for (size_t i = 0; i < batch->count; i++)
        if (s_table_find (self, batch->ops[i].table, internal, &batch->ops[i].table_index))
            return PD_E_BAD_REQUEST;
    return PD_OK;
}

static int
s_commit (pd_store_t *self, pd_store_batch_t *batch, bool internal)
{
    assert (self);
    assert (batch);
    s_batch_reset_results (batch);
    if (batch->status != PD_OK)
        return batch->status;
    if (batch->count == 0)
        return PD_OK;
    int status = s_batch_resolve (self, batch, internal);
    if (status != PD_OK)
        return status;

    s_job_t job = {.batch = batch, .status = PD_E_INTERNAL};
    pthread_mutex_lock (&self->lock);
    if (self->stopping)
        job.status = PD_E_UNAVAILABLE;
    else {
        if (self->tail)
            self->tail->next = &job;
        else
            self->head = &job;
        self->tail = &job;
        pthread_cond_signal (&self->work);
        while (!job.done)
            pthread_cond_wait (&self->done, &self->lock);
    }
    pthread_mutex_unlock (&self->lock);
    return job.status;
}

int
pd_store_commit (pd_store_t *self, pd_store_batch_t *batch)
{
    int rc = s_commit (self, batch, false);
    s_snapshot_renew (self);
    return rc;
}

//  ------------------------------------------------------------------------
//  Open and close

//  Copy and check the table names: 0..64 distinct, none of ours
static int
s_tables_set (pd_store_t *self, const char *const *tables)
{
    size_t count = 0;
    for (; tables[count]; count++) {
        const char *name = tables[count];
        if (count == PD_STORE_MAX_TABLES || !*name || *name == S_RESERVED_PREFIX)
            return -1;
        for (size_t i = 0; i < count; i++)
            if (strcmp (self->table_names[i], name) == 0)
                return -1;
        self->table_names[count] = strdup (name);
        if (!self->table_names[count])
            return -1;
        self->table_count = count + 1;
    }
    self->meta_index = count;
    self->table_names[count] = strdup (S_META_TABLE);
    if (!self->table_names[count])
        return -1;
    self->table_count = count + 1;
    return 0;
}

//  Open every table in one write transaction; read the schema version and
//  whether the store holds no record yet
static int
s_tables_open (pd_store_t *self, uint32_t *schema_version, bool *empty)
{
    *schema_version = 0;
    *empty = true;
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc)
        return rc;
    for (size_t i = 0; i < self->table_count && rc == MDB_SUCCESS; i++) {
        rc = mdb_dbi_open (txn, self->table_names[i], MDB_CREATE, &self->dbis[i]);
        MDB_stat stat;
        if (rc == MDB_SUCCESS)
            rc = mdb_stat (txn, self->dbis[i], &stat);
        if (rc == MDB_SUCCESS && stat.ms_entries > 0)
            *empty = false;
    }
    MDB_val k = {strlen (S_SCHEMA_KEY), S_SCHEMA_KEY}, v;
    if (rc == MDB_SUCCESS)
        rc = mdb_get (txn, self->dbis[self->meta_index], &k, &v);
    if (rc == MDB_SUCCESS) {
        if (v.mv_size != S_VERSION_SIZE + S_SCHEMA_SIZE)
            rc = MDB_CORRUPTED;
        else {
            const unsigned char *p = (const unsigned char *)v.mv_data + S_VERSION_SIZE;
            *schema_version =
                (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        }
    } else if (rc == MDB_NOTFOUND)
        rc = MDB_SUCCESS;
    if (rc == MDB_SUCCESS)
        return mdb_txn_commit (txn);
    mdb_txn_abort (txn);
    return rc;
}

static int
s_schema_record (pd_store_t *self, uint32_t version)
{
    unsigned char data[S_SCHEMA_SIZE];
    for (int i = 0; i < S_SCHEMA_SIZE; i++)
        data[i] = (unsigned char)(version >> (8 * i));
    pd_store_batch_t *batch = pd_store_batch_new ();
    if (!batch)
        return PD_E_INTERNAL;
    int rc = pd_store_batch_put (batch, S_META_TABLE, S_SCHEMA_KEY, strlen (S_SCHEMA_KEY), data,
                                 sizeof (data), PD_STORE_ANY);
    if (rc == PD_OK)
        rc = s_commit (self, batch, true);
    pd_store_batch_destroy (&batch);
    if (rc == PD_OK) {
        pthread_mutex_lock (&self->lock);
        self->schema_version = version;
        pthread_mutex_unlock (&self->lock);
    }
    return rc;
}

//  Bring the stored layout up to the version the caller expects
static int
s_schema_upgrade (pd_store_t *self, const pd_store_config_t *config, bool empty)
{
    uint32_t stored = self->schema_version;
    uint32_t wanted = config->schema_version;
    if (wanted == 0 || stored == wanted)
        return 0;
    if (stored > wanted) {
        fprintf (stderr, "store: cannot open %s: schema version %u is newer than %u\n", self->path,
                 stored, wanted);
        return -1;
    }
    if (config->migrate && !empty && config->migrate (self, stored, wanted, config->migrate_arg)) {
        fprintf (stderr, "store: cannot open %s: migration from %u to %u failed\n", self->path,
                 stored, wanted);
        return -1;
    }
    if (s_schema_record (self, wanted) != PD_OK) {
        fprintf (stderr, "store: cannot open %s: cannot record schema version\n", self->path);
        return -1;
    }
    return 0;
}

pd_store_t *
pd_store_new (const char *path, const pd_store_config_t *config)
{
    if (!path || !*path || !config || !config->tables) {
        fprintf (stderr, "store: cannot open: bad arguments\n");
        return NULL;
    }
    pd_store_t *self = calloc (1, sizeof (pd_store_t));
    if (!self)
        return NULL;
    self->path = strdup (path);
    self->group = calloc (PD_STORE_GROUP_MAX, sizeof (s_job_t *));
    if (!self->path || !self->group) {
        pd_store_destroy (&self);
        return NULL;
    }
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->work, &attr);
    pthread_cond_init (&self->done, NULL);
    pthread_condattr_destroy (&attr);
    self->sync_ready = true;

    const char *why = NULL;
    int rc = MDB_SUCCESS;
    uint32_t stored = 0;
    bool empty = true;
    if (s_tables_set (self, config->tables)) {
        why = "bad table list";
        goto failed;
    }
    if (mkdir (path, S_DIR_MODE) && errno != EEXIST) {
        rc = errno;
        why = "mkdir";
        goto failed;
    }
    if ((rc = mdb_env_create (&self->env)) != MDB_SUCCESS) {
        why = "mdb_env_create";
        goto failed;
    }
    why = "mdb_env_open";
    rc = mdb_env_set_maxdbs (self->env, PD_STORE_MAX_TABLES + 1);
    //  Every actor thread holds a reader slot for its request's snapshot
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_maxreaders (self->env, PD_STORE_MAX_READERS);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_mapsize (self->env,
                                  config->map_size ? config->map_size : PD_STORE_DEFAULT_MAP);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_open (self->env, path, MDB_NOTLS, S_FILE_MODE);
    if (rc != MDB_SUCCESS)
        goto failed;
    int dead = 0;
    if ((rc = mdb_reader_check (self->env, &dead)) != MDB_SUCCESS) {
        why = "mdb_reader_check";
        goto failed;
    }
    if ((rc = s_tables_open (self, &stored, &empty)) != MDB_SUCCESS) {
        why = "open tables";
        goto failed;
    }
    self->schema_version = stored;

    clock_gettime (CLOCK_MONOTONIC, &self->next_reader_check);
    self->next_reader_check.tv_sec += S_READER_CHECK_SECS;
    if ((rc = pthread_create (&self->writer, NULL, s_writer, self)) != 0) {
        why = "start writer";
        goto failed;
    }
    self->writer_started = true;
    if (s_schema_upgrade (self, config, empty))
        goto failed_logged;
    return self;

failed:
    s_check_panic (rc);
    fprintf (stderr, "store: cannot open %s: %s%s%s\n", path, why, rc ? ": " : "",
             rc ? mdb_strerror (rc) : "");
failed_logged:
    pd_store_destroy (&self);
    return NULL;
}

void
pd_store_destroy (pd_store_t **self_p)
{
    assert (self_p);
    pd_store_t *self = *self_p;
    if (!self)
        return;
    if (self->writer_started) {
        pthread_mutex_lock (&self->lock);
        self->stopping = true;
        pthread_cond_signal (&self->work);
        pthread_mutex_unlock (&self->lock);
        pthread_join (self->writer, NULL);
    }
    if (self->env)
        mdb_env_close (self->env);
    if (self->sync_ready) {
        pthread_cond_destroy (&self->done);
        pthread_cond_destroy (&self->work);
        pthread_mutex_destroy (&self->lock);
    }
    for (size_t i = 0; i < self->table_count; i++)
        free (self->table_names[i]);
    free (self->group);
    free (self->path);
    free (self);
    *self_p = NULL;
}

//  ------------------------------------------------------------------------
//  Reads

static int
s_get (pd_store_t *self, const char *table, const void *key, size_t key_size,
       pd_store_value_t *value)
{
    assert (self);
    assert (value);
    *value = (pd_store_value_t){0};
    size_t index;
    if (s_table_find (self, table, false, &index) || !s_key_valid (key, key_size))
        return PD_E_BAD_REQUEST;
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn);
    if (rc != PD_OK)
        return rc;
    MDB_val k = {key_size, (void *)key}, v;
    rc = s_status (mdb_get (txn, self->dbis[index], &k, &v), "get");
    const unsigned char *data;
    size_t size;
    if (rc == PD_OK && !s_value_decode (&v, &value->version, &data, &size))
        rc = s_status (MDB_CORRUPTED, "get");
    if (rc == PD_OK) {
        value->data = s_copy (data, size);
        value->size = size;
        if (!value->data)
            rc = PD_E_INTERNAL;
    }
    s_read_end (self, txn);
    if (rc != PD_OK)
        *value = (pd_store_value_t){0};
    return rc;
}

int
pd_store_get (pd_store_t *self, const char *table, const void *key, size_t key_size,
              pd_store_value_t *value)
{
    return s_get (self, table, key, key_size, value);
}

int
pd_store_lookup (pd_store_t *self, const char *index, const void *index_key, size_t index_key_size,
                 pd_store_value_t *primary)
{
    return s_get (self, index, index_key, index_key_size, primary);
}

void
pd_store_value_clear (pd_store_value_t *value)
{
    if (!value)
        return;
    free (value->data);
    *value = (pd_store_value_t){0};
}

void
pd_store_items_destroy (pd_store_item_t **items_p, size_t count)
{
    if (!items_p || !*items_p)
        return;
    pd_store_item_t *items = *items_p;
    for (size_t i = 0; i < count; i++) {
        free (items[i].key);
        free (items[i].data);
    }
    free (items);
    *items_p = NULL;
}

//  A growing array of copied items
typedef struct {
    pd_store_item_t *items;
    size_t count;
    size_t capacity;
} s_items_t;

//  Copy one record into the list; the key is omitted when key is NULL
static int
s_items_add (s_items_t *list, const MDB_val *key, const MDB_val *value, uint64_t seq)
{
    uint64_t version;
    const unsigned char *data;
    size_t size;
    if (!s_value_decode (value, &version, &data, &size))
        return s_status (MDB_CORRUPTED, "read");
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : S_SCAN_INITIAL;
        pd_store_item_t *items = realloc (list->items, capacity * sizeof (pd_store_item_t));
        if (!items)
            return PD_E_INTERNAL;
        list->items = items;
        list->capacity = capacity;
    }
    pd_store_item_t *item = &list->items[list->count];
    *item = (pd_store_item_t){.size = size, .seq = seq, .version = seq ? 0 : version};
    item->data = s_copy (data, size);
    if (key) {
        item->key = s_copy (key->mv_data, key->mv_size);
        item->key_size = key->mv_size;
    }
    if (!item->data || (key && !item->key)) {
        free (item->data);
        free (item->key);
        return PD_E_INTERNAL;
    }
    list->count++;
    return PD_OK;
}

//  Hand the list to the caller, or free it on failure
static int
s_items_finish (s_items_t *list, int rc, pd_store_item_t **items, size_t *count)
{
    if (rc == PD_OK && list->count) {
        *items = list->items;
        *count = list->count;
    } else
        pd_store_items_destroy (&list->items, list->count);
    return rc;
}

static size_t
s_limit (size_t limit)
{
    return limit == 0 || limit > PD_STORE_SCAN_MAX ? PD_STORE_SCAN_MAX : limit;
}

int
pd_store_scan (pd_store_t *self, const char *table, const void *prefix, size_t prefix_size,
               const void *after, size_t after_size, size_t limit, pd_store_item_t **items,
               size_t *count)
{
    assert (self);
    assert (items);
    assert (count);
    *items = NULL;
    *count = 0;
    size_t index;
    if (s_table_find (self, table, false, &index) || (prefix_size && !prefix) ||
        prefix_size > PD_STORE_MAX_KEY || (after && after_size > PD_STORE_MAX_KEY))
        return PD_E_BAD_REQUEST;
    if (!after || after_size == 0)
        after = NULL;
    limit = s_limit (limit);

    MDB_txn *txn;
    int rc = s_read_begin (self, &txn);
    if (rc != PD_OK)
        return rc;
    MDB_dbi dbi = self->dbis[index];
    MDB_cursor *cursor;
    int mrc = mdb_cursor_open (txn, dbi, &cursor);
    if (mrc) {
        s_read_end (self, txn);
        return s_status (mrc, "scan");
    }
    //  Start strictly after `after`, or at the prefix if that comes later
    MDB_val pk = {prefix_size, (void *)prefix}, ak = {after_size, (void *)after}, k, v;
    bool from_after = after && (prefix_size == 0 || mdb_cmp (txn, dbi, &ak, &pk) >= 0);
    if (from_after) {
        k = ak;
        mrc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE);
        if (mrc == MDB_SUCCESS && mdb_cmp (txn, dbi, &k, &ak) == 0)
            mrc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    } else if (prefix_size) {
        k = pk;
        mrc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE);
    } else
        mrc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);

    s_items_t list = {0};
    while (mrc == MDB_SUCCESS && list.count < limit) {
        if (prefix_size && (k.mv_size < prefix_size || memcmp (k.mv_data, prefix, prefix_size)))
            break;
        rc = s_items_add (&list, &k, &v, 0);
        if (rc != PD_OK)
            break;
        mrc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    if (rc == PD_OK && mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = s_status (mrc, "scan");
    mdb_cursor_close (cursor);
    s_read_end (self, txn);
    return s_items_finish (&list, rc, items, count);
}

int
pd_store_stream_read (pd_store_t *self, const char *table, const char *stream, uint64_t from,
                      size_t limit, pd_store_item_t **items, size_t *count)
{
    assert (self);
    assert (items);
    assert (count);
    *items = NULL;
    *count = 0;
    size_t index;
    size_t len = s_stream_name_len (stream);
    if (s_table_find (self, table, false, &index) || len == 0 || from == 0)
        return PD_E_BAD_REQUEST;
    limit = s_limit (limit);

    MDB_txn *txn;
    int rc = s_read_begin (self, &txn);
    if (rc != PD_OK)
        return rc;
    MDB_cursor *cursor;
    int mrc = mdb_cursor_open (txn, self->dbis[index], &cursor);
    if (mrc) {
        s_read_end (self, txn);
        return s_status (mrc, "stream read");
    }
    unsigned char start[S_STREAM_KEY_MAX];
    MDB_val k = {s_stream_key (start, stream, len, from), start}, v;
    mrc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE);
    s_items_t list = {0};
    while (mrc == MDB_SUCCESS && list.count < limit && s_is_stream_key (&k, stream, len)) {
        uint64_t seq = s_get_be64 ((const unsigned char *)k.mv_data + len + 1);
        rc = s_items_add (&list, NULL, &v, seq);
        if (rc != PD_OK)
            break;
        mrc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    if (rc == PD_OK && mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = s_status (mrc, "stream read");
    mdb_cursor_close (cursor);
    s_read_end (self, txn);
    return s_items_finish (&list, rc, items, count);
}

uint64_t
pd_store_stream_last (pd_store_t *self, const char *table, const char *stream)
{
    assert (self);
    size_t index;
    size_t len = s_stream_name_len (stream);
    if (s_table_find (self, table, false, &index) || len == 0)
        return 0;
    MDB_txn *txn;
    if (s_read_begin (self, &txn) != PD_OK)
        return 0;
    uint64_t last = 0;
    int rc = s_stream_last (txn, self->dbis[index], stream, len, &last);
    if (rc)
        s_status (rc, "stream last");
    s_read_end (self, txn);
    return last;
}

//  ------------------------------------------------------------------------
//  Backup, schema, stats

int
pd_store_backup (pd_store_t *self, const char *path)
{
    assert (self);
    char file[PATH_MAX];
    if (!path || snprintf (file, sizeof (file), "%s/data.mdb", path) >= (int)sizeof (file))
        return PD_E_BAD_REQUEST;
    //  Our own file (not mdb_env_copy2's): private mode, and fsync'ed
    int fd = open (file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, S_FILE_MODE);
    if (fd < 0) {
        if (errno == EEXIST)
            return PD_E_EXISTS;
        return errno == ENOENT || errno == ENOTDIR ? PD_E_BAD_REQUEST : s_status (errno, "backup");
    }
    int rc = mdb_env_copyfd2 (self->env, fd, MDB_CP_COMPACT);
    if (rc == MDB_SUCCESS && fsync (fd))
        rc = errno;
    if (close (fd) && rc == MDB_SUCCESS)
        rc = errno;
    if (rc == MDB_SUCCESS) {
        int dir = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0 || fsync (dir))
            rc = errno;
        if (dir >= 0)
            close (dir);
    }
    if (rc != MDB_SUCCESS) {
        unlink (file);
        return s_status (rc, "backup");
    }
    return PD_OK;
}

uint32_t
pd_store_schema_version (pd_store_t *self)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    uint32_t version = self->schema_version;
    pthread_mutex_unlock (&self->lock);
    return version;
}

void
pd_store_stats (pd_store_t *self, pd_store_stats_t *stats)
{
    assert (self);
    assert (stats);
    pthread_mutex_lock (&self->lock);
    *stats = self->stats;
    pthread_mutex_unlock (&self->lock);
}
