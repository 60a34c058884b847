/*  fuzz_routes - route matching and percent-decoding against any path */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pd_routes.h"
#include "pd_fuzz_thread.h"

#define S_MAX_PATH 4096

static void
s_one_input (const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    if (size < 1 || size > S_MAX_PATH)
        return;
    char path[S_MAX_PATH + 1];
    memcpy (path, data + 1, size - 1);
    path[size - 1] = 0;
    pd_route_params_t params;
    bool other = false;
    const pd_route_t *route = pd_routes_match (methods[data[0] % 5], path, &params, &other);
    if (route && params.count > PD_ROUTE_MAX_PARAMS)
        abort ();
    for (size_t i = 0; route && i < params.count; i++)
        if (strlen (params.values[i]) > PD_ROUTE_MAX_PARAM || strchr (params.values[i], '/'))
            abort ();
    char allow[64];
    pd_routes_allow (path, allow, sizeof (allow));
    char decoded[S_MAX_PATH + 1];
    pd_routes_decode (path, strlen (path), decoded, sizeof (decoded), data[0] & 1);
}

//  On a thread with the gateway workers' stack, as in production
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    pd_fuzz_thread_run (s_one_input, data, size);
    return 0;
}
