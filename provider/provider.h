/*
 * The provider context and the algorithm tables each operation family
 * exports (defined at the bottom of its own file).
 */
#ifndef TPMKMS_PROVIDER_H
#define TPMKMS_PROVIDER_H

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/evp.h>
#include "ctx.h"

/*
 * Every algorithm of ours carries this property string, except the EC and
 * RSA key management that an empty query finds (TPMKMS_SOFTKEYS_PROPS,
 * pubkey_evp.h; see keymgmt.c's dispatch tables).
 */
#define TPMKMS_PROPS "provider=tpmkms"

/*
 * Signature algorithm names that only tpmkms implements.  Our keymgmt's
 * query_operation_name answers these, so a TPM key's signature is never
 * fetched from another provider (which would export the key as if it were
 * a software key), and a software key's signature never comes to us.
 */
#define TPMKMS_SIG_NAME_ECDSA "TPMKMS-ECDSA"
#define TPMKMS_SIG_NAME_RSA "TPMKMS-RSA"

/*
 * The same for RSA decryption (asymcipher.c; one name with the RSA
 * signature: OpenSSL's names are shared by every operation) and ECDH
 * (keyexch.c).  An RSA key's encryption and a software key's operations
 * are forwarded from there to the default provider.
 */
#define TPMKMS_CIPHER_NAME_RSA TPMKMS_SIG_NAME_RSA
#define TPMKMS_EXCH_NAME_ECDH "TPMKMS-ECDH"

#define TPMKMS_PROVCTX_MDS 5     /* indexed by tpmkms_hash */

typedef struct tpmkms_provctx_st {
    const OSSL_CORE_HANDLE *handle;
    OSSL_LIB_CTX *libctx;       /* a child libctx of the application's */
    TPMKMS_CTX *ctx;
    int settings_installed;     /* tpmkms_settings_install succeeded */
    /*
     * Digests fetched once (without properties) for every signature
     * context: a fetch per signature cost more than the rest of the
     * provider's work.  NULL lock: no caching (unit tests).
     */
    CRYPTO_RWLOCK *md_lock;
    EVP_MD *mds[TPMKMS_PROVCTX_MDS];
} TPMKMS_PROVCTX;

static inline TPMKMS_CTX *tpmkms_provctx_ctx(void *provctx)
{
    return ((TPMKMS_PROVCTX *)provctx)->ctx;
}

static inline OSSL_LIB_CTX *tpmkms_provctx_libctx(void *provctx)
{
    return ((TPMKMS_PROVCTX *)provctx)->libctx;
}

/* Project parameter names, spelled like URI attributes. */
#define TPMKMS_PARAM_URI "uri"
#define TPMKMS_PARAM_KEY_SCOPE "key-scope"

extern const OSSL_ALGORITHM tpmkms_keymgmt_algorithms[];
extern const OSSL_ALGORITHM tpmkms_signature_algorithms[];
extern const OSSL_ALGORITHM tpmkms_asym_cipher_algorithms[];
extern const OSSL_ALGORITHM tpmkms_keyexch_algorithms[];
extern const OSSL_ALGORITHM tpmkms_store_algorithms[];
extern const OSSL_ALGORITHM tpmkms_encoder_algorithms[];
extern const OSSL_ALGORITHM tpmkms_decoder_algorithms[];

/*
 * OSSL_FUNC_PROVIDER_GET_CAPABILITIES (keymgmt.c): the TLS-GROUP
 * capabilities of the EC groups our software EC keys are made with, so
 * libssl keeps ECDHE when its "EC" fetch finds our keymgmt.
 */
int tpmkms_keymgmt_get_capabilities(void *provctx, const char *capability,
                                    OSSL_CALLBACK *cb, void *arg);

#endif
