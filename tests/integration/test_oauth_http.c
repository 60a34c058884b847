/*  test_oauth_http - OAuth / OpenID Connect sign-in through a real partnerd

    Two local OpenID providers (pd_test_idp), one Google style and one
    Microsoft style, and one all-in-one partnerd configured for both. Each
    sign-in is the browser's flow, hop by hop, with no redirect followed
    automatically: partnerd's start URL (302 to the provider), the
    provider's /authorize (302 back to our callback with code and state),
    partnerd's callback (303 to the dashboard or the pending page, with or
    without a session cookie).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pd_test_idp.h"
#include "pd_testutil.h"

#define S_GOOGLE_CLIENT  "partnerd-google-client"
#define S_GOOGLE_SECRET  "google-secret-for-tests-0123456789"
#define S_MS_CLIENT      "partnerd-microsoft-client"
#define S_MS_SECRET      "microsoft-secret-for-tests-0123456789"
#define S_CONTOSO_TID    "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
#define S_PERSONAL_TID   "9188040d-6c67-4c5b-b112-36a304b66dad" //  every personal account
#define S_OTHER_TID      "72f988bf-86f1-41af-91ab-2d7cd011db47"
#define S_SESSION_COOKIE "partnerd_session"
#define S_DASHBOARD_PATH "/partner/dashboard"
#define S_PENDING_PATH   "/partner/pending"
#define S_URL_SIZE       4096
#define S_ID_SIZE        64
#define S_COOKIE_SIZE    256

typedef struct {
    char *dir;
    pd_test_idp_t *google;
    pd_test_idp_t *microsoft;
    pd_proc_t *server;
    char base[96]; //  http://127.0.0.1:PORT, also partnerd's public_url
    char *admin_key;
} s_fixture_t;

static s_fixture_t s_fx;

//  ------------------------------------------------------------------------
//  Helpers

static long
s_call (const char *method, const char *path, const char *body, pd_test_http_t *response)
{
    char url[512];
    snprintf (url, sizeof (url), "%s%s", s_fx.base, path);
    assert_int_equal (pd_test_http (method, url, s_fx.admin_key, body, NULL, response), 0);
    return response->status;
}

//  GET as a browser would, with the cookies it holds (NULL: none)
static long
s_get_with (const char *url, const char *cookie, pd_test_http_t *response)
{
    pd_test_http_options_t options = {.cookie = cookie};
    assert_int_equal (pd_test_http_ex ("GET", url, &options, response), 0);
    return response->status;
}

static long
s_get (const char *url, pd_test_http_t *response)
{
    pd_test_http_options_t options = {0};
    assert_int_equal (pd_test_http_ex ("GET", url, &options, response), 0);
    if (response->status >= 500) //  for the test log
        fprintf (stderr, "GET %s: %ld %s\n", url, response->status, response->body);
    return response->status;
}

static bool
s_starts_with (const char *text, const char *prefix)
{
    return strncmp (text, prefix, strlen (prefix)) == 0;
}

static bool
s_ends_with (const char *text, const char *suffix)
{
    size_t length = strlen (text), suffix_length = strlen (suffix);
    return length >= suffix_length && strcmp (text + length - suffix_length, suffix) == 0;
}

//  "http://127.0.0.1:PORT" of an issuer URL
static void
s_origin (const char *url, char *origin, size_t size)
{
    const char *path = strchr (url + strlen ("http://"), '/');
    int length = path ? (int)(path - url) : (int)strlen (url);
    snprintf (origin, size, "%.*s", length, url);
}

//  The browser's way through a sign-in with `provider`, up to the provider
//  sending it back: the callback URL (with code and state) into callback,
//  and the Cookie header the browser then holds (partnerd_oauth) into cookie
static void
s_authorize (const char *provider, pd_test_idp_t *idp, char *callback, size_t size, char *cookie,
             size_t cookie_size)
{
    char url[S_URL_SIZE], origin[128];
    snprintf (url, sizeof (url), "%s/api/partner-auth/%s", s_fx.base, provider);
    pd_test_http_t start;
    assert_int_equal (s_get (url, &start), 302);
    s_origin (pd_test_idp_issuer (idp), origin, sizeof (origin));
    assert_true (s_starts_with (start.location, origin));
    assert_non_null (strstr (start.location, "/authorize?"));
    assert_non_null (strstr (start.location, "code_challenge_method=S256"));
    //  The sign-in is bound to this browser by an HttpOnly cookie
    char binding[256], attributes[256];
    assert_true (pd_test_http_cookie (&start, "partnerd_oauth", binding, sizeof (binding),
                                      attributes, sizeof (attributes)));
    assert_non_null (strstr (attributes, "HttpOnly"));
    assert_null (strstr (start.body ? start.body : "", binding));
    snprintf (cookie, cookie_size, "partnerd_oauth=%s", binding);

    pd_test_http_t authorize;
    assert_int_equal (s_get (start.location, &authorize), 302);
    snprintf (url, sizeof (url), "%s/api/partner-auth/callback?", s_fx.base);
    assert_true (s_starts_with (authorize.location, url));
    assert_non_null (strstr (authorize.location, "code="));
    assert_non_null (strstr (authorize.location, "state="));
    snprintf (callback, size, "%s", authorize.location);
    pd_test_http_clear (&start);
    pd_test_http_clear (&authorize);
}

//  A whole sign-in; partnerd's answer to the callback in *response
static long
s_sign_in (const char *provider, pd_test_idp_t *idp, pd_test_http_t *response)
{
    char callback[S_URL_SIZE], cookie[300];
    s_authorize (provider, idp, callback, sizeof (callback), cookie, sizeof (cookie));
    return s_get_with (callback, cookie, response);
}

//  A sign-in that must land on the dashboard with a session: the cookie
static void
s_sign_in_active (const char *provider, pd_test_idp_t *idp, char *cookie, size_t size)
{
    pd_test_http_t response;
    assert_int_equal (s_sign_in (provider, idp, &response), 303);
    char expected[256];
    snprintf (expected, sizeof (expected), "%s%s", s_fx.base, S_DASHBOARD_PATH);
    assert_string_equal (response.location, expected);
    char value[S_COOKIE_SIZE - sizeof (S_SESSION_COOKIE) - 1], attributes[256];
    assert_true (pd_test_http_cookie (&response, S_SESSION_COOKIE, value, sizeof (value),
                                      attributes, sizeof (attributes)));
    assert_true (s_starts_with (value, "pds_"));
    assert_non_null (strstr (attributes, "HttpOnly"));
    assert_null (strstr (attributes, "Secure")); //  cookie_secure = false here
    snprintf (cookie, size, "%s=%s", S_SESSION_COOKIE, value);
    pd_test_http_clear (&response);
}

//  A sign-in that must land on the pending page, without a session
static void
s_sign_in_pending (const char *provider, pd_test_idp_t *idp)
{
    pd_test_http_t response;
    assert_int_equal (s_sign_in (provider, idp, &response), 303);
    assert_true (s_ends_with (response.location, S_PENDING_PATH));
    char value[S_COOKIE_SIZE];
    assert_false (
        pd_test_http_cookie (&response, S_SESSION_COOKIE, value, sizeof (value), NULL, 0));
    pd_test_http_clear (&response);
}

//  GET /api/partners/me with a session cookie
static void
s_me (const char *cookie, pd_test_http_t *response)
{
    char url[512];
    snprintf (url, sizeof (url), "%s/api/partners/me", s_fx.base);
    pd_test_http_options_t options = {.cookie = cookie};
    assert_int_equal (pd_test_http_ex ("GET", url, &options, response), 0);
}

//  The id of the pending partner named `name` (fails if none)
static void
s_pending_id (const char *name, char *id, size_t size)
{
    pd_test_http_t response;
    assert_int_equal (s_call ("GET", "/api/admin/partners/pending", NULL, &response), 200);
    json_t *items = json_object_get (response.json, "items");
    id[0] = 0;
    for (size_t i = 0; i < json_array_size (items); i++) {
        json_t *item = json_array_get (items, i);
        assert_string_equal (json_string_value (json_object_get (item, "status")), "pending");
        if (strcmp (json_string_value (json_object_get (item, "name")), name) == 0)
            snprintf (id, size, "%s", json_string_value (json_object_get (item, "id")));
    }
    assert_true (id[0] != 0);
    pd_test_http_clear (&response);
}

static void
s_assert_problem (const pd_test_http_t *response, long status, const char *code)
{
    assert_int_equal (response->status, status);
    assert_string_equal (response->content_type, "application/problem+json");
    assert_string_equal (pd_json_str (response, "code"), code);
}

//  ------------------------------------------------------------------------
//  Fixture

static int
s_write_config (const char *path, int port)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    FILE *file = fd >= 0 ? fdopen (fd, "w") : NULL;
    if (!file)
        return -1;
    fprintf (file,
             "# written by test_oauth_http\n"
             "public_url = http://127.0.0.1:%d\n"
             "cookie_secure = false\n"
             "oauth_allow_insecure = true\n"
             "google_issuer = %s\n"
             "google_client_id = %s\n"
             "google_client_secret = %s\n"
             "microsoft_issuer = %s\n"
             "microsoft_client_id = %s\n"
             "microsoft_client_secret = %s\n",
             port, pd_test_idp_issuer (s_fx.google), S_GOOGLE_CLIENT, S_GOOGLE_SECRET,
             pd_test_idp_issuer (s_fx.microsoft), S_MS_CLIENT, S_MS_SECRET);
    return fclose (file) == 0 ? 0 : -1;
}

static int
s_setup (void **state)
{
    pd_test_idp_config_t google = {"google", S_GOOGLE_CLIENT, S_GOOGLE_SECRET};
    pd_test_idp_config_t microsoft = {"microsoft", S_MS_CLIENT, S_MS_SECRET};
    s_fx.google = pd_test_idp_new (&google);
    s_fx.microsoft = pd_test_idp_new (&microsoft);
    s_fx.dir = pd_test_tmpdir ();
    if (!s_fx.google || !s_fx.microsoft || !s_fx.dir)
        return -1;

    int port = pd_test_free_port ();
    char http[64], data[512], config[512];
    snprintf (http, sizeof (http), "127.0.0.1:%d", port);
    snprintf (s_fx.base, sizeof (s_fx.base), "http://%s", http);
    snprintf (data, sizeof (data), "%s/data", s_fx.dir);
    snprintf (config, sizeof (config), "%s/partnerd.conf", s_fx.dir);
    if (s_write_config (config, port) != 0)
        return -1;
    const char *args[] = {"--data", data, "--http", http, "--config", config, NULL};
    s_fx.server = pd_proc_start (args, 20000);
    if (!s_fx.server)
        return -1;
    char path[600];
    snprintf (path, sizeof (path), "%s/admin.key", data);
    s_fx.admin_key = pd_test_read_line (path);
    return s_fx.admin_key ? 0 : -1;
}

static int
s_teardown (void **state)
{
    //  A clean stop exits 0: under the sanitizers that also means no leaks
    int status = s_fx.server ? pd_proc_stop (&s_fx.server, SIGTERM) : -1;
    pd_test_idp_destroy (&s_fx.google);
    pd_test_idp_destroy (&s_fx.microsoft);
    if (s_fx.dir)
        pd_test_rmdir (s_fx.dir);
    free (s_fx.dir);
    free (s_fx.admin_key);
    return status == 0 ? 0 : -1;
}

//  ------------------------------------------------------------------------
//  Tests

static void
test_google_signup_waits_for_approval (void **state)
{
    //  A first sign-in from an unknown Workspace domain: a pending partner,
    //  sent to the pending page without a session
    pd_test_idp_set_user (s_fx.google, "g-ada", "ada@acme.example", "Ada", "acme.example", NULL);
    s_sign_in_pending ("google", s_fx.google);

    //  The admin sees it waiting, and approves it
    char id[S_ID_SIZE], path[256];
    s_pending_id ("acme.example", id, sizeof (id));
    pd_test_http_t response;
    snprintf (path, sizeof (path), "/api/admin/partners/approve/%s", id);
    assert_int_equal (s_call ("POST", path, NULL, &response), 200);
    assert_string_equal (pd_json_str (&response, "status"), "active");
    pd_test_http_clear (&response);

    //  Signing in again lands on the dashboard with a session
    char cookie[S_COOKIE_SIZE];
    s_sign_in_active ("google", s_fx.google, cookie, sizeof (cookie));
    s_me (cookie, &response);
    assert_int_equal (response.status, 200);
    assert_string_equal (pd_json_str (&response, "id"), id);
    assert_string_equal (pd_json_str (&response, "name"), "acme.example");
    assert_string_equal (pd_json_str (&response, "signup_provider"), "google");
    assert_string_equal (pd_json_str (&response, "org_id"), "google:acme.example");
    assert_string_equal (pd_json_str (&response, "contact_email"), "ada@acme.example");
    pd_test_http_clear (&response);

    //  A colleague from the same Workspace joins the approved partner
    pd_test_idp_set_user (s_fx.google, "g-bob", "bob@acme.example", "Bob", "acme.example", NULL);
    s_sign_in_active ("google", s_fx.google, cookie, sizeof (cookie));
    s_me (cookie, &response);
    assert_int_equal (response.status, 200);
    assert_string_equal (pd_json_str (&response, "id"), id);
    pd_test_http_clear (&response);

    //  Deciding twice is a conflict
    assert_int_equal (s_call ("POST", path, NULL, &response), 409);
    s_assert_problem (&response, 409, "conflict");
    pd_test_http_clear (&response);
}

static void
test_rejected_signup_is_refused (void **state)
{
    pd_test_idp_set_user (s_fx.google, "g-gus", "gus@globex.example", "Gus", "globex.example",
                          NULL);
    s_sign_in_pending ("google", s_fx.google);
    char id[S_ID_SIZE], path[256];
    s_pending_id ("globex.example", id, sizeof (id));
    pd_test_http_t response;
    snprintf (path, sizeof (path), "/api/admin/partners/reject/%s", id);
    assert_int_equal (s_call ("POST", path, NULL, &response), 200);
    assert_string_equal (pd_json_str (&response, "status"), "rejected");
    pd_test_http_clear (&response);

    //  No longer pending; its sign-ins are refused
    assert_int_equal (s_call ("GET", "/api/admin/partners/pending", NULL, &response), 200);
    assert_null (strstr (response.body, id));
    pd_test_http_clear (&response);
    assert_int_equal (s_sign_in ("google", s_fx.google, &response), 403);
    s_assert_problem (&response, 403, "forbidden");
    char value[S_COOKIE_SIZE];
    assert_false (
        pd_test_http_cookie (&response, S_SESSION_COOKIE, value, sizeof (value), NULL, 0));
    pd_test_http_clear (&response);
}

static void
test_approved_google_domain_signs_in_at_once (void **state)
{
    pd_test_http_t response;
    assert_int_equal (s_call ("POST", "/api/admin/approved-domains",
                              "{\"domain\":\"Initech.Example\",\"provider\":\"google\"}",
                              &response),
                      201);
    assert_string_equal (pd_json_str (&response, "domain"), "initech.example");
    pd_test_http_clear (&response);
    assert_int_equal (s_call ("POST", "/api/admin/approved-domains",
                              "{\"domain\":\"initech.example\",\"provider\":\"google\"}",
                              &response),
                      409);
    pd_test_http_clear (&response);
    assert_int_equal (s_call ("GET", "/api/admin/approved-domains", NULL, &response), 200);
    assert_non_null (strstr (response.body, "\"initech.example\""));
    pd_test_http_clear (&response);

    pd_test_idp_set_user (s_fx.google, "g-ina", "ina@initech.example", "Ina", "initech.example",
                          NULL);
    char cookie[S_COOKIE_SIZE];
    s_sign_in_active ("google", s_fx.google, cookie, sizeof (cookie));
    s_me (cookie, &response);
    assert_int_equal (response.status, 200);
    assert_string_equal (pd_json_str (&response, "status"), "active");
    assert_string_equal (pd_json_str (&response, "org_id"), "google:initech.example");
    pd_test_http_clear (&response);
}

static void
test_approved_domains_are_checked (void **state)
{
    pd_test_http_t response;
    assert_int_equal (s_call ("POST", "/api/admin/approved-domains",
                              "{\"domain\":\"contoso.example\",\"provider\":\"microsoft\"}",
                              &response),
                      400);
    s_assert_problem (&response, 400, "missing_field");
    assert_string_equal (pd_json_str (&response, "field"), "tenant_id");
    pd_test_http_clear (&response);
    assert_int_equal (s_call ("POST", "/api/admin/approved-domains",
                              "{\"domain\":\"not a domain\",\"provider\":\"google\"}", &response),
                      400);
    pd_test_http_clear (&response);
    assert_int_equal (
        s_call ("DELETE", "/api/admin/approved-domains/absent.example", NULL, &response), 404);
    pd_test_http_clear (&response);

    //  Added then removed: gone from the list
    assert_int_equal (s_call ("POST", "/api/admin/approved-domains",
                              "{\"domain\":\"brief.example\",\"provider\":\"google\"}", &response),
                      201);
    pd_test_http_clear (&response);
    assert_int_equal (
        s_call ("DELETE", "/api/admin/approved-domains/brief.example", NULL, &response), 204);
    pd_test_http_clear (&response);
    assert_int_equal (s_call ("GET", "/api/admin/approved-domains", NULL, &response), 200);
    assert_null (strstr (response.body, "brief.example"));
    pd_test_http_clear (&response);
}

static void
test_microsoft_tenant_decides_approval (void **state)
{
    pd_test_http_t response;
    assert_int_equal (s_call ("POST", "/api/admin/approved-domains",
                              "{\"domain\":\"contoso.example\",\"provider\":\"microsoft\","
                              "\"tenant_id\":\"" S_CONTOSO_TID "\"}",
                              &response),
                      201);
    pd_test_http_clear (&response);

    //  The approved tenant with that email domain: a session at once
    pd_test_idp_set_user (s_fx.microsoft, "ms-ben", "ben@contoso.example", "Ben", NULL,
                          S_CONTOSO_TID);
    char cookie[S_COOKIE_SIZE];
    s_sign_in_active ("microsoft", s_fx.microsoft, cookie, sizeof (cookie));
    s_me (cookie, &response);
    assert_int_equal (response.status, 200);
    assert_string_equal (pd_json_str (&response, "signup_provider"), "microsoft");
    assert_string_equal (pd_json_str (&response, "org_id"), "microsoft:" S_CONTOSO_TID);
    assert_string_equal (pd_json_str (&response, "name"), "contoso.example");
    pd_test_http_clear (&response);

    //  Same email domain from another tenant: not approved, pending
    pd_test_idp_set_user (s_fx.microsoft, "ms-eve", "eve@contoso.example", "Eve", NULL,
                          S_OTHER_TID);
    s_sign_in_pending ("microsoft", s_fx.microsoft);
    assert_int_equal (s_call ("GET", "/api/admin/partners/pending", NULL, &response), 200);
    assert_non_null (strstr (response.body, "microsoft:" S_OTHER_TID));
    pd_test_http_clear (&response);

    //  Personal Microsoft accounts are no organisation
    pd_test_idp_set_user (s_fx.microsoft, "ms-pat", "pat@outlook.example", "Pat", NULL,
                          S_PERSONAL_TID);
    assert_int_equal (s_sign_in ("microsoft", s_fx.microsoft, &response), 403);
    pd_test_http_clear (&response);

    //  An email address that signs in with Google is not taken over
    pd_test_idp_set_user (s_fx.microsoft, "ms-ada", "ada@acme.example", "Ada", NULL, S_CONTOSO_TID);
    assert_int_equal (s_sign_in ("microsoft", s_fx.microsoft, &response), 409);
    pd_test_http_clear (&response);
}

static void
test_replayed_callback_is_refused (void **state)
{
    //  ada's partner is active (first test): the first use signs in
    pd_test_idp_set_user (s_fx.google, "g-ada", "ada@acme.example", "Ada", "acme.example", NULL);
    char callback[S_URL_SIZE], cookie[300];
    s_authorize ("google", s_fx.google, callback, sizeof (callback), cookie, sizeof (cookie));
    pd_test_http_t response;
    assert_int_equal (s_get_with (callback, cookie, &response), 303);
    pd_test_http_clear (&response);
    assert_int_equal (s_get_with (callback, cookie, &response), 401);
    s_assert_problem (&response, 401, "unauthorized");
    pd_test_http_clear (&response);
}

//  Login CSRF: an attacker signs in, stops at the callback and gets a
//  victim's browser to open it. Without the attacker's binding cookie the
//  victim's browser gets no session.
static void
test_callback_from_another_browser_is_refused (void **state)
{
    pd_test_idp_set_user (s_fx.google, "g-ada", "ada@acme.example", "Ada", "acme.example", NULL);
    char callback[S_URL_SIZE], cookie[300];
    s_authorize ("google", s_fx.google, callback, sizeof (callback), cookie, sizeof (cookie));
    pd_test_http_t response;
    assert_int_equal (s_get_with (callback, "partnerd_oauth=obd_someoneelse", &response), 401);
    s_assert_problem (&response, 401, "unauthorized");
    assert_string_equal (pd_json_str (&response, "detail"),
                         "the sign-in was started in another browser");
    char value[256];
    assert_false (
        pd_test_http_cookie (&response, "partnerd_session", value, sizeof (value), NULL, 0));
    pd_test_http_clear (&response);
    //  Nor with no cookie at all
    s_authorize ("google", s_fx.google, callback, sizeof (callback), cookie, sizeof (cookie));
    assert_int_equal (s_get_with (callback, NULL, &response), 401);
    pd_test_http_clear (&response);
}

static void
test_tampered_token_is_refused (void **state)
{
    pd_test_idp_set_user (s_fx.google, "g-ada", "ada@acme.example", "Ada", "acme.example", NULL);
    pd_test_idp_tamper_next (s_fx.google, "bad_signature");
    pd_test_http_t response;
    assert_int_equal (s_sign_in ("google", s_fx.google, &response), 401);
    s_assert_problem (&response, 401, "unauthorized");
    pd_test_http_clear (&response);
}

static void
test_consumer_google_account_is_refused (void **state)
{
    pd_test_idp_set_user (s_fx.google, "g-joe", "joe@gmail.example", "Joe", NULL, NULL);
    pd_test_http_t response;
    assert_int_equal (s_sign_in ("google", s_fx.google, &response), 403);
    s_assert_problem (&response, 403, "forbidden");
    assert_non_null (strstr (pd_json_str (&response, "detail"), "Google Workspace accounts only"));
    pd_test_http_clear (&response);
}

static void
test_providers_and_bad_callbacks (void **state)
{
    pd_test_http_t response;
    char url[512];
    snprintf (url, sizeof (url), "%s/api/partner-auth/providers", s_fx.base);
    assert_int_equal (s_get (url, &response), 200);
    json_t *items = json_object_get (response.json, "items");
    assert_int_equal (json_array_size (items), 2);
    const char *names[] = {"google", "microsoft"}, *display[] = {"Google", "Microsoft"};
    for (size_t i = 0; i < 2; i++) {
        json_t *item = json_array_get (items, i);
        char start[256];
        snprintf (start, sizeof (start), "%s/api/partner-auth/%s", s_fx.base, names[i]);
        assert_string_equal (json_string_value (json_object_get (item, "name")), names[i]);
        assert_string_equal (json_string_value (json_object_get (item, "display_name")),
                             display[i]);
        assert_string_equal (json_string_value (json_object_get (item, "start_url")), start);
    }
    pd_test_http_clear (&response);

    //  The provider said no; no code; a state never issued
    snprintf (url, sizeof (url), "%s/api/partner-auth/callback?error=access_denied", s_fx.base);
    assert_int_equal (s_get (url, &response), 401);
    pd_test_http_clear (&response);
    snprintf (url, sizeof (url), "%s/api/partner-auth/callback?state=ost_x", s_fx.base);
    assert_int_equal (s_get (url, &response), 400);
    s_assert_problem (&response, 400, "missing_field");
    pd_test_http_clear (&response);
    snprintf (url, sizeof (url), "%s/api/partner-auth/callback?code=abc&state=ost_never",
              s_fx.base);
    assert_int_equal (s_get (url, &response), 401);
    pd_test_http_clear (&response);
}

static void
test_audit_stream_tells_the_story (void **state)
{
    pd_test_http_t response;
    assert_int_equal (s_call ("GET", "/api/admin/streams/audit?from=1&limit=1000", NULL, &response),
                      200);
    json_t *items = json_object_get (response.json, "items");
    const char *wanted[] = {"partner.signup",        "partner.approved", "partner.rejected",
                            "partner.auto_approved", "user.signed_in",   "domain.added"};
    for (size_t w = 0; w < sizeof (wanted) / sizeof (wanted[0]); w++) {
        bool seen = false;
        for (size_t i = 0; i < json_array_size (items) && !seen; i++) {
            json_t *event = json_object_get (json_array_get (items, i), "event");
            seen = strcmp (json_string_value (json_object_get (event, "type")), wanted[w]) == 0;
        }
        if (!seen)
            fail_msg ("no %s event in the audit stream", wanted[w]);
    }
    //  Nothing secret went into it
    assert_null (strstr (response.body, "pds_"));
    assert_null (strstr (response.body, S_GOOGLE_SECRET));
    pd_test_http_clear (&response);
}

//  Last: it leaves 127.0.0.1 over its failure limit for the rest of the window
static void
test_failed_callbacks_are_rate_limited (void **state)
{
    char url[512];
    snprintf (url, sizeof (url), "%s/api/partner-auth/callback?code=abc&state=ost_bogus",
              s_fx.base);
    pd_test_http_t response;
    long status = 0;
    for (int i = 0; i < 100 && status != 429; i++) {
        status = s_get (url, &response);
        assert_true (status == 401 || status == 429);
        if (status == 429) {
            s_assert_problem (&response, 429, "rate_limited");
            assert_true (atoi (response.retry_after) >= 1);
        }
        pd_test_http_clear (&response);
    }
    assert_int_equal (status, 429);

    //  A right sign-in from that same address still passes: its state and
    //  browser binding are judged before the failure count
    pd_test_idp_set_user (s_fx.google, "g-ada", "ada@acme.example", "Ada", "acme.example", NULL);
    assert_int_equal (s_sign_in ("google", s_fx.google, &response), 303);
    pd_test_http_clear (&response);
    //  ... while wrong ones still wait
    assert_int_equal (s_get (url, &response), 429);
    pd_test_http_clear (&response);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_google_signup_waits_for_approval),
        cmocka_unit_test (test_rejected_signup_is_refused),
        cmocka_unit_test (test_approved_google_domain_signs_in_at_once),
        cmocka_unit_test (test_approved_domains_are_checked),
        cmocka_unit_test (test_microsoft_tenant_decides_approval),
        cmocka_unit_test (test_replayed_callback_is_refused),
        cmocka_unit_test (test_callback_from_another_browser_is_refused),
        cmocka_unit_test (test_tampered_token_is_refused),
        cmocka_unit_test (test_consumer_google_account_is_refused),
        cmocka_unit_test (test_providers_and_bad_callbacks),
        cmocka_unit_test (test_audit_stream_tells_the_story),
        cmocka_unit_test (test_failed_callbacks_are_rate_limited),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
