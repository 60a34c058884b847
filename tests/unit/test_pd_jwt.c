/*  test_pd_jwt - ID token verification: signatures, algorithms, claims, JWKS */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "pd_jwt.h"
#include "pd_test_jwt.h"

#define S_NOW       1767225600 //  2026-01-01T00:00:00Z: tests do not read the clock
#define S_ISSUER    "https://accounts.example.com"
#define S_AUDIENCE  "client-123.apps.example.com"
#define S_NONCE     "n-0S6_WzA2Mj"
#define S_SUBJECT   "110169484474386276334"
#define S_MS_ISSUER "https://login.microsoftonline.com/{tenantid}/v2.0"
#define S_TENANT    "9188040d-6c67-4c5b-b112-36a304b66dad"

//  Keys are slow to make: one set for all tests
static struct {
    pd_test_key_t *rsa;      //  RS256, kid "k1"
    pd_test_key_t *ec;       //  ES256, kid "e1"
    pd_test_key_t *imposter; //  RS256, also kid "k1", never published
    pd_test_key_t *next;     //  RS256, kid "k2", published after a rotation
    pd_jwks_t *jwks;         //  rsa and ec
} s_fx;

//  Parse a JWKS made of these keys
static pd_jwks_t *
s_jwks_of (pd_test_key_t **keys, size_t count)
{
    char *text = pd_test_jwks (keys, count);
    assert_non_null (text);
    pd_jwks_t *jwks = pd_jwks_new (text, strlen (text));
    free (text);
    return jwks;
}

static int
s_setup (void **state)
{
    s_fx.rsa = pd_test_key_new ("RS256", "k1");
    s_fx.ec = pd_test_key_new ("ES256", "e1");
    s_fx.imposter = pd_test_key_new ("RS256", "k1");
    s_fx.next = pd_test_key_new ("RS256", "k2");
    if (!s_fx.rsa || !s_fx.ec || !s_fx.imposter || !s_fx.next)
        return -1;
    pd_test_key_t *published[] = {s_fx.rsa, s_fx.ec};
    s_fx.jwks = s_jwks_of (published, 2);
    return s_fx.jwks ? 0 : -1;
}

static int
s_teardown (void **state)
{
    pd_jwks_destroy (&s_fx.jwks);
    pd_test_key_destroy (&s_fx.rsa);
    pd_test_key_destroy (&s_fx.ec);
    pd_test_key_destroy (&s_fx.imposter);
    pd_test_key_destroy (&s_fx.next);
    return 0;
}

//  The claims a provider puts in a good ID token
static json_t *
s_claims (void)
{
    json_t *claims = json_pack ("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:I, s:I}", "iss", S_ISSUER,
                                "aud", S_AUDIENCE, "sub", S_SUBJECT, "email", "ada@example.com",
                                "email_verified", 1, "name", "Ada Lovelace", "nonce", S_NONCE,
                                "exp", (json_int_t)S_NOW + 3600, "iat", (json_int_t)S_NOW - 5);
    assert_non_null (claims);
    return claims;
}

static pd_jwt_expect_t
s_expect (void)
{
    pd_jwt_expect_t expect = {
        .issuer = S_ISSUER, .audience = S_AUDIENCE, .nonce = S_NONCE, .now = S_NOW};
    return expect;
}

//  Sign claims (consumed) with a key and verify against the fixture's set
//  and expectations; returns the status, detail gets the reason
static int
s_sign_verify (pd_test_key_t *key, json_t *claims, const char *alg, const pd_jwt_expect_t *expect,
               char *detail, size_t detail_size)
{
    char *token = pd_test_jwt_sign (key, claims, alg, NULL);
    json_decref (claims);
    assert_non_null (token);
    pd_jwt_claims_t out;
    int rc = pd_jwt_verify (token, s_fx.jwks, expect, &out, detail, detail_size);
    if (rc != PD_OK)
        assert_null (out.sub); //  nothing is handed out from a refused token
    pd_jwt_claims_clear (&out);
    free (token);
    return rc;
}

//  Verify claims signed by the RSA key with default expectations
static int
s_check (json_t *claims, char *detail, size_t detail_size)
{
    pd_jwt_expect_t expect = s_expect ();
    return s_sign_verify (s_fx.rsa, claims, NULL, &expect, detail, detail_size);
}

//  base64url of a string, with the padding that JWS leaves out, malloc'd
static char *
s_b64url_padded (const char *text)
{
    size_t size = strlen (text);
    char *out = malloc ((size + 2) / 3 * 4 + 1);
    assert_non_null (out);
    EVP_EncodeBlock ((unsigned char *)out, (const unsigned char *)text, (int)size);
    for (char *c = out; *c; c++)
        if (*c == '+')
            *c = '-';
        else if (*c == '/')
            *c = '_';
    return out;
}

//  base64url without padding of bytes, malloc'd
static char *
s_b64url_bytes (const unsigned char *bytes, size_t size)
{
    char *out = malloc ((size + 2) / 3 * 4 + 1);
    assert_non_null (out);
    EVP_EncodeBlock ((unsigned char *)out, bytes, (int)size);
    for (char *c = out; *c; c++)
        if (*c == '+')
            *c = '-';
        else if (*c == '/')
            *c = '_';
    char *pad = strchr (out, '=');
    if (pad)
        *pad = 0;
    return out;
}

static char *
s_b64url (const char *text)
{
    return s_b64url_bytes ((const unsigned char *)text, strlen (text));
}

static void
test_verify_rs256_usage (void **state)
{
    //  The identity provider has a key and publishes it as a JWKS
    pd_test_key_t *key = pd_test_key_new ("RS256", "2024-rsa");
    assert_non_null (key);
    char *jwks_text = pd_test_jwks (&key, 1);
    assert_non_null (jwks_text);

    //  We fetch the JWKS and keep the parsed set
    pd_jwks_t *jwks = pd_jwks_new (jwks_text, strlen (jwks_text));
    assert_non_null (jwks);
    assert_true (pd_jwks_has (jwks, "2024-rsa"));

    //  After login the provider hands us an ID token
    json_t *claims = s_claims ();
    char *token = pd_test_jwt_sign (key, claims, NULL, NULL);
    json_decref (claims);
    assert_non_null (token);

    //  Its kid tells whether our set is fresh enough
    char kid[64];
    assert_int_equal (pd_jwt_kid (token, kid, sizeof (kid)), PD_OK);
    assert_string_equal (kid, "2024-rsa");

    //  We verify it against what we expect, and read who signed in
    pd_jwt_expect_t expect = {
        .issuer = S_ISSUER, .audience = S_AUDIENCE, .nonce = S_NONCE, .now = S_NOW};
    pd_jwt_claims_t who;
    char detail[128];
    assert_int_equal (pd_jwt_verify (token, jwks, &expect, &who, detail, sizeof (detail)), PD_OK);
    assert_string_equal (who.iss, S_ISSUER);
    assert_string_equal (who.sub, S_SUBJECT);
    assert_string_equal (who.email, "ada@example.com");
    assert_true (who.email_verified);
    assert_string_equal (who.name, "Ada Lovelace");
    assert_string_equal (who.nonce, S_NONCE);
    assert_null (who.hd);
    assert_null (who.tid);
    assert_int_equal (who.exp, S_NOW + 3600);
    assert_int_equal (who.iat, S_NOW - 5);

    pd_jwt_claims_clear (&who);
    assert_null (who.sub);
    pd_jwt_claims_clear (&who); //  idempotent
    free (token);
    free (jwks_text);
    pd_jwks_destroy (&jwks);
    assert_null (jwks);
    pd_jwks_destroy (&jwks);
    pd_test_key_destroy (&key);
    assert_null (key);
}

static void
test_verify_es256 (void **state)
{
    json_t *claims = s_claims ();
    json_object_set_new (claims, "hd", json_string ("example.com"));
    char *token = pd_test_jwt_sign (s_fx.ec, claims, NULL, NULL);
    json_decref (claims);
    assert_non_null (token);
    pd_jwt_expect_t expect = s_expect ();
    pd_jwt_claims_t who;
    assert_int_equal (pd_jwt_verify (token, s_fx.jwks, &expect, &who, NULL, 0), PD_OK);
    assert_string_equal (who.sub, S_SUBJECT);
    assert_string_equal (who.hd, "example.com");
    pd_jwt_claims_clear (&who);

    //  A signature of the wrong size is refused (r || s is 64 bytes)
    char *cut = strdup (token);
    assert_non_null (cut);
    char *cut_signature = strrchr (cut, '.') + 1;
    assert_int_equal (strlen (cut_signature), 86);
    cut_signature[84] = 0; //  63 bytes, canonically encoded
    char detail[128];
    assert_int_equal (pd_jwt_verify (cut, s_fx.jwks, &expect, &who, detail, sizeof (detail)),
                      PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "bad signature");
    free (cut);
    free (token);
}

static void
test_bad_signature (void **state)
{
    pd_test_key_t *keys[] = {s_fx.rsa, s_fx.ec};
    for (size_t k = 0; k < 2; k++) {
        json_t *claims = s_claims ();
        char *token = pd_test_jwt_sign (keys[k], claims, NULL, NULL);
        json_decref (claims);
        assert_non_null (token);
        //  Change one character in the middle of the signature
        char *signature = strrchr (token, '.') + 1;
        signature[10] = signature[10] == 'A' ? 'B' : 'A';
        pd_jwt_expect_t expect = s_expect ();
        pd_jwt_claims_t who;
        char detail[128];
        assert_int_equal (pd_jwt_verify (token, s_fx.jwks, &expect, &who, detail, sizeof (detail)),
                          PD_E_UNAUTHORIZED);
        assert_string_equal (detail, "bad signature");
        assert_null (who.sub);
        free (token);
    }
    //  Signed by a key that claims a published kid
    char detail[128];
    pd_jwt_expect_t expect = s_expect ();
    assert_int_equal (
        s_sign_verify (s_fx.imposter, s_claims (), NULL, &expect, detail, sizeof (detail)),
        PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "bad signature");
}

static void
test_audience (void **state)
{
    char detail[128];
    json_t *claims = s_claims ();
    json_object_set_new (claims, "aud", json_string ("someone-else"));
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "audience mismatch");

    claims = s_claims ();
    json_object_del (claims, "aud");
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "audience mismatch");

    //  An array containing us is fine
    claims = s_claims ();
    json_object_set_new (claims, "aud", json_pack ("[s, s]", "other", S_AUDIENCE));
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_OK);

    //  One without us is not
    claims = s_claims ();
    json_object_set_new (claims, "aud", json_pack ("[s, s]", "other", "client-12"));
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "audience mismatch");

    claims = s_claims ();
    json_object_set_new (claims, "aud", json_array ());
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_E_UNAUTHORIZED);

    //  An authorized party, when named, must be us
    claims = s_claims ();
    json_object_set_new (claims, "aud", json_pack ("[s, s]", S_AUDIENCE, "other"));
    json_object_set_new (claims, "azp", json_string ("other"));
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "authorized party mismatch");
    claims = s_claims ();
    json_object_set_new (claims, "azp", json_string (S_AUDIENCE));
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_OK);
}

static void
test_issuer (void **state)
{
    char detail[128];
    const char *wrong[] = {"https://accounts.example.co", "https://accounts.example.com/",
                           "https://ACCOUNTS.example.com", "https://evil.example.net"};
    for (size_t i = 0; i < sizeof (wrong) / sizeof (wrong[0]); i++) {
        json_t *claims = s_claims ();
        json_object_set_new (claims, "iss", json_string (wrong[i]));
        assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
        assert_string_equal (detail, "issuer mismatch");
    }
    json_t *claims = s_claims ();
    json_object_del (claims, "iss");
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "no issuer");
}

static void
test_microsoft_tenant_issuer (void **state)
{
    pd_jwt_expect_t expect = s_expect ();
    expect.issuer = S_MS_ISSUER;
    char detail[128];

    //  The issuer names the token's own tenant
    json_t *claims = s_claims ();
    json_object_set_new (claims, "iss",
                         json_string ("https://login.microsoftonline.com/" S_TENANT "/v2.0"));
    json_object_set_new (claims, "tid", json_string (S_TENANT));
    char *token = pd_test_jwt_sign (s_fx.rsa, claims, NULL, NULL);
    json_decref (claims);
    assert_non_null (token);
    pd_jwt_claims_t who;
    assert_int_equal (pd_jwt_verify (token, s_fx.jwks, &expect, &who, detail, sizeof (detail)),
                      PD_OK);
    assert_string_equal (who.tid, S_TENANT);
    pd_jwt_claims_clear (&who);
    free (token);

    //  Another tenant in tid than in iss
    claims = s_claims ();
    json_object_set_new (claims, "iss",
                         json_string ("https://login.microsoftonline.com/" S_TENANT "/v2.0"));
    json_object_set_new (claims, "tid", json_string ("72f988bf-86f1-41af-91ab-2d7cd011db47"));
    assert_int_equal (s_sign_verify (s_fx.rsa, claims, NULL, &expect, detail, sizeof (detail)),
                      PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "issuer mismatch");

    //  No tid at all, or one that is no tenant id
    claims = s_claims ();
    json_object_set_new (claims, "iss",
                         json_string ("https://login.microsoftonline.com/" S_TENANT "/v2.0"));
    assert_int_equal (s_sign_verify (s_fx.rsa, claims, NULL, &expect, detail, sizeof (detail)),
                      PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "no valid tenant id");
    claims = s_claims ();
    json_object_set_new (claims, "iss", json_string ("https://login.microsoftonline.com/a/b/v2.0"));
    json_object_set_new (claims, "tid", json_string ("a/b"));
    assert_int_equal (s_sign_verify (s_fx.rsa, claims, NULL, &expect, detail, sizeof (detail)),
                      PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "no valid tenant id");

    //  The literal placeholder is not a tenant
    claims = s_claims ();
    json_object_set_new (claims, "iss", json_string (S_MS_ISSUER));
    json_object_set_new (claims, "tid", json_string (S_TENANT));
    assert_int_equal (s_sign_verify (s_fx.rsa, claims, NULL, &expect, detail, sizeof (detail)),
                      PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "issuer mismatch");
}

static void
test_nonce (void **state)
{
    char detail[128];
    json_t *claims = s_claims ();
    json_object_set_new (claims, "nonce", json_string ("n-0S6_WzA2Mk"));
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "nonce mismatch");

    claims = s_claims ();
    json_object_del (claims, "nonce");
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "nonce mismatch");

    //  Not checked when we sent none
    pd_jwt_expect_t expect = s_expect ();
    expect.nonce = NULL;
    claims = s_claims ();
    json_object_set_new (claims, "nonce", json_string ("anything"));
    assert_int_equal (s_sign_verify (s_fx.rsa, claims, NULL, &expect, detail, sizeof (detail)),
                      PD_OK);
}

static void
test_expiry (void **state)
{
    char detail[128];
    json_t *claims = s_claims ();
    json_object_set_new (claims, "exp", json_integer (S_NOW - PD_JWT_LEEWAY_S));
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "expired");

    //  Within the leeway, still good
    claims = s_claims ();
    json_object_set_new (claims, "exp", json_integer (S_NOW - PD_JWT_LEEWAY_S + 1));
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_OK);

    //  NumericDate may be a real number
    claims = s_claims ();
    json_object_set_new (claims, "exp", json_real (S_NOW + 10.5));
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_OK);

    claims = s_claims ();
    json_object_set_new (claims, "exp", json_string ("9999999999"));
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "no valid exp");

    claims = s_claims ();
    json_object_del (claims, "exp");
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "no valid exp");
}

static void
test_issued_in_future (void **state)
{
    char detail[128];
    json_t *claims = s_claims ();
    json_object_set_new (claims, "iat", json_integer (S_NOW + PD_JWT_LEEWAY_S + 1));
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "issued in the future");

    claims = s_claims ();
    json_object_set_new (claims, "iat", json_integer (S_NOW + PD_JWT_LEEWAY_S));
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_OK);

    claims = s_claims ();
    json_object_del (claims, "iat");
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "no valid iat");
}

static void
test_not_before (void **state)
{
    char detail[128];
    json_t *claims = s_claims ();
    json_object_set_new (claims, "nbf", json_integer (S_NOW + PD_JWT_LEEWAY_S + 1));
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "not yet valid");

    claims = s_claims ();
    json_object_set_new (claims, "nbf", json_integer (S_NOW));
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_OK);

    claims = s_claims ();
    json_object_set_new (claims, "nbf", json_true ());
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "no valid nbf");
}

//  A token of the default claims, signed by key with this header alg and kid
static char *
s_token (pd_test_key_t *key, const char *alg, const char *kid)
{
    json_t *claims = s_claims ();
    char *token = pd_test_jwt_sign (key, claims, alg, kid);
    json_decref (claims);
    assert_non_null (token);
    return token;
}

//  Verify a token against the fixture's set; detail gets the reason
static int
s_verify (const char *token, char *detail, size_t detail_size)
{
    pd_jwt_expect_t expect = s_expect ();
    pd_jwt_claims_t who;
    int rc = pd_jwt_verify (token, s_fx.jwks, &expect, &who, detail, detail_size);
    if (rc != PD_OK)
        assert_null (who.iss);
    pd_jwt_claims_clear (&who);
    return rc;
}

static void
test_alg_none_refused (void **state)
{
    char detail[128];
    //  A well-formed unsigned token naming a published kid
    char *token = s_token (s_fx.rsa, "none", NULL);
    assert_int_equal (token[strlen (token) - 1], '.');
    assert_int_equal (s_verify (token, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "alg not allowed");
    free (token);

    //  Spelled otherwise, and signed for good measure
    const char *spellings[] = {"None", "NONE", "nOnE", "", "RS256 ", "rs256"};
    for (size_t i = 0; i < sizeof (spellings) / sizeof (spellings[0]); i++) {
        token = s_token (s_fx.rsa, spellings[i], NULL);
        assert_int_equal (s_verify (token, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
        assert_string_equal (detail, "alg not allowed");
        free (token);
    }
    assert_int_equal (s_verify ("xxx.yyy.", detail, sizeof (detail)), PD_E_UNAUTHORIZED);
}

static void
test_hmac_with_public_key_refused (void **state)
{
    //  An attacker signs with HMAC, keyed with our published RSA key
    char detail[128];
    const char *algs[] = {"HS256", "HS384", "HS512"};
    for (size_t i = 0; i < 3; i++) {
        char *token = s_token (s_fx.rsa, algs[i], NULL);
        assert_int_equal (s_verify (token, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
        assert_string_equal (detail, "alg not allowed");
        free (token);
    }
}

static void
test_alg_must_match_key (void **state)
{
    char detail[128];
    //  An EC key named by an RS256 header
    char *token = s_token (s_fx.ec, "RS256", NULL);
    assert_int_equal (s_verify (token, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "alg does not match key");
    free (token);
    //  And the other way round
    token = s_token (s_fx.rsa, "ES256", NULL);
    assert_int_equal (s_verify (token, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "alg does not match key");
    free (token);
    //  Algorithms we do not accept even with the right kind of key
    const char *others[] = {"RS384", "RS512", "PS256", "ES384", "EdDSA"};
    for (size_t i = 0; i < sizeof (others) / sizeof (others[0]); i++) {
        token = s_token (i < 3 ? s_fx.rsa : s_fx.ec, others[i], NULL);
        assert_int_equal (s_verify (token, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
        assert_string_equal (detail, "alg not allowed");
        free (token);
    }
}

static void
test_unknown_kid_then_refresh (void **state)
{
    //  The provider rotated to a key we have not fetched yet
    char *token = s_token (s_fx.next, NULL, NULL);
    char kid[8];
    assert_int_equal (pd_jwt_kid (token, kid, sizeof (kid)), PD_OK);
    assert_string_equal (kid, "k2");
    assert_false (pd_jwks_has (s_fx.jwks, kid));
    char detail[128];
    assert_int_equal (s_verify (token, detail, sizeof (detail)), PD_E_NOT_FOUND);
    assert_string_equal (detail, "unknown kid");

    //  No set at all is the same answer
    pd_jwt_expect_t expect = s_expect ();
    pd_jwt_claims_t who;
    assert_int_equal (pd_jwt_verify (token, NULL, &expect, &who, NULL, 0), PD_E_NOT_FOUND);
    assert_false (pd_jwks_has (NULL, kid));

    //  We refresh the set and try once more
    pd_test_key_t *keys[] = {s_fx.rsa, s_fx.next};
    pd_jwks_t *refreshed = s_jwks_of (keys, 2);
    assert_non_null (refreshed);
    assert_true (pd_jwks_has (refreshed, kid));
    assert_int_equal (pd_jwt_verify (token, refreshed, &expect, &who, NULL, 0), PD_OK);
    assert_string_equal (who.sub, S_SUBJECT);
    pd_jwt_claims_clear (&who);
    pd_jwks_destroy (&refreshed);
    free (token);

    //  A kid too long for the caller's buffer is refused
    token = s_token (s_fx.next, NULL, "a-kid-of-some-length");
    assert_int_equal (pd_jwt_kid (token, kid, sizeof (kid)), PD_E_UNAUTHORIZED);
    free (token);
}

//  A token of three given segments, malloc'd
static char *
s_join (const char *header, const char *payload, const char *signature)
{
    size_t size = strlen (header) + strlen (payload) + strlen (signature) + 3;
    char *token = malloc (size);
    assert_non_null (token);
    snprintf (token, size, "%s.%s.%s", header, payload, signature);
    return token;
}

//  Refused by both pd_jwt_verify and pd_jwt_kid
static void
s_assert_malformed (const char *token)
{
    char detail[128];
    assert_int_equal (s_verify (token, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    char kid[64];
    assert_int_equal (pd_jwt_kid (token, kid, sizeof (kid)), PD_E_UNAUTHORIZED);
}

static void
test_malformed_tokens (void **state)
{
    char *good = s_token (s_fx.rsa, NULL, NULL);
    assert_int_equal (s_verify (good, NULL, 0), PD_OK);
    char *dot1 = strchr (good, '.');
    char *dot2 = strchr (dot1 + 1, '.');
    char *header = strndup (good, (size_t)(dot1 - good));
    char *payload = strndup (dot1 + 1, (size_t)(dot2 - dot1 - 1));
    char *signature = strdup (dot2 + 1);
    assert_non_null (header);
    assert_non_null (payload);
    assert_non_null (signature);

    //  Two parts, four parts, empty parts
    char *token = strndup (good, (size_t)(dot2 - good));
    s_assert_malformed (token);
    free (token);
    token = s_join (header, payload, signature);
    assert_int_equal (s_verify (token, NULL, 0), PD_OK); //  s_join rebuilds a good one
    size_t size = strlen (token) + 8;
    token = realloc (token, size);
    assert_non_null (token);
    strcat (token, ".e30");
    s_assert_malformed (token);
    free (token);
    const char *shapes[] = {"", ".", "..", "...", "a.b", "a.b.c.d"};
    for (size_t i = 0; i < sizeof (shapes) / sizeof (shapes[0]); i++)
        s_assert_malformed (shapes[i]);
    s_assert_malformed (NULL);

    //  Padding is not part of JWS base64url, even where it would be right
    char *padded = s_b64url_padded ("{\"alg\":\"RS256\",\"kid\":\"k1\"}");
    assert_non_null (strchr (padded, '='));
    token = s_join (padded, payload, signature);
    s_assert_malformed (token);
    free (token);
    free (padded);

    //  Bad base64url: characters outside the alphabet, padding, bad length
    const char *bad_headers[] = {"eyJhbGciOiJSUzI1NiJ9=", "eyJhbGc*OiJSUzI1NiJ9",
                                 "eyJhbGciOiJSUzI1NiJ9A", "eyJhbGci OiJSUzI1NiJ9",
                                 "eyJhbGciOiJSUzI1NiJ+"};
    for (size_t i = 0; i < sizeof (bad_headers) / sizeof (bad_headers[0]); i++) {
        token = s_join (bad_headers[i], payload, signature);
        s_assert_malformed (token);
        free (token);
    }
    //  In the payload or the signature, the token is refused as well
    char *bad = strdup (payload);
    bad[3] = '/';
    token = s_join (header, bad, signature);
    assert_int_equal (s_verify (token, NULL, 0), PD_E_UNAUTHORIZED);
    free (token);
    free (bad);
    token = s_join (header, payload, "");
    assert_int_equal (s_verify (token, NULL, 0), PD_E_UNAUTHORIZED);
    free (token);
    //  Non-canonical base64url: the last character of a 256-byte signature
    //  carries 4 unused bits, which must be zero
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t sig_length = strlen (signature);
    assert_int_equal (sig_length % 4, 2);
    char *loose = strdup (signature);
    assert_non_null (loose);
    size_t value = (size_t)(strchr (alphabet, loose[sig_length - 1]) - alphabet);
    assert_int_equal (value & 0xF, 0);
    loose[sig_length - 1] = alphabet[value | 1];
    token = s_join (header, payload, loose);
    assert_int_equal (s_verify (token, NULL, 0), PD_E_UNAUTHORIZED);
    free (token);
    free (loose);

    //  Headers that are not a JSON object
    const char *not_objects[] = {"not json", "[\"RS256\"]", "\"RS256\"", "{\"alg\":\"RS256\"",
                                 "{\"alg\":\"none\",\"alg\":\"RS256\",\"kid\":\"k1\"}"};
    for (size_t i = 0; i < sizeof (not_objects) / sizeof (not_objects[0]); i++) {
        char *encoded = s_b64url (not_objects[i]);
        token = s_join (encoded, payload, signature);
        s_assert_malformed (token);
        free (token);
        free (encoded);
    }
    //  A kid that is not a string
    char *encoded = s_b64url ("{\"alg\":\"RS256\",\"kid\":7}");
    token = s_join (encoded, payload, signature);
    s_assert_malformed (token);
    free (token);
    free (encoded);

    //  A validly signed token above the size cap
    json_t *claims = s_claims ();
    char *name = malloc (PD_JWT_MAX_SIZE);
    assert_non_null (name);
    memset (name, 'a', PD_JWT_MAX_SIZE - 1);
    name[PD_JWT_MAX_SIZE - 1] = 0;
    json_object_set_new (claims, "name", json_string (name));
    free (name);
    token = pd_test_jwt_sign (s_fx.rsa, claims, NULL, NULL);
    json_decref (claims);
    assert_non_null (token);
    assert_true (strlen (token) > PD_JWT_MAX_SIZE);
    s_assert_malformed (token);
    free (token);
    //  And a megabyte of garbage
    size = 1 << 20;
    token = malloc (size + 1);
    assert_non_null (token);
    memset (token, 'A', size);
    token[size / 3] = '.';
    token[2 * size / 3] = '.';
    token[size] = 0;
    s_assert_malformed (token);
    free (token);

    free (header);
    free (payload);
    free (signature);
    free (good);
}

//  A JWKS text of these JWKs (consumed)
static pd_jwks_t *
s_jwks_from (json_t *array)
{
    json_t *root = json_pack ("{s:o}", "keys", array);
    assert_non_null (root);
    char *text = json_dumps (root, JSON_COMPACT);
    json_decref (root);
    assert_non_null (text);
    pd_jwks_t *jwks = pd_jwks_new (text, strlen (text));
    free (text);
    return jwks;
}

static void
test_jwks_parsing (void **state)
{
    //  Encryption keys are skipped
    json_t *enc = pd_test_key_jwk (s_fx.rsa);
    assert_non_null (enc);
    json_object_set_new (enc, "use", json_string ("enc"));
    pd_jwks_t *jwks = s_jwks_from (json_pack ("[O]", enc));
    assert_null (jwks);
    jwks = s_jwks_from (json_pack ("[o, o]", enc, pd_test_key_jwk (s_fx.ec)));
    assert_non_null (jwks);
    assert_false (pd_jwks_has (jwks, "k1"));
    assert_true (pd_jwks_has (jwks, "e1"));
    pd_jwks_destroy (&jwks);

    //  As are keys whose key_ops exclude verify
    json_t *ops = pd_test_key_jwk (s_fx.rsa);
    json_object_set_new (ops, "key_ops", json_pack ("[s]", "encrypt"));
    assert_null (s_jwks_from (json_pack ("[o]", ops)));

    //  Unknown key types, including a near miss on a real RSA key
    json_t *lower = pd_test_key_jwk (s_fx.rsa);
    json_object_set_new (lower, "kty", json_string ("rsa"));
    assert_null (s_jwks_from (json_pack ("[o]", lower)));
    json_t *oct = json_pack ("{s:s, s:s, s:s}", "kty", "oct", "kid", "s1", "k", "c2VjcmV0");
    jwks = s_jwks_from (json_pack ("[O, o]", oct, pd_test_key_jwk (s_fx.rsa)));
    assert_non_null (jwks);
    assert_false (pd_jwks_has (jwks, "s1"));
    assert_true (pd_jwks_has (jwks, "k1"));
    pd_jwks_destroy (&jwks);
    assert_null (s_jwks_from (json_pack ("[o]", oct)));

    //  Keys whose alg or curve we do not use, or whose point is off the curve
    json_t *rs384 = pd_test_key_jwk (s_fx.rsa);
    json_object_set_new (rs384, "alg", json_string ("RS384"));
    assert_null (s_jwks_from (json_pack ("[o]", rs384)));
    json_t *p384 = pd_test_key_jwk (s_fx.ec);
    json_object_set_new (p384, "crv", json_string ("P-384"));
    assert_null (s_jwks_from (json_pack ("[o]", p384)));
    json_t *off_curve = pd_test_key_jwk (s_fx.ec);
    char *x = strdup (json_string_value (json_object_get (off_curve, "x")));
    x[5] = x[5] == 'A' ? 'B' : 'A';
    json_object_set_new (off_curve, "x", json_string (x));
    free (x);
    assert_null (s_jwks_from (json_pack ("[o]", off_curve)));
    //  Coordinates with base64 padding
    json_t *padded = pd_test_key_jwk (s_fx.ec);
    char *padded_x = malloc (strlen (json_string_value (json_object_get (padded, "x"))) + 2);
    assert_non_null (padded_x);
    strcpy (padded_x, json_string_value (json_object_get (padded, "x")));
    strcat (padded_x, "=");
    json_object_set_new (padded, "x", json_string (padded_x));
    free (padded_x);
    assert_null (s_jwks_from (json_pack ("[o]", padded)));
    //  An even modulus (clear the lowest bit, carried by the last character)
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    json_t *even = pd_test_key_jwk (s_fx.rsa);
    char *n_even = strdup (json_string_value (json_object_get (even, "n")));
    assert_non_null (n_even);
    size_t n_length = strlen (n_even);
    assert_int_equal (n_length, 342); //  256 bytes: the last character holds 2 bits
    size_t low = (size_t)(strchr (alphabet, n_even[n_length - 1]) - alphabet);
    assert_int_equal (low & 0x10, 0x10); //  a modulus is odd
    n_even[n_length - 1] = alphabet[low & ~(size_t)0x10];
    json_object_set_new (even, "n", json_string (n_even));
    free (n_even);
    assert_null (s_jwks_from (json_pack ("[o]", even)));

    //  An RSA key below 2048 bits
    EVP_PKEY *weak = EVP_PKEY_Q_keygen (NULL, NULL, "RSA", (size_t)1024);
    assert_non_null (weak);
    BIGNUM *n = NULL;
    assert_int_equal (EVP_PKEY_get_bn_param (weak, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    unsigned char n_bytes[128];
    assert_int_equal (BN_bn2binpad (n, n_bytes, sizeof (n_bytes)), sizeof (n_bytes));
    char *n_text = s_b64url_bytes (n_bytes, sizeof (n_bytes));
    json_t *short_n = pd_test_key_jwk (s_fx.rsa);
    json_object_set_new (short_n, "n", json_string (n_text));
    assert_null (s_jwks_from (json_pack ("[o]", short_n)));
    free (n_text);
    BN_free (n);
    EVP_PKEY_free (weak);

    //  Not JSON, no keys
    const char *bad[] = {"{\"keys\":",
                         "",
                         "[]",
                         "{}",
                         "{\"keys\":{}}",
                         "{\"keys\":[]}",
                         "{\"keys\":[1, \"a\", null]}"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
        assert_null (pd_jwks_new (bad[i], strlen (bad[i])));
    assert_null (pd_jwks_new (NULL, 10));

    //  At most PD_JWT_MAX_KEYS keys are kept
    json_t *many = json_array ();
    for (int i = 0; i < PD_JWT_MAX_KEYS + 4; i++) {
        json_t *jwk = pd_test_key_jwk (s_fx.ec);
        char kid[16];
        snprintf (kid, sizeof (kid), "key%d", i);
        json_object_set_new (jwk, "kid", json_string (kid));
        json_array_append_new (many, jwk);
    }
    jwks = s_jwks_from (many);
    assert_non_null (jwks);
    assert_true (pd_jwks_has (jwks, "key0"));
    char last[16];
    snprintf (last, sizeof (last), "key%d", PD_JWT_MAX_KEYS - 1);
    assert_true (pd_jwks_has (jwks, last));
    snprintf (last, sizeof (last), "key%d", PD_JWT_MAX_KEYS);
    assert_false (pd_jwks_has (jwks, last));
    pd_jwks_destroy (&jwks);
}

static void
test_claim_types (void **state)
{
    char detail[128];
    //  A subject is required
    json_t *claims = s_claims ();
    json_object_del (claims, "sub");
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "no valid subject");
    //  Claims we copy must be strings
    claims = s_claims ();
    json_object_set_new (claims, "email", json_integer (1));
    assert_int_equal (s_check (claims, detail, sizeof (detail)), PD_E_UNAUTHORIZED);
    assert_string_equal (detail, "claim of the wrong type");
    //  An unverified email is passed on as such
    claims = s_claims ();
    json_object_set_new (claims, "email_verified", json_false ());
    char *token = pd_test_jwt_sign (s_fx.rsa, claims, NULL, NULL);
    json_decref (claims);
    pd_jwt_expect_t expect = s_expect ();
    pd_jwt_claims_t who;
    assert_int_equal (pd_jwt_verify (token, s_fx.jwks, &expect, &who, NULL, 0), PD_OK);
    assert_false (who.email_verified);
    assert_string_equal (who.email, "ada@example.com");
    pd_jwt_claims_clear (&who);
    free (token);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_verify_rs256_usage),
        cmocka_unit_test (test_verify_es256),
        cmocka_unit_test (test_bad_signature),
        cmocka_unit_test (test_audience),
        cmocka_unit_test (test_issuer),
        cmocka_unit_test (test_microsoft_tenant_issuer),
        cmocka_unit_test (test_nonce),
        cmocka_unit_test (test_expiry),
        cmocka_unit_test (test_issued_in_future),
        cmocka_unit_test (test_not_before),
        cmocka_unit_test (test_alg_none_refused),
        cmocka_unit_test (test_hmac_with_public_key_refused),
        cmocka_unit_test (test_alg_must_match_key),
        cmocka_unit_test (test_unknown_kid_then_refresh),
        cmocka_unit_test (test_malformed_tokens),
        cmocka_unit_test (test_jwks_parsing),
        cmocka_unit_test (test_claim_types),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
