/*
 * The ESYS backend against a real (software) TPM, through the public
 * wrapper functions of backend.h.  Driven by backend_esys.sh, which starts
 * a fresh swtpm and sets TPMKMS_TCTI.
 *
 *   test_backend_esys all            every behaviour below, in order (the
 *                                    TPM must be fresh: no SRK yet)
 *   test_backend_esys sign-sequence TCTI
 *                                    creates a key on $TPMKMS_TCTI, then on
 *                                    TCTI (a pcap TCTI) signs once cold and
 *                                    three times warm, and disconnects; the
 *                                    script counts the TPM commands
 *
 * Every signature is verified in software with OpenSSL from the
 * TPMKMS_PUBLIC the backend returned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include "backend.h"
#include "key.h"
#include "errors.h"
#include "pubkey.h"
#include "tss2key.h"

#define FAIL(...)                                                       \
    do {                                                                \
        fprintf(stderr, "  FAIL %s:%d: ", __func__, __LINE__);          \
        fprintf(stderr, __VA_ARGS__);                                   \
        fputc('\n', stderr);                                            \
        ERR_print_errors_fp(stderr);                                    \
        return 0;                                                       \
    } while (0)
#define CHECK(cond, ...)                                                \
    do {                                                                \
        if (!(cond))                                                    \
            FAIL(__VA_ARGS__);                                          \
    } while (0)

typedef struct {
    TPMKMS_KEYREF ref;
    TPMKMS_PUBLIC pub;
    TPMKMS_KEYBLOB blob;        /* ref.key decoded, for the tests to read */
    char label[96];
} TKEY;

static const TPMKMS_BACKEND_METHOD *meth;
static TPMKMS_BACKEND *main_b;
static TKEY pre_setup_key;          /* made before setup: parent 0x40000001 */
static TKEY noda_key;               /* for "noDA keys work in lockout" */

/* ------------------------------------------------------------ helpers */

static const char *md_name(tpmkms_hash h)
{
    switch (h) {
    case TPMKMS_HASH_SHA1: return "SHA1";
    case TPMKMS_HASH_SHA256: return "SHA256";
    case TPMKMS_HASH_SHA384: return "SHA384";
    case TPMKMS_HASH_SHA512: return "SHA512";
    default: return NULL;
    }
}

/*
 * The one error the failed call raised: its reason and message.  Returns
 * the number of errors on the queue (a backend raises once), and clears it.
 */
static int take_errors(int *reason, char *msg, size_t n)
{
    const char *data = NULL;
    int flags = 0, count = 0;
    unsigned long e;

    *reason = 0;
    msg[0] = '\0';
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        count++;
        *reason = ERR_GET_REASON(e);
        snprintf(msg, n, "%s", data != NULL && (flags & ERR_TXT_STRING)
                 ? data : "");
    }
    return count;
}

/* rc is `reason`, raised exactly once, with every `must` in its message. */
static int expect_error(tpmkms_rc rc, int reason, const char *must1,
                        const char *must2)
{
    char msg[1024];
    int got, n = take_errors(&got, msg, sizeof(msg));

    printf("    error: %s\n", msg);
    CHECK((int)rc == reason, "rc %d, expected %d (%s)", rc, reason,
          tpmkms_err_reason_string(reason));
    CHECK(n == 1, "%d errors raised, expected exactly one", n);
    CHECK(got == reason, "raised reason %d, expected %d", got, reason);
    CHECK(must1 == NULL || strstr(msg, must1) != NULL,
          "message lacks \"%s\"", must1);
    CHECK(must2 == NULL || strstr(msg, must2) != NULL,
          "message lacks \"%s\"", must2);
    return 1;
}

static EVP_PKEY *pkey_from_public(const TPMKMS_PUBLIC *pub)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pk = NULL;
    BIGNUM *n = NULL, *e = NULL;
    int ok;

    if (bld == NULL)
        return NULL;
    if (pub->alg == TPMKMS_ALG_EC_P256 || pub->alg == TPMKMS_ALG_EC_P384) {
        ok = OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                 pub->alg == TPMKMS_ALG_EC_P256 ? "P-256" : "P-384", 0)
            && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                                pub->ec_point,
                                                pub->ec_point_len);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    } else {
        n = BN_bin2bn(pub->rsa_n, (int)pub->rsa_n_len, NULL);
        e = BN_new();
        ok = n != NULL && e != NULL && BN_set_word(e, pub->rsa_e)
            && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n)
            && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    }
    if (ok && ctx != NULL && (params = OSSL_PARAM_BLD_to_param(bld)) != NULL
        && EVP_PKEY_fromdata_init(ctx) > 0
        && EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) > 0) {
        /* built */
    }
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_free(n);
    BN_free(e);
    return pk;
}

/* 1: the signature verifies, 0: it does not, -1: could not check. */
static int verify(const TPMKMS_PUBLIC *pub, tpmkms_scheme scheme,
                  tpmkms_hash hash, int saltlen, const unsigned char *dgst,
                  size_t dlen, const unsigned char *sig, size_t siglen)
{
    EVP_PKEY *pk = pkey_from_public(pub);
    EVP_PKEY_CTX *ctx = NULL;
    unsigned char *der = NULL;
    int derlen = 0, ret = -1;

    if (pk == NULL || (ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL)) == NULL
        || EVP_PKEY_verify_init(ctx) <= 0
        || EVP_PKEY_CTX_set_signature_md(ctx, EVP_get_digestbyname(md_name(hash)))
           <= 0)
        goto out;
    if (scheme == TPMKMS_SCHEME_ECDSA) {
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, (int)siglen / 2, NULL);
        BIGNUM *s = BN_bin2bn(sig + siglen / 2, (int)siglen / 2, NULL);

        if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
            ECDSA_SIG_free(es);
            BN_free(r);
            BN_free(s);
            goto out;
        }
        derlen = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);
        if (derlen <= 0)
            goto out;
        sig = der;
        siglen = (size_t)derlen;
    } else if (scheme == TPMKMS_SCHEME_RSA_PKCS1) {
        if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0)
            goto out;
    } else {
        if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0
            || EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, saltlen) <= 0)
            goto out;
    }
    ret = EVP_PKEY_verify(ctx, sig, siglen, dgst, dlen) == 1;
    ERR_clear_error();
 out:
    OPENSSL_free(der);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return ret;
}

/* EMSA-PSS-ENCODE (RFC 8017, 9.1.1) with SHA-256 and MGF1-SHA-256. */
static int pss_encode(const unsigned char mhash[32], const unsigned char *salt,
                      size_t slen, size_t mod_bits, unsigned char *em)
{
    size_t embits = mod_bits - 1, emlen = (embits + 7) / 8;
    size_t dblen = emlen - 32 - 1, i;
    unsigned char mprime[8 + 32 + 64], h[32], *db = em;
    unsigned int hl = 0;
    uint32_t counter;

    if (slen > 64 || emlen < 32 + slen + 2)
        return 0;
    memset(mprime, 0, 8);
    memcpy(mprime + 8, mhash, 32);
    memcpy(mprime + 40, salt, slen);
    if (!EVP_Digest(mprime, 40 + slen, h, &hl, EVP_sha256(), NULL))
        return 0;
    memset(db, 0, dblen);
    db[dblen - slen - 1] = 0x01;
    memcpy(db + dblen - slen, salt, slen);
    for (counter = 0, i = 0; i < dblen; counter++) {
        unsigned char in[36], mask[32];
        size_t k;

        memcpy(in, h, 32);
        in[32] = (unsigned char)(counter >> 24);
        in[33] = (unsigned char)(counter >> 16);
        in[34] = (unsigned char)(counter >> 8);
        in[35] = (unsigned char)counter;
        if (!EVP_Digest(in, 36, mask, &hl, EVP_sha256(), NULL))
            return 0;
        for (k = 0; k < 32 && i < dblen; k++, i++)
            db[i] ^= mask[k];
    }
    db[0] &= (unsigned char)(0xff >> (8 * emlen - embits));
    memcpy(em + dblen, h, 32);
    em[emlen - 1] = 0xbc;
    return (int)emlen;
}

static void key_free(TKEY *k)
{
    if (main_b != NULL)
        tpmkms_backend_release_key(main_b, &k->ref);
    tpmkms_keydata_clear(&k->ref.key);
    tpmkms_keyblob_clear(&k->blob);
    OPENSSL_clear_free(k->ref.auth, k->ref.auth_len);
    memset(k, 0, sizeof(*k));
}

static int key_create(TPMKMS_BACKEND *b, tpmkms_alg alg, const char *auth,
                      const char *name, TKEY *k)
{
    TPMKMS_CREATE_PARAMS p;
    tpmkms_rc rc;

    memset(k, 0, sizeof(*k));
    snprintf(k->label, sizeof(k->label), "tpmkms:name=%s;key-scope=user",
             name);
    memset(&p, 0, sizeof(p));
    p.alg = alg;
    p.auth = (const unsigned char *)auth;
    p.auth_len = auth != NULL ? strlen(auth) : 0;
    p.label = k->label;
    p.usage = TPMKMS_USAGE_BOTH;
    rc = tpmkms_backend_create_key(b, &p, &k->ref.key, &k->pub);
    CHECK(rc == TPMKMS_R_OK, "create %s (%s): rc %d", name,
          tpmkms_alg_name(alg), rc);
    CHECK(k->ref.key.format == TPMKMS_KEYFMT_TSS2_DER
          && tpmkms_tss2key_from_der(k->ref.key.data, k->ref.key.len,
                                     &k->blob) == TPMKMS_R_OK,
          "the new key's material is a TSS2 PRIVATE KEY");
    CHECK(k->pub.alg == alg, "created alg %d, asked %d", k->pub.alg, alg);
    CHECK(k->blob.empty_auth == (auth == NULL), "empty_auth %d",
          k->blob.empty_auth);
    CHECK(k->pub.can_sign, "a new key must be able to sign");
    /* Both by default: TPM2_RSA_Decrypt and TPM2_ECDH_ZGen need it. */
    CHECK(k->pub.can_decrypt, "decrypt attribute: %d for %s",
          k->pub.can_decrypt, tpmkms_alg_name(alg));
    k->ref.label = k->label;
    if (auth != NULL) {
        k->ref.auth = (unsigned char *)OPENSSL_strdup(auth);
        k->ref.auth_len = strlen(auth);
    }
    return 1;
}

/* After a test changed k->blob: the key's material says the same. */
static int reblob(TKEY *k)
{
    tpmkms_keydata_clear(&k->ref.key);
    CHECK(tpmkms_keydata_from_blob(&k->blob, &k->ref.key) == TPMKMS_R_OK,
          "encode the changed blob");
    return 1;
}

/* What the backend reads from a bare blob. */
static tpmkms_rc describe_blob(TPMKMS_BACKEND *b, const TPMKMS_KEYBLOB *blob,
                               TPMKMS_PUBLIC *pub, const char *label)
{
    TPMKMS_KEYDATA kd;
    TPMKMS_KEYINFO info;
    tpmkms_rc rc = tpmkms_keydata_from_blob(blob, &kd);

    if (rc != TPMKMS_R_OK)
        return rc;
    rc = tpmkms_backend_describe(b, &kd, &info, label);
    tpmkms_keydata_clear(&kd);
    *pub = info.pub;
    return rc;
}

static void set_auth(TKEY *k, const char *auth)
{
    OPENSSL_clear_free(k->ref.auth, k->ref.auth_len);
    k->ref.auth = auth != NULL ? (unsigned char *)OPENSSL_strdup(auth) : NULL;
    k->ref.auth_len = auth != NULL ? strlen(auth) : 0;
}

/* Signs a fresh message digest, verifies it, and that a flipped bit fails. */
static int sign_verify(TPMKMS_BACKEND *b, TKEY *k, tpmkms_scheme scheme,
                       tpmkms_hash hash)
{
    unsigned char msg[64], dgst[64], sig[TPMKMS_SIG_MAX];
    unsigned int dlen = 0;
    size_t siglen = 0;
    size_t want = scheme == TPMKMS_SCHEME_ECDSA ? k->pub.ec_point_len - 1
                                                : k->pub.rsa_n_len;
    tpmkms_rc rc;

    CHECK(RAND_bytes(msg, sizeof(msg)) == 1, "RAND_bytes");
    CHECK(EVP_Digest(msg, sizeof(msg), dgst, &dlen,
                     EVP_get_digestbyname(md_name(hash)), NULL), "digest");
    rc = tpmkms_backend_sign(b, &k->ref, scheme, hash, dgst, dlen, sig,
                             &siglen);
    CHECK(rc == TPMKMS_R_OK, "%s: sign scheme %d with %s: rc %d", k->label,
          scheme, md_name(hash), rc);
    CHECK(siglen == want, "signature of %zu bytes, expected %zu", siglen, want);
    CHECK(verify(&k->pub, scheme, hash, RSA_PSS_SALTLEN_DIGEST, dgst, dlen,
                 sig, siglen) == 1,
          "%s: scheme %d with %s does not verify", k->label, scheme,
          md_name(hash));
    sig[siglen / 3] ^= 0x01;
    CHECK(verify(&k->pub, scheme, hash, RSA_PSS_SALTLEN_DIGEST, dgst, dlen,
                 sig, siglen) == 0, "a damaged signature verifies");
    return 1;
}

/* RSA-PSS with a salt the TPM does not choose, through RSA_RAW. */
static int raw_pss_verify(TPMKMS_BACKEND *b, TKEY *k, size_t saltlen)
{
    unsigned char msg[32], dgst[32], salt[64], em[TPMKMS_RSA_N_MAX];
    unsigned char sig[TPMKMS_SIG_MAX];
    unsigned int dlen = 0;
    size_t siglen = 0;
    int emlen;
    tpmkms_rc rc;

    CHECK(RAND_bytes(msg, sizeof(msg)) == 1 && RAND_bytes(salt, 64) == 1,
          "RAND_bytes");
    CHECK(EVP_Digest(msg, sizeof(msg), dgst, &dlen, EVP_sha256(), NULL),
          "digest");
    emlen = pss_encode(dgst, salt, saltlen, k->pub.rsa_n_len * 8, em);
    CHECK(emlen == (int)k->pub.rsa_n_len, "PSS encoding: %d bytes", emlen);
    rc = tpmkms_backend_sign(b, &k->ref, TPMKMS_SCHEME_RSA_RAW,
                             TPMKMS_HASH_NONE, em, (size_t)emlen, sig,
                             &siglen);
    CHECK(rc == TPMKMS_R_OK, "%s: raw RSA: rc %d", k->label, rc);
    CHECK(siglen == k->pub.rsa_n_len, "raw output of %zu bytes", siglen);
    CHECK(verify(&k->pub, TPMKMS_SCHEME_RSA_PSS, TPMKMS_HASH_SHA256,
                 (int)saltlen, dgst, dlen, sig, siglen) == 1,
          "%s: RSA-PSS (salt %zu) made with raw RSA does not verify",
          k->label, saltlen);
    return 1;
}

static int blob_public_matches(TPMKMS_BACKEND *b, TKEY *k)
{
    TPMKMS_KEYINFO info;
    tpmkms_rc rc = tpmkms_backend_describe(b, &k->ref.key, &info, k->label);
    TPMKMS_PUBLIC p = info.pub;

    CHECK(rc == TPMKMS_R_OK, "describe: rc %d", rc);
    CHECK(info.needs_auth == !k->blob.empty_auth, "needs_auth %d",
          info.needs_auth);
    CHECK(p.alg == k->pub.alg && p.ec_point_len == k->pub.ec_point_len
          && memcmp(p.ec_point, k->pub.ec_point, p.ec_point_len) == 0
          && p.rsa_n_len == k->pub.rsa_n_len
          && memcmp(p.rsa_n, k->pub.rsa_n, p.rsa_n_len) == 0
          && p.rsa_e == k->pub.rsa_e && p.can_sign == k->pub.can_sign
          && p.can_decrypt == k->pub.can_decrypt,
          "the blob's public key differs from what create returned");
    return 1;
}

static int probe(TPMKMS_BACKEND *b, TPMKMS_PROBE *pr)
{
    tpmkms_rc rc = tpmkms_backend_probe(b, pr);

    CHECK(rc == TPMKMS_R_OK, "probe: rc %d", rc);
    return 1;
}

/* -------------------------------------------------------------- tests */

static int connecting_to_nowhere_is_unavailable(void)
{
    TPMKMS_BACKEND *b = tpmkms_backend_new(meth,
                                           "swtpm:host=127.0.0.1,port=9");
    TPMKMS_CREATE_PARAMS p = { TPMKMS_ALG_EC_P256, NULL, 0, "nowhere-key",
                               TPMKMS_USAGE_BOTH };
    TPMKMS_KEYDATA blob = { 0 };
    TPMKMS_PUBLIC pub;
    tpmkms_rc rc;
    int ok;

    CHECK(b != NULL, "backend_new");
    rc = tpmkms_backend_create_key(b, &p, &blob, &pub);
    ok = expect_error(rc, TPMKMS_R_TPM_UNAVAILABLE,
                      "swtpm:host=127.0.0.1,port=9", "0x000a");
    tpmkms_backend_free(b);
    return ok;
}

static int probe_describes_the_tpm(void)
{
    TPMKMS_PROBE pr;

    CHECK(probe(main_b, &pr), "probe");
    printf("    tcti %s; manufacturer \"%s\" vendor \"%s\" firmware %08x.%08x\n"
           "    spec level %u revision %u year %u\n"
           "    curves 0x%x rsa sizes 0x%x hashes 0x%x schemes 0x%x\n"
           "    srk_persistent %d; lockout counter %u/%u interval %u s "
           "recovery %u s in_lockout %d\n",
           pr.connection, pr.manufacturer, pr.vendor, pr.fw_version1, pr.fw_version2,
           pr.spec_level, pr.spec_revision, pr.spec_year, pr.curves,
           pr.rsa_sizes, pr.hashes, pr.sig_schemes, pr.srk_persistent,
           pr.lockout_counter, pr.max_auth_fail, pr.lockout_interval,
           pr.lockout_recovery, pr.in_lockout);
    CHECK(strcmp(pr.manufacturer, "IBM") == 0, "swtpm's manufacturer is IBM");
    CHECK(pr.spec_revision >= 116 && pr.spec_year >= 2014, "spec version");
    CHECK(pr.curves & TPMKMS_PROBE_CURVE_P256, "P-256");
    CHECK(pr.curves & TPMKMS_PROBE_CURVE_P384, "P-384");
    CHECK((pr.rsa_sizes & TPMKMS_PROBE_RSA_2048)
          && (pr.rsa_sizes & TPMKMS_PROBE_RSA_3072), "RSA 2048/3072");
    CHECK(!(pr.rsa_sizes & TPMKMS_PROBE_RSA_4096)
          || (pr.rsa_sizes & TPMKMS_PROBE_RSA_2048), "RSA sizes");
    CHECK((pr.hashes & TPMKMS_PROBE_HASH_SHA256)
          && (pr.hashes & TPMKMS_PROBE_HASH_SHA384), "hashes");
    CHECK(pr.sig_schemes == (TPMKMS_PROBE_SIG_ECDSA | TPMKMS_PROBE_SIG_RSASSA
                             | TPMKMS_PROBE_SIG_RSAPSS), "signature schemes");
    CHECK(pr.srk_persistent == 0, "a fresh TPM has no SRK at 0x81000001");
    CHECK(pr.max_auth_fail > 0 && !pr.in_lockout, "lockout state");
    return 1;
}

static int keys_before_setup_load_under_the_owner_primary(void)
{
    CHECK(key_create(main_b, TPMKMS_ALG_EC_P256, NULL, "pre-setup",
                     &pre_setup_key), "create");
    CHECK(pre_setup_key.blob.parent == TPMKMS_PARENT_OWNER,
          "parent 0x%08x, expected 0x40000001 without a persistent SRK",
          pre_setup_key.blob.parent);
    CHECK(sign_verify(main_b, &pre_setup_key, TPMKMS_SCHEME_ECDSA,
                      TPMKMS_HASH_SHA256), "sign");
    return 1;
}

static int setup_creates_the_srk_then_finds_it(void)
{
    tpmkms_setup_result res = 0;
    TPMKMS_BACKEND *b2;
    TPMKMS_PROBE pr;
    TKEY k;
    tpmkms_rc rc;

    rc = tpmkms_backend_setup(main_b, &res);
    CHECK(rc == TPMKMS_R_OK && res == TPMKMS_SETUP_CREATED,
          "first setup: rc %d result %d", rc, res);
    rc = tpmkms_backend_setup(main_b, &res);
    CHECK(rc == TPMKMS_R_OK && res == TPMKMS_SETUP_PRESENT,
          "second setup: rc %d result %d", rc, res);
    CHECK(probe(main_b, &pr) && pr.srk_persistent == 1, "probe after setup");
    /* The key loaded under the primary still signs (same key, now kept). */
    CHECK(sign_verify(main_b, &pre_setup_key, TPMKMS_SCHEME_ECDSA,
                      TPMKMS_HASH_SHA384), "pre-setup key after setup");
    CHECK(key_create(main_b, TPMKMS_ALG_EC_P256, NULL, "post-setup", &k),
          "create");
    CHECK(k.blob.parent == TPMKMS_SRK_HANDLE, "parent 0x%08x",
          k.blob.parent);
    key_free(&k);

    /* A new connection: setup finds it; a 0x40000001 blob loads under it. */
    b2 = tpmkms_backend_new(meth, NULL);
    CHECK(b2 != NULL, "backend_new");
    rc = tpmkms_backend_setup(b2, &res);
    if (rc != TPMKMS_R_OK || res != TPMKMS_SETUP_PRESENT) {
        tpmkms_backend_free(b2);
        FAIL("setup on a new connection: rc %d result %d", rc, res);
    }
    tpmkms_backend_release_key(main_b, &pre_setup_key.ref);
    if (!sign_verify(b2, &pre_setup_key, TPMKMS_SCHEME_ECDSA,
                     TPMKMS_HASH_SHA256)) {
        tpmkms_backend_free(b2);
        FAIL("a 0x40000001 key on a connection with the persistent SRK");
    }
    tpmkms_backend_release_key(b2, &pre_setup_key.ref);
    tpmkms_backend_free(b2);
    return 1;
}

static int every_algorithm_signs_every_scheme(void)
{
    static const tpmkms_alg algs[] = {
        TPMKMS_ALG_EC_P256, TPMKMS_ALG_EC_P384, TPMKMS_ALG_RSA_2048,
        TPMKMS_ALG_RSA_3072
    };
    static const tpmkms_hash hashes[] = {
        TPMKMS_HASH_SHA1, TPMKMS_HASH_SHA256, TPMKMS_HASH_SHA384,
        TPMKMS_HASH_SHA512
    };
    size_t a, h;

    for (a = 0; a < sizeof(algs) / sizeof(algs[0]); a++) {
        TKEY k;
        char name[32];
        int ok = 1;

        snprintf(name, sizeof(name), "all-%s", tpmkms_alg_name(algs[a]));
        CHECK(key_create(main_b, algs[a], NULL, name, &k), "create");
        printf("    %s: parent 0x%08x, public %zu bytes, private %zu bytes\n",
               tpmkms_alg_name(algs[a]), k.blob.parent, k.blob.pub_len,
               k.blob.priv_len);
        ok = blob_public_matches(main_b, &k);
        for (h = 0; ok && h < sizeof(hashes) / sizeof(hashes[0]); h++) {
            if (tpmkms_alg_is_ec(algs[a])) {
                ok = sign_verify(main_b, &k, TPMKMS_SCHEME_ECDSA, hashes[h]);
            } else {
                ok = sign_verify(main_b, &k, TPMKMS_SCHEME_RSA_PKCS1, hashes[h])
                    && sign_verify(main_b, &k, TPMKMS_SCHEME_RSA_PSS,
                                   hashes[h]);
            }
        }
        if (ok && tpmkms_alg_is_rsa(algs[a]))
            ok = raw_pss_verify(main_b, &k, 0) && raw_pss_verify(main_b, &k, 20)
                && raw_pss_verify(main_b, &k, 64);
        key_free(&k);
        CHECK(ok, "%s", name);
    }
    return 1;
}

static int bad_requests_fail_before_reaching_the_tpm(void)
{
    TPMKMS_CREATE_PARAMS p = { (tpmkms_alg)99, NULL, 0, "tpmkms:name=odd",
                               TPMKMS_USAGE_BOTH };
    TPMKMS_KEYDATA blob = { 0 };
    TPMKMS_PUBLIC pub;
    unsigned char buf[TPMKMS_SIG_MAX], sig[TPMKMS_SIG_MAX];
    size_t siglen;
    TKEY ec, rsa;
    tpmkms_rc rc;
    int ok;

    rc = tpmkms_backend_create_key(main_b, &p, &blob, &pub);
    CHECK(expect_error(rc, TPMKMS_R_UNSUPPORTED_ALGORITHM, "tpmkms:name=odd",
                       "tpmkms probe"), "unknown algorithm");
    CHECK(key_create(main_b, TPMKMS_ALG_EC_P256, NULL, "bad-req-ec", &ec),
          "create");
    if (!key_create(main_b, TPMKMS_ALG_RSA_2048, NULL, "bad-req-rsa", &rsa)) {
        key_free(&ec);
        return 0;
    }
    memset(buf, 1, sizeof(buf));
    rc = tpmkms_backend_sign(main_b, &ec.ref, TPMKMS_SCHEME_RSA_PSS,
                             TPMKMS_HASH_SHA256, buf, 32, sig, &siglen);
    ok = expect_error(rc, TPMKMS_R_BAD_PARAMETER, "bad-req-ec", "RSASSA-PSS");
    rc = tpmkms_backend_sign(main_b, &rsa.ref, TPMKMS_SCHEME_ECDSA,
                             TPMKMS_HASH_SHA256, buf, 32, sig, &siglen);
    ok = ok && expect_error(rc, TPMKMS_R_BAD_PARAMETER, "bad-req-rsa", "ECDSA");
    rc = tpmkms_backend_sign(main_b, &ec.ref, TPMKMS_SCHEME_ECDSA,
                             TPMKMS_HASH_SHA256, buf, 20, sig, &siglen);
    ok = ok && expect_error(rc, TPMKMS_R_BAD_PARAMETER, "SHA-256", "20");
    rc = tpmkms_backend_sign(main_b, &rsa.ref, TPMKMS_SCHEME_RSA_RAW,
                             TPMKMS_HASH_NONE, buf, 255, sig, &siglen);
    ok = ok && expect_error(rc, TPMKMS_R_BAD_PARAMETER, "modulus size", NULL);
    /* A block not below the modulus is refused before the TPM sees it
     * (libtpms answers TPM_RC_FAILURE to it). */
    memcpy(buf, rsa.pub.rsa_n, 256);
    rc = tpmkms_backend_sign(main_b, &rsa.ref, TPMKMS_SCHEME_RSA_RAW,
                             TPMKMS_HASH_NONE, buf, 256, sig, &siglen);
    ok = ok && expect_error(rc, TPMKMS_R_BAD_PARAMETER, "bad-req-rsa",
                            "not below the modulus");
    key_free(&ec);
    key_free(&rsa);
    return ok;
}

static int foreign_blobs_are_refused_with_reasons(void)
{
    /* TPM2B_PUBLIC of an ECC NIST P-521 key (type, nameAlg, attributes,
     * policy, symmetric, scheme, curve, kdf, unique x, unique y). */
    static unsigned char p521[] = {
        0x00, 0x16, 0x00, 0x23, 0x00, 0x0b, 0x00, 0x04, 0x00, 0x72,
        0x00, 0x00, 0x00, 0x10, 0x00, 0x10, 0x00, 0x05, 0x00, 0x10,
        0x00, 0x00, 0x00, 0x00
    };
    /* A TPM2B whose content is no TPMT_PUBLIC (a TPM2B whose size lies is
     * refused earlier, by the TSS2 PRIVATE KEY reader: test_tss2key). */
    static unsigned char junk[] = { 0x00, 0x02, 0xde, 0xad };
    static unsigned char priv[] = { 0x00, 0x00 };
    TPMKMS_KEYBLOB blob;
    TPMKMS_PUBLIC pub;
    unsigned char dg[32], sig[TPMKMS_SIG_MAX];
    size_t siglen;
    TKEY k;
    uint32_t parent;
    tpmkms_rc rc;
    int ok;

    memset(&blob, 0, sizeof(blob));
    blob.parent = TPMKMS_SRK_HANDLE;
    blob.empty_auth = 1;
    blob.priv = priv;
    blob.priv_len = sizeof(priv);
    blob.pub = p521;
    blob.pub_len = sizeof(p521);
    rc = describe_blob(main_b, &blob, &pub, "p521-key");
    CHECK(expect_error(rc, TPMKMS_R_UNSUPPORTED_ALGORITHM, "p521-key",
                       "NIST P-521"), "P-521");
    blob.pub = junk;
    blob.pub_len = sizeof(junk);
    rc = describe_blob(main_b, &blob, &pub, "junk-key");
    CHECK(expect_error(rc, TPMKMS_R_BAD_KEY_FILE, "junk-key", "TPM2B_PUBLIC"),
          "junk");

    CHECK(key_create(main_b, TPMKMS_ALG_EC_P256, NULL, "odd-parent", &k),
          "create");
    parent = k.blob.parent;
    k.blob.parent = 0x80000001;
    CHECK(reblob(&k), "odd parent");
    memset(dg, 2, sizeof(dg));
    rc = tpmkms_backend_sign(main_b, &k.ref, TPMKMS_SCHEME_ECDSA,
                             TPMKMS_HASH_SHA256, dg, 32, sig, &siglen);
    ok = expect_error(rc, TPMKMS_R_BAD_KEY_FILE, "odd-parent", "0x80000001");
    /* A persistent parent that is not there. */
    k.blob.parent = 0x81000077;
    ok = ok && reblob(&k);
    rc = tpmkms_backend_sign(main_b, &k.ref, TPMKMS_SCHEME_ECDSA,
                             TPMKMS_HASH_SHA256, dg, 32, sig, &siglen);
    ok = ok && expect_error(rc, TPMKMS_R_KEY_NOT_FOUND, "0x81000077", NULL);
    /* A private part damaged: the TPM's integrity check refuses it. */
    k.blob.parent = parent;
    k.blob.priv[k.blob.priv_len - 1] ^= 0x01;
    ok = ok && reblob(&k);
    rc = tpmkms_backend_sign(main_b, &k.ref, TPMKMS_SCHEME_ECDSA,
                             TPMKMS_HASH_SHA256, dg, 32, sig, &siglen);
    ok = ok && expect_error(rc, TPMKMS_R_TPM_ERROR, "TPM2_Load", "integrity");
    key_free(&k);
    return ok;
}

static int wrong_auth_fails_once_and_is_not_retried(void)
{
    TPMKMS_PROBE before, after;
    unsigned char dg[32], sig[TPMKMS_SIG_MAX];
    size_t siglen;
    TKEY k;
    tpmkms_rc rc;
    int ok;

    CHECK(key_create(main_b, TPMKMS_ALG_EC_P256, "correct horse", "with-auth",
                     &k), "create");
    ok = sign_verify(main_b, &k, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256)
        && probe(main_b, &before);
    set_auth(&k, "wrong horse");
    memset(dg, 3, sizeof(dg));
    rc = tpmkms_backend_sign(main_b, &k.ref, TPMKMS_SCHEME_ECDSA,
                             TPMKMS_HASH_SHA256, dg, 32, sig, &siglen);
    ok = ok && expect_error(rc, TPMKMS_R_AUTH_FAILED,
                            "tpmkms:name=with-auth;key-scope=user: TPM2_Sign "
                            "failed: 0x", "not retried");
    ok = ok && probe(main_b, &after);
    if (ok && after.lockout_counter != before.lockout_counter + 1) {
        fprintf(stderr, "  FAIL: lockout counter went %u -> %u: one wrong "
                "auth must cost exactly one try\n", before.lockout_counter,
                after.lockout_counter);
        ok = 0;
    }
    /* The right auth still works (the key stays loaded: warm path). */
    set_auth(&k, "correct horse");
    ok = ok && sign_verify(main_b, &k, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256);
    /* A long auth value (> SHA-256 size) works through create and sign. */
    if (ok) {
        TKEY l;
        const char *longauth = "a passphrase that is longer than thirty-two "
                               "bytes, hashed";

        ok = key_create(main_b, TPMKMS_ALG_EC_P256, longauth, "long-auth", &l)
            && sign_verify(main_b, &l, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256);
        key_free(&l);
    }
    key_free(&k);
    return ok;
}

static int fifty_keys_sign_in_turn_within_the_object_budget(void)
{
    enum { N = 50 };
    static TKEY keys[N];
    int i, round, ok = 1, made = 0;

    for (i = 0; i < N && ok; i++, made++) {
        char name[32];

        snprintf(name, sizeof(name), "many-%02d", i);
        ok = key_create(main_b, i % 10 == 9 ? TPMKMS_ALG_RSA_2048
                                            : TPMKMS_ALG_EC_P256,
                        NULL, name, &keys[i]);
    }
    for (round = 0; ok && round < 2; round++)
        for (i = 0; ok && i < N; i++)
            ok = sign_verify(main_b, &keys[i],
                             keys[i].pub.alg == TPMKMS_ALG_EC_P256
                             ? TPMKMS_SCHEME_ECDSA : TPMKMS_SCHEME_RSA_PKCS1,
                             TPMKMS_HASH_SHA256);
    /* Two keys alternating stay loaded (checked by command count in the
     * pcap run); here: they keep working. */
    for (i = 0; ok && i < 20; i++)
        ok = sign_verify(main_b, &keys[i % 2], TPMKMS_SCHEME_ECDSA,
                         TPMKMS_HASH_SHA256);
    for (i = 0; i < made; i++)
        key_free(&keys[i]);
    return ok;
}

static int another_process_holding_the_slots_gives_object_memory(void)
{
    TPMKMS_BACKEND *other = tpmkms_backend_new(meth, NULL);
    TKEY a, b, c;
    unsigned char dg[32], sig[TPMKMS_SIG_MAX];
    size_t siglen;
    tpmkms_rc rc;
    int ok;

    CHECK(other != NULL, "backend_new");
    ok = key_create(main_b, TPMKMS_ALG_EC_P256, NULL, "slot-a", &a)
        && key_create(main_b, TPMKMS_ALG_EC_P256, NULL, "slot-b", &b)
        && key_create(main_b, TPMKMS_ALG_EC_P256, NULL, "slot-c", &c);
    /* main_b drops what it holds; `other` fills two of the three slots. */
    tpmkms_backend_release_key(main_b, &a.ref);
    tpmkms_backend_release_key(main_b, &b.ref);
    tpmkms_backend_release_key(main_b, &c.ref);
    ok = ok && sign_verify(other, &a, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256)
        && sign_verify(other, &b, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256);
    memset(dg, 4, sizeof(dg));
    if (ok) {
        rc = tpmkms_backend_sign(main_b, &c.ref, TPMKMS_SCHEME_ECDSA,
                                 TPMKMS_HASH_SHA256, dg, 32, sig, &siglen);
        ok = expect_error(rc, TPMKMS_R_OBJECT_MEMORY, "slot-c",
                          "/dev/tpmrm0");
    }
    /* Once the other connection lets go, the same call works. */
    tpmkms_backend_release_key(other, &a.ref);
    tpmkms_backend_release_key(other, &b.ref);
    ok = ok && sign_verify(main_b, &c, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256);
    key_free(&a);
    key_free(&b);
    key_free(&c);
    tpmkms_backend_free(other);
    return ok;
}

static int persist_read_sign_and_evict(void)
{
    const uint32_t h = 0x81000100;
    TPMKMS_PUBLIC pub;
    TKEY k, pk;
    unsigned char dg[32], sig[TPMKMS_SIG_MAX];
    size_t siglen;
    tpmkms_rc rc;
    int ok;

    CHECK(key_create(main_b, TPMKMS_ALG_RSA_2048, NULL, "to-persist", &k),
          "create");
    rc = tpmkms_backend_persist(main_b, &k.ref.key, h, k.label);
    ok = rc == TPMKMS_R_OK;
    if (!ok)
        fprintf(stderr, "  FAIL: persist: rc %d\n", rc);
    rc = tpmkms_backend_persist(main_b, &k.ref.key, h, k.label);
    ok = ok && expect_error(rc, TPMKMS_R_KEY_EXISTS, "0x81000100", NULL);
    rc = tpmkms_backend_read_persistent(main_b, h, &pub);
    ok = ok && rc == TPMKMS_R_OK && pub.alg == k.pub.alg
        && pub.rsa_n_len == k.pub.rsa_n_len
        && memcmp(pub.rsa_n, k.pub.rsa_n, pub.rsa_n_len) == 0;
    /* Sign with the persistent handle (no blob). */
    memset(&pk, 0, sizeof(pk));
    snprintf(pk.label, sizeof(pk.label), "tpmkms:handle=0x81000100");
    pk.ref.label = pk.label;
    pk.ref.persistent = h;
    pk.pub = pub;
    ok = ok && sign_verify(main_b, &pk, TPMKMS_SCHEME_RSA_PSS,
                           TPMKMS_HASH_SHA256)
        && sign_verify(main_b, &pk, TPMKMS_SCHEME_RSA_PKCS1,
                       TPMKMS_HASH_SHA384);
    rc = tpmkms_backend_evict(main_b, h, k.label);
    ok = ok && rc == TPMKMS_R_OK;
    rc = tpmkms_backend_read_persistent(main_b, h, &pub);
    ok = ok && expect_error(rc, TPMKMS_R_KEY_NOT_FOUND, "0x81000100", NULL);
    rc = tpmkms_backend_evict(main_b, h, k.label);
    ok = ok && expect_error(rc, TPMKMS_R_KEY_NOT_FOUND, "0x81000100", NULL);
    memset(dg, 5, sizeof(dg));
    rc = tpmkms_backend_sign(main_b, &pk.ref, TPMKMS_SCHEME_RSA_PKCS1,
                             TPMKMS_HASH_SHA256, dg, 32, sig, &siglen);
    ok = ok && expect_error(rc, TPMKMS_R_KEY_NOT_FOUND,
                            "tpmkms:handle=0x81000100", NULL);
    tpmkms_backend_release_key(main_b, &pk.ref);
    key_free(&k);
    return ok;
}

static int a_foreign_key_at_the_srk_handle_is_refused(void)
{
    TPMKMS_BACKEND *b2;
    tpmkms_setup_result res;
    TKEY k, n;
    tpmkms_rc rc;
    int ok;

    CHECK(key_create(main_b, TPMKMS_ALG_EC_P256, NULL, "impostor", &k),
          "create");
    rc = tpmkms_backend_evict(main_b, TPMKMS_SRK_HANDLE, "the SRK");
    ok = rc == TPMKMS_R_OK
        && tpmkms_backend_persist(main_b, &k.ref.key, TPMKMS_SRK_HANDLE,
                                  k.label) == TPMKMS_R_OK;
    CHECK(ok, "replacing the SRK with an unrestricted key");
    b2 = tpmkms_backend_new(meth, NULL);
    CHECK(b2 != NULL, "backend_new");
    rc = tpmkms_backend_create_key(b2, &(TPMKMS_CREATE_PARAMS){
                                       TPMKMS_ALG_EC_P256, NULL, 0,
                                       "under-impostor", TPMKMS_USAGE_BOTH },
                                   &n.ref.key, &n.pub);
    ok = expect_error(rc, TPMKMS_R_WRONG_SRK, "0x81000001",
                      "an ECC NIST P-256 key (attributes 0x00060472");
    rc = tpmkms_backend_setup(b2, &res);
    ok = ok && expect_error(rc, TPMKMS_R_WRONG_SRK, "tpmkms setup", NULL);
    /* Put the real SRK back. */
    ok = ok && tpmkms_backend_evict(b2, TPMKMS_SRK_HANDLE, "impostor")
        == TPMKMS_R_OK;
    ok = ok && tpmkms_backend_setup(b2, &res) == TPMKMS_R_OK
        && res == TPMKMS_SETUP_CREATED;
    tpmkms_backend_free(b2);
    key_free(&k);
    /* main_b still has the impostor cached at 0x81000001 (it put it
     * there): setup asks again and finds the real SRK. */
    ok = ok && tpmkms_backend_setup(main_b, &res) == TPMKMS_R_OK
        && res == TPMKMS_SETUP_PRESENT;
    ok = ok && key_create(main_b, TPMKMS_ALG_EC_P256, NULL, "after-impostor",
                          &k)
        && sign_verify(main_b, &k, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256);
    key_free(&k);
    return ok;
}

static int a_forked_child_signs_on_its_own_connection(void)
{
    TKEY k;
    pid_t pid;
    int status = 0, ok;

    /*
     * Without a resource manager the child must find a free slot: start
     * from a connection holding one key under the persistent SRK (the
     * parent's other connections hold nothing now).
     */
    tpmkms_backend_free(main_b);
    CHECK((main_b = tpmkms_backend_new(meth, NULL)) != NULL, "backend_new");
    CHECK(key_create(main_b, TPMKMS_ALG_EC_P256, NULL, "forked", &k),
          "create");
    ok = sign_verify(main_b, &k, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256);
    fflush(NULL);
    if (ok && (pid = fork()) == 0) {
        /* The parent's loaded object is forgotten; the child reloads. */
        int r = sign_verify(main_b, &k, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256)
            && sign_verify(main_b, &k, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA384);

        fflush(NULL);
        _exit(r ? 0 : 1);
    } else if (ok) {
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "fork/wait");
        ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!ok)
            fprintf(stderr, "  FAIL: the child could not sign\n");
    }
    /* The parent's connection is intact: it signs (warm) again. */
    ok = ok && sign_verify(main_b, &k, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256);
    key_free(&k);
    return ok;
}

static int lockout_is_reported_with_its_recovery_time(void)
{
    TPMKMS_PROBE pr;
    unsigned char dg[32], sig[TPMKMS_SIG_MAX];
    size_t siglen;
    char msg[1024];
    TKEY k;
    tpmkms_rc rc = TPMKMS_R_OK;
    unsigned int i;
    int reason, ok;

    CHECK(key_create(main_b, TPMKMS_ALG_EC_P256, NULL, "noda", &noda_key),
          "create");
    CHECK(key_create(main_b, TPMKMS_ALG_EC_P256, "right", "da-key", &k),
          "create");
    CHECK(probe(main_b, &pr), "probe");
    set_auth(&k, "wrong");
    memset(dg, 6, sizeof(dg));
    for (i = 0; i <= pr.max_auth_fail + 1; i++) {
        rc = tpmkms_backend_sign(main_b, &k.ref, TPMKMS_SCHEME_ECDSA,
                                 TPMKMS_HASH_SHA256, dg, 32, sig, &siglen);
        if (rc == TPMKMS_R_LOCKOUT)
            break;
        take_errors(&reason, msg, sizeof(msg));
        CHECK(rc == TPMKMS_R_AUTH_FAILED, "wrong auth %u: rc %d", i, rc);
    }
    ok = expect_error(rc, TPMKMS_R_LOCKOUT, "da-key",
                      "work again in about");
    ok = ok && probe(main_b, &pr) && pr.in_lockout;
    /* The right auth is refused too now, with the same reason. */
    set_auth(&k, "right");
    rc = tpmkms_backend_sign(main_b, &k.ref, TPMKMS_SCHEME_ECDSA,
                             TPMKMS_HASH_SHA256, dg, 32, sig, &siglen);
    ok = ok && expect_error(rc, TPMKMS_R_LOCKOUT, "dictionary-attack", NULL);
    /* Keys without an auth value (noDA) keep working. */
    ok = ok && sign_verify(main_b, &noda_key, TPMKMS_SCHEME_ECDSA,
                           TPMKMS_HASH_SHA256);
    key_free(&k);
    key_free(&noda_key);
    return ok;
}

/* ---------------------------------------------------------------- main */

static int run_all(void)
{
    static const struct {
        const char *name;
        int (*fn)(void);
    } tests[] = {
#define T(f) { #f, f }
        T(connecting_to_nowhere_is_unavailable),
        T(probe_describes_the_tpm),
        T(keys_before_setup_load_under_the_owner_primary),
        T(setup_creates_the_srk_then_finds_it),
        T(every_algorithm_signs_every_scheme),
        T(bad_requests_fail_before_reaching_the_tpm),
        T(foreign_blobs_are_refused_with_reasons),
        T(wrong_auth_fails_once_and_is_not_retried),
        T(fifty_keys_sign_in_turn_within_the_object_budget),
        T(another_process_holding_the_slots_gives_object_memory),
        T(persist_read_sign_and_evict),
        T(a_foreign_key_at_the_srk_handle_is_refused),
        T(a_forked_child_signs_on_its_own_connection),
        T(lockout_is_reported_with_its_recovery_time),
#undef T
    };
    size_t i;
    int failed = 0;

    main_b = tpmkms_backend_new(meth, NULL);
    if (main_b == NULL)
        return 1;
    for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        int ok;

        printf("  %s\n", tests[i].name);
        fflush(stdout);
        ERR_clear_error();
        ok = tests[i].fn();
        printf("  %s %s\n", ok ? "ok" : "NOT OK", tests[i].name);
        fflush(stdout);
        failed += !ok;
    }
    key_free(&pre_setup_key);
    tpmkms_backend_free(main_b);
    main_b = NULL;
    printf("%d of %zu failed\n", failed, sizeof(tests) / sizeof(tests[0]));
    return failed != 0;
}

/* One cold and three warm signatures on `tcti`, then disconnect. */
static int sign_sequence(const char *tcti)
{
    TPMKMS_BACKEND *maker = tpmkms_backend_new(meth, NULL), *b;
    TKEY k;
    int i, ok;

    if (maker == NULL || !key_create(maker, TPMKMS_ALG_EC_P256, NULL,
                                     "counted", &k))
        return 1;
    tpmkms_backend_free(maker);
    if ((b = tpmkms_backend_new(meth, tcti)) == NULL)
        return 1;
    for (i = 0, ok = 1; ok && i < 4; i++)
        ok = sign_verify(b, &k, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256);
    tpmkms_backend_release_key(b, &k.ref);
    tpmkms_backend_free(b);
    key_free(&k);
    return !ok;
}

int main(int argc, char **argv)
{
    tpmkms_err_init_standalone();
    meth = tpmkms_backend_esys_method();
    if (getenv("TPMKMS_TCTI") == NULL) {
        fprintf(stderr, "test_backend_esys: set TPMKMS_TCTI (backend_esys.sh "
                "starts a swtpm and does)\n");
        return 2;
    }
    if (argc >= 3 && strcmp(argv[1], "sign-sequence") == 0)
        return sign_sequence(argv[2]);
    if (argc < 2 || strcmp(argv[1], "all") == 0)
        return run_all();
    fprintf(stderr, "usage: test_backend_esys [all | sign-sequence TCTI]\n");
    return 2;
}
