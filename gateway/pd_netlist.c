/*  pd_netlist - a list of IP networks (see pd_netlist.h)

    Every address is kept as 16 bytes (IPv4 as IPv4-mapped IPv6) with a
    prefix length counted in those 128 bits, so one comparison serves both
    families.
*/
#include "pd_netlist.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_BITS       128
#define S_V4_OFFSET  96 //  bits before an IPv4 address in its mapped form
#define S_TEXT_MAX   64 //  bytes of one entry ("ffff:...:ffff/128" fits)
#define S_SEPARATORS ", \t"

typedef struct {
    uint8_t bytes[16];
    unsigned prefix; //  leading bits that must match
} s_net_t;

struct _pd_netlist_t {
    s_net_t nets[PD_NETLIST_MAX];
    size_t size;
};

//  Numeric address text -> 16 bytes; 0 or -1. A zone ("%eth0") is cut.
static int
s_parse_address (const char *text, uint8_t bytes[16], bool *v4)
{
    char copy[S_TEXT_MAX];
    if (!text || strlen (text) >= sizeof (copy))
        return -1;
    snprintf (copy, sizeof (copy), "%s", text);
    copy[strcspn (copy, "%")] = '\0';
    struct in_addr addr4;
    if (inet_pton (AF_INET, copy, &addr4) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        memcpy (bytes, mapped, sizeof (mapped));
        memcpy (bytes + 12, &addr4, 4);
        *v4 = true;
        return 0;
    }
    struct in6_addr addr6;
    if (inet_pton (AF_INET6, copy, &addr6) == 1) {
        memcpy (bytes, &addr6, 16);
        *v4 = IN6_IS_ADDR_V4MAPPED (&addr6);
        return 0;
    }
    return -1;
}

static bool
s_matches (const s_net_t *net, const uint8_t bytes[16])
{
    unsigned full = net->prefix / 8, rest = net->prefix % 8;
    if (memcmp (net->bytes, bytes, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xFF << (8 - rest));
    return (net->bytes[full] & mask) == (bytes[full] & mask);
}

//  One entry "ADDRESS" or "ADDRESS/BITS"; 0 or -1
static int
s_parse_net (const char *text, s_net_t *net)
{
    char copy[S_TEXT_MAX];
    snprintf (copy, sizeof (copy), "%s", text);
    char *slash = strchr (copy, '/');
    if (slash)
        *slash = '\0';
    bool v4 = false;
    if (s_parse_address (copy, net->bytes, &v4) != 0 || strchr (copy, '%'))
        return -1;
    unsigned max = v4 ? S_BITS - S_V4_OFFSET : S_BITS;
    unsigned bits = max;
    if (slash) {
        char *end = NULL;
        long parsed = strtol (slash + 1, &end, 10);
        if (!slash[1] || *end || parsed < 0 || parsed > (long)max)
            return -1;
        bits = (unsigned)parsed;
    }
    net->prefix = v4 ? bits + S_V4_OFFSET : bits;
    //  Host bits beyond the prefix are ignored: 10.1.2.3/8 is 10.0.0.0/8
    return 0;
}

pd_netlist_t *
pd_netlist_new (const char *text, char *error, size_t size)
{
    pd_netlist_t *self = (pd_netlist_t *)calloc (1, sizeof (pd_netlist_t));
    if (!self) {
        snprintf (error, size, "out of memory");
        return NULL;
    }
    const char *cursor = text ? text : "";
    while (*(cursor += strspn (cursor, S_SEPARATORS))) {
        size_t len = strcspn (cursor, S_SEPARATORS);
        char entry[S_TEXT_MAX];
        s_net_t net;
        if (len >= sizeof (entry) || self->size == PD_NETLIST_MAX) {
            snprintf (error, size, "%s",
                      len >= sizeof (entry) ? "entry too long" : "too many entries");
            pd_netlist_destroy (&self);
            return NULL;
        }
        memcpy (entry, cursor, len);
        entry[len] = '\0';
        if (s_parse_net (entry, &net) != 0) {
            snprintf (error, size, "'%s' is no IP address or CIDR network", entry);
            pd_netlist_destroy (&self);
            return NULL;
        }
        self->nets[self->size++] = net;
        cursor += len;
    }
    return self;
}

void
pd_netlist_destroy (pd_netlist_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

bool
pd_netlist_has (const pd_netlist_t *self, const char *address)
{
    uint8_t bytes[16];
    bool v4;
    if (!self || self->size == 0 || s_parse_address (address, bytes, &v4) != 0)
        return false;
    for (size_t i = 0; i < self->size; i++)
        if (s_matches (&self->nets[i], bytes))
            return true;
    return false;
}

size_t
pd_netlist_size (const pd_netlist_t *self)
{
    return self ? self->size : 0;
}
