/*  pd_http - the gateway's HTTP plumbing over CivetWeb

    One response is written whole, head and body in one mg_write:
    CivetWeb's mg_response_header_* API sends each header line with its own
    send(), which with TCP_NODELAY (required, ARCHITECTURE.md) costs a
    packet per line. Every response carries Date, Content-Length,
    Cache-Control: no-store, X-Content-Type-Options: nosniff, X-Request-Id
    (the trace id) and a Connection header that tells the truth; errors are
    RFC 9457 problem+json with the status's stable code (pd_status.h).

    Also here: the request-side readers the responses need (header lists,
    media types, cookies) and Set-Cookie lines. Nothing here knows routes,
    records or the broker.
*/
#ifndef PD_HTTP_H_INCLUDED
#define PD_HTTP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mg_connection;
struct mg_request_info;

#define PD_HTTP_TRACE_BYTES  8    //  random bytes of a trace id (16 hex characters)
#define PD_HTTP_EXTRA_MAX    6144 //  bytes of extra header lines (a 4 KiB Location, cookies)
#define PD_HTTP_JSON_TYPE    "application/json"
#define PD_HTTP_PROBLEM_URN  "urn:partnerd:problem:"
#define PD_HTTP_CORS_EXPOSED "Retry-After, X-Request-Id, Location"

//  One request being answered: what its response must say
typedef struct {
    struct mg_connection *conn;
    const struct mg_request_info *info; //  method (HEAD: head only) and version
    const char *path;                   //  as sent, for a problem's `instance`
    const char *origin;                 //  an allowed CORS Origin to echo; NULL: none
    char trace_id[2 * PD_HTTP_TRACE_BYTES + 1];
    int retry_after; //  seconds a problem's Retry-After says; 0: 1 s for 429 and 503
    bool close;      //  close the connection after the response
    int sent;        //  the HTTP status sent, 0 while nothing was
} pd_http_t;

//  Start answering a request on conn: info from CivetWeb (a stand-in when
//  it has none), a fresh trace id. path "" and no origin until set.
void pd_http_init (pd_http_t *self, struct mg_connection *conn, const struct mg_request_info *info);

//  Send a whole response. `type` NULL: no Content-Type. `extra`: more
//  header lines, each ending in CRLF (or NULL).
void pd_http_send (pd_http_t *self, int http, const char *type, const char *extra, const char *body,
                   size_t size);

//  Start a streamed response (text/event-stream and the like): the head
//  with `type`, no Content-Length, Connection: close (the stream ends with
//  the connection). The body follows with pd_http_write.
void pd_http_stream_start (pd_http_t *self, int http, const char *type);

//  Write body bytes of a streamed response: 0, or -1 when the client is
//  gone.
int pd_http_write (pd_http_t *self, const void *data, size_t size);

//  Answer an RFC 9457 problem for a pd_status.h status: type
//  urn:partnerd:problem:<code>, title, status, detail, code, field,
//  instance (the path), trace_id; Retry-After as retry_after says.
//  detail, field and extra (header lines) may be NULL or empty.
void pd_http_problem (pd_http_t *self, int status, const char *detail, const char *field,
                      const char *extra);

//  405 with Allow (and the allowed methods in the detail)
void pd_http_method_not_allowed (pd_http_t *self, const char *allow);

//  Append a formatted header line (the format ends in CRLF) to the
//  NUL-terminated text in buf. false, and buf unchanged, if it does not fit.
bool pd_http_header_add (char *buf, size_t size, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

//  Set-Cookie for `name`=`value` (a token: no quoting) on Path=/,
//  SameSite=Lax, for max_age seconds (< 0: the browser's session; 0
//  expires it), HttpOnly unless the page must read it, Secure if asked.
//  false, and headers unchanged, if it does not fit.
bool pd_http_cookie_add (char *headers, size_t size, const char *name, const char *value,
                         bool http_only, int64_t max_age, bool secure);

//  Is `token` one of the comma-separated elements of a header value
//  (case-insensitive, spaces and tabs around elements ignored)?
bool pd_http_header_has_token (const char *value, const char *token);

//  Media type application/json, parameters (charset) allowed
bool pd_http_is_json (const char *content_type);

//  Find cookie `name` in the value of a Cookie header ("a=1; b=2"). Pairs
//  are separated by ';'; spaces and tabs around names and values are
//  ignored, a value in double quotes loses them, names compare exactly,
//  and the first pair of that name wins. A pair without '=' is skipped.
//  Copies the value into `value` (size bytes, always NUL-terminated when
//  size > 0) and returns its length, 0 for an empty value;
//  PD_E_NOT_FOUND if `header` (may be NULL) has no such cookie;
//  PD_E_TOO_LARGE if the value does not fit (value is then "").
int pd_http_cookie (const char *header, const char *name, char *value, size_t size);

//  The same over every Cookie header of the request, the first that has
//  the cookie winning
int pd_http_request_cookie (const pd_http_t *self, const char *name, char *value, size_t size);

#ifdef __cplusplus
}
#endif
#endif
