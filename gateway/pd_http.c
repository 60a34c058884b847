/*  pd_http - the gateway's HTTP plumbing over CivetWeb (see pd_http.h)
 */
#include "pd_http.h"
#include "pd_status.h"

#include <civetweb.h>
#include <czmq.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define S_HEAD_MAX      (PD_HTTP_EXTRA_MAX + 1024) //  bytes of a response head
#define S_INSTANCE_MAX  256                        //  bytes of a problem's `instance`
#define S_ALLOW_MAX     64                         //  bytes of an Allow header value
#define S_RETRY_AFTER_S 1 //  Retry-After of 429 and 503 when the reply names none
#define S_NS_PER_S      1e9
#define S_PROBLEM_TYPE  "application/problem+json"
#define S_COOKIE_HEADER "Cookie"
#define S_PROBLEM_OOM   "{\"type\":\"urn:partnerd:problem:internal_error\",\"status\":500}"

//  A trace id: 64 bits of a per-thread generator (splitmix64) seeded once
//  from getrandom, so that a request costs no system call. Trace ids tie
//  log lines together; they are no secret.
static void
s_trace_id_new (char *trace_id)
{
    static __thread uint64_t s_state;
    static __thread bool s_seeded;
    if (!s_seeded) {
        if (getrandom (&s_state, sizeof (s_state), GRND_NONBLOCK) != (ssize_t)sizeof (s_state)) {
            //  No entropy yet (early boot): the clock still tells threads apart
            struct timespec now;
            clock_gettime (CLOCK_REALTIME, &now);
            s_state = (uint64_t)now.tv_sec * (uint64_t)S_NS_PER_S + (uint64_t)now.tv_nsec +
                      (uint64_t)(uintptr_t)&s_state;
        }
        s_seeded = true;
    }
    uint64_t z = (s_state += UINT64_C (0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C (0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C (0x94D049BB133111EB);
    z ^= z >> 31;
    for (size_t i = 0; i < PD_HTTP_TRACE_BYTES; i++)
        snprintf (trace_id + 2 * i, 3, "%02x", (unsigned)((z >> (8 * i)) & 0xFF));
}

bool
pd_http_header_has_token (const char *value, const char *token)
{
    size_t token_len = strlen (token);
    while (value && *value) {
        value += strspn (value, " \t,");
        size_t len = strcspn (value, ",");
        size_t trimmed = len;
        while (trimmed > 0 && (value[trimmed - 1] == ' ' || value[trimmed - 1] == '\t'))
            trimmed--;
        if (trimmed == token_len && strncasecmp (value, token, token_len) == 0)
            return true;
        value += len;
    }
    return false;
}

//  Media type application/json, parameters (charset) allowed
bool
pd_http_is_json (const char *content_type)
{
    if (!content_type)
        return false;
    content_type += strspn (content_type, " \t");
    size_t len = strlen (PD_HTTP_JSON_TYPE);
    if (strncasecmp (content_type, PD_HTTP_JSON_TYPE, len) != 0)
        return false;
    char next = content_type[len];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

//  The request path for a problem's `instance`: printable ASCII as is,
//  other bytes percent-encoded, cut at S_INSTANCE_MAX bytes.
static void
s_instance (const char *path, char *buf, size_t size)
{
    size_t used = 0;
    for (; path && *path && used + 4 <= size; path++) {
        unsigned char c = (unsigned char)*path;
        if (c > ' ' && c < 0x7F)
            buf[used++] = (char)c;
        else
            used += (size_t)snprintf (buf + used, size - used, "%%%02X", c);
    }
    buf[used] = '\0';
}

//  Append a formatted header line (the format ends in CRLF) to the
//  NUL-terminated text in buf. false, and buf unchanged, if it does not fit.
bool
pd_http_header_add (char *buf, size_t size, const char *format, ...)
{
    size_t used = strlen (buf);
    va_list args;
    va_start (args, format);
    int len = vsnprintf (buf + used, size - used, format, args);
    va_end (args);
    if (len < 0 || (size_t)len >= size - used) {
        buf[used] = '\0';
        return false;
    }
    return true;
}

void
pd_http_init (pd_http_t *self, struct mg_connection *conn, const struct mg_request_info *info)
{
    //  The request's method and version may be what failed to parse
    static const struct mg_request_info s_unparsed = {.request_method = "GET"};
    memset (self, 0, sizeof (*self));
    self->conn = conn;
    self->info = info && info->request_method ? info : &s_unparsed;
    self->path = "";
    s_trace_id_new (self->trace_id);
}

//  Keep the connection open after this response? Mirrors CivetWeb's own
//  decision, so that the Connection header tells the client the truth.
static bool
s_keep_alive (pd_http_t *self)
{
    if (self->close)
        return false;
    const char *connection = mg_get_header (self->conn, "Connection");
    if (connection)
        return pd_http_header_has_token (connection, "keep-alive");
    return self->info->http_version && strcmp (self->info->http_version, "1.1") == 0;
}

//  Send a whole response. `type` NULL: no Content-Type. `extra`: more
//  header lines, each ending in CRLF (or NULL).
void
pd_http_send (pd_http_t *self, int http, const char *type, const char *extra, const char *body,
              size_t size)
{
    char date[64];
    struct tm tm;
    time_t now = time (NULL);
    strftime (date, sizeof (date), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r (&now, &tm));

    char head[S_HEAD_MAX];
    int len = snprintf (head, sizeof (head),
                        "HTTP/1.1 %d %s\r\n"
                        "Date: %s\r\n"
                        "%s%s%s"
                        "Content-Length: %zu\r\n"
                        "Cache-Control: no-store\r\n"
                        "X-Content-Type-Options: nosniff\r\n"
                        "X-Request-Id: %s\r\n"
                        "Connection: %s\r\n"
                        "%s%s%s"
                        "%s\r\n",
                        http, mg_get_response_code_text (self->conn, http), date,
                        type ? "Content-Type: " : "", type ? type : "", type ? "\r\n" : "", size,
                        self->trace_id, s_keep_alive (self) ? "keep-alive" : "close",
                        self->origin ? "Access-Control-Allow-Origin: " : "",
                        self->origin ? self->origin : "",
                        self->origin ? "\r\nAccess-Control-Expose-Headers: " PD_HTTP_CORS_EXPOSED
                                       "\r\nVary: Origin\r\n"
                                     : "",
                        extra ? extra : "");
    if (len < 0 || (size_t)len >= sizeof (head)) {
        //  Cannot happen (every part is ours and bounded), but never send a cut head
        zsys_error ("gateway: response head too long trace=%s", self->trace_id);
        self->close = true;
        http = 500;
        len = snprintf (head, sizeof (head),
                        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                        "Connection: close\r\n\r\n");
        size = 0;
    }

    //  HEAD gets the head only (CivetWeb leaves that to the handler)
    const char *method = self->info->request_method;
    if (method && strcmp (method, "HEAD") == 0)
        size = 0;
    char *message = malloc ((size_t)len + size);
    if (message) {
        memcpy (message, head, (size_t)len);
        if (size)
            memcpy (message + len, body, size);
        mg_write (self->conn, message, (size_t)len + size);
        free (message);
    } else {
        mg_write (self->conn, head, (size_t)len);
        if (size)
            mg_write (self->conn, body, size);
    }
    self->sent = http;
}

void
pd_http_stream_start (pd_http_t *self, int http, const char *type)
{
    char date[64];
    struct tm tm;
    time_t now = time (NULL);
    strftime (date, sizeof (date), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r (&now, &tm));
    char head[S_HEAD_MAX];
    int len = snprintf (head, sizeof (head),
                        "HTTP/1.1 %d %s\r\n"
                        "Date: %s\r\n"
                        "Content-Type: %s\r\n"
                        "Cache-Control: no-store\r\n"
                        "X-Content-Type-Options: nosniff\r\n"
                        "X-Accel-Buffering: no\r\n"
                        "X-Request-Id: %s\r\n"
                        "Connection: close\r\n"
                        "%s%s%s"
                        "\r\n",
                        http, mg_get_response_code_text (self->conn, http), date, type,
                        self->trace_id, self->origin ? "Access-Control-Allow-Origin: " : "",
                        self->origin ? self->origin : "",
                        self->origin ? "\r\nAccess-Control-Expose-Headers: " PD_HTTP_CORS_EXPOSED
                                       "\r\nVary: Origin\r\n"
                                     : "");
    self->close = true;
    self->sent = http;
    if (len > 0 && (size_t)len < sizeof (head))
        mg_write (self->conn, head, (size_t)len);
}

int
pd_http_write (pd_http_t *self, const void *data, size_t size)
{
    return size == 0 || mg_write (self->conn, data, size) == (int)size ? 0 : -1;
}

//  Answer an RFC 9457 problem for a status. detail, field, extra may be
//  NULL or empty.
void
pd_http_problem (pd_http_t *self, int status, const char *detail, const char *field,
                 const char *extra)
{
    int http = pd_status_http (status);
    const char *code = pd_status_code (status);
    char type[96];
    snprintf (type, sizeof (type), PD_HTTP_PROBLEM_URN "%s", code);
    char instance[S_INSTANCE_MAX];
    s_instance (self->path, instance, sizeof (instance));

    //  A string that is not UTF-8 makes json_string NULL: that member is
    //  then left out (json_object_set_new ignores a NULL value)
    json_t *problem = json_object ();
    json_object_set_new (problem, "type", json_string (type));
    json_object_set_new (problem, "title", json_string (pd_status_title (status)));
    json_object_set_new (problem, "status", json_integer (http));
    if (detail && *detail)
        json_object_set_new (problem, "detail", json_string (detail));
    json_object_set_new (problem, "code", json_string (code));
    if (field && *field)
        json_object_set_new (problem, "field", json_string (field));
    json_object_set_new (problem, "instance", json_string (instance));
    json_object_set_new (problem, "trace_id", json_string (self->trace_id));
    char *text = problem ? json_dumps (problem, JSON_COMPACT) : NULL;
    json_decref (problem);

    //  The wait an error reply asked for; else 429 and 503 say 1 s
    char headers[PD_HTTP_EXTRA_MAX];
    snprintf (headers, sizeof (headers), "%s", extra ? extra : "");
    int retry_after = self->retry_after;
    if (retry_after <= 0 && (status == PD_E_RATE_LIMITED || http == 503))
        retry_after = S_RETRY_AFTER_S;
    if (retry_after > 0)
        pd_http_header_add (headers, sizeof (headers), "Retry-After: %d\r\n", retry_after);

    const char *body = text ? text : S_PROBLEM_OOM;
    pd_http_send (self, http, S_PROBLEM_TYPE, headers, body, strlen (body));
    free (text);
}

void
pd_http_method_not_allowed (pd_http_t *self, const char *allow)
{
    char header[S_ALLOW_MAX + sizeof ("Allow: \r\n")];
    char detail[S_ALLOW_MAX + sizeof ("allowed: ")];
    snprintf (header, sizeof (header), "Allow: %s\r\n", allow);
    snprintf (detail, sizeof (detail), "allowed: %s", allow);
    pd_http_problem (self, PD_E_METHOD_NOT_ALLOWED, detail, NULL, header);
}

bool
pd_http_cookie_add (char *headers, size_t size, const char *name, const char *value, bool http_only,
                    int64_t max_age, bool secure)
{
    char age[32] = "";
    if (max_age >= 0)
        snprintf (age, sizeof (age), "; Max-Age=%" PRId64, max_age);
    return pd_http_header_add (headers, size, "Set-Cookie: %s=%s; Path=/%s; SameSite=Lax%s%s\r\n",
                               name, value, http_only ? "; HttpOnly" : "", age,
                               secure ? "; Secure" : "");
}

int
pd_http_cookie (const char *header, const char *name, char *value, size_t size)
{
    assert (name);
    if (value && size)
        value[0] = '\0';
    size_t name_len = strlen (name);
    const char *cursor = header;
    while (cursor && *cursor) {
        //  One pair: [spaces] name [spaces] '=' [spaces] value [spaces] (';' | end)
        const char *pair = cursor + strspn (cursor, " \t");
        size_t len = strcspn (pair, ";");
        cursor = pair[len] ? pair + len + 1 : pair + len;
        const char *equals = memchr (pair, '=', len);
        if (!equals)
            continue;
        size_t key_len = (size_t)(equals - pair);
        while (key_len > 0 && (pair[key_len - 1] == ' ' || pair[key_len - 1] == '\t'))
            key_len--;
        if (key_len != name_len || memcmp (pair, name, name_len) != 0)
            continue;

        const char *start = equals + 1;
        const char *end = pair + len;
        while (start < end && (*start == ' ' || *start == '\t'))
            start++;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (end - start >= 2 && *start == '"' && end[-1] == '"') {
            start++;
            end--;
        }
        size_t value_len = (size_t)(end - start);
        if (!value || value_len >= size)
            return PD_E_TOO_LARGE;
        memcpy (value, start, value_len);
        value[value_len] = '\0';
        return (int)value_len;
    }
    return PD_E_NOT_FOUND;
}

int
pd_http_request_cookie (const pd_http_t *self, const char *name, char *value, size_t size)
{
    int rc = PD_E_NOT_FOUND;
    for (int i = 0; rc == PD_E_NOT_FOUND && i < self->info->num_headers; i++)
        if (strcasecmp (self->info->http_headers[i].name, S_COOKIE_HEADER) == 0)
            rc = pd_http_cookie (self->info->http_headers[i].value, name, value, size);
    return rc;
}
