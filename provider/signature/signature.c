/*
 * ECDSA and RSA (PKCS#1 v1.5, PSS) signatures with TPM keys.
 *
 * Two algorithms, TPMKMS-ECDSA and TPMKMS-RSA: our keymgmt's
 * query_operation_name answers these names, so a TPM key's signature is
 * always ours and a software key never reaches us.
 *
 * Signing hashes in software (digest_sign_*; the digest comes from the
 * default provider) or takes a digest (sign, as `openssl pkeyutl -sign`),
 * and one TPM2_Sign makes the signature.  RSA-PSS with a salt other than
 * the digest length (the only one the TPM's RSAPSS scheme produces) is
 * encoded here and signed with the raw private operation, if the key
 * allows it.  Verifying never touches the TPM: it runs on a software copy
 * of the public key.
 *
 * A software key in our keymgmt (tpmkms activated globally; see
 * softkey.h) comes here too, since query_operation_name cannot tell the
 * keys apart: its operation is forwarded whole to its own provider,
 * parameters and their tables included, as if tpmkms were not there.
 * sig_init is the one place that asks which kind of key it has: for a
 * software key it starts a TPMKMS_SOFT_SIG (ctx->soft), and every entry
 * point after it hands over to softkey.c while that pointer is set.  A TPM
 * key's signature pays one NULL test per call for it.
 */
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/bn.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include "debug.h"
#include "errors.h"
#include "key.h"
#include "provider.h"
#include "pubkey.h"
#include "pubkey_evp.h"
#include "pss.h"
#include "softkey.h"

#ifndef RSA_PSS_SALTLEN_AUTO_DIGEST_MAX
#define RSA_PSS_SALTLEN_AUTO_DIGEST_MAX (-4)    /* OpenSSL 3.1 */
#endif
#define SIG_SALTLEN_AUTO_DIGEST_MAX_NAME "auto-digestmax"

static OSSL_FUNC_signature_newctx_fn tpmkms_ecdsa_newctx;
static OSSL_FUNC_signature_newctx_fn tpmkms_rsa_newctx;
static OSSL_FUNC_signature_sign_init_fn tpmkms_signature_sign_init;
static OSSL_FUNC_signature_sign_fn tpmkms_signature_sign;
static OSSL_FUNC_signature_verify_init_fn tpmkms_signature_verify_init;
static OSSL_FUNC_signature_verify_fn tpmkms_signature_verify;
static OSSL_FUNC_signature_digest_sign_init_fn tpmkms_signature_digest_sign_init;
static OSSL_FUNC_signature_digest_sign_update_fn tpmkms_signature_digest_update;
static OSSL_FUNC_signature_digest_sign_final_fn tpmkms_signature_digest_sign_final;
static OSSL_FUNC_signature_digest_sign_fn tpmkms_signature_digest_sign;
static OSSL_FUNC_signature_digest_verify_init_fn tpmkms_signature_digest_verify_init;
static OSSL_FUNC_signature_digest_verify_final_fn tpmkms_signature_digest_verify_final;
static OSSL_FUNC_signature_dupctx_fn tpmkms_signature_dupctx;
static OSSL_FUNC_signature_freectx_fn tpmkms_signature_freectx;
static OSSL_FUNC_signature_get_ctx_params_fn tpmkms_signature_get_ctx_params;
static OSSL_FUNC_signature_gettable_ctx_params_fn tpmkms_ecdsa_gettable_ctx_params;
static OSSL_FUNC_signature_gettable_ctx_params_fn tpmkms_rsa_gettable_ctx_params;
static OSSL_FUNC_signature_set_ctx_params_fn tpmkms_signature_set_ctx_params;
static OSSL_FUNC_signature_settable_ctx_params_fn tpmkms_ecdsa_settable_ctx_params;
static OSSL_FUNC_signature_settable_ctx_params_fn tpmkms_rsa_settable_ctx_params;

/* 1.2.840.113549.1.1: pkcs-1 */
static const unsigned char oid_pkcs1[] = {
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01
};
#define PKCS1_ARC_MGF1 8
#define PKCS1_ARC_RSASSA_PSS 10

enum { SIG_OP_NONE = 0, SIG_OP_SIGN, SIG_OP_VERIFY };

typedef struct tpmkms_sig_ctx_st {
    void *provctx;
    OSSL_LIB_CTX *libctx;
    int rsa;                        /* the TPMKMS-RSA table, else ECDSA */
    TPMKMS_KEY *key;                /* own ref */
    int operation;                  /* SIG_OP_* */
    int digest_op;                  /* digest_sign/verify_init done */
    EVP_MD *md;                     /* the set digest, or NULL */
    const TPMKMS_HASH_INFO *hash;   /* md's entry in pubkey.h's table of
                                     * hashes (names, size, OIDs), or NULL */
    char *mdprops;                  /* "properties" for digest fetches */
    char md_asked[32];              /* the name md was fetched for by
                                     * digest_*_init, or "" */
    EVP_MD_CTX *mdctx;              /* digest state of digest_*; kept
                                     * across inits and reused */
    int mdctx_fresh;                /* mdctx started, nothing hashed */
    int pad_mode;                   /* RSA_PKCS1_PADDING, RSA_PKCS1_PSS_PADDING */
    int saltlen;                    /* >= 0, or RSA_PSS_SALTLEN_* */
    int saltlen_set;
    const TPMKMS_HASH_INFO *mgf1;   /* set mgf1-digest, or NULL */
    EVP_PKEY *pubkey;               /* software public key for verifying */
    TPMKMS_SOFT_SIG *soft;          /* a software key's operation, in its
                                     * own provider; NULL for a TPM key */
} TPMKMS_SIG_CTX;

static const char *sig_label(const TPMKMS_SIG_CTX *ctx)
{
    return ctx->key != NULL && ctx->key->uri != NULL ? ctx->key->uri
                                                      : "signature";
}

static const TPMKMS_HASH_INFO *sig_hash_of_md(const EVP_MD *md)
{
    /* By NID first: EVP_MD_is_a walks the name table on every call. */
    const TPMKMS_HASH_INFO *hash;
    tpmkms_hash h;

    if ((hash = tpmkms_hash_info_by_nid(EVP_MD_get_type(md))) != NULL)
        return hash;
    for (h = TPMKMS_HASH_SHA1; (hash = tpmkms_hash_info(h)) != NULL; h++)
        if (EVP_MD_is_a(md, hash->ossl_name))
            return hash;
    return NULL;
}

/*
 * A digest the TPM signs with, fetched once per provider context; a new
 * reference, or NULL (not one of ours, no cache: the caller fetches).
 */
static EVP_MD *sig_cached_md(void *provctx, const char *name)
{
    TPMKMS_PROVCTX *pctx = provctx;
    tpmkms_hash h = tpmkms_hash_from_name(name);
    EVP_MD *md = NULL;

    if (pctx == NULL || pctx->md_lock == NULL || h == TPMKMS_HASH_NONE
            || (size_t)h >= TPMKMS_PROVCTX_MDS)
        return NULL;
    if (!CRYPTO_THREAD_read_lock(pctx->md_lock))
        return NULL;
    if ((md = pctx->mds[h]) != NULL && !EVP_MD_up_ref(md))
        md = NULL;
    CRYPTO_THREAD_unlock(pctx->md_lock);
    if (md != NULL)
        return md;
    tpmkms_err_set_mark();
    md = EVP_MD_fetch(pctx->libctx, tpmkms_hash_name(h), NULL);
    tpmkms_err_pop_to_mark();
    if (md == NULL || !CRYPTO_THREAD_write_lock(pctx->md_lock)) {
        EVP_MD_free(md);
        return NULL;
    }
    if (pctx->mds[h] == NULL && EVP_MD_up_ref(md))
        pctx->mds[h] = md;
    CRYPTO_THREAD_unlock(pctx->md_lock);
    return md;
}

/* Fetches a digest the TPM can sign with; raises and returns NULL if not. */
static EVP_MD *sig_fetch_md(const TPMKMS_SIG_CTX *ctx, const char *name,
                            const char *props, const TPMKMS_HASH_INFO **hash)
{
    EVP_MD *md;

    if (props == NULL && (md = sig_cached_md(ctx->provctx, name)) != NULL) {
        *hash = sig_hash_of_md(md);
        return md;
    }
    tpmkms_err_set_mark();
    md = EVP_MD_fetch(ctx->libctx, name, props);
    tpmkms_err_pop_to_mark();
    if (md == NULL) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: digest %s%s%s is not available (is the default "
                     "provider loaded?)", sig_label(ctx), name,
                     props != NULL ? " with properties " : "",
                     props != NULL ? props : "");
        return NULL;
    }
    if ((*hash = sig_hash_of_md(md)) == NULL) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: digest %s cannot be used: the TPM signs with "
                     TPMKMS_HASHES_TEXT, sig_label(ctx), name);
        EVP_MD_free(md);
        return NULL;
    }
    return md;
}

static size_t sig_rsa_bits(const TPMKMS_PUBLIC *pub)
{
    size_t i = 0;
    unsigned char top;
    size_t bits;

    while (i < pub->rsa_n_len && pub->rsa_n[i] == 0)
        i++;
    if (i == pub->rsa_n_len)
        return 0;
    bits = (pub->rsa_n_len - i) * 8;
    for (top = pub->rsa_n[i]; (top & 0x80) == 0; top <<= 1)
        bits--;
    return bits;
}

/* Bytes of each of r and s. */
static size_t sig_ec_size(const TPMKMS_PUBLIC *pub)
{
    return pub->ec_point_len > 1 ? (pub->ec_point_len - 1) / 2 : 0;
}

static size_t sig_max_size(const TPMKMS_SIG_CTX *ctx)
{
    if (ctx->rsa)
        return ctx->key->pub.rsa_n_len;
    return tpmkms_ecdsa_der_max(sig_ec_size(&ctx->key->pub));
}

static const char *sig_saltlen_text(int saltlen, char *buf, size_t len)
{
    switch (saltlen) {
    case RSA_PSS_SALTLEN_DIGEST:
        return OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST;
    case RSA_PSS_SALTLEN_AUTO:
        return OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO;
    case RSA_PSS_SALTLEN_MAX:
        return OSSL_PKEY_RSA_PSS_SALT_LEN_MAX;
    case RSA_PSS_SALTLEN_AUTO_DIGEST_MAX:
        return SIG_SALTLEN_AUTO_DIGEST_MAX_NAME;
    default:
        snprintf(buf, len, "%d", saltlen);
        return buf;
    }
}

/* "max (222 bytes)" for a named salt length, "100 bytes" for a number. */
static const char *sig_salt_desc(int saltlen, long bytes, char *buf, size_t len)
{
    char name[16];

    if (saltlen >= 0)
        snprintf(buf, len, "%ld bytes", bytes);
    else
        snprintf(buf, len, "%s (%ld bytes)",
                 sig_saltlen_text(saltlen, name, sizeof(name)), bytes);
    return buf;
}

/*
 * The salt length of an RSA-PSS signature with this digest and key.
 * "auto" means the largest when signing, as in OpenSSL.
 */
static tpmkms_rc sig_pss_salt(const TPMKMS_SIG_CTX *ctx,
                              const TPMKMS_HASH_INFO *hash,
                              size_t *salt)
{
    size_t bits = sig_rsa_bits(&ctx->key->pub);
    long max = tpmkms_pss_max_salt(bits, hash->size);
    long want;
    char buf[48];

    if (max < 0) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: a %zu-bit RSA key is too small for RSA-PSS with %s",
                     sig_label(ctx), bits, hash->name);
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    switch (ctx->saltlen) {
    case RSA_PSS_SALTLEN_DIGEST:
        want = (long)hash->size;
        break;
    case RSA_PSS_SALTLEN_AUTO:
    case RSA_PSS_SALTLEN_MAX:
        want = max;
        break;
    case RSA_PSS_SALTLEN_AUTO_DIGEST_MAX:
        want = (long)hash->size < max ? (long)hash->size : max;
        break;
    default:
        want = ctx->saltlen;
        break;
    }
    if (want > max) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: RSA-PSS salt length %s is too large for a %zu-bit "
                     "key with %s: at most %ld", sig_label(ctx),
                     sig_salt_desc(ctx->saltlen, want, buf, sizeof(buf)),
                     bits, hash->name, max);
        return TPMKMS_R_BAD_PARAMETER;
    }
    *salt = (size_t)want;
    return TPMKMS_R_OK;
}

/*
 * The digest to sign or verify tbslen bytes with: the one set, whose
 * length must match, or else the one of that length.
 */
static const TPMKMS_HASH_INFO *sig_hash_for_input(const TPMKMS_SIG_CTX *ctx,
                                                  size_t tbslen)
{
    const TPMKMS_HASH_INFO *hash = ctx->hash;

    if (hash != NULL) {
        if (tbslen != hash->size) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                         "%s: the input is %zu bytes but a %s digest is %zu "
                         "bytes", sig_label(ctx), tbslen, hash->name,
                         hash->size);
            return NULL;
        }
        return hash;
    }
    if ((hash = tpmkms_hash_info_by_size(tbslen)) == NULL)
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: a %zu-byte input is no digest the TPM signs ("
                     TPMKMS_HASHES_TEXT "); pass a digest or set one with "
                     "-pkeyopt digest:NAME", sig_label(ctx), tbslen);
    return hash;
}

/* ---- context ---------------------------------------------------------- */

static void *sig_newctx(void *provctx, int rsa)
{
    TPMKMS_SIG_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return NULL;
    }
    ctx->provctx = provctx;
    ctx->libctx = tpmkms_provctx_libctx(provctx);
    ctx->rsa = rsa;
    ctx->pad_mode = RSA_PKCS1_PADDING;
    ctx->saltlen = RSA_PSS_SALTLEN_DIGEST;
    return ctx;
}

/*
 * propq selects this signature implementation; the digests we fetch are
 * another provider's and follow the "properties" parameter instead.
 */
static void *tpmkms_ecdsa_newctx(void *provctx, const char *propq)
{
    return sig_newctx(provctx, 0);
}

static void *tpmkms_rsa_newctx(void *provctx, const char *propq)
{
    return sig_newctx(provctx, 1);
}

/* A software copy of the public key, never one that leads back to us. */
static EVP_PKEY *sig_software_pubkey(TPMKMS_SIG_CTX *ctx)
{
    EVP_PKEY *pkey = tpmkms_public_to_evp(ctx->libctx, &ctx->key->pub);
    const OSSL_PROVIDER *prov;

    if (pkey == NULL)
        return NULL;
    prov = EVP_PKEY_get0_provider(pkey);
    if (prov != NULL
        && (OSSL_PROVIDER_get0_provider_ctx(prov) == ctx->provctx
            || strcmp(OSSL_PROVIDER_get0_name(prov), "tpmkms") == 0)) {
        TPMKMS_raise(TPMKMS_R_INTERNAL,
                     "%s: the software public key for verifying came from "
                     "tpmkms itself", sig_label(ctx));
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return pkey;
}

/* Takes the key (a new ref) and readies the operation; no params yet. */
static int sig_init_key(TPMKMS_SIG_CTX *ctx, void *provkey, int operation)
{
    TPMKMS_KEY *key = provkey;

    if (key != NULL) {
        int is_ec = tpmkms_alg_is_ec(key->pub.alg);
        int is_rsa = tpmkms_alg_is_rsa(key->pub.alg);

        if (ctx->rsa ? !is_rsa : !is_ec) {
            TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                         "%s: a %s key cannot make %s signatures", key->uri,
                         tpmkms_alg_name(key->pub.alg),
                         ctx->rsa ? "RSA" : "ECDSA");
            return 0;
        }
        if (!tpmkms_key_up_ref(key)) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: cannot take a key reference",
                         key->uri);
            return 0;
        }
        tpmkms_key_free(ctx->key);
        ctx->key = key;
    } else if (ctx->key == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "signature init without a key");
        return 0;
    }

    ctx->operation = operation;
    ctx->digest_op = 0;
    ctx->mdctx_fresh = 0;
    EVP_PKEY_free(ctx->pubkey);
    ctx->pubkey = NULL;
    if (operation == SIG_OP_VERIFY) {
        if ((ctx->pubkey = sig_software_pubkey(ctx)) == NULL)
            return 0;
    } else if (tpmkms_key_check_signs_data(ctx->key) != TPMKMS_R_OK) {
        /* An AK, a key without sign, a restricted key: before the TPM. */
        return 0;
    }
    return 1;
}

/*
 * A software key's operation, started in its own provider (softkey.c).
 * What an earlier init left for a TPM key goes.  If the start fails the
 * context is left uninitialised, so nothing reaches the TPM code with it.
 */
static int sig_init_soft(TPMKMS_SIG_CTX *ctx, TPMKMS_KEY *key, int operation,
                         int digest, const char *mdname,
                         const OSSL_PARAM params[])
{
    if (key != ctx->key) {
        if (!tpmkms_key_up_ref(key)) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot take a key reference");
            return 0;
        }
        tpmkms_key_free(ctx->key);
        ctx->key = key;
    }
    EVP_MD_CTX_free(ctx->mdctx);
    ctx->mdctx = NULL;
    EVP_PKEY_free(ctx->pubkey);
    ctx->pubkey = NULL;
    ctx->digest_op = digest;
    ctx->soft = tpmkms_soft_sig_new(ctx->libctx, key, operation == SIG_OP_SIGN,
                                    digest, mdname, params);
    ctx->operation = ctx->soft != NULL ? operation : SIG_OP_NONE;
    return ctx->soft != NULL;
}

/* digest_sign/verify_init for a TPM key, after sig_init_key. */
static int sig_digest_start(TPMKMS_SIG_CTX *ctx, const char *mdname,
                            int operation, const OSSL_PARAM params[])
{
    const TPMKMS_HASH_INFO *hash = NULL;
    EVP_MD *md;

    if (mdname == NULL || mdname[0] == '\0')
        mdname = tpmkms_hash_name(tpmkms_alg_default_hash(ctx->key->pub.alg));
    /*
     * Signing many messages re-initialises one context for the same
     * digest (EVP_DigestSignInit_ex with no key): keep what we have.
     */
    if (ctx->md == NULL || strcmp(ctx->md_asked, mdname) != 0) {
        if ((md = sig_fetch_md(ctx, mdname, ctx->mdprops, &hash)) == NULL)
            return 0;
        EVP_MD_free(ctx->md);
        ctx->md = md;
        ctx->hash = hash;
        if (strlen(mdname) < sizeof(ctx->md_asked))
            strcpy(ctx->md_asked, mdname);
        else
            ctx->md_asked[0] = '\0';
    }
    ctx->mdctx_fresh = 0;
    if ((ctx->mdctx == NULL && (ctx->mdctx = EVP_MD_CTX_new()) == NULL)
        || !EVP_DigestInit_ex(ctx->mdctx, ctx->md, NULL)) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: cannot start a %s digest",
                     ctx->key->uri, ctx->hash->name);
        return 0;
    }
    ctx->digest_op = 1;
    ctx->mdctx_fresh = 1;
    TPMKMS_debug("%s: digest %s with %s", ctx->key->uri,
                 operation == SIG_OP_SIGN ? "sign" : "verify",
                 ctx->hash->name);
    return tpmkms_signature_set_ctx_params(ctx, params);
}

/*
 * Every init: the one place that asks whether the key (the one init was
 * given, or the one the context has, on a re-init) is a software key.
 */
static int sig_init(void *vctx, void *provkey, int operation, int digest,
                    const char *mdname, const OSSL_PARAM params[])
{
    TPMKMS_SIG_CTX *ctx = vctx;
    TPMKMS_KEY *key = provkey != NULL ? provkey : ctx->key;

    if (ctx->soft != NULL) {
        tpmkms_soft_sig_free(ctx->soft);
        ctx->soft = NULL;
    }
    if (tpmkms_soft_is(key))
        return sig_init_soft(ctx, key, operation, digest, mdname, params);
    if (!sig_init_key(ctx, provkey, operation))
        return 0;
    if (digest)
        return sig_digest_start(ctx, mdname, operation, params);
    return tpmkms_signature_set_ctx_params(ctx, params);
}

static int tpmkms_signature_sign_init(void *vctx, void *provkey,
                                      const OSSL_PARAM params[])
{
    return sig_init(vctx, provkey, SIG_OP_SIGN, 0, NULL, params);
}

static int tpmkms_signature_verify_init(void *vctx, void *provkey,
                                        const OSSL_PARAM params[])
{
    return sig_init(vctx, provkey, SIG_OP_VERIFY, 0, NULL, params);
}

static int tpmkms_signature_digest_sign_init(void *vctx, const char *mdname,
                                             void *provkey,
                                             const OSSL_PARAM params[])
{
    return sig_init(vctx, provkey, SIG_OP_SIGN, 1, mdname, params);
}

static int tpmkms_signature_digest_verify_init(void *vctx, const char *mdname,
                                               void *provkey,
                                               const OSSL_PARAM params[])
{
    return sig_init(vctx, provkey, SIG_OP_VERIFY, 1, mdname, params);
}

/* ---- signing ---------------------------------------------------------- */

/*
 * One DER INTEGER (X.690 8.3) of an unsigned big-endian value: leading
 * zero bytes dropped, one put back where the top bit is set.  Returns the
 * bytes written (at most 3 + n).
 */
static size_t sig_der_uint(unsigned char *out, const unsigned char *v, size_t n)
{
    size_t len;

    while (n > 1 && v[0] == 0) {
        v++;
        n--;
    }
    len = n + ((v[0] & 0x80) != 0);
    out[0] = 0x02;
    out[1] = (unsigned char)len;
    out[2] = 0;
    memcpy(out + 2 + (len - n), v, n);
    return 2 + len;
}

/*
 * r || s from the TPM to a DER ECDSA-Sig-Value (RFC 5480), written
 * directly: through ECDSA_SIG and BIGNUMs it cost more than the rest of a
 * warm signature's client work.
 */
static int sig_ecdsa_to_der(const TPMKMS_SIG_CTX *ctx, const unsigned char *rs,
                            size_t rslen, unsigned char *sig, size_t *siglen,
                            size_t sigsize)
{
    unsigned char body[2 * (3 + TPMKMS_EC_POINT_MAX / 2)];
    size_t n, hdr;

    if (rslen == 0 || rslen % 2 != 0 || rslen > TPMKMS_EC_POINT_MAX - 1) {
        TPMKMS_raise(TPMKMS_R_SIGN_FAILED,
                     "%s: the TPM returned a %zu-byte ECDSA signature",
                     sig_label(ctx), rslen);
        return 0;
    }
    n = sig_der_uint(body, rs, rslen / 2);
    n += sig_der_uint(body + n, rs + rslen / 2, rslen / 2);
    hdr = n < 0x80 ? 2 : 3;
    if (hdr + n > sigsize) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: a %zu-byte signature does not fit %zu bytes",
                     sig_label(ctx), hdr + n, sigsize);
        return 0;
    }
    sig[0] = 0x30;
    if (hdr == 2) {
        sig[1] = (unsigned char)n;
    } else {
        sig[1] = 0x81;
        sig[2] = (unsigned char)n;
    }
    memcpy(sig + hdr, body, n);
    *siglen = hdr + n;
    return 1;
}

/* The TPM's answer, left-padded with zeros to the modulus size. */
static int sig_rsa_out(const TPMKMS_SIG_CTX *ctx, const unsigned char *raw,
                       size_t rawlen, unsigned char *sig, size_t *siglen)
{
    size_t n = ctx->key->pub.rsa_n_len;

    if (rawlen > n) {
        TPMKMS_raise(TPMKMS_R_SIGN_FAILED,
                     "%s: the TPM returned a %zu-byte RSA signature for a "
                     "%zu-byte modulus", sig_label(ctx), rawlen, n);
        return 0;
    }
    memset(sig, 0, n - rawlen);
    memcpy(sig + n - rawlen, raw, rawlen);
    *siglen = n;
    return 1;
}

/* RSA-PSS with a salt the TPM's RSAPSS scheme does not use. */
static int sig_rsa_pss_raw(TPMKMS_SIG_CTX *ctx, const TPMKMS_HASH_INFO *hash,
                           size_t salt, const unsigned char *dgst,
                           unsigned char *out, size_t *outlen)
{
    const TPMKMS_PUBLIC *pub = &ctx->key->pub;
    unsigned char em[TPMKMS_RSA_N_MAX];
    EVP_MD *owned = NULL;
    const EVP_MD *md = ctx->md;
    char buf[48];
    int ok = 0;

    if (!pub->can_decrypt) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: RSA-PSS salt length %s is not possible with this "
                     "key (no decrypt attribute for the raw RSA operation): "
                     "the TPM signs PSS with salt = digest length (%zu bytes "
                     "with %s); set rsa_pss_saltlen:digest (-pkeyopt or "
                     "-sigopt)", ctx->key->uri,
                     sig_salt_desc(ctx->saltlen, (long)salt, buf, sizeof(buf)),
                     hash->size, hash->name);
        return 0;
    }
    if (md == NULL
        && (md = owned = sig_fetch_md(ctx, hash->ossl_name, ctx->mdprops,
                                      &hash)) == NULL)
        return 0;
    if (pub->rsa_n_len > sizeof(em)
        || tpmkms_pss_encode(ctx->libctx, md, dgst, hash->size, salt,
                             sig_rsa_bits(pub), em, pub->rsa_n_len,
                             ctx->key->uri) != TPMKMS_R_OK)
        goto out_cleanse;
    TPMKMS_debug("%s: RSA-PSS %s salt %zu via the raw RSA operation",
                 ctx->key->uri, hash->name, salt);
    ok = tpmkms_key_sign(ctx->key, TPMKMS_SCHEME_RSA_RAW, hash->hash, em,
                         pub->rsa_n_len, out, outlen) == TPMKMS_R_OK;
out_cleanse:
    OPENSSL_cleanse(em, sizeof(em));
    EVP_MD_free(owned);
    return ok;
}

/* Signs a digest made with hash. */
static int sig_sign_digest(TPMKMS_SIG_CTX *ctx, const TPMKMS_HASH_INFO *hash,
                           const unsigned char *dgst, unsigned char *sig,
                           size_t *siglen, size_t sigsize)
{
    unsigned char raw[TPMKMS_SIG_MAX];
    size_t rawlen = sizeof(raw);
    size_t max = sig_max_size(ctx);
    tpmkms_scheme scheme;
    size_t salt = 0;

    if (sigsize < max) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: a signature needs up to %zu bytes, the buffer has %zu",
                     ctx->key->uri, max, sigsize);
        return 0;
    }
    if (!ctx->rsa) {
        TPMKMS_debug("%s: ECDSA %s", ctx->key->uri, hash->name);
        if (tpmkms_key_sign(ctx->key, TPMKMS_SCHEME_ECDSA, hash->hash, dgst,
                            hash->size, raw, &rawlen) != TPMKMS_R_OK)
            return 0;
        return sig_ecdsa_to_der(ctx, raw, rawlen, sig, siglen, sigsize);
    }

    if (ctx->pad_mode == RSA_PKCS1_PADDING) {
        scheme = TPMKMS_SCHEME_RSA_PKCS1;
    } else {
        if (ctx->mgf1 != NULL && ctx->mgf1 != hash) {
            TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                         "%s: RSA-PSS MGF1 digest %s differs from the signature "
                         "digest %s: the TPM uses the signature digest for MGF1",
                         ctx->key->uri, ctx->mgf1->name, hash->name);
            return 0;
        }
        if (sig_pss_salt(ctx, hash, &salt) != TPMKMS_R_OK)
            return 0;
        if (salt != hash->size) {
            if (!sig_rsa_pss_raw(ctx, hash, salt, dgst, raw, &rawlen))
                return 0;
            return sig_rsa_out(ctx, raw, rawlen, sig, siglen);
        }
        scheme = TPMKMS_SCHEME_RSA_PSS;
    }
    TPMKMS_debug("%s: RSA %s %s", ctx->key->uri,
                 scheme == TPMKMS_SCHEME_RSA_PSS ? "PSS" : "PKCS1",
                 hash->name);
    if (tpmkms_key_sign(ctx->key, scheme, hash->hash, dgst, hash->size, raw,
                        &rawlen) != TPMKMS_R_OK)
        return 0;
    return sig_rsa_out(ctx, raw, rawlen, sig, siglen);
}

static int sig_check_op(const TPMKMS_SIG_CTX *ctx, int operation, int digest)
{
    if (ctx->key == NULL || ctx->operation != operation
        || (digest && (!ctx->digest_op || ctx->mdctx == NULL))) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: %s%s was not initialised", sig_label(ctx),
                     digest ? "digest " : "",
                     operation == SIG_OP_SIGN ? "signing" : "verifying");
        return 0;
    }
    return 1;
}

static int tpmkms_signature_sign(void *vctx, unsigned char *sig,
                                 size_t *siglen, size_t sigsize,
                                 const unsigned char *tbs, size_t tbslen)
{
    TPMKMS_SIG_CTX *ctx = vctx;
    const TPMKMS_HASH_INFO *hash;

    if (ctx->soft != NULL)
        return tpmkms_soft_sig_sign(ctx->soft, sig, siglen, sigsize, tbs,
                                    tbslen);
    if (!sig_check_op(ctx, SIG_OP_SIGN, 0))
        return 0;
    if (sig == NULL) {
        *siglen = sig_max_size(ctx);
        return 1;
    }
    if ((hash = sig_hash_for_input(ctx, tbslen)) == NULL)
        return 0;
    return sig_sign_digest(ctx, hash, tbs, sig, siglen, sigsize);
}

static int tpmkms_signature_digest_update(void *vctx,
                                          const unsigned char *data,
                                          size_t datalen)
{
    TPMKMS_SIG_CTX *ctx = vctx;

    if (ctx->soft != NULL)
        return tpmkms_soft_sig_digest_update(ctx->soft, data, datalen);
    if (ctx->mdctx == NULL || !ctx->digest_op) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: digest update without digest init", sig_label(ctx));
        return 0;
    }
    ctx->mdctx_fresh = 0;
    if (!EVP_DigestUpdate(ctx->mdctx, data, datalen)) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: %s update failed",
                     sig_label(ctx), ctx->hash->name);
        return 0;
    }
    return 1;
}

static int sig_digest_final(TPMKMS_SIG_CTX *ctx, unsigned char *dgst)
{
    unsigned int dlen = 0;

    ctx->mdctx_fresh = 0;
    if (!EVP_DigestFinal_ex(ctx->mdctx, dgst, &dlen)
        || dlen != ctx->hash->size) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: %s final failed",
                     sig_label(ctx), ctx->hash->name);
        return 0;
    }
    return 1;
}

static int tpmkms_signature_digest_sign_final(void *vctx, unsigned char *sig,
                                              size_t *siglen, size_t sigsize)
{
    TPMKMS_SIG_CTX *ctx = vctx;
    unsigned char dgst[EVP_MAX_MD_SIZE];

    if (ctx->soft != NULL)
        return tpmkms_soft_sig_digest_sign_final(ctx->soft, sig, siglen,
                                                 sigsize);
    if (!sig_check_op(ctx, SIG_OP_SIGN, 1))
        return 0;
    if (sig == NULL) {
        *siglen = sig_max_size(ctx);
        return 1;
    }
    if (!sig_digest_final(ctx, dgst))
        return 0;
    return sig_sign_digest(ctx, ctx->hash, dgst, sig, siglen, sigsize);
}

/* One shot: the digest restarts, so the context can sign again. */
static int tpmkms_signature_digest_sign(void *vctx, unsigned char *sig,
                                        size_t *siglen, size_t sigsize,
                                        const unsigned char *tbs,
                                        size_t tbslen)
{
    TPMKMS_SIG_CTX *ctx = vctx;

    if (ctx->soft != NULL)
        return tpmkms_soft_sig_digest_sign(ctx->soft, sig, siglen, sigsize,
                                           tbs, tbslen);
    if (!sig_check_op(ctx, SIG_OP_SIGN, 1))
        return 0;
    if (sig == NULL) {
        *siglen = sig_max_size(ctx);
        return 1;
    }
    /* Right after digest_sign_init the digest has just been started. */
    if (!ctx->mdctx_fresh && !EVP_DigestInit_ex(ctx->mdctx, ctx->md, NULL)) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: cannot restart the %s digest",
                     sig_label(ctx), ctx->hash->name);
        return 0;
    }
    if (!tpmkms_signature_digest_update(ctx, tbs, tbslen))
        return 0;
    return tpmkms_signature_digest_sign_final(ctx, sig, siglen, sigsize);
}

/* ---- verifying (software public key; no TPM) -------------------------- */

static int sig_verify_digest(TPMKMS_SIG_CTX *ctx, const TPMKMS_HASH_INFO *hash,
                             const unsigned char *sig, size_t siglen,
                             const unsigned char *dgst)
{
    EVP_PKEY_CTX *vctx;
    OSSL_PARAM params[5], *p = params;
    int pad = ctx->pad_mode;
    int saltlen = ctx->saltlen;
    int rv = 0;

    if ((vctx = EVP_PKEY_CTX_new_from_pkey(ctx->libctx, ctx->pubkey,
                                           NULL)) == NULL
        || EVP_PKEY_verify_init(vctx) <= 0) {
        TPMKMS_raise(TPMKMS_R_INTERNAL,
                     "%s: no software verifier for the public key",
                     sig_label(ctx));
        goto out_free;
    }
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST,
                                            (char *)hash->ossl_name, 0);
    if (ctx->rsa) {
        *p++ = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PAD_MODE, &pad);
        if (pad == RSA_PKCS1_PSS_PADDING) {
            /* Unset: accept any salt, as OpenSSL verifies by default. */
            if (!ctx->saltlen_set
                || saltlen == RSA_PSS_SALTLEN_AUTO_DIGEST_MAX)
                saltlen = RSA_PSS_SALTLEN_AUTO;
            *p++ = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN,
                                            &saltlen);
            if (ctx->mgf1 != NULL)
                *p++ = OSSL_PARAM_construct_utf8_string(
                    OSSL_SIGNATURE_PARAM_MGF1_DIGEST, (char *)ctx->mgf1->ossl_name, 0);
        }
    }
    *p = OSSL_PARAM_construct_end();
    if (EVP_PKEY_CTX_set_params(vctx, params) <= 0) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: the software verifier refused the parameters",
                     sig_label(ctx));
        goto out_free;
    }
    /* A signature that does not verify is an answer, not a failure. */
    rv = EVP_PKEY_verify(vctx, sig, siglen, dgst, hash->size) == 1;
out_free:
    EVP_PKEY_CTX_free(vctx);
    return rv;
}

static int tpmkms_signature_verify(void *vctx, const unsigned char *sig,
                                   size_t siglen, const unsigned char *tbs,
                                   size_t tbslen)
{
    TPMKMS_SIG_CTX *ctx = vctx;
    const TPMKMS_HASH_INFO *hash;

    if (ctx->soft != NULL)
        return tpmkms_soft_sig_verify(ctx->soft, sig, siglen, tbs, tbslen);
    if (!sig_check_op(ctx, SIG_OP_VERIFY, 0))
        return 0;
    if ((hash = sig_hash_for_input(ctx, tbslen)) == NULL)
        return 0;
    return sig_verify_digest(ctx, hash, sig, siglen, tbs);
}

static int tpmkms_signature_digest_verify_final(void *vctx,
                                                const unsigned char *sig,
                                                size_t siglen)
{
    TPMKMS_SIG_CTX *ctx = vctx;
    unsigned char dgst[EVP_MAX_MD_SIZE];

    if (ctx->soft != NULL)
        return tpmkms_soft_sig_digest_verify_final(ctx->soft, sig, siglen);
    if (!sig_check_op(ctx, SIG_OP_VERIFY, 1) || !sig_digest_final(ctx, dgst))
        return 0;
    return sig_verify_digest(ctx, ctx->hash, sig, siglen, dgst);
}

/* ---- dup / free ------------------------------------------------------- */

static void *tpmkms_signature_dupctx(void *vctx)
{
    const TPMKMS_SIG_CTX *src = vctx;
    TPMKMS_SIG_CTX *dst = OPENSSL_zalloc(sizeof(*dst));

    if (dst == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return NULL;
    }
    dst->provctx = src->provctx;
    dst->libctx = src->libctx;
    dst->rsa = src->rsa;
    dst->operation = src->operation;
    dst->digest_op = src->digest_op;
    dst->hash = src->hash;
    memcpy(dst->md_asked, src->md_asked, sizeof(dst->md_asked));
    dst->mdctx_fresh = src->mdctx_fresh;
    dst->pad_mode = src->pad_mode;
    dst->saltlen = src->saltlen;
    dst->saltlen_set = src->saltlen_set;
    dst->mgf1 = src->mgf1;

    if (src->key != NULL) {
        if (!tpmkms_key_up_ref(src->key))
            goto out_fail;
        dst->key = src->key;
    }
    if (src->md != NULL) {
        if (!EVP_MD_up_ref(src->md))
            goto out_fail;
        dst->md = src->md;
    }
    if (src->mdprops != NULL
        && (dst->mdprops = OPENSSL_strdup(src->mdprops)) == NULL)
        goto out_fail;
    /* EVP_MD_CTX_dup is OpenSSL 3.1. */
    if (src->mdctx != NULL
        && ((dst->mdctx = EVP_MD_CTX_new()) == NULL
            || !EVP_MD_CTX_copy_ex(dst->mdctx, src->mdctx)))
        goto out_fail;
    if (src->pubkey != NULL) {
        if (!EVP_PKEY_up_ref(src->pubkey))
            goto out_fail;
        dst->pubkey = src->pubkey;
    }
    if (src->soft != NULL
        && (dst->soft = tpmkms_soft_sig_dup(src->soft)) == NULL)
        goto out_fail;
    return dst;

out_fail:
    TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: cannot copy the signature context",
                 sig_label(src));
    tpmkms_signature_freectx(dst);
    return NULL;
}

static void tpmkms_signature_freectx(void *vctx)
{
    TPMKMS_SIG_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    tpmkms_soft_sig_free(ctx->soft);
    EVP_PKEY_free(ctx->pubkey);
    EVP_MD_CTX_free(ctx->mdctx);
    EVP_MD_free(ctx->md);
    OPENSSL_free(ctx->mdprops);
    tpmkms_key_free(ctx->key);
    OPENSSL_free(ctx);
}

/* ---- AlgorithmIdentifier ---------------------------------------------- */

#define DER_SEQUENCE 0x30
#define DER_OID 0x06
#define DER_NULL 0x05
#define DER_INTEGER 0x02
#define DER_CTX(n) (0xa0 | (n))     /* [n] EXPLICIT, constructed */
#define AID_MAX 128                 /* ASN1_item_sign_ctx's buffer */

typedef struct der_buf_st {
    unsigned char data[AID_MAX];
    size_t len;
    int overflow;
} DER_BUF;

static void der_append(DER_BUF *b, const unsigned char *p, size_t len)
{
    if (b->overflow || len > sizeof(b->data) - b->len) {
        b->overflow = 1;
        return;
    }
    if (len > 0)
        memcpy(b->data + b->len, p, len);
    b->len += len;
}

/* Appends tag, length and content to b. */
static void der_tlv(DER_BUF *b, unsigned char tag, const unsigned char *content,
                    size_t len)
{
    unsigned char hdr[4];
    size_t h = 0;

    hdr[h++] = tag;
    if (len < 0x80) {
        hdr[h++] = (unsigned char)len;
    } else if (len < 0x100) {
        hdr[h++] = 0x81;
        hdr[h++] = (unsigned char)len;
    } else {
        hdr[h++] = 0x82;
        hdr[h++] = (unsigned char)(len >> 8);
        hdr[h++] = (unsigned char)len;
    }
    der_append(b, hdr, h);
    der_append(b, content, len);
}

static void der_wrap(DER_BUF *out, unsigned char tag, const DER_BUF *in)
{
    if (in->overflow)
        out->overflow = 1;
    der_tlv(out, tag, in->data, in->len);
}

static void der_pkcs1_oid(DER_BUF *b, unsigned char arc)
{
    unsigned char oid[sizeof(oid_pkcs1) + 1];

    memcpy(oid, oid_pkcs1, sizeof(oid_pkcs1));
    oid[sizeof(oid_pkcs1)] = arc;
    der_tlv(b, DER_OID, oid, sizeof(oid));
}

static void der_uint(DER_BUF *b, size_t v)
{
    unsigned char be[sizeof(size_t) + 1];
    size_t n = sizeof(be);

    do {
        be[--n] = (unsigned char)v;
        v >>= 8;
    } while (v != 0);
    if (be[n] & 0x80)
        be[--n] = 0;
    der_tlv(b, DER_INTEGER, be + n, sizeof(be) - n);
}

/* { id-shaN, NULL }, as RFC 4055 section 2.1 spells shaNIdentifier. */
static void der_hash_aid(DER_BUF *b, const TPMKMS_HASH_INFO *hash)
{
    DER_BUF seq = { .len = 0 };

    der_tlv(&seq, DER_OID, hash->oid, hash->oid_len);
    der_tlv(&seq, DER_NULL, NULL, 0);
    der_wrap(b, DER_SEQUENCE, &seq);
}

/*
 * RSASSA-PSS-params (RFC 4055 section 3.1, RFC 8017 A.2.3): DER leaves
 * out the DEFAULT values (SHA-1, MGF1 with SHA-1, salt 20, trailer 1).
 */
static void der_pss_aid(DER_BUF *b, const TPMKMS_HASH_INFO *hash, size_t salt)
{
    DER_BUF params = { .len = 0 }, tmp = { .len = 0 }, aid = { .len = 0 };

    if (hash->hash != TPMKMS_HASH_SHA1) {
        DER_BUF mgf = { .len = 0 }, mgfseq = { .len = 0 };

        der_hash_aid(&tmp, hash);
        der_wrap(&params, DER_CTX(0), &tmp);

        der_pkcs1_oid(&mgf, PKCS1_ARC_MGF1);
        der_hash_aid(&mgf, hash);
        der_wrap(&mgfseq, DER_SEQUENCE, &mgf);
        der_wrap(&params, DER_CTX(1), &mgfseq);
    }
    if (salt != 20) {
        tmp.len = 0;
        der_uint(&tmp, salt);
        der_wrap(&params, DER_CTX(2), &tmp);
    }
    der_pkcs1_oid(&aid, PKCS1_ARC_RSASSA_PSS);
    der_wrap(&aid, DER_SEQUENCE, &params);
    der_wrap(b, DER_SEQUENCE, &aid);
}

/*
 * The signature's AlgorithmIdentifier, for certificates and requests:
 * ecdsa-with-SHAN has no parameters (RFC 5758 3.2), shaNWithRSAEncryption
 * has NULL (RFC 4055 5).  0 len: no digest or key yet.
 */
static tpmkms_rc sig_algorithm_id(const TPMKMS_SIG_CTX *ctx, DER_BUF *out)
{
    DER_BUF aid = { .len = 0 };
    size_t salt;
    tpmkms_rc rc;

    out->len = 0;
    out->overflow = 0;
    if (ctx->hash == NULL || ctx->key == NULL)
        return TPMKMS_R_OK;
    if (!ctx->rsa) {
        der_tlv(&aid, DER_OID, ctx->hash->ecdsa_oid, ctx->hash->ecdsa_oid_len);
        der_wrap(out, DER_SEQUENCE, &aid);
    } else if (ctx->pad_mode == RSA_PKCS1_PADDING) {
        der_pkcs1_oid(&aid, ctx->hash->rsa_arc);
        der_tlv(&aid, DER_NULL, NULL, 0);
        der_wrap(out, DER_SEQUENCE, &aid);
    } else {
        if ((rc = sig_pss_salt(ctx, ctx->hash, &salt)) != TPMKMS_R_OK)
            return rc;
        der_pss_aid(out, ctx->hash, salt);
    }
    if (out->overflow) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: AlgorithmIdentifier too long",
                     sig_label(ctx));
        return TPMKMS_R_INTERNAL;
    }
    return TPMKMS_R_OK;
}

/* ---- params ----------------------------------------------------------- */

static const char *sig_pad_name(int pad)
{
    return pad == RSA_PKCS1_PSS_PADDING ? OSSL_PKEY_RSA_PAD_MODE_PSS
                                        : OSSL_PKEY_RSA_PAD_MODE_PKCSV15;
}

static int tpmkms_signature_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    TPMKMS_SIG_CTX *ctx = vctx;
    OSSL_PARAM *p;
    char buf[16];

    if (params == NULL)
        return 1;
    if (ctx->soft != NULL)
        return tpmkms_soft_sig_get_params(ctx->soft, params);

    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST)) != NULL
        && !OSSL_PARAM_set_utf8_string(p, ctx->hash != NULL ? ctx->hash->name
                                                            : ""))
        goto out_bad;

    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID)) != NULL) {
        DER_BUF aid;

        if (sig_algorithm_id(ctx, &aid) != TPMKMS_R_OK)
            return 0;
        if (!OSSL_PARAM_set_octet_string(p, aid.data, aid.len))
            goto out_bad;
    }

    if (!ctx->rsa)
        return 1;

    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) != NULL) {
        int ok = p->data_type == OSSL_PARAM_UTF8_STRING
                     ? OSSL_PARAM_set_utf8_string(p, sig_pad_name(ctx->pad_mode))
                     : OSSL_PARAM_set_int(p, ctx->pad_mode);
        if (!ok)
            goto out_bad;
    }

    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) != NULL) {
        int ok = p->data_type == OSSL_PARAM_UTF8_STRING
                     ? OSSL_PARAM_set_utf8_string(
                           p, sig_saltlen_text(ctx->saltlen, buf, sizeof(buf)))
                     : OSSL_PARAM_set_int(p, ctx->saltlen);
        if (!ok)
            goto out_bad;
    }

    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) != NULL) {
        const TPMKMS_HASH_INFO *mgf1 = ctx->mgf1 != NULL ? ctx->mgf1
                                                         : ctx->hash;

        if (!OSSL_PARAM_set_utf8_string(p, mgf1 != NULL ? mgf1->name : ""))
            goto out_bad;
    }
    return 1;

out_bad:
    TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s: cannot return parameter %s",
                 sig_label(ctx), p->key);
    return 0;
}

/*
 * A software key's operation answers with its own provider's tables; a
 * TPM key's with ours.
 */
static const OSSL_PARAM *sig_params_or_soft(void *vctx, const OSSL_PARAM *ours,
                                            int settable)
{
    const TPMKMS_SIG_CTX *ctx = vctx;

    if (ctx == NULL || ctx->soft == NULL)
        return ours;
    return settable ? tpmkms_soft_sig_settable_params(ctx->soft)
                    : tpmkms_soft_sig_gettable_params(ctx->soft);
}

static const OSSL_PARAM sig_ecdsa_gettable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tpmkms_ecdsa_gettable_ctx_params(void *vctx,
                                                          void *provctx)
{
    return sig_params_or_soft(vctx, sig_ecdsa_gettable, 0);
}

static const OSSL_PARAM sig_rsa_gettable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tpmkms_rsa_gettable_ctx_params(void *vctx,
                                                        void *provctx)
{
    return sig_params_or_soft(vctx, sig_rsa_gettable, 0);
}

/* pad-mode: "pkcs1"/1 or "pss"/6; the TPM signs with nothing else. */
static int sig_read_pad_mode(const TPMKMS_SIG_CTX *ctx, const OSSL_PARAM *p,
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
        else if (strcmp(name, OSSL_PKEY_RSA_PAD_MODE_PSS) == 0)
            v = RSA_PKCS1_PSS_PADDING;
        else
            v = -1;
    } else if (!OSSL_PARAM_get_int(p, &v)) {
        goto out_bad;
    } else {
        snprintf(name, sizeof(name), "%d", v);
    }
    if (v != RSA_PKCS1_PADDING && v != RSA_PKCS1_PSS_PADDING) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: RSA padding mode %s is not supported: a TPM key "
                     "signs with pkcs1 or pss", sig_label(ctx), name);
        return 0;
    }
    *pad = v;
    return 1;
out_bad:
    TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s: bad %s parameter",
                 sig_label(ctx), p->key);
    return 0;
}

/* saltlen: "digest", "max", "auto", "auto-digestmax", a number, or -1..-4. */
static int sig_read_saltlen(const TPMKMS_SIG_CTX *ctx, const OSSL_PARAM *p,
                            int *saltlen)
{
    char name[32] = "";
    char *s = name;
    int v = 0;

    if (p->data_type == OSSL_PARAM_UTF8_STRING) {
        if (!OSSL_PARAM_get_utf8_string(p, &s, sizeof(name)))
            goto out_bad;
        if (strcmp(name, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST) == 0) {
            v = RSA_PSS_SALTLEN_DIGEST;
        } else if (strcmp(name, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX) == 0) {
            v = RSA_PSS_SALTLEN_MAX;
        } else if (strcmp(name, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO) == 0) {
            v = RSA_PSS_SALTLEN_AUTO;
        } else if (strcmp(name, SIG_SALTLEN_AUTO_DIGEST_MAX_NAME) == 0) {
            v = RSA_PSS_SALTLEN_AUTO_DIGEST_MAX;
        } else {
            char *end = NULL;
            long l = strtol(name, &end, 10);

            if (name[0] == '\0' || *end != '\0' || l < 0 || l > TPMKMS_RSA_N_MAX) {
                TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                             "%s: RSA-PSS salt length \"%s\" is not digest, "
                             "max, auto or a number of bytes", sig_label(ctx),
                             name);
                return 0;
            }
            v = (int)l;
        }
    } else if (!OSSL_PARAM_get_int(p, &v)) {
        goto out_bad;
    } else if (v < RSA_PSS_SALTLEN_AUTO_DIGEST_MAX || v > TPMKMS_RSA_N_MAX) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: RSA-PSS salt length %d is out of range",
                     sig_label(ctx), v);
        return 0;
    }
    *saltlen = v;
    return 1;
out_bad:
    TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s: bad %s parameter",
                 sig_label(ctx), p->key);
    return 0;
}

static int sig_read_utf8(const TPMKMS_SIG_CTX *ctx, const OSSL_PARAM *p,
                         char *buf, size_t len)
{
    if (!OSSL_PARAM_get_utf8_string(p, &buf, len)) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s: bad %s parameter",
                     sig_label(ctx), p->key);
        return 0;
    }
    return 1;
}

static int tpmkms_signature_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    TPMKMS_SIG_CTX *ctx = vctx;
    const OSSL_PARAM *p_md, *p_props, *p_pad = NULL, *p_salt = NULL,
                     *p_mgf1 = NULL;
    char mdname[64], props[256], mgf1name[64];
    char *new_props = NULL;
    EVP_MD *new_md = NULL, *mgf1_md = NULL;
    const TPMKMS_HASH_INFO *new_hash = ctx->hash, *new_mgf1 = ctx->mgf1;
    int new_pad = ctx->pad_mode, new_saltlen = ctx->saltlen;
    int ok = 0;

    if (params == NULL)
        return 1;
    if (ctx->soft != NULL)
        return tpmkms_soft_sig_set_params(ctx->soft, params);

    /* Read and check everything, then commit together. */
    p_md = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST);
    p_props = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PROPERTIES);
    if (ctx->rsa) {
        p_pad = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
        p_salt = OSSL_PARAM_locate_const(params,
                                         OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
        p_mgf1 = OSSL_PARAM_locate_const(params,
                                         OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
    }

    if (p_props != NULL) {
        if (!sig_read_utf8(ctx, p_props, props, sizeof(props)))
            goto out_free;
        if (props[0] != '\0' && (new_props = OPENSSL_strdup(props)) == NULL) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
            goto out_free;
        }
    }
    if (p_md != NULL) {
        if (!sig_read_utf8(ctx, p_md, mdname, sizeof(mdname)))
            goto out_free;
        if ((new_md = sig_fetch_md(ctx, mdname,
                                   p_props != NULL ? new_props : ctx->mdprops,
                                   &new_hash)) == NULL)
            goto out_free;
        if (ctx->digest_op && new_hash != ctx->hash) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                         "%s: the digest cannot change from %s to %s once "
                         "hashing has started", sig_label(ctx),
                         ctx->hash->name, new_hash->name);
            goto out_free;
        }
    }
    if (p_pad != NULL && !sig_read_pad_mode(ctx, p_pad, &new_pad))
        goto out_free;
    if (p_salt != NULL) {
        if (new_pad != RSA_PKCS1_PSS_PADDING) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                         "%s: a PSS salt length needs pss padding: set "
                         "rsa_padding_mode:pss first", sig_label(ctx));
            goto out_free;
        }
        if (!sig_read_saltlen(ctx, p_salt, &new_saltlen))
            goto out_free;
    }
    if (p_mgf1 != NULL) {
        if (new_pad != RSA_PKCS1_PSS_PADDING) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                         "%s: an MGF1 digest needs pss padding: set "
                         "rsa_padding_mode:pss first", sig_label(ctx));
            goto out_free;
        }
        if (!sig_read_utf8(ctx, p_mgf1, mgf1name, sizeof(mgf1name))
            || (mgf1_md = sig_fetch_md(ctx, mgf1name, NULL, &new_mgf1)) == NULL)
            goto out_free;
        /* The TPM's PSS uses the signature digest for MGF1 too. */
        if (new_hash != NULL && new_mgf1 != new_hash) {
            TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                         "%s: RSA-PSS MGF1 digest %s differs from the "
                         "signature digest %s: the TPM uses the signature "
                         "digest for MGF1", sig_label(ctx), new_mgf1->name,
                         new_hash->name);
            goto out_free;
        }
    }

    if (p_props != NULL) {
        OPENSSL_free(ctx->mdprops);
        ctx->mdprops = new_props;
        new_props = NULL;
        ctx->md_asked[0] = '\0';
    }
    if (new_md != NULL) {
        EVP_MD_free(ctx->md);
        ctx->md = new_md;
        new_md = NULL;
        ctx->hash = new_hash;
        ctx->md_asked[0] = '\0';
    }
    ctx->pad_mode = new_pad;
    if (p_salt != NULL) {
        ctx->saltlen = new_saltlen;
        ctx->saltlen_set = 1;
    }
    ctx->mgf1 = new_mgf1;
    ok = 1;
out_free:
    EVP_MD_free(mgf1_md);
    EVP_MD_free(new_md);
    OPENSSL_free(new_props);
    return ok;
}

static const OSSL_PARAM sig_ecdsa_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tpmkms_ecdsa_settable_ctx_params(void *vctx,
                                                          void *provctx)
{
    return sig_params_or_soft(vctx, sig_ecdsa_settable, 1);
}

static const OSSL_PARAM sig_rsa_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tpmkms_rsa_settable_ctx_params(void *vctx,
                                                        void *provctx)
{
    return sig_params_or_soft(vctx, sig_rsa_settable, 1);
}

/* ---- dispatch --------------------------------------------------------- */

#define SIG_COMMON_FUNCTIONS                                                  \
    { OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))tpmkms_signature_sign_init }, \
    { OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))tpmkms_signature_sign },      \
    { OSSL_FUNC_SIGNATURE_VERIFY_INIT,                                        \
      (void (*)(void))tpmkms_signature_verify_init },                         \
    { OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))tpmkms_signature_verify },  \
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT,                                   \
      (void (*)(void))tpmkms_signature_digest_sign_init },                    \
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE,                                 \
      (void (*)(void))tpmkms_signature_digest_update },                       \
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL,                                  \
      (void (*)(void))tpmkms_signature_digest_sign_final },                   \
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN,                                        \
      (void (*)(void))tpmkms_signature_digest_sign },                         \
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT,                                 \
      (void (*)(void))tpmkms_signature_digest_verify_init },                  \
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE,                               \
      (void (*)(void))tpmkms_signature_digest_update },                       \
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL,                                \
      (void (*)(void))tpmkms_signature_digest_verify_final },                 \
    { OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))tpmkms_signature_dupctx },  \
    { OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))tpmkms_signature_freectx }, \
    { OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS,                                     \
      (void (*)(void))tpmkms_signature_get_ctx_params },                      \
    { OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS,                                     \
      (void (*)(void))tpmkms_signature_set_ctx_params }

static const OSSL_DISPATCH tpmkms_ecdsa_signature_functions[] = {
    { OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))tpmkms_ecdsa_newctx },
    SIG_COMMON_FUNCTIONS,
    { OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
      (void (*)(void))tpmkms_ecdsa_gettable_ctx_params },
    { OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
      (void (*)(void))tpmkms_ecdsa_settable_ctx_params },
    { 0, NULL }
};

static const OSSL_DISPATCH tpmkms_rsa_signature_functions[] = {
    { OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))tpmkms_rsa_newctx },
    SIG_COMMON_FUNCTIONS,
    { OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
      (void (*)(void))tpmkms_rsa_gettable_ctx_params },
    { OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
      (void (*)(void))tpmkms_rsa_settable_ctx_params },
    { 0, NULL }
};

const OSSL_ALGORITHM tpmkms_signature_algorithms[] = {
    { TPMKMS_SIG_NAME_ECDSA, TPMKMS_PROPS, tpmkms_ecdsa_signature_functions,
      "ECDSA with a TPM key (P-256, P-384)" },
    { TPMKMS_SIG_NAME_RSA, TPMKMS_PROPS, tpmkms_rsa_signature_functions,
      "RSA PKCS#1 v1.5 and PSS with a TPM key" },
    { NULL, NULL, NULL, NULL }
};
