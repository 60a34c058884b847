/*  test_split_processes - broker, actors and gateway as separate processes

    The scale-out layout: `partnerd broker`, `partnerd actor ...` and
    `partnerd gateway` each in its own process, talking over tcp on
    loopback with CURVE keys made by `partnerctl keys`. Requests flow
    gateway -> broker -> actor process -> LMDB; an operator's tail key
    reads the audit stream; a key the broker does not know gets nothing
    and cannot register as a service, a known key only what its role
    permits. When the actor process dies, requests fail with a clear error
    within the gateway's deadline; a new actor process takes over with no
    restart of the others.

    Also: a broker on tcp without keys, and an all-in-one whose data
    directory others could enter, refuse to start and say why.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pd_client.h"
#include "pd_keys.h"
#include "pd_proto.h"
#include "pd_test_peer.h"
#include "pd_testutil.h"

#define S_GATEWAY_TIMEOUT_MS "1500"
#define S_START_MS           20000
#define S_RUN_MS             30000
#define S_WAIT_MS            5000
#define S_OUTPUT_MAX         16384
#define S_DIR_MAX            256 //  bytes of a directory's path
#define S_PATH_MAX           600 //  bytes of a file's path in it

static struct {
    char *dir;                    //  the test's directory
    char data[S_DIR_MAX];         //  the actors' data directory
    char cluster[S_DIR_MAX];      //  partnerctl keys init
    char gateway_key[S_PATH_MAX]; //  role gateway
    char actor_key[S_PATH_MAX];   //  role actor: auth, partners, stream
    char tail_key[S_PATH_MAX];    //  role tail
    char rogue_key[S_PATH_MAX];   //  a keypair not in the allow-list
    char bind[64], stream[64], http[64], base[80];
    const char *actor_args[16];
    pd_proc_t *broker, *actors, *gateway;
    char *admin_key;
} s_fx;

static double
s_now (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

//  partnerctl with these arguments must succeed
static int
s_partnerctl (const char *const args[])
{
    char output[S_OUTPUT_MAX];
    return pd_run (PARTNERCTL_BIN, args, output, sizeof (output), S_RUN_MS);
}

static int
s_add_key (const char *name, const char *role, const char *services, char *path)
{
    snprintf (path, S_PATH_MAX, "%s/%s.key", s_fx.cluster, name);
    const char *args[] = {
        "keys",   "add", s_fx.cluster, name, "--role", role, services ? "--services" : NULL,
        services, NULL};
    return s_partnerctl (args);
}

//  A keypair the broker never heard of, with the broker's (public) key: the
//  attacker of the finding, who knows everything public
static int
s_rogue_key (void)
{
    char error[PD_KEYS_ERROR_MAX];
    pd_keys_pair_t known, rogue;
    if (pd_keys_pair_load (&known, s_fx.gateway_key, true, error, sizeof (error)) ||
        pd_keys_pair_generate (&rogue))
        return -1;
    memcpy (rogue.server_key, known.server_key, sizeof (rogue.server_key));
    snprintf (s_fx.rogue_key, sizeof (s_fx.rogue_key), "%s/rogue.key", s_fx.dir);
    return pd_keys_pair_save (&rogue, s_fx.rogue_key, NULL, error, sizeof (error));
}

static int
s_setup (void **state)
{
    s_fx.dir = pd_test_tmpdir ();
    if (!s_fx.dir)
        return -1;
    snprintf (s_fx.data, sizeof (s_fx.data), "%s/data", s_fx.dir);
    snprintf (s_fx.cluster, sizeof (s_fx.cluster), "%s/cluster", s_fx.dir);
    snprintf (s_fx.bind, sizeof (s_fx.bind), "tcp://127.0.0.1:%d", pd_test_free_port ());
    snprintf (s_fx.stream, sizeof (s_fx.stream), "tcp://127.0.0.1:%d", pd_test_free_port ());
    snprintf (s_fx.http, sizeof (s_fx.http), "127.0.0.1:%d", pd_test_free_port ());
    snprintf (s_fx.base, sizeof (s_fx.base), "http://%s", s_fx.http);

    const char *init[] = {"keys", "init", s_fx.cluster, NULL};
    if (s_partnerctl (init) || s_add_key ("gw", "gateway", NULL, s_fx.gateway_key) ||
        s_add_key ("actors", "actor", "auth,partners,stream", s_fx.actor_key) ||
        s_add_key ("ops", "tail", NULL, s_fx.tail_key) || s_rogue_key ())
        return -1;

    const char *broker_args[] = {"broker",    "--bind",    s_fx.bind,    "--stream-bind",
                                 s_fx.stream, "--cluster", s_fx.cluster, NULL};
    s_fx.broker = pd_proc_start (broker_args, S_START_MS);
    const char *actor_args[] = {"actor",    "auth",         "partners", "stream",
                                "--broker", s_fx.bind,      "--data",   s_fx.data,
                                "--key",    s_fx.actor_key, NULL};
    memcpy (s_fx.actor_args, actor_args, sizeof (actor_args));
    s_fx.actors = s_fx.broker ? pd_proc_start (s_fx.actor_args, S_START_MS) : NULL;
    const char *gateway_args[] = {
        "gateway",   "--broker",           s_fx.bind, "--http",         s_fx.http,
        "--timeout", S_GATEWAY_TIMEOUT_MS, "--key",   s_fx.gateway_key, NULL};
    s_fx.gateway = s_fx.actors ? pd_proc_start (gateway_args, S_START_MS) : NULL;
    if (!s_fx.gateway)
        return -1;
    //  The process running the auth actor made the first admin key
    char key_path[S_PATH_MAX];
    snprintf (key_path, sizeof (key_path), "%s/admin.key", s_fx.data);
    s_fx.admin_key = pd_test_read_line (key_path);
    return s_fx.admin_key ? 0 : -1;
}

static int
s_teardown (void **state)
{
    //  Clean stops, in reverse order; exit 0 (and no leaks under ASan)
    int failed = 0;
    if (s_fx.gateway)
        failed |= pd_proc_stop (&s_fx.gateway, SIGTERM);
    if (s_fx.actors)
        failed |= pd_proc_stop (&s_fx.actors, SIGTERM);
    if (s_fx.broker)
        failed |= pd_proc_stop (&s_fx.broker, SIGTERM);
    free (s_fx.admin_key);
    pd_test_rmdir (s_fx.dir);
    free (s_fx.dir);
    return failed ? -1 : 0;
}

//  --------------------------------------------------------------------------
//  Helpers

//  A partner made through the gateway; its API key into key
static void
s_create_partner (const char *name, char *key, size_t size)
{
    char url[256], body[256];
    snprintf (url, sizeof (url), "%s/api/partners", s_fx.base);
    snprintf (body, sizeof (body), "{\"name\":\"%s\",\"contact_email\":\"s@split.example\"}", name);
    pd_test_http_t response;
    assert_int_equal (pd_test_http ("POST", url, s_fx.admin_key, body, NULL, &response), 0);
    assert_int_equal (response.status, 201);
    snprintf (key, size, "%s", pd_json_str (&response, "api_key"));
    pd_test_http_clear (&response);
}

//  GET /api/partners/me with a partner key: its HTTP status
static long
s_get_me (const char *key)
{
    char url[256];
    snprintf (url, sizeof (url), "%s/api/partners/me", s_fx.base);
    pd_test_http_t response;
    assert_int_equal (pd_test_http ("GET", url, key, NULL, NULL, &response), 0);
    long status = response.status;
    pd_test_http_clear (&response);
    return status;
}

static void
s_load (pd_keys_pair_t *pair, const char *path)
{
    char error[PD_KEYS_ERROR_MAX];
    if (pd_keys_pair_load (pair, path, true, error, sizeof (error)))
        fail_msg ("%s", error);
}

//  The broker's `refused` counter, asked with the gateway's key
static uint64_t
s_refused (void)
{
    pd_keys_pair_t keys;
    s_load (&keys, s_fx.gateway_key);
    pd_client_t *client = pd_client_new_curve (s_fx.bind, &keys);
    assert_non_null (client);
    uint8_t *reply = NULL;
    size_t size = 0;
    assert_int_equal (pd_client_request (client, PD_PROTO_SERVICE_STATS, NULL, 0, NULL, 0,
                                         S_WAIT_MS, &reply, &size),
                      PD_OK);
    pd_client_destroy (&client);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    assert_int_equal (msgpack_unpack_next (&unpacked, (const char *)reply, size, NULL),
                      MSGPACK_UNPACK_SUCCESS);
    uint64_t refused = UINT64_MAX;
    msgpack_object_map *map = &unpacked.data.via.map;
    for (uint32_t i = 0; unpacked.data.type == MSGPACK_OBJECT_MAP && i < map->size; i++)
        if (map->ptr[i].key.via.str.size == strlen ("refused") &&
            memcmp (map->ptr[i].key.via.str.ptr, "refused", strlen ("refused")) == 0)
            refused = map->ptr[i].val.via.u64;
    msgpack_unpacked_destroy (&unpacked);
    free (reply);
    assert_int_not_equal (refused, UINT64_MAX);
    return refused;
}

//  A raw worker, as the finding's 40-line attacker: a DEALER with the
//  credentials of this key file that sends READY for `service`
static zsock_t *
s_raw_worker (const char *key_path, const char *service)
{
    pd_keys_pair_t keys;
    s_load (&keys, key_path);
    zsock_t *sock = pd_test_peer_ready (s_fx.bind, &keys, service);
    assert_non_null (sock);
    return sock;
}

//  partnerctl tail audit from 1 with a key: its exit status and output
static int
s_tail (const char *key_path, char *output, size_t size)
{
    const char *args[] = {"tail",  "audit",    "--from",  "1",        "--count",
                          "1",     "--broker", s_fx.bind, "--stream", s_fx.stream,
                          "--key", key_path,   "--json",  NULL};
    return pd_run (PARTNERCTL_BIN, args, output, size, S_RUN_MS);
}

//  --------------------------------------------------------------------------
//  Tests

static void
test_split_layout_over_curve (void **state)
{
    char key[128];
    s_create_partner ("Split", key, sizeof (key));
    assert_int_equal (s_get_me (key), 200);
    //  A gateway alone sends every call through the broker
    char url[256];
    snprintf (url, sizeof (url), "%s/metrics", s_fx.base);
    pd_test_http_t metrics;
    assert_int_equal (pd_test_http ("GET", url, NULL, NULL, NULL, &metrics), 0);
    assert_non_null (strstr (metrics.body, "partnerd_http_calls_total{path=\"local\"} 0\n"));
    const char *broker = strstr (metrics.body, "partnerd_http_calls_total{path=\"broker\"} ");
    assert_true (broker && atoll (strchr (broker, '}') + 2) >= 2);
    pd_test_http_clear (&metrics);

    //  The operator's tail key reads the audit stream from the start
    char output[S_OUTPUT_MAX];
    assert_int_equal (s_tail (s_fx.tail_key, output, sizeof (output)), 0);
    assert_non_null (strstr (output, "{\"seq\":1,"));
}

//  The attack of the finding, now with keys: a key the broker does not
//  know gets no audit event and cannot serve `auth`; a known key gets no
//  more than its role (tail: no READY)
static void
test_unknown_key_gets_nothing (void **state)
{
    char key[128];
    s_create_partner ("Victim", key, sizeof (key));

    char output[S_OUTPUT_MAX];
    assert_int_not_equal (s_tail (s_fx.rogue_key, output, sizeof (output)), 0);
    assert_null (strstr (output, "\"seq\""));

    //  The rogue worker's handshake is refused (counted), so it gets
    //  nothing, and the real auth actor goes on answering
    uint64_t refused = s_refused ();
    zsock_t *rogue = s_raw_worker (s_fx.rogue_key, "auth");
    int64_t deadline = zclock_mono () + S_WAIT_MS;
    while (s_refused () == refused && zclock_mono () < deadline)
        ;
    assert_true (s_refused () > refused);
    for (int i = 0; i < 5; i++)
        assert_int_equal (s_get_me (key), 200);
    assert_int_equal (pd_test_peer_command (rogue, 0), -1);
    zsock_destroy (&rogue);

    //  A tail key is known, but may not serve: READY gets DISCONNECT
    zsock_t *tail = s_raw_worker (s_fx.tail_key, "auth");
    assert_int_equal (pd_test_peer_command (tail, S_WAIT_MS), PD_PDP_DISCONNECT);
    zsock_destroy (&tail);
    assert_int_equal (s_get_me (key), 200);
}

static void
test_actor_process_dies_and_another_takes_over (void **state)
{
    char key[128];
    s_create_partner ("Takeover", key, sizeof (key));

    //  The actor process dies: a clear error, within the deadline
    assert_int_equal (pd_proc_stop (&s_fx.actors, SIGKILL), 128 + SIGKILL);
    char url[256];
    snprintf (url, sizeof (url), "%s/api/partners/me", s_fx.base);
    double started = s_now ();
    pd_test_http_t response;
    assert_int_equal (pd_test_http ("GET", url, key, NULL, NULL, &response), 0);
    double elapsed = s_now () - started;
    assert_true (response.status == 503 || response.status == 504);
    assert_string_equal (response.content_type, "application/problem+json");
    const char *code = pd_json_str (&response, "code");
    assert_true (strcmp (code, "service_unavailable") == 0 || strcmp (code, "timeout") == 0);
    assert_true (elapsed < 1.5 + 1.0);
    pd_test_http_clear (&response);

    //  A new actor process takes over, nothing else restarted
    s_fx.actors = pd_proc_start (s_fx.actor_args, S_START_MS);
    assert_non_null (s_fx.actors);
    assert_int_equal (s_get_me (key), 200);
}

//  `partnerd broker` on tcp without --cluster refuses, naming the fix
static void
test_broker_on_tcp_needs_cluster_keys (void **state)
{
    char bind[64], stream[64], output[S_OUTPUT_MAX];
    snprintf (bind, sizeof (bind), "tcp://127.0.0.1:%d", pd_test_free_port ());
    snprintf (stream, sizeof (stream), "tcp://127.0.0.1:%d", pd_test_free_port ());
    const char *args[] = {"broker", "--bind", bind, "--stream-bind", stream, NULL};
    assert_int_not_equal (pd_run (PARTNERD_BIN, args, output, sizeof (output), S_RUN_MS), 0);
    assert_non_null (strstr (output, "partnerctl keys init"));
    assert_non_null (strstr (output, bind));
}

//  The all-in-one refuses a data directory others can enter (mode 0755,
//  or, when the test runs as root, one owned by another user), and makes a
//  new one 0700 whatever the umask
static void
test_all_in_one_refuses_an_open_data_dir (void **state)
{
    char data[S_PATH_MAX], http[64], output[S_OUTPUT_MAX];
    snprintf (data, sizeof (data), "%s/open", s_fx.dir);
    snprintf (http, sizeof (http), "127.0.0.1:%d", pd_test_free_port ());
    assert_int_equal (mkdir (data, 0755), 0);
    assert_int_equal (chmod (data, 0755), 0);
    const char *args[] = {"--data", data, "--http", http, NULL};
    assert_int_not_equal (pd_run (PARTNERD_BIN, args, output, sizeof (output), S_RUN_MS), 0);
    assert_non_null (strstr (output, "must be 0700"));

    if (geteuid () == 0) {
        assert_int_equal (chmod (data, 0700), 0);
        assert_int_equal (chown (data, 65534, 65534), 0);
        assert_int_not_equal (pd_run (PARTNERD_BIN, args, output, sizeof (output), S_RUN_MS), 0);
        assert_non_null (strstr (output, "not by this user"));
    } else
        fprintf (stderr, "test: not root, the other-owner case is skipped\n");

    snprintf (data, sizeof (data), "%s/fresh", s_fx.dir);
    mode_t umask_before = umask (0);
    pd_proc_t *server = pd_proc_start (args, S_START_MS);
    umask (umask_before);
    assert_non_null (server);
    struct stat info;
    assert_int_equal (stat (data, &info), 0);
    assert_int_equal (info.st_mode & 0777, 0700);
    assert_int_equal (pd_proc_stop (&server, SIGTERM), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_split_layout_over_curve),
        cmocka_unit_test (test_unknown_key_gets_nothing),
        cmocka_unit_test (test_actor_process_dies_and_another_takes_over),
        cmocka_unit_test (test_broker_on_tcp_needs_cluster_keys),
        cmocka_unit_test (test_all_in_one_refuses_an_open_data_dir),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
