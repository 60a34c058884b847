/*  pd_caller - who is calling (see pd_caller.h) */
#include "pd_caller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <czmq.h>

#include "pd_apikey.h"
#include "pd_appliance_keys.h"
#include "pd_ratelimit.h"
#include "pd_session.h"

#define S_ID_SIZE        (PD_ID_MAX + 1)
#define S_LIMIT_KEY_SIZE 96 //  "partner:" / "source:" + at most 64 bytes
#define S_MS_PER_S       1000

//  The credential itself: PD_OK with the principal, or why not; partner_id
//  gets the partner it names, if any, right or wrong
static int
s_judge (pd_store_t *store, const pd_credential_t *credential, int64_t now_ms,
         pd_principal_t *principal, char *partner_id, size_t size, pd_schema_error_t *err)
{
    const char *id = credential->id;
    const uint8_t *hash = credential->hash.data;
    size_t hash_size = credential->hash.size;
    if (strcmp (credential->kind, "session") == 0) {
        //  Not said is unsafe: the CSRF token is then required
        bool unsafe = !PD_HAS (credential, credential, unsafe) || credential->unsafe;
        int rc =
            pd_session_resolve_hashed (store, id, hash, hash_size, credential->csrf_hash.data,
                                       credential->csrf_hash.size, unsafe, now_ms, principal, err);
        if (principal->partner_id)
            snprintf (partner_id, size, "%s", principal->partner_id);
        return rc;
    }
    if (pd_token_id_is (id, PD_TOKEN_APPLIANCE))
        return pd_appliance_keys_resolve (store, id, hash, hash_size, principal, partner_id, size,
                                          err);
    if (pd_token_id_is (id, PD_TOKEN_ADMIN_KEY) || pd_token_id_is (id, PD_TOKEN_PARTNER_KEY))
        return pd_apikey_resolve (store, id, hash, hash_size, principal, partner_id, size, err);
    return pd_schema_fail (err, PD_E_UNAUTHORIZED, NULL, "invalid API key");
}

//  A wrong credential: counted against `key`, or, when `key` is over its
//  limit already, PD_E_RATE_LIMITED with a Retry-After. PD_OK when counted.
static int
s_count (pd_store_t *store, const char *key, const pd_ratelimit_policy_t *policy, int64_t now_ms,
         pd_schema_error_t *err, int *retry_after_s)
{
    int rc = pd_ratelimit_attempt (store, key, policy, now_ms, retry_after_s);
    if (rc == PD_E_RATE_LIMITED)
        return pd_schema_fail (err, rc, NULL, "too many failed attempts; retry later");
    if (rc != PD_OK)
        zsys_warning ("caller: failure not counted key=%s rc=%s", key, pd_status_code (rc));
    return PD_OK;
}

int
pd_caller_resolve (pd_store_t *store, const pd_config_t *config, const pd_credential_t *credential,
                   const char *source, int64_t now_ms, pd_principal_t *principal,
                   pd_schema_error_t *err, int *retry_after_s)
{
    *retry_after_s = 0;
    char partner_id[S_ID_SIZE] = "";
    int rc = s_judge (store, credential, now_ms, principal, partner_id, sizeof (partner_id), err);
    if (rc != PD_E_UNAUTHORIZED)
        return rc;

    int64_t window_ms = config->login_window_s * S_MS_PER_S;
    pd_ratelimit_policy_t source_policy = {config->login_failures_per_source, window_ms};
    pd_ratelimit_policy_t partner_policy = {config->login_failures_per_partner, window_ms};
    char source_key[S_LIMIT_KEY_SIZE], partner_key[S_LIMIT_KEY_SIZE];
    pd_ratelimit_source_key ("source", source, source_key, sizeof (source_key));
    snprintf (partner_key, sizeof (partner_key), "partner:%s", partner_id);
    pd_schema_error_t limited_err = {0};
    int limited = s_count (store, source_key, &source_policy, now_ms, &limited_err, retry_after_s);
    if (*partner_id && limited == PD_OK)
        limited =
            s_count (store, partner_key, &partner_policy, now_ms, &limited_err, retry_after_s);
    if (limited == PD_OK)
        return rc;
    if (err)
        *err = limited_err;
    return limited;
}

int
pd_caller_judge (pd_store_t *store, const pd_config_t *config, pd_header_t *header, int64_t now_ms,
                 pd_schema_error_t *err, int *retry_after_s)
{
    *retry_after_s = 0;
    //  The gateway always names who may call; a credential without it is
    //  no request the gateway made
    if (header->credential && !header->access)
        return pd_schema_fail (err, PD_E_FORBIDDEN, NULL, "a credential needs an access");
    if (header->credential) {
        if (header->principal)
            pd_schema_clear (&pd_principal_schema, header->principal);
        else
            header->principal = calloc (1, sizeof (pd_principal_t));
        if (!header->principal)
            return PD_E_INTERNAL;
        PD_MARK (header, header, principal);
        int rc = pd_caller_resolve (store, config, header->credential, header->source, now_ms,
                                    header->principal, err, retry_after_s);
        if (rc != PD_OK)
            return rc;
    }
    const char *kind = header->principal ? header->principal->kind : "public";
    if (!pd_caller_allows (header->access, kind))
        return pd_schema_fail (err, PD_E_FORBIDDEN, NULL, "this caller may not call this endpoint");
    return PD_OK;
}

bool
pd_caller_allows (const char *access, const char *kind)
{
    if (!access || strcmp (access, "public") == 0)
        return true;
    if (!kind)
        return false;
    if (strcmp (access, "any") == 0)
        return strcmp (kind, "admin") == 0 || strcmp (kind, "partner") == 0;
    return strcmp (access, kind) == 0;
}
