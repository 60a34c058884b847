/*  test_pd_routes - route matching, Allow lists, labels, percent-decoding,
    and the table's consistency with the message catalogue
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <czmq.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "pd_gateway.h"
#include "pd_metrics.h"
#include "pd_proto.h"
#include "pd_routes.h"
#include "pd_token.h"

//  ------------------------------------------------------------------------
//  Routes

static void
test_match_usage (void **state)
{
    pd_route_params_t params;
    bool other_method = true;
    const pd_route_t *route = pd_routes_match ("GET", "/api/partners/p-42", &params, &other_method);
    assert_non_null (route);
    assert_string_equal (route->type, "partner.get");
    assert_int_equal (route->access, PD_ACCESS_ADMIN);
    assert_int_equal (route->success, 200);
    assert_false (other_method);
    assert_int_equal (params.count, 1);
    assert_string_equal (params.names[0], "id");
    assert_string_equal (params.values[0], "p-42");
    assert_string_equal (pd_route_label (route), "GET /api/partners/{id}");
}

static void
test_match_every_route (void **state)
{
    static const struct {
        const char *method, *path, *type, *param, *value;
    } cases[] = {
        {"POST", "/api/partners", "partner.create", NULL, NULL},
        {"GET", "/api/partners", "partner.list", NULL, NULL},
        {"GET", "/api/partners/me", "partner.me", NULL, NULL},
        {"GET", "/api/partners/abc", "partner.get", "id", "abc"},
        {"PUT", "/api/partners/abc", "partner.update", "id", "abc"},
        {"POST", "/api/partners/abc/regenerate-key", "partner.regenerate_key", "id", "abc"},
        {"GET", "/api/admin/streams/audit", "stream.read", "stream", "audit"},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        pd_route_params_t params;
        const pd_route_t *route = pd_routes_match (cases[i].method, cases[i].path, &params, NULL);
        assert_non_null (route);
        assert_string_equal (route->type, cases[i].type);
        if (cases[i].param) {
            assert_int_equal (params.count, 1);
            assert_string_equal (params.names[0], cases[i].param);
            assert_string_equal (params.values[0], cases[i].value);
        } else
            assert_int_equal (params.count, 0);
    }
    //  params may be NULL
    assert_non_null (pd_routes_match ("GET", "/api/partners/x", NULL, NULL));
}

static void
test_literal_beats_param (void **state)
{
    pd_route_params_t params;
    const pd_route_t *route = pd_routes_match ("GET", "/api/partners/me", &params, NULL);
    assert_string_equal (route->type, "partner.me");
    assert_int_equal (params.count, 0);

    //  Literals compare exactly (case matters)
    route = pd_routes_match ("GET", "/api/partners/Me", &params, NULL);
    assert_string_equal (route->type, "partner.get");
    assert_string_equal (params.values[0], "Me");

    //  Only GET has the literal: PUT takes "me" as an id
    route = pd_routes_match ("PUT", "/api/partners/me", &params, NULL);
    assert_string_equal (route->type, "partner.update");
    assert_string_equal (params.values[0], "me");

    //  Methods are case-sensitive
    bool other_method = false;
    assert_null (pd_routes_match ("get", "/api/partners/me", &params, &other_method));
    assert_true (other_method);
}

static void
test_percent_decoding (void **state)
{
    pd_route_params_t params;
    const pd_route_t *route = pd_routes_match ("GET", "/api/partners/a%2Db%41%20c", &params, NULL);
    assert_non_null (route);
    assert_string_equal (params.values[0], "a-bA c");

    //  '+' is a plus in a path
    route = pd_routes_match ("GET", "/api/partners/a+b", &params, NULL);
    assert_string_equal (params.values[0], "a+b");

    //  Segments are decoded before literals are compared
    route = pd_routes_match ("GET", "/api/partners/m%65", &params, NULL);
    assert_string_equal (route->type, "partner.me");
    route = pd_routes_match ("GET", "/api/p%61rtners/x", &params, NULL);
    assert_string_equal (route->type, "partner.get");

    //  UTF-8 passes through (the schema judges it)
    route = pd_routes_match ("GET", "/api/partners/%C3%A9", &params, NULL);
    assert_string_equal (params.values[0], "\xC3\xA9");
}

static void
test_rejected_paths (void **state)
{
    static const char *paths[] = {
        "/api/partners/a%2Fb",                    //  '/' once decoded
        "/api/partners/a%2fb",                    //
        "/api/partners/a%zz",                     //  malformed escapes
        "/api/partners/a%4",                      //
        "/api/partners/a%",                       //
        "/api/partners/a%00b",                    //  NUL
        "/api/partners/",                         //  empty parameter
        "/api/partners//regenerate-key",          //
        "//api/partners",                         //  empty segment
        "/api/partners/x/y",                      //  segment count
        "/api",                                   //
        "/",                                      //
        "",                                       //
        "api/partners",                           //  not absolute
        "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s", //  too many segments
    };
    for (size_t i = 0; i < sizeof (paths) / sizeof (paths[0]); i++) {
        pd_route_params_t params;
        bool other_method = true;
        assert_null (pd_routes_match ("GET", paths[i], &params, &other_method));
        assert_false (other_method);
        assert_int_equal (params.count, 0);
        //  No method matches either
        char allow[64] = "junk";
        pd_routes_allow (paths[i], allow, sizeof (allow));
        assert_string_equal (allow, "");
    }
    assert_null (pd_routes_match ("GET", NULL, NULL, NULL));
    assert_null (pd_routes_match (NULL, "/api/partners", NULL, NULL));
}

static void
test_method_not_allowed (void **state)
{
    bool other_method = false;
    assert_null (pd_routes_match ("DELETE", "/api/partners/x", NULL, &other_method));
    assert_true (other_method);
    assert_null (pd_routes_match ("PATCH", "/api/admin/streams/audit", NULL, &other_method));
    assert_true (other_method);
    assert_null (pd_routes_match ("GET", "/api/partners/x/regenerate-key", NULL, &other_method));
    assert_true (other_method);
    assert_null (pd_routes_match ("GET", "/api/nothing", NULL, &other_method));
    assert_false (other_method);

    char allow[64];
    pd_routes_allow ("/api/partners", allow, sizeof (allow));
    assert_string_equal (allow, "GET, POST");
    pd_routes_allow ("/api/partners/x", allow, sizeof (allow));
    assert_string_equal (allow, "GET, PUT");
    pd_routes_allow ("/api/partners/me", allow, sizeof (allow));
    assert_string_equal (allow, "GET, PUT");
    pd_routes_allow ("/api/partners/x/regenerate-key", allow, sizeof (allow));
    assert_string_equal (allow, "POST");
    pd_routes_allow ("/api/admin/streams/audit", allow, sizeof (allow));
    assert_string_equal (allow, "GET");
    pd_routes_allow ("/api/nothing", allow, sizeof (allow));
    assert_string_equal (allow, "");

    //  A short buffer holds whole methods only
    char small[6];
    pd_routes_allow ("/api/partners/x", small, sizeof (small));
    assert_string_equal (small, "GET");
    pd_routes_allow ("/api/partners/x", small, 3);
    assert_string_equal (small, "");
    pd_routes_allow ("/api/partners/x", NULL, 0);
    pd_routes_allow (NULL, allow, sizeof (allow));
    assert_string_equal (allow, "");
}

static void
test_param_length (void **state)
{
    char path[64 + 3 * (PD_ROUTE_MAX_PARAM + 1)];
    char value[PD_ROUTE_MAX_PARAM + 2];
    pd_route_params_t params;

    //  PD_ROUTE_MAX_PARAM bytes match
    memset (value, 'a', PD_ROUTE_MAX_PARAM);
    value[PD_ROUTE_MAX_PARAM] = '\0';
    snprintf (path, sizeof (path), "/api/partners/%s", value);
    assert_non_null (pd_routes_match ("GET", path, &params, NULL));
    assert_string_equal (params.values[0], value);

    //  One more does not, on any method
    bool other_method = true;
    snprintf (path, sizeof (path), "/api/partners/%sa", value);
    assert_null (pd_routes_match ("GET", path, &params, &other_method));
    assert_false (other_method);

    //  The limit is on the decoded value: 128 escapes are 128 bytes
    strcpy (path, "/api/partners/");
    for (int i = 0; i < PD_ROUTE_MAX_PARAM; i++)
        strcat (path, "%61");
    assert_non_null (pd_routes_match ("GET", path, &params, NULL));
    assert_string_equal (params.values[0], value);
}

static void
test_labels (void **state)
{
    assert_string_equal (pd_route_label (&pd_routes[0]), "POST /api/partners");
    for (size_t i = 0; i < pd_routes_size; i++) {
        char expected[256];
        snprintf (expected, sizeof (expected), "%s %s", pd_routes[i].method, pd_routes[i].path);
        assert_string_equal (pd_route_label (&pd_routes[i]), expected);
    }
    assert_string_equal (pd_route_label (NULL), PD_ROUTE_LABEL_NONE);
    pd_route_t stranger = pd_routes[0];
    assert_string_equal (pd_route_label (&stranger), PD_ROUTE_LABEL_NONE);
}

//  Every route names a message of the catalogue, and its path parameters
//  are fields of the message's request record
static void
test_table_is_consistent (void **state)
{
    for (size_t i = 0; i < pd_routes_size; i++) {
        const pd_route_t *route = &pd_routes[i];
        const pd_message_t *message = pd_message_find (route->type);
        assert_non_null (message);
        pd_route_params_t params;
        assert_true (pd_route_param_names (route, &params) >= 0);
        for (size_t p = 0; p < params.count; p++) {
            assert_string_equal (params.values[p], "");
            bool found = false;
            for (size_t f = 0; f < message->request->field_count; f++)
                found |= strcmp (message->request->fields[f].name, params.names[p]) == 0;
            assert_true (found);
        }
        //  Each route's own template, as a path, finds it
        char allow[64];
        pd_routes_allow (route->path, allow, sizeof (allow));
        assert_non_null (strstr (allow, route->method));
        if (route->flags & PD_ROUTE_REDIRECT)
            assert_true (route->success == 302 || route->success == 303);
        else
            assert_true (route->success >= 200 && route->success < 300);
        //  A raw route answers a `binary` record (its bytes are the body)
        if (route->flags & PD_ROUTE_RAW)
            assert_ptr_equal (message->reply, &pd_binary_schema);
    }
    //  The QR images are raw
    const pd_route_t *qr =
        pd_routes_match ("GET", "/api/partners/me/provisions/prv_1/qr", NULL, NULL);
    assert_non_null (qr);
    assert_true (qr->flags & PD_ROUTE_RAW);
    pd_route_params_t params;
    assert_int_equal (pd_route_param_names (&pd_routes[0], &params), 0);
    assert_int_equal (pd_route_param_names (NULL, &params), -1);
}

static void
test_decode (void **state)
{
    char out[8];
    assert_int_equal (pd_routes_decode ("a%20b+c", 7, out, sizeof (out), false), 5);
    assert_string_equal (out, "a b+c");
    assert_int_equal (pd_routes_decode ("a%20b+c", 7, out, sizeof (out), true), 5);
    assert_string_equal (out, "a b c");
    assert_int_equal (pd_routes_decode ("abc", 2, out, sizeof (out), true), 2);
    assert_string_equal (out, "ab");
    assert_int_equal (pd_routes_decode ("", 0, out, sizeof (out), true), 0);
    assert_string_equal (out, "");

    //  Exactly fitting, then one byte too many
    assert_int_equal (pd_routes_decode ("1234567", 7, out, sizeof (out), false), 7);
    assert_int_equal (pd_routes_decode ("12345678", 8, out, sizeof (out), false), -1);
    assert_string_equal (out, "");

    assert_int_equal (pd_routes_decode ("%", 1, out, sizeof (out), false), -1);
    assert_int_equal (pd_routes_decode ("%4", 2, out, sizeof (out), false), -1);
    assert_int_equal (pd_routes_decode ("%4g", 3, out, sizeof (out), false), -1);
    assert_int_equal (pd_routes_decode ("%00", 3, out, sizeof (out), false), -1);
    assert_int_equal (pd_routes_decode ("a\0b", 3, out, sizeof (out), false), -1);
    //  An escape cut by len is malformed, whatever follows in memory
    assert_int_equal (pd_routes_decode ("%41", 2, out, sizeof (out), false), -1);
    assert_int_equal (pd_routes_decode ("a", 1, NULL, 0, false), -1);
    assert_int_equal (pd_routes_decode (NULL, 0, out, sizeof (out), false), -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_match_usage),         cmocka_unit_test (test_match_every_route),
        cmocka_unit_test (test_literal_beats_param), cmocka_unit_test (test_percent_decoding),
        cmocka_unit_test (test_rejected_paths),      cmocka_unit_test (test_method_not_allowed),
        cmocka_unit_test (test_param_length),        cmocka_unit_test (test_labels),
        cmocka_unit_test (test_table_is_consistent), cmocka_unit_test (test_decode),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
