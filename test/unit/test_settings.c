/*
 * openssl.cnf settings (settings.h): each value that is taken, each that
 * is refused with the section and the setting named, and the process-wide
 * ones the store code asks (precedence over the environment).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include "debug.h"
#include "platform/platform.h"
#include "settings.h"

#define SECT "[tpmkms_sect]"

/* A group this process is in, so machine-group can name one that exists. */
static const char *some_group(void)
{
    struct group *g = getgrgid(getegid());

    return g != NULL ? g->gr_name : "root";
}

static void expect_refused(const char *name, const char *value,
                           const char *word)
{
    TPMKMS_SETTINGS s;
    char err[512] = "";

    tpmkms_settings_init(&s);
    if (tpmkms_settings_set(&s, SECT, name, value, err, sizeof(err))
            != TPMKMS_R_BAD_PARAMETER)
        fail_msg("%s = '%s' was not refused", name, value);
    if (strstr(err, "openssl.cnf section " SECT) == NULL
            || strstr(err, name) == NULL
            || (word != NULL && strstr(err, word) == NULL))
        fail_msg("message for %s = '%s' does not name the section, the "
                 "setting and '%s': %s", name, value, word, err);
    assert_int_equal(ERR_peek_error(), 0);      /* nothing raised */
    tpmkms_settings_clear(&s);
}

static void settings_take_each_known_value(void **state)
{
    TPMKMS_SETTINGS s;
    char err[512];

    (void)state;
    tpmkms_settings_init(&s);
    assert_int_equal(tpmkms_settings_set(&s, SECT, "tcti", "swtpm:port=1",
                                         err, sizeof(err)), TPMKMS_R_OK);
    assert_int_equal(tpmkms_settings_set(&s, SECT, "tpm-timeout", "7",
                                         err, sizeof(err)), TPMKMS_R_OK);
    assert_int_equal(tpmkms_settings_set(&s, SECT, "user-store", "/u",
                                         err, sizeof(err)), TPMKMS_R_OK);
    assert_int_equal(tpmkms_settings_set(&s, SECT, "machine-store", "/m",
                                         err, sizeof(err)), TPMKMS_R_OK);
    assert_int_equal(tpmkms_settings_set(&s, SECT, "machine-group",
                                         some_group(), err, sizeof(err)),
                     TPMKMS_R_OK);
    assert_int_equal(tpmkms_settings_set(&s, SECT, "owner-auth-file", "/o",
                                         err, sizeof(err)), TPMKMS_R_OK);
    assert_int_equal(tpmkms_settings_set(&s, SECT, "debug", "Yes",
                                         err, sizeof(err)), TPMKMS_R_OK);
    assert_string_equal(s.tcti, "swtpm:port=1");
    assert_int_equal(s.tpm_timeout_s, 7);
    assert_string_equal(s.user_store, "/u");
    assert_string_equal(s.machine_store, "/m");
    assert_string_equal(s.machine_group, some_group());
    assert_string_equal(s.owner_auth_file, "/o");
    assert_int_equal(s.debug, 1);
    assert_int_equal(tpmkms_settings_set(&s, SECT, "debug", "off",
                                         err, sizeof(err)), TPMKMS_R_OK);
    assert_int_equal(s.debug, 0);
    tpmkms_settings_clear(&s);
    assert_null(s.tcti);
    assert_int_equal(s.debug, -1);
}

static void settings_refuse_malformed_values_naming_section_and_setting(void **state)
{
    (void)state;
    expect_refused("tcti", "", "empty");
    expect_refused("tpm-timeout", "2s", "'2s' is invalid");
    expect_refused("tpm-timeout", "0", "whole seconds");
    expect_refused("tpm-timeout", "3601", "whole seconds");
    expect_refused("user-store", "relative/dir", "not an absolute path");
    expect_refused("machine-store", "machine", "not an absolute path");
    expect_refused("machine-store", "", "empty");
    expect_refused("owner-auth-file", "owner.pw", "not an absolute path");
    expect_refused("machine-group", "tpmkms-no-such-group", "does not exist");
    expect_refused("debug", "maybe", "not a boolean");
}

static void settings_refuse_an_unknown_name_listing_the_known(void **state)
{
    (void)state;
    expect_refused("tcit", "x", "unknown setting 'tcit'");
    expect_refused("machine_store", "/m", "machine-store");
    assert_true(tpmkms_settings_is_known("owner-auth-file"));
    assert_false(tpmkms_settings_is_known("module"));
}

/* openssl.cnf's stores beat the environment; uninstall gives it back. */
static void installed_stores_beat_the_environment(void **state)
{
    TPMKMS_SETTINGS s;
    char err[512], *d;

    (void)state;
    setenv("TPMKMS_MACHINE_STORE", "/env/machine", 1);
    setenv("XDG_DATA_HOME", "/env/data", 1);
    tpmkms_settings_init(&s);
    assert_int_equal(tpmkms_settings_set(&s, SECT, "machine-store", "/cnf/m",
                                         err, sizeof(err)), TPMKMS_R_OK);
    assert_int_equal(tpmkms_settings_install(&s, SECT, err, sizeof(err)),
                     TPMKMS_R_OK);
    d = tpmkms_platform_store_dir(TPMKMS_SCOPE_MACHINE);
    assert_string_equal(d, "/cnf/m");
    OPENSSL_free(d);
    d = tpmkms_platform_store_dir(TPMKMS_SCOPE_USER);   /* not set: env */
    assert_string_equal(d, "/env/data/tpmkms");
    OPENSSL_free(d);
    tpmkms_settings_uninstall();
    d = tpmkms_platform_store_dir(TPMKMS_SCOPE_MACHINE);
    assert_string_equal(d, "/env/machine");
    OPENSSL_free(d);
    tpmkms_settings_clear(&s);
}

/* A second instance may agree, or leave a setting out, but not differ. */
static void install_refuses_a_second_instance_that_disagrees(void **state)
{
    TPMKMS_SETTINGS a, b, c;
    char err[512] = "";

    (void)state;
    tpmkms_settings_init(&a);
    tpmkms_settings_init(&b);
    tpmkms_settings_init(&c);
    assert_int_equal(tpmkms_settings_set(&a, SECT, "user-store", "/a",
                                         err, sizeof(err)), TPMKMS_R_OK);
    assert_int_equal(tpmkms_settings_set(&b, "[other]", "user-store", "/b",
                                         err, sizeof(err)), TPMKMS_R_OK);
    assert_int_equal(tpmkms_settings_install(&a, SECT, err, sizeof(err)),
                     TPMKMS_R_OK);
    assert_int_equal(tpmkms_settings_install(&c, "[empty]", err, sizeof(err)),
                     TPMKMS_R_OK);
    assert_int_equal(tpmkms_settings_install(&b, "[other]", err, sizeof(err)),
                     TPMKMS_R_BAD_PARAMETER);
    assert_non_null(strstr(err, "openssl.cnf section [other], setting "
                                "user-store"));
    assert_non_null(strstr(err, "/a"));
    tpmkms_settings_uninstall();
    tpmkms_settings_uninstall();
    tpmkms_settings_clear(&a);
    tpmkms_settings_clear(&b);
}

/* debug = no silences TPMKMS_DEBUG; unset, the environment decides. */
static void installed_debug_beats_the_environment(void **state)
{
    TPMKMS_SETTINGS s;
    char err[512];

    (void)state;
    setenv("TPMKMS_DEBUG", "1", 1);
    tpmkms_settings_init(&s);
    assert_int_equal(tpmkms_settings_set(&s, SECT, "debug", "no",
                                         err, sizeof(err)), TPMKMS_R_OK);
    assert_int_equal(tpmkms_settings_install(&s, SECT, err, sizeof(err)),
                     TPMKMS_R_OK);
    assert_false(tpmkms_debug_enabled());
    tpmkms_settings_uninstall();
    assert_true(tpmkms_debug_enabled());
    tpmkms_settings_clear(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(settings_take_each_known_value),
        cmocka_unit_test(settings_refuse_malformed_values_naming_section_and_setting),
        cmocka_unit_test(settings_refuse_an_unknown_name_listing_the_known),
        cmocka_unit_test(installed_stores_beat_the_environment),
        cmocka_unit_test(install_refuses_a_second_instance_that_disagrees),
        cmocka_unit_test(installed_debug_beats_the_environment),
    };

    tpmkms_err_init_standalone();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
