/*  pd_netlist - a list of IP networks, and whether an address is in it

    Text form: addresses or CIDR networks separated by commas and spaces,
    IPv4 and IPv6: "127.0.0.1, 10.0.0.0/8, fd00::/8, ::1". An IPv4-mapped
    IPv6 address (::ffff:10.1.2.3) is the IPv4 address it maps. Used for the
    trusted proxies (whose X-Forwarded-For is believed and whose connections
    are not limited per address).
*/
#ifndef PD_NETLIST_H_INCLUDED
#define PD_NETLIST_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _pd_netlist_t pd_netlist_t;

#define PD_NETLIST_MAX 64 //  networks in one list

//  Parse `text` (NULL or "" = the empty list). NULL on a malformed entry,
//  with the reason in error (size bytes).
pd_netlist_t *pd_netlist_new (const char *text, char *error, size_t size);
void pd_netlist_destroy (pd_netlist_t **self_p);

//  Is the numeric address (as getnameinfo NI_NUMERICHOST writes it; an
//  IPv6 zone "%eth0" is ignored) in one of the networks? false for NULL,
//  the empty list, or text that is no address.
bool pd_netlist_has (const pd_netlist_t *self, const char *address);

//  Number of networks.
size_t pd_netlist_size (const pd_netlist_t *self);

#ifdef __cplusplus
}
#endif
#endif
