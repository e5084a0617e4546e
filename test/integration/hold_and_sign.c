/*
 * A long-running process that keeps a TPM key loaded, as a server does
 * (driven by no_setup_two_processes.sh).
 *
 *   hold_and_sign --signs N --go FILE URI
 *
 * Opens URI with OSSL_STORE (providers tpmkms and default, in a library
 * context of its own) and signs once, so that it holds its TPM connection
 * and its loaded key, then prints "holding" and waits until FILE exists
 * (so that a script can start several such processes and make them sign
 * at the same time, each already holding its key).  It then makes N more
 * signatures, each verified with the public key in the default provider,
 * and prints "N+1 verified, F failed; slowest signature M ms".  Exit 0
 * when every signature verified.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "tpm_key_util.h"

static long ms_since(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - t0->tv_sec) * 1000
        + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* One timed, verified signature; *slowest keeps the longest. */
static int sign_once(OSSL_LIB_CTX *libctx, EVP_PKEY *key, EVP_PKEY *pub,
                     int i, long *slowest)
{
    unsigned char msg[96];
    struct timespec t0;
    int len, ok;
    long ms;

    len = snprintf((char *)msg, sizeof(msg), "pid %ld message %d",
                   (long)getpid(), i);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ok = tk_sign_verify(libctx, key, pub, "SHA256", 0, msg, (size_t)len,
                        "hold_and_sign");
    ms = ms_since(&t0);
    if (ms > *slowest)
        *slowest = ms;
    return ok;
}

int main(int argc, char **argv)
{
    TK_PROVIDERS prov;
    EVP_PKEY *key, *pub;
    const char *go = NULL, *uri;
    int signs = -1, argi, i, good = 0;
    long slowest = 0;

    for (argi = 1; argi + 1 < argc && strncmp(argv[argi], "--", 2) == 0;
         argi += 2) {
        if (strcmp(argv[argi], "--signs") == 0)
            signs = atoi(argv[argi + 1]);
        else if (strcmp(argv[argi], "--go") == 0)
            go = argv[argi + 1];
        else
            break;
    }
    if (argi != argc - 1 || signs < 0 || go == NULL) {
        fprintf(stderr, "usage: hold_and_sign --signs N --go FILE URI\n");
        return 2;
    }
    uri = argv[argi];
    if (!tk_providers_load(&prov, 1)
        || (key = tk_load_key(prov.libctx, uri)) == NULL
        || (pub = tk_public_key(prov.libctx, key)) == NULL)
        return 1;
    if (!sign_once(prov.libctx, key, pub, 0, &slowest)) {
        printf("0 verified, 1 failed; first signature %ld ms\n", slowest);
        return 1;
    }
    good = 1;
    printf("holding\n");
    fflush(stdout);
    while (access(go, F_OK) != 0)
        usleep(10000);
    for (i = 1; i <= signs; i++)
        good += sign_once(prov.libctx, key, pub, i, &slowest);
    printf("%d verified, %d failed; slowest signature %ld ms\n", good,
           signs + 1 - good, slowest);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(key);
    tk_providers_unload(&prov);
    return good == signs + 1 ? 0 : 1;
}
