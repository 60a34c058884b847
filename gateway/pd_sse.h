/*  pd_sse - an event stream answered as Server-Sent Events

    A route with PD_ROUTE_STREAM gets a `stream_grant` from its actor (who
    may follow which stream, from where, and which of its events). This
    module follows that stream through the broker (pd_stream: history from
    the grant's `from`, then live, each event once and in order) and writes
    every event that passes the grant's filters as one SSE event:

        id: <sequence number>
        event: <event type>
        data: <the event as JSON>

    so that a client that reconnects with Last-Event-ID resumes without a
    gap or a duplicate. The caller's right to the stream is checked again
    as it runs (config->recheck): a credential revoked since it opened ends
    it before another event goes out. A comment line keeps idle connections alive. It
    returns when the client is gone, the stream fails, or `stopping` is
    set (checked at least once a second).
*/
#ifndef PD_SSE_H_INCLUDED
#define PD_SSE_H_INCLUDED

#include <stdatomic.h>
#include <stdbool.h>

#include "pd_http.h"
#include "pd_keys.h"
#include "pd_messages.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PD_SSE_TYPE "text/event-stream"
#define PD_SSE_KEEPALIVE_MS                                                                        \
    2000                       //  a comment after this much silence (also how a client
                               //  gone is noticed: within two of them)
#define PD_SSE_POLL_MS    1000 //  how often `stopping` is looked at
#define PD_SSE_RETRY_MS   2000 //  the `retry:` the stream tells clients

typedef struct {
    const char *broker;          //  the broker's services endpoint (history)
    const char *stream;          //  its stream endpoint (live)
    const pd_keys_pair_t *keys;  //  CURVE credentials for both; NULL: none
    const atomic_bool *stopping; //  set when the gateway stops
    int keepalive_ms;            //  0: PD_SSE_KEEPALIVE_MS
    //  May the caller still follow? Asked before each event is written and
    //  at each keep-alive (a local call, some tens of microseconds): a
    //  refusal (401, 403, 404) ends the stream; a failure to ask (the
    //  broker away) ends it too, for the client to reconnect. NULL: never.
    int (*recheck) (void *arg);
    void *recheck_arg;
} pd_sse_config_t;

//  Answer the request with the granted stream, until the client goes, the
//  stream fails or `stopping`. The head (200) is sent only once the stream
//  is open; if it cannot be, 503 is answered. Returns PD_OK or the reason
//  the stream ended (PD_E_UNAVAILABLE, ...).
int pd_sse_serve (pd_http_t *http, const pd_sse_config_t *config, const pd_stream_grant_t *grant);

//  Does the event pass the grant's filters (partner, site, priorities)?
bool pd_sse_wanted (const pd_stream_grant_t *grant, const pd_event_t *event);

#ifdef __cplusplus
}
#endif
#endif
