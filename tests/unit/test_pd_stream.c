/*  test_pd_stream - the stream follower against a real broker, store and
    stream actor. A test publisher actor appends events (pd_ctx_emit +
    pd_ctx_commit) when a client asks it to: partner.create {name} stores
    and publishes one event whose detail is the name, into the stream named
    by contact_name (default "audit"). The tests publish "e<k>" as the k-th
    event, so every delivered event can be checked against its seq.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pd_actor.h"
#include "pd_broker.h"
#include "pd_client.h"
#include "pd_stream.h"
#include "pd_stream_actor.h"
#include "pd_test_stack.h"

#define TIMEOUT_MS          5000
#define PD_EVENT_DETAIL_MAX 1024 //  event.detail's limit in pd_messages.h
#define QUIET_MS            300  //  how long "nothing more comes" is checked

//  ------------------------------------------------------------------------
//  The test publisher

static void *
s_publisher_state_new (pd_store_t *store, const pd_config_t *config)
{
    return store; //  no state of its own; non-NULL means ready
}

static int
s_publish_handler (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_partner_create_t *req = request;
    int first = atoi (req->name + 1);
    int count =
        PD_HAS (req, partner_create, revenue_share_percent) ? (int)req->revenue_share_percent : 1;
    const char *stream = req->contact_name ? req->contact_name : PD_STREAM_AUDIT;
    pd_store_batch_t *batch = pd_store_batch_new ();
    int rc = PD_OK;
    for (int i = 0; i < count && rc == PD_OK; i++) {
        //  With contact_phone set, the detail is padded to its largest size
        char detail[PD_EVENT_DETAIL_MAX + 1];
        int length = snprintf (detail, sizeof (detail), "e%d", first + i);
        if (req->contact_phone) {
            memset (detail + length, 'x', PD_EVENT_DETAIL_MAX - (size_t)length);
            detail[length] = ' ';
            detail[PD_EVENT_DETAIL_MAX] = 0;
        }
        pd_event_t event = {0};
        event.type = "test.event";
        event.detail = detail;
        event.actor = (char *)pd_ctx_actor (ctx);
        rc = pd_ctx_emit (ctx, batch, stream, &event);
    }
    if (rc == PD_OK)
        rc = pd_ctx_commit (ctx, batch);
    pd_store_batch_destroy (&batch);
    //  The reply must be a valid partner
    pd_partner_t *partner = reply;
    if (rc == PD_OK && (pd_schema_set_str (&partner->id, req->name) != PD_OK ||
                        pd_schema_set_str (&partner->name, req->name) != PD_OK ||
                        pd_schema_set_str (&partner->contact_email, req->contact_email) != PD_OK))
        rc = PD_E_INTERNAL;
    return rc;
}

static const pd_handler_t s_publisher_handlers[] = {
    {"partner.create", s_publish_handler},
    {NULL, NULL},
};

static const pd_actor_def_t s_publisher = {.service = "partners",
                                           .handlers = s_publisher_handlers,
                                           .state_new = s_publisher_state_new,
                                           .state_destroy = NULL};

//  ------------------------------------------------------------------------
//  Fixture

typedef struct {
    pd_test_stack_t *stack; //  store, broker, the test thread's publishing client
    zactor_t *stream_actor;
    zactor_t *publisher;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fx = calloc (1, sizeof (fixture_t));
    assert_non_null (fx);
    fx->stack = pd_test_stack_new ("test_pd_stream");
    assert_non_null (fx->stack);
    fx->stream_actor = pd_test_stack_actor (fx->stack, &pd_stream_actor);
    assert_non_null (fx->stream_actor);
    fx->publisher = pd_test_stack_actor (fx->stack, &s_publisher);
    assert_non_null (fx->publisher);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = *state;
    zactor_destroy (&fx->publisher);
    zactor_destroy (&fx->stream_actor);
    pd_test_stack_destroy (&fx->stack);
    free (fx);
    return 0;
}

//  ------------------------------------------------------------------------
//  Helpers

//  Publish events "e<k>".."e<k+count-1>" to `stream` (NULL = audit) in
//  one batch, through the publisher actor
static int
s_publish_padded (pd_client_t *client, const char *stream, int k, int count, bool padded)
{
    static const pd_principal_t admin = {.kind = "admin"};
    pd_header_t header = {0};
    header.type = "partner.create";
    header.principal = (pd_principal_t *)&admin;
    char name[32];
    snprintf (name, sizeof (name), "e%d", k);
    pd_partner_create_t body = {0};
    body.name = name;
    body.contact_email = "ops@example.com";
    body.contact_name = (char *)stream;
    body.revenue_share_percent = count;
    PD_MARK (&body, partner_create, revenue_share_percent);
    body.contact_phone = padded ? "pad" : NULL;
    uint8_t *header_data = NULL, *body_data = NULL, *reply = NULL;
    size_t header_size = 0, body_size = 0, reply_size = 0;
    int rc = pd_schema_encode (&pd_header_schema, &header, &header_data, &header_size);
    if (rc == PD_OK)
        rc = pd_schema_encode (&pd_partner_create_schema, &body, &body_data, &body_size);
    if (rc == PD_OK)
        rc = pd_client_request (client, "partners", header_data, header_size, body_data, body_size,
                                TIMEOUT_MS, &reply, &reply_size);
    free (header_data);
    free (body_data);
    free (reply);
    return rc;
}

static int
s_publish_batch (pd_client_t *client, const char *stream, int k, int count)
{
    return s_publish_padded (client, stream, k, count, false);
}

static int
s_publish_with (pd_client_t *client, const char *stream, int k)
{
    return s_publish_batch (client, stream, k, 1);
}

static void
s_publish (fixture_t *fx, int from, int to)
{
    for (int k = from; k <= to; k++)
        assert_int_equal (s_publish_with (fx->stack->client, NULL, k), PD_OK);
}

//  Store event "e<k>" in "audit" without publishing it live (as if the PUB
//  had dropped it)
static void
s_store_only (fixture_t *fx, int k)
{
    char name[32];
    snprintf (name, sizeof (name), "e%d", k);
    pd_event_t event = {0};
    event.type = "test.event";
    event.detail = name;
    uint8_t *data = NULL;
    size_t size = 0;
    assert_int_equal (pd_schema_encode (&pd_event_schema, &event, &data, &size), PD_OK);
    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_int_equal (
        pd_store_batch_append (batch, PD_ACTOR_EVENT_TABLE, PD_STREAM_AUDIT, data, size), PD_OK);
    assert_int_equal (pd_store_commit (fx->stack->store, batch), PD_OK);
    assert_int_equal (pd_store_batch_seq (batch, 0), (uint64_t)k);
    pd_store_batch_destroy (&batch);
    free (data);
}

//  A detail is "e<k>", or "e<k> xxx..." when padded
static void
s_assert_detail (const char *detail, const char *name)
{
    assert_non_null (detail);
    assert_int_equal (strcspn (detail, " "), strlen (name));
    assert_memory_equal (detail, name, strlen (name));
}

//  The next event must be seq `k` with detail "e<k>"
static void
s_expect (pd_stream_t *follower, uint64_t k)
{
    uint64_t seq = 0;
    uint8_t *data = NULL;
    size_t size = 0;
    assert_int_equal (pd_stream_next (follower, &seq, &data, &size, TIMEOUT_MS), PD_OK);
    assert_int_equal (seq, k);
    pd_event_t event = {0};
    assert_int_equal (pd_schema_decode (&pd_event_schema, data, size, &event, NULL), PD_OK);
    char name[32];
    snprintf (name, sizeof (name), "e%d", (int)k);
    s_assert_detail (event.detail, name);
    pd_schema_clear (&pd_event_schema, &event);
    free (data);
    assert_int_equal (pd_stream_position (follower), k);
}

//  Nothing more comes for a while
static void
s_expect_quiet (pd_stream_t *follower)
{
    uint64_t seq = 0;
    uint8_t *data = NULL;
    size_t size = 0;
    assert_int_equal (pd_stream_next (follower, &seq, &data, &size, QUIET_MS), PD_E_TIMEOUT);
    assert_null (data);
}

static pd_stream_t *
s_follow (fixture_t *fx, const char *stream, uint64_t from)
{
    pd_stream_t *follower =
        pd_stream_new (fx->stack->endpoint, fx->stack->stream_endpoint, stream, from);
    assert_non_null (follower);
    return follower;
}

//  ------------------------------------------------------------------------
//  Tests

//  The usage example: history from 4, then live
//  A tail key may call the service a follower reads history from
static void
test_tail_key_reaches_history (void **state)
{
    assert_string_equal (pd_message_find ("stream.read")->service, PD_KEYS_TAIL_CALLS);
}

static void
test_history_then_live (void **state)
{
    fixture_t *fx = *state;
    s_publish (fx, 1, 10);
    pd_stream_t *follower = s_follow (fx, PD_STREAM_AUDIT, 4);
    assert_int_equal (pd_stream_position (follower), 3);
    for (uint64_t k = 4; k <= 10; k++)
        s_expect (follower, k);
    s_publish (fx, 11, 15);
    for (uint64_t k = 11; k <= 15; k++)
        s_expect (follower, k);
    s_expect_quiet (follower);
    pd_stream_destroy (&follower);
    assert_null (follower);
    pd_stream_destroy (&follower); //  idempotent
}

static void
test_from_end (void **state)
{
    fixture_t *fx = *state;
    s_publish (fx, 1, 10);
    pd_stream_t *follower = s_follow (fx, PD_STREAM_AUDIT, 0);
    assert_int_equal (pd_stream_position (follower), 10);
    s_expect_quiet (follower);
    s_publish (fx, 11, 13);
    for (uint64_t k = 11; k <= 13; k++)
        s_expect (follower, k);
    pd_stream_destroy (&follower);

    //  An empty stream: from the end is from 1
    follower = s_follow (fx, "empty", 0);
    assert_int_equal (pd_stream_position (follower), 0);
    pd_stream_destroy (&follower);
}

//  A publisher thread: publishes e1..eN one by one, signals when half are
//  out and again when done (1 if some failed), then waits for $TERM
#define CONCURRENT_N 400

static void
s_publisher_task (zsock_t *pipe, void *args)
{
    pd_client_t *client = pd_client_new ((const char *)args);
    zsock_signal (pipe, 0);
    int failed = client ? 0 : CONCURRENT_N;
    for (int k = 1; client && k <= CONCURRENT_N; k++) {
        if (s_publish_with (client, NULL, k) != PD_OK)
            failed++;
        if (k == CONCURRENT_N / 2)
            zsock_signal (pipe, 0);
    }
    if (!client)
        zsock_signal (pipe, 0);
    zsock_signal (pipe, failed ? 1 : 0);
    char *command = zstr_recv (pipe);
    zstr_free (&command);
    pd_client_destroy (&client);
}

//  Read from `follower` until position `last`: each of first..last once, in
//  order, with the detail that says which it is
static void
s_expect_all (pd_stream_t *follower, uint64_t first, uint64_t last)
{
    bool *seen = calloc (last + 1, sizeof (bool));
    assert_non_null (seen);
    assert_int_equal (pd_stream_position (follower), first - 1);
    while (pd_stream_position (follower) < last) {
        uint64_t expected = pd_stream_position (follower) + 1;
        uint64_t seq = 0;
        uint8_t *data = NULL;
        size_t size = 0;
        assert_int_equal (pd_stream_next (follower, &seq, &data, &size, TIMEOUT_MS), PD_OK);
        assert_int_equal (seq, expected);
        assert_true (seq >= first && seq <= last);
        assert_false (seen[seq]);
        seen[seq] = true;
        pd_event_t event = {0};
        assert_int_equal (pd_schema_decode (&pd_event_schema, data, size, &event, NULL), PD_OK);
        char name[32];
        snprintf (name, sizeof (name), "e%d", (int)seq);
        s_assert_detail (event.detail, name);
        pd_schema_clear (&pd_event_schema, &event);
        free (data);
    }
    for (uint64_t k = first; k <= last; k++)
        assert_true (seen[k]);
    free (seen);
}

//  The follower starts from 1 when half the events are out and the rest
//  are being published: history and live overlap
static void
test_concurrent_publishing (void **state)
{
    fixture_t *fx = *state;
    zactor_t *publisher = zactor_new (s_publisher_task, fx->stack->endpoint);
    assert_non_null (publisher);
    assert_int_equal (zsock_wait (publisher), 0); //  half are out
    pd_stream_t *follower = s_follow (fx, PD_STREAM_AUDIT, 1);
    s_expect_all (follower, 1, CONCURRENT_N);
    assert_int_equal (zsock_wait (publisher), 0); //  all were published
    zactor_destroy (&publisher);
    s_expect_quiet (follower);
    pd_stream_destroy (&follower);
}

//  More history than one page holds; batches of many events, live too
static void
test_long_history (void **state)
{
    fixture_t *fx = *state;
    enum { BATCH = 100, HISTORY = PD_STREAM_READ_MAX + 2 * BATCH };
    for (int k = 1; k <= HISTORY; k += BATCH)
        assert_int_equal (s_publish_batch (fx->stack->client, NULL, k, BATCH), PD_OK);
    pd_stream_t *follower = s_follow (fx, PD_STREAM_AUDIT, 1);
    s_expect_all (follower, 1, HISTORY);
    assert_int_equal (s_publish_batch (fx->stack->client, NULL, HISTORY + 1, BATCH), PD_OK);
    for (uint64_t k = HISTORY + 1; k <= HISTORY + BATCH; k++)
        s_expect (follower, k);
    s_expect_quiet (follower);
    pd_stream_destroy (&follower);
}

//  Large events: a page is cut by bytes before it reaches its item limit
static void
test_large_events (void **state)
{
    fixture_t *fx = *state;
    enum { BATCH = 100, TOTAL = 1100 };
    for (int k = 1; k <= TOTAL; k += BATCH)
        assert_int_equal (s_publish_padded (fx->stack->client, NULL, k, BATCH, true), PD_OK);
    pd_stream_t *follower = s_follow (fx, PD_STREAM_AUDIT, 1);
    s_expect_all (follower, 1, TOTAL);
    s_expect_quiet (follower);
    pd_stream_destroy (&follower);
}

static void
test_resume (void **state)
{
    fixture_t *fx = *state;
    s_publish (fx, 1, 10);
    pd_stream_t *a = s_follow (fx, PD_STREAM_AUDIT, 1);
    for (uint64_t k = 1; k <= 7; k++)
        s_expect (a, k);
    uint64_t position = pd_stream_position (a);
    pd_stream_destroy (&a);

    pd_stream_t *b = s_follow (fx, PD_STREAM_AUDIT, position + 1);
    for (uint64_t k = 8; k <= 10; k++)
        s_expect (b, k);
    s_publish (fx, 11, 12);
    s_expect (b, 11);
    s_expect (b, 12);
    pd_stream_destroy (&b);
}

//  Events that never came live are read from history: a gap revealed by
//  the next live event, and a lost tail found by the idle check
static void
test_gap_and_tail_repaired (void **state)
{
    fixture_t *fx = *state;
    pd_stream_t *follower = s_follow (fx, PD_STREAM_AUDIT, 1);
    s_publish (fx, 1, 3);
    for (uint64_t k = 1; k <= 3; k++)
        s_expect (follower, k);
    s_store_only (fx, 4);
    s_store_only (fx, 5);
    s_publish (fx, 6, 6);
    for (uint64_t k = 4; k <= 6; k++)
        s_expect (follower, k);
    s_store_only (fx, 7);
    s_expect (follower, 7);
    s_expect_quiet (follower);
    pd_stream_destroy (&follower);
}

//  Live events a little out of order are put back in order without
//  history: here they are nowhere else (published, never stored), so a
//  follower that read history for the gap would lose the later one
static void
test_live_out_of_order (void **state)
{
    fixture_t *fx = *state;
    pd_stream_t *follower = s_follow (fx, PD_STREAM_AUDIT, 0);
    pd_client_t *client = pd_client_new (fx->stack->endpoint);
    assert_non_null (client);
    for (int k = 2; k >= 1; k--) {
        char name[32];
        snprintf (name, sizeof (name), "e%d", k);
        pd_event_t event = {.type = (char *)"test.event", .detail = name};
        uint8_t *data = NULL;
        size_t size = 0;
        assert_int_equal (pd_schema_encode (&pd_event_schema, &event, &data, &size), PD_OK);
        assert_int_equal (pd_client_publish (client, PD_STREAM_AUDIT, (uint64_t)k, data, size),
                          PD_OK);
        free (data);
    }
    s_expect (follower, 1);
    s_expect (follower, 2);
    pd_client_destroy (&client);
    pd_stream_destroy (&follower);
}

//  A follower of "audit" sees nothing of "audit2" (subscriptions are
//  prefixes), and "audit2" has its own numbering
static void
test_streams_are_separate (void **state)
{
    fixture_t *fx = *state;
    pd_stream_t *audit = s_follow (fx, PD_STREAM_AUDIT, 1);
    pd_stream_t *audit2 = s_follow (fx, "audit2", 1);
    assert_int_equal (s_publish_with (fx->stack->client, "audit2", 1), PD_OK);
    assert_int_equal (s_publish_with (fx->stack->client, PD_STREAM_AUDIT, 1), PD_OK);
    assert_int_equal (s_publish_with (fx->stack->client, "audit2", 2), PD_OK);
    assert_int_equal (s_publish_with (fx->stack->client, PD_STREAM_AUDIT, 2), PD_OK);
    s_expect (audit, 1);
    s_expect (audit, 2);
    s_expect_quiet (audit);
    s_expect (audit2, 1);
    s_expect (audit2, 2);
    pd_stream_destroy (&audit);
    pd_stream_destroy (&audit2);
}

static void
test_bad_arguments (void **state)
{
    fixture_t *fx = *state;
    assert_null (pd_stream_new (fx->stack->endpoint, fx->stack->stream_endpoint, "", 1));
    assert_null (pd_stream_new (fx->stack->endpoint, fx->stack->stream_endpoint, NULL, 1));
    assert_null (pd_stream_new (NULL, fx->stack->stream_endpoint, PD_STREAM_AUDIT, 1));
    char long_name[PD_PROTO_MAX_STREAM + 2];
    memset (long_name, 'a', sizeof (long_name) - 1);
    long_name[sizeof (long_name) - 1] = 0;
    assert_null (pd_stream_new (fx->stack->endpoint, fx->stack->stream_endpoint, long_name, 1));
    assert_null (pd_stream_new (fx->stack->endpoint, fx->stack->stream_endpoint, PD_STREAM_AUDIT,
                                UINT64_MAX));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_history_then_live, s_setup, s_teardown),
        cmocka_unit_test (test_tail_key_reaches_history),
        cmocka_unit_test_setup_teardown (test_from_end, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_concurrent_publishing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_long_history, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_large_events, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_resume, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_gap_and_tail_repaired, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_live_out_of_order, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_streams_are_separate, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_arguments, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
