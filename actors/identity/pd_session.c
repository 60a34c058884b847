/*  pd_session - browser sessions of partner users (see pd_session.h)

    Table "sessions": session id (the session token's public id) ->
    session_record with the SHA-256 of the session token and of its CSRF
    token. Resolving reads the session, the user and the partner in turn;
    nothing is cached, so disabling a user or suspending a partner refuses
    its sessions at once.
*/
#include "pd_session.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "pd_record.h"
#include "pd_token.h"

#define S_ACTIVE "active"

int
pd_session_open (pd_store_batch_t *batch, const pd_user_t *user, int64_t now_ms, int64_t ttl_ms,
                 pd_session_t *reply)
{
    assert (batch && user && reply);
    if (!user->id || !user->partner_id || !user->role)
        return PD_E_BAD_REQUEST;
    pd_token_t token, csrf;
    int rc = pd_token_generate (PD_TOKEN_SESSION, &token);
    if (rc == PD_OK)
        rc = pd_token_generate (PD_TOKEN_CSRF, &csrf);
    if (rc != PD_OK)
        goto cleanup;

    //  Borrowed strings: the record is encoded, never cleared
    pd_session_record_t record = {0};
    record.id = token.id;
    record.hash.data = token.hash;
    record.hash.size = sizeof (token.hash);
    record.csrf_hash.data = csrf.hash;
    record.csrf_hash.size = sizeof (csrf.hash);
    record.user_id = user->id;
    record.partner_id = user->partner_id;
    record.role = user->role;
    record.created_at = now_ms;
    record.expires_at = now_ms + ttl_ms;
    PD_MARK (&record, session_record, created_at);
    PD_MARK (&record, session_record, expires_at);
    rc = pd_record_put (batch, &pd_table_sessions, token.id, &record, PD_STORE_ABSENT);
    if (rc != PD_OK)
        goto cleanup;

    pd_user_t *copy = calloc (1, sizeof (pd_user_t));
    if (!copy || pd_schema_copy (&pd_user_schema, copy, user) != PD_OK) {
        free (copy);
        rc = PD_E_INTERNAL;
        goto cleanup;
    }
    if (reply->user)
        pd_schema_clear (&pd_user_schema, reply->user);
    free (reply->user);
    reply->user = copy;
    reply->expires_at = record.expires_at;
    PD_MARK (reply, session, expires_at);
    if (pd_schema_set_str (&reply->session_token, token.text) != PD_OK ||
        pd_schema_set_str (&reply->csrf_token, csrf.text) != PD_OK ||
        pd_schema_set_str (&reply->partner_id, user->partner_id) != PD_OK)
        rc = PD_E_INTERNAL;
cleanup:
    OPENSSL_cleanse (&token, sizeof (token));
    OPENSSL_cleanse (&csrf, sizeof (csrf));
    return rc;
}

//  The user and partner behind a session, both active, else why not
static int
s_check_owner (pd_store_t *store, const pd_session_record_t *session, pd_user_t *user,
               pd_schema_error_t *err)
{
    int rc = pd_record_get (store, &pd_table_users, session->user_id, user, NULL);
    if (rc == PD_E_NOT_FOUND || (rc == PD_OK && strcmp (user->partner_id, session->partner_id)))
        return pd_schema_fail (err, PD_E_UNAUTHORIZED, NULL, "invalid session");
    if (rc != PD_OK)
        return pd_schema_fail (err, rc, NULL, "cannot read the session's user");
    if (!user->status || strcmp (user->status, S_ACTIVE) != 0)
        return pd_schema_fail (err, PD_E_UNAUTHORIZED, NULL, "user is disabled");

    pd_partner_t partner = {0};
    rc = pd_record_get (store, &pd_table_partners, session->partner_id, &partner, NULL);
    if (rc == PD_E_NOT_FOUND)
        rc = pd_schema_fail (err, PD_E_UNAUTHORIZED, NULL, "invalid session");
    else if (rc != PD_OK)
        rc = pd_schema_fail (err, rc, NULL, "cannot read the session's partner");
    else if (strcmp (partner.status, S_ACTIVE) != 0)
        rc = pd_schema_fail (err, PD_E_FORBIDDEN, NULL, "partner is %s", partner.status);
    pd_schema_clear (&pd_partner_schema, &partner);
    return rc;
}

int
pd_session_resolve_hashed (pd_store_t *store, const char *id, const uint8_t *hash, size_t hash_size,
                           const uint8_t *csrf_hash, size_t csrf_hash_size, bool unsafe,
                           int64_t now_ms, pd_principal_t *principal, pd_schema_error_t *err)
{
    assert (store && principal);
    if (!pd_token_id_is (id, PD_TOKEN_SESSION))
        return pd_schema_fail (err, PD_E_UNAUTHORIZED, NULL, "invalid session");

    pd_session_record_t session = {0};
    pd_user_t user = {0};
    int rc = pd_record_get (store, &pd_table_sessions, id, &session, NULL);
    if (rc == PD_E_NOT_FOUND) {
        rc = pd_schema_fail (err, PD_E_UNAUTHORIZED, NULL, "invalid session");
        goto cleanup;
    }
    if (rc != PD_OK) {
        rc = pd_schema_fail (err, rc, NULL, "cannot read the session");
        goto cleanup;
    }
    //  Known from here on, right token or not: failures count against it
    if (pd_schema_set_str (&principal->partner_id, session.partner_id) != PD_OK) {
        rc = PD_E_INTERNAL;
        goto cleanup;
    }
    if (!pd_token_hash_equal (hash, hash_size, session.hash.data, session.hash.size)) {
        rc = pd_schema_fail (err, PD_E_UNAUTHORIZED, NULL, "invalid session");
        goto cleanup;
    }
    if (session.expires_at <= now_ms) {
        rc = pd_schema_fail (err, PD_E_UNAUTHORIZED, NULL, "session expired");
        goto cleanup;
    }
    rc = s_check_owner (store, &session, &user, err);
    if (rc != PD_OK)
        goto cleanup;
    if (unsafe && !pd_token_hash_equal (csrf_hash, csrf_hash_size, session.csrf_hash.data,
                                        session.csrf_hash.size)) {
        rc = pd_schema_fail (err, PD_E_FORBIDDEN, "csrf", "missing or invalid CSRF token");
        goto cleanup;
    }
    //  The user's role now, not at sign-in: a change takes effect at once
    if (pd_schema_set_str (&principal->kind, "partner") != PD_OK ||
        pd_schema_set_str (&principal->user_id, user.id) != PD_OK ||
        pd_schema_set_str (&principal->role, user.role) != PD_OK ||
        pd_schema_set_str (&principal->session_id, session.id) != PD_OK)
        rc = PD_E_INTERNAL;
cleanup:
    pd_schema_clear (&pd_user_schema, &user);
    pd_schema_clear (&pd_session_record_schema, &session);
    return rc;
}

int
pd_session_resolve (pd_store_t *store, const char *token, const char *csrf, bool unsafe,
                    int64_t now_ms, pd_principal_t *principal, pd_schema_error_t *err)
{
    char id[PD_TOKEN_PUBLIC_LEN + 1];
    if (pd_token_parse (token, PD_TOKEN_SESSION, id) != PD_OK)
        return pd_schema_fail (err, PD_E_UNAUTHORIZED, NULL, "invalid session");
    uint8_t hash[PD_TOKEN_HASH_SIZE], csrf_hash[PD_TOKEN_HASH_SIZE];
    pd_token_hash (token, hash);
    bool has_csrf = csrf && *csrf;
    if (has_csrf)
        pd_token_hash (csrf, csrf_hash);
    return pd_session_resolve_hashed (store, id, hash, sizeof (hash), has_csrf ? csrf_hash : NULL,
                                      has_csrf ? sizeof (csrf_hash) : 0, unsafe, now_ms, principal,
                                      err);
}

int
pd_session_close (pd_store_batch_t *batch, const char *session_id)
{
    assert (batch && session_id);
    return pd_store_batch_delete (batch, pd_table_sessions.name, session_id, strlen (session_id),
                                  PD_STORE_ANY);
}
