/*  pd_caller - who is calling: a presented credential, resolved

    The gateway passes a caller's credential on in the request header as a
    token id and its SHA-256 (record `credential`), never the secret. The
    actor runtime resolves it here, in the same store snapshot as the
    handler's reads, before the handler runs: so a revoked key, a closed
    session, a disabled user or a suspended partner is refused on the very
    next request, and each request costs one broker round trip.

    A credential is judged first, and a right one passes whatever the
    failure counts (pd_ratelimit.h). Only wrong ones (PD_E_UNAUTHORIZED)
    are counted, against the client's address ("source:<ip>") and the
    partner the credential names ("partner:<id>"); once either is over its
    limit (login_failures_per_source, login_failures_per_partner in a
    window of login_window_s) wrong credentials are answered
    PD_E_RATE_LIMITED with a Retry-After until the window ends. A refusal
    of a right credential (partner suspended, CSRF token missing) counts
    nothing: counting CSRF refusals would let any web page lock a partner
    out through its users' browsers, and key ids are public, so forged keys
    naming a partner must never refuse its right ones.
*/
#ifndef PD_CALLER_H_INCLUDED
#define PD_CALLER_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "pd_config.h"
#include "pd_messages.h"
#include "pd_store.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Resolve `credential` into `principal` (zeroed on entry; the caller
//  clears it, also on failure). PD_OK; PD_E_UNAUTHORIZED, PD_E_FORBIDDEN
//  (with err's field and detail); PD_E_RATE_LIMITED with *retry_after_s;
//  or a store error. `source` is the client's address ("" if unknown).
int pd_caller_resolve (pd_store_t *store, const pd_config_t *config,
                       const pd_credential_t *credential, const char *source, int64_t now_ms,
                       pd_principal_t *principal, pd_schema_error_t *err, int *retry_after_s);

//  Judge the caller of a request by its header: a credential is resolved
//  into header->principal (replacing any principal the header named), then
//  the principal (s_public's "public" when none) is checked against
//  header->access. PD_OK, or the refusal (PD_E_FORBIDDEN "this caller may
//  not call this endpoint" for access) as pd_caller_resolve gives it.
int pd_caller_judge (pd_store_t *store, const pd_config_t *config, pd_header_t *header,
                     int64_t now_ms, pd_schema_error_t *err, int *retry_after_s);

//  May a principal of `kind` call what `access` (PD_ACCESS_KINDS) allows?
//  NULL access allows everyone.
bool pd_caller_allows (const char *access, const char *kind);

#ifdef __cplusplus
}
#endif
#endif
