/*  pd_partners_actor - partner administration (seed: Admin Endpoints)

    Service "partners". Platform admins create, list, read, update partners
    and regenerate their API keys; a partner reads itself (partner.me).
    Admins also decide OAuth sign-ups (partner.pending, partner.approve,
    partner.reject: pending -> active / rejected) and keep the approved
    domains whose sign-ups need no decision (domain.list/add/remove, table
    "approved_domains"; see pd_oauth_actor).

    Records: table "partners" (id -> partner), unique index
    "partners_by_name" (lower-cased name -> id), table "apikeys" (key id ->
    apikey). A partner's key is shown once, in the reply of create and
    regenerate_key; only its hash is stored, and regenerating deletes the
    old key in the same transaction, so it is refused at once. Every change
    appends an audit event in the same transaction.

    Updates are read-modify-write with the record's version as the guard:
    a client that sends `version` gets PD_E_CONFLICT if the partner changed
    since; without it, a lost race is retried a few times.
*/
#include "pd_partners_actor.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "pd_apikey.h"
#include "pd_record.h"
#include "pd_token.h"

#define S_ID_TYPE            "prt"
#define S_ID_LENGTH          16
#define S_ID_SIZE            32
#define S_RETRIES            3   //  read-modify-write attempts on a lost race
#define S_DOMAIN_KEY_SIZE    254 //  a DNS name: 253 bytes (PD_FIELDS_approved_domain)
#define S_DOMAIN_DETAIL_SIZE 512 //  domain, provider, tenant id

//  ------------------------------------------------------------------------
//  Helpers

//  Load a partner with its version. PD_E_NOT_FOUND if absent.
static int
s_load (pd_store_t *store, const char *id, pd_partner_t *partner)
{
    return pd_record_load (store, &pd_table_partners, id, partner);
}

//  The stored form: no key, no version (the store keeps the version)
static int
s_put (pd_store_batch_t *batch, const pd_partner_t *partner, uint64_t expect)
{
    pd_partner_t stored = *partner; //  shallow: shares the strings
    stored.api_key = NULL;          //  shown once, never stored
    return pd_record_store (batch, &pd_table_partners, partner->id, &stored, expect);
}

#define S_NAME_KEY_SIZE 256 //  > the schema's 200-byte name limit

static int
s_audit (pd_ctx_t *ctx, pd_store_batch_t *batch, const char *type, const pd_partner_t *partner)
{
    pd_event_t event = {0};
    event.type = (char *)type;
    event.at = pd_ctx_now (ctx);
    PD_MARK (&event, event, at);
    event.partner_id = partner->id;
    event.subject = partner->id;
    event.actor = (char *)pd_ctx_actor (ctx);
    event.detail = partner->name;
    return pd_ctx_emit (ctx, batch, PD_STREAM_AUDIT, &event);
}

//  Copy the admin-settable fields present in a request (partner_create or
//  partner_update) onto a partner. Derived from the schema's field list, so
//  a field added to PD_FIELDS_partner_input is copied without code here.
#define S_COPY_STR(R, name, flags, min, max, fmt, choices)                                         \
    if (src->name && pd_schema_set_str (&dst->name, src->name) != PD_OK)                           \
        return PD_E_INTERNAL;
#define S_COPY_INT(R, name, flags, min, max)                                                       \
    if (PD_HAS (src, R, name)) {                                                                   \
        dst->name = src->name;                                                                     \
        PD_MARK (dst, partner, name);                                                              \
    }
#define S_COPY_BOOL(R, name, flags) S_COPY_INT (R, name, flags, 0, 1)
#define S_COPY_OBJ(R, name, flags, sub)                                                            \
    if (src->name) {                                                                               \
        struct pd_##sub##_s *copy = calloc (1, sizeof (*copy));                                    \
        if (!copy || pd_schema_copy (&pd_##sub##_schema, copy, src->name) != PD_OK) {              \
            free (copy);                                                                           \
            return PD_E_INTERNAL;                                                                  \
        }                                                                                          \
        if (dst->name)                                                                             \
            pd_schema_clear (&pd_##sub##_schema, dst->name);                                       \
        free (dst->name);                                                                          \
        dst->name = copy;                                                                          \
    }
#define S_COPY_BIN(R, name, flags, min, max)  // (none in partner_input)
#define S_COPY_LIST(R, name, flags, sub, max) // (none in partner_input)

static int
s_apply_create (pd_partner_t *dst, const pd_partner_create_t *src)
{
    PD_FIELDS_partner_input (partner_create, S_COPY_STR, S_COPY_INT, S_COPY_BOOL, S_COPY_BIN,
                             S_COPY_OBJ, S_COPY_LIST, 0) return PD_OK;
}

static int
s_apply_update (pd_partner_t *dst, const pd_partner_update_t *src)
{
    PD_FIELDS_partner_input (partner_update, S_COPY_STR, S_COPY_INT, S_COPY_BOOL, S_COPY_BIN,
                             S_COPY_OBJ, S_COPY_LIST, 0) return PD_OK;
}

//  ------------------------------------------------------------------------
//  Handlers

static int
s_partner_create (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_partner_create_t *req = request;
    pd_partner_t *partner = reply;
    if (!pd_ctx_allowed (ctx, "admin"))
        return PD_E_FORBIDDEN;

    //  Defaults first; what the request has overrides them
    partner->revenue_share_percent = PD_PARTNER_DEFAULT_REVENUE_SHARE;
    PD_MARK (partner, partner, revenue_share_percent);
    if (pd_schema_set_str (&partner->status, "active") != PD_OK ||
        s_apply_create (partner, req) != PD_OK)
        return PD_E_INTERNAL;

    char id[S_ID_SIZE];
    pd_token_t token;
    if (pd_token_random_id (S_ID_TYPE, S_ID_LENGTH, id, sizeof (id)) != PD_OK ||
        pd_token_generate (PD_TOKEN_PARTNER_KEY, &token) != PD_OK)
        return PD_E_INTERNAL;
    int64_t now = pd_ctx_now (ctx);
    partner->created_at = partner->updated_at = now;
    PD_MARK (partner, partner, created_at);
    PD_MARK (partner, partner, updated_at);
    if (pd_schema_set_str (&partner->id, id) != PD_OK ||
        pd_schema_set_str (&partner->api_key_prefix, token.id) != PD_OK)
        return PD_E_INTERNAL;

    char name_key[S_NAME_KEY_SIZE];
    pd_record_key_lower (partner->name, name_key, sizeof (name_key));
    pd_store_batch_t *batch = pd_store_batch_new ();
    int rc = batch ? PD_OK : PD_E_INTERNAL;
    if (rc == PD_OK)
        rc = s_put (batch, partner, PD_STORE_ABSENT);
    if (rc == PD_OK)
        rc = pd_store_batch_index_add (batch, pd_table_partners_by_name.name, name_key,
                                       strlen (name_key), id, strlen (id));
    if (rc == PD_OK)
        rc = pd_apikey_put (batch, &token, "partner", id, now);
    if (rc == PD_OK)
        rc = s_audit (ctx, batch, "partner.created", partner);
    if (rc == PD_OK)
        rc = pd_ctx_commit (ctx, batch);
    if (rc == PD_OK) {
        partner->version = (int64_t)pd_store_batch_version (batch, 0);
        PD_MARK (partner, partner, version);
        rc = pd_schema_set_str (&partner->api_key, token.text);
    } else if (rc == PD_E_EXISTS)
        //  ids and key ids are 95 and 47 random bits: the name it is
        rc = pd_ctx_fail (ctx, PD_E_EXISTS, "name", "a partner with this name exists");
    pd_store_batch_destroy (&batch);
    OPENSSL_cleanse (&token, sizeof (token));
    return rc;
}

static int
s_partner_get (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_partner_ref_t *req = request;
    if (!pd_ctx_allowed (ctx, "admin"))
        return PD_E_FORBIDDEN;
    int rc = s_load (pd_ctx_store (ctx), req->id, reply);
    if (rc == PD_E_NOT_FOUND)
        return pd_ctx_fail (ctx, rc, "id", "no partner %s", req->id);
    return rc;
}

static int
s_partner_me (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    if (!pd_ctx_allowed (ctx, "partner"))
        return PD_E_FORBIDDEN;
    int rc = s_load (pd_ctx_store (ctx), pd_ctx_principal (ctx)->partner_id, reply);
    if (rc == PD_E_NOT_FOUND)
        return pd_ctx_fail (ctx, rc, NULL, "partner not found");
    return rc;
}

static bool
s_status_is (const void *record, void *status)
{
    return strcmp (((const pd_partner_t *)record)->status, status) == 0;
}

//  A page of partners in id order, with `status` if not NULL, after the
//  request's cursor
static int
s_list_page (pd_ctx_t *ctx, const pd_partner_list_t *req, const char *status,
             pd_partner_page_t *page)
{
    size_t limit = PD_HAS (req, partner_list, limit) ? (size_t)req->limit : PD_PAGE_LIMIT_DEFAULT;
    return pd_record_page (pd_ctx_store (ctx), &pd_table_partners, req->cursor, limit,
                           status ? s_status_is : NULL, (void *)status, &page->items,
                           &page->next_cursor);
}

static int
s_partner_list (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_partner_list_t *req = request;
    if (!pd_ctx_allowed (ctx, "admin"))
        return PD_E_FORBIDDEN;
    return s_list_page (ctx, req, req->status, reply);
}

//  Sign-ups waiting for approval (a `status` in the request is ignored)
static int
s_partner_pending (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    if (!pd_ctx_allowed (ctx, "admin"))
        return PD_E_FORBIDDEN;
    return s_list_page (ctx, request, "pending", reply);
}

static int
s_partner_update (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_partner_update_t *req = request;
    pd_partner_t *partner = reply;
    if (!pd_ctx_allowed (ctx, "admin"))
        return PD_E_FORBIDDEN;
    int rc = PD_E_CONFLICT;
    for (int attempt = 0; attempt < S_RETRIES && rc == PD_E_CONFLICT; attempt++) {
        pd_schema_clear (&pd_partner_schema, partner);
        rc = s_load (pd_ctx_store (ctx), req->id, partner);
        if (rc == PD_E_NOT_FOUND)
            return pd_ctx_fail (ctx, rc, "id", "no partner %s", req->id);
        if (rc != PD_OK)
            return rc;
        uint64_t version = (uint64_t)partner->version;
        if (PD_HAS (req, partner_update, version) && (uint64_t)req->version != version)
            return pd_ctx_fail (ctx, PD_E_CONFLICT, "version",
                                "partner changed: version is %" PRIu64, version);
        char old_name[S_NAME_KEY_SIZE], new_name[S_NAME_KEY_SIZE];
        pd_record_key_lower (partner->name, old_name, sizeof (old_name));
        if (s_apply_update (partner, req) != PD_OK)
            return PD_E_INTERNAL;
        pd_record_key_lower (partner->name, new_name, sizeof (new_name));
        partner->updated_at = pd_ctx_now (ctx);

        pd_store_batch_t *batch = pd_store_batch_new ();
        rc = batch ? s_put (batch, partner, version) : PD_E_INTERNAL;
        if (rc == PD_OK && strcmp (old_name, new_name) != 0) {
            rc = pd_store_batch_index_remove (batch, pd_table_partners_by_name.name, old_name,
                                              strlen (old_name));
            if (rc == PD_OK)
                rc =
                    pd_store_batch_index_add (batch, pd_table_partners_by_name.name, new_name,
                                              strlen (new_name), partner->id, strlen (partner->id));
        }
        if (rc == PD_OK)
            rc = s_audit (ctx, batch, "partner.updated", partner);
        if (rc == PD_OK)
            rc = pd_ctx_commit (ctx, batch);
        if (rc == PD_OK)
            partner->version = (int64_t)pd_store_batch_version (batch, 0);
        pd_store_batch_destroy (&batch);
        if (rc == PD_E_CONFLICT && PD_HAS (req, partner_update, version))
            return pd_ctx_fail (ctx, rc, "version", "partner changed concurrently");
    }
    if (rc == PD_E_EXISTS)
        return pd_ctx_fail (ctx, rc, "name", "a partner with this name exists");
    return rc;
}

static int
s_partner_regenerate_key (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_partner_ref_t *req = request;
    pd_partner_t *partner = reply;
    if (!pd_ctx_allowed (ctx, "admin"))
        return PD_E_FORBIDDEN;
    int rc = PD_E_CONFLICT;
    pd_token_t token;
    for (int attempt = 0; attempt < S_RETRIES && rc == PD_E_CONFLICT; attempt++) {
        pd_schema_clear (&pd_partner_schema, partner);
        rc = s_load (pd_ctx_store (ctx), req->id, partner);
        if (rc == PD_E_NOT_FOUND)
            return pd_ctx_fail (ctx, rc, "id", "no partner %s", req->id);
        if (rc != PD_OK)
            return rc;
        if (pd_token_generate (PD_TOKEN_PARTNER_KEY, &token) != PD_OK)
            return PD_E_INTERNAL;
        uint64_t version = (uint64_t)partner->version;
        char *old_key = partner->api_key_prefix;
        partner->api_key_prefix = NULL;
        int64_t now = pd_ctx_now (ctx);
        partner->updated_at = now;

        pd_store_batch_t *batch = pd_store_batch_new ();
        rc = batch && pd_schema_set_str (&partner->api_key_prefix, token.id) == PD_OK
                 ? s_put (batch, partner, version)
                 : PD_E_INTERNAL;
        //  The old key goes in the same transaction: refused from the commit on
        if (rc == PD_OK && old_key)
            rc = pd_apikey_delete (batch, old_key);
        if (rc == PD_OK)
            rc = pd_apikey_put (batch, &token, "partner", partner->id, now);
        if (rc == PD_OK)
            rc = s_audit (ctx, batch, "partner.key_regenerated", partner);
        if (rc == PD_OK)
            rc = pd_ctx_commit (ctx, batch);
        if (rc == PD_OK) {
            partner->version = (int64_t)pd_store_batch_version (batch, 0);
            rc = pd_schema_set_str (&partner->api_key, token.text);
        }
        free (old_key);
        pd_store_batch_destroy (&batch);
        OPENSSL_cleanse (&token, sizeof (token));
    }
    return rc;
}

//  A pending sign-up decided: its status goes from pending to `status`.
//  Any other status is PD_E_CONFLICT (decided already, or never a sign-up).
static int
s_decide (pd_ctx_t *ctx, const char *id, const char *status, const char *event,
          pd_partner_t *partner)
{
    if (!pd_ctx_allowed (ctx, "admin"))
        return PD_E_FORBIDDEN;
    int rc = PD_E_CONFLICT;
    for (int attempt = 0; attempt < S_RETRIES && rc == PD_E_CONFLICT; attempt++) {
        pd_schema_clear (&pd_partner_schema, partner);
        rc = s_load (pd_ctx_store (ctx), id, partner);
        if (rc == PD_E_NOT_FOUND)
            return pd_ctx_fail (ctx, rc, "id", "no partner %s", id);
        if (rc != PD_OK)
            return rc;
        if (strcmp (partner->status, "pending") != 0)
            return pd_ctx_fail (ctx, PD_E_CONFLICT, "status", "partner %s is %s, not pending", id,
                                partner->status);
        uint64_t version = (uint64_t)partner->version;
        partner->updated_at = pd_ctx_now (ctx);
        pd_store_batch_t *batch = pd_store_batch_new ();
        rc = batch && pd_schema_set_str (&partner->status, status) == PD_OK
                 ? s_put (batch, partner, version)
                 : PD_E_INTERNAL;
        if (rc == PD_OK)
            rc = s_audit (ctx, batch, event, partner);
        if (rc == PD_OK)
            rc = pd_ctx_commit (ctx, batch);
        if (rc == PD_OK)
            partner->version = (int64_t)pd_store_batch_version (batch, 0);
        pd_store_batch_destroy (&batch);
    }
    return rc;
}

static int
s_partner_approve (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_partner_ref_t *req = request;
    return s_decide (ctx, req->id, "active", "partner.approved", reply);
}

static int
s_partner_reject (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_partner_ref_t *req = request;
    return s_decide (ctx, req->id, "rejected", "partner.rejected", reply);
}

//  ------------------------------------------------------------------------
//  Approved domains: sign-ins from these organisations skip the approval
//  (pd_oauth_actor). Table "approved_domains", key = lower-cased domain.

//  The store key of a domain: lower-cased, a DNS name ([a-z0-9-] labels,
//  at least two). PD_OK or PD_E_INVALID_FIELD.
static int
s_domain_key (pd_ctx_t *ctx, const char *domain, char *key, size_t size)
{
    pd_record_key_lower (domain, key, size);
    size_t length = strlen (key);
    bool valid = length == strlen (domain) && key[0] != '.' && key[length - 1] != '.' &&
                 strchr (key, '.') && !strstr (key, "..");
    for (const char *c = key; valid && *c; c++)
        valid =
            islower ((unsigned char)*c) || isdigit ((unsigned char)*c) || *c == '-' || *c == '.';
    return valid ? PD_OK : pd_ctx_fail (ctx, PD_E_INVALID_FIELD, "domain", "must be a domain name");
}

static int
s_domain_audit (pd_ctx_t *ctx, pd_store_batch_t *batch, const char *type,
                const pd_approved_domain_t *entry)
{
    char detail[S_DOMAIN_DETAIL_SIZE];
    snprintf (detail, sizeof (detail), "%s %s%s%s", entry->domain, entry->provider,
              entry->tenant_id ? " " : "", entry->tenant_id ? entry->tenant_id : "");
    pd_event_t event = {0};
    event.type = (char *)type;
    event.at = pd_ctx_now (ctx);
    PD_MARK (&event, event, at);
    event.actor = (char *)pd_ctx_actor (ctx);
    event.detail = detail;
    return pd_ctx_emit (ctx, batch, PD_STREAM_AUDIT, &event);
}

static int
s_domain_list (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    pd_approved_domain_list_t *list = reply;
    if (!pd_ctx_allowed (ctx, "admin"))
        return PD_E_FORBIDDEN;
    pd_store_item_t *found = NULL;
    size_t count = 0;
    int rc = pd_store_scan (pd_ctx_store (ctx), pd_table_approved_domains.name, NULL, 0, NULL, 0,
                            PD_PAGE_LIMIT_MAX, &found, &count);
    pd_approved_domain_t *items = count ? calloc (count, sizeof (pd_approved_domain_t)) : NULL;
    if (rc == PD_OK && count && !items)
        rc = PD_E_INTERNAL;
    list->items.items = items;
    for (size_t i = 0; rc == PD_OK && i < count; i++) {
        if (pd_schema_decode (&pd_approved_domain_schema, found[i].data, found[i].size, &items[i],
                              NULL) != PD_OK)
            rc = PD_E_INTERNAL;
        else
            list->items.size++;
    }
    pd_store_items_destroy (&found, count);
    return rc;
}

static int
s_domain_add (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_approved_domain_t *req = request;
    pd_approved_domain_t *entry = reply;
    if (!pd_ctx_allowed (ctx, "admin"))
        return PD_E_FORBIDDEN;
    char key[S_DOMAIN_KEY_SIZE];
    int rc = s_domain_key (ctx, req->domain, key, sizeof (key));
    if (rc != PD_OK)
        return rc;
    bool has_tenant = req->tenant_id && *req->tenant_id;
    if (strcmp (req->provider, "microsoft") == 0 && !has_tenant)
        return pd_ctx_fail (ctx, PD_E_MISSING_FIELD, "tenant_id",
                            "a Microsoft domain is approved with its tenant id");
    if (strcmp (req->provider, "microsoft") != 0 && has_tenant)
        return pd_ctx_fail (ctx, PD_E_INVALID_FIELD, "tenant_id", "only for Microsoft domains");

    if (pd_schema_set_str (&entry->domain, key) != PD_OK ||
        pd_schema_set_str (&entry->provider, req->provider) != PD_OK ||
        (has_tenant && pd_schema_set_str (&entry->tenant_id, req->tenant_id) != PD_OK))
        return PD_E_INTERNAL;
    entry->created_at = pd_ctx_now (ctx);
    PD_MARK (entry, approved_domain, created_at);
    pd_store_batch_t *batch = pd_store_batch_new ();
    rc = batch ? pd_record_put (batch, &pd_table_approved_domains, key, entry, PD_STORE_ABSENT)
               : PD_E_INTERNAL;
    if (rc == PD_OK)
        rc = s_domain_audit (ctx, batch, "domain.added", entry);
    if (rc == PD_OK)
        rc = pd_ctx_commit (ctx, batch);
    pd_store_batch_destroy (&batch);
    if (rc == PD_E_EXISTS)
        return pd_ctx_fail (ctx, rc, "domain", "%s is approved already", key);
    return rc;
}

static int
s_domain_remove (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    const pd_approved_domain_ref_t *req = request;
    if (!pd_ctx_allowed (ctx, "admin"))
        return PD_E_FORBIDDEN;
    char key[S_DOMAIN_KEY_SIZE];
    int rc = s_domain_key (ctx, req->domain, key, sizeof (key));
    for (int attempt = 0; rc == PD_OK && attempt < S_RETRIES; attempt++) {
        pd_approved_domain_t entry = {0};
        uint64_t version = 0;
        rc = pd_record_get (pd_ctx_store (ctx), &pd_table_approved_domains, key, &entry, &version);
        if (rc == PD_E_NOT_FOUND)
            return pd_ctx_fail (ctx, rc, "domain", "%s is not an approved domain", key);
        pd_store_batch_t *batch = rc == PD_OK ? pd_store_batch_new () : NULL;
        if (rc == PD_OK)
            rc = batch ? pd_store_batch_delete (batch, pd_table_approved_domains.name, key,
                                                strlen (key), version)
                       : PD_E_INTERNAL;
        if (rc == PD_OK)
            rc = s_domain_audit (ctx, batch, "domain.removed", &entry);
        if (rc == PD_OK)
            rc = pd_ctx_commit (ctx, batch);
        pd_store_batch_destroy (&batch);
        pd_schema_clear (&pd_approved_domain_schema, &entry);
        if (rc != PD_E_CONFLICT)
            return rc;
        rc = PD_OK; //  changed since read: read it again
    }
    return rc == PD_OK ? PD_E_CONFLICT : rc;
}

static const pd_handler_t s_handlers[] = {
    {"partner.create", s_partner_create},
    {"partner.list", s_partner_list},
    {"partner.get", s_partner_get},
    {"partner.update", s_partner_update},
    {"partner.regenerate_key", s_partner_regenerate_key},
    {"partner.me", s_partner_me},
    {"partner.pending", s_partner_pending},
    {"partner.approve", s_partner_approve},
    {"partner.reject", s_partner_reject},
    {"domain.list", s_domain_list},
    {"domain.add", s_domain_add},
    {"domain.remove", s_domain_remove},
    {NULL, NULL},
};

//  Stateless: all it knows is in the store
const pd_actor_def_t pd_partners_actor = {
    .service = "partners", .handlers = s_handlers, .state_new = NULL, .state_destroy = NULL};
