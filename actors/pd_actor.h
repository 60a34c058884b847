/*  pd_actor - the actor runtime

    An actor is one file with a handler per message type:

        static int
        s_partner_get (void *state, pd_ctx_t *ctx, const void *request, void *reply)
        {
            const pd_partner_ref_t *ref = request;
            ...
            return PD_OK;           //  or pd_ctx_fail (ctx, PD_E_NOT_FOUND, "id", "...")
        }
        static const pd_handler_t s_handlers[] = {
            {"partner.get", s_partner_get},
            ...
            {NULL, NULL}
        };
        const pd_actor_def_t pd_partners_actor = {.service = "partners",
    .handlers = s_handlers,
    .state_new = s_state_new,
    .state_destroy = s_state_destroy};

    The runtime (pd_actor_new) runs the actor in a thread: it takes requests
    from the broker through a pd_worker, decodes the header (envelope) and
    the body by the schemas that pd_messages.h gives the message type,
    refuses unknown types and invalid bodies (nothing reaches the handler
    unchecked), calls the handler with a zeroed reply record, encodes the
    reply, and answers. Events the handler emitted are published after their
    batch committed. The actor knows messages and the store, nothing of
    sockets: the same definition runs in the all-in-one process (inproc) or
    in its own process against a remote broker (tcp).
*/
#ifndef PD_ACTOR_H_INCLUDED
#define PD_ACTOR_H_INCLUDED

#include <czmq.h>

#include "pd_config.h"
#include "pd_keys.h"
#include "pd_messages.h"
#include "pd_store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _pd_ctx_t pd_ctx_t;

//  The store table that holds the event streams (PD_STORE_TABLES)
#define PD_ACTOR_EVENT_TABLE "events"

//  Handle one request. `request` is the decoded request record and `reply`
//  a zeroed reply record, of the types the catalogue gives the message type.
//  Return PD_OK (reply is sent) or an error status (reply discarded; the
//  error detail set with pd_ctx_fail, if any, is sent). A reply that fails
//  its schema's validation, or a status outside pd_status.h, is answered
//  PD_E_INTERNAL (and logged): it is the handler's bug.
typedef int (pd_handler_fn) (void *state, pd_ctx_t *ctx, const void *request, void *reply);

typedef struct {
    const char *type; //  message type, a key of PD_MESSAGE_TYPES
    pd_handler_fn *handle;
} pd_handler_t;

typedef struct {
    const char *service;          //  service name at the broker
    const pd_handler_t *handlers; //  terminated by {NULL, NULL}
    void *(*state_new) (pd_store_t *store,
                        const pd_config_t *config); //  NULL return = start failed;
                                                    //  NULL = stateless actor
    void (*state_destroy) (void **state_p);
    //  Timed work (optional): tick (state, ctx) runs every tick_ms in the
    //  actor's thread, between requests, as the principal {kind "admin",
    //  key_id "system"}. Every instance ticks; make ticks idempotent.
    int tick_ms;
    int (*tick) (void *state, pd_ctx_t *ctx);      //  may be NULL
    int (*tick_ms_of) (const pd_config_t *config); //  tick_ms from a setting (may be NULL)
    //  Instances to run at least (0: as many as every actor). One instance
    //  serves one request at a time and waits for its commit, so an actor
    //  whose requests commit under load (claims) runs more: their commits
    //  then share one fsync (pd_store's group commit).
    int min_instances;
    //  Serve only on the actor's own threads, never in a caller's
    //  (pd_actor_local): for actors whose handlers wait on the outside
    //  world or whose state should not be multiplied
    bool own_threads_only;
} pd_actor_def_t;

//  How many instances of `def` a process that runs `instances` of each
//  actor starts
int pd_actor_instances (const pd_actor_def_t *def, int instances);

typedef struct {
    const char *broker;        //  broker services endpoint
    pd_store_t *store;         //  shared store (not owned)
    const pd_config_t *config; //  settings (not owned); NULL = defaults and environment
    int heartbeat_ms;          //  0 = default
    int credit;                //  0 = 1
    //  CURVE credentials for the broker (role actor, listing this actor's
    //  service); NULL = none (inproc, or a private ipc broker). Copied.
    const pd_keys_pair_t *broker_keys;
} pd_actor_config_t;

//  Start an actor thread. Returns once it is connected and its state made,
//  NULL if set-up failed. Stop it with zactor_destroy (sends $TERM).
zactor_t *pd_actor_new (const pd_actor_def_t *def, const pd_actor_config_t *config);

//  --- Serving in the caller's thread ---------------------------------------
//  A process that runs an actor can also serve its requests in the thread
//  that has them (the gateway's): the same header and body decoding, caller
//  judgment, snapshot, handler, reply check and error bodies as the actor's
//  own threads, without the two hand-offs through the broker. States are
//  made by def->state_new as concurrent calls need them (at most `max`)
//  and reused; timed work (ticks) stays with the actor's threads. Events
//  are published through the broker after their commit, as the actor
//  threads' are (pd_client_publish).
typedef struct _pd_actor_local_t pd_actor_local_t;

//  For `def` (NULL if def->own_threads_only), on config's store, settings
//  and broker; max: calls at once (0: PD_ACTOR_LOCAL_MAX). NULL on failure.
#define PD_ACTOR_LOCAL_MAX 64
pd_actor_local_t *pd_actor_local_new (const pd_actor_def_t *def, const pd_actor_config_t *config,
                                      int max);
void pd_actor_local_destroy (pd_actor_local_t **self_p);

//  The service it serves
const char *pd_actor_local_service (const pd_actor_local_t *self);

//  Serve one request (header and body as a broker request carries them) in
//  the calling thread. PD_OK with the answer's status in *status and its
//  body in *reply (malloc'd, caller frees; may be NULL when empty), or
//  PD_E_BUSY when `max` calls run already (ask the broker instead).
//  Thread-safe.
int pd_actor_local_serve (pd_actor_local_t *self, const void *header, size_t header_size,
                          const void *body, size_t body_size, int *status, uint8_t **reply,
                          size_t *reply_size);

//  --- What a handler may use ------------------------------------------------

//  The store.
pd_store_t *pd_ctx_store (pd_ctx_t *ctx);

//  The settings (never NULL).
const pd_config_t *pd_ctx_config (pd_ctx_t *ctx);

//  Who is calling (never NULL: kind "public" when the gateway set none).
const pd_principal_t *pd_ctx_principal (pd_ctx_t *ctx);

//  Is the caller of this kind ("admin", "partner", "appliance"; a partner
//  must name its partner)? If not, records PD_E_FORBIDDEN with a reason:
//      if (!pd_ctx_allowed (ctx, "admin"))
//          return PD_E_FORBIDDEN;
bool pd_ctx_allowed (pd_ctx_t *ctx, const char *kind);

//  The calling partner's id (kind "partner" naming one), NULL otherwise
const char *pd_ctx_partner_id (pd_ctx_t *ctx);

//  The calling appliance's id (kind "appliance" naming one), NULL otherwise
const char *pd_ctx_appliance_id (pd_ctx_t *ctx);

//  Milliseconds since the Unix epoch, the request's "now" (pd_config_now:
//  the settings' clock, which tests move on).
int64_t pd_ctx_now (pd_ctx_t *ctx);

//  Where the request came from: the header's `source` (the gateway puts the
//  client's address there), "" if none. Never NULL.
const char *pd_ctx_source (pd_ctx_t *ctx);

//  Record why the request failed and return `status`, for
//  `return pd_ctx_fail (ctx, PD_E_NOT_FOUND, "id", "no partner %s", id);`
//  `field` may be NULL.
int pd_ctx_fail (pd_ctx_t *ctx, int status, const char *field, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

//  Put `retry_after` (seconds, clamped to the error record's 1..86400) into
//  the error body if the request fails, for rate limits:
//      pd_ctx_retry_after (ctx, seconds);
//      return pd_ctx_fail (ctx, PD_E_RATE_LIMITED, NULL, "too many failures");
//  Returns PD_OK. A successful reply carries nothing of it.
int pd_ctx_retry_after (pd_ctx_t *ctx, int seconds);

//  Append an event to `stream` in `batch` (stored with it, atomically) and
//  remember it, to be published live once pd_ctx_commit succeeds. An event
//  that fails validation, or is larger than a stream item may be, is the
//  handler's bug: PD_E_INTERNAL (logged). The runtime knows emitted events
//  by their batch's address, so: append events only through this call,
//  commit with pd_ctx_commit, and do not destroy a batch you emitted into
//  before committing it if the same request then makes another batch.
int pd_ctx_emit (pd_ctx_t *ctx, pd_store_batch_t *batch, const char *stream,
                 const pd_event_t *event);

//  Commit a batch durably; then publish the events emitted into it.
//  Returns the store's status.
int pd_ctx_commit (pd_ctx_t *ctx, pd_store_batch_t *batch);

//  Give up a batch without committing it: forget the events emitted into
//  it (call before destroying a batch you emitted into and did not commit).
void pd_ctx_discard (pd_ctx_t *ctx, pd_store_batch_t *batch);

//  A description of the caller for audit events ("admin:pda_1a2b3c4d",
//  "partner:prt_..", "user:usr_..@prt_..", "appliance:apl_.."), valid until
//  the request ends.
const char *pd_ctx_actor (pd_ctx_t *ctx);

#ifdef __cplusplus
}
#endif
#endif
