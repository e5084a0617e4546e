/*
 * ECDH (provider/keyexch) against a backend that computes Z like
 * TPM2_ECDH_ZGen (X coordinate of the product, at the field size): the
 * secret equals OpenSSL's own ECDH from the peer's side, and with the
 * X9.63 KDF (CMS key agreement) it equals the default provider's ECDH with
 * the same KDF parameters.  Peers on another curve, unknown KDFs and keys
 * without the decrypt attribute are refused before the backend is called.
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
#include "../../provider/keyexch/keyexch.c"

/* ---- a backend that computes Z like a TPM ------------------------------ */

static EVP_PKEY *tpm_pkey;              /* the "TPM" private key */
static int tpm_derives;

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

static tpmkms_rc tpmlike_derive(void *state, TPMKMS_KEYREF *key,
                                const unsigned char *peer_point,
                                size_t peer_len, unsigned char *secret,
                                size_t *secret_len)
{
    char group[32];
    EVP_PKEY *peer = NULL;
    EVP_PKEY_CTX *pctx;
    OSSL_PARAM params[3];
    int ok;

    tpm_derives++;
    assert_true(EVP_PKEY_get_utf8_string_param(tpm_pkey,
                                               OSSL_PKEY_PARAM_GROUP_NAME,
                                               group, sizeof(group), NULL));
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  (void *)peer_point,
                                                  peer_len);
    params[2] = OSSL_PARAM_construct_end();
    pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", "provider=default");
    ok = pctx != NULL && EVP_PKEY_fromdata_init(pctx) > 0
         && EVP_PKEY_fromdata(pctx, &peer, EVP_PKEY_PUBLIC_KEY, params) > 0;
    EVP_PKEY_CTX_free(pctx);
    pctx = ok ? EVP_PKEY_CTX_new(tpm_pkey, NULL) : NULL;
    ok = pctx != NULL && EVP_PKEY_derive_init(pctx) > 0
         && EVP_PKEY_derive_set_peer(pctx, peer) > 0
         && EVP_PKEY_derive(pctx, secret, secret_len) > 0;
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(peer);
    assert_true(ok);
    return TPMKMS_R_OK;
}

static const TPMKMS_KEY_METHODS tpmlike_keys = {
    .derive = tpmlike_derive,
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

/* A TPM key over pkey (which becomes tpm_pkey, taken). */
static TPMKMS_KEY *make_key(EVP_PKEY *pkey, int decrypt)
{
    TPMKMS_KEY *key = tpmkms_key_new(backend, NULL);

    assert_non_null(key);
    EVP_PKEY_free(tpm_pkey);
    tpm_pkey = pkey;
    memset(&key->pub, 0, sizeof(key->pub));
    key->pub.alg = EVP_PKEY_get_bits(pkey) == 384 ? TPMKMS_ALG_EC_P384
                                                   : TPMKMS_ALG_EC_P256;
    assert_true(EVP_PKEY_get_octet_string_param(
        pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, key->pub.ec_point,
        sizeof(key->pub.ec_point), &key->pub.ec_point_len));
    key->pub.can_sign = 1;
    key->pub.can_decrypt = decrypt;
    key->uri = OPENSSL_strdup("tpmkms:name=kextest;key-scope=user");
    key->ref.label = key->uri;
    key->needs_auth = 0;
    return key;
}

/* A software key as our keymgmt holds one (it takes a reference). */
static TPMKMS_KEY *soft_key(EVP_PKEY *pkey)
{
    TPMKMS_KEY *key = tpmkms_key_new(NULL, NULL);

    assert_non_null(key);
    assert_true(EVP_PKEY_up_ref(pkey));
    key->soft = pkey;
    return key;
}

static EVP_PKEY *ec_key(const char *group)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);

    assert_non_null(pkey);
    return pkey;
}

static int setup(void **state)
{
    tpm_derives = 0;
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

/* OpenSSL's own ECDH of priv with pub, with params (may be NULL). */
static size_t sw_derive(EVP_PKEY *priv, EVP_PKEY *pub,
                        const OSSL_PARAM params[], unsigned char *out)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(priv, NULL);
    size_t len = 128;

    assert_non_null(pctx);
    assert_int_equal(EVP_PKEY_derive_init_ex(pctx, params), 1);
    assert_int_equal(EVP_PKEY_derive_set_peer(pctx, pub), 1);
    assert_int_equal(EVP_PKEY_derive(pctx, out, &len), 1);
    EVP_PKEY_CTX_free(pctx);
    return len;
}

/* The public half of a key, as a software key of the default provider. */
static EVP_PKEY *public_of(EVP_PKEY *pkey)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    int len = i2d_PUBKEY(pkey, &der);
    EVP_PKEY *pub;

    assert_true(len > 0);
    p = der;
    pub = d2i_PUBKEY(NULL, &p, len);
    OPENSSL_free(der);
    assert_non_null(pub);
    return pub;
}

/* ---- tests ------------------------------------------------------------- */

static void z_equals_the_peers_software_ecdh(void **state)
{
    static const char *groups[] = { "P-256", "P-384" };

    for (size_t i = 0; i < 2; i++) {
        EVP_PKEY *peer = ec_key(groups[i]);
        EVP_PKEY *ours = ec_key(groups[i]);
        EVP_PKEY *ours_pub = public_of(ours);
        TPMKMS_KEY *key = make_key(ours, 1);
        TPMKMS_KEY *peer_key = soft_key(peer);
        void *ctx = tpmkms_ecdh_newctx(&provctx);
        unsigned char z[128], want[128];
        size_t zlen = 0, wantlen = sw_derive(peer, ours_pub, NULL, want);

        assert_int_equal(tpmkms_ecdh_init(ctx, key, NULL), 1);
        assert_int_equal(tpmkms_ecdh_set_peer(ctx, peer_key), 1);
        assert_int_equal(tpmkms_ecdh_derive(ctx, NULL, &zlen, 0), 1);
        assert_int_equal(zlen, i == 0 ? 32 : 48);
        assert_int_equal(tpm_derives, 0);
        assert_int_equal(tpmkms_ecdh_derive(ctx, z, &zlen, sizeof(z)), 1);
        assert_int_equal(tpm_derives, 1);
        assert_int_equal(zlen, wantlen);
        assert_memory_equal(z, want, zlen);
        tpmkms_ecdh_freectx(ctx);
        tpmkms_key_free(peer_key);
        tpmkms_key_free(key);
        EVP_PKEY_free(ours_pub);
        EVP_PKEY_free(peer);
        tpm_derives = 0;
    }
}

static void x963_kdf_equals_the_default_providers(void **state)
{
    static const unsigned char ukm[] = "shared info, as CMS gives it";
    EVP_PKEY *peer = ec_key("P-256");
    EVP_PKEY *ours = ec_key("P-256");
    EVP_PKEY *ours_pub = public_of(ours);
    TPMKMS_KEY *key = make_key(ours, 1);
    TPMKMS_KEY *peer_key = soft_key(peer);
    void *ctx = tpmkms_ecdh_newctx(&provctx), *dup;
    size_t outlen = 24;
    OSSL_PARAM params[5];
    unsigned char got[64], want[64];
    size_t gotlen = 0, wantlen;
    char kdf[32] = "";
    OSSL_PARAM get[2] = {
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, kdf, sizeof(kdf)),
        OSSL_PARAM_END
    };

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE,
                                                 "X963KDF", 0);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST,
                                                 "SHA256", 0);
    params[2] = OSSL_PARAM_construct_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN,
                                            &outlen);
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_EXCHANGE_PARAM_KDF_UKM,
                                                  (void *)ukm, sizeof(ukm));
    params[4] = OSSL_PARAM_construct_end();
    wantlen = sw_derive(peer, ours_pub, params, want);
    assert_int_equal(wantlen, 24);

    assert_int_equal(tpmkms_ecdh_init(ctx, key, params), 1);
    assert_int_equal(tpmkms_ecdh_get_ctx_params(ctx, get), 1);
    assert_string_equal(kdf, "X963KDF");
    assert_int_equal(tpmkms_ecdh_set_peer(ctx, peer_key), 1);
    dup = tpmkms_ecdh_dupctx(ctx);
    assert_non_null(dup);
    tpmkms_ecdh_freectx(ctx);
    assert_int_equal(tpmkms_ecdh_derive(dup, NULL, &gotlen, 0), 1);
    assert_int_equal(gotlen, 24);
    assert_int_equal(tpmkms_ecdh_derive(dup, got, &gotlen, sizeof(got)), 1);
    assert_int_equal(gotlen, wantlen);
    assert_memory_equal(got, want, wantlen);
    tpmkms_ecdh_freectx(dup);
    tpmkms_key_free(peer_key);
    tpmkms_key_free(key);
    EVP_PKEY_free(ours_pub);
    EVP_PKEY_free(peer);
}

static void a_tpm_keys_public_half_is_a_peer(void **state)
{
    EVP_PKEY *other = ec_key("P-256");
    EVP_PKEY *other_pub = public_of(other);
    EVP_PKEY *ours = ec_key("P-256");
    EVP_PKEY *ours_pub = public_of(ours);
    TPMKMS_KEY *peer_key, *key;
    void *ctx = tpmkms_ecdh_newctx(&provctx);
    unsigned char z[64], want[64];
    size_t zlen = sizeof(z), wantlen = sw_derive(other, ours_pub, NULL, want);

    /* The peer is a TPM key too: only its public half is used. */
    peer_key = make_key(other, 1);
    key = make_key(ours, 1);
    assert_int_equal(tpmkms_ecdh_init(ctx, key, NULL), 1);
    assert_int_equal(tpmkms_ecdh_set_peer(ctx, peer_key), 1);
    assert_int_equal(tpmkms_ecdh_derive(ctx, z, &zlen, sizeof(z)), 1);
    assert_memory_equal(z, want, wantlen);
    tpmkms_ecdh_freectx(ctx);
    tpmkms_key_free(peer_key);
    tpmkms_key_free(key);
    EVP_PKEY_free(ours_pub);
    EVP_PKEY_free(other_pub);
}

static void refusals_come_before_the_tpm(void **state)
{
    EVP_PKEY *p384 = ec_key("P-384");
    TPMKMS_KEY *key = make_key(ec_key("P-256"), 1);
    TPMKMS_KEY *peer_key = soft_key(p384);
    void *ctx = tpmkms_ecdh_newctx(&provctx);
    unsigned char z[64];
    size_t zlen = sizeof(z);
    int cofactor = 2;
    OSSL_PARAM cof[2] = {
        OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, &cofactor),
        OSSL_PARAM_END
    };
    OSSL_PARAM kdf[2];

    assert_int_equal(tpmkms_ecdh_init(ctx, key, NULL), 1);
    assert_int_equal(tpmkms_ecdh_set_peer(ctx, peer_key), 0);
    assert_error(TPMKMS_R_BAD_PARAMETER,
                 "the peer key is not an EC key on P-256");
    assert_int_equal(tpmkms_ecdh_derive(ctx, z, &zlen, sizeof(z)), 0);
    assert_error(TPMKMS_R_BAD_PARAMETER, "needs the peer's public key first");
    assert_int_equal(tpmkms_ecdh_set_ctx_params(ctx, cof), 0);
    assert_error(TPMKMS_R_BAD_PARAMETER, "cofactor mode 2");
    kdf[0] = OSSL_PARAM_construct_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE,
                                              "X942KDF-ASN1", 0);
    kdf[1] = OSSL_PARAM_construct_end();
    assert_int_equal(tpmkms_ecdh_set_ctx_params(ctx, kdf), 0);
    assert_error(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                 "ECDH KDF \"X942KDF-ASN1\" is not supported");
    /* X9.63 without its digest and length cannot run. */
    kdf[0] = OSSL_PARAM_construct_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE,
                                              "X963KDF", 0);
    assert_int_equal(tpmkms_ecdh_set_ctx_params(ctx, kdf), 1);
    assert_int_equal(tpmkms_ecdh_derive(ctx, NULL, &zlen, 0), 0);
    assert_error(TPMKMS_R_BAD_PARAMETER, "needs kdf-digest and kdf-outlen");
    assert_int_equal(tpm_derives, 0);
    tpmkms_ecdh_freectx(ctx);
    tpmkms_key_free(peer_key);
    tpmkms_key_free(key);
    EVP_PKEY_free(p384);
}

static void a_sign_only_key_is_refused_at_init(void **state)
{
    TPMKMS_KEY *key = make_key(ec_key("P-256"), 0);
    void *ctx = tpmkms_ecdh_newctx(&provctx);

    assert_int_equal(tpmkms_ecdh_init(ctx, key, NULL), 0);
    assert_error(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                 "name=kextest;key-scope=user: the key lacks the decrypt "
                 "attribute");
    tpmkms_ecdh_freectx(ctx);
    tpmkms_key_free(key);
}

static void a_software_key_is_forwarded_whole(void **state)
{
    EVP_PKEY *a = ec_key("P-256"), *b = ec_key("P-256");
    EVP_PKEY *b_pub = public_of(b), *a_pub = public_of(a);
    TPMKMS_KEY *ka = soft_key(a), *kb = soft_key(b_pub);
    void *ctx = tpmkms_ecdh_newctx(&provctx);
    unsigned char z[64], want[64];
    size_t zlen = sizeof(z), wantlen = sw_derive(b, a_pub, NULL, want);

    assert_int_equal(tpmkms_ecdh_init(ctx, ka, NULL), 1);
    assert_non_null(((TPMKMS_ECDH_CTX *)ctx)->soft);
    assert_int_equal(tpmkms_ecdh_set_peer(ctx, kb), 1);
    assert_int_equal(tpmkms_ecdh_derive(ctx, z, &zlen, sizeof(z)), 1);
    assert_int_equal(zlen, wantlen);
    assert_memory_equal(z, want, zlen);
    assert_int_equal(tpm_derives, 0);
    tpmkms_ecdh_freectx(ctx);
    tpmkms_key_free(ka);
    tpmkms_key_free(kb);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    EVP_PKEY_free(a_pub);
    EVP_PKEY_free(b_pub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(z_equals_the_peers_software_ecdh, setup),
        cmocka_unit_test_setup(x963_kdf_equals_the_default_providers, setup),
        cmocka_unit_test_setup(a_tpm_keys_public_half_is_a_peer, setup),
        cmocka_unit_test_setup(refusals_come_before_the_tpm, setup),
        cmocka_unit_test_setup(a_sign_only_key_is_refused_at_init, setup),
        cmocka_unit_test_setup(a_software_key_is_forwarded_whole, setup),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
