/*  test_pd_front - the appliance front, run for real: a broker on inproc, a
    store in a fresh temporary directory, a test actor serving "claim"
    (claim.link, appliance.status, appliance.heartbeats) that records what
    it saw, an authorize callback backed by a small table, and raw DEALER
    CURVE clients speaking PDA1 over ipc.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pd_actor.h"
#include "pd_broker.h"
#include "pd_client.h"
#include "pd_front.h"
#include "pd_stream_actor.h"
#include "pd_test_stack.h"
#include "pd_test_zmtp.h"
#include "pd_messages.h"

#define TIMEOUT_MS 5000
#define FLUSH_MS   300
#define SILENT_MS  4000 //  the front's silent_ms: longer than any pause of a test
#define KNOWN      50   //  keys of active appliances "app-0".."app-49"
#define CLAIM_CODE "ABCDEFGHJKMNPQRS"
#define CLAIM_MAC  "aa:bb:cc:dd:ee:ff"
#define NEW_ID     "app-new"

//  ------------------------------------------------------------------------
//  What the test actor saw (it runs in its own thread)

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int claims;
    char claim_key[64];      //  principal.appliance_key of the last claim.link
    char claim_body_key[64]; //  the claim body's public_key
    int statuses;            //  appliance.status requests
    char status_id[80];      //  their principal.appliance_id
    int flushes;             //  appliance.heartbeats requests
    int items;               //  heartbeats in them
    char flush_kind[32];     //  principal.kind of the last flush
    char last_item_id[80];   //  appliance_id of the last item
} s_seen;

static void
s_copy (char *dst, size_t size, const char *src)
{
    snprintf (dst, size, "%s", src ? src : "");
}

static int
s_claim_link (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_claim_t *claim = request;
    pd_appliance_setup_t *setup = reply;
    pthread_mutex_lock (&s_lock);
    s_seen.claims++;
    s_copy (s_seen.claim_key, sizeof (s_seen.claim_key), pd_ctx_principal (ctx)->appliance_key);
    s_copy (s_seen.claim_body_key, sizeof (s_seen.claim_body_key), claim->public_key);
    pthread_mutex_unlock (&s_lock);
    if (strcmp (claim->code, CLAIM_CODE))
        return pd_ctx_fail (ctx, PD_E_NOT_FOUND, "code", "no such code");
    pd_schema_set_str (&setup->appliance_id, NEW_ID);
    pd_schema_set_str (&setup->site_id, "site-1");
    pd_schema_set_str (&setup->partner_id, "partner-1");
    return PD_OK;
}

static int
s_status (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    pthread_mutex_lock (&s_lock);
    s_seen.statuses++;
    s_copy (s_seen.status_id, sizeof (s_seen.status_id), pd_ctx_principal (ctx)->appliance_id);
    pthread_mutex_unlock (&s_lock);
    return PD_OK;
}

static int
s_heartbeats (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_heartbeats_t *beats = request;
    pthread_mutex_lock (&s_lock);
    s_seen.flushes++;
    s_seen.items += (int)beats->items.size;
    s_copy (s_seen.flush_kind, sizeof (s_seen.flush_kind), pd_ctx_principal (ctx)->kind);
    if (beats->items.size) {
        const pd_heartbeat_t *items = beats->items.items;
        s_copy (s_seen.last_item_id, sizeof (s_seen.last_item_id),
                items[beats->items.size - 1].appliance_id);
    }
    pthread_mutex_unlock (&s_lock);
    return PD_OK;
}

//  Appliances revoked through the test actor: the front's appliance_state
//  says PD_E_GONE for them (the store would), PD_OK for all others
#define REVOKED_MAX 16
static char s_revoked_ids[REVOKED_MAX][32];
static int s_revoked_count;

static int
s_appliance_state (const char *appliance_id, void *arg)
{
    (void)arg;
    pthread_mutex_lock (&s_lock);
    int state = PD_OK;
    for (int i = 0; i < s_revoked_count; i++)
        if (strcmp (s_revoked_ids[i], appliance_id) == 0)
            state = PD_E_GONE;
    pthread_mutex_unlock (&s_lock);
    return state;
}

//  A revocation, as the claim actor records one: the appliance's state,
//  then the audit event that the front follows
static int
s_revoke (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_appliance_ref_t *ref = request;
    pthread_mutex_lock (&s_lock);
    if (s_revoked_count < REVOKED_MAX)
        snprintf (s_revoked_ids[s_revoked_count++], sizeof (s_revoked_ids[0]), "%s",
                  ref->appliance_id);
    pthread_mutex_unlock (&s_lock);
    pd_appliance_info_t *info = reply;
    pd_event_t event = {0};
    event.type = "appliance.revoked";
    event.subject = ref->appliance_id;
    pd_store_batch_t *batch = pd_store_batch_new ();
    int rc = pd_ctx_emit (ctx, batch, PD_STREAM_AUDIT, &event);
    if (rc == PD_OK)
        rc = pd_ctx_commit (ctx, batch);
    pd_store_batch_destroy (&batch);
    if (rc == PD_OK)
        rc = pd_schema_set_str (&info->id, ref->appliance_id);
    if (rc == PD_OK)
        rc = pd_schema_set_str (&info->site_id, ref->site_id);
    if (rc == PD_OK)
        rc = pd_schema_set_str (&info->partner_id, "partner-1");
    return rc;
}

static const pd_handler_t s_handlers[] = {{"claim.link", s_claim_link},
                                          {"appliance.status", s_status},
                                          {"appliance.heartbeats", s_heartbeats},
                                          {"appliance.revoke", s_revoke},
                                          {NULL, NULL}};
static const pd_actor_def_t s_test_actor = {.service = "claim", .handlers = s_handlers};

//  ------------------------------------------------------------------------
//  The authorize table: KNOWN active keys, one revoked; others unknown

static zcert_t *s_known[KNOWN];
static zcert_t *s_revoked;
static int s_authorized; //  calls (ZAP thread)

static int
s_authorize (const char *public_key, char *appliance_id, size_t size, void *arg)
{
    (void)arg;
    pthread_mutex_lock (&s_lock);
    s_authorized++;
    pthread_mutex_unlock (&s_lock);
    if (strcmp (public_key, zcert_public_txt (s_revoked)) == 0)
        return PD_E_FORBIDDEN;
    for (int i = 0; i < KNOWN; i++)
        if (strcmp (public_key, zcert_public_txt (s_known[i])) == 0) {
            snprintf (appliance_id, size, "app-%d", i);
            return PD_OK;
        }
    return PD_E_NOT_FOUND;
}

//  ------------------------------------------------------------------------
//  Fixture

typedef struct {
    pd_test_stack_t *stack;  //  store, broker, a trusted caller (appliance.command)
    char front_endpoint[96]; //  the CURVE front (ipc, in the stack's directory)
    int tcp_port;            //  ...also on tcp://127.0.0.1, for the hand-written client
    char binds[160];         //  both
    int persist_ms;          //  the front's persist_ms (0: every flush)
    zcert_t *server;         //  the front's keypair
    zactor_t *actor;
    zactor_t *streams; //  the stream actor: history for the front's follower
    pd_front_t *front;
} fixture_t;

//  A loopback port free now (the kernel's pick)
static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (fd >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t length = sizeof (address);
    assert_int_equal (bind (fd, (struct sockaddr *)&address, sizeof (address)), 0);
    assert_int_equal (getsockname (fd, (struct sockaddr *)&address, &length), 0);
    close (fd);
    return ntohs (address.sin_port);
}

static pd_front_t *
s_front_start (fixture_t *fx)
{
    pd_front_config_t config = {0};
    config.endpoint = fx->binds;
    config.broker = fx->stack->endpoint;
    config.public_key = zcert_public_txt (fx->server);
    config.secret_key = zcert_secret_txt (fx->server);
    config.authorize = s_authorize;
    config.flush_ms = FLUSH_MS;
    config.persist_ms = fx->persist_ms;
    config.stream = fx->stack->stream_endpoint;
    config.appliance_state = s_appliance_state;
    config.silent_ms = SILENT_MS;
    return pd_front_new (&config);
}

static int
s_setup (void **state)
{
    fixture_t *fx = calloc (1, sizeof (fixture_t));
    assert_non_null (fx);
    memset (&s_seen, 0, sizeof (s_seen));
    s_revoked_count = 0;
    fx->stack = pd_test_stack_new ("test_pd_front");
    assert_non_null (fx->stack);
    snprintf (fx->front_endpoint, sizeof (fx->front_endpoint), "ipc://%s/front.ipc",
              fx->stack->dir);
    fx->tcp_port = s_free_port ();
    snprintf (fx->binds, sizeof (fx->binds), "%s,tcp://127.0.0.1:%d", fx->front_endpoint,
              fx->tcp_port);
    fx->server = zcert_new ();
    fx->actor = pd_test_stack_actor (fx->stack, &s_test_actor);
    assert_non_null (fx->actor);
    fx->streams = pd_test_stack_actor (fx->stack, &pd_stream_actor);
    assert_non_null (fx->streams);
    fx->front = s_front_start (fx);
    assert_non_null (fx->front);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = *state;
    pd_front_destroy (&fx->front);
    zactor_destroy (&fx->streams);
    zactor_destroy (&fx->actor);
    pd_test_stack_destroy (&fx->stack);
    zcert_destroy (&fx->server);
    free (fx);
    return 0;
}

//  ------------------------------------------------------------------------
//  A raw appliance: DEALER, CURVE client, PDA1 by hand

static zsock_t *
s_appliance (fixture_t *fx, zcert_t *cert)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    assert_non_null (sock);
    zcert_apply (cert, sock);
    zsock_set_curve_serverkey (sock, zcert_public_txt (fx->server));
    zsock_set_linger (sock, 0);
    assert_int_equal (zsock_connect (sock, "%s", fx->front_endpoint), 0);
    return sock;
}

//  Send [PDA1, type, id, (status,) body]
static void
s_send (zsock_t *sock, const char *type, uint64_t id, const int *status, const pd_schema_t *schema,
        const void *record)
{
    uint8_t *body = NULL;
    size_t size = 0;
    if (schema)
        assert_int_equal (pd_schema_encode (schema, record, &body, &size), PD_OK);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, PD_FRONT_SIGNATURE);
    zmsg_addstr (msg, type);
    zmsg_append (msg, &(zframe_t *){pd_proto_u64 (id)});
    if (status)
        zmsg_append (msg, &(zframe_t *){pd_proto_u16 (pd_status_to_wire (*status))});
    zmsg_addmem (msg, body, size);
    free (body);
    assert_int_equal (zmsg_send (&msg, sock), 0);
}

//  The next message within timeout_ms, NULL if none
static zmsg_t *
s_recv (zsock_t *sock, int timeout_ms)
{
    zmq_pollitem_t item = {zsock_resolve (sock), 0, ZMQ_POLLIN, 0};
    if (zmq_poll (&item, 1, timeout_ms) != 1)
        return NULL;
    return zmsg_recv (sock);
}

//  Expect [PDA1, reply, id, status, body]: returns the status, the body in
//  *body (caller destroys; may be NULL)
static int
s_expect_reply (zsock_t *sock, uint64_t id, zframe_t **body)
{
    zmsg_t *msg = s_recv (sock, TIMEOUT_MS);
    assert_non_null (msg);
    assert_int_equal (zmsg_size (msg), 5);
    char *signature = zmsg_popstr (msg);
    char *type = zmsg_popstr (msg);
    assert_string_equal (signature, PD_FRONT_SIGNATURE);
    assert_string_equal (type, "reply");
    free (signature);
    free (type);
    zframe_t *frame = zmsg_pop (msg);
    uint64_t reply_id;
    assert_int_equal (pd_proto_get_u64 (frame, &reply_id), 0);
    assert_int_equal (reply_id, id);
    zframe_destroy (&frame);
    frame = zmsg_pop (msg);
    uint16_t wire;
    assert_int_equal (pd_proto_get_u16 (frame, &wire), 0);
    zframe_destroy (&frame);
    frame = zmsg_pop (msg);
    if (body)
        *body = frame;
    else
        zframe_destroy (&frame);
    zmsg_destroy (&msg);
    return pd_status_from_wire (wire);
}

static void
s_claim (zsock_t *sock, uint64_t id, const char *body_key)
{
    pd_claim_t claim = {0};
    claim.code = CLAIM_CODE;
    claim.mac = CLAIM_MAC;
    claim.public_key = (char *)body_key;
    s_send (sock, "claim", id, NULL, &pd_claim_schema, &claim);
}

static void
s_heartbeat (zsock_t *sock, uint64_t id, const char *type)
{
    pd_appliance_report_t report = {0};
    report.status = "ok";
    report.software_version = "1.2.3";
    s_send (sock, type, id, NULL, &pd_appliance_report_schema, &report);
}

static pd_front_stats_t
s_stats (fixture_t *fx)
{
    pd_front_stats_t stats;
    assert_int_equal (pd_front_stats (fx->front, &stats), PD_OK);
    return stats;
}

static int
s_seen_int (const int *field)
{
    pthread_mutex_lock (&s_lock);
    int value = *field;
    pthread_mutex_unlock (&s_lock);
    return value;
}

//  Poll until *field >= value or the deadline; returns the last value
static int
s_wait_seen (const int *field, int value)
{
    int64_t deadline = zclock_mono () + TIMEOUT_MS;
    int now;
    while ((now = s_seen_int (field)) < value && zclock_mono () < deadline)
        zmq_poll (NULL, 0, 10); //  a poll time-out, not a synchronisation
    return now;
}

//  ------------------------------------------------------------------------
//  Tests

//  An unknown key claims, gets its setup, and may then heartbeat
static void
test_claim_then_heartbeat (void **state)
{
    fixture_t *fx = *state;
    zcert_t *cert = zcert_new ();
    zsock_t *appliance = s_appliance (fx, cert);

    s_claim (appliance, 1, NULL);
    zframe_t *body = NULL;
    assert_int_equal (s_expect_reply (appliance, 1, &body), PD_OK);
    pd_appliance_setup_t setup = {0};
    assert_int_equal (pd_schema_decode (&pd_appliance_setup_schema, zframe_data (body),
                                        zframe_size (body), &setup, NULL),
                      PD_OK);
    assert_string_equal (setup.appliance_id, NEW_ID);
    pd_schema_clear (&pd_appliance_setup_schema, &setup);
    zframe_destroy (&body);
    pthread_mutex_lock (&s_lock);
    assert_string_equal (s_seen.claim_key, zcert_public_txt (cert));
    pthread_mutex_unlock (&s_lock);

    //  The same connection now belongs to NEW_ID
    s_heartbeat (appliance, 2, "heartbeat");
    assert_int_equal (s_wait_seen (&s_seen.items, 1), 1);
    pthread_mutex_lock (&s_lock);
    assert_string_equal (s_seen.last_item_id, NEW_ID);
    assert_string_equal (s_seen.flush_kind, "appliance");
    pthread_mutex_unlock (&s_lock);
    s_heartbeat (appliance, 3, "report");
    assert_int_equal (s_expect_reply (appliance, 3, NULL), PD_OK);
    pthread_mutex_lock (&s_lock);
    assert_string_equal (s_seen.status_id, NEW_ID);
    pthread_mutex_unlock (&s_lock);
    pd_front_stats_t stats = s_stats (fx);
    assert_int_equal (stats.claims, 1);
    assert_int_equal (stats.heartbeats, 1);
    assert_int_equal (stats.connected, 1);

    zsock_destroy (&appliance);
    zcert_destroy (&cert);
}

//  A connection chosen by routing id and claimed by one key
static zsock_t *
s_appliance_as (fixture_t *fx, zcert_t *cert, const char *routing_id)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    assert_non_null (sock);
    zcert_apply (cert, sock);
    zsock_set_curve_serverkey (sock, zcert_public_txt (fx->server));
    zsock_set_linger (sock, 0);
    zsock_set_identity (sock, routing_id);
    assert_int_equal (zsock_connect (sock, "%s", fx->front_endpoint), 0);
    return sock;
}

//  Routing ids are reused: a peer with another key that takes a claimed
//  connection's id must not become that appliance
static void
test_reused_routing_id_is_not_the_appliance (void **state)
{
    fixture_t *fx = *state;
    zcert_t *owner = zcert_new ();
    zsock_t *appliance = s_appliance_as (fx, owner, "reused-id");
    s_claim (appliance, 1, NULL);
    assert_int_equal (s_expect_reply (appliance, 1, NULL), PD_OK);
    zsock_destroy (&appliance);

    //  Another key on the same routing id (once the router let it go)
    zcert_t *intruder = zcert_new ();
    int status = 1;
    for (int attempt = 0; attempt < 20 && status > 0; attempt++) {
        zsock_t *sock = s_appliance_as (fx, intruder, "reused-id");
        s_heartbeat (sock, 7, "report");
        zmsg_t *reply = s_recv (sock, 500);
        if (reply) {
            zmsg_destroy (&reply);
            s_heartbeat (sock, 8, "report");
            status = s_expect_reply (sock, 8, NULL);
        }
        zsock_destroy (&sock);
    }
    assert_int_equal (status, PD_E_UNAUTHORIZED);
    zcert_destroy (&intruder);
    zcert_destroy (&owner);
}

//  An unclaimed connection may only claim
static void
test_unclaimed_refused (void **state)
{
    fixture_t *fx = *state;
    zcert_t *cert = zcert_new ();
    zsock_t *appliance = s_appliance (fx, cert);

    s_heartbeat (appliance, 1, "heartbeat"); //  dropped
    s_heartbeat (appliance, 2, "report");
    zframe_t *body = NULL;
    assert_int_equal (s_expect_reply (appliance, 2, &body), PD_E_UNAUTHORIZED);
    pd_error_t error = {0};
    assert_int_equal (
        pd_schema_decode (&pd_error_schema, zframe_data (body), zframe_size (body), &error, NULL),
        PD_OK);
    assert_string_equal (error.code, "unauthorized");
    assert_string_equal (error.detail, "claim first");
    pd_schema_clear (&pd_error_schema, &error);
    zframe_destroy (&body);

    //  The report was read after the heartbeat: both are counted by now
    pd_front_stats_t stats = s_stats (fx);
    assert_int_equal (stats.heartbeats, 0);
    assert_int_equal (stats.refused, 2);
    assert_int_equal (s_seen_int (&s_seen.statuses), 0);

    //  An unknown type is answered
    s_heartbeat (appliance, 3, "bogus");
    assert_int_equal (s_expect_reply (appliance, 3, NULL), PD_E_UNKNOWN_TYPE);

    zsock_destroy (&appliance);
    zcert_destroy (&cert);
}

//  50 appliances heartbeating 3 times each within one flush interval make
//  one appliance.heartbeats request of 50 items
static void
test_heartbeats_coalesced (void **state)
{
    fixture_t *fx = *state;
    zsock_t *appliances[KNOWN];
    for (int i = 0; i < KNOWN; i++)
        appliances[i] = s_appliance (fx, s_known[i]);
    //  Connections up (a report round trip each) before the burst
    for (int i = 0; i < KNOWN; i++) {
        s_heartbeat (appliances[i], 1, "report");
        assert_int_equal (s_expect_reply (appliances[i], 1, NULL), PD_OK);
    }
    //  A flush timer may fall inside the burst (a few ms in FLUSH_MS): then
    //  the round is split in two requests, and it is run again
    bool one_request = false;
    for (int round = 0; round < 3 && !one_request; round++) {
        int flushes = s_seen_int (&s_seen.flushes);
        int items = s_seen_int (&s_seen.items);
        pd_front_stats_t before = s_stats (fx);
        for (int beat = 0; beat < 3; beat++)
            for (int i = 0; i < KNOWN; i++)
                s_heartbeat (appliances[i], 10 + beat, "heartbeat");
        assert_int_equal (s_wait_seen (&s_seen.items, items + KNOWN), items + KNOWN);
        pd_front_stats_t after = s_stats (fx);
        assert_int_equal (after.heartbeats - before.heartbeats, 3 * KNOWN);
        assert_int_equal (after.connected, KNOWN);
        int requests = s_seen_int (&s_seen.flushes) - flushes;
        assert_true (requests >= 1 && requests <= 2);
        one_request = requests == 1;
    }
    assert_true (one_request);
    for (int i = 0; i < KNOWN; i++)
        zsock_destroy (&appliances[i]);
}

//  A heartbeat that changes nothing goes upstream at most every persist_ms
//  per appliance: the first does, a change does, a repeat within
//  persist_ms does not, and one after it does
static void
s_beat (zsock_t *sock, uint64_t id, const char *status)
{
    pd_appliance_report_t report = {0};
    report.status = (char *)status;
    report.software_version = "1.2.3";
    s_send (sock, "heartbeat", id, NULL, &pd_appliance_report_schema, &report);
}

static void
s_wait_heartbeats (fixture_t *fx, uint64_t count)
{
    int64_t deadline = zclock_mono () + TIMEOUT_MS;
    while (s_stats (fx).heartbeats < count && zclock_mono () < deadline)
        zclock_sleep (5);
    assert_true (s_stats (fx).heartbeats >= count);
}

static void
test_unchanged_heartbeats_sent_seldom (void **state)
{
    fixture_t *fx = *state;
    pd_front_destroy (&fx->front);
    fx->persist_ms = 8 * FLUSH_MS;
    fx->front = s_front_start (fx);
    assert_non_null (fx->front);
    zsock_t *appliance = s_appliance (fx, s_known[4]);
    s_heartbeat (appliance, 1, "report");
    assert_int_equal (s_expect_reply (appliance, 1, NULL), PD_OK);

    int items = s_seen_int (&s_seen.items);
    int64_t first = zclock_mono ();
    s_beat (appliance, 2, "ok");
    assert_int_equal (s_wait_seen (&s_seen.items, items + 1), items + 1);
    //  The same again, twice, over more than one flush: nothing goes
    s_beat (appliance, 3, "ok");
    s_wait_heartbeats (fx, 2);
    zclock_sleep (FLUSH_MS + FLUSH_MS / 2);
    s_beat (appliance, 4, "ok");
    s_wait_heartbeats (fx, 3);
    zclock_sleep (FLUSH_MS + FLUSH_MS / 2);
    assert_true (zclock_mono () - first < fx->persist_ms);
    assert_int_equal (s_seen_int (&s_seen.items), items + 1);
    //  A change goes at the next flush
    s_beat (appliance, 5, "degraded");
    assert_int_equal (s_wait_seen (&s_seen.items, items + 2), items + 2);
    //  The same after persist_ms goes too
    zclock_sleep (fx->persist_ms + FLUSH_MS);
    s_beat (appliance, 6, "degraded");
    assert_int_equal (s_wait_seen (&s_seen.items, items + 3), items + 3);
    zsock_destroy (&appliance);
}

//  A revoked key is refused at the handshake; a good key in parallel works
static void
test_revoked_refused (void **state)
{
    fixture_t *fx = *state;
    zsock_t *revoked = s_appliance (fx, s_revoked);
    zcert_t *cert = zcert_new ();
    zsock_t *good = s_appliance (fx, cert);
    s_claim (revoked, 1, NULL);
    s_claim (good, 1, NULL);
    assert_int_equal (s_expect_reply (good, 1, NULL), PD_OK);
    //  The refusal is counted when ZAP answers
    int64_t deadline = zclock_mono () + TIMEOUT_MS;
    while (s_stats (fx).refused == 0 && zclock_mono () < deadline)
        zmq_poll (NULL, 0, 10);
    assert_true (s_stats (fx).refused >= 1);
    zmsg_t *msg = s_recv (revoked, 500);
    assert_null (msg);
    assert_int_equal (s_seen_int (&s_seen.claims), 1);
    zsock_destroy (&revoked);
    zsock_destroy (&good);
    zcert_destroy (&cert);
}

//  The claim carries the handshake's key, whatever the body says
static void
test_principal_key_from_handshake (void **state)
{
    fixture_t *fx = *state;
    zcert_t *cert = zcert_new ();
    zcert_t *other = zcert_new ();
    zsock_t *appliance = s_appliance (fx, cert);
    s_claim (appliance, 7, zcert_public_txt (other));
    assert_int_equal (s_expect_reply (appliance, 7, NULL), PD_OK);
    pthread_mutex_lock (&s_lock);
    assert_string_equal (s_seen.claim_key, zcert_public_txt (cert));
    assert_string_equal (s_seen.claim_body_key, zcert_public_txt (cert));
    pthread_mutex_unlock (&s_lock);

    //  A known appliance (bound key) cannot claim again
    zsock_t *known = s_appliance (fx, s_known[0]);
    s_claim (known, 8, NULL);
    assert_int_equal (s_expect_reply (known, 8, NULL), PD_E_EXISTS);

    //  Nor can a connection that claimed already: the claim service is not
    //  asked (it would answer the code is used)
    pd_claim_t claim = {0};
    claim.code = "ZZZZZZZZZZZZZZZZ";
    claim.mac = CLAIM_MAC;
    s_send (appliance, "claim", 9, NULL, &pd_claim_schema, &claim);
    assert_int_equal (s_expect_reply (appliance, 9, NULL), PD_E_EXISTS);

    //  A failed claim comes back with its error
    zcert_t *fresh_cert = zcert_new ();
    zsock_t *fresh = s_appliance (fx, fresh_cert);
    s_send (fresh, "claim", 10, NULL, &pd_claim_schema, &claim);
    assert_int_equal (s_expect_reply (fresh, 10, NULL), PD_E_NOT_FOUND);

    zsock_destroy (&fresh);
    zcert_destroy (&fresh_cert);
    zsock_destroy (&known);
    zsock_destroy (&appliance);
    zcert_destroy (&other);
    zcert_destroy (&cert);
}

static uint64_t
s_command_send (fixture_t *fx, const char *appliance_id)
{
    pd_header_t header = {0};
    header.type = "appliance.command";
    pd_appliance_command_t command = {0};
    command.appliance_id = (char *)appliance_id;
    command.command = "reboot";
    command.payload = "now";
    uint8_t *head = NULL, *body = NULL;
    size_t head_size = 0, body_size = 0;
    assert_int_equal (pd_schema_encode (&pd_header_schema, &header, &head, &head_size), PD_OK);
    assert_int_equal (pd_schema_encode (&pd_appliance_command_schema, &command, &body, &body_size),
                      PD_OK);
    uint64_t id = 0;
    assert_int_equal (pd_client_send (fx->stack->client, PD_FRONT_SERVICE, head, head_size, body,
                                      body_size, TIMEOUT_MS, &id),
                      PD_OK);
    free (head);
    free (body);
    return id;
}

//  appliance.command through the broker to a connected appliance and back
static void
test_command_round_trip (void **state)
{
    fixture_t *fx = *state;
    zsock_t *appliance = s_appliance (fx, s_known[3]);
    s_heartbeat (appliance, 1, "report"); //  the front knows the route now
    assert_int_equal (s_expect_reply (appliance, 1, NULL), PD_OK);

    uint64_t id = s_command_send (fx, "app-3");
    zmsg_t *msg = s_recv (appliance, TIMEOUT_MS);
    assert_non_null (msg);
    assert_int_equal (zmsg_size (msg), 4);
    char *signature = zmsg_popstr (msg);
    char *type = zmsg_popstr (msg);
    assert_string_equal (signature, PD_FRONT_SIGNATURE);
    assert_string_equal (type, "command");
    free (signature);
    free (type);
    zframe_t *frame = zmsg_pop (msg);
    uint64_t command_id;
    assert_int_equal (pd_proto_get_u64 (frame, &command_id), 0);
    zframe_destroy (&frame);
    frame = zmsg_pop (msg);
    pd_appliance_command_t command = {0};
    assert_int_equal (pd_schema_decode (&pd_appliance_command_schema, zframe_data (frame),
                                        zframe_size (frame), &command, NULL),
                      PD_OK);
    assert_string_equal (command.command, "reboot");
    assert_string_equal (command.payload, "now");
    pd_schema_clear (&pd_appliance_command_schema, &command);
    zframe_destroy (&frame);
    zmsg_destroy (&msg);

    //  Another appliance cannot answer it
    zsock_t *intruder = s_appliance (fx, s_known[4]);
    pd_command_result_t result = {0};
    result.output = "forged";
    int ok = PD_OK;
    s_send (intruder, "result", command_id, &ok, &pd_command_result_schema, &result);
    s_heartbeat (intruder, 2, "report");
    assert_int_equal (s_expect_reply (intruder, 2, NULL), PD_OK);

    result.output = "done";
    s_send (appliance, "result", command_id, &ok, &pd_command_result_schema, &result);
    uint64_t reply_id;
    int status;
    uint8_t *data = NULL;
    size_t size = 0;
    assert_int_equal (
        pd_client_recv (fx->stack->client, &reply_id, &status, &data, &size, TIMEOUT_MS), PD_OK);
    assert_int_equal (reply_id, id);
    assert_int_equal (status, PD_OK);
    pd_command_result_t got = {0};
    assert_int_equal (pd_schema_decode (&pd_command_result_schema, data, size, &got, NULL), PD_OK);
    assert_string_equal (got.output, "done");
    pd_schema_clear (&pd_command_result_schema, &got);
    free (data);
    zsock_destroy (&intruder);
    zsock_destroy (&appliance);
}

//  A command to an appliance that is not connected
static void
test_command_unconnected (void **state)
{
    fixture_t *fx = *state;
    uint64_t id = s_command_send (fx, "app-9");
    uint64_t reply_id;
    int status;
    uint8_t *data = NULL;
    size_t size = 0;
    assert_int_equal (
        pd_client_recv (fx->stack->client, &reply_id, &status, &data, &size, TIMEOUT_MS), PD_OK);
    assert_int_equal (reply_id, id);
    assert_int_equal (status, PD_E_UNAVAILABLE);
    pd_error_t error = {0};
    assert_int_equal (pd_schema_decode (&pd_error_schema, data, size, &error, NULL), PD_OK);
    assert_string_equal (error.detail, "appliance not connected");
    pd_schema_clear (&pd_error_schema, &error);
    free (data);
}

//  Clients connecting right after pd_front_new go through ZAP: the unknown
//  key gets a "key:" identity (a report is refused), the revoked key is
//  refused at the handshake
static void
test_zap_before_bind (void **state)
{
    fixture_t *fx = *state;
    pd_front_destroy (&fx->front);
    int authorized = s_seen_int (&s_authorized);
    zcert_t *cert = zcert_new ();
    fx->front = s_front_start (fx);
    assert_non_null (fx->front);
    zsock_t *unknown = s_appliance (fx, cert);
    zsock_t *revoked = s_appliance (fx, s_revoked);
    s_heartbeat (unknown, 1, "report");
    s_heartbeat (revoked, 1, "report");
    assert_int_equal (s_expect_reply (unknown, 1, NULL), PD_E_UNAUTHORIZED);
    int64_t deadline = zclock_mono () + TIMEOUT_MS;
    while (s_stats (fx).refused < 2 && zclock_mono () < deadline)
        zmq_poll (NULL, 0, 10);
    assert_int_equal (s_stats (fx).refused, 2); //  the report, the handshake
    assert_null (s_recv (revoked, 200));
    assert_true (s_seen_int (&s_authorized) >= authorized + 2);
    zsock_destroy (&revoked);
    zsock_destroy (&unknown);
    zcert_destroy (&cert);
}

//  A second front in one process cannot start (one ZAP handler per context)
static void
test_one_front_per_process (void **state)
{
    fixture_t *fx = *state;
    pd_front_config_t config = {0};
    char endpoint[128];
    snprintf (endpoint, sizeof (endpoint), "ipc://%s/second.ipc", fx->stack->dir);
    config.endpoint = endpoint;
    config.broker = fx->stack->endpoint;
    config.public_key = zcert_public_txt (fx->server);
    config.secret_key = zcert_secret_txt (fx->server);
    config.authorize = s_authorize;
    assert_null (pd_front_new (&config));
    //  A keypair that does not match is refused too
    zcert_t *other = zcert_new ();
    config.secret_key = zcert_secret_txt (other);
    pd_front_destroy (&fx->front);
    assert_null (pd_front_new (&config));
    zcert_destroy (&other);
}

//  A front key may serve and call exactly what the front serves and calls
//  (pd_keys.h holds the list the broker checks)
static void
test_front_key_permissions_match (void **state)
{
    assert_string_equal (PD_FRONT_SERVICE, PD_KEYS_FRONT_SERVES);
    pd_keys_entry_t front = {.role = PD_KEYS_FRONT};
    const char *upstream[] = {"claim.link", "appliance.status", "appliance.heartbeats",
                              "escalation.create"};
    for (size_t i = 0; i < sizeof (upstream) / sizeof (upstream[0]); i++)
        assert_true (pd_keys_may_call (&front, pd_message_find (upstream[i])->service));
    //  ...and nothing else the link does not carry
    assert_false (pd_keys_may_call (&front, "partners"));
    assert_false (pd_keys_may_call (&front, "users"));
    assert_false (pd_keys_may_call (&front, PD_KEYS_FRONT_SERVES));
}

//  Disconnections a socket monitor has seen on `sock` so far
static int
s_disconnects (zsock_t *monitor_sock)
{
    int count = 0;
    zmsg_t *msg;
    while ((msg = s_recv (monitor_sock, 0))) {
        zframe_t *event = zmsg_first (msg);
        uint16_t number = 0;
        if (event && zframe_size (event) >= 2) {
            memcpy (&number, zframe_data (event), 2); //  host order (libzmq)
            if (number == ZMQ_EVENT_DISCONNECTED)
                count++;
        }
        zmsg_destroy (&msg);
    }
    return count;
}

//  A monitor (PAIR) of `sock`'s disconnections
static zsock_t *
s_monitor (zsock_t *sock, const char *name)
{
    char endpoint[64];
    snprintf (endpoint, sizeof (endpoint), "inproc://monitor-%s", name);
    assert_int_equal (zmq_socket_monitor (zsock_resolve (sock), endpoint, ZMQ_EVENT_DISCONNECTED),
                      0);
    zsock_t *pair = zsock_new (ZMQ_PAIR);
    assert_non_null (pair);
    assert_int_equal (zsock_connect (pair, "%s", endpoint), 0);
    return pair;
}

//  Revoke through the test actor (it records the audit event)
static void
s_revoke_send (fixture_t *fx, const char *appliance_id)
{
    pd_header_t header = {0};
    header.type = "appliance.revoke";
    pd_appliance_ref_t ref = {0};
    ref.site_id = "site-1";
    ref.appliance_id = (char *)appliance_id;
    uint8_t *head = NULL, *body = NULL, *reply = NULL;
    size_t head_size = 0, body_size = 0, reply_size = 0;
    assert_int_equal (pd_schema_encode (&pd_header_schema, &header, &head, &head_size), PD_OK);
    assert_int_equal (pd_schema_encode (&pd_appliance_ref_schema, &ref, &body, &body_size), PD_OK);
    assert_int_equal (pd_client_request (fx->stack->client, "claim", head, head_size, body,
                                         body_size, TIMEOUT_MS, &reply, &reply_size),
                      PD_OK);
    free (reply);
    free (head);
    free (body);
}

//  Expect [PDA1, close, 0, status, error body] within TIMEOUT_MS; returns
//  the status and the error's code in code (size bytes)
static int
s_expect_close (zsock_t *sock, char *code, size_t size)
{
    zmsg_t *msg = s_recv (sock, TIMEOUT_MS);
    assert_non_null (msg);
    assert_int_equal (zmsg_size (msg), 5);
    assert_true (zframe_streq (zmsg_first (msg), PD_FRONT_SIGNATURE));
    assert_true (zframe_streq (zmsg_next (msg), "close"));
    uint64_t id = 1;
    assert_int_equal (pd_proto_get_u64 (zmsg_next (msg), &id), 0);
    assert_int_equal (id, 0);
    uint16_t wire = 0;
    assert_int_equal (pd_proto_get_u16 (zmsg_next (msg), &wire), 0);
    zframe_t *body = zmsg_next (msg);
    pd_error_t error = {0};
    assert_int_equal (
        pd_schema_decode (&pd_error_schema, zframe_data (body), zframe_size (body), &error, NULL),
        PD_OK);
    snprintf (code, size, "%s", error.code);
    pd_schema_clear (&pd_error_schema, &error);
    zmsg_destroy (&msg);
    return pd_status_from_wire (wire);
}

//  Wait until the front counted more than `refused` messages refused
static bool
s_wait_refused (fixture_t *fx, uint64_t refused)
{
    int64_t deadline = zclock_mono () + TIMEOUT_MS;
    while (s_stats (fx).refused <= refused && zclock_mono () < deadline)
        zmq_poll (NULL, 0, 10); //  a poll time-out, not a synchronisation
    return s_stats (fx).refused > refused;
}

//  PROTOCOL.md 16.5: a revocation ends the appliance's live link at once,
//  over tcp and ipc: `close` with the reason, then nothing more it sends
//  is read or answered; other appliances keep theirs
static void
test_revocation_closes_link (void **state)
{
    fixture_t *fx = *state;
    //  app-3 by a hand-written client over tcp, app-4 and app-5 over ipc
    pd_test_zmtp_t *raw =
        pd_test_zmtp_new (fx->tcp_port, zcert_public_txt (s_known[3]),
                          zcert_secret_txt (s_known[3]), zcert_public_txt (fx->server), true);
    assert_non_null (raw);
    static const uint8_t empty_map[] = {0x80};
    uint8_t id_bytes[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    const void *parts[] = {PD_FRONT_SIGNATURE, "report", id_bytes, empty_map};
    const size_t sizes[] = {strlen (PD_FRONT_SIGNATURE), strlen ("report"), sizeof (id_bytes),
                            sizeof (empty_map)};
    assert_int_equal (pd_test_zmtp_send (raw, parts, sizes, 4), 0);
    static uint8_t got[PD_TEST_ZMTP_MAX_PARTS][PD_TEST_ZMTP_MAX_PART];
    size_t got_sizes[PD_TEST_ZMTP_MAX_PARTS];
    assert_int_equal (pd_test_zmtp_recv (raw, got, got_sizes, PD_TEST_ZMTP_MAX_PARTS, TIMEOUT_MS),
                      5); //  the reply: the front knows app-3's connection
    zsock_t *revoked = s_appliance (fx, s_known[4]);
    zsock_t *other = s_appliance (fx, s_known[5]);
    s_heartbeat (revoked, 1, "report");
    assert_int_equal (s_expect_reply (revoked, 1, NULL), PD_OK);
    s_heartbeat (other, 1, "report");
    assert_int_equal (s_expect_reply (other, 1, NULL), PD_OK);
    assert_int_equal (s_stats (fx).connected, 3);

    s_revoke_send (fx, "app-3");
    s_revoke_send (fx, "app-4");

    //  tcp: the close, then the end of the connection
    int count = pd_test_zmtp_recv (raw, got, got_sizes, PD_TEST_ZMTP_MAX_PARTS, TIMEOUT_MS);
    assert_int_equal (count, 5);
    assert_memory_equal (got[1], "close", 5);
    uint16_t wire = (uint16_t)((got[3][0] << 8) | got[3][1]);
    assert_int_equal (pd_status_from_wire (wire), PD_E_APPLIANCE_REVOKED);
    //  ...and what it sends after is dropped, unanswered
    uint64_t refused = s_stats (fx).refused;
    id_bytes[7] = 2;
    assert_int_equal (pd_test_zmtp_send (raw, parts, sizes, 4), 0);
    assert_true (s_wait_refused (fx, refused));
    int statuses = s_seen_int (&s_seen.statuses);

    //  ipc: the same, seen by libzmq as a disconnection
    char code[64];
    assert_int_equal (s_expect_close (revoked, code, sizeof (code)), PD_E_APPLIANCE_REVOKED);
    assert_string_equal (code, "appliance_revoked");
    refused = s_stats (fx).refused;
    s_heartbeat (revoked, 2, "report");
    assert_true (s_wait_refused (fx, refused));
    assert_null (s_recv (revoked, 0));
    assert_int_equal (s_seen_int (&s_seen.statuses), statuses); //  no report went upstream

    //  The others keep their link; the counters say what happened
    s_heartbeat (other, 2, "report");
    assert_int_equal (s_expect_reply (other, 2, NULL), PD_OK);
    pd_front_stats_t stats = s_stats (fx);
    assert_int_equal (stats.closed, 2);
    assert_int_equal (stats.connected, 1);
    zsock_destroy (&revoked);
    zsock_destroy (&other);
    pd_test_zmtp_destroy (&raw);
}

//  An appliance revoked before the front knew its connection (it had sent
//  nothing yet): its first message ends its link
static void
test_revoked_before_first_message (void **state)
{
    fixture_t *fx = *state;
    zsock_t *appliance = s_appliance (fx, s_known[7]);
    s_revoke_send (fx, "app-7");
    s_heartbeat (appliance, 1, "report");
    char code[64];
    assert_int_equal (s_expect_close (appliance, code, sizeof (code)), PD_E_APPLIANCE_REVOKED);
    assert_string_equal (code, "appliance_revoked");
    pd_front_stats_t stats = s_stats (fx);
    assert_int_equal (stats.closed, 1);
    assert_true (stats.refused >= 1);
    //  The report was not answered, nor sent on to the claim service
    assert_int_equal (s_seen_int (&s_seen.statuses), 0);
    zsock_destroy (&appliance);
}

//  An appliance not heard from for silent_ms stops counting as connected
//  (libzmq tells the front nothing when a peer goes)
static void
test_silent_appliance_not_connected (void **state)
{
    fixture_t *fx = *state;
    zsock_t *appliance = s_appliance (fx, s_known[6]);
    s_heartbeat (appliance, 1, "report");
    assert_int_equal (s_expect_reply (appliance, 1, NULL), PD_OK);
    //  ...and one that claimed on its connection
    zcert_t *cert = zcert_new ();
    zsock_t *claimed = s_appliance (fx, cert);
    s_claim (claimed, 1, NULL);
    assert_int_equal (s_expect_reply (claimed, 1, NULL), PD_OK);
    assert_int_equal (s_stats (fx).connected, 2);
    zsock_destroy (&appliance);
    int64_t deadline = zclock_mono () + 3 * TIMEOUT_MS;
    while (s_stats (fx).connected != 0 && zclock_mono () < deadline)
        zmq_poll (NULL, 0, 100); //  a poll time-out, not a synchronisation
    assert_int_equal (s_stats (fx).connected, 0);
    //  Silent is not unclaimed: the connection that claimed is still the
    //  appliance when it speaks again
    s_heartbeat (claimed, 2, "report");
    assert_int_equal (s_expect_reply (claimed, 2, NULL), PD_OK);
    assert_int_equal (s_stats (fx).connected, 1);
    zsock_destroy (&claimed);
    zcert_destroy (&cert);
}

//  PROTOCOL.md 16.1: the front sends no ZMTP PINGs, so no TTL of its can
//  cut an idle appliance off (it used to ping every 5 s with a 5 s TTL: a
//  client then raced each next PING against the last one's TTL). A client
//  written by hand sees every command the front sends: over 5.5 s of
//  silence, nothing comes. And the front answers an appliance's own PINGs:
//  one that pings with a TTL of 3 intervals keeps its connection.
static void
test_keepalive_as_specified (void **state)
{
    fixture_t *fx = *state;
    pd_test_zmtp_t *raw =
        pd_test_zmtp_new (fx->tcp_port, zcert_public_txt (s_known[0]),
                          zcert_secret_txt (s_known[0]), zcert_public_txt (fx->server), true);
    assert_non_null (raw);

    zsock_t *pinging = zsock_new (ZMQ_DEALER);
    assert_non_null (pinging);
    zcert_apply (s_known[1], pinging);
    zsock_set_curve_serverkey (pinging, zcert_public_txt (fx->server));
    zsock_set_linger (pinging, 0);
    zsock_set_heartbeat_ivl (pinging, 200);
    zsock_set_heartbeat_ttl (pinging, 600);
    zsock_set_heartbeat_timeout (pinging, 600);
    assert_int_equal (zsock_connect (pinging, "%s", fx->front_endpoint), 0);
    zsock_t *events = s_monitor (pinging, "pinging");
    s_heartbeat (pinging, 1, "report");
    assert_int_equal (s_expect_reply (pinging, 1, NULL), PD_OK);

    static uint8_t parts[PD_TEST_ZMTP_MAX_PARTS][PD_TEST_ZMTP_MAX_PART];
    size_t sizes[PD_TEST_ZMTP_MAX_PARTS];
    int64_t start = zclock_mono ();
    assert_int_equal (pd_test_zmtp_recv (raw, parts, sizes, PD_TEST_ZMTP_MAX_PARTS, 5500), -1);
    assert_true (zclock_mono () - start >= 5400); //  a time-out, not something that came

    s_heartbeat (pinging, 2, "report");
    assert_int_equal (s_expect_reply (pinging, 2, NULL), PD_OK);
    assert_int_equal (s_disconnects (events), 0);
    zsock_destroy (&events);
    zsock_destroy (&pinging);
    pd_test_zmtp_destroy (&raw);
}

//  PROTOCOL.md 16.1 and 16.4: under CURVE a frame carries at most 1 MiB
//  less 33 bytes; one byte more closes the connection, unanswered
static void
test_frame_limit_under_curve (void **state)
{
    fixture_t *fx = *state;
    const size_t limit = PD_PROTO_MAX_MSG_SIZE - 33;
    zsock_t *appliance = s_appliance (fx, s_known[2]);
    zsock_t *events = s_monitor (appliance, "limit");
    uint8_t *big = calloc (1, limit + 1);
    assert_non_null (big);
    memset (big, 'x', limit + 1);
    //  At the limit: delivered, and answered (the body is no record)
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, PD_FRONT_SIGNATURE);
    zmsg_addstr (msg, "report");
    zmsg_append (msg, &(zframe_t *){pd_proto_u64 (1)});
    zmsg_addmem (msg, big, limit);
    assert_int_equal (zmsg_send (&msg, appliance), 0);
    assert_int_equal (s_expect_reply (appliance, 1, NULL), PD_E_MALFORMED);
    assert_int_equal (s_disconnects (events), 0);
    //  One byte more: the front's libzmq closes the connection
    msg = zmsg_new ();
    zmsg_addstr (msg, PD_FRONT_SIGNATURE);
    zmsg_addstr (msg, "report");
    zmsg_append (msg, &(zframe_t *){pd_proto_u64 (2)});
    zmsg_addmem (msg, big, limit + 1);
    assert_int_equal (zmsg_send (&msg, appliance), 0);
    zmsg_t *answer = s_recv (appliance, 1000);
    assert_null (answer);
    int disconnects = 0;
    for (int i = 0; i < 50 && disconnects == 0; i++) {
        zclock_sleep (20);
        disconnects = s_disconnects (events);
    }
    assert_int_equal (disconnects, 1);
    free (big);
    zsock_destroy (&events);
    zsock_destroy (&appliance);
}

//  PROTOCOL.md 16.2: an unknown type with 3 to 5 frames is answered
//  unknown_message_type, so is a type only the front sends; 6 frames or a
//  bad request_id are dropped
static void
test_unknown_types_framing (void **state)
{
    fixture_t *fx = *state;
    zsock_t *appliance = s_appliance (fx, s_known[3]);
    for (int extra = 0; extra <= 2; extra++) {
        zmsg_t *msg = zmsg_new ();
        zmsg_addstr (msg, PD_FRONT_SIGNATURE);
        zmsg_addstr (msg, extra == 2 ? "command" : "dispatch");
        zmsg_append (msg, &(zframe_t *){pd_proto_u64 (10 + (uint64_t)extra)});
        for (int i = 0; i < extra; i++)
            zmsg_addstr (msg, "x");
        assert_int_equal (zmsg_send (&msg, appliance), 0);
        assert_int_equal (s_expect_reply (appliance, 10 + (uint64_t)extra, NULL),
                          PD_E_UNKNOWN_TYPE);
    }
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, PD_FRONT_SIGNATURE);
    zmsg_addstr (msg, "dispatch");
    zmsg_append (msg, &(zframe_t *){pd_proto_u64 (20)});
    for (int i = 0; i < 3; i++)
        zmsg_addstr (msg, "x");
    assert_int_equal (zmsg_send (&msg, appliance), 0);
    msg = zmsg_new ();
    zmsg_addstr (msg, PD_FRONT_SIGNATURE);
    zmsg_addstr (msg, "dispatch");
    zmsg_addstr (msg, "1234567"); //  a request_id of 7 bytes
    assert_int_equal (zmsg_send (&msg, appliance), 0);
    //  Neither is answered; the link still works
    s_heartbeat (appliance, 21, "report");
    assert_int_equal (s_expect_reply (appliance, 21, NULL), PD_OK);
    //  A known type whose body is not its record is refused by the front,
    //  with the field at fault, and goes no further
    pd_escalation_input_t escalation = {.priority = "P1"}; //  no title
    s_send (appliance, "escalate", 22, NULL, &pd_escalation_input_schema, &escalation);
    zframe_t *body = NULL;
    assert_int_equal (s_expect_reply (appliance, 22, &body), PD_E_MISSING_FIELD);
    pd_error_t error = {0};
    assert_int_equal (
        pd_schema_decode (&pd_error_schema, zframe_data (body), zframe_size (body), &error, NULL),
        PD_OK);
    assert_string_equal (error.field, "title");
    pd_schema_clear (&pd_error_schema, &error);
    zframe_destroy (&body);
    zsock_destroy (&appliance);
}

int
main (void)
{
    zsys_init ();
    for (int i = 0; i < KNOWN; i++)
        s_known[i] = zcert_new ();
    s_revoked = zcert_new ();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_claim_then_heartbeat, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_keepalive_as_specified, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_unchanged_heartbeats_sent_seldom, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_frame_limit_under_curve, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_unknown_types_framing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_reused_routing_id_is_not_the_appliance, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_unclaimed_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_heartbeats_coalesced, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_revoked_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_principal_key_from_handshake, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_command_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_command_unconnected, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_revocation_closes_link, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_silent_appliance_not_connected, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_revoked_before_first_message, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_zap_before_bind, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_one_front_per_process, s_setup, s_teardown),
        cmocka_unit_test (test_front_key_permissions_match),
    };
    int failed = cmocka_run_group_tests (tests, NULL, NULL);
    for (int i = 0; i < KNOWN; i++)
        zcert_destroy (&s_known[i]);
    zcert_destroy (&s_revoked);
    return failed;
}
