/*  pd_actors - the registry of the actors that exist

    Programs start actors by name ("partnerd actor partners stream") or all
    of them; this table is the one place that lists them. An actor's name is
    the service it serves at the broker.
*/
#ifndef PD_ACTORS_H_INCLUDED
#define PD_ACTORS_H_INCLUDED

#include "pd_actor.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Every actor, NULL-terminated, in start order.
extern const pd_actor_def_t *const pd_actors_all[];

//  The actor serving service `name`, NULL if there is none.
const pd_actor_def_t *pd_actors_find (const char *name);

//  The actors a process runs, served also in callers' threads
//  (pd_actor_local): one per definition that allows it.
typedef struct _pd_actors_local_t pd_actors_local_t;

//  For `count` definitions (defs NULL: every actor), on config's store,
//  settings and broker. NULL on failure.
pd_actors_local_t *pd_actors_local_new (const pd_actor_def_t *const *defs, size_t count,
                                        const pd_actor_config_t *config);
void pd_actors_local_destroy (pd_actors_local_t **self_p);

//  Serve a request for `service` in the calling thread, as
//  pd_actor_local_serve; PD_E_UNAVAILABLE if no local actor serves it.
//  Thread-safe. Its shape is pd_gateway_local_fn's (arg = self).
int pd_actors_local_serve (void *self, const char *service, const void *header, size_t header_size,
                           const void *body, size_t body_size, int *status, uint8_t **reply,
                           size_t *reply_size);

#ifdef __cplusplus
}
#endif
#endif
