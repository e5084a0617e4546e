/*
 * TPMKMS_PUBLIC to a software EVP_PKEY (public half only).
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/provider.h>
#include "errors.h"
#include "pubkey_evp.h"

/*
 * Never our own keymgmt: a public key built for software use must not
 * come back to tpmkms.
 */
#define PUBKEY_EVP_PROPQ TPMKMS_SOFT_PROPQ

static int pubkey_evp_add_params(OSSL_PARAM_BLD *bld, const TPMKMS_PUBLIC *pub,
                                 BIGNUM **n, BIGNUM **e)
{
    if (tpmkms_alg_is_ec(pub->alg)) {
        const char *group = tpmkms_alg_group(pub->alg);

        if (pub->ec_point_len == 0 || pub->ec_point[0] != 0x04) {
            TPMKMS_raise(TPMKMS_R_INTERNAL,
                         "%s public key has no uncompressed point",
                         tpmkms_alg_name(pub->alg));
            return 0;
        }
        if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                             group, 0)
            || !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                                 pub->ec_point,
                                                 pub->ec_point_len)) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
            return 0;
        }
        return 1;
    }
    if (pub->rsa_n_len == 0) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s public key has no modulus",
                     tpmkms_alg_name(pub->alg));
        return 0;
    }
    *n = BN_bin2bn(pub->rsa_n, (int)pub->rsa_n_len, NULL);
    *e = BN_new();
    if (*n == NULL || *e == NULL
        || !BN_set_word(*e, pub->rsa_e != 0 ? pub->rsa_e : 65537)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, *n)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, *e)) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return 0;
    }
    return 1;
}

static const char *provider_name(const EVP_PKEY_CTX *pctx)
{
    const OSSL_PROVIDER *prov = EVP_PKEY_CTX_get0_provider(pctx);

    return prov != NULL ? OSSL_PROVIDER_get0_name(prov) : "OpenSSL";
}

EVP_PKEY *tpmkms_public_to_evp(OSSL_LIB_CTX *libctx, const TPMKMS_PUBLIC *pub)
{
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *pkey = NULL;
    BIGNUM *n = NULL, *e = NULL;
    const char *keytype;

    if (pub == NULL
        || (!tpmkms_alg_is_ec(pub->alg) && !tpmkms_alg_is_rsa(pub->alg))) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "no public key of algorithm %d",
                     pub != NULL ? (int)pub->alg : -1);
        return NULL;
    }
    keytype = tpmkms_alg_keytype(pub->alg);

    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        goto out;
    }
    if (!pubkey_evp_add_params(bld, pub, &n, &e))
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    if (params == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        goto out;
    }

    pctx = EVP_PKEY_CTX_new_from_name(libctx, keytype, PUBKEY_EVP_PROPQ);
    if (pctx == NULL) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "no provider besides tpmkms offers %s keys (load the "
                     "default provider too: -provider default)", keytype);
        goto out;
    }
    if (EVP_PKEY_fromdata_init(pctx) <= 0
        || EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
        TPMKMS_raise(TPMKMS_R_INTERNAL,
                     "cannot import the %s public key into %s",
                     tpmkms_alg_name(pub->alg),
                     provider_name(pctx));
        pkey = NULL;
    }

out:
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pkey;
}

int tpmkms_soft_encode(OSSL_LIB_CTX *libctx, const EVP_PKEY *soft,
                       const char *output_type, const char *output_structure,
                       int selection, const char *cipher, OSSL_CORE_BIO *cout,
                       OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    OSSL_ENCODER_CTX *ectx;
    BIO *out = NULL;
    int ok = 0;

    ectx = OSSL_ENCODER_CTX_new_for_pkey(soft, selection, output_type,
                                         output_structure, TPMKMS_SOFT_PROPQ);
    if (ectx == NULL || OSSL_ENCODER_CTX_get_num_encoders(ectx) == 0) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "no provider besides tpmkms writes this software key as "
                     "%s%s%s", output_type,
                     output_structure != NULL ? " " : "",
                     output_structure != NULL ? output_structure : "");
        goto out;
    }
    if (cipher != NULL && *cipher != '\0'
        && (!OSSL_ENCODER_CTX_set_cipher(ectx, cipher, NULL)
            || !OSSL_ENCODER_CTX_set_passphrase_cb(ectx, cb, cbarg)))
        goto out;
    if ((out = BIO_new_from_core_bio(libctx, cout)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot open the encoder's output");
        goto out;
    }
    /* A failure is the other provider's to explain: its error stays. */
    ok = OSSL_ENCODER_to_bio(ectx, out);
out:
    BIO_free(out);
    OSSL_ENCODER_CTX_free(ectx);
    return ok;
}
