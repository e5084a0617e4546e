/*
 * RSA decryption with TPM keys: RSAES-PKCS1-v1_5 and RSAES-OAEP (SHA-1,
 * SHA-256, SHA-384, SHA-512; labels as the TPM takes them), one
 * TPM2_RSA_Decrypt per message.  The TPM removes the padding.
 *
 * One algorithm, TPMKMS-RSA: our RSA keymgmt's query_operation_name
 * answers it for OSSL_OP_ASYM_CIPHER, so a TPM key's decryption is always
 * ours (another provider's "RSA" cipher would get an export of the public
 * half and fail for want of a private key), and nothing else is.
 *
 * What is not the TPM's goes to the default provider, as signature.c
 * does for software keys (softkey.h): init decides once, and while
 * ctx->soft is set every entry point forwards to that EVP_PKEY_CTX --
 *   - a software key in our keymgmt (tpmkms activated globally): its
 *     encryption and decryption, whole;
 *   - encryption with a TPM key: a public-key operation, run by the
 *     default provider on a software copy of the public half.  Nothing is
 *     sent to the TPM for it.
 *
 * Failure path.  OpenSSL 3.0 has no implicit rejection for PKCS#1 v1.5
 * (3.2 added it to its own RSA, and it needs the private exponent, which
 * never leaves the TPM).  A ciphertext that does not decrypt fails here
 * with one error, the same whatever the TPM found wrong with the padding
 * (TPMKMS_R_DECRYPT_FAILED, esys/decrypt.c); the TPM checks the padding in
 * its own time, and nothing here branches on the plaintext.  Callers that
 * must not reveal success (CMS, against the million-message attack) go on
 * with a random key on failure, as they do with OpenSSL 3.0's own RSA.
 * TLS 1.2 RSA key exchange (RSA_PKCS1_WITH_TLS_PADDING) is refused: its
 * countermeasure needs the same random-on-failure handling inside the
 * decryption, and ECDHE serves every TLS peer that matters.
 */
#include <string.h>
#include <stdio.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include "backend.h"
#include "debug.h"
#include "errors.h"
#include "key.h"
#include "provider.h"
#include "pubkey.h"
#include "pubkey_evp.h"
#include "softkey.h"

static OSSL_FUNC_asym_cipher_newctx_fn tpmkms_asym_newctx;
static OSSL_FUNC_asym_cipher_encrypt_init_fn tpmkms_asym_encrypt_init;
static OSSL_FUNC_asym_cipher_encrypt_fn tpmkms_asym_encrypt;
static OSSL_FUNC_asym_cipher_decrypt_init_fn tpmkms_asym_decrypt_init;
static OSSL_FUNC_asym_cipher_decrypt_fn tpmkms_asym_decrypt;
static OSSL_FUNC_asym_cipher_dupctx_fn tpmkms_asym_dupctx;
static OSSL_FUNC_asym_cipher_freectx_fn tpmkms_asym_freectx;
static OSSL_FUNC_asym_cipher_get_ctx_params_fn tpmkms_asym_get_ctx_params;
static OSSL_FUNC_asym_cipher_gettable_ctx_params_fn tpmkms_asym_gettable_ctx_params;
static OSSL_FUNC_asym_cipher_set_ctx_params_fn tpmkms_asym_set_ctx_params;
static OSSL_FUNC_asym_cipher_settable_ctx_params_fn tpmkms_asym_settable_ctx_params;

enum { ASYM_OP_NONE = 0, ASYM_OP_ENCRYPT, ASYM_OP_DECRYPT };

typedef struct tpmkms_asym_ctx_st {
    void *provctx;
    OSSL_LIB_CTX *libctx;
    TPMKMS_KEY *key;                /* own ref */
    int operation;                  /* ASYM_OP_* */
    int pad_mode;                   /* RSA_PKCS1_PADDING, RSA_PKCS1_OAEP_PADDING */
    const TPMKMS_HASH_INFO *oaep;   /* the OAEP digest; NULL: SHA-1 */
    const TPMKMS_HASH_INFO *mgf1;   /* the MGF1 digest; NULL: the OAEP one */
    unsigned char *label;           /* OAEP label, or NULL */
    size_t label_len;
    EVP_PKEY_CTX *soft;             /* the default provider's operation
                                     * (softkey.h), or NULL: a TPM key's
                                     * decryption */
} TPMKMS_ASYM_CTX;

static const char *asym_label(const TPMKMS_ASYM_CTX *ctx)
{
    return ctx->key != NULL && ctx->key->uri != NULL ? ctx->key->uri
                                                      : "RSA decryption";
}

/* The OAEP digest in force: SHA-1 unless set (as OpenSSL's RSA). */
static const TPMKMS_HASH_INFO *asym_oaep_hash(const TPMKMS_ASYM_CTX *ctx)
{
    return ctx->oaep != NULL ? ctx->oaep : tpmkms_hash_info(TPMKMS_HASH_SHA1);
}

/* ---- parameters read and checked (pure: unit tests call these) --------- */

/*
 * pad-mode: "pkcs1"/1 or "oaep"/4; a TPM key decrypts with nothing else.
 * The others are named in the refusal.
 */
static int asym_read_pad_mode(const TPMKMS_ASYM_CTX *ctx, const OSSL_PARAM *p,
                              int *pad)
{
    char name[32] = "";
    char *s = name;
    int v = 0;

    if (p->data_type == OSSL_PARAM_UTF8_STRING) {
        if (!OSSL_PARAM_get_utf8_string(p, &s, sizeof(name)))
            goto out_bad;
        if (strcmp(name, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) == 0)
            v = RSA_PKCS1_PADDING;
        else if (strcmp(name, OSSL_PKEY_RSA_PAD_MODE_OAEP) == 0)
            v = RSA_PKCS1_OAEP_PADDING;
        else if (strcmp(name, OSSL_PKEY_RSA_PAD_MODE_NONE) == 0)
            v = RSA_NO_PADDING;
        else
            v = -1;
    } else if (!OSSL_PARAM_get_int(p, &v)) {
        goto out_bad;
    } else {
        snprintf(name, sizeof(name), "%d", v);
    }
    if (v == RSA_PKCS1_PADDING || v == RSA_PKCS1_OAEP_PADDING) {
        *pad = v;
        return 1;
    }
    if (v == RSA_PKCS1_WITH_TLS_PADDING)
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: TLS 1.2 RSA key exchange (RSA_PKCS1_WITH_TLS_PADDING)"
                     " is not offered with a TPM key: use an ECDHE cipher "
                     "suite (or TLS 1.3)", asym_label(ctx));
    else if (v == RSA_NO_PADDING)
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: raw RSA decryption (padding none) is not offered "
                     "with a TPM key: decrypt with pkcs1 or oaep",
                     asym_label(ctx));
    else
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: RSA padding mode %s is not supported: a TPM key "
                     "decrypts with pkcs1 or oaep", asym_label(ctx), name);
    return 0;
out_bad:
    TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s: bad %s parameter",
                 asym_label(ctx), p->key);
    return 0;
}

/* An OAEP or MGF1 digest by name: one the TPM has. */
static int asym_read_hash(const TPMKMS_ASYM_CTX *ctx, const OSSL_PARAM *p,
                          const TPMKMS_HASH_INFO **hash)
{
    char name[64] = "";
    char *s = name;

    if (!OSSL_PARAM_get_utf8_string(p, &s, sizeof(name))) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s: bad %s parameter",
                     asym_label(ctx), p->key);
        return 0;
    }
    if ((*hash = tpmkms_hash_info_by_name(name)) == NULL) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: %s %s is not one the TPM decrypts with: "
                     TPMKMS_HASHES_TEXT, asym_label(ctx),
                     strcmp(p->key, OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST) == 0
                     ? "MGF1 digest" : "OAEP digest", name);
        return 0;
    }
    return 1;
}

/*
 * An OAEP label the TPM can take (TPM 2.0 Part 3, TPM2_RSA_Decrypt):
 * empty, or ending in a zero octet (which is part of the label), at most
 * TPMKMS_OAEP_LABEL_MAX bytes.  Any other label cannot be given to the
 * TPM, so the message cannot be decrypted with a TPM key: refused before
 * anything is sent.
 */
static int asym_check_label(const TPMKMS_ASYM_CTX *ctx,
                            const unsigned char *label, size_t len)
{
    if (len == 0)
        return 1;
    if (len > TPMKMS_OAEP_LABEL_MAX) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: the OAEP label has %zu bytes; a TPM takes at most "
                     "%d", asym_label(ctx), len, TPMKMS_OAEP_LABEL_MAX);
        return 0;
    }
    if (label[len - 1] != 0) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: the OAEP label does not end in a zero octet: a TPM "
                     "takes a label only as a string with its terminating "
                     "zero (TPM2_RSA_Decrypt), so a message encrypted with "
                     "this label cannot be decrypted with a TPM key",
                     asym_label(ctx));
        return 0;
    }
    return 1;
}

/*
 * What the TPM is asked for: the padding, and for OAEP the digest (MGF1's
 * must be the same: the TPM has no other) and the label.
 */
static int asym_decrypt_params(const TPMKMS_ASYM_CTX *ctx,
                               TPMKMS_DECRYPT_PARAMS *dp)
{
    const TPMKMS_HASH_INFO *oaep = asym_oaep_hash(ctx);

    memset(dp, 0, sizeof(*dp));
    if (ctx->pad_mode != RSA_PKCS1_OAEP_PADDING) {
        dp->padding = TPMKMS_PAD_PKCS1;
        return 1;
    }
    if (ctx->mgf1 != NULL && ctx->mgf1 != oaep) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: OAEP with MGF1 digest %s and OAEP digest %s: the "
                     "TPM uses the OAEP digest for MGF1 too",
                     asym_label(ctx), ctx->mgf1->name, oaep->name);
        return 0;
    }
    dp->padding = TPMKMS_PAD_OAEP;
    dp->hash = oaep->hash;
    dp->label = ctx->label;
    dp->label_len = ctx->label_len;
    return 1;
}

/* ---- lifecycle --------------------------------------------------------- */

static void *tpmkms_asym_newctx(void *provctx)
{
    TPMKMS_ASYM_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return NULL;
    }
    ctx->provctx = provctx;
    ctx->libctx = provctx != NULL ? tpmkms_provctx_libctx(provctx) : NULL;
    ctx->pad_mode = RSA_PKCS1_PADDING;
    return ctx;
}

/*
 * Every init.  The key (the one given, or the context's on a re-init)
 * decides once where the operation runs: ctx->soft for a software key and
 * for encryption, the TPM for a TPM key's decryption.
 */
static int asym_init(void *vctx, void *provkey, int operation,
                     const OSSL_PARAM params[])
{
    TPMKMS_ASYM_CTX *ctx = vctx;
    TPMKMS_KEY *key = provkey != NULL ? provkey : ctx->key;
    EVP_PKEY *pub = NULL;

    EVP_PKEY_CTX_free(ctx->soft);
    ctx->soft = NULL;
    ctx->operation = ASYM_OP_NONE;
    if (key == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "RSA %s init without a key",
                     operation == ASYM_OP_ENCRYPT ? "encryption"
                                                  : "decryption");
        return 0;
    }
    if (!tpmkms_soft_is(key) && !tpmkms_alg_is_rsa(key->pub.alg)) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: a %s key does not %s with RSA", key->uri,
                     tpmkms_alg_name(key->pub.alg),
                     operation == ASYM_OP_ENCRYPT ? "encrypt" : "decrypt");
        return 0;
    }
    if (key != ctx->key) {
        if (!tpmkms_key_up_ref(key)) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot take a key reference");
            return 0;
        }
        tpmkms_key_free(ctx->key);
        ctx->key = key;
    }
    if (tpmkms_soft_is(key) || operation == ASYM_OP_ENCRYPT) {
        if (!tpmkms_soft_is(key)
            && (pub = tpmkms_public_to_evp(ctx->libctx, &key->pub)) == NULL)
            return 0;
        ctx->soft = tpmkms_soft_op_new(ctx->libctx,
                                       pub != NULL ? pub : key->soft,
                                       operation == ASYM_OP_ENCRYPT
                                       ? TPMKMS_SOFT_ENCRYPT
                                       : TPMKMS_SOFT_DECRYPT, params);
        EVP_PKEY_free(pub);
        if (ctx->soft == NULL)
            return 0;
        ctx->operation = operation;
        return 1;
    }
    if (!key->pub.can_decrypt) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: the key lacks the decrypt attribute (it was made "
                     "for signing only), so the TPM cannot decrypt with it; "
                     "nothing was sent to the TPM (tpmkms create makes keys "
                     "that sign and decrypt unless --usage sign is given)",
                     key->uri);
        return 0;
    }
    /* A TPM key's decryption starts from OpenSSL's defaults. */
    ctx->pad_mode = RSA_PKCS1_PADDING;
    ctx->oaep = ctx->mgf1 = NULL;
    OPENSSL_clear_free(ctx->label, ctx->label_len);
    ctx->label = NULL;
    ctx->label_len = 0;
    if (!tpmkms_asym_set_ctx_params(ctx, params))
        return 0;
    ctx->operation = operation;
    return 1;
}

static int tpmkms_asym_encrypt_init(void *vctx, void *provkey,
                                    const OSSL_PARAM params[])
{
    return asym_init(vctx, provkey, ASYM_OP_ENCRYPT, params);
}

static int tpmkms_asym_decrypt_init(void *vctx, void *provkey,
                                    const OSSL_PARAM params[])
{
    return asym_init(vctx, provkey, ASYM_OP_DECRYPT, params);
}

static int asym_check_op(const TPMKMS_ASYM_CTX *ctx, int operation)
{
    if (ctx->operation != operation) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "RSA %s was not initialised",
                     operation == ASYM_OP_ENCRYPT ? "encryption"
                                                  : "decryption");
        return 0;
    }
    return 1;
}

static int tpmkms_asym_encrypt(void *vctx, unsigned char *out, size_t *outlen,
                               size_t outsize, const unsigned char *in,
                               size_t inlen)
{
    TPMKMS_ASYM_CTX *ctx = vctx;

    if (!asym_check_op(ctx, ASYM_OP_ENCRYPT))
        return 0;
    return tpmkms_soft_op_cipher(ctx->soft, TPMKMS_SOFT_ENCRYPT, out, outlen,
                                 outsize, in, inlen);
}

static int tpmkms_asym_decrypt(void *vctx, unsigned char *out, size_t *outlen,
                               size_t outsize, const unsigned char *in,
                               size_t inlen)
{
    TPMKMS_ASYM_CTX *ctx = vctx;
    TPMKMS_DECRYPT_PARAMS dp;
    unsigned char buf[TPMKMS_RSA_N_MAX];
    size_t len = sizeof(buf), size;
    int ok = 0;

    if (!asym_check_op(ctx, ASYM_OP_DECRYPT))
        return 0;
    if (ctx->soft != NULL)
        return tpmkms_soft_op_cipher(ctx->soft, TPMKMS_SOFT_DECRYPT, out,
                                     outlen, outsize, in, inlen);
    size = (size_t)tpmkms_alg_bits(ctx->key->pub.alg) / 8;
    if (out == NULL) {          /* the size a message can have at most */
        *outlen = size;
        return 1;
    }
    if (!asym_decrypt_params(ctx, &dp)
        || tpmkms_key_decrypt(ctx->key, &dp, in, inlen, buf, &len)
           != TPMKMS_R_OK)
        goto out;
    if (len > outsize) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: the decrypted message has %zu bytes, the output "
                     "buffer room for %zu", asym_label(ctx), len, outsize);
        goto out;
    }
    memcpy(out, buf, len);
    *outlen = len;
    ok = 1;
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    return ok;
}

static void *tpmkms_asym_dupctx(void *vctx)
{
    const TPMKMS_ASYM_CTX *src = vctx;
    TPMKMS_ASYM_CTX *dst = OPENSSL_zalloc(sizeof(*dst));

    if (dst == NULL)
        return NULL;
    dst->provctx = src->provctx;
    dst->libctx = src->libctx;
    dst->operation = src->operation;
    dst->pad_mode = src->pad_mode;
    dst->oaep = src->oaep;
    dst->mgf1 = src->mgf1;
    if (src->key != NULL) {
        if (!tpmkms_key_up_ref(src->key))
            goto out_free;
        dst->key = src->key;
    }
    if (src->label != NULL) {
        if ((dst->label = OPENSSL_memdup(src->label, src->label_len)) == NULL)
            goto out_free;
        dst->label_len = src->label_len;
    }
    if (src->soft != NULL && (dst->soft = EVP_PKEY_CTX_dup(src->soft)) == NULL)
        goto out_free;
    return dst;
out_free:
    tpmkms_asym_freectx(dst);
    return NULL;
}

static void tpmkms_asym_freectx(void *vctx)
{
    TPMKMS_ASYM_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    EVP_PKEY_CTX_free(ctx->soft);
    tpmkms_key_free(ctx->key);
    OPENSSL_clear_free(ctx->label, ctx->label_len);
    OPENSSL_free(ctx);
}

/* ---- parameters -------------------------------------------------------- */

static int tpmkms_asym_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    TPMKMS_ASYM_CTX *ctx = vctx;
    OSSL_PARAM *p;

    if (params == NULL)
        return 1;
    if (ctx->soft != NULL)
        return EVP_PKEY_CTX_get_params(ctx->soft, params) > 0;
    p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE);
    if (p != NULL) {
        const char *name = ctx->pad_mode == RSA_PKCS1_OAEP_PADDING
            ? OSSL_PKEY_RSA_PAD_MODE_OAEP : OSSL_PKEY_RSA_PAD_MODE_PKCSV15;

        if (p->data_type == OSSL_PARAM_UTF8_STRING
            ? !OSSL_PARAM_set_utf8_string(p, name)
            : !OSSL_PARAM_set_int(p, ctx->pad_mode))
            return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST);
    if (p != NULL
        && !OSSL_PARAM_set_utf8_string(p, asym_oaep_hash(ctx)->ossl_name))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST);
    if (p != NULL
        && !OSSL_PARAM_set_utf8_string(p, ctx->mgf1 != NULL
                                          ? ctx->mgf1->ossl_name
                                          : asym_oaep_hash(ctx)->ossl_name))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL);
    if (p != NULL && !OSSL_PARAM_set_octet_ptr(p, ctx->label, ctx->label_len))
        return 0;
    return 1;
}

static const OSSL_PARAM asym_gettable[] = {
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_octet_ptr(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tpmkms_asym_gettable_ctx_params(void *vctx,
                                                         void *provctx)
{
    TPMKMS_ASYM_CTX *ctx = vctx;

    if (ctx != NULL && ctx->soft != NULL)
        return EVP_PKEY_CTX_gettable_params(ctx->soft);
    return asym_gettable;
}

static int tpmkms_asym_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    TPMKMS_ASYM_CTX *ctx = vctx;
    const OSSL_PARAM *p_pad, *p_md, *p_mgf1, *p_label;
    const TPMKMS_HASH_INFO *new_oaep = ctx->oaep, *new_mgf1 = ctx->mgf1;
    int new_pad = ctx->pad_mode;
    void *new_label = NULL;
    size_t new_label_len = 0;

    if (params == NULL)
        return 1;
    if (ctx->soft != NULL)
        return EVP_PKEY_CTX_set_params(ctx->soft, params) > 0;

    /* Read and check everything, then commit together. */
    p_pad = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE);
    p_md = OSSL_PARAM_locate_const(params,
                                   OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST);
    p_mgf1 = OSSL_PARAM_locate_const(params,
                                     OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST);
    p_label = OSSL_PARAM_locate_const(params,
                                      OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL);
    if (p_pad != NULL && !asym_read_pad_mode(ctx, p_pad, &new_pad))
        return 0;
    if (p_md != NULL && !asym_read_hash(ctx, p_md, &new_oaep))
        return 0;
    if (p_mgf1 != NULL && !asym_read_hash(ctx, p_mgf1, &new_mgf1))
        return 0;
    if (p_label != NULL) {
        if (!OSSL_PARAM_get_octet_string(p_label, &new_label, 0,
                                         &new_label_len)) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s: bad %s parameter",
                         asym_label(ctx), p_label->key);
            return 0;
        }
        if (!asym_check_label(ctx, new_label, new_label_len)) {
            OPENSSL_clear_free(new_label, new_label_len);
            return 0;
        }
    }

    ctx->pad_mode = new_pad;
    ctx->oaep = new_oaep;
    ctx->mgf1 = new_mgf1;
    if (p_label != NULL) {
        OPENSSL_clear_free(ctx->label, ctx->label_len);
        ctx->label = new_label_len > 0 ? new_label : NULL;
        ctx->label_len = new_label_len;
        if (new_label_len == 0)
            OPENSSL_free(new_label);
    }
    return 1;
}

static const OSSL_PARAM asym_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST_PROPS, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST_PROPS, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tpmkms_asym_settable_ctx_params(void *vctx,
                                                         void *provctx)
{
    TPMKMS_ASYM_CTX *ctx = vctx;

    if (ctx != NULL && ctx->soft != NULL)
        return EVP_PKEY_CTX_settable_params(ctx->soft);
    return asym_settable;
}

static const OSSL_DISPATCH tpmkms_rsa_asym_cipher_functions[] = {
    { OSSL_FUNC_ASYM_CIPHER_NEWCTX, (void (*)(void))tpmkms_asym_newctx },
    { OSSL_FUNC_ASYM_CIPHER_ENCRYPT_INIT,
      (void (*)(void))tpmkms_asym_encrypt_init },
    { OSSL_FUNC_ASYM_CIPHER_ENCRYPT, (void (*)(void))tpmkms_asym_encrypt },
    { OSSL_FUNC_ASYM_CIPHER_DECRYPT_INIT,
      (void (*)(void))tpmkms_asym_decrypt_init },
    { OSSL_FUNC_ASYM_CIPHER_DECRYPT, (void (*)(void))tpmkms_asym_decrypt },
    { OSSL_FUNC_ASYM_CIPHER_DUPCTX, (void (*)(void))tpmkms_asym_dupctx },
    { OSSL_FUNC_ASYM_CIPHER_FREECTX, (void (*)(void))tpmkms_asym_freectx },
    { OSSL_FUNC_ASYM_CIPHER_GET_CTX_PARAMS,
      (void (*)(void))tpmkms_asym_get_ctx_params },
    { OSSL_FUNC_ASYM_CIPHER_GETTABLE_CTX_PARAMS,
      (void (*)(void))tpmkms_asym_gettable_ctx_params },
    { OSSL_FUNC_ASYM_CIPHER_SET_CTX_PARAMS,
      (void (*)(void))tpmkms_asym_set_ctx_params },
    { OSSL_FUNC_ASYM_CIPHER_SETTABLE_CTX_PARAMS,
      (void (*)(void))tpmkms_asym_settable_ctx_params },
    { 0, NULL }
};

const OSSL_ALGORITHM tpmkms_asym_cipher_algorithms[] = {
    { TPMKMS_CIPHER_NAME_RSA, TPMKMS_PROPS, tpmkms_rsa_asym_cipher_functions,
      "RSA decryption (PKCS#1 v1.5, OAEP) with a TPM key" },
    { NULL, NULL, NULL, NULL }
};
