/*  test_http_edges - the HTTP edge under attack, against real partnerd processes

    What an attacker on the network tries first, each against a real
    all-in-one partnerd over real sockets (raw TCP where libcurl would not
    send such a request):
    - deeply nested JSON bodies (a 1.8 KB body once crashed the process);
    - ambiguous request framing (RFC 9112): each refused 400 and closed;
    - idle, slow-header and slow-body connections held by the hundred while
      /healthz and an authenticated call must still answer within 1 s;
      connection limits per client address and in total; the time limits
      that cut what is held;
    - failures from one address that must not lock out right credentials
      (test_identity_http), and the client address behind trusted proxies;
    - CORS, off unless origins are configured.
    Clients of their own come from distinct loopback addresses (127.0.x.y).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pd_testutil.h"

#define S_START_MS     20000
#define S_RESPONSE_MAX 16384
#define S_ANSWER_MS    1000 //  what /healthz and an API call must answer within, held or not

//  The main instance holds what it admits for long (the time limits are
//  the small instance's test), so the held connections stay held while
//  they are measured
#define S_MAIN_SETTINGS                                                                            \
    "http_header_timeout_ms = 30000\n"                                                             \
    "http_body_timeout_ms = 60000\n"
#define S_SMALL_CONNECTIONS 24
#define S_SMALL_PER_CLIENT  8
#define S_SMALL_HEADER_MS   1500
#define S_SMALL_IDLE_MS     500
#define S_SMALL_BODY_MS     3000
#define S_SMALL_FAILURES    3
#define S_DASH_ORIGIN       "https://dash.example"
#define S_SMALL_SETTINGS                                                                           \
    "http_max_connections = 24\n"                                                                  \
    "http_max_connections_per_client = 8\n"                                                        \
    "http_header_timeout_ms = 1500\n"                                                              \
    "http_idle_timeout_ms = 500\n"                                                                 \
    "http_body_timeout_ms = 3000\n"                                                                \
    "http_body_min_rate = 1000\n"                                                                  \
    "trusted_proxies = 127.0.0.1, 10.0.0.0/8\n"                                                    \
    "login_failures_per_source = 3\n"                                                              \
    "cors_allowed_origins = " S_DASH_ORIGIN "\n"

//  The limits instance: small connection limits and long time limits, so
//  that what a test holds stays held however slow the machine
#define S_LIMITS_SETTINGS                                                                          \
    "http_max_connections = 24\n"                                                                  \
    "http_max_connections_per_client = 8\n"                                                        \
    "http_header_timeout_ms = 60000\n"

static pd_instance_t s_main, s_small, s_limits;

static int
s_setup (void **state)
{
    if (pd_instance_start (&s_main, S_MAIN_SETTINGS, S_START_MS) != 0 ||
        pd_instance_start (&s_limits, S_LIMITS_SETTINGS, S_START_MS) != 0)
        return -1;
    return pd_instance_start (&s_small, S_SMALL_SETTINGS, S_START_MS);
}

static int
s_teardown (void **state)
{
    int main_status = pd_instance_stop (&s_main);
    int limits_status = pd_instance_stop (&s_limits);
    int small_status = pd_instance_stop (&s_small);
    return main_status == 0 && limits_status == 0 && small_status == 0 ? 0 : -1;
}

static int
s_port (const pd_instance_t *instance)
{
    return atoi (strrchr (instance->base, ':') + 1);
}

static double
s_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec * 1000.0 + (double)now.tv_nsec / 1e6;
}

//  One raw request from `source`; the whole response until the server
//  closes (or timeout_ms). Caller frees. *closed tells whether it closed.
static char *
s_raw (const pd_instance_t *instance, const char *source, const char *request, int timeout_ms,
       bool *closed)
{
    int fd = pd_raw_connect (s_port (instance), source);
    assert_true (fd >= 0);
    assert_int_equal (pd_raw_send (fd, request, strlen (request)), 0);
    char *response = malloc (S_RESPONSE_MAX);
    pd_raw_read (fd, response, S_RESPONSE_MAX, timeout_ms, closed);
    close (fd);
    return response;
}

static int
s_count (const char *text, const char *needle)
{
    int count = 0;
    for (const char *at = strstr (text, needle); at; at = strstr (at + 1, needle))
        count++;
    return count;
}

//  ---------------------------------------------------------------------------
//  Deep nesting

static char *
s_nested (const char *open, const char *close, const char *inner, int levels)
{
    size_t size = levels * (strlen (open) + strlen (close)) + strlen (inner) + 1;
    char *text = malloc (size);
    text[0] = '\0';
    for (int i = 0; i < levels; i++)
        strcat (text, open);
    strcat (text, inner);
    for (int i = 0; i < levels; i++)
        strcat (text, close);
    return text;
}

static void
test_deep_nesting_is_a_clean_400 (void **state)
{
    char *bodies[] = {s_nested ("[", "]", "", 900), s_nested ("{\"a\":", "}", "1", 1000),
                      s_nested ("[", "]", "", 30000), s_nested ("{\"branding\":", "}", "{}", 12)};
    const char *anonymous[] = {"/api/provision/claim", "/api/partners/claim",
                               "/api/partners/auth/magic"};
    for (size_t b = 0; b < sizeof (bodies) / sizeof (bodies[0]); b++) {
        for (size_t r = 0; r < sizeof (anonymous) / sizeof (anonymous[0]); r++) {
            char url[256];
            snprintf (url, sizeof (url), "%s%s", s_main.base, anonymous[r]);
            pd_test_http_t response;
            assert_int_equal (pd_test_http ("POST", url, NULL, bodies[b], NULL, &response), 0);
            assert_int_equal (response.status, 400);
            assert_string_equal (pd_json_str (&response, "code"), "malformed_body");
            assert_string_equal (pd_json_str (&response, "detail"), "nesting is deeper than 8");
            pd_test_http_clear (&response);
        }
        //  An authenticated JSON route the same way
        char url[256];
        snprintf (url, sizeof (url), "%s/api/partners", s_main.base);
        pd_test_http_t response;
        assert_int_equal (pd_test_http ("POST", url, s_main.admin_key, bodies[b], NULL, &response),
                          0);
        assert_int_equal (response.status, 400);
        assert_string_equal (pd_json_str (&response, "code"), "malformed_body");
        pd_test_http_clear (&response);
        free (bodies[b]);
    }
    //  Still alive, and still serving
    char url[256];
    snprintf (url, sizeof (url), "%s/healthz", s_main.base);
    pd_test_http_t response;
    assert_int_equal (pd_test_http ("GET", url, NULL, NULL, NULL, &response), 0);
    assert_int_equal (response.status, 200);
    pd_test_http_clear (&response);
}

//  ---------------------------------------------------------------------------
//  Framing (RFC 9112): each case 400 problem+json, then closed

static long long
s_partner_count (const char *name)
{
    char url[256];
    snprintf (url, sizeof (url), "%s/api/partners?limit=200", s_main.base);
    pd_test_http_t response;
    assert_int_equal (pd_test_http ("GET", url, s_main.admin_key, NULL, NULL, &response), 0);
    assert_int_equal (response.status, 200);
    long long count = 0;
    json_t *items = json_object_get (response.json, "items");
    for (size_t i = 0; i < json_array_size (items); i++)
        count += strcmp (json_string_value (json_object_get (json_array_get (items, i), "name")),
                         name) == 0;
    pd_test_http_clear (&response);
    return count;
}

static void
s_assert_refused (const char *request, const char *why)
{
    bool closed = false;
    char *response = s_raw (&s_main, NULL, request, 3000, &closed);
    if (strncmp (response, "HTTP/1.1 400 Bad Request\r\n", 26) != 0)
        fail_msg ("%s: expected 400, got: %.200s", why, response);
    assert_non_null (strstr (response, "Content-Type: application/problem+json"));
    assert_non_null (strstr (response, "Connection: close"));
    assert_non_null (strstr (response, "\"code\":\"bad_request\""));
    //  Answered once, then closed: nothing after it is read as a request
    if (s_count (response, "\r\nX-Request-Id: ") != 1)
        fail_msg ("%s: answered more than once: %s", why, response);
    if (!closed)
        fail_msg ("%s: the connection stayed open", why);
    free (response);
}

static void
test_ambiguous_framing_is_refused (void **state)
{
    char request[2048];
    const char *body = "{\"name\":\"Smuggled MSP\",\"contact_email\":\"a@smuggle.example\"}";
    //  Content-Length with Transfer-Encoding, a second request pipelined
    snprintf (request, sizeof (request),
              "POST /api/partners HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n"
              "Content-Type: application/json\r\nContent-Length: 4\r\n"
              "Transfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n"
              "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
              s_main.admin_key, strlen (body), body);
    s_assert_refused (request, "Content-Length and Transfer-Encoding");
    assert_int_equal (s_partner_count ("Smuggled MSP"), 0);

    const struct {
        const char *request;
        const char *why;
    } cases[] = {
        {"POST /api/partners/claim HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x",
         "two Content-Length"},
        {"POST /api/partners/claim HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         "Content-Length: 2, 2\r\n\r\n{}",
         "a Content-Length list"},
        {"POST /api/partners/claim HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         "Content-Length: +2\r\n\r\n{}",
         "a signed Content-Length"},
        {"POST /api/partners/claim HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
         "two Transfer-Encoding"},
        {"POST /api/partners/claim HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         "Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
         "a Transfer-Encoding other than chunked"},
        {"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\nX-B: d\r\n\r\n", "obs-fold"},
        //  The fold hides the Content-Length from CivetWeb: its body would
        //  be read as the next request
        {"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\tc\r\nContent-Length: 37\r\n\r\n"
         "GET /api/partners HTTP/1.1\r\nHost: x\r\n\r\n",
         "obs-fold hiding a Content-Length"},
        {"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", "whitespace before a colon"},
        {"GET /healthz HTTP/1.1\r\nHost: x\r\nBad[Name]: y\r\n\r\n", "a name that is no token"},
        {"GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", "two Host"},
        {"GET /healthz HTTP/1.1\r\nAccept: */*\r\n\r\n", "no Host"},
        {"GET /healthz HTTP/1.1\nHost: x\n\n", "bare LF line ends"},
        {"GET /healthz HTTP/1.1\r\nHost: x\nContent-Length: 37\r\n\r\n"
         "GET /api/partners HTTP/1.1\r\nHost: x\r\n\r\n",
         "a bare LF inside the head"},
        {"GET /healthz HTTP/1.1\r\n Content-Length: 37\r\nHost: x\r\n\r\n"
         "GET /api/partners HTTP/1.1\r\nHost: x\r\n\r\n",
         "whitespace before the first field"},
        {"POST /api/partners/claim HTTP/1.0\r\nContent-Type: application/json\r\n"
         "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
         "Transfer-Encoding in HTTP/1.0"},
        {"GET /healthz?a b HTTP/1.1\r\nHost: x\r\nX-Secret: s3cr3t\r\n\r\n",
         "a space in the target"},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
        s_assert_refused (cases[i].request, cases[i].why);

    //  An absolute-form target naming this server
    snprintf (request, sizeof (request),
              "GET http://127.0.0.1:%d/healthz HTTP/1.1\r\nHost: x\r\n\r\n", s_port (&s_main));
    s_assert_refused (request, "absolute-form");

    //  The refused head is never echoed (CivetWeb's own 400 copied it into
    //  its status line: response splitting behind a proxy)
    bool closed = false;
    char *response = s_raw (
        &s_main, NULL, "GET /a b HTTP/1.1\r\nHost: x\r\nX-Secret: s3cr3t\r\n\r\n", 3000, &closed);
    assert_true (strncmp (response, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
    assert_null (strstr (response, "s3cr3t"));
    assert_null (strstr (response, "X-Secret"));
    assert_non_null (strstr (response, "application/problem+json"));
    assert_true (closed);
    free (response);

    //  An absolute-form target for another host is no request for us: closed
    response =
        s_raw (&s_main, NULL, "GET http://evil.example/ HTTP/1.1\r\nHost: evil.example\r\n\r\n",
               3000, &closed);
    assert_true (closed);
    assert_true (response[0] == '\0' || strncmp (response, "HTTP/1.1 400", 12) == 0);
    free (response);

    //  A well-framed request on a kept-alive connection is still served
    response = s_raw (&s_main, NULL,
                      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                      3000, &closed);
    assert_int_equal (s_count (response, "HTTP/1.1 200 OK"), 2);
    free (response);
}

//  ---------------------------------------------------------------------------
//  Held connections

#define S_IDLE             500
#define S_SLOW_HEADER      64
#define S_SLOW_BODY        64
#define S_PER_ADDRESS      50 //  idle connections per address (under the limit of 64)
#define S_SLOW_PER_ADDRESS 32
#define S_FLOOD            200
#define S_DRIP_MS          2000 //  a slow client sends something this often
#define S_PROBES           5

typedef struct {
    int fd;
    int kind; //  0 idle, 1 slow header, 2 slow body
} s_held_t;

//  What the held connections' server says it holds now (its /metrics)
static long long
s_connections_held (const pd_instance_t *instance)
{
    char url[256];
    snprintf (url, sizeof (url), "%s/metrics", instance->base);
    pd_test_http_t response;
    assert_int_equal (pd_test_http ("GET", url, NULL, NULL, NULL, &response), 0);
    const char *line = strstr (response.body, "\npartnerd_http_connections ");
    long long held = line ? atoll (line + strlen ("\npartnerd_http_connections ")) : -1;
    pd_test_http_clear (&response);
    return held;
}

//  Each slow client sends its next byte(s)
static void
s_drip (s_held_t *held, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (held[i].kind == 1)
            pd_raw_send (held[i].fd, "X-Slow: 1\r\n", strlen ("X-Slow: 1\r\n"));
        else if (held[i].kind == 2)
            pd_raw_send (held[i].fd, " ", 1);
    }
}

static double
s_timed_get (const char *path, const char *key, long *status)
{
    char url[256];
    snprintf (url, sizeof (url), "%s%s", s_main.base, path);
    pd_test_http_t response;
    double start = s_now_ms ();
    assert_int_equal (pd_test_http ("GET", url, key, NULL, NULL, &response), 0);
    double elapsed = s_now_ms () - start;
    *status = response.status;
    pd_test_http_clear (&response);
    return elapsed;
}

static void
test_held_connections_do_not_starve_the_api (void **state)
{
    size_t total = S_IDLE + S_SLOW_HEADER + S_SLOW_BODY;
    s_held_t *held = calloc (total, sizeof (s_held_t));
    size_t count = 0;
    char source[32];
    for (int i = 0; i < S_IDLE; i++) {
        snprintf (source, sizeof (source), "127.0.1.%d", 1 + i / S_PER_ADDRESS);
        held[count++] = (s_held_t){pd_raw_connect (s_port (&s_main), source), 0};
    }
    const char *slow_header = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    const char *slow_body = "POST /api/provision/claim HTTP/1.1\r\nHost: x\r\n"
                            "Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n";
    for (int i = 0; i < S_SLOW_HEADER; i++) {
        snprintf (source, sizeof (source), "127.0.2.%d", 1 + i / S_SLOW_PER_ADDRESS);
        held[count] = (s_held_t){pd_raw_connect (s_port (&s_main), source), 1};
        pd_raw_send (held[count].fd, slow_header, strlen (slow_header));
        count++;
    }
    for (int i = 0; i < S_SLOW_BODY; i++) {
        snprintf (source, sizeof (source), "127.0.3.%d", 1 + i / S_SLOW_PER_ADDRESS);
        held[count] = (s_held_t){pd_raw_connect (s_port (&s_main), source), 2};
        pd_raw_send (held[count].fd, slow_body, strlen (slow_body));
        count++;
    }
    for (size_t i = 0; i < count; i++)
        assert_true (held[i].fd >= 0);

    //  The server holds them all (its own gauge says so; the probe itself
    //  is one more)
    long long now_held = 0;
    for (int waited = 0; waited < 10000 && now_held < (long long)total; waited += 100) {
        now_held = s_connections_held (&s_main);
        if (now_held < (long long)total)
            usleep (100 * 1000);
    }
    assert_true (now_held >= (long long)total);

    //  While they are held (and the slow ones keep dripping), /healthz and
    //  an authenticated call answer within a second
    double worst_health = 0, worst_api = 0;
    for (int probe = 0; probe < S_PROBES; probe++) {
        long status = 0;
        double health = s_timed_get ("/healthz", NULL, &status);
        assert_int_equal (status, 200);
        double api = s_timed_get ("/api/partners?limit=1", s_main.admin_key, &status);
        assert_int_equal (status, 200);
        worst_health = health > worst_health ? health : worst_health;
        worst_api = api > worst_api ? api : worst_api;
        s_drip (held, count);
        usleep (S_DRIP_MS * 1000 / S_PROBES);
    }
    printf ("held %lld connections (%d idle, %d slow-header, %d slow-body): "
            "/healthz worst %.1f ms, GET /api/partners worst %.1f ms\n",
            now_held, S_IDLE, S_SLOW_HEADER, S_SLOW_BODY, worst_health, worst_api);
    assert_true (worst_health < S_ANSWER_MS);
    assert_true (worst_api < S_ANSWER_MS);

    //  One address flooding: its first 64 are admitted, the rest answered
    //  503 at once and closed
    int flood[S_FLOOD];
    for (int i = 0; i < S_FLOOD; i++)
        flood[i] = pd_raw_connect (s_port (&s_main), "127.0.4.1");
    int refused = 0, silent = 0;
    for (int i = 0; i < S_FLOOD; i++) {
        assert_true (flood[i] >= 0);
        char response[1024];
        bool closed = false;
        pd_raw_read (flood[i], response, sizeof (response), 200, &closed);
        if (closed && strncmp (response, "HTTP/1.1 503", 12) == 0 &&
            strstr (response, "too many connections") && strstr (response, "Retry-After: 1"))
            refused++;
        else if (!closed && response[0] == '\0')
            silent++;
    }
    printf ("flood of %d connections from one address: %d held, %d refused at once\n", S_FLOOD,
            silent, refused);
    assert_int_equal (refused, S_FLOOD - 64);
    assert_int_equal (silent, 64);
    for (int i = 0; i < S_FLOOD; i++)
        close (flood[i]);
    for (size_t i = 0; i < count; i++)
        close (held[i].fd);
    free (held);
}

//  ---------------------------------------------------------------------------
//  Time limits and the total limit (the small instance)

//  Seconds until the server closed a connection that sent `first` and then
//  `drip` every drip_ms; what it answered goes to response
static double
s_seconds_until_closed (const char *first, const char *drip, int drip_ms, char *response,
                        size_t size)
{
    int fd = pd_raw_connect (s_port (&s_small), "127.0.7.1");
    assert_true (fd >= 0);
    double start = s_now_ms ();
    if (first)
        pd_raw_send (fd, first, strlen (first));
    size_t used = 0;
    bool closed = false;
    response[0] = '\0';
    while (!closed && s_now_ms () - start < 10000) {
        used += pd_raw_read (fd, response + used, size - used, drip_ms, &closed);
        if (!closed && drip)
            pd_raw_send (fd, drip, strlen (drip));
    }
    close (fd);
    assert_true (closed);
    return (s_now_ms () - start) / 1000.0;
}

static void
test_time_limits_cut_what_is_held (void **state)
{
    char response[4096];
    //  Idle: closed at the header time-out, nothing said
    double idle = s_seconds_until_closed (NULL, NULL, 100, response, sizeof (response));
    assert_string_equal (response, "");
    //  A header line now and then: answered and closed at the header
    //  time-out too
    double header = s_seconds_until_closed ("GET /healthz HTTP/1.1\r\nHost: x\r\n", "X-A: b\r\n",
                                            200, response, sizeof (response));
    assert_true (strncmp (response, "HTTP/1.1 400", 12) == 0);
    assert_non_null (strstr (response, "not complete in time"));
    //  A body at 5 bytes/s: 408 by its deadline (what the minimum rate
    //  allows for its length, at most the body time-out)
    double body = s_seconds_until_closed (
        "POST /api/provision/claim HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 60000\r\n\r\n",
        " ", 200, response, sizeof (response));
    assert_true (strncmp (response, "HTTP/1.1 408", 12) == 0);
    assert_non_null (strstr (response, "\"code\":\"request_timeout\""));
    //  Kept alive after an answer: closed at the idle time-out
    double kept = s_seconds_until_closed ("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", NULL, 100,
                                          response, sizeof (response));
    assert_true (strncmp (response, "HTTP/1.1 200", 12) == 0);
    printf ("closed after: idle %.2f s, slow header %.2f s, slow body %.2f s, kept alive %.2f s\n",
            idle, header, body, kept);
    double header_s = S_SMALL_HEADER_MS / 1000.0, idle_s = S_SMALL_IDLE_MS / 1000.0;
    assert_true (idle >= header_s * 0.9 && idle < header_s + 1.0);
    assert_true (header >= header_s * 0.9 && header < header_s + 1.0);
    assert_true (body < S_SMALL_BODY_MS / 1000.0 + 1.0);
    assert_true (kept >= idle_s * 0.9 && kept < idle_s + 1.0);
}

static void
test_connection_limits (void **state)
{
    //  Per client address
    int fds[S_SMALL_CONNECTIONS + 1];
    for (int i = 0; i < S_SMALL_PER_CLIENT; i++)
        fds[i] = pd_raw_connect (s_port (&s_limits), "127.0.8.1");
    bool closed = false;
    char *response =
        s_raw (&s_limits, "127.0.8.1", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 1000, &closed);
    assert_true (strncmp (response, "HTTP/1.1 503", 12) == 0);
    assert_true (closed);
    free (response);
    //  Another address is served meanwhile
    response =
        s_raw (&s_limits, "127.0.8.2",
               "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1000, &closed);
    assert_true (strncmp (response, "HTTP/1.1 200", 12) == 0);
    free (response);

    //  In total: every connection is answered 503 at once while the limit is
    //  held, and served again once one closes
    for (int i = S_SMALL_PER_CLIENT; i < S_SMALL_CONNECTIONS; i++) {
        char source[32];
        snprintf (source, sizeof (source), "127.0.9.%d", 1 + i / S_SMALL_PER_CLIENT);
        fds[i] = pd_raw_connect (s_port (&s_limits), source);
    }
    for (int i = 0; i < S_SMALL_CONNECTIONS; i++)
        assert_true (fds[i] >= 0);
    double start = s_now_ms ();
    response =
        s_raw (&s_limits, "127.0.10.1", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 1000, &closed);
    assert_true (strncmp (response, "HTTP/1.1 503", 12) == 0);
    assert_true (s_now_ms () - start < S_ANSWER_MS);
    free (response);
    close (fds[0]);
    long status = 0;
    for (int waited = 0; waited < 5000 && status != 200; waited += 50) {
        response =
            s_raw (&s_limits, "127.0.10.1",
                   "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1000, &closed);
        status = strncmp (response, "HTTP/1.1 200", 12) == 0 ? 200 : 503;
        free (response);
        if (status != 200)
            usleep (50 * 1000);
    }
    assert_int_equal (status, 200);
    for (int i = 1; i < S_SMALL_CONNECTIONS; i++)
        close (fds[i]);
}

//  ---------------------------------------------------------------------------
//  Client addresses behind proxies

static int
s_bad_key_from (const pd_instance_t *instance, const char *source, const char *forwarded)
{
    char request[4096];
    snprintf (request, sizeof (request),
              "GET /api/partners HTTP/1.1\r\nHost: x\r\nX-API-Key: pda_not_a_key\r\n"
              "%s%s%sConnection: close\r\n\r\n",
              forwarded ? "X-Forwarded-For: " : "", forwarded ? forwarded : "",
              forwarded ? "\r\n" : "");
    bool closed = false;
    char *response = s_raw (instance, source, request, 3000, &closed);
    int status = atoi (response + strlen ("HTTP/1.1 "));
    free (response);
    return status;
}

static void
test_client_address_behind_trusted_proxies (void **state)
{
    //  The small instance trusts 127.0.0.1 and 10.0.0.0/8: the client is
    //  the rightmost X-Forwarded-For entry that is no trusted proxy
    for (int i = 0; i < S_SMALL_FAILURES; i++)
        assert_int_equal (s_bad_key_from (&s_small, "127.0.0.1", "198.51.100.9, 203.0.113.7"), 401);
    assert_int_equal (s_bad_key_from (&s_small, "127.0.0.1", "203.0.113.7"), 429);
    assert_int_equal (s_bad_key_from (&s_small, "127.0.0.1", "203.0.113.7, 10.1.2.3"), 429);
    //  Padding its own header cannot push the proxy's entry out of view,
    //  and a second header counts after the first
    char padded[2048];
    memset (padded, 'a', 1500);
    snprintf (padded + 1500, sizeof (padded) - 1500, ", 6.6.0.1, 203.0.113.7");
    assert_int_equal (s_bad_key_from (&s_small, "127.0.0.1", padded), 429);
    assert_int_equal (
        s_bad_key_from (&s_small, "127.0.0.1", "198.51.100.1\r\nX-Forwarded-For: 203.0.113.7"),
        429);
    //  Another client behind the same proxy is not limited
    assert_int_equal (s_bad_key_from (&s_small, "127.0.0.1", "203.0.113.8"), 401);
    //  An untrusted peer's X-Forwarded-For is ignored: the peer is the client
    for (int i = 0; i < S_SMALL_FAILURES; i++) {
        char forwarded[32];
        snprintf (forwarded, sizeof (forwarded), "192.0.2.%d", i + 1);
        assert_int_equal (s_bad_key_from (&s_small, "127.0.11.1", forwarded), 401);
    }
    assert_int_equal (s_bad_key_from (&s_small, "127.0.11.1", "192.0.2.200"), 429);
    //  So on the main instance, which trusts no proxy
    assert_int_equal (s_bad_key_from (&s_main, "127.0.11.2", "203.0.113.7"), 401);
}

//  ---------------------------------------------------------------------------
//  CORS

static void
test_cors_is_off_unless_configured (void **state)
{
    const char *preflight =
        "OPTIONS /api/partners HTTP/1.1\r\nHost: x\r\n"
        "Origin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\n"
        "Access-Control-Request-Headers: X-API-Key\r\nConnection: close\r\n\r\n";
    bool closed = false;
    char *response = s_raw (&s_main, NULL, preflight, 3000, &closed);
    assert_true (strncmp (response, "HTTP/1.1 405", 12) == 0);
    assert_null (strstr (response, "Access-Control-Allow-Origin"));
    free (response);

    //  Configured: the allowed origin gets its preflight and its headers...
    char request[512];
    snprintf (request, sizeof (request),
              "OPTIONS /api/partners/me HTTP/1.1\r\nHost: x\r\nOrigin: %s\r\n"
              "Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n",
              S_DASH_ORIGIN);
    response = s_raw (&s_small, NULL, request, 3000, &closed);
    assert_true (strncmp (response, "HTTP/1.1 204", 12) == 0);
    assert_non_null (strstr (response, "Access-Control-Allow-Origin: " S_DASH_ORIGIN "\r\n"));
    assert_non_null (strstr (response, "Access-Control-Allow-Methods: GET"));
    assert_non_null (strstr (response, "Access-Control-Allow-Headers: Content-Type, X-API-Key"));
    assert_non_null (strstr (response, "Vary: Origin"));
    assert_null (strstr (response, "Access-Control-Allow-Credentials"));
    free (response);
    snprintf (request, sizeof (request),
              "GET /healthz HTTP/1.1\r\nHost: x\r\nOrigin: %s\r\nConnection: close\r\n\r\n",
              S_DASH_ORIGIN);
    response = s_raw (&s_small, NULL, request, 3000, &closed);
    assert_true (strncmp (response, "HTTP/1.1 200", 12) == 0);
    assert_non_null (strstr (response, "Access-Control-Allow-Origin: " S_DASH_ORIGIN "\r\n"));
    free (response);
    //  ... and no other origin does
    response = s_raw (&s_small, NULL, preflight, 3000, &closed);
    assert_true (strncmp (response, "HTTP/1.1 405", 12) == 0);
    assert_null (strstr (response, "Access-Control-Allow-Origin"));
    free (response);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_deep_nesting_is_a_clean_400),
        cmocka_unit_test (test_ambiguous_framing_is_refused),
        cmocka_unit_test (test_held_connections_do_not_starve_the_api),
        cmocka_unit_test (test_time_limits_cut_what_is_held),
        cmocka_unit_test (test_connection_limits),
        cmocka_unit_test (test_client_address_behind_trusted_proxies),
        cmocka_unit_test (test_cors_is_off_unless_configured),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
