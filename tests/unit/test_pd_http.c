/*  test_pd_http - the gateway's HTTP plumbing: cookies read and set,
    header lists, media types. Whole responses (heads, problem+json) are
    checked through a real CivetWeb in test_pd_routes and the integration
    tests.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "pd_gateway.h"
#include "pd_http.h"
#include "pd_status.h"

//  ------------------------------------------------------------------------
//  Cookies

static void
test_cookie_usage (void **state)
{
    char value[16];
    assert_int_equal (pd_http_cookie ("theme=dark; partnerd_session=pds_abc; lang=en",
                                      PD_GATEWAY_SESSION_COOKIE, value, sizeof (value)),
                      7);
    assert_string_equal (value, "pds_abc");
}

static void
test_cookie_parse (void **state)
{
    static const struct {
        const char *header, *value;
    } found[] = {
        {"partnerd_session=only", "only"},
        {"a=1;partnerd_session=tight;b=2", "tight"},
        {"a=1; partnerd_session=last", "last"},
        {" \t partnerd_session \t= \tspaced\t ; a=1", "spaced"},
        {"partnerd_session=\"quoted\"", "quoted"},
        {"partnerd_session=\"", "\""},
        {"partnerd_session=a=b", "a=b"},
        {"partnerd_session=first; partnerd_session=second", "first"},
        {"partnerd_session; partnerd_session=after", "after"},
        {";;partnerd_session=semi;;", "semi"},
        {"partnerd_session=123456789012345", "123456789012345"}, //  fills the buffer
        {"partnerd_session=; a=1", ""},
        {"partnerd_session=\"\"", ""},
    };
    for (size_t i = 0; i < sizeof (found) / sizeof (found[0]); i++) {
        char value[16] = "junk";
        int rc = pd_http_cookie (found[i].header, PD_GATEWAY_SESSION_COOKIE, value, sizeof (value));
        if (rc != (int)strlen (found[i].value))
            fail_msg ("header %s: got %d", found[i].header, rc);
        assert_string_equal (value, found[i].value);
    }

    static const char *absent[] = {
        "",
        ";;;",
        "theme=dark",
        "xpartnerd_session=1; partnerd_session_old=2; Partnerd_Session=3",
        "partnerd_session",
        "partnerd_csrf=pdc_1",
    };
    for (size_t i = 0; i < sizeof (absent) / sizeof (absent[0]); i++) {
        char value[16] = "junk";
        assert_int_equal (
            pd_http_cookie (absent[i], PD_GATEWAY_SESSION_COOKIE, value, sizeof (value)),
            PD_E_NOT_FOUND);
        assert_string_equal (value, "");
    }
    char value[16] = "junk";
    assert_int_equal (pd_http_cookie (NULL, "a", value, sizeof (value)), PD_E_NOT_FOUND);

    //  One byte too many for the buffer
    assert_int_equal (pd_http_cookie ("partnerd_session=1234567890123456",
                                      PD_GATEWAY_SESSION_COOKIE, value, sizeof (value)),
                      PD_E_TOO_LARGE);
    assert_string_equal (value, "");
    assert_int_equal (pd_http_cookie ("a=1", "a", NULL, 0), PD_E_TOO_LARGE);

    //  A long header of other cookies is walked to its end
    char header[8192] = "";
    for (int i = 0; i < 500; i++)
        snprintf (header + strlen (header), sizeof (header) - strlen (header), "c%d=v%d; ", i, i);
    strcat (header, "partnerd_csrf=pdc_z");
    assert_int_equal (pd_http_cookie (header, PD_GATEWAY_CSRF_COOKIE, value, sizeof (value)), 5);
    assert_string_equal (value, "pdc_z");
}

//  Set-Cookie lines: attributes as asked, nothing written when full
static void
test_cookie_add (void **state)
{
    char headers[256] = "";
    assert_true (pd_http_cookie_add (headers, sizeof (headers), "a", "v1", true, 60, false));
    assert_string_equal (headers,
                         "Set-Cookie: a=v1; Path=/; HttpOnly; SameSite=Lax; Max-Age=60\r\n");
    headers[0] = 0;
    assert_true (pd_http_cookie_add (headers, sizeof (headers), "__Host-b", "", false, 0, true));
    assert_string_equal (headers,
                         "Set-Cookie: __Host-b=; Path=/; SameSite=Lax; Max-Age=0; Secure\r\n");
    headers[0] = 0;
    assert_true (pd_http_cookie_add (headers, sizeof (headers), "c", "x", false, -1, false));
    assert_string_equal (headers, "Set-Cookie: c=x; Path=/; SameSite=Lax\r\n");
    char small[24] = "X: y\r\n";
    assert_false (pd_http_cookie_add (small, sizeof (small), "a", "long-value", true, 1, true));
    assert_string_equal (small, "X: y\r\n");
}

static void
test_header_lists (void **state)
{
    assert_true (pd_http_header_has_token ("keep-alive", "keep-alive"));
    assert_true (pd_http_header_has_token ("Upgrade, Keep-Alive ", "keep-alive"));
    assert_true (pd_http_header_has_token (",,\tclose\t,", "close"));
    assert_false (pd_http_header_has_token ("keep-alive-ish", "keep-alive"));
    assert_false (pd_http_header_has_token ("", "close"));
    assert_false (pd_http_header_has_token (NULL, "close"));
    assert_true (pd_http_is_json ("application/json"));
    assert_true (pd_http_is_json (" Application/JSON; charset=utf-8"));
    assert_false (pd_http_is_json ("application/jsonx"));
    assert_false (pd_http_is_json ("text/json"));
    assert_false (pd_http_is_json (NULL));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_cookie_usage),
        cmocka_unit_test (test_cookie_parse),
        cmocka_unit_test (test_cookie_add),
        cmocka_unit_test (test_header_lists),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
