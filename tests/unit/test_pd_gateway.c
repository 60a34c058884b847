/*  test_pd_gateway - the gateway's own answers (no broker behind it:
    framing errors, 404/405, keep-alive, /openapi.json) and the request
    pipeline in front of a stand-in broker that answers as the runtime's
    caller check and the services would (credentials, access, request
    records, sessions and cookies, redirects). The real services behind a
    real broker are the integration tests'.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <czmq.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "pd_gateway.h"
#include "pd_metrics.h"
#include "pd_proto.h"
#include "pd_routes.h"
#include "pd_token.h"

//  Does `text` hold `line` as a whole line?
static void
s_assert_line (const char *text, const char *line)
{
    char needle[512];
    snprintf (needle, sizeof (needle), "\n%s\n", line);
    if (!strstr (text, needle))
        fail_msg ("missing line: %s\nin:\n%s", line, text);
}

//  ------------------------------------------------------------------------
//  The gateway, no broker behind it

#define S_NO_BROKER  "tcp://127.0.0.1:1"
#define S_TIMEOUT_MS 300
#define S_MAX_BODY   1024

//  One request on a fresh connection; the whole response as text
static char *
s_http (int port, const char *request, size_t size)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (fd >= 0);
    struct timeval timeout = {5, 0};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof (timeout));
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_port = htons ((uint16_t)port);
    inet_pton (AF_INET, "127.0.0.1", &address.sin_addr);
    assert_int_equal (connect (fd, (struct sockaddr *)&address, sizeof (address)), 0);
    for (size_t sent = 0; sent < size;) {
        ssize_t n = send (fd, request + sent, size - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break; //  the server may answer (413) before taking it all
        sent += (size_t)n;
    }
    size_t capacity = 1 << 20, used = 0;
    char *response = malloc (capacity + 1);
    assert_non_null (response);
    ssize_t n;
    while (used < capacity && (n = recv (fd, response + used, capacity - used, 0)) > 0)
        used += (size_t)n;
    response[used] = '\0';
    close (fd);
    return response;
}

static char *
s_get (int port, const char *request)
{
    return s_http (port, request, strlen (request));
}

static int
s_status (const char *response)
{
    int status = 0;
    sscanf (response, "HTTP/1.1 %d", &status);
    return status;
}

//  Is `line` one of the response's header lines?
static bool
s_has_header (const char *response, const char *line)
{
    char needle[256];
    snprintf (needle, sizeof (needle), "\r\n%s\r\n", line);
    const char *found = strstr (response, needle);
    const char *end = strstr (response, "\r\n\r\n");
    return found && end && found <= end;
}

static json_t *
s_body_json (const char *response)
{
    const char *body = strstr (response, "\r\n\r\n");
    assert_non_null (body);
    json_t *json = json_loads (body + 4, 0, NULL);
    assert_non_null (json);
    return json;
}

static void
s_assert_problem (const char *response, int status, const char *code)
{
    assert_int_equal (s_status (response), status);
    assert_true (s_has_header (response, "Content-Type: application/problem+json"));
    assert_true (s_has_header (response, "Cache-Control: no-store"));
    assert_true (s_has_header (response, "X-Content-Type-Options: nosniff"));
    json_t *problem = s_body_json (response);
    char type[128];
    snprintf (type, sizeof (type), "urn:partnerd:problem:%s", code);
    assert_string_equal (json_string_value (json_object_get (problem, "type")), type);
    assert_string_equal (json_string_value (json_object_get (problem, "code")), code);
    assert_int_equal (json_integer_value (json_object_get (problem, "status")), status);
    assert_non_null (json_string_value (json_object_get (problem, "title")));
    const char *trace_id = json_string_value (json_object_get (problem, "trace_id"));
    assert_non_null (trace_id);
    assert_int_equal (strlen (trace_id), 16);
    char header[64];
    snprintf (header, sizeof (header), "X-Request-Id: %s", trace_id);
    assert_true (s_has_header (response, header));
    json_decref (problem);
}

static int
s_gateway_setup (void **state)
{
    pd_gateway_config_t config = {.listen = "127.0.0.1:0",
                                  .broker = S_NO_BROKER,
                                  .threads = 2,
                                  .request_timeout_ms = S_TIMEOUT_MS,
                                  .max_body = S_MAX_BODY,
                                  .cookie_secure = true};
    pd_gateway_t *gateway = pd_gateway_new (&config);
    if (!gateway)
        return -1;
    *state = gateway;
    return 0;
}

static int
s_gateway_teardown (void **state)
{
    pd_gateway_t *gateway = (pd_gateway_t *)*state;
    pd_gateway_destroy (&gateway);
    return gateway == NULL ? 0 : -1;
}

static void
test_gateway_errors (void **state)
{
    int port = pd_gateway_port ((pd_gateway_t *)*state);
    assert_true (port > 0);

    char *response =
        s_get (port, "GET /nothing/here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s_assert_problem (response, 404, "not_found");
    assert_true (s_has_header (response, "Connection: close"));
    json_t *problem = s_body_json (response);
    assert_string_equal (json_string_value (json_object_get (problem, "instance")),
                         "/nothing/here");
    json_decref (problem);
    free (response);

    response =
        s_get (port, "DELETE /api/partners/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s_assert_problem (response, 405, "method_not_allowed");
    assert_true (s_has_header (response, "Allow: GET, PUT"));
    free (response);

    response = s_get (port, "PUT /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s_assert_problem (response, 405, "method_not_allowed");
    assert_true (s_has_header (response, "Allow: GET"));
    free (response);

    //  %2F inside a parameter is no separator, and no match
    response =
        s_get (port, "GET /api/partners/a%2Fb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s_assert_problem (response, 404, "not_found");
    free (response);

    response = s_get (port, "GET /api/partners HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s_assert_problem (response, 401, "unauthorized");
    free (response);

    //  Other cookies are no credential
    response =
        s_get (port, "GET /api/partners HTTP/1.1\r\nHost: x\r\n"
                     "Cookie: theme=dark; __Host-partnerd_csrf=pdc_x; __Host-partnerd_session=\r\n"
                     "Connection: close\r\n\r\n");
    s_assert_problem (response, 401, "unauthorized");
    free (response);

    //  Even a key that cannot be one goes to the auth service (which counts
    //  failures); here there is none, so the deadline answers. So does a
    //  session cookie.
    response = s_get (port, "GET /api/partners HTTP/1.1\r\nHost: x\r\nX-API-Key: not a key\r\n"
                            "Connection: close\r\n\r\n");
    assert_true (s_status (response) == 504 || s_status (response) == 503);
    free (response);
    response = s_get (port, "GET /api/partners/me HTTP/1.1\r\nHost: x\r\n"
                            "Cookie: __Host-partnerd_session=pds_x\r\nConnection: close\r\n\r\n");
    assert_true (s_status (response) == 504 || s_status (response) == 503);
    free (response);

    //  A plausible key, but no auth service: the deadline answers
    response = s_get (port, "GET /api/partners HTTP/1.1\r\nHost: x\r\nX-API-Key: pd_admin_x1\r\n"
                            "Connection: close\r\n\r\n");
    assert_true (s_status (response) == 504 || s_status (response) == 503);
    free (response);

    //  Declared too large: refused unread, connection closed
    response = s_get (port, "POST /api/partners HTTP/1.1\r\nHost: x\r\n"
                            "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n");
    s_assert_problem (response, 413, "payload_too_large");
    assert_true (s_has_header (response, "Connection: close"));
    free (response);

    //  Chunked and too large: cut off at max_body + 1
    char request[4096];
    int head =
        snprintf (request, sizeof (request),
                  "POST /api/partners HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n%x\r\n",
                  2 * S_MAX_BODY);
    memset (request + head, ' ', 2 * S_MAX_BODY);
    int len = head + 2 * S_MAX_BODY;
    len += snprintf (request + len, sizeof (request) - (size_t)len, "\r\n0\r\n\r\n");
    response = s_http (port, request, (size_t)len);
    s_assert_problem (response, 413, "payload_too_large");
    free (response);

    response = s_get (port, "POST /api/partners HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                            "Content-Length: 3\r\nConnection: close\r\n\r\na=b");
    s_assert_problem (response, 415, "unsupported_media_type");
    free (response);

    //  JSON with a charset is JSON; then the missing key is what stops it
    response = s_get (port, "POST /api/partners HTTP/1.1\r\nHost: x\r\n"
                            "Content-Type: application/json; charset=utf-8\r\n"
                            "Content-Length: 2\r\nConnection: close\r\n\r\n{}");
    s_assert_problem (response, 401, "unauthorized");
    free (response);

    response = s_get (port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s_assert_problem (response, 503, "service_unavailable");
    assert_true (s_has_header (response, "Retry-After: 1"));
    free (response);

    response = s_get (port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_int_equal (s_status (response), 200);
    assert_true (s_has_header (response, "Content-Type: text/plain; version=0.0.4"));
    s_assert_line (response, "partnerd_http_requests_total{route=\"none\",code=\"404\"} 2");
    s_assert_line (response, "partnerd_http_requests_total{route=\"none\",code=\"503\"} 1");
    s_assert_line (response,
                   "partnerd_http_requests_total{route=\"POST /api/partners\",code=\"413\"} 2");
    s_assert_line (response, "partnerd_http_in_flight 1");
    free (response);
}

static void
test_gateway_keep_alive (void **state)
{
    int port = pd_gateway_port ((pd_gateway_t *)*state);
    //  Two requests on one connection: both answered, the first kept open
    const char *requests = "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char *response = s_get (port, requests);
    assert_int_equal (s_status (response), 404);
    assert_true (s_has_header (response, "Connection: keep-alive"));
    const char *second = strstr (response, "HTTP/1.1 200 OK\r\n");
    assert_non_null (second);
    free (response);
}

static void
test_gateway_openapi (void **state)
{
    int port = pd_gateway_port ((pd_gateway_t *)*state);
    char *response =
        s_get (port, "GET /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_int_equal (s_status (response), 200);
    assert_true (s_has_header (response, "Content-Type: application/json"));
    json_t *doc = s_body_json (response);
    free (response);

    assert_string_equal (json_string_value (json_object_get (doc, "openapi")), "3.0.3");
    json_t *paths = json_object_get (doc, "paths");
    for (size_t i = 0; i < pd_routes_size; i++) {
        char method[8] = "";
        for (size_t c = 0; pd_routes[i].method[c] && c < 7; c++)
            method[c] = (char)(pd_routes[i].method[c] | 0x20);
        json_t *operation = json_object_get (json_object_get (paths, pd_routes[i].path), method);
        assert_non_null (operation);
        assert_string_equal (json_string_value (json_object_get (operation, "operationId")),
                             pd_routes[i].type);
    }

    //  Path parameter, body without it, server-owned fields readOnly
    json_t *put = json_object_get (json_object_get (paths, "/api/partners/{id}"), "put");
    json_t *id = json_array_get (json_object_get (put, "parameters"), 0);
    assert_string_equal (json_string_value (json_object_get (id, "name")), "id");
    assert_string_equal (json_string_value (json_object_get (id, "in")), "path");
    assert_true (json_is_true (json_object_get (id, "required")));
    json_t *body = json_object_get (
        json_object_get (json_object_get (json_object_get (put, "requestBody"), "content"),
                         "application/json"),
        "schema");
    json_t *properties = json_object_get (body, "properties");
    assert_null (json_object_get (properties, "id"));
    assert_non_null (json_object_get (properties, "name"));
    assert_true (json_is_false (json_object_get (body, "additionalProperties")));
    json_t *email = json_object_get (properties, "contact_email");
    assert_string_equal (json_string_value (json_object_get (email, "format")), "email");
    json_t *status = json_object_get (properties, "status");
    assert_int_equal (json_array_size (json_object_get (status, "enum")), 4);

    //  GET: the request record's fields are query parameters
    json_t *list = json_object_get (json_object_get (paths, "/api/partners"), "get");
    json_t *parameters = json_object_get (list, "parameters");
    assert_int_equal (json_array_size (parameters), 3);
    json_t *limit = json_array_get (parameters, 0);
    assert_string_equal (json_string_value (json_object_get (limit, "name")), "limit");
    assert_string_equal (json_string_value (json_object_get (limit, "in")), "query");
    assert_int_equal (
        json_integer_value (json_object_get (json_object_get (limit, "schema"), "maximum")), 200);
    assert_non_null (json_object_get (json_object_get (list, "responses"), "200"));
    assert_non_null (json_object_get (json_object_get (list, "responses"), "default"));
    assert_non_null (
        json_object_get (json_array_get (json_object_get (list, "security"), 0), "ApiKey"));

    json_t *schemas = json_object_get (json_object_get (doc, "components"), "schemas");
    json_t *partner = json_object_get (json_object_get (schemas, "partner"), "properties");
    assert_true (json_is_true (json_object_get (json_object_get (partner, "id"), "readOnly")));
    assert_true (json_is_true (json_object_get (json_object_get (partner, "api_key"), "readOnly")));
    assert_non_null (json_object_get (schemas, "branding"));
    assert_non_null (json_object_get (schemas, "problem"));
    json_t *scheme = json_object_get (
        json_object_get (json_object_get (doc, "components"), "securitySchemes"), "ApiKey");
    assert_string_equal (json_string_value (json_object_get (scheme, "name")), "X-API-Key");
    json_decref (doc);
}

//  ------------------------------------------------------------------------
//  The gateway in front of a stand-in broker

//  The stand-in broker answers as the auth and partners services would,
//  from canned records, and echoes what the gateway sent where the test can
//  see it. It cannot assert (cmocka is not thread-safe): what it finds
//  wrong it answers with an error the test then sees.
//  Credentials of the right shape (pd_token: checksums hold): the gateway
//  passes on a token's id and hash only, and the stand-in resolves those
#define S_ADMIN_KEY   "pda_AdminKeyaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1lQxAk"
#define S_PARTNER_KEY "pdp_PartnerKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb23i2yq"
#define S_LIMITED_KEY                                                                              \
    "pdp_LimitedKcccccccccccccccccccccccccccccccc2lPHZq" //  answered rate_limited, retry_after 42
#define S_SESSION                                                                                  \
    "pds_Session1dddddddddddddddddddddddddddddddd00YT9J" //  a session of user u-1 of partner p-7
#define S_CSRF "pdc_CsrfTok1eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee1CghlF" //  its CSRF token
enum { S_ADMIN, S_PARTNER, S_LIMITED, S_SESSION_TOKEN, S_CSRF_TOKEN, S_TOKENS };
static const char *const s_token_texts[S_TOKENS] = {S_ADMIN_KEY, S_PARTNER_KEY, S_LIMITED_KEY,
                                                    S_SESSION, S_CSRF};
static struct {
    char id[PD_TOKEN_PUBLIC_LEN + 1];
    uint8_t hash[PD_TOKEN_HASH_SIZE];
} s_tokens[S_TOKENS];
#define S_NO_REPLY 1

static void
s_fake_reply (int *status, uint8_t **reply, size_t *size, const pd_schema_t *schema,
              const void *record)
{
    if (pd_schema_encode (schema, record, reply, size) != PD_OK)
        *status = PD_E_INTERNAL;
}

static void
s_fake_error (int *status, uint8_t **reply, size_t *size, int error, const char *detail,
              const char *field)
{
    pd_error_t record = {0};
    record.code = (char *)pd_status_code (error);
    record.detail = (char *)detail;
    record.field = (char *)field;
    *status = error;
    s_fake_reply (status, reply, size, &pd_error_schema, &record);
}

//  Is the credential token `which`: its id and hash?
static bool
s_fake_is (const pd_credential_t *credential, int which)
{
    return credential->id && strcmp (credential->id, s_tokens[which].id) == 0 &&
           credential->hash.size == PD_TOKEN_HASH_SIZE &&
           memcmp (credential->hash.data, s_tokens[which].hash, PD_TOKEN_HASH_SIZE) == 0;
}

//  What the actor runtime does first: resolve the header's credential into
//  header->principal and check the access. false, with an error reply, if
//  the caller is refused.
static bool
s_fake_caller (pd_header_t *header, int *status, uint8_t **reply, size_t *size)
{
    const pd_credential_t *credential = header->credential;
    if (!credential)
        return true;
    if (header->principal || !header->access) {
        s_fake_error (status, reply, size, PD_E_BAD_REQUEST, "principal and credential", NULL);
        return false;
    }
    pd_principal_t principal = {0};
    bool session = strcmp (credential->kind, "session") == 0;
    if (!session && s_fake_is (credential, S_ADMIN))
        principal.kind = "admin";
    else if (!session && s_fake_is (credential, S_PARTNER)) {
        principal.kind = "partner";
        principal.partner_id = "p-7";
    } else if (!session && s_fake_is (credential, S_LIMITED)) {
        pd_error_t error = {0};
        error.code = "rate_limited";
        error.retry_after = 42;
        PD_MARK (&error, error, retry_after);
        *status = PD_E_RATE_LIMITED;
        s_fake_reply (status, reply, size, &pd_error_schema, &error);
        return false;
    } else if (session && PD_HAS (credential, credential, unsafe) &&
               s_fake_is (credential, S_SESSION_TOKEN)) {
        //  The session's principal tells what the gateway sent: role
        //  partner-admin for an unsafe method
        bool csrf = credential->csrf_hash.size == PD_TOKEN_HASH_SIZE &&
                    memcmp (credential->csrf_hash.data, s_tokens[S_CSRF_TOKEN].hash,
                            PD_TOKEN_HASH_SIZE) == 0;
        if (credential->unsafe && !csrf) {
            s_fake_error (status, reply, size, PD_E_FORBIDDEN, "CSRF token missing or wrong", NULL);
            return false;
        }
        principal.kind = "partner";
        principal.partner_id = "p-7";
        principal.user_id = "u-1";
        principal.session_id = "s-1";
        principal.role = credential->unsafe ? "partner-admin" : "partner-user";
    } else {
        s_fake_error (status, reply, size, PD_E_UNAUTHORIZED, "unknown credential", NULL);
        return false;
    }
    //  The stand-in's principals are admins and partners only
    bool allowed =
        strcmp (header->access, principal.kind) == 0 || strcmp (header->access, "any") == 0;
    if (!allowed) {
        s_fake_error (status, reply, size, PD_E_FORBIDDEN, "this caller may not call this endpoint",
                      NULL);
        return false;
    }
    //  A copy the header owns, as the runtime's
    uint8_t *data = NULL;
    size_t data_size = 0;
    header->principal = calloc (1, sizeof (pd_principal_t));
    if (pd_schema_encode (&pd_principal_schema, &principal, &data, &data_size) != PD_OK ||
        !header->principal ||
        pd_schema_decode (&pd_principal_schema, data, data_size, header->principal, NULL)) {
        free (data);
        s_fake_error (status, reply, size, PD_E_INTERNAL, "principal copy", NULL);
        return false;
    }
    free (data);
    PD_MARK (header, header, principal);
    return true;
}

//  Decode a request body by its message type into a new record (caller
//  clears and frees); NULL, with an error reply, if it does not decode
static void *
s_fake_request (const pd_header_t *header, zframe_t *body, int *status, uint8_t **reply,
                size_t *size)
{
    const pd_message_t *message = pd_message_find (header->type);
    void *request = message ? calloc (1, message->request->size) : NULL;
    pd_schema_error_t err = {0};
    if (!request || pd_schema_decode (message->request, zframe_data (body), zframe_size (body),
                                      request, &err)) {
        s_fake_error (status, reply, size, PD_E_BAD_REQUEST, "bad request", err.field);
        free (request);
        return NULL;
    }
    return request;
}

//  The service "users": magic.exchange opens a session, session.logout
static void
s_fake_users (const pd_header_t *header, zframe_t *body, int *status, uint8_t **reply, size_t *size)
{
    void *request = s_fake_request (header, body, status, reply, size);
    if (!request)
        return;
    pd_user_t user = {0};
    user.id = "u-1";
    user.partner_id = "p-7";
    user.email = "ada@acme.example";
    user.role = "partner-admin";
    pd_session_t session = {0};
    session.session_token = S_SESSION;
    session.csrf_token = S_CSRF;
    session.expires_at = zclock_time () + 3600 * 1000;
    PD_MARK (&session, session, expires_at);
    session.partner_id = "p-7";
    session.user = &user;

    if (strcmp (header->type, "magic.exchange") == 0) {
        pd_magic_exchange_t *exchange = request;
        if (strcmp (exchange->token, "good") == 0)
            s_fake_reply (status, reply, size, &pd_session_schema, &session);
        else if (strcmp (exchange->token, "limited") == 0) {
            pd_error_t error = {0};
            error.code = "rate_limited";
            error.detail = "too many attempts";
            error.retry_after = 30;
            PD_MARK (&error, error, retry_after);
            *status = PD_E_RATE_LIMITED;
            s_fake_reply (status, reply, size, &pd_error_schema, &error);
        } else
            s_fake_error (status, reply, size, PD_E_UNAUTHORIZED, "invalid link", NULL);
    } else if (strcmp (header->type, "session.logout") == 0) {
        //  Only the session's own user, and only as the gateway resolved it
        if (!header->principal || !header->principal->session_id ||
            strcmp (header->principal->role, "partner-admin") != 0)
            s_fake_error (status, reply, size, PD_E_BAD_REQUEST, "not a session", NULL);
        else {
            static const uint8_t empty_map[] = {0x80};
            *reply = malloc (1);
            memcpy (*reply, empty_map, 1);
            *size = 1;
        }
    } else
        s_fake_error (status, reply, size, PD_E_UNKNOWN_TYPE, "unknown type", NULL);
    pd_schema_clear (pd_message_find (header->type)->request, request);
    free (request);
}

//  The service "oauth": start redirects; the callback signs in with a
//  redirect (state "go"), answers JSON (state "stay") or is rate limited
static void
s_fake_oauth (const pd_header_t *header, zframe_t *body, int *status, uint8_t **reply, size_t *size)
{
    void *request = s_fake_request (header, body, status, reply, size);
    if (!request)
        return;
    if (strcmp (header->type, "oauth.start") == 0) {
        pd_redirect_t redirect = {0};
        redirect.location = "https://idp.example/authorize?state=st1&x=%20y";
        s_fake_reply (status, reply, size, &pd_redirect_schema, &redirect);
    } else if (strcmp (header->type, "oauth.callback") == 0) {
        pd_oauth_callback_t *callback = request;
        pd_session_t session = {0};
        session.status = "pending";
        if (callback->state && strcmp (callback->state, "go") == 0) {
            session.session_token = S_SESSION;
            session.csrf_token = S_CSRF;
            session.expires_at = zclock_time () + 60 * 1000;
            PD_MARK (&session, session, expires_at);
            session.status = "active";
            session.location = "http://127.0.0.1:9/partner/dashboard";
        }
        if (callback->state && strcmp (callback->state, "limited") == 0) {
            pd_error_t error = {0};
            error.code = "rate_limited";
            *status = PD_E_RATE_LIMITED;
            s_fake_reply (status, reply, size, &pd_error_schema, &error);
        } else
            s_fake_reply (status, reply, size, &pd_session_schema, &session);
    } else
        s_fake_error (status, reply, size, PD_E_UNKNOWN_TYPE, "unknown type", NULL);
    pd_schema_clear (pd_message_find (header->type)->request, request);
    free (request);
}

static void
s_fake_partners (const pd_header_t *header, zframe_t *body, int *status, uint8_t **reply,
                 size_t *size)
{
    const pd_message_t *message = pd_message_find (header->type);
    void *request = message ? calloc (1, message->request->size) : NULL;
    pd_schema_error_t err = {0};
    if (!request || pd_schema_decode (message->request, zframe_data (body), zframe_size (body),
                                      request, &err)) {
        s_fake_error (status, reply, size, PD_E_BAD_REQUEST, "bad partners request", err.field);
        free (request);
        return;
    }
    //  A partner that tells where the request came from
    pd_partner_t partner = {0};
    partner.id = "p-1";
    partner.name = "Acme";
    partner.contact_email = "ops@acme.example";
    partner.contact_name = header->trace_id;
    partner.contact_phone = header->source;
    partner.version = 3;
    PD_MARK (&partner, partner, version);

    if (strcmp (header->type, "partner.get") == 0) {
        pd_partner_ref_t *ref = request;
        if (strcmp (ref->id, "missing") == 0)
            s_fake_error (status, reply, size, PD_E_NOT_FOUND, "no such partner", "id");
        else {
            partner.id = ref->id;
            s_fake_reply (status, reply, size, &pd_partner_schema, &partner);
        }
    } else if (strcmp (header->type, "partner.list") == 0) {
        pd_partner_list_t *list = request;
        char cursor[128];
        snprintf (cursor, sizeof (cursor), "%lld-%s-%s",
                  PD_HAS (list, partner_list, limit) ? (long long)list->limit : -1LL,
                  list->status ? list->status : "", list->cursor ? list->cursor : "");
        pd_partner_page_t page = {0};
        page.items.size = 1;
        page.items.items = &partner;
        page.next_cursor = cursor;
        s_fake_reply (status, reply, size, &pd_partner_page_schema, &page);
    } else if (strcmp (header->type, "partner.create") == 0) {
        pd_partner_create_t *create = request;
        partner.id = "p-new";
        partner.name = create->name;
        partner.contact_email = create->contact_email;
        s_fake_reply (status, reply, size, &pd_partner_schema, &partner);
    } else if (strcmp (header->type, "partner.me") == 0) {
        //  Tells who the gateway said is calling
        partner.id = header->principal->partner_id;
        if (header->principal->user_id) {
            partner.name = header->principal->user_id;
            partner.contact_name = header->principal->role;
        }
        s_fake_reply (status, reply, size, &pd_partner_schema, &partner);
    } else if (strcmp (header->type, "partner.update") == 0)
        s_fake_error (status, reply, size, PD_E_CONFLICT, "version mismatch", "version");
    else {
        //  regenerate_key: a reply that is no partner record
        static const uint8_t junk[] = {0xC1};
        *reply = malloc (sizeof (junk));
        memcpy (*reply, junk, sizeof (junk));
        *size = sizeof (junk);
    }
    pd_schema_clear (message->request, request);
    free (request);
}

static void
s_fake_broker (zsock_t *pipe, void *args)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    zsock_signal (pipe, 0);
    zsock_send (pipe, "i", port);
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    while (zpoller_wait (poller, -1) == router) {
        zmsg_t *msg = zmsg_recv (router);
        zframe_t *identity = zmsg_pop (msg);
        int command = pd_proto_take_command (msg);
        char *service = zmsg_popstr (msg);
        zframe_t *id = zmsg_pop (msg);
        zframe_t *timeout = zmsg_pop (msg);
        zframe_t *header_frame = zmsg_pop (msg);
        zframe_t *body = zmsg_pop (msg);

        int status = PD_OK;
        uint8_t *reply = NULL;
        size_t size = 0;
        pd_header_t header = {0};
        if (command == PD_PDP_REQUEST && service && strcmp (service, PD_PROTO_SERVICE_PING) == 0) {
            static const uint8_t empty_map[] = {0x80};
            reply = malloc (1);
            memcpy (reply, empty_map, 1);
            size = 1;
        } else if (command != PD_PDP_REQUEST || !body ||
                   pd_schema_decode (&pd_header_schema, zframe_data (header_frame),
                                     zframe_size (header_frame), &header, NULL) ||
                   !header.trace_id || strlen (header.trace_id) != 16 || !header.source)
            s_fake_error (&status, &reply, &size, PD_E_PROTOCOL, "bad request frames", NULL);
        else if (!s_fake_caller (&header, &status, &reply, &size))
            ; //  refused, answered
        else if (strcmp (service, "partners") == 0)
            s_fake_partners (&header, body, &status, &reply, &size);
        else if (strcmp (service, "users") == 0)
            s_fake_users (&header, body, &status, &reply, &size);
        else if (strcmp (service, "oauth") == 0)
            s_fake_oauth (&header, body, &status, &reply, &size);
        else
            status = S_NO_REPLY; //  "stream": let the deadline pass

        if (status != S_NO_REPLY) {
            zmsg_t *out = pd_proto_msg (PD_PDP_REPLY);
            zmsg_prepend (out, &identity);
            zmsg_append (out, &id);
            zmsg_append (out, &(zframe_t *){pd_proto_u16 (pd_status_to_wire (status))});
            zmsg_addmem (out, reply, size);
            zmsg_send (&out, router);
        }
        free (reply);
        pd_schema_clear (&pd_header_schema, &header);
        zstr_free (&service);
        zframe_destroy (&identity);
        zframe_destroy (&id);
        zframe_destroy (&timeout);
        zframe_destroy (&header_frame);
        zframe_destroy (&body);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&router);
}

typedef struct {
    zactor_t *broker;
    pd_gateway_t *gateway;
    int port;
} s_stack_t;

static int
s_stack_setup (void **state)
{
    for (int i = 0; i < S_TOKENS; i++) {
        if (pd_token_parse (s_token_texts[i], NULL, s_tokens[i].id) != PD_OK)
            return -1;
        pd_token_hash (s_token_texts[i], s_tokens[i].hash);
    }
    s_stack_t *stack = calloc (1, sizeof (s_stack_t));
    stack->broker = zactor_new (s_fake_broker, NULL);
    int broker_port = 0;
    zsock_recv (stack->broker, "i", &broker_port);
    char endpoint[64];
    snprintf (endpoint, sizeof (endpoint), "tcp://127.0.0.1:%d", broker_port);
    pd_gateway_config_t config = {.listen = "127.0.0.1:0",
                                  .broker = endpoint,
                                  .threads = 2,
                                  .request_timeout_ms = S_TIMEOUT_MS,
                                  .max_body = S_MAX_BODY,
                                  .cookie_secure = true};
    stack->gateway = pd_gateway_new (&config);
    stack->port = pd_gateway_port (stack->gateway);
    *state = stack;
    return stack->gateway ? 0 : -1;
}

static int
s_stack_teardown (void **state)
{
    s_stack_t *stack = (s_stack_t *)*state;
    pd_gateway_destroy (&stack->gateway);
    zactor_destroy (&stack->broker);
    free (stack);
    return 0;
}

//  One request with extra header lines (each ending in CRLF, or NULL), a
//  key and maybe a JSON body
static char *
s_call_ex (int port, const char *method, const char *target, const char *extra, const char *key,
           const char *body)
{
    char request[4096];
    int len =
        snprintf (request, sizeof (request), "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s",
                  method, target, extra ? extra : "");
    if (key)
        len += snprintf (request + len, sizeof (request) - (size_t)len, "X-API-Key: %s\r\n", key);
    if (body)
        len += snprintf (request + len, sizeof (request) - (size_t)len,
                         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                         strlen (body), body);
    else
        len += snprintf (request + len, sizeof (request) - (size_t)len, "\r\n");
    return s_http (port, request, (size_t)len);
}

static char *
s_call (int port, const char *method, const char *target, const char *key, const char *body)
{
    return s_call_ex (port, method, target, NULL, key, body);
}

static const char *
s_member (json_t *object, const char *name)
{
    return json_string_value (json_object_get (object, name));
}

static void
test_stack_usage (void **state)
{
    int port = ((s_stack_t *)*state)->port;
    char *response = s_call (port, "GET", "/api/partners/p-42", S_ADMIN_KEY, NULL);
    assert_int_equal (s_status (response), 200);
    assert_true (s_has_header (response, "Content-Type: application/json"));
    assert_true (s_has_header (response, "Cache-Control: no-store"));
    json_t *partner = s_body_json (response);
    assert_string_equal (s_member (partner, "id"), "p-42");
    assert_string_equal (s_member (partner, "name"), "Acme");
    assert_int_equal (json_integer_value (json_object_get (partner, "version")), 3);
    //  The trace id the actor got is the one the client got; the source is the client
    char header[64];
    snprintf (header, sizeof (header), "X-Request-Id: %s", s_member (partner, "contact_name"));
    assert_true (s_has_header (response, header));
    assert_string_equal (s_member (partner, "contact_phone"), "127.0.0.1");
    json_decref (partner);
    free (response);

    response = s_call (port, "GET", "/healthz", NULL, NULL);
    assert_int_equal (s_status (response), 200);
    json_t *health = s_body_json (response);
    assert_string_equal (s_member (health, "status"), "ok");
    json_decref (health);
    free (response);
}

static void
test_stack_errors_map (void **state)
{
    int port = ((s_stack_t *)*state)->port;
    char *response = s_call (port, "GET", "/api/partners/missing", S_ADMIN_KEY, NULL);
    s_assert_problem (response, 404, "not_found");
    json_t *problem = s_body_json (response);
    assert_string_equal (s_member (problem, "detail"), "no such partner");
    assert_string_equal (s_member (problem, "field"), "id");
    assert_string_equal (s_member (problem, "instance"), "/api/partners/missing");
    json_decref (problem);
    free (response);

    response = s_call (port, "PUT", "/api/partners/p-1", S_ADMIN_KEY, "{\"name\":\"X\"}");
    s_assert_problem (response, 409, "conflict");
    problem = s_body_json (response);
    assert_string_equal (s_member (problem, "detail"), "version mismatch");
    json_decref (problem);
    free (response);

    //  A reply that is not the reply record
    response = s_call (port, "POST", "/api/partners/p-1/regenerate-key", S_ADMIN_KEY, NULL);
    s_assert_problem (response, 500, "internal_error");
    free (response);

    //  No reply within the deadline
    response = s_call (port, "GET", "/api/admin/streams/audit", S_ADMIN_KEY, NULL);
    s_assert_problem (response, 504, "timeout");
    free (response);
}

static void
test_stack_access (void **state)
{
    int port = ((s_stack_t *)*state)->port;
    char *response = s_call (port, "GET", "/api/partners/p-1", "pd_wrong_key", NULL);
    s_assert_problem (response, 401, "unauthorized");
    free (response);

    response = s_call (port, "GET", "/api/partners/p-1", S_PARTNER_KEY, NULL);
    s_assert_problem (response, 403, "forbidden");
    free (response);

    response = s_call (port, "GET", "/api/partners/me", S_ADMIN_KEY, NULL);
    s_assert_problem (response, 403, "forbidden");
    free (response);

    response = s_call (port, "GET", "/api/partners/me", S_PARTNER_KEY, NULL);
    assert_int_equal (s_status (response), 200);
    json_t *partner = s_body_json (response);
    assert_string_equal (s_member (partner, "id"), "p-7");
    json_decref (partner);
    free (response);
}

static void
test_stack_builds_requests (void **state)
{
    int port = ((s_stack_t *)*state)->port;
    //  Query parameters, decoded as a form
    char *response = s_call (port, "GET", "/api/partners?limit=5&status=active&cursor=c%2D1&&",
                             S_ADMIN_KEY, NULL);
    assert_int_equal (s_status (response), 200);
    json_t *page = s_body_json (response);
    assert_string_equal (s_member (page, "next_cursor"), "5-active-c-1");
    assert_int_equal (json_array_size (json_object_get (page, "items")), 1);
    json_decref (page);
    free (response);

    response = s_call (port, "GET", "/api/partners", S_ADMIN_KEY, NULL);
    page = s_body_json (response);
    assert_string_equal (s_member (page, "next_cursor"), "-1--");
    json_decref (page);
    free (response);

    static const struct {
        const char *target, *code, *field;
    } bad_queries[] = {
        {"/api/partners?limit=0", "invalid_field", "limit"},
        {"/api/partners?limit=ten", "invalid_field", "limit"},
        {"/api/partners?status=gone", "invalid_field", "status"},
        {"/api/partners?bogus=1", "unknown_field", "bogus"},
        {"/api/partners?limit=1&limit=2", "invalid_field", "limit"},
        {"/api/partners?limit=%zz", "invalid_field", "limit"},
        {"/api/partners/p-1?id=p-2", "unknown_field", "id"},
        {"/api/partners/a%20b", "invalid_field", "id"},
    };
    for (size_t i = 0; i < sizeof (bad_queries) / sizeof (bad_queries[0]); i++) {
        response = s_call (port, "GET", bad_queries[i].target, S_ADMIN_KEY, NULL);
        s_assert_problem (response, 400, bad_queries[i].code);
        json_t *problem = s_body_json (response);
        assert_string_equal (s_member (problem, "field"), bad_queries[i].field);
        json_decref (problem);
        free (response);
    }

    //  A JSON body
    response = s_call (port, "POST", "/api/partners", S_ADMIN_KEY,
                       "{\"name\":\"Beta\",\"contact_email\":\"b@beta.example\"}");
    assert_int_equal (s_status (response), 201);
    json_t *partner = s_body_json (response);
    assert_string_equal (s_member (partner, "id"), "p-new");
    assert_string_equal (s_member (partner, "name"), "Beta");
    json_decref (partner);
    free (response);

    static const struct {
        const char *body, *code, *field;
    } bad_bodies[] = {
        {"{", "malformed_body", NULL},
        {"[]", "malformed_body", NULL},
        {"{}", "missing_field", "name"},
        {"{\"name\":\"B\",\"contact_email\":\"b@beta.example\",\"x\":1}", "unknown_field", "x"},
        {"{\"name\":7,\"contact_email\":\"b@beta.example\"}", "invalid_field", "name"},
    };
    for (size_t i = 0; i < sizeof (bad_bodies) / sizeof (bad_bodies[0]); i++) {
        response = s_call (port, "POST", "/api/partners", S_ADMIN_KEY, bad_bodies[i].body);
        s_assert_problem (response, 400, bad_bodies[i].code);
        if (bad_bodies[i].field) {
            json_t *problem = s_body_json (response);
            assert_string_equal (s_member (problem, "field"), bad_bodies[i].field);
            json_decref (problem);
        }
        free (response);
    }
}

//  How many header lines of the response start with `prefix`?
static int
s_header_count (const char *response, const char *prefix)
{
    const char *end = strstr (response, "\r\n\r\n");
    int count = 0;
    for (const char *line = strstr (response, "\r\n"); line && line < end;
         line = strstr (line + 2, "\r\n"))
        count += strncmp (line + 2, prefix, strlen (prefix)) == 0;
    return count;
}

static const char *
s_body (const char *response)
{
    const char *body = strstr (response, "\r\n\r\n");
    assert_non_null (body);
    return body + 4;
}

#define S_COOKIE_LINE "Cookie: theme=dark; __Host-partnerd_session=" S_SESSION "\r\n"

static void
test_stack_sessions (void **state)
{
    int port = ((s_stack_t *)*state)->port;
    //  The session cookie, among others, resolves to the session's user;
    //  a safe method is not unsafe
    char *response = s_call_ex (port, "GET", "/api/partners/me", S_COOKIE_LINE, NULL, NULL);
    assert_int_equal (s_status (response), 200);
    json_t *partner = s_body_json (response);
    assert_string_equal (s_member (partner, "id"), "p-7");
    assert_string_equal (s_member (partner, "name"), "u-1");
    assert_string_equal (s_member (partner, "contact_name"), "partner-user");
    json_decref (partner);
    assert_int_equal (s_header_count (response, "Set-Cookie:"), 0);
    free (response);

    //  From a second Cookie header line too
    response = s_call_ex (port, "GET", "/api/partners/me",
                          "Cookie: theme=dark\r\nCookie: __Host-partnerd_session=" S_SESSION "\r\n",
                          NULL, NULL);
    assert_int_equal (s_status (response), 200);
    free (response);

    //  A key wins over a cookie
    response = s_call_ex (port, "GET", "/api/partners/me", S_COOKIE_LINE, S_PARTNER_KEY, NULL);
    assert_int_equal (s_status (response), 200);
    partner = s_body_json (response);
    assert_string_equal (s_member (partner, "name"), "Acme");
    json_decref (partner);
    free (response);

    //  Sessions the auth service refuses, whatever their shape
    char long_cookie[512];
    snprintf (long_cookie, sizeof (long_cookie), "Cookie: __Host-partnerd_session=%0300d\r\n", 7);
    const char *refused[] = {"Cookie: __Host-partnerd_session=pds_other\r\n", long_cookie,
                             "Cookie: __Host-partnerd_session=\"not a token\"\r\n"};
    for (size_t i = 0; i < sizeof (refused) / sizeof (refused[0]); i++) {
        response = s_call_ex (port, "GET", "/api/partners/me", refused[i], NULL, NULL);
        s_assert_problem (response, 401, "unauthorized");
        json_t *problem = s_body_json (response);
        assert_string_equal (s_member (problem, "detail"), "unknown credential");
        json_decref (problem);
        free (response);
    }

    //  With Secure cookies, only the __Host- name is the session: a cookie a
    //  subdomain or plain-HTTP page could set is none
    response = s_call_ex (port, "GET", "/api/partners/me",
                          "Cookie: partnerd_session=" S_SESSION "\r\n", NULL, NULL);
    s_assert_problem (response, 401, "unauthorized");
    free (response);

    //  A session is a partner: admin routes refuse it
    response = s_call_ex (port, "GET", "/api/partners/p-1", S_COOKIE_LINE, NULL, NULL);
    s_assert_problem (response, 403, "forbidden");
    free (response);

    //  Unsafe methods need the CSRF token
    const char *bad_csrf[] = {S_COOKIE_LINE, S_COOKIE_LINE "X-CSRF-Token: pdc_wrong\r\n",
                              S_COOKIE_LINE "X-CSRF-Token: not a token\r\n",
                              S_COOKIE_LINE "X-CSRF-Token: \r\n"};
    for (size_t i = 0; i < sizeof (bad_csrf) / sizeof (bad_csrf[0]); i++) {
        response = s_call_ex (port, "POST", "/api/partners/auth/logout", bad_csrf[i], NULL, NULL);
        s_assert_problem (response, 403, "forbidden");
        assert_int_equal (s_header_count (response, "Set-Cookie:"), 0);
        free (response);
    }

    //  Logout clears both cookies
    response = s_call_ex (port, "POST", "/api/partners/auth/logout",
                          S_COOKIE_LINE "X-CSRF-Token: " S_CSRF "\r\n", NULL, NULL);
    assert_int_equal (s_status (response), 204);
    assert_true (s_has_header (response, "Set-Cookie: __Host-partnerd_session=; Path=/; HttpOnly; "
                                         "SameSite=Lax; Max-Age=0; Secure"));
    assert_true (s_has_header (
        response, "Set-Cookie: __Host-partnerd_csrf=; Path=/; SameSite=Lax; Max-Age=0; Secure"));
    assert_string_equal (s_body (response), "");
    free (response);
}

static void
test_stack_session_cookies (void **state)
{
    int port = ((s_stack_t *)*state)->port;
    char *response =
        s_call (port, "POST", "/api/partners/auth/magic", NULL, "{\"token\":\"good\"}");
    assert_int_equal (s_status (response), 200);
    assert_true (s_has_header (response, "Set-Cookie: __Host-partnerd_session=" S_SESSION
                                         "; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600; Secure"));
    assert_true (s_has_header (response, "Set-Cookie: __Host-partnerd_csrf=" S_CSRF
                                         "; Path=/; SameSite=Lax; Max-Age=3600; Secure"));
    assert_int_equal (s_header_count (response, "Set-Cookie:"), 2);
    assert_int_equal (s_header_count (response, "Location:"), 0);
    //  The session token is in the cookie only
    assert_null (strstr (s_body (response), S_SESSION));
    json_t *session = s_body_json (response);
    assert_string_equal (s_member (session, "csrf_token"), S_CSRF);
    assert_null (json_object_get (session, "session_token"));
    assert_string_equal (s_member (json_object_get (session, "user"), "id"), "u-1");
    json_decref (session);
    free (response);

    //  No session, no cookie
    response = s_call (port, "POST", "/api/partners/auth/magic", NULL, "{\"token\":\"bad\"}");
    s_assert_problem (response, 401, "unauthorized");
    assert_int_equal (s_header_count (response, "Set-Cookie:"), 0);
    free (response);

    //  The wait an actor asks for is the Retry-After
    response = s_call (port, "POST", "/api/partners/auth/magic", NULL, "{\"token\":\"limited\"}");
    s_assert_problem (response, 429, "rate_limited");
    assert_true (s_has_header (response, "Retry-After: 30"));
    assert_int_equal (s_header_count (response, "Retry-After:"), 1);
    free (response);
    response = s_call (port, "GET", "/api/partners", S_LIMITED_KEY, NULL);
    s_assert_problem (response, 429, "rate_limited");
    assert_true (s_has_header (response, "Retry-After: 42"));
    free (response);
}

static void
test_stack_redirects (void **state)
{
    int port = ((s_stack_t *)*state)->port;
    char *response = s_call (port, "GET", "/api/partner-auth/google", NULL, NULL);
    assert_int_equal (s_status (response), 302);
    assert_true (
        s_has_header (response, "Location: https://idp.example/authorize?state=st1&x=%20y"));
    assert_true (s_has_header (response, "Content-Length: 0"));
    assert_int_equal (s_header_count (response, "Content-Type:"), 0);
    assert_int_equal (s_header_count (response, "Set-Cookie:"), 0);
    assert_string_equal (s_body (response), "");
    free (response);

    //  A sign-in that lands on the dashboard: cookies and See Other
    response = s_call (port, "GET", "/api/partner-auth/callback?code=c1&state=go", NULL, NULL);
    assert_int_equal (s_status (response), 303);
    assert_true (s_has_header (response, "Location: http://127.0.0.1:9/partner/dashboard"));
    assert_true (s_has_header (response, "Set-Cookie: __Host-partnerd_session=" S_SESSION
                                         "; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"));
    assert_true (s_has_header (response, "Set-Cookie: __Host-partnerd_csrf=" S_CSRF
                                         "; Path=/; SameSite=Lax; Max-Age=60; Secure"));
    assert_true (s_has_header (response, "Content-Length: 0"));
    assert_string_equal (s_body (response), "");
    free (response);

    //  No location: the reply as JSON, 200
    response = s_call (port, "GET", "/api/partner-auth/callback?code=c1&state=stay", NULL, NULL);
    assert_int_equal (s_status (response), 200);
    assert_int_equal (s_header_count (response, "Location:"), 0);
    //  Only the sign-in's browser binding is expired
    assert_int_equal (s_header_count (response, "Set-Cookie:"), 1);
    assert_true (s_has_header (
        response,
        "Set-Cookie: __Host-partnerd_oauth=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure"));
    json_t *session = s_body_json (response);
    assert_string_equal (s_member (session, "status"), "pending");
    json_decref (session);
    free (response);

    //  Rate limited without a wait named: 1 s
    response = s_call (port, "GET", "/api/partner-auth/callback?code=c1&state=limited", NULL, NULL);
    s_assert_problem (response, 429, "rate_limited");
    assert_true (s_has_header (response, "Retry-After: 1"));
    free (response);
}

static void
test_gateway_refuses_bad_config (void **state)
{
    pd_gateway_config_t config = {.listen = "127.0.0.1:0", .cookie_secure = true};
    assert_null (pd_gateway_new (&config));
    config.broker = S_NO_BROKER;
    config.listen = "256.1.1.1:x";
    assert_null (pd_gateway_new (&config));
    pd_gateway_t *gateway = NULL;
    pd_gateway_destroy (&gateway);
    assert_int_equal (pd_gateway_port (NULL), -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_gateway_errors, s_gateway_setup, s_gateway_teardown),
        cmocka_unit_test_setup_teardown (test_gateway_keep_alive, s_gateway_setup,
                                         s_gateway_teardown),
        cmocka_unit_test_setup_teardown (test_gateway_openapi, s_gateway_setup, s_gateway_teardown),
        cmocka_unit_test_setup_teardown (test_stack_usage, s_stack_setup, s_stack_teardown),
        cmocka_unit_test_setup_teardown (test_stack_errors_map, s_stack_setup, s_stack_teardown),
        cmocka_unit_test_setup_teardown (test_stack_access, s_stack_setup, s_stack_teardown),
        cmocka_unit_test_setup_teardown (test_stack_builds_requests, s_stack_setup,
                                         s_stack_teardown),
        cmocka_unit_test_setup_teardown (test_stack_sessions, s_stack_setup, s_stack_teardown),
        cmocka_unit_test_setup_teardown (test_stack_session_cookies, s_stack_setup,
                                         s_stack_teardown),
        cmocka_unit_test_setup_teardown (test_stack_redirects, s_stack_setup, s_stack_teardown),
        cmocka_unit_test (test_gateway_refuses_bad_config),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
