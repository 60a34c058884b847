/*  test_provisioning_http - provision codes, QR codes, claims, appliance
    tokens and sites through a real partnerd

    One all-in-one partnerd on loopback with a fresh data directory and a
    settings file: the public URL, an appliance endpoint, a broker public
    key this test makes (32 random bytes in Z85), plain-HTTP cookies, and
    limits high enough that only the rate-limit test meets them; that test
    starts its own partnerd with a small claims_per_source. QR images are
    decoded by a real scanner (zbarimg).

    Expiry is not tested here: a code lives at least 60 s (the schema's
    minimum expires_in_s) and this test cannot move partnerd's clock. The
    expired path (410 code_expired, validate "expired") is the same
    branch of the claim actor as "revoked", computed from expires_at.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pd_testutil.h"

#define S_START_TIMEOUT_MS 20000
#define S_LIMIT_MAIN       10000
#define S_CLAIMS_SMALL     3
#define S_RACERS           64
#define S_ID_MAX           64
#define S_TOKEN_MAX        256
#define S_URL_MAX          2200
#define S_KEY_LEN          40
#define S_ALPHABET         "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

typedef pd_instance_t s_instance_t;

static s_instance_t s_main;
static s_instance_t s_limited;
static char s_broker_key[S_KEY_LEN + 1];

//  ------------------------------------------------------------------------
//  Helpers

//  A CURVE-shaped public key: 32 random bytes in Z85 (ZeroMQ RFC 32)
static void
s_z85_key (char *out)
{
    static const char z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              ".-:+=^!/*?&<>()[]{}@%$#";
    uint8_t bytes[32];
    FILE *random = fopen ("/dev/urandom", "r");
    assert_non_null (random);
    assert_int_equal (fread (bytes, 1, sizeof (bytes), random), sizeof (bytes));
    fclose (random);
    size_t used = 0;
    for (size_t i = 0; i < sizeof (bytes); i += 4) {
        uint32_t value = (uint32_t)bytes[i] << 24 | (uint32_t)bytes[i + 1] << 16 |
                         (uint32_t)bytes[i + 2] << 8 | bytes[i + 3];
        char chunk[5];
        for (int j = 4; j >= 0; j--) {
            chunk[j] = z85[value % 85];
            value /= 85;
        }
        memcpy (out + used, chunk, 5);
        used += 5;
    }
    out[used] = 0;
}

//  The percent-decoded value of query parameter `name` of a URL
static bool
s_query_param (const char *url, const char *name, char *out, size_t size)
{
    char needle[64];
    snprintf (needle, sizeof (needle), "%s=", name);
    const char *query = strchr (url, '?');
    for (const char *p = query; p && *p; p = strchr (p + 1, '&')) {
        if (strncmp (p + 1, needle, strlen (needle)) != 0)
            continue;
        const char *value = p + 1 + strlen (needle);
        size_t used = 0;
        for (; *value && *value != '&' && used + 1 < size; value++) {
            unsigned code = 0;
            if (*value == '%' && sscanf (value + 1, "%2x", &code) == 1) {
                out[used++] = (char)code;
                value += 2;
            } else
                out[used++] = *value;
        }
        out[used] = 0;
        return true;
    }
    return false;
}

//  Decode a PNG with zbarimg; the text (caller frees)
static char *
s_zbar (const char *png, size_t size)
{
    char path[] = "/tmp/test_provisioning_XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, png, size), (ssize_t)size);
    close (fd);
    char command[128];
    snprintf (command, sizeof (command), "zbarimg --quiet --raw %s 2>/dev/null", path);
    FILE *pipe = popen (command, "r");
    assert_non_null (pipe);
    char *text = calloc (1, 4096);
    size_t got = fread (text, 1, 4095, pipe);
    pclose (pipe);
    unlink (path);
    while (got > 0 && (text[got - 1] == '\n' || text[got - 1] == '\r'))
        got--;
    text[got] = 0;
    return text;
}

//  ------------------------------------------------------------------------
//  Instances

static int
s_instance_start (s_instance_t *self, int64_t claims_per_source)
{
    char settings[256];
    snprintf (settings, sizeof (settings),
              "login_failures_per_source = %d\n"
              "login_failures_per_partner = %d\n"
              "claims_per_source = %lld\n",
              S_LIMIT_MAIN, S_LIMIT_MAIN, (long long)claims_per_source);
    if (pd_instance_start (self, settings, S_START_TIMEOUT_MS) != 0)
        return -1;
    //  The appliance front's key, made at first start: QR codes and claim
    //  answers must carry it
    return pd_proc_line_after (self->server, "server key ", s_broker_key, sizeof (s_broker_key))
               ? 0
               : -1;
}

static int
s_instance_stop (s_instance_t *self)
{
    return pd_instance_stop (self);
}

static int
s_setup (void **state)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
    return s_instance_start (&s_main, S_LIMIT_MAIN);
}

//  SIGTERM: a clean stop exits 0 (under the sanitizers: and leaks nothing)
static int
s_teardown (void **state)
{
    int status = s_instance_stop (&s_main);
    if (s_limited.dir)
        s_instance_stop (&s_limited);
    curl_global_cleanup ();
    return status == 0 ? 0 : -1;
}

//  ------------------------------------------------------------------------
//  Requests

static long
s_request (const s_instance_t *instance, const char *method, const char *path, const char *key,
           const char *body, pd_test_http_t *response)
{
    char url[S_URL_MAX];
    snprintf (url, sizeof (url), "%s%s", instance->base, path);
    pd_test_http_options_t options = {.api_key = key, .body = body};
    assert_int_equal (pd_test_http_ex (method, url, &options, response), 0);
    return response->status;
}

static long
s_call (const char *method, const char *path, const char *key, const char *body,
        pd_test_http_t *response)
{
    return s_request (&s_main, method, path, key, body, response);
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
s_create_partner (const s_instance_t *instance, const char *name, char *key)
{
    char body[512];
    snprintf (body, sizeof (body), "{\"name\":\"%s\",\"contact_email\":\"ops@partner.example\"}",
              name);
    pd_test_http_t response;
    s_request (instance, "POST", "/api/partners", instance->admin_key, body, &response);
    s_expect (&response, 201, NULL);
    snprintf (key, S_TOKEN_MAX, "%s", pd_json_str (&response, "api_key"));
    pd_test_http_clear (&response);
}

//  A partner makes a code; its id, code and claim URL copied out
typedef struct {
    char id[S_ID_MAX + 1];
    char code[32];
    char claim_url[S_URL_MAX];
} s_code_t;

static void
s_create_code (const char *key, const char *body, s_code_t *code)
{
    pd_test_http_t response;
    s_call ("POST", "/api/partners/me/provisions", key, body ? body : "{}", &response);
    s_expect (&response, 201, NULL);
    snprintf (code->id, sizeof (code->id), "%s", pd_json_str (&response, "id"));
    snprintf (code->code, sizeof (code->code), "%s", pd_json_str (&response, "code"));
    snprintf (code->claim_url, sizeof (code->claim_url), "%s",
              pd_json_str (&response, "claim_url"));
    assert_string_equal (pd_json_str (&response, "status"), "active");
    pd_test_http_clear (&response);
}

//  Claim a code over HTTP; returns the status, the response kept
static long
s_claim (const s_instance_t *instance, const char *code, const char *mac, const char *public_key,
         pd_test_http_t *response)
{
    char body[512];
    if (public_key)
        snprintf (body, sizeof (body),
                  "{\"code\":\"%s\",\"mac\":\"%s\",\"public_key\":\"%s\",\"hostname\":"
                  "\"appliance-1\",\"software_version\":\"1.0.0\"}",
                  code, mac, public_key);
    else
        snprintf (body, sizeof (body),
                  "{\"code\":\"%s\",\"mac\":\"%s\",\"hostname\":\"appliance-1\"}", code, mac);
    return s_request (instance, "POST", "/api/provision/claim", NULL, body, response);
}

static void
s_validate (const char *code, bool valid, const char *status)
{
    char path[128];
    snprintf (path, sizeof (path), "/api/provision/validate/%s", code);
    pd_test_http_t response;
    s_call ("GET", path, NULL, NULL, &response);
    s_expect (&response, 200, NULL);
    json_t *value = json_object_get (response.json, "valid");
    assert_true (valid ? json_is_true (value) : json_is_false (value));
    assert_string_equal (pd_json_str (&response, "status"), status);
    pd_test_http_clear (&response);
}

//  ------------------------------------------------------------------------
//  Tests

//  A partner makes a code and shows it as a QR code that scans back to
//  the claim URL, with the code and the broker's key in it
static void
test_code_and_qr (void **state)
{
    char key[S_TOKEN_MAX];
    s_create_partner (&s_main, "Qr Partner", key);
    s_code_t code;
    s_create_code (key, "{\"site_name\":\"Main Office\",\"expires_in_s\":3600}", &code);
    assert_int_equal (strlen (code.code), 16);
    assert_int_equal (strspn (code.code, S_ALPHABET), 16);
    assert_int_equal (strncmp (code.id, "prv_", 4), 0);

    char param[256];
    assert_int_equal (strncmp (code.claim_url, s_main.base, strlen (s_main.base)), 0);
    assert_non_null (strstr (code.claim_url, "/api/provision/claim?code="));
    assert_true (s_query_param (code.claim_url, "code", param, sizeof (param)));
    assert_string_equal (param, code.code);
    assert_true (s_query_param (code.claim_url, "endpoint", param, sizeof (param)));
    assert_string_equal (param, s_main.endpoint);
    assert_true (s_query_param (code.claim_url, "key", param, sizeof (param)));
    assert_string_equal (param, s_broker_key);

    //  The list has it
    pd_test_http_t response;
    s_call ("GET", "/api/partners/me/provisions", key, NULL, &response);
    s_expect (&response, 200, NULL);
    json_t *items = json_object_get (response.json, "items");
    assert_int_equal (json_array_size (items), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (items, 0), "code")),
                         code.code);
    pd_test_http_clear (&response);

    //  Its QR code, by id, scans to the claim URL
    char path[256];
    snprintf (path, sizeof (path), "/api/partners/me/provisions/%s/qr", code.id);
    s_call ("GET", path, key, NULL, &response);
    s_expect (&response, 200, NULL);
    assert_string_equal (response.content_type, "image/png");
    assert_memory_equal (response.body, "\x89PNG", 4);
    char *text = s_zbar (response.body, response.body_size);
    assert_string_equal (text, code.claim_url);
    assert_non_null (strstr (text, code.code));
    free (text);
    pd_test_http_clear (&response);

    //  By code, publicly, as PNG and SVG
    snprintf (path, sizeof (path), "/api/partners/provision/%s/qr", code.code);
    s_call ("GET", path, NULL, NULL, &response);
    s_expect (&response, 200, NULL);
    assert_string_equal (response.content_type, "image/png");
    text = s_zbar (response.body, response.body_size);
    assert_string_equal (text, code.claim_url);
    free (text);
    pd_test_http_clear (&response);
    snprintf (path, sizeof (path), "/api/partners/provision/%s/qr?format=svg", code.code);
    s_call ("GET", path, NULL, NULL, &response);
    s_expect (&response, 200, NULL);
    assert_string_equal (response.content_type, "image/svg+xml");
    assert_int_equal (strncmp (response.body, "<svg", 4), 0);
    assert_non_null (strstr (response.body, "<path"));
    pd_test_http_clear (&response);

    s_validate (code.code, true, "active");
}

//  An appliance claims a code, then uses its token
static void
test_claim_and_appliance_token (void **state)
{
    char key[S_TOKEN_MAX], other_key[S_TOKEN_MAX];
    s_create_partner (&s_main, "Claim Partner", key);
    s_code_t code, code2;
    s_create_code (key, "{\"site_name\":\"Branch\"}", &code);
    s_create_code (key, "{\"site_name\":\"branch\"}", &code2); //  same site, any case

    char appliance_key[S_KEY_LEN + 1];
    s_z85_key (appliance_key);
    pd_test_http_t response;
    s_claim (&s_main, code.code, "AA:BB:CC:DD:EE:01", appliance_key, &response);
    s_expect (&response, 200, NULL);
    char appliance_id[S_ID_MAX + 1], site_id[S_ID_MAX + 1], token[S_TOKEN_MAX];
    snprintf (appliance_id, sizeof (appliance_id), "%s", pd_json_str (&response, "appliance_id"));
    snprintf (site_id, sizeof (site_id), "%s", pd_json_str (&response, "site_id"));
    snprintf (token, sizeof (token), "%s", pd_json_str (&response, "appliance_token"));
    assert_int_equal (strncmp (appliance_id, "apl_", 4), 0);
    assert_int_equal (strncmp (site_id, "sit_", 4), 0);
    assert_int_equal (strncmp (token, "pdt_", 4), 0);
    assert_string_equal (pd_json_str (&response, "site_name"), "Branch");
    assert_string_equal (pd_json_str (&response, "partner_name"), "Claim Partner");
    assert_string_equal (pd_json_str (&response, "broker_public_key"), s_broker_key);
    assert_string_equal (pd_json_str (&response, "broker_endpoint"), s_main.endpoint);
    assert_string_equal (pd_json_str (&response, "api_endpoint"), s_main.base);
    pd_test_http_clear (&response);

    s_validate (code.code, false, "used");
    s_claim (&s_main, code.code, "aa:bb:cc:dd:ee:02", NULL, &response);
    s_expect (&response, 409, "code_used");
    pd_test_http_clear (&response);
    //  The same CURVE key cannot be bound twice
    s_claim (&s_main, code2.code, "aa:bb:cc:dd:ee:03", appliance_key, &response);
    s_expect (&response, 409, "conflict");
    pd_test_http_clear (&response);
    //  The second code joins the first one's site
    s_claim (&s_main, code2.code, "aa:bb:cc:dd:ee:03", NULL, &response);
    s_expect (&response, 200, NULL);
    char appliance2[S_ID_MAX + 1];
    snprintf (appliance2, sizeof (appliance2), "%s", pd_json_str (&response, "appliance_id"));
    assert_string_equal (pd_json_str (&response, "site_id"), site_id);
    pd_test_http_clear (&response);

    //  The token: heartbeat, status, its own configuration only
    s_call ("POST", "/api/provision/heartbeat", token,
            "{\"status\":\"monitoring\",\"software_version\":\"1.0.1\"}", &response);
    s_expect (&response, 204, NULL);
    pd_test_http_clear (&response);
    s_call ("POST", "/api/provision/status", token, "{\"status\":\"provisioned\"}", &response);
    s_expect (&response, 204, NULL);
    pd_test_http_clear (&response);
    char path[256];
    snprintf (path, sizeof (path), "/api/provision/config/%s", appliance_id);
    s_call ("GET", path, token, NULL, &response);
    s_expect (&response, 200, NULL);
    assert_string_equal (pd_json_str (&response, "appliance_id"), appliance_id);
    assert_string_equal (pd_json_str (&response, "site_id"), site_id);
    assert_null (json_object_get (response.json, "appliance_token"));
    pd_test_http_clear (&response);
    snprintf (path, sizeof (path), "/api/provision/config/%s", appliance2);
    s_call ("GET", path, token, NULL, &response);
    s_expect (&response, 404, "not_found");
    pd_test_http_clear (&response);
    snprintf (path, sizeof (path), "/api/provision/config/%s", appliance_id);
    s_call ("GET", path, key, NULL, &response); //  a partner key
    s_expect (&response, 403, "forbidden");
    pd_test_http_clear (&response);
    s_call ("POST", "/api/provision/heartbeat", s_main.admin_key, "{}", &response);
    s_expect (&response, 403, "forbidden");
    pd_test_http_clear (&response);
    //  The token is no partner key
    s_call ("GET", "/api/partners/me/provisions", token, NULL, &response);
    s_expect (&response, 403, "forbidden");
    pd_test_http_clear (&response);

    //  The partner sees the site, the appliance online after its heartbeat
    s_call ("GET", "/api/partners/me/sites", key, NULL, &response);
    s_expect (&response, 200, NULL);
    json_t *items = json_object_get (response.json, "items");
    assert_int_equal (json_array_size (items), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (items, 0), "id")),
                         site_id);
    pd_test_http_clear (&response);
    snprintf (path, sizeof (path), "/api/partners/me/sites/%s", site_id);
    s_call ("GET", path, key, NULL, &response);
    s_expect (&response, 200, NULL);
    assert_int_equal (pd_json_int (&response, "appliance_count"), 2);
    assert_int_equal (pd_json_int (&response, "online_count"), 2);
    assert_true (pd_json_int (&response, "last_heartbeat_at") > 0);
    json_t *appliances = json_object_get (response.json, "appliances");
    assert_int_equal (json_array_size (appliances), 2);
    bool found = false;
    for (size_t i = 0; i < json_array_size (appliances); i++) {
        json_t *appliance = json_array_get (appliances, i);
        assert_null (json_object_get (appliance, "token_hash"));
        if (strcmp (json_string_value (json_object_get (appliance, "id")), appliance_id) == 0) {
            found = true;
            assert_true (json_is_true (json_object_get (appliance, "online")));
            assert_string_equal (json_string_value (json_object_get (appliance, "reported_status")),
                                 "provisioned");
            assert_string_equal (
                json_string_value (json_object_get (appliance, "software_version")), "1.0.1");
            assert_string_equal (json_string_value (json_object_get (appliance, "mac")),
                                 "aa:bb:cc:dd:ee:01");
        }
    }
    assert_true (found);
    pd_test_http_clear (&response);

    //  One appliance's detail: as the site lists it, no token hash
    char detail[512];
    snprintf (detail, sizeof (detail), "/api/partners/me/sites/%s/appliances/%s", site_id,
              appliance_id);
    s_call ("GET", detail, key, NULL, &response);
    s_expect (&response, 200, NULL);
    assert_string_equal (pd_json_str (&response, "id"), appliance_id);
    assert_string_equal (pd_json_str (&response, "site_id"), site_id);
    assert_true (json_is_true (json_object_get (response.json, "online")));
    assert_string_equal (pd_json_str (&response, "software_version"), "1.0.1");
    assert_null (json_object_get (response.json, "token_hash"));
    pd_test_http_clear (&response);
    //  ...under its own site only
    char wrong_site[512];
    snprintf (wrong_site, sizeof (wrong_site), "/api/partners/me/sites/sit_other/appliances/%s",
              appliance_id);
    s_call ("GET", wrong_site, key, NULL, &response);
    s_expect (&response, 404, "not_found");
    pd_test_http_clear (&response);

    //  Another partner sees none of it
    s_create_partner (&s_main, "Other Partner", other_key);
    s_call ("GET", path, other_key, NULL, &response);
    s_expect (&response, 404, "not_found");
    pd_test_http_clear (&response);
    s_call ("GET", detail, other_key, NULL, &response);
    s_expect (&response, 404, "not_found");
    assert_string_equal (pd_json_str (&response, "field"), "appliance_id");
    pd_test_http_clear (&response);
    //  ...and the admin key is no partner's
    s_call ("GET", detail, s_main.admin_key, NULL, &response);
    s_expect (&response, 403, "forbidden");
    pd_test_http_clear (&response);

    //  Revoked, the appliance's token stops working at once
    snprintf (path, sizeof (path), "/api/partners/me/sites/%s/appliances/%s/revoke", site_id,
              appliance_id);
    s_call ("POST", path, other_key, NULL, &response);
    s_expect (&response, 404, "not_found");
    pd_test_http_clear (&response);
    s_call ("POST", path, key, NULL, &response);
    s_expect (&response, 200, NULL);
    assert_string_equal (pd_json_str (&response, "status"), "revoked");
    pd_test_http_clear (&response);
    s_call ("POST", "/api/provision/heartbeat", token, "{}", &response);
    s_expect (&response, 403, "forbidden");
    pd_test_http_clear (&response);
}

static void
test_claim_refusals (void **state)
{
    char key[S_TOKEN_MAX];
    s_create_partner (&s_main, "Refusal Partner", key);
    s_code_t code;
    s_create_code (key, NULL, &code);

    //  Revoked: 410, twice the same answer; validate says so
    char path[256];
    snprintf (path, sizeof (path), "/api/partners/me/provisions/%s", code.id);
    pd_test_http_t response;
    s_call ("DELETE", path, key, NULL, &response);
    s_expect (&response, 200, NULL);
    assert_string_equal (pd_json_str (&response, "status"), "revoked");
    pd_test_http_clear (&response);
    s_claim (&s_main, code.code, "aa:bb:cc:dd:ee:10", NULL, &response);
    s_expect (&response, 410, "code_revoked");
    assert_string_equal (pd_json_str (&response, "detail"), "code revoked");
    pd_test_http_clear (&response);
    s_validate (code.code, false, "revoked");
    snprintf (path, sizeof (path), "/api/partners/provision/%s/qr", code.code);
    s_call ("GET", path, NULL, NULL, &response);
    s_expect (&response, 404, "not_found");
    pd_test_http_clear (&response);

    //  Unknown code
    s_claim (&s_main, "ABCDEFGHJKMNPQRS", "aa:bb:cc:dd:ee:11", NULL, &response);
    s_expect (&response, 404, "code_unknown");
    pd_test_http_clear (&response);
    s_validate ("ABCDEFGHJKMNPQRS", false, "unknown");

    //  Expired: a one-second code, polled (bounded) until it says so
    s_code_t short_lived;
    s_create_code (key, "{\"expires_in_s\":1}", &short_lived);
    char validate[128];
    snprintf (validate, sizeof (validate), "/api/provision/validate/%s", short_lived.code);
    bool expired = false;
    for (int attempt = 0; attempt < 50 && !expired; attempt++) {
        s_call ("GET", validate, NULL, NULL, &response);
        expired = strcmp (pd_json_str (&response, "status"), "expired") == 0;
        pd_test_http_clear (&response);
        if (!expired)
            usleep (100 * 1000); //  waiting for time itself to pass
    }
    assert_true (expired);
    s_claim (&s_main, short_lived.code, "aa:bb:cc:dd:ee:13", NULL, &response);
    s_expect (&response, 410, "code_expired");
    assert_string_equal (pd_json_str (&response, "detail"), "code expired");
    pd_test_http_clear (&response);

    //  A used code cannot be revoked; bad MAC and key are refused
    s_code_t used;
    s_create_code (key, NULL, &used);
    s_claim (&s_main, used.code, "not-a-mac-address", NULL, &response);
    s_expect (&response, 400, "invalid_field");
    pd_test_http_clear (&response);
    s_claim (&s_main, used.code, "aa:bb:cc:dd:ee:12", "this key is not z85 !!!!!!!!!!!!!!!!!!!!",
             &response);
    s_expect (&response, 400, "invalid_field");
    pd_test_http_clear (&response);
    s_claim (&s_main, used.code, "aa:bb:cc:dd:ee:12", NULL, &response);
    s_expect (&response, 200, NULL);
    //  An unnamed code's site is named after the hostname
    assert_string_equal (pd_json_str (&response, "site_name"), "appliance-1");
    pd_test_http_clear (&response);
    snprintf (path, sizeof (path), "/api/partners/me/provisions/%s", used.id);
    s_call ("DELETE", path, key, NULL, &response);
    s_expect (&response, 409, "code_used");
    pd_test_http_clear (&response);
}

//  A suspended partner's codes claim nothing
static void
test_suspended_partner_claims_nothing (void **state)
{
    char key[S_TOKEN_MAX];
    s_create_partner (&s_main, "Suspended Partner", key);
    s_code_t code;
    s_create_code (key, NULL, &code);
    pd_test_http_t response;
    s_call ("GET", "/api/partners/me", key, NULL, &response);
    s_expect (&response, 200, NULL);
    char path[256];
    snprintf (path, sizeof (path), "/api/partners/%s", pd_json_str (&response, "id"));
    pd_test_http_clear (&response);
    s_call ("PUT", path, s_main.admin_key, "{\"status\":\"suspended\"}", &response);
    s_expect (&response, 200, NULL);
    pd_test_http_clear (&response);

    s_claim (&s_main, code.code, "aa:bb:cc:dd:ee:20", NULL, &response);
    s_expect (&response, 403, "partner_inactive");
    assert_string_equal (pd_json_str (&response, "detail"), "the code's partner is not active");
    pd_test_http_clear (&response);
    //  Nothing was used up, but validating says it cannot be claimed now
    s_validate (code.code, false, "unavailable");
}

//  Partner B sees nothing of partner A's codes
static void
test_partner_isolation (void **state)
{
    char a_key[S_TOKEN_MAX], b_key[S_TOKEN_MAX];
    s_create_partner (&s_main, "Isolation A", a_key);
    s_create_partner (&s_main, "Isolation B", b_key);
    s_code_t code;
    s_create_code (a_key, NULL, &code);

    pd_test_http_t response;
    s_call ("GET", "/api/partners/me/provisions", b_key, NULL, &response);
    s_expect (&response, 200, NULL);
    assert_int_equal (json_array_size (json_object_get (response.json, "items")), 0);
    pd_test_http_clear (&response);
    char path[256];
    snprintf (path, sizeof (path), "/api/partners/me/provisions/%s", code.id);
    s_call ("DELETE", path, b_key, NULL, &response);
    s_expect (&response, 404, "not_found");
    pd_test_http_clear (&response);
    snprintf (path, sizeof (path), "/api/partners/me/provisions/%s/qr", code.id);
    s_call ("GET", path, b_key, NULL, &response);
    s_expect (&response, 404, "not_found");
    pd_test_http_clear (&response);
    s_call ("GET", "/api/partners/me/sites", b_key, NULL, &response);
    s_expect (&response, 200, NULL);
    assert_int_equal (json_array_size (json_object_get (response.json, "items")), 0);
    pd_test_http_clear (&response);
    s_validate (code.code, true, "active"); //  untouched
    //  Admin keys are no partner
    s_call ("GET", "/api/partners/me/provisions", s_main.admin_key, NULL, &response);
    s_expect (&response, 403, "forbidden");
    pd_test_http_clear (&response);
}

typedef struct {
    const char *code;
    pthread_barrier_t *barrier;
    int index;
    long status;
} s_racer_t;

static void *
s_racer (void *arg)
{
    s_racer_t *racer = arg;
    char url[S_URL_MAX], body[256];
    snprintf (url, sizeof (url), "%s/api/provision/claim", s_main.base);
    snprintf (body, sizeof (body), "{\"code\":\"%s\",\"mac\":\"02:00:00:00:%02x:%02x\"}",
              racer->code, racer->index / 256, racer->index % 256);
    pthread_barrier_wait (racer->barrier);
    pd_test_http_t response;
    racer->status =
        pd_test_http ("POST", url, NULL, body, NULL, &response) == 0 ? response.status : 0;
    pd_test_http_clear (&response);
    return NULL;
}

//  64 appliances claim one code at once: exactly one wins
static void
test_concurrent_claims (void **state)
{
    char key[S_TOKEN_MAX];
    s_create_partner (&s_main, "Race Partner", key);
    s_code_t code;
    s_create_code (key, "{\"site_name\":\"Race Site\"}", &code);

    pthread_barrier_t barrier;
    pthread_barrier_init (&barrier, NULL, S_RACERS);
    s_racer_t racers[S_RACERS];
    pthread_t threads[S_RACERS];
    for (int i = 0; i < S_RACERS; i++) {
        racers[i] = (s_racer_t){code.code, &barrier, i, 0};
        assert_int_equal (pthread_create (&threads[i], NULL, s_racer, &racers[i]), 0);
    }
    int won = 0, lost = 0;
    for (int i = 0; i < S_RACERS; i++) {
        pthread_join (threads[i], NULL);
        if (racers[i].status == 200)
            won++;
        else if (racers[i].status == 409)
            lost++;
        else
            fail_msg ("racer %d got %ld", i, racers[i].status);
    }
    pthread_barrier_destroy (&barrier);
    assert_int_equal (won, 1);
    assert_int_equal (lost, S_RACERS - 1);

    pd_test_http_t response;
    s_call ("GET", "/api/partners/me/sites", key, NULL, &response);
    s_expect (&response, 200, NULL);
    json_t *items = json_object_get (response.json, "items");
    assert_int_equal (json_array_size (items), 1);
    char path[256];
    snprintf (path, sizeof (path), "/api/partners/me/sites/%s",
              json_string_value (json_object_get (json_array_get (items, 0), "id")));
    pd_test_http_clear (&response);
    s_call ("GET", path, key, NULL, &response);
    s_expect (&response, 200, NULL);
    assert_int_equal (json_array_size (json_object_get (response.json, "appliances")), 1);
    assert_int_equal (pd_json_int (&response, "appliance_count"), 1);
    pd_test_http_clear (&response);
}

//  Claims are limited per client address: 429 with Retry-After
static void
test_claims_rate_limited (void **state)
{
    assert_int_equal (s_instance_start (&s_limited, S_CLAIMS_SMALL), 0);
    pd_test_http_t response;
    for (int i = 0; i < S_CLAIMS_SMALL; i++) {
        s_claim (&s_limited, "ABCDEFGHJKMNPQRS", "aa:bb:cc:dd:ee:20", NULL, &response);
        s_expect (&response, 404, "code_unknown");
        pd_test_http_clear (&response);
    }
    s_claim (&s_limited, "ABCDEFGHJKMNPQRS", "aa:bb:cc:dd:ee:20", NULL, &response);
    s_expect (&response, 429, "rate_limited");
    assert_true (atoi (response.retry_after) >= 1);
    pd_test_http_clear (&response);
    assert_int_equal (s_instance_stop (&s_limited), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_code_and_qr),
        cmocka_unit_test (test_claim_and_appliance_token),
        cmocka_unit_test (test_claim_refusals),
        cmocka_unit_test (test_suspended_partner_claims_nothing),
        cmocka_unit_test (test_partner_isolation),
        cmocka_unit_test (test_concurrent_claims),
        cmocka_unit_test (test_claims_rate_limited),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
