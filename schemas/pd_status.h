/*  pd_status - the one status space of partnerd

    Every layer (store, broker, actors, appliance link) returns these codes;
    the gateway maps them to HTTP exactly once, through this table.

    In C a status is an int: PD_OK (0) or a negative PD_E_* value. On the wire
    (broker frames, appliance link) it travels as the positive number, a
    uint16 in network byte order. The short code string ("not_found") is
    stable: clients may rely on it, it is the `code` of problem+json bodies.
*/
#ifndef PD_STATUS_H_INCLUDED
#define PD_STATUS_H_INCLUDED

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

//  X (name, wire number, stable code, HTTP status, title)
//  Never renumber or rename an entry: append new ones.
#define PD_STATUS_MAP(X)                                                                           \
    X (PD_OK, 0, "ok", 200, "OK")                                                                  \
    X (PD_E_BAD_REQUEST, 1, "bad_request", 400, "Bad request")                                     \
    X (PD_E_MALFORMED, 2, "malformed_body", 400, "Malformed request body")                         \
    X (PD_E_INVALID_FIELD, 3, "invalid_field", 400, "Invalid field")                               \
    X (PD_E_MISSING_FIELD, 4, "missing_field", 400, "Missing required field")                      \
    X (PD_E_UNKNOWN_FIELD, 5, "unknown_field", 400, "Unknown field")                               \
    X (PD_E_UNAUTHORIZED, 6, "unauthorized", 401, "Unauthorized")                                  \
    X (PD_E_FORBIDDEN, 7, "forbidden", 403, "Forbidden")                                           \
    X (PD_E_NOT_FOUND, 8, "not_found", 404, "Not found")                                           \
    X (PD_E_METHOD_NOT_ALLOWED, 9, "method_not_allowed", 405, "Method not allowed")                \
    X (PD_E_CONFLICT, 10, "conflict", 409, "Conflict")                                             \
    X (PD_E_EXISTS, 11, "already_exists", 409, "Already exists")                                   \
    X (PD_E_TOO_LARGE, 12, "payload_too_large", 413, "Payload too large")                          \
    X (PD_E_UNSUPPORTED_MEDIA, 13, "unsupported_media_type", 415, "Unsupported media type")        \
    X (PD_E_RATE_LIMITED, 14, "rate_limited", 429, "Too many requests")                            \
    X (PD_E_INTERNAL, 15, "internal_error", 500, "Internal error")                                 \
    X (PD_E_UNAVAILABLE, 16, "service_unavailable", 503, "Service unavailable")                    \
    X (PD_E_TIMEOUT, 17, "timeout", 504, "Timed out")                                              \
    X (PD_E_STORAGE_FULL, 18, "storage_full", 507, "Storage full")                                 \
    X (PD_E_PROTOCOL, 19, "protocol_error", 400, "Protocol error")                                 \
    X (PD_E_UNKNOWN_TYPE, 20, "unknown_message_type", 400, "Unknown message type")                 \
    X (PD_E_BUSY, 21, "busy", 503, "Busy")                                                         \
    X (PD_E_GONE, 22, "gone", 410, "Gone")                                                         \
    X (PD_E_REQUEST_TIMEOUT, 23, "request_timeout", 408, "Request timeout")                        \
    X (PD_E_CODE_UNKNOWN, 24, "code_unknown", 404, "Unknown provision code")                       \
    X (PD_E_CODE_USED, 25, "code_used", 409, "Provision code already used")                        \
    X (PD_E_CODE_REVOKED, 26, "code_revoked", 410, "Provision code revoked")                       \
    X (PD_E_CODE_EXPIRED, 27, "code_expired", 410, "Provision code expired")                       \
    X (PD_E_PARTNER_INACTIVE, 28, "partner_inactive", 403, "Partner not active")

typedef enum {
#define PD_STATUS_ENUM(name, num, code, http, title) name = -(num),
    PD_STATUS_MAP (PD_STATUS_ENUM)
#undef PD_STATUS_ENUM
} pd_status_t;

//  Stable short code, e.g. "not_found". Unknown values give "internal_error".
const char *pd_status_code (int status);

//  Human title, e.g. "Not found".
const char *pd_status_title (int status);

//  HTTP status for a status (PD_OK gives 200).
int pd_status_http (int status);

//  Wire number (positive) for a status, and back. A wire number we do not
//  know maps to PD_E_INTERNAL.
uint16_t pd_status_to_wire (int status);
int pd_status_from_wire (uint16_t wire);

//  Status for a stable code string, PD_E_INTERNAL if unknown.
int pd_status_from_code (const char *code);

#ifdef __cplusplus
}
#endif
#endif
