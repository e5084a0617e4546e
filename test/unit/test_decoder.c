/*
 * The decoders (provider/decoder/decoder.c), called directly with memory
 * BIOs: a TSS2 PRIVATE KEY PEM becomes DER for the key decoders, which
 * hand a key object out by reference; what is not a TSS2 key is declined
 * (1, no object, nothing on the error queue) so other decoders get their
 * turn; a key file with an auth value needs its passphrase; and the
 * load-time TPM check runs only over connections that survive fork.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <openssl/err.h>

/* The code under test, with its static functions. */
#include "../../provider/decoder/decoder.c"

#include "fake_backend.h"
#include "core_bio.h"
#include "test_util.h"

static TPMKMS_PROVCTX provctx;

/* What the object callback got. */
static int n_objects;
static int obj_type;
static char obj_structure[16];
static TPMKMS_KEY *obj_key;             /* own ref */
static unsigned char *obj_data;         /* PEM decoder's DER, copied */
static size_t obj_data_len;

static const char *pw_answer;
static int pw_calls;

static int record_object(const OSSL_PARAM params[], void *arg)
{
    const OSSL_PARAM *p;
    const char *s = NULL;
    const void *ref = NULL;
    size_t ref_len = 0;

    (void)arg;
    n_objects++;
    assert_non_null(p = OSSL_PARAM_locate_const(params, OSSL_OBJECT_PARAM_TYPE));
    assert_true(OSSL_PARAM_get_int(p, &obj_type));
    if ((p = OSSL_PARAM_locate_const(params,
                                     OSSL_OBJECT_PARAM_DATA_STRUCTURE)) != NULL
            && OSSL_PARAM_get_utf8_string_ptr(p, &s))
        snprintf(obj_structure, sizeof(obj_structure), "%s", s);
    if ((p = OSSL_PARAM_locate_const(params, OSSL_OBJECT_PARAM_REFERENCE)) != NULL) {
        assert_true(OSSL_PARAM_get_octet_string_ptr(p, &ref, &ref_len));
        assert_int_equal(ref_len, sizeof(obj_key));
        assert_null(obj_key);
        memcpy(&obj_key, ref, sizeof(obj_key));
        assert_true(tpmkms_key_up_ref(obj_key));
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_OBJECT_PARAM_DATA)) != NULL) {
        OPENSSL_free(obj_data);
        obj_data = OPENSSL_memdup(p->data, p->data_size);
        obj_data_len = p->data_size;
    }
    return 1;
}

static int answer_pass(char *pass, size_t pass_size, size_t *pass_len,
                       const OSSL_PARAM params[], void *arg)
{
    (void)params;
    (void)arg;
    pw_calls++;
    if (pw_answer == NULL)
        return 0;
    *pass_len = strlen(pw_answer);
    assert_true(*pass_len <= pass_size);
    memcpy(pass, pw_answer, *pass_len);
    return 1;
}

/*
 * The provider context over the fake backend with connection tcti; the
 * counts start again after the old context closed its connection.
 */
static void use_connection(const char *tcti)
{
    tpmkms_ctx_free(provctx.ctx);
    assert_non_null(provctx.ctx = tpmkms_ctx_new(provctx.libctx, tcti,
                                                 fake_backend_method()));
    fake_backend_reset();
}

static int setup(void **state)
{
    (void)state;
    fake_backend_reset();
    memset(&provctx, 0, sizeof(provctx));
    n_objects = 0;
    obj_type = 0;
    obj_structure[0] = '\0';
    obj_key = NULL;
    obj_data = NULL;
    obj_data_len = 0;
    pw_answer = NULL;
    pw_calls = 0;
    if ((provctx.libctx = core_bio_libctx()) == NULL)
        return -1;
    provctx.ctx = tpmkms_ctx_new(provctx.libctx, NULL, fake_backend_method());
    ERR_clear_error();
    return provctx.ctx == NULL;
}

static int teardown(void **state)
{
    (void)state;
    tpmkms_key_free(obj_key);
    OPENSSL_free(obj_data);
    tpmkms_ctx_free(provctx.ctx);
    OSSL_LIB_CTX_free(provctx.libctx);
    return 0;
}

/* A key file of a fresh fake key: its blob and public half. */
static void make_blob(tpmkms_alg alg, const char *pin, TPMKMS_KEYBLOB *blob,
                      TPMKMS_PUBLIC *pub)
{
    TPMKMS_BACKEND *b = tpmkms_ctx_backend(provctx.ctx, NULL);
    TPMKMS_CREATE_PARAMS params = { alg, (const unsigned char *)pin,
                                    pin != NULL ? strlen(pin) : 0, "dec",
                                    TPMKMS_USAGE_BOTH };
    TPMKMS_KEYDATA made = { 0 };

    assert_non_null(b);
    assert_int_equal(tpmkms_backend_create_key(b, &params, &made, pub),
                     TPMKMS_R_OK);
    assert_int_equal(tpmkms_keydata_to_blob(&made, blob, "dec"), TPMKMS_R_OK);
    tpmkms_keydata_clear(&made);
    tpmkms_backend_free(b);
    fake_backend_reset();
}

typedef int decode_fn(void *, OSSL_CORE_BIO *, int, OSSL_CALLBACK *, void *,
                      OSSL_PASSPHRASE_CALLBACK *, void *);

static int decode(decode_fn *fn, const void *data, size_t len)
{
    void *dctx = tpmkms_decoder_newctx(&provctx);
    BIO *in = BIO_new_mem_buf(data, (int)len);
    int ok;

    assert_non_null(dctx);
    assert_non_null(in);
    ok = fn(dctx, CORE_BIO(in), OSSL_KEYMGMT_SELECT_KEYPAIR, record_object,
            NULL, answer_pass, NULL);
    BIO_free(in);
    tpmkms_decoder_freectx(dctx);
    return ok;
}

static void decoder_turns_a_tss2_pem_into_der_and_then_a_key(void **state)
{
    TPMKMS_KEYBLOB blob = { 0 };
    TPMKMS_PUBLIC pub;
    char *pem = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0;

    (void)state;
    make_blob(TPMKMS_ALG_EC_P256, NULL, &blob, &pub);
    assert_int_equal(tpmkms_tss2key_to_pem(&blob, &pem), TPMKMS_R_OK);
    assert_int_equal(tpmkms_tss2key_to_der(&blob, &der, &der_len), TPMKMS_R_OK);

    /* PEM to DER, marked as a TSS2 structure. */
    assert_int_equal(decode(tpmkms_pem_decode, pem, strlen(pem)), 1);
    assert_int_equal(n_objects, 1);
    assert_int_equal(obj_type, OSSL_OBJECT_PKEY);
    assert_string_equal(obj_structure, "TSS2");
    assert_int_equal(obj_data_len, der_len);
    assert_memory_equal(obj_data, der, der_len);

    /* That DER to a key object by reference, whose public key matches. */
    assert_int_equal(decode(tpmkms_ec_der_decode, obj_data, obj_data_len), 1);
    assert_int_equal(n_objects, 2);
    assert_int_equal(obj_type, OSSL_OBJECT_PKEY);
    assert_non_null(obj_key);
    assert_true(tpmkms_public_equal(&obj_key->pub, &pub));
    assert_non_null(strstr(obj_key->uri, "TSS2 key file"));
    assert_int_equal(obj_key->refcnt, 1);   /* the decoder let go of its own */
    tpmkms_keyblob_clear(&blob);
    OPENSSL_free(pem);
    OPENSSL_free(der);
}

static void decoder_turns_tss2_der_into_a_key_of_its_family_only(void **state)
{
    TPMKMS_KEYBLOB blob = { 0 };
    TPMKMS_PUBLIC pub;
    unsigned char *der = NULL;
    size_t der_len = 0;

    (void)state;
    make_blob(TPMKMS_ALG_RSA_2048, NULL, &blob, &pub);
    assert_int_equal(tpmkms_tss2key_to_der(&blob, &der, &der_len), TPMKMS_R_OK);
    /* The EC decoder leaves an RSA key file to the RSA one. */
    assert_int_equal(decode(tpmkms_ec_der_decode, der, der_len), 1);
    assert_int_equal(n_objects, 0);
    assert_int_equal(ERR_peek_error(), 0);
    assert_int_equal(decode(tpmkms_rsa_der_decode, der, der_len), 1);
    assert_int_equal(n_objects, 1);
    assert_non_null(obj_key);
    assert_int_equal(obj_key->pub.alg, TPMKMS_ALG_RSA_2048);
    assert_true(tpmkms_public_equal(&obj_key->pub, &pub));
    tpmkms_keyblob_clear(&blob);
    OPENSSL_free(der);
}

static void decoder_declines_what_is_not_a_tss2_key_without_an_error(void **state)
{
    static const char text[] = "-----BEGIN PRIVATE KEY-----\nAAAA\n"
                               "-----END PRIVATE KEY-----\n";
    static const unsigned char junk[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    unsigned char *pkcs8 = NULL;
    int pkcs8_len;

    (void)state;
    assert_non_null(pkey);
    assert_true((pkcs8_len = i2d_PrivateKey(pkey, &pkcs8)) > 0);
    assert_int_equal(decode(tpmkms_pem_decode, text, sizeof(text) - 1), 1);
    assert_int_equal(decode(tpmkms_ec_der_decode, junk, sizeof(junk)), 1);
    assert_int_equal(decode(tpmkms_rsa_der_decode, junk, sizeof(junk)), 1);
    /* A software key's DER is someone else's too. */
    assert_int_equal(decode(tpmkms_ec_der_decode, pkcs8, (size_t)pkcs8_len), 1);
    assert_int_equal(n_objects, 0);
    assert_int_equal(ERR_peek_error(), 0);
    assert_int_equal(fake_counts.connects, 0);
    OPENSSL_free(pkcs8);
    EVP_PKEY_free(pkey);
}

static void decoder_fails_on_a_damaged_tss2_key_file(void **state)
{
    TPMKMS_KEYBLOB blob = { 0 };
    TPMKMS_PUBLIC pub;
    unsigned char *der = NULL;
    size_t der_len = 0;

    (void)state;
    make_blob(TPMKMS_ALG_EC_P256, NULL, &blob, &pub);
    assert_int_equal(tpmkms_tss2key_to_der(&blob, &der, &der_len), TPMKMS_R_OK);
    /* The TPMKey OID is there, the rest is cut off: a damaged key file. */
    assert_int_equal(decode(tpmkms_ec_der_decode, der, der_len / 2), 0);
    assert_int_equal(n_objects, 0);
    assert_int_equal(last_reason(), TPMKMS_R_BAD_KEY_FILE);
    tpmkms_keyblob_clear(&blob);
    OPENSSL_free(der);
}

static void decoder_of_a_key_file_with_auth_and_no_passphrase_is_auth_failed(void **state)
{
    TPMKMS_KEYBLOB blob = { 0 };
    TPMKMS_PUBLIC pub;
    unsigned char *der = NULL;
    size_t der_len = 0;

    (void)state;
    make_blob(TPMKMS_ALG_EC_P256, "1234", &blob, &pub);
    assert_int_equal(blob.empty_auth, 0);
    assert_int_equal(tpmkms_tss2key_to_der(&blob, &der, &der_len), TPMKMS_R_OK);

    assert_int_equal(decode(tpmkms_ec_der_decode, der, der_len), 0);
    assert_int_equal(pw_calls, 1);
    assert_int_equal(n_objects, 0);
    assert_int_equal(last_reason(), TPMKMS_R_AUTH_FAILED);
    assert_non_null(strstr(last_message(), "TSS2 key file"));
    assert_non_null(strstr(last_message(), "emptyAuth is false"));
    assert_non_null(strstr(last_message(), "nothing was sent to the TPM"));
    assert_int_equal(fake_counts.connects, 0);

    /* Given as the passphrase, it is the key's auth value. */
    ERR_clear_error();
    pw_answer = "1234";
    assert_int_equal(decode(tpmkms_ec_der_decode, der, der_len), 1);
    assert_int_equal(n_objects, 1);
    assert_int_equal(obj_key->ref.auth_len, 4);
    assert_memory_equal(obj_key->ref.auth, "1234", 4);
    tpmkms_keyblob_clear(&blob);
    OPENSSL_free(der);
}

static void decoder_checks_the_tpm_only_over_a_connection_that_survives_fork(void **state)
{
    TPMKMS_KEYBLOB blob = { 0 };
    TPMKMS_PUBLIC pub;
    unsigned char *der = NULL;
    size_t der_len = 0;

    (void)state;
    make_blob(TPMKMS_ALG_EC_P256, NULL, &blob, &pub);
    assert_int_equal(tpmkms_tss2key_to_der(&blob, &der, &der_len), TPMKMS_R_OK);

    use_connection("forksafe:port=2321");
    assert_int_equal(decode(tpmkms_ec_der_decode, der, der_len), 1);
    assert_int_equal(n_objects, 1);
    assert_int_equal(fake_counts.checks, 1);
    /* Over a connection of its own, closed before returning. */
    assert_int_equal(fake_counts.connects, 1);
    assert_int_equal(fake_counts.disconnects, 1);
    assert_string_equal(fake_counts.last_tcti, "forksafe:port=2321");

    tpmkms_key_free(obj_key);
    obj_key = NULL;
    use_connection("tabrmd");
    assert_int_equal(decode(tpmkms_ec_der_decode, der, der_len), 1);
    assert_int_equal(n_objects, 2);
    assert_int_equal(fake_counts.checks, 0);
    assert_int_equal(fake_counts.connects, 0);

    /* A TPM that does not answer fails the forksafe load. */
    tpmkms_key_free(obj_key);
    obj_key = NULL;
    use_connection("forksafe:port=2321");
    fake_fail_next_connect = TPMKMS_R_TPM_UNAVAILABLE;
    assert_int_equal(decode(tpmkms_ec_der_decode, der, der_len), 0);
    assert_int_equal(last_reason(), TPMKMS_R_TPM_UNAVAILABLE);
    assert_int_equal(n_objects, 2);
    tpmkms_keyblob_clear(&blob);
    OPENSSL_free(der);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(decoder_turns_a_tss2_pem_into_der_and_then_a_key),
        T(decoder_turns_tss2_der_into_a_key_of_its_family_only),
        T(decoder_declines_what_is_not_a_tss2_key_without_an_error),
        T(decoder_fails_on_a_damaged_tss2_key_file),
        T(decoder_of_a_key_file_with_auth_and_no_passphrase_is_auth_failed),
        T(decoder_checks_the_tpm_only_over_a_connection_that_survives_fork),
    };

    tpmkms_err_init_standalone();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
