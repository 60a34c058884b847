/*  test_pd_webhook - Standard Webhooks signatures, checked against an
    independent implementation (Python's hmac, base64), a published vector
    shape, and the receiver's rules (tolerance, rotation)
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_webhook.h"

#define NOW 1796700000

//  The signature Python computes (hmac, hashlib, base64: no code of ours)
static void
s_python_sign (const char *secret, const char *id, long long timestamp, const char *body, char *out,
               size_t size)
{
    char command[2048];
    snprintf (command, sizeof (command),
              "python3 -c 'import base64,hashlib,hmac,sys;"
              "k=base64.b64decode(sys.argv[1].split(\"_\",1)[1]);"
              "m=(sys.argv[2]+\".\"+sys.argv[3]+\".\"+sys.argv[4]).encode();"
              "print(\"v1,\"+base64.b64encode(hmac.new(k,m,hashlib.sha256).digest()).decode())'"
              " '%s' '%s' '%lld' '%s'",
              secret, id, timestamp, body);
    FILE *pipe = popen (command, "r");
    assert_non_null (pipe);
    assert_non_null (fgets (out, (int)size, pipe));
    assert_int_equal (pclose (pipe), 0);
    out[strcspn (out, "\n")] = 0;
}

//  Our signature equals Python's, for secrets we make and for a fixed one
static void
test_matches_an_independent_implementation (void **state)
{
    char secret[PD_WEBHOOK_SECRET_MAX];
    assert_int_equal (pd_webhook_secret_new (secret), 0);
    assert_true (strncmp (secret, "whsec_", 6) == 0);
    assert_true (pd_webhook_secret_valid (secret));
    const char *secrets[] = {secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
    const char *body = "{\"type\":\"escalation.opened\",\"data\":{\"id\":\"esc_1\"}}";
    for (size_t i = 0; i < 2; i++) {
        char ours[PD_WEBHOOK_SIGNATURE_SIZE], theirs[128];
        assert_int_equal (pd_webhook_sign (&secrets[i], 1, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", NOW,
                                           body, strlen (body), ours, sizeof (ours)),
                          0);
        s_python_sign (secrets[i], "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", NOW, body, theirs,
                       sizeof (theirs));
        assert_string_equal (ours, theirs);
    }
}

//  Two secrets sign during a rotation; a receiver with either accepts,
//  others and stale or altered messages are refused
static void
test_rotation_and_receiver_rules (void **state)
{
    char old_secret[PD_WEBHOOK_SECRET_MAX], new_secret[PD_WEBHOOK_SECRET_MAX],
        other[PD_WEBHOOK_SECRET_MAX];
    assert_int_equal (pd_webhook_secret_new (old_secret), 0);
    assert_int_equal (pd_webhook_secret_new (new_secret), 0);
    assert_int_equal (pd_webhook_secret_new (other), 0);
    const char *both[] = {new_secret, old_secret};
    const char *body = "{\"x\":1}";
    char header[2 * PD_WEBHOOK_SIGNATURE_SIZE];
    assert_int_equal (
        pd_webhook_sign (both, 2, "msg_1", NOW, body, strlen (body), header, sizeof (header)), 0);
    assert_non_null (strchr (header, ' '));
    assert_true (pd_webhook_verify (new_secret, "msg_1", NOW, body, strlen (body), header, NOW));
    assert_true (pd_webhook_verify (old_secret, "msg_1", NOW, body, strlen (body), header, NOW));
    assert_false (pd_webhook_verify (other, "msg_1", NOW, body, strlen (body), header, NOW));
    assert_false (pd_webhook_verify (new_secret, "msg_2", NOW, body, strlen (body), header, NOW));
    assert_false (pd_webhook_verify (new_secret, "msg_1", NOW, "{\"x\":2}", 7, header, NOW));
    assert_false (
        pd_webhook_verify (new_secret, "msg_1", NOW + 1, body, strlen (body), header, NOW));
    //  The timestamp's window
    assert_true (pd_webhook_verify (new_secret, "msg_1", NOW, body, strlen (body), header,
                                    NOW + PD_WEBHOOK_TOLERANCE_S));
    assert_false (pd_webhook_verify (new_secret, "msg_1", NOW, body, strlen (body), header,
                                     NOW + PD_WEBHOOK_TOLERANCE_S + 1));
    //  Too small a buffer, no secret, too many: refused
    char small[PD_WEBHOOK_SIGNATURE_SIZE];
    assert_int_equal (
        pd_webhook_sign (both, 2, "msg_1", NOW, body, strlen (body), small, sizeof (small)), -1);
    assert_int_equal (pd_webhook_sign (both, 0, "msg_1", NOW, body, 0, header, sizeof (header)),
                      -1);
    const char *bad[] = {"whsec_", "whsec_abc", "secret", "whsec_!!!!", NULL};
    for (size_t i = 0; bad[i]; i++) {
        assert_false (pd_webhook_secret_valid (bad[i]));
        assert_int_equal (
            pd_webhook_sign (&bad[i], 1, "msg_1", NOW, body, 2, header, sizeof (header)), -1);
    }
    assert_false (pd_webhook_secret_valid (NULL));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_matches_an_independent_implementation),
        cmocka_unit_test (test_rotation_and_receiver_rules),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
