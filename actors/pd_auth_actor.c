/*  pd_auth_actor - who is calling (see pd_auth_actor.h)

    auth.resolve takes an API key or a session (pd_session), never both.
    A key is refused (PD_E_UNAUTHORIZED, one answer for every cause so that
    callers learn nothing) when its shape or checksum is wrong, when no key
    has its id, or when its hash does not match. A partner key whose
    partner is not active is refused PD_E_FORBIDDEN.

    An appliance token (type PD_TOKEN_APPLIANCE, given once by an HTTP
    claim) resolves to kind "appliance" with its appliance and partner ids,
    through pd_claim_actor_resolve_token: the claim actor owns those
    tables; the token's hash lives on the appliance record, so revoking the
    appliance refuses its token at once (PD_E_FORBIDDEN).

    Wrong credentials are counted (pd_ratelimit) against the client's
    address and against the partner the key id or session names; once
    either is over its limit, wrong credentials are refused
    PD_E_RATE_LIMITED with a Retry-After until the window ends. Right ones
    always pass.
*/
#include "pd_auth_actor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "pd_claim_actor.h"
#include "pd_ratelimit.h"
#include "pd_record.h"
#include "pd_session.h"
#include "pd_token.h"

#define S_ID_SIZE        72 //  ids are at most 64 bytes (schema)
#define S_LIMIT_KEY_SIZE 96 //  "partner:" / "source:" + at most 64 bytes
#define S_MS_PER_S       1000

int
pd_auth_actor_put_key (pd_store_batch_t *batch, const pd_token_t *token, const char *kind,
                       const char *partner_id, int64_t now)
{
    pd_apikey_t key = {0};
    key.id = (char *)token->id;
    key.hash.data = (uint8_t *)token->hash;
    key.hash.size = sizeof (token->hash);
    key.kind = (char *)kind;
    key.partner_id = (char *)partner_id;
    key.created_at = now;
    PD_MARK (&key, apikey, created_at);
    return pd_record_put (batch, &pd_table_apikeys, token->id, &key, PD_STORE_ABSENT);
}

int
pd_auth_actor_delete_key (pd_store_batch_t *batch, const char *key_id)
{
    return pd_store_batch_delete (batch, pd_table_apikeys.name, key_id, strlen (key_id),
                                  PD_STORE_ANY);
}

//  An appliance's token (pd_claim_actor keeps them): kind "appliance"
static int
s_resolve_appliance (pd_ctx_t *ctx, const char *text, pd_principal_t *principal, char *partner_id,
                     size_t partner_id_size)
{
    int rc = pd_claim_actor_resolve_token (pd_ctx_store (ctx), text, principal, partner_id,
                                           partner_id_size);
    if (rc == PD_E_UNAUTHORIZED)
        return pd_ctx_fail (ctx, rc, NULL, "invalid API key");
    if (rc == PD_E_FORBIDDEN)
        return pd_ctx_fail (ctx, rc, NULL, "appliance is not active");
    return rc;
}

//  The partner a presented key names, if its id is a stored partner key
//  (the presented text need not be right): partner_id gets it, or "".
//  Then the key itself: PD_OK with the principal, or why not.
static int
s_resolve_key (pd_ctx_t *ctx, const char *text, pd_principal_t *principal, char *partner_id,
               size_t partner_id_size)
{
    pd_store_t *store = pd_ctx_store (ctx);
    char id[PD_TOKEN_PUBLIC_LEN + 1];
    if (pd_token_parse (text, NULL, id) != PD_OK)
        return pd_ctx_fail (ctx, PD_E_UNAUTHORIZED, NULL, "invalid API key");
    if (strncmp (id, PD_TOKEN_APPLIANCE "_", strlen (PD_TOKEN_APPLIANCE "_")) == 0)
        return s_resolve_appliance (ctx, text, principal, partner_id, partner_id_size);

    pd_apikey_t key = {0};
    int rc = pd_record_get (store, &pd_table_apikeys, id, &key, NULL);
    if (rc == PD_OK && key.partner_id)
        snprintf (partner_id, partner_id_size, "%s", key.partner_id);
    if (rc == PD_E_NOT_FOUND ||
        (rc == PD_OK && !pd_token_verify (text, key.hash.data, key.hash.size)))
        rc = pd_ctx_fail (ctx, PD_E_UNAUTHORIZED, NULL, "invalid API key");
    if (rc != PD_OK)
        goto cleanup;

    if (strcmp (key.kind, "partner") == 0) {
        pd_partner_t partner = {0};
        rc = key.partner_id
                 ? pd_record_get (store, &pd_table_partners, key.partner_id, &partner, NULL)
                 : PD_E_NOT_FOUND;
        if (rc == PD_E_NOT_FOUND)
            rc = pd_ctx_fail (ctx, PD_E_UNAUTHORIZED, NULL, "invalid API key");
        else if (rc == PD_OK && strcmp (partner.status, "active") != 0)
            rc = pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "partner is %s", partner.status);
        pd_schema_clear (&pd_partner_schema, &partner);
        if (rc != PD_OK)
            goto cleanup;
    }
    if (pd_schema_set_str (&principal->kind, key.kind) != PD_OK ||
        pd_schema_set_str (&principal->key_id, key.id) != PD_OK ||
        pd_schema_set_str (&principal->partner_id, key.partner_id) != PD_OK)
        rc = PD_E_INTERNAL;
cleanup:
    pd_schema_clear (&pd_apikey_schema, &key);
    return rc;
}

//  A session cookie (and for unsafe methods its CSRF token), likewise
static int
s_resolve_session (pd_ctx_t *ctx, const pd_auth_resolve_t *req, pd_principal_t *principal,
                   char *partner_id, size_t partner_id_size)
{
    pd_schema_error_t err = {0};
    int rc = pd_session_resolve (pd_ctx_store (ctx), req->session, req->csrf, req->unsafe,
                                 pd_ctx_now (ctx), principal, &err);
    if (principal->partner_id)
        snprintf (partner_id, partner_id_size, "%s", principal->partner_id);
    if (rc != PD_OK)
        rc = pd_ctx_fail (ctx, rc, err.field[0] ? err.field : NULL, "%s",
                          err.detail[0] ? err.detail : "invalid session");
    return rc;
}

//  A wrong credential: counted against `key`, or, when `key` is over its
//  limit already, PD_E_RATE_LIMITED with a Retry-After. PD_OK when counted.
static int
s_refuse (pd_ctx_t *ctx, const char *key, const pd_ratelimit_policy_t *policy)
{
    int retry_after = 0;
    int rc = pd_ratelimit_attempt (pd_ctx_store (ctx), key, policy, pd_ctx_now (ctx), &retry_after);
    if (rc == PD_E_RATE_LIMITED) {
        pd_ctx_retry_after (ctx, retry_after);
        return pd_ctx_fail (ctx, rc, NULL, "too many failed attempts; retry later");
    }
    if (rc != PD_OK)
        zsys_warning ("auth: failure not counted key=%s rc=%s", key, pd_status_code (rc));
    return PD_OK;
}

//  Exactly one credential. It is judged first, and a right one passes
//  whatever the failure counts (pd_ratelimit.h). Only wrong credentials
//  (PD_E_UNAUTHORIZED) count, against the client's address and the partner
//  the credential names; once either is over its limit they are answered
//  429. A refusal of a right credential (partner suspended, CSRF token
//  missing) guesses nothing and counts nothing: counting CSRF refusals
//  would let any web page lock a partner out through its users' browsers,
//  and key ids are public, so forged keys naming a partner must never
//  refuse its right ones.
static int
s_auth_resolve (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_auth_resolve_t *req = request;
    pd_principal_t *principal = reply;
    const pd_config_t *config = pd_ctx_config (ctx);
    int64_t window_ms = config->login_window_s * S_MS_PER_S;
    pd_ratelimit_policy_t source_policy = {config->login_failures_per_source, window_ms};
    pd_ratelimit_policy_t partner_policy = {config->login_failures_per_partner, window_ms};

    char partner_id[S_ID_SIZE] = "";
    int rc;
    if (!req->api_key == !req->session)
        rc = pd_ctx_fail (ctx, PD_E_UNAUTHORIZED, NULL, "present an API key or a session");
    else if (req->api_key)
        rc = s_resolve_key (ctx, req->api_key, principal, partner_id, sizeof (partner_id));
    else
        rc = s_resolve_session (ctx, req, principal, partner_id, sizeof (partner_id));
    if (rc != PD_E_UNAUTHORIZED)
        return rc;

    char source_key[S_LIMIT_KEY_SIZE], partner_key[S_LIMIT_KEY_SIZE];
    snprintf (source_key, sizeof (source_key), "source:%s", pd_ctx_source (ctx));
    snprintf (partner_key, sizeof (partner_key), "partner:%s", partner_id);
    int limited = s_refuse (ctx, source_key, &source_policy);
    if (*partner_id && limited == PD_OK)
        limited = s_refuse (ctx, partner_key, &partner_policy);
    return limited != PD_OK ? limited : rc;
}

static bool
s_has_admin_key (pd_store_t *store)
{
    //  Admin keys have their own id type, so a prefix scan finds them
    pd_store_item_t *items = NULL;
    size_t count = 0;
    const char *prefix = PD_TOKEN_ADMIN_KEY "_";
    int rc = pd_store_scan (store, pd_table_apikeys.name, prefix, strlen (prefix), NULL, 0, 1,
                            &items, &count);
    pd_store_items_destroy (&items, count);
    return rc == PD_OK && count > 0;
}

static int
s_write_key_file (const char *path, const char *text)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? PD_E_EXISTS : PD_E_INTERNAL;
    size_t length = strlen (text);
    bool ok =
        write (fd, text, length) == (ssize_t)length && write (fd, "\n", 1) == 1 && fsync (fd) == 0;
    ok = (close (fd) == 0) && ok;
    if (!ok)
        unlink (path);
    return ok ? PD_OK : PD_E_INTERNAL;
}

int
pd_auth_actor_bootstrap (pd_store_t *store, const char *key_path, bool *created)
{
    *created = false;
    if (s_has_admin_key (store))
        return PD_OK;

    pd_token_t token;
    int rc = pd_token_generate (PD_TOKEN_ADMIN_KEY, &token);
    if (rc != PD_OK)
        return rc;
    //  The file first: a key stored but never shown would lock admins out
    rc = s_write_key_file (key_path, token.text);
    if (rc != PD_OK)
        goto cleanup;

    pd_store_batch_t *batch = pd_store_batch_new ();
    rc = batch ? pd_auth_actor_put_key (batch, &token, "admin", NULL, (int64_t)zclock_time ())
               : PD_E_INTERNAL;
    if (rc == PD_OK)
        rc = pd_store_commit (store, batch);
    pd_store_batch_destroy (&batch);
    if (rc == PD_OK)
        *created = true;
    else
        unlink (key_path);
cleanup:
    OPENSSL_cleanse (&token, sizeof (token));
    return rc;
}

static const pd_handler_t s_handlers[] = {
    {"auth.resolve", s_auth_resolve},
    {NULL, NULL},
};

//  Stateless: all it knows is in the store
const pd_actor_def_t pd_auth_actor = {
    .service = "auth", .handlers = s_handlers, .state_new = NULL, .state_destroy = NULL};
