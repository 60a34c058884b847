/*  pd_metrics - gateway counters in Prometheus text format (see pd_metrics.h)

    Each slot (a route, or no route) holds one counter per HTTP status
    (100..599, indexed directly: a few KiB per route buys exact codes with
    no lookup) and a latency histogram. Writers only add, with relaxed
    atomics; a render reads whatever is there, so a scrape racing requests
    may see a histogram a request or two behind its counters, which
    Prometheus tolerates.
*/
#include "pd_metrics.h"
#include "pd_routes.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define S_STATUS_FIRST 100
#define S_STATUS_LAST  599
#define S_STATUS_SLOTS (S_STATUS_LAST - S_STATUS_FIRST + 1)
#define S_STATUS_OTHER 500
#define S_NS_PER_S     1e9

//  Upper bounds of the latency buckets, in seconds (+Inf is implicit)
static const double s_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                  0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define S_BUCKETS (sizeof (s_bounds) / sizeof (s_bounds[0]))

typedef struct {
    atomic_uint_fast64_t requests[S_STATUS_SLOTS]; //  by HTTP status - 100
    atomic_uint_fast64_t buckets[S_BUCKETS + 1];   //  per bucket, not cumulative; last = +Inf
    atomic_uint_fast64_t sum_ns;                   //  total latency, nanoseconds
} s_slot_t;

struct _pd_metrics_t {
    size_t route_count;            //  slots = route_count + 1 (no route)
    atomic_int_fast64_t in_flight; //  requests being served
    s_slot_t slots[];
};

pd_metrics_t *
pd_metrics_new (size_t route_count)
{
    if (route_count > pd_routes_size)
        return NULL;
    pd_metrics_t *self = calloc (1, sizeof (pd_metrics_t) + (route_count + 1) * sizeof (s_slot_t));
    if (!self)
        return NULL;
    self->route_count = route_count;
    atomic_init (&self->in_flight, 0);
    for (size_t i = 0; i <= route_count; i++) {
        s_slot_t *slot = &self->slots[i];
        for (size_t code = 0; code < S_STATUS_SLOTS; code++)
            atomic_init (&slot->requests[code], 0);
        for (size_t b = 0; b <= S_BUCKETS; b++)
            atomic_init (&slot->buckets[b], 0);
        atomic_init (&slot->sum_ns, 0);
    }
    return self;
}

void
pd_metrics_destroy (pd_metrics_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

void
pd_metrics_observe (pd_metrics_t *self, size_t route, int http_status, double seconds)
{
    if (!self)
        return;
    s_slot_t *slot = &self->slots[route < self->route_count ? route : self->route_count];
    if (http_status < S_STATUS_FIRST || http_status > S_STATUS_LAST)
        http_status = S_STATUS_OTHER;
    if (!(seconds > 0)) //  also NaN
        seconds = 0;

    size_t bucket = 0;
    while (bucket < S_BUCKETS && seconds > s_bounds[bucket])
        bucket++;
    double ns = seconds * S_NS_PER_S + 0.5; //  rounded
    uint64_t sum = ns < (double)(UINT64_MAX / 2) ? (uint64_t)ns : UINT64_MAX / 2;

    atomic_fetch_add_explicit (&slot->requests[http_status - S_STATUS_FIRST], 1,
                               memory_order_relaxed);
    atomic_fetch_add_explicit (&slot->buckets[bucket], 1, memory_order_relaxed);
    atomic_fetch_add_explicit (&slot->sum_ns, sum, memory_order_relaxed);
}

void
pd_metrics_enter (pd_metrics_t *self)
{
    if (self)
        atomic_fetch_add_explicit (&self->in_flight, 1, memory_order_relaxed);
}

void
pd_metrics_leave (pd_metrics_t *self)
{
    if (self)
        atomic_fetch_sub_explicit (&self->in_flight, 1, memory_order_relaxed);
}

static const char *
s_slot_label (pd_metrics_t *self, size_t index)
{
    return pd_route_label (index < self->route_count ? &pd_routes[index] : NULL);
}

//  Write a label value with the escapes of the text format
static void
s_put_label (FILE *out, const char *text)
{
    for (; *text; text++) {
        if (*text == '\\' || *text == '"')
            fprintf (out, "\\%c", *text);
        else if (*text == '\n')
            fputs ("\\n", out);
        else
            fputc (*text, out);
    }
}

static void
s_render_requests (pd_metrics_t *self, FILE *out)
{
    fputs ("# HELP partnerd_http_requests_total HTTP requests by route and status.\n"
           "# TYPE partnerd_http_requests_total counter\n",
           out);
    for (size_t i = 0; i <= self->route_count; i++) {
        s_slot_t *slot = &self->slots[i];
        for (int code = 0; code < S_STATUS_SLOTS; code++) {
            uint64_t count = atomic_load_explicit (&slot->requests[code], memory_order_relaxed);
            if (count == 0)
                continue;
            fputs ("partnerd_http_requests_total{route=\"", out);
            s_put_label (out, s_slot_label (self, i));
            fprintf (out, "\",code=\"%d\"} %llu\n", code + S_STATUS_FIRST,
                     (unsigned long long)count);
        }
    }
}

static void
s_render_durations (pd_metrics_t *self, FILE *out)
{
    fputs ("# HELP partnerd_http_request_duration_seconds HTTP request latency by route.\n"
           "# TYPE partnerd_http_request_duration_seconds histogram\n",
           out);
    for (size_t i = 0; i <= self->route_count; i++) {
        s_slot_t *slot = &self->slots[i];
        const char *label = s_slot_label (self, i);
        uint64_t cumulative = 0;
        for (size_t b = 0; b <= S_BUCKETS; b++) {
            cumulative += atomic_load_explicit (&slot->buckets[b], memory_order_relaxed);
            fputs ("partnerd_http_request_duration_seconds_bucket{route=\"", out);
            s_put_label (out, label);
            if (b < S_BUCKETS)
                fprintf (out, "\",le=\"%g\"} %llu\n", s_bounds[b], (unsigned long long)cumulative);
            else
                fprintf (out, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cumulative);
        }
        uint64_t sum_ns = atomic_load_explicit (&slot->sum_ns, memory_order_relaxed);
        fputs ("partnerd_http_request_duration_seconds_sum{route=\"", out);
        s_put_label (out, label);
        fprintf (out, "\"} %.9f\n", (double)sum_ns / S_NS_PER_S);
        fputs ("partnerd_http_request_duration_seconds_count{route=\"", out);
        s_put_label (out, label);
        fprintf (out, "\"} %llu\n", (unsigned long long)cumulative);
    }
}

char *
pd_metrics_render (pd_metrics_t *self)
{
    if (!self)
        return NULL;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;

    s_render_requests (self, out);
    s_render_durations (self, out);
    fprintf (out,
             "# HELP partnerd_http_in_flight HTTP requests being served.\n"
             "# TYPE partnerd_http_in_flight gauge\n"
             "partnerd_http_in_flight %lld\n",
             (long long)atomic_load_explicit (&self->in_flight, memory_order_relaxed));

    bool failed = ferror (out) != 0;
    if (fclose (out) != 0 || failed) {
        free (text);
        return NULL;
    }
    return text;
}
