/*  pd_actor - the actor runtime (see pd_actor.h)

    One thread per actor instance. The thread owns a pd_worker (its broker
    connection) and the actor's state, and serves one request at a time:

        header  -> pd_header_t          malformed       -> PD_E_PROTOCOL
        type    -> catalogue + handler  none / not ours -> PD_E_UNKNOWN_TYPE
        body    -> request record       invalid         -> the schema's status
        handler -> reply record         error           -> its status

    Every failed reply carries an error body (pd_error_t: code, detail,
    field). Events a handler emits are remembered per batch and published
    only after pd_ctx_commit made that batch durable: persist before publish.
*/
#include "pd_actor.h"

#include <openssl/crypto.h>

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "pd_caller.h"
#include "pd_client.h"
#include "pd_worker.h"

//  event.actor holds at most this many bytes ("partner:" + a 64-byte id fits)
#define S_ACTOR_SIZE 128

//  An event appended to a batch, waiting for the batch to commit
typedef struct {
    pd_store_batch_t *batch; //  the batch it was appended to (not owned)
    size_t append_index;     //  its index among the appends of that batch
    char *stream;            //  stream name
    uint8_t *data;           //  encoded event, as stored
    size_t size;
} s_emitted_t;

//  Publish one committed event: PD_OK or the reason it was not sent
typedef int (s_publish_fn) (void *arg, const char *stream, uint64_t seq, const uint8_t *data,
                            size_t size);

struct _pd_ctx_t {
    pd_store_t *store;         //  shared store (not owned)
    const pd_config_t *config; //  settings (not owned)
    s_publish_fn *publish;     //  where events are published
    void *publish_arg;
    const pd_principal_t *principal; //  the header's, or s_public (not owned)
    int64_t now;                     //  wall clock at the request's start, ms
    const char *source;              //  the header's source, or "" (not owned)
    int retry_after;                 //  seconds for the error body, 0 = none
    pd_schema_error_t fail;          //  set by pd_ctx_fail: status, field, detail
    char actor[S_ACTOR_SIZE];        //  pd_ctx_actor's text, made on demand
    s_emitted_t *emitted;            //  events not yet committed, in emit order
    size_t emitted_count;
    size_t emitted_max;
};

//  The principal of a request whose header names none
static const pd_principal_t s_public = {.present = UINT64_C (1) << PD_FIELD_principal_kind,
                                        .kind = (char *)"public"};

//  ------------------------------------------------------------------------
//  The actor thread's state

typedef struct {
    const pd_actor_def_t *def; //  the actor's definition (static, not owned)
    pd_store_t *store;         //  shared store (not owned)
    const pd_config_t *config; //  settings: the caller's, or own_config
    pd_config_t *own_config;   //  defaults + environment when the caller gave none
    pd_worker_t *worker;       //  connection to the broker, serving def->service
    void *state;               //  the actor's own state, from def->state_new
} self_t;

//  What pd_actor_new hands to the thread (copied by the thread at once)
typedef struct {
    const pd_actor_def_t *def;
    pd_actor_config_t config;
} s_args_t;

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    if (self->state && self->def->state_destroy)
        self->def->state_destroy (&self->state);
    pd_worker_destroy (&self->worker);
    pd_config_destroy (&self->own_config);
    free (self);
    *self_p = NULL;
}

static self_t *
s_self_new (const s_args_t *args)
{
    self_t *self = calloc (1, sizeof (self_t));
    if (!self)
        return NULL;
    self->def = args->def;
    self->store = args->config.store;
    self->config = args->config.config;
    if (!self->config) {
        char error[256];
        self->config = self->own_config = pd_config_new (NULL, error, sizeof (error));
        if (!self->config) {
            zsys_error ("actor: %s: %s", self->def->service, error);
            s_self_destroy (&self);
            return NULL;
        }
    }

    pd_worker_config_t worker_config = {0};
    worker_config.heartbeat_ms = args->config.heartbeat_ms;
    worker_config.credit = args->config.credit;
    worker_config.keys = args->config.broker_keys;
    self->worker = pd_worker_new (args->config.broker, self->def->service, &worker_config);
    if (!self->worker) {
        zsys_error ("actor: %s cannot reach the broker", self->def->service);
        s_self_destroy (&self);
        return NULL;
    }
    self->state = self->def->state_new ? self->def->state_new (self->store, self->config) : NULL;
    if (self->def->state_new && !self->state) {
        zsys_error ("actor: %s state set-up failed", self->def->service);
        s_self_destroy (&self);
        return NULL;
    }
    return self;
}

//  ------------------------------------------------------------------------
//  Text of error bodies: PD_FMT_TEXT is UTF-8 without control characters
//  (C0 except tab, DEL, C1). A handler's detail may quote anything and be
//  cut anywhere by the buffer, so replace control characters and invalid
//  bytes with '?' and drop a sequence cut at the end.

//  Length of the UTF-8 sequence at s (RFC 3629: no overlong forms, no
//  surrogates, nothing above U+10FFFF): 1..4, 0 if invalid, SIZE_MAX if
//  the text ends inside it
static size_t
s_utf8_length (const unsigned char *s)
{
    size_t length = 0;
    unsigned char low = 0x80, high = 0xBF; //  range of the second byte
    if (s[0] < 0x80)
        return 1;
    else if (s[0] >= 0xC2 && s[0] <= 0xDF)
        length = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        length = 3;
        low = s[0] == 0xE0 ? 0xA0 : 0x80;
        high = s[0] == 0xED ? 0x9F : 0xBF;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        length = 4;
        low = s[0] == 0xF0 ? 0x90 : 0x80;
        high = s[0] == 0xF4 ? 0x8F : 0xBF;
    } else
        return 0;
    for (size_t i = 1; i < length; i++) {
        if (!s[i])
            return SIZE_MAX;
        if (i == 1 ? s[i] < low || s[i] > high : (s[i] & 0xC0) != 0x80)
            return 0;
    }
    return length;
}

static void
s_text_clean (char *text)
{
    unsigned char *s = (unsigned char *)text;
    while (*s) {
        if (*s < 0x80) {
            if ((*s < 0x20 && *s != '\t') || *s == 0x7F)
                *s = '?';
            s++;
            continue;
        }
        size_t length = s_utf8_length (s);
        if (length == SIZE_MAX) {
            *s = 0;
            break;
        }
        if (length == 0) {
            *s++ = '?';
            continue;
        }
        if (length == 2 && s[0] == 0xC2 && s[1] < 0xA0)
            s[0] = s[1] = '?'; //  a C1 control character
        s += length;
    }
}

//  ------------------------------------------------------------------------
//  Replies

//  What one request is answered: its status and body (malloc'd, may be
//  NULL when empty)
typedef struct {
    int status;
    uint8_t *body;
    size_t size;
} s_answer_t;

//  Where a request is served: the actor, its state for this request, and
//  where its events go
typedef struct {
    const pd_actor_def_t *def;
    void *state;
    pd_store_t *store;
    const pd_config_t *config;
    s_publish_fn *publish;
    void *publish_arg;
} s_server_t;

//  An error body {code, detail, field, retry_after}. The detail is the one
//  pd_ctx_fail or the decoder gave, else the status title; retry_after is
//  left out when 0.
static void
s_answer_error (const s_server_t *server, s_answer_t *answer, int status, const char *field,
                const char *detail, int retry_after)
{
    pd_error_t error = {0};
    error.code = (char *)pd_status_code (status);
    error.detail = (char *)(detail && *detail ? detail : pd_status_title (status));
    error.field = field && *field ? (char *)field : NULL;
    if (retry_after > 0) {
        error.retry_after = retry_after;
        PD_MARK (&error, error, retry_after);
    }
    free (answer->body);
    answer->body = NULL;
    answer->size = 0;
    answer->status = status;
    if (pd_schema_encode (&pd_error_schema, &error, &answer->body, &answer->size) != PD_OK)
        zsys_error ("actor: %s cannot encode an error body rc=%s", server->def->service,
                    pd_status_code (status));
}

static void
s_answer_ok (const s_server_t *server, s_answer_t *answer, const pd_schema_t *schema,
             const void *record)
{
    //  A reply its receiver would refuse is the handler's bug: say where
    pd_schema_error_t error = {0};
    int rc = pd_schema_validate (schema, record, &error);
    if (rc == PD_OK)
        rc = pd_schema_encode (schema, record, &answer->body, &answer->size);
    if (rc != PD_OK) {
        zsys_error ("actor: %s invalid %s reply field=%s rc=%s", server->def->service, schema->name,
                    error.field, pd_status_code (rc));
        s_answer_error (server, answer, PD_E_INTERNAL, NULL, NULL, 0);
        return;
    }
    answer->status = PD_OK;
}

//  ------------------------------------------------------------------------
//  One request

static pd_handler_fn *
s_handler (const pd_actor_def_t *def, const char *type)
{
    for (const pd_handler_t *handler = def->handlers; handler && handler->type; handler++)
        if (strcmp (handler->type, type) == 0)
            return handler->handle;
    return NULL;
}

static void
s_ctx_reset (pd_ctx_t *ctx)
{
    for (size_t i = 0; i < ctx->emitted_count; i++) {
        free (ctx->emitted[i].stream);
        free (ctx->emitted[i].data);
    }
    free (ctx->emitted);
    memset (ctx, 0, sizeof (*ctx));
}

//  A status a handler may return: PD_OK or a known PD_E_*, else internal
static int
s_status_normal (int status)
{
    return status > 0 ? PD_E_INTERNAL : pd_status_from_wire (pd_status_to_wire (status));
}

//  Answer one request: header and body as the broker delivers them
static void
s_handle (const s_server_t *server, const uint8_t *header_data, size_t header_size,
          const uint8_t *body_data, size_t body_size, s_answer_t *answer)
{
    //  An empty body is an empty map, so that a message without fields can
    //  be sent without one, and a missing field is reported as missing
    static const uint8_t s_empty_map[] = {0x80};

    pd_header_t header = {0};
    pd_schema_error_t error = {0};
    void *req_record = NULL;
    void *reply_record = NULL;
    const pd_message_t *message = NULL;
    pd_ctx_t ctx = {0};
    bool snapshot = false;

    int rc = pd_schema_decode (&pd_header_schema, header_data, header_size, &header, &error);
    if (rc != PD_OK) {
        char field[sizeof (error.field)]; //  fits the error record's field
        snprintf (field, sizeof (field), "header%s%.*s", error.field[0] ? "." : "",
                  (int)(sizeof (field) - sizeof ("header.")), error.field);
        s_answer_error (server, answer, PD_E_PROTOCOL, field,
                        error.detail[0] ? error.detail : "invalid request header", 0);
        goto cleanup;
    }
    message = pd_message_find (header.type);
    pd_handler_fn *handle = s_handler (server->def, header.type);
    if (!message || !handle || strcmp (message->service, server->def->service) != 0) {
        s_answer_error (server, answer, PD_E_UNKNOWN_TYPE, "type", "unknown message type", 0);
        goto cleanup;
    }
    //  One snapshot for the caller's credential and the handler's reads
    snapshot = pd_store_read_begin (server->store) == PD_OK;
    ctx.now = pd_config_now (server->config);
    ctx.source = header.source ? header.source : "";
    int retry_after = 0;
    rc = pd_caller_judge (server->store, server->config, &header, ctx.now, &error, &retry_after);
    if (rc != PD_OK) {
        s_answer_error (server, answer, rc, error.field, error.detail, retry_after);
        goto cleanup;
    }
    ctx.principal = header.principal ? header.principal : &s_public;
    req_record = calloc (1, message->request->size);
    reply_record = calloc (1, message->reply->size);
    if (!req_record || !reply_record) {
        s_answer_error (server, answer, PD_E_INTERNAL, NULL, NULL, 0);
        goto cleanup;
    }
    const uint8_t *body = body_size ? body_data : s_empty_map;
    rc = pd_schema_decode (message->request, body, body_size ? body_size : sizeof (s_empty_map),
                           req_record, &error);
    if (rc != PD_OK) {
        s_answer_error (server, answer, error.status ? error.status : rc, error.field, error.detail,
                        0);
        goto cleanup;
    }

    ctx.store = server->store;
    ctx.config = server->config;
    ctx.publish = server->publish;
    ctx.publish_arg = server->publish_arg;
    rc = s_status_normal (handle (server->state, &ctx, req_record, reply_record));
    if (rc == PD_OK)
        s_answer_ok (server, answer, message->reply, reply_record);
    else if (ctx.fail.status == rc)
        s_answer_error (server, answer, rc, ctx.fail.field, ctx.fail.detail, ctx.retry_after);
    else
        s_answer_error (server, answer, rc, NULL, NULL, ctx.retry_after);

cleanup:
    if (snapshot)
        pd_store_read_end (server->store);
    s_ctx_reset (&ctx);
    if (message) {
        if (req_record)
            pd_schema_clear (message->request, req_record);
        if (reply_record)
            pd_schema_clear (message->reply, reply_record);
    }
    free (req_record);
    free (reply_record);
    pd_schema_clear (&pd_header_schema, &header);
}

//  Events of the actor thread go out through its worker
static int
s_worker_publish (void *arg, const char *stream, uint64_t seq, const uint8_t *data, size_t size)
{
    return pd_worker_publish ((pd_worker_t *)arg, stream, seq, data, size);
}

//  Serve one request from the broker on the actor's thread
static void
s_serve (self_t *self, pd_request_t *request)
{
    s_server_t server = {self->def,    self->state,      self->store,
                         self->config, s_worker_publish, self->worker};
    s_answer_t answer = {0};
    s_handle (&server, request->header, request->header_size, request->body, request->body_size,
              &answer);
    if (pd_worker_reply (self->worker, &request, answer.status, answer.body, answer.size) != PD_OK)
        zsys_warning ("actor: %s reply not sent rc=%s", self->def->service,
                      pd_status_code (answer.status));
    pd_request_destroy (&request);
    free (answer.body);
}

//  The principal of timed work
static const pd_principal_t s_system = {.present = (UINT64_C (1) << PD_FIELD_principal_kind) |
                                                   (UINT64_C (1) << PD_FIELD_principal_key_id),
                                        .kind = (char *)"admin",
                                        .key_id = (char *)"system"};

//  Run the definition's tick once
static void
s_tick (self_t *self)
{
    pd_ctx_t ctx = {0};
    ctx.store = self->store;
    ctx.config = self->config;
    ctx.publish = s_worker_publish;
    ctx.publish_arg = self->worker;
    ctx.principal = &s_system;
    ctx.now = pd_config_now (self->config);
    ctx.source = "";
    int rc = s_status_normal (self->def->tick (self->state, &ctx));
    if (rc != PD_OK)
        zsys_warning ("actor: %s tick rc=%s", self->def->service, pd_status_code (rc));
    s_ctx_reset (&ctx);
}

//  ------------------------------------------------------------------------
//  The thread

static void
s_actor_task (zsock_t *pipe, void *arg)
{
    s_args_t args = *(s_args_t *)arg;
    //  Two signals: zactor_new takes the first; pd_actor_new reads the
    //  second, which says whether set-up succeeded.
    zsock_signal (pipe, 0);
    self_t *self = s_self_new (&args);
    zsock_signal (pipe, self ? 0 : (byte)-1);
    if (!self)
        return;

    int tick_ms = self->def->tick_ms_of ? self->def->tick_ms_of (self->config) : self->def->tick_ms;
    bool ticks = self->def->tick && tick_ms > 0;
    int64_t next_tick = ticks ? zclock_mono () + tick_ms : -1;
    bool terminated = false;
    while (!terminated) {
        pd_request_t *request = NULL;
        int rc = pd_worker_wait_until (self->worker, pipe, &request, next_tick);
        if (rc == PD_OK)
            s_serve (self, request);
        if (ticks && zclock_mono () >= next_tick) {
            //  Due, whether the wait timed out or requests kept coming
            s_tick (self);
            next_tick = zclock_mono () + tick_ms;
        }
        if (rc == PD_OK || rc == PD_E_TIMEOUT)
            continue;
        if (rc == PD_WORKER_PIPE) {
            char *command = zstr_recv (pipe);
            if (!command || streq (command, "$TERM"))
                terminated = true;
            else
                zsys_warning ("actor: %s ignores command %s", self->def->service, command);
            zstr_free (&command);
        } else {
            //  ZeroMQ is shutting down: nothing more can be served
            zsys_error ("actor: %s stops rc=%s", self->def->service, pd_status_code (rc));
            terminated = true;
        }
    }
    s_self_destroy (&self);
    //  Free OpenSSL's per-thread state (DRBG, error queue) now: the thread
    //  may outlive the join by a moment, and its state must not leak
    OPENSSL_thread_stop ();
}

zactor_t *
pd_actor_new (const pd_actor_def_t *def, const pd_actor_config_t *config)
{
    assert (def && def->service && def->handlers);
    assert (config && config->broker);
    s_args_t args = {def, *config};
    zactor_t *actor = zactor_new (s_actor_task, &args);
    if (actor && zsock_wait (actor) != 0)
        zactor_destroy (&actor);
    return actor;
}

//  ------------------------------------------------------------------------
//  Serving in the caller's thread

struct _pd_actor_local_t {
    const pd_actor_def_t *def;
    pd_store_t *store;
    const pd_config_t *config; //  the caller's, or own_config
    pd_config_t *own_config;
    pthread_mutex_t lock; //  guards idle, idle_count, busy
    void **idle;          //  states made and free now (max entries)
    size_t idle_count;
    size_t busy; //  calls running
    size_t max;
    pthread_mutex_t publish_lock; //  guards publisher (one socket, many threads)
    pd_client_t *publisher;       //  events out to the broker
};

//  Events of local calls: one broker connection for all threads
static int
s_local_publish (void *arg, const char *stream, uint64_t seq, const uint8_t *data, size_t size)
{
    pd_actor_local_t *self = (pd_actor_local_t *)arg;
    pthread_mutex_lock (&self->publish_lock);
    int rc = pd_client_publish (self->publisher, stream, seq, data, size);
    pthread_mutex_unlock (&self->publish_lock);
    return rc;
}

pd_actor_local_t *
pd_actor_local_new (const pd_actor_def_t *def, const pd_actor_config_t *config, int max)
{
    assert (def && config && config->broker && config->store);
    if (def->own_threads_only)
        return NULL;
    pd_actor_local_t *self = calloc (1, sizeof (pd_actor_local_t));
    if (!self)
        return NULL;
    self->def = def;
    self->store = config->store;
    self->max = max > 0 ? (size_t)max : PD_ACTOR_LOCAL_MAX;
    self->idle = calloc (self->max, sizeof (void *));
    pthread_mutex_init (&self->lock, NULL);
    pthread_mutex_init (&self->publish_lock, NULL);
    self->config = config->config;
    if (!self->config) {
        char error[256];
        self->config = self->own_config = pd_config_new (NULL, error, sizeof (error));
    }
    self->publisher = pd_client_new_curve (config->broker, config->broker_keys);
    if (!self->idle || !self->config || !self->publisher) {
        zsys_error ("actor: %s cannot serve locally", def->service);
        pd_actor_local_destroy (&self);
    }
    return self;
}

void
pd_actor_local_destroy (pd_actor_local_t **self_p)
{
    assert (self_p);
    pd_actor_local_t *self = *self_p;
    if (!self)
        return;
    assert (self->busy == 0); //  callers are done
    for (size_t i = 0; i < self->idle_count; i++)
        if (self->def->state_destroy)
            self->def->state_destroy (&self->idle[i]);
    free (self->idle);
    pd_client_destroy (&self->publisher);
    pd_config_destroy (&self->own_config);
    pthread_mutex_destroy (&self->publish_lock);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

const char *
pd_actor_local_service (const pd_actor_local_t *self)
{
    assert (self);
    return self->def->service;
}

int
pd_actor_local_serve (pd_actor_local_t *self, const void *header, size_t header_size,
                      const void *body, size_t body_size, int *status, uint8_t **reply,
                      size_t *reply_size)
{
    assert (self && status && reply && reply_size);
    *reply = NULL;
    *reply_size = 0;
    //  A state free now, or the right to make one
    pthread_mutex_lock (&self->lock);
    if (self->busy == self->max) {
        pthread_mutex_unlock (&self->lock);
        return PD_E_BUSY;
    }
    self->busy++;
    void *state = self->idle_count ? self->idle[--self->idle_count] : NULL;
    bool fresh = !state;
    pthread_mutex_unlock (&self->lock);
    if (fresh && self->def->state_new) {
        state = self->def->state_new (self->store, self->config);
        if (!state) {
            pthread_mutex_lock (&self->lock);
            self->busy--;
            pthread_mutex_unlock (&self->lock);
            return PD_E_BUSY; //  the actor's own threads may still serve it
        }
    }
    s_server_t server = {self->def,    state,           self->store,
                         self->config, s_local_publish, (void *)self};
    s_answer_t answer = {0};
    s_handle (&server, header, header_size, body, body_size, &answer);
    *status = answer.status;
    *reply = answer.body;
    *reply_size = answer.size;

    pthread_mutex_lock (&self->lock);
    if (state)
        self->idle[self->idle_count++] = state; //  busy counted it: there is room
    self->busy--;
    pthread_mutex_unlock (&self->lock);
    return PD_OK;
}

//  ------------------------------------------------------------------------
//  What a handler may use

int
pd_actor_instances (const pd_actor_def_t *def, int instances)
{
    return def->min_instances > instances ? def->min_instances : instances;
}

pd_store_t *
pd_ctx_store (pd_ctx_t *ctx)
{
    return ctx->store;
}

const pd_config_t *
pd_ctx_config (pd_ctx_t *ctx)
{
    return ctx->config;
}

const pd_principal_t *
pd_ctx_principal (pd_ctx_t *ctx)
{
    return ctx->principal;
}

bool
pd_ctx_allowed (pd_ctx_t *ctx, const char *kind)
{
    const pd_principal_t *principal = ctx->principal;
    bool allowed = strcmp (principal->kind, kind) == 0;
    if (allowed && strcmp (kind, "partner") == 0)
        allowed = principal->partner_id && *principal->partner_id;
    if (!allowed)
        pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "%s",
                     strcmp (kind, "admin") == 0 ? "platform admins only" : "not for this caller");
    return allowed;
}

const char *
pd_ctx_partner_id (pd_ctx_t *ctx)
{
    const pd_principal_t *principal = ctx->principal;
    return strcmp (principal->kind, "partner") == 0 && principal->partner_id &&
                   *principal->partner_id
               ? principal->partner_id
               : NULL;
}

const char *
pd_ctx_appliance_id (pd_ctx_t *ctx)
{
    const pd_principal_t *principal = ctx->principal;
    return strcmp (principal->kind, "appliance") == 0 && principal->appliance_id &&
                   *principal->appliance_id
               ? principal->appliance_id
               : NULL;
}

int64_t
pd_ctx_now (pd_ctx_t *ctx)
{
    return ctx->now;
}

const char *
pd_ctx_source (pd_ctx_t *ctx)
{
    return ctx->source ? ctx->source : "";
}

int
pd_ctx_fail (pd_ctx_t *ctx, int status, const char *field, const char *fmt, ...)
{
    ctx->fail.status = status;
    snprintf (ctx->fail.field, sizeof (ctx->fail.field), "%s", field ? field : "");
    s_text_clean (ctx->fail.field);
    va_list args;
    va_start (args, fmt);
    vsnprintf (ctx->fail.detail, sizeof (ctx->fail.detail), fmt, args);
    va_end (args);
    s_text_clean (ctx->fail.detail);
    return status;
}

int
pd_ctx_retry_after (pd_ctx_t *ctx, int seconds)
{
    //  The error record's limits, so that the error body stays valid
    const pd_field_t *field = pd_schema_field (&pd_error_schema, "retry_after", NULL);
    int max = field && field->max > 0 && field->max < INT_MAX ? (int)field->max : INT_MAX;
    ctx->retry_after = seconds < 1 ? 1 : seconds > max ? max : seconds;
    return PD_OK;
}

//  The largest event a stream can hold: what a stream.read item carries
static size_t
s_event_max (void)
{
    const pd_field_t *field = pd_schema_field (&pd_stream_item_schema, "event", NULL);
    return field && field->max > 0 ? (size_t)field->max : PD_SCHEMA_MAX_INPUT;
}

int
pd_ctx_emit (pd_ctx_t *ctx, pd_store_batch_t *batch, const char *stream, const pd_event_t *event)
{
    assert (ctx && batch && stream && event);
    //  A bad event is the handler's bug, not the caller's: internal error
    pd_schema_error_t error = {0};
    if (pd_schema_validate (&pd_event_schema, event, &error) != PD_OK) {
        zsys_error ("actor: invalid event stream=%s field=%s rc=%s", stream, error.field,
                    pd_status_code (error.status));
        return PD_E_INTERNAL;
    }
    if (ctx->emitted_count == ctx->emitted_max) {
        size_t max = ctx->emitted_max ? 2 * ctx->emitted_max : 4;
        s_emitted_t *emitted = realloc (ctx->emitted, max * sizeof (s_emitted_t));
        if (!emitted)
            return PD_E_INTERNAL;
        ctx->emitted = emitted;
        ctx->emitted_max = max;
    }
    s_emitted_t entry = {batch, 0, NULL, NULL, 0};
    int rc = pd_schema_encode (&pd_event_schema, event, &entry.data, &entry.size);
    if (rc != PD_OK)
        return PD_E_INTERNAL;
    if (entry.size > s_event_max ()) {
        zsys_error ("actor: event too large stream=%s size=%zu", stream, entry.size);
        free (entry.data);
        return PD_E_INTERNAL;
    }
    entry.stream = strdup (stream);
    if (!entry.stream) {
        free (entry.data);
        return PD_E_INTERNAL;
    }
    rc = pd_store_batch_append (batch, PD_ACTOR_EVENT_TABLE, stream, entry.data, entry.size);
    if (rc != PD_OK) {
        free (entry.stream);
        free (entry.data);
        return rc;
    }
    for (size_t i = 0; i < ctx->emitted_count; i++)
        if (ctx->emitted[i].batch == batch)
            entry.append_index++;
    ctx->emitted[ctx->emitted_count++] = entry;
    return PD_OK;
}

//  Forget the events emitted into `batch`; publish them first if rc is PD_OK
static void s_emitted_settle (pd_ctx_t *ctx, pd_store_batch_t *batch, int rc);

int
pd_ctx_commit (pd_ctx_t *ctx, pd_store_batch_t *batch)
{
    assert (ctx && batch);
    int rc = pd_store_commit (ctx->store, batch);
    s_emitted_settle (ctx, batch, rc);
    return rc;
}

void
pd_ctx_discard (pd_ctx_t *ctx, pd_store_batch_t *batch)
{
    assert (ctx && batch);
    s_emitted_settle (ctx, batch, PD_E_INTERNAL);
}

static void
s_emitted_settle (pd_ctx_t *ctx, pd_store_batch_t *batch, int rc)
{
    //  Publish this batch's events if it committed, forget them either way;
    //  keep the others, in order
    size_t kept = 0;
    for (size_t i = 0; i < ctx->emitted_count; i++) {
        s_emitted_t *entry = &ctx->emitted[i];
        if (entry->batch != batch) {
            ctx->emitted[kept++] = *entry;
            continue;
        }
        if (rc == PD_OK) {
            uint64_t seq = pd_store_batch_seq (batch, entry->append_index);
            //  Not published is not lost: followers read it from history
            if (seq == 0 || !ctx->publish ||
                ctx->publish (ctx->publish_arg, entry->stream, seq, entry->data, entry->size) !=
                    PD_OK)
                zsys_warning ("actor: event not published stream=%s seq=%" PRIu64, entry->stream,
                              seq);
        }
        free (entry->stream);
        free (entry->data);
    }
    ctx->emitted_count = kept;
}

const char *
pd_ctx_actor (pd_ctx_t *ctx)
{
    const pd_principal_t *principal = ctx->principal;
    const char *id = NULL;
    if (streq (principal->kind, "admin"))
        id = principal->key_id;
    else if (streq (principal->kind, "partner") && principal->user_id && *principal->user_id) {
        //  A partner's user, signed in: who it is, and for whom
        snprintf (ctx->actor, sizeof (ctx->actor), "user:%s@%s", principal->user_id,
                  principal->partner_id ? principal->partner_id : "");
        return ctx->actor;
    } else if (streq (principal->kind, "partner"))
        id = principal->partner_id;
    else if (streq (principal->kind, "appliance"))
        id = principal->appliance_id;
    if (id && *id)
        snprintf (ctx->actor, sizeof (ctx->actor), "%s:%s", principal->kind, id);
    else
        snprintf (ctx->actor, sizeof (ctx->actor), "%s", principal->kind);
    return ctx->actor;
}
