/*  pd_schema - schema engine: msgpack and JSON codecs, validation (see pd_schema.h)

    Decoding msgpack is done in two passes. A small cursor first walks the raw
    bytes without allocating: every declared length and element count is
    checked against the bytes left, nesting is capped, trailing bytes are
    refused. Only input that passed is handed to msgpack-c, whose allocations
    are then bounded by the input size. The object tree is walked by the
    schema into the record, which is validated last.
*/
#include "pd_schema.h"
#include "pd_json.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <msgpack.h>

//  Size of a dotted field path, as reported in pd_schema_error_t
#define S_PATH_MAX sizeof (((pd_schema_error_t *)0)->field)

//  Bit of field `index` in a record's `present` word
#define S_BIT(index) (UINT64_C (1) << (index))

//  msgpack format bytes (msgpack specification, "Formats")
enum {
    S_MP_POSFIXINT_LAST = 0x7f,
    S_MP_FIXMAP = 0x80,   //  0x80..0x8f, count in the low nibble
    S_MP_FIXARRAY = 0x90, //  0x90..0x9f, count in the low nibble
    S_MP_FIXSTR = 0xa0,   //  0xa0..0xbf, length in the low five bits
    S_MP_NIL = 0xc0,
    S_MP_FALSE = 0xc2,
    S_MP_TRUE = 0xc3,
    S_MP_BIN8 = 0xc4, //  bin 8, 16, 32
    S_MP_BIN32 = 0xc6,
    S_MP_EXT8 = 0xc7, //  ext 8, 16, 32
    S_MP_EXT32 = 0xc9,
    S_MP_FLOAT32 = 0xca,
    S_MP_FLOAT64 = 0xcb,
    S_MP_UINT8 = 0xcc, //  uint 8, 16, 32, 64
    S_MP_UINT64 = 0xcf,
    S_MP_INT8 = 0xd0, //  int 8, 16, 32, 64
    S_MP_INT64 = 0xd3,
    S_MP_FIXEXT1 = 0xd4, //  fixext 1, 2, 4, 8, 16
    S_MP_FIXEXT16 = 0xd8,
    S_MP_STR8 = 0xd9, //  str 8, 16, 32
    S_MP_STR32 = 0xdb,
    S_MP_ARRAY16 = 0xdc, //  array 16, 32
    S_MP_ARRAY32 = 0xdd,
    S_MP_MAP16 = 0xde, //  map 16, 32
    S_MP_MAP32 = 0xdf,
    S_MP_NEGFIXINT_FIRST = 0xe0
};
#define S_MP_FIXCOUNT_MASK 0x0f //  element count of fixmap / fixarray
#define S_MP_FIXSTR_MASK   0x1f //  length of fixstr
#define S_MP_FIXSTR_TYPE   0xe0 //  the bits that say "fixstr"
#define S_MP_EXT_TYPE_SIZE 1    //  the type byte of an ext value
#define S_MP_MAP_SLOTS     2    //  values per map entry: key and value

//  UTF-8 (RFC 3629)
#define S_UTF8_CONT_MASK  0xc0 //  top bits of a continuation byte...
#define S_UTF8_CONT       0x80 //  ...must be 10
#define S_UTF8_CONT_BITS  6    //  payload bits per continuation byte
#define S_UNICODE_LAST    0x10ffff
#define S_SURROGATE_FIRST 0xd800
#define S_SURROGATE_LAST  0xdfff

//  Control characters: C0 (below space), DEL and C1
#define S_ASCII_DEL 0x7f
#define S_C1_LAST   0x9f

//  Base64 (RFC 4648, standard alphabet, padded)
#define S_B64_CHAR_BITS   6 //  bits per character
#define S_B64_CHAR_MASK   0x3f
#define S_B64_GROUP_BYTES 3 //  bytes per group...
#define S_B64_GROUP_CHARS 4 //  ...written as this many characters
#define S_B64_PAD         '='
#define S_BYTE_BITS       8

static const char s_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

//  Characters of PD_FMT_TOKEN
static const char s_token_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789._:-";
static const char s_hex_digits[] = "0123456789abcdefABCDEF";

//  Forms of #rgb / #rrggbb (digits after the '#')
#define S_COLOR_SHORT 3
#define S_COLOR_LONG  6

//  ---------------------------------------------------------------------------
//  Record access

static void *
s_member (void *record, const pd_field_t *field)
{
    return (uint8_t *)record + field->offset;
}

static const void *
s_cmember (const void *record, const pd_field_t *field)
{
    return (const uint8_t *)record + field->offset;
}

static uint64_t *
s_present (void *record)
{
    return (uint64_t *)record;
}

static void *
s_item (const pd_list_t *list, const pd_schema_t *sub, size_t index)
{
    return (uint8_t *)list->items + index * sub->size;
}

//  Is field `index` present? STR and OBJ are present when their pointer is
//  set; BIN and LIST when their bit is set or they are non-empty; INT and
//  BOOL when their bit is set.
static bool
s_is_set (const pd_schema_t *schema, const void *record, size_t index)
{
    const pd_field_t *field = &schema->fields[index];
    const void *member = s_cmember (record, field);
    bool marked = (*(const uint64_t *)record & S_BIT (index)) != 0;
    switch (field->type) {
    case PD_T_STR:
        return *(char *const *)member != NULL;
    case PD_T_OBJ:
        return *(void *const *)member != NULL;
    case PD_T_BIN:
        return marked || ((const pd_bin_t *)member)->size > 0;
    case PD_T_LIST:
        return marked || ((const pd_list_t *)member)->size > 0;
    default:
        return marked;
    }
}

static const pd_field_t *
s_field_n (const pd_schema_t *schema, const char *name, size_t length, size_t *index)
{
    for (size_t i = 0; i < schema->field_count; i++) {
        const char *candidate = schema->fields[i].name;
        if (strlen (candidate) == length && memcmp (candidate, name, length) == 0) {
            if (index)
                *index = i;
            return &schema->fields[i];
        }
    }
    return NULL;
}

//  ---------------------------------------------------------------------------
//  Errors and paths

static void
s_reset (pd_schema_error_t *err)
{
    if (err)
        memset (err, 0, sizeof (*err));
}

//  Decode one UTF-8 sequence: returns its length, or 0 if the bytes are not
//  the shortest encoding of a Unicode scalar value (no surrogates).
static size_t
s_utf8_next (const uint8_t *text, size_t left, uint32_t *codepoint)
{
    static const struct {
        uint8_t mask;   //  bits of the lead byte that say the length
        uint8_t lead;   //  their value
        size_t length;  //  bytes in the sequence
        uint32_t first; //  smallest code point of this length
    } forms[] = {{0x80, 0x00, 1, 0x0},
                 {0xe0, 0xc0, 2, 0x80},
                 {0xf0, 0xe0, 3, 0x800},
                 {0xf8, 0xf0, 4, 0x10000}};

    for (size_t f = 0; f < sizeof (forms) / sizeof (forms[0]); f++) {
        if ((text[0] & forms[f].mask) != forms[f].lead)
            continue;
        if (forms[f].length > left)
            return 0;
        uint32_t value = text[0] & (uint8_t)~forms[f].mask;
        for (size_t i = 1; i < forms[f].length; i++) {
            if ((text[i] & S_UTF8_CONT_MASK) != S_UTF8_CONT)
                return 0;
            value = (value << S_UTF8_CONT_BITS) | (text[i] & (uint8_t)~S_UTF8_CONT_MASK);
        }
        if (value < forms[f].first || value > S_UNICODE_LAST ||
            (value >= S_SURROGATE_FIRST && value <= S_SURROGATE_LAST))
            return 0;
        *codepoint = value;
        return forms[f].length;
    }
    return 0;
}

//  Length of the longest prefix of text that is valid UTF-8
static size_t
s_utf8_valid_prefix (const char *text, size_t length)
{
    size_t at = 0;
    uint32_t codepoint;
    while (at < length) {
        size_t step = s_utf8_next ((const uint8_t *)text + at, length - at, &codepoint);
        if (step == 0)
            break;
        at += step;
    }
    return at;
}

int
pd_schema_fail (pd_schema_error_t *err, int status, const char *field, const char *fmt, ...)
{
    if (!err)
        return status;
    err->status = status;
    snprintf (err->field, sizeof (err->field), "%s", field ? field : "");
    err->detail[0] = '\0';
    if (fmt) {
        va_list args;
        va_start (args, fmt);
        vsnprintf (err->detail, sizeof (err->detail), fmt, args);
        va_end (args);
    }
    //  Truncation may cut a character in two, and a key may be anything:
    //  keep both texts valid UTF-8 so they can travel in JSON
    err->field[s_utf8_valid_prefix (err->field, strlen (err->field))] = '\0';
    err->detail[s_utf8_valid_prefix (err->detail, strlen (err->detail))] = '\0';
    return status;
}

//  Append text to a path of S_PATH_MAX bytes. A path too long for the
//  report is cut: it only points a developer at the field.
static void
s_path_append (char *out, const char *text)
{
    size_t length = strlen (out);
    size_t room = S_PATH_MAX - 1 - length;
    size_t count = strnlen (text, room);
    memcpy (out + length, text, count);
    out[length + count] = '\0';
}

//  out = prefix.name (or name at the top level)
static void
s_path_name (char *out, const char *prefix, const char *name)
{
    out[0] = '\0';
    s_path_append (out, prefix);
    if (*prefix)
        s_path_append (out, ".");
    s_path_append (out, name);
}

//  out = prefix.index
static void
s_path_index (char *out, const char *prefix, size_t index)
{
    char number[sizeof ("18446744073709551615")];
    snprintf (number, sizeof (number), "%zu", index);
    s_path_name (out, prefix, number);
}

//  ---------------------------------------------------------------------------
//  Validation

static bool
s_is_text (const char *text, size_t length)
{
    size_t at = 0;
    while (at < length) {
        uint32_t codepoint = 0;
        at += s_utf8_next ((const uint8_t *)text + at, length - at, &codepoint);
        if ((codepoint < ' ' && codepoint != '\t') ||
            (codepoint >= S_ASCII_DEL && codepoint <= S_C1_LAST))
            return false;
    }
    return true;
}

//  No spaces nor control characters (bytes of UTF-8 sequences are >= 0x80)
static bool
s_has_no_space (const char *text)
{
    for (const char *at = text; *at; at++)
        if ((unsigned char)*at <= ' ' || (unsigned char)*at == S_ASCII_DEL)
            return false;
    return true;
}

static bool
s_is_email (const char *text, size_t length)
{
    const char *at = strchr (text, '@');
    if (!at || at == text || strchr (at + 1, '@'))
        return false;
    const char *domain = at + 1;
    size_t domain_length = length - (size_t)(domain - text);
    return domain_length > 0 && strchr (domain, '.') && domain[0] != '.' &&
           domain[domain_length - 1] != '.' && s_has_no_space (text);
}

static bool
s_is_url (const char *text)
{
    static const char *const schemes[] = {"http://", "https://"};
    for (size_t i = 0; i < sizeof (schemes) / sizeof (schemes[0]); i++) {
        size_t length = strlen (schemes[i]);
        if (strncmp (text, schemes[i], length) == 0)
            return text[length] != '\0' && s_has_no_space (text);
    }
    return false;
}

static bool
s_is_color (const char *text, size_t length)
{
    size_t digits = length - 1;
    return text[0] == '#' && (digits == S_COLOR_SHORT || digits == S_COLOR_LONG) &&
           strspn (text + 1, s_hex_digits) == digits;
}

static bool
s_is_choice (const char *choices, const char *text, size_t length)
{
    const char *word = choices;
    while (word && *word) {
        const char *bar = strchr (word, '|');
        size_t word_length = bar ? (size_t)(bar - word) : strlen (word);
        if (word_length == length && memcmp (word, text, length) == 0)
            return true;
        word = bar ? bar + 1 : NULL;
    }
    return false;
}

//  Check a string against a STR field: length, UTF-8, format
static int
s_check_str (const pd_field_t *field, const char *text, const char *path, pd_schema_error_t *err)
{
    size_t length = strlen (text);
    if ((int64_t)length < field->min)
        return pd_schema_fail (err, PD_E_INVALID_FIELD, path, "must be at least %" PRId64 " bytes",
                               field->min);
    if (field->max > 0 && (int64_t)length > field->max)
        return pd_schema_fail (err, PD_E_INVALID_FIELD, path, "must be at most %" PRId64 " bytes",
                               field->max);
    if (s_utf8_valid_prefix (text, length) != length)
        return pd_schema_fail (err, PD_E_INVALID_FIELD, path, "must be valid UTF-8");
    switch (field->format) {
    case PD_FMT_TEXT:
        if (!s_is_text (text, length))
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path,
                                   "must not contain control characters");
        break;
    case PD_FMT_TOKEN:
        if (length == 0 || strspn (text, s_token_chars) != length)
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path,
                                   "must be a token of [A-Za-z0-9._:-]");
        break;
    case PD_FMT_EMAIL:
        if (!s_is_email (text, length))
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path, "must be an email address");
        break;
    case PD_FMT_URL:
        if (!s_is_url (text))
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path,
                                   "must be an http:// or https:// URL");
        break;
    case PD_FMT_COLOR:
        if (!s_is_color (text, length))
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path,
                                   "must be a color #rgb or #rrggbb");
        break;
    case PD_FMT_ENUM:
        if (!s_is_choice (field->choices, text, length))
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path, "must be one of %s",
                                   field->choices ? field->choices : "(none)");
        break;
    case PD_FMT_JSON: {
        json_t *value = pd_json_load (text, length, PD_SCHEMA_MAX_DEPTH,
                                      JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
        bool ok = value && (json_is_object (value) || json_is_string (value));
        json_decref (value);
        if (!ok)
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path,
                                   "must be the JSON text of a string or an object");
        break;
    }
    }
    return PD_OK;
}

static int
s_check_int (const pd_field_t *field, int64_t value, const char *path, pd_schema_error_t *err)
{
    if (value < field->min || value > field->max)
        return pd_schema_fail (err, PD_E_INVALID_FIELD, path,
                               "must be between %" PRId64 " and %" PRId64, field->min, field->max);
    return PD_OK;
}

static int s_validate (const pd_schema_t *schema, const void *record, const char *path,
                       bool check_required, pd_schema_error_t *err);

static int
s_validate_field (const pd_field_t *field, const void *member, const char *path,
                  bool check_required, pd_schema_error_t *err)
{
    switch (field->type) {
    case PD_T_STR:
        return s_check_str (field, *(char *const *)member, path, err);
    case PD_T_INT:
        return s_check_int (field, *(const int64_t *)member, path, err);
    case PD_T_BOOL:
        return PD_OK;
    case PD_T_BIN: {
        const pd_bin_t *bin = member;
        if ((int64_t)bin->size < field->min)
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path,
                                   "must be at least %" PRId64 " bytes", field->min);
        if (field->max > 0 && (int64_t)bin->size > field->max)
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path,
                                   "must be at most %" PRId64 " bytes", field->max);
        return PD_OK;
    }
    case PD_T_OBJ:
        return s_validate (field->sub, *(void *const *)member, path, check_required, err);
    case PD_T_LIST: {
        const pd_list_t *list = member;
        if ((int64_t)list->size < field->min)
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path,
                                   "must have at least %" PRId64 " items", field->min);
        if (field->max > 0 && (int64_t)list->size > field->max)
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path,
                                   "must have at most %" PRId64 " items", field->max);
        for (size_t i = 0; i < list->size; i++) {
            char item_path[S_PATH_MAX];
            s_path_index (item_path, path, i);
            int rc = s_validate (field->sub, s_item (list, field->sub, i), item_path,
                                 check_required, err);
            if (rc != PD_OK)
                return rc;
        }
        return PD_OK;
    }
    }
    return pd_schema_fail (err, PD_E_INTERNAL, path, "has an unknown type");
}

static int
s_validate (const pd_schema_t *schema, const void *record, const char *path, bool check_required,
            pd_schema_error_t *err)
{
    for (size_t i = 0; i < schema->field_count; i++) {
        const pd_field_t *field = &schema->fields[i];
        char field_path[S_PATH_MAX];
        s_path_name (field_path, path, field->name);
        if (!s_is_set (schema, record, i)) {
            if (check_required && (field->flags & PD_F_REQUIRED))
                return pd_schema_fail (err, PD_E_MISSING_FIELD, field_path, "is required");
            continue;
        }
        int rc =
            s_validate_field (field, s_cmember (record, field), field_path, check_required, err);
        if (rc != PD_OK)
            return rc;
    }
    return PD_OK;
}

int
pd_schema_validate (const pd_schema_t *schema, const void *record, pd_schema_error_t *err)
{
    assert (schema && record);
    s_reset (err);
    return s_validate (schema, record, "", true, err);
}

//  ---------------------------------------------------------------------------
//  Copies into a record

//  Copy size bytes of text as a NUL-terminated string
static int
s_copy_text (char **target, const char *text, size_t size, const char *path, pd_schema_error_t *err)
{
    if (size > 0 && memchr (text, '\0', size))
        return pd_schema_fail (err, PD_E_INVALID_FIELD, path, "must not contain NUL");
    char *copy = malloc (size + 1);
    if (!copy)
        return pd_schema_fail (err, PD_E_INTERNAL, path, "out of memory");
    if (size > 0)
        memcpy (copy, text, size);
    copy[size] = '\0';
    free (*target);
    *target = copy;
    return PD_OK;
}

static int
s_copy_bytes (pd_bin_t *target, const void *data, size_t size)
{
    uint8_t *copy = NULL;
    if (size > 0) {
        copy = malloc (size);
        if (!copy)
            return PD_E_INTERNAL;
        memcpy (copy, data, size);
    }
    free (target->data);
    target->data = copy;
    target->size = size;
    return PD_OK;
}

int
pd_schema_set_str (char **field, const char *value)
{
    assert (field);
    char *copy = NULL;
    if (value) {
        copy = strdup (value);
        if (!copy)
            return PD_E_INTERNAL;
    }
    free (*field);
    *field = copy;
    return PD_OK;
}

//  ---------------------------------------------------------------------------
//  Base64

static char *
s_base64_encode (const uint8_t *data, size_t size)
{
    size_t groups = (size + S_B64_GROUP_BYTES - 1) / S_B64_GROUP_BYTES;
    char *text = malloc (groups * S_B64_GROUP_CHARS + 1);
    if (!text)
        return NULL;
    char *out = text;
    for (size_t at = 0; at < size; at += S_B64_GROUP_BYTES) {
        size_t bytes = size - at < S_B64_GROUP_BYTES ? size - at : S_B64_GROUP_BYTES;
        uint32_t group = 0;
        for (size_t i = 0; i < S_B64_GROUP_BYTES; i++)
            group = (group << S_BYTE_BITS) | (i < bytes ? data[at + i] : 0);
        //  n bytes need n + 1 characters; the rest of the group is padding
        for (size_t i = 0; i < S_B64_GROUP_CHARS; i++) {
            unsigned shift = (unsigned)(S_B64_GROUP_CHARS - 1 - i) * S_B64_CHAR_BITS;
            *out++ = i <= bytes ? s_b64_alphabet[(group >> shift) & S_B64_CHAR_MASK] : S_B64_PAD;
        }
    }
    *out = '\0';
    return text;
}

//  Strict decoder: padded, no whitespace, unused bits zero.
//  PD_OK, PD_E_INVALID_FIELD (not base64) or PD_E_INTERNAL (OOM).
static int
s_base64_decode (const char *text, size_t length, pd_bin_t *bin)
{
    if (length % S_B64_GROUP_CHARS != 0)
        return PD_E_INVALID_FIELD;
    size_t pad = 0;
    while (pad < S_B64_GROUP_CHARS - 2 && pad < length && text[length - 1 - pad] == S_B64_PAD)
        pad++;
    size_t size = length / S_B64_GROUP_CHARS * S_B64_GROUP_BYTES - pad;
    uint8_t *data = size > 0 ? malloc (size) : NULL;
    if (size > 0 && !data)
        return PD_E_INTERNAL;

    size_t out = 0;
    for (size_t at = 0; at < length; at += S_B64_GROUP_CHARS) {
        bool last = at + S_B64_GROUP_CHARS == length;
        uint32_t group = 0;
        for (size_t i = 0; i < S_B64_GROUP_CHARS; i++) {
            char c = text[at + i];
            const char *found = c ? strchr (s_b64_alphabet, c) : NULL;
            bool padding = last && i >= S_B64_GROUP_CHARS - pad;
            if (padding ? c != S_B64_PAD : !found) {
                free (data);
                return PD_E_INVALID_FIELD;
            }
            group = (group << S_B64_CHAR_BITS) | (padding ? 0 : (uint32_t)(found - s_b64_alphabet));
        }
        size_t bytes = last ? S_B64_GROUP_BYTES - pad : S_B64_GROUP_BYTES;
        //  The bits of the bytes that padding stands for must be zero
        unsigned unused = (unsigned)(S_B64_GROUP_BYTES - bytes) * S_BYTE_BITS;
        if (unused && (group & ((UINT32_C (1) << unused) - 1)) != 0) {
            free (data);
            return PD_E_INVALID_FIELD;
        }
        for (size_t i = 0; i < bytes; i++) {
            unsigned shift = (unsigned)(S_B64_GROUP_BYTES - 1 - i) * S_BYTE_BITS;
            data[out++] = (uint8_t)(group >> shift);
        }
    }
    free (bin->data);
    bin->data = data;
    bin->size = size;
    return PD_OK;
}

//  ---------------------------------------------------------------------------
//  msgpack encoding

//  An sbuffer that refuses to grow past PD_SCHEMA_MAX_INPUT
typedef struct {
    msgpack_sbuffer buffer; //  the bytes written so far
    bool too_large;         //  a write was refused for size, not for memory
} s_writer_t;

static int
s_writer_write (void *data, const char *buf, size_t len)
{
    s_writer_t *self = data;
    if (len > PD_SCHEMA_MAX_INPUT - self->buffer.size) {
        self->too_large = true;
        return -1;
    }
    return msgpack_sbuffer_write (&self->buffer, buf, len);
}

static int s_pack_record (msgpack_packer *packer, const pd_schema_t *schema, const void *record);

//  Returns 0, or -1 if the writer refused
static int
s_pack_field (msgpack_packer *packer, const pd_field_t *field, const void *member)
{
    switch (field->type) {
    case PD_T_STR: {
        const char *text = *(char *const *)member;
        return msgpack_pack_str_with_body (packer, text, strlen (text));
    }
    case PD_T_INT:
        return msgpack_pack_int64 (packer, *(const int64_t *)member);
    case PD_T_BOOL:
        return *(const bool *)member ? msgpack_pack_true (packer) : msgpack_pack_false (packer);
    case PD_T_BIN: {
        const pd_bin_t *bin = member;
        return msgpack_pack_bin_with_body (packer, bin->data, bin->size);
    }
    case PD_T_OBJ:
        return s_pack_record (packer, field->sub, *(void *const *)member);
    case PD_T_LIST: {
        const pd_list_t *list = member;
        if (msgpack_pack_array (packer, list->size) != 0)
            return -1;
        for (size_t i = 0; i < list->size; i++)
            if (s_pack_record (packer, field->sub, s_item (list, field->sub, i)) != 0)
                return -1;
        return 0;
    }
    }
    return -1;
}

static int
s_pack_record (msgpack_packer *packer, const pd_schema_t *schema, const void *record)
{
    size_t count = 0;
    for (size_t i = 0; i < schema->field_count; i++)
        if (s_is_set (schema, record, i))
            count++;
    if (msgpack_pack_map (packer, count) != 0)
        return -1;
    for (size_t i = 0; i < schema->field_count; i++) {
        if (!s_is_set (schema, record, i))
            continue;
        const pd_field_t *field = &schema->fields[i];
        if (msgpack_pack_str_with_body (packer, field->name, strlen (field->name)) != 0 ||
            s_pack_field (packer, field, s_cmember (record, field)) != 0)
            return -1;
    }
    return 0;
}

int
pd_schema_encode (const pd_schema_t *schema, const void *record, uint8_t **data, size_t *size)
{
    assert (schema && record && data && size);
    *data = NULL;
    *size = 0;
    s_writer_t writer = {.too_large = false};
    msgpack_sbuffer_init (&writer.buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &writer, s_writer_write);
    if (s_pack_record (&packer, schema, record) != 0) {
        msgpack_sbuffer_destroy (&writer.buffer);
        return writer.too_large ? PD_E_TOO_LARGE : PD_E_INTERNAL;
    }
    *size = writer.buffer.size;
    *data = (uint8_t *)msgpack_sbuffer_release (&writer.buffer);
    return PD_OK;
}

//  ---------------------------------------------------------------------------
//  msgpack pre-scan: a bounded cursor over the raw bytes, no allocation

typedef struct {
    const uint8_t *data; //  the input
    size_t size;         //  its size
    size_t at;           //  next byte to read
    const char *error;   //  why the scan stopped (static text), NULL if it did not
} s_cursor_t;

static int
s_cursor_fail (s_cursor_t *self, const char *error)
{
    self->error = error;
    return -1;
}

static int
s_cursor_skip (s_cursor_t *self, uint64_t bytes)
{
    if (bytes > self->size - self->at)
        return s_cursor_fail (self, "a value is longer than the bytes left");
    self->at += (size_t)bytes;
    return 0;
}

//  Read a big-endian unsigned number of `width` bytes
static int
s_cursor_uint (s_cursor_t *self, size_t width, uint64_t *value)
{
    if (width > self->size - self->at)
        return s_cursor_fail (self, "input ends inside a value");
    *value = 0;
    for (size_t i = 0; i < width; i++)
        *value = (*value << S_BYTE_BITS) | self->data[self->at++];
    return 0;
}

static int s_scan_value (s_cursor_t *self, unsigned depth);

//  A container of `count` entries of `slots` values each, at depth + 1
static int
s_scan_container (s_cursor_t *self, uint64_t count, unsigned slots, unsigned depth)
{
    if (depth + 1 > PD_SCHEMA_MAX_DEPTH)
        return s_cursor_fail (self, "nesting is deeper than the limit");
    //  Every value takes at least one byte
    if (count > (self->size - self->at) / slots)
        return s_cursor_fail (self, "a map or array declares more entries than bytes left");
    for (uint64_t i = 0; i < count * slots; i++)
        if (s_scan_value (self, depth + 1) != 0)
            return -1;
    return 0;
}

//  A str, bin or ext: a length of `width` bytes, `extra` bytes, the payload
static int
s_scan_sized (s_cursor_t *self, size_t width, size_t extra)
{
    uint64_t length;
    if (s_cursor_uint (self, width, &length) != 0)
        return -1;
    return s_cursor_skip (self, length + extra);
}

//  Skip one value; depth is the number of containers around it
static int
s_scan_value (s_cursor_t *self, unsigned depth)
{
    uint64_t tag;
    if (s_cursor_uint (self, 1, &tag) != 0)
        return -1;
    if (tag <= S_MP_POSFIXINT_LAST || tag >= S_MP_NEGFIXINT_FIRST)
        return 0;
    if ((tag & ~S_MP_FIXCOUNT_MASK) == S_MP_FIXMAP)
        return s_scan_container (self, tag & S_MP_FIXCOUNT_MASK, S_MP_MAP_SLOTS, depth);
    if ((tag & ~S_MP_FIXCOUNT_MASK) == S_MP_FIXARRAY)
        return s_scan_container (self, tag & S_MP_FIXCOUNT_MASK, 1, depth);
    if ((tag & S_MP_FIXSTR_TYPE) == S_MP_FIXSTR)
        return s_cursor_skip (self, tag & S_MP_FIXSTR_MASK);
    if (tag == S_MP_NIL || tag == S_MP_FALSE || tag == S_MP_TRUE)
        return 0;

    //  The families below come in widths 1, 2, 4, 8(, 16): 1 << (tag - first)
    if (tag >= S_MP_BIN8 && tag <= S_MP_BIN32)
        return s_scan_sized (self, (size_t)1 << (tag - S_MP_BIN8), 0);
    if (tag >= S_MP_STR8 && tag <= S_MP_STR32)
        return s_scan_sized (self, (size_t)1 << (tag - S_MP_STR8), 0);
    if (tag >= S_MP_EXT8 && tag <= S_MP_EXT32)
        return s_scan_sized (self, (size_t)1 << (tag - S_MP_EXT8), S_MP_EXT_TYPE_SIZE);
    if (tag >= S_MP_FIXEXT1 && tag <= S_MP_FIXEXT16)
        return s_cursor_skip (self, S_MP_EXT_TYPE_SIZE + ((uint64_t)1 << (tag - S_MP_FIXEXT1)));
    if (tag >= S_MP_UINT8 && tag <= S_MP_UINT64)
        return s_cursor_skip (self, (uint64_t)1 << (tag - S_MP_UINT8));
    if (tag >= S_MP_INT8 && tag <= S_MP_INT64)
        return s_cursor_skip (self, (uint64_t)1 << (tag - S_MP_INT8));
    if (tag == S_MP_FLOAT32)
        return s_cursor_skip (self, sizeof (float));
    if (tag == S_MP_FLOAT64)
        return s_cursor_skip (self, sizeof (double));

    //  array 16/32 and map 16/32 have counts of 2 and 4 bytes
    uint64_t count;
    if (tag == S_MP_ARRAY16 || tag == S_MP_ARRAY32) {
        if (s_cursor_uint (self, sizeof (uint16_t) << (tag - S_MP_ARRAY16), &count) != 0)
            return -1;
        return s_scan_container (self, count, 1, depth);
    }
    if (tag == S_MP_MAP16 || tag == S_MP_MAP32) {
        if (s_cursor_uint (self, sizeof (uint16_t) << (tag - S_MP_MAP16), &count) != 0)
            return -1;
        return s_scan_container (self, count, S_MP_MAP_SLOTS, depth);
    }
    return s_cursor_fail (self, "a format byte is not valid msgpack");
}

//  ---------------------------------------------------------------------------
//  msgpack decoding (after the scan)

static int
s_compare_keys (const void *a, const void *b)
{
    const msgpack_object_str *key_a = *(const msgpack_object_str *const *)a;
    const msgpack_object_str *key_b = *(const msgpack_object_str *const *)b;
    if (key_a->size != key_b->size)
        return key_a->size < key_b->size ? -1 : 1;
    return key_a->size > 0 ? memcmp (key_a->ptr, key_b->ptr, key_a->size) : 0;
}

//  Keys must be strings and unique. The check compares a few keys pairwise
//  and sorts pointers to more; the scan proved there are fewer keys than
//  input bytes.
#define S_FEW_KEYS 16
static int
s_check_keys (const pd_schema_t *schema, const msgpack_object *map, const char *path,
              pd_schema_error_t *err)
{
    uint32_t count = map->via.map.size;
    for (uint32_t i = 0; i < count; i++)
        if (map->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR)
            return pd_schema_fail (err, PD_E_MALFORMED, path, "has a key that is not a string");
    if (count < 2)
        return PD_OK;
    if (count <= S_FEW_KEYS) {
        //  The common case: a few keys, compared pairwise (no allocation)
        for (uint32_t i = 1; i < count; i++)
            for (uint32_t j = 0; j < i; j++) {
                const msgpack_object_str *a = &map->via.map.ptr[j].key.via.str;
                const msgpack_object_str *b = &map->via.map.ptr[i].key.via.str;
                if (s_compare_keys (&a, &b) != 0)
                    continue;
                const pd_field_t *field = s_field_n (schema, b->ptr, b->size, NULL);
                char field_path[S_PATH_MAX];
                if (field)
                    s_path_name (field_path, path, field->name);
                return pd_schema_fail (err, PD_E_MALFORMED, field ? field_path : path,
                                       "a key appears twice");
            }
        return PD_OK;
    }

    const msgpack_object_str **keys = malloc (count * sizeof (*keys));
    if (!keys)
        return pd_schema_fail (err, PD_E_INTERNAL, path, "out of memory");
    for (uint32_t i = 0; i < count; i++)
        keys[i] = &map->via.map.ptr[i].key.via.str;
    qsort (keys, count, sizeof (*keys), s_compare_keys);
    int rc = PD_OK;
    for (uint32_t i = 1; i < count && rc == PD_OK; i++) {
        if (s_compare_keys (&keys[i - 1], &keys[i]) != 0)
            continue;
        //  Name the key only if it is ours: others may hold any bytes
        const pd_field_t *field = s_field_n (schema, keys[i]->ptr, keys[i]->size, NULL);
        char field_path[S_PATH_MAX];
        if (field)
            s_path_name (field_path, path, field->name);
        rc = pd_schema_fail (err, PD_E_MALFORMED, field ? field_path : path, "a key appears twice");
    }
    free (keys);
    return rc;
}

static int s_decode_map (const pd_schema_t *schema, const msgpack_object *map, void *record,
                         const char *path, pd_schema_error_t *err);

static int
s_decode_field (const pd_field_t *field, const msgpack_object *value, void *member,
                const char *path, pd_schema_error_t *err)
{
    switch (field->type) {
    case PD_T_STR:
        if (value->type != MSGPACK_OBJECT_STR)
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path, "must be a string");
        return s_copy_text (member, value->via.str.ptr, value->via.str.size, path, err);
    case PD_T_INT:
        if (value->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            *(int64_t *)member = value->via.i64;
        else if (value->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            if (value->via.u64 > INT64_MAX)
                return pd_schema_fail (err, PD_E_INVALID_FIELD, path,
                                       "must be between %" PRId64 " and %" PRId64, field->min,
                                       field->max);
            *(int64_t *)member = (int64_t)value->via.u64;
        } else
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path, "must be an integer");
        return PD_OK;
    case PD_T_BOOL:
        if (value->type != MSGPACK_OBJECT_BOOLEAN)
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path, "must be a boolean");
        *(bool *)member = value->via.boolean;
        return PD_OK;
    case PD_T_BIN:
        if (value->type != MSGPACK_OBJECT_BIN)
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path, "must be bytes (bin)");
        if (s_copy_bytes (member, value->via.bin.ptr, value->via.bin.size) != PD_OK)
            return pd_schema_fail (err, PD_E_INTERNAL, path, "out of memory");
        return PD_OK;
    case PD_T_OBJ: {
        if (value->type != MSGPACK_OBJECT_MAP)
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path, "must be an object (map)");
        void **slot = member;
        *slot = calloc (1, field->sub->size);
        if (!*slot)
            return pd_schema_fail (err, PD_E_INTERNAL, path, "out of memory");
        return s_decode_map (field->sub, value, *slot, path, err);
    }
    case PD_T_LIST: {
        if (value->type != MSGPACK_OBJECT_ARRAY)
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path, "must be an array");
        pd_list_t *list = member;
        size_t count = value->via.array.size;
        //  Refuse before allocating count records
        if (field->max > 0 && (int64_t)count > field->max)
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path,
                                   "must have at most %" PRId64 " items", field->max);
        if (count > 0) {
            list->items = calloc (count, field->sub->size);
            if (!list->items)
                return pd_schema_fail (err, PD_E_INTERNAL, path, "out of memory");
            list->size = count;
        }
        for (size_t i = 0; i < count; i++) {
            char item_path[S_PATH_MAX];
            s_path_index (item_path, path, i);
            const msgpack_object *item = &value->via.array.ptr[i];
            if (item->type != MSGPACK_OBJECT_MAP)
                return pd_schema_fail (err, PD_E_INVALID_FIELD, item_path,
                                       "must be an object (map)");
            int rc = s_decode_map (field->sub, item, s_item (list, field->sub, i), item_path, err);
            if (rc != PD_OK)
                return rc;
        }
        return PD_OK;
    }
    }
    return pd_schema_fail (err, PD_E_INTERNAL, path, "has an unknown type");
}

static int
s_decode_map (const pd_schema_t *schema, const msgpack_object *map, void *record, const char *path,
              pd_schema_error_t *err)
{
    int rc = s_check_keys (schema, map, path, err);
    if (rc != PD_OK)
        return rc;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *entry = &map->via.map.ptr[i];
        size_t index;
        const pd_field_t *field =
            s_field_n (schema, entry->key.via.str.ptr, entry->key.via.str.size, &index);
        //  Unknown keys are ignored (forward compatibility); nil is absent
        if (!field || entry->val.type == MSGPACK_OBJECT_NIL)
            continue;
        char field_path[S_PATH_MAX];
        s_path_name (field_path, path, field->name);
        rc = s_decode_field (field, &entry->val, s_member (record, field), field_path, err);
        if (rc != PD_OK)
            return rc;
        *s_present (record) |= S_BIT (index);
    }
    return PD_OK;
}

int
pd_schema_decode (const pd_schema_t *schema, const uint8_t *data, size_t size, void *record,
                  pd_schema_error_t *err)
{
    assert (schema && record);
    s_reset (err);
    if (!data || size == 0)
        return pd_schema_fail (err, PD_E_MALFORMED, "", "is empty");
    if (size > PD_SCHEMA_MAX_INPUT)
        return pd_schema_fail (err, PD_E_TOO_LARGE, "", "must be at most %d bytes",
                               PD_SCHEMA_MAX_INPUT);

    s_cursor_t cursor = {data, size, 0, NULL};
    if (s_scan_value (&cursor, 0) != 0)
        return pd_schema_fail (err, PD_E_MALFORMED, "", "%s (byte %zu)", cursor.error, cursor.at);
    if (cursor.at != size)
        return pd_schema_fail (err, PD_E_MALFORMED, "", "has %zu bytes after the value",
                               size - cursor.at);

    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    msgpack_unpack_return result =
        msgpack_unpack_next (&unpacked, (const char *)data, size, &offset);
    int rc;
    if (result == MSGPACK_UNPACK_NOMEM_ERROR)
        rc = pd_schema_fail (err, PD_E_INTERNAL, "", "out of memory");
    else if (result != MSGPACK_UNPACK_SUCCESS)
        rc = pd_schema_fail (err, PD_E_MALFORMED, "", "is not valid msgpack");
    else if (unpacked.data.type != MSGPACK_OBJECT_MAP)
        rc = pd_schema_fail (err, PD_E_MALFORMED, "", "must be a map");
    else
        rc = s_decode_map (schema, &unpacked.data, record, "", err);
    msgpack_unpacked_destroy (&unpacked);

    if (rc == PD_OK)
        rc = s_validate (schema, record, "", true, err);
    if (rc != PD_OK)
        pd_schema_clear (schema, record);
    return rc;
}

//  ---------------------------------------------------------------------------
//  JSON

static int s_from_json_object (const pd_schema_t *schema, json_t *object, void *record,
                               const char *path, unsigned depth, pd_schema_error_t *err);

//  Allocate a record of `sub` into *slot and fill it from a JSON object
static int
s_from_json_sub (const pd_schema_t *sub, json_t *object, void **slot, const char *path,
                 unsigned depth, pd_schema_error_t *err)
{
    if (!json_is_object (object))
        return pd_schema_fail (err, PD_E_INVALID_FIELD, path, "must be an object");
    *slot = calloc (1, sub->size);
    if (!*slot)
        return pd_schema_fail (err, PD_E_INTERNAL, path, "out of memory");
    return s_from_json_object (sub, object, *slot, path, depth, err);
}

static int
s_from_json_field (const pd_field_t *field, json_t *value, void *member, const char *path,
                   unsigned depth, pd_schema_error_t *err)
{
    switch (field->type) {
    case PD_T_STR:
        if (field->format == PD_FMT_JSON && (json_is_object (value) || json_is_string (value))) {
            char *text = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
            if (!text)
                return pd_schema_fail (err, PD_E_INTERNAL, path, "out of memory");
            int rc = s_copy_text (member, text, strlen (text), path, err);
            free (text);
            return rc;
        }
        if (!json_is_string (value))
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path,
                                   field->format == PD_FMT_JSON ? "must be a string or an object"
                                                                : "must be a string");
        return s_copy_text (member, json_string_value (value), json_string_length (value), path,
                            err);
    case PD_T_INT:
        //  JSON integers only: 1.5 and 40.0 are reals
        if (!json_is_integer (value))
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path, "must be an integer");
        *(int64_t *)member = (int64_t)json_integer_value (value);
        return PD_OK;
    case PD_T_BOOL:
        if (!json_is_boolean (value))
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path, "must be a boolean");
        *(bool *)member = json_is_true (value);
        return PD_OK;
    case PD_T_BIN: {
        int rc = json_is_string (value) ? s_base64_decode (json_string_value (value),
                                                           json_string_length (value), member)
                                        : PD_E_INVALID_FIELD;
        if (rc == PD_E_INTERNAL)
            return pd_schema_fail (err, rc, path, "out of memory");
        if (rc != PD_OK)
            return pd_schema_fail (err, rc, path, "must be a base64 string");
        return PD_OK;
    }
    case PD_T_OBJ:
        return s_from_json_sub (field->sub, value, member, path, depth + 1, err);
    case PD_T_LIST: {
        if (!json_is_array (value))
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path, "must be an array");
        pd_list_t *list = member;
        size_t count = json_array_size (value);
        if (field->max > 0 && (int64_t)count > field->max)
            return pd_schema_fail (err, PD_E_INVALID_FIELD, path,
                                   "must have at most %" PRId64 " items", field->max);
        if (count > 0) {
            list->items = calloc (count, field->sub->size);
            if (!list->items)
                return pd_schema_fail (err, PD_E_INTERNAL, path, "out of memory");
            list->size = count;
        }
        for (size_t i = 0; i < count; i++) {
            char item_path[S_PATH_MAX];
            s_path_index (item_path, path, i);
            json_t *item = json_array_get (value, i);
            if (!json_is_object (item))
                return pd_schema_fail (err, PD_E_INVALID_FIELD, item_path, "must be an object");
            //  The array is one level, its items the next
            int rc = s_from_json_object (field->sub, item, s_item (list, field->sub, i), item_path,
                                         depth + 2, err);
            if (rc != PD_OK)
                return rc;
        }
        return PD_OK;
    }
    }
    return pd_schema_fail (err, PD_E_INTERNAL, path, "has an unknown type");
}

//  depth is the nesting of `object` (the top level is 1)
static int
s_from_json_object (const pd_schema_t *schema, json_t *object, void *record, const char *path,
                    unsigned depth, pd_schema_error_t *err)
{
    if (depth > PD_SCHEMA_MAX_DEPTH)
        return pd_schema_fail (err, PD_E_MALFORMED, path, "nesting is deeper than %d",
                               PD_SCHEMA_MAX_DEPTH);
    const char *key;
    json_t *value;
    json_object_foreach (object, key, value)
    {
        size_t index;
        const pd_field_t *field = pd_schema_field (schema, key, &index);
        char field_path[S_PATH_MAX];
        s_path_name (field_path, path, key);
        if (!field)
            return pd_schema_fail (err, PD_E_UNKNOWN_FIELD, field_path, "is not a field of %s",
                                   schema->name);
        //  Server-owned fields never come from a client (mass assignment)
        if ((field->flags & PD_F_SERVER) || json_is_null (value))
            continue;
        int rc = s_from_json_field (field, value, s_member (record, field), field_path, depth, err);
        if (rc != PD_OK)
            return rc;
        *s_present (record) |= S_BIT (index);
    }
    return PD_OK;
}

int
pd_schema_from_json (const pd_schema_t *schema, const char *text, size_t size, void *record,
                     pd_schema_error_t *err)
{
    assert (schema && record);
    s_reset (err);
    if (!text)
        return pd_schema_fail (err, PD_E_MALFORMED, "", "is empty");
    if (size > PD_SCHEMA_MAX_INPUT)
        return pd_schema_fail (err, PD_E_TOO_LARGE, "", "must be at most %d bytes",
                               PD_SCHEMA_MAX_INPUT);
    json_error_t error;
    //  Bounded before jansson recurses: no record nests deeper than this
    json_t *root = pd_json_load (text, size, PD_SCHEMA_MAX_DEPTH, JSON_REJECT_DUPLICATES, &error);
    if (!root) {
        if (json_error_code (&error) == json_error_out_of_memory)
            return pd_schema_fail (err, PD_E_INTERNAL, "", "out of memory");
        if (error.line < 0)
            return pd_schema_fail (err, PD_E_MALFORMED, "", "%s", error.text);
        return pd_schema_fail (err, PD_E_MALFORMED, "", "%s (line %d, column %d)", error.text,
                               error.line, error.column);
    }
    int rc;
    if (!json_is_object (root))
        rc = pd_schema_fail (err, PD_E_MALFORMED, "", "must be a JSON object");
    else
        rc = s_from_json_object (schema, root, record, "", 1, err);
    json_decref (root);
    if (rc == PD_OK)
        rc = s_validate (schema, record, "", false, err);
    if (rc != PD_OK)
        pd_schema_clear (schema, record);
    return rc;
}

static json_t *s_to_json_object (const pd_schema_t *schema, const void *record);

static json_t *
s_to_json_value (const pd_field_t *field, const void *member)
{
    switch (field->type) {
    case PD_T_STR:
        if (field->format == PD_FMT_JSON) {
            const char *text = *(char *const *)member;
            json_t *value = pd_json_load (text, strlen (text), PD_SCHEMA_MAX_DEPTH,
                                          JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
            return value ? value : json_string (text);
        }
        return json_string (*(char *const *)member);
    case PD_T_INT:
        return json_integer ((json_int_t) * (const int64_t *)member);
    case PD_T_BOOL:
        return json_boolean (*(const bool *)member);
    case PD_T_BIN: {
        const pd_bin_t *bin = member;
        char *text = s_base64_encode (bin->data, bin->size);
        json_t *value = text ? json_string (text) : NULL;
        free (text);
        return value;
    }
    case PD_T_OBJ:
        return s_to_json_object (field->sub, *(void *const *)member);
    case PD_T_LIST: {
        const pd_list_t *list = member;
        json_t *array = json_array ();
        for (size_t i = 0; array && i < list->size; i++) {
            if (json_array_append_new (
                    array, s_to_json_object (field->sub, s_item (list, field->sub, i))) != 0) {
                json_decref (array);
                array = NULL;
            }
        }
        return array;
    }
    }
    return NULL;
}

static json_t *
s_to_json_object (const pd_schema_t *schema, const void *record)
{
    json_t *object = json_object ();
    for (size_t i = 0; object && i < schema->field_count; i++) {
        const pd_field_t *field = &schema->fields[i];
        //  Lists always show, empty as []: clients iterate without a check
        if ((field->flags & PD_F_SECRET) ||
            (field->type != PD_T_LIST && !s_is_set (schema, record, i)))
            continue;
        //  json_object_set_new takes the value, also when it fails
        if (json_object_set_new (object, field->name,
                                 s_to_json_value (field, s_cmember (record, field))) != 0) {
            json_decref (object);
            object = NULL;
        }
    }
    return object;
}

char *
pd_schema_to_json (const pd_schema_t *schema, const void *record)
{
    assert (schema && record);
    json_t *root = s_to_json_object (schema, record);
    if (!root)
        return NULL;
    char *text = json_dumps (root, JSON_COMPACT);
    json_decref (root);
    return text;
}

//  ---------------------------------------------------------------------------
//  Fields from text, lookup, marks, copy, clear

//  Strict decimal: optional '-', digits, nothing else. 0, -1 (not a
//  number) or ERANGE (does not fit int64).
static int
s_parse_int (const char *text, int64_t *value)
{
    const char *digits = text[0] == '-' ? text + 1 : text;
    if (*digits < '0' || *digits > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    long long parsed = strtoll (text, &end, 10);
    if (*end != '\0')
        return -1;
    if (errno == ERANGE)
        return ERANGE;
    *value = parsed;
    return 0;
}

int
pd_schema_set_text (const pd_schema_t *schema, void *record, const char *name, const char *text,
                    pd_schema_error_t *err)
{
    assert (schema && record);
    s_reset (err);
    size_t index;
    const pd_field_t *field = name ? pd_schema_field (schema, name, &index) : NULL;
    if (!field)
        return pd_schema_fail (err, PD_E_UNKNOWN_FIELD, name, "is not a field of %s", schema->name);
    if (!text)
        return pd_schema_fail (err, PD_E_INVALID_FIELD, name, "has no value");

    void *member = s_member (record, field);
    int rc = PD_OK;
    switch (field->type) {
    case PD_T_STR:
        rc = s_check_str (field, text, name, err);
        if (rc == PD_OK && pd_schema_set_str (member, text) != PD_OK)
            rc = pd_schema_fail (err, PD_E_INTERNAL, name, "out of memory");
        break;
    case PD_T_INT: {
        int64_t value = 0;
        int parsed = s_parse_int (text, &value);
        if (parsed == ERANGE)
            rc =
                pd_schema_fail (err, PD_E_INVALID_FIELD, name,
                                "must be between %" PRId64 " and %" PRId64, field->min, field->max);
        else if (parsed != 0)
            rc = pd_schema_fail (err, PD_E_INVALID_FIELD, name, "must be a decimal integer");
        else
            rc = s_check_int (field, value, name, err);
        if (rc == PD_OK)
            *(int64_t *)member = value;
        break;
    }
    case PD_T_BOOL:
        if (strcmp (text, "true") == 0 || strcmp (text, "false") == 0)
            *(bool *)member = strcmp (text, "true") == 0;
        else
            rc = pd_schema_fail (err, PD_E_INVALID_FIELD, name, "must be true or false");
        break;
    default:
        rc = pd_schema_fail (err, PD_E_INVALID_FIELD, name, "cannot be set from text");
        break;
    }
    if (rc == PD_OK)
        *s_present (record) |= S_BIT (index);
    return rc;
}

const pd_field_t *
pd_schema_field (const pd_schema_t *schema, const char *name, size_t *index)
{
    assert (schema);
    return name ? s_field_n (schema, name, strlen (name), index) : NULL;
}

void
pd_schema_mark_all (const pd_schema_t *schema, void *record)
{
    assert (schema && record);
    *s_present (record) =
        schema->field_count >= PD_SCHEMA_MAX_FIELDS ? UINT64_MAX : S_BIT (schema->field_count) - 1;
}

int
pd_schema_copy (const pd_schema_t *schema, void *dst, const void *src)
{
    assert (schema && dst && src);
    //  Scalars and marks first; then detach dst from everything src owns,
    //  so that a failure half way leaves a record pd_schema_clear can free
    memcpy (dst, src, schema->size);
    for (size_t i = 0; i < schema->field_count; i++) {
        const pd_field_t *field = &schema->fields[i];
        void *member = s_member (dst, field);
        if (field->type == PD_T_STR || field->type == PD_T_OBJ)
            *(void **)member = NULL;
        else if (field->type == PD_T_BIN)
            memset (member, 0, sizeof (pd_bin_t));
        else if (field->type == PD_T_LIST)
            memset (member, 0, sizeof (pd_list_t));
    }
    int rc = PD_OK;
    for (size_t i = 0; i < schema->field_count && rc == PD_OK; i++) {
        const pd_field_t *field = &schema->fields[i];
        void *to = s_member (dst, field);
        const void *from = s_cmember (src, field);
        switch (field->type) {
        case PD_T_STR:
            rc = pd_schema_set_str (to, *(char *const *)from);
            break;
        case PD_T_BIN:
            rc = s_copy_bytes (to, ((const pd_bin_t *)from)->data, ((const pd_bin_t *)from)->size);
            break;
        case PD_T_OBJ: {
            const void *sub = *(void *const *)from;
            if (!sub)
                break;
            void **slot = to;
            *slot = calloc (1, field->sub->size);
            rc = *slot ? pd_schema_copy (field->sub, *slot, sub) : PD_E_INTERNAL;
            break;
        }
        case PD_T_LIST: {
            const pd_list_t *source = from;
            pd_list_t *list = to;
            if (source->size == 0)
                break;
            list->items = calloc (source->size, field->sub->size);
            if (!list->items) {
                rc = PD_E_INTERNAL;
                break;
            }
            list->size = source->size;
            for (size_t j = 0; j < source->size && rc == PD_OK; j++)
                rc = pd_schema_copy (field->sub, s_item (list, field->sub, j),
                                     s_item (source, field->sub, j));
            break;
        }
        default:
            break;
        }
    }
    if (rc != PD_OK) {
        pd_schema_clear (schema, dst);
        return PD_E_INTERNAL;
    }
    return PD_OK;
}

void
pd_schema_clear (const pd_schema_t *schema, void *record)
{
    if (!schema || !record)
        return;
    for (size_t i = 0; i < schema->field_count; i++) {
        const pd_field_t *field = &schema->fields[i];
        void *member = s_member (record, field);
        bool secret = field->flags & PD_F_SECRET; //  wiped before it is freed
        switch (field->type) {
        case PD_T_STR: {
            char *text = *(char **)member;
            if (secret && text)
                explicit_bzero (text, strlen (text));
            free (text);
            break;
        }
        case PD_T_BIN: {
            pd_bin_t *bin = member;
            if (secret && bin->data)
                explicit_bzero (bin->data, bin->size);
            free (bin->data);
            break;
        }
        case PD_T_OBJ: {
            void *sub = *(void **)member;
            pd_schema_clear (field->sub, sub);
            free (sub);
            break;
        }
        case PD_T_LIST: {
            pd_list_t *list = member;
            for (size_t j = 0; j < list->size; j++)
                pd_schema_clear (field->sub, s_item (list, field->sub, j));
            free (list->items);
            break;
        }
        default:
            break;
        }
    }
    memset (record, 0, schema->size);
}
