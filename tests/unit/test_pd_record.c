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

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_sweep_deletes_only_the_expired, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_page_filters_and_continues, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
