/*  test_pd_envelope - secrets sealed at rest, master keys in a file

    Real files in a fresh directory; the sealed bytes are checked for what
    they must not hold (the secret) and for what changes break them.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pd_envelope.h"
#include "pd_status.h"
#include "pd_test_dir.h"

#define SECRET "https://hooks.slack.example/services/T000/B000/a-test-token-of-24-chars"
#define AAD    "notification_channels/prt_a/1"

typedef struct {
    char dir[PD_TEST_DIR_MAX];
    char path[PD_TEST_DIR_MAX + 32];
    char error[PD_ENVELOPE_ERROR_MAX];
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fx = calloc (1, sizeof (fixture_t));
    if (!fx || pd_test_dir_make ("pd-envelope", fx->dir, sizeof (fx->dir)) != 0)
        return -1;
    snprintf (fx->path, sizeof (fx->path), "%s/master.key", fx->dir);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = *state;
    pd_test_dir_remove (fx->dir);
    free (fx);
    return 0;
}

//  Does `haystack` hold `needle` anywhere?
static bool
s_holds (const uint8_t *haystack, size_t size, const char *needle)
{
    size_t length = strlen (needle);
    for (size_t i = 0; i + length <= size; i++)
        if (memcmp (haystack + i, needle, length) == 0)
            return true;
    return false;
}

static pd_envelope_t *
s_open (fixture_t *fx, bool create)
{
    pd_envelope_t *envelope = pd_envelope_new (fx->path, create, fx->error, sizeof (fx->error));
    if (!envelope)
        fail_msg ("pd_envelope_new: %s", fx->error);
    return envelope;
}

//  The file is made at first use, private; a secret seals and opens, and
//  only for its record
static void
test_seal_and_open (void **state)
{
    fixture_t *fx = *state;
    assert_null (pd_envelope_new (fx->path, false, fx->error, sizeof (fx->error)));
    pd_envelope_t *envelope = s_open (fx, true);
    struct stat info;
    assert_int_equal (stat (fx->path, &info), 0);
    assert_int_equal (info.st_mode & 0777, 0600);

    uint8_t *sealed = NULL, *again = NULL;
    size_t size = 0, again_size = 0;
    assert_int_equal (pd_envelope_seal (envelope, AAD, SECRET, strlen (SECRET), &sealed, &size),
                      PD_OK);
    assert_true (size <= strlen (SECRET) + PD_ENVELOPE_OVERHEAD);
    assert_false (s_holds (sealed, size, "hooks.slack"));
    //  Twice the same secret: nothing in common but the header
    assert_int_equal (
        pd_envelope_seal (envelope, AAD, SECRET, strlen (SECRET), &again, &again_size), PD_OK);
    assert_int_equal (again_size, size);
    assert_memory_not_equal (sealed + size - strlen (SECRET) - 16,
                             again + size - strlen (SECRET) - 16, strlen (SECRET));
    char id[PD_ENVELOPE_ID_MAX + 1];
    assert_int_equal (pd_envelope_key_id (sealed, size, id), PD_OK);
    assert_string_equal (id, pd_envelope_current (envelope));

    uint8_t *plain = NULL;
    size_t plain_size = 0;
    assert_int_equal (pd_envelope_open (envelope, AAD, sealed, size, &plain, &plain_size), PD_OK);
    assert_int_equal (plain_size, strlen (SECRET));
    assert_string_equal ((char *)plain, SECRET);
    pd_envelope_free (&plain, plain_size);
    assert_null (plain);
    //  Another record's: refused
    assert_int_equal (pd_envelope_open (envelope, "notification_channels/prt_b/1", sealed, size,
                                        &plain, &plain_size),
                      PD_E_FORBIDDEN);
    assert_null (plain);
    //  An empty secret seals too
    uint8_t *empty = NULL;
    size_t empty_size = 0;
    assert_int_equal (pd_envelope_seal (envelope, AAD, "", 0, &empty, &empty_size), PD_OK);
    assert_int_equal (pd_envelope_open (envelope, AAD, empty, empty_size, &plain, &plain_size),
                      PD_OK);
    assert_int_equal (plain_size, 0);
    pd_envelope_free (&plain, plain_size);
    free (empty);
    free (again);
    free (sealed);
    pd_envelope_destroy (&envelope);
    assert_null (envelope);
}

//  Any byte changed, any byte missing, anything that is not sealed: refused
static void
test_tampering_refused (void **state)
{
    fixture_t *fx = *state;
    pd_envelope_t *envelope = s_open (fx, true);
    uint8_t *sealed = NULL;
    size_t size = 0;
    assert_int_equal (pd_envelope_seal (envelope, AAD, SECRET, strlen (SECRET), &sealed, &size),
                      PD_OK);
    uint8_t *plain = NULL;
    size_t plain_size = 0;
    for (size_t i = 0; i < size; i++) {
        sealed[i] ^= 0x01;
        int rc = pd_envelope_open (envelope, AAD, sealed, size, &plain, &plain_size);
        if (rc == PD_OK)
            fail_msg ("byte %zu changed, still opens", i);
        assert_null (plain);
        sealed[i] ^= 0x01;
    }
    for (size_t cut = 0; cut < size; cut++)
        assert_int_not_equal (pd_envelope_open (envelope, AAD, sealed, cut, &plain, &plain_size),
                              PD_OK);
    assert_int_equal (pd_envelope_open (envelope, AAD, "plain text", 10, &plain, &plain_size),
                      PD_E_MALFORMED);
    assert_int_equal (pd_envelope_open (envelope, AAD, NULL, 0, &plain, &plain_size),
                      PD_E_MALFORMED);
    free (sealed);
    pd_envelope_destroy (&envelope);
}

//  A new master key: old values still open; re-wrapped, they name the new
//  key and keep the secret's bytes; a file without the old key cannot
//  open what it wrapped
static void
test_rotation (void **state)
{
    fixture_t *fx = *state;
    pd_envelope_t *envelope = s_open (fx, true);
    char first[PD_ENVELOPE_ID_MAX + 1];
    snprintf (first, sizeof (first), "%s", pd_envelope_current (envelope));
    uint8_t *sealed = NULL;
    size_t size = 0;
    assert_int_equal (pd_envelope_seal (envelope, AAD, SECRET, strlen (SECRET), &sealed, &size),
                      PD_OK);
    pd_envelope_destroy (&envelope);

    assert_int_equal (pd_envelope_rotate (fx->path, fx->error, sizeof (fx->error)), PD_OK);
    struct stat info;
    assert_int_equal (stat (fx->path, &info), 0);
    assert_int_equal (info.st_mode & 0777, 0600);
    envelope = s_open (fx, false);
    assert_string_not_equal (pd_envelope_current (envelope), first);
    uint8_t *plain = NULL;
    size_t plain_size = 0;
    assert_int_equal (pd_envelope_open (envelope, AAD, sealed, size, &plain, &plain_size), PD_OK);
    assert_string_equal ((char *)plain, SECRET);
    pd_envelope_free (&plain, plain_size);

    uint8_t *rewrapped = NULL;
    size_t rewrapped_size = 0;
    assert_int_equal (pd_envelope_rewrap (envelope, AAD, sealed, size, &rewrapped, &rewrapped_size),
                      PD_OK);
    char id[PD_ENVELOPE_ID_MAX + 1];
    assert_int_equal (pd_envelope_key_id (rewrapped, rewrapped_size, id), PD_OK);
    assert_string_equal (id, pd_envelope_current (envelope));
    //  Same ids' length: the secret's part is byte for byte the same
    size_t data = 12 + strlen (SECRET) + 16;
    assert_int_equal (rewrapped_size, size);
    assert_memory_equal (rewrapped + rewrapped_size - data, sealed + size - data, data);
    assert_int_equal (
        pd_envelope_open (envelope, AAD, rewrapped, rewrapped_size, &plain, &plain_size), PD_OK);
    assert_string_equal ((char *)plain, SECRET);
    pd_envelope_free (&plain, plain_size);
    //  Re-wrapping checks the record too
    uint8_t *wrong = NULL;
    size_t wrong_size = 0;
    assert_int_equal (
        pd_envelope_rewrap (envelope, "other/record", sealed, size, &wrong, &wrong_size),
        PD_E_FORBIDDEN);
    assert_null (wrong);
    pd_envelope_destroy (&envelope);

    //  Drop the old key from the file: the re-wrapped value opens, the old
    //  one names a key that is not there
    FILE *file = fopen (fx->path, "r");
    char line1[256], line2[256];
    assert_non_null (fgets (line1, sizeof (line1), file));
    assert_non_null (fgets (line2, sizeof (line2), file));
    fclose (file);
    file = fopen (fx->path, "w");
    fputs (line2, file);
    fclose (file);
    envelope = s_open (fx, false);
    assert_int_equal (pd_envelope_open (envelope, AAD, sealed, size, &plain, &plain_size),
                      PD_E_NOT_FOUND);
    assert_int_equal (
        pd_envelope_open (envelope, AAD, rewrapped, rewrapped_size, &plain, &plain_size), PD_OK);
    pd_envelope_free (&plain, plain_size);
    pd_envelope_destroy (&envelope);
    free (rewrapped);
    free (sealed);
}

//  A key file others can read, or one that is malformed, is refused
static void
test_bad_files_refused (void **state)
{
    fixture_t *fx = *state;
    pd_envelope_t *envelope = s_open (fx, true);
    pd_envelope_destroy (&envelope);
    assert_int_equal (chmod (fx->path, 0644), 0);
    assert_null (pd_envelope_new (fx->path, false, fx->error, sizeof (fx->error)));
    assert_non_null (strstr (fx->error, "chmod 600"));
    assert_int_equal (chmod (fx->path, 0600), 0);
    const char *bad[] = {
        "",                                                                        //  no key
        "mk-1 abcd\n",                                                             //  short key
        "mk-1 " SECRET "\n",                                                       //  not hex
        "Mk_1 0000000000000000000000000000000000000000000000000000000000000000\n", //  bad id
        "mk-1 0000000000000000000000000000000000000000000000000000000000000000",   //  no newline
        "mk-1 0000000000000000000000000000000000000000000000000000000000000000\n"
        "mk-1 1111111111111111111111111111111111111111111111111111111111111111\n", //  id twice
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        int fd = open (fx->path, O_WRONLY | O_TRUNC);
        assert_true (fd >= 0);
        assert_int_equal (write (fd, bad[i], strlen (bad[i])), (ssize_t)strlen (bad[i]));
        close (fd);
        envelope = pd_envelope_new (fx->path, true, fx->error, sizeof (fx->error));
        if (envelope)
            fail_msg ("key file %zu accepted", i);
    }
    //  Rotation of a file that is not there creates nothing
    unlink (fx->path);
    assert_int_not_equal (pd_envelope_rotate (fx->path, fx->error, sizeof (fx->error)), PD_OK);
    assert_int_equal (access (fx->path, F_OK), -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_seal_and_open, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_tampering_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_rotation, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_files_refused, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
