/*  test_identity_http - partner users, magic links and sessions through a
    real partnerd

    One all-in-one partnerd process on loopback ports with a fresh data
    directory and a settings file (plain-HTTP cookies, the public URL, rate
    limits high enough that the other tests' refusals never reach them).
    The rate-limit test starts its own partnerd with a low limit and a
    short window. Every request is real HTTP through libcurl and CivetWeb,
    the broker, the actors and LMDB.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pd_testutil.h"

#define S_START_TIMEOUT_MS 20000
#define S_LIMIT_MAIN       1000 //  failures per source and partner (main instance)
#define S_LIMIT_SMALL      8    //  failures per source (rate-limit instance)
#define S_WINDOW_MAIN_S    300
#define S_WINDOW_SMALL_S   5
#define S_SESSION_TTL_S    43200 //  the default, as the cookie's Max-Age
#define S_POLL_MS          100
#define S_ID_MAX           64
#define S_TOKEN_MAX        256
#define S_URL_MAX          512

typedef pd_instance_t s_instance_t;

static s_instance_t s_main;
static s_instance_t s_limited; //  the rate-limit test's own, stopped at the end if left

//  A user signed in: its ids and its two cookies
typedef struct {
    char partner_id[S_ID_MAX + 1];
    char user_id[S_ID_MAX + 1];
    char session[S_TOKEN_MAX];
    char csrf[S_TOKEN_MAX];
    char cookie[2 * S_TOKEN_MAX + 64]; //  the Cookie header a browser sends back
} s_signed_in_t;

//  ------------------------------------------------------------------------
//  Instances

//  Start partnerd with the given rate limits
static int
s_instance_start (s_instance_t *self, int64_t failures_per_source, int64_t window_s)
{
    char settings[256];
    snprintf (settings, sizeof (settings),
              "login_failures_per_source = %lld\n"
              "login_failures_per_partner = %d\n"
              "login_window_s = %lld\n",
              (long long)failures_per_source, S_LIMIT_MAIN, (long long)window_s);
    return pd_instance_start (self, settings, S_START_TIMEOUT_MS);
}

//  SIGTERM: a clean stop exits 0, which under the sanitizers also means no
//  leaks. Returns the exit status.
static int
s_instance_stop (s_instance_t *self)
{
    return pd_instance_stop (self);
}

static int
s_setup (void **state)
{
    curl_global_init (CURL_GLOBAL_DEFAULT); //  before any thread uses libcurl
    return s_instance_start (&s_main, S_LIMIT_MAIN, S_WINDOW_MAIN_S);
}

static int
s_teardown (void **state)
{
    int status = s_instance_stop (&s_main);
    if (s_limited.dir)
        s_instance_stop (&s_limited); //  its test failed half way
    curl_global_cleanup ();
    return status == 0 ? 0 : -1;
}

//  ------------------------------------------------------------------------
//  Requests

//  One request to an instance; returns the status
static long
s_request (const s_instance_t *instance, const char *method, const char *path,
           const pd_test_http_options_t *options, pd_test_http_t *response)
{
    char url[S_URL_MAX];
    snprintf (url, sizeof (url), "%s%s", instance->base, path);
    assert_int_equal (pd_test_http_ex (method, url, options, response), 0);
    return response->status;
}

//  With a key (or none) and maybe a JSON body, on the main instance
static long
s_call (const char *method, const char *path, const char *key, const char *body,
        pd_test_http_t *response)
{
    pd_test_http_options_t options = {.api_key = key, .body = body};
    return s_request (&s_main, method, path, &options, response);
}

//  As a signed-in user's browser: its cookies, the CSRF header if `csrf`
static long
s_browse (const s_signed_in_t *user, const char *method, const char *path, const char *body,
          bool csrf, pd_test_http_t *response)
{
    pd_test_http_options_t options = {
        .cookie = user->cookie, .csrf = csrf ? user->csrf : NULL, .body = body};
    return s_request (&s_main, method, path, &options, response);
}

static void
s_assert_problem (const pd_test_http_t *response, long status, const char *code)
{
    if (response->status != status)
        fail_msg ("expected %ld %s, got %ld: %s", status, code, response->status,
                  response->body ? response->body : "");
    assert_string_equal (response->content_type, "application/problem+json");
    assert_non_null (response->json);
    assert_string_equal (pd_json_str (response, "code"), code);
    assert_int_equal (pd_json_int (response, "status"), status);
}

static void
s_expect_problem (const char *method, const char *path, const char *key, const char *body,
                  long status, const char *code)
{
    pd_test_http_t response;
    s_call (method, path, key, body, &response);
    s_assert_problem (&response, status, code);
    pd_test_http_clear (&response);
}

static void
s_browse_problem (const s_signed_in_t *user, const char *method, const char *path, const char *body,
                  bool csrf, long status, const char *code)
{
    pd_test_http_t response;
    s_browse (user, method, path, body, csrf, &response);
    s_assert_problem (&response, status, code);
    pd_test_http_clear (&response);
}

//  ------------------------------------------------------------------------
//  Steps

//  Admin creates a partner; its id (and key, if not NULL) are copied out
static void
s_create_partner (const char *name, char *id, char *key)
{
    char body[512];
    snprintf (body, sizeof (body), "{\"name\":\"%s\",\"contact_email\":\"ops@partner.example\"}",
              name);
    pd_test_http_t response;
    assert_int_equal (s_call ("POST", "/api/partners", s_main.admin_key, body, &response), 201);
    snprintf (id, S_ID_MAX + 1, "%s", pd_json_str (&response, "id"));
    if (key)
        snprintf (key, S_TOKEN_MAX, "%s", pd_json_str (&response, "api_key"));
    pd_test_http_clear (&response);
}

//  Admin adds a user to a partner; its id is copied out
static void
s_create_user (const char *partner_id, const char *email, char *user_id)
{
    char path[256], body[512];
    snprintf (path, sizeof (path), "/api/partners/%s/users", partner_id);
    snprintf (body, sizeof (body), "{\"email\":\"%s\",\"name\":\"Ada\",\"role\":\"partner-admin\"}",
              email);
    pd_test_http_t response;
    assert_int_equal (s_call ("POST", path, s_main.admin_key, body, &response), 201);
    snprintf (user_id, S_ID_MAX + 1, "%s", pd_json_str (&response, "id"));
    pd_test_http_clear (&response);
}

//  Admin makes a magic link for a user; the token in it is copied out
static void
s_magic_link (const char *partner_id, const char *user_id, char *token)
{
    char path[256];
    snprintf (path, sizeof (path), "/api/partners/%s/users/%s/magic-link", partner_id, user_id);
    pd_test_http_t response;
    assert_int_equal (s_call ("POST", path, s_main.admin_key, NULL, &response), 201);
    const char *url = pd_json_str (&response, "url");
    assert_non_null (url);
    //  Built from the configured public URL, never from the request
    assert_memory_equal (url, s_main.base, strlen (s_main.base));
    const char *found = strstr (url, "token=");
    assert_non_null (found);
    found += strlen ("token=");
    size_t length = strcspn (found, "&#");
    assert_true (length > 0 && length < S_TOKEN_MAX);
    memcpy (token, found, length);
    token[length] = '\0';
    assert_true (pd_json_int (&response, "expires_at") > (long long)time (NULL) * 1000);
    pd_test_http_clear (&response);
}

static long
s_exchange (const s_instance_t *instance, const char *token, pd_test_http_t *response)
{
    char body[S_TOKEN_MAX + 32];
    snprintf (body, sizeof (body), "{\"token\":\"%s\"}", token);
    pd_test_http_options_t options = {.body = body};
    return s_request (instance, "POST", "/api/partners/auth/magic", &options, response);
}

//  The Max-Age of a Set-Cookie line's attributes, -1 if none
static long long
s_max_age (const char *attributes)
{
    const char *found = strstr (attributes, "Max-Age=");
    return found ? atoll (found + strlen ("Max-Age=")) : -1;
}

//  Keep the cookies a successful exchange set, as a browser would
static void
s_take_cookies (const pd_test_http_t *response, s_signed_in_t *user)
{
    assert_true (pd_test_http_cookie (response, "partnerd_session", user->session,
                                      sizeof (user->session), NULL, 0));
    assert_true (
        pd_test_http_cookie (response, "partnerd_csrf", user->csrf, sizeof (user->csrf), NULL, 0));
    snprintf (user->cookie, sizeof (user->cookie),
              "theme=dark; partnerd_session=%s; partnerd_csrf=%s", user->session, user->csrf);
}

//  A new user of `partner_id` signs in with a fresh magic link
static void
s_sign_in (const char *partner_id, const char *email, s_signed_in_t *user)
{
    memset (user, 0, sizeof (*user));
    snprintf (user->partner_id, sizeof (user->partner_id), "%s", partner_id);
    s_create_user (partner_id, email, user->user_id);
    char token[S_TOKEN_MAX];
    s_magic_link (partner_id, user->user_id, token);
    pd_test_http_t response;
    assert_int_equal (s_exchange (&s_main, token, &response), 200);
    s_take_cookies (&response, user);
    pd_test_http_clear (&response);
}

//  GET /api/partners/me as the user: the status, and the partner id seen
static long
s_me (const s_signed_in_t *user, char *partner_id)
{
    pd_test_http_t response;
    long status = s_browse (user, "GET", "/api/partners/me", NULL, false, &response);
    if (partner_id)
        snprintf (partner_id, S_ID_MAX + 1, "%s",
                  status == 200 ? pd_json_str (&response, "id") : "");
    pd_test_http_clear (&response);
    return status;
}

//  ------------------------------------------------------------------------
//  Tests

static void
test_magic_link_sign_in (void **state)
{
    //  Platform staff create a partner and one of its users
    char partner_id[S_ID_MAX + 1], user_id[S_ID_MAX + 1];
    s_create_partner ("Magic MSP", partner_id, NULL);
    char path[256];
    snprintf (path, sizeof (path), "/api/partners/%s/users", partner_id);
    pd_test_http_t response;
    assert_int_equal (s_call ("POST", path, s_main.admin_key,
                              "{\"email\":\"ada@magic.example\",\"name\":\"Ada\","
                              "\"role\":\"partner-admin\"}",
                              &response),
                      201);
    snprintf (user_id, sizeof (user_id), "%s", pd_json_str (&response, "id"));
    assert_string_equal (pd_json_str (&response, "partner_id"), partner_id);
    assert_string_equal (pd_json_str (&response, "email"), "ada@magic.example");
    assert_string_equal (pd_json_str (&response, "role"), "partner-admin");
    assert_string_equal (pd_json_str (&response, "status"), "active");
    pd_test_http_clear (&response);

    //  ... and list its users
    assert_int_equal (s_call ("GET", path, s_main.admin_key, NULL, &response), 200);
    json_t *items = json_object_get (response.json, "items");
    assert_int_equal (json_array_size (items), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (items, 0), "id")),
                         user_id);
    pd_test_http_clear (&response);

    //  A magic link, exchanged for a session
    char token[S_TOKEN_MAX];
    s_magic_link (partner_id, user_id, token);
    assert_int_equal (s_exchange (&s_main, token, &response), 200);
    char session[S_TOKEN_MAX], csrf[S_TOKEN_MAX], attributes[512];
    assert_true (pd_test_http_cookie (&response, "partnerd_session", session, sizeof (session),
                                      attributes, sizeof (attributes)));
    assert_true (strlen (session) > 0);
    assert_non_null (strstr (attributes, "; Path=/"));
    assert_non_null (strstr (attributes, "; HttpOnly"));
    assert_non_null (strstr (attributes, "; SameSite=Lax"));
    assert_null (strstr (attributes, "Secure")); //  configured off
    long long max_age = s_max_age (attributes);
    assert_true (max_age > S_SESSION_TTL_S - 60 && max_age <= S_SESSION_TTL_S);

    assert_true (pd_test_http_cookie (&response, "partnerd_csrf", csrf, sizeof (csrf), attributes,
                                      sizeof (attributes)));
    assert_non_null (strstr (attributes, "; Path=/"));
    assert_null (strstr (attributes, "HttpOnly")); //  the dashboard reads it
    assert_non_null (strstr (attributes, "; SameSite=Lax"));
    assert_null (strstr (attributes, "Secure"));
    assert_true (s_max_age (attributes) > 0);

    //  The body: the CSRF token and the user, never the session token
    assert_string_equal (response.content_type, "application/json");
    assert_string_equal (pd_json_str (&response, "csrf_token"), csrf);
    assert_null (json_object_get (response.json, "session_token"));
    assert_null (strstr (response.body, session));
    json_t *user = json_object_get (response.json, "user");
    assert_string_equal (json_string_value (json_object_get (user, "id")), user_id);
    assert_string_equal (pd_json_str (&response, "partner_id"), partner_id);
    pd_test_http_clear (&response);

    //  The session cookie works where a partner key does
    s_signed_in_t signed_in = {0};
    snprintf (signed_in.cookie, sizeof (signed_in.cookie), "partnerd_session=%s", session);
    char seen[S_ID_MAX + 1];
    assert_int_equal (s_me (&signed_in, seen), 200);
    assert_string_equal (seen, partner_id);

    //  The link was single use
    s_exchange (&s_main, token, &response);
    s_assert_problem (&response, 401, "unauthorized");
    assert_false (
        pd_test_http_cookie (&response, "partnerd_session", session, sizeof (session), NULL, 0));
    pd_test_http_clear (&response);

    //  The sign-in is audited
    assert_int_equal (s_call ("GET", "/api/admin/streams/audit?from=1&limit=1000", s_main.admin_key,
                              NULL, &response),
                      200);
    bool audited = false;
    size_t index;
    json_t *item;
    json_array_foreach (json_object_get (response.json, "items"), index, item)
    {
        json_t *event = json_object_get (item, "event");
        const char *type = json_string_value (json_object_get (event, "type"));
        const char *partner = json_string_value (json_object_get (event, "partner_id"));
        audited |= type && strcmp (type, "user.signed_in") == 0 && partner &&
                   strcmp (partner, partner_id) == 0;
    }
    assert_true (audited);
    assert_null (strstr (response.body, session)); //  no secret in the audit trail
    assert_null (strstr (response.body, token));
    pd_test_http_clear (&response);
}

//  Two exchanges of one link, released together
typedef struct {
    const char *token;
    pthread_barrier_t *barrier;
    long status;
} s_racer_t;

static void *
s_racer (void *arg)
{
    s_racer_t *racer = arg;
    char url[S_URL_MAX], body[S_TOKEN_MAX + 32];
    snprintf (url, sizeof (url), "%s/api/partners/auth/magic", s_main.base);
    snprintf (body, sizeof (body), "{\"token\":\"%s\"}", racer->token);
    pd_test_http_options_t options = {.body = body};
    pd_test_http_t response;
    pthread_barrier_wait (racer->barrier);
    racer->status = pd_test_http_ex ("POST", url, &options, &response) == 0 ? response.status : 0;
    pd_test_http_clear (&response);
    return NULL;
}

static void
test_magic_link_race_has_one_winner (void **state)
{
    char partner_id[S_ID_MAX + 1], user_id[S_ID_MAX + 1], token[S_TOKEN_MAX];
    s_create_partner ("Race MSP", partner_id, NULL);
    s_create_user (partner_id, "racer@race.example", user_id);
    s_magic_link (partner_id, user_id, token);

    pthread_barrier_t barrier;
    pthread_barrier_init (&barrier, NULL, 2);
    s_racer_t racers[2] = {{token, &barrier, 0}, {token, &barrier, 0}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal (pthread_create (&threads[i], NULL, s_racer, &racers[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join (threads[i], NULL);
    pthread_barrier_destroy (&barrier);

    long low = racers[0].status < racers[1].status ? racers[0].status : racers[1].status;
    long high = racers[0].status < racers[1].status ? racers[1].status : racers[0].status;
    if (low != 200 || high != 401)
        fail_msg ("racing exchanges answered %ld and %ld, expected 200 and 401", racers[0].status,
                  racers[1].status);
}

static void
test_csrf_and_logout (void **state)
{
    char partner_id[S_ID_MAX + 1];
    s_create_partner ("Csrf MSP", partner_id, NULL);
    s_signed_in_t user;
    s_sign_in (partner_id, "ada@csrf.example", &user);

    //  Safe methods need no CSRF token; unsafe ones need the right one
    assert_int_equal (s_me (&user, NULL), 200);
    s_browse_problem (&user, "POST", "/api/partners/auth/logout", NULL, false, 403, "forbidden");
    s_signed_in_t forged = user;
    snprintf (forged.csrf, sizeof (forged.csrf), "pdc_forged");
    s_browse_problem (&forged, "POST", "/api/partners/auth/logout", NULL, true, 403, "forbidden");
    //  The session's CSRF token with another session is no good either
    s_signed_in_t other;
    s_sign_in (partner_id, "bob@csrf.example", &other);
    snprintf (forged.csrf, sizeof (forged.csrf), "%s", other.csrf);
    s_browse_problem (&forged, "POST", "/api/partners/auth/logout", NULL, true, 403, "forbidden");
    assert_int_equal (s_me (&user, NULL), 200); //  refusals ended nothing

    //  With it, logout ends the session and clears both cookies
    pd_test_http_t response;
    assert_int_equal (s_browse (&user, "POST", "/api/partners/auth/logout", NULL, true, &response),
                      204);
    char value[S_TOKEN_MAX], attributes[512];
    assert_true (pd_test_http_cookie (&response, "partnerd_session", value, sizeof (value),
                                      attributes, sizeof (attributes)));
    assert_string_equal (value, "");
    assert_int_equal (s_max_age (attributes), 0);
    assert_non_null (strstr (attributes, "; HttpOnly"));
    assert_true (pd_test_http_cookie (&response, "partnerd_csrf", value, sizeof (value), attributes,
                                      sizeof (attributes)));
    assert_string_equal (value, "");
    assert_int_equal (s_max_age (attributes), 0);
    pd_test_http_clear (&response);

    //  The old cookie is refused from then on; the other session lives
    s_browse_problem (&user, "GET", "/api/partners/me", NULL, false, 401, "unauthorized");
    s_browse_problem (&user, "POST", "/api/partners/auth/logout", NULL, true, 401, "unauthorized");
    assert_int_equal (s_me (&other, NULL), 200);
}

static void
test_partners_stay_apart (void **state)
{
    char a_id[S_ID_MAX + 1], a_key[S_TOKEN_MAX], b_id[S_ID_MAX + 1], b_user[S_ID_MAX + 1];
    s_create_partner ("Apart A", a_id, a_key);
    s_create_partner ("Apart B", b_id, NULL);
    s_create_user (b_id, "bea@apart-b.example", b_user);
    s_signed_in_t a_user;
    s_sign_in (a_id, "ada@apart-a.example", &a_user);

    char seen[S_ID_MAX + 1];
    assert_int_equal (s_me (&a_user, seen), 200);
    assert_string_equal (seen, a_id);
    pd_test_http_t response;
    assert_int_equal (s_call ("GET", "/api/partners/me", a_key, NULL, &response), 200);
    assert_string_equal (pd_json_str (&response, "id"), a_id);
    pd_test_http_clear (&response);

    //  Admin routes refuse A's session (with its CSRF token, so that
    //  access is what refuses) and A's key
    char b_path[256], b_users[256], b_link[256];
    snprintf (b_path, sizeof (b_path), "/api/partners/%s", b_id);
    snprintf (b_users, sizeof (b_users), "/api/partners/%s/users", b_id);
    snprintf (b_link, sizeof (b_link), "/api/partners/%s/users/%s/magic-link", b_id, b_user);
    static const char *new_user = "{\"email\":\"eve@apart-b.example\",\"role\":\"partner-admin\"}";
    const struct {
        const char *method, *path, *body;
    } admin_only[] = {
        {"GET", "/api/partners", NULL}, {"GET", b_path, NULL},
        {"GET", b_users, NULL},         {"POST", b_users, new_user},
        {"POST", b_link, NULL},         {"PUT", b_path, "{\"name\":\"Mine\"}"},
    };
    for (size_t i = 0; i < sizeof (admin_only) / sizeof (admin_only[0]); i++) {
        s_browse_problem (&a_user, admin_only[i].method, admin_only[i].path, admin_only[i].body,
                          true, 403, "forbidden");
        s_expect_problem (admin_only[i].method, admin_only[i].path, a_key, admin_only[i].body, 403,
                          "forbidden");
    }

    //  B is untouched: still one user, same name
    assert_int_equal (s_call ("GET", b_users, s_main.admin_key, NULL, &response), 200);
    assert_int_equal (json_array_size (json_object_get (response.json, "items")), 1);
    pd_test_http_clear (&response);
    assert_int_equal (s_call ("GET", b_path, s_main.admin_key, NULL, &response), 200);
    assert_string_equal (pd_json_str (&response, "name"), "Apart B");
    pd_test_http_clear (&response);
}

static void
test_disabled_user_is_signed_out (void **state)
{
    char partner_id[S_ID_MAX + 1];
    s_create_partner ("Disable MSP", partner_id, NULL);
    s_signed_in_t user;
    s_sign_in (partner_id, "ada@disable.example", &user);
    char token[S_TOKEN_MAX];
    s_magic_link (partner_id, user.user_id, token); //  a link made before
    assert_int_equal (s_me (&user, NULL), 200);

    char path[256];
    snprintf (path, sizeof (path), "/api/partners/%s/users/%s/disable", partner_id, user.user_id);
    pd_test_http_t response;
    assert_int_equal (s_call ("POST", path, s_main.admin_key, NULL, &response), 200);
    assert_string_equal (pd_json_str (&response, "status"), "disabled");
    pd_test_http_clear (&response);

    //  Its live session is refused at once, and it cannot sign in again
    s_browse_problem (&user, "GET", "/api/partners/me", NULL, false, 401, "unauthorized");
    long status = s_exchange (&s_main, token, &response);
    if (status != 401 && status != 403)
        fail_msg ("a disabled user's link answered %ld", status);
    assert_false (
        pd_test_http_cookie (&response, "partnerd_session", token, sizeof (token), NULL, 0));
    pd_test_http_clear (&response);
}

static void
test_suspended_partner_is_refused (void **state)
{
    char partner_id[S_ID_MAX + 1];
    s_create_partner ("Suspend MSP", partner_id, NULL);
    s_signed_in_t user;
    s_sign_in (partner_id, "ada@suspend.example", &user);
    assert_int_equal (s_me (&user, NULL), 200);

    char path[256];
    snprintf (path, sizeof (path), "/api/partners/%s", partner_id);
    pd_test_http_t response;
    assert_int_equal (
        s_call ("PUT", path, s_main.admin_key, "{\"status\":\"suspended\"}", &response), 200);
    pd_test_http_clear (&response);
    s_browse_problem (&user, "GET", "/api/partners/me", NULL, false, 403, "forbidden");

    //  And back
    assert_int_equal (s_call ("PUT", path, s_main.admin_key, "{\"status\":\"active\"}", &response),
                      200);
    pd_test_http_clear (&response);
    assert_int_equal (s_me (&user, NULL), 200);
}

static void
test_unusable_credentials_are_refused (void **state)
{
    //  Whatever shape a credential has, the answer is 401, never a 400
    //  that would tell what the server checks
    static const char *keys[] = {"not-a-key", "not a key", "pdp_cl\xc3\xa9", "x"};
    for (size_t i = 0; i < sizeof (keys) / sizeof (keys[0]); i++)
        s_expect_problem ("GET", "/api/partners/me", keys[i], NULL, 401, "unauthorized");
    char long_key[1024];
    memset (long_key, 'k', sizeof (long_key) - 1);
    long_key[sizeof (long_key) - 1] = '\0';
    s_expect_problem ("GET", "/api/partners/me", long_key, NULL, 401, "unauthorized");

    s_signed_in_t stranger = {0};
    const char *cookies[] = {"partnerd_session=pds_nobody", "partnerd_session=\"a b\"",
                             "theme=dark; partnerd_session=%00"};
    for (size_t i = 0; i < sizeof (cookies) / sizeof (cookies[0]); i++) {
        snprintf (stranger.cookie, sizeof (stranger.cookie), "%s", cookies[i]);
        s_browse_problem (&stranger, "GET", "/api/partners/me", NULL, false, 401, "unauthorized");
    }
    //  No credential at all
    snprintf (stranger.cookie, sizeof (stranger.cookie), "theme=dark");
    s_browse_problem (&stranger, "GET", "/api/partners/me", NULL, false, 401, "unauthorized");
}

//  Wait (bounded) until `key` is accepted again: the window has ended
static long
s_poll_until_accepted (const s_instance_t *instance, const char *key, int timeout_ms)
{
    pd_test_http_options_t options = {.api_key = key};
    long status = 0;
    for (int waited = 0; waited <= timeout_ms; waited += S_POLL_MS) {
        pd_test_http_t response;
        status = s_request (instance, "GET", "/api/partners", &options, &response);
        pd_test_http_clear (&response);
        if (status != 429)
            break;
        usleep (S_POLL_MS * 1000);
    }
    return status;
}

static void
test_failures_are_rate_limited (void **state)
{
    //  Its own partnerd: a low limit and a short window
    s_instance_t *limited = &s_limited;
    assert_int_equal (s_instance_start (limited, S_LIMIT_SMALL, S_WINDOW_SMALL_S), 0);
    char bad_key[S_TOKEN_MAX];
    snprintf (bad_key, sizeof (bad_key), "%sX", limited->admin_key);
    pd_test_http_options_t bad = {.api_key = bad_key};
    pd_test_http_options_t good = {.api_key = limited->admin_key};

    //  Bad keys (of any shape: the gateway judges none itself) and bad
    //  magic tokens from one address: each refused 401 until the limit,
    //  then 429 with a Retry-After
    pd_test_http_options_t garbage = {.api_key = "not a key"};
    pd_test_http_t response;
    for (int i = 0; i < S_LIMIT_SMALL; i++) {
        if (i % 3 == 0)
            s_request (limited, "GET", "/api/partners", &bad, &response);
        else if (i % 3 == 1)
            s_exchange (limited, "pdm_not_a_real_link", &response);
        else
            s_request (limited, "GET", "/api/partners", &garbage, &response);
        s_assert_problem (&response, 401, "unauthorized");
        pd_test_http_clear (&response);
    }
    s_request (limited, "GET", "/api/partners", &bad, &response);
    s_assert_problem (&response, 429, "rate_limited");
    int retry_after = atoi (response.retry_after);
    assert_true (retry_after >= 1 && retry_after <= S_WINDOW_SMALL_S);
    pd_test_http_clear (&response);
    s_exchange (limited, "pdm_not_a_real_link", &response);
    s_assert_problem (&response, 429, "rate_limited");
    assert_true (atoi (response.retry_after) >= 1);
    pd_test_http_clear (&response);

    //  The right credentials from that same address keep working (behind a
    //  proxy or NAT everyone shares it): the admin key, a partner's key and
    //  a fresh magic link
    assert_int_equal (s_request (limited, "GET", "/api/partners", &good, &response), 200);
    pd_test_http_clear (&response);
    pd_test_http_options_t create = {
        .api_key = limited->admin_key,
        .body = "{\"name\":\"Shared NAT\",\"contact_email\":\"a@nat.example\"}"};
    assert_int_equal (s_request (limited, "POST", "/api/partners", &create, &response), 201);
    char partner_id[S_ID_MAX + 1], partner_key[S_TOKEN_MAX];
    snprintf (partner_id, sizeof (partner_id), "%s", pd_json_str (&response, "id"));
    snprintf (partner_key, sizeof (partner_key), "%s", pd_json_str (&response, "api_key"));
    pd_test_http_clear (&response);
    pd_test_http_options_t as_partner = {.api_key = partner_key};
    assert_int_equal (s_request (limited, "GET", "/api/partners/me", &as_partner, &response), 200);
    pd_test_http_clear (&response);
    char path[256];
    snprintf (path, sizeof (path), "/api/partners/%s/users", partner_id);
    create.body = "{\"email\":\"ann@nat.example\",\"role\":\"partner-admin\"}";
    assert_int_equal (s_request (limited, "POST", path, &create, &response), 201);
    snprintf (path, sizeof (path), "/api/partners/%s/users/%s/magic-link", partner_id,
              pd_json_str (&response, "id"));
    pd_test_http_clear (&response);
    create.body = NULL;
    assert_int_equal (s_request (limited, "POST", path, &create, &response), 201);
    const char *url = pd_json_str (&response, "url");
    char token[S_TOKEN_MAX];
    snprintf (token, sizeof (token), "%s", strstr (url, "token=") + strlen ("token="));
    pd_test_http_clear (&response);
    assert_int_equal (s_exchange (limited, token, &response), 200);
    pd_test_http_clear (&response);

    //  Wrong ones wait for the window's end, then are refused 401 again
    s_request (limited, "GET", "/api/partners", &bad, &response);
    s_assert_problem (&response, 429, "rate_limited");
    pd_test_http_clear (&response);
    assert_int_equal (s_poll_until_accepted (limited, bad_key, 2 * S_WINDOW_SMALL_S * 1000), 401);

    assert_int_equal (s_instance_stop (limited), 0);
}

//  Roles: a partner-user reads provisioning but changes nothing; a
//  partner-admin (and the partner's API key) may
static void
test_partner_users_cannot_change_provisioning (void **state)
{
    char partner_id[S_ID_MAX + 1], key[S_TOKEN_MAX];
    s_create_partner ("Roles Partner", partner_id, key);

    char path[256];
    snprintf (path, sizeof (path), "/api/partners/%s/users", partner_id);
    pd_test_http_t response;
    assert_int_equal (s_call ("POST", path, s_main.admin_key,
                              "{\"email\":\"bob@roles.example\",\"role\":\"partner-user\"}",
                              &response),
                      201);
    s_signed_in_t bob = {0};
    snprintf (bob.partner_id, sizeof (bob.partner_id), "%s", partner_id);
    snprintf (bob.user_id, sizeof (bob.user_id), "%s", pd_json_str (&response, "id"));
    pd_test_http_clear (&response);
    char token[S_TOKEN_MAX];
    s_magic_link (partner_id, bob.user_id, token);
    assert_int_equal (s_exchange (&s_main, token, &response), 200);
    s_take_cookies (&response, &bob);
    pd_test_http_clear (&response);

    assert_int_equal (s_browse (&bob, "GET", "/api/partners/me/provisions", NULL, false, &response),
                      200);
    pd_test_http_clear (&response);
    s_browse_problem (&bob, "POST", "/api/partners/me/provisions", "{}", true, 403, "forbidden");

    s_signed_in_t ada;
    s_sign_in (partner_id, "ada@roles.example", &ada); //  a partner-admin
    assert_int_equal (s_browse (&ada, "POST", "/api/partners/me/provisions", "{}", true, &response),
                      201);
    pd_test_http_clear (&response);
    assert_int_equal (s_call ("POST", "/api/partners/me/provisions", key, "{}", &response), 201);
    pd_test_http_clear (&response);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_magic_link_sign_in),
        cmocka_unit_test (test_magic_link_race_has_one_winner),
        cmocka_unit_test (test_csrf_and_logout),
        cmocka_unit_test (test_partner_users_cannot_change_provisioning),
        cmocka_unit_test (test_partners_stay_apart),
        cmocka_unit_test (test_disabled_user_is_signed_out),
        cmocka_unit_test (test_suspended_partner_is_refused),
        cmocka_unit_test (test_unusable_credentials_are_refused),
        cmocka_unit_test (test_failures_are_rate_limited),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
