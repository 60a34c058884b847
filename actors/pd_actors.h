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

#ifdef __cplusplus
}
#endif
#endif
