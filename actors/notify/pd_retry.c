/*  pd_retry - when a failed delivery is tried again (see pd_retry.h)
 */
#include "pd_retry.h"

int64_t
pd_retry_cap_ms (int attempt)
{
    if (attempt < 1)
        attempt = 1;
    int64_t cap = PD_RETRY_BASE_MS;
    for (int i = 1; i < attempt && cap < PD_RETRY_CAP_MS; i++)
        cap *= 2;
    return cap < PD_RETRY_CAP_MS ? cap : PD_RETRY_CAP_MS;
}

int64_t
pd_retry_delay_ms (int attempt, int retry_after_s, uint32_t draw)
{
    if (attempt >= PD_RETRY_ATTEMPTS)
        return -1;
    int64_t cap = pd_retry_cap_ms (attempt);
    int64_t wait = (int64_t)(((unsigned __int128)cap * draw) / UINT32_MAX);
    int64_t floor = (int64_t)retry_after_s * 1000;
    if (floor > PD_RETRY_AFTER_MAX_MS)
        floor = PD_RETRY_AFTER_MAX_MS;
    return wait > floor ? wait : floor;
}
