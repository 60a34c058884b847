/*  pd_config - partnerd's settings, declared once

    Every setting is one row of PD_CONFIG_KEYS: name, type, default, whether
    it is a secret, and what it does. From that row come the struct field,
    the default, the parser, the environment override and the text of
    `partnerd --help-config`.

    Sources, later wins: the defaults; the file given with --config (lines
    `name = value`, `#` comments, blank lines); the environment variable
    PARTNERD_<NAME> (upper case). A file that sets a secret must not be
    readable by group or others (mode 0600), or it is refused.
*/
#ifndef PD_CONFIG_H_INCLUDED
#define PD_CONFIG_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

//  X (name, type STR/INT/BOOL, default, secret, description)
//  Files of the data directory beside the store (each mode 0600): a backup
//  copies them with the store, for a restored partnerd is only whole with
//  them (the front's keypair that appliances know, the first admin key,
//  the master keys that open sealed secrets)
#define PD_DATA_APPLIANCE_KEY "appliance_curve.key"
#define PD_DATA_ADMIN_KEY     "admin.key"
#define PD_DATA_MASTER_KEY    "master.key" //  pd_envelope's master keys
#define PD_DATA_FILES                                                                              \
    {                                                                                              \
        PD_DATA_APPLIANCE_KEY, PD_DATA_ADMIN_KEY, PD_DATA_MASTER_KEY                               \
    }

#define PD_CONFIG_KEYS(X)                                                                          \
    X (store_map_mb, INT, "1024", false,                                                           \
       "Size of the store's memory map in MiB: its largest size. When writes answer 507 "          \
       "storage_full, raise it and restart")                                                       \
    X (public_url, STR, "http://127.0.0.1:8080", false,                                            \
       "Base URL users reach partnerd at; magic links and OAuth redirect URIs are built from it, " \
       "never from the request's Host. Unset: http:// and partnerd's --http address")              \
    X (dashboard_path, STR, "/partner/dashboard", false,                                           \
       "Where a successful sign-in lands (appended to public_url)")                                \
    X (pending_path, STR, "/partner/pending", false,                                               \
       "Where a sign-in waiting for admin approval lands (appended to public_url)")                \
    X (magic_link_path, STR, "/partner/login/magic", false,                                        \
       "Path of the page a magic link opens; the page POSTs the token to "                         \
       "/api/partners/auth/magic")                                                                 \
    X (cookie_secure, BOOL, "true", false,                                                         \
       "Mark cookies Secure and name them with the __Host- prefix (set false only for "            \
       "plain-HTTP development)")                                                                  \
    X (http_max_connections, INT, "1024", false,                                                   \
       "HTTP connections held at once, one worker thread each; beyond it a new connection "        \
       "gets 503 at once")                                                                         \
    X (http_max_connections_per_client, INT, "64", false,                                          \
       "HTTP connections one client address may hold (trusted_proxies are exempt)")                \
    X (http_header_timeout_ms, INT, "5000", false,                                                 \
       "Time a client has to send a request's head; also each read and write")                     \
    X (http_idle_timeout_ms, INT, "2000", false, "How long an idle keep-alive connection is kept") \
    X (http_body_timeout_ms, INT, "10000", false, "Time a client has to send a request's body")    \
    X (http_local_actors, BOOL, "true", false,                                                     \
       "The gateway serves requests for the actors of its own process in its worker threads (the " \
       "same checks, no broker hand-offs); false sends every request through the broker")          \
    X (http_body_min_rate, INT, "1024", false,                                                     \
       "Bytes per second a request body must average after its first second")                      \
    X (trusted_proxies, STR, "", false,                                                            \
       "Reverse proxies (addresses or CIDR networks, comma-separated) whose X-Forwarded-For "      \
       "names the client; empty: the TCP peer is the client")                                      \
    X (cors_allowed_origins, STR, "", false,                                                       \
       "Origins (scheme://host[:port], comma-separated) whose browser pages may call the API "     \
       "with an API key; empty: CORS off")                                                         \
    X (session_ttl_s, INT, "43200", false, "Session lifetime in seconds")                          \
    X (magic_link_ttl_s, INT, "900", false, "Magic link lifetime in seconds")                      \
    X (oauth_state_ttl_s, INT, "600", false, "Time allowed to complete an OAuth sign-in, seconds") \
    X (google_issuer, STR, "https://accounts.google.com", false,                                   \
       "Google's OpenID issuer (its discovery document is issuer + "                               \
       "/.well-known/openid-configuration)")                                                       \
    X (google_client_id, STR, "", false, "Google OAuth client id; empty disables Google sign-in")  \
    X (google_client_secret, STR, "", true, "Google OAuth client secret")                          \
    X (microsoft_issuer, STR, "https://login.microsoftonline.com/common/v2.0", false,              \
       "Microsoft Entra ID OpenID issuer (multi-tenant: .../common/v2.0)")                         \
    X (microsoft_client_id, STR, "", false,                                                        \
       "Microsoft OAuth client id; empty disables Microsoft sign-in")                              \
    X (microsoft_client_secret, STR, "", true, "Microsoft OAuth client secret")                    \
    X (oauth_allow_insecure, BOOL, "false", false,                                                 \
       "Allow http:// and loopback/private provider addresses (local test providers only)")        \
    X (oauth_timeout_ms, INT, "5000", false, "Time-out of each call to an OAuth provider, ms")     \
    X (login_failures_per_source, INT, "20", false,                                                \
       "Failed sign-ins or bad keys allowed per client address in a window")                       \
    X (login_failures_per_partner, INT, "50", false,                                               \
       "Failed sign-ins or bad keys allowed per partner in a window")                              \
    X (login_window_s, INT, "300", false, "Rate-limit window in seconds")                          \
    X (appliance_endpoint, STR, "tcp://127.0.0.1:5557", false,                                     \
       "Address appliances connect to (CurveZMQ), given in claim answers and QR codes. Unset: "    \
       "partnerd's first --appliance-bind endpoint")                                               \
    X (appliance_offline_after_s, INT, "30", false,                                                \
       "An appliance not heard from for this long shows offline")                                  \
    X (heartbeat_flush_ms, INT, "1000", false,                                                     \
       "How often the appliance front writes the heartbeats it gathered (one transaction)")        \
    X (heartbeat_persist_s, INT, "10", false,                                                      \
       "An appliance's heartbeats that change nothing are written at most this often (last "       \
       "seen is this stale at most; keep it well below appliance_offline_after_s)")                \
    X (claims_per_source, INT, "30", false, "Claims allowed per client address in a window")       \
    X (oauth_starts_per_source, INT, "60", false,                                                  \
       "OAuth sign-ins started per client address in a window (each stores a pending state)")      \
    X (appliance_public_key, STR, "", false,                                                       \
       "the appliance front's CURVE public key (Z85); set by partnerd from its key file")          \
    X (escalation_reopen_window_s, INT, "3600", false,                                             \
       "A repeat of a resolved ticket's dedup key within this many seconds of its resolution "     \
       "re-opens it; later, it opens a new ticket")                                                \
    X (escalations_per_appliance, INT, "120", false,                                               \
       "New tickets one appliance may open in an hour (repeats of open tickets do not count); "    \
       "beyond it 429 with Retry-After")                                                           \
    X (escalation_repeats_per_minute, INT, "600", false,                                           \
       "Repeats (of open tickets' dedup keys) one appliance may send in a minute: each is a "      \
       "durable write and an event; beyond it 429 with Retry-After")                               \
    X (sla_tick_ms, INT, "500", false,                                                             \
       "How often the SLA timer looks for due deadlines: a deadline fires this late at most, "     \
       "plus the tick's own work and commit")                                                      \
    X (sse_max_streams, INT, "64", false,                                                          \
       "Live event streams (text/event-stream) the gateway holds at once; beyond it 503 with "     \
       "Retry-After, so followers never take every HTTP worker")                                   \
    X (sse_max_streams_per_partner, INT, "8", false,                                               \
       "Of those, the streams one partner's keys and users may hold at once (admins are not "      \
       "counted per partner); beyond it 503 with Retry-After")                                     \
    X (clock_skew_ms, INT, "0", false,                                                             \
       "Drills and tests only: milliseconds added to the wall clock of every actor's \"now\" "     \
       "(deadlines, expiry); 0 in production")

//  Each setting's index, for pd_config_given
typedef enum {
#define PD_CONFIG_INDEX(name, type, value, secret, doc) PD_CONFIG_I_##name,
    PD_CONFIG_KEYS (PD_CONFIG_INDEX)
#undef PD_CONFIG_INDEX
        PD_CONFIG_COUNT
} pd_config_index_t;

typedef struct {
#define PD_CONFIG_FIELD_STR                             char *
#define PD_CONFIG_FIELD_INT                             int64_t
#define PD_CONFIG_FIELD_BOOL                            bool
#define PD_CONFIG_FIELD(name, type, value, secret, doc) PD_CONFIG_FIELD_##type name;
    PD_CONFIG_KEYS (PD_CONFIG_FIELD)
#undef PD_CONFIG_FIELD
    bool given[PD_CONFIG_COUNT]; //  set by the file or the environment, not the default
} pd_config_t;

//  Did the file or the environment set setting `name` (a bare name:
//  PD_CONFIG_GIVEN (config, public_url))?
#define PD_CONFIG_GIVEN(config, name) ((config)->given[PD_CONFIG_I_##name])

//  Load the settings: defaults, then `path` (NULL = no file), then the
//  environment. NULL on error, with the reason in error (a bad line, an
//  unknown name, a value of the wrong type, a secret in a readable file).
pd_config_t *pd_config_new (const char *path, char *error, size_t error_size);
void pd_config_destroy (pd_config_t **self_p);

//  The actors' clock: milliseconds since the Unix epoch (UTC), the wall
//  clock plus clock_skew_ms. Thread-safe.
int64_t pd_config_now (const pd_config_t *self);

//  Move that clock on by `ms` (tests: time-dependent logic without
//  sleeps). Thread-safe against pd_config_now.
void pd_config_clock_advance (pd_config_t *self, int64_t ms);

//  Describe every setting (for --help-config).
void pd_config_describe (FILE *out);

#ifdef __cplusplus
}
#endif
#endif
