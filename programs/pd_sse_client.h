/*  pd_sse_client - follow a Server-Sent Events stream over HTTP (libcurl)

    What `partnerctl tail --url` reads: partnerd's escalation streams
    (GET /api/partners/me/escalations/stream and the admin one), as
    text/event-stream. Each event's `id` is its stream sequence number; a
    dropped connection is opened again with Last-Event-ID, so that the
    caller sees every event once, in order, across reconnections. Lines are
    bounded (PD_SSE_CLIENT_LINE_MAX); a longer one ends the stream.
*/
#ifndef PD_SSE_CLIENT_H_INCLUDED
#define PD_SSE_CLIENT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PD_SSE_CLIENT_LINE_MAX   (256 * 1024) //  bytes of one line (an event's data)
#define PD_SSE_CLIENT_RETRY_MS   1000         //  first wait before reconnecting
#define PD_SSE_CLIENT_BACKOFF_MS 30000        //  ...doubling up to this
#define PD_SSE_CLIENT_SILENCE_S  10           //  no byte this long: the link is dead
#define PD_SSE_CLIENT_ERROR_MAX  512

typedef struct _pd_sse_client_t pd_sse_client_t;

//  One event: return 0 to go on, anything else to stop (pd_sse_client_run
//  then returns it). `data` is NUL-terminated; `id` is the last id the
//  stream gave (WHATWG's last event ID; 0: none yet).
typedef int (pd_sse_client_fn) (uint64_t id, const char *event, const char *data, void *arg);

//  A client of `url` sending `api_key` as X-API-Key (may be NULL); resumes
//  after `last_id` (0: the server's default start); says why it reconnects
//  on `log` (NULL: silent). NULL on OOM.
pd_sse_client_t *pd_sse_client_new (const char *url, const char *api_key, uint64_t last_id,
                                    FILE *log);
void pd_sse_client_destroy (pd_sse_client_t **self_p);

//  Follow the stream, calling `handler` for each event, until it says
//  stop (its value is returned), a refusal that retrying cannot mend
//  (-1, with the status and the server's problem detail in `error`), or
//  an interrupt (zsys_interrupted: 0). Transient failures (no connection,
//  5xx, 503 with Retry-After, the stream ending) reconnect with a back-off.
int pd_sse_client_run (pd_sse_client_t *self, pd_sse_client_fn *handler, void *arg, char *error,
                       size_t error_size);

//  The id of the last event handed to the handler (0: none yet)
uint64_t pd_sse_client_last_id (pd_sse_client_t *self);

#ifdef __cplusplus
}
#endif
#endif
