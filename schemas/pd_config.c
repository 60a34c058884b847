/*  pd_config - partnerd's settings, declared once (see pd_config.h) */
#include "pd_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_LINE_MAX 4096
#define S_ENV_MAX  128

typedef enum { S_STR, S_INT, S_BOOL } s_type_t;

typedef struct {
    const char *name;
    s_type_t type;
    const char *value;
    bool secret;
    const char *doc;
    size_t offset;
} s_key_t;

static const s_key_t s_keys[] = {
#define S_KEY(name, type, value, secret, doc)                                                      \
    {#name, S_##type, value, secret, doc, offsetof (pd_config_t, name)},
    PD_CONFIG_KEYS (S_KEY)
#undef S_KEY
};
#define S_KEY_COUNT (sizeof (s_keys) / sizeof (s_keys[0]))

static int
s_fail (char *error, size_t size, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    if (error && size)
        vsnprintf (error, size, fmt, args);
    va_end (args);
    return -1;
}

static const s_key_t *
s_find (const char *name)
{
    for (size_t i = 0; i < S_KEY_COUNT; i++)
        if (strcmp (s_keys[i].name, name) == 0)
            return &s_keys[i];
    return NULL;
}

//  Parse `text` into the key's field
static int
s_set (pd_config_t *self, const s_key_t *key, const char *text, char *error, size_t size)
{
    void *field = (char *)self + key->offset;
    if (key->type == S_STR) {
        char *copy = strdup (text);
        if (!copy)
            return s_fail (error, size, "out of memory");
        free (*(char **)field);
        *(char **)field = copy;
    } else if (key->type == S_INT) {
        char *end = NULL;
        errno = 0;
        long long value = strtoll (text, &end, 10);
        if (errno || end == text || *end || value < 0)
            return s_fail (error, size, "%s: '%s' is not a whole number >= 0", key->name, text);
        *(int64_t *)field = value;
    } else if (strcmp (text, "true") == 0 || strcmp (text, "1") == 0)
        *(bool *)field = true;
    else if (strcmp (text, "false") == 0 || strcmp (text, "0") == 0)
        *(bool *)field = false;
    else
        return s_fail (error, size, "%s: '%s' is not true or false", key->name, text);
    return 0;
}

static char *
s_trim (char *text)
{
    while (isspace ((unsigned char)*text))
        text++;
    size_t length = strlen (text);
    while (length && isspace ((unsigned char)text[length - 1]))
        text[--length] = 0;
    return text;
}

static int
s_load_file (pd_config_t *self, const char *path, char *error, size_t size)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return s_fail (error, size, "%s: %s", path, strerror (errno));
    struct stat info;
    //  Private: ours, and no group or other bits (as pd_keys_check_private)
    bool private_file =
        fstat (fileno (file), &info) == 0 && (info.st_mode & 077) == 0 && info.st_uid == geteuid ();
    char line[S_LINE_MAX];
    int rc = 0;
    for (unsigned number = 1; rc == 0 && fgets (line, sizeof (line), file); number++) {
        char *text = s_trim (line);
        if (*text == 0 || *text == '#')
            continue;
        char *equals = strchr (text, '=');
        if (!equals) {
            rc = s_fail (error, size, "%s:%u: expected name = value", path, number);
            break;
        }
        *equals = 0;
        char *name = s_trim (text);
        char *value = s_trim (equals + 1);
        const s_key_t *key = s_find (name);
        if (!key)
            rc = s_fail (error, size, "%s:%u: unknown setting '%s'", path, number, name);
        else if (key->secret && *value && !private_file)
            rc = s_fail (error, size,
                         "%s sets the secret %s but is readable by others or not owned by "
                         "this user: chown it to this user and chmod 600 it",
                         path, name);
        else {
            rc = s_set (self, key, value, error, size);
            self->given[key - s_keys] = true;
        }
    }
    fclose (file);
    return rc;
}

static int
s_load_environment (pd_config_t *self, char *error, size_t size)
{
    for (size_t i = 0; i < S_KEY_COUNT; i++) {
        char variable[S_ENV_MAX] = "PARTNERD_";
        size_t length = strlen (variable);
        for (const char *c = s_keys[i].name; *c && length + 1 < sizeof (variable); c++)
            variable[length++] = (char)toupper ((unsigned char)*c);
        variable[length] = 0;
        const char *value = getenv (variable);
        if (value && s_set (self, &s_keys[i], value, error, size) != 0)
            return -1;
        if (value)
            self->given[i] = true;
    }
    return 0;
}

pd_config_t *
pd_config_new (const char *path, char *error, size_t error_size)
{
    pd_config_t *self = calloc (1, sizeof (pd_config_t));
    if (!self) {
        s_fail (error, error_size, "out of memory");
        return NULL;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < S_KEY_COUNT; i++)
        rc = s_set (self, &s_keys[i], s_keys[i].value, error, error_size);
    if (rc == 0 && path)
        rc = s_load_file (self, path, error, error_size);
    if (rc == 0)
        rc = s_load_environment (self, error, error_size);
    if (rc != 0)
        pd_config_destroy (&self);
    return self;
}

void
pd_config_destroy (pd_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pd_config_t *self = *self_p;
    for (size_t i = 0; i < S_KEY_COUNT; i++)
        if (s_keys[i].type == S_STR)
            free (*(char **)((char *)self + s_keys[i].offset));
    free (self);
    *self_p = NULL;
}

int64_t
pd_config_now (const pd_config_t *self)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    int64_t ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    return self ? ms + __atomic_load_n (&self->clock_skew_ms, __ATOMIC_RELAXED) : ms;
}

void
pd_config_clock_advance (pd_config_t *self, int64_t ms)
{
    __atomic_add_fetch (&self->clock_skew_ms, ms, __ATOMIC_RELAXED);
}

void
pd_config_describe (FILE *out)
{
    static const char *const s_type_names[] = {"text", "number", "true|false"};
    for (size_t i = 0; i < S_KEY_COUNT; i++)
        fprintf (out, "  %-28s %s%s [%s]\n      %s\n", s_keys[i].name, s_type_names[s_keys[i].type],
                 s_keys[i].secret ? ", secret" : "", s_keys[i].value, s_keys[i].doc);
    fprintf (out, "\nEach can also be set with the environment variable PARTNERD_<NAME>.\n");
}
