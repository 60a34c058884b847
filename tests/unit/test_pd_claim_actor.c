/*  test_pd_claim_actor - the claim actor's store migration

    (Claims, codes, sites and appliances are exercised through real
    partnerd processes: test_provisioning_http, test_appliance_link,
    test_walkthrough.) A store written at layout version 1 has no index of
    each site's appliances; opened at version 2 the migration builds it
    from the appliance records, so that sites show the appliances they had.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_claim_actor.h"
#include "pd_messages.h"
#include "pd_record.h"
#include "pd_test_dir.h"

#define S_APPLIANCES 25 //  appliances in the version 1 store

static void
test_version_1_store_gets_its_site_index (void **state)
{
    char dir[64];
    assert_int_equal (pd_test_dir_make ("test_pd_claim_actor", dir, sizeof (dir)), 0);

    //  Version 1: appliances of two sites, no index
    pd_store_config_t v1 = {pd_store_table_names, 0, 1, NULL, NULL};
    pd_store_t *store = pd_store_new (dir, &v1);
    assert_non_null (store);
    pd_store_batch_t *batch = pd_store_batch_new ();
    for (int i = 0; i < S_APPLIANCES; i++) {
        char id[32], site[32];
        snprintf (id, sizeof (id), "apl_%02d", i);
        snprintf (site, sizeof (site), "sit_%s", i % 2 ? "odd" : "even");
        pd_appliance_info_t appliance = {0};
        appliance.id = id;
        appliance.site_id = site;
        appliance.partner_id = "prt_1";
        appliance.status = "active";
        appliance.mac = "02:00:00:00:00:01";
        pd_schema_mark_all (&pd_appliance_info_schema, &appliance);
        assert_int_equal (
            pd_record_put (batch, &pd_table_appliances, id, &appliance, PD_STORE_ABSENT), PD_OK);
    }
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
    pd_store_destroy (&store);

    //  Opened at version 2: the migration indexes every appliance by site
    pd_store_config_t v2 = {pd_store_table_names, 0, 2, pd_claim_actor_migrate, NULL};
    store = pd_store_new (dir, &v2);
    assert_non_null (store);
    assert_int_equal (pd_store_schema_version (store), 2);
    pd_store_item_t *items = NULL;
    size_t count = 0;
    assert_int_equal (
        pd_store_scan (store, "appliances_by_site", "sit_odd/", 8, NULL, 0, 0, &items, &count),
        PD_OK);
    assert_int_equal (count, S_APPLIANCES / 2);
    assert_memory_equal (items[0].key, "sit_odd/apl_01", items[0].key_size);
    pd_store_items_destroy (&items, count);
    assert_int_equal (
        pd_store_scan (store, "appliances_by_site", "", 0, NULL, 0, 0, &items, &count), PD_OK);
    assert_int_equal (count, S_APPLIANCES);
    pd_store_items_destroy (&items, count);
    pd_store_destroy (&store);
    pd_test_dir_remove (dir);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_version_1_store_gets_its_site_index),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
