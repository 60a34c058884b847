/*  test_pd_record - schema records in the store: get/put, pages, sweeps */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pd_messages.h"
#include "pd_record.h"
#include "pd_test_dir.h"

typedef struct {
    char dir[64];
    pd_store_t *store;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fx = calloc (1, sizeof (fixture_t));
    if (pd_test_dir_make ("test_pd_record", fx->dir, sizeof (fx->dir)) != 0)
        return -1;
    pd_store_config_t config = {pd_store_table_names, 0, 0, NULL, NULL};
    fx->store = pd_store_new (fx->dir, &config);
    *state = fx;
    return fx->store ? 0 : -1;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = *state;
    pd_store_destroy (&fx->store);
    pd_test_dir_remove (fx->dir);
    free (fx);
    return 0;
}

//  Sessions s00..s(n-1); odd ones expired at `now`
static void
s_put_sessions (pd_store_t *store, int count, int64_t now)
{
    pd_store_batch_t *batch = pd_store_batch_new ();
    uint8_t hash[32] = {0};
    for (int i = 0; i < count; i++) {
        char id[16];
        snprintf (id, sizeof (id), "s%02d", i);
        pd_session_record_t record = {0};
        record.id = id;
        record.hash = (pd_bin_t){hash, sizeof (hash)};
        record.csrf_hash = (pd_bin_t){hash, sizeof (hash)};
        record.user_id = "usr_1";
        record.partner_id = i < count / 2 ? "prt_a" : "prt_b";
        record.role = "partner-user";
        record.expires_at = i % 2 ? now - 1 : now + 60000;
        PD_MARK (&record, session_record, expires_at);
        assert_int_equal (pd_record_put (batch, &pd_table_sessions, id, &record, PD_STORE_ABSENT),
                          PD_OK);
    }
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
}

static bool
s_expired (const void *record, int64_t now, void *arg)
{
    return ((const pd_session_record_t *)record)->expires_at <= now;
}

static bool
s_of_partner (const void *record, void *partner_id)
{
    return strcmp (((const pd_session_record_t *)record)->partner_id, partner_id) == 0;
}

static void
test_sweep_deletes_only_the_expired (void **state)
{
    fixture_t *fx = *state;
    int64_t now = 1000000;
    s_put_sessions (fx->store, 20, now);

    //  Chunks of 6: the cursor walks the table, then wraps to the start
    char *cursor = NULL;
    int deleted = 0, rounds = 0;
    do {
        int rc = pd_record_sweep (fx->store, &pd_table_sessions, s_expired, NULL, now, &cursor, 6);
        assert_true (rc >= 0);
        deleted += rc;
        rounds++;
    } while (cursor && rounds < 10);
    assert_null (cursor);
    assert_int_equal (deleted, 10);
    assert_int_equal (rounds, 4); //  6 + 6 + 6 + 2

    //  The live ones remain, the expired are gone
    for (int i = 0; i < 20; i++) {
        char id[16];
        snprintf (id, sizeof (id), "s%02d", i);
        pd_session_record_t record = {0};
        int rc = pd_record_get (fx->store, &pd_table_sessions, id, &record, NULL);
        assert_int_equal (rc, i % 2 ? PD_E_NOT_FOUND : PD_OK);
        pd_schema_clear (&pd_session_record_schema, &record);
    }
    //  A sweep with nothing expired deletes nothing
    assert_int_equal (
        pd_record_sweep (fx->store, &pd_table_sessions, s_expired, NULL, now, &cursor, 100), 0);
    free (cursor);
}

static void
test_page_filters_and_continues (void **state)
{
    fixture_t *fx = *state;
    s_put_sessions (fx->store, 20, 1000000);
    //  prt_b has s10..s19: pages of 4 visit each exactly once
    char *cursor = NULL;
    int seen = 0, pages = 0;
    do {
        pd_list_t list = {0};
        char *next = NULL;
        assert_int_equal (pd_record_page (fx->store, &pd_table_sessions, cursor, 4, s_of_partner,
                                          "prt_b", &list, &next),
                          PD_OK);
        pd_session_record_t *items = list.items;
        for (size_t i = 0; i < list.size; i++) {
            char expected[16];
            snprintf (expected, sizeof (expected), "s%02d", 10 + seen++);
            assert_string_equal (items[i].id, expected);
            pd_schema_clear (&pd_session_record_schema, &items[i]);
        }
        free (list.items);
        free (cursor);
        cursor = next;
        pages++;
    } while (cursor);
    assert_int_equal (seen, 10);
    assert_int_equal (pages, 3);
}

//  ------------------------------------------------------------------------
//  Owner indexes

//  Users u00..u(n-1) of prt_a and, every third, of prt_b; indexed
static void
s_put_users (pd_store_t *store, int count, bool indexed)
{
    pd_store_batch_t *batch = pd_store_batch_new ();
    for (int i = 0; i < count; i++) {
        char id[16], email[32];
        snprintf (id, sizeof (id), "u%02d", i);
        snprintf (email, sizeof (email), "u%02d@acme.example", i);
        pd_user_t user = {0};
        user.id = id;
        user.partner_id = i % 3 == 0 ? "prt_b" : "prt_a";
        user.email = email;
        user.role = "partner-user";
        assert_int_equal (pd_record_put (batch, &pd_table_users, id, &user, PD_STORE_ABSENT),
                          PD_OK);
        if (indexed)
            assert_int_equal (
                pd_record_index_add (batch, &pd_index_users_by_partner, user.partner_id, id),
                PD_OK);
    }
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
}

//  Every page of `owner`'s users, `limit` at a time: ids joined by ","
static void
s_pages_of (pd_store_t *store, const char *owner, size_t limit, char *ids, size_t size, int *pages)
{
    *ids = 0;
    *pages = 0;
    char *cursor = NULL;
    do {
        pd_list_t list = {0};
        char *next = NULL;
        assert_int_equal (pd_record_page_of (store, &pd_index_users_by_partner, owner, cursor,
                                             limit, NULL, NULL, &list, &next),
                          PD_OK);
        (*pages)++;
        const pd_user_t *users = list.items;
        for (size_t i = 0; i < list.size; i++) {
            assert_string_equal (users[i].partner_id, owner);
            assert_true (users[i].version >= 1);
            snprintf (ids + strlen (ids), size - strlen (ids), "%s%s", *ids ? "," : "",
                      users[i].id);
            pd_schema_clear (&pd_user_schema, (void *)&users[i]);
        }
        free (list.items);
        free (cursor);
        cursor = next;
    } while (cursor);
}

static void
test_owner_index_pages (void **state)
{
    fixture_t *fx = *state;
    s_put_users (fx->store, 10, true);
    char ids[256];
    int pages = 0;
    s_pages_of (fx->store, "prt_a", 2, ids, sizeof (ids), &pages);
    assert_string_equal (ids, "u01,u02,u04,u05,u07,u08");
    assert_int_equal (pages, 3); //  a full last page tells no more remain
    s_pages_of (fx->store, "prt_b", 10, ids, sizeof (ids), &pages);
    assert_string_equal (ids, "u00,u03,u06,u09");
    assert_int_equal (pages, 1);
    s_pages_of (fx->store, "prt_none", 10, ids, sizeof (ids), &pages);
    assert_string_equal (ids, "");
    //  An owner whose id is a prefix of another's sees only its own
    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_int_equal (pd_record_index_add (batch, &pd_index_users_by_partner, "prt_a2", "u01"),
                      PD_OK);
    //  An entry whose record is gone is skipped
    assert_int_equal (pd_record_index_add (batch, &pd_index_users_by_partner, "prt_b", "u99"),
                      PD_OK);
    assert_int_equal (pd_store_commit (fx->store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
    s_pages_of (fx->store, "prt_b", 3, ids, sizeof (ids), &pages);
    assert_string_equal (ids, "u00,u03,u06,u09");
    s_pages_of (fx->store, "prt_a", 100, ids, sizeof (ids), &pages);
    assert_string_equal (ids, "u01,u02,u04,u05,u07,u08");
    //  Bad owners and keys are refused
    pd_list_t list = {0};
    char *next = NULL;
    assert_int_equal (pd_record_page_of (fx->store, &pd_index_users_by_partner, "", NULL, 5, NULL,
                                         NULL, &list, &next),
                      PD_E_BAD_REQUEST);
    batch = pd_store_batch_new ();
    assert_int_equal (pd_record_index_add (batch, &pd_index_users_by_partner, "prt_a", ""),
                      PD_E_BAD_REQUEST);
    pd_store_batch_destroy (&batch);
}

//  Every declared index names a STR field of its table's records
static void
test_owner_indexes_declared (void **state)
{
    (void)state;
    size_t count = 0;
    for (size_t i = 0; pd_owner_indexes[i]; i++, count++) {
        const pd_owner_index_t *index = pd_owner_indexes[i];
        assert_non_null (index->table->schema);
        assert_null (index->index->schema);
        const pd_field_t *field = pd_schema_field (index->table->schema, index->owner_field, NULL);
        assert_non_null (field);
        assert_int_equal (field->type, PD_T_STR);
        assert_true (index->since >= 2 && index->since <= PD_STORE_SCHEMA_VERSION);
    }
    assert_int_equal (count, 5);
}

//  A store of layout version 1 (no owner index) opened at the current one:
//  the migration builds every index from the records
static void
test_migration_builds_owner_indexes (void **state)
{
    fixture_t *fx = *state;
    pd_store_destroy (&fx->store);
    char dir[sizeof (fx->dir) + 8];
    snprintf (dir, sizeof (dir), "%s/v1", fx->dir);
    pd_store_config_t v1 = {pd_store_table_names, 0, 1, NULL, NULL};
    pd_store_t *store = pd_store_new (dir, &v1);
    assert_non_null (store);
    s_put_users (store, 7, false);
    pd_store_batch_t *batch = pd_store_batch_new ();
    for (int i = 0; i < 25; i++) {
        char id[32], site[32];
        snprintf (id, sizeof (id), "apl_%02d", i);
        snprintf (site, sizeof (site), "sit_%s", i % 2 ? "odd" : "even");
        pd_appliance_info_t appliance = {0};
        appliance.id = id;
        appliance.site_id = site;
        appliance.partner_id = "prt_1";
        appliance.status = "active";
        appliance.mac = "02:00:00:00:00:01";
        assert_int_equal (
            pd_record_put (batch, &pd_table_appliances, id, &appliance, PD_STORE_ABSENT), PD_OK);
    }
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
    pd_store_destroy (&store);

    pd_store_config_t now = {pd_store_table_names, 0, PD_STORE_SCHEMA_VERSION, pd_record_migrate,
                             (void *)pd_owner_indexes};
    store = pd_store_new (dir, &now);
    assert_non_null (store);
    assert_int_equal (pd_store_schema_version (store), PD_STORE_SCHEMA_VERSION);
    pd_store_item_t *items = NULL;
    size_t count = 0;
    assert_int_equal (pd_store_scan (store, pd_table_appliances_by_site.name, "sit_odd/", 8, NULL,
                                     0, 0, &items, &count),
                      PD_OK);
    assert_int_equal (count, 12);
    assert_memory_equal (items[0].key, "sit_odd/apl_01", items[0].key_size);
    pd_store_items_destroy (&items, count);
    char ids[256];
    int pages = 0;
    s_pages_of (store, "prt_b", 2, ids, sizeof (ids), &pages);
    assert_string_equal (ids, "u00,u03,u06");
    pd_store_destroy (&store);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_sweep_deletes_only_the_expired, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_page_filters_and_continues, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_owner_index_pages, s_setup, s_teardown),
        cmocka_unit_test (test_owner_indexes_declared),
        cmocka_unit_test_setup_teardown (test_migration_builds_owner_indexes, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
