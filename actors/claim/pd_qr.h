/*  pd_qr - QR codes of claim URLs, as PNG or SVG

    libqrencode makes the matrix (error correction M, 8-bit mode); the PNG
    (greyscale, 1 bit, zlib-compressed IDAT) and the SVG (one path) are
    written here. Only strings partnerd generated go in (SECURITY.md): the
    caller passes a claim URL built from settings and a code from the
    provision alphabet, and the input is capped.
*/
#ifndef PD_QR_H_INCLUDED
#define PD_QR_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PD_QR_MAX_INPUT 1024 //  bytes of text we encode at most
#define PD_QR_SCALE     8    //  pixels per module in PNGs
#define PD_QR_MARGIN    4    //  quiet zone, in modules

//  Encode `text` as a PNG (*png malloc'd, caller frees). 0 or -1.
int pd_qr_png (const char *text, uint8_t **png, size_t *size);

//  Encode `text` as an SVG document (malloc'd text, caller frees). 0 or -1.
int pd_qr_svg (const char *text, char **svg, size_t *size);

#ifdef __cplusplus
}
#endif
#endif
