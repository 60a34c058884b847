/*  pd_partners_actor - partner administration, service "partners" */
#ifndef PD_PARTNERS_ACTOR_H_INCLUDED
#define PD_PARTNERS_ACTOR_H_INCLUDED

#include "pd_actor.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const pd_actor_def_t pd_partners_actor;

#ifdef __cplusplus
}
#endif
#endif
