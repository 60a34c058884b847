/*  pd_qr - QR codes of claim URLs, as PNG or SVG (see pd_qr.h)

    The PNG is the smallest valid one: 1-bit greyscale (0 black, 1 white),
    one IHDR, one IDAT (zlib of the rows, each prefixed by filter byte 0,
    "none"), IEND; every chunk's CRC-32 from zlib's crc32. The image is the
    matrix scaled by PD_QR_SCALE with a PD_QR_MARGIN-module quiet zone.

    The SVG draws one module as one user unit (viewBox), a white
    background, and every horizontal run of dark modules as one subpath of
    a single <path>; crispEdges keeps scanners happy when it is scaled.
*/
#include "pd_qr.h"

#include <qrencode.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define S_PNG_SIGNATURE    "\x89PNG\r\n\x1a\n"
#define S_PNG_SIGNATURE_SZ 8
#define S_PNG_IHDR_SIZE    13 //  width, height, depth, colour, compression, filter, interlace
#define S_PNG_CHUNK_EXTRA  12 //  length, type, CRC
#define S_PNG_BIT_DEPTH    1
#define S_PNG_GREYSCALE    0
#define S_DARK_BIT         1    //  libqrencode: bit 0 of a module byte = dark
#define S_SVG_RUN_MAX      64   //  bytes of one run's subpath text
#define S_SVG_HEAD_MAX     512  //  bytes of the SVG's opening and background
#define S_SVG_CHUNK        4096 //  growth step of the SVG text

//  The QR matrix of `text`, or NULL (too long, empty, or libqrencode failed)
static QRcode *
s_encode (const char *text)
{
    if (!text || !*text || strlen (text) > PD_QR_MAX_INPUT)
        return NULL;
    //  Version 0 = the smallest that fits; case-sensitive 8-bit mode
    return QRcode_encodeString (text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
}

static bool
s_dark (const QRcode *qr, int x, int y)
{
    return x >= 0 && y >= 0 && x < qr->width && y < qr->width &&
           (qr->data[y * qr->width + x] & S_DARK_BIT);
}

static void
s_put_u32 (uint8_t *p, uint32_t value)
{
    p[0] = (uint8_t)(value >> 24);
    p[1] = (uint8_t)(value >> 16);
    p[2] = (uint8_t)(value >> 8);
    p[3] = (uint8_t)value;
}

//  Write one chunk at `out` (room for length + 12 bytes); returns its size
static size_t
s_chunk (uint8_t *out, const char *type, const uint8_t *data, size_t length)
{
    s_put_u32 (out, (uint32_t)length);
    memcpy (out + 4, type, 4);
    if (length)
        memcpy (out + 8, data, length);
    uLong crc = crc32 (0L, Z_NULL, 0);
    crc = crc32 (crc, out + 4, (uInt)(length + 4));
    s_put_u32 (out + 8 + length, (uint32_t)crc);
    return length + S_PNG_CHUNK_EXTRA;
}

int
pd_qr_png (const char *text, uint8_t **png, size_t *size)
{
    *png = NULL;
    *size = 0;
    QRcode *qr = s_encode (text);
    if (!qr)
        return -1;

    int modules = qr->width + 2 * PD_QR_MARGIN;
    size_t pixels = (size_t)modules * PD_QR_SCALE;
    size_t stride = 1 + (pixels + 7) / 8; //  filter byte + packed bits
    size_t raw_size = stride * pixels;
    uint8_t *raw = malloc (raw_size);
    uLong packed_size = compressBound ((uLong)raw_size);
    uint8_t *packed = malloc (packed_size);
    uint8_t *out = NULL;
    int rc = -1;
    if (!raw || !packed)
        goto cleanup;

    //  Rows: white (1 bits) except dark modules
    for (size_t row = 0; row < pixels; row++) {
        uint8_t *line = raw + row * stride;
        memset (line, 0xFF, stride);
        line[0] = 0; //  filter: none
        int y = (int)(row / PD_QR_SCALE) - PD_QR_MARGIN;
        for (size_t col = 0; col < pixels; col++) {
            int x = (int)(col / PD_QR_SCALE) - PD_QR_MARGIN;
            if (s_dark (qr, x, y))
                line[1 + col / 8] &= (uint8_t) ~(0x80u >> (col % 8));
        }
    }
    if (compress2 (packed, &packed_size, raw, (uLong)raw_size, Z_BEST_COMPRESSION) != Z_OK)
        goto cleanup;

    size_t total = S_PNG_SIGNATURE_SZ + (S_PNG_IHDR_SIZE + S_PNG_CHUNK_EXTRA) +
                   (packed_size + S_PNG_CHUNK_EXTRA) + S_PNG_CHUNK_EXTRA;
    out = malloc (total);
    if (!out)
        goto cleanup;
    uint8_t ihdr[S_PNG_IHDR_SIZE] = {0};
    s_put_u32 (ihdr, (uint32_t)pixels);
    s_put_u32 (ihdr + 4, (uint32_t)pixels);
    ihdr[8] = S_PNG_BIT_DEPTH;
    ihdr[9] = S_PNG_GREYSCALE; //  compression, filter method, interlace: 0
    size_t used = S_PNG_SIGNATURE_SZ;
    memcpy (out, S_PNG_SIGNATURE, S_PNG_SIGNATURE_SZ);
    used += s_chunk (out + used, "IHDR", ihdr, sizeof (ihdr));
    used += s_chunk (out + used, "IDAT", packed, packed_size);
    used += s_chunk (out + used, "IEND", NULL, 0);
    *png = out;
    *size = used;
    out = NULL;
    rc = 0;
cleanup:
    free (out);
    free (packed);
    free (raw);
    QRcode_free (qr);
    return rc;
}

//  A growing text buffer
typedef struct {
    char *data;
    size_t used, capacity;
} s_text_t;

static bool
s_append (s_text_t *text, const char *part, size_t length)
{
    if (text->used + length + 1 > text->capacity) {
        size_t capacity = text->capacity + length + S_SVG_CHUNK;
        char *data = realloc (text->data, capacity);
        if (!data)
            return false;
        text->data = data;
        text->capacity = capacity;
    }
    memcpy (text->data + text->used, part, length);
    text->used += length;
    text->data[text->used] = '\0';
    return true;
}

int
pd_qr_svg (const char *text, char **svg, size_t *size)
{
    *svg = NULL;
    *size = 0;
    QRcode *qr = s_encode (text);
    if (!qr)
        return -1;

    int modules = qr->width + 2 * PD_QR_MARGIN;
    s_text_t out = {0};
    char part[S_SVG_HEAD_MAX];
    int length =
        snprintf (part, sizeof (part),
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                  "width=\"%d\" height=\"%d\" shape-rendering=\"crispEdges\">"
                  "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>"
                  "<path fill=\"#000000\" d=\"",
                  modules, modules, modules * PD_QR_SCALE, modules * PD_QR_SCALE, modules, modules);
    bool ok = s_append (&out, part, (size_t)length);
    for (int y = 0; ok && y < qr->width; y++) {
        int x = 0;
        while (ok && x < qr->width) {
            if (!s_dark (qr, x, y)) {
                x++;
                continue;
            }
            int start = x;
            while (s_dark (qr, x, y))
                x++;
            length = snprintf (part, S_SVG_RUN_MAX, "M%d %dh%dv1h-%dz", start + PD_QR_MARGIN,
                               y + PD_QR_MARGIN, x - start, x - start);
            ok = s_append (&out, part, (size_t)length);
        }
    }
    static const char tail[] = "\"/></svg>\n";
    ok = ok && s_append (&out, tail, strlen (tail));
    QRcode_free (qr);
    if (!ok) {
        free (out.data);
        return -1;
    }
    *svg = out.data;
    *size = out.used;
    return 0;
}
