/*  test_pd_schema - the schema engine: msgpack and JSON codecs, validation */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <msgpack.h>

#include "pd_messages.h"

//  Records of the test's own, declared as production records are: a BIN
//  field that is not secret (so it shows in JSON), and a list of them
#define PD_FIELDS_blob(R, STR, INT, BOOL, BIN, OBJ, LIST)                                          \
    INT (R, seq, PD_F_REQUIRED, 1, INT64_MAX)                                                      \
    BIN (R, event, PD_F_REQUIRED, 1, 65536)
#define PD_FIELDS_blob_page(R, STR, INT, BOOL, BIN, OBJ, LIST) LIST (R, items, 0, blob, 1000)
PD_GEN_RECORD (blob)
PD_GEN_RECORD (blob_page)
PD_GEN_TABLE (blob)
PD_GEN_TABLE (blob_page)

#define S_PARTNER_JSON                                                                             \
    "{\"id\":\"p-1\",\"name\":\"Acme Ltd\",\"contact_email\":\"ops@acme.example\","                \
    "\"branding\":{\"display_name\":\"Acme\",\"logo_url\":\"https://acme.example/logo.png\","      \
    "\"primary_color\":\"#1a2b3c\"},\"revenue_share_percent\":40,\"status\":\"active\","           \
    "\"created_at\":1700000000000,\"version\":3}"

//  A record with the types partnerd's own records do not use yet (BOOL,
//  negative INT range), declared by hand the way pd_messages.c expands
typedef struct {
    uint64_t present;
    bool enabled;
    int64_t offset;
} s_flags_t;

static const pd_field_t s_flags_fields[] = {
    {"enabled", PD_T_BOOL, 0, offsetof (s_flags_t, enabled), 0, 1, PD_FMT_TEXT, NULL, NULL},
    {"offset", PD_T_INT, 0, offsetof (s_flags_t, offset), -10, 10, PD_FMT_TEXT, NULL, NULL},
};
static const pd_schema_t s_flags_schema = {"flags", sizeof (s_flags_t), 2, s_flags_fields};

//  ---------------------------------------------------------------------------
//  Helpers

//  A complete partner with branding, as the partners actor builds one
static void
s_partner_fill (pd_partner_t *partner, const char *id, const char *name)
{
    assert_int_equal (pd_schema_set_str (&partner->id, id), PD_OK);
    assert_int_equal (pd_schema_set_str (&partner->name, name), PD_OK);
    assert_int_equal (pd_schema_set_str (&partner->contact_email, "ops@acme.example"), PD_OK);
    assert_int_equal (pd_schema_set_str (&partner->status, "active"), PD_OK);
    partner->branding = calloc (1, sizeof (pd_branding_t));
    assert_non_null (partner->branding);
    assert_int_equal (pd_schema_set_str (&partner->branding->display_name, "Acme"), PD_OK);
    assert_int_equal (
        pd_schema_set_str (&partner->branding->logo_url, "https://acme.example/logo.png"), PD_OK);
    assert_int_equal (pd_schema_set_str (&partner->branding->primary_color, "#1a2b3c"), PD_OK);
    partner->revenue_share_percent = PD_PARTNER_DEFAULT_REVENUE_SHARE;
    PD_MARK (partner, partner, revenue_share_percent);
    partner->version = 3;
    PD_MARK (partner, partner, version);
    partner->created_at = INT64_C (1700000000000);
    PD_MARK (partner, partner, created_at);
}

static uint8_t *
s_encode (const pd_schema_t *schema, const void *record, size_t *size)
{
    uint8_t *data = NULL;
    assert_int_equal (pd_schema_encode (schema, record, &data, size), PD_OK);
    assert_non_null (data);
    return data;
}

//  Decode and expect failure with status and field; checks the record is
//  left zeroed
static void
s_expect_decode_error (const pd_schema_t *schema, const void *data, size_t size, int status,
                       const char *field)
{
    uint8_t record[512] = {0};
    uint8_t zero[sizeof (record)] = {0};
    assert_true (schema->size <= sizeof (record));
    pd_schema_error_t err;
    assert_int_equal (pd_schema_decode (schema, data, size, record, &err), status);
    assert_int_equal (err.status, status);
    if (field)
        assert_string_equal (err.field, field);
    assert_memory_equal (record, zero, sizeof (record));
}

static void
s_expect_json_error (const pd_schema_t *schema, const char *json, int status, const char *field)
{
    uint8_t record[512] = {0};
    uint8_t zero[sizeof (record)] = {0};
    assert_true (schema->size <= sizeof (record));
    pd_schema_error_t err;
    assert_int_equal (pd_schema_from_json (schema, json, strlen (json), record, &err), status);
    assert_int_equal (err.status, status);
    if (field)
        assert_string_equal (err.field, field);
    assert_memory_equal (record, zero, sizeof (record));
}

//  A msgpack map built with msgpack-c, for inputs our encoder never makes
typedef struct {
    msgpack_sbuffer buffer;
    msgpack_packer packer;
} s_builder_t;

static msgpack_packer *
s_builder_start (s_builder_t *self, size_t entries)
{
    msgpack_sbuffer_init (&self->buffer);
    msgpack_packer_init (&self->packer, &self->buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&self->packer, entries);
    return &self->packer;
}

static void
s_pack_key (msgpack_packer *packer, const char *key)
{
    msgpack_pack_str_with_body (packer, key, strlen (key));
}

static void
s_pack_text (msgpack_packer *packer, const char *key, const char *value)
{
    s_pack_key (packer, key);
    msgpack_pack_str_with_body (packer, value, strlen (value));
}

//  ---------------------------------------------------------------------------
//  Happy paths

static void
test_partner_msgpack_round_trip (void **state)
{
    //  Build a record in code, as an actor does
    pd_partner_t partner = {0};
    s_partner_fill (&partner, "p-1", "Acme Ltd");
    assert_int_equal (pd_schema_validate (&pd_partner_schema, &partner, NULL), PD_OK);

    //  Encode it for the wire or the store
    size_t size = 0;
    uint8_t *data = s_encode (&pd_partner_schema, &partner, &size);

    //  Decode it on the other side: validated on the way in
    pd_partner_t decoded = {0};
    pd_schema_error_t err;
    assert_int_equal (pd_schema_decode (&pd_partner_schema, data, size, &decoded, &err), PD_OK);
    assert_int_equal (err.status, PD_OK);
    assert_string_equal (decoded.id, "p-1");
    assert_string_equal (decoded.name, "Acme Ltd");
    assert_string_equal (decoded.contact_email, "ops@acme.example");
    assert_string_equal (decoded.status, "active");
    assert_non_null (decoded.branding);
    assert_string_equal (decoded.branding->display_name, "Acme");
    assert_string_equal (decoded.branding->primary_color, "#1a2b3c");
    assert_string_equal (decoded.branding->logo_url, "https://acme.example/logo.png");
    assert_null (decoded.branding->support_email);
    assert_int_equal (decoded.revenue_share_percent, 40);
    assert_int_equal (decoded.version, 3);
    assert_int_equal (decoded.created_at, INT64_C (1700000000000));
    assert_true (PD_HAS (&decoded, partner, revenue_share_percent));
    assert_true (PD_HAS (&decoded, partner, branding));
    assert_false (PD_HAS (&decoded, partner, updated_at));
    assert_null (decoded.api_key);

    //  Same record, same bytes
    size_t again_size = 0;
    uint8_t *again = s_encode (&pd_partner_schema, &decoded, &again_size);
    assert_int_equal (again_size, size);
    assert_memory_equal (again, data, size);

    free (again);
    free (data);
    pd_schema_clear (&pd_partner_schema, &decoded);
    pd_schema_clear (&pd_partner_schema, &partner);
}

static void
test_partner_json_round_trip (void **state)
{
    pd_partner_t partner = {0};
    s_partner_fill (&partner, "p-1", "Acme Ltd");
    char *json = pd_schema_to_json (&pd_partner_schema, &partner);
    assert_non_null (json);
    assert_string_equal (json, S_PARTNER_JSON);

    //  Back from JSON: server-owned fields (id, version, created_at) are
    //  not taken from a client; the rest comes back
    pd_partner_t parsed = {0};
    pd_schema_error_t err;
    assert_int_equal (pd_schema_from_json (&pd_partner_schema, json, strlen (json), &parsed, &err),
                      PD_OK);
    assert_null (parsed.id);
    assert_false (PD_HAS (&parsed, partner, version));
    assert_false (PD_HAS (&parsed, partner, created_at));
    assert_string_equal (parsed.name, "Acme Ltd");
    assert_string_equal (parsed.contact_email, "ops@acme.example");
    assert_string_equal (parsed.branding->primary_color, "#1a2b3c");
    assert_string_equal (parsed.branding->logo_url, "https://acme.example/logo.png");
    assert_int_equal (parsed.revenue_share_percent, 40);
    assert_true (PD_HAS (&parsed, partner, revenue_share_percent));

    //  Once the server sets the id, the record is complete and renders the same
    assert_int_equal (pd_schema_validate (&pd_partner_schema, &parsed, &err), PD_E_MISSING_FIELD);
    assert_string_equal (err.field, "id");
    assert_int_equal (pd_schema_set_text (&pd_partner_schema, &parsed, "id", "p-1", &err), PD_OK);
    parsed.version = 3;
    parsed.created_at = INT64_C (1700000000000);
    PD_MARK (&parsed, partner, version);
    PD_MARK (&parsed, partner, created_at);
    assert_int_equal (pd_schema_validate (&pd_partner_schema, &parsed, &err), PD_OK);
    char *again = pd_schema_to_json (&pd_partner_schema, &parsed);
    assert_string_equal (again, S_PARTNER_JSON);

    free (again);
    free (json);
    pd_schema_clear (&pd_partner_schema, &parsed);
    pd_schema_clear (&pd_partner_schema, &partner);
}

static void
test_partner_page_round_trip (void **state)
{
    enum { COUNT = 3 };
    static const char *const names[COUNT] = {"Acme", "Globex", "Initech"};
    pd_partner_page_t page = {0};
    page.items.items = calloc (COUNT, sizeof (pd_partner_t));
    assert_non_null (page.items.items);
    page.items.size = COUNT;
    pd_partner_t *items = page.items.items;
    for (size_t i = 0; i < COUNT; i++) {
        char id[16];
        snprintf (id, sizeof (id), "p-%zu", i);
        s_partner_fill (&items[i], id, names[i]);
    }
    assert_int_equal (pd_schema_set_str (&page.next_cursor, "p-2"), PD_OK);

    //  msgpack
    size_t size = 0;
    uint8_t *data = s_encode (&pd_partner_page_schema, &page, &size);
    pd_partner_page_t decoded = {0};
    pd_schema_error_t err;
    assert_int_equal (pd_schema_decode (&pd_partner_page_schema, data, size, &decoded, &err),
                      PD_OK);
    assert_int_equal (decoded.items.size, COUNT);
    pd_partner_t *decoded_items = decoded.items.items;
    for (size_t i = 0; i < COUNT; i++) {
        assert_string_equal (decoded_items[i].name, names[i]);
        assert_string_equal (decoded_items[i].branding->display_name, "Acme");
        assert_int_equal (decoded_items[i].version, 3);
    }
    assert_string_equal (decoded_items[2].id, "p-2");
    assert_string_equal (decoded.next_cursor, "p-2");

    //  JSON: a list of objects, server fields ignored in the items too
    char *json = pd_schema_to_json (&pd_partner_page_schema, &page);
    assert_non_null (json);
    assert_memory_equal (json, "{\"items\":[{\"id\":\"p-0\",\"name\":\"Acme\"", 33);
    pd_partner_page_t parsed = {0};
    assert_int_equal (
        pd_schema_from_json (&pd_partner_page_schema, json, strlen (json), &parsed, &err), PD_OK);
    assert_int_equal (parsed.items.size, COUNT);
    pd_partner_t *parsed_items = parsed.items.items;
    assert_string_equal (parsed_items[1].name, "Globex");
    assert_string_equal (parsed_items[1].branding->primary_color, "#1a2b3c");
    assert_null (parsed_items[1].id);
    assert_false (PD_HAS (&parsed_items[1], partner, version));

    //  An empty page still says "items": []
    pd_partner_page_t empty = {0};
    PD_MARK (&empty, partner_page, items);
    char *empty_json = pd_schema_to_json (&pd_partner_page_schema, &empty);
    assert_string_equal (empty_json, "{\"items\":[]}");

    free (empty_json);
    free (json);
    free (data);
    pd_schema_clear (&pd_partner_page_schema, &parsed);
    pd_schema_clear (&pd_partner_page_schema, &decoded);
    pd_schema_clear (&pd_partner_page_schema, &page);
}

static void
test_bin_round_trip (void **state)
{
    static const uint8_t event[] = {0x81, 0xa1, 'a', 0x00, 0xff};
    pd_blob_t item = {0};
    item.seq = 7;
    PD_MARK (&item, blob, seq);
    item.event.data = malloc (sizeof (event));
    assert_non_null (item.event.data);
    memcpy (item.event.data, event, sizeof (event));
    item.event.size = sizeof (event);

    size_t size = 0;
    uint8_t *data = s_encode (&pd_blob_schema, &item, &size);
    pd_blob_t decoded = {0};
    assert_int_equal (pd_schema_decode (&pd_blob_schema, data, size, &decoded, NULL), PD_OK);
    assert_int_equal (decoded.seq, 7);
    assert_int_equal (decoded.event.size, sizeof (event));
    assert_memory_equal (decoded.event.data, event, sizeof (event));

    //  JSON carries bytes as base64
    char *json = pd_schema_to_json (&pd_blob_schema, &item);
    assert_string_equal (json, "{\"seq\":7,\"event\":\"gaFhAP8=\"}");
    pd_blob_t parsed = {0};
    assert_int_equal (pd_schema_from_json (&pd_blob_schema, json, strlen (json), &parsed, NULL),
                      PD_OK);
    assert_int_equal (parsed.event.size, sizeof (event));
    assert_memory_equal (parsed.event.data, event, sizeof (event));

    free (json);
    free (data);
    pd_schema_clear (&pd_blob_schema, &parsed);
    pd_schema_clear (&pd_blob_schema, &decoded);
    pd_schema_clear (&pd_blob_schema, &item);
}

static void
test_base64_lengths_and_strictness (void **state)
{
    //  Every padding case round-trips
    static const uint8_t bytes[] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02};
    for (size_t length = 1; length <= sizeof (bytes); length++) {
        pd_blob_t item = {0};
        item.seq = 1;
        PD_MARK (&item, blob, seq);
        item.event.data = malloc (length);
        assert_non_null (item.event.data);
        memcpy (item.event.data, bytes, length);
        item.event.size = length;
        char *json = pd_schema_to_json (&pd_blob_schema, &item);
        assert_non_null (json);
        pd_blob_t parsed = {0};
        assert_int_equal (pd_schema_from_json (&pd_blob_schema, json, strlen (json), &parsed, NULL),
                          PD_OK);
        assert_int_equal (parsed.event.size, length);
        assert_memory_equal (parsed.event.data, bytes, length);
        free (json);
        pd_schema_clear (&pd_blob_schema, &parsed);
        pd_schema_clear (&pd_blob_schema, &item);
    }
    static const char *const bad[] = {
        "{\"seq\":1,\"event\":\"gaFhAP8\"}",  //  not a multiple of 4
        "{\"seq\":1,\"event\":\"gaF=AP8=\"}", //  padding inside
        "{\"seq\":1,\"event\":\"gaFhAP9=\"}", //  unused bits set
        "{\"seq\":1,\"event\":\"ga h\"}",     //  space
        "{\"seq\":1,\"event\":\"====\"}",     //  padding only
        "{\"seq\":1,\"event\":5}",            //  not a string
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
        s_expect_json_error (&pd_blob_schema, bad[i], PD_E_INVALID_FIELD, "event");
}

static void
test_to_json_omits_secret (void **state)
{
    pd_apikey_t key = {0};
    assert_int_equal (pd_schema_set_str (&key.id, "k1"), PD_OK);
    assert_int_equal (pd_schema_set_str (&key.kind, "partner"), PD_OK);
    assert_int_equal (pd_schema_set_str (&key.partner_id, "p-1"), PD_OK);
    key.hash.size = 32;
    key.hash.data = calloc (1, key.hash.size);
    assert_non_null (key.hash.data);
    memset (key.hash.data, 0xab, key.hash.size);

    char *json = pd_schema_to_json (&pd_apikey_schema, &key);
    assert_string_equal (json, "{\"id\":\"k1\",\"kind\":\"partner\",\"partner_id\":\"p-1\"}");

    //  msgpack (the store) keeps it
    size_t size = 0;
    uint8_t *data = s_encode (&pd_apikey_schema, &key, &size);
    pd_apikey_t decoded = {0};
    assert_int_equal (pd_schema_decode (&pd_apikey_schema, data, size, &decoded, NULL), PD_OK);
    assert_int_equal (decoded.hash.size, 32);
    assert_memory_equal (decoded.hash.data, key.hash.data, 32);

    free (data);
    free (json);
    pd_schema_clear (&pd_apikey_schema, &decoded);
    pd_schema_clear (&pd_apikey_schema, &key);
}

static void
test_bool_and_negative_int (void **state)
{
    s_flags_t flags = {0};
    pd_schema_error_t err;
    const char *json = "{\"enabled\":true,\"offset\":-7}";
    assert_int_equal (pd_schema_from_json (&s_flags_schema, json, strlen (json), &flags, &err),
                      PD_OK);
    assert_true (flags.enabled);
    assert_int_equal (flags.offset, -7);

    size_t size = 0;
    uint8_t *data = s_encode (&s_flags_schema, &flags, &size);
    s_flags_t decoded = {0};
    assert_int_equal (pd_schema_decode (&s_flags_schema, data, size, &decoded, &err), PD_OK);
    assert_true (decoded.enabled);
    assert_int_equal (decoded.offset, -7);
    assert_int_equal (decoded.present, 3);
    free (data);

    char *out = pd_schema_to_json (&s_flags_schema, &decoded);
    assert_string_equal (out, json);
    free (out);

    //  int64 and int8 forms of a small number, and a negative out of range
    static const uint8_t int64_form[] = {0x81, 0xa6, 'o', 'f', 'f', 's', 'e', 't', 0xd3,
                                         0,    0,    0,   0,   0,   0,   0,   5};
    s_flags_t wide = {0};
    assert_int_equal (
        pd_schema_decode (&s_flags_schema, int64_form, sizeof (int64_form), &wide, &err), PD_OK);
    assert_int_equal (wide.offset, 5);
    static const uint8_t too_low[] = {0x81, 0xa6, 'o', 'f', 'f', 's', 'e', 't', 0xd0, 0xf0};
    s_expect_decode_error (&s_flags_schema, too_low, sizeof (too_low), PD_E_INVALID_FIELD,
                           "offset");

    s_expect_json_error (&s_flags_schema, "{\"enabled\":1}", PD_E_INVALID_FIELD, "enabled");
    static const uint8_t bool_as_int[] = {0x81, 0xa7, 'e', 'n', 'a', 'b', 'l', 'e', 'd', 0x01};
    s_expect_decode_error (&s_flags_schema, bool_as_int, sizeof (bool_as_int), PD_E_INVALID_FIELD,
                           "enabled");
}

//  ---------------------------------------------------------------------------
//  JSON input rules

static void
test_from_json_rejects_unknown_field (void **state)
{
    pd_partner_create_t record = {0};
    pd_schema_error_t err;
    const char *json = "{\"name\":\"Acme\",\"bogus\":1}";
    assert_int_equal (
        pd_schema_from_json (&pd_partner_create_schema, json, strlen (json), &record, &err),
        PD_E_UNKNOWN_FIELD);
    assert_int_equal (err.status, PD_E_UNKNOWN_FIELD);
    assert_string_equal (err.field, "bogus");
    assert_null (record.name);

    s_expect_json_error (&pd_partner_create_schema, "{\"branding\":{\"colour\":\"#fff\"}}",
                         PD_E_UNKNOWN_FIELD, "branding.colour");
}

static void
test_from_json_ignores_server_fields (void **state)
{
    pd_partner_t record = {0};
    const char *json = "{\"id\":\"evil\",\"created_at\":5,\"api_key\":\"x\",\"version\":\"no\","
                       "\"name\":\"Acme\",\"contact_email\":\"a@b.co\"}";
    assert_int_equal (pd_schema_from_json (&pd_partner_schema, json, strlen (json), &record, NULL),
                      PD_OK);
    assert_null (record.id);
    assert_null (record.api_key);
    assert_false (PD_HAS (&record, partner, created_at));
    assert_false (PD_HAS (&record, partner, version));
    assert_int_equal (record.created_at, 0);
    assert_string_equal (record.name, "Acme");
    pd_schema_clear (&pd_partner_schema, &record);
}

static void
test_from_json_rejects_wrong_types (void **state)
{
    s_expect_json_error (&pd_partner_create_schema, "{\"name\":5}", PD_E_INVALID_FIELD, "name");
    s_expect_json_error (&pd_partner_create_schema, "{\"name\":[\"a\"]}", PD_E_INVALID_FIELD,
                         "name");
    s_expect_json_error (&pd_partner_create_schema, "{\"branding\":\"x\"}", PD_E_INVALID_FIELD,
                         "branding");
    s_expect_json_error (&pd_partner_create_schema, "{\"revenue_share_percent\":\"40\"}",
                         PD_E_INVALID_FIELD, "revenue_share_percent");
    s_expect_json_error (&pd_partner_create_schema, "{\"revenue_share_percent\":true}",
                         PD_E_INVALID_FIELD, "revenue_share_percent");
    s_expect_json_error (&pd_partner_create_schema, "{\"branding\":{\"primary_color\":1}}",
                         PD_E_INVALID_FIELD, "branding.primary_color");
    s_expect_json_error (&pd_partner_page_schema, "{\"items\":{}}", PD_E_INVALID_FIELD, "items");
    s_expect_json_error (&pd_partner_page_schema, "{\"items\":[{},3]}", PD_E_INVALID_FIELD,
                         "items.1");
    s_expect_json_error (&pd_partner_page_schema, "{\"items\":[{},{\"name\":7}]}",
                         PD_E_INVALID_FIELD, "items.1.name");
}

static void
test_from_json_rejects_real_for_int (void **state)
{
    s_expect_json_error (&pd_partner_create_schema, "{\"revenue_share_percent\":1.5}",
                         PD_E_INVALID_FIELD, "revenue_share_percent");
    s_expect_json_error (&pd_partner_create_schema, "{\"revenue_share_percent\":40.0}",
                         PD_E_INVALID_FIELD, "revenue_share_percent");
    s_expect_json_error (&pd_partner_create_schema, "{\"revenue_share_percent\":4e1}",
                         PD_E_INVALID_FIELD, "revenue_share_percent");
    s_expect_json_error (&pd_partner_create_schema, "{\"revenue_share_percent\":101}",
                         PD_E_INVALID_FIELD, "revenue_share_percent");
    s_expect_json_error (&pd_partner_create_schema, "{\"revenue_share_percent\":-1}",
                         PD_E_INVALID_FIELD, "revenue_share_percent");
}

static void
test_from_json_malformed (void **state)
{
    pd_partner_create_t record = {0};
    pd_schema_error_t err;
    const char *json = "{\"name\":\n";
    assert_int_equal (
        pd_schema_from_json (&pd_partner_create_schema, json, strlen (json), &record, &err),
        PD_E_MALFORMED);
    assert_non_null (strstr (err.detail, "line 2"));

    s_expect_json_error (&pd_partner_create_schema, "", PD_E_MALFORMED, "");
    s_expect_json_error (&pd_partner_create_schema, "[1]", PD_E_MALFORMED, "");
    s_expect_json_error (&pd_partner_create_schema, "\"x\"", PD_E_MALFORMED, "");
    s_expect_json_error (&pd_partner_create_schema, "{} {}", PD_E_MALFORMED, "");
    s_expect_json_error (&pd_partner_create_schema, "{\"name\":\"a\",\"name\":\"b\"}",
                         PD_E_MALFORMED, "");
    s_expect_json_error (&pd_partner_create_schema, "{\"name\":\"a\\u0000b\"}", PD_E_MALFORMED, "");
    s_expect_json_error (&pd_partner_create_schema, "{\"name\":\"\xc0\xaf\"}", PD_E_MALFORMED, "");

    //  A body over the cap is refused before parsing
    char *big = malloc (PD_SCHEMA_MAX_INPUT + 1);
    assert_non_null (big);
    memset (big, ' ', PD_SCHEMA_MAX_INPUT + 1);
    assert_int_equal (pd_schema_from_json (&pd_partner_create_schema, big, PD_SCHEMA_MAX_INPUT + 1,
                                           &record, &err),
                      PD_E_TOO_LARGE);
    free (big);
}

static void
test_from_json_checks_lengths_and_formats (void **state)
{
    char json[512];
    char name[202];
    memset (name, 'a', sizeof (name) - 1);
    name[sizeof (name) - 1] = '\0';
    snprintf (json, sizeof (json), "{\"name\":\"%s\"}", name);
    pd_partner_create_t record = {0};
    pd_schema_error_t err;
    assert_int_equal (
        pd_schema_from_json (&pd_partner_create_schema, json, strlen (json), &record, &err),
        PD_E_INVALID_FIELD);
    assert_string_equal (err.field, "name");
    assert_string_equal (err.detail, "must be at most 200 bytes");
    //  200 bytes is fine
    name[200] = '\0';
    snprintf (json, sizeof (json), "{\"name\":\"%s\"}", name);
    assert_int_equal (
        pd_schema_from_json (&pd_partner_create_schema, json, strlen (json), &record, &err), PD_OK);
    assert_int_equal (strlen (record.name), 200);
    pd_schema_clear (&pd_partner_create_schema, &record);
    s_expect_json_error (&pd_partner_create_schema, "{\"name\":\"\"}", PD_E_INVALID_FIELD, "name");

    static const struct {
        const char *json;
        const char *field;
    } bad[] = {
        {"{\"contact_email\":\"no-at-sign.example\"}", "contact_email"},
        {"{\"contact_email\":\"a@b\"}", "contact_email"},
        {"{\"contact_email\":\"a b@c.de\"}", "contact_email"},
        {"{\"contact_email\":\"a@@c.de\"}", "contact_email"},
        {"{\"contact_email\":\"@c.de\"}", "contact_email"},
        {"{\"contact_email\":\"a@.de\"}", "contact_email"},
        {"{\"contact_email\":\"a@c.de.\"}", "contact_email"},
        {"{\"branding\":{\"primary_color\":\"#12\"}}", "branding.primary_color"},
        {"{\"branding\":{\"primary_color\":\"123456\"}}", "branding.primary_color"},
        {"{\"branding\":{\"primary_color\":\"#ggg\"}}", "branding.primary_color"},
        {"{\"branding\":{\"primary_color\":\"#1234\"}}", "branding.primary_color"},
        {"{\"branding\":{\"primary_color\":\"\"}}", "branding.primary_color"},
        {"{\"branding\":{\"logo_url\":\"ftp://x.example\"}}", "branding.logo_url"},
        {"{\"branding\":{\"logo_url\":\"https://\"}}", "branding.logo_url"},
        {"{\"branding\":{\"logo_url\":\"https://a b\"}}", "branding.logo_url"},
        {"{\"status\":\"Active\"}", "status"},
        {"{\"status\":\"activ\"}", "status"},
        {"{\"status\":\"active|suspended\"}", "status"},
        {"{\"status\":\"\"}", "status"},
        {"{\"name\":\"line\\nbreak\"}", "name"},
        {"{\"name\":\"c1\\u0085control\"}", "name"},
        {"{\"name\":\"del\\u007f\"}", "name"},
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
        s_expect_json_error (&pd_partner_create_schema, bad[i].json, PD_E_INVALID_FIELD,
                             bad[i].field);

    const char *good = "{\"contact_email\":\"a.b+c@d.example\",\"status\":\"suspended\","
                       "\"name\":\"Z\\u00fcrich\\t\\u20ac\","
                       "\"branding\":{\"primary_color\":\"#A1b\",\"logo_url\":\"http://x\"}}";
    assert_int_equal (
        pd_schema_from_json (&pd_partner_create_schema, good, strlen (good), &record, &err), PD_OK);
    assert_string_equal (record.name, "Z\xc3\xbcrich\t\xe2\x82\xac");
    assert_string_equal (record.status, "suspended");
    pd_schema_clear (&pd_partner_create_schema, &record);
}

static void
test_from_json_leaves_required_to_validate (void **state)
{
    pd_partner_create_t record = {0};
    pd_schema_error_t err;
    const char *json = "{\"contact_name\":\"Ann\",\"name\":null}";
    assert_int_equal (
        pd_schema_from_json (&pd_partner_create_schema, json, strlen (json), &record, &err), PD_OK);
    assert_null (record.name);
    assert_false (PD_HAS (&record, partner_create, name));
    assert_int_equal (pd_schema_validate (&pd_partner_create_schema, &record, &err),
                      PD_E_MISSING_FIELD);
    assert_string_equal (err.field, "name");
    pd_schema_clear (&pd_partner_create_schema, &record);
}

//  ---------------------------------------------------------------------------
//  msgpack input rules

static void
test_decode_rejects_truncated_input (void **state)
{
    pd_partner_t partner = {0};
    s_partner_fill (&partner, "p-1", "Acme Ltd");
    size_t size = 0;
    uint8_t *data = s_encode (&pd_partner_schema, &partner, &size);
    for (size_t cut = 0; cut < size; cut++)
        s_expect_decode_error (&pd_partner_schema, data, cut, PD_E_MALFORMED, "");
    free (data);
    pd_schema_clear (&pd_partner_schema, &partner);
}

static void
test_decode_rejects_lengths_beyond_input (void **state)
{
    //  A map declaring 2^32 - 1 entries in 10 bytes: refused by the scan,
    //  before msgpack-c would allocate 2^32 entries
    static const uint8_t huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'a', 0x01, 0xa1, 'b'};
    pd_partner_list_t record = {0};
    pd_schema_error_t err;
    assert_int_equal (
        pd_schema_decode (&pd_partner_list_schema, huge_map, sizeof (huge_map), &record, &err),
        PD_E_MALFORMED);
    assert_non_null (strstr (err.detail, "more entries than bytes left"));

    //  The same inside: an array 32 and a map 16
    static const uint8_t huge_array[] = {0x81, 0xa1, 'x', 0xdd, 0xff, 0xff, 0xff, 0xff, 0, 0};
    s_expect_decode_error (&pd_partner_list_schema, huge_array, sizeof (huge_array), PD_E_MALFORMED,
                           "");
    static const uint8_t map16[] = {0x81, 0xa1, 'x', 0xde, 0x00, 0x03, 0xa1, 'a', 1, 0xa1, 'b'};
    s_expect_decode_error (&pd_partner_list_schema, map16, sizeof (map16), PD_E_MALFORMED, "");

    //  Strings, bins and exts longer than the bytes left
    static const uint8_t str32[] = {0x81, 0xa6, 'c',  'u',  'r',  's',  'o',
                                    'r',  0xdb, 0x7f, 0xff, 0xff, 0xff, 'a'};
    s_expect_decode_error (&pd_partner_list_schema, str32, sizeof (str32), PD_E_MALFORMED, "");
    static const uint8_t fixstr[] = {0x81, 0xa1, 'x', 0xa5, 'a', 'b'};
    s_expect_decode_error (&pd_partner_list_schema, fixstr, sizeof (fixstr), PD_E_MALFORMED, "");
    static const uint8_t bin16[] = {0x81, 0xa1, 'x', 0xc5, 0x01, 0x00, 'a'};
    s_expect_decode_error (&pd_partner_list_schema, bin16, sizeof (bin16), PD_E_MALFORMED, "");
    static const uint8_t ext8[] = {0x81, 0xa1, 'x', 0xc7, 0x04, 0x01, 'a'};
    s_expect_decode_error (&pd_partner_list_schema, ext8, sizeof (ext8), PD_E_MALFORMED, "");
    static const uint8_t uint64[] = {0x81, 0xa1, 'x', 0xcf, 0, 0, 0};
    s_expect_decode_error (&pd_partner_list_schema, uint64, sizeof (uint64), PD_E_MALFORMED, "");
    static const uint8_t never_used[] = {0x81, 0xa1, 'x', 0xc1};
    s_expect_decode_error (&pd_partner_list_schema, never_used, sizeof (never_used), PD_E_MALFORMED,
                           "");
}

//  {"x": [[[...]]]} with `arrays` nested arrays: depth arrays + 1
static void
s_nested (uint8_t *data, size_t *size, size_t arrays)
{
    size_t at = 0;
    data[at++] = 0x81;
    data[at++] = 0xa1;
    data[at++] = 'x';
    for (size_t i = 0; i < arrays; i++)
        data[at++] = i + 1 < arrays ? 0x91 : 0x90;
    *size = at;
}

static void
test_decode_caps_nesting (void **state)
{
    uint8_t data[64];
    size_t size;
    //  At the cap: fine (an unknown key, ignored)
    s_nested (data, &size, PD_SCHEMA_MAX_DEPTH - 1);
    pd_partner_list_t record = {0};
    assert_int_equal (pd_schema_decode (&pd_partner_list_schema, data, size, &record, NULL), PD_OK);
    //  One deeper: refused
    s_nested (data, &size, PD_SCHEMA_MAX_DEPTH);
    s_expect_decode_error (&pd_partner_list_schema, data, size, PD_E_MALFORMED, "");
    s_nested (data, &size, sizeof (data) - 3);
    s_expect_decode_error (&pd_partner_list_schema, data, size, PD_E_MALFORMED, "");
}

static void
test_decode_caps_input_size (void **state)
{
    //  Exactly the cap: a map with one unknown bin taking the rest
    size_t size = PD_SCHEMA_MAX_INPUT;
    uint8_t *data = calloc (1, size + 1);
    assert_non_null (data);
    static const uint8_t head[] = {0x81, 0xa1, 'x', 0xc6};
    memcpy (data, head, sizeof (head));
    uint32_t payload = (uint32_t)(size - sizeof (head) - sizeof (uint32_t));
    for (size_t i = 0; i < sizeof (uint32_t); i++)
        data[sizeof (head) + i] = (uint8_t)(payload >> (8 * (sizeof (uint32_t) - 1 - i)));
    pd_partner_list_t record = {0};
    assert_int_equal (pd_schema_decode (&pd_partner_list_schema, data, size, &record, NULL), PD_OK);
    //  One more byte: too large, whatever it holds
    pd_schema_error_t err;
    assert_int_equal (pd_schema_decode (&pd_partner_list_schema, data, size + 1, &record, &err),
                      PD_E_TOO_LARGE);
    assert_int_equal (err.status, PD_E_TOO_LARGE);
    free (data);
}

static void
test_decode_rejects_bad_shapes (void **state)
{
    static const uint8_t array[] = {0x93, 1, 2, 3};
    s_expect_decode_error (&pd_partner_list_schema, array, sizeof (array), PD_E_MALFORMED, "");
    static const uint8_t integer[] = {0x05};
    s_expect_decode_error (&pd_partner_list_schema, integer, sizeof (integer), PD_E_MALFORMED, "");
    s_expect_decode_error (&pd_partner_list_schema, NULL, 0, PD_E_MALFORMED, "");
    //  Trailing bytes, and two maps in a row
    static const uint8_t trailing[] = {0x80, 0x00};
    s_expect_decode_error (&pd_partner_list_schema, trailing, sizeof (trailing), PD_E_MALFORMED,
                           "");
    static const uint8_t two_maps[] = {0x80, 0x80};
    s_expect_decode_error (&pd_partner_list_schema, two_maps, sizeof (two_maps), PD_E_MALFORMED,
                           "");
    //  A key that is not a string
    static const uint8_t int_key[] = {0x81, 0x01, 0x02};
    s_expect_decode_error (&pd_partner_list_schema, int_key, sizeof (int_key), PD_E_MALFORMED, "");
    //  The empty map is a valid empty record
    static const uint8_t empty[] = {0x80};
    pd_partner_list_t record = {0};
    assert_int_equal (
        pd_schema_decode (&pd_partner_list_schema, empty, sizeof (empty), &record, NULL), PD_OK);
    assert_int_equal (record.present, 0);
}

static void
test_decode_rejects_invalid_utf8 (void **state)
{
    static const char *const bad[] = {
        "\xc0\xaf",         //  overlong '/'
        "\xe0\x80\xaf",     //  overlong, 3 bytes
        "\xf0\x80\x80\xaf", //  overlong, 4 bytes
        "\xed\xa0\x80",     //  surrogate U+D800
        "\xf4\x90\x80\x80", //  above U+10FFFF
        "\x80",             //  lone continuation
        "a\xe2\x82",        //  cut short
        "\xff",             //  never valid
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        //  A TEXT field, so that only the UTF-8 check can refuse it
        s_builder_t builder;
        msgpack_packer *packer = s_builder_start (&builder, 2);
        s_pack_text (packer, "type", "x");
        s_pack_text (packer, "detail", bad[i]);
        pd_event_t event = {0};
        pd_schema_error_t err;
        assert_int_equal (pd_schema_decode (&pd_event_schema, (const uint8_t *)builder.buffer.data,
                                            builder.buffer.size, &event, &err),
                          PD_E_INVALID_FIELD);
        assert_string_equal (err.field, "detail");
        assert_string_equal (err.detail, "must be valid UTF-8");
        assert_null (event.type);
        msgpack_sbuffer_destroy (&builder.buffer);
    }
    //  Valid multi-byte text passes (TEXT format)
    s_builder_t builder;
    msgpack_packer *packer = s_builder_start (&builder, 2);
    pd_event_t event = {0};
    pd_schema_error_t err;
    s_pack_text (packer, "detail", "Z\xc3\xbcrich \xe2\x82\xac \xf0\x9f\x98\x80");
    s_pack_text (packer, "type", "x");
    assert_int_equal (pd_schema_decode (&pd_event_schema, (const uint8_t *)builder.buffer.data,
                                        builder.buffer.size, &event, &err),
                      PD_OK);
    assert_string_equal (event.detail, "Z\xc3\xbcrich \xe2\x82\xac \xf0\x9f\x98\x80");
    pd_schema_clear (&pd_event_schema, &event);
    msgpack_sbuffer_destroy (&builder.buffer);
}

static void
test_decode_rejects_duplicate_keys (void **state)
{
    s_builder_t builder;
    msgpack_packer *packer = s_builder_start (&builder, 2);
    s_pack_text (packer, "cursor", "a");
    s_pack_text (packer, "cursor", "b");
    s_expect_decode_error (&pd_partner_list_schema, (const uint8_t *)builder.buffer.data,
                           builder.buffer.size, PD_E_MALFORMED, "cursor");
    msgpack_sbuffer_destroy (&builder.buffer);

    //  Unknown keys may not repeat either, among few (compared pairwise) or
    //  many (sorted)
    static const int sizes[] = {3, 16, 17, 100};
    for (size_t n = 0; n < sizeof (sizes) / sizeof (sizes[0]); n++) {
        int keys = sizes[n];
        packer = s_builder_start (&builder, (uint32_t)keys);
        for (int i = 0; i < keys; i++) {
            char key[16];
            snprintf (key, sizeof (key), "k%d", i == keys - 1 ? 1 : i);
            s_pack_text (packer, key, "v");
        }
        s_expect_decode_error (&pd_partner_list_schema, (const uint8_t *)builder.buffer.data,
                               builder.buffer.size, PD_E_MALFORMED, "");
        msgpack_sbuffer_destroy (&builder.buffer);
    }
}

static void
test_decode_types_and_unknown_keys (void **state)
{
    //  Unknown keys of every kind are skipped; nil means absent
    s_builder_t builder;
    msgpack_packer *packer = s_builder_start (&builder, 7);
    s_pack_text (packer, "cursor", "c-1");
    s_pack_key (packer, "float");
    msgpack_pack_double (packer, 1.5);
    s_pack_key (packer, "ext");
    msgpack_pack_ext_with_body (packer, "abcd", 4, 1);
    s_pack_key (packer, "ext8");
    msgpack_pack_ext_with_body (packer, "abc", 3, 2);
    s_pack_key (packer, "nested");
    msgpack_pack_map (packer, 1);
    s_pack_text (packer, "a", "b");
    s_pack_key (packer, "status");
    msgpack_pack_nil (packer);
    s_pack_key (packer, "limit");
    msgpack_pack_uint8 (packer, 20);
    pd_partner_list_t record = {0};
    pd_schema_error_t err;
    assert_int_equal (pd_schema_decode (&pd_partner_list_schema,
                                        (const uint8_t *)builder.buffer.data, builder.buffer.size,
                                        &record, &err),
                      PD_OK);
    assert_string_equal (record.cursor, "c-1");
    assert_int_equal (record.limit, 20);
    assert_null (record.status);
    assert_false (PD_HAS (&record, partner_list, status));
    pd_schema_clear (&pd_partner_list_schema, &record);
    msgpack_sbuffer_destroy (&builder.buffer);

    //  Wrong types, with the path of the field
    packer = s_builder_start (&builder, 1);
    s_pack_key (packer, "limit");
    msgpack_pack_double (packer, 20.0);
    s_expect_decode_error (&pd_partner_list_schema, (const uint8_t *)builder.buffer.data,
                           builder.buffer.size, PD_E_INVALID_FIELD, "limit");
    msgpack_sbuffer_destroy (&builder.buffer);

    //  2^64 - 1 does not fit int64 (it must not wrap to -1, which is in range)
    packer = s_builder_start (&builder, 1);
    s_pack_key (packer, "offset");
    msgpack_pack_uint64 (packer, UINT64_MAX);
    s_expect_decode_error (&s_flags_schema, (const uint8_t *)builder.buffer.data,
                           builder.buffer.size, PD_E_INVALID_FIELD, "offset");
    msgpack_sbuffer_destroy (&builder.buffer);

    packer = s_builder_start (&builder, 1);
    s_pack_key (packer, "branding");
    msgpack_pack_map (packer, 1);
    s_pack_key (packer, "primary_color");
    msgpack_pack_int (packer, 5);
    s_expect_decode_error (&pd_partner_create_schema, (const uint8_t *)builder.buffer.data,
                           builder.buffer.size, PD_E_INVALID_FIELD, "branding.primary_color");
    msgpack_sbuffer_destroy (&builder.buffer);

    //  A string with NUL inside cannot become a C string
    packer = s_builder_start (&builder, 1);
    s_pack_key (packer, "cursor");
    msgpack_pack_str_with_body (packer, "a\0b", 3);
    s_expect_decode_error (&pd_partner_list_schema, (const uint8_t *)builder.buffer.data,
                           builder.buffer.size, PD_E_INVALID_FIELD, "cursor");
    msgpack_sbuffer_destroy (&builder.buffer);
}

static void
test_decode_list_limits (void **state)
{
    //  201 items (empty maps) is over the page maximum: refused before the
    //  items are allocated
    size_t count = PD_PAGE_LIMIT_MAX + 1;
    s_builder_t builder;
    msgpack_packer *packer = s_builder_start (&builder, 1);
    s_pack_key (packer, "items");
    msgpack_pack_array (packer, count);
    for (size_t i = 0; i < count; i++)
        msgpack_pack_map (packer, 0);
    pd_schema_error_t err;
    pd_partner_page_t page = {0};
    assert_int_equal (pd_schema_decode (&pd_partner_page_schema,
                                        (const uint8_t *)builder.buffer.data, builder.buffer.size,
                                        &page, &err),
                      PD_E_INVALID_FIELD);
    assert_string_equal (err.field, "items");
    assert_string_equal (err.detail, "must have at most 200 items");
    msgpack_sbuffer_destroy (&builder.buffer);

    //  Items must be maps
    packer = s_builder_start (&builder, 1);
    s_pack_key (packer, "items");
    msgpack_pack_array (packer, 1);
    msgpack_pack_int (packer, 1);
    s_expect_decode_error (&pd_partner_page_schema, (const uint8_t *)builder.buffer.data,
                           builder.buffer.size, PD_E_INVALID_FIELD, "items.0");
    msgpack_sbuffer_destroy (&builder.buffer);
}

static void
test_decode_requires_fields (void **state)
{
    pd_partner_t partner = {0};
    s_partner_fill (&partner, "p-1", "Acme");
    free (partner.contact_email);
    partner.contact_email = NULL;
    size_t size = 0;
    uint8_t *data = s_encode (&pd_partner_schema, &partner, &size);
    s_expect_decode_error (&pd_partner_schema, data, size, PD_E_MISSING_FIELD, "contact_email");
    free (data);
    pd_schema_clear (&pd_partner_schema, &partner);

    //  In a list item, the path names the item
    pd_partner_page_t page = {0};
    page.items.items = calloc (2, sizeof (pd_partner_t));
    assert_non_null (page.items.items);
    page.items.size = 2;
    pd_partner_t *items = page.items.items;
    s_partner_fill (&items[0], "p-0", "A");
    s_partner_fill (&items[1], "p-1", "B");
    free (items[1].id);
    items[1].id = NULL;
    data = s_encode (&pd_partner_page_schema, &page, &size);
    s_expect_decode_error (&pd_partner_page_schema, data, size, PD_E_MISSING_FIELD, "items.1.id");
    free (data);
    pd_schema_clear (&pd_partner_page_schema, &page);

    //  A required INT needs its mark
    pd_blob_t item = {0};
    item.seq = 5;
    item.event.data = malloc (1);
    assert_non_null (item.event.data);
    item.event.data[0] = 0xc0;
    item.event.size = 1;
    pd_schema_error_t err;
    assert_int_equal (pd_schema_validate (&pd_blob_schema, &item, &err), PD_E_MISSING_FIELD);
    assert_string_equal (err.field, "seq");
    PD_MARK (&item, blob, seq);
    assert_int_equal (pd_schema_validate (&pd_blob_schema, &item, &err), PD_OK);
    pd_schema_clear (&pd_blob_schema, &item);
}

//  ---------------------------------------------------------------------------
//  Validation, encoding limits

static void
test_validate_limits (void **state)
{
    pd_schema_error_t err;
    pd_apikey_t key = {0};
    assert_int_equal (pd_schema_set_str (&key.id, "k1"), PD_OK);
    assert_int_equal (pd_schema_set_str (&key.kind, "admin"), PD_OK);
    key.hash.size = 31;
    key.hash.data = calloc (1, key.hash.size);
    assert_non_null (key.hash.data);
    assert_int_equal (pd_schema_validate (&pd_apikey_schema, &key, &err), PD_E_INVALID_FIELD);
    assert_string_equal (err.field, "hash");
    assert_string_equal (err.detail, "must be at least 32 bytes");
    pd_schema_clear (&pd_apikey_schema, &key);
    //  The hash is required: a key without one is incomplete
    assert_int_equal (pd_schema_set_str (&key.id, "k1"), PD_OK);
    assert_int_equal (pd_schema_set_str (&key.kind, "admin"), PD_OK);
    assert_int_equal (pd_schema_validate (&pd_apikey_schema, &key, &err), PD_E_MISSING_FIELD);
    assert_string_equal (err.field, "hash");
    //  A present, empty BIN is checked against its minimum
    pd_blob_t item = {0};
    pd_schema_mark_all (&pd_blob_schema, &item);
    item.seq = 1;
    assert_int_equal (pd_schema_validate (&pd_blob_schema, &item, &err), PD_E_INVALID_FIELD);
    assert_string_equal (err.field, "event");
    //  Tokens
    assert_int_equal (pd_schema_set_str (&key.id, "k 1"), PD_OK);
    key.hash.size = 32;
    key.hash.data = calloc (1, key.hash.size);
    assert_non_null (key.hash.data);
    assert_int_equal (pd_schema_validate (&pd_apikey_schema, &key, &err), PD_E_INVALID_FIELD);
    assert_string_equal (err.field, "id");
    assert_int_equal (pd_schema_set_str (&key.id, "K.1:a_b-c"), PD_OK);
    assert_int_equal (pd_schema_validate (&pd_apikey_schema, &key, &err), PD_OK);
    assert_int_equal (err.status, PD_OK);
    pd_schema_clear (&pd_apikey_schema, &key);
}

static void
test_encode_caps_output (void **state)
{
    //  17 events of 64 KiB do not fit in one encoded record
    enum { COUNT = 17, EVENT = 65536 };
    pd_blob_page_t page = {0};
    page.items.items = calloc (COUNT, sizeof (pd_blob_t));
    assert_non_null (page.items.items);
    page.items.size = COUNT;
    pd_blob_t *items = page.items.items;
    for (size_t i = 0; i < COUNT; i++) {
        items[i].seq = (int64_t)i + 1;
        PD_MARK (&items[i], blob, seq);
        items[i].event.data = calloc (1, EVENT);
        assert_non_null (items[i].event.data);
        items[i].event.size = EVENT;
    }
    uint8_t *data = (uint8_t *)"untouched";
    size_t size = 1;
    assert_int_equal (pd_schema_encode (&pd_blob_page_schema, &page, &data, &size), PD_E_TOO_LARGE);
    assert_null (data);
    assert_int_equal (size, 0);
    //  Fifteen fit
    page.items.size = 15;
    assert_int_equal (pd_schema_encode (&pd_blob_page_schema, &page, &data, &size), PD_OK);
    assert_true (size > 15 * EVENT && size <= PD_SCHEMA_MAX_INPUT);
    free (data);
    page.items.size = COUNT;
    pd_schema_clear (&pd_blob_page_schema, &page);
}

//  ---------------------------------------------------------------------------
//  Fields from text, marks, copy, clear, helpers

static void
test_set_text (void **state)
{
    pd_partner_list_t record = {0};
    pd_schema_error_t err;
    assert_int_equal (pd_schema_set_text (&pd_partner_list_schema, &record, "limit", "50", &err),
                      PD_OK);
    assert_int_equal (record.limit, 50);
    assert_true (PD_HAS (&record, partner_list, limit));

    static const char *const not_numbers[] = {"abc", "12x", "", " 5", "+5", "5 ", "-", "0x10"};
    for (size_t i = 0; i < sizeof (not_numbers) / sizeof (not_numbers[0]); i++) {
        assert_int_equal (
            pd_schema_set_text (&pd_partner_list_schema, &record, "limit", not_numbers[i], &err),
            PD_E_INVALID_FIELD);
        assert_string_equal (err.field, "limit");
        assert_string_equal (err.detail, "must be a decimal integer");
    }
    static const char *const out_of_range[] = {"0", "201", "-3", "99999999999999999999",
                                               "-99999999999999999999"};
    for (size_t i = 0; i < sizeof (out_of_range) / sizeof (out_of_range[0]); i++) {
        assert_int_equal (
            pd_schema_set_text (&pd_partner_list_schema, &record, "limit", out_of_range[i], &err),
            PD_E_INVALID_FIELD);
        assert_string_equal (err.detail, "must be between 1 and 200");
    }
    //  Failures leave the field as it was
    assert_int_equal (record.limit, 50);
    assert_int_equal (pd_schema_set_text (&pd_partner_list_schema, &record, "limit", "200", &err),
                      PD_OK);
    assert_int_equal (record.limit, 200);

    //  Strings are checked before they are set
    assert_int_equal (
        pd_schema_set_text (&pd_partner_list_schema, &record, "status", "pending", &err), PD_OK);
    assert_string_equal (record.status, "pending");
    assert_int_equal (pd_schema_set_text (&pd_partner_list_schema, &record, "status", "nope", &err),
                      PD_E_INVALID_FIELD);
    assert_string_equal (record.status, "pending");
    assert_int_equal (pd_schema_set_text (&pd_partner_list_schema, &record, "nothing", "1", &err),
                      PD_E_UNKNOWN_FIELD);
    assert_string_equal (err.field, "nothing");
    //  An empty string is no token, even where the minimum length is 0
    assert_int_equal (pd_schema_set_text (&pd_partner_list_schema, &record, "cursor", "", &err),
                      PD_E_INVALID_FIELD);
    assert_string_equal (err.detail, "must be a token of [A-Za-z0-9._:-]");
    assert_null (record.cursor);

    //  Booleans
    s_flags_t flags = {0};
    assert_int_equal (pd_schema_set_text (&s_flags_schema, &flags, "enabled", "true", &err), PD_OK);
    assert_true (flags.enabled);
    assert_int_equal (pd_schema_set_text (&s_flags_schema, &flags, "enabled", "yes", &err),
                      PD_E_INVALID_FIELD);
    assert_int_equal (pd_schema_set_text (&s_flags_schema, &flags, "enabled", "false", &err),
                      PD_OK);
    assert_false (flags.enabled);
    assert_int_equal (pd_schema_set_text (&s_flags_schema, &flags, "offset", "-10", &err), PD_OK);
    assert_int_equal (flags.offset, -10);

    //  Not from text
    pd_partner_t partner = {0};
    assert_int_equal (pd_schema_set_text (&pd_partner_schema, &partner, "branding", "x", &err),
                      PD_E_INVALID_FIELD);
    assert_null (partner.branding);
    pd_schema_clear (&pd_partner_list_schema, &record);
}

static void
test_marks (void **state)
{
    pd_partner_list_t record = {0};
    PD_MARK (&record, partner_list, cursor);
    assert_true (PD_HAS (&record, partner_list, cursor));
    assert_false (PD_HAS (&record, partner_list, limit));
    assert_int_equal (record.present, UINT64_C (1) << PD_FIELD_partner_list_cursor);
    pd_schema_mark_all (&pd_partner_list_schema, &record);
    assert_int_equal (record.present, (UINT64_C (1) << PD_FIELD_COUNT_partner_list) - 1);
    assert_true (PD_HAS (&record, partner_list, limit));
    assert_true (PD_HAS (&record, partner_list, status));

    //  A marked STR without a value is not written
    size_t size = 0;
    uint8_t *data = s_encode (&pd_partner_list_schema, &record, &size);
    pd_partner_list_t decoded = {0};
    assert_int_equal (pd_schema_decode (&pd_partner_list_schema, data, size, &decoded, NULL),
                      PD_E_INVALID_FIELD); //  limit 0 is below its minimum of 1
    record.limit = 1;
    free (data);
    data = s_encode (&pd_partner_list_schema, &record, &size);
    assert_int_equal (pd_schema_decode (&pd_partner_list_schema, data, size, &decoded, NULL),
                      PD_OK);
    assert_int_equal (decoded.present, UINT64_C (1) << PD_FIELD_partner_list_limit);
    free (data);

    size_t index = 99;
    const pd_field_t *field = pd_schema_field (&pd_partner_schema, "branding", &index);
    assert_non_null (field);
    assert_int_equal (index, PD_FIELD_partner_branding);
    assert_int_equal (field->type, PD_T_OBJ);
    assert_ptr_equal (field->sub, &pd_branding_schema);
    assert_null (pd_schema_field (&pd_partner_schema, "nope", NULL));
    assert_null (pd_schema_field (&pd_partner_schema, NULL, NULL));
}

static void
test_copy_is_deep (void **state)
{
    pd_partner_page_t page = {0};
    page.items.items = calloc (1, sizeof (pd_partner_t));
    assert_non_null (page.items.items);
    page.items.size = 1;
    pd_partner_t *original = page.items.items;
    s_partner_fill (original, "p-1", "Acme");

    pd_partner_page_t copy = {0};
    assert_int_equal (pd_schema_copy (&pd_partner_page_schema, &copy, &page), PD_OK);
    pd_partner_t *copied = copy.items.items;
    assert_ptr_not_equal (copied, original);
    assert_ptr_not_equal (copied->branding, original->branding);
    assert_ptr_not_equal (copied->name, original->name);
    assert_int_equal (copied->present, original->present);

    //  Changing the copy leaves the original alone
    assert_int_equal (pd_schema_set_str (&copied->name, "Changed"), PD_OK);
    assert_int_equal (pd_schema_set_str (&copied->branding->primary_color, "#000"), PD_OK);
    copied->version = 99;
    assert_string_equal (original->name, "Acme");
    assert_string_equal (original->branding->primary_color, "#1a2b3c");
    assert_int_equal (original->version, 3);

    pd_schema_clear (&pd_partner_page_schema, &page);
    assert_string_equal (copied->branding->display_name, "Acme");
    pd_schema_clear (&pd_partner_page_schema, &copy);

    //  Bytes are copied too
    pd_blob_t item = {0}, item_copy = {0};
    item.event.data = malloc (2);
    assert_non_null (item.event.data);
    memcpy (item.event.data, "hi", 2);
    item.event.size = 2;
    assert_int_equal (pd_schema_copy (&pd_blob_schema, &item_copy, &item), PD_OK);
    assert_ptr_not_equal (item_copy.event.data, item.event.data);
    item_copy.event.data[0] = 'H';
    assert_memory_equal (item.event.data, "hi", 2);
    pd_schema_clear (&pd_blob_schema, &item);
    pd_schema_clear (&pd_blob_schema, &item_copy);
}

static void
test_clear_is_idempotent (void **state)
{
    pd_partner_t partner = {0};
    static const pd_partner_t zero = {0};
    pd_schema_clear (&pd_partner_schema, &partner);
    assert_memory_equal (&partner, &zero, sizeof (partner));
    s_partner_fill (&partner, "p-1", "Acme");
    pd_schema_clear (&pd_partner_schema, &partner);
    assert_memory_equal (&partner, &zero, sizeof (partner));
    pd_schema_clear (&pd_partner_schema, &partner);
    assert_memory_equal (&partner, &zero, sizeof (partner));
    pd_schema_clear (&pd_partner_schema, NULL);
}

static void
test_set_str_and_fail (void **state)
{
    char *text = NULL;
    assert_int_equal (pd_schema_set_str (&text, "one"), PD_OK);
    assert_string_equal (text, "one");
    assert_int_equal (pd_schema_set_str (&text, "two"), PD_OK);
    assert_string_equal (text, "two");
    assert_int_equal (pd_schema_set_str (&text, NULL), PD_OK);
    assert_null (text);

    assert_int_equal (pd_schema_fail (NULL, PD_E_CONFLICT, "version", "is %d", 3), PD_E_CONFLICT);
    pd_schema_error_t err;
    assert_int_equal (pd_schema_fail (&err, PD_E_CONFLICT, "version", "is %d, not %d", 3, 4),
                      PD_E_CONFLICT);
    assert_int_equal (err.status, PD_E_CONFLICT);
    assert_string_equal (err.field, "version");
    assert_string_equal (err.detail, "is 3, not 4");

    //  A long path is cut on a character boundary, never inside "é"
    char field[sizeof (err.field) + 2];
    memset (field, 'a', sizeof (err.field) - 2);
    strcpy (field + sizeof (err.field) - 2, "\xc3\xa9");
    pd_schema_fail (&err, PD_E_INVALID_FIELD, field, "x");
    assert_int_equal (strlen (err.field), sizeof (err.field) - 2);
}

//  Replies show an empty list as [] rather than leaving it out
static void
test_empty_list_renders_as_array (void **state)
{
    pd_partner_page_t page = {0};
    char *json = pd_schema_to_json (&pd_partner_page_schema, &page);
    assert_non_null (json);
    assert_string_equal (json, "{\"items\":[]}");
    free (json);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_empty_list_renders_as_array),
        cmocka_unit_test (test_partner_msgpack_round_trip),
        cmocka_unit_test (test_partner_json_round_trip),
        cmocka_unit_test (test_partner_page_round_trip),
        cmocka_unit_test (test_bin_round_trip),
        cmocka_unit_test (test_base64_lengths_and_strictness),
        cmocka_unit_test (test_to_json_omits_secret),
        cmocka_unit_test (test_bool_and_negative_int),
        cmocka_unit_test (test_from_json_rejects_unknown_field),
        cmocka_unit_test (test_from_json_ignores_server_fields),
        cmocka_unit_test (test_from_json_rejects_wrong_types),
        cmocka_unit_test (test_from_json_rejects_real_for_int),
        cmocka_unit_test (test_from_json_malformed),
        cmocka_unit_test (test_from_json_checks_lengths_and_formats),
        cmocka_unit_test (test_from_json_leaves_required_to_validate),
        cmocka_unit_test (test_decode_rejects_truncated_input),
        cmocka_unit_test (test_decode_rejects_lengths_beyond_input),
        cmocka_unit_test (test_decode_caps_nesting),
        cmocka_unit_test (test_decode_caps_input_size),
        cmocka_unit_test (test_decode_rejects_bad_shapes),
        cmocka_unit_test (test_decode_rejects_invalid_utf8),
        cmocka_unit_test (test_decode_rejects_duplicate_keys),
        cmocka_unit_test (test_decode_types_and_unknown_keys),
        cmocka_unit_test (test_decode_list_limits),
        cmocka_unit_test (test_decode_requires_fields),
        cmocka_unit_test (test_validate_limits),
        cmocka_unit_test (test_encode_caps_output),
        cmocka_unit_test (test_set_text),
        cmocka_unit_test (test_marks),
        cmocka_unit_test (test_copy_is_deep),
        cmocka_unit_test (test_clear_is_idempotent),
        cmocka_unit_test (test_set_str_and_fail),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
