/*  partnerd - the partnerd server

    partnerd                    broker + every actor + gateway, one process
    partnerd broker             the broker alone
    partnerd gateway            the HTTP gateway alone, against --broker
    partnerd actor NAME...      some actors alone, against --broker
    partnerd front              the appliance front (CurveZMQ) alone, against --broker

    This file only composes: it parses arguments, starts the parts, waits
    for SIGINT/SIGTERM and stops them in reverse order.
*/
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <czmq.h>

#include "pd_actors.h"
#include "pd_apikey.h"
#include "pd_auth_actor.h"
#include "pd_broker.h"
#include "pd_appliance_keys.h"
#include "pd_caller.h"
#include "pd_record.h"
#include "pd_claim_actor.h"
#include "pd_config.h"
#include "pd_envelope.h"
#include "pd_front.h"
#include "pd_gateway.h"
#include "pd_keys.h"
#include "pd_messages.h"
#include "pd_store.h"

#define S_DEFAULT_DATA   "partnerd-data"
#define S_DEFAULT_HTTP   "127.0.0.1:8080"
#define S_DEFAULT_BROKER "tcp://127.0.0.1:5555"
#define S_DEFAULT_STREAM "tcp://127.0.0.1:5556"
//  The all-in-one process binds its broker only to sockets inside the data
//  directory (mode 0700) unless --bind/--stream-bind say otherwise: the
//  services socket has no authentication, so it must not be reachable by
//  other local users (PROTOCOL.md, security)
#define S_LOCAL_BROKER      "broker.sock"
#define S_LOCAL_STREAM      "streams.sock"
#define S_DEFAULT_APPLIANCE "tcp://127.0.0.1:5557"
#define S_APPLIANCE_KEY     PD_DATA_APPLIANCE_KEY
#define S_Z85_KEY           40 //  a CURVE key in Z85
#define S_INPROC_BROKER     "inproc://partnerd-broker"
#define S_INPROC_STREAM     "inproc://partnerd-stream"
#define S_CLOCK_SKEW_MAX_MS (10LL * 366 * 24 * 3600 * 1000)
#define S_DEFAULT_INSTANCES 2
#define S_MAX_INSTANCES     64
#define S_MAX_ACTORS        256
#define S_ADMIN_KEY_FILE    PD_DATA_ADMIN_KEY
#define S_PATH_MAX          4096
#define S_IO_THREADS        2
#define S_FILES_BESIDE_HTTP 256 //  descriptors for all but HTTP connections and broker clients
#define S_FILES_PER_CLIENT  2   //  a broker client: its mailbox and its connection
#define S_MIN_CONNECTIONS   16  //  HTTP connections below which the limit is not lowered

typedef struct {
    const char *role;           //  NULL (all-in-one), "broker", "gateway", "actor"
    const char *data;           //  data directory
    const char *http;           //  gateway listen address
    const char *broker;         //  broker endpoint to connect to
    const char *bind;           //  broker endpoint(s) to bind
    const char *stream_bind;    //  stream endpoint(s) to bind
    const char *stream;         //  the broker's stream endpoint to follow (front)
    const char *appliance_bind; //  appliance front (CURVE) endpoint(s) to bind
    int instances;              //  threads per actor
    int threads;                //  gateway worker threads
    int timeout_ms;             //  gateway per-request deadline
    const char *config;         //  settings file, NULL = defaults and environment
    const char *cluster;        //  cluster directory: the broker's keys (all-in-one, broker)
    const char *key;            //  this process's key file (gateway, actor, front)
    char **actors;              //  actor names (role "actor")
    int actor_count;
} s_options_t;

static const char s_usage[] =
    "usage: partnerd [OPTIONS]                run broker, every actor and the gateway\n"
    "       partnerd broker [OPTIONS]         run the broker alone\n"
    "       partnerd gateway [OPTIONS]        run the HTTP gateway alone\n"
    "       partnerd actor NAME... [OPTIONS]  run actors alone (names: %s)\n"
    "       partnerd front [OPTIONS]          run the appliance front alone (needs --data\n"
    "                                         for appliance keys, and --broker)\n"
    "\n"
    "A broker whose sockets other local users could reach (tcp://, or ipc:// not\n"
    "inside a directory of mode 0700 of yours) needs --cluster DIR: it then admits\n"
    "only the CURVE keys DIR/" PD_KEYS_ALLOW_FILE " lists, each as its role permits.\n"
    "Make DIR with `partnerctl keys init DIR` and a key per process with\n"
    "`partnerctl keys add DIR NAME --role ROLE`; give each process its --key FILE.\n"
    "\n"
    "With no subcommand partnerd keeps its store in --data; on first start it\n"
    "creates a platform-admin API key, writes it to DIR/" S_ADMIN_KEY_FILE " (mode 0600)\n"
    "and prints that path. It then listens for HTTP on --http, for actor\n"
    "processes and operator tools on --bind and --stream-bind (by default only\n"
    "ipc://DIR/" S_LOCAL_BROKER " and ipc://DIR/" S_LOCAL_STREAM "), and for appliances\n"
    "(CurveZMQ) on --appliance-bind. The front's keypair is DIR/" S_APPLIANCE_KEY ",\n"
    "made at first start (mode 0600; refused if its mode is not 0600).\n"
    "\n"
    "options:\n"
    "  --data DIR          data directory (all-in-one, actor)   [" S_DEFAULT_DATA "]\n"
    "  --http HOST:PORT    HTTP listen address (all-in-one, gateway)   [" S_DEFAULT_HTTP "]\n"
    "  --broker ENDPOINT   broker to connect to (gateway, actor)   [" S_DEFAULT_BROKER "]\n"
    "  --bind ENDPOINTS    services socket binds, comma-separated (all-in-one, broker)\n"
    "                      [all-in-one: ipc://DIR/" S_LOCAL_BROKER "; broker: " S_DEFAULT_BROKER
    "]\n"
    "  --stream-bind EPS   event stream (PUB) binds (all-in-one, broker)\n"
    "                      [all-in-one: ipc://DIR/" S_LOCAL_STREAM "; broker: " S_DEFAULT_STREAM
    "]\n"
    "  --stream ENDPOINT   the broker's event stream, followed to close revoked\n"
    "                      appliances' links (front)   [" S_DEFAULT_STREAM "]\n"
    "  --appliance-bind EPS  appliance front (CURVE) binds, comma-separated\n"
    "                      (all-in-one, front)   [" S_DEFAULT_APPLIANCE "]\n"
    "  --instances N       threads per actor   [2]\n"
    "  --threads N         HTTP connections held at once, a worker thread each\n"
    "                      [setting http_max_connections: 1024]\n"
    "  --timeout MS        per-request deadline in the gateway   [5000]\n"
    "  --cluster DIR       the broker's keypair and allow-list (all-in-one, broker)\n"
    "  --key FILE          this process's CURVE key file, made by partnerctl keys add\n"
    "                      (gateway, actor, front)\n"
    "  --config FILE       settings (public URL, OAuth providers, cookies, rate limits);\n"
    "                      see --help-config\n"
    "  --help-config       list every setting, its default and its environment variable\n"
    "  --help              this text\n"
    "\n"
    "Stop with SIGINT or SIGTERM.\n";

static void
s_print_usage (FILE *out)
{
    char names[512] = "";
    for (size_t i = 0; pd_actors_all[i]; i++) {
        if (i)
            strncat (names, " ", sizeof (names) - strlen (names) - 1);
        strncat (names, pd_actors_all[i]->service, sizeof (names) - strlen (names) - 1);
    }
    fprintf (out, s_usage, names);
}

//  0 when the options are usable, 1 for --help, -1 on error (reported)
static int
s_parse (int argc, char **argv, s_options_t *options)
{
    static const struct option s_long[] = {{"data", required_argument, NULL, 'd'},
                                           {"http", required_argument, NULL, 'h'},
                                           {"broker", required_argument, NULL, 'b'},
                                           {"bind", required_argument, NULL, 'B'},
                                           {"stream-bind", required_argument, NULL, 's'},
                                           {"instances", required_argument, NULL, 'i'},
                                           {"threads", required_argument, NULL, 't'},
                                           {"timeout", required_argument, NULL, 'T'},
                                           {"help", no_argument, NULL, '?'},
                                           {"config", required_argument, NULL, 'c'},
                                           {"help-config", no_argument, NULL, 'H'},
                                           {"appliance-bind", required_argument, NULL, 'A'},
                                           {"cluster", required_argument, NULL, 'C'},
                                           {"key", required_argument, NULL, 'k'},
                                           {"stream", required_argument, NULL, 'S'},
                                           {NULL, 0, NULL, 0}};
    *options = (s_options_t){.data = S_DEFAULT_DATA,
                             .http = S_DEFAULT_HTTP,
                             .broker = S_DEFAULT_BROKER,
                             .bind = NULL, //  per role, in main
                             .stream_bind = NULL,
                             .stream = S_DEFAULT_STREAM,
                             .appliance_bind = S_DEFAULT_APPLIANCE,
                             .instances = S_DEFAULT_INSTANCES};
    int opt;
    while ((opt = getopt_long (argc, argv, "", s_long, NULL)) != -1) {
        switch (opt) {
        case 'd':
            options->data = optarg;
            break;
        case 'h':
            options->http = optarg;
            break;
        case 'b':
            options->broker = optarg;
            break;
        case 'B':
            options->bind = optarg;
            break;
        case 's':
            options->stream_bind = optarg;
            break;
        case 'A':
            options->appliance_bind = optarg;
            break;
        case 'i':
            options->instances = atoi (optarg);
            break;
        case 't':
            options->threads = atoi (optarg);
            break;
        case 'T':
            options->timeout_ms = atoi (optarg);
            break;
        case 'c':
            options->config = optarg;
            break;
        case 'C':
            options->cluster = optarg;
            break;
        case 'k':
            options->key = optarg;
            break;
        case 'S':
            options->stream = optarg;
            break;
        case 'H':
            return 2;
        default:
            if (strcmp (argv[optind - 1], "--help") == 0)
                return 1;
            return -1;
        }
    }
    if (optind < argc)
        options->role = argv[optind++];
    options->actors = argv + optind;
    options->actor_count = argc - optind;

    if (options->role && strcmp (options->role, "broker") && strcmp (options->role, "gateway") &&
        strcmp (options->role, "actor") && strcmp (options->role, "front")) {
        fprintf (stderr, "partnerd: unknown subcommand '%s'\n", options->role);
        return -1;
    }
    bool is_actor = options->role && strcmp (options->role, "actor") == 0;
    if (is_actor && options->actor_count == 0) {
        fprintf (stderr, "partnerd: actor needs at least one NAME\n");
        return -1;
    }
    if (!is_actor && options->actor_count > 0) {
        fprintf (stderr, "partnerd: unexpected argument '%s'\n", options->actors[0]);
        return -1;
    }
    for (int i = 0; i < options->actor_count; i++)
        if (!pd_actors_find (options->actors[i])) {
            fprintf (stderr, "partnerd: no actor named '%s'\n", options->actors[i]);
            return -1;
        }
    bool is_broker = !options->role || strcmp (options->role, "broker") == 0;
    if (options->cluster && !is_broker) {
        fprintf (stderr, "partnerd: --cluster is for the broker (and the all-in-one)\n");
        return -1;
    }
    if (options->key && is_broker) {
        fprintf (stderr, "partnerd: --key is for gateway, actor and front; the broker takes "
                         "--cluster\n");
        return -1;
    }
    if (options->instances < 1 || options->instances > S_MAX_INSTANCES || options->threads < 0 ||
        options->timeout_ms < 0) {
        fprintf (stderr, "partnerd: --instances, --threads or --timeout out of range\n");
        return -1;
    }
    return 0;
}

//  Block the stop signals in every thread; main waits for them with sigwait
static void
s_block_signals (sigset_t *signals)
{
    sigemptyset (signals);
    sigaddset (signals, SIGINT);
    sigaddset (signals, SIGTERM);
    pthread_sigmask (SIG_BLOCK, signals, NULL);
}

static void
s_wait_for_signal (const sigset_t *signals)
{
    int signal_number = 0;
    sigwait (signals, &signal_number);
    zsys_info ("partnerd: %s received, stopping", strsignal (signal_number));
}

//  The data directory: made mode 0700 if missing; refused unless it is a
//  directory of mode 0700 owned by this user (its sockets and files are
//  the keys to everything). 0 or -1 (reported).
static int
s_data_dir (const char *data)
{
    char error[PD_KEYS_ERROR_MAX];
    if (mkdir (data, 0700) == 0) {
        if (chmod (data, 0700) != 0) { //  the umask may have taken bits away
            zsys_error ("partnerd: cannot chmod %s: %s", data, strerror (errno));
            return -1;
        }
    } else if (errno != EEXIST) {
        zsys_error ("partnerd: cannot create %s: %s", data, strerror (errno));
        return -1;
    }
    if (pd_keys_check_private_dir (data, error, sizeof (error))) {
        zsys_error ("partnerd: refusing the data directory: %s", error);
        return -1;
    }
    return 0;
}

static pd_store_t *
s_open_store (const char *data, const pd_config_t *settings)
{
    if (s_data_dir (data))
        return NULL;
    pd_store_config_t config = {pd_store_table_names, (uint64_t)settings->store_map_mb << 20,
                                PD_STORE_SCHEMA_VERSION, pd_record_migrate,
                                (void *)pd_owner_indexes};
    return pd_store_new (data, &config);
}

//  Start `instances` threads of each named actor (all when names is NULL),
//  or the more an actor asks for (pd_actor_instances)
static size_t
s_start_actors (zactor_t **actors, char **names, int name_count, const char *broker,
                const pd_keys_pair_t *keys, pd_store_t *store, const pd_config_t *settings,
                int instances)
{
    pd_actor_config_t config = {
        .broker = broker, .broker_keys = keys, .store = store, .config = settings};
    size_t started = 0;
    size_t total = names ? (size_t)name_count : 0;
    if (!names)
        while (pd_actors_all[total])
            total++;
    for (size_t i = 0; i < total; i++) {
        const pd_actor_def_t *def = names ? pd_actors_find (names[i]) : pd_actors_all[i];
        int count = pd_actor_instances (def, instances);
        for (int n = 0; n < count && started < S_MAX_ACTORS; n++) {
            actors[started] = pd_actor_new (def, &config);
            if (!actors[started])
                return started;
            started++;
        }
    }
    return started;
}

//  The front's CURVE keypair: DIR/appliance_curve.key, two lines (public,
//  secret, Z85). Made with O_EXCL and mode 0600 at first start; refused if
//  its mode is not 0600 or it is not ours (pd_keys_open_private). 0 or -1
//  (reported).
static int
s_appliance_keypair (const char *data, char *public_key, char *secret_key)
{
    char path[S_PATH_MAX];
    snprintf (path, sizeof (path), "%s/%s", data, S_APPLIANCE_KEY);
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (fd >= 0) {
        int rc = zmq_curve_keypair (public_key, secret_key);
        char text[2 * (S_Z85_KEY + 1) + 1];
        int size = snprintf (text, sizeof (text), "%s\n%s\n", public_key, secret_key);
        if (rc || write (fd, text, (size_t)size) != size || fsync (fd)) {
            zsys_error ("partnerd: cannot write %s", path);
            close (fd);
            unlink (path);
            return -1;
        }
        close (fd);
        return 0;
    }
    if (errno != EEXIST) {
        zsys_error ("partnerd: cannot create %s: %s", path, strerror (errno));
        return -1;
    }
    char error[PD_KEYS_ERROR_MAX];
    fd = pd_keys_open_private (path, error, sizeof (error));
    if (fd < 0) {
        zsys_error ("partnerd: %s", error);
        return -1;
    }
    char text[2 * (S_Z85_KEY + 1) + 2] = "";
    ssize_t size = read (fd, text, sizeof (text) - 1);
    close (fd);
    char derived[S_Z85_KEY + 1];
    if (size < 2 * (S_Z85_KEY + 1) || text[S_Z85_KEY] != '\n' || text[2 * S_Z85_KEY + 1] != '\n') {
        zsys_error ("partnerd: %s is not a keypair file", path);
        return -1;
    }
    memcpy (public_key, text, S_Z85_KEY);
    public_key[S_Z85_KEY] = 0;
    memcpy (secret_key, text + S_Z85_KEY + 1, S_Z85_KEY);
    secret_key[S_Z85_KEY] = 0;
    if (zmq_curve_public (derived, secret_key) || strcmp (derived, public_key)) {
        zsys_error ("partnerd: %s holds no valid keypair", path);
        return -1;
    }
    return 0;
}

//  The front's ZAP verdicts come from the store
static int
s_authorize (const char *public_key, char *appliance_id, size_t size, void *store)
{
    return pd_appliance_keys_authorize ((pd_store_t *)store, public_key, appliance_id, size);
}

//  An admin key file left from the first start must still be ours and
//  private. 0 or -1 (reported).
static int
s_check_admin_key (const char *path)
{
    char error[PD_KEYS_ERROR_MAX];
    int fd = pd_keys_open_private (path, error, sizeof (error));
    if (fd < 0 && errno != ENOENT) {
        zsys_error ("partnerd: %s", error);
        return -1;
    }
    if (fd >= 0)
        close (fd);
    return 0;
}

//  --cluster (the broker's keys) and --key (this process's), when given.
//  0 or -1 (reported).
static int
s_load_keys (const s_options_t *options, pd_keys_cluster_t **cluster, pd_keys_pair_t *keys,
             bool *has_keys)
{
    char error[PD_KEYS_ERROR_MAX];
    memset (keys, 0, sizeof (*keys));
    if (options->cluster) {
        *cluster = pd_keys_cluster_load (options->cluster, error, sizeof (error));
        if (!*cluster) {
            zsys_error ("partnerd: --cluster: %s", error);
            return -1;
        }
    }
    if (options->key) {
        if (pd_keys_pair_load (keys, options->key, true, error, sizeof (error))) {
            zsys_error ("partnerd: --key: %s", error);
            return -1;
        }
        *has_keys = true;
    }
    return 0;
}

//  A broker without keys binds only where other local users cannot
//  connect. 0 if so, else -1 (reported, with the fix).
static int
s_public_binds (const char *binds, const char *stream_binds)
{
    char endpoint[S_PATH_MAX];
    if (pd_keys_endpoints_private (binds, endpoint, sizeof (endpoint)) &&
        pd_keys_endpoints_private (stream_binds, endpoint, sizeof (endpoint)))
        return 0;
    zsys_error ("partnerd: refusing to bind %s without authentication: any local user could "
                "connect and act as any service. Make cluster keys with `partnerctl keys init "
                "DIR` and `partnerctl keys add DIR NAME --role ROLE`, then start the broker with "
                "--cluster DIR (and each process with --key FILE); or bind only ipc:// inside a "
                "directory of mode 0700",
                endpoint);
    return -1;
}

//  The front tells unknown and revoked appliances from absent ones by the store
static int
s_appliance_state (const char *appliance_id, void *store)
{
    return pd_appliance_keys_state ((pd_store_t *)store, appliance_id);
}

//  The front judges who commands appliances as the actor runtime does
typedef struct {
    pd_store_t *store;
    const pd_config_t *settings;
} s_caller_arg_t;

static int
s_front_caller (pd_header_t *header, pd_schema_error_t *err, int *retry_after, void *arg)
{
    const s_caller_arg_t *caller = arg;
    int rc = pd_store_read_begin (caller->store);
    if (rc == PD_OK) {
        rc = pd_caller_judge (caller->store, caller->settings, header, (int64_t)zclock_time (), err,
                              retry_after);
        pd_store_read_end (caller->store);
    }
    return rc;
}

//  How often an unchanged heartbeat is written: the setting, but at most
//  half the offline time, so that a heartbeating appliance never shows
//  offline
static int
s_persist_ms (const pd_config_t *settings)
{
    int64_t persist = settings->heartbeat_persist_s, offline = settings->appliance_offline_after_s;
    if (persist * 2 > offline)
        persist = offline / 2;
    return persist > 0 ? (int)(persist * 1000) : 0;
}

static void
s_stop_actors (zactor_t **actors, size_t count)
{
    while (count > 0)
        zactor_destroy (&actors[--count]);
}

//  A bind address as clients reach it: a wildcard or empty host becomes
//  127.0.0.1 (a deployment names its public address in the setting), the
//  first of several comma-separated addresses counts. "" if it is not
//  host:port.
static void
s_reachable (const char *bind, char *out, size_t size)
{
    char first[S_PATH_MAX];
    snprintf (first, sizeof (first), "%.*s", (int)strcspn (bind, ","), bind);
    const char *colon = strrchr (first, ':');
    const char *port = colon ? colon + 1 : first;
    size_t host_len = colon ? (size_t)(colon - first) : 0;
    bool wildcard = host_len == 0 || (host_len == 1 && first[0] == '*') ||
                    (host_len == 7 && strncmp (first, "0.0.0.0", 7) == 0) ||
                    (host_len == 4 && strncmp (first, "[::]", 4) == 0);
    if (!*port || strspn (port, "0123456789") != strlen (port)) {
        snprintf (out, size, "%s", "");
        return;
    }
    int written = wildcard ? snprintf (out, size, "127.0.0.1:%s", port)
                           : snprintf (out, size, "%.*s:%s", (int)host_len, first, port);
    if (written < 0 || (size_t)written >= size)
        out[0] = '\0'; //  too long to be an address
}

//  public_url and appliance_endpoint, when no setting names them, follow
//  where this partnerd listens (--http, --appliance-bind): a claim URL or QR
//  code that names another port sends appliances nowhere
static int
s_derive_addresses (pd_config_t *settings, const s_options_t *options)
{
    char reachable[S_PATH_MAX], text[S_PATH_MAX + 16];
    if (!PD_CONFIG_GIVEN (settings, public_url)) {
        s_reachable (options->http, reachable, sizeof (reachable));
        if (!*reachable) {
            zsys_error ("partnerd: cannot tell the public URL from --http %s: set public_url",
                        options->http);
            return -1;
        }
        snprintf (text, sizeof (text), "http://%s", reachable);
        free (settings->public_url);
        settings->public_url = strdup (text);
    }
    const char *tcp = "tcp://";
    if (!PD_CONFIG_GIVEN (settings, appliance_endpoint) &&
        strncmp (options->appliance_bind, tcp, strlen (tcp)) == 0) {
        s_reachable (options->appliance_bind + strlen (tcp), reachable, sizeof (reachable));
        if (!*reachable) {
            zsys_error ("partnerd: cannot tell the appliance endpoint from --appliance-bind %s: "
                        "set appliance_endpoint",
                        options->appliance_bind);
            return -1;
        }
        snprintf (text, sizeof (text), "%s%s", tcp, reachable);
        free (settings->appliance_endpoint);
        settings->appliance_endpoint = strdup (text);
    }
    return settings->public_url && settings->appliance_endpoint ? 0 : -1;
}

//  Raise the soft open-file limit to the hard one, and lower the HTTP
//  connections to what it leaves room for (each is a descriptor, as are
//  the gateway's broker clients and everything else), saying so. Returns
//  the HTTP connections to serve.
static int
s_fit_file_limit (int connections)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
        return connections;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
        getrlimit (RLIMIT_NOFILE, &limit);
    }
    rlim_t others = S_FILES_BESIDE_HTTP + PD_GATEWAY_BROKER_CLIENTS * S_FILES_PER_CLIENT;
    if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= others + (rlim_t)connections)
        return connections;
    int fits = limit.rlim_cur > others + S_MIN_CONNECTIONS ? (int)(limit.rlim_cur - others)
                                                           : S_MIN_CONNECTIONS;
    zsys_warning ("partnerd: the open-file limit (%llu) leaves room for %d HTTP connections, "
                  "not %d: serving %d (raise it with ulimit -n or LimitNOFILE)",
                  (unsigned long long)limit.rlim_cur, fits, connections, fits);
    return fits;
}

static size_t
s_expected_actors (const s_options_t *options)
{
    size_t expected = 0;
    for (size_t i = 0; options->actor_count ? i < (size_t)options->actor_count : !!pd_actors_all[i];
         i++) {
        const pd_actor_def_t *def =
            options->actor_count ? pd_actors_find (options->actors[i]) : pd_actors_all[i];
        expected += def ? (size_t)pd_actor_instances (def, options->instances) : 0;
    }
    return expected;
}

int
main (int argc, char **argv)
{
    zsys_handler_set (NULL); //  signals are ours: sigwait below
    //  libzmq's timer handling grows with the connections of an I/O thread;
    //  one thread saturates near 7,500 CURVE appliances (tests/bench)
    zsys_set_io_threads (S_IO_THREADS);
    setvbuf (stdout, NULL, _IOLBF, 0);
    s_options_t options;
    int parsed = s_parse (argc, argv, &options);
    if (parsed == 2) {
        printf ("partnerd settings (--config FILE, lines 'name = value'):\n\n");
        pd_config_describe (stdout);
        return EXIT_SUCCESS;
    }
    if (parsed != 0) {
        s_print_usage (parsed > 0 ? stdout : stderr);
        return parsed > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    }
    char error[512];
    pd_config_t *settings = pd_config_new (options.config, error, sizeof (error));
    if (!settings) {
        fprintf (stderr, "partnerd: %s\n", error);
        return EXIT_FAILURE;
    }
    if (s_derive_addresses (settings, &options) != 0) {
        pd_config_destroy (&settings);
        return EXIT_FAILURE;
    }
    if (settings->clock_skew_ms > S_CLOCK_SKEW_MAX_MS) {
        fprintf (stderr, "partnerd: clock_skew_ms is at most %lld (ten years)\n",
                 (long long)S_CLOCK_SKEW_MAX_MS);
        pd_config_destroy (&settings);
        return EXIT_FAILURE;
    }
    if (settings->clock_skew_ms)
        //  A drill's clock: say so loudly (sessions, expiries and deadlines move with it)
        fprintf (stderr,
                 "partnerd: WARNING: clock_skew_ms = %lld: the actors' clock runs ahead of "
                 "the wall clock (drills and tests only)\n",
                 (long long)settings->clock_skew_ms);
    int http_connections =
        s_fit_file_limit (options.threads ? options.threads : (int)settings->http_max_connections);
    //  Before the first socket: the gateway's broker clients besides the
    //  actors', the front's and the broker's own
    zsys_set_max_sockets ((size_t)PD_GATEWAY_BROKER_CLIENTS + S_FILES_BESIDE_HTTP);
    sigset_t signals;
    s_block_signals (&signals);

    bool all_in_one = options.role == NULL;
    bool run_broker = all_in_one || strcmp (options.role, "broker") == 0;
    bool run_actors = all_in_one || strcmp (options.role, "actor") == 0;
    bool run_gateway = all_in_one || strcmp (options.role, "gateway") == 0;
    bool run_front = all_in_one || strcmp (options.role, "front") == 0;
    const char *connect = all_in_one ? S_INPROC_BROKER : options.broker;

    int status = EXIT_FAILURE;
    pd_broker_t *broker = NULL;
    pd_store_t *store = NULL;
    zactor_t *actors[S_MAX_ACTORS] = {NULL};
    size_t actor_count = 0;
    pd_gateway_t *gateway = NULL;
    pd_actors_local_t *local = NULL;
    pd_front_t *front = NULL;
    pd_keys_cluster_t *cluster = NULL;
    pd_keys_pair_t keys;
    bool has_keys = false;
    char front_public[S_Z85_KEY + 1] = "";
    char front_secret[S_Z85_KEY + 1] = "";

    char local_bind[S_PATH_MAX], local_stream[S_PATH_MAX];
    if (all_in_one) {
        //  The data directory first: the local sockets live in it
        if (s_data_dir (options.data))
            goto cleanup;
        snprintf (local_bind, sizeof (local_bind), "ipc://%s/%s", options.data, S_LOCAL_BROKER);
        snprintf (local_stream, sizeof (local_stream), "ipc://%s/%s", options.data, S_LOCAL_STREAM);
    }
    if (!options.bind)
        options.bind = all_in_one ? local_bind : S_DEFAULT_BROKER;
    if (!options.stream_bind)
        options.stream_bind = all_in_one ? local_stream : S_DEFAULT_STREAM;
    if (s_load_keys (&options, &cluster, &keys, &has_keys))
        goto cleanup;
    const pd_keys_pair_t *broker_keys = has_keys ? &keys : NULL;
    if (run_broker) {
        char binds[2 * S_PATH_MAX];
        if (snprintf (binds, sizeof (binds), "%s%s%s", all_in_one ? S_INPROC_BROKER : "",
                      all_in_one && *options.bind ? "," : "",
                      options.bind) >= (int)sizeof (binds)) {
            zsys_error ("partnerd: --bind too long");
            goto cleanup;
        }
        char stream_binds[2 * S_PATH_MAX];
        if (snprintf (stream_binds, sizeof (stream_binds), "%s%s%s",
                      all_in_one ? S_INPROC_STREAM : "",
                      all_in_one && *options.stream_bind ? "," : "",
                      options.stream_bind) >= (int)sizeof (stream_binds)) {
            zsys_error ("partnerd: --stream-bind too long");
            goto cleanup;
        }
        if (!cluster && s_public_binds (binds, options.stream_bind))
            goto cleanup;
        pd_broker_config_t config = {
            .endpoints = binds, .stream_endpoints = stream_binds, .cluster = cluster};
        broker = pd_broker_new (&config);
        if (!broker)
            goto cleanup;
        printf ("partnerd: broker on %s, streams on %s%s\n", options.bind, options.stream_bind,
                cluster ? " (CURVE, cluster keys)" : "");
    }
    if (run_actors || run_front) {
        store = s_open_store (options.data, settings);
        if (!store)
            goto cleanup;
    }
    if (run_front) {
        //  Claim answers and QR codes carry the front's public key
        if (s_appliance_keypair (options.data, front_public, front_secret))
            goto cleanup;
        free (settings->appliance_public_key);
        settings->appliance_public_key = strdup (front_public);
    }
    if (run_actors) {
        //  The master keys that seal secrets at rest (pd_envelope): made at
        //  the first start, checked (private, well-formed) at every one
        char master_path[S_PATH_MAX];
        snprintf (master_path, sizeof (master_path), "%s/%s", options.data, PD_DATA_MASTER_KEY);
        bool master_new = access (master_path, F_OK) != 0;
        char master_error[PD_ENVELOPE_ERROR_MAX];
        pd_envelope_t *envelope =
            pd_envelope_new (master_path, true, master_error, sizeof (master_error));
        if (!envelope) {
            zsys_error ("partnerd: %s", master_error);
            goto cleanup;
        }
        if (master_new)
            printf ("partnerd: master key file written to %s (back it up with the data)\n",
                    master_path);
        pd_envelope_destroy (&envelope);
        //  The process that runs the auth actor makes the first admin key
        bool runs_auth = all_in_one;
        for (int i = 0; i < options.actor_count; i++)
            runs_auth = runs_auth || strcmp (options.actors[i], pd_auth_actor.service) == 0;
        if (runs_auth) {
            char key_path[S_PATH_MAX];
            snprintf (key_path, sizeof (key_path), "%s/%s", options.data, S_ADMIN_KEY_FILE);
            bool created = false;
            int rc = pd_apikey_bootstrap (store, key_path, &created);
            if (rc != PD_OK) {
                zsys_error ("partnerd: cannot create the admin key at %s: %s", key_path,
                            pd_status_code (rc));
                goto cleanup;
            }
            if (created)
                printf ("partnerd: platform-admin API key written to %s\n", key_path);
            else if (s_check_admin_key (key_path))
                goto cleanup;
        }
        actor_count =
            s_start_actors (actors, all_in_one ? NULL : options.actors, options.actor_count,
                            connect, broker_keys, store, settings, options.instances);
        if (actor_count != s_expected_actors (&options))
            goto cleanup;
        printf ("partnerd: %zu actor threads on %s\n", actor_count, connect);
    }
    s_caller_arg_t caller_arg = {store, settings};
    if (run_front) {
        pd_front_config_t config = {.endpoint = options.appliance_bind,
                                    .broker = connect,
                                    .broker_keys = broker_keys,
                                    .public_key = front_public,
                                    .secret_key = front_secret,
                                    .authorize = s_authorize,
                                    .authorize_arg = store,
                                    .appliance_state = s_appliance_state,
                                    .appliance_state_arg = store,
                                    .caller = s_front_caller,
                                    .caller_arg = &caller_arg,
                                    .flush_ms = (int)settings->heartbeat_flush_ms,
                                    .persist_ms = s_persist_ms (settings),
                                    .stream = all_in_one ? S_INPROC_STREAM : options.stream,
                                    .silent_ms = (int)settings->appliance_offline_after_s * 1000};
        front = pd_front_new (&config);
        memset (front_secret, 0, sizeof (front_secret)); //  the CURVE socket holds it now
        if (!front)
            goto cleanup;
        printf ("partnerd: appliance front on %s, server key %s\n", options.appliance_bind,
                front_public);
    }
    if (run_gateway && run_actors && settings->http_local_actors) {
        //  The gateway serves this process's actors in its own threads
        pd_actor_config_t actor_config = {
            .broker = connect, .broker_keys = broker_keys, .store = store, .config = settings};
        local = pd_actors_local_new (NULL, 0, &actor_config);
        if (!local)
            goto cleanup;
    }
    if (run_gateway) {
        pd_gateway_config_t config = {
            .listen = options.http,
            .local = local ? pd_actors_local_serve : NULL,
            .local_arg = local,
            .broker = connect,
            .broker_keys = broker_keys,
            .threads = http_connections,
            .max_per_client = (int)settings->http_max_connections_per_client,
            .header_timeout_ms = (int)settings->http_header_timeout_ms,
            .idle_timeout_ms = (int)settings->http_idle_timeout_ms,
            .body_timeout_ms = (int)settings->http_body_timeout_ms,
            .body_min_rate = (int)settings->http_body_min_rate,
            .request_timeout_ms = options.timeout_ms,
            .cookie_secure = settings->cookie_secure,
            .trusted_proxies = settings->trusted_proxies,
            .cors_origins = settings->cors_allowed_origins,
            .stream = all_in_one ? S_INPROC_STREAM : options.stream,
            .max_streams = (int)settings->sse_max_streams,
            .max_partner_streams = (int)settings->sse_max_streams_per_partner};
        gateway = pd_gateway_new (&config);
        if (!gateway)
            goto cleanup;
        printf ("partnerd: http on %s\n", options.http);
    }
    printf ("partnerd: ready\n");
    s_wait_for_signal (&signals);
    status = EXIT_SUCCESS;

cleanup:
    pd_gateway_destroy (&gateway);
    pd_actors_local_destroy (&local);
    pd_front_destroy (&front);
    s_stop_actors (actors, actor_count);
    pd_store_destroy (&store);
    pd_broker_destroy (&broker);
    pd_keys_cluster_destroy (&cluster);
    pd_keys_pair_wipe (&keys);
    pd_config_destroy (&settings);
    if (status != EXIT_SUCCESS)
        fprintf (stderr, "partnerd: failed to start (see above)\n");
    return status;
}
