/*
 * Shared by the C programs the integration scripts drive (fork_then_sign,
 * concurrent_signing, many_keys): what an ordinary OpenSSL application
 * does with a TPM key, through public APIs only.
 *
 *   - providers tpmkms and default, in a library context of their own or
 *     in the default one;
 *   - the key opened by its tpmkms: URI with OSSL_STORE;
 *   - its public half as a software key of the default provider (through
 *     the SubjectPublicKeyInfo encoder), so verification never involves
 *     tpmkms;
 *   - EVP_DigestSign with the TPM key, EVP_DigestVerify with the software
 *     public key.
 *
 * Header-only (static inline) so that each program stays one .c file.
 */
#ifndef TPMKMS_TEST_TPM_KEY_UTIL_H
#define TPMKMS_TEST_TPM_KEY_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/x509.h>

typedef struct {
    OSSL_LIB_CTX *libctx;       /* NULL: the default library context */
    OSSL_PROVIDER *tpmkms, *deflt;
} TK_PROVIDERS;

/* Loads tpmkms and default; own_libctx 0 uses the default context. */
static inline int tk_providers_load(TK_PROVIDERS *p, int own_libctx)
{
    memset(p, 0, sizeof(*p));
    if (own_libctx && (p->libctx = OSSL_LIB_CTX_new()) == NULL)
        return 0;
    p->tpmkms = OSSL_PROVIDER_load(p->libctx, "tpmkms");
    p->deflt = OSSL_PROVIDER_load(p->libctx, "default");
    if (p->tpmkms == NULL || p->deflt == NULL) {
        fprintf(stderr, "cannot load the tpmkms and default providers "
                "(OPENSSL_MODULES=%s)\n",
                getenv("OPENSSL_MODULES") ? getenv("OPENSSL_MODULES") : "");
        ERR_print_errors_fp(stderr);
        return 0;
    }
    return 1;
}

static inline void tk_providers_unload(TK_PROVIDERS *p)
{
    if (p->tpmkms != NULL)
        OSSL_PROVIDER_unload(p->tpmkms);
    if (p->deflt != NULL)
        OSSL_PROVIDER_unload(p->deflt);
    OSSL_LIB_CTX_free(p->libctx);
    memset(p, 0, sizeof(*p));
}

/* The first private key OSSL_STORE finds at uri, or NULL (errors printed). */
static inline EVP_PKEY *tk_load_key(OSSL_LIB_CTX *libctx, const char *uri)
{
    OSSL_STORE_CTX *sc;
    EVP_PKEY *pkey = NULL;

    sc = OSSL_STORE_open_ex(uri, libctx, NULL, NULL, NULL, NULL, NULL, NULL);
    if (sc == NULL) {
        fprintf(stderr, "OSSL_STORE_open_ex(%s) failed\n", uri);
        ERR_print_errors_fp(stderr);
        return NULL;
    }
    while (pkey == NULL && !OSSL_STORE_eof(sc)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(sc);

        if (info == NULL)
            break;
        if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            pkey = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(sc);
    if (pkey == NULL) {
        fprintf(stderr, "no private key at %s\n", uri);
        ERR_print_errors_fp(stderr);
    }
    return pkey;
}

/* The public half as a key of the default provider, or NULL. */
static inline EVP_PKEY *tk_public_key(OSSL_LIB_CTX *libctx, EVP_PKEY *key)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    EVP_PKEY *pub = NULL;
    int len = i2d_PUBKEY(key, &der);

    if (len > 0) {
        p = der;
        pub = d2i_PUBKEY_ex(NULL, &p, len, libctx, "provider=default");
    }
    OPENSSL_free(der);
    if (pub == NULL) {
        fprintf(stderr, "cannot make a software copy of the public key\n");
        ERR_print_errors_fp(stderr);
    }
    return pub;
}

/* The same public key?  (both in the default provider's encoding) */
static inline int tk_same_public(EVP_PKEY *a, EVP_PKEY *b)
{
    unsigned char *da = NULL, *db = NULL;
    int la = i2d_PUBKEY(a, &da), lb = i2d_PUBKEY(b, &db);
    int same = la > 0 && la == lb && memcmp(da, db, (size_t)la) == 0;

    OPENSSL_free(da);
    OPENSSL_free(db);
    return same;
}

/* RSA-PSS with the salt as long as the digest (what TLS 1.3 uses). */
static inline void tk_pss_params(OSSL_PARAM params[3])
{
    params[0] = OSSL_PARAM_construct_utf8_string(
        OSSL_SIGNATURE_PARAM_PAD_MODE, (char *)OSSL_PKEY_RSA_PAD_MODE_PSS, 0);
    params[1] = OSSL_PARAM_construct_utf8_string(
        OSSL_SIGNATURE_PARAM_PSS_SALTLEN,
        (char *)OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST, 0);
    params[2] = OSSL_PARAM_construct_end();
}

/*
 * Signs msg with key (EVP_DigestSign, its own EVP_MD_CTX) and verifies the
 * signature with pub in the default provider.  1: signed and verified.
 * On failure prints what failed, naming `who`, and OpenSSL's errors.
 */
static inline int tk_sign_verify(OSSL_LIB_CTX *libctx, EVP_PKEY *key,
                                 EVP_PKEY *pub, const char *md, int pss,
                                 const unsigned char *msg, size_t msglen,
                                 const char *who)
{
    OSSL_PARAM params[3], *pp = NULL;
    EVP_MD_CTX *sctx = EVP_MD_CTX_new(), *vctx = EVP_MD_CTX_new();
    unsigned char *sig = NULL;
    size_t siglen = 0;
    const char *failed = NULL;
    int ok = 0;

    if (pss) {
        tk_pss_params(params);
        pp = params;
    }
    if (sctx == NULL || vctx == NULL)
        failed = "EVP_MD_CTX_new";
    else if (EVP_DigestSignInit_ex(sctx, NULL, md, libctx, NULL, key,
                                   pp) != 1)
        failed = "EVP_DigestSignInit_ex";
    else if (EVP_DigestSign(sctx, NULL, &siglen, msg, msglen) != 1)
        failed = "EVP_DigestSign (size)";
    else if ((sig = OPENSSL_malloc(siglen)) == NULL)
        failed = "malloc";
    else if (EVP_DigestSign(sctx, sig, &siglen, msg, msglen) != 1)
        failed = "EVP_DigestSign";
    else if (EVP_DigestVerifyInit_ex(vctx, NULL, md, libctx,
                                     "provider=default", pub, pp) != 1)
        failed = "EVP_DigestVerifyInit_ex";
    else if (EVP_DigestVerify(vctx, sig, siglen, msg, msglen) != 1)
        failed = "EVP_DigestVerify (the signature does not verify)";
    else
        ok = 1;
    if (!ok) {
        fprintf(stderr, "%s: %s failed\n", who, failed);
        ERR_print_errors_fp(stderr);
    }
    OPENSSL_free(sig);
    EVP_MD_CTX_free(sctx);
    EVP_MD_CTX_free(vctx);
    return ok;
}

#endif
