/*  pd_testutil - integration test helpers (see pd_testutil.h) */
#include "pd_testutil.h"
#include "pd_test_dir.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define S_READY_LINE "partnerd: ready"
#define S_OUTPUT_MAX (256 * 1024)
#define S_MAX_ARGS   32

struct _pd_proc_t {
    pid_t pid;
    int out_fd; //  read end of the child's stdout
    pthread_t reader;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    char output[S_OUTPUT_MAX]; //  everything printed (truncated at the max)
    size_t output_size;
    bool ready;
    bool closed; //  the child closed its stdout (exited)
};

static void *
s_reader (void *arg)
{
    pd_proc_t *self = arg;
    FILE *in = fdopen (self->out_fd, "r");
    char line[4096];
    while (in && fgets (line, sizeof (line), in)) {
        fprintf (stderr, "  [partnerd %d] %s", (int)self->pid, line);
        pthread_mutex_lock (&self->lock);
        size_t length = strlen (line);
        if (self->output_size + length < S_OUTPUT_MAX) {
            memcpy (self->output + self->output_size, line, length + 1);
            self->output_size += length;
        }
        if (strncmp (line, S_READY_LINE, strlen (S_READY_LINE)) == 0)
            self->ready = true;
        pthread_cond_broadcast (&self->changed);
        pthread_mutex_unlock (&self->lock);
    }
    if (in)
        fclose (in);
    pthread_mutex_lock (&self->lock);
    self->closed = true;
    pthread_cond_broadcast (&self->changed);
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

pd_proc_t *
pd_proc_start (const char *const args[], int timeout_ms)
{
    const char *argv[S_MAX_ARGS + 4] = {PARTNERD_BIN};
    size_t argc = 1;
    bool has_front_bind = false;
    for (; args[argc - 1] && argc <= S_MAX_ARGS; argc++) {
        argv[argc] = args[argc - 1];
        has_front_bind = has_front_bind || strcmp (argv[argc], "--appliance-bind") == 0;
    }
    //  The all-in-one process and `partnerd front` bind the appliance port:
    //  tests that do not choose one get a free one, so that tests can run
    //  side by side
    char front_bind[64];
    bool runs_front = args[0] && (args[0][0] == '-' || strcmp (args[0], "front") == 0);
    if (runs_front && !has_front_bind) {
        snprintf (front_bind, sizeof (front_bind), "tcp://127.0.0.1:%d", pd_test_free_port ());
        argv[argc++] = "--appliance-bind";
        argv[argc++] = front_bind;
    }
    argv[argc] = NULL;

    int fds[2];
    if (pipe2 (fds, O_CLOEXEC) != 0)
        return NULL;
    pd_proc_t *self = calloc (1, sizeof (*self));
    self->pid = fork ();
    if (self->pid == 0) {
        dup2 (fds[1], STDOUT_FILENO);
        execv (PARTNERD_BIN, (char *const *)argv);
        _exit (127);
    }
    close (fds[1]);
    self->out_fd = fds[0];
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->changed, NULL);
    pthread_create (&self->reader, NULL, s_reader, self);

    struct timespec deadline = pd_test_deadline (timeout_ms);
    pthread_mutex_lock (&self->lock);
    int rc = 0;
    while (!self->ready && !self->closed && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait (&self->changed, &self->lock, &deadline);
    bool ready = self->ready;
    pthread_mutex_unlock (&self->lock);
    if (!ready) {
        fprintf (stderr, "pd_testutil: partnerd did not get ready\n");
        pd_proc_stop (&self, SIGKILL);
    }
    return self;
}

int
pd_proc_stop (pd_proc_t **self_p, int signal)
{
    if (!self_p || !*self_p)
        return -1;
    pd_proc_t *self = *self_p;
    kill (self->pid, signal);
    int status = 0;
    while (waitpid (self->pid, &status, 0) < 0 && errno == EINTR)
        ;
    pthread_join (self->reader, NULL);
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->changed);
    free (self);
    *self_p = NULL;
    if (WIFEXITED (status))
        return WEXITSTATUS (status);
    return 128 + WTERMSIG (status);
}

int
pd_spawn (const char *program, const char *const args[], const char *const env[], pid_t *pid,
          int *out_fd)
{
    const char *argv[S_MAX_ARGS + 2] = {program};
    size_t argc = 1;
    for (; args[argc - 1] && argc <= S_MAX_ARGS; argc++)
        argv[argc] = args[argc - 1];
    argv[argc] = NULL;
    int fds[2];
    if (pipe2 (fds, O_CLOEXEC) != 0)
        return -1;
    *pid = fork ();
    if (*pid == 0) {
        dup2 (fds[1], STDOUT_FILENO);
        dup2 (fds[1], STDERR_FILENO);
        for (size_t i = 0; env && env[i]; i++)
            putenv ((char *)env[i]); //  the child's own environment
        execv (program, (char *const *)argv);
        _exit (127);
    }
    close (fds[1]);
    if (*pid < 0) {
        close (fds[0]);
        return -1;
    }
    *out_fd = fds[0];
    return 0;
}

int
pd_spawn_wait (pid_t pid, int out_fd, char *output, size_t size, int timeout_ms)
{
    size_t length = 0;
    if (output && size)
        output[0] = 0;
    struct timespec start;
    clock_gettime (CLOCK_MONOTONIC, &start);
    bool killed = false;
    while (true) {
        struct timespec now;
        clock_gettime (CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        struct pollfd item = {out_fd, POLLIN, 0};
        int ready = elapsed < timeout_ms ? poll (&item, 1, (int)(timeout_ms - elapsed)) : 0;
        if (ready == 0 && !killed) {
            kill (pid, SIGKILL); //  out of time; read what is left
            killed = true;
            continue;
        }
        char buffer[4096];
        ssize_t got = ready > 0 ? read (out_fd, buffer, sizeof (buffer)) : -1;
        if (got <= 0 && !(got < 0 && errno == EINTR))
            break; //  end of output: it exited
        if (got > 0) {
            fprintf (stderr, "  [run %d] %.*s", (int)pid, (int)got, buffer);
            if (output && length + 1 < size) {
                size_t take = (size_t)got < size - length - 1 ? (size_t)got : size - length - 1;
                memcpy (output + length, buffer, take);
                length += take;
                output[length] = 0;
            }
        }
    }
    close (out_fd);
    int status = 0;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

int
pd_run (const char *program, const char *const args[], char *output, size_t size, int timeout_ms)
{
    pid_t pid;
    int fd;
    if (pd_spawn (program, args, NULL, &pid, &fd) != 0)
        return -1;
    return pd_spawn_wait (pid, fd, output, size, timeout_ms);
}

pid_t
pd_proc_pid (pd_proc_t *self)
{
    return self->pid;
}

bool
pd_proc_printed (pd_proc_t *self, const char *text)
{
    pthread_mutex_lock (&self->lock);
    bool found = strstr (self->output, text) != NULL;
    pthread_mutex_unlock (&self->lock);
    return found;
}

bool
pd_proc_line_after (pd_proc_t *self, const char *marker, char *text, size_t size)
{
    pthread_mutex_lock (&self->lock);
    const char *found = strstr (self->output, marker);
    if (found) {
        found += strlen (marker);
        size_t length = strcspn (found, "\r\n");
        if (size)
            snprintf (text, size, "%.*s", (int)length, found);
    }
    pthread_mutex_unlock (&self->lock);
    return found != NULL;
}

struct timespec
pd_test_deadline (int ms)
{
    struct timespec until;
    clock_gettime (CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    return until;
}

int
pd_test_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t size = sizeof (address);
    int port = -1;
    if (bind (fd, (struct sockaddr *)&address, sizeof (address)) == 0 &&
        getsockname (fd, (struct sockaddr *)&address, &size) == 0)
        port = ntohs (address.sin_port);
    close (fd);
    return port;
}

char *
pd_test_tmpdir (void)
{
    char *path = malloc (PD_TEST_DIR_MAX);
    if (path && pd_test_dir_make ("partnerd-test", path, PD_TEST_DIR_MAX) != 0) {
        free (path);
        path = NULL;
    }
    return path;
}

void
pd_test_rmdir (const char *path)
{
    pd_test_dir_remove (path);
}

char *
pd_test_read_line (const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return NULL;
    char line[1024];
    char *result = NULL;
    if (fgets (line, sizeof (line), file)) {
        line[strcspn (line, "\r\n")] = 0;
        result = strdup (line);
    }
    fclose (file);
    return result;
}

static size_t
s_on_body (char *data, size_t size, size_t count, void *arg)
{
    pd_test_http_t *response = arg;
    size_t length = size * count;
    char *body = realloc (response->body, response->body_size + length + 1);
    if (!body)
        return 0;
    memcpy (body + response->body_size, data, length);
    response->body = body;
    response->body_size += length;
    body[response->body_size] = 0;
    return length;
}

static void
s_copy_header (const char *line, size_t length, const char *name, char *out, size_t size)
{
    size_t name_length = strlen (name);
    if (length <= name_length || strncasecmp (line, name, name_length) != 0)
        return;
    const char *value = line + name_length;
    size_t value_length = length - name_length;
    while (value_length && (*value == ' '))
        value++, value_length--;
    while (value_length && (value[value_length - 1] == '\r' || value[value_length - 1] == '\n'))
        value_length--;
    snprintf (out, size, "%.*s", (int)value_length, value);
}

static size_t
s_on_header (char *data, size_t size, size_t count, void *arg)
{
    pd_test_http_t *response = arg;
    size_t length = size * count;
    s_copy_header (data, length, "Retry-After:", response->retry_after,
                   sizeof (response->retry_after));
    s_copy_header (data, length, "Allow:", response->allow, sizeof (response->allow));
    s_copy_header (data, length, "Location:", response->location, sizeof (response->location));
    char cookie[1024] = "";
    s_copy_header (data, length, "Set-Cookie:", cookie, sizeof (cookie));
    if (*cookie) {
        size_t used = strlen (response->set_cookie);
        snprintf (response->set_cookie + used, sizeof (response->set_cookie) - used, "%s\n",
                  cookie);
    }
    return length;
}

int
pd_test_http (const char *method, const char *url, const char *api_key, const char *body,
              const char *content_type, pd_test_http_t *response)
{
    pd_test_http_options_t options = {
        .api_key = api_key, .body = body, .content_type = content_type};
    return pd_test_http_ex (method, url, &options, response);
}

int
pd_test_http_ex (const char *method, const char *url, const pd_test_http_options_t *options,
                 pd_test_http_t *response)
{
    memset (response, 0, sizeof (*response));
    CURL *curl = curl_easy_init ();
    if (!curl)
        return -1;
    struct curl_slist *headers = NULL;
    char line[4096];
    if (options->api_key) {
        snprintf (line, sizeof (line), "X-API-Key: %s", options->api_key);
        headers = curl_slist_append (headers, line);
    }
    if (options->csrf) {
        snprintf (line, sizeof (line), "X-CSRF-Token: %s", options->csrf);
        headers = curl_slist_append (headers, line);
    }
    if (options->cookie) {
        snprintf (line, sizeof (line), "Cookie: %s", options->cookie);
        headers = curl_slist_append (headers, line);
    }
    if (options->body) {
        snprintf (line, sizeof (line), "Content-Type: %s",
                  options->content_type ? options->content_type : "application/json");
        headers = curl_slist_append (headers, line);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, options->body);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, (long)strlen (options->body));
    }
    headers = curl_slist_append (headers, "Expect:");
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, response);
    curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt (curl, CURLOPT_HEADERDATA, response);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt (curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 0L);
    CURLcode rc = curl_easy_perform (curl);
    if (rc == CURLE_OK) {
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &response->status);
        char *type = NULL;
        curl_easy_getinfo (curl, CURLINFO_CONTENT_TYPE, &type);
        if (type)
            snprintf (response->content_type, sizeof (response->content_type), "%s", type);
        if (response->body)
            response->json = json_loadb (response->body, response->body_size, 0, NULL);
    }
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    return rc == CURLE_OK ? 0 : -1;
}

bool
pd_test_http_cookie (const pd_test_http_t *response, const char *name, char *value, size_t size,
                     char *attributes, size_t attributes_size)
{
    size_t name_length = strlen (name);
    const char *line = response->set_cookie;
    while (*line) {
        const char *end = strchr (line, '\n');
        size_t length = end ? (size_t)(end - line) : strlen (line);
        if (length > name_length && strncmp (line, name, name_length) == 0 &&
            line[name_length] == '=') {
            const char *start = line + name_length + 1;
            const char *semicolon = memchr (start, ';', length - name_length - 1);
            size_t value_length =
                semicolon ? (size_t)(semicolon - start) : length - name_length - 1;
            snprintf (value, size, "%.*s", (int)value_length, start);
            if (attributes)
                snprintf (attributes, attributes_size, "%.*s",
                          semicolon ? (int)(line + length - semicolon) : 0,
                          semicolon ? semicolon : "");
            return true;
        }
        line += length + (end ? 1 : 0);
    }
    return false;
}

void
pd_test_http_clear (pd_test_http_t *response)
{
    free (response->body);
    json_decref (response->json);
    memset (response, 0, sizeof (*response));
}

const char *
pd_json_str (const pd_test_http_t *response, const char *key)
{
    return json_string_value (json_object_get (response->json, key));
}

long long
pd_json_int (const pd_test_http_t *response, const char *key)
{
    return json_integer_value (json_object_get (response->json, key));
}

int
pd_instance_start (pd_instance_t *self, const char *settings, int timeout_ms)
{
    memset (self, 0, sizeof (*self));
    self->dir = pd_test_tmpdir ();
    if (!self->dir)
        return -1;
    char http[64], config[512];
    snprintf (http, sizeof (http), "127.0.0.1:%d", pd_test_free_port ());
    snprintf (self->endpoint, sizeof (self->endpoint), "tcp://127.0.0.1:%d", pd_test_free_port ());
    snprintf (self->base, sizeof (self->base), "http://%s", http);
    snprintf (config, sizeof (config), "%s/partnerd.conf", self->dir);

    FILE *file = fopen (config, "w");
    if (!file)
        return -1;
    fchmod (fileno (file), 0600);
    fprintf (file, "public_url = %s\ncookie_secure = false\nappliance_endpoint = %s\n%s",
             self->base, self->endpoint, settings ? settings : "");
    if (fclose (file) != 0)
        return -1;

    //  The broker binds its default: ipc:// inside the data directory
    const char *args[] = {"--config",         config,         "--data", self->dir, "--http", http,
                          "--appliance-bind", self->endpoint, NULL};
    self->server = pd_proc_start (args, timeout_ms);
    if (!self->server)
        return -1;
    char path[512];
    snprintf (path, sizeof (path), "%s/admin.key", self->dir);
    self->admin_key = pd_test_read_line (path);
    return self->admin_key ? 0 : -1;
}

int
pd_instance_restart (pd_instance_t *self, int signal, const char *settings, int timeout_ms)
{
    if (self->server)
        pd_proc_stop (&self->server, signal);
    char config[512];
    snprintf (config, sizeof (config), "%s/partnerd.conf", self->dir);
    FILE *file = fopen (config, "a");
    if (!file)
        return -1;
    fprintf (file, "\n%s\n", settings ? settings : "");
    if (fclose (file) != 0)
        return -1;
    const char *http = self->base + strlen ("http://");
    const char *args[] = {"--config",         config,         "--data", self->dir, "--http", http,
                          "--appliance-bind", self->endpoint, NULL};
    self->server = pd_proc_start (args, timeout_ms);
    return self->server ? 0 : -1;
}

int
pd_instance_stop (pd_instance_t *self)
{
    int status = self->server ? pd_proc_stop (&self->server, SIGTERM) : -1;
    pd_test_rmdir (self->dir);
    free (self->dir);
    free (self->admin_key);
    memset (self, 0, sizeof (*self));
    return status;
}

//  ---------------------------------------------------------------------------
//  Raw TCP

int
pd_raw_connect (int port, const char *source)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = {.sin_family = AF_INET};
    if (source) {
        if (inet_pton (AF_INET, source, &addr.sin_addr) != 1 ||
            bind (fd, (struct sockaddr *)&addr, sizeof (addr)) != 0) {
            close (fd);
            return -1;
        }
    }
    addr.sin_port = htons ((uint16_t)port);
    inet_pton (AF_INET, "127.0.0.1", &addr.sin_addr);
    if (connect (fd, (struct sockaddr *)&addr, sizeof (addr)) != 0) {
        close (fd);
        return -1;
    }
    return fd;
}

int
pd_raw_send (int fd, const void *data, size_t size)
{
    const char *cursor = data;
    while (size > 0) {
        ssize_t sent = send (fd, cursor, size, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent <= 0)
            return -1;
        cursor += sent;
        size -= (size_t)sent;
    }
    return 0;
}

size_t
pd_raw_read (int fd, char *buf, size_t size, int timeout_ms, bool *closed)
{
    size_t used = 0;
    bool peer_closed = false;
    struct timespec start, now;
    clock_gettime (CLOCK_MONOTONIC, &start);
    while (used + 1 < size && !peer_closed) {
        clock_gettime (CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed >= timeout_ms)
            break;
        struct pollfd item = {fd, POLLIN, 0};
        int ready = poll (&item, 1, (int)(timeout_ms - elapsed));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            break;
        ssize_t got = recv (fd, buf + used, size - 1 - used, 0);
        if (got > 0)
            used += (size_t)got;
        else if (got == 0 || (errno != EINTR && errno != EAGAIN))
            peer_closed = true;
    }
    buf[used] = '\0';
    if (closed)
        *closed = peer_closed;
    return used;
}
