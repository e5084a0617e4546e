/*
 * tpmkms_public_to_evp: the software copy of a TPM key's public half is
 * the same public key, from a provider other than tpmkms, and a public
 * half that cannot be a key is refused with an error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include "errors.h"
#include "pubkey_evp.h"

static int setup(void **state)
{
    ERR_clear_error();
    return 0;
}

static void public_of(EVP_PKEY *pkey, tpmkms_alg alg, TPMKMS_PUBLIC *pub)
{
    memset(pub, 0, sizeof(*pub));
    pub->alg = alg;
    if (tpmkms_alg_is_ec(alg)) {
        assert_true(EVP_PKEY_get_octet_string_param(pkey,
                        OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub->ec_point,
                        sizeof(pub->ec_point), &pub->ec_point_len));
    } else {
        BIGNUM *n = NULL;

        assert_true(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n));
        pub->rsa_n_len = (size_t)BN_bn2bin(n, pub->rsa_n);
        pub->rsa_e = 65537;
        BN_free(n);
    }
}

static void check_same_key(EVP_PKEY *soft, tpmkms_alg alg)
{
    TPMKMS_PUBLIC pub;
    EVP_PKEY *copy;

    public_of(soft, alg, &pub);
    copy = tpmkms_public_to_evp(NULL, &pub);
    assert_non_null(copy);
    assert_true(EVP_PKEY_is_a(copy, tpmkms_alg_keytype(alg)));
    assert_int_equal(EVP_PKEY_get_bits(copy), tpmkms_alg_bits(alg));
    assert_int_equal(EVP_PKEY_eq(soft, copy), 1);
    assert_string_equal(OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(copy)),
                        "default");
    EVP_PKEY_free(copy);
}

static void ec_p256_public_is_the_same_key(void **state)
{
    EVP_PKEY *soft = EVP_EC_gen("P-256");

    check_same_key(soft, TPMKMS_ALG_EC_P256);
    EVP_PKEY_free(soft);
}

static void ec_p384_public_is_the_same_key(void **state)
{
    EVP_PKEY *soft = EVP_EC_gen("P-384");

    check_same_key(soft, TPMKMS_ALG_EC_P384);
    EVP_PKEY_free(soft);
}

static void rsa_public_is_the_same_key(void **state)
{
    EVP_PKEY *soft = EVP_RSA_gen(2048);

    check_same_key(soft, TPMKMS_ALG_RSA_2048);
    EVP_PKEY_free(soft);
}

static void rsa_public_differs_from_another_key(void **state)
{
    EVP_PKEY *a = EVP_RSA_gen(2048), *b = EVP_RSA_gen(2048), *copy;
    TPMKMS_PUBLIC pub;

    public_of(a, TPMKMS_ALG_RSA_2048, &pub);
    copy = tpmkms_public_to_evp(NULL, &pub);
    assert_non_null(copy);
    assert_int_not_equal(EVP_PKEY_eq(b, copy), 1);
    EVP_PKEY_free(copy);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
}

static void ec_public_without_point_is_refused(void **state)
{
    TPMKMS_PUBLIC pub;

    memset(&pub, 0, sizeof(pub));
    pub.alg = TPMKMS_ALG_EC_P256;
    assert_null(tpmkms_public_to_evp(NULL, &pub));
    assert_int_equal(ERR_GET_REASON(ERR_peek_last_error()), TPMKMS_R_INTERNAL);
}

static void ec_point_off_the_curve_is_refused(void **state)
{
    EVP_PKEY *soft = EVP_EC_gen("P-256");
    TPMKMS_PUBLIC pub;

    public_of(soft, TPMKMS_ALG_EC_P256, &pub);
    pub.ec_point[pub.ec_point_len - 1] ^= 1;
    assert_null(tpmkms_public_to_evp(NULL, &pub));
    assert_int_not_equal(ERR_peek_last_error(), 0);
    EVP_PKEY_free(soft);
}

static void unknown_algorithm_is_refused(void **state)
{
    TPMKMS_PUBLIC pub;

    memset(&pub, 0, sizeof(pub));
    assert_null(tpmkms_public_to_evp(NULL, &pub));
    assert_int_equal(ERR_GET_REASON(ERR_peek_last_error()),
                     TPMKMS_R_UNSUPPORTED_ALGORITHM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(ec_p256_public_is_the_same_key, setup),
        cmocka_unit_test_setup(ec_p384_public_is_the_same_key, setup),
        cmocka_unit_test_setup(rsa_public_is_the_same_key, setup),
        cmocka_unit_test_setup(rsa_public_differs_from_another_key, setup),
        cmocka_unit_test_setup(ec_public_without_point_is_refused, setup),
        cmocka_unit_test_setup(ec_point_off_the_curve_is_refused, setup),
        cmocka_unit_test_setup(unknown_algorithm_is_refused, setup),
    };

    tpmkms_err_init_standalone();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
