/*  pd_oauth_actor - sign-in with Google Workspace and Microsoft Entra ID

    Service "oauth": oauth.providers, oauth.start (a redirect to the
    provider with state, nonce and PKCE), oauth.callback (code exchange, ID
    token verification, then the user's session; or, for a first sign-in
    from an unknown organisation, a pending partner waiting for approval).
    Providers come from the settings (pd_config.h).
*/
#ifndef PD_OAUTH_ACTOR_H_INCLUDED
#define PD_OAUTH_ACTOR_H_INCLUDED

#include "pd_actor.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const pd_actor_def_t pd_oauth_actor;

#ifdef __cplusplus
}
#endif
#endif
