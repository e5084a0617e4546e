/*
 * A temporary key store for the unit tests that open keys by name: a
 * mkdtemp root holding $HOME (the user store under it) and
 * $TPMKMS_MACHINE_STORE, removed again by temp_store_remove.
 * Header-only; include after cmocka.h.
 */
#ifndef TPMKMS_TEMP_STORE_H
#define TPMKMS_TEMP_STORE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char ts_root[64];
static char ts_user_store[160];
static char ts_machine_store[160];

static int ts_rm_one(const char *path, const struct stat *st, int flag,
                     struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* 0 on success, as a cmocka setup wants. */
static int temp_store_make(const char *tag)
{
    char home[128];

    snprintf(ts_root, sizeof(ts_root), "/tmp/tpmkms-%s-XXXXXX", tag);
    if (mkdtemp(ts_root) == NULL)
        return -1;
    snprintf(home, sizeof(home), "%s/home", ts_root);
    if (mkdir(home, 0700) != 0)
        return -1;
    setenv("HOME", home, 1);
    unsetenv("XDG_DATA_HOME");
    snprintf(ts_user_store, sizeof(ts_user_store), "%s/.local/share/tpmkms",
             home);
    snprintf(ts_machine_store, sizeof(ts_machine_store), "%s/machine",
             ts_root);
    setenv("TPMKMS_MACHINE_STORE", ts_machine_store, 1);
    umask(022);
    return 0;
}

static int temp_store_remove(void)
{
    return nftw(ts_root, ts_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}


#endif
