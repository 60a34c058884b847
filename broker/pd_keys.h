/*  pd_keys - the cluster's CURVE keys, its allow-list and what is private

    A cluster directory (made by `partnerctl keys init DIR`, mode 0700)
    holds:
      broker.key   the broker's keypair                          (mode 0600)
      allow.list   who may connect to the broker, and as what    (mode 0600)
      NAME.key     one keypair per process, with the broker's public key
                   (made by `partnerctl keys add`; copy it to the process's
                   host, mode 0600)

    A key file is lines `field value`, fields `public` and `secret` (Z85,
    40 characters) and, in a process's file, `server` (the broker's public
    key). Lines starting with '#' and empty lines are comments.

    The allow-list is lines `NAME ROLE PUBLIC-KEY [SERVICES]`, SERVICES a
    comma-separated list (role actor only, and required there). A role says
    what its keys may do on the broker's sockets:

      role      READY (serve)     REQUEST (call)          PUBLISH  subscribe
      gateway   -                 any service             -        yes
      actor     its SERVICES      -                       yes      -
      front     appliances        claim, stream           -        yes
      tail      -                 stream                  -        yes

    Every secret file is refused unless it is a regular file (not a
    symlink), owned by the effective user and not readable or writable by
    group or others. Loaders return an error text for the caller to print;
    nothing here logs.
*/
#ifndef PD_KEYS_H_INCLUDED
#define PD_KEYS_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PD_KEYS_Z85          40           //  a CURVE key in Z85
#define PD_KEYS_NAME_MAX     64           //  bytes of a process name
#define PD_KEYS_SERVICES_MAX 16           //  services an actor key may serve
#define PD_KEYS_SERVICE_MAX  64           //  bytes of a service name (PD_PROTO_MAX_SERVICE)
#define PD_KEYS_ALLOW_MAX    1024         //  entries of an allow-list
#define PD_KEYS_LINE_MAX     2048         //  bytes of a line in a key or allow-list file
#define PD_KEYS_ERROR_MAX    512          //  a good size for error buffers
#define PD_KEYS_BROKER_FILE  "broker.key" //  in the cluster directory
#define PD_KEYS_ALLOW_FILE   "allow.list" //  in the cluster directory
#define PD_KEYS_SUFFIX       ".key"       //  NAME.key

//  What the fixed roles serve and call (pd_front.c's service; a front calls
//  the services of the messages PD_LINK_TYPES carries, and the audit
//  stream's history; test_pd_front checks they agree)
#define PD_KEYS_FRONT_SERVES "appliances"
#define PD_KEYS_TAIL_CALLS   "stream"

typedef enum {
    PD_KEYS_GATEWAY = 1,
    PD_KEYS_ACTOR = 2,
    PD_KEYS_FRONT = 3,
    PD_KEYS_TAIL = 4
} pd_keys_role_t;

//  A process's credentials, or the broker's own keypair (server_key "")
typedef struct {
    char public_key[PD_KEYS_Z85 + 1];
    char secret_key[PD_KEYS_Z85 + 1];
    char server_key[PD_KEYS_Z85 + 1]; //  the broker's public key
} pd_keys_pair_t;

//  One allow-list entry
typedef struct {
    char name[PD_KEYS_NAME_MAX + 1];
    pd_keys_role_t role;
    char public_key[PD_KEYS_Z85 + 1];
    char services[PD_KEYS_SERVICES_MAX][PD_KEYS_SERVICE_MAX + 1]; //  role actor
    size_t service_count;
} pd_keys_entry_t;

typedef struct _pd_keys_allow_t pd_keys_allow_t;
typedef struct _pd_keys_cluster_t pd_keys_cluster_t;

//  --- Private files and directories ----------------------------------------

//  Is the open file `fd` private: a regular file owned by the effective
//  user with no group or other permission bits? 0, or -1 with the reason
//  in error (`path` names it).
int pd_keys_check_private (int fd, const char *path, char *error, size_t size);

//  Open `path` for reading without following a symlink, and check it as
//  above. The descriptor (caller closes), or -1 with the reason in error.
int pd_keys_open_private (const char *path, char *error, size_t size);

//  Is `path` a directory owned by the effective user, of mode 0700? 0, or
//  -1 with the reason (and the fix) in error.
int pd_keys_check_private_dir (const char *path, char *error, size_t size);

//  Is every comma-separated endpoint unreachable by other local users:
//  inproc://, or ipc:// whose socket file is in a directory that passes
//  pd_keys_check_private_dir? true, or false with the first endpoint that
//  is not in `endpoint` (size bytes).
bool pd_keys_endpoints_private (const char *endpoints, char *endpoint, size_t size);

//  --- Keypairs ----------------------------------------------------------

//  A new keypair (server_key ""). 0, or -1 if libzmq has no CURVE.
int pd_keys_pair_generate (pd_keys_pair_t *pair);

//  Load a key file (see the top). `need_server`: the `server` field is
//  required (a process's file) or refused (the broker's). 0, or -1 with
//  the reason in error (mode, owner, symlink, malformed line, a secret key
//  that does not match the public one).
int pd_keys_pair_load (pd_keys_pair_t *pair, const char *path, bool need_server, char *error,
                       size_t size);

//  Write a key file, created mode 0600, never overwriting (O_EXCL).
//  `comment` (may be NULL) becomes a '#' line. 0, or -1 with the reason.
int pd_keys_pair_save (const pd_keys_pair_t *pair, const char *path, const char *comment,
                       char *error, size_t size);

//  Make `sock` a CURVE client of the broker with these credentials. Call
//  before connecting.
void pd_keys_pair_apply (const pd_keys_pair_t *pair, zsock_t *sock);

//  A malloc'd copy (NULL for NULL); pd_keys_pair_destroy wipes and frees it.
pd_keys_pair_t *pd_keys_pair_dup (const pd_keys_pair_t *pair);
void pd_keys_pair_destroy (pd_keys_pair_t **self_p);

//  Overwrite the secret, so that it does not linger in memory.
void pd_keys_pair_wipe (pd_keys_pair_t *pair);

//  --- Roles and permissions -------------------------------------------------

//  "gateway", "actor", "front", "tail"; NULL for anything else.
const char *pd_keys_role_name (pd_keys_role_t role);
//  0 with *role set, or -1 if `text` names no role.
int pd_keys_role_parse (const char *text, pd_keys_role_t *role);

//  May the entry's key READY as a worker of `service`?
bool pd_keys_may_serve (const pd_keys_entry_t *entry, const char *service);
//  May it send a REQUEST to `service`?
bool pd_keys_may_call (const pd_keys_entry_t *entry, const char *service);
//  May it send this REQUEST: `service` with this header (msgpack record
//  `header`)? pd_keys_may_call, and for a front key (but on the stream
//  service) a message of that service the link carries (PD_LINK_TYPES' last
//  column) for an appliance: principal kind "appliance", no credential nor
//  access. A front speaks for appliances, never for partners or admins.
bool pd_keys_may_request (const pd_keys_entry_t *entry, const char *service, const void *header,
                          size_t header_size);
//  May it PUBLISH events?
bool pd_keys_may_publish (const pd_keys_entry_t *entry);
//  May it connect to the stream socket?
bool pd_keys_may_subscribe (const pd_keys_entry_t *entry);

//  Fill an entry from its parts. `services` is comma-separated (NULL or ""
//  for none). 0, or -1 with the reason: a bad name, a bad key, services for
//  a role other than actor or none for an actor, a bad service name.
int pd_keys_entry_set (pd_keys_entry_t *entry, const char *name, pd_keys_role_t role,
                       const char *public_key, const char *services, char *error, size_t size);

//  --- The allow-list --------------------------------------------------------

//  Load an allow-list file. NULL with the reason in error: the file is not
//  private, a line is malformed, or a name or key appears twice.
pd_keys_allow_t *pd_keys_allow_load (const char *path, char *error, size_t size);
void pd_keys_allow_destroy (pd_keys_allow_t **self_p);

//  The entry of a public key (Z85) or of a name; NULL if not listed. The
//  entry lives as long as the allow-list.
const pd_keys_entry_t *pd_keys_allow_find_key (const pd_keys_allow_t *self, const char *public_key);
const pd_keys_entry_t *pd_keys_allow_find_name (const pd_keys_allow_t *self, const char *name);
size_t pd_keys_allow_size (const pd_keys_allow_t *self);

//  --- The cluster directory -------------------------------------------------

//  Create `dir` (mode 0700; if it exists it must be 0700 and ours), the
//  broker's keypair
//  and an empty allow-list; an existing file is never overwritten. 0, or -1
//  with the reason.
int pd_keys_cluster_init (const char *dir, char *error, size_t size);

//  Add a process: write dir/NAME.key (a new keypair and the broker's public
//  key) and append its entry to the allow-list. The key file's path goes to
//  `path` (path_size bytes, may be NULL). 0, or -1 with the reason (the
//  name or key is taken, a bad entry, files not private).
int pd_keys_cluster_add (const char *dir, const char *name, pd_keys_role_t role,
                         const char *services, char *path, size_t path_size, char *error,
                         size_t size);

//  Load the broker's keypair and the allow-list from `dir`. NULL with the
//  reason in error.
pd_keys_cluster_t *pd_keys_cluster_load (const char *dir, char *error, size_t size);
//  A copy that shares nothing with the original. NULL if out of memory.
pd_keys_cluster_t *pd_keys_cluster_dup (const pd_keys_cluster_t *self);
void pd_keys_cluster_destroy (pd_keys_cluster_t **self_p);

//  The broker's keypair and the allow-list; they live as long as the cluster.
const pd_keys_pair_t *pd_keys_cluster_pair (const pd_keys_cluster_t *self);
const pd_keys_allow_t *pd_keys_cluster_allow (const pd_keys_cluster_t *self);

#ifdef __cplusplus
}
#endif
#endif
