/*  pd_actors - the registry of the actors that exist (see pd_actors.h) */
#include "pd_actors.h"

#include <string.h>

#include "pd_auth_actor.h"
#include "pd_claim_actor.h"
#include "pd_oauth_actor.h"
#include "pd_partners_actor.h"
#include "pd_stream_actor.h"
#include "pd_users_actor.h"

const pd_actor_def_t *const pd_actors_all[] = {
    &pd_auth_actor,
    &pd_partners_actor,
    &pd_stream_actor,
    &pd_users_actor,
    &pd_oauth_actor,
    &pd_claim_actor,
    NULL,
};

const pd_actor_def_t *
pd_actors_find (const char *name)
{
    for (size_t i = 0; name && pd_actors_all[i]; i++)
        if (strcmp (pd_actors_all[i]->service, name) == 0)
            return pd_actors_all[i];
    return NULL;
}
