/*  pd_framing - the request framing rules CivetWeb 1.15 does not enforce
    (see pd_framing.h)

    The structural rules need the raw head, which CivetWeb does not hand
    out. It parses the head in place, in its connection buffer, and the
    strings it hands out point into that buffer:
    - the request line's version is followed by its line end and any
      whitespace after it, all turned into NULs;
    - each field name ends where its colon (or the first space before the
      colon) was turned into NUL, spaces before the colon into NULs too;
    - each value is followed by its line end, CR and LF turned into NULs;
    - the head's last byte (the LF of the empty line) is zeroed.
    So a head of CRLF lines is exactly: version, 2 NULs, the first name;
    each value, 2 NULs, the next name; the last value, then NUL NUL CR NUL.
    Any other distance or byte is a line CivetWeb read differently from
    what it is: whitespace before the first field or before a colon, a bare
    LF, an obs-fold or nameless line after which CivetWeb stopped parsing.
    Every byte read lies between two strings of the head, or in the four
    bytes that end it. The exception is a head that ends in bare LF: the
    third byte after its last value is then the first byte after the head.
    That byte is inside CivetWeb's buffer unless the head fills the buffer
    exactly; heads that come within S_END_MARGIN of it, measured from the
    method, are refused before it is read, so only a head also preceded by
    that much whitespace could make the read touch the byte after the
    buffer (a malloc chunk header: compared, never used).
    test_pd_framing and test_http_edges send each case through the real
    CivetWeb.
*/
#include "pd_framing.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define S_END_MARGIN 1024 //  bytes kept clear of the end of CivetWeb's buffer

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

//  Two NULs, then `next`: a CRLF line end between two strings of the head
static bool
s_crlf_then (const char *end, const char *next)
{
    return end[0] == '\0' && end[1] == '\0' && end + 2 == next;
}

//  The head ends after `last`, the last value: NUL NUL CR NUL, read byte by
//  byte and stopping at the first that differs
static bool
s_head_ends_after (const char *end)
{
    static const char ending[] = {'\0', '\0', '\r', '\0'};
    for (size_t i = 0; i < sizeof (ending); i++)
        if (end[i] != ending[i])
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
    if (info->http_version && strcmp (info->http_version, "1.0") == 0 && encodings)
        return "Transfer-Encoding in an HTTP/1.0 request";
    if (!info->http_version || !info->request_method)
        return "malformed request line";

    //  The head's structure (see above): the version (after "HTTP/") ends
    //  the request line
    const char *end = info->http_version + strlen (info->http_version);
    if (info->num_headers == 0)
        return s_crlf_then (end, end + 2) && end[2] == '\0' && end[3] == '\0'
                   ? NULL
                   : "malformed request head (bare LF or an unparsed line)";
    for (int i = 0; i < info->num_headers; i++) {
        if (!s_crlf_then (end, info->http_headers[i].name))
            return "malformed request head (whitespace before a field, or bare LF)";
        end = info->http_headers[i].value + strlen (info->http_headers[i].value);
    }
    if (end + S_END_MARGIN - info->request_method > PD_FRAMING_MAX_HEAD)
        return "request head too large";
    if (!s_head_ends_after (end))
        return "malformed request head (obs-fold, bare LF or an unparsed line)";
    return NULL;
}
