/*  pd_test_stack - the in-process partnerd of unit tests (see the header) */
#include "pd_test_stack.h"
#include "pd_test_dir.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

pd_test_stack_t *
pd_test_stack_new (const char *name)
{
    static int s_counter = 0;
    pd_test_stack_t *self = calloc (1, sizeof (pd_test_stack_t));
    if (!self)
        return NULL;
    if (pd_test_dir_make (name, self->dir, sizeof (self->dir)) != 0) {
        free (self);
        return NULL;
    }
    s_counter++;
    snprintf (self->endpoint, sizeof (self->endpoint), "inproc://%s-%d-%d", name, getpid (),
              s_counter);
    snprintf (self->stream_endpoint, sizeof (self->stream_endpoint), "inproc://%s-stream-%d-%d",
              name, getpid (), s_counter);

    pd_store_config_t store_config = {0};
    store_config.tables = pd_store_table_names;
    store_config.schema_version = PD_STORE_SCHEMA_VERSION;
    self->store = pd_store_new (self->dir, &store_config);
    pd_broker_config_t broker_config = {0};
    broker_config.endpoints = self->endpoint;
    broker_config.stream_endpoints = self->stream_endpoint;
    self->broker = self->store ? pd_broker_new (&broker_config) : NULL;
    self->client = self->broker ? pd_client_new (self->endpoint) : NULL;
    if (!self->client)
        pd_test_stack_destroy (&self);
    return self;
}

zactor_t *
pd_test_stack_actor (pd_test_stack_t *self, const pd_actor_def_t *def)
{
    return pd_test_stack_actor_with (self, def, NULL);
}

zactor_t *
pd_test_stack_actor_with (pd_test_stack_t *self, const pd_actor_def_t *def,
                          const pd_config_t *config)
{
    pd_actor_config_t actor_config = {0};
    actor_config.broker = self->endpoint;
    actor_config.store = self->store;
    actor_config.config = config;
    return pd_actor_new (def, &actor_config);
}

void
pd_test_stack_destroy (pd_test_stack_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pd_test_stack_t *self = *self_p;
    pd_client_destroy (&self->client);
    pd_broker_destroy (&self->broker);
    pd_store_destroy (&self->store);
    pd_test_dir_remove (self->dir);
    free (self);
    *self_p = NULL;
}
