/*  test_pd_oidc - the OpenID Connect relying party against a local provider

    The provider (pd_test_idp) runs on 127.0.0.1 over plain http, so these
    tests set allow_insecure, except the outbound guard tests, which check
    that without it nothing on loopback is ever connected to.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "pd_oidc.h"
#include "pd_test_idp.h"

#define CLIENT_ID        "partnerd-test.apps.example.com"
#define CLIENT_SECRET    "test-client-secret"
#define REDIRECT_URI     "http://127.0.0.1:9/api/partner-auth/callback"
#define TIMEOUT_MS       5000
#define GUARD_TIMEOUT_MS 2000
#define NONCE            "n-0S6_WzA2Mj"
#define STATE            "af0ifjsldkj"
#define TENANT_ID        "72f988bf-86f1-41af-91ab-2d7cd011db47"

//  --------------------------------------------------------------------------
//  Helpers

static pd_oidc_t *
s_oidc_new (const char *issuer, bool allow_insecure)
{
    pd_oidc_config_t config = {issuer,         CLIENT_ID,
                               CLIENT_SECRET,  REDIRECT_URI,
                               allow_insecure, allow_insecure ? TIMEOUT_MS : GUARD_TIMEOUT_MS};
    pd_oidc_t *oidc = pd_oidc_new (&config);
    assert_non_null (oidc);
    return oidc;
}

//  The providers, one per style, shared by the tests (starting and
//  stopping CivetWeb takes seconds); each test makes its own pd_oidc
typedef struct {
    pd_test_idp_t *google;
    pd_test_idp_t *microsoft;
} s_providers_t;

static int
s_providers_setup (void **state)
{
    s_providers_t *providers = (s_providers_t *)calloc (1, sizeof (s_providers_t));
    pd_test_idp_config_t google = {"google", CLIENT_ID, CLIENT_SECRET};
    pd_test_idp_config_t microsoft = {"microsoft", CLIENT_ID, CLIENT_SECRET};
    if (!providers)
        return -1;
    providers->google = pd_test_idp_new (&google);
    providers->microsoft = pd_test_idp_new (&microsoft);
    *state = providers;
    return providers->google && providers->microsoft ? 0 : -1;
}

static int
s_providers_teardown (void **state)
{
    s_providers_t *providers = (s_providers_t *)*state;
    if (providers) {
        pd_test_idp_destroy (&providers->google);
        pd_test_idp_destroy (&providers->microsoft);
        free (providers);
    }
    return 0;
}

static pd_test_idp_t *
s_idp (void **state, const char *style)
{
    s_providers_t *providers = (s_providers_t *)*state;
    return strcmp (style, "microsoft") == 0 ? providers->microsoft : providers->google;
}

//  The decoded value of a query parameter of url (malloc'd), NULL if it is
//  absent; fails the test if it is there more than once
static char *
s_query_param (const char *url, const char *name)
{
    CURLU *parsed = curl_url ();
    assert_non_null (parsed);
    assert_int_equal (curl_url_set (parsed, CURLUPART_URL, url, 0), CURLUE_OK);
    char *query = NULL;
    char *value = NULL;
    if (curl_url_get (parsed, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
        size_t name_size = strlen (name);
        for (char *pair = query; pair && *pair;) {
            char *end = strchr (pair, '&');
            size_t size = end ? (size_t)(end - pair) : strlen (pair);
            if (size > name_size && strncmp (pair, name, name_size) == 0 &&
                pair[name_size] == '=') {
                assert_null (value); //  not repeated
                char *decoded = curl_easy_unescape (NULL, pair + name_size + 1,
                                                    (int)(size - name_size - 1), NULL);
                assert_non_null (decoded);
                value = strdup (decoded);
                curl_free (decoded);
            }
            pair = end ? end + 1 : NULL;
        }
    }
    curl_free (query);
    curl_url_cleanup (parsed);
    return value;
}

//  Play the browser: GET the authorization URL, do not follow the redirect,
//  and read code and state from its Location (both malloc'd)
static void
s_sign_in (const char *url, char **code, char **state)
{
    CURL *curl = curl_easy_init ();
    assert_non_null (curl);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt (curl, CURLOPT_PROXY, "");
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long)TIMEOUT_MS);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    assert_int_equal (curl_easy_perform (curl), CURLE_OK);
    long status = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal (status, 302);
    char *location = NULL;
    curl_easy_getinfo (curl, CURLINFO_REDIRECT_URL, &location);
    assert_non_null (location);
    assert_memory_equal (location, REDIRECT_URI "?", strlen (REDIRECT_URI) + 1);
    *code = s_query_param (location, "code");
    *state = s_query_param (location, "state");
    assert_non_null (*code);
    assert_non_null (*state);
    curl_easy_cleanup (curl);
}

//  Authorize and sign in with this verifier; the code (malloc'd)
static char *
s_code (pd_oidc_t *oidc, const char *verifier)
{
    char *url = NULL;
    assert_int_equal (pd_oidc_authorize_url (oidc, STATE, NONCE, verifier, &url), PD_OK);
    char *code, *state;
    s_sign_in (url, &code, &state);
    assert_string_equal (state, STATE);
    free (state);
    free (url);
    return code;
}

//  One whole sign-in at time now: the exchange's status, claims filled
static int
s_flow (pd_oidc_t *oidc, int64_t now, pd_jwt_claims_t *claims, char *detail, size_t size)
{
    char verifier[PD_OIDC_VERIFIER_LEN + 1];
    assert_int_equal (pd_oidc_verifier (verifier, sizeof (verifier)), PD_OK);
    char *code = s_code (oidc, verifier);
    int rc = pd_oidc_exchange (oidc, code, verifier, NONCE, now, claims, detail, size);
    free (code);
    return rc;
}

//  BASE64URL (SHA256 (verifier)), computed here independently of pd_oidc
static void
s_expected_challenge (const char *verifier, char *challenge, size_t size)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_size = 0;
    assert_int_equal (
        EVP_Digest (verifier, strlen (verifier), digest, &digest_size, EVP_sha256 (), NULL), 1);
    unsigned char base64[EVP_ENCODE_LENGTH (EVP_MAX_MD_SIZE)];
    int length = EVP_EncodeBlock (base64, digest, (int)digest_size);
    assert_true (length > 0 && (size_t)length < size);
    size_t out = 0;
    for (int i = 0; i < length && base64[i] != '='; i++)
        challenge[out++] = base64[i] == '+' ? '-' : base64[i] == '/' ? '_' : (char)base64[i];
    challenge[out] = '\0';
}

//  A TCP listener on 127.0.0.1; its port
static int
s_listener (int *port, bool nonblocking)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (fd >= 0);
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert_int_equal (bind (fd, (struct sockaddr *)&address, sizeof (address)), 0);
    assert_int_equal (listen (fd, 8), 0);
    socklen_t size = sizeof (address);
    assert_int_equal (getsockname (fd, (struct sockaddr *)&address, &size), 0);
    if (nonblocking)
        assert_int_equal (fcntl (fd, F_SETFL, O_NONBLOCK), 0);
    *port = ntohs (address.sin_port);
    return fd;
}

static void
s_assert_no_connection (int listener)
{
    int fd = accept (listener, NULL, NULL);
    if (fd >= 0)
        close (fd);
    assert_int_equal (fd, -1);
    assert_true (errno == EAGAIN || errno == EWOULDBLOCK);
}

//  A one-shot HTTP server answering a discovery document padded with
//  spaces, sent without Content-Length: only the size cap of the response
//  body can stop the client from reading it all
typedef struct {
    int listener;   //  listening socket
    int port;       //  its port
    size_t padding; //  spaces inside the document
} s_padded_t;

static void *
s_padded_serve (void *args)
{
    s_padded_t *server = (s_padded_t *)args;
    struct pollfd ready = {server->listener, POLLIN, 0};
    if (poll (&ready, 1, TIMEOUT_MS) != 1)
        return NULL;
    int fd = accept (server->listener, NULL, NULL);
    if (fd < 0)
        return NULL;
    char request[4096];
    size_t got = 0;
    while (got < sizeof (request) - 1) {
        ssize_t size = recv (fd, request + got, sizeof (request) - 1 - got, 0);
        if (size <= 0)
            break;
        got += (size_t)size;
        request[got] = '\0';
        if (strstr (request, "\r\n\r\n"))
            break;
    }
    char head[512];
    int size = snprintf (head, sizeof (head),
                         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         "Connection: close\r\n\r\n"
                         "{\"issuer\":\"http://127.0.0.1:%d\","
                         "\"authorization_endpoint\":\"http://127.0.0.1:%d/authorize\","
                         "\"token_endpoint\":\"http://127.0.0.1:%d/token\","
                         "\"jwks_uri\":\"http://127.0.0.1:%d/jwks\"",
                         server->port, server->port, server->port, server->port);
    bool sent = send (fd, head, (size_t)size, MSG_NOSIGNAL) == size;
    char spaces[4096];
    memset (spaces, ' ', sizeof (spaces));
    for (size_t left = server->padding; sent && left > 0;) {
        size_t chunk = left < sizeof (spaces) ? left : sizeof (spaces);
        sent = send (fd, spaces, chunk, MSG_NOSIGNAL) == (ssize_t)chunk;
        left -= chunk;
    }
    if (sent)
        send (fd, "}", 1, MSG_NOSIGNAL);
    close (fd);
    return NULL;
}

//  authorize_url's status against a padded discovery document
static int
s_padded_discovery (size_t padding)
{
    s_padded_t server = {0, 0, padding};
    server.listener = s_listener (&server.port, false);
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_padded_serve, &server), 0);
    char issuer[64];
    snprintf (issuer, sizeof (issuer), "http://127.0.0.1:%d", server.port);
    pd_oidc_t *oidc = s_oidc_new (issuer, true);
    char verifier[PD_OIDC_VERIFIER_LEN + 1];
    assert_int_equal (pd_oidc_verifier (verifier, sizeof (verifier)), PD_OK);
    char *url = NULL;
    int rc = pd_oidc_authorize_url (oidc, STATE, NONCE, verifier, &url);
    free (url);
    pd_oidc_destroy (&oidc);
    pthread_join (thread, NULL);
    close (server.listener);
    return rc;
}

//  --------------------------------------------------------------------------
//  Tests

static void
test_google_code_flow (void **state)
{
    //  A Google-style provider signs in a Workspace user
    pd_test_idp_t *idp = s_idp (state, "google");
    int fetches = pd_test_idp_jwks_fetches (idp);
    pd_test_idp_set_user (idp, "110169484474386276334", "ada@example.com", "Ada Lovelace",
                          "example.com", NULL);
    pd_oidc_t *oidc = s_oidc_new (pd_test_idp_issuer (idp), true);

    //  partnerd sends the browser to the provider with a fresh verifier
    char verifier[PD_OIDC_VERIFIER_LEN + 1];
    assert_int_equal (pd_oidc_verifier (verifier, sizeof (verifier)), PD_OK);
    char *url = NULL;
    assert_int_equal (pd_oidc_authorize_url (oidc, STATE, NONCE, verifier, &url), PD_OK);

    //  The provider sends the browser back with a code and our state
    char *code, *returned_state;
    s_sign_in (url, &code, &returned_state);
    assert_string_equal (returned_state, STATE);

    //  partnerd exchanges the code and gets the verified claims
    pd_jwt_claims_t claims = {0};
    char detail[128];
    assert_int_equal (pd_oidc_exchange (oidc, code, verifier, NONCE, time (NULL), &claims, detail,
                                        sizeof (detail)),
                      PD_OK);
    assert_string_equal (claims.iss, pd_test_idp_issuer (idp));
    assert_string_equal (claims.sub, "110169484474386276334");
    assert_string_equal (claims.email, "ada@example.com");
    assert_true (claims.email_verified);
    assert_string_equal (claims.name, "Ada Lovelace");
    assert_string_equal (claims.hd, "example.com");
    assert_null (claims.tid);
    assert_string_equal (claims.nonce, NONCE);
    assert_int_equal (pd_test_idp_jwks_fetches (idp), fetches + 1);

    pd_jwt_claims_clear (&claims);
    free (code);
    free (returned_state);
    free (url);
    pd_oidc_destroy (&oidc);
    assert_null (oidc);
    pd_oidc_destroy (&oidc);
}

static void
test_consumer_account_has_no_hd (void **state)
{
    pd_test_idp_t *idp = s_idp (state, "google");
    pd_test_idp_set_user (idp, "1234567890", "someone@gmail.com", "Someone", NULL, NULL);
    pd_oidc_t *oidc = s_oidc_new (pd_test_idp_issuer (idp), true);
    pd_jwt_claims_t claims = {0};
    char detail[128];
    assert_int_equal (s_flow (oidc, time (NULL), &claims, detail, sizeof (detail)), PD_OK);
    assert_string_equal (claims.email, "someone@gmail.com");
    assert_null (claims.hd);
    pd_jwt_claims_clear (&claims);
    pd_oidc_destroy (&oidc);
}

static void
test_microsoft_code_flow (void **state)
{
    //  Multi-tenant: configured .../common/v2.0, tokens from .../<tid>/v2.0
    pd_test_idp_t *idp = s_idp (state, "microsoft");
    pd_test_idp_set_user (idp, "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "grace@contoso.com",
                          "Grace Hopper", NULL, TENANT_ID);
    const char *issuer = pd_test_idp_issuer (idp);
    assert_non_null (strstr (issuer, "/common/v2.0"));
    pd_oidc_t *oidc = s_oidc_new (issuer, true);

    pd_jwt_claims_t claims = {0};
    char detail[128];
    assert_int_equal (s_flow (oidc, time (NULL), &claims, detail, sizeof (detail)), PD_OK);
    assert_string_equal (claims.sub, "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ");
    assert_string_equal (claims.email, "grace@contoso.com");
    assert_string_equal (claims.tid, TENANT_ID);
    assert_null (claims.hd);
    char expected_iss[256];
    snprintf (expected_iss, sizeof (expected_iss), "%.*s/%s/v2.0",
              (int)(strstr (issuer, "/common/v2.0") - issuer), issuer, TENANT_ID);
    assert_string_equal (claims.iss, expected_iss);

    pd_jwt_claims_clear (&claims);
    pd_oidc_destroy (&oidc);
}

static void
test_authorize_url_parameters (void **state)
{
    pd_test_idp_t *idp = s_idp (state, "google");
    pd_oidc_t *oidc = s_oidc_new (pd_test_idp_issuer (idp), true);
    char verifier[PD_OIDC_VERIFIER_LEN + 1];
    assert_int_equal (pd_oidc_verifier (verifier, sizeof (verifier)), PD_OK);
    //  A state and nonce that need percent-encoding
    const char *odd_state = "a b&c=d/e?f+g%h";
    const char *odd_nonce = "n#1 2";
    char *url = NULL;
    assert_int_equal (pd_oidc_authorize_url (oidc, odd_state, odd_nonce, verifier, &url), PD_OK);

    char endpoint[256];
    snprintf (endpoint, sizeof (endpoint), "%s/authorize?", pd_test_idp_issuer (idp));
    assert_memory_equal (url, endpoint, strlen (endpoint));
    char challenge[64];
    s_expected_challenge (verifier, challenge, sizeof (challenge));
    assert_int_equal (strlen (challenge), 43);
    const char *expected[][2] = {{"response_type", "code"},      {"client_id", CLIENT_ID},
                                 {"redirect_uri", REDIRECT_URI}, {"scope", PD_OIDC_SCOPES},
                                 {"state", odd_state},           {"nonce", odd_nonce},
                                 {"code_challenge", challenge},  {"code_challenge_method", "S256"}};
    for (size_t i = 0; i < sizeof (expected) / sizeof (expected[0]); i++) {
        char *value = s_query_param (url, expected[i][0]);
        assert_non_null (value);
        assert_string_equal (value, expected[i][1]);
        free (value);
    }
    //  Nothing unencoded: no space, no '#', no '+' anywhere
    assert_null (strpbrk (url, " #+"));

    //  The provider accepts it and returns the state unchanged
    char *code, *returned_state;
    s_sign_in (url, &code, &returned_state);
    assert_string_equal (returned_state, odd_state);
    free (code);
    free (returned_state);
    free (url);
    pd_oidc_destroy (&oidc);
}

static void
test_verifier (void **state)
{
    char a[PD_OIDC_VERIFIER_LEN + 1], b[PD_OIDC_VERIFIER_LEN + 1];
    assert_int_equal (pd_oidc_verifier (a, sizeof (a)), PD_OK);
    assert_int_equal (pd_oidc_verifier (b, sizeof (b)), PD_OK);
    assert_int_equal (strlen (a), PD_OIDC_VERIFIER_LEN);
    const char *unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    assert_int_equal (strspn (a, unreserved), PD_OIDC_VERIFIER_LEN);
    assert_string_not_equal (a, b);
    //  A buffer with no room for the NUL is refused
    assert_int_equal (pd_oidc_verifier (a, PD_OIDC_VERIFIER_LEN), PD_E_INTERNAL);
}

static void
test_wrong_verifier_refused (void **state)
{
    pd_test_idp_t *idp = s_idp (state, "google");
    pd_oidc_t *oidc = s_oidc_new (pd_test_idp_issuer (idp), true);
    char verifier[PD_OIDC_VERIFIER_LEN + 1], other[PD_OIDC_VERIFIER_LEN + 1];
    assert_int_equal (pd_oidc_verifier (verifier, sizeof (verifier)), PD_OK);
    assert_int_equal (pd_oidc_verifier (other, sizeof (other)), PD_OK);
    char *code = s_code (oidc, verifier);

    pd_jwt_claims_t claims = {0};
    char detail[128];
    assert_int_equal (
        pd_oidc_exchange (oidc, code, other, NONCE, time (NULL), &claims, detail, sizeof (detail)),
        PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "invalid_grant");
    assert_null (claims.sub);
    free (code);
    pd_oidc_destroy (&oidc);
}

static void
test_code_used_twice_refused (void **state)
{
    pd_test_idp_t *idp = s_idp (state, "google");
    pd_oidc_t *oidc = s_oidc_new (pd_test_idp_issuer (idp), true);
    char verifier[PD_OIDC_VERIFIER_LEN + 1];
    assert_int_equal (pd_oidc_verifier (verifier, sizeof (verifier)), PD_OK);
    char *code = s_code (oidc, verifier);

    pd_jwt_claims_t claims = {0};
    char detail[128];
    assert_int_equal (pd_oidc_exchange (oidc, code, verifier, NONCE, time (NULL), &claims, detail,
                                        sizeof (detail)),
                      PD_OK);
    pd_jwt_claims_clear (&claims);
    assert_int_equal (pd_oidc_exchange (oidc, code, verifier, NONCE, time (NULL), &claims, detail,
                                        sizeof (detail)),
                      PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "invalid_grant");
    assert_null (claims.sub);
    free (code);
    pd_oidc_destroy (&oidc);
}

static void
test_wrong_client_secret_refused (void **state)
{
    pd_test_idp_t *idp = s_idp (state, "google");
    pd_oidc_config_t config = {
        pd_test_idp_issuer (idp), CLIENT_ID, "not-the-secret", REDIRECT_URI, true, TIMEOUT_MS};
    pd_oidc_t *oidc = pd_oidc_new (&config);
    assert_non_null (oidc);
    pd_jwt_claims_t claims = {0};
    char detail[128];
    assert_int_equal (s_flow (oidc, time (NULL), &claims, detail, sizeof (detail)),
                      PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "invalid_client");
    pd_oidc_destroy (&oidc);
}

static void
test_tampered_tokens_refused (void **state)
{
    const char *styles[] = {"google", "microsoft"};
    //  Each kind, and a word of the reason pd_jwt gives for it
    const char *kinds[][2] = {{"bad_signature", "signature"}, {"wrong_aud", "audience"},
                              {"wrong_iss", "issuer"},        {"wrong_nonce", "nonce"},
                              {"expired", "expired"},         {"alg_none", "alg"}};
    for (size_t s = 0; s < sizeof (styles) / sizeof (styles[0]); s++) {
        pd_test_idp_t *idp = s_idp (state, styles[s]);
        pd_test_idp_set_user (idp, "user-1", "user@example.com", "User", "example.com", TENANT_ID);
        int fetches = pd_test_idp_jwks_fetches (idp);
        pd_oidc_t *oidc = s_oidc_new (pd_test_idp_issuer (idp), true);
        pd_jwt_claims_t claims = {0};
        char detail[128];
        for (size_t k = 0; k < sizeof (kinds) / sizeof (kinds[0]); k++) {
            pd_test_idp_tamper_next (idp, kinds[k][0]);
            int rc = s_flow (oidc, time (NULL), &claims, detail, sizeof (detail));
            if (rc != PD_E_UNAUTHORIZED || !strstr (detail, kinds[k][1]))
                fail_msg ("%s %s: rc=%d detail=%s", styles[s], kinds[k][0], rc, detail);
            assert_null (claims.sub);
        }
        //  Each tampering spoilt one token only; the key set was not
        //  fetched again for them
        assert_int_equal (s_flow (oidc, time (NULL), &claims, detail, sizeof (detail)), PD_OK);
        pd_jwt_claims_clear (&claims);
        assert_int_equal (pd_test_idp_jwks_fetches (idp), fetches + 1);
        pd_oidc_destroy (&oidc);
    }
}

static void
test_key_rotation (void **state)
{
    pd_test_idp_t *idp = s_idp (state, "google");
    int fetches = pd_test_idp_jwks_fetches (idp);
    pd_oidc_t *oidc = s_oidc_new (pd_test_idp_issuer (idp), true);
    pd_jwt_claims_t claims = {0};
    char detail[128];
    int64_t now = time (NULL);
    assert_int_equal (s_flow (oidc, now, &claims, detail, sizeof (detail)), PD_OK);
    pd_jwt_claims_clear (&claims);
    assert_int_equal (pd_test_idp_jwks_fetches (idp), fetches + 1);

    //  The provider rotates: one more fetch of its key set, then success
    pd_test_idp_rotate_key (idp);
    assert_int_equal (s_flow (oidc, now, &claims, detail, sizeof (detail)), PD_OK);
    pd_jwt_claims_clear (&claims);
    assert_int_equal (pd_test_idp_jwks_fetches (idp), fetches + 2);
    assert_int_equal (s_flow (oidc, now, &claims, detail, sizeof (detail)), PD_OK);
    pd_jwt_claims_clear (&claims);
    assert_int_equal (pd_test_idp_jwks_fetches (idp), fetches + 2);

    //  Rotating again within PD_OIDC_JWKS_MIN_REFRESH_S: no fetch, refused
    pd_test_idp_rotate_key (idp);
    assert_int_equal (s_flow (oidc, now + 1, &claims, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "unknown signing key");
    assert_int_equal (pd_test_idp_jwks_fetches (idp), fetches + 2);
    //  Once the interval has passed, the set is fetched again
    assert_int_equal (
        s_flow (oidc, now + PD_OIDC_JWKS_MIN_REFRESH_S, &claims, detail, sizeof (detail)), PD_OK);
    pd_jwt_claims_clear (&claims);
    assert_int_equal (pd_test_idp_jwks_fetches (idp), fetches + 3);

    pd_oidc_destroy (&oidc);
}

static void
test_issuer_must_match_document (void **state)
{
    //  The document's issuer lacks the configured trailing slash: refused
    pd_test_idp_t *idp = s_idp (state, "google");
    char issuer[256];
    snprintf (issuer, sizeof (issuer), "%s/", pd_test_idp_issuer (idp));
    pd_oidc_t *oidc = s_oidc_new (issuer, true);
    char verifier[PD_OIDC_VERIFIER_LEN + 1];
    assert_int_equal (pd_oidc_verifier (verifier, sizeof (verifier)), PD_OK);
    char *url = NULL;
    assert_int_equal (pd_oidc_authorize_url (oidc, STATE, NONCE, verifier, &url), PD_E_UNAVAILABLE);
    assert_null (url);
    pd_oidc_destroy (&oidc);
}

static void
test_provider_unreachable (void **state)
{
    //  A port nothing listens on
    int port;
    int fd = s_listener (&port, false);
    close (fd);
    char issuer[64];
    snprintf (issuer, sizeof (issuer), "http://127.0.0.1:%d", port);
    pd_oidc_t *oidc = s_oidc_new (issuer, true);
    char verifier[PD_OIDC_VERIFIER_LEN + 1];
    assert_int_equal (pd_oidc_verifier (verifier, sizeof (verifier)), PD_OK);
    char *url = NULL;
    assert_int_equal (pd_oidc_authorize_url (oidc, STATE, NONCE, verifier, &url), PD_E_UNAVAILABLE);
    pd_jwt_claims_t claims = {0};
    char detail[128];
    assert_int_equal (pd_oidc_exchange (oidc, "some-code", verifier, NONCE, time (NULL), &claims,
                                        detail, sizeof (detail)),
                      PD_E_UNAVAILABLE);
    pd_oidc_destroy (&oidc);
}

static void
test_response_size_capped (void **state)
{
    assert_int_equal (s_padded_discovery (1000), PD_OK);
    assert_int_equal (s_padded_discovery (PD_OIDC_MAX_RESPONSE), PD_E_UNAVAILABLE);
}

static void
test_outbound_guard (void **state)
{
    //  Without allow_insecure, neither plain http nor a loopback address
    //  is contacted: the listener never sees a connection
    int port;
    int listener = s_listener (&port, true);
    const char *issuers[] = {"http://127.0.0.1:%d",  "https://127.0.0.1:%d",
                             "https://127.1.2.3:%d", "https://localhost:%d",
                             "https://[::1]:%d",     "https://[::ffff:127.0.0.1]:%d"};
    char verifier[PD_OIDC_VERIFIER_LEN + 1];
    assert_int_equal (pd_oidc_verifier (verifier, sizeof (verifier)), PD_OK);
    for (size_t i = 0; i < sizeof (issuers) / sizeof (issuers[0]); i++) {
        char issuer[64];
        snprintf (issuer, sizeof (issuer), issuers[i], port);
        pd_oidc_t *oidc = s_oidc_new (issuer, false);
        char *url = NULL;
        int rc = pd_oidc_authorize_url (oidc, STATE, NONCE, verifier, &url);
        if (rc != PD_E_UNAVAILABLE)
            fail_msg ("%s: rc=%d", issuer, rc);
        pd_jwt_claims_t claims = {0};
        char detail[128];
        assert_int_equal (pd_oidc_exchange (oidc, "some-code", verifier, NONCE, time (NULL),
                                            &claims, detail, sizeof (detail)),
                          PD_E_UNAVAILABLE);
        s_assert_no_connection (listener);
        pd_oidc_destroy (&oidc);
    }
    close (listener);
}

static void
test_config_required (void **state)
{
    pd_oidc_config_t config = {NULL, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, false, TIMEOUT_MS};
    assert_null (pd_oidc_new (&config));
    config.issuer = "https://accounts.google.com";
    config.client_id = "";
    assert_null (pd_oidc_new (&config));
}

int
main (void)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_google_code_flow),
        cmocka_unit_test (test_consumer_account_has_no_hd),
        cmocka_unit_test (test_microsoft_code_flow),
        cmocka_unit_test (test_authorize_url_parameters),
        cmocka_unit_test (test_verifier),
        cmocka_unit_test (test_wrong_verifier_refused),
        cmocka_unit_test (test_code_used_twice_refused),
        cmocka_unit_test (test_wrong_client_secret_refused),
        cmocka_unit_test (test_tampered_tokens_refused),
        cmocka_unit_test (test_key_rotation),
        cmocka_unit_test (test_issuer_must_match_document),
        cmocka_unit_test (test_provider_unreachable),
        cmocka_unit_test (test_response_size_capped),
        cmocka_unit_test (test_outbound_guard),
        cmocka_unit_test (test_config_required),
    };
    int failed = cmocka_run_group_tests (tests, s_providers_setup, s_providers_teardown);
    curl_global_cleanup ();
    return failed;
}
