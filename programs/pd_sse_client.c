/*  pd_sse_client - follow a Server-Sent Events stream (see pd_sse_client.h)

    The SSE framing (WHATWG HTML, "Server-sent events"): lines end in LF,
    CR LF or CR; `field: value`; a blank line dispatches the event; a line
    starting with ':' is a comment (partnerd's keep-alives). Only the
    fields partnerd sends are kept: id, event, data (lines joined by LF),
    retry.
*/
#include "pd_sse_client.h"

#include <czmq.h>
#include <curl/curl.h>
#include <jansson.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_BODY_MAX   4096 //  bytes of a refusal's body kept for its detail
#define S_EVENT_MAX  64   //  bytes of an event name
#define S_CONNECT_S  10
#define S_NAP_MS     100 //  interruptible waits are naps this long
#define S_HEADER_MAX 512

struct _pd_sse_client_t {
    char *url;
    char *key_header; //  "X-API-Key: ..." or NULL
    FILE *log;        //  reconnection notices (NULL: none)
    uint64_t last_id; //  of the last event handed over
    bool has_last;    //  a position is known (an id came, even 0): resume after it
    int retry_ms;     //  the wait before the next reconnection
    //  One connection's state
    long status;       //  its HTTP status (0 until known)
    bool event_stream; //  its Content-Type is text/event-stream
    int retry_after_s; //  its Retry-After (0: none)
    char *line;        //  the line being read
    size_t line_size;
    bool cr;    //  the last byte was a CR (a LF after it ends nothing)
    char *data; //  the event's data so far
    size_t data_size;
    bool has_data;
    char event[S_EVENT_MAX + 1];
    uint64_t id;               //  the event's id, if has_id
    bool has_id;               //  the block gave one
    char body[S_BODY_MAX + 1]; //  a refusal's body
    size_t body_size;
    bool received; //  a byte of the stream came on this connection
    CURL *curl;    //  the connection's handle
    pd_sse_client_fn *handler;
    void *arg;
    int stopped;   //  the handler's non-zero answer
    bool overflow; //  a line was too long
};

pd_sse_client_t *
pd_sse_client_new (const char *url, const char *api_key, uint64_t last_id, FILE *log)
{
    pd_sse_client_t *self = (pd_sse_client_t *)calloc (1, sizeof (pd_sse_client_t));
    if (!self)
        return NULL;
    self->url = strdup (url);
    self->line = (char *)malloc (PD_SSE_CLIENT_LINE_MAX + 1);
    self->data = (char *)malloc (PD_SSE_CLIENT_LINE_MAX + 1);
    if (api_key) {
        size_t size = strlen (api_key) + sizeof ("X-API-Key: ");
        self->key_header = (char *)malloc (size);
        if (self->key_header)
            snprintf (self->key_header, size, "X-API-Key: %s", api_key);
    }
    self->last_id = last_id;
    self->has_last = last_id > 0;
    self->log = log;
    self->retry_ms = PD_SSE_CLIENT_RETRY_MS;
    if (!self->url || !self->line || !self->data || (api_key && !self->key_header))
        pd_sse_client_destroy (&self);
    return self;
}

void
pd_sse_client_destroy (pd_sse_client_t **self_p)
{
    pd_sse_client_t *self = *self_p;
    if (!self)
        return;
    if (self->key_header) //  the key is a secret: not left in freed memory
        memset (self->key_header, 0, strlen (self->key_header));
    free (self->key_header);
    free (self->url);
    free (self->line);
    free (self->data);
    free (self);
    *self_p = NULL;
}

uint64_t
pd_sse_client_last_id (pd_sse_client_t *self)
{
    return self ? self->last_id : 0;
}

//  --------------------------------------------------------------------------
//  The framing

static void
s_dispatch (pd_sse_client_t *self)
{
    //  An id sets the position even without data; an event without one
    //  keeps the last (WHATWG)
    if (self->has_id)
        self->last_id = self->id;
    self->has_last = self->has_last || self->has_id;
    if (self->has_data && !self->stopped) {
        self->data[self->data_size] = 0;
        self->stopped = self->handler (self->last_id, *self->event ? self->event : "message",
                                       self->data, self->arg);
    }
    self->has_data = false;
    self->data_size = 0;
    self->event[0] = 0;
    self->id = 0;
    self->has_id = false;
}

static void
s_on_line (pd_sse_client_t *self, char *line, size_t size)
{
    line[size] = 0;
    if (size == 0) {
        s_dispatch (self);
        return;
    }
    if (line[0] == ':')
        return; //  a comment: keep-alive
    char *value = strchr (line, ':');
    size_t value_size = 0;
    if (value) {
        *value++ = 0;
        if (*value == ' ')
            value++;
        value_size = size - (size_t)(value - line);
    } else
        value = line + size; //  a field with an empty value
    if (strcmp (line, "data") == 0) {
        size_t need = self->data_size + (self->has_data ? 1 : 0) + value_size;
        if (need > PD_SSE_CLIENT_LINE_MAX) {
            self->overflow = true;
            return;
        }
        if (self->has_data)
            self->data[self->data_size++] = '\n';
        memcpy (self->data + self->data_size, value, value_size);
        self->data_size += value_size;
        self->has_data = true;
    } else if (strcmp (line, "event") == 0)
        snprintf (self->event, sizeof (self->event), "%s", value);
    else if (strcmp (line, "id") == 0) {
        //  Digits only, at most INT64_MAX: anything else is no id
        uint64_t id = 0;
        bool digits = *value != 0;
        for (const char *c = value; digits && *c; c++) {
            digits = *c >= '0' && *c <= '9' && id <= (UINT64_C (9223372036854775807) - 9) / 10;
            id = id * 10 + (uint64_t)(*c - '0');
        }
        self->id = digits ? id : 0;
        self->has_id = digits;
    } else if (strcmp (line, "retry") == 0) {
        long ms = strtol (value, NULL, 10);
        if (ms > 0 && ms <= PD_SSE_CLIENT_BACKOFF_MS)
            self->retry_ms = (int)ms;
    }
}

static void
s_on_bytes (pd_sse_client_t *self, const char *bytes, size_t size)
{
    for (size_t i = 0; i < size && !self->stopped && !self->overflow; i++) {
        char c = bytes[i];
        if (c == '\n' && self->cr) {
            self->cr = false; //  the LF of a CR LF
            continue;
        }
        self->cr = c == '\r';
        if (c == '\n' || c == '\r') {
            s_on_line (self, self->line, self->line_size);
            self->line_size = 0;
        } else if (self->line_size == PD_SSE_CLIENT_LINE_MAX)
            self->overflow = true;
        else
            self->line[self->line_size++] = c;
    }
}

//  --------------------------------------------------------------------------
//  libcurl callbacks

static size_t
s_on_header (char *buffer, size_t size, size_t count, void *arg)
{
    pd_sse_client_t *self = (pd_sse_client_t *)arg;
    size_t bytes = size * count;
    char header[S_HEADER_MAX];
    size_t length = bytes < sizeof (header) - 1 ? bytes : sizeof (header) - 1;
    memcpy (header, buffer, length);
    header[length] = 0;
    if (strncasecmp (header, "HTTP/", 5) == 0) {
        //  A new response (after a redirect or a 100): its own headers
        self->event_stream = false;
        self->retry_after_s = 0;
    } else if (strncasecmp (header, "content-type:", 13) == 0) {
        const char *value = header + 13;
        while (*value == ' ')
            value++;
        self->event_stream = strncasecmp (value, "text/event-stream", 17) == 0;
    } else if (strncasecmp (header, "retry-after:", 12) == 0) {
        long seconds = strtol (header + 12, NULL, 10);
        self->retry_after_s = seconds > 0 && seconds < 3600 ? (int)seconds : 0;
    }
    return bytes;
}

static size_t
s_on_body (char *buffer, size_t size, size_t count, void *arg)
{
    pd_sse_client_t *self = (pd_sse_client_t *)arg;
    size_t bytes = size * count;
    if (!self->status)
        curl_easy_getinfo (self->curl, CURLINFO_RESPONSE_CODE, &self->status);
    if (self->status == 200 && self->event_stream) {
        self->received = true;
        s_on_bytes (self, buffer, bytes);
        return self->stopped || self->overflow ? 0 : bytes;
    }
    //  A refusal: keep the start of its body (problem+json) for the error
    size_t room = S_BODY_MAX - self->body_size;
    size_t keep = bytes < room ? bytes : room;
    memcpy (self->body + self->body_size, buffer, keep);
    self->body_size += keep;
    self->body[self->body_size] = 0;
    return bytes;
}

//  SIGINT/SIGTERM end the transfer
static int
s_on_progress (void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
               curl_off_t ulnow)
{
    (void)arg, (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return zsys_interrupted ? 1 : 0;
}

//  --------------------------------------------------------------------------

//  One connection, until it ends. The curl code of the transfer.
static CURLcode
s_connect (pd_sse_client_t *self, CURL *curl)
{
    self->status = 0;
    self->event_stream = false;
    self->retry_after_s = 0;
    self->line_size = 0;
    self->cr = false;
    self->data_size = 0;
    self->has_data = false;
    self->event[0] = 0;
    self->id = 0;
    self->has_id = false;
    self->body_size = 0;
    self->body[0] = 0;
    self->received = false;
    struct curl_slist *headers = curl_slist_append (NULL, "Accept: text/event-stream");
    if (self->key_header)
        headers = curl_slist_append (headers, self->key_header);
    char last[64];
    if (self->has_last) {
        snprintf (last, sizeof (last), "Last-Event-ID: %" PRIu64, self->last_id);
        headers = curl_slist_append (headers, last);
    }
    curl_easy_reset (curl);
    curl_easy_setopt (curl, CURLOPT_URL, self->url);
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT, (long)S_CONNECT_S);
    //  partnerd sends a keep-alive every 2 s: silence means a dead link
    curl_easy_setopt (curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt (curl, CURLOPT_LOW_SPEED_TIME, (long)PD_SSE_CLIENT_SILENCE_S);
    curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt (curl, CURLOPT_HEADERDATA, self);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, self);
    curl_easy_setopt (curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt (curl, CURLOPT_XFERINFOFUNCTION, s_on_progress);
    curl_easy_setopt (curl, CURLOPT_XFERINFODATA, self);
    self->curl = curl;
    CURLcode code = curl_easy_perform (curl);
    if (!self->status)
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &self->status);
    curl_slist_free_all (headers);
    return code;
}

//  The refusal's detail: the problem's `detail` (or its `code`), else the
//  start of the body
static void
s_refusal (pd_sse_client_t *self, char *error, size_t error_size)
{
    const char *detail = NULL;
    json_t *problem = self->body_size ? json_loads (self->body, 0, NULL) : NULL;
    const char *code = json_string_value (json_object_get (problem, "code"));
    detail = json_string_value (json_object_get (problem, "detail"));
    if (!detail)
        detail = code ? code : (self->body_size ? self->body : "no detail");
    snprintf (error, error_size, "HTTP %ld%s%s: %s", self->status, code ? " " : "",
              code ? code : "", detail);
    json_decref (problem);
    //  It is for a terminal: no control characters (C0, DEL, C1, nor bytes
    //  that could start one) from the network
    for (unsigned char *c = (unsigned char *)error; *c; c++)
        if (*c < 0x20 || *c >= 0x7F)
            *c = '?';
}

//  Wait `ms`, unless interrupted; false if interrupted
static bool
s_nap (int ms)
{
    for (int waited = 0; waited < ms && !zsys_interrupted; waited += S_NAP_MS)
        zclock_sleep (S_NAP_MS);
    return !zsys_interrupted;
}

int
pd_sse_client_run (pd_sse_client_t *self, pd_sse_client_fn *handler, void *arg, char *error,
                   size_t error_size)
{
    if (error && error_size)
        *error = 0;
    CURL *curl = curl_easy_init ();
    if (!curl) {
        snprintf (error, error_size, "cannot start libcurl");
        return -1;
    }
    self->handler = handler;
    self->arg = arg;
    self->stopped = 0;
    int rc = 0;
    bool warned = false;
    while (!zsys_interrupted) {
        self->overflow = false;
        CURLcode code = s_connect (self, curl);
        if (self->stopped) {
            rc = self->stopped;
            break;
        }
        if (zsys_interrupted)
            break;
        if (self->overflow) {
            snprintf (error, error_size, "a line longer than %d bytes", PD_SSE_CLIENT_LINE_MAX);
            rc = -1;
            break;
        }
        bool transient = self->status == 0 || self->status == 200 || self->status == 408 ||
                         self->status == 429 || self->status >= 500;
        if (self->status == 200 && !self->event_stream) {
            snprintf (error, error_size, "not an event stream (Content-Type)");
            transient = false;
        } else if (!transient)
            s_refusal (self, error, error_size);
        if (!transient) {
            rc = -1;
            break;
        }
        //  Again, after a while: Retry-After, else the server's retry and a
        //  back-off that a stream that worked starts again
        int wait = self->retry_ms;
        if (self->retry_after_s)
            wait = self->retry_after_s * 1000;
        if (self->received)
            self->retry_ms = PD_SSE_CLIENT_RETRY_MS;
        else
            self->retry_ms = self->retry_ms * 2 > PD_SSE_CLIENT_BACKOFF_MS
                                 ? PD_SSE_CLIENT_BACKOFF_MS
                                 : self->retry_ms * 2;
        if (self->log && (!warned || !self->received)) {
            fprintf (self->log, "%s: %s; again in %d ms\n", self->url,
                     self->status && self->status != 200 ? "refused for now"
                     : code != CURLE_OK                  ? curl_easy_strerror (code)
                                                         : "the stream ended",
                     wait);
            warned = true;
        }
        if (!s_nap (wait))
            break;
    }
    curl_easy_cleanup (curl);
    self->curl = NULL;
    return rc;
}
