/*  pd_oauth_actor - sign-in with Google Workspace and Microsoft Entra ID
    (see pd_oauth_actor.h)

    oauth.start makes a state (the store key of the sign-in in progress), a
    nonce and a PKCE verifier, stores them in table "oauth_states" and sends
    the browser to the provider. oauth.callback takes the state back exactly
    once: it is deleted in its own batch, guarded by the version read, so a
    replayed or racing callback finds nothing and is refused. The code is
    exchanged and the ID token verified by pd_oidc; then the organisation
    decides:

        google     hd claim required (Workspace only)    org "google:<hd>"
        microsoft  tid claim                              org "microsoft:<tid>"

    A known identity ("<provider>:<sub>") signs in as its user. A new
    identity from a known organisation joins that organisation's partner as
    a partner-user. A new organisation becomes a partner, pending until a
    platform admin approves it, or active at once when "approved_domains"
    lists it (Google: by hd; Microsoft: by tid and the email's domain, never
    the email alone). The partner, its indexes, its API key, its first user
    (partner-admin) and the audit event are one batch.

    An active partner's user gets a session and is sent to the dashboard; a
    pending one is sent to the pending page without a session; a rejected
    or suspended one is refused.

    Failed sign-ins are counted per client address (pd_ratelimit). Codes,
    tokens, nonces and verifiers are never logged.
*/
#include "pd_oauth_actor.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "pd_apikey.h"
#include "pd_oidc.h"
#include "pd_ratelimit.h"
#include "pd_record.h"
#include "pd_session.h"
#include "pd_token.h"
#include "pd_user.h"
#include "pd_users_actor.h"

#define S_START_PATH     "/api/partner-auth/"
#define S_CALLBACK_PATH  "/api/partner-auth/callback"
#define S_STATE_TYPE     "ost"
#define S_NONCE_TYPE     "onc"
#define S_RANDOM_LENGTH  32 //  base62 characters of a state or nonce (~190 bits)
#define S_RANDOM_SIZE    48 //  > type + '_' + S_RANDOM_LENGTH
#define S_PARTNER_TYPE   "prt"
#define S_PARTNER_LENGTH 16
#define S_PARTNER_SIZE   32
#define S_SWEEP          8   //  stored states examined for expiry per start
#define S_RETRIES        3   //  attempts when a racing sign-in changed what we read
#define S_ORG_SIZE       129 //  org_id: 128 bytes (PD_FIELDS_partner_owned)
#define S_IDENTITY_SIZE  129 //  "<provider>:<sub>"
#define S_DOMAIN_SIZE    254 //  a DNS name: 253 bytes
#define S_NAME_SIZE      201 //  partner name: 200 bytes (PD_FIELDS_partner_input)
#define S_DETAIL_SIZE    160
#define S_MS_PER_S       1000
#define S_BINDING_TYPE   "obd" //  a sign-in's browser binding
#define S_LIMIT_KEY_SIZE 96    //  "oauth-start:" + an address
//  The tenant of every personal Microsoft account (Entra ID documentation)
#define S_MICROSOFT_CONSUMERS "9188040d-6c67-4c5b-b112-36a304b66dad"

//  ------------------------------------------------------------------------
//  Providers

enum { S_GOOGLE, S_MICROSOFT, S_PROVIDER_COUNT };

static const char *const s_provider_names[S_PROVIDER_COUNT] = {"google", "microsoft"};
static const char *const s_display_names[S_PROVIDER_COUNT] = {"Google", "Microsoft"};

//  The settings of provider `index` (pd_config.h)
static void
s_settings (const pd_config_t *config, int index, pd_oidc_config_t *settings)
{
    bool google = index == S_GOOGLE;
    settings->issuer = google ? config->google_issuer : config->microsoft_issuer;
    settings->client_id = google ? config->google_client_id : config->microsoft_client_id;
    settings->client_secret =
        google ? config->google_client_secret : config->microsoft_client_secret;
    settings->allow_insecure = config->oauth_allow_insecure;
    settings->timeout_ms = (int)config->oauth_timeout_ms;
}

static int
s_provider_index (const char *name)
{
    for (int i = 0; name && i < S_PROVIDER_COUNT; i++)
        if (strcmp (s_provider_names[i], name) == 0)
            return i;
    return -1;
}

//  ------------------------------------------------------------------------
//  The actor thread's state

typedef struct {
    pd_oidc_t *oidc[S_PROVIDER_COUNT]; //  relying party per provider, NULL = not configured
    char *public_url;                  //  the setting without a trailing '/'
    char *redirect_uri;                //  public_url + S_CALLBACK_PATH
} self_t;

static void
s_state_destroy (void **state_p)
{
    self_t *self = *state_p;
    if (!self)
        return;
    for (int i = 0; i < S_PROVIDER_COUNT; i++)
        pd_oidc_destroy (&self->oidc[i]);
    free (self->public_url);
    free (self->redirect_uri);
    free (self);
    *state_p = NULL;
}

static void *
s_state_new (pd_store_t *store, const pd_config_t *config)
{
    self_t *self = calloc (1, sizeof (self_t));
    if (!self)
        return NULL;
    size_t length = strlen (config->public_url);
    while (length > 0 && config->public_url[length - 1] == '/')
        length--;
    self->public_url = strndup (config->public_url, length);
    self->redirect_uri =
        self->public_url ? zsys_sprintf ("%s%s", self->public_url, S_CALLBACK_PATH) : NULL;
    bool ok = self->redirect_uri != NULL;
    for (int i = 0; ok && i < S_PROVIDER_COUNT; i++) {
        pd_oidc_config_t settings = {0};
        s_settings (config, i, &settings);
        settings.redirect_uri = self->redirect_uri;
        if (!settings.client_id || !*settings.client_id)
            continue; //  not configured: sign-in with it is off
        if (!settings.client_secret || !*settings.client_secret) {
            zsys_error ("oauth: %s_client_id is set but %s_client_secret is empty",
                        s_provider_names[i], s_provider_names[i]);
            ok = false;
        } else if (!(self->oidc[i] = pd_oidc_new (&settings))) {
            zsys_error ("oauth: %s relying party set-up failed", s_provider_names[i]);
            ok = false;
        }
    }
    if (!ok)
        s_state_destroy ((void **)&self);
    return self;
}

//  ------------------------------------------------------------------------
//  Helpers

//  A lower-case DNS name: [a-z0-9-] labels separated by dots, at least two
static bool
s_is_domain (const char *name)
{
    size_t length = strlen (name);
    if (length < 3 || length > S_DOMAIN_SIZE - 1 || name[0] == '.' || name[length - 1] == '.' ||
        !strchr (name, '.') || strstr (name, ".."))
        return false;
    for (const char *c = name; *c; c++)
        if (!(islower ((unsigned char)*c) || isdigit ((unsigned char)*c) || *c == '-' || *c == '.'))
            return false;
    return true;
}

//  A PD_FMT_TOKEN string: [A-Za-z0-9_.:-]+
static bool
s_is_token (const char *text)
{
    if (!text || !*text)
        return false;
    for (const char *c = text; *c; c++)
        if (!(isalnum ((unsigned char)*c) || strchr ("_.:-", *c)))
            return false;
    return true;
}

static pd_ratelimit_policy_t
s_source_policy (const pd_config_t *config)
{
    pd_ratelimit_policy_t policy = {config->login_failures_per_source,
                                    config->login_window_s * S_MS_PER_S};
    return policy;
}

//  The rate-limit key of the caller's address
static void
s_source_key (pd_ctx_t *ctx, char *key, size_t size)
{
    pd_ratelimit_source_key ("source", pd_ctx_source (ctx), key, size);
}

//  A failed sign-in: counted against the caller's address and refused; once
//  the address is over its limit, refused 429 with a Retry-After instead
static int
s_refuse (pd_ctx_t *ctx, const char *detail)
{
    char key[PD_STORE_MAX_KEY];
    s_source_key (ctx, key, sizeof (key));
    pd_ratelimit_policy_t policy = s_source_policy (pd_ctx_config (ctx));
    int retry_after = 0;
    int rc =
        pd_ratelimit_attempt (pd_ctx_store (ctx), key, &policy, pd_ctx_now (ctx), &retry_after);
    if (rc == PD_E_RATE_LIMITED) {
        pd_ctx_retry_after (ctx, retry_after);
        return pd_ctx_fail (ctx, rc, NULL, "too many failed sign-ins; try again later");
    }
    if (rc != PD_OK)
        zsys_warning ("oauth: failure not counted key=%s", key);
    return pd_ctx_fail (ctx, PD_E_UNAUTHORIZED, NULL, "%s", detail);
}

//  ------------------------------------------------------------------------
//  Who signs in: what the ID token says, checked

typedef struct {
    int provider;                   //  S_GOOGLE / S_MICROSOFT
    const pd_jwt_claims_t *claims;  //  verified claims (not owned)
    char identity[S_IDENTITY_SIZE]; //  "<provider>:<sub>"
    char org_id[S_ORG_SIZE];        //  "google:<hd>" / "microsoft:<tid>"
    char domain[S_DOMAIN_SIZE];     //  the organisation's domain: hd, or the email's
} s_signin_t;

//  Check the claims and derive the identity and the organisation.
static int
s_signin_init (pd_ctx_t *ctx, int provider, const pd_jwt_claims_t *claims, s_signin_t *who)
{
    memset (who, 0, sizeof (*who));
    who->provider = provider;
    who->claims = claims;
    const char *name = s_provider_names[provider];
    const char *at = claims->email ? strrchr (claims->email, '@') : NULL;
    if (!at || at == claims->email)
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "the account has no email address");
    if (provider == S_GOOGLE && !claims->email_verified)
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "the account's email is not verified");
    if (!s_is_token (claims->sub) || snprintf (who->identity, sizeof (who->identity), "%s:%s", name,
                                               claims->sub) >= (int)sizeof (who->identity))
        return pd_ctx_fail (ctx, PD_E_UNAUTHORIZED, NULL, "unusable subject");

    if (provider == S_GOOGLE) {
        if (!claims->hd || !*claims->hd)
            return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "Google Workspace accounts only");
        if (!pd_record_key_lower (claims->hd, who->domain, sizeof (who->domain)))
            return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "unusable Workspace domain");
    } else {
        //  Personal accounts all share one tenant: never an organisation
        if (!s_is_token (claims->tid) || strcasecmp (claims->tid, S_MICROSOFT_CONSUMERS) == 0)
            return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL,
                                "Microsoft work or school accounts only");
        if (!pd_record_key_lower (at + 1, who->domain, sizeof (who->domain)))
            return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "unusable email domain");
    }
    const char *org = provider == S_GOOGLE ? who->domain : claims->tid;
    if (!s_is_domain (who->domain) ||
        snprintf (who->org_id, sizeof (who->org_id), "%s:%s", name, org) >=
            (int)sizeof (who->org_id) ||
        !s_is_token (who->org_id))
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "unusable organisation");
    return PD_OK;
}

//  Does "approved_domains" approve this organisation? Google: the entry of
//  hd is a google one. Microsoft: the entry of the email's domain is a
//  microsoft one whose tenant is the token's tid.
static bool
s_approved (pd_store_t *store, const s_signin_t *who)
{
    pd_approved_domain_t entry = {0};
    if (pd_record_get (store, &pd_table_approved_domains, who->domain, &entry, NULL) != PD_OK)
        return false;
    bool approved = strcmp (entry.domain, who->domain) == 0 &&
                    strcmp (entry.provider, s_provider_names[who->provider]) == 0;
    if (approved && who->provider == S_MICROSOFT)
        approved = entry.tenant_id && strcasecmp (entry.tenant_id, who->claims->tid) == 0;
    pd_schema_clear (&pd_approved_domain_schema, &entry);
    return approved;
}

static int
s_audit (pd_ctx_t *ctx, pd_store_batch_t *batch, const char *type, const char *partner_id,
         const char *subject, const char *actor, const char *detail)
{
    pd_event_t event = {0};
    event.type = (char *)type;
    event.at = pd_ctx_now (ctx);
    PD_MARK (&event, event, at);
    event.partner_id = (char *)partner_id;
    event.subject = (char *)subject;
    event.actor = (char *)actor;
    event.detail = (char *)detail;
    return pd_ctx_emit (ctx, batch, PD_STREAM_AUDIT, &event);
}

//  The new user of a sign-in (owned strings; pd_schema_clear it). A
//  display name the schema would refuse is left out; an email it would
//  refuse makes the sign-in fail (PD_E_FORBIDDEN).
static int
s_user_new (pd_ctx_t *ctx, const s_signin_t *who, const char *partner_id, const char *role,
            pd_user_t *user)
{
    memset (user, 0, sizeof (*user));
    if (pd_schema_set_str (&user->partner_id, partner_id) != PD_OK ||
        pd_schema_set_str (&user->email, who->claims->email) != PD_OK ||
        pd_schema_set_str (&user->name, who->claims->name) != PD_OK ||
        pd_schema_set_str (&user->role, role) != PD_OK ||
        pd_schema_set_str (&user->provider, s_provider_names[who->provider]) != PD_OK)
        return PD_E_INTERNAL;
    //  pd_user_add gives the id: check the rest with a stand-in
    pd_user_t check = *user;
    check.id = (char *)"check";
    pd_schema_error_t error = {0};
    if (pd_schema_validate (&pd_user_schema, &check, &error) != PD_OK &&
        strcmp (error.field, "name") == 0) {
        pd_schema_set_str (&user->name, NULL);
        check.name = NULL;
    }
    if (pd_schema_validate (&pd_user_schema, &check, NULL) != PD_OK)
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "the account's email cannot be used");
    return PD_OK;
}

//  A name for a new organisation's partner: its domain, unless another
//  partner has that name (a first sign-in through the other provider)
static void
s_partner_name (pd_store_t *store, const s_signin_t *who, char *name, size_t size)
{
    pd_store_value_t taken = {0};
    snprintf (name, size, "%s", who->domain);
    if (strlen (who->domain) < size && pd_store_lookup (store, pd_table_partners_by_name.name, name,
                                                        strlen (name), &taken) == PD_E_NOT_FOUND)
        return;
    pd_store_value_clear (&taken);
    if (snprintf (name, size, "%s (%s)", who->domain, who->org_id) >= (int)size)
        snprintf (name, size, "%s", who->org_id);
}

//  A new organisation: the partner, its indexes and API key, its first
//  user (partner-admin) and the audit event, in one batch
static int
s_signup (pd_ctx_t *ctx, const s_signin_t *who)
{
    pd_store_t *store = pd_ctx_store (ctx);
    bool approved = s_approved (store, who);
    int64_t now = pd_ctx_now (ctx);
    char id[S_PARTNER_SIZE], name[S_NAME_SIZE], name_key[S_NAME_SIZE];
    pd_token_t token;
    if (pd_token_random_id (S_PARTNER_TYPE, S_PARTNER_LENGTH, id, sizeof (id)) != PD_OK ||
        pd_token_generate (PD_TOKEN_PARTNER_KEY, &token) != PD_OK)
        return PD_E_INTERNAL;
    s_partner_name (store, who, name, sizeof (name));
    pd_record_key_lower (name, name_key, sizeof (name_key));

    //  Stored form: no key text, no version (the store keeps the version)
    pd_partner_t partner = {0};
    partner.id = id;
    partner.name = name;
    partner.contact_email = who->claims->email;
    partner.revenue_share_percent = PD_PARTNER_DEFAULT_REVENUE_SHARE;
    PD_MARK (&partner, partner, revenue_share_percent);
    partner.status = (char *)(approved ? "active" : "pending");
    partner.api_key_prefix = token.id;
    partner.created_at = partner.updated_at = now;
    PD_MARK (&partner, partner, created_at);
    PD_MARK (&partner, partner, updated_at);
    partner.signup_provider = (char *)s_provider_names[who->provider];
    partner.org_id = (char *)who->org_id;
    if (pd_schema_validate (&pd_partner_schema, &partner, NULL) != PD_OK) {
        OPENSSL_cleanse (&token, sizeof (token));
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "the account's email cannot be used");
    }

    pd_user_t user;
    int rc = s_user_new (ctx, who, id, "partner-admin", &user);
    pd_store_batch_t *batch = rc == PD_OK ? pd_store_batch_new () : NULL;
    if (rc == PD_OK && !batch)
        rc = PD_E_INTERNAL;
    if (rc == PD_OK)
        rc = pd_record_put (batch, &pd_table_partners, id, &partner, PD_STORE_ABSENT);
    if (rc == PD_OK)
        rc = pd_store_batch_index_add (batch, pd_table_partners_by_org.name, who->org_id,
                                       strlen (who->org_id), id, strlen (id));
    if (rc == PD_OK)
        rc = pd_store_batch_index_add (batch, pd_table_partners_by_name.name, name_key,
                                       strlen (name_key), id, strlen (id));
    if (rc == PD_OK)
        rc = pd_apikey_put (batch, &token, "partner", id, now);
    if (rc == PD_OK)
        rc = pd_user_add (batch, &user, who->identity, now);
    if (rc == PD_OK)
        rc = s_audit (ctx, batch, approved ? "partner.auto_approved" : "partner.signup", id, id,
                      who->identity, who->org_id);
    if (rc == PD_OK)
        rc = pd_ctx_commit (ctx, batch);
    pd_schema_clear (&pd_user_schema, &user);
    pd_store_batch_destroy (&batch);
    OPENSSL_cleanse (&token, sizeof (token));
    return rc;
}

//  A new identity of a known organisation joins its partner
static int
s_join (pd_ctx_t *ctx, const s_signin_t *who, const char *partner_id)
{
    pd_user_t user;
    int rc = s_user_new (ctx, who, partner_id, "partner-user", &user);
    pd_store_batch_t *batch = rc == PD_OK ? pd_store_batch_new () : NULL;
    if (rc == PD_OK)
        rc = batch ? pd_user_add (batch, &user, who->identity, pd_ctx_now (ctx)) : PD_E_INTERNAL;
    if (rc == PD_OK)
        rc = s_audit (ctx, batch, "user.created", partner_id, user.id, who->identity,
                      s_provider_names[who->provider]);
    if (rc == PD_OK)
        rc = pd_ctx_commit (ctx, batch);
    pd_schema_clear (&pd_user_schema, &user);
    pd_store_batch_destroy (&batch);
    return rc;
}

//  The user of a sign-in, with its version, and its partner: found by
//  identity, else made (joining the organisation's partner, or signing the
//  organisation up). A lost race (PD_E_EXISTS: another sign-in of the same
//  identity or organisation committed first) is retried: the winner's
//  records are then found.
static int
s_resolve (pd_ctx_t *ctx, const s_signin_t *who, pd_user_t *user, uint64_t *version,
           pd_partner_t *partner)
{
    pd_store_t *store = pd_ctx_store (ctx);
    int rc = PD_E_EXISTS;
    for (int attempt = 0; attempt < S_RETRIES && rc == PD_E_EXISTS; attempt++) {
        pd_schema_clear (&pd_user_schema, user);
        rc = pd_user_find_identity (store, who->identity, user, version);
        if (rc != PD_E_NOT_FOUND)
            break;
        //  Emails are unique: an address that signs in another way (magic
        //  link, the other provider) is not taken over
        rc = pd_user_find_email (store, who->claims->email, user, NULL);
        if (rc == PD_OK)
            return pd_ctx_fail (ctx, PD_E_CONFLICT, NULL,
                                "this email address signs in another way; ask an administrator");
        if (rc != PD_E_NOT_FOUND)
            return rc;
        pd_store_value_t org = {0};
        rc = pd_store_lookup (store, pd_table_partners_by_org.name, who->org_id,
                              strlen (who->org_id), &org);
        if (rc == PD_OK) {
            char partner_id[S_PARTNER_SIZE * 2];
            snprintf (partner_id, sizeof (partner_id), "%.*s", (int)org.size,
                      (const char *)org.data);
            rc = s_join (ctx, who, partner_id);
        } else if (rc == PD_E_NOT_FOUND)
            rc = s_signup (ctx, who);
        pd_store_value_clear (&org);
        pd_schema_clear (&pd_user_schema, user);
        if (rc == PD_OK)
            rc = pd_user_find_identity (store, who->identity, user, version);
    }
    if (rc == PD_E_EXISTS)
        return pd_ctx_fail (ctx, PD_E_CONFLICT, NULL, "concurrent sign-ins; try again");
    if (rc != PD_OK)
        return rc;
    rc = pd_record_get (store, &pd_table_partners, user->partner_id, partner, NULL);
    if (rc == PD_E_NOT_FOUND)
        return pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "the account's partner no longer exists");
    return rc;
}

//  An active partner's user: a session, last_login_at and the audit event,
//  in one batch; retried if the user changed since it was read
static int
s_open_session (pd_ctx_t *ctx, self_t *self, const s_signin_t *who, pd_user_t *user,
                uint64_t version, pd_session_t *reply)
{
    const pd_config_t *config = pd_ctx_config (ctx);
    int64_t now = pd_ctx_now (ctx);
    char actor[S_IDENTITY_SIZE + 8];
    int rc = PD_E_CONFLICT;
    for (int attempt = 0; attempt < S_RETRIES && rc == PD_E_CONFLICT; attempt++) {
        if (attempt > 0) {
            pd_schema_clear (&pd_session_schema, reply);
            pd_schema_clear (&pd_user_schema, user);
            rc = pd_user_find_identity (pd_ctx_store (ctx), who->identity, user, &version);
            if (rc != PD_OK)
                return rc;
        }
        user->last_login_at = now;
        PD_MARK (user, user, last_login_at);
        pd_user_t stored = *user; //  shallow; without the version the store keeps
        stored.present &= ~(UINT64_C (1) << PD_FIELD_user_version);
        snprintf (actor, sizeof (actor), "user:%s", user->id);

        pd_store_batch_t *batch = pd_store_batch_new ();
        rc = batch ? pd_record_put (batch, &pd_table_users, user->id, &stored, version)
                   : PD_E_INTERNAL;
        if (rc == PD_OK)
            rc = pd_session_open (batch, user, now, config->session_ttl_s * S_MS_PER_S, reply);
        if (rc == PD_OK)
            rc = s_audit (ctx, batch, "user.signed_in", user->partner_id, user->id, actor,
                          s_provider_names[who->provider]);
        if (rc == PD_OK)
            rc = pd_ctx_commit (ctx, batch);
        pd_store_batch_destroy (&batch);
    }
    if (rc != PD_OK)
        return rc;
    char *location = zsys_sprintf ("%s%s", self->public_url, config->dashboard_path);
    if (!location)
        return PD_E_INTERNAL;
    rc = pd_schema_set_str (&reply->location, location);
    zstr_free (&location);
    if (rc == PD_OK)
        rc = pd_schema_set_str (&reply->status, "active");
    return rc;
}

//  ------------------------------------------------------------------------
//  Handlers

static int
s_oauth_providers (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    self_t *self = state;
    pd_oauth_providers_t *list = reply;
    pd_oauth_provider_t *items = calloc (S_PROVIDER_COUNT, sizeof (pd_oauth_provider_t));
    if (!items)
        return PD_E_INTERNAL;
    list->items.items = items;
    for (int i = 0; i < S_PROVIDER_COUNT; i++) {
        if (!self->oidc[i])
            continue;
        pd_oauth_provider_t *item = &items[list->items.size++];
        char *url = zsys_sprintf ("%s%s%s", self->public_url, S_START_PATH, s_provider_names[i]);
        int rc = url ? PD_OK : PD_E_INTERNAL;
        if (rc == PD_OK)
            rc = pd_schema_set_str (&item->name, s_provider_names[i]);
        if (rc == PD_OK)
            rc = pd_schema_set_str (&item->display_name, s_display_names[i]);
        if (rc == PD_OK)
            rc = pd_schema_set_str (&item->start_url, url);
        zstr_free (&url);
        if (rc != PD_OK)
            return rc;
    }
    return PD_OK;
}

//  Delete up to S_SWEEP expired states found after `key` (random, so the
//  whole table is swept over time): abandoned sign-ins do not pile up
static int
s_sweep (pd_ctx_t *ctx, pd_store_batch_t *batch, const char *key)
{
    pd_store_item_t *found = NULL;
    size_t count = 0;
    int rc = pd_store_scan (pd_ctx_store (ctx), pd_table_oauth_states.name, NULL, 0, key,
                            strlen (key), S_SWEEP, &found, &count);
    for (size_t i = 0; rc == PD_OK && i < count; i++) {
        pd_oauth_state_t old = {0};
        bool expired = pd_schema_decode (&pd_oauth_state_schema, found[i].data, found[i].size, &old,
                                         NULL) != PD_OK ||
                       old.expires_at < pd_ctx_now (ctx);
        pd_schema_clear (&pd_oauth_state_schema, &old);
        if (expired)
            rc = pd_store_batch_delete (batch, pd_table_oauth_states.name, found[i].key,
                                        found[i].key_size, PD_STORE_ANY);
    }
    pd_store_items_destroy (&found, count);
    return rc;
}

static int
s_oauth_start (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    self_t *self = state;
    const pd_oauth_start_t *req = request;
    pd_redirect_t *redirect = reply;
    int provider = s_provider_index (req->provider);
    if (provider < 0 || !self->oidc[provider])
        return pd_ctx_fail (ctx, PD_E_NOT_FOUND, "provider", "sign-in with %s is not configured",
                            req->provider);
    //  Each start stores a state for a while: anonymous callers are limited
    const pd_config_t *config = pd_ctx_config (ctx);
    pd_ratelimit_policy_t policy = {config->oauth_starts_per_source,
                                    config->login_window_s * S_MS_PER_S};
    char limit_key[S_LIMIT_KEY_SIZE];
    pd_ratelimit_source_key ("oauth-start", pd_ctx_source (ctx), limit_key, sizeof (limit_key));
    int retry_after = 0;
    int limited = pd_ratelimit_attempt (pd_ctx_store (ctx), limit_key, &policy, pd_ctx_now (ctx),
                                        &retry_after);
    if (limited == PD_E_RATE_LIMITED) {
        pd_ctx_retry_after (ctx, retry_after);
        return pd_ctx_fail (ctx, limited, NULL, "too many sign-ins started; retry later");
    }

    char id[S_RANDOM_SIZE], nonce[S_RANDOM_SIZE], verifier[PD_OIDC_VERIFIER_LEN + 1];
    char binding[S_RANDOM_SIZE];
    uint8_t binding_hash[PD_TOKEN_HASH_SIZE];
    pd_oauth_state_t record = {0};
    int rc = PD_OK;
    if (pd_token_random_id (S_STATE_TYPE, S_RANDOM_LENGTH, id, sizeof (id)) != PD_OK ||
        pd_token_random_id (S_NONCE_TYPE, S_RANDOM_LENGTH, nonce, sizeof (nonce)) != PD_OK ||
        pd_token_random_id (S_BINDING_TYPE, S_RANDOM_LENGTH, binding, sizeof (binding)) != PD_OK ||
        pd_oidc_verifier (verifier, sizeof (verifier)) != PD_OK)
        rc = PD_E_INTERNAL;
    //  The browser gets the binding (a cookie); the state keeps its hash
    if (rc == PD_OK) {
        pd_token_hash (binding, binding_hash);
        rc = pd_schema_set_str (&redirect->binding, binding);
    }
    if (rc == PD_OK)
        rc = pd_oidc_authorize_url (self->oidc[provider], id, nonce, verifier, &redirect->location);
    if (rc == PD_E_UNAVAILABLE)
        rc = pd_ctx_fail (ctx, rc, NULL, "%s cannot be reached", s_display_names[provider]);
    if (rc == PD_OK) {
        record.id = id;
        record.provider = (char *)s_provider_names[provider];
        record.nonce = nonce;
        record.verifier = verifier;
        record.binding_hash.data = binding_hash;
        record.binding_hash.size = sizeof (binding_hash);
        record.created_at = pd_ctx_now (ctx);
        record.expires_at = record.created_at + pd_ctx_config (ctx)->oauth_state_ttl_s * S_MS_PER_S;
        PD_MARK (&record, oauth_state, created_at);
        PD_MARK (&record, oauth_state, expires_at);
        //  A record that would not decode again is refused here, not later
        pd_store_batch_t *batch = pd_store_batch_new ();
        rc = batch && pd_schema_validate (&pd_oauth_state_schema, &record, NULL) == PD_OK
                 ? pd_record_put (batch, &pd_table_oauth_states, id, &record, PD_STORE_ABSENT)
                 : PD_E_INTERNAL;
        if (rc == PD_OK)
            rc = s_sweep (ctx, batch, id);
        if (rc == PD_OK)
            rc = pd_ctx_commit (ctx, batch);
        pd_store_batch_destroy (&batch);
    }
    OPENSSL_cleanse (nonce, sizeof (nonce));
    OPENSSL_cleanse (verifier, sizeof (verifier));
    OPENSSL_cleanse (binding, sizeof (binding));
    return rc;
}

//  Take a state back, once: read it, then delete it guarded by the version
//  read. PD_OK with the record, or PD_E_UNAUTHORIZED (unknown, used,
//  expired).
static int
s_take_state (pd_ctx_t *ctx, const char *id, pd_oauth_state_t *record)
{
    uint64_t version = 0;
    int rc = pd_record_get (pd_ctx_store (ctx), &pd_table_oauth_states, id, record, &version);
    if (rc == PD_E_NOT_FOUND)
        return s_refuse (ctx, "unknown or used sign-in state");
    if (rc != PD_OK)
        return rc;
    pd_store_batch_t *batch = pd_store_batch_new ();
    rc = batch ? pd_store_batch_delete (batch, pd_table_oauth_states.name, id, strlen (id), version)
               : PD_E_INTERNAL;
    if (rc == PD_OK)
        rc = pd_ctx_commit (ctx, batch);
    pd_store_batch_destroy (&batch);
    if (rc == PD_E_CONFLICT || rc == PD_E_NOT_FOUND)
        return s_refuse (ctx, "unknown or used sign-in state");
    if (rc == PD_OK && record->expires_at < pd_ctx_now (ctx))
        return pd_ctx_fail (ctx, PD_E_UNAUTHORIZED, NULL, "the sign-in took too long; try again");
    return rc;
}

static int
s_oauth_callback (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    self_t *self = state;
    const pd_oauth_callback_t *req = request;
    pd_session_t *session = reply;
    const pd_config_t *config = pd_ctx_config (ctx);

    //  The sign-in is judged first (an unknown or replayed state, a wrong
    //  browser binding, a code or token that does not verify: s_refuse
    //  counts them), so a right one from a busy address still passes
    int rc = PD_OK;
    if (req->error)
        return pd_ctx_fail (ctx, PD_E_UNAUTHORIZED, NULL, "the provider refused the sign-in: %s",
                            req->error);
    if (!req->code)
        return pd_ctx_fail (ctx, PD_E_MISSING_FIELD, "code", "required");
    if (!req->state)
        return pd_ctx_fail (ctx, PD_E_MISSING_FIELD, "state", "required");

    pd_oauth_state_t taken = {0};
    pd_jwt_claims_t claims = {0};
    pd_user_t user = {0};
    pd_partner_t partner = {0};
    rc = s_take_state (ctx, req->state, &taken);
    if (rc != PD_OK)
        goto cleanup;
    //  Only the browser that started this sign-in may finish it (login CSRF)
    if (!req->binding ||
        !pd_token_verify (req->binding, taken.binding_hash.data, taken.binding_hash.size)) {
        rc = s_refuse (ctx, "the sign-in was started in another browser");
        goto cleanup;
    }
    int provider = s_provider_index (taken.provider);
    if (provider < 0 || !self->oidc[provider]) {
        rc = pd_ctx_fail (ctx, PD_E_UNAUTHORIZED, NULL, "sign-in with %s is not configured",
                          taken.provider);
        goto cleanup;
    }

    char detail[S_DETAIL_SIZE] = "";
    rc = pd_oidc_exchange (self->oidc[provider], req->code, taken.verifier, taken.nonce,
                           pd_ctx_now (ctx) / S_MS_PER_S, &claims, detail, sizeof (detail));
    if (rc != PD_OK) {
        zsys_info ("oauth: sign-in refused provider=%s rc=%s detail=%s", taken.provider,
                   pd_status_code (rc), detail);
        if (rc == PD_E_UNAUTHORIZED)
            rc = s_refuse (ctx, "the sign-in could not be verified");
        else if (rc == PD_E_UNAVAILABLE)
            rc = pd_ctx_fail (ctx, rc, NULL, "%s cannot be reached", s_display_names[provider]);
        goto cleanup;
    }

    s_signin_t who;
    uint64_t version = 0;
    rc = s_signin_init (ctx, provider, &claims, &who);
    if (rc == PD_OK)
        rc = s_resolve (ctx, &who, &user, &version, &partner);
    if (rc != PD_OK)
        goto cleanup;
    if (user.status && strcmp (user.status, "active") != 0) {
        rc = pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "this account is disabled");
        goto cleanup;
    }
    if (strcmp (partner.status, "active") == 0)
        rc = s_open_session (ctx, self, &who, &user, version, session);
    else if (strcmp (partner.status, "pending") == 0) {
        //  No session: nothing to do until an admin approves
        char *location = zsys_sprintf ("%s%s", self->public_url, config->pending_path);
        rc = location ? pd_schema_set_str (&session->location, location) : PD_E_INTERNAL;
        zstr_free (&location);
        if (rc == PD_OK)
            rc = pd_schema_set_str (&session->partner_id, partner.id);
        if (rc == PD_OK)
            rc = pd_schema_set_str (&session->status, partner.status);
    } else
        rc = pd_ctx_fail (ctx, PD_E_FORBIDDEN, NULL, "this organisation's access is %s",
                          partner.status);

cleanup:
    pd_schema_clear (&pd_oauth_state_schema, &taken);
    pd_jwt_claims_clear (&claims);
    pd_schema_clear (&pd_user_schema, &user);
    pd_schema_clear (&pd_partner_schema, &partner);
    return rc;
}

static const pd_handler_t s_handlers[] = {
    {"oauth.providers", s_oauth_providers},
    {"oauth.start", s_oauth_start},
    {"oauth.callback", s_oauth_callback},
    {NULL, NULL},
};

const pd_actor_def_t pd_oauth_actor = {.service = "oauth",
                                       .handlers = s_handlers,
                                       .state_new = s_state_new,
                                       .state_destroy = s_state_destroy,
                                       //  provider calls take seconds; JWKS cached per state
                                       .own_threads_only = true};
