/*  pd_test_zmtp - a ZMTP 3.0 CURVE client written by hand (see
    pd_test_zmtp.h)

    The handshake of RFC 26: greeting (mechanism CURVE, as-server 0), HELLO
    (the client's short-term key and a box of 64 zeros), WELCOME (the
    server's short-term key and cookie), INITIATE (the cookie, a vouch of
    the long-term key, and the metadata), READY or ERROR. Then every
    message part travels in a MESSAGE command, boxed with the short-term
    keys. Nonces: short nonces count up from 1 per direction.
*/
#include "pd_test_zmtp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#define S_KEY       32
#define S_GREETING  64
#define S_FRAME_MAX 8192
#define S_LONG      0x02 //  frame flag: 8-byte size
#define S_COMMAND   0x04 //  frame flag: a command
#define S_MORE      0x01 //  message flag: more parts follow

struct _pd_test_zmtp_t {
    int fd;
    uint8_t shared[crypto_box_BEFORENMBYTES]; //  short-term keys, precomputed
    uint64_t nonce;                           //  our last short nonce
    int timeout_ms;                           //  of the read in progress
};

static void
s_put64 (uint8_t *out, uint64_t value)
{
    for (int i = 7; i >= 0; i--, value >>= 8)
        out[i] = (uint8_t)(value & 0xFF);
}

static int
s_write (pd_test_zmtp_t *self, const void *data, size_t size)
{
    return send (self->fd, data, size, MSG_NOSIGNAL) == (ssize_t)size ? 0 : -1;
}

static int
s_read (pd_test_zmtp_t *self, void *data, size_t size)
{
    size_t got = 0;
    while (got < size) {
        struct pollfd item = {self->fd, POLLIN, 0};
        if (poll (&item, 1, self->timeout_ms) <= 0)
            return -1;
        ssize_t n = recv (self->fd, (char *)data + got, size - got, 0);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

static int
s_send_frame (pd_test_zmtp_t *self, uint8_t flags, const uint8_t *body, size_t size)
{
    uint8_t head[9];
    size_t head_size = 2;
    if (size > 255) {
        head[0] = flags | S_LONG;
        s_put64 (head + 1, size);
        head_size = 9;
    } else {
        head[0] = flags;
        head[1] = (uint8_t)size;
    }
    return s_write (self, head, head_size) || s_write (self, body, size) ? -1 : 0;
}

//  One frame into body (max bytes): its size, or -1
static long
s_recv_frame (pd_test_zmtp_t *self, uint8_t *body, size_t max)
{
    uint8_t flags, bytes[8];
    uint64_t size = 0;
    if (s_read (self, &flags, 1))
        return -1;
    size_t width = (flags & S_LONG) ? 8 : 1;
    if (s_read (self, bytes, width))
        return -1;
    for (size_t i = 0; i < width; i++)
        size = (size << 8) | bytes[i];
    if (size > max || s_read (self, body, (size_t)size))
        return -1;
    return (long)size;
}

//  A metadata property: name length, name, 4-byte value length, value
static size_t
s_property (uint8_t *out, const char *name, const char *value)
{
    size_t name_len = strlen (name), value_len = strlen (value);
    out[0] = (uint8_t)name_len;
    memcpy (out + 1, name, name_len);
    uint8_t length[4] = {0, 0, 0, (uint8_t)value_len};
    memcpy (out + 1 + name_len, length, 4);
    memcpy (out + 5 + name_len, value, value_len);
    return 5 + name_len + value_len;
}

static int
s_handshake (pd_test_zmtp_t *self, const uint8_t client_public[S_KEY],
             const uint8_t client_secret[S_KEY], const uint8_t server_public[S_KEY],
             bool with_socket_type)
{
    uint8_t short_public[S_KEY], short_secret[S_KEY];
    crypto_box_keypair (short_public, short_secret);
    uint8_t greeting[S_GREETING] = {0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 0};
    memcpy (greeting + 12, "CURVE", 5);
    uint8_t peer_greeting[S_GREETING];
    if (s_write (self, greeting, sizeof (greeting)) ||
        s_read (self, peer_greeting, sizeof (peer_greeting)))
        return -1;

    //  HELLO: version, padding, C', short nonce, Box[64 zeros](C'->S)
    uint8_t hello[200] = {0}, nonce[24], zeros[64] = {0};
    memcpy (hello, "\x05HELLO\x01\x00", 8);
    memcpy (hello + 80, short_public, S_KEY);
    s_put64 (hello + 112, ++self->nonce);
    memcpy (nonce, "CurveZMQHELLO---", 16);
    memcpy (nonce + 16, hello + 112, 8);
    if (crypto_box_easy (hello + 120, zeros, sizeof (zeros), nonce, server_public, short_secret) ||
        s_send_frame (self, S_COMMAND, hello, sizeof (hello)))
        return -1;

    //  WELCOME: long nonce, Box[S' + cookie](S->C')
    uint8_t welcome[S_FRAME_MAX], opened[128];
    if (s_recv_frame (self, welcome, sizeof (welcome)) != 168 || memcmp (welcome, "\x07WELCOME", 8))
        return -1;
    memcpy (nonce, "WELCOME-", 8);
    memcpy (nonce + 8, welcome + 8, 16);
    if (crypto_box_open_easy (opened, welcome + 24, 144, nonce, server_public, short_secret))
        return -1;
    if (crypto_box_beforenm (self->shared, opened, short_secret))
        return -1;
    const uint8_t *server_short = opened, *cookie = opened + S_KEY;

    //  INITIATE: cookie, short nonce, Box[C + vouch + metadata](C'->S')
    uint8_t vouch_plain[64], vouch_nonce[24], vouch[80];
    memcpy (vouch_plain, short_public, S_KEY);
    memcpy (vouch_plain + S_KEY, server_public, S_KEY);
    memcpy (vouch_nonce, "VOUCH---", 8);
    randombytes_buf (vouch_nonce + 8, 16);
    if (crypto_box_easy (vouch, vouch_plain, sizeof (vouch_plain), vouch_nonce, server_short,
                         client_secret))
        return -1;
    uint8_t plain[512];
    size_t used = 0;
    memcpy (plain, client_public, S_KEY);
    used += S_KEY;
    memcpy (plain + used, vouch_nonce + 8, 16);
    used += 16;
    memcpy (plain + used, vouch, sizeof (vouch));
    used += sizeof (vouch);
    if (with_socket_type)
        used += s_property (plain + used, "Socket-Type", "DEALER");
    used += s_property (plain + used, "Identity", "");
    uint8_t initiate[1024];
    memcpy (initiate, "\x08INITIATE", 9);
    memcpy (initiate + 9, cookie, 96);
    s_put64 (initiate + 105, ++self->nonce);
    memcpy (nonce, "CurveZMQINITIATE", 16);
    memcpy (nonce + 16, initiate + 105, 8);
    if (crypto_box_easy_afternm (initiate + 113, plain, used, nonce, self->shared) ||
        s_send_frame (self, S_COMMAND, initiate, 113 + crypto_box_MACBYTES + used))
        return -1;

    //  READY (boxed metadata we need not read) or ERROR
    uint8_t reply[S_FRAME_MAX];
    long size = s_recv_frame (self, reply, sizeof (reply));
    return size >= 6 && memcmp (reply, "\x05READY", 6) == 0 ? 0 : -1;
}

pd_test_zmtp_t *
pd_test_zmtp_new (int port, const char *public_key, const char *secret_key, const char *server_key,
                  bool with_socket_type)
{
    uint8_t client_public[S_KEY], client_secret[S_KEY], server_public[S_KEY];
    if (sodium_init () < 0 || !zmq_z85_decode (client_public, public_key) ||
        !zmq_z85_decode (client_secret, secret_key) || !zmq_z85_decode (server_public, server_key))
        return NULL;
    pd_test_zmtp_t *self = calloc (1, sizeof (pd_test_zmtp_t));
    self->timeout_ms = 5000;
    self->fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons ((uint16_t)port)};
    inet_pton (AF_INET, "127.0.0.1", &addr.sin_addr);
    if (self->fd < 0 || connect (self->fd, (struct sockaddr *)&addr, sizeof (addr)) ||
        s_handshake (self, client_public, client_secret, server_public, with_socket_type))
        pd_test_zmtp_destroy (&self);
    sodium_memzero (client_secret, sizeof (client_secret));
    return self;
}

void
pd_test_zmtp_destroy (pd_test_zmtp_t **self_p)
{
    pd_test_zmtp_t *self = *self_p;
    if (self) {
        if (self->fd >= 0)
            close (self->fd);
        free (self);
        *self_p = NULL;
    }
}

int
pd_test_zmtp_send (pd_test_zmtp_t *self, const void *const parts[], const size_t sizes[],
                   size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint8_t plain[PD_TEST_ZMTP_MAX_PART + 1], command[PD_TEST_ZMTP_MAX_PART + 64], nonce[24];
        if (sizes[i] > PD_TEST_ZMTP_MAX_PART)
            return -1;
        plain[0] = i + 1 < count ? S_MORE : 0;
        memcpy (plain + 1, parts[i], sizes[i]);
        memcpy (command, "\x07MESSAGE", 8);
        s_put64 (command + 8, ++self->nonce);
        memcpy (nonce, "CurveZMQMESSAGEC", 16);
        memcpy (nonce + 16, command + 8, 8);
        if (crypto_box_easy_afternm (command + 16, plain, sizes[i] + 1, nonce, self->shared) ||
            s_send_frame (self, 0, command, 16 + crypto_box_MACBYTES + sizes[i] + 1))
            return -1;
    }
    return 0;
}

int
pd_test_zmtp_recv (pd_test_zmtp_t *self, uint8_t parts[][PD_TEST_ZMTP_MAX_PART], size_t sizes[],
                   size_t max, int timeout_ms)
{
    self->timeout_ms = timeout_ms;
    size_t count = 0;
    bool more = true;
    while (more) {
        uint8_t frame[S_FRAME_MAX], plain[S_FRAME_MAX], nonce[24];
        long size = s_recv_frame (self, frame, sizeof (frame));
        if (size < 16 + crypto_box_MACBYTES + 1 || memcmp (frame, "\x07MESSAGE", 8))
            return -1;
        memcpy (nonce, "CurveZMQMESSAGES", 16);
        memcpy (nonce + 16, frame + 8, 8);
        if (crypto_box_open_easy_afternm (plain, frame + 16, (size_t)size - 16, nonce,
                                          self->shared))
            return -1;
        size_t part = (size_t)size - 16 - crypto_box_MACBYTES - 1;
        more = plain[0] & S_MORE;
        if (count == max || part > PD_TEST_ZMTP_MAX_PART)
            return -1;
        memcpy (parts[count], plain + 1, part);
        sizes[count++] = part;
    }
    return (int)count;
}
