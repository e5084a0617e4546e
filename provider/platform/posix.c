/*
 * The key store's file-system work on POSIX: modes, owners and the
 * machine group, StrictModes-like checks, atomic writes (temp, fsync,
 * rename, fsync of the directory), listing, and the exit hook.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "debug.h"
#include "platform/platform.h"
#include "settings.h"

/* ---- small helpers ---- */

static tpmkms_rc io_error(const char *what, const char *path, int err)
{
    TPMKMS_raise(TPMKMS_R_STORE_IO, "%s %s: %s", what, path, strerror(err));
    return TPMKMS_R_STORE_IO;
}

static const char *env(const char *name)
{
    const char *v = secure_getenv(name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* ---- where the stores are, and who may read them ---- */

char *tpmkms_platform_store_dir(tpmkms_scope scope)
{
    const char *v;
    char *set;
    int oom;

    /* openssl.cnf's user-store / machine-store, then the environment. */
    if ((set = tpmkms_settings_store_dir(scope, &oom)) != NULL || oom) {
        if (oom)
            TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return set;
    }
    if (scope == TPMKMS_SCOPE_MACHINE) {
        v = env("TPMKMS_MACHINE_STORE");
        return tpmkms_path_fmt("%s", v != NULL ? v : TPMKMS_MACHINE_STORE_DEFAULT);
    }
    v = env("XDG_DATA_HOME");
    if (v != NULL && v[0] == '/')  /* the XDG spec ignores relative values */
        return tpmkms_path_fmt("%s/tpmkms", v);
    v = env("HOME");
    if (v != NULL)
        return tpmkms_path_fmt("%s/.local/share/tpmkms", v);
    {
        struct passwd pw, *res = NULL;
        char buf[4096];

        if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0
                && res != NULL && pw.pw_dir != NULL && pw.pw_dir[0] == '/')
            return tpmkms_path_fmt("%s/.local/share/tpmkms", pw.pw_dir);
    }
    TPMKMS_raise(TPMKMS_R_STORE_IO,
                 "cannot find the user key store: neither XDG_DATA_HOME nor "
                 "HOME is set");
    return NULL;
}

/*
 * The machine group's name and gid, or NULL when it does not exist:
 * openssl.cnf's machine-group (checked to exist when the provider
 * loaded), else $TPMKMS_MACHINE_GROUP, else the default.
 */
static const char *machine_group(gid_t *gid)
{
    static _Thread_local char set[256];
    const char *name = secure_getenv("TPMKMS_MACHINE_GROUP");
    struct group gr, *res = NULL;
    char buf[4096];

    if (tpmkms_settings_machine_group(set, sizeof(set)))
        name = set;
    else if (name == NULL || name[0] == '\0')
        name = TPMKMS_MACHINE_GROUP_DEFAULT;
    if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || res == NULL)
        return NULL;
    *gid = gr.gr_gid;
    return name;
}

const char *tpmkms_platform_machine_group(void)
{
    gid_t gid;

    return machine_group(&gid);
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

static store_perms perms_for(tpmkms_scope scope)
{
    store_perms p = { 0700, 0600, NO_GID };
    gid_t gid;

    if (scope == TPMKMS_SCOPE_MACHINE && machine_group(&gid) != NULL) {
        p.dmode = 0750;
        p.fmode = 0640;
        p.gid = gid;
    }
    return p;
}

/* ---- store directories ---- */

tpmkms_rc tpmkms_platform_dir_check(const char *path, int *exists)
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

tpmkms_rc tpmkms_platform_dir_ensure(const char *path, tpmkms_scope protect)
{
    int exists;
    tpmkms_rc rc;

    if ((rc = make_dirs(path, perms_for(protect))) != TPMKMS_R_OK)
        return rc;
    return tpmkms_platform_dir_check(path, &exists);
}

int tpmkms_platform_dir_is_shared(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && (st.st_mode & S_IRGRP);
}

tpmkms_rc tpmkms_platform_check_writable(const char *store, const char *path,
                                         tpmkms_scope scope)
{
    char *probe = OPENSSL_strdup(path);
    struct stat st;
    tpmkms_rc rc = TPMKMS_R_OK;
    int err;

    if (probe == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory building a path");
        return TPMKMS_R_INTERNAL;
    }
    /* The nearest existing directory decides. */
    while (stat(probe, &st) != 0) {
        char *slash = strrchr(probe, '/');

        if (slash == NULL || slash == probe) {
            strcpy(probe, "/");
            if (stat(probe, &st) != 0)
                st.st_mode = S_IFDIR;   /* the access check will say */
            break;
        }
        *slash = '\0';
    }
    /* A file where the store or one of its directories should be: no
     * access check would say so (it says "Permission denied"). */
    if (!S_ISDIR(st.st_mode)) {
        TPMKMS_raise(TPMKMS_R_STORE_IO, "cannot write the key store %s: %s "
                     "is not a directory", store, probe);
        OPENSSL_free(probe);
        return TPMKMS_R_STORE_IO;
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
                     "(%s: %s): run as root or as its owner (%s)", store,
                     (unsigned)geteuid(), probe, strerror(err), owner);
        rc = TPMKMS_R_REQUIRES_ELEVATION;
    } else {
        TPMKMS_raise(TPMKMS_R_STORE_IO, "cannot write the key store %s (%s: "
                     "%s)", store, probe, strerror(err));
        rc = TPMKMS_R_STORE_IO;
    }
    OPENSSL_free(probe);
    return rc;
}

/* ---- reading ---- */

/* Reads an open file (at most TPMKMS_FILE_MAX bytes) into a NUL-terminated
 * buffer. */
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

            if (cap > TPMKMS_FILE_MAX) {
                OPENSSL_free(buf);
                TPMKMS_raise(TPMKMS_R_STORE_IO, "%s is larger than %d bytes",
                             path, TPMKMS_FILE_MAX);
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
        if (used > TPMKMS_FILE_MAX) {
            OPENSSL_free(buf);
            TPMKMS_raise(TPMKMS_R_STORE_IO, "%s is larger than %d bytes",
                         path, TPMKMS_FILE_MAX);
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

tpmkms_rc tpmkms_platform_read_store_file(const char *path, char **data,
                                          size_t *len, TPMKMS_FILE_INFO *info)
{
    struct stat st;
    tpmkms_rc rc;
    int fd;

    *data = NULL;
    *len = 0;
    memset(info, 0, sizeof(*info));
    /* Never through a link; O_NONBLOCK so that a FIFO cannot hang us. */
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return TPMKMS_R_KEY_NOT_FOUND;
        if (errno == ELOOP) {
            info->link = 1;
            return TPMKMS_R_INSECURE_STORE;
        }
        return io_error("cannot open", path, errno);
    }
    if ((rc = check_file(fd, path, &st)) == TPMKMS_R_OK)
        rc = read_fd(fd, path, data, len);
    close(fd);
    if (rc == TPMKMS_R_OK) {
        info->mine = st.st_uid == geteuid();
        snprintf(info->owner, sizeof(info->owner), "uid %u",
                 (unsigned)st.st_uid);
        snprintf(info->caller, sizeof(info->caller), "uid %u",
                 (unsigned)geteuid());
    }
    return rc;
}

/* ---- secrets ---- */

/* What a non-regular file is, for the refusal. */
static const char *file_kind(mode_t m)
{
    if (S_ISFIFO(m))
        return "a FIFO (named pipe)";
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISSOCK(m))
        return "a socket";
    return "of an unknown kind";
}

/* The checks on an open secret file: a regular file only its owner may
 * use, as ssh wants a private key. */
static tpmkms_rc check_secret(int fd, const char *path, const char *what,
                              tpmkms_rc reason)
{
    struct stat st;
    mode_t m;

    if (fstat(fd, &st) != 0) {
        TPMKMS_raise(reason, "cannot read the %s %s: %s", what, path,
                     strerror(errno));
        return reason;
    }
    if (!S_ISREG(st.st_mode)) {
        TPMKMS_raise(reason, "the %s %s is %s, not a regular file: "
                     "refusing to read it", what, path,
                     file_kind(st.st_mode));
        return reason;
    }
    if ((m = st.st_mode & 077) != 0) {
        TPMKMS_raise(reason, "the %s %s is %s by %s (mode %04o): "
                     "chmod 600 %s",
                     what, path,
                     (m & 044) ? "readable" : (m & 022) ? "writable"
                                                        : "accessible",
                     (m & 070) && (m & 007) ? "its group and others"
                     : (m & 070)            ? "its group" : "others",
                     (unsigned)(st.st_mode & 07777), path);
        return reason;
    }
    return TPMKMS_R_OK;
}

tpmkms_rc tpmkms_platform_read_secret(const char *path, const char *what,
                                      size_t max, tpmkms_rc reason,
                                      unsigned char **out, size_t *outlen)
{
    /* Room for the longest line we accept and its "\r\n". */
    size_t cap = max + 2, used = 0, len;
    unsigned char *buf = NULL, *nl = NULL, *line;
    tpmkms_rc rc;
    int fd, err;

    *out = NULL;
    *outlen = 0;
    /* O_NONBLOCK: opening a FIFO with no writer returns at once (and is
     * then refused) instead of waiting for one. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        err = errno;
        TPMKMS_raise(reason, "cannot read the %s %s: %s", what, path,
                     strerror(err));
        return reason;
    }
    if ((rc = check_secret(fd, path, what, reason)) != TPMKMS_R_OK)
        goto out_close;
    if ((buf = OPENSSL_malloc(cap)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory reading the %s",
                     what);
        rc = TPMKMS_R_INTERNAL;
        goto out_close;
    }
    /* Up to the first newline, end of file, or cap bytes. */
    while (nl == NULL && used < cap) {
        ssize_t n = read(fd, buf + used, cap - used);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = errno;
            TPMKMS_raise(reason, "cannot read the %s %s: %s", what, path,
                         strerror(err));
            rc = reason;
            goto out_free;
        }
        if (n == 0)
            break;
        nl = memchr(buf + used, '\n', (size_t)n);
        used += (size_t)n;
    }
    len = nl != NULL ? (size_t)(nl - buf) : used;
    while (len > 0 && buf[len - 1] == '\r')
        len--;
    if (len > max || (nl == NULL && used == cap)) {
        TPMKMS_raise(reason, "the first line of the %s %s is longer than "
                     "%zu bytes", what, path, max);
        rc = reason;
        goto out_free;
    }
    if ((line = OPENSSL_malloc(len + 1)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory reading the %s",
                     what);
        rc = TPMKMS_R_INTERNAL;
        goto out_free;
    }
    memcpy(line, buf, len);
    line[len] = '\0';
    *out = line;
    *outlen = len;
    rc = TPMKMS_R_OK;
 out_free:
    OPENSSL_clear_free(buf, cap);
 out_close:
    close(fd);
    return rc;
}

/* ---- writing ---- */

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

/*
 * Removes temp files an earlier writer of base left when it died
 * (".<base>.<pid>.<x>.tmp" whose pid is gone and that are over a minute
 * old, so a live writer in another pid namespace keeps its own).  They are
 * never read as records; this only keeps them from piling up.
 */
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

/*
 * Writes path atomically: a temp file in the same directory (created
 * exclusively, never through a link, with the final mode), fsync,
 * rename (or link, when an existing file must not be replaced), fsync
 * of the directory.  Returns TPMKMS_R_KEY_EXISTS *without raising* when
 * overwrite is 0 and path exists, so that callers name what exists.
 */
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
        tmp = tpmkms_path_fmt("%s/.%s.%ld.%x.tmp", dir, base, (long)getpid(),
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

tpmkms_rc tpmkms_platform_write_store_file(const char *path, const void *data,
                                           size_t len, tpmkms_scope protect,
                                           int overwrite)
{
    store_perms perms = perms_for(protect);

    return atomic_write(path, data, len, (int)perms.fmode, perms.gid,
                        overwrite);
}

tpmkms_rc tpmkms_write_file_atomic(const char *path, const void *data,
                                   size_t len, int mode)
{
    return atomic_write(path, data, len, mode, NO_GID, 1);
}

tpmkms_rc tpmkms_platform_remove(const char *path)
{
    const char *base;
    char *dir;
    tpmkms_rc rc;

    if (unlink(path) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return TPMKMS_R_KEY_NOT_FOUND;
        return io_error("cannot remove", path, errno);
    }
    if ((dir = split_dir(path, &base)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory removing %s", path);
        return TPMKMS_R_INTERNAL;
    }
    rc = fsync_dir(dir, path);
    OPENSSL_free(dir);
    return rc;
}

int tpmkms_platform_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

tpmkms_rc tpmkms_platform_rename(const char *from, const char *to,
                                 int overwrite)
{
    const char *base;
    char *dir;
    tpmkms_rc rc;

    if (overwrite) {
        struct stat sf, st;

        /*
         * A writer killed between the link and the unlink below leaves from
         * and to as two links of one file, and rename() of one link onto
         * the other does nothing (POSIX): drop from instead.
         */
        if (lstat(from, &sf) == 0 && lstat(to, &st) == 0
                && sf.st_dev == st.st_dev && sf.st_ino == st.st_ino) {
            if (unlink(from) != 0)
                return io_error("cannot remove", from, errno);
        } else if (rename(from, to) != 0) {
            if (errno == ENOENT)
                return TPMKMS_R_KEY_NOT_FOUND;
            return io_error("cannot rename to", to, errno);
        }
    } else if (link(from, to) == 0) {
        if (unlink(from) != 0)
            return io_error("cannot remove", from, errno);
    } else if (errno == EEXIST) {
        return TPMKMS_R_KEY_EXISTS;
    } else if (errno == ENOENT) {
        return TPMKMS_R_KEY_NOT_FOUND;
    } else {
        /* No hard links here (some file systems): check, then rename. */
        struct stat st;

        if (lstat(to, &st) == 0)
            return TPMKMS_R_KEY_EXISTS;
        if (rename(from, to) != 0)
            return io_error("cannot rename to", to, errno);
    }
    if ((dir = split_dir(to, &base)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory renaming %s", from);
        return TPMKMS_R_INTERNAL;
    }
    rc = fsync_dir(dir, to);
    OPENSSL_free(dir);
    return rc;
}

/* ---- locking ---- */

struct tpmkms_dir_lock_st {
    int fd;
};

tpmkms_rc tpmkms_platform_dir_lock(const char *path, TPMKMS_DIR_LOCK **out)
{
    TPMKMS_DIR_LOCK *lock;
    int fd, r;

    *out = NULL;
    if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return io_error("cannot open", path, errno);
    /* flock, not fcntl: held by this open file, released when it closes. */
    while ((r = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
        ;
    if (r != 0) {
        int err = errno;

        close(fd);
        return io_error("cannot lock", path, err);
    }
    if ((lock = OPENSSL_malloc(sizeof(*lock))) == NULL) {
        close(fd);
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory locking %s", path);
        return TPMKMS_R_INTERNAL;
    }
    lock->fd = fd;
    *out = lock;
    return TPMKMS_R_OK;
}

void tpmkms_platform_dir_unlock(TPMKMS_DIR_LOCK *lock)
{
    if (lock == NULL)
        return;
    close(lock->fd);     /* releases the flock */
    OPENSSL_free(lock);
}

/* ---- listing ---- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void tpmkms_platform_names_free(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        OPENSSL_free(names[i]);
    OPENSSL_free(names);
}

tpmkms_rc tpmkms_platform_list(const char *dir, const char *suffix,
                               char ***names_out, size_t *count_out)
{
    char **names = NULL;
    size_t count = 0, cap = 0;
    const size_t suffix_len = strlen(suffix);
    DIR *d;
    struct dirent *e;
    tpmkms_rc rc = TPMKMS_R_OK;

    *names_out = NULL;
    *count_out = 0;
    if ((d = opendir(dir)) == NULL) {
        if (errno != ENOENT)
            return io_error("cannot list", dir, errno);
        return TPMKMS_R_OK;
    }
    while ((errno = 0, e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        char *stem;

        if (n <= suffix_len
                || strcmp(e->d_name + n - suffix_len, suffix) != 0)
            continue;
        if (count == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            char **nn = OPENSSL_realloc(names, ncap * sizeof(*names));

            if (nn == NULL)
                goto oom;
            names = nn;
            cap = ncap;
        }
        if ((stem = OPENSSL_strndup(e->d_name, n - suffix_len)) == NULL)
            goto oom;
        names[count++] = stem;
    }
    if (errno != 0) {
        rc = io_error("cannot list", dir, errno);
        goto err;
    }
    closedir(d);
    if (count > 0)
        qsort(names, count, sizeof(*names), cmp_names);
    *names_out = names;
    *count_out = count;
    return TPMKMS_R_OK;

oom:
    TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory listing %s", dir);
    rc = TPMKMS_R_INTERNAL;
err:
    closedir(d);
    tpmkms_platform_names_free(names, count);
    return rc;
}

/* ---- the exit hook ---- */

#define AT_EXIT_MAX 4

static void (*_Atomic at_exit_fns[AT_EXIT_MAX])(void);

tpmkms_rc tpmkms_platform_at_exit(void (*fn)(void))
{
    for (size_t i = 0; i < AT_EXIT_MAX; i++) {
        void (*want)(void) = NULL;

        if (atomic_compare_exchange_strong(&at_exit_fns[i], &want, fn)
                || want == fn)
            return TPMKMS_R_OK;
    }
    TPMKMS_raise(TPMKMS_R_INTERNAL, "no room for another exit hook");
    return TPMKMS_R_INTERNAL;
}

/*
 * A destructor rather than atexit(): it runs at exit() and also when the
 * module is unloaded (dlclose), where an atexit() function would be left
 * pointing into unmapped code.
 */
__attribute__((destructor)) static void platform_at_exit(void)
{
    for (size_t i = 0; i < AT_EXIT_MAX; i++) {
        void (*fn)(void) = atomic_load(&at_exit_fns[i]);

        if (fn != NULL)
            fn();
    }
}
