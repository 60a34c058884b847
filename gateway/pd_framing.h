/*  pd_framing - the request framing rules CivetWeb 1.15 does not enforce

    RFC 9112 asks a server to refuse, with 400 and by closing the
    connection, every request whose framing two parsers could read
    differently (the root of request smuggling behind a proxy). CivetWeb
    1.15 accepts them: it lets Transfer-Encoding win over Content-Length,
    takes the first of two Content-Length headers, reads "5, 5" as 5, stops
    parsing headers at an obs-fold continuation line (so a Content-Length
    after it is lost), and accepts whitespace between a field name and its
    colon. pd_framing_check looks at the request CivetWeb parsed and names
    the first rule it breaks:
    - the target is origin-form (starts with '/'): no absolute-form or '*';
    - at most one Content-Length, 1..18 ASCII digits (no sign, list or
      space);
    - at most one Transfer-Encoding, and it is exactly "chunked";
    - never both Content-Length and Transfer-Encoding;
    - HTTP/1.1 has exactly one Host;
    - no Transfer-Encoding in HTTP/1.0;
    - field names are tokens (RFC 9110 5.6.2), with no whitespace before
      the colon;
    - every line ends in CRLF, no whitespace before the first field, and
      no line of the head is left unparsed (obs-fold, a line with no name).
    The last two read the head CivetWeb parsed in place (see pd_framing.c).
*/
#ifndef PD_FRAMING_H_INCLUDED
#define PD_FRAMING_H_INCLUDED

#include <civetweb.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PD_FRAMING_MAX_LENGTH_DIGITS 18    //  a Content-Length of 19 digits may not fit int64
#define PD_FRAMING_MAX_HEAD          16384 //  CivetWeb's buffer (max_request_size)

//  NULL if the request keeps every rule above, else a short reason (a
//  static string) to answer with 400 before closing the connection.
const char *pd_framing_check (const struct mg_request_info *info);

#ifdef __cplusplus
}
#endif
#endif
