/*  pd_users_actor - partner users, magic links, sign-out

    Service "users": user.create, user.list, user.disable, magic.create
    (admins), magic.exchange (public: a one-time token for a session),
    session.logout (the session's own user). Owns the tables users,
    users_by_email, users_by_identity, users_by_partner, magic_links,
    sessions; user records are pd_user's, which the oauth actor uses too.
*/
#ifndef PD_USERS_ACTOR_H_INCLUDED
#define PD_USERS_ACTOR_H_INCLUDED

#include "pd_actor.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const pd_actor_def_t pd_users_actor;

#define PD_TOKEN_MAGIC "pdm"

#ifdef __cplusplus
}
#endif
#endif
