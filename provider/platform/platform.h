/*
 * The file-system work the key store needs, in the store's own terms.
 * record.c says what (a store directory for a scope, a record to read or
 * replace, the entries to list); the platform file says how: modes,
 * owners and groups with fsync/rename on POSIX (posix.c), ACLs under
 * %LOCALAPPDATA% / %ProgramData% on Windows (windows.c).
 *
 * Protection follows the scope a file or directory belongs to:
 *   user:    only the calling user (POSIX 0700/0600);
 *   machine: the administrator writes, the machine group reads so its
 *            members can sign (POSIX 0750/0640 root:<group>), or only
 *            the administrator when that group does not exist.
 * Stores are read strictly in the manner of ssh's StrictModes: a store
 * directory or file others may write is TPMKMS_R_INSECURE_STORE naming
 * the path and why, and store files are never read through links.
 *
 * Every function raises once where it fails, unless its comment says a
 * result is returned "unraised" so the caller can name what was missing.
 */
#ifndef TPMKMS_PLATFORM_H
#define TPMKMS_PLATFORM_H

#include <stddef.h>
#include "errors.h"
#include "uri.h"

#ifndef _WIN32
# define TPMKMS_MACHINE_STORE_DEFAULT "/var/lib/tpmkms"
# define TPMKMS_MACHINE_GROUP_DEFAULT "tss"   /* the group of /dev/tpmrm0 */
#endif

/* Files larger than this are refused (TPMKMS_R_STORE_IO) when read. */
#define TPMKMS_FILE_MAX (1024 * 1024)

/* ---- where the stores are ---- */

/*
 * The default store directory of a scope, OPENSSL_malloc'd.  POSIX: user
 * $XDG_DATA_HOME/tpmkms (absolute values only), else $HOME/.local/share/
 * tpmkms, else the passwd home; machine $TPMKMS_MACHINE_STORE, else
 * /var/lib/tpmkms.  NULL (TPMKMS_R_STORE_IO raised) when the user has no
 * home.
 */
char *tpmkms_platform_store_dir(tpmkms_scope scope);

/*
 * The group that may read the machine store (and so sign with machine
 * keys): $TPMKMS_MACHINE_GROUP, else "tss".  NULL when no such group
 * exists: the machine store is then administrator-only.
 */
const char *tpmkms_platform_machine_group(void);

/* ---- store directories ---- */

/*
 * Creates path and its missing parents with the protection of scope
 * (an existing directory is left as it is), then checks path as
 * tpmkms_platform_dir_check does.  Something not a directory in the way:
 * TPMKMS_R_STORE_IO.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_platform_dir_ensure(const char *path, tpmkms_scope protect);

/*
 * Checks a directory keys are read from: others than its owner may not
 * write it (TPMKMS_R_INSECURE_STORE); not a directory: TPMKMS_R_STORE_IO.
 * *exists is 0 and TPMKMS_R_OK returned when it is absent.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_platform_dir_check(const char *path, int *exists);

/* 1 if path is an existing directory others than its owner may read
 * (a store shared like the machine store); no error raised. */
int tpmkms_platform_dir_is_shared(const char *path);

/*
 * Whether this process may create and replace files in path (a store's
 * keys/ or certs/ directory); the nearest of path and its ancestors that
 * exists decides.  No: TPMKMS_R_REQUIRES_ELEVATION for the machine
 * scope, naming store and its owner; TPMKMS_R_STORE_IO for the user
 * scope.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_platform_check_writable(const char *store, const char *path,
                                         tpmkms_scope scope);

/* ---- store files ---- */

/* What a read learnt about a store file, for the rules that need the
 * content first (a user-scope record must be the caller's). */
typedef struct {
    int link;            /* 1: path is a symbolic link (nothing read) */
    int mine;            /* 1: the calling user owns it */
    char owner[64];      /* the owner as messages name it ("uid 1000") */
    char caller[64];     /* the calling user, likewise ("uid 0") */
} TPMKMS_FILE_INFO;

/*
 * Reads a record or certificate whole (NUL-terminated, at most
 * TPMKMS_FILE_MAX bytes): never through a symbolic link, only a regular
 * file others than its owner may not write (else TPMKMS_R_INSECURE_STORE,
 * raised).  Unraised, so that the caller says what it was: absent,
 * TPMKMS_R_KEY_NOT_FOUND; a symbolic link, TPMKMS_R_INSECURE_STORE with
 * info->link set.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_platform_read_store_file(const char *path, char **data,
                                          size_t *len, TPMKMS_FILE_INFO *info);

/*
 * Writes path atomically with the protection of scope: a temp file in
 * the same directory (created exclusively, never through a link), fsync,
 * rename (or link, when overwrite is 0), fsync of the directory.  Temp
 * files of writers of path that died are swept first.  overwrite 0 and
 * path exists: TPMKMS_R_KEY_EXISTS, unraised, so the caller names what
 * exists.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_platform_write_store_file(const char *path, const void *data,
                                           size_t len, tpmkms_scope protect,
                                           int overwrite);

/* Removes path and syncs its directory.  Absent: TPMKMS_R_KEY_NOT_FOUND,
 * unraised. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_platform_remove(const char *path);

/* 1 if something (a link too) is at path; no error raised. */
int tpmkms_platform_exists(const char *path);

/*
 * Moves the file from to path to (same directory), then syncs the
 * directory: atomically replacing what is at to when overwrite is 1;
 * when overwrite is 0 and to exists, TPMKMS_R_KEY_EXISTS, unraised, and
 * from stays.  from absent: TPMKMS_R_KEY_NOT_FOUND, unraised.
 */
tpmkms_rc tpmkms_platform_rename(const char *from, const char *to,
                                 int overwrite);

/*
 * An exclusive lock on the directory path, held until
 * tpmkms_platform_dir_unlock (or the process ends, however it ends: a
 * killed holder leaves no lock behind).  Waits for another holder.  Only
 * processes that take it are kept out; it needs read access only.
 */
typedef struct tpmkms_dir_lock_st TPMKMS_DIR_LOCK;
tpmkms_rc tpmkms_platform_dir_lock(const char *path, TPMKMS_DIR_LOCK **out);
void tpmkms_platform_dir_unlock(TPMKMS_DIR_LOCK *lock);   /* NULL: no-op */

/*
 * The names in dir that end in suffix, with the suffix cut off and
 * sorted (strcmp).  A missing dir: none.  Free with
 * tpmkms_platform_names_free.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_platform_list(const char *dir, const char *suffix,
                               char ***names, size_t *count);
void tpmkms_platform_names_free(char **names, size_t count);

/* ---- any file ---- */

/*
 * Atomic write of any file, replacing it: as tpmkms_platform_write_store_
 * file with mode's protection (0600 owner-only; group bits: readable by
 * the owner's group).
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_write_file_atomic(const char *path, const void *data,
                                   size_t len, int mode);

/* Reads a whole file (max 1 MiB); KEY_NOT_FOUND if absent, else STORE_IO. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_read_file(const char *path, char **data, size_t *len);

/*
 * Reads a secret (a PIN, an owner auth value) from the first line of the
 * file at path: the bytes before the first "\n" (or end of file), less
 * trailing "\r"s, at most max of them.  *out is OPENSSL_malloc'd, exactly
 * *outlen + 1 bytes, NUL terminated; the caller cleanses and frees it
 * (OPENSSL_clear_free(*out, *outlen + 1)).  Refused, raised with reason
 * and a message naming what (e.g. "pin-source file") and path, never the
 * content:
 *   - what cannot be opened or read (the OS error);
 *   - anything but a regular file (a FIFO, a directory, a device, a
 *     socket; the kind is named): the open never waits on a FIFO and
 *     nothing but a regular file is read, so neither hangs nor reads
 *     without end;
 *   - a file its group or others may read, write or execute (mode & 077,
 *     as ssh refuses a private key): "chmod 600" it;
 *   - a first line longer than max bytes.
 * Links are followed: the file they lead to is what is checked.  Out of
 * memory: TPMKMS_R_INTERNAL.  Every buffer that held the content is
 * cleansed on every path.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_platform_read_secret(const char *path, const char *what,
                                      size_t max, tpmkms_rc reason,
                                      unsigned char **out, size_t *outlen);

/* ---- process ---- */

/*
 * Runs fn when the process exits and when this module is unloaded,
 * whichever comes first, once.  Registering fn again is a no-op; room for
 * a few hooks (TPMKMS_R_INTERNAL, raised, when full).
 */
tpmkms_rc tpmkms_platform_at_exit(void (*fn)(void));

/*
 * An OPENSSL_malloc'd path (printf format); raises TPMKMS_R_INTERNAL on
 * failure.  Portable: defined in record.c, used by every platform file.
 */
char *tpmkms_path_fmt(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#endif
