/*  pd_gateway - the HTTP front: CivetWeb turning HTTP calls into actor messages

    One CivetWeb request handler, registered for "/", serves every request:
    the built-in endpoints (/healthz, /metrics, /openapi.json) first, then
    the route table. A routed request goes through these steps, each one
    either succeeding or naming the status that ends the request:

        match route -> read bounded body -> the caller's credential
        -> build the request record (JSON body, query, path parameters)
        -> one request to the broker -> reply record as JSON (cookies,
        redirect), or problem+json

    The caller is its X-API-Key, else its session cookie with the
    X-CSRF-Token header and whether the method is unsafe. The gateway judges
    no credential itself and sends no secret on: the header of the one
    broker request carries the token's public id and SHA-256 (record
    `credential`) and the route's access, and the actor runtime resolves the
    caller in the same store snapshot as the handler (pd_caller), counts the
    failures (rate limits) and gives one answer for every cause. A text
    that is no token at all goes as a credential without id, refused and
    counted the same way.

    The gateway keeps no state but its configuration, the metrics and the
    API description, all reached through the CivetWeb context's user data;
    each worker thread owns its broker client (the thread pointer).

    CivetWeb is told not to decode URLs (decode_url=no): pd_routes decodes
    each path segment itself, so that "%2F" inside a parameter stays
    distinguishable from a segment separator.

    Responses, problem bodies, cookies and header lists are pd_http's.
*/
#include "pd_gateway.h"
#include "pd_admission.h"
#include "pd_client.h"
#include "pd_framing.h"
#include "pd_http.h"
#include "pd_messages.h"
#include "pd_metrics.h"
#include "pd_netlist.h"
#include "pd_openapi.h"
#include "pd_routes.h"
#include "pd_sse.h"
#include "pd_token.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <assert.h>
#include <civetweb.h>
#include <ctype.h>
#include <czmq.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdatomic.h>
#include <time.h>

#define S_WORKER_THREAD    1             //  CivetWeb's thread_type of request workers
#define S_QUERY_NAME_MAX   64            //  bytes of a query parameter name
#define S_ALLOW_MAX        64            //  bytes of an Allow header value
#define S_COOKIE_VALUE_MAX 256           //  bytes of a session cookie read (above a token's length)
#define S_COOKIE_NAME_MAX  64            //  bytes of a cookie name with its prefix
#define S_ADDRESS_MAX      64            //  bytes of a numeric client address
#define S_FORWARDED_MAX    16            //  X-Forwarded-For entries looked at, from the right
#define S_ORIGINS_MAX      16            //  CORS origins
#define S_LISTENERS_MAX    8             //  listening sockets of one gateway
#define S_FRONT_STATS_TYPE "front.stats" //  the appliance front's counters (the catalogue)
#define S_ORIGIN_MAX       256           //  bytes of one origin
#define S_CORS_HEADERS     "Content-Type, X-API-Key, X-CSRF-Token, Last-Event-ID"
#define S_LAST_EVENT_ID                                                                            \
    "last_event_id"              //  the request field of a stream route that the header fills
#define S_RATE_WINDOW_MS    1000 //  body rate: per second
#define S_HTTP_NO_CONTENT   204
#define S_HTTP_OK           200
#define S_NS_PER_S          1e9
#define S_NS_PER_MS         1000000L
#define S_MS_PER_S          1000
#define S_MSGPACK_EMPTY_MAP 0x80 //  {} in msgpack

#define S_METRICS_TYPE   "text/plain; version=0.0.4"
#define S_API_KEY_HEADER "X-API-Key"
#define S_CSRF_HEADER    "X-CSRF-Token"
#define S_BINDING_MAX    128
#define S_PUBLIC_KIND    "public"

//  The broker clients, shared by the worker threads: a request takes one
//  for each broker call and gives it back (a ZeroMQ socket may change
//  threads across the mutex's memory barrier). At most `max` are made,
//  so the sockets and descriptors they cost are bounded whatever the number
//  of threads; a call that finds none free waits for one within its
//  deadline.
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t returned; //  a client came back (CLOCK_MONOTONIC waits)
    pd_client_t **idle;      //  clients free now (a stack), max entries
    size_t idle_count;
    size_t made; //  clients made and not destroyed
    size_t max;
} s_pool_t;

struct _pd_gateway_t {
    struct mg_context *ctx;                 //  CivetWeb server
    bool library;                           //  mg_init_library called
    char *broker;                           //  broker endpoint, for each worker's client
    int timeout_ms;                         //  deadline of one broker request
    size_t max_body;                        //  bytes of a request body
    int body_timeout_ms;                    //  time allowed for a whole body
    int body_min_rate;                      //  bytes/s a body averages after its first second
    bool cookie_secure;                     //  Secure flag and __Host- prefix on the cookies
    char session_cookie[S_COOKIE_NAME_MAX]; //  cookie names, prefixed when secure
    char csrf_cookie[S_COOKIE_NAME_MAX];
    char oauth_cookie[S_COOKIE_NAME_MAX];
    pd_netlist_t *trusted;        //  proxies whose X-Forwarded-For is believed
    pd_admission_t *admission;    //  connection limits, decided at accept
    char *origins[S_ORIGINS_MAX]; //  CORS origins allowed (none: CORS off)
    size_t origin_count;
    pd_metrics_t *metrics;           //  request counters, histograms, gauge
    const pd_message_t *front_stats; //  front.stats in the catalogue
    char *openapi;                   //  the API description, generated at start
    size_t openapi_size;
    int port; //  TCP port listened on
    //  CURVE credentials for the broker, NULL if none
    pd_keys_pair_t *broker_keys;
    pd_gateway_local_fn *local; //  services of this process, served in the worker thread
    void *local_arg;
    atomic_uint_fast64_t calls_local;  //  service calls served in the worker thread
    atomic_uint_fast64_t calls_broker; //  ...and through the broker
    char *stream;                      //  the broker's stream endpoint (NULL: no streams)
    int max_streams;                   //  event streams answered at once
    atomic_int streams;                //  ...answered now
    int max_partner_streams;           //  ...to one partner's callers
    zhashx_t *partner_streams;         //  partner id -> its streams now (intptr_t), under:
    pthread_mutex_t partner_lock;
    atomic_bool stopping; //  set before mg_stop: streams end
    s_pool_t pool;        //  broker clients
    bool pool_ready;      //  its mutex and condition variable are initialised
};

//  One request being served
typedef struct {
    pd_gateway_t *gateway;
    pd_http_t http;                     //  the response: connection, trace id, path, origin
    const struct mg_request_info *info; //  CivetWeb's parse of the request
    char client[S_ADDRESS_MAX];         //  the client's address (trusted proxies resolved)
    size_t slot;                        //  metrics slot: route index, or pd_routes_size
    //  The call a stream answers, asked again while it runs (s_stream_recheck)
    const pd_route_t *route;
    pd_credential_t *credential;
    const void *record;
} s_request_t;

//  ------------------------------------------------------------------------
//  Small helpers

//  Copy a string of at most size - 1 bytes, never cutting a UTF-8 sequence
static void
s_copy_text (char *dst, size_t size, const char *src)
{
    size_t len = src ? strlen (src) : 0;
    if (len >= size) {
        len = size - 1;
        while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
            len--;
    }
    if (len)
        memcpy (dst, src, len);
    dst[len] = '\0';
}

static int
s_fail (pd_schema_error_t *err, int status, const char *field, const char *detail)
{
    err->status = status;
    s_copy_text (err->field, sizeof (err->field), field);
    s_copy_text (err->detail, sizeof (err->detail), detail);
    return status;
}

static int64_t
s_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * S_MS_PER_S + now.tv_nsec / S_NS_PER_MS;
}

//  ------------------------------------------------------------------------
//  Responses

//  ------------------------------------------------------------------------
//  Broker requests

//  A broker client for one call: a free one, a new one while fewer than
//  the pool's max exist, or the first given back within timeout_ms. NULL
//  if none came (the call is answered 503) or one could not be made.
static pd_client_t *
s_client_take (pd_gateway_t *self, int timeout_ms)
{
    s_pool_t *pool = &self->pool;
    struct timespec until;
    clock_gettime (CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / S_MS_PER_S;
    until.tv_nsec += (long)(timeout_ms % S_MS_PER_S) * S_NS_PER_MS;
    if (until.tv_nsec >= (long)S_NS_PER_S) {
        until.tv_sec++;
        until.tv_nsec -= (long)S_NS_PER_S;
    }
    pd_client_t *client = NULL;
    bool make = false;
    pthread_mutex_lock (&pool->lock);
    while (!pool->idle_count && pool->made >= pool->max)
        if (pthread_cond_timedwait (&pool->returned, &pool->lock, &until) != 0)
            break;
    if (pool->idle_count)
        client = pool->idle[--pool->idle_count];
    else if (pool->made < pool->max) {
        pool->made++;
        make = true;
    }
    pthread_mutex_unlock (&pool->lock);
    if (make) {
        client = pd_client_new_curve (self->broker, self->broker_keys);
        if (!client) {
            zsys_error ("gateway: cannot create a broker client for %s", self->broker);
            pthread_mutex_lock (&pool->lock);
            pool->made--;
            pthread_cond_signal (&pool->returned);
            pthread_mutex_unlock (&pool->lock);
        }
    }
    return client;
}

static void
s_client_give (pd_gateway_t *self, pd_client_t *client)
{
    s_pool_t *pool = &self->pool;
    pthread_mutex_lock (&pool->lock);
    pool->idle[pool->idle_count++] = client;
    pthread_cond_signal (&pool->returned);
    pthread_mutex_unlock (&pool->lock);
}

//  Decode a reply body into a zeroed record; no body is an empty map
static int
s_decode (const pd_schema_t *schema, const uint8_t *data, size_t size, void *record,
          pd_schema_error_t *err)
{
    static const uint8_t empty_map = S_MSGPACK_EMPTY_MAP;
    if (!data || size == 0)
        return pd_schema_decode (schema, &empty_map, sizeof (empty_map), record, err);
    return pd_schema_decode (schema, data, size, record, err);
}

//  Send one request of `type` to `service` on behalf of `principal` and
//  wait for its reply. Returns the reply's status; *reply as
//  pd_client_request sets it.
static int
s_call (s_request_t *req, const char *service, const char *type, pd_principal_t *principal,
        pd_credential_t *credential, const char *access, const pd_schema_t *schema,
        const void *record, uint8_t **reply, size_t *reply_size)
{
    *reply = NULL;
    *reply_size = 0;
    pd_gateway_t *gateway = req->gateway;

    //  Borrowed strings: the header is encoded, never cleared
    pd_header_t header = {0};
    header.type = (char *)type;
    header.principal = principal;
    header.trace_id = req->http.trace_id;
    header.source = req->client;
    header.credential = credential;
    header.access = (char *)access;

    uint8_t *header_data = NULL, *body_data = NULL;
    size_t header_size = 0, body_size = 0;
    int rc = pd_schema_encode (&pd_header_schema, &header, &header_data, &header_size);
    if (rc == PD_OK)
        rc = pd_schema_encode (schema, record, &body_data, &body_size);
    //  In this process if it runs the service (no broker hand-offs), else
    //  through the broker; a local service that is busy goes there too
    bool served = false;
    if (rc == PD_OK && gateway->local) {
        int status = PD_OK;
        served = gateway->local (gateway->local_arg, service, header_data, header_size, body_data,
                                 body_size, &status, reply, reply_size) == PD_OK;
        if (served)
            rc = status;
    }
    if (rc == PD_OK || served)
        atomic_fetch_add (served ? &gateway->calls_local : &gateway->calls_broker, 1);
    if (rc == PD_OK && !served) {
        pd_client_t *client = s_client_take (gateway, gateway->timeout_ms);
        rc = client ? pd_client_request (client, service, header_data, header_size, body_data,
                                         body_size, gateway->timeout_ms, reply, reply_size)
                    : PD_E_UNAVAILABLE;
        if (client)
            s_client_give (gateway, client);
    }
    if (header_data)
        OPENSSL_cleanse (header_data, header_size); //  the credential's hashes
    free (header_data);
    free (body_data);
    return rc;
}

//  The detail, field and retry_after of an error reply, if its body is an
//  error record
static void
s_take_error (s_request_t *req, const uint8_t *reply, size_t size, int status,
              pd_schema_error_t *err)
{
    s_fail (err, status, NULL, NULL);
    if (!reply || size == 0)
        return;
    pd_error_t error = {0};
    if (pd_schema_decode (&pd_error_schema, reply, size, &error, NULL) == PD_OK) {
        s_copy_text (err->detail, sizeof (err->detail), error.detail);
        s_copy_text (err->field, sizeof (err->field), error.field);
        if (PD_HAS (&error, error, retry_after))
            req->http.retry_after = (int)error.retry_after; //  0..86400 (schema)
    }
    pd_schema_clear (&pd_error_schema, &error);
}

//  The header's access of a route (PD_ACCESS_KINDS)
static const char *
s_access (pd_access_t access)
{
    switch (access) {
    case PD_ACCESS_PUBLIC:
        return "public";
    case PD_ACCESS_ADMIN:
        return "admin";
    case PD_ACCESS_PARTNER:
        return "partner";
    case PD_ACCESS_ANY:
        return "any";
    case PD_ACCESS_APPLIANCE:
        return "appliance";
    }
    return "admin"; //  unreachable: the strictest
}

//  Methods that change nothing, so need no CSRF token (RFC 9110 9.2.1)
static bool
s_method_is_safe (const char *method)
{
    return strcmp (method, "GET") == 0 || strcmp (method, "HEAD") == 0 ||
           strcmp (method, "OPTIONS") == 0;
}

//  A presented token as its id and SHA-256 into the credential; a text
//  that is no token (NULL too) leaves both out: refused and counted
static void
s_present (pd_credential_t *credential, const char *kind, const char *text,
           uint8_t hash[PD_TOKEN_HASH_SIZE], char id[PD_TOKEN_PUBLIC_LEN + 1])
{
    credential->kind = (char *)kind;
    if (!text || pd_token_parse (text, NULL, id) != PD_OK)
        return;
    pd_token_hash (text, hash);
    credential->id = id;
    credential->hash.data = hash;
    credential->hash.size = PD_TOKEN_HASH_SIZE;
}

//  What the caller presented: the X-API-Key header, else the session
//  cookie (with the X-CSRF-Token's hash and whether the method is unsafe),
//  into *credential, whose strings and hashes are in *held. Only presence
//  is judged here: PD_E_UNAUTHORIZED if the request presents neither.
typedef struct {
    char id[PD_TOKEN_PUBLIC_LEN + 1];
    uint8_t hash[PD_TOKEN_HASH_SIZE];
    uint8_t csrf_hash[PD_TOKEN_HASH_SIZE];
} s_held_t;

static int
s_credential (s_request_t *req, pd_credential_t *credential, s_held_t *held, pd_schema_error_t *err)
{
    const char *key = mg_get_header (req->http.conn, S_API_KEY_HEADER);
    if (key && *key) {
        s_present (credential, "key", key, held->hash, held->id);
        return PD_OK;
    }
    char session[S_COOKIE_VALUE_MAX];
    int length = pd_http_request_cookie (&req->http, req->gateway->session_cookie, session,
                                         sizeof (session));
    if (length == PD_E_NOT_FOUND || length == 0)
        return s_fail (err, PD_E_UNAUTHORIZED, NULL,
                       "missing " S_API_KEY_HEADER " header or session cookie");
    s_present (credential, "session", length > 0 ? session : NULL, held->hash, held->id);
    OPENSSL_cleanse (session, sizeof (session));
    const char *csrf = mg_get_header (req->http.conn, S_CSRF_HEADER);
    if (csrf && *csrf) {
        pd_token_hash (csrf, held->csrf_hash);
        credential->csrf_hash.data = held->csrf_hash;
        credential->csrf_hash.size = PD_TOKEN_HASH_SIZE;
    }
    credential->unsafe = !s_method_is_safe (req->info->request_method);
    PD_MARK (credential, credential, unsafe);
    return PD_OK;
}

//  ------------------------------------------------------------------------
//  Building the request record

//  Set the record's fields from a query string ("limit=10&status=active"):
//  each name a scalar, client-settable field that is not a path parameter,
//  given once.
static int
s_set_query (const char *query, const pd_schema_t *schema, const pd_route_params_t *params,
             void *record, pd_schema_error_t *err)
{
    uint64_t seen = 0;
    const char *cursor = query;
    while (cursor && *cursor) {
        const char *pair = cursor;
        size_t len = strcspn (pair, "&");
        cursor = pair[len] ? pair + len + 1 : pair + len;
        if (len == 0)
            continue;

        const char *equals = memchr (pair, '=', len);
        size_t name_len = equals ? (size_t)(equals - pair) : len;
        char name[S_QUERY_NAME_MAX + 1];
        size_t index = 0;
        const pd_field_t *field = NULL;
        if (pd_routes_decode (pair, name_len, name, sizeof (name), true) > 0)
            field = pd_schema_field (schema, name, &index);
        if (!field || (field->flags & PD_F_SERVER) || !pd_routes_scalar_field (field) ||
            pd_route_params_has (params, name))
            return s_fail (err, PD_E_UNKNOWN_FIELD, name, "unknown query parameter");
        if (index < PD_SCHEMA_MAX_FIELDS && (seen >> index) & 1)
            return s_fail (err, PD_E_INVALID_FIELD, name, "query parameter given more than once");
        if (index < PD_SCHEMA_MAX_FIELDS)
            seen |= UINT64_C (1) << index;

        const char *value = equals ? equals + 1 : pair + len;
        size_t value_len = (size_t)(pair + len - value);
        char *text = malloc (value_len + 1);
        if (!text)
            return s_fail (err, PD_E_INTERNAL, NULL, NULL);
        int rc;
        if (pd_routes_decode (value, value_len, text, value_len + 1, true) < 0)
            rc = s_fail (err, PD_E_INVALID_FIELD, name, "malformed percent-encoding");
        else
            rc = pd_schema_set_text (schema, record, name, text, err);
        free (text);
        if (rc != PD_OK)
            return rc;
    }
    return PD_OK;
}

//  Fill the zeroed request record from body ({} when empty), query and
//  path parameters, then validate it
static int
s_build_request (s_request_t *req, const pd_route_t *route, const pd_schema_t *schema,
                 const pd_route_params_t *params, const char *body, size_t body_size, void *record,
                 pd_schema_error_t *err)
{
    static const char empty_object[] = "{}";
    int rc = body_size
                 ? pd_schema_from_json (schema, body, body_size, record, err)
                 : pd_schema_from_json (schema, empty_object, strlen (empty_object), record, err);
    if (rc == PD_OK)
        rc = s_set_query (req->info->query_string, schema, params, record, err);
    for (size_t i = 0; rc == PD_OK && i < params->count; i++)
        rc = pd_schema_set_text (schema, record, params->names[i], params->values[i], err);
    if (rc == PD_OK && (route->flags & PD_ROUTE_BINDING_CHECK)) {
        //  The sign-in's browser binding; a cookie that cannot be one is
        //  left out, and the actor refuses the callback
        char binding[S_BINDING_MAX + 1];
        if (pd_http_request_cookie (&req->http, req->gateway->oauth_cookie, binding,
                                    sizeof (binding)) > 0)
            pd_schema_set_text (schema, record, route->binding, binding, NULL);
    }
    if (rc == PD_OK && (route->flags & PD_ROUTE_STREAM)) {
        //  A reconnecting EventSource says where it was
        const char *last = mg_get_header (req->http.conn, "Last-Event-ID");
        if (last && *last)
            rc = pd_schema_set_text (schema, record, S_LAST_EVENT_ID, last, err);
    }
    if (rc == PD_OK)
        rc = pd_schema_validate (schema, record, err);
    return rc;
}

//  When a body of `declared` bytes (-1: chunked, unknown) must be in: as
//  long as a client sending at body_min_rate needs after its first second,
//  and never later than body_timeout_ms
static int64_t
s_body_deadline (const pd_gateway_t *self, long long declared)
{
    int64_t allowed = self->body_timeout_ms;
    if (declared >= 0) {
        int64_t paced =
            PD_GATEWAY_BODY_GRACE_MS + declared * S_RATE_WINDOW_MS / self->body_min_rate;
        allowed = paced < allowed ? paced : allowed;
    }
    return zclock_mono () + allowed;
}

//  Read the body: at most max_body bytes, chunked or not, by its deadline
//  (s_body_deadline; a read still waiting then is cut by the admission
//  watchdog: 408, connection closed). A body declared too large is not
//  read at all, and the connection is closed after the 413 rather than
//  drained.
static int
s_read_body (s_request_t *req, char **body_p, size_t *size_p, pd_schema_error_t *err)
{
    size_t max_body = req->gateway->max_body;
    long long declared = req->info->content_length;
    if (declared > (long long)max_body) {
        req->http.close = true;
        return s_fail (err, PD_E_TOO_LARGE, NULL, "request body too large");
    }
    size_t capacity = declared >= 0 ? (size_t)declared : max_body + 1;
    char *body = malloc (capacity + 1);
    if (!body)
        return s_fail (err, PD_E_INTERNAL, NULL, NULL);

    size_t size = 0;
    int got = 1;
    pd_admission_t *admission = req->gateway->admission;
    pd_admission_peer_t peer = {req->info->remote_addr, req->info->remote_port,
                                req->info->server_port};
    bool watched =
        pd_admission_deadline_set (admission, &peer, s_body_deadline (req->gateway, declared)) == 0;
    while (size < capacity && got > 0) {
        got = mg_read (req->http.conn, body + size, capacity - size);
        if (got > 0)
            size += (size_t)got;
    }
    bool slow = watched && pd_admission_deadline_clear (admission, &peer);
    //  mg_read answers 0 when its wait ended with nothing, -1 when the
    //  connection broke
    int rc = PD_OK;
    if (slow || (got == 0 && declared >= 0 && size < (size_t)declared))
        rc = s_fail (err, PD_E_REQUEST_TIMEOUT, NULL, "request body too slow");
    else if (size > max_body)
        rc = s_fail (err, PD_E_TOO_LARGE, NULL, "request body too large");
    else if (got < 0 || (declared >= 0 && size < (size_t)declared))
        rc = s_fail (err, PD_E_BAD_REQUEST, NULL, "request body incomplete");
    if (rc != PD_OK) {
        req->http.close = true;
        free (body);
        return rc;
    }
    body[size] = '\0';
    *body_p = body;
    *size_p = size;
    return PD_OK;
}

//  ------------------------------------------------------------------------
//  Serving a route

//  Set-Cookie lines for cookie `name` (pd_http_cookie_add), Secure as the
//  gateway's cookies are
static bool
s_cookie_add (s_request_t *req, char *headers, size_t size, const char *name, const char *value,
              bool http_only, int64_t max_age)
{
    return pd_http_cookie_add (headers, size, name, value, http_only, max_age,
                               req->gateway->cookie_secure);
}

//  The session and CSRF cookies of a `session` reply, if it opened one.
//  Both tokens are tokens (schema-checked), so they need no quoting.
static bool
s_session_cookies (s_request_t *req, const pd_session_t *session, char *headers, size_t size)
{
    if (!session->session_token || !*session->session_token)
        return true;
    int64_t max_age = -1;
    if (PD_HAS (session, session, expires_at)) {
        int64_t left_ms = session->expires_at - s_now_ms ();
        max_age = left_ms > 0 ? (left_ms + S_MS_PER_S - 1) / S_MS_PER_S : 0;
    }
    pd_gateway_t *gateway = req->gateway;
    bool fits = s_cookie_add (req, headers, size, gateway->session_cookie, session->session_token,
                              true, max_age);
    if (fits && session->csrf_token && *session->csrf_token)
        fits = s_cookie_add (req, headers, size, gateway->csrf_cookie, session->csrf_token, false,
                             max_age);
    return fits;
}

//  Does `schema` have a string field `name`? (a route's location or binding)
static bool
s_has_string (const pd_schema_t *schema, const char *name)
{
    const pd_field_t *field = name ? pd_schema_field (schema, name, NULL) : NULL;
    return field && field->type == PD_T_STR;
}

//  The value of string field `name` of a record (checked at start by
//  s_has_string), NULL if absent
static const char *
s_string_of (const pd_schema_t *schema, const void *record, const char *name)
{
    const pd_field_t *field = pd_schema_field (schema, name, NULL);
    if (!field || field->type != PD_T_STR)
        return NULL;
    return *(char *const *)((const uint8_t *)record + field->offset);
}

//  Answer a successful reply as the route says: a redirect (Location, no
//  body), no content, or the reply record as JSON; with the cookies its
//  flags ask for
//  May the caller of a stream still follow it? The request it opened with,
//  asked again: a key revoked, a session ended, a user disabled or a
//  partner suspended since then ends the stream (pd_sse)
static int
s_stream_recheck (void *arg)
{
    s_request_t *req = arg;
    const pd_message_t *message = pd_message_find (req->route->type);
    uint8_t *reply = NULL;
    size_t reply_size = 0;
    int rc =
        s_call (req, message->service, message->type, NULL, req->credential,
                s_access (req->route->access), message->request, req->record, &reply, &reply_size);
    free (reply);
    return rc;
}

//  A `stream_grant` reply: the stream itself, as SSE, while a stream slot
//  is free (beyond them: 503 with Retry-After, so that followers never
//  hold every worker thread)
//  Count a stream of a partner's caller (delta +1, -1): false if +1 would
//  pass max_partner_streams (nothing counted then)
static bool
s_partner_stream (pd_gateway_t *self, const char *partner_id, int delta)
{
    pthread_mutex_lock (&self->partner_lock);
    intptr_t count = (intptr_t)zhashx_lookup (self->partner_streams, partner_id) + delta;
    bool fits = delta < 0 || count <= self->max_partner_streams;
    if (fits && count > 0)
        zhashx_update (self->partner_streams, partner_id, (void *)count);
    else if (fits)
        zhashx_delete (self->partner_streams, partner_id);
    pthread_mutex_unlock (&self->partner_lock);
    return fits;
}

static int
s_answer_stream (s_request_t *req, const pd_stream_grant_t *grant, pd_schema_error_t *err)
{
    pd_gateway_t *self = req->gateway;
    if (!self->stream)
        return s_fail (err, PD_E_UNAVAILABLE, NULL, "this gateway serves no event streams");
    //  One partner's followers take at most their share: others still get one
    const char *partner =
        req->route->access == PD_ACCESS_PARTNER && grant->partner_id ? grant->partner_id : NULL;
    if (partner && !s_partner_stream (self, partner, +1)) {
        req->http.retry_after = PD_GATEWAY_STREAM_RETRY_S;
        return s_fail (err, PD_E_UNAVAILABLE, NULL,
                       "too many event streams for this partner; retry later");
    }
    if (atomic_fetch_add (&self->streams, 1) >= self->max_streams) {
        atomic_fetch_sub (&self->streams, 1);
        if (partner)
            s_partner_stream (self, partner, -1);
        req->http.retry_after = PD_GATEWAY_STREAM_RETRY_S;
        return s_fail (err, PD_E_UNAVAILABLE, NULL, "too many event streams; retry later");
    }
    pd_sse_config_t config = {.broker = self->broker,
                              .stream = self->stream,
                              .keys = self->broker_keys,
                              .stopping = &self->stopping,
                              .recheck = req->credential ? s_stream_recheck : NULL,
                              .recheck_arg = req};
    pd_sse_serve (&req->http, &config, grant);
    atomic_fetch_sub (&self->streams, 1);
    if (partner)
        s_partner_stream (self, partner, -1);
    return PD_OK;
}

static int
s_answer (s_request_t *req, const pd_route_t *route, const pd_message_t *message,
          const void *result, pd_schema_error_t *err)
{
    char headers[PD_HTTP_EXTRA_MAX] = "";
    pd_gateway_t *gateway = req->gateway;
    bool fits = true;
    if (route->flags & PD_ROUTE_SESSION_SET)
        fits = s_session_cookies (req, result, headers, sizeof (headers));
    if (route->flags & PD_ROUTE_SESSION_CLEAR)
        fits =
            s_cookie_add (req, headers, sizeof (headers), gateway->session_cookie, "", true, 0) &&
            s_cookie_add (req, headers, sizeof (headers), gateway->csrf_cookie, "", false, 0);
    if (fits && (route->flags & PD_ROUTE_BINDING_SET)) {
        const char *binding = s_string_of (message->reply, result, route->binding);
        if (binding && *binding)
            fits = s_cookie_add (req, headers, sizeof (headers), gateway->oauth_cookie, binding,
                                 true, PD_GATEWAY_OAUTH_MAX_AGE);
    }
    if (fits && (route->flags & PD_ROUTE_BINDING_CHECK))
        fits = s_cookie_add (req, headers, sizeof (headers), gateway->oauth_cookie, "", true, 0);
    const char *location = (route->flags & PD_ROUTE_REDIRECT)
                               ? s_string_of (message->reply, result, route->location)
                               : NULL;
    if (fits && location && *location)
        fits = pd_http_header_add (headers, sizeof (headers), "Location: %s\r\n", location);
    if (!fits) {
        //  Cannot happen: every part is bounded by its schema
        zsys_error ("gateway: %s reply headers too long trace=%s", message->type,
                    req->http.trace_id);
        return s_fail (err, PD_E_INTERNAL, NULL, NULL);
    }

    if (location && *location) {
        pd_http_send (&req->http, route->success, NULL, headers, "", 0);
        return PD_OK;
    }
    if (route->flags & PD_ROUTE_STREAM)
        return s_answer_stream (req, result, err);
    if (route->flags & PD_ROUTE_RAW) {
        //  A `binary` reply (checked at start): its bytes as they are,
        //  with its type (s_respond always says Cache-Control: no-store)
        const pd_binary_t *binary = result;
        pd_http_send (&req->http, route->success, binary->content_type, headers,
                      (const char *)binary->content.data, binary->content.size);
        return PD_OK;
    }
    char *json = pd_schema_to_json (message->reply, result);
    if (!json) {
        zsys_error ("gateway: cannot render %s reply trace=%s", message->type, req->http.trace_id);
        return s_fail (err, PD_E_INTERNAL, NULL, NULL);
    }
    if (route->success == S_HTTP_NO_CONTENT)
        pd_http_send (&req->http, route->success, NULL, headers, "", 0);
    else {
        //  A redirect route whose reply has no location answers its JSON
        int http = (route->flags & PD_ROUTE_REDIRECT) ? S_HTTP_OK : route->success;
        pd_http_send (&req->http, http, PD_HTTP_JSON_TYPE, headers, json, strlen (json));
    }
    free (json);
    return PD_OK;
}

//  Send the request record, answer the reply
static int
s_forward (s_request_t *req, const pd_route_t *route, const pd_message_t *message,
           pd_principal_t *principal, pd_credential_t *credential, const void *record,
           pd_schema_error_t *err)
{
    uint8_t *reply = NULL;
    size_t reply_size = 0;
    int rc = s_call (req, message->service, message->type, principal, credential,
                     credential ? s_access (route->access) : NULL, message->request, record, &reply,
                     &reply_size);
    if (rc != PD_OK) {
        s_take_error (req, reply, reply_size, rc, err);
        free (reply);
        return rc;
    }

    void *result = calloc (1, message->reply->size);
    if (!result)
        rc = s_fail (err, PD_E_INTERNAL, NULL, NULL);
    else if (s_decode (message->reply, reply, reply_size, result, NULL) != PD_OK) {
        zsys_error ("gateway: malformed %s reply trace=%s", message->type, req->http.trace_id);
        rc = s_fail (err, PD_E_INTERNAL, NULL, NULL);
    } else
        rc = s_answer (req, route, message, result, err);
    if (result)
        pd_schema_clear (message->reply, result);
    free (result);
    if (reply)
        OPENSSL_cleanse (reply, reply_size); //  session tokens, bindings
    free (reply);
    return rc;
}

static void
s_serve_route (s_request_t *req)
{
    const char *method = req->info->request_method;
    pd_route_params_t params;
    bool other_method = false;
    const pd_route_t *route = pd_routes_match (method, req->http.path, &params, &other_method);
    if (!route) {
        char allow[S_ALLOW_MAX];
        pd_routes_allow (req->http.path, allow, sizeof (allow));
        if (other_method && *allow)
            pd_http_method_not_allowed (&req->http, allow);
        else
            pd_http_problem (&req->http, PD_E_NOT_FOUND, "no such resource", NULL, NULL);
        return;
    }
    req->slot = (size_t)(route - pd_routes);
    const pd_message_t *message = pd_message_find (route->type); //  checked at start

    pd_schema_error_t err = {0};
    char *body = NULL;
    size_t body_size = 0;
    char public_kind[] = S_PUBLIC_KIND;
    pd_principal_t anonymous = {0}; //  the caller of a public route (borrowed)
    anonymous.kind = public_kind;
    pd_credential_t credential = {0}; //  the caller of other routes (borrowed from held)
    s_held_t held;
    bool credited = route->access != PD_ACCESS_PUBLIC;
    void *record = NULL;

    int rc = PD_OK;
    if (pd_routes_method_has_body (method))
        rc = s_read_body (req, &body, &body_size, &err);
    if (rc == PD_OK && body_size > 0 &&
        !pd_http_is_json (mg_get_header (req->http.conn, "Content-Type")))
        rc = s_fail (&err, PD_E_UNSUPPORTED_MEDIA, NULL, "Content-Type must be " PD_HTTP_JSON_TYPE);
    if (rc == PD_OK && credited)
        rc = s_credential (req, &credential, &held, &err);
    if (rc == PD_OK) {
        record = calloc (1, message->request->size);
        rc = record ? s_build_request (req, route, message->request, &params, body, body_size,
                                       record, &err)
                    : s_fail (&err, PD_E_INTERNAL, NULL, NULL);
    }
    req->route = route;
    req->credential = credited ? &credential : NULL;
    req->record = record;
    if (rc == PD_OK)
        rc = s_forward (req, route, message, credited ? NULL : &anonymous,
                        credited ? &credential : NULL, record, &err);
    if (rc != PD_OK)
        pd_http_problem (&req->http, rc, err.detail, err.field, NULL);

    free (body);
    if (record)
        pd_schema_clear (message->request, record);
    free (record);
    OPENSSL_cleanse (&held, sizeof (held));
}

//  ------------------------------------------------------------------------
//  Built-in endpoints

static void
s_serve_healthz (s_request_t *req)
{
    static const uint8_t empty_map = S_MSGPACK_EMPTY_MAP;
    int rc = PD_E_UNAVAILABLE;
    pd_client_t *client = s_client_take (req->gateway, PD_GATEWAY_HEALTH_TIMEOUT_MS);
    if (client) {
        uint8_t *reply = NULL;
        size_t reply_size = 0;
        rc = pd_client_request (client, PD_PROTO_SERVICE_PING, &empty_map, sizeof (empty_map),
                                &empty_map, sizeof (empty_map), PD_GATEWAY_HEALTH_TIMEOUT_MS,
                                &reply, &reply_size);
        s_client_give (req->gateway, client);
        free (reply);
    }
    static const char ok[] = "{\"status\":\"ok\"}";
    if (rc == PD_OK)
        pd_http_send (&req->http, S_HTTP_OK, PD_HTTP_JSON_TYPE, NULL, ok, strlen (ok));
    else
        pd_http_problem (&req->http, PD_E_UNAVAILABLE, "broker unreachable", NULL, NULL);
}

//  One component's counters: ask `service` for `type` (PD_PROTO_SERVICE_STATS
//  is the broker's own) and render every INT field of `schema` as
//  partnerd_<prefix>_<field>, with partnerd_up{component=...} 1, or 0 when
//  it did not answer in time. Appended to *text (zsys_sprintf'd).
static void
s_component_metrics (s_request_t *req, const char *service, const char *type,
                     const pd_schema_t *schema, const char *prefix, char **text)
{
    static const uint8_t empty_map = S_MSGPACK_EMPTY_MAP;
    pd_header_t header = {0};
    header.type = (char *)type;
    header.trace_id = req->http.trace_id;
    uint8_t *header_data = NULL, *reply = NULL;
    size_t header_size = 0, reply_size = 0;
    int rc = pd_schema_encode (&pd_header_schema, &header, &header_data, &header_size);
    pd_client_t *client =
        rc == PD_OK ? s_client_take (req->gateway, PD_GATEWAY_METRICS_TIMEOUT_MS) : NULL;
    if (client) {
        rc = pd_client_request (client, service, header_data, header_size, &empty_map,
                                sizeof (empty_map), PD_GATEWAY_METRICS_TIMEOUT_MS, &reply,
                                &reply_size);
        s_client_give (req->gateway, client);
    } else
        rc = PD_E_UNAVAILABLE;
    free (header_data);
    void *record = calloc (1, schema->size);
    bool up = rc == PD_OK && record && s_decode (schema, reply, reply_size, record, NULL) == PD_OK;
    free (reply);
    char *more = zsys_sprintf ("%s# TYPE partnerd_up gauge\npartnerd_up{component=\"%s\"} %d\n",
                               *text, prefix, up ? 1 : 0);
    for (size_t i = 0; up && more && i < schema->field_count; i++) {
        const pd_field_t *field = &schema->fields[i];
        if (field->type != PD_T_INT)
            continue;
        int64_t value = *(const int64_t *)((const uint8_t *)record + field->offset);
        char *next =
            zsys_sprintf ("%spartnerd_%s_%s %" PRId64 "\n", more, prefix, field->name, value);
        zstr_free (&more);
        more = next;
    }
    if (record)
        pd_schema_clear (schema, record);
    free (record);
    if (more) {
        zstr_free (text);
        *text = more;
    }
}

//  The request metrics, the connection admission counters, then the
//  broker's and the appliance front's counters
static void
s_serve_metrics (s_request_t *req)
{
    char *requests = pd_metrics_render (req->gateway->metrics);
    pd_admission_stats_t stats;
    pd_admission_stats (req->gateway->admission, &stats);
    char *text =
        requests ? zsys_sprintf (
                       "%s"
                       "# HELP partnerd_http_connections HTTP connections held now.\n"
                       "# TYPE partnerd_http_connections gauge\n"
                       "partnerd_http_connections %" PRIu64 "\n"
                       "# HELP partnerd_http_connections_total HTTP connections by "
                       "admission verdict.\n"
                       "# TYPE partnerd_http_connections_total counter\n"
                       "partnerd_http_connections_total{verdict=\"admitted\"} %" PRIu64 "\n"
                       "partnerd_http_connections_total{verdict=\"refused_total\"} %" PRIu64 "\n"
                       "partnerd_http_connections_total{verdict=\"refused_client\"} %" PRIu64 "\n"
                       "# HELP partnerd_http_calls_total Service calls of HTTP requests, by where "
                       "they were served (local: in the worker thread; broker).\n"
                       "# TYPE partnerd_http_calls_total counter\n"
                       "partnerd_http_calls_total{path=\"local\"} %" PRIu64 "\n"
                       "partnerd_http_calls_total{path=\"broker\"} %" PRIu64 "\n"
                       "# HELP partnerd_http_streams Event streams (SSE) answered now.\n"
                       "# TYPE partnerd_http_streams gauge\n"
                       "partnerd_http_streams %d\n"
                       "# HELP partnerd_http_streams_max Event streams answered at once at most.\n"
                       "# TYPE partnerd_http_streams_max gauge\n"
                       "partnerd_http_streams_max %d\n",
                       requests, stats.open, stats.admitted, stats.refused_total,
                       stats.refused_client, (uint64_t)atomic_load (&req->gateway->calls_local),
                       (uint64_t)atomic_load (&req->gateway->calls_broker),
                       atomic_load (&req->gateway->streams), req->gateway->max_streams)
                 : NULL;
    if (text) {
        s_component_metrics (req, PD_PROTO_SERVICE_STATS, PD_PROTO_SERVICE_STATS,
                             &pd_broker_counters_schema, "broker", &text);
        const pd_message_t *front = req->gateway->front_stats;
        s_component_metrics (req, front->service, front->type, front->reply, "front", &text);
    }
    if (text)
        pd_http_send (&req->http, S_HTTP_OK, S_METRICS_TYPE, NULL, text, strlen (text));
    else
        pd_http_problem (&req->http, PD_E_INTERNAL, NULL, NULL, NULL);
    zstr_free (&text);
    free (requests);
}

static void
s_serve_openapi (s_request_t *req)
{
    pd_http_send (&req->http, S_HTTP_OK, PD_HTTP_JSON_TYPE, NULL, req->gateway->openapi,
                  req->gateway->openapi_size);
}

static const struct {
    const char *path;
    void (*serve) (s_request_t *req);
} s_builtins[] = {
    {"/healthz", s_serve_healthz},
    {"/metrics", s_serve_metrics},
    {"/openapi.json", s_serve_openapi},
};
#define S_BUILTIN_COUNT (sizeof (s_builtins) / sizeof (s_builtins[0]))

//  ------------------------------------------------------------------------
//  Who is calling, from where

static bool
s_is_address (const char *text)
{
    struct in_addr addr4;
    struct in6_addr addr6;
    return inet_pton (AF_INET, text, &addr4) == 1 || inet_pton (AF_INET6, text, &addr6) == 1;
}

//  The client's address: the TCP peer, unless the peer is a trusted proxy;
//  then the rightmost X-Forwarded-For entry that is not a trusted proxy
//  itself (each proxy appends the address it saw, so only the entries our
//  own proxies appended can be believed). The entries are walked from the
//  right end of the last header leftwards, in place (nothing is copied, so
//  nothing is cut off); the walk stops, keeping the last address believed,
//  at an entry that is no address or after S_FORWARDED_MAX entries.
static void
s_client_address (s_request_t *req)
{
    pd_gateway_t *self = req->gateway;
    s_copy_text (req->client, sizeof (req->client), req->info->remote_addr);
    if (!pd_netlist_has (self->trusted, req->client))
        return;
    int walked = 0;
    for (int h = req->info->num_headers - 1; h >= 0; h--) {
        if (strcasecmp (req->info->http_headers[h].name, "X-Forwarded-For") != 0)
            continue;
        const char *value = req->info->http_headers[h].value;
        const char *end = value + strlen (value);
        while (end > value) {
            const char *start = end;
            while (start > value && start[-1] != ',')
                start--;
            const char *first = start, *last = end;
            while (first < last && (*first == ' ' || *first == '\t'))
                first++;
            while (last > first && (last[-1] == ' ' || last[-1] == '\t'))
                last--;
            char entry[S_ADDRESS_MAX];
            size_t len = (size_t)(last - first);
            if (++walked > S_FORWARDED_MAX || len == 0 || len >= sizeof (entry))
                return;
            memcpy (entry, first, len);
            entry[len] = '\0';
            if (!s_is_address (entry))
                return;
            s_copy_text (req->client, sizeof (req->client), entry);
            if (!pd_netlist_has (self->trusted, entry))
                return;
            end = start > value ? start - 1 : value;
        }
    }
}

//  The request's Origin, if it is one of the allowed CORS origins
static const char *
s_allowed_origin (s_request_t *req)
{
    const char *origin = mg_get_header (req->http.conn, "Origin");
    for (size_t i = 0; origin && i < req->gateway->origin_count; i++)
        if (strcmp (origin, req->gateway->origins[i]) == 0)
            return req->gateway->origins[i];
    return NULL;
}

//  A CORS preflight (OPTIONS with Access-Control-Request-Method) from an
//  allowed origin: the methods the path allows, the headers clients send.
//  Other OPTIONS requests go on as any request (405 with Allow).
static bool
s_serve_preflight (s_request_t *req)
{
    if (!req->http.origin || strcmp (req->info->request_method, "OPTIONS") != 0 ||
        !mg_get_header (req->http.conn, "Access-Control-Request-Method"))
        return false;
    char allow[S_ALLOW_MAX];
    pd_routes_allow (req->http.path, allow, sizeof (allow));
    if (!*allow)
        return false;
    char headers[PD_HTTP_EXTRA_MAX];
    snprintf (headers, sizeof (headers),
              "Access-Control-Allow-Methods: %s\r\n"
              "Access-Control-Allow-Headers: " S_CORS_HEADERS "\r\n"
              "Access-Control-Max-Age: %d\r\n",
              allow, PD_GATEWAY_CORS_MAX_AGE);
    pd_http_send (&req->http, S_HTTP_NO_CONTENT, NULL, headers, "", 0);
    return true;
}

//  The one CivetWeb request handler
static int
s_handle_request (struct mg_connection *conn, void *cbdata)
{
    pd_gateway_t *self = (pd_gateway_t *)cbdata;
    struct timespec start, end;
    clock_gettime (CLOCK_MONOTONIC, &start);
    pd_metrics_enter (self->metrics);

    s_request_t req = {0};
    req.gateway = self;
    req.info = mg_get_request_info (conn);
    assert (req.info);
    pd_http_init (&req.http, conn, req.info);
    req.slot = pd_routes_size;
    req.http.path = req.info->local_uri ? req.info->local_uri : "";
    s_client_address (&req);
    req.http.origin = s_allowed_origin (&req);

    size_t builtin = 0;
    while (builtin < S_BUILTIN_COUNT && strcmp (req.http.path, s_builtins[builtin].path) != 0)
        builtin++;
    const char *framing = pd_framing_check (req.info);
    if (framing || !req.info->request_method || req.http.path[0] != '/') {
        //  Two parsers could read this request differently: answer it, and
        //  read nothing more from this connection
        req.http.close = true;
        pd_http_problem (&req.http, PD_E_BAD_REQUEST,
                         framing ? framing : "request target must be a path", NULL, NULL);
    } else if (s_serve_preflight (&req))
        ;
    else if (builtin < S_BUILTIN_COUNT) {
        if (strcmp (req.info->request_method, "GET") == 0)
            s_builtins[builtin].serve (&req);
        else
            pd_http_method_not_allowed (&req.http, "GET");
    } else
        s_serve_route (&req);
    if (req.http.close)
        mg_disable_connection_keep_alive (conn);

    clock_gettime (CLOCK_MONOTONIC, &end);
    double seconds =
        (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / S_NS_PER_S;
    pd_metrics_observe (self->metrics, req.slot, req.http.sent, seconds);
    pd_metrics_leave (self->metrics);
    return req.http.sent;
}

//  ------------------------------------------------------------------------
//  Set-up

//  Every route names a known message, and every path parameter a scalar
//  field of its request record. A route that sets the session cookies
//  answers a `session` record; the fields a route's flags use are string
//  fields of its records (pd_route_t location, binding).
static bool
s_routes_check (void)
{
    for (size_t i = 0; i < pd_routes_size; i++) {
        const pd_route_t *route = &pd_routes[i];
        const pd_message_t *message = pd_message_find (route->type);
        pd_route_params_t params;
        if (!message || pd_route_param_names (route, &params) < 0 ||
            ((route->flags & PD_ROUTE_SESSION_SET) && message->reply != &pd_session_schema) ||
            ((route->flags & PD_ROUTE_RAW) && message->reply != &pd_binary_schema) ||
            ((route->flags & PD_ROUTE_BINDING_SET) &&
             !s_has_string (message->reply, route->binding)) ||
            ((route->flags & PD_ROUTE_BINDING_CHECK) &&
             !s_has_string (message->request, route->binding)) ||
            ((route->flags & PD_ROUTE_REDIRECT) &&
             !s_has_string (message->reply, route->location)) ||
            ((route->flags & PD_ROUTE_STREAM) &&
             (message->reply != &pd_stream_grant_schema ||
              !s_has_string (message->request, S_LAST_EVENT_ID)))) {
            zsys_error ("gateway: bad route %s", pd_route_label (route));
            return false;
        }
        for (size_t p = 0; p < params.count; p++) {
            const pd_field_t *field = pd_schema_field (message->request, params.names[p], NULL);
            if (!field || !pd_routes_scalar_field (field)) {
                zsys_error ("gateway: route %s: no field %s in %s", pd_route_label (route),
                            params.names[p], message->request->name);
                return false;
            }
        }
    }
    return true;
}

//  A worker thread starts. Its stack is what every body is parsed on: say
//  so once if it is smaller than the parsers were fuzzed with.
static void *
s_thread_start (const struct mg_context *ctx, int thread_type)
{
    if (thread_type != S_WORKER_THREAD)
        return NULL;
    static atomic_flag s_stack_checked = ATOMIC_FLAG_INIT;
    pthread_attr_t attr;
    size_t stack = 0;
    if (!atomic_flag_test_and_set (&s_stack_checked) &&
        pthread_getattr_np (pthread_self (), &attr) == 0) {
        pthread_attr_getstacksize (&attr, &stack);
        pthread_attr_destroy (&attr);
        if (stack < PD_GATEWAY_WORKER_STACK)
            zsys_warning ("gateway: worker threads have a %zu-byte stack, less than the %d "
                          "bytes the request parsers were tested with",
                          stack, PD_GATEWAY_WORKER_STACK);
    }
    return NULL;
}

//  A connection closes: it no longer counts against its address's limit
static void
s_connection_close (const struct mg_connection *conn)
{
    pd_gateway_t *self = (pd_gateway_t *)mg_get_user_data (mg_get_context (conn));
    const struct mg_request_info *info = mg_get_request_info (conn);
    if (self && self->admission && info) {
        pd_admission_peer_t peer = {info->remote_addr, info->remote_port, info->server_port};
        pd_admission_release (self->admission, &peer);
    }
}

//  CivetWeb found the request malformed before any handler ran (a bad
//  request line, a head too large, an unknown version): answer
//  problem+json, close, and never echo what the client sent (CivetWeb's own
//  page copies part of the request into its status line)
static int
s_http_error (struct mg_connection *conn, int status, const char *message)
{
    pd_gateway_t *self = (pd_gateway_t *)mg_get_user_data (mg_get_context (conn));
    s_request_t req = {0};
    req.gateway = self;
    pd_http_init (&req.http, conn, mg_get_request_info (conn));
    req.info = req.http.info;
    req.http.close = true;
    req.slot = pd_routes_size;
    //  CivetWeb says "Malformed message" both for a head cut short (its
    //  time-out, or the client) and for bytes no head may hold
    bool cut_short = message && strcmp (message, "Malformed message") == 0;
    int code = status == 413 ? PD_E_TOO_LARGE : PD_E_BAD_REQUEST;
    const char *detail = status == 413 ? "request head too large"
                         : cut_short   ? "request head malformed or not complete in time"
                                       : "malformed request";
    pd_http_problem (&req.http, code, detail, NULL, NULL);
    mg_disable_connection_keep_alive (conn);
    if (self)
        pd_metrics_observe (self->metrics, pd_routes_size, req.http.sent, 0);
    return 0;
}

static int
s_log_message (const struct mg_connection *conn, const char *message)
{
    zsys_warning ("gateway: civetweb: %s", message);
    return 1;
}

//  The CORS origins: comma-separated, each scheme://host[:port] with no
//  path; "" = none. false on a malformed one.
static bool
s_parse_origins (pd_gateway_t *self, const char *text)
{
    const char *cursor = text ? text : "";
    while (*(cursor += strspn (cursor, ", \t"))) {
        size_t len = strcspn (cursor, ", \t");
        char *origin = strndup (cursor, len);
        cursor += len;
        const char *host = origin ? strstr (origin, "://") : NULL;
        bool scheme_ok =
            origin && (strncmp (origin, "https://", 8) == 0 || strncmp (origin, "http://", 7) == 0);
        if (!scheme_ok || !host || !host[3] || strchr (host + 3, '/') || len >= S_ORIGIN_MAX ||
            self->origin_count == S_ORIGINS_MAX) {
            zsys_error ("gateway: bad CORS origin '%s' (scheme://host[:port], at most %d)",
                        origin ? origin : "", S_ORIGINS_MAX);
            free (origin);
            return false;
        }
        self->origins[self->origin_count++] = origin;
    }
    return true;
}

//  A setting: its value, or the default when 0; -1 when negative
static int
s_setting (int value, int fallback)
{
    return value > 0 ? value : value == 0 ? fallback : -1;
}

pd_gateway_t *
pd_gateway_new (const pd_gateway_config_t *config)
{
    assert (config);
    if (!config->listen || !config->broker) {
        zsys_error ("gateway: listen address and broker endpoint are required");
        return NULL;
    }
    int connections = s_setting (config->threads, PD_GATEWAY_CONNECTIONS);
    int per_client = s_setting (config->max_per_client, PD_GATEWAY_PER_CLIENT);
    int header_ms = s_setting (config->header_timeout_ms, PD_GATEWAY_HEADER_MS);
    int idle_ms = s_setting (config->idle_timeout_ms, PD_GATEWAY_IDLE_MS);
    if (connections < 0 || per_client < 0 || header_ms < 0 || idle_ms < 0 ||
        config->body_timeout_ms < 0 || config->body_min_rate < 0) {
        zsys_error ("gateway: connection limits and time-outs must be positive");
        return NULL;
    }
    pd_gateway_t *self = (pd_gateway_t *)calloc (1, sizeof (pd_gateway_t));
    if (!self)
        return NULL;
    self->broker = strdup (config->broker);
    self->broker_keys = pd_keys_pair_dup (config->broker_keys);
    self->local = config->local;
    self->local_arg = config->local_arg;
    self->stream = config->stream ? strdup (config->stream) : NULL;
    self->max_streams = s_setting (config->max_streams, PD_GATEWAY_STREAMS);
    self->max_partner_streams = s_setting (config->max_partner_streams, PD_GATEWAY_PARTNER_STREAMS);
    self->timeout_ms =
        config->request_timeout_ms > 0 ? config->request_timeout_ms : PD_GATEWAY_TIMEOUT_MS;
    self->max_body = config->max_body > 0 ? config->max_body : PD_GATEWAY_MAX_BODY;
    self->body_timeout_ms = s_setting (config->body_timeout_ms, PD_GATEWAY_BODY_MS);
    self->body_min_rate = s_setting (config->body_min_rate, PD_GATEWAY_BODY_MIN_RATE);
    self->cookie_secure = config->cookie_secure;
    const char *prefix = config->cookie_secure ? PD_GATEWAY_HOST_PREFIX : "";
    snprintf (self->session_cookie, sizeof (self->session_cookie), "%s%s", prefix,
              PD_GATEWAY_SESSION_COOKIE);
    snprintf (self->csrf_cookie, sizeof (self->csrf_cookie), "%s%s", prefix,
              PD_GATEWAY_CSRF_COOKIE);
    snprintf (self->oauth_cookie, sizeof (self->oauth_cookie), "%s%s", prefix,
              PD_GATEWAY_OAUTH_COOKIE);
    self->metrics = pd_metrics_new (pd_routes_size);
    self->front_stats = pd_message_find (S_FRONT_STATS_TYPE);
    if (!self->broker || !self->metrics || !self->front_stats || !s_routes_check () ||
        !s_parse_origins (self, config->cors_origins))
        goto failed;
    char error_text[256] = "";
    self->trusted = pd_netlist_new (config->trusted_proxies, error_text, sizeof (error_text));
    if (!self->trusted) {
        zsys_error ("gateway: trusted proxies: %s", error_text);
        goto failed;
    }
    int clients = s_setting (config->broker_clients, PD_GATEWAY_BROKER_CLIENTS);
    if (clients < 0) {
        zsys_error ("gateway: broker clients must be positive");
        goto failed;
    }
    self->pool.max = (size_t)clients;
    self->pool.idle = calloc (self->pool.max, sizeof (pd_client_t *));
    pthread_mutex_init (&self->pool.lock, NULL);
    pthread_condattr_t monotonic;
    pthread_condattr_init (&monotonic);
    pthread_condattr_setclock (&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init (&self->pool.returned, &monotonic);
    pthread_condattr_destroy (&monotonic);
    pthread_mutex_init (&self->partner_lock, NULL);
    self->partner_streams = zhashx_new ();
    self->pool_ready = true;
    pd_admission_config_t admission = {(size_t)connections, (size_t)per_client, self->trusted};
    self->admission = pd_admission_new (&admission);
    self->openapi = pd_openapi_new (self->session_cookie, self->csrf_cookie, &self->openapi_size);
    if (!self->admission || !self->openapi || !self->pool.idle || !self->partner_streams)
        goto failed;

    //  One worker per admitted connection: none waits for a thread
    char threads[16], header[16], idle[16], max_head[16];
    snprintf (max_head, sizeof (max_head), "%d", PD_FRAMING_MAX_HEAD);
    snprintf (threads, sizeof (threads), "%d", connections);
    snprintf (header, sizeof (header), "%d", header_ms);
    snprintf (idle, sizeof (idle), "%d", idle_ms);
    // clang-format off
    const char *options[] = {
        "listening_ports",       config->listen,
        "num_threads",           threads,
        "listen_backlog",        PD_GATEWAY_LISTEN_BACKLOG,
        "tcp_nodelay",           "1",       //  else ~44 ms per keep-alive request (Nagle)
        "enable_keep_alive",     "yes",
        "keep_alive_timeout_ms", idle,      //  the wait for a keep-alive connection's next head
        "request_timeout_ms",    header,    //  the whole head; each read and write
        "max_request_size",      max_head,  //  bytes of request line + fields
        "decode_url",            "no",      //  pd_routes decodes segment by segment
        "access_control_allow_origin", "", //  CORS is the gateway's (cors_origins), off by default
        "enable_auth_domain_check", "no",   //  absolute-form targets reach pd_framing, refused
        NULL};
    // clang-format on
    struct mg_callbacks callbacks;
    memset (&callbacks, 0, sizeof (callbacks));
    callbacks.init_thread = s_thread_start;
    callbacks.log_message = s_log_message;
    callbacks.connection_close = s_connection_close;
    callbacks.http_error = s_http_error;
    struct mg_init_data init = {&callbacks, self, options};
    unsigned error_code = 0;
    struct mg_error_data error = {&error_code, error_text, sizeof (error_text)};

    //  CZMQ's first-use set-up is not safe to race: do it here, before the
    //  worker threads create their clients
    zsys_init ();
    mg_init_library (0);
    self->library = true;
    self->ctx = mg_start2 (&init, &error);
    if (!self->ctx) {
        zsys_error ("gateway: cannot listen on %s: %s", config->listen, error_text);
        goto failed;
    }
    mg_set_request_handler (self->ctx, "/", s_handle_request, self);

    //  Every listening socket is admitted the same way
    struct mg_server_port ports[S_LISTENERS_MAX];
    int listeners = mg_get_server_ports (self->ctx, S_LISTENERS_MAX, ports);
    if (listeners < 1) {
        zsys_error ("gateway: no listening socket on %s", config->listen);
        goto failed;
    }
    self->port = ports[0].port;
    for (int i = 0; i < listeners; i++)
        if (pd_admission_watch (self->admission, ports[i].port) != 0) {
            zsys_error ("gateway: cannot watch connections on port %d", ports[i].port);
            goto failed;
        }
    return self;

failed:
    pd_gateway_destroy (&self);
    return NULL;
}

void
pd_gateway_destroy (pd_gateway_t **self_p)
{
    assert (self_p);
    pd_gateway_t *self = *self_p;
    if (!self)
        return;
    atomic_store (&self->stopping, true); //  event streams end within a second
    if (self->ctx)
        mg_stop (self->ctx); //  waits for requests in progress; threads drop their clients
    if (self->library)
        mg_exit_library ();
    if (self->pool_ready) {
        //  The threads that took clients have stopped: every one is idle
        for (size_t i = 0; i < self->pool.idle_count; i++)
            pd_client_destroy (&self->pool.idle[i]);
        pthread_mutex_destroy (&self->pool.lock);
        pthread_cond_destroy (&self->pool.returned);
        pthread_mutex_destroy (&self->partner_lock);
        zhashx_destroy (&self->partner_streams);
    }
    free (self->pool.idle);
    pd_admission_destroy (&self->admission);
    pd_netlist_destroy (&self->trusted);
    for (size_t i = 0; i < self->origin_count; i++)
        free (self->origins[i]);
    pd_metrics_destroy (&self->metrics);
    free (self->openapi);
    free (self->broker);
    free (self->stream);
    pd_keys_pair_destroy (&self->broker_keys);
    free (self);
    *self_p = NULL;
}

int
pd_gateway_port (pd_gateway_t *self)
{
    return self ? self->port : -1;
}
