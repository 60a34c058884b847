/*  pd_envelope - secrets encrypted at rest (see pd_envelope.h)

    AES-256-GCM through OpenSSL's EVP interface, 12-byte random nonces,
    16-byte tags. The wrap's additional data is the sealed value's header
    (magic and key id) and the record's identity; the secret's is the
    record's identity. Every key in memory is wiped (OPENSSL_cleanse)
    before it is freed.
*/
#include "pd_envelope.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "pd_status.h"

#define S_KEY_SIZE   32
#define S_NONCE_SIZE 12
#define S_TAG_SIZE   16
#define S_MAGIC_SIZE 4
#define S_FILE_MAX   (PD_ENVELOPE_KEYS_MAX * (PD_ENVELOPE_ID_MAX + 2 * S_KEY_SIZE + 2))
#define S_PATH_MAX   4096

typedef struct {
    char id[PD_ENVELOPE_ID_MAX + 1];
    uint8_t key[S_KEY_SIZE];
} s_key_t;

struct _pd_envelope_t {
    s_key_t keys[PD_ENVELOPE_KEYS_MAX];
    size_t count; //  keys[count - 1] is the current one
};

//  The parts of a sealed value (pointers into it)
typedef struct {
    char id[PD_ENVELOPE_ID_MAX + 1];
    const uint8_t *header; //  magic and key id: the wrap's additional data
    size_t header_size;
    const uint8_t *wrap_nonce;
    const uint8_t *wrapped; //  S_KEY_SIZE bytes, then its tag
    const uint8_t *data_nonce;
    const uint8_t *ciphertext; //  ciphertext_size bytes, then its tag
    size_t ciphertext_size;
} s_sealed_t;

//  "<path>: <why>" into error
static void
s_fail (char *error, size_t size, const char *path, const char *why)
{
    if (error && size)
        snprintf (error, size, "%s: %s", path, why);
}

//  ------------------------------------------------------------------------
//  AES-256-GCM

//  Encrypt size bytes of `in` into `out` (as many), tag into `tag`
static bool
s_encrypt (const uint8_t key[S_KEY_SIZE], const uint8_t nonce[S_NONCE_SIZE], const uint8_t *aad1,
           size_t aad1_size, const char *aad2, const uint8_t *in, size_t size, uint8_t *out,
           uint8_t tag[S_TAG_SIZE])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new ();
    int length = 0;
    bool ok =
        ctx && EVP_EncryptInit_ex (ctx, EVP_aes_256_gcm (), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_SET_IVLEN, S_NONCE_SIZE, NULL) == 1 &&
        EVP_EncryptInit_ex (ctx, NULL, NULL, key, nonce) == 1 &&
        (!aad1_size || EVP_EncryptUpdate (ctx, NULL, &length, aad1, (int)aad1_size) == 1) &&
        EVP_EncryptUpdate (ctx, NULL, &length, (const uint8_t *)aad2, (int)strlen (aad2)) == 1 &&
        (!size || EVP_EncryptUpdate (ctx, out, &length, in, (int)size) == 1) &&
        EVP_EncryptFinal_ex (ctx, out + (size ? length : 0), &length) == 1 &&
        EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_GET_TAG, S_TAG_SIZE, tag) == 1;
    EVP_CIPHER_CTX_free (ctx);
    return ok;
}

//  Decrypt and authenticate; false if the tag does not match
static bool
s_decrypt (const uint8_t key[S_KEY_SIZE], const uint8_t nonce[S_NONCE_SIZE], const uint8_t *aad1,
           size_t aad1_size, const char *aad2, const uint8_t *in, size_t size, const uint8_t *tag,
           uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new ();
    int length = 0;
    uint8_t expected[S_TAG_SIZE];
    memcpy (expected, tag, S_TAG_SIZE);
    bool ok =
        ctx && EVP_DecryptInit_ex (ctx, EVP_aes_256_gcm (), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_SET_IVLEN, S_NONCE_SIZE, NULL) == 1 &&
        EVP_DecryptInit_ex (ctx, NULL, NULL, key, nonce) == 1 &&
        (!aad1_size || EVP_DecryptUpdate (ctx, NULL, &length, aad1, (int)aad1_size) == 1) &&
        EVP_DecryptUpdate (ctx, NULL, &length, (const uint8_t *)aad2, (int)strlen (aad2)) == 1 &&
        (!size || EVP_DecryptUpdate (ctx, out, &length, in, (int)size) == 1) &&
        EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_SET_TAG, S_TAG_SIZE, expected) == 1 &&
        EVP_DecryptFinal_ex (ctx, out + (size ? length : 0), &length) == 1;
    EVP_CIPHER_CTX_free (ctx);
    return ok;
}

//  ------------------------------------------------------------------------
//  The key file

static int
s_hex_value (char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool
s_id_valid (const char *id, size_t size)
{
    if (size == 0 || size > PD_ENVELOPE_ID_MAX)
        return false;
    for (size_t i = 0; i < size; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
            return false;
    return true;
}

//  Parse the file's text into self; false if malformed
static bool
s_parse (pd_envelope_t *self, const char *text)
{
    for (const char *line = text; *line;) {
        const char *end = strchr (line, '\n');
        if (!end)
            return false; //  every line ends
        const char *space = memchr (line, ' ', (size_t)(end - line));
        if (!space || self->count == PD_ENVELOPE_KEYS_MAX ||
            !s_id_valid (line, (size_t)(space - line)) || end - space - 1 != 2 * S_KEY_SIZE)
            return false;
        s_key_t *key = &self->keys[self->count];
        memcpy (key->id, line, (size_t)(space - line));
        key->id[space - line] = 0;
        for (int i = 0; i < S_KEY_SIZE; i++) {
            int high = s_hex_value (space[1 + 2 * i]), low = s_hex_value (space[2 + 2 * i]);
            if (high < 0 || low < 0)
                return false;
            key->key[i] = (uint8_t)(high << 4 | low);
        }
        for (size_t i = 0; i < self->count; i++)
            if (strcmp (self->keys[i].id, key->id) == 0)
                return false; //  an id twice
        self->count++;
        line = end + 1;
    }
    return self->count > 0;
}

//  A new key, appended
static bool
s_key_add (pd_envelope_t *self)
{
    if (self->count == PD_ENVELOPE_KEYS_MAX)
        return false;
    s_key_t *key = &self->keys[self->count];
    uint8_t tag[8];
    if (RAND_bytes (key->key, S_KEY_SIZE) != 1 || RAND_bytes (tag, sizeof (tag)) != 1)
        return false;
    snprintf (key->id, sizeof (key->id), "mk-%02x%02x%02x%02x%02x%02x%02x%02x", tag[0], tag[1],
              tag[2], tag[3], tag[4], tag[5], tag[6], tag[7]);
    self->count++;
    return true;
}

//  Write every key to `path`, a new file (mode 0600), synced; 0 or -1
static int
s_write (const pd_envelope_t *self, const char *path)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    char line[PD_ENVELOPE_ID_MAX + 2 * S_KEY_SIZE + 3];
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < self->count; k++) {
        int used = snprintf (line, sizeof (line), "%s ", self->keys[k].id);
        for (int i = 0; i < S_KEY_SIZE; i++)
            used +=
                snprintf (line + used, sizeof (line) - (size_t)used, "%02x", self->keys[k].key[i]);
        line[used++] = '\n';
        rc = write (fd, line, (size_t)used) == (ssize_t)used ? 0 : -1;
    }
    OPENSSL_cleanse (line, sizeof (line));
    if (rc == 0)
        rc = fsync (fd);
    if (close (fd) != 0)
        rc = -1;
    return rc;
}

//  Sync the directory of `path`, so that a new name in it is durable
static void
s_sync_dir (const char *path)
{
    char copy[S_PATH_MAX];
    snprintf (copy, sizeof (copy), "%s", path);
    int fd = open (dirname (copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync (fd);
        close (fd);
    }
}

//  Read and check the file; 0, 1 (it does not exist) or -1 (error said)
static int
s_load (pd_envelope_t *self, const char *path, char *error, size_t error_size)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT)
        return 1;
    if (fd < 0) {
        s_fail (error, error_size, path, strerror (errno));
        return -1;
    }
    struct stat info;
    char *text = NULL;
    int rc = -1;
    if (fstat (fd, &info) != 0 || !S_ISREG (info.st_mode))
        s_fail (error, error_size, path, "not a regular file");
    else if (info.st_mode & 077)
        s_fail (error, error_size, path, "refused: its mode lets others read it (chmod 600)");
    else if (info.st_uid != geteuid ())
        s_fail (error, error_size, path, "refused: it is not this user's");
    else if (info.st_size > S_FILE_MAX || !(text = calloc (1, (size_t)info.st_size + 1)))
        s_fail (error, error_size, path, "too large");
    else if (read (fd, text, (size_t)info.st_size) != info.st_size)
        s_fail (error, error_size, path, "cannot be read");
    else if (!s_parse (self, text))
        s_fail (error, error_size, path, "malformed (lines \"<id> <64 hex digits>\")");
    else
        rc = 0;
    if (text) {
        OPENSSL_cleanse (text, (size_t)info.st_size);
        free (text);
    }
    close (fd);
    return rc;
}

pd_envelope_t *
pd_envelope_new (const char *path, bool create, char *error, size_t error_size)
{
    pd_envelope_t *self = (pd_envelope_t *)calloc (1, sizeof (pd_envelope_t));
    if (!self)
        return NULL;
    int rc = s_load (self, path, error, error_size);
    if (rc == 1 && create) {
        rc = s_key_add (self) && s_write (self, path) == 0 ? 0 : -1;
        if (rc == 0)
            s_sync_dir (path);
        else
            s_fail (error, error_size, path, "cannot be created");
    } else if (rc == 1) {
        s_fail (error, error_size, path, strerror (ENOENT));
        rc = -1;
    }
    if (rc != 0)
        pd_envelope_destroy (&self);
    return self;
}

void
pd_envelope_destroy (pd_envelope_t **self_p)
{
    pd_envelope_t *self = *self_p;
    if (!self)
        return;
    OPENSSL_cleanse (self, sizeof (*self));
    free (self);
    *self_p = NULL;
}

const char *
pd_envelope_current (pd_envelope_t *self)
{
    return self->keys[self->count - 1].id;
}

int
pd_envelope_rotate (const char *path, char *error, size_t error_size)
{
    pd_envelope_t *self = pd_envelope_new (path, false, error, error_size);
    if (!self)
        return PD_E_NOT_FOUND;
    char temporary[S_PATH_MAX];
    snprintf (temporary, sizeof (temporary), "%s.new", path);
    unlink (temporary); //  one left by a rotation that died
    int rc = PD_E_INTERNAL;
    if (!s_key_add (self))
        s_fail (error, error_size, path, "no room for another key (or no randomness)");
    else if (s_write (self, temporary) != 0 || rename (temporary, path) != 0)
        s_fail (error, error_size, path, strerror (errno));
    else {
        s_sync_dir (path);
        rc = PD_OK;
    }
    if (rc != PD_OK)
        unlink (temporary);
    pd_envelope_destroy (&self);
    return rc;
}

//  ------------------------------------------------------------------------
//  Sealed values

static const s_key_t *
s_key_find (const pd_envelope_t *self, const char *id)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp (self->keys[i].id, id) == 0)
            return &self->keys[i];
    return NULL;
}

static int
s_split (const void *sealed, size_t size, s_sealed_t *parts)
{
    const uint8_t *bytes = (const uint8_t *)sealed;
    if (!sealed || size < S_MAGIC_SIZE + 1 || memcmp (bytes, PD_ENVELOPE_MAGIC, S_MAGIC_SIZE))
        return PD_E_MALFORMED;
    size_t id_size = bytes[S_MAGIC_SIZE];
    size_t header = S_MAGIC_SIZE + 1 + id_size;
    size_t fixed = header + S_NONCE_SIZE + S_KEY_SIZE + S_TAG_SIZE + S_NONCE_SIZE + S_TAG_SIZE;
    if (id_size > PD_ENVELOPE_ID_MAX || size < fixed ||
        !s_id_valid ((const char *)bytes + S_MAGIC_SIZE + 1, id_size))
        return PD_E_MALFORMED;
    memcpy (parts->id, bytes + S_MAGIC_SIZE + 1, id_size);
    parts->id[id_size] = 0;
    parts->header = bytes;
    parts->header_size = header;
    parts->wrap_nonce = bytes + header;
    parts->wrapped = parts->wrap_nonce + S_NONCE_SIZE;
    parts->data_nonce = parts->wrapped + S_KEY_SIZE + S_TAG_SIZE;
    parts->ciphertext = parts->data_nonce + S_NONCE_SIZE;
    parts->ciphertext_size = size - fixed;
    return PD_OK;
}

//  Unwrap the data key of `parts` into key; PD_OK, PD_E_NOT_FOUND,
//  PD_E_FORBIDDEN
static int
s_unwrap (const pd_envelope_t *self, const s_sealed_t *parts, const char *aad,
          uint8_t key[S_KEY_SIZE])
{
    const s_key_t *master = s_key_find (self, parts->id);
    if (!master)
        return PD_E_NOT_FOUND;
    return s_decrypt (master->key, parts->wrap_nonce, parts->header, parts->header_size, aad,
                      parts->wrapped, S_KEY_SIZE, parts->wrapped + S_KEY_SIZE, key)
               ? PD_OK
               : PD_E_FORBIDDEN;
}

//  Split a sealed value and unwrap its data key: PD_OK or as s_unwrap
static int
s_data_key (const pd_envelope_t *self, const char *aad, const void *sealed, size_t sealed_size,
            s_sealed_t *parts, uint8_t key[S_KEY_SIZE])
{
    int rc = s_split (sealed, sealed_size, parts);
    return rc == PD_OK ? s_unwrap (self, parts, aad, key) : rc;
}

//  Write the header, and the data key wrapped under the current master
//  key, at the start of `out`; the bytes written, 0 on failure
static size_t
s_wrap (const pd_envelope_t *self, const char *aad, const uint8_t key[S_KEY_SIZE], uint8_t *out)
{
    const s_key_t *master = &self->keys[self->count - 1];
    size_t id_size = strlen (master->id);
    memcpy (out, PD_ENVELOPE_MAGIC, S_MAGIC_SIZE);
    out[S_MAGIC_SIZE] = (uint8_t)id_size;
    memcpy (out + S_MAGIC_SIZE + 1, master->id, id_size);
    size_t header = S_MAGIC_SIZE + 1 + id_size;
    uint8_t *nonce = out + header;
    if (RAND_bytes (nonce, S_NONCE_SIZE) != 1 ||
        !s_encrypt (master->key, nonce, out, header, aad, key, S_KEY_SIZE, nonce + S_NONCE_SIZE,
                    nonce + S_NONCE_SIZE + S_KEY_SIZE))
        return 0;
    return header + S_NONCE_SIZE + S_KEY_SIZE + S_TAG_SIZE;
}

int
pd_envelope_seal (pd_envelope_t *self, const char *aad, const void *plain, size_t plain_size,
                  uint8_t **sealed, size_t *sealed_size)
{
    *sealed = NULL;
    *sealed_size = 0;
    uint8_t *out = (uint8_t *)malloc (PD_ENVELOPE_OVERHEAD + plain_size);
    uint8_t key[S_KEY_SIZE];
    size_t used = out && RAND_bytes (key, S_KEY_SIZE) == 1 ? s_wrap (self, aad, key, out) : 0;
    uint8_t *nonce = out + used;
    bool ok = used && RAND_bytes (nonce, S_NONCE_SIZE) == 1 &&
              s_encrypt (key, nonce, NULL, 0, aad, (const uint8_t *)plain, plain_size,
                         nonce + S_NONCE_SIZE, nonce + S_NONCE_SIZE + plain_size);
    OPENSSL_cleanse (key, sizeof (key));
    if (!ok) {
        free (out);
        return PD_E_INTERNAL;
    }
    *sealed = out;
    *sealed_size = used + S_NONCE_SIZE + plain_size + S_TAG_SIZE;
    return PD_OK;
}

int
pd_envelope_open (pd_envelope_t *self, const char *aad, const void *sealed, size_t sealed_size,
                  uint8_t **plain, size_t *plain_size)
{
    *plain = NULL;
    *plain_size = 0;
    s_sealed_t parts = {0};
    uint8_t key[S_KEY_SIZE];
    int rc = s_data_key (self, aad, sealed, sealed_size, &parts, key);
    uint8_t *out = rc == PD_OK ? (uint8_t *)malloc (parts.ciphertext_size + 1) : NULL;
    if (rc == PD_OK && !out)
        rc = PD_E_INTERNAL;
    if (rc == PD_OK &&
        !s_decrypt (key, parts.data_nonce, NULL, 0, aad, parts.ciphertext, parts.ciphertext_size,
                    parts.ciphertext + parts.ciphertext_size, out))
        rc = PD_E_FORBIDDEN;
    OPENSSL_cleanse (key, sizeof (key));
    if (rc != PD_OK) {
        pd_envelope_free (&out, parts.ciphertext_size);
        return rc;
    }
    out[parts.ciphertext_size] = 0;
    *plain = out;
    *plain_size = parts.ciphertext_size;
    return PD_OK;
}

void
pd_envelope_free (uint8_t **plain_p, size_t size)
{
    if (!*plain_p)
        return;
    OPENSSL_cleanse (*plain_p, size);
    free (*plain_p);
    *plain_p = NULL;
}

int
pd_envelope_key_id (const void *sealed, size_t sealed_size, char *id)
{
    s_sealed_t parts;
    int rc = s_split (sealed, sealed_size, &parts);
    if (rc == PD_OK)
        memcpy (id, parts.id, strlen (parts.id) + 1);
    return rc;
}

int
pd_envelope_rewrap (pd_envelope_t *self, const char *aad, const void *sealed, size_t sealed_size,
                    uint8_t **rewrapped, size_t *rewrapped_size)
{
    *rewrapped = NULL;
    *rewrapped_size = 0;
    s_sealed_t parts = {0};
    uint8_t key[S_KEY_SIZE];
    int rc = s_data_key (self, aad, sealed, sealed_size, &parts, key);
    size_t data = S_NONCE_SIZE + parts.ciphertext_size + S_TAG_SIZE;
    uint8_t *out = rc == PD_OK ? (uint8_t *)malloc (PD_ENVELOPE_OVERHEAD + data) : NULL;
    size_t used = out ? s_wrap (self, aad, key, out) : 0;
    OPENSSL_cleanse (key, sizeof (key));
    if (rc == PD_OK && !used)
        rc = PD_E_INTERNAL;
    if (rc != PD_OK) {
        free (out);
        return rc;
    }
    memcpy (out + used, parts.data_nonce, data); //  the secret's part, as it was
    *rewrapped = out;
    *rewrapped_size = used + data;
    return PD_OK;
}
