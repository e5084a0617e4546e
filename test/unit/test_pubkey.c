/*
 * Algorithm and hash helpers, checked against what libcrypto itself says
 * (curve names, DER signature sizes, digest names and sizes).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include "errors.h"
#include "pubkey.h"

static const tpmkms_alg all_algs[] = {
    TPMKMS_ALG_EC_P256, TPMKMS_ALG_EC_P384,
    TPMKMS_ALG_RSA_2048, TPMKMS_ALG_RSA_3072
};
#define N_ALGS (sizeof(all_algs) / sizeof(all_algs[0]))

static const tpmkms_hash all_hashes[] = {
    TPMKMS_HASH_SHA1, TPMKMS_HASH_SHA256, TPMKMS_HASH_SHA384, TPMKMS_HASH_SHA512
};
#define N_HASHES (sizeof(all_hashes) / sizeof(all_hashes[0]))

static void alg_names_round_trip(void **state)
{
    static const char *names[] = { "ec-p256", "ec-p384", "rsa-2048", "rsa-3072" };

    for (size_t i = 0; i < N_ALGS; i++) {
        assert_string_equal(tpmkms_alg_name(all_algs[i]), names[i]);
        assert_int_equal(tpmkms_alg_from_name(names[i]), all_algs[i]);
    }
    assert_int_equal(tpmkms_alg_from_name("EC-P256"), TPMKMS_ALG_EC_P256);
    assert_int_equal(tpmkms_alg_from_name("ec-p521"), TPMKMS_ALG_NONE);
    assert_int_equal(tpmkms_alg_from_name("rsa"), TPMKMS_ALG_NONE);
    assert_int_equal(tpmkms_alg_from_name(""), TPMKMS_ALG_NONE);
    assert_int_equal(tpmkms_alg_from_name(NULL), TPMKMS_ALG_NONE);
    assert_null(tpmkms_alg_name(TPMKMS_ALG_NONE));
}

static void alg_sizes_and_strengths(void **state)
{
    static const int bits[] = { 256, 384, 2048, 3072 };
    static const int security[] = { 128, 192, 112, 128 };

    for (size_t i = 0; i < N_ALGS; i++) {
        assert_int_equal(tpmkms_alg_bits(all_algs[i]), bits[i]);
        assert_int_equal(tpmkms_alg_security_bits(all_algs[i]), security[i]);
    }
    assert_int_equal(tpmkms_alg_bits(TPMKMS_ALG_NONE), 0);
    assert_int_equal(tpmkms_alg_security_bits(TPMKMS_ALG_NONE), 0);
}

static void alg_families_and_keytypes(void **state)
{
    assert_true(tpmkms_alg_is_ec(TPMKMS_ALG_EC_P256));
    assert_true(tpmkms_alg_is_ec(TPMKMS_ALG_EC_P384));
    assert_false(tpmkms_alg_is_ec(TPMKMS_ALG_RSA_2048));
    assert_false(tpmkms_alg_is_ec(TPMKMS_ALG_NONE));
    assert_true(tpmkms_alg_is_rsa(TPMKMS_ALG_RSA_2048));
    assert_true(tpmkms_alg_is_rsa(TPMKMS_ALG_RSA_3072));
    assert_false(tpmkms_alg_is_rsa(TPMKMS_ALG_EC_P384));
    assert_string_equal(tpmkms_alg_keytype(TPMKMS_ALG_EC_P256), "EC");
    assert_string_equal(tpmkms_alg_keytype(TPMKMS_ALG_RSA_3072), "RSA");
    assert_null(tpmkms_alg_keytype(TPMKMS_ALG_NONE));
}

/* The group names are the NIST names libcrypto knows, for those curves. */
static void alg_groups_are_libcrypto_nist_names(void **state)
{
    assert_string_equal(tpmkms_alg_group(TPMKMS_ALG_EC_P256), "P-256");
    assert_string_equal(tpmkms_alg_group(TPMKMS_ALG_EC_P384), "P-384");
    assert_int_equal(EC_curve_nist2nid(tpmkms_alg_group(TPMKMS_ALG_EC_P256)),
                     NID_X9_62_prime256v1);
    assert_int_equal(EC_curve_nist2nid(tpmkms_alg_group(TPMKMS_ALG_EC_P384)),
                     NID_secp384r1);
    assert_null(tpmkms_alg_group(TPMKMS_ALG_RSA_2048));
    assert_null(tpmkms_alg_group(TPMKMS_ALG_NONE));
}

/* The largest DER ECDSA-Sig-Value: r = s = order - 1 (top bit set). */
static int der_ecdsa_sig_max(int nid)
{
    EC_GROUP *g = EC_GROUP_new_by_curve_name(nid);
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_dup(EC_GROUP_get0_order(g));
    BIGNUM *s;
    int len;

    assert_non_null(r);
    assert_true(BN_sub_word(r, 1));
    s = BN_dup(r);
    assert_true(ECDSA_SIG_set0(sig, r, s));
    len = i2d_ECDSA_SIG(sig, NULL);
    ECDSA_SIG_free(sig);
    EC_GROUP_free(g);
    return len;
}

static void max_sig_size_is_der_max_or_modulus(void **state)
{
    assert_int_equal(tpmkms_alg_max_sig_size(TPMKMS_ALG_EC_P256), 72);
    assert_int_equal(tpmkms_alg_max_sig_size(TPMKMS_ALG_EC_P384), 104);
    assert_int_equal(tpmkms_alg_max_sig_size(TPMKMS_ALG_EC_P256),
                     der_ecdsa_sig_max(NID_X9_62_prime256v1));
    assert_int_equal(tpmkms_alg_max_sig_size(TPMKMS_ALG_EC_P384),
                     der_ecdsa_sig_max(NID_secp384r1));
    assert_int_equal(tpmkms_alg_max_sig_size(TPMKMS_ALG_RSA_2048), 256);
    assert_int_equal(tpmkms_alg_max_sig_size(TPMKMS_ALG_RSA_3072), 384);
    assert_int_equal(tpmkms_alg_max_sig_size(TPMKMS_ALG_NONE), 0);
    for (size_t i = 0; i < N_ALGS; i++)
        assert_true(tpmkms_alg_max_sig_size(all_algs[i]) <= TPMKMS_SIG_MAX);
}

static void hash_names_fetch_digests_of_that_size(void **state)
{
    static const char *names[] = { "SHA1", "SHA256", "SHA384", "SHA512" };
    static const size_t sizes[] = { 20, 32, 48, 64 };

    for (size_t i = 0; i < N_HASHES; i++) {
        EVP_MD *md;

        assert_string_equal(tpmkms_hash_name(all_hashes[i]), names[i]);
        md = EVP_MD_fetch(NULL, tpmkms_hash_name(all_hashes[i]), NULL);
        assert_non_null(md);
        assert_int_equal(EVP_MD_get_size(md), (int)sizes[i]);
        EVP_MD_free(md);
        assert_int_equal(tpmkms_hash_from_name(names[i]), all_hashes[i]);
    }
    assert_null(tpmkms_hash_name(TPMKMS_HASH_NONE));
}

static void hash_from_name_accepts_aliases_in_any_case(void **state)
{
    assert_int_equal(tpmkms_hash_from_name("sha256"), TPMKMS_HASH_SHA256);
    assert_int_equal(tpmkms_hash_from_name("SHA2-256"), TPMKMS_HASH_SHA256);
    assert_int_equal(tpmkms_hash_from_name("sha-256"), TPMKMS_HASH_SHA256);
    assert_int_equal(tpmkms_hash_from_name("Sha2-384"), TPMKMS_HASH_SHA384);
    assert_int_equal(tpmkms_hash_from_name("sha512"), TPMKMS_HASH_SHA512);
    assert_int_equal(tpmkms_hash_from_name("SHA-1"), TPMKMS_HASH_SHA1);
    assert_int_equal(tpmkms_hash_from_name("sha1"), TPMKMS_HASH_SHA1);
    assert_int_equal(tpmkms_hash_from_name("SHA2-512/256"), TPMKMS_HASH_NONE);
    assert_int_equal(tpmkms_hash_from_name("SHA3-256"), TPMKMS_HASH_NONE);
    assert_int_equal(tpmkms_hash_from_name("MD5"), TPMKMS_HASH_NONE);
    assert_int_equal(tpmkms_hash_from_name("SHA224"), TPMKMS_HASH_NONE);
    assert_int_equal(tpmkms_hash_from_name(""), TPMKMS_HASH_NONE);
    assert_int_equal(tpmkms_hash_from_name(NULL), TPMKMS_HASH_NONE);
}

struct name_check {
    tpmkms_hash want;
    int bad;
    char first_bad[64];
};

static void check_one_name(const char *name, void *arg)
{
    struct name_check *c = arg;

    if (tpmkms_hash_from_name(name) != c->want && !c->bad) {
        c->bad = 1;
        strncpy(c->first_bad, name, sizeof(c->first_bad) - 1);
    }
}

/* Whatever name libcrypto gives a digest (EVP_MD_get0_name may return any
 * of them), we map it back. */
static void hash_from_name_knows_every_libcrypto_name(void **state)
{
    for (size_t i = 0; i < N_HASHES; i++) {
        EVP_MD *md = EVP_MD_fetch(NULL, tpmkms_hash_name(all_hashes[i]), NULL);
        struct name_check c = { all_hashes[i], 0, "" };

        assert_non_null(md);
        assert_true(EVP_MD_names_do_all(md, check_one_name, &c));
        if (c.bad)
            fail_msg("libcrypto name '%s' is not mapped", c.first_bad);
        EVP_MD_free(md);
    }
}

/* An ECDSA_SIG whose r and s are n bytes with the top bit set: the
 * largest DER a group order of n bytes can need. */
static int der_ecdsa_sig_worst(size_t n)
{
    unsigned char buf[128];
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r, *s;
    int len;

    assert_true(n <= sizeof(buf));
    memset(buf, 0xff, n);
    r = BN_bin2bn(buf, (int)n, NULL);
    s = BN_bin2bn(buf, (int)n, NULL);
    assert_non_null(sig);
    assert_non_null(r);
    assert_non_null(s);
    assert_true(ECDSA_SIG_set0(sig, r, s));
    len = i2d_ECDSA_SIG(sig, NULL);
    ECDSA_SIG_free(sig);
    return len;
}

static void ecdsa_der_max_is_exact_for_nist_curves(void **state)
{
    static const struct { size_t order_bytes; size_t max; } cases[] = {
        { 32, 72 }, { 48, 104 }, { 66, 141 }       /* P-256, P-384, P-521 */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = cases[i].order_bytes;
        int worst = der_ecdsa_sig_worst(n);

        assert_int_equal(tpmkms_ecdsa_der_max(n), cases[i].max);
        assert_true(worst > 0);
        assert_int_equal(tpmkms_ecdsa_der_max(n), (size_t)worst);
    }
    assert_int_equal(tpmkms_alg_max_sig_size(TPMKMS_ALG_EC_P256),
                     tpmkms_ecdsa_der_max(32));
    assert_int_equal(tpmkms_alg_max_sig_size(TPMKMS_ALG_EC_P384),
                     tpmkms_ecdsa_der_max(48));
}

/* Never smaller than the worst case, across the lengths' size steps. */
static void ecdsa_der_max_never_below_worst_case(void **state)
{
    for (size_t n = 1; n <= 128; n++)
        if (tpmkms_ecdsa_der_max(n) < (size_t)der_ecdsa_sig_worst(n))
            fail_msg("order of %zu bytes: bound %zu < DER %d", n,
                     tpmkms_ecdsa_der_max(n), der_ecdsa_sig_worst(n));
}

/* The one hash table agrees with libcrypto: NIDs, sizes, names, OIDs. */
static void hash_table_matches_libcrypto(void **state)
{
    for (size_t i = 0; i < N_HASHES; i++) {
        const TPMKMS_HASH_INFO *info = tpmkms_hash_info(all_hashes[i]);
        EVP_MD *md;
        const ASN1_OBJECT *obj;
        int sig_nid;

        assert_non_null(info);
        assert_int_equal(info->hash, all_hashes[i]);
        assert_ptr_equal(tpmkms_hash_info_by_nid(info->nid), info);
        assert_ptr_equal(tpmkms_hash_info_by_size(info->size), info);
        assert_ptr_equal(tpmkms_hash_info_by_name(info->ossl_name), info);
        assert_non_null(strstr(TPMKMS_HASHES_TEXT, info->name));
        md = EVP_MD_fetch(NULL, info->ossl_name, NULL);
        assert_non_null(md);
        assert_int_equal(EVP_MD_get_type(md), info->nid);
        assert_int_equal(EVP_MD_get_size(md), (int)info->size);
        assert_true(EVP_MD_is_a(md, info->name));
        EVP_MD_free(md);

        obj = OBJ_nid2obj(info->nid);
        assert_int_equal(OBJ_length(obj), info->oid_len);
        assert_memory_equal(OBJ_get0_data(obj), info->oid, info->oid_len);

        assert_true(OBJ_find_sigid_by_algs(&sig_nid, info->nid,
                                           NID_X9_62_id_ecPublicKey));
        obj = OBJ_nid2obj(sig_nid);
        assert_int_equal(OBJ_length(obj), info->ecdsa_oid_len);
        assert_memory_equal(OBJ_get0_data(obj), info->ecdsa_oid,
                            info->ecdsa_oid_len);

        assert_true(OBJ_find_sigid_by_algs(&sig_nid, info->nid,
                                           NID_rsaEncryption));
        obj = OBJ_nid2obj(sig_nid);
        assert_int_equal(OBJ_length(obj), 9);
        assert_int_equal(OBJ_get0_data(obj)[8], info->rsa_arc);
    }
    assert_null(tpmkms_hash_info(TPMKMS_HASH_NONE));
    assert_null(tpmkms_hash_info((tpmkms_hash)(TPMKMS_HASH_SHA512 + 1)));
    assert_null(tpmkms_hash_info_by_nid(NID_sha224));
    assert_null(tpmkms_hash_info_by_nid(NID_undef));
    assert_null(tpmkms_hash_info_by_size(28));
    assert_null(tpmkms_hash_info_by_name("SHA3-256"));
    assert_null(tpmkms_hash_info_by_name(NULL));
}

static void default_hash_follows_the_curve(void **state)
{
    assert_int_equal(tpmkms_alg_default_hash(TPMKMS_ALG_EC_P256),
                     TPMKMS_HASH_SHA256);
    assert_int_equal(tpmkms_alg_default_hash(TPMKMS_ALG_EC_P384),
                     TPMKMS_HASH_SHA384);
    assert_int_equal(tpmkms_alg_default_hash(TPMKMS_ALG_RSA_2048),
                     TPMKMS_HASH_SHA256);
    assert_int_equal(tpmkms_alg_default_hash(TPMKMS_ALG_RSA_3072),
                     TPMKMS_HASH_SHA256);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alg_names_round_trip),
        cmocka_unit_test(alg_sizes_and_strengths),
        cmocka_unit_test(alg_families_and_keytypes),
        cmocka_unit_test(alg_groups_are_libcrypto_nist_names),
        cmocka_unit_test(max_sig_size_is_der_max_or_modulus),
        cmocka_unit_test(hash_names_fetch_digests_of_that_size),
        cmocka_unit_test(hash_from_name_accepts_aliases_in_any_case),
        cmocka_unit_test(hash_from_name_knows_every_libcrypto_name),
        cmocka_unit_test(ecdsa_der_max_is_exact_for_nist_curves),
        cmocka_unit_test(ecdsa_der_max_never_below_worst_case),
        cmocka_unit_test(hash_table_matches_libcrypto),
        cmocka_unit_test(default_hash_follows_the_curve),
    };

    tpmkms_err_init_standalone();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
