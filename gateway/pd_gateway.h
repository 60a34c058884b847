/*  pd_gateway - the HTTP front: CivetWeb turning HTTP calls into actor messages

    Thin by design: for each request it matches the route table
    (pd_routes.h), reads a bounded body, resolves the caller through the
    auth service (the X-API-Key header, else the session cookie with the
    X-CSRF-Token header), builds the request record from the JSON body,
    query and path parameters by the message's schema, sends one request to
    the broker with a deadline, and maps the reply to HTTP: the reply record
    as JSON (with the session cookies or a redirect as the route's flags
    say), or an RFC 9457 application/problem+json body whose `code` is the
    stable status code of pd_status.h. No store, no business rules.

    Cookies: the session token travels only in PD_GATEWAY_SESSION_COOKIE
    (HttpOnly), the CSRF token in PD_GATEWAY_CSRF_COOKIE (readable by the
    dashboard, which sends it back in X-CSRF-Token); both Path=/,
    SameSite=Lax, and, unless configured off, Secure with the __Host- name
    prefix.

    The edge: connections are admitted at accept (pd_admission: per client
    address and in total, the worker pool sized to the total), request
    framing is checked (pd_framing), the head, the body and idle keep-alive
    are time-limited, the client address is the TCP peer or, behind a
    trusted proxy, what X-Forwarded-For says, and CORS answers only the
    configured origins.

    Also serves GET /healthz (broker reachable), GET /metrics (Prometheus
    text format) and GET /openapi.json (generated from routes and schemas).

    The worker threads share a bounded pool of broker clients (pd_client),
    one taken for each broker call: a thousand threads cost a thousand
    connections' descriptors, not a thousand sockets more.
*/
#ifndef PD_GATEWAY_H_INCLUDED
#define PD_GATEWAY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#include "pd_keys.h"
#include "pd_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _pd_gateway_t pd_gateway_t;

//  The stack of CivetWeb's worker threads, where request bodies are parsed:
//  Debian builds CivetWeb with USE_STACK_SIZE=102400. The gateway warns at
//  start when its workers have less; the fuzz targets run on this much.
#define PD_GATEWAY_WORKER_STACK 102400

//  Connections: each one holds a CivetWeb worker thread from accept to
//  close, so the pool is as large as the connections admitted (pd_admission)
#define PD_GATEWAY_CONNECTIONS     1024  //  held at once (= worker threads)
#define PD_GATEWAY_PER_CLIENT      64    //  held by one client address
#define PD_GATEWAY_BROKER_CLIENTS  128   //  broker calls in flight at once
#define PD_GATEWAY_HEADER_MS       5000  //  to send a request's head (request line and fields)
#define PD_GATEWAY_IDLE_MS         2000  //  an idle keep-alive connection stays open
#define PD_GATEWAY_BODY_MS         10000 //  to send a request's body
#define PD_GATEWAY_BODY_MIN_RATE   1024  //  bytes/s a body must average after its first second
#define PD_GATEWAY_BODY_GRACE_MS   1000  //  that first second
#define PD_GATEWAY_TIMEOUT_MS      5000  //  deadline of one request at the broker
#define PD_GATEWAY_MAX_BODY        (64 * 1024)
#define PD_GATEWAY_LISTEN_BACKLOG  "1024" //  connections the kernel queues before accept
#define PD_GATEWAY_STREAMS         64     //  event streams (SSE) held at once
#define PD_GATEWAY_PARTNER_STREAMS 8      //  ...for one partner
#define PD_GATEWAY_STREAM_RETRY_S  5      //  Retry-After when they are all taken

#define PD_GATEWAY_HEALTH_TIMEOUT_MS  1000    //  deadline of /healthz's broker ping
#define PD_GATEWAY_METRICS_TIMEOUT_MS 250     //  each component's counters, for /metrics
#define PD_GATEWAY_API_VERSION        "0.1.0" //  info.version of /openapi.json
#define PD_GATEWAY_CORS_MAX_AGE       600     //  seconds a browser may cache a preflight

//  Serve one broker request in the calling (worker) thread, when this
//  process runs the service: header and body as the broker would carry
//  them. PD_OK with the answer's status in *status and its body in *reply
//  (malloc'd; caller frees); any other return (PD_E_UNAVAILABLE: not
//  here, PD_E_BUSY) sends the request through the broker instead.
typedef int (pd_gateway_local_fn) (void *arg, const char *service, const void *header,
                                   size_t header_size, const void *body, size_t body_size,
                                   int *status, uint8_t **reply, size_t *reply_size);

typedef struct {
    const char *listen;          //  "HOST:PORT" (port 0 = any free port)
    const char *broker;          //  broker services endpoint
    int threads;                 //  connections held at once = worker threads;
                                 //  0 = PD_GATEWAY_CONNECTIONS
    int max_per_client;          //  0 = PD_GATEWAY_PER_CLIENT
    int broker_clients;          //  broker clients shared by the threads (sockets, files);
                                 //  0 = PD_GATEWAY_BROKER_CLIENTS
    int header_timeout_ms;       //  0 = PD_GATEWAY_HEADER_MS
    int idle_timeout_ms;         //  0 = PD_GATEWAY_IDLE_MS
    int body_timeout_ms;         //  0 = PD_GATEWAY_BODY_MS
    int body_min_rate;           //  0 = PD_GATEWAY_BODY_MIN_RATE
    int request_timeout_ms;      //  0 = PD_GATEWAY_TIMEOUT_MS, per request deadline
    size_t max_body;             //  0 = PD_GATEWAY_MAX_BODY
    bool cookie_secure;          //  Secure (and the __Host- name prefix) on every cookie
    const char *trusted_proxies; //  pd_netlist text: peers whose X-Forwarded-For is
                                 //  believed and who are not limited per address; NULL = none
    const char *cors_origins;    //  origins (scheme://host[:port]) allowed cross-origin
                                 //  calls, comma-separated; NULL or "" = CORS off
    //  CURVE credentials for the broker (role gateway); NULL = none (inproc,
    //  or a private ipc broker). Copied.
    const pd_keys_pair_t *broker_keys;
    //  Services of this process served in the worker thread (optional:
    //  NULL sends every request through the broker)
    pd_gateway_local_fn *local;
    void *local_arg;
    //  The broker's event stream endpoint, for the routes that answer a
    //  stream (PD_ROUTE_STREAM, pd_sse); NULL: those answer 503
    const char *stream;
    int max_streams;         //  streams answered at once; 0 = PD_GATEWAY_STREAMS
    int max_partner_streams; //  ...to one partner's callers; 0 = PD_GATEWAY_PARTNER_STREAMS
} pd_gateway_config_t;

//  Cookie names; with cookie_secure each gets the prefix "__Host-" (the
//  browser then insists on Secure, Path=/ and no Domain: no subdomain can
//  set or shadow them)
#define PD_GATEWAY_SESSION_COOKIE "partnerd_session"
#define PD_GATEWAY_CSRF_COOKIE    "partnerd_csrf"
#define PD_GATEWAY_OAUTH_COOKIE   "partnerd_oauth" //  binds a sign-in to its browser
#define PD_GATEWAY_HOST_PREFIX    "__Host-"
#define PD_GATEWAY_OAUTH_MAX_AGE  600 //  seconds, as oauth_state_ttl_s

//  Start serving. NULL (and a log line) if a setting is out of range or
//  CivetWeb cannot listen.
pd_gateway_t *pd_gateway_new (const pd_gateway_config_t *config);

//  Stop serving (waits for requests in progress) and null *self_p.
void pd_gateway_destroy (pd_gateway_t **self_p);

//  The TCP port actually listened on.
int pd_gateway_port (pd_gateway_t *self);

#ifdef __cplusplus
}
#endif
#endif
