/*
 * The provider's openssl.cnf settings: checking each value, and the
 * process-wide ones (see settings.h).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#ifndef _WIN32
# include <grp.h>
# include <sys/types.h>
#endif
#include "debug.h"
#include "settings.h"

const char *const tpmkms_settings_names[] = {
    "tcti", "tpm-timeout", "user-store", "machine-store", "machine-group",
    "owner-auth-file", "debug", NULL
};

void tpmkms_settings_init(TPMKMS_SETTINGS *s)
{
    memset(s, 0, sizeof(*s));
    s->debug = -1;
}

void tpmkms_settings_clear(TPMKMS_SETTINGS *s)
{
    if (s == NULL)
        return;
    OPENSSL_free(s->tcti);
    OPENSSL_free(s->tpm_timeout);
    OPENSSL_free(s->user_store);
    OPENSSL_free(s->machine_store);
    OPENSSL_free(s->machine_group);
    OPENSSL_free(s->owner_auth_file);
    tpmkms_settings_init(s);
}

int tpmkms_settings_is_known(const char *name)
{
    for (size_t i = 0; tpmkms_settings_names[i] != NULL; i++)
        if (strcmp(tpmkms_settings_names[i], name) == 0)
            return 1;
    return 0;
}

/* yes/no and its spellings: 1/0, or -1 for anything else. */
static int parse_bool(const char *v)
{
    static const char *const yes[] = { "yes", "true", "on", "1", NULL };
    static const char *const no[] = { "no", "false", "off", "0", NULL };

    for (size_t i = 0; yes[i] != NULL; i++)
        if (OPENSSL_strcasecmp(v, yes[i]) == 0)
            return 1;
    for (size_t i = 0; no[i] != NULL; i++)
        if (OPENSSL_strcasecmp(v, no[i]) == 0)
            return 0;
    return -1;
}

static int group_exists(const char *name)
{
#ifdef _WIN32
    (void)name;
    return 1;
#else
    struct group gr, *res = NULL;
    char buf[4096];

    return getgrnam_r(name, &gr, buf, sizeof(buf), &res) == 0 && res != NULL;
#endif
}

static tpmkms_rc refuse(char *err, size_t errlen, const char *section,
                        const char *name, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static tpmkms_rc refuse(char *err, size_t errlen, const char *section,
                        const char *name, const char *fmt, ...)
{
    int n = snprintf(err, errlen, "openssl.cnf section %s, setting %s: ",
                     section, name);
    va_list ap;

    if (n >= 0 && (size_t)n < errlen) {
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return TPMKMS_R_BAD_PARAMETER;
}

static tpmkms_rc keep(char **slot, const char *value)
{
    char *copy = OPENSSL_strdup(value);

    if (copy == NULL)
        return TPMKMS_R_INTERNAL;
    OPENSSL_free(*slot);
    *slot = copy;
    return TPMKMS_R_OK;
}

tpmkms_rc tpmkms_settings_set(TPMKMS_SETTINGS *s, const char *section,
                              const char *name, const char *value,
                              char *err, size_t errlen)
{
    int b;

    if (!tpmkms_settings_is_known(name)) {
        int n = snprintf(err, errlen, "openssl.cnf section %s: unknown "
                         "setting '%.64s'; tpmkms knows", section, name);

        for (size_t i = 0; tpmkms_settings_names[i] != NULL && n >= 0
                           && (size_t)n < errlen; i++)
            n += snprintf(err + n, errlen - (size_t)n, "%s %s",
                          i == 0 ? "" : ",", tpmkms_settings_names[i]);
        return TPMKMS_R_BAD_PARAMETER;
    }
    if (value == NULL || *value == '\0')
        return refuse(err, errlen, section, name, "the value is empty: give one, "
                      "or remove the line");
    if (strcmp(name, "tcti") == 0)
        return keep(&s->tcti, value);
    if (strcmp(name, "tpm-timeout") == 0) {
        if (!tpmkms_timeout_value(value, &s->tpm_timeout_s))
            return refuse(err, errlen, section, name, "'%.32s' is invalid: "
                          "give whole seconds, 1 to 3600", value);
        return keep(&s->tpm_timeout, value);
    }
    if (strcmp(name, "debug") == 0) {
        if ((b = parse_bool(value)) < 0)
            return refuse(err, errlen, section, name, "'%.32s' is not a "
                          "boolean: use yes or no", value);
        s->debug = b;
        return TPMKMS_R_OK;
    }
    if (strcmp(name, "machine-group") == 0) {
        if (strlen(value) > 255 || !group_exists(value))
            return refuse(err, errlen, section, name, "group '%.64s' does "
                          "not exist: create it (groupadd) or name another",
                          value);
        return keep(&s->machine_group, value);
    }
    /* user-store, machine-store, owner-auth-file: absolute paths. */
    if (!tpmkms_path_is_absolute(value))
        return refuse(err, errlen, section, name, "'%.200s' is not an "
                      "absolute path", value);
    if (strcmp(name, "user-store") == 0)
        return keep(&s->user_store, value);
    if (strcmp(name, "machine-store") == 0)
        return keep(&s->machine_store, value);
    return keep(&s->owner_auth_file, value);
}

/* ---- the process-wide settings ---- */

/*
 * A static lock, not CRYPTO_THREAD_lock_new: nothing to allocate, so
 * nothing is lost when the module is unloaded (valgrind_flows).
 */
static pthread_rwlock_t installed_lock = PTHREAD_RWLOCK_INITIALIZER;
static TPMKMS_SETTINGS installed = { .debug = -1 };
static unsigned installed_count;

static int lock_installed(int write)
{
    return (write ? pthread_rwlock_wrlock(&installed_lock)
                  : pthread_rwlock_rdlock(&installed_lock)) == 0;
}

/* 1 if the installed *have and the wanted want cannot both hold. */
static int conflicts(const char *have, const char *want)
{
    return have != NULL && want != NULL && strcmp(have, want) != 0;
}

tpmkms_rc tpmkms_settings_install(const TPMKMS_SETTINGS *s,
                                  const char *section, char *err,
                                  size_t errlen)
{
    const char *what = NULL, *have = NULL;
    tpmkms_rc rc = TPMKMS_R_OK;

    if (!lock_installed(1)) {
        snprintf(err, errlen, "cannot take the settings lock");
        return TPMKMS_R_INTERNAL;
    }
    if (conflicts(installed.user_store, s->user_store))
        what = "user-store", have = installed.user_store;
    else if (conflicts(installed.machine_store, s->machine_store))
        what = "machine-store", have = installed.machine_store;
    else if (conflicts(installed.machine_group, s->machine_group))
        what = "machine-group", have = installed.machine_group;
    else if (installed.debug >= 0 && s->debug >= 0
             && installed.debug != s->debug)
        what = "debug", have = installed.debug ? "yes" : "no";
    if (what != NULL) {
        snprintf(err, errlen, "openssl.cnf section %s, setting %s: this "
                 "process already has tpmkms loaded with %s = %.200s, and "
                 "%s is process-wide: give every tpmkms section the same "
                 "value", section, what, what, have, what);
        rc = TPMKMS_R_BAD_PARAMETER;
        goto out;
    }
    if ((s->user_store != NULL && installed.user_store == NULL
             && keep(&installed.user_store, s->user_store) != TPMKMS_R_OK)
            || (s->machine_store != NULL && installed.machine_store == NULL
                && keep(&installed.machine_store, s->machine_store)
                   != TPMKMS_R_OK)
            || (s->machine_group != NULL && installed.machine_group == NULL
                && keep(&installed.machine_group, s->machine_group)
                   != TPMKMS_R_OK)) {
        snprintf(err, errlen, "out of memory keeping the settings");
        rc = TPMKMS_R_INTERNAL;
        goto out;
    }
    if (s->debug >= 0) {
        installed.debug = s->debug;
        tpmkms_debug_force(s->debug);
    }
    installed_count++;
 out:
    pthread_rwlock_unlock(&installed_lock);
    return rc;
}

void tpmkms_settings_uninstall(void)
{
    if (!lock_installed(1))
        return;
    if (installed_count > 0 && --installed_count == 0) {
        if (installed.debug >= 0)
            tpmkms_debug_force(-1);
        tpmkms_settings_clear(&installed);
    }
    pthread_rwlock_unlock(&installed_lock);
}

char *tpmkms_settings_store_dir(tpmkms_scope scope, int *oom)
{
    const char *v;
    char *copy = NULL;

    *oom = 0;
    if (!lock_installed(0))
        return NULL;
    v = scope == TPMKMS_SCOPE_MACHINE ? installed.machine_store
                                      : installed.user_store;
    if (v != NULL && (copy = OPENSSL_strdup(v)) == NULL)
        *oom = 1;
    pthread_rwlock_unlock(&installed_lock);
    return copy;
}

int tpmkms_settings_machine_group(char *buf, size_t len)
{
    int ok = 0;

    if (!lock_installed(0))
        return 0;
    if (installed.machine_group != NULL
            && strlen(installed.machine_group) < len) {
        strcpy(buf, installed.machine_group);
        ok = 1;
    }
    pthread_rwlock_unlock(&installed_lock);
    return ok;
}
