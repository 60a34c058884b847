/*  pd_actors - the registry of the actors that exist (see pd_actors.h) */
#include "pd_actors.h"

#include <stdlib.h>
#include <string.h>

#include "pd_auth_actor.h"
#include "pd_claim_actor.h"
#include "pd_escalation_actor.h"
#include "pd_oauth_actor.h"
#include "pd_partners_actor.h"
#include "pd_sla_actor.h"
#include "pd_stream_actor.h"
#include "pd_users_actor.h"

const pd_actor_def_t *const pd_actors_all[] = {
    &pd_auth_actor,       &pd_partners_actor, &pd_stream_actor,
    &pd_users_actor,      &pd_oauth_actor,    &pd_claim_actor,
    &pd_escalation_actor, &pd_sla_actor,      NULL,
};

const pd_actor_def_t *
pd_actors_find (const char *name)
{
    for (size_t i = 0; name && pd_actors_all[i]; i++)
        if (strcmp (pd_actors_all[i]->service, name) == 0)
            return pd_actors_all[i];
    return NULL;
}

struct _pd_actors_local_t {
    pd_actor_local_t **locals; //  one per definition served locally
    size_t count;
};

pd_actors_local_t *
pd_actors_local_new (const pd_actor_def_t *const *defs, size_t count,
                     const pd_actor_config_t *config)
{
    if (!defs) {
        defs = pd_actors_all;
        for (count = 0; pd_actors_all[count]; count++)
            ;
    }
    pd_actors_local_t *self = calloc (1, sizeof (pd_actors_local_t));
    if (!self)
        return NULL;
    self->locals = calloc (count ? count : 1, sizeof (pd_actor_local_t *));
    if (!self->locals) {
        free (self);
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        if (!defs[i] || defs[i]->own_threads_only)
            continue;
        pd_actor_local_t *local = pd_actor_local_new (defs[i], config, 0);
        if (!local) {
            pd_actors_local_destroy (&self);
            return NULL;
        }
        self->locals[self->count++] = local;
    }
    return self;
}

void
pd_actors_local_destroy (pd_actors_local_t **self_p)
{
    pd_actors_local_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++)
        pd_actor_local_destroy (&self->locals[i]);
    free (self->locals);
    free (self);
    *self_p = NULL;
}

int
pd_actors_local_serve (void *arg, const char *service, const void *header, size_t header_size,
                       const void *body, size_t body_size, int *status, uint8_t **reply,
                       size_t *reply_size)
{
    pd_actors_local_t *self = (pd_actors_local_t *)arg;
    for (size_t i = 0; self && i < self->count; i++)
        if (strcmp (pd_actor_local_service (self->locals[i]), service) == 0)
            return pd_actor_local_serve (self->locals[i], header, header_size, body, body_size,
                                         status, reply, reply_size);
    return PD_E_UNAVAILABLE;
}
