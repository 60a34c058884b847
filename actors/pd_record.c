/*  pd_record - schema records in the store (see pd_record.h) */
#include "pd_record.h"

#include <stdlib.h>
#include <string.h>

int
pd_record_get (pd_store_t *store, const char *table, const char *key, const pd_schema_t *schema,
               void *record, uint64_t *version)
{
    pd_store_value_t value = {0};
    int rc = pd_store_get (store, table, key, strlen (key), &value);
    if (rc == PD_OK && pd_schema_decode (schema, value.data, value.size, record, NULL) != PD_OK)
        rc = PD_E_INTERNAL;
    if (rc == PD_OK && version)
        *version = value.version;
    pd_store_value_clear (&value);
    return rc;
}

int
pd_record_put (pd_store_batch_t *batch, const char *table, const char *key,
               const pd_schema_t *schema, const void *record, uint64_t expect)
{
    uint8_t *data = NULL;
    size_t size = 0;
    int rc = pd_schema_encode (schema, record, &data, &size);
    if (rc == PD_OK)
        rc = pd_store_batch_put (batch, table, key, strlen (key), data, size, expect);
    free (data);
    return rc;
}
