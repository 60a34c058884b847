/*  pd_test_jwt - keys and signed tokens for tests (an identity provider's
    side of pd_jwt): generate RSA-2048 and P-256 keys, publish them as a
    JWKS, sign ID tokens with chosen header and claims. Test code only.
*/
#ifndef PD_TEST_JWT_H_INCLUDED
#define PD_TEST_JWT_H_INCLUDED

#include <jansson.h>

typedef struct _pd_test_key_t pd_test_key_t;

//  A new key: alg "RS256" (RSA 2048) or "ES256" (P-256), with this kid.
pd_test_key_t *pd_test_key_new (const char *alg, const char *kid);
void pd_test_key_destroy (pd_test_key_t **self_p);

//  The public JWK of a key (new reference).
json_t *pd_test_key_jwk (pd_test_key_t *self);

//  A JWKS document {"keys":[...]} with the given keys (count of them), as
//  malloc'd text.
char *pd_test_jwks (pd_test_key_t **keys, size_t count);

//  Sign `claims` (not consumed) as a compact JWS with header
//  {"alg": alg or the key's, "typ":"JWT", "kid": kid or the key's}.
//  Returns malloc'd text.
char *pd_test_jwt_sign (pd_test_key_t *key, json_t *claims, const char *alg, const char *kid);

#endif
