/*  test_pd_outbound - the outbound policy: addresses, schemes, redirects,
    size caps, time-outs, Retry-After, against a real listener on loopback

    The listener is a small HTTP server in a thread of this test: it counts
    the connections it accepted, so that "refused without a connection" is
    checked, not assumed.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pd_outbound.h"
#include "pd_status.h"

typedef struct {
    int listener;
    int port;
    atomic_int accepted;
    atomic_bool stop;
    const char *answer; //  the whole HTTP response it sends (NULL: it says nothing)
    pthread_t thread;
} s_server_t;

static void *
s_serve (void *arg)
{
    s_server_t *server = arg;
    while (!atomic_load (&server->stop)) {
        struct pollfd item = {server->listener, POLLIN, 0};
        if (poll (&item, 1, 50) <= 0)
            continue;
        int fd = accept (server->listener, NULL, NULL);
        if (fd < 0)
            continue;
        atomic_fetch_add (&server->accepted, 1);
        char request[4096];
        struct pollfd in = {fd, POLLIN, 0};
        if (poll (&in, 1, 2000) > 0)
            (void)!read (fd, request, sizeof (request));
        if (server->answer)
            (void)!write (fd, server->answer, strlen (server->answer));
        else
            while (!atomic_load (&server->stop) && poll (&in, 1, 50) == 0)
                ; //  says nothing until the client gives up
        close (fd);
    }
    return NULL;
}

static void
s_server_start (s_server_t *server, const char *answer)
{
    memset (server, 0, sizeof (*server));
    server->answer = answer;
    server->listener = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (server->listener >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    assert_int_equal (bind (server->listener, (struct sockaddr *)&address, sizeof (address)), 0);
    socklen_t size = sizeof (address);
    assert_int_equal (getsockname (server->listener, (struct sockaddr *)&address, &size), 0);
    server->port = ntohs (address.sin_port);
    assert_int_equal (listen (server->listener, 16), 0);
    assert_int_equal (pthread_create (&server->thread, NULL, s_serve, server), 0);
}

static void
s_server_stop (s_server_t *server)
{
    atomic_store (&server->stop, true);
    pthread_join (server->thread, NULL);
    close (server->listener);
}

static bool
s_refused (const char *text)
{
    struct sockaddr_storage storage = {0};
    struct sockaddr *address = (struct sockaddr *)&storage;
    if (strchr (text, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&storage;
        in6->sin6_family = AF_INET6;
        assert_int_equal (inet_pton (AF_INET6, text, &in6->sin6_addr), 1);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&storage;
        in->sin_family = AF_INET;
        assert_int_equal (inet_pton (AF_INET, text, &in->sin_addr), 1);
    }
    return pd_outbound_address_refused (address);
}

//  The address table
static void
test_addresses (void **state)
{
    const char *refused[] = {
        "127.0.0.1",
        "127.255.255.254",
        "0.0.0.0",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.254",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a00:1",
        "64:ff9b::7f00:1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
        "::127.0.0.1",
    };
    for (size_t i = 0; i < sizeof (refused) / sizeof (refused[0]); i++)
        if (!s_refused (refused[i]))
            fail_msg ("%s allowed", refused[i]);
    const char *allowed[] = {"8.8.8.8",        "1.1.1.1",         "172.32.0.1",
                             "100.128.0.1",    "192.169.0.1",     "2606:4700::1111",
                             "::ffff:8.8.8.8", "64:ff9b::808:808"};
    for (size_t i = 0; i < sizeof (allowed) / sizeof (allowed[0]); i++)
        if (s_refused (allowed[i]))
            fail_msg ("%s refused", allowed[i]);
    struct sockaddr unix_family = {.sa_family = AF_UNIX};
    assert_true (pd_outbound_address_refused (&unix_family));
}

//  Loopback refused by the policy: no connection reaches the listener;
//  allowed (tests): the answer comes, with its Retry-After
static void
test_loopback_refused_then_allowed (void **state)
{
    s_server_t server;
    s_server_start (&server, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n"
                             "Content-Length: 4\r\nConnection: close\r\n\r\nslow");
    char url[128];
    snprintf (url, sizeof (url), "http://127.0.0.1:%d/hook", server.port);
    CURL *curl = curl_easy_init ();
    pd_outbound_response_t response;
    pd_outbound_request_t request = {url, NULL, "{}", 2, "application/json"};
    //  http:// itself is refused first; then the address, at https://
    pd_outbound_policy_t strict = {1000, 0, false};
    assert_int_equal (pd_outbound_fetch (curl, &strict, &request, &response), PD_E_FORBIDDEN);
    assert_true (response.refused);
    assert_non_null (strstr (response.error, "scheme"));
    char https[128];
    snprintf (https, sizeof (https), "https://127.0.0.1:%d/hook", server.port);
    request.url = https;
    assert_int_equal (pd_outbound_fetch (curl, &strict, &request, &response), PD_E_FORBIDDEN);
    assert_true (response.refused);
    assert_non_null (strstr (response.error, "127.0.0.1 not allowed"));
    snprintf (https, sizeof (https), "https://localhost:%d/hook", server.port);
    assert_int_equal (pd_outbound_fetch (curl, &strict, &request, &response), PD_E_FORBIDDEN);
    assert_int_equal (atomic_load (&server.accepted), 0);

    pd_outbound_policy_t tests = {2000, 0, true};
    request.url = url;
    assert_int_equal (pd_outbound_fetch (curl, &tests, &request, &response), PD_OK);
    assert_int_equal (response.status, 429);
    assert_int_equal (response.retry_after_s, 7);
    assert_string_equal (response.body, "slow");
    assert_true (response.latency_us > 0);
    pd_outbound_response_clear (&response);
    assert_null (response.body);
    assert_int_equal (atomic_load (&server.accepted), 1);
    curl_easy_cleanup (curl);
    s_server_stop (&server);
}

//  A redirect is answered as it is, never followed; a body over the cap
//  is refused (nothing kept); a receiver that hangs costs the time-out
static void
test_redirect_cap_timeout (void **state)
{
    CURL *curl = curl_easy_init ();
    pd_outbound_response_t response;
    pd_outbound_policy_t tests = {500, 16, true};
    char url[128];

    s_server_t redirect;
    s_server_start (&redirect, "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\n"
                               "Content-Length: 0\r\nConnection: close\r\n\r\n");
    snprintf (url, sizeof (url), "http://127.0.0.1:%d/", redirect.port);
    pd_outbound_request_t request = {url, NULL, NULL, 0, NULL};
    assert_int_equal (pd_outbound_fetch (curl, &tests, &request, &response), PD_OK);
    assert_int_equal (response.status, 302);
    assert_int_equal (atomic_load (&redirect.accepted), 1);
    pd_outbound_response_clear (&response);
    s_server_stop (&redirect);

    s_server_t large;
    s_server_start (&large, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
                            "0123456789abcdef0123456789abcdef");
    snprintf (url, sizeof (url), "http://127.0.0.1:%d/", large.port);
    assert_int_equal (pd_outbound_fetch (curl, &tests, &request, &response), PD_E_UNAVAILABLE);
    assert_string_equal (response.error, "response too large");
    assert_null (response.body);
    s_server_stop (&large);

    s_server_t silent;
    s_server_start (&silent, NULL);
    snprintf (url, sizeof (url), "http://127.0.0.1:%d/", silent.port);
    assert_int_equal (pd_outbound_fetch (curl, &tests, &request, &response), PD_E_UNAVAILABLE);
    assert_int_equal (response.status, 0);
    assert_true (response.latency_us >= 450 * 1000 && response.latency_us < 5000 * 1000);
    s_server_stop (&silent);
    curl_easy_cleanup (curl);
}

int
main (void)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_addresses),
        cmocka_unit_test (test_loopback_refused_then_allowed),
        cmocka_unit_test (test_redirect_cap_timeout),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    curl_global_cleanup ();
    return rc;
}
