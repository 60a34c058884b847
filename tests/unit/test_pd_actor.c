/*  test_pd_actor - the actor runtime, run for real: a broker on inproc, a
    store in a fresh temporary directory, the stream actor and a test actor
    for "partners", and a client sending msgpack headers and bodies built
    here with msgpack-c (not with the schema engine under test).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>

#include "pd_actor.h"
#include "pd_actors.h"
#include "pd_broker.h"
#include "pd_client.h"
#include "pd_stream_actor.h"
#include "pd_test_stack.h"

#define TIMEOUT_MS 5000

//  ------------------------------------------------------------------------
//  A test actor for service "partners": partner.get echoes the id in a
//  partner whose name tells which instance answered, after appending an
//  audit event; id "missing" fails with a detail.

static atomic_int s_instances;

typedef struct {
    int instance; //  1, 2, ... in start order
} test_state_t;

static void *
s_test_state_new (pd_store_t *store, const pd_config_t *config)
{
    test_state_t *self = calloc (1, sizeof (test_state_t));
    if (self)
        self->instance = atomic_fetch_add (&s_instances, 1) + 1;
    return self;
}

static void
s_test_state_destroy (void **self_p)
{
    free (*self_p);
    *self_p = NULL;
}

//  Calls of id "wait" block until s_release (test_served_in_caller_thread)
static pthread_mutex_t s_wait_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_wait_cond = PTHREAD_COND_INITIALIZER;
static int s_waiting;   //  calls blocked now
static bool s_released; //  let them go

static void
s_release (void)
{
    pthread_mutex_lock (&s_wait_lock);
    s_released = true;
    pthread_cond_broadcast (&s_wait_cond);
    pthread_mutex_unlock (&s_wait_lock);
}

static int
s_partner_get (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    test_state_t *self = state;
    const pd_partner_ref_t *ref = request;
    pd_partner_t *partner = reply;
    if (strcmp (ref->id, "wait") == 0) {
        pthread_mutex_lock (&s_wait_lock);
        s_waiting++;
        pthread_cond_broadcast (&s_wait_cond);
        while (!s_released)
            pthread_cond_wait (&s_wait_cond, &s_wait_lock);
        s_waiting--;
        pthread_mutex_unlock (&s_wait_lock);
    }
    if (strcmp (ref->id, "missing") == 0)
        return pd_ctx_fail (ctx, PD_E_NOT_FOUND, "id", "no partner %s", ref->id);
    //  Handler bugs and awkward details, for test_handler_bugs
    if (strcmp (ref->id, "no_reply") == 0)
        return PD_OK; //  a partner without its required fields
    if (strcmp (ref->id, "odd_status") == 0)
        return 12345;
    if (strcmp (ref->id, "control") == 0)
        return pd_ctx_fail (ctx, PD_E_CONFLICT, "id",
                            "one\ntwo\x01three\xc2\x85"
                            "four\xff");
    if (strcmp (ref->id, "long") == 0) {
        char text[400] = "";
        for (int i = 0; i < 100; i++)
            strcat (text, "\xc3\xa9"); //  "é": cut by the buffer at some byte
        return pd_ctx_fail (ctx, PD_E_CONFLICT, NULL, "xy%s", text);
    }
    if (strcmp (ref->id, "bad_event") == 0) {
        pd_event_t event = {0}; //  no type
        pd_store_batch_t *batch = pd_store_batch_new ();
        int rc = pd_ctx_emit (ctx, batch, PD_STREAM_AUDIT, &event);
        pd_store_batch_destroy (&batch);
        return rc;
    }

    pd_event_t event = {0};
    event.type = "partner.viewed";
    event.at = pd_ctx_now (ctx);
    PD_MARK (&event, event, at);
    event.subject = ref->id;
    event.actor = (char *)pd_ctx_actor (ctx);
    pd_store_batch_t *batch = pd_store_batch_new ();
    int rc = pd_ctx_emit (ctx, batch, PD_STREAM_AUDIT, &event);
    if (rc == PD_OK)
        rc = pd_ctx_commit (ctx, batch);
    pd_store_batch_destroy (&batch);
    if (rc != PD_OK)
        return rc;

    char name[32];
    snprintf (name, sizeof (name), "instance %d", self->instance);
    if (pd_schema_set_str (&partner->id, ref->id) != PD_OK ||
        pd_schema_set_str (&partner->name, name) != PD_OK ||
        pd_schema_set_str (&partner->contact_email, "ops@example.com") != PD_OK)
        return PD_E_INTERNAL;
    return PD_OK;
}

static const pd_handler_t s_test_handlers[] = {
    {"partner.get", s_partner_get},
    {NULL, NULL},
};

static const pd_actor_def_t s_test_actor = {.service = "partners",
                                            .handlers = s_test_handlers,
                                            .state_new = s_test_state_new,
                                            .state_destroy = s_test_state_destroy};

//  An actor whose set-up fails
static void *
s_failing_state_new (pd_store_t *store, const pd_config_t *config)
{
    return NULL;
}

static const pd_actor_def_t s_failing_actor = {.service = "partners",
                                               .handlers = s_test_handlers,
                                               .state_new = s_failing_state_new,
                                               .state_destroy = s_test_state_destroy};

//  ------------------------------------------------------------------------
//  Fixture: store + broker + stream actor + test actor + client

typedef struct {
    pd_test_stack_t *stack; //  store, broker, client
    zactor_t *stream;       //  pd_stream_actor
    zactor_t *partners;     //  the test actor
} fixture_t;

static zactor_t *
s_actor_start (fixture_t *fx, const pd_actor_def_t *def)
{
    return pd_test_stack_actor (fx->stack, def);
}

static int
s_setup (void **state)
{
    fixture_t *fx = calloc (1, sizeof (fixture_t));
    assert_non_null (fx);
    fx->stack = pd_test_stack_new ("test_pd_actor");
    assert_non_null (fx->stack);
    fx->stream = s_actor_start (fx, &pd_stream_actor);
    assert_non_null (fx->stream);
    fx->partners = s_actor_start (fx, &s_test_actor);
    assert_non_null (fx->partners);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = *state;
    zactor_destroy (&fx->partners);
    zactor_destroy (&fx->stream);
    pd_test_stack_destroy (&fx->stack);
    free (fx);
    return 0;
}

//  ------------------------------------------------------------------------
//  Wire helpers: msgpack built by hand

typedef struct {
    msgpack_sbuffer buffer;
    msgpack_packer packer;
} s_pack_t;

static void
s_pack_init (s_pack_t *pack)
{
    msgpack_sbuffer_init (&pack->buffer);
    msgpack_packer_init (&pack->packer, &pack->buffer, msgpack_sbuffer_write);
}

static void
s_pack_str (s_pack_t *pack, const char *text)
{
    msgpack_pack_str_with_body (&pack->packer, text, strlen (text));
}

//  A header {type, principal: {kind, key_id}}; kind NULL = no principal
static void
s_header (s_pack_t *pack, const char *type, const char *kind)
{
    s_pack_init (pack);
    msgpack_pack_map (&pack->packer, kind ? 2 : 1);
    s_pack_str (pack, "type");
    s_pack_str (pack, type);
    if (kind) {
        s_pack_str (pack, "principal");
        msgpack_pack_map (&pack->packer, 2);
        s_pack_str (pack, "kind");
        s_pack_str (pack, kind);
        s_pack_str (pack, "key_id");
        s_pack_str (pack, "pda_test");
    }
}

//  A body {key: value} of one string, or {} when key is NULL
static void
s_body (s_pack_t *pack, const char *key, const char *value)
{
    s_pack_init (pack);
    msgpack_pack_map (&pack->packer, key ? 1 : 0);
    if (key) {
        s_pack_str (pack, key);
        s_pack_str (pack, value);
    }
}

//  Send raw header and body bytes, return the status; *reply gets the body
static int
s_request_raw (fixture_t *fx, const char *service, const void *header, size_t header_size,
               const void *body, size_t body_size, uint8_t **reply, size_t *reply_size)
{
    *reply = NULL;
    *reply_size = 0;
    return pd_client_request (fx->stack->client, service, header, header_size, body, body_size,
                              TIMEOUT_MS, reply, reply_size);
}

static int
s_request (fixture_t *fx, const char *service, const char *type, const char *kind, s_pack_t *body,
           uint8_t **reply, size_t *reply_size)
{
    s_pack_t header;
    s_header (&header, type, kind);
    int rc = s_request_raw (fx, service, header.buffer.data, header.buffer.size, body->buffer.data,
                            body->buffer.size, reply, reply_size);
    msgpack_sbuffer_destroy (&header.buffer);
    msgpack_sbuffer_destroy (&body->buffer);
    return rc;
}

//  partner.get {id} as `kind`
static int
s_partner_get_as (fixture_t *fx, const char *id, const char *kind, pd_partner_t *partner)
{
    s_pack_t body;
    s_body (&body, "id", id);
    uint8_t *reply = NULL;
    size_t reply_size = 0;
    int rc = s_request (fx, "partners", "partner.get", kind, &body, &reply, &reply_size);
    if (rc == PD_OK && partner)
        assert_int_equal (pd_schema_decode (&pd_partner_schema, reply, reply_size, partner, NULL),
                          PD_OK);
    free (reply);
    return rc;
}

//  Decode an error body and check its code, field and detail (NULL = any)
static void
s_assert_error (const uint8_t *reply, size_t reply_size, int status, const char *field,
                const char *detail)
{
    pd_error_t error = {0};
    assert_int_equal (pd_schema_decode (&pd_error_schema, reply, reply_size, &error, NULL), PD_OK);
    assert_string_equal (error.code, pd_status_code (status));
    if (field)
        assert_string_equal (error.field, field);
    if (detail)
        assert_string_equal (error.detail, detail);
    pd_schema_clear (&pd_error_schema, &error);
}

//  stream.read {stream, from} as admin
static int
s_stream_read (fixture_t *fx, const char *stream, int64_t from, pd_stream_page_t *page)
{
    s_pack_t body;
    s_pack_init (&body);
    msgpack_pack_map (&body.packer, 2);
    s_pack_str (&body, "stream");
    s_pack_str (&body, stream);
    s_pack_str (&body, "from");
    msgpack_pack_int64 (&body.packer, from);
    uint8_t *reply = NULL;
    size_t reply_size = 0;
    int rc = s_request (fx, "stream", "stream.read", "admin", &body, &reply, &reply_size);
    if (rc == PD_OK)
        assert_int_equal (pd_schema_decode (&pd_stream_page_schema, reply, reply_size, page, NULL),
                          PD_OK);
    free (reply);
    return rc;
}

//  ------------------------------------------------------------------------
//  Tests

//  The usage example: a request, its reply, the audit event it stored
static void
test_request_reply_and_event (void **state)
{
    fixture_t *fx = *state;
    pd_partner_t partner = {0};
    assert_int_equal (s_partner_get_as (fx, "prt_1", "admin", &partner), PD_OK);
    assert_string_equal (partner.id, "prt_1");
    assert_string_equal (partner.contact_email, "ops@example.com");
    pd_schema_clear (&pd_partner_schema, &partner);

    pd_stream_page_t page = {0};
    assert_int_equal (s_stream_read (fx, PD_STREAM_AUDIT, 1, &page), PD_OK);
    assert_int_equal (page.last_seq, 1);
    assert_int_equal (page.items.size, 1);
    pd_stream_item_t *item = page.items.items;
    assert_int_equal (item->seq, 1);
    const pd_event_t *event = item->event;
    assert_non_null (event);
    assert_string_equal (event->type, "partner.viewed");
    assert_string_equal (event->subject, "prt_1");
    assert_string_equal (event->actor, "admin:pda_test");
    assert_true (event->at > 0);
    pd_schema_clear (&pd_stream_page_schema, &page);
}

static void
test_unknown_type (void **state)
{
    fixture_t *fx = *state;
    //  Not in the catalogue; in it but not handled; handled by another service
    const char *cases[][2] = {
        {"partners", "no.such.type"},
        {"partners", "partner.create"},
        {"partners", "stream.read"},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        s_pack_t body;
        s_body (&body, "id", "prt_1");
        uint8_t *reply = NULL;
        size_t reply_size = 0;
        int rc = s_request (fx, cases[i][0], cases[i][1], "admin", &body, &reply, &reply_size);
        assert_int_equal (rc, PD_E_UNKNOWN_TYPE);
        s_assert_error (reply, reply_size, PD_E_UNKNOWN_TYPE, "type", NULL);
        free (reply);
    }
}

static void
test_missing_field (void **state)
{
    fixture_t *fx = *state;
    //  An empty map, then no body at all: both lack the required id
    for (int empty = 0; empty < 2; empty++) {
        s_pack_t header;
        s_header (&header, "partner.get", "admin");
        s_pack_t body;
        s_body (&body, NULL, NULL);
        uint8_t *reply = NULL;
        size_t reply_size = 0;
        int rc =
            s_request_raw (fx, "partners", header.buffer.data, header.buffer.size, body.buffer.data,
                           empty ? 0 : body.buffer.size, &reply, &reply_size);
        assert_int_equal (rc, PD_E_MISSING_FIELD);
        s_assert_error (reply, reply_size, PD_E_MISSING_FIELD, "id", NULL);
        free (reply);
        msgpack_sbuffer_destroy (&header.buffer);
        msgpack_sbuffer_destroy (&body.buffer);
    }
    //  A wrong type is invalid, and nothing reached the handler
    s_pack_t body;
    s_pack_init (&body);
    msgpack_pack_map (&body.packer, 1);
    s_pack_str (&body, "id");
    msgpack_pack_int (&body.packer, 42);
    uint8_t *reply = NULL;
    size_t reply_size = 0;
    assert_int_equal (
        s_request (fx, "partners", "partner.get", "admin", &body, &reply, &reply_size),
        PD_E_INVALID_FIELD);
    s_assert_error (reply, reply_size, PD_E_INVALID_FIELD, "id", NULL);
    free (reply);
    pd_stream_page_t page = {0};
    assert_int_equal (s_stream_read (fx, PD_STREAM_AUDIT, 1, &page), PD_OK);
    assert_int_equal (page.last_seq, 0);
    assert_int_equal (page.items.size, 0);
    pd_schema_clear (&pd_stream_page_schema, &page);
}

static void
test_malformed_header (void **state)
{
    fixture_t *fx = *state;
    s_pack_t body;
    s_body (&body, "id", "prt_1");
    //  Not msgpack; a map without the required type; a string, not a map
    const char *headers[] = {"\xc1\xc1\xc1", "\x80", "\xa4type"};
    for (size_t i = 0; i < sizeof (headers) / sizeof (headers[0]); i++) {
        uint8_t *reply = NULL;
        size_t reply_size = 0;
        int rc = s_request_raw (fx, "partners", headers[i], strlen (headers[i]), body.buffer.data,
                                body.buffer.size, &reply, &reply_size);
        assert_int_equal (rc, PD_E_PROTOCOL);
        s_assert_error (reply, reply_size, PD_E_PROTOCOL, NULL, NULL);
        free (reply);
    }
    msgpack_sbuffer_destroy (&body.buffer);
    //  The actor still serves
    assert_int_equal (s_partner_get_as (fx, "prt_1", "admin", NULL), PD_OK);
}

static void
test_handler_error (void **state)
{
    fixture_t *fx = *state;
    s_pack_t body;
    s_body (&body, "id", "missing");
    uint8_t *reply = NULL;
    size_t reply_size = 0;
    int rc = s_request (fx, "partners", "partner.get", "admin", &body, &reply, &reply_size);
    assert_int_equal (rc, PD_E_NOT_FOUND);
    s_assert_error (reply, reply_size, PD_E_NOT_FOUND, "id", "no partner missing");
    free (reply);
}

//  Handler bugs are internal errors, and details are made safe text
static void
test_handler_bugs (void **state)
{
    fixture_t *fx = *state;
    const char *bugs[] = {"no_reply", "odd_status", "bad_event"};
    for (size_t i = 0; i < sizeof (bugs) / sizeof (bugs[0]); i++) {
        s_pack_t body;
        s_body (&body, "id", bugs[i]);
        uint8_t *reply = NULL;
        size_t reply_size = 0;
        int rc = s_request (fx, "partners", "partner.get", "admin", &body, &reply, &reply_size);
        assert_int_equal (rc, PD_E_INTERNAL);
        s_assert_error (reply, reply_size, PD_E_INTERNAL, NULL, NULL);
        free (reply);
    }
    s_pack_t body;
    s_body (&body, "id", "control");
    uint8_t *reply = NULL;
    size_t reply_size = 0;
    assert_int_equal (
        s_request (fx, "partners", "partner.get", "admin", &body, &reply, &reply_size),
        PD_E_CONFLICT);
    s_assert_error (reply, reply_size, PD_E_CONFLICT, "id", "one?two?three??four?");
    free (reply);

    //  Cut inside a two-byte character: the half is dropped, the rest decodes
    s_body (&body, "id", "long");
    assert_int_equal (
        s_request (fx, "partners", "partner.get", "admin", &body, &reply, &reply_size),
        PD_E_CONFLICT);
    pd_error_t error = {0};
    assert_int_equal (pd_schema_decode (&pd_error_schema, reply, reply_size, &error, NULL), PD_OK);
    assert_true (strlen (error.detail) > 100);
    assert_int_equal (strncmp (error.detail, "xy\xc3\xa9", 4), 0);
    assert_int_equal (strlen (error.detail) % 2, 0); //  "xy" and whole characters
    pd_schema_clear (&pd_error_schema, &error);
    free (reply);

    //  Nothing was stored by the failed requests
    pd_stream_page_t page = {0};
    assert_int_equal (s_stream_read (fx, PD_STREAM_AUDIT, 1, &page), PD_OK);
    assert_int_equal (page.last_seq, 0);
    pd_schema_clear (&pd_stream_page_schema, &page);
}

static void
test_principal (void **state)
{
    fixture_t *fx = *state;
    //  No principal: "public"; a partner; an admin with a key id
    assert_int_equal (s_partner_get_as (fx, "prt_1", NULL, NULL), PD_OK);
    assert_int_equal (s_partner_get_as (fx, "prt_2", "partner", NULL), PD_OK);
    pd_stream_page_t page = {0};
    assert_int_equal (s_stream_read (fx, PD_STREAM_AUDIT, 1, &page), PD_OK);
    assert_int_equal (page.items.size, 2);
    const char *actors[] = {"public", "partner"};
    for (size_t i = 0; i < 2; i++) {
        pd_stream_item_t *item = (pd_stream_item_t *)page.items.items + i;
        assert_non_null (item->event);
        assert_string_equal (item->event->actor, actors[i]);
    }
    pd_schema_clear (&pd_stream_page_schema, &page);

    //  Only admins read streams
    const char *kinds[] = {NULL, "partner"};
    for (size_t i = 0; i < 2; i++) {
        s_pack_t body;
        s_body (&body, "stream", PD_STREAM_AUDIT);
        uint8_t *reply = NULL;
        size_t reply_size = 0;
        int rc = s_request (fx, "stream", "stream.read", kinds[i], &body, &reply, &reply_size);
        assert_int_equal (rc, PD_E_FORBIDDEN);
        s_assert_error (reply, reply_size, PD_E_FORBIDDEN, NULL, NULL);
        free (reply);
    }
}

//  Receive one event from the stream socket, waiting up to timeout_ms
static bool
s_sub_recv (zsock_t *sub, int timeout_ms, uint64_t *seq, zframe_t **event)
{
    zsock_set_rcvtimeo (sub, timeout_ms);
    zmsg_t *msg = zmsg_recv (sub);
    if (!msg)
        return false;
    assert_int_equal (zmsg_size (msg), 3);
    char *stream = zmsg_popstr (msg);
    assert_string_equal (stream, PD_STREAM_AUDIT);
    free (stream);
    zframe_t *seq_frame = zmsg_pop (msg);
    assert_int_equal (pd_proto_get_u64 (seq_frame, seq), 0);
    zframe_destroy (&seq_frame);
    *event = zmsg_pop (msg);
    zmsg_destroy (&msg);
    return true;
}

//  The event stored is the event published, after it was stored
static void
test_event_published (void **state)
{
    fixture_t *fx = *state;
    zsock_t *sub = zsock_new_sub (fx->stack->stream_endpoint, PD_STREAM_AUDIT);
    assert_non_null (sub);
    //  The subscription reaches the broker some time after connect: emit
    //  until an event arrives (earlier ones are in the store regardless)
    uint64_t seq = 0;
    zframe_t *event = NULL;
    int attempts = 0;
    do {
        assert_int_equal (s_partner_get_as (fx, "prt_1", "admin", NULL), PD_OK);
        assert_true (++attempts < 100);
    } while (!s_sub_recv (sub, 100, &seq, &event));
    assert_true (seq >= 1 && seq <= (uint64_t)attempts);

    pd_stream_page_t page = {0};
    assert_int_equal (s_stream_read (fx, PD_STREAM_AUDIT, (int64_t)seq, &page), PD_OK);
    assert_true (page.items.size >= 1);
    pd_stream_item_t *item = page.items.items;
    assert_int_equal (item->seq, seq);
    //  The live event is the stored one
    pd_event_t live = {0};
    assert_int_equal (
        pd_schema_decode (&pd_event_schema, zframe_data (event), zframe_size (event), &live, NULL),
        PD_OK);
    assert_string_equal (live.type, item->event->type);
    assert_string_equal (live.subject, item->event->subject);
    assert_int_equal (live.at, item->event->at);
    pd_schema_clear (&pd_event_schema, &live);
    pd_schema_clear (&pd_stream_page_schema, &page);
    zframe_destroy (&event);

    //  Once subscribed, every next event arrives, in order
    for (uint64_t next = seq + 1; next < seq + 5; next++) {
        assert_int_equal (s_partner_get_as (fx, "prt_2", "admin", NULL), PD_OK);
        uint64_t got = 0;
        assert_true (s_sub_recv (sub, TIMEOUT_MS, &got, &event));
        assert_int_equal (got, next);
        zframe_destroy (&event);
    }
    zsock_destroy (&sub);
}

//  pd_actor_local: one request served in the calling thread
typedef struct {
    pd_actor_local_t *local;
    const char *id;
    int rc;     //  what pd_actor_local_serve returned
    int status; //  the answer's status
    pd_partner_t partner;
} s_local_call_t;

static void *
s_local_call (void *arg)
{
    s_local_call_t *call = arg;
    s_pack_t header, body;
    s_header (&header, "partner.get", "admin");
    s_body (&body, "id", call->id);
    uint8_t *reply = NULL;
    size_t reply_size = 0;
    call->rc =
        pd_actor_local_serve (call->local, header.buffer.data, header.buffer.size, body.buffer.data,
                              body.buffer.size, &call->status, &reply, &reply_size);
    if (call->rc == PD_OK && call->status == PD_OK)
        pd_schema_decode (&pd_partner_schema, reply, reply_size, &call->partner, NULL);
    else if (call->rc == PD_OK)
        s_assert_error (reply, reply_size, call->status, "id", NULL);
    free (reply);
    msgpack_sbuffer_destroy (&header.buffer);
    msgpack_sbuffer_destroy (&body.buffer);
    return NULL;
}

//  The same answers in the caller's thread as through the broker, the
//  events published after their commit, and at most `max` calls at once
static void
test_served_in_caller_thread (void **state)
{
    fixture_t *fx = *state;
    pd_actor_config_t config = {0};
    config.broker = fx->stack->endpoint;
    config.store = fx->stack->store;
    pd_actor_local_t *local = pd_actor_local_new (&s_test_actor, &config, 2);
    assert_non_null (local);
    assert_string_equal (pd_actor_local_service (local), "partners");

    zsock_t *sub = zsock_new_sub (fx->stack->stream_endpoint, PD_STREAM_AUDIT);
    assert_non_null (sub);
    uint64_t seq = 0;
    zframe_t *event = NULL;
    int attempts = 0;
    s_local_call_t call = {local, "prt_local", 0, 0, {0}};
    do { //  until the subscription reached the broker
        pd_schema_clear (&pd_partner_schema, &call.partner);
        s_local_call (&call);
        assert_int_equal (call.rc, PD_OK);
        assert_int_equal (call.status, PD_OK);
        assert_true (++attempts < 100);
    } while (!s_sub_recv (sub, 100, &seq, &event));
    assert_string_equal (call.partner.id, "prt_local");
    assert_string_equal (call.partner.contact_email, "ops@example.com");
    pd_schema_clear (&pd_partner_schema, &call.partner);
    pd_event_t live = {0};
    assert_int_equal (
        pd_schema_decode (&pd_event_schema, zframe_data (event), zframe_size (event), &live, NULL),
        PD_OK);
    assert_string_equal (live.subject, "prt_local");
    pd_schema_clear (&pd_event_schema, &live);
    zframe_destroy (&event);
    zsock_destroy (&sub);

    //  Errors are answered as the actor thread answers them
    s_local_call_t missing = {local, "missing", 0, 0, {0}};
    s_local_call (&missing);
    assert_int_equal (missing.rc, PD_OK);
    assert_int_equal (missing.status, PD_E_NOT_FOUND);

    //  Two calls at once take both places: a third is sent elsewhere
    s_released = false;
    s_local_call_t waiting[2] = {{local, "wait", 0, 0, {0}}, {local, "wait", 0, 0, {0}}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal (pthread_create (&threads[i], NULL, s_local_call, &waiting[i]), 0);
    pthread_mutex_lock (&s_wait_lock);
    while (s_waiting < 2)
        pthread_cond_wait (&s_wait_cond, &s_wait_lock);
    pthread_mutex_unlock (&s_wait_lock);
    s_local_call_t third = {local, "prt_3", 0, 0, {0}};
    s_local_call (&third);
    assert_int_equal (third.rc, PD_E_BUSY);
    s_release ();
    for (int i = 0; i < 2; i++) {
        assert_int_equal (pthread_join (threads[i], NULL), 0);
        assert_int_equal (waiting[i].rc, PD_OK);
        assert_int_equal (waiting[i].status, PD_OK);
        pd_schema_clear (&pd_partner_schema, &waiting[i].partner);
    }
    s_local_call (&third);
    assert_int_equal (third.rc, PD_OK);
    pd_schema_clear (&pd_partner_schema, &third.partner);
    pd_actor_local_destroy (&local);
    assert_null (local);

    //  An actor that keeps to its own threads is never served here
    pd_actor_def_t own = s_test_actor;
    own.own_threads_only = true;
    assert_null (pd_actor_local_new (&own, &config, 0));
}

static void
test_actor_stops_cleanly (void **state)
{
    fixture_t *fx = *state;
    zactor_destroy (&fx->partners);
    assert_null (fx->partners);
    //  Nobody serves "partners" now: the broker fails the request
    s_pack_t header, body;
    s_header (&header, "partner.get", "admin");
    s_body (&body, "id", "prt_1");
    uint64_t id = 0;
    assert_int_equal (pd_client_send (fx->stack->client, "partners", header.buffer.data,
                                      header.buffer.size, body.buffer.data, body.buffer.size, 200,
                                      &id),
                      PD_OK);
    msgpack_sbuffer_destroy (&header.buffer);
    msgpack_sbuffer_destroy (&body.buffer);
    uint64_t reply_id = 0;
    int status = PD_OK;
    uint8_t *reply = NULL;
    size_t reply_size = 0;
    assert_int_equal (
        pd_client_recv (fx->stack->client, &reply_id, &status, &reply, &reply_size, TIMEOUT_MS),
        PD_OK);
    assert_int_equal (reply_id, id);
    assert_int_equal (status, PD_E_UNAVAILABLE);
    free (reply);

    //  A set-up that fails gives no actor
    pd_actor_config_t config = {0};
    config.broker = fx->stack->endpoint;
    config.store = fx->stack->store;
    assert_null (pd_actor_new (&s_failing_actor, &config));
}

static void
test_two_actors_one_service (void **state)
{
    fixture_t *fx = *state;
    zactor_t *second = s_actor_start (fx, &s_test_actor);
    assert_non_null (second);
    //  Send requests in flight until both instances have answered; the
    //  broker gives a request to the least-loaded worker
    char first_name[32] = "";
    bool both = false;
    for (int round = 0; round < 50 && !both; round++) {
        s_pack_t header, body;
        s_header (&header, "partner.get", "admin");
        s_body (&body, "id", "prt_1");
        enum { IN_FLIGHT = 8 };
        for (int i = 0; i < IN_FLIGHT; i++)
            assert_int_equal (pd_client_send (fx->stack->client, "partners", header.buffer.data,
                                              header.buffer.size, body.buffer.data,
                                              body.buffer.size, TIMEOUT_MS, NULL),
                              PD_OK);
        msgpack_sbuffer_destroy (&header.buffer);
        msgpack_sbuffer_destroy (&body.buffer);
        for (int i = 0; i < IN_FLIGHT; i++) {
            uint64_t id = 0;
            int status = PD_E_INTERNAL;
            uint8_t *reply = NULL;
            size_t reply_size = 0;
            assert_int_equal (
                pd_client_recv (fx->stack->client, &id, &status, &reply, &reply_size, TIMEOUT_MS),
                PD_OK);
            assert_int_equal (status, PD_OK);
            pd_partner_t partner = {0};
            assert_int_equal (
                pd_schema_decode (&pd_partner_schema, reply, reply_size, &partner, NULL), PD_OK);
            if (!*first_name)
                snprintf (first_name, sizeof (first_name), "%s", partner.name);
            else if (strcmp (first_name, partner.name) != 0)
                both = true;
            pd_schema_clear (&pd_partner_schema, &partner);
            free (reply);
        }
    }
    assert_true (both);
    zactor_destroy (&second);
    //  The first goes on alone
    assert_int_equal (s_partner_get_as (fx, "prt_1", "admin", NULL), PD_OK);
}

//  The registry names every actor by its service
static void
test_registry (void **state)
{
    size_t count = 0;
    for (const pd_actor_def_t *const *def = pd_actors_all; *def; def++, count++)
        assert_ptr_equal (pd_actors_find ((*def)->service), *def);
    assert_int_equal (count, 8);
    assert_ptr_equal (pd_actors_find ("stream"), &pd_stream_actor);
    const char *services[] = {"auth", "partners", "users", "oauth", "claim", "escalation", "sla"};
    for (size_t i = 0; i < sizeof (services) / sizeof (services[0]); i++)
        assert_non_null (pd_actors_find (services[i]));
    assert_null (pd_actors_find ("nope"));
    assert_null (pd_actors_find (NULL));
}

//  Timed work: a tick that appends an event each time it runs
#define S_TICK_MS 20
static int
s_tick_append (void *state, pd_ctx_t *ctx)
{
    pd_event_t event = {0};
    event.type = "test.tick";
    event.actor = (char *)pd_ctx_actor (ctx);
    pd_store_batch_t *batch = pd_store_batch_new ();
    int rc = pd_ctx_emit (ctx, batch, "ticks", &event);
    if (rc == PD_OK)
        rc = pd_ctx_commit (ctx, batch);
    pd_store_batch_destroy (&batch);
    return rc;
}

static const pd_handler_t s_no_handlers[] = {{NULL, NULL}};
static const pd_actor_def_t s_ticking_actor = {
    .service = "oauth", .handlers = s_no_handlers, .tick_ms = S_TICK_MS, .tick = s_tick_append};

static void
test_ticks_run_on_time_as_the_system (void **state)
{
    fixture_t *fx = *state;
    zactor_t *ticker = s_actor_start (fx, &s_ticking_actor);
    assert_non_null (ticker);
    //  Bounded wait for three ticks (each commits an event)
    int64_t deadline = zclock_mono () + 5000;
    while (pd_store_stream_last (fx->stack->store, "events", "ticks") < 3 &&
           zclock_mono () < deadline)
        zclock_sleep (S_TICK_MS); //  polling a time-based outcome
    assert_true (pd_store_stream_last (fx->stack->store, "events", "ticks") >= 3);
    zactor_destroy (&ticker);

    pd_store_item_t *items = NULL;
    size_t count = 0;
    assert_int_equal (
        pd_store_stream_read (fx->stack->store, "events", "ticks", 1, 1, &items, &count), PD_OK);
    assert_int_equal (count, 1);
    pd_event_t event = {0};
    assert_int_equal (
        pd_schema_decode (&pd_event_schema, items[0].data, items[0].size, &event, NULL), PD_OK);
    assert_string_equal (event.actor, "admin:system");
    pd_schema_clear (&pd_event_schema, &event);
    pd_store_items_destroy (&items, count);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_request_reply_and_event, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_unknown_type, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_missing_field, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_malformed_header, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_handler_error, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_handler_bugs, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_principal, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_event_published, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_actor_stops_cleanly, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_served_in_caller_thread, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_two_actors_one_service, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_ticks_run_on_time_as_the_system, s_setup, s_teardown),
        cmocka_unit_test (test_registry),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
