/*  pd_openapi - the API description (OpenAPI 3.0), generated

    Walks the route table (pd_routes.h) and, for each route, the request and
    reply records of its message type (pd_messages.h): path and query
    parameters, request bodies and responses as JSON Schemas derived from
    the field tables (types, lengths, ranges, enums, formats; PD_F_SECRET
    fields left out, PD_F_SERVER fields read-only), problem+json errors, and
    the X-API-Key security scheme. Nothing here is written per route.
*/
#ifndef PD_OPENAPI_H_INCLUDED
#define PD_OPENAPI_H_INCLUDED

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

//  The document as JSON text (malloc'd, caller frees), its length in *size,
//  naming the session and CSRF cookies as the gateway sets them (with or
//  without the __Host- prefix). NULL on OOM.
char *pd_openapi_new (const char *session_cookie, const char *csrf_cookie, size_t *size);

#ifdef __cplusplus
}
#endif
#endif
