/*  test_pd_metrics - the gateway's request counters and histograms, as
    /metrics renders them
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
//  Metrics

static void
s_assert_line (const char *text, const char *line)
{
    char needle[512];
    snprintf (needle, sizeof (needle), "\n%s\n", line);
    if (!strstr (text, needle))
        fail_msg ("missing line: %s\nin:\n%s", line, text);
}

static void
test_metrics_render (void **state)
{
    pd_metrics_t *metrics = pd_metrics_new (pd_routes_size);
    assert_non_null (metrics);
    pd_metrics_observe (metrics, 0, 201, 0.003);
    pd_metrics_observe (metrics, 0, 201, 0.02);
    pd_metrics_observe (metrics, 0, 400, 0.0001);
    pd_metrics_observe (metrics, 3, 404, 30); //  past every bucket
    pd_metrics_observe (metrics, pd_routes_size, 404, 0.001);
    pd_metrics_observe (metrics, 999, 200, -1); //  no-route slot, 0 s
    pd_metrics_observe (metrics, 1, 42, 0.0);   //  counted as 500
    pd_metrics_enter (metrics);
    pd_metrics_enter (metrics);
    pd_metrics_leave (metrics);

    char *text = pd_metrics_render (metrics);
    assert_non_null (text);
    s_assert_line (text, "# TYPE partnerd_http_requests_total counter");
    s_assert_line (text,
                   "partnerd_http_requests_total{route=\"POST /api/partners\",code=\"201\"} 2");
    s_assert_line (text,
                   "partnerd_http_requests_total{route=\"POST /api/partners\",code=\"400\"} 1");
    s_assert_line (text,
                   "partnerd_http_requests_total{route=\"GET /api/partners/{id}\",code=\"404\"} 1");
    s_assert_line (text, "partnerd_http_requests_total{route=\"none\",code=\"404\"} 1");
    s_assert_line (text, "partnerd_http_requests_total{route=\"none\",code=\"200\"} 1");
    s_assert_line (text,
                   "partnerd_http_requests_total{route=\"GET /api/partners\",code=\"500\"} 1");
    assert_null (strstr (text, "code=\"42\""));
    assert_null (strstr (text, "route=\"GET /api/partners/me\",code="));

    s_assert_line (text, "# TYPE partnerd_http_request_duration_seconds histogram");
    s_assert_line (text, "partnerd_http_request_duration_seconds_bucket{route=\"POST "
                         "/api/partners\",le=\"0.0005\"} 1");
    s_assert_line (text, "partnerd_http_request_duration_seconds_bucket{route=\"POST "
                         "/api/partners\",le=\"0.0025\"} 1");
    s_assert_line (text, "partnerd_http_request_duration_seconds_bucket{route=\"POST "
                         "/api/partners\",le=\"0.005\"} 2");
    s_assert_line (text, "partnerd_http_request_duration_seconds_bucket{route=\"POST "
                         "/api/partners\",le=\"0.025\"} 3");
    s_assert_line (text, "partnerd_http_request_duration_seconds_bucket{route=\"POST "
                         "/api/partners\",le=\"+Inf\"} 3");
    s_assert_line (
        text,
        "partnerd_http_request_duration_seconds_sum{route=\"POST /api/partners\"} 0.023100000");
    s_assert_line (text,
                   "partnerd_http_request_duration_seconds_count{route=\"POST /api/partners\"} 3");
    s_assert_line (text, "partnerd_http_request_duration_seconds_bucket{route=\"GET "
                         "/api/partners/{id}\",le=\"10\"} 0");
    s_assert_line (text, "partnerd_http_request_duration_seconds_bucket{route=\"GET "
                         "/api/partners/{id}\",le=\"+Inf\"} 1");
    s_assert_line (text, "partnerd_http_request_duration_seconds_count{route=\"none\"} 2");
    //  Routes never called still have their (zero) series
    s_assert_line (
        text, "partnerd_http_request_duration_seconds_count{route=\"GET /api/partners/me\"} 0");

    s_assert_line (text, "# TYPE partnerd_http_in_flight gauge");
    s_assert_line (text, "partnerd_http_in_flight 1");
    assert_int_equal (text[strlen (text) - 1], '\n');
    free (text);

    pd_metrics_destroy (&metrics);
    assert_null (metrics);
    pd_metrics_destroy (&metrics);
    assert_null (pd_metrics_new (pd_routes_size + 1));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_metrics_render),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
