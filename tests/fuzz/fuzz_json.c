/*  fuzz_json - the gateway's JSON input mapping against any text

    The first byte picks the request record; the rest is the body. What is
    accepted must encode to msgpack and decode back.
*/
#include <stdint.h>
#include <stdlib.h>

#include "pd_messages.h"
#include "pd_fuzz_thread.h"

static void
s_one_input (const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    const pd_schema_t *schema = pd_message_catalogue[data[0] % pd_message_catalogue_size].request;
    void *record = calloc (1, schema->size);
    if (!record)
        return;
    pd_schema_error_t err;
    if (pd_schema_from_json (schema, (const char *)data + 1, size - 1, record, &err) == PD_OK) {
        uint8_t *encoded = NULL;
        size_t encoded_size = 0;
        if (pd_schema_encode (schema, record, &encoded, &encoded_size) == PD_OK) {
            void *again = calloc (1, schema->size);
            //  Required fields may be missing (checked later): decode may say so
            int rc = again ? pd_schema_decode (schema, encoded, encoded_size, again, NULL)
                           : PD_E_INTERNAL;
            if (rc != PD_OK && rc != PD_E_MISSING_FIELD && rc != PD_E_INTERNAL)
                abort ();
            if (again)
                pd_schema_clear (schema, again);
            free (again);
            free (encoded);
        }
    }
    pd_schema_clear (schema, record);
    free (record);
}

//  On a thread with the gateway workers' stack, as in production
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    pd_fuzz_thread_run (s_one_input, data, size);
    return 0;
}
