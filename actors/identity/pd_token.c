/*  pd_token - secrets shown once, stored as hashes (see pd_token.h) */
#include "pd_token.h"

#include <ctype.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

static const char s_base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
#define S_BASE62 62
//  Bytes at or above this are rejected so that byte % 62 is uniform
#define S_BASE62_LIMIT (256 - 256 % S_BASE62)

//  Fill out[0..length) with uniform base62 characters from the CSPRNG
static int
s_random_base62 (char *out, size_t length)
{
    uint8_t pool[64];
    size_t filled = 0;
    while (filled < length) {
        if (RAND_bytes (pool, sizeof (pool)) != 1)
            return PD_E_INTERNAL;
        for (size_t i = 0; i < sizeof (pool) && filled < length; i++)
            if (pool[i] < S_BASE62_LIMIT)
                out[filled++] = s_base62[pool[i] % S_BASE62];
    }
    OPENSSL_cleanse (pool, sizeof (pool));
    return PD_OK;
}

static bool
s_is_base62 (char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

//  CRC-32 (IEEE 802.3, reflected, as zlib's crc32); bitwise, tokens are short
#define S_CRC32_POLY 0xEDB88320u
static uint32_t
s_crc32 (const char *text, size_t length)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < length; i++) {
        crc ^= (uint8_t)text[i];
        for (int bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (S_CRC32_POLY & (0u - (crc & 1u)));
    }
    return ~crc;
}

//  Checksum of text[0..length) as PD_TOKEN_CHECK_LEN base62 characters
static void
s_checksum (const char *text, size_t length, char *out)
{
    uint32_t crc = s_crc32 (text, length);
    for (int i = PD_TOKEN_CHECK_LEN - 1; i >= 0; i--) {
        out[i] = s_base62[crc % S_BASE62];
        crc /= S_BASE62;
    }
}

static bool
s_valid_type (const char *type)
{
    if (!type || strlen (type) != PD_TOKEN_TYPE_LEN)
        return false;
    for (size_t i = 0; i < PD_TOKEN_TYPE_LEN; i++)
        if (!islower ((unsigned char)type[i]))
            return false;
    return true;
}

int
pd_token_generate (const char *type, pd_token_t *token)
{
    if (!s_valid_type (type) || !token)
        return PD_E_BAD_REQUEST;
    memset (token, 0, sizeof (*token));
    char *text = token->text;
    memcpy (text, type, PD_TOKEN_TYPE_LEN);
    text[PD_TOKEN_TYPE_LEN] = '_';
    size_t body = PD_TOKEN_ID_LEN + PD_TOKEN_SECRET_LEN;
    if (s_random_base62 (text + PD_TOKEN_TYPE_LEN + 1, body) != PD_OK) {
        OPENSSL_cleanse (token, sizeof (*token));
        return PD_E_INTERNAL;
    }
    size_t checked = PD_TOKEN_TYPE_LEN + 1 + body;
    s_checksum (text, checked, text + checked);
    text[PD_TOKEN_LEN] = 0;
    memcpy (token->id, text, PD_TOKEN_PUBLIC_LEN);
    token->id[PD_TOKEN_PUBLIC_LEN] = 0;
    pd_token_hash (text, token->hash);
    return PD_OK;
}

int
pd_token_parse (const char *text, const char *type, char *id)
{
    if (!text || strlen (text) != PD_TOKEN_LEN || text[PD_TOKEN_TYPE_LEN] != '_')
        return PD_E_UNAUTHORIZED;
    char actual_type[PD_TOKEN_TYPE_LEN + 1];
    memcpy (actual_type, text, PD_TOKEN_TYPE_LEN);
    actual_type[PD_TOKEN_TYPE_LEN] = 0;
    if (!s_valid_type (actual_type) || (type && strcmp (type, actual_type) != 0))
        return PD_E_UNAUTHORIZED;
    for (size_t i = PD_TOKEN_TYPE_LEN + 1; i < PD_TOKEN_LEN; i++)
        if (!s_is_base62 (text[i]))
            return PD_E_UNAUTHORIZED;
    char check[PD_TOKEN_CHECK_LEN];
    size_t checked = PD_TOKEN_LEN - PD_TOKEN_CHECK_LEN;
    s_checksum (text, checked, check);
    if (memcmp (check, text + checked, PD_TOKEN_CHECK_LEN) != 0)
        return PD_E_UNAUTHORIZED;
    if (id) {
        memcpy (id, text, PD_TOKEN_PUBLIC_LEN);
        id[PD_TOKEN_PUBLIC_LEN] = 0;
    }
    return PD_OK;
}

void
pd_token_hash (const char *text, uint8_t hash[PD_TOKEN_HASH_SIZE])
{
    unsigned int size = PD_TOKEN_HASH_SIZE;
    if (EVP_Digest (text, strlen (text), hash, &size, EVP_sha256 (), NULL) != 1)
        memset (hash, 0, PD_TOKEN_HASH_SIZE); //  never matches a stored hash
}

bool
pd_token_verify (const char *text, const uint8_t *hash, size_t hash_size)
{
    if (!text || !hash || hash_size != PD_TOKEN_HASH_SIZE)
        return false;
    uint8_t actual[PD_TOKEN_HASH_SIZE];
    pd_token_hash (text, actual);
    bool equal = CRYPTO_memcmp (actual, hash, PD_TOKEN_HASH_SIZE) == 0;
    OPENSSL_cleanse (actual, sizeof (actual));
    return equal;
}

bool
pd_token_hash_equal (const uint8_t *presented, size_t presented_size, const uint8_t *stored,
                     size_t stored_size)
{
    return presented && stored && presented_size == PD_TOKEN_HASH_SIZE &&
           stored_size == PD_TOKEN_HASH_SIZE &&
           CRYPTO_memcmp (presented, stored, PD_TOKEN_HASH_SIZE) == 0;
}

bool
pd_token_id_is (const char *id, const char *type)
{
    size_t length = type ? strlen (type) : 0;
    return id && length == PD_TOKEN_TYPE_LEN && strncmp (id, type, length) == 0 &&
           id[length] == '_';
}

int
pd_token_random_id (const char *type, size_t length, char *buf, size_t size)
{
    size_t type_len = type ? strlen (type) : 0;
    if (type_len < 1 || type_len > 8 || length < 1 || type_len + 1 + length + 1 > size)
        return PD_E_BAD_REQUEST;
    memcpy (buf, type, type_len);
    buf[type_len] = '_';
    if (s_random_base62 (buf + type_len + 1, length) != PD_OK)
        return PD_E_INTERNAL;
    buf[type_len + 1 + length] = 0;
    return PD_OK;
}
