/*  pd_ratelimit - failure counting for sign-ins and keys (see pd_ratelimit.h)

    One record per key in table "ratelimits": {window_start, failures}. A
    window starts at the first failure after the previous one ended and
    lasts policy->window_ms. Counting is a read-modify-write guarded by the
    record's version (or its absence), retried when another thread or
    process counted in between, so that no failure is lost.

    Retries end: of the contenders that read the same version, the store's
    writer commits one; and a key takes at most `limit` counts per window
    (over the limit nothing is written: the key is refused until the window
    ends whatever the count), plus one write that opens the next window.
    So a contender loses at most about 2 * limit rounds in a row; the
    attempt bound below only guards against a bug. (A bound of a few
    attempts is not enough: with group commit, whoever queues first after
    a commit wins, and a slow thread can lose many rounds running.)
*/
#include "pd_ratelimit.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <assert.h>
#include <limits.h>
#include <stdbool.h>

#include "pd_messages.h"
#include "pd_record.h"

#define S_RETRIES   16        //  attempts beyond the 2 * limit that contention may take
#define S_LIMIT_CAP (1 << 20) //  limits above this bound the attempts as this would
#define S_MS_PER_S  1000

static bool
s_enabled (const pd_ratelimit_policy_t *policy)
{
    return policy->limit > 0 && policy->window_ms > 0;
}

//  Does the window that began at window_start still run at now?
static bool
s_window_open (const pd_ratelimit_t *record, const pd_ratelimit_policy_t *policy, int64_t now_ms)
{
    return now_ms >= record->window_start && now_ms - record->window_start < policy->window_ms;
}

//  Seconds until the open window of a used-up record ends (>= 1)
static int
s_retry_after (const pd_ratelimit_t *record, const pd_ratelimit_policy_t *policy, int64_t now_ms)
{
    int64_t left_ms = record->window_start + policy->window_ms - now_ms; //  > 0
    int64_t seconds = (left_ms + S_MS_PER_S - 1) / S_MS_PER_S;
    return seconds < 1 ? 1 : seconds > INT_MAX ? INT_MAX : (int)seconds;
}

//  Count one more on `record` (read at `version`, PD_STORE_ABSENT if it was
//  not there) in `batch`
static int
s_count_put (pd_store_batch_t *batch, const char *key, pd_ratelimit_t *record, bool open,
             int64_t now_ms, uint64_t expect)
{
    if (open)
        record->failures++;
    else {
        record->window_start = now_ms;
        record->failures = 1;
    }
    PD_MARK (record, ratelimit, window_start);
    PD_MARK (record, ratelimit, failures);
    return pd_record_put (batch, &pd_table_ratelimits, key, record, expect);
}

int
pd_ratelimit_check (pd_store_t *store, const char *key, const pd_ratelimit_policy_t *policy,
                    int64_t now_ms, int *retry_after_s)
{
    assert (store && key && policy && retry_after_s);
    *retry_after_s = 0;
    if (!s_enabled (policy))
        return PD_OK;
    pd_ratelimit_t record = {0};
    int rc = pd_record_get (store, &pd_table_ratelimits, key, &record, NULL);
    if (rc == PD_E_NOT_FOUND)
        return PD_OK;
    if (rc != PD_OK)
        return rc;
    if (!s_window_open (&record, policy, now_ms) || record.failures < policy->limit)
        return PD_OK;
    *retry_after_s = s_retry_after (&record, policy, now_ms);
    return PD_E_RATE_LIMITED;
}

int
pd_ratelimit_fail (pd_store_t *store, const char *key, const pd_ratelimit_policy_t *policy,
                   int64_t now_ms)
{
    assert (store && key && policy);
    if (!s_enabled (policy))
        return PD_OK;
    int64_t limit = policy->limit < S_LIMIT_CAP ? policy->limit : S_LIMIT_CAP;
    int64_t attempts = 2 * limit + S_RETRIES;
    int rc = PD_E_CONFLICT;
    for (int64_t attempt = 0; attempt < attempts && rc == PD_E_CONFLICT; attempt++) {
        pd_ratelimit_t record = {0};
        uint64_t version = 0;
        rc = pd_record_get (store, &pd_table_ratelimits, key, &record, &version);
        if (rc != PD_OK && rc != PD_E_NOT_FOUND)
            return rc;
        uint64_t expect = rc == PD_OK ? version : PD_STORE_ABSENT;
        bool open = rc == PD_OK && s_window_open (&record, policy, now_ms);
        if (open && record.failures >= policy->limit)
            return PD_OK; //  refused until the window ends: nothing to add
        pd_store_batch_t *batch = pd_store_batch_new ();
        rc = batch ? s_count_put (batch, key, &record, open, now_ms, expect) : PD_E_INTERNAL;
        if (rc == PD_OK)
            rc = pd_store_commit (store, batch);
        pd_store_batch_destroy (&batch);
        //  Someone created the record first: count on top of theirs
        if (rc == PD_E_EXISTS)
            rc = PD_E_CONFLICT;
    }
    return rc;
}

int
pd_ratelimit_attempt (pd_store_t *store, const char *key, const pd_ratelimit_policy_t *policy,
                      int64_t now_ms, int *retry_after_s)
{
    int rc = pd_ratelimit_check (store, key, policy, now_ms, retry_after_s);
    if (rc == PD_OK)
        rc = pd_ratelimit_fail (store, key, policy, now_ms);
    return rc;
}

void
pd_ratelimit_source_key (const char *kind, const char *source, char *key, size_t size)
{
    struct in6_addr address;
    char text[INET6_ADDRSTRLEN];
    if (source && inet_pton (AF_INET6, source, &address) == 1 && !IN6_IS_ADDR_V4MAPPED (&address)) {
        memset (address.s6_addr + 8, 0, 8);
        if (inet_ntop (AF_INET6, &address, text, sizeof (text))) {
            snprintf (key, size, "%s:%s/64", kind, text);
            return;
        }
    }
    snprintf (key, size, "%s:%s", kind, source && *source ? source : "unknown");
}

int
pd_ratelimit_count (pd_store_t *store, pd_store_batch_t *batch, const char *key,
                    const pd_ratelimit_policy_t *policy, int64_t now_ms, int *retry_after_s)
{
    assert (store && batch && key && policy && retry_after_s);
    *retry_after_s = 0;
    if (!s_enabled (policy))
        return PD_OK;
    pd_ratelimit_t record = {0};
    uint64_t version = 0;
    int rc = pd_record_get (store, &pd_table_ratelimits, key, &record, &version);
    if (rc != PD_OK && rc != PD_E_NOT_FOUND)
        return rc;
    uint64_t expect = rc == PD_OK ? version : PD_STORE_ABSENT;
    bool open = rc == PD_OK && s_window_open (&record, policy, now_ms);
    if (open && record.failures >= policy->limit) {
        *retry_after_s = s_retry_after (&record, policy, now_ms);
        return PD_E_RATE_LIMITED;
    }
    return s_count_put (batch, key, &record, open, now_ms, expect);
}
