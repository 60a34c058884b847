/* placeholder: being written (serves no message type yet) */
#include "pd_oauth_actor.h"
static const pd_handler_t s_handlers[] = {{NULL, NULL}};
const pd_actor_def_t pd_oauth_actor = {"oauth", s_handlers, NULL, NULL};
