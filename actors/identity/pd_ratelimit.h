/*  pd_ratelimit - failure counting for sign-ins and keys

    Failed logins, bad keys and bad magic tokens are counted per client
    address ("source:<ip>") and, where the attempt names one, per partner
    ("partner:<id>"), in fixed windows kept in the store (table
    "ratelimits"), so the limit holds across every actor thread and
    process. A credential is judged first: a right one always passes (so
    that failures from a shared address, behind a proxy or NAT, never lock
    out the users and keys that are right); a wrong one is counted
    (pd_ratelimit_attempt), and once its address or partner is over the
    limit it is refused with PD_E_RATE_LIMITED and a Retry-After until the
    window ends. Credentials are high-entropy tokens, so being able to keep
    guessing at 429s teaches nothing; what the limit takes away is the
    cheap flood of writes and log lines.
*/
#ifndef PD_RATELIMIT_H_INCLUDED
#define PD_RATELIMIT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "pd_store.h"

#ifdef __cplusplus
extern "C" {
#endif

//  A policy whose limit or window_ms is below 1 limits nothing.
typedef struct {
    int64_t limit; //  failures allowed in a window
    int64_t window_ms;
} pd_ratelimit_policy_t;

//  The key under which what client address `source` does is counted:
//  "<kind>:<address>", an IPv6 address by its /64 ("source:2001:db8:1:2::/64":
//  one subscriber's prefix is one client, as at admission), "<kind>:unknown"
//  for none. Into key (size bytes, PD_RATELIMIT_KEY_MAX is enough for a kind
//  of up to 16 bytes).
#define PD_RATELIMIT_KEY_MAX 96
void pd_ratelimit_source_key (const char *kind, const char *source, char *key, size_t size);

//  PD_OK if `key` may try now; PD_E_RATE_LIMITED with *retry_after_s (>= 1)
//  if it is over its limit.
int pd_ratelimit_check (pd_store_t *store, const char *key, const pd_ratelimit_policy_t *policy,
                        int64_t now_ms, int *retry_after_s);

//  Count one failure against `key` (committed durably on its own; a race
//  with other counters is retried, so concurrent failures are all counted).
int pd_ratelimit_fail (pd_store_t *store, const char *key, const pd_ratelimit_policy_t *policy,
                       int64_t now_ms);

//  An attempt that counts whatever it brings: a claim or a sign-in start
//  (they cost the server something either way), or a credential that did
//  not verify (pd_ratelimit.h above). PD_OK and counted, or
//  PD_E_RATE_LIMITED with *retry_after_s when `key` has used up its window:
//  then nothing is written, so a flood of them costs no store writes.
int pd_ratelimit_attempt (pd_store_t *store, const char *key, const pd_ratelimit_policy_t *policy,
                          int64_t now_ms, int *retry_after_s);

//  pd_ratelimit_attempt inside the caller's change: the count goes into
//  `batch` (version-checked), so that it is durable with what it limits, in
//  one commit. The commit fails PD_E_CONFLICT or PD_E_EXISTS when another
//  counter came first: the caller reads again and retries, as it does for
//  its own records. PD_OK (counted in batch), PD_E_RATE_LIMITED with
//  *retry_after_s (nothing added), or a store error.
int pd_ratelimit_count (pd_store_t *store, pd_store_batch_t *batch, const char *key,
                        const pd_ratelimit_policy_t *policy, int64_t now_ms, int *retry_after_s);

#ifdef __cplusplus
}
#endif
#endif
