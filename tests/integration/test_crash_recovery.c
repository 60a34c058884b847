/*  test_crash_recovery - an acknowledged write survives kill -9; a backup
    restores whole

    A client thread creates partners one after another while the main thread
    waits for a number of 201s and then kills partnerd with SIGKILL, with
    requests still in flight. After a restart on the same data directory,
    every partner whose creation was acknowledged must be there, with its
    name and a working key.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pd_testutil.h"

#define S_ROUNDS       3
#define S_ACKS_TO_WAIT 15 //  201s seen before the kill, per round
#define S_MAX_ACKED    1024

typedef struct {
    char id[64];
    char name[64];
    char key[128];
} s_acked_t;

typedef struct {
    const char *base;
    const char *admin_key;
    int round;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    s_acked_t acked[S_MAX_ACKED];
    size_t acked_count;
    size_t round_acks;
    bool stop;
} s_writer_t;

static void *
s_writer (void *arg)
{
    s_writer_t *self = arg;
    char url[256];
    snprintf (url, sizeof (url), "%s/api/partners", self->base);
    for (int n = 0;; n++) {
        pthread_mutex_lock (&self->lock);
        bool stop = self->stop || self->acked_count == S_MAX_ACKED;
        pthread_mutex_unlock (&self->lock);
        if (stop)
            break;
        char name[64], body[256];
        snprintf (name, sizeof (name), "Crash %d-%d", self->round, n);
        snprintf (body, sizeof (body), "{\"name\":\"%s\",\"contact_email\":\"c@crash.example\"}",
                  name);
        pd_test_http_t response;
        //  After the kill requests fail: the loop ends when told to stop
        if (pd_test_http ("POST", url, self->admin_key, body, NULL, &response) == 0 &&
            response.status == 201) {
            pthread_mutex_lock (&self->lock);
            s_acked_t *acked = &self->acked[self->acked_count++];
            snprintf (acked->id, sizeof (acked->id), "%s", pd_json_str (&response, "id"));
            snprintf (acked->name, sizeof (acked->name), "%s", name);
            snprintf (acked->key, sizeof (acked->key), "%s", pd_json_str (&response, "api_key"));
            self->round_acks++;
            pthread_cond_broadcast (&self->changed);
            pthread_mutex_unlock (&self->lock);
        }
        pd_test_http_clear (&response);
    }
    return NULL;
}

static pd_proc_t *
s_start (const char *dir, const char *http)
{
    const char *args[] = {"--data", dir, "--http", http, NULL};
    return pd_proc_start (args, 20000);
}

static void
test_acknowledged_creates_survive_kill_9 (void **state)
{
    char *dir = pd_test_tmpdir ();
    char http[64], base[80], key_path[512];
    snprintf (http, sizeof (http), "127.0.0.1:%d", pd_test_free_port ());
    snprintf (base, sizeof (base), "http://%s", http);
    snprintf (key_path, sizeof (key_path), "%s/admin.key", dir);

    s_writer_t *writer = calloc (1, sizeof (*writer));
    pthread_mutex_init (&writer->lock, NULL);
    pthread_cond_init (&writer->changed, NULL);
    writer->base = base;

    for (int round = 0; round < S_ROUNDS; round++) {
        pd_proc_t *server = s_start (dir, http);
        assert_non_null (server);
        char *admin_key = pd_test_read_line (key_path);
        assert_non_null (admin_key);

        //  Everything acknowledged in earlier rounds is there
        for (size_t i = 0; i < writer->acked_count; i++) {
            char url[256];
            snprintf (url, sizeof (url), "%s/api/partners/%s", base, writer->acked[i].id);
            pd_test_http_t response;
            assert_int_equal (pd_test_http ("GET", url, admin_key, NULL, NULL, &response), 0);
            assert_int_equal (response.status, 200);
            assert_string_equal (pd_json_str (&response, "name"), writer->acked[i].name);
            pd_test_http_clear (&response);
        }
        if (writer->acked_count > 0) {
            char url[256];
            snprintf (url, sizeof (url), "%s/api/partners/me", base);
            pd_test_http_t response;
            const s_acked_t *last = &writer->acked[writer->acked_count - 1];
            assert_int_equal (pd_test_http ("GET", url, last->key, NULL, NULL, &response), 0);
            assert_int_equal (response.status, 200);
            assert_string_equal (pd_json_str (&response, "id"), last->id);
            pd_test_http_clear (&response);
        }

        //  Write until S_ACKS_TO_WAIT acks, then kill -9 mid-stream
        writer->admin_key = admin_key;
        writer->round = round;
        writer->round_acks = 0;
        writer->stop = false;
        pthread_t thread;
        pthread_create (&thread, NULL, s_writer, writer);
        pthread_mutex_lock (&writer->lock);
        while (writer->round_acks < S_ACKS_TO_WAIT)
            pthread_cond_wait (&writer->changed, &writer->lock);
        pthread_mutex_unlock (&writer->lock);
        assert_int_equal (pd_proc_stop (&server, SIGKILL), 128 + SIGKILL);
        pthread_mutex_lock (&writer->lock);
        writer->stop = true;
        pthread_mutex_unlock (&writer->lock);
        pthread_join (thread, NULL);
        free (admin_key);
        fprintf (stderr, "round %d: %zu acknowledged creates in total\n", round,
                 writer->acked_count);
    }
    //  A last start checks the last round, then a clean stop
    pd_proc_t *server = s_start (dir, http);
    assert_non_null (server);
    char *admin_key = pd_test_read_line (key_path);
    size_t found = 0;
    for (size_t i = 0; i < writer->acked_count; i++) {
        char url[256];
        snprintf (url, sizeof (url), "%s/api/partners/%s", base, writer->acked[i].id);
        pd_test_http_t response;
        if (pd_test_http ("GET", url, admin_key, NULL, NULL, &response) == 0 &&
            response.status == 200)
            found++;
        pd_test_http_clear (&response);
    }
    assert_int_equal (found, writer->acked_count);
    assert_true (writer->acked_count >= S_ROUNDS * S_ACKS_TO_WAIT);
    assert_int_equal (pd_proc_stop (&server, SIGTERM), 0);

    free (admin_key);
    pthread_mutex_destroy (&writer->lock);
    pthread_cond_destroy (&writer->changed);
    free (writer);
    pd_test_rmdir (dir);
    free (dir);
}

//  A backup taken while partnerd runs restores whole: the store, and the
//  keys beside it (the front's keypair appliances know, the admin key)
static void
test_backup_restores_whole (void **state)
{
    char *dir = pd_test_tmpdir ();
    char http[64], base[80], path[1024], copy[512];
    snprintf (http, sizeof (http), "127.0.0.1:%d", pd_test_free_port ());
    snprintf (base, sizeof (base), "http://%s", http);
    pd_proc_t *server = s_start (dir, http);
    assert_non_null (server);
    char server_key[64] = "";
    assert_true (pd_proc_line_after (server, "server key ", server_key, sizeof (server_key)));
    snprintf (path, sizeof (path), "%s/admin.key", dir);
    char *admin_key = pd_test_read_line (path);
    assert_non_null (admin_key);
    char url[256];
    snprintf (url, sizeof (url), "%s/api/partners", base);
    pd_test_http_t response;
    assert_int_equal (pd_test_http ("POST", url, admin_key,
                                    "{\"name\":\"Backup MSP\",\"contact_email\":\"b@b.example\"}",
                                    NULL, &response),
                      0);
    assert_int_equal (response.status, 201);
    char partner_key[128];
    snprintf (partner_key, sizeof (partner_key), "%s", pd_json_str (&response, "api_key"));
    pd_test_http_clear (&response);

    snprintf (copy, sizeof (copy), "%s/backup", dir);
    char data[512];
    snprintf (data, sizeof (data), "%s", dir);
    const char *args[] = {"backup", "--data", data, "--to", copy, NULL};
    char output[4096];
    assert_int_equal (pd_run (PARTNERCTL_BIN, args, output, sizeof (output), 30000), 0);
    assert_non_null (strstr (output, "appliance_curve.key copied"));
    assert_non_null (strstr (output, "admin.key copied"));
    assert_non_null (strstr (output, "master.key copied"));
    assert_int_equal (pd_proc_stop (&server, SIGTERM), 0);

    //  partnerd on the copy: the same front key, the partner and its key
    snprintf (http, sizeof (http), "127.0.0.1:%d", pd_test_free_port ());
    snprintf (base, sizeof (base), "http://%s", http);
    server = s_start (copy, http);
    assert_non_null (server);
    char restored_key[64] = "";
    assert_true (pd_proc_line_after (server, "server key ", restored_key, sizeof (restored_key)));
    assert_string_equal (restored_key, server_key);
    snprintf (url, sizeof (url), "%s/api/partners/me", base);
    assert_int_equal (pd_test_http ("GET", url, partner_key, NULL, NULL, &response), 0);
    assert_int_equal (response.status, 200);
    assert_string_equal (pd_json_str (&response, "name"), "Backup MSP");
    pd_test_http_clear (&response);
    snprintf (path, sizeof (path), "%s/admin.key", copy);
    char *restored_admin = pd_test_read_line (path);
    assert_non_null (restored_admin);
    assert_string_equal (restored_admin, admin_key);
    struct stat info;
    assert_int_equal (stat (path, &info), 0);
    assert_int_equal (info.st_mode & 0777, 0600);
    assert_int_equal (pd_proc_stop (&server, SIGTERM), 0);
    free (restored_admin);
    free (admin_key);
    pd_test_rmdir (dir);
    free (dir);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_acknowledged_creates_survive_kill_9),
        cmocka_unit_test (test_backup_restores_whole),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
