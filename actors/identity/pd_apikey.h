/*  pd_apikey - API key records: the platform's and partners' keys

    An API key (pd_token: "pda_..." platform admin, "pdp_..." partner) is
    stored as its hash under its public id (table apikeys). The partners
    and oauth actors add and revoke partner keys, partnerd makes the first
    admin key, and the actor runtime (pd_caller) resolves presented keys.
*/
#ifndef PD_APIKEY_H_INCLUDED
#define PD_APIKEY_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "pd_messages.h"
#include "pd_store.h"
#include "pd_token.h"

#ifdef __cplusplus
extern "C" {
#endif

//  First start: if the store has no admin key, make one, store its hash and
//  write the key to `key_path` (created mode 0600, never overwritten).
//  *created tells whether a key was made. PD_OK, or an error status (the
//  file exists already while the store has no admin key: PD_E_EXISTS).
int pd_apikey_bootstrap (pd_store_t *store, const char *key_path, bool *created);

//  Add a new API key record (its hash, never the key) to `batch`. `kind` is
//  "admin" or "partner"; partner_id NULL for admins. Fails the commit with
//  PD_E_EXISTS if the key id is taken.
int pd_apikey_put (pd_store_batch_t *batch, const pd_token_t *token, const char *kind,
                   const char *partner_id, int64_t now);

//  Revoke a key: its record is deleted with the batch, refused from then on.
int pd_apikey_delete (pd_store_batch_t *batch, const char *key_id);

//  Resolve a presented key by its id and SHA-256 into principal (zeroed;
//  kind "admin" or "partner", key_id, partner_id). PD_OK; PD_E_UNAUTHORIZED
//  (no such key, wrong hash: one answer); PD_E_FORBIDDEN (its partner is
//  not active; err says which status). partner_id (partner_id_size bytes)
//  gets the partner a stored key names even when the hash is wrong, for
//  failure counting, else "". `err` may be NULL.
int pd_apikey_resolve (pd_store_t *store, const char *id, const uint8_t *hash, size_t hash_size,
                       pd_principal_t *principal, char *partner_id, size_t partner_id_size,
                       pd_schema_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
