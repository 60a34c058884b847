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

//  Provision code alphabet: no 0/O, 1/I/L, no lowercase (32 symbols, 80 bits)
#define PD_PROVISION_ALPHABET "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

#ifdef __cplusplus
}
#endif
#endif
