/*
 * The provider's entry point.  Loading the provider reads configuration
 * only: no TPM is touched until an operation on a tpmkms: key needs it.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/crypto.h>
#include "provider.h"
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

/*
 * Reads the provider's settings from its config section, where there is
 * one: "tcti" and "tpm-timeout" (copies, or NULL when absent).
 */
static void config_settings(const OSSL_CORE_HANDLE *handle,
                            const OSSL_DISPATCH *in, char **tcti,
                            char **timeout)
{
    OSSL_FUNC_core_get_params_fn *get_params = NULL;
    char *t = NULL, *to = NULL;
    OSSL_PARAM params[3];

    *tcti = *timeout = NULL;
    for (; in->function_id != 0; in++)
        if (in->function_id == OSSL_FUNC_CORE_GET_PARAMS)
            get_params = OSSL_FUNC_core_get_params(in);
    if (get_params == NULL)
        return;
    params[0] = OSSL_PARAM_construct_utf8_ptr("tcti", &t, 0);
    params[1] = OSSL_PARAM_construct_utf8_ptr("tpm-timeout", &to, 0);
    params[2] = OSSL_PARAM_construct_end();
    if (!get_params(handle, params))
        return;
    if (t != NULL)
        *tcti = OPENSSL_strdup(t);
    if (to != NULL)
        *timeout = OPENSSL_strdup(to);
}

/* The one exported symbol (everything else is hidden, see tpmkms.map). */
__attribute__((visibility("default")))
int OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                       const OSSL_DISPATCH **out, void **provctx)
{
    TPMKMS_PROVCTX *pctx = NULL;
    char *tcti = NULL, *timeout = NULL;

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
    config_settings(handle, in, &tcti, &timeout);
    pctx->ctx = tpmkms_ctx_new(pctx->libctx, tcti,
                               tpmkms_backend_default_method());
    /* A malformed tpm-timeout fails every operation, naming it. */
    if (pctx->ctx == NULL
            || tpmkms_ctx_set_tpm_timeout(pctx->ctx, timeout) != TPMKMS_R_OK)
        goto err;
    OPENSSL_free(tcti);
    OPENSSL_free(timeout);
    TPMKMS_debug("provider loaded (no TPM contacted)");
    *out = tpmkms_provider_functions;
    *provctx = pctx;
    return 1;
 err:
    OPENSSL_free(tcti);
    OPENSSL_free(timeout);
    tpmkms_provider_teardown(pctx);
    return 0;
}
