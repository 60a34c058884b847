/*  pd_fuzz_thread - run each fuzz input on a thread with production's stack

    One thread, started on first use with a stack of PD_GATEWAY_WORKER_STACK
    bytes, takes one input at a time from the caller through a mutex and two
    condition variables (a thread per input would cost more than most
    inputs).
*/
#include "pd_fuzz_thread.h"
#include "pd_gateway.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_given = PTHREAD_COND_INITIALIZER;
static pthread_cond_t s_done = PTHREAD_COND_INITIALIZER;
static pd_fuzz_fn *s_fn;      //  the input's function, NULL when none waits
static const uint8_t *s_data; //  the input
static size_t s_size;
static size_t s_stack; //  the thread's stack size

static void *
s_thread (void *arg)
{
    (void)arg;
    pthread_attr_t attr;
    if (pthread_getattr_np (pthread_self (), &attr) == 0) {
        pthread_attr_getstacksize (&attr, &s_stack);
        pthread_attr_destroy (&attr);
    }
    pthread_mutex_lock (&s_lock);
    while (true) {
        while (!s_fn)
            pthread_cond_wait (&s_given, &s_lock);
        pthread_mutex_unlock (&s_lock);
        s_fn (s_data, s_size);
        pthread_mutex_lock (&s_lock);
        s_fn = NULL;
        pthread_cond_signal (&s_done);
    }
    return NULL;
}

static void
s_start (void)
{
    pthread_attr_t attr;
    pthread_t thread;
    if (pthread_attr_init (&attr) || pthread_attr_setstacksize (&attr, PD_GATEWAY_WORKER_STACK) ||
        pthread_create (&thread, &attr, s_thread, NULL)) {
        fprintf (stderr, "fuzz: cannot start a thread with a %d-byte stack\n",
                 PD_GATEWAY_WORKER_STACK);
        abort ();
    }
    pthread_attr_destroy (&attr);
    pthread_detach (thread);
}

void
pd_fuzz_thread_run (pd_fuzz_fn *fn, const uint8_t *data, size_t size)
{
    pthread_once (&s_once, s_start);
    pthread_mutex_lock (&s_lock);
    s_fn = fn;
    s_data = data;
    s_size = size;
    pthread_cond_signal (&s_given);
    while (s_fn)
        pthread_cond_wait (&s_done, &s_lock);
    pthread_mutex_unlock (&s_lock);
}

size_t
pd_fuzz_thread_stack (void)
{
    pthread_once (&s_once, s_start);
    pthread_mutex_lock (&s_lock);
    size_t stack = s_stack;
    pthread_mutex_unlock (&s_lock);
    return stack;
}
