/*  test_walkthrough - the README's walkthrough (provisioning, escalations),
    run as written

    The shell block between the README's walkthrough marks is taken as it
    is and run with bash (-e, -u, -o pipefail) against a fresh all-in-one
    partnerd started the way deploy/run.sh starts it (no settings file: the
    public URL and the appliance endpoint follow --http and
    --appliance-bind), with API, DATA and BUILD saying where it is. Every
    step of the block checks what it gets (curl -f, jq -e, test), so the
    walkthrough breaking breaks this test. It is run twice: a second run
    must work on the data the first one left (a newcomer runs it again).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pd_testutil.h"

#define S_BEGIN      "<!-- walkthrough:begin -->"
#define S_END        "<!-- walkthrough:end -->"
#define S_FENCE      "```"
#define S_START_MS   20000
#define S_RUN_MS     60000
#define S_OUTPUT_MAX 65536

//  The shell block between the marks (caller frees), or NULL
static char *
s_walkthrough (void)
{
    FILE *file = fopen (PARTNERD_SOURCE_DIR "/README.md", "r");
    if (!file)
        return NULL;
    static char readme[1 << 20];
    size_t size = fread (readme, 1, sizeof (readme) - 1, file);
    fclose (file);
    readme[size] = '\0';
    char *begin = strstr (readme, S_BEGIN);
    char *end = begin ? strstr (begin, S_END) : NULL;
    char *open = begin ? strstr (begin, S_FENCE) : NULL;
    char *code = open ? strchr (open, '\n') : NULL;
    char *close = code ? strstr (code, "\n" S_FENCE) : NULL;
    if (!end || !close || close > end)
        return NULL;
    return strndup (code + 1, (size_t)(close - code));
}

static void
test_the_readme_walkthrough_runs_as_written (void **state)
{
    char *script = s_walkthrough ();
    assert_non_null (script);
    assert_non_null (strstr (script, "pd-simulator\" --claim-url"));

    char *dir = pd_test_tmpdir ();
    char data[512], http[64], appliances[64], api[96], build[512];
    snprintf (data, sizeof (data), "%s/partnerd-data", dir);
    snprintf (http, sizeof (http), "127.0.0.1:%d", pd_test_free_port ());
    snprintf (appliances, sizeof (appliances), "tcp://127.0.0.1:%d", pd_test_free_port ());
    snprintf (api, sizeof (api), "http://%s", http);
    snprintf (build, sizeof (build), "%s", PD_SIMULATOR_BIN);
    dirname (build);
    const char *args[] = {"--data", data, "--http", http, "--appliance-bind", appliances, NULL};
    pd_proc_t *server = pd_proc_start (args, S_START_MS);
    assert_non_null (server);

    setenv ("API", api, 1);
    setenv ("DATA", data, 1);
    setenv ("BUILD", build, 1);
    assert_int_equal (chdir (dir), 0);
    char *output = malloc (S_OUTPUT_MAX);
    for (int run = 1; run <= 2; run++) {
        const char *bash[] = {"-euo", "pipefail", "-c", script, NULL};
        int status = pd_run ("/bin/bash", bash, output, S_OUTPUT_MAX, S_RUN_MS);
        if (status != 0) {
            pd_proc_stop (&server, SIGKILL); //  not left behind holding the log pipe
            size_t length = strlen (output);
            fail_msg ("walkthrough run %d exited %d; the end of its output:\n%s", run, status,
                      output + (length > 3000 ? length - 3000 : 0));
        }
        //  What the walkthrough showed: the claim URL naming this partnerd's
        //  own ports, the claim, the site online, the refused second claim
        char endpoint[96];
        snprintf (endpoint, sizeof (endpoint), "endpoint=tcp%%3A%%2F%%2F127.0.0.1%%3A%s",
                  strrchr (appliances, ':') + 1);
        assert_non_null (strstr (output, api));
        assert_non_null (strstr (output, endpoint));
        assert_non_null (strstr (output, "\"site_name\":\"Dental Clinic North\""));
        assert_non_null (strstr (output, "\"online_count\": "));
        assert_non_null (strstr (output, "\"code\": \"code_used\""));
        //  ...and the escalation: raised over the link (opened, or re-opened
        //  by the second run), warned and breached in the remote tail,
        //  acknowledged down the link, counted in the metrics
        assert_non_null (strstr (output, run == 1 ? "escalation.opened P1 esc_"
                                                  : "escalation.reopened P1 esc_"));
        assert_non_null (strstr (output, "sla.warning P1 esc_"));
        assert_non_null (strstr (output, "sla.breached P1 esc_"));
        assert_non_null (strstr (output, "\"status\":\"acknowledged\",\"mac\""));
        assert_non_null (strstr (output, "\"response_breaches\": 1"));
    }
    free (output);
    assert_int_equal (chdir ("/"), 0);
    assert_int_equal (pd_proc_stop (&server, SIGTERM), 0);
    pd_test_rmdir (dir);
    free (dir);
    free (script);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_the_readme_walkthrough_runs_as_written),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
