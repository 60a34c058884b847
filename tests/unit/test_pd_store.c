/*  test_pd_store - the store on real LMDB files in a fresh temp directory

    Each test gets its own directory (pd_test_dir) that teardown removes.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pd_store.h"
#include "pd_test_dir.h"

#define ITEMS    "items"
#define BY_NAME  "by_name"
#define EVENTS   "events"
#define THREADS  8
#define PATH_LEN 256

static const char *const s_tables[] = {ITEMS, BY_NAME, EVENTS, NULL};

typedef struct {
    char dir[PATH_LEN];    //  the temp directory
    char db[PATH_LEN + 8]; //  the store inside it: dir + "/db"
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fx = calloc (1, sizeof (fixture_t));
    assert_non_null (fx);
    assert_int_equal (pd_test_dir_make ("test_pd_store", fx->dir, sizeof (fx->dir)), 0);
    snprintf (fx->db, sizeof (fx->db), "%s/db", fx->dir);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = *state;
    pd_test_dir_remove (fx->dir);
    free (fx);
    return 0;
}

static pd_store_t *
s_open (const char *path)
{
    pd_store_config_t config = {.tables = s_tables};
    pd_store_t *store = pd_store_new (path, &config);
    assert_non_null (store);
    return store;
}

//  Commit one put; returns the status, *version gets the version written
static int
s_put (pd_store_t *store, const char *key, const char *value, uint64_t expect, uint64_t *version)
{
    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_non_null (batch);
    assert_int_equal (
        pd_store_batch_put (batch, ITEMS, key, strlen (key), value, strlen (value), expect), PD_OK);
    int rc = pd_store_commit (store, batch);
    if (version)
        *version = pd_store_batch_version (batch, 0);
    pd_store_batch_destroy (&batch);
    return rc;
}

//  Assert that key holds value at version
static void
s_assert_value (pd_store_t *store, const char *key, const char *value, uint64_t version)
{
    pd_store_value_t got = {0};
    assert_int_equal (pd_store_get (store, ITEMS, key, strlen (key), &got), PD_OK);
    assert_int_equal (got.size, strlen (value));
    assert_memory_equal (got.data, value, got.size);
    assert_int_equal (got.version, version);
    pd_store_value_clear (&got);
}

static void
s_assert_absent (pd_store_t *store, const char *key)
{
    pd_store_value_t got = {0};
    assert_int_equal (pd_store_get (store, ITEMS, key, strlen (key), &got), PD_E_NOT_FOUND);
    assert_null (got.data);
}

//  ------------------------------------------------------------------------

static void
test_usage_example (void **state)
{
    fixture_t *fx = *state;
    static const char *const tables[] = {"partners", NULL};
    pd_store_config_t config = {.tables = tables};
    pd_store_t *store = pd_store_new (fx->db, &config);
    assert_non_null (store);

    //  Write: a batch of operations, committed durably
    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_int_equal (pd_store_batch_put (batch, "partners", "p1", 2, "Acme", 4, PD_STORE_ABSENT),
                      PD_OK);
    assert_int_equal (pd_store_batch_put (batch, "partners", "p2", 2, "Globex", 6, PD_STORE_ABSENT),
                      PD_OK);
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    assert_int_equal (pd_store_batch_version (batch, 0), 1);
    pd_store_batch_destroy (&batch);
    assert_null (batch);

    //  Read one record: a copy, with its version
    pd_store_value_t value = {0};
    assert_int_equal (pd_store_get (store, "partners", "p1", 2, &value), PD_OK);
    assert_int_equal (value.size, 4);
    assert_memory_equal (value.data, "Acme", 4);
    assert_int_equal (value.version, 1);
    pd_store_value_clear (&value);
    assert_null (value.data);

    //  Scan by prefix, in key order
    pd_store_item_t *items = NULL;
    size_t count = 0;
    assert_int_equal (pd_store_scan (store, "partners", "p", 1, NULL, 0, 0, &items, &count), PD_OK);
    assert_int_equal (count, 2);
    assert_memory_equal (items[0].key, "p1", 2);
    assert_memory_equal (items[1].data, "Globex", 6);
    assert_int_equal (items[1].version, 1);
    pd_store_items_destroy (&items, count);
    assert_null (items);

    pd_store_destroy (&store);
    assert_null (store);
    pd_store_destroy (&store); //  idempotent
}

static void
test_get_put_delete (void **state)
{
    fixture_t *fx = *state;
    pd_store_t *store = s_open (fx->db);

    s_assert_absent (store, "k");
    assert_int_equal (s_put (store, "k", "one", PD_STORE_ANY, NULL), PD_OK);
    s_assert_value (store, "k", "one", 1);

    //  An empty value is a value
    assert_int_equal (s_put (store, "empty", "", PD_STORE_ANY, NULL), PD_OK);
    s_assert_value (store, "empty", "", 1);

    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_int_equal (pd_store_batch_delete (batch, ITEMS, "k", 1, PD_STORE_ANY), PD_OK);
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
    s_assert_absent (store, "k");

    //  Deleting an absent record without a check is fine; with one it is not
    batch = pd_store_batch_new ();
    assert_int_equal (pd_store_batch_delete (batch, ITEMS, "k", 1, PD_STORE_ANY), PD_OK);
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
    batch = pd_store_batch_new ();
    assert_int_equal (pd_store_batch_delete (batch, ITEMS, "k", 1, 1), PD_OK);
    assert_int_equal (pd_store_commit (store, batch), PD_E_CONFLICT);
    pd_store_batch_destroy (&batch);

    //  Checked delete: stale version refused, current version accepted
    uint64_t version;
    assert_int_equal (s_put (store, "d", "x", PD_STORE_ANY, &version), PD_OK);
    assert_int_equal (s_put (store, "d", "y", PD_STORE_ANY, &version), PD_OK);
    assert_int_equal (version, 2);
    batch = pd_store_batch_new ();
    assert_int_equal (pd_store_batch_delete (batch, ITEMS, "d", 1, 1), PD_OK);
    assert_int_equal (pd_store_commit (store, batch), PD_E_CONFLICT);
    pd_store_batch_destroy (&batch);
    s_assert_value (store, "d", "y", 2);
    batch = pd_store_batch_new ();
    assert_int_equal (pd_store_batch_delete (batch, ITEMS, "d", 1, 2), PD_OK);
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
    s_assert_absent (store, "d");

    //  Empty batches commit trivially
    batch = pd_store_batch_new ();
    assert_int_equal (pd_store_batch_size (batch), 0);
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
    pd_store_destroy (&store);
}

static void
test_versions_increment (void **state)
{
    fixture_t *fx = *state;
    pd_store_t *store = s_open (fx->db);
    for (uint64_t i = 1; i <= 5; i++) {
        uint64_t version = 0;
        assert_int_equal (s_put (store, "v", "data", PD_STORE_ANY, &version), PD_OK);
        assert_int_equal (version, i);
        s_assert_value (store, "v", "data", i);
    }
    //  Two puts of one record in one batch: 6 then 7
    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_int_equal (pd_store_batch_put (batch, ITEMS, "v", 1, "a", 1, 5), PD_OK);
    assert_int_equal (pd_store_batch_delete (batch, ITEMS, "other", 5, PD_STORE_ANY), PD_OK);
    assert_int_equal (pd_store_batch_put (batch, ITEMS, "v", 1, "b", 1, 6), PD_OK);
    assert_int_equal (pd_store_batch_size (batch), 3);
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    assert_int_equal (pd_store_batch_version (batch, 0), 6);
    assert_int_equal (pd_store_batch_version (batch, 1), 0); //  deletes have none
    assert_int_equal (pd_store_batch_version (batch, 2), 7);
    assert_int_equal (pd_store_batch_version (batch, 3), 0); //  no such op
    pd_store_batch_destroy (&batch);
    s_assert_value (store, "v", "b", 7);

    //  After a delete, a record starts again at 1
    batch = pd_store_batch_new ();
    assert_int_equal (pd_store_batch_delete (batch, ITEMS, "v", 1, 7), PD_OK);
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
    uint64_t version = 0;
    assert_int_equal (s_put (store, "v", "new", PD_STORE_ABSENT, &version), PD_OK);
    assert_int_equal (version, 1);
    pd_store_destroy (&store);
}

static void
test_compare_and_set (void **state)
{
    fixture_t *fx = *state;
    pd_store_t *store = s_open (fx->db);
    assert_int_equal (s_put (store, "c", "v1", PD_STORE_ABSENT, NULL), PD_OK);
    assert_int_equal (s_put (store, "c", "v2", 1, NULL), PD_OK);

    //  Stale version: conflict, value unchanged, no version reported
    uint64_t version = 99;
    assert_int_equal (s_put (store, "c", "stale", 1, &version), PD_E_CONFLICT);
    assert_int_equal (version, 0);
    s_assert_value (store, "c", "v2", 2);

    //  Absence required but the record exists
    assert_int_equal (s_put (store, "c", "again", PD_STORE_ABSENT, NULL), PD_E_EXISTS);
    s_assert_value (store, "c", "v2", 2);

    //  A version required but the record is gone
    assert_int_equal (s_put (store, "missing", "x", 3, NULL), PD_E_CONFLICT);
    s_assert_absent (store, "missing");

    pd_store_stats_t stats;
    pd_store_stats (store, &stats);
    assert_int_equal (stats.conflicts, 3);
    assert_int_equal (stats.batches, 2);
    pd_store_destroy (&store);
}

static void
test_failed_batch_changes_nothing (void **state)
{
    fixture_t *fx = *state;
    pd_store_t *store = s_open (fx->db);
    assert_int_equal (s_put (store, "a", "a1", PD_STORE_ANY, NULL), PD_OK);
    assert_int_equal (s_put (store, "z", "z1", PD_STORE_ANY, NULL), PD_OK);

    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_int_equal (pd_store_batch_put (batch, ITEMS, "a", 1, "a2", 2, 1), PD_OK);
    assert_int_equal (pd_store_batch_put (batch, ITEMS, "b", 1, "b1", 2, PD_STORE_ABSENT), PD_OK);
    assert_int_equal (pd_store_batch_index_add (batch, BY_NAME, "name-b", 6, "b", 1), PD_OK);
    assert_int_equal (pd_store_batch_append (batch, EVENTS, "audit", "e", 1), PD_OK);
    assert_int_equal (pd_store_batch_delete (batch, ITEMS, "z", 1, PD_STORE_ANY), PD_OK);
    assert_int_equal (pd_store_batch_put (batch, ITEMS, "z", 1, "z2", 2, 7), PD_OK); //  stale
    assert_int_equal (pd_store_commit (store, batch), PD_E_CONFLICT);
    for (size_t i = 0; i < pd_store_batch_size (batch); i++)
        assert_int_equal (pd_store_batch_version (batch, i), 0);
    assert_int_equal (pd_store_batch_seq (batch, 0), 0);
    pd_store_batch_destroy (&batch);

    s_assert_value (store, "a", "a1", 1);
    s_assert_absent (store, "b");
    s_assert_value (store, "z", "z1", 1);
    pd_store_value_t primary = {0};
    assert_int_equal (pd_store_lookup (store, BY_NAME, "name-b", 6, &primary), PD_E_NOT_FOUND);
    assert_int_equal (pd_store_stream_last (store, EVENTS, "audit"), 0);

    //  The same batch, corrected, commits as a whole
    batch = pd_store_batch_new ();
    assert_int_equal (pd_store_batch_put (batch, ITEMS, "a", 1, "a2", 2, 1), PD_OK);
    assert_int_equal (pd_store_batch_append (batch, EVENTS, "audit", "e", 1), PD_OK);
    assert_int_equal (pd_store_batch_put (batch, ITEMS, "z", 1, "z2", 2, 1), PD_OK);
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    assert_int_equal (pd_store_batch_seq (batch, 0), 1);
    pd_store_batch_destroy (&batch);
    s_assert_value (store, "a", "a2", 2);
    s_assert_value (store, "z", "z2", 2);
    pd_store_destroy (&store);
}

static void
test_unique_index (void **state)
{
    fixture_t *fx = *state;
    pd_store_t *store = s_open (fx->db);

    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_int_equal (pd_store_batch_put (batch, ITEMS, "p1", 2, "Acme", 4, PD_STORE_ABSENT),
                      PD_OK);
    assert_int_equal (pd_store_batch_index_add (batch, BY_NAME, "acme", 4, "p1", 2), PD_OK);
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    assert_int_equal (pd_store_batch_version (batch, 1), 1);
    pd_store_batch_destroy (&batch);

    //  A second record with the same name: the whole batch fails
    batch = pd_store_batch_new ();
    assert_int_equal (pd_store_batch_put (batch, ITEMS, "p2", 2, "ACME", 4, PD_STORE_ABSENT),
                      PD_OK);
    assert_int_equal (pd_store_batch_index_add (batch, BY_NAME, "acme", 4, "p2", 2), PD_OK);
    assert_int_equal (pd_store_commit (store, batch), PD_E_EXISTS);
    pd_store_batch_destroy (&batch);
    s_assert_absent (store, "p2");

    pd_store_value_t primary = {0};
    assert_int_equal (pd_store_lookup (store, BY_NAME, "acme", 4, &primary), PD_OK);
    assert_int_equal (primary.size, 2);
    assert_memory_equal (primary.data, "p1", 2);
    pd_store_value_clear (&primary);
    assert_int_equal (pd_store_lookup (store, BY_NAME, "globex", 6, &primary), PD_E_NOT_FOUND);

    //  Removing frees the name (twice is fine)
    for (int i = 0; i < 2; i++) {
        batch = pd_store_batch_new ();
        assert_int_equal (pd_store_batch_index_remove (batch, BY_NAME, "acme", 4), PD_OK);
        assert_int_equal (pd_store_commit (store, batch), PD_OK);
        pd_store_batch_destroy (&batch);
    }
    batch = pd_store_batch_new ();
    assert_int_equal (pd_store_batch_index_add (batch, BY_NAME, "acme", 4, "p2", 2), PD_OK);
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
    assert_int_equal (pd_store_lookup (store, BY_NAME, "acme", 4, &primary), PD_OK);
    assert_memory_equal (primary.data, "p2", 2);
    pd_store_value_clear (&primary);
    pd_store_destroy (&store);
}

static void
test_scan_pagination (void **state)
{
    fixture_t *fx = *state;
    pd_store_t *store = s_open (fx->db);
    pd_store_batch_t *batch = pd_store_batch_new ();
    char key[16], value[16];
    for (int i = 0; i < 25; i++) {
        snprintf (key, sizeof (key), "user/%02d", i);
        snprintf (value, sizeof (value), "v%d", i);
        assert_int_equal (pd_store_batch_put (batch, ITEMS, key, strlen (key), value,
                                              strlen (value), PD_STORE_ABSENT),
                          PD_OK);
    }
    //  Neighbours on both sides of the prefix
    assert_int_equal (pd_store_batch_put (batch, ITEMS, "user", 4, "x", 1, PD_STORE_ANY), PD_OK);
    assert_int_equal (pd_store_batch_put (batch, ITEMS, "usez", 4, "x", 1, PD_STORE_ANY), PD_OK);
    assert_int_equal (pd_store_batch_put (batch, ITEMS, "aaa", 3, "x", 1, PD_STORE_ANY), PD_OK);
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    pd_store_batch_destroy (&batch);

    //  Pages of 10 over the 25: 10, 10, 5, then nothing
    size_t sizes[] = {10, 10, 5, 0};
    char after[16] = "";
    int next = 0;
    for (size_t page = 0; page < 4; page++) {
        pd_store_item_t *items = NULL;
        size_t count = 99;
        assert_int_equal (pd_store_scan (store, ITEMS, "user/", 5, page ? after : NULL,
                                         strlen (after), 10, &items, &count),
                          PD_OK);
        assert_int_equal (count, sizes[page]);
        for (size_t i = 0; i < count; i++, next++) {
            snprintf (key, sizeof (key), "user/%02d", next);
            snprintf (value, sizeof (value), "v%d", next);
            assert_int_equal (items[i].key_size, strlen (key));
            assert_memory_equal (items[i].key, key, strlen (key));
            assert_int_equal (items[i].size, strlen (value));
            assert_memory_equal (items[i].data, value, strlen (value));
            assert_int_equal (items[i].version, 1);
            assert_int_equal (items[i].seq, 0);
        }
        if (count)
            snprintf (after, sizeof (after), "%.*s", (int)items[count - 1].key_size,
                      (char *)items[count - 1].key);
        if (count == 0)
            assert_null (items);
        pd_store_items_destroy (&items, count);
    }
    assert_int_equal (next, 25);

    //  `after` before the prefix starts at the prefix; after everything, nothing
    pd_store_item_t *items = NULL;
    size_t count = 0;
    assert_int_equal (pd_store_scan (store, ITEMS, "user/", 5, "b", 1, 3, &items, &count), PD_OK);
    assert_int_equal (count, 3);
    assert_memory_equal (items[0].key, "user/00", 7);
    pd_store_items_destroy (&items, count);
    assert_int_equal (pd_store_scan (store, ITEMS, "user/", 5, "zzz", 3, 3, &items, &count), PD_OK);
    assert_int_equal (count, 0);

    //  Empty prefix: the whole table in order
    assert_int_equal (pd_store_scan (store, ITEMS, NULL, 0, NULL, 0, 0, &items, &count), PD_OK);
    assert_int_equal (count, 28);
    assert_memory_equal (items[0].key, "aaa", 3);
    assert_memory_equal (items[1].key, "user", 4);
    assert_memory_equal (items[27].key, "usez", 4);
    pd_store_items_destroy (&items, count);

    //  An empty table
    assert_int_equal (pd_store_scan (store, BY_NAME, NULL, 0, NULL, 0, 0, &items, &count), PD_OK);
    assert_int_equal (count, 0);
    assert_null (items);
    pd_store_destroy (&store);
}

//  Another thread's commit, while the test's thread holds a snapshot
static void *
s_put_elsewhere (void *store)
{
    uint64_t version = 0;
    if (s_put (store, "k", "theirs", PD_STORE_ANY, &version) != PD_OK)
        return NULL;
    return store;
}

static void
test_read_snapshot (void **state)
{
    fixture_t *fx = *state;
    pd_store_t *store = s_open (fx->db);
    assert_int_equal (s_put (store, "k", "first", PD_STORE_ABSENT, NULL), PD_OK);

    //  Inside a snapshot, another thread's commit is not seen...
    assert_int_equal (pd_store_read_begin (store), PD_OK);
    assert_int_equal (pd_store_read_begin (store), PD_OK); //  nests
    pthread_t thread;
    void *result = NULL;
    assert_int_equal (pthread_create (&thread, NULL, s_put_elsewhere, store), 0);
    assert_int_equal (pthread_join (thread, &result), 0);
    assert_non_null (result);
    s_assert_value (store, "k", "first", 1);
    pd_store_item_t *items = NULL;
    size_t count = 0;
    assert_int_equal (pd_store_scan (store, ITEMS, "k", 1, NULL, 0, 0, &items, &count), PD_OK);
    assert_int_equal (count, 1);
    assert_int_equal (items[0].version, 1);
    pd_store_items_destroy (&items, count);
    pd_store_read_end (store); //  the inner end keeps it
    s_assert_value (store, "k", "first", 1);

    //  ...but this thread's own commit moves the snapshot on (so that a
    //  retry after a conflict reads the newer version)
    assert_int_equal (s_put (store, "k", "mine", 1, NULL), PD_E_CONFLICT);
    s_assert_value (store, "k", "theirs", 2);
    assert_int_equal (s_put (store, "k", "mine", 2, NULL), PD_OK);
    s_assert_value (store, "k", "mine", 3);
    //  One store at a time
    pd_store_t *other = s_open (fx->dir);
    assert_int_equal (pd_store_read_begin (other), PD_E_BAD_REQUEST);
    pd_store_read_end (other); //  not held: nothing
    pd_store_read_end (store);

    //  Outside, every read sees the latest commit
    assert_non_null (s_put_elsewhere (store));
    s_assert_value (store, "k", "theirs", 4);
    pd_store_destroy (&other);
    pd_store_destroy (&store);
}

static void
test_reopen_keeps_data (void **state)
{
    fixture_t *fx = *state;
    pd_store_t *store = s_open (fx->db);
    assert_int_equal (s_put (store, "k", "first", PD_STORE_ANY, NULL), PD_OK);
    assert_int_equal (s_put (store, "k", "second", PD_STORE_ANY, NULL), PD_OK);
    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_int_equal (pd_store_batch_append (batch, EVENTS, "s", "e1", 2), PD_OK);
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
    pd_store_destroy (&store);

    //  The directory is private
    struct stat st;
    assert_int_equal (stat (fx->db, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0700);

    store = s_open (fx->db);
    s_assert_value (store, "k", "second", 2);
    uint64_t version = 0;
    assert_int_equal (s_put (store, "k", "third", 2, &version), PD_OK);
    assert_int_equal (version, 3);
    assert_int_equal (pd_store_stream_last (store, EVENTS, "s"), 1);
    pd_store_destroy (&store);
}

//  Read a stream from `from`; check it holds seqs from..to with data "e<seq>"
static void
s_assert_stream (pd_store_t *store, const char *stream, uint64_t from, uint64_t to)
{
    pd_store_item_t *items = NULL;
    size_t count = 0;
    assert_int_equal (pd_store_stream_read (store, EVENTS, stream, from, 0, &items, &count), PD_OK);
    assert_int_equal (count, to >= from ? to - from + 1 : 0);
    for (size_t i = 0; i < count; i++) {
        char expected[32];
        snprintf (expected, sizeof (expected), "%s-e%zu", stream, (size_t)from + i);
        assert_int_equal (items[i].seq, from + i);
        assert_null (items[i].key);
        assert_int_equal (items[i].version, 0);
        assert_int_equal (items[i].size, strlen (expected));
        assert_memory_equal (items[i].data, expected, items[i].size);
    }
    pd_store_items_destroy (&items, count);
}

static void
test_streams (void **state)
{
    fixture_t *fx = *state;
    pd_store_t *store = s_open (fx->db);
    char data[32];
    assert_int_equal (pd_store_stream_last (store, EVENTS, "a"), 0);

    //  Five appends in separate batches, interleaved with stream "ab"
    for (uint64_t i = 1; i <= 5; i++) {
        pd_store_batch_t *batch = pd_store_batch_new ();
        snprintf (data, sizeof (data), "a-e%zu", (size_t)i);
        assert_int_equal (pd_store_batch_append (batch, EVENTS, "a", data, strlen (data)), PD_OK);
        snprintf (data, sizeof (data), "ab-e%zu", (size_t)i);
        assert_int_equal (pd_store_batch_append (batch, EVENTS, "ab", data, strlen (data)), PD_OK);
        assert_int_equal (pd_store_commit (store, batch), PD_OK);
        assert_int_equal (pd_store_batch_seq (batch, 0), i);
        assert_int_equal (pd_store_batch_seq (batch, 1), i);
        assert_int_equal (pd_store_batch_seq (batch, 2), 0);
        pd_store_batch_destroy (&batch);
    }
    //  Three in one batch, with a state change between them
    pd_store_batch_t *batch = pd_store_batch_new ();
    for (uint64_t i = 6; i <= 8; i++) {
        snprintf (data, sizeof (data), "a-e%zu", (size_t)i);
        assert_int_equal (pd_store_batch_append (batch, EVENTS, "a", data, strlen (data)), PD_OK);
        if (i == 6)
            assert_int_equal (pd_store_batch_put (batch, ITEMS, "k", 1, "v", 1, PD_STORE_ANY),
                              PD_OK);
    }
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    assert_int_equal (pd_store_batch_seq (batch, 0), 6);
    assert_int_equal (pd_store_batch_seq (batch, 1), 7);
    assert_int_equal (pd_store_batch_seq (batch, 2), 8);
    assert_int_equal (pd_store_batch_version (batch, 1), 1);
    pd_store_batch_destroy (&batch);

    assert_int_equal (pd_store_stream_last (store, EVENTS, "a"), 8);
    assert_int_equal (pd_store_stream_last (store, EVENTS, "ab"), 5);
    assert_int_equal (pd_store_stream_last (store, EVENTS, "b"), 0);
    s_assert_stream (store, "a", 1, 8);
    s_assert_stream (store, "a", 4, 8);
    s_assert_stream (store, "ab", 1, 5);
    s_assert_stream (store, "a", 9, 0);

    //  A limit cuts the page
    pd_store_item_t *items = NULL;
    size_t count = 0;
    assert_int_equal (pd_store_stream_read (store, EVENTS, "a", 2, 3, &items, &count), PD_OK);
    assert_int_equal (count, 3);
    assert_int_equal (items[0].seq, 2);
    assert_int_equal (items[2].seq, 4);
    pd_store_items_destroy (&items, count);
    pd_store_destroy (&store);
}

//  ------------------------------------------------------------------------
//  Concurrency

#define COMMITS_PER_THREAD 200

typedef struct {
    pd_store_t *store;
    int id;
    int failures;
} writer_arg_t;

static void *
s_writer_thread (void *varg)
{
    writer_arg_t *arg = varg;
    char key[32];
    for (int i = 0; i < COMMITS_PER_THREAD; i++) {
        snprintf (key, sizeof (key), "t%d/%03d", arg->id, i);
        pd_store_batch_t *batch = pd_store_batch_new ();
        if (pd_store_batch_put (batch, ITEMS, key, strlen (key), key, strlen (key),
                                PD_STORE_ABSENT) != PD_OK ||
            pd_store_commit (arg->store, batch) != PD_OK || pd_store_batch_version (batch, 0) != 1)
            arg->failures++;
        pd_store_batch_destroy (&batch);
    }
    return NULL;
}

static void
test_group_commit (void **state)
{
    fixture_t *fx = *state;
    pd_store_t *store = s_open (fx->db);
    pthread_t threads[THREADS];
    writer_arg_t args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (writer_arg_t){.store = store, .id = i};
        assert_int_equal (pthread_create (&threads[i], NULL, s_writer_thread, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join (threads[i], NULL);
        assert_int_equal (args[i].failures, 0);
    }
    pd_store_item_t *items = NULL;
    size_t count = 0;
    assert_int_equal (pd_store_scan (store, ITEMS, "t", 1, NULL, 0, 0, &items, &count), PD_OK);
    assert_int_equal (count, THREADS * COMMITS_PER_THREAD);
    pd_store_items_destroy (&items, count);

    pd_store_stats_t stats;
    pd_store_stats (store, &stats);
    assert_int_equal (stats.batches, THREADS * COMMITS_PER_THREAD);
    assert_true (stats.transactions >= 1);
    assert_true (stats.transactions < stats.batches);
    print_message ("group commit: %zu batches in %zu transactions\n", (size_t)stats.batches,
                   (size_t)stats.transactions);
    pd_store_destroy (&store);
}

#define CAS_ROUNDS 50

typedef struct {
    pd_store_t *store;
    pthread_barrier_t *barrier;
    atomic_int *wins; //  per round
    int errors;       //  unexpected statuses
} cas_arg_t;

static void *
s_cas_thread (void *varg)
{
    cas_arg_t *arg = varg;
    for (int round = 0; round < CAS_ROUNDS; round++) {
        pthread_barrier_wait (arg->barrier);
        pd_store_value_t value = {0};
        if (pd_store_get (arg->store, ITEMS, "counter", 7, &value) != PD_OK)
            arg->errors++;
        uint64_t seen = value.version;
        pd_store_value_clear (&value);
        //  Everyone has read before anyone writes
        pthread_barrier_wait (arg->barrier);
        pd_store_batch_t *batch = pd_store_batch_new ();
        pd_store_batch_put (batch, ITEMS, "counter", 7, "n", 1, seen);
        int rc = pd_store_commit (arg->store, batch);
        pd_store_batch_destroy (&batch);
        if (rc == PD_OK)
            atomic_fetch_add (&arg->wins[round], 1);
        else if (rc != PD_E_CONFLICT)
            arg->errors++;
        pthread_barrier_wait (arg->barrier);
    }
    return NULL;
}

static void
test_concurrent_cas_race (void **state)
{
    fixture_t *fx = *state;
    pd_store_t *store = s_open (fx->db);
    assert_int_equal (s_put (store, "counter", "n", PD_STORE_ABSENT, NULL), PD_OK);

    pthread_barrier_t barrier;
    pthread_barrier_init (&barrier, NULL, THREADS);
    atomic_int wins[CAS_ROUNDS];
    for (int i = 0; i < CAS_ROUNDS; i++)
        atomic_init (&wins[i], 0);
    pthread_t threads[THREADS];
    cas_arg_t args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (cas_arg_t){.store = store, .barrier = &barrier, .wins = wins};
        assert_int_equal (pthread_create (&threads[i], NULL, s_cas_thread, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join (threads[i], NULL);
        assert_int_equal (args[i].errors, 0);
    }
    pthread_barrier_destroy (&barrier);
    for (int i = 0; i < CAS_ROUNDS; i++)
        assert_int_equal (atomic_load (&wins[i]), 1);
    s_assert_value (store, "counter", "n", 1 + CAS_ROUNDS);

    pd_store_stats_t stats;
    pd_store_stats (store, &stats);
    assert_int_equal (stats.conflicts, CAS_ROUNDS * (THREADS - 1));
    pd_store_destroy (&store);
}

//  ------------------------------------------------------------------------
//  Full map

#define SMALL_MAP     (1024 * 1024)
#define BIG_VALUE     (2 * 1024 * 1024)
#define SMALL_WRITERS 4
#define SMALL_COMMITS 20

typedef struct {
    pd_store_t *store;
    int id;
    int failures;
    size_t big; //  > 0: commit one batch of this size instead
    int big_rc;
} full_arg_t;

static void *
s_full_thread (void *varg)
{
    full_arg_t *arg = varg;
    if (arg->big) {
        char *big = calloc (1, arg->big);
        pd_store_batch_t *batch = pd_store_batch_new ();
        pd_store_batch_put (batch, ITEMS, "big", 3, big, arg->big, PD_STORE_ANY);
        arg->big_rc = pd_store_commit (arg->store, batch);
        pd_store_batch_destroy (&batch);
        free (big);
        return NULL;
    }
    for (int i = 0; i < SMALL_COMMITS; i++) {
        char key[32];
        snprintf (key, sizeof (key), "small/%d/%d", arg->id, i);
        pd_store_batch_t *batch = pd_store_batch_new ();
        pd_store_batch_put (batch, ITEMS, key, strlen (key), "x", 1, PD_STORE_ANY);
        if (pd_store_commit (arg->store, batch) != PD_OK)
            arg->failures++;
        pd_store_batch_destroy (&batch);
    }
    return NULL;
}

static void
test_map_full (void **state)
{
    fixture_t *fx = *state;
    pd_store_config_t config = {.tables = s_tables, .map_size = SMALL_MAP};
    pd_store_t *store = pd_store_new (fx->db, &config);
    assert_non_null (store);
    assert_int_equal (s_put (store, "before", "kept", PD_STORE_ANY, NULL), PD_OK);

    //  One huge value
    char *big = calloc (1, BIG_VALUE);
    assert_non_null (big);
    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_int_equal (pd_store_batch_put (batch, ITEMS, "a-first", 7, "x", 1, PD_STORE_ANY), PD_OK);
    assert_int_equal (pd_store_batch_put (batch, ITEMS, "big", 3, big, BIG_VALUE, PD_STORE_ANY),
                      PD_OK);
    assert_int_equal (pd_store_commit (store, batch), PD_E_STORAGE_FULL);
    assert_int_equal (pd_store_batch_version (batch, 0), 0);
    pd_store_batch_destroy (&batch);
    free (big);

    //  Many small values that add up to too much
    batch = pd_store_batch_new ();
    char key[32], value[4096];
    memset (value, 'v', sizeof (value));
    for (int i = 0; i < 512; i++) {
        snprintf (key, sizeof (key), "many/%03d", i);
        assert_int_equal (pd_store_batch_put (batch, ITEMS, key, strlen (key), value,
                                              sizeof (value), PD_STORE_ANY),
                          PD_OK);
    }
    assert_int_equal (pd_store_commit (store, batch), PD_E_STORAGE_FULL);
    pd_store_batch_destroy (&batch);

    //  Nothing of them was kept; what was there is intact; small writes work
    s_assert_absent (store, "a-first");
    s_assert_absent (store, "big");
    s_assert_absent (store, "many/000");
    s_assert_value (store, "before", "kept", 1);
    assert_int_equal (s_put (store, "after", "works", PD_STORE_ANY, NULL), PD_OK);
    s_assert_value (store, "after", "works", 1);

    //  A huge batch among small ones fails alone
    pthread_t threads[SMALL_WRITERS + 1];
    full_arg_t args[SMALL_WRITERS + 1];
    for (int i = 0; i <= SMALL_WRITERS; i++) {
        args[i] = (full_arg_t){.store = store, .id = i, .big = i == 0 ? BIG_VALUE : 0};
        assert_int_equal (pthread_create (&threads[i], NULL, s_full_thread, &args[i]), 0);
    }
    for (int i = 0; i <= SMALL_WRITERS; i++) {
        pthread_join (threads[i], NULL);
        assert_int_equal (args[i].failures, 0);
    }
    assert_int_equal (args[0].big_rc, PD_E_STORAGE_FULL);
    pd_store_item_t *items = NULL;
    size_t count = 0;
    assert_int_equal (pd_store_scan (store, ITEMS, "small/", 6, NULL, 0, 0, &items, &count), PD_OK);
    assert_int_equal (count, SMALL_WRITERS * SMALL_COMMITS);
    pd_store_items_destroy (&items, count);
    s_assert_absent (store, "big");
    pd_store_destroy (&store);

    //  And after a reopen
    store = pd_store_new (fx->db, &config);
    assert_non_null (store);
    s_assert_value (store, "before", "kept", 1);
    s_assert_value (store, "after", "works", 1);
    pd_store_destroy (&store);
}

//  ------------------------------------------------------------------------
//  Schema version and migration

typedef struct {
    int calls;
    uint32_t from;
    uint32_t to;
    int result; //  what the hook returns
} migration_t;

static int
s_migrate (pd_store_t *store, uint32_t from, uint32_t to, void *varg)
{
    migration_t *m = varg;
    m->calls++;
    m->from = from;
    m->to = to;
    if (m->result != 0)
        return m->result;
    //  A migration uses the normal API: rewrite every record
    pd_store_item_t *items = NULL;
    size_t count = 0;
    if (pd_store_scan (store, ITEMS, NULL, 0, NULL, 0, 0, &items, &count) != PD_OK)
        return -1;
    pd_store_batch_t *batch = pd_store_batch_new ();
    for (size_t i = 0; i < count; i++)
        pd_store_batch_put (batch, ITEMS, items[i].key, items[i].key_size, "migrated", 8,
                            items[i].version);
    int rc = pd_store_commit (store, batch);
    pd_store_batch_destroy (&batch);
    pd_store_items_destroy (&items, count);
    return rc == PD_OK ? 0 : -1;
}

static pd_store_t *
s_open_schema (const char *path, uint32_t version, migration_t *m)
{
    pd_store_config_t config = {
        .tables = s_tables, .schema_version = version, .migrate = s_migrate, .migrate_arg = m};
    return pd_store_new (path, &config);
}

static void
test_schema_migration (void **state)
{
    fixture_t *fx = *state;
    migration_t m = {0};

    //  A new store records its version without migrating
    pd_store_t *store = s_open_schema (fx->db, 1, &m);
    assert_non_null (store);
    assert_int_equal (m.calls, 0);
    assert_int_equal (pd_store_schema_version (store), 1);
    assert_int_equal (s_put (store, "rec", "old", PD_STORE_ANY, NULL), PD_OK);
    pd_store_destroy (&store);

    //  A newer layout: the hook runs once, with (old, new)
    store = s_open_schema (fx->db, 2, &m);
    assert_non_null (store);
    assert_int_equal (m.calls, 1);
    assert_int_equal (m.from, 1);
    assert_int_equal (m.to, 2);
    assert_int_equal (pd_store_schema_version (store), 2);
    s_assert_value (store, "rec", "migrated", 2);
    pd_store_destroy (&store);

    //  Not again
    store = s_open_schema (fx->db, 2, &m);
    assert_non_null (store);
    assert_int_equal (m.calls, 1);
    pd_store_destroy (&store);

    //  A failing migration fails the open and records nothing
    m = (migration_t){.result = -1};
    assert_null (s_open_schema (fx->db, 3, &m));
    assert_int_equal (m.calls, 1);
    m = (migration_t){0};
    store = s_open_schema (fx->db, 2, &m);
    assert_non_null (store);
    assert_int_equal (pd_store_schema_version (store), 2);
    assert_int_equal (m.calls, 0);
    pd_store_destroy (&store);

    //  A layout newer than the code is refused; no expectation opens anything
    assert_null (s_open_schema (fx->db, 1, &m));
    store = s_open_schema (fx->db, 0, &m);
    assert_non_null (store);
    assert_int_equal (pd_store_schema_version (store), 2);
    pd_store_destroy (&store);
    assert_int_equal (m.calls, 0);

    //  Data written before any version was set migrates from 0
    char other[PATH_LEN + 8];
    snprintf (other, sizeof (other), "%s/other", fx->dir);
    store = s_open (other);
    assert_int_equal (pd_store_schema_version (store), 0);
    assert_int_equal (s_put (store, "rec", "old", PD_STORE_ANY, NULL), PD_OK);
    pd_store_destroy (&store);
    store = s_open_schema (other, 1, &m);
    assert_non_null (store);
    assert_int_equal (m.calls, 1);
    assert_int_equal (m.from, 0);
    assert_int_equal (m.to, 1);
    pd_store_destroy (&store);
}

static void
test_backup (void **state)
{
    fixture_t *fx = *state;
    pd_store_t *store = s_open (fx->db);
    for (int i = 0; i < 50; i++) {
        char key[16];
        snprintf (key, sizeof (key), "k%02d", i);
        assert_int_equal (s_put (store, key, "value", PD_STORE_ANY, NULL), PD_OK);
    }
    assert_int_equal (s_put (store, "k00", "changed", PD_STORE_ANY, NULL), PD_OK);

    char copy[PATH_LEN + 8];
    snprintf (copy, sizeof (copy), "%s/backup", fx->dir);
    assert_int_equal (mkdir (copy, 0700), 0);
    assert_int_equal (pd_store_backup (store, copy), PD_OK);
    //  Not over an existing backup, not into a missing directory
    assert_int_equal (pd_store_backup (store, copy), PD_E_EXISTS);
    char missing[PATH_LEN + 16];
    snprintf (missing, sizeof (missing), "%s/missing", fx->dir);
    assert_int_equal (pd_store_backup (store, missing), PD_E_BAD_REQUEST);
    pd_store_destroy (&store);

    char file[PATH_LEN + 32];
    snprintf (file, sizeof (file), "%s/data.mdb", copy);
    struct stat st;
    assert_int_equal (stat (file, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);

    store = s_open (copy);
    s_assert_value (store, "k00", "changed", 2);
    s_assert_value (store, "k49", "value", 1);
    pd_store_item_t *items = NULL;
    size_t count = 0;
    assert_int_equal (pd_store_scan (store, ITEMS, "k", 1, NULL, 0, 0, &items, &count), PD_OK);
    assert_int_equal (count, 50);
    pd_store_items_destroy (&items, count);
    pd_store_destroy (&store);
}

static void
test_bad_arguments (void **state)
{
    fixture_t *fx = *state;
    pd_store_t *store = s_open (fx->db);
    char long_key[PD_STORE_MAX_KEY + 1];
    memset (long_key, 'k', sizeof (long_key));
    pd_store_value_t value = {0};

    //  Reads
    assert_int_equal (pd_store_get (store, "nope", "k", 1, &value), PD_E_BAD_REQUEST);
    assert_int_equal (pd_store_get (store, NULL, "k", 1, &value), PD_E_BAD_REQUEST);
    assert_int_equal (pd_store_get (store, "_meta", "schema_version", 14, &value),
                      PD_E_BAD_REQUEST);
    assert_int_equal (pd_store_get (store, ITEMS, "k", 0, &value), PD_E_BAD_REQUEST);
    assert_int_equal (pd_store_get (store, ITEMS, NULL, 1, &value), PD_E_BAD_REQUEST);
    assert_int_equal (pd_store_get (store, ITEMS, long_key, sizeof (long_key), &value),
                      PD_E_BAD_REQUEST);
    assert_int_equal (pd_store_lookup (store, "nope", "k", 1, &value), PD_E_BAD_REQUEST);
    pd_store_item_t *items = NULL;
    size_t count = 0;
    assert_int_equal (pd_store_scan (store, "nope", NULL, 0, NULL, 0, 0, &items, &count),
                      PD_E_BAD_REQUEST);
    assert_int_equal (
        pd_store_scan (store, ITEMS, long_key, sizeof (long_key), NULL, 0, 0, &items, &count),
        PD_E_BAD_REQUEST);
    assert_int_equal (pd_store_stream_read (store, EVENTS, "s", 0, 0, &items, &count),
                      PD_E_BAD_REQUEST);
    assert_int_equal (pd_store_stream_read (store, EVENTS, "", 1, 0, &items, &count),
                      PD_E_BAD_REQUEST);
    assert_int_equal (pd_store_stream_read (store, "nope", "s", 1, 0, &items, &count),
                      PD_E_BAD_REQUEST);
    assert_null (items);
    assert_int_equal (count, 0);

    //  Adds refuse bad arguments, and the batch then fails as a whole
    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_int_equal (pd_store_batch_put (batch, ITEMS, "ok", 2, "v", 1, PD_STORE_ANY), PD_OK);
    assert_int_equal (
        pd_store_batch_put (batch, ITEMS, long_key, sizeof (long_key), "v", 1, PD_STORE_ANY),
        PD_E_BAD_REQUEST);
    assert_int_equal (pd_store_batch_put (batch, ITEMS, "", 0, "v", 1, PD_STORE_ANY),
                      PD_E_BAD_REQUEST);
    assert_int_equal (pd_store_batch_put (batch, ITEMS, "k", 1, NULL, 5, PD_STORE_ANY),
                      PD_E_BAD_REQUEST);
    assert_int_equal (pd_store_batch_delete (batch, ITEMS, NULL, 0, PD_STORE_ANY),
                      PD_E_BAD_REQUEST);
    assert_int_equal (pd_store_batch_index_add (batch, BY_NAME, "n", 1, "", 0), PD_E_BAD_REQUEST);
    assert_int_equal (pd_store_batch_index_remove (batch, BY_NAME, long_key, sizeof (long_key)),
                      PD_E_BAD_REQUEST);
    char long_stream[70];
    memset (long_stream, 's', sizeof (long_stream) - 1);
    long_stream[sizeof (long_stream) - 1] = 0;
    assert_int_equal (pd_store_batch_append (batch, EVENTS, long_stream, "e", 1), PD_E_BAD_REQUEST);
    assert_int_equal (pd_store_batch_append (batch, EVENTS, "", "e", 1), PD_E_BAD_REQUEST);
    assert_int_equal (pd_store_batch_size (batch), 1);
    assert_int_equal (pd_store_commit (store, batch), PD_E_BAD_REQUEST);
    pd_store_batch_destroy (&batch);
    s_assert_absent (store, "ok");

    //  Unknown tables are found at commit, before anything is written
    batch = pd_store_batch_new ();
    assert_int_equal (pd_store_batch_put (batch, ITEMS, "ok", 2, "v", 1, PD_STORE_ANY), PD_OK);
    assert_int_equal (pd_store_batch_put (batch, "nope", "k", 1, "v", 1, PD_STORE_ANY), PD_OK);
    assert_int_equal (pd_store_commit (store, batch), PD_E_BAD_REQUEST);
    pd_store_batch_destroy (&batch);
    batch = pd_store_batch_new ();
    assert_int_equal (
        pd_store_batch_put (batch, "_meta", "schema_version", 14, "v", 1, PD_STORE_ANY), PD_OK);
    assert_int_equal (pd_store_commit (store, batch), PD_E_BAD_REQUEST);
    pd_store_batch_destroy (&batch);
    s_assert_absent (store, "ok");

    //  The longest key is fine
    char max_key[PD_STORE_MAX_KEY];
    memset (max_key, 'm', sizeof (max_key));
    batch = pd_store_batch_new ();
    assert_int_equal (
        pd_store_batch_put (batch, ITEMS, max_key, sizeof (max_key), "v", 1, PD_STORE_ANY), PD_OK);
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
    assert_int_equal (pd_store_get (store, ITEMS, max_key, sizeof (max_key), &value), PD_OK);
    pd_store_value_clear (&value);
    pd_store_destroy (&store);

    //  Bad configurations do not open
    static const char *const reserved[] = {"_meta", NULL};
    static const char *const twice[] = {"a", "a", NULL};
    pd_store_config_t config = {.tables = reserved};
    assert_null (pd_store_new (fx->db, &config));
    config.tables = twice;
    assert_null (pd_store_new (fx->db, &config));
    config.tables = NULL;
    assert_null (pd_store_new (fx->db, &config));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_usage_example, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_get_put_delete, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_read_snapshot, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_versions_increment, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_compare_and_set, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_failed_batch_changes_nothing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_unique_index, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_scan_pagination, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_reopen_keeps_data, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_streams, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_group_commit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_concurrent_cas_race, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_map_full, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_schema_migration, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_backup, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_arguments, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
