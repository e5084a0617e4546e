/*
 * The provider's openssl.cnf settings (README "Activating tpmkms in
 * openssl.cnf", tpmkms(7) OPENSSL.CNF SETTINGS): what each one means, how
 * its value is checked, and the process-wide ones the store code asks.
 *
 * Precedence, everywhere: a URI attribute > openssl.cnf > the environment
 * > the default.  The tpmkms command reads no openssl.cnf: it has the
 * environment and the defaults only.
 *
 *   tcti            TPMKMS_TCTI             the TPM (a TCTI config string)
 *   tpm-timeout     TPMKMS_TPM_TIMEOUT      seconds, 1..3600
 *   user-store      XDG_DATA_HOME/HOME      an absolute directory
 *   machine-store   TPMKMS_MACHINE_STORE    an absolute directory
 *   machine-group   TPMKMS_MACHINE_GROUP    a group that exists
 *   owner-auth-file TPMKMS_OWNER_AUTH_FILE  an absolute file path
 *   debug           TPMKMS_DEBUG            yes/no/true/false/on/off/1/0
 *
 * tcti, tpm-timeout and owner-auth-file belong to one provider instance
 * (its TPMKMS_CTX).  user-store, machine-store, machine-group and debug
 * are process-wide, because the store code that reads them runs below
 * any context: the first instance whose section sets one fixes it for
 * the process, and an instance whose section sets it differently fails
 * its operations (tpmkms_settings_install).
 */
#ifndef TPMKMS_SETTINGS_H
#define TPMKMS_SETTINGS_H

#include <stddef.h>
#include "errors.h"
#include "uri.h"

typedef struct tpmkms_settings_st {
    char *tcti;
    char *tpm_timeout;           /* the text; checked by settings_set */
    unsigned tpm_timeout_s;      /* 0: unset */
    char *user_store;
    char *machine_store;
    char *machine_group;
    char *owner_auth_file;
    int debug;                   /* -1: unset, else 0 or 1 */
} TPMKMS_SETTINGS;

/* The names, NULL-terminated, in the order the documentation gives them. */
extern const char *const tpmkms_settings_names[];

void tpmkms_settings_init(TPMKMS_SETTINGS *s);
void tpmkms_settings_clear(TPMKMS_SETTINGS *s);
int tpmkms_settings_is_known(const char *name);

/*
 * Checks and keeps one setting.  On failure returns TPMKMS_R_BAD_PARAMETER
 * with err (errlen bytes) saying, for a person, what is wrong, naming the
 * section and the setting ("openssl.cnf section [tpmkms_sect], setting
 * machine-store: ..."); nothing is raised, so the provider can keep it
 * and raise it where an operation fails.  An unknown name is refused the
 * same way.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_settings_set(TPMKMS_SETTINGS *s, const char *section,
                              const char *name, const char *value,
                              char *err, size_t errlen);

/*
 * Makes the process-wide settings of s (user-store, machine-store,
 * machine-group, debug) the process's, where s sets them.  One already
 * set differently by another instance: TPMKMS_R_BAD_PARAMETER and err
 * naming the section and the setting, and nothing changes.  Each
 * successful install is undone by one tpmkms_settings_uninstall; the
 * last one forgets them.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_settings_install(const TPMKMS_SETTINGS *s,
                                  const char *section, char *err,
                                  size_t errlen);
void tpmkms_settings_uninstall(void);

/*
 * The installed store directory of a scope (user-store / machine-store),
 * a copy (OPENSSL_malloc'd); NULL when not set (then the environment and
 * the default decide) or out of memory (*oom set).
 */
char *tpmkms_settings_store_dir(tpmkms_scope scope, int *oom);

/* The installed machine-group copied into buf: 1; not set (or too long): 0. */
int tpmkms_settings_machine_group(char *buf, size_t len);

#endif
