/*  test_pd_keys - cluster key files, the allow-list, roles, private files

    Each test works in a fresh temporary cluster directory. The wrong-owner
    cases need to make a file owned by someone else, which only root can:
    they are skipped (and say so) otherwise.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pd_keys.h"
#include "pd_messages.h"
#include "pd_test_dir.h"

#define S_OTHER_UID 65534 //  nobody

typedef struct {
    char dir[64];
    char error[PD_KEYS_ERROR_MAX];
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fx = calloc (1, sizeof (fixture_t));
    assert_int_equal (pd_test_dir_make ("test_pd_keys", fx->dir, sizeof (fx->dir)), 0);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = *state;
    pd_test_dir_remove (fx->dir);
    free (fx);
    return 0;
}

static void
s_path (fixture_t *fx, char *path, const char *file)
{
    snprintf (path, 256, "%s/%s", fx->dir, file);
}

//  Write `text` to dir/file with `mode`
static void
s_write (fixture_t *fx, const char *file, const char *text, mode_t mode)
{
    char path[256];
    s_path (fx, path, file);
    unlink (path);
    FILE *out = fopen (path, "w");
    assert_non_null (out);
    fputs (text, out);
    fclose (out);
    assert_int_equal (chmod (path, mode), 0);
}

//  A cluster with a gateway, an actor and a tail key
static void
s_cluster (fixture_t *fx)
{
    assert_int_equal (pd_keys_cluster_init (fx->dir, fx->error, sizeof (fx->error)), 0);
    assert_int_equal (pd_keys_cluster_add (fx->dir, "gw", PD_KEYS_GATEWAY, NULL, NULL, 0, fx->error,
                                           sizeof (fx->error)),
                      0);
    char path[256];
    assert_int_equal (pd_keys_cluster_add (fx->dir, "act", PD_KEYS_ACTOR, "auth,partners", path,
                                           sizeof (path), fx->error, sizeof (fx->error)),
                      0);
    char expected[256];
    s_path (fx, expected, "act.key");
    assert_string_equal (path, expected);
    assert_int_equal (pd_keys_cluster_add (fx->dir, "ops", PD_KEYS_TAIL, "", NULL, 0, fx->error,
                                           sizeof (fx->error)),
                      0);
}

//  --------------------------------------------------------------------------

//  Usage: partnerctl keys init and add, then what the broker and a process
//  load
static void
test_round_trip (void **state)
{
    fixture_t *fx = *state;
    s_cluster (fx);
    pd_keys_cluster_t *cluster = pd_keys_cluster_load (fx->dir, fx->error, sizeof (fx->error));
    assert_non_null (cluster);
    const pd_keys_allow_t *allow = pd_keys_cluster_allow (cluster);
    assert_int_equal (pd_keys_allow_size (allow), 3);

    char path[256];
    s_path (fx, path, "act.key");
    pd_keys_pair_t act;
    assert_int_equal (pd_keys_pair_load (&act, path, true, fx->error, sizeof (fx->error)), 0);
    assert_string_equal (act.server_key, pd_keys_cluster_pair (cluster)->public_key);
    const pd_keys_entry_t *entry = pd_keys_allow_find_key (allow, act.public_key);
    assert_non_null (entry);
    assert_ptr_equal (entry, pd_keys_allow_find_name (allow, "act"));
    assert_string_equal (entry->name, "act");
    assert_int_equal (entry->role, PD_KEYS_ACTOR);
    assert_int_equal (entry->service_count, 2);
    assert_true (pd_keys_may_serve (entry, "auth"));
    assert_true (pd_keys_may_serve (entry, "partners"));
    assert_false (pd_keys_may_serve (entry, "stream"));
    assert_false (pd_keys_may_call (entry, "partners"));
    assert_true (pd_keys_may_publish (entry));
    assert_false (pd_keys_may_subscribe (entry));

    const pd_keys_entry_t *gw = pd_keys_allow_find_name (allow, "gw");
    assert_true (pd_keys_may_call (gw, "partners") && pd_keys_may_call (gw, "$broker.ping"));
    assert_false (pd_keys_may_serve (gw, "auth") || pd_keys_may_publish (gw));
    assert_true (pd_keys_may_subscribe (gw));
    const pd_keys_entry_t *ops = pd_keys_allow_find_name (allow, "ops");
    assert_true (pd_keys_may_call (ops, "stream") && pd_keys_may_subscribe (ops));
    assert_false (pd_keys_may_call (ops, "partners") || pd_keys_may_serve (ops, "stream"));
    pd_keys_entry_t front;
    assert_int_equal (pd_keys_entry_set (&front, "front-1", PD_KEYS_FRONT, act.public_key, NULL,
                                         fx->error, sizeof (fx->error)),
                      0);
    assert_true (pd_keys_may_serve (&front, "appliances") && pd_keys_may_call (&front, "claim"));
    assert_false (pd_keys_may_serve (&front, "auth") || pd_keys_may_call (&front, "auth"));
    assert_null (pd_keys_allow_find_name (allow, "nobody"));

    //  A copy shares nothing
    pd_keys_cluster_t *copy = pd_keys_cluster_dup (cluster);
    pd_keys_cluster_destroy (&cluster);
    assert_null (cluster);
    assert_non_null (pd_keys_allow_find_key (pd_keys_cluster_allow (copy), act.public_key));
    pd_keys_cluster_destroy (&copy);
    pd_keys_pair_wipe (&act);
    assert_int_equal (act.secret_key[0], 0);

    //  Files are private; nothing is overwritten or listed twice
    struct stat info;
    assert_int_equal (stat (path, &info), 0);
    assert_int_equal (info.st_mode & 0777, 0600);
    assert_int_equal (stat (fx->dir, &info), 0);
    assert_int_equal (info.st_mode & 0777, 0700);
    assert_int_equal (pd_keys_cluster_init (fx->dir, fx->error, sizeof (fx->error)), -1);
    assert_int_equal (pd_keys_cluster_add (fx->dir, "act", PD_KEYS_ACTOR, "auth", NULL, 0,
                                           fx->error, sizeof (fx->error)),
                      -1);
    assert_non_null (strstr (fx->error, "already"));
}

static void
test_refuses_mode_0644 (void **state)
{
    fixture_t *fx = *state;
    s_cluster (fx);
    char path[256];
    s_path (fx, path, "gw.key");
    assert_int_equal (chmod (path, 0644), 0);
    pd_keys_pair_t pair;
    assert_int_equal (pd_keys_pair_load (&pair, path, true, fx->error, sizeof (fx->error)), -1);
    assert_non_null (strstr (fx->error, "must have mode 0600 (it has 644)"));
    s_path (fx, path, PD_KEYS_ALLOW_FILE);
    assert_int_equal (chmod (path, 0640), 0);
    assert_null (pd_keys_cluster_load (fx->dir, fx->error, sizeof (fx->error)));
    assert_non_null (strstr (fx->error, PD_KEYS_ALLOW_FILE));
    //  and keys add does not append to it
    assert_int_equal (pd_keys_cluster_add (fx->dir, "x", PD_KEYS_TAIL, NULL, NULL, 0, fx->error,
                                           sizeof (fx->error)),
                      -1);
}

static void
test_refuses_wrong_owner (void **state)
{
    fixture_t *fx = *state;
    if (geteuid () != 0) {
        fprintf (stderr, "test: not root, cannot make a file of another owner: skipped\n");
        skip ();
    }
    s_cluster (fx);
    char path[256];
    s_path (fx, path, "gw.key");
    assert_int_equal (chown (path, S_OTHER_UID, S_OTHER_UID), 0);
    pd_keys_pair_t pair;
    assert_int_equal (pd_keys_pair_load (&pair, path, true, fx->error, sizeof (fx->error)), -1);
    assert_non_null (strstr (fx->error, "not by this user"));
    s_path (fx, path, PD_KEYS_BROKER_FILE);
    assert_int_equal (chown (path, S_OTHER_UID, S_OTHER_UID), 0);
    assert_null (pd_keys_cluster_load (fx->dir, fx->error, sizeof (fx->error)));
    assert_int_equal (chown (fx->dir, S_OTHER_UID, S_OTHER_UID), 0);
    assert_int_equal (pd_keys_check_private_dir (fx->dir, fx->error, sizeof (fx->error)), -1);
    assert_non_null (strstr (fx->error, "not by this user"));
}

static void
test_refuses_symlink (void **state)
{
    fixture_t *fx = *state;
    s_cluster (fx);
    char target[256], link[256];
    s_path (fx, target, "gw.key");
    s_path (fx, link, "link.key");
    assert_int_equal (symlink (target, link), 0);
    pd_keys_pair_t pair;
    assert_int_equal (pd_keys_pair_load (&pair, link, true, fx->error, sizeof (fx->error)), -1);
    assert_non_null (strstr (fx->error, "symbolic link"));
}

static void
test_refuses_malformed (void **state)
{
    fixture_t *fx = *state;
    pd_keys_pair_t good, other;
    assert_int_equal (pd_keys_pair_generate (&good), 0);
    assert_int_equal (pd_keys_pair_generate (&other), 0);
    char text[1024], path[256];
    s_path (fx, path, "bad.key");
    pd_keys_pair_t pair;
    const struct {
        const char *format; //  %s: public, secret, server
        const char *error;
    } pairs[] = {
        {"public %s\nsecret %s\nserver %s\ncolour blue\n", "unknown field 'colour'"},
        {"public %s\nsecret %s\n", "'server'"},
        {"public %s\npublic %s\nserver %s\n", "given twice"},
        {"public %.39s\nsecret %s\nserver %s\n", "not a Z85 CURVE key"},
    };
    for (size_t i = 0; i < sizeof (pairs) / sizeof (pairs[0]); i++) {
        snprintf (text, sizeof (text), pairs[i].format, good.public_key, good.secret_key,
                  good.public_key);
        s_write (fx, "bad.key", text, 0600);
        assert_int_equal (pd_keys_pair_load (&pair, path, true, fx->error, sizeof (fx->error)), -1);
        assert_non_null (strstr (fx->error, pairs[i].error));
    }
    //  A secret that is not the public key's
    snprintf (text, sizeof (text), "# ok\npublic %s\nsecret %s\nserver %s\n", good.public_key,
              other.secret_key, other.public_key);
    s_write (fx, "bad.key", text, 0600);
    assert_int_equal (pd_keys_pair_load (&pair, path, true, fx->error, sizeof (fx->error)), -1);
    assert_non_null (strstr (fx->error, "does not match"));
    //  ... and the same file right is accepted
    snprintf (text, sizeof (text), "# ok\n\npublic %s\nsecret   %s\nserver %s\n", good.public_key,
              good.secret_key, other.public_key);
    s_write (fx, "bad.key", text, 0600);
    assert_int_equal (pd_keys_pair_load (&pair, path, true, fx->error, sizeof (fx->error)), 0);
    assert_string_equal (pair.server_key, other.public_key);

    s_path (fx, path, "allow");
    const struct {
        const char *format; //  %s: two keys
        const char *error;
    } lines[] = {
        {"gw gateway\n", "expected NAME ROLE"},
        {"gw wizard %s\n", "unknown role 'wizard'"},
        {"gw gateway %s\ngw tail %s\n", "listed twice"},
        {"gw gateway %1$s\nops tail %1$s\n", "key of 'ops' listed twice"},
        {"ops tail %s auth\n", "only role actor"},
        {"act actor %s\n", "needs the services"},
        {"act actor %s auth,,x\n", "not a valid service name"},
        {"a/b gateway %s\n", "not a valid name"},
        {"gw gateway not-a-key\n", "not a Z85"},
    };
    for (size_t i = 0; i < sizeof (lines) / sizeof (lines[0]); i++) {
        snprintf (text, sizeof (text), lines[i].format, good.public_key, other.public_key);
        s_write (fx, "allow", text, 0600);
        assert_null (pd_keys_allow_load (path, fx->error, sizeof (fx->error)));
        assert_non_null (strstr (fx->error, lines[i].error));
    }
}

static void
test_endpoints_private (void **state)
{
    fixture_t *fx = *state;
    char endpoints[512], open_dir[256], endpoint[256];
    assert_true (pd_keys_endpoints_private ("inproc://a,inproc://b", NULL, 0));
    snprintf (endpoints, sizeof (endpoints), "inproc://a, ipc://%s/broker.sock", fx->dir);
    assert_true (pd_keys_endpoints_private (endpoints, NULL, 0));
    assert_false (
        pd_keys_endpoints_private ("inproc://a,tcp://127.0.0.1:5555", endpoint, sizeof (endpoint)));
    assert_string_equal (endpoint, "tcp://127.0.0.1:5555");
    assert_false (pd_keys_endpoints_private ("ipc://@abstract", NULL, 0));
    s_path (fx, open_dir, "open");
    assert_int_equal (mkdir (open_dir, 0700), 0);
    assert_int_equal (chmod (open_dir, 0755), 0);
    snprintf (endpoints, sizeof (endpoints), "ipc://%s/broker.sock", open_dir);
    assert_false (pd_keys_endpoints_private (endpoints, endpoint, sizeof (endpoint)));
    assert_string_equal (endpoint, endpoints);
    assert_int_equal (pd_keys_check_private_dir (open_dir, fx->error, sizeof (fx->error)), -1);
    assert_non_null (strstr (fx->error, "must be 0700"));
}

//  Encode a request header: `type` for a principal of `kind`, with a
//  credential if asked
static void
s_header (const char *type, const char *kind, bool credential, uint8_t **data, size_t *size)
{
    pd_principal_t principal = {.kind = (char *)kind, .appliance_id = (char *)"apl_x"};
    pd_credential_t presented = {.kind = (char *)"key", .id = (char *)"pdp_x"};
    pd_header_t header = {.type = (char *)type, .principal = &principal};
    if (credential)
        header.credential = &presented;
    assert_int_equal (pd_schema_encode (&pd_header_schema, &header, data, size), PD_OK);
}

//  A front key sends what the link carries, for appliances, and nothing
//  else: not another message of those services, not for a partner
static void
test_front_requests (void **state)
{
    pd_keys_entry_t front = {.role = PD_KEYS_FRONT};
    pd_keys_entry_t gateway = {.role = PD_KEYS_GATEWAY};
    const struct {
        const char *service, *type, *kind;
        bool credential, allowed;
    } cases[] = {
        {"claim", "claim.link", "appliance", false, true},
        {"claim", "appliance.status", "appliance", false, true},
        {"claim", "appliance.heartbeats", "appliance", false, true},
        {"escalation", "escalation.create", "appliance", false, true},
        {"escalation", "escalation.updates", "appliance", false, true},
        {"escalation", "escalation.seen", "appliance", false, true},
        {"escalation", "escalation.resolve", "appliance", false, false},
        {"escalation", "escalation.list", "admin", false, false},
        {"escalation", "escalation.create", "partner", false, false},
        {"escalation", "escalation.create", "admin", false, false},
        {"escalation", "escalation.create", "appliance", true, false},
        {"claim", "escalation.create", "appliance", false, false}, //  not that service's
        {"claim", "site.list", "partner", false, false},
        {"partners", "partner.list", "admin", false, false},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        uint8_t *data = NULL;
        size_t size = 0;
        s_header (cases[i].type, cases[i].kind, cases[i].credential, &data, &size);
        if (pd_keys_may_request (&front, cases[i].service, data, size) != cases[i].allowed)
            fail_msg ("front %s %s as %s: expected %s", cases[i].service, cases[i].type,
                      cases[i].kind, cases[i].allowed ? "allowed" : "refused");
        //  A gateway key speaks for anyone
        assert_true (pd_keys_may_request (&gateway, cases[i].service, data, size));
        free (data);
    }
    //  A header that does not decode is refused; the stream service is the
    //  front's follower (as the tail's, with its admin history reads)
    assert_false (pd_keys_may_request (&front, "claim", "\xc1", 1));
    assert_false (pd_keys_may_request (&front, "claim", NULL, 0));
    uint8_t *data = NULL;
    size_t size = 0;
    s_header ("stream.read", "admin", false, &data, &size);
    assert_true (pd_keys_may_request (&front, "stream", data, size));
    free (data);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_round_trip, s_setup, s_teardown),
        cmocka_unit_test (test_front_requests),
        cmocka_unit_test_setup_teardown (test_refuses_mode_0644, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_refuses_wrong_owner, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_refuses_symlink, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_refuses_malformed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_endpoints_private, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
