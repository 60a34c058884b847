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
    PD_ACCESS_PUBLIC,       //  anyone
    PD_ACCESS_ADMIN,        //  platform admin key
    PD_ACCESS_PARTNER,      //  a partner's key
    PD_ACCESS_ANY           //  admin or partner
} pd_access_t;

typedef struct {
    const char *method;     //  "GET", "POST", "PUT", "PATCH", "DELETE"
    const char *path;       //  "/api/partners/{id}"
    const char *type;       //  message type: "partner.get"
    pd_access_t access;
    int success;            //  HTTP status on success (200, 201, 204)
} pd_route_t;

#define PD_ROUTE_MAX_PARAMS 4
#define PD_ROUTE_MAX_PARAM  128     //  bytes of one path parameter value

typedef struct {
    size_t count;
    const char *names[PD_ROUTE_MAX_PARAMS];     //  point into the route table
    char values[PD_ROUTE_MAX_PARAMS][PD_ROUTE_MAX_PARAM + 1];
} pd_route_params_t;

extern const pd_route_t pd_routes[];
extern const size_t pd_routes_size;

//  Find the route for method + path (path without query string). Literal
//  segments win over parameters ("/api/partners/me" before "{id}").
//  Returns the route and fills params; NULL if none. When NULL,
//  *other_method (may be NULL) tells whether the path matched a route of
//  another method (405 rather than 404). A parameter longer than
//  PD_ROUTE_MAX_PARAM does not match.
const pd_route_t *pd_routes_match (const char *method, const char *path,
                                   pd_route_params_t *params, bool *other_method);

//  The methods accepted for a path, as "GET, PUT" in buf (for Allow:).
void pd_routes_allow (const char *path, char *buf, size_t size);

//  Stable label for metrics: "GET /api/partners/{id}".
const char *pd_route_label (const pd_route_t *route);

#ifdef __cplusplus
}
#endif
#endif
