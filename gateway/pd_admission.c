/*  pd_admission - who may hold one of the gateway's connections (see
    pd_admission.h)

    Held connections are a table keyed by "address port" (exact: a release
    for a connection never admitted changes nothing) of their descriptor
    and read deadline, and a count per address, under one mutex: admission
    runs once per connection in CivetWeb's accepting thread, release once
    in the worker that closes it. The watchdog thread looks at the
    deadlines every S_WATCH_MS; a descriptor it shuts stays open (only the
    worker that holds the connection closes it, after clearing the
    deadline), so it never touches a reused descriptor.

    The accept(2) defined below finds, for a listening socket it has not
    seen, the port it is bound to (getsockname, once) and so the admission
    watching that port; it then decides on every connection accepted there.
    A refused connection gets a short 503 written without blocking, and is
    closed; accept returns -1 with errno ECONNABORTED, which CivetWeb
    ignores (it polls and accepts again).
*/
#include "pd_admission.h"
#include "pd_status.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_KEY_MAX   (PD_ADMISSION_ADDRESS_MAX + 16) //  "address port local_port"
#define S_V6_CLIENT 8  //  bytes of an IPv6 address that name a client (its /64)
#define S_WATCH_MAX 16 //  listening sockets watched per process
//  The refusal: problem+json of PD_E_UNAVAILABLE, from the status table
#define S_REFUSAL_BODY                                                                             \
    "{\"type\":\"urn:partnerd:problem:%s\",\"title\":\"%s\",\"status\":%d,\"code\":\"%s\","        \
    "\"detail\":\"too many connections\"}"
#define S_REFUSAL_HEAD                                                                             \
    "HTTP/1.1 %d %s\r\n"                                                                           \
    "Content-Type: application/problem+json\r\n"                                                   \
    "Retry-After: 1\r\n"                                                                           \
    "Connection: close\r\n"                                                                        \
    "Content-Length: %d\r\n\r\n%s"
#define S_REFUSAL_MAX 512
#define S_WATCH_MS    100 //  how often the watchdog looks at read deadlines

typedef struct {
    int fd;           //  the connection's socket
    int64_t deadline; //  zclock_mono () ms by which its read must end; 0 = none
    bool cut;         //  the watchdog shut its reading side
} s_conn_t;

struct _pd_admission_t {
    pthread_mutex_t lock;
    size_t max_total;
    size_t max_per_client;
    const pd_netlist_t *trusted; //  borrowed
    zhashx_t *held;              //  "address port" -> s_conn_t (owned)
    zhashx_t *per_client;        //  client key (s_client_key) -> count (uintptr_t)
    pd_admission_stats_t stats;
    pthread_t watchdog;  //  shuts overdue reads
    bool watching;       //  the watchdog runs
    bool stopping;       //  it should stop
    pthread_cond_t wake; //  wakes it to stop
};

//  The held-connection key of a peer
static void
s_key (char *key, const pd_admission_peer_t *peer)
{
    snprintf (key, S_KEY_MAX, "%s %d %d", peer->address, peer->port, peer->local_port);
}

//  The per-client key of an address: an IPv4 address (also when mapped in
//  IPv6), or the /64 of an IPv6 address
static void
s_client_key (char *key, const char *address)
{
    struct in6_addr addr6;
    snprintf (key, S_KEY_MAX, "%s", address);
    char bare[PD_ADMISSION_ADDRESS_MAX];
    snprintf (bare, sizeof (bare), "%s", address);
    bare[strcspn (bare, "%")] = '\0';
    if (inet_pton (AF_INET6, bare, &addr6) != 1)
        return;
    if (IN6_IS_ADDR_V4MAPPED (&addr6))
        inet_ntop (AF_INET, addr6.s6_addr + 12, key, S_KEY_MAX);
    else {
        memset (addr6.s6_addr + S_V6_CLIENT, 0, sizeof (addr6.s6_addr) - S_V6_CLIENT);
        inet_ntop (AF_INET6, &addr6, key, S_KEY_MAX - 4);
        strcat (key, "/64");
    }
}

static void
s_conn_destroy (void **item)
{
    free (*item);
    *item = NULL;
}

//  Shut the reading side of every connection past its deadline
static void *
s_watchdog (void *arg)
{
    pd_admission_t *self = arg;
    pthread_mutex_lock (&self->lock);
    while (!self->stopping) {
        int64_t now = zclock_mono ();
        for (s_conn_t *conn = zhashx_first (self->held); conn; conn = zhashx_next (self->held))
            if (conn->deadline && conn->deadline <= now && !conn->cut) {
                shutdown (conn->fd, SHUT_RD);
                conn->cut = true;
                self->stats.cut++;
            }
        struct timespec until;
        clock_gettime (CLOCK_MONOTONIC, &until);
        until.tv_nsec += S_WATCH_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait (&self->wake, &self->lock, &until);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

pd_admission_t *
pd_admission_new (const pd_admission_config_t *config)
{
    assert (config);
    if (config->max_total == 0 || config->max_per_client == 0)
        return NULL;
    pd_admission_t *self = (pd_admission_t *)calloc (1, sizeof (pd_admission_t));
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    pthread_condattr_t monotonic; //  a clock set back must not stall the watchdog
    pthread_condattr_init (&monotonic);
    pthread_condattr_setclock (&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init (&self->wake, &monotonic);
    pthread_condattr_destroy (&monotonic);
    self->max_total = config->max_total;
    self->max_per_client = config->max_per_client;
    self->trusted = config->trusted;
    self->held = zhashx_new ();
    self->per_client = zhashx_new ();
    if (self->held)
        zhashx_set_destructor (self->held, s_conn_destroy);
    self->watching = self->held && self->per_client &&
                     pthread_create (&self->watchdog, NULL, s_watchdog, self) == 0;
    if (!self->watching) {
        pd_admission_destroy (&self);
        return NULL;
    }
    return self;
}

//  ---------------------------------------------------------------------------
//  The watched listening sockets of the process

typedef struct {
    pd_admission_t *admission; //  NULL = free slot
    int port;                  //  TCP port of the listening socket
    int fd;                    //  its descriptor once seen, else -1
} s_watch_t;

static pthread_mutex_t s_watch_lock = PTHREAD_MUTEX_INITIALIZER;
static s_watch_t s_watches[S_WATCH_MAX];

int
pd_admission_watch (pd_admission_t *self, int port)
{
    assert (self);
    int rc = -1;
    pthread_mutex_lock (&s_watch_lock);
    for (size_t i = 0; i < S_WATCH_MAX && rc; i++)
        if (!s_watches[i].admission) {
            s_watches[i] = (s_watch_t){self, port, -1};
            rc = 0;
        }
    pthread_mutex_unlock (&s_watch_lock);
    return rc;
}

static void
s_unwatch (pd_admission_t *self)
{
    pthread_mutex_lock (&s_watch_lock);
    for (size_t i = 0; i < S_WATCH_MAX; i++)
        if (s_watches[i].admission == self)
            s_watches[i] = (s_watch_t){NULL, 0, -1};
    pthread_mutex_unlock (&s_watch_lock);
}

//  The admission watching listening socket fd, or NULL; *port_p gets the
//  port it listens on
static pd_admission_t *
s_watcher (int fd, int *port_p)
{
    pd_admission_t *found = NULL;
    int port = -1;
    pthread_mutex_lock (&s_watch_lock);
    for (size_t i = 0; i < S_WATCH_MAX && !found; i++)
        if (s_watches[i].admission && s_watches[i].fd == fd) {
            found = s_watches[i].admission;
            *port_p = s_watches[i].port;
        }
    for (size_t i = 0; i < S_WATCH_MAX && !found; i++) {
        if (!s_watches[i].admission || s_watches[i].fd != -1)
            continue;
        if (port < 0) {
            struct sockaddr_storage local;
            socklen_t len = sizeof (local);
            if (getsockname (fd, (struct sockaddr *)&local, &len) != 0)
                break;
            if (local.ss_family == AF_INET)
                port = ntohs (((struct sockaddr_in *)&local)->sin_port);
            else if (local.ss_family == AF_INET6)
                port = ntohs (((struct sockaddr_in6 *)&local)->sin6_port);
            else
                break;
        }
        if (s_watches[i].port == port) {
            s_watches[i].fd = fd;
            found = s_watches[i].admission;
            *port_p = port;
        }
    }
    pthread_mutex_unlock (&s_watch_lock);
    return found;
}

void
pd_admission_destroy (pd_admission_t **self_p)
{
    assert (self_p);
    pd_admission_t *self = *self_p;
    if (!self)
        return;
    s_unwatch (self);
    if (self->watching) {
        pthread_mutex_lock (&self->lock);
        self->stopping = true;
        pthread_cond_signal (&self->wake);
        pthread_mutex_unlock (&self->lock);
        pthread_join (self->watchdog, NULL);
    }
    pthread_cond_destroy (&self->wake);
    zhashx_destroy (&self->held);
    zhashx_destroy (&self->per_client);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------------
//  Decisions

bool
pd_admission_admit (pd_admission_t *self, const pd_admission_peer_t *peer, int fd)
{
    assert (self && peer && peer->address);
    char key[S_KEY_MAX], client[S_KEY_MAX];
    s_key (key, peer);
    s_client_key (client, peer->address);
    bool trusted = pd_netlist_has (self->trusted, peer->address);
    pthread_mutex_lock (&self->lock);
    uintptr_t count = (uintptr_t)zhashx_lookup (self->per_client, client);
    bool admit = false;
    if (zhashx_size (self->held) >= self->max_total)
        self->stats.refused_total++;
    else if (!trusted && count >= self->max_per_client)
        self->stats.refused_client++;
    else if (zhashx_lookup (self->held, key)) {
        //  Cannot happen (a port is one connection): keep it counted once
        ((s_conn_t *)zhashx_lookup (self->held, key))->fd = fd;
        admit = true;
    } else {
        s_conn_t *conn = calloc (1, sizeof (s_conn_t));
        if (conn && zhashx_insert (self->held, key, conn) == 0) {
            conn->fd = fd;
            zhashx_update (self->per_client, client, (void *)(count + 1));
            self->stats.admitted++;
            admit = true;
        } else
            free (conn);
    }
    self->stats.open = zhashx_size (self->held);
    pthread_mutex_unlock (&self->lock);
    return admit;
}

void
pd_admission_release (pd_admission_t *self, const pd_admission_peer_t *peer)
{
    assert (self && peer && peer->address);
    char key[S_KEY_MAX], client[S_KEY_MAX];
    s_key (key, peer);
    s_client_key (client, peer->address);
    pthread_mutex_lock (&self->lock);
    if (zhashx_lookup (self->held, key)) {
        zhashx_delete (self->held, key);
        uintptr_t count = (uintptr_t)zhashx_lookup (self->per_client, client);
        if (count > 1)
            zhashx_update (self->per_client, client, (void *)(count - 1));
        else
            zhashx_delete (self->per_client, client);
    }
    self->stats.open = zhashx_size (self->held);
    pthread_mutex_unlock (&self->lock);
}

int
pd_admission_deadline_set (pd_admission_t *self, const pd_admission_peer_t *peer,
                           int64_t deadline_ms)
{
    assert (self && peer && peer->address);
    char key[S_KEY_MAX];
    s_key (key, peer);
    pthread_mutex_lock (&self->lock);
    s_conn_t *conn = zhashx_lookup (self->held, key);
    if (conn) {
        conn->deadline = deadline_ms;
        conn->cut = false;
    }
    pthread_mutex_unlock (&self->lock);
    return conn ? 0 : -1;
}

bool
pd_admission_deadline_clear (pd_admission_t *self, const pd_admission_peer_t *peer)
{
    assert (self && peer && peer->address);
    char key[S_KEY_MAX];
    s_key (key, peer);
    pthread_mutex_lock (&self->lock);
    s_conn_t *conn = zhashx_lookup (self->held, key);
    bool cut = conn && conn->cut;
    if (conn)
        conn->deadline = 0;
    pthread_mutex_unlock (&self->lock);
    return cut;
}

void
pd_admission_stats (pd_admission_t *self, pd_admission_stats_t *stats)
{
    assert (self && stats);
    pthread_mutex_lock (&self->lock);
    *stats = self->stats;
    pthread_mutex_unlock (&self->lock);
}

//  ---------------------------------------------------------------------------
//  accept(2), for CivetWeb's listening sockets

int accept (int fd, struct sockaddr *addr, socklen_t *addr_len);

int
accept (int fd, struct sockaddr *addr, socklen_t *addr_len)
{
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof (peer);
    int conn = accept4 (fd, (struct sockaddr *)&peer, &peer_len, 0);
    if (conn < 0)
        return conn;
    if (addr && addr_len) {
        memcpy (addr, &peer, peer_len < *addr_len ? peer_len : *addr_len);
        *addr_len = peer_len;
    }
    int local_port = 0;
    pd_admission_t *admission = s_watcher (fd, &local_port);
    if (!admission || (peer.ss_family != AF_INET && peer.ss_family != AF_INET6))
        return conn;

    char address[PD_ADMISSION_ADDRESS_MAX] = "";
    int port = peer.ss_family == AF_INET ? ntohs (((struct sockaddr_in *)&peer)->sin_port)
                                         : ntohs (((struct sockaddr_in6 *)&peer)->sin6_port);
    //  The same text CivetWeb gives the request (remote_addr), for release
    getnameinfo ((struct sockaddr *)&peer, peer_len, address, sizeof (address), NULL, 0,
                 NI_NUMERICHOST);
    pd_admission_peer_t who = {address, port, local_port};
    if (pd_admission_admit (admission, &who, conn))
        return conn;

    //  Refused: say so without blocking this thread, then close
    char body[S_REFUSAL_MAX], refusal[2 * S_REFUSAL_MAX];
    const char *code = pd_status_code (PD_E_UNAVAILABLE);
    const char *title = pd_status_title (PD_E_UNAVAILABLE);
    int http = pd_status_http (PD_E_UNAVAILABLE);
    int length = snprintf (body, sizeof (body), S_REFUSAL_BODY, code, title, http, code);
    int size = snprintf (refusal, sizeof (refusal), S_REFUSAL_HEAD, http, title, length, body);
    if (length < 0 || size < 0 || (size_t)size >= sizeof (refusal))
        size = 0;
    ssize_t sent = send (conn, refusal, (size_t)size, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)sent;
    shutdown (conn, SHUT_WR);
    close (conn);
    errno = ECONNABORTED;
    return -1;
}
