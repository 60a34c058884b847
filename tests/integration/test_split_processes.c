/*  test_split_processes - broker, actors and gateway as separate processes

    The scale-out layout: `partnerd broker`, `partnerd actor ...` and
    `partnerd gateway` each in its own process, talking over tcp on
    loopback. Requests flow gateway -> broker -> actor process -> LMDB; when
    the actor process dies, requests fail with a clear error within the
    gateway's deadline; a new actor process takes over with no restart of
    the others.
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
#include <time.h>

#include "pd_testutil.h"

#define S_GATEWAY_TIMEOUT_MS "1500"

static double
s_now (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void
test_actor_in_its_own_process_serves_through_a_separate_broker (void **state)
{
    char *dir = pd_test_tmpdir ();
    char bind[64], stream[64], http[64], base[80], key_path[512];
    snprintf (bind, sizeof (bind), "tcp://127.0.0.1:%d", pd_test_free_port ());
    snprintf (stream, sizeof (stream), "tcp://127.0.0.1:%d", pd_test_free_port ());
    snprintf (http, sizeof (http), "127.0.0.1:%d", pd_test_free_port ());
    snprintf (base, sizeof (base), "http://%s", http);
    snprintf (key_path, sizeof (key_path), "%s/admin.key", dir);

    const char *broker_args[] = {"broker", "--bind", bind, "--stream-bind", stream, NULL};
    pd_proc_t *broker = pd_proc_start (broker_args, 20000);
    assert_non_null (broker);
    const char *actor_args[] = {"actor", "auth",   "partners", "stream", "--broker",
                                bind,    "--data", dir,        NULL};
    pd_proc_t *actors = pd_proc_start (actor_args, 20000);
    assert_non_null (actors);
    const char *gateway_args[] = {"gateway",   "--broker",           bind, "--http", http,
                                  "--timeout", S_GATEWAY_TIMEOUT_MS, NULL};
    pd_proc_t *gateway = pd_proc_start (gateway_args, 20000);
    assert_non_null (gateway);

    //  The process running the auth actor made the first admin key
    char *admin_key = pd_test_read_line (key_path);
    assert_non_null (admin_key);
    char url[256];
    snprintf (url, sizeof (url), "%s/api/partners", base);
    pd_http_t response;
    assert_int_equal (pd_http ("POST", url, admin_key,
                               "{\"name\":\"Split\",\"contact_email\":\"s@split.example\"}", NULL,
                               &response),
                      0);
    assert_int_equal (response.status, 201);
    char key[128];
    snprintf (key, sizeof (key), "%s", pd_json_str (&response, "api_key"));
    pd_http_clear (&response);
    snprintf (url, sizeof (url), "%s/api/partners/me", base);
    assert_int_equal (pd_http ("GET", url, key, NULL, NULL, &response), 0);
    assert_int_equal (response.status, 200);
    assert_string_equal (pd_json_str (&response, "name"), "Split");
    pd_http_clear (&response);

    //  The actor process dies: a clear error, within the deadline
    assert_int_equal (pd_proc_stop (&actors, SIGKILL), 128 + SIGKILL);
    double started = s_now ();
    assert_int_equal (pd_http ("GET", url, key, NULL, NULL, &response), 0);
    double elapsed = s_now () - started;
    assert_true (response.status == 503 || response.status == 504);
    assert_string_equal (response.content_type, "application/problem+json");
    const char *code = pd_json_str (&response, "code");
    assert_true (strcmp (code, "service_unavailable") == 0 || strcmp (code, "timeout") == 0);
    assert_true (elapsed < 1.5 + 1.0);
    pd_http_clear (&response);

    //  A new actor process takes over, nothing else restarted
    actors = pd_proc_start (actor_args, 20000);
    assert_non_null (actors);
    assert_int_equal (pd_http ("GET", url, key, NULL, NULL, &response), 0);
    assert_int_equal (response.status, 200);
    assert_string_equal (pd_json_str (&response, "name"), "Split");
    pd_http_clear (&response);

    //  Clean stops, in reverse order; exit 0 (and no leaks under ASan)
    assert_int_equal (pd_proc_stop (&gateway, SIGTERM), 0);
    assert_int_equal (pd_proc_stop (&actors, SIGTERM), 0);
    assert_int_equal (pd_proc_stop (&broker, SIGTERM), 0);
    free (admin_key);
    pd_test_rmdir (dir);
    free (dir);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_actor_in_its_own_process_serves_through_a_separate_broker),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
