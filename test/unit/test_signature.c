/*
 * The signature operations (provider/signature) against a backend that
 * answers like a TPM: ECDSA as r||s, RSASSA and RSAPSS with salt = digest
 * length, and the raw RSA operation for blocks we encode ourselves.  Every
 * signature is checked by OpenSSL's default provider, and the
 * AlgorithmIdentifiers are compared byte for byte with OpenSSL's own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/x509.h>

/* The code under test, with its static functions. */
#include "../../provider/signature/signature.c"
#include "../../provider/signature/pss.c"

/* ---- a backend that signs like a TPM ---------------------------------- */

static EVP_PKEY *tpm_pkey;              /* the "TPM" private key */
static int tpm_signs;
static tpmkms_scheme tpm_last_scheme;

static tpmkms_rc tpmlike_connect(const TPMKMS_CONN_CONFIG *cfg, void **state)
{
    *state = OPENSSL_zalloc(1);
    return TPMKMS_R_OK;
}

static void tpmlike_disconnect(void *state)
{
    OPENSSL_free(state);
}

static void tpmlike_abandon(void *state)
{
}

static void tpmlike_forget(TPMKMS_KEYREF *key)
{
}

static void tpmlike_unload(void *state, TPMKMS_KEYREF *key)
{
}

static tpmkms_rc tpmlike_sign(void *state, TPMKMS_KEYREF *key,
                              tpmkms_scheme scheme, tpmkms_hash hash,
                              const unsigned char *in, size_t inlen,
                              unsigned char *sig, size_t *siglen)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(tpm_pkey, NULL);
    unsigned char der[TPMKMS_SIG_MAX];
    size_t len = sizeof(der);
    const EVP_MD *md = EVP_get_digestbyname(tpmkms_hash_name(hash));
    int ok = pctx != NULL && EVP_PKEY_sign_init(pctx) > 0;

    tpm_signs++;
    tpm_last_scheme = scheme;
    switch (scheme) {
    case TPMKMS_SCHEME_ECDSA:
        ok = ok && EVP_PKEY_CTX_set_signature_md(pctx, md) > 0;
        break;
    case TPMKMS_SCHEME_RSA_PKCS1:
        ok = ok && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0
             && EVP_PKEY_CTX_set_signature_md(pctx, md) > 0;
        break;
    case TPMKMS_SCHEME_RSA_PSS:
        ok = ok && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0
             && EVP_PKEY_CTX_set_signature_md(pctx, md) > 0
             && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0;
        break;
    case TPMKMS_SCHEME_RSA_RAW:
        ok = ok && inlen == (size_t)EVP_PKEY_get_size(tpm_pkey)
             && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_NO_PADDING) > 0;
        break;
    }
    ok = ok && EVP_PKEY_sign(pctx, der, &len, in, inlen) > 0;
    EVP_PKEY_CTX_free(pctx);
    if (!ok) {
        TPMKMS_raise(TPMKMS_R_SIGN_FAILED, "%s: tpmlike sign failed", key->label);
        return TPMKMS_R_SIGN_FAILED;
    }
    if (scheme == TPMKMS_SCHEME_ECDSA) {
        /* The TPM answers r || s, each the curve's size. */
        const unsigned char *p = der;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
        int csize = (EVP_PKEY_get_bits(tpm_pkey) + 7) / 8;

        assert_non_null(es);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, csize);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + csize, csize);
        ECDSA_SIG_free(es);
        *siglen = 2 * (size_t)csize;
        return TPMKMS_R_OK;
    }
    memcpy(sig, der, len);
    *siglen = len;
    return TPMKMS_R_OK;
}

static const TPMKMS_KEY_METHODS tpmlike_keys = {
    .sign = tpmlike_sign,
    .unload = tpmlike_unload,
    .forget = tpmlike_forget,
};

static const TPMKMS_BACKEND_METHOD tpmlike_method = {
    .name = "tpmlike",
    .connect = tpmlike_connect,
    .disconnect = tpmlike_disconnect,
    .abandon = tpmlike_abandon,
    .keys = &tpmlike_keys,
};

/* ---- fixtures --------------------------------------------------------- */

static TPMKMS_PROVCTX provctx;
static TPMKMS_BACKEND *backend;

static void public_of(EVP_PKEY *pkey, TPMKMS_PUBLIC *pub)
{
    memset(pub, 0, sizeof(*pub));
    pub->can_sign = 1;
    if (EVP_PKEY_is_a(pkey, "EC")) {
        pub->alg = EVP_PKEY_get_bits(pkey) == 384 ? TPMKMS_ALG_EC_P384
                                                   : TPMKMS_ALG_EC_P256;
        assert_true(EVP_PKEY_get_octet_string_param(
            pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub->ec_point,
            sizeof(pub->ec_point), &pub->ec_point_len));
    } else {
        BIGNUM *n = NULL;

        pub->alg = EVP_PKEY_get_bits(pkey) == 3072 ? TPMKMS_ALG_RSA_3072
                                                   : TPMKMS_ALG_RSA_2048;
        assert_true(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n));
        pub->rsa_n_len = (size_t)BN_num_bytes(n);
        BN_bn2bin(n, pub->rsa_n);
        pub->rsa_e = 65537;
        pub->can_decrypt = 1;
        BN_free(n);
    }
}

/* A TPMKMS_KEY over tpm_pkey, which it takes. */
static TPMKMS_KEY *make_key(EVP_PKEY *pkey)
{
    TPMKMS_KEY *key = tpmkms_key_new(backend, NULL);

    assert_non_null(key);
    EVP_PKEY_free(tpm_pkey);
    tpm_pkey = pkey;
    public_of(pkey, &key->pub);
    key->uri = OPENSSL_strdup("tpmkms:name=sigtest;key-scope=user");
    key->ref.label = key->uri;
    key->needs_auth = 0;
    return key;
}

static EVP_PKEY *ec_key(const char *group)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);

    assert_non_null(pkey);
    return pkey;
}

static EVP_PKEY *rsa_cache[2];

static EVP_PKEY *rsa_key(size_t bits)
{
    EVP_PKEY **cache = rsa_cache;
    int i = bits == 2048 ? 0 : 1;

    if (cache[i] == NULL)
        cache[i] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
    assert_non_null(cache[i]);
    EVP_PKEY_up_ref(cache[i]);
    return cache[i];
}

static int setup(void **state)
{
    tpm_signs = 0;
    tpm_last_scheme = 0;
    ERR_clear_error();
    return 0;
}

static int group_setup(void **state)
{
    tpmkms_err_init_standalone();
    backend = tpmkms_backend_new(&tpmlike_method, "tpmlike");
    return backend == NULL;
}

static int group_teardown(void **state)
{
    EVP_PKEY_free(tpm_pkey);
    EVP_PKEY_free(rsa_cache[0]);
    EVP_PKEY_free(rsa_cache[1]);
    tpmkms_backend_free(backend);
    return 0;
}

/* The reason and text of the last error raised. */
static int last_reason(const char **data)
{
    unsigned long e;
    const char *d = "";
    int flags = 0;

    e = ERR_peek_last_error_all(NULL, NULL, NULL, &d, &flags);
    if (data != NULL)
        *data = (flags & ERR_TXT_STRING) ? d : "";
    return ERR_GET_REASON(e);
}

static void assert_error(int reason, const char *text)
{
    const char *data;

    assert_int_equal(last_reason(&data), reason);
    if (strstr(data, text) == NULL)
        fail_msg("error \"%s\" does not say \"%s\"", data, text);
    ERR_clear_error();
}

static void *new_ctx(TPMKMS_KEY *key)
{
    return tpmkms_alg_is_rsa(key->pub.alg) ? tpmkms_rsa_newctx(&provctx, NULL)
                                           : tpmkms_ecdsa_newctx(&provctx, NULL);
}

static int set_str(void *ctx, const char *name, const char *value)
{
    OSSL_PARAM params[2];

    params[0] = OSSL_PARAM_construct_utf8_string(name, (char *)value, 0);
    params[1] = OSSL_PARAM_construct_end();
    return tpmkms_signature_set_ctx_params(ctx, params);
}

static int set_int(void *ctx, const char *name, int value)
{
    OSSL_PARAM params[2] = { OSSL_PARAM_int(name, &value), OSSL_PARAM_END };

    return tpmkms_signature_set_ctx_params(ctx, params);
}

/* OpenSSL's own verdict on a signature of dgst: 1 good, 0 not. */
static int openssl_verifies(EVP_PKEY *pkey, const char *md, const char *pad,
                            int saltlen, const unsigned char *sig,
                            size_t siglen, const unsigned char *dgst,
                            size_t dlen)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(pkey, NULL);
    int rv;

    assert_non_null(pctx);
    assert_int_equal(EVP_PKEY_verify_init(pctx), 1);
    assert_true(EVP_PKEY_CTX_set_signature_md(pctx, EVP_get_digestbyname(md)) > 0);
    if (pad != NULL) {
        assert_true(EVP_PKEY_CTX_set_rsa_padding(
            pctx, strcmp(pad, "pss") == 0 ? RSA_PKCS1_PSS_PADDING
                                          : RSA_PKCS1_PADDING) > 0);
        if (strcmp(pad, "pss") == 0)
            assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen) > 0);
    }
    rv = EVP_PKEY_verify(pctx, sig, siglen, dgst, dlen);
    EVP_PKEY_CTX_free(pctx);
    ERR_clear_error();
    return rv == 1;
}

static size_t digest_of(const char *md, const char *msg, unsigned char *out)
{
    unsigned int len = 0;

    assert_true(EVP_Digest(msg, strlen(msg), out, &len,
                           EVP_get_digestbyname(md), NULL));
    return len;
}

/* ---- ECDSA ------------------------------------------------------------ */

static void ecdsa_digest_sign_gives_der_that_openssl_verifies(void **state)
{
    static const struct { const char *group, *md; } cases[] = {
        { "P-256", "SHA256" }, { "P-384", "SHA384" },
    };

    for (size_t i = 0; i < 2; i++) {
        TPMKMS_KEY *key = make_key(ec_key(cases[i].group));
        void *ctx = new_ctx(key);
        unsigned char sig[256], dgst[64];
        size_t siglen = 0, max = 0, dlen;

        /* No digest named: SHA-256 for P-256, SHA-384 for P-384. */
        assert_int_equal(tpmkms_signature_digest_sign_init(ctx, NULL, key, NULL), 1);
        assert_int_equal(tpmkms_signature_digest_sign(ctx, NULL, &max, 0,
                                                      NULL, 0), 1);
        assert_int_equal(max, cases[i].group[2] == '2' ? 72 : 104);
        assert_int_equal(tpmkms_signature_digest_update(ctx, (const unsigned char *)"hello ", 6), 1);
        assert_int_equal(tpmkms_signature_digest_update(ctx, (const unsigned char *)"world", 5), 1);
        assert_int_equal(tpmkms_signature_digest_sign_final(ctx, sig, &siglen,
                                                            sizeof(sig)), 1);
        assert_true(siglen <= max);
        assert_int_equal(tpm_last_scheme, TPMKMS_SCHEME_ECDSA);
        dlen = digest_of(cases[i].md, "hello world", dgst);
        assert_true(openssl_verifies(tpm_pkey, cases[i].md, NULL, 0, sig,
                                     siglen, dgst, dlen));
        /* The one-shot path restarts the digest each time. */
        siglen = 0;
        assert_int_equal(tpmkms_signature_digest_sign(ctx, sig, &siglen, sizeof(sig),
                                                      (const unsigned char *)"hello world",
                                                      11), 1);
        assert_true(openssl_verifies(tpm_pkey, cases[i].md, NULL, 0, sig,
                                     siglen, dgst, dlen));
        dgst[0] ^= 1;
        assert_false(openssl_verifies(tpm_pkey, cases[i].md, NULL, 0, sig,
                                      siglen, dgst, dlen));
        tpmkms_signature_freectx(ctx);
        tpmkms_key_free(key);
    }
}

/* The hand-written DER must equal libcrypto's for r and s whose top bit
 * is set, that start with zero bytes, or that are zero. */
static void ecdsa_der_matches_libcrypto_for_awkward_r_and_s(void **state)
{
    static const unsigned char fills[][2] = {
        { 0x80, 0xff }, { 0x00, 0x7f }, { 0x00, 0x00 }, { 0x01, 0x80 },
        { 0x7f, 0x00 }, { 0xff, 0xff },
    };
    TPMKMS_SIG_CTX ctx = { 0 };
    size_t sizes[] = { 32, 48 };

    for (size_t z = 0; z < 2; z++) {
        for (size_t f = 0; f < sizeof(fills) / sizeof(fills[0]); f++) {
            unsigned char rs[96], ours[TPMKMS_SIG_MAX], *theirs = NULL;
            size_t half = sizes[z], len = 0;
            ECDSA_SIG *es = ECDSA_SIG_new();
            int tlen;

            memset(rs, 0, sizeof(rs));
            /* r: leading fill byte then 0x11s; s: zeros then the other fill */
            rs[0] = fills[f][0];
            memset(rs + 1, 0x11, half - 1);
            memset(rs + half, 0, half);
            rs[half + 3] = fills[f][1];
            assert_true(sig_ecdsa_to_der(&ctx, rs, 2 * half, ours, &len,
                                         sizeof(ours)));
            ECDSA_SIG_set0(es, BN_bin2bn(rs, (int)half, NULL),
                           BN_bin2bn(rs + half, (int)half, NULL));
            tlen = i2d_ECDSA_SIG(es, &theirs);
            assert_int_equal(len, (size_t)tlen);
            assert_memory_equal(ours, theirs, len);
            OPENSSL_free(theirs);
            ECDSA_SIG_free(es);
        }
    }
}

static void ecdsa_sign_infers_the_digest_from_its_length(void **state)
{
    TPMKMS_KEY *key = make_key(ec_key("P-256"));
    void *ctx = new_ctx(key);
    unsigned char sig[128], dgst[64];
    size_t siglen, dlen = digest_of("SHA512", "m", dgst);

    assert_int_equal(tpmkms_signature_sign_init(ctx, key, NULL), 1);
    siglen = 0;
    assert_int_equal(tpmkms_signature_sign(ctx, sig, &siglen, sizeof(sig), dgst,
                                           dlen), 1);
    assert_true(openssl_verifies(tpm_pkey, "SHA512", NULL, 0, sig, siglen,
                                 dgst, dlen));
    /* 33 bytes are no digest. */
    assert_int_equal(tpmkms_signature_sign(ctx, sig, &siglen, sizeof(sig), dgst,
                                           33), 0);
    assert_error(TPMKMS_R_BAD_PARAMETER, "33-byte input");
    tpmkms_signature_freectx(ctx);
    tpmkms_key_free(key);
}

static void sign_refuses_input_not_matching_the_set_digest(void **state)
{
    TPMKMS_KEY *key = make_key(ec_key("P-256"));
    void *ctx = new_ctx(key);
    unsigned char sig[128], dgst[32] = { 0 };
    size_t siglen = 0;

    assert_int_equal(tpmkms_signature_sign_init(ctx, key, NULL), 1);
    assert_int_equal(set_str(ctx, "digest", "SHA384"), 1);
    assert_int_equal(tpmkms_signature_sign(ctx, sig, &siglen, sizeof(sig), dgst,
                                           sizeof(dgst)), 0);
    assert_error(TPMKMS_R_BAD_PARAMETER, "32 bytes but a SHA384 digest is 48");
    assert_int_equal(tpm_signs, 0);
    tpmkms_signature_freectx(ctx);
    tpmkms_key_free(key);
}

static void digest_the_tpm_cannot_sign_with_is_refused_by_name(void **state)
{
    TPMKMS_KEY *key = make_key(ec_key("P-256"));
    void *ctx = new_ctx(key);

    assert_int_equal(tpmkms_signature_digest_sign_init(ctx, "SHA3-256", key, NULL), 0);
    assert_error(TPMKMS_R_UNSUPPORTED_ALGORITHM, "digest SHA3-256 cannot be used");
    assert_int_equal(set_str(ctx, "digest", "no-such-digest"), 0);
    assert_error(TPMKMS_R_UNSUPPORTED_ALGORITHM, "no-such-digest is not available");
    tpmkms_signature_freectx(ctx);
    tpmkms_key_free(key);
}

static void ecdsa_table_refuses_an_rsa_key(void **state)
{
    TPMKMS_KEY *key = make_key(rsa_key(2048));
    void *ctx = tpmkms_ecdsa_newctx(&provctx, NULL);

    assert_int_equal(tpmkms_signature_sign_init(ctx, key, NULL), 0);
    assert_error(TPMKMS_R_UNSUPPORTED_ALGORITHM, "cannot make ECDSA signatures");
    tpmkms_signature_freectx(ctx);
    tpmkms_key_free(key);
}

/* ---- RSA -------------------------------------------------------------- */

static void rsa_pkcs1_signs_with_the_tpm_scheme(void **state)
{
    static const char *mds[] = { "SHA256", "SHA384", "SHA512" };
    TPMKMS_KEY *key = make_key(rsa_key(2048));

    for (size_t i = 0; i < 3; i++) {
        void *ctx = new_ctx(key);
        unsigned char sig[512], dgst[64];
        size_t siglen = 0, dlen = digest_of(mds[i], "rsa", dgst);

        assert_int_equal(tpmkms_signature_sign_init(ctx, key, NULL), 1);
        assert_int_equal(tpmkms_signature_sign(ctx, sig, &siglen, sizeof(sig),
                                               dgst, dlen), 1);
        assert_int_equal(siglen, 256);
        assert_int_equal(tpm_last_scheme, TPMKMS_SCHEME_RSA_PKCS1);
        assert_true(openssl_verifies(tpm_pkey, mds[i], "pkcs1", 0, sig, siglen,
                                     dgst, dlen));
        tpmkms_signature_freectx(ctx);
    }
    tpmkms_key_free(key);
}

/* Signs the SHA-256 of "pss" with PSS and the given saltlen string. */
static int pss_sign(TPMKMS_KEY *key, const char *saltlen, unsigned char *sig,
                    size_t *siglen, unsigned char *dgst)
{
    void *ctx = new_ctx(key);
    size_t dlen = digest_of("SHA256", "pss", dgst);
    int ok;

    assert_int_equal(tpmkms_signature_sign_init(ctx, key, NULL), 1);
    assert_int_equal(set_str(ctx, "pad-mode", "pss"), 1);
    if (saltlen != NULL)
        assert_int_equal(set_str(ctx, "saltlen", saltlen), 1);
    *siglen = 0;
    ok = tpmkms_signature_sign(ctx, sig, siglen, 512, dgst, dlen);
    tpmkms_signature_freectx(ctx);
    return ok;
}

static void rsa_pss_salt_digest_is_one_tpm_pss_sign(void **state)
{
    TPMKMS_KEY *key = make_key(rsa_key(2048));
    unsigned char sig[512], dgst[32];
    size_t siglen;

    /* Unset and "digest" both mean salt = digest length. */
    assert_int_equal(pss_sign(key, NULL, sig, &siglen, dgst), 1);
    assert_int_equal(tpm_last_scheme, TPMKMS_SCHEME_RSA_PSS);
    assert_true(openssl_verifies(tpm_pkey, "SHA256", "pss", RSA_PSS_SALTLEN_DIGEST,
                                 sig, siglen, dgst, 32));
    assert_int_equal(pss_sign(key, "digest", sig, &siglen, dgst), 1);
    assert_int_equal(tpm_last_scheme, TPMKMS_SCHEME_RSA_PSS);
    assert_int_equal(pss_sign(key, "32", sig, &siglen, dgst), 1);
    assert_int_equal(tpm_last_scheme, TPMKMS_SCHEME_RSA_PSS);
    assert_int_equal(tpm_signs, 3);
    tpmkms_key_free(key);
}

static void rsa_pss_other_salts_are_encoded_and_signed_raw(void **state)
{
    static const struct { const char *name; int check; } cases[] = {
        { "max", RSA_PSS_SALTLEN_MAX }, { "auto", 222 }, { "0", 0 },
        { "20", 20 }, { "100", 100 }, { "222", 222 },
    };
    TPMKMS_KEY *key = make_key(rsa_key(2048));
    unsigned char sig[512], dgst[32];
    size_t siglen;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(pss_sign(key, cases[i].name, sig, &siglen, dgst), 1);
        assert_int_equal(tpm_last_scheme, TPMKMS_SCHEME_RSA_RAW);
        assert_int_equal(siglen, 256);
        if (!openssl_verifies(tpm_pkey, "SHA256", "pss", cases[i].check, sig,
                              siglen, dgst, 32))
            fail_msg("saltlen %s does not verify", cases[i].name);
        /* Proof the check can fail: the wrong salt length is refused. */
        assert_false(openssl_verifies(tpm_pkey, "SHA256", "pss",
                                      cases[i].check == 100 ? 99 : 100, sig,
                                      siglen, dgst, 32));
    }
    tpmkms_key_free(key);
}

static void rsa_pss_max_salt_without_decrypt_says_use_digest(void **state)
{
    TPMKMS_KEY *key = make_key(rsa_key(2048));
    unsigned char sig[512], dgst[32];
    size_t siglen;

    key->pub.can_decrypt = 0;
    assert_int_equal(pss_sign(key, "max", sig, &siglen, dgst), 0);
    assert_error(TPMKMS_R_UNSUPPORTED_ALGORITHM, "rsa_pss_saltlen:digest");
    assert_int_equal(tpm_signs, 0);
    tpmkms_key_free(key);
}

static void rsa_pss_salt_too_large_for_the_key_is_refused(void **state)
{
    TPMKMS_KEY *key = make_key(rsa_key(2048));
    unsigned char sig[512], dgst[32];
    size_t siglen;

    assert_int_equal(pss_sign(key, "223", sig, &siglen, dgst), 0);
    assert_error(TPMKMS_R_BAD_PARAMETER, "at most 222");
    assert_int_equal(tpm_signs, 0);
    tpmkms_key_free(key);
}

static void rsa_params_refuse_what_the_tpm_cannot_do(void **state)
{
    TPMKMS_KEY *key = make_key(rsa_key(2048));
    void *ctx = new_ctx(key);

    assert_int_equal(tpmkms_signature_sign_init(ctx, key, NULL), 1);
    assert_int_equal(set_str(ctx, "pad-mode", "none"), 0);
    assert_error(TPMKMS_R_UNSUPPORTED_ALGORITHM, "padding mode none");
    assert_int_equal(set_int(ctx, "pad-mode", RSA_X931_PADDING), 0);
    assert_error(TPMKMS_R_UNSUPPORTED_ALGORITHM, "padding mode 5");
    assert_int_equal(set_str(ctx, "saltlen", "digest"), 0);
    assert_error(TPMKMS_R_BAD_PARAMETER, "needs pss padding");
    assert_int_equal(set_int(ctx, "pad-mode", RSA_PKCS1_PSS_PADDING), 1);
    assert_int_equal(set_str(ctx, "saltlen", "lots"), 0);
    assert_error(TPMKMS_R_BAD_PARAMETER, "\"lots\"");
    assert_int_equal(set_int(ctx, "saltlen", -5), 0);
    assert_error(TPMKMS_R_BAD_PARAMETER, "-5");
    assert_int_equal(set_str(ctx, "digest", "SHA256"), 1);
    assert_int_equal(set_str(ctx, "mgf1-digest", "SHA384"), 0);
    assert_error(TPMKMS_R_UNSUPPORTED_ALGORITHM, "MGF1 digest SHA384 differs");
    assert_int_equal(set_str(ctx, "mgf1-digest", "SHA256"), 1);
    tpmkms_signature_freectx(ctx);
    tpmkms_key_free(key);
}

static void failed_set_params_change_nothing(void **state)
{
    TPMKMS_KEY *key = make_key(rsa_key(2048));
    void *ctx = new_ctx(key);
    char pad[16] = "", *pp = pad;
    OSSL_PARAM get[2] = {
        OSSL_PARAM_utf8_string("pad-mode", pp, sizeof(pad)), OSSL_PARAM_END
    };
    OSSL_PARAM set[3];

    set[0] = OSSL_PARAM_construct_utf8_string("pad-mode", "pss", 0);
    set[1] = OSSL_PARAM_construct_utf8_string("saltlen", "bad", 0);
    set[2] = OSSL_PARAM_construct_end();
    assert_int_equal(tpmkms_signature_sign_init(ctx, key, NULL), 1);
    assert_int_equal(tpmkms_signature_set_ctx_params(ctx, set), 0);
    assert_error(TPMKMS_R_BAD_PARAMETER, "\"bad\"");
    assert_int_equal(tpmkms_signature_get_ctx_params(ctx, get), 1);
    assert_string_equal(pad, "pkcs1");
    tpmkms_signature_freectx(ctx);
    tpmkms_key_free(key);
}

static void dupctx_carries_the_digest_state(void **state)
{
    TPMKMS_KEY *key = make_key(ec_key("P-256"));
    void *ctx = new_ctx(key), *dup;
    unsigned char sig[128], dgst[32];
    size_t siglen = 0;

    assert_int_equal(tpmkms_signature_digest_sign_init(ctx, "SHA256", key, NULL), 1);
    assert_int_equal(tpmkms_signature_digest_update(ctx, (const unsigned char *)"ab", 2), 1);
    dup = tpmkms_signature_dupctx(ctx);
    assert_non_null(dup);
    tpmkms_signature_freectx(ctx);          /* the copy holds its own refs */
    assert_int_equal(tpmkms_signature_digest_update(dup, (const unsigned char *)"c", 1), 1);
    assert_int_equal(tpmkms_signature_digest_sign_final(dup, sig, &siglen,
                                                        sizeof(sig)), 1);
    digest_of("SHA256", "abc", dgst);
    assert_true(openssl_verifies(tpm_pkey, "SHA256", NULL, 0, sig, siglen,
                                 dgst, 32));
    tpmkms_signature_freectx(dup);
    tpmkms_signature_freectx(NULL);
    tpmkms_key_free(key);
}

static void verify_uses_the_public_key_and_no_tpm(void **state)
{
    TPMKMS_KEY *key = make_key(rsa_key(2048));
    void *ctx = new_ctx(key);
    unsigned char sig[512], dgst[32];
    size_t siglen;

    assert_int_equal(pss_sign(key, "max", sig, &siglen, dgst), 1);
    tpm_signs = 0;
    assert_int_equal(tpmkms_signature_verify_init(ctx, key, NULL), 1);
    assert_int_equal(set_str(ctx, "pad-mode", "pss"), 1);
    assert_int_equal(tpmkms_signature_verify(ctx, sig, siglen, dgst, 32), 1);
    assert_int_equal(set_str(ctx, "saltlen", "digest"), 1);
    assert_int_equal(tpmkms_signature_verify(ctx, sig, siglen, dgst, 32), 0);
    ERR_clear_error();
    assert_int_equal(tpm_signs, 0);
    tpmkms_signature_freectx(ctx);

    /* digest verify, ECDSA */
    tpmkms_key_free(key);
    key = make_key(ec_key("P-384"));
    ctx = new_ctx(key);
    assert_int_equal(tpmkms_signature_digest_sign_init(ctx, NULL, key, NULL), 1);
    siglen = 0;
    assert_int_equal(tpmkms_signature_digest_sign(ctx, sig, &siglen, sizeof(sig),
                                                  (const unsigned char *)"x", 1), 1);
    assert_int_equal(tpmkms_signature_digest_verify_init(ctx, NULL, key, NULL), 1);
    assert_int_equal(tpmkms_signature_digest_update(ctx, (const unsigned char *)"x", 1), 1);
    assert_int_equal(tpmkms_signature_digest_verify_final(ctx, sig, siglen), 1);
    assert_int_equal(tpmkms_signature_digest_verify_init(ctx, NULL, key, NULL), 1);
    assert_int_equal(tpmkms_signature_digest_update(ctx, (const unsigned char *)"y", 1), 1);
    assert_int_equal(tpmkms_signature_digest_verify_final(ctx, sig, siglen), 0);
    ERR_clear_error();
    tpmkms_signature_freectx(ctx);
    tpmkms_key_free(key);
}

/* ---- AlgorithmIdentifier ---------------------------------------------- */

/* OpenSSL's AlgorithmIdentifier for the same key and settings. */
static size_t openssl_aid(EVP_PKEY *pkey, const char *md, const char *pad,
                          int saltlen, unsigned char *aid, size_t len)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    OSSL_PARAM get[2] = {
        OSSL_PARAM_octet_string("algorithm-id", aid, len), OSSL_PARAM_END
    };

    assert_int_equal(EVP_DigestSignInit_ex(mctx, &pctx, md, NULL, NULL, pkey,
                                           NULL), 1);
    if (pad != NULL) {
        assert_true(EVP_PKEY_CTX_set_rsa_padding(
            pctx, strcmp(pad, "pss") == 0 ? RSA_PKCS1_PSS_PADDING
                                          : RSA_PKCS1_PADDING) > 0);
        if (strcmp(pad, "pss") == 0)
            assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen) > 0);
    }
    assert_int_equal(EVP_PKEY_CTX_get_params(pctx, get), 1);
    EVP_MD_CTX_free(mctx);
    return get[0].return_size;
}

static size_t our_aid(TPMKMS_KEY *key, const char *md, const char *pad,
                      const char *saltlen, unsigned char *aid, size_t len)
{
    void *ctx = new_ctx(key);
    OSSL_PARAM get[2] = {
        OSSL_PARAM_octet_string("algorithm-id", aid, len), OSSL_PARAM_END
    };

    assert_int_equal(tpmkms_signature_digest_sign_init(ctx, md, key, NULL), 1);
    if (pad != NULL)
        assert_int_equal(set_str(ctx, "pad-mode", pad), 1);
    if (saltlen != NULL)
        assert_int_equal(set_str(ctx, "saltlen", saltlen), 1);
    if (tpmkms_signature_get_ctx_params(ctx, get) != 1) {
        ERR_print_errors_fp(stderr);
        fail_msg("%s %s %s: no algorithm-id", md, pad ? pad : "", saltlen ? saltlen : "");
    }
    tpmkms_signature_freectx(ctx);
    return get[0].return_size;
}

static void algorithm_id_is_the_one_openssl_writes(void **state)
{
    static const struct {
        int rsa;
        const char *md, *pad, *saltlen;
        int ossl_saltlen;
    } cases[] = {
        { 0, "SHA256", NULL, NULL, 0 },
        { 0, "SHA384", NULL, NULL, 0 },
        { 0, "SHA512", NULL, NULL, 0 },
        { 1, "SHA256", "pkcs1", NULL, 0 },
        { 1, "SHA384", "pkcs1", NULL, 0 },
        { 1, "SHA512", "pkcs1", NULL, 0 },
        { 1, "SHA1", "pkcs1", NULL, 0 },
        { 1, "SHA256", "pss", NULL, 32 },
        { 1, "SHA384", "pss", "digest", 48 },
        { 1, "SHA512", "pss", "digest", 64 },
        { 1, "SHA256", "pss", "max", 222 },
        { 1, "SHA256", "pss", "auto", 222 },
        { 1, "SHA256", "pss", "20", 20 },
        { 1, "SHA256", "pss", "0", 0 },
        { 1, "SHA1", "pss", "digest", 20 },
        { 1, "SHA1", "pss", "max", 234 },
    };
    TPMKMS_KEY *ec = make_key(ec_key("P-256"));
    EVP_PKEY *ec_pkey = tpm_pkey;
    TPMKMS_KEY *rsa;

    EVP_PKEY_up_ref(ec_pkey);
    rsa = make_key(rsa_key(2048));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char ours[128], theirs[128];
        size_t n_ours, n_theirs;
        const unsigned char *p = ours;
        X509_ALGOR *alg;

        n_ours = our_aid(cases[i].rsa ? rsa : ec, cases[i].md, cases[i].pad,
                         cases[i].saltlen, ours, sizeof(ours));
        n_theirs = openssl_aid(cases[i].rsa ? tpm_pkey : ec_pkey, cases[i].md,
                               cases[i].pad, cases[i].ossl_saltlen, theirs,
                               sizeof(theirs));
        if (n_ours != n_theirs || memcmp(ours, theirs, n_ours) != 0)
            fail_msg("case %zu (%s %s %s): AlgorithmIdentifier differs "
                     "(%zu vs OpenSSL's %zu bytes)", i, cases[i].md,
                     cases[i].pad ? cases[i].pad : "ecdsa",
                     cases[i].saltlen ? cases[i].saltlen : "-", n_ours, n_theirs);
        alg = d2i_X509_ALGOR(NULL, &p, (long)n_ours);
        assert_non_null(alg);
        X509_ALGOR_free(alg);
    }
    EVP_PKEY_free(ec_pkey);
    tpmkms_key_free(ec);
    tpmkms_key_free(rsa);
}

/* ---- EMSA-PSS on its own ---------------------------------------------- */

/*
 * Modulus sizes that are not whole bytes: emBits = modBits - 1 leaves
 * 8 * emLen - emBits top bits clear, and 1025 bits make EM a byte shorter
 * than the modulus.
 */
static void pss_encoding_verifies_for_odd_modulus_sizes(void **state)
{
    static const size_t sizes[] = { 1023, 1025, 1030 };

    for (size_t i = 0; i < 3; i++) {
        EVP_PKEY *pkey = NULL;
        EVP_PKEY_CTX *pctx;

        /* Two primes of about half the size give n of bits or bits-1. */
        for (int tries = 0; tries < 32; tries++) {
            EVP_PKEY_free(pkey);
            pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", sizes[i]);
            if ((size_t)EVP_PKEY_get_bits(pkey) == sizes[i])
                break;
        }
        pctx = EVP_PKEY_CTX_new(pkey, NULL);
        EVP_MD *md = EVP_MD_fetch(NULL, "SHA384", NULL);
        unsigned char em[512], sig[512], dgst[64];
        size_t k = (size_t)EVP_PKEY_get_size(pkey), siglen = sizeof(sig);
        size_t dlen = digest_of("SHA384", "odd", dgst);
        long max = tpmkms_pss_max_salt(sizes[i], dlen);

        if ((size_t)EVP_PKEY_get_bits(pkey) != sizes[i])
            fail_msg("asked for a %zu-bit key, got %d bits", sizes[i],
                     EVP_PKEY_get_bits(pkey));

        assert_int_equal(tpmkms_pss_encode(NULL, md, dgst, dlen, (size_t)max,
                                           sizes[i], em, k, "t"), TPMKMS_R_OK);
        assert_int_equal(EVP_PKEY_sign_init(pctx), 1);
        assert_true(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_NO_PADDING) > 0);
        if (EVP_PKEY_sign(pctx, sig, &siglen, em, k) != 1) {
            ERR_print_errors_fp(stderr);
            fail_msg("raw RSA of a %zu-bit key failed", sizes[i]);
        }
        assert_true(openssl_verifies(pkey, "SHA384", "pss", (int)max, sig,
                                     siglen, dgst, dlen));
        assert_int_equal(tpmkms_pss_encode(NULL, md, dgst, dlen, (size_t)max + 1,
                                           sizes[i], em, k, "t"),
                         TPMKMS_R_BAD_PARAMETER);
        ERR_clear_error();
        EVP_MD_free(md);
        EVP_PKEY_CTX_free(pctx);
        EVP_PKEY_free(pkey);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(ecdsa_digest_sign_gives_der_that_openssl_verifies, setup),
        cmocka_unit_test_setup(ecdsa_der_matches_libcrypto_for_awkward_r_and_s, setup),
        cmocka_unit_test_setup(ecdsa_sign_infers_the_digest_from_its_length, setup),
        cmocka_unit_test_setup(sign_refuses_input_not_matching_the_set_digest, setup),
        cmocka_unit_test_setup(digest_the_tpm_cannot_sign_with_is_refused_by_name, setup),
        cmocka_unit_test_setup(ecdsa_table_refuses_an_rsa_key, setup),
        cmocka_unit_test_setup(rsa_pkcs1_signs_with_the_tpm_scheme, setup),
        cmocka_unit_test_setup(rsa_pss_salt_digest_is_one_tpm_pss_sign, setup),
        cmocka_unit_test_setup(rsa_pss_other_salts_are_encoded_and_signed_raw, setup),
        cmocka_unit_test_setup(rsa_pss_max_salt_without_decrypt_says_use_digest, setup),
        cmocka_unit_test_setup(rsa_pss_salt_too_large_for_the_key_is_refused, setup),
        cmocka_unit_test_setup(rsa_params_refuse_what_the_tpm_cannot_do, setup),
        cmocka_unit_test_setup(failed_set_params_change_nothing, setup),
        cmocka_unit_test_setup(dupctx_carries_the_digest_state, setup),
        cmocka_unit_test_setup(verify_uses_the_public_key_and_no_tpm, setup),
        cmocka_unit_test_setup(algorithm_id_is_the_one_openssl_writes, setup),
        cmocka_unit_test_setup(pss_encoding_verifies_for_odd_modulus_sizes, setup),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
