/*  test_pd_json - bounded JSON nesting, before jansson recurses */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pd_gateway.h"
#include "pd_json.h"
#include "pd_messages.h"

static void
test_a_shallow_text_parses_as_jansson_would (void **state)
{
    const char text[] = "{\"name\":\"Acme\",\"tags\":[1,[2,{\"x\":3}]]}";
    json_error_t error;
    json_t *root = pd_json_load (text, strlen (text), 4, JSON_REJECT_DUPLICATES, &error);
    assert_non_null (root);
    assert_string_equal (json_string_value (json_object_get (root, "name")), "Acme");
    json_decref (root);
    assert_int_equal (pd_json_depth (text, strlen (text), PD_JSON_MAX_DEPTH), 4);
}

static void
test_depth_counts_brackets_outside_strings_only (void **state)
{
    const char *cases[][2] = {
        {"1", "0"},
        {"[]", "1"},
        {"{\"a\":[[]]}", "3"},
        {"[\"[[[[{{{{\"]", "1"},  //  brackets inside a string
        {"[\"\\\"[[[\"]", "1"},   //  an escaped quote does not end it
        {"[\"\\\\\",[[]]]", "3"}, //  an escaped backslash does
        {"[]]]]]][[", "2"},       //  stray closers never go below 0
        {"[[[[", "4"},            //  unterminated: measured as far as it goes
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        size_t depth = pd_json_depth (cases[i][0], strlen (cases[i][0]), PD_JSON_MAX_DEPTH);
        assert_int_equal (depth, (size_t)atoi (cases[i][1]));
    }
}

static void
test_a_deep_text_is_refused_before_parsing (void **state)
{
    size_t levels = 100000;
    char *text = malloc (2 * levels);
    memset (text, '[', levels);
    memset (text + levels, ']', levels);
    json_error_t error;
    assert_null (pd_json_load (text, 2 * levels, 8, 0, &error));
    assert_string_equal (error.text, "nesting is deeper than 8");
    //  The scan stops at the first level too many
    assert_int_equal (pd_json_depth (text, 2 * levels, 8), 9);
    //  At exactly the limit it parses
    json_t *root = pd_json_load ("[[[[[[[[]]]]]]]]", 16, 8, 0, &error);
    assert_non_null (root);
    json_decref (root);
    free (text);
}

//  The regression: a request body of 1,500 '[' parsed by the gateway's
//  mapping on a thread with the gateway workers' stack
typedef struct {
    const char *text;
    size_t size;
    int rc;
    pd_schema_error_t err;
} s_parse_t;

static void *
s_parse_on_small_stack (void *arg)
{
    s_parse_t *parse = arg;
    const pd_message_t *message = pd_message_find ("claim.http");
    void *record = calloc (1, message->request->size);
    parse->rc =
        pd_schema_from_json (message->request, parse->text, parse->size, record, &parse->err);
    pd_schema_clear (message->request, record);
    free (record);
    return NULL;
}

static void
test_a_deep_body_is_a_clean_error_on_a_worker_stack (void **state)
{
    size_t levels = 1500;
    char *text = malloc (2 * levels);
    memset (text, '[', levels);
    memset (text + levels, ']', levels);
    s_parse_t parse = {text, 2 * levels, 0, {0}};
    pthread_attr_t attr;
    pthread_attr_init (&attr);
    pthread_attr_setstacksize (&attr, PD_GATEWAY_WORKER_STACK);
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, &attr, s_parse_on_small_stack, &parse), 0);
    pthread_join (thread, NULL);
    pthread_attr_destroy (&attr);
    assert_int_equal (parse.rc, PD_E_MALFORMED);
    assert_string_equal (parse.err.detail, "nesting is deeper than 8");
    free (text);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_a_shallow_text_parses_as_jansson_would),
        cmocka_unit_test (test_depth_counts_brackets_outside_strings_only),
        cmocka_unit_test (test_a_deep_text_is_refused_before_parsing),
        cmocka_unit_test (test_a_deep_body_is_a_clean_error_on_a_worker_stack),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
