/*  test_appliance_link - appliances on the CurveZMQ link of a real partnerd

    One all-in-one partnerd on loopback ports with a fresh data directory
    and its appliance front; partner, codes and site details over real HTTP;
    appliances through the SDK (sdk/pd_appliance.h) in this process, and
    twenty more from the pd-simulator program. Every wait is bounded.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pd_appliance.h"
#include "pd_status.h"
#include "pd_testutil.h"

#define S_START_MS     20000 //  partnerd readiness
#define S_CLAIM_MS     10000
#define S_REPORT_MS    3000
#define S_STATE_MS     15000 //  online/offline to show in the site detail
#define S_RESTART_MS   30000 //  the same appliance answered after a restart
#define S_SIM_COUNT    20
#define S_SIM_WAIT_MS  60000
#define S_HEARTBEAT_MS 200
#define S_KEY_MARKER   "server key "
#define S_TEST_MAC     "02:00:00:aa:00:01"

typedef struct {
    char *dir;
    char config[512]; //  --config file
    pd_proc_t *server;
    char http[64];
    char base[96];     //  http://127.0.0.1:PORT
    char endpoint[64]; //  appliance front, tcp://127.0.0.1:PORT
    char server_key[PD_APPLIANCE_KEY_LEN + 1];
    char *admin_key;
    char partner_key[128];
} s_fixture_t;

static s_fixture_t s_fx;

static int64_t
s_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static long
s_call (const char *method, const char *path, const char *key, const char *body,
        pd_test_http_t *response)
{
    char url[512];
    snprintf (url, sizeof (url), "%s%s", s_fx.base, path);
    assert_int_equal (pd_test_http (method, url, key, body, NULL, response), 0);
    return response->status;
}

//  Start partnerd on the fixture's ports and data; read the front's key
static int
s_start (void)
{
    const char *args[] = {"--data",      s_fx.dir,   "--http",    s_fx.http, "--appliance-bind",
                          s_fx.endpoint, "--config", s_fx.config, NULL};
    s_fx.server = pd_proc_start (args, S_START_MS);
    if (!s_fx.server)
        return -1;
    char line[256] = "";
    if (!pd_proc_line_after (s_fx.server, S_KEY_MARKER, line, sizeof (line)) ||
        strlen (line) < PD_APPLIANCE_KEY_LEN) {
        fprintf (stderr, "test: partnerd printed no appliance front key\n");
        return -1;
    }
    snprintf (s_fx.server_key, sizeof (s_fx.server_key), "%.*s", PD_APPLIANCE_KEY_LEN, line);
    return 0;
}

static int
s_setup (void **state)
{
    s_fx.dir = pd_test_tmpdir ();
    if (!s_fx.dir)
        return -1;
    snprintf (s_fx.http, sizeof (s_fx.http), "127.0.0.1:%d", pd_test_free_port ());
    snprintf (s_fx.endpoint, sizeof (s_fx.endpoint), "tcp://127.0.0.1:%d", pd_test_free_port ());
    snprintf (s_fx.base, sizeof (s_fx.base), "http://%s", s_fx.http);
    //  Fast flushes and a short offline time keep the waits short
    snprintf (s_fx.config, sizeof (s_fx.config), "%s.conf", s_fx.dir);
    FILE *file = fopen (s_fx.config, "w");
    if (!file)
        return -1;
    fprintf (file,
             "heartbeat_flush_ms = 200\nappliance_offline_after_s = 2\n"
             "claims_per_source = 1000\nappliance_endpoint = %s\n",
             s_fx.endpoint);
    fclose (file);
    chmod (s_fx.config, 0600);
    if (s_start () != 0)
        return -1;
    char path[512];
    snprintf (path, sizeof (path), "%s/admin.key", s_fx.dir);
    s_fx.admin_key = pd_test_read_line (path);
    if (!s_fx.admin_key)
        return -1;
    pd_test_http_t response;
    char url[512];
    snprintf (url, sizeof (url), "%s/api/partners", s_fx.base);
    if (pd_test_http ("POST", url, s_fx.admin_key,
                      "{\"name\":\"Link MSP\",\"contact_email\":\"ops@link.example\"}", NULL,
                      &response) != 0 ||
        response.status != 201 || !pd_json_str (&response, "api_key")) {
        pd_test_http_clear (&response);
        return -1;
    }
    snprintf (s_fx.partner_key, sizeof (s_fx.partner_key), "%s",
              pd_json_str (&response, "api_key"));
    pd_test_http_clear (&response);
    return 0;
}

static int
s_teardown (void **state)
{
    //  A clean stop exits 0: under the sanitizers that also means no leaks
    int status = s_fx.server ? pd_proc_stop (&s_fx.server, SIGTERM) : -1;
    pd_test_rmdir (s_fx.dir);
    unlink (s_fx.config);
    free (s_fx.dir);
    free (s_fx.admin_key);
    return status == 0 ? 0 : -1;
}

//  --------------------------------------------------------------------------

//  A new provision code of the test partner into code (32 bytes)
static void
s_new_code (char *code)
{
    pd_test_http_t response;
    assert_int_equal (s_call ("POST", "/api/partners/me/provisions", s_fx.partner_key,
                              "{\"site_name\":\"Link site\"}", &response),
                      201);
    const char *text = pd_json_str (&response, "code");
    assert_non_null (text);
    snprintf (code, 32, "%s", text);
    pd_test_http_clear (&response);
}

typedef struct {
    char public_key[PD_APPLIANCE_KEY_LEN + 1];
    char secret_key[PD_APPLIANCE_KEY_LEN + 1];
} s_keys_t;

static pd_appliance_t *
s_connect (s_keys_t *keys, bool fresh)
{
    if (fresh)
        assert_int_equal (pd_appliance_keypair (keys->public_key, keys->secret_key), 0);
    pd_appliance_config_t config = {s_fx.endpoint, s_fx.server_key, keys->public_key,
                                    keys->secret_key, S_HEARTBEAT_MS};
    pd_appliance_t *appliance = pd_appliance_new (&config);
    assert_non_null (appliance);
    return appliance;
}

//  Claim a new code with a new appliance; its ids into *claimed
static pd_appliance_t *
s_claimed_appliance (s_keys_t *keys, const char *mac, pd_appliance_claimed_t *claimed)
{
    char code[32];
    s_new_code (code);
    pd_appliance_t *appliance = s_connect (keys, true);
    char error[256] = "";
    int rc = pd_appliance_claim (appliance, code, mac, "link-test", S_CLAIM_MS, claimed, error,
                                 sizeof (error));
    if (rc != 0)
        fprintf (stderr, "test: claim failed: %d %s\n", rc, error);
    assert_int_equal (rc, 0);
    return appliance;
}

//  The appliance in its site's detail: -1 not listed, 0 offline, 1 online
static int
s_appliance_state (const char *site_id, const char *appliance_id)
{
    char path[256];
    snprintf (path, sizeof (path), "/api/partners/me/sites/%s", site_id);
    pd_test_http_t response;
    assert_int_equal (s_call ("GET", path, s_fx.partner_key, NULL, &response), 200);
    int state = -1;
    json_t *items = json_object_get (response.json, "appliances");
    size_t index;
    json_t *item;
    json_array_foreach (items, index, item)
    {
        const char *id = json_string_value (json_object_get (item, "id"));
        if (id && strcmp (id, appliance_id) == 0)
            state = json_is_true (json_object_get (item, "online")) ? 1 : 0;
    }
    pd_test_http_clear (&response);
    return state;
}

//  Wait (polling the appliance, if any, so it heartbeats) until the
//  appliance shows `state`; the state last seen
static int
s_wait_state (pd_appliance_t *appliance, const char *site_id, const char *appliance_id, int state)
{
    int64_t deadline = s_now_ms () + S_STATE_MS;
    int seen = s_appliance_state (site_id, appliance_id);
    while (seen != state && s_now_ms () < deadline) {
        if (appliance)
            pd_appliance_poll (appliance, S_HEARTBEAT_MS, NULL, NULL);
        else
            usleep (S_HEARTBEAT_MS * 1000);
        seen = s_appliance_state (site_id, appliance_id);
    }
    return seen;
}

//  All appliances of the test partner (sum over its sites)
static long long
s_appliance_total (void)
{
    long long total = 0;
    char cursor[128] = "";
    do {
        char path[256];
        snprintf (path, sizeof (path), "/api/partners/me/sites?limit=200%s%s",
                  *cursor ? "&cursor=" : "", cursor);
        pd_test_http_t response;
        assert_int_equal (s_call ("GET", path, s_fx.partner_key, NULL, &response), 200);
        size_t index;
        json_t *item;
        json_array_foreach (json_object_get (response.json, "items"), index, item)
        {
            total += json_integer_value (json_object_get (item, "appliance_count"));
        }
        const char *next = pd_json_str (&response, "next_cursor");
        snprintf (cursor, sizeof (cursor), "%s", next ? next : "");
        pd_test_http_clear (&response);
    } while (*cursor);
    return total;
}

//  --------------------------------------------------------------------------

static void
test_claim_heartbeat_online_then_offline (void **state)
{
    //  An appliance claims its code over CurveZMQ
    s_keys_t keys;
    pd_appliance_claimed_t claimed;
    pd_appliance_t *appliance = s_claimed_appliance (&keys, S_TEST_MAC, &claimed);
    assert_true (strlen (claimed.appliance_id) > 0);
    assert_true (strlen (claimed.site_id) > 0);
    assert_true (strlen (claimed.partner_id) > 0);

    //  Its site lists it; heartbeats make it online
    assert_true (s_appliance_state (claimed.site_id, claimed.appliance_id) >= 0);
    assert_int_equal (s_wait_state (appliance, claimed.site_id, claimed.appliance_id, 1), 1);

    //  Reports are answered
    char error[256];
    assert_int_equal (
        pd_appliance_report (appliance, "ok", "1.0.0", NULL, S_REPORT_MS, error, sizeof (error)),
        0);

    //  /metrics shows the front's and the broker's counters with the gateway's
    pd_test_http_t metrics;
    assert_int_equal (s_call ("GET", "/metrics", NULL, NULL, &metrics), 200);
    assert_non_null (strstr (metrics.body, "partnerd_up{component=\"front\"} 1\n"));
    assert_non_null (strstr (metrics.body, "partnerd_up{component=\"broker\"} 1\n"));
    const char *connected = strstr (metrics.body, "\npartnerd_front_connected ");
    assert_non_null (connected);
    assert_true (atoll (connected + strlen ("\npartnerd_front_connected ")) >= 1);
    const char *claims = strstr (metrics.body, "\npartnerd_front_claims ");
    assert_true (claims && atoll (claims + strlen ("\npartnerd_front_claims ")) >= 1);
    const char *requests = strstr (metrics.body, "\npartnerd_broker_requests ");
    assert_true (requests && atoll (requests + strlen ("\npartnerd_broker_requests ")) > 0);
    pd_test_http_clear (&metrics);

    //  Silent, it goes offline
    pd_appliance_destroy (&appliance);
    assert_null (appliance);
    assert_int_equal (s_wait_state (NULL, claimed.site_id, claimed.appliance_id, 0), 0);
}

static void
test_unknown_key_is_refused (void **state)
{
    long long before = s_appliance_total ();
    s_keys_t keys;
    pd_appliance_t *stranger = s_connect (&keys, true);
    char error[256] = "";
    assert_int_equal (
        pd_appliance_report (stranger, "ok", NULL, NULL, S_REPORT_MS, error, sizeof (error)), -6);
    //  A heartbeat from it changes nothing
    assert_int_equal (pd_appliance_heartbeat (stranger, "ok", NULL), 0);
    pd_appliance_poll (stranger, 2 * S_HEARTBEAT_MS, NULL, NULL);
    assert_int_equal (
        pd_appliance_report (stranger, "ok", NULL, NULL, S_REPORT_MS, error, sizeof (error)), -6);
    assert_int_equal (s_appliance_total (), before);

    //  A claim with a code that does not exist is an answer, not a hang
    pd_appliance_claimed_t claimed;
    int rc = pd_appliance_claim (stranger, "ZZZZZZZZZZZZZZZZ", "02:00:00:aa:00:09", NULL,
                                 S_CLAIM_MS, &claimed, error, sizeof (error));
    assert_true (rc < 0 && rc != -17);
    pd_appliance_destroy (&stranger);
}

static void
test_revoked_key_is_refused_at_handshake (void **state)
{
    s_keys_t keys;
    pd_appliance_claimed_t claimed;
    pd_appliance_t *appliance = s_claimed_appliance (&keys, "02:00:00:aa:00:02", &claimed);
    char error[256];
    assert_int_equal (
        pd_appliance_report (appliance, "ok", NULL, NULL, S_REPORT_MS, error, sizeof (error)), 0);
    pd_appliance_destroy (&appliance);

    char path[512];
    snprintf (path, sizeof (path), "/api/partners/me/sites/%s/appliances/%s/revoke",
              claimed.site_id, claimed.appliance_id);
    pd_test_http_t response;
    assert_int_equal (s_call ("POST", path, s_fx.partner_key, NULL, &response), 200);
    pd_test_http_clear (&response);

    //  A new connection with the revoked key: refused at the handshake, so
    //  its report is never answered; meanwhile a fresh key's claim works
    pd_appliance_t *revoked = s_connect (&keys, false);
    s_keys_t fresh_keys;
    pd_appliance_claimed_t fresh_claimed;
    pd_appliance_t *fresh = s_claimed_appliance (&fresh_keys, "02:00:00:aa:00:03", &fresh_claimed);
    //  Never answered: a time-out, or busy once libzmq gave up the refused pipe
    int refused =
        pd_appliance_report (revoked, "ok", NULL, NULL, S_REPORT_MS, error, sizeof (error));
    assert_true (refused == -17 || refused == -21);
    assert_int_equal (
        pd_appliance_report (fresh, "ok", NULL, NULL, S_REPORT_MS, error, sizeof (error)), 0);
    pd_appliance_destroy (&revoked);
    pd_appliance_destroy (&fresh);
}

static void
test_same_appliance_survives_a_restart (void **state)
{
    s_keys_t keys;
    pd_appliance_claimed_t claimed;
    pd_appliance_t *appliance = s_claimed_appliance (&keys, "02:00:00:aa:00:04", &claimed);
    char error[256];
    assert_int_equal (
        pd_appliance_report (appliance, "ok", NULL, NULL, S_REPORT_MS, error, sizeof (error)), 0);

    char key_before[PD_APPLIANCE_KEY_LEN + 1];
    snprintf (key_before, sizeof (key_before), "%s", s_fx.server_key);
    assert_int_equal (pd_proc_stop (&s_fx.server, SIGTERM), 0);
    assert_int_equal (s_start (), 0);
    assert_string_equal (s_fx.server_key, key_before); //  the front keeps its keypair

    //  The same object, not recreated: libzmq reconnects by itself
    int64_t deadline = s_now_ms () + S_RESTART_MS;
    int rc = -1;
    while (rc != 0 && s_now_ms () < deadline)
        rc = pd_appliance_report (appliance, "ok", NULL, NULL, S_REPORT_MS, error, sizeof (error));
    assert_int_equal (rc, 0);
    pd_appliance_destroy (&appliance);
}

//  The appliance's command handler: ping echoes its payload
static int
s_answer (const char *command, const char *payload, char **output, void *arg)
{
    if (strcmp (command, "ping") != 0)
        return -20; //  unknown_message_type
    *output = strdup (payload && *payload ? payload : "pong");
    return 0;
}

typedef struct {
    pd_appliance_t *appliance; //  owned by the thread while it runs
    atomic_bool stop;
    pthread_mutex_t lock;
    pthread_cond_t closed_cond; //  signalled when the server closes the link
    int closed;                 //  the close's status, 0 while open
} s_poller_t;

static void *
s_poll (void *arg)
{
    s_poller_t *poller = arg;
    while (!atomic_load (&poller->stop)) {
        int rc = pd_appliance_poll (poller->appliance, 50, s_answer, NULL);
        if (rc < -1) {
            pthread_mutex_lock (&poller->lock);
            poller->closed = rc;
            pthread_cond_signal (&poller->closed_cond);
            pthread_mutex_unlock (&poller->lock);
            break;
        }
    }
    return NULL;
}

//  The status the server closed the poller's link with, waiting up to ms
static int
s_wait_closed (s_poller_t *poller, int ms)
{
    struct timespec until = pd_test_deadline (ms);
    pthread_mutex_lock (&poller->lock);
    while (poller->closed == 0 &&
           pthread_cond_timedwait (&poller->closed_cond, &poller->lock, &until) == 0)
        ;
    int closed = poller->closed;
    pthread_mutex_unlock (&poller->lock);
    return closed;
}

static void
test_command_round_trip (void **state)
{
    //  A connected appliance answers commands in its poll loop
    s_keys_t keys;
    pd_appliance_claimed_t claimed;
    s_poller_t poller = {0};
    pthread_mutex_init (&poller.lock, NULL);
    pthread_cond_init (&poller.closed_cond, NULL);
    poller.appliance = s_claimed_appliance (&keys, "02:00:00:aa:00:07", &claimed);
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_poll, &poller), 0);

    //  An admin sends one through HTTP -> broker -> front -> appliance
    char path[256];
    snprintf (path, sizeof (path), "/api/admin/appliances/%s/command", claimed.appliance_id);
    pd_test_http_t response;
    assert_int_equal (s_call ("POST", path, s_fx.admin_key,
                              "{\"command\":\"ping\",\"payload\":\"hello\"}", &response),
                      200);
    assert_string_equal (pd_json_str (&response, "output"), "hello");
    pd_test_http_clear (&response);
    //  The appliance's refusal comes back as an error
    assert_int_equal (s_call ("POST", path, s_fx.admin_key, "{\"command\":\"reboot\"}", &response),
                      400);
    assert_string_equal (pd_json_str (&response, "code"), "unknown_message_type");
    pd_test_http_clear (&response);
    //  Partners may not send commands through this route
    assert_int_equal (s_call ("POST", path, s_fx.partner_key, "{\"command\":\"ping\"}", &response),
                      403);
    pd_test_http_clear (&response);

    //  Revoked while connected: the server closes its link at once (the
    //  SDK's poll answers the close), no command reaches it any more, and
    //  it shows offline
    char revoke[512];
    snprintf (revoke, sizeof (revoke), "/api/partners/me/sites/%s/appliances/%s/revoke",
              claimed.site_id, claimed.appliance_id);
    assert_int_equal (s_call ("POST", revoke, s_fx.partner_key, NULL, &response), 200);
    assert_false (json_is_true (json_object_get (response.json, "online")));
    pd_test_http_clear (&response);
    int closed = s_wait_closed (&poller, S_REPORT_MS);
    atomic_store (&poller.stop, true); //  joined before asserting: it uses this frame
    pthread_join (thread, NULL);
    assert_int_equal (closed, PD_E_APPLIANCE_REVOKED);
    char reason[128];
    assert_int_equal (pd_appliance_closed (poller.appliance, reason, sizeof (reason)),
                      PD_E_APPLIANCE_REVOKED);
    assert_string_equal (reason, "Appliance revoked");
    //  Closed for good: the SDK answers the close, without a round trip
    assert_int_equal (pd_appliance_report (poller.appliance, "ok", NULL, NULL, S_REPORT_MS, reason,
                                           sizeof (reason)),
                      PD_E_APPLIANCE_REVOKED);
    assert_int_equal (s_call ("POST", path, s_fx.admin_key, "{\"command\":\"ping\"}", &response),
                      410);
    assert_string_equal (pd_json_str (&response, "code"), "appliance_revoked");
    assert_string_equal (pd_json_str (&response, "detail"), "appliance revoked");
    pd_test_http_clear (&response);
    //  The front counts the link it closed and no longer counts it connected
    pd_test_http_t metrics;
    assert_int_equal (s_call ("GET", "/metrics", NULL, NULL, &metrics), 200);
    const char *closed_line = strstr (metrics.body, "\npartnerd_front_closed ");
    assert_true (closed_line && atoll (closed_line + strlen ("\npartnerd_front_closed ")) >= 1);
    pd_test_http_clear (&metrics);
    pd_appliance_destroy (&poller.appliance);
    pthread_cond_destroy (&poller.closed_cond);
    pthread_mutex_destroy (&poller.lock);

    //  An appliance that is not connected cannot be reached; one that does
    //  not exist is not found
    s_keys_t away_keys;
    pd_appliance_claimed_t away;
    pd_appliance_t *gone = s_claimed_appliance (&away_keys, "02:00:00:aa:00:08", &away);
    pd_appliance_destroy (&gone);
    snprintf (path, sizeof (path), "/api/admin/appliances/%s/command", away.appliance_id);
    assert_int_equal (s_call ("POST", path, s_fx.admin_key, "{\"command\":\"ping\"}", &response),
                      503);
    assert_string_equal (pd_json_str (&response, "code"), "service_unavailable");
    pd_test_http_clear (&response);
    assert_int_equal (s_call ("POST", "/api/admin/appliances/apl_notconnected0000/command",
                              s_fx.admin_key, "{\"command\":\"ping\"}", &response),
                      404);
    assert_string_equal (pd_json_str (&response, "code"), "not_found");
    pd_test_http_clear (&response);
}

//  Run pd-simulator (args: argv[0] first); what it printed into output.
//  Its exit status, or 128 + the signal if it had to be killed.
static int
s_run_simulator (const char *const args[], char *output, size_t size)
{
    return pd_run (PD_SIMULATOR_BIN, args + 1, output, size, S_SIM_WAIT_MS);
}

static void
test_simulator_claims_twenty (void **state)
{
    long long before = s_appliance_total ();
    char api[128], count[16];
    snprintf (api, sizeof (api), "%s", s_fx.base);
    snprintf (count, sizeof (count), "%d", S_SIM_COUNT);
    const char *args[] = {PD_SIMULATOR_BIN,
                          "--endpoint",
                          s_fx.endpoint,
                          "--server-key",
                          s_fx.server_key,
                          "--api",
                          api,
                          "--partner-key",
                          s_fx.partner_key,
                          "--count",
                          count,
                          "--heartbeat-ms",
                          "500",
                          "--duration",
                          "3",
                          NULL};
    static char output[64 * 1024];
    int status = s_run_simulator (args, output, sizeof (output));
    fprintf (stderr, "  [pd-simulator] %s", output);
    assert_int_equal (status, 0);
    char expected[64];
    snprintf (expected, sizeof (expected), "simulator: %d claimed, ", S_SIM_COUNT);
    assert_non_null (strstr (output, expected));
    assert_non_null (strstr (output, ", 0 errors"));
    assert_int_equal (s_appliance_total (), before + S_SIM_COUNT);
}

//  --------------------------------------------------------------------------
//  Escalations over the link, and their tickets' changes back down it

#define S_TICKET_MS 10000 //  a ticket change to reach its appliance

typedef struct {
    int calls;   //  changes handed to the handler
    int refuse;  //  refuse this many first (they come again)
    char id[65]; //  the last one's
    char status[17];
    char note[128];
    char incident[64];
    int64_t version;
    char ids[128][65]; //  the distinct tickets whose changes came
    int distinct;
} s_changes_t;

static int
s_take_change (const pd_appliance_ticket_t *ticket, void *arg)
{
    s_changes_t *changes = arg;
    changes->calls++;
    snprintf (changes->id, sizeof (changes->id), "%s", ticket->id);
    snprintf (changes->status, sizeof (changes->status), "%s", ticket->status);
    snprintf (changes->note, sizeof (changes->note), "%s", ticket->note ? ticket->note : "");
    snprintf (changes->incident, sizeof (changes->incident), "%s",
              ticket->incident_id ? ticket->incident_id : "");
    changes->version = ticket->version;
    bool known = false;
    for (int i = 0; i < changes->distinct && !known; i++)
        known = strcmp (changes->ids[i], ticket->id) == 0;
    if (!known && changes->distinct < 128)
        snprintf (changes->ids[changes->distinct++], sizeof (changes->ids[0]), "%s", ticket->id);
    if (changes->refuse > 0) {
        changes->refuse--;
        return -21; //  busy: partnerd keeps it for the next connection
    }
    return 0;
}

//  Poll the appliance until its handler has seen `status` (bounded)
static bool
s_wait_change (pd_appliance_t *appliance, s_changes_t *changes, const char *status)
{
    int64_t deadline = s_now_ms () + S_TICKET_MS;
    while (strcmp (changes->status, status) != 0 && s_now_ms () < deadline)
        pd_appliance_poll (appliance, 100, NULL, NULL);
    return strcmp (changes->status, status) == 0;
}

static void
test_escalation_over_the_link (void **state)
{
    s_keys_t keys;
    pd_appliance_claimed_t claimed;
    pd_appliance_t *appliance = s_claimed_appliance (&keys, "02:00:00:aa:00:07", &claimed);
    s_changes_t changes = {0};
    pd_appliance_on_ticket (appliance, s_take_change, &changes);

    //  A P1 with a JSON object for details: a new ticket of this site
    pd_appliance_escalation_t escalation = {.priority = "critical",
                                            .title = "RAID degraded",
                                            .details = "{\"disk\":\"sda\",\"smart\":5}",
                                            .category = "storage",
                                            .dedup_key = "raid-md0",
                                            .incident_id = "inc-1",
                                            .host = "nas-1"};
    pd_appliance_receipt_t receipt;
    char error[256] = "";
    assert_int_equal (pd_appliance_escalate (appliance, &escalation, S_REPORT_MS, &receipt, error,
                                             sizeof (error)),
                      0);
    assert_true (receipt.created);
    assert_false (receipt.reopened);
    assert_string_equal (receipt.status, "open");
    assert_int_equal (receipt.occurrence_count, 1);
    char id[65];
    snprintf (id, sizeof (id), "%s", receipt.id);

    //  A repeat of its key counts on it
    assert_int_equal (pd_appliance_escalate (appliance, &escalation, S_REPORT_MS, &receipt, error,
                                             sizeof (error)),
                      0);
    assert_false (receipt.created);
    assert_string_equal (receipt.id, id);
    assert_int_equal (receipt.occurrence_count, 2);

    //  Bad input is refused with its reason, and raises nothing
    pd_appliance_escalation_t bad = escalation;
    bad.priority = "P9";
    assert_int_equal (
        pd_appliance_escalate (appliance, &bad, S_REPORT_MS, &receipt, error, sizeof (error)),
        -3); //  invalid_field
    assert_non_null (strstr (error, "priority"));
    char long_key[300];
    memset (long_key, 'k', sizeof (long_key) - 1);
    long_key[sizeof (long_key) - 1] = 0;
    bad = escalation;
    bad.dedup_key = long_key;
    assert_true (
        pd_appliance_escalate (appliance, &bad, S_REPORT_MS, &receipt, error, sizeof (error)) < 0);
    assert_non_null (strstr (error, "dedup_key"));

    //  The partner sees it, with site and appliance from the link's identity
    char path[256];
    snprintf (path, sizeof (path), "/api/partners/me/escalations/%s", id);
    pd_test_http_t response;
    assert_int_equal (s_call ("GET", path, s_fx.partner_key, NULL, &response), 200);
    assert_string_equal (pd_json_str (&response, "site_id"), claimed.site_id);
    assert_string_equal (pd_json_str (&response, "appliance_id"), claimed.appliance_id);
    assert_string_equal (pd_json_str (&response, "priority"), "P1");
    assert_int_equal (pd_json_int (&response, "occurrence_count"), 2);
    json_t *details = json_object_get (response.json, "details");
    assert_string_equal (json_string_value (json_object_get (details, "disk")), "sda");
    pd_test_http_clear (&response);
    assert_int_equal (
        s_call ("GET", "/api/partners/me/escalations?limit=100", s_fx.partner_key, NULL, &response),
        200);
    assert_int_equal (json_array_size (json_object_get (response.json, "items")), 1);
    pd_test_http_clear (&response);

    //  Acknowledged: the connected appliance hears of it at once
    snprintf (path, sizeof (path), "/api/partners/me/escalations/%s/acknowledge", id);
    assert_int_equal (s_call ("POST", path, s_fx.partner_key, "{}", &response), 200);
    pd_test_http_clear (&response);
    assert_true (s_wait_change (appliance, &changes, "acknowledged"));
    assert_string_equal (changes.id, id);
    assert_string_equal (changes.incident, "inc-1");
    int64_t acknowledged = changes.version;

    //  Resolved while the appliance is away: it hears of it when it is back,
    //  again after refusing it once
    pd_appliance_destroy (&appliance);
    snprintf (path, sizeof (path), "/api/partners/me/escalations/%s/resolve", id);
    assert_int_equal (
        s_call ("POST", path, s_fx.partner_key, "{\"note\":\"disk replaced\"}", &response), 200);
    pd_test_http_clear (&response);
    snprintf (path, sizeof (path), "/api/partners/me/escalations/%s", id);
    assert_int_equal (s_call ("GET", path, s_fx.partner_key, NULL, &response), 200);
    assert_true (json_is_false (json_object_get (response.json, "appliance_informed")));
    pd_test_http_clear (&response);
    for (int round = 0; round < 2; round++) {
        changes = (s_changes_t){.refuse = round == 0};
        appliance = s_connect (&keys, false);
        pd_appliance_on_ticket (appliance, s_take_change, &changes);
        assert_int_equal (
            pd_appliance_report (appliance, "ok", NULL, NULL, S_REPORT_MS, error, sizeof (error)),
            0);
        assert_true (s_wait_change (appliance, &changes, "resolved"));
        assert_string_equal (changes.note, "disk replaced");
        assert_true (changes.version > acknowledged);
        assert_int_equal (changes.calls, 1);
        //  Taken the second time: the ticket says when its `seen` is in
        //  (the connection stays until then)
        snprintf (path, sizeof (path), "/api/partners/me/escalations/%s", id);
        bool informed = round == 0;
        for (int64_t until = s_now_ms () + S_TICKET_MS; !informed && s_now_ms () < until;) {
            assert_int_equal (s_call ("GET", path, s_fx.partner_key, NULL, &response), 200);
            informed = json_is_true (json_object_get (response.json, "appliance_informed"));
            pd_test_http_clear (&response);
            if (!informed)
                pd_appliance_poll (appliance, 20, NULL, NULL); //  a store state: polled
        }
        assert_true (informed);
        pd_appliance_destroy (&appliance);
    }
    //  The next connection hears nothing more of it (its changes are asked
    //  for at its first message; a second of polling is far more than the
    //  answer takes)
    changes = (s_changes_t){0};
    appliance = s_connect (&keys, false);
    pd_appliance_on_ticket (appliance, s_take_change, &changes);
    assert_int_equal (
        pd_appliance_report (appliance, "ok", NULL, NULL, S_REPORT_MS, error, sizeof (error)), 0);
    for (int64_t until = s_now_ms () + 1000; s_now_ms () < until;)
        pd_appliance_poll (appliance, 100, NULL, NULL);
    assert_int_equal (changes.calls, 0);
    //  A change after that (a repeat re-opens it) comes again
    assert_int_equal (pd_appliance_escalate (appliance, &escalation, S_REPORT_MS, &receipt, error,
                                             sizeof (error)),
                      0);
    assert_true (receipt.reopened);
    assert_string_equal (receipt.id, id);
    assert_true (s_wait_change (appliance, &changes, "open"));
    assert_int_equal (changes.calls, 1); //  the re-opening only, not the old resolve
    pd_appliance_destroy (&appliance);

    //  Flapping between two connections does not make partnerd send an
    //  unseen change more often than once a second (it stays unseen here)
    snprintf (path, sizeof (path), "/api/partners/me/escalations/%s/acknowledge", id);
    assert_int_equal (s_call ("POST", path, s_fx.partner_key, "{}", &response), 200);
    pd_test_http_clear (&response);
    s_changes_t flaps = {.refuse = 1000000};
    pd_appliance_t *links[2] = {s_connect (&keys, false), s_connect (&keys, false)};
    for (int i = 0; i < 2; i++)
        pd_appliance_on_ticket (links[i], s_take_change, &flaps);
    int64_t start = s_now_ms ();
    for (int i = 0; i < 100; i++)
        assert_int_equal (pd_appliance_report (links[i % 2], "ok", NULL, NULL, S_REPORT_MS, error,
                                               sizeof (error)),
                          0);
    for (int64_t until = s_now_ms () + 1500; s_now_ms () < until;)
        for (int i = 0; i < 2; i++)
            pd_appliance_poll (links[i], 50, NULL, NULL);
    int64_t seconds = (s_now_ms () - start + 999) / 1000;
    fprintf (stderr, "  [flapping] 100 reports over two connections: %d deliveries in %lld s\n",
             flaps.calls, (long long)seconds);
    assert_true (flaps.calls >= 1);
    assert_true (flaps.calls <= seconds + 1);
    for (int i = 0; i < 2; i++)
        pd_appliance_destroy (&links[i]);
}

//  More changes than one page, made while the appliance was away, all come
//  on its next connection, each once; more made while it is connected but
//  not reading come once each too (asks are not multiplied per change)
static void
test_many_ticket_changes (void **state)
{
    s_keys_t keys;
    pd_appliance_claimed_t claimed;
    pd_appliance_t *appliance = s_claimed_appliance (&keys, "02:00:00:aa:00:08", &claimed);
    enum { S_MANY = 70 };
    char ids[S_MANY][65];
    char error[256];
    for (int i = 0; i < S_MANY; i++) {
        char key[32];
        snprintf (key, sizeof (key), "many-%d", i);
        pd_appliance_escalation_t escalation = {
            .priority = "P4", .title = "Many", .dedup_key = key};
        pd_appliance_receipt_t receipt;
        assert_int_equal (pd_appliance_escalate (appliance, &escalation, S_REPORT_MS, &receipt,
                                                 error, sizeof (error)),
                          0);
        snprintf (ids[i], sizeof (ids[i]), "%s", receipt.id);
    }
    pd_appliance_destroy (&appliance);
    char path[256];
    pd_test_http_t response;
    for (int i = 0; i < S_MANY; i++) {
        snprintf (path, sizeof (path), "/api/partners/me/escalations/%s/acknowledge", ids[i]);
        assert_int_equal (s_call ("POST", path, s_fx.partner_key, "{}", &response), 200);
        pd_test_http_clear (&response);
    }
    s_changes_t changes = {0};
    appliance = s_connect (&keys, false);
    pd_appliance_on_ticket (appliance, s_take_change, &changes);
    assert_int_equal (
        pd_appliance_report (appliance, "ok", NULL, NULL, S_REPORT_MS, error, sizeof (error)), 0);
    for (int64_t until = s_now_ms () + S_TICKET_MS; changes.calls < S_MANY && s_now_ms () < until;)
        pd_appliance_poll (appliance, 100, NULL, NULL);
    for (int64_t until = s_now_ms () + 1000; s_now_ms () < until;)
        pd_appliance_poll (appliance, 100, NULL, NULL); //  no duplicate follows
    assert_int_equal (changes.distinct, S_MANY);        //  every ticket's change...
    assert_int_equal (changes.calls, S_MANY);           //  ...once

    //  40 resolutions while it does not read: 40 changes, once each
    changes = (s_changes_t){0};
    for (int i = 0; i < 40; i++) {
        snprintf (path, sizeof (path), "/api/partners/me/escalations/%s/resolve", ids[i]);
        assert_int_equal (s_call ("POST", path, s_fx.partner_key, "{\"note\":\"n\"}", &response),
                          200);
        pd_test_http_clear (&response);
    }
    for (int64_t until = s_now_ms () + S_TICKET_MS; changes.calls < 40 && s_now_ms () < until;)
        pd_appliance_poll (appliance, 100, NULL, NULL);
    for (int64_t until = s_now_ms () + 1500; s_now_ms () < until;)
        pd_appliance_poll (appliance, 100, NULL, NULL); //  no duplicate follows
    assert_int_equal (changes.distinct, 40);
    assert_int_equal (changes.calls, 40);
    assert_string_equal (changes.status, "resolved");
    pd_appliance_destroy (&appliance);
}

//  pd-simulator --escalate: each appliance raises one, a JSON line each
static void
test_simulator_escalates (void **state)
{
    const char *args[] = {PD_SIMULATOR_BIN,
                          "--endpoint",
                          s_fx.endpoint,
                          "--server-key",
                          s_fx.server_key,
                          "--api",
                          s_fx.base,
                          "--partner-key",
                          s_fx.partner_key,
                          "--count",
                          "2",
                          "--duration",
                          "0.5",
                          "--escalate",
                          "P2",
                          "--title",
                          "Backup failed",
                          "--dedup-key",
                          "backup-job-7",
                          NULL};
    static char output[16 * 1024];
    int status = s_run_simulator (args, output, sizeof (output));
    fprintf (stderr, "  [pd-simulator] %s", output);
    assert_int_equal (status, 0);
    //  Two tickets, new, one per simulated site, listed for the partner
    int tickets = 0;
    for (const char *line = output; (line = strstr (line, "{\"ticket\":")); line++) {
        json_t *json = json_loads (line, JSON_DISABLE_EOF_CHECK, NULL);
        assert_non_null (json);
        assert_true (json_is_true (json_object_get (json, "created")));
        const char *id = json_string_value (json_object_get (json, "ticket"));
        char path[256];
        snprintf (path, sizeof (path), "/api/partners/me/escalations/%s", id);
        pd_test_http_t response;
        assert_int_equal (s_call ("GET", path, s_fx.partner_key, NULL, &response), 200);
        assert_string_equal (pd_json_str (&response, "priority"), "P2");
        assert_string_equal (pd_json_str (&response, "title"), "Backup failed");
        pd_test_http_clear (&response);
        json_decref (json);
        tickets++;
    }
    assert_int_equal (tickets, 2);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_claim_heartbeat_online_then_offline),
        cmocka_unit_test (test_unknown_key_is_refused),
        cmocka_unit_test (test_revoked_key_is_refused_at_handshake),
        cmocka_unit_test (test_same_appliance_survives_a_restart),
        cmocka_unit_test (test_command_round_trip),
        cmocka_unit_test (test_simulator_claims_twenty),
        cmocka_unit_test (test_escalation_over_the_link),
        cmocka_unit_test (test_many_ticket_changes),
        cmocka_unit_test (test_simulator_escalates),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
