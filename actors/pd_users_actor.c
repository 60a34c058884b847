/* placeholder: being written (serves no message type yet) */
#include "pd_users_actor.h"
static const pd_handler_t s_handlers[] = {{NULL, NULL}};
const pd_actor_def_t pd_users_actor = {"users", s_handlers, NULL, NULL};
