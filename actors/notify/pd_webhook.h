/*  pd_webhook - webhook signatures as Standard Webhooks specify them

    https://www.standardwebhooks.com: a message carries `webhook-id` (its
    unique id, the same for every retry: receivers dedup by it),
    `webhook-timestamp` (seconds since the epoch) and `webhook-signature`,
    a space-separated list of "v1,<base64 of HMAC-SHA256>" over
    "<id>.<timestamp>.<body>", one per secret in force: while a rotated
    secret's grace period runs, both sign, and a receiver accepts either.
    A secret is "whsec_" and the base64 of its key bytes; it is shown to
    the partner once, and stored sealed (pd_envelope).
*/
#ifndef PD_WEBHOOK_H_INCLUDED
#define PD_WEBHOOK_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PD_WEBHOOK_SECRET_PREFIX "whsec_"
#define PD_WEBHOOK_KEY_SIZE      32 //  bytes of a secret we make
#define PD_WEBHOOK_KEY_MAX       64 //  bytes of a secret we accept
//  "whsec_" and the base64 of PD_WEBHOOK_KEY_MAX bytes, and a NUL
#define PD_WEBHOOK_SECRET_MAX     (6 + 4 * ((PD_WEBHOOK_KEY_MAX + 2) / 3) + 1)
#define PD_WEBHOOK_SIGNATURE_SIZE 48  //  "v1," and 44 base64 characters, and a NUL
#define PD_WEBHOOK_SIGNERS_MAX    2   //  secrets that sign at once (current, rotated)
#define PD_WEBHOOK_TOLERANCE_S    300 //  a receiver's window for the timestamp

//  A new secret into `secret` (PD_WEBHOOK_SECRET_MAX bytes). 0 or -1.
int pd_webhook_secret_new (char secret[PD_WEBHOOK_SECRET_MAX]);

//  Is it a secret we can sign with ("whsec_" and base64 of 1..64 bytes)?
bool pd_webhook_secret_valid (const char *secret);

//  The webhook-signature value for the message under each of `secrets`
//  (count 1..PD_WEBHOOK_SIGNERS_MAX), into `header` (size bytes; at least
//  count * PD_WEBHOOK_SIGNATURE_SIZE). 0, or -1 (a secret invalid, too
//  small a buffer).
int pd_webhook_sign (const char *const secrets[], size_t count, const char *id, int64_t timestamp,
                     const void *body, size_t body_size, char *header, size_t size);

//  What a receiver checks: the timestamp within PD_WEBHOOK_TOLERANCE_S of
//  `now` and one of the header's signatures made with `secret`.
bool pd_webhook_verify (const char *secret, const char *id, int64_t timestamp, const void *body,
                        size_t body_size, const char *header, int64_t now);

#ifdef __cplusplus
}
#endif
#endif
