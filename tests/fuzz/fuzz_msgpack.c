/*  fuzz_msgpack - the bounded msgpack decoder against any bytes

    The first byte picks the record (every record of the catalogue is
    reachable); the rest is decoded. Whatever decodes must validate, encode,
    decode again to the same bytes, and render as JSON.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pd_messages.h"
#include "pd_fuzz_thread.h"

static const pd_schema_t *
s_pick (uint8_t selector)
{
    size_t count = pd_message_catalogue_size * 2;
    const pd_message_t *message = &pd_message_catalogue[(selector % count) / 2];
    return selector % 2 ? message->reply : message->request;
}

static void
s_one_input (const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    const pd_schema_t *schema = s_pick (data[0]);
    void *record = calloc (1, schema->size);
    if (!record)
        return;
    if (pd_schema_decode (schema, data + 1, size - 1, record, NULL) == PD_OK) {
        if (pd_schema_validate (schema, record, NULL) != PD_OK)
            abort ();
        uint8_t *encoded = NULL;
        size_t encoded_size = 0;
        if (pd_schema_encode (schema, record, &encoded, &encoded_size) == PD_OK) {
            void *again = calloc (1, schema->size);
            uint8_t *re_encoded = NULL;
            size_t re_size = 0;
            if (!again || pd_schema_decode (schema, encoded, encoded_size, again, NULL) != PD_OK ||
                pd_schema_encode (schema, again, &re_encoded, &re_size) != PD_OK ||
                re_size != encoded_size || memcmp (re_encoded, encoded, re_size) != 0)
                abort ();
            free (re_encoded);
            pd_schema_clear (schema, again);
            free (again);
            free (encoded);
        }
        free (pd_schema_to_json (schema, record));
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
