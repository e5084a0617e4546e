/*
 * signrate: warm signatures through EVP_DigestSign on keys loaded with
 * OSSL_STORE, as an application would make them.  Used by bench/run (rate
 * and TPM command counts) and test/integration/tpm_command_counts.sh.
 *
 *   signrate [options] URI...
 *     --provider NAME   load this provider (repeatable; default: tpmkms,
 *                       default); OPENSSL_MODULES says where modules are
 *     --propq Q         property query for OSSL_STORE and EVP_DigestSign
 *     --digest NAME     sha256 (default), sha384, sha512
 *     --pss             RSA-PSS with salt length = digest length
 *     --threads N       N threads sign with the same EVP_PKEY (1)
 *     --seconds S       sign for S seconds (2), or
 *     --count N         exactly N signatures per thread per key
 *     --msg-len L       message bytes (100)
 *     --fresh           a fresh signing context per signature (below)
 *     --paired-floor ALG  also measure the raw floor in this process (below)
 *     --floor-tcti T    its TCTI (default $TPMKMS_TCTI)
 *     --floor-key FILE  its key cache (as esys_floor --key-cache)
 *     --hold            with several URIs: hold them all open (below)
 *     --verify-all      verify every signature (below)
 *
 * With several URIs (only with --count): each key is opened, signs N
 * times, and is freed before the next is opened; with --hold, all keys
 * are opened first, then each signs N times, then all are freed.
 *
 * Each thread keeps one EVP_MD_CTX: the first signature initialises it
 * with the key (EVP_DigestSignInit_ex), every later one re-initialises it
 * for the same key (EVP_DigestSignInit_ex with a NULL key), as a program
 * that signs many messages with one key does.  With --fresh, every
 * signature resets the context and initialises it with the key again, as
 * a TLS handshake does; OpenSSL 3.0 then fetches the signature, the key
 * management and the digest again each time, work that is the same for
 * any provider (software keys included).
 *
 * With --paired-floor (one thread, one URI, --seconds): the run alternates
 * blocks of 20 signatures through EVP_DigestSign with blocks of 20 raw
 * Esys_Sign calls of an ALG key on a connection of its own (floor.c), the
 * order of the two flipped every block, so that whatever slows the
 * machine down during the run slows both alike; each is timed on its own.
 * The JSON line then also has "floor_rate", "floor_cpu_us" and "ratio"
 * (rate / floor_rate); "seconds", "rate" and "cpu_us" are the provider's
 * blocks only.
 *
 * Each key's public half is copied to a software key (default provider),
 * and the first and last signature of every thread are verified with it;
 * with --verify-all, every signature is.  A signature that fails or does not
 * verify is a failure: counted, reported, and the exit status is 1.
 *
 * Prints one JSON object: {"threads":N,"seconds":T,"signatures":S,
 * "failures":F,"rate":R,"cpu_us":C} (rate: good signatures per second,
 * all threads; cpu_us: this process's CPU time per signature while
 * signing, user + system, which the TPM's speed does not enter).  A
 * thread still inside a call 5 s after the run ended is reported as
 * "hung_threads":n, and the program exits 3 without waiting for it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/store.h>
#include <openssl/x509.h>
#include "floor.h"

#define MAX_PROVIDERS 8
#define MAX_THREADS 64
#define HANG_GRACE 5            /* seconds after the run before "hung" */

typedef struct {
    const char *providers[MAX_PROVIDERS];
    int nproviders;
    const char *propq;
    const char *digest;
    int pss;
    int hold;                   /* open every key first, then sign */
    int verify_all;
    int threads;
    double seconds;
    long count;                 /* > 0: fixed count mode */
    size_t msg_len;
    int fresh;                  /* full init for every signature */
    const char *paired_alg;     /* --paired-floor: the floor's key type */
    const char *floor_tcti;
    const char *floor_key;
} OPTS;

typedef struct {
    const OPTS *o;
    EVP_PKEY *key;              /* the store's key (signs) */
    EVP_PKEY *pub;              /* software copy of the public half */
    unsigned char *msg;
    pthread_barrier_t *start;
    double deadline;            /* seconds mode: CLOCK_MONOTONIC */
    atomic_long signatures;
    atomic_long failures;
    atomic_long verify_failures;
    atomic_int done;
    char first_error[256];
} WORKER;

static atomic_int errors_printed;

/* User + system CPU seconds of the whole process so far. */
static double cpu_now(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6
        + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* This thread's CPU seconds (user + system). */
static double thread_cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: signrate [--provider NAME]... [--propq Q] [--digest NAME]\n"
            "                [--pss] [--threads N] [--seconds S | --count N]\n"
            "                [--msg-len L] [--fresh] [--hold] [--verify-all] URI...\n");
    exit(64);
}

/* The first few OpenSSL errors go to stderr; the rest are only counted. */
static void note_error(WORKER *w, const char *what)
{
    unsigned long e = ERR_peek_last_error();

    if (w->first_error[0] == '\0')
        snprintf(w->first_error, sizeof(w->first_error), "%s: %s", what,
                 e != 0 ? ERR_reason_error_string(e) != NULL
                              ? ERR_reason_error_string(e) : "(no reason)"
                        : "(no error queued)");
    if (atomic_fetch_add(&errors_printed, 1) < 3) {
        fprintf(stderr, "signrate: %s failed\n", what);
        ERR_print_errors_fp(stderr);
    }
    ERR_clear_error();
}

static int set_padding(EVP_PKEY_CTX *pctx, const OPTS *o)
{
    if (!o->pss)
        return 1;
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0
        && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0;
}

/* *inited: mctx holds this key's signing operation (see the top). */
static int sign_once(WORKER *w, EVP_MD_CTX *mctx, int *inited,
                     unsigned char *sig, size_t *siglen)
{
    EVP_PKEY_CTX *pctx = NULL;

    if (*inited && !w->o->fresh) {
        if (EVP_DigestSignInit_ex(mctx, NULL, NULL, NULL, NULL, NULL,
                                  NULL) != 1) {
            *inited = 0;
            note_error(w, "EVP_DigestSignInit (again, same key)");
            return 0;
        }
    } else {
        EVP_MD_CTX_reset(mctx);
        *inited = 0;
        if (EVP_DigestSignInit_ex(mctx, &pctx, w->o->digest, NULL,
                                  w->o->propq, w->key, NULL) != 1
            || !set_padding(pctx, w->o)) {
            note_error(w, "EVP_DigestSignInit");
            return 0;
        }
        *inited = 1;
    }
    if (EVP_DigestSign(mctx, sig, siglen, w->msg, w->o->msg_len) != 1) {
        *inited = 0;            /* start the next one from scratch */
        note_error(w, "EVP_DigestSign");
        return 0;
    }
    return 1;
}

static int verify_once(WORKER *w, const unsigned char *sig, size_t siglen)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = 0;

    if (mctx != NULL
        && EVP_DigestVerifyInit_ex(mctx, &pctx, w->o->digest, NULL,
                                   "provider=default", w->pub, NULL) == 1
        && set_padding(pctx, w->o)
        && EVP_DigestVerify(mctx, sig, siglen, w->msg, w->o->msg_len) == 1)
        ok = 1;
    if (!ok)
        note_error(w, "verifying a signature in software");
    EVP_MD_CTX_free(mctx);
    return ok;
}

/*
 * One counted signature of a signing loop, into sig (sigsize bytes): the
 * first of the loop is verified, and every one with --verify-all.
 * *have_last: sig holds a good signature.
 */
static void sign_step(WORKER *w, EVP_MD_CTX *mctx, int *inited,
                      unsigned char *sig, size_t sigsize, size_t *siglen,
                      int *have_last)
{
    *siglen = sigsize;
    if (!sign_once(w, mctx, inited, sig, siglen)) {
        w->failures++;
        *have_last = 0;
        return;
    }
    w->signatures++;
    *have_last = 1;
    if ((w->signatures == 1 || w->o->verify_all)
        && !verify_once(w, sig, *siglen)) {
        w->verify_failures++;
        *have_last = 0;
    }
}

/* After the loop: the last signature is verified too. */
static void verify_last(WORKER *w, const unsigned char *sig, size_t siglen,
                        int have_last)
{
    if (!w->o->verify_all && have_last && w->signatures > 1
        && !verify_once(w, sig, siglen))
        w->verify_failures++;
}

static void *worker_run(void *arg)
{
    WORKER *w = arg;
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    unsigned char sig[1024];
    size_t siglen = 0;
    int have_last = 0, inited = 0;
    long i;

    if (mctx == NULL) {
        w->failures++;
        atomic_store(&w->done, 1);
        return NULL;
    }
    if (w->start != NULL)
        pthread_barrier_wait(w->start);
    for (i = 0; w->o->count > 0 ? i < w->o->count : now() < w->deadline;
         i++)
        sign_step(w, mctx, &inited, sig, sizeof(sig), &siglen, &have_last);
    verify_last(w, sig, siglen, have_last);
    EVP_MD_CTX_free(mctx);
    atomic_store(&w->done, 1);
    return NULL;
}

static EVP_PKEY *load_key(const char *uri, const char *propq)
{
    OSSL_STORE_CTX *store;
    EVP_PKEY *key = NULL;

    store = OSSL_STORE_open_ex(uri, NULL, propq, NULL, NULL, NULL, NULL,
                               NULL);
    if (store == NULL) {
        fprintf(stderr, "signrate: cannot open %s\n", uri);
        return NULL;
    }
    while (key == NULL && !OSSL_STORE_eof(store)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(store);

        if (info == NULL)
            continue;
        if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            key = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(store);
    if (key == NULL)
        fprintf(stderr, "signrate: %s holds no private key\n", uri);
    return key;
}

/* The public half as a key of the default provider. */
static EVP_PKEY *software_public(EVP_PKEY *key)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    EVP_PKEY *pub = NULL;
    int len = i2d_PUBKEY(key, &der);

    if (len > 0) {
        p = der;
        pub = d2i_PUBKEY_ex(NULL, &p, len, NULL, "provider=default");
    }
    OPENSSL_free(der);
    return pub;
}

/* Opens a key and its software public half; 0 if it cannot. */
static int open_key(const char *uri, const char *propq, EVP_PKEY **key,
                    EVP_PKEY **pub)
{
    *pub = NULL;
    if ((*key = load_key(uri, propq)) == NULL) {
        ERR_print_errors_fp(stderr);
        return 0;
    }
    if ((*pub = software_public(*key)) == NULL) {
        fprintf(stderr, "signrate: cannot copy the public key of %s\n", uri);
        ERR_print_errors_fp(stderr);
        EVP_PKEY_free(*key);
        *key = NULL;
        return 0;
    }
    return 1;
}

typedef struct {
    long signatures, failures;
    double elapsed;
    double cpu;                 /* process CPU seconds while signing */
    int hung;                   /* threads still in a call after the grace */
    char first_error[256];
    /* --paired-floor: the raw floor's blocks */
    long floor_signatures, floor_failures;
    double floor_elapsed, floor_cpu;
} TOTALS;

#define PAIRED_BLOCK 20

/*
 * --paired-floor: provider and floor blocks in turn (see the top), in
 * this thread.  The first signature of each (the key's load) is made
 * before the clock starts.
 */
static void run_paired(const OPTS *o, EVP_PKEY *key, EVP_PKEY *pub,
                       unsigned char *msg, TOTALS *t, BENCH_FLOOR *floor)
{
    WORKER w;
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    unsigned char sig[1024];
    size_t siglen = sizeof(sig);
    int inited = 0, have_last = 0;
    unsigned int rc;
    double deadline, t0, c0;
    long block, j;

    memset(&w, 0, sizeof(w));
    w.o = o;
    w.key = key;
    w.pub = pub;
    w.msg = msg;
    if (mctx == NULL || !sign_once(&w, mctx, &inited, sig, &siglen)
        || !verify_once(&w, sig, siglen)
        || (rc = bench_floor_sign(floor)) != 0) {
        t->failures++;
        if (t->first_error[0] == '\0')
            snprintf(t->first_error, sizeof(t->first_error), "%s",
                     w.first_error[0] != '\0' ? w.first_error
                                               : "the first signature failed");
        EVP_MD_CTX_free(mctx);
        return;
    }
    deadline = now() + o->seconds;
    for (block = 0; now() < deadline; block++) {
        for (int half = 0; half < 2; half++) {
            int provider = (half == 0) == (block % 2 == 0);

            t0 = now();
            c0 = thread_cpu_now();
            for (j = 0; j < PAIRED_BLOCK; j++) {
                if (!provider) {
                    if (bench_floor_sign(floor) == 0)
                        t->floor_signatures++;
                    else
                        t->floor_failures++;
                    continue;
                }
                sign_step(&w, mctx, &inited, sig, sizeof(sig), &siglen,
                          &have_last);
            }
            if (provider) {
                t->elapsed += now() - t0;
                t->cpu += thread_cpu_now() - c0;
            } else {
                t->floor_elapsed += now() - t0;
                t->floor_cpu += thread_cpu_now() - c0;
            }
        }
    }
    verify_last(&w, sig, siglen, have_last);
    t->signatures += w.signatures - w.verify_failures;
    t->failures += w.failures + w.verify_failures + t->floor_failures;
    if (t->first_error[0] == '\0' && w.first_error[0] != '\0')
        snprintf(t->first_error, sizeof(t->first_error), "%s", w.first_error);
    EVP_MD_CTX_free(mctx);
}

/* o->threads threads sign with one key; adds to the totals. */
static void run_key(const OPTS *o, EVP_PKEY *key, EVP_PKEY *pub,
                    unsigned char *msg, TOTALS *t)
{
    WORKER w[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    pthread_barrier_t start;
    double t0, t1, c0, c1;
    int i;

    memset(w, 0, sizeof(w));
    pthread_barrier_init(&start, NULL, (unsigned)o->threads + 1);
    for (i = 0; i < o->threads; i++) {
        w[i].o = o;
        w[i].key = key;
        w[i].pub = pub;
        w[i].msg = msg;
        w[i].start = &start;
        if (pthread_create(&tid[i], NULL, worker_run, &w[i]) != 0) {
            fprintf(stderr, "signrate: pthread_create: %s\n", strerror(errno));
            exit(1);            /* the barrier waits for every thread */
        }
    }
    c0 = cpu_now();
    t0 = now();
    for (i = 0; i < o->threads; i++)
        w[i].deadline = t0 + o->seconds;
    pthread_barrier_wait(&start);
    /* A call that never returns (a provider that hangs) must not hang the
     * bench: after the run and a grace period, report what was done. */
    if (o->count <= 0) {
        struct timespec tick = { 0, 10 * 1000 * 1000 };
        int running = o->threads;

        while (running > 0 && now() < t0 + o->seconds + HANG_GRACE) {
            nanosleep(&tick, NULL);
            for (running = 0, i = 0; i < o->threads; i++)
                running += !atomic_load(&w[i].done);
        }
        t->hung += running;
    }
    if (t->hung == 0) {
        for (i = 0; i < o->threads; i++)
            pthread_join(tid[i], NULL);
        pthread_barrier_destroy(&start);
    }
    t1 = now();
    c1 = cpu_now();
    for (i = 0; i < o->threads; i++) {
        t->signatures += atomic_load(&w[i].signatures)
            - atomic_load(&w[i].verify_failures);
        t->failures += atomic_load(&w[i].failures)
            + atomic_load(&w[i].verify_failures);
        if (t->first_error[0] == '\0' && atomic_load(&w[i].done)
            && w[i].first_error[0] != '\0')
            snprintf(t->first_error, sizeof(t->first_error), "%s",
                     w[i].first_error);
    }
    t->elapsed += t1 - t0;
    t->cpu += c1 - c0;
}

/* A key that cannot be opened is a failure like any other. */
static void open_failed(TOTALS *t, const char *uri)
{
    t->failures++;
    if (t->first_error[0] == '\0')
        snprintf(t->first_error, sizeof(t->first_error), "cannot open %s",
                 uri);
}

static long parse_long(const char *s, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        usage();
    return v;
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", (unsigned char)*s);
        else
            putchar(*s);
    }
    putchar('"');
}

int main(int argc, char **argv)
{
    OPTS o;
    OSSL_PROVIDER *prov[MAX_PROVIDERS];
    unsigned char *msg;
    TOTALS t;
    int i, first_uri;
    size_t k;

    memset(&o, 0, sizeof(o));
    memset(&t, 0, sizeof(t));
    o.digest = "sha256";
    o.threads = 1;
    o.seconds = 2;
    o.msg_len = 100;
    for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--pss") == 0) {
            o.pss = 1;
            continue;
        }
        if (strcmp(a, "--hold") == 0) {
            o.hold = 1;
            continue;
        }
        if (strcmp(a, "--verify-all") == 0) {
            o.verify_all = 1;
            continue;
        }
        if (strcmp(a, "--fresh") == 0) {
            o.fresh = 1;
            continue;
        }
        if (i + 1 < argc && strcmp(a, "--paired-floor") == 0) {
            o.paired_alg = argv[++i];
            continue;
        }
        if (i + 1 < argc && strcmp(a, "--floor-tcti") == 0) {
            o.floor_tcti = argv[++i];
            continue;
        }
        if (i + 1 < argc && strcmp(a, "--floor-key") == 0) {
            o.floor_key = argv[++i];
            continue;
        }
        if (i + 1 >= argc)
            usage();
        if (strcmp(a, "--provider") == 0) {
            if (o.nproviders == MAX_PROVIDERS)
                usage();
            o.providers[o.nproviders++] = argv[++i];
        } else if (strcmp(a, "--propq") == 0) {
            o.propq = argv[++i];
        } else if (strcmp(a, "--digest") == 0) {
            o.digest = argv[++i];
        } else if (strcmp(a, "--threads") == 0) {
            o.threads = (int)parse_long(argv[++i], 1, MAX_THREADS);
        } else if (strcmp(a, "--seconds") == 0) {
            o.seconds = (double)parse_long(argv[++i], 1, 3600);
        } else if (strcmp(a, "--count") == 0) {
            o.count = parse_long(argv[++i], 1, 100000000);
        } else if (strcmp(a, "--msg-len") == 0) {
            o.msg_len = (size_t)parse_long(argv[++i], 0, 1 << 20);
        } else {
            usage();
        }
    }
    first_uri = i;
    if (first_uri >= argc || (argc - first_uri > 1 && o.count == 0))
        usage();
    if (o.paired_alg != NULL
        && (o.threads != 1 || o.count != 0 || o.hold || argc - first_uri != 1
            || !bench_floor_alg_ok(o.paired_alg, o.pss))) {
        fprintf(stderr, "signrate: --paired-floor takes one URI, one thread, "
                "--seconds, and ec-p256, ec-p384, rsa-2048 or rsa-3072 "
                "(rsa-* with --pss)\n");
        return 64;
    }
    if (o.floor_tcti == NULL)
        o.floor_tcti = getenv("TPMKMS_TCTI");
    if (o.nproviders == 0) {
        o.providers[o.nproviders++] = "tpmkms";
        o.providers[o.nproviders++] = "default";
    }
    for (i = 0; i < o.nproviders; i++) {
        if ((prov[i] = OSSL_PROVIDER_load(NULL, o.providers[i])) == NULL) {
            fprintf(stderr, "signrate: cannot load provider %s\n",
                    o.providers[i]);
            ERR_print_errors_fp(stderr);
            return 1;
        }
    }
    if ((msg = OPENSSL_malloc(o.msg_len + 1)) == NULL)
        return 1;
    for (k = 0; k < o.msg_len; k++)
        msg[k] = (unsigned char)(k * 7 + 1);

    if (o.paired_alg != NULL) {
        BENCH_FLOOR *floor;
        EVP_PKEY *key, *pub;

        if ((floor = bench_floor_open(o.floor_tcti, o.paired_alg, o.pss,
                                      o.floor_key)) == NULL)
            return 1;
        if (!open_key(argv[first_uri], o.propq, &key, &pub)) {
            open_failed(&t, argv[first_uri]);
        } else {
            run_paired(&o, key, pub, msg, &t, floor);
            EVP_PKEY_free(pub);
            EVP_PKEY_free(key);
        }
        bench_floor_close(floor);
    } else if (o.hold) {
        /* All keys open at once, then each signs. */
        int n = argc - first_uri;
        EVP_PKEY **keys = OPENSSL_zalloc(2 * (size_t)n * sizeof(*keys));

        if (keys == NULL)
            return 1;
        for (i = 0; i < n; i++)
            if (!open_key(argv[first_uri + i], o.propq, &keys[2 * i],
                          &keys[2 * i + 1]))
                open_failed(&t, argv[first_uri + i]);
        for (i = 0; i < n; i++)
            if (keys[2 * i] != NULL)
                run_key(&o, keys[2 * i], keys[2 * i + 1], msg, &t);
        for (i = 0; i < 2 * n; i++)
            EVP_PKEY_free(keys[i]);
        OPENSSL_free(keys);
    } else {
        /* One key after another: open, sign, free. */
        for (i = first_uri; i < argc; i++) {
            EVP_PKEY *key, *pub;

            if (!open_key(argv[i], o.propq, &key, &pub)) {
                open_failed(&t, argv[i]);
                continue;
            }
            run_key(&o, key, pub, msg, &t);
            if (t.hung > 0)
                break;          /* hung threads still use the key */
            EVP_PKEY_free(pub);
            EVP_PKEY_free(key);
        }
    }

    printf("{\"threads\":%d,\"seconds\":%.3f,\"signatures\":%ld,"
           "\"failures\":%ld,\"rate\":%.1f", o.threads, t.elapsed,
           t.signatures, t.failures,
           t.elapsed > 0 ? (double)t.signatures / t.elapsed : 0.0);
    if (t.signatures > 0)
        printf(",\"cpu_us\":%.1f", 1e6 * t.cpu / (double)t.signatures);
    if (o.paired_alg != NULL && t.floor_signatures > 0 && t.elapsed > 0) {
        double rate = (double)t.signatures / t.elapsed;
        double floor_rate = (double)t.floor_signatures / t.floor_elapsed;

        printf(",\"floor_rate\":%.1f,\"floor_cpu_us\":%.1f,\"ratio\":%.4f",
               floor_rate, 1e6 * t.floor_cpu / (double)t.floor_signatures,
               rate / floor_rate);
    }
    if (t.hung > 0)
        printf(",\"hung_threads\":%d", t.hung);
    if (t.first_error[0] != '\0') {
        printf(",\"first_error\":");
        json_string(t.first_error);
    }
    printf("}\n");
    fflush(stdout);
    if (t.hung > 0) {
        fprintf(stderr, "signrate: %d thread(s) still inside a call %d s "
                "after the run ended: the provider hangs\n", t.hung,
                HANG_GRACE);
        _exit(3);
    }
    OPENSSL_free(msg);
    for (i = o.nproviders - 1; i >= 0; i--)
        OSSL_PROVIDER_unload(prov[i]);
    return t.failures == 0 ? 0 : 1;
}
