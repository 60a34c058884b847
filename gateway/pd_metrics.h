/*  pd_metrics - gateway counters in Prometheus text format

    Lock-free counters (C11 atomics) per route and HTTP status class, and a
    latency histogram per route. Rendered by GET /metrics.
*/
#ifndef PD_METRICS_H_INCLUDED
#define PD_METRICS_H_INCLUDED

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _pd_metrics_t pd_metrics_t;

//  Counters for `route_count` routes (index = position in pd_routes), plus
//  one slot for requests that matched no route (index route_count).
pd_metrics_t *pd_metrics_new (size_t route_count);
void pd_metrics_destroy (pd_metrics_t **self_p);

//  Count one finished request: route index, HTTP status, seconds taken.
void pd_metrics_observe (pd_metrics_t *self, size_t route, int http_status, double seconds);

//  Render every metric (text format 0.0.4). Returns malloc'd text.
char *pd_metrics_render (pd_metrics_t *self);

#ifdef __cplusplus
}
#endif
#endif
