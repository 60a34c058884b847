/*  pd_session - browser sessions of partner users

    A session is opened when a user signs in (magic link or OAuth). Its
    token ("pds_..." pd_token) goes to the browser in an HttpOnly cookie;
    with it comes a CSRF token ("pdc_...") that the dashboard sends back in
    the X-CSRF-Token header on every unsafe request. Only hashes of both
    are stored. A session is refused once expired, once closed (logout),
    and whenever its user is disabled or its partner is not active: those
    are read on every resolve, so a change takes effect at once.
*/
#ifndef PD_SESSION_H_INCLUDED
#define PD_SESSION_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "pd_messages.h"
#include "pd_store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PD_TOKEN_SESSION "pds"
#define PD_TOKEN_CSRF    "pdc"

//  Open a session for `user`: add its record to `batch` and fill `reply`
//  (session_token, csrf_token, expires_at, partner_id, a copy of the user).
//  The tokens are valid once the batch commits; reply->status and
//  reply->location are the caller's. PD_E_BAD_REQUEST if the user lacks
//  id, partner_id or role.
int pd_session_open (pd_store_batch_t *batch, const pd_user_t *user, int64_t now_ms, int64_t ttl_ms,
                     pd_session_t *reply);

//  Resolve a presented session token. For unsafe methods `csrf` must be the
//  session's CSRF token. PD_OK with principal {kind partner, partner_id,
//  user_id, role (the user's current one), session_id}; PD_E_UNAUTHORIZED
//  (unknown, wrong, expired or closed session; disabled user);
//  PD_E_FORBIDDEN (CSRF token missing or wrong, field "csrf"; partner not
//  active); a store error as is. `principal` is zeroed on entry; the
//  caller clears it, also on failure, when principal->partner_id is set if
//  a stored session was found (so that failures count against its
//  partner). `err` (may be NULL) gets the reason, for the caller's answer.
int pd_session_resolve (pd_store_t *store, const char *token, const char *csrf, bool unsafe,
                        int64_t now_ms, pd_principal_t *principal, pd_schema_error_t *err);

//  The same for a token presented as its id and SHA-256 (pd_token_hash),
//  and the CSRF token as its SHA-256 (NULL, 0: none sent): what the
//  gateway passes on, so that the secrets never travel.
int pd_session_resolve_hashed (pd_store_t *store, const char *id, const uint8_t *hash,
                               size_t hash_size, const uint8_t *csrf_hash, size_t csrf_hash_size,
                               bool unsafe, int64_t now_ms, pd_principal_t *principal,
                               pd_schema_error_t *err);

//  Close a session (logout): its record is deleted with the batch (an
//  absent session is not an error).
int pd_session_close (pd_store_batch_t *batch, const char *session_id);

#ifdef __cplusplus
}
#endif
#endif
