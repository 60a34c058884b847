/*  pd_routes - the gateway's one route table

    Each route names an HTTP method and path template, the message type it
    becomes (which gives service and schemas, pd_messages.h), who may call
    it, and the HTTP status of success. Path parameters ({id}) and query
    parameters fill the request record's fields of the same name.
*/
#ifndef PD_ROUTES_H_INCLUDED
#define PD_ROUTES_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#include "pd_messages.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    PD_ACCESS_PUBLIC,   //  anyone
    PD_ACCESS_ADMIN,    //  platform admin key
    PD_ACCESS_PARTNER,  //  a partner's key
    PD_ACCESS_ANY,      //  admin or partner
    PD_ACCESS_APPLIANCE //  an appliance's token (from its claim)
} pd_access_t;

typedef struct {
    const char *method; //  "GET", "POST", "PUT", "PATCH", "DELETE"
    const char *path;   //  "/api/partners/{id}"
    const char *type;   //  message type: "partner.get"
    pd_access_t access;
    int success;    //  HTTP status on success (200, 201, 204, 302, 303)
    unsigned flags; //  PD_ROUTE_*
    //  The record fields the flags use (NULL when no flag needs one)
    const char *location; //  REDIRECT: the reply's string field holding the URL
    const char *binding;  //  BINDING_SET: the reply's field that goes into the cookie;
                          //  BINDING_CHECK: the request's field the cookie fills
} pd_route_t;

//  Route flags: how the gateway turns a reply into HTTP beyond JSON.
//  SESSION_SET: the reply is a `session` record: set the session cookie
//    (HttpOnly) from session_token and the CSRF cookie from csrf_token,
//    Max-Age from expires_at.
//  SESSION_CLEAR: success expires both cookies.
//  REDIRECT: the reply's field `route->location` holds a URL: answer
//    `success` (302/303) with Location and no body; without one the reply
//    is JSON, 200.
//  RAW: the reply is a `binary` record: its content is the body, with its
//    content_type (QR images).
//  BINDING_SET: the reply's field `route->binding` goes into the HttpOnly
//    partnerd_oauth cookie (a sign-in's browser).
//  BINDING_CHECK: the partnerd_oauth cookie fills the request's field
//    `route->binding`; the answer expires the cookie.
//  STREAM: the reply is a `stream_grant`: the answer is that stream as
//    text/event-stream (pd_sse), from the grant's `from` on, its events
//    filtered by the grant; the Last-Event-ID header fills the request's
//    field `last_event_id`.
//  The gateway checks at start that every such field exists, as a string.
#define PD_ROUTE_SESSION_SET   0x01
#define PD_ROUTE_SESSION_CLEAR 0x02
#define PD_ROUTE_REDIRECT      0x04
#define PD_ROUTE_RAW           0x08
#define PD_ROUTE_BINDING_SET   0x10
#define PD_ROUTE_BINDING_CHECK 0x20
#define PD_ROUTE_STREAM        0x40

#define PD_ROUTE_MAX_PARAMS   4
#define PD_ROUTE_MAX_PARAM    128 //  bytes of one path parameter value
#define PD_ROUTE_MAX_NAME     32  //  bytes of one parameter name ({id})
#define PD_ROUTE_MAX_SEGMENTS 16  //  segments of a path that can match

//  Path parameters of a matched route, in path order: names as in the
//  template, values percent-decoded. Copies, so the struct stands alone.
typedef struct {
    size_t count;
    char names[PD_ROUTE_MAX_PARAMS][PD_ROUTE_MAX_NAME + 1];
    char values[PD_ROUTE_MAX_PARAMS][PD_ROUTE_MAX_PARAM + 1];
} pd_route_params_t;

extern const pd_route_t pd_routes[];
extern const size_t pd_routes_size;

//  Find the route for method + path (path as sent, percent-encoded, without
//  query string). Segment counts must be equal; literal segments win over
//  parameters, leftmost first ("/api/partners/me" before "{id}"). Each
//  segment is percent-decoded before it is compared or captured; a segment
//  with a malformed escape, a NUL, or a '/' once decoded, an empty segment
//  and a value longer than PD_ROUTE_MAX_PARAM match nothing.
//  Returns the route and fills params (may be NULL); NULL if none. When
//  NULL, *other_method (may be NULL) tells whether the path matched a route
//  of another method (405 rather than 404).
const pd_route_t *pd_routes_match (const char *method, const char *path, pd_route_params_t *params,
                                   bool *other_method);

//  The methods accepted for a path, as "GET, PUT" in buf (for Allow:), in
//  the order GET, POST, PUT, PATCH, DELETE; "" if none.
void pd_routes_allow (const char *path, char *buf, size_t size);

//  Fill params->names with the parameter names of the route's template, in
//  path order (values left empty). Returns the count, or -1 if the
//  template breaks the limits above.
int pd_route_param_names (const pd_route_t *route, pd_route_params_t *params);

//  Stable label for metrics: "GET /api/partners/{id}". A route outside the
//  table (NULL included) gives PD_ROUTE_LABEL_NONE.
#define PD_ROUTE_LABEL_NONE "none"
const char *pd_route_label (const pd_route_t *route);

//  Percent-decode src[0..len) into dst (size bytes, always NUL-terminated
//  when size > 0). With `form` (query strings), '+' decodes to a space.
//  Returns the decoded length, or -1 when an escape is malformed, a NUL
//  byte would result, or the result does not fit.
int pd_routes_decode (const char *src, size_t len, char *dst, size_t size, bool form);

//  Is `name` one of the path parameters?
bool pd_route_params_has (const pd_route_params_t *params, const char *name);

//  Does the method carry a request body (POST, PUT, PATCH)?
bool pd_routes_method_has_body (const char *method);

//  Can the field be set from text (a path or query parameter)?
bool pd_routes_scalar_field (const pd_field_t *field);

#ifdef __cplusplus
}
#endif
#endif
