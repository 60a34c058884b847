/*  pd_jwt - verify OpenID Connect ID tokens (JWS compact form) with a JWKS

    Verification follows OIDC Core 3.1.3.7 and RFC 8725: the header's `alg`
    must be one we expect for the key (RS256 for RSA keys, ES256 for P-256
    keys; never `none`, never HS*), the key is chosen by `kid` from the key
    set, the signature is checked with OpenSSL, then the claims: `iss`
    exactly the expected issuer (an expected issuer containing "{tenantid}"
    has it replaced by the token's `tid` claim first, as Microsoft's
    multi-tenant issuer requires), `aud` is or contains the client id, `exp`
    in the future and `iat` not in the future (with a small leeway), `nbf`
    if present, and `nonce` equal to the one we sent.
*/
#ifndef PD_JWT_H_INCLUDED
#define PD_JWT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pd_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PD_JWT_MAX_SIZE 16384 //  bytes of a token we accept
#define PD_JWT_LEEWAY_S 60    //  clock skew allowed on exp/iat/nbf
#define PD_JWT_MAX_KEYS 32    //  keys kept from one JWKS

typedef struct _pd_jwks_t pd_jwks_t;

//  Parse a JWKS document ({"keys":[...]}). Keys with `use` other than
//  "sig", unknown `kty`, or unusable parameters are skipped. NULL if the
//  document is not JSON or has no usable key.
pd_jwks_t *pd_jwks_new (const char *json, size_t size);
void pd_jwks_destroy (pd_jwks_t **self_p);

//  Does the set hold a key with this kid? A token without kid (kid NULL or
//  "") may only use the key of a one-key set (OIDC Core 10.1).
bool pd_jwks_has (pd_jwks_t *self, const char *kid);

//  What we check a token against
typedef struct {
    const char *issuer;   //  exact, or with "{tenantid}"
    const char *audience; //  our client id
    const char *nonce;    //  the nonce we sent (NULL = not checked)
    int64_t now;          //  seconds since the epoch
} pd_jwt_expect_t;

//  The claims partnerd uses (strings malloc'd; clear with pd_jwt_claims_clear)
typedef struct {
    char *iss;
    char *sub;
    char *email;
    bool email_verified;
    char *name;
    char *hd;  //  Google Workspace domain
    char *tid; //  Microsoft tenant id
    char *nonce;
    int64_t exp, iat;
} pd_jwt_claims_t;

void pd_jwt_claims_clear (pd_jwt_claims_t *claims);

//  Read the `kid` of a token's header without verifying anything (to know
//  whether the key set must be refreshed). PD_OK (kid "" when the header has
//  none) or PD_E_UNAUTHORIZED.
int pd_jwt_kid (const char *token, char *kid, size_t kid_size);

//  Verify a token. PD_OK with claims filled; PD_E_NOT_FOUND when no key of
//  the set has the token's kid (the caller refreshes the set and tries
//  once more); PD_E_UNAUTHORIZED for anything else wrong, with a short
//  reason in detail (never the token itself); PD_E_INTERNAL when out of
//  memory. Claims are zeroed unless PD_OK.
int pd_jwt_verify (const char *token, pd_jwks_t *jwks, const pd_jwt_expect_t *expect,
                   pd_jwt_claims_t *claims, char *detail, size_t detail_size);

#ifdef __cplusplus
}
#endif
#endif
