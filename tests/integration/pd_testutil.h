/*  pd_testutil - integration test helpers: real processes, real HTTP

    Processes are started with fork/exec; their stdout is read line by line
    by a thread, echoed to stderr (prefixed) for the test log, and watched
    for the readiness line "partnerd: ready" - the signal a test waits on.
    HTTP goes through libcurl to 127.0.0.1 only.
*/
#ifndef PD_TESTUTIL_H_INCLUDED
#define PD_TESTUTIL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

typedef struct _pd_proc_t pd_proc_t;

//  Start PARTNERD_BIN with the NULL-terminated arguments (argv[0] excluded)
//  and wait up to timeout_ms for its readiness line. NULL if it exited or
//  did not get ready in time (then it is killed).
pd_proc_t *pd_proc_start (const char *const args[], int timeout_ms);

//  Send `signal`, wait for the exit, free, null *self_p. Returns the exit
//  status (0..255), or 128 + signal number if it died of a signal.
int pd_proc_stop (pd_proc_t **self_p, int signal);

pid_t pd_proc_pid (pd_proc_t *self);

//  Run `program` (PARTNERD_BIN, PARTNERCTL_BIN) with the NULL-terminated
//  arguments to its end, at most timeout_ms (then it is killed). What it
//  printed on stdout and stderr goes to output (size bytes, NUL-terminated,
//  may be NULL) and to the test log. Returns its exit status (0..255), 128 +
//  signal number if it died of a signal, -1 if it could not run.
int pd_run (const char *program, const char *const args[], char *output, size_t size,
            int timeout_ms);

//  pd_run in two steps, for a program that runs while the test goes on:
//  start it (env: "NAME=value" entries added to its environment, or
//  NULL), its stdout and stderr on *out_fd; then read them to its end (at
//  most timeout_ms from the wait's start, then it is killed) and reap it.
//  0 or -1; pd_spawn_wait returns what pd_run does.
int pd_spawn (const char *program, const char *const args[], const char *const env[], pid_t *pid,
              int *out_fd);
int pd_spawn_wait (pid_t pid, int out_fd, char *output, size_t size, int timeout_ms);

//  Did the process print a line containing `text` (so far)?
bool pd_proc_printed (pd_proc_t *self, const char *text);

//  The rest of the first line printed so far that contains `marker` (the
//  text after the marker, without the newline) into text (size bytes).
//  false if no line contains it.
bool pd_proc_line_after (pd_proc_t *self, const char *marker, char *text, size_t size);

//  An all-in-one partnerd on free loopback ports with a fresh data
//  directory, started with a settings file (mode 0600) that says
//  public_url = base, cookie_secure = false, appliance_endpoint = endpoint
//  (also what it binds for appliances), then the caller's lines.
typedef struct {
    char *dir; //  data directory, removed by pd_instance_stop
    pd_proc_t *server;
    char base[96];     //  http://127.0.0.1:PORT, also its public_url
    char endpoint[64]; //  its appliance front, tcp://127.0.0.1:PORT
    char *admin_key;
} pd_instance_t;

//  Start one; `settings` (may be NULL) are more `name = value` lines. Its
//  admin key is read. 0 or -1.
int pd_instance_start (pd_instance_t *self, const char *settings, int timeout_ms);

//  Stop it with `signal` (SIGKILL: a crash) and start it again on the same
//  data directory, ports and settings file, with `settings` (may be NULL)
//  appended to that file (later lines win). 0 or -1.
int pd_instance_restart (pd_instance_t *self, int signal, const char *settings, int timeout_ms);

//  Stop it with SIGTERM and remove its directory: the exit status (0 =
//  clean, and under the sanitizers no leaks), -1 if it was not running.
int pd_instance_stop (pd_instance_t *self);

//  A TCP port on 127.0.0.1 that was free a moment ago.
int pd_test_free_port (void);

//  The CLOCK_REALTIME time `ms` from now, for pthread_cond_timedwait
struct timespec pd_test_deadline (int ms);

//  A fresh temporary directory (caller frees the string); removal with
//  its contents.
char *pd_test_tmpdir (void);
void pd_test_rmdir (const char *path);

//  The first line of a file, without the newline (caller frees), or NULL.
char *pd_test_read_line (const char *path);

typedef struct {
    long status; //  HTTP status, 0 if the request failed
    char content_type[128];
    char retry_after[32];  //  Retry-After header, if any
    char allow[128];       //  Allow header, if any
    char location[4096];   //  Location header, if any (redirects are not followed)
    char set_cookie[4096]; //  every Set-Cookie header value, one per line
    char *body;            //  NUL-terminated
    size_t body_size;
    json_t *json; //  parsed body if it is JSON, else NULL
} pd_test_http_t;

//  One HTTP request. `api_key` adds X-API-Key; `body`, if not NULL, is sent
//  with `content_type` (NULL = application/json). Returns 0 if a response
//  came (whatever its status), -1 otherwise.
int pd_test_http (const char *method, const char *url, const char *api_key, const char *body,
                  const char *content_type, pd_test_http_t *response);
void pd_test_http_clear (pd_test_http_t *response);

//  A request with more options; NULL fields are left out.
typedef struct {
    const char *api_key; //  X-API-Key
    const char *cookie;  //  Cookie header value: "a=1; b=2"
    const char *csrf;    //  X-CSRF-Token
    const char *body;
    const char *content_type; //  NULL = application/json when body is set
} pd_test_http_options_t;
int pd_test_http_ex (const char *method, const char *url, const pd_test_http_options_t *options,
                     pd_test_http_t *response);

//  The value of cookie `name` set by the response into value (size bytes),
//  and that Set-Cookie line's attributes (after the value) into attributes
//  (may be NULL). false if the response set no such cookie.
bool pd_test_http_cookie (const pd_test_http_t *response, const char *name, char *value,
                          size_t size, char *attributes, size_t attributes_size);

//  Shorthands on response->json
const char *pd_json_str (const pd_test_http_t *response, const char *key);
long long pd_json_int (const pd_test_http_t *response, const char *key);

//  Raw TCP, for requests libcurl would not send

//  A connection to 127.0.0.1:port from the local address `source` (any
//  loopback address, "127.0.0.7": a client of its own; NULL = any). The
//  socket, or -1.
int pd_raw_connect (int port, const char *source);

//  Send all of data[0..size); 0 or -1.
int pd_raw_send (int fd, const void *data, size_t size);

//  Read what comes until the peer closes, `size` - 1 bytes are in, or
//  timeout_ms pass (counted from the call). NUL-terminates buf; returns the
//  bytes read. *closed (may be NULL) tells whether the peer closed.
size_t pd_raw_read (int fd, char *buf, size_t size, int timeout_ms, bool *closed);

#endif
