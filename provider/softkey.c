/*
 * Software keys in a TPMKMS_KEY, forwarded to their own provider through
 * public EVP calls.  Why they exist and how the provider calls this:
 * softkey.h.
 */
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include "debug.h"
#include "errors.h"
#include "key.h"
#include "pubkey_evp.h"
#include "softkey.h"

/* ---- common ----------------------------------------------------------- */

static int keytype_is_rsa(const char *keytype)
{
    return strcmp(keytype, "RSA") == 0;
}

static const char *soft_keytype(const EVP_PKEY *soft)
{
    return EVP_PKEY_is_a(soft, "RSA") ? "RSA" : "EC";
}

static void raise_no_provider(const char *keytype)
{
    TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                 "this is a software %s key, and no provider besides tpmkms "
                 "offers %s keys: activate the default provider too",
                 keytype, keytype);
}

/* A key holding a software key (taking the caller's reference to soft). */
static TPMKMS_KEY *soft_key_new(OSSL_LIB_CTX *libctx, EVP_PKEY *soft)
{
    TPMKMS_KEY *key = tpmkms_key_new(NULL, libctx);

    if (key == NULL) {
        EVP_PKEY_free(soft);
        return NULL;
    }
    key->soft = soft;
    return key;
}

/* A context of the other provider's keymgmt for keytype, or NULL. */
static EVP_PKEY_CTX *soft_ctx_new(OSSL_LIB_CTX *libctx, const char *keytype)
{
    EVP_PKEY_CTX *pctx;

    tpmkms_err_set_mark();
    pctx = EVP_PKEY_CTX_new_from_name(libctx, keytype, TPMKMS_SOFT_PROPQ);
    tpmkms_err_pop_to_mark();
    return pctx;
}

static EVP_PKEY *soft_fromdata(OSSL_LIB_CTX *libctx, const char *keytype,
                               int selection, const OSSL_PARAM params[])
{
    EVP_PKEY_CTX *pctx = soft_ctx_new(libctx, keytype);
    EVP_PKEY *pkey = NULL;

    if (pctx == NULL) {
        raise_no_provider(keytype);
        return NULL;
    }
    /* A refusal is the other provider's to explain: its error stays. */
    if (EVP_PKEY_fromdata_init(pctx) <= 0
            || EVP_PKEY_fromdata(pctx, &pkey, selection,
                                 (OSSL_PARAM *)params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(pctx);
    return pkey;
}

/* Two EVP_PKEYs compared for selection, quietly. */
static int pkey_match(const EVP_PKEY *a, const EVP_PKEY *b, int selection)
{
    int ok;

    tpmkms_err_set_mark();
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0)
        ok = EVP_PKEY_eq(a, b) == 1;
    else if ((selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0)
        ok = EVP_PKEY_parameters_eq(a, b) == 1;
    else
        ok = 1;
    tpmkms_err_pop_to_mark();
    return ok;
}

/* ---- keymgmt ---------------------------------------------------------- */

TPMKMS_KEY *tpmkms_soft_keymgmt_dup(const TPMKMS_KEY *key, int selection)
{
    OSSL_PARAM *params = NULL;
    EVP_PKEY *copy = NULL;

    if ((selection & OSSL_KEYMGMT_SELECT_ALL) == OSSL_KEYMGMT_SELECT_ALL) {
        copy = EVP_PKEY_dup(key->soft);
    } else {
        if (EVP_PKEY_todata(key->soft, selection, &params) > 0)
            copy = soft_fromdata(key->libctx, soft_keytype(key->soft),
                                 selection, params);
        OSSL_PARAM_free(params);
    }
    return copy != NULL ? soft_key_new(key->libctx, copy) : NULL;
}

TPMKMS_KEY *tpmkms_soft_keymgmt_params_of(const TPMKMS_KEY *tpm)
{
    TPMKMS_KEY *whole, *params;
    EVP_PKEY *pub = tpmkms_public_to_evp(tpm->libctx, &tpm->pub);

    if (pub == NULL || (whole = soft_key_new(tpm->libctx, pub)) == NULL)
        return NULL;
    params = tpmkms_soft_keymgmt_dup(whole, OSSL_KEYMGMT_SELECT_ALL_PARAMETERS);
    tpmkms_key_free(whole);
    return params;
}

/*
 * A software key's export carries the public key (EC "pub", RSA "n"), the
 * private key ("priv", "d") and, for EC, the group.
 */
int tpmkms_soft_keymgmt_has(const TPMKMS_KEY *key, int selection)
{
    int rsa = EVP_PKEY_is_a(key->soft, "RSA");
    OSSL_PARAM *params = NULL;
    int ok = 1;

    if ((selection & OSSL_KEYMGMT_SELECT_ALL) == 0)
        return 1;
    tpmkms_err_set_mark();
    if (EVP_PKEY_todata(key->soft, selection, &params) <= 0) {
        tpmkms_err_pop_to_mark();
        return 0;
    }
    tpmkms_err_pop_to_mark();
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0)
        ok = ok && OSSL_PARAM_locate(params, rsa ? OSSL_PKEY_PARAM_RSA_N
                                                 : OSSL_PKEY_PARAM_PUB_KEY) != NULL;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0)
        ok = ok && OSSL_PARAM_locate(params, rsa ? OSSL_PKEY_PARAM_RSA_D
                                                 : OSSL_PKEY_PARAM_PRIV_KEY) != NULL;
    if (!rsa && (selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) != 0)
        ok = ok && (OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_GROUP_NAME) != NULL
                    || OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_EC_FIELD_TYPE) != NULL);
    OSSL_PARAM_free(params);
    return ok;
}

/*
 * A TPM key and a software key (as when OpenSSL checks a certificate's
 * public key against a TPM key, importing the certificate's key here):
 * the same key pair when the public halves and parameters agree.
 */
static int tpm_soft_match(const TPMKMS_KEY *tpm, const TPMKMS_KEY *soft,
                          int selection)
{
    EVP_PKEY *pub;
    int ok;

    tpmkms_err_set_mark();
    pub = tpmkms_public_to_evp(tpm->libctx, &tpm->pub);
    tpmkms_err_pop_to_mark();
    if (pub == NULL)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0)
        selection = (selection & ~OSSL_KEYMGMT_SELECT_KEYPAIR)
                    | OSSL_KEYMGMT_SELECT_PUBLIC_KEY;
    ok = pkey_match(pub, soft->soft, selection);
    EVP_PKEY_free(pub);
    return ok;
}

int tpmkms_soft_keymgmt_match(const TPMKMS_KEY *k1, const TPMKMS_KEY *k2,
                              int selection)
{
    const TPMKMS_KEY *soft = tpmkms_soft_is(k1) ? k1 : k2;
    const TPMKMS_KEY *other = soft == k1 ? k2 : k1;

    if (k1 == NULL || k2 == NULL)
        return 0;
    if (tpmkms_soft_is(other))
        return pkey_match(k1->soft, k2->soft, selection);
    if (other->pub.alg == TPMKMS_ALG_NONE)
        return 0;
    return tpm_soft_match(other, soft, selection);
}

int tpmkms_soft_keymgmt_validate(const TPMKMS_KEY *key, int selection,
                                 int checktype)
{
    EVP_PKEY_CTX *pctx;
    int quick = checktype == OSSL_KEYMGMT_VALIDATE_QUICK_CHECK;
    int ok;

    if ((pctx = EVP_PKEY_CTX_new_from_pkey(key->libctx, key->soft,
                                           TPMKMS_SOFT_PROPQ)) == NULL)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == OSSL_KEYMGMT_SELECT_KEYPAIR)
        ok = EVP_PKEY_check(pctx);
    else if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0)
        ok = EVP_PKEY_private_check(pctx);
    else if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0)
        ok = quick ? EVP_PKEY_public_check_quick(pctx)
                   : EVP_PKEY_public_check(pctx);
    else if ((selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0)
        ok = quick ? EVP_PKEY_param_check_quick(pctx)
                   : EVP_PKEY_param_check(pctx);
    else
        ok = 1;
    EVP_PKEY_CTX_free(pctx);
    return ok == 1;
}

int tpmkms_soft_keymgmt_get_params(const TPMKMS_KEY *key, OSSL_PARAM params[])
{
    return EVP_PKEY_get_params(key->soft, params);
}

/* libssl sets a peer's ECDHE share this way. */
int tpmkms_soft_keymgmt_set_params(TPMKMS_KEY *key, const OSSL_PARAM params[])
{
    return EVP_PKEY_set_params(key->soft, (OSSL_PARAM *)params);
}

int tpmkms_soft_keymgmt_export(const TPMKMS_KEY *key, int selection,
                               OSSL_CALLBACK *param_cb, void *cbarg)
{
    return EVP_PKEY_export(key->soft, selection, param_cb, cbarg);
}

int tpmkms_soft_keymgmt_import(TPMKMS_KEY *key, const char *keytype,
                               int selection, const OSSL_PARAM params[])
{
    OSSL_PARAM *old = NULL, *merged = NULL;
    EVP_PKEY *pkey = NULL;

    if (!tpmkms_soft_is(key)) {
        pkey = soft_fromdata(key->libctx, keytype, selection, params);
    } else if (EVP_PKEY_todata(key->soft, OSSL_KEYMGMT_SELECT_ALL, &old) > 0
               && (merged = OSSL_PARAM_merge(old, params)) != NULL) {
        /* Parameters given now win over those the key had. */
        pkey = soft_fromdata(key->libctx, keytype,
                             selection | OSSL_KEYMGMT_SELECT_ALL, merged);
    }
    OSSL_PARAM_free(old);
    OPENSSL_free(merged);
    if (pkey == NULL)
        return 0;
    EVP_PKEY_free(key->soft);
    key->soft = pkey;
    return 1;
}

static const OSSL_PARAM ec_settable_params[] = {
    OSSL_PARAM_int(OSSL_PKEY_PARAM_USE_COFACTOR_ECDH, NULL),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_EC_SEED, NULL, 0),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_EC_INCLUDE_PUBLIC, NULL),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_GROUP_CHECK_TYPE, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM rsa_settable_params[] = {
    OSSL_PARAM_END
};

const OSSL_PARAM *tpmkms_soft_keymgmt_settable_params(const char *keytype)
{
    return keytype_is_rsa(keytype) ? rsa_settable_params : ec_settable_params;
}

/*
 * OpenSSL 3.0 passes no provider context to import_types and export_types,
 * so these are fixed lists.
 */
static const OSSL_PARAM ec_key_types[] = {
    TPMKMS_SOFT_EC_DOMAIN_PARAMS,
    TPMKMS_SOFT_EC_KEY_PARAMS,
    OSSL_PARAM_END
};

static const OSSL_PARAM rsa_key_types[] = {
    TPMKMS_SOFT_RSA_KEY_PARAMS,
    OSSL_PARAM_END
};

const OSSL_PARAM *tpmkms_soft_keymgmt_types(const char *keytype, int selection)
{
    if (keytype_is_rsa(keytype))
        return (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0 ? rsa_key_types
                                                              : NULL;
    return (selection & OSSL_KEYMGMT_SELECT_ALL) != 0 ? ec_key_types : NULL;
}

/* ---- generation ------------------------------------------------------- */

struct tpmkms_soft_gen_st {
    OSSL_LIB_CTX *libctx;
    const char *keytype;        /* static */
    EVP_PKEY_CTX *pctx;         /* the other provider's generator, or NULL */
    OSSL_CALLBACK *cb;          /* progress, during generate only */
    void *cbarg;
};

/*
 * The generator is made now, so parameters can go to it as they come;
 * without one (no default provider) TPM keys still work.
 */
TPMKMS_SOFT_GEN *tpmkms_soft_gen_new(OSSL_LIB_CTX *libctx, const char *keytype,
                                     int selection)
{
    TPMKMS_SOFT_GEN *gen = OPENSSL_zalloc(sizeof(*gen));
    int ok;

    if (gen == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return NULL;
    }
    gen->libctx = libctx;
    gen->keytype = keytype;
    if ((gen->pctx = soft_ctx_new(libctx, keytype)) == NULL)
        return gen;
    tpmkms_err_set_mark();
    ok = (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0
             ? EVP_PKEY_keygen_init(gen->pctx)
             : EVP_PKEY_paramgen_init(gen->pctx);
    tpmkms_err_pop_to_mark();
    if (ok <= 0) {
        EVP_PKEY_CTX_free(gen->pctx);
        gen->pctx = NULL;
    }
    return gen;
}

void tpmkms_soft_gen_free(TPMKMS_SOFT_GEN *gen)
{
    if (gen == NULL)
        return;
    EVP_PKEY_CTX_free(gen->pctx);
    OPENSSL_free(gen);
}

/* The generator ignores uri and force. */
int tpmkms_soft_gen_set_params(TPMKMS_SOFT_GEN *gen, const OSSL_PARAM params[],
                               int for_tpm)
{
    int ok;

    if (gen->pctx == NULL)
        return 1;
    tpmkms_err_set_mark();
    ok = EVP_PKEY_CTX_set_params(gen->pctx, params) > 0;
    if (ok || !for_tpm)
        tpmkms_err_clear_last_mark();
    else
        tpmkms_err_pop_to_mark();
    return ok || for_tpm;
}

int tpmkms_soft_gen_set_group(TPMKMS_SOFT_GEN *gen, const char *group)
{
    OSSL_PARAM params[2];

    if (gen->pctx == NULL)
        return 1;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *)group, 0);
    params[1] = OSSL_PARAM_construct_end();
    return EVP_PKEY_CTX_set_params(gen->pctx, params) > 0;
}

/*
 * Gives a template's parameters to the generator, all but group-check: it
 * is no generation parameter, and OpenSSL 3.0's EC generator copies it and
 * never frees the copy.
 */
static int gen_set_domain(EVP_PKEY_CTX *pctx, const OSSL_PARAM *params)
{
    OSSL_PARAM *copy;
    size_t n = 0, i, j;
    int ok;

    while (params[n].key != NULL)
        n++;
    if ((copy = OPENSSL_malloc((n + 1) * sizeof(*copy))) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return 0;
    }
    for (i = j = 0; i < n; i++)
        if (strcmp(params[i].key, OSSL_PKEY_PARAM_EC_GROUP_CHECK_TYPE) != 0)
            copy[j++] = params[i];
    copy[j] = OSSL_PARAM_construct_end();
    ok = EVP_PKEY_CTX_set_params(pctx, copy) > 0;
    OPENSSL_free(copy);
    return ok;
}

int tpmkms_soft_gen_set_template(TPMKMS_SOFT_GEN *gen, const TPMKMS_KEY *templ)
{
    OSSL_PARAM *params = NULL;
    int ok;

    if (gen->pctx == NULL) {
        raise_no_provider(gen->keytype);
        return 0;
    }
    if (EVP_PKEY_todata(templ->soft, OSSL_KEYMGMT_SELECT_ALL_PARAMETERS,
                        &params) <= 0)
        return 0;
    ok = gen_set_domain(gen->pctx, params);
    OSSL_PARAM_free(params);
    return ok;
}

/* Progress of a generation, passed on as OpenSSL's. */
static int gen_progress(EVP_PKEY_CTX *pctx)
{
    TPMKMS_SOFT_GEN *gen = EVP_PKEY_CTX_get_app_data(pctx);
    int potential = EVP_PKEY_CTX_get_keygen_info(pctx, 0);
    int iteration = EVP_PKEY_CTX_get_keygen_info(pctx, 1);
    OSSL_PARAM params[3];

    if (gen == NULL || gen->cb == NULL)
        return 1;
    params[0] = OSSL_PARAM_construct_int(OSSL_GEN_PARAM_POTENTIAL, &potential);
    params[1] = OSSL_PARAM_construct_int(OSSL_GEN_PARAM_ITERATION, &iteration);
    params[2] = OSSL_PARAM_construct_end();
    return gen->cb(params, gen->cbarg);
}

TPMKMS_KEY *tpmkms_soft_gen_generate(TPMKMS_SOFT_GEN *gen, OSSL_CALLBACK *cb,
                                     void *cbarg)
{
    EVP_PKEY *pkey = NULL;

    if (gen->pctx == NULL) {
        raise_no_provider(gen->keytype);
        return NULL;
    }
    gen->cb = cb;
    gen->cbarg = cbarg;
    EVP_PKEY_CTX_set_app_data(gen->pctx, gen);
    EVP_PKEY_CTX_set_cb(gen->pctx, gen_progress);
    if (EVP_PKEY_generate(gen->pctx, &pkey) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_set_cb(gen->pctx, NULL);
    gen->cb = NULL;
    if (pkey == NULL)
        return NULL;
    TPMKMS_debug("made a software %s key with %s", gen->keytype,
                 OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(pkey)));
    return soft_key_new(gen->libctx, pkey);
}

/* ---- signatures ------------------------------------------------------- */

struct tpmkms_soft_sig_st {
    int sign;                   /* signing, else verifying */
    EVP_PKEY_CTX *pctx;         /* sign, verify; or NULL */
    EVP_MD_CTX *mdctx;          /* digest_sign, digest_verify; or NULL */
};

/* As signature.c names an operation that was not started. */
static int sig_started(const TPMKMS_SOFT_SIG *soft, int sign, int digest)
{
    if (soft->sign != sign
        || (digest ? soft->mdctx == NULL : soft->pctx == NULL)) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "signature: %s%s was not initialised",
                     digest ? "digest " : "", sign ? "signing" : "verifying");
        return 0;
    }
    return 1;
}

/* The operation's EVP_PKEY_CTX (for parameters). */
static EVP_PKEY_CTX *sig_pctx(const TPMKMS_SOFT_SIG *soft)
{
    return soft->pctx != NULL ? soft->pctx
                              : EVP_MD_CTX_get_pkey_ctx(soft->mdctx);
}

/* Its failures are the other provider's to explain: its errors stay. */
TPMKMS_SOFT_SIG *tpmkms_soft_sig_new(OSSL_LIB_CTX *libctx,
                                     const TPMKMS_KEY *key, int sign,
                                     int digest, const char *mdname,
                                     const OSSL_PARAM params[])
{
    TPMKMS_SOFT_SIG *soft = OPENSSL_zalloc(sizeof(*soft));
    int ok;

    if (soft == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return NULL;
    }
    soft->sign = sign;
    if (digest) {
        if ((soft->mdctx = EVP_MD_CTX_new()) == NULL) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
            goto out_free;
        }
        ok = sign ? EVP_DigestSignInit_ex(soft->mdctx, NULL, mdname, libctx,
                                          TPMKMS_SOFT_PROPQ, key->soft, params)
                  : EVP_DigestVerifyInit_ex(soft->mdctx, NULL, mdname, libctx,
                                            TPMKMS_SOFT_PROPQ, key->soft,
                                            params);
    } else {
        soft->pctx = EVP_PKEY_CTX_new_from_pkey(libctx, key->soft,
                                                TPMKMS_SOFT_PROPQ);
        if (soft->pctx == NULL)
            ok = 0;
        else if (sign)
            ok = EVP_PKEY_sign_init_ex(soft->pctx, params);
        else
            ok = EVP_PKEY_verify_init_ex(soft->pctx, params);
    }
    if (ok <= 0)
        goto out_free;
    TPMKMS_debug("software %s key: %s%s forwarded to %s",
                 EVP_PKEY_get0_type_name(key->soft), digest ? "digest " : "",
                 sign ? "signing" : "verifying",
                 OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(key->soft)));
    return soft;

out_free:
    tpmkms_soft_sig_free(soft);
    return NULL;
}

TPMKMS_SOFT_SIG *tpmkms_soft_sig_dup(const TPMKMS_SOFT_SIG *soft)
{
    TPMKMS_SOFT_SIG *dst = OPENSSL_zalloc(sizeof(*dst));

    if (dst == NULL)
        return NULL;
    dst->sign = soft->sign;
    if (soft->pctx != NULL
        && (dst->pctx = EVP_PKEY_CTX_dup(soft->pctx)) == NULL)
        goto out_free;
    /* EVP_MD_CTX_dup is OpenSSL 3.1. */
    if (soft->mdctx != NULL
        && ((dst->mdctx = EVP_MD_CTX_new()) == NULL
            || !EVP_MD_CTX_copy_ex(dst->mdctx, soft->mdctx)))
        goto out_free;
    return dst;

out_free:
    tpmkms_soft_sig_free(dst);
    return NULL;
}

void tpmkms_soft_sig_free(TPMKMS_SOFT_SIG *soft)
{
    if (soft == NULL)
        return;
    EVP_PKEY_CTX_free(soft->pctx);
    EVP_MD_CTX_free(soft->mdctx);
    OPENSSL_free(soft);
}

int tpmkms_soft_sig_sign(TPMKMS_SOFT_SIG *soft, unsigned char *sig,
                         size_t *siglen, size_t sigsize,
                         const unsigned char *tbs, size_t tbslen)
{
    size_t len = sig != NULL ? sigsize : 0;

    if (!sig_started(soft, 1, 0)
        || EVP_PKEY_sign(soft->pctx, sig, &len, tbs, tbslen) <= 0)
        return 0;
    *siglen = len;
    return 1;
}

int tpmkms_soft_sig_verify(TPMKMS_SOFT_SIG *soft, const unsigned char *sig,
                           size_t siglen, const unsigned char *tbs,
                           size_t tbslen)
{
    return sig_started(soft, 0, 0)
        && EVP_PKEY_verify(soft->pctx, sig, siglen, tbs, tbslen) == 1;
}

int tpmkms_soft_sig_digest_update(TPMKMS_SOFT_SIG *soft,
                                  const unsigned char *data, size_t datalen)
{
    if (soft->mdctx == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "signature: digest update without digest init");
        return 0;
    }
    return (soft->sign ? EVP_DigestSignUpdate(soft->mdctx, data, datalen)
                       : EVP_DigestVerifyUpdate(soft->mdctx, data, datalen)) > 0;
}

int tpmkms_soft_sig_digest_sign_final(TPMKMS_SOFT_SIG *soft, unsigned char *sig,
                                      size_t *siglen, size_t sigsize)
{
    size_t len = sig != NULL ? sigsize : 0;

    if (!sig_started(soft, 1, 1)
        || EVP_DigestSignFinal(soft->mdctx, sig, &len) <= 0)
        return 0;
    *siglen = len;
    return 1;
}

int tpmkms_soft_sig_digest_sign(TPMKMS_SOFT_SIG *soft, unsigned char *sig,
                                size_t *siglen, size_t sigsize,
                                const unsigned char *tbs, size_t tbslen)
{
    size_t len = sig != NULL ? sigsize : 0;

    if (!sig_started(soft, 1, 1)
        || EVP_DigestSign(soft->mdctx, sig, &len, tbs, tbslen) <= 0)
        return 0;
    *siglen = len;
    return 1;
}

int tpmkms_soft_sig_digest_verify_final(TPMKMS_SOFT_SIG *soft,
                                        const unsigned char *sig,
                                        size_t siglen)
{
    return sig_started(soft, 0, 1)
        && EVP_DigestVerifyFinal(soft->mdctx, sig, siglen) == 1;
}

int tpmkms_soft_sig_get_params(TPMKMS_SOFT_SIG *soft, OSSL_PARAM params[])
{
    return EVP_PKEY_CTX_get_params(sig_pctx(soft), params) > 0;
}

int tpmkms_soft_sig_set_params(TPMKMS_SOFT_SIG *soft, const OSSL_PARAM params[])
{
    return EVP_PKEY_CTX_set_params(sig_pctx(soft), params) > 0;
}

const OSSL_PARAM *tpmkms_soft_sig_gettable_params(const TPMKMS_SOFT_SIG *soft)
{
    return EVP_PKEY_CTX_gettable_params(sig_pctx(soft));
}

const OSSL_PARAM *tpmkms_soft_sig_settable_params(const TPMKMS_SOFT_SIG *soft)
{
    return EVP_PKEY_CTX_settable_params(sig_pctx(soft));
}

/* ---- asymmetric ciphers and key exchange ------------------------------ */

EVP_PKEY_CTX *tpmkms_soft_op_new(OSSL_LIB_CTX *libctx, EVP_PKEY *pkey,
                                 int op, const OSSL_PARAM params[])
{
    EVP_PKEY_CTX *pctx;
    int ok;

    if ((pctx = EVP_PKEY_CTX_new_from_pkey(libctx, pkey,
                                           TPMKMS_SOFT_PROPQ)) == NULL)
        return NULL;
    switch (op) {
    case TPMKMS_SOFT_ENCRYPT:
        ok = EVP_PKEY_encrypt_init_ex(pctx, params);
        break;
    case TPMKMS_SOFT_DECRYPT:
        ok = EVP_PKEY_decrypt_init_ex(pctx, params);
        break;
    default:
        ok = EVP_PKEY_derive_init_ex(pctx, params);
        break;
    }
    if (ok <= 0) {
        EVP_PKEY_CTX_free(pctx);
        return NULL;
    }
    TPMKMS_debug("software %s key: %s forwarded to %s",
                 EVP_PKEY_get0_type_name(pkey),
                 op == TPMKMS_SOFT_ENCRYPT ? "encryption"
                 : op == TPMKMS_SOFT_DECRYPT ? "decryption" : "key exchange",
                 OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(pkey)));
    return pctx;
}

int tpmkms_soft_op_cipher(EVP_PKEY_CTX *pctx, int op, unsigned char *out,
                          size_t *outlen, size_t outsize,
                          const unsigned char *in, size_t inlen)
{
    size_t len = out != NULL ? outsize : 0;
    int ok = op == TPMKMS_SOFT_ENCRYPT
        ? EVP_PKEY_encrypt(pctx, out, &len, in, inlen)
        : EVP_PKEY_decrypt(pctx, out, &len, in, inlen);

    if (ok <= 0)
        return 0;
    *outlen = len;
    return 1;
}

int tpmkms_soft_op_set_peer(EVP_PKEY_CTX *pctx, const TPMKMS_KEY *peer)
{
    EVP_PKEY *copy = NULL;
    int ok;

    if (!tpmkms_soft_is(peer)) {
        /* A TPM key as the peer: its public half is all a peer gives. */
        if (peer == NULL || peer->pub.alg == TPMKMS_ALG_NONE) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "key exchange: no peer key");
            return 0;
        }
        if ((copy = tpmkms_public_to_evp(peer->libctx, &peer->pub)) == NULL)
            return 0;
    }
    ok = EVP_PKEY_derive_set_peer_ex(pctx, copy != NULL ? copy : peer->soft,
                                     0) > 0;
    EVP_PKEY_free(copy);
    return ok;
}

int tpmkms_soft_op_derive(EVP_PKEY_CTX *pctx, unsigned char *secret,
                          size_t *secretlen, size_t outsize)
{
    size_t len = secret != NULL ? outsize : 0;

    if (EVP_PKEY_derive(pctx, secret, &len) <= 0)
        return 0;
    *secretlen = len;
    return 1;
}
