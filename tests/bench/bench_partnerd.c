/*  bench_partnerd - throughput and latency of partnerd beside bare baselines

    Prints figures, asserts nothing; run by hand (see tests/bench/README.md):

        bench_partnerd [-d HTTP_SECONDS] [-b BROKER_SECONDS] [-c CLIENTS]
                       [-t SERVER_THREADS] [-p IN_FLIGHT] [-r ROUNDS]

    http    A real all-in-one partnerd process (fresh data directory, loopback
            ports) serves GET /api/partners/me: gateway -> broker -> auth and
            partners actors -> LMDB. CLIENTS threads each loop over their own
            keep-alive libcurl handle. The same load also hits a bare CivetWeb
            handler inside this process that returns the body partnerd
            returned (tcp_nodelay, keep-alive, as many threads).
    broker  An in-process pd_broker on tcp loopback, echo worker threads
            (pd_worker) and pd_clients: 1 request in flight, then IN_FLIGHT
            in flight (worker credit 1, then credit IN_FLIGHT). Beside it the
            same loop over raw ZeroMQ: a DEALER against a ROUTER echo (one
            hop), and against the echo behind a ROUTER/DEALER relay thread
            (two hops, as client -> broker -> worker). Also the broker over
            inproc, the transport of the all-in-one process.

    Rows that are compared run interleaved: each is measured in ROUNDS
    slices, taking turns, so that load from other programs on the machine
    falls on all of them alike. Latencies are nearest-rank percentiles of
    sorted samples (a uniform reservoir of at most S_SAMPLE_CAP per row).
    "cpu us/op" is the CPU time of this process, plus partnerd's for the
    partnerd row, per operation: load generator included.
*/
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>
#include <curl/curl.h>
#include <czmq.h>

#include "pd_broker.h"
#include "pd_client.h"
#include "pd_proto.h"
#include "pd_messages.h"
#include "pd_record.h"
#include "pd_store.h"
#include "pd_testutil.h"
#include "pd_worker.h"

#define S_DEFAULT_HTTP_SECONDS   5.0
#define S_DEFAULT_BROKER_SECONDS 2.0
#define S_DEFAULT_CLIENTS        8
#define S_DEFAULT_THREADS        16
#define S_DEFAULT_IN_FLIGHT      64
#define S_DEFAULT_ROUNDS         4
#define S_MAX_CLIENTS            256
#define S_MAX_IN_FLIGHT          1024
#define S_MAX_ROUNDS             100
#define S_SAMPLE_CAP             (1u << 20) //  latency samples kept per row
#define S_RING                   4096       //  send times by request id; > S_MAX_IN_FLIGHT
#define S_START_TIMEOUT_MS       30000      //  partnerd start-up
#define S_HTTP_TIMEOUT_MS        10000      //  one benchmark HTTP request
#define S_WARMUP_REQUESTS        50         //  per HTTP client and slice, before timing
#define S_WARMUP_ROUND_TRIPS     1000       //  per broker/zmq path, before timing
#define S_REQUEST_TIMEOUT_MS     5000       //  deadline of a broker request
#define S_RECV_TIMEOUT_MS        5000       //  no reply this long: give the slice up
#define S_PAYLOAD_SIZE           64         //  bytes in the broker/zmq request body
#define S_MAX_BODY               4096       //  bytes of the bare CivetWeb body
#define S_MAX_HEAD               256        //  bytes of the bare CivetWeb response head
#define S_ECHO_SERVICE           "bench.echo"
#define S_INPROC_BROKER          "inproc://bench-broker"
#define S_LABEL_WIDTH            54
#define S_NS_PER_S               1000000000.0
#define S_NS_PER_MS              1000000.0
#define S_MAX_STORE_SIZES        4
#define S_MAX_STORE_RECORDS      2000000 //  a store of more would not fit the 1 GiB map
#define S_STORE_BATCH            20000   //  records per seeding transaction
#define S_STORE_OWN              10      //  users, provisions and sites of the measured partner
#define S_STORE_ROWS             4       //  requests measured per store size

//  --------------------------------------------------------------------------
//  Options

typedef struct {
    double http_seconds;                 //  total duration of each HTTP row
    double broker_seconds;               //  total duration of each broker/zmq row
    int clients;                         //  HTTP client threads
    int threads;                         //  server worker threads (partnerd and bare)
    int in_flight;                       //  requests in flight in the pipelined rows
    int rounds;                          //  slices per row, interleaved with the rows compared
    long store_sizes[S_MAX_STORE_SIZES]; //  records stored beside the measured partner's
    int store_size_count;                //  0: no store section
} s_options_t;

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: bench_partnerd [-d HTTP_SECONDS] [-b BROKER_SECONDS] [-c CLIENTS]\n"
             "                      [-t SERVER_THREADS] [-p IN_FLIGHT] [-r ROUNDS]\n"
             "                      [-s RECORDS[,RECORDS...]]\n"
             "defaults: -d %.0f -b %.0f -c %d -t %d -p %d -r %d -s 100,1000000 (-s 0: no "
             "store rows)\n",
             S_DEFAULT_HTTP_SECONDS, S_DEFAULT_BROKER_SECONDS, S_DEFAULT_CLIENTS, S_DEFAULT_THREADS,
             S_DEFAULT_IN_FLIGHT, S_DEFAULT_ROUNDS);
}

static int
s_parse (int argc, char **argv, s_options_t *options)
{
    *options = (s_options_t){
        S_DEFAULT_HTTP_SECONDS, S_DEFAULT_BROKER_SECONDS, S_DEFAULT_CLIENTS, S_DEFAULT_THREADS,
        S_DEFAULT_IN_FLIGHT,    S_DEFAULT_ROUNDS,         {100, 1000000},    2};
    int opt;
    while ((opt = getopt (argc, argv, "d:b:c:t:p:r:s:h")) != -1) {
        switch (opt) {
        case 's': {
            options->store_size_count = 0;
            char *cursor = optarg, *end = NULL;
            while (*cursor) {
                long size = strtol (cursor, &end, 10);
                if (end == cursor || size < 0 || size > S_MAX_STORE_RECORDS ||
                    options->store_size_count == S_MAX_STORE_SIZES)
                    return -1;
                if (size > 0)
                    options->store_sizes[options->store_size_count++] = size;
                cursor = *end == ',' ? end + 1 : end;
                if (*end && *end != ',')
                    return -1;
            }
            break;
        }
        case 'd':
            options->http_seconds = atof (optarg);
            break;
        case 'b':
            options->broker_seconds = atof (optarg);
            break;
        case 'c':
            options->clients = atoi (optarg);
            break;
        case 't':
            options->threads = atoi (optarg);
            break;
        case 'p':
            options->in_flight = atoi (optarg);
            break;
        case 'r':
            options->rounds = atoi (optarg);
            break;
        default:
            return -1;
        }
    }
    if (optind < argc || options->http_seconds <= 0 || options->broker_seconds <= 0 ||
        options->clients < 1 || options->clients > S_MAX_CLIENTS || options->threads < 1 ||
        options->in_flight < 1 || options->in_flight > S_MAX_IN_FLIGHT || options->rounds < 1 ||
        options->rounds > S_MAX_ROUNDS)
        return -1;
    return 0;
}

//  --------------------------------------------------------------------------
//  Clocks

static int64_t
s_now_ns (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static void
s_sleep_seconds (double seconds)
{
    struct timespec wait = {(time_t)seconds,
                            (long)((seconds - (double)(time_t)seconds) * S_NS_PER_S)};
    while (nanosleep (&wait, &wait) != 0 && errno == EINTR)
        ;
}

//  CPU seconds (user + system) used so far by this process, all threads
static double
s_cpu_self (void)
{
    struct rusage usage;
    getrusage (RUSAGE_SELF, &usage);
    return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

//  CPU seconds used so far by another process, from /proc; 0 if unknown
static double
s_cpu_process (pid_t pid)
{
    char path[64], line[1024];
    snprintf (path, sizeof (path), "/proc/%d/stat", (int)pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    char *read = fgets (line, sizeof (line), file);
    fclose (file);
    char *fields = read ? strrchr (line, ')') : NULL; //  the name may hold spaces
    unsigned long user = 0, system = 0;
    if (!fields || sscanf (fields + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                           &user, &system) != 2)
        return 0;
    return (double)(user + system) / (double)sysconf (_SC_CLK_TCK);
}

//  The 1-minute load average, or -1
static double
s_load_average (void)
{
    double load = -1;
    FILE *file = fopen ("/proc/loadavg", "r");
    if (file) {
        if (fscanf (file, "%lf", &load) != 1)
            load = -1;
        fclose (file);
    }
    return load;
}

//  --------------------------------------------------------------------------
//  Latency samples: a reservoir, so a long row keeps a uniform sample

typedef struct {
    uint64_t *values; //  latencies in ns
    size_t capacity;
    size_t size;
    uint64_t seen; //  samples offered
    uint64_t rng;  //  xorshift64* state
} s_samples_t;

static void
s_samples_init (s_samples_t *self, size_t capacity, uint64_t seed)
{
    self->values = malloc (capacity * sizeof (uint64_t));
    self->capacity = self->values ? capacity : 0;
    self->size = 0;
    self->seen = 0;
    self->rng = seed | 1;
}

static void
s_samples_add (s_samples_t *self, uint64_t value)
{
    self->seen++;
    if (self->size < self->capacity) {
        self->values[self->size++] = value;
        return;
    }
    self->rng ^= self->rng >> 12;
    self->rng ^= self->rng << 25;
    self->rng ^= self->rng >> 27;
    uint64_t slot = (self->rng * 0x2545F4914F6CDD1DULL) % self->seen;
    if (slot < self->capacity)
        self->values[slot] = value;
}

static void
s_samples_clear (s_samples_t *self)
{
    free (self->values);
    memset (self, 0, sizeof (*self));
}

static int
s_compare_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

//  Nearest-rank percentile of sorted values, in ms
static double
s_percentile_ms (const uint64_t *sorted, size_t count, double fraction)
{
    if (count == 0)
        return 0;
    size_t rank = (size_t)(fraction * (double)count + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > count)
        rank = count;
    return (double)sorted[rank - 1] / S_NS_PER_MS;
}

//  --------------------------------------------------------------------------
//  A row: accumulated over its slices, then printed

typedef struct {
    const char *what;          //  the label's left part ("http   GET /api/partners/me")
    const char *who;           //  its right part ("partnerd")
    uint64_t ok;               //  successful operations
    uint64_t errors;           //  failed ones
    double seconds;            //  time measured
    double cpu_seconds;        //  CPU of every process involved
    double server_cpu_seconds; //  of which another process (partnerd)
    s_samples_t samples;
    bool done; //  at least one slice measured
    //  Results, set by s_row_finish
    double ops_per_s;
    double p50_ms;
    double p99_ms;
    double cpu_us_per_op;
    double server_cpu_us_per_op;
} s_row_t;

static void
s_row_init (s_row_t *row, const char *what, const char *who, uint64_t seed)
{
    memset (row, 0, sizeof (*row));
    row->what = what;
    row->who = who;
    s_samples_init (&row->samples, S_SAMPLE_CAP, seed);
}

static void
s_row_finish (s_row_t *row)
{
    qsort (row->samples.values, row->samples.size, sizeof (uint64_t), s_compare_u64);
    row->ops_per_s = row->seconds > 0 ? (double)row->ok / row->seconds : 0;
    row->p50_ms = s_percentile_ms (row->samples.values, row->samples.size, 0.50);
    row->p99_ms = s_percentile_ms (row->samples.values, row->samples.size, 0.99);
    row->cpu_us_per_op = row->ok ? row->cpu_seconds * 1e6 / (double)row->ok : 0;
    row->server_cpu_us_per_op = row->ok ? row->server_cpu_seconds * 1e6 / (double)row->ok : 0;
    s_samples_clear (&row->samples);
}

static void
s_print_header (void)
{
    printf ("%-*s %10s %8s %8s %10s %7s\n", S_LABEL_WIDTH, "", "ops/s", "p50 ms", "p99 ms",
            "cpu us/op", "errors");
}

static void
s_print_row (const s_row_t *row)
{
    char label[128];
    snprintf (label, sizeof (label), "%-28s %s", row->what, row->who);
    if (!row->done) {
        printf ("%-*s %10s\n", S_LABEL_WIDTH, label, "not run");
        return;
    }
    printf ("%-*s %10.0f %8.3f %8.3f %10.1f %7" PRIu64 "\n", S_LABEL_WIDTH, label, row->ops_per_s,
            row->p50_ms, row->p99_ms, row->cpu_us_per_op, row->errors);
}

static double
s_ratio (double a, double b)
{
    return b > 0 ? a / b : 0;
}

//  One target: what, the ratio measured, met or missed (with its cause)
static void
s_print_target (const char *label, double ratio, bool met, const char *cause)
{
    printf ("  %-62s %6.2fx  %s%s%s\n", label, ratio, met ? "met" : "missed",
            !met && cause ? ": " : "", !met && cause ? cause : "");
}

static void
s_print_ratio (const char *label, const s_row_t *a, const s_row_t *b)
{
    if (!a->done || !b->done)
        return;
    printf ("%-*s %9.2fx %7.2fx %7.2fx %9.2fx\n", S_LABEL_WIDTH, label,
            s_ratio (a->ops_per_s, b->ops_per_s), s_ratio (a->p50_ms, b->p50_ms),
            s_ratio (a->p99_ms, b->p99_ms), s_ratio (a->cpu_us_per_op, b->cpu_us_per_op));
}

//  --------------------------------------------------------------------------
//  HTTP load generator: threads, each with one keep-alive libcurl handle

typedef struct {
    const char *url;
    const char *api_key;      //  X-API-Key, or NULL
    pthread_barrier_t *ready; //  all clients connected and warmed up
    atomic_bool *stop;
    s_samples_t samples;
    uint64_t ok;      //  200 responses while timed
    uint64_t errors;  //  anything else while timed
    long first_error; //  HTTP status of the first error (0 = transport)
} s_http_client_t;

static size_t
s_discard (char *data, size_t size, size_t count, void *arg)
{
    return size * count;
}

//  One GET; the HTTP status, or 0 if no response came
static long
s_http_get (CURL *curl)
{
    long status = 0;
    if (curl_easy_perform (curl) == CURLE_OK)
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static void *
s_http_client (void *arg)
{
    s_http_client_t *self = arg;
    CURL *curl = curl_easy_init ();
    struct curl_slist *headers = NULL;
    char line[256];
    if (self->api_key) {
        snprintf (line, sizeof (line), "X-API-Key: %s", self->api_key);
        headers = curl_slist_append (headers, line);
    }
    if (curl) {
        curl_easy_setopt (curl, CURLOPT_URL, self->url);
        curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_discard);
        curl_easy_setopt (curl, CURLOPT_NOPROXY, "*");
        curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt (curl, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long)S_HTTP_TIMEOUT_MS);
        curl_easy_setopt (curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        for (int i = 0; i < S_WARMUP_REQUESTS; i++)
            s_http_get (curl);
    }
    pthread_barrier_wait (self->ready);
    while (!atomic_load_explicit (self->stop, memory_order_relaxed)) {
        int64_t start = s_now_ns ();
        long status = curl ? s_http_get (curl) : 0;
        int64_t end = s_now_ns ();
        if (status == 200) {
            self->ok++;
            s_samples_add (&self->samples, (uint64_t)(end - start));
        } else {
            if (self->errors++ == 0)
                self->first_error = status;
            if (!curl)
                break;
        }
    }
    curl_slist_free_all (headers);
    if (curl)
        curl_easy_cleanup (curl);
    return NULL;
}

//  One slice of HTTP load on `url` for `seconds`, added to `row`.
//  server_pid (0 = none) is another process whose CPU is counted too.
static void
s_http_slice (const s_options_t *options, const char *url, const char *api_key, pid_t server_pid,
              double seconds, s_row_t *row)
{
    int count = options->clients;
    s_http_client_t *clients = calloc ((size_t)count, sizeof (s_http_client_t));
    pthread_t *threads = calloc ((size_t)count, sizeof (pthread_t));
    pthread_barrier_t ready;
    atomic_bool stop = false;
    pthread_barrier_init (&ready, NULL, (unsigned)count + 1);
    for (int i = 0; i < count; i++) {
        clients[i] = (s_http_client_t){url, api_key, &ready, &stop, {0}, 0, 0, 0};
        s_samples_init (&clients[i].samples, S_SAMPLE_CAP / (size_t)count,
                        0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1) + row->ok);
        pthread_create (&threads[i], NULL, s_http_client, &clients[i]);
    }
    pthread_barrier_wait (&ready);
    double cpu_self = s_cpu_self ();
    double cpu_server = server_pid ? s_cpu_process (server_pid) : 0;
    int64_t start = s_now_ns ();
    s_sleep_seconds (seconds);
    atomic_store (&stop, true);
    for (int i = 0; i < count; i++)
        pthread_join (threads[i], NULL);
    row->seconds += (double)(s_now_ns () - start) / S_NS_PER_S;
    cpu_server = server_pid ? s_cpu_process (server_pid) - cpu_server : 0;
    row->cpu_seconds += s_cpu_self () - cpu_self + cpu_server;
    row->server_cpu_seconds += cpu_server;
    row->done = true;

    for (int i = 0; i < count; i++) {
        if (clients[i].errors && row->errors == 0)
            fprintf (stderr, "bench: %s: first error: HTTP status %ld\n", url,
                     clients[i].first_error);
        row->ok += clients[i].ok;
        row->errors += clients[i].errors;
        for (size_t j = 0; j < clients[i].samples.size; j++)
            s_samples_add (&row->samples, clients[i].samples.values[j]);
        s_samples_clear (&clients[i].samples);
    }
    pthread_barrier_destroy (&ready);
    free (threads);
    free (clients);
}

//  --------------------------------------------------------------------------
//  Bare CivetWeb: one handler returning a fixed JSON body

typedef struct {
    char data[S_MAX_BODY]; //  the body partnerd returned for the same GET
    size_t size;
    char response[S_MAX_HEAD + S_MAX_BODY]; //  head and body, written at once
    size_t response_size;
} s_body_t;

//  One mg_write of head and body, as the gateway does: with TCP_NODELAY
//  every send is a packet, so a handler writing header lines one by one
//  would make the baseline slower than CivetWeb can be
static int
s_bare_handler (struct mg_connection *conn, void *arg)
{
    const s_body_t *body = arg;
    mg_write (conn, body->response, body->response_size);
    return 200;
}

static struct mg_context *
s_bare_start (const s_options_t *options, int port, s_body_t *body)
{
    char listen[32], threads[16];
    snprintf (listen, sizeof (listen), "127.0.0.1:%d", port);
    snprintf (threads, sizeof (threads), "%d", options->threads);
    const char *config[] = {"listening_ports",   listen, "num_threads", threads, "tcp_nodelay", "1",
                            "enable_keep_alive", "yes",  NULL};
    int head = snprintf (body->response, sizeof (body->response),
                         "HTTP/1.1 200 OK\r\n"
                         "Content-Type: application/json\r\n"
                         "Content-Length: %zu\r\n"
                         "Connection: keep-alive\r\n"
                         "\r\n",
                         body->size);
    if (head < 0 || (size_t)head >= S_MAX_HEAD)
        return NULL;
    memcpy (body->response + head, body->data, body->size);
    body->response_size = (size_t)head + body->size;
    struct mg_callbacks callbacks;
    memset (&callbacks, 0, sizeof (callbacks));
    struct mg_context *context = mg_start (&callbacks, NULL, config);
    if (context)
        mg_set_request_handler (context, "/api/partners/me", s_bare_handler, body);
    return context;
}

//  --------------------------------------------------------------------------
//  HTTP section: partnerd and bare CivetWeb with the same body, interleaved

typedef struct {
    s_row_t partnerd;
    s_row_t bare;
    size_t body_size; //  bytes of the /me body
} s_http_rows_t;

static void
s_http_section (const s_options_t *options, s_http_rows_t *rows)
{
    char *dir = pd_test_tmpdir ();
    pd_proc_t *server = NULL;
    struct mg_context *bare = NULL;
    char *admin_key = NULL;
    char *api_key = NULL;
    s_body_t *body = calloc (1, sizeof (s_body_t));
    if (!dir || !body) {
        fprintf (stderr, "bench: no temporary directory\n");
        goto cleanup;
    }
    char http[64], threads[16], base[96], url[160], bare_url[160];
    char path[512];
    snprintf (http, sizeof (http), "127.0.0.1:%d", pd_test_free_port ());
    snprintf (threads, sizeof (threads), "%d", options->threads);
    snprintf (base, sizeof (base), "http://%s", http);
    //  The broker binds its default: ipc:// inside the data directory
    const char *args[] = {"--data", dir, "--http", http, "--threads", threads, NULL};
    server = pd_proc_start (args, S_START_TIMEOUT_MS);
    if (!server) {
        fprintf (stderr, "bench: partnerd did not start\n");
        goto cleanup;
    }
    snprintf (path, sizeof (path), "%s/admin.key", dir);
    admin_key = pd_test_read_line (path);
    if (!admin_key) {
        fprintf (stderr, "bench: no %s\n", path);
        goto cleanup;
    }

    //  A partner and its key
    pd_test_http_t response;
    snprintf (url, sizeof (url), "%s/api/partners", base);
    if (pd_test_http ("POST", url, admin_key,
                      "{\"name\":\"Bench\",\"contact_email\":\"b@bench.example\"}", NULL,
                      &response) != 0 ||
        response.status != 201 || !pd_json_str (&response, "api_key")) {
        fprintf (stderr, "bench: POST /api/partners: HTTP %ld %s\n", response.status,
                 response.body ? response.body : "");
        pd_test_http_clear (&response);
        goto cleanup;
    }
    api_key = strdup (pd_json_str (&response, "api_key"));
    pd_test_http_clear (&response);

    //  The body the bare server will return
    snprintf (url, sizeof (url), "%s/api/partners/me", base);
    if (pd_test_http ("GET", url, api_key, NULL, NULL, &response) != 0 || response.status != 200 ||
        response.body_size > sizeof (body->data)) {
        fprintf (stderr, "bench: GET /api/partners/me: HTTP %ld %s\n", response.status,
                 response.body ? response.body : "");
        pd_test_http_clear (&response);
        goto cleanup;
    }
    memcpy (body->data, response.body, response.body_size);
    body->size = response.body_size;
    rows->body_size = body->size;
    pd_test_http_clear (&response);

    int port = pd_test_free_port ();
    bare = s_bare_start (options, port, body);
    if (!bare) {
        fprintf (stderr, "bench: bare CivetWeb did not start on port %d\n", port);
        goto cleanup;
    }
    snprintf (bare_url, sizeof (bare_url), "http://127.0.0.1:%d/api/partners/me", port);

    double slice = options->http_seconds / options->rounds;
    fprintf (stderr, "bench: http, %d clients, %d x %.2f s each for partnerd and bare\n",
             options->clients, options->rounds, slice);
    for (int round = 0; round < options->rounds; round++)
        for (int turn = 0; turn < 2; turn++) {
            //  Alternate the order, so that neither always goes first
            if ((turn + round) % 2 == 0)
                s_http_slice (options, url, api_key, pd_proc_pid (server), slice, &rows->partnerd);
            else
                s_http_slice (options, bare_url, NULL, 0, slice, &rows->bare);
        }

cleanup:
    if (bare)
        mg_stop (bare);
    if (server) {
        int status = pd_proc_stop (&server, SIGTERM);
        if (status != 0)
            fprintf (stderr, "bench: partnerd exited with status %d\n", status);
    }
    if (dir)
        pd_test_rmdir (dir);
    free (dir);
    free (admin_key);
    free (api_key);
    free (body);
}

//  --------------------------------------------------------------------------
//  Store section: the same requests against stores of very different sizes

//  Other partners' records, written straight into a new store (as partnerd
//  would have written them, indexes included): `records` in all, partners
//  (one per hundred records), their users, sites and provisions
static int
s_seed (const char *dir, long records)
{
    pd_store_config_t config = {pd_store_table_names, 0, PD_STORE_SCHEMA_VERSION, NULL, NULL};
    pd_store_t *store = pd_store_new (dir, &config);
    if (!store)
        return -1;
    long partners = records / 100 + 1;
    long rest = records > partners ? records - partners : 0;
    int rc = PD_OK;
    pd_store_batch_t *batch = NULL;
    long in_batch = 0;
    for (long i = 0; rc == PD_OK && i < partners + rest; i++) {
        if (!batch)
            batch = pd_store_batch_new ();
        char id[32], owner[32], text[64], key[96];
        long partner = i < partners ? i : (i - partners) % partners;
        snprintf (owner, sizeof (owner), "prt_fill%07ld", partner);
        long kind = i < partners ? 0 : 1 + (i - partners) % 3;
        if (kind == 0) {
            pd_partner_t record = {0};
            snprintf (text, sizeof (text), "filler partner %ld", i);
            record.id = owner;
            record.name = text;
            record.contact_email = "ops@filler.example";
            record.status = "active";
            rc = pd_record_put (batch, &pd_table_partners, owner, &record, PD_STORE_ANY);
            if (rc == PD_OK)
                rc = pd_store_batch_put (batch, pd_table_partners_by_name.name, text, strlen (text),
                                         owner, strlen (owner), PD_STORE_ANY);
        } else if (kind == 1) {
            pd_user_t record = {0};
            snprintf (id, sizeof (id), "usr_fill%09ld", i);
            snprintf (text, sizeof (text), "u%ld@filler.example", i);
            record.id = id;
            record.partner_id = owner;
            record.email = text;
            record.role = "partner-user";
            record.status = "active";
            rc = pd_record_put (batch, &pd_table_users, id, &record, PD_STORE_ANY);
            if (rc == PD_OK)
                rc = pd_store_batch_put (batch, pd_table_users_by_email.name, text, strlen (text),
                                         id, strlen (id), PD_STORE_ANY);
            if (rc == PD_OK)
                rc = pd_record_index_add (batch, &pd_index_users_by_partner, owner, id);
        } else if (kind == 2) {
            pd_site_t record = {0};
            snprintf (id, sizeof (id), "sit_fill%09ld", i);
            snprintf (text, sizeof (text), "site %ld", i);
            record.id = id;
            record.partner_id = owner;
            record.name = text;
            rc = pd_record_put (batch, &pd_table_sites, id, &record, PD_STORE_ANY);
            snprintf (key, sizeof (key), "%s:%s", owner, text);
            if (rc == PD_OK)
                rc = pd_store_batch_put (batch, pd_table_sites_by_name.name, key, strlen (key), id,
                                         strlen (id), PD_STORE_ANY);
            if (rc == PD_OK)
                rc = pd_record_index_add (batch, &pd_index_sites_by_partner, owner, id);
        } else {
            pd_provision_t record = {0};
            snprintf (id, sizeof (id), "prv_fill%09ld", i);
            snprintf (text, sizeof (text), "F%015ld", i); //  16 characters, no real code
            record.id = id;
            record.partner_id = owner;
            record.code = text;
            record.status = "active";
            rc = pd_record_put (batch, &pd_table_provisions, id, &record, PD_STORE_ANY);
            if (rc == PD_OK)
                rc = pd_store_batch_put (batch, pd_table_provisions_by_code.name, text,
                                         strlen (text), id, strlen (id), PD_STORE_ANY);
            if (rc == PD_OK)
                rc = pd_record_index_add (batch, &pd_index_provisions_by_partner, owner, id);
        }
        if (rc == PD_OK && ++in_batch == S_STORE_BATCH) {
            rc = pd_store_commit (store, batch);
            pd_store_batch_destroy (&batch);
            in_batch = 0;
        }
    }
    if (rc == PD_OK && batch)
        rc = pd_store_commit (store, batch);
    pd_store_batch_destroy (&batch);
    pd_store_destroy (&store);
    return rc == PD_OK ? 0 : -1;
}

//  One partnerd on a seeded store, with the measured partner's own data
typedef struct {
    long records;
    char *dir;
    pd_proc_t *server;
    char base[96];
    char *admin_key;
    char *api_key;
    char partner_id[80];
    char urls[S_STORE_ROWS][256];
    s_row_t rows[S_STORE_ROWS];
} s_store_server_t;

static const char *const s_store_labels[S_STORE_ROWS] = {
    "store  GET /api/partners/me", "store  GET /api/partners/me/sites",
    "store  GET .../me/provisions", "store  GET /api/partners/{id}/users"};

//  POST `body` to base + path as `key`; the answer's string `field` into
//  out (may be NULL). 0 or -1 (reported).
static int
s_post (const s_store_server_t *self, const char *path, const char *key, const char *body,
        long expect, const char *field, char *out, size_t size)
{
    char url[256];
    snprintf (url, sizeof (url), "%s%s", self->base, path);
    pd_test_http_t response;
    int rc =
        pd_test_http ("POST", url, key, body, NULL, &response) == 0 && response.status == expect
            ? 0
            : -1;
    if (rc == 0 && field) {
        const char *value = pd_json_str (&response, field);
        if (value)
            snprintf (out, size, "%s", value);
        else
            rc = -1;
    }
    if (rc != 0)
        fprintf (stderr, "bench: POST %s: HTTP %ld %s\n", path, response.status,
                 response.body ? response.body : "");
    pd_test_http_clear (&response);
    return rc;
}

static int
s_store_server_start (const s_options_t *options, s_store_server_t *self, long records)
{
    self->records = records;
    self->dir = pd_test_tmpdir ();
    if (!self->dir)
        return -1;
    char data[512];
    snprintf (data, sizeof (data), "%s/data", self->dir);
    int64_t start = s_now_ns ();
    if (s_seed (data, records) != 0) {
        fprintf (stderr, "bench: seeding %ld records failed\n", records);
        return -1;
    }
    fprintf (stderr, "bench: store: %ld records seeded in %.1f s\n", records,
             (double)(s_now_ns () - start) / S_NS_PER_S);
    char http[64], threads[16], path[600];
    snprintf (http, sizeof (http), "127.0.0.1:%d", pd_test_free_port ());
    snprintf (threads, sizeof (threads), "%d", options->threads);
    snprintf (self->base, sizeof (self->base), "http://%s", http);
    const char *args[] = {"--data", data, "--http", http, "--threads", threads, NULL};
    self->server = pd_proc_start (args, S_START_TIMEOUT_MS);
    snprintf (path, sizeof (path), "%s/admin.key", data);
    self->admin_key = self->server ? pd_test_read_line (path) : NULL;
    if (!self->admin_key)
        return -1;
    char key[128];
    if (s_post (self, "/api/partners", self->admin_key,
                "{\"name\":\"Measured\",\"contact_email\":\"m@bench.example\"}", 201, "api_key",
                key, sizeof (key)) ||
        !(self->api_key = strdup (key)))
        return -1;
    //  Its id: the key's partner, from /me
    pd_test_http_t response;
    char url[256];
    snprintf (url, sizeof (url), "%s/api/partners/me", self->base);
    if (pd_test_http ("GET", url, self->api_key, NULL, NULL, &response) != 0 ||
        !pd_json_str (&response, "id")) {
        pd_test_http_clear (&response);
        return -1;
    }
    snprintf (self->partner_id, sizeof (self->partner_id), "%s", pd_json_str (&response, "id"));
    pd_test_http_clear (&response);
    for (int i = 0; i < S_STORE_OWN; i++) {
        char body[256], code[32], users[160];
        snprintf (users, sizeof (users), "/api/partners/%s/users", self->partner_id);
        snprintf (body, sizeof (body), "{\"email\":\"user%d@measured.example\"}", i);
        if (s_post (self, users, self->admin_key, body, 201, NULL, NULL, 0))
            return -1;
        snprintf (body, sizeof (body), "{\"site_name\":\"Site %d\"}", i);
        if (s_post (self, "/api/partners/me/provisions", self->api_key, body, 201, "code", code,
                    sizeof (code)))
            return -1;
        if (i % 2 == 0) {
            snprintf (body, sizeof (body), "{\"code\":\"%s\",\"mac\":\"02:00:00:00:00:%02x\"}",
                      code, i);
            if (s_post (self, "/api/provision/claim", NULL, body, 200, NULL, NULL, 0))
                return -1;
        }
    }
    snprintf (self->urls[0], sizeof (self->urls[0]), "%s/api/partners/me", self->base);
    snprintf (self->urls[1], sizeof (self->urls[1]), "%s/api/partners/me/sites", self->base);
    snprintf (self->urls[2], sizeof (self->urls[2]), "%s/api/partners/me/provisions", self->base);
    snprintf (self->urls[3], sizeof (self->urls[3]), "%s/api/partners/%s/users", self->base,
              self->partner_id);
    return 0;
}

static void
s_store_server_stop (s_store_server_t *self)
{
    if (self->server) {
        int status = pd_proc_stop (&self->server, SIGTERM);
        if (status != 0)
            fprintf (stderr, "bench: partnerd exited with status %d\n", status);
    }
    if (self->dir)
        pd_test_rmdir (self->dir);
    free (self->dir);
    free (self->admin_key);
    free (self->api_key);
    self->dir = self->admin_key = self->api_key = NULL;
}

//  Every store size's partnerd runs at once; each request's rows take
//  turns slice by slice
static void
s_store_section (const s_options_t *options, s_store_server_t *servers)
{
    int count = options->store_size_count;
    for (int n = 0; n < count; n++) {
        for (int r = 0; r < S_STORE_ROWS; r++) {
            static char who[S_MAX_STORE_SIZES][32];
            snprintf (who[n], sizeof (who[n]), "%ld records", options->store_sizes[n]);
            s_row_init (&servers[n].rows[r], s_store_labels[r], who[n], 21 + (uint64_t)n);
        }
        if (s_store_server_start (options, &servers[n], options->store_sizes[n]) != 0) {
            fprintf (stderr, "bench: store section skipped\n");
            return;
        }
    }
    double slice = options->http_seconds / 2 / options->rounds;
    fprintf (stderr, "bench: store, %d sizes x %d requests, %d x %.2f s each\n", count,
             S_STORE_ROWS, options->rounds, slice);
    for (int round = 0; round < options->rounds; round++)
        for (int r = 0; r < S_STORE_ROWS; r++)
            for (int turn = 0; turn < count; turn++) {
                int n = (turn + round) % count;
                const char *key = r == S_STORE_ROWS - 1 ? servers[n].admin_key : servers[n].api_key;
                s_http_slice (options, servers[n].urls[r], key, pd_proc_pid (servers[n].server),
                              slice, &servers[n].rows[r]);
            }
}

//  --------------------------------------------------------------------------
//  Round trips: the same loop for the broker and for raw ZeroMQ

//  The request body: a msgpack bin8 of S_PAYLOAD_SIZE bytes
static uint8_t s_payload[2 + S_PAYLOAD_SIZE];
//  The request header: an empty msgpack map
static const uint8_t s_header[1] = {0x80};

typedef struct {
    //  Send one request; 0 and *id set, or -1
    int (*send) (void *handle, uint64_t *id);
    //  Wait for one reply: 0 (a success reply, *id set), 1 (an error
    //  reply, *id set), or -1 (nothing within timeout_ms)
    int (*recv) (void *handle, uint64_t *id, int timeout_ms);
    void *handle;
} s_rpc_t;

//  Connections up, workers registered, caches warm. 0 or -1.
static int
s_warm_up (const s_rpc_t *rpc)
{
    for (int i = 0; i < S_WARMUP_ROUND_TRIPS; i++) {
        uint64_t id;
        if (rpc->send (rpc->handle, &id) != 0 ||
            rpc->recv (rpc->handle, &id, S_RECV_TIMEOUT_MS) < 0) {
            fprintf (stderr, "bench: warm-up round trip failed\n");
            return -1;
        }
    }
    return 0;
}

//  Keep `window` requests in flight for `seconds`, then drain; add to `row`
static void
s_round_trips (const s_rpc_t *rpc, int window, double seconds, s_row_t *row)
{
    int64_t *sent_at = calloc (S_RING, sizeof (int64_t));
    int in_flight = 0;
    bool sending = true;
    double cpu = s_cpu_self ();
    int64_t start = s_now_ns ();
    int64_t deadline = start + (int64_t)(seconds * S_NS_PER_S);
    while (sending || in_flight > 0) {
        while (sending && in_flight < window) {
            uint64_t id;
            if (rpc->send (rpc->handle, &id) != 0) {
                row->errors++;
                sending = false;
                break;
            }
            sent_at[id % S_RING] = s_now_ns ();
            in_flight++;
        }
        if (in_flight == 0)
            break;
        uint64_t id;
        int rc = rpc->recv (rpc->handle, &id, S_RECV_TIMEOUT_MS);
        int64_t now = s_now_ns ();
        if (rc < 0) {
            fprintf (stderr, "bench: %s %s: %d replies lost\n", row->what, row->who, in_flight);
            row->errors += (uint64_t)in_flight;
            break;
        }
        in_flight--;
        if (rc == 0) {
            row->ok++;
            s_samples_add (&row->samples, (uint64_t)(now - sent_at[id % S_RING]));
        } else
            row->errors++;
        if (now >= deadline)
            sending = false;
    }
    row->seconds += (double)(s_now_ns () - start) / S_NS_PER_S;
    row->cpu_seconds += s_cpu_self () - cpu;
    row->done = true;
    free (sent_at);
}

//  The broker side: pd_client against an echo service

typedef struct {
    pd_client_t *client;
    const char *service;
} s_broker_rpc_t;

static int
s_broker_send (void *handle, uint64_t *id)
{
    s_broker_rpc_t *self = handle;
    return pd_client_send (self->client, self->service, s_header, sizeof (s_header), s_payload,
                           sizeof (s_payload), S_REQUEST_TIMEOUT_MS, id) == PD_OK
               ? 0
               : -1;
}

static int
s_broker_recv (void *handle, uint64_t *id, int timeout_ms)
{
    s_broker_rpc_t *self = handle;
    int status = PD_OK;
    uint8_t *body = NULL;
    size_t size = 0;
    int rc = pd_client_recv (self->client, id, &status, &body, &size, timeout_ms);
    free (body);
    if (rc != PD_OK)
        return -1;
    return status == PD_OK ? 0 : 1;
}

typedef struct {
    const char *endpoint;
    const char *service;
    int credit;
} s_echo_worker_args_t;

//  A worker thread answering every request with a body of the request's size
static void
s_echo_worker (zsock_t *pipe, void *arg)
{
    const s_echo_worker_args_t *args = arg;
    pd_worker_config_t config = {.credit = args->credit};
    pd_worker_t *worker = pd_worker_new (args->endpoint, args->service, &config);
    zsock_signal (pipe, 0);
    while (worker) {
        pd_request_t *request = NULL;
        int rc = pd_worker_wait (worker, pipe, &request);
        if (rc == PD_WORKER_PIPE) {
            char *command = zstr_recv (pipe);
            bool term = !command || streq (command, "$TERM");
            zstr_free (&command);
            if (term)
                break;
        } else if (rc == PD_OK)
            pd_worker_reply (worker, &request, PD_OK, s_payload, sizeof (s_payload));
        else {
            pd_request_destroy (&request);
            if (zsys_interrupted)
                break;
        }
    }
    pd_worker_destroy (&worker);
}

//  The raw ZeroMQ side: DEALER client, ROUTER echo, optional relay

typedef struct {
    zsock_t *dealer;
    uint64_t next_id;
} s_zmq_rpc_t;

static int
s_zmq_send (void *handle, uint64_t *id)
{
    s_zmq_rpc_t *self = handle;
    *id = self->next_id++;
    void *socket = zsock_resolve (self->dealer);
    if (zmq_send (socket, id, sizeof (*id), ZMQ_SNDMORE) < 0 ||
        zmq_send (socket, s_payload, sizeof (s_payload), 0) < 0)
        return -1;
    return 0;
}

static int
s_zmq_recv (void *handle, uint64_t *id, int timeout_ms)
{
    s_zmq_rpc_t *self = handle;
    void *socket = zsock_resolve (self->dealer);
    zmq_pollitem_t item = {socket, 0, ZMQ_POLLIN, 0};
    if (zmq_poll (&item, 1, timeout_ms) <= 0)
        return -1;
    uint8_t body[2 + S_PAYLOAD_SIZE];
    if (zmq_recv (socket, id, sizeof (*id), 0) != sizeof (*id))
        return -1;
    int more = 0;
    size_t more_size = sizeof (more);
    zmq_getsockopt (socket, ZMQ_RCVMORE, &more, &more_size);
    if (!more || zmq_recv (socket, body, sizeof (body), 0) < 0)
        return -1;
    return 0;
}

//  Move every message waiting on `from` to `to`, frame by frame
static void
s_forward (void *from, void *to)
{
    while (true) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, from, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&frame);
            return;
        }
        int more = zmq_msg_more (&frame);
        if (zmq_msg_send (&frame, to, more ? ZMQ_SNDMORE : 0) < 0)
            zmq_msg_close (&frame);
        while (more) {
            zmq_msg_init (&frame);
            zmq_msg_recv (&frame, from, 0);
            more = zmq_msg_more (&frame);
            if (zmq_msg_send (&frame, to, more ? ZMQ_SNDMORE : 0) < 0)
                zmq_msg_close (&frame);
        }
    }
}

typedef struct {
    const char *connect; //  connect here (behind the relay), or NULL to bind
    int port;            //  out: the port bound (1 when connected, -1 on failure)
} s_zmq_echo_args_t;

//  A ROUTER that sends every message back to where it came from
static void
s_zmq_echo (zsock_t *pipe, void *arg)
{
    s_zmq_echo_args_t *args = arg;
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    if (args->connect)
        args->port = zsock_connect (router, "%s", args->connect) == 0 ? 1 : -1;
    else
        args->port = zsock_bind (router, "tcp://127.0.0.1:*");
    zsock_signal (pipe, 0);
    zmq_pollitem_t items[] = {{zsock_resolve (pipe), 0, ZMQ_POLLIN, 0},
                              {zsock_resolve (router), 0, ZMQ_POLLIN, 0}};
    while (args->port > 0 && zmq_poll (items, 2, -1) >= 0) {
        if (items[0].revents & ZMQ_POLLIN)
            break;
        if (items[1].revents & ZMQ_POLLIN)
            s_forward (zsock_resolve (router), zsock_resolve (router));
    }
    zsock_destroy (&router);
}

typedef struct {
    int front_port; //  out: ROUTER for clients
    int back_port;  //  out: DEALER for the echo
} s_zmq_relay_args_t;

//  ROUTER front <-> DEALER back, nothing else: the floor of a two-hop path
static void
s_zmq_relay (zsock_t *pipe, void *arg)
{
    s_zmq_relay_args_t *args = arg;
    zsock_t *front = zsock_new (ZMQ_ROUTER);
    zsock_t *back = zsock_new (ZMQ_DEALER);
    args->front_port = zsock_bind (front, "tcp://127.0.0.1:*");
    args->back_port = zsock_bind (back, "tcp://127.0.0.1:*");
    zsock_signal (pipe, 0);
    zmq_pollitem_t items[] = {{zsock_resolve (pipe), 0, ZMQ_POLLIN, 0},
                              {zsock_resolve (front), 0, ZMQ_POLLIN, 0},
                              {zsock_resolve (back), 0, ZMQ_POLLIN, 0}};
    while (args->front_port > 0 && args->back_port > 0 && zmq_poll (items, 3, -1) >= 0) {
        if (items[0].revents & ZMQ_POLLIN)
            break;
        if (items[1].revents & ZMQ_POLLIN)
            s_forward (zsock_resolve (front), zsock_resolve (back));
        if (items[2].revents & ZMQ_POLLIN)
            s_forward (zsock_resolve (back), zsock_resolve (front));
    }
    zsock_destroy (&back);
    zsock_destroy (&front);
}

//  --------------------------------------------------------------------------
//  Broker section: every path set up at once, rows measured interleaved

typedef enum {
    S_BROKER_SYNC,
    S_ZMQ_SYNC,
    S_RELAY_SYNC,
    S_INPROC_SYNC,
    S_BROKER_WINDOW,
    S_BROKER_WINDOW_CREDIT,
    S_ZMQ_WINDOW,
    S_RELAY_WINDOW,
    S_INPROC_WINDOW_CREDIT,
    S_RPC_ROWS
} s_rpc_row_t;

typedef struct {
    s_row_t rows[S_RPC_ROWS];
    char window_what[32]; //  "broker  64 in flight"
    char credit_who[64];  //  "broker tcp, credit 64"
    char inproc_who[64];  //  "broker inproc, credit 64"
} s_rpc_rows_t;

typedef struct {
    s_row_t *row;
    const s_rpc_t *rpc;
    int window;
} s_slice_t;

//  The paths under test, kept together for clean-up
typedef struct {
    pd_broker_t *broker;
    pd_client_t *client;        //  over tcp
    pd_client_t *inproc_client; //  over inproc
    zactor_t *workers[3];       //  tcp credit 1, tcp credit N, inproc credit N
    zactor_t *echo;             //  one hop
    zactor_t *relay;            //  two hops: relay ...
    zactor_t *relay_echo;       //  ... and the echo behind it
    s_zmq_rpc_t zmq;            //  DEALER to the echo
    s_zmq_rpc_t relay_zmq;      //  DEALER to the relay
} s_paths_t;

static void
s_paths_destroy (s_paths_t *paths)
{
    zsock_destroy (&paths->relay_zmq.dealer);
    zsock_destroy (&paths->zmq.dealer);
    zactor_destroy (&paths->relay_echo);
    zactor_destroy (&paths->relay);
    zactor_destroy (&paths->echo);
    for (size_t i = 0; i < sizeof (paths->workers) / sizeof (paths->workers[0]); i++)
        zactor_destroy (&paths->workers[i]);
    pd_client_destroy (&paths->inproc_client);
    pd_client_destroy (&paths->client);
    pd_broker_destroy (&paths->broker);
}

//  Run the slices in `count` rounds, reversing the order every other round
static void
s_interleave (const s_options_t *options, s_slice_t *slices, size_t count)
{
    double slice = options->broker_seconds / options->rounds;
    for (int round = 0; round < options->rounds; round++)
        for (size_t i = 0; i < count; i++) {
            s_slice_t *next = &slices[round % 2 ? count - 1 - i : i];
            if (next->rpc->handle)
                s_round_trips (next->rpc, next->window, slice, next->row);
        }
}

static void
s_rpc_section (const s_options_t *options, s_rpc_rows_t *rpc_rows)
{
    s_row_t *rows = rpc_rows->rows;
    snprintf (rpc_rows->window_what, sizeof (rpc_rows->window_what), "broker %3d in flight",
              options->in_flight);
    snprintf (rpc_rows->credit_who, sizeof (rpc_rows->credit_who), "broker tcp, credit %d",
              options->in_flight);
    snprintf (rpc_rows->inproc_who, sizeof (rpc_rows->inproc_who), "broker inproc, credit %d",
              options->in_flight);
    const char *window = rpc_rows->window_what;
    s_row_init (&rows[S_BROKER_SYNC], "broker sync (1 in flight)", "broker tcp", 1);
    s_row_init (&rows[S_ZMQ_SYNC], "broker sync (1 in flight)", "bare zmq tcp, 1 hop", 2);
    s_row_init (&rows[S_RELAY_SYNC], "broker sync (1 in flight)", "bare zmq tcp, 2 hops", 3);
    s_row_init (&rows[S_INPROC_SYNC], "broker sync (1 in flight)", "broker inproc", 4);
    s_row_init (&rows[S_BROKER_WINDOW], window, "broker tcp, credit 1", 5);
    s_row_init (&rows[S_BROKER_WINDOW_CREDIT], window, rpc_rows->credit_who, 6);
    s_row_init (&rows[S_ZMQ_WINDOW], window, "bare zmq tcp, 1 hop", 7);
    s_row_init (&rows[S_RELAY_WINDOW], window, "bare zmq tcp, 2 hops", 8);
    s_row_init (&rows[S_INPROC_WINDOW_CREDIT], window, rpc_rows->inproc_who, 9);

    //  The broker, on tcp and inproc, with three echo services
    s_paths_t paths = {0};
    char endpoint[64], binds[128];
    snprintf (endpoint, sizeof (endpoint), "tcp://127.0.0.1:%d", pd_test_free_port ());
    snprintf (binds, sizeof (binds), "%s,%s", endpoint, S_INPROC_BROKER);
    pd_broker_config_t config = {.endpoints = binds};
    paths.broker = pd_broker_new (&config);
    if (paths.broker) {
        paths.client = pd_client_new (endpoint);
        paths.inproc_client = pd_client_new (S_INPROC_BROKER);
    } else
        fprintf (stderr, "bench: broker did not start on %s\n", binds);
    char services[3][PD_PROTO_MAX_SERVICE];
    s_echo_worker_args_t worker_args[3] = {{endpoint, services[0], 1},
                                           {endpoint, services[1], options->in_flight},
                                           {S_INPROC_BROKER, services[2], options->in_flight}};
    snprintf (services[0], sizeof (services[0]), "%s.tcp.1", S_ECHO_SERVICE);
    snprintf (services[1], sizeof (services[1]), "%s.tcp.%d", S_ECHO_SERVICE, options->in_flight);
    snprintf (services[2], sizeof (services[2]), "%s.inproc.%d", S_ECHO_SERVICE,
              options->in_flight);
    for (int i = 0; i < 3 && paths.client && paths.inproc_client; i++)
        paths.workers[i] = zactor_new (s_echo_worker, &worker_args[i]);
    s_broker_rpc_t broker_state[3] = {{paths.client, services[0]},
                                      {paths.client, services[1]},
                                      {paths.inproc_client, services[2]}};
    s_rpc_t broker_rpc[3];
    for (int i = 0; i < 3; i++) {
        broker_rpc[i] = (s_rpc_t){s_broker_send, s_broker_recv, NULL};
        if (paths.workers[i] &&
            s_warm_up (&(s_rpc_t){s_broker_send, s_broker_recv, &broker_state[i]}) == 0)
            broker_rpc[i].handle = &broker_state[i];
    }

    //  Bare ZeroMQ: one hop, and two hops through a relay
    s_zmq_echo_args_t echo_args = {NULL, -1};
    paths.echo = zactor_new (s_zmq_echo, &echo_args);
    s_zmq_relay_args_t relay_args = {-1, -1};
    paths.relay = zactor_new (s_zmq_relay, &relay_args);
    char back[64];
    snprintf (back, sizeof (back), "tcp://127.0.0.1:%d", relay_args.back_port);
    s_zmq_echo_args_t behind_args = {back, -1};
    if (relay_args.back_port > 0)
        paths.relay_echo = zactor_new (s_zmq_echo, &behind_args);
    s_rpc_t zmq_rpc = {s_zmq_send, s_zmq_recv, NULL};
    s_rpc_t relay_rpc = {s_zmq_send, s_zmq_recv, NULL};
    if (echo_args.port > 0) {
        snprintf (endpoint, sizeof (endpoint), "tcp://127.0.0.1:%d", echo_args.port);
        paths.zmq.dealer = zsock_new_dealer (endpoint);
        if (paths.zmq.dealer && s_warm_up (&(s_rpc_t){s_zmq_send, s_zmq_recv, &paths.zmq}) == 0)
            zmq_rpc.handle = &paths.zmq;
    }
    if (relay_args.front_port > 0 && behind_args.port > 0) {
        snprintf (endpoint, sizeof (endpoint), "tcp://127.0.0.1:%d", relay_args.front_port);
        paths.relay_zmq.dealer = zsock_new_dealer (endpoint);
        if (paths.relay_zmq.dealer &&
            s_warm_up (&(s_rpc_t){s_zmq_send, s_zmq_recv, &paths.relay_zmq}) == 0)
            relay_rpc.handle = &paths.relay_zmq;
    }

    int n = options->in_flight;
    s_slice_t sync[] = {{&rows[S_BROKER_SYNC], &broker_rpc[0], 1},
                        {&rows[S_ZMQ_SYNC], &zmq_rpc, 1},
                        {&rows[S_RELAY_SYNC], &relay_rpc, 1},
                        {&rows[S_INPROC_SYNC], &broker_rpc[2], 1}};
    s_slice_t windowed[] = {{&rows[S_BROKER_WINDOW], &broker_rpc[0], n},
                            {&rows[S_BROKER_WINDOW_CREDIT], &broker_rpc[1], n},
                            {&rows[S_ZMQ_WINDOW], &zmq_rpc, n},
                            {&rows[S_RELAY_WINDOW], &relay_rpc, n},
                            {&rows[S_INPROC_WINDOW_CREDIT], &broker_rpc[2], n}};
    fprintf (stderr, "bench: round trips, 1 in flight, %d x %.2f s per row\n", options->rounds,
             options->broker_seconds / options->rounds);
    s_interleave (options, sync, sizeof (sync) / sizeof (sync[0]));
    fprintf (stderr, "bench: round trips, %d in flight, %d x %.2f s per row\n", n, options->rounds,
             options->broker_seconds / options->rounds);
    s_interleave (options, windowed, sizeof (windowed) / sizeof (windowed[0]));
    s_paths_destroy (&paths);
}

//  --------------------------------------------------------------------------

int
main (int argc, char **argv)
{
    s_options_t options;
    if (s_parse (argc, argv, &options) != 0) {
        s_usage (stderr);
        return 2;
    }
    s_payload[0] = 0xc4; //  msgpack bin8
    s_payload[1] = S_PAYLOAD_SIZE;
    memset (s_payload + 2, 'x', S_PAYLOAD_SIZE);
    curl_global_init (CURL_GLOBAL_DEFAULT);
    mg_init_library (0);
    zsys_init ();
    signal (SIGPIPE, SIG_IGN);
    double load_before = s_load_average ();

    s_http_rows_t http = {0};
    s_row_init (&http.partnerd, "http   GET /api/partners/me", "partnerd", 11);
    s_row_init (&http.bare, "http   GET same body", "bare civetweb", 12);
    s_http_section (&options, &http);
    s_row_finish (&http.partnerd);
    s_row_finish (&http.bare);

    s_store_server_t *stores = calloc (S_MAX_STORE_SIZES, sizeof (s_store_server_t));
    if (options.store_size_count)
        s_store_section (&options, stores);
    for (int n = 0; n < options.store_size_count; n++) {
        s_store_server_stop (&stores[n]);
        for (int r = 0; r < S_STORE_ROWS; r++)
            s_row_finish (&stores[n].rows[r]);
    }

    s_rpc_rows_t rpc;
    s_rpc_section (&options, &rpc);
    for (int i = 0; i < S_RPC_ROWS; i++)
        s_row_finish (&rpc.rows[i]);
    s_row_t *rows = rpc.rows;

    printf ("\npartnerd bench: %ld CPUs shared by load generator and servers; "
            "load average %.2f before, %.2f after\n",
            sysconf (_SC_NPROCESSORS_ONLN), load_before, s_load_average ());
    printf ("http: %d keep-alive clients, %d server threads, %zu-byte body, %.1f s per row; "
            "round trips: %d-byte body, %.1f s per row; rows compared run interleaved in %d "
            "slices\n\n",
            options.clients, options.threads, http.body_size, options.http_seconds,
            (int)sizeof (s_payload), options.broker_seconds, options.rounds);
    s_print_header ();
    s_print_row (&http.partnerd);
    s_print_row (&http.bare);
    s_print_ratio ("http   ratio partnerd / bare", &http.partnerd, &http.bare);
    printf ("\n");
    for (int i = S_BROKER_SYNC; i <= S_INPROC_SYNC; i++)
        s_print_row (&rows[i]);
    s_print_ratio ("broker ratio broker tcp / bare 1 hop", &rows[S_BROKER_SYNC], &rows[S_ZMQ_SYNC]);
    s_print_ratio ("broker ratio broker tcp / bare 2 hops", &rows[S_BROKER_SYNC],
                   &rows[S_RELAY_SYNC]);
    printf ("\n");
    for (int i = S_BROKER_WINDOW; i <= S_INPROC_WINDOW_CREDIT; i++)
        s_print_row (&rows[i]);
    s_print_ratio ("broker ratio tcp credit 1 / bare 1 hop", &rows[S_BROKER_WINDOW],
                   &rows[S_ZMQ_WINDOW]);
    s_print_ratio ("broker ratio tcp credit N / bare 1 hop", &rows[S_BROKER_WINDOW_CREDIT],
                   &rows[S_ZMQ_WINDOW]);
    s_print_ratio ("broker ratio tcp credit N / bare 2 hops", &rows[S_BROKER_WINDOW_CREDIT],
                   &rows[S_RELAY_WINDOW]);
    if (options.store_size_count) {
        printf ("\nstore: the same requests for one partner (%d users, %d provisions, %d sites) "
                "beside other partners' records; partnerd's own CPU per request in brackets\n",
                S_STORE_OWN, S_STORE_OWN, S_STORE_OWN / 2);
        int last = options.store_size_count - 1;
        for (int r = 0; r < S_STORE_ROWS; r++) {
            for (int n = 0; n < options.store_size_count; n++) {
                s_print_row (&stores[n].rows[r]);
                if (stores[n].rows[r].done)
                    printf ("%*s(%.1f us)\n", S_LABEL_WIDTH + 1, "",
                            stores[n].rows[r].server_cpu_us_per_op);
            }
            if (last > 0) {
                char label[96];
                snprintf (label, sizeof (label), "store  ratio %ld / %ld records",
                          options.store_sizes[last], options.store_sizes[0]);
                s_print_ratio (label, &stores[last].rows[r], &stores[0].rows[r]);
            }
        }
    }
    if (http.partnerd.done)
        printf ("\npartnerd's own CPU: %.1f us per HTTP request (its row's cpu us/op adds the "
                "load generator's); the other rows count every thread, all in this process.\n",
                http.partnerd.server_cpu_us_per_op);

    //  The targets of issue 8, judged on this run's ratios
    printf ("\ntargets (each a ratio of this run):\n");
    double ratio = s_ratio (http.partnerd.ops_per_s, http.bare.ops_per_s);
    s_print_target ("http GET /api/partners/me ops/s >= 0.6x bare", ratio, ratio >= 0.6,
                    "per-request work spread over CivetWeb, the kernel, JSON and msgpack, no "
                    "single hot spot (tests/bench/README.md); runs vary 0.59-0.62x");
    ratio = s_ratio (http.partnerd.p99_ms, http.bare.p99_ms);
    s_print_target ("http p99 <= 2x bare", ratio, ratio > 0 && ratio <= 2.0, NULL);
    ratio = s_ratio (rows[S_BROKER_WINDOW_CREDIT].ops_per_s, rows[S_RELAY_WINDOW].ops_per_s);
    s_print_target ("broker 64 in flight >= 0.7x bare 2-hop relay", ratio, ratio >= 0.7,
                    "per-message work in the broker thread: CZMQ frames and hash keys per "
                    "message, request table and deadline heap (tests/bench/README.md)");
    if (options.store_size_count > 1) {
        int last = options.store_size_count - 1;
        double worst = 0;
        for (int r = 0; r < S_STORE_ROWS; r++) {
            double each = s_ratio (stores[last].rows[r].ops_per_s, stores[0].rows[r].ops_per_s);
            worst = r == 0 || each < worst ? each : worst;
        }
        char label[96];
        snprintf (label, sizeof (label), "store: ops/s at %ld records >= 0.8x at %ld (worst row)",
                  options.store_sizes[last], options.store_sizes[0]);
        s_print_target (label, worst, worst >= 0.8, NULL);
    }
    free (stores);

    mg_exit_library ();
    curl_global_cleanup ();
    return 0;
}
