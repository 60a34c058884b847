/*  pd_outbound - every call partnerd makes to the outside, under one policy

    OpenID Connect providers now, notification channels next: each request
    goes through pd_outbound_fetch, which applies SECURITY.md's outbound
    policy whole. The scheme is checked before libcurl is asked; libcurl is
    limited to https (http too when the policy allows insecure targets);
    no redirects are followed and no proxy is used (a proxy would connect
    for us, out of reach of the address check); connect and total time-outs
    and a response size cap hold. The address of every socket is checked in
    the open-socket callback, after name resolution and before connect():
    the address checked is the address connected to, so DNS rebinding
    cannot route around it. Refused: loopback, "this network", private,
    link-local (cloud metadata), CGNAT, multicast, reserved and broadcast
    IPv4; IPv6 loopback, unspecified, IPv4-compatible, unique-local,
    link-local, site-local and multicast, and IPv4-mapped and NAT64
    addresses by their IPv4 part.
*/
#ifndef PD_OUTBOUND_H_INCLUDED
#define PD_OUTBOUND_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <curl/curl.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PD_OUTBOUND_TIMEOUT_MS   10000         //  when the policy says 0
#define PD_OUTBOUND_MAX_RESPONSE (1024 * 1024) //  when the policy says 0
#define PD_OUTBOUND_ERROR_MAX    256
#define PD_OUTBOUND_USER_AGENT   "partnerd"

typedef struct {
    long timeout_ms;     //  connect and total, per call; 0 = PD_OUTBOUND_TIMEOUT_MS
    size_t max_response; //  bytes of a response body; 0 = PD_OUTBOUND_MAX_RESPONSE
    bool allow_insecure; //  http:// and any address (tests against loopback receivers)
} pd_outbound_policy_t;

typedef struct {
    const char *url;
    const char *const *headers; //  NULL-terminated "Name: value" lines, or NULL
    const void *body;           //  POST it (NULL: GET)
    size_t body_size;
    const char *content_type; //  of the body (NULL: application/x-www-form-urlencoded)
} pd_outbound_request_t;

typedef struct {
    long status;        //  the HTTP status (0: no answer)
    char *body;         //  malloc'd, NUL-terminated (NULL: none); pd_outbound_response_clear
    size_t size;        //  its bytes
    int64_t latency_us; //  from the start of the call to its end
    int retry_after_s;  //  a Retry-After in seconds (0: none)
    bool refused;       //  the policy refused the target: no connection was made
    char error[PD_OUTBOUND_ERROR_MAX]; //  why the call failed ("" if it did not)
} pd_outbound_response_t;

//  Make one call on `curl` (a handle the caller reuses: it keeps connections
//  alive; it holds nothing of the call afterwards). PD_OK with the answer
//  (whatever its HTTP status); PD_E_FORBIDDEN when the policy refused the
//  scheme or an address (response->refused); PD_E_UNAVAILABLE when no
//  answer came (time-out, connection, a body over the cap); the reason in
//  response->error either way.
int pd_outbound_fetch (CURL *curl, const pd_outbound_policy_t *policy,
                       const pd_outbound_request_t *request, pd_outbound_response_t *response);

//  Wipe and free the response's body (it may hold a secret), zero it
void pd_outbound_response_clear (pd_outbound_response_t *response);

//  Would the policy refuse this address (allow_insecure aside)?
bool pd_outbound_address_refused (const struct sockaddr *address);

//  Does the policy allow this URL's scheme?
bool pd_outbound_scheme_allowed (const pd_outbound_policy_t *policy, const char *url);

#ifdef __cplusplus
}
#endif
#endif
