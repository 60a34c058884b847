/*  pd_test_idp - a local OpenID Connect provider for tests, on loopback

    A CivetWeb server on 127.0.0.1 (free port) that behaves like Google or
    Microsoft Entra ID for the authorization code flow:
      GET  <issuer>/.well-known/openid-configuration   discovery document
      GET  /jwks                                       its signing keys
      GET  /authorize?...                              checks client_id,
           redirect_uri, response_type=code, code_challenge_method=S256;
           "signs in" the configured user at once and redirects (302) to
           redirect_uri?code=..&state=..
      POST /token                                      checks grant_type,
           the one-time code, redirect_uri, client_id + client_secret and
           the PKCE verifier against the challenge; answers
           {"access_token","token_type":"Bearer","expires_in","id_token"}
    ID tokens are RS256 (pd_test_jwt) with iss, aud, sub, email,
    email_verified, name, nonce (from /authorize), iat, exp, and `hd`
    (Google style) or `tid` (Microsoft style).

    Google style: issuer = http://127.0.0.1:PORT. Microsoft style: the
    configured issuer is http://127.0.0.1:PORT/common/v2.0, whose discovery
    document says "issuer": "http://127.0.0.1:PORT/{tenantid}/v2.0" and whose
    tokens carry iss = http://127.0.0.1:PORT/<tid>/v2.0, as Entra ID does.
*/
#ifndef PD_TEST_IDP_H_INCLUDED
#define PD_TEST_IDP_H_INCLUDED

#include <stdbool.h>

typedef struct _pd_test_idp_t pd_test_idp_t;

typedef struct {
    const char *style;          //  "google" or "microsoft"
    const char *client_id;
    const char *client_secret;
} pd_test_idp_config_t;

pd_test_idp_t *pd_test_idp_new (const pd_test_idp_config_t *config);
void pd_test_idp_destroy (pd_test_idp_t **self_p);

//  The issuer to configure in partnerd (google_issuer / microsoft_issuer).
const char *pd_test_idp_issuer (pd_test_idp_t *self);

//  Who the next /authorize signs in. hd: Google Workspace domain (NULL =
//  a consumer account, no hd claim); tid: Microsoft tenant id.
void pd_test_idp_set_user (pd_test_idp_t *self, const char *sub, const char *email,
                           const char *name, const char *hd, const char *tid);

//  Sign from now on with a new key (new kid), published in /jwks.
void pd_test_idp_rotate_key (pd_test_idp_t *self);

//  Make the next ID token wrong one way: "bad_signature", "wrong_aud",
//  "wrong_iss", "wrong_nonce", "expired", "alg_none"; NULL = none.
void pd_test_idp_tamper_next (pd_test_idp_t *self, const char *how);

//  How many times /jwks was fetched.
int pd_test_idp_jwks_fetches (pd_test_idp_t *self);

#endif
