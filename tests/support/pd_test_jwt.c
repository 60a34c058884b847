/*  pd_test_jwt - keys and signed tokens for tests (see pd_test_jwt.h)

    pd_test_jwt_sign signs with the key's own algorithm whatever alg the
    header names, so that tests can present a mismatched header, except for
    two algorithms an attacker would use:
      "none"  no signature at all ("header.payload.");
      "HS*"   HMAC-SHA256 keyed with the key's public key (its DER
              SubjectPublicKeyInfo), the classic algorithm confusion attack.
*/
#include "pd_test_jwt.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509.h>

#define S_RSA_BITS         2048
#define S_P256_COORD_BYTES 32

struct _pd_test_key_t {
    char *alg;      //  "RS256" or "ES256"
    char *kid;      //  key id published in the JWK and put in headers
    EVP_PKEY *pkey; //  key pair
};

pd_test_key_t *
pd_test_key_new (const char *alg, const char *kid)
{
    if (!alg || !kid)
        return NULL;
    EVP_PKEY *pkey = NULL;
    if (strcmp (alg, "RS256") == 0)
        pkey = EVP_PKEY_Q_keygen (NULL, NULL, "RSA", (size_t)S_RSA_BITS);
    else if (strcmp (alg, "ES256") == 0)
        pkey = EVP_PKEY_Q_keygen (NULL, NULL, "EC", "P-256");
    if (!pkey)
        return NULL;
    pd_test_key_t *self = calloc (1, sizeof (*self));
    if (self) {
        self->pkey = pkey;
        self->alg = strdup (alg);
        self->kid = strdup (kid);
    }
    if (!self || !self->alg || !self->kid) {
        if (self)
            pd_test_key_destroy (&self);
        else
            EVP_PKEY_free (pkey);
        return NULL;
    }
    return self;
}

void
pd_test_key_destroy (pd_test_key_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pd_test_key_t *self = *self_p;
    EVP_PKEY_free (self->pkey);
    free (self->alg);
    free (self->kid);
    free (self);
    *self_p = NULL;
}

//  base64url without padding of data[0..size), malloc'd
static char *
s_b64url (const uint8_t *data, size_t size)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *text = malloc (size / 3 * 4 + 4 + 1);
    if (!text)
        return NULL;
    size_t length = 0;
    uint32_t bits = 0;
    int nbits = 0;
    for (size_t i = 0; i < size; i++) {
        bits = (bits << 8) | data[i];
        nbits += 8;
        while (nbits >= 6) {
            nbits -= 6;
            text[length++] = alphabet[(bits >> nbits) & 0x3F];
        }
    }
    if (nbits > 0)
        text[length++] = alphabet[(bits << (6 - nbits)) & 0x3F];
    text[length] = 0;
    return text;
}

//  A BIGNUM parameter of the key as base64url of exactly `pad` bytes, or of
//  its minimal big-endian bytes when pad is 0
static char *
s_bn_param_b64url (EVP_PKEY *pkey, const char *name, int pad)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param (pkey, name, &bn) != 1)
        return NULL;
    char *text = NULL;
    int size = pad ? pad : BN_num_bytes (bn);
    uint8_t *bytes = malloc ((size_t)size + 1);
    if (bytes && BN_bn2binpad (bn, bytes, size) == size)
        text = s_b64url (bytes, (size_t)size);
    free (bytes);
    BN_free (bn);
    return text;
}

json_t *
pd_test_key_jwk (pd_test_key_t *self)
{
    if (!self)
        return NULL;
    bool rsa = strcmp (self->alg, "RS256") == 0;
    const char *names[2] = {rsa ? "n" : "x", rsa ? "e" : "y"};
    char *values[2];
    if (rsa) {
        values[0] = s_bn_param_b64url (self->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        values[1] = s_bn_param_b64url (self->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
    } else {
        values[0] = s_bn_param_b64url (self->pkey, OSSL_PKEY_PARAM_EC_PUB_X, S_P256_COORD_BYTES);
        values[1] = s_bn_param_b64url (self->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, S_P256_COORD_BYTES);
    }
    json_t *jwk = NULL;
    if (values[0] && values[1]) {
        jwk = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", rsa ? "RSA" : "EC", "kid",
                         self->kid, "use", "sig", "alg", self->alg, names[0], values[0], names[1],
                         values[1]);
        if (jwk && !rsa && json_object_set_new (jwk, "crv", json_string ("P-256")) != 0) {
            json_decref (jwk);
            jwk = NULL;
        }
    }
    free (values[0]);
    free (values[1]);
    return jwk;
}

char *
pd_test_jwks (pd_test_key_t **keys, size_t count)
{
    json_t *array = json_array ();
    if (!array)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        json_t *jwk = pd_test_key_jwk (keys[i]);
        if (!jwk || json_array_append_new (array, jwk) != 0) {
            json_decref (array);
            return NULL;
        }
    }
    json_t *root = json_pack ("{s:o}", "keys", array);
    if (!root)
        return NULL;
    char *text = json_dumps (root, JSON_COMPACT);
    json_decref (root);
    return text;
}

//  JSON of a value as base64url, malloc'd
static char *
s_json_b64url (json_t *value)
{
    char *json = json_dumps (value, JSON_COMPACT);
    if (!json)
        return NULL;
    char *text = s_b64url ((const uint8_t *)json, strlen (json));
    free (json);
    return text;
}

//  Sign with the key's own algorithm: PKCS#1 v1.5 SHA-256 for RSA, or
//  ECDSA P-256 SHA-256 as r || s. Returns malloc'd bytes.
static uint8_t *
s_sign_own (pd_test_key_t *self, const char *input, size_t *size_p)
{
    uint8_t *sig = NULL, *raw = NULL;
    size_t size = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
    if (!ctx || EVP_DigestSignInit_ex (ctx, NULL, "SHA256", NULL, NULL, self->pkey, NULL) != 1 ||
        EVP_DigestSign (ctx, NULL, &size, (const uint8_t *)input, strlen (input)) != 1)
        goto cleanup;
    sig = malloc (size);
    if (!sig || EVP_DigestSign (ctx, sig, &size, (const uint8_t *)input, strlen (input)) != 1)
        goto cleanup;
    if (strcmp (self->alg, "RS256") == 0) {
        raw = sig, sig = NULL;
        *size_p = size;
        goto cleanup;
    }
    //  DER ECDSA-Sig-Value to the JWS form r || s, each left-padded
    const uint8_t *cursor = sig;
    ECDSA_SIG *ecdsa = d2i_ECDSA_SIG (NULL, &cursor, (long)size);
    if (!ecdsa)
        goto cleanup;
    raw = malloc (2 * S_P256_COORD_BYTES);
    if (!raw ||
        BN_bn2binpad (ECDSA_SIG_get0_r (ecdsa), raw, S_P256_COORD_BYTES) != S_P256_COORD_BYTES ||
        BN_bn2binpad (ECDSA_SIG_get0_s (ecdsa), raw + S_P256_COORD_BYTES, S_P256_COORD_BYTES) !=
            S_P256_COORD_BYTES) {
        free (raw);
        raw = NULL;
    } else
        *size_p = 2 * S_P256_COORD_BYTES;
    ECDSA_SIG_free (ecdsa);
cleanup:
    free (sig);
    EVP_MD_CTX_free (ctx);
    return raw;
}

//  HMAC-SHA256 keyed with the DER public key (algorithm confusion)
static uint8_t *
s_sign_hmac_with_public_key (pd_test_key_t *self, const char *input, size_t *size_p)
{
    uint8_t *der = NULL;
    int der_size = i2d_PUBKEY (self->pkey, &der);
    if (der_size <= 0)
        return NULL;
    uint8_t *mac = malloc (EVP_MAX_MD_SIZE);
    unsigned int mac_size = 0;
    if (mac && !HMAC (EVP_sha256 (), der, der_size, (const uint8_t *)input, strlen (input), mac,
                      &mac_size)) {
        free (mac);
        mac = NULL;
    }
    *size_p = mac_size;
    OPENSSL_free (der);
    return mac;
}

char *
pd_test_jwt_sign (pd_test_key_t *key, json_t *claims, const char *alg, const char *kid)
{
    if (!key || !claims)
        return NULL;
    alg = alg ? alg : key->alg;
    kid = kid ? kid : key->kid;
    char *token = NULL, *header64 = NULL, *payload64 = NULL, *input = NULL, *sig64 = NULL;
    uint8_t *sig = NULL;
    json_t *header = json_pack ("{s:s, s:s, s:s}", "alg", alg, "typ", "JWT", "kid", kid);
    if (!header)
        return NULL;
    header64 = s_json_b64url (header);
    payload64 = s_json_b64url (claims);
    if (!header64 || !payload64)
        goto cleanup;
    size_t input_size = strlen (header64) + 1 + strlen (payload64) + 1;
    input = malloc (input_size);
    if (!input)
        goto cleanup;
    snprintf (input, input_size, "%s.%s", header64, payload64);

    size_t sig_size = 0;
    if (strcmp (alg, "none") == 0)
        sig = calloc (1, 1);
    else if (strncmp (alg, "HS", 2) == 0)
        sig = s_sign_hmac_with_public_key (key, input, &sig_size);
    else
        sig = s_sign_own (key, input, &sig_size);
    if (!sig || !(sig64 = s_b64url (sig, sig_size)))
        goto cleanup;
    size_t token_size = input_size + 1 + strlen (sig64);
    token = malloc (token_size);
    if (token)
        snprintf (token, token_size, "%s.%s", input, sig64);
cleanup:
    json_decref (header);
    free (header64);
    free (payload64);
    free (input);
    free (sig);
    free (sig64);
    return token;
}
