/*
 * RSA decryption (provider/asymcipher) against a backend that decrypts
 * like a TPM: TPM2_RSA_Decrypt with RSAES or OAEP, the label as given (a
 * TPM's includes its terminating zero).  Everything is encrypted by
 * OpenSSL's default provider; what the TPM cannot take (a label without
 * its zero, another MGF1 digest, raw or TLS padding) is refused before the
 * backend is called.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/err.h>

/* The code under test, with its static functions. */
#include "../../provider/asymcipher/asymcipher.c"

/* ---- a backend that decrypts like a TPM ------------------------------- */

static EVP_PKEY *tpm_pkey;              /* the "TPM" private key */
static int tpm_decrypts;
static TPMKMS_DECRYPT_PARAMS tpm_last;
static unsigned char tpm_last_label[TPMKMS_OAEP_LABEL_MAX];

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

static tpmkms_rc tpmlike_decrypt(void *state, TPMKMS_KEYREF *key,
                                 const TPMKMS_DECRYPT_PARAMS *params,
                                 const unsigned char *in, size_t inlen,
                                 unsigned char *out, size_t *outlen)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(tpm_pkey, NULL);
    int ok = pctx != NULL && EVP_PKEY_decrypt_init(pctx) > 0;

    tpm_decrypts++;
    tpm_last = *params;
    if (params->label_len > 0)
        memcpy(tpm_last_label, params->label, params->label_len);
    tpm_last.label = tpm_last_label;
    if (params->padding == TPMKMS_PAD_OAEP) {
        const EVP_MD *md = EVP_get_digestbyname(tpmkms_hash_name(params->hash));

        ok = ok && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) > 0
             && EVP_PKEY_CTX_set_rsa_oaep_md(pctx, md) > 0
             && EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) > 0;
        if (ok && params->label_len > 0)
            ok = EVP_PKEY_CTX_set0_rsa_oaep_label(
                     pctx, OPENSSL_memdup(params->label, params->label_len),
                     (int)params->label_len) > 0;
    } else {
        ok = ok && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
    }
    ok = ok && EVP_PKEY_decrypt(pctx, out, outlen, in, inlen) > 0;
    EVP_PKEY_CTX_free(pctx);
    if (!ok) {
        ERR_clear_error();
        TPMKMS_raise(TPMKMS_R_DECRYPT_FAILED, "%s: tpmlike refused it",
                     key->label);
        return TPMKMS_R_DECRYPT_FAILED;
    }
    return TPMKMS_R_OK;
}

static const TPMKMS_KEY_METHODS tpmlike_keys = {
    .decrypt = tpmlike_decrypt,
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
static EVP_PKEY *rsa2048;

/* A TPM key over tpm_pkey (RSA-2048); decrypt: its decrypt attribute. */
static TPMKMS_KEY *make_key(int decrypt)
{
    TPMKMS_KEY *key = tpmkms_key_new(backend, NULL);
    BIGNUM *n = NULL;

    assert_non_null(key);
    memset(&key->pub, 0, sizeof(key->pub));
    key->pub.alg = TPMKMS_ALG_RSA_2048;
    assert_true(EVP_PKEY_get_bn_param(tpm_pkey, OSSL_PKEY_PARAM_RSA_N, &n));
    key->pub.rsa_n_len = (size_t)BN_num_bytes(n);
    BN_bn2bin(n, key->pub.rsa_n);
    BN_free(n);
    key->pub.rsa_e = 65537;
    key->pub.can_sign = 1;
    key->pub.can_decrypt = decrypt;
    key->uri = OPENSSL_strdup("tpmkms:name=dectest;key-scope=user");
    key->ref.label = key->uri;
    key->needs_auth = 0;
    return key;
}

static int setup(void **state)
{
    tpm_decrypts = 0;
    memset(&tpm_last, 0, sizeof(tpm_last));
    ERR_clear_error();
    return 0;
}

static int group_setup(void **state)
{
    tpmkms_err_init_standalone();
    backend = tpmkms_backend_new(&tpmlike_method, "tpmlike");
    rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    tpm_pkey = rsa2048;
    return backend == NULL || rsa2048 == NULL;
}

static int group_teardown(void **state)
{
    EVP_PKEY_free(rsa2048);
    tpmkms_backend_free(backend);
    return 0;
}

static void assert_error(int reason, const char *text)
{
    const char *d = "";
    int flags = 0;
    unsigned long e = ERR_peek_last_error_all(NULL, NULL, NULL, &d, &flags);

    assert_int_equal(ERR_GET_REASON(e), reason);
    if ((flags & ERR_TXT_STRING) == 0 || strstr(d, text) == NULL)
        fail_msg("error \"%s\" does not say \"%s\"", d, text);
    ERR_clear_error();
}

/*
 * Software encryption of msg to tpm_pkey's public half: pad "pkcs1" or
 * "oaep" with md (both OAEP and MGF1) and label (len bytes, may be 0).
 */
static size_t sw_encrypt(const char *pad, const char *md,
                         const unsigned char *label, size_t label_len,
                         const char *msg, unsigned char *ct)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(tpm_pkey, NULL);
    size_t len = 512;

    assert_non_null(pctx);
    assert_int_equal(EVP_PKEY_encrypt_init(pctx), 1);
    if (strcmp(pad, "oaep") == 0) {
        assert_true(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) > 0);
        assert_true(EVP_PKEY_CTX_set_rsa_oaep_md_name(pctx, md, NULL) > 0);
        if (label_len > 0)
            assert_true(EVP_PKEY_CTX_set0_rsa_oaep_label(
                            pctx, OPENSSL_memdup(label, label_len),
                            (int)label_len) > 0);
    }
    assert_int_equal(EVP_PKEY_encrypt(pctx, ct, &len,
                                      (const unsigned char *)msg,
                                      strlen(msg)), 1);
    EVP_PKEY_CTX_free(pctx);
    return len;
}

static int set_str(void *ctx, const char *name, const char *value)
{
    OSSL_PARAM params[2];

    params[0] = OSSL_PARAM_construct_utf8_string(name, (char *)value, 0);
    params[1] = OSSL_PARAM_construct_end();
    return tpmkms_asym_set_ctx_params(ctx, params);
}

static int set_label(void *ctx, const unsigned char *label, size_t len)
{
    OSSL_PARAM params[2];

    params[0] = OSSL_PARAM_construct_octet_string(
        OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, (void *)label, len);
    params[1] = OSSL_PARAM_construct_end();
    return tpmkms_asym_set_ctx_params(ctx, params);
}

/* ---- decryption ------------------------------------------------------- */

static void pkcs1_is_the_default_and_round_trips(void **state)
{
    TPMKMS_KEY *key = make_key(1);
    void *ctx = tpmkms_asym_newctx(&provctx);
    unsigned char ct[512], pt[512];
    size_t ctlen = sw_encrypt("pkcs1", NULL, NULL, 0, "hello", ct);
    size_t ptlen = 0;

    assert_int_equal(tpmkms_asym_decrypt_init(ctx, key, NULL), 1);
    /* Asked for the size, it says the modulus size and sends nothing. */
    assert_int_equal(tpmkms_asym_decrypt(ctx, NULL, &ptlen, 0, ct, ctlen), 1);
    assert_int_equal(ptlen, 256);
    assert_int_equal(tpm_decrypts, 0);
    assert_int_equal(tpmkms_asym_decrypt(ctx, pt, &ptlen, sizeof(pt), ct,
                                         ctlen), 1);
    assert_int_equal(tpm_decrypts, 1);
    assert_int_equal(tpm_last.padding, TPMKMS_PAD_PKCS1);
    assert_int_equal(ptlen, 5);
    assert_memory_equal(pt, "hello", 5);
    tpmkms_asym_freectx(ctx);
    tpmkms_key_free(key);
}

static void oaep_takes_digest_and_a_label_ending_in_zero(void **state)
{
    static const unsigned char label[] = "label";   /* with its zero */
    static const char *mds[] = { "SHA1", "SHA2-256", "SHA384", "sha512" };
    static const tpmkms_hash hashes[] = {
        TPMKMS_HASH_SHA1, TPMKMS_HASH_SHA256, TPMKMS_HASH_SHA384,
        TPMKMS_HASH_SHA512
    };
    TPMKMS_KEY *key = make_key(1);

    for (size_t i = 0; i < 4; i++) {
        void *ctx = tpmkms_asym_newctx(&provctx);
        unsigned char ct[512], pt[512];
        size_t ctlen = sw_encrypt("oaep", mds[i], label, sizeof(label),
                                  "secret", ct);
        size_t ptlen = sizeof(pt);

        assert_int_equal(tpmkms_asym_decrypt_init(ctx, key, NULL), 1);
        assert_int_equal(set_str(ctx, OSSL_ASYM_CIPHER_PARAM_PAD_MODE, "oaep"), 1);
        assert_int_equal(set_str(ctx, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST,
                                 mds[i]), 1);
        assert_int_equal(set_str(ctx, OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST,
                                 mds[i]), 1);
        assert_int_equal(set_label(ctx, label, sizeof(label)), 1);
        assert_int_equal(tpmkms_asym_decrypt(ctx, pt, &ptlen, sizeof(pt), ct,
                                             ctlen), 1);
        assert_int_equal(tpm_last.padding, TPMKMS_PAD_OAEP);
        assert_int_equal(tpm_last.hash, hashes[i]);
        assert_int_equal(tpm_last.label_len, sizeof(label));
        assert_memory_equal(tpm_last.label, label, sizeof(label));
        assert_int_equal(ptlen, 6);
        assert_memory_equal(pt, "secret", 6);
        tpmkms_asym_freectx(ctx);
    }
    tpmkms_key_free(key);
}

static void oaep_digest_defaults_to_sha1_and_int_pad_mode_works(void **state)
{
    TPMKMS_KEY *key = make_key(1);
    void *ctx = tpmkms_asym_newctx(&provctx);
    int pad = RSA_PKCS1_OAEP_PADDING;
    OSSL_PARAM params[2] = {
        OSSL_PARAM_int(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, &pad), OSSL_PARAM_END
    };
    unsigned char ct[512], pt[512];
    size_t ctlen = sw_encrypt("oaep", "SHA1", NULL, 0, "x", ct);
    size_t ptlen = sizeof(pt);
    char md[32] = "", *mdp = md;
    OSSL_PARAM get[2] = {
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, md,
                               sizeof(md)),
        OSSL_PARAM_END
    };

    (void)mdp;
    assert_int_equal(tpmkms_asym_decrypt_init(ctx, key, params), 1);
    assert_int_equal(tpmkms_asym_decrypt(ctx, pt, &ptlen, sizeof(pt), ct,
                                         ctlen), 1);
    assert_int_equal(tpm_last.hash, TPMKMS_HASH_SHA1);
    assert_int_equal(tpm_last.label_len, 0);
    assert_int_equal(tpmkms_asym_get_ctx_params(ctx, get), 1);
    assert_string_equal(md, "SHA1");
    tpmkms_asym_freectx(ctx);
    tpmkms_key_free(key);
}

static void labels_the_tpm_cannot_take_are_refused_before_it(void **state)
{
    static const unsigned char no_zero[] = { 'a', 'b', 'c' };
    unsigned char long_label[TPMKMS_OAEP_LABEL_MAX + 1];
    TPMKMS_KEY *key = make_key(1);
    void *ctx = tpmkms_asym_newctx(&provctx);

    memset(long_label, 'x', sizeof(long_label));
    long_label[sizeof(long_label) - 1] = 0;
    assert_int_equal(tpmkms_asym_decrypt_init(ctx, key, NULL), 1);
    assert_int_equal(set_label(ctx, no_zero, sizeof(no_zero)), 0);
    assert_error(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                 "does not end in a zero octet");
    assert_int_equal(set_label(ctx, long_label, sizeof(long_label)), 0);
    assert_error(TPMKMS_R_UNSUPPORTED_ALGORITHM, "a TPM takes at most 66");
    /* The largest the TPM takes, and an empty one, are fine. */
    assert_int_equal(set_label(ctx, long_label + 1, sizeof(long_label) - 1), 1);
    assert_int_equal(set_label(ctx, long_label, 0), 1);
    assert_null(((TPMKMS_ASYM_CTX *)ctx)->label);
    assert_int_equal(tpm_decrypts, 0);
    tpmkms_asym_freectx(ctx);
    tpmkms_key_free(key);
}

static void what_the_tpm_cannot_do_is_refused_by_name(void **state)
{
    TPMKMS_KEY *key = make_key(1);
    void *ctx = tpmkms_asym_newctx(&provctx);
    unsigned char ct[256] = { 1 }, pt[256];
    size_t ptlen = sizeof(pt);
    int tls = RSA_PKCS1_WITH_TLS_PADDING;
    OSSL_PARAM tls_param[2] = {
        OSSL_PARAM_int(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, &tls), OSSL_PARAM_END
    };

    assert_int_equal(tpmkms_asym_decrypt_init(ctx, key, NULL), 1);
    assert_int_equal(set_str(ctx, OSSL_ASYM_CIPHER_PARAM_PAD_MODE, "none"), 0);
    assert_error(TPMKMS_R_UNSUPPORTED_ALGORITHM, "raw RSA decryption");
    assert_int_equal(set_str(ctx, OSSL_ASYM_CIPHER_PARAM_PAD_MODE, "x931"), 0);
    assert_error(TPMKMS_R_UNSUPPORTED_ALGORITHM, "padding mode x931");
    assert_int_equal(tpmkms_asym_set_ctx_params(ctx, tls_param), 0);
    assert_error(TPMKMS_R_UNSUPPORTED_ALGORITHM, "TLS 1.2 RSA key exchange");
    assert_int_equal(set_str(ctx, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST,
                             "SHA3-256"), 0);
    assert_error(TPMKMS_R_UNSUPPORTED_ALGORITHM, "OAEP digest SHA3-256");
    /* Nothing changed: still PKCS#1 v1.5. */
    assert_int_equal(((TPMKMS_ASYM_CTX *)ctx)->pad_mode, RSA_PKCS1_PADDING);
    /* Another MGF1 digest is caught when the TPM would be asked. */
    assert_int_equal(set_str(ctx, OSSL_ASYM_CIPHER_PARAM_PAD_MODE, "oaep"), 1);
    assert_int_equal(set_str(ctx, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST,
                             "SHA256"), 1);
    assert_int_equal(set_str(ctx, OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST,
                             "SHA1"), 1);
    assert_int_equal(tpmkms_asym_decrypt(ctx, pt, &ptlen, sizeof(pt), ct,
                                         sizeof(ct)), 0);
    assert_error(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                 "MGF1 digest SHA1 and OAEP digest SHA256");
    assert_int_equal(tpm_decrypts, 0);
    tpmkms_asym_freectx(ctx);
    tpmkms_key_free(key);
}

static void a_sign_only_key_is_refused_at_init(void **state)
{
    TPMKMS_KEY *key = make_key(0);
    void *ctx = tpmkms_asym_newctx(&provctx);

    assert_int_equal(tpmkms_asym_decrypt_init(ctx, key, NULL), 0);
    assert_error(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                 "name=dectest;key-scope=user: the key lacks the decrypt attribute");
    tpmkms_asym_freectx(ctx);
    tpmkms_key_free(key);
}

static void a_refused_ciphertext_is_one_error(void **state)
{
    TPMKMS_KEY *key = make_key(1);
    void *ctx = tpmkms_asym_newctx(&provctx);
    unsigned char ct[512], pt[512];
    size_t ctlen = sw_encrypt("oaep", "SHA256", NULL, 0, "x", ct);
    size_t ptlen = sizeof(pt);

    assert_int_equal(tpmkms_asym_decrypt_init(ctx, key, NULL), 1);
    assert_int_equal(tpmkms_asym_decrypt(ctx, pt, &ptlen, sizeof(pt), ct,
                                         ctlen), 0);
    assert_error(TPMKMS_R_DECRYPT_FAILED, "tpmlike refused it");
    tpmkms_asym_freectx(ctx);
    tpmkms_key_free(key);
}

static void a_small_output_buffer_is_refused(void **state)
{
    TPMKMS_KEY *key = make_key(1);
    void *ctx = tpmkms_asym_newctx(&provctx);
    unsigned char ct[512], pt[4];
    size_t ctlen = sw_encrypt("pkcs1", NULL, NULL, 0, "hello", ct);
    size_t ptlen = sizeof(pt);

    assert_int_equal(tpmkms_asym_decrypt_init(ctx, key, NULL), 1);
    assert_int_equal(tpmkms_asym_decrypt(ctx, pt, &ptlen, sizeof(pt), ct,
                                         ctlen), 0);
    assert_error(TPMKMS_R_BAD_PARAMETER, "has 5 bytes, the output buffer room for 4");
    tpmkms_asym_freectx(ctx);
    tpmkms_key_free(key);
}

/* ---- encryption and copies --------------------------------------------- */

static void encryption_with_a_tpm_key_runs_in_software(void **state)
{
    TPMKMS_KEY *key = make_key(1);
    void *ctx = tpmkms_asym_newctx(&provctx);
    EVP_PKEY_CTX *dec = EVP_PKEY_CTX_new(tpm_pkey, NULL);
    unsigned char ct[512], pt[512];
    size_t ctlen = 0, ptlen = sizeof(pt);

    assert_int_equal(tpmkms_asym_encrypt_init(ctx, key, NULL), 1);
    assert_int_equal(set_str(ctx, OSSL_ASYM_CIPHER_PARAM_PAD_MODE, "oaep"), 1);
    assert_int_equal(tpmkms_asym_encrypt(ctx, NULL, &ctlen, 0,
                                         (const unsigned char *)"abc", 3), 1);
    assert_int_equal(ctlen, 256);
    assert_int_equal(tpmkms_asym_encrypt(ctx, ct, &ctlen, sizeof(ct),
                                         (const unsigned char *)"abc", 3), 1);
    assert_int_equal(tpm_decrypts, 0);
    assert_non_null(dec);
    assert_int_equal(EVP_PKEY_decrypt_init(dec), 1);
    assert_true(EVP_PKEY_CTX_set_rsa_padding(dec, RSA_PKCS1_OAEP_PADDING) > 0);
    assert_int_equal(EVP_PKEY_decrypt(dec, pt, &ptlen, ct, ctlen), 1);
    assert_int_equal(ptlen, 3);
    assert_memory_equal(pt, "abc", 3);
    /* Decrypting with an encryption context is not started. */
    assert_int_equal(tpmkms_asym_decrypt(ctx, pt, &ptlen, sizeof(pt), ct,
                                         ctlen), 0);
    assert_error(TPMKMS_R_BAD_PARAMETER, "decryption was not initialised");
    EVP_PKEY_CTX_free(dec);
    tpmkms_asym_freectx(ctx);
    tpmkms_key_free(key);
}

static void dupctx_carries_the_label(void **state)
{
    static const unsigned char label[] = "L";
    TPMKMS_KEY *key = make_key(1);
    void *ctx = tpmkms_asym_newctx(&provctx), *dup;
    unsigned char ct[512], pt[512];
    size_t ctlen = sw_encrypt("oaep", "SHA256", label, sizeof(label), "dup",
                              ct);
    size_t ptlen = sizeof(pt);

    assert_int_equal(tpmkms_asym_decrypt_init(ctx, key, NULL), 1);
    assert_int_equal(set_str(ctx, OSSL_ASYM_CIPHER_PARAM_PAD_MODE, "oaep"), 1);
    assert_int_equal(set_str(ctx, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST,
                             "SHA256"), 1);
    assert_int_equal(set_label(ctx, label, sizeof(label)), 1);
    dup = tpmkms_asym_dupctx(ctx);
    assert_non_null(dup);
    tpmkms_asym_freectx(ctx);
    assert_int_equal(tpmkms_asym_decrypt(dup, pt, &ptlen, sizeof(pt), ct,
                                         ctlen), 1);
    assert_memory_equal(pt, "dup", 3);
    assert_int_equal(key->refcnt, 2);
    tpmkms_asym_freectx(dup);
    tpmkms_key_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(pkcs1_is_the_default_and_round_trips, setup),
        cmocka_unit_test_setup(oaep_takes_digest_and_a_label_ending_in_zero, setup),
        cmocka_unit_test_setup(oaep_digest_defaults_to_sha1_and_int_pad_mode_works, setup),
        cmocka_unit_test_setup(labels_the_tpm_cannot_take_are_refused_before_it, setup),
        cmocka_unit_test_setup(what_the_tpm_cannot_do_is_refused_by_name, setup),
        cmocka_unit_test_setup(a_sign_only_key_is_refused_at_init, setup),
        cmocka_unit_test_setup(a_refused_ciphertext_is_one_error, setup),
        cmocka_unit_test_setup(a_small_output_buffer_is_refused, setup),
        cmocka_unit_test_setup(encryption_with_a_tpm_key_runs_in_software, setup),
        cmocka_unit_test_setup(dupctx_carries_the_label, setup),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
