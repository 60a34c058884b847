/*  pd_envelope - secrets encrypted at rest (envelope encryption)

    A secret (a webhook URL with its token, a routing key, an SMTP
    password, a site credential) is sealed before it is stored: encrypted
    with AES-256-GCM under a data key of its own, made for it at random;
    that data key is itself encrypted (wrapped) with AES-256-GCM under a
    master key, and the sealed bytes carry the master key's id. The
    record's identity (table and key, say "notification_channels/prt_x/3")
    is the additional authenticated data of both: a sealed value copied to
    another record does not open there.

    The master keys live in one file (partnerd's: PD_DATA_MASTER_KEY in the
    data directory, pd_config.h; mode 0600, made at first start): one line per key, "<id> <64 hex
   digits>", the last the current one. Rotating adds a key (pd_envelope_rotate); the old ones stay,
   so that what they wrapped still opens, until every data key is re-wrapped under the new one
   (pd_envelope_rewrap: the secret itself is not decrypted, nor its ciphertext changed).

    Sealed layout (PD_ENVELOPE_MAGIC, then): key id length (1 byte), key id,
    wrap nonce (12), wrapped data key (32), its tag (16), data nonce (12),
    ciphertext (as long as the secret), its tag (16).
*/
#ifndef PD_ENVELOPE_H_INCLUDED
#define PD_ENVELOPE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PD_ENVELOPE_MAGIC     "PDE1"
#define PD_ENVELOPE_ID_MAX    32  //  bytes of a master key id
#define PD_ENVELOPE_KEYS_MAX  64  //  master keys one file may hold
#define PD_ENVELOPE_ERROR_MAX 256 //  a good size for error buffers
//  Bytes a sealed value adds to its secret, at most
#define PD_ENVELOPE_OVERHEAD (4 + 1 + PD_ENVELOPE_ID_MAX + 12 + 32 + 16 + 12 + 16)

typedef struct _pd_envelope_t pd_envelope_t;

//  The master keys of file `path`. With `create`, a missing file is made
//  (mode 0600, one new key). NULL with the reason in `error`: the file is
//  readable by others, not the user's, malformed, or cannot be made.
pd_envelope_t *pd_envelope_new (const char *path, bool create, char *error, size_t error_size);
//  Wipes the keys from memory
void pd_envelope_destroy (pd_envelope_t **self_p);

//  The current master key's id
const char *pd_envelope_current (pd_envelope_t *self);

//  Seal `plain` for the record `aad` names: *sealed (malloc'd) and its
//  size. PD_OK, or PD_E_INTERNAL (no randomness, OOM).
int pd_envelope_seal (pd_envelope_t *self, const char *aad, const void *plain, size_t plain_size,
                      uint8_t **sealed, size_t *sealed_size);

//  Open a sealed value of the record `aad`: *plain (malloc'd, NUL after
//  its plain_size bytes; free with pd_envelope_free). PD_OK;
//  PD_E_MALFORMED (not a sealed value); PD_E_NOT_FOUND (sealed under a
//  master key this file does not hold); PD_E_FORBIDDEN (it does not
//  authenticate: another record's, or altered).
int pd_envelope_open (pd_envelope_t *self, const char *aad, const void *sealed, size_t sealed_size,
                      uint8_t **plain, size_t *plain_size);

//  Wipe and free what pd_envelope_open gave
void pd_envelope_free (uint8_t **plain_p, size_t size);

//  The id of the master key a sealed value names (into id, which holds
//  PD_ENVELOPE_ID_MAX + 1 bytes): PD_OK or PD_E_MALFORMED
int pd_envelope_key_id (const void *sealed, size_t sealed_size, char *id);

//  The same sealed value with its data key wrapped under the current master
//  key (*rewrapped, malloc'd). The data key is checked (and must belong to
//  `aad`); the secret is neither decrypted nor re-encrypted. Statuses as
//  pd_envelope_open.
int pd_envelope_rewrap (pd_envelope_t *self, const char *aad, const void *sealed,
                        size_t sealed_size, uint8_t **rewrapped, size_t *rewrapped_size);

//  Add a new current master key to the file at `path` (written whole to a
//  temporary file, synced, renamed over it). PD_OK, or an error with the
//  reason. Processes that hold the file open see it at their next
//  pd_envelope_new.
int pd_envelope_rotate (const char *path, char *error, size_t error_size);

#ifdef __cplusplus
}
#endif
#endif
