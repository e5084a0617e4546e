/*
 * The encoders (provider/encoder/encoder.c), called directly with memory
 * BIOs over a key of the fake backend: the TSS2 PRIVATE KEY they write is
 * the key's own blob; SubjectPublicKeyInfo is OpenSSL's encoding of the
 * same public key; a persistent key has no key file; and a key file is
 * never encrypted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* The code under test, with its static functions. */
#include "../../provider/encoder/encoder.c"

#include "fake_backend.h"
#include "core_bio.h"
#include "test_util.h"

static TPMKMS_PROVCTX provctx;
static TPMKMS_KEYBLOB blob;     /* the key's material, as a key file */
static TPMKMS_KEY *key;         /* a TPM key of that blob */
static EVP_PKEY *soft;          /* the software key the fake "TPM" holds */
static BIO *out;

static int setup(void **state)
{
    (void)state;
    fake_backend_reset();
    memset(&provctx, 0, sizeof(provctx));
    if ((provctx.libctx = core_bio_libctx()) == NULL
            || (provctx.ctx = tpmkms_ctx_new(provctx.libctx, NULL,
                                             fake_backend_method())) == NULL
            || fake_make_key_blob(provctx.ctx, TPMKMS_ALG_EC_P256, "enc",
                                  &blob) != TPMKMS_R_OK)
        return -1;
    if (tpmkms_key_from_blob(provctx.ctx, &blob, "enc.key", &key)
            != TPMKMS_R_OK)
        return -1;
    soft = fake_blob_software_key(&blob);
    out = BIO_new(BIO_s_mem());
    ERR_clear_error();
    return soft == NULL || out == NULL;
}

static int teardown(void **state)
{
    (void)state;
    BIO_free(out);
    EVP_PKEY_free(soft);
    tpmkms_key_free(key);
    tpmkms_keyblob_clear(&blob);
    tpmkms_ctx_free(provctx.ctx);
    OSSL_LIB_CTX_free(provctx.libctx);
    key = NULL;
    soft = NULL;
    return 0;
}

static size_t out_bytes(const unsigned char **data)
{
    char *mem = NULL;
    long len = BIO_get_mem_data(out, &mem);

    *data = (const unsigned char *)mem;
    return (size_t)len;
}

static void blob_is(const TPMKMS_KEYBLOB *got)
{
    unsigned char *want_der = NULL, *got_der = NULL;
    size_t want_len = 0, got_len = 0;

    assert_int_equal(tpmkms_tss2key_to_der(&blob, &want_der, &want_len),
                     TPMKMS_R_OK);
    assert_int_equal(tpmkms_tss2key_to_der(got, &got_der, &got_len),
                     TPMKMS_R_OK);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got_der, want_der, want_len);
    OPENSSL_free(want_der);
    OPENSSL_free(got_der);
}

static void encoder_writes_the_keys_blob_as_a_tss2_private_key_pem(void **state)
{
    void *ectx = tpmkms_encoder_newctx(&provctx);
    TPMKMS_KEYBLOB got = { 0 };
    const unsigned char *data;
    size_t len;

    (void)state;
    assert_int_equal(tpmkms_tss2_pem_encode(ectx, CORE_BIO(out), key, NULL,
                                            OSSL_KEYMGMT_SELECT_KEYPAIR,
                                            NULL, NULL), 1);
    len = out_bytes(&data);
    assert_true(len > 0);
    assert_memory_equal(data, "-----BEGIN TSS2 PRIVATE KEY-----", 32);
    assert_int_equal(tpmkms_tss2key_from_pem((const char *)data, len, &got),
                     TPMKMS_R_OK);
    blob_is(&got);
    tpmkms_keyblob_clear(&got);
    /* The type-specific one (i2d_PrivateKey's) writes the same file. */
    assert_int_equal(BIO_reset(out), 1);
    assert_int_equal(tpmkms_tss2_ts_pem_encode(ectx, CORE_BIO(out), key, NULL,
                                               OSSL_KEYMGMT_SELECT_KEYPAIR,
                                               NULL, NULL), 1);
    len = out_bytes(&data);
    assert_int_equal(tpmkms_tss2key_from_pem((const char *)data, len, &got),
                     TPMKMS_R_OK);
    blob_is(&got);
    tpmkms_keyblob_clear(&got);
    tpmkms_encoder_freectx(ectx);
}

static void encoder_writes_the_keys_blob_as_a_tss2_private_key_der(void **state)
{
    void *ectx = tpmkms_encoder_newctx(&provctx);
    TPMKMS_KEYBLOB got = { 0 };
    const unsigned char *data;
    size_t len;

    (void)state;
    assert_int_equal(tpmkms_tss2_der_encode(ectx, CORE_BIO(out), key, NULL,
                                            OSSL_KEYMGMT_SELECT_KEYPAIR,
                                            NULL, NULL), 1);
    len = out_bytes(&data);
    assert_int_equal(tpmkms_tss2key_from_der(data, len, &got), TPMKMS_R_OK);
    blob_is(&got);
    assert_int_equal(got.empty_auth, 1);
    tpmkms_keyblob_clear(&got);
    tpmkms_encoder_freectx(ectx);
}

static void encoder_writes_subjectpublickeyinfo_as_openssl_does(void **state)
{
    void *ectx = tpmkms_encoder_newctx(&provctx);
    unsigned char *want = NULL;
    const unsigned char *data;
    BIO *pem = BIO_new(BIO_s_mem());
    char *want_pem = NULL;
    long want_pem_len;
    int want_len;
    size_t len;

    (void)state;
    assert_int_equal(tpmkms_spki_der_encode(ectx, CORE_BIO(out), key, NULL,
                                            OSSL_KEYMGMT_SELECT_PUBLIC_KEY,
                                            NULL, NULL), 1);
    assert_true((want_len = i2d_PUBKEY(soft, &want)) > 0);
    len = out_bytes(&data);
    assert_int_equal(len, (size_t)want_len);
    assert_memory_equal(data, want, len);

    assert_int_equal(BIO_reset(out), 1);
    assert_int_equal(tpmkms_spki_pem_encode(ectx, CORE_BIO(out), key, NULL,
                                            OSSL_KEYMGMT_SELECT_PUBLIC_KEY,
                                            NULL, NULL), 1);
    assert_true(PEM_write_bio_PUBKEY(pem, soft));
    want_pem_len = BIO_get_mem_data(pem, &want_pem);
    len = out_bytes(&data);
    assert_int_equal(len, (size_t)want_pem_len);
    assert_memory_equal(data, want_pem, len);
    /* Neither sent anything to the TPM. */
    assert_int_equal(fake_counts.loads, 0);
    assert_int_equal(fake_counts.signs, 0);
    BIO_free(pem);
    OPENSSL_free(want);
    tpmkms_encoder_freectx(ectx);
}

static void encoder_refuses_a_persistent_key_that_has_no_key_file(void **state)
{
    void *ectx = tpmkms_encoder_newctx(&provctx);
    TPMKMS_BACKEND *b = tpmkms_ctx_backend(provctx.ctx, NULL);
    TPMKMS_KEYDATA kd;
    TPMKMS_URI *uri = NULL;
    TPMKMS_KEY *pkey = NULL;
    const unsigned char *data;

    (void)state;
    assert_int_equal(tpmkms_keydata_from_blob(&blob, &kd), TPMKMS_R_OK);
    assert_int_equal(tpmkms_backend_persist(b, &kd, 0x81000010, "enc"),
                     TPMKMS_R_OK);
    tpmkms_keydata_clear(&kd);
    assert_int_equal(tpmkms_uri_parse("tpmkms:handle=0x81000010", &uri),
                     TPMKMS_R_OK);
    assert_int_equal(tpmkms_key_open(provctx.ctx, uri, &pkey), TPMKMS_R_OK);

    assert_int_equal(tpmkms_tss2_pem_encode(ectx, CORE_BIO(out), pkey, NULL,
                                            OSSL_KEYMGMT_SELECT_KEYPAIR,
                                            NULL, NULL), 0);
    assert_int_equal(last_reason(), TPMKMS_R_UNSUPPORTED_ALGORITHM);
    assert_non_null(strstr(last_message(), "has no key file"));
    assert_non_null(strstr(last_message(), "0x81000010"));
    assert_int_equal(out_bytes(&data), 0);
    ERR_clear_error();
    assert_int_equal(tpmkms_tss2_der_encode(ectx, CORE_BIO(out), pkey, NULL,
                                            OSSL_KEYMGMT_SELECT_KEYPAIR,
                                            NULL, NULL), 0);
    assert_non_null(strstr(last_message(), "has no key file"));
    assert_int_equal(out_bytes(&data), 0);
    /* Its public half it still writes. */
    assert_int_equal(tpmkms_spki_der_encode(ectx, CORE_BIO(out), pkey, NULL,
                                            OSSL_KEYMGMT_SELECT_PUBLIC_KEY,
                                            NULL, NULL), 1);
    assert_true(out_bytes(&data) > 0);
    tpmkms_key_free(pkey);
    tpmkms_uri_free(uri);
    tpmkms_backend_free(b);
    tpmkms_encoder_freectx(ectx);
}

static void encoder_refuses_to_encrypt_a_key_file(void **state)
{
    void *ectx = tpmkms_encoder_newctx(&provctx);
    OSSL_PARAM params[2];
    const unsigned char *data;

    (void)state;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_ENCODER_PARAM_CIPHER,
                                                 "AES-256-CBC", 0);
    params[1] = OSSL_PARAM_construct_end();
    assert_int_equal(tpmkms_encoder_set_ctx_params(ectx, params), 1);
    assert_int_equal(tpmkms_tss2_pem_encode(ectx, CORE_BIO(out), key, NULL,
                                            OSSL_KEYMGMT_SELECT_KEYPAIR,
                                            NULL, NULL), 0);
    assert_int_equal(last_reason(), TPMKMS_R_BAD_PARAMETER);
    assert_non_null(strstr(last_message(), "cannot be encrypted"));
    assert_non_null(strstr(last_message(), "enc.key"));
    assert_int_equal(out_bytes(&data), 0);

    /* An empty cipher name takes the request back. */
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_ENCODER_PARAM_CIPHER,
                                                 "", 0);
    assert_int_equal(tpmkms_encoder_set_ctx_params(ectx, params), 1);
    assert_int_equal(tpmkms_tss2_pem_encode(ectx, CORE_BIO(out), key, NULL,
                                            OSSL_KEYMGMT_SELECT_KEYPAIR,
                                            NULL, NULL), 1);
    assert_true(out_bytes(&data) > 0);
    tpmkms_encoder_freectx(ectx);
}

static void encoder_answers_selections_by_level(void **state)
{
    (void)state;
    assert_int_equal(tpmkms_tss2_does_selection(&provctx,
                         OSSL_KEYMGMT_SELECT_PRIVATE_KEY), 1);
    assert_int_equal(tpmkms_tss2_does_selection(&provctx,
                         OSSL_KEYMGMT_SELECT_PUBLIC_KEY), 0);
    assert_int_equal(tpmkms_spki_does_selection(&provctx,
                         OSSL_KEYMGMT_SELECT_PUBLIC_KEY), 1);
    assert_int_equal(tpmkms_spki_does_selection(&provctx,
                         OSSL_KEYMGMT_SELECT_KEYPAIR), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(encoder_writes_the_keys_blob_as_a_tss2_private_key_pem),
        T(encoder_writes_the_keys_blob_as_a_tss2_private_key_der),
        T(encoder_writes_subjectpublickeyinfo_as_openssl_does),
        T(encoder_refuses_a_persistent_key_that_has_no_key_file),
        T(encoder_refuses_to_encrypt_a_key_file),
        T(encoder_answers_selections_by_level),
    };

    tpmkms_err_init_standalone();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
