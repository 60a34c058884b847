/*  pd_auth_actor - who is calling

    Service "auth". Owns the API keys table: resolves a presented key to a
    principal (auth.resolve), and creates the first platform-admin key.
    Every other actor trusts the principal the gateway got from here, and
    still checks ownership itself.
*/
#ifndef PD_AUTH_ACTOR_H_INCLUDED
#define PD_AUTH_ACTOR_H_INCLUDED

#include <stdbool.h>

#include "pd_actor.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const pd_actor_def_t pd_auth_actor;

//  First start: if the store has no admin key, make one, store its hash and
//  write the key to `key_path` (created mode 0600, never overwritten).
//  *created tells whether a key was made. PD_OK, or an error status (the
//  file exists already while the store has no admin key: PD_E_EXISTS).
int pd_auth_actor_bootstrap (pd_store_t *store, const char *key_path, bool *created);

#ifdef __cplusplus
}
#endif
#endif
