/*  test_pd_config - settings: defaults, file, environment, secrets */
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

#include "pd_config.h"

static char s_path[64];

static void
s_write (const char *text, mode_t mode)
{
    snprintf (s_path, sizeof (s_path), "/tmp/partnerd-config-XXXXXX");
    int fd = mkstemp (s_path);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, text, strlen (text)), (ssize_t)strlen (text));
    close (fd);
    assert_int_equal (chmod (s_path, mode), 0);
}

static void
test_file_then_environment (void **state)
{
    //  A settings file, overridden by the environment
    s_write ("# partnerd\n"
             "public_url = https://partners.example.com\n"
             "\n"
             "session_ttl_s=60\n"
             "cookie_secure = false\n"
             "google_client_id = abc.apps\n"
             "google_client_secret = s3cret\n",
             0600);
    setenv ("PARTNERD_SESSION_TTL_S", "120", 1);
    char error[256] = "";
    pd_config_t *config = pd_config_new (s_path, error, sizeof (error));
    unsetenv ("PARTNERD_SESSION_TTL_S");
    unlink (s_path);
    assert_non_null (config);
    assert_string_equal (config->public_url, "https://partners.example.com");
    assert_int_equal (config->session_ttl_s, 120);
    assert_false (config->cookie_secure);
    assert_string_equal (config->google_client_secret, "s3cret");
    //  Defaults for what was not set
    assert_int_equal (config->magic_link_ttl_s, 900);
    assert_string_equal (config->google_issuer, "https://accounts.google.com");
    assert_string_equal (config->microsoft_client_id, "");
    //  What the file and the environment gave is told apart from defaults
    assert_true (PD_CONFIG_GIVEN (config, public_url));
    assert_true (PD_CONFIG_GIVEN (config, session_ttl_s));
    assert_false (PD_CONFIG_GIVEN (config, appliance_endpoint));
    assert_false (PD_CONFIG_GIVEN (config, magic_link_ttl_s));
    pd_config_destroy (&config);
    assert_null (config);
}

static void
test_defaults_without_file (void **state)
{
    char error[256];
    pd_config_t *config = pd_config_new (NULL, error, sizeof (error));
    assert_non_null (config);
    assert_true (config->cookie_secure);
    assert_false (config->oauth_allow_insecure);
    pd_config_destroy (&config);
}

static void
test_bad_files_refused (void **state)
{
    const char *bad[] = {"no_such_setting = 1\n", "session_ttl_s = soon\n",
                         "cookie_secure = maybe\n", "just words\n", "session_ttl_s = -5\n"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        s_write (bad[i], 0600);
        char error[256] = "";
        pd_config_t *config = pd_config_new (s_path, error, sizeof (error));
        unlink (s_path);
        assert_null (config);
        assert_true (strlen (error) > 0);
    }
}

static void
test_secret_in_readable_file_refused (void **state)
{
    s_write ("microsoft_client_secret = hunter2\n", 0644);
    char error[256] = "";
    pd_config_t *config = pd_config_new (s_path, error, sizeof (error));
    assert_null (config);
    assert_non_null (strstr (error, "chmod 600"));
    assert_null (strstr (error, "hunter2")); //  never echo a secret
    //  The same file with 0600 is fine
    assert_int_equal (chmod (s_path, 0600), 0);
    config = pd_config_new (s_path, error, sizeof (error));
    unlink (s_path);
    assert_non_null (config);
    pd_config_destroy (&config);
}

//  A secret in a file of another owner is refused too, whatever its mode
//  (only root can make one: skipped otherwise)
static void
test_secret_in_file_of_another_owner_refused (void **state)
{
    if (geteuid () != 0) {
        fprintf (stderr, "test: not root, cannot make a file of another owner: skipped\n");
        skip ();
    }
    s_write ("microsoft_client_secret = hunter2\n", 0600);
    assert_int_equal (chown (s_path, 65534, 65534), 0);
    char error[256] = "";
    pd_config_t *config = pd_config_new (s_path, error, sizeof (error));
    unlink (s_path);
    assert_null (config);
    assert_non_null (strstr (error, "not owned by this user"));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_file_then_environment),
        cmocka_unit_test (test_defaults_without_file),
        cmocka_unit_test (test_bad_files_refused),
        cmocka_unit_test (test_secret_in_readable_file_refused),
        cmocka_unit_test (test_secret_in_file_of_another_owner_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
