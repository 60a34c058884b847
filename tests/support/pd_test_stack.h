/*  pd_test_stack - the in-process partnerd a unit test runs actors against

    A fresh temporary directory, a store of every table in it, a broker on
    inproc endpoints (services and streams), and a client of that broker.
    Tests start their own actors (pd_test_stack_actor) and destroy them
    before the stack. Test code only.
*/
#ifndef PD_TEST_STACK_H_INCLUDED
#define PD_TEST_STACK_H_INCLUDED

#include "pd_actor.h"
#include "pd_broker.h"
#include "pd_client.h"
#include "pd_store.h"

typedef struct {
    char dir[64];             //  the store's temporary directory
    char endpoint[80];        //  broker services endpoint (inproc)
    char stream_endpoint[80]; //  broker stream (XPUB) endpoint (inproc)
    pd_store_t *store;
    pd_broker_t *broker;
    pd_client_t *client;
} pd_test_stack_t;

//  Make a stack; `name` goes into the directory and endpoint names. NULL
//  if any part cannot be made.
pd_test_stack_t *pd_test_stack_new (const char *name);

//  Start an actor against the stack's broker and store; NULL on failure.
zactor_t *pd_test_stack_actor (pd_test_stack_t *self, const pd_actor_def_t *def);

//  The same with these settings (not owned; must outlive the actor; NULL:
//  defaults and environment)
zactor_t *pd_test_stack_actor_with (pd_test_stack_t *self, const pd_actor_def_t *def,
                                    const pd_config_t *config);

//  Destroy client, broker and store, remove the directory, null *self_p.
//  Destroy the actors started on it first.
void pd_test_stack_destroy (pd_test_stack_t **self_p);

#endif
