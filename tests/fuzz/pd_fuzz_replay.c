/*  pd_fuzz_replay - run a fuzz target over files, without libFuzzer

    In ordinary builds each fuzz target links with this driver, and ctest
    replays the target's seed corpus (tests/fuzz/corpus/<target>/), so the
    harness and the inputs that once mattered run on every test pass. With
    -DPARTNERD_FUZZ=ON (clang) the targets link with libFuzzer instead.
*/
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_fuzz_thread.h"

#define S_MAX_INPUT (1024 * 1024)

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int
s_replay_file (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return -1;
    uint8_t *data = malloc (S_MAX_INPUT);
    size_t size = data ? fread (data, 1, S_MAX_INPUT, file) : 0;
    fclose (file);
    if (!data)
        return -1;
    LLVMFuzzerTestOneInput (data, size);
    free (data);
    return 0;
}

int
main (int argc, char **argv)
{
    size_t replayed = 0;
    for (int i = 1; i < argc; i++) {
        DIR *dir = opendir (argv[i]);
        if (!dir) {
            if (s_replay_file (argv[i]) != 0)
                return 1;
            replayed++;
            continue;
        }
        struct dirent *entry;
        while ((entry = readdir (dir))) {
            if (entry->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf (path, sizeof (path), "%s/%s", argv[i], entry->d_name);
            if (s_replay_file (path) != 0) {
                closedir (dir);
                return 1;
            }
            replayed++;
        }
        closedir (dir);
    }
    printf ("replayed on a thread with a %zu-byte stack\n", pd_fuzz_thread_stack ());
    printf ("%zu passed, 0 failed\n", replayed);
    return replayed ? 0 : 1;
}
