/*  pd_apikey - API key records (see pd_apikey.h) */
#include "pd_apikey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <czmq.h>
#include <openssl/crypto.h>

#include "pd_record.h"

int
pd_apikey_put (pd_store_batch_t *batch, const pd_token_t *token, const char *kind,
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
pd_apikey_delete (pd_store_batch_t *batch, const char *key_id)
{
    return pd_store_batch_delete (batch, pd_table_apikeys.name, key_id, strlen (key_id),
                                  PD_STORE_ANY);
}

//  A partner key is good while its partner is active
static int
s_partner_active (pd_store_t *store, const char *partner_id, pd_schema_error_t *err)
{
    if (!partner_id)
        return pd_schema_fail (err, PD_E_UNAUTHORIZED, NULL, "invalid API key");
    pd_partner_t partner = {0};
    int rc = pd_record_get (store, &pd_table_partners, partner_id, &partner, NULL);
    if (rc == PD_E_NOT_FOUND)
        rc = pd_schema_fail (err, PD_E_UNAUTHORIZED, NULL, "invalid API key");
    else if (rc == PD_OK && strcmp (partner.status, "active") != 0)
        rc = pd_schema_fail (err, PD_E_FORBIDDEN, NULL, "partner is %s", partner.status);
    pd_schema_clear (&pd_partner_schema, &partner);
    return rc;
}

int
pd_apikey_resolve (pd_store_t *store, const char *id, const uint8_t *hash, size_t hash_size,
                   pd_principal_t *principal, char *partner_id, size_t partner_id_size,
                   pd_schema_error_t *err)
{
    if (partner_id && partner_id_size)
        *partner_id = 0;
    if (!id || !*id)
        return pd_schema_fail (err, PD_E_UNAUTHORIZED, NULL, "invalid API key");

    pd_apikey_t key = {0};
    int rc = pd_record_get (store, &pd_table_apikeys, id, &key, NULL);
    if (rc == PD_OK && key.partner_id && partner_id && partner_id_size)
        snprintf (partner_id, partner_id_size, "%s", key.partner_id);
    if (rc == PD_E_NOT_FOUND ||
        (rc == PD_OK && !pd_token_hash_equal (hash, hash_size, key.hash.data, key.hash.size)))
        rc = pd_schema_fail (err, PD_E_UNAUTHORIZED, NULL, "invalid API key");
    if (rc == PD_OK && strcmp (key.kind, "partner") == 0)
        rc = s_partner_active (store, key.partner_id, err);
    if (rc == PD_OK && (pd_schema_set_str (&principal->kind, key.kind) != PD_OK ||
                        pd_schema_set_str (&principal->key_id, key.id) != PD_OK ||
                        pd_schema_set_str (&principal->partner_id, key.partner_id) != PD_OK))
        rc = PD_E_INTERNAL;
    pd_schema_clear (&pd_apikey_schema, &key);
    return rc;
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
pd_apikey_bootstrap (pd_store_t *store, const char *key_path, bool *created)
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
    rc = batch ? pd_apikey_put (batch, &token, "admin", NULL, (int64_t)zclock_time ())
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
