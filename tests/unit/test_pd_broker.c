/*  test_pd_broker - the broker, its clients and its workers over loopback tcp

    Every test starts its own broker on a random 127.0.0.1 port. Workers run
    in threads (zactors) so that they heartbeat while the test thread waits.
    Synchronisation is by replies, pipes and polls with deadlines.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <msgpack.h>
#include <string.h>
#include <unistd.h>

#include "pd_broker.h"
#include "pd_client.h"
#include "pd_keys.h"
#include "pd_messages.h"
#include "pd_test_peer.h"
#include "pd_test_zmtp.h"
#include "pd_worker.h"
#include "pd_test_dir.h"

//  Short heartbeats for speed; a liveness window (800 ms) wide enough that
//  a loaded machine does not expire healthy peers
#define S_HEARTBEAT_MS 100
#define S_LIVENESS     8
#define S_ENDPOINT_MAX 64
#define S_WAIT_MS      5000 //  upper bound for anything that should happen

//  The msgpack header every test request carries: {"type": "echo.say"}
static const uint8_t s_header[] = {0x81, 0xA4, 't', 'y', 'p', 'e', 0xA8, 'e',
                                   'c',  'h',  'o', '.', 's', 'a', 'y'};

//  --------------------------------------------------------------------------
//  Helpers

//  Start a broker on a random loopback port (and a stream socket on
//  another if stream is not NULL). The endpoints are written to the buffers.
static pd_broker_t *
s_broker_new_cluster (char *endpoint, char *stream, size_t queue_max, int heartbeat_ms,
                      const pd_keys_cluster_t *cluster)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        snprintf (endpoint, S_ENDPOINT_MAX, "tcp://127.0.0.1:%ld", 20000 + random () % 20000);
        if (stream)
            snprintf (stream, S_ENDPOINT_MAX, "tcp://127.0.0.1:%ld", 40000 + random () % 10000);
        pd_broker_config_t config = {.endpoints = endpoint,
                                     .stream_endpoints = stream,
                                     .heartbeat_ms = heartbeat_ms,
                                     .liveness = S_LIVENESS,
                                     .queue_max = queue_max,
                                     .cluster = cluster};
        pd_broker_t *broker = pd_broker_new (&config);
        if (broker)
            return broker;
    }
    return NULL;
}

static pd_broker_t *
s_broker_new (char *endpoint, char *stream, size_t queue_max, int heartbeat_ms)
{
    return s_broker_new_cluster (endpoint, stream, queue_max, heartbeat_ms, NULL);
}

//  Start a broker on a given endpoint, retrying while the previous
//  broker's listener is still being closed (ZeroMQ closes it in its I/O
//  thread, after zmq_close returned). Each attempt is a real bind.
static pd_broker_t *
s_broker_restart (const char *endpoint)
{
    int64_t deadline = zclock_mono () + S_WAIT_MS;
    while (zclock_mono () < deadline) {
        pd_broker_config_t config = {
            .endpoints = endpoint, .heartbeat_ms = S_HEARTBEAT_MS, .liveness = S_LIVENESS};
        pd_broker_t *broker = pd_broker_new (&config);
        if (broker)
            return broker;
        zclock_sleep (S_HEARTBEAT_MS / 5);
    }
    return NULL;
}

static pd_broker_stats_t
s_stats (pd_broker_t *broker)
{
    pd_broker_stats_t stats;
    memset (&stats, 0xFF, sizeof (stats));
    assert_int_equal (pd_broker_stats (broker, &stats), PD_OK);
    return stats;
}

//  Poll the broker's counters until one has a value (a deadline bounds it)
typedef enum { S_WORKERS, S_QUEUED, S_REFUSED } s_counter_t;

static bool
s_wait_counter (pd_broker_t *broker, s_counter_t counter, uint64_t value)
{
    int64_t deadline = zclock_mono () + S_WAIT_MS;
    while (zclock_mono () < deadline) {
        pd_broker_stats_t stats = s_stats (broker);
        uint64_t now = counter == S_WORKERS  ? stats.workers
                       : counter == S_QUEUED ? stats.queued
                                             : stats.refused;
        if (now == value)
            return true;
        zclock_sleep (S_HEARTBEAT_MS / 10);
    }
    return false;
}

//  A string from an actor's pipe within timeout_ms, or NULL
static char *
s_expect (zactor_t *actor, int timeout_ms)
{
    zpoller_t *poller = zpoller_new (actor, NULL);
    char *string = zpoller_wait (poller, timeout_ms) ? zstr_recv (actor) : NULL;
    zpoller_destroy (&poller);
    return string;
}

//  The value of `key` in a msgpack map, or NULL
static msgpack_object *
s_map_get (msgpack_object *map, const char *key)
{
    if (map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        msgpack_object_kv *pair = &map->via.map.ptr[i];
        if (pair->key.type == MSGPACK_OBJECT_STR && pair->key.via.str.size == strlen (key) &&
            memcmp (pair->key.via.str.ptr, key, strlen (key)) == 0)
            return &pair->val;
    }
    return NULL;
}

//  Check that `body` is an error body with this code
static void
s_assert_error_body (const uint8_t *body, size_t size, const char *code)
{
    assert_non_null (body);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    assert_int_equal (msgpack_unpack_next (&unpacked, (const char *)body, size, &offset),
                      MSGPACK_UNPACK_SUCCESS);
    assert_int_equal (offset, size);
    msgpack_object *value = s_map_get (&unpacked.data, "code");
    assert_non_null (value);
    assert_int_equal (value->type, MSGPACK_OBJECT_STR);
    assert_int_equal (value->via.str.size, strlen (code));
    assert_memory_equal (value->via.str.ptr, code, strlen (code));
    value = s_map_get (&unpacked.data, "detail");
    assert_non_null (value);
    assert_int_equal (value->type, MSGPACK_OBJECT_STR);
    msgpack_unpacked_destroy (&unpacked);
}

//  --------------------------------------------------------------------------
//  A worker thread. It replies "<name>:<body>" (PD_E_MALFORMED if the
//  header did not arrive intact). Commands on its pipe, each acknowledged
//  with a signal:
//    SILENT   take the next request, say "TOOK", then stop all traffic
//             (no heartbeats, no reply) until $TERM
//    HOLD     keep the requests that come (say "HELD" for each) and go on
//             heartbeating
//    RELEASE  reply to the held requests now, then echo again

#define S_HELD_MAX 4

typedef struct {
    const char *endpoint;
    const char *service;
    const char *name;
    int credit;
    const pd_keys_pair_t *keys; //  CURVE credentials, NULL for none
} s_worker_args_t;

static void
s_echo (pd_worker_t *worker, pd_request_t **request_p, const char *name)
{
    pd_request_t *request = *request_p;
    bool header_ok = request->header_size == sizeof (s_header) &&
                     memcmp (request->header, s_header, sizeof (s_header)) == 0;
    char reply[256];
    int size = snprintf (reply, sizeof (reply), "%s:%.*s", name, (int)request->body_size,
                         request->body ? (const char *)request->body : "");
    pd_worker_reply (worker, request_p, header_ok ? PD_OK : PD_E_MALFORMED, reply, (size_t)size);
}

static void
s_worker_actor (zsock_t *pipe, void *args)
{
    s_worker_args_t *arg = (s_worker_args_t *)args;
    char name[32];
    snprintf (name, sizeof (name), "%s", arg->name);
    pd_worker_config_t config = {.heartbeat_ms = S_HEARTBEAT_MS,
                                 .liveness = S_LIVENESS,
                                 .credit = arg->credit,
                                 .keys = arg->keys};
    pd_worker_t *worker = pd_worker_new (arg->endpoint, arg->service, &config);
    zsock_signal (pipe, worker ? 0 : 1);

    enum { ECHO, SILENT, HOLD } mode = ECHO;
    pd_request_t *held[S_HELD_MAX] = {NULL};
    size_t held_count = 0;
    while (worker) {
        pd_request_t *request = NULL;
        int rc = pd_worker_wait (worker, pipe, &request);
        if (rc == PD_WORKER_PIPE) {
            char *command = zstr_recv (pipe);
            bool stop = !command || streq (command, "$TERM");
            if (!stop) {
                if (streq (command, "SILENT"))
                    mode = SILENT;
                else if (streq (command, "HOLD"))
                    mode = HOLD;
                else if (streq (command, "RELEASE")) {
                    for (size_t i = 0; i < held_count; i++)
                        s_echo (worker, &held[i], name);
                    held_count = 0;
                    mode = ECHO;
                }
                zsock_signal (pipe, 0);
            }
            free (command);
            if (stop)
                break;
        } else if (rc == PD_OK && mode == SILENT) {
            zstr_send (pipe, "TOOK");
            char *command = zstr_recv (pipe); //  $TERM
            free (command);
            pd_request_destroy (&request);
            break;
        } else if (rc == PD_OK && mode == HOLD && held_count < S_HELD_MAX) {
            held[held_count++] = request;
            zstr_send (pipe, "HELD");
        } else if (rc == PD_OK)
            s_echo (worker, &request, name);
        else
            break;
    }
    for (size_t i = 0; i < held_count; i++)
        pd_request_destroy (&held[i]);
    pd_worker_destroy (&worker);
}

static zactor_t *
s_worker_new_curve (const char *endpoint, const char *service, const char *name,
                    const pd_keys_pair_t *keys)
{
    s_worker_args_t args = {endpoint, service, name, 1, keys};
    zactor_t *actor = zactor_new (s_worker_actor, &args);
    assert_non_null (actor);
    return actor;
}

static zactor_t *
s_worker_new (const char *endpoint, const char *service, const char *name, int credit)
{
    s_worker_args_t args = {endpoint, service, name, credit, NULL};
    zactor_t *actor = zactor_new (s_worker_actor, &args);
    assert_non_null (actor);
    return actor;
}

//  Send a command to a worker thread and wait for its acknowledgement
static void
s_worker_command (zactor_t *actor, const char *command)
{
    zstr_send (actor, command);
    zpoller_t *poller = zpoller_new (actor, NULL);
    bool acknowledged = zpoller_wait (poller, S_WAIT_MS) != NULL;
    zpoller_destroy (&poller);
    assert_true (acknowledged);
    assert_int_equal (zsock_wait (actor), 0);
}

//  --------------------------------------------------------------------------
//  Usage: a broker, a worker serving "echo", a client asking it

static void
test_request_reply (void **state)
{
    char endpoint[S_ENDPOINT_MAX];
    pd_broker_t *broker = s_broker_new (endpoint, NULL, 0, S_HEARTBEAT_MS);
    assert_non_null (broker);
    zactor_t *worker = s_worker_new (endpoint, "echo", "w1", 1);
    pd_client_t *client = pd_client_new (endpoint);
    assert_non_null (client);

    uint8_t *reply = NULL;
    size_t size = 0;
    int rc = pd_client_request (client, "echo", s_header, sizeof (s_header), "hello", 5, S_WAIT_MS,
                                &reply, &size);
    assert_int_equal (rc, PD_OK);
    assert_int_equal (size, strlen ("w1:hello"));
    assert_memory_equal (reply, "w1:hello", size);
    free (reply);

    pd_broker_stats_t stats = s_stats (broker);
    assert_int_equal (stats.requests, 1);
    assert_int_equal (stats.replies, 1);
    assert_int_equal (stats.workers, 1);
    assert_int_equal (stats.dropped, 0);

    pd_client_destroy (&client);
    assert_null (client);
    zactor_destroy (&worker);
    pd_broker_destroy (&broker);
    assert_null (broker);
    pd_broker_destroy (&broker); //  idempotent
}

//  --------------------------------------------------------------------------
//  Frame helpers

static void
test_proto_frames (void **state)
{
    zframe_t *frame = pd_proto_u32 (0x01020304);
    assert_int_equal (zframe_size (frame), 4);
    assert_memory_equal (zframe_data (frame), "\x01\x02\x03\x04", 4);
    uint32_t u32 = 0;
    assert_int_equal (pd_proto_get_u32 (frame, &u32), 0);
    assert_int_equal (u32, 0x01020304);
    uint16_t u16;
    uint64_t u64;
    assert_int_equal (pd_proto_get_u16 (frame, &u16), -1);
    assert_int_equal (pd_proto_get_u64 (frame, &u64), -1);
    assert_int_equal (pd_proto_get_u64 (NULL, &u64), -1);
    zframe_destroy (&frame);

    frame = pd_proto_u64 (UINT64_C (0x0102030405060708));
    assert_memory_equal (zframe_data (frame), "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    assert_int_equal (pd_proto_get_u64 (frame, &u64), 0);
    assert_true (u64 == UINT64_C (0x0102030405060708));
    zframe_destroy (&frame);

    frame = pd_proto_u16 (0xABCD);
    assert_memory_equal (zframe_data (frame), "\xAB\xCD", 2);
    assert_int_equal (pd_proto_get_u16 (frame, &u16), 0);
    assert_int_equal (u16, 0xABCD);
    zframe_destroy (&frame);

    zmsg_t *msg = pd_proto_msg (PD_PDP_HEARTBEAT);
    assert_int_equal (zmsg_size (msg), 2);
    assert_int_equal (pd_proto_take_command (msg), PD_PDP_HEARTBEAT);
    assert_int_equal (zmsg_size (msg), 0);
    zmsg_destroy (&msg);

    msg = zmsg_new ();
    zmsg_addstr (msg, "PDP2");
    zmsg_addmem (msg, "\x04", 1);
    assert_int_equal (pd_proto_take_command (msg), -1);
    zmsg_destroy (&msg);
    msg = zmsg_new ();
    zmsg_addstr (msg, PD_PROTO_SIGNATURE);
    zmsg_addmem (msg, "\x07", 1);
    assert_int_equal (pd_proto_take_command (msg), -1);
    zmsg_destroy (&msg);
    msg = zmsg_new ();
    zmsg_addstr (msg, PD_PROTO_SIGNATURE);
    assert_int_equal (pd_proto_take_command (msg), -1);
    zmsg_destroy (&msg);
    assert_int_equal (pd_proto_take_command (NULL), -1);

    frame = pd_proto_error_body (PD_E_NOT_FOUND, NULL, "no partner p1");
    s_assert_error_body (zframe_data (frame), zframe_size (frame), "not_found");
    zframe_destroy (&frame);

    //  The `error` record by its schema: a field, and a detail too long for
    //  the schema cut at a character boundary (a 3-byte character each)
    char long_detail[1024] = "";
    for (int i = 0; i < 300; i++)
        strcat (long_detail, "\xe2\x82\xac");
    frame = pd_proto_error_body (PD_E_INVALID_FIELD, "mac", long_detail);
    pd_error_t error = {0};
    assert_int_equal (
        pd_schema_decode (&pd_error_schema, zframe_data (frame), zframe_size (frame), &error, NULL),
        PD_OK);
    assert_string_equal (error.code, "invalid_field");
    assert_string_equal (error.field, "mac");
    assert_int_equal (strlen (error.detail), 510); //  170 whole characters of at most 512 bytes
    pd_schema_clear (&pd_error_schema, &error);
    zframe_destroy (&frame);
}

//  --------------------------------------------------------------------------
//  Two workers share the load

static void
test_load_balancing (void **state)
{
    char endpoint[S_ENDPOINT_MAX];
    pd_broker_t *broker = s_broker_new (endpoint, NULL, 0, S_HEARTBEAT_MS);
    assert_non_null (broker);
    zactor_t *w1 = s_worker_new (endpoint, "echo", "w1", 1);
    zactor_t *w2 = s_worker_new (endpoint, "echo", "w2", 1);
    assert_true (s_wait_counter (broker, S_WORKERS, 2));
    pd_client_t *client = pd_client_new (endpoint);
    assert_non_null (client);

    int served[2] = {0, 0};
    for (int i = 0; i < 100; i++) {
        uint8_t *reply = NULL;
        size_t size = 0;
        int rc = pd_client_request (client, "echo", s_header, sizeof (s_header), "x", 1, S_WAIT_MS,
                                    &reply, &size);
        assert_int_equal (rc, PD_OK);
        assert_int_equal (size, 4);
        if (memcmp (reply, "w1:x", 4) == 0)
            served[0]++;
        else if (memcmp (reply, "w2:x", 4) == 0)
            served[1]++;
        free (reply);
    }
    assert_int_equal (served[0] + served[1], 100);
    assert_true (served[0] >= 25);
    assert_true (served[1] >= 25);

    pd_client_destroy (&client);
    zactor_destroy (&w1);
    zactor_destroy (&w2);
    pd_broker_destroy (&broker);
}

//  --------------------------------------------------------------------------
//  Many requests in flight from one client, matched by id

#define S_IN_FLIGHT 50

static void
test_many_in_flight (void **state)
{
    char endpoint[S_ENDPOINT_MAX];
    pd_broker_t *broker = s_broker_new (endpoint, NULL, 0, S_HEARTBEAT_MS);
    assert_non_null (broker);
    zactor_t *w1 = s_worker_new (endpoint, "echo", "w1", 4);
    zactor_t *w2 = s_worker_new (endpoint, "echo", "w2", 4);
    pd_client_t *client = pd_client_new (endpoint);
    assert_non_null (client);

    uint64_t ids[S_IN_FLIGHT];
    for (int i = 0; i < S_IN_FLIGHT; i++) {
        char body[16];
        int size = snprintf (body, sizeof (body), "%d", i);
        assert_int_equal (pd_client_send (client, "echo", s_header, sizeof (s_header), body,
                                          (size_t)size, S_WAIT_MS, &ids[i]),
                          PD_OK);
        if (i > 0)
            assert_true (ids[i] == ids[i - 1] + 1);
    }
    assert_true (ids[0] == 1);

    bool seen[S_IN_FLIGHT] = {false};
    for (int n = 0; n < S_IN_FLIGHT; n++) {
        uint64_t id = 0;
        int status = -1;
        uint8_t *body = NULL;
        size_t size = 0;
        assert_int_equal (pd_client_recv (client, &id, &status, &body, &size, S_WAIT_MS), PD_OK);
        assert_int_equal (status, PD_OK);
        assert_true (id >= ids[0] && id <= ids[S_IN_FLIGHT - 1]);
        int index = (int)(id - ids[0]);
        assert_false (seen[index]);
        seen[index] = true;
        char expected[16];
        int expected_size = snprintf (expected, sizeof (expected), "%d", index);
        //  "wN:<index>"
        assert_int_equal (size, 3 + (size_t)expected_size);
        assert_memory_equal (body + 3, expected, (size_t)expected_size);
        free (body);
    }
    //  Nothing more comes
    assert_int_equal (pd_client_recv (client, NULL, NULL, NULL, NULL, 2 * S_HEARTBEAT_MS),
                      PD_E_TIMEOUT);

    pd_client_destroy (&client);
    zactor_destroy (&w1);
    zactor_destroy (&w2);
    pd_broker_destroy (&broker);
}

//  --------------------------------------------------------------------------
//  A worker that goes silent while it holds a request is busy, not dead (it
//  sends no heartbeats while a handler runs): its request is answered
//  timeout at the deadline, not failed early while it may still commit;
//  once nothing it holds is awaited, the silent worker is expired

static void
test_silent_worker (void **state)
{
    char endpoint[S_ENDPOINT_MAX];
    pd_broker_t *broker = s_broker_new (endpoint, NULL, 0, S_HEARTBEAT_MS);
    assert_non_null (broker);
    zactor_t *worker = s_worker_new (endpoint, "echo", "w1", 1);
    s_worker_command (worker, "SILENT");
    pd_client_t *client = pd_client_new (endpoint);
    assert_non_null (client);

    //  Longer than liveness x heartbeat (800 ms), so the silence is seen
    int timeout = 2 * S_LIVENESS * S_HEARTBEAT_MS;
    int64_t start = zclock_mono ();
    uint64_t id;
    assert_int_equal (
        pd_client_send (client, "echo", s_header, sizeof (s_header), "x", 1, timeout, &id), PD_OK);
    char *took = s_expect (worker, S_WAIT_MS);
    assert_non_null (took);
    assert_string_equal (took, "TOOK");
    free (took);

    uint64_t reply_id = 0;
    int status = PD_OK;
    uint8_t *body = NULL;
    size_t size = 0;
    assert_int_equal (pd_client_recv (client, &reply_id, &status, &body, &size, S_WAIT_MS), PD_OK);
    int64_t elapsed = zclock_mono () - start;
    assert_true (reply_id == id);
    assert_int_equal (status, PD_E_TIMEOUT);
    s_assert_error_body (body, size, "timeout");
    free (body);
    //  Not before the deadline (the broker's clock: within a tick of it)
    assert_true (elapsed >= timeout - S_HEARTBEAT_MS);

    //  Then, silent and holding nothing awaited, it is expired
    pd_broker_stats_t stats = s_stats (broker);
    int64_t deadline = zclock_mono () + S_WAIT_MS;
    while (stats.expired_workers == 0 && zclock_mono () < deadline) {
        zclock_sleep (S_HEARTBEAT_MS); //  waiting for the broker's ticks
        stats = s_stats (broker);
    }
    assert_int_equal (stats.expired_workers, 1);
    assert_int_equal (stats.timeouts, 1);
    assert_int_equal (stats.unavailable, 0);
    assert_int_equal (stats.workers, 0);

    pd_client_destroy (&client);
    zactor_destroy (&worker);
    pd_broker_destroy (&broker);
}

//  --------------------------------------------------------------------------
//  A service nobody serves: PD_E_UNAVAILABLE by the deadline

static void
test_missing_service (void **state)
{
    char endpoint[S_ENDPOINT_MAX];
    pd_broker_t *broker = s_broker_new (endpoint, NULL, 0, S_HEARTBEAT_MS);
    assert_non_null (broker);
    pd_client_t *client = pd_client_new (endpoint);
    assert_non_null (client);

    //  The broker's own answer, received with pd_client_recv
    int timeout = 300;
    int64_t start = zclock_mono ();
    uint64_t id;
    assert_int_equal (
        pd_client_send (client, "nobody", s_header, sizeof (s_header), NULL, 0, timeout, &id),
        PD_OK);
    uint64_t reply_id = 0;
    int status = PD_OK;
    uint8_t *body = NULL;
    size_t size = 0;
    assert_int_equal (pd_client_recv (client, &reply_id, &status, &body, &size, timeout + 1000),
                      PD_OK);
    assert_true (zclock_mono () - start < timeout + 1000);
    assert_true (reply_id == id);
    assert_int_equal (status, PD_E_UNAVAILABLE);
    s_assert_error_body (body, size, "service_unavailable");
    free (body);

    //  pd_client_request leaves the broker a margin, so it gets the verdict too
    start = zclock_mono ();
    int rc = pd_client_request (client, "nobody", s_header, sizeof (s_header), NULL, 0, timeout,
                                &body, &size);
    assert_int_equal (rc, PD_E_UNAVAILABLE);
    assert_true (zclock_mono () - start <= timeout + S_HEARTBEAT_MS);
    s_assert_error_body (body, size, "service_unavailable");
    free (body);

    pd_broker_stats_t stats = s_stats (broker);
    assert_int_equal (stats.requests, 2);
    assert_int_equal (stats.unavailable, 2);
    assert_int_equal (stats.queued, 0);

    pd_client_destroy (&client);
    pd_broker_destroy (&broker);
}

//  --------------------------------------------------------------------------
//  No broker at all: the request cannot be placed (ZMQ_IMMEDIATE), and the
//  client says so within its deadline

static void
test_client_alone (void **state)
{
    //  An ipc path nobody binds (a freed tcp port may be taken by another
    //  test's listener meanwhile)
    char endpoint[S_ENDPOINT_MAX];
    snprintf (endpoint, sizeof (endpoint), "ipc:///tmp/pd-test-no-broker-%d.sock", (int)getpid ());
    pd_client_t *client = pd_client_new (endpoint);
    assert_non_null (client);
    uint8_t *reply = (uint8_t *)"junk";
    size_t size = 1;
    int64_t start = zclock_mono ();
    int rc = pd_client_request (client, "echo", NULL, 0, NULL, 0, 200, &reply, &size);
    int64_t elapsed = zclock_mono () - start;
    assert_int_equal (rc, PD_E_UNAVAILABLE);
    assert_null (reply);
    assert_int_equal (size, 0);
    assert_true (elapsed < 200 + 1000);

    //  Bad arguments
    assert_int_equal (pd_client_send (client, "", NULL, 0, NULL, 0, 100, NULL), PD_E_BAD_REQUEST);
    assert_int_equal (pd_client_send (client, NULL, NULL, 0, NULL, 0, 100, NULL), PD_E_BAD_REQUEST);
    assert_int_equal (pd_client_send (client, "echo", NULL, 0, NULL, 0, 0, NULL), PD_E_BAD_REQUEST);
    assert_int_equal (
        pd_client_send (client, "echo", NULL, 0, NULL, 0, PD_PROTO_MAX_TIMEOUT_MS + 1, NULL),
        PD_E_BAD_REQUEST);
    assert_int_equal (pd_client_send (client, "echo", NULL, 5, NULL, 0, 100, NULL),
                      PD_E_BAD_REQUEST);
    assert_int_equal (
        pd_client_send (client, "echo", "x", PD_PROTO_MAX_MSG_SIZE + 1, NULL, 0, 100, NULL),
        PD_E_TOO_LARGE);
    char service[PD_PROTO_MAX_SERVICE + 2];
    memset (service, 's', sizeof (service) - 1);
    service[sizeof (service) - 1] = 0;
    assert_int_equal (pd_client_send (client, service, NULL, 0, NULL, 0, 100, NULL),
                      PD_E_BAD_REQUEST);
    assert_null (pd_client_new ("not an endpoint"));
    assert_null (pd_worker_new ("not an endpoint", "echo", NULL));
    assert_null (pd_worker_new (endpoint, "$broker.ping", NULL));
    assert_null (pd_worker_new (endpoint, "two words", NULL));
    pd_client_destroy (&client);
}

//  --------------------------------------------------------------------------
//  A full queue answers PD_E_BUSY at once

static void
test_queue_full (void **state)
{
    char endpoint[S_ENDPOINT_MAX];
    pd_broker_t *broker = s_broker_new (endpoint, NULL, 2, S_HEARTBEAT_MS);
    assert_non_null (broker);
    pd_client_t *client = pd_client_new (endpoint);
    assert_non_null (client);

    int timeout = 1000;
    uint64_t ids[3];
    int64_t start = zclock_mono ();
    for (int i = 0; i < 3; i++)
        assert_int_equal (
            pd_client_send (client, "slow", s_header, sizeof (s_header), NULL, 0, timeout, &ids[i]),
            PD_OK);
    uint64_t id = 0;
    int status = PD_OK;
    uint8_t *body = NULL;
    size_t size = 0;
    assert_int_equal (pd_client_recv (client, &id, &status, &body, &size, timeout), PD_OK);
    assert_true (zclock_mono () - start < timeout / 2);
    assert_true (id == ids[2]);
    assert_int_equal (status, PD_E_BUSY);
    s_assert_error_body (body, size, "busy");
    free (body);

    pd_broker_stats_t stats = s_stats (broker);
    assert_int_equal (stats.busy, 1);
    assert_int_equal (stats.queued, 2);

    //  The two queued ones end at their deadline
    for (int i = 0; i < 2; i++) {
        assert_int_equal (pd_client_recv (client, &id, &status, NULL, NULL, timeout + 1000), PD_OK);
        assert_true (id == ids[i]);
        assert_int_equal (status, PD_E_UNAVAILABLE);
    }
    assert_true (zclock_mono () - start >= timeout);
    stats = s_stats (broker);
    assert_int_equal (stats.queued, 0);
    assert_int_equal (stats.unavailable, 2);

    pd_client_destroy (&client);
    pd_broker_destroy (&broker);
}

//  --------------------------------------------------------------------------
//  A worker gets at most its credit of requests at once

static void
test_credit (void **state)
{
    char endpoint[S_ENDPOINT_MAX];
    pd_broker_t *broker = s_broker_new (endpoint, NULL, 0, S_HEARTBEAT_MS);
    assert_non_null (broker);
    zactor_t *worker = s_worker_new (endpoint, "echo", "w1", 2);
    s_worker_command (worker, "HOLD");
    pd_client_t *client = pd_client_new (endpoint);
    assert_non_null (client);

    uint64_t ids[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal (pd_client_send (client, "echo", s_header, sizeof (s_header), "c", 1,
                                          S_WAIT_MS, &ids[i]),
                          PD_OK);
    //  Two are held at once; the third waits at the broker
    for (int i = 0; i < 2; i++) {
        char *held = s_expect (worker, S_WAIT_MS);
        assert_non_null (held);
        assert_string_equal (held, "HELD");
        free (held);
    }
    assert_true (s_wait_counter (broker, S_QUEUED, 1));
    char *more = s_expect (worker, 2 * S_HEARTBEAT_MS);
    assert_null (more);

    //  Released, all three are answered
    s_worker_command (worker, "RELEASE");
    bool seen[3] = {false};
    for (int n = 0; n < 3; n++) {
        uint64_t id = 0;
        int status = -1;
        assert_int_equal (pd_client_recv (client, &id, &status, NULL, NULL, S_WAIT_MS), PD_OK);
        assert_int_equal (status, PD_OK);
        assert_true (id >= ids[0] && id <= ids[2]);
        assert_false (seen[id - ids[0]]);
        seen[id - ids[0]] = true;
    }
    assert_int_equal (s_stats (broker).queued, 0);

    pd_client_destroy (&client);
    zactor_destroy (&worker);
    pd_broker_destroy (&broker);
}

//  --------------------------------------------------------------------------
//  A worker alive but late: the client gets PD_E_TIMEOUT, the late reply
//  is dropped

static void
test_late_reply_dropped (void **state)
{
    char endpoint[S_ENDPOINT_MAX];
    pd_broker_t *broker = s_broker_new (endpoint, NULL, 0, S_HEARTBEAT_MS);
    assert_non_null (broker);
    zactor_t *worker = s_worker_new (endpoint, "echo", "w1", 1);
    s_worker_command (worker, "HOLD");
    pd_client_t *client = pd_client_new (endpoint);
    assert_non_null (client);

    //  The worker holds the request but stays alive (it heartbeats)
    int timeout = 3 * S_HEARTBEAT_MS;
    uint64_t id;
    assert_int_equal (
        pd_client_send (client, "echo", s_header, sizeof (s_header), "late", 4, timeout, &id),
        PD_OK);
    char *held = s_expect (worker, S_WAIT_MS);
    assert_non_null (held);
    assert_string_equal (held, "HELD");
    free (held);
    uint64_t reply_id = 0;
    int status = PD_OK;
    uint8_t *body = NULL;
    size_t size = 0;
    assert_int_equal (pd_client_recv (client, &reply_id, &status, &body, &size, S_WAIT_MS), PD_OK);
    assert_true (reply_id == id);
    assert_int_equal (status, PD_E_TIMEOUT);
    s_assert_error_body (body, size, "timeout");
    free (body);

    //  Now the worker replies late, then serves the next request. The late
    //  reply would reach the client first (one worker, one client, in
    //  order), so the first reply the client sees must be the new one.
    s_worker_command (worker, "RELEASE");
    uint64_t next_id;
    assert_int_equal (pd_client_send (client, "echo", s_header, sizeof (s_header), "next", 4,
                                      S_WAIT_MS, &next_id),
                      PD_OK);
    assert_int_equal (pd_client_recv (client, &reply_id, &status, &body, &size, S_WAIT_MS), PD_OK);
    assert_true (reply_id == next_id);
    assert_int_equal (status, PD_OK);
    assert_int_equal (size, strlen ("w1:next"));
    assert_memory_equal (body, "w1:next", size);
    free (body);

    pd_broker_stats_t stats = s_stats (broker);
    assert_int_equal (stats.timeouts, 1);
    assert_int_equal (stats.replies, 1);
    assert_int_equal (stats.expired_workers, 0);

    pd_client_destroy (&client);
    zactor_destroy (&worker);
    pd_broker_destroy (&broker);
}

//  --------------------------------------------------------------------------
//  Garbage is dropped and counted; the broker keeps serving

static void
s_send_frames (zsock_t *sock, int count, ...)
{
    va_list args;
    va_start (args, count);
    zmsg_t *msg = zmsg_new ();
    for (int i = 0; i < count; i++) {
        const char *data = va_arg (args, const char *);
        size_t size = va_arg (args, size_t);
        zmsg_addmem (msg, data, size);
    }
    va_end (args);
    assert_int_equal (zmsg_send (&msg, sock), 0);
}

#define S_SIG     PD_PROTO_SIGNATURE, (size_t)4
#define S_CMD(c)  c, (size_t)1
#define S_STR(s)  s, strlen (s)
#define S_U16(s)  s, (size_t)2
#define S_ID      "\0\0\0\0\0\0\0\x07", (size_t)8
#define S_TIMEOUT "\0\0\x03\xE8", (size_t)4
#define S_EMPTY   "", (size_t)0

static void
test_malformed_dropped (void **state)
{
    char endpoint[S_ENDPOINT_MAX];
    pd_broker_t *broker = s_broker_new (endpoint, NULL, 0, S_HEARTBEAT_MS);
    assert_non_null (broker);
    zsock_t *raw = zsock_new_dealer (endpoint);
    assert_non_null (raw);

    int dropped = 0;
    s_send_frames (raw, 1, S_STR ("hello"));
    dropped++;
    s_send_frames (raw, 1, S_SIG);
    dropped++;
    s_send_frames (raw, 2, S_STR ("PDP2"), S_CMD ("\x02"));
    dropped++;
    s_send_frames (raw, 2, S_SIG, S_CMD ("\x63"));
    dropped++;
    s_send_frames (raw, 2, S_SIG, S_STR ("\x02\x02"));
    dropped++;
    //  REQUEST: too few frames, a 3-byte id, an empty or spaced service,
    //  too many frames
    s_send_frames (raw, 4, S_SIG, S_CMD ("\x02"), S_STR ("echo"), S_ID);
    dropped++;
    s_send_frames (raw, 7, S_SIG, S_CMD ("\x02"), S_STR ("echo"), S_STR ("abc"), S_TIMEOUT, S_EMPTY,
                   S_EMPTY);
    dropped++;
    s_send_frames (raw, 7, S_SIG, S_CMD ("\x02"), S_EMPTY, S_ID, S_TIMEOUT, S_EMPTY, S_EMPTY);
    dropped++;
    s_send_frames (raw, 7, S_SIG, S_CMD ("\x02"), S_STR ("a b"), S_ID, S_TIMEOUT, S_EMPTY, S_EMPTY);
    dropped++;
    s_send_frames (raw, 8, S_SIG, S_CMD ("\x02"), S_STR ("echo"), S_ID, S_TIMEOUT, S_EMPTY, S_EMPTY,
                   S_EMPTY);
    dropped++;
    //  READY for a reserved name, a REPLY and a HEARTBEAT from a stranger:
    //  each answered DISCONNECT (the heartbeat is not counted as dropped)
    s_send_frames (raw, 4, S_SIG, S_CMD ("\x01"), S_STR ("$evil"), S_U16 ("\0\x01"));
    dropped++;
    s_send_frames (raw, 6, S_SIG, S_CMD ("\x03"), S_STR ("route"), S_ID, S_U16 ("\0\0"), S_EMPTY);
    dropped++;
    s_send_frames (raw, 2, S_SIG, S_CMD ("\x04"));
    //  Then a good ping on the same connection: its answer comes after all
    //  of the above was handled
    s_send_frames (raw, 7, S_SIG, S_CMD ("\x02"), S_STR (PD_PROTO_SERVICE_PING), S_ID, S_TIMEOUT,
                   S_EMPTY, S_EMPTY);

    int disconnects = 0;
    bool replied = false;
    zpoller_t *poller = zpoller_new (raw, NULL);
    int64_t deadline = zclock_mono () + S_WAIT_MS;
    while (!replied && zclock_mono () < deadline) {
        if (!zpoller_wait (poller, (int)(deadline - zclock_mono ())))
            break;
        zmsg_t *msg = zmsg_recv (raw);
        int command = pd_proto_take_command (msg);
        if (command == PD_PDP_DISCONNECT)
            disconnects++;
        else if (command == PD_PDP_REPLY) {
            uint64_t id;
            uint16_t status;
            assert_int_equal (zmsg_size (msg), 3);
            assert_int_equal (pd_proto_get_u64 (zmsg_first (msg), &id), 0);
            assert_int_equal (pd_proto_get_u16 (zmsg_next (msg), &status), 0);
            assert_true (id == 7);
            assert_int_equal (status, 0);
            replied = true;
        }
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    assert_true (replied);
    assert_int_equal (disconnects, 3);
    pd_broker_stats_t stats = s_stats (broker);
    assert_int_equal (stats.dropped, dropped);
    assert_int_equal (stats.requests, 1);

    //  A frame over ZMQ_MAXMSGSIZE closes that connection and never arrives
    size_t big_size = PD_PROTO_MAX_MSG_SIZE + 1;
    char *big = (char *)calloc (1, big_size);
    assert_non_null (big);
    s_send_frames (raw, 7, S_SIG, S_CMD ("\x02"), S_STR (PD_PROTO_SERVICE_PING), S_ID, S_TIMEOUT,
                   S_EMPTY, big, big_size);
    free (big);
    poller = zpoller_new (raw, NULL);
    assert_null (zpoller_wait (poller, 5 * S_HEARTBEAT_MS));
    zpoller_destroy (&poller);

    //  And others are still served
    pd_client_t *client = pd_client_new (endpoint);
    assert_non_null (client);
    assert_int_equal (
        pd_client_request (client, PD_PROTO_SERVICE_PING, NULL, 0, NULL, 0, S_WAIT_MS, NULL, NULL),
        PD_OK);
    assert_int_equal (s_stats (broker).requests, 2);

    pd_client_destroy (&client);
    zsock_destroy (&raw);
    pd_broker_destroy (&broker);
}

//  --------------------------------------------------------------------------
//  A worker finds a new broker on the same endpoint by itself

static void
test_worker_reconnects (void **state)
{
    char endpoint[S_ENDPOINT_MAX];
    pd_broker_t *broker = s_broker_new (endpoint, NULL, 0, S_HEARTBEAT_MS);
    assert_non_null (broker);
    zactor_t *worker = s_worker_new (endpoint, "echo", "w1", 1);
    pd_client_t *client = pd_client_new (endpoint);
    assert_non_null (client);

    uint8_t *reply = NULL;
    size_t size = 0;
    assert_int_equal (pd_client_request (client, "echo", s_header, sizeof (s_header), "one", 3,
                                         S_WAIT_MS, &reply, &size),
                      PD_OK);
    assert_int_equal (size, strlen ("w1:one"));
    assert_memory_equal (reply, "w1:one", size);
    free (reply);

    pd_broker_destroy (&broker);
    broker = s_broker_restart (endpoint);
    assert_non_null (broker);

    //  The same worker thread serves it once it registered again. A
    //  request sent while the client's old connection is being torn down
    //  can be lost (ZeroMQ does not redeliver across connections): like any
    //  caller, the test tries again after a deadline.
    int rc = PD_E_TIMEOUT;
    for (int attempt = 0; attempt < 5 && rc == PD_E_TIMEOUT; attempt++)
        rc = pd_client_request (client, "echo", s_header, sizeof (s_header), "two", 3,
                                S_WAIT_MS / 5, &reply, &size);
    assert_int_equal (rc, PD_OK);
    assert_int_equal (size, strlen ("w1:two"));
    assert_memory_equal (reply, "w1:two", size);
    free (reply);
    assert_int_equal (s_stats (broker).workers, 1);

    pd_client_destroy (&client);
    zactor_destroy (&worker);
    pd_broker_destroy (&broker);
}

//  --------------------------------------------------------------------------
//  The built-in services

static void
test_builtin_services (void **state)
{
    char endpoint[S_ENDPOINT_MAX];
    pd_broker_t *broker = s_broker_new (endpoint, NULL, 0, S_HEARTBEAT_MS);
    assert_non_null (broker);
    pd_client_t *client = pd_client_new (endpoint);
    assert_non_null (client);

    uint8_t *reply = NULL;
    size_t size = 0;
    assert_int_equal (pd_client_request (client, PD_PROTO_SERVICE_PING, NULL, 0, NULL, 0, S_WAIT_MS,
                                         &reply, &size),
                      PD_OK);
    assert_int_equal (size, 1);
    assert_int_equal (reply[0], 0x80); //  msgpack {}
    free (reply);

    //  A reply left unread: pd_client_request below must skip it
    assert_int_equal (
        pd_client_send (client, PD_PROTO_SERVICE_PING, NULL, 0, NULL, 0, S_WAIT_MS, NULL), PD_OK);

    assert_int_equal (pd_client_request (client, PD_PROTO_SERVICE_STATS, NULL, 0, NULL, 0,
                                         S_WAIT_MS, &reply, &size),
                      PD_OK);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    assert_int_equal (msgpack_unpack_next (&unpacked, (const char *)reply, size, &offset),
                      MSGPACK_UNPACK_SUCCESS);
    assert_int_equal (unpacked.data.type, MSGPACK_OBJECT_MAP);
    assert_int_equal (unpacked.data.via.map.size, 11);
    const char *names[] = {"requests", "replies",         "timeouts", "unavailable",
                           "busy",     "expired_workers", "dropped",  "published",
                           "refused",  "workers",         "queued"};
    for (size_t i = 0; i < sizeof (names) / sizeof (names[0]); i++) {
        msgpack_object *value = s_map_get (&unpacked.data, names[i]);
        assert_non_null (value);
        assert_int_equal (value->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    }
    //  Taken while answering the third request, before its own reply
    assert_int_equal (s_map_get (&unpacked.data, "requests")->via.u64, 3);
    assert_int_equal (s_map_get (&unpacked.data, "replies")->via.u64, 2);
    msgpack_unpacked_destroy (&unpacked);
    free (reply);

    assert_int_equal (
        pd_client_request (client, "$broker.nothing", NULL, 0, NULL, 0, S_WAIT_MS, &reply, &size),
        PD_E_UNAVAILABLE);
    s_assert_error_body (reply, size, "service_unavailable");
    free (reply);

    pd_broker_stats_t stats = s_stats (broker);
    assert_int_equal (stats.requests, 4);
    assert_int_equal (stats.replies, 3);
    assert_int_equal (stats.unavailable, 1);

    pd_client_destroy (&client);
    pd_broker_destroy (&broker);
}

//  --------------------------------------------------------------------------
//  PUBLISH reaches subscribers of the stream socket

static void
test_publish (void **state)
{
    char endpoint[S_ENDPOINT_MAX];
    char stream[S_ENDPOINT_MAX];
    //  Default heartbeats: this test's worker does not call pd_worker_wait
    pd_broker_t *broker = s_broker_new (endpoint, stream, 0, 0);
    assert_non_null (broker);
    zsock_t *sub = zsock_new_sub (stream, "audit");
    assert_non_null (sub);
    pd_worker_t *worker = pd_worker_new (endpoint, "events", NULL);
    assert_non_null (worker);
    const uint8_t event[] = {0x81, 0xA1, 'a', 0x00, 0xFF};

    //  A subscription takes a moment to reach the XPUB: publish until one
    //  event arrives
    zpoller_t *poller = zpoller_new (sub, NULL);
    zmsg_t *msg = NULL;
    uint64_t seq = 0;
    while (!msg && seq < 50) {
        seq++;
        assert_int_equal (pd_worker_publish (worker, "audit", seq, event, sizeof (event)), PD_OK);
        if (zpoller_wait (poller, S_HEARTBEAT_MS))
            msg = zmsg_recv (sub);
    }
    assert_non_null (msg);
    assert_int_equal (zmsg_size (msg), 3);
    assert_true (zframe_streq (zmsg_first (msg), "audit"));
    uint64_t got;
    assert_int_equal (pd_proto_get_u64 (zmsg_next (msg), &got), 0);
    assert_true (got >= 1 && got <= seq);
    zframe_t *frame = zmsg_next (msg);
    assert_int_equal (zframe_size (frame), sizeof (event));
    assert_memory_equal (zframe_data (frame), event, sizeof (event));
    zmsg_destroy (&msg);

    //  Once subscribed, the next one arrives as published
    assert_int_equal (pd_worker_publish (worker, "audit", 1000, event, sizeof (event)), PD_OK);
    //  (skipping those of the first loop still on their way)
    while (zpoller_wait (poller, S_WAIT_MS)) {
        msg = zmsg_recv (sub);
        zmsg_first (msg);
        int rc = pd_proto_get_u64 (zmsg_next (msg), &got);
        zmsg_destroy (&msg);
        assert_int_equal (rc, 0);
        if (got == 1000)
            break;
    }
    assert_true (got == 1000);
    assert_int_equal (pd_worker_publish (worker, "bad stream", 1, event, sizeof (event)),
                      PD_E_BAD_REQUEST);
    assert_true (s_stats (broker).published >= 2);
    zpoller_destroy (&poller);

    pd_worker_destroy (&worker);
    pd_worker_destroy (&worker); //  idempotent
    zsock_destroy (&sub);
    pd_broker_destroy (&broker);
}

//  --------------------------------------------------------------------------
//  With cluster keys: CURVE, the allow-list, permissions by role

//  A cluster made the way partnerctl makes one, and the keys of its members
static struct {
    char dir[64];
    pd_keys_cluster_t *cluster;
    pd_keys_pair_t gateway; //  role gateway
    pd_keys_pair_t actor;   //  role actor, serves partners and stream
    pd_keys_pair_t tail;    //  role tail
    pd_keys_pair_t unknown; //  not in the allow-list, knows the broker's key
} s_keys;

static void
s_member (const char *name, pd_keys_role_t role, const char *services, pd_keys_pair_t *pair)
{
    char error[PD_KEYS_ERROR_MAX], path[256];
    assert_int_equal (pd_keys_cluster_add (s_keys.dir, name, role, services, path, sizeof (path),
                                           error, sizeof (error)),
                      0);
    assert_int_equal (pd_keys_pair_load (pair, path, true, error, sizeof (error)), 0);
    unlink (path);
}

static int
s_cluster_setup (void **state)
{
    char error[PD_KEYS_ERROR_MAX];
    assert_int_equal (pd_test_dir_make ("test_pd_broker", s_keys.dir, sizeof (s_keys.dir)), 0);
    assert_int_equal (pd_keys_cluster_init (s_keys.dir, error, sizeof (error)), 0);
    s_member ("gw", PD_KEYS_GATEWAY, NULL, &s_keys.gateway);
    s_member ("act", PD_KEYS_ACTOR, "partners,stream", &s_keys.actor);
    s_member ("ops", PD_KEYS_TAIL, NULL, &s_keys.tail);
    s_keys.cluster = pd_keys_cluster_load (s_keys.dir, error, sizeof (error));
    assert_non_null (s_keys.cluster);
    assert_int_equal (pd_keys_pair_generate (&s_keys.unknown), 0);
    memcpy (s_keys.unknown.server_key, pd_keys_cluster_pair (s_keys.cluster)->public_key,
            sizeof (s_keys.unknown.server_key));
    return 0;
}

static int
s_cluster_teardown (void **state)
{
    pd_test_dir_remove (s_keys.dir);
    pd_keys_cluster_destroy (&s_keys.cluster);
    return 0;
}

//  A request with these keys (NULL: NULL security): its status and reply
static int
s_curve_request (const char *endpoint, const pd_keys_pair_t *keys, const char *service,
                 int timeout_ms, uint8_t **reply, size_t *size)
{
    pd_client_t *client = pd_client_new_curve (endpoint, keys);
    assert_non_null (client);
    int rc = pd_client_request (client, service, s_header, sizeof (s_header), "hi", 2, timeout_ms,
                                reply, size);
    pd_client_destroy (&client);
    return rc;
}

//  Usage: an actor key serves, a gateway key calls
static void
test_curve_round_trip (void **state)
{
    char endpoint[S_ENDPOINT_MAX];
    pd_broker_t *broker = s_broker_new_cluster (endpoint, NULL, 0, S_HEARTBEAT_MS, s_keys.cluster);
    assert_non_null (broker);
    zactor_t *worker = s_worker_new_curve (endpoint, "partners", "w", &s_keys.actor);
    uint8_t *reply = NULL;
    size_t size = 0;
    assert_int_equal (
        s_curve_request (endpoint, &s_keys.gateway, "partners", S_WAIT_MS, &reply, &size), PD_OK);
    assert_int_equal (size, strlen ("w:hi"));
    assert_memory_equal (reply, "w:hi", size);
    free (reply);
    assert_int_equal (s_stats (broker).refused, 0);
    zactor_destroy (&worker);
    pd_broker_destroy (&broker);
}

//  An unknown key's handshake is refused (counted); it and a NULL-security
//  client get no reply, though a worker is there
static void
test_curve_unknown_key_refused (void **state)
{
    char endpoint[S_ENDPOINT_MAX];
    pd_broker_t *broker = s_broker_new_cluster (endpoint, NULL, 0, S_HEARTBEAT_MS, s_keys.cluster);
    assert_non_null (broker);
    zactor_t *worker = s_worker_new_curve (endpoint, "partners", "w", &s_keys.actor);
    assert_true (s_wait_counter (broker, S_WORKERS, 1));

    pd_client_t *client = pd_client_new_curve (endpoint, &s_keys.unknown);
    assert_non_null (client);
    assert_true (s_wait_counter (broker, S_REFUSED, 1));
    assert_int_not_equal (pd_client_request (client, "partners", s_header, sizeof (s_header), "hi",
                                             2, S_HEARTBEAT_MS, NULL, NULL),
                          PD_OK);
    pd_client_destroy (&client);
    assert_int_not_equal (s_curve_request (endpoint, NULL, "partners", S_HEARTBEAT_MS, NULL, NULL),
                          PD_OK);
    //  The unknown key cannot register either
    zsock_t *rogue = pd_test_peer_ready (endpoint, &s_keys.unknown, "auth");
    assert_non_null (rogue);
    assert_true (s_wait_counter (broker, S_REFUSED, 2));
    assert_int_equal (pd_test_peer_command (rogue, 0), -1);
    zsock_destroy (&rogue);
    pd_broker_stats_t stats = s_stats (broker);
    assert_int_equal (stats.requests, 0);
    assert_int_equal (stats.workers, 1);
    zactor_destroy (&worker);
    pd_broker_destroy (&broker);
}

//  A tail key calls only `stream` and serves nothing; an actor key serves
//  only its services and calls nothing; a gateway key serves nothing
static void
test_curve_roles (void **state)
{
    char endpoint[S_ENDPOINT_MAX];
    pd_broker_t *broker = s_broker_new_cluster (endpoint, NULL, 0, S_HEARTBEAT_MS, s_keys.cluster);
    assert_non_null (broker);
    zactor_t *partners = s_worker_new_curve (endpoint, "partners", "p", &s_keys.actor);
    zactor_t *stream = s_worker_new_curve (endpoint, "stream", "s", &s_keys.actor);
    assert_true (s_wait_counter (broker, S_WORKERS, 2));

    uint8_t *reply = NULL;
    size_t size = 0;
    assert_int_equal (
        s_curve_request (endpoint, &s_keys.tail, "partners", S_WAIT_MS, &reply, &size),
        PD_E_FORBIDDEN);
    s_assert_error_body (reply, size, "forbidden");
    free (reply);
    assert_int_equal (s_curve_request (endpoint, &s_keys.tail, "stream", S_WAIT_MS, &reply, &size),
                      PD_OK);
    assert_memory_equal (reply, "s:hi", size);
    free (reply);
    assert_int_equal (
        s_curve_request (endpoint, &s_keys.actor, PD_PROTO_SERVICE_PING, S_WAIT_MS, NULL, NULL),
        PD_E_FORBIDDEN);
    assert_int_equal (s_stats (broker).refused, 2);

    //  READY refused: DISCONNECT, and no worker more
    const struct {
        const pd_keys_pair_t *keys;
        const char *service;
    } refused[] = {{&s_keys.tail, "auth"}, {&s_keys.actor, "auth"}, {&s_keys.gateway, "partners"}};
    for (size_t i = 0; i < sizeof (refused) / sizeof (refused[0]); i++) {
        zsock_t *sock = pd_test_peer_ready (endpoint, refused[i].keys, refused[i].service);
        assert_non_null (sock);
        assert_int_equal (pd_test_peer_command (sock, S_WAIT_MS), PD_PDP_DISCONNECT);
        zsock_destroy (&sock);
    }
    pd_broker_stats_t stats = s_stats (broker);
    assert_int_equal (stats.refused, 5);
    assert_int_equal (stats.workers, 2);
    zactor_destroy (&stream);
    zactor_destroy (&partners);
    pd_broker_destroy (&broker);
}

//  A peer trusts nothing it omits: a hand-written CURVE client with a tail
//  key that leaves the Socket-Type property out (libzmq always sends it)
//  is still that tail key: READY auth gets DISCONNECT, a call outside its
//  role PD_E_FORBIDDEN
static void
test_curve_peer_without_socket_type (void **state)
{
    char endpoint[S_ENDPOINT_MAX];
    pd_broker_t *broker = s_broker_new_cluster (endpoint, NULL, 0, S_HEARTBEAT_MS, s_keys.cluster);
    assert_non_null (broker);
    int port = atoi (strrchr (endpoint, ':') + 1);
    const char *server = pd_keys_cluster_pair (s_keys.cluster)->public_key;
    uint8_t parts[PD_TEST_ZMTP_MAX_PARTS][PD_TEST_ZMTP_MAX_PART];
    size_t sizes[PD_TEST_ZMTP_MAX_PARTS];
    static const uint8_t empty_map = 0x80;

    //  A call (the broker's own ping, which only gateways may call)
    pd_test_zmtp_t *peer =
        pd_test_zmtp_new (port, s_keys.tail.public_key, s_keys.tail.secret_key, server, false);
    assert_non_null (peer);
    uint8_t command = PD_PDP_REQUEST, id[8] = {0, 0, 0, 0, 0, 0, 0, 42},
            timeout[4] = {0, 0, 0x07, 0xD0};
    const void *request[] = {PD_PROTO_SIGNATURE, &command,  PD_PROTO_SERVICE_PING, id, timeout,
                             &empty_map,         &empty_map};
    size_t request_sizes[] = {4, 1, strlen (PD_PROTO_SERVICE_PING), 8, 4, 1, 1};
    assert_int_equal (pd_test_zmtp_send (peer, request, request_sizes, 7), 0);
    //  REPLY: sig, REPLY, request_id, status, body
    assert_int_equal (pd_test_zmtp_recv (peer, parts, sizes, PD_TEST_ZMTP_MAX_PARTS, S_WAIT_MS), 5);
    assert_int_equal (parts[1][0], PD_PDP_REPLY);
    assert_int_equal ((parts[3][0] << 8) | parts[3][1], pd_status_to_wire (PD_E_FORBIDDEN));
    pd_test_zmtp_destroy (&peer);

    //  A READY for a service it may not serve
    peer = pd_test_zmtp_new (port, s_keys.tail.public_key, s_keys.tail.secret_key, server, false);
    assert_non_null (peer);
    uint8_t ready = PD_PDP_READY, credit[2] = {0, 1};
    const void *offer[] = {PD_PROTO_SIGNATURE, &ready, "auth", credit};
    size_t offer_sizes[] = {4, 1, 4, 2};
    assert_int_equal (pd_test_zmtp_send (peer, offer, offer_sizes, 4), 0);
    assert_int_equal (pd_test_zmtp_recv (peer, parts, sizes, PD_TEST_ZMTP_MAX_PARTS, S_WAIT_MS), 2);
    assert_int_equal (parts[1][0], PD_PDP_DISCONNECT);
    pd_test_zmtp_destroy (&peer);
    assert_int_equal (s_stats (broker).workers, 0);

    //  And an unknown key does not get through the handshake at all
    assert_null (pd_test_zmtp_new (port, s_keys.unknown.public_key, s_keys.unknown.secret_key,
                                   server, false));
    pd_broker_destroy (&broker);
}

//  The stream socket admits the roles that subscribe (tail), not others
static void
test_curve_stream_socket (void **state)
{
    char endpoint[S_ENDPOINT_MAX], stream[S_ENDPOINT_MAX];
    pd_broker_t *broker =
        s_broker_new_cluster (endpoint, stream, 0, S_HEARTBEAT_MS, s_keys.cluster);
    assert_non_null (broker);
    zsock_t *actor_sub = zsock_new (ZMQ_SUB);
    pd_keys_pair_apply (&s_keys.actor, actor_sub);
    zsock_set_subscribe (actor_sub, "audit");
    assert_int_equal (zsock_connect (actor_sub, "%s", stream), 0);
    assert_true (s_wait_counter (broker, S_REFUSED, 1));

    zsock_t *tail_sub = zsock_new (ZMQ_SUB);
    pd_keys_pair_apply (&s_keys.tail, tail_sub);
    zsock_set_subscribe (tail_sub, "audit");
    assert_int_equal (zsock_connect (tail_sub, "%s", stream), 0);
    pd_worker_config_t config = {.keys = &s_keys.actor};
    pd_worker_t *worker = pd_worker_new (endpoint, "stream", &config);
    assert_non_null (worker);
    //  Publish until the subscription has reached the broker
    const uint8_t event[] = {0x80};
    zpoller_t *poller = zpoller_new (tail_sub, NULL);
    zmsg_t *msg = NULL;
    for (uint64_t seq = 1; !msg && seq < 50; seq++) {
        pd_worker_publish (worker, "audit", seq, event, sizeof (event));
        if (zpoller_wait (poller, S_HEARTBEAT_MS))
            msg = zmsg_recv (tail_sub);
    }
    assert_non_null (msg);
    zmsg_destroy (&msg);
    zpoller_destroy (&poller);
    zpoller_t *refused = zpoller_new (actor_sub, NULL);
    assert_null (zpoller_wait (refused, 0)); //  the actor key's SUB got nothing
    zpoller_destroy (&refused);
    pd_worker_destroy (&worker);
    zsock_destroy (&tail_sub);
    zsock_destroy (&actor_sub);
    pd_broker_destroy (&broker);
}

//  inproc peers have no handshake and no key: threads of the process,
//  trusted
static void
test_curve_inproc_trusted (void **state)
{
    pd_broker_config_t config = {.endpoints = "inproc://test-curve-trusted",
                                 .heartbeat_ms = S_HEARTBEAT_MS,
                                 .liveness = S_LIVENESS,
                                 .cluster = s_keys.cluster};
    pd_broker_t *broker = pd_broker_new (&config);
    assert_non_null (broker);
    zactor_t *worker = s_worker_new (config.endpoints, "auth", "w", 1);
    assert_int_equal (s_curve_request (config.endpoints, NULL, "auth", S_WAIT_MS, NULL, NULL),
                      PD_OK);
    assert_int_equal (s_stats (broker).refused, 0);
    zactor_destroy (&worker);
    pd_broker_destroy (&broker);
}
//  --------------------------------------------------------------------------

static void
test_bind_failure (void **state)
{
    pd_broker_config_t config = {.endpoints = "tcp://256.0.0.1:1"};
    assert_null (pd_broker_new (&config));
    assert_null (pd_broker_new (NULL));
}

//  The PDP/1 command table: each row's frame count is what its text lists,
//  PD_PDP_MAX_FRAMES is the largest, and every command reaches someone
static void
test_pdp_table (void **state)
{
    (void)state;
    int most = 0;
    for (size_t i = 0; i < pd_pdp_frames_table_size; i++) {
        const pd_pdp_frames_t *row = &pd_pdp_frames_table[i];
        int listed = 0;
        if (strcmp (row->content, "none")) {
            //  top-level commas: "timeout_ms (u32, time left)" is one frame
            int depth = 0;
            listed = 1;
            for (const char *c = row->content; *c; c++) {
                depth += *c == '(' ? 1 : *c == ')' ? -1 : 0;
                listed += *c == ',' && depth == 0;
            }
        }
        assert_int_equal ((int)row->frames, listed);
        most = listed > most ? listed : most;
        assert_int_equal (pd_pdp_frames (row->code, row->to), (int)row->frames);
    }
    assert_int_equal (most, PD_PDP_MAX_FRAMES);
    assert_int_equal (pd_pdp_frames (PD_PDP_READY, PD_PDP_WORKER), -1);    //  never sent to one
    assert_int_equal (pd_pdp_frames (PD_PDP_HEARTBEAT, PD_PDP_WORKER), 0); //  both ways
    assert_int_equal (pd_pdp_frames (99, PD_PDP_BROKER), -1);
}

int
main (void)
{
    srandom ((unsigned)zclock_usecs () ^ (unsigned)getpid ());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_request_reply),
        cmocka_unit_test (test_proto_frames),
        cmocka_unit_test (test_pdp_table),
        cmocka_unit_test (test_load_balancing),
        cmocka_unit_test (test_many_in_flight),
        cmocka_unit_test (test_silent_worker),
        cmocka_unit_test (test_missing_service),
        cmocka_unit_test (test_client_alone),
        cmocka_unit_test (test_queue_full),
        cmocka_unit_test (test_credit),
        cmocka_unit_test (test_late_reply_dropped),
        cmocka_unit_test (test_malformed_dropped),
        cmocka_unit_test (test_worker_reconnects),
        cmocka_unit_test (test_builtin_services),
        cmocka_unit_test (test_publish),
        cmocka_unit_test (test_bind_failure),
        cmocka_unit_test_setup_teardown (test_curve_round_trip, s_cluster_setup,
                                         s_cluster_teardown),
        cmocka_unit_test_setup_teardown (test_curve_unknown_key_refused, s_cluster_setup,
                                         s_cluster_teardown),
        cmocka_unit_test_setup_teardown (test_curve_roles, s_cluster_setup, s_cluster_teardown),
        cmocka_unit_test_setup_teardown (test_curve_peer_without_socket_type, s_cluster_setup,
                                         s_cluster_teardown),
        cmocka_unit_test_setup_teardown (test_curve_stream_socket, s_cluster_setup,
                                         s_cluster_teardown),
        cmocka_unit_test_setup_teardown (test_curve_inproc_trusted, s_cluster_setup,
                                         s_cluster_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
