/*
 * The scripted backend of fake_backend.h.  "Loading" a key parses its
 * software private key once and caches it in key->loaded, like a TPM
 * object kept loaded between signatures.
 */
#include <string.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "fake_backend.h"

FAKE_COUNTS fake_counts;
tpmkms_rc fake_fail_next_sign;
tpmkms_rc fake_fail_next_connect;
tpmkms_rc fake_fail_next_evict;
unsigned fake_sign_delay_us;
unsigned char fake_tpm_id[FAKE_TPM_ID_LEN];

typedef struct {
    int id;
} FAKE_STATE;

/* Persistent objects: a small table, as a TPM's NV would hold them. */
static struct {
    uint32_t handle;
    TPMKMS_PUBLIC pub;
} fake_persistent[8];


void fake_backend_reset(void)
{
    memset(&fake_counts, 0, sizeof(fake_counts));
    fake_fail_next_sign = 0;
    fake_fail_next_connect = 0;
    fake_fail_next_evict = 0;
    fake_sign_delay_us = 0;
    memset(fake_persistent, 0, sizeof(fake_persistent));
    fake_set_tpm(0xA1);
}

void fake_set_tpm(unsigned char tpm)
{
    fake_tpm_id[0] = 0x00;      /* TPM2_ALG_SHA256, as a TPM name starts */
    fake_tpm_id[1] = 0x0b;
    memset(fake_tpm_id + 2, tpm, sizeof(fake_tpm_id) - 2);
}

static tpmkms_rc fake_connect(const TPMKMS_CONN_CONFIG *cfg, void **state)
{
    const char *tcti = cfg->conn;
    FAKE_STATE *st;

    if (fake_fail_next_connect != 0) {
        tpmkms_rc rc = fake_fail_next_connect;

        fake_fail_next_connect = 0;
        TPMKMS_raise(rc, "fake: cannot connect to %s", tcti ? tcti : "default");
        return rc;
    }
    st = OPENSSL_zalloc(sizeof(*st));
    st->id = ++fake_counts.connects;
    OPENSSL_strlcpy(fake_counts.last_tcti, tcti ? tcti : "",
                    sizeof(fake_counts.last_tcti));
    *state = st;
    return TPMKMS_R_OK;
}

static void fake_disconnect(void *state)
{
    fake_counts.disconnects++;
    OPENSSL_free(state);
}

static void fake_abandon(void *state)
{
    fake_counts.abandons++;
    /* Like the real one: nothing is sent; only memory is freed. */
    OPENSSL_free(state);
}

/*
 * The fake's key material is a TSS2 PRIVATE KEY (so records and key
 * files hold it) whose "private part" is a TPM2B holding the software
 * key's DER.
 */
static EVP_PKEY *blob_key(const TPMKMS_KEYBLOB *blob)
{
    const unsigned char *p = blob->priv + 2;

    if (blob->priv == NULL || blob->priv_len < 2)
        return NULL;
    return d2i_AutoPrivateKey(NULL, &p, (long)blob->priv_len - 2);
}

static EVP_PKEY *material_key(const TPMKMS_KEYDATA *kd, int *empty_auth)
{
    TPMKMS_KEYBLOB blob = { 0 };
    EVP_PKEY *pkey = NULL;

    if (kd->format == TPMKMS_KEYFMT_TSS2_DER
            && tpmkms_tss2key_from_der(kd->data, kd->len, &blob) == TPMKMS_R_OK) {
        pkey = blob_key(&blob);
        if (empty_auth != NULL)
            *empty_auth = blob.empty_auth;
    }
    tpmkms_keyblob_clear(&blob);
    return pkey;
}

static void public_of(EVP_PKEY *pkey, TPMKMS_PUBLIC *pub)
{
    pub->can_sign = 1;
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[32];

        EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                       group, sizeof(group), NULL);
        pub->alg = strcmp(group, "P-384") == 0 || strcmp(group, "secp384r1") == 0
                   ? TPMKMS_ALG_EC_P384 : TPMKMS_ALG_EC_P256;
        EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                        pub->ec_point, sizeof(pub->ec_point),
                                        &pub->ec_point_len);
    } else {
        BIGNUM *n = NULL;

        pub->alg = EVP_PKEY_get_bits(pkey) == 3072 ? TPMKMS_ALG_RSA_3072
                                                   : TPMKMS_ALG_RSA_2048;
        EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n);
        pub->rsa_n_len = (size_t)BN_bn2bin(n, pub->rsa_n);
        pub->rsa_e = 65537;
        pub->can_decrypt = 1;
        BN_free(n);
    }
}

static tpmkms_rc fake_describe(const TPMKMS_KEYDATA *kd, TPMKMS_KEYINFO *info,
                               const char *label)
{
    int empty_auth = 1;
    EVP_PKEY *pkey = material_key(kd, &empty_auth);

    if (pkey == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE, "%s: fake key material does not parse",
                     label);
        return TPMKMS_R_BAD_KEY_FILE;
    }
    public_of(pkey, &info->pub);
    info->needs_auth = !empty_auth;
    EVP_PKEY_free(pkey);
    return TPMKMS_R_OK;
}

static tpmkms_rc fake_create_key(void *state, const TPMKMS_CREATE_PARAMS *params,
                                 TPMKMS_KEYDATA *kd, TPMKMS_PUBLIC *pub)
{
    TPMKMS_KEYBLOB blob_ = { 0 }, *blob = &blob_;
    EVP_PKEY *pkey = NULL;
    unsigned char *der = NULL;
    tpmkms_rc rc;
    int len;

    fake_counts.creates++;
    switch (params->alg) {
    case TPMKMS_ALG_EC_P256:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case TPMKMS_ALG_EC_P384:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        break;
    case TPMKMS_ALG_RSA_2048:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        break;
    default:
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM, "fake: %s",
                     tpmkms_alg_name(params->alg));
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    len = i2d_PrivateKey(pkey, &der);
    public_of(pkey, pub);
    EVP_PKEY_free(pkey);
    blob->parent = TPMKMS_SRK_HANDLE;
    blob->empty_auth = params->auth == NULL;
    if (len <= 0 || (blob->priv = OPENSSL_malloc((size_t)len + 2)) == NULL) {
        OPENSSL_free(der);
        TPMKMS_raise(TPMKMS_R_INTERNAL, "fake: out of memory");
        return TPMKMS_R_INTERNAL;
    }
    blob->priv[0] = (unsigned char)(len >> 8);
    blob->priv[1] = (unsigned char)len;
    memcpy(blob->priv + 2, der, (size_t)len);
    OPENSSL_clear_free(der, (size_t)len);
    blob->priv_len = (size_t)len + 2;
    blob->pub = OPENSSL_memdup("\x00\x02" "ff", 4);   /* a TPM2B of 2 bytes */
    blob->pub_len = 4;
    memset(kd, 0, sizeof(*kd));
    rc = tpmkms_tss2key_to_der(blob, &kd->data, &kd->len);
    kd->format = TPMKMS_KEYFMT_TSS2_DER;
    tpmkms_keyblob_clear(blob);
    return rc;
}

static tpmkms_rc fake_sign(void *state, TPMKMS_KEYREF *key, tpmkms_scheme scheme,
                           tpmkms_hash hash, const unsigned char *in,
                           size_t inlen, unsigned char *sig, size_t *siglen)
{
    EVP_PKEY_CTX *pctx;
    size_t len = TPMKMS_SIG_MAX;
    int ok;

    if (fake_fail_next_sign != 0) {
        tpmkms_rc rc = fake_fail_next_sign;

        fake_fail_next_sign = 0;
        TPMKMS_raise(rc, "%s: fake sign failure", key->label);
        return rc;
    }
    if (key->loaded == NULL) {
        fake_counts.loads++;
        key->loaded = material_key(&key->key, NULL);
    }
    fake_counts.signs++;
    if (fake_sign_delay_us != 0)
        usleep(fake_sign_delay_us);
    pctx = EVP_PKEY_CTX_new(key->loaded, NULL);
    ok = pctx != NULL && EVP_PKEY_sign_init(pctx) > 0;
    if (ok && scheme == TPMKMS_SCHEME_RSA_PKCS1)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
    if (ok && scheme != TPMKMS_SCHEME_RSA_RAW)
        ok = EVP_PKEY_CTX_set_signature_md(pctx,
                 EVP_get_digestbyname(tpmkms_hash_name(hash))) > 0;
    ok = ok && EVP_PKEY_sign(pctx, sig, &len, in, inlen) > 0;
    EVP_PKEY_CTX_free(pctx);
    /* A TPM answers ECDSA with r||s, each the curve's size, not DER. */
    if (ok && scheme == TPMKMS_SCHEME_ECDSA) {
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
        size_t half = (size_t)(EVP_PKEY_get_bits(key->loaded) + 7) / 8;

        ok = es != NULL
             && BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, (int)half) > 0
             && BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + half, (int)half) > 0;
        len = 2 * half;
        ECDSA_SIG_free(es);
    }
    if (!ok) {
        TPMKMS_raise(TPMKMS_R_SIGN_FAILED, "%s: fake sign failed", key->label);
        return TPMKMS_R_SIGN_FAILED;
    }
    *siglen = len;
    return TPMKMS_R_OK;
}

static void fake_unload(void *state, TPMKMS_KEYREF *key)
{
    fake_counts.unloads++;
    EVP_PKEY_free(key->loaded);
    key->loaded = NULL;
}

static void fake_forget(TPMKMS_KEYREF *key)
{
    fake_counts.forgets++;
    EVP_PKEY_free(key->loaded);
    key->loaded = NULL;
}

static tpmkms_rc fake_read_persistent(void *state, uint32_t handle,
                                      TPMKMS_PUBLIC *pub)
{
    fake_counts.admin_calls++;
    for (size_t i = 0; i < sizeof(fake_persistent) / sizeof(fake_persistent[0]); i++)
        if (fake_persistent[i].handle == handle && handle != 0) {
            *pub = fake_persistent[i].pub;
            return TPMKMS_R_OK;
        }
    TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND, "fake: no persistent key at 0x%08x",
                 (unsigned)handle);
    return TPMKMS_R_KEY_NOT_FOUND;
}

static tpmkms_rc fake_persist(void *state, const TPMKMS_KEYDATA *kd,
                              uint32_t handle, const char *label)
{
    TPMKMS_KEYINFO info;
    tpmkms_rc rc;

    fake_counts.admin_calls++;
    if ((rc = fake_describe(kd, &info, label)) != TPMKMS_R_OK)
        return rc;
    for (size_t i = 0; i < sizeof(fake_persistent) / sizeof(fake_persistent[0]); i++)
        if (fake_persistent[i].handle == handle) {
            TPMKMS_raise(TPMKMS_R_KEY_EXISTS, "fake: 0x%08x is in use",
                         (unsigned)handle);
            return TPMKMS_R_KEY_EXISTS;
        }
    for (size_t i = 0; i < sizeof(fake_persistent) / sizeof(fake_persistent[0]); i++)
        if (fake_persistent[i].handle == 0) {
            fake_persistent[i].handle = handle;
            fake_persistent[i].pub = info.pub;
            return TPMKMS_R_OK;
        }
    TPMKMS_raise(TPMKMS_R_OBJECT_MEMORY, "fake: no room for 0x%08x",
                 (unsigned)handle);
    return TPMKMS_R_OBJECT_MEMORY;
}

static tpmkms_rc fake_evict(void *state, uint32_t handle, const char *label)
{
    fake_counts.admin_calls++;
    if (fake_fail_next_evict != 0) {
        tpmkms_rc rc = fake_fail_next_evict;

        fake_fail_next_evict = 0;
        TPMKMS_raise(rc, "%s: fake evict failure", label);
        return rc;
    }
    for (size_t i = 0; i < sizeof(fake_persistent) / sizeof(fake_persistent[0]); i++)
        if (fake_persistent[i].handle == handle && handle != 0) {
            memset(&fake_persistent[i], 0, sizeof(fake_persistent[i]));
            return TPMKMS_R_OK;
        }
    TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND, "fake: no persistent key at 0x%08x",
                 (unsigned)handle);
    return TPMKMS_R_KEY_NOT_FOUND;
}

static tpmkms_rc fake_probe(void *state, TPMKMS_PROBE *probe)
{
    fake_counts.admin_calls++;
    OPENSSL_strlcpy(probe->manufacturer, "FAKE", sizeof(probe->manufacturer));
    OPENSSL_strlcpy(probe->connection, fake_counts.last_tcti,
                    sizeof(probe->connection));
    probe->curves = TPMKMS_PROBE_CURVE_P256 | TPMKMS_PROBE_CURVE_P384;
    return TPMKMS_R_OK;
}

static tpmkms_rc fake_setup(void *state, tpmkms_setup_result *res)
{
    fake_counts.admin_calls++;
    *res = TPMKMS_SETUP_PRESENT;
    return TPMKMS_R_OK;
}

static tpmkms_rc fake_tpm_identity(void *state, TPMKMS_BUF *id)
{
    fake_counts.identities++;
    if ((id->data = OPENSSL_memdup(fake_tpm_id, sizeof(fake_tpm_id))) == NULL)
        return TPMKMS_R_INTERNAL;
    id->len = sizeof(fake_tpm_id);
    return TPMKMS_R_OK;
}

static tpmkms_rc fake_list_persistent(void *state, uint32_t **handles,
                                      size_t *count)
{
    const size_t max = sizeof(fake_persistent) / sizeof(fake_persistent[0]);
    uint32_t *list = OPENSSL_malloc(max * sizeof(*list));
    size_t n = 0;

    fake_counts.admin_calls++;
    if (list == NULL)
        return TPMKMS_R_INTERNAL;
    /* In ascending order, as a TPM answers. */
    for (uint32_t last = 0;;) {
        uint32_t best = 0;

        for (size_t i = 0; i < max; i++)
            if (fake_persistent[i].handle > last
                    && (best == 0 || fake_persistent[i].handle < best))
                best = fake_persistent[i].handle;
        if (best == 0)
            break;
        list[n++] = best;
        last = best;
    }
    if (n == 0) {
        OPENSSL_free(list);
        list = NULL;
    }
    *handles = list;
    *count = n;
    return TPMKMS_R_OK;
}

static tpmkms_rc fake_check(void *state, const TPMKMS_KEYREF *key)
{
    fake_counts.checks++;
    return TPMKMS_R_OK;
}

static int fake_survives_fork(const char *conn)
{
    return conn != NULL && strncmp(conn, "forksafe", 8) == 0;
}

static const TPMKMS_KEY_METHODS fake_keys = {
    fake_create_key, fake_sign, fake_unload, fake_forget, fake_describe,
    fake_check,
    NULL, NULL                  /* decrypt, derive */
};

static const TPMKMS_ADMIN_METHODS fake_admin = {
    fake_read_persistent, fake_persist, fake_evict, fake_probe, fake_setup,
    fake_tpm_identity, fake_list_persistent
};

static const TPMKMS_BACKEND_METHOD fake_method = {
    "fake",
    fake_connect, fake_disconnect, fake_abandon,
    NULL,                       /* drop: abandon serves */
    fake_survives_fork,
    NULL,                       /* is_direct: no */
    NULL,                       /* process_init: nothing */
    &fake_keys, &fake_admin,
    NULL                        /* attestation: none */
};

/* Only the key group: administration and attestation are not offered. */
static const TPMKMS_BACKEND_METHOD fake_keys_only_method = {
    "fake keys-only",
    fake_connect, fake_disconnect, fake_abandon,
    NULL, NULL, NULL, NULL,
    &fake_keys, NULL, NULL
};

const TPMKMS_BACKEND_METHOD *fake_backend_keys_only_method(void)
{
    return &fake_keys_only_method;
}

const TPMKMS_BACKEND_METHOD *fake_backend_method(void)
{
    return &fake_method;
}

tpmkms_rc fake_make_key_blob(TPMKMS_CTX *ctx, tpmkms_alg alg, const char *label,
                             TPMKMS_KEYBLOB *blob)
{
    TPMKMS_CREATE_PARAMS params = { alg, NULL, 0, label, TPMKMS_USAGE_BOTH };
    TPMKMS_BACKEND *b = tpmkms_ctx_backend(ctx, NULL);
    TPMKMS_KEYDATA made = { 0 };
    TPMKMS_PUBLIC pub;
    tpmkms_rc rc = TPMKMS_R_INTERNAL;

    if (b != NULL
            && (rc = tpmkms_backend_create_key(b, &params, &made, &pub))
               == TPMKMS_R_OK)
        rc = tpmkms_keydata_to_blob(&made, blob, label);
    tpmkms_keydata_clear(&made);
    tpmkms_backend_free(b);
    return rc;
}

EVP_PKEY *fake_blob_software_key(const TPMKMS_KEYBLOB *blob)
{
    return blob_key(blob);
}
