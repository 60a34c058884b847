/*  pd_jwt - verify OpenID Connect ID tokens with a JWKS (see pd_jwt.h)

    A token is checked in this order, and the payload is parsed only once
    its signature is good:
      1. shape: at most PD_JWT_MAX_SIZE bytes, three base64url segments;
      2. header: JSON object, `alg` RS256 or ES256 only, no `crit`;
      3. key: by `kid` (a token without `kid` may use the only key of a
         one-key set, OIDC Core 10.1), whose type must match `alg`;
      4. signature, with OpenSSL;
      5. claims: iss, aud (and azp when present), exp, iat, nbf, nonce.
    Nothing here logs: the caller logs the short reason once.
*/
#include "pd_jwt.h"
#include "pd_json.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#define S_KID_MAX            256    //  bytes of a kid we keep or accept
#define S_JWKS_MAX_SIZE      262144 //  bytes of a JWKS document we parse
#define S_JSON_MAX_DEPTH     8      //  nesting of a JWKS, JOSE header or claim set we parse
#define S_RSA_MIN_BITS       2048   //  RFC 7518 3.3
#define S_RSA_MAX_BITS       8192   //  bounds the cost of one verification
#define S_RSA_E_MAX_BYTES    8      //  public exponents are small
#define S_P256_COORD_BYTES   32     //  size of x, y, r and s on P-256
#define S_SUB_MAX            255    //  OIDC Core 2: sub is at most 255 ASCII chars
#define S_TID_MAX            64     //  a Microsoft tenant id is a GUID
#define S_TENANT_PLACEHOLDER "{tenantid}"
//  NumericDate reals beyond this do not fit an int64_t
#define S_TIME_REAL_LIMIT 9.0e18

typedef enum { S_KTY_RSA, S_KTY_EC } s_kty_t;

typedef struct {
    char *kid;      //  the key's kid, NULL if the JWK had none
    s_kty_t kty;    //  key type, which fixes the one alg it verifies
    EVP_PKEY *pkey; //  public key
} s_key_t;

struct _pd_jwks_t {
    s_key_t keys[PD_JWT_MAX_KEYS]; //  usable keys, in document order
    size_t count;                  //  how many of keys are set
};

//  The three segments of a compact JWS, as offsets into the token
typedef struct {
    const char *text;     //  the token
    size_t header_size;   //  header is text[0 .. header_size)
    size_t payload_start; //  payload is text[payload_start .. +payload_size)
    size_t payload_size;
    size_t signature_start; //  signature is text[signature_start .. +signature_size)
    size_t signature_size;
} s_parts_t;

//  Write a short reason (never any part of the token) and refuse
static int
s_refuse (char *detail, size_t detail_size, const char *reason)
{
    if (detail && detail_size > 0)
        snprintf (detail, detail_size, "%s", reason);
    return PD_E_UNAUTHORIZED;
}

//  --------------------------------------------------------------------------
//  base64url (RFC 4648 section 5) without padding, as JWS uses it

static int
s_b64url_value (char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

//  Decode text[0..length) strictly: only the base64url alphabet, no padding,
//  no impossible length, unused trailing bits zero (one encoding per value).
//  Returns a malloc'd buffer (NUL-terminated for convenience, caller frees)
//  and its size, or NULL.
static uint8_t *
s_b64url_decode (const char *text, size_t length, size_t *size_p)
{
    if (length % 4 == 1)
        return NULL;
    size_t size = length / 4 * 3 + (length % 4 ? length % 4 - 1 : 0);
    uint8_t *out = malloc (size + 1);
    if (!out)
        return NULL;
    uint32_t bits = 0;
    int nbits = 0;
    size_t filled = 0;
    for (size_t i = 0; i < length; i++) {
        int value = s_b64url_value (text[i]);
        if (value < 0) {
            free (out);
            return NULL;
        }
        bits = (bits << 6) | (uint32_t)value;
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            out[filled++] = (uint8_t)(bits >> nbits);
            bits &= (1u << nbits) - 1;
        }
    }
    if (bits != 0) { //  non-zero unused bits: not the canonical encoding
        free (out);
        return NULL;
    }
    out[filled] = 0;
    *size_p = filled;
    return out;
}

//  Decode a base64url JSON string member of a JWK, expecting at most
//  max_size bytes. NULL if absent, not a string, invalid or too long.
static uint8_t *
s_jwk_bytes (json_t *jwk, const char *name, size_t max_size, size_t *size_p)
{
    json_t *member = json_object_get (jwk, name);
    if (!json_is_string (member))
        return NULL;
    size_t length = json_string_length (member);
    if (length == 0 || length > (max_size + 2) / 3 * 4)
        return NULL;
    uint8_t *bytes = s_b64url_decode (json_string_value (member), length, size_p);
    if (bytes && *size_p > max_size) {
        free (bytes);
        return NULL;
    }
    return bytes;
}

//  --------------------------------------------------------------------------
//  JWKS

//  Build an EVP_PKEY from parameters; NULL if OpenSSL refuses them or the
//  result fails OpenSSL's public key checks (RSA modulus shape, EC point on
//  the curve).
static EVP_PKEY *
s_pkey_from_params (const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param (bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name (NULL, type, NULL);
    if (params && ctx && EVP_PKEY_fromdata_init (ctx) == 1)
        if (EVP_PKEY_fromdata (ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
            pkey = NULL;
    EVP_PKEY_CTX_free (ctx);
    OSSL_PARAM_free (params);
    if (pkey) {
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey (NULL, pkey, NULL);
        if (!check || EVP_PKEY_public_check (check) != 1) {
            EVP_PKEY_free (pkey);
            pkey = NULL;
        }
        EVP_PKEY_CTX_free (check);
    }
    return pkey;
}

//  RSA JWK: n and e (RFC 7518 6.3.1)
static EVP_PKEY *
s_rsa_from_jwk (json_t *jwk)
{
    EVP_PKEY *pkey = NULL;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    size_t n_size, e_size;
    //  A modulus may carry one leading zero octet from careless encoders
    uint8_t *n_bytes = s_jwk_bytes (jwk, "n", S_RSA_MAX_BITS / 8 + 1, &n_size);
    uint8_t *e_bytes = s_jwk_bytes (jwk, "e", S_RSA_E_MAX_BYTES, &e_size);
    if (!n_bytes || !e_bytes)
        goto cleanup;
    n = BN_bin2bn (n_bytes, (int)n_size, NULL);
    e = BN_bin2bn (e_bytes, (int)e_size, NULL);
    if (!n || !e)
        goto cleanup;
    if (BN_num_bits (n) < S_RSA_MIN_BITS || BN_num_bits (n) > S_RSA_MAX_BITS)
        goto cleanup;
    bld = OSSL_PARAM_BLD_new ();
    if (!bld || !OSSL_PARAM_BLD_push_BN (bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN (bld, OSSL_PKEY_PARAM_RSA_E, e))
        goto cleanup;
    pkey = s_pkey_from_params ("RSA", bld);
cleanup:
    OSSL_PARAM_BLD_free (bld);
    BN_free (n);
    BN_free (e);
    free (n_bytes);
    free (e_bytes);
    return pkey;
}

//  EC JWK: crv P-256, x and y (RFC 7518 6.2.1)
static EVP_PKEY *
s_ec_from_jwk (json_t *jwk)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    const char *crv = json_string_value (json_object_get (jwk, "crv"));
    if (!crv || strcmp (crv, "P-256") != 0)
        return NULL;
    size_t x_size, y_size;
    uint8_t *x = s_jwk_bytes (jwk, "x", S_P256_COORD_BYTES, &x_size);
    uint8_t *y = s_jwk_bytes (jwk, "y", S_P256_COORD_BYTES, &y_size);
    if (!x || !y || x_size != S_P256_COORD_BYTES || y_size != S_P256_COORD_BYTES)
        goto cleanup;
    //  Uncompressed point: 0x04 || x || y
    uint8_t point[1 + 2 * S_P256_COORD_BYTES];
    point[0] = POINT_CONVERSION_UNCOMPRESSED;
    memcpy (point + 1, x, S_P256_COORD_BYTES);
    memcpy (point + 1 + S_P256_COORD_BYTES, y, S_P256_COORD_BYTES);
    bld = OSSL_PARAM_BLD_new ();
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string (bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) ||
        !OSSL_PARAM_BLD_push_octet_string (bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof (point)))
        goto cleanup;
    pkey = s_pkey_from_params ("EC", bld);
cleanup:
    OSSL_PARAM_BLD_free (bld);
    free (x);
    free (y);
    return pkey;
}

//  Is this JWK meant for verifying signatures (`use`, `key_ops`)?
static bool
s_jwk_for_signatures (json_t *jwk)
{
    json_t *use = json_object_get (jwk, "use");
    if (use && (!json_is_string (use) || strcmp (json_string_value (use), "sig") != 0))
        return false;
    json_t *ops = json_object_get (jwk, "key_ops");
    if (ops) {
        if (!json_is_array (ops))
            return false;
        size_t index;
        json_t *op;
        json_array_foreach (ops, index, op)
        {
            if (json_is_string (op) && strcmp (json_string_value (op), "verify") == 0)
                return true;
        }
        return false;
    }
    return true;
}

//  Add the key of one JWK to the set if it is one we can use; skip it if not
static void
s_jwks_add (pd_jwks_t *self, json_t *jwk)
{
    if (!json_is_object (jwk) || !s_jwk_for_signatures (jwk))
        return;
    const char *kty = json_string_value (json_object_get (jwk, "kty"));
    if (!kty)
        return;
    s_key_t key = {0};
    const char *expected_alg;
    if (strcmp (kty, "RSA") == 0) {
        key.kty = S_KTY_RSA;
        expected_alg = "RS256";
    } else if (strcmp (kty, "EC") == 0) {
        key.kty = S_KTY_EC;
        expected_alg = "ES256";
    } else
        return;
    //  A JWK that names its alg must name the one we would use with it
    json_t *alg = json_object_get (jwk, "alg");
    if (alg && (!json_is_string (alg) || strcmp (json_string_value (alg), expected_alg) != 0))
        return;
    json_t *kid = json_object_get (jwk, "kid");
    if (kid) {
        if (!json_is_string (kid) || json_string_length (kid) == 0 ||
            json_string_length (kid) >= S_KID_MAX)
            return;
        key.kid = strdup (json_string_value (kid));
        if (!key.kid)
            return;
    }
    key.pkey = key.kty == S_KTY_RSA ? s_rsa_from_jwk (jwk) : s_ec_from_jwk (jwk);
    if (!key.pkey) {
        free (key.kid);
        return;
    }
    self->keys[self->count++] = key;
}

pd_jwks_t *
pd_jwks_new (const char *json, size_t size)
{
    if (!json || size == 0 || size > S_JWKS_MAX_SIZE)
        return NULL;
    json_t *root = pd_json_load (json, size, S_JSON_MAX_DEPTH, JSON_REJECT_DUPLICATES, NULL);
    json_t *keys = json_object_get (root, "keys");
    if (!json_is_array (keys)) {
        json_decref (root);
        return NULL;
    }
    pd_jwks_t *self = calloc (1, sizeof (*self));
    if (self) {
        size_t index;
        json_t *jwk;
        json_array_foreach (keys, index, jwk)
        {
            if (self->count == PD_JWT_MAX_KEYS)
                break;
            s_jwks_add (self, jwk);
        }
    }
    json_decref (root);
    if (self && self->count == 0)
        pd_jwks_destroy (&self);
    return self;
}

void
pd_jwks_destroy (pd_jwks_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pd_jwks_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        free (self->keys[i].kid);
        EVP_PKEY_free (self->keys[i].pkey);
    }
    free (self);
    *self_p = NULL;
}

//  Is this key the one a token with this kid names? A token without kid
//  (NULL or "") names the only key of a one-key set.
static bool
s_key_named (pd_jwks_t *self, size_t index, const char *kid)
{
    if (!kid || !*kid)
        return self->count == 1;
    return self->keys[index].kid && strcmp (self->keys[index].kid, kid) == 0;
}

bool
pd_jwks_has (pd_jwks_t *self, const char *kid)
{
    if (!self)
        return false;
    for (size_t i = 0; i < self->count; i++)
        if (s_key_named (self, i, kid))
            return true;
    return false;
}

//  --------------------------------------------------------------------------
//  Token shape and header

//  Split a token into its three segments, each of base64url characters
static bool
s_split (const char *token, s_parts_t *parts)
{
    if (!token)
        return false;
    size_t length = strnlen (token, PD_JWT_MAX_SIZE + 1);
    if (length > PD_JWT_MAX_SIZE)
        return false;
    size_t dots[2];
    size_t ndots = 0;
    for (size_t i = 0; i < length; i++) {
        if (token[i] == '.') {
            if (ndots == 2)
                return false;
            dots[ndots++] = i;
        } else if (s_b64url_value (token[i]) < 0)
            return false;
    }
    if (ndots != 2)
        return false;
    parts->text = token;
    parts->header_size = dots[0];
    parts->payload_start = dots[0] + 1;
    parts->payload_size = dots[1] - dots[0] - 1;
    parts->signature_start = dots[1] + 1;
    parts->signature_size = length - dots[1] - 1;
    return parts->header_size > 0 && parts->payload_size > 0;
}

//  Decode and parse one segment as a JSON object (new reference) or NULL
static json_t *
s_segment_json (const char *text, size_t length)
{
    size_t size;
    uint8_t *bytes = s_b64url_decode (text, length, &size);
    if (!bytes)
        return NULL;
    json_t *object =
        pd_json_load ((const char *)bytes, size, S_JSON_MAX_DEPTH, JSON_REJECT_DUPLICATES, NULL);
    free (bytes);
    if (object && !json_is_object (object)) {
        json_decref (object);
        return NULL;
    }
    return object;
}

//  The header's kid: PD_OK with *kid_p NULL when absent, or
//  PD_E_UNAUTHORIZED when it is not a reasonable string
static int
s_header_kid (json_t *header, const char **kid_p)
{
    json_t *kid = json_object_get (header, "kid");
    *kid_p = NULL;
    if (!kid)
        return PD_OK;
    if (!json_is_string (kid) || json_string_length (kid) == 0 ||
        json_string_length (kid) >= S_KID_MAX)
        return PD_E_UNAUTHORIZED;
    *kid_p = json_string_value (kid);
    return PD_OK;
}

int
pd_jwt_kid (const char *token, char *kid, size_t kid_size)
{
    if (!kid || kid_size == 0)
        return PD_E_UNAUTHORIZED;
    *kid = 0;
    s_parts_t parts;
    if (!s_split (token, &parts))
        return PD_E_UNAUTHORIZED;
    json_t *header = s_segment_json (parts.text, parts.header_size);
    if (!header)
        return PD_E_UNAUTHORIZED;
    const char *value;
    int rc = s_header_kid (header, &value);
    if (rc == PD_OK && value) {
        if (strlen (value) < kid_size)
            memcpy (kid, value, strlen (value) + 1);
        else
            rc = PD_E_UNAUTHORIZED;
    }
    json_decref (header);
    return rc;
}

//  --------------------------------------------------------------------------
//  Signature

//  JWS ES256 signatures are r || s (RFC 7518 3.4); OpenSSL wants DER.
//  Returns a DER buffer (OPENSSL_free) or NULL.
static uint8_t *
s_es256_to_der (const uint8_t *raw, size_t raw_size, size_t *der_size)
{
    if (raw_size != 2 * S_P256_COORD_BYTES)
        return NULL;
    uint8_t *der = NULL;
    ECDSA_SIG *sig = ECDSA_SIG_new ();
    BIGNUM *r = BN_bin2bn (raw, S_P256_COORD_BYTES, NULL);
    BIGNUM *s = BN_bin2bn (raw + S_P256_COORD_BYTES, S_P256_COORD_BYTES, NULL);
    if (sig && r && s && ECDSA_SIG_set0 (sig, r, s) == 1) {
        r = s = NULL; //  now owned by sig
        int size = i2d_ECDSA_SIG (sig, &der);
        if (size > 0)
            *der_size = (size_t)size;
        else
            der = NULL;
    }
    BN_free (r);
    BN_free (s);
    ECDSA_SIG_free (sig);
    return der;
}

//  Check the signature over header.payload with the key. PD_OK,
//  PD_E_UNAUTHORIZED for a bad signature, PD_E_INTERNAL when out of memory.
static int
s_verify_signature (const s_parts_t *parts, const s_key_t *key)
{
    size_t sig_size;
    uint8_t *sig =
        s_b64url_decode (parts->text + parts->signature_start, parts->signature_size, &sig_size);
    if (!sig)
        return PD_E_UNAUTHORIZED;
    int rc = PD_E_UNAUTHORIZED;
    uint8_t *der = NULL;
    const uint8_t *to_check = sig;
    size_t to_check_size = sig_size;
    EVP_MD_CTX *ctx = NULL;
    if (key->kty == S_KTY_EC) {
        der = s_es256_to_der (sig, sig_size, &to_check_size);
        if (!der)
            goto cleanup;
        to_check = der;
    } else if (sig_size != (size_t)EVP_PKEY_get_size (key->pkey))
        goto cleanup;

    ctx = EVP_MD_CTX_new ();
    if (!ctx) {
        rc = PD_E_INTERNAL;
        goto cleanup;
    }
    //  RSA keys default to PKCS#1 v1.5 padding, which is what RS256 is
    if (EVP_DigestVerifyInit_ex (ctx, NULL, "SHA256", NULL, NULL, key->pkey, NULL) != 1)
        goto cleanup;
    //  The signed input is the encoded header '.' encoded payload
    size_t signed_size = parts->signature_start - 1;
    if (EVP_DigestVerify (ctx, to_check, to_check_size, (const uint8_t *)parts->text,
                          signed_size) == 1)
        rc = PD_OK;
cleanup:
    EVP_MD_CTX_free (ctx);
    OPENSSL_free (der);
    free (sig);
    return rc;
}

//  --------------------------------------------------------------------------
//  Claims

//  Copy an optional string claim. 0 when copied or absent (or JSON null),
//  -1 when of another type, -2 when out of memory.
static int
s_claim_string (json_t *payload, const char *name, char **out)
{
    json_t *value = json_object_get (payload, name);
    if (!value || json_is_null (value))
        return 0;
    if (!json_is_string (value))
        return -1;
    *out = strdup (json_string_value (value));
    return *out ? 0 : -2;
}

//  A NumericDate claim (RFC 7519 2). 1 when present and read, 0 when absent,
//  -1 when not a usable number.
static int
s_claim_time (json_t *payload, const char *name, int64_t *out)
{
    json_t *value = json_object_get (payload, name);
    if (!value)
        return 0;
    if (json_is_integer (value)) {
        *out = (int64_t)json_integer_value (value);
        return 1;
    }
    if (json_is_real (value)) {
        double real = json_real_value (value);
        if (!isfinite (real) || real <= -S_TIME_REAL_LIMIT || real >= S_TIME_REAL_LIMIT)
            return -1;
        *out = (int64_t)real; //  whole seconds are enough
        return 1;
    }
    return -1;
}

//  Does iss equal the expected issuer, with its "{tenantid}" (if any)
//  replaced by tid?
static bool
s_issuer_matches (const char *iss, const char *expected, const char *tid)
{
    const char *placeholder = strstr (expected, S_TENANT_PLACEHOLDER);
    if (!placeholder)
        return strcmp (iss, expected) == 0;
    if (!tid || !*tid)
        return false;
    size_t prefix = (size_t)(placeholder - expected);
    const char *suffix = placeholder + strlen (S_TENANT_PLACEHOLDER);
    size_t tid_length = strlen (tid);
    return strlen (iss) == prefix + tid_length + strlen (suffix) &&
           memcmp (iss, expected, prefix) == 0 && memcmp (iss + prefix, tid, tid_length) == 0 &&
           strcmp (iss + prefix + tid_length, suffix) == 0;
}

//  A tenant id we are willing to put in an issuer: a short run of letters,
//  digits and dashes (Microsoft's are GUIDs)
static bool
s_valid_tid (const char *tid)
{
    size_t length = strlen (tid);
    if (length == 0 || length > S_TID_MAX)
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = tid[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-'))
            return false;
    }
    return true;
}

//  Is the audience the string, or one of the strings of the array?
static bool
s_audience_matches (json_t *aud, const char *audience)
{
    if (json_is_string (aud))
        return strcmp (json_string_value (aud), audience) == 0;
    if (!json_is_array (aud))
        return false;
    bool found = false;
    size_t index;
    json_t *entry;
    json_array_foreach (aud, index, entry)
    {
        if (!json_is_string (entry))
            return false; //  a malformed audience list is refused whole
        if (strcmp (json_string_value (entry), audience) == 0)
            found = true;
    }
    return found;
}

//  Check the claims of a verified payload and copy those we use
static int
s_check_claims (json_t *payload, const pd_jwt_expect_t *expect, pd_jwt_claims_t *claims,
                char *detail, size_t detail_size)
{
    //  Copy first: the checks below read the copies
    const char *names[] = {"iss", "sub", "email", "name", "hd", "tid", "nonce"};
    char **fields[] = {&claims->iss, &claims->sub, &claims->email, &claims->name,
                       &claims->hd,  &claims->tid, &claims->nonce};
    for (size_t i = 0; i < sizeof (names) / sizeof (names[0]); i++) {
        int rc = s_claim_string (payload, names[i], fields[i]);
        if (rc == -2)
            return PD_E_INTERNAL;
        if (rc < 0)
            return s_refuse (detail, detail_size, "claim of the wrong type");
    }
    json_t *verified = json_object_get (payload, "email_verified");
    //  Some providers have sent the boolean as a string
    claims->email_verified =
        json_is_true (verified) ||
        (json_is_string (verified) && strcmp (json_string_value (verified), "true") == 0);

    if (!claims->iss)
        return s_refuse (detail, detail_size, "no issuer");
    if (strstr (expect->issuer, S_TENANT_PLACEHOLDER) &&
        (!claims->tid || !s_valid_tid (claims->tid)))
        return s_refuse (detail, detail_size, "no valid tenant id");
    if (!s_issuer_matches (claims->iss, expect->issuer, claims->tid))
        return s_refuse (detail, detail_size, "issuer mismatch");

    if (!s_audience_matches (json_object_get (payload, "aud"), expect->audience))
        return s_refuse (detail, detail_size, "audience mismatch");
    //  OIDC Core 3.1.3.7: an authorized party, when named, must be us
    json_t *azp = json_object_get (payload, "azp");
    if (azp && (!json_is_string (azp) || strcmp (json_string_value (azp), expect->audience) != 0))
        return s_refuse (detail, detail_size, "authorized party mismatch");

    if (!claims->sub || !*claims->sub || strlen (claims->sub) > S_SUB_MAX)
        return s_refuse (detail, detail_size, "no valid subject");

    if (s_claim_time (payload, "exp", &claims->exp) != 1)
        return s_refuse (detail, detail_size, "no valid exp");
    if (claims->exp <= expect->now - PD_JWT_LEEWAY_S)
        return s_refuse (detail, detail_size, "expired");
    if (s_claim_time (payload, "iat", &claims->iat) != 1)
        return s_refuse (detail, detail_size, "no valid iat");
    if (claims->iat > expect->now + PD_JWT_LEEWAY_S)
        return s_refuse (detail, detail_size, "issued in the future");
    int64_t nbf;
    int has_nbf = s_claim_time (payload, "nbf", &nbf);
    if (has_nbf < 0)
        return s_refuse (detail, detail_size, "no valid nbf");
    if (has_nbf == 1 && nbf > expect->now + PD_JWT_LEEWAY_S)
        return s_refuse (detail, detail_size, "not yet valid");

    if (expect->nonce && (!claims->nonce || strcmp (claims->nonce, expect->nonce) != 0))
        return s_refuse (detail, detail_size, "nonce mismatch");
    return PD_OK;
}

//  --------------------------------------------------------------------------
//  Verification

//  Find the key a header names, for its alg. PD_OK with *key_p,
//  PD_E_NOT_FOUND when no key has the kid, PD_E_UNAUTHORIZED otherwise.
static int
s_select_key (pd_jwks_t *jwks, json_t *header, const s_key_t **key_p, char *detail,
              size_t detail_size)
{
    const char *alg = json_string_value (json_object_get (header, "alg"));
    s_kty_t kty;
    if (alg && strcmp (alg, "RS256") == 0)
        kty = S_KTY_RSA;
    else if (alg && strcmp (alg, "ES256") == 0)
        kty = S_KTY_EC;
    else //  none, HS*, anything else, or no alg at all
        return s_refuse (detail, detail_size, "alg not allowed");
    //  We understand no header extension (RFC 7515 4.1.11)
    if (json_object_get (header, "crit"))
        return s_refuse (detail, detail_size, "critical header not understood");
    const char *kid;
    if (s_header_kid (header, &kid) != PD_OK)
        return s_refuse (detail, detail_size, "malformed kid");
    if (!kid && (!jwks || jwks->count != 1))
        return s_refuse (detail, detail_size, "no kid");

    bool named = false;
    for (size_t i = 0; jwks && i < jwks->count; i++) {
        if (!s_key_named (jwks, i, kid))
            continue;
        named = true;
        if (jwks->keys[i].kty == kty) {
            *key_p = &jwks->keys[i];
            return PD_OK;
        }
    }
    if (named) //  algorithm confusion: the header's alg is not the key's
        return s_refuse (detail, detail_size, "alg does not match key");
    if (detail && detail_size > 0)
        snprintf (detail, detail_size, "%s", "unknown kid");
    return PD_E_NOT_FOUND;
}

int
pd_jwt_verify (const char *token, pd_jwks_t *jwks, const pd_jwt_expect_t *expect,
               pd_jwt_claims_t *claims, char *detail, size_t detail_size)
{
    assert (expect && expect->issuer && expect->audience);
    assert (claims);
    memset (claims, 0, sizeof (*claims));
    if (detail && detail_size > 0)
        *detail = 0;

    s_parts_t parts;
    if (!s_split (token, &parts))
        return s_refuse (detail, detail_size, "malformed token");
    json_t *header = s_segment_json (parts.text, parts.header_size);
    if (!header)
        return s_refuse (detail, detail_size, "malformed header");
    const s_key_t *key = NULL;
    int rc = s_select_key (jwks, header, &key, detail, detail_size);
    json_decref (header);
    if (rc != PD_OK)
        return rc;

    rc = s_verify_signature (&parts, key);
    if (rc != PD_OK)
        return rc == PD_E_UNAUTHORIZED ? s_refuse (detail, detail_size, "bad signature") : rc;

    json_t *payload = s_segment_json (parts.text + parts.payload_start, parts.payload_size);
    if (!payload)
        return s_refuse (detail, detail_size, "malformed payload");
    rc = s_check_claims (payload, expect, claims, detail, detail_size);
    json_decref (payload);
    if (rc != PD_OK)
        pd_jwt_claims_clear (claims);
    return rc;
}

void
pd_jwt_claims_clear (pd_jwt_claims_t *claims)
{
    if (!claims)
        return;
    free (claims->iss);
    free (claims->sub);
    free (claims->email);
    free (claims->name);
    free (claims->hd);
    free (claims->tid);
    free (claims->nonce);
    memset (claims, 0, sizeof (*claims));
}
