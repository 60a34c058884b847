/*  pd_users_actor - partner users, magic links, sign-out (see
    pd_users_actor.h)

    Records: table "users" (id -> user), unique indexes "users_by_email"
    (lower-cased email -> id) and "users_by_identity" ("google:<sub>" ->
    id), table "magic_links" (token id -> magic_record, the token's hash
    only), table "sessions" (through pd_session).

    A magic link is single use: the exchange deletes its record in the same
    batch that opens the session, guarded by the version it read, so of two
    racing exchanges one commits and the other finds the link gone. Failed
    exchanges count against the client's address and the link's partner
    (pd_ratelimit); over the limit, failed exchanges are answered 429 with
    a Retry-After, while a right link still signs in. Every change appends
    an audit event in its transaction.
*/
#include "pd_users_actor.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "pd_ratelimit.h"
#include "pd_record.h"
#include "pd_session.h"
#include "pd_token.h"
#include "pd_user.h"

#define S_ID_TYPE        "usr"
#define S_ID_LENGTH      16
#define S_ID_SIZE        (PD_ID_MAX + 1)
#define S_LIMIT_KEY_SIZE 96         //  "partner:" / "source:" + at most 64 bytes
#define S_URL_MAX        PD_URL_MAX //  magic_link.url
#define S_RETRIES        3          //  read-modify-write attempts on a lost race
#define S_MS_PER_S       1000
#define S_ROLE_DEFAULT   "partner-user"
#define S_ACTIVE         "active"
#define S_DISABLED       "disabled"
#define S_LINK_INVALID   "link already used or invalid"

//  ------------------------------------------------------------------------
//  Helpers

//  Load a user with its version. PD_E_NOT_FOUND if absent.
static int
s_load (pd_store_t *store, const char *id, pd_user_t *user)
{
    return pd_record_load (store, &pd_table_users, id, user);
}

static int
s_put (pd_store_batch_t *batch, const pd_user_t *user, uint64_t expect)
{
    return pd_record_store (batch, &pd_table_users, user->id, user, expect);
}

//  A user of the path's partner; another partner's user answers 404, as
//  if it did not exist
static int
s_load_owned (pd_ctx_t *ctx, const pd_user_ref_t *ref, pd_user_t *user)
{
    pd_schema_clear (&pd_user_schema, user);
    int rc = s_load (pd_ctx_store (ctx), ref->user_id, user);
    if (rc == PD_OK && strcmp (user->partner_id, ref->partner_id) != 0) {
        pd_schema_clear (&pd_user_schema, user);
        rc = PD_E_NOT_FOUND;
    }
    if (rc == PD_E_NOT_FOUND)
        return pd_ctx_fail (ctx, rc, "user_id", "no user %s", ref->user_id);
    return rc;
}

//  PD_OK if the partner exists, else a 404 on field partner_id
static int
s_partner_exists (pd_ctx_t *ctx, const char *partner_id)
{
    pd_store_value_t value = {0};
    int rc = pd_store_get (pd_ctx_store (ctx), pd_table_partners.name, partner_id,
                           strlen (partner_id), &value);
    pd_store_value_clear (&value);
    if (rc == PD_E_NOT_FOUND)
        return pd_ctx_fail (ctx, rc, "partner_id", "no partner %s", partner_id);
    return rc;
}

//  Append an audit event about a user. actor NULL = the caller.
static int
s_audit (pd_ctx_t *ctx, pd_store_batch_t *batch, const char *type, const pd_user_t *user,
         const char *actor, const char *detail)
{
    pd_event_t event = {0};
    event.type = (char *)type;
    event.at = pd_ctx_now (ctx);
    PD_MARK (&event, event, at);
    event.partner_id = user->partner_id;
    event.subject = user->id;
    event.actor = (char *)(actor ? actor : pd_ctx_actor (ctx));
    event.detail = (char *)detail;
    return pd_ctx_emit (ctx, batch, PD_STREAM_AUDIT, &event);
}

static pd_ratelimit_policy_t
s_source_policy (const pd_config_t *config)
{
    pd_ratelimit_policy_t policy = {config->login_failures_per_source,
                                    config->login_window_s * S_MS_PER_S};
    return policy;
}

static pd_ratelimit_policy_t
s_partner_policy (const pd_config_t *config)
{
    pd_ratelimit_policy_t policy = {config->login_failures_per_partner,
                                    config->login_window_s * S_MS_PER_S};
    return policy;
}

//  ------------------------------------------------------------------------
//  Handlers: users

static int
s_user_create (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_user_create_t *req = request;
    pd_user_t *user = reply;
    if (!pd_ctx_allowed (ctx, "admin"))
        return PD_E_FORBIDDEN;
    int rc = s_partner_exists (ctx, req->partner_id);
    if (rc != PD_OK)
        return rc;
    if (pd_schema_set_str (&user->partner_id, req->partner_id) != PD_OK ||
        pd_schema_set_str (&user->email, req->email) != PD_OK ||
        pd_schema_set_str (&user->name, req->name) != PD_OK ||
        pd_schema_set_str (&user->role, req->role ? req->role : S_ROLE_DEFAULT) != PD_OK)
        return PD_E_INTERNAL;

    pd_store_batch_t *batch = pd_store_batch_new ();
    rc = batch ? pd_user_add (batch, user, NULL, pd_ctx_now (ctx)) : PD_E_INTERNAL;
    if (rc == PD_OK)
        rc = s_audit (ctx, batch, "user.created", user, NULL, user->role);
    if (rc == PD_OK)
        rc = pd_ctx_commit (ctx, batch);
    if (rc == PD_OK) {
        //  The user's put is the first operation pd_user_add adds
        user->version = (int64_t)pd_store_batch_version (batch, 0);
        PD_MARK (user, user, version);
    } else if (rc == PD_E_EXISTS)
        //  ids are 95 random bits: the email it is
        rc = pd_ctx_fail (ctx, rc, "email", "a user with this email exists");
    pd_store_batch_destroy (&batch);
    return rc;
}

//  A page of the partner's users in id order, after the cursor. Users of
//  all partners share the table: the scan skips the others.
static int
s_user_list (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_user_list_t *req = request;
    pd_user_page_t *page = reply;
    if (!pd_ctx_allowed (ctx, "admin"))
        return PD_E_FORBIDDEN;
    int rc = s_partner_exists (ctx, req->partner_id);
    if (rc != PD_OK)
        return rc;
    size_t limit = PD_HAS (req, user_list, limit) ? (size_t)req->limit : PD_PAGE_LIMIT_DEFAULT;
    return pd_record_page_of (pd_ctx_store (ctx), &pd_index_users_by_partner, req->partner_id,
                              req->cursor, limit, NULL, NULL, &page->items, &page->next_cursor);
}

//  Disable a user: its sessions and links are refused from the commit on,
//  because resolving and exchanging read the user's status
static int
s_user_disable (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_user_ref_t *req = request;
    pd_user_t *user = reply;
    if (!pd_ctx_allowed (ctx, "admin"))
        return PD_E_FORBIDDEN;
    int rc = PD_E_CONFLICT;
    for (int attempt = 0; attempt < S_RETRIES && rc == PD_E_CONFLICT; attempt++) {
        rc = s_load_owned (ctx, req, user);
        if (rc != PD_OK)
            return rc;
        if (user->status && strcmp (user->status, S_DISABLED) == 0)
            return PD_OK; //  already: nothing to change
        uint64_t version = (uint64_t)user->version;
        user->updated_at = pd_ctx_now (ctx);
        pd_store_batch_t *batch = pd_store_batch_new ();
        rc = batch && pd_schema_set_str (&user->status, S_DISABLED) == PD_OK
                 ? s_put (batch, user, version)
                 : PD_E_INTERNAL;
        if (rc == PD_OK)
            rc = s_audit (ctx, batch, "user.disabled", user, NULL, NULL);
        if (rc == PD_OK)
            rc = pd_ctx_commit (ctx, batch);
        if (rc == PD_OK)
            user->version = (int64_t)pd_store_batch_version (batch, 0);
        pd_store_batch_destroy (&batch);
    }
    return rc;
}

//  ------------------------------------------------------------------------
//  Handlers: magic links

//  public_url + magic_link_path + "?token=" + token, into a malloc'd string
static char *
s_magic_url (const pd_config_t *config, const char *token)
{
    const char *base = config->public_url;
    size_t base_length = strlen (base);
    while (base_length > 0 && base[base_length - 1] == '/')
        base_length--;
    const char *path = config->magic_link_path;
    const char *separator = strchr (path, '?') ? "&" : "?";
    const char *slash = path[0] == '/' ? "" : "/";
    int length = snprintf (NULL, 0, "%.*s%s%s%stoken=%s", (int)base_length, base, slash, path,
                           separator, token);
    if (length < 0 || length > S_URL_MAX)
        return NULL;
    char *url = malloc ((size_t)length + 1);
    if (url)
        snprintf (url, (size_t)length + 1, "%.*s%s%s%stoken=%s", (int)base_length, base, slash,
                  path, separator, token);
    return url;
}

static int
s_magic_create (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_user_ref_t *req = request;
    pd_magic_link_t *link = reply;
    if (!pd_ctx_allowed (ctx, "admin"))
        return PD_E_FORBIDDEN;
    pd_user_t user = {0};
    int rc = s_load_owned (ctx, req, &user);
    if (rc != PD_OK)
        return rc;
    if (!user.status || strcmp (user.status, S_ACTIVE) != 0) {
        pd_schema_clear (&pd_user_schema, &user);
        return pd_ctx_fail (ctx, PD_E_CONFLICT, "user_id", "user is disabled");
    }

    const pd_config_t *config = pd_ctx_config (ctx);
    int64_t now = pd_ctx_now (ctx);
    pd_store_batch_t *batch = NULL;
    char *url = NULL;
    pd_token_t token;
    rc = pd_token_generate (PD_TOKEN_MAGIC, &token);
    if (rc != PD_OK)
        goto cleanup;
    url = s_magic_url (config, token.text);
    if (!url) {
        zsys_error ("users: magic link longer than %d bytes: check public_url and "
                    "magic_link_path",
                    S_URL_MAX);
        rc = PD_E_INTERNAL;
        goto cleanup;
    }

    //  Borrowed strings: the record is encoded, never cleared
    pd_magic_record_t record = {0};
    record.id = token.id;
    record.hash.data = token.hash;
    record.hash.size = sizeof (token.hash);
    record.user_id = user.id;
    record.partner_id = user.partner_id;
    record.created_at = now;
    record.expires_at = now + config->magic_link_ttl_s * S_MS_PER_S;
    PD_MARK (&record, magic_record, created_at);
    PD_MARK (&record, magic_record, expires_at);

    batch = pd_store_batch_new ();
    rc = batch ? pd_record_put (batch, &pd_table_magic_links, token.id, &record, PD_STORE_ABSENT)
               : PD_E_INTERNAL;
    if (rc == PD_OK)
        rc = s_audit (ctx, batch, "user.magic_link_created", &user, NULL, NULL);
    if (rc == PD_OK)
        rc = pd_ctx_commit (ctx, batch);
    if (rc == PD_OK) {
        link->expires_at = record.expires_at;
        PD_MARK (link, magic_link, expires_at);
        if (pd_schema_set_str (&link->url, url) != PD_OK ||
            pd_schema_set_str (&link->user_id, user.id) != PD_OK)
            rc = PD_E_INTERNAL;
    }
cleanup:
    pd_store_batch_destroy (&batch);
    if (url) {
        OPENSSL_cleanse (url, strlen (url));
        free (url);
    }
    OPENSSL_cleanse (&token, sizeof (token));
    pd_schema_clear (&pd_user_schema, &user);
    return rc;
}

//  One exchange attempt: PD_OK with the session in *session, PD_E_CONFLICT
//  if the user changed meanwhile (try again), or the answer's status.
//  partner_id gets the link's partner as soon as it is known.
static int
s_exchange_once (pd_ctx_t *ctx, const char *text, const char *id, pd_session_t *session,
                 char *partner_id, size_t partner_id_size)
{
    pd_store_t *store = pd_ctx_store (ctx);
    const pd_config_t *config = pd_ctx_config (ctx);
    int64_t now = pd_ctx_now (ctx);
    pd_magic_record_t magic = {0};
    pd_user_t user = {0};
    pd_partner_t partner = {0};
    pd_store_batch_t *batch = NULL;

    uint64_t magic_version = 0;
    int rc = pd_record_get (store, &pd_table_magic_links, id, &magic, &magic_version);
    if (rc == PD_E_NOT_FOUND)
        rc = pd_ctx_fail (ctx, PD_E_UNAUTHORIZED, "token", S_LINK_INVALID);
    if (rc != PD_OK)
        goto cleanup;
    snprintf (partner_id, partner_id_size, "%s", magic.partner_id);

    //  The link is judged first: a right one signs in whatever the failure
    //  counts (forged keys naming the partner must not lock its users out)
    if (!pd_token_verify (text, magic.hash.data, magic.hash.size)) {
        rc = pd_ctx_fail (ctx, PD_E_UNAUTHORIZED, "token", S_LINK_INVALID);
        goto cleanup;
    }
    if (magic.expires_at <= now) {
        rc = pd_ctx_fail (ctx, PD_E_UNAUTHORIZED, "token", "link expired");
        goto cleanup;
    }
    rc = s_load (store, magic.user_id, &user);
    if (rc == PD_E_NOT_FOUND || (rc == PD_OK && strcmp (user.partner_id, magic.partner_id) != 0))
        rc = pd_ctx_fail (ctx, PD_E_UNAUTHORIZED, "token", S_LINK_INVALID);
    else if (rc == PD_OK && (!user.status || strcmp (user.status, S_ACTIVE) != 0))
        rc = pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "user is disabled");
    if (rc != PD_OK)
        goto cleanup;
    rc = pd_record_get (store, &pd_table_partners, magic.partner_id, &partner, NULL);
    if (rc == PD_E_NOT_FOUND)
        rc = pd_ctx_fail (ctx, PD_E_UNAUTHORIZED, "token", S_LINK_INVALID);
    else if (rc == PD_OK && strcmp (partner.status, S_ACTIVE) != 0)
        rc = pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "partner is %s", partner.status);
    if (rc != PD_OK)
        goto cleanup;

    //  One batch: the link goes (single use), the session comes, the user
    //  records the sign-in. Operation 1 is the user's put.
    uint64_t user_version = (uint64_t)user.version;
    user.last_login_at = now;
    PD_MARK (&user, user, last_login_at);
    char actor[S_LIMIT_KEY_SIZE];
    snprintf (actor, sizeof (actor), "user:%s", user.id);
    batch = pd_store_batch_new ();
    rc = batch ? pd_store_batch_delete (batch, pd_table_magic_links.name, id, strlen (id),
                                        magic_version)
               : PD_E_INTERNAL;
    if (rc == PD_OK)
        rc = s_put (batch, &user, user_version);
    if (rc == PD_OK)
        rc = pd_session_open (batch, &user, now, config->session_ttl_s * S_MS_PER_S, session);
    if (rc == PD_OK)
        rc = s_audit (ctx, batch, "user.signed_in", &user, actor, "magic_link");
    if (rc == PD_OK)
        rc = pd_ctx_commit (ctx, batch);
    if (rc == PD_OK) {
        session->user->version = (int64_t)pd_store_batch_version (batch, 1);
        PD_MARK (session->user, user, version);
        rc = pd_schema_set_str (&session->status, partner.status);
    } else if (rc == PD_E_NOT_FOUND)
        rc = PD_E_CONFLICT; //  read again: the link is gone, or the user changed
cleanup:
    pd_store_batch_destroy (&batch);
    pd_schema_clear (&pd_partner_schema, &partner);
    pd_schema_clear (&pd_user_schema, &user);
    pd_schema_clear (&pd_magic_record_schema, &magic);
    return rc;
}

static int
s_magic_exchange (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_magic_exchange_t *req = request;
    pd_store_t *store = pd_ctx_store (ctx);
    const pd_config_t *config = pd_ctx_config (ctx);
    int64_t now = pd_ctx_now (ctx);

    char partner_id[S_ID_SIZE] = "";
    char id[PD_TOKEN_PUBLIC_LEN + 1];
    int rc = pd_token_parse (req->token, PD_TOKEN_MAGIC, id);
    if (rc != PD_OK)
        rc = pd_ctx_fail (ctx, PD_E_UNAUTHORIZED, "token", S_LINK_INVALID);
    else {
        //  A lost race reads again: a link used meanwhile is then gone
        rc = PD_E_CONFLICT;
        for (int attempt = 0; attempt < S_RETRIES && rc == PD_E_CONFLICT; attempt++)
            rc = s_exchange_once (ctx, req->token, id, reply, partner_id, sizeof (partner_id));
        if (rc == PD_E_CONFLICT)
            rc = pd_ctx_fail (ctx, rc, NULL, "sign-in raced with a change; try again");
    }
    if (rc != PD_E_UNAUTHORIZED && rc != PD_E_FORBIDDEN)
        return rc;

    //  A refused sign-in counts against the address and the partner the
    //  link names; once either is over its limit it is answered 429. A
    //  right link is judged first and is never refused for the counts.
    char source_key[S_LIMIT_KEY_SIZE], partner_key[S_LIMIT_KEY_SIZE];
    pd_ratelimit_source_key ("source", pd_ctx_source (ctx), source_key, sizeof (source_key));
    snprintf (partner_key, sizeof (partner_key), "partner:%s", partner_id);
    pd_ratelimit_policy_t source_policy = s_source_policy (config);
    pd_ratelimit_policy_t partner_policy = s_partner_policy (config);
    int retry_after = 0;
    int limited = pd_ratelimit_attempt (store, source_key, &source_policy, now, &retry_after);
    if (limited == PD_OK && *partner_id)
        limited = pd_ratelimit_attempt (store, partner_key, &partner_policy, now, &retry_after);
    if (limited == PD_E_RATE_LIMITED) {
        pd_ctx_retry_after (ctx, retry_after);
        return pd_ctx_fail (ctx, limited, NULL, "too many failed sign-ins; retry later");
    }
    if (limited != PD_OK)
        zsys_warning ("users: failure not counted rc=%s", pd_status_code (limited));
    return rc;
}

//  ------------------------------------------------------------------------
//  Handlers: sessions

static int
s_session_logout (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_principal_t *principal = pd_ctx_principal (ctx);
    if (!principal->session_id || !*principal->session_id)
        return pd_ctx_fail (ctx, PD_E_BAD_REQUEST, NULL, "no session to end");
    pd_user_t user = {0}; //  borrowed strings, for the audit event
    user.id = principal->user_id;
    user.partner_id = principal->partner_id;
    char actor[S_LIMIT_KEY_SIZE];
    snprintf (actor, sizeof (actor), "user:%s", principal->user_id ? principal->user_id : "");

    pd_store_batch_t *batch = pd_store_batch_new ();
    int rc = batch ? pd_session_close (batch, principal->session_id) : PD_E_INTERNAL;
    if (rc == PD_OK)
        rc = s_audit (ctx, batch, "user.signed_out", &user, actor, NULL);
    if (rc == PD_OK)
        rc = pd_ctx_commit (ctx, batch);
    pd_store_batch_destroy (&batch);
    return rc;
}

static const pd_handler_t s_handlers[] = {
    {"user.create", s_user_create},
    {"user.list", s_user_list},
    {"user.disable", s_user_disable},
    {"magic.create", s_magic_create},
    {"magic.exchange", s_magic_exchange},
    {"session.logout", s_session_logout},
    {NULL, NULL},
};

//  Stateless: all it knows is in the store
//  ------------------------------------------------------------------------
//  Sweeping: expired sessions, magic links and rate-limit windows are
//  deleted a chunk per tick, so the tables do not grow without end

#define S_SWEEP_MS     60000 //  how often
#define S_SWEEP_CHUNK  500   //  records read per table per round
#define S_SWEEP_ROUNDS 20    //  rounds per tick at most (10,000 records a table)

typedef struct {
    char *sessions_cursor; //  where each table's sweep goes on (NULL = start)
    char *magic_cursor;
    char *ratelimits_cursor;
} self_t;

static void *
s_self_new (pd_store_t *store, const pd_config_t *config)
{
    return calloc (1, sizeof (self_t));
}

static void
s_self_destroy (void **self_p)
{
    self_t *self = *self_p;
    if (self) {
        free (self->sessions_cursor);
        free (self->magic_cursor);
        free (self->ratelimits_cursor);
        free (self);
        *self_p = NULL;
    }
}

static bool
s_session_expired (const void *record, int64_t now, void *arg)
{
    return ((const pd_session_record_t *)record)->expires_at <= now;
}

static bool
s_magic_expired (const void *record, int64_t now, void *arg)
{
    return ((const pd_magic_record_t *)record)->expires_at <= now;
}

//  A window that ended is worth nothing: a new one starts at the next failure
static bool
s_window_over (const void *record, int64_t now, void *window_ms)
{
    return ((const pd_ratelimit_t *)record)->window_start + *(int64_t *)window_ms <= now;
}

static int
s_sweep (void *state, pd_ctx_t *ctx)
{
    self_t *self = state;
    pd_store_t *store = pd_ctx_store (ctx);
    int64_t now = pd_ctx_now (ctx);
    int64_t window_ms = pd_ctx_config (ctx)->login_window_s * S_MS_PER_S;
    //  Chunk after chunk while a table has more to read, within a budget, so
    //  that sweeping keeps up with what the network can create
    int rc = PD_OK;
    for (int round = 0; rc == PD_OK && round < S_SWEEP_ROUNDS; round++) {
        int sessions = pd_record_sweep (store, &pd_table_sessions, s_session_expired, NULL, now,
                                        &self->sessions_cursor, S_SWEEP_CHUNK);
        int links = pd_record_sweep (store, &pd_table_magic_links, s_magic_expired, NULL, now,
                                     &self->magic_cursor, S_SWEEP_CHUNK);
        int windows = pd_record_sweep (store, &pd_table_ratelimits, s_window_over, &window_ms, now,
                                       &self->ratelimits_cursor, S_SWEEP_CHUNK);
        if (sessions < 0 || links < 0 || windows < 0)
            rc = PD_E_INTERNAL;
        if (!self->sessions_cursor && !self->magic_cursor && !self->ratelimits_cursor)
            break; //  every table read to its end
    }
    return rc;
}

const pd_actor_def_t pd_users_actor = {.service = "users",
                                       .handlers = s_handlers,
                                       .state_new = s_self_new,
                                       .state_destroy = s_self_destroy,
                                       .tick_ms = S_SWEEP_MS,
                                       .tick = s_sweep};
