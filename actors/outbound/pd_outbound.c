/*  pd_outbound - every call partnerd makes to the outside (see pd_outbound.h)
 */
#include "pd_outbound.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "pd_status.h"

//  ------------------------------------------------------------------------
//  The address policy

static bool
s_ipv4_refused (uint32_t a)
{
    return (a >> 24) == 0                      //  0.0.0.0/8, "this network"
           || (a >> 24) == 127                 //  loopback
           || (a >> 24) == 10                  //  private
           || (a >> 20) == ((172u << 4) | 1)   //  172.16.0.0/12 private
           || (a >> 16) == ((192u << 8) | 168) //  192.168.0.0/16 private
           || (a >> 16) == ((169u << 8) | 254) //  link-local (cloud metadata)
           || (a >> 22) == ((100u << 2) | 1)   //  100.64.0.0/10 CGNAT
           || (a >> 28) >= 14;                 //  multicast, reserved, broadcast
}

static bool
s_ipv6_refused (const uint8_t *b)
{
    static const uint8_t zero[10] = {0};
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    uint32_t embedded = ((uint32_t)b[12] << 24) | ((uint32_t)b[13] << 16) | ((uint32_t)b[14] << 8) |
                        (uint32_t)b[15];
    if (memcmp (b, zero, 10) == 0 && b[10] == 0xff && b[11] == 0xff)
        return s_ipv4_refused (embedded); //  ::ffff:0:0/96, IPv4-mapped
    if (memcmp (b, nat64, 12) == 0)
        return s_ipv4_refused (embedded); //  64:ff9b::/96, NAT64
    if (memcmp (b, zero, 10) == 0 && b[10] == 0 && b[11] == 0)
        return true;                                   //  ::, ::1 and deprecated IPv4-compatible
    return b[0] == 0xff                                //  multicast
           || (b[0] & 0xfe) == 0xfc                    //  fc00::/7 unique-local
           || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)  //  fe80::/10 link-local
           || (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0); //  fec0::/10 old site-local
}

bool
pd_outbound_address_refused (const struct sockaddr *address)
{
    if (address->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)address;
        return s_ipv4_refused (ntohl (in->sin_addr.s_addr));
    }
    if (address->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)address;
        return s_ipv6_refused (in6->sin6_addr.s6_addr);
    }
    return true; //  unknown families are
}

bool
pd_outbound_scheme_allowed (const pd_outbound_policy_t *policy, const char *url)
{
    return url && (strncasecmp (url, "https://", 8) == 0 ||
                   (policy->allow_insecure && strncasecmp (url, "http://", 7) == 0));
}

//  ------------------------------------------------------------------------
//  One call

typedef struct {
    const pd_outbound_policy_t *policy;
    pd_outbound_response_t *response;
    size_t limit;    //  of the body
    size_t capacity; //  of response->body
    bool too_large;  //  the body passed the limit
    char refused_address[INET6_ADDRSTRLEN];
} s_call_t;

static curl_socket_t
s_open_socket (void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
    s_call_t *call = (s_call_t *)clientp;
    if (purpose != CURLSOCKTYPE_IPCXN)
        return CURL_SOCKET_BAD;
    if (!call->policy->allow_insecure && pd_outbound_address_refused (&address->addr)) {
        call->response->refused = true;
        const void *raw = address->family == AF_INET6
                              ? (const void *)&((struct sockaddr_in6 *)&address->addr)->sin6_addr
                              : (const void *)&((struct sockaddr_in *)&address->addr)->sin_addr;
        if (!inet_ntop (address->family, raw, call->refused_address,
                        sizeof (call->refused_address)))
            snprintf (call->refused_address, sizeof (call->refused_address), "family %d",
                      address->family);
        return CURL_SOCKET_BAD;
    }
    return socket (address->family, address->socktype, address->protocol);
}

static size_t
s_write_body (char *data, size_t size, size_t count, void *userp)
{
    s_call_t *call = (s_call_t *)userp;
    pd_outbound_response_t *response = call->response;
    size_t bytes = size * count;
    if (response->size + bytes > call->limit) {
        call->too_large = true;
        return 0; //  aborts the transfer
    }
    if (response->size + bytes + 1 > call->capacity) {
        size_t capacity = call->capacity ? call->capacity * 2 : 4096;
        while (capacity < response->size + bytes + 1)
            capacity *= 2;
        char *grown = (char *)malloc (capacity);
        if (!grown)
            return 0;
        if (response->body) {
            memcpy (grown, response->body, response->size);
            OPENSSL_cleanse (response->body, call->capacity); //  no copy of a secret left
            free (response->body);
        }
        response->body = grown;
        call->capacity = capacity;
    }
    memcpy (response->body + response->size, data, bytes);
    response->size += bytes;
    response->body[response->size] = 0;
    return bytes;
}

//  Retry-After in seconds, from the response's headers
static size_t
s_on_header (char *data, size_t size, size_t count, void *userp)
{
    s_call_t *call = (s_call_t *)userp;
    size_t bytes = size * count;
    if (bytes > 12 && strncasecmp (data, "retry-after:", 12) == 0) {
        char value[32];
        size_t length = bytes - 12 < sizeof (value) - 1 ? bytes - 12 : sizeof (value) - 1;
        memcpy (value, data + 12, length);
        value[length] = 0;
        long seconds = strtol (value, NULL, 10);
        call->response->retry_after_s = seconds > 0 && seconds <= 86400 ? (int)seconds : 0;
    }
    return bytes;
}

static int64_t
s_now_us (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

int
pd_outbound_fetch (CURL *curl, const pd_outbound_policy_t *policy,
                   const pd_outbound_request_t *request, pd_outbound_response_t *response)
{
    memset (response, 0, sizeof (*response));
    if (!pd_outbound_scheme_allowed (policy, request->url)) {
        response->refused = true;
        snprintf (response->error, sizeof (response->error), "scheme not allowed");
        return PD_E_FORBIDDEN;
    }
    if (!curl) {
        snprintf (response->error, sizeof (response->error), "no curl handle");
        return PD_E_UNAVAILABLE;
    }
    s_call_t call = {.policy = policy,
                     .response = response,
                     .limit =
                         policy->max_response ? policy->max_response : PD_OUTBOUND_MAX_RESPONSE};
    long timeout_ms = policy->timeout_ms > 0 ? policy->timeout_ms : PD_OUTBOUND_TIMEOUT_MS;
    curl_easy_reset (curl);
    struct curl_slist *headers = NULL;
    bool listed = true;
    for (size_t i = 0; request->headers && request->headers[i] && listed; i++) {
        struct curl_slist *more = curl_slist_append (headers, request->headers[i]);
        listed = more != NULL;
        headers = more ? more : headers;
    }
    char content_type[128];
    if (listed && request->body && request->content_type) {
        snprintf (content_type, sizeof (content_type), "Content-Type: %s", request->content_type);
        struct curl_slist *more = curl_slist_append (headers, content_type);
        listed = more != NULL;
        headers = more ? more : headers;
    }
    const char *protocols = policy->allow_insecure ? "http,https" : "https";
    CURLcode code = listed ? CURLE_OK : CURLE_OUT_OF_MEMORY;
    //  Every option below matters for safety: stop at the first refused
#define S_SET(option, value)                                                                       \
    do {                                                                                           \
        if (code == CURLE_OK)                                                                      \
            code = curl_easy_setopt (curl, option, value);                                         \
    } while (0)
    S_SET (CURLOPT_URL, request->url);
    S_SET (CURLOPT_PROTOCOLS_STR, protocols);
    S_SET (CURLOPT_REDIR_PROTOCOLS_STR, protocols);
    S_SET (CURLOPT_FOLLOWLOCATION, 0L);
    S_SET (CURLOPT_PROXY, ""); //  no proxy, not even from the environment
    S_SET (CURLOPT_NOSIGNAL, 1L);
    S_SET (CURLOPT_TIMEOUT_MS, timeout_ms);
    S_SET (CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    S_SET (CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)call.limit);
    S_SET (CURLOPT_SSL_VERIFYPEER, 1L);
    S_SET (CURLOPT_SSL_VERIFYHOST, 2L);
    S_SET (CURLOPT_OPENSOCKETFUNCTION, s_open_socket);
    S_SET (CURLOPT_OPENSOCKETDATA, &call);
    S_SET (CURLOPT_WRITEFUNCTION, s_write_body);
    S_SET (CURLOPT_WRITEDATA, &call);
    S_SET (CURLOPT_HEADERFUNCTION, s_on_header);
    S_SET (CURLOPT_HEADERDATA, &call);
    S_SET (CURLOPT_USERAGENT, PD_OUTBOUND_USER_AGENT);
    if (headers)
        S_SET (CURLOPT_HTTPHEADER, headers);
    if (request->body) {
        S_SET (CURLOPT_POSTFIELDS, request->body);
        S_SET (CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)request->body_size);
    }
#undef S_SET
    int64_t start = s_now_us ();
    if (code == CURLE_OK)
        code = curl_easy_perform (curl);
    response->latency_us = s_now_us () - start;
    if (code == CURLE_OK)
        code = curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &response->status);
    //  The handle keeps no pointer to the body (a secret) or to this call
    curl_easy_reset (curl);
    curl_slist_free_all (headers);

    if (response->refused || code != CURLE_OK) {
        //  Whatever came before the failure goes
        if (response->body)
            OPENSSL_cleanse (response->body, call.capacity);
        free (response->body);
        response->body = NULL;
        response->size = 0;
    }
    if (response->refused) {
        response->status = 0;
        snprintf (response->error, sizeof (response->error), "address %s not allowed",
                  call.refused_address);
        return PD_E_FORBIDDEN;
    }
    if (code != CURLE_OK) {
        response->status = 0;
        snprintf (response->error, sizeof (response->error), "%s",
                  call.too_large ? "response too large" : curl_easy_strerror (code));
        return PD_E_UNAVAILABLE;
    }
    return PD_OK;
}

void
pd_outbound_response_clear (pd_outbound_response_t *response)
{
    if (response->body) {
        OPENSSL_cleanse (response->body, response->size);
        free (response->body);
    }
    memset (response, 0, sizeof (*response));
}
