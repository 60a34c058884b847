/*  pd_appliance_keys - who an appliance is, by what it presents

    An appliance is known by its CURVE public key on the link (table
    appliance_keys), by its id (commands) and, over HTTP, by the appliance
    token its claim answered with (type PD_TOKEN_APPLIANCE, table
    appliance_tokens; the token's hash is kept on the appliance record, so
    an appliance and its token are refused by one record's status). The
    claim actor writes these tables; the front, the command path and the
    actor runtime (pd_caller) read them through this module.
*/
#ifndef PD_APPLIANCE_KEYS_H_INCLUDED
#define PD_APPLIANCE_KEYS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "pd_messages.h"
#include "pd_store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PD_TOKEN_APPLIANCE "pdt" //  appliance token type (HTTP provisioning calls)

//  For the appliance front's ZAP handler: who holds this CURVE public key
//  (Z85)? PD_OK with the appliance id (active appliance); PD_E_NOT_FOUND
//  (an unknown key: it may only claim); PD_E_FORBIDDEN (revoked or
//  decommissioned: refuse the handshake). Read-only, any thread.
int pd_appliance_keys_authorize (pd_store_t *store, const char *public_key, char *appliance_id,
                                 size_t size);

//  For commands: PD_OK if appliance_id is an active appliance, PD_E_GONE if
//  it was revoked, PD_E_NOT_FOUND if there is none.
int pd_appliance_keys_state (pd_store_t *store, const char *appliance_id);

//  Resolve an appliance token by its id and SHA-256 into principal (zeroed;
//  kind "appliance", appliance_id, partner_id). PD_OK; PD_E_UNAUTHORIZED
//  (unknown id, wrong hash: one answer); PD_E_FORBIDDEN (appliance not
//  active). partner_id (may be NULL) gets the partner the token id names,
//  for failure counting, even when the hash is wrong. `err` may be NULL.
int pd_appliance_keys_resolve (pd_store_t *store, const char *token_id, const uint8_t *hash,
                               size_t hash_size, pd_principal_t *principal, char *partner_id,
                               size_t size, pd_schema_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
