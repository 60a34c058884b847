/*  pd_sse - an event stream answered as Server-Sent Events (see pd_sse.h)
 */
#include "pd_sse.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_stream.h"

#define S_HEAD_MAX 128 //  "id: ...\nevent: ...\ndata: "

//  Is `word` one of the comma-separated words of `list`?
static bool
s_listed (const char *list, const char *word)
{
    size_t length = strlen (word);
    for (const char *at = list; at && *at;) {
        const char *comma = strchr (at, ',');
        size_t size = comma ? (size_t)(comma - at) : strlen (at);
        if (size == length && memcmp (at, word, size) == 0)
            return true;
        at = comma ? comma + 1 : NULL;
    }
    return false;
}

bool
pd_sse_wanted (const pd_stream_grant_t *grant, const pd_event_t *event)
{
    if (grant->partner_id &&
        (!event->partner_id || strcmp (event->partner_id, grant->partner_id) != 0))
        return false;
    if (grant->site_id && (!event->site_id || strcmp (event->site_id, grant->site_id) != 0))
        return false;
    if (grant->priority && (!event->priority || !s_listed (grant->priority, event->priority)))
        return false;
    return true;
}

//  Write one event as an SSE event (the JSON has no newline: it is
//  compact); 0, or -1 when the client is gone
static int
s_write_event (pd_http_t *http, uint64_t seq, const pd_event_t *event)
{
    char *json = pd_schema_to_json (&pd_event_schema, event);
    if (!json)
        return 0; //  an event that does not render is skipped, not fatal
    char head[S_HEAD_MAX];
    int length =
        snprintf (head, sizeof (head), "id: %" PRIu64 "\nevent: %s\ndata: ", seq, event->type);
    int rc = length > 0 && (size_t)length < sizeof (head)
                 ? pd_http_write (http, head, (size_t)length)
                 : 0;
    if (rc == 0)
        rc = pd_http_write (http, json, strlen (json));
    if (rc == 0)
        rc = pd_http_write (http, "\n\n", 2);
    free (json);
    return rc;
}

int
pd_sse_serve (pd_http_t *http, const pd_sse_config_t *config, const pd_stream_grant_t *grant)
{
    pd_stream_t *stream = pd_stream_new_curve (config->broker, config->stream, grant->stream,
                                               (uint64_t)grant->from, config->keys);
    if (!stream) {
        pd_http_problem (http, PD_E_UNAVAILABLE, "the event stream cannot be followed now", NULL,
                         NULL);
        return PD_E_UNAVAILABLE;
    }
    pd_http_stream_start (http, 200, PD_SSE_TYPE);
    //  The retry, and the position before the first event (an id without
    //  data dispatches nothing, but a client that reconnects before an
    //  event came resumes from it, not from the end then)
    char retry[64];
    int length = snprintf (retry, sizeof (retry), "retry: %d\nid: %" PRIu64 "\n\n", PD_SSE_RETRY_MS,
                           (uint64_t)(grant->from - 1));
    int rc = pd_http_write (http, retry, (size_t)length) == 0 ? PD_OK : PD_E_UNAVAILABLE;
    int keepalive_ms = config->keepalive_ms > 0 ? config->keepalive_ms : PD_SSE_KEEPALIVE_MS;
    int64_t quiet_since = zclock_mono ();
    while (rc == PD_OK && !atomic_load (config->stopping)) {
        uint64_t seq = 0;
        uint8_t *data = NULL;
        size_t size = 0;
        int next = pd_stream_next (stream, &seq, &data, &size, PD_SSE_POLL_MS);
        if (next == PD_OK) {
            pd_event_t event = {0};
            if (pd_schema_decode (&pd_event_schema, data, size, &event, NULL) == PD_OK &&
                pd_sse_wanted (grant, &event)) {
                if (config->recheck)
                    rc = config->recheck (config->recheck_arg);
                if (rc == PD_OK && s_write_event (http, seq, &event) != 0)
                    rc = PD_E_UNAVAILABLE;
                quiet_since = zclock_mono ();
            }
            pd_schema_clear (&pd_event_schema, &event);
        } else if (next != PD_E_TIMEOUT)
            rc = next; //  the history cannot be read: the client reconnects
        free (data);
        if (rc == PD_OK && zclock_mono () - quiet_since >= keepalive_ms) {
            //  A comment: keeps proxies from closing, finds a client gone;
            //  and the caller is asked again
            if (pd_http_write (http, ": keep-alive\n\n", 14) != 0)
                rc = PD_E_UNAVAILABLE;
            if (rc == PD_OK && config->recheck)
                rc = config->recheck (config->recheck_arg);
            quiet_since = zclock_mono ();
        }
    }
    pd_stream_destroy (&stream);
    return rc;
}
