/*  test_partners_http - partner administration through a real partnerd

    One all-in-one partnerd process on loopback ports with a fresh data
    directory; every request is real HTTP through libcurl and CivetWeb, the
    broker, the actors and LMDB.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pd_testutil.h"

typedef struct {
    char *dir;
    pd_proc_t *server;
    char base[96]; //  http://127.0.0.1:PORT
    char *admin_key;
} s_fixture_t;

static s_fixture_t s_fx;

static void
s_url (char *buf, size_t size, const char *path)
{
    snprintf (buf, size, "%s%s", s_fx.base, path);
}

static long
s_call (const char *method, const char *path, const char *key, const char *body,
        pd_test_http_t *response)
{
    char url[512];
    s_url (url, sizeof (url), path);
    assert_int_equal (pd_test_http (method, url, key, body, NULL, response), 0);
    return response->status;
}

//  Create a partner named `name`; its id and key are copied out
static void
s_create_partner (const char *name, char *id, char *key)
{
    char body[512];
    snprintf (body, sizeof (body), "{\"name\":\"%s\",\"contact_email\":\"ops@partner.example\"}",
              name);
    pd_test_http_t response;
    assert_int_equal (s_call ("POST", "/api/partners", s_fx.admin_key, body, &response), 201);
    snprintf (id, 64, "%s", pd_json_str (&response, "id"));
    snprintf (key, 128, "%s", pd_json_str (&response, "api_key"));
    pd_test_http_clear (&response);
}

static void
s_assert_problem (const pd_test_http_t *response, long status, const char *code)
{
    assert_int_equal (response->status, status);
    assert_string_equal (response->content_type, "application/problem+json");
    assert_non_null (response->json);
    assert_string_equal (pd_json_str (response, "code"), code);
    assert_int_equal (pd_json_int (response, "status"), status);
    assert_non_null (pd_json_str (response, "title"));
    assert_non_null (pd_json_str (response, "type"));
}

static size_t
s_partner_count (void)
{
    pd_test_http_t response;
    assert_int_equal (s_call ("GET", "/api/partners?limit=200", s_fx.admin_key, NULL, &response),
                      200);
    size_t count = json_array_size (json_object_get (response.json, "items"));
    pd_test_http_clear (&response);
    return count;
}

static int
s_setup (void **state)
{
    s_fx.dir = pd_test_tmpdir ();
    char http[64];
    snprintf (http, sizeof (http), "127.0.0.1:%d", pd_test_free_port ());
    snprintf (s_fx.base, sizeof (s_fx.base), "http://%s", http);
    const char *args[] = {"--data", s_fx.dir, "--http", http, NULL};
    s_fx.server = pd_proc_start (args, 20000);
    if (!s_fx.server)
        return -1;
    char path[512];
    snprintf (path, sizeof (path), "%s/admin.key", s_fx.dir);
    s_fx.admin_key = pd_test_read_line (path);
    return s_fx.admin_key ? 0 : -1;
}

static int
s_teardown (void **state)
{
    //  A clean stop exits 0: under the sanitizers that also means no leaks
    int status = pd_proc_stop (&s_fx.server, SIGTERM);
    pd_test_rmdir (s_fx.dir);
    free (s_fx.dir);
    free (s_fx.admin_key);
    return status == 0 ? 0 : -1;
}

//  --------------------------------------------------------------------------

static void
test_create_partner_and_use_its_key (void **state)
{
    //  Platform staff create a partner; its key is shown once
    pd_test_http_t created;
    assert_int_equal (s_call ("POST", "/api/partners", s_fx.admin_key,
                              "{\"name\":\"Acme MSP\",\"contact_email\":\"ops@acme.example\","
                              "\"contact_name\":\"Ada\",\"branding\":{\"display_name\":\"Acme\","
                              "\"primary_color\":\"#12ab34\"}}",
                              &created),
                      201);
    assert_string_equal (created.content_type, "application/json");
    const char *id = pd_json_str (&created, "id");
    const char *key = pd_json_str (&created, "api_key");
    assert_non_null (id);
    assert_non_null (key);
    assert_memory_equal (key, "pdp_", 4);
    assert_int_equal (pd_json_int (&created, "revenue_share_percent"), 40);
    assert_string_equal (pd_json_str (&created, "status"), "active");
    assert_memory_equal (pd_json_str (&created, "api_key_prefix"), key, 12);
    assert_null (json_object_get (created.json, "hash"));

    //  The partner uses its key on /api/partners/me
    pd_test_http_t me;
    assert_int_equal (s_call ("GET", "/api/partners/me", key, NULL, &me), 200);
    assert_string_equal (pd_json_str (&me, "id"), id);
    assert_string_equal (pd_json_str (&me, "name"), "Acme MSP");
    assert_string_equal (json_string_value (json_object_get (json_object_get (me.json, "branding"),
                                                             "primary_color")),
                         "#12ab34");
    assert_null (json_object_get (me.json, "api_key")); //  shown once only
    pd_test_http_clear (&me);

    //  Admins read it by id
    char path[256];
    snprintf (path, sizeof (path), "/api/partners/%s", id);
    pd_test_http_t got;
    assert_int_equal (s_call ("GET", path, s_fx.admin_key, NULL, &got), 200);
    assert_string_equal (pd_json_str (&got, "contact_name"), "Ada");
    assert_int_equal (pd_json_int (&got, "version"), 1);
    pd_test_http_clear (&got);
    pd_test_http_clear (&created);
}

static void
test_regenerate_revokes_old_key (void **state)
{
    char id[64], old_key[128];
    s_create_partner ("Regen", id, old_key);
    char path[256];
    snprintf (path, sizeof (path), "/api/partners/%s/regenerate-key", id);
    pd_test_http_t regen;
    assert_int_equal (s_call ("POST", path, s_fx.admin_key, NULL, &regen), 200);
    const char *new_key = pd_json_str (&regen, "api_key");
    assert_non_null (new_key);
    assert_string_not_equal (new_key, old_key);

    pd_test_http_t me;
    s_call ("GET", "/api/partners/me", old_key, NULL, &me);
    s_assert_problem (&me, 401, "unauthorized");
    pd_test_http_clear (&me);
    assert_int_equal (s_call ("GET", "/api/partners/me", new_key, NULL, &me), 200);
    assert_string_equal (pd_json_str (&me, "id"), id);
    assert_string_equal (pd_json_str (&me, "api_key_prefix"),
                         pd_json_str (&regen, "api_key_prefix"));
    pd_test_http_clear (&me);
    pd_test_http_clear (&regen);
}

static void
test_admin_routes_refuse_partner_and_missing_keys (void **state)
{
    char id[64], key[128];
    s_create_partner ("Nosy", id, key);
    pd_test_http_t response;
    s_call ("GET", "/api/partners", key, NULL, &response);
    s_assert_problem (&response, 403, "forbidden");
    pd_test_http_clear (&response);
    s_call ("POST", "/api/partners", key, "{\"name\":\"X\",\"contact_email\":\"a@b.example\"}",
            &response);
    s_assert_problem (&response, 403, "forbidden");
    pd_test_http_clear (&response);
    s_call ("GET", "/api/partners", NULL, NULL, &response);
    s_assert_problem (&response, 401, "unauthorized");
    pd_test_http_clear (&response);
    //  A well-formed key nobody issued, and garbage
    char forged[128];
    snprintf (forged, sizeof (forged), "%s", key);
    forged[20] = forged[20] == 'a' ? 'b' : 'a';
    s_call ("GET", "/api/partners/me", forged, NULL, &response);
    s_assert_problem (&response, 401, "unauthorized");
    pd_test_http_clear (&response);
    s_call ("GET", "/api/partners/me", "not-a-key", NULL, &response);
    s_assert_problem (&response, 401, "unauthorized");
    pd_test_http_clear (&response);
    //  Admins have no partner identity
    s_call ("GET", "/api/partners/me", s_fx.admin_key, NULL, &response);
    s_assert_problem (&response, 403, "forbidden");
    pd_test_http_clear (&response);
}

static void
test_bad_input_is_refused_and_writes_nothing (void **state)
{
    size_t before = s_partner_count ();
    pd_test_http_t response;
    s_call ("POST", "/api/partners", s_fx.admin_key, "{\"name\": \"Broken", &response);
    s_assert_problem (&response, 400, "malformed_body");
    pd_test_http_clear (&response);

    s_call ("POST", "/api/partners", s_fx.admin_key,
            "{\"name\": 5, \"contact_email\":\"a@b.example\"}", &response);
    s_assert_problem (&response, 400, "invalid_field");
    assert_string_equal (pd_json_str (&response, "field"), "name");
    pd_test_http_clear (&response);

    s_call ("POST", "/api/partners", s_fx.admin_key,
            "{\"name\":\"Typo\",\"contact_email\":\"a@b.example\",\"revenue_share\":50}",
            &response);
    s_assert_problem (&response, 400, "unknown_field");
    assert_string_equal (pd_json_str (&response, "field"), "revenue_share");
    pd_test_http_clear (&response);

    s_call ("POST", "/api/partners", s_fx.admin_key, "{\"contact_email\":\"a@b.example\"}",
            &response);
    s_assert_problem (&response, 400, "missing_field");
    assert_string_equal (pd_json_str (&response, "field"), "name");
    pd_test_http_clear (&response);

    s_call ("POST", "/api/partners", s_fx.admin_key,
            "{\"name\":\"Greedy\",\"contact_email\":\"a@b.example\","
            "\"revenue_share_percent\":101}",
            &response);
    s_assert_problem (&response, 400, "invalid_field");
    pd_test_http_clear (&response);

    s_call ("POST", "/api/partners", s_fx.admin_key, "[1,2,3]", &response);
    s_assert_problem (&response, 400, "malformed_body");
    pd_test_http_clear (&response);

    char url[512];
    s_url (url, sizeof (url), "/api/partners");
    assert_int_equal (pd_test_http ("POST", url, s_fx.admin_key, "name=x", "text/plain", &response),
                      0);
    s_assert_problem (&response, 415, "unsupported_media_type");
    pd_test_http_clear (&response);

    size_t big_size = 200 * 1024;
    char *big = malloc (big_size + 1);
    memset (big, ' ', big_size);
    big[0] = '{';
    big[big_size - 1] = '}';
    big[big_size] = 0;
    s_call ("POST", "/api/partners", s_fx.admin_key, big, &response);
    s_assert_problem (&response, 413, "payload_too_large");
    pd_test_http_clear (&response);
    free (big);

    assert_int_equal (s_partner_count (), before);
}

static void
test_server_owned_fields_are_ignored (void **state)
{
    pd_test_http_t response;
    assert_int_equal (s_call ("POST", "/api/partners", s_fx.admin_key,
                              "{\"name\":\"Sneaky\",\"contact_email\":\"a@sneaky.example\","
                              "\"id\":\"prt_mine\",\"created_at\":1,\"api_key_prefix\":\"x\","
                              "\"version\":7}",
                              &response),
                      201);
    assert_string_not_equal (pd_json_str (&response, "id"), "prt_mine");
    assert_true (pd_json_int (&response, "created_at") > 1);
    assert_string_not_equal (pd_json_str (&response, "api_key_prefix"), "x");
    assert_int_equal (pd_json_int (&response, "version"), 1);
    //  What a GET returned can be PUT back as it is
    char path[256];
    snprintf (path, sizeof (path), "/api/partners/%s", pd_json_str (&response, "id"));
    pd_test_http_t got, put;
    assert_int_equal (s_call ("GET", path, s_fx.admin_key, NULL, &got), 200);
    assert_int_equal (s_call ("PUT", path, s_fx.admin_key, got.body, &put), 200);
    assert_string_equal (pd_json_str (&put, "name"), "Sneaky");
    assert_int_equal (pd_json_int (&put, "version"), 2);
    pd_test_http_clear (&got);
    pd_test_http_clear (&put);
    pd_test_http_clear (&response);
}

static void
test_update_and_optimistic_concurrency (void **state)
{
    char id[64], key[128];
    s_create_partner ("Updater", id, key);
    char path[256];
    snprintf (path, sizeof (path), "/api/partners/%s", id);
    pd_test_http_t response;
    assert_int_equal (s_call ("PUT", path, s_fx.admin_key,
                              "{\"revenue_share_percent\":30,\"contact_phone\":\"+1 555 0100\"}",
                              &response),
                      200);
    assert_int_equal (pd_json_int (&response, "revenue_share_percent"), 30);
    assert_string_equal (pd_json_str (&response, "name"), "Updater"); //  untouched
    assert_int_equal (pd_json_int (&response, "version"), 2);
    pd_test_http_clear (&response);

    //  A stale version is a conflict, and changes nothing
    s_call ("PUT", path, s_fx.admin_key, "{\"version\":1,\"name\":\"Stale\"}", &response);
    s_assert_problem (&response, 409, "conflict");
    pd_test_http_clear (&response);
    assert_int_equal (s_call ("GET", path, s_fx.admin_key, NULL, &response), 200);
    assert_string_equal (pd_json_str (&response, "name"), "Updater");
    pd_test_http_clear (&response);

    //  Suspending a partner shuts its key out
    assert_int_equal (s_call ("PUT", path, s_fx.admin_key, "{\"status\":\"suspended\"}", &response),
                      200);
    pd_test_http_clear (&response);
    s_call ("GET", "/api/partners/me", key, NULL, &response);
    s_assert_problem (&response, 403, "forbidden");
    pd_test_http_clear (&response);

    s_call ("PUT", "/api/partners/prt_doesnotexist", s_fx.admin_key, "{\"name\":\"Ghost\"}",
            &response);
    s_assert_problem (&response, 404, "not_found");
    pd_test_http_clear (&response);
}

static void
test_names_are_unique (void **state)
{
    char id[64], key[128];
    s_create_partner ("Unique Co", id, key);
    pd_test_http_t response;
    s_call ("POST", "/api/partners", s_fx.admin_key,
            "{\"name\":\"UNIQUE CO\",\"contact_email\":\"b@unique.example\"}", &response);
    s_assert_problem (&response, 409, "already_exists");
    assert_string_equal (pd_json_str (&response, "field"), "name");
    pd_test_http_clear (&response);
}

static void
test_list_pages_through_everything (void **state)
{
    char id[64], key[128];
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf (name, sizeof (name), "Pager %d", i);
        s_create_partner (name, id, key);
    }
    size_t total = s_partner_count ();
    assert_true (total >= 5);

    //  Pages of 2 visit every partner exactly once
    json_t *seen = json_object ();
    char path[256] = "/api/partners?limit=2";
    size_t pages = 0;
    for (;;) {
        pd_test_http_t page;
        assert_int_equal (s_call ("GET", path, s_fx.admin_key, NULL, &page), 200);
        json_t *items = json_object_get (page.json, "items");
        assert_true (json_array_size (items) <= 2);
        size_t index;
        json_t *item;
        json_array_foreach (items, index, item)
        {
            const char *item_id = json_string_value (json_object_get (item, "id"));
            assert_null (json_object_get (seen, item_id));
            json_object_set_new (seen, item_id, json_true ());
        }
        pages++;
        const char *cursor = pd_json_str (&page, "next_cursor");
        if (!cursor) {
            pd_test_http_clear (&page);
            break;
        }
        snprintf (path, sizeof (path), "/api/partners?limit=2&cursor=%s", cursor);
        pd_test_http_clear (&page);
    }
    assert_int_equal (json_object_size (seen), total);
    assert_int_equal (pages, (total + 1) / 2); //  no empty trailing page
    json_decref (seen);

    pd_test_http_t response;
    s_call ("GET", "/api/partners?limit=0", s_fx.admin_key, NULL, &response);
    s_assert_problem (&response, 400, "invalid_field");
    pd_test_http_clear (&response);
    s_call ("GET", "/api/partners?colour=red", s_fx.admin_key, NULL, &response);
    s_assert_problem (&response, 400, "unknown_field");
    pd_test_http_clear (&response);
}

static void
test_unknown_routes_and_methods (void **state)
{
    pd_test_http_t response;
    s_call ("GET", "/api/nothing-here", s_fx.admin_key, NULL, &response);
    s_assert_problem (&response, 404, "not_found");
    pd_test_http_clear (&response);
    s_call ("DELETE", "/api/partners", s_fx.admin_key, NULL, &response);
    s_assert_problem (&response, 405, "method_not_allowed");
    assert_non_null (strstr (response.allow, "GET"));
    assert_non_null (strstr (response.allow, "POST"));
    pd_test_http_clear (&response);
    s_call ("GET", "/api/partners/prt_nobody", s_fx.admin_key, NULL, &response);
    s_assert_problem (&response, 404, "not_found");
    pd_test_http_clear (&response);
}

static void
test_health_metrics_and_audit (void **state)
{
    pd_test_http_t response;
    assert_int_equal (s_call ("GET", "/healthz", NULL, NULL, &response), 200);
    pd_test_http_clear (&response);
    assert_int_equal (s_call ("GET", "/metrics", NULL, NULL, &response), 200);
    assert_non_null (strstr (response.body, "partnerd_http_requests_total{"));
    assert_non_null (strstr (response.body, "route=\"POST /api/partners\""));
    //  The all-in-one process serves its actors in the gateway's threads
    const char *local = strstr (response.body, "partnerd_http_calls_total{path=\"local\"} ");
    assert_non_null (local);
    assert_true (atoll (strchr (local, '}') + 2) >= 1);
    pd_test_http_clear (&response);

    //  Every create was appended to the audit stream, in order from 1
    char id[64], key[128];
    s_create_partner ("Audited", id, key);
    assert_int_equal (s_call ("GET", "/api/admin/streams/audit?from=1&limit=1000", s_fx.admin_key,
                              NULL, &response),
                      200);
    json_t *items = json_object_get (response.json, "items");
    assert_true (json_array_size (items) >= 1);
    long long expected = 1;
    size_t index;
    json_t *item;
    json_array_foreach (items, index, item)
    {
        assert_int_equal (json_integer_value (json_object_get (item, "seq")), expected++);
    }
    assert_int_equal (pd_json_int (&response, "last_seq"), expected - 1);
    pd_test_http_clear (&response);
    s_call ("GET", "/api/admin/streams/audit", key, NULL, &response);
    s_assert_problem (&response, 403, "forbidden");
    pd_test_http_clear (&response);
}

static void
test_admin_key_file_is_private (void **state)
{
    char path[512];
    snprintf (path, sizeof (path), "%s/admin.key", s_fx.dir);
    struct stat info;
    assert_int_equal (stat (path, &info), 0);
    assert_int_equal (info.st_mode & 0777, 0600);
    assert_memory_equal (s_fx.admin_key, "pda_", 4);
    assert_true (pd_proc_printed (s_fx.server, "admin.key"));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_create_partner_and_use_its_key),
        cmocka_unit_test (test_regenerate_revokes_old_key),
        cmocka_unit_test (test_admin_routes_refuse_partner_and_missing_keys),
        cmocka_unit_test (test_bad_input_is_refused_and_writes_nothing),
        cmocka_unit_test (test_server_owned_fields_are_ignored),
        cmocka_unit_test (test_update_and_optimistic_concurrency),
        cmocka_unit_test (test_names_are_unique),
        cmocka_unit_test (test_list_pages_through_everything),
        cmocka_unit_test (test_unknown_routes_and_methods),
        cmocka_unit_test (test_health_metrics_and_audit),
        cmocka_unit_test (test_admin_key_file_is_private),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
