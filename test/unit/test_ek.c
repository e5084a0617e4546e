/*
 * attest/ek.c without a TPM: the outer SEQUENCE's length trims an EK
 * certificate's padding, the EKPub hash is SHA-256 of the DER
 * SubjectPublicKeyInfo, and an EK certificate is checked against the
 * recomputed EK: the same key matches, another key is an error naming
 * both hashes, bytes that are no certificate are an error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include "attest/ek.h"
#include "errors.h"
#include "test_util.h"

static int setup(void **state)
{
    (void)state;
    ERR_clear_error();
    return 0;
}

/* An EC P-256 key and a self-signed certificate of it, DER. */
static EVP_PKEY *make_cert(unsigned char **der, size_t *len)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    int n;

    assert_non_null(k);
    assert_non_null(x);
    assert_true(X509_set_version(x, 2));
    assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), 7));
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    assert_true(X509_set_pubkey(x, k));
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    *der = NULL;
    n = i2d_X509(x, der);
    assert_true(n > 0);
    *len = (size_t)n;
    X509_free(x);
    return k;
}

static void public_of(EVP_PKEY *k, TPMKMS_PUBLIC *pub)
{
    memset(pub, 0, sizeof(*pub));
    pub->alg = TPMKMS_ALG_EC_P256;
    assert_true(EVP_PKEY_get_octet_string_param(k,
                    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub->ec_point,
                    sizeof(pub->ec_point), &pub->ec_point_len));
}

static void spki_sha256(EVP_PKEY *k, unsigned char out[32])
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);

    assert_true(n > 0);
    SHA256(der, (size_t)n, out);
    OPENSSL_free(der);
}

static void der_length_short_and_long_forms(void **state)
{
    static const unsigned char short_form[] = { 0x30, 0x03, 1, 2, 3, 0, 0 };
    static const unsigned char long2[] = { 0x30, 0x82, 0x01, 0x00 };
    static const unsigned char indefinite[] = { 0x30, 0x80, 0, 0 };
    static const unsigned char not_minimal[] = { 0x30, 0x81, 0x05, 1, 2, 3,
                                                 4, 5 };
    static const unsigned char set[] = { 0x31, 0x00 };
    unsigned char big[0x104 + 8];
    size_t len = 0;

    (void)state;
    assert_true(tpmkms_der_sequence_length(short_form, sizeof(short_form),
                                           &len));
    assert_int_equal(len, 5);
    memset(big, 0xff, sizeof(big));
    memcpy(big, long2, sizeof(long2));
    assert_true(tpmkms_der_sequence_length(big, sizeof(big), &len));
    assert_int_equal(len, 0x104);
    /* Longer than the bytes there are. */
    assert_false(tpmkms_der_sequence_length(big, 0x103, &len));
    assert_false(tpmkms_der_sequence_length(long2, sizeof(long2), &len));
    assert_false(tpmkms_der_sequence_length(indefinite, sizeof(indefinite),
                                            &len));
    assert_false(tpmkms_der_sequence_length(not_minimal, sizeof(not_minimal),
                                            &len));
    assert_false(tpmkms_der_sequence_length(set, sizeof(set), &len));
    assert_false(tpmkms_der_sequence_length(short_form, 1, &len));
}

/* The certificate of the recomputed key, padded in its index: a match. */
static void ek_certificate_padded_matches_recomputed_key(void **state)
{
    unsigned char *der, want[32];
    size_t len;
    EVP_PKEY *k = make_cert(&der, &len);
    TPMKMS_EK ek;
    TPMKMS_EK_INFO info;

    (void)state;
    memset(&ek, 0, sizeof(ek));
    strcpy(ek.tmpl, "L-2");
    strcpy(ek.key_desc, "ECC NIST P256");
    ek.cert_index = 0x01C0000A;
    ek.recomputed = 1;
    public_of(k, &ek.pub);
    ek.cert.data = OPENSSL_zalloc(len + 40);
    assert_non_null(ek.cert.data);
    memcpy(ek.cert.data, der, len);
    memset(ek.cert.data + len, 0xff, 40);
    ek.cert.len = len + 40;

    assert_int_equal(tpmkms_ek_examine(NULL, &ek, &info), TPMKMS_R_OK);
    assert_int_equal(info.check, TPMKMS_EK_MATCH);
    assert_int_equal(info.cert_len, len);
    assert_int_equal(info.padding, 40);
    assert_non_null(info.cert);
    spki_sha256(k, want);
    assert_memory_equal(info.ekpub_hash, want, 32);
    assert_memory_equal(info.cert_key_hash, want, 32);
    assert_int_equal(ERR_peek_error(), 0);

    tpmkms_ek_info_clear(&info);
    tpmkms_buf_clear(&ek.cert);
    OPENSSL_free(der);
    EVP_PKEY_free(k);
}

/* A certificate for another key: EK_MISMATCH naming both hashes. */
static void ek_certificate_of_another_key_is_a_mismatch(void **state)
{
    unsigned char *der, theirs[32], ours[32];
    char hex_theirs[65], hex_ours[65];
    size_t len, i;
    EVP_PKEY *k = make_cert(&der, &len);
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    TPMKMS_EK ek;
    TPMKMS_EK_INFO info;

    (void)state;
    memset(&ek, 0, sizeof(ek));
    strcpy(ek.tmpl, "L-2");
    strcpy(ek.key_desc, "ECC NIST P256");
    ek.cert_index = 0x01C0000A;
    ek.recomputed = 1;
    public_of(other, &ek.pub);
    ek.cert.data = der;
    ek.cert.len = len;

    assert_int_equal(tpmkms_ek_examine(NULL, &ek, &info),
                     TPMKMS_R_EK_MISMATCH);
    assert_int_equal(last_reason(), TPMKMS_R_EK_MISMATCH);
    assert_int_equal(info.check, TPMKMS_EK_MISMATCH);
    spki_sha256(k, theirs);
    spki_sha256(other, ours);
    for (i = 0; i < 32; i++) {
        sprintf(hex_theirs + 2 * i, "%02x", theirs[i]);
        sprintf(hex_ours + 2 * i, "%02x", ours[i]);
    }
    assert_non_null(strstr(last_message(), hex_theirs));
    assert_non_null(strstr(last_message(), hex_ours));
    assert_non_null(strstr(last_message(), "0x01c0000a"));
    assert_non_null(strstr(last_message(), "template L-2"));
    /* Still shown: the recomputed key is the one the hash names. */
    assert_memory_equal(info.ekpub_hash, ours, 32);
    assert_memory_equal(info.cert_key_hash, theirs, 32);

    tpmkms_ek_info_clear(&info);
    OPENSSL_free(der);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
    ERR_clear_error();
}

static void ek_index_of_junk_is_a_bad_certificate(void **state)
{
    unsigned char junk[] = "not a certificate";
    unsigned char seq[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };
    TPMKMS_EK ek;
    TPMKMS_EK_INFO info;

    (void)state;
    memset(&ek, 0, sizeof(ek));
    strcpy(ek.tmpl, "H-3");
    ek.cert_index = 0x01C00016;
    ek.cert.data = junk;
    ek.cert.len = sizeof(junk) - 1;
    assert_int_equal(tpmkms_ek_examine(NULL, &ek, &info),
                     TPMKMS_R_BAD_EK_CERT);
    assert_non_null(strstr(last_message(), "do not start with a DER SEQUENCE"));
    tpmkms_ek_info_clear(&info);
    ERR_clear_error();
    /* A SEQUENCE, but no certificate. */
    ek.cert.data = seq;
    ek.cert.len = sizeof(seq);
    assert_int_equal(tpmkms_ek_examine(NULL, &ek, &info),
                     TPMKMS_R_BAD_EK_CERT);
    assert_non_null(strstr(last_message(), "does not parse"));
    tpmkms_ek_info_clear(&info);
    ERR_clear_error();
}

/* A template tpmkms cannot recompute: the certificate's key stands. */
static void ek_not_recomputed_takes_the_certificates_key(void **state)
{
    unsigned char *der, want[32];
    size_t len;
    EVP_PKEY *k = make_cert(&der, &len);
    TPMKMS_EK ek;
    TPMKMS_EK_INFO info;

    (void)state;
    memset(&ek, 0, sizeof(ek));
    strcpy(ek.tmpl, "H-4");
    ek.cert_index = 0x01C00018;
    ek.cert.data = der;
    ek.cert.len = len;
    assert_int_equal(tpmkms_ek_examine(NULL, &ek, &info), TPMKMS_R_OK);
    assert_int_equal(info.check, TPMKMS_EK_NOT_RECOMPUTED);
    assert_non_null(info.key);
    spki_sha256(k, want);
    assert_memory_equal(info.ekpub_hash, want, 32);
    tpmkms_ek_info_clear(&info);
    OPENSSL_free(der);
    EVP_PKEY_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(der_length_short_and_long_forms, setup),
        cmocka_unit_test_setup(ek_certificate_padded_matches_recomputed_key,
                               setup),
        cmocka_unit_test_setup(ek_certificate_of_another_key_is_a_mismatch,
                               setup),
        cmocka_unit_test_setup(ek_index_of_junk_is_a_bad_certificate, setup),
        cmocka_unit_test_setup(ek_not_recomputed_takes_the_certificates_key,
                               setup),
    };

    tpmkms_err_init_standalone();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
