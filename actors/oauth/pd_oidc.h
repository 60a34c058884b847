/*  pd_oidc - an OpenID Connect relying party for one provider

    Authorization code flow with PKCE (S256), state and nonce (RFC 9700).
    Fetches the provider's discovery document (issuer +
    /.well-known/openid-configuration) and JWKS with libcurl and caches
    them; a token whose kid is unknown makes it fetch the JWKS again (at
    most once per PD_OIDC_JWKS_MIN_REFRESH_S). Exchanges the code at the
    token endpoint (client_secret_post) and verifies the ID token with
    pd_jwt.

    Outbound calls: https only, no redirects followed, time-out and a
    response size cap, and the connected address checked at connect time:
    loopback, private, link-local, CGNAT and IPv4-mapped addresses are
    refused unless config->allow_insecure is set (then http:// and any
    address are allowed: for local test providers only).

    An object belongs to one thread (each oauth actor thread has its own).
*/
#ifndef PD_OIDC_H_INCLUDED
#define PD_OIDC_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pd_jwt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PD_OIDC_MAX_RESPONSE       (256 * 1024) //  bytes of any provider response
#define PD_OIDC_JWKS_MIN_REFRESH_S 60
#define PD_OIDC_VERIFIER_LEN       64 //  PKCE code verifier characters
#define PD_OIDC_SCOPES             "openid email profile"

typedef struct _pd_oidc_t pd_oidc_t;

typedef struct {
    const char *issuer; //  e.g. https://accounts.google.com
    const char *client_id;
    const char *client_secret;
    const char *redirect_uri; //  public_url + /api/partner-auth/callback
    bool allow_insecure;
    int timeout_ms;
} pd_oidc_config_t;

//  Copies the configuration; fetches nothing yet.
pd_oidc_t *pd_oidc_new (const pd_oidc_config_t *config);
void pd_oidc_destroy (pd_oidc_t **self_p);

//  A random PKCE code verifier (PD_OIDC_VERIFIER_LEN unreserved chars) into
//  buf (size > PD_OIDC_VERIFIER_LEN). PD_OK or PD_E_INTERNAL.
int pd_oidc_verifier (char *buf, size_t size);

//  The authorization URL to send the browser to (malloc'd into *url):
//  response_type=code, client_id, redirect_uri, scope, state, nonce,
//  code_challenge=BASE64URL(SHA256(verifier)), code_challenge_method=S256.
//  Fetches discovery if not cached. PD_OK, PD_E_UNAVAILABLE (provider
//  unreachable or its document invalid), PD_E_BAD_REQUEST (verifier not
//  43..128 unreserved characters, RFC 7636 4.1).
int pd_oidc_authorize_url (pd_oidc_t *self, const char *state, const char *nonce,
                           const char *verifier, char **url);

//  Exchange an authorization code and verify the ID token it brings (nonce,
//  issuer, audience, expiry ...). PD_OK with claims; PD_E_UNAUTHORIZED if
//  the provider refused the code or the token does not verify;
//  PD_E_UNAVAILABLE if the provider could not be reached. detail gets a
//  short reason (never a secret): the provider's `error` code (e.g.
//  "invalid_grant") when it refused the code. now_s is also the clock of
//  the JWKS refresh limit. claims are overwritten: pass them empty or cleared.
int pd_oidc_exchange (pd_oidc_t *self, const char *code, const char *verifier, const char *nonce,
                      int64_t now_s, pd_jwt_claims_t *claims, char *detail, size_t detail_size);

#ifdef __cplusplus
}
#endif
#endif
