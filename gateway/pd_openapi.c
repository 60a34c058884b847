/*  pd_openapi - the API description, generated (see pd_openapi.h) */
#include "pd_openapi.h"

#include <ctype.h>
#include <jansson.h>
#include <string.h>

#include "pd_gateway.h"
#include "pd_messages.h"
#include "pd_routes.h"

#define S_HTTP_NO_CONTENT 204
#define S_JSON_TYPE       "application/json"
#define S_PROBLEM_TYPE    "application/problem+json"
#define S_API_KEY_HEADER  "X-API-Key"
#define S_TOKEN_PATTERN   "^[A-Za-z0-9_.:-]+$"
#define S_COLOR_PATTERN   "^#([0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})$"
#define S_REF_PREFIX      "#/components/schemas/"

//  ------------------------------------------------------------------------
//  The API description (OpenAPI 3.0), generated once from routes + schemas

static json_t *s_openapi_ref (const pd_schema_t *schema, json_t *components);
static json_t *s_openapi_security (pd_access_t access);

static json_t *
s_openapi_enum (const char *choices)
{
    json_t *values = json_array ();
    while (choices && *choices) {
        size_t len = strcspn (choices, "|");
        json_array_append_new (values, json_stringn (choices, len));
        choices += choices[len] ? len + 1 : len;
    }
    return values;
}

//  Base64 length of n bytes
static json_int_t
s_base64_len (int64_t bytes)
{
    return (json_int_t)(4 * ((bytes + 2) / 3));
}

static json_t *
s_openapi_field (const pd_field_t *field, json_t *components)
{
    json_t *schema = NULL;
    switch (field->type) {
    case PD_T_STR:
        if (field->format == PD_FMT_JSON) {
            //  Text or an object, kept as given (its compact JSON within maxLength bytes)
            schema = json_pack ("{s:[{s:s},{s:s}], s:s}", "oneOf", "type", "string", "type",
                                "object", "description", "text, or a JSON object");
            break;
        }
        schema = json_pack ("{s:s}", "type", "string");
        if (field->min > 0)
            json_object_set_new (schema, "minLength", json_integer (field->min));
        if (field->max > 0)
            json_object_set_new (schema, "maxLength", json_integer (field->max));
        if (field->format == PD_FMT_EMAIL)
            json_object_set_new (schema, "format", json_string ("email"));
        else if (field->format == PD_FMT_URL)
            json_object_set_new (schema, "format", json_string ("uri"));
        else if (field->format == PD_FMT_TOKEN)
            json_object_set_new (schema, "pattern", json_string (S_TOKEN_PATTERN));
        else if (field->format == PD_FMT_COLOR)
            json_object_set_new (schema, "pattern", json_string (S_COLOR_PATTERN));
        else if (field->format == PD_FMT_ENUM)
            json_object_set_new (schema, "enum", s_openapi_enum (field->choices));
        break;
    case PD_T_INT:
        schema = json_pack ("{s:s, s:s}", "type", "integer", "format", "int64");
        if (field->min > INT64_MIN)
            json_object_set_new (schema, "minimum", json_integer (field->min));
        if (field->max < INT64_MAX)
            json_object_set_new (schema, "maximum", json_integer (field->max));
        break;
    case PD_T_BOOL:
        schema = json_pack ("{s:s}", "type", "boolean");
        break;
    case PD_T_BIN:
        schema = json_pack ("{s:s, s:s}", "type", "string", "format", "byte");
        if (field->min > 0)
            json_object_set_new (schema, "minLength", json_integer (s_base64_len (field->min)));
        if (field->max > 0)
            json_object_set_new (schema, "maxLength", json_integer (s_base64_len (field->max)));
        break;
    case PD_T_OBJ:
        schema = s_openapi_ref (field->sub, components);
        if (field->flags & PD_F_SERVER) //  siblings of $ref are ignored in 3.0
            schema = json_pack ("{s:[o], s:b}", "allOf", schema, "readOnly", 1);
        return schema;
    case PD_T_LIST:
        schema = json_pack ("{s:s, s:o}", "type", "array", "items",
                            s_openapi_ref (field->sub, components));
        if (field->max > 0)
            json_object_set_new (schema, "maxItems", json_integer (field->max));
        break;
    }
    if (field->flags & PD_F_SERVER)
        json_object_set_new (schema, "readOnly", json_true ());
    return schema;
}

//  An object schema for a record. `input`: as a request body (server-owned
//  fields left out, unknown fields refused); else as a reply (server-owned
//  fields readOnly). Fields named in `skip` (path parameters) left out.
//  Secret fields never appear.
static json_t *
s_openapi_object (const pd_schema_t *schema, bool input, const pd_route_params_t *skip,
                  json_t *components)
{
    json_t *properties = json_object ();
    json_t *required = json_array ();
    for (size_t i = 0; i < schema->field_count; i++) {
        const pd_field_t *field = &schema->fields[i];
        if ((field->flags & PD_F_SECRET) || (input && (field->flags & PD_F_SERVER)) ||
            (skip && pd_route_params_has (skip, field->name)))
            continue;
        json_object_set_new (properties, field->name, s_openapi_field (field, components));
        if (field->flags & PD_F_REQUIRED)
            json_array_append_new (required, json_string (field->name));
    }
    json_t *object = json_pack ("{s:s, s:o}", "type", "object", "properties", properties);
    if (json_array_size (required))
        json_object_set (object, "required", required);
    json_decref (required);
    if (input)
        json_object_set_new (object, "additionalProperties", json_false ());
    return object;
}

//  {"$ref": ...} to a record's reply form in components, added if new
static json_t *
s_openapi_ref (const pd_schema_t *schema, json_t *components)
{
    json_t *schemas = json_object_get (components, "schemas");
    if (!json_object_get (schemas, schema->name)) {
        //  A placeholder first, so that a record naming itself terminates
        json_object_set_new (schemas, schema->name, json_object ());
        json_object_set_new (schemas, schema->name,
                             s_openapi_object (schema, false, NULL, components));
    }
    char ref[128];
    snprintf (ref, sizeof (ref), S_REF_PREFIX "%s", schema->name);
    return json_pack ("{s:s}", "$ref", ref);
}

static json_t *
s_openapi_parameters (const pd_route_t *route, const pd_message_t *message,
                      const pd_route_params_t *params, json_t *components)
{
    json_t *parameters = json_array ();
    for (size_t i = 0; i < params->count; i++) {
        const pd_field_t *field = pd_schema_field (message->request, params->names[i], NULL);
        json_array_append_new (
            parameters, json_pack ("{s:s, s:s, s:b, s:o}", "name", params->names[i], "in", "path",
                                   "required", 1, "schema", s_openapi_field (field, components)));
    }
    if (pd_routes_method_has_body (route->method))
        return parameters;
    for (size_t i = 0; i < message->request->field_count; i++) {
        const pd_field_t *field = &message->request->fields[i];
        if ((field->flags & (PD_F_SERVER | PD_F_SECRET)) || !pd_routes_scalar_field (field) ||
            pd_route_params_has (params, field->name))
            continue;
        json_array_append_new (
            parameters, json_pack ("{s:s, s:s, s:b, s:o}", "name", field->name, "in", "query",
                                   "required", (field->flags & PD_F_REQUIRED) ? 1 : 0, "schema",
                                   s_openapi_field (field, components)));
    }
    return parameters;
}

static json_t *
s_openapi_operation (const pd_route_t *route, json_t *components)
{
    const pd_message_t *message = pd_message_find (route->type);
    pd_route_params_t params;
    pd_route_param_names (route, &params);

    json_t *operation =
        json_pack ("{s:s, s:[s], s:o}", "operationId", route->type, "tags", message->service,
                   "parameters", s_openapi_parameters (route, message, &params, components));
    if (pd_routes_method_has_body (route->method)) {
        json_t *body = s_openapi_object (message->request, true, &params, components);
        bool required = json_array_size (json_object_get (body, "required")) > 0;
        json_object_set_new (operation, "requestBody",
                             json_pack ("{s:b, s:{s:{s:o}}}", "required", required, "content",
                                        S_JSON_TYPE, "schema", body));
    }

    char success[8];
    snprintf (success, sizeof (success), "%d", route->success);
    json_t *ok = json_pack ("{s:s}", "description", "Success");
    if (route->success != S_HTTP_NO_CONTENT)
        json_object_set_new (ok, "content",
                             json_pack ("{s:{s:o}}", S_JSON_TYPE, "schema",
                                        s_openapi_ref (message->reply, components)));
    json_t *responses = json_object ();
    json_object_set_new (responses, success, ok);
    json_object_set_new (responses, "default",
                         json_pack ("{s:s, s:{s:{s:{s:s}}}}", "description",
                                    "Error (RFC 9457 problem; `code` is stable)", "content",
                                    S_PROBLEM_TYPE, "schema", "$ref", S_REF_PREFIX "problem"));
    json_object_set_new (operation, "responses", responses);
    json_object_set_new (operation, "security", s_openapi_security (route->access));
    return operation;
}

//  Who may call: an API key; partners also with their session cookie
//  (with X-CSRF-Token on unsafe methods)
static json_t *
s_openapi_security (pd_access_t access)
{
    if (access == PD_ACCESS_PUBLIC)
        return json_array ();
    if (access == PD_ACCESS_PARTNER || access == PD_ACCESS_ANY)
        return json_pack ("[{s:[]}, {s:[]}]", "ApiKey", "SessionCookie");
    return json_pack ("[{s:[]}]", "ApiKey");
}

//  The problem+json body (step 7 of pd_gateway.h's contract)
static json_t *
s_openapi_problem (void)
{
    return json_pack ("{s:s, s:[s,s,s,s], s:{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, "
                      "s:{s:s}, s:{s:s}, s:{s:s}}}",
                      "type", "object", "required", "type", "title", "status", "code", "properties",
                      "type", "type", "string", "title", "type", "string", "status", "type",
                      "integer", "detail", "type", "string", "code", "type", "string", "field",
                      "type", "string", "instance", "type", "string", "trace_id", "type", "string");
}

char *
pd_openapi_new (const char *session_cookie, const char *csrf_cookie, size_t *size)
{
    char csrf_note[256];
    snprintf (csrf_note, sizeof (csrf_note),
              "A partner user's session (sign-in by magic link or OAuth); unsafe methods also "
              "need the X-CSRF-Token header with the %s cookie's value",
              csrf_cookie);
    json_t *components =
        json_pack ("{s:{s:o}, s:{s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s, s:s}}}", "schemas", "problem",
                   s_openapi_problem (), "securitySchemes", "ApiKey", "type", "apiKey", "in",
                   "header", "name", S_API_KEY_HEADER, "SessionCookie", "type", "apiKey", "in",
                   "cookie", "name", session_cookie, "description", csrf_note);
    json_t *paths = json_object ();
    for (size_t i = 0; i < pd_routes_size; i++) {
        const pd_route_t *route = &pd_routes[i];
        json_t *item = json_object_get (paths, route->path);
        if (!item) {
            item = json_object ();
            json_object_set_new (paths, route->path, item);
        }
        char method[8];
        size_t len = 0;
        for (; route->method[len] && len < sizeof (method) - 1; len++)
            method[len] = (char)tolower ((unsigned char)route->method[len]);
        method[len] = '\0';
        json_object_set_new (item, method, s_openapi_operation (route, components));
    }
    json_t *document = json_pack ("{s:s, s:{s:s, s:s}, s:o, s:o}", "openapi", "3.0.3", "info",
                                  "title", "partnerd API", "version", PD_GATEWAY_API_VERSION,
                                  "paths", paths, "components", components);
    char *text = document ? json_dumps (document, JSON_INDENT (1)) : NULL;
    json_decref (document);
    *size = text ? strlen (text) : 0;
    return text;
}
