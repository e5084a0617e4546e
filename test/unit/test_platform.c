/*
 * The platform layer's own contracts, beyond what test_record.c covers
 * through the record API: which results come back unraised for the
 * caller to word, listing by suffix, the protection a scope gives, and the
 * exit hook.  Every test gets its own temp directory.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include "platform/platform.h"
#include "test_util.h"

static char root[64];

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int setup(void **state)
{
    (void)state;
    strcpy(root, "/tmp/tpmkms-platform-XXXXXX");
    if (mkdtemp(root) == NULL)
        return -1;
    umask(022);
    setenv("TPMKMS_MACHINE_GROUP", "no-such-group-tpmkms", 1);
    ERR_clear_error();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unsetenv("TPMKMS_MACHINE_GROUP");
    return nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *dir, const char *name)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_non_null(f = fopen(path, "w"));
    fputs("x", f);
    fclose(f);
}

static unsigned mode_of(const char *path)
{
    struct stat st;

    assert_int_equal(lstat(path, &st), 0);
    return (unsigned)(st.st_mode & 07777);
}

static void list_cuts_the_suffix_and_sorts(void **state)
{
    char **names = NULL;
    size_t count = 0;

    (void)state;
    put(root, "web.tpmkey");
    put(root, "alpha.tpmkey");
    put(root, "note.txt");
    put(root, ".web.tpmkey.123.ab.tmp");
    put(root, ".tpmkey");   /* the suffix alone names nothing */
    assert_int_equal(tpmkms_platform_list(root, ".tpmkey", &names, &count),
                     TPMKMS_R_OK);
    assert_int_equal(count, 2);
    assert_string_equal(names[0], "alpha");
    assert_string_equal(names[1], "web");
    tpmkms_platform_names_free(names, count);
}

static void list_of_a_missing_dir_is_empty(void **state)
{
    char dir[128], **names = (char **)1;
    size_t count = 1;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/none", root);
    assert_int_equal(tpmkms_platform_list(dir, ".pem", &names, &count),
                     TPMKMS_R_OK);
    assert_null(names);
    assert_int_equal(count, 0);
    assert_int_equal(ERR_peek_error(), 0);
}

static void remove_of_nothing_is_not_found_unraised(void **state)
{
    char path[128];

    (void)state;
    snprintf(path, sizeof(path), "%s/gone.tpmkey", root);
    assert_int_equal(tpmkms_platform_remove(path), TPMKMS_R_KEY_NOT_FOUND);
    assert_int_equal(ERR_peek_error(), 0);
    put(root, "gone.tpmkey");
    assert_true(tpmkms_platform_exists(path));
    assert_int_equal(tpmkms_platform_remove(path), TPMKMS_R_OK);
    assert_false(tpmkms_platform_exists(path));
}

static void read_store_file_reports_links_and_absence_unraised(void **state)
{
    char path[128], link[128], *data = NULL;
    size_t len = 0;
    TPMKMS_FILE_INFO info;

    (void)state;
    snprintf(path, sizeof(path), "%s/missing.pem", root);
    assert_int_equal(tpmkms_platform_read_store_file(path, &data, &len, &info),
                     TPMKMS_R_KEY_NOT_FOUND);
    assert_null(data);
    assert_int_equal(ERR_peek_error(), 0);

    put(root, "real.pem");
    snprintf(path, sizeof(path), "%s/real.pem", root);
    snprintf(link, sizeof(link), "%s/link.pem", root);
    assert_int_equal(symlink(path, link), 0);
    assert_true(tpmkms_platform_exists(link));
    assert_int_equal(tpmkms_platform_read_store_file(link, &data, &len, &info),
                     TPMKMS_R_INSECURE_STORE);
    assert_true(info.link);
    assert_null(data);
    assert_int_equal(ERR_peek_error(), 0);

    assert_int_equal(tpmkms_platform_read_store_file(path, &data, &len, &info),
                     TPMKMS_R_OK);
    assert_int_equal(len, 1);
    assert_string_equal(data, "x");
    assert_false(info.link);
    assert_true(info.mine);
    assert_string_equal(info.owner, info.caller);
    OPENSSL_free(data);
}

static void read_store_file_refuses_what_others_may_write(void **state)
{
    char path[128], *data = NULL;
    size_t len = 0;
    TPMKMS_FILE_INFO info;

    (void)state;
    put(root, "open.pem");
    snprintf(path, sizeof(path), "%s/open.pem", root);
    assert_int_equal(chmod(path, 0620), 0);
    assert_int_equal(tpmkms_platform_read_store_file(path, &data, &len, &info),
                     TPMKMS_R_INSECURE_STORE);
    assert_false(info.link);
    assert_int_equal(last_reason(), TPMKMS_R_INSECURE_STORE);
    assert_non_null(strstr(last_message(), "writable by group or others"));
    assert_null(data);
}

/* A secret file with content, created with mode (umask aside). */
static const char *secret_file(const char *name, const char *content,
                               size_t len, mode_t mode)
{
    static char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", root, name);
    assert_non_null(f = fopen(path, "w"));
    assert_int_equal(fwrite(content, 1, len, f), len);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

/* read_secret must refuse path with BAD_PARAMETER, its message holding
 * each of the NULL-terminated words (and the path and what). */
static void secret_refused(const char *path, size_t max, ...)
{
    unsigned char *out = (unsigned char *)1;
    size_t len = 99;
    const char *word;
    va_list ap;

    ERR_clear_error();
    assert_int_equal(tpmkms_platform_read_secret(path, "test secret", max,
                                                 TPMKMS_R_BAD_PARAMETER,
                                                 &out, &len),
                     TPMKMS_R_BAD_PARAMETER);
    assert_null(out);
    assert_int_equal(len, 0);
    assert_int_equal(last_reason(), TPMKMS_R_BAD_PARAMETER);
    assert_non_null(strstr(last_message(), "test secret"));
    assert_non_null(strstr(last_message(), path));
    va_start(ap, max);
    while ((word = va_arg(ap, const char *)) != NULL) {
        if (strstr(last_message(), word) == NULL)
            fail_msg("'%s' not in '%s'", word, last_message());
    }
    va_end(ap);
}

static void secret_read(const char *path, size_t max, const char *want,
                        size_t wantlen)
{
    unsigned char *out = NULL;
    size_t len = 99;

    ERR_clear_error();
    assert_int_equal(tpmkms_platform_read_secret(path, "test secret", max,
                                                 TPMKMS_R_BAD_PARAMETER,
                                                 &out, &len),
                     TPMKMS_R_OK);
    assert_non_null(out);
    assert_int_equal(len, wantlen);
    assert_memory_equal(out, want, wantlen);
    assert_int_equal(out[len], '\0');
    assert_int_equal(ERR_peek_error(), 0);
    OPENSSL_clear_free(out, len + 1);
}

static void read_secret_refuses_a_fifo_without_waiting(void **state)
{
    char path[128];

    (void)state;
    /* No writer: a blocking open would wait here for ever. */
    snprintf(path, sizeof(path), "%s/pin.fifo", root);
    assert_int_equal(mkfifo(path, 0600), 0);
    secret_refused(path, 64, "FIFO", "not a regular file", NULL);
}

static void read_secret_refuses_a_directory_and_a_device(void **state)
{
    char path[128];

    (void)state;
    snprintf(path, sizeof(path), "%s/dir", root);
    assert_int_equal(mkdir(path, 0700), 0);
    secret_refused(path, 64, "a directory", NULL);
    secret_refused("/dev/null", 64, "a character device", NULL);
    secret_refused("/dev/zero", 64, "a character device", NULL);
}

static void read_secret_refuses_what_group_or_others_may_read(void **state)
{
    const char *path;

    (void)state;
    path = secret_file("g.pin", "1234\n", 5, 0640);
    secret_refused(path, 64, "readable by its group", "(mode 0640)",
                   "chmod 600", NULL);
    path = secret_file("o.pin", "1234\n", 5, 0604);
    secret_refused(path, 64, "readable by others", "(mode 0604)",
                   "chmod 600", NULL);
    path = secret_file("go.pin", "1234\n", 5, 0644);
    secret_refused(path, 64, "readable by its group and others",
                   "(mode 0644)", NULL);
    path = secret_file("w.pin", "1234\n", 5, 0620);
    secret_refused(path, 64, "writable by its group", "(mode 0620)", NULL);
}

static void read_secret_reads_the_first_line_of_a_private_file(void **state)
{
    const char *path;

    (void)state;
    path = secret_file("rw.pin", "hunter2\r\nsecond line\n", 21, 0600);
    secret_read(path, 64, "hunter2", 7);
    path = secret_file("ro.pin", "no-newline", 10, 0400);
    secret_read(path, 64, "no-newline", 10);
    path = secret_file("empty.pin", "", 0, 0600);
    secret_read(path, 64, "", 0);
    /* NUL bytes are part of the line. */
    path = secret_file("nul.pin", "a\0b\n", 4, 0600);
    secret_read(path, 64, "a\0b", 3);
}

static void read_secret_limits_the_first_line(void **state)
{
    char text[80];
    const char *path;

    (void)state;
    memset(text, 'x', sizeof(text));
    /* Exactly max bytes, with or without \r\n: read. */
    memcpy(text + 64, "\r\n", 2);
    path = secret_file("64crlf.pin", text, 66, 0600);
    secret_read(path, 64, text, 64);
    path = secret_file("64.pin", text, 64, 0600);
    secret_read(path, 64, text, 64);
    /* One more: refused, naming the limit. */
    text[64] = 'x';
    text[65] = '\n';
    path = secret_file("65.pin", text, 66, 0600);
    secret_refused(path, 64, "first line", "longer than 64 bytes", NULL);
    /* A long line with no newline at all. */
    text[65] = 'x';
    path = secret_file("80.pin", text, 80, 0600);
    secret_refused(path, 64, "longer than 64 bytes", NULL);
    /* Only the first line counts. */
    memcpy(text, "short\n", 6);
    path = secret_file("2lines.pin", text, 80, 0600);
    secret_read(path, 64, "short", 5);
}

static void read_secret_names_the_os_error(void **state)
{
    char path[128];

    (void)state;
    snprintf(path, sizeof(path), "%s/absent.pin", root);
    secret_refused(path, 64, "cannot read the test secret",
                   "No such file or directory", NULL);
}

static void ensure_gives_the_scope_protection(void **state)
{
    char dir[128];

    (void)state;
    /* No machine group: the machine scope is owner-only as well. */
    assert_null(tpmkms_platform_machine_group());
    snprintf(dir, sizeof(dir), "%s/a/b", root);
    assert_int_equal(tpmkms_platform_dir_ensure(dir, TPMKMS_SCOPE_MACHINE),
                     TPMKMS_R_OK);
    assert_int_equal(mode_of(dir), 0700);
    assert_false(tpmkms_platform_dir_is_shared(dir));
    assert_int_equal(chmod(dir, 0750), 0);
    assert_true(tpmkms_platform_dir_is_shared(dir));
    assert_int_equal(chmod(dir, 0770), 0);
    assert_int_equal(tpmkms_platform_dir_ensure(dir, TPMKMS_SCOPE_USER),
                     TPMKMS_R_INSECURE_STORE);
}

static void write_without_overwrite_is_key_exists_unraised(void **state)
{
    char path[128];

    (void)state;
    snprintf(path, sizeof(path), "%s/k.tpmkey", root);
    assert_int_equal(tpmkms_platform_write_store_file(path, "one", 3,
                                                      TPMKMS_SCOPE_USER, 0),
                     TPMKMS_R_OK);
    assert_int_equal(mode_of(path), 0600);
    assert_int_equal(tpmkms_platform_write_store_file(path, "two", 3,
                                                      TPMKMS_SCOPE_USER, 0),
                     TPMKMS_R_KEY_EXISTS);
    assert_int_equal(ERR_peek_error(), 0);
}

static int hook_fd = -1;

static void hook_a(void)
{
    if (write(hook_fd, "a", 1) != 1)
        _exit(3);
}

static void hook_b(void)
{
    if (write(hook_fd, "b", 1) != 1)
        _exit(3);
}

/* Hooks that do nothing: harmless when this process exits. */
static void hook_1(void) {}
static void hook_2(void) {}
static void hook_3(void) {}
static void hook_4(void) {}
static void hook_5(void) {}

/* In a child: each hook once at exit(), however often it was registered. */
static void at_exit_runs_each_hook_once_at_exit(void **state)
{
    int fds[2], status;
    char buf[8];
    ssize_t n;
    pid_t pid;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        hook_fd = fds[1];
        if (tpmkms_platform_at_exit(hook_a) != TPMKMS_R_OK
                || tpmkms_platform_at_exit(hook_a) != TPMKMS_R_OK
                || tpmkms_platform_at_exit(hook_b) != TPMKMS_R_OK)
            _exit(2);
        exit(0);
    }
    close(fds[1]);
    for (size_t got = 0;; got += (size_t)n) {   /* to EOF: the child's exit */
        n = read(fds[0], buf + got, sizeof(buf) - got);
        if (n <= 0) {
            n = (ssize_t)got;
            break;
        }
    }
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(buf, "ab", 2);
}

static void at_exit_has_room_for_a_few(void **state)
{
    (void)state;
    assert_int_equal(tpmkms_platform_at_exit(hook_1), TPMKMS_R_OK);
    assert_int_equal(tpmkms_platform_at_exit(hook_2), TPMKMS_R_OK);
    assert_int_equal(tpmkms_platform_at_exit(hook_3), TPMKMS_R_OK);
    assert_int_equal(tpmkms_platform_at_exit(hook_4), TPMKMS_R_OK);
    assert_int_equal(ERR_peek_error(), 0);
    assert_int_equal(tpmkms_platform_at_exit(hook_5), TPMKMS_R_INTERNAL);
    assert_int_equal(last_reason(), TPMKMS_R_INTERNAL);
    ERR_clear_error();
    /* Already there: takes no room. */
    assert_int_equal(tpmkms_platform_at_exit(hook_2), TPMKMS_R_OK);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(list_cuts_the_suffix_and_sorts),
        T(list_of_a_missing_dir_is_empty),
        T(remove_of_nothing_is_not_found_unraised),
        T(read_store_file_reports_links_and_absence_unraised),
        T(read_store_file_refuses_what_others_may_write),
        T(read_secret_refuses_a_fifo_without_waiting),
        T(read_secret_refuses_a_directory_and_a_device),
        T(read_secret_refuses_what_group_or_others_may_read),
        T(read_secret_reads_the_first_line_of_a_private_file),
        T(read_secret_limits_the_first_line),
        T(read_secret_names_the_os_error),
        T(ensure_gives_the_scope_protection),
        T(write_without_overwrite_is_key_exists_unraised),
        T(at_exit_runs_each_hook_once_at_exit),
        T(at_exit_has_room_for_a_few),
    };

    tpmkms_err_init_standalone();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
