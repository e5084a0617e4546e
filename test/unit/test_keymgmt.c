/*
 * The keymgmt dispatch (provider/keymgmt/keymgmt.c) over a TPM key of the
 * fake backend, handed out by reference as the store loader and decoder
 * do: load checks the family and takes a reference; the parameters are
 * the public key's; match compares public halves, with a software key
 * too; and only the public half is ever exported.  Generation without a
 * uri makes a software key in the keymgmt an empty query finds, and fails
 * in the one provider=tpmkms finds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <openssl/err.h>

/* The code under test, with its static functions. */
#include "../../provider/keymgmt/keymgmt.c"

#include "fake_backend.h"
#include "test_util.h"

static TPMKMS_PROVCTX provctx;
static TPMKMS_KEYBLOB blob;
static TPMKMS_KEY *key;         /* the store's key */
static EVP_PKEY *soft;          /* the same key pair, in software */

static int setup(void **state)
{
    (void)state;
    fake_backend_reset();
    memset(&provctx, 0, sizeof(provctx));
    if ((provctx.ctx = tpmkms_ctx_new(NULL, NULL, fake_backend_method())) == NULL
            || fake_make_key_blob(provctx.ctx, TPMKMS_ALG_EC_P256, "km",
                                  &blob) != TPMKMS_R_OK)
        return -1;
    if (tpmkms_key_from_blob(provctx.ctx, &blob, "km.key", &key) != TPMKMS_R_OK)
        return -1;
    soft = fake_blob_software_key(&blob);
    ERR_clear_error();
    return soft == NULL;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(soft);
    tpmkms_key_free(key);
    tpmkms_keyblob_clear(&blob);
    tpmkms_ctx_free(provctx.ctx);
    return 0;
}

/* What keymgmt's load gets: the reference tpmkms_key_hand_out passes. */
static void *loaded;
static int take_reference(const OSSL_PARAM params[], void *arg)
{
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params,
                                                  OSSL_OBJECT_PARAM_REFERENCE);
    const void *ref = NULL;
    size_t len = 0;
    void *(*load)(const void *, size_t) = arg;

    assert_non_null(p);
    assert_true(OSSL_PARAM_get_octet_string_ptr(p, &ref, &len));
    loaded = load(ref, len);
    return loaded != NULL;
}

/* A software key in our keymgmt, as softkey.c makes them. */
static TPMKMS_KEY *soft_key(EVP_PKEY *pkey)
{
    TPMKMS_KEY *k = tpmkms_key_new(NULL, NULL);

    assert_non_null(k);
    assert_true(EVP_PKEY_up_ref(pkey));
    k->soft = pkey;
    return k;
}

static void keymgmt_load_takes_a_reference_to_the_key_handed_out(void **state)
{
    (void)state;
    loaded = NULL;
    assert_int_equal(tpmkms_key_hand_out(key, take_reference,
                                         (void *)tpmkms_ec_keymgmt_load), 1);
    assert_ptr_equal(loaded, key);
    assert_int_equal(key->refcnt, 2);
    assert_int_equal(tpmkms_keymgmt_has(loaded, OSSL_KEYMGMT_SELECT_KEYPAIR), 1);
    tpmkms_keymgmt_free(loaded);
    assert_int_equal(key->refcnt, 1);

    /* The RSA keymgmt refuses an EC key, naming it. */
    loaded = NULL;
    assert_int_equal(tpmkms_key_hand_out(key, take_reference,
                                         (void *)tpmkms_rsa_keymgmt_load), 0);
    assert_null(loaded);
    assert_int_equal(last_reason(), TPMKMS_R_UNSUPPORTED_ALGORITHM);
    assert_non_null(strstr(last_message(), "km.key"));
    assert_int_equal(key->refcnt, 1);
    /* A reference of the wrong size is no key. */
    assert_null(tpmkms_ec_keymgmt_load(&key, sizeof(key) - 1));
    assert_int_equal(last_reason(), TPMKMS_R_INTERNAL);
}

static void keymgmt_get_params_are_the_public_keys(void **state)
{
    int bits = 0, sec = 0, max = 0;
    char group[32] = "";
    unsigned char point[133];
    BIGNUM *x = NULL, *want_x = NULL;
    OSSL_PARAM params[6];

    (void)state;
    params[0] = OSSL_PARAM_construct_int(OSSL_PKEY_PARAM_BITS, &bits);
    params[1] = OSSL_PARAM_construct_int(OSSL_PKEY_PARAM_SECURITY_BITS, &sec);
    params[2] = OSSL_PARAM_construct_int(OSSL_PKEY_PARAM_MAX_SIZE, &max);
    params[3] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 group, sizeof(group));
    params[4] = OSSL_PARAM_construct_octet_string(
                    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof(point));
    params[5] = OSSL_PARAM_construct_end();
    assert_int_equal(tpmkms_keymgmt_get_params(key, params), 1);
    assert_int_equal(bits, 256);
    assert_int_equal(sec, 128);
    assert_int_equal(max, (int)tpmkms_alg_max_sig_size(TPMKMS_ALG_EC_P256));
    assert_string_equal(group, "prime256v1");
    assert_int_equal(params[4].return_size, key->pub.ec_point_len);
    assert_memory_equal(point, key->pub.ec_point, key->pub.ec_point_len);

    /* The affine x equals the software key's. */
    params[0] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_EC_PUB_X, NULL, 0);
    params[1] = OSSL_PARAM_construct_end();
    assert_int_equal(tpmkms_keymgmt_get_params(key, params), 1);
    assert_true(params[0].return_size > 0);
    params[0].data = OPENSSL_zalloc(params[0].return_size);
    params[0].data_size = params[0].return_size;
    assert_int_equal(tpmkms_keymgmt_get_params(key, params), 1);
    assert_true(OSSL_PARAM_get_BN(&params[0], &x));
    assert_true(EVP_PKEY_get_bn_param(soft, OSSL_PKEY_PARAM_EC_PUB_X, &want_x));
    assert_int_equal(BN_cmp(x, want_x), 0);
    OPENSSL_free(params[0].data);
    BN_free(x);
    BN_free(want_x);
}

static void keymgmt_rsa_key_gives_n_and_e(void **state)
{
    TPMKMS_KEY *rsa = NULL;
    TPMKMS_KEYBLOB rblob = { 0 };
    TPMKMS_BACKEND *b = tpmkms_ctx_backend(provctx.ctx, NULL);
    TPMKMS_CREATE_PARAMS cp = { TPMKMS_ALG_RSA_2048, NULL, 0, "rsa",
                                TPMKMS_USAGE_BOTH };
    TPMKMS_KEYDATA made = { 0 };
    TPMKMS_PUBLIC pub;
    unsigned char nbuf[512], ebuf[8];
    int bits = 0;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM params[4];

    (void)state;
    assert_int_equal(tpmkms_backend_create_key(b, &cp, &made, &pub), TPMKMS_R_OK);
    assert_int_equal(tpmkms_keydata_to_blob(&made, &rblob, "rsa"), TPMKMS_R_OK);
    assert_int_equal(tpmkms_key_from_blob(provctx.ctx, &rblob, "rsa.key", &rsa),
                     TPMKMS_R_OK);
    params[0] = OSSL_PARAM_construct_int(OSSL_PKEY_PARAM_BITS, &bits);
    params[1] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_N, nbuf, sizeof(nbuf));
    params[2] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_E, ebuf, sizeof(ebuf));
    params[3] = OSSL_PARAM_construct_end();
    assert_int_equal(tpmkms_keymgmt_get_params(rsa, params), 1);
    assert_int_equal(bits, 2048);
    assert_true(OSSL_PARAM_get_BN(&params[1], &n));
    assert_true(OSSL_PARAM_get_BN(&params[2], &e));
    assert_int_equal(BN_num_bits(n), 2048);
    assert_true(BN_is_word(e, 65537));
    BN_free(n);
    BN_free(e);
    tpmkms_key_free(rsa);
    tpmkms_keyblob_clear(&rblob);
    tpmkms_keydata_clear(&made);
    tpmkms_backend_free(b);
}

static void keymgmt_matches_a_software_key_by_its_public_half(void **state)
{
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    TPMKMS_KEY *same = soft_key(soft), *different = soft_key(other);

    (void)state;
    assert_int_equal(tpmkms_keymgmt_match(key, same,
                                          OSSL_KEYMGMT_SELECT_PUBLIC_KEY), 1);
    assert_int_equal(tpmkms_keymgmt_match(same, key,
                                          OSSL_KEYMGMT_SELECT_PUBLIC_KEY), 1);
    assert_int_equal(tpmkms_keymgmt_match(key, different,
                                          OSSL_KEYMGMT_SELECT_PUBLIC_KEY), 0);
    assert_int_equal(tpmkms_keymgmt_match(key, key,
                                          OSSL_KEYMGMT_SELECT_KEYPAIR), 1);
    tpmkms_key_free(same);
    tpmkms_key_free(different);
    EVP_PKEY_free(other);
}

/* The export callback turns what it gets into a software public key. */
static EVP_PKEY *exported;
static int saw_private;
static int export_to_pkey(const OSSL_PARAM params[], void *arg)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, arg, NULL);
    int ok;

    saw_private = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PRIV_KEY) != NULL
                  || OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_D) != NULL;
    ok = pctx != NULL && EVP_PKEY_fromdata_init(pctx) > 0
         && EVP_PKEY_fromdata(pctx, &exported, EVP_PKEY_PUBLIC_KEY,
                              (OSSL_PARAM *)params) > 0;
    EVP_PKEY_CTX_free(pctx);
    return ok;
}

static void keymgmt_exports_only_the_public_half(void **state)
{
    (void)state;
    exported = NULL;
    saw_private = -1;
    assert_int_equal(tpmkms_keymgmt_export(key, OSSL_KEYMGMT_SELECT_PUBLIC_KEY,
                                           export_to_pkey, "EC"), 1);
    assert_int_equal(saw_private, 0);
    assert_non_null(exported);
    assert_int_equal(EVP_PKEY_eq(exported, soft), 1);
    EVP_PKEY_free(exported);

    /* A key pair asked for: still only the public half. */
    exported = NULL;
    assert_int_equal(tpmkms_keymgmt_export(key, OSSL_KEYMGMT_SELECT_ALL,
                                           export_to_pkey, "EC"), 1);
    assert_int_equal(saw_private, 0);
    assert_int_equal(EVP_PKEY_eq(exported, soft), 1);
    EVP_PKEY_free(exported);

    /* The private key alone: refused, the callback never called. */
    exported = NULL;
    saw_private = -1;
    assert_int_equal(tpmkms_keymgmt_export(key, OSSL_KEYMGMT_SELECT_PRIVATE_KEY,
                                           export_to_pkey, "EC"), 0);
    assert_int_equal(saw_private, -1);
    assert_null(exported);
    assert_int_equal(last_reason(), TPMKMS_R_UNSUPPORTED_ALGORITHM);
    assert_non_null(strstr(last_message(), "stays in the TPM"));
}

static void keymgmt_tpm_key_cannot_be_changed_or_copied_in_part(void **state)
{
    int bits = 1;
    OSSL_PARAM params[2];

    (void)state;
    params[0] = OSSL_PARAM_construct_int(OSSL_PKEY_PARAM_BITS, &bits);
    params[1] = OSSL_PARAM_construct_end();
    assert_int_equal(tpmkms_keymgmt_set_params(key, params), 0);
    assert_int_equal(last_reason(), TPMKMS_R_BAD_PARAMETER);
    assert_null(tpmkms_keymgmt_dup(key, OSSL_KEYMGMT_SELECT_PUBLIC_KEY));
    assert_int_equal(last_reason(), TPMKMS_R_UNSUPPORTED_ALGORITHM);
    assert_ptr_equal(tpmkms_keymgmt_dup(key, OSSL_KEYMGMT_SELECT_KEYPAIR), key);
    assert_int_equal(key->refcnt, 2);
    tpmkms_keymgmt_free(key);
}

/*
 * The implementation of keytype ("EC", "RSA") in tpmkms_keymgmt_algorithms
 * that a fetch finds: with want_provider, the first whose properties
 * include provider=tpmkms (a query for provider=tpmkms); without, the
 * first of all (an empty query).
 */
static const OSSL_ALGORITHM *keymgmt_found(const char *keytype, int want_provider)
{
    for (const OSSL_ALGORITHM *a = tpmkms_keymgmt_algorithms; a->algorithm_names != NULL; a++) {
        if (strncmp(a->algorithm_names, keytype, strlen(keytype)) != 0
                || a->algorithm_names[strlen(keytype)] != ':')
            continue;
        if (!want_provider || strstr(a->property_definition, TPMKMS_PROPS) != NULL)
            return a;
    }
    return NULL;
}

static void *keymgmt_gen_with(const OSSL_ALGORITHM *alg, const OSSL_PARAM params[])
{
    OSSL_FUNC_keymgmt_gen_init_fn *gen_init = NULL;
    void *gctx, *made;

    assert_non_null(alg);
    for (const OSSL_DISPATCH *d = alg->implementation; d->function_id != 0; d++)
        if (d->function_id == OSSL_FUNC_KEYMGMT_GEN_INIT)
            gen_init = OSSL_FUNC_keymgmt_gen_init(d);
    assert_non_null(gen_init);
    gctx = gen_init(&provctx, OSSL_KEYMGMT_SELECT_KEYPAIR, params);
    assert_non_null(gctx);
    made = tpmkms_keymgmt_gen(gctx, NULL, NULL);
    tpmkms_keymgmt_gen_cleanup(gctx);
    return made;
}

/*
 * Asked for by provider=tpmkms, generation without a uri is refused with a
 * message that says how to name the key: never a software key.
 */
static void keymgmt_provider_tpmkms_generation_without_a_uri_fails(void **state)
{
    const char *keytypes[] = { "EC", "RSA" };
    char group[] = "P-256";
    OSSL_PARAM params[2];

    int creates = fake_counts.creates;

    (void)state;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    params[1] = OSSL_PARAM_construct_end();
    for (size_t i = 0; i < 2; i++) {
        ERR_clear_error();
        assert_null(keymgmt_gen_with(keymgmt_found(keytypes[i], 1),
                                     i == 0 ? params : NULL));
        assert_int_equal(last_reason(), TPMKMS_R_BAD_PARAMETER);
        assert_non_null(strstr(last_message(), "-pkeyopt uri:tpmkms:name="));
        assert_non_null(strstr(last_message(), keytypes[i]));
    }
    assert_int_equal(fake_counts.creates, creates);
}

/*
 * What an empty query finds (libssl's ephemeral keys with tpmkms activated
 * first) has no provider=tpmkms and makes a software key without a uri.
 */
static void keymgmt_empty_query_generation_without_a_uri_is_software(void **state)
{
    char group[] = "P-256";
    OSSL_PARAM params[2];
    TPMKMS_KEY *made;
    int creates = fake_counts.creates;

    (void)state;
    assert_null(strstr(keymgmt_found("EC", 0)->property_definition, "provider="));
    assert_null(strstr(keymgmt_found("RSA", 0)->property_definition, "provider="));
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    params[1] = OSSL_PARAM_construct_end();
    made = keymgmt_gen_with(keymgmt_found("EC", 0), params);
    assert_non_null(made);
    assert_true(tpmkms_soft_is(made));
    assert_true(EVP_PKEY_is_a(made->soft, "EC"));
    tpmkms_key_free(made);
    assert_int_equal(fake_counts.creates, creates);
}

/*
 * A software key as template for the TPM-only generator (a context made
 * from a key with provider=tpmkms) gives its EC group; nothing else of it
 * is used, and nothing is generated in software.
 */
static void keymgmt_tpm_only_generation_takes_a_software_templates_group(void **state)
{
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    TPMKMS_KEY *templ = soft_key(p384);
    TPMKMS_KEYMGMT_GENCTX *gctx;

    (void)state;
    gctx = tpmkms_ec_keymgmt_gen_init_tpm(&provctx, OSSL_KEYMGMT_SELECT_KEYPAIR,
                                          NULL);
    assert_non_null(gctx);
    assert_null(gctx->soft);
    assert_int_equal(tpmkms_keymgmt_gen_set_template(gctx, templ), 1);
    assert_int_equal(gen_tpm_alg(gctx), TPMKMS_ALG_EC_P384);
    tpmkms_keymgmt_gen_cleanup(gctx);
    tpmkms_key_free(templ);
    EVP_PKEY_free(p384);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(keymgmt_load_takes_a_reference_to_the_key_handed_out),
        T(keymgmt_get_params_are_the_public_keys),
        T(keymgmt_rsa_key_gives_n_and_e),
        T(keymgmt_matches_a_software_key_by_its_public_half),
        T(keymgmt_exports_only_the_public_half),
        T(keymgmt_tpm_key_cannot_be_changed_or_copied_in_part),
        T(keymgmt_provider_tpmkms_generation_without_a_uri_fails),
        T(keymgmt_empty_query_generation_without_a_uri_is_software),
        T(keymgmt_tpm_only_generation_takes_a_software_templates_group),
    };

    tpmkms_err_init_standalone();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
