/*
 * Encoders for tpmkms EC and RSA keys:
 *
 *   SubjectPublicKeyInfo, DER and PEM   the public half, via a software key
 *   text                                URI, algorithm, storage, public key
 *   TSS2 PRIVATE KEY, DER and PEM       the key file: the TPM-wrapped
 *                                       private part, usable only with the
 *                                       TPM that made it
 *
 * The key file is registered both as PrivateKeyInfo (what
 * PEM_write_bio_PrivateKey asks for: `openssl pkey -out`, genpkey's PEM
 * output) and as type-specific (what i2d_PrivateKey asks for first: genpkey
 * -outform DER, and PEM_write_bio_PrivateKey_traditional).  OpenSSL offers
 * a key to the encoders of the key's own provider before others, so these
 * are chosen for our keys.  None of them has import_object: they encode
 * only keys of our keymgmt, and nothing secret of a TPM key ever passes
 * through them.  A software key in our keymgmt (tpmkms activated globally,
 * see keymgmt.c) is handed whole to its own provider's encoders.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "provider.h"
#include "key.h"
#include "pubkey_evp.h"
#include "tss2key.h"
#include "errors.h"

static OSSL_FUNC_encoder_newctx_fn tpmkms_encoder_newctx;
static OSSL_FUNC_encoder_freectx_fn tpmkms_encoder_freectx;
static OSSL_FUNC_encoder_set_ctx_params_fn tpmkms_encoder_set_ctx_params;
static OSSL_FUNC_encoder_settable_ctx_params_fn tpmkms_encoder_settable_ctx_params;
static OSSL_FUNC_encoder_does_selection_fn tpmkms_spki_does_selection;
static OSSL_FUNC_encoder_does_selection_fn tpmkms_tss2_does_selection;
static OSSL_FUNC_encoder_does_selection_fn tpmkms_text_does_selection;
static OSSL_FUNC_encoder_encode_fn tpmkms_spki_der_encode;
static OSSL_FUNC_encoder_encode_fn tpmkms_spki_pem_encode;
static OSSL_FUNC_encoder_encode_fn tpmkms_tss2_der_encode;
static OSSL_FUNC_encoder_encode_fn tpmkms_tss2_pem_encode;
static OSSL_FUNC_encoder_encode_fn tpmkms_tss2_ts_der_encode;
static OSSL_FUNC_encoder_encode_fn tpmkms_tss2_ts_pem_encode;
static OSSL_FUNC_encoder_encode_fn tpmkms_text_encode;

typedef struct tpmkms_encoder_ctx_st {
    TPMKMS_PROVCTX *provctx;
    int cipher_requested;       /* someone asked for an encrypted key file */
    char cipher[64];            /* its name, for a software key's file */
} TPMKMS_ENCODER_CTX;

static void *tpmkms_encoder_newctx(void *provctx)
{
    TPMKMS_ENCODER_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return NULL;
    }
    ctx->provctx = provctx;
    return ctx;
}

static void tpmkms_encoder_freectx(void *vctx)
{
    OPENSSL_free(vctx);
}

static int tpmkms_encoder_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    TPMKMS_ENCODER_CTX *ctx = vctx;
    const OSSL_PARAM *p;
    const char *cipher = NULL;

    if (params == NULL)
        return 1;
    p = OSSL_PARAM_locate_const(params, OSSL_ENCODER_PARAM_CIPHER);
    if (p != NULL) {
        if (p->data != NULL && !OSSL_PARAM_get_utf8_string_ptr(p, &cipher)) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "cipher must be a cipher name");
            return 0;
        }
        ctx->cipher_requested = cipher != NULL && *cipher != '\0';
        snprintf(ctx->cipher, sizeof(ctx->cipher), "%s",
                 ctx->cipher_requested ? cipher : "");
    }
    return 1;
}

static const OSSL_PARAM encoder_settable_ctx_params[] = {
    OSSL_PARAM_utf8_string(OSSL_ENCODER_PARAM_CIPHER, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tpmkms_encoder_settable_ctx_params(void *provctx)
{
    return encoder_settable_ctx_params;
}

/*
 * Selections are levels: private key, then public key, then parameters.
 * An encoder answers for the highest level asked (0 asks nothing: any).
 */
static int tpmkms_spki_does_selection(void *provctx, int selection)
{
    if (selection == 0)
        return 1;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0)
        return 0;
    return (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0;
}

static int tpmkms_tss2_does_selection(void *provctx, int selection)
{
    if (selection == 0)
        return 1;
    return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0;
}

static int tpmkms_text_does_selection(void *provctx, int selection)
{
    return selection == 0 || (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0;
}

/*
 * A software key in our keymgmt (tpmkms activated globally, see
 * keymgmt.c) is written by its own provider's encoders, as if tpmkms
 * were not there.
 */
static int encoder_soft(TPMKMS_ENCODER_CTX *ctx, OSSL_CORE_BIO *cout,
                        const void *obj_raw, const char *type,
                        const char *structure, int selection,
                        OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    const TPMKMS_KEY *key = obj_raw;

    return tpmkms_soft_encode(tpmkms_provctx_libctx(ctx->provctx), key->soft,
                              type, structure, selection, ctx->cipher, cout,
                              cb, cbarg);
}

static int encoder_is_soft(const void *obj_raw)
{
    return obj_raw != NULL && ((const TPMKMS_KEY *)obj_raw)->soft != NULL;
}

static const TPMKMS_KEY *encoder_key(const void *obj_raw)
{
    const TPMKMS_KEY *key = obj_raw;

    if (key == NULL || key->pub.alg == TPMKMS_ALG_NONE) {
        TPMKMS_raise(TPMKMS_R_INTERNAL,
                     "the tpmkms encoders take tpmkms keys only");
        return NULL;
    }
    return key;
}

static const char *encoder_label(const TPMKMS_KEY *key)
{
    return key->uri != NULL ? key->uri : "the tpmkms key";
}

static BIO *encoder_bio(TPMKMS_ENCODER_CTX *ctx, OSSL_CORE_BIO *cout)
{
    BIO *out = BIO_new_from_core_bio(tpmkms_provctx_libctx(ctx->provctx), cout);

    if (out == NULL)
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot open the encoder's output");
    return out;
}

/* SubjectPublicKeyInfo: OpenSSL's own encoding of a software copy. */
static int spki_encode(void *vctx, OSSL_CORE_BIO *cout, const void *obj_raw,
                       int pem)
{
    TPMKMS_ENCODER_CTX *ctx = vctx;
    const TPMKMS_KEY *key = encoder_key(obj_raw);
    EVP_PKEY *pkey = NULL;
    BIO *out = NULL;
    int ok = 0;

    if (key == NULL)
        return 0;
    pkey = tpmkms_public_to_evp(tpmkms_provctx_libctx(ctx->provctx), &key->pub);
    if (pkey == NULL)
        return 0;
    if ((out = encoder_bio(ctx, cout)) == NULL)
        goto out;
    ok = pem ? PEM_write_bio_PUBKEY(out, pkey) : i2d_PUBKEY_bio(out, pkey);
    if (!ok)
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot write the public key of %s",
                     encoder_label(key));
 out:
    BIO_free(out);
    EVP_PKEY_free(pkey);
    return ok;
}

static int tpmkms_spki_der_encode(void *vctx, OSSL_CORE_BIO *cout,
                                  const void *obj_raw,
                                  const OSSL_PARAM obj_abstract[], int selection,
                                  OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    if (encoder_is_soft(obj_raw))
        return encoder_soft(vctx, cout, obj_raw, "DER", "SubjectPublicKeyInfo",
                            selection, cb, cbarg);
    return spki_encode(vctx, cout, obj_raw, 0);
}

static int tpmkms_spki_pem_encode(void *vctx, OSSL_CORE_BIO *cout,
                                  const void *obj_raw,
                                  const OSSL_PARAM obj_abstract[], int selection,
                                  OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    if (encoder_is_soft(obj_raw))
        return encoder_soft(vctx, cout, obj_raw, "PEM", "SubjectPublicKeyInfo",
                            selection, cb, cbarg);
    return spki_encode(vctx, cout, obj_raw, 1);
}

/* The key file: the blob the TPM wrapped, as TSS2 PRIVATE KEY. */
static int tss2_encode(void *vctx, OSSL_CORE_BIO *cout, const void *obj_raw,
                       int pem)
{
    TPMKMS_ENCODER_CTX *ctx = vctx;
    const TPMKMS_KEY *key = encoder_key(obj_raw);
    TPMKMS_KEYBLOB blob = { 0 };
    unsigned char *der = NULL;
    size_t der_len = 0;
    char *text = NULL;
    BIO *out = NULL;
    int ok = 0;

    if (key == NULL)
        return 0;
    if (key->ref.persistent != 0) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s is a persistent TPM key (handle 0x%08x) and has no "
                     "key file: use its URI instead", encoder_label(key),
                     (unsigned int)key->ref.persistent);
        return 0;
    }
    if (key->ref.key.format != TPMKMS_KEYFMT_TSS2_DER
            || key->ref.key.data == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s has no key blob to write",
                     encoder_label(key));
        return 0;
    }
    if (ctx->cipher_requested) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "a TSS2 key file of %s cannot be encrypted: its private "
                     "part is already wrapped by the TPM; leave out the cipher",
                     encoder_label(key));
        return 0;
    }
    if (tpmkms_keydata_to_blob(&key->ref.key, &blob, encoder_label(key))
            != TPMKMS_R_OK)
        return 0;
    if (pem) {
        if (tpmkms_tss2key_to_pem(&blob, &text) != TPMKMS_R_OK)
            goto out;
    } else if (tpmkms_tss2key_to_der(&blob, &der, &der_len) != TPMKMS_R_OK) {
        goto out;
    }
    if ((out = encoder_bio(ctx, cout)) == NULL)
        goto out;
    if (pem) {
        size_t len = strlen(text);

        ok = BIO_write(out, text, (int)len) == (int)len;
    } else {
        ok = BIO_write(out, der, (int)der_len) == (int)der_len;
    }
    if (!ok)
        TPMKMS_raise(TPMKMS_R_STORE_IO, "cannot write the key file of %s",
                     encoder_label(key));
 out:
    BIO_free(out);
    OPENSSL_free(der);
    OPENSSL_free(text);
    tpmkms_keyblob_clear(&blob);
    return ok;
}

static int tpmkms_tss2_der_encode(void *vctx, OSSL_CORE_BIO *cout,
                                  const void *obj_raw,
                                  const OSSL_PARAM obj_abstract[], int selection,
                                  OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    if (encoder_is_soft(obj_raw))
        return encoder_soft(vctx, cout, obj_raw, "DER", "PrivateKeyInfo",
                            selection, cb, cbarg);
    return tss2_encode(vctx, cout, obj_raw, 0);
}

static int tpmkms_tss2_pem_encode(void *vctx, OSSL_CORE_BIO *cout,
                                  const void *obj_raw,
                                  const OSSL_PARAM obj_abstract[], int selection,
                                  OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    if (encoder_is_soft(obj_raw))
        return encoder_soft(vctx, cout, obj_raw, "PEM", "PrivateKeyInfo",
                            selection, cb, cbarg);
    return tss2_encode(vctx, cout, obj_raw, 1);
}

/* The same key file, registered as type-specific (see the top). */
static int tpmkms_tss2_ts_der_encode(void *vctx, OSSL_CORE_BIO *cout,
                                     const void *obj_raw,
                                     const OSSL_PARAM obj_abstract[],
                                     int selection,
                                     OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    if (encoder_is_soft(obj_raw))
        return encoder_soft(vctx, cout, obj_raw, "DER", "type-specific",
                            selection, cb, cbarg);
    return tss2_encode(vctx, cout, obj_raw, 0);
}

static int tpmkms_tss2_ts_pem_encode(void *vctx, OSSL_CORE_BIO *cout,
                                     const void *obj_raw,
                                     const OSSL_PARAM obj_abstract[],
                                     int selection,
                                     OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    if (encoder_is_soft(obj_raw))
        return encoder_soft(vctx, cout, obj_raw, "PEM", "type-specific",
                            selection, cb, cbarg);
    return tss2_encode(vctx, cout, obj_raw, 1);
}

static void text_storage(BIO *out, const TPMKMS_KEY *key)
{
    if (key->ref.persistent != 0)
        BIO_printf(out, "Storage: persistent TPM object, handle 0x%08x\n",
                   (unsigned int)key->ref.persistent);
    else if (key->store_dir != NULL)
        BIO_printf(out, "Storage: TPM-wrapped key blob in %s (not persistent)\n",
                   key->store_dir);
    else
        BIO_printf(out, "Storage: TPM-wrapped key blob (not persistent)\n");
}

static int tpmkms_text_encode(void *vctx, OSSL_CORE_BIO *cout,
                              const void *obj_raw,
                              const OSSL_PARAM obj_abstract[], int selection,
                              OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    TPMKMS_ENCODER_CTX *ctx = vctx;
    const TPMKMS_KEY *key;
    EVP_PKEY *pkey = NULL;
    BIO *out = NULL;
    int ok = 0;

    if (encoder_is_soft(obj_raw))
        return encoder_soft(ctx, cout, obj_raw, "TEXT", NULL, selection, cb,
                            cbarg);
    if ((key = encoder_key(obj_raw)) == NULL)
        return 0;
    pkey = tpmkms_public_to_evp(tpmkms_provctx_libctx(ctx->provctx), &key->pub);
    if (pkey == NULL)
        return 0;
    if ((out = encoder_bio(ctx, cout)) == NULL)
        goto out;
    BIO_printf(out, "TPM-Key: (%d bit, private key held by the TPM)\n",
               tpmkms_alg_bits(key->pub.alg));
    BIO_printf(out, "URI: %s\n", encoder_label(key));
    BIO_printf(out, "Algorithm: %s\n", tpmkms_alg_name(key->pub.alg));
    if (key->scope != TPMKMS_SCOPE_UNSET)
        BIO_printf(out, "Key scope: %s\n", tpmkms_scope_name(key->scope));
    text_storage(out, key);
    BIO_printf(out, "Persistent: %s\n", key->ref.persistent != 0 ? "yes" : "no");
    if (key->kind == TPMKMS_KIND_AK)
        BIO_printf(out, "Usage: attestation key (restricted: signs only "
                   "TPM-made statements)\n");
    else
        BIO_printf(out, "Usage: %s%s%s\n", key->pub.can_sign ? "sign" : "",
                   key->pub.can_sign && key->pub.can_decrypt ? ", " : "",
                   key->pub.can_decrypt ? "decrypt" : "");
    ok = EVP_PKEY_print_public(out, pkey, 0, NULL) > 0;
    if (!ok)
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot print the public key of %s",
                     encoder_label(key));
 out:
    BIO_free(out);
    EVP_PKEY_free(pkey);
    return ok;
}

static const OSSL_DISPATCH tpmkms_spki_der_encoder_functions[] = {
    { OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))tpmkms_encoder_newctx },
    { OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))tpmkms_encoder_freectx },
    { OSSL_FUNC_ENCODER_DOES_SELECTION,
      (void (*)(void))tpmkms_spki_does_selection },
    { OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))tpmkms_spki_der_encode },
    { 0, NULL }
};

static const OSSL_DISPATCH tpmkms_spki_pem_encoder_functions[] = {
    { OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))tpmkms_encoder_newctx },
    { OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))tpmkms_encoder_freectx },
    { OSSL_FUNC_ENCODER_DOES_SELECTION,
      (void (*)(void))tpmkms_spki_does_selection },
    { OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))tpmkms_spki_pem_encode },
    { 0, NULL }
};

static const OSSL_DISPATCH tpmkms_tss2_der_encoder_functions[] = {
    { OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))tpmkms_encoder_newctx },
    { OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))tpmkms_encoder_freectx },
    { OSSL_FUNC_ENCODER_SET_CTX_PARAMS,
      (void (*)(void))tpmkms_encoder_set_ctx_params },
    { OSSL_FUNC_ENCODER_SETTABLE_CTX_PARAMS,
      (void (*)(void))tpmkms_encoder_settable_ctx_params },
    { OSSL_FUNC_ENCODER_DOES_SELECTION,
      (void (*)(void))tpmkms_tss2_does_selection },
    { OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))tpmkms_tss2_der_encode },
    { 0, NULL }
};

static const OSSL_DISPATCH tpmkms_tss2_pem_encoder_functions[] = {
    { OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))tpmkms_encoder_newctx },
    { OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))tpmkms_encoder_freectx },
    { OSSL_FUNC_ENCODER_SET_CTX_PARAMS,
      (void (*)(void))tpmkms_encoder_set_ctx_params },
    { OSSL_FUNC_ENCODER_SETTABLE_CTX_PARAMS,
      (void (*)(void))tpmkms_encoder_settable_ctx_params },
    { OSSL_FUNC_ENCODER_DOES_SELECTION,
      (void (*)(void))tpmkms_tss2_does_selection },
    { OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))tpmkms_tss2_pem_encode },
    { 0, NULL }
};

static const OSSL_DISPATCH tpmkms_tss2_ts_der_encoder_functions[] = {
    { OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))tpmkms_encoder_newctx },
    { OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))tpmkms_encoder_freectx },
    { OSSL_FUNC_ENCODER_SET_CTX_PARAMS,
      (void (*)(void))tpmkms_encoder_set_ctx_params },
    { OSSL_FUNC_ENCODER_SETTABLE_CTX_PARAMS,
      (void (*)(void))tpmkms_encoder_settable_ctx_params },
    { OSSL_FUNC_ENCODER_DOES_SELECTION,
      (void (*)(void))tpmkms_tss2_does_selection },
    { OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))tpmkms_tss2_ts_der_encode },
    { 0, NULL }
};

static const OSSL_DISPATCH tpmkms_tss2_ts_pem_encoder_functions[] = {
    { OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))tpmkms_encoder_newctx },
    { OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))tpmkms_encoder_freectx },
    { OSSL_FUNC_ENCODER_SET_CTX_PARAMS,
      (void (*)(void))tpmkms_encoder_set_ctx_params },
    { OSSL_FUNC_ENCODER_SETTABLE_CTX_PARAMS,
      (void (*)(void))tpmkms_encoder_settable_ctx_params },
    { OSSL_FUNC_ENCODER_DOES_SELECTION,
      (void (*)(void))tpmkms_tss2_does_selection },
    { OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))tpmkms_tss2_ts_pem_encode },
    { 0, NULL }
};

static const OSSL_DISPATCH tpmkms_text_encoder_functions[] = {
    { OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))tpmkms_encoder_newctx },
    { OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))tpmkms_encoder_freectx },
    { OSSL_FUNC_ENCODER_DOES_SELECTION,
      (void (*)(void))tpmkms_text_does_selection },
    { OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))tpmkms_text_encode },
    { 0, NULL }
};

#define TPMKMS_EC_NAMES "EC:id-ecPublicKey:1.2.840.10045.2.1"
#define TPMKMS_RSA_NAMES "RSA:rsaEncryption:1.2.840.113549.1.1.1"

#define TPMKMS_ENCODER(names, output, structure, fns, desc)                  \
    { names, TPMKMS_PROPS ",output=" output                                  \
             structure, fns, desc }
#define TPMKMS_ENCODERS(names, kind)                                           \
    TPMKMS_ENCODER(names, "der", ",structure=SubjectPublicKeyInfo",            \
                   tpmkms_spki_der_encoder_functions,                          \
                   kind " public key, SubjectPublicKeyInfo DER"),              \
    TPMKMS_ENCODER(names, "pem", ",structure=SubjectPublicKeyInfo",            \
                   tpmkms_spki_pem_encoder_functions,                          \
                   kind " public key, SubjectPublicKeyInfo PEM"),              \
    TPMKMS_ENCODER(names, "der", ",structure=PrivateKeyInfo",                  \
                   tpmkms_tss2_der_encoder_functions,                          \
                   kind " TPM key file, TSS2 PRIVATE KEY DER"),                \
    TPMKMS_ENCODER(names, "pem", ",structure=PrivateKeyInfo",                  \
                   tpmkms_tss2_pem_encoder_functions,                          \
                   kind " TPM key file, TSS2 PRIVATE KEY PEM"),                \
    TPMKMS_ENCODER(names, "der", ",structure=type-specific",                   \
                   tpmkms_tss2_ts_der_encoder_functions,                       \
                   kind " TPM key file, TSS2 PRIVATE KEY DER"),                \
    TPMKMS_ENCODER(names, "pem", ",structure=type-specific",                   \
                   tpmkms_tss2_ts_pem_encoder_functions,                       \
                   kind " TPM key file, TSS2 PRIVATE KEY PEM"),                \
    TPMKMS_ENCODER(names, "text", "", tpmkms_text_encoder_functions,           \
                   kind " TPM key as text")

const OSSL_ALGORITHM tpmkms_encoder_algorithms[] = {
    TPMKMS_ENCODERS(TPMKMS_EC_NAMES, "EC"),
    TPMKMS_ENCODERS(TPMKMS_RSA_NAMES, "RSA"),
    { NULL, NULL, NULL, NULL }
};
