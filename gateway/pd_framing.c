/*  pd_framing - the request framing rules CivetWeb 1.15 does not enforce
    (see pd_framing.h)

    Two rules need the raw head, which CivetWeb does not hand out. It
    parses the head in place, in its connection buffer: each field name
    ends where its colon (or the first space before the colon) was turned
    into NUL, the spaces before the colon into NULs too, and each line's CR
    and LF into NULs; the value strings point into that buffer. So:
    - whitespace before the colon shows as a second NUL right after the
      name's terminator, before the value begins;
    - after the last value CivetWeb parsed, a complete head continues with
      "\0\0\r\0" (that line's CRLF, then the empty line's CR and its LF,
      which CivetWeb zeroes as the head's last byte). Anything else there
      (a space or tab: obs-fold; any other byte: a line CivetWeb could not
      parse as a field) is a line of the head CivetWeb left out.
    The bytes read lie inside the head for every head ending in CRLF CRLF.
    A head ending in bare LFs is refused here too (RFC 9112 2.2 lets a
    server refuse them); for it the third byte read is the first byte after
    the head, which is still inside CivetWeb's buffer unless the head fills
    it exactly (then it is the allocation's slack). The integration test
    test_http_edges sends each case through the real CivetWeb.
*/
#include "pd_framing.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

//  RFC 9110 5.6.2: tchar
static bool
s_is_token (const char *text)
{
    static const char specials[] = "!#$%&'*+-.^_`|~";
    if (!text || !*text)
        return false;
    for (const char *c = text; *c; c++) {
        unsigned char u = (unsigned char)*c;
        bool alnum = (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z');
        if (!alnum && !strchr (specials, u))
            return false;
    }
    return true;
}

static bool
s_is_length (const char *value)
{
    size_t digits = strspn (value, "0123456789");
    return digits > 0 && digits <= PD_FRAMING_MAX_LENGTH_DIGITS && value[digits] == '\0';
}

//  A NUL right after the name's terminating NUL, before the value starts:
//  CivetWeb zeroed whitespace between the name and the colon
static bool
s_space_before_colon (const struct mg_header *header)
{
    const char *after = header->name + strlen (header->name) + 1;
    return after < header->value && *after == '\0';
}

//  Does the head end right after `last`, the last string CivetWeb parsed?
//  With fields: "\0\0\r\0" (see above). Without: the request line's CR,
//  LF and the empty line's CR are zeroed as spaces after the version, and
//  the last LF as the head's last byte: "\0\0\0\0". Reads byte by byte and
//  stops at the first that differs.
static bool
s_head_ends_after (const char *last, bool fields)
{
    static const char with_fields[] = {'\0', '\0', '\r', '\0'};
    static const char without[] = {'\0', '\0', '\0', '\0'};
    const char *ending = fields ? with_fields : without;
    const char *cursor = last + strlen (last);
    for (size_t i = 0; i < sizeof (with_fields); i++)
        if (cursor[i] != ending[i])
            return false;
    return true;
}

const char *
pd_framing_check (const struct mg_request_info *info)
{
    if (!info->request_uri || info->request_uri[0] != '/')
        return "request target must be a path (origin-form)";
    int lengths = 0, encodings = 0, hosts = 0;
    for (int i = 0; i < info->num_headers; i++) {
        const struct mg_header *header = &info->http_headers[i];
        if (!s_is_token (header->name) || s_space_before_colon (header))
            return "malformed header field name";
        if (strcasecmp (header->name, "Content-Length") == 0) {
            if (++lengths > 1 || !s_is_length (header->value))
                return "Content-Length must be one decimal number";
        } else if (strcasecmp (header->name, "Transfer-Encoding") == 0) {
            if (++encodings > 1 || strcasecmp (header->value, "chunked") != 0)
                return "Transfer-Encoding must be one 'chunked'";
        } else if (strcasecmp (header->name, "Host") == 0)
            hosts++;
    }
    if (lengths && encodings)
        return "Content-Length and Transfer-Encoding together";
    if (info->http_version && strcmp (info->http_version, "1.1") == 0 && hosts != 1)
        return "HTTP/1.1 needs exactly one Host";
    //  The version string (after "HTTP/") ends the request line
    const char *last = info->num_headers > 0 ? info->http_headers[info->num_headers - 1].value
                                             : info->http_version;
    if (last && !s_head_ends_after (last, info->num_headers > 0))
        return "malformed request head (obs-fold, bare LF or an unparsed line)";
    return NULL;
}
