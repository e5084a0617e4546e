/*
 * Key records on disk: the text format, the store directories, atomic
 * writes, the security checks on reading, and URI resolution.
 *
 * Reading is strict in the manner of ssh's StrictModes: a store, keys/
 * directory or record writable by group or others is refused, records
 * are never followed through symbolic links, and a user-scope record
 * must belong to the calling user.  Otherwise someone else who can write
 * there could swap in a key blob of their choosing.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "debug.h"
#include "record.h"

#define KEYS_SUBDIR "keys"
#define CERTS_SUBDIR "certs"
#define RECORD_SUFFIX ".tpmkey"
#define CERT_SUFFIX ".pem"
#define FILE_MAX (1024 * 1024)
#define RECORD_MAGIC "# tpmkms key record"

/* ---- small helpers ---- */

static char *path_fmt(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* An OPENSSL_malloc'd path; raises TPMKMS_R_INTERNAL on failure. */
static char *path_fmt(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || (s = OPENSSL_malloc((size_t)n + 1)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory building a path");
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/*
 * How a store's directories and files are made.  User: 0700/0600.
 * Machine: 0750/0640 with the machine group (so its members can read
 * the records and sign), or 0700/0600 when that group does not exist.
 */
typedef struct {
    mode_t dmode, fmode;
    gid_t gid;                   /* (gid_t)-1: the creator's group */
} store_perms;

#define NO_GID ((gid_t)-1)

const char *tpmkms_machine_group(gid_t *gid)
{
    const char *name = secure_getenv("TPMKMS_MACHINE_GROUP");
    struct group gr, *res = NULL;
    char buf[4096];

    if (name == NULL || name[0] == '\0')
        name = TPMKMS_MACHINE_GROUP_DEFAULT;
    if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || res == NULL)
        return NULL;
    *gid = gr.gr_gid;
    return name;
}

static store_perms perms_for(tpmkms_scope scope)
{
    store_perms p = { 0700, 0600, NO_GID };
    gid_t gid;

    if (scope == TPMKMS_SCOPE_MACHINE && tpmkms_machine_group(&gid) != NULL) {
        p.dmode = 0750;
        p.fmode = 0640;
        p.gid = gid;
    }
    return p;
}

static tpmkms_rc io_error(const char *what, const char *path, int err)
{
    TPMKMS_raise(TPMKMS_R_STORE_IO, "%s %s: %s", what, path, strerror(err));
    return TPMKMS_R_STORE_IO;
}

static tpmkms_rc bad_name(const char *name)
{
    TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                 "key name '%.80s' is invalid: use 1..%d characters of "
                 "A-Z a-z 0-9 . _ - not starting with '.'",
                 name != NULL ? name : "", TPMKMS_NAME_MAX);
    return TPMKMS_R_BAD_PARAMETER;
}

/*
 * A directory we read keys from must not be writable by group or others.
 * *exists is 0 (and TPMKMS_R_OK returned) when it is absent.
 */
static tpmkms_rc check_dir(const char *path, int *exists)
{
    struct stat st;

    *exists = 0;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return TPMKMS_R_OK;
        return io_error("cannot examine", path, errno);
    }
    if (!S_ISDIR(st.st_mode)) {
        TPMKMS_raise(TPMKMS_R_STORE_IO, "%s is not a directory", path);
        return TPMKMS_R_STORE_IO;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        TPMKMS_raise(TPMKMS_R_INSECURE_STORE,
                     "%s is writable by group or others (mode %04o); "
                     "refusing to use it (chmod go-w %s)",
                     path, (unsigned)(st.st_mode & 07777), path);
        return TPMKMS_R_INSECURE_STORE;
    }
    *exists = 1;
    return TPMKMS_R_OK;
}

/* The checks on an open record or certificate file. */
static tpmkms_rc check_file(int fd, const char *path, struct stat *st)
{
    if (fstat(fd, st) != 0)
        return io_error("cannot examine", path, errno);
    if (!S_ISREG(st->st_mode)) {
        TPMKMS_raise(TPMKMS_R_INSECURE_STORE, "%s is not a regular file",
                     path);
        return TPMKMS_R_INSECURE_STORE;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        TPMKMS_raise(TPMKMS_R_INSECURE_STORE,
                     "%s is writable by group or others (mode %04o); "
                     "refusing to use it (chmod go-w %s)",
                     path, (unsigned)(st->st_mode & 07777), path);
        return TPMKMS_R_INSECURE_STORE;
    }
    return TPMKMS_R_OK;
}

/*
 * mkdir -p: the directories it creates get exactly perms' mode and group.
 * A group this process may not give (not root, not a member) leaves the
 * directory owner-only rather than readable by the creator's own group.
 */
static tpmkms_rc make_dirs(const char *path, store_perms perms)
{
    char *p = OPENSSL_strdup(path);
    size_t len;
    tpmkms_rc rc = TPMKMS_R_OK;

    if (p == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory creating %s", path);
        return TPMKMS_R_INTERNAL;
    }
    len = strlen(p);
    while (len > 1 && p[len - 1] == '/')
        p[--len] = '\0';
    for (size_t i = 1; i <= len; i++) {
        struct stat st;

        if (p[i] != '/' && p[i] != '\0')
            continue;
        p[i] = '\0';
        if (mkdir(p, perms.dmode) == 0) {
            mode_t mode = perms.dmode;

            if (perms.gid != NO_GID && chown(p, (uid_t)-1, perms.gid) != 0) {
                TPMKMS_debug("cannot give %s to group %u (%s): owner-only",
                             p, (unsigned)perms.gid, strerror(errno));
                mode &= 0700;
            }
            /* mkdir's mode passed through the umask: set it exactly. */
            if (chmod(p, mode) != 0) {
                rc = io_error("cannot set the mode of", p, errno);
                break;
            }
        } else if (errno != EEXIST) {
            rc = io_error("cannot create directory", p, errno);
            break;
        } else if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
            TPMKMS_raise(TPMKMS_R_STORE_IO, "%s exists and is not a directory",
                         p);
            rc = TPMKMS_R_STORE_IO;
            break;
        }
        if (i < len)
            p[i] = '/';
    }
    OPENSSL_free(p);
    return rc;
}

/* Creates dir and dir/sub as needed and checks both. */
static tpmkms_rc prepare_dir(const char *dir, const char *sub,
                             store_perms mode)
{
    char *subdir = NULL;
    int exists;
    tpmkms_rc rc;

    if ((rc = make_dirs(dir, mode)) != TPMKMS_R_OK
            || (rc = check_dir(dir, &exists)) != TPMKMS_R_OK)
        return rc;
    if ((subdir = path_fmt("%s/%s", dir, sub)) == NULL)
        return TPMKMS_R_INTERNAL;
    if ((rc = make_dirs(subdir, mode)) == TPMKMS_R_OK)
        rc = check_dir(subdir, &exists);
    OPENSSL_free(subdir);
    return rc;
}

/* Reads an open file (at most FILE_MAX bytes) into a NUL-terminated buffer. */
static tpmkms_rc read_fd(int fd, const char *path, char **data, size_t *len)
{
    size_t cap = 4096, used = 0;
    char *buf = OPENSSL_malloc(cap);

    if (buf == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory reading %s", path);
        return TPMKMS_R_INTERNAL;
    }
    for (;;) {
        ssize_t n;

        if (used + 1 >= cap) {
            char *nb;

            if (cap > FILE_MAX) {
                OPENSSL_free(buf);
                TPMKMS_raise(TPMKMS_R_STORE_IO, "%s is larger than %d bytes",
                             path, FILE_MAX);
                return TPMKMS_R_STORE_IO;
            }
            nb = OPENSSL_realloc(buf, cap * 2);
            if (nb == NULL) {
                OPENSSL_free(buf);
                TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory reading %s",
                             path);
                return TPMKMS_R_INTERNAL;
            }
            buf = nb;
            cap *= 2;
        }
        n = read(fd, buf + used, cap - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;

            OPENSSL_free(buf);
            return io_error("cannot read", path, err);
        }
        if (n == 0)
            break;
        used += (size_t)n;
        if (used > FILE_MAX) {
            OPENSSL_free(buf);
            TPMKMS_raise(TPMKMS_R_STORE_IO, "%s is larger than %d bytes",
                         path, FILE_MAX);
            return TPMKMS_R_STORE_IO;
        }
    }
    buf[used] = '\0';
    *data = buf;
    *len = used;
    return TPMKMS_R_OK;
}

tpmkms_rc tpmkms_read_file(const char *path, char **data, size_t *len)
{
    int fd;
    tpmkms_rc rc;

    *data = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;

        if (err == ENOENT) {
            TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND, "%s: %s", path, strerror(err));
            return TPMKMS_R_KEY_NOT_FOUND;
        }
        return io_error("cannot open", path, err);
    }
    rc = read_fd(fd, path, data, len);
    close(fd);
    return rc;
}

/* Opens a record/certificate for reading, refusing symbolic links. */
static int open_nofollow(const char *path)
{
    return open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
}

static tpmkms_rc fsync_dir(const char *dir, const char *path)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return io_error("cannot open the directory of", path, errno);
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
        int err = errno;

        close(fd);
        return io_error("cannot sync the directory of", path, err);
    }
    close(fd);
    return TPMKMS_R_OK;
}

/* The directory part of path (OPENSSL_malloc'd), and where the base starts. */
static char *split_dir(const char *path, const char **base)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL) {
        *base = path;
        return OPENSSL_strdup(".");
    }
    *base = slash + 1;
    if (slash == path)
        return OPENSSL_strdup("/");
    return OPENSSL_strndup(path, (size_t)(slash - path));
}

static int write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        p += n;
        len -= (size_t)n;
    }
    return 1;
}

/*
 * Writes path atomically: a temp file in the same directory (created
 * exclusively, never through a link, with the final mode), fsync,
 * rename (or link, when an existing file must not be replaced), fsync
 * of the directory.  Returns TPMKMS_R_KEY_EXISTS *without raising* when
 * overwrite is 0 and path exists, so that callers name what exists.
 */
/*
 * Removes temp files an earlier writer of base left when it died
 * (".<base>.<pid>.<x>.tmp" whose pid is gone and that are over a minute
 * old, so a live writer in another pid namespace keeps its own).  They are
 * never read as records; this only keeps them from piling up.
 */
/* Whether pid is a live process (a zombie, or no process, is not). */
static int writer_alive(pid_t pid)
{
    char path[64], buf[256], *paren;
    ssize_t n;
    int fd;

    if (kill(pid, 0) != 0 && errno == ESRCH)
        return 0;
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 1;
    buf[n] = '\0';
    /* "pid (comm) S ...": the state follows the last ')'. */
    paren = strrchr(buf, ')');
    return !(paren != NULL && paren[1] == ' ' && paren[2] == 'Z');
}

static void sweep_stale_temps(const char *dir, const char *base)
{
    size_t blen = strlen(base);
    time_t now = time(NULL);
    struct dirent *e;
    DIR *d = opendir(dir);

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name, *p;
        size_t len = strlen(n);
        struct stat st;
        char *end;
        long pid;

        if (n[0] != '.' || len < blen + 7 || strncmp(n + 1, base, blen) != 0
                || n[blen + 1] != '.' || strcmp(n + len - 4, ".tmp") != 0)
            continue;
        p = n + blen + 2;
        errno = 0;
        pid = strtol(p, &end, 10);
        if (errno != 0 || end == p || *end != '.' || pid <= 0
                || writer_alive((pid_t)pid))
            continue;
        if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) != 0
                || !S_ISREG(st.st_mode) || now - st.st_mtime < 60)
            continue;
        if (unlinkat(dirfd(d), n, 0) == 0)
            TPMKMS_debug("removed %s/%s, left by a writer that died", dir, n);
    }
    closedir(d);
}

static tpmkms_rc atomic_write(const char *path, const void *data, size_t len,
                              int mode, gid_t gid, int overwrite)
{
    static unsigned int counter;
    const char *base;
    char *dir = split_dir(path, &base);
    char *tmp = NULL;
    int fd = -1, err = 0;
    tpmkms_rc rc;

    if (dir == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory writing %s", path);
        return TPMKMS_R_INTERNAL;
    }
    sweep_stale_temps(dir, base);
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        struct timespec ts;

        OPENSSL_free(tmp);
        clock_gettime(CLOCK_REALTIME, &ts);
        tmp = path_fmt("%s/.%s.%ld.%x.tmp", dir, base, (long)getpid(),
                       (unsigned)ts.tv_nsec ^ (counter++ * 0x9e3779b9u));
        if (tmp == NULL) {
            OPENSSL_free(dir);
            return TPMKMS_R_INTERNAL;
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  (mode_t)mode);
        if (fd < 0 && errno != EEXIST) {
            err = errno;
            OPENSSL_free(tmp);
            tmp = NULL;
            goto fail;
        }
    }
    if (fd < 0) {
        err = EEXIST;
        OPENSSL_free(tmp);
        tmp = NULL;
        goto fail;
    }
    /* A group we may not give: owner-only, never the creator's group. */
    if (gid != NO_GID && fchown(fd, (uid_t)-1, gid) != 0) {
        TPMKMS_debug("cannot give %s to group %u (%s): owner-only", path,
                     (unsigned)gid, strerror(errno));
        mode &= 0700;
    }
    /* The umask may have narrowed the mode; make it exactly what was asked. */
    errno = 0;
    if (fchmod(fd, (mode_t)mode) != 0 || !write_all(fd, data, len)
            || fsync(fd) != 0) {
        err = errno != 0 ? errno : EIO;
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        err = errno;
        goto fail;
    }
    fd = -1;

    if (overwrite) {
        if (rename(tmp, path) != 0) {
            err = errno;
            goto fail;
        }
    } else if (link(tmp, path) == 0) {
        unlink(tmp);
    } else if (errno == EEXIST) {
        unlink(tmp);
        OPENSSL_free(tmp);
        OPENSSL_free(dir);
        return TPMKMS_R_KEY_EXISTS;
    } else {
        /* No hard links here (some file systems): check, then rename. */
        struct stat st;

        if (lstat(path, &st) == 0) {
            unlink(tmp);
            OPENSSL_free(tmp);
            OPENSSL_free(dir);
            return TPMKMS_R_KEY_EXISTS;
        }
        if (rename(tmp, path) != 0) {
            err = errno;
            goto fail;
        }
    }
    OPENSSL_free(tmp);
    rc = fsync_dir(dir, path);
    OPENSSL_free(dir);
    return rc;

fail:
    if (fd >= 0)
        close(fd);
    if (tmp != NULL)
        unlink(tmp);
    OPENSSL_free(tmp);
    OPENSSL_free(dir);
    return io_error("cannot write", path, err);
}

tpmkms_rc tpmkms_write_file_atomic(const char *path, const void *data,
                                   size_t len, int mode)
{
    return atomic_write(path, data, len, mode, NO_GID, 1);
}

/* ---- store directories ---- */

static const char *env(const char *name)
{
    const char *v = secure_getenv(name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

char *tpmkms_store_dir(tpmkms_scope scope, const char *override)
{
    const char *v;

    if (override != NULL)
        return path_fmt("%s", override);
    if (scope == TPMKMS_SCOPE_MACHINE) {
        v = env("TPMKMS_MACHINE_STORE");
        return path_fmt("%s", v != NULL ? v : TPMKMS_MACHINE_STORE_DEFAULT);
    }
    v = env("XDG_DATA_HOME");
    if (v != NULL && v[0] == '/')  /* the XDG spec ignores relative values */
        return path_fmt("%s/tpmkms", v);
    v = env("HOME");
    if (v != NULL)
        return path_fmt("%s/.local/share/tpmkms", v);
    {
        struct passwd pw, *res = NULL;
        char buf[4096];

        if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0
                && res != NULL && pw.pw_dir != NULL && pw.pw_dir[0] == '/')
            return path_fmt("%s/.local/share/tpmkms", pw.pw_dir);
    }
    TPMKMS_raise(TPMKMS_R_STORE_IO,
                 "cannot find the user key store: neither XDG_DATA_HOME nor "
                 "HOME is set");
    return NULL;
}

tpmkms_rc tpmkms_store_check_writable(const char *dir, tpmkms_scope scope,
                                      int certs)
{
    char *probe = path_fmt("%s/%s", dir, certs ? CERTS_SUBDIR : KEYS_SUBDIR);
    struct stat st;
    tpmkms_rc rc = TPMKMS_R_OK;
    int err;

    if (probe == NULL)
        return TPMKMS_R_INTERNAL;
    /* The nearest existing directory decides. */
    while (stat(probe, &st) != 0) {
        char *slash = strrchr(probe, '/');

        if (slash == NULL || slash == probe) {
            strcpy(probe, "/");
            break;
        }
        *slash = '\0';
    }
    if (faccessat(AT_FDCWD, probe, W_OK | X_OK, AT_EACCESS) == 0) {
        OPENSSL_free(probe);
        return TPMKMS_R_OK;
    }
    err = errno;
    if (scope == TPMKMS_SCOPE_MACHINE) {
        struct passwd pw, *res = NULL;
        char buf[1024], owner[64];

        if (stat(probe, &st) == 0
                && getpwuid_r(st.st_uid, &pw, buf, sizeof(buf), &res) == 0
                && res != NULL)
            snprintf(owner, sizeof(owner), "%s", pw.pw_name);
        else
            snprintf(owner, sizeof(owner), "uid %u", (unsigned)st.st_uid);
        TPMKMS_raise(TPMKMS_R_REQUIRES_ELEVATION,
                     "the machine key store %s is not writable by uid %u "
                     "(%s: %s): run as root or as its owner (%s)", dir,
                     (unsigned)geteuid(), probe, strerror(err), owner);
        rc = TPMKMS_R_REQUIRES_ELEVATION;
    } else {
        TPMKMS_raise(TPMKMS_R_STORE_IO, "cannot write the key store %s (%s: "
                     "%s)", dir, probe, strerror(err));
        rc = TPMKMS_R_STORE_IO;
    }
    OPENSSL_free(probe);
    return rc;
}

/* ---- record text ---- */

void tpmkms_record_free(TPMKMS_RECORD *rec)
{
    if (rec == NULL)
        return;
    OPENSSL_free(rec->name);
    OPENSSL_free(rec->created);
    tpmkms_keyblob_clear(&rec->blob);
    OPENSSL_free(rec);
}

static int is_printable(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

tpmkms_rc tpmkms_record_to_text(const TPMKMS_RECORD *rec, char **text)
{
    char now[32], handle[32] = "";
    const char *created = rec->created;
    char *pem = NULL;
    tpmkms_rc rc;

    *text = NULL;
    if (!tpmkms_name_is_valid(rec->name))
        return bad_name(rec->name);
    if (rec->scope != TPMKMS_SCOPE_USER && rec->scope != TPMKMS_SCOPE_MACHINE) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "key '%s': the record needs key-scope machine or user",
                     rec->name);
        return TPMKMS_R_BAD_PARAMETER;
    }
    if (tpmkms_alg_name(rec->alg) == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "key '%s': the record has no known algorithm", rec->name);
        return TPMKMS_R_BAD_PARAMETER;
    }
    if (created == NULL) {
        time_t t = time(NULL);
        struct tm tm;

        if (gmtime_r(&t, &tm) == NULL
                || strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot format the current time");
            return TPMKMS_R_INTERNAL;
        }
        created = now;
    } else if (created[0] == '\0' || !is_printable(created)) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "key '%s': the created time is empty or not printable",
                     rec->name);
        return TPMKMS_R_BAD_PARAMETER;
    }
    if (rec->persistent != 0) {
        if (rec->persistent < 0x81000000u || rec->persistent > 0x81FFFFFFu) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                         "key '%s': 0x%08x is not a persistent handle",
                         rec->name, (unsigned)rec->persistent);
            return TPMKMS_R_BAD_PARAMETER;
        }
        snprintf(handle, sizeof(handle), "persistent-handle: 0x%08x\n",
                 (unsigned)rec->persistent);
    }
    rc = tpmkms_tss2key_to_pem(&rec->blob, &pem);
    if (rc != TPMKMS_R_OK)
        return rc;
    *text = path_fmt(RECORD_MAGIC "\n"
                     "version: %d\n"
                     "name: %s\n"
                     "key-scope: %s\n"
                     "algorithm: %s\n"
                     "created: %s\n"
                     "%s%s",
                     TPMKMS_RECORD_VERSION, rec->name,
                     tpmkms_scope_name(rec->scope), tpmkms_alg_name(rec->alg),
                     created, handle, pem);
    OPENSSL_free(pem);
    return *text != NULL ? TPMKMS_R_OK : TPMKMS_R_INTERNAL;
}

enum {
    F_VERSION, F_NAME, F_KEY_SCOPE, F_ALGORITHM, F_CREATED, F_PERSISTENT,
    F_COUNT
};

static const char *const field_names[F_COUNT] = {
    "version", "name", "key-scope", "algorithm", "created",
    "persistent-handle"
};

static tpmkms_rc bad_field(const char *origin, const char *field,
                           const char *why, const char *value)
{
    TPMKMS_raise(TPMKMS_R_BAD_RECORD, "%s: field %s: %s%s%.80s%s", origin,
                 field, why, value != NULL ? " ('" : "",
                 value != NULL ? value : "", value != NULL ? "')" : "");
    return TPMKMS_R_BAD_RECORD;
}

static int parse_handle_value(const char *v, uint32_t *out)
{
    char *end;
    unsigned long h;

    if (v[0] != '0' || (v[1] != 'x' && v[1] != 'X') || v[2] == '\0')
        return 0;
    for (const char *p = v + 2; *p != '\0'; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')
                || (*p >= 'A' && *p <= 'F')))
            return 0;
    if (strlen(v + 2) > 8)
        return 0;
    errno = 0;
    h = strtoul(v + 2, &end, 16);
    if (errno != 0 || *end != '\0' || h < 0x81000000ul || h > 0x81FFFFFFul)
        return 0;
    *out = (uint32_t)h;
    return 1;
}

/* Applies one "field: value" line; value is NUL terminated. */
static tpmkms_rc set_field(TPMKMS_RECORD *rec, int f, const char *value,
                           const char *origin)
{
    const char *fname = field_names[f];

    if (value[0] == '\0')
        return bad_field(origin, fname, "empty value", NULL);
    switch (f) {
    case F_VERSION: {
        long v = 0;

        if (strspn(value, "0123456789") != strlen(value) || strlen(value) > 6)
            return bad_field(origin, fname, "not a number", value);
        v = strtol(value, NULL, 10);
        if (v != TPMKMS_RECORD_VERSION) {
            TPMKMS_raise(TPMKMS_R_BAD_RECORD,
                         "%s: field version: version %ld is not supported "
                         "(this tpmkms reads version %d)", origin, v,
                         TPMKMS_RECORD_VERSION);
            return TPMKMS_R_BAD_RECORD;
        }
        rec->version = (int)v;
        return TPMKMS_R_OK;
    }
    case F_NAME:
        if (!tpmkms_name_is_valid(value))
            return bad_field(origin, fname, "not a valid key name", value);
        if ((rec->name = OPENSSL_strdup(value)) == NULL)
            break;
        return TPMKMS_R_OK;
    case F_KEY_SCOPE:
        if (!tpmkms_scope_from_string(value, &rec->scope))
            return bad_field(origin, fname, "must be machine or user", value);
        return TPMKMS_R_OK;
    case F_ALGORITHM:
        rec->alg = tpmkms_alg_from_name(value);
        if (rec->alg == TPMKMS_ALG_NONE)
            return bad_field(origin, fname,
                             "unknown algorithm (ec-p256, ec-p384, rsa-2048, "
                             "rsa-3072)", value);
        return TPMKMS_R_OK;
    case F_CREATED:
        if (strlen(value) > 64)
            return bad_field(origin, fname, "too long", NULL);
        if ((rec->created = OPENSSL_strdup(value)) == NULL)
            break;
        return TPMKMS_R_OK;
    case F_PERSISTENT:
        if (!parse_handle_value(value, &rec->persistent))
            return bad_field(origin, fname,
                             "not a persistent handle 0x81000000..0x81FFFFFF",
                             value);
        return TPMKMS_R_OK;
    default:
        break;
    }
    TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory reading %s", origin);
    return TPMKMS_R_INTERNAL;
}

tpmkms_rc tpmkms_record_from_text(const char *text, size_t len,
                                  const char *origin, TPMKMS_RECORD **out)
{
    TPMKMS_RECORD *rec;
    int seen[F_COUNT] = { 0 };
    size_t pos = 0, pem_at = (size_t)-1;
    char value[256];
    tpmkms_rc rc = TPMKMS_R_BAD_RECORD;
    int lineno = 0;

    *out = NULL;
    if (origin == NULL)
        origin = "key record";
    if (text == NULL || memchr(text, '\0', len) != NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_RECORD, "%s: not a text file", origin);
        return TPMKMS_R_BAD_RECORD;
    }
    if ((rec = OPENSSL_zalloc(sizeof(*rec))) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory reading %s", origin);
        return TPMKMS_R_INTERNAL;
    }

    while (pos < len) {
        const char *line = text + pos;
        const char *eol = memchr(line, '\n', len - pos);
        size_t ll = eol != NULL ? (size_t)(eol - line) : len - pos;
        const char *colon, *v;
        size_t klen, vlen;
        int f;

        lineno++;
        if (ll >= 10 && memcmp(line, "-----BEGIN", 10) == 0) {
            pem_at = pos;
            break;
        }
        pos += ll + (eol != NULL ? 1 : 0);
        while (ll > 0 && (line[ll - 1] == '\r' || line[ll - 1] == ' '
                          || line[ll - 1] == '\t'))
            ll--;
        if (ll == 0 || line[0] == '#')
            continue;
        colon = memchr(line, ':', ll);
        if (colon == NULL) {
            TPMKMS_raise(TPMKMS_R_BAD_RECORD,
                         "%s: line %d is not 'field: value'", origin, lineno);
            goto err;
        }
        klen = (size_t)(colon - line);
        for (f = 0; f < F_COUNT; f++)
            if (strlen(field_names[f]) == klen
                    && memcmp(field_names[f], line, klen) == 0)
                break;
        if (f == F_COUNT) {
            TPMKMS_raise(TPMKMS_R_BAD_RECORD,
                         "%s: unknown field '%.*s' (written by a newer "
                         "tpmkms?)", origin, (int)(klen > 40 ? 40 : klen),
                         line);
            goto err;
        }
        if (seen[f]) {
            TPMKMS_raise(TPMKMS_R_BAD_RECORD, "%s: field %s appears twice",
                         origin, field_names[f]);
            goto err;
        }
        seen[f] = 1;
        v = colon + 1;
        while (v < line + ll && (*v == ' ' || *v == '\t'))
            v++;
        vlen = (size_t)(line + ll - v);
        if (vlen >= sizeof(value)) {
            bad_field(origin, field_names[f], "value too long", NULL);
            goto err;
        }
        memcpy(value, v, vlen);
        value[vlen] = '\0';
        if ((rc = set_field(rec, f, value, origin)) != TPMKMS_R_OK)
            goto err;
        rc = TPMKMS_R_BAD_RECORD;
    }

    for (int f = 0; f <= F_ALGORITHM; f++)
        if (!seen[f]) {
            TPMKMS_raise(TPMKMS_R_BAD_RECORD, "%s: field %s is missing",
                         origin, field_names[f]);
            goto err;
        }
    if (pem_at == (size_t)-1) {
        TPMKMS_raise(TPMKMS_R_BAD_RECORD, "%s: the %s block is missing",
                     origin, TPMKMS_TSS2_PEM_LABEL);
        goto err;
    }
    if (tpmkms_tss2key_from_pem(text + pem_at, len - pem_at, &rec->blob)
            != TPMKMS_R_OK) {
        /* The reason is raised below this one; add which file it was. */
        TPMKMS_raise(TPMKMS_R_BAD_RECORD, "%s: the %s block does not parse",
                     origin, TPMKMS_TSS2_PEM_LABEL);
        goto err;
    }
    *out = rec;
    return TPMKMS_R_OK;

err:
    tpmkms_record_free(rec);
    return rc;
}

/* ---- records in a store ---- */

static tpmkms_rc not_found(const char *name, const char *dir)
{
    TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND, "key '%s' not found in %s", name,
                 dir);
    return TPMKMS_R_KEY_NOT_FOUND;
}

tpmkms_rc tpmkms_record_save(const char *dir, const TPMKMS_RECORD *rec,
                             int overwrite)
{
    char *text = NULL, *path = NULL;
    store_perms perms;
    tpmkms_rc rc;

    if ((rc = tpmkms_record_to_text(rec, &text)) != TPMKMS_R_OK)
        return rc;
    perms = perms_for(rec->scope);
    if ((rc = prepare_dir(dir, KEYS_SUBDIR, perms)) != TPMKMS_R_OK)
        goto out;
    path = path_fmt("%s/" KEYS_SUBDIR "/%s" RECORD_SUFFIX, dir, rec->name);
    if (path == NULL) {
        rc = TPMKMS_R_INTERNAL;
        goto out;
    }
    rc = atomic_write(path, text, strlen(text), (int)perms.fmode, perms.gid,
                      overwrite);
    if (rc == TPMKMS_R_KEY_EXISTS)
        TPMKMS_raise(TPMKMS_R_KEY_EXISTS, "key '%s' already exists in %s",
                     rec->name, dir);
    else if (rc == TPMKMS_R_OK)
        TPMKMS_debug("saved %s", path);

out:
    OPENSSL_free(path);
    OPENSSL_free(text);
    return rc;
}

tpmkms_rc tpmkms_record_load(const char *dir, const char *name,
                             TPMKMS_RECORD **out)
{
    char *keys = NULL, *path = NULL, *text = NULL;
    size_t len = 0;
    struct stat st;
    int exists, fd = -1;
    TPMKMS_RECORD *rec = NULL;
    tpmkms_rc rc;

    *out = NULL;
    if (!tpmkms_name_is_valid(name))
        return bad_name(name);
    if ((rc = check_dir(dir, &exists)) != TPMKMS_R_OK)
        return rc;
    if (!exists)
        return not_found(name, dir);
    if ((keys = path_fmt("%s/" KEYS_SUBDIR, dir)) == NULL)
        return TPMKMS_R_INTERNAL;
    if ((rc = check_dir(keys, &exists)) != TPMKMS_R_OK)
        goto out;
    if (!exists) {
        rc = not_found(name, dir);
        goto out;
    }
    if ((path = path_fmt("%s/%s" RECORD_SUFFIX, keys, name)) == NULL) {
        rc = TPMKMS_R_INTERNAL;
        goto out;
    }
    fd = open_nofollow(path);
    if (fd < 0) {
        if (errno == ENOENT) {
            rc = not_found(name, dir);
        } else if (errno == ELOOP) {
            TPMKMS_raise(TPMKMS_R_INSECURE_STORE,
                         "%s is a symbolic link; records must be regular "
                         "files", path);
            rc = TPMKMS_R_INSECURE_STORE;
        } else {
            rc = io_error("cannot open", path, errno);
        }
        goto out;
    }
    if ((rc = check_file(fd, path, &st)) != TPMKMS_R_OK
            || (rc = read_fd(fd, path, &text, &len)) != TPMKMS_R_OK
            || (rc = tpmkms_record_from_text(text, len, path, &rec))
               != TPMKMS_R_OK)
        goto out;
    if (strcmp(rec->name, name) != 0) {
        TPMKMS_raise(TPMKMS_R_BAD_RECORD,
                     "%s: field name: '%s' does not match the file name",
                     path, rec->name);
        rc = TPMKMS_R_BAD_RECORD;
        goto out;
    }
    if (rec->scope == TPMKMS_SCOPE_USER && st.st_uid != geteuid()) {
        TPMKMS_raise(TPMKMS_R_INSECURE_STORE,
                     "%s is owned by uid %u, not by the calling user (uid %u); "
                     "refusing a user key record of someone else",
                     path, (unsigned)st.st_uid, (unsigned)geteuid());
        rc = TPMKMS_R_INSECURE_STORE;
        goto out;
    }
    *out = rec;
    rec = NULL;

out:
    if (fd >= 0)
        close(fd);
    tpmkms_record_free(rec);
    OPENSSL_free(text);
    OPENSSL_free(path);
    OPENSSL_free(keys);
    return rc;
}

tpmkms_rc tpmkms_record_remove(const char *dir, const char *name)
{
    char *keys, *path;
    tpmkms_rc rc = TPMKMS_R_OK;

    if (!tpmkms_name_is_valid(name))
        return bad_name(name);
    if ((keys = path_fmt("%s/" KEYS_SUBDIR, dir)) == NULL)
        return TPMKMS_R_INTERNAL;
    if ((path = path_fmt("%s/%s" RECORD_SUFFIX, keys, name)) == NULL) {
        OPENSSL_free(keys);
        return TPMKMS_R_INTERNAL;
    }
    if (unlink(path) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            rc = not_found(name, dir);
        else
            rc = io_error("cannot remove", path, errno);
    } else {
        rc = fsync_dir(keys, path);
    }
    OPENSSL_free(path);
    OPENSSL_free(keys);
    return rc;
}

int tpmkms_record_exists(const char *dir, const char *name)
{
    struct stat st;
    char path[4096];
    int n;

    if (dir == NULL || !tpmkms_name_is_valid(name))
        return 0;
    n = snprintf(path, sizeof(path), "%s/" KEYS_SUBDIR "/%s" RECORD_SUFFIX,
                 dir, name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return 0;
    return lstat(path, &st) == 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

tpmkms_rc tpmkms_record_list(const char *dir,
                             int (*cb)(const TPMKMS_RECORD *rec, void *arg),
                             void *arg)
{
    char *keys = NULL, **names = NULL;
    size_t count = 0, cap = 0;
    const size_t suffix_len = sizeof(RECORD_SUFFIX) - 1;
    DIR *d = NULL;
    struct dirent *e;
    int exists;
    tpmkms_rc rc;

    if ((rc = check_dir(dir, &exists)) != TPMKMS_R_OK || !exists)
        return rc;
    if ((keys = path_fmt("%s/" KEYS_SUBDIR, dir)) == NULL)
        return TPMKMS_R_INTERNAL;
    if ((rc = check_dir(keys, &exists)) != TPMKMS_R_OK || !exists)
        goto out;
    if ((d = opendir(keys)) == NULL) {
        if (errno != ENOENT)
            rc = io_error("cannot list", keys, errno);
        goto out;
    }
    while ((errno = 0, e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        char *stem;

        if (n <= suffix_len
                || strcmp(e->d_name + n - suffix_len, RECORD_SUFFIX) != 0)
            continue;
        if ((stem = OPENSSL_strndup(e->d_name, n - suffix_len)) == NULL) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory listing %s", keys);
            rc = TPMKMS_R_INTERNAL;
            goto out;
        }
        if (!tpmkms_name_is_valid(stem)) {
            OPENSSL_free(stem);   /* temp files and strays */
            continue;
        }
        if (count == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            char **nn = OPENSSL_realloc(names, ncap * sizeof(*names));

            if (nn == NULL) {
                OPENSSL_free(stem);
                TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory listing %s",
                             keys);
                rc = TPMKMS_R_INTERNAL;
                goto out;
            }
            names = nn;
            cap = ncap;
        }
        names[count++] = stem;
    }
    if (errno != 0) {
        rc = io_error("cannot list", keys, errno);
        goto out;
    }
    if (count > 0)
        qsort(names, count, sizeof(*names), cmp_names);
    for (size_t i = 0; i < count; i++) {
        TPMKMS_RECORD *rec = NULL;
        int stop;

        /* A record that does not load is skipped, not fatal to the list. */
        tpmkms_err_set_mark();
        if (tpmkms_record_load(dir, names[i], &rec) != TPMKMS_R_OK) {
            tpmkms_err_pop_to_mark();
            TPMKMS_debug("skipping unreadable record %s in %s", names[i], keys);
            continue;
        }
        tpmkms_err_clear_last_mark();
        stop = cb(rec, arg);
        tpmkms_record_free(rec);
        if (stop)
            break;
    }

out:
    if (d != NULL)
        closedir(d);
    for (size_t i = 0; i < count; i++)
        OPENSSL_free(names[i]);
    OPENSSL_free(names);
    OPENSSL_free(keys);
    return rc;
}

/* ---- resolution ---- */

static const char *store_word(tpmkms_scope s)
{
    return s == TPMKMS_SCOPE_MACHINE ? "machine store" : "user store";
}

/* A record must carry the scope of the store it sits in. */
static tpmkms_rc check_store_scope(const TPMKMS_RECORD *rec,
                                   tpmkms_scope store, const char *dir)
{
    if (rec->scope == store)
        return TPMKMS_R_OK;
    TPMKMS_raise(TPMKMS_R_SCOPE_MISMATCH,
                 "key '%s' sits in the %s (%s) but its record says "
                 "key-scope %s", rec->name, store_word(store), dir,
                 tpmkms_scope_name(rec->scope));
    return TPMKMS_R_SCOPE_MISMATCH;
}

static tpmkms_rc check_uri_scope(const TPMKMS_RECORD *rec, tpmkms_scope want,
                                 const char *dir)
{
    if (want == TPMKMS_SCOPE_UNSET || rec->scope == want)
        return TPMKMS_R_OK;
    TPMKMS_raise(TPMKMS_R_SCOPE_MISMATCH,
                 "the URI asks for key-scope=%s but key '%s' in %s has "
                 "key-scope %s", tpmkms_scope_name(want), rec->name, dir,
                 tpmkms_scope_name(rec->scope));
    return TPMKMS_R_SCOPE_MISMATCH;
}

/* 1 if the store of the scope other than scope has a record of name. */
static int other_scope_has(const char *name, tpmkms_scope scope)
{
    tpmkms_scope other = scope == TPMKMS_SCOPE_USER ? TPMKMS_SCOPE_MACHINE
                                                    : TPMKMS_SCOPE_USER;
    char *odir;
    int found;

    tpmkms_err_set_mark();
    odir = tpmkms_store_dir(other, NULL);
    found = odir != NULL && tpmkms_record_exists(odir, name);
    tpmkms_err_pop_to_mark();
    OPENSSL_free(odir);
    return found;
}

/* Loads name from dir; a missing record gives *rec NULL and no error. */
static tpmkms_rc try_load(const char *dir, const char *name,
                          TPMKMS_RECORD **rec)
{
    tpmkms_rc rc;

    tpmkms_err_set_mark();
    rc = tpmkms_record_load(dir, name, rec);
    if (rc == TPMKMS_R_KEY_NOT_FOUND) {
        tpmkms_err_pop_to_mark();
        *rec = NULL;
        return TPMKMS_R_OK;
    }
    tpmkms_err_clear_last_mark();
    return rc;
}

tpmkms_rc tpmkms_record_resolve(const TPMKMS_URI *uri, TPMKMS_RECORD **out,
                                char **dir_out)
{
    TPMKMS_RECORD *rec = NULL;
    char *dir = NULL, *udir = NULL, *mdir = NULL;
    tpmkms_rc rc;

    *out = NULL;
    if (dir_out != NULL)
        *dir_out = NULL;
    if (uri->name == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_URI,
                     "the URI names no key: add name=<key>");
        return TPMKMS_R_BAD_URI;
    }

    if (uri->storage_directory != NULL) {
        /* store-location says where certificates live, never the key. */
        tpmkms_scope want = uri->key_scope;

        if ((dir = tpmkms_store_dir(TPMKMS_SCOPE_UNSET,
                                    uri->storage_directory)) == NULL)
            return TPMKMS_R_INTERNAL;
        if ((rc = tpmkms_record_load(dir, uri->name, &rec)) != TPMKMS_R_OK
                || (rc = check_uri_scope(rec, want, dir)) != TPMKMS_R_OK)
            goto err;
    } else if (uri->key_scope != TPMKMS_SCOPE_UNSET) {
        tpmkms_scope store = uri->key_scope;

        if ((dir = tpmkms_store_dir(store, NULL)) == NULL)
            return TPMKMS_R_STORE_IO;
        tpmkms_err_set_mark();
        rc = tpmkms_record_load(dir, uri->name, &rec);
        if (rc == TPMKMS_R_KEY_NOT_FOUND && other_scope_has(uri->name, store)) {
            tpmkms_scope other = store == TPMKMS_SCOPE_USER
                                 ? TPMKMS_SCOPE_MACHINE : TPMKMS_SCOPE_USER;

            /* Say where the key is rather than only where it is not. */
            tpmkms_err_pop_to_mark();
            TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND,
                         "key '%s' not found in the %s (%s), which "
                         "key-scope=%s names; the %s has a key of that name: "
                         "use key-scope=%s, or leave key-scope out",
                         uri->name, store_word(store), dir,
                         tpmkms_scope_name(store), store_word(other),
                         tpmkms_scope_name(other));
            goto err;
        }
        tpmkms_err_clear_last_mark();
        if (rc != TPMKMS_R_OK
                || (rc = check_store_scope(rec, store, dir)) != TPMKMS_R_OK
                || (rc = check_uri_scope(rec, uri->key_scope, dir))
                   != TPMKMS_R_OK)
            goto err;
    } else {
        if ((mdir = tpmkms_store_dir(TPMKMS_SCOPE_MACHINE, NULL)) == NULL) {
            rc = TPMKMS_R_INTERNAL;
            goto err;
        }
        /* A process without a home (a service) has no user store. */
        tpmkms_err_set_mark();
        udir = tpmkms_store_dir(TPMKMS_SCOPE_USER, NULL);
        if (udir == NULL)
            tpmkms_err_pop_to_mark();
        else
            tpmkms_err_clear_last_mark();
        if (udir != NULL
                && (rc = try_load(udir, uri->name, &rec)) != TPMKMS_R_OK)
            goto err;
        if (rec != NULL) {
            if ((rc = check_store_scope(rec, TPMKMS_SCOPE_USER, udir))
                    != TPMKMS_R_OK)
                goto err;
            if (tpmkms_record_exists(mdir, uri->name)) {
                TPMKMS_raise(TPMKMS_R_AMBIGUOUS_KEY,
                             "key '%s' exists in both the user store (%s) and "
                             "the machine store (%s); add key-scope=user or "
                             "key-scope=machine to the URI",
                             uri->name, udir, mdir);
                rc = TPMKMS_R_AMBIGUOUS_KEY;
                goto err;
            }
            dir = udir;
            udir = NULL;
        } else {
            if ((rc = try_load(mdir, uri->name, &rec)) != TPMKMS_R_OK)
                goto err;
            if (rec == NULL) {
                TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND,
                             "key '%s' not found in the user store (%s) or "
                             "the machine store (%s)", uri->name,
                             udir != NULL ? udir : "none: HOME is not set",
                             mdir);
                rc = TPMKMS_R_KEY_NOT_FOUND;
                goto err;
            }
            if ((rc = check_store_scope(rec, TPMKMS_SCOPE_MACHINE, mdir))
                    != TPMKMS_R_OK)
                goto err;
            dir = mdir;
            mdir = NULL;
        }
    }

    OPENSSL_free(udir);
    OPENSSL_free(mdir);
    *out = rec;
    if (dir_out != NULL)
        *dir_out = dir;
    else
        OPENSSL_free(dir);
    return TPMKMS_R_OK;

err:
    tpmkms_record_free(rec);
    OPENSSL_free(dir);
    OPENSSL_free(udir);
    OPENSSL_free(mdir);
    return rc;
}

/* ---- certificates ---- */

static char *cert_path(const char *dir, const char *name)
{
    return path_fmt("%s/" CERTS_SUBDIR "/%s" CERT_SUFFIX, dir, name);
}

tpmkms_rc tpmkms_cert_save(const char *dir, const char *name,
                           const char *pem, size_t len, int overwrite)
{
    struct stat st;
    tpmkms_scope like = TPMKMS_SCOPE_USER;
    store_perms perms;
    char *path, *mdir;
    tpmkms_rc rc;

    if (!tpmkms_name_is_valid(name))
        return bad_name(name);
    /* The machine store, or a group-readable one: machine modes and group. */
    if ((mdir = tpmkms_store_dir(TPMKMS_SCOPE_MACHINE, NULL)) == NULL)
        return TPMKMS_R_INTERNAL;
    if (strcmp(mdir, dir) == 0
            || (stat(dir, &st) == 0 && (st.st_mode & S_IRGRP)))
        like = TPMKMS_SCOPE_MACHINE;
    OPENSSL_free(mdir);
    perms = perms_for(like);
    if ((rc = prepare_dir(dir, CERTS_SUBDIR, perms)) != TPMKMS_R_OK)
        return rc;
    if ((path = cert_path(dir, name)) == NULL)
        return TPMKMS_R_INTERNAL;
    rc = atomic_write(path, pem, len, (int)perms.fmode, perms.gid, overwrite);
    if (rc == TPMKMS_R_KEY_EXISTS)
        TPMKMS_raise(TPMKMS_R_KEY_EXISTS,
                     "a certificate for key '%s' already exists in %s",
                     name, dir);
    OPENSSL_free(path);
    return rc;
}

tpmkms_rc tpmkms_cert_load(const char *dir, const char *name,
                           char **pem, size_t *len)
{
    char *path = NULL, *certs = NULL;
    struct stat st;
    int fd, exists;
    tpmkms_rc rc;

    *pem = NULL;
    *len = 0;
    if (!tpmkms_name_is_valid(name))
        return bad_name(name);
    if ((rc = check_dir(dir, &exists)) != TPMKMS_R_OK || !exists)
        return rc;
    if ((certs = path_fmt("%s/" CERTS_SUBDIR, dir)) == NULL)
        return TPMKMS_R_INTERNAL;
    rc = check_dir(certs, &exists);
    OPENSSL_free(certs);
    if (rc != TPMKMS_R_OK || !exists)
        return rc;
    if ((path = cert_path(dir, name)) == NULL)
        return TPMKMS_R_INTERNAL;
    fd = open_nofollow(path);
    if (fd < 0) {
        if (errno == ENOENT)
            rc = TPMKMS_R_OK;
        else if (errno == ELOOP) {
            TPMKMS_raise(TPMKMS_R_INSECURE_STORE,
                         "%s is a symbolic link; refusing it", path);
            rc = TPMKMS_R_INSECURE_STORE;
        } else {
            rc = io_error("cannot open", path, errno);
        }
        OPENSSL_free(path);
        return rc;
    }
    if ((rc = check_file(fd, path, &st)) == TPMKMS_R_OK)
        rc = read_fd(fd, path, pem, len);
    close(fd);
    OPENSSL_free(path);
    return rc;
}

tpmkms_rc tpmkms_cert_remove(const char *dir, const char *name)
{
    char *path, *certs;
    tpmkms_rc rc = TPMKMS_R_OK;

    if (!tpmkms_name_is_valid(name))
        return bad_name(name);
    if ((path = cert_path(dir, name)) == NULL)
        return TPMKMS_R_INTERNAL;
    if (unlink(path) == 0) {
        if ((certs = path_fmt("%s/" CERTS_SUBDIR, dir)) == NULL)
            rc = TPMKMS_R_INTERNAL;
        else
            rc = fsync_dir(certs, path);
        OPENSSL_free(certs);
    } else if (errno != ENOENT && errno != ENOTDIR) {
        rc = io_error("cannot remove", path, errno);
    }
    OPENSSL_free(path);
    return rc;
}
