/*  test_escalations_http - escalation tickets, SLA timers and the
    escalation stream through a real partnerd

    One all-in-one partnerd (two instances of every actor, so two SLA
    timers) on loopback. Appliances are claimed over HTTP and raise tickets
    with their tokens. What the SLA timer does is waited for through the
    escalation stream with the operator's own tool (`partnerctl tail
    escalations --count N` returns when N events came), never by sleeping;
    a deadline that passes while partnerd is down is made by restarting it
    with its clock moved on (clock_skew_ms).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <unistd.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>

#include "pd_testutil.h"

#define S_START_TIMEOUT_MS 20000
#define S_RUN_MS           20000
#define S_RACERS           64
#define S_TOKEN_MAX        256
#define S_ID_MAX           65
#define S_URL_MAX          2200
#define S_OUTPUT_MAX       65536

static pd_instance_t s_main;

//  A claimed appliance: its partner's key and its own token
typedef struct {
    char partner_key[S_TOKEN_MAX];
    char token[S_TOKEN_MAX];
    char site_id[S_ID_MAX];
    char appliance_id[S_ID_MAX];
} s_appliance_t;

static int
s_setup (void **state)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
    return pd_instance_start (
        &s_main,
        "login_failures_per_source = 100000\nsla_tick_ms = 50\nsse_max_streams = 3\n"
        "sse_max_streams_per_partner = 2\n",
        S_START_TIMEOUT_MS);
}

static int
s_teardown (void **state)
{
    int status = pd_instance_stop (&s_main);
    curl_global_cleanup ();
    return status == 0 ? 0 : -1;
}

static long
s_call (const char *method, const char *path, const char *key, const char *body,
        pd_test_http_t *response)
{
    char url[S_URL_MAX];
    snprintf (url, sizeof (url), "%s%s", s_main.base, path);
    pd_test_http_options_t options = {.api_key = key, .body = body};
    assert_int_equal (pd_test_http_ex (method, url, &options, response), 0);
    return response->status;
}

static void
s_expect (const pd_test_http_t *response, long status, const char *code)
{
    if (response->status != status)
        fail_msg ("expected %ld %s, got %ld: %s", status, code ? code : "", response->status,
                  response->body ? response->body : "");
    if (code) {
        assert_string_equal (response->content_type, "application/problem+json");
        assert_string_equal (pd_json_str (response, "code"), code);
    }
}

static void
s_partner (const char *name, char *key)
{
    char body[256];
    snprintf (body, sizeof (body), "{\"name\":\"%s\",\"contact_email\":\"ops@esc.example\"}", name);
    pd_test_http_t response;
    s_call ("POST", "/api/partners", s_main.admin_key, body, &response);
    s_expect (&response, 201, NULL);
    snprintf (key, S_TOKEN_MAX, "%s", pd_json_str (&response, "api_key"));
    pd_test_http_clear (&response);
}

//  A new appliance of the partner at site `site`
static void
s_appliance (const char *partner_key, const char *site, int mac, s_appliance_t *appliance)
{
    snprintf (appliance->partner_key, sizeof (appliance->partner_key), "%s", partner_key);
    char body[256];
    snprintf (body, sizeof (body), "{\"site_name\":\"%s\"}", site);
    pd_test_http_t response;
    s_call ("POST", "/api/partners/me/provisions", partner_key, body, &response);
    s_expect (&response, 201, NULL);
    snprintf (body, sizeof (body), "{\"code\":\"%s\",\"mac\":\"02:00:00:00:%02x:%02x\"}",
              pd_json_str (&response, "code"), mac / 256, mac % 256);
    pd_test_http_clear (&response);
    s_call ("POST", "/api/provision/claim", NULL, body, &response);
    s_expect (&response, 200, NULL);
    snprintf (appliance->token, sizeof (appliance->token), "%s",
              pd_json_str (&response, "appliance_token"));
    snprintf (appliance->site_id, sizeof (appliance->site_id), "%s",
              pd_json_str (&response, "site_id"));
    snprintf (appliance->appliance_id, sizeof (appliance->appliance_id), "%s",
              pd_json_str (&response, "appliance_id"));
    pd_test_http_clear (&response);
}

//  Raise an escalation; the response kept
static long
s_raise (const s_appliance_t *appliance, const char *body, pd_test_http_t *response)
{
    return s_call ("POST", "/api/escalations", appliance->token, body, response);
}

static long
s_ticket_call (const char *method, const char *key, const char *id, const char *action,
               const char *body, pd_test_http_t *response)
{
    char path[256];
    snprintf (path, sizeof (path), "/api/partners/me/escalations/%s%s%s", id, action ? "/" : "",
              action ? action : "");
    return s_call (method, path, key, body, response);
}

//  The last sequence number of the escalation stream
static long long
s_stream_last (void)
{
    pd_test_http_t response;
    s_call ("GET", "/api/admin/streams/escalations?from=1&limit=1", s_main.admin_key, NULL,
            &response);
    s_expect (&response, 200, NULL);
    long long last = pd_json_int (&response, "last_seq");
    pd_test_http_clear (&response);
    return last;
}

//  partnerctl tail escalations from `from` until `count` events passed the
//  filters (extra: more arguments, NULL-terminated); its output
static void
s_tail (long long from, int count, const char *const extra[], char *output, size_t size)
{
    char broker[512], stream[512], from_text[32], count_text[32];
    snprintf (broker, sizeof (broker), "ipc://%s/broker.sock", s_main.dir);
    snprintf (stream, sizeof (stream), "ipc://%s/streams.sock", s_main.dir);
    snprintf (from_text, sizeof (from_text), "%lld", from);
    snprintf (count_text, sizeof (count_text), "%d", count);
    const char *args[24] = {"tail",     "escalations", "--from", from_text,  "--count",
                            count_text, "--broker",    broker,   "--stream", stream};
    size_t n = 10;
    for (size_t i = 0; extra && extra[i] && n < 23; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    assert_int_equal (pd_run (PARTNERCTL_BIN, args, output, size, S_RUN_MS), 0);
}

//  partnerctl tail escalations --url with the API key `key` (in the
//  environment when `by_env`, else --api-key), from `from` until `count`
//  events; its output; its exit status
static int
s_tail_url (const char *key, bool by_env, long long from, int count, const char *const extra[],
            char *output, size_t size)
{
    char from_text[32], count_text[32];
    snprintf (from_text, sizeof (from_text), "%lld", from);
    snprintf (count_text, sizeof (count_text), "%d", count);
    const char *args[24] = {"tail",    "escalations", "--url",    s_main.base, "--from",
                            from_text, "--count",     count_text, "--json"};
    size_t n = 9;
    if (!by_env) {
        args[n++] = "--api-key";
        args[n++] = key;
    }
    for (size_t i = 0; extra && extra[i] && n < 23; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    if (by_env)
        setenv ("PARTNERD_API_KEY", key, 1);
    int status = pd_run (PARTNERCTL_BIN, args, output, size, S_RUN_MS);
    unsetenv ("PARTNERD_API_KEY");
    return status;
}

//  How many lines of `text` contain `word`
static int
s_lines_with (const char *text, const char *word)
{
    int count = 0;
    for (const char *line = text; line && *line;) {
        const char *end = strchr (line, '\n');
        size_t length = end ? (size_t)(end - line) : strlen (line);
        char copy[4096];
        snprintf (copy, sizeof (copy), "%.*s", (int)length, line);
        if (strstr (copy, word))
            count++;
        line = end ? end + 1 : NULL;
    }
    return count;
}

//  ------------------------------------------------------------------------
//  An SSE client (libcurl) in a thread of its own

#define S_SSE_MAX 16

typedef struct {
    char url[S_URL_MAX];
    const char *key;
    const char *last_event_id; //  sent as Last-Event-ID (may be NULL)
    int want;                  //  stop after this many events
    long status;
    char content_type[128];
    int count;
    long long ids[S_SSE_MAX];
    char types[S_SSE_MAX][64];
    char subjects[S_SSE_MAX][S_ID_MAX];
    char buffer[65536];
    size_t used;
    volatile bool stop; //  set by the test: the client hangs up
    bool connected;     //  the head came
    long long position; //  the stream's position block (-1: none yet)
    pthread_mutex_t lock;
    pthread_cond_t changed;
} s_sse_t;

//  Parse complete events ("...\n\n") out of the buffer
static void
s_sse_parse (s_sse_t *self)
{
    char *end;
    while (self->count < S_SSE_MAX && (end = strstr (self->buffer, "\n\n"))) {
        *end = 0;
        long long id = -1;
        bool data_seen = false; //  a block without data is no event (the position)
        char type[64] = "", subject[S_ID_MAX] = "";
        for (char *line = self->buffer; line && *line;) {
            char *next = strchr (line, '\n');
            if (next)
                *next++ = 0;
            if (strncmp (line, "id: ", 4) == 0)
                id = atoll (line + 4);
            else if (strncmp (line, "event: ", 7) == 0)
                snprintf (type, sizeof (type), "%s", line + 7);
            else if (strncmp (line, "data: ", 6) == 0) {
                data_seen = true;
                json_t *data = json_loads (line + 6, 0, NULL);
                const char *value = json_string_value (json_object_get (data, "subject"));
                snprintf (subject, sizeof (subject), "%s", value ? value : "");
                json_decref (data);
            }
            line = next;
        }
        if (id >= 0 && !data_seen)
            self->position = id;
        if (id >= 0 && data_seen) {
            self->ids[self->count] = id;
            snprintf (self->types[self->count], sizeof (self->types[0]), "%s", type);
            snprintf (self->subjects[self->count], sizeof (self->subjects[0]), "%s", subject);
            self->count++;
        }
        size_t rest = self->used - (size_t)(end + 2 - self->buffer);
        memmove (self->buffer, end + 2, rest + 1);
        self->used = rest;
    }
}

static size_t
s_sse_write (char *data, size_t size, size_t count, void *arg)
{
    s_sse_t *self = arg;
    size_t bytes = size * count;
    pthread_mutex_lock (&self->lock);
    if (self->used + bytes < sizeof (self->buffer)) {
        memcpy (self->buffer + self->used, data, bytes);
        self->used += bytes;
        self->buffer[self->used] = 0;
        s_sse_parse (self);
    }
    bool done = self->count >= self->want || self->stop;
    pthread_cond_broadcast (&self->changed);
    pthread_mutex_unlock (&self->lock);
    return done ? 0 : bytes;
}

static size_t
s_sse_header (char *data, size_t size, size_t count, void *arg)
{
    s_sse_t *self = arg;
    pthread_mutex_lock (&self->lock);
    if (strncasecmp (data, "content-type:", 13) == 0)
        snprintf (self->content_type, sizeof (self->content_type), "%.*s",
                  (int)strcspn (data + 14, "\r\n"), data + 14);
    if (size * count == 2 && data[0] == '\r') {
        self->connected = true;
        pthread_cond_broadcast (&self->changed);
    }
    pthread_mutex_unlock (&self->lock);
    return size * count;
}

static int
s_sse_progress (void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    return ((s_sse_t *)arg)->stop ? 1 : 0;
}

static void *
s_sse_run (void *arg)
{
    s_sse_t *self = arg;
    CURL *curl = curl_easy_init ();
    struct curl_slist *headers = NULL;
    char line[512];
    snprintf (line, sizeof (line), "X-API-Key: %s", self->key);
    headers = curl_slist_append (headers, line);
    if (self->last_event_id) {
        snprintf (line, sizeof (line), "Last-Event-ID: %s", self->last_event_id);
        headers = curl_slist_append (headers, line);
    }
    curl_easy_setopt (curl, CURLOPT_URL, self->url);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_sse_write);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, self);
    curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_sse_header);
    curl_easy_setopt (curl, CURLOPT_HEADERDATA, self);
    curl_easy_setopt (curl, CURLOPT_XFERINFOFUNCTION, s_sse_progress);
    curl_easy_setopt (curl, CURLOPT_XFERINFODATA, self);
    curl_easy_setopt (curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long)S_RUN_MS);
    curl_easy_perform (curl);
    pthread_mutex_lock (&self->lock);
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &self->status);
    self->connected = true;
    pthread_cond_broadcast (&self->changed);
    pthread_mutex_unlock (&self->lock);
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    return NULL;
}

//  Wait until the gateway holds no event stream (a client that hung up is
//  noticed at the stream's next keep-alive): /metrics says how many it holds
static void
s_streams_closed (void)
{
    struct timespec start;
    clock_gettime (CLOCK_MONOTONIC, &start);
    for (;;) {
        pd_test_http_t response;
        assert_int_equal (s_call ("GET", "/metrics", NULL, NULL, &response), 200);
        const char *gauge = strstr (response.body, "\npartnerd_http_streams ");
        assert_non_null (gauge);
        int open = atoi (gauge + strlen ("\npartnerd_http_streams "));
        pd_test_http_clear (&response);
        if (open == 0)
            return;
        struct timespec now;
        clock_gettime (CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > S_RUN_MS / 1000)
            fail_msg ("%d event streams still held", open);
        poll (NULL, 0, 50); //  a gauge has no signal to wait on
    }
}

//  Start a client on `path` with `key`; returns once its head came (or it ended)
static void
s_sse_start (s_sse_t *self, pthread_t *thread, const char *path, const char *key,
             const char *last_event_id, int want)
{
    memset (self, 0, sizeof (*self));
    snprintf (self->url, sizeof (self->url), "%s%s", s_main.base, path);
    self->key = key;
    self->last_event_id = last_event_id;
    self->want = want;
    self->position = -1;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->changed, NULL);
    assert_int_equal (pthread_create (thread, NULL, s_sse_run, self), 0);
    pthread_mutex_lock (&self->lock);
    struct timespec deadline = pd_test_deadline (S_RUN_MS);
    while (!self->connected)
        if (pthread_cond_timedwait (&self->changed, &self->lock, &deadline) != 0)
            break;
    pthread_mutex_unlock (&self->lock);
}

//  Wait for the client to end (it stops after `want` events), or stop it
static void
s_sse_join (s_sse_t *self, pthread_t thread, bool stop)
{
    if (stop)
        self->stop = true;
    pthread_join (thread, NULL);
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->changed);
}

//  ------------------------------------------------------------------------
//  Tests

//  An escalation opens a ticket; a repeat of its dedup key counts on it; the
//  same key at another site is another ticket; bad input changes nothing
static void
test_raise_dedup_and_refusals (void **state)
{
    char key[S_TOKEN_MAX];
    s_partner ("Dedup MSP", key);
    s_appliance_t one, two;
    s_appliance (key, "Dedup One", 1, &one);
    s_appliance (key, "Dedup Two", 2, &two);

    pd_test_http_t response;
    const char *body = "{\"priority\":\"critical\",\"title\":\"Backup failed\",\"dedup_key\":"
                       "\"backup/daily\",\"details\":{\"job\":\"daily\",\"exit\":3},\"host\":"
                       "\"fs01\",\"incident_id\":\"inc-1\",\"category\":\"backup\"}";
    s_raise (&one, body, &response);
    s_expect (&response, 200, NULL);
    char id[S_ID_MAX];
    snprintf (id, sizeof (id), "%s", pd_json_str (&response, "id"));
    assert_true (json_is_true (json_object_get (response.json, "created")));
    assert_int_equal (pd_json_int (&response, "occurrence_count"), 1);
    pd_test_http_clear (&response);

    s_raise (&one, body, &response);
    s_expect (&response, 200, NULL);
    assert_string_equal (pd_json_str (&response, "id"), id);
    assert_true (json_is_false (json_object_get (response.json, "created")));
    assert_int_equal (pd_json_int (&response, "occurrence_count"), 2);
    pd_test_http_clear (&response);

    s_raise (&two, body, &response);
    s_expect (&response, 200, NULL);
    assert_string_not_equal (pd_json_str (&response, "id"), id);
    assert_true (json_is_true (json_object_get (response.json, "created")));
    pd_test_http_clear (&response);

    //  The ticket as the partner sees it: P1 (from "critical"), the
    //  appliance's details as the object it sent, partner/site/appliance
    //  from the token
    s_ticket_call ("GET", key, id, NULL, NULL, &response);
    s_expect (&response, 200, NULL);
    assert_string_equal (pd_json_str (&response, "priority"), "P1");
    assert_string_equal (pd_json_str (&response, "status"), "open");
    assert_string_equal (pd_json_str (&response, "site_id"), one.site_id);
    assert_string_equal (pd_json_str (&response, "appliance_id"), one.appliance_id);
    assert_int_equal (pd_json_int (&response, "occurrence_count"), 2);
    json_t *details = json_object_get (response.json, "details");
    assert_true (json_is_object (details));
    assert_int_equal (json_integer_value (json_object_get (details, "exit")), 3);
    json_t *sla = json_object_get (response.json, "sla");
    assert_int_equal (json_integer_value (json_object_get (sla, "response_s")), 900);
    assert_true (pd_json_int (&response, "response_due_at") >
                 pd_json_int (&response, "created_at"));
    json_t *timeline = json_object_get (response.json, "timeline");
    assert_int_equal (json_array_size (timeline), 1);
    assert_string_equal (
        json_string_value (json_object_get (json_array_get (timeline, 0), "action")), "opened");
    pd_test_http_clear (&response);

    //  Refusals: each a problem, no ticket made
    long long before = s_stream_last ();
    const char *bad[][2] = {
        {"{\"priority\":\"P5\",\"title\":\"x\"}", "invalid_field"},
        {"{\"priority\":\"urgent\",\"title\":\"x\"}", "invalid_field"},
        {"{\"title\":\"x\"}", "missing_field"},
        {"{\"priority\":\"P2\",\"title\":\"x\",\"partner_id\":\"prt_other\"}", "unknown_field"},
        {"{\"priority\":\"P2\",\"title\":\"x\",\"details\":[1,2]}", "invalid_field"},
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        s_raise (&one, bad[i][0], &response);
        s_expect (&response, 400, bad[i][1]);
        pd_test_http_clear (&response);
    }
    char long_key[400];
    memset (long_key, 'k', 256);
    long_key[256] = 0;
    char long_body[600];
    snprintf (long_body, sizeof (long_body),
              "{\"priority\":\"P2\",\"title\":\"x\",\"dedup_key\":\"%s\"}", long_key);
    s_raise (&one, long_body, &response);
    s_expect (&response, 400, "invalid_field");
    assert_string_equal (pd_json_str (&response, "field"), "dedup_key");
    pd_test_http_clear (&response);
    //  No appliance token, a partner key: refused
    s_call ("POST", "/api/escalations", NULL, "{\"priority\":\"P2\",\"title\":\"x\"}", &response);
    s_expect (&response, 401, "unauthorized");
    pd_test_http_clear (&response);
    s_call ("POST", "/api/escalations", key, "{\"priority\":\"P2\",\"title\":\"x\"}", &response);
    s_expect (&response, 403, "forbidden");
    pd_test_http_clear (&response);
    assert_int_equal (s_stream_last (), before);
}

typedef struct {
    const s_appliance_t *appliance;
    pthread_barrier_t *barrier;
    long status;
    bool created;
} s_racer_t;

static void *
s_racer (void *arg)
{
    s_racer_t *racer = arg;
    pthread_barrier_wait (racer->barrier);
    pd_test_http_t response;
    racer->status = s_raise (
        racer->appliance, "{\"priority\":\"P3\",\"title\":\"Disk full\",\"dedup_key\":\"disk/c\"}",
        &response);
    racer->created = json_is_true (json_object_get (response.json, "created"));
    pd_test_http_clear (&response);
    return NULL;
}

//  64 concurrent repeats of one key: one ticket, counted 64 times
static void
test_concurrent_repeats (void **state)
{
    char key[S_TOKEN_MAX];
    s_partner ("Race MSP", key);
    s_appliance_t appliance;
    s_appliance (key, "Race Site", 10, &appliance);
    pthread_barrier_t barrier;
    pthread_barrier_init (&barrier, NULL, S_RACERS);
    s_racer_t racers[S_RACERS];
    pthread_t threads[S_RACERS];
    for (int i = 0; i < S_RACERS; i++) {
        racers[i] = (s_racer_t){&appliance, &barrier, 0, false};
        assert_int_equal (pthread_create (&threads[i], NULL, s_racer, &racers[i]), 0);
    }
    int created = 0;
    for (int i = 0; i < S_RACERS; i++) {
        pthread_join (threads[i], NULL);
        assert_int_equal (racers[i].status, 200);
        created += racers[i].created;
    }
    pthread_barrier_destroy (&barrier);
    assert_int_equal (created, 1);
    pd_test_http_t response;
    s_call ("GET", "/api/partners/me/escalations", key, NULL, &response);
    s_expect (&response, 200, NULL);
    json_t *items = json_object_get (response.json, "items");
    assert_int_equal (json_array_size (items), 1);
    assert_int_equal (
        json_integer_value (json_object_get (json_array_get (items, 0), "occurrence_count")),
        S_RACERS);
    pd_test_http_clear (&response);
}

//  open -> acknowledged -> resolved, on the timeline; what each state
//  refuses; another partner sees, acknowledges and resolves nothing
static void
test_lifecycle_and_isolation (void **state)
{
    char key[S_TOKEN_MAX], other[S_TOKEN_MAX];
    s_partner ("Life MSP", key);
    s_partner ("Other MSP", other);
    s_appliance_t appliance;
    s_appliance (key, "Life Site", 20, &appliance);
    pd_test_http_t response;
    s_raise (&appliance, "{\"priority\":\"high\",\"title\":\"AV outdated\"}", &response);
    s_expect (&response, 200, NULL);
    char id[S_ID_MAX];
    snprintf (id, sizeof (id), "%s", pd_json_str (&response, "id"));
    pd_test_http_clear (&response);

    //  Partner B: 404 for everything of A's
    s_ticket_call ("GET", other, id, NULL, NULL, &response);
    s_expect (&response, 404, "not_found");
    pd_test_http_clear (&response);
    s_ticket_call ("POST", other, id, "acknowledge", "{}", &response);
    s_expect (&response, 404, "not_found");
    pd_test_http_clear (&response);
    s_ticket_call ("POST", other, id, "resolve", "{\"note\":\"not mine\"}", &response);
    s_expect (&response, 404, "not_found");
    pd_test_http_clear (&response);
    s_call ("GET", "/api/partners/me/escalations", other, NULL, &response);
    s_expect (&response, 200, NULL);
    assert_int_equal (json_array_size (json_object_get (response.json, "items")), 0);
    pd_test_http_clear (&response);

    //  Resolving needs a note
    s_ticket_call ("POST", key, id, "resolve", "{}", &response);
    s_expect (&response, 400, "missing_field");
    pd_test_http_clear (&response);

    s_ticket_call ("POST", key, id, "acknowledge", "{\"note\":\"on it\"}", &response);
    s_expect (&response, 200, NULL);
    assert_string_equal (pd_json_str (&response, "status"), "acknowledged");
    assert_null (json_object_get (response.json, "response_due_at"));
    assert_non_null (json_object_get (response.json, "resolution_due_at"));
    pd_test_http_clear (&response);
    //  Again: nothing changes
    s_ticket_call ("POST", key, id, "acknowledge", "{}", &response);
    s_expect (&response, 200, NULL);
    pd_test_http_clear (&response);

    s_ticket_call ("POST", key, id, "resolve", "{\"note\":\"definitions updated\"}", &response);
    s_expect (&response, 200, NULL);
    assert_string_equal (pd_json_str (&response, "status"), "resolved");
    assert_string_equal (pd_json_str (&response, "resolution_note"), "definitions updated");
    assert_null (json_object_get (response.json, "resolution_due_at"));
    pd_test_http_clear (&response);

    long long before = s_stream_last ();
    s_ticket_call ("POST", key, id, "acknowledge", "{}", &response);
    s_expect (&response, 409, "invalid_transition");
    pd_test_http_clear (&response);
    s_ticket_call ("POST", key, id, "resolve", "{\"note\":\"again\"}", &response);
    s_expect (&response, 409, "invalid_transition");
    pd_test_http_clear (&response);
    assert_int_equal (s_stream_last (), before);

    s_ticket_call ("GET", key, id, NULL, NULL, &response);
    s_expect (&response, 200, NULL);
    json_t *timeline = json_object_get (response.json, "timeline");
    assert_int_equal (json_array_size (timeline), 3);
    const char *actions[] = {"opened", "acknowledged", "resolved"};
    for (size_t i = 0; i < 3; i++) {
        json_t *entry = json_array_get (timeline, i);
        assert_string_equal (json_string_value (json_object_get (entry, "action")), actions[i]);
        assert_non_null (json_string_value (json_object_get (entry, "by")));
    }
    assert_string_equal (json_string_value (json_object_get (json_array_get (timeline, 1), "note")),
                         "on it");
    pd_test_http_clear (&response);

    //  Filters; the admin sees it across partners
    s_call ("GET", "/api/partners/me/escalations?status=open", key, NULL, &response);
    s_expect (&response, 200, NULL);
    assert_int_equal (json_array_size (json_object_get (response.json, "items")), 0);
    pd_test_http_clear (&response);
    s_call ("GET", "/api/partners/me/escalations?status=resolved&priority=P2", key, NULL,
            &response);
    s_expect (&response, 200, NULL);
    assert_int_equal (json_array_size (json_object_get (response.json, "items")), 1);
    pd_test_http_clear (&response);
    char path[256];
    snprintf (path, sizeof (path), "/api/admin/escalations/%s", id);
    s_call ("GET", path, s_main.admin_key, NULL, &response);
    s_expect (&response, 200, NULL);
    pd_test_http_clear (&response);
    s_call ("GET", "/api/admin/escalations?limit=200", s_main.admin_key, NULL, &response);
    s_expect (&response, 200, NULL);
    assert_true (json_array_size (json_object_get (response.json, "items")) >= 1);
    pd_test_http_clear (&response);
    s_call ("GET", "/api/admin/escalations", key, NULL, &response);
    s_expect (&response, 403, "forbidden");
    pd_test_http_clear (&response);

    //  partnerctl tail with filters: this partner's P2 events only, readable
    char output[S_OUTPUT_MAX];
    const char *extra[] = {"--priority", "P2", "--site", appliance.site_id, NULL};
    s_tail (1, 3, extra, output, sizeof (output));
    assert_int_equal (s_lines_with (output, id), 3);
    assert_int_equal (s_lines_with (output, "escalation.opened P2"), 1);
    assert_int_equal (s_lines_with (output, "escalation.acknowledged P2"), 1);
    assert_int_equal (s_lines_with (output, "escalation.resolved P2"), 1);

    //  ...and remotely over HTTP with the partner's key: its own events only
    char partner_id[S_ID_MAX], partner_json[S_ID_MAX + 32];
    s_call ("GET", "/api/partners/me", key, NULL, &response);
    snprintf (partner_id, sizeof (partner_id), "%s", pd_json_str (&response, "id"));
    pd_test_http_clear (&response);
    snprintf (partner_json, sizeof (partner_json), "\"partner_id\":\"%s\"", partner_id);
    assert_int_equal (s_tail_url (key, true, 1, 3, NULL, output, sizeof (output)), 0);
    assert_int_equal (s_lines_with (output, id), 3);
    assert_int_equal (s_lines_with (output, partner_json), 3);
    assert_int_equal (s_lines_with (output, "\"type\":\"escalation.acknowledged\""), 1);
    //  The other partner's first event is its own ticket's, not one of A's
    s_appliance_t theirs;
    s_appliance (other, "Other Site", 21, &theirs);
    s_raise (&theirs, "{\"priority\":\"P2\",\"title\":\"Not A's\"}", &response);
    s_expect (&response, 200, NULL);
    char their_id[S_ID_MAX];
    snprintf (their_id, sizeof (their_id), "%s", pd_json_str (&response, "id"));
    pd_test_http_clear (&response);
    assert_int_equal (s_tail_url (other, false, 1, 1, NULL, output, sizeof (output)), 0);
    assert_int_equal (s_lines_with (output, their_id), 1);
    assert_int_equal (s_lines_with (output, id), 0);
    //  An admin key follows every partner's; the filters go to the server
    const char *admin_extra[] = {"--partner", partner_id, "--priority", "P2", NULL};
    assert_int_equal (
        s_tail_url (s_main.admin_key, false, 1, 3, admin_extra, output, sizeof (output)), 0);
    assert_int_equal (s_lines_with (output, id), 3);
    assert_int_equal (s_lines_with (output, their_id), 0);
    //  A key partnerd does not know: refused, said so, exit status 1
    assert_int_equal (s_tail_url ("pdp_nosuchkey", false, 1, 1, NULL, output, sizeof (output)), 1);
    assert_non_null (strstr (output, "HTTP 401"));
    s_streams_closed (); //  the followers hung up: their streams end
}

//  SLA definitions: defaults, a change, refusals; a short SLA warns and
//  breaches while partnerd runs, each deadline once (two timers run)
static void
test_sla_fires_once (void **state)
{
    char key[S_TOKEN_MAX];
    s_partner ("SLA MSP", key);
    pd_test_http_t response;
    s_call ("GET", "/api/partners/me/sla/definitions", key, NULL, &response);
    s_expect (&response, 200, NULL);
    json_t *definitions = json_object_get (response.json, "definitions");
    assert_int_equal (json_array_size (definitions), 4);
    json_t *p3 = json_array_get (definitions, 2);
    assert_string_equal (json_string_value (json_object_get (p3, "priority")), "P3");
    assert_true (json_is_true (json_object_get (p3, "business_hours")));
    assert_int_equal (json_integer_value (json_object_get (p3, "warning_percent")), 80);
    assert_string_equal (json_string_value (json_object_get (
                             json_object_get (response.json, "calendar"), "timezone")),
                         "UTC");
    pd_test_http_clear (&response);

    const char *bad[][2] = {
        {"{\"calendar\":{\"timezone\":\"Mars/Olympus\"}}", "calendar.timezone"},
        {"{\"calendar\":{\"timezone\":\"Europe/Berlin\",\"week\":[{\"day\":\"mon\",\"start\":"
         "\"17:00\",\"end\":\"09:00\"}]}}",
         "calendar.week.0"},
        {"{\"definitions\":[{\"priority\":\"P1\",\"response_s\":100,\"resolution_s\":50}]}",
         "definitions.0"},
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        s_call ("PUT", "/api/partners/me/sla/definitions", key, bad[i][0], &response);
        s_expect (&response, 400, "invalid_field");
        assert_string_equal (pd_json_str (&response, "field"), bad[i][1]);
        pd_test_http_clear (&response);
    }
    s_call ("PUT", "/api/partners/me/sla/definitions", key,
            "{\"definitions\":[{\"priority\":\"P1\",\"response_s\":1,\"resolution_s\":2,"
            "\"warning_percent\":50}]}",
            &response);
    s_expect (&response, 200, NULL);
    json_t *p1 = json_array_get (json_object_get (response.json, "definitions"), 0);
    assert_int_equal (json_integer_value (json_object_get (p1, "response_s")), 1);
    pd_test_http_clear (&response);

    s_appliance_t appliance;
    s_appliance (key, "SLA Site", 30, &appliance);
    long long from = s_stream_last () + 1;
    s_raise (&appliance, "{\"priority\":\"P1\",\"title\":\"Ransomware suspected\"}", &response);
    s_expect (&response, 200, NULL);
    char id[S_ID_MAX];
    snprintf (id, sizeof (id), "%s", pd_json_str (&response, "id"));
    pd_test_http_clear (&response);

    //  opened, then four SLA events (warning and breach of each target)
    char output[S_OUTPUT_MAX];
    const char *extra[] = {"--partner", "", "--json", NULL};
    char partner_id[S_ID_MAX];
    s_call ("GET", "/api/partners/me", key, NULL, &response);
    snprintf (partner_id, sizeof (partner_id), "%s", pd_json_str (&response, "id"));
    pd_test_http_clear (&response);
    extra[1] = partner_id;
    s_tail (from, 5, extra, output, sizeof (output));
    assert_int_equal (s_lines_with (output, "\"type\":\"sla.warning\""), 2);
    assert_int_equal (s_lines_with (output, "\"type\":\"sla.breached\""), 2);
    assert_int_equal (s_lines_with (output, "\"target\":\"response\""), 2);

    s_ticket_call ("GET", key, id, NULL, NULL, &response);
    s_expect (&response, 200, NULL);
    assert_true (json_is_true (json_object_get (response.json, "response_breached")));
    assert_true (json_is_true (json_object_get (response.json, "resolution_breached")));
    assert_null (json_object_get (response.json, "resolution_due_at"));
    assert_int_equal (json_array_size (json_object_get (response.json, "timeline")), 5);
    pd_test_http_clear (&response);

    //  Nothing fires twice: the stream holds exactly those five events of
    //  the ticket (read it all, from `from`)
    char path[256];
    snprintf (path, sizeof (path), "/api/admin/streams/escalations?from=%lld", from);
    s_call ("GET", path, s_main.admin_key, NULL, &response);
    s_expect (&response, 200, NULL);
    int sla_events = 0;
    json_t *items = json_object_get (response.json, "items");
    for (size_t i = 0; i < json_array_size (items); i++) {
        json_t *event = json_object_get (json_array_get (items, i), "event");
        const char *type = json_string_value (json_object_get (event, "type"));
        if (strcmp (json_string_value (json_object_get (event, "subject")), id) == 0 &&
            strncmp (type, "sla.", 4) == 0)
            sla_events++;
    }
    assert_int_equal (sla_events, 4);
    pd_test_http_clear (&response);

    //  Metrics from the log: one P1, breached both ways, none met
    s_call ("GET", "/api/partners/me/sla/metrics", key, NULL, &response);
    s_expect (&response, 200, NULL);
    json_t *m1 = json_array_get (json_object_get (response.json, "items"), 0);
    assert_int_equal (json_integer_value (json_object_get (m1, "tickets")), 1);
    assert_int_equal (json_integer_value (json_object_get (m1, "response_breaches")), 1);
    assert_int_equal (json_integer_value (json_object_get (m1, "resolution_breaches")), 1);
    assert_int_equal (json_integer_value (json_object_get (m1, "response_within_percent")), 0);
    pd_test_http_clear (&response);
}

//  Metrics recomputed from the log equal what the tickets say
static void
test_metrics_match_tickets (void **state)
{
    char key[S_TOKEN_MAX];
    s_partner ("Metrics MSP", key);
    s_appliance_t appliance;
    s_appliance (key, "Metrics Site", 40, &appliance);
    const char *priorities[] = {"P2", "P2", "P3", "P4", "P4", "P4"};
    char ids[6][S_ID_MAX];
    pd_test_http_t response;
    for (int i = 0; i < 6; i++) {
        char body[128];
        snprintf (body, sizeof (body), "{\"priority\":\"%s\",\"title\":\"t%d\"}", priorities[i], i);
        s_raise (&appliance, body, &response);
        s_expect (&response, 200, NULL);
        snprintf (ids[i], sizeof (ids[i]), "%s", pd_json_str (&response, "id"));
        pd_test_http_clear (&response);
    }
    //  Acknowledge 0, 2, 3; resolve 0 and 4
    int acks[] = {0, 2, 3}, resolves[] = {0, 4};
    for (int i = 0; i < 3; i++) {
        s_ticket_call ("POST", key, ids[acks[i]], "acknowledge", "{}", &response);
        s_expect (&response, 200, NULL);
        pd_test_http_clear (&response);
    }
    for (int i = 0; i < 2; i++) {
        s_ticket_call ("POST", key, ids[resolves[i]], "resolve", "{\"note\":\"done\"}", &response);
        s_expect (&response, 200, NULL);
        pd_test_http_clear (&response);
    }
    //  A ticket re-opened after an acknowledgement and a resolution: its
    //  current life is unacknowledged, as the metrics must say too
    const char *flapping = "{\"priority\":\"P2\",\"title\":\"flap\",\"dedup_key\":\"flap\"}";
    s_raise (&appliance, flapping, &response);
    s_expect (&response, 200, NULL);
    char flap[S_ID_MAX];
    snprintf (flap, sizeof (flap), "%s", pd_json_str (&response, "id"));
    pd_test_http_clear (&response);
    s_ticket_call ("POST", key, flap, "acknowledge", "{}", &response);
    s_expect (&response, 200, NULL);
    pd_test_http_clear (&response);
    s_ticket_call ("POST", key, flap, "resolve", "{\"note\":\"gone\"}", &response);
    s_expect (&response, 200, NULL);
    pd_test_http_clear (&response);
    //  A retried resolve (same note) answers the same; then the repeat
    s_ticket_call ("POST", key, flap, "resolve", "{\"note\":\"gone\"}", &response);
    s_expect (&response, 200, NULL);
    pd_test_http_clear (&response);
    s_raise (&appliance, flapping, &response);
    s_expect (&response, 200, NULL);
    assert_true (json_is_true (json_object_get (response.json, "reopened")));
    pd_test_http_clear (&response);

    //  What the tickets say, by priority
    long long tickets[4] = {0}, acknowledged[4] = {0}, resolved[4] = {0};
    long long first = LLONG_MAX, last = 0;
    s_call ("GET", "/api/partners/me/escalations", key, NULL, &response);
    s_expect (&response, 200, NULL);
    json_t *items = json_object_get (response.json, "items");
    assert_int_equal (json_array_size (items), 7);
    for (size_t i = 0; i < json_array_size (items); i++) {
        json_t *ticket = json_array_get (items, i);
        long long created = json_integer_value (json_object_get (ticket, "created_at"));
        first = created < first ? created : first;
        last = created > last ? created : last;
        int p = json_string_value (json_object_get (ticket, "priority"))[1] - '1';
        tickets[p]++;
        acknowledged[p] += json_object_get (ticket, "acknowledged_at") != NULL;
        resolved[p] +=
            strcmp (json_string_value (json_object_get (ticket, "status")), "resolved") == 0;
    }
    pd_test_http_clear (&response);
    s_call ("GET", "/api/partners/me/sla/metrics", key, NULL, &response);
    s_expect (&response, 200, NULL);
    items = json_object_get (response.json, "items");
    for (int p = 0; p < 4; p++) {
        json_t *m = json_array_get (items, (size_t)p);
        assert_int_equal (json_integer_value (json_object_get (m, "tickets")), tickets[p]);
        assert_int_equal (json_integer_value (json_object_get (m, "acknowledged")),
                          acknowledged[p]);
        assert_int_equal (json_integer_value (json_object_get (m, "resolved")), resolved[p]);
    }
    assert_int_equal (tickets[1] + tickets[2] + tickets[3], 7);
    assert_int_equal (acknowledged[1], 1);
    assert_int_equal (resolved[3], 1);
    pd_test_http_clear (&response);

    //  A window from the first ticket's opening holds them all (the read
    //  starts from the window, not before it); one after the last, none
    char path[128];
    for (int window = 0; window < 2; window++) {
        snprintf (path, sizeof (path), "/api/partners/me/sla/metrics?from=%lld",
                  window == 0 ? first : last + 1);
        s_call ("GET", path, key, NULL, &response);
        s_expect (&response, 200, NULL);
        items = json_object_get (response.json, "items");
        for (int p = 0; p < 4; p++) {
            json_t *m = json_array_get (items, (size_t)p);
            assert_int_equal (json_integer_value (json_object_get (m, "tickets")),
                              window == 0 ? tickets[p] : 0);
            assert_int_equal (json_integer_value (json_object_get (m, "acknowledged")),
                              window == 0 ? acknowledged[p] : 0);
        }
        pd_test_http_clear (&response);
    }
}

//  A suspended partner's appliances raise nothing; another partner's
//  activity shows in no metric; SLA terms business hours cannot hold are
//  refused
static void
test_suspended_and_metrics_isolation (void **state)
{
    char key[S_TOKEN_MAX], quiet[S_TOKEN_MAX];
    s_partner ("Suspended MSP", key);
    s_partner ("Quiet MSP", quiet);
    s_appliance_t appliance;
    s_appliance (key, "Suspended Site", 70, &appliance);
    pd_test_http_t response;
    s_raise (&appliance, "{\"priority\":\"P4\",\"title\":\"before\"}", &response);
    s_expect (&response, 200, NULL);
    pd_test_http_clear (&response);
    s_call ("GET", "/api/partners/me/sla/metrics", quiet, NULL, &response);
    s_expect (&response, 200, NULL);
    assert_int_equal (pd_json_int (&response, "events"), 0);
    pd_test_http_clear (&response);

    s_call ("GET", "/api/partners/me", key, NULL, &response);
    char path[256];
    snprintf (path, sizeof (path), "/api/partners/%s", pd_json_str (&response, "id"));
    pd_test_http_clear (&response);
    s_call ("PUT", path, s_main.admin_key, "{\"status\":\"suspended\"}", &response);
    s_expect (&response, 200, NULL);
    pd_test_http_clear (&response);
    long long before = s_stream_last ();
    s_raise (&appliance, "{\"priority\":\"P4\",\"title\":\"after\"}", &response);
    s_expect (&response, 403, "partner_inactive");
    pd_test_http_clear (&response);
    assert_int_equal (s_stream_last (), before);

    //  A year of resolution in one minute a week: refused at definition
    s_call ("PUT", "/api/partners/me/sla/definitions", quiet,
            "{\"definitions\":[{\"priority\":\"P3\",\"response_s\":60,\"resolution_s\":31536000,"
            "\"business_hours\":true}],\"calendar\":{\"timezone\":\"UTC\",\"week\":[{\"day\":"
            "\"mon\",\"start\":\"09:00\",\"end\":\"09:01\"}]}}",
            &response);
    s_expect (&response, 400, "invalid_field");
    assert_string_equal (pd_json_str (&response, "field"), "definitions.0");
    pd_test_http_clear (&response);
}

//  The escalation stream as SSE: a partner gets its own events only, live;
//  Last-Event-ID resumes after the event named; the admin stream has all;
//  streams beyond sse_max_streams get 503 with Retry-After
static void
test_sse_stream (void **state)
{
    char key[S_TOKEN_MAX], other[S_TOKEN_MAX];
    s_partner ("SSE MSP", key);
    s_partner ("SSE Other", other);
    s_appliance_t mine, theirs;
    s_appliance (key, "SSE Site", 60, &mine);
    s_appliance (other, "SSE Other Site", 61, &theirs);

    s_sse_t own, foreign;
    pthread_t own_thread, foreign_thread;
    s_sse_start (&own, &own_thread, "/api/partners/me/escalations/stream", key, NULL, 3);
    s_sse_start (&foreign, &foreign_thread, "/api/partners/me/escalations/stream", other, NULL, 1);
    assert_int_equal (own.status, 0); //  still streaming
    assert_string_equal (own.content_type, "text/event-stream");

    //  The other partner's ticket first: the own stream must not show it
    pd_test_http_t response;
    s_raise (&theirs, "{\"priority\":\"P3\",\"title\":\"theirs\"}", &response);
    s_expect (&response, 200, NULL);
    char theirs_id[S_ID_MAX];
    snprintf (theirs_id, sizeof (theirs_id), "%s", pd_json_str (&response, "id"));
    pd_test_http_clear (&response);
    s_raise (&mine, "{\"priority\":\"P2\",\"title\":\"mine\"}", &response);
    s_expect (&response, 200, NULL);
    char id[S_ID_MAX];
    snprintf (id, sizeof (id), "%s", pd_json_str (&response, "id"));
    pd_test_http_clear (&response);
    s_ticket_call ("POST", key, id, "acknowledge", "{}", &response);
    s_expect (&response, 200, NULL);
    pd_test_http_clear (&response);
    s_ticket_call ("POST", key, id, "resolve", "{\"note\":\"done\"}", &response);
    s_expect (&response, 200, NULL);
    pd_test_http_clear (&response);

    s_sse_join (&own, own_thread, false);
    s_sse_join (&foreign, foreign_thread, false);
    assert_int_equal (own.count, 3);
    const char *types[] = {"escalation.opened", "escalation.acknowledged", "escalation.resolved"};
    for (int i = 0; i < 3; i++) {
        assert_string_equal (own.types[i], types[i]);
        assert_string_equal (own.subjects[i], id);
        if (i)
            assert_true (own.ids[i] > own.ids[i - 1]);
    }
    assert_int_equal (foreign.count, 1);
    assert_string_equal (foreign.subjects[0], theirs_id);

    s_streams_closed ();
    //  Resume after the first: the next two, exactly
    char last[32];
    snprintf (last, sizeof (last), "%lld", own.ids[0]);
    s_sse_t resumed;
    pthread_t resumed_thread;
    s_sse_start (&resumed, &resumed_thread, "/api/partners/me/escalations/stream", key, last, 2);
    s_sse_join (&resumed, resumed_thread, false);
    assert_int_equal (resumed.count, 2);
    assert_int_equal (resumed.ids[0], own.ids[1]);
    assert_int_equal (resumed.ids[1], own.ids[2]);
    //  Its first block said where it stood: a client that drops before an
    //  event resumes from there
    assert_int_equal (resumed.position, own.ids[0]);

    s_streams_closed ();
    //  The admin's stream from a sequence number, filtered by priority
    char path[256];
    snprintf (path, sizeof (path), "/api/admin/escalations/stream?from=%lld&priority=P2,P1",
              own.ids[0]);
    s_sse_t admin;
    pthread_t admin_thread;
    s_sse_start (&admin, &admin_thread, path, s_main.admin_key, NULL, 3);
    s_sse_join (&admin, admin_thread, false);
    if (admin.count != 3)
        fail_msg ("admin stream: status %ld, %d events, %s", admin.status, admin.count, path);
    assert_int_equal (admin.ids[0], own.ids[0]);

    //  A partner asking for another partner's stream, a bad Last-Event-ID
    s_call ("GET", "/api/partners/me/escalations/stream?partner_id=prt_nope", key, NULL, &response);
    s_expect (&response, 403, "forbidden");
    pd_test_http_clear (&response);
    pd_test_http_options_t options = {.api_key = s_main.admin_key};
    snprintf (path, sizeof (path), "%s/api/admin/escalations/stream?priority=P9", s_main.base);
    assert_int_equal (pd_test_http_ex ("GET", path, &options, &response), 0);
    s_expect (&response, 400, "invalid_field");
    pd_test_http_clear (&response);

    //  The streams a gateway holds are bounded (sse_max_streams = 3 here),
    //  and one partner holds 2 of them at most: another still gets one
    s_streams_closed ();
    s_sse_t held[3];
    pthread_t held_threads[3];
    for (int i = 0; i < 2; i++)
        s_sse_start (&held[i], &held_threads[i], "/api/partners/me/escalations/stream", key, NULL,
                     S_SSE_MAX);
    s_call ("GET", "/api/partners/me/escalations/stream", key, NULL, &response);
    s_expect (&response, 503, "service_unavailable");
    assert_string_equal (response.retry_after, "5");
    assert_non_null (strstr (pd_json_str (&response, "detail"), "for this partner"));
    pd_test_http_clear (&response);
    s_sse_start (&held[2], &held_threads[2], "/api/partners/me/escalations/stream", other, NULL,
                 S_SSE_MAX);
    assert_int_equal (held[2].status, 0); //  streaming
    //  All three taken: anyone else waits, the admin too
    s_call ("GET", "/api/partners/me/escalations/stream", other, NULL, &response);
    s_expect (&response, 503, "service_unavailable");
    assert_string_equal (response.retry_after, "5");
    pd_test_http_clear (&response);
    s_call ("GET", "/api/admin/escalations/stream", s_main.admin_key, NULL, &response);
    s_expect (&response, 503, "service_unavailable");
    pd_test_http_clear (&response);
    //  ...and API calls still get answered meanwhile
    s_call ("GET", "/api/partners/me/escalations", key, NULL, &response);
    s_expect (&response, 200, NULL);
    pd_test_http_clear (&response);
    for (int i = 0; i < 3; i++)
        s_sse_join (&held[i], held_threads[i], true);

    //  A stream ends when its key is revoked, before another event goes out
    s_streams_closed ();
    s_sse_t revoked;
    pthread_t revoked_thread;
    s_sse_start (&revoked, &revoked_thread, "/api/partners/me/escalations/stream", key, NULL, 1);
    s_call ("GET", "/api/partners/me", key, NULL, &response);
    snprintf (path, sizeof (path), "/api/partners/%s/regenerate-key",
              pd_json_str (&response, "id"));
    pd_test_http_clear (&response);
    s_call ("POST", path, s_main.admin_key, "{}", &response);
    s_expect (&response, 200, NULL);
    pd_test_http_clear (&response);
    s_raise (&mine, "{\"priority\":\"P1\",\"title\":\"after revocation\"}", &response);
    s_expect (&response, 200, NULL);
    pd_test_http_clear (&response);
    s_sse_join (&revoked, revoked_thread, false); //  the server ended it
    assert_int_equal (revoked.status, 200);
    assert_int_equal (revoked.count, 0);
}

//  Re-open within the window; a crash right after a 2xx keeps the ticket,
//  its event and its timers; deadlines that passed while partnerd was down
//  fire at once; after the window a repeat opens a new ticket
static void
test_reopen_and_restart (void **state)
{
    char key[S_TOKEN_MAX];
    s_partner ("Reopen MSP", key);
    s_appliance_t appliance;
    s_appliance (key, "Reopen Site", 50, &appliance);
    const char *body = "{\"priority\":\"P2\",\"title\":\"Patch missing\",\"dedup_key\":\"kb5\"}";
    pd_test_http_t response;
    s_raise (&appliance, body, &response);
    s_expect (&response, 200, NULL);
    char id[S_ID_MAX];
    snprintf (id, sizeof (id), "%s", pd_json_str (&response, "id"));
    pd_test_http_clear (&response);
    s_ticket_call ("POST", key, id, "resolve", "{\"note\":\"patched\"}", &response);
    s_expect (&response, 200, NULL);
    pd_test_http_clear (&response);
    //  Within the window (1 h by default): the same ticket, open again
    s_raise (&appliance, body, &response);
    s_expect (&response, 200, NULL);
    assert_string_equal (pd_json_str (&response, "id"), id);
    assert_true (json_is_true (json_object_get (response.json, "reopened")));
    assert_string_equal (pd_json_str (&response, "status"), "open");
    pd_test_http_clear (&response);

    //  A crash right after the answer: all of it is there after restart,
    //  with the clock two hours on, so its P2 response deadline (1 h) and
    //  resolution deadline (8 h: only the warning... not yet) passed
    assert_int_equal (
        pd_instance_restart (&s_main, SIGKILL, "clock_skew_ms = 7200000", S_START_TIMEOUT_MS), 0);
    char output[S_OUTPUT_MAX];
    char partner_id[S_ID_MAX];
    s_call ("GET", "/api/partners/me", key, NULL, &response);
    snprintf (partner_id, sizeof (partner_id), "%s", pd_json_str (&response, "id"));
    pd_test_http_clear (&response);
    const char *extra[] = {"--partner", partner_id, NULL};
    //  opened, resolved, reopened, then the response warning and breach
    s_tail (1, 5, extra, output, sizeof (output));
    assert_int_equal (s_lines_with (output, "escalation.reopened"), 1);
    assert_int_equal (s_lines_with (output, "sla.warning P2"), 1);
    assert_int_equal (s_lines_with (output, "sla.breached P2"), 1);
    s_ticket_call ("GET", key, id, NULL, NULL, &response);
    s_expect (&response, 200, NULL);
    assert_true (json_is_true (json_object_get (response.json, "response_breached")));
    assert_null (json_object_get (response.json, "resolution_breached"));
    assert_non_null (json_object_get (response.json, "resolution_due_at"));
    assert_int_equal (pd_json_int (&response, "reopen_count"), 1);
    pd_test_http_clear (&response);

    //  Resolved again; the window (1 h) passes: a repeat opens a new ticket
    s_ticket_call ("POST", key, id, "resolve", "{\"note\":\"patched again\"}", &response);
    s_expect (&response, 200, NULL);
    pd_test_http_clear (&response);
    assert_int_equal (
        pd_instance_restart (&s_main, SIGTERM,
                             "clock_skew_ms = 14400000\nescalations_per_appliance = 3\n"
                             "escalation_repeats_per_minute = 4",
                             S_START_TIMEOUT_MS),
        0);
    s_raise (&appliance, body, &response);
    s_expect (&response, 200, NULL);
    assert_string_not_equal (pd_json_str (&response, "id"), id);
    assert_true (json_is_true (json_object_get (response.json, "created")));
    pd_test_http_clear (&response);

    //  New tickets per appliance are limited (3 an hour here): the third
    //  new one passes, the fourth gets 429; a repeat still counts on its ticket
    for (int i = 0; i < 2; i++) {
        char other[128];
        snprintf (other, sizeof (other), "{\"priority\":\"P4\",\"title\":\"n%d\"}", i);
        s_raise (&appliance, other, &response);
        s_expect (&response, 200, NULL);
        pd_test_http_clear (&response);
    }
    s_raise (&appliance, "{\"priority\":\"P4\",\"title\":\"one too many\"}", &response);
    s_expect (&response, 429, "rate_limited");
    assert_true (atoi (response.retry_after) >= 1);
    pd_test_http_clear (&response);
    s_raise (&appliance, body, &response);
    s_expect (&response, 200, NULL);
    assert_int_equal (pd_json_int (&response, "occurrence_count"), 2);
    pd_test_http_clear (&response);
    //  Repeats are limited too (4 a minute here), and the refused one
    //  changes nothing
    char fresh[S_ID_MAX] = "";
    for (int i = 0; i < 3; i++) {
        s_raise (&appliance, body, &response);
        s_expect (&response, 200, NULL);
        snprintf (fresh, sizeof (fresh), "%s", pd_json_str (&response, "id"));
        pd_test_http_clear (&response);
    }
    long long before = s_stream_last ();
    s_raise (&appliance, body, &response);
    s_expect (&response, 429, "rate_limited");
    assert_true (atoi (response.retry_after) >= 1 && atoi (response.retry_after) <= 60);
    pd_test_http_clear (&response);
    assert_int_equal (s_stream_last (), before);
    s_ticket_call ("GET", key, fresh, NULL, NULL, &response);
    s_expect (&response, 200, NULL);
    assert_int_equal (pd_json_int (&response, "occurrence_count"), 5);
    pd_test_http_clear (&response);
}

//  partnerctl tail escalations --url across a restart of partnerd: it
//  reconnects with Last-Event-ID and shows each event once, in order
static void
test_remote_tail_survives_restart (void **state)
{
    char key[S_TOKEN_MAX];
    s_partner ("Remote MSP", key);
    s_appliance_t appliance;
    s_appliance (key, "Remote Site", 80, &appliance);
    s_streams_closed ();
    char from[32];
    snprintf (from, sizeof (from), "%lld", s_stream_last () + 1);
    const char *args[] = {"tail", "escalations", "--url", s_main.base, "--from",
                          from,   "--count",     "2",     "--json",    NULL};
    char env[S_TOKEN_MAX + 32];
    snprintf (env, sizeof (env), "PARTNERD_API_KEY=%s", key);
    const char *const environment[] = {env, NULL};
    pid_t pid;
    int fd;
    assert_int_equal (pd_spawn (PARTNERCTL_BIN, args, environment, &pid, &fd), 0);
    //  It follows once the gateway holds its stream
    pd_test_http_t response;
    for (int open = 0; open < 1;) {
        assert_int_equal (s_call ("GET", "/metrics", NULL, NULL, &response), 200);
        const char *gauge = strstr (response.body, "\npartnerd_http_streams ");
        open = gauge ? atoi (gauge + strlen ("\npartnerd_http_streams ")) : 0;
        pd_test_http_clear (&response);
        if (!open)
            poll (NULL, 0, 50); //  a gauge has no signal to wait on
    }
    s_raise (&appliance, "{\"priority\":\"P2\",\"title\":\"before the restart\"}", &response);
    s_expect (&response, 200, NULL);
    char first[S_ID_MAX];
    snprintf (first, sizeof (first), "%s", pd_json_str (&response, "id"));
    pd_test_http_clear (&response);
    assert_int_equal (pd_instance_restart (&s_main, SIGTERM, NULL, S_START_TIMEOUT_MS), 0);
    s_raise (&appliance, "{\"priority\":\"P2\",\"title\":\"after the restart\"}", &response);
    s_expect (&response, 200, NULL);
    char second[S_ID_MAX];
    snprintf (second, sizeof (second), "%s", pd_json_str (&response, "id"));
    pd_test_http_clear (&response);

    //  Its output, to its exit after the two events (bounded)
    static char output[S_OUTPUT_MAX];
    assert_int_equal (pd_spawn_wait (pid, fd, output, sizeof (output), S_RUN_MS), 0);
    assert_int_equal (s_lines_with (output, first), 1);
    assert_int_equal (s_lines_with (output, second), 1);
    assert_true (strstr (output, first) < strstr (output, second));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_raise_dedup_and_refusals),
        cmocka_unit_test (test_concurrent_repeats),
        cmocka_unit_test (test_lifecycle_and_isolation),
        cmocka_unit_test (test_sla_fires_once),
        cmocka_unit_test (test_metrics_match_tickets),
        cmocka_unit_test (test_suspended_and_metrics_isolation),
        cmocka_unit_test (test_sse_stream),
        cmocka_unit_test (test_reopen_and_restart),
        cmocka_unit_test (test_remote_tail_survives_restart),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
