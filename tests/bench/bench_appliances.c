/*  bench_appliances - the appliance front under many CurveZMQ appliances,
    beside a bare CurveZMQ server

    Prints figures, asserts nothing; run by hand (see tests/bench/README.md):

        bench_appliances [-n N[,N...]] [-w WINDOW_SECONDS] [-k CLAIMS] [-c IN_FLIGHT]
                         [-r ROUNDS] [-R CONNECTS_PER_SECOND] [-t IO_THREADS]

    Server side, in this process: a pd_store in a fresh temporary directory,
    a pd_broker on inproc, the claim actor (eight instances, as partnerd runs
    it) and a pd_front bound on a free loopback port with a fresh keypair and
    the claim actor's ZAP verdict. Beside it, in a child process of its own
    (its own ZeroMQ context, no ZAP handler), a bare ROUTER that is a CURVE
    server with the front's socket options: it counts what it receives and
    answers a claim with a fixed appliance_setup at once.

    Client side, in child processes (at most S_SOCKETS_PER_CHILD sockets
    each: every ZeroMQ socket costs two descriptors), the appliance SDK:
    pd_appliance_new, pd_appliance_heartbeat, pd_appliance_claim. The same
    appliances (same keys, same calls) talk to either server.

    For each server, then for each N (ascending; each step adds appliances
    to those connected):
      RSS/conn    server VmRSS after N appliances connected and sent their
                  first heartbeat, less VmRSS before any, over N (malloc_trim
                  first, both servers alike). RssAnon too: partnerd's VmRSS
                  also holds the LMDB pages it reads.
      cpu/connect server CPU during the connects over the connects made:
                  handshakes (retries included), partnerd's ZAP look-ups, one
                  heartbeat each.
      idle cpu    server CPU with N connected and quiet for S_IDLE_MS: what
                  holding the connections costs (ZMTP heartbeats, timers).
      hb/s        heartbeats the server counted over the window (every
                  appliance heartbeats once a second, spread evenly), and
                  the server's CPU meanwhile (% of one core, us per heartbeat).
    Claims: K fresh appliances (unknown keys) connect and claim K fresh
    provision codes, IN_FLIGHT at once (one thread each); claims/s = K over
    the time from the first connect until the last answer. partnerd's
    claims commit durably (claim actor -> pd_store group commit). The bare
    row is the same SDK call against the bare server: connect + handshake +
    one request/reply. Claim rounds alternate bare and partnerd and run
    last, once both servers are quiet (run first, the heap they free would
    be reused by the populations and RSS/conn read too low).

    Set-up that is not measured: the partner record is written to the store
    directly; provision codes are made with "provision.create" and the N
    heartbeating appliances claimed with "claim.link" through a pd_client on
    the broker (the front's own request), so that ZAP knows their keys and
    no connection state is left on the server before RSS is read.

    The servers' heartbeat rows are measured one after the other, not
    interleaved: with libzmq 4.3 a connected population is not idle (each
    ZMTP heartbeat cancels a timer by a scan of all the I/O thread's timers),
    so a population kept connected for interleaving would load the machine
    while the other server is measured. Clients and servers share the CPUs.
*/
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <czmq.h>

#include "pd_actor.h"
#include "pd_appliance.h"
#include "pd_broker.h"
#include "pd_appliance_keys.h"
#include "pd_claim_actor.h"
#include "pd_client.h"
#include "pd_config.h"
#include "pd_front.h"
#include "pd_messages.h"
#include "pd_record.h"
#include "pd_store.h"
#include "pd_testutil.h"

#define S_DEFAULT_NS         "1000,10000"
#define S_DEFAULT_WINDOW     5.0
#define S_DEFAULT_CLAIMS     1000
#define S_DEFAULT_ROUNDS     2
#define S_DEFAULT_RATE       1000 //  connects per second, all children together
#define S_DEFAULT_IN_FLIGHT  64   //  claims at once (libzmq's listen backlog is 100)
#define S_MAX_IO_THREADS     16
#define S_MAX_NS             8
#define S_MAX_N              15000 //  the server holds a descriptor per connection
#define S_MAX_CLAIMS         20000
#define S_MAX_ROUNDS         10
#define S_MAX_CHILDREN       16
#define S_SOCKETS_PER_CHILD  4000 //  2 descriptors each, under the 20,000 files
#define S_THREAD_STACK       (256 * 1024)
#define S_KEY_LEN            PD_APPLIANCE_KEY_LEN
#define S_LINE_MAX           4096
#define S_LATENCIES_PER_LINE 100
#define S_CHILD_TIMEOUT_MS   120000 //  no answer from a child this long: give up
#define S_CONNECT_GRACE_MS   15000  //  handshakes may lag the paced connects this long ...
#define S_STALL_MS           5000   //  ... unless none completes for this long
#define S_IDLE_MS            1000   //  CPU of N connected appliances sending nothing
#define S_QUIET_CORE         5.0    //  % of a core under which a server is done tearing down
#define S_QUIET_MAX_MS       30000
#define S_CLAIM_TIMEOUT_MS   30000
#define S_REQUEST_TIMEOUT_MS 30000 //  set-up requests through the broker
#define S_SETUP_IN_FLIGHT    256
#define S_RING               4096 //  in-flight set-up requests by id; > S_SETUP_IN_FLIGHT
#define S_SETTLE_MS          500  //  after the last handshake, before RSS is read
#define S_DRAIN_MS           200  //  after a window, for heartbeats still in flight
#define S_CLAIM_INSTANCES    8    //  claim actor threads, as partnerd runs it (min_instances)
#define S_HEARTBEAT_STATUS   "ok"
#define S_SOFTWARE_VERSION   "bench-1.0"
#define S_PARTNER_ID         "ptn_bench_appliances"
#define S_INPROC_BROKER      "inproc://bench-appliances-broker"
#define S_NS_PER_S           1000000000.0
#define S_NS_PER_MS          1000000
#define S_BARE               0
#define S_PARTNERD           1
#define S_SERVERS            2

static const char *s_server_names[S_SERVERS] = {"bare", "partnerd"};

//  --------------------------------------------------------------------------
//  Options

typedef struct {
    int ns[S_MAX_NS]; //  appliance counts, ascending
    int n_count;
    double window;  //  heartbeat window per server and N, seconds
    int claims;     //  K: claims per round and server
    int in_flight;  //  claims at once
    int rounds;     //  claim rounds
    int rate;       //  connects per second
    int io_threads; //  libzmq I/O threads of each server
    bool bare_zap;  //  -z: the bare server has a ZAP handler that admits every key
} s_options_t;

static void
s_usage (FILE *out)
{
    fprintf (
        out,
        "usage: bench_appliances [-n N[,N...]] [-w WINDOW_SECONDS] [-k CLAIMS] [-c IN_FLIGHT]\n"
        "                        [-r ROUNDS] [-R CONNECTS_PER_SECOND] [-t IO_THREADS] [-z]\n"
        "defaults: -n %s -w %.0f -k %d -c %d -r %d -R %d -t 2\n"
        "-z: the bare server runs a ZAP handler that admits every key (what ZAP costs libzmq)\n",
        S_DEFAULT_NS, S_DEFAULT_WINDOW, S_DEFAULT_CLAIMS, S_DEFAULT_IN_FLIGHT, S_DEFAULT_ROUNDS,
        S_DEFAULT_RATE);
}

static int
s_compare_int (const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int
s_parse_ns (const char *text, s_options_t *options)
{
    options->n_count = 0;
    char copy[256];
    snprintf (copy, sizeof (copy), "%s", text);
    char *save = NULL;
    for (char *item = strtok_r (copy, ",", &save); item; item = strtok_r (NULL, ",", &save)) {
        int n = atoi (item);
        if (n < 1 || n > S_MAX_N || options->n_count == S_MAX_NS)
            return -1;
        options->ns[options->n_count++] = n;
    }
    qsort (options->ns, (size_t)options->n_count, sizeof (int), s_compare_int);
    for (int i = 1; i < options->n_count; i++)
        if (options->ns[i] == options->ns[i - 1])
            return -1;
    return options->n_count > 0 ? 0 : -1;
}

static int
s_parse (int argc, char **argv, s_options_t *options)
{
    memset (options, 0, sizeof (*options));
    options->window = S_DEFAULT_WINDOW;
    options->claims = S_DEFAULT_CLAIMS;
    options->in_flight = 0;
    options->rounds = S_DEFAULT_ROUNDS;
    options->rate = S_DEFAULT_RATE;
    options->io_threads = 2; //  as partnerd runs (programs/partnerd.c)
    if (s_parse_ns (S_DEFAULT_NS, options) != 0)
        return -1;
    int opt;
    while ((opt = getopt (argc, argv, "n:w:k:c:r:R:t:zh")) != -1) {
        switch (opt) {
        case 'z':
            options->bare_zap = true;
            break;
        case 'n':
            if (s_parse_ns (optarg, options) != 0)
                return -1;
            break;
        case 'w':
            options->window = atof (optarg);
            break;
        case 'k':
            options->claims = atoi (optarg);
            break;
        case 'c':
            options->in_flight = atoi (optarg);
            break;
        case 'r':
            options->rounds = atoi (optarg);
            break;
        case 'R':
            options->rate = atoi (optarg);
            break;
        case 't':
            options->io_threads = atoi (optarg);
            break;
        default:
            return -1;
        }
    }
    if (options->in_flight == 0)
        options->in_flight =
            options->claims < S_DEFAULT_IN_FLIGHT ? options->claims : S_DEFAULT_IN_FLIGHT;
    if (optind < argc || options->window <= 0 || options->window > 600 || options->claims < 1 ||
        options->claims > S_MAX_CLAIMS || options->in_flight < 1 ||
        options->in_flight > options->claims || options->rounds < 1 ||
        options->rounds > S_MAX_ROUNDS || options->rate < 1 || options->rate > 100000 ||
        options->io_threads < 1 || options->io_threads > S_MAX_IO_THREADS)
        return -1;
    return 0;
}

//  --------------------------------------------------------------------------
//  Clocks, CPU and memory of a process

static int64_t
s_now_ns (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static void
s_sleep_until_ns (int64_t when)
{
    struct timespec at = {(time_t)(when / 1000000000), (long)(when % 1000000000)};
    while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
        ;
}

static void
s_sleep_ms (int ms)
{
    s_sleep_until_ns (s_now_ns () + (int64_t)ms * S_NS_PER_MS);
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

typedef struct {
    long rss_kb;  //  VmRSS
    long anon_kb; //  RssAnon
} s_memory_t;

//  Resident memory of this process after giving free heap pages back
static s_memory_t
s_memory_self (void)
{
    s_memory_t memory = {-1, -1};
    malloc_trim (0);
    FILE *file = fopen ("/proc/self/status", "r");
    if (!file)
        return memory;
    char line[256];
    while (fgets (line, sizeof (line), file)) {
        if (strncmp (line, "VmRSS:", 6) == 0)
            memory.rss_kb = atol (line + 6);
        else if (strncmp (line, "RssAnon:", 8) == 0)
            memory.anon_kb = atol (line + 8);
    }
    fclose (file);
    return memory;
}

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

static void
s_raise_nofile (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
    }
}

//  --------------------------------------------------------------------------
//  Lines over pipes between the bench and its children

typedef struct {
    int in;  //  read end
    int out; //  write end
    char buffer[S_LINE_MAX];
    size_t size;
} s_chan_t;

//  Next line (without the newline) into `line`; 0, or -1 on EOF, error or
//  after timeout_ms (-1 = no limit)
static int
s_chan_read (s_chan_t *self, char *line, size_t size, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? 0 : s_now_ns () + (int64_t)timeout_ms * S_NS_PER_MS;
    while (true) {
        char *end = memchr (self->buffer, '\n', self->size);
        if (end) {
            size_t length = (size_t)(end - self->buffer);
            size_t copy = length < size - 1 ? length : size - 1;
            memcpy (line, self->buffer, copy);
            line[copy] = 0;
            memmove (self->buffer, end + 1, self->size - length - 1);
            self->size -= length + 1;
            return 0;
        }
        if (self->size == sizeof (self->buffer))
            return -1; //  a line too long: a bug
        int wait = -1;
        if (timeout_ms >= 0) {
            int64_t left = deadline - s_now_ns ();
            if (left <= 0)
                return -1;
            wait = (int)(left / S_NS_PER_MS) + 1;
        }
        struct pollfd item = {self->in, POLLIN, 0};
        int ready = poll (&item, 1, wait);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return -1;
        ssize_t got =
            read (self->in, self->buffer + self->size, sizeof (self->buffer) - self->size);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        self->size += (size_t)got;
    }
}

static int s_chan_write (s_chan_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static int
s_chan_write (s_chan_t *self, const char *format, ...)
{
    char line[S_LINE_MAX];
    va_list args;
    va_start (args, format);
    int length = vsnprintf (line, sizeof (line) - 1, format, args);
    va_end (args);
    if (length < 0 || length >= (int)sizeof (line) - 1)
        return -1;
    line[length++] = '\n';
    for (int done = 0; done < length;) {
        ssize_t put = write (self->out, line + done, (size_t)(length - done));
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return -1;
        done += (int)put;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Keys and facts of the simulated appliances, made before the children
//  are forked (they inherit them)

typedef struct {
    char public_key[S_KEY_LEN + 1];
    char secret_key[S_KEY_LEN + 1];
} s_keypair_t;

static s_keypair_t *s_keys; //  [0, n_max): heartbeating; then claims, round by round
static size_t s_key_count;
static int s_n_max;          //  appliances of the heartbeat population
static int s_io_threads = 1; //  libzmq I/O threads of each server
static bool s_bare_zap;      //  the bare server runs a ZAP handler (-z)

static void
s_mac (size_t index, char *mac, size_t size)
{
    snprintf (mac, size, "02:be:%02x:%02x:%02x:%02x", (unsigned)(index >> 24) & 0xff,
              (unsigned)(index >> 16) & 0xff, (unsigned)(index >> 8) & 0xff,
              (unsigned)index & 0xff);
}

//  Index of claim j of round `round` in s_keys
static size_t
s_claim_key (int round, int claims, size_t j)
{
    return (size_t)s_n_max + (size_t)round * (size_t)claims + j;
}

//  --------------------------------------------------------------------------
//  Client child: holds appliances of both servers, runs the parent's commands
//
//    connect S TARGET RATE ENDPOINT KEY   -> connected CREATED ERRORS
//    beat S MILLISECONDS                  -> beat SENT ERRORS
//    close S                              -> closed
//    claim S ROUND COUNT THREADS ENDPOINT KEY, then COUNT lines "J CODE"
//                                         -> ready; then "go" ->
//                                            claimed OK ERRORS START END STATUS DETAIL
//                                            and lines "lat US US ..." (OK values)
//    quit
//  Appliance i of a population belongs to child i % children.

typedef struct {
    int index; //  this child
    int children;
    s_chan_t chan;
    pd_appliance_t **population[S_SERVERS]; //  local appliances, in order of i
    int count[S_SERVERS];
    int target[S_SERVERS]; //  global count connected so far
    size_t next_beat[S_SERVERS];
} s_client_t;

static pd_appliance_t *
s_appliance_new (const char *endpoint, const char *server_key, const s_keypair_t *keys)
{
    //  The bench sends every heartbeat itself (pd_appliance_heartbeat), at
    //  its own pace; the SDK's own timer is set far out of the way
    pd_appliance_config_t config = {endpoint, server_key, keys->public_key, keys->secret_key,
                                    3600 * 1000};
    return pd_appliance_new (&config);
}

static void
s_client_connect (s_client_t *self, int server, int target, int rate, const char *endpoint,
                  const char *server_key)
{
    int capacity = (target + self->children - 1) / self->children;
    pd_appliance_t **grown =
        realloc (self->population[server], (size_t)capacity * sizeof (pd_appliance_t *));
    int created = 0, errors = 0;
    if (grown) {
        self->population[server] = grown;
        //  This child's share of `rate`, spread evenly
        double per_second = (double)rate / self->children;
        int64_t start = s_now_ns ();
        int k = 0;
        for (int i = self->target[server]; i < target; i++) {
            if (i % self->children != self->index)
                continue;
            s_sleep_until_ns (start + (int64_t)((double)k++ * S_NS_PER_S / per_second));
            pd_appliance_t *appliance = s_appliance_new (endpoint, server_key, &s_keys[i]);
            //  The first heartbeat: delivered once the handshake is done
            if (appliance &&
                pd_appliance_heartbeat (appliance, S_HEARTBEAT_STATUS, S_SOFTWARE_VERSION) == 0) {
                self->population[server][self->count[server]++] = appliance;
                created++;
            } else {
                pd_appliance_destroy (&appliance);
                errors++;
            }
        }
        self->target[server] = target;
    } else
        errors = target - self->target[server];
    s_chan_write (&self->chan, "connected %d %d", created, errors);
}

//  Every local appliance of `server` once a second, evenly spread, for
//  `milliseconds`; the turn goes on where the last window stopped
static void
s_client_beat (s_client_t *self, int server, int milliseconds)
{
    int count = self->count[server];
    int64_t total = (int64_t)count * milliseconds / 1000;
    int64_t sent = 0, errors = 0;
    int64_t start = s_now_ns ();
    while (count > 0 && sent < total) {
        int64_t elapsed = s_now_ns () - start;
        int64_t due = (int64_t)((double)elapsed * count / S_NS_PER_S);
        if (due > total)
            due = total;
        for (; sent < due; sent++) {
            size_t i = self->next_beat[server]++ % (size_t)count;
            if (pd_appliance_heartbeat (self->population[server][i], S_HEARTBEAT_STATUS,
                                        S_SOFTWARE_VERSION) != 0)
                errors++;
        }
        if (sent < total)
            s_sleep_until_ns (start + (int64_t)((double)(sent + 1) * S_NS_PER_S / count));
    }
    s_chan_write (&self->chan, "beat %" PRId64 " %" PRId64, sent - errors, errors);
}

static void
s_client_close (s_client_t *self, int server)
{
    for (int i = 0; i < self->count[server]; i++)
        pd_appliance_destroy (&self->population[server][i]);
    free (self->population[server]);
    self->population[server] = NULL;
    self->count[server] = 0;
    self->target[server] = 0;
    self->next_beat[server] = 0;
    s_chan_write (&self->chan, "closed");
}

//  One claim per appliance, `threads` at once
typedef struct {
    const char *endpoint;
    const char *server_key;
    int round;
    int claims;
    int count;
    int *global; //  [count] index of the claim within its round
    char (*codes)[PD_PROVISION_CODE_LEN + 1];
    pd_appliance_t **appliances; //  [count], kept until all are done
    int64_t *latency_ns;         //  [count], -1 = failed
    int64_t *end_ns;             //  [count] when the answer (or failure) came
    int *status;                 //  [count]
    char detail[320];            //  first failure (a code and a 256-byte error)
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool go;
    int64_t start_ns;
} s_claims_t;

typedef struct {
    s_claims_t *claims;
    int first; //  this thread's claims: first, first + stride, ...
    int stride;
} s_claimer_t;

static void *
s_claimer (void *arg)
{
    s_claimer_t *self = arg;
    s_claims_t *claims = self->claims;
    pthread_mutex_lock (&claims->lock);
    while (!claims->go)
        pthread_cond_wait (&claims->wake, &claims->lock);
    pthread_mutex_unlock (&claims->lock);
    for (int i = self->first; i < claims->count; i += self->stride) {
        int64_t start = s_now_ns ();
        size_t key = s_claim_key (claims->round, claims->claims, (size_t)claims->global[i]);
        char mac[18], hostname[32], error[256] = "";
        s_mac (key, mac, sizeof (mac));
        snprintf (hostname, sizeof (hostname), "bench-%zu", key);
        pd_appliance_t *appliance =
            s_appliance_new (claims->endpoint, claims->server_key, &s_keys[key]);
        pd_appliance_claimed_t claimed;
        int rc = appliance
                     ? pd_appliance_claim (appliance, claims->codes[i], mac, hostname,
                                           S_CLAIM_TIMEOUT_MS, &claimed, error, sizeof (error))
                     : PD_E_INTERNAL;
        claims->end_ns[i] = s_now_ns ();
        claims->latency_ns[i] = rc == 0 ? claims->end_ns[i] - start : -1;
        claims->status[i] = rc;
        claims->appliances[i] = appliance;
        if (rc != 0) {
            pthread_mutex_lock (&claims->lock);
            if (!claims->detail[0])
                snprintf (claims->detail, sizeof (claims->detail), "%s: %s", pd_status_code (rc),
                          error[0] ? error : "-");
            pthread_mutex_unlock (&claims->lock);
        }
    }
    return NULL;
}

static void
s_client_claim (s_client_t *self, int server, int round, int count, int threads,
                const char *endpoint, const char *server_key, int claims_per_round)
{
    s_claims_t claims = {.endpoint = endpoint,
                         .server_key = server_key,
                         .round = round,
                         .claims = claims_per_round,
                         .count = count};
    claims.global = calloc ((size_t)count + 1, sizeof (int));
    claims.codes = calloc ((size_t)count + 1, sizeof (*claims.codes));
    claims.appliances = calloc ((size_t)count + 1, sizeof (pd_appliance_t *));
    claims.latency_ns = calloc ((size_t)count + 1, sizeof (int64_t));
    claims.end_ns = calloc ((size_t)count + 1, sizeof (int64_t));
    claims.status = calloc ((size_t)count + 1, sizeof (int));
    pthread_mutex_init (&claims.lock, NULL);
    pthread_cond_init (&claims.wake, NULL);
    char line[S_LINE_MAX];
    bool ok = claims.global && claims.codes && claims.appliances && claims.latency_ns &&
              claims.end_ns && claims.status;
    for (int i = 0; i < count; i++) {
        if (s_chan_read (&self->chan, line, sizeof (line), S_CHILD_TIMEOUT_MS) != 0 || !ok ||
            sscanf (line, "%d %16s", &claims.global[i], claims.codes[i]) != 2)
            ok = false;
    }
    if (threads > count)
        threads = count;
    if (threads < 1)
        threads = 1;
    pthread_t *ids = calloc ((size_t)threads, sizeof (pthread_t));
    s_claimer_t *claimers = calloc ((size_t)threads, sizeof (s_claimer_t));
    pthread_attr_t attr;
    pthread_attr_init (&attr);
    pthread_attr_setstacksize (&attr, S_THREAD_STACK);
    int started = 0;
    for (int t = 0; ok && count > 0 && ids && claimers && t < threads; t++) {
        claimers[t] = (s_claimer_t){&claims, t, threads};
        if (pthread_create (&ids[t], &attr, s_claimer, &claimers[t]) != 0)
            break;
        started++;
    }
    pthread_attr_destroy (&attr);
    if (started < threads && count > 0)
        ok = false;
    s_chan_write (&self->chan, "ready");
    //  "go" releases every thread at once
    bool go = s_chan_read (&self->chan, line, sizeof (line), S_CHILD_TIMEOUT_MS) == 0 &&
              strcmp (line, "go") == 0;
    pthread_mutex_lock (&claims.lock);
    claims.go = true;
    claims.start_ns = s_now_ns ();
    if (!go || !ok) //  threads still run, but skip everything
        claims.count = 0;
    pthread_cond_broadcast (&claims.wake);
    pthread_mutex_unlock (&claims.lock);
    for (int t = 0; t < started; t++)
        pthread_join (ids[t], NULL);
    //  The row ends with the last answer, OK or not
    int64_t end = claims.start_ns;
    int oks = 0, errors = 0, first_status = 0;
    for (int i = 0; i < claims.count; i++) {
        if (claims.end_ns[i] > end)
            end = claims.end_ns[i];
        if (claims.latency_ns[i] >= 0)
            oks++;
        else if (errors++ == 0)
            first_status = claims.status[i];
    }
    if (!ok || !go)
        errors = count;
    for (int i = 0; i < claims.count; i++)
        pd_appliance_destroy (&claims.appliances[i]);
    for (char *c = claims.detail; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    s_chan_write (&self->chan, "claimed %d %d %" PRId64 " %" PRId64 " %d %s", oks, errors,
                  claims.start_ns, end, first_status, claims.detail[0] ? claims.detail : "-");
    //  Latencies of the successful claims, in microseconds
    char out[S_LINE_MAX];
    size_t used = 0;
    int in_line = 0;
    for (int i = 0; i < claims.count; i++) {
        if (claims.latency_ns[i] < 0)
            continue;
        if (in_line == 0)
            used = (size_t)snprintf (out, sizeof (out), "lat");
        used += (size_t)snprintf (out + used, sizeof (out) - used, " %" PRId64,
                                  claims.latency_ns[i] / 1000);
        if (++in_line == S_LATENCIES_PER_LINE) {
            s_chan_write (&self->chan, "%s", out);
            in_line = 0;
        }
    }
    if (in_line)
        s_chan_write (&self->chan, "%s", out);
    pthread_cond_destroy (&claims.wake);
    pthread_mutex_destroy (&claims.lock);
    free (claimers);
    free (ids);
    free (claims.status);
    free (claims.end_ns);
    free (claims.latency_ns);
    free (claims.appliances);
    free (claims.codes);
    free (claims.global);
}

static int
s_client_main (int index, int children, s_chan_t *chan, int claims_per_round)
{
    zsys_handler_set (NULL); //  SIGINT kills us; the parent cleans up
    zsys_set_max_sockets (0);
    zsys_set_linger (0);
    zsys_init ();
    s_client_t self = {.index = index, .children = children, .chan = *chan};
    char line[S_LINE_MAX], endpoint[256], key[S_KEY_LEN + 8];
    while (s_chan_read (&self.chan, line, sizeof (line), -1) == 0) {
        int server = -1, a = 0, b = 0, c = 0;
        if (sscanf (line, "connect %d %d %d %255s %47s", &server, &a, &b, endpoint, key) == 5 &&
            server >= 0 && server < S_SERVERS)
            s_client_connect (&self, server, a, b, endpoint, key);
        else if (sscanf (line, "beat %d %d", &server, &a) == 2 && server >= 0 && server < S_SERVERS)
            s_client_beat (&self, server, a);
        else if (sscanf (line, "close %d", &server) == 1 && server >= 0 && server < S_SERVERS)
            s_client_close (&self, server);
        else if (sscanf (line, "claim %d %d %d %d %255s %47s", &server, &a, &b, &c, endpoint,
                         key) == 6)
            s_client_claim (&self, server, a, b, c, endpoint, key, claims_per_round);
        else if (strcmp (line, "quit") == 0)
            break;
        else
            s_chan_write (&self.chan, "error unknown command");
    }
    for (int server = 0; server < S_SERVERS; server++) {
        for (int i = 0; i < self.count[server]; i++)
            pd_appliance_destroy (&self.population[server][i]);
        free (self.population[server]);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Bare server child: a ROUTER CURVE server in a context of its own (no ZAP
//  handler: every client key is admitted), the front's socket options; it
//  counts messages and answers "claim" with a fixed appliance_config.
//
//    stats  -> stats MESSAGES HEARTBEATS CLAIMS CPU_SECONDS
//    rss    -> rss VMRSS_KB RSSANON_KB
//    quit

typedef struct {
    uint64_t messages;
    uint64_t heartbeats;
    uint64_t claims;
} s_bare_counts_t;

static void
s_bare_option_int (void *socket, int option, int value)
{
    zmq_setsockopt (socket, option, &value, sizeof (value));
}

//  Read every message waiting on the ROUTER
#define S_BARE_FRAMES 8
static void
s_bare_drain (void *router, const uint8_t *answer, size_t answer_size, s_bare_counts_t *counts)
{
    zmq_msg_t frames[S_BARE_FRAMES];
    while (true) {
        int count = 0, more = 1;
        while (more) {
            //  Frames beyond S_BARE_FRAMES are read and dropped
            zmq_msg_t scratch;
            zmq_msg_t *frame = count < S_BARE_FRAMES ? &frames[count] : &scratch;
            zmq_msg_init (frame);
            if (zmq_msg_recv (frame, router, count == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                zmq_msg_close (frame);
                for (int i = 0; i < count; i++)
                    zmq_msg_close (&frames[i]);
                return; //  EAGAIN: nothing more
            }
            more = zmq_msg_more (frame);
            if (frame == &scratch)
                zmq_msg_close (&scratch);
            else
                count++;
        }
        counts->messages++;
        //  routing id, "PDA1", type, request_id, ...
        if (count >= 4 && zmq_msg_size (&frames[2]) == 9 &&
            memcmp (zmq_msg_data (&frames[2]), "heartbeat", 9) == 0)
            counts->heartbeats++;
        else if (count >= 4 && zmq_msg_size (&frames[2]) == 5 &&
                 memcmp (zmq_msg_data (&frames[2]), "claim", 5) == 0) {
            counts->claims++;
            uint8_t status[2] = {0, 0};
            zmq_msg_send (&frames[0], router, ZMQ_SNDMORE); //  takes the routing id
            zmq_send (router, PD_FRONT_SIGNATURE, 4, ZMQ_SNDMORE);
            zmq_send (router, "reply", 5, ZMQ_SNDMORE);
            zmq_msg_send (&frames[3], router, ZMQ_SNDMORE); //  the request_id
            zmq_send (router, status, 2, ZMQ_SNDMORE);
            zmq_send (router, answer, answer_size, 0);
        }
        for (int i = 0; i < count; i++)
            zmq_msg_close (&frames[i]);
    }
}

//  -z: a ZAP handler (RFC 27) in the bare server's context that admits
//  every key, so that what ZAP itself costs libzmq can be told apart
static void *
s_bare_zap_thread (void *arg)
{
    void *handler = arg;
    while (true) {
        char parts[8][256];
        int count = 0, more = 1;
        while (more) {
            int size = zmq_recv (handler, count < 8 ? parts[count] : parts[7], 255, 0);
            if (size < 0)
                return NULL; //  the context is terminated
            if (count < 8)
                parts[count][size < 255 ? size : 255] = 0;
            count++;
            size_t length = sizeof (more);
            zmq_getsockopt (handler, ZMQ_RCVMORE, &more, &length);
        }
        const char *request_id = count > 1 ? parts[1] : "";
        zmq_send (handler, "1.0", 3, ZMQ_SNDMORE);
        zmq_send (handler, request_id, strlen (request_id), ZMQ_SNDMORE);
        zmq_send (handler, "200", 3, ZMQ_SNDMORE);
        zmq_send (handler, "OK", 2, ZMQ_SNDMORE);
        zmq_send (handler, "bench", 5, ZMQ_SNDMORE);
        zmq_send (handler, "", 0, 0);
    }
}

static int
s_bare_main (s_chan_t *chan)
{
    signal (SIGINT, SIG_DFL);
    char public_key[S_KEY_LEN + 1], secret_key[S_KEY_LEN + 1];
    void *context = zmq_ctx_new ();
    if (context)
        zmq_ctx_set (context, ZMQ_IO_THREADS, s_io_threads);
    if (context && s_bare_zap) {
        void *handler = zmq_socket (context, ZMQ_REP);
        pthread_t zap_thread;
        if (!handler || zmq_bind (handler, "inproc://zeromq.zap.01") != 0 ||
            pthread_create (&zap_thread, NULL, s_bare_zap_thread, handler) != 0) {
            s_chan_write (chan, "failed");
            return 1;
        }
        pthread_detach (zap_thread);
    }
    void *router = context ? zmq_socket (context, ZMQ_ROUTER) : NULL;
    int port = -1;
    uint8_t *answer = NULL;
    size_t answer_size = 0;
    if (router && zmq_curve_keypair (public_key, secret_key) == 0) {
        s_bare_option_int (router, ZMQ_CURVE_SERVER, 1);
        zmq_setsockopt (router, ZMQ_CURVE_SECRETKEY, secret_key, S_KEY_LEN);
        int64_t max_size = PD_PROTO_MAX_MSG_SIZE;
        zmq_setsockopt (router, ZMQ_MAXMSGSIZE, &max_size, sizeof (max_size));
        s_bare_option_int (router, ZMQ_HANDSHAKE_IVL, PD_FRONT_HANDSHAKE_MS);
        s_bare_option_int (router, ZMQ_TCP_KEEPALIVE, 1);
        s_bare_option_int (router, ZMQ_TCP_KEEPALIVE_IDLE, PD_FRONT_TCP_KEEPALIVE_IDLE);
        s_bare_option_int (router, ZMQ_TCP_KEEPALIVE_INTVL, PD_FRONT_TCP_KEEPALIVE_INTVL);
        s_bare_option_int (router, ZMQ_TCP_KEEPALIVE_CNT, PD_FRONT_TCP_KEEPALIVE_CNT);
        s_bare_option_int (router, ZMQ_ROUTER_MANDATORY, 1);
        s_bare_option_int (router, ZMQ_SNDHWM, PD_PROTO_HWM);
        s_bare_option_int (router, ZMQ_RCVHWM, PD_PROTO_HWM);
        s_bare_option_int (router, ZMQ_LINGER, 0);
        if (s_bare_zap)
            zmq_setsockopt (router, ZMQ_ZAP_DOMAIN, "bench", 5);
        char endpoint[256];
        size_t size = sizeof (endpoint);
        if (zmq_bind (router, "tcp://127.0.0.1:*") == 0 &&
            zmq_getsockopt (router, ZMQ_LAST_ENDPOINT, endpoint, &size) == 0) {
            char *colon = strrchr (endpoint, ':');
            port = colon ? atoi (colon + 1) : -1;
        }
        //  The answer to every claim: what partnerd's carries, roughly
        pd_appliance_setup_t config = {0};
        config.appliance_id = "apl_bench";
        config.site_id = "sit_bench";
        config.partner_id = S_PARTNER_ID;
        config.site_name = "bench site";
        config.partner_name = "Bench MSP";
        if (pd_schema_encode (&pd_appliance_setup_schema, &config, &answer, &answer_size) != PD_OK)
            port = -1;
    }
    if (port > 0)
        s_chan_write (chan, "ready %d %s", port, public_key);
    else
        s_chan_write (chan, "failed");
    s_bare_counts_t counts = {0};
    char line[S_LINE_MAX];
    while (port > 0) {
        zmq_pollitem_t items[] = {{router, 0, ZMQ_POLLIN, 0}, {NULL, chan->in, ZMQ_POLLIN, 0}};
        if (zmq_poll (items, 2, -1) < 0 && errno != EINTR)
            break;
        if (items[0].revents & ZMQ_POLLIN)
            s_bare_drain (router, answer, answer_size, &counts);
        if (items[1].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) {
            if (s_chan_read (chan, line, sizeof (line), S_CHILD_TIMEOUT_MS) != 0 ||
                strcmp (line, "quit") == 0)
                break;
            if (strcmp (line, "stats") == 0)
                s_chan_write (chan, "stats %" PRIu64 " %" PRIu64 " %" PRIu64 " %.6f",
                              counts.messages, counts.heartbeats, counts.claims, s_cpu_self ());
            else if (strcmp (line, "rss") == 0) {
                s_memory_t memory = s_memory_self ();
                s_chan_write (chan, "rss %ld %ld", memory.rss_kb, memory.anon_kb);
            } else
                s_chan_write (chan, "error unknown command");
        }
    }
    free (answer);
    if (router)
        zmq_close (router);
    if (context)
        zmq_ctx_term (context);
    return 0;
}

//  --------------------------------------------------------------------------
//  The children, from the parent's side

typedef struct {
    pid_t pid;
    s_chan_t chan;
} s_child_t;

typedef struct {
    s_child_t bare;
    s_child_t clients[S_MAX_CHILDREN];
    int client_count;
    int bare_port;
    char bare_key[S_KEY_LEN + 1];
} s_children_t;

//  Fork one child running `body`; the parent keeps its ends of two pipes.
//  `others` are descriptors the child closes (the ends of earlier children).
typedef int (s_child_fn) (int index, int children, s_chan_t *chan, int claims_per_round);

static int
s_fork (s_child_t *child, int index, int children, int claims_per_round, s_child_fn *body,
        int *others, int *other_count)
{
    int down[2], up[2];
    if (pipe (down) != 0)
        return -1;
    if (pipe (up) != 0) {
        close (down[0]);
        close (down[1]);
        return -1;
    }
    fflush (NULL);
    pid_t pid = fork ();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () == 1)
            _exit (1);
        for (int i = 0; i < *other_count; i++)
            close (others[i]);
        close (down[1]);
        close (up[0]);
        s_chan_t chan = {.in = down[0], .out = up[1]};
        _exit (body (index, children, &chan, claims_per_round));
    }
    close (down[0]);
    close (up[1]);
    child->pid = pid;
    child->chan = (s_chan_t){.in = up[0], .out = down[1]};
    others[(*other_count)++] = up[0];
    others[(*other_count)++] = down[1];
    return 0;
}

static int
s_bare_body (int index, int children, s_chan_t *chan, int claims_per_round)
{
    return s_bare_main (chan);
}

static void
s_children_stop (s_children_t *self)
{
    s_child_t *all[S_MAX_CHILDREN + 1];
    int count = 0;
    if (self->bare.pid > 0)
        all[count++] = &self->bare;
    for (int i = 0; i < self->client_count; i++)
        if (self->clients[i].pid > 0)
            all[count++] = &self->clients[i];
    for (int i = 0; i < count; i++)
        s_chan_write (&all[i]->chan, "quit");
    int64_t deadline = s_now_ns () + 10 * S_NS_PER_S;
    for (int i = 0; i < count; i++) {
        while (waitpid (all[i]->pid, NULL, WNOHANG) == 0) {
            if (s_now_ns () > deadline) {
                kill (all[i]->pid, SIGKILL);
                waitpid (all[i]->pid, NULL, 0);
                break;
            }
            s_sleep_ms (20);
        }
        close (all[i]->chan.in);
        close (all[i]->chan.out);
        all[i]->pid = 0;
    }
}

static int
s_children_start (s_children_t *self, int client_count, int claims_per_round)
{
    memset (self, 0, sizeof (*self));
    int others[2 * (S_MAX_CHILDREN + 1)];
    int other_count = 0;
    if (s_fork (&self->bare, 0, 1, claims_per_round, s_bare_body, others, &other_count) != 0)
        return -1;
    for (int i = 0; i < client_count; i++) {
        if (s_fork (&self->clients[i], i, client_count, claims_per_round, s_client_main, others,
                    &other_count) != 0)
            return -1;
        self->client_count++;
    }
    char line[S_LINE_MAX];
    if (s_chan_read (&self->bare.chan, line, sizeof (line), S_CHILD_TIMEOUT_MS) != 0 ||
        sscanf (line, "ready %d %40s", &self->bare_port, self->bare_key) != 2)
        return -1;
    return 0;
}

//  Send the same command to every client child
static int
s_clients_send (s_children_t *self, const char *command)
{
    int rc = 0;
    for (int i = 0; i < self->client_count; i++)
        if (s_chan_write (&self->clients[i].chan, "%s", command) != 0)
            rc = -1;
    return rc;
}

//  One line from every client child, summed as two integers after `word`
static int
s_clients_sum (s_children_t *self, const char *word, int64_t *first, int64_t *second,
               int timeout_ms)
{
    *first = *second = 0;
    int rc = 0;
    char line[S_LINE_MAX], format[64];
    snprintf (format, sizeof (format), "%s %%" SCNd64 " %%" SCNd64, word);
    for (int i = 0; i < self->client_count; i++) {
        int64_t a = 0, b = 0;
        if (s_chan_read (&self->clients[i].chan, line, sizeof (line), timeout_ms) != 0 ||
            sscanf (line, format, &a, &b) != 2) {
            fprintf (stderr, "bench: client %d: no '%s' answer\n", i, word);
            rc = -1;
        }
        *first += a;
        *second += b;
    }
    return rc;
}

typedef struct {
    uint64_t messages;
    uint64_t heartbeats;
    uint64_t claims;
    double cpu;
} s_bare_stats_t;

static int
s_bare_stats (s_children_t *self, s_bare_stats_t *stats)
{
    char line[S_LINE_MAX];
    memset (stats, 0, sizeof (*stats));
    if (s_chan_write (&self->bare.chan, "stats") != 0 ||
        s_chan_read (&self->bare.chan, line, sizeof (line), S_CHILD_TIMEOUT_MS) != 0 ||
        sscanf (line, "stats %" SCNu64 " %" SCNu64 " %" SCNu64 " %lf", &stats->messages,
                &stats->heartbeats, &stats->claims, &stats->cpu) != 4)
        return -1;
    return 0;
}

static s_memory_t
s_bare_memory (s_children_t *self)
{
    s_memory_t memory = {-1, -1};
    char line[S_LINE_MAX];
    if (s_chan_write (&self->bare.chan, "rss") != 0 ||
        s_chan_read (&self->bare.chan, line, sizeof (line), S_CHILD_TIMEOUT_MS) != 0 ||
        sscanf (line, "rss %ld %ld", &memory.rss_kb, &memory.anon_kb) != 2)
        memory = (s_memory_t){-1, -1};
    return memory;
}

//  --------------------------------------------------------------------------
//  partnerd's server side in this process

typedef struct {
    char *dir;
    pd_config_t *settings;
    pd_store_t *store;
    pd_broker_t *broker;
    zactor_t *actors[S_CLAIM_INSTANCES];
    pd_front_t *front;
    pd_client_t *client;
    int port;
    char endpoint[64];
    char public_key[S_KEY_LEN + 1];
} s_server_t;

static int
s_authorize (const char *public_key, char *appliance_id, size_t size, void *arg)
{
    return pd_appliance_keys_authorize (arg, public_key, appliance_id, size);
}

static void
s_server_stop (s_server_t *self)
{
    pd_client_destroy (&self->client);
    pd_front_destroy (&self->front);
    for (int i = 0; i < S_CLAIM_INSTANCES; i++)
        zactor_destroy (&self->actors[i]);
    pd_broker_destroy (&self->broker);
    pd_store_destroy (&self->store);
    pd_config_destroy (&self->settings);
    if (self->dir) {
        pd_test_rmdir (self->dir);
        free (self->dir);
        self->dir = NULL;
    }
}

//  The partner that owns the provision codes, written as the partners
//  actor would store it (status active)
static int
s_partner_put (pd_store_t *store)
{
    int64_t now = (int64_t)time (NULL) * 1000;
    pd_partner_t partner = {0};
    partner.id = S_PARTNER_ID;
    partner.name = "Bench MSP";
    partner.contact_email = "bench@example.com";
    partner.status = "active";
    partner.revenue_share_percent = PD_PARTNER_DEFAULT_REVENUE_SHARE;
    partner.created_at = partner.updated_at = now;
    PD_MARK (&partner, partner, revenue_share_percent);
    PD_MARK (&partner, partner, created_at);
    PD_MARK (&partner, partner, updated_at);
    pd_store_batch_t *batch = pd_store_batch_new ();
    int rc =
        batch ? pd_record_put (batch, &pd_table_partners, S_PARTNER_ID, &partner, PD_STORE_ABSENT)
              : PD_E_INTERNAL;
    if (rc == PD_OK)
        rc = pd_store_batch_index_add (batch, "partners_by_name", "bench msp", 9, S_PARTNER_ID,
                                       strlen (S_PARTNER_ID));
    if (rc == PD_OK)
        rc = pd_store_commit (store, batch);
    pd_store_batch_destroy (&batch);
    return rc;
}

static int
s_server_start (s_server_t *self)
{
    memset (self, 0, sizeof (*self));
    self->dir = pd_test_tmpdir ();
    if (!self->dir)
        return -1;
    char error[256] = "";
    self->settings = pd_config_new (NULL, error, sizeof (error));
    if (!self->settings) {
        fprintf (stderr, "bench: settings: %s\n", error);
        return -1;
    }
    zcert_t *cert = zcert_new ();
    if (!cert)
        return -1;
    snprintf (self->public_key, sizeof (self->public_key), "%s", zcert_public_txt (cert));
    char secret_key[S_KEY_LEN + 1];
    snprintf (secret_key, sizeof (secret_key), "%s", zcert_secret_txt (cert));
    zcert_destroy (&cert);
    self->port = pd_test_free_port ();
    snprintf (self->endpoint, sizeof (self->endpoint), "tcp://127.0.0.1:%d", self->port);
    //  What claim answers carry; claims all come from source "link" here, so
    //  the per-source claim limit is lifted (a deployment has many sources)
    pd_schema_set_str (&self->settings->appliance_endpoint, self->endpoint);
    pd_schema_set_str (&self->settings->appliance_public_key, self->public_key);
    self->settings->claims_per_source = INT32_MAX;

    pd_store_config_t store_config = {pd_store_table_names, 0, PD_STORE_SCHEMA_VERSION, NULL, NULL};
    self->store = pd_store_new (self->dir, &store_config);
    if (!self->store || s_partner_put (self->store) != PD_OK)
        return -1;
    pd_broker_config_t broker_config = {.endpoints = S_INPROC_BROKER};
    self->broker = pd_broker_new (&broker_config);
    if (!self->broker)
        return -1;
    pd_actor_config_t actor_config = {
        .broker = S_INPROC_BROKER, .store = self->store, .config = self->settings};
    for (int i = 0; i < S_CLAIM_INSTANCES; i++) {
        self->actors[i] = pd_actor_new (&pd_claim_actor, &actor_config);
        if (!self->actors[i])
            return -1;
    }
    pd_front_config_t front_config = {.endpoint = self->endpoint,
                                      .broker = S_INPROC_BROKER,
                                      .public_key = self->public_key,
                                      .secret_key = secret_key,
                                      .authorize = s_authorize,
                                      .authorize_arg = self->store,
                                      .flush_ms = (int)self->settings->heartbeat_flush_ms,
                                      .persist_ms =
                                          (int)self->settings->heartbeat_persist_s * 1000};
    self->front = pd_front_new (&front_config);
    self->client = pd_client_new (S_INPROC_BROKER);
    return self->front && self->client ? 0 : -1;
}

//  Many requests through the broker, S_SETUP_IN_FLIGHT at once. `make`
//  builds request i (header and body, malloc'd); `done` takes its answer.
typedef int (s_make_fn) (size_t i, uint8_t **header, size_t *header_size, uint8_t **body,
                         size_t *body_size, void *arg);
typedef int (s_done_fn) (size_t i, const uint8_t *body, size_t size, void *arg);

static size_t
s_pipeline (pd_client_t *client, const char *service, size_t count, s_make_fn *make,
            s_done_fn *done, void *arg)
{
    static struct {
        uint64_t id;
        size_t index;
        bool used;
    } ring[S_RING];
    memset (ring, 0, sizeof (ring));
    size_t sent = 0, answered = 0, ok = 0, in_flight = 0;
    bool reported = false;
    while (answered < count && !zsys_interrupted) {
        while (sent < count && in_flight < S_SETUP_IN_FLIGHT) {
            uint8_t *header = NULL, *body = NULL;
            size_t header_size = 0, body_size = 0;
            uint64_t id = 0;
            int rc = make (sent, &header, &header_size, &body, &body_size, arg);
            if (rc == PD_OK)
                rc = pd_client_send (client, service, header, header_size, body, body_size,
                                     S_REQUEST_TIMEOUT_MS, &id);
            free (header);
            free (body);
            if (rc != PD_OK) {
                fprintf (stderr, "bench: %s request %zu not sent: %s\n", service, sent,
                         pd_status_code (rc));
                return ok;
            }
            size_t slot = id % S_RING;
            while (ring[slot].used)
                slot = (slot + 1) % S_RING;
            ring[slot].id = id;
            ring[slot].index = sent++;
            ring[slot].used = true;
            in_flight++;
        }
        uint64_t id = 0;
        int status = 0;
        uint8_t *reply = NULL;
        size_t reply_size = 0;
        if (pd_client_recv (client, &id, &status, &reply, &reply_size, S_REQUEST_TIMEOUT_MS) !=
            PD_OK) {
            fprintf (stderr, "bench: %s: no answer within %d ms\n", service, S_REQUEST_TIMEOUT_MS);
            return ok;
        }
        size_t slot = id % S_RING, probes = 0;
        while ((!ring[slot].used || ring[slot].id != id) && probes++ < S_RING)
            slot = (slot + 1) % S_RING;
        if (probes <= S_RING && ring[slot].used && ring[slot].id == id) {
            ring[slot].used = false;
            in_flight--;
            answered++;
            if (status == PD_OK && done (ring[slot].index, reply, reply_size, arg) == PD_OK)
                ok++;
            else if (!reported) {
                pd_error_t error = {0};
                if (status != PD_OK && reply)
                    pd_schema_decode (&pd_error_schema, reply, reply_size, &error, NULL);
                fprintf (stderr, "bench: %s: first failure: %s%s%s\n", service,
                         status == PD_OK ? "bad reply" : pd_status_code (status),
                         error.detail ? ": " : "", error.detail ? error.detail : "");
                pd_schema_clear (&pd_error_schema, &error);
                reported = true;
            }
        }
        free (reply);
    }
    return ok;
}

typedef struct {
    char (*codes)[PD_PROVISION_CODE_LEN + 1];
    size_t first_claim_code; //  codes [0, n_max) are claimed during set-up
} s_setup_t;

static int
s_make_provision (size_t i, uint8_t **header, size_t *header_size, uint8_t **body,
                  size_t *body_size, void *arg)
{
    pd_principal_t principal = {0};
    principal.kind = "partner";
    principal.partner_id = S_PARTNER_ID;
    principal.key_id = "pdk_bench";
    pd_header_t head = {0};
    head.type = "provision.create";
    head.principal = &principal;
    head.source = "127.0.0.1";
    char site[64];
    snprintf (site, sizeof (site), "Bench site %06zu", i);
    pd_provision_create_t create = {0};
    create.site_name = site;
    int rc = pd_schema_encode (&pd_header_schema, &head, header, header_size);
    return rc == PD_OK ? pd_schema_encode (&pd_provision_create_schema, &create, body, body_size)
                       : rc;
}

static int
s_done_provision (size_t i, const uint8_t *body, size_t size, void *arg)
{
    s_setup_t *setup = arg;
    pd_provision_t provision = {0};
    int rc = pd_schema_decode (&pd_provision_schema, body, size, &provision, NULL);
    if (rc == PD_OK && provision.code && strlen (provision.code) == PD_PROVISION_CODE_LEN)
        memcpy (setup->codes[i], provision.code, PD_PROVISION_CODE_LEN + 1);
    else if (rc == PD_OK)
        rc = PD_E_INTERNAL;
    pd_schema_clear (&pd_provision_schema, &provision);
    return rc;
}

//  The front's own request for a claim (PROTOCOL.md 16.3)
static int
s_make_claim (size_t i, uint8_t **header, size_t *header_size, uint8_t **body, size_t *body_size,
              void *arg)
{
    s_setup_t *setup = arg;
    pd_principal_t principal = {0};
    principal.kind = "appliance";
    principal.appliance_key = s_keys[i].public_key;
    pd_header_t head = {0};
    head.type = "claim.link";
    head.principal = &principal;
    head.source = "link";
    char mac[18], hostname[32];
    s_mac (i, mac, sizeof (mac));
    snprintf (hostname, sizeof (hostname), "bench-%zu", i);
    pd_claim_t claim = {0};
    claim.code = setup->codes[i];
    claim.mac = mac;
    claim.public_key = s_keys[i].public_key;
    claim.hostname = hostname;
    claim.software_version = S_SOFTWARE_VERSION;
    int rc = pd_schema_encode (&pd_header_schema, &head, header, header_size);
    return rc == PD_OK ? pd_schema_encode (&pd_claim_schema, &claim, body, body_size) : rc;
}

static int
s_done_claim (size_t i, const uint8_t *body, size_t size, void *arg)
{
    pd_appliance_setup_t config = {0};
    int rc = pd_schema_decode (&pd_appliance_setup_schema, body, size, &config, NULL);
    pd_schema_clear (&pd_appliance_setup_schema, &config);
    return rc;
}

static int
s_front_stats (s_server_t *server, pd_front_stats_t *stats)
{
    memset (stats, 0, sizeof (*stats));
    return pd_front_stats (server->front, stats);
}

//  --------------------------------------------------------------------------
//  Measurements

typedef struct {
    bool done;
    double rss_per_conn_kib;  //  VmRSS
    double anon_per_conn_kib; //  RssAnon
    double cpu_per_conn_ms;
    int connected;    //  handshakes seen (first heartbeats counted)
    double idle_core; //  server CPU, % of one core, with N connected and quiet
    double window_s;
    uint64_t heartbeats; //  counted by the server in the window
    double cpu_s;        //  server CPU in the window
    uint64_t flushes;    //  partnerd: appliance.heartbeats requests
} s_n_row_t;

typedef struct {
    int ok;
    int errors;
    double seconds;
    uint64_t *latency_us;
    size_t latency_count;
    char detail[256];
    uint64_t transactions; //  partnerd: durable store transactions
    uint64_t batches;      //  ... and batches committed in them
} s_claim_row_t;

//  Server counters, for either server
typedef struct {
    uint64_t heartbeats;
    uint64_t flushes;
    double cpu;
    bool ok;
} s_counters_t;

static s_counters_t
s_counters (int server, s_children_t *children, s_server_t *partnerd)
{
    s_counters_t counters = {0};
    if (server == S_BARE) {
        s_bare_stats_t stats;
        counters.ok = s_bare_stats (children, &stats) == 0;
        counters.heartbeats = stats.heartbeats;
        counters.cpu = stats.cpu;
    } else {
        pd_front_stats_t stats;
        counters.cpu = s_cpu_self ();
        counters.ok = s_front_stats (partnerd, &stats) == PD_OK;
        counters.heartbeats = stats.heartbeats;
        counters.flushes = stats.flushes;
    }
    return counters;
}

static s_memory_t
s_server_memory (int server, s_children_t *children)
{
    return server == S_BARE ? s_bare_memory (children) : s_memory_self ();
}

//  Grow `server`'s population from `from` to `to` connected appliances,
//  wait for every first heartbeat, read RSS
static void
s_connect_step (const s_options_t *options, int server, int from, int to, s_children_t *children,
                s_server_t *partnerd, s_memory_t base, s_n_row_t *row)
{
    const char *endpoint_host = "tcp://127.0.0.1";
    char endpoint[64], command[S_LINE_MAX];
    if (server == S_BARE)
        snprintf (endpoint, sizeof (endpoint), "%s:%d", endpoint_host, children->bare_port);
    else
        snprintf (endpoint, sizeof (endpoint), "%s", partnerd->endpoint);
    const char *key = server == S_BARE ? children->bare_key : partnerd->public_key;
    fprintf (stderr, "bench: %s: connecting appliances %d..%d (%d/s)\n", s_server_names[server],
             from + 1, to, options->rate);
    s_counters_t before = s_counters (server, children, partnerd);
    snprintf (command, sizeof (command), "connect %d %d %d %s %s", server, to, options->rate,
              endpoint, key);
    s_clients_send (children, command);
    int connect_ms = (int)((int64_t)(to - from) * 1000 / options->rate);
    int64_t created = 0, errors = 0;
    s_clients_sum (children, "connected", &created, &errors, connect_ms + S_CHILD_TIMEOUT_MS);
    if (errors)
        fprintf (stderr, "bench: %s: %" PRId64 " appliances not created\n", s_server_names[server],
                 errors);
    //  Every connection's first heartbeat arrives after its handshake
    uint64_t expected = before.heartbeats + (uint64_t)(to - from);
    s_counters_t now = before;
    int64_t deadline = s_now_ns () + (int64_t)S_CONNECT_GRACE_MS * S_NS_PER_MS;
    int64_t report_at = s_now_ns () + 2 * (int64_t)S_NS_PER_S;
    int64_t progress_at = s_now_ns ();
    uint64_t seen = before.heartbeats;
    while (!zsys_interrupted && s_now_ns () < deadline) {
        now = s_counters (server, children, partnerd);
        if (!now.ok || now.heartbeats >= expected)
            break;
        if (now.heartbeats > seen) {
            seen = now.heartbeats;
            progress_at = s_now_ns ();
        } else if (s_now_ns () - progress_at > (int64_t)S_STALL_MS * S_NS_PER_MS) {
            fprintf (stderr, "bench: %s: no handshake completed for %d ms, going on\n",
                     s_server_names[server], S_STALL_MS);
            break;
        }
        if (s_now_ns () > report_at) {
            fprintf (stderr, "bench: %s: %" PRIu64 " of %d handshakes done, server cpu %.1f s\n",
                     s_server_names[server], now.heartbeats - before.heartbeats, to - from,
                     now.cpu - before.cpu);
            report_at += 2 * (int64_t)S_NS_PER_S;
        }
        s_sleep_ms (50);
    }
    row->connected = (int)(now.heartbeats - before.heartbeats) + (from ? row->connected : 0);
    if (now.heartbeats < expected)
        fprintf (stderr, "bench: %s: only %" PRIu64 " of %d first heartbeats arrived\n",
                 s_server_names[server], now.heartbeats - before.heartbeats, to - from);
    s_counters_t after = s_counters (server, children, partnerd);
    //  Quiet: what holding the connections costs (ZMTP heartbeats, timers)
    s_sleep_ms (S_SETTLE_MS);
    s_counters_t quiet = s_counters (server, children, partnerd);
    int64_t quiet_start = s_now_ns ();
    s_sleep_ms (S_IDLE_MS);
    s_counters_t quiet_end = s_counters (server, children, partnerd);
    row->idle_core =
        100.0 * (quiet_end.cpu - quiet.cpu) / ((double)(s_now_ns () - quiet_start) / S_NS_PER_S);
    s_memory_t memory = s_server_memory (server, children);
    //  Per connection that completed its handshake (all of them, normally)
    int held = row->connected > 0 ? row->connected : to;
    int made = (int)(after.heartbeats - before.heartbeats);
    row->rss_per_conn_kib = (double)(memory.rss_kb - base.rss_kb) / held;
    row->anon_per_conn_kib = (double)(memory.anon_kb - base.anon_kb) / held;
    row->cpu_per_conn_ms = (after.cpu - before.cpu) * 1000.0 / (made > 0 ? made : to - from);
    fprintf (stderr, "bench: %s: %d connected, VmRSS %ld KiB (%ld at start), RssAnon %ld KiB\n",
             s_server_names[server], to, memory.rss_kb, base.rss_kb, memory.anon_kb);
}

//  Wait until `server` uses less than S_QUIET_CORE of a core (after closing
//  connections libzmq tears them down, and that takes a while)
static void
s_wait_quiet (int server, s_children_t *children, s_server_t *partnerd)
{
    int64_t start = s_now_ns (), deadline = start + (int64_t)S_QUIET_MAX_MS * S_NS_PER_MS;
    s_counters_t last = s_counters (server, children, partnerd);
    while (!zsys_interrupted && s_now_ns () < deadline) {
        s_sleep_ms (S_SETTLE_MS);
        s_counters_t now = s_counters (server, children, partnerd);
        double core = 100.0 * (now.cpu - last.cpu) / (S_SETTLE_MS / 1000.0);
        last = now;
        if (core < S_QUIET_CORE)
            break;
    }
    fprintf (stderr, "bench: %s: quiet after %.1f s\n", s_server_names[server],
             (double)(s_now_ns () - start) / S_NS_PER_S);
}

//  One slice of heartbeats to `server`: every appliance once a second
static void
s_beat_slice (int server, double seconds, s_children_t *children, s_server_t *partnerd,
              s_n_row_t *row)
{
    char command[64];
    int milliseconds = (int)(seconds * 1000 + 0.5);
    snprintf (command, sizeof (command), "beat %d %d", server, milliseconds);
    s_counters_t before = s_counters (server, children, partnerd);
    s_clients_send (children, command);
    int64_t sent = 0, errors = 0;
    s_clients_sum (children, "beat", &sent, &errors, milliseconds + S_CHILD_TIMEOUT_MS);
    s_sleep_ms (S_DRAIN_MS);
    s_counters_t after = s_counters (server, children, partnerd);
    if (errors)
        fprintf (stderr, "bench: %s: %" PRId64 " heartbeats not sent\n", s_server_names[server],
                 errors);
    row->window_s += milliseconds / 1000.0;
    row->heartbeats += after.heartbeats - before.heartbeats;
    row->cpu_s += after.cpu - before.cpu;
    row->flushes += after.flushes - before.flushes;
    row->done = true;
}

//  One claim round of K appliances against `server`
static void
s_claim_round (const s_options_t *options, int server, int round, s_setup_t *setup,
               s_children_t *children, s_server_t *partnerd, s_claim_row_t *row)
{
    char endpoint[64], line[S_LINE_MAX];
    if (server == S_BARE)
        snprintf (endpoint, sizeof (endpoint), "tcp://127.0.0.1:%d", children->bare_port);
    else
        snprintf (endpoint, sizeof (endpoint), "%s", partnerd->endpoint);
    const char *key = server == S_BARE ? children->bare_key : partnerd->public_key;
    int k = options->claims, c = children->client_count;
    int threads = (options->in_flight + c - 1) / c;
    pd_store_stats_t store_before = {0}, store_after = {0};
    pd_store_stats (partnerd->store, &store_before);
    for (int i = 0; i < c; i++) {
        int share = k / c + (i < k % c ? 1 : 0);
        s_chan_write (&children->clients[i].chan, "claim %d %d %d %d %s %s", server, round, share,
                      threads, endpoint, key);
        for (int j = i; j < k; j += c)
            s_chan_write (&children->clients[i].chan, "%d %s", j,
                          setup->codes[setup->first_claim_code + (size_t)round * k + j]);
    }
    bool ready = true;
    for (int i = 0; i < c; i++)
        if (s_chan_read (&children->clients[i].chan, line, sizeof (line), S_CHILD_TIMEOUT_MS) !=
                0 ||
            strcmp (line, "ready") != 0)
            ready = false;
    if (!ready)
        fprintf (stderr, "bench: claims: a client child is not ready\n");
    s_clients_send (children, "go");
    int64_t start = INT64_MAX, end = 0;
    for (int i = 0; i < c; i++) {
        int oks = 0, errors = 0, status = 0;
        int64_t first = 0, last = 0;
        char detail[256] = "";
        if (s_chan_read (&children->clients[i].chan, line, sizeof (line),
                         S_CLAIM_TIMEOUT_MS + S_CHILD_TIMEOUT_MS) != 0 ||
            sscanf (line, "claimed %d %d %" SCNd64 " %" SCNd64 " %d %255[^\n]", &oks, &errors,
                    &first, &last, &status, detail) < 5) {
            fprintf (stderr, "bench: claims: client %d did not answer\n", i);
            row->errors += k / c;
            continue;
        }
        if (first < start)
            start = first;
        if (last > end)
            end = last;
        row->ok += oks;
        row->errors += errors;
        if (errors && !row->detail[0])
            snprintf (row->detail, sizeof (row->detail), "%s", detail);
        //  Latencies of the OK claims, S_LATENCIES_PER_LINE per line
        uint64_t *grown =
            realloc (row->latency_us, (row->latency_count + (size_t)oks + 1) * sizeof (uint64_t));
        if (grown)
            row->latency_us = grown;
        for (int got = 0; got < oks;) {
            if (s_chan_read (&children->clients[i].chan, line, sizeof (line), S_CHILD_TIMEOUT_MS) !=
                    0 ||
                strncmp (line, "lat", 3) != 0)
                break;
            char *cursor = line + 3;
            while (got < oks) {
                char *next = NULL;
                unsigned long long value = strtoull (cursor, &next, 10);
                if (next == cursor)
                    break;
                cursor = next;
                if (grown)
                    row->latency_us[row->latency_count++] = value;
                got++;
            }
        }
    }
    if (end > start)
        row->seconds += (double)(end - start) / S_NS_PER_S;
    pd_store_stats (partnerd->store, &store_after);
    if (server == S_PARTNERD) {
        row->transactions += store_after.transactions - store_before.transactions;
        row->batches += store_after.batches - store_before.batches;
    }
    fprintf (stderr, "bench: %s: claim round %d: %d OK, %d failed so far, %.2f s\n",
             s_server_names[server], round + 1, row->ok, row->errors, row->seconds);
}

//  --------------------------------------------------------------------------
//  Output

static int
s_compare_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double
s_percentile_ms (const uint64_t *sorted_us, size_t count, double fraction)
{
    if (count == 0)
        return 0;
    size_t rank = (size_t)(fraction * (double)count + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > count)
        rank = count;
    return (double)sorted_us[rank - 1] / 1000.0;
}

static double
s_ratio (double a, double b)
{
    return b > 0 ? a / b : 0;
}

static void
s_print_line (int n, const char *what, const char *bare, const char *partnerd, double ratio)
{
    char ratio_text[32] = "-";
    if (ratio > 0)
        snprintf (ratio_text, sizeof (ratio_text), "%.2fx", ratio);
    printf ("%-7d %-22s %16s %16s %8s\n", n, what, bare, partnerd, ratio_text);
}

static void
s_print_n (int n, const s_n_row_t rows[S_SERVERS])
{
    char a[64], b[64];
    const s_n_row_t *bare = &rows[S_BARE], *pd = &rows[S_PARTNERD];
    snprintf (a, sizeof (a), "%.1f KiB", bare->rss_per_conn_kib);
    snprintf (b, sizeof (b), "%.1f KiB", pd->rss_per_conn_kib);
    s_print_line (n, "RSS/conn (VmRSS)", a, b,
                  s_ratio (pd->rss_per_conn_kib, bare->rss_per_conn_kib));
    snprintf (a, sizeof (a), "%.1f KiB", bare->anon_per_conn_kib);
    snprintf (b, sizeof (b), "%.1f KiB", pd->anon_per_conn_kib);
    s_print_line (n, "RSS/conn (RssAnon)", a, b,
                  s_ratio (pd->anon_per_conn_kib, bare->anon_per_conn_kib));
    snprintf (a, sizeof (a), "%.3f ms", bare->cpu_per_conn_ms);
    snprintf (b, sizeof (b), "%.3f ms", pd->cpu_per_conn_ms);
    s_print_line (n, "cpu/connect", a, b, s_ratio (pd->cpu_per_conn_ms, bare->cpu_per_conn_ms));
    snprintf (a, sizeof (a), "%.1f%%", bare->idle_core);
    snprintf (b, sizeof (b), "%.1f%%", pd->idle_core);
    s_print_line (n, "idle cpu (1 core)", a, b, s_ratio (pd->idle_core, bare->idle_core));
    double hb[S_SERVERS], core[S_SERVERS], per_hb[S_SERVERS];
    for (int s = 0; s < S_SERVERS; s++) {
        hb[s] = rows[s].window_s > 0 ? (double)rows[s].heartbeats / rows[s].window_s : 0;
        core[s] = rows[s].window_s > 0 ? 100.0 * rows[s].cpu_s / rows[s].window_s : 0;
        per_hb[s] = rows[s].heartbeats ? rows[s].cpu_s * 1e6 / (double)rows[s].heartbeats : 0;
    }
    snprintf (a, sizeof (a), "%.0f", hb[S_BARE]);
    snprintf (b, sizeof (b), "%.0f", hb[S_PARTNERD]);
    s_print_line (n, "hb/s", a, b, s_ratio (hb[S_PARTNERD], hb[S_BARE]));
    snprintf (a, sizeof (a), "%.1f%%", core[S_BARE]);
    snprintf (b, sizeof (b), "%.1f%%", core[S_PARTNERD]);
    s_print_line (n, "server cpu (1 core)", a, b, s_ratio (core[S_PARTNERD], core[S_BARE]));
    snprintf (a, sizeof (a), "%.1f us", per_hb[S_BARE]);
    snprintf (b, sizeof (b), "%.1f us", per_hb[S_PARTNERD]);
    s_print_line (n, "server cpu/hb", a, b, s_ratio (per_hb[S_PARTNERD], per_hb[S_BARE]));
    if (pd->connected != n || bare->connected != n)
        printf ("%-7d (handshakes seen: bare %d, partnerd %d of %d)\n", n, bare->connected,
                pd->connected, n);
    printf ("%-7d (partnerd: %" PRIu64 " heartbeat flushes in %.1f s)\n", n, pd->flushes,
            pd->window_s);
}

//  Prints the claim rows; returns the ratio of durable claims to the echo
static double
s_print_claims (const s_options_t *options, s_claim_row_t rows[S_SERVERS])
{
    double rate[S_SERVERS], p50[S_SERVERS], p99[S_SERVERS];
    for (int s = 0; s < S_SERVERS; s++) {
        qsort (rows[s].latency_us, rows[s].latency_count, sizeof (uint64_t), s_compare_u64);
        rate[s] = rows[s].seconds > 0 ? rows[s].ok / rows[s].seconds : 0;
        p50[s] = s_percentile_ms (rows[s].latency_us, rows[s].latency_count, 0.50);
        p99[s] = s_percentile_ms (rows[s].latency_us, rows[s].latency_count, 0.99);
    }
    printf ("\nclaims (%d), %d at once, %d round%s   bare echo %6.0f/s   partnerd %6.0f/s "
            "(durable)   %.2fx\n",
            options->claims, options->in_flight, options->rounds, options->rounds > 1 ? "s" : "",
            rate[S_BARE], rate[S_PARTNERD], s_ratio (rate[S_PARTNERD], rate[S_BARE]));
    printf ("claim latency p50/p99 (connect to OK)    bare %.1f/%.1f ms   partnerd %.1f/%.1f ms\n",
            p50[S_BARE], p99[S_BARE], p50[S_PARTNERD], p99[S_PARTNERD]);
    printf ("claims failed                            bare %d   partnerd %d%s%s\n",
            rows[S_BARE].errors, rows[S_PARTNERD].errors, rows[S_PARTNERD].detail[0] ? "; " : "",
            rows[S_PARTNERD].detail);
    if (rows[S_PARTNERD].transactions)
        printf ("partnerd store during claims: %" PRIu64 " durable transactions, %.1f batches "
                "each\n",
                rows[S_PARTNERD].transactions,
                (double)rows[S_PARTNERD].batches / (double)rows[S_PARTNERD].transactions);
    return s_ratio (rate[S_PARTNERD], rate[S_BARE]);
}

//  One target of issue 8: what, the ratio measured, met or missed (cause)
static void
s_print_target (const char *label, double ratio, bool met, const char *cause)
{
    printf ("  %-58s %6.2fx  %s%s%s\n", label, ratio, met ? "met" : "missed",
            !met && cause ? ": " : "", !met && cause ? cause : "");
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
    setvbuf (stdout, NULL, _IOLBF, 0);
    signal (SIGPIPE, SIG_IGN);
    s_raise_nofile (); //  inherited by the children
    s_n_max = options.ns[options.n_count - 1];
    s_io_threads = options.io_threads;
    s_bare_zap = options.bare_zap;
    int children_count = (2 * s_n_max + S_SOCKETS_PER_CHILD - 1) / S_SOCKETS_PER_CHILD;
    int claim_threads = options.in_flight;
    if (children_count < 1)
        children_count = 1;
    //  Enough children for the claim threads' sockets too
    while (children_count < S_MAX_CHILDREN && claim_threads / children_count > 1000)
        children_count++;
    if (children_count > S_MAX_CHILDREN) {
        fprintf (stderr, "bench: too many appliances for %d client processes\n", S_MAX_CHILDREN);
        return 2;
    }
    double load_before = s_load_average ();

    //  Keys first, before any fork and any ZeroMQ context
    s_key_count = (size_t)s_n_max + (size_t)options.claims * (size_t)options.rounds;
    s_keys = calloc (s_key_count, sizeof (s_keypair_t));
    if (!s_keys)
        return 1;
    fprintf (stderr, "bench: making %zu appliance keypairs\n", s_key_count);
    for (size_t i = 0; i < s_key_count; i++)
        if (zmq_curve_keypair (s_keys[i].public_key, s_keys[i].secret_key) != 0) {
            fprintf (stderr, "bench: zmq_curve_keypair failed (libzmq without CURVE?)\n");
            return 1;
        }
    s_children_t children;
    if (s_children_start (&children, children_count, options.claims) != 0) {
        fprintf (stderr, "bench: children did not start\n");
        s_children_stop (&children);
        return 1;
    }
    //  From here on this process is partnerd's server side
    zsys_set_max_sockets (0);
    zsys_set_io_threads ((size_t)options.io_threads);
    zsys_init ();
    s_server_t partnerd = {0};
    s_setup_t setup = {0};
    size_t code_count = s_key_count;
    setup.codes = calloc (code_count, sizeof (*setup.codes));
    setup.first_claim_code = (size_t)s_n_max;
    int status = 1;
    s_n_row_t rows[S_MAX_NS][S_SERVERS];
    s_claim_row_t claim_rows[S_SERVERS];
    memset (rows, 0, sizeof (rows));
    memset (claim_rows, 0, sizeof (claim_rows));
    if (!setup.codes || s_server_start (&partnerd) != 0) {
        fprintf (stderr, "bench: partnerd's server side did not start\n");
        goto cleanup;
    }
    fprintf (stderr, "bench: front on %s, bare server on port %d, %d client processes, store %s\n",
             partnerd.endpoint, children.bare_port, children.client_count, partnerd.dir);

    //  Set-up: codes for every appliance, then the heartbeating ones claimed
    int64_t started = s_now_ns ();
    size_t made = s_pipeline (partnerd.client, "claim", code_count, s_make_provision,
                              s_done_provision, &setup);
    fprintf (stderr, "bench: %zu provision codes made in %.1f s\n", made,
             (double)(s_now_ns () - started) / S_NS_PER_S);
    if (made != code_count)
        goto cleanup;
    started = s_now_ns ();
    size_t claimed =
        s_pipeline (partnerd.client, "claim", (size_t)s_n_max, s_make_claim, s_done_claim, &setup);
    fprintf (stderr, "bench: %zu appliances claimed through the broker in %.1f s\n", claimed,
             (double)(s_now_ns () - started) / S_NS_PER_S);
    if (claimed != (size_t)s_n_max)
        goto cleanup;

    //  Heartbeat populations, one server at a time (N connected appliances
    //  are not idle for libzmq: see README), N by N, then closed
    for (int server = 0; server < S_SERVERS && !zsys_interrupted; server++) {
        s_memory_t base = s_server_memory (server, &children);
        int connected = 0;
        for (int step = 0; step < options.n_count && !zsys_interrupted; step++) {
            int n = options.ns[step];
            s_n_row_t *row = &rows[step][server];
            row->connected = step ? rows[step - 1][server].connected : 0;
            s_connect_step (&options, server, connected, n, &children, &partnerd, base, row);
            connected = n;
            fprintf (stderr, "bench: %s: N=%d: heartbeats for %.1f s\n", s_server_names[server], n,
                     options.window);
            s_beat_slice (server, options.window, &children, &partnerd, row);
        }
        char command[32], line[S_LINE_MAX];
        snprintf (command, sizeof (command), "close %d", server);
        s_clients_send (&children, command);
        for (int i = 0; i < children.client_count; i++)
            s_chan_read (&children.clients[i].chan, line, sizeof (line), S_CHILD_TIMEOUT_MS);
        s_wait_quiet (server, &children, &partnerd);
    }

    //  Claims last: connections made and closed before would leave freed
    //  heap in the servers that the populations reuse (RSS/conn too low).
    //  Rounds alternate the order.
    for (int round = 0; round < options.rounds && !zsys_interrupted; round++)
        for (int i = 0; i < S_SERVERS; i++) {
            int server = round % 2 ? S_SERVERS - 1 - i : i;
            s_claim_round (&options, server, round, &setup, &children, &partnerd,
                           &claim_rows[server]);
        }

    printf ("\npartnerd appliance bench: %ld CPUs shared by clients and servers; load average "
            "%.2f before, %.2f after\n",
            sysconf (_SC_NPROCESSORS_ONLN), load_before, s_load_average ());
    printf ("CurveZMQ over tcp loopback; clients: appliance SDK in %d processes; connects paced "
            "at %d/s; each appliance heartbeats once a second, window %.1f s per server and N; "
            "servers measured one after the other; %d libzmq I/O thread%s per server\n\n",
            children.client_count, options.rate, options.window, options.io_threads,
            options.io_threads > 1 ? "s" : "");
    printf ("%-7s %-22s %16s %16s %8s\n", "appl.", "", "bare curve", "partnerd front", "ratio");
    for (int step = 0; step < options.n_count; step++)
        if (rows[step][S_PARTNERD].done || rows[step][S_BARE].done)
            s_print_n (options.ns[step], rows[step]);
    double claims = s_print_claims (&options, claim_rows);
    //  The targets of issue 8, for the largest population measured
    int last = options.n_count - 1;
    const s_n_row_t *bare = &rows[last][S_BARE], *pd = &rows[last][S_PARTNERD];
    if (bare->done && pd->done) {
        double per_hb_bare = bare->heartbeats ? bare->cpu_s / (double)bare->heartbeats : 0;
        double per_hb_pd = pd->heartbeats ? pd->cpu_s / (double)pd->heartbeats : 0;
        double rss = s_ratio (pd->rss_per_conn_kib, bare->rss_per_conn_kib);
        double cpu = s_ratio (per_hb_pd, per_hb_bare);
        const char *base = options.bare_zap ? "bare with ZAP" : "bare (no ZAP)";
        char label[96];
        printf ("\ntargets at %d appliances, against %s:\n", options.ns[last], base);
        snprintf (label, sizeof (label), "RSS per connection <= 1.25x");
        s_print_target (label, rss, rss > 0 && rss <= 1.25,
                        "libzmq's ZAP pipe per CURVE session, ~10 KiB (compare with -z)");
        snprintf (label, sizeof (label), "server CPU per heartbeat <= 1.25x");
        s_print_target (label, cpu, cpu > 0 && cpu <= 1.25,
                        "ZAP metadata and the front's frame handling per message (compare "
                        "with -z)");
    }
    s_print_target ("durable claims >= 0.8x the bare echo", claims, claims >= 0.8,
                    "CPU-bound: ZAP, a broker round trip and record encodes per claim");
    printf ("\nRSS/conn: server VmRSS (and its anonymous part) after N connected, less before "
            "any, over the connections established; cpu/connect: server CPU per connection "
            "established (handshake, ZAP for partnerd, first heartbeat, failed attempts); "
            "idle cpu: N connected, no messages (ZMTP heartbeats and libzmq timers only); "
            "server cpu: the server process only "
            "(partnerd: front, broker, claim actor, store) during the heartbeat window.\n");
    status = 0;

cleanup:
    s_children_stop (&children);
    s_server_stop (&partnerd);
    for (int s = 0; s < S_SERVERS; s++)
        free (claim_rows[s].latency_us);
    free (setup.codes);
    free (s_keys);
    return status;
}
