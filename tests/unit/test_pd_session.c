/*  test_pd_session - sessions, rate limits, and the users and auth actors
    that use them

    pd_session and pd_ratelimit are called directly on a real store in a
    fresh temporary directory. The users and auth actors then run for real
    behind a broker on inproc, driven by a client with schema-encoded
    headers and bodies, as the gateway drives them.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pd_actor.h"
#include "pd_apikey.h"
#include "pd_auth_actor.h"
#include "pd_client.h"
#include "pd_ratelimit.h"
#include "pd_record.h"
#include "pd_session.h"
#include "pd_token.h"
#include "pd_user.h"
#include "pd_users_actor.h"
#include "pd_test_stack.h"

#define TIMEOUT_MS    5000
#define NOW           INT64_C (1700000000000) //  a fixed "now", ms
#define TTL_MS        INT64_C (3600000)
#define WINDOW_MS     INT64_C (300000)
#define THREADS       4
#define PER_THREAD    25
#define PUBLIC_URL    "https://partners.example.com/"
#define MAGIC_PATH    "/partner/login/magic"
#define SOURCE        "192.0.2.10"
#define OTHER_SOURCE  "192.0.2.99"
#define SOURCE_LIMIT  3
#define PARTNER_LIMIT 8

//  ------------------------------------------------------------------------
//  Fixture: a store with one active partner ("prt_a") and its user, one
//  suspended partner ("prt_s") and its user

typedef struct {
    pd_test_stack_t *stack;   //  store, broker (actors start on it), client
    pd_store_t *store;        //  the stack's
    pd_user_t user;           //  prt_a's user, as added
    pd_user_t suspended_user; //  prt_s's user
} fixture_t;

static void
s_put_partner (pd_store_t *store, const char *id, const char *name, const char *status)
{
    pd_partner_t partner = {0};
    partner.id = (char *)id;
    partner.name = (char *)name;
    partner.contact_email = (char *)"ops@example.com";
    partner.status = (char *)status;
    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_int_equal (pd_record_put (batch, &pd_table_partners, id, &partner, PD_STORE_ANY), PD_OK);
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
}

static void
s_add_user (pd_store_t *store, const char *partner_id, const char *email, pd_user_t *user)
{
    assert_int_equal (pd_schema_set_str (&user->partner_id, partner_id), PD_OK);
    assert_int_equal (pd_schema_set_str (&user->email, email), PD_OK);
    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_int_equal (pd_user_add (batch, user, NULL, NOW), PD_OK);
    assert_int_equal (pd_store_commit (store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
}

static int
s_setup (void **state)
{
    fixture_t *fx = calloc (1, sizeof (fixture_t));
    assert_non_null (fx);
    fx->stack = pd_test_stack_new ("test_pd_session");
    assert_non_null (fx->stack);
    fx->store = fx->stack->store;
    s_put_partner (fx->store, "prt_a", "Acme", "active");
    s_put_partner (fx->store, "prt_s", "Suspended Ltd", "suspended");
    s_add_user (fx->store, "prt_a", "Ann@Acme.example", &fx->user);
    s_add_user (fx->store, "prt_s", "sam@suspended.example", &fx->suspended_user);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = *state;
    pd_schema_clear (&pd_user_schema, &fx->user);
    pd_schema_clear (&pd_user_schema, &fx->suspended_user);
    pd_test_stack_destroy (&fx->stack);
    free (fx);
    return 0;
}

//  Open a session for user and commit it
static void
s_open (fixture_t *fx, const pd_user_t *user, int64_t now, int64_t ttl, pd_session_t *session)
{
    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_int_equal (pd_session_open (batch, user, now, ttl, session), PD_OK);
    assert_int_equal (pd_store_commit (fx->store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
}

//  Resolve, and clear the principal; err gets the reason
static int
s_resolve (fixture_t *fx, const char *token, const char *csrf, bool unsafe, int64_t now,
           pd_schema_error_t *err)
{
    pd_principal_t principal = {0};
    pd_schema_error_t ignored = {0};
    int rc =
        pd_session_resolve (fx->store, token, csrf, unsafe, now, &principal, err ? err : &ignored);
    pd_schema_clear (&pd_principal_schema, &principal);
    return rc;
}

//  ------------------------------------------------------------------------
//  Sessions

static void
test_open_and_resolve (void **state)
{
    fixture_t *fx = *state;
    pd_session_t session = {0};
    s_open (fx, &fx->user, NOW, TTL_MS, &session);
    assert_int_equal (strncmp (session.session_token, PD_TOKEN_SESSION "_", 4), 0);
    assert_int_equal (strncmp (session.csrf_token, PD_TOKEN_CSRF "_", 4), 0);
    assert_int_equal (session.expires_at, NOW + TTL_MS);
    assert_string_equal (session.partner_id, "prt_a");
    assert_non_null (session.user);
    assert_string_equal (session.user->id, fx->user.id);
    assert_int_equal (pd_schema_validate (&pd_session_schema, &session, NULL), PD_OK);

    //  A safe method needs no CSRF token
    pd_principal_t principal = {0};
    assert_int_equal (pd_session_resolve (fx->store, session.session_token, NULL, false, NOW + 1,
                                          &principal, NULL),
                      PD_OK);
    assert_string_equal (principal.kind, "partner");
    assert_string_equal (principal.partner_id, "prt_a");
    assert_string_equal (principal.user_id, fx->user.id);
    assert_string_equal (principal.role, "partner-user");
    char id[PD_TOKEN_PUBLIC_LEN + 1];
    assert_int_equal (pd_token_parse (session.session_token, PD_TOKEN_SESSION, id), PD_OK);
    assert_string_equal (principal.session_id, id);
    assert_null (principal.key_id);
    assert_int_equal (pd_schema_validate (&pd_principal_schema, &principal, NULL), PD_OK);
    pd_schema_clear (&pd_principal_schema, &principal);

    //  Only hashes are stored
    pd_store_value_t value = {0};
    assert_int_equal (pd_store_get (fx->store, "sessions", id, strlen (id), &value), PD_OK);
    assert_null (
        memmem (value.data, value.size, session.session_token, strlen (session.session_token)));
    assert_null (memmem (value.data, value.size, session.csrf_token, strlen (session.csrf_token)));
    pd_store_value_clear (&value);
    pd_schema_clear (&pd_session_schema, &session);
}

static void
test_wrong_token_refused (void **state)
{
    fixture_t *fx = *state;
    pd_session_t session = {0};
    s_open (fx, &fx->user, NOW, TTL_MS, &session);

    pd_token_t other;
    assert_int_equal (pd_token_generate (PD_TOKEN_SESSION, &other), PD_OK);
    assert_int_equal (s_resolve (fx, other.text, NULL, false, NOW, NULL), PD_E_UNAUTHORIZED);
    assert_int_equal (s_resolve (fx, NULL, NULL, false, NOW, NULL), PD_E_UNAUTHORIZED);
    assert_int_equal (s_resolve (fx, "", NULL, false, NOW, NULL), PD_E_UNAUTHORIZED);
    //  The CSRF token is not a session token
    assert_int_equal (s_resolve (fx, session.csrf_token, NULL, false, NOW, NULL),
                      PD_E_UNAUTHORIZED);
    //  A typo: the checksum catches it
    char typo[PD_TOKEN_LEN + 1];
    snprintf (typo, sizeof (typo), "%s", session.session_token);
    typo[PD_TOKEN_PUBLIC_LEN + 3] = typo[PD_TOKEN_PUBLIC_LEN + 3] == 'a' ? 'b' : 'a';
    assert_int_equal (s_resolve (fx, typo, NULL, false, NOW, NULL), PD_E_UNAUTHORIZED);

    //  A well-formed token whose id is stored but whose secret is not the
    //  stored one: refused, and the partner it names is known (for limits)
    pd_session_record_t record = {0};
    record.id = other.id;
    record.hash.data = (uint8_t *)session.csrf_token; //  32 bytes of anything else
    record.hash.size = PD_TOKEN_HASH_SIZE;
    record.csrf_hash = record.hash;
    record.user_id = fx->user.id;
    record.partner_id = fx->user.partner_id;
    record.role = (char *)"partner-user";
    record.expires_at = NOW + TTL_MS;
    PD_MARK (&record, session_record, expires_at);
    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_int_equal (pd_record_put (batch, &pd_table_sessions, other.id, &record, PD_STORE_ABSENT),
                      PD_OK);
    assert_int_equal (pd_store_commit (fx->store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
    pd_principal_t principal = {0};
    assert_int_equal (
        pd_session_resolve (fx->store, other.text, NULL, false, NOW, &principal, NULL),
        PD_E_UNAUTHORIZED);
    assert_string_equal (principal.partner_id, "prt_a");
    assert_null (principal.user_id);
    pd_schema_clear (&pd_principal_schema, &principal);

    //  The right one still works
    assert_int_equal (s_resolve (fx, session.session_token, NULL, false, NOW, NULL), PD_OK);
    pd_schema_clear (&pd_session_schema, &session);
}

static void
test_expired_refused (void **state)
{
    fixture_t *fx = *state;
    pd_session_t session = {0};
    s_open (fx, &fx->user, NOW, TTL_MS, &session);
    assert_int_equal (s_resolve (fx, session.session_token, NULL, false, NOW + TTL_MS - 1, NULL),
                      PD_OK);
    pd_schema_error_t err = {0};
    assert_int_equal (s_resolve (fx, session.session_token, NULL, false, NOW + TTL_MS, &err),
                      PD_E_UNAUTHORIZED);
    assert_string_equal (err.detail, "session expired");
    pd_schema_clear (&pd_session_schema, &session);
}

static void
test_closed_refused (void **state)
{
    fixture_t *fx = *state;
    pd_session_t session = {0}, other = {0};
    s_open (fx, &fx->user, NOW, TTL_MS, &session);
    s_open (fx, &fx->user, NOW, TTL_MS, &other);
    char id[PD_TOKEN_PUBLIC_LEN + 1];
    assert_int_equal (pd_token_parse (session.session_token, NULL, id), PD_OK);

    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_int_equal (pd_session_close (batch, id), PD_OK);
    assert_int_equal (pd_store_commit (fx->store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
    assert_int_equal (s_resolve (fx, session.session_token, NULL, false, NOW, NULL),
                      PD_E_UNAUTHORIZED);
    //  The user's other session lives on; closing twice is no error
    assert_int_equal (s_resolve (fx, other.session_token, NULL, false, NOW, NULL), PD_OK);
    batch = pd_store_batch_new ();
    assert_int_equal (pd_session_close (batch, id), PD_OK);
    assert_int_equal (pd_store_commit (fx->store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
    pd_schema_clear (&pd_session_schema, &session);
    pd_schema_clear (&pd_session_schema, &other);
}

static void
test_csrf_required_for_unsafe (void **state)
{
    fixture_t *fx = *state;
    pd_session_t session = {0}, other = {0};
    s_open (fx, &fx->user, NOW, TTL_MS, &session);
    s_open (fx, &fx->user, NOW, TTL_MS, &other);
    const char *token = session.session_token;
    pd_schema_error_t err = {0};

    assert_int_equal (s_resolve (fx, token, NULL, true, NOW, &err), PD_E_FORBIDDEN);
    assert_string_equal (err.field, "csrf");
    assert_int_equal (s_resolve (fx, token, "", true, NOW, NULL), PD_E_FORBIDDEN);
    //  Another session's CSRF token, or the session token itself: wrong
    assert_int_equal (s_resolve (fx, token, other.csrf_token, true, NOW, NULL), PD_E_FORBIDDEN);
    assert_int_equal (s_resolve (fx, token, token, true, NOW, NULL), PD_E_FORBIDDEN);
    assert_int_equal (s_resolve (fx, token, "pdc_garbage", true, NOW, NULL), PD_E_FORBIDDEN);
    //  The right one
    assert_int_equal (s_resolve (fx, token, session.csrf_token, true, NOW, NULL), PD_OK);
    assert_int_equal (s_resolve (fx, token, NULL, false, NOW, NULL), PD_OK);
    pd_schema_clear (&pd_session_schema, &session);
    pd_schema_clear (&pd_session_schema, &other);
}

static void
test_disabled_user_refused (void **state)
{
    fixture_t *fx = *state;
    pd_session_t session = {0};
    s_open (fx, &fx->user, NOW, TTL_MS, &session);
    assert_int_equal (s_resolve (fx, session.session_token, NULL, false, NOW, NULL), PD_OK);

    pd_user_t user = {0};
    uint64_t version = 0;
    assert_int_equal (pd_user_find_email (fx->store, "ann@ACME.example", &user, &version), PD_OK);
    assert_string_equal (user.id, fx->user.id);
    assert_int_equal (pd_schema_set_str (&user.status, "disabled"), PD_OK);
    user.present &= ~(UINT64_C (1) << PD_FIELD_user_version);
    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_int_equal (pd_record_put (batch, &pd_table_users, user.id, &user, version), PD_OK);
    assert_int_equal (pd_store_commit (fx->store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
    pd_schema_clear (&pd_user_schema, &user);

    pd_schema_error_t err = {0};
    assert_int_equal (s_resolve (fx, session.session_token, NULL, false, NOW, &err),
                      PD_E_UNAUTHORIZED);
    assert_string_equal (err.detail, "user is disabled");
    pd_schema_clear (&pd_session_schema, &session);
}

static void
test_suspended_partner_refused (void **state)
{
    fixture_t *fx = *state;
    pd_session_t session = {0};
    s_open (fx, &fx->suspended_user, NOW, TTL_MS, &session);
    pd_schema_error_t err = {0};
    assert_int_equal (s_resolve (fx, session.session_token, NULL, false, NOW, &err),
                      PD_E_FORBIDDEN);
    assert_string_equal (err.detail, "partner is suspended");
    //  Reinstated: accepted again at once
    s_put_partner (fx->store, "prt_s", "Suspended Ltd", "active");
    assert_int_equal (s_resolve (fx, session.session_token, NULL, false, NOW, NULL), PD_OK);
    pd_schema_clear (&pd_session_schema, &session);
}

static void
test_users_add_and_find (void **state)
{
    fixture_t *fx = *state;
    assert_int_equal (strncmp (fx->user.id, "usr_", 4), 0);
    assert_int_equal (strlen (fx->user.id), 4 + 16);
    assert_string_equal (fx->user.status, "active");
    assert_string_equal (fx->user.role, "partner-user");

    //  With an identity
    pd_user_t user = {0}, found = {0};
    assert_int_equal (pd_schema_set_str (&user.partner_id, "prt_a"), PD_OK);
    assert_int_equal (pd_schema_set_str (&user.email, "bob@acme.example"), PD_OK);
    assert_int_equal (pd_schema_set_str (&user.role, "partner-admin"), PD_OK);
    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_int_equal (pd_user_add (batch, &user, "google:1234", NOW), PD_OK);
    assert_int_equal (pd_store_commit (fx->store, batch), PD_OK);
    uint64_t version = 0;
    assert_int_equal (pd_user_find_identity (fx->store, "google:1234", &found, &version), PD_OK);
    assert_string_equal (found.id, user.id);
    assert_string_equal (found.role, "partner-admin");
    assert_int_equal (version, pd_store_batch_version (batch, 0));
    pd_store_batch_destroy (&batch);
    pd_schema_clear (&pd_user_schema, &found);
    assert_int_equal (pd_user_find_identity (fx->store, "google:999", &found, NULL),
                      PD_E_NOT_FOUND);
    assert_int_equal (pd_user_find_email (fx->store, "BOB@acme.EXAMPLE", &found, NULL), PD_OK);
    assert_string_equal (found.id, user.id);
    pd_schema_clear (&pd_user_schema, &found);

    //  Email and identity are unique
    pd_user_t twin = {0};
    assert_int_equal (pd_schema_set_str (&twin.partner_id, "prt_s"), PD_OK);
    assert_int_equal (pd_schema_set_str (&twin.email, "Bob@Acme.Example"), PD_OK);
    batch = pd_store_batch_new ();
    assert_int_equal (pd_user_add (batch, &twin, NULL, NOW), PD_OK);
    assert_int_equal (pd_store_commit (fx->store, batch), PD_E_EXISTS);
    pd_store_batch_destroy (&batch);
    assert_int_equal (pd_schema_set_str (&twin.email, "other@acme.example"), PD_OK);
    batch = pd_store_batch_new ();
    assert_int_equal (pd_user_add (batch, &twin, "google:1234", NOW), PD_OK);
    assert_int_equal (pd_store_commit (fx->store, batch), PD_E_EXISTS);
    pd_store_batch_destroy (&batch);
    pd_schema_clear (&pd_user_schema, &twin);
    pd_schema_clear (&pd_user_schema, &user);
}

//  ------------------------------------------------------------------------
//  Rate limits

static void
test_ratelimit_window (void **state)
{
    fixture_t *fx = *state;
    const pd_ratelimit_policy_t policy = {5, WINDOW_MS};
    const char *key = "source:192.0.2.1";
    int retry_after = -1;
    assert_int_equal (pd_ratelimit_check (fx->store, key, &policy, NOW, &retry_after), PD_OK);
    for (int i = 0; i < 5; i++) {
        assert_int_equal (pd_ratelimit_check (fx->store, key, &policy, NOW + i, &retry_after),
                          PD_OK);
        assert_int_equal (pd_ratelimit_fail (fx->store, key, &policy, NOW + i), PD_OK);
    }
    //  Limited until the window (which began at the first failure) ends
    assert_int_equal (pd_ratelimit_check (fx->store, key, &policy, NOW + 10, &retry_after),
                      PD_E_RATE_LIMITED);
    assert_true (retry_after > 0 && retry_after <= WINDOW_MS / 1000);
    assert_int_equal (retry_after, WINDOW_MS / 1000);
    assert_int_equal (
        pd_ratelimit_check (fx->store, key, &policy, NOW + WINDOW_MS - 1, &retry_after),
        PD_E_RATE_LIMITED);
    assert_int_equal (retry_after, 1);
    //  Other keys are not affected
    assert_int_equal (
        pd_ratelimit_check (fx->store, "source:192.0.2.2", &policy, NOW + 10, &retry_after), PD_OK);

    //  A new window starts afresh
    int64_t later = NOW + WINDOW_MS;
    assert_int_equal (pd_ratelimit_check (fx->store, key, &policy, later, &retry_after), PD_OK);
    assert_int_equal (retry_after, 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal (pd_ratelimit_fail (fx->store, key, &policy, later + i), PD_OK);
    assert_int_equal (pd_ratelimit_check (fx->store, key, &policy, later + 10, &retry_after),
                      PD_OK);
    assert_int_equal (pd_ratelimit_fail (fx->store, key, &policy, later + 10), PD_OK);
    assert_int_equal (pd_ratelimit_check (fx->store, key, &policy, later + 11, &retry_after),
                      PD_E_RATE_LIMITED);

    //  A policy without a limit limits nothing
    const pd_ratelimit_policy_t off = {0, WINDOW_MS};
    assert_int_equal (pd_ratelimit_check (fx->store, key, &off, later + 11, &retry_after), PD_OK);
}

typedef struct {
    pd_store_t *store;
    const char *key;
    int64_t limit;
    int failed; //  calls that did not return PD_OK
} s_worker_t;

static void *
s_fail_many (void *arg)
{
    s_worker_t *worker = arg;
    const pd_ratelimit_policy_t policy = {worker->limit, WINDOW_MS};
    for (int i = 0; i < PER_THREAD; i++)
        if (pd_ratelimit_fail (worker->store, worker->key, &policy, NOW + i) != PD_OK)
            worker->failed++;
    return NULL;
}

//  THREADS threads count PER_THREAD failures each against key; return the
//  stored count
static int64_t
s_fail_concurrently (fixture_t *fx, const char *key, int64_t limit)
{
    pthread_t threads[THREADS];
    s_worker_t workers[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (s_worker_t){fx->store, key, limit, 0};
        assert_int_equal (pthread_create (&threads[i], NULL, s_fail_many, &workers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal (pthread_join (threads[i], NULL), 0);
        assert_int_equal (workers[i].failed, 0);
    }
    pd_ratelimit_t record = {0};
    assert_int_equal (pd_record_get (fx->store, &pd_table_ratelimits, key, &record, NULL), PD_OK);
    assert_int_equal (record.window_start, NOW);
    return record.failures;
}

static void
test_ratelimit_concurrent (void **state)
{
    fixture_t *fx = *state;
    //  Every failure counted, none lost to a race
    assert_int_equal (s_fail_concurrently (fx, "partner:prt_a", 1000000), THREADS * PER_THREAD);
    //  Over the limit the count stays at it
    assert_int_equal (s_fail_concurrently (fx, "partner:prt_s", PER_THREAD), PER_THREAD);
}

//  A count inside the caller's batch: durable with it, and a race between
//  two counts from one read fails the second commit (it reads again)
static void
test_ratelimit_count_in_batch (void **state)
{
    fixture_t *fx = *state;
    const char *key = "escalation:apl_a";
    const pd_ratelimit_policy_t policy = {2, WINDOW_MS};
    int retry_after = -1;
    pd_store_batch_t *first = pd_store_batch_new ();
    pd_store_batch_t *second = pd_store_batch_new ();
    assert_int_equal (pd_ratelimit_count (fx->store, first, key, &policy, NOW, &retry_after),
                      PD_OK);
    assert_int_equal (retry_after, 0);
    assert_int_equal (pd_ratelimit_count (fx->store, second, key, &policy, NOW, &retry_after),
                      PD_OK);
    //  Nothing is counted until the caller commits
    assert_int_equal (pd_ratelimit_check (fx->store, key, &policy, NOW, &retry_after), PD_OK);
    assert_int_equal (pd_store_commit (fx->store, first), PD_OK);
    int rc = pd_store_commit (fx->store, second);
    assert_true (rc == PD_E_EXISTS || rc == PD_E_CONFLICT);
    pd_store_batch_destroy (&first);
    pd_store_batch_destroy (&second);
    //  Read again: the second counts on top of the first, then the limit holds
    second = pd_store_batch_new ();
    assert_int_equal (pd_ratelimit_count (fx->store, second, key, &policy, NOW + 1, &retry_after),
                      PD_OK);
    assert_int_equal (pd_store_commit (fx->store, second), PD_OK);
    pd_store_batch_destroy (&second);
    pd_store_batch_t *third = pd_store_batch_new ();
    assert_int_equal (pd_ratelimit_count (fx->store, third, key, &policy, NOW + 2, &retry_after),
                      PD_E_RATE_LIMITED);
    assert_true (retry_after >= 1 && retry_after <= WINDOW_MS / 1000);
    pd_store_batch_destroy (&third);
    pd_ratelimit_t record = {0};
    assert_int_equal (pd_record_get (fx->store, &pd_table_ratelimits, key, &record, NULL), PD_OK);
    assert_int_equal (record.failures, 2);
    //  The next window counts afresh
    third = pd_store_batch_new ();
    assert_int_equal (
        pd_ratelimit_count (fx->store, third, key, &policy, NOW + WINDOW_MS, &retry_after), PD_OK);
    assert_int_equal (pd_store_commit (fx->store, third), PD_OK);
    pd_store_batch_destroy (&third);
    assert_int_equal (pd_record_get (fx->store, &pd_table_ratelimits, key, &record, NULL), PD_OK);
    assert_int_equal (record.failures, 1);
    assert_int_equal (record.window_start, NOW + WINDOW_MS);
}

//  ------------------------------------------------------------------------
//  The users and auth actors behind a broker

typedef struct {
    fixture_t base;
    const char *endpoint; //  the stack's broker
    pd_config_t *config;
    zactor_t *users;
    zactor_t *auth;
    pd_client_t *client; //  the stack's
    pd_token_t admin_key;
    bool no_access; //  s_send leaves a credential's access out
} actors_t;

static void
s_config_str (char **field, const char *value)
{
    free (*field);
    *field = strdup (value);
    assert_non_null (*field);
}

static int
s_actors_setup (void **state)
{
    s_setup (state);
    actors_t *fx = calloc (1, sizeof (actors_t));
    assert_non_null (fx);
    fx->base = *(fixture_t *)*state;
    free (*state);
    fx->endpoint = fx->base.stack->endpoint;
    fx->client = fx->base.stack->client;

    char error[256];
    fx->config = pd_config_new (NULL, error, sizeof (error));
    assert_non_null (fx->config);
    s_config_str (&fx->config->public_url, PUBLIC_URL);
    s_config_str (&fx->config->magic_link_path, MAGIC_PATH);
    fx->config->login_failures_per_source = SOURCE_LIMIT;
    fx->config->login_failures_per_partner = PARTNER_LIMIT;

    fx->users = pd_test_stack_actor_with (fx->base.stack, &pd_users_actor, fx->config);
    assert_non_null (fx->users);
    fx->auth = pd_test_stack_actor_with (fx->base.stack, &pd_auth_actor, fx->config);
    assert_non_null (fx->auth);

    //  An admin key, as the gateway would present it
    assert_int_equal (pd_token_generate (PD_TOKEN_ADMIN_KEY, &fx->admin_key), PD_OK);
    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_int_equal (pd_apikey_put (batch, &fx->admin_key, "admin", NULL, NOW), PD_OK);
    assert_int_equal (pd_store_commit (fx->base.store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
    *state = fx;
    return 0;
}

static int
s_actors_teardown (void **state)
{
    actors_t *fx = *state;
    zactor_destroy (&fx->auth);
    zactor_destroy (&fx->users);
    pd_config_destroy (&fx->config);
    fixture_t *base = malloc (sizeof (fixture_t));
    assert_non_null (base);
    *base = fx->base;
    free (fx);
    *state = base;
    return s_teardown (state);
}

static const pd_principal_t s_admin = {
    .present = 1, .kind = (char *)"admin", .key_id = (char *)"pda_test"};

//  Send `type` with `request` as `principal` (NULL = none) from `source`;
//  decode the reply into `reply` (may be NULL) or the error into `error`
//  (may be NULL; cleared by the caller)
static int
s_send (actors_t *fx, const char *type, const pd_principal_t *principal,
        const pd_credential_t *credential, const char *source, const void *request, void *reply,
        pd_error_t *error)
{
    const pd_message_t *message = pd_message_find (type);
    assert_non_null (message);
    pd_header_t header = {0};
    header.type = (char *)type;
    header.principal = (pd_principal_t *)principal;
    header.credential = (pd_credential_t *)credential;
    //  As the gateway: a credential comes with the access of its route
    header.access = credential && !fx->no_access ? (char *)"public" : NULL;
    header.source = (char *)source;
    uint8_t *header_data = NULL, *body_data = NULL, *answer = NULL;
    size_t header_size = 0, body_size = 0, answer_size = 0;
    assert_int_equal (pd_schema_encode (&pd_header_schema, &header, &header_data, &header_size),
                      PD_OK);
    assert_int_equal (pd_schema_encode (message->request, request, &body_data, &body_size), PD_OK);
    int rc = pd_client_request (fx->client, message->service, header_data, header_size, body_data,
                                body_size, TIMEOUT_MS, &answer, &answer_size);
    if (rc == PD_OK && reply)
        assert_int_equal (pd_schema_decode (message->reply, answer, answer_size, reply, NULL),
                          PD_OK);
    else if (rc != PD_OK && error)
        assert_int_equal (pd_schema_decode (&pd_error_schema, answer, answer_size, error, NULL),
                          PD_OK);
    free (header_data);
    free (body_data);
    free (answer);
    return rc;
}

static int
s_call (actors_t *fx, const char *type, const pd_principal_t *principal, const char *source,
        const void *request, void *reply, pd_error_t *error)
{
    return s_send (fx, type, principal, NULL, source, request, reply, error);
}

//  A credential as the gateway passes it on: a token's id and hash (no id
//  when the text is no token), the CSRF token's hash
typedef struct {
    pd_credential_t credential;
    char id[PD_TOKEN_PUBLIC_LEN + 1];
    uint8_t hash[PD_TOKEN_HASH_SIZE];
    uint8_t csrf_hash[PD_TOKEN_HASH_SIZE];
} presented_t;

static void
s_present (presented_t *presented, const char *kind, const char *text, const char *csrf,
           bool unsafe)
{
    memset (presented, 0, sizeof (*presented));
    pd_credential_t *credential = &presented->credential;
    credential->kind = (char *)kind;
    if (pd_token_parse (text, NULL, presented->id) == PD_OK) {
        pd_token_hash (text, presented->hash);
        credential->id = presented->id;
        credential->hash = (pd_bin_t){presented->hash, PD_TOKEN_HASH_SIZE};
    }
    if (csrf) {
        pd_token_hash (csrf, presented->csrf_hash);
        credential->csrf_hash = (pd_bin_t){presented->csrf_hash, PD_TOKEN_HASH_SIZE};
    }
    credential->unsafe = unsafe;
    PD_MARK (credential, credential, unsafe);
}

//  auth.resolve of an API key's text from `source`
static int
s_auth_key (actors_t *fx, const char *source, const char *key, pd_principal_t *principal,
            pd_error_t *error)
{
    presented_t presented;
    s_present (&presented, "key", key, NULL, false);
    pd_empty_t empty = {0};
    pd_principal_t ignored = {0};
    int rc = s_send (fx, "auth.resolve", NULL, &presented.credential, source, &empty,
                     principal ? principal : &ignored, error);
    pd_schema_clear (&pd_principal_schema, &ignored);
    return rc;
}

static void
s_expect_key_error (actors_t *fx, const char *source, const char *key, int status,
                    const char *detail)
{
    pd_error_t error = {0};
    assert_int_equal (s_auth_key (fx, source, key, NULL, &error), status);
    assert_string_equal (error.code, pd_status_code (status));
    if (detail)
        assert_string_equal (error.detail, detail);
    pd_schema_clear (&pd_error_schema, &error);
}

static void
s_expect_error (actors_t *fx, const char *type, const pd_principal_t *principal, const char *source,
                const void *request, int status, const char *field, const char *detail)
{
    pd_error_t error = {0};
    assert_int_equal (s_call (fx, type, principal, source, request, NULL, &error), status);
    assert_string_equal (error.code, pd_status_code (status));
    if (field)
        assert_string_equal (error.field ? error.field : "", field);
    if (detail)
        assert_string_equal (error.detail, detail);
    pd_schema_clear (&pd_error_schema, &error);
}

//  magic.create for a user; the token is taken from the link
static void
s_magic_link (actors_t *fx, const char *partner_id, const char *user_id, char *token, size_t size)
{
    pd_user_ref_t ref = {0};
    ref.partner_id = (char *)partner_id;
    ref.user_id = (char *)user_id;
    pd_magic_link_t link = {0};
    assert_int_equal (s_call (fx, "magic.create", &s_admin, SOURCE, &ref, &link, NULL), PD_OK);
    const char *prefix = "https://partners.example.com" MAGIC_PATH "?token=";
    assert_int_equal (strncmp (link.url, prefix, strlen (prefix)), 0);
    snprintf (token, size, "%s", link.url + strlen (prefix));
    assert_int_equal (pd_token_parse (token, PD_TOKEN_MAGIC, NULL), PD_OK);
    pd_schema_clear (&pd_magic_link_schema, &link);
}

static int
s_exchange (actors_t *fx, const char *source, const char *token, pd_session_t *session)
{
    pd_magic_exchange_t exchange = {0};
    exchange.token = (char *)token;
    return s_call (fx, "magic.exchange", NULL, source, &exchange, session, NULL);
}

//  auth.resolve of a session; principal (may be NULL) gets the answer
static int
s_auth_session (actors_t *fx, const char *source, const char *session, const char *csrf,
                bool unsafe, pd_principal_t *principal)
{
    presented_t presented;
    s_present (&presented, "session", session, csrf, unsafe);
    pd_empty_t empty = {0};
    pd_principal_t ignored = {0};
    int rc = s_send (fx, "auth.resolve", NULL, &presented.credential, source, &empty,
                     principal ? principal : &ignored, NULL);
    pd_schema_clear (&pd_principal_schema, &ignored);
    return rc;
}

static void
test_magic_link_signs_in_once (void **state)
{
    actors_t *fx = *state;
    //  An admin adds a user and sends a link
    pd_user_create_t create = {0};
    create.partner_id = (char *)"prt_a";
    create.email = (char *)"Carol@Acme.example";
    create.name = (char *)"Carol";
    pd_user_t carol = {0};
    assert_int_equal (s_call (fx, "user.create", &s_admin, SOURCE, &create, &carol, NULL), PD_OK);
    assert_string_equal (carol.role, "partner-user");
    assert_string_equal (carol.status, "active");
    assert_int_equal (carol.version, 1);
    char token[PD_TOKEN_LEN + 1];
    s_magic_link (fx, "prt_a", carol.id, token, sizeof (token));

    //  The user exchanges it for a session
    pd_session_t session = {0};
    assert_int_equal (s_exchange (fx, SOURCE, token, &session), PD_OK);
    assert_non_null (session.session_token);
    assert_non_null (session.csrf_token);
    assert_string_equal (session.partner_id, "prt_a");
    assert_string_equal (session.status, "active");
    assert_string_equal (session.user->id, carol.id);
    assert_true (session.user->last_login_at > 0);
    assert_int_equal (session.user->version, 2);

    //  and uses it: unsafe methods need the CSRF token
    pd_principal_t principal = {0};
    assert_int_equal (
        s_auth_session (fx, SOURCE, session.session_token, session.csrf_token, true, &principal),
        PD_OK);
    assert_string_equal (principal.kind, "partner");
    assert_string_equal (principal.user_id, carol.id);
    assert_int_equal (s_auth_session (fx, SOURCE, session.session_token, NULL, true, NULL),
                      PD_E_FORBIDDEN);

    //  The link works once
    pd_magic_exchange_t again = {0};
    again.token = token;
    s_expect_error (fx, "magic.exchange", NULL, OTHER_SOURCE, &again, PD_E_UNAUTHORIZED, NULL,
                    "link already used or invalid");

    //  Sign-out ends the session; an API key has none to end
    pd_empty_t empty = {0};
    const pd_principal_t by_key = {.present = 1,
                                   .kind = (char *)"partner",
                                   .partner_id = (char *)"prt_a",
                                   .key_id = (char *)"pdp_x"};
    s_expect_error (fx, "session.logout", &by_key, SOURCE, &empty, PD_E_BAD_REQUEST, NULL,
                    "no session to end");
    assert_int_equal (s_call (fx, "session.logout", &principal, SOURCE, &empty, NULL, NULL), PD_OK);
    assert_int_equal (s_auth_session (fx, SOURCE, session.session_token, NULL, false, NULL),
                      PD_E_UNAUTHORIZED);

    //  Audit: created, link, signed in, signed out
    pd_store_item_t *items = NULL;
    size_t count = 0;
    assert_int_equal (
        pd_store_stream_read (fx->base.store, "events", PD_STREAM_AUDIT, 1, 10, &items, &count),
        PD_OK);
    const char *types[] = {"user.created", "user.magic_link_created", "user.signed_in",
                           "user.signed_out"};
    assert_int_equal (count, 4);
    for (size_t i = 0; i < count; i++) {
        pd_event_t event = {0};
        assert_int_equal (
            pd_schema_decode (&pd_event_schema, items[i].data, items[i].size, &event, NULL), PD_OK);
        assert_string_equal (event.type, types[i]);
        assert_string_equal (event.subject, carol.id);
        assert_string_equal (event.partner_id, "prt_a");
        if (i == 2)
            assert_string_equal (event.detail, "magic_link");
        pd_schema_clear (&pd_event_schema, &event);
    }
    pd_store_items_destroy (&items, count);
    pd_schema_clear (&pd_principal_schema, &principal);
    pd_schema_clear (&pd_session_schema, &session);
    pd_schema_clear (&pd_user_schema, &carol);
}

//  One of two racing exchanges of a link, from its own client
typedef struct {
    const char *endpoint;
    const char *token;
    const char *source;
    int status;
} s_racer_t;

static void *
s_race (void *arg)
{
    s_racer_t *racer = arg;
    pd_client_t *client = pd_client_new (racer->endpoint);
    pd_header_t header = {0};
    header.type = (char *)"magic.exchange";
    header.source = (char *)racer->source;
    pd_magic_exchange_t exchange = {0};
    exchange.token = (char *)racer->token;
    uint8_t *header_data = NULL, *body_data = NULL, *answer = NULL;
    size_t header_size = 0, body_size = 0, answer_size = 0;
    racer->status = PD_E_INTERNAL;
    if (client &&
        pd_schema_encode (&pd_header_schema, &header, &header_data, &header_size) == PD_OK &&
        pd_schema_encode (&pd_magic_exchange_schema, &exchange, &body_data, &body_size) == PD_OK)
        racer->status = pd_client_request (client, "users", header_data, header_size, body_data,
                                           body_size, TIMEOUT_MS, &answer, &answer_size);
    free (header_data);
    free (body_data);
    free (answer);
    pd_client_destroy (&client);
    return NULL;
}

static void
test_racing_exchanges_one_wins (void **state)
{
    actors_t *fx = *state;
    //  A second users actor, so that the two exchanges run at once
    zactor_t *second = pd_test_stack_actor_with (fx->base.stack, &pd_users_actor, fx->config);
    assert_non_null (second);
    for (int round = 0; round < 5; round++) {
        char token[PD_TOKEN_LEN + 1];
        s_magic_link (fx, "prt_a", fx->base.user.id, token, sizeof (token));
        //  Each round from its own address: the losers' failures add up
        char source[32];
        snprintf (source, sizeof (source), "198.51.100.%d", round);
        s_racer_t racers[2] = {{fx->endpoint, token, source, 0}, {fx->endpoint, token, source, 0}};
        pthread_t threads[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal (pthread_create (&threads[i], NULL, s_race, &racers[i]), 0);
        for (int i = 0; i < 2; i++)
            assert_int_equal (pthread_join (threads[i], NULL), 0);
        int won = (racers[0].status == PD_OK) + (racers[1].status == PD_OK);
        int lost =
            (racers[0].status == PD_E_UNAUTHORIZED) + (racers[1].status == PD_E_UNAUTHORIZED);
        assert_int_equal (won, 1);
        assert_int_equal (lost, 1);
    }
    //  One session per round
    pd_store_item_t *items = NULL;
    size_t count = 0;
    assert_int_equal (
        pd_store_scan (fx->base.store, "sessions", NULL, 0, NULL, 0, 0, &items, &count), PD_OK);
    assert_int_equal (count, 5);
    pd_store_items_destroy (&items, count);
    zactor_destroy (&second);
}

static void
test_users_admin_rules (void **state)
{
    actors_t *fx = *state;
    const pd_principal_t partner = {.present = 1,
                                    .kind = (char *)"partner",
                                    .partner_id = (char *)"prt_a",
                                    .key_id = (char *)"pdp_x"};
    pd_user_create_t create = {0};
    create.partner_id = (char *)"prt_a";
    create.email = (char *)"dave@acme.example";
    create.role = (char *)"partner-admin";
    s_expect_error (fx, "user.create", &partner, SOURCE, &create, PD_E_FORBIDDEN, NULL, NULL);
    create.partner_id = (char *)"prt_none";
    s_expect_error (fx, "user.create", &s_admin, SOURCE, &create, PD_E_NOT_FOUND, "partner_id",
                    NULL);
    create.partner_id = (char *)"prt_a";
    create.email = (char *)"ANN@acme.EXAMPLE"; //  the fixture's user, another case
    s_expect_error (fx, "user.create", &s_admin, SOURCE, &create, PD_E_EXISTS, "email", NULL);

    //  Three more users of prt_a, listed two by two in id order; prt_s's
    //  user is not among them
    const char *emails[] = {"u1@acme.example", "u2@acme.example", "u3@acme.example"};
    for (size_t i = 0; i < 3; i++) {
        create.email = (char *)emails[i];
        pd_user_t user = {0};
        assert_int_equal (s_call (fx, "user.create", &s_admin, SOURCE, &create, &user, NULL),
                          PD_OK);
        assert_string_equal (user.role, "partner-admin");
        pd_schema_clear (&pd_user_schema, &user);
    }
    pd_user_list_t list = {0};
    list.partner_id = (char *)"prt_a";
    list.limit = 2;
    PD_MARK (&list, user_list, limit);
    size_t seen = 0;
    char cursor[72] = "", last[72] = "";
    do {
        list.cursor = *cursor ? cursor : NULL;
        pd_user_page_t page = {0};
        assert_int_equal (s_call (fx, "user.list", &s_admin, SOURCE, &list, &page, NULL), PD_OK);
        pd_user_t *items = page.items.items;
        for (size_t i = 0; i < page.items.size; i++) {
            assert_string_equal (items[i].partner_id, "prt_a");
            assert_true (strcmp (items[i].id, last) > 0);
            snprintf (last, sizeof (last), "%s", items[i].id);
            seen++;
        }
        snprintf (cursor, sizeof (cursor), "%s", page.next_cursor ? page.next_cursor : "");
        pd_schema_clear (&pd_user_page_schema, &page);
    } while (*cursor);
    assert_int_equal (seen, 4);

    //  Another partner's user is not found through this partner
    pd_user_ref_t ref = {0};
    ref.partner_id = (char *)"prt_a";
    ref.user_id = fx->base.suspended_user.id;
    s_expect_error (fx, "user.disable", &s_admin, SOURCE, &ref, PD_E_NOT_FOUND, "user_id", NULL);
    s_expect_error (fx, "magic.create", &s_admin, SOURCE, &ref, PD_E_NOT_FOUND, "user_id", NULL);

    //  Disabling refuses the user's sessions and links at once
    char token[PD_TOKEN_LEN + 1];
    s_magic_link (fx, "prt_a", fx->base.user.id, token, sizeof (token));
    pd_session_t session = {0};
    s_open (&fx->base, &fx->base.user, (int64_t)zclock_time (), TTL_MS, &session);
    assert_int_equal (s_auth_session (fx, SOURCE, session.session_token, NULL, false, NULL), PD_OK);
    ref.user_id = fx->base.user.id;
    pd_user_t disabled = {0};
    assert_int_equal (s_call (fx, "user.disable", &s_admin, SOURCE, &ref, &disabled, NULL), PD_OK);
    assert_string_equal (disabled.status, "disabled");
    assert_int_equal (s_auth_session (fx, SOURCE, session.session_token, NULL, false, NULL),
                      PD_E_UNAUTHORIZED);
    assert_int_equal (s_exchange (fx, OTHER_SOURCE, token, NULL), PD_E_FORBIDDEN);
    s_expect_error (fx, "magic.create", &s_admin, SOURCE, &ref, PD_E_CONFLICT, "user_id", NULL);
    pd_schema_clear (&pd_user_schema, &disabled);
    pd_schema_clear (&pd_session_schema, &session);
}

static void
test_failures_are_rate_limited (void **state)
{
    actors_t *fx = *state;
    pd_token_t bogus;
    assert_int_equal (pd_token_generate (PD_TOKEN_ADMIN_KEY, &bogus), PD_OK);

    //  A text that is no token at all: refused (and counted) like a wrong key
    s_expect_key_error (fx, OTHER_SOURCE, "not-a-key", PD_E_UNAUTHORIZED, "invalid API key");

    //  SOURCE_LIMIT bad keys, then bad keys wait
    for (int i = 0; i < SOURCE_LIMIT; i++)
        s_expect_key_error (fx, SOURCE, bogus.text, PD_E_UNAUTHORIZED, "invalid API key");
    pd_error_t error = {0};
    assert_int_equal (s_auth_key (fx, SOURCE, bogus.text, NULL, &error), PD_E_RATE_LIMITED);
    assert_true (PD_HAS (&error, error, retry_after));
    assert_true (error.retry_after > 0 && error.retry_after <= fx->config->login_window_s);
    pd_schema_clear (&pd_error_schema, &error);
    //  ... while the right key from that same address still passes
    //  (everyone behind one proxy or NAT shares it)
    pd_principal_t same = {0};
    assert_int_equal (s_auth_key (fx, SOURCE, fx->admin_key.text, &same, NULL), PD_OK);
    assert_string_equal (same.kind, "admin");
    pd_schema_clear (&pd_principal_schema, &same);
    //  Bad magic links from that address wait too
    pd_magic_exchange_t exchange = {0};
    exchange.token = bogus.text;
    s_expect_error (fx, "magic.exchange", NULL, SOURCE, &exchange, PD_E_RATE_LIMITED, NULL, NULL);

    //  Another address is not affected
    pd_principal_t principal = {0};
    assert_int_equal (s_auth_key (fx, OTHER_SOURCE, fx->admin_key.text, &principal, NULL), PD_OK);
    assert_string_equal (principal.kind, "admin");
    pd_schema_clear (&pd_principal_schema, &principal);

    //  Bad magic tokens count as well
    const char *third = "192.0.2.77";
    for (int i = 0; i < SOURCE_LIMIT; i++)
        s_expect_error (fx, "magic.exchange", NULL, third, &exchange, PD_E_UNAUTHORIZED, "token",
                        "link already used or invalid");
    assert_int_equal (s_call (fx, "magic.exchange", NULL, third, &exchange, NULL, &error),
                      PD_E_RATE_LIMITED);
    assert_true (error.retry_after > 0);
    pd_schema_clear (&pd_error_schema, &error);
}

//  A stored key record for prt_a under token's id, with `hash_of`'s hash
static void
s_put_partner_key (actors_t *fx, const pd_token_t *token, const pd_token_t *hash_of)
{
    pd_token_t stored = *token;
    memcpy (stored.hash, hash_of->hash, sizeof (stored.hash));
    pd_store_batch_t *batch = pd_store_batch_new ();
    assert_int_equal (pd_apikey_put (batch, &stored, "partner", "prt_a", NOW), PD_OK);
    assert_int_equal (pd_store_commit (fx->base.store, batch), PD_OK);
    pd_store_batch_destroy (&batch);
}

static void
test_partner_failures_are_rate_limited (void **state)
{
    actors_t *fx = *state;
    //  A partner key whose presented secret is wrong (its id is right), a
    //  good key, and a session of the same partner
    pd_token_t wrong, other, good;
    assert_int_equal (pd_token_generate (PD_TOKEN_PARTNER_KEY, &wrong), PD_OK);
    assert_int_equal (pd_token_generate (PD_TOKEN_PARTNER_KEY, &other), PD_OK);
    assert_int_equal (pd_token_generate (PD_TOKEN_PARTNER_KEY, &good), PD_OK);
    s_put_partner_key (fx, &wrong, &other);
    s_put_partner_key (fx, &good, &good);
    pd_session_t session = {0};
    s_open (&fx->base, &fx->base.user, (int64_t)zclock_time (), TTL_MS, &session);

    //  From many addresses, none over its own limit
    char source[32];
    for (int i = 0; i < PARTNER_LIMIT; i++) {
        snprintf (source, sizeof (source), "203.0.113.%d", i);
        s_expect_key_error (fx, source, wrong.text, PD_E_UNAUTHORIZED, "invalid API key");
    }
    //  Now wrong credentials naming the partner wait, from any address...
    pd_error_t error = {0};
    assert_int_equal (s_auth_key (fx, "203.0.113.200", wrong.text, NULL, &error),
                      PD_E_RATE_LIMITED);
    assert_true (error.retry_after >= 1 && error.retry_after <= fx->config->login_window_s);
    pd_schema_clear (&pd_error_schema, &error);
    //  ...while its right key and session still work: key ids are public,
    //  so forged keys must not lock the partner out
    pd_principal_t partner = {0};
    assert_int_equal (s_auth_key (fx, "203.0.113.201", good.text, &partner, NULL), PD_OK);
    assert_string_equal (partner.kind, "partner");
    pd_schema_clear (&pd_principal_schema, &partner);
    assert_int_equal (
        s_auth_session (fx, "203.0.113.202", session.session_token, NULL, false, NULL), PD_OK);
    //  Other partners and admins are not affected
    pd_principal_t principal = {0};
    assert_int_equal (s_auth_key (fx, "203.0.113.203", fx->admin_key.text, &principal, NULL),
                      PD_OK);
    //  ...and a right magic link of the partner still signs in
    char token[PD_TOKEN_LEN + 1];
    s_magic_link (fx, "prt_a", fx->base.user.id, token, sizeof (token));
    pd_session_t signed_in = {0};
    assert_int_equal (s_exchange (fx, "203.0.113.204", token, &signed_in), PD_OK);
    pd_schema_clear (&pd_session_schema, &signed_in);
    pd_schema_clear (&pd_principal_schema, &principal);
    pd_schema_clear (&pd_session_schema, &session);
}

//  IPv6 clients count by their /64, as admission limits them
static void
test_source_keys (void **state)
{
    (void)state;
    char key[PD_RATELIMIT_KEY_MAX];
    pd_ratelimit_source_key ("source", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", key, sizeof (key));
    assert_string_equal (key, "source:2001:db8:1:2::/64");
    pd_ratelimit_source_key ("source", "2001:db8:1:2::9", key, sizeof (key));
    assert_string_equal (key, "source:2001:db8:1:2::/64");
    pd_ratelimit_source_key ("claim-source", "2001:db8:1:3::9", key, sizeof (key));
    assert_string_equal (key, "claim-source:2001:db8:1:3::/64");
    pd_ratelimit_source_key ("source", "192.0.2.7", key, sizeof (key));
    assert_string_equal (key, "source:192.0.2.7");
    pd_ratelimit_source_key ("source", "::ffff:192.0.2.7", key, sizeof (key));
    assert_string_equal (key, "source:::ffff:192.0.2.7");
    pd_ratelimit_source_key ("source", "", key, sizeof (key));
    assert_string_equal (key, "source:unknown");
    pd_ratelimit_source_key ("source", NULL, key, sizeof (key));
    assert_string_equal (key, "source:unknown");
}

//  A credential from a trusted client that leaves out what the gateway
//  always says fails closed: no access, refused; a session whose method
//  safety is not said needs its CSRF token
static void
test_credential_fails_closed (void **state)
{
    actors_t *fx = *state;
    pd_session_t session = {0};
    s_open (&fx->base, &fx->base.user, (int64_t)zclock_time (), TTL_MS, &session);
    presented_t presented;
    s_present (&presented, "session", session.session_token, NULL, false);
    presented.credential.present &= ~(UINT64_C (1) << PD_FIELD_credential_unsafe);
    pd_empty_t empty = {0};
    pd_error_t error = {0};
    assert_int_equal (
        s_send (fx, "auth.resolve", NULL, &presented.credential, SOURCE, &empty, NULL, &error),
        PD_E_FORBIDDEN);
    assert_string_equal (error.field, "csrf");
    pd_schema_clear (&pd_error_schema, &error);
    s_present (&presented, "session", session.session_token, session.csrf_token, false);
    presented.credential.present &= ~(UINT64_C (1) << PD_FIELD_credential_unsafe);
    pd_principal_t principal = {0};
    assert_int_equal (
        s_send (fx, "auth.resolve", NULL, &presented.credential, SOURCE, &empty, &principal, NULL),
        PD_OK);
    assert_string_equal (principal.kind, "partner");
    pd_schema_clear (&pd_principal_schema, &principal);
    //  No access at all
    s_present (&presented, "key", fx->admin_key.text, NULL, false);
    fx->no_access = true;
    assert_int_equal (
        s_send (fx, "auth.resolve", NULL, &presented.credential, SOURCE, &empty, NULL, &error),
        PD_E_FORBIDDEN);
    fx->no_access = false;
    assert_string_equal (error.detail, "a credential needs an access");
    pd_schema_clear (&pd_error_schema, &error);
    pd_schema_clear (&pd_session_schema, &session);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_open_and_resolve, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_wrong_token_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_expired_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_closed_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_csrf_required_for_unsafe, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_disabled_user_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_suspended_partner_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_users_add_and_find, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_ratelimit_window, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_ratelimit_concurrent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_ratelimit_count_in_batch, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_magic_link_signs_in_once, s_actors_setup,
                                         s_actors_teardown),
        cmocka_unit_test_setup_teardown (test_racing_exchanges_one_wins, s_actors_setup,
                                         s_actors_teardown),
        cmocka_unit_test_setup_teardown (test_users_admin_rules, s_actors_setup, s_actors_teardown),
        cmocka_unit_test_setup_teardown (test_failures_are_rate_limited, s_actors_setup,
                                         s_actors_teardown),
        cmocka_unit_test_setup_teardown (test_partner_failures_are_rate_limited, s_actors_setup,
                                         s_actors_teardown),
        cmocka_unit_test (test_source_keys),
        cmocka_unit_test_setup_teardown (test_credential_fails_closed, s_actors_setup,
                                         s_actors_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
