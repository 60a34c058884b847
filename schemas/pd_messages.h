/*  pd_messages - every message and stored record of partnerd, declared once

    Each record is an X-macro field list PD_FIELDS_<name> (R, STR, INT, BOOL,
    BIN, OBJ, LIST). R is the record's own name, passed through so that the
    expansions can build offsetof() and field-index names. The field macros:

        STR  (R, name, flags, min_len, max_len, format, choices)
        INT  (R, name, flags, min, max)
        BOOL (R, name, flags)
        BIN  (R, name, flags, min_size, max_size)
        OBJ  (R, name, flags, sub_record)
        LIST (R, name, flags, sub_record, max_items)

    From these lists this header derives, for each record X:
        pd_X_t             the C struct (first member `uint64_t present`)
        pd_X_schema        its pd_schema_t field table (pd_messages.c)
        PD_FIELD_X_name    the field's index, for PD_MARK / PD_HAS

    PD_MESSAGE_TYPES lists every request type: its service, its request
    record and its reply record. The gateway's routes and the actors'
    handler tables name a type; the schemas come from here.

    PD_STORE_TABLES lists the store's tables.

    Conventions of the records: ids are opaque tokens; times are integers,
    milliseconds since the Unix epoch (UTC); `version` is the store's record
    version, usable for optimistic concurrency.
*/
#ifndef PD_MESSAGES_H_INCLUDED
#define PD_MESSAGES_H_INCLUDED

#include "pd_schema.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Lengths that buffers are sized by (char id[PD_ID_MAX + 1]): the fields
//  below are declared with them, so a buffer cannot drift from its field
#define PD_ID_MAX    64   //  ids (record ids, partner_id, ...)
#define PD_EMAIL_MAX 254  //  emails (RFC 5321's path limit)
#define PD_URL_MAX   2048 //  URLs

//  ------------------------------------------------------------------------
//  Protocol-level records

//  Error body of every failed reply (broker, actor, gateway)
#define PD_FIELDS_error(R, STR, INT, BOOL, BIN, OBJ, LIST)                                         \
    STR (R, code, PD_F_REQUIRED, 1, 64, PD_FMT_TOKEN, NULL)                                        \
    STR (R, detail, 0, 0, 512, PD_FMT_TEXT, NULL)                                                  \
    STR (R, field, 0, 0, 96, PD_FMT_TEXT, NULL)                                                    \
    INT (R, retry_after, 0, 0, 86400) /* seconds, with rate_limited */

//  Who is calling. Set by the gateway after the auth actor resolved the
//  caller; actors trust it and still check ownership themselves.
//  A partner acts through an API key (key_id set) or a user's session
//  (user_id, role and session_id set).
#define PD_PRINCIPAL_KINDS "public|admin|partner|appliance"
#define PD_USER_ROLES      "partner-admin|partner-user"
#define PD_FIELDS_principal(R, STR, INT, BOOL, BIN, OBJ, LIST)                                     \
    STR (R, kind, PD_F_REQUIRED, 1, 16, PD_FMT_ENUM, PD_PRINCIPAL_KINDS)                           \
    STR (R, partner_id, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                       \
    STR (R, key_id, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                           \
    STR (R, user_id, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                          \
    STR (R, role, 0, 0, 16, PD_FMT_ENUM, PD_USER_ROLES)                                            \
    STR (R, session_id, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                       \
    STR (R, appliance_id, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                     \
    STR (R, appliance_key, 0, 0, 40, PD_FMT_TEXT, NULL)

//  A credential the caller presented, as the gateway passes it on: never
//  the secret, only the token's public id and its SHA-256 (pd_token). The
//  actor runtime resolves it into the principal before the handler runs.
//  kind "key": an X-API-Key (admin, partner or appliance token); "session":
//  the session cookie, with the hash of the X-CSRF-Token header if sent and
//  whether the method is unsafe (needs it). No id: the text was no token.
#define PD_CREDENTIAL_KINDS "key|session"
#define PD_FIELDS_credential(R, STR, INT, BOOL, BIN, OBJ, LIST)                                    \
    STR (R, kind, PD_F_REQUIRED, 1, 16, PD_FMT_ENUM, PD_CREDENTIAL_KINDS)                          \
    STR (R, id, 0, 1, 32, PD_FMT_TOKEN, NULL)                                                      \
    BIN (R, hash, PD_F_SECRET, 32, 32)                                                             \
    BIN (R, csrf_hash, PD_F_SECRET, 32, 32)                                                        \
    BOOL (R, unsafe, 0)

//  Who may call (the route's access): the runtime refuses other principals
//  PD_E_FORBIDDEN before the handler runs. "any" is admin or partner.
#define PD_ACCESS_KINDS "public|admin|partner|any|appliance"

//  The request envelope header (frame "header" of a REQUEST, PROTOCOL.md).
//  A trusted client (gateway, front) sets `principal`, or `credential` for
//  the runtime to resolve (then `principal` is ignored).
#define PD_FIELDS_header(R, STR, INT, BOOL, BIN, OBJ, LIST)                                        \
    STR (R, type, PD_F_REQUIRED, 1, 64, PD_FMT_TOKEN, NULL)                                        \
    OBJ (R, principal, 0, principal)                                                               \
    STR (R, trace_id, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                         \
    STR (R, source, 0, 0, 64, PD_FMT_TEXT, NULL)                                                   \
    OBJ (R, credential, 0, credential)                                                             \
    STR (R, access, 0, 0, 16, PD_FMT_ENUM, PD_ACCESS_KINDS)

//  A request with no fields
#define PD_FIELDS_empty(R, STR, INT, BOOL, BIN, OBJ, LIST)

//  ------------------------------------------------------------------------
//  Partners (seed: Admin Endpoints, GET /api/partners/me)

#define PD_FIELDS_branding(R, STR, INT, BOOL, BIN, OBJ, LIST)                                      \
    STR (R, display_name, 0, 0, 200, PD_FMT_TEXT, NULL)                                            \
    STR (R, logo_url, 0, 0, PD_URL_MAX, PD_FMT_URL, NULL)                                          \
    STR (R, primary_color, 0, 0, 7, PD_FMT_COLOR, NULL)                                            \
    STR (R, support_email, 0, 0, PD_EMAIL_MAX, PD_FMT_EMAIL, NULL)                                 \
    STR (R, support_phone, 0, 0, 40, PD_FMT_TEXT, NULL)

#define PD_PARTNER_STATUSES              "active|suspended|pending|rejected"
#define PD_OAUTH_PROVIDERS               "google|microsoft"
#define PD_PARTNER_DEFAULT_REVENUE_SHARE 40

//  The fields a platform admin sets; REQ is PD_F_REQUIRED or 0
#define PD_FIELDS_partner_input(R, STR, INT, BOOL, BIN, OBJ, LIST, REQ)                            \
    STR (R, name, REQ, 1, 200, PD_FMT_TEXT, NULL)                                                  \
    STR (R, contact_name, 0, 0, 200, PD_FMT_TEXT, NULL)                                            \
    STR (R, contact_email, REQ, 3, PD_EMAIL_MAX, PD_FMT_EMAIL, NULL)                               \
    STR (R, contact_phone, 0, 0, 40, PD_FMT_TEXT, NULL)                                            \
    OBJ (R, branding, 0, branding)                                                                 \
    INT (R, revenue_share_percent, 0, 0, 100)                                                      \
    STR (R, status, 0, 0, 16, PD_FMT_ENUM, PD_PARTNER_STATUSES)

//  Fields the server owns: shown in replies, ignored when a client sends
//  them (a client may PUT back what it got from a GET)
#define PD_FIELDS_partner_owned(R, STR, INT, BOOL, BIN, OBJ, LIST)                                 \
    STR (R, api_key_prefix, PD_F_SERVER, 0, 32, PD_FMT_TOKEN, NULL)                                \
    STR (R, api_key, PD_F_SERVER, 0, 128, PD_FMT_TOKEN, NULL)                                      \
    INT (R, created_at, PD_F_SERVER, 0, INT64_MAX)                                                 \
    INT (R, updated_at, PD_F_SERVER, 0, INT64_MAX)                                                 \
    STR (R, signup_provider, PD_F_SERVER, 0, 16, PD_FMT_ENUM, PD_OAUTH_PROVIDERS)                  \
    STR (R, org_id, PD_F_SERVER, 0, 128, PD_FMT_TOKEN, NULL)

//  Stored record (table "partners", key = id) and reply of partner.*
//  api_key is set only in the replies of create and regenerate_key: the
//  one time the key is shown. It is never stored.
#define PD_FIELDS_partner(R, STR, INT, BOOL, BIN, OBJ, LIST)                                       \
    STR (R, id, PD_F_SERVER | PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                     \
    PD_FIELDS_partner_input (R, STR, INT, BOOL, BIN, OBJ, LIST, PD_F_REQUIRED)                     \
        PD_FIELDS_partner_owned (R, STR, INT, BOOL, BIN, OBJ, LIST)                                \
            INT (R, version, PD_F_SERVER, 0, INT64_MAX)

#define PD_FIELDS_partner_create(R, STR, INT, BOOL, BIN, OBJ, LIST)                                \
    STR (R, id, PD_F_SERVER, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                     \
    PD_FIELDS_partner_input (R, STR, INT, BOOL, BIN, OBJ, LIST, PD_F_REQUIRED)                     \
        PD_FIELDS_partner_owned (R, STR, INT, BOOL, BIN, OBJ, LIST)                                \
            INT (R, version, PD_F_SERVER, 0, INT64_MAX)

//  PUT /api/partners/{id}: partial update; `version`, if given, must match
//  the stored version (else conflict)
#define PD_FIELDS_partner_update(R, STR, INT, BOOL, BIN, OBJ, LIST)                                \
    STR (R, id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                   \
    INT (R, version, 0, 1, INT64_MAX)                                                              \
    PD_FIELDS_partner_input (R, STR, INT, BOOL, BIN, OBJ, LIST, 0)                                 \
        PD_FIELDS_partner_owned (R, STR, INT, BOOL, BIN, OBJ, LIST)

#define PD_FIELDS_partner_ref(R, STR, INT, BOOL, BIN, OBJ, LIST)                                   \
    STR (R, id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)

#define PD_PAGE_LIMIT_DEFAULT 50
#define PD_PAGE_LIMIT_MAX     200

#define PD_FIELDS_partner_list(R, STR, INT, BOOL, BIN, OBJ, LIST)                                  \
    INT (R, limit, 0, 1, PD_PAGE_LIMIT_MAX)                                                        \
    STR (R, cursor, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                           \
    STR (R, status, 0, 0, 16, PD_FMT_ENUM, PD_PARTNER_STATUSES)

#define PD_FIELDS_partner_page(R, STR, INT, BOOL, BIN, OBJ, LIST)                                  \
    LIST (R, items, 0, partner, PD_PAGE_LIMIT_MAX)                                                 \
    STR (R, next_cursor, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)

//  ------------------------------------------------------------------------
//  API keys and authentication

#define PD_APIKEY_KINDS "admin|partner"

//  Stored record (table "apikeys", key = id, the key's public prefix)
#define PD_FIELDS_apikey(R, STR, INT, BOOL, BIN, OBJ, LIST)                                        \
    STR (R, id, PD_F_REQUIRED, 1, 32, PD_FMT_TOKEN, NULL)                                          \
    BIN (R, hash, PD_F_REQUIRED | PD_F_SECRET, 32, 32)                                             \
    STR (R, kind, PD_F_REQUIRED, 1, 16, PD_FMT_ENUM, PD_APIKEY_KINDS)                              \
    STR (R, partner_id, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                       \
    INT (R, created_at, 0, 0, INT64_MAX)

//  ------------------------------------------------------------------------
//  Partner users, magic links, sessions (seed: Authentication)

#define PD_USER_STATUSES "active|disabled"

//  Stored record (table "users", key = id) and reply of user.*
#define PD_FIELDS_user(R, STR, INT, BOOL, BIN, OBJ, LIST)                                          \
    STR (R, id, PD_F_SERVER | PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                     \
    STR (R, partner_id, PD_F_SERVER | PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)             \
    STR (R, email, PD_F_REQUIRED, 3, PD_EMAIL_MAX, PD_FMT_EMAIL, NULL)                             \
    STR (R, name, 0, 0, 200, PD_FMT_TEXT, NULL)                                                    \
    STR (R, role, PD_F_REQUIRED, 1, 16, PD_FMT_ENUM, PD_USER_ROLES)                                \
    STR (R, status, PD_F_SERVER, 0, 16, PD_FMT_ENUM, PD_USER_STATUSES)                             \
    STR (R, provider, PD_F_SERVER, 0, 16, PD_FMT_TOKEN, NULL)                                      \
    INT (R, created_at, PD_F_SERVER, 0, INT64_MAX)                                                 \
    INT (R, updated_at, PD_F_SERVER, 0, INT64_MAX)                                                 \
    INT (R, last_login_at, PD_F_SERVER, 0, INT64_MAX)                                              \
    INT (R, version, PD_F_SERVER, 0, INT64_MAX)

//  POST /api/partners/{partner_id}/users (role defaults to partner-user)
#define PD_FIELDS_user_create(R, STR, INT, BOOL, BIN, OBJ, LIST)                                   \
    STR (R, partner_id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                           \
    STR (R, email, PD_F_REQUIRED, 3, PD_EMAIL_MAX, PD_FMT_EMAIL, NULL)                             \
    STR (R, name, 0, 0, 200, PD_FMT_TEXT, NULL)                                                    \
    STR (R, role, 0, 1, 16, PD_FMT_ENUM, PD_USER_ROLES)

#define PD_FIELDS_user_ref(R, STR, INT, BOOL, BIN, OBJ, LIST)                                      \
    STR (R, partner_id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                           \
    STR (R, user_id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)

#define PD_FIELDS_user_list(R, STR, INT, BOOL, BIN, OBJ, LIST)                                     \
    STR (R, partner_id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                           \
    INT (R, limit, 0, 1, PD_PAGE_LIMIT_MAX)                                                        \
    STR (R, cursor, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)

#define PD_FIELDS_user_page(R, STR, INT, BOOL, BIN, OBJ, LIST)                                     \
    LIST (R, items, 0, user, PD_PAGE_LIMIT_MAX)                                                    \
    STR (R, next_cursor, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)

//  Reply of magic.create: the one-time link (built from the configured
//  public_url, never from the request) and when it expires. The token is
//  in the link only.
#define PD_FIELDS_magic_link(R, STR, INT, BOOL, BIN, OBJ, LIST)                                    \
    STR (R, url, PD_F_REQUIRED, 1, PD_URL_MAX, PD_FMT_URL, NULL)                                   \
    STR (R, user_id, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                          \
    INT (R, expires_at, 0, 0, INT64_MAX)

//  Stored (table "magic_links", key = token id): the hash only
#define PD_FIELDS_magic_record(R, STR, INT, BOOL, BIN, OBJ, LIST)                                  \
    STR (R, id, PD_F_REQUIRED, 1, 32, PD_FMT_TOKEN, NULL)                                          \
    BIN (R, hash, PD_F_REQUIRED | PD_F_SECRET, 32, 32)                                             \
    STR (R, user_id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                              \
    STR (R, partner_id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                           \
    INT (R, created_at, 0, 0, INT64_MAX)                                                           \
    INT (R, expires_at, 0, 0, INT64_MAX)

//  POST /api/partners/auth/magic
#define PD_FIELDS_magic_exchange(R, STR, INT, BOOL, BIN, OBJ, LIST)                                \
    STR (R, token, PD_F_REQUIRED, 1, 128, PD_FMT_TOKEN, NULL)

//  Reply of everything that signs a user in. The gateway turns
//  session_token into the HttpOnly session cookie (never in a body:
//  PD_F_SECRET) and csrf_token into the readable CSRF cookie; `location`,
//  when set, makes the answer a redirect (303 See Other).
#define PD_FIELDS_session(R, STR, INT, BOOL, BIN, OBJ, LIST)                                       \
    STR (R, session_token, PD_F_SECRET, 0, 128, PD_FMT_TOKEN, NULL)                                \
    STR (R, csrf_token, 0, 0, 128, PD_FMT_TOKEN, NULL)                                             \
    INT (R, expires_at, 0, 0, INT64_MAX)                                                           \
    STR (R, partner_id, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                       \
    STR (R, status, 0, 0, 16, PD_FMT_ENUM, PD_PARTNER_STATUSES)                                    \
    OBJ (R, user, 0, user)                                                                         \
    STR (R, location, 0, 0, 4096, PD_FMT_TEXT, NULL)

//  Stored (table "sessions", key = session id): hashes only
#define PD_FIELDS_session_record(R, STR, INT, BOOL, BIN, OBJ, LIST)                                \
    STR (R, id, PD_F_REQUIRED, 1, 32, PD_FMT_TOKEN, NULL)                                          \
    BIN (R, hash, PD_F_REQUIRED | PD_F_SECRET, 32, 32)                                             \
    BIN (R, csrf_hash, PD_F_REQUIRED | PD_F_SECRET, 32, 32)                                        \
    STR (R, user_id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                              \
    STR (R, partner_id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                           \
    STR (R, role, PD_F_REQUIRED, 1, 16, PD_FMT_ENUM, PD_USER_ROLES)                                \
    INT (R, created_at, 0, 0, INT64_MAX)                                                           \
    INT (R, expires_at, 0, 0, INT64_MAX)

//  ------------------------------------------------------------------------
//  OAuth / OpenID Connect sign-in, admin approval

#define PD_FIELDS_oauth_provider(R, STR, INT, BOOL, BIN, OBJ, LIST)                                \
    STR (R, name, PD_F_REQUIRED, 1, 16, PD_FMT_ENUM, PD_OAUTH_PROVIDERS)                           \
    STR (R, display_name, 0, 0, 64, PD_FMT_TEXT, NULL)                                             \
    STR (R, start_url, 0, 0, 2048, PD_FMT_TEXT, NULL)

#define PD_FIELDS_oauth_providers(R, STR, INT, BOOL, BIN, OBJ, LIST)                               \
    LIST (R, items, 0, oauth_provider, 8)

//  GET /api/partner-auth/{provider}
#define PD_FIELDS_oauth_start(R, STR, INT, BOOL, BIN, OBJ, LIST)                                   \
    STR (R, provider, PD_F_REQUIRED, 1, 16, PD_FMT_ENUM, PD_OAUTH_PROVIDERS)

//  A redirect answer (302 Found, Location)
//  `binding` (oauth.start) is the random value the gateway puts in the
//  browser's HttpOnly partnerd_oauth cookie: the callback must come back
//  with it, so a sign-in cannot be finished in another browser (RFC 9700
//  4.7, login CSRF). Never in a body (PD_F_SECRET).
#define PD_FIELDS_redirect(R, STR, INT, BOOL, BIN, OBJ, LIST)                                      \
    STR (R, location, PD_F_REQUIRED, 1, 4096, PD_FMT_TEXT, NULL)                                   \
    STR (R, binding, PD_F_SECRET, 0, 128, PD_FMT_TOKEN, NULL)

//  GET /api/partner-auth/callback?code=..&state=.. (or error=..); the other
//  fields are what Google and Microsoft add to the callback URL
#define PD_FIELDS_oauth_callback(R, STR, INT, BOOL, BIN, OBJ, LIST)                                \
    STR (R, code, 0, 1, 2048, PD_FMT_TEXT, NULL)                                                   \
    STR (R, state, 0, 1, 128, PD_FMT_TOKEN, NULL)                                                  \
    STR (R, error, 0, 1, 128, PD_FMT_TOKEN, NULL)                                                  \
    STR (R, error_description, 0, 0, 1024, PD_FMT_TEXT, NULL)                                      \
    STR (R, scope, 0, 0, 2048, PD_FMT_TEXT, NULL)                                                  \
    STR (R, authuser, 0, 0, 16, PD_FMT_TEXT, NULL)                                                 \
    STR (R, hd, 0, 0, 255, PD_FMT_TEXT, NULL)                                                      \
    STR (R, prompt, 0, 0, 64, PD_FMT_TEXT, NULL)                                                   \
    STR (R, session_state, 0, 0, 256, PD_FMT_TEXT, NULL)                                           \
    STR (R, binding, PD_F_SERVER, 0, 128, PD_FMT_TOKEN, NULL) /* from the cookie */

//  Stored (table "oauth_states", key = state): one sign-in in progress.
//  The PKCE verifier uses RFC 7636's unreserved set (with '~'): TEXT.
#define PD_FIELDS_oauth_state(R, STR, INT, BOOL, BIN, OBJ, LIST)                                   \
    STR (R, id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                   \
    STR (R, provider, PD_F_REQUIRED, 1, 16, PD_FMT_ENUM, PD_OAUTH_PROVIDERS)                       \
    STR (R, nonce, PD_F_REQUIRED | PD_F_SECRET, 1, 128, PD_FMT_TOKEN, NULL)                        \
    STR (R, verifier, PD_F_REQUIRED | PD_F_SECRET, 43, 128, PD_FMT_TEXT, NULL)                     \
    BIN (R, binding_hash, PD_F_SECRET, 0, 32)                                                      \
    INT (R, created_at, 0, 0, INT64_MAX)                                                           \
    INT (R, expires_at, 0, 0, INT64_MAX)

//  Sign-ins from these organisations are approved at once. Google: the ID
//  token's `hd` equals `domain`. Microsoft: its `tid` equals `tenant_id`
//  and the email's domain is `domain`. Never the email claim alone.
#define PD_FIELDS_approved_domain(R, STR, INT, BOOL, BIN, OBJ, LIST)                               \
    STR (R, domain, PD_F_REQUIRED, 3, 253, PD_FMT_TOKEN, NULL)                                     \
    STR (R, provider, PD_F_REQUIRED, 1, 16, PD_FMT_ENUM, PD_OAUTH_PROVIDERS)                       \
    STR (R, tenant_id, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                        \
    INT (R, created_at, PD_F_SERVER, 0, INT64_MAX)

#define PD_FIELDS_approved_domain_ref(R, STR, INT, BOOL, BIN, OBJ, LIST)                           \
    STR (R, domain, PD_F_REQUIRED, 3, 253, PD_FMT_TOKEN, NULL)

#define PD_FIELDS_approved_domain_list(R, STR, INT, BOOL, BIN, OBJ, LIST)                          \
    LIST (R, items, 0, approved_domain, PD_PAGE_LIMIT_MAX)

//  Stored (table "ratelimits", key "source:<address>" or "partner:<id>"):
//  failures counted in the window that started at window_start (ms)
#define PD_FIELDS_ratelimit(R, STR, INT, BOOL, BIN, OBJ, LIST)                                     \
    INT (R, window_start, 0, 0, INT64_MAX)                                                         \
    INT (R, failures, 0, 0, INT64_MAX)

//  ------------------------------------------------------------------------
//  Event streams (table "events", key = stream name, 0x00, seq as u64 BE)

//  An audit or domain event. `subject` is the id of the object concerned.
#define PD_FIELDS_event(R, STR, INT, BOOL, BIN, OBJ, LIST)                                         \
    STR (R, type, PD_F_REQUIRED, 1, 64, PD_FMT_TOKEN, NULL)                                        \
    INT (R, at, 0, 0, INT64_MAX)                                                                   \
    STR (R, partner_id, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                       \
    STR (R, subject, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                          \
    STR (R, actor, 0, 0, 128, PD_FMT_TEXT, NULL)                                                   \
    STR (R, detail, 0, 0, 1024, PD_FMT_TEXT, NULL)                                                 \
    STR (R, site_id, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                          \
    STR (R, appliance_id, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                     \
    STR (R, priority, 0, 0, 2, PD_FMT_ENUM, PD_PRIORITIES)                                         \
    STR (R, status, 0, 0, 16, PD_FMT_ENUM, PD_ESCALATION_STATUSES)                                 \
    STR (R, target, 0, 0, 16, PD_FMT_ENUM, PD_SLA_TARGETS)                                         \
    INT (R, count, 0, 0, INT64_MAX)

#define PD_STREAM_READ_MAX 1000

#define PD_FIELDS_stream_read(R, STR, INT, BOOL, BIN, OBJ, LIST)                                   \
    STR (R, stream, PD_F_REQUIRED, 1, 64, PD_FMT_TOKEN, NULL)                                      \
    INT (R, from, 0, 1, INT64_MAX)                                                                 \
    INT (R, limit, 0, 1, PD_STREAM_READ_MAX)

#define PD_FIELDS_stream_item(R, STR, INT, BOOL, BIN, OBJ, LIST)                                   \
    INT (R, seq, PD_F_REQUIRED, 1, INT64_MAX)                                                      \
    OBJ (R, event, PD_F_REQUIRED, event)

#define PD_FIELDS_stream_page(R, STR, INT, BOOL, BIN, OBJ, LIST)                                   \
    LIST (R, items, 0, stream_item, PD_STREAM_READ_MAX)                                            \
    INT (R, last_seq, 0, 0, INT64_MAX)

//  ------------------------------------------------------------------------
//  Provisioning, sites and appliances (seed: Provisioning Flow)

#define PD_PROVISION_STATUSES "active|used|revoked|expired"
#define PD_APPLIANCE_STATUSES "active|revoked|decommissioned"
#define PD_PROVISION_CODE_LEN 16

//  Stored (table "provisions", key = id) and reply of provision.*. `code`
//  is shown in full only to its partner; status "expired" is computed from
//  expires_at when read.
#define PD_FIELDS_provision(R, STR, INT, BOOL, BIN, OBJ, LIST)                                     \
    STR (R, id, PD_F_SERVER | PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                     \
    STR (R, partner_id, PD_F_SERVER | PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)             \
    STR (R, code, PD_F_SERVER | PD_F_REQUIRED, 16, 16, PD_FMT_TOKEN, NULL)                         \
    STR (R, site_name, 0, 0, 200, PD_FMT_TEXT, NULL)                                               \
    STR (R, status, PD_F_SERVER, 0, 16, PD_FMT_ENUM, PD_PROVISION_STATUSES)                        \
    INT (R, expires_at, PD_F_SERVER, 0, INT64_MAX)                                                 \
    INT (R, created_at, PD_F_SERVER, 0, INT64_MAX)                                                 \
    INT (R, used_at, PD_F_SERVER, 0, INT64_MAX)                                                    \
    STR (R, site_id, PD_F_SERVER, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                \
    STR (R, appliance_id, PD_F_SERVER, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)                           \
    STR (R, claim_url, PD_F_SERVER, 0, 2048, PD_FMT_TEXT, NULL)                                    \
    INT (R, version, PD_F_SERVER, 0, INT64_MAX)

//  POST /api/partners/me/provisions: optional target site and lifetime
#define PD_FIELDS_provision_create(R, STR, INT, BOOL, BIN, OBJ, LIST)                              \
    STR (R, site_name, 0, 1, 200, PD_FMT_TEXT, NULL)                                               \
    INT (R, expires_in_s, 0, 1, 31536000)

#define PD_FIELDS_provision_ref(R, STR, INT, BOOL, BIN, OBJ, LIST)                                 \
    STR (R, id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)

#define PD_FIELDS_provision_list(R, STR, INT, BOOL, BIN, OBJ, LIST)                                \
    INT (R, limit, 0, 1, PD_PAGE_LIMIT_MAX)                                                        \
    STR (R, cursor, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)

#define PD_FIELDS_provision_page(R, STR, INT, BOOL, BIN, OBJ, LIST)                                \
    LIST (R, items, 0, provision, PD_PAGE_LIMIT_MAX)                                               \
    STR (R, next_cursor, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)

//  QR of a provision: by id (its partner) or by code (public)
#define PD_QR_FORMATS "png|svg"
#define PD_FIELDS_provision_qr(R, STR, INT, BOOL, BIN, OBJ, LIST)                                  \
    STR (R, id, 0, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                               \
    STR (R, code, 0, 16, 16, PD_FMT_TOKEN, NULL)                                                   \
    STR (R, format, 0, 3, 3, PD_FMT_ENUM, PD_QR_FORMATS)

//  A binary answer (route flag PD_ROUTE_RAW): the gateway sends `content`
//  with `content_type` as the body
#define PD_FIELDS_binary(R, STR, INT, BOOL, BIN, OBJ, LIST)                                        \
    STR (R, content_type, PD_F_REQUIRED, 1, 64, PD_FMT_TEXT, NULL)                                 \
    BIN (R, content, PD_F_REQUIRED, 1, 1048576)

//  A claim: over HTTP (POST /api/partners/claim, /api/provision/claim) or
//  over the appliance link. `mac` is aa:bb:cc:dd:ee:ff; `public_key` the
//  appliance's CURVE public key (Z85, 40 chars), bound to the appliance.
#define PD_FIELDS_claim(R, STR, INT, BOOL, BIN, OBJ, LIST)                                         \
    STR (R, code, PD_F_REQUIRED, 16, 16, PD_FMT_TOKEN, NULL)                                       \
    STR (R, mac, PD_F_REQUIRED, 17, 17, PD_FMT_TOKEN, NULL)                                        \
    STR (R, public_key, 0, 40, 40, PD_FMT_TEXT, NULL)                                              \
    STR (R, hostname, 0, 0, 253, PD_FMT_TEXT, NULL)                                                \
    STR (R, software_version, 0, 0, 64, PD_FMT_TEXT, NULL)

//  What the appliance writes to its config file (record appliance_setup;
//  the SDK's pd_appliance_* names are its own)
#define PD_FIELDS_appliance_setup(R, STR, INT, BOOL, BIN, OBJ, LIST)                               \
    STR (R, appliance_id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                         \
    STR (R, site_id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                              \
    STR (R, site_name, 0, 0, 200, PD_FMT_TEXT, NULL)                                               \
    STR (R, partner_id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                           \
    STR (R, partner_name, 0, 0, 200, PD_FMT_TEXT, NULL)                                            \
    OBJ (R, branding, 0, branding)                                                                 \
    STR (R, api_endpoint, 0, 0, 2048, PD_FMT_TEXT, NULL)                                           \
    STR (R, broker_endpoint, 0, 0, 256, PD_FMT_TEXT, NULL)                                         \
    STR (R, broker_public_key, 0, 0, 40, PD_FMT_TEXT, NULL)                                        \
    STR (R, appliance_token, PD_F_SERVER, 0, 128, PD_FMT_TOKEN, NULL)

//  GET /api/provision/validate/{code}: a public check before claiming
#define PD_FIELDS_provision_check(R, STR, INT, BOOL, BIN, OBJ, LIST)                               \
    STR (R, code, PD_F_REQUIRED, 16, 16, PD_FMT_TOKEN, NULL)                                       \
    BOOL (R, valid, 0)                                                                             \
    STR (R, status, 0, 0, 16, PD_FMT_TEXT, NULL)                                                   \
    STR (R, site_name, 0, 0, 200, PD_FMT_TEXT, NULL)                                               \
    STR (R, partner_name, 0, 0, 200, PD_FMT_TEXT, NULL)                                            \
    INT (R, expires_at, 0, 0, INT64_MAX)

//  Stored (table "appliances", key = id) and inside site details
#define PD_FIELDS_appliance_info(R, STR, INT, BOOL, BIN, OBJ, LIST)                                \
    STR (R, id, PD_F_SERVER | PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                     \
    STR (R, site_id, PD_F_SERVER | PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                \
    STR (R, partner_id, PD_F_SERVER | PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)             \
    STR (R, mac, PD_F_SERVER, 0, 17, PD_FMT_TOKEN, NULL)                                           \
    STR (R, public_key, PD_F_SERVER, 0, 40, PD_FMT_TEXT, NULL)                                     \
    STR (R, hostname, PD_F_SERVER, 0, 253, PD_FMT_TEXT, NULL)                                      \
    STR (R, status, PD_F_SERVER, 0, 16, PD_FMT_ENUM, PD_APPLIANCE_STATUSES)                        \
    STR (R, reported_status, PD_F_SERVER, 0, 64, PD_FMT_TEXT, NULL)                                \
    STR (R, software_version, PD_F_SERVER, 0, 64, PD_FMT_TEXT, NULL)                               \
    BOOL (R, online, PD_F_SERVER)                                                                  \
    INT (R, last_seen_at, PD_F_SERVER, 0, INT64_MAX)                                               \
    INT (R, created_at, PD_F_SERVER, 0, INT64_MAX)                                                 \
    BIN (R, token_hash, PD_F_SERVER | PD_F_SECRET, 0, 32)                                          \
    INT (R, version, PD_F_SERVER, 0, INT64_MAX)

//  Stored (table "sites", key = id); a site detail carries its appliances
#define PD_FIELDS_site(R, STR, INT, BOOL, BIN, OBJ, LIST)                                          \
    STR (R, id, PD_F_SERVER | PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                     \
    STR (R, partner_id, PD_F_SERVER | PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)             \
    STR (R, name, PD_F_REQUIRED, 1, 200, PD_FMT_TEXT, NULL)                                        \
    INT (R, created_at, PD_F_SERVER, 0, INT64_MAX)                                                 \
    INT (R, appliance_count, PD_F_SERVER, 0, INT64_MAX)                                            \
    INT (R, online_count, PD_F_SERVER, 0, INT64_MAX)                                               \
    INT (R, last_heartbeat_at, PD_F_SERVER, 0, INT64_MAX)                                          \
    LIST (R, appliances, PD_F_SERVER, appliance_info, PD_PAGE_LIMIT_MAX)                           \
    INT (R, version, PD_F_SERVER, 0, INT64_MAX)

#define PD_FIELDS_site_ref(R, STR, INT, BOOL, BIN, OBJ, LIST)                                      \
    STR (R, site_id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)

#define PD_FIELDS_site_page(R, STR, INT, BOOL, BIN, OBJ, LIST)                                     \
    LIST (R, items, 0, site, PD_PAGE_LIMIT_MAX)                                                    \
    STR (R, next_cursor, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)

#define PD_FIELDS_appliance_ref(R, STR, INT, BOOL, BIN, OBJ, LIST)                                 \
    STR (R, site_id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                              \
    STR (R, appliance_id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)

//  An appliance's report of its state (HTTP /api/provision/status and
//  heartbeat, or the link's heartbeat). Over HTTP the appliance is
//  identified by its appliance_token (X-API-Key); over the link by its
//  CURVE key: never by an id in the body.
#define PD_FIELDS_appliance_report(R, STR, INT, BOOL, BIN, OBJ, LIST)                              \
    STR (R, status, 0, 0, 64, PD_FMT_TEXT, NULL)                                                   \
    STR (R, software_version, 0, 0, 64, PD_FMT_TEXT, NULL)                                         \
    STR (R, detail, 0, 0, 1024, PD_FMT_TEXT, NULL)

//  GET /api/provision/config/{appliance_id}
#define PD_FIELDS_appliance_id(R, STR, INT, BOOL, BIN, OBJ, LIST)                                  \
    STR (R, appliance_id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)

//  The front's coalesced heartbeats: one message per flush
#define PD_FIELDS_heartbeat(R, STR, INT, BOOL, BIN, OBJ, LIST)                                     \
    STR (R, appliance_id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                         \
    INT (R, at, 0, 0, INT64_MAX)                                                                   \
    STR (R, status, 0, 0, 64, PD_FMT_TEXT, NULL)                                                   \
    STR (R, software_version, 0, 0, 64, PD_FMT_TEXT, NULL)
#define PD_FIELDS_heartbeats(R, STR, INT, BOOL, BIN, OBJ, LIST) LIST (R, items, 0, heartbeat, 10000)

//  A command to one connected appliance, and its answer
#define PD_FIELDS_appliance_command(R, STR, INT, BOOL, BIN, OBJ, LIST)                             \
    STR (R, appliance_id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                         \
    STR (R, command, PD_F_REQUIRED, 1, 64, PD_FMT_TOKEN, NULL)                                     \
    STR (R, payload, 0, 0, 65536, PD_FMT_TEXT, NULL)
#define PD_FIELDS_command_result(R, STR, INT, BOOL, BIN, OBJ, LIST)                                \
    STR (R, output, 0, 0, 65536, PD_FMT_TEXT, NULL)

//  ------------------------------------------------------------------------
//  Escalations and SLAs (seed: Escalation Endpoints, escalation engine)

#define PD_PRIORITIES          "P1|P2|P3|P4"
#define PD_PRIORITY_INPUTS     "P1|P2|P3|P4|critical|high|medium|low"
#define PD_ESCALATION_STATUSES "open|acknowledged|resolved"
#define PD_SLA_TARGETS         "response|resolution"
#define PD_WEEKDAYS            "mon|tue|wed|thu|fri|sat|sun"
#define PD_DEDUP_KEY_MAX       255
#define PD_NOTE_MAX            4096
#define PD_DETAILS_MAX         16384
#define PD_SLA_TARGET_MAX_S    31536000 //  a year
#define PD_SLA_WARNING_DEFAULT 80       //  percent of a target

//  An L3 escalation: POST /api/escalations (appliance token) or the link's
//  `escalate`. Partner, site and appliance come from the caller, never from
//  here. priority P1..P4, or critical|high|medium|low (P1..P4). details:
//  text, or a JSON object. dedup_key: repeats of an open ticket of the
//  same site count on it (PROTOCOL.md section 17).
#define PD_FIELDS_escalation_input(R, STR, INT, BOOL, BIN, OBJ, LIST)                              \
    STR (R, priority, PD_F_REQUIRED, 2, 8, PD_FMT_ENUM, PD_PRIORITY_INPUTS)                        \
    STR (R, title, PD_F_REQUIRED, 1, 200, PD_FMT_TEXT, NULL)                                       \
    STR (R, details, 0, 0, PD_DETAILS_MAX, PD_FMT_JSON, NULL)                                      \
    STR (R, category, 0, 1, 64, PD_FMT_TOKEN, NULL)                                                \
    STR (R, dedup_key, 0, 1, PD_DEDUP_KEY_MAX, PD_FMT_TEXT, NULL)                                  \
    STR (R, incident_id, 0, 1, 128, PD_FMT_TEXT, NULL)                                             \
    STR (R, host, 0, 0, 253, PD_FMT_TEXT, NULL)

//  Its answer: the ticket, and whether this escalation opened it (created),
//  re-opened it (reopened) or counted on it (neither)
#define PD_FIELDS_escalation_receipt(R, STR, INT, BOOL, BIN, OBJ, LIST)                            \
    STR (R, id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                   \
    BOOL (R, created, 0)                                                                           \
    BOOL (R, reopened, 0)                                                                          \
    STR (R, status, 0, 0, 16, PD_FMT_ENUM, PD_ESCALATION_STATUSES)                                 \
    INT (R, occurrence_count, 0, 0, INT64_MAX)

//  One priority's SLA: targets from the ticket's opening (response: until
//  acknowledged; resolution: until resolved), the warning at a percentage
//  of each, counted around the clock or in the partner's business hours
#define PD_FIELDS_sla_terms(R, STR, INT, BOOL, BIN, OBJ, LIST)                                     \
    STR (R, priority, PD_F_REQUIRED, 2, 2, PD_FMT_ENUM, PD_PRIORITIES)                             \
    INT (R, response_s, PD_F_REQUIRED, 1, PD_SLA_TARGET_MAX_S)                                     \
    INT (R, resolution_s, PD_F_REQUIRED, 1, PD_SLA_TARGET_MAX_S)                                   \
    INT (R, warning_percent, 0, 1, 99)                                                             \
    BOOL (R, business_hours, 0)

//  Business hours: a weekly schedule in an IANA time zone, minus holidays
//  (local dates). start/end are local "HH:MM", end after start (24:00 is
//  the day's end).
#define PD_FIELDS_business_day(R, STR, INT, BOOL, BIN, OBJ, LIST)                                  \
    STR (R, day, PD_F_REQUIRED, 3, 3, PD_FMT_ENUM, PD_WEEKDAYS)                                    \
    STR (R, start, PD_F_REQUIRED, 5, 5, PD_FMT_TEXT, NULL)                                         \
    STR (R, end, PD_F_REQUIRED, 5, 5, PD_FMT_TEXT, NULL)
#define PD_FIELDS_holiday(R, STR, INT, BOOL, BIN, OBJ, LIST)                                       \
    STR (R, date, PD_F_REQUIRED, 10, 10, PD_FMT_TEXT, NULL) /* YYYY-MM-DD */
#define PD_FIELDS_sla_calendar(R, STR, INT, BOOL, BIN, OBJ, LIST)                                  \
    STR (R, timezone, PD_F_REQUIRED, 1, 64, PD_FMT_TEXT, NULL)                                     \
    LIST (R, week, 0, business_day, 21)                                                            \
    LIST (R, holidays, 0, holiday, 400)

//  GET/PUT /api/partners/me/sla/definitions; stored (table
//  "sla_definitions", key = partner id). A PUT's definitions replace
//  those of their priorities; a calendar, if given, replaces the calendar.
#define PD_FIELDS_sla_policy(R, STR, INT, BOOL, BIN, OBJ, LIST)                                    \
    LIST (R, definitions, 0, sla_terms, 4)                                                         \
    OBJ (R, calendar, 0, sla_calendar)                                                             \
    INT (R, updated_at, PD_F_SERVER, 0, INT64_MAX)                                                 \
    INT (R, version, PD_F_SERVER, 0, INT64_MAX)

//  Stored (table "escalations", key = id) and the answer of escalation.*.
//  Ids sort newest first. `sla` and `calendar` are the terms the ticket
//  opened under (or re-opened under), kept with it; the *_due_at and
//  *_warn_at times are its pending deadlines (absent once met, cancelled
//  or fired). `timeline` is filled by escalation.get only.
#define PD_FIELDS_escalation(R, STR, INT, BOOL, BIN, OBJ, LIST)                                    \
    STR (R, id, PD_F_SERVER | PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                     \
    STR (R, partner_id, PD_F_SERVER | PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)             \
    STR (R, site_id, PD_F_SERVER | PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                \
    STR (R, appliance_id, PD_F_SERVER, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)      /* opened it */      \
    STR (R, last_appliance_id, PD_F_SERVER, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL) /* raised it last */ \
    STR (R, priority, PD_F_SERVER | PD_F_REQUIRED, 2, 2, PD_FMT_ENUM, PD_PRIORITIES)               \
    STR (R, title, PD_F_SERVER | PD_F_REQUIRED, 1, 200, PD_FMT_TEXT, NULL)                         \
    STR (R, details, PD_F_SERVER, 0, PD_DETAILS_MAX, PD_FMT_JSON, NULL)                            \
    STR (R, category, PD_F_SERVER, 0, 64, PD_FMT_TOKEN, NULL)                                      \
    STR (R, dedup_key, PD_F_SERVER, 0, PD_DEDUP_KEY_MAX, PD_FMT_TEXT, NULL)                        \
    STR (R, incident_id, PD_F_SERVER, 0, 128, PD_FMT_TEXT, NULL)                                   \
    STR (R, host, PD_F_SERVER, 0, 253, PD_FMT_TEXT, NULL)                                          \
    STR (R, status, PD_F_SERVER | PD_F_REQUIRED, 1, 16, PD_FMT_ENUM, PD_ESCALATION_STATUSES)       \
    INT (R, occurrence_count, PD_F_SERVER, 0, INT64_MAX)                                           \
    INT (R, created_at, PD_F_SERVER, 0, INT64_MAX)                                                 \
    INT (R, last_seen_at, PD_F_SERVER, 0, INT64_MAX)                                               \
    INT (R, acknowledged_at, PD_F_SERVER, 0, INT64_MAX)                                            \
    STR (R, acknowledged_by, PD_F_SERVER, 0, 128, PD_FMT_TEXT, NULL)                               \
    INT (R, resolved_at, PD_F_SERVER, 0, INT64_MAX)                                                \
    STR (R, resolved_by, PD_F_SERVER, 0, 128, PD_FMT_TEXT, NULL)                                   \
    STR (R, resolution_note, PD_F_SERVER, 0, PD_NOTE_MAX, PD_FMT_TEXT, NULL)                       \
    INT (R, reopened_at, PD_F_SERVER, 0, INT64_MAX)                                                \
    INT (R, reopen_count, PD_F_SERVER, 0, INT64_MAX)                                               \
    OBJ (R, sla, PD_F_SERVER, sla_terms)                                                           \
    OBJ (R, calendar, PD_F_SERVER, sla_calendar)                                                   \
    INT (R, response_warn_at, PD_F_SERVER, 0, INT64_MAX)                                           \
    INT (R, response_due_at, PD_F_SERVER, 0, INT64_MAX)                                            \
    INT (R, resolution_warn_at, PD_F_SERVER, 0, INT64_MAX)                                         \
    INT (R, resolution_due_at, PD_F_SERVER, 0, INT64_MAX)                                          \
    BOOL (R, response_breached, PD_F_SERVER)                                                       \
    BOOL (R, resolution_breached, PD_F_SERVER)                                                     \
    INT (R, entries, PD_F_SERVER, 0, INT64_MAX) /* timeline entries written */                     \
    BOOL (R, appliance_informed, PD_F_SERVER)   /* get: its appliances took its last change */     \
    LIST (R, timeline, PD_F_SERVER, escalation_entry, PD_PAGE_LIMIT_MAX)                           \
    INT (R, version, PD_F_SERVER, 0, INT64_MAX)

//  One step of a ticket's life (table "escalation_timeline", key
//  "<ticket id>/<entry number, 8 digits>"): who did what when
#define PD_ESCALATION_ACTIONS "opened|acknowledged|resolved|reopened|sla.warning|sla.breached"
#define PD_FIELDS_escalation_entry(R, STR, INT, BOOL, BIN, OBJ, LIST)                              \
    INT (R, at, PD_F_REQUIRED, 0, INT64_MAX)                                                       \
    STR (R, action, PD_F_REQUIRED, 1, 32, PD_FMT_ENUM, PD_ESCALATION_ACTIONS)                      \
    STR (R, by, 0, 0, 128, PD_FMT_TEXT, NULL)                                                      \
    STR (R, note, 0, 0, PD_NOTE_MAX, PD_FMT_TEXT, NULL)

//  Table "escalation_keys", key "<site id>/<dedup key>": the ticket that
//  the site's dedup key counts on now (a record, so that replacing it is
//  version-checked)
#define PD_FIELDS_escalation_key(R, STR, INT, BOOL, BIN, OBJ, LIST)                                \
    STR (R, ticket_id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)

//  A ticket's change told to the appliance that raised it (PDA1 `ticket`,
//  PROTOCOL.md 16.3). Table "escalation_outbox", key "<appliance id>/<ticket
//  id>": the ticket's latest change the appliance has not answered `seen`
//  to, written in the change's transaction (PD_TICKET_UPDATE_EVENTS).
//  version: the ticket's timeline entries at the change (grows with each).
#define PD_TICKET_UPDATES_MAX   64 //  changes in one escalation.updates answer
#define PD_TICKET_UPDATE_TTL_MS (30LL * 24 * 3600 * 1000) //  unseen this long: dropped
#define PD_FIELDS_ticket_update(R, STR, INT, BOOL, BIN, OBJ, LIST)                                 \
    STR (R, id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                   \
    STR (R, status, PD_F_REQUIRED, 1, 16, PD_FMT_ENUM, PD_ESCALATION_STATUSES)                     \
    INT (R, version, PD_F_REQUIRED, 1, INT64_MAX)                                                  \
    INT (R, at, 0, 0, INT64_MAX)                                                                   \
    STR (R, by, 0, 0, 128, PD_FMT_TEXT, NULL)                                                      \
    STR (R, note, 0, 0, PD_NOTE_MAX, PD_FMT_TEXT, NULL)                                            \
    STR (R, incident_id, 0, 0, 128, PD_FMT_TEXT, NULL)                                             \
    STR (R, dedup_key, 0, 0, PD_DEDUP_KEY_MAX, PD_FMT_TEXT, NULL)

//  escalation.updates: the appliance's changes, in ticket id order, from
//  after ticket `after` (none: from the first)
#define PD_FIELDS_ticket_updates_ask(R, STR, INT, BOOL, BIN, OBJ, LIST)                            \
    STR (R, after, 0, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)

//  ...and, when more may follow, the ticket to ask after next
#define PD_FIELDS_ticket_updates(R, STR, INT, BOOL, BIN, OBJ, LIST)                                \
    LIST (R, items, 0, ticket_update, PD_TICKET_UPDATES_MAX)                                       \
    STR (R, next_after, 0, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)

//  PDA1 `seen`: the appliance has the ticket's change of this version (and
//  every earlier one)
#define PD_FIELDS_ticket_seen(R, STR, INT, BOOL, BIN, OBJ, LIST)                                   \
    STR (R, id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                   \
    INT (R, version, PD_F_REQUIRED, 1, INT64_MAX)

#define PD_FIELDS_escalation_ref(R, STR, INT, BOOL, BIN, OBJ, LIST)                                \
    STR (R, id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)

//  POST .../{id}/acknowledge (note optional) and .../{id}/resolve (note
//  required: the resolution)
#define PD_FIELDS_escalation_ack(R, STR, INT, BOOL, BIN, OBJ, LIST)                                \
    STR (R, id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                   \
    STR (R, note, 0, 0, PD_NOTE_MAX, PD_FMT_TEXT, NULL)
#define PD_FIELDS_escalation_resolve(R, STR, INT, BOOL, BIN, OBJ, LIST)                            \
    STR (R, id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                   \
    STR (R, note, PD_F_REQUIRED, 1, PD_NOTE_MAX, PD_FMT_TEXT, NULL)

//  GET /api/partners/me/escalations and /api/admin/escalations (partner_id:
//  admins only); since/until bound created_at (ms, until exclusive)
#define PD_FIELDS_escalation_list(R, STR, INT, BOOL, BIN, OBJ, LIST)                               \
    STR (R, status, 0, 0, 16, PD_FMT_ENUM, PD_ESCALATION_STATUSES)                                 \
    STR (R, priority, 0, 2, 2, PD_FMT_ENUM, PD_PRIORITIES)                                         \
    STR (R, site_id, 0, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                          \
    STR (R, partner_id, 0, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                       \
    INT (R, since, 0, 0, INT64_MAX)                                                                \
    INT (R, until, 0, 0, INT64_MAX)                                                                \
    INT (R, limit, 0, 1, PD_PAGE_LIMIT_MAX)                                                        \
    STR (R, cursor, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)

#define PD_FIELDS_escalation_page(R, STR, INT, BOOL, BIN, OBJ, LIST)                               \
    LIST (R, items, 0, escalation, PD_PAGE_LIMIT_MAX)                                              \
    STR (R, next_cursor, 0, 0, PD_ID_MAX, PD_FMT_TOKEN, NULL)

//  GET /api/partners/me/escalations/stream and /api/admin/escalations/stream
//  (text/event-stream): from = the first sequence number wanted; the
//  gateway puts the Last-Event-ID header into last_event_id (resume after
//  it); neither: only new events. priority: "P1,P2". partner_id: admins
//  only (a partner follows its own events).
#define PD_FIELDS_stream_follow(R, STR, INT, BOOL, BIN, OBJ, LIST)                                 \
    INT (R, from, 0, 1, INT64_MAX)                                                                 \
    STR (R, last_event_id, 0, 1, 20, PD_FMT_TOKEN, NULL)                                           \
    STR (R, site_id, 0, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                          \
    STR (R, priority, 0, 2, 11, PD_FMT_TEXT, NULL)                                                 \
    STR (R, partner_id, 0, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)

//  Its answer, for the gateway (route flag PD_ROUTE_STREAM): the stream to
//  follow from `from` on, and which of its events this caller gets
#define PD_FIELDS_stream_grant(R, STR, INT, BOOL, BIN, OBJ, LIST)                                  \
    STR (R, stream, PD_F_REQUIRED, 1, 64, PD_FMT_TOKEN, NULL)                                      \
    INT (R, from, PD_F_REQUIRED, 1, INT64_MAX)                                                     \
    STR (R, partner_id, 0, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                       \
    STR (R, site_id, 0, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                                          \
    STR (R, priority, 0, 2, 11, PD_FMT_TEXT, NULL)

//  A pending SLA deadline (table "sla_deadlines", key "<due_at, 15
//  digits>/<ticket id>/<kind>", so that the due ones are a scan's first):
//  the SLA timer fires it once, deleting it in the same transaction
#define PD_SLA_DEADLINE_KINDS "response_warning|response|resolution_warning|resolution"
#define PD_FIELDS_sla_deadline(R, STR, INT, BOOL, BIN, OBJ, LIST)                                  \
    STR (R, ticket_id, PD_F_REQUIRED, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)                            \
    STR (R, kind, PD_F_REQUIRED, 1, 32, PD_FMT_ENUM, PD_SLA_DEADLINE_KINDS)                        \
    INT (R, due_at, PD_F_REQUIRED, 0, INT64_MAX)

//  GET /api/partners/me/sla/metrics?from&to&site_id: tickets opened in
//  [from, to) (ms; default the last 30 days), by priority, recomputed
//  from the escalation stream
#define PD_FIELDS_sla_metrics_query(R, STR, INT, BOOL, BIN, OBJ, LIST)                             \
    INT (R, from, 0, 0, INT64_MAX)                                                                 \
    INT (R, to, 0, 0, INT64_MAX)                                                                   \
    STR (R, site_id, 0, 1, PD_ID_MAX, PD_FMT_TOKEN, NULL)

//  Times in ms; *_within_percent: of the tickets with that target met or
//  missed so far (acknowledged / resolved, or breached), the share met,
//  rounded down (absent when there is none)
#define PD_FIELDS_sla_metric(R, STR, INT, BOOL, BIN, OBJ, LIST)                                    \
    STR (R, priority, PD_F_REQUIRED, 2, 2, PD_FMT_ENUM, PD_PRIORITIES)                             \
    INT (R, tickets, 0, 0, INT64_MAX)                                                              \
    INT (R, acknowledged, 0, 0, INT64_MAX)                                                         \
    INT (R, resolved, 0, 0, INT64_MAX)                                                             \
    INT (R, mtta_mean_ms, 0, 0, INT64_MAX)                                                         \
    INT (R, mtta_p50_ms, 0, 0, INT64_MAX)                                                          \
    INT (R, mtta_p90_ms, 0, 0, INT64_MAX)                                                          \
    INT (R, mttr_mean_ms, 0, 0, INT64_MAX)                                                         \
    INT (R, mttr_p50_ms, 0, 0, INT64_MAX)                                                          \
    INT (R, mttr_p90_ms, 0, 0, INT64_MAX)                                                          \
    INT (R, response_met, 0, 0, INT64_MAX)                                                         \
    INT (R, resolution_met, 0, 0, INT64_MAX)                                                       \
    INT (R, response_within_percent, 0, 0, 100)                                                    \
    INT (R, resolution_within_percent, 0, 0, 100)                                                  \
    INT (R, response_breaches, 0, 0, INT64_MAX)                                                    \
    INT (R, resolution_breaches, 0, 0, INT64_MAX)

#define PD_FIELDS_sla_metrics(R, STR, INT, BOOL, BIN, OBJ, LIST)                                   \
    INT (R, from, 0, 0, INT64_MAX)                                                                 \
    INT (R, to, 0, 0, INT64_MAX)                                                                   \
    LIST (R, items, 0, sla_metric, 4)                                                              \
    INT (R, events, 0, 0, INT64_MAX) /* the caller's events read, from the window on */

//  ------------------------------------------------------------------------
//  Component counters (GET /metrics renders every field of these)

//  The broker's ($broker.stats, built by the broker itself)
#define PD_FIELDS_broker_counters(R, STR, INT, BOOL, BIN, OBJ, LIST)                               \
    INT (R, requests, 0, 0, INT64_MAX)                                                             \
    INT (R, replies, 0, 0, INT64_MAX)                                                              \
    INT (R, timeouts, 0, 0, INT64_MAX)                                                             \
    INT (R, unavailable, 0, 0, INT64_MAX)                                                          \
    INT (R, busy, 0, 0, INT64_MAX)                                                                 \
    INT (R, expired_workers, 0, 0, INT64_MAX)                                                      \
    INT (R, dropped, 0, 0, INT64_MAX)                                                              \
    INT (R, published, 0, 0, INT64_MAX)                                                            \
    INT (R, refused, 0, 0, INT64_MAX)                                                              \
    INT (R, workers, 0, 0, INT64_MAX)                                                              \
    INT (R, queued, 0, 0, INT64_MAX)

//  The appliance front's (front.stats)
#define PD_FIELDS_front_counters(R, STR, INT, BOOL, BIN, OBJ, LIST)                                \
    INT (R, connected, 0, 0, INT64_MAX)                                                            \
    INT (R, heartbeats, 0, 0, INT64_MAX)                                                           \
    INT (R, flushes, 0, 0, INT64_MAX)                                                              \
    INT (R, claims, 0, 0, INT64_MAX)                                                               \
    INT (R, refused, 0, 0, INT64_MAX)                                                              \
    INT (R, closed, 0, 0, INT64_MAX)                                                               \
    INT (R, tickets, 0, 0, INT64_MAX)

//  ------------------------------------------------------------------------
//  The records, the message types, the tables

#define PD_RECORDS(X)                                                                              \
    X (error)                                                                                      \
    X (principal)                                                                                  \
    X (credential)                                                                                 \
    X (header)                                                                                     \
    X (empty)                                                                                      \
    X (branding)                                                                                   \
    X (partner)                                                                                    \
    X (partner_create)                                                                             \
    X (partner_update)                                                                             \
    X (partner_ref)                                                                                \
    X (partner_list)                                                                               \
    X (partner_page)                                                                               \
    X (apikey)                                                                                     \
    X (user)                                                                                       \
    X (user_create)                                                                                \
    X (user_ref)                                                                                   \
    X (user_list)                                                                                  \
    X (user_page)                                                                                  \
    X (magic_link)                                                                                 \
    X (magic_record)                                                                               \
    X (magic_exchange)                                                                             \
    X (session)                                                                                    \
    X (session_record)                                                                             \
    X (oauth_provider)                                                                             \
    X (oauth_providers)                                                                            \
    X (oauth_start)                                                                                \
    X (redirect)                                                                                   \
    X (oauth_callback)                                                                             \
    X (oauth_state)                                                                                \
    X (approved_domain)                                                                            \
    X (approved_domain_ref)                                                                        \
    X (approved_domain_list)                                                                       \
    X (ratelimit)                                                                                  \
    X (provision)                                                                                  \
    X (provision_create)                                                                           \
    X (provision_ref)                                                                              \
    X (provision_list)                                                                             \
    X (provision_page)                                                                             \
    X (provision_qr)                                                                               \
    X (binary)                                                                                     \
    X (claim)                                                                                      \
    X (appliance_setup)                                                                            \
    X (provision_check)                                                                            \
    X (appliance_info)                                                                             \
    X (site)                                                                                       \
    X (site_ref)                                                                                   \
    X (site_page)                                                                                  \
    X (appliance_ref)                                                                              \
    X (appliance_report)                                                                           \
    X (appliance_id)                                                                               \
    X (heartbeat)                                                                                  \
    X (heartbeats)                                                                                 \
    X (appliance_command)                                                                          \
    X (command_result)                                                                             \
    X (escalation_input)                                                                           \
    X (escalation_receipt)                                                                         \
    X (sla_terms)                                                                                  \
    X (business_day)                                                                               \
    X (holiday)                                                                                    \
    X (sla_calendar)                                                                               \
    X (sla_policy)                                                                                 \
    X (escalation_entry)                                                                           \
    X (escalation)                                                                                 \
    X (escalation_key)                                                                             \
    X (ticket_update)                                                                              \
    X (ticket_updates_ask)                                                                         \
    X (ticket_updates)                                                                             \
    X (ticket_seen)                                                                                \
    X (escalation_ref)                                                                             \
    X (escalation_ack)                                                                             \
    X (escalation_resolve)                                                                         \
    X (escalation_list)                                                                            \
    X (escalation_page)                                                                            \
    X (stream_follow)                                                                              \
    X (stream_grant)                                                                               \
    X (sla_deadline)                                                                               \
    X (sla_metrics_query)                                                                          \
    X (sla_metric)                                                                                 \
    X (sla_metrics)                                                                                \
    X (broker_counters)                                                                            \
    X (front_counters)                                                                             \
    X (event)                                                                                      \
    X (stream_read)                                                                                \
    X (stream_item)                                                                                \
    X (stream_page)

//  X (type, service, request record, reply record)
#define PD_MESSAGE_TYPES(X)                                                                        \
    X ("partner.create", "partners", partner_create, partner)                                      \
    X ("partner.list", "partners", partner_list, partner_page)                                     \
    X ("partner.get", "partners", partner_ref, partner)                                            \
    X ("partner.update", "partners", partner_update, partner)                                      \
    X ("partner.regenerate_key", "partners", partner_ref, partner)                                 \
    X ("partner.me", "partners", empty, partner)                                                   \
    X ("partner.pending", "partners", partner_list, partner_page)                                  \
    X ("partner.approve", "partners", partner_ref, partner)                                        \
    X ("partner.reject", "partners", partner_ref, partner)                                         \
    X ("domain.list", "partners", empty, approved_domain_list)                                     \
    X ("domain.add", "partners", approved_domain, approved_domain)                                 \
    X ("domain.remove", "partners", approved_domain_ref, empty)                                    \
    X ("auth.resolve", "auth", empty, principal)                                                   \
    X ("user.create", "users", user_create, user)                                                  \
    X ("user.list", "users", user_list, user_page)                                                 \
    X ("user.disable", "users", user_ref, user)                                                    \
    X ("magic.create", "users", user_ref, magic_link)                                              \
    X ("magic.exchange", "users", magic_exchange, session)                                         \
    X ("session.logout", "users", empty, empty)                                                    \
    X ("oauth.providers", "oauth", empty, oauth_providers)                                         \
    X ("oauth.start", "oauth", oauth_start, redirect)                                              \
    X ("oauth.callback", "oauth", oauth_callback, session)                                         \
    X ("stream.read", "stream", stream_read, stream_page)                                          \
    X ("provision.list", "claim", provision_list, provision_page)                                  \
    X ("provision.create", "claim", provision_create, provision)                                   \
    X ("provision.revoke", "claim", provision_ref, provision)                                      \
    X ("provision.qr", "claim", provision_qr, binary)                                              \
    X ("provision.public_qr", "claim", provision_qr, binary)                                       \
    X ("provision.validate", "claim", provision_check, provision_check)                            \
    X ("claim.http", "claim", claim, appliance_setup)                                              \
    X ("claim.link", "claim", claim, appliance_setup)                                              \
    X ("appliance.status", "claim", appliance_report, empty)                                       \
    X ("appliance.heartbeat", "claim", appliance_report, empty)                                    \
    X ("appliance.heartbeats", "claim", heartbeats, empty)                                         \
    X ("appliance.config", "claim", appliance_id, appliance_setup)                                 \
    X ("appliance.get", "claim", appliance_ref, appliance_info)                                    \
    X ("appliance.revoke", "claim", appliance_ref, appliance_info)                                 \
    X ("site.list", "claim", provision_list, site_page)                                            \
    X ("site.get", "claim", site_ref, site)                                                        \
    X ("appliance.command", "appliances", appliance_command, command_result)                       \
    X ("front.stats", "appliances", empty, front_counters)                                         \
    X ("escalation.create", "escalation", escalation_input, escalation_receipt)                    \
    X ("escalation.list", "escalation", escalation_list, escalation_page)                          \
    X ("escalation.get", "escalation", escalation_ref, escalation)                                 \
    X ("escalation.acknowledge", "escalation", escalation_ack, escalation)                         \
    X ("escalation.resolve", "escalation", escalation_resolve, escalation)                         \
    X ("escalation.follow", "escalation", stream_follow, stream_grant)                             \
    X ("escalation.updates", "escalation", ticket_updates_ask, ticket_updates)                     \
    X ("escalation.seen", "escalation", ticket_seen, empty)                                        \
    X ("sla.definitions", "sla", empty, sla_policy)                                                \
    X ("sla.define", "sla", sla_policy, sla_policy)                                                \
    X ("sla.metrics", "sla", sla_metrics_query, sla_metrics)

//  The PDP/1 commands of the services socket (schemas/PROTOCOL.md section 3):
//  X (command, code). Frame 1 of every message is the code, one byte.
#define PD_PDP_COMMANDS(X)                                                                         \
    X (READY, 1)                                                                                   \
    X (REQUEST, 2)                                                                                 \
    X (REPLY, 3)                                                                                   \
    X (HEARTBEAT, 4)                                                                               \
    X (DISCONNECT, 5)                                                                              \
    X (PUBLISH, 6)

typedef enum {
#define PD_PDP_ENUM(name, code) PD_PDP_##name = code,
    PD_PDP_COMMANDS (PD_PDP_ENUM)
#undef PD_PDP_ENUM
} pd_pdp_command_t;

typedef enum { PD_PDP_CLIENT, PD_PDP_WORKER, PD_PDP_BROKER } pd_pdp_peer_t;

//  What each command carries after its code, by who sends it to whom:
//  X (command, from, to, both ways, frames, the frames). Counts are exact:
//  a receiver drops any other message (pd_pdp_frames).
#define PD_PDP_FRAMES(X)                                                                           \
    X (READY, WORKER, BROKER, false, 2, "service (name), credit (u16)")                            \
    X (REQUEST, CLIENT, BROKER, false, 5,                                                          \
       "service (name), request_id (u64), timeout_ms (u32), header (msgpack), body (msgpack)")     \
    X (REQUEST, BROKER, WORKER, false, 5,                                                          \
       "client_route (route), request_id (u64), timeout_ms (u32, time left), header, body")        \
    X (REPLY, WORKER, BROKER, false, 4,                                                            \
       "client_route (route), request_id (u64), status (u16), body (msgpack)")                     \
    X (REPLY, BROKER, CLIENT, false, 3, "request_id (u64), status (u16), body (msgpack)")          \
    X (HEARTBEAT, WORKER, BROKER, true, 0, "none")                                                 \
    X (DISCONNECT, WORKER, BROKER, true, 0, "none")                                                \
    X (PUBLISH, WORKER, BROKER, false, 3, "stream (name), seq (u64), event (msgpack)")             \
    X (PUBLISH, CLIENT, BROKER, false, 3, "stream (name), seq (u64), event (msgpack)")

typedef struct {
    const char *name; //  "READY"
    pd_pdp_command_t code;
    pd_pdp_peer_t from;
    pd_pdp_peer_t to;
    bool both_ways;      //  also sent by `to` to `from`
    size_t frames;       //  frames after the code
    const char *content; //  what they are (PROTOCOL.md's table)
} pd_pdp_frames_t;

extern const pd_pdp_frames_t pd_pdp_frames_table[];
extern const size_t pd_pdp_frames_table_size;
#define PD_PDP_MAX_FRAMES 5 //  the most frames any command carries after its code

//  The frames that `receiver` expects after command `code`, or -1 if it
//  gets no such command
int pd_pdp_frames (int code, pd_pdp_peer_t receiver);

//  The PDA1 appliance link's message types (schemas/PROTOCOL.md section 16):
//  X (type, direction, status frame, body record, body when the status is not
//  0, answered by, the service message behind it: what the front sends on
//  (up), what it asks to send it (down); NULL: none). Every message is:
//  signature "PDA1", type, request_id (u64), [status (u16)], body. The front
//  and the SDK check frames by it; the broker lets a front key send the
//  messages of the last column, for appliances only (pd_keys_may_request).
#define PD_LINK_TYPES(X)                                                                           \
    X (claim, PD_LINK_UP, false, claim, NULL, "reply", "claim.link")                               \
    X (report, PD_LINK_UP, false, appliance_report, NULL, "reply", "appliance.status")             \
    X (heartbeat, PD_LINK_UP, false, appliance_report, NULL, NULL, "appliance.heartbeats")         \
    X (escalate, PD_LINK_UP, false, escalation_input, NULL, "reply", "escalation.create")          \
    X (seen, PD_LINK_UP, false, ticket_seen, NULL, NULL, "escalation.seen")                        \
    X (result, PD_LINK_UP, true, command_result, &pd_error_schema, NULL, NULL)                     \
    X (reply, PD_LINK_DOWN, true, empty, &pd_error_schema, NULL, NULL)                             \
    X (command, PD_LINK_DOWN, false, appliance_command, NULL, "result", NULL)                      \
    X (ticket, PD_LINK_DOWN, false, ticket_update, NULL, "seen", "escalation.updates")             \
    X (close, PD_LINK_DOWN, true, empty, &pd_error_schema, NULL, NULL)

typedef enum {
    PD_LINK_UP,  //  appliance -> front
    PD_LINK_DOWN //  front -> appliance
} pd_link_direction_t;

typedef struct {
    const char *name; //  the type frame's text
    pd_link_direction_t direction;
    bool status;                   //  a status frame (u16) comes before the body
    size_t frames;                 //  frames of the message: 4, or 5 with a status
    const pd_schema_t *body;       //  the body's record (reply: per request, see PROTOCOL.md)
    const pd_schema_t *error_body; //  the body when the status is not 0 (NULL: never)
    const char *answered_by;       //  the type that answers it, NULL: none
    const char *carried_by;        //  the service message behind it, NULL: none
} pd_link_type_t;

//  Audit events that end an appliance's link: the front closes the live
//  connection of the event's `subject` with a `close` carrying the status
//  (PROTOCOL.md 16.7). X (event type, status)
#define PD_LINK_ENDING_EVENTS(X) X ("appliance.revoked", PD_E_APPLIANCE_REVOKED)

//  The events partners are notified of (issue 10), each a bit of a
//  channel's or an override's event mask: X (name, event type)
#define PD_NOTIFY_EVENTS(X)                                                                        \
    X (OPENED, "escalation.opened")                                                                \
    X (ACKNOWLEDGED, "escalation.acknowledged")                                                    \
    X (RESOLVED, "escalation.resolved")                                                            \
    X (REOPENED, "escalation.reopened")                                                            \
    X (SLA_WARNING, "sla.warning")                                                                 \
    X (SLA_BREACHED, "sla.breached")                                                               \
    X (APPLIANCE_OFFLINE, "appliance.offline")                                                     \
    X (APPLIANCE_ONLINE, "appliance.online")

typedef enum {
#define S_NOTIFY_BIT(name, type) PD_NOTIFY_BIT_##name,
    PD_NOTIFY_EVENTS (S_NOTIFY_BIT)
#undef S_NOTIFY_BIT
        PD_NOTIFY_EVENT_COUNT
} pd_notify_bit_t;

//  The mask bit of event `type` (0 if partners are not notified of it)
uint32_t pd_notify_event_bit (const char *type);

//  Escalation events that change a ticket's status: each writes the
//  ticket's change to escalation_outbox for the appliance that raised it,
//  and the front, following the escalation stream, has it sent down that
//  appliance's link (a `ticket`) if it is connected (PROTOCOL.md 16.3)
#define PD_TICKET_UPDATE_EVENTS(X)                                                                 \
    X ("escalation.acknowledged") X ("escalation.resolved") X ("escalation.reopened")

//  Is event `type` one of PD_TICKET_UPDATE_EVENTS?
bool pd_ticket_update_event (const char *type);

#define PD_LINK_SIGNATURE "PDA1"
#define PD_LINK_TYPE_MAX  16 //  bytes of a type frame

//  The link's types, and one by its type frame (NULL if unknown)
extern const pd_link_type_t pd_link_types[];
extern const size_t pd_link_types_size;
const pd_link_type_t *pd_link_type_find (const void *name, size_t size);

//  Tables of the store. Index tables map an index key to a primary key.
#define PD_STORE_TABLES(X)                                                                         \
    X (partners, &pd_partner_schema) /* id -> partner */                                           \
    X (partners_by_name, NULL)       /* lower-cased name -> partner id (unique) */                 \
    X (apikeys, &pd_apikey_schema)   /* key prefix -> apikey */                                    \
    X (events, NULL)                 /* stream, 0, seq -> event (pd_store_batch_append) */         \
    X (partners_by_org, NULL)        /* provider:org id -> partner id (unique) */                  \
    X (approved_domains, &pd_approved_domain_schema) /* domain -> approved_domain */               \
    X (users, &pd_user_schema)                       /* id -> user */                              \
    X (users_by_email, NULL)                         /* lower-cased email -> user id (unique) */   \
    X (users_by_identity, NULL)                      /* provider:subject -> user id (unique) */    \
    X (magic_links, &pd_magic_record_schema)         /* token id -> magic_record */                \
    X (sessions, &pd_session_record_schema)          /* session id -> session_record */            \
    X (oauth_states, &pd_oauth_state_schema)         /* state -> oauth_state */                    \
    X (ratelimits, &pd_ratelimit_schema) /* "source:IP" / "partner:ID" -> failure window */        \
    X (provisions, &pd_provision_schema) /* id -> provision */                                     \
    X (provisions_by_code, NULL)         /* code -> provision id (unique) */                       \
    X (sites, &pd_site_schema)           /* id -> site */                                          \
    X (sites_by_name, NULL)              /* partner id:lower-cased name -> site id (unique) */     \
    X (appliances, &pd_appliance_info_schema) /* id -> appliance */                                \
    X (appliance_keys, NULL)     /* CURVE public key (Z85) -> appliance id (unique) */             \
    X (appliance_tokens, NULL)   /* token id -> appliance id */                                    \
    X (appliances_by_site, NULL) /* PD_OWNER_INDEXES */                                            \
    X (provisions_by_partner, NULL)                                                                \
    X (sites_by_partner, NULL)                                                                     \
    X (users_by_partner, NULL)                                                                     \
    X (escalations, &pd_escalation_schema)               /* id -> escalation */                    \
    X (escalation_keys, &pd_escalation_key_schema)       /* site id/dedup key -> escalation_key */ \
    X (escalation_timeline, &pd_escalation_entry_schema) /* ticket id/entry -> escalation_entry */ \
    X (escalations_by_partner, NULL)                     /* PD_OWNER_INDEXES */                    \
    X (sla_definitions, &pd_sla_policy_schema)           /* partner id -> sla_policy */            \
    X (sla_deadlines, &pd_sla_deadline_schema)           /* due/ticket id/kind -> sla_deadline */  \
    X (escalation_outbox, &pd_ticket_update_schema) /* appliance id/ticket id -> ticket_update */

//  Owner indexes: a table's records by the owner a field names, so that an
//  owner's list is a prefix scan, whatever the number of records of other
//  owners. Key "<owner id>/<record id>", empty value. pd_record_index_*
//  keep them; the layout version that added one builds it from the
//  records (pd_record_migrate).
//  X (index table, record table, owner field, layout version that added it)
#define PD_OWNER_INDEXES(X)                                                                        \
    X (appliances_by_site, appliances, site_id, 2)                                                 \
    X (provisions_by_partner, provisions, partner_id, 3)                                           \
    X (sites_by_partner, sites, partner_id, 3)                                                     \
    X (users_by_partner, users, partner_id, 3)                                                     \
    X (escalations_by_partner, escalations, partner_id, 4)

//  Stream names
#define PD_STREAM_AUDIT       "audit"
#define PD_STREAM_ESCALATIONS "escalations" //  every ticket event (PROTOCOL.md section 18)

//  Version of the stored layout; bump with a migration in pd_store's hook
//  2: appliances_by_site (built from the appliances of a version 1 store)
//  3: provisions_by_partner, sites_by_partner, users_by_partner
//  4: escalations_by_partner (with the escalation tables, empty before)
#define PD_STORE_SCHEMA_VERSION 4

//  ------------------------------------------------------------------------
//  Generated declarations

#define PD_GEN_S_STR(R, name, flags, min, max, fmt, choices) char *name;
#define PD_GEN_S_INT(R, name, flags, min, max)               int64_t name;
#define PD_GEN_S_BOOL(R, name, flags)                        bool name;
#define PD_GEN_S_BIN(R, name, flags, min, max)               pd_bin_t name;
#define PD_GEN_S_OBJ(R, name, flags, sub)                    struct pd_##sub##_s *name;
#define PD_GEN_S_LIST(R, name, flags, sub, max)              pd_list_t name;

#define PD_GEN_I_STR(R, name, flags, min, max, fmt, choices) PD_FIELD_##R##_##name,
#define PD_GEN_I_INT(R, name, flags, min, max)               PD_FIELD_##R##_##name,
#define PD_GEN_I_BOOL(R, name, flags)                        PD_FIELD_##R##_##name,
#define PD_GEN_I_BIN(R, name, flags, min, max)               PD_FIELD_##R##_##name,
#define PD_GEN_I_OBJ(R, name, flags, sub)                    PD_FIELD_##R##_##name,
#define PD_GEN_I_LIST(R, name, flags, sub, max)              PD_FIELD_##R##_##name,

#define PD_GEN_RECORD(R)                                                                           \
    typedef struct pd_##R##_s {                                                                    \
        uint64_t present;                                                                          \
        PD_FIELDS_##R (R, PD_GEN_S_STR, PD_GEN_S_INT, PD_GEN_S_BOOL, PD_GEN_S_BIN, PD_GEN_S_OBJ,   \
                       PD_GEN_S_LIST)                                                              \
    } pd_##R##_t;                                                                                  \
    enum {                                                                                         \
        PD_FIELDS_##R (R, PD_GEN_I_STR, PD_GEN_I_INT, PD_GEN_I_BOOL, PD_GEN_I_BIN, PD_GEN_I_OBJ,   \
                       PD_GEN_I_LIST) PD_FIELD_COUNT_##R                                           \
    };                                                                                             \
    extern const pd_schema_t pd_##R##_schema;

PD_RECORDS (PD_GEN_RECORD)

//  The field table of record R (in exactly one .c file per record; the
//  records above get theirs in pd_messages.c). Field tables are static;
//  the schema is pd_R_schema.
#define PD_GEN_T_STR(R, name, flags, min, max, fmt, choices)                                       \
    {#name, PD_T_STR, (flags), offsetof (pd_##R##_t, name), (min), (max), (fmt), (choices), NULL},
#define PD_GEN_T_INT(R, name, flags, min, max)                                                     \
    {#name, PD_T_INT, (flags), offsetof (pd_##R##_t, name), (min), (max), PD_FMT_TEXT, NULL, NULL},
#define PD_GEN_T_BOOL(R, name, flags)                                                              \
    {#name, PD_T_BOOL, (flags), offsetof (pd_##R##_t, name), 0, 1, PD_FMT_TEXT, NULL, NULL},
#define PD_GEN_T_BIN(R, name, flags, min, max)                                                     \
    {#name, PD_T_BIN, (flags), offsetof (pd_##R##_t, name), (min), (max), PD_FMT_TEXT, NULL, NULL},
#define PD_GEN_T_OBJ(R, name, flags, sub)                                                          \
    {#name, PD_T_OBJ,    (flags), offsetof (pd_##R##_t, name), 0,                                  \
     0,     PD_FMT_TEXT, NULL,    &pd_##sub##_schema},
#define PD_GEN_T_LIST(R, name, flags, sub, max)                                                    \
    {#name, PD_T_LIST,   (flags), offsetof (pd_##R##_t, name), 0,                                  \
     (max), PD_FMT_TEXT, NULL,    &pd_##sub##_schema},

//  A record with no fields still gets a one-entry array (C has no empty
//  initialisers); field_count says how many entries are real.
#define PD_GEN_TABLE(R)                                                                            \
    static const pd_field_t pd_gen_fields_##R[] = {                                                \
        PD_FIELDS_##R (R, PD_GEN_T_STR, PD_GEN_T_INT, PD_GEN_T_BOOL, PD_GEN_T_BIN, PD_GEN_T_OBJ,   \
                       PD_GEN_T_LIST){NULL, PD_T_STR, 0, 0, 0, 0, PD_FMT_TEXT, NULL, NULL}};       \
    _Static_assert(PD_FIELD_COUNT_##R <= PD_SCHEMA_MAX_FIELDS,                                     \
                   "record " #R " has too many fields");                                           \
    const pd_schema_t pd_##R##_schema = {#R, sizeof (pd_##R##_t), PD_FIELD_COUNT_##R,              \
                                         pd_gen_fields_##R};

//  Mark a field of a record present / test it:
//      PD_MARK (&partner, partner, revenue_share_percent);
#define PD_MARK(rec, R, f) ((rec)->present |= (UINT64_C (1) << PD_FIELD_##R##_##f))
#define PD_HAS(rec, R, f)  ((((rec)->present) >> PD_FIELD_##R##_##f) & 1)

//  The message catalogue
typedef struct {
    const char *type;    //  "partner.create"
    const char *service; //  "partners"
    const pd_schema_t *request;
    const pd_schema_t *reply;
} pd_message_t;

//  Look a message type up; NULL if unknown.
const pd_message_t *pd_message_find (const char *type);

//  All message types, for iteration (API description, tests)
extern const pd_message_t pd_message_catalogue[];
extern const size_t pd_message_catalogue_size;

//  The store tables, each declared with the record it holds:
//  pd_table_partners, pd_table_users_by_email, ... (PD_STORE_TABLES)
#define PD_GEN_TABLE_DECL(name, schema) extern const pd_table_t pd_table_##name;
PD_STORE_TABLES (PD_GEN_TABLE_DECL)
#undef PD_GEN_TABLE_DECL

//  All store table names, NULL-terminated, for pd_store_new
extern const char *const pd_store_table_names[];

//  The owner indexes (PD_OWNER_INDEXES): pd_index_users_by_partner, ...
#define PD_GEN_INDEX_DECL(index, table, field, since)                                              \
    extern const pd_owner_index_t pd_index_##index;
PD_OWNER_INDEXES (PD_GEN_INDEX_DECL)
#undef PD_GEN_INDEX_DECL
extern const pd_owner_index_t *const pd_owner_indexes[]; //  NULL-terminated

#ifdef __cplusplus
}
#endif
#endif
