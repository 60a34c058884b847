/*  pd_webhook - webhook signatures as Standard Webhooks specify them
    (see pd_webhook.h). HMAC-SHA256 and base64 from OpenSSL; the compare
    is constant-time.
*/
#include "pd_webhook.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define S_PREFIX_SIZE (sizeof (PD_WEBHOOK_SECRET_PREFIX) - 1)
#define S_MAC_SIZE    32

//  The key bytes of a secret into key; their count, or 0 if invalid
static size_t
s_key (const char *secret, uint8_t key[PD_WEBHOOK_KEY_MAX + 3])
{
    if (!secret || strncmp (secret, PD_WEBHOOK_SECRET_PREFIX, S_PREFIX_SIZE) != 0)
        return 0;
    const char *text = secret + S_PREFIX_SIZE;
    size_t length = strlen (text);
    if (length == 0 || length % 4 || length > 4 * ((PD_WEBHOOK_KEY_MAX + 2) / 3))
        return 0;
    int decoded = EVP_DecodeBlock (key, (const unsigned char *)text, (int)length);
    if (decoded < 0)
        return 0;
    size_t size = (size_t)decoded;
    //  EVP_DecodeBlock counts the padding's bytes too
    if (text[length - 1] == '=')
        size--;
    if (text[length - 2] == '=')
        size--;
    return size >= 1 && size <= PD_WEBHOOK_KEY_MAX ? size : 0;
}

int
pd_webhook_secret_new (char secret[PD_WEBHOOK_SECRET_MAX])
{
    uint8_t key[PD_WEBHOOK_KEY_SIZE];
    if (RAND_bytes (key, sizeof (key)) != 1)
        return -1;
    memcpy (secret, PD_WEBHOOK_SECRET_PREFIX, S_PREFIX_SIZE);
    EVP_EncodeBlock ((unsigned char *)secret + S_PREFIX_SIZE, key, sizeof (key));
    OPENSSL_cleanse (key, sizeof (key));
    return 0;
}

bool
pd_webhook_secret_valid (const char *secret)
{
    uint8_t key[PD_WEBHOOK_KEY_MAX + 3];
    bool valid = s_key (secret, key) > 0;
    OPENSSL_cleanse (key, sizeof (key));
    return valid;
}

//  "v1,<base64 MAC>" of the message under one secret into out
//  (PD_WEBHOOK_SIGNATURE_SIZE bytes); false if the secret is invalid
static bool
s_sign (const char *secret, const char *id, int64_t timestamp, const void *body, size_t body_size,
        char out[PD_WEBHOOK_SIGNATURE_SIZE])
{
    uint8_t key[PD_WEBHOOK_KEY_MAX + 3];
    size_t key_size = s_key (secret, key);
    uint8_t mac[S_MAC_SIZE];
    size_t mac_size = 0;
    bool ok = false;
    char stamp[32];
    int stamp_size = snprintf (stamp, sizeof (stamp), ".%" PRId64 ".", timestamp);
    EVP_MAC *hmac = key_size ? EVP_MAC_fetch (NULL, "HMAC", NULL) : NULL;
    EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new (hmac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string ("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end ()};
    if (ctx && EVP_MAC_init (ctx, key, key_size, params) == 1 &&
        EVP_MAC_update (ctx, (const unsigned char *)id, strlen (id)) == 1 &&
        EVP_MAC_update (ctx, (const unsigned char *)stamp, (size_t)stamp_size) == 1 &&
        (body_size == 0 || EVP_MAC_update (ctx, body, body_size) == 1) &&
        EVP_MAC_final (ctx, mac, &mac_size, sizeof (mac)) == 1 && mac_size == S_MAC_SIZE) {
        memcpy (out, "v1,", 3);
        EVP_EncodeBlock ((unsigned char *)out + 3, mac, S_MAC_SIZE);
        ok = true;
    }
    EVP_MAC_CTX_free (ctx);
    EVP_MAC_free (hmac);
    OPENSSL_cleanse (key, sizeof (key));
    OPENSSL_cleanse (mac, sizeof (mac));
    return ok;
}

int
pd_webhook_sign (const char *const secrets[], size_t count, const char *id, int64_t timestamp,
                 const void *body, size_t body_size, char *header, size_t size)
{
    if (count < 1 || count > PD_WEBHOOK_SIGNERS_MAX || !id ||
        size < count * PD_WEBHOOK_SIGNATURE_SIZE)
        return -1;
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        if (i)
            header[used++] = ' ';
        if (!s_sign (secrets[i], id, timestamp, body, body_size, header + used))
            return -1;
        used += strlen (header + used);
    }
    return 0;
}

bool
pd_webhook_verify (const char *secret, const char *id, int64_t timestamp, const void *body,
                   size_t body_size, const char *header, int64_t now)
{
    if (!header || timestamp < now - PD_WEBHOOK_TOLERANCE_S ||
        timestamp > now + PD_WEBHOOK_TOLERANCE_S)
        return false;
    char expected[PD_WEBHOOK_SIGNATURE_SIZE];
    if (!s_sign (secret, id, timestamp, body, body_size, expected))
        return false;
    size_t length = strlen (expected);
    bool found = false;
    for (const char *at = header; *at;) {
        const char *end = strchr (at, ' ');
        size_t size = end ? (size_t)(end - at) : strlen (at);
        if (size == length && CRYPTO_memcmp (at, expected, length) == 0)
            found = true;
        at = end ? end + 1 : at + size;
    }
    return found;
}
