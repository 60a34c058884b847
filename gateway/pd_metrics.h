/*  pd_metrics - gateway counters in Prometheus text format

    Lock-free counters (C11 atomics) per route and HTTP status, a latency
    histogram per route, and a gauge of requests in flight. Rendered by
    GET /metrics. Routes are labelled by pd_route_label (pd_routes.h); the
    no-route slot by PD_ROUTE_LABEL_NONE.

        partnerd_http_requests_total{route="GET /api/partners/{id}",code="200"} 3
        partnerd_http_request_duration_seconds_bucket{route="...",le="0.005"} 2
        partnerd_http_in_flight 1

    Every call is thread-safe.
*/
#ifndef PD_METRICS_H_INCLUDED
#define PD_METRICS_H_INCLUDED

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _pd_metrics_t pd_metrics_t;

//  Counters for `route_count` routes (index = position in pd_routes), plus
//  one slot for requests that matched no route (index route_count). NULL
//  if route_count exceeds pd_routes_size or on OOM.
pd_metrics_t *pd_metrics_new (size_t route_count);
void pd_metrics_destroy (pd_metrics_t **self_p);

//  Count one finished request: route index, HTTP status, seconds taken.
//  A route index past route_count counts in the no-route slot; a status
//  outside 100..599 counts as 500.
void pd_metrics_observe (pd_metrics_t *self, size_t route, int http_status, double seconds);

//  A request starts / ends: moves the in-flight gauge.
void pd_metrics_enter (pd_metrics_t *self);
void pd_metrics_leave (pd_metrics_t *self);

//  Render every metric (text format 0.0.4). Returns malloc'd text (caller
//  frees), NULL on OOM. Counters of a status never seen are not written.
char *pd_metrics_render (pd_metrics_t *self);

#ifdef __cplusplus
}
#endif
#endif
