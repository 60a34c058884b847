/*  pd_auth_actor - who is calling

    Service "auth". Owns the API keys table: resolves a presented key or
    session (pd_session) to a principal (auth.resolve), and creates the
    first platform-admin key. Wrong credentials are counted per client
    address (the header's source) and per partner (pd_ratelimit); over
    login_failures_per_source / login_failures_per_partner in a window of
    login_window_s, auth.resolve answers PD_E_RATE_LIMITED with retry_after.
    Every other actor trusts the principal the gateway got from here, and
    still checks ownership itself.
*/
#ifndef PD_AUTH_ACTOR_H_INCLUDED
#define PD_AUTH_ACTOR_H_INCLUDED

#include <stdbool.h>

#include "pd_actor.h"
#include "pd_token.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const pd_actor_def_t pd_auth_actor;

//  First start: if the store has no admin key, make one, store its hash and
//  write the key to `key_path` (created mode 0600, never overwritten).
//  *created tells whether a key was made. PD_OK, or an error status (the
//  file exists already while the store has no admin key: PD_E_EXISTS).
int pd_auth_actor_bootstrap (pd_store_t *store, const char *key_path, bool *created);

//  Add a new API key record (its hash, never the key) to `batch`. `kind` is
//  "admin" or "partner"; partner_id NULL for admins. Fails the commit with
//  PD_E_EXISTS if the key id is taken.
int pd_auth_actor_put_key (pd_store_batch_t *batch, const pd_token_t *token, const char *kind,
                           const char *partner_id, int64_t now);

//  Revoke a key: its record is deleted with the batch, refused from then on.
int pd_auth_actor_delete_key (pd_store_batch_t *batch, const char *key_id);

#ifdef __cplusplus
}
#endif
#endif
