/*  pd_claim_actor - provision codes, claims, sites and appliances

    (see pd_claim_actor.h) Records: "provisions" (id -> provision; its
    status is stored active|used|revoked, "expired" is computed from
    expires_at when read, and claim_url is computed from the settings when
    answered, never stored), unique indexes "provisions_by_code" (code ->
    id) and "sites_by_name" ("partner_id:lower-cased name" -> site id),
    "sites" (id -> site, with appliance_count kept by the claims),
    "appliances" (id -> appliance, with the SHA-256 of its HTTP token in
    token_hash), unique indexes "appliance_keys" (CURVE key -> appliance id)
    and "appliance_tokens" (token id -> appliance id).

    A claim is one batch: the provision marked used (guarded by the
    version read), the site created or joined (guarded likewise), the
    appliance, its key and token entries, an audit event. Of concurrent
    claims of one code the first commit wins; the others fail the
    provision's version check, re-read it, and answer "code already used".
    A claim that lost only on the site (another code joined it at the same
    time) or on a new site's name is retried.

    Partner calls (kind "partner") take the partner from the principal and
    answer another partner's object 404. claim.http is public and rate
    limited per client address (every attempt counts, key
    "claim-source:<address>", apart from the sign-in failures counted under
    "source:<address>": claims must not eat into the login budget).
    claim.link and appliance.heartbeats come from the appliance front only
    (kind "appliance"; no HTTP route names them): the front authenticated
    the CURVE key and is trusted, so they are not rate limited here.
*/
#include "pd_claim_actor.h"

#include "pd_appliance_keys.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "pd_qr.h"
#include "pd_ratelimit.h"
#include "pd_record.h"
#include "pd_token.h"

#define S_PROVISION_TYPE "prv"
#define S_SITE_TYPE      "sit"
#define S_APPLIANCE_TYPE "apl"
#define S_ID_LENGTH      16
#define S_ID_SIZE        (PD_ID_MAX + 1)
#define S_KEY_SIZE       41               //  a Z85 CURVE key: 40 characters
#define S_KEY_BYTES      32               //  its binary form
#define S_NAME_KEY_SIZE  288              //  partner id, ':', a 200-byte name, lower-cased
#define S_SITE_NAME_SIZE 256              //  > the schema's 200 bytes
#define S_URL_SIZE       (PD_URL_MAX + 1) //  claim_url
#define S_CODE_PREFIX    4                //  characters of the code naming an unnamed site
#define S_RETRIES        5                //  attempts on a lost race that was not the code's
#define S_CODE_ATTEMPTS  8                //  fresh codes tried when one is taken
#define S_LIMIT_KEY_SIZE 96
#define S_MS_PER_S       1000
#define S_MAC_LEN        17
#define S_PNG_TYPE       "image/png"
#define S_SVG_TYPE       "image/svg+xml"

//  ------------------------------------------------------------------------
//  Helpers

//  The calling partner's id, or NULL if the caller is no partner
static const char *
s_partner_of (pd_ctx_t *ctx)
{
    const pd_principal_t *principal = pd_ctx_principal (ctx);
    if (strcmp (principal->kind, "partner") != 0 || !principal->partner_id ||
        !*principal->partner_id)
        return NULL;
    return principal->partner_id;
}

static int
s_partners_only (pd_ctx_t *ctx)
{
    return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "partners only");
}

//  The calling partner's id, for changes: a signed-in user must be a
//  partner-admin (the partner's API key acts as one); NULL otherwise, with
//  the refusal recorded
static const char *
s_partner_admin_of (pd_ctx_t *ctx)
{
    const char *partner_id = s_partner_of (ctx);
    const pd_principal_t *principal = pd_ctx_principal (ctx);
    if (!partner_id)
        s_partners_only (ctx);
    else if (principal->user_id &&
             (!principal->role || strcmp (principal->role, "partner-admin") != 0)) {
        pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "partner admins only");
        partner_id = NULL;
    }
    return partner_id;
}

static void
s_site_key (const char *partner_id, const char *name, char *key, size_t size)
{
    char lower[S_SITE_NAME_SIZE];
    pd_record_key_lower (name, lower, sizeof (lower));
    snprintf (key, size, "%s:%s", partner_id, lower);
}

//  Records with their versions (pd_record_load / pd_record_store)

#define S_BY_SITE_KEY_MAX PD_RECORD_INDEX_KEY_MAX

static void s_appliance_view (pd_ctx_t *ctx, pd_appliance_info_t *appliance);

//  A site's appliances (the first PD_PAGE_LIMIT_MAX, in id order) into
//  list, each as replies show it, with the site's online count and last
//  heartbeat: an index prefix scan and one read per appliance, whatever
//  the number of appliances elsewhere
static int
s_site_fill (pd_ctx_t *ctx, pd_site_t *site)
{
    pd_store_t *store = pd_ctx_store (ctx);
    char prefix[S_BY_SITE_KEY_MAX];
    int prefix_size = snprintf (prefix, sizeof (prefix), "%s/", site->id);
    pd_store_item_t *items = NULL;
    size_t count = 0;
    int rc = pd_store_scan (store, pd_table_appliances_by_site.name, prefix, (size_t)prefix_size,
                            NULL, 0, PD_PAGE_LIMIT_MAX, &items, &count);
    if (rc == PD_OK && count) {
        site->appliances.items = calloc (count, sizeof (pd_appliance_info_t));
        if (!site->appliances.items)
            rc = PD_E_INTERNAL;
    }
    int64_t online = 0, last = 0;
    pd_appliance_info_t *appliances = site->appliances.items;
    for (size_t i = 0; rc == PD_OK && i < count; i++) {
        char id[S_ID_SIZE];
        snprintf (id, sizeof (id), "%.*s", (int)(items[i].key_size - (size_t)prefix_size),
                  (const char *)items[i].key + prefix_size);
        pd_appliance_info_t *appliance = &appliances[site->appliances.size];
        int got = pd_record_load (store, &pd_table_appliances, id, appliance);
        if (got == PD_E_NOT_FOUND)
            continue; //  an index entry to nothing: not shown
        if (got != PD_OK) {
            rc = got;
            break;
        }
        site->appliances.size++;
        s_appliance_view (ctx, appliance);
        online += appliance->online;
        if (PD_HAS (appliance, appliance_info, last_seen_at) && appliance->last_seen_at > last)
            last = appliance->last_seen_at;
    }
    pd_store_items_destroy (&items, count);
    site->online_count = online;
    PD_MARK (site, site, online_count);
    if (last) {
        site->last_heartbeat_at = last;
        PD_MARK (site, site, last_heartbeat_at);
    }
    return rc;
}

static int
s_audit (pd_ctx_t *ctx, pd_store_batch_t *batch, const char *type, const char *partner_id,
         const char *subject, const char *detail)
{
    pd_event_t event = {0};
    event.type = (char *)type;
    event.at = pd_ctx_now (ctx);
    PD_MARK (&event, event, at);
    event.partner_id = (char *)partner_id;
    event.subject = (char *)subject;
    event.actor = (char *)pd_ctx_actor (ctx);
    event.detail = (char *)detail;
    return pd_ctx_emit (ctx, batch, PD_STREAM_AUDIT, &event);
}

//  Percent-encode a query value (RFC 3986: unreserved characters kept).
//  Z85 keys hold '&', '=', '?', '#', '%', '+': they must be encoded.
static bool
s_query_append (char *buf, size_t size, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t used = strlen (buf);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        bool plain = isalnum (*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (used + (plain ? 1 : 3) >= size)
            return false;
        if (plain)
            buf[used++] = (char)*p;
        else {
            buf[used++] = '%';
            buf[used++] = hex[*p >> 4];
            buf[used++] = hex[*p & 15];
        }
    }
    buf[used] = 0;
    return true;
}

//  The claim URL of a code: what QR codes carry
static int
s_claim_url (const pd_config_t *config, const char *code, char *url, size_t size)
{
    int length =
        snprintf (url, size, "%s/api/provision/claim?code=%s&endpoint=", config->public_url, code);
    bool ok = length > 0 && (size_t)length < size &&
              s_query_append (url, size, config->appliance_endpoint);
    if (ok && config->appliance_public_key && *config->appliance_public_key) {
        size_t used = strlen (url);
        ok = used + strlen ("&key=") < size;
        if (ok) {
            strcat (url, "&key=");
            ok = s_query_append (url, size, config->appliance_public_key);
        }
    }
    if (!ok)
        zsys_error ("claim: claim URL longer than %zu bytes: check public_url", size - 1);
    return ok ? PD_OK : PD_E_INTERNAL;
}

//  A fresh code: PD_PROVISION_CODE_LEN symbols of PD_PROVISION_ALPHABET
//  from the CSPRNG, unbiased (bytes at or above the largest multiple of
//  the alphabet's size are drawn again)
static int
s_code_new (char *code)
{
    const size_t symbols = strlen (PD_PROVISION_ALPHABET);
    const unsigned limit = (unsigned)(256 / symbols * symbols);
    size_t filled = 0;
    unsigned char pool[32];
    while (filled < PD_PROVISION_CODE_LEN) {
        if (RAND_bytes (pool, sizeof (pool)) != 1)
            return PD_E_INTERNAL;
        for (size_t i = 0; i < sizeof (pool) && filled < PD_PROVISION_CODE_LEN; i++)
            if (pool[i] < limit)
                code[filled++] = PD_PROVISION_ALPHABET[pool[i] % symbols];
    }
    code[filled] = 0;
    OPENSSL_cleanse (pool, sizeof (pool));
    return PD_OK;
}

//  The status a provision shows at `now`
static const char *
s_provision_status (const pd_provision_t *provision, int64_t now)
{
    if (strcmp (provision->status, "active") == 0 && PD_HAS (provision, provision, expires_at) &&
        provision->expires_at > 0 && now >= provision->expires_at)
        return "expired";
    return provision->status;
}

//  A provision as its partner sees it: computed status, claim URL
static int
s_provision_view (pd_ctx_t *ctx, pd_provision_t *provision)
{
    char url[S_URL_SIZE];
    const char *status = s_provision_status (provision, pd_ctx_now (ctx));
    if (status != provision->status && pd_schema_set_str (&provision->status, status) != PD_OK)
        return PD_E_INTERNAL;
    int rc = s_claim_url (pd_ctx_config (ctx), provision->code, url, sizeof (url));
    if (rc == PD_OK)
        rc = pd_schema_set_str (&provision->claim_url, url);
    return rc;
}

//  The stored form: no claim URL, no version
static int
s_provision_put (pd_store_batch_t *batch, const pd_provision_t *provision, uint64_t expect)
{
    pd_provision_t stored = *provision;
    stored.claim_url = NULL;
    return pd_record_store (batch, &pd_table_provisions, stored.id, &stored, expect);
}

//  Load the caller's provision `id`; another partner's answers 404
static int
s_provision_own (pd_ctx_t *ctx, const char *partner_id, const char *id, pd_provision_t *provision)
{
    int rc = pd_record_load (pd_ctx_store (ctx), &pd_table_provisions, id, provision);
    if (rc == PD_OK && strcmp (provision->partner_id, partner_id) != 0) {
        pd_schema_clear (&pd_provision_schema, provision);
        rc = PD_E_NOT_FOUND;
    }
    if (rc == PD_E_NOT_FOUND)
        return pd_ctx_fail (ctx, rc, "id", "no provision %s", id);
    return rc;
}

//  Load the provision of a code. PD_E_NOT_FOUND if none.
static int
s_provision_by_code (pd_store_t *store, const char *code, pd_provision_t *provision)
{
    char id[S_ID_SIZE];
    int rc = pd_record_lookup (store, &pd_table_provisions_by_code, code, id, sizeof (id));
    if (rc == PD_OK)
        rc = pd_record_load (store, &pd_table_provisions, id, provision);
    return rc;
}

//  Is the appliance online at `now`?
static bool
s_online (const pd_config_t *config, const pd_appliance_info_t *appliance, int64_t now)
{
    //  A revoked appliance is never online, however recently it was heard
    return appliance->status && strcmp (appliance->status, "active") == 0 &&
           PD_HAS (appliance, appliance_info, last_seen_at) && appliance->last_seen_at > 0 &&
           now - appliance->last_seen_at <= config->appliance_offline_after_s * S_MS_PER_S;
}

//  An appliance as replies show it: no token hash, online computed
static void
s_appliance_view (pd_ctx_t *ctx, pd_appliance_info_t *appliance)
{
    if (appliance->token_hash.data)
        OPENSSL_cleanse (appliance->token_hash.data, appliance->token_hash.size);
    free (appliance->token_hash.data);
    appliance->token_hash.data = NULL;
    appliance->token_hash.size = 0;
    appliance->present &= ~(UINT64_C (1) << PD_FIELD_appliance_info_token_hash);
    appliance->online = s_online (pd_ctx_config (ctx), appliance, pd_ctx_now (ctx));
    PD_MARK (appliance, appliance_info, online);
}

//  ------------------------------------------------------------------------
//  Provision codes (partners)

static int
s_provision_create (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_provision_create_t *req = request;
    pd_provision_t *provision = reply;
    const char *partner_id = s_partner_admin_of (ctx);
    if (!partner_id)
        return PD_E_FORBIDDEN;

    char id[S_ID_SIZE];
    if (pd_token_random_id (S_PROVISION_TYPE, S_ID_LENGTH, id, sizeof (id)) != PD_OK)
        return PD_E_INTERNAL;
    int64_t now = pd_ctx_now (ctx);
    if (pd_schema_set_str (&provision->id, id) != PD_OK ||
        pd_schema_set_str (&provision->partner_id, partner_id) != PD_OK ||
        pd_schema_set_str (&provision->status, "active") != PD_OK ||
        (req->site_name && pd_schema_set_str (&provision->site_name, req->site_name) != PD_OK))
        return PD_E_INTERNAL;
    provision->created_at = now;
    PD_MARK (provision, provision, created_at);
    if (PD_HAS (req, provision_create, expires_in_s)) {
        provision->expires_at = now + req->expires_in_s * S_MS_PER_S;
        PD_MARK (provision, provision, expires_at);
    }

    //  80 bits of code: a collision is unlikely, but the index decides
    int rc = PD_E_EXISTS;
    for (int attempt = 0; attempt < S_CODE_ATTEMPTS && rc == PD_E_EXISTS; attempt++) {
        char code[PD_PROVISION_CODE_LEN + 1];
        rc = s_code_new (code);
        if (rc == PD_OK)
            rc = pd_schema_set_str (&provision->code, code);
        pd_store_batch_t *batch = rc == PD_OK ? pd_store_batch_new () : NULL;
        if (rc == PD_OK && !batch)
            rc = PD_E_INTERNAL;
        if (rc == PD_OK)
            rc = s_provision_put (batch, provision, PD_STORE_ABSENT);
        if (rc == PD_OK)
            rc = pd_record_index_add (batch, &pd_index_provisions_by_partner, provision->partner_id,
                                      provision->id);
        if (rc == PD_OK)
            rc = pd_store_batch_index_add (batch, pd_table_provisions_by_code.name, code,
                                           strlen (code), id, strlen (id));
        if (rc == PD_OK)
            rc = s_audit (ctx, batch, "provision.created", partner_id, id, provision->site_name);
        if (rc == PD_OK)
            rc = pd_ctx_commit (ctx, batch);
        if (rc == PD_OK) {
            provision->version = (int64_t)pd_store_batch_version (batch, 0);
            PD_MARK (provision, provision, version);
        }
        pd_store_batch_destroy (&batch);
    }
    if (rc == PD_OK)
        rc = s_provision_view (ctx, provision);
    return rc;
}

static int
s_provision_list (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_provision_list_t *req = request;
    pd_provision_page_t *page = reply;
    const char *partner_id = s_partner_of (ctx);
    if (!partner_id)
        return s_partners_only (ctx);
    size_t limit = PD_HAS (req, provision_list, limit) ? (size_t)req->limit : PD_PAGE_LIMIT_DEFAULT;
    int rc = pd_record_page_of (pd_ctx_store (ctx), &pd_index_provisions_by_partner, partner_id,
                                req->cursor, limit, NULL, NULL, &page->items, &page->next_cursor);
    pd_provision_t *items = page->items.items;
    for (size_t i = 0; rc == PD_OK && i < page->items.size; i++)
        rc = s_provision_view (ctx, &items[i]);
    return rc;
}

static int
s_provision_revoke (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_provision_ref_t *req = request;
    pd_provision_t *provision = reply;
    const char *partner_id = s_partner_admin_of (ctx);
    if (!partner_id)
        return PD_E_FORBIDDEN;
    int rc = PD_E_CONFLICT;
    for (int attempt = 0; attempt < S_RETRIES && rc == PD_E_CONFLICT; attempt++) {
        pd_schema_clear (&pd_provision_schema, provision);
        rc = s_provision_own (ctx, partner_id, req->id, provision);
        if (rc != PD_OK)
            return rc;
        if (strcmp (provision->status, "used") == 0)
            return pd_ctx_fail (ctx, PD_E_CODE_USED, "id", "code already used");
        if (strcmp (provision->status, "revoked") == 0)
            break; //  revoked already: the same answer
        pd_store_batch_t *batch = pd_store_batch_new ();
        rc = batch && pd_schema_set_str (&provision->status, "revoked") == PD_OK
                 ? s_provision_put (batch, provision, (uint64_t)provision->version)
                 : PD_E_INTERNAL;
        if (rc == PD_OK)
            rc = s_audit (ctx, batch, "provision.revoked", partner_id, provision->id, NULL);
        if (rc == PD_OK)
            rc = pd_ctx_commit (ctx, batch);
        if (rc == PD_OK)
            provision->version = (int64_t)pd_store_batch_version (batch, 0);
        pd_store_batch_destroy (&batch);
    }
    if (rc == PD_OK)
        rc = s_provision_view (ctx, provision);
    return rc;
}

//  The QR image of a claim URL into a `binary` reply
static int
s_qr_reply (pd_ctx_t *ctx, const char *code, const char *format, pd_binary_t *binary)
{
    char url[S_URL_SIZE];
    int rc = s_claim_url (pd_ctx_config (ctx), code, url, sizeof (url));
    if (rc != PD_OK)
        return rc;
    bool svg = format && strcmp (format, "svg") == 0;
    int made;
    if (svg) {
        char *text = NULL;
        made = pd_qr_svg (url, &text, &binary->content.size);
        binary->content.data = (uint8_t *)text;
    } else
        made = pd_qr_png (url, &binary->content.data, &binary->content.size);
    if (made != 0) {
        zsys_error ("claim: cannot make a QR code of %zu bytes", strlen (url));
        return PD_E_INTERNAL;
    }
    PD_MARK (binary, binary, content);
    return pd_schema_set_str (&binary->content_type, svg ? S_SVG_TYPE : S_PNG_TYPE);
}

static int
s_provision_qr (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_provision_qr_t *req = request;
    const char *partner_id = s_partner_of (ctx);
    if (!partner_id)
        return s_partners_only (ctx);
    if (!req->id)
        return pd_ctx_fail (ctx, PD_E_MISSING_FIELD, "id", "a provision id is required");
    pd_provision_t provision = {0};
    int rc = s_provision_own (ctx, partner_id, req->id, &provision);
    if (rc == PD_OK)
        rc = s_qr_reply (ctx, provision.code, req->format, reply);
    pd_schema_clear (&pd_provision_schema, &provision);
    return rc;
}

//  Anyone holding an active code may see its QR; nothing else answers
static int
s_provision_public_qr (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_provision_qr_t *req = request;
    if (!req->code)
        return pd_ctx_fail (ctx, PD_E_MISSING_FIELD, "code", "a code is required");
    pd_provision_t provision = {0};
    int rc = s_provision_by_code (pd_ctx_store (ctx), req->code, &provision);
    if (rc == PD_OK && strcmp (s_provision_status (&provision, pd_ctx_now (ctx)), "active") != 0)
        rc = PD_E_NOT_FOUND;
    if (rc == PD_OK)
        rc = s_qr_reply (ctx, provision.code, req->format, reply);
    else if (rc == PD_E_NOT_FOUND)
        rc = pd_ctx_fail (ctx, rc, "code", "no active provision code");
    pd_schema_clear (&pd_provision_schema, &provision);
    return rc;
}

//  Before claiming: is the code good? Only an active code tells whose it
//  is (partner and site names); any other answers its status alone.
static int
s_provision_validate (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_provision_check_t *req = request;
    pd_provision_check_t *check = reply;
    pd_store_t *store = pd_ctx_store (ctx);
    pd_provision_t provision = {0};
    const char *status = "unknown";
    int rc = s_provision_by_code (store, req->code, &provision);
    if (rc == PD_OK)
        status = s_provision_status (&provision, pd_ctx_now (ctx));
    else if (rc != PD_E_NOT_FOUND)
        return rc;
    pd_partner_t partner = {0};
    bool partner_active = false;
    if (strcmp (status, "active") == 0 &&
        pd_record_get (store, &pd_table_partners, provision.partner_id, &partner, NULL) == PD_OK)
        partner_active = partner.status && strcmp (partner.status, "active") == 0;
    //  A claim of an inactive partner's code is refused: say so before
    if (strcmp (status, "active") == 0 && !partner_active)
        status = "unavailable";
    check->valid = strcmp (status, "active") == 0;
    PD_MARK (check, provision_check, valid);
    rc = PD_OK;
    if (pd_schema_set_str (&check->code, req->code) != PD_OK ||
        pd_schema_set_str (&check->status, status) != PD_OK)
        rc = PD_E_INTERNAL;
    if (rc == PD_OK && check->valid) {
        if (pd_schema_set_str (&check->partner_name, partner.name) != PD_OK)
            rc = PD_E_INTERNAL;
        if (rc == PD_OK && provision.site_name)
            rc = pd_schema_set_str (&check->site_name, provision.site_name);
        if (rc == PD_OK && PD_HAS (&provision, provision, expires_at)) {
            check->expires_at = provision.expires_at;
            PD_MARK (check, provision_check, expires_at);
        }
    }
    pd_schema_clear (&pd_partner_schema, &partner);
    pd_schema_clear (&pd_provision_schema, &provision);
    return rc;
}

//  ------------------------------------------------------------------------
//  Claims

//  aa:bb:cc:dd:ee:ff, hex digits of either case; lower-cased into out
static bool
s_mac_ok (const char *mac, char *out)
{
    if (strlen (mac) != S_MAC_LEN)
        return false;
    for (size_t i = 0; i < S_MAC_LEN; i++) {
        bool colon = i % 3 == 2;
        if (colon ? mac[i] != ':' : !isxdigit ((unsigned char)mac[i]))
            return false;
        out[i] = (char)tolower ((unsigned char)mac[i]);
    }
    out[S_MAC_LEN] = 0;
    return true;
}

static bool
s_key_ok (const char *key)
{
    uint8_t bytes[S_KEY_BYTES];
    return strlen (key) == S_KEY_SIZE - 1 && zmq_z85_decode (bytes, key) != NULL;
}

//  Why a provision cannot be claimed, answered; PD_OK if it can
static int
s_claimable (pd_ctx_t *ctx, const pd_provision_t *provision)
{
    const char *status = s_provision_status (provision, pd_ctx_now (ctx));
    if (strcmp (status, "revoked") == 0)
        return pd_ctx_fail (ctx, PD_E_CODE_REVOKED, "code", "code revoked");
    if (strcmp (status, "expired") == 0)
        return pd_ctx_fail (ctx, PD_E_CODE_EXPIRED, "code", "code expired");
    if (strcmp (status, "used") == 0)
        return pd_ctx_fail (ctx, PD_E_CODE_USED, "code", "code already used");
    return PD_OK;
}

//  What the appliance writes to its config file
static int
s_config_fill (pd_ctx_t *ctx, const pd_appliance_info_t *appliance, const pd_site_t *site,
               const pd_partner_t *partner, pd_appliance_setup_t *out)
{
    const pd_config_t *config = pd_ctx_config (ctx);
    int rc = PD_OK;
    if (pd_schema_set_str (&out->appliance_id, appliance->id) != PD_OK ||
        pd_schema_set_str (&out->site_id, appliance->site_id) != PD_OK ||
        pd_schema_set_str (&out->partner_id, appliance->partner_id) != PD_OK ||
        pd_schema_set_str (&out->api_endpoint, config->public_url) != PD_OK ||
        pd_schema_set_str (&out->broker_endpoint, config->appliance_endpoint) != PD_OK)
        rc = PD_E_INTERNAL;
    if (rc == PD_OK && site && pd_schema_set_str (&out->site_name, site->name) != PD_OK)
        rc = PD_E_INTERNAL;
    if (rc == PD_OK && partner && partner->name &&
        pd_schema_set_str (&out->partner_name, partner->name) != PD_OK)
        rc = PD_E_INTERNAL;
    if (rc == PD_OK && config->appliance_public_key && *config->appliance_public_key &&
        pd_schema_set_str (&out->broker_public_key, config->appliance_public_key) != PD_OK)
        rc = PD_E_INTERNAL;
    if (rc == PD_OK && partner && partner->branding) {
        out->branding = calloc (1, sizeof (*out->branding));
        if (!out->branding ||
            pd_schema_copy (&pd_branding_schema, out->branding, partner->branding) != PD_OK)
            rc = PD_E_INTERNAL;
    }
    return rc;
}

//  The site a claim lands in, loaded into *site: the partner's site of the
//  provision's name (joined, *is_new false) or a new one. An unnamed
//  provision makes a new site named after the hostname or the code; if
//  that name is taken, the code is appended.
static int
s_claim_site (pd_ctx_t *ctx, const pd_provision_t *provision, const char *hostname, pd_site_t *site,
              bool *is_new, char *name_key, size_t key_size)
{
    pd_store_t *store = pd_ctx_store (ctx);
    char name[S_SITE_NAME_SIZE];
    char id[S_ID_SIZE];
    bool named = provision->site_name && *provision->site_name;
    if (named)
        snprintf (name, sizeof (name), "%s", provision->site_name);
    else if (hostname && *hostname)
        snprintf (name, sizeof (name), "%.200s", hostname);
    else
        snprintf (name, sizeof (name), "Site %.*s", S_CODE_PREFIX, provision->code);
    s_site_key (provision->partner_id, name, name_key, key_size);
    int rc = pd_record_lookup (store, &pd_table_sites_by_name, name_key, id, sizeof (id));
    if (rc == PD_OK && named) {
        *is_new = false;
        rc = pd_record_load (store, &pd_table_sites, id, site);
        return rc == PD_E_NOT_FOUND ? PD_E_INTERNAL : rc; //  an index to nothing
    }
    if (rc == PD_OK) {
        //  An unnamed code's site is always new: keep names unique
        char longer[S_SITE_NAME_SIZE];
        snprintf (longer, sizeof (longer), "%.180s %s", name, provision->code);
        snprintf (name, sizeof (name), "%s", longer);
        s_site_key (provision->partner_id, name, name_key, key_size);
    } else if (rc != PD_E_NOT_FOUND)
        return rc;
    *is_new = true;
    if (pd_token_random_id (S_SITE_TYPE, S_ID_LENGTH, id, sizeof (id)) != PD_OK ||
        pd_schema_set_str (&site->id, id) != PD_OK ||
        pd_schema_set_str (&site->partner_id, provision->partner_id) != PD_OK ||
        pd_schema_set_str (&site->name, name) != PD_OK)
        return PD_E_INTERNAL;
    site->created_at = pd_ctx_now (ctx);
    PD_MARK (site, site, created_at);
    return PD_OK;
}

//  One claim attempt: everything in one batch. PD_OK with the reply
//  filled; the store's status otherwise (PD_E_CONFLICT / PD_E_EXISTS
//  are for the caller to sort out).
static int
s_claim_once (pd_ctx_t *ctx, const pd_claim_t *req, const char *mac, const char *public_key,
              bool with_token, pd_provision_t *provision, pd_appliance_setup_t *out)
{
    pd_store_t *store = pd_ctx_store (ctx);
    int64_t now = pd_ctx_now (ctx);
    pd_site_t site = {0};
    pd_appliance_info_t appliance = {0};
    pd_partner_t partner = {0};
    pd_token_t token;
    memset (&token, 0, sizeof (token));
    pd_store_batch_t *batch = NULL;
    bool site_new = false;
    char name_key[S_NAME_KEY_SIZE];
    char appliance_id[S_ID_SIZE];

    int rc = pd_record_get (store, &pd_table_partners, provision->partner_id, &partner, NULL);
    if (rc == PD_E_NOT_FOUND)
        rc = pd_ctx_fail (ctx, PD_E_CODE_UNKNOWN, "code", "unknown code");
    //  A suspended, pending or rejected partner gains no appliances
    if (rc == PD_OK && (!partner.status || strcmp (partner.status, "active") != 0))
        rc = pd_ctx_fail (ctx, PD_E_PARTNER_INACTIVE, "code", "the code's partner is not active");
    if (rc == PD_OK)
        rc = s_claim_site (ctx, provision, req->hostname, &site, &site_new, name_key,
                           sizeof (name_key));
    if (rc != PD_OK)
        goto cleanup;
    uint64_t site_version = site_new ? PD_STORE_ABSENT : (uint64_t)site.version;
    site.appliance_count++;
    PD_MARK (&site, site, appliance_count);

    rc = pd_token_random_id (S_APPLIANCE_TYPE, S_ID_LENGTH, appliance_id, sizeof (appliance_id));
    if (rc == PD_OK && with_token)
        rc = pd_token_generate (PD_TOKEN_APPLIANCE, &token);
    if (rc != PD_OK || pd_schema_set_str (&appliance.id, appliance_id) != PD_OK ||
        pd_schema_set_str (&appliance.site_id, site.id) != PD_OK ||
        pd_schema_set_str (&appliance.partner_id, provision->partner_id) != PD_OK ||
        pd_schema_set_str (&appliance.mac, mac) != PD_OK ||
        pd_schema_set_str (&appliance.status, "active") != PD_OK ||
        (public_key && pd_schema_set_str (&appliance.public_key, public_key) != PD_OK) ||
        (req->hostname && pd_schema_set_str (&appliance.hostname, req->hostname) != PD_OK) ||
        (req->software_version &&
         pd_schema_set_str (&appliance.software_version, req->software_version) != PD_OK)) {
        rc = PD_E_INTERNAL;
        goto cleanup;
    }
    appliance.created_at = appliance.last_seen_at = now;
    PD_MARK (&appliance, appliance_info, created_at);
    PD_MARK (&appliance, appliance_info, last_seen_at);
    if (with_token) {
        appliance.token_hash.data = malloc (PD_TOKEN_HASH_SIZE);
        if (!appliance.token_hash.data) {
            rc = PD_E_INTERNAL;
            goto cleanup;
        }
        memcpy (appliance.token_hash.data, token.hash, PD_TOKEN_HASH_SIZE);
        appliance.token_hash.size = PD_TOKEN_HASH_SIZE;
        PD_MARK (&appliance, appliance_info, token_hash);
    }

    //  The provision first: a lost race on the code fails on it
    uint64_t provision_version = (uint64_t)provision->version;
    if (pd_schema_set_str (&provision->status, "used") != PD_OK ||
        pd_schema_set_str (&provision->site_id, site.id) != PD_OK ||
        pd_schema_set_str (&provision->appliance_id, appliance_id) != PD_OK) {
        rc = PD_E_INTERNAL;
        goto cleanup;
    }
    provision->used_at = now;
    PD_MARK (provision, provision, used_at);
    batch = pd_store_batch_new ();
    rc = batch ? s_provision_put (batch, provision, provision_version) : PD_E_INTERNAL;
    if (rc == PD_OK)
        rc = pd_record_store (batch, &pd_table_sites, site.id, &site, site_version);
    if (rc == PD_OK && site_new)
        rc = pd_store_batch_index_add (batch, pd_table_sites_by_name.name, name_key,
                                       strlen (name_key), site.id, strlen (site.id));
    if (rc == PD_OK && site_new)
        rc = pd_record_index_add (batch, &pd_index_sites_by_partner, site.partner_id, site.id);
    if (rc == PD_OK)
        rc = pd_record_store (batch, &pd_table_appliances, appliance.id, &appliance,
                              PD_STORE_ABSENT);
    if (rc == PD_OK)
        rc = pd_record_index_add (batch, &pd_index_appliances_by_site, site.id, appliance_id);
    if (rc == PD_OK && public_key)
        rc = pd_store_batch_index_add (batch, pd_table_appliance_keys.name, public_key,
                                       strlen (public_key), appliance_id, strlen (appliance_id));
    if (rc == PD_OK && with_token)
        rc = pd_store_batch_index_add (batch, pd_table_appliance_tokens.name, token.id,
                                       strlen (token.id), appliance_id, strlen (appliance_id));
    if (rc == PD_OK)
        rc =
            s_audit (ctx, batch, "appliance.claimed", provision->partner_id, appliance_id, site.id);
    if (rc == PD_OK)
        rc = pd_ctx_commit (ctx, batch);
    if (rc == PD_OK)
        rc = s_config_fill (ctx, &appliance, &site, &partner, out);
    if (rc == PD_OK && with_token)
        rc = pd_schema_set_str (&out->appliance_token, token.text);

cleanup:
    pd_store_batch_destroy (&batch);
    OPENSSL_cleanse (&token, sizeof (token));
    pd_schema_clear (&pd_site_schema, &site);
    pd_schema_clear (&pd_appliance_info_schema, &appliance);
    pd_schema_clear (&pd_partner_schema, &partner);
    return rc;
}

//  A claim, over HTTP (with_token: the appliance gets an HTTP token) or
//  over the link (public_key: the CURVE key the front authenticated)
static int
s_claim (pd_ctx_t *ctx, const pd_claim_t *req, const char *public_key, bool with_token,
         pd_appliance_setup_t *out)
{
    pd_store_t *store = pd_ctx_store (ctx);
    char mac[S_MAC_LEN + 1];
    if (!s_mac_ok (req->mac, mac))
        return pd_ctx_fail (ctx, PD_E_INVALID_FIELD, "mac", "must be aa:bb:cc:dd:ee:ff");
    if (public_key && !s_key_ok (public_key))
        return pd_ctx_fail (ctx, PD_E_INVALID_FIELD, "public_key",
                            "must be a Z85 CURVE public key");

    int rc = PD_E_CONFLICT;
    for (int attempt = 0; attempt < S_RETRIES && (rc == PD_E_CONFLICT || rc == PD_E_EXISTS);
         attempt++) {
        pd_provision_t provision = {0};
        pd_schema_clear (&pd_appliance_setup_schema, out);
        rc = s_provision_by_code (store, req->code, &provision);
        if (rc == PD_E_NOT_FOUND)
            rc = pd_ctx_fail (ctx, PD_E_CODE_UNKNOWN, "code", "unknown code");
        if (rc == PD_OK)
            rc = s_claimable (ctx, &provision);
        if (rc == PD_E_CODE_UNKNOWN || rc == PD_E_CODE_USED || rc == PD_E_CODE_REVOKED ||
            rc == PD_E_CODE_EXPIRED) {
            pd_schema_clear (&pd_provision_schema, &provision);
            return rc; //  answered by s_claimable: not a race to retry
        }
        if (rc == PD_OK)
            rc = s_claim_once (ctx, req, mac, public_key, with_token, &provision, out);
        pd_schema_clear (&pd_provision_schema, &provision);
        if (rc == PD_E_EXISTS && public_key) {
            char bound[S_ID_SIZE];
            if (pd_record_lookup (store, &pd_table_appliance_keys, public_key, bound,
                                  sizeof (bound)) == PD_OK)
                return pd_ctx_fail (ctx, PD_E_CONFLICT, "public_key",
                                    "public key already bound to an appliance");
        }
        //  PD_E_CONFLICT: the code (answered on the next read) or the
        //  site changed; PD_E_EXISTS: a new site's name was taken
    }
    if (rc == PD_E_CONFLICT || rc == PD_E_EXISTS)
        return pd_ctx_fail (ctx, PD_E_CODE_USED, "code", "code already used");
    return rc;
}

static int
s_claim_http (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_claim_t *req = request;
    const pd_config_t *config = pd_ctx_config (ctx);
    pd_ratelimit_policy_t policy = {config->claims_per_source, config->login_window_s * S_MS_PER_S};
    char key[S_LIMIT_KEY_SIZE];
    pd_ratelimit_source_key ("claim-source", pd_ctx_source (ctx), key, sizeof (key));
    //  Every attempt counts, good or bad: codes are not to be guessed
    int retry_after = 0;
    int rc =
        pd_ratelimit_attempt (pd_ctx_store (ctx), key, &policy, pd_ctx_now (ctx), &retry_after);
    if (rc == PD_E_RATE_LIMITED) {
        pd_ctx_retry_after (ctx, retry_after);
        return pd_ctx_fail (ctx, rc, NULL, "too many claims; retry later");
    }
    if (rc != PD_OK)
        return rc;
    return s_claim (ctx, req, req->public_key, true, reply);
}

//  From the appliance front: the key is the one ZAP authenticated; a key
//  in the body is ignored
static int
s_claim_link (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_principal_t *principal = pd_ctx_principal (ctx);
    if (strcmp (principal->kind, "appliance") != 0 || !principal->appliance_key ||
        !*principal->appliance_key)
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "the appliance front only");
    return s_claim (ctx, request, principal->appliance_key, false, reply);
}

//  ------------------------------------------------------------------------
//  Appliances

//  The calling appliance (HTTP token), or NULL
static const char *
s_appliance_of (pd_ctx_t *ctx)
{
    const pd_principal_t *principal = pd_ctx_principal (ctx);
    if (strcmp (principal->kind, "appliance") != 0 || !principal->appliance_id ||
        !*principal->appliance_id)
        return NULL;
    return principal->appliance_id;
}

//  Copy a report onto an appliance (its own record)
static int
s_report_apply (pd_appliance_info_t *appliance, const char *status, const char *software_version,
                int64_t at)
{
    if (status && pd_schema_set_str (&appliance->reported_status, status) != PD_OK)
        return PD_E_INTERNAL;
    if (software_version &&
        pd_schema_set_str (&appliance->software_version, software_version) != PD_OK)
        return PD_E_INTERNAL;
    if (!PD_HAS (appliance, appliance_info, last_seen_at) || at > appliance->last_seen_at) {
        appliance->last_seen_at = at;
        PD_MARK (appliance, appliance_info, last_seen_at);
    }
    return PD_OK;
}

static int
s_appliance_report (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_appliance_report_t *req = request;
    const char *id = s_appliance_of (ctx);
    if (!id)
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "appliances only");
    int rc = PD_E_CONFLICT;
    for (int attempt = 0; attempt < S_RETRIES && rc == PD_E_CONFLICT; attempt++) {
        pd_appliance_info_t appliance = {0};
        rc = pd_record_load (pd_ctx_store (ctx), &pd_table_appliances, id, &appliance);
        if (rc == PD_E_NOT_FOUND)
            rc = pd_ctx_fail (ctx, rc, NULL, "no such appliance");
        else if (rc == PD_OK && strcmp (appliance.status, "active") != 0)
            rc = pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "appliance is %s", appliance.status);
        if (rc == PD_OK)
            rc = s_report_apply (&appliance, req->status, req->software_version, pd_ctx_now (ctx));
        pd_store_batch_t *batch = rc == PD_OK ? pd_store_batch_new () : NULL;
        if (rc == PD_OK)
            rc = batch ? pd_record_store (batch, &pd_table_appliances, appliance.id, &appliance,
                                          (uint64_t)appliance.version)
                       : PD_E_INTERNAL;
        if (rc == PD_OK)
            rc = pd_ctx_commit (ctx, batch);
        pd_store_batch_destroy (&batch);
        pd_schema_clear (&pd_appliance_info_schema, &appliance);
    }
    return rc;
}

//  The front's gathered heartbeats: one batch for all of them, each
//  appliance guarded by the version read (a revocation racing a flush is
//  never undone); unknown or inactive appliances are skipped
static int
s_appliance_heartbeats (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_heartbeats_t *req = request;
    const pd_principal_t *principal = pd_ctx_principal (ctx);
    if (strcmp (principal->kind, "appliance") != 0 ||
        (principal->appliance_id && *principal->appliance_id))
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "the appliance front only");
    const pd_heartbeat_t *items = req->items.items;
    size_t count = req->items.size;
    if (count == 0)
        return PD_OK;

    int rc = PD_E_CONFLICT;
    for (int attempt = 0; attempt < S_RETRIES && rc == PD_E_CONFLICT; attempt++) {
        pd_appliance_info_t *loaded = calloc (count, sizeof (pd_appliance_info_t));
        zhashx_t *seen = zhashx_new (); //  appliance id -> index + 1 in loaded
        pd_store_batch_t *batch = pd_store_batch_new ();
        size_t used = 0;
        rc = loaded && seen && batch ? PD_OK : PD_E_INTERNAL;
        for (size_t i = 0; rc == PD_OK && i < count; i++) {
            const pd_heartbeat_t *beat = &items[i];
            int64_t at = PD_HAS (beat, heartbeat, at) && beat->at > 0 ? beat->at : pd_ctx_now (ctx);
            size_t index = (size_t)(uintptr_t)zhashx_lookup (seen, beat->appliance_id);
            pd_appliance_info_t *appliance = NULL;
            if (index)
                appliance = &loaded[index - 1];
            else {
                appliance = &loaded[used];
                int got = pd_record_load (pd_ctx_store (ctx), &pd_table_appliances,
                                          beat->appliance_id, appliance);
                if (got == PD_E_NOT_FOUND)
                    continue;
                if (got != PD_OK) {
                    rc = got;
                    break;
                }
                used++;
                zhashx_insert (seen, beat->appliance_id, (void *)(uintptr_t)used);
            }
            if (strcmp (appliance->status, "active") == 0)
                rc = s_report_apply (appliance, beat->status, beat->software_version, at);
        }
        for (size_t i = 0; rc == PD_OK && i < used; i++)
            if (strcmp (loaded[i].status, "active") == 0)
                rc = pd_record_store (batch, &pd_table_appliances, loaded[i].id, &loaded[i],
                                      (uint64_t)loaded[i].version);
        if (rc == PD_OK)
            rc = pd_ctx_commit (ctx, batch);
        pd_store_batch_destroy (&batch);
        for (size_t i = 0; loaded && i < used; i++)
            pd_schema_clear (&pd_appliance_info_schema, &loaded[i]);
        free (loaded);
        zhashx_destroy (&seen);
    }
    return rc;
}

static int
s_appliance_config (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_appliance_id_t *req = request;
    const char *id = s_appliance_of (ctx);
    if (!id)
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "appliances only");
    //  An appliance reads its own configuration only
    if (strcmp (req->appliance_id, id) != 0)
        return pd_ctx_fail (ctx, PD_E_NOT_FOUND, "appliance_id", "no appliance %s",
                            req->appliance_id);
    pd_store_t *store = pd_ctx_store (ctx);
    pd_appliance_info_t appliance = {0};
    pd_site_t site = {0};
    pd_partner_t partner = {0};
    int rc = pd_record_load (store, &pd_table_appliances, id, &appliance);
    if (rc == PD_OK)
        rc = pd_record_load (store, &pd_table_sites, appliance.site_id, &site);
    if (rc == PD_OK)
        rc = pd_record_get (store, &pd_table_partners, appliance.partner_id, &partner, NULL);
    if (rc == PD_E_NOT_FOUND)
        rc = pd_ctx_fail (ctx, rc, "appliance_id", "no appliance %s", req->appliance_id);
    if (rc == PD_OK)
        rc = s_config_fill (ctx, &appliance, &site, &partner, reply);
    pd_schema_clear (&pd_appliance_info_schema, &appliance);
    pd_schema_clear (&pd_site_schema, &site);
    pd_schema_clear (&pd_partner_schema, &partner);
    return rc;
}

//  Load the appliance `ref` names into *appliance if it is one of the
//  partner's, at that site; another partner's, or one of another site, is
//  not found (recorded as the failure)
static int
s_partner_appliance (pd_ctx_t *ctx, const char *partner_id, const pd_appliance_ref_t *ref,
                     pd_appliance_info_t *appliance)
{
    int rc =
        pd_record_load (pd_ctx_store (ctx), &pd_table_appliances, ref->appliance_id, appliance);
    if (rc == PD_OK && (strcmp (appliance->partner_id, partner_id) != 0 ||
                        strcmp (appliance->site_id, ref->site_id) != 0))
        rc = PD_E_NOT_FOUND;
    if (rc == PD_E_NOT_FOUND)
        return pd_ctx_fail (ctx, rc, "appliance_id", "no appliance %s", ref->appliance_id);
    return rc;
}

//  One appliance of one of the partner's sites, as replies show it
static int
s_appliance_get (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    pd_appliance_info_t *appliance = reply;
    const char *partner_id = s_partner_of (ctx);
    if (!partner_id)
        return s_partners_only (ctx);
    int rc = s_partner_appliance (ctx, partner_id, request, appliance);
    if (rc == PD_OK)
        s_appliance_view (ctx, appliance);
    return rc;
}

static int
s_appliance_revoke (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_appliance_ref_t *req = request;
    pd_appliance_info_t *appliance = reply;
    const char *partner_id = s_partner_admin_of (ctx);
    if (!partner_id)
        return PD_E_FORBIDDEN;
    int rc = PD_E_CONFLICT;
    for (int attempt = 0; attempt < S_RETRIES && rc == PD_E_CONFLICT; attempt++) {
        pd_schema_clear (&pd_appliance_info_schema, appliance);
        rc = s_partner_appliance (ctx, partner_id, req, appliance);
        if (rc != PD_OK)
            return rc;
        if (strcmp (appliance->status, "active") != 0)
            break; //  revoked or decommissioned already
        //  The key entry stays: the status refuses the key (ZAP) and the
        //  HTTP token (auth), and the key can never be claimed again
        pd_store_batch_t *batch = pd_store_batch_new ();
        rc = batch && pd_schema_set_str (&appliance->status, "revoked") == PD_OK
                 ? pd_record_store (batch, &pd_table_appliances, (appliance)->id, appliance,
                                    (uint64_t)appliance->version)
                 : PD_E_INTERNAL;
        if (rc == PD_OK)
            rc = s_audit (ctx, batch, "appliance.revoked", partner_id, appliance->id,
                          appliance->site_id);
        if (rc == PD_OK)
            rc = pd_ctx_commit (ctx, batch);
        if (rc == PD_OK)
            appliance->version = (int64_t)pd_store_batch_version (batch, 0);
        pd_store_batch_destroy (&batch);
    }
    if (rc == PD_OK)
        s_appliance_view (ctx, appliance);
    return rc;
}

//  ------------------------------------------------------------------------
//  Sites

static int
s_site_list (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_provision_list_t *req = request;
    pd_site_page_t *page = reply;
    const char *partner_id = s_partner_of (ctx);
    if (!partner_id)
        return s_partners_only (ctx);
    size_t limit = PD_HAS (req, provision_list, limit) ? (size_t)req->limit : PD_PAGE_LIMIT_DEFAULT;
    int rc = pd_record_page_of (pd_ctx_store (ctx), &pd_index_sites_by_partner, partner_id,
                                req->cursor, limit, NULL, NULL, &page->items, &page->next_cursor);
    pd_site_t *sites = page->items.items;
    for (size_t i = 0; rc == PD_OK && i < page->items.size; i++)
        rc = s_site_fill (ctx, &sites[i]);
    return rc;
}

//  A site with its appliances (the first PD_PAGE_LIMIT_MAX), found through
//  the appliances_by_site index
static int
s_site_get (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_site_ref_t *req = request;
    pd_site_t *site = reply;
    const char *partner_id = s_partner_of (ctx);
    if (!partner_id)
        return s_partners_only (ctx);
    int rc = pd_record_load (pd_ctx_store (ctx), &pd_table_sites, req->site_id, site);
    if (rc == PD_OK && strcmp (site->partner_id, partner_id) != 0)
        rc = PD_E_NOT_FOUND;
    if (rc == PD_E_NOT_FOUND)
        return pd_ctx_fail (ctx, rc, "site_id", "no site %s", req->site_id);
    return rc == PD_OK ? s_site_fill (ctx, site) : rc;
}

static const pd_handler_t s_handlers[] = {
    {"provision.create", s_provision_create},
    {"provision.list", s_provision_list},
    {"provision.revoke", s_provision_revoke},
    {"provision.qr", s_provision_qr},
    {"provision.public_qr", s_provision_public_qr},
    {"provision.validate", s_provision_validate},
    {"claim.http", s_claim_http},
    {"claim.link", s_claim_link},
    {"appliance.status", s_appliance_report},
    {"appliance.heartbeat", s_appliance_report},
    {"appliance.heartbeats", s_appliance_heartbeats},
    {"appliance.config", s_appliance_config},
    {"appliance.get", s_appliance_get},
    {"appliance.revoke", s_appliance_revoke},
    {"site.list", s_site_list},
    {"site.get", s_site_get},
    {NULL, NULL},
};

//  Stateless: all it knows is in the store
//  Claims commit under load (a restart of thousands of appliances):
//  eight at once share their fsyncs
const pd_actor_def_t pd_claim_actor = {
    .service = "claim", .handlers = s_handlers, .min_instances = 8};
