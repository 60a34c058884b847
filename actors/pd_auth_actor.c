/*  pd_auth_actor - who is calling (see pd_auth_actor.h)

    The runtime resolves the credential of every request before its
    handler runs (pd_caller), so auth.resolve only answers what the runtime
    found: the principal, copied.
*/
#include "pd_auth_actor.h"

static int
s_copy_text (char **to, const char *from)
{
    return from ? pd_schema_set_str (to, from) : PD_OK;
}

static int
s_auth_resolve (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    (void)state;
    (void)request;
    const pd_principal_t *caller = pd_ctx_principal (ctx);
    pd_principal_t *principal = reply;
    if (s_copy_text (&principal->kind, caller->kind) != PD_OK ||
        s_copy_text (&principal->partner_id, caller->partner_id) != PD_OK ||
        s_copy_text (&principal->key_id, caller->key_id) != PD_OK ||
        s_copy_text (&principal->user_id, caller->user_id) != PD_OK ||
        s_copy_text (&principal->role, caller->role) != PD_OK ||
        s_copy_text (&principal->session_id, caller->session_id) != PD_OK ||
        s_copy_text (&principal->appliance_id, caller->appliance_id) != PD_OK)
        return PD_E_INTERNAL;
    return PD_OK;
}

static const pd_handler_t s_handlers[] = {
    {"auth.resolve", s_auth_resolve},
    {NULL, NULL},
};

//  Stateless: all it knows is in the store
const pd_actor_def_t pd_auth_actor = {
    .service = "auth", .handlers = s_handlers, .state_new = NULL, .state_destroy = NULL};
