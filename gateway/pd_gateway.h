/*  pd_gateway - the HTTP front: CivetWeb turning HTTP calls into actor messages

    Thin by design: for each request it matches the route table
    (pd_routes.h), reads a bounded body, resolves the caller's X-API-Key
    through the auth service, builds the request record from the JSON body,
    query and path parameters by the message's schema, sends one request to
    the broker with a deadline, and maps the reply to HTTP: the reply record
    as JSON, or an RFC 9457 application/problem+json body whose `code` is
    the stable status code of pd_status.h. No store, no business rules.

    Also serves GET /healthz (broker reachable), GET /metrics (Prometheus
    text format) and GET /openapi.json (generated from routes and schemas).

    Each CivetWeb worker thread owns one pd_client, created in the thread's
    start callback.
*/
#ifndef PD_GATEWAY_H_INCLUDED
#define PD_GATEWAY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _pd_gateway_t pd_gateway_t;

#define PD_GATEWAY_THREADS    16
#define PD_GATEWAY_TIMEOUT_MS 5000
#define PD_GATEWAY_MAX_BODY   (64 * 1024)

#define PD_GATEWAY_HEALTH_TIMEOUT_MS 1000    //  deadline of /healthz's broker ping
#define PD_GATEWAY_READ_TIMEOUT_MS   "10000" //  CivetWeb request_timeout_ms (slow clients)
#define PD_GATEWAY_KEEP_ALIVE_MS     "2000"  //  idle keep-alive connections kept this long
#define PD_GATEWAY_MAX_HEAD          "16384" //  bytes of request line + headers
#define PD_GATEWAY_API_VERSION       "0.1.0" //  info.version of /openapi.json

typedef struct {
    const char *listen;     //  "HOST:PORT" (port 0 = any free port)
    const char *broker;     //  broker services endpoint
    int threads;            //  0 = PD_GATEWAY_THREADS
    int request_timeout_ms; //  0 = PD_GATEWAY_TIMEOUT_MS, per request deadline
    size_t max_body;            //  0 = PD_GATEWAY_MAX_BODY
    bool cookie_secure;         //  Secure flag on session and CSRF cookies        //  0 = PD_GATEWAY_MAX_BODY
} pd_gateway_config_t;

//  Start serving. NULL (and a log line) if CivetWeb cannot listen.
pd_gateway_t *pd_gateway_new (const pd_gateway_config_t *config);

//  Stop serving (waits for requests in progress) and null *self_p.
void pd_gateway_destroy (pd_gateway_t **self_p);

//  The TCP port actually listened on.
int pd_gateway_port (pd_gateway_t *self);

#ifdef __cplusplus
}
#endif
#endif
