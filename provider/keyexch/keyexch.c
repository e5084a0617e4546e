/*
 * ECDH with TPM keys: the shared secret Z of the key's private half and a
 * peer's public key, one TPM2_ECDH_ZGen per derivation, returned as
 * OpenSSL's ECDH returns it (Z's X coordinate at the field size), or put
 * through the ANSI X9.63 KDF when asked (kdf-type X963KDF, as CMS key
 * agreement asks: its key-encryption key is the KDF's output over Z and
 * the ECC-CMS-SharedInfo it gives as kdf-ukm).  The KDF runs in software,
 * in the default provider, on the Z the TPM returned.
 *
 * One algorithm, TPMKMS-ECDH: our EC keymgmt's query_operation_name
 * answers it for OSSL_OP_KEYEXCH, so a TPM key's key agreement is always
 * ours (another provider's ECDH would get an export of the public half),
 * and a software key held by our keymgmt comes here too (tpmkms activated
 * globally: libssl's ephemeral ECDHE keys are such keys).  Those are
 * forwarded whole to the default provider at init (softkey.h: ctx->soft,
 * as signature.c does), so a software key's key exchange never sends a
 * TPM command.
 *
 * The peer is a public key: a software key (what OpenSSL hands over for
 * a peer decoded anywhere) or a TPM key's public half.  It must be on the
 * TPM key's curve.  Cofactor ECDH is plain ECDH on P-256 and P-384
 * (cofactor 1), so that setting is taken and has no effect.
 */
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include "debug.h"
#include "errors.h"
#include "key.h"
#include "provider.h"
#include "pubkey.h"
#include "pubkey_evp.h"
#include "softkey.h"

static OSSL_FUNC_keyexch_newctx_fn tpmkms_ecdh_newctx;
static OSSL_FUNC_keyexch_init_fn tpmkms_ecdh_init;
static OSSL_FUNC_keyexch_set_peer_fn tpmkms_ecdh_set_peer;
static OSSL_FUNC_keyexch_derive_fn tpmkms_ecdh_derive;
static OSSL_FUNC_keyexch_dupctx_fn tpmkms_ecdh_dupctx;
static OSSL_FUNC_keyexch_freectx_fn tpmkms_ecdh_freectx;
static OSSL_FUNC_keyexch_get_ctx_params_fn tpmkms_ecdh_get_ctx_params;
static OSSL_FUNC_keyexch_gettable_ctx_params_fn tpmkms_ecdh_gettable_ctx_params;
static OSSL_FUNC_keyexch_set_ctx_params_fn tpmkms_ecdh_set_ctx_params;
static OSSL_FUNC_keyexch_settable_ctx_params_fn tpmkms_ecdh_settable_ctx_params;

#define ECDH_MD_NAME_MAX 64

typedef struct tpmkms_ecdh_ctx_st {
    void *provctx;
    OSSL_LIB_CTX *libctx;
    TPMKMS_KEY *key;                /* own ref */
    int ready;                      /* init done */
    unsigned char peer[TPMKMS_EC_POINT_MAX]; /* the peer's point, 04||X||Y */
    size_t peer_len;                /* 0: no peer yet */
    int cofactor_mode;              /* -1 (the key's), 0 or 1: all alike */
    int kdf_x963;                   /* kdf-type X963KDF, else none */
    char kdf_md[ECDH_MD_NAME_MAX];  /* kdf-digest ("" until set) */
    size_t kdf_outlen;
    unsigned char *ukm;             /* kdf-ukm (SharedInfo), or NULL */
    size_t ukm_len;
    EVP_PKEY_CTX *soft;             /* a software key's key exchange in its
                                     * own provider (softkey.h), or NULL */
} TPMKMS_ECDH_CTX;

static const char *ecdh_label(const TPMKMS_ECDH_CTX *ctx)
{
    return ctx->key != NULL && ctx->key->uri != NULL ? ctx->key->uri
                                                      : "ECDH";
}

/* The field size of a TPM key's curve, bytes. */
static size_t ecdh_field_size(const TPMKMS_KEY *key)
{
    return (size_t)(tpmkms_alg_bits(key->pub.alg) + 7) / 8;
}

/* ---- the peer (pure: unit tests call these) ----------------------------- */

/*
 * A software peer key's point, uncompressed at the field size n, after
 * checking it is on our key's curve (its domain parameters equal those of
 * our public half).
 */
static int ecdh_soft_peer_point(const TPMKMS_ECDH_CTX *ctx,
                                const EVP_PKEY *peer, unsigned char *out,
                                size_t *outlen)
{
    size_t n = ecdh_field_size(ctx->key);
    EVP_PKEY *ours;
    BIGNUM *x = NULL, *y = NULL;
    int same, ok = 0;

    if ((ours = tpmkms_public_to_evp(ctx->libctx, &ctx->key->pub)) == NULL)
        return 0;
    tpmkms_err_set_mark();
    same = EVP_PKEY_is_a(peer, "EC") && EVP_PKEY_parameters_eq(ours, peer) == 1;
    tpmkms_err_pop_to_mark();
    EVP_PKEY_free(ours);
    if (!same) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: the peer key is not an EC key on %s, the TPM key's "
                     "curve", ecdh_label(ctx),
                     tpmkms_alg_group(ctx->key->pub.alg));
        return 0;
    }
    if (!EVP_PKEY_get_bn_param(peer, OSSL_PKEY_PARAM_EC_PUB_X, &x)
        || !EVP_PKEY_get_bn_param(peer, OSSL_PKEY_PARAM_EC_PUB_Y, &y)
        || 1 + 2 * n > TPMKMS_EC_POINT_MAX
        || BN_bn2binpad(x, out + 1, (int)n) < 0
        || BN_bn2binpad(y, out + 1 + n, (int)n) < 0) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: cannot read the peer key's public point",
                     ecdh_label(ctx));
        goto out;
    }
    out[0] = 0x04;
    *outlen = 1 + 2 * n;
    ok = 1;
out:
    BN_free(x);
    BN_free(y);
    return ok;
}

/* Any peer key: a software key, or a TPM key's public half. */
static int ecdh_peer_point(const TPMKMS_ECDH_CTX *ctx, const TPMKMS_KEY *peer,
                           unsigned char *out, size_t *outlen)
{
    if (peer == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s: no peer key",
                     ecdh_label(ctx));
        return 0;
    }
    if (tpmkms_soft_is(peer))
        return ecdh_soft_peer_point(ctx, peer->soft, out, outlen);
    if (peer->pub.alg != ctx->key->pub.alg) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: the peer key is %s, not on %s, the TPM key's curve",
                     ecdh_label(ctx), tpmkms_alg_name(peer->pub.alg),
                     tpmkms_alg_group(ctx->key->pub.alg));
        return 0;
    }
    memcpy(out, peer->pub.ec_point, peer->pub.ec_point_len);
    *outlen = peer->pub.ec_point_len;
    return 1;
}

/* ---- lifecycle --------------------------------------------------------- */

static void *tpmkms_ecdh_newctx(void *provctx)
{
    TPMKMS_ECDH_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return NULL;
    }
    ctx->provctx = provctx;
    ctx->libctx = provctx != NULL ? tpmkms_provctx_libctx(provctx) : NULL;
    ctx->cofactor_mode = -1;
    return ctx;
}

static void ecdh_reset(TPMKMS_ECDH_CTX *ctx)
{
    EVP_PKEY_CTX_free(ctx->soft);
    ctx->soft = NULL;
    ctx->ready = 0;
    ctx->peer_len = 0;
    ctx->cofactor_mode = -1;
    ctx->kdf_x963 = 0;
    ctx->kdf_md[0] = '\0';
    ctx->kdf_outlen = 0;
    OPENSSL_free(ctx->ukm);
    ctx->ukm = NULL;
    ctx->ukm_len = 0;
}

/* The one place that asks which kind of key it has. */
static int tpmkms_ecdh_init(void *vctx, void *provkey,
                            const OSSL_PARAM params[])
{
    TPMKMS_ECDH_CTX *ctx = vctx;
    TPMKMS_KEY *key = provkey != NULL ? provkey : ctx->key;

    ecdh_reset(ctx);
    if (key == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "ECDH init without a key");
        return 0;
    }
    if (!tpmkms_soft_is(key) && !tpmkms_alg_is_ec(key->pub.alg)) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: a %s key does not do ECDH", key->uri,
                     tpmkms_alg_name(key->pub.alg));
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
    if (tpmkms_soft_is(key)) {
        ctx->soft = tpmkms_soft_op_new(ctx->libctx, key->soft,
                                       TPMKMS_SOFT_DERIVE, params);
        ctx->ready = ctx->soft != NULL;
        return ctx->ready;
    }
    if (!key->pub.can_decrypt) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: the key lacks the decrypt attribute (it was made "
                     "for signing only), so the TPM cannot do ECDH with it; "
                     "nothing was sent to the TPM (tpmkms create makes keys "
                     "that sign and decrypt unless --usage sign is given)",
                     key->uri);
        return 0;
    }
    if (!tpmkms_ecdh_set_ctx_params(ctx, params))
        return 0;
    ctx->ready = 1;
    return 1;
}

static int tpmkms_ecdh_set_peer(void *vctx, void *provkey)
{
    TPMKMS_ECDH_CTX *ctx = vctx;
    unsigned char point[TPMKMS_EC_POINT_MAX];
    size_t len = 0;

    if (!ctx->ready) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "ECDH was not initialised");
        return 0;
    }
    if (ctx->soft != NULL)
        return tpmkms_soft_op_set_peer(ctx->soft, provkey);
    if (!ecdh_peer_point(ctx, provkey, point, &len))
        return 0;
    memcpy(ctx->peer, point, len);
    ctx->peer_len = len;
    return 1;
}

/* The X9.63 KDF over z, in the default provider. */
static int ecdh_kdf(const TPMKMS_ECDH_CTX *ctx, const unsigned char *z,
                    size_t zlen, unsigned char *out, size_t outlen)
{
    EVP_KDF *kdf;
    EVP_KDF_CTX *kctx = NULL;
    OSSL_PARAM params[4], *p = params;
    int ok = 0;

    if ((kdf = EVP_KDF_fetch(ctx->libctx, OSSL_KDF_NAME_X963KDF,
                             TPMKMS_SOFT_PROPQ)) == NULL
        || (kctx = EVP_KDF_CTX_new(kdf)) == NULL) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: no provider besides tpmkms offers the X9.63 KDF: "
                     "activate the default provider too", ecdh_label(ctx));
        goto out;
    }
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                            (char *)ctx->kdf_md, 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                             (void *)z, zlen);
    if (ctx->ukm != NULL)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                 ctx->ukm, ctx->ukm_len);
    *p = OSSL_PARAM_construct_end();
    /* A refusal (an unknown digest) is the KDF's to explain. */
    ok = EVP_KDF_derive(kctx, out, outlen, params) > 0;
out:
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return ok;
}

static int tpmkms_ecdh_derive(void *vctx, unsigned char *secret,
                              size_t *secretlen, size_t outlen)
{
    TPMKMS_ECDH_CTX *ctx = vctx;
    unsigned char z[TPMKMS_EC_POINT_MAX];
    size_t n, zlen = sizeof(z);
    int ok = 0;

    if (!ctx->ready) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "ECDH was not initialised");
        return 0;
    }
    if (ctx->soft != NULL)
        return tpmkms_soft_op_derive(ctx->soft, secret, secretlen, outlen);
    n = ecdh_field_size(ctx->key);
    if (ctx->kdf_x963 && (ctx->kdf_outlen == 0 || ctx->kdf_md[0] == '\0')) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: the X9.63 KDF needs kdf-digest and kdf-outlen",
                     ecdh_label(ctx));
        return 0;
    }
    if (secret == NULL) {
        *secretlen = ctx->kdf_x963 ? ctx->kdf_outlen : n;
        return 1;
    }
    if (ctx->peer_len == 0) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: ECDH needs the peer's public key first",
                     ecdh_label(ctx));
        return 0;
    }
    if (ctx->kdf_x963 && outlen < ctx->kdf_outlen) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: the KDF output has %zu bytes, the buffer room for "
                     "%zu", ecdh_label(ctx), ctx->kdf_outlen, outlen);
        return 0;
    }
    if (tpmkms_key_derive(ctx->key, ctx->peer, ctx->peer_len, z, &zlen)
        != TPMKMS_R_OK)
        goto out;
    if (ctx->kdf_x963) {
        if (!ecdh_kdf(ctx, z, zlen, secret, ctx->kdf_outlen))
            goto out;
        *secretlen = ctx->kdf_outlen;
    } else {
        /* As OpenSSL's ECDH: a shorter buffer takes Z's leading bytes. */
        *secretlen = zlen < outlen ? zlen : outlen;
        memcpy(secret, z, *secretlen);
    }
    ok = 1;
out:
    OPENSSL_cleanse(z, sizeof(z));
    return ok;
}

static void *tpmkms_ecdh_dupctx(void *vctx)
{
    const TPMKMS_ECDH_CTX *src = vctx;
    TPMKMS_ECDH_CTX *dst = OPENSSL_zalloc(sizeof(*dst));

    if (dst == NULL)
        return NULL;
    *dst = *src;
    dst->key = NULL;
    dst->ukm = NULL;
    dst->soft = NULL;
    if (src->key != NULL) {
        if (!tpmkms_key_up_ref(src->key))
            goto out_free;
        dst->key = src->key;
    }
    if (src->ukm != NULL
        && (dst->ukm = OPENSSL_memdup(src->ukm, src->ukm_len)) == NULL)
        goto out_free;
    if (src->soft != NULL && (dst->soft = EVP_PKEY_CTX_dup(src->soft)) == NULL)
        goto out_free;
    return dst;
out_free:
    tpmkms_ecdh_freectx(dst);
    return NULL;
}

static void tpmkms_ecdh_freectx(void *vctx)
{
    TPMKMS_ECDH_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    ecdh_reset(ctx);
    tpmkms_key_free(ctx->key);
    OPENSSL_free(ctx);
}

/* ---- parameters -------------------------------------------------------- */

static int tpmkms_ecdh_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    TPMKMS_ECDH_CTX *ctx = vctx;
    OSSL_PARAM *p;

    if (params == NULL)
        return 1;
    if (ctx->soft != NULL)
        return EVP_PKEY_CTX_get_params(ctx->soft, params) > 0;
    p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE);
    if (p != NULL
        && !OSSL_PARAM_set_int(p, ctx->cofactor_mode < 0 ? 0
                                                         : ctx->cofactor_mode))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_TYPE);
    if (p != NULL
        && !OSSL_PARAM_set_utf8_string(p, ctx->kdf_x963
                                          ? OSSL_KDF_NAME_X963KDF : ""))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_DIGEST);
    if (p != NULL && !OSSL_PARAM_set_utf8_string(p, ctx->kdf_md))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_OUTLEN);
    if (p != NULL && !OSSL_PARAM_set_size_t(p, ctx->kdf_outlen))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_UKM);
    if (p != NULL && !OSSL_PARAM_set_octet_ptr(p, ctx->ukm, ctx->ukm_len))
        return 0;
    return 1;
}

static const OSSL_PARAM ecdh_gettable[] = {
    OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, NULL),
    OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, NULL, 0),
    OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, NULL),
    OSSL_PARAM_octet_ptr(OSSL_EXCHANGE_PARAM_KDF_UKM, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tpmkms_ecdh_gettable_ctx_params(void *vctx,
                                                         void *provctx)
{
    TPMKMS_ECDH_CTX *ctx = vctx;

    if (ctx != NULL && ctx->soft != NULL)
        return EVP_PKEY_CTX_gettable_params(ctx->soft);
    return ecdh_gettable;
}

static int ecdh_bad_param(const TPMKMS_ECDH_CTX *ctx, const OSSL_PARAM *p)
{
    TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s: bad %s parameter",
                 ecdh_label(ctx), p->key);
    return 0;
}

static int tpmkms_ecdh_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    TPMKMS_ECDH_CTX *ctx = vctx;
    const OSSL_PARAM *p_cof, *p_type, *p_md, *p_len, *p_ukm;
    char kdf_type[32] = "", md[ECDH_MD_NAME_MAX] = "";
    char *s;
    int cofactor = ctx->cofactor_mode, x963 = ctx->kdf_x963;
    size_t outlen = ctx->kdf_outlen, ukm_len = 0;
    void *ukm = NULL;

    if (params == NULL)
        return 1;
    if (ctx->soft != NULL)
        return EVP_PKEY_CTX_set_params(ctx->soft, params) > 0;

    /* Read and check everything, then commit together. */
    p_cof = OSSL_PARAM_locate_const(params,
                                    OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE);
    p_type = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_TYPE);
    p_md = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_DIGEST);
    p_len = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_OUTLEN);
    p_ukm = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_UKM);
    if (p_cof != NULL) {
        if (!OSSL_PARAM_get_int(p_cof, &cofactor))
            return ecdh_bad_param(ctx, p_cof);
        if (cofactor < -1 || cofactor > 1) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                         "%s: ECDH cofactor mode %d is not -1, 0 or 1",
                         ecdh_label(ctx), cofactor);
            return 0;
        }
    }
    if (p_type != NULL) {
        s = kdf_type;
        if (!OSSL_PARAM_get_utf8_string(p_type, &s, sizeof(kdf_type)))
            return ecdh_bad_param(ctx, p_type);
        if (kdf_type[0] == '\0') {
            x963 = 0;
        } else if (OPENSSL_strcasecmp(kdf_type, OSSL_KDF_NAME_X963KDF) == 0) {
            x963 = 1;
        } else {
            TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                         "%s: ECDH KDF \"%s\" is not supported: a TPM key's "
                         "ECDH gives the plain secret or its X9.63 KDF "
                         "(" OSSL_KDF_NAME_X963KDF ")", ecdh_label(ctx),
                         kdf_type);
            return 0;
        }
    }
    if (p_md != NULL) {
        s = md;
        if (!OSSL_PARAM_get_utf8_string(p_md, &s, sizeof(md)))
            return ecdh_bad_param(ctx, p_md);
    }
    if (p_len != NULL && !OSSL_PARAM_get_size_t(p_len, &outlen))
        return ecdh_bad_param(ctx, p_len);
    if (p_ukm != NULL
        && !OSSL_PARAM_get_octet_string(p_ukm, &ukm, 0, &ukm_len))
        return ecdh_bad_param(ctx, p_ukm);

    ctx->cofactor_mode = cofactor;
    ctx->kdf_x963 = x963;
    if (p_md != NULL)
        memcpy(ctx->kdf_md, md, sizeof(md));
    ctx->kdf_outlen = outlen;
    if (p_ukm != NULL) {
        OPENSSL_free(ctx->ukm);
        ctx->ukm = ukm_len > 0 ? ukm : NULL;
        ctx->ukm_len = ukm_len;
        if (ukm_len == 0)
            OPENSSL_free(ukm);
    }
    return 1;
}

static const OSSL_PARAM ecdh_settable[] = {
    OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, NULL),
    OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST_PROPS, NULL, 0),
    OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, NULL),
    OSSL_PARAM_octet_string(OSSL_EXCHANGE_PARAM_KDF_UKM, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tpmkms_ecdh_settable_ctx_params(void *vctx,
                                                         void *provctx)
{
    TPMKMS_ECDH_CTX *ctx = vctx;

    if (ctx != NULL && ctx->soft != NULL)
        return EVP_PKEY_CTX_settable_params(ctx->soft);
    return ecdh_settable;
}

static const OSSL_DISPATCH tpmkms_ecdh_keyexch_functions[] = {
    { OSSL_FUNC_KEYEXCH_NEWCTX, (void (*)(void))tpmkms_ecdh_newctx },
    { OSSL_FUNC_KEYEXCH_INIT, (void (*)(void))tpmkms_ecdh_init },
    { OSSL_FUNC_KEYEXCH_SET_PEER, (void (*)(void))tpmkms_ecdh_set_peer },
    { OSSL_FUNC_KEYEXCH_DERIVE, (void (*)(void))tpmkms_ecdh_derive },
    { OSSL_FUNC_KEYEXCH_DUPCTX, (void (*)(void))tpmkms_ecdh_dupctx },
    { OSSL_FUNC_KEYEXCH_FREECTX, (void (*)(void))tpmkms_ecdh_freectx },
    { OSSL_FUNC_KEYEXCH_GET_CTX_PARAMS,
      (void (*)(void))tpmkms_ecdh_get_ctx_params },
    { OSSL_FUNC_KEYEXCH_GETTABLE_CTX_PARAMS,
      (void (*)(void))tpmkms_ecdh_gettable_ctx_params },
    { OSSL_FUNC_KEYEXCH_SET_CTX_PARAMS,
      (void (*)(void))tpmkms_ecdh_set_ctx_params },
    { OSSL_FUNC_KEYEXCH_SETTABLE_CTX_PARAMS,
      (void (*)(void))tpmkms_ecdh_settable_ctx_params },
    { 0, NULL }
};

const OSSL_ALGORITHM tpmkms_keyexch_algorithms[] = {
    { TPMKMS_EXCH_NAME_ECDH, TPMKMS_PROPS, tpmkms_ecdh_keyexch_functions,
      "ECDH with a TPM key (P-256, P-384)" },
    { NULL, NULL, NULL, NULL }
};
