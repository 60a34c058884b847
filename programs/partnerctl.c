/*  partnerctl - operator tool

    partnerctl tail STREAM [--from SEQ] [--count N] [--partner P] [--site S]
                   [--priority P1,P2] [--json]      follow an event stream
                   [--url URL]                      ...remotely (escalations)
    partnerctl backup --data DIR --to DIR             consistent store copy
    partnerctl keys init DIR                          cluster keys for the broker
    partnerctl keys add DIR NAME --role ROLE          a key for one process

    tail prints one line per event, in order, each exactly once: first the
    history from --from, then live; a readable line, or with --json the
    JSON object {"seq": N, ...event fields}. The filters keep the events of
    one partner, one site, some priorities. On the host it reads the
    broker's sockets (ipc); with --url it follows partnerd's escalation
    stream over HTTP (Server-Sent Events) with an API key from
    $PARTNERD_API_KEY (or --api-key): a partner key sees its own partner's
    events only, a platform admin key ("pda_...") every partner's.
*/
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <czmq.h>
#include <curl/curl.h>

#include "pd_config.h"
#include "pd_keys.h"
#include "pd_messages.h"
#include "pd_store.h"
#include "pd_sse_client.h"
#include "pd_stream.h"

#define S_DEFAULT_BROKER "ipc://partnerd-data/broker.sock"
#define S_DEFAULT_STREAM "ipc://partnerd-data/streams.sock"
#define S_POLL_MS        500
#define S_PATH_MAX       4096
#define S_URL_MAX        4096
#define S_API_KEY_ENV    "PARTNERD_API_KEY"
#define S_ADMIN_PREFIX   "pda_" //  a platform admin key (pd_token)

static const char s_usage[] =
    "usage: partnerctl tail STREAM [--from SEQ] [--count N] [--broker EP] [--stream EP]\n"
    "                       [--key FILE] [--partner ID] [--site ID] [--priority P1,P2] [--json]\n"
    "       partnerctl tail " PD_STREAM_ESCALATIONS " --url URL [--api-key KEY] [--from SEQ] ...\n"
    "       partnerctl backup --data DIR --to DIR\n"
    "       partnerctl keys init DIR\n"
    "       partnerctl keys add DIR NAME --role ROLE [--services a,b]\n"
    "\n"
    "tail      follow an event stream (e.g. " PD_STREAM_AUDIT "): the events from --from on\n"
    "          (default: only new ones), then live, one line each (--json: a JSON\n"
    "          object); stops after --count events shown, or on SIGINT/SIGTERM.\n"
    "          With --url, the escalation stream of the partnerd at URL over HTTP\n"
    "          (Server-Sent Events, resumed after a drop): the API key's partner's\n"
    "          events, or every partner's for an admin key\n"
    "backup    copy the store in --data, compacted and consistent even under\n"
    "          load, into directory --to (created if missing; must hold no store)\n"
    "keys      init: make DIR (mode 0700) with the broker's keypair (" PD_KEYS_BROKER_FILE ")\n"
    "          and an empty allow-list (" PD_KEYS_ALLOW_FILE
    "), for `partnerd broker --cluster DIR`\n"
    "          add: make DIR/NAME" PD_KEYS_SUFFIX " (mode 0600) for one process and list its\n"
    "          key; ROLE is gateway, actor (with --services it serves), front or tail.\n"
    "          Restart the broker to admit new keys\n"
    "\n"
    "options:\n"
    "  --broker EP   broker services endpoint   [" S_DEFAULT_BROKER "]\n"
    "  --stream EP   broker stream endpoint     [" S_DEFAULT_STREAM "]\n"
    "  --from SEQ    first sequence number (1 = the whole history)\n"
    "  --count N     stop after N events\n"
    "  --partner ID  only events of this partner\n"
    "  --site ID     only events of this site\n"
    "  --priority L  only events of these priorities (P1,P2)\n"
    "  --json        JSON lines instead of readable ones\n"
    "  --key FILE    CURVE key file (role tail) for a broker with cluster keys\n"
    "  --url URL     partnerd's HTTP address (http://host:8080): tail over HTTP\n"
    "  --api-key K   the API key for --url [$" S_API_KEY_ENV ", better: not in ps]\n"
    "  --allow-http  send the key in clear (http://) to a host other than loopback\n"
    "  --role ROLE   keys add: gateway, actor, front or tail\n"
    "  --services S  keys add, role actor: the services it may serve, a,b,c\n"
    "  --data DIR    partnerd data directory\n"
    "  --to DIR      backup destination\n";

typedef struct {
    const char *command;
    const char *stream;
    const char *broker;
    const char *stream_endpoint;
    uint64_t from;
    uint64_t count;
    const char *data;
    const char *to;
    const char *key;      //  tail: CURVE key file
    const char *role;     //  keys add
    const char *services; //  keys add
    const char *action;   //  keys: init or add
    const char *name;     //  keys add: the process's name
    const char *partner;  //  tail filters
    const char *site;
    const char *priority;
    bool json;
    const char *url;     //  tail over HTTP
    const char *api_key; //  ...with this key
    bool allow_http;     //  ...even in clear to another host
} s_options_t;

static int
s_parse (int argc, char **argv, s_options_t *options)
{
    static const struct option s_long[] = {
        {"from", required_argument, NULL, 'f'},     {"count", required_argument, NULL, 'c'},
        {"broker", required_argument, NULL, 'b'},   {"stream", required_argument, NULL, 's'},
        {"data", required_argument, NULL, 'd'},     {"to", required_argument, NULL, 't'},
        {"key", required_argument, NULL, 'k'},      {"role", required_argument, NULL, 'r'},
        {"services", required_argument, NULL, 'S'}, {"partner", required_argument, NULL, 'P'},
        {"site", required_argument, NULL, 'I'},     {"priority", required_argument, NULL, 'R'},
        {"json", no_argument, NULL, 'j'},           {"url", required_argument, NULL, 'u'},
        {"api-key", required_argument, NULL, 'a'},  {"allow-http", no_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    *options = (s_options_t){.broker = S_DEFAULT_BROKER, .stream_endpoint = S_DEFAULT_STREAM};
    int opt;
    while ((opt = getopt_long (argc, argv, "", s_long, NULL)) != -1) {
        switch (opt) {
        case 'f':
            options->from = strtoull (optarg, NULL, 10);
            break;
        case 'c':
            options->count = strtoull (optarg, NULL, 10);
            break;
        case 'b':
            options->broker = optarg;
            break;
        case 's':
            options->stream_endpoint = optarg;
            break;
        case 'd':
            options->data = optarg;
            break;
        case 't':
            options->to = optarg;
            break;
        case 'k':
            options->key = optarg;
            break;
        case 'r':
            options->role = optarg;
            break;
        case 'S':
            options->services = optarg;
            break;
        case 'P':
            options->partner = optarg;
            break;
        case 'I':
            options->site = optarg;
            break;
        case 'R':
            options->priority = optarg;
            break;
        case 'j':
            options->json = true;
            break;
        case 'u':
            options->url = optarg;
            break;
        case 'a':
            options->api_key = optarg;
            break;
        case 'H':
            options->allow_http = true;
            break;
        case 'h':
            return 1;
        default:
            return -1;
        }
    }
    if (optind < argc)
        options->command = argv[optind++];
    if (options->command && strcmp (options->command, "keys") == 0) {
        //  keys init DIR | keys add DIR NAME
        options->action = optind < argc ? argv[optind++] : NULL;
        options->data = optind < argc ? argv[optind++] : NULL;
        options->name = optind < argc ? argv[optind++] : NULL;
        bool add = options->action && strcmp (options->action, "add") == 0;
        bool init = options->action && strcmp (options->action, "init") == 0;
        return optind == argc && options->data &&
                       ((init && !options->name && !options->role) ||
                        (add && options->name && options->role))
                   ? 0
                   : -1;
    }
    if (optind < argc)
        options->stream = argv[optind++];
    if (!options->command)
        return -1;
    if (strcmp (options->command, "tail") == 0)
        return options->stream && optind == argc ? 0 : -1;
    if (strcmp (options->command, "backup") == 0)
        return options->data && options->to && !options->stream ? 0 : -1;
    return -1;
}

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

//  Does the event pass the filters?
static bool
s_wanted (const s_options_t *options, const pd_event_t *event)
{
    if (options->partner && (!event->partner_id || strcmp (event->partner_id, options->partner)))
        return false;
    if (options->site && (!event->site_id || strcmp (event->site_id, options->site)))
        return false;
    if (options->priority && (!event->priority || !s_listed (options->priority, event->priority)))
        return false;
    return true;
}

//  One readable line: "#12 2026-12-07T20:30:00.123Z escalation.opened P1
//  esc_... site=... count=1 by appliance:... - title"
static void
s_print_line (uint64_t seq, const pd_event_t *event)
{
    char when[32] = "-";
    if (PD_HAS (event, event, at)) {
        time_t seconds = (time_t)(event->at / 1000);
        struct tm tm;
        gmtime_r (&seconds, &tm);
        size_t n = strftime (when, sizeof (when), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf (when + n, sizeof (when) - n, ".%03dZ", (int)(event->at % 1000));
    }
    printf ("#%" PRIu64 " %s %s", seq, when, event->type);
    if (event->priority)
        printf (" %s", event->priority);
    if (event->subject)
        printf (" %s", event->subject);
    if (event->status)
        printf (" status=%s", event->status);
    if (event->target)
        printf (" target=%s", event->target);
    if (event->partner_id)
        printf (" partner=%s", event->partner_id);
    if (event->site_id)
        printf (" site=%s", event->site_id);
    if (PD_HAS (event, event, count) && event->count > 1)
        printf (" count=%" PRId64, event->count);
    if (event->actor)
        printf (" by %s", event->actor);
    if (event->detail)
        printf (" - %s", event->detail);
    putchar ('\n');
}

//  Print one event (if it passes the filters); true if it was printed.
//  `json` is its JSON text (from --url), else `data` its msgpack.
static bool
s_print_event (const s_options_t *options, uint64_t seq, const uint8_t *data, size_t size,
               const char *json_text)
{
    pd_event_t event = {0};
    bool printed = true;
    int rc = json_text ? pd_schema_from_json (&pd_event_schema, json_text, strlen (json_text),
                                              &event, NULL)
                       : pd_schema_decode (&pd_event_schema, data, size, &event, NULL);
    if (rc == PD_OK && json_text)
        rc = pd_schema_validate (&pd_event_schema, &event, NULL);
    if (rc != PD_OK) {
        printf (options->json ? "{\"seq\":%" PRIu64 ",\"error\":\"undecodable event\"}\n"
                              : "#%" PRIu64 " (undecodable event)\n",
                seq);
    } else if (!s_wanted (options, &event))
        printed = false;
    else if (options->json) {
        char *json = pd_schema_to_json (&pd_event_schema, &event);
        if (json && json[0] == '{' && json[1] != '}')
            printf ("{\"seq\":%" PRIu64 ",%s\n", seq, json + 1);
        else
            printf ("{\"seq\":%" PRIu64 ",\"error\":\"undecodable event\"}\n", seq);
        free (json);
    } else
        s_print_line (seq, &event);
    fflush (stdout);
    pd_schema_clear (&pd_event_schema, &event);
    return printed;
}

static int
s_tail (const s_options_t *options)
{
    pd_keys_pair_t keys;
    if (options->key) {
        char error[PD_KEYS_ERROR_MAX];
        if (pd_keys_pair_load (&keys, options->key, true, error, sizeof (error))) {
            fprintf (stderr, "partnerctl: --key: %s\n", error);
            return EXIT_FAILURE;
        }
    }
    pd_stream_t *stream =
        pd_stream_new_curve (options->broker, options->stream_endpoint, options->stream,
                             options->from, options->key ? &keys : NULL);
    if (options->key)
        pd_keys_pair_wipe (&keys);
    if (!stream) {
        fprintf (stderr, "partnerctl: cannot follow %s\n", options->stream);
        return EXIT_FAILURE;
    }
    int status = EXIT_SUCCESS;
    uint64_t printed = 0;
    while (!zsys_interrupted && (options->count == 0 || printed < options->count)) {
        uint64_t seq = 0;
        uint8_t *event = NULL;
        size_t size = 0;
        int rc = pd_stream_next (stream, &seq, &event, &size, S_POLL_MS);
        if (rc == PD_OK) {
            if (s_print_event (options, seq, event, size, NULL))
                printed++;
        } else if (rc != PD_E_TIMEOUT) {
            fprintf (stderr, "partnerctl: %s: %s\n", options->stream, pd_status_code (rc));
            status = EXIT_FAILURE;
            break;
        }
        free (event);
    }
    pd_stream_destroy (&stream);
    return status;
}

//  --------------------------------------------------------------------------
//  tail --url: the escalation stream over HTTP

typedef struct {
    const s_options_t *options;
    uint64_t printed;
} s_remote_t;

static int
s_on_remote_event (uint64_t id, const char *type, const char *data, void *arg)
{
    s_remote_t *remote = (s_remote_t *)arg;
    if (s_print_event (remote->options, id, NULL, 0, data))
        remote->printed++;
    return remote->options->count && remote->printed >= remote->options->count ? 1 : 0;
}

//  Append "&name=value" (value escaped) to url; false if it does not fit
static bool
s_query (char *url, size_t size, const char *name, const char *value)
{
    if (!value)
        return true;
    char *escaped = curl_easy_escape (NULL, value, 0);
    size_t used = strlen (url);
    int length = escaped ? snprintf (url + used, size - used, "%s%s=%s",
                                     strchr (url, '?') ? "&" : "?", name, escaped)
                         : -1;
    curl_free (escaped);
    return length > 0 && (size_t)length < size - used;
}

//  Is the URL's host this machine (where http:// exposes nothing)?
static bool
s_loopback (const char *url)
{
    CURLU *parsed = curl_url ();
    char *host = NULL;
    bool loopback =
        parsed && curl_url_set (parsed, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get (parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        (streq (host, "localhost") || strncmp (host, "127.", 4) == 0 || streq (host, "[::1]"));
    curl_free (host);
    curl_url_cleanup (parsed);
    return loopback;
}

static int
s_tail_url (const s_options_t *options)
{
    if (strcmp (options->stream, PD_STREAM_ESCALATIONS) != 0) {
        fprintf (stderr, "partnerctl: over --url only the %s stream can be followed\n",
                 PD_STREAM_ESCALATIONS);
        return EXIT_FAILURE;
    }
    const char *key = options->api_key ? options->api_key : getenv (S_API_KEY_ENV);
    if (!key || !*key) {
        fprintf (stderr, "partnerctl: --url needs an API key ($%s or --api-key)\n", S_API_KEY_ENV);
        return EXIT_FAILURE;
    }
    if (strncmp (options->url, "https://", 8) != 0 && strncmp (options->url, "http://", 7) != 0) {
        fprintf (stderr, "partnerctl: --url must be http:// or https://\n");
        return EXIT_FAILURE;
    }
    if (strncmp (options->url, "http://", 7) == 0 && !options->allow_http &&
        !s_loopback (options->url)) {
        fprintf (stderr,
                 "partnerctl: %s would send the API key in clear: use https://, or "
                 "--allow-http on a network you trust\n",
                 options->url);
        return EXIT_FAILURE;
    }
    //  The key is in this process's memory: no core dump of it
    prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);
    zsys_catch_interrupts (); //  SIGINT/SIGTERM end the tail cleanly (exit 0)
    bool admin = strncmp (key, S_ADMIN_PREFIX, strlen (S_ADMIN_PREFIX)) == 0;
    size_t base = strlen (options->url);
    while (base && options->url[base - 1] == '/')
        base--;
    char url[S_URL_MAX];
    snprintf (url, sizeof (url), "%.*s%s", (int)base, options->url,
              admin ? "/api/admin/escalations/stream" : "/api/partners/me/escalations/stream");
    char from[32];
    snprintf (from, sizeof (from), "%" PRIu64, options->from);
    //  The server filters too (the partner filter is an admin's; a partner
    //  key's stream is its own partner's anyway, and filtered here)
    if (!s_query (url, sizeof (url), "from", options->from ? from : NULL) ||
        !s_query (url, sizeof (url), "site_id", options->site) ||
        !s_query (url, sizeof (url), "priority", options->priority) ||
        !s_query (url, sizeof (url), "partner_id", admin ? options->partner : NULL)) {
        fprintf (stderr, "partnerctl: --url and filters too long\n");
        return EXIT_FAILURE;
    }
    curl_global_init (CURL_GLOBAL_DEFAULT);
    pd_sse_client_t *client = pd_sse_client_new (url, key, 0, stderr);
    int status = EXIT_FAILURE;
    if (client) {
        s_remote_t remote = {options, 0};
        char error[PD_SSE_CLIENT_ERROR_MAX];
        int rc = pd_sse_client_run (client, s_on_remote_event, &remote, error, sizeof (error));
        if (rc < 0)
            fprintf (stderr, "partnerctl: %s: %s\n", url, error);
        else
            status = EXIT_SUCCESS;
        pd_sse_client_destroy (&client);
    } else
        fprintf (stderr, "partnerctl: out of memory\n");
    curl_global_cleanup ();
    return status;
}

//  Copy file `name` of directory `from` into `to` (mode 0600, synced):
//  1 copied, 0 not there, -1 failed (said)
static int
s_copy_file (const char *from, const char *to, const char *name)
{
    char source[S_PATH_MAX], target[S_PATH_MAX];
    snprintf (source, sizeof (source), "%s/%s", from, name);
    snprintf (target, sizeof (target), "%s/%s", to, name);
    int in = open (source, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0)
        return errno == ENOENT ? 0 : -1;
    int out = open (target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    int rc = out >= 0 ? 1 : -1;
    char buffer[4096];
    ssize_t got;
    while (rc == 1 && (got = read (in, buffer, sizeof (buffer))) != 0)
        rc = got > 0 && write (out, buffer, (size_t)got) == got ? 1 : -1;
    if (rc == 1 && fsync (out) != 0)
        rc = -1;
    if (out >= 0 && close (out) != 0)
        rc = -1;
    close (in);
    explicit_bzero (buffer, sizeof (buffer)); //  key material
    if (rc < 0)
        fprintf (stderr, "partnerctl: cannot copy %s to %s: %s\n", source, to, strerror (errno));
    return rc;
}

static int
s_backup (const s_options_t *options)
{
    if (mkdir (options->to, 0700) != 0 && errno != EEXIST) {
        fprintf (stderr, "partnerctl: cannot create %s: %s\n", options->to, strerror (errno));
        return EXIT_FAILURE;
    }
    pd_store_config_t config = {pd_store_table_names, 0, 0, NULL, NULL};
    pd_store_t *store = pd_store_new (options->data, &config);
    if (!store)
        return EXIT_FAILURE;
    int rc = pd_store_backup (store, options->to);
    pd_store_destroy (&store);
    if (rc != PD_OK) {
        fprintf (stderr, "partnerctl: backup to %s failed: %s\n", options->to, pd_status_code (rc));
        return EXIT_FAILURE;
    }
    //  The keys beside the store: without them a restore is not whole
    const char *files[] = PD_DATA_FILES;
    for (size_t i = 0; i < sizeof (files) / sizeof (files[0]); i++) {
        int copied = s_copy_file (options->data, options->to, files[i]);
        if (copied < 0)
            return EXIT_FAILURE;
        if (copied)
            printf ("partnerctl: %s copied (mode 0600: it holds keys)\n", files[i]);
    }
    printf ("partnerctl: backup written to %s\n", options->to);
    return EXIT_SUCCESS;
}

static int
s_keys (const s_options_t *options)
{
    char error[PD_KEYS_ERROR_MAX];
    char path[S_PATH_MAX];
    pd_keys_role_t role;
    if (strcmp (options->action, "init") == 0) {
        if (pd_keys_cluster_init (options->data, error, sizeof (error))) {
            fprintf (stderr, "partnerctl: %s\n", error);
            return EXIT_FAILURE;
        }
        printf ("partnerctl: cluster keys in %s; start the broker with --cluster %s\n",
                options->data, options->data);
        return EXIT_SUCCESS;
    }
    if (pd_keys_role_parse (options->role, &role)) {
        fprintf (stderr, "partnerctl: unknown role '%s' (gateway, actor, front, tail)\n",
                 options->role);
        return EXIT_FAILURE;
    }
    if (pd_keys_cluster_add (options->data, options->name, role, options->services, path,
                             sizeof (path), error, sizeof (error))) {
        fprintf (stderr, "partnerctl: %s\n", error);
        return EXIT_FAILURE;
    }
    printf ("partnerctl: key of %s (role %s) written to %s; give it to that process with "
            "--key, and restart the broker to admit it\n",
            options->name, options->role, path);
    return EXIT_SUCCESS;
}

int
main (int argc, char **argv)
{
    s_options_t options;
    int parsed = s_parse (argc, argv, &options);
    if (parsed != 0) {
        fputs (s_usage, parsed > 0 ? stdout : stderr);
        return parsed > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    }
    if (strcmp (options.command, "tail") == 0)
        return options.url ? s_tail_url (&options) : s_tail (&options);
    if (strcmp (options.command, "keys") == 0)
        return s_keys (&options);
    return s_backup (&options);
}
