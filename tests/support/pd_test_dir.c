/*  pd_test_dir - the tests' one temporary-directory helper (see pd_test_dir.h) */
#include "pd_test_dir.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#define S_OPEN_FDS 16 //  descriptors nftw may hold

int
pd_test_dir_make (const char *name, char *dir, size_t size)
{
    int written = snprintf (dir, size, "/tmp/%s-XXXXXX", name);
    if (written < 0 || (size_t)written >= size)
        return -1;
    return mkdtemp (dir) ? 0 : -1;
}

static int
s_remove (const char *path, const struct stat *info, int flag, struct FTW *ftw)
{
    (void)info, (void)flag, (void)ftw;
    return remove (path);
}

void
pd_test_dir_remove (const char *dir)
{
    if (dir && *dir)
        nftw (dir, s_remove, S_OPEN_FDS, FTW_DEPTH | FTW_PHYS);
}
