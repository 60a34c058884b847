/*  pd_test_dir - the tests' one temporary-directory helper

    Every test that needs files makes its directory here and removes it
    here, so that all of them live under /tmp/<name>-XXXXXX and go away
    with what they hold.
*/
#ifndef PD_TEST_DIR_H_INCLUDED
#define PD_TEST_DIR_H_INCLUDED

#include <stddef.h>

#define PD_TEST_DIR_MAX 64 //  bytes of a path this makes

//  Make a fresh directory /tmp/<name>-XXXXXX (mode 0700) and write its path
//  into dir (size bytes, at least PD_TEST_DIR_MAX). 0, or -1.
int pd_test_dir_make (const char *name, char *dir, size_t size);

//  Remove dir and everything in it (NULL or "": nothing).
void pd_test_dir_remove (const char *dir);

#endif
