/*  pd_retry - when a failed delivery is tried again, and when it is dead

    Exponential back-off with full jitter (AWS's name for it: each wait is
    uniform in [0, cap], so that receivers coming back are not stampeded):
    the cap is PD_RETRY_BASE_MS doubled at each failure, at most
    PD_RETRY_CAP_MS; a receiver's Retry-After is a floor. After
    PD_RETRY_ATTEMPTS attempts the delivery is dead (dead letter).

    Caps after attempt 1..12: 1, 2, 4, 8, 16, 32, 64, 128, 256 min, then
    6 h three times: at most 26.5 h from the first failure to the last
    attempt, about 13 h on average. Pure: the caller gives the random
    draw, so that tests (and the injectable clock) decide it.
*/
#ifndef PD_RETRY_H_INCLUDED
#define PD_RETRY_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PD_RETRY_ATTEMPTS     13                   //  the first and 12 retries
#define PD_RETRY_BASE_MS      (60 * 1000LL)        //  the cap after the first failure
#define PD_RETRY_CAP_MS       (6 * 3600 * 1000LL)  //  no wait is longer (Retry-After aside)
#define PD_RETRY_AFTER_MAX_MS (24 * 3600 * 1000LL) //  a Retry-After honoured up to this

//  The cap of the wait after failed attempt `attempt` (1-based)
int64_t pd_retry_cap_ms (int attempt);

//  The wait after failed attempt `attempt`: `draw` (uniform over uint32)
//  scaled into [0, cap], at least retry_after_s (0: none; at most
//  PD_RETRY_AFTER_MAX_MS). -1 when no attempt follows (dead).
int64_t pd_retry_delay_ms (int attempt, int retry_after_s, uint32_t draw);

#ifdef __cplusplus
}
#endif
#endif
