/*  test_pd_token - API keys: format, checksum, hashing, verification */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pd_token.h"

static void
test_generate_parse_verify (void **state)
{
    //  A partner key is made, shown once, and only its hash is kept
    pd_token_t key;
    assert_int_equal (pd_token_generate (PD_TOKEN_PARTNER_KEY, &key), PD_OK);
    assert_int_equal (strlen (key.text), PD_TOKEN_LEN);
    assert_memory_equal (key.text, "pdp_", 4);
    assert_int_equal (strlen (key.id), PD_TOKEN_PUBLIC_LEN);
    assert_memory_equal (key.text, key.id, PD_TOKEN_PUBLIC_LEN);

    //  Presented later, it parses to the same id and matches the hash
    char id[PD_TOKEN_PUBLIC_LEN + 1];
    assert_int_equal (pd_token_parse (key.text, PD_TOKEN_PARTNER_KEY, id), PD_OK);
    assert_string_equal (id, key.id);
    assert_true (pd_token_verify (key.text, key.hash, sizeof (key.hash)));
}

static void
test_tokens_are_unique (void **state)
{
    pd_token_t a, b;
    assert_int_equal (pd_token_generate (PD_TOKEN_ADMIN_KEY, &a), PD_OK);
    assert_int_equal (pd_token_generate (PD_TOKEN_ADMIN_KEY, &b), PD_OK);
    assert_string_not_equal (a.text, b.text);
    assert_string_not_equal (a.id, b.id);
    assert_memory_not_equal (a.hash, b.hash, PD_TOKEN_HASH_SIZE);
    assert_false (pd_token_verify (a.text, b.hash, sizeof (b.hash)));
}

static void
test_checksum_catches_typos (void **state)
{
    pd_token_t key;
    assert_int_equal (pd_token_generate (PD_TOKEN_PARTNER_KEY, &key), PD_OK);
    char copy[PD_TOKEN_LEN + 1];
    //  Change each position of id and secret once: every change is refused
    for (size_t i = PD_TOKEN_TYPE_LEN + 1; i < PD_TOKEN_LEN - PD_TOKEN_CHECK_LEN; i++) {
        memcpy (copy, key.text, sizeof (copy));
        copy[i] = copy[i] == 'a' ? 'b' : 'a';
        assert_int_equal (pd_token_parse (copy, NULL, NULL), PD_E_UNAUTHORIZED);
    }
}

static void
test_bad_shapes_refused (void **state)
{
    pd_token_t key;
    assert_int_equal (pd_token_generate (PD_TOKEN_PARTNER_KEY, &key), PD_OK);
    assert_int_equal (pd_token_parse (key.text, PD_TOKEN_ADMIN_KEY, NULL), PD_E_UNAUTHORIZED);
    assert_int_equal (pd_token_parse ("", NULL, NULL), PD_E_UNAUTHORIZED);
    assert_int_equal (pd_token_parse (NULL, NULL, NULL), PD_E_UNAUTHORIZED);
    char shorter[PD_TOKEN_LEN];
    memcpy (shorter, key.text, PD_TOKEN_LEN - 1);
    shorter[PD_TOKEN_LEN - 1] = 0;
    assert_int_equal (pd_token_parse (shorter, NULL, NULL), PD_E_UNAUTHORIZED);
    char symbol[PD_TOKEN_LEN + 1];
    memcpy (symbol, key.text, sizeof (symbol));
    symbol[10] = '-';
    assert_int_equal (pd_token_parse (symbol, NULL, NULL), PD_E_UNAUTHORIZED);
    assert_int_equal (pd_token_generate ("PDP", &key), PD_E_BAD_REQUEST);
    assert_int_equal (pd_token_generate ("pd", &key), PD_E_BAD_REQUEST);
    assert_false (pd_token_verify (key.text, key.hash, 31));
}

static void
test_random_ids (void **state)
{
    char a[32], b[32];
    assert_int_equal (pd_token_random_id ("prt", 16, a, sizeof (a)), PD_OK);
    assert_int_equal (pd_token_random_id ("prt", 16, b, sizeof (b)), PD_OK);
    assert_int_equal (strlen (a), 20);
    assert_memory_equal (a, "prt_", 4);
    assert_string_not_equal (a, b);
    assert_int_equal (pd_token_random_id ("prt", 40, a, sizeof (a)), PD_E_BAD_REQUEST);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_generate_parse_verify),
        cmocka_unit_test (test_tokens_are_unique),
        cmocka_unit_test (test_checksum_catches_typos),
        cmocka_unit_test (test_bad_shapes_refused),
        cmocka_unit_test (test_random_ids),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
