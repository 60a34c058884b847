/*  pd_test_idp - a local OpenID Connect provider for tests (see pd_test_idp.h)

    CivetWeb answers on its own threads: every field below the mutex is
    read and written with it held. Codes handed out by /authorize wait in
    a list of grants until /token redeems them (once: a grant is removed
    at its first use, whatever the outcome) or they expire.
*/
#include "pd_test_idp.h"

#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <civetweb.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "pd_test_jwt.h"

#define S_THREADS         "4"
#define S_REQUEST_TIMEOUT "10000" //  ms
#define S_CODE_BYTES      32      //  random bytes of a code or access token
#define S_CODE_TTL_S      600     //  a code expires after this
#define S_TOKEN_TTL_S     3600    //  exp - iat of ID tokens
#define S_EXPIRED_AGO_S   3600    //  tamper "expired": exp this long ago
#define S_MAX_BODY        16384   //  bytes of a /token body
#define S_MAX_PARAM       4096    //  bytes of one decoded parameter
#define S_VERIFIER_MIN    43      //  RFC 7636 4.1
#define S_VERIFIER_MAX    128
#define S_CHALLENGE_LEN   43                                     //  base64url of a SHA-256 digest
#define S_DEFAULT_TID     "9188040d-6c67-4c5b-b112-36a304b66dad" //  personal accounts
#define S_FORM_TYPE       "application/x-www-form-urlencoded"
#define S_UNRESERVED      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
#define S_DISCOVERY_PATH  "/.well-known/openid-configuration"

//  A code handed out by /authorize, waiting for /token
typedef struct _s_grant_t {
    struct _s_grant_t *next;
    char *code;                          //  the one-time code
    char *redirect_uri;                  //  as sent to /authorize, must come back to /token
    char *challenge;                     //  PKCE S256 code challenge
    char *nonce;                         //  goes into the ID token
    char *sub, *email, *name, *hd, *tid; //  who signed in
    time_t expires;                      //  time after which the code is refused
} s_grant_t;

struct _pd_test_idp_t {
    struct mg_context *ctx; //  CivetWeb server
    bool library;           //  mg_init_library called
    bool microsoft;         //  Microsoft style, else Google style
    char *client_id;        //  the one client registered
    char *client_secret;
    char base[64];                       //  http://127.0.0.1:PORT
    char issuer[96];                     //  as partnerd is configured with it
    char discovery[64];                  //  path of the discovery document
    pthread_mutex_t lock;                //  guards every field below
    pd_test_key_t *keys[2];              //  current signing key, then the previous one
    int key_serial;                      //  numbers the kids
    char *sub, *email, *name, *hd, *tid; //  who the next /authorize signs in
    char *tamper;                        //  how to spoil the next ID token, or NULL
    int jwks_fetches;                    //  how many times /jwks was served
    s_grant_t *grants;                   //  codes not yet redeemed
};

//  --------------------------------------------------------------------------
//  Small helpers

static char *
s_strdup_or_null (const char *text)
{
    return text ? strdup (text) : NULL;
}

static void
s_replace (char **field, const char *text)
{
    free (*field);
    *field = s_strdup_or_null (text);
}

//  Random hex text of S_CODE_BYTES bytes (caller frees)
static char *
s_random_hex (void)
{
    uint8_t bytes[S_CODE_BYTES];
    if (RAND_bytes (bytes, sizeof (bytes)) != 1)
        return NULL;
    char *text = (char *)malloc (2 * sizeof (bytes) + 1);
    if (!text)
        return NULL;
    for (size_t i = 0; i < sizeof (bytes); i++)
        snprintf (text + 2 * i, 3, "%02x", bytes[i]);
    return text;
}

//  base64url without padding of data (caller frees)
static char *
s_base64url (const uint8_t *data, size_t size)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = (char *)malloc (size / 3 * 4 + 5);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < size; i += 3) {
        size_t have = size - i < 3 ? size - i : 3;
        uint32_t group = (uint32_t)data[i] << 16;
        if (have > 1)
            group |= (uint32_t)data[i + 1] << 8;
        if (have > 2)
            group |= data[i + 2];
        for (size_t j = 0; j <= have; j++)
            out[o++] = alphabet[(group >> (18 - 6 * j)) & 0x3F];
    }
    out[o] = '\0';
    return out;
}

//  BASE64URL (SHA256 (verifier)) (caller frees)
static char *
s_s256 (const char *verifier)
{
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_Digest (verifier, strlen (verifier), digest, &size, EVP_sha256 (), NULL) != 1)
        return NULL;
    return s_base64url (digest, size);
}

//  text percent-encoded (everything but unreserved characters), caller frees
static char *
s_encode (const char *text)
{
    char *out = (char *)malloc (3 * strlen (text) + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (const char *c = text; *c; c++) {
        if (strchr (S_UNRESERVED, *c))
            out[o++] = *c;
        else
            o += (size_t)sprintf (out + o, "%%%02X", (unsigned char)*c);
    }
    out[o] = '\0';
    return out;
}

//  Does a scope list (words separated by spaces) hold "openid"?
static bool
s_has_openid (const char *scope)
{
    for (const char *word = scope; *word;) {
        size_t length = strcspn (word, " ");
        if (length == 6 && strncmp (word, "openid", 6) == 0)
            return true;
        word += length;
        word += strspn (word, " ");
    }
    return false;
}

static void
s_grant_destroy (s_grant_t **grant_p)
{
    s_grant_t *grant = *grant_p;
    if (!grant)
        return;
    free (grant->code);
    free (grant->redirect_uri);
    free (grant->challenge);
    free (grant->nonce);
    free (grant->sub);
    free (grant->email);
    free (grant->name);
    free (grant->hd);
    free (grant->tid);
    free (grant);
    *grant_p = NULL;
}

//  --------------------------------------------------------------------------
//  Responses: head and body in one write

static int
s_reply (struct mg_connection *conn, int status, const char *headers, const char *type,
         const char *body)
{
    size_t body_size = body ? strlen (body) : 0;
    const char *format = "HTTP/1.1 %d %s\r\n"
                         "Content-Type: %s\r\n"
                         "Content-Length: %zu\r\n"
                         "Cache-Control: no-store\r\n"
                         "Connection: close\r\n"
                         "%s\r\n";
    const char *reason = mg_get_response_code_text (conn, status);
    int head_size =
        snprintf (NULL, 0, format, status, reason, type, body_size, headers ? headers : "");
    char *message = head_size > 0 ? (char *)malloc ((size_t)head_size + body_size + 1) : NULL;
    if (!message)
        return 500;
    snprintf (message, (size_t)head_size + 1, format, status, reason, type, body_size,
              headers ? headers : "");
    if (body_size)
        memcpy (message + head_size, body, body_size);
    mg_write (conn, message, (size_t)head_size + body_size);
    free (message);
    return status;
}

static int
s_reply_json (struct mg_connection *conn, int status, json_t *json)
{
    char *text = json ? json_dumps (json, JSON_COMPACT) : NULL;
    json_decref (json);
    if (!text)
        return s_reply (conn, 500, NULL, "text/plain", "out of memory\n");
    int rc = s_reply (conn, status, NULL, "application/json", text);
    free (text);
    return rc;
}

//  An OAuth error answer of the token endpoint (RFC 6749 5.2)
static int
s_oauth_error (struct mg_connection *conn, int status, const char *error, const char *description)
{
    return s_reply_json (
        conn, status, json_pack ("{s:s, s:s}", "error", error, "error_description", description));
}

//  One parameter of a form or query, strictly: present once, not empty,
//  not too long. Returns the length or -1.
static int
s_param (const char *data, size_t size, const char *name, char *value, size_t value_size)
{
    char second[2];
    if (!data)
        return -1;
    int length = mg_get_var2 (data, size, name, value, value_size, 0);
    if (length <= 0)
        return -1;
    if (mg_get_var2 (data, size, name, second, sizeof (second), 1) != -1)
        return -1; //  repeated (RFC 6749 3.1: parameters must not be)
    return length;
}

//  --------------------------------------------------------------------------
//  Endpoints

static int
s_discovery (pd_test_idp_t *self, struct mg_connection *conn)
{
    char issuer[128], authorize[128], token[128], jwks[128];
    if (self->microsoft)
        snprintf (issuer, sizeof (issuer), "%s/{tenantid}/v2.0", self->base);
    else
        snprintf (issuer, sizeof (issuer), "%s", self->issuer);
    snprintf (authorize, sizeof (authorize), "%s/authorize", self->base);
    snprintf (token, sizeof (token), "%s/token", self->base);
    snprintf (jwks, sizeof (jwks), "%s/jwks", self->base);
    json_t *doc = json_pack (
        "{s:s, s:s, s:s, s:s, s:[s], s:[s], s:[s], s:[s,s,s], s:[s], s:[s], s:[s,s,s,s,s,s,s,s]}",
        "issuer", issuer, "authorization_endpoint", authorize, "token_endpoint", token, "jwks_uri",
        jwks, "response_types_supported", "code", "subject_types_supported",
        self->microsoft ? "pairwise" : "public", "id_token_signing_alg_values_supported", "RS256",
        "scopes_supported", "openid", "email", "profile", "token_endpoint_auth_methods_supported",
        "client_secret_post", "code_challenge_methods_supported", "S256", "claims_supported", "iss",
        "aud", "sub", "email", "email_verified", "name", "nonce", self->microsoft ? "tid" : "hd");
    return s_reply_json (conn, 200, doc);
}

static int
s_jwks (pd_test_idp_t *self, struct mg_connection *conn)
{
    pthread_mutex_lock (&self->lock);
    self->jwks_fetches++;
    char *jwks = pd_test_jwks (self->keys, self->keys[1] ? 2 : 1);
    pthread_mutex_unlock (&self->lock);
    if (!jwks)
        return s_reply (conn, 500, NULL, "text/plain", "cannot make the key set\n");
    int rc = s_reply (conn, 200, NULL, "application/json", jwks);
    free (jwks);
    return rc;
}

static int
s_authorize (pd_test_idp_t *self, struct mg_connection *conn)
{
    const char *query = mg_get_request_info (conn)->query_string;
    size_t size = query ? strlen (query) : 0;
    char client_id[S_MAX_PARAM], redirect_uri[S_MAX_PARAM], response_type[S_MAX_PARAM];
    char scope[S_MAX_PARAM], state[S_MAX_PARAM], nonce[S_MAX_PARAM];
    char challenge[S_MAX_PARAM], method[S_MAX_PARAM];

    //  Errors are shown to the user, never sent to an unchecked redirect URI
    const char *error = NULL;
    if (s_param (query, size, "client_id", client_id, sizeof (client_id)) < 0 ||
        strcmp (client_id, self->client_id) != 0)
        error = "unknown client_id";
    else if (s_param (query, size, "redirect_uri", redirect_uri, sizeof (redirect_uri)) < 0 ||
             (strncmp (redirect_uri, "http://", 7) != 0 &&
              strncmp (redirect_uri, "https://", 8) != 0) ||
             strchr (redirect_uri, '#'))
        error = "invalid redirect_uri";
    else if (s_param (query, size, "response_type", response_type, sizeof (response_type)) < 0 ||
             strcmp (response_type, "code") != 0)
        error = "response_type must be code";
    else if (s_param (query, size, "scope", scope, sizeof (scope)) < 0 || !s_has_openid (scope))
        error = "scope must include openid";
    else if (s_param (query, size, "state", state, sizeof (state)) < 0)
        error = "state required";
    else if (s_param (query, size, "nonce", nonce, sizeof (nonce)) < 0)
        error = "nonce required";
    else if (s_param (query, size, "code_challenge", challenge, sizeof (challenge)) !=
                 S_CHALLENGE_LEN ||
             strspn (challenge, S_UNRESERVED) != S_CHALLENGE_LEN)
        error = "code_challenge required (S256)";
    else if (s_param (query, size, "code_challenge_method", method, sizeof (method)) < 0 ||
             strcmp (method, "S256") != 0)
        error = "code_challenge_method must be S256";
    if (error)
        return s_reply (conn, 400, NULL, "text/plain", error);

    s_grant_t *grant = (s_grant_t *)calloc (1, sizeof (s_grant_t));
    if (!grant)
        return s_reply (conn, 500, NULL, "text/plain", "out of memory\n");
    grant->code = s_random_hex ();
    grant->redirect_uri = strdup (redirect_uri);
    grant->challenge = strdup (challenge);
    grant->nonce = strdup (nonce);
    grant->expires = time (NULL) + S_CODE_TTL_S;
    pthread_mutex_lock (&self->lock);
    grant->sub = s_strdup_or_null (self->sub);
    grant->email = s_strdup_or_null (self->email);
    grant->name = s_strdup_or_null (self->name);
    grant->hd = s_strdup_or_null (self->hd);
    grant->tid = s_strdup_or_null (self->tid);
    pthread_mutex_unlock (&self->lock);
    char *code = grant->code ? s_encode (grant->code) : NULL;
    char *encoded_state = s_encode (state);
    char *location = NULL;
    if (code && encoded_state && grant->redirect_uri && grant->challenge && grant->nonce &&
        grant->sub && grant->tid) {
        const char *sep = strchr (redirect_uri, '?') ? "&" : "?";
        size_t length = strlen (redirect_uri) + strlen (code) + strlen (encoded_state) + 64;
        location = (char *)malloc (length);
        if (location)
            snprintf (location, length, "Location: %s%scode=%s&state=%s\r\n", redirect_uri, sep,
                      code, encoded_state);
    }
    free (code);
    free (encoded_state);
    if (!location) {
        s_grant_destroy (&grant);
        return s_reply (conn, 500, NULL, "text/plain", "out of memory\n");
    }
    pthread_mutex_lock (&self->lock);
    grant->next = self->grants;
    self->grants = grant;
    pthread_mutex_unlock (&self->lock);
    int rc = s_reply (conn, 302, location, "text/plain", "");
    free (location);
    return rc;
}

//  Take the grant of this code out of the list (it is used once); NULL if
//  there is none or it expired. Call with the lock held.
static s_grant_t *
s_grant_take (pd_test_idp_t *self, const char *code)
{
    time_t now = time (NULL);
    for (s_grant_t **link = &self->grants; *link; link = &(*link)->next) {
        s_grant_t *grant = *link;
        if (strcmp (grant->code, code) == 0) {
            *link = grant->next;
            grant->next = NULL;
            if (grant->expires < now)
                s_grant_destroy (&grant);
            return grant;
        }
    }
    return NULL;
}

//  An ID token for this grant, spoiled if asked (caller frees). Call with
//  the lock held.
static char *
s_id_token (pd_test_idp_t *self, const s_grant_t *grant)
{
    char iss[160];
    if (self->microsoft)
        snprintf (iss, sizeof (iss), "%s/%s/v2.0", self->base, grant->tid);
    else
        snprintf (iss, sizeof (iss), "%s", self->issuer);
    time_t now = time (NULL);
    const char *tamper = self->tamper ? self->tamper : "";
    json_t *claims =
        json_pack ("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:I, s:I}", "iss", iss, "aud",
                   self->client_id, "sub", grant->sub, "email", grant->email ? grant->email : "",
                   "email_verified", 1, "name", grant->name ? grant->name : "", "nonce",
                   grant->nonce, "iat", (json_int_t)now, "exp", (json_int_t)(now + S_TOKEN_TTL_S));
    if (!claims)
        return NULL;
    if (self->microsoft) {
        json_object_set_new (claims, "tid", json_string (grant->tid));
        json_object_set_new (claims, "ver", json_string ("2.0"));
        if (grant->email)
            json_object_set_new (claims, "preferred_username", json_string (grant->email));
    } else if (grant->hd)
        json_object_set_new (claims, "hd", json_string (grant->hd));

    if (strcmp (tamper, "wrong_aud") == 0)
        json_object_set_new (claims, "aud", json_string ("another-client"));
    else if (strcmp (tamper, "wrong_iss") == 0) {
        //  Microsoft: a token of another tenant than its tid claim says
        snprintf (iss, sizeof (iss), "%s%s", self->base,
                  self->microsoft ? "/another-tenant/v2.0" : "/another-issuer");
        json_object_set_new (claims, "iss", json_string (iss));
    } else if (strcmp (tamper, "wrong_nonce") == 0)
        json_object_set_new (claims, "nonce", json_string ("another-nonce"));
    else if (strcmp (tamper, "expired") == 0) {
        json_object_set_new (claims, "iat",
                             json_integer ((json_int_t)(now - S_EXPIRED_AGO_S - S_TOKEN_TTL_S)));
        json_object_set_new (claims, "exp", json_integer ((json_int_t)(now - S_EXPIRED_AGO_S)));
    }

    char *token = NULL;
    if (strcmp (tamper, "alg_none") == 0) {
        //  An unsigned token: {"alg":"none"} and an empty signature
        json_t *header = json_pack ("{s:s, s:s}", "alg", "none", "typ", "JWT");
        char *header_text = header ? json_dumps (header, JSON_COMPACT) : NULL;
        char *claims_text = json_dumps (claims, JSON_COMPACT);
        char *header_b64 =
            header_text ? s_base64url ((uint8_t *)header_text, strlen (header_text)) : NULL;
        char *claims_b64 =
            claims_text ? s_base64url ((uint8_t *)claims_text, strlen (claims_text)) : NULL;
        if (header_b64 && claims_b64) {
            size_t size = strlen (header_b64) + strlen (claims_b64) + 3;
            token = (char *)malloc (size);
            if (token)
                snprintf (token, size, "%s.%s.", header_b64, claims_b64);
        }
        json_decref (header);
        free (header_text);
        free (claims_text);
        free (header_b64);
        free (claims_b64);
    } else {
        token = pd_test_jwt_sign (self->keys[0], claims, NULL, NULL);
        char *signature = token ? strrchr (token, '.') : NULL;
        if (signature && signature[1] && strcmp (tamper, "bad_signature") == 0)
            //  The first character: all its bits are signature bits
            signature[1] = signature[1] == 'A' ? 'B' : 'A';
    }
    json_decref (claims);
    s_replace (&self->tamper, NULL);
    return token;
}

static int
s_token (pd_test_idp_t *self, struct mg_connection *conn)
{
    const char *type = mg_get_header (conn, "Content-Type");
    if (!type || strncasecmp (type, S_FORM_TYPE, strlen (S_FORM_TYPE)) != 0)
        return s_oauth_error (conn, 400, "invalid_request", "body must be form-encoded");
    long long declared = mg_get_request_info (conn)->content_length;
    if (declared > S_MAX_BODY)
        return s_oauth_error (conn, 400, "invalid_request", "body too large");
    char body[S_MAX_BODY + 1];
    size_t size = 0;
    int got = 1;
    while (size < S_MAX_BODY && got > 0) {
        got = mg_read (conn, body + size, S_MAX_BODY - size);
        if (got > 0)
            size += (size_t)got;
    }
    body[size] = '\0';

    char grant_type[S_MAX_PARAM], code[S_MAX_PARAM], redirect_uri[S_MAX_PARAM];
    char client_id[S_MAX_PARAM], client_secret[S_MAX_PARAM], verifier[S_MAX_PARAM];
    if (s_param (body, size, "grant_type", grant_type, sizeof (grant_type)) < 0)
        return s_oauth_error (conn, 400, "invalid_request", "grant_type required");
    if (strcmp (grant_type, "authorization_code") != 0)
        return s_oauth_error (conn, 400, "unsupported_grant_type", "authorization_code only");
    if (s_param (body, size, "client_id", client_id, sizeof (client_id)) < 0 ||
        s_param (body, size, "client_secret", client_secret, sizeof (client_secret)) < 0 ||
        strcmp (client_id, self->client_id) != 0 ||
        strlen (client_secret) != strlen (self->client_secret) ||
        CRYPTO_memcmp (client_secret, self->client_secret, strlen (client_secret)) != 0)
        return s_oauth_error (conn, 401, "invalid_client", "client authentication failed");
    if (s_param (body, size, "code", code, sizeof (code)) < 0 ||
        s_param (body, size, "redirect_uri", redirect_uri, sizeof (redirect_uri)) < 0)
        return s_oauth_error (conn, 400, "invalid_request", "code and redirect_uri required");

    pthread_mutex_lock (&self->lock);
    s_grant_t *grant = s_grant_take (self, code);
    pthread_mutex_unlock (&self->lock);
    if (!grant)
        return s_oauth_error (conn, 400, "invalid_grant", "unknown, used or expired code");

    int length = s_param (body, size, "code_verifier", verifier, sizeof (verifier));
    char *challenge = length >= S_VERIFIER_MIN && length <= S_VERIFIER_MAX &&
                              strspn (verifier, S_UNRESERVED) == (size_t)length
                          ? s_s256 (verifier)
                          : NULL;
    const char *refusal = NULL;
    if (strcmp (redirect_uri, grant->redirect_uri) != 0)
        refusal = "redirect_uri differs from the authorization request";
    else if (!challenge || strcmp (challenge, grant->challenge) != 0)
        refusal = "code_verifier does not match the code_challenge";
    free (challenge);
    if (refusal) {
        s_grant_destroy (&grant);
        return s_oauth_error (conn, 400, "invalid_grant", refusal);
    }

    pthread_mutex_lock (&self->lock);
    char *id_token = s_id_token (self, grant);
    pthread_mutex_unlock (&self->lock);
    s_grant_destroy (&grant);
    char *access_token = s_random_hex ();
    json_t *answer = id_token && access_token
                         ? json_pack ("{s:s, s:s, s:i, s:s, s:s}", "access_token", access_token,
                                      "token_type", "Bearer", "expires_in", S_TOKEN_TTL_S - 1,
                                      "scope", "openid email profile", "id_token", id_token)
                         : NULL;
    free (id_token);
    free (access_token);
    if (!answer)
        return s_oauth_error (conn, 500, "server_error", "cannot issue a token");
    return s_reply_json (conn, 200, answer);
}

static int
s_handle (struct mg_connection *conn, void *cbdata)
{
    pd_test_idp_t *self = (pd_test_idp_t *)cbdata;
    const struct mg_request_info *info = mg_get_request_info (conn);
    const char *path = info->local_uri ? info->local_uri : "";
    bool get = strcmp (info->request_method, "GET") == 0;
    bool post = strcmp (info->request_method, "POST") == 0;
    if (strcmp (path, self->discovery) == 0)
        return get ? s_discovery (self, conn) : s_reply (conn, 405, NULL, "text/plain", "");
    if (strcmp (path, "/jwks") == 0)
        return get ? s_jwks (self, conn) : s_reply (conn, 405, NULL, "text/plain", "");
    if (strcmp (path, "/authorize") == 0)
        return get ? s_authorize (self, conn) : s_reply (conn, 405, NULL, "text/plain", "");
    if (strcmp (path, "/token") == 0)
        return post ? s_token (self, conn) : s_reply (conn, 405, NULL, "text/plain", "");
    return s_reply (conn, 404, NULL, "text/plain", "not found\n");
}

static int
s_log_message (const struct mg_connection *conn, const char *message)
{
    fprintf (stderr, "test_idp: civetweb: %s\n", message);
    return 1;
}

//  --------------------------------------------------------------------------
//  Public API

pd_test_idp_t *
pd_test_idp_new (const pd_test_idp_config_t *config)
{
    assert (config && config->style && config->client_id && config->client_secret);
    bool microsoft = strcmp (config->style, "microsoft") == 0;
    if (!microsoft && strcmp (config->style, "google") != 0)
        return NULL;
    pd_test_idp_t *self = (pd_test_idp_t *)calloc (1, sizeof (pd_test_idp_t));
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    self->microsoft = microsoft;
    self->client_id = strdup (config->client_id);
    self->client_secret = strdup (config->client_secret);
    self->key_serial = 1;
    self->keys[0] = pd_test_key_new ("RS256", "test-key-1");
    self->sub = strdup ("10769150350006150715113082367");
    self->email = strdup ("jane@example.com");
    self->name = strdup ("Jane Doe");
    self->tid = strdup (S_DEFAULT_TID);
    if (!self->client_id || !self->client_secret || !self->keys[0] || !self->sub || !self->email ||
        !self->name || !self->tid)
        goto failed;

    // clang-format off
    const char *options[] = {
        "listening_ports",    "127.0.0.1:0",
        "num_threads",        S_THREADS,
        "tcp_nodelay",        "1",
        "enable_keep_alive",  "no",
        "request_timeout_ms", S_REQUEST_TIMEOUT,
        NULL};
    // clang-format on
    struct mg_callbacks callbacks;
    memset (&callbacks, 0, sizeof (callbacks));
    callbacks.log_message = s_log_message;
    struct mg_init_data init = {&callbacks, self, options};
    unsigned error_code = 0;
    char error_text[256] = "";
    struct mg_error_data error = {&error_code, error_text, sizeof (error_text)};
    mg_init_library (0);
    self->library = true;
    self->ctx = mg_start2 (&init, &error);
    if (!self->ctx) {
        fprintf (stderr, "test_idp: cannot listen: %s\n", error_text);
        goto failed;
    }
    struct mg_server_port port;
    if (mg_get_server_ports (self->ctx, 1, &port) != 1)
        goto failed;
    snprintf (self->base, sizeof (self->base), "http://127.0.0.1:%d", port.port);
    if (microsoft)
        snprintf (self->issuer, sizeof (self->issuer), "%s/common/v2.0", self->base);
    else
        snprintf (self->issuer, sizeof (self->issuer), "%s", self->base);
    snprintf (self->discovery, sizeof (self->discovery), "%s%s", microsoft ? "/common/v2.0" : "",
              S_DISCOVERY_PATH);
    //  Only now are the fields the handler reads without the lock set
    mg_set_request_handler (self->ctx, "/", s_handle, self);
    return self;

failed:
    pd_test_idp_destroy (&self);
    return NULL;
}

void
pd_test_idp_destroy (pd_test_idp_t **self_p)
{
    assert (self_p);
    pd_test_idp_t *self = *self_p;
    if (!self)
        return;
    if (self->ctx)
        mg_stop (self->ctx);
    if (self->library)
        mg_exit_library ();
    while (self->grants) {
        s_grant_t *next = self->grants->next;
        s_grant_destroy (&self->grants);
        self->grants = next;
    }
    pd_test_key_destroy (&self->keys[0]);
    pd_test_key_destroy (&self->keys[1]);
    free (self->client_id);
    free (self->client_secret);
    free (self->sub);
    free (self->email);
    free (self->name);
    free (self->hd);
    free (self->tid);
    free (self->tamper);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

const char *
pd_test_idp_issuer (pd_test_idp_t *self)
{
    assert (self);
    return self->issuer;
}

void
pd_test_idp_set_user (pd_test_idp_t *self, const char *sub, const char *email, const char *name,
                      const char *hd, const char *tid)
{
    assert (self && sub);
    pthread_mutex_lock (&self->lock);
    s_replace (&self->sub, sub);
    s_replace (&self->email, email);
    s_replace (&self->name, name);
    s_replace (&self->hd, hd);
    s_replace (&self->tid, tid ? tid : S_DEFAULT_TID);
    pthread_mutex_unlock (&self->lock);
}

void
pd_test_idp_rotate_key (pd_test_idp_t *self)
{
    assert (self);
    char kid[32];
    pthread_mutex_lock (&self->lock);
    snprintf (kid, sizeof (kid), "test-key-%d", ++self->key_serial);
    pthread_mutex_unlock (&self->lock);
    //  Key generation takes a while: not under the lock
    pd_test_key_t *key = pd_test_key_new ("RS256", kid);
    assert (key);
    pthread_mutex_lock (&self->lock);
    pd_test_key_destroy (&self->keys[1]);
    self->keys[1] = self->keys[0];
    self->keys[0] = key;
    pthread_mutex_unlock (&self->lock);
}

void
pd_test_idp_tamper_next (pd_test_idp_t *self, const char *how)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    s_replace (&self->tamper, how);
    pthread_mutex_unlock (&self->lock);
}

int
pd_test_idp_jwks_fetches (pd_test_idp_t *self)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    int fetches = self->jwks_fetches;
    pthread_mutex_unlock (&self->lock);
    return fetches;
}
