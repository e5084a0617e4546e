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
        T(ensure_gives_the_scope_protection),
        T(write_without_overwrite_is_key_exists_unraised),
        T(at_exit_runs_each_hook_once_at_exit),
        T(at_exit_has_room_for_a_few),
    };

    tpmkms_err_init_standalone();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
