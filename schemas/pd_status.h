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

//  X (name, wire number, stable code, HTTP status, title, meaning): the
//  meaning is what schemas/PROTOCOL.md's status table says (rendered from
//  here by pd-protocol-doc). Never renumber or rename an entry: append.
#define PD_STATUS_MAP(X)                                                                           \
    X (PD_OK, 0, "ok", 200, "OK", "Success; the body is the reply record.")                        \
    X (PD_E_BAD_REQUEST, 1, "bad_request", 400, "Bad request",                                     \
       "The request is wrong in a way no more specific code describes.")                           \
    X (PD_E_MALFORMED, 2, "malformed_body", 400, "Malformed request body",                         \
       "The body is not valid MessagePack/JSON, or breaks the decoding limits.")                   \
    X (PD_E_INVALID_FIELD, 3, "invalid_field", 400, "Invalid field",                               \
       "A field has the wrong type, length, range or format (`field` names it).")                  \
    X (PD_E_MISSING_FIELD, 4, "missing_field", 400, "Missing required field",                      \
       "A required field is absent (`field` names it).")                                           \
    X (PD_E_UNKNOWN_FIELD, 5, "unknown_field", 400, "Unknown field",                               \
       "A field the record does not have (JSON input only; msgpack ignores unknown keys).")        \
    X (PD_E_UNAUTHORIZED, 6, "unauthorized", 401, "Unauthorized", "No valid credentials.")         \
    X (PD_E_FORBIDDEN, 7, "forbidden", 403, "Forbidden",                                           \
       "Credentials valid, action not allowed for this principal.")                                \
    X (PD_E_NOT_FOUND, 8, "not_found", 404, "Not found",                                           \
       "No such object (also: another partner's object).")                                         \
    X (PD_E_METHOD_NOT_ALLOWED, 9, "method_not_allowed", 405, "Method not allowed",                \
       "HTTP method not allowed on this route.")                                                   \
    X (PD_E_CONFLICT, 10, "conflict", 409, "Conflict",                                             \
       "The record changed since it was read (version mismatch).")                                 \
    X (PD_E_EXISTS, 11, "already_exists", 409, "Already exists", "A unique value is taken.")       \
    X (PD_E_TOO_LARGE, 12, "payload_too_large", 413, "Payload too large",                          \
       "A body or frame over its size limit.")                                                     \
    X (PD_E_UNSUPPORTED_MEDIA, 13, "unsupported_media_type", 415, "Unsupported media type",        \
       "Wrong content type (HTTP).")                                                               \
    X (PD_E_RATE_LIMITED, 14, "rate_limited", 429, "Too many requests",                            \
       "Too many requests; retry later.")                                                          \
    X (PD_E_INTERNAL, 15, "internal_error", 500, "Internal error",                                 \
       "A server fault; also any status number the receiver does not know.")                       \
    X (PD_E_UNAVAILABLE, 16, "service_unavailable", 503, "Service unavailable",                    \
       "No live worker serves the service, a worker was lost with the request, or the broker is "  \
       "stopping.")                                                                                \
    X (PD_E_TIMEOUT, 17, "timeout", 504, "Timed out", "No reply before the deadline.")             \
    X (PD_E_STORAGE_FULL, 18, "storage_full", 507, "Storage full", "The store is full.")           \
    X (PD_E_PROTOCOL, 19, "protocol_error", 400, "Protocol error",                                 \
       "The request header (envelope) is missing or malformed.")                                   \
    X (PD_E_UNKNOWN_TYPE, 20, "unknown_message_type", 400, "Unknown message type",                 \
       "The header's `type` is not served by this service.")                                       \
    X (PD_E_BUSY, 21, "busy", 503, "Busy", "The service's queue is full; retry later.")            \
    X (PD_E_GONE, 22, "gone", 410, "Gone",                                                         \
       "The object existed and is gone for good (consumed link, revoked key).")                    \
    X (PD_E_REQUEST_TIMEOUT, 23, "request_timeout", 408, "Request timeout",                        \
       "The client did not send its request in time (HTTP: a body slower than the minimum rate).") \
    X (PD_E_CODE_UNKNOWN, 24, "code_unknown", 404, "Unknown provision code",                       \
       "A claim names no provision code partnerd knows.")                                          \
    X (PD_E_CODE_USED, 25, "code_used", 409, "Provision code already used",                        \
       "The provision code was claimed already (also: revoking a used code).")                     \
    X (PD_E_CODE_REVOKED, 26, "code_revoked", 410, "Provision code revoked",                       \
       "The provision code was revoked by its partner.")                                           \
    X (PD_E_CODE_EXPIRED, 27, "code_expired", 410, "Provision code expired",                       \
       "The provision code's lifetime ended.")                                                     \
    X (PD_E_PARTNER_INACTIVE, 28, "partner_inactive", 403, "Partner not active",                   \
       "The code's partner is suspended, pending or rejected: nothing can be claimed now.")        \
    X (PD_E_APPLIANCE_REVOKED, 29, "appliance_revoked", 410, "Appliance revoked",                  \
       "Its partner revoked the appliance: its key is refused and its link is closed.")            \
    X (PD_E_INVALID_STATE, 30, "invalid_transition", 409, "Not allowed in this state",             \
       "The object's state does not allow the change (acknowledging a resolved ticket).")

typedef enum {
#define PD_STATUS_ENUM(name, num, code, http, title, meaning) name = -(num),
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
