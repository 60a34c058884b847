/*  pd_zap - the process's one ZAP handler (see pd_zap.h)

    Two locks, never held the other way round:
    - s_life serialises starting and stopping the handler thread. The
      zactor's pipe is used only under it (by whichever thread makes the
      first or destroys the last registration): libzmq lets a socket move
      between threads across a full memory barrier, which the mutex is;
    - s_table guards the registrations. The handler thread takes it (and
      only it) to find a domain and to call its verdict, so a verdict never
      runs after pd_zap_destroy removed its registration.
    Events go from the handler thread to each owner over inproc PUSH/PULL:
    the owner binds a PULL at a name unique to its registration, the
    handler connects a PUSH there the first time it has something to say.
*/
#include "pd_zap.h"

#include <pthread.h>
#include <string.h>

#include "pd_status.h"

#define S_ZAP_ENDPOINT    "inproc://zeromq.zap.01"
#define S_ZAP_VERSION     "1.0"
#define S_EVENTS_ENDPOINT "inproc://pd-zap-events-%" PRIu64
#define S_ENDPOINT_MAX    64
#define S_KEY_BYTES       32 //  a CURVE public key
#define S_Z85_SIZE        40 //  ... in Z85
#define S_EVENT_REFUSED   "REFUSED"
#define S_EVENT_STOPPED   "STOPPED"
//  An event still in a PUSH when the handler closes it gets this long to be
//  taken (the last one, STOPPED, matters)
#define S_PUSH_LINGER_MS 1000

struct _pd_zap_t {
    char *domain;               //  the ZAP domain
    pd_zap_verdict_fn *verdict; //  its verdict
    void *arg;                  //  the verdict's argument
    uint64_t id;                //  names the events endpoint
    zsock_t *events;            //  PULL, the owner's thread
};

static pthread_mutex_t s_life = PTHREAD_MUTEX_INITIALIZER;
static zactor_t *s_handler; //  under s_life: the handler thread
static size_t s_refs;       //  under s_life: registrations made with it
static uint64_t s_last_id;  //  under s_life: of registrations

static pthread_mutex_t s_table = PTHREAD_MUTEX_INITIALIZER;
static zlistx_t *s_registrations; //  under s_table: pd_zap_t * (not owned)
static bool s_stopped;            //  under s_table: the handler thread ended

//  --------------------------------------------------------------------------
//  The handler thread

//  Iterate the registrations (s_table held); the list exists only while
//  it has some
static pd_zap_t *
s_first (void)
{
    return s_registrations ? (pd_zap_t *)zlistx_first (s_registrations) : NULL;
}

static pd_zap_t *
s_next (void)
{
    return (pd_zap_t *)zlistx_next (s_registrations);
}

//  The handler's PUSH towards registration `id`, connected at first use
static zsock_t *
s_push (zhashx_t *pushes, uint64_t id)
{
    char key[24];
    snprintf (key, sizeof (key), "%" PRIu64, id);
    zsock_t *push = (zsock_t *)zhashx_lookup (pushes, key);
    if (!push) {
        push = zsock_new (ZMQ_PUSH);
        assert (push);
        zsock_set_linger (push, S_PUSH_LINGER_MS);
        zsock_set_sndtimeo (push, 0);
        zsock_connect (push, S_EVENTS_ENDPOINT, id);
        zhashx_insert (pushes, key, push);
    }
    return push;
}

static void
s_push_destroy (void **item)
{
    zsock_destroy ((zsock_t **)item);
}

//  Tell registration `id`, if it still exists, about an event. Forgets the
//  PUSH sockets of registrations that are gone. Takes s_table.
static void
s_tell (zhashx_t *pushes, uint64_t id, const char *event)
{
    pthread_mutex_lock (&s_table);
    zlistx_t *gone = zhashx_keys (pushes);
    bool exists = false;
    for (pd_zap_t *zap = s_first (); zap; zap = s_next ()) {
        char key[24];
        snprintf (key, sizeof (key), "%" PRIu64, zap->id);
        void *handle = zlistx_find (gone, key);
        if (handle)
            zlistx_delete (gone, handle);
        exists = exists || zap->id == id;
    }
    for (char *key = (char *)zlistx_first (gone); key; key = (char *)zlistx_next (gone))
        zhashx_delete (pushes, key);
    zlistx_destroy (&gone);
    if (exists)
        zstr_send (s_push (pushes, id), event);
    pthread_mutex_unlock (&s_table);
}

//  The verdict on one handshake. Takes s_table. PD_OK with user_id set,
//  or a refusal; *id is the registration to tell (0: none).
static int
s_judge (const char *domain, const char *mechanism, zframe_t *key, char *user_id, uint64_t *id)
{
    *id = 0;
    pthread_mutex_lock (&s_table);
    pd_zap_t *found = NULL;
    for (pd_zap_t *zap = s_first (); zap && domain; zap = s_next ())
        if (streq (zap->domain, domain))
            found = zap;
    int rc = PD_E_FORBIDDEN;
    if (found) {
        *id = found->id;
        if (mechanism && streq (mechanism, "CURVE") && key && zframe_size (key) == S_KEY_BYTES) {
            char z85[S_Z85_SIZE + 1];
            zmq_z85_encode (z85, zframe_data (key), S_KEY_BYTES);
            rc = found->verdict (z85, user_id, PD_ZAP_USER_ID_MAX, found->arg);
            user_id[PD_ZAP_USER_ID_MAX - 1] = 0;
            if (rc == PD_OK && !*user_id)
                rc = PD_E_INTERNAL; //  the verdict's bug: refuse
        }
    }
    pthread_mutex_unlock (&s_table);
    return rc;
}

//  Answer one ZAP request: [version, request id, domain, address, identity,
//  mechanism, credentials...]
static void
s_answer (zsock_t *handler, zhashx_t *pushes)
{
    zmsg_t *request = zmsg_recv (handler);
    if (!request)
        return;
    char *version = zmsg_popstr (request);
    zframe_t *request_id = zmsg_pop (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    char *identity = zmsg_popstr (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *key = zmsg_pop (request);

    char user_id[PD_ZAP_USER_ID_MAX] = "";
    uint64_t id = 0;
    int rc = PD_E_FORBIDDEN;
    if (version && streq (version, S_ZAP_VERSION) && zmsg_size (request) == 0)
        rc = s_judge (domain, mechanism, key, user_id, &id);
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, S_ZAP_VERSION);
    if (request_id)
        zmsg_append (reply, &request_id);
    else
        zmsg_addmem (reply, NULL, 0);
    zmsg_addstr (reply, rc == PD_OK ? "200" : "400");
    zmsg_addstr (reply, rc == PD_OK ? "OK" : "refused");
    zmsg_addstr (reply, rc == PD_OK ? user_id : "");
    zmsg_addmem (reply, NULL, 0); //  metadata: none
    if (zmsg_send (&reply, handler))
        zmsg_destroy (&reply);
    if (rc != PD_OK && id)
        s_tell (pushes, id, S_EVENT_REFUSED);

    free (version);
    free (domain);
    free (address);
    free (identity);
    free (mechanism);
    zframe_destroy (&request_id);
    zframe_destroy (&key);
    zmsg_destroy (&request);
}

static void
s_handler_actor (zsock_t *pipe, void *arg)
{
    zsock_t *handler = zsock_new (ZMQ_REP);
    int rc = handler ? zsock_bind (handler, S_ZAP_ENDPOINT) : -1;
    //  zactor_new's handshake, then the set-up result
    zsock_signal (pipe, 0);
    zsock_signal (pipe, rc == 0 ? 0 : 1);
    zhashx_t *pushes = zhashx_new ();
    zhashx_set_destructor (pushes, s_push_destroy);
    if (rc == 0) {
        zsock_set_linger (handler, 0);
        zmq_pollitem_t items[] = {{zsock_resolve (pipe), 0, ZMQ_POLLIN, 0},
                                  {zsock_resolve (handler), 0, ZMQ_POLLIN, 0}};
        while (true) {
            if (zmq_poll (items, 2, -1) == -1) {
                if (errno == EINTR)
                    continue;
                break; //  context terminated
            }
            if (items[0].revents & ZMQ_POLLIN) {
                char *command = zstr_recv (pipe);
                bool stop = !command || streq (command, "$TERM");
                free (command);
                if (stop)
                    break;
            }
            if (items[1].revents & ZMQ_POLLIN)
                s_answer (handler, pushes);
        }
        //  Unbinding an inproc endpoint is synchronous: the next handler
        //  can bind
        zsock_unbind (handler, S_ZAP_ENDPOINT);
    }
    zsock_destroy (&handler);
    //  Whoever is still registered must close its CURVE sockets
    pthread_mutex_lock (&s_table);
    s_stopped = true;
    for (pd_zap_t *zap = s_first (); zap; zap = s_next ())
        zstr_send (s_push (pushes, zap->id), S_EVENT_STOPPED);
    pthread_mutex_unlock (&s_table);
    zhashx_destroy (&pushes);
}

//  --------------------------------------------------------------------------
//  Registrations

static void
s_zap_free (pd_zap_t *self)
{
    zsock_destroy (&self->events);
    free (self->domain);
    free (self);
}

//  Add a registration unless its domain is taken or the handler stopped
static bool
s_table_add (pd_zap_t *self)
{
    pthread_mutex_lock (&s_table);
    if (!s_registrations)
        s_registrations = zlistx_new ();
    bool taken = s_stopped;
    for (pd_zap_t *zap = s_first (); zap && !taken; zap = s_next ())
        taken = streq (zap->domain, self->domain);
    if (!taken)
        zlistx_add_end (s_registrations, self);
    pthread_mutex_unlock (&s_table);
    return !taken;
}

pd_zap_t *
pd_zap_new (const char *domain, pd_zap_verdict_fn *verdict, void *arg)
{
    size_t length = domain ? strlen (domain) : 0;
    if (length == 0 || length > PD_ZAP_DOMAIN_MAX || !verdict)
        return NULL;
    pthread_mutex_lock (&s_life);
    if (s_refs == 0) {
        s_handler = zactor_new (s_handler_actor, NULL);
        if (s_handler && zsock_wait (s_handler) != 0)
            zactor_destroy (&s_handler);
        if (!s_handler) {
            pthread_mutex_unlock (&s_life);
            return NULL;
        }
        pthread_mutex_lock (&s_table);
        s_stopped = false;
        pthread_mutex_unlock (&s_table);
    }
    pd_zap_t *self = (pd_zap_t *)zmalloc (sizeof (pd_zap_t));
    self->domain = strdup (domain);
    self->verdict = verdict;
    self->arg = arg;
    self->id = ++s_last_id;
    self->events = zsock_new (ZMQ_PULL);
    assert (self->events);
    zsock_set_rcvtimeo (self->events, 0);
    bool ok = zsock_bind (self->events, S_EVENTS_ENDPOINT, self->id) == 0 && s_table_add (self);
    if (ok)
        s_refs++;
    else {
        s_zap_free (self);
        self = NULL;
        if (s_refs == 0)
            zactor_destroy (&s_handler);
    }
    pthread_mutex_unlock (&s_life);
    return self;
}

void
pd_zap_destroy (pd_zap_t **self_p)
{
    assert (self_p);
    pd_zap_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock (&s_life);
    pthread_mutex_lock (&s_table);
    zlistx_delete (s_registrations, zlistx_find (s_registrations, self));
    if (zlistx_size (s_registrations) == 0)
        zlistx_destroy (&s_registrations);
    pthread_mutex_unlock (&s_table);
    if (--s_refs == 0)
        zactor_destroy (&s_handler);
    pthread_mutex_unlock (&s_life);
    s_zap_free (self);
    *self_p = NULL;
}

const char *
pd_zap_domain (pd_zap_t *self)
{
    assert (self);
    return self->domain;
}

zsock_t *
pd_zap_events (pd_zap_t *self)
{
    assert (self);
    return self->events;
}

int
pd_zap_recv (pd_zap_t *self)
{
    assert (self);
    char *event = zstr_recv (self->events);
    int rc = !event ? 0 : streq (event, S_EVENT_REFUSED) ? PD_ZAP_REFUSED : PD_ZAP_STOPPED;
    free (event);
    return rc;
}

int
pd_zap_apply (pd_zap_t *self, zsock_t *sock)
{
    assert (self && sock);
    zsock_set_zap_domain (sock, pd_zap_domain (self));
    int enforce = 1;
    return zmq_setsockopt (zsock_resolve (sock), PD_ZAP_ENFORCE_DOMAIN, &enforce,
                           sizeof (enforce)) == 0
               ? 0
               : -1;
}
