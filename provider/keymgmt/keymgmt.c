/*
 * EC and RSA key management: TPM keys, and the software keys OpenSSL
 * hands us when tpmkms is activated globally.
 *
 * The keydata OpenSSL holds is a TPMKMS_KEY pointer with its own
 * reference, in one of three states:
 *
 *   a TPM key       pub.alg set: from the store loader (load) or from
 *                   generation with a `uri` (gen, which creates the key in
 *                   the TPM and saves its record).  Only the public half
 *                   ever leaves: export gives the public parameters, and
 *                   the private key stays in the TPM.
 *   a software key  key->soft set (tpmkms_soft_is): an ordinary key of
 *                   another provider.  Why OpenSSL puts those here, and
 *                   everything done with them, is softkey.c's (see
 *                   softkey.h): each entry point below that takes a key
 *                   hands a software key over in its first statement,
 *                   import of anything but a TPM key makes one, and
 *                   generation without a `uri` runs the software generator
 *                   the generation context carries -- in the key
 *                   management an empty property query finds only: the
 *                   one a query for provider=tpmkms finds refuses to make
 *                   a key without a `uri` (see the dispatch tables).
 *   empty           new(), before an import.
 *
 * Signatures, RSA encryption and decryption, and ECDH of both kinds of
 * key are ours (query_operation_name cannot see the key): TPMKMS-ECDSA,
 * TPMKMS-RSA, TPMKMS-ECDH, names no other provider has.  signature.c,
 * asymcipher.c and keyexch.c forward a software key's operations to its
 * own provider, and RSA encryption with a TPM key to the default
 * provider's, on the public half.
 *
 * For libssl to offer EC groups in TLS while this keymgmt answers "EC",
 * the provider also advertises the TLS-GROUP capabilities of the EC
 * groups of that other provider (tpmkms_keymgmt_get_capabilities): libssl
 * uses a group only when the provider that advertises it is the one its
 * "EC" fetch returns.
 */
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include "provider.h"
#include "key.h"
#include "errors.h"
#include "debug.h"
#include "pubkey_evp.h"
#include "softkey.h"

static OSSL_FUNC_keymgmt_new_fn tpmkms_keymgmt_new;
static OSSL_FUNC_keymgmt_free_fn tpmkms_keymgmt_free;
static OSSL_FUNC_keymgmt_load_fn tpmkms_ec_keymgmt_load;
static OSSL_FUNC_keymgmt_load_fn tpmkms_rsa_keymgmt_load;
static OSSL_FUNC_keymgmt_dup_fn tpmkms_keymgmt_dup;
static OSSL_FUNC_keymgmt_has_fn tpmkms_keymgmt_has;
static OSSL_FUNC_keymgmt_match_fn tpmkms_keymgmt_match;
static OSSL_FUNC_keymgmt_validate_fn tpmkms_keymgmt_validate;
static OSSL_FUNC_keymgmt_get_params_fn tpmkms_keymgmt_get_params;
static OSSL_FUNC_keymgmt_gettable_params_fn tpmkms_ec_keymgmt_gettable_params;
static OSSL_FUNC_keymgmt_gettable_params_fn tpmkms_rsa_keymgmt_gettable_params;
static OSSL_FUNC_keymgmt_set_params_fn tpmkms_keymgmt_set_params;
static OSSL_FUNC_keymgmt_settable_params_fn tpmkms_ec_keymgmt_settable_params;
static OSSL_FUNC_keymgmt_settable_params_fn tpmkms_rsa_keymgmt_settable_params;
static OSSL_FUNC_keymgmt_export_fn tpmkms_keymgmt_export;
static OSSL_FUNC_keymgmt_export_types_fn tpmkms_ec_keymgmt_export_types;
static OSSL_FUNC_keymgmt_export_types_fn tpmkms_rsa_keymgmt_export_types;
static OSSL_FUNC_keymgmt_import_fn tpmkms_ec_keymgmt_import;
static OSSL_FUNC_keymgmt_import_fn tpmkms_rsa_keymgmt_import;
static OSSL_FUNC_keymgmt_import_types_fn tpmkms_ec_keymgmt_import_types;
static OSSL_FUNC_keymgmt_import_types_fn tpmkms_rsa_keymgmt_import_types;
static OSSL_FUNC_keymgmt_query_operation_name_fn tpmkms_ec_keymgmt_query_operation_name;
static OSSL_FUNC_keymgmt_query_operation_name_fn tpmkms_rsa_keymgmt_query_operation_name;
static OSSL_FUNC_keymgmt_gen_init_fn tpmkms_ec_keymgmt_gen_init;
static OSSL_FUNC_keymgmt_gen_init_fn tpmkms_rsa_keymgmt_gen_init;
static OSSL_FUNC_keymgmt_gen_init_fn tpmkms_ec_keymgmt_gen_init_tpm;
static OSSL_FUNC_keymgmt_gen_init_fn tpmkms_rsa_keymgmt_gen_init_tpm;
static OSSL_FUNC_keymgmt_gen_set_template_fn tpmkms_keymgmt_gen_set_template;
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
    int selection;
    /*
     * The TPM-only key management (reached by provider=tpmkms): no
     * software generator, and no key without a uri.
     */
    int tpm_only;
    /* For a TPM key (a uri was set). */
    char *uri;
    int force;
    char group[64];             /* as given; checked when a TPM key is made */
    size_t bits;                /* likewise; 0 when not given */
    tpmkms_alg template_alg;    /* from a TPM key given as template */
    /* For a software key (no uri): the other provider's generator; NULL if tpm_only. */
    TPMKMS_SOFT_GEN *soft;
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

/* A TPM key; new() makes keys without a public half. */
static int key_is_loaded(const TPMKMS_KEY *key)
{
    return key != NULL && key->pub.alg != TPMKMS_ALG_NONE;
}

static const char *key_label(const TPMKMS_KEY *key)
{
    return key->uri != NULL ? key->uri : "the tpmkms key";
}

/* ---- lifecycle -------------------------------------------------------- */

/*
 * An empty key: OpenSSL makes one before importing into it, and has() is
 * false for it.  No backend: it never reaches a TPM.
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

    /* The reference is a TPMKMS_KEY pointer (key.c): sizeof(key) is meant. */
    /* NOLINTBEGIN(bugprone-sizeof-expression) */
    if (reference == NULL || reference_sz != sizeof(key)) {
        TPMKMS_raise(TPMKMS_R_INTERNAL,
                     "not a tpmkms key reference (%zu bytes, expected %zu)",
                     reference_sz, sizeof(key));
        return NULL;
    }
    memcpy(&key, reference, sizeof(key));
    /* NOLINTEND(bugprone-sizeof-expression) */
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
 * TPM keys never change after they are made, so a copy is another
 * reference.  A copy that leaves out the private key cannot be made: it
 * would still sign with the TPM.  The one exception is an EC key's
 * parameters alone (EVP_PKEY_copy_parameters; CMS key agreement makes
 * one of the recipient's key): a software key with the curve and nothing
 * else.  A software key is copied by its provider.
 */
static void *tpmkms_keymgmt_dup(const void *keydata_from, int selection)
{
    TPMKMS_KEY *key = (TPMKMS_KEY *)keydata_from;

    if (tpmkms_soft_is(key))
        return tpmkms_soft_keymgmt_dup(key, selection);
    if (!key_is_loaded(key))
        return key != NULL ? tpmkms_key_new(NULL, key->libctx) : NULL;
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0
        && (selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0
        && tpmkms_alg_is_ec(key->pub.alg))
        return tpmkms_soft_keymgmt_params_of(key);
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
 * A loaded TPM key has everything: the public half, the private half (in
 * the TPM: it signs), and for EC its group.
 */
static int tpmkms_keymgmt_has(const void *keydata, int selection)
{
    const TPMKMS_KEY *key = keydata;

    if (tpmkms_soft_is(key))
        return tpmkms_soft_keymgmt_has(key, selection);
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
    if (k1 == NULL || k2 == NULL)
        return 0;
    if (tpmkms_soft_is(k1) || tpmkms_soft_is(k2))
        return tpmkms_soft_keymgmt_match(k1, k2, selection);
    /* Two empty keys match; an empty key and a TPM key do not. */
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
 * A TPM key is what the TPM made: its public half came from the TPM and
 * its private half never left it.
 */
static int tpmkms_keymgmt_validate(const void *keydata, int selection,
                                   int checktype)
{
    const TPMKMS_KEY *key = keydata;

    if (tpmkms_soft_is(key))
        return tpmkms_soft_keymgmt_validate(key, selection, checktype);
    return key_is_loaded(key);
}

/* ---- parameters ------------------------------------------------------- */

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
    return tpmkms_hash_name(tpmkms_alg_default_hash(key->pub.alg));
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
    if (tpmkms_soft_is(key))
        return tpmkms_soft_keymgmt_get_params(key, params);
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

/*
 * The gettable tables cover both kinds of key: ours, and what OpenSSL
 * 3.0's default provider answers for its EC and RSA keys (softkey.h).
 */
static const OSSL_PARAM ec_gettable_params[] = {
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_EC_DECODED_FROM_EXPLICIT_PARAMS, NULL),
    TPMKMS_SOFT_EC_DOMAIN_PARAMS,
    TPMKMS_SOFT_EC_KEY_PARAMS,
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
    TPMKMS_SOFT_RSA_KEY_PARAMS,
    OSSL_PARAM_utf8_string(TPMKMS_PARAM_URI, NULL, 0),
    OSSL_PARAM_utf8_string(TPMKMS_PARAM_KEY_SCOPE, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tpmkms_rsa_keymgmt_gettable_params(void *provctx)
{
    return rsa_gettable_params;
}

/*
 * A software key's parameters are its provider's to set (libssl sets a
 * peer's ECDHE share this way).  A TPM key does not change.
 */
static int tpmkms_keymgmt_set_params(void *keydata, const OSSL_PARAM params[])
{
    TPMKMS_KEY *key = keydata;

    if (params == NULL || params[0].key == NULL)
        return 1;
    if (tpmkms_soft_is(key))
        return tpmkms_soft_keymgmt_set_params(key, params);
    TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s cannot be changed (parameter %s)",
                 key_is_loaded(key) ? key_label(key) : "an empty key",
                 params[0].key);
    return 0;
}

/* Only a software key has settable parameters. */
static const OSSL_PARAM *tpmkms_ec_keymgmt_settable_params(void *provctx)
{
    return tpmkms_soft_keymgmt_settable_params("EC");
}

static const OSSL_PARAM *tpmkms_rsa_keymgmt_settable_params(void *provctx)
{
    return tpmkms_soft_keymgmt_settable_params("RSA");
}

/* ---- import / export -------------------------------------------------- */

/*
 * A TPM key exports its public half only: there is nothing secret in the
 * provider.  Asking for the private key together with the public key
 * (a key pair, as OpenSSL does when it copies, compares or moves keys to
 * another provider) gets the public half; asking for the private key
 * alone fails.  A software key exports whatever selection asks, private
 * part included: it is an ordinary key.
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

    if (param_cb == NULL)
        return 0;
    if (tpmkms_soft_is(key))
        return tpmkms_soft_keymgmt_export(key, selection, param_cb, cbarg);
    if (!key_is_loaded(key))
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

/*
 * What a software key can be imported from and exported to; a TPM key
 * exports the public part of it.
 */
static const OSSL_PARAM *tpmkms_ec_keymgmt_export_types(int selection)
{
    return tpmkms_soft_keymgmt_types("EC", selection);
}

static const OSSL_PARAM *tpmkms_ec_keymgmt_import_types(int selection)
{
    return tpmkms_soft_keymgmt_types("EC", selection);
}

static const OSSL_PARAM *tpmkms_rsa_keymgmt_export_types(int selection)
{
    return tpmkms_soft_keymgmt_types("RSA", selection);
}

static const OSSL_PARAM *tpmkms_rsa_keymgmt_import_types(int selection)
{
    return tpmkms_soft_keymgmt_types("RSA", selection);
}

/*
 * Import makes (or adds to) a software key; a TPM key is never made of
 * parameters, since it would have no TPM half.  Importing into a TPM key
 * is declined without an error: OpenSSL tries such imports on its own
 * when it compares keys, then goes the other way, and a stale error on the
 * queue of a comparison that succeeded reads as a failure to libssl.
 */
static int keymgmt_import(void *keydata, int selection,
                          const OSSL_PARAM params[], keymgmt_family family)
{
    TPMKMS_KEY *key = keydata;

    if (key == NULL)
        return 0;
    if (key_is_loaded(key)) {
        TPMKMS_debug("declined an import into %s: TPM keys come from the TPM only",
                     key_label(key));
        return 0;
    }
    return tpmkms_soft_keymgmt_import(key, family_name(family), selection,
                                      params);
}

static int tpmkms_ec_keymgmt_import(void *keydata, int selection,
                                    const OSSL_PARAM params[])
{
    return keymgmt_import(keydata, selection, params, KEYMGMT_FAMILY_EC);
}

static int tpmkms_rsa_keymgmt_import(void *keydata, int selection,
                                     const OSSL_PARAM params[])
{
    return keymgmt_import(keydata, selection, params, KEYMGMT_FAMILY_RSA);
}

/*
 * Signatures, decryption and key exchange of both kinds of key are ours:
 * a TPM key's are made in the TPM, a software key's are forwarded to its
 * provider (signature.c, asymcipher.c, keyexch.c), and so is encryption
 * with a TPM key's public half.  Another provider's "RSA" cipher or
 * "ECDH" would get a TPM key exported as its public half, and fail for
 * want of the private one.
 */
static const char *tpmkms_ec_keymgmt_query_operation_name(int operation_id)
{
    switch (operation_id) {
    case OSSL_OP_SIGNATURE:
        return TPMKMS_SIG_NAME_ECDSA;
    case OSSL_OP_KEYEXCH:
        return TPMKMS_EXCH_NAME_ECDH;
    default:
        return NULL;
    }
}

/* One name for both: TPMKMS_CIPHER_NAME_RSA is TPMKMS_SIG_NAME_RSA. */
static const char *tpmkms_rsa_keymgmt_query_operation_name(int operation_id)
{
    if (operation_id == OSSL_OP_SIGNATURE
        || operation_id == OSSL_OP_ASYM_CIPHER)
        return TPMKMS_SIG_NAME_RSA;
    return NULL;
}

/*
 * ---- generation: a TPM key with a uri; without one, a software key
 * (the keymgmt an empty property query finds) or an error (the TPM-only
 * keymgmt that provider=tpmkms finds: see the dispatch tables) ---------
 */

static void *keymgmt_gen_init(void *provctx, int selection,
                              const OSSL_PARAM params[], keymgmt_family family,
                              int tpm_only)
{
    TPMKMS_KEYMGMT_GENCTX *gctx;

    if ((gctx = OPENSSL_zalloc(sizeof(*gctx))) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return NULL;
    }
    gctx->provctx = provctx;
    gctx->family = family;
    gctx->selection = selection;
    gctx->tpm_only = tpm_only;
    /* Parameters go to the software generator as they come. */
    if ((!tpm_only
         && (gctx->soft = tpmkms_soft_gen_new(tpmkms_provctx_libctx(provctx),
                                              family_name(family),
                                              selection)) == NULL)
            || !tpmkms_keymgmt_gen_set_params(gctx, params)) {
        tpmkms_keymgmt_gen_cleanup(gctx);
        return NULL;
    }
    return gctx;
}

static void *tpmkms_ec_keymgmt_gen_init(void *provctx, int selection,
                                        const OSSL_PARAM params[])
{
    return keymgmt_gen_init(provctx, selection, params, KEYMGMT_FAMILY_EC, 0);
}

static void *tpmkms_rsa_keymgmt_gen_init(void *provctx, int selection,
                                         const OSSL_PARAM params[])
{
    return keymgmt_gen_init(provctx, selection, params, KEYMGMT_FAMILY_RSA, 0);
}

static void *tpmkms_ec_keymgmt_gen_init_tpm(void *provctx, int selection,
                                            const OSSL_PARAM params[])
{
    return keymgmt_gen_init(provctx, selection, params, KEYMGMT_FAMILY_EC, 1);
}

static void *tpmkms_rsa_keymgmt_gen_init_tpm(void *provctx, int selection,
                                             const OSSL_PARAM params[])
{
    return keymgmt_gen_init(provctx, selection, params, KEYMGMT_FAMILY_RSA, 1);
}

/*
 * A software key as template for the TPM-only generator: its EC group
 * (the one domain parameter a TPM key takes) becomes the group asked for.
 */
static int gen_set_soft_template_tpm(TPMKMS_KEYMGMT_GENCTX *gctx,
                                     const TPMKMS_KEY *key)
{
    char group[sizeof(gctx->group)];

    if (gctx->family != KEYMGMT_FAMILY_EC)
        return 1;
    if (!EVP_PKEY_get_utf8_string_param(key->soft, OSSL_PKEY_PARAM_GROUP_NAME,
                                        group, sizeof(group), NULL)) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "the template key has no named EC group: tpmkms makes "
                     "EC keys on P-256 and P-384");
        return 0;
    }
    strcpy(gctx->group, group);
    return 1;
}

/*
 * A template (EVP_PKEY_keygen on a context made from a key, as libssl
 * does for a TLS 1.2 client's ECDHE share): its domain parameters go to
 * the software generator; a TPM key's group serves a TPM key too.
 */
static int tpmkms_keymgmt_gen_set_template(void *genctx, void *templ)
{
    TPMKMS_KEYMGMT_GENCTX *gctx = genctx;
    const TPMKMS_KEY *key = templ;

    if (tpmkms_soft_is(key))
        return gctx->soft != NULL ? tpmkms_soft_gen_set_template(gctx->soft, key)
                                  : gen_set_soft_template_tpm(gctx, key);
    if (!key_is_loaded(key))
        return 1;
    gctx->template_alg = key->pub.alg;
    if (!tpmkms_alg_is_ec(key->pub.alg) || gctx->soft == NULL)
        return 1;
    return tpmkms_soft_gen_set_group(gctx->soft, key_group_name(key->pub.alg));
}

/*
 * Parameters are read for a TPM key (uri, force, group, bits: checked
 * when the key is made, since only then is it known whether it is a TPM
 * key) and passed on to the software generator.  A refusal from that
 * generator fails here, with its error, unless a uri is set: then the key
 * will be a TPM key and the software generator's opinion does not count.
 */
static int tpmkms_keymgmt_gen_set_params(void *genctx, const OSSL_PARAM params[])
{
    TPMKMS_KEYMGMT_GENCTX *gctx = genctx;
    const OSSL_PARAM *p;
    const char *uri = NULL, *group = NULL;
    size_t bits = gctx->bits;
    int force = gctx->force;
    char *uri_copy;

    if (params == NULL)
        return 1;
    if (gctx->family == KEYMGMT_FAMILY_EC
            && (p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME)) != NULL) {
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &group)
                || strlen(group) >= sizeof(gctx->group)) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "group must be a curve name");
            return 0;
        }
    }
    if (gctx->family == KEYMGMT_FAMILY_RSA
            && (p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_BITS)) != NULL
            && !OSSL_PARAM_get_size_t(p, &bits)) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "bits must be a number");
        return 0;
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
        if (gctx->uri != NULL)
            OPENSSL_clear_free(gctx->uri, strlen(gctx->uri));
        gctx->uri = uri_copy;
    }
    if (group != NULL)
        strcpy(gctx->group, group);
    gctx->bits = bits;
    gctx->force = force != 0;
    if (gctx->soft == NULL)
        return 1;
    return tpmkms_soft_gen_set_params(gctx->soft, params, gctx->uri != NULL);
}

/* Our own parameters and those of the default provider's generators. */
static const OSSL_PARAM ec_gen_settable_params[] = {
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_utf8_string(TPMKMS_PARAM_URI, NULL, 0),
    OSSL_PARAM_int("force", NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_USE_COFACTOR_ECDH, NULL),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_FIELD_TYPE, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_P, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_A, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_B, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_EC_GENERATOR, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_ORDER, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_COFACTOR, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_EC_SEED, NULL, 0),
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
    OSSL_PARAM_size_t(OSSL_PKEY_PARAM_RSA_PRIMES, NULL),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tpmkms_rsa_keymgmt_gen_settable_params(void *genctx,
                                                                void *provctx)
{
    return rsa_gen_settable_params;
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

/* The TPM algorithm the parameters ask for; raises if the TPM has none. */
static tpmkms_alg gen_tpm_alg(const TPMKMS_KEYMGMT_GENCTX *gctx)
{
    tpmkms_alg alg;

    if (gctx->family == KEYMGMT_FAMILY_EC) {
        if (gctx->group[0] == '\0')
            return tpmkms_alg_is_ec(gctx->template_alg) ? gctx->template_alg
                                                        : TPMKMS_ALG_EC_P256;
        if ((alg = ec_group_alg(gctx->group)) == TPMKMS_ALG_NONE)
            TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                         "group %s: tpmkms makes EC keys on P-256 (prime256v1, "
                         "secp256r1) and P-384 (secp384r1)", gctx->group);
        return alg;
    }
    if (gctx->bits == 0)
        return TPMKMS_ALG_RSA_2048;
    if ((alg = rsa_bits_alg(gctx->bits)) == TPMKMS_ALG_NONE)
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "RSA with %zu bits: tpmkms makes RSA keys of 2048 and "
                     "3072 bits", gctx->bits);
    return alg;
}

static void *gen_tpm_key(TPMKMS_KEYMGMT_GENCTX *gctx)
{
    TPMKMS_URI *uri = NULL;
    TPMKMS_KEY *key = NULL;
    tpmkms_alg alg;

    if ((gctx->selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "tpmkms generates %s key pairs only, not parameters",
                     family_name(gctx->family));
        return NULL;
    }
    if ((alg = gen_tpm_alg(gctx)) == TPMKMS_ALG_NONE
            || tpmkms_ctx_ready(tpmkms_provctx_ctx(gctx->provctx)) != TPMKMS_R_OK)
        return NULL;
    if (tpmkms_uri_parse(gctx->uri, &uri) != TPMKMS_R_OK)
        return NULL;
    TPMKMS_debug("generating %s for %s%s", tpmkms_alg_name(alg), gctx->uri,
                 gctx->force ? " (overwrite)" : "");
    if (tpmkms_key_create(tpmkms_provctx_ctx(gctx->provctx), uri, alg,
                          gctx->force, &key) != TPMKMS_R_OK)
        key = NULL;
    tpmkms_uri_free(uri);
    return key;
}

/*
 * Without a uri, the keymgmt an empty property query finds makes a
 * software key; the TPM-only one refuses, saying how to name the key.
 */
static void *tpmkms_keymgmt_gen(void *genctx, OSSL_CALLBACK *cb, void *cbarg)
{
    TPMKMS_KEYMGMT_GENCTX *gctx = genctx;

    if (gctx->uri != NULL)
        return gen_tpm_key(gctx);
    if (gctx->soft != NULL)
        return tpmkms_soft_gen_generate(gctx->soft, cb, cbarg);
    if ((gctx->selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0)
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "tpmkms generates %s key pairs only, not parameters",
                     family_name(gctx->family));
    else
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "no uri: tpmkms (provider=tpmkms) makes %s keys in the TPM "
                     "only; name the key with -pkeyopt uri:tpmkms:name=NAME "
                     "(parameter \"uri\"), or leave provider=tpmkms out of "
                     "the property query for a software key",
                     family_name(gctx->family));
    return NULL;
}

static void tpmkms_keymgmt_gen_cleanup(void *genctx)
{
    TPMKMS_KEYMGMT_GENCTX *gctx = genctx;

    if (gctx == NULL)
        return;
    /* The URI may carry a pin-value. */
    if (gctx->uri != NULL)
        OPENSSL_clear_free(gctx->uri, strlen(gctx->uri));
    tpmkms_soft_gen_free(gctx->soft);
    OPENSSL_free(gctx);
}

/* ---- TLS groups ------------------------------------------------------- */

typedef struct {
    OSSL_CALLBACK *cb;
    void *arg;
} GROUP_FORWARD;

static int forward_ec_group(const OSSL_PARAM params[], void *arg)
{
    GROUP_FORWARD *fwd = arg;
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params,
                                                  OSSL_CAPABILITY_TLS_GROUP_ALG);
    const char *alg = NULL;

    if (p == NULL || !OSSL_PARAM_get_utf8_string_ptr(p, &alg)
            || OPENSSL_strcasecmp(alg, "EC") != 0)
        return 1;
    return fwd->cb(params, fwd->arg);
}

/*
 * libssl uses a TLS group only when the provider that advertises it is
 * the one its fetch of the group's key type returns.  When that fetch of
 * "EC" returns ours (tpmkms activated first), the default provider's EC
 * groups would all be dropped and TLS would lose ECDHE.  So we advertise
 * the EC groups of the provider our software EC keys go to, exactly as it
 * does; the ephemeral keys then come through this keymgmt as software
 * keys.  When the fetch returns the default provider, libssl ignores ours.
 */
int tpmkms_keymgmt_get_capabilities(void *provctx, const char *capability,
                                    OSSL_CALLBACK *cb, void *arg)
{
    OSSL_LIB_CTX *libctx = tpmkms_provctx_libctx(provctx);
    GROUP_FORWARD fwd = { cb, arg };
    EVP_KEYMGMT *ec;
    int ok = 1;

    if (OPENSSL_strcasecmp(capability, "TLS-GROUP") != 0)
        return 1;
    tpmkms_err_set_mark();
    ec = EVP_KEYMGMT_fetch(libctx, "EC", TPMKMS_SOFT_PROPQ);
    tpmkms_err_pop_to_mark();
    if (ec == NULL)
        return 1;
    ok = OSSL_PROVIDER_get_capabilities(EVP_KEYMGMT_get0_provider(ec),
                                        "TLS-GROUP", forward_ec_group, &fwd);
    EVP_KEYMGMT_free(ec);
    return ok;
}

/* ---- dispatch --------------------------------------------------------- */

#define TPMKMS_KEYMGMT_COMMON_FUNCTIONS                                          \
    { OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))tpmkms_keymgmt_new },               \
    { OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))tpmkms_keymgmt_free },             \
    { OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))tpmkms_keymgmt_dup },               \
    { OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))tpmkms_keymgmt_has },               \
    { OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))tpmkms_keymgmt_match },           \
    { OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))tpmkms_keymgmt_validate },     \
    { OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))tpmkms_keymgmt_get_params }, \
    { OSSL_FUNC_KEYMGMT_SET_PARAMS, (void (*)(void))tpmkms_keymgmt_set_params }, \
    { OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))tpmkms_keymgmt_export },         \
    { OSSL_FUNC_KEYMGMT_GEN_SET_TEMPLATE,                                        \
      (void (*)(void))tpmkms_keymgmt_gen_set_template },                         \
    { OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS,                                          \
      (void (*)(void))tpmkms_keymgmt_gen_set_params },                           \
    { OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))tpmkms_keymgmt_gen },               \
    { OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))tpmkms_keymgmt_gen_cleanup }

#define TPMKMS_EC_KEYMGMT_FUNCTIONS(gen_init)                                   \
    TPMKMS_KEYMGMT_COMMON_FUNCTIONS,                                             \
    { OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))tpmkms_ec_keymgmt_load },          \
    { OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS,                                         \
      (void (*)(void))tpmkms_ec_keymgmt_gettable_params },                       \
    { OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS,                                         \
      (void (*)(void))tpmkms_ec_keymgmt_settable_params },                       \
    { OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))tpmkms_ec_keymgmt_import },      \
    { OSSL_FUNC_KEYMGMT_IMPORT_TYPES,                                            \
      (void (*)(void))tpmkms_ec_keymgmt_import_types },                          \
    { OSSL_FUNC_KEYMGMT_EXPORT_TYPES,                                            \
      (void (*)(void))tpmkms_ec_keymgmt_export_types },                          \
    { OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,                                    \
      (void (*)(void))tpmkms_ec_keymgmt_query_operation_name },                  \
    { OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))(gen_init) },                  \
    { OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS,                                     \
      (void (*)(void))tpmkms_ec_keymgmt_gen_settable_params },                   \
    { 0, NULL }

#define TPMKMS_RSA_KEYMGMT_FUNCTIONS(gen_init)                                  \
    TPMKMS_KEYMGMT_COMMON_FUNCTIONS,                                             \
    { OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))tpmkms_rsa_keymgmt_load },         \
    { OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS,                                         \
      (void (*)(void))tpmkms_rsa_keymgmt_gettable_params },                      \
    { OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS,                                         \
      (void (*)(void))tpmkms_rsa_keymgmt_settable_params },                      \
    { OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))tpmkms_rsa_keymgmt_import },     \
    { OSSL_FUNC_KEYMGMT_IMPORT_TYPES,                                            \
      (void (*)(void))tpmkms_rsa_keymgmt_import_types },                         \
    { OSSL_FUNC_KEYMGMT_EXPORT_TYPES,                                            \
      (void (*)(void))tpmkms_rsa_keymgmt_export_types },                         \
    { OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,                                    \
      (void (*)(void))tpmkms_rsa_keymgmt_query_operation_name },                 \
    { OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))(gen_init) },                  \
    { OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS,                                     \
      (void (*)(void))tpmkms_rsa_keymgmt_gen_settable_params },                  \
    { 0, NULL }

/* Without a uri, these generate software keys (for the default provider). */
static const OSSL_DISPATCH tpmkms_ec_keymgmt_functions[] = {
    TPMKMS_EC_KEYMGMT_FUNCTIONS(tpmkms_ec_keymgmt_gen_init)
};

static const OSSL_DISPATCH tpmkms_rsa_keymgmt_functions[] = {
    TPMKMS_RSA_KEYMGMT_FUNCTIONS(tpmkms_rsa_keymgmt_gen_init)
};

/* The same, except that generation without a uri fails. */
static const OSSL_DISPATCH tpmkms_ec_keymgmt_tpm_functions[] = {
    TPMKMS_EC_KEYMGMT_FUNCTIONS(tpmkms_ec_keymgmt_gen_init_tpm)
};

static const OSSL_DISPATCH tpmkms_rsa_keymgmt_tpm_functions[] = {
    TPMKMS_RSA_KEYMGMT_FUNCTIONS(tpmkms_rsa_keymgmt_gen_init_tpm)
};

/*
 * Two key managements per key type, told apart by their properties only:
 *
 *   - the first carries TPMKMS_SOFTKEYS_PROPS and not provider=tpmkms.  A
 *     fetch without a property query (libssl's ECDHE keys, an
 *     application's EVP_PKEY_Q_keygen, genpkey without -propquery) takes
 *     OpenSSL's first implementation, so with tpmkms activated first it
 *     is this one: it makes software keys for the default provider when
 *     no uri is given (softkey.h), and TPM keys with one.
 *   - the second carries TPMKMS_PROPS.  A query for provider=tpmkms (or
 *     ?provider=tpmkms) skips the first, which does not have that
 *     property, and finds this one: a user who asked tpmkms for a key
 *     gets a TPM key or an error that says to give a uri, never a
 *     software key.
 *
 * OpenSSL 3.0 adds no provider=NAME property of its own (every provider
 * declares it in its tables); a query without a value for a property
 * reads it as false.  So TPMKMS_SOFT_PROPQ, with which softkey.c fetches
 * the other provider's keymgmt, names both properties: provider!=tpmkms
 * alone would find the first entry here again.
 *
 * A key is either's: both have the same functions apart from gen_init,
 * and store.c's and decoder.c's references load in either.  OpenSSL 3.0
 * takes two keymgmts of one provider with the same names as the same key
 * manager (evp_keymgmt_util_export_to_provider compares the provider and
 * name id, not only the pointers), so a TPM key held by one is never
 * exported to the other (tests: genpkey_creates_tpm_keys.sh).
 */
const OSSL_ALGORITHM tpmkms_keymgmt_algorithms[] = {
    { "EC:id-ecPublicKey:1.2.840.10045.2.1", TPMKMS_SOFTKEYS_PROPS,
      tpmkms_ec_keymgmt_functions,
      "TPM 2.0 EC keys by uri; software EC keys for the default provider" },
    { "RSA:rsaEncryption:1.2.840.113549.1.1.1", TPMKMS_SOFTKEYS_PROPS,
      tpmkms_rsa_keymgmt_functions,
      "TPM 2.0 RSA keys by uri; software RSA keys for the default provider" },
    { "EC:id-ecPublicKey:1.2.840.10045.2.1", TPMKMS_PROPS,
      tpmkms_ec_keymgmt_tpm_functions, "TPM 2.0 EC keys (P-256, P-384)" },
    { "RSA:rsaEncryption:1.2.840.113549.1.1.1", TPMKMS_PROPS,
      tpmkms_rsa_keymgmt_tpm_functions, "TPM 2.0 RSA keys (2048, 3072 bits)" },
    { NULL, NULL, NULL, NULL }
};
