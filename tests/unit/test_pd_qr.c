/*  test_pd_qr - QR codes of claim URLs

    The PNG is checked by a real decoder: written to a temp file and read
    back with zbarimg (Debian zbar-tools), which must give the exact text.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pd_qr.h"

#define S_URL                                                                                      \
    "http://127.0.0.1:8080/api/provision/claim?code=ABCDEFGHJKMNPQRS"                              \
    "&endpoint=tcp://127.0.0.1:5557&key=rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
#define S_DECODED_MAX 4096

static uint32_t
s_u32 (const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

//  Decode a PNG with zbarimg; the text (caller frees) or NULL
static char *
s_zbar (const uint8_t *png, size_t size)
{
    char path[] = "/tmp/test_pd_qr_XXXXXX";
    int fd = mkstemp (path);
    if (fd < 0)
        return NULL;
    bool written = write (fd, png, size) == (ssize_t)size;
    close (fd);
    char *text = NULL;
    if (written) {
        char command[128];
        snprintf (command, sizeof (command), "zbarimg --quiet --raw %s 2>/dev/null", path);
        FILE *pipe = popen (command, "r");
        if (pipe) {
            text = calloc (1, S_DECODED_MAX);
            size_t got = text ? fread (text, 1, S_DECODED_MAX - 1, pipe) : 0;
            if (text) {
                text[got] = '\0';
                size_t len = strlen (text);
                while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
                    text[--len] = '\0';
            }
            pclose (pipe);
        }
    }
    unlink (path);
    return text;
}

//  Happy path: a claim URL as a PNG that a scanner reads back exactly
static void
test_png_decodes_to_the_text (void **state)
{
    uint8_t *png = NULL;
    size_t size = 0;
    assert_int_equal (pd_qr_png (S_URL, &png, &size), 0);
    assert_non_null (png);
    assert_true (size > 8 + 25);
    assert_memory_equal (png, "\x89PNG\r\n\x1a\n", 8);
    //  IHDR first: length 13, square, a whole number of scaled modules
    assert_int_equal (s_u32 (png + 8), 13);
    assert_memory_equal (png + 12, "IHDR", 4);
    uint32_t width = s_u32 (png + 16), height = s_u32 (png + 20);
    assert_int_equal (width, height);
    assert_int_equal (width % PD_QR_SCALE, 0);
    uint32_t modules = width / PD_QR_SCALE - 2 * PD_QR_MARGIN;
    assert_int_equal ((modules - 21) % 4, 0); //  QR versions: 21 + 4k modules
    assert_memory_equal (png + size - 8, "IEND", 4);

    char *text = s_zbar (png, size);
    assert_non_null (text);
    assert_string_equal (text, S_URL);
    free (text);
    free (png);
}

static void
test_png_is_case_sensitive (void **state)
{
    const char *mixed = "http://h/x?code=AbCdEf";
    uint8_t *png = NULL;
    size_t size = 0;
    assert_int_equal (pd_qr_png (mixed, &png, &size), 0);
    char *text = s_zbar (png, size);
    assert_non_null (text);
    assert_string_equal (text, mixed);
    free (text);
    free (png);
}

static void
test_svg_has_one_path (void **state)
{
    char *svg = NULL;
    size_t size = 0;
    assert_int_equal (pd_qr_svg (S_URL, &svg, &size), 0);
    assert_non_null (svg);
    assert_int_equal (strlen (svg), size);
    assert_int_equal (strncmp (svg, "<svg", 4), 0);
    assert_non_null (strstr (svg, "viewBox=\"0 0 "));
    assert_non_null (strstr (svg, "<path"));
    assert_null (strstr (strstr (svg, "<path") + 5, "<path")); //  exactly one
    assert_non_null (strstr (svg, "fill=\"#ffffff\""));
    assert_non_null (strstr (svg, "</svg>"));
    free (svg);
}

static void
test_oversized_and_empty_input_refused (void **state)
{
    char *big = malloc (PD_QR_MAX_INPUT + 2);
    assert_non_null (big);
    memset (big, 'A', PD_QR_MAX_INPUT + 1);
    big[PD_QR_MAX_INPUT + 1] = '\0';
    uint8_t *png = (uint8_t *)1;
    size_t size = 1;
    assert_int_equal (pd_qr_png (big, &png, &size), -1);
    assert_null (png);
    assert_int_equal (size, 0);
    char *svg = (char *)1;
    assert_int_equal (pd_qr_svg (big, &svg, &size), -1);
    assert_null (svg);
    assert_int_equal (pd_qr_png ("", &png, &size), -1);
    assert_int_equal (pd_qr_svg (NULL, &svg, &size), -1);
    free (big);

    //  The largest input allowed still encodes
    char *max = malloc (PD_QR_MAX_INPUT + 1);
    assert_non_null (max);
    memset (max, 'a', PD_QR_MAX_INPUT);
    max[PD_QR_MAX_INPUT] = '\0';
    assert_int_equal (pd_qr_png (max, &png, &size), 0);
    free (png);
    free (max);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_png_decodes_to_the_text),
        cmocka_unit_test (test_png_is_case_sensitive),
        cmocka_unit_test (test_svg_has_one_path),
        cmocka_unit_test (test_oversized_and_empty_input_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
