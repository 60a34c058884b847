/*  pd_routes - the gateway's one route table (see pd_routes.h)

    The table is one X-macro list, so that each route's metrics label
    ("GET /api/partners/{id}") is a string constant built by the compiler
    from the same row. Matching is a linear walk: the table is short, and a
    path is parsed (split, percent-decoded) once per call.
*/
#include "pd_routes.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

//  X (method, path template, message type, access, success status, flags,
//     location field (REDIRECT), binding field (BINDING_SET, BINDING_CHECK))
#define S_ROUTES(X)                                                                                \
    X ("POST", "/api/partners", "partner.create", PD_ACCESS_ADMIN, 201, 0, NULL, NULL)             \
    X ("GET", "/api/partners", "partner.list", PD_ACCESS_ADMIN, 200, 0, NULL, NULL)                \
    X ("GET", "/api/partners/me", "partner.me", PD_ACCESS_PARTNER, 200, 0, NULL, NULL)             \
    X ("GET", "/api/partners/{id}", "partner.get", PD_ACCESS_ADMIN, 200, 0, NULL, NULL)            \
    X ("PUT", "/api/partners/{id}", "partner.update", PD_ACCESS_ADMIN, 200, 0, NULL, NULL)         \
    X ("POST", "/api/partners/{id}/regenerate-key", "partner.regenerate_key", PD_ACCESS_ADMIN,     \
       200, 0, NULL, NULL)                                                                         \
    X ("POST", "/api/partners/{partner_id}/users", "user.create", PD_ACCESS_ADMIN, 201, 0, NULL,   \
       NULL)                                                                                       \
    X ("GET", "/api/partners/{partner_id}/users", "user.list", PD_ACCESS_ADMIN, 200, 0, NULL,      \
       NULL)                                                                                       \
    X ("POST", "/api/partners/{partner_id}/users/{user_id}/disable", "user.disable",               \
       PD_ACCESS_ADMIN, 200, 0, NULL, NULL)                                                        \
    X ("POST", "/api/partners/{partner_id}/users/{user_id}/magic-link", "magic.create",            \
       PD_ACCESS_ADMIN, 201, 0, NULL, NULL)                                                        \
    X ("POST", "/api/partners/auth/magic", "magic.exchange", PD_ACCESS_PUBLIC, 200,                \
       PD_ROUTE_SESSION_SET, NULL, NULL)                                                           \
    X ("POST", "/api/partners/auth/logout", "session.logout", PD_ACCESS_PARTNER, 204,              \
       PD_ROUTE_SESSION_CLEAR, NULL, NULL)                                                         \
    X ("GET", "/api/partner-auth/providers", "oauth.providers", PD_ACCESS_PUBLIC, 200, 0, NULL,    \
       NULL)                                                                                       \
    X ("GET", "/api/partner-auth/callback", "oauth.callback", PD_ACCESS_PUBLIC, 303,               \
       PD_ROUTE_SESSION_SET | PD_ROUTE_REDIRECT | PD_ROUTE_BINDING_CHECK, "location", "binding")   \
    X ("GET", "/api/partner-auth/{provider}", "oauth.start", PD_ACCESS_PUBLIC, 302,                \
       PD_ROUTE_REDIRECT | PD_ROUTE_BINDING_SET, "location", "binding")                            \
    X ("GET", "/api/admin/partners/pending", "partner.pending", PD_ACCESS_ADMIN, 200, 0, NULL,     \
       NULL)                                                                                       \
    X ("POST", "/api/admin/partners/approve/{id}", "partner.approve", PD_ACCESS_ADMIN, 200, 0,     \
       NULL, NULL)                                                                                 \
    X ("POST", "/api/admin/partners/reject/{id}", "partner.reject", PD_ACCESS_ADMIN, 200, 0, NULL, \
       NULL)                                                                                       \
    X ("GET", "/api/admin/approved-domains", "domain.list", PD_ACCESS_ADMIN, 200, 0, NULL, NULL)   \
    X ("POST", "/api/admin/approved-domains", "domain.add", PD_ACCESS_ADMIN, 201, 0, NULL, NULL)   \
    X ("DELETE", "/api/admin/approved-domains/{domain}", "domain.remove", PD_ACCESS_ADMIN, 204, 0, \
       NULL, NULL)                                                                                 \
    X ("GET", "/api/admin/streams/{stream}", "stream.read", PD_ACCESS_ADMIN, 200, 0, NULL, NULL)   \
    X ("GET", "/api/partners/me/provisions", "provision.list", PD_ACCESS_PARTNER, 200, 0, NULL,    \
       NULL)                                                                                       \
    X ("POST", "/api/partners/me/provisions", "provision.create", PD_ACCESS_PARTNER, 201, 0, NULL, \
       NULL)                                                                                       \
    X ("DELETE", "/api/partners/me/provisions/{id}", "provision.revoke", PD_ACCESS_PARTNER, 200,   \
       0, NULL, NULL)                                                                              \
    X ("GET", "/api/partners/me/provisions/{id}/qr", "provision.qr", PD_ACCESS_PARTNER, 200,       \
       PD_ROUTE_RAW, NULL, NULL)                                                                   \
    X ("GET", "/api/partners/provision/{code}/qr", "provision.public_qr", PD_ACCESS_PUBLIC, 200,   \
       PD_ROUTE_RAW, NULL, NULL)                                                                   \
    X ("POST", "/api/partners/claim", "claim.http", PD_ACCESS_PUBLIC, 200, 0, NULL, NULL)          \
    X ("POST", "/api/provision/claim", "claim.http", PD_ACCESS_PUBLIC, 200, 0, NULL, NULL)         \
    X ("GET", "/api/provision/validate/{code}", "provision.validate", PD_ACCESS_PUBLIC, 200, 0,    \
       NULL, NULL)                                                                                 \
    X ("POST", "/api/provision/status", "appliance.status", PD_ACCESS_APPLIANCE, 204, 0, NULL,     \
       NULL)                                                                                       \
    X ("POST", "/api/provision/heartbeat", "appliance.heartbeat", PD_ACCESS_APPLIANCE, 204, 0,     \
       NULL, NULL)                                                                                 \
    X ("GET", "/api/provision/config/{appliance_id}", "appliance.config", PD_ACCESS_APPLIANCE,     \
       200, 0, NULL, NULL)                                                                         \
    X ("GET", "/api/partners/me/sites", "site.list", PD_ACCESS_PARTNER, 200, 0, NULL, NULL)        \
    X ("GET", "/api/partners/me/sites/{site_id}", "site.get", PD_ACCESS_PARTNER, 200, 0, NULL,     \
       NULL)                                                                                       \
    X ("GET", "/api/partners/me/sites/{site_id}/appliances/{appliance_id}", "appliance.get",       \
       PD_ACCESS_PARTNER, 200, 0, NULL, NULL)                                                      \
    X ("POST", "/api/partners/me/sites/{site_id}/appliances/{appliance_id}/revoke",                \
       "appliance.revoke", PD_ACCESS_PARTNER, 200, 0, NULL, NULL)                                  \
    X ("POST", "/api/admin/appliances/{appliance_id}/command", "appliance.command",                \
       PD_ACCESS_ADMIN, 200, 0, NULL, NULL)                                                        \
    X ("POST", "/api/escalations", "escalation.create", PD_ACCESS_APPLIANCE, 200, 0, NULL, NULL)   \
    X ("GET", "/api/partners/me/escalations", "escalation.list", PD_ACCESS_PARTNER, 200, 0, NULL,  \
       NULL)                                                                                       \
    X ("GET", "/api/partners/me/escalations/stream", "escalation.follow", PD_ACCESS_PARTNER, 200,  \
       PD_ROUTE_STREAM, NULL, NULL)                                                                \
    X ("GET", "/api/admin/escalations/stream", "escalation.follow", PD_ACCESS_ADMIN, 200,          \
       PD_ROUTE_STREAM, NULL, NULL)                                                                \
    X ("GET", "/api/partners/me/escalations/{id}", "escalation.get", PD_ACCESS_PARTNER, 200, 0,    \
       NULL, NULL)                                                                                 \
    X ("POST", "/api/partners/me/escalations/{id}/acknowledge", "escalation.acknowledge",          \
       PD_ACCESS_PARTNER, 200, 0, NULL, NULL)                                                      \
    X ("POST", "/api/partners/me/escalations/{id}/resolve", "escalation.resolve",                  \
       PD_ACCESS_PARTNER, 200, 0, NULL, NULL)                                                      \
    X ("GET", "/api/admin/escalations", "escalation.list", PD_ACCESS_ADMIN, 200, 0, NULL, NULL)    \
    X ("GET", "/api/admin/escalations/{id}", "escalation.get", PD_ACCESS_ADMIN, 200, 0, NULL,      \
       NULL)                                                                                       \
    X ("GET", "/api/partners/me/sla/definitions", "sla.definitions", PD_ACCESS_PARTNER, 200, 0,    \
       NULL, NULL)                                                                                 \
    X ("PUT", "/api/partners/me/sla/definitions", "sla.define", PD_ACCESS_PARTNER, 200, 0, NULL,   \
       NULL)                                                                                       \
    X ("GET", "/api/partners/me/sla/metrics", "sla.metrics", PD_ACCESS_PARTNER, 200, 0, NULL, NULL)

#define S_ROUTE(method, path, type, access, success, flags, location, binding)                     \
    {method, path, type, access, success, flags, location, binding},
const pd_route_t pd_routes[] = {S_ROUTES (S_ROUTE)};
const size_t pd_routes_size = sizeof (pd_routes) / sizeof (pd_routes[0]);
#undef S_ROUTE

#define S_LABEL(method, path, type, access, success, flags, location, binding) method " " path,
static const char *const s_labels[] = {S_ROUTES (S_LABEL)};
#undef S_LABEL

//  Methods in the order an Allow header lists them
static const char *const s_methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
#define S_METHOD_COUNT (sizeof (s_methods) / sizeof (s_methods[0]))

//  One segment of a path or template, not NUL-terminated
typedef struct {
    const char *ptr;
    size_t len;
} s_segment_t;

//  A request path split into percent-decoded segments. A segment that can
//  match nothing (malformed escape, NUL or '/' once decoded, empty, too
//  long) is marked invalid.
typedef struct {
    size_t count;
    bool valid[PD_ROUTE_MAX_SEGMENTS];
    char text[PD_ROUTE_MAX_SEGMENTS][PD_ROUTE_MAX_PARAM + 1];
} s_path_t;

//  Split a path starting with '/' into segments. Returns the count, or -1
//  if the path does not start with '/' or has more than `max` segments.
static int
s_split (const char *path, s_segment_t *segments, size_t max)
{
    if (!path || path[0] != '/')
        return -1;
    size_t count = 0;
    const char *cursor = path;
    while (*cursor == '/') {
        if (count == max)
            return -1;
        cursor++;
        size_t len = strcspn (cursor, "/");
        segments[count].ptr = cursor;
        segments[count].len = len;
        count++;
        cursor += len;
    }
    return (int)count;
}

static bool
s_path_parse (const char *path, s_path_t *parsed)
{
    s_segment_t segments[PD_ROUTE_MAX_SEGMENTS];
    int count = s_split (path, segments, PD_ROUTE_MAX_SEGMENTS);
    if (count < 0)
        return false;
    parsed->count = (size_t)count;
    for (size_t i = 0; i < parsed->count; i++) {
        int len = pd_routes_decode (segments[i].ptr, segments[i].len, parsed->text[i],
                                    sizeof (parsed->text[i]), false);
        parsed->valid[i] = len > 0 && !memchr (parsed->text[i], '/', (size_t)len);
    }
    return true;
}

static bool
s_is_param (const s_segment_t *segment)
{
    return segment->len > 2 && segment->ptr[0] == '{' && segment->ptr[segment->len - 1] == '}';
}

//  Does the route's template match the parsed path, whatever the method?
//  *score has a bit per literal segment, the leftmost the highest, so that
//  the greater score is the more literal route. Fills params if not NULL.
static bool
s_route_matches (const pd_route_t *route, const s_path_t *path, uint32_t *score,
                 pd_route_params_t *params)
{
    s_segment_t segments[PD_ROUTE_MAX_SEGMENTS];
    int count = s_split (route->path, segments, PD_ROUTE_MAX_SEGMENTS);
    if (count < 0 || (size_t)count != path->count)
        return false;

    *score = 0;
    size_t param_count = 0;
    for (size_t i = 0; i < path->count; i++) {
        const s_segment_t *segment = &segments[i];
        if (!path->valid[i])
            return false;
        if (s_is_param (segment)) {
            size_t name_len = segment->len - 2;
            if (param_count == PD_ROUTE_MAX_PARAMS || name_len > PD_ROUTE_MAX_NAME)
                return false;
            if (params) {
                memcpy (params->names[param_count], segment->ptr + 1, name_len);
                params->names[param_count][name_len] = '\0';
                strcpy (params->values[param_count], path->text[i]);
            }
            param_count++;
        } else if (strlen (path->text[i]) == segment->len &&
                   memcmp (path->text[i], segment->ptr, segment->len) == 0)
            *score |= UINT32_C (1) << (PD_ROUTE_MAX_SEGMENTS - 1 - i);
        else
            return false;
    }
    if (params)
        params->count = param_count;
    return true;
}

const pd_route_t *
pd_routes_match (const char *method, const char *path, pd_route_params_t *params,
                 bool *other_method)
{
    if (other_method)
        *other_method = false;
    if (params)
        params->count = 0;

    s_path_t parsed;
    if (!method || !s_path_parse (path, &parsed))
        return NULL;

    const pd_route_t *best = NULL;
    uint32_t best_score = 0;
    for (size_t i = 0; i < pd_routes_size; i++) {
        uint32_t score;
        if (!s_route_matches (&pd_routes[i], &parsed, &score, NULL))
            continue;
        if (strcmp (pd_routes[i].method, method) != 0) {
            if (other_method)
                *other_method = true;
        } else if (!best || score > best_score) {
            best = &pd_routes[i];
            best_score = score;
        }
    }
    if (best) {
        if (other_method)
            *other_method = false;
        if (params)
            s_route_matches (best, &parsed, &best_score, params);
    }
    return best;
}

void
pd_routes_allow (const char *path, char *buf, size_t size)
{
    if (!buf || size == 0)
        return;
    buf[0] = '\0';

    s_path_t parsed;
    if (!s_path_parse (path, &parsed))
        return;

    size_t used = 0;
    for (size_t m = 0; m < S_METHOD_COUNT; m++) {
        for (size_t i = 0; i < pd_routes_size; i++) {
            uint32_t score;
            if (strcmp (pd_routes[i].method, s_methods[m]) != 0 ||
                !s_route_matches (&pd_routes[i], &parsed, &score, NULL))
                continue;
            const char *separator = used ? ", " : "";
            size_t needed = strlen (separator) + strlen (s_methods[m]);
            if (used + needed >= size)
                return; //  what fits is listed whole
            memcpy (buf + used, separator, strlen (separator));
            memcpy (buf + used + strlen (separator), s_methods[m], strlen (s_methods[m]));
            used += needed;
            buf[used] = '\0';
            break;
        }
    }
}

int
pd_route_param_names (const pd_route_t *route, pd_route_params_t *params)
{
    s_segment_t segments[PD_ROUTE_MAX_SEGMENTS];
    int count = route ? s_split (route->path, segments, PD_ROUTE_MAX_SEGMENTS) : -1;
    if (count < 0)
        return -1;
    memset (params, 0, sizeof (*params));
    for (int i = 0; i < count; i++) {
        if (!s_is_param (&segments[i]))
            continue;
        size_t name_len = segments[i].len - 2;
        if (params->count == PD_ROUTE_MAX_PARAMS || name_len > PD_ROUTE_MAX_NAME)
            return -1;
        memcpy (params->names[params->count], segments[i].ptr + 1, name_len);
        params->count++;
    }
    return (int)params->count;
}

const char *
pd_route_label (const pd_route_t *route)
{
    for (size_t i = 0; route && i < pd_routes_size; i++)
        if (route == &pd_routes[i])
            return s_labels[i];
    return PD_ROUTE_LABEL_NONE;
}

static int
s_hex_value (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
pd_routes_decode (const char *src, size_t len, char *dst, size_t size, bool form)
{
    if (!dst || size == 0)
        return -1;
    dst[0] = '\0';
    if (!src || len >= INT_MAX)
        return -1;

    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)src[i];
        if (c == '%') {
            if (len - i < 3)
                goto fail;
            int high = s_hex_value (src[i + 1]);
            int low = s_hex_value (src[i + 2]);
            if (high < 0 || low < 0)
                goto fail;
            c = high * 16 + low;
            i += 2;
        } else if (c == '+' && form)
            c = ' ';
        if (c == '\0' || out + 1 >= size)
            goto fail;
        dst[out++] = (char)c;
    }
    dst[out] = '\0';
    return (int)out;

fail:
    dst[0] = '\0';
    return -1;
}

bool
pd_route_params_has (const pd_route_params_t *params, const char *name)
{
    for (size_t i = 0; i < params->count; i++)
        if (strcmp (params->names[i], name) == 0)
            return true;
    return false;
}

bool
pd_routes_method_has_body (const char *method)
{
    return strcmp (method, "POST") == 0 || strcmp (method, "PUT") == 0 ||
           strcmp (method, "PATCH") == 0;
}

bool
pd_routes_scalar_field (const pd_field_t *field)
{
    return field->type == PD_T_STR || field->type == PD_T_INT || field->type == PD_T_BOOL;
}
