/*
 * TPM keys, many threads at once (driven by concurrent_signing.sh and
 * load_signing.sh).
 *
 *   concurrent_signing [--threads T] [--signs N] [--md NAME] [--pss]
 *                      [--go FILE] [--after FILE] URI...
 *
 * Opens each URI once with OSSL_STORE (providers tpmkms and default in a
 * library context of their own), then starts T threads (8 by default)
 * that wait at a barrier and then all sign at the same time, thread i
 * with key i mod K (so with one URI every thread shares one EVP_PKEY),
 * N signatures each, every thread with its own EVP_MD_CTX
 * (EVP_DigestSign), and verify every signature with that key's public key
 * in the default provider.  Exit 0 when all T*N signatures verified.
 *
 * --go FILE: first sign once with each key (so the process holds its TPM
 * connection and its loaded keys, as a server does), print "holding" and
 * wait until FILE exists before starting the threads (so that a script
 * can stop the TPM under a warm process: tpm_stops_answering.sh).
 * --after FILE: once every thread has returned, wait until FILE exists,
 * then sign once more with the first key and print "after: verified" or
 * "after: failed" (the same process recovers once the TPM answers again).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tpm_key_util.h"

#define MAX_THREADS 64
#define MAX_KEYS 16

typedef struct {
    OSSL_LIB_CTX *libctx;
    EVP_PKEY *key[MAX_KEYS], *pub[MAX_KEYS];
    int nkeys;
    const char *md;
    int pss, signs;
    pthread_barrier_t start;
    atomic_int good, bad;
} SHARED;

typedef struct {
    SHARED *s;
    int index;
} THREAD_ARG;

static void *signer(void *arg)
{
    THREAD_ARG *t = arg;
    SHARED *s = t->s;
    unsigned char msg[96];
    char who[32];
    int i;

    snprintf(who, sizeof(who), "thread %d", t->index);
    pthread_barrier_wait(&s->start);
    for (i = 0; i < s->signs; i++) {
        int len = snprintf((char *)msg, sizeof(msg), "%s message %d", who, i);

        if (tk_sign_verify(s->libctx, s->key[t->index % s->nkeys],
                           s->pub[t->index % s->nkeys], s->md, s->pss, msg,
                           (size_t)len, who))
            atomic_fetch_add(&s->good, 1);
        else
            atomic_fetch_add(&s->bad, 1);
    }
    /* OpenSSL keeps per-thread state (error queue, ...): release it. */
    OPENSSL_thread_stop();
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: concurrent_signing [--threads T] [--signs N] "
            "[--md NAME] [--pss] [--go FILE] [--after FILE] URI...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static SHARED s;
    TK_PROVIDERS prov;
    pthread_t tids[MAX_THREADS];
    THREAD_ARG args[MAX_THREADS];
    int threads = 8, i, argi, started = 0, total;
    const char *go = NULL, *after = NULL;

    s.md = "SHA256";
    s.signs = 20;
    for (argi = 1; argi < argc && strncmp(argv[argi], "--", 2) == 0; argi++) {
        const char *o = argv[argi];

        if (strcmp(o, "--pss") == 0)
            s.pss = 1;
        else if (strcmp(o, "--threads") == 0 && argi + 1 < argc)
            threads = atoi(argv[++argi]);
        else if (strcmp(o, "--signs") == 0 && argi + 1 < argc)
            s.signs = atoi(argv[++argi]);
        else if (strcmp(o, "--md") == 0 && argi + 1 < argc)
            s.md = argv[++argi];
        else if (strcmp(o, "--go") == 0 && argi + 1 < argc)
            go = argv[++argi];
        else if (strcmp(o, "--after") == 0 && argi + 1 < argc)
            after = argv[++argi];
        else
            usage();
    }
    if (argi >= argc || argc - argi > MAX_KEYS || threads < 1
        || threads > MAX_THREADS || s.signs < 1)
        usage();

    if (!tk_providers_load(&prov, 1))
        return 1;
    for (; argi < argc; argi++, s.nkeys++)
        if ((s.key[s.nkeys] = tk_load_key(prov.libctx, argv[argi])) == NULL
            || (s.pub[s.nkeys] = tk_public_key(prov.libctx,
                                               s.key[s.nkeys])) == NULL)
            return 1;
    s.libctx = prov.libctx;
    if (go != NULL) {
        static const unsigned char warm[] = "warm up";

        for (i = 0; i < s.nkeys; i++)
            if (!tk_sign_verify(s.libctx, s.key[i], s.pub[i], s.md, s.pss,
                                warm, sizeof(warm), "warm-up"))
                return 1;
        printf("holding\n");
        fflush(stdout);
        while (access(go, F_OK) != 0)
            usleep(10000);
    }
    atomic_init(&s.good, 0);
    atomic_init(&s.bad, 0);
    if (pthread_barrier_init(&s.start, NULL, (unsigned)threads) != 0) {
        fprintf(stderr, "pthread_barrier_init failed\n");
        return 1;
    }
    for (i = 0; i < threads; i++) {
        args[i].s = &s;
        args[i].index = i;
        if (pthread_create(&tids[i], NULL, signer, &args[i]) != 0) {
            fprintf(stderr, "pthread_create failed for thread %d\n", i);
            return 1;           /* the others wait at the barrier forever */
        }
        started++;
    }
    for (i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    pthread_barrier_destroy(&s.start);

    total = threads * s.signs;
    printf("concurrent_signing: %d threads x %d signatures on %d key%s "
           "(%s%s): %d verified, %d failed\n", threads, s.signs, s.nkeys,
           s.nkeys == 1 ? "" : "s", s.md, s.pss ? ", PSS" : "",
           atomic_load(&s.good), atomic_load(&s.bad));
    if (after != NULL) {
        static const unsigned char again[] = "after the threads";

        fflush(stdout);
        while (access(after, F_OK) != 0)
            usleep(10000);
        printf("after: %s\n",
               tk_sign_verify(s.libctx, s.key[0], s.pub[0], s.md, s.pss,
                              again, sizeof(again), "after")
               ? "verified" : "failed");
    }
    for (i = 0; i < s.nkeys; i++) {
        EVP_PKEY_free(s.key[i]);
        EVP_PKEY_free(s.pub[i]);
    }
    tk_providers_unload(&prov);
    return atomic_load(&s.good) == total && atomic_load(&s.bad) == 0 ? 0 : 1;
}
