/*  pd_proto - frames of the partnerd broker protocol (PDP/1)

    See pd_proto.h for the contract and schemas/PROTOCOL.md for the wire
    specification. Everything here is a pure function of its arguments.
*/
#include "pd_proto.h"

#include <msgpack.h>
#include <string.h>

//  Longest `detail` of an error body: the `error` record's limit
#define S_MAX_DETAIL 512

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
pd_proto_msg (pd_proto_command_t command)
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
        if (code >= PD_PROTO_READY && code <= PD_PROTO_PUBLISH)
            result = code;
    }
    zframe_destroy (&signature);
    zframe_destroy (&command);
    return result;
}

//  --------------------------------------------------------------------------
//  Error body

static int
s_pack_str (msgpack_packer *packer, const char *string, size_t size)
{
    int rc = msgpack_pack_str (packer, size);
    return rc ? rc : msgpack_pack_str_body (packer, string, size);
}

zframe_t *
pd_proto_error_body (int status, const char *detail)
{
    const char *code = pd_status_code (status);
    size_t detail_size = detail ? strlen (detail) : 0;
    if (detail_size > S_MAX_DETAIL) {
        //  Cut on a UTF-8 character boundary
        detail_size = S_MAX_DETAIL;
        while (detail_size > 0 && ((byte)detail[detail_size] & 0xC0) == 0x80)
            detail_size--;
    }
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    int rc = msgpack_pack_map (&packer, detail ? 2 : 1);
    if (!rc)
        rc = s_pack_str (&packer, "code", strlen ("code"));
    if (!rc)
        rc = s_pack_str (&packer, code, strlen (code));
    if (!rc && detail)
        rc = s_pack_str (&packer, "detail", strlen ("detail"));
    if (!rc && detail)
        rc = s_pack_str (&packer, detail, detail_size);
    //  Out of memory: an empty body still carries the status frame
    zframe_t *frame = rc ? zframe_new_empty () : zframe_new (buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
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
