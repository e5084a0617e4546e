/*
 * Reason codes and TPMKMS_raise.  In the provider, errors travel through
 * the core's upcalls so that they carry the provider's library name; in
 * the tpmkms command and the unit tests they go straight onto libcrypto's
 * queue under a library code of our own.
 */
#include <stdarg.h>
#include <stdio.h>
#include <openssl/core_dispatch.h>
#include <openssl/err.h>
#include "errors.h"

static const OSSL_ITEM reason_strings[] = {
    { TPMKMS_R_BAD_URI, "bad tpmkms URI" },
    { TPMKMS_R_KEY_NOT_FOUND, "key not found" },
    { TPMKMS_R_TPM_UNAVAILABLE, "TPM unavailable" },
    { TPMKMS_R_AUTH_FAILED, "authorization failed" },
    { TPMKMS_R_LOCKOUT, "TPM in dictionary-attack lockout" },
    { TPMKMS_R_SIGN_FAILED, "signing failed" },
    { TPMKMS_R_UNSUPPORTED_ALGORITHM, "unsupported algorithm" },
    { TPMKMS_R_TPM_ERROR, "TPM error" },
    { TPMKMS_R_BAD_RECORD, "bad key record" },
    { TPMKMS_R_STORE_IO, "key store I/O error" },
    { TPMKMS_R_KEY_EXISTS, "key exists" },
    { TPMKMS_R_SCOPE_MISMATCH, "key scope mismatch" },
    { TPMKMS_R_REQUIRES_ELEVATION, "requires elevation" },
    { TPMKMS_R_PARTIAL_DELETE, "partial delete" },
    { TPMKMS_R_BAD_PARAMETER, "bad parameter" },
    { TPMKMS_R_INTERNAL, "internal error" },
    { TPMKMS_R_OBJECT_MEMORY, "TPM out of object memory" },
    { TPMKMS_R_BAD_KEY_FILE, "bad TSS2 key file" },
    { TPMKMS_R_AMBIGUOUS_KEY, "ambiguous key name" },
    { TPMKMS_R_INSECURE_STORE, "insecure key store" },
    { TPMKMS_R_WRONG_SRK, "unexpected key at the SRK handle" },
    { TPMKMS_R_NOT_SUPPORTED, "not supported by this TPM backend" },
    { TPMKMS_R_WRONG_TPM, "key made by another TPM" },
    { TPMKMS_R_BAD_EK_CERT, "bad EK certificate" },
    { TPMKMS_R_EK_MISMATCH, "EK certificate does not match the EK" },
    { TPMKMS_R_BAD_TPM_PUBLIC, "bad TPM public area" },
    { TPMKMS_R_NOT_AN_AK, "not an attestation key" },
    { TPMKMS_R_BAD_REQUEST, "bad enrollment request" },
    { TPMKMS_R_AK_NAME_MISMATCH, "AK name does not match its public area" },
    { TPMKMS_R_STATE_MISMATCH, "challenge state is for another request" },
    { TPMKMS_R_ACTIVATION_FAILED, "credential activation failed" },
    { TPMKMS_R_LEVEL_TOO_LOW, "EK assurance level too low" },
    { TPMKMS_R_DECRYPT_FAILED, "decryption failed" },
    { TPMKMS_R_DERIVE_FAILED, "key agreement failed" },
    { TPMKMS_R_BAD_QUOTE, "malformed quote" },
    { TPMKMS_R_QUOTE_SIGNATURE, "quote signature invalid" },
    { TPMKMS_R_QUOTE_NONCE, "quote nonce mismatch" },
    { TPMKMS_R_QUOTE_PCR_SELECTION, "quote PCR selection mismatch" },
    { TPMKMS_R_QUOTE_PCR_DIGEST, "quote PCR digest mismatch" },
    { 0, NULL }
};

static const OSSL_CORE_HANDLE *core_handle;
static OSSL_FUNC_core_new_error_fn *c_new_error;
static OSSL_FUNC_core_set_error_debug_fn *c_set_error_debug;
static OSSL_FUNC_core_vset_error_fn *c_vset_error;
static OSSL_FUNC_core_set_error_mark_fn *c_set_error_mark;
static OSSL_FUNC_core_pop_error_to_mark_fn *c_pop_error_to_mark;
static OSSL_FUNC_core_clear_last_error_mark_fn *c_clear_last_error_mark;

static int standalone_lib;
/* libcrypto keeps pointers into this table: it must live for the process. */
static ERR_STRING_DATA standalone_strings[TPMKMS_R_MAX - TPMKMS_R_BAD_URI + 2];

const OSSL_ITEM *tpmkms_err_reason_strings(void)
{
    return reason_strings;
}

const char *tpmkms_err_reason_string(int reason)
{
    for (const OSSL_ITEM *i = reason_strings; i->ptr != NULL; i++)
        if ((int)i->id == reason)
            return i->ptr;
    return "unknown reason";
}

int tpmkms_err_lib(void)
{
    return standalone_lib;
}

void tpmkms_err_init_provider(const OSSL_CORE_HANDLE *handle,
                              const OSSL_DISPATCH *in)
{
    /* The upcalls are the same for every instance; keep the first handle. */
    if (core_handle != NULL)
        return;
    for (; in->function_id != 0; in++) {
        switch (in->function_id) {
        case OSSL_FUNC_CORE_NEW_ERROR:
            c_new_error = OSSL_FUNC_core_new_error(in);
            break;
        case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
            c_set_error_debug = OSSL_FUNC_core_set_error_debug(in);
            break;
        case OSSL_FUNC_CORE_VSET_ERROR:
            c_vset_error = OSSL_FUNC_core_vset_error(in);
            break;
        case OSSL_FUNC_CORE_SET_ERROR_MARK:
            c_set_error_mark = OSSL_FUNC_core_set_error_mark(in);
            break;
        case OSSL_FUNC_CORE_POP_ERROR_TO_MARK:
            c_pop_error_to_mark = OSSL_FUNC_core_pop_error_to_mark(in);
            break;
        case OSSL_FUNC_CORE_CLEAR_LAST_ERROR_MARK:
            c_clear_last_error_mark = OSSL_FUNC_core_clear_last_error_mark(in);
            break;
        default:
            break;
        }
    }
    core_handle = handle;
}

void tpmkms_err_init_standalone(void)
{
    size_t n = 0;

    if (standalone_lib != 0 || core_handle != NULL)
        return;
    standalone_lib = ERR_get_next_error_library();
    for (const OSSL_ITEM *i = reason_strings; i->ptr != NULL; i++)
        n++;
    /* One entry for the library name, one per reason, and the terminator. */
    if (n + 2 > sizeof(standalone_strings) / sizeof(standalone_strings[0]))
        return;
    standalone_strings[0].error = ERR_PACK(standalone_lib, 0, 0);
    standalone_strings[0].string = "tpmkms";
    for (size_t k = 0; k < n; k++) {
        standalone_strings[k + 1].error =
            ERR_PACK(standalone_lib, 0, reason_strings[k].id);
        standalone_strings[k + 1].string = reason_strings[k].ptr;
    }
    ERR_load_strings(standalone_lib, standalone_strings);
}

void tpmkms_raise_at(const char *file, int line, const char *func,
                     int reason, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (core_handle != NULL && c_new_error != NULL) {
        c_new_error(core_handle);
        c_set_error_debug(core_handle, file, line, func);
        c_vset_error(core_handle, reason, fmt, ap);
    } else {
        if (standalone_lib == 0)
            tpmkms_err_init_standalone();
        ERR_new();
        ERR_set_debug(file, line, func);
        ERR_vset_error(standalone_lib, reason, fmt, ap);
    }
    va_end(ap);
}

void tpmkms_err_set_mark(void)
{
    if (core_handle != NULL && c_set_error_mark != NULL)
        c_set_error_mark(core_handle);
    else
        ERR_set_mark();
}

void tpmkms_err_pop_to_mark(void)
{
    if (core_handle != NULL && c_pop_error_to_mark != NULL)
        c_pop_error_to_mark(core_handle);
    else
        ERR_pop_to_mark();
}

void tpmkms_err_clear_last_mark(void)
{
    if (core_handle != NULL && c_clear_last_error_mark != NULL)
        c_clear_last_error_mark(core_handle);
    else
        ERR_clear_last_mark();
}

void tpmkms_err_format(char *buf, size_t len, unsigned long e,
                       const char *data, int flags)
{
    const char *reason = ERR_reason_error_string(e);
    int has_data = data != NULL && data[0] != '\0'
                   && (flags & ERR_TXT_STRING) != 0;
    char fallback[64];

    if (reason == NULL) {
        const char *lib = ERR_lib_error_string(e);

        snprintf(fallback, sizeof(fallback), "%s error %d",
                 lib != NULL ? lib : "unknown", ERR_GET_REASON(e));
        reason = fallback;
    }
    snprintf(buf, len, "%s%s%s", reason, has_data ? ": " : "",
             has_data ? data : "");
}

char *tpmkms_err_take_text(char *buf, size_t len)
{
    const char *data;
    int flags;
    unsigned long e;
    size_t used = 0;
    char msg[512];

    if (len == 0)
        return buf;
    buf[0] = '\0';
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        tpmkms_err_format(msg, sizeof(msg), e, data, flags);
        if (used < len)
            used += (size_t)snprintf(buf + used, len - used, "%s%s",
                                     used > 0 ? "; " : "", msg);
    }
    if (buf[0] == '\0')
        snprintf(buf, len, "no detail");
    return buf;
}
