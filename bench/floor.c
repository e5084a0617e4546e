/*
 * The raw floor of a TPM signature (see floor.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>
#include "floor.h"

#define SRK_HANDLE 0x81000001u

struct bench_floor_st {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *ctx;
    ESYS_TR key;
    TPMT_SIG_SCHEME scheme;
    TPM2B_DIGEST digest;
    TPMT_TK_HASHCHECK ticket;
};

static void say_rc(const char *what, TSS2_RC rc)
{
    fprintf(stderr, "floor: %s: 0x%08x (%s)\n", what, (unsigned)rc,
            Tss2_RC_Decode(rc));
}

/* FILE: TPM2B_PUBLIC then TPM2B_PRIVATE, marshalled.  0 if absent/bad. */
static int cache_read(const char *path, TPM2B_PUBLIC *pub, TPM2B_PRIVATE *priv)
{
    uint8_t buf[sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE)];
    size_t len, off = 0;
    FILE *f;

    if (path == NULL || (f = fopen(path, "rb")) == NULL)
        return 0;
    len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    memset(pub, 0, sizeof(*pub));
    memset(priv, 0, sizeof(*priv));
    return Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, pub) == 0
        && Tss2_MU_TPM2B_PRIVATE_Unmarshal(buf, len, &off, priv) == 0
        && off == len;
}

static void cache_write(const char *path, const TPM2B_PUBLIC *pub,
                        const TPM2B_PRIVATE *priv)
{
    uint8_t buf[sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE)];
    size_t off = 0;
    FILE *f;

    if (path == NULL
        || Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof(buf), &off) != 0
        || Tss2_MU_TPM2B_PRIVATE_Marshal(priv, buf, sizeof(buf), &off) != 0)
        return;
    if ((f = fopen(path, "wb")) == NULL) {
        fprintf(stderr, "floor: %s: %s\n", path, strerror(errno));
        return;
    }
    if (fwrite(buf, 1, off, f) != off)
        fprintf(stderr, "floor: %s: short write\n", path);
    fclose(f);
}

/* The TCG ECC P-256 SRK template, as tpmkms setup persists it. */
static void srk_template(TPM2B_PUBLIC *t)
{
    TPMT_PUBLIC *p = &t->publicArea;

    memset(t, 0, sizeof(*t));
    p->type = TPM2_ALG_ECC;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT
        | TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT
        | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH
        | TPMA_OBJECT_NODA;
    p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
    p->parameters.eccDetail.symmetric.keyBits.aes = 128;
    p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
    p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
    p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    p->unique.ecc.x.size = 32;
    p->unique.ecc.y.size = 32;
}

static void key_template(TPM2B_PUBLIC *t, const char *alg)
{
    TPMT_PUBLIC *p = &t->publicArea;

    memset(t, 0, sizeof(*t));
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT
        | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH
        | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_NODA;
    if (strncmp(alg, "ec-", 3) == 0) {
        p->type = TPM2_ALG_ECC;
        p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
        p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
        p->parameters.eccDetail.curveID = strcmp(alg, "ec-p384") == 0
            ? TPM2_ECC_NIST_P384 : TPM2_ECC_NIST_P256;
        p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    } else {
        p->type = TPM2_ALG_RSA;
        p->objectAttributes |= TPMA_OBJECT_DECRYPT;
        p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
        p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
        p->parameters.rsaDetail.keyBits =
            strcmp(alg, "rsa-3072") == 0 ? 3072 : 2048;
    }
}

int bench_floor_alg_ok(const char *alg, int pss)
{
    if (strcmp(alg, "ec-p256") != 0 && strcmp(alg, "ec-p384") != 0
        && strcmp(alg, "rsa-2048") != 0 && strcmp(alg, "rsa-3072") != 0)
        return 0;
    return !pss || strncmp(alg, "rsa-", 4) == 0;
}

BENCH_FLOOR *bench_floor_open(const char *tcti, const char *alg, int pss,
                              const char *cache)
{
    BENCH_FLOOR *f = calloc(1, sizeof(*f));
    ESYS_TR srk = ESYS_TR_NONE;
    TPM2B_SENSITIVE_CREATE sens;
    TPM2B_PUBLIC tmpl;
    TPM2B_DATA outside;
    TPML_PCR_SELECTION pcrs;
    TPM2B_PRIVATE *priv = NULL, cpriv;
    TPM2B_PUBLIC *pub = NULL, cpub;
    int srk_transient = 0;
    TSS2_RC rc;

    if (f == NULL || !bench_floor_alg_ok(alg, pss)) {
        free(f);
        return NULL;
    }
    f->key = ESYS_TR_NONE;
    if ((rc = Tss2_TctiLdr_Initialize(tcti, &f->tcti)) != TSS2_RC_SUCCESS) {
        say_rc("Tss2_TctiLdr_Initialize", rc);
        f->tcti = NULL;
        goto err;
    }
    if ((rc = Esys_Initialize(&f->ctx, f->tcti, NULL)) != TSS2_RC_SUCCESS) {
        say_rc("Esys_Initialize", rc);
        f->ctx = NULL;
        goto err;
    }
    memset(&sens, 0, sizeof(sens));
    memset(&outside, 0, sizeof(outside));
    memset(&pcrs, 0, sizeof(pcrs));
    rc = Esys_TR_FromTPMPublic(f->ctx, SRK_HANDLE, ESYS_TR_NONE, ESYS_TR_NONE,
                               ESYS_TR_NONE, &srk);
    if (rc != TSS2_RC_SUCCESS) {
        srk_template(&tmpl);
        rc = Esys_CreatePrimary(f->ctx, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
                                ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
                                &outside, &pcrs, &srk, NULL, NULL, NULL,
                                NULL);
        if (rc != TSS2_RC_SUCCESS) {
            say_rc("TPM2_CreatePrimary", rc);
            goto err;
        }
        srk_transient = 1;
    }
    if (cache_read(cache, &cpub, &cpriv)) {
        rc = Esys_Load(f->ctx, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                       ESYS_TR_NONE, &cpriv, &cpub, &f->key);
    } else {
        key_template(&tmpl, alg);
        rc = Esys_Create(f->ctx, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                         ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, &priv,
                         &pub, NULL, NULL, NULL);
        if (rc != TSS2_RC_SUCCESS) {
            say_rc("TPM2_Create", rc);
            goto err;
        }
        cache_write(cache, pub, priv);
        rc = Esys_Load(f->ctx, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                       ESYS_TR_NONE, priv, pub, &f->key);
        Esys_Free(priv);
        Esys_Free(pub);
    }
    if (srk_transient)
        Esys_FlushContext(f->ctx, srk);
    if (rc != TSS2_RC_SUCCESS) {
        f->key = ESYS_TR_NONE;
        say_rc("TPM2_Load", rc);
        goto err;
    }
    f->scheme.scheme = strncmp(alg, "ec-", 3) == 0 ? TPM2_ALG_ECDSA
        : pss ? TPM2_ALG_RSAPSS : TPM2_ALG_RSASSA;
    f->scheme.details.any.hashAlg = strcmp(alg, "ec-p384") == 0
        ? TPM2_ALG_SHA384 : TPM2_ALG_SHA256;
    f->digest.size = strcmp(alg, "ec-p384") == 0 ? 48 : 32;
    memset(f->digest.buffer, 0x5a, f->digest.size);
    f->ticket.tag = TPM2_ST_HASHCHECK;
    f->ticket.hierarchy = TPM2_RH_NULL;
    return f;
 err:
    bench_floor_close(f);
    return NULL;
}

unsigned int bench_floor_sign(BENCH_FLOOR *f)
{
    TPMT_SIGNATURE *sig = NULL;
    TSS2_RC rc = Esys_Sign(f->ctx, f->key, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                           ESYS_TR_NONE, &f->digest, &f->scheme, &f->ticket,
                           &sig);

    Esys_Free(sig);
    return rc;
}

void bench_floor_close(BENCH_FLOOR *f)
{
    if (f == NULL)
        return;
    if (f->ctx != NULL && f->key != ESYS_TR_NONE)
        Esys_FlushContext(f->ctx, f->key);
    if (f->ctx != NULL)
        Esys_Finalize(&f->ctx);
    if (f->tcti != NULL)
        Tss2_TctiLdr_Finalize(&f->tcti);
    free(f);
}
