/*
 * EC and RSA key management over TPMKMS_KEY.
 *
 * The keydata OpenSSL holds is a TPMKMS_KEY pointer with its own reference.
 * Keys come from the store loader (load), from key generation (gen, which
 * creates the key in the TPM and saves its record) or empty from new.
 * Only the public half ever leaves: export gives the public parameters,
 * import is refused, and the private key stays in the TPM.
 */
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include "provider.h"
#include "key.h"
#include "errors.h"
#include "debug.h"

static OSSL_FUNC_keymgmt_new_fn tpmkms_keymgmt_new;
static OSSL_FUNC_keymgmt_free_fn tpmkms_keymgmt_free;
static OSSL_FUNC_keymgmt_load_fn tpmkms_ec_keymgmt_load;
static OSSL_FUNC_keymgmt_load_fn tpmkms_rsa_keymgmt_load;
static OSSL_FUNC_keymgmt_dup_fn tpmkms_keymgmt_dup;
static OSSL_FUNC_keymgmt_has_fn tpmkms_keymgmt_has;
static OSSL_FUNC_keymgmt_match_fn tpmkms_keymgmt_match;
static OSSL_FUNC_keymgmt_get_params_fn tpmkms_keymgmt_get_params;
static OSSL_FUNC_keymgmt_gettable_params_fn tpmkms_ec_keymgmt_gettable_params;
static OSSL_FUNC_keymgmt_gettable_params_fn tpmkms_rsa_keymgmt_gettable_params;
static OSSL_FUNC_keymgmt_export_fn tpmkms_keymgmt_export;
static OSSL_FUNC_keymgmt_export_types_fn tpmkms_ec_keymgmt_export_types;
static OSSL_FUNC_keymgmt_export_types_fn tpmkms_rsa_keymgmt_export_types;
static OSSL_FUNC_keymgmt_import_fn tpmkms_keymgmt_import;
static OSSL_FUNC_keymgmt_import_types_fn tpmkms_keymgmt_import_types;
static OSSL_FUNC_keymgmt_query_operation_name_fn tpmkms_ec_keymgmt_query_operation_name;
static OSSL_FUNC_keymgmt_query_operation_name_fn tpmkms_rsa_keymgmt_query_operation_name;
static OSSL_FUNC_keymgmt_gen_init_fn tpmkms_ec_keymgmt_gen_init;
static OSSL_FUNC_keymgmt_gen_init_fn tpmkms_rsa_keymgmt_gen_init;
static OSSL_FUNC_keymgmt_gen_set_params_fn tpmkms_keymgmt_gen_set_params;
static OSSL_FUNC_keymgmt_gen_settable_params_fn tpmkms_ec_keymgmt_gen_settable_params;
static OSSL_FUNC_keymgmt_gen_settable_params_fn tpmkms_rsa_keymgmt_gen_settable_params;
static OSSL_FUNC_keymgmt_gen_fn tpmkms_keymgmt_gen;
static OSSL_FUNC_keymgmt_gen_cleanup_fn tpmkms_keymgmt_gen_cleanup;

typedef enum {
    KEYMGMT_FAMILY_EC = 1,
    KEYMGMT_FAMILY_RSA
} keymgmt_family;

typedef struct tpmkms_keymgmt_genctx_st {
    TPMKMS_PROVCTX *provctx;
    keymgmt_family family;
    tpmkms_alg alg;
    char *uri;
    int force;
} TPMKMS_KEYMGMT_GENCTX;

static const char *family_name(keymgmt_family family)
{
    return family == KEYMGMT_FAMILY_EC ? "EC" : "RSA";
}

static int family_has_alg(keymgmt_family family, tpmkms_alg alg)
{
    return family == KEYMGMT_FAMILY_EC ? tpmkms_alg_is_ec(alg)
                                       : tpmkms_alg_is_rsa(alg);
}

/* A key with a public half; new() makes keys without one. */
static int key_is_loaded(const TPMKMS_KEY *key)
{
    return key != NULL && key->pub.alg != TPMKMS_ALG_NONE;
}

static const char *key_label(const TPMKMS_KEY *key)
{
    return key->uri != NULL ? key->uri : "the tpmkms key";
}

/*
 * An empty key: OpenSSL makes one before importing into it (which we
 * refuse) and has() is false for it.  No backend: it never reaches a TPM.
 */
static void *tpmkms_keymgmt_new(void *provctx)
{
    return tpmkms_key_new(NULL, tpmkms_provctx_libctx(provctx));
}

static void tpmkms_keymgmt_free(void *keydata)
{
    tpmkms_key_free(keydata);
}

/* The reference is the TPMKMS_KEY pointer itself (see store.c). */
static void *keymgmt_load(const void *reference, size_t reference_sz,
                          keymgmt_family family)
{
    TPMKMS_KEY *key = NULL;

    if (reference == NULL || reference_sz != sizeof(key)) {
        TPMKMS_raise(TPMKMS_R_INTERNAL,
                     "not a tpmkms key reference (%zu bytes, expected %zu)",
                     reference_sz, sizeof(key));
        return NULL;
    }
    memcpy(&key, reference, sizeof(key));
    if (!key_is_loaded(key)) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "the key reference holds no key");
        return NULL;
    }
    if (!family_has_alg(family, key->pub.alg)) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s is an %s key (%s), not an %s key", key_label(key),
                     tpmkms_alg_keytype(key->pub.alg),
                     tpmkms_alg_name(key->pub.alg), family_name(family));
        return NULL;
    }
    if (!tpmkms_key_up_ref(key)) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot take a reference to %s",
                     key_label(key));
        return NULL;
    }
    return key;
}

static void *tpmkms_ec_keymgmt_load(const void *reference, size_t reference_sz)
{
    return keymgmt_load(reference, reference_sz, KEYMGMT_FAMILY_EC);
}

static void *tpmkms_rsa_keymgmt_load(const void *reference, size_t reference_sz)
{
    return keymgmt_load(reference, reference_sz, KEYMGMT_FAMILY_RSA);
}

/*
 * Keys never change after they are made, so a copy is another reference.
 * A copy that leaves out the private key cannot be made: it would still
 * sign with the TPM.
 */
static void *tpmkms_keymgmt_dup(const void *keydata_from, int selection)
{
    TPMKMS_KEY *key = (TPMKMS_KEY *)keydata_from;

    if (!key_is_loaded(key))
        return NULL;
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != OSSL_KEYMGMT_SELECT_KEYPAIR) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s can only be copied whole: its private half is in the TPM",
                     key_label(key));
        return NULL;
    }
    if (!tpmkms_key_up_ref(key)) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot take a reference to %s",
                     key_label(key));
        return NULL;
    }
    return key;
}

/*
 * A loaded key has everything: the public half, the private half (in the
 * TPM: it signs), and for EC its group.
 */
static int tpmkms_keymgmt_has(const void *keydata, int selection)
{
    const TPMKMS_KEY *key = keydata;

    if (key == NULL)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_ALL) == 0)
        return 1;
    return key_is_loaded(key);
}

static int public_halves_equal(const TPMKMS_PUBLIC *a, const TPMKMS_PUBLIC *b)
{
    if (a->alg != b->alg)
        return 0;
    if (tpmkms_alg_is_ec(a->alg))
        return a->ec_point_len == b->ec_point_len
            && memcmp(a->ec_point, b->ec_point, a->ec_point_len) == 0;
    return a->rsa_n_len == b->rsa_n_len
        && memcmp(a->rsa_n, b->rsa_n, a->rsa_n_len) == 0
        && a->rsa_e == b->rsa_e;
}

static int tpmkms_keymgmt_match(const void *keydata1, const void *keydata2,
                                int selection)
{
    const TPMKMS_KEY *k1 = keydata1, *k2 = keydata2;

    if (k1 == k2)
        return 1;
    if (!key_is_loaded(k1) || !key_is_loaded(k2))
        return !key_is_loaded(k1) && !key_is_loaded(k2);
    /* The private half is the TPM's: equal public halves, same key pair. */
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0)
        return public_halves_equal(&k1->pub, &k2->pub);
    /* Domain parameters only: for EC the group, which the alg names. */
    if ((selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) != 0
            && tpmkms_alg_is_ec(k1->pub.alg))
        return k1->pub.alg == k2->pub.alg;
    return 1;
}

/*
 * The group as OpenSSL's own EC keys name it (the curve's short name).
 * libssl looks the name up with OBJ_txt2nid, which knows "prime256v1"
 * but not "P-256": with the NIST name TLS 1.3 finds no usable EC key.
 */
static const char *key_group_name(tpmkms_alg alg)
{
    switch (alg) {
    case TPMKMS_ALG_EC_P256:
        return "prime256v1";
    case TPMKMS_ALG_EC_P384:
        return "secp384r1";
    default:
        return tpmkms_alg_group(alg);
    }
}

static const char *key_default_digest(const TPMKMS_KEY *key)
{
    return key->pub.alg == TPMKMS_ALG_EC_P384 ? "SHA384" : "SHA256";
}

/* Sets p (if non-NULL) to the big-endian number in buf. */
static int set_bn_param(OSSL_PARAM *p, const unsigned char *buf, size_t len)
{
    BIGNUM *bn;
    int ok;

    if (p == NULL)
        return 1;
    if ((bn = BN_bin2bn(buf, (int)len, NULL)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return 0;
    }
    ok = OSSL_PARAM_set_BN(p, bn);
    BN_free(bn);
    return ok;
}

static int set_bn_word_param(OSSL_PARAM *p, unsigned long w)
{
    BIGNUM *bn;
    int ok;

    if (p == NULL)
        return 1;
    if ((bn = BN_new()) == NULL || !BN_set_word(bn, w)) {
        BN_free(bn);
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return 0;
    }
    ok = OSSL_PARAM_set_BN(p, bn);
    BN_free(bn);
    return ok;
}

static int get_ec_params(const TPMKMS_KEY *key, OSSL_PARAM params[])
{
    const TPMKMS_PUBLIC *pub = &key->pub;
    size_t coord = pub->ec_point_len > 0 ? (pub->ec_point_len - 1) / 2 : 0;
    OSSL_PARAM *p;

    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_GROUP_NAME);
    if (p != NULL && !OSSL_PARAM_set_utf8_string(p, key_group_name(pub->alg)))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY);
    if (p != NULL
            && !OSSL_PARAM_set_octet_string(p, pub->ec_point, pub->ec_point_len))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PUB_KEY);
    if (p != NULL
            && !OSSL_PARAM_set_octet_string(p, pub->ec_point, pub->ec_point_len))
        return 0;
    /* libssl asks for these of every EC key it sends. */
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT);
    if (p != NULL && !OSSL_PARAM_set_utf8_string(p, "uncompressed"))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_EC_ENCODING);
    if (p != NULL && !OSSL_PARAM_set_utf8_string(p, "named_curve"))
        return 0;
    if (coord == 0)
        return 1;
    return set_bn_param(OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_EC_PUB_X),
                        pub->ec_point + 1, coord)
        && set_bn_param(OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_EC_PUB_Y),
                        pub->ec_point + 1 + coord, coord);
}

static int get_rsa_params(const TPMKMS_KEY *key, OSSL_PARAM params[])
{
    return set_bn_param(OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_RSA_N),
                        key->pub.rsa_n, key->pub.rsa_n_len)
        && set_bn_word_param(OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_RSA_E),
                             key->pub.rsa_e != 0 ? key->pub.rsa_e : 65537);
}

static int tpmkms_keymgmt_get_params(void *keydata, OSSL_PARAM params[])
{
    const TPMKMS_KEY *key = keydata;
    OSSL_PARAM *p;

    if (params == NULL)
        return 1;
    /* An empty key has nothing to tell. */
    if (!key_is_loaded(key))
        return 1;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_BITS);
    if (p != NULL && !OSSL_PARAM_set_int(p, tpmkms_alg_bits(key->pub.alg)))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_SECURITY_BITS);
    if (p != NULL
            && !OSSL_PARAM_set_int(p, tpmkms_alg_security_bits(key->pub.alg)))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_MAX_SIZE);
    if (p != NULL
            && !OSSL_PARAM_set_int(p, (int)tpmkms_alg_max_sig_size(key->pub.alg)))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_DEFAULT_DIGEST);
    if (p != NULL && !OSSL_PARAM_set_utf8_string(p, key_default_digest(key)))
        return 0;
    p = OSSL_PARAM_locate(params, TPMKMS_PARAM_URI);
    if (p != NULL && key->uri != NULL && !OSSL_PARAM_set_utf8_string(p, key->uri))
        return 0;
    p = OSSL_PARAM_locate(params, TPMKMS_PARAM_KEY_SCOPE);
    if (p != NULL && key->scope != TPMKMS_SCOPE_UNSET
            && !OSSL_PARAM_set_utf8_string(p, tpmkms_scope_name(key->scope)))
        return 0;
    if (tpmkms_alg_is_ec(key->pub.alg))
        return get_ec_params(key, params);
    return get_rsa_params(key, params);
}

static const OSSL_PARAM ec_gettable_params[] = {
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_X, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_Y, NULL, 0),
    OSSL_PARAM_utf8_string(TPMKMS_PARAM_URI, NULL, 0),
    OSSL_PARAM_utf8_string(TPMKMS_PARAM_KEY_SCOPE, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tpmkms_ec_keymgmt_gettable_params(void *provctx)
{
    return ec_gettable_params;
}

static const OSSL_PARAM rsa_gettable_params[] = {
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_utf8_string(TPMKMS_PARAM_URI, NULL, 0),
    OSSL_PARAM_utf8_string(TPMKMS_PARAM_KEY_SCOPE, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tpmkms_rsa_keymgmt_gettable_params(void *provctx)
{
    return rsa_gettable_params;
}

/*
 * Export gives the public half only: there is nothing secret in the
 * provider.  Asking for the private key together with the public key
 * (a key pair, as OpenSSL does when it copies or compares keys) gets the
 * public half; asking for the private key alone fails.
 */
static int tpmkms_keymgmt_export(void *keydata, int selection,
                                 OSSL_CALLBACK *param_cb, void *cbarg)
{
    const TPMKMS_KEY *key = keydata;
    const TPMKMS_PUBLIC *pub;
    int want_pub = (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0;
    int want_priv = (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0;
    int want_group = (selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) != 0;
    OSSL_PARAM params[4], *p = params;
    BIGNUM *n = NULL, *e = NULL;
    unsigned char *nbuf = NULL, *ebuf = NULL;
    int ok = 0;

    if (!key_is_loaded(key) || param_cb == NULL)
        return 0;
    pub = &key->pub;
    if (want_priv && !want_pub) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "the private key of %s stays in the TPM: only its public "
                     "half can be exported", key_label(key));
        return 0;
    }
    if (tpmkms_alg_is_ec(pub->alg)) {
        if (want_pub || want_group)
            *p++ = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                    (char *)key_group_name(pub->alg),
                                                    0);
        if (want_pub)
            *p++ = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                     (void *)pub->ec_point,
                                                     pub->ec_point_len);
    } else if (want_pub) {
        /* OSSL_PARAM numbers are native-endian: let OpenSSL lay them out. */
        size_t nlen, elen;

        n = BN_bin2bn(pub->rsa_n, (int)pub->rsa_n_len, NULL);
        e = BN_new();
        if (n == NULL || e == NULL
                || !BN_set_word(e, pub->rsa_e != 0 ? pub->rsa_e : 65537)) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
            goto out;
        }
        nlen = (size_t)BN_num_bytes(n);
        elen = (size_t)BN_num_bytes(e);
        if ((nbuf = OPENSSL_zalloc(nlen)) == NULL
                || (ebuf = OPENSSL_zalloc(elen)) == NULL) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
            goto out;
        }
        *p = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_N, nbuf, nlen);
        if (!OSSL_PARAM_set_BN(p++, n))
            goto out_internal;
        *p = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_E, ebuf, elen);
        if (!OSSL_PARAM_set_BN(p++, e))
            goto out_internal;
    }
    *p = OSSL_PARAM_construct_end();
    ok = param_cb(params, cbarg);
    goto out;

 out_internal:
    TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot export the public key of %s",
                 key_label(key));
 out:
    OPENSSL_free(nbuf);
    OPENSSL_free(ebuf);
    BN_free(n);
    BN_free(e);
    return ok;
}

static const OSSL_PARAM ec_export_public[] = {
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM ec_export_group[] = {
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tpmkms_ec_keymgmt_export_types(int selection)
{
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0)
        return ec_export_public;
    if ((selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) != 0)
        return ec_export_group;
    return NULL;
}

static const OSSL_PARAM rsa_export_public[] = {
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tpmkms_rsa_keymgmt_export_types(int selection)
{
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0)
        return rsa_export_public;
    return NULL;
}

/*
 * Import is refused: a key made of parameters has no TPM half.
 *
 * No error is raised here on purpose.  OpenSSL tries this import on its
 * own whenever it compares a software key with ours (EVP_PKEY_eq, as in
 * X509_check_private_key and SSL_CTX_use_PrivateKey): it offers the
 * software key to us first, then, when we decline, exports ours to the
 * software provider and compares there.  An error raised here would be
 * left on the queue of a comparison that succeeded, and libssl reads
 * stale errors as failures.
 */
static int tpmkms_keymgmt_import(void *keydata, int selection,
                                 const OSSL_PARAM params[])
{
    TPMKMS_debug("declined an import: tpmkms keys come from the TPM only");
    return 0;
}

static const OSSL_PARAM *tpmkms_keymgmt_import_types(int selection)
{
    return NULL;
}

static const char *tpmkms_ec_keymgmt_query_operation_name(int operation_id)
{
    return operation_id == OSSL_OP_SIGNATURE ? TPMKMS_SIG_NAME_ECDSA : NULL;
}

static const char *tpmkms_rsa_keymgmt_query_operation_name(int operation_id)
{
    return operation_id == OSSL_OP_SIGNATURE ? TPMKMS_SIG_NAME_RSA : NULL;
}

/* Key generation: a key created in the TPM and saved under a name. */

static void *keymgmt_gen_init(void *provctx, int selection,
                              const OSSL_PARAM params[], keymgmt_family family)
{
    TPMKMS_KEYMGMT_GENCTX *gctx;

    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "tpmkms generates %s key pairs only, not parameters",
                     family_name(family));
        return NULL;
    }
    if ((gctx = OPENSSL_zalloc(sizeof(*gctx))) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return NULL;
    }
    gctx->provctx = provctx;
    gctx->family = family;
    gctx->alg = family == KEYMGMT_FAMILY_EC ? TPMKMS_ALG_EC_P256
                                            : TPMKMS_ALG_RSA_2048;
    if (!tpmkms_keymgmt_gen_set_params(gctx, params)) {
        tpmkms_keymgmt_gen_cleanup(gctx);
        return NULL;
    }
    return gctx;
}

static void *tpmkms_ec_keymgmt_gen_init(void *provctx, int selection,
                                        const OSSL_PARAM params[])
{
    return keymgmt_gen_init(provctx, selection, params, KEYMGMT_FAMILY_EC);
}

static void *tpmkms_rsa_keymgmt_gen_init(void *provctx, int selection,
                                         const OSSL_PARAM params[])
{
    return keymgmt_gen_init(provctx, selection, params, KEYMGMT_FAMILY_RSA);
}

static const struct {
    const char *name;
    tpmkms_alg alg;
} ec_groups[] = {
    { "P-256", TPMKMS_ALG_EC_P256 },
    { "prime256v1", TPMKMS_ALG_EC_P256 },
    { "secp256r1", TPMKMS_ALG_EC_P256 },
    { "P-384", TPMKMS_ALG_EC_P384 },
    { "secp384r1", TPMKMS_ALG_EC_P384 },
};

static tpmkms_alg ec_group_alg(const char *name)
{
    for (size_t i = 0; i < sizeof(ec_groups) / sizeof(ec_groups[0]); i++)
        if (OPENSSL_strcasecmp(name, ec_groups[i].name) == 0)
            return ec_groups[i].alg;
    return TPMKMS_ALG_NONE;
}

static tpmkms_alg rsa_bits_alg(size_t bits)
{
    switch (bits) {
    case 2048:
        return TPMKMS_ALG_RSA_2048;
    case 3072:
        return TPMKMS_ALG_RSA_3072;
    default:
        return TPMKMS_ALG_NONE;
    }
}

static int tpmkms_keymgmt_gen_set_params(void *genctx, const OSSL_PARAM params[])
{
    TPMKMS_KEYMGMT_GENCTX *gctx = genctx;
    const OSSL_PARAM *p;
    tpmkms_alg alg = gctx->alg;
    const char *uri = NULL;
    int force = gctx->force;
    char *uri_copy;

    if (params == NULL)
        return 1;
    if (gctx->family == KEYMGMT_FAMILY_EC
            && (p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME)) != NULL) {
        const char *group = NULL;

        if (!OSSL_PARAM_get_utf8_string_ptr(p, &group)) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "group must be a curve name");
            return 0;
        }
        if ((alg = ec_group_alg(group)) == TPMKMS_ALG_NONE) {
            TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                         "group %s: tpmkms makes EC keys on P-256 (prime256v1, "
                         "secp256r1) and P-384 (secp384r1)", group);
            return 0;
        }
    }
    if (gctx->family == KEYMGMT_FAMILY_RSA
            && (p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_BITS)) != NULL) {
        size_t bits = 0;

        if (!OSSL_PARAM_get_size_t(p, &bits)) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "bits must be a number");
            return 0;
        }
        if ((alg = rsa_bits_alg(bits)) == TPMKMS_ALG_NONE) {
            TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                         "RSA with %zu bits: tpmkms makes RSA keys of 2048 and "
                         "3072 bits", bits);
            return 0;
        }
    }
    if ((p = OSSL_PARAM_locate_const(params, TPMKMS_PARAM_URI)) != NULL
            && !OSSL_PARAM_get_utf8_string_ptr(p, &uri)) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "uri must be a tpmkms: URI string");
        return 0;
    }
    if ((p = OSSL_PARAM_locate_const(params, "force")) != NULL
            && !OSSL_PARAM_get_int(p, &force)) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "force must be 0 or 1");
        return 0;
    }

    if (uri != NULL) {
        if ((uri_copy = OPENSSL_strdup(uri)) == NULL) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
            return 0;
        }
        OPENSSL_free(gctx->uri);
        gctx->uri = uri_copy;
    }
    gctx->alg = alg;
    gctx->force = force != 0;
    return 1;
}

static const OSSL_PARAM ec_gen_settable_params[] = {
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_utf8_string(TPMKMS_PARAM_URI, NULL, 0),
    OSSL_PARAM_int("force", NULL),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tpmkms_ec_keymgmt_gen_settable_params(void *genctx,
                                                               void *provctx)
{
    return ec_gen_settable_params;
}

static const OSSL_PARAM rsa_gen_settable_params[] = {
    OSSL_PARAM_size_t(OSSL_PKEY_PARAM_RSA_BITS, NULL),
    OSSL_PARAM_utf8_string(TPMKMS_PARAM_URI, NULL, 0),
    OSSL_PARAM_int("force", NULL),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tpmkms_rsa_keymgmt_gen_settable_params(void *genctx,
                                                                void *provctx)
{
    return rsa_gen_settable_params;
}

static void *tpmkms_keymgmt_gen(void *genctx, OSSL_CALLBACK *cb, void *cbarg)
{
    TPMKMS_KEYMGMT_GENCTX *gctx = genctx;
    TPMKMS_URI *uri = NULL;
    TPMKMS_KEY *key = NULL;

    if (gctx->uri == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "a TPM key needs a name: give genpkey "
                     "-pkeyopt uri:tpmkms:name=<name>");
        return NULL;
    }
    if (tpmkms_uri_parse(gctx->uri, &uri) != TPMKMS_R_OK)
        return NULL;
    TPMKMS_debug("generating %s for %s%s", tpmkms_alg_name(gctx->alg),
                 gctx->uri, gctx->force ? " (overwrite)" : "");
    if (tpmkms_key_create(tpmkms_provctx_ctx(gctx->provctx), uri, gctx->alg,
                          gctx->force, &key) != TPMKMS_R_OK)
        key = NULL;
    tpmkms_uri_free(uri);
    return key;
}

static void tpmkms_keymgmt_gen_cleanup(void *genctx)
{
    TPMKMS_KEYMGMT_GENCTX *gctx = genctx;

    if (gctx == NULL)
        return;
    /* The URI may carry a pin-value. */
    if (gctx->uri != NULL)
        OPENSSL_clear_free(gctx->uri, strlen(gctx->uri));
    OPENSSL_free(gctx);
}

#define TPMKMS_KEYMGMT_COMMON_FUNCTIONS                                          \
    { OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))tpmkms_keymgmt_new },               \
    { OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))tpmkms_keymgmt_free },             \
    { OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))tpmkms_keymgmt_dup },               \
    { OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))tpmkms_keymgmt_has },               \
    { OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))tpmkms_keymgmt_match },           \
    { OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))tpmkms_keymgmt_get_params }, \
    { OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))tpmkms_keymgmt_export },         \
    { OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))tpmkms_keymgmt_import },         \
    { OSSL_FUNC_KEYMGMT_IMPORT_TYPES,                                            \
      (void (*)(void))tpmkms_keymgmt_import_types },                             \
    { OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS,                                          \
      (void (*)(void))tpmkms_keymgmt_gen_set_params },                           \
    { OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))tpmkms_keymgmt_gen },               \
    { OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))tpmkms_keymgmt_gen_cleanup }

const OSSL_DISPATCH tpmkms_ec_keymgmt_functions[] = {
    TPMKMS_KEYMGMT_COMMON_FUNCTIONS,
    { OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))tpmkms_ec_keymgmt_load },
    { OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS,
      (void (*)(void))tpmkms_ec_keymgmt_gettable_params },
    { OSSL_FUNC_KEYMGMT_EXPORT_TYPES,
      (void (*)(void))tpmkms_ec_keymgmt_export_types },
    { OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,
      (void (*)(void))tpmkms_ec_keymgmt_query_operation_name },
    { OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))tpmkms_ec_keymgmt_gen_init },
    { OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS,
      (void (*)(void))tpmkms_ec_keymgmt_gen_settable_params },
    { 0, NULL }
};

const OSSL_DISPATCH tpmkms_rsa_keymgmt_functions[] = {
    TPMKMS_KEYMGMT_COMMON_FUNCTIONS,
    { OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))tpmkms_rsa_keymgmt_load },
    { OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS,
      (void (*)(void))tpmkms_rsa_keymgmt_gettable_params },
    { OSSL_FUNC_KEYMGMT_EXPORT_TYPES,
      (void (*)(void))tpmkms_rsa_keymgmt_export_types },
    { OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,
      (void (*)(void))tpmkms_rsa_keymgmt_query_operation_name },
    { OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))tpmkms_rsa_keymgmt_gen_init },
    { OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS,
      (void (*)(void))tpmkms_rsa_keymgmt_gen_settable_params },
    { 0, NULL }
};

const OSSL_ALGORITHM tpmkms_keymgmt_algorithms[] = {
    { "EC:id-ecPublicKey:1.2.840.10045.2.1", TPMKMS_PROPS,
      tpmkms_ec_keymgmt_functions, "TPM 2.0 EC keys (P-256, P-384)" },
    { "RSA:rsaEncryption:1.2.840.113549.1.1.1", TPMKMS_PROPS,
      tpmkms_rsa_keymgmt_functions, "TPM 2.0 RSA keys (2048, 3072 bits)" },
    { NULL, NULL, NULL, NULL }
};
