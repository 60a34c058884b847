/*  pd_auth_actor - who is calling

    Service "auth". auth.resolve answers the principal the runtime resolved
    from the request's credential (header `credential`, pd_caller): a
    service on the broker that holds a caller's credential asks who it is.
    HTTP requests do not need it: every actor resolves the caller itself,
    in the same broker round trip as the request. API key records are
    pd_apikey's.
*/
#ifndef PD_AUTH_ACTOR_H_INCLUDED
#define PD_AUTH_ACTOR_H_INCLUDED

#include "pd_actor.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const pd_actor_def_t pd_auth_actor;

#ifdef __cplusplus
}
#endif
#endif
