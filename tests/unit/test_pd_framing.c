/*  test_pd_framing - framing rules, on heads parsed by the real CivetWeb

    A CivetWeb server in this process answers each request with what
    pd_framing_check says of it, so every case runs through CivetWeb's own
    parser (whose in-place layout pd_framing reads).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pd_framing.h"

static int
s_handler (struct mg_connection *conn, void *arg)
{
    const char *reason = pd_framing_check (mg_get_request_info (conn));
    char body[256];
    int size = snprintf (body, sizeof (body), "%s", reason ? reason : "ok");
    mg_printf (conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", size,
               body);
    return 200;
}

static int
s_setup (void **state)
{
    const char *options[] = {
        "listening_ports",          "127.0.0.1:0", "num_threads", "2", "decode_url", "no",
        "enable_auth_domain_check", "no",          NULL};
    struct mg_callbacks callbacks;
    memset (&callbacks, 0, sizeof (callbacks));
    struct mg_context *ctx = mg_start (&callbacks, NULL, options);
    if (!ctx)
        return -1;
    mg_set_request_handler (ctx, "/", s_handler, NULL);
    *state = ctx;
    return 0;
}

static int
s_teardown (void **state)
{
    mg_stop ((struct mg_context *)*state);
    return 0;
}

//  What the handler said of `request` ("ok" or the reason), or "" when
//  CivetWeb itself refused it
static void
s_judge (void **state, const char *request, char *verdict, size_t size)
{
    struct mg_server_port port;
    assert_int_equal (mg_get_server_ports ((struct mg_context *)*state, 1, &port), 1);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons ((uint16_t)port.port)};
    inet_pton (AF_INET, "127.0.0.1", &addr.sin_addr);
    assert_int_equal (connect (fd, (struct sockaddr *)&addr, sizeof (addr)), 0);
    assert_int_equal (send (fd, request, strlen (request), MSG_NOSIGNAL),
                      (ssize_t)strlen (request));
    char response[2048];
    size_t used = 0;
    ssize_t got;
    struct timeval timeout = {2, 0};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof (timeout));
    while (used + 1 < sizeof (response) &&
           (got = recv (fd, response + used, sizeof (response) - 1 - used, 0)) > 0)
        used += (size_t)got;
    response[used] = '\0';
    close (fd);
    const char *body = strstr (response, "\r\n\r\n");
    snprintf (verdict, size, "%s",
              strncmp (response, "HTTP/1.1 200", 12) == 0 && body ? body + 4 : "");
}

static void
test_well_framed_requests_pass (void **state)
{
    const char *good[] = {
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /a?b=c HTTP/1.1\r\nHost: x\r\nAccept: */*\r\nX-Trailing-Space: v  \r\n\r\n",
        "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
        "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nEmpty:\r\nX:y\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.0\r\nUser-Agent: old\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof (good) / sizeof (good[0]); i++) {
        char verdict[256];
        s_judge (state, good[i], verdict, sizeof (verdict));
        if (strcmp (verdict, "ok") != 0)
            fail_msg ("refused a good request (%s): %s", verdict, good[i]);
    }
}

static void
test_ambiguous_requests_are_named (void **state)
{
    const struct {
        const char *request;
        const char *reason; //  a word of the reason
    } bad[] = {
        {"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
         "0\r\n\r\n",
         "together"},
        {"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}", "one"},
        {"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\n{}", "decimal"},
        {"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0x2\r\n\r\n{}", "decimal"},
        {"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1234567890123456789\r\n\r\n", "decimal"},
        {"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         "chunked"},
        {"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", "chunked"},
        {"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\nX-B: d\r\n\r\n", "obs-fold"},
        {"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\tc\r\n\r\n", ""}, //  CivetWeb refuses the tab
        {"GET / HTTP/1.1\r\nHost : x\r\n\r\n", "name"},
        {"GET / HTTP/1.1\r\nHost: x\r\nA\"B: y\r\n\r\n", "name"},
        {"GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n", "Host"},
        {"GET / HTTP/1.1\r\n\r\n", "Host"},
        {"GET http://127.0.0.1/ HTTP/1.1\r\nHost: x\r\n\r\n",
         ""}, //  another port: CivetWeb drops it
        {"GET / HTTP/1.1\nHost: x\n\n", "bare LF"},
        //  CivetWeb eats the whitespace before a first field (and would
        //  honour this Content-Length: the next request swallowed as body)
        {"GET / HTTP/1.1\r\n Content-Length: 4\r\nHost: x\r\n\r\nabcd", "whitespace"},
        {"GET / HTTP/1.1\r\nHost: x\nContent-Length: 4\r\n\r\nabcd", "bare LF"},
        {"POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.0"},
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        char verdict[256];
        s_judge (state, bad[i].request, verdict, sizeof (verdict));
        if (strcmp (verdict, "ok") == 0 || !strstr (verdict, bad[i].reason) ||
            (!*bad[i].reason && *verdict))
            fail_msg ("case %zu: expected '%s', got '%s'", i, bad[i].reason, verdict);
    }
}

static void
test_absolute_form_naming_this_server_is_refused (void **state)
{
    struct mg_server_port port;
    assert_int_equal (mg_get_server_ports ((struct mg_context *)*state, 1, &port), 1);
    char request[256];
    snprintf (request, sizeof (request), "GET http://127.0.0.1:%d/a HTTP/1.1\r\nHost: x\r\n\r\n",
              port.port);
    char verdict[256];
    s_judge (state, request, verdict, sizeof (verdict));
    assert_non_null (strstr (verdict, "origin-form"));
}

//  A head that comes close to CivetWeb's buffer is refused as too large,
//  before anything past its end could be read; one comfortably under it
//  passes
static void
test_large_heads (void **state)
{
    size_t sizes[] = {PD_FRAMING_MAX_HEAD - 2048, PD_FRAMING_MAX_HEAD - 600};
    const char *verdicts[] = {"ok", "too large"};
    for (size_t i = 0; i < 2; i++) {
        char *request = malloc (PD_FRAMING_MAX_HEAD + 64);
        int used = snprintf (request, 64, "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ");
        memset (request + used, 'a', sizes[i] - (size_t)used - 4);
        strcpy (request + sizes[i] - 4, "\r\n\r\n");
        char verdict[256];
        s_judge (state, request, verdict, sizeof (verdict));
        if (!strstr (verdict, verdicts[i]))
            fail_msg ("a %zu-byte head: expected '%s', got '%s'", sizes[i], verdicts[i], verdict);
        free (request);
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_well_framed_requests_pass),
        cmocka_unit_test (test_ambiguous_requests_are_named),
        cmocka_unit_test (test_absolute_form_naming_this_server_is_refused),
        cmocka_unit_test (test_large_heads),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
