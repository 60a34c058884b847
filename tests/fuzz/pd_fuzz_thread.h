/*  pd_fuzz_thread - run each fuzz input on a thread with production's stack

    Untrusted input is parsed on CivetWeb's worker threads, whose stack is
    PD_GATEWAY_WORKER_STACK (100 KiB), not on a main thread's 8 MiB: a
    recursion that overflows in production passes unnoticed on a big stack.
    Every fuzz target hands its input to pd_fuzz_thread_run, which runs it
    on one long-lived thread of that stack size and waits for it.
*/
#ifndef PD_FUZZ_THREAD_H_INCLUDED
#define PD_FUZZ_THREAD_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef void (pd_fuzz_fn) (const uint8_t *data, size_t size);

//  Run fn (data, size) on the fuzzing thread and return when it is done.
//  Aborts if the thread cannot be started.
void pd_fuzz_thread_run (pd_fuzz_fn *fn, const uint8_t *data, size_t size);

//  The stack size of the fuzzing thread, as the system gave it.
size_t pd_fuzz_thread_stack (void);

#endif
