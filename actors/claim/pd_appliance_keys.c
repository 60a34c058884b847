/*  pd_appliance_keys - who an appliance is (see pd_appliance_keys.h) */
#include "pd_appliance_keys.h"

#include <stdio.h>
#include <string.h>

#include "pd_record.h"
#include "pd_token.h"

#define S_ID_SIZE (PD_ID_MAX + 1)

static bool
s_active (const pd_appliance_info_t *appliance)
{
    return appliance->status && strcmp (appliance->status, "active") == 0;
}

int
pd_appliance_keys_authorize (pd_store_t *store, const char *public_key, char *appliance_id,
                             size_t size)
{
    char id[S_ID_SIZE];
    if (!public_key || !*public_key)
        return PD_E_NOT_FOUND;
    int rc = pd_record_lookup (store, &pd_table_appliance_keys, public_key, id, sizeof (id));
    if (rc != PD_OK)
        return rc;
    pd_appliance_info_t appliance = {0};
    rc = pd_record_get (store, &pd_table_appliances, id, &appliance, NULL);
    if (rc == PD_E_NOT_FOUND)
        rc = PD_E_FORBIDDEN; //  a key bound to nothing: refuse, never re-claim
    else if (rc == PD_OK && !s_active (&appliance))
        rc = PD_E_FORBIDDEN;
    if (rc == PD_OK && appliance_id && size)
        snprintf (appliance_id, size, "%s", id);
    pd_schema_clear (&pd_appliance_info_schema, &appliance);
    return rc;
}

int
pd_appliance_keys_state (pd_store_t *store, const char *appliance_id)
{
    if (!appliance_id || !*appliance_id)
        return PD_E_NOT_FOUND;
    pd_appliance_info_t appliance = {0};
    int rc = pd_record_get (store, &pd_table_appliances, appliance_id, &appliance, NULL);
    if (rc == PD_OK && !s_active (&appliance))
        rc = PD_E_GONE;
    pd_schema_clear (&pd_appliance_info_schema, &appliance);
    return rc;
}

int
pd_appliance_keys_resolve (pd_store_t *store, const char *token_id, const uint8_t *hash,
                           size_t hash_size, pd_principal_t *principal, char *partner_id,
                           size_t size, pd_schema_error_t *err)
{
    char id[S_ID_SIZE];
    if (!pd_token_id_is (token_id, PD_TOKEN_APPLIANCE))
        return pd_schema_fail (err, PD_E_UNAUTHORIZED, NULL, "invalid API key");
    int rc = pd_record_lookup (store, &pd_table_appliance_tokens, token_id, id, sizeof (id));
    if (rc == PD_E_NOT_FOUND)
        return pd_schema_fail (err, PD_E_UNAUTHORIZED, NULL, "invalid API key");
    if (rc != PD_OK)
        return rc;
    pd_appliance_info_t appliance = {0};
    rc = pd_record_get (store, &pd_table_appliances, id, &appliance, NULL);
    if (rc == PD_OK && partner_id && size)
        snprintf (partner_id, size, "%s", appliance.partner_id);
    if (rc == PD_E_NOT_FOUND ||
        (rc == PD_OK && !pd_token_hash_equal (hash, hash_size, appliance.token_hash.data,
                                              appliance.token_hash.size)))
        rc = pd_schema_fail (err, PD_E_UNAUTHORIZED, NULL, "invalid API key");
    else if (rc == PD_OK && !s_active (&appliance))
        rc = pd_schema_fail (err, PD_E_FORBIDDEN, NULL, "appliance is not active");
    if (rc == PD_OK && (pd_schema_set_str (&principal->kind, "appliance") != PD_OK ||
                        pd_schema_set_str (&principal->appliance_id, appliance.id) != PD_OK ||
                        pd_schema_set_str (&principal->partner_id, appliance.partner_id) != PD_OK))
        rc = PD_E_INTERNAL;
    pd_schema_clear (&pd_appliance_info_schema, &appliance);
    return rc;
}
