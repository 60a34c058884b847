/*  pd_user - partner user records

    A user belongs to one partner (table users), is found by email (any
    case, unique: users_by_email), by sign-in identity ("google:<sub>",
    unique: users_by_identity), and listed per partner (users_by_partner).
    The users actor (admins' user.*) and the oauth actor (sign-up) add and
    find users through this module.
*/
#ifndef PD_USER_H_INCLUDED
#define PD_USER_H_INCLUDED

#include <stdint.h>

#include "pd_messages.h"
#include "pd_store.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Add a new user to `batch`: gives it an id ("usr_" + 16 base62), status
//  active, times, role partner-user if it has none, and adds the unique
//  email index (and the identity index, "google:<sub>", if identity is not
//  NULL) and its partner's index. The user's put is the first operation
//  this call adds (for pd_store_batch_version). PD_E_BAD_REQUEST without
//  partner_id or email. The commit fails PD_E_EXISTS if the email or
//  identity is taken.
int pd_user_add (pd_store_batch_t *batch, pd_user_t *user, const char *identity, int64_t now_ms);

//  Find a user by identity ("google:<sub>") / by email (any case).
//  PD_OK (user, zeroed by the caller, filled with user->version; *version set
//  if not NULL) or PD_E_NOT_FOUND.
int pd_user_find_identity (pd_store_t *store, const char *identity, pd_user_t *user,
                           uint64_t *version);
int pd_user_find_email (pd_store_t *store, const char *email, pd_user_t *user, uint64_t *version);

#ifdef __cplusplus
}
#endif
#endif
