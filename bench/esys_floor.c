/*
 * esys_floor: the least a program can do per TPM signature — Esys_Sign of
 * a fixed digest with one loaded key, in a loop.  bench/run divides every
 * provider's signature rate by this one, measured on the same TPM in the
 * same run.  (Bench code, not the provider: it talks to tss2 directly.)
 *
 *   esys_floor [--tcti CONF] [--alg ec-p256|ec-p384|rsa-2048|rsa-3072]
 *              [--pss] [--threads N] [--seconds S | --count N]
 *              [--key-cache FILE]
 *
 * The key is made for the run (TPM2_Create under the SRK at 0x81000001,
 * or under a TCG ECC P-256 primary made here if none is persistent), or
 * read from FILE, where a made key is kept for the next run (an RSA
 * TPM2_Create takes long); it is loaded once and flushed at the end.  N threads share one ESYS context
 * under a mutex: a TPM does one command at a time, so this is the floor
 * for N threads too.  Prints the same JSON line as signrate.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#define SRK_HANDLE 0x81000001u
#define MAX_THREADS 64

typedef struct {
    ESYS_CONTEXT *ctx;
    ESYS_TR key;
    TPMT_SIG_SCHEME scheme;
    TPM2B_DIGEST digest;
    pthread_mutex_t lock;
    pthread_barrier_t start;
    double deadline;
    long count;
} SHARED;

typedef struct {
    SHARED *s;
    long signatures, failures;
    TSS2_RC first_rc;
} WORKER;

/* User + system CPU seconds of the whole process so far. */
static double cpu_now(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6
        + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr, "usage: esys_floor [--tcti CONF] [--alg ALG] [--pss] "
            "[--threads N] [--seconds S | --count N] [--key-cache FILE]\n");
    exit(64);
}

static void die_rc(const char *what, TSS2_RC rc)
{
    fprintf(stderr, "esys_floor: %s: 0x%08x (%s)\n", what, (unsigned)rc,
            Tss2_RC_Decode(rc));
    exit(1);
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
        fprintf(stderr, "esys_floor: %s: %s\n", path, strerror(errno));
        return;
    }
    if (fwrite(buf, 1, off, f) != off)
        fprintf(stderr, "esys_floor: %s: short write\n", path);
    fclose(f);
}

static void *worker_run(void *arg)
{
    WORKER *w = arg;
    SHARED *s = w->s;
    TPMT_TK_HASHCHECK ticket;
    long i;

    memset(&ticket, 0, sizeof(ticket));
    ticket.tag = TPM2_ST_HASHCHECK;
    ticket.hierarchy = TPM2_RH_NULL;
    pthread_barrier_wait(&s->start);
    for (i = 0; s->count > 0 ? i < s->count : now() < s->deadline; i++) {
        TPMT_SIGNATURE *sig = NULL;
        TSS2_RC rc;

        pthread_mutex_lock(&s->lock);
        rc = Esys_Sign(s->ctx, s->key, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                       ESYS_TR_NONE, &s->digest, &s->scheme, &ticket, &sig);
        pthread_mutex_unlock(&s->lock);
        Esys_Free(sig);
        if (rc == TSS2_RC_SUCCESS) {
            w->signatures++;
        } else {
            if (w->failures++ == 0)
                w->first_rc = rc;
        }
    }
    return NULL;
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

int main(int argc, char **argv)
{
    const char *tcti = getenv("TPMKMS_TCTI"), *alg = "ec-p256", *cache = NULL;
    int pss = 0, threads = 1, i, srk_transient = 0;
    double seconds = 2, t0, t1, c0, c1;
    long count = 0, signatures = 0, failures = 0;
    TSS2_RC rc, first_rc = 0;
    TSS2_TCTI_CONTEXT *tcti_ctx = NULL;
    SHARED s;
    WORKER w[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    ESYS_TR srk = ESYS_TR_NONE;
    TPM2B_SENSITIVE_CREATE sens;
    TPM2B_PUBLIC tmpl;
    TPM2B_DATA outside;
    TPML_PCR_SELECTION pcrs;
    TPM2B_PRIVATE *priv = NULL, cpriv;
    TPM2B_PUBLIC *pub = NULL, cpub;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--pss") == 0) {
            pss = 1;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--tcti") == 0)
            tcti = argv[++i];
        else if (strcmp(argv[i], "--alg") == 0)
            alg = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--count") == 0)
            count = atol(argv[++i]);
        else if (strcmp(argv[i], "--key-cache") == 0)
            cache = argv[++i];
        else
            usage();
    }
    if (threads < 1 || threads > MAX_THREADS || seconds <= 0 || count < 0
        || (strcmp(alg, "ec-p256") != 0 && strcmp(alg, "ec-p384") != 0
            && strcmp(alg, "rsa-2048") != 0 && strcmp(alg, "rsa-3072") != 0)
        || (pss && strncmp(alg, "rsa-", 4) != 0))
        usage();

    memset(&s, 0, sizeof(s));
    if ((rc = Tss2_TctiLdr_Initialize(tcti, &tcti_ctx)) != TSS2_RC_SUCCESS)
        die_rc("Tss2_TctiLdr_Initialize", rc);
    if ((rc = Esys_Initialize(&s.ctx, tcti_ctx, NULL)) != TSS2_RC_SUCCESS)
        die_rc("Esys_Initialize", rc);

    memset(&sens, 0, sizeof(sens));
    memset(&outside, 0, sizeof(outside));
    memset(&pcrs, 0, sizeof(pcrs));
    rc = Esys_TR_FromTPMPublic(s.ctx, SRK_HANDLE, ESYS_TR_NONE, ESYS_TR_NONE,
                               ESYS_TR_NONE, &srk);
    if (rc != TSS2_RC_SUCCESS) {
        srk_template(&tmpl);
        rc = Esys_CreatePrimary(s.ctx, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
                                ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
                                &outside, &pcrs, &srk, NULL, NULL, NULL,
                                NULL);
        if (rc != TSS2_RC_SUCCESS)
            die_rc("TPM2_CreatePrimary", rc);
        srk_transient = 1;
    }
    if (cache_read(cache, &cpub, &cpriv)) {
        rc = Esys_Load(s.ctx, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                       ESYS_TR_NONE, &cpriv, &cpub, &s.key);
    } else {
        key_template(&tmpl, alg);
        rc = Esys_Create(s.ctx, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                         ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, &priv,
                         &pub, NULL, NULL, NULL);
        if (rc != TSS2_RC_SUCCESS)
            die_rc("TPM2_Create", rc);
        cache_write(cache, pub, priv);
        rc = Esys_Load(s.ctx, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                       ESYS_TR_NONE, priv, pub, &s.key);
        Esys_Free(priv);
        Esys_Free(pub);
    }
    if (rc != TSS2_RC_SUCCESS)
        die_rc("TPM2_Load", rc);
    if (srk_transient)
        Esys_FlushContext(s.ctx, srk);

    s.scheme.scheme = strncmp(alg, "ec-", 3) == 0 ? TPM2_ALG_ECDSA
        : pss ? TPM2_ALG_RSAPSS : TPM2_ALG_RSASSA;
    s.scheme.details.any.hashAlg = strcmp(alg, "ec-p384") == 0
        ? TPM2_ALG_SHA384 : TPM2_ALG_SHA256;
    s.digest.size = strcmp(alg, "ec-p384") == 0 ? 48 : 32;
    memset(s.digest.buffer, 0x5a, s.digest.size);
    s.count = count;
    pthread_mutex_init(&s.lock, NULL);
    pthread_barrier_init(&s.start, NULL, (unsigned)threads + 1);
    memset(w, 0, sizeof(w));
    for (i = 0; i < threads; i++) {
        w[i].s = &s;
        if (pthread_create(&tid[i], NULL, worker_run, &w[i]) != 0) {
            fprintf(stderr, "esys_floor: pthread_create: %s\n",
                    strerror(errno));
            return 1;
        }
    }
    c0 = cpu_now();
    t0 = now();
    s.deadline = t0 + seconds;
    pthread_barrier_wait(&s.start);
    for (i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    t1 = now();
    c1 = cpu_now();
    for (i = 0; i < threads; i++) {
        signatures += w[i].signatures;
        failures += w[i].failures;
        if (first_rc == 0)
            first_rc = w[i].first_rc;
    }
    Esys_FlushContext(s.ctx, s.key);
    Esys_Finalize(&s.ctx);
    Tss2_TctiLdr_Finalize(&tcti_ctx);

    printf("{\"threads\":%d,\"seconds\":%.3f,\"signatures\":%ld,"
           "\"failures\":%ld,\"rate\":%.1f", threads, t1 - t0, signatures,
           failures, t1 > t0 ? (double)signatures / (t1 - t0) : 0.0);
    if (signatures > 0)
        printf(",\"cpu_us\":%.1f", 1e6 * (c1 - c0) / (double)signatures);
    if (first_rc != 0)
        printf(",\"first_error\":\"TPM2_Sign: 0x%08x\"", (unsigned)first_rc);
    printf("}\n");
    return failures == 0 ? 0 : 1;
}
