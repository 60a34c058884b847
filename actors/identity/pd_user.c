/*  pd_user - partner user records (see pd_user.h) */
#include "pd_user.h"

#include <assert.h>
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "pd_record.h"
#include "pd_token.h"

#define S_ID_TYPE        "usr"
#define S_ID_LENGTH      16
#define S_ID_SIZE        (PD_ID_MAX + 1)
#define S_EMAIL_KEY_SIZE (PD_EMAIL_MAX + 1)
#define S_ROLE_DEFAULT   "partner-user"
#define S_ACTIVE         "active"

int
pd_user_add (pd_store_batch_t *batch, pd_user_t *user, const char *identity, int64_t now_ms)
{
    assert (batch && user);
    char email_key[S_EMAIL_KEY_SIZE];
    if (!user->partner_id || !user->email ||
        !pd_record_key_lower (user->email, email_key, sizeof (email_key)))
        return PD_E_BAD_REQUEST;
    char id[S_ID_SIZE];
    if (pd_token_random_id (S_ID_TYPE, S_ID_LENGTH, id, sizeof (id)) != PD_OK)
        return PD_E_INTERNAL;
    if (pd_schema_set_str (&user->id, id) != PD_OK ||
        pd_schema_set_str (&user->status, S_ACTIVE) != PD_OK ||
        (!user->role && pd_schema_set_str (&user->role, S_ROLE_DEFAULT) != PD_OK))
        return PD_E_INTERNAL;
    user->created_at = user->updated_at = now_ms;
    PD_MARK (user, user, created_at);
    PD_MARK (user, user, updated_at);

    int rc = pd_record_store (batch, &pd_table_users, user->id, user, PD_STORE_ABSENT);
    if (rc == PD_OK)
        rc = pd_record_index_add (batch, &pd_index_users_by_partner, user->partner_id, id);
    if (rc == PD_OK)
        rc = pd_store_batch_index_add (batch, pd_table_users_by_email.name, email_key,
                                       strlen (email_key), id, strlen (id));
    if (rc == PD_OK && identity)
        rc = pd_store_batch_index_add (batch, pd_table_users_by_identity.name, identity,
                                       strlen (identity), id, strlen (id));
    return rc;
}

//  The user an index key points to
static int
s_find (pd_store_t *store, const pd_table_t *index, const char *key, pd_user_t *user,
        uint64_t *version)
{
    char id[S_ID_SIZE];
    int rc = pd_record_lookup (store, index, key, id, sizeof (id));
    if (rc == PD_OK)
        rc = pd_record_load (store, &pd_table_users, id, user);
    if (rc == PD_OK && version)
        *version = (uint64_t)user->version;
    return rc;
}

int
pd_user_find_identity (pd_store_t *store, const char *identity, pd_user_t *user, uint64_t *version)
{
    assert (store && identity && user);
    return s_find (store, &pd_table_users_by_identity, identity, user, version);
}

int
pd_user_find_email (pd_store_t *store, const char *email, pd_user_t *user, uint64_t *version)
{
    assert (store && email && user);
    char key[S_EMAIL_KEY_SIZE];
    if (!pd_record_key_lower (email, key, sizeof (key)))
        return PD_E_NOT_FOUND;
    return s_find (store, &pd_table_users_by_email, key, user, version);
}
