/*
 * A key's auth value: the one policy of keyauth.h.
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include "keyauth.h"
#include "debug.h"

int tpmkms_key_needs_auth(const TPMKMS_KEY *key)
{
    return key->ref.persistent == 0 && key->needs_auth == 1
           && key->ref.auth == NULL;
}

tpmkms_rc tpmkms_key_ask_auth(TPMKMS_KEY *key, OSSL_PASSPHRASE_CALLBACK *pw_cb,
                              void *pw_cbarg)
{
    char pass[256];
    size_t len = 0;
    OSSL_PARAM params[2];
    tpmkms_rc rc;

    if (!tpmkms_key_needs_auth(key))
        return TPMKMS_R_OK;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PASSPHRASE_PARAM_INFO,
                                                 key->uri, 0);
    params[1] = OSSL_PARAM_construct_end();
    /* A callback that gives no answer may queue errors: ours replace them. */
    tpmkms_err_set_mark();
    if (pw_cb == NULL || !pw_cb(pass, sizeof(pass), &len, params, pw_cbarg)) {
        tpmkms_err_pop_to_mark();
        OPENSSL_cleanse(pass, sizeof(pass));
        if (key->name != NULL)
            /* A key of the store, named by a tpmkms: URI. */
            TPMKMS_raise(TPMKMS_R_AUTH_FAILED,
                         "%s has an auth value and none was given: add "
                         "pin-value=... or pin-source=file:... to the URI, or "
                         "pass it as the key's passphrase (openssl -passin or "
                         "-pass); for its public key alone, which needs none: "
                         "openssl pkey -pubin -in URI -pubout, or tpmkms show; "
                         "nothing was sent to the TPM", key->uri);
        else
            TPMKMS_raise(TPMKMS_R_AUTH_FAILED,
                         "%s has an auth value (emptyAuth is false) and none "
                         "was given: pass it as the key's passphrase (openssl "
                         "-passin or -pass, nginx ssl_password_file); nothing "
                         "was sent to the TPM", key->uri);
        return TPMKMS_R_AUTH_FAILED;
    }
    tpmkms_err_clear_last_mark();
    if (len > sizeof(pass))
        len = sizeof(pass);
    rc = tpmkms_key_set_auth(key, pass, len);
    OPENSSL_cleanse(pass, sizeof(pass));
    if (rc == TPMKMS_R_OK)
        TPMKMS_debug("%s: auth value taken from the passphrase callback",
                     key->uri);
    return rc;
}
