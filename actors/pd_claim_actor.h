/*  pd_claim_actor - provision codes, claims, sites and appliances

    Service "claim". A partner makes provision codes (16 characters from an
    unambiguous alphabet, CSPRNG, optional expiry and target site) and shows
    them as QR codes; an appliance claims a code once, over HTTP or over
    the CurveZMQ link, which creates (or joins) the site, records the
    appliance, binds its CURVE public key and marks the code used, in one
    transaction guarded by the code's version: of any number of concurrent
    claims of one code exactly one wins. Owns the tables provisions,
    provisions_by_code, sites, sites_by_name, appliances, appliance_keys,
    appliance_tokens.
*/
#ifndef PD_CLAIM_ACTOR_H_INCLUDED
#define PD_CLAIM_ACTOR_H_INCLUDED

#include <stddef.h>

#include "pd_actor.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const pd_actor_def_t pd_claim_actor;

#define PD_TOKEN_APPLIANCE "pdt" //  appliance token type (HTTP provisioning calls)
//  Provision code alphabet: no 0/O, 1/I/L, no lowercase (32 symbols, 80 bits)
#define PD_PROVISION_ALPHABET "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

//  For the appliance front's ZAP handler: who holds this CURVE public key
//  (Z85)? PD_OK with the appliance id (active appliance); PD_E_NOT_FOUND
//  (an unknown key: it may only claim); PD_E_FORBIDDEN (revoked or
//  decommissioned: refuse the handshake). Reads the store directly (fast,
//  read-only, any thread).
int pd_claim_actor_authorize (pd_store_t *store, const char *public_key, char *appliance_id,
                              size_t size);

//  For the appliance front's commands: PD_OK if appliance_id is an active
//  appliance, PD_E_GONE if it was revoked, PD_E_NOT_FOUND if there is none.
int pd_claim_actor_appliance_state (pd_store_t *store, const char *appliance_id);

//  The store migration of the claim actor's tables (pd_store_migrate_fn):
//  version 2 indexes each site's appliances (appliances_by_site).
int pd_claim_actor_migrate (pd_store_t *store, uint32_t from_version, uint32_t to_version,
                            void *arg);

//  For the auth actor: resolve an appliance token (type PD_TOKEN_APPLIANCE,
//  shown once in the HTTP claim's answer) into principal (zeroed; kind
//  "appliance", appliance_id, partner_id). The token id finds the
//  appliance (table appliance_tokens); the SHA-256 of the token is kept on
//  the appliance record (token_hash), so a revoked appliance and its token
//  are one record's status. PD_OK; PD_E_UNAUTHORIZED (bad shape, unknown
//  id, wrong hash: one answer); PD_E_FORBIDDEN (appliance not active).
//  partner_id (may be NULL) gets the partner the token id names, if any,
//  for rate limiting, even when the token itself is wrong.
int pd_claim_actor_resolve_token (pd_store_t *store, const char *text, pd_principal_t *principal,
                                  char *partner_id, size_t size);

#ifdef __cplusplus
}
#endif
#endif
