/*  pd_schema - schema engine: records described by field tables

    Every message and stored record of partnerd is declared once, in
    pd_messages.h, as an X-macro field list. From that one declaration come:
    the C struct, the field table (pd_schema_t) below, and through this module
    the msgpack encoder/decoder, validation, and the JSON <-> record mapping
    used by the gateway. No module writes a second copy of a message layout.

    Record layout: every generated struct starts with `uint64_t present`, a
    bit per field (bit i = field i of the schema) telling which fields are
    set. Decoders set the bits of what they read. Encoders write a field when
    its bit is set, and also any BIN/LIST field that is non-empty. A STR or
    OBJ field is present exactly when its pointer is non-NULL (its bit alone
    writes nothing). Use PD_MARK to set the bit of a scalar you assign, or
    pd_schema_mark_all for a whole record built in code.

    Ownership: a record owns its strings, byte strings, sub-records and lists
    (all malloc'd). pd_schema_clear frees them and zeroes the record.

    msgpack form: a map from field name (str) to value. STR -> str, INT -> int,
    BOOL -> bool, BIN -> bin, OBJ -> map, LIST -> array of maps. Unknown keys
    are ignored when decoding msgpack (forward compatibility between peers of
    the same major protocol version). Before msgpack-c unpacks anything, the
    bytes are walked and every declared str/bin/array/map length is checked
    against the bytes remaining, nesting is capped (PD_SCHEMA_MAX_DEPTH), and
    the whole input is capped (PD_SCHEMA_MAX_INPUT).

    JSON form: an object with the same names. BIN is standard base64 text.
    From JSON (HTTP input): unknown fields are rejected (PD_E_UNKNOWN_FIELD),
    fields flagged PD_F_SERVER are ignored (mass assignment), wrong types give
    PD_E_INVALID_FIELD; missing required fields give PD_E_MISSING_FIELD from
    pd_schema_validate. null (JSON) and nil (msgpack) mean "absent". To JSON:
    fields flagged PD_F_SECRET are never written.

    Strings: formats apply to every present string, empty ones included
    (only TEXT accepts ""). Strings never contain NUL.
*/
#ifndef PD_SCHEMA_H_INCLUDED
#define PD_SCHEMA_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pd_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PD_SCHEMA_MAX_DEPTH  8             //  nesting of maps/arrays
#define PD_SCHEMA_MAX_INPUT  (1024 * 1024) //  bytes of one encoded record
#define PD_SCHEMA_MAX_FIELDS 64            //  bits in `present`

typedef enum {
    PD_T_STR,  //  char *, UTF-8, NUL-terminated; min/max = length in bytes
    PD_T_INT,  //  int64_t; min/max = value range
    PD_T_BOOL, //  bool
    PD_T_BIN,  //  pd_bin_t; min/max = size in bytes
    PD_T_OBJ,  //  pointer to the struct of schema `sub`
    PD_T_LIST  //  pd_list_t of structs of schema `sub`; max = item count
} pd_type_t;

//  Field flags
#define PD_F_REQUIRED 0x01 //  must be present when decoding/validating
#define PD_F_SERVER   0x02 //  server-owned: ignored when it comes from JSON input
#define PD_F_SECRET   0x04 //  never written to JSON (hashes, wrapped keys)

//  String formats checked by validation (in addition to min/max length)
typedef enum {
    PD_FMT_TEXT,  //  any UTF-8 without control characters except \t
    PD_FMT_TOKEN, //  [A-Za-z0-9_.:-]+ (ids, keys, codes, type names, cursors)
    PD_FMT_EMAIL, //  local@domain, no spaces, one @, a dot in the domain
    PD_FMT_URL,   //  http:// or https:// followed by at least one char, no spaces
    PD_FMT_COLOR, //  #rgb or #rrggbb
    PD_FMT_ENUM,  //  one of the '|'-separated words in field->choices
    PD_FMT_JSON   //  the compact JSON text of a string or an object (nesting within
                  //  PD_SCHEMA_MAX_DEPTH): JSON input takes either and keeps its text,
                  //  JSON output embeds it as what it is; max = bytes of the text
} pd_format_t;

typedef struct {
    uint8_t *data;
    size_t size;
} pd_bin_t;

typedef struct {
    size_t size; //  number of items
    void *items; //  size * sub->size bytes, each item a struct of sub
} pd_list_t;

typedef struct pd_schema_s pd_schema_t;

typedef struct {
    const char *name;
    pd_type_t type;
    unsigned flags;
    size_t offset;          //  offsetof the member in the record struct
    int64_t min, max;       //  see pd_type_t; max 0 on STR/BIN/LIST = no limit
    pd_format_t format;     //  PD_T_STR only
    const char *choices;    //  PD_FMT_ENUM only: "active|suspended"
    const pd_schema_t *sub; //  PD_T_OBJ and PD_T_LIST only
} pd_field_t;

struct pd_schema_s {
    const char *name; //  e.g. "partner"
    size_t size;      //  sizeof the record struct
    size_t field_count;
    const pd_field_t *fields;
};

//  A store table, declared once with what it holds (PD_STORE_TABLES in
//  pd_messages.h): actors name the table object, never a string
typedef struct {
    const char *name;          //  the store's table name
    const pd_schema_t *schema; //  the record each value is; NULL for an index (key ->
                               //  primary key) or a stream
} pd_table_t;

//  An owner index (PD_OWNER_INDEXES in pd_messages.h): `table`'s records by
//  the owner their field `owner_field` (STR) names; keys "<owner>/<id>"
typedef struct {
    const pd_table_t *index; //  the index table
    const pd_table_t *table; //  the table whose records it lists
    const char *owner_field; //  the field of those records naming the owner
    uint32_t since;          //  the layout version that added it
} pd_owner_index_t;

//  Where and why decoding or validation failed. `field` is a dotted path
//  ("branding.primary_color", "items.3.id"); `detail` is a short English
//  sentence meant for developers ("must be at most 200 bytes").
typedef struct {
    int status; //  PD_E_* (0 when no error)
    char field[96];
    char detail[160];
} pd_schema_error_t;

//  Encode a record as msgpack. On success *data is malloc'd (caller frees)
//  and PD_OK returned. PD_E_TOO_LARGE if the encoding would exceed
//  PD_SCHEMA_MAX_INPUT (no decoder would accept it), PD_E_INTERNAL on OOM.
int pd_schema_encode (const pd_schema_t *schema, const void *record, uint8_t **data, size_t *size);

//  Decode msgpack into `record` (which must be zeroed or cleared), then
//  validate it. On failure the record is cleared, err filled (may be NULL),
//  and PD_E_MALFORMED / PD_E_INVALID_FIELD / PD_E_MISSING_FIELD /
//  PD_E_TOO_LARGE (PD_E_INTERNAL on OOM) returned. Never allocates more than
//  the input can justify. Duplicate keys and nesting deeper than
//  PD_SCHEMA_MAX_DEPTH are PD_E_MALFORMED.
int pd_schema_decode (const pd_schema_t *schema, const uint8_t *data, size_t size, void *record,
                      pd_schema_error_t *err);

//  Check types, limits, formats and required fields of a record.
int pd_schema_validate (const pd_schema_t *schema, const void *record, pd_schema_error_t *err);

//  Parse a JSON text (HTTP input rules above) into `record` (zeroed). Checks
//  types, limits and formats of what is present, but NOT required fields:
//  the gateway sets path parameters first, then calls pd_schema_validate.
//  PD_E_MALFORMED for invalid JSON, a top level that is not an object or
//  nesting deeper than PD_SCHEMA_MAX_DEPTH; PD_E_TOO_LARGE for a text over
//  PD_SCHEMA_MAX_INPUT. On failure the record is cleared.
int pd_schema_from_json (const pd_schema_t *schema, const char *text, size_t size, void *record,
                         pd_schema_error_t *err);

//  Render a record as a JSON object text, omitting PD_F_SECRET fields and
//  absent fields; LIST fields always appear (empty as []). Returns a malloc'd NUL-terminated
//  string, NULL on OOM or if a string of the record is not valid UTF-8 (validate records first).
char *pd_schema_to_json (const pd_schema_t *schema, const void *record);

//  Set one top-level field from text (path or query parameter): STR copied,
//  INT parsed as decimal, BOOL from "true"/"false"; then checked against the
//  field's limits. PD_E_UNKNOWN_FIELD if the schema has no such field,
//  PD_E_INVALID_FIELD if the text does not parse or fit.
int pd_schema_set_text (const pd_schema_t *schema, void *record, const char *field,
                        const char *text, pd_schema_error_t *err);

//  Find a field by name; NULL if none. Index via *index if not NULL.
const pd_field_t *pd_schema_field (const pd_schema_t *schema, const char *name, size_t *index);

//  Mark every field present (for a complete record built in code).
void pd_schema_mark_all (const pd_schema_t *schema, void *record);

//  Deep copy src into dst (dst zeroed). PD_OK or PD_E_INTERNAL on OOM.
int pd_schema_copy (const pd_schema_t *schema, void *dst, const void *src);

//  Free everything the record owns and zero it. Safe on a zeroed record.
void pd_schema_clear (const pd_schema_t *schema, void *record);

//  Set a string field: frees the old value, copies `value` (NULL clears).
//  Returns PD_OK or PD_E_INTERNAL on OOM. For use by actors on their records.
int pd_schema_set_str (char **field, const char *value);

//  Fill err (may be NULL) and return status: for modules reporting an error
//  in the same shape as the codec does.
int pd_schema_fail (pd_schema_error_t *err, int status, const char *field, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

#ifdef __cplusplus
}
#endif
#endif
