/*
 * esys_floor: the least a program can do per TPM signature — Esys_Sign of
 * a fixed digest with one loaded key, in a loop (floor.c).  bench/run
 * shows every provider's signature rate beside this one, measured on the
 * same TPM in the same run.  (Bench code, not the provider: it talks to
 * tss2 directly.)
 *
 *   esys_floor [--tcti CONF] [--alg ec-p256|ec-p384|rsa-2048|rsa-3072]
 *              [--pss] [--threads N] [--seconds S | --count N]
 *              [--key-cache FILE]
 *
 * The key is made for the run, or read from FILE, where a made key is
 * kept for the next run (an RSA TPM2_Create takes long); it is loaded
 * once and flushed at the end.  N threads share one ESYS context under a
 * mutex: a TPM does one command at a time, so this is the floor for N
 * threads too.  Prints the same JSON line as signrate.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include "floor.h"

#define MAX_THREADS 64

typedef struct {
    BENCH_FLOOR *floor;
    pthread_mutex_t lock;
    pthread_barrier_t start;
    double deadline;
    long count;
} SHARED;

typedef struct {
    SHARED *s;
    long signatures, failures;
    unsigned int first_rc;
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

static void *worker_run(void *arg)
{
    WORKER *w = arg;
    SHARED *s = w->s;
    long i;

    pthread_barrier_wait(&s->start);
    for (i = 0; s->count > 0 ? i < s->count : now() < s->deadline; i++) {
        unsigned int rc;

        pthread_mutex_lock(&s->lock);
        rc = bench_floor_sign(s->floor);
        pthread_mutex_unlock(&s->lock);
        if (rc == 0) {
            w->signatures++;
        } else {
            if (w->failures++ == 0)
                w->first_rc = rc;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *tcti = getenv("TPMKMS_TCTI"), *alg = "ec-p256", *cache = NULL;
    int pss = 0, threads = 1, i;
    double seconds = 2, t0, t1, c0, c1;
    long count = 0, signatures = 0, failures = 0;
    unsigned int first_rc = 0;
    SHARED s;
    WORKER w[MAX_THREADS];
    pthread_t tid[MAX_THREADS];

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
        || !bench_floor_alg_ok(alg, pss))
        usage();

    memset(&s, 0, sizeof(s));
    if ((s.floor = bench_floor_open(tcti, alg, pss, cache)) == NULL)
        return 1;
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
    bench_floor_close(s.floor);

    printf("{\"threads\":%d,\"seconds\":%.3f,\"signatures\":%ld,"
           "\"failures\":%ld,\"rate\":%.1f", threads, t1 - t0, signatures,
           failures, t1 > t0 ? (double)signatures / (t1 - t0) : 0.0);
    if (signatures > 0)
        printf(",\"cpu_us\":%.1f", 1e6 * (c1 - c0) / (double)signatures);
    if (first_rc != 0)
        printf(",\"first_error\":\"TPM2_Sign: 0x%08x\"", first_rc);
    printf("}\n");
    return failures == 0 ? 0 : 1;
}
