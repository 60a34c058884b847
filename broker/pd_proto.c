/*  pd_proto - frames of the partnerd broker protocol (PDP/1)

    See pd_proto.h for the contract and schemas/PROTOCOL.md for the wire
    specification. Everything here is a pure function of its arguments.
*/
#include "pd_proto.h"
#include "pd_messages.h"

#include <stdlib.h>
#include <string.h>

//  Longest `detail` of an error body: the `error` record's limit

//  --------------------------------------------------------------------------
//  Big-endian integer frames

zframe_t *
pd_proto_u16 (uint16_t value)
{
    byte data[2] = {(byte)(value >> 8), (byte)value};
    return zframe_new (data, sizeof (data));
}

zframe_t *
pd_proto_u32 (uint32_t value)
{
    byte data[4];
    for (int i = 3; i >= 0; i--, value >>= 8)
        data[i] = (byte)value;
    return zframe_new (data, sizeof (data));
}

zframe_t *
pd_proto_u64 (uint64_t value)
{
    byte data[8];
    for (int i = 7; i >= 0; i--, value >>= 8)
        data[i] = (byte)value;
    return zframe_new (data, sizeof (data));
}

//  Read a big-endian unsigned integer of exactly `size` bytes
static int
s_get_uint (zframe_t *frame, size_t size, uint64_t *value)
{
    if (!frame || zframe_size (frame) != size)
        return -1;
    const byte *data = zframe_data (frame);
    uint64_t result = 0;
    for (size_t i = 0; i < size; i++)
        result = (result << 8) | data[i];
    *value = result;
    return 0;
}

int
pd_proto_get_u16 (zframe_t *frame, uint16_t *value)
{
    uint64_t wide;
    if (s_get_uint (frame, 2, &wide))
        return -1;
    *value = (uint16_t)wide;
    return 0;
}

int
pd_proto_get_u32 (zframe_t *frame, uint32_t *value)
{
    uint64_t wide;
    if (s_get_uint (frame, 4, &wide))
        return -1;
    *value = (uint32_t)wide;
    return 0;
}

int
pd_proto_get_u64 (zframe_t *frame, uint64_t *value)
{
    return s_get_uint (frame, 8, value);
}

//  --------------------------------------------------------------------------
//  Signature and command

zmsg_t *
pd_proto_msg (pd_pdp_command_t command)
{
    zmsg_t *msg = zmsg_new ();
    byte code = (byte)command;
    zmsg_addmem (msg, PD_PROTO_SIGNATURE, strlen (PD_PROTO_SIGNATURE));
    zmsg_addmem (msg, &code, 1);
    return msg;
}

int
pd_proto_take_command (zmsg_t *msg)
{
    if (!msg)
        return -1;
    zframe_t *signature = zmsg_pop (msg);
    zframe_t *command = zmsg_pop (msg);
    int result = -1;
    size_t signature_size = strlen (PD_PROTO_SIGNATURE);
    if (signature && command && zframe_size (signature) == signature_size &&
        memcmp (zframe_data (signature), PD_PROTO_SIGNATURE, signature_size) == 0 &&
        zframe_size (command) == 1) {
        int code = zframe_data (command)[0];
        switch (code) {
#define S_KNOWN(name, value) case value:
            PD_PDP_COMMANDS (S_KNOWN)
#undef S_KNOWN
            result = code;
            break;
        default:
            break;
        }
    }
    zframe_destroy (&signature);
    zframe_destroy (&command);
    return result;
}

//  --------------------------------------------------------------------------
//  Error body

//  Cut text at a UTF-8 character boundary to fit a field of at most `max`
//  bytes; 0 when it fits as it is, else the length kept
static size_t
s_cut (const char *text, int64_t max)
{
    size_t size = text ? strlen (text) : 0;
    if (max <= 0 || size <= (size_t)max)
        return 0;
    size = (size_t)max;
    while (size > 0 && ((unsigned char)text[size] & 0xC0) == 0x80)
        size--;
    return size;
}

zframe_t *
pd_proto_error_body (int status, const char *field, const char *detail)
{
    //  The `error` record of schemas/pd_messages.h, encoded by its schema;
    //  detail and field cut to the schema's limits
    pd_error_t error = {0};
    error.code = (char *)pd_status_code (status);
    char *detail_cut = NULL, *field_cut = NULL;
    size_t keep = s_cut (detail, pd_schema_field (&pd_error_schema, "detail", NULL)->max);
    error.detail = keep ? (detail_cut = strndup (detail, keep)) : (char *)detail;
    keep = s_cut (field, pd_schema_field (&pd_error_schema, "field", NULL)->max);
    error.field =
        field && *field ? (keep ? (field_cut = strndup (field, keep)) : (char *)field) : NULL;
    uint8_t *data = NULL;
    size_t size = 0;
    int rc = pd_schema_encode (&pd_error_schema, &error, &data, &size);
    //  Out of memory: an empty body still carries the status frame
    zframe_t *frame = rc == PD_OK ? zframe_new (data, size) : zframe_new_empty ();
    free (data);
    free (detail_cut);
    free (field_cut);
    return frame;
}

void
pd_proto_set_options (zsock_t *sock)
{
    assert (sock);
    zsock_set_linger (sock, 0);
    zsock_set_sndhwm (sock, PD_PROTO_HWM);
    zsock_set_rcvhwm (sock, PD_PROTO_HWM);
    zsock_set_maxmsgsize (sock, PD_PROTO_MAX_MSG_SIZE);
    zsock_set_sndtimeo (sock, 0);
    zsock_set_rcvtimeo (sock, 0);
}
