/*  pd_oidc - an OpenID Connect relying party for one provider (see pd_oidc.h)

    Every outbound call goes through s_fetch, that is pd_outbound_fetch,
    which applies the whole outbound policy of SECURITY.md (pd_outbound.h).
*/
#include "pd_oidc.h"
#include "pd_json.h"
#include "pd_outbound.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <czmq.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define S_TIMEOUT_MS_DEFAULT 10000 //  when config->timeout_ms is not positive
#define S_DISCOVERY_PATH     "/.well-known/openid-configuration"
#define S_TENANT_TEMPLATE    "{tenantid}"
#define S_DETAIL_MAX         64   //  characters kept of a provider's error code
#define S_JSON_MAX_DEPTH     8    //  nesting of a provider's answer we parse
#define S_CODE_MAX           4096 //  bytes of an authorization code we send on
#define S_VERIFIER_MIN       43   //  RFC 7636 4.1
#define S_VERIFIER_MAX       128
#define S_SHA256_SIZE        32

//  Unreserved characters of RFC 3986, the PKCE verifier alphabet
static const char s_unreserved[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
#define S_UNRESERVED_COUNT 66
//  Random bytes at or above this are dropped so that byte % 66 is uniform
#define S_UNRESERVED_LIMIT (256 - 256 % S_UNRESERVED_COUNT)

struct _pd_oidc_t {
    char *issuer;          //  as configured
    char *client_id;       //  our client id, the expected audience
    char *client_secret;   //  sent to the token endpoint only
    char *redirect_uri;    //  exact redirect URI registered with the provider
    bool allow_insecure;   //  http and any address allowed (local tests)
    long timeout_ms;       //  per outbound call
    bool global_init;      //  curl_global_init succeeded
    CURL *curl;            //  one handle, reused (keeps connections alive)
    char *expected_issuer; //  the discovery document's issuer (may hold {tenantid})
    char *authorization_endpoint;
    char *token_endpoint;
    char *jwks_uri;
    pd_jwks_t *jwks;      //  provider keys, NULL until fetched
    bool jwks_refreshed;  //  a refresh for an unknown kid happened ...
    int64_t refreshed_at; //  ... at this time (seconds since the epoch)
};

//  --------------------------------------------------------------------------
//  A growing text buffer; once an append fails, the buffer stays failed

typedef struct {
    char *data;   //  NUL-terminated when not failed
    size_t size;  //  bytes held, without the NUL
    size_t limit; //  bytes allowed (0 = no limit)
    bool failed;  //  allocation failed or limit passed
} s_buf_t;

static void
s_buf_append (s_buf_t *buf, const char *data, size_t size)
{
    if (buf->failed)
        return;
    if (buf->limit && (size > buf->limit || buf->size > buf->limit - size)) {
        buf->failed = true;
        return;
    }
    char *grown = (char *)realloc (buf->data, buf->size + size + 1);
    if (!grown) {
        buf->failed = true;
        return;
    }
    buf->data = grown;
    memcpy (buf->data + buf->size, data, size);
    buf->size += size;
    buf->data[buf->size] = '\0';
}

static void
s_buf_add (s_buf_t *buf, const char *text)
{
    s_buf_append (buf, text, strlen (text));
}

//  Append text percent-encoded: everything but unreserved characters
static void
s_buf_add_encoded (s_buf_t *buf, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const char *c = text; *c; c++) {
        if (strchr (s_unreserved, *c))
            s_buf_append (buf, c, 1);
        else {
            unsigned char byte = (unsigned char)*c;
            char escaped[3] = {'%', hex[byte >> 4], hex[byte & 0x0F]};
            s_buf_append (buf, escaped, sizeof (escaped));
        }
    }
}

//  Append "name=value" (value encoded), with sep before it
static void
s_buf_add_param (s_buf_t *buf, const char *sep, const char *name, const char *value)
{
    s_buf_add (buf, sep);
    s_buf_add (buf, name);
    s_buf_add (buf, "=");
    s_buf_add_encoded (buf, value);
}

static void
s_buf_free (s_buf_t *buf)
{
    free (buf->data);
    buf->data = NULL;
    buf->size = 0;
}

//  Free a buffer that held a secret
static void
s_buf_free_secret (s_buf_t *buf)
{
    if (buf->data)
        OPENSSL_cleanse (buf->data, buf->size);
    s_buf_free (buf);
}

//  --------------------------------------------------------------------------
//  Outbound calls (pd_outbound: the whole policy)

//  One outbound call's answer
typedef struct {
    s_buf_t body; //  the response body, capped at PD_OIDC_MAX_RESPONSE
} s_call_t;

//  GET url (form NULL) or POST form to url. PD_OK with *status and the body
//  in call->body (caller frees), or PD_E_UNAVAILABLE (logged, nothing held).
static int
s_fetch (pd_oidc_t *self, const char *what, const char *url, const char *form, s_call_t *call,
         long *status)
{
    memset (call, 0, sizeof (*call));
    if (!self->curl)
        self->curl = curl_easy_init ();
    static const char *const headers[] = {"Accept: application/json", NULL};
    pd_outbound_policy_t policy = {self->timeout_ms, PD_OIDC_MAX_RESPONSE, self->allow_insecure};
    pd_outbound_request_t request = {url, headers, form, form ? strlen (form) : 0, NULL};
    pd_outbound_response_t response;
    int rc = pd_outbound_fetch (self->curl, &policy, &request, &response);
    if (rc != PD_OK) {
        zsys_warning ("oidc: %s %s: %s", what, rc == PD_E_FORBIDDEN ? "refused" : "failed",
                      response.error);
        pd_outbound_response_clear (&response);
        return PD_E_UNAVAILABLE;
    }
    *status = response.status;
    call->body.data = response.body; //  handed over, freed as a secret by the caller
    call->body.size = response.size;
    return PD_OK;
}

//  A JSON object from a response body, or NULL
static json_t *
s_json_object (const s_buf_t *body)
{
    if (!body->data)
        return NULL;
    json_t *json =
        pd_json_load (body->data, body->size, S_JSON_MAX_DEPTH, JSON_REJECT_DUPLICATES, NULL);
    if (json && !json_is_object (json)) {
        json_decref (json);
        json = NULL;
    }
    return json;
}

//  --------------------------------------------------------------------------
//  Discovery and keys

//  Is the discovery document's issuer right for the configured one? Equal,
//  or (Microsoft's multi-tenant endpoints) the same with "{tenantid}" where
//  the configured issuer has one path segment such as "common".
static bool
s_issuer_matches (const char *configured, const char *document)
{
    if (strcmp (configured, document) == 0)
        return true;
    const char *slot = strstr (document, S_TENANT_TEMPLATE);
    if (!slot || strstr (slot + 1, S_TENANT_TEMPLATE))
        return false;
    size_t prefix = (size_t)(slot - document);
    const char *suffix = slot + strlen (S_TENANT_TEMPLATE);
    size_t configured_size = strlen (configured), suffix_size = strlen (suffix);
    if (configured_size <= prefix + suffix_size || strncmp (configured, document, prefix) != 0 ||
        strcmp (configured + configured_size - suffix_size, suffix) != 0)
        return false;
    //  The configured segment in place of {tenantid}: not empty, one segment
    size_t segment = configured_size - prefix - suffix_size;
    return memchr (configured + prefix, '/', segment) == NULL &&
           memchr (configured + prefix, '?', segment) == NULL &&
           memchr (configured + prefix, '#', segment) == NULL;
}

//  Copy a string member that must be an allowed URL (or any string if
//  url is false); NULL if absent or not allowed
static char *
s_member (pd_oidc_t *self, json_t *object, const char *name, bool url)
{
    const char *value = json_string_value (json_object_get (object, name));
    pd_outbound_policy_t policy = {.allow_insecure = self->allow_insecure};
    if (!value || !*value || (url && !pd_outbound_scheme_allowed (&policy, value)))
        return NULL;
    return strdup (value);
}

static int
s_discover (pd_oidc_t *self)
{
    if (self->expected_issuer)
        return PD_OK;
    //  OpenID Connect Discovery 4: a terminating "/" is removed first
    s_buf_t url = {0};
    size_t base = strlen (self->issuer);
    while (base > 0 && self->issuer[base - 1] == '/')
        base--;
    s_buf_append (&url, self->issuer, base);
    s_buf_add (&url, S_DISCOVERY_PATH);
    if (url.failed) {
        s_buf_free (&url);
        return PD_E_UNAVAILABLE;
    }
    s_call_t call;
    long status = 0;
    int rc = s_fetch (self, "discovery", url.data, NULL, &call, &status);
    s_buf_free (&url);
    if (rc != PD_OK)
        return rc;

    json_t *doc = s_json_object (&call.body);
    s_buf_free (&call.body);
    char *issuer = NULL, *authorize = NULL, *token = NULL, *jwks = NULL;
    if (status != 200 || !doc) {
        zsys_warning ("oidc: discovery failed: http %ld%s", status,
                      doc ? "" : ", not a JSON object");
        goto failed;
    }
    issuer = s_member (self, doc, "issuer", false);
    authorize = s_member (self, doc, "authorization_endpoint", true);
    token = s_member (self, doc, "token_endpoint", true);
    jwks = s_member (self, doc, "jwks_uri", true);
    if (!issuer || !authorize || !token || !jwks) {
        zsys_warning (
            "oidc: discovery document invalid: issuer or endpoints missing or not allowed");
        goto failed;
    }
    if (!s_issuer_matches (self->issuer, issuer)) {
        zsys_warning ("oidc: discovery document refused: issuer %s is not %s", issuer,
                      self->issuer);
        goto failed;
    }
    json_decref (doc);
    self->expected_issuer = issuer;
    self->authorization_endpoint = authorize;
    self->token_endpoint = token;
    self->jwks_uri = jwks;
    return PD_OK;

failed:
    json_decref (doc);
    free (issuer);
    free (authorize);
    free (token);
    free (jwks);
    return PD_E_UNAVAILABLE;
}

//  Fetch the key set; on success it replaces the one held
static int
s_fetch_jwks (pd_oidc_t *self)
{
    s_call_t call;
    long status = 0;
    int rc = s_fetch (self, "jwks", self->jwks_uri, NULL, &call, &status);
    if (rc != PD_OK)
        return rc;
    pd_jwks_t *jwks = NULL;
    if (status == 200 && call.body.data)
        jwks = pd_jwks_new (call.body.data, call.body.size);
    s_buf_free (&call.body);
    if (!jwks) {
        zsys_warning ("oidc: jwks refused: http %ld or no usable key", status);
        return PD_E_UNAVAILABLE;
    }
    pd_jwks_destroy (&self->jwks);
    self->jwks = jwks;
    return PD_OK;
}

//  --------------------------------------------------------------------------
//  PKCE

static bool
s_verifier_valid (const char *verifier)
{
    size_t size = strlen (verifier);
    return size >= S_VERIFIER_MIN && size <= S_VERIFIER_MAX &&
           strspn (verifier, s_unreserved) == size;
}

//  BASE64URL (SHA256 (verifier)), no padding, into challenge (>= 44 bytes)
static int
s_challenge (const char *verifier, char *challenge, size_t size)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t digest[S_SHA256_SIZE];
    unsigned int digest_size = 0;
    if (EVP_Digest (verifier, strlen (verifier), digest, &digest_size, EVP_sha256 (), NULL) != 1 ||
        digest_size != S_SHA256_SIZE)
        return PD_E_INTERNAL;
    size_t out = 0;
    for (size_t i = 0; i < S_SHA256_SIZE; i += 3) {
        uint32_t group = (uint32_t)digest[i] << 16;
        size_t have = S_SHA256_SIZE - i < 3 ? S_SHA256_SIZE - i : 3;
        if (have > 1)
            group |= (uint32_t)digest[i + 1] << 8;
        if (have > 2)
            group |= digest[i + 2];
        for (size_t j = 0; j < have + 1; j++) {
            if (out + 1 >= size)
                return PD_E_INTERNAL;
            challenge[out++] = alphabet[(group >> (18 - 6 * j)) & 0x3F];
        }
    }
    challenge[out] = '\0';
    return PD_OK;
}

//  --------------------------------------------------------------------------
//  Public API

pd_oidc_t *
pd_oidc_new (const pd_oidc_config_t *config)
{
    assert (config);
    if (!config->issuer || !*config->issuer || !config->client_id || !*config->client_id ||
        !config->redirect_uri || !*config->redirect_uri)
        return NULL;
    pd_oidc_t *self = (pd_oidc_t *)calloc (1, sizeof (pd_oidc_t));
    if (!self)
        return NULL;
    self->issuer = strdup (config->issuer);
    self->client_id = strdup (config->client_id);
    self->client_secret = strdup (config->client_secret ? config->client_secret : "");
    self->redirect_uri = strdup (config->redirect_uri);
    self->allow_insecure = config->allow_insecure;
    self->timeout_ms = config->timeout_ms > 0 ? config->timeout_ms : S_TIMEOUT_MS_DEFAULT;
    //  Reference-counted, and thread-safe in libcurl >= 7.84 with "threadsafe"
    self->global_init = curl_global_init (CURL_GLOBAL_DEFAULT) == CURLE_OK;
    if (!self->issuer || !self->client_id || !self->client_secret || !self->redirect_uri ||
        !self->global_init)
        pd_oidc_destroy (&self);
    return self;
}

void
pd_oidc_destroy (pd_oidc_t **self_p)
{
    assert (self_p);
    pd_oidc_t *self = *self_p;
    if (!self)
        return;
    if (self->curl)
        curl_easy_cleanup (self->curl);
    if (self->global_init)
        curl_global_cleanup ();
    pd_jwks_destroy (&self->jwks);
    if (self->client_secret)
        OPENSSL_cleanse (self->client_secret, strlen (self->client_secret));
    free (self->issuer);
    free (self->client_id);
    free (self->client_secret);
    free (self->redirect_uri);
    free (self->expected_issuer);
    free (self->authorization_endpoint);
    free (self->token_endpoint);
    free (self->jwks_uri);
    free (self);
    *self_p = NULL;
}

int
pd_oidc_verifier (char *buf, size_t size)
{
    assert (buf);
    if (size <= PD_OIDC_VERIFIER_LEN)
        return PD_E_INTERNAL;
    uint8_t pool[PD_OIDC_VERIFIER_LEN];
    size_t filled = 0;
    while (filled < PD_OIDC_VERIFIER_LEN) {
        if (RAND_bytes (pool, sizeof (pool)) != 1) {
            OPENSSL_cleanse (buf, size);
            return PD_E_INTERNAL;
        }
        for (size_t i = 0; i < sizeof (pool) && filled < PD_OIDC_VERIFIER_LEN; i++)
            if (pool[i] < S_UNRESERVED_LIMIT)
                buf[filled++] = s_unreserved[pool[i] % S_UNRESERVED_COUNT];
    }
    buf[filled] = '\0';
    OPENSSL_cleanse (pool, sizeof (pool));
    return PD_OK;
}

int
pd_oidc_authorize_url (pd_oidc_t *self, const char *state, const char *nonce, const char *verifier,
                       char **url)
{
    assert (self && state && nonce && verifier && url);
    *url = NULL;
    if (!s_verifier_valid (verifier))
        return PD_E_BAD_REQUEST;
    char challenge[64];
    int rc = s_challenge (verifier, challenge, sizeof (challenge));
    if (rc != PD_OK)
        return rc;
    rc = s_discover (self);
    if (rc != PD_OK)
        return rc;

    s_buf_t buf = {0};
    s_buf_add (&buf, self->authorization_endpoint);
    s_buf_add_param (&buf, strchr (self->authorization_endpoint, '?') ? "&" : "?", "response_type",
                     "code");
    s_buf_add_param (&buf, "&", "client_id", self->client_id);
    s_buf_add_param (&buf, "&", "redirect_uri", self->redirect_uri);
    s_buf_add_param (&buf, "&", "scope", PD_OIDC_SCOPES);
    s_buf_add_param (&buf, "&", "state", state);
    s_buf_add_param (&buf, "&", "nonce", nonce);
    s_buf_add_param (&buf, "&", "code_challenge", challenge);
    s_buf_add_param (&buf, "&", "code_challenge_method", "S256");
    if (buf.failed) {
        s_buf_free (&buf);
        return PD_E_INTERNAL;
    }
    *url = buf.data;
    return PD_OK;
}

static void
s_detail (char *detail, size_t detail_size, const char *text)
{
    if (detail && detail_size > 0)
        snprintf (detail, detail_size, "%s", text);
}

//  The provider's `error` code of a refusal, kept to RFC 6749's characters
static void
s_error_code (json_t *answer, char *code, size_t size)
{
    const char *error = json_string_value (json_object_get (answer, "error"));
    size_t out = 0;
    for (const char *c = error ? error : ""; *c && out < S_DETAIL_MAX && out + 1 < size; c++)
        if (*c >= 0x20 && *c <= 0x7e && *c != '"' && *c != '\\')
            code[out++] = *c;
    code[out] = '\0';
    if (out == 0)
        snprintf (code, size, "token_refused");
}

//  POST the code to the token endpoint; PD_OK with the ID token (caller frees)
static int
s_redeem (pd_oidc_t *self, const char *code, const char *verifier, char **id_token, char *detail,
          size_t detail_size)
{
    s_buf_t form = {0};
    s_buf_add_param (&form, "", "grant_type", "authorization_code");
    s_buf_add_param (&form, "&", "code", code);
    s_buf_add_param (&form, "&", "redirect_uri", self->redirect_uri);
    s_buf_add_param (&form, "&", "client_id", self->client_id);
    s_buf_add_param (&form, "&", "client_secret", self->client_secret);
    s_buf_add_param (&form, "&", "code_verifier", verifier);
    if (form.failed) {
        s_buf_free_secret (&form);
        return PD_E_INTERNAL;
    }
    s_call_t call;
    long status = 0;
    int rc = s_fetch (self, "token", self->token_endpoint, form.data, &call, &status);
    s_buf_free_secret (&form);
    if (rc != PD_OK) {
        s_detail (detail, detail_size, "token endpoint unreachable");
        return rc;
    }
    json_t *answer = s_json_object (&call.body);
    s_buf_free_secret (&call.body);

    if (status >= 500 || (status != 200 && !answer)) {
        zsys_warning ("oidc: token endpoint failed: http %ld", status);
        s_detail (detail, detail_size, "token endpoint failed");
        rc = status >= 500 ? PD_E_UNAVAILABLE : PD_E_UNAUTHORIZED;
    } else if (status != 200) {
        char error[S_DETAIL_MAX + 1];
        s_error_code (answer, error, sizeof (error));
        s_detail (detail, detail_size, error);
        rc = PD_E_UNAUTHORIZED;
    } else {
        const char *token = json_string_value (json_object_get (answer, "id_token"));
        *id_token = token ? strdup (token) : NULL;
        if (!token)
            s_detail (detail, detail_size, "no id_token in the token response");
        rc = token ? (*id_token ? PD_OK : PD_E_INTERNAL) : PD_E_UNAUTHORIZED;
    }
    if (answer) {
        //  The answer holds an access token: wipe it before it is freed
        const char *access = json_string_value (json_object_get (answer, "access_token"));
        if (access)
            OPENSSL_cleanse ((char *)access, strlen (access));
        json_decref (answer);
    }
    return rc;
}

//  May the key set be fetched again for an unknown kid at now?
static bool
s_refresh_allowed (pd_oidc_t *self, int64_t now)
{
    return !self->jwks_refreshed || now < self->refreshed_at ||
           now - self->refreshed_at >= PD_OIDC_JWKS_MIN_REFRESH_S;
}

int
pd_oidc_exchange (pd_oidc_t *self, const char *code, const char *verifier, const char *nonce,
                  int64_t now_s, pd_jwt_claims_t *claims, char *detail, size_t detail_size)
{
    assert (self && code && verifier && nonce && claims);
    memset (claims, 0, sizeof (*claims));
    s_detail (detail, detail_size, "");
    if (!*code || strlen (code) > S_CODE_MAX) {
        s_detail (detail, detail_size, "invalid code");
        return PD_E_UNAUTHORIZED;
    }
    if (!s_verifier_valid (verifier)) {
        s_detail (detail, detail_size, "invalid code verifier");
        return PD_E_UNAUTHORIZED;
    }
    int rc = s_discover (self);
    if (rc != PD_OK) {
        s_detail (detail, detail_size, "provider unavailable");
        return rc;
    }
    char *id_token = NULL;
    rc = s_redeem (self, code, verifier, &id_token, detail, detail_size);
    if (rc != PD_OK)
        return rc;

    char reason[128] = "";
    if (!self->jwks)
        rc = s_fetch_jwks (self);
    pd_jwt_expect_t expect = {self->expected_issuer, self->client_id, nonce, now_s};
    if (rc == PD_OK)
        rc = pd_jwt_verify (id_token, self->jwks, &expect, claims, reason, sizeof (reason));
    if (rc == PD_E_NOT_FOUND) {
        //  A key we do not know: the provider may have rotated its keys
        if (s_refresh_allowed (self, now_s)) {
            self->jwks_refreshed = true;
            self->refreshed_at = now_s;
            rc = s_fetch_jwks (self);
            if (rc == PD_OK)
                rc = pd_jwt_verify (id_token, self->jwks, &expect, claims, reason, sizeof (reason));
        }
        if (rc == PD_E_NOT_FOUND) {
            snprintf (reason, sizeof (reason), "unknown signing key");
            rc = PD_E_UNAUTHORIZED;
        }
    }
    if (rc == PD_E_UNAVAILABLE)
        snprintf (reason, sizeof (reason), "provider keys unavailable");
    if (rc != PD_OK)
        s_detail (detail, detail_size, *reason ? reason : "id token refused");
    OPENSSL_cleanse (id_token, strlen (id_token));
    free (id_token);
    return rc;
}
