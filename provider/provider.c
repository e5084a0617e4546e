/*
 * The provider's entry point.  Loading the provider reads configuration
 * only (its openssl.cnf settings, settings.h): no TPM is touched until an
 * operation on a tpmkms: key needs it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include "provider.h"
#include "settings.h"
#include "errors.h"
#include "debug.h"

#define TPMKMS_PROVIDER_NAME "tpmkms: TPM 2.0 keys for OpenSSL"
#define TPMKMS_VERSION_STR "0.1.0"

static OSSL_FUNC_provider_teardown_fn tpmkms_provider_teardown;
static OSSL_FUNC_provider_gettable_params_fn tpmkms_provider_gettable_params;
static OSSL_FUNC_provider_get_params_fn tpmkms_provider_get_params;
static OSSL_FUNC_provider_query_operation_fn tpmkms_provider_query_operation;
static OSSL_FUNC_provider_get_reason_strings_fn tpmkms_provider_get_reason_strings;
OSSL_provider_init_fn OSSL_provider_init;

static void tpmkms_provider_teardown(void *provctx)
{
    TPMKMS_PROVCTX *pctx = provctx;

    if (pctx == NULL)
        return;
    tpmkms_ctx_free(pctx->ctx);
    if (pctx->settings_installed)
        tpmkms_settings_uninstall();
    for (size_t i = 0; i < TPMKMS_PROVCTX_MDS; i++)
        EVP_MD_free(pctx->mds[i]);
    CRYPTO_THREAD_lock_free(pctx->md_lock);
    OSSL_LIB_CTX_free(pctx->libctx);
    OPENSSL_free(pctx);
}

static const OSSL_PARAM provider_param_types[] = {
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_NAME, OSSL_PARAM_UTF8_PTR, NULL, 0),
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_VERSION, OSSL_PARAM_UTF8_PTR, NULL, 0),
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_BUILDINFO, OSSL_PARAM_UTF8_PTR, NULL, 0),
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_STATUS, OSSL_PARAM_INTEGER, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tpmkms_provider_gettable_params(void *provctx)
{
    return provider_param_types;
}

static int tpmkms_provider_get_params(void *provctx, OSSL_PARAM params[])
{
    OSSL_PARAM *p;

    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, TPMKMS_PROVIDER_NAME))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, TPMKMS_VERSION_STR))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, TPMKMS_VERSION_STR))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
    if (p != NULL && !OSSL_PARAM_set_int(p, 1))
        return 0;
    return 1;
}

static const OSSL_ALGORITHM *tpmkms_provider_query_operation(void *provctx,
                                                             int operation_id,
                                                             int *no_cache)
{
    *no_cache = 0;
    switch (operation_id) {
    case OSSL_OP_KEYMGMT:
        return tpmkms_keymgmt_algorithms;
    case OSSL_OP_SIGNATURE:
        return tpmkms_signature_algorithms;
    case OSSL_OP_ASYM_CIPHER:
        return tpmkms_asym_cipher_algorithms;
    case OSSL_OP_KEYEXCH:
        return tpmkms_keyexch_algorithms;
    case OSSL_OP_STORE:
        return tpmkms_store_algorithms;
    case OSSL_OP_ENCODER:
        return tpmkms_encoder_algorithms;
    case OSSL_OP_DECODER:
        return tpmkms_decoder_algorithms;
    default:
        return NULL;
    }
}

static const OSSL_ITEM *tpmkms_provider_get_reason_strings(void *provctx)
{
    return tpmkms_err_reason_strings();
}

static const OSSL_DISPATCH tpmkms_provider_functions[] = {
    { OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))tpmkms_provider_teardown },
    { OSSL_FUNC_PROVIDER_GETTABLE_PARAMS,
      (void (*)(void))tpmkms_provider_gettable_params },
    { OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))tpmkms_provider_get_params },
    { OSSL_FUNC_PROVIDER_QUERY_OPERATION,
      (void (*)(void))tpmkms_provider_query_operation },
    { OSSL_FUNC_PROVIDER_GET_CAPABILITIES,
      (void (*)(void))tpmkms_keymgmt_get_capabilities },
    { OSSL_FUNC_PROVIDER_GET_REASON_STRINGS,
      (void (*)(void))tpmkms_provider_get_reason_strings },
    { 0, NULL }
};

/* ---- openssl.cnf settings ---- */

/* OpenSSL's own names in a provider's section (provider_conf.c). */
static int openssl_own_setting(const char *name)
{
    return strcmp(name, "module") == 0 || strcmp(name, "activate") == 0
           || strcmp(name, "identity") == 0 || strcmp(name, "soft_load") == 0;
}

/* The value OpenSSL holds for name in our section, or NULL. */
static const char *core_setting(OSSL_FUNC_core_get_params_fn *get_params,
                                const OSSL_CORE_HANDLE *handle,
                                const char *name)
{
    const char *v = NULL;
    OSSL_PARAM params[2];

    params[0] = OSSL_PARAM_construct_utf8_ptr(name, (char **)&v, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (get_params == NULL || !get_params(handle, params))
        return NULL;
    return v;
}

/*
 * Our section in the configuration file OpenSSL reads by default
 * (OPENSSL_CONF, else OPENSSLDIR/openssl.cnf): openssl_conf -> its
 * providers -> the entry named prov_name (or whose identity is) -> its
 * section.  OpenSSL 3.0 gives a provider its settings one name at a time
 * and cannot list them, so this is the only way to see a misspelled
 * setting.  The section counts only when every value in it is what
 * OpenSSL gave us under that name, i.e. it is the file that was loaded
 * (an application may load another: openssl req -config, or its own
 * CONF_modules_load_file); otherwise NULL and the unknown-setting check
 * is skipped.  A fresh CONF object, so OpenSSL's own config loading (in
 * which this may run) is not re-entered; reading the file touches no TPM.
 * *unknown gets the first name that is neither ours nor OpenSSL's.
 */
static char *find_section(OSSL_FUNC_core_get_params_fn *get_params,
                          const OSSL_CORE_HANDLE *handle,
                          const char *prov_name, char **unknown)
{
    char *file = NULL, *found = NULL;
    const char *init, *providers, *sect = NULL, *first_unknown = NULL;
    STACK_OF(CONF_VALUE) *list;
    CONF *conf = NULL;
    long eline = 0;
    int verified = 0;

    *unknown = NULL;
    ERR_set_mark();
    if (prov_name == NULL || (file = CONF_get1_default_config_file()) == NULL
            || (conf = NCONF_new(NULL)) == NULL
            || NCONF_load(conf, file, &eline) <= 0
            || (init = NCONF_get_string(conf, NULL, "openssl_conf")) == NULL
            || (providers = NCONF_get_string(conf, init, "providers")) == NULL
            || (list = NCONF_get_section(conf, providers)) == NULL)
        goto out;
    for (int i = 0; i < sk_CONF_VALUE_num(list) && sect == NULL; i++) {
        const CONF_VALUE *v = sk_CONF_VALUE_value(list, i);
        const char *id = NCONF_get_string(conf, v->value, "identity");

        if (strcmp(id != NULL ? id : v->name, prov_name) == 0)
            sect = v->value;
    }
    if (sect == NULL || (list = NCONF_get_section(conf, sect)) == NULL)
        goto out;
    for (int i = 0; i < sk_CONF_VALUE_num(list); i++) {
        const CONF_VALUE *v = sk_CONF_VALUE_value(list, i);
        const char *have;

        /* A value naming a section is a nested section: OpenSSL passes
         * its values as name.sub, not name itself. */
        if (NCONF_get_section(conf, v->value) == NULL) {
            have = core_setting(get_params, handle, v->name);
            if (have == NULL || strcmp(have, v->value) != 0)
                goto out;       /* not the file OpenSSL loaded */
            verified = 1;
        }
        if (first_unknown == NULL && !tpmkms_settings_is_known(v->name)
                && !openssl_own_setting(v->name))
            first_unknown = v->name;
    }
    if (!verified)
        goto out;
    found = OPENSSL_strdup(sect);
    if (found != NULL && first_unknown != NULL)
        *unknown = OPENSSL_strdup(first_unknown);
 out:
    ERR_pop_to_mark();
    NCONF_free(conf);
    OPENSSL_free(file);
    return found;
}

/*
 * Reads and checks the provider's settings (settings.h).  A refused one:
 * its message in err (naming the section and the setting), returned as
 * TPMKMS_R_BAD_PARAMETER; *label gets how the section is named.
 */
static tpmkms_rc read_settings(const OSSL_CORE_HANDLE *handle,
                               const OSSL_DISPATCH *in, TPMKMS_SETTINGS *s,
                               char *label, size_t labellen,
                               char *err, size_t errlen)
{
    OSSL_FUNC_core_get_params_fn *get_params = NULL;
    const char *prov_name;
    char *section, *unknown = NULL;
    tpmkms_rc rc = TPMKMS_R_OK;

    for (; in->function_id != 0; in++)
        if (in->function_id == OSSL_FUNC_CORE_GET_PARAMS)
            get_params = OSSL_FUNC_core_get_params(in);
    prov_name = core_setting(get_params, handle, OSSL_PROV_PARAM_CORE_PROV_NAME);
    section = find_section(get_params, handle, prov_name, &unknown);
    if (section != NULL)
        snprintf(label, labellen, "[%.100s]", section);
    else
        snprintf(label, labellen, "of provider %.100s",
                 prov_name != NULL ? prov_name : "tpmkms");
    for (size_t i = 0; tpmkms_settings_names[i] != NULL && rc == TPMKMS_R_OK; i++) {
        const char *name = tpmkms_settings_names[i];
        const char *v = core_setting(get_params, handle, name);

        if (v != NULL)
            rc = tpmkms_settings_set(s, label, name, v, err, errlen);
    }
    if (rc == TPMKMS_R_OK && unknown != NULL)
        rc = tpmkms_settings_set(s, label, unknown, "", err, errlen);
    if (rc == TPMKMS_R_INTERNAL)
        snprintf(err, errlen, "out of memory reading the openssl.cnf settings");
    OPENSSL_free(section);
    OPENSSL_free(unknown);
    return rc;
}

/*
 * The context with the settings applied.  A refused setting does not
 * fail the load (OpenSSL 3.0 would drop the message): the context keeps
 * it and every operation raises it (tpmkms_ctx_ready).
 */
static TPMKMS_CTX *configured_ctx(TPMKMS_PROVCTX *pctx,
                                  const OSSL_CORE_HANDLE *handle,
                                  const OSSL_DISPATCH *in)
{
    TPMKMS_SETTINGS s;
    TPMKMS_CTX *ctx = NULL;
    char label[128], err[512];
    tpmkms_rc rc;

    err[0] = '\0';
    tpmkms_settings_init(&s);
    rc = read_settings(handle, in, &s, label, sizeof(label), err, sizeof(err));
    if (rc == TPMKMS_R_OK) {
        rc = tpmkms_settings_install(&s, label, err, sizeof(err));
        pctx->settings_installed = rc == TPMKMS_R_OK;
    }
    if ((ctx = tpmkms_ctx_new(pctx->libctx, rc == TPMKMS_R_OK ? s.tcti : NULL,
                              tpmkms_backend_default_method())) == NULL)
        goto out;
    if (rc != TPMKMS_R_OK) {
        TPMKMS_debug("refused: %s", err);
        if (tpmkms_ctx_set_config_error(ctx, err) != TPMKMS_R_OK)
            goto err;
    } else if (tpmkms_ctx_set_tpm_timeout(ctx, s.tpm_timeout) != TPMKMS_R_OK
               || tpmkms_ctx_set_owner_auth_file(ctx, s.owner_auth_file)
                  != TPMKMS_R_OK) {
        goto err;
    }
 out:
    tpmkms_settings_clear(&s);
    return ctx;
 err:
    tpmkms_ctx_free(ctx);
    ctx = NULL;
    goto out;
}

/* The one exported symbol (everything else is hidden, see tpmkms.map). */
__attribute__((visibility("default")))
int OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                       const OSSL_DISPATCH **out, void **provctx)
{
    TPMKMS_PROVCTX *pctx = NULL;

    tpmkms_err_init_provider(handle, in);
    /*
     * Before any TPM library runs: the backend quiets its native logging
     * (every failure reaches OpenSSL's error queue with its decoded code).
     */
    tpmkms_backend_process_init(tpmkms_backend_default_method());
    if ((pctx = OPENSSL_zalloc(sizeof(*pctx))) == NULL)
        goto err;
    pctx->handle = handle;
    if ((pctx->libctx = OSSL_LIB_CTX_new_child(handle, in)) == NULL
            || (pctx->md_lock = CRYPTO_THREAD_lock_new()) == NULL)
        goto err;
    if ((pctx->ctx = configured_ctx(pctx, handle, in)) == NULL)
        goto err;
    TPMKMS_debug("provider loaded (no TPM contacted)");
    *out = tpmkms_provider_functions;
    *provctx = pctx;
    return 1;
 err:
    tpmkms_provider_teardown(pctx);
    return 0;
}
