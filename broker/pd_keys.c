/*  pd_keys - the cluster's CURVE keys, its allow-list and what is private
    (see pd_keys.h)

    Files are read whole (they are small: a key file is three lines, an
    allow-list at most PD_KEYS_ALLOW_MAX) from a descriptor opened with
    O_NOFOLLOW and checked with fstat, so the file checked is the file
    read. The allow-list is an array searched linearly: it is read once at
    start, and a lookup costs a few string compares per message.
*/
#include "pd_keys.h"
#include "pd_messages.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_FILE_MAX          (PD_KEYS_ALLOW_MAX * 256) //  bytes of a file we read
#define S_PATH_MAX          4096
#define S_PRIVATE_DIR_MODE  0700
#define S_PRIVATE_FILE_MODE 0600
#define S_INPROC            "inproc://"
#define S_IPC               "ipc://"

struct _pd_keys_allow_t {
    pd_keys_entry_t *entries; //  in file order
    size_t count;             //  entries used
    size_t max;               //  entries allocated
};

struct _pd_keys_cluster_t {
    pd_keys_pair_t pair;    //  the broker's keypair
    pd_keys_allow_t *allow; //  who may connect
};

//  --------------------------------------------------------------------------
//  Helpers

static int s_fail (char *error, size_t size, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_fail (char *error, size_t size, const char *fmt, ...)
{
    if (error && size) {
        va_list args;
        va_start (args, fmt);
        vsnprintf (error, size, fmt, args);
        va_end (args);
    }
    return -1;
}

//  A Z85 CURVE key: 40 characters that decode
static bool
s_key_valid (const char *text)
{
    uint8_t key[32];
    return text && strlen (text) == PD_KEYS_Z85 && zmq_z85_decode (key, text) != NULL;
}

//  A process or service name: 1..max printable characters, no spaces, no
//  '#' or '$' first, no '/' (names become file names)
static bool
s_name_valid (const char *text, size_t max)
{
    size_t length = text ? strlen (text) : 0;
    if (length == 0 || length > max || text[0] == '#' || text[0] == '$' || text[0] == '.')
        return false;
    for (size_t i = 0; i < length; i++)
        if (text[i] <= ' ' || text[i] > '~' || text[i] == '/' || text[i] == ',')
            return false;
    return true;
}

//  Read a private file whole into a NUL-terminated malloc'd buffer
static char *
s_read_private (const char *path, char *error, size_t size)
{
    int fd = pd_keys_open_private (path, error, size);
    if (fd < 0)
        return NULL;
    char *text = (char *)malloc (S_FILE_MAX + 1);
    size_t length = 0;
    ssize_t got = 0;
    while (text && length < S_FILE_MAX && (got = read (fd, text + length, S_FILE_MAX - length)) > 0)
        length += (size_t)got;
    close (fd);
    if (!text || got < 0 || length == S_FILE_MAX) {
        if (text)
            explicit_bzero (text, length);
        free (text);
        s_fail (error, size, "%s: cannot read it, or it is larger than %d bytes", path,
                S_FILE_MAX - 1);
        return NULL;
    }
    text[length] = 0;
    return text;
}

static void
s_free_secret (char *text)
{
    if (text) {
        explicit_bzero (text, strlen (text));
        free (text);
    }
}

//  Next line of `*cursor` (modified in place), or NULL at the end. Skips
//  comments and blank lines; counts lines in *number.
static char *
s_next_line (char **cursor, unsigned *number)
{
    while (**cursor) {
        char *line = *cursor;
        char *end = strchr (line, '\n');
        if (end) {
            *end = 0;
            *cursor = end + 1;
        } else
            *cursor = line + strlen (line);
        (*number)++;
        while (*line == ' ' || *line == '\t')
            line++;
        size_t length = strlen (line);
        while (length &&
               (line[length - 1] == ' ' || line[length - 1] == '\t' || line[length - 1] == '\r'))
            line[--length] = 0;
        if (*line && *line != '#')
            return line;
    }
    return NULL;
}

//  Write `text` to a new file of mode 0600 (never overwriting) durably
static int
s_write_new (const char *path, const char *text, char *error, size_t size)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, S_PRIVATE_FILE_MODE);
    if (fd < 0)
        return s_fail (error, size, "%s: cannot create it: %s", path, strerror (errno));
    size_t length = strlen (text);
    bool ok = write (fd, text, length) == (ssize_t)length && fsync (fd) == 0;
    ok = close (fd) == 0 && ok;
    if (!ok) {
        unlink (path);
        return s_fail (error, size, "%s: cannot write it", path);
    }
    return 0;
}

//  Append `line` to an existing private file
static int
s_append_private (const char *path, const char *line, char *error, size_t size)
{
    int fd = open (path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return s_fail (error, size, "%s: %s", path, strerror (errno));
    int rc = pd_keys_check_private (fd, path, error, size);
    size_t length = strlen (line);
    if (rc == 0 && (write (fd, line, length) != (ssize_t)length || fsync (fd) != 0))
        rc = s_fail (error, size, "%s: cannot append: %s", path, strerror (errno));
    close (fd);
    return rc;
}

//  --------------------------------------------------------------------------
//  Private files and directories

int
pd_keys_check_private (int fd, const char *path, char *error, size_t size)
{
    struct stat info;
    if (fstat (fd, &info) != 0)
        return s_fail (error, size, "%s: %s", path, strerror (errno));
    if (!S_ISREG (info.st_mode))
        return s_fail (error, size, "%s is not a regular file; refusing it", path);
    if (info.st_uid != geteuid ())
        return s_fail (error, size, "%s is owned by uid %u, not by this user (uid %u); refusing it",
                       path, (unsigned)info.st_uid, (unsigned)geteuid ());
    if (info.st_mode & 077)
        return s_fail (error, size, "%s must have mode 0600 (it has %03o); refusing it", path,
                       (unsigned)(info.st_mode & 0777));
    return 0;
}

int
pd_keys_open_private (const char *path, char *error, size_t size)
{
    int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP)
            return s_fail (error, size, "%s is a symbolic link; refusing it", path);
        return s_fail (error, size, "%s: %s", path, strerror (errno));
    }
    if (pd_keys_check_private (fd, path, error, size)) {
        close (fd);
        return -1;
    }
    return fd;
}

int
pd_keys_check_private_dir (const char *path, char *error, size_t size)
{
    struct stat info;
    if (stat (path, &info) != 0)
        return s_fail (error, size, "%s: %s", path, strerror (errno));
    if (!S_ISDIR (info.st_mode))
        return s_fail (error, size, "%s is not a directory", path);
    if (info.st_uid != geteuid ())
        return s_fail (error, size,
                       "%s is owned by uid %u, not by this user (uid %u): it must be a "
                       "directory of mode 0700 owned by the user running partnerd",
                       path, (unsigned)info.st_uid, (unsigned)geteuid ());
    if ((info.st_mode & 0777) != S_PRIVATE_DIR_MODE)
        return s_fail (error, size,
                       "%s has mode %03o: it must be 0700, or other local users reach its "
                       "sockets and files (chmod 700 %s)",
                       path, (unsigned)(info.st_mode & 0777), path);
    return 0;
}

//  One endpoint
static bool
s_endpoint_private (const char *endpoint)
{
    if (strncmp (endpoint, S_INPROC, strlen (S_INPROC)) == 0)
        return true;
    if (strncmp (endpoint, S_IPC, strlen (S_IPC)) != 0)
        return false;
    const char *path = endpoint + strlen (S_IPC);
    if (*path == '@' || *path == 0 || strlen (path) >= S_PATH_MAX)
        return false; //  abstract sockets have no directory
    char copy[S_PATH_MAX];
    snprintf (copy, sizeof (copy), "%s", path);
    return pd_keys_check_private_dir (dirname (copy), NULL, 0) == 0;
}

bool
pd_keys_endpoints_private (const char *endpoints, char *endpoint, size_t size)
{
    if (!endpoints)
        return true;
    char *copy = strdup (endpoints);
    assert (copy);
    bool private_all = true;
    char *saved = NULL;
    for (char *item = strtok_r (copy, ",", &saved); item && private_all;
         item = strtok_r (NULL, ",", &saved)) {
        while (*item == ' ')
            item++;
        if (*item && !s_endpoint_private (item)) {
            private_all = false;
            if (endpoint && size)
                snprintf (endpoint, size, "%s", item);
        }
    }
    free (copy);
    return private_all;
}

//  --------------------------------------------------------------------------
//  Keypairs

int
pd_keys_pair_generate (pd_keys_pair_t *pair)
{
    assert (pair);
    memset (pair, 0, sizeof (*pair));
    return zmq_curve_keypair (pair->public_key, pair->secret_key) == 0 ? 0 : -1;
}

//  Set one field of a key file
static int
s_pair_field (pd_keys_pair_t *pair, const char *field, const char *value, const char *path,
              unsigned number, char *error, size_t size)
{
    char *target = streq (field, "public")   ? pair->public_key
                   : streq (field, "secret") ? pair->secret_key
                   : streq (field, "server") ? pair->server_key
                                             : NULL;
    if (!target)
        return s_fail (error, size, "%s:%u: unknown field '%s'", path, number, field);
    if (*target)
        return s_fail (error, size, "%s:%u: '%s' given twice", path, number, field);
    if (!s_key_valid (value))
        return s_fail (error, size, "%s:%u: '%s' is not a Z85 CURVE key", path, number, field);
    memcpy (target, value, PD_KEYS_Z85 + 1);
    return 0;
}

int
pd_keys_pair_load (pd_keys_pair_t *pair, const char *path, bool need_server, char *error,
                   size_t size)
{
    assert (pair && path);
    memset (pair, 0, sizeof (*pair));
    char *text = s_read_private (path, error, size);
    if (!text)
        return -1;
    int rc = 0;
    unsigned number = 0;
    char *cursor = text;
    char *line;
    while (rc == 0 && (line = s_next_line (&cursor, &number))) {
        char *value = line + strcspn (line, " \t");
        if (*value)
            *value++ = 0;
        value += strspn (value, " \t");
        rc = s_pair_field (pair, line, value, path, number, error, size);
    }
    s_free_secret (text);
    char derived[PD_KEYS_Z85 + 1];
    if (rc == 0 && (!*pair->public_key || !*pair->secret_key))
        rc = s_fail (error, size, "%s: 'public' and 'secret' are required", path);
    else if (rc == 0 && need_server && !*pair->server_key)
        rc = s_fail (error, size, "%s: 'server' (the broker's public key) is required", path);
    else if (rc == 0 && !need_server && *pair->server_key)
        rc = s_fail (error, size, "%s: 'server' is not expected in the broker's own key", path);
    else if (rc == 0 && (zmq_curve_public (derived, pair->secret_key) != 0 ||
                         strcmp (derived, pair->public_key) != 0))
        rc = s_fail (error, size, "%s: the secret key does not match the public key", path);
    if (rc)
        pd_keys_pair_wipe (pair);
    return rc;
}

int
pd_keys_pair_save (const pd_keys_pair_t *pair, const char *path, const char *comment, char *error,
                   size_t size)
{
    assert (pair && path);
    char text[PD_KEYS_LINE_MAX];
    int length = snprintf (text, sizeof (text), "# %s\npublic %s\nsecret %s\n",
                           comment ? comment : "partnerd CURVE keypair; keep it mode 0600",
                           pair->public_key, pair->secret_key);
    if (*pair->server_key && length > 0 && (size_t)length < sizeof (text))
        length += snprintf (text + length, sizeof (text) - (size_t)length, "server %s\n",
                            pair->server_key);
    int rc = length > 0 && (size_t)length < sizeof (text)
                 ? s_write_new (path, text, error, size)
                 : s_fail (error, size, "%s: comment too long", path);
    explicit_bzero (text, sizeof (text));
    return rc;
}

void
pd_keys_pair_apply (const pd_keys_pair_t *pair, zsock_t *sock)
{
    assert (pair && sock);
    zsock_set_curve_publickey (sock, pair->public_key);
    zsock_set_curve_secretkey (sock, pair->secret_key);
    zsock_set_curve_serverkey (sock, pair->server_key);
}

pd_keys_pair_t *
pd_keys_pair_dup (const pd_keys_pair_t *pair)
{
    if (!pair)
        return NULL;
    pd_keys_pair_t *copy = (pd_keys_pair_t *)malloc (sizeof (pd_keys_pair_t));
    assert (copy);
    *copy = *pair;
    return copy;
}

void
pd_keys_pair_destroy (pd_keys_pair_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        pd_keys_pair_wipe (*self_p);
        free (*self_p);
        *self_p = NULL;
    }
}

void
pd_keys_pair_wipe (pd_keys_pair_t *pair)
{
    if (pair)
        explicit_bzero (pair->secret_key, sizeof (pair->secret_key));
}

//  --------------------------------------------------------------------------
//  Roles and permissions

static const char *const s_role_names[] = {NULL, "gateway", "actor", "front", "tail"};
#define S_ROLE_COUNT (sizeof (s_role_names) / sizeof (s_role_names[0]))

const char *
pd_keys_role_name (pd_keys_role_t role)
{
    return (size_t)role < S_ROLE_COUNT ? s_role_names[role] : NULL;
}

int
pd_keys_role_parse (const char *text, pd_keys_role_t *role)
{
    for (size_t i = 1; text && i < S_ROLE_COUNT; i++)
        if (streq (text, s_role_names[i])) {
            *role = (pd_keys_role_t)i;
            return 0;
        }
    return -1;
}

bool
pd_keys_may_serve (const pd_keys_entry_t *entry, const char *service)
{
    assert (entry && service);
    if (entry->role == PD_KEYS_FRONT)
        return streq (service, PD_KEYS_FRONT_SERVES);
    if (entry->role != PD_KEYS_ACTOR)
        return false;
    for (size_t i = 0; i < entry->service_count; i++)
        if (streq (entry->services[i], service))
            return true;
    return false;
}

//  Does the front send messages of `service` (PD_LINK_TYPES' carried_by)?
static bool
s_front_calls (const char *service)
{
    for (size_t i = 0; i < pd_link_types_size; i++) {
        const pd_message_t *message = pd_message_find (pd_link_types[i].carried_by);
        if (message && streq (message->service, service))
            return true;
    }
    return false;
}

bool
pd_keys_may_call (const pd_keys_entry_t *entry, const char *service)
{
    assert (entry && service);
    switch (entry->role) {
    case PD_KEYS_GATEWAY:
        return true;
    case PD_KEYS_FRONT:
        //  what the link carries upstream; the audit stream's history (link ends)
        return s_front_calls (service) || streq (service, PD_KEYS_TAIL_CALLS);
    case PD_KEYS_TAIL:
        return streq (service, PD_KEYS_TAIL_CALLS);
    default:
        return false;
    }
}

//  Is `type` a message the front sends (PD_LINK_TYPES' carried_by)?
static bool
s_front_sends (const char *type)
{
    for (size_t i = 0; i < pd_link_types_size; i++)
        if (pd_link_types[i].carried_by && streq (pd_link_types[i].carried_by, type))
            return true;
    return false;
}

bool
pd_keys_may_request (const pd_keys_entry_t *entry, const char *service, const void *header,
                     size_t header_size)
{
    if (!pd_keys_may_call (entry, service))
        return false;
    if (entry->role != PD_KEYS_FRONT || streq (service, PD_KEYS_TAIL_CALLS))
        return true;
    pd_header_t record = {0};
    bool allowed = false;
    if (header && pd_schema_decode (&pd_header_schema, (const uint8_t *)header, header_size,
                                    &record, NULL) == PD_OK) {
        const pd_message_t *message = pd_message_find (record.type);
        allowed = message && streq (message->service, service) && s_front_sends (record.type) &&
                  record.principal && streq (record.principal->kind, "appliance") &&
                  !record.credential && !record.access;
    }
    pd_schema_clear (&pd_header_schema, &record);
    return allowed;
}

bool
pd_keys_may_publish (const pd_keys_entry_t *entry)
{
    assert (entry);
    return entry->role == PD_KEYS_ACTOR;
}

bool
pd_keys_may_subscribe (const pd_keys_entry_t *entry)
{
    assert (entry);
    return entry->role == PD_KEYS_GATEWAY || entry->role == PD_KEYS_TAIL ||
           entry->role == PD_KEYS_FRONT; //  the front follows link ends
}

int
pd_keys_entry_set (pd_keys_entry_t *entry, const char *name, pd_keys_role_t role,
                   const char *public_key, const char *services, char *error, size_t size)
{
    assert (entry);
    memset (entry, 0, sizeof (*entry));
    if (!s_name_valid (name, PD_KEYS_NAME_MAX) || streq (name, "broker"))
        return s_fail (error, size,
                       "'%s' is not a valid name (1..%d printable characters, no "
                       "spaces, '/' or ','; not 'broker')",
                       name ? name : "", PD_KEYS_NAME_MAX);
    if (!pd_keys_role_name (role))
        return s_fail (error, size, "unknown role");
    if (!s_key_valid (public_key))
        return s_fail (error, size, "'%s' is not a Z85 CURVE public key",
                       public_key ? public_key : "");
    snprintf (entry->name, sizeof (entry->name), "%s", name);
    entry->role = role;
    memcpy (entry->public_key, public_key, PD_KEYS_Z85 + 1);
    bool has_services = services && *services && !streq (services, "-");
    if (role != PD_KEYS_ACTOR && has_services)
        return s_fail (error, size,
                       "only role actor takes services (%s serves and calls fixed "
                       "services)",
                       pd_keys_role_name (role));
    if (role == PD_KEYS_ACTOR && !has_services)
        return s_fail (error, size, "role actor needs the services it serves (--services a,b)");
    if (!has_services)
        return 0;
    char *copy = strdup (services);
    assert (copy);
    int rc = 0;
    const char *list = copy;
    while (rc == 0 && list) {
        char *comma = strchr (list, ',');
        if (comma)
            *comma = 0;
        if (!s_name_valid (list, PD_KEYS_SERVICE_MAX))
            rc = s_fail (error, size, "'%s' is not a valid service name", list);
        else if (entry->service_count == PD_KEYS_SERVICES_MAX)
            rc = s_fail (error, size, "more than %d services", PD_KEYS_SERVICES_MAX);
        else
            snprintf (entry->services[entry->service_count++], PD_KEYS_SERVICE_MAX + 1, "%s", list);
        list = comma ? comma + 1 : NULL;
    }
    free (copy);
    return rc;
}

//  --------------------------------------------------------------------------
//  The allow-list

//  Parse one line into the next entry
static int
s_allow_line (pd_keys_allow_t *self, char *line, const char *path, unsigned number, char *error,
              size_t size)
{
    char *fields[5] = {NULL};
    size_t count = 0;
    char *saved = NULL;
    for (char *field = strtok_r (line, " \t", &saved); field && count < 5;
         field = strtok_r (NULL, " \t", &saved))
        fields[count++] = field;
    if (count < 3 || count > 4)
        return s_fail (error, size, "%s:%u: expected NAME ROLE PUBLIC-KEY [SERVICES]", path,
                       number);
    pd_keys_role_t role;
    if (pd_keys_role_parse (fields[1], &role))
        return s_fail (error, size, "%s:%u: unknown role '%s'", path, number, fields[1]);
    if (self->count == PD_KEYS_ALLOW_MAX)
        return s_fail (error, size, "%s:%u: more than %d entries", path, number, PD_KEYS_ALLOW_MAX);
    if (self->count == self->max) {
        self->max = self->max ? 2 * self->max : 16;
        self->entries =
            (pd_keys_entry_t *)realloc (self->entries, self->max * sizeof (pd_keys_entry_t));
        assert (self->entries);
    }
    pd_keys_entry_t *entry = &self->entries[self->count];
    char reason[PD_KEYS_ERROR_MAX];
    if (pd_keys_entry_set (entry, fields[0], role, fields[2], fields[3], reason, sizeof (reason)))
        return s_fail (error, size, "%s:%u: %s", path, number, reason);
    if (pd_keys_allow_find_name (self, entry->name))
        return s_fail (error, size, "%s:%u: name '%s' listed twice", path, number, entry->name);
    if (pd_keys_allow_find_key (self, entry->public_key))
        return s_fail (error, size, "%s:%u: key of '%s' listed twice", path, number, entry->name);
    self->count++;
    return 0;
}

pd_keys_allow_t *
pd_keys_allow_load (const char *path, char *error, size_t size)
{
    assert (path);
    char *text = s_read_private (path, error, size);
    if (!text)
        return NULL;
    pd_keys_allow_t *self = (pd_keys_allow_t *)zmalloc (sizeof (pd_keys_allow_t));
    int rc = 0;
    unsigned number = 0;
    char *cursor = text;
    char *line;
    while (rc == 0 && (line = s_next_line (&cursor, &number)))
        rc = s_allow_line (self, line, path, number, error, size);
    free (text);
    if (rc)
        pd_keys_allow_destroy (&self);
    return self;
}

void
pd_keys_allow_destroy (pd_keys_allow_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->entries);
        free (*self_p);
        *self_p = NULL;
    }
}

const pd_keys_entry_t *
pd_keys_allow_find_key (const pd_keys_allow_t *self, const char *public_key)
{
    assert (self);
    for (size_t i = 0; public_key && i < self->count; i++)
        if (streq (self->entries[i].public_key, public_key))
            return &self->entries[i];
    return NULL;
}

const pd_keys_entry_t *
pd_keys_allow_find_name (const pd_keys_allow_t *self, const char *name)
{
    assert (self);
    for (size_t i = 0; name && i < self->count; i++)
        if (streq (self->entries[i].name, name))
            return &self->entries[i];
    return NULL;
}

size_t
pd_keys_allow_size (const pd_keys_allow_t *self)
{
    assert (self);
    return self->count;
}

//  --------------------------------------------------------------------------
//  The cluster directory

static void
s_cluster_path (char *path, const char *dir, const char *file, const char *suffix)
{
    snprintf (path, S_PATH_MAX, "%s/%s%s", dir, file, suffix ? suffix : "");
}

int
pd_keys_cluster_init (const char *dir, char *error, size_t size)
{
    assert (dir);
    if (mkdir (dir, S_PRIVATE_DIR_MODE) == 0) {
        //  The umask may have taken bits away; 0700 is what we mean
        if (chmod (dir, S_PRIVATE_DIR_MODE) != 0)
            return s_fail (error, size, "%s: %s", dir, strerror (errno));
    } else if (errno != EEXIST)
        return s_fail (error, size, "cannot create %s: %s", dir, strerror (errno));
    if (pd_keys_check_private_dir (dir, error, size))
        return -1;
    char path[S_PATH_MAX];
    s_cluster_path (path, dir, PD_KEYS_BROKER_FILE, NULL);
    pd_keys_pair_t pair;
    if (pd_keys_pair_generate (&pair))
        return s_fail (error, size, "cannot make a CURVE keypair (libzmq without CURVE?)");
    int rc =
        pd_keys_pair_save (&pair, path, "partnerd broker keypair; keep it mode 0600", error, size);
    pd_keys_pair_wipe (&pair);
    if (rc)
        return -1;
    s_cluster_path (path, dir, PD_KEYS_ALLOW_FILE, NULL);
    return s_write_new (path,
                        "# partnerd allow-list: NAME ROLE PUBLIC-KEY [SERVICES]\n"
                        "# roles: gateway, actor (SERVICES a,b), front, tail\n",
                        error, size);
}

int
pd_keys_cluster_add (const char *dir, const char *name, pd_keys_role_t role, const char *services,
                     char *path, size_t path_size, char *error, size_t size)
{
    assert (dir && name);
    pd_keys_cluster_t *cluster = pd_keys_cluster_load (dir, error, size);
    if (!cluster)
        return -1;
    pd_keys_pair_t pair;
    pd_keys_entry_t entry;
    int rc = pd_keys_pair_generate (&pair);
    if (rc)
        s_fail (error, size, "cannot make a CURVE keypair (libzmq without CURVE?)");
    if (rc == 0)
        rc = pd_keys_entry_set (&entry, name, role, pair.public_key, services, error, size);
    if (rc == 0 && pd_keys_allow_find_name (cluster->allow, name))
        rc = s_fail (error, size, "'%s' is in the allow-list already", name);
    char key_path[S_PATH_MAX];
    s_cluster_path (key_path, dir, name, PD_KEYS_SUFFIX);
    if (rc == 0) {
        memcpy (pair.server_key, cluster->pair.public_key, PD_KEYS_Z85 + 1);
        char comment[PD_KEYS_LINE_MAX];
        snprintf (comment, sizeof (comment), "partnerd key of %s (role %s); keep it mode 0600",
                  name, pd_keys_role_name (role));
        rc = pd_keys_pair_save (&pair, key_path, comment, error, size);
    }
    pd_keys_pair_wipe (&pair);
    pd_keys_cluster_destroy (&cluster);
    if (rc)
        return -1;

    //  The line, appended in one write to a file that passed the checks
    char line[PD_KEYS_LINE_MAX];
    int length = snprintf (line, sizeof (line), "%s %s %s", entry.name,
                           pd_keys_role_name (entry.role), entry.public_key);
    for (size_t i = 0; i < entry.service_count; i++)
        length += snprintf (line + length, sizeof (line) - (size_t)length, "%s%s", i ? "," : " ",
                            entry.services[i]);
    snprintf (line + length, sizeof (line) - (size_t)length, "\n");
    char allow_path[S_PATH_MAX];
    s_cluster_path (allow_path, dir, PD_KEYS_ALLOW_FILE, NULL);
    if (s_append_private (allow_path, line, error, size)) {
        unlink (key_path);
        return -1;
    }
    if (path && path_size)
        snprintf (path, path_size, "%s", key_path);
    return 0;
}

pd_keys_cluster_t *
pd_keys_cluster_load (const char *dir, char *error, size_t size)
{
    assert (dir);
    pd_keys_cluster_t *self = (pd_keys_cluster_t *)zmalloc (sizeof (pd_keys_cluster_t));
    char path[S_PATH_MAX];
    s_cluster_path (path, dir, PD_KEYS_BROKER_FILE, NULL);
    if (pd_keys_pair_load (&self->pair, path, false, error, size) == 0) {
        s_cluster_path (path, dir, PD_KEYS_ALLOW_FILE, NULL);
        self->allow = pd_keys_allow_load (path, error, size);
    }
    if (!self->allow)
        pd_keys_cluster_destroy (&self);
    return self;
}

pd_keys_cluster_t *
pd_keys_cluster_dup (const pd_keys_cluster_t *self)
{
    assert (self);
    pd_keys_cluster_t *copy = (pd_keys_cluster_t *)zmalloc (sizeof (pd_keys_cluster_t));
    copy->pair = self->pair;
    copy->allow = (pd_keys_allow_t *)zmalloc (sizeof (pd_keys_allow_t));
    size_t count = self->allow->count;
    copy->allow->entries = (pd_keys_entry_t *)calloc (count ? count : 1, sizeof (pd_keys_entry_t));
    assert (copy->allow->entries);
    memcpy (copy->allow->entries, self->allow->entries, count * sizeof (pd_keys_entry_t));
    copy->allow->count = copy->allow->max = count;
    return copy;
}

void
pd_keys_cluster_destroy (pd_keys_cluster_t **self_p)
{
    assert (self_p);
    pd_keys_cluster_t *self = *self_p;
    if (self) {
        pd_keys_pair_wipe (&self->pair);
        pd_keys_allow_destroy (&self->allow);
        free (self);
        *self_p = NULL;
    }
}

const pd_keys_pair_t *
pd_keys_cluster_pair (const pd_keys_cluster_t *self)
{
    assert (self);
    return &self->pair;
}

const pd_keys_allow_t *
pd_keys_cluster_allow (const pd_keys_cluster_t *self)
{
    assert (self);
    return self->allow;
}
