/*  pd-simulator - simulated appliances on the partnerd appliance link

    Built on the appliance SDK only (sdk/pd_appliance.h). One appliance
    claims a given code; or N appliances get codes through the partner API
    (HTTP) and claim them. Then all of them heartbeat and answer commands
    from ONE thread that polls every socket, until --duration or a signal.
*/
#include <czmq.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pd_appliance.h"
#include "pd_json.h"
#include "pd_status.h"

#define S_CLAIM_TIMEOUT_MS  10000 //  per claim
#define S_REPORT_TIMEOUT_MS 3000  //  per report of an appliance claimed before
#define S_HTTP_TIMEOUT_S    10
#define S_HTTP_BODY_MAX     (64 * 1024)
#define S_POLL_MAX_MS       1000 //  longest single wait of the loop
#define S_COUNT_MAX         100000
#define S_PATH_MAX          1024

typedef struct {
    const char *endpoint;   //  --endpoint
    const char *server_key; //  --server-key (Z85)
    const char *code;       //  --code
    const char *api;        //  --api base URL
    const char *partner_key;
    const char *mac_prefix; //  three octets, "02:00:00"
    const char *keys_dir;   //  NULL: fresh keys every run
    long count;
    long heartbeat_ms;
    double duration_s; //  0 = until a signal
    //  --escalate: one escalation from each appliance once it is claimed
    pd_appliance_escalation_t escalation;
    const char *until_ticket; //  --until-ticket STATUS
    //  What --claim-url held (percent-decoded), pointed to by the above
    char url_code[32];
    char url_endpoint[S_PATH_MAX];
    char url_key[PD_APPLIANCE_KEY_LEN + 1];
} s_options_t;

typedef struct {
    pd_appliance_t *link;
    char public_key[PD_APPLIANCE_KEY_LEN + 1];
    char secret_key[PD_APPLIANCE_KEY_LEN + 1];
    char mac[18];
    char code[32];
    bool claimed;      //  claimed now or in an earlier run (--keys-dir)
    bool closed;       //  partnerd closed its link for good (revoked)
    const char *until; //  --until-ticket: the status awaited (NULL: none)
    bool reached;      //  its ticket (or any, if it raised none) became it
    char ticket[65];   //  the ticket it raised in this run ("": none)
} s_sim_t;

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: pd-simulator --claim-url URL\n"
                  "       pd-simulator --endpoint tcp://HOST:PORT --server-key Z85\n"
                  "                    (--code CODE | --api URL --partner-key pdp_...)\n"
                  "                    [--count N] [--heartbeat-ms MS] [--duration S]\n"
                  "                    [--mac-prefix 02:00:00] [--keys-dir DIR]\n"
                  "                    [--escalate P1..P4 [--title T] [--details D]\n"
                  "                     [--dedup-key K] [--incident-id I] [--category C]]\n"
                  "                    [--until-ticket STATUS]\n"
                  "\n"
                  "Simulated appliances on partnerd's CurveZMQ appliance link.\n"
                  "  --claim-url     what a provision code's QR code holds: its code, the\n"
                  "                  appliance endpoint and the front's key, as an appliance\n"
                  "                  that scanned it would use them\n"
                  "  --endpoint      partnerd's appliance front\n"
                  "  --server-key    the front's public key (Z85, 40 characters)\n"
                  "  --code          claim this provision code with one appliance and print\n"
                  "                  the claim result as one JSON line\n"
                  "  --api, --partner-key\n"
                  "                  create --count provision codes through the partner API\n"
                  "                  (POST URL/api/partners/me/provisions) and claim them all\n"
                  "  --count         number of appliances (default 1)\n"
                  "  --heartbeat-ms  heartbeat interval (default 10000)\n"
                  "  --duration      seconds to run after the claims (default 0: until\n"
                  "                  SIGINT/SIGTERM)\n"
                  "  --mac-prefix    first three octets of the MAC addresses\n"
                  "  --keys-dir      keep keypairs (mode 0600) and claim results there: a\n"
                  "                  restarted simulator is the same appliances\n"
                  "  --escalate      each appliance raises one L3 escalation of this priority\n"
                  "                  (P1..P4 or critical|high|medium|low) over its link once\n"
                  "                  claimed, and prints its ticket as one JSON line\n"
                  "  --title, --details, --dedup-key, --incident-id, --category\n"
                  "                  its fields (title default \"Simulated L3 escalation\";\n"
                  "                  details: text or a JSON object)\n"
                  "  --until-ticket  stop once the ticket each appliance raised (with\n"
                  "                  --escalate; else any of its tickets) has become STATUS\n"
                  "                  (acknowledged, resolved, open); an error if --duration\n"
                  "                  ends first\n"
                  "Commands answered: ping -> pong, scan -> a JSON asset list. Changes of\n"
                  "the appliances' tickets (acknowledged, resolved, re-opened) are printed\n"
                  "as JSON lines {\"ticket_changed\":ID,\"status\":...}.\n"
                  "At the end: \"simulator: N claimed, H heartbeats sent, C commands answered,\n"
                  "E errors\"; exit status 0 without errors, 1 with, 2 on bad usage.\n");
}

//  Query parameter `name` of url, percent-decoded into out; 0 or -1
static int
s_url_param (const char *url, const char *name, char *out, size_t size)
{
    const char *query = strchr (url, '?');
    size_t name_len = strlen (name);
    for (const char *pair = query ? query + 1 : NULL; pair && *pair;) {
        size_t len = strcspn (pair, "&");
        if (len > name_len && strncmp (pair, name, name_len) == 0 && pair[name_len] == '=') {
            size_t used = 0;
            for (const char *c = pair + name_len + 1; c < pair + len; c++) {
                unsigned int byte = (unsigned char)*c;
                if (*c == '%' && c + 2 < pair + len && sscanf (c + 1, "%2x", &byte) == 1)
                    c += 2;
                if (used + 1 >= size)
                    return -1;
                out[used++] = (char)byte;
            }
            out[used] = '\0';
            return 0;
        }
        pair += len + (pair[len] == '&');
    }
    return -1;
}

//  --claim-url: the code, endpoint and server key it carries
static int
s_claim_url (s_options_t *options, const char *url)
{
    if (s_url_param (url, "code", options->url_code, sizeof (options->url_code)) ||
        s_url_param (url, "endpoint", options->url_endpoint, sizeof (options->url_endpoint)) ||
        s_url_param (url, "key", options->url_key, sizeof (options->url_key))) {
        fprintf (stderr, "simulator: --claim-url needs code, endpoint and key parameters\n");
        return -1;
    }
    options->code = options->url_code;
    options->endpoint = options->url_endpoint;
    options->server_key = options->url_key;
    return 0;
}

static int
s_parse_options (int argc, char *argv[], s_options_t *options)
{
    static const struct option long_options[] = {{"endpoint", required_argument, NULL, 'e'},
                                                 {"server-key", required_argument, NULL, 's'},
                                                 {"code", required_argument, NULL, 'c'},
                                                 {"api", required_argument, NULL, 'a'},
                                                 {"partner-key", required_argument, NULL, 'p'},
                                                 {"count", required_argument, NULL, 'n'},
                                                 {"heartbeat-ms", required_argument, NULL, 'b'},
                                                 {"duration", required_argument, NULL, 'd'},
                                                 {"mac-prefix", required_argument, NULL, 'm'},
                                                 {"keys-dir", required_argument, NULL, 'k'},
                                                 {"claim-url", required_argument, NULL, 'u'},
                                                 {"escalate", required_argument, NULL, 'E'},
                                                 {"title", required_argument, NULL, 'T'},
                                                 {"details", required_argument, NULL, 'D'},
                                                 {"dedup-key", required_argument, NULL, 'K'},
                                                 {"incident-id", required_argument, NULL, 'I'},
                                                 {"category", required_argument, NULL, 'C'},
                                                 {"until-ticket", required_argument, NULL, 'U'},
                                                 {"help", no_argument, NULL, 'h'},
                                                 {NULL, 0, NULL, 0}};
    *options = (s_options_t){.mac_prefix = "02:00:00", .count = 1, .heartbeat_ms = 10000};
    int option;
    char *end;
    while ((option = getopt_long (argc, argv, "h", long_options, NULL)) != -1) {
        switch (option) {
        case 'e':
            options->endpoint = optarg;
            break;
        case 's':
            options->server_key = optarg;
            break;
        case 'c':
            options->code = optarg;
            break;
        case 'u':
            if (s_claim_url (options, optarg) != 0)
                return -1;
            break;
        case 'a':
            options->api = optarg;
            break;
        case 'p':
            options->partner_key = optarg;
            break;
        case 'm':
            options->mac_prefix = optarg;
            break;
        case 'k':
            options->keys_dir = optarg;
            break;
        case 'n':
            options->count = strtol (optarg, &end, 10);
            if (*end || options->count < 1 || options->count > S_COUNT_MAX) {
                fprintf (stderr, "simulator: --count must be 1..%d\n", S_COUNT_MAX);
                return -1;
            }
            break;
        case 'b':
            options->heartbeat_ms = strtol (optarg, &end, 10);
            if (*end || options->heartbeat_ms < 10 || options->heartbeat_ms > 3600000) {
                fprintf (stderr, "simulator: --heartbeat-ms must be 10..3600000\n");
                return -1;
            }
            break;
        case 'd':
            options->duration_s = strtod (optarg, &end);
            if (*end || options->duration_s < 0) {
                fprintf (stderr, "simulator: --duration must be seconds >= 0\n");
                return -1;
            }
            break;
        case 'E':
            options->escalation.priority = optarg;
            break;
        case 'T':
            options->escalation.title = optarg;
            break;
        case 'D':
            options->escalation.details = optarg;
            break;
        case 'K':
            options->escalation.dedup_key = optarg;
            break;
        case 'I':
            options->escalation.incident_id = optarg;
            break;
        case 'C':
            options->escalation.category = optarg;
            break;
        case 'U':
            options->until_ticket = optarg;
            break;
        case 'h':
            s_usage (stdout);
            exit (0);
        default:
            return -1;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "simulator: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!options->endpoint || !options->server_key) {
        fprintf (stderr, "simulator: --endpoint and --server-key are required\n");
        return -1;
    }
    if (strlen (options->server_key) != PD_APPLIANCE_KEY_LEN) {
        fprintf (stderr, "simulator: --server-key must be a Z85 key of %d characters\n",
                 PD_APPLIANCE_KEY_LEN);
        return -1;
    }
    bool by_api = options->api || options->partner_key;
    if (!options->code == !by_api || (by_api && !(options->api && options->partner_key))) {
        fprintf (stderr, "simulator: give either --code, or --api with --partner-key\n");
        return -1;
    }
    if (options->code && options->count != 1) {
        fprintf (stderr, "simulator: --code claims one appliance (--count 1)\n");
        return -1;
    }
    const pd_appliance_escalation_t *escalation = &options->escalation;
    if (!escalation->priority &&
        (escalation->title || escalation->details || escalation->dedup_key ||
         escalation->incident_id || escalation->category)) {
        fprintf (stderr, "simulator: --title, --details, --dedup-key, --incident-id and "
                         "--category go with --escalate\n");
        return -1;
    }
    if (escalation->priority && !escalation->title)
        options->escalation.title = "Simulated L3 escalation";
    unsigned a, b, c;
    char extra;
    if (sscanf (options->mac_prefix, "%2x:%2x:%2x%c", &a, &b, &c, &extra) != 3 ||
        strlen (options->mac_prefix) != 8) {
        fprintf (stderr, "simulator: --mac-prefix must be three octets, e.g. 02:00:00\n");
        return -1;
    }
    return 0;
}

//  Thousands of sockets need thousands of descriptors
static void
s_raise_nofile (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit (RLIMIT_NOFILE, &limit) != 0)
            fprintf (stderr, "simulator: cannot raise the open-file limit: %s\n", strerror (errno));
    }
}

//  --------------------------------------------------------------------------
//  Keys and claim results kept in --keys-dir

static void
s_path (char *path, const s_options_t *options, long index, const char *suffix)
{
    snprintf (path, S_PATH_MAX, "%s/appliance-%05ld.%s", options->keys_dir, index, suffix);
}

//  Load the keypair of appliance `index`, or make one (and save it).
static int
s_keys (const s_options_t *options, long index, s_sim_t *sim)
{
    char path[S_PATH_MAX] = "";
    if (options->keys_dir) {
        s_path (path, options, index, "key");
        FILE *file = fopen (path, "r");
        if (file) {
            struct stat info;
            int rc = -1;
            if (fstat (fileno (file), &info) != 0 || (info.st_mode & 077))
                fprintf (stderr, "simulator: %s: refused, mode must be 0600\n", path);
            else if (fscanf (file, "%40s %40s", sim->public_key, sim->secret_key) != 2 ||
                     strlen (sim->public_key) != PD_APPLIANCE_KEY_LEN ||
                     strlen (sim->secret_key) != PD_APPLIANCE_KEY_LEN)
                fprintf (stderr, "simulator: %s: not a keypair\n", path);
            else
                rc = 0;
            fclose (file);
            return rc;
        }
    }
    if (pd_appliance_keypair (sim->public_key, sim->secret_key) != 0) {
        fprintf (stderr, "simulator: cannot make a CURVE keypair (libzmq without CURVE?)\n");
        return -1;
    }
    if (options->keys_dir) {
        int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        FILE *file = fd >= 0 ? fdopen (fd, "w") : NULL;
        if (!file || fprintf (file, "%s\n%s\n", sim->public_key, sim->secret_key) < 0) {
            fprintf (stderr, "simulator: cannot write %s: %s\n", path, strerror (errno));
            if (file)
                fclose (file);
            else if (fd >= 0)
                close (fd);
            return -1;
        }
        if (fclose (file) != 0)
            return -1;
    }
    return 0;
}

//  The claim result as one JSON line (caller frees)
static char *
s_claim_json (const s_sim_t *sim, const pd_appliance_claimed_t *claimed)
{
    json_t *object = json_pack (
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "appliance_id", claimed->appliance_id, "site_id",
        claimed->site_id, "site_name", claimed->site_name, "partner_id", claimed->partner_id,
        "partner_name", claimed->partner_name, "mac", sim->mac, "public_key", sim->public_key);
    char *text = object ? json_dumps (object, JSON_COMPACT) : NULL;
    json_decref (object);
    return text;
}

//  A claim result saved by an earlier run (caller frees), or NULL
static char *
s_saved_claim (const s_options_t *options, long index)
{
    if (!options->keys_dir)
        return NULL;
    char path[S_PATH_MAX];
    s_path (path, options, index, "json");
    json_t *saved = json_load_file (path, 0, NULL);
    char *text = saved ? json_dumps (saved, JSON_COMPACT) : NULL;
    json_decref (saved);
    return text;
}

static void
s_save_claim (const s_options_t *options, long index, const char *text)
{
    if (!options->keys_dir)
        return;
    char path[S_PATH_MAX];
    s_path (path, options, index, "json");
    FILE *file = fopen (path, "w");
    if (!file || fprintf (file, "%s\n", text) < 0)
        fprintf (stderr, "simulator: cannot write %s\n", path);
    if (file)
        fclose (file);
}

//  --------------------------------------------------------------------------
//  Provision codes through the partner API

typedef struct {
    char *data;
    size_t size;
} s_buffer_t;

static size_t
s_write (char *data, size_t size, size_t count, void *arg)
{
    s_buffer_t *buffer = arg;
    size_t bytes = size * count;
    if (buffer->size + bytes > S_HTTP_BODY_MAX)
        return 0;
    char *grown = realloc (buffer->data, buffer->size + bytes + 1);
    if (!grown)
        return 0;
    memcpy (grown + buffer->size, data, bytes);
    buffer->data = grown;
    buffer->size += bytes;
    buffer->data[buffer->size] = 0;
    return bytes;
}

//  POST a provision, copy its code into sim->code. 0 or -1 (printed).
static int
s_create_code (CURL *curl, const s_options_t *options, long index, s_sim_t *sim)
{
    char url[S_PATH_MAX], key_header[512], body[256];
    snprintf (url, sizeof (url), "%s/api/partners/me/provisions", options->api);
    snprintf (key_header, sizeof (key_header), "X-API-Key: %s", options->partner_key);
    snprintf (body, sizeof (body), "{\"site_name\":\"Simulated site %d-%ld\"}", (int)getpid (),
              index);
    struct curl_slist *headers = curl_slist_append (NULL, key_header);
    headers = curl_slist_append (headers, "Content-Type: application/json");
    s_buffer_t response = {0};
    curl_easy_reset (curl);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, (long)S_HTTP_TIMEOUT_S);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, &response);
    CURLcode code = curl_easy_perform (curl);
    long status = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all (headers);
    int rc = -1;
    if (code != CURLE_OK)
        fprintf (stderr, "simulator: POST %s: %s\n", url, curl_easy_strerror (code));
    else if (status != 201 && status != 200)
        fprintf (stderr, "simulator: POST %s: HTTP %ld %.300s\n", url, status,
                 response.data ? response.data : "");
    else {
        json_t *json = pd_json_load (response.data ? response.data : "", response.size,
                                     PD_JSON_MAX_DEPTH, 0, NULL);
        const char *text = json_string_value (json_object_get (json, "code"));
        if (text && strlen (text) < sizeof (sim->code)) {
            snprintf (sim->code, sizeof (sim->code), "%s", text);
            rc = 0;
        } else
            fprintf (stderr, "simulator: POST %s: no code in the answer\n", url);
        json_decref (json);
    }
    free (response.data);
    return rc;
}

//  --------------------------------------------------------------------------
//  Commands

static int
s_handle_command (const char *command, const char *payload, char **output, void *arg)
{
    const s_sim_t *sim = arg;
    if (streq (command, "ping")) {
        *output = strdup ("pong");
        return *output ? 0 : PD_E_INTERNAL;
    }
    if (streq (command, "scan")) {
        char text[512];
        snprintf (text, sizeof (text),
                  "{\"assets\":[{\"ip\":\"192.168.1.1\",\"mac\":\"%s\",\"kind\":\"router\"},"
                  "{\"ip\":\"192.168.1.20\",\"mac\":\"02:11:22:33:44:55\",\"kind\":\"printer\"},"
                  "{\"ip\":\"192.168.1.31\",\"mac\":\"02:11:22:33:44:66\",\"kind\":\"nas\"}]}",
                  sim->mac);
        *output = strdup (text);
        return *output ? 0 : PD_E_INTERNAL;
    }
    return PD_E_UNKNOWN_TYPE;
}

//  --------------------------------------------------------------------------

static pd_appliance_ticket_fn s_on_ticket;

//  Set up appliance `index`: keys, link, code, claim. Returns 0, or -1
//  after printing why.
static int
s_start_one (const s_options_t *options, CURL *curl, long index, unsigned mac_base, s_sim_t *sim)
{
    unsigned low = (mac_base + (unsigned)index + 1) & 0xffffff;
    snprintf (sim->mac, sizeof (sim->mac), "%s:%02x:%02x:%02x", options->mac_prefix,
              (low >> 16) & 0xff, (low >> 8) & 0xff, low & 0xff);
    if (s_keys (options, index, sim) != 0)
        return -1;
    pd_appliance_config_t config = {options->endpoint, options->server_key, sim->public_key,
                                    sim->secret_key, (int)options->heartbeat_ms};
    sim->link = pd_appliance_new (&config);
    if (!sim->link) {
        fprintf (stderr, "simulator: cannot connect to %s (bad endpoint or key?)\n",
                 options->endpoint);
        return -1;
    }
    sim->until = options->until_ticket;
    pd_appliance_on_ticket (sim->link, s_on_ticket, sim);
    char error[256];
    char *saved = s_saved_claim (options, index);
    if (saved) {
        //  Claimed in an earlier run: check that the link still admits us
        int rc = pd_appliance_report (sim->link, "running", NULL, NULL, S_REPORT_TIMEOUT_MS, error,
                                      sizeof (error));
        if (options->code)
            printf ("%s\n", saved);
        free (saved);
        if (rc != 0) {
            fprintf (stderr, "simulator: appliance %ld: report refused: %s (%s)\n", index,
                     pd_status_code (rc), error);
            return -1;
        }
        sim->claimed = true;
        return 0;
    }
    if (options->code)
        snprintf (sim->code, sizeof (sim->code), "%s", options->code);
    else if (s_create_code (curl, options, index, sim) != 0)
        return -1;
    pd_appliance_claimed_t claimed;
    char hostname[64];
    snprintf (hostname, sizeof (hostname), "sim-%ld", index);
    int rc = pd_appliance_claim (sim->link, sim->code, sim->mac, hostname, S_CLAIM_TIMEOUT_MS,
                                 &claimed, error, sizeof (error));
    if (rc != 0) {
        fprintf (stderr, "simulator: claim of appliance %ld failed: %s (%s)\n", index,
                 pd_status_code (rc), error);
        return -1;
    }
    sim->claimed = true;
    char *text = s_claim_json (sim, &claimed);
    if (text) {
        if (options->code)
            printf ("%s\n", text);
        s_save_claim (options, index, text);
    }
    free (text);
    fflush (stdout);
    return 0;
}

//  A change of a ticket an appliance raised: one JSON line (the local
//  incident an agent would close or re-open)
static int
s_on_ticket (const pd_appliance_ticket_t *ticket, void *arg)
{
    s_sim_t *sim = arg;
    if (sim->until && ticket->status && streq (ticket->status, sim->until) &&
        (!*sim->ticket || (ticket->id && streq (ticket->id, sim->ticket))))
        sim->reached = true;
    json_t *object = json_pack ("{s:s, s:s?, s:s?, s:I, s:s?, s:s?, s:s?}", "ticket_changed",
                                ticket->id, "status", ticket->status, "mac", sim->mac, "version",
                                (json_int_t)ticket->version, "by", ticket->by, "note", ticket->note,
                                "incident_id", ticket->incident_id);
    char *text = object ? json_dumps (object, JSON_COMPACT) : NULL;
    if (text)
        printf ("%s\n", text);
    fflush (stdout);
    free (text);
    json_decref (object);
    return object ? 0 : PD_E_INTERNAL;
}

//  --escalate: raise it from appliance `index`, print its ticket. 0 or -1.
static int
s_escalate (const s_options_t *options, long index, s_sim_t *sim)
{
    pd_appliance_escalation_t escalation = options->escalation;
    char host[64];
    snprintf (host, sizeof (host), "sim-%ld", index);
    escalation.host = host;
    pd_appliance_receipt_t receipt;
    char error[256];
    int rc = pd_appliance_escalate (sim->link, &escalation, S_REPORT_TIMEOUT_MS, &receipt, error,
                                    sizeof (error));
    if (rc != 0) {
        fprintf (stderr, "simulator: escalation of appliance %ld refused: %s (%s)\n", index,
                 pd_status_code (rc), error);
        return -1;
    }
    snprintf (sim->ticket, sizeof (sim->ticket), "%s", receipt.id);
    json_t *object =
        json_pack ("{s:s, s:s, s:b, s:b, s:s, s:I}", "ticket", receipt.id, "host", host, "created",
                   receipt.created, "reopened", receipt.reopened, "status", receipt.status,
                   "occurrence_count", (json_int_t)receipt.occurrence_count);
    char *text = object ? json_dumps (object, JSON_COMPACT) : NULL;
    if (text)
        printf ("%s\n", text);
    fflush (stdout);
    free (text);
    json_decref (object);
    return 0;
}

//  Heartbeat and answer commands from one thread until the end time (0 =
//  until a signal)
static void
s_run (s_sim_t *sims, long count, int64_t end)
{
    zmq_pollitem_t *items = (zmq_pollitem_t *)calloc ((size_t)count, sizeof (zmq_pollitem_t));
    long *which = (long *)calloc ((size_t)count, sizeof (long));
    if (!items || !which) {
        free (items);
        free (which);
        return;
    }
    long active = 0;
    for (long i = 0; i < count; i++)
        if (sims[i].claimed && sims[i].link) {
            items[active] = (zmq_pollitem_t){zsock_resolve (pd_appliance_sock (sims[i].link)), 0,
                                             ZMQ_POLLIN, 0};
            which[active++] = i;
        }
    while (!zsys_interrupted) {
        int64_t now = zclock_mono ();
        if (end && now >= end)
            break;
        long wait = S_POLL_MAX_MS;
        for (long k = 0; k < active; k++) {
            if (sims[which[k]].closed)
                continue;
            int due = pd_appliance_due_ms (sims[which[k]].link);
            if (due < wait)
                wait = due;
        }
        if (end && end - now < wait)
            wait = (long)(end - now);
        if (zmq_poll (items, (int)active, wait) < 0 && errno != EINTR)
            break;
        long open = 0, waiting = 0;
        for (long k = 0; k < active; k++) {
            s_sim_t *sim = &sims[which[k]];
            if (sim->closed)
                continue;
            if ((items[k].revents & ZMQ_POLLIN) || pd_appliance_due_ms (sim->link) == 0)
                pd_appliance_poll (sim->link, 0, s_handle_command, sim);
            char reason[256];
            int closed = pd_appliance_closed (sim->link, reason, sizeof (reason));
            if (closed) {
                //  Revoked: the server refuses this key from now on
                printf ("appliance %ld: link closed by partnerd: %s (%s)\n", which[k] + 1, reason,
                        pd_status_code (closed));
                fflush (stdout);
                sim->closed = true;
                items[k].events = 0;
            } else {
                open++;
                waiting += sim->until && !sim->reached;
            }
        }
        if (active > 0 && sims[which[0]].until && waiting == 0)
            break; //  --until-ticket: every appliance's ticket got there
        if (active > 0 && open == 0)
            break; //  every link was closed: nothing left to run
    }
    free (items);
    free (which);
}

int
main (int argc, char *argv[])
{
    s_options_t options;
    if (s_parse_options (argc, argv, &options) != 0) {
        fprintf (stderr, "simulator: see pd-simulator --help\n");
        return 2;
    }
    s_raise_nofile ();
    zsys_init (); //  SIGINT/SIGTERM set zsys_interrupted
    if (options.keys_dir && mkdir (options.keys_dir, 0700) != 0 && errno != EEXIST) {
        fprintf (stderr, "simulator: cannot create %s: %s\n", options.keys_dir, strerror (errno));
        return 1;
    }
    CURL *curl = NULL;
    if (options.api) {
        curl_global_init (CURL_GLOBAL_DEFAULT);
        curl = curl_easy_init ();
    }
    s_sim_t *sims = (s_sim_t *)calloc ((size_t)options.count, sizeof (s_sim_t));
    if (!sims) {
        fprintf (stderr, "simulator: out of memory\n");
        return 1;
    }
    //  Fresh appliances get fresh MACs; kept ones keep theirs
    unsigned mac_base = options.keys_dir ? 0 : ((unsigned)getpid () & 0xffff) << 8;
    long claimed = 0, errors = 0;
    for (long i = 0; i < options.count && !zsys_interrupted; i++) {
        if (s_start_one (&options, curl, i, mac_base, &sims[i]) != 0)
            errors++;
        if (sims[i].claimed)
            claimed++;
    }
    for (long i = 0; i < options.count && options.escalation.priority && !zsys_interrupted; i++)
        if (sims[i].claimed && s_escalate (&options, i, &sims[i]) != 0)
            errors++;
    int64_t end =
        options.duration_s > 0 ? zclock_mono () + (int64_t)(options.duration_s * 1000.0) : 0;
    s_run (sims, options.count, end);
    for (long i = 0; i < options.count && options.until_ticket; i++)
        if (sims[i].claimed && !sims[i].closed && !sims[i].reached) {
            fprintf (stderr, "simulator: appliance %ld: no ticket became %s in time\n", i,
                     options.until_ticket);
            errors++;
        }

    uint64_t heartbeats = 0, commands = 0;
    for (long i = 0; i < options.count; i++) {
        pd_appliance_stats_t stats = {0};
        pd_appliance_stats (sims[i].link, &stats);
        heartbeats += stats.heartbeats;
        commands += stats.commands;
        pd_appliance_destroy (&sims[i].link);
    }
    free (sims);
    if (curl) {
        curl_easy_cleanup (curl);
        curl_global_cleanup ();
    }
    printf ("simulator: %ld claimed, %llu heartbeats sent, %llu commands answered, %ld errors\n",
            claimed, (unsigned long long)heartbeats, (unsigned long long)commands, errors);
    fflush (stdout);
    return errors ? 1 : 0;
}
