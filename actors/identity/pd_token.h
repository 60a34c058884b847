/*  pd_token - secrets shown once, stored as hashes: API keys and ids

    A token reads   <type>_<id><secret><check>   e.g.
                    pdp_3kF9aZ0q<32 chars of secret><6 chars of checksum>
    - type: 3 lowercase letters naming what it is ("pda" admin key, "pdp"
      partner key); a leaked key says what it grants, and secret scanners
      can match it;
    - id: 8 base62 characters, public: with the type it forms the token's
      id ("pdp_3kF9aZ0q"), the store key for lookup and what is displayed;
    - secret: 32 base62 characters from the OpenSSL CSPRNG (~190 bits);
    - check: 6 base62 characters of CRC-32 over everything before it, so a
      mistyped or truncated key is refused without a store lookup.
    Only SHA-256 of the whole token is stored; verification compares in
    constant time. (A fast hash suffices: the secret has ~190 bits of
    entropy, nothing to brute-force.)
*/
#ifndef PD_TOKEN_H_INCLUDED
#define PD_TOKEN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pd_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PD_TOKEN_TYPE_LEN   3
#define PD_TOKEN_ID_LEN     8
#define PD_TOKEN_SECRET_LEN 32
#define PD_TOKEN_CHECK_LEN  6
#define PD_TOKEN_PUBLIC_LEN (PD_TOKEN_TYPE_LEN + 1 + PD_TOKEN_ID_LEN)
#define PD_TOKEN_LEN        (PD_TOKEN_PUBLIC_LEN + PD_TOKEN_SECRET_LEN + PD_TOKEN_CHECK_LEN)
#define PD_TOKEN_HASH_SIZE  32

#define PD_TOKEN_ADMIN_KEY   "pda"
#define PD_TOKEN_PARTNER_KEY "pdp"

typedef struct {
    char text[PD_TOKEN_LEN + 1];      //  the whole token: show once, never store
    char id[PD_TOKEN_PUBLIC_LEN + 1]; //  public id: type_id
    uint8_t hash[PD_TOKEN_HASH_SIZE]; //  SHA-256 of text: what is stored
} pd_token_t;

//  Make a new token of `type` (3 lowercase letters). PD_OK, or
//  PD_E_BAD_REQUEST for a bad type, PD_E_INTERNAL if the CSPRNG fails.
int pd_token_generate (const char *type, pd_token_t *token);

//  Check a presented token's shape and checksum, and copy its public id
//  into id (PD_TOKEN_PUBLIC_LEN + 1 bytes). `type` may be NULL (any).
//  PD_OK or PD_E_UNAUTHORIZED.
int pd_token_parse (const char *text, const char *type, char *id);

//  SHA-256 of a token's text.
void pd_token_hash (const char *text, uint8_t hash[PD_TOKEN_HASH_SIZE]);

//  Does `text` hash to `hash`? Constant time in the hash comparison.
bool pd_token_verify (const char *text, const uint8_t *hash, size_t hash_size);

//  Is a presented hash the stored one? Both PD_TOKEN_HASH_SIZE bytes, else
//  false; constant time. For callers that got the hash, not the token.
bool pd_token_hash_equal (const uint8_t *presented, size_t presented_size, const uint8_t *stored,
                          size_t stored_size);

//  Does token id `id` ("pdp_3kF9aZ0q") have type `type` ("pdp")?
bool pd_token_id_is (const char *id, const char *type);

//  A random record id: `type` (1..8 chars), '_', then `length` base62
//  characters from the CSPRNG, into buf of `size` bytes. PD_OK or error.
int pd_token_random_id (const char *type, size_t length, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
