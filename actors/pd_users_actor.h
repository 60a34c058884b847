/*  pd_users_actor - partner users, magic links, sign-out

    Service "users": user.create, user.list, user.disable, magic.create
    (admins), magic.exchange (public: a one-time token for a session),
    session.logout (the session's own user). Owns the tables users,
    users_by_email, users_by_identity, magic_links, sessions.
*/
#ifndef PD_USERS_ACTOR_H_INCLUDED
#define PD_USERS_ACTOR_H_INCLUDED

#include "pd_actor.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const pd_actor_def_t pd_users_actor;

#define PD_TOKEN_MAGIC "pdm"

//  Add a new user to `batch`: gives it an id ("usr_" + 16 base62), status
//  active, times, role partner-user if it has none, and adds the unique
//  email index (and the identity index, "google:<sub>", if identity is not
//  NULL). The user's put is the first operation this call adds (for
//  pd_store_batch_version). PD_E_BAD_REQUEST without partner_id or email.
//  The commit fails PD_E_EXISTS if the email or identity is taken.
int pd_users_actor_add (pd_store_batch_t *batch, pd_user_t *user, const char *identity,
                        int64_t now_ms);

//  Find a user by identity ("google:<sub>") / by email (any case).
//  PD_OK (user, zeroed by the caller, filled with user->version; *version set
//  if not NULL) or PD_E_NOT_FOUND.
int pd_users_actor_find_identity (pd_store_t *store, const char *identity, pd_user_t *user,
                                  uint64_t *version);
int pd_users_actor_find_email (pd_store_t *store, const char *email, pd_user_t *user,
                               uint64_t *version);

#ifdef __cplusplus
}
#endif
#endif
