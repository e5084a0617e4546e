/*
 * An application in a process where tpmkms is activated globally
 * (OPENSSL_CONF, driven by global_activation.sh).  It loads no provider
 * itself and passes no property query, as ordinary applications do.
 *
 *   global_activation software
 *       software keys made with EVP_PKEY_Q_keygen (EC P-256, RSA-2048):
 *       prints which provider's keymgmt holds each ("keymgmt EC: NAME"),
 *       then signs and verifies, derives an ECDH secret both ways,
 *       encrypts and decrypts with RSA-OAEP, and checks that the private
 *       key exports; key exchange and encryption run where the key is
 *       held: the default provider, or tpmkms, which forwards a software
 *       key's operations to it (the script counts zero TPM commands).
 *   global_activation tpm-key URI
 *       a TPM key opened with OSSL_STORE: signs (the signature must be
 *       tpmkms's) and verifies; its export carries no private part; for
 *       EC, ECDH with it is tpmkms's (TPM2_ECDH_ZGen) and agrees with the
 *       peer's software derivation; for RSA, encryption to it and
 *       decryption with it (TPM2_RSA_Decrypt) are tpmkms's.
 *   global_activation threads URI [THREADS [ROUNDS]]
 *       THREADS threads (8) start together; each signs ROUNDS times (20)
 *       with one shared software key and with the shared TPM key, and
 *       verifies every signature.
 *
 * Exit 0 when everything held; the first failure is printed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/store.h>

#define MAX_THREADS 64

static int failf(const char *what)
{
    fprintf(stderr, "global_activation: %s\n", what);
    ERR_print_errors_fp(stderr);
    return 0;
}

static const char *prov_name(const OSSL_PROVIDER *prov)
{
    return prov != NULL ? OSSL_PROVIDER_get0_name(prov) : "(legacy)";
}

/* One signature with key over msg, verified with the same key. */
static int sign_verify(EVP_PKEY *key, const char *msg, const char **sig_prov)
{
    EVP_MD_CTX *sctx = EVP_MD_CTX_new(), *vctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char sig[1024];
    size_t siglen = sizeof(sig);
    int ok = 0;

    if (sctx == NULL || vctx == NULL
        || EVP_DigestSignInit_ex(sctx, &pctx, "SHA256", NULL, NULL, key,
                                 NULL) != 1)
        goto out;
    if (sig_prov != NULL)
        *sig_prov = prov_name(EVP_PKEY_CTX_get0_provider(pctx));
    if (EVP_DigestSign(sctx, sig, &siglen, (const unsigned char *)msg,
                       strlen(msg)) != 1
        || EVP_DigestVerifyInit_ex(vctx, NULL, "SHA256", NULL, NULL, key,
                                   NULL) != 1
        || EVP_DigestVerify(vctx, sig, siglen, (const unsigned char *)msg,
                            strlen(msg)) != 1)
        goto out;
    ok = 1;
out:
    EVP_MD_CTX_free(sctx);
    EVP_MD_CTX_free(vctx);
    return ok;
}

static int has_param(const EVP_PKEY *key, const char *name)
{
    OSSL_PARAM *params = NULL;
    int found;

    if (EVP_PKEY_todata(key, EVP_PKEY_KEYPAIR, &params) != 1)
        return -1;
    found = OSSL_PARAM_locate(params, name) != NULL;
    OSSL_PARAM_free(params);
    return found;
}

/* ECDH between a and b; the secret in out (which holds 256 bytes). */
static int derive(EVP_PKEY *a, EVP_PKEY *b, unsigned char *out, size_t *len,
                  const char **prov)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, a, NULL);
    int ok;

    *len = 256;
    ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1;
    if (ok && prov != NULL)
        *prov = prov_name(EVP_PKEY_CTX_get0_provider(ctx));
    ok = ok && EVP_PKEY_derive_set_peer(ctx, b) == 1
         && EVP_PKEY_derive(ctx, out, len) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* RSA-OAEP: encrypt to key; decrypt with it if decrypt is set. */
static int rsa_oaep(EVP_PKEY *key, int decrypt, const char **prov)
{
    static const unsigned char msg[] = "to a public key";
    unsigned char ct[512], pt[512];
    size_t ctlen = sizeof(ct), ptlen = sizeof(pt);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    int ok;

    ok = ctx != NULL && EVP_PKEY_encrypt_init(ctx) == 1
         && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1;
    if (ok && prov != NULL)
        *prov = prov_name(EVP_PKEY_CTX_get0_provider(ctx));
    ok = ok && EVP_PKEY_encrypt(ctx, ct, &ctlen, msg, sizeof(msg)) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok || !decrypt)
        return ok;
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    ok = ctx != NULL && EVP_PKEY_decrypt_init(ctx) == 1
         && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1
         && EVP_PKEY_decrypt(ctx, pt, &ptlen, ct, ctlen) == 1
         && ptlen == sizeof(msg) && memcmp(pt, msg, ptlen) == 0;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static int run_software(void)
{
    EVP_PKEY *ec1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ec2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    unsigned char s1[256], s2[256];
    size_t l1, l2;
    const char *prov = NULL;
    int ok = 0;

    if (ec1 == NULL || ec2 == NULL || rsa == NULL) {
        failf("EVP_PKEY_Q_keygen of a software EC or RSA key failed");
        goto out;
    }
    printf("keymgmt EC: %s\n", prov_name(EVP_PKEY_get0_provider(ec1)));
    printf("keymgmt RSA: %s\n", prov_name(EVP_PKEY_get0_provider(rsa)));
    if (!sign_verify(ec1, "software EC", &prov)
        || !sign_verify(rsa, "software RSA", NULL)) {
        failf("a software key's signature failed");
        goto out;
    }
    printf("signature EC: %s\n", prov);
    if (has_param(ec1, OSSL_PKEY_PARAM_PRIV_KEY) != 1
        || has_param(rsa, OSSL_PKEY_PARAM_RSA_D) != 1) {
        failf("a software key does not export its private part");
        goto out;
    }
    if (!derive(ec1, ec2, s1, &l1, &prov) || !derive(ec2, ec1, s2, &l2, NULL)
        || l1 != l2 || memcmp(s1, s2, l1) != 0) {
        failf("ECDH between two software keys failed or disagreed");
        goto out;
    }
    printf("ecdh: %s\n", prov);
    if (strcmp(prov, prov_name(EVP_PKEY_get0_provider(ec1))) != 0) {
        failf("ECDH with software keys ran in another provider than the keys'");
        goto out;
    }
    if (!rsa_oaep(rsa, 1, &prov)) {
        failf("RSA-OAEP with a software key failed");
        goto out;
    }
    printf("rsa encrypt: %s\n", prov);
    if (strcmp(prov, prov_name(EVP_PKEY_get0_provider(rsa))) != 0) {
        failf("RSA encryption ran in another provider than the key's");
        goto out;
    }
    ok = 1;
out:
    EVP_PKEY_free(ec1);
    EVP_PKEY_free(ec2);
    EVP_PKEY_free(rsa);
    return ok;
}

static EVP_PKEY *open_key(const char *uri)
{
    OSSL_STORE_CTX *store = OSSL_STORE_open(uri, NULL, NULL, NULL, NULL);
    EVP_PKEY *key = NULL;

    while (store != NULL && key == NULL && !OSSL_STORE_eof(store)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(store);

        if (info != NULL && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            key = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(store);
    if (key == NULL)
        failf("cannot open the TPM key");
    return key;
}

static int run_tpm_key(const char *uri)
{
    EVP_PKEY *key = open_key(uri), *peer = NULL;
    unsigned char s[256], s2[256];
    size_t l, l2;
    const char *prov = NULL;
    int ok = 0;

    if (key == NULL)
        return 0;
    if (!sign_verify(key, "TPM key", &prov)) {
        failf("the TPM key's signature failed");
        goto out;
    }
    printf("signature: %s\n", prov);
    if (strcmp(prov, "tpmkms") != 0) {
        failf("the TPM key's signature was not made by tpmkms");
        goto out;
    }
    if (has_param(key, OSSL_PKEY_PARAM_PRIV_KEY) != 0
        || has_param(key, OSSL_PKEY_PARAM_RSA_D) != 0) {
        failf("the TPM key exported a private part");
        goto out;
    }
    printf("export: public only\n");
    if (EVP_PKEY_is_a(key, "EC")) {
        if ((peer = EVP_PKEY_Q_keygen(NULL, NULL, "EC",
                                      EVP_PKEY_get_bits(key) == 384
                                          ? "P-384" : "P-256")) == NULL) {
            failf("cannot make a software EC peer key");
            goto out;
        }
        if (!derive(key, peer, s, &l, &prov)) {
            failf("ECDH with the TPM key failed");
            goto out;
        }
        printf("ecdh with the TPM key: %s\n", prov);
        if (strcmp(prov, "tpmkms") != 0) {
            failf("ECDH with the TPM key was not tpmkms's");
            goto out;
        }
        /* The peer side needs only the TPM key's public half. */
        if (!derive(peer, key, s2, &l2, &prov) || l2 != l
            || memcmp(s, s2, l) != 0) {
            failf("ECDH of a software key with the TPM key's public half "
                  "failed or disagreed");
            goto out;
        }
        printf("ecdh to the TPM key's public half: %s\n", prov);
    } else {
        if (!rsa_oaep(key, 0, &prov)) {
            failf("RSA encryption to the TPM key failed");
            goto out;
        }
        printf("rsa encrypt to the TPM key: %s\n", prov);
        if (strcmp(prov, "tpmkms") != 0) {
            failf("encryption to the TPM key was not tpmkms's");
            goto out;
        }
        if (!rsa_oaep(key, 1, NULL)) {
            failf("RSA-OAEP decryption with the TPM key failed");
            goto out;
        }
        printf("rsa decrypt with the TPM key: tpmkms\n");
    }
    ok = 1;
out:
    EVP_PKEY_free(peer);
    EVP_PKEY_free(key);
    return ok;
}

typedef struct {
    EVP_PKEY *soft, *tpm;
    int rounds;
    pthread_barrier_t start;
    atomic_int good, bad;
} SHARED;

static void *worker(void *arg)
{
    SHARED *s = arg;
    char msg[64];

    pthread_barrier_wait(&s->start);
    for (int i = 0; i < s->rounds; i++) {
        snprintf(msg, sizeof(msg), "round %d", i);
        if (sign_verify(s->soft, msg, NULL))
            atomic_fetch_add(&s->good, 1);
        else
            atomic_fetch_add(&s->bad, 1);
        if (sign_verify(s->tpm, msg, NULL))
            atomic_fetch_add(&s->good, 1);
        else
            atomic_fetch_add(&s->bad, 1);
    }
    OPENSSL_thread_stop();
    return NULL;
}

static int run_threads(const char *uri, int threads, int rounds)
{
    static SHARED s;
    pthread_t tids[MAX_THREADS];
    int started = 0, ok;

    if (threads < 1 || threads > MAX_THREADS || rounds < 1)
        return failf("threads must be 1..64 and rounds at least 1");
    s.rounds = rounds;
    s.soft = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    s.tpm = open_key(uri);
    if (s.soft == NULL || s.tpm == NULL) {
        EVP_PKEY_free(s.soft);
        EVP_PKEY_free(s.tpm);
        return failf("cannot make the software key or open the TPM key");
    }
    pthread_barrier_init(&s.start, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&tids[i], NULL, worker, &s) != 0) {
            fprintf(stderr, "global_activation: cannot start thread %d\n", i);
            exit(1);        /* the others wait at the barrier forever */
        }
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    pthread_barrier_destroy(&s.start);
    printf("threads: %d x %d software and TPM signatures: %d verified, %d failed\n",
           threads, rounds, atomic_load(&s.good), atomic_load(&s.bad));
    ok = atomic_load(&s.bad) == 0
         && atomic_load(&s.good) == 2 * threads * rounds;
    if (!ok)
        ERR_print_errors_fp(stderr);
    EVP_PKEY_free(s.soft);
    EVP_PKEY_free(s.tpm);
    return ok;
}

int main(int argc, char **argv)
{
    int ok;

    if (argc >= 2 && strcmp(argv[1], "software") == 0 && argc == 2)
        ok = run_software();
    else if (argc == 3 && strcmp(argv[1], "tpm-key") == 0)
        ok = run_tpm_key(argv[2]);
    else if (argc >= 3 && argc <= 5 && strcmp(argv[1], "threads") == 0)
        ok = run_threads(argv[2], argc > 3 ? atoi(argv[3]) : 8,
                         argc > 4 ? atoi(argv[4]) : 20);
    else {
        fprintf(stderr, "usage: global_activation software\n"
                "       global_activation tpm-key URI\n"
                "       global_activation threads URI [THREADS [ROUNDS]]\n");
        return 2;
    }
    return ok ? 0 : 1;
}
