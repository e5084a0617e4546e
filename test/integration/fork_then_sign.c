/*
 * A server's fork pattern with a TPM key (driven by fork_then_sign.sh).
 *
 *   fork_then_sign [--default-libctx] [--fork-first] [--children N]
 *                  [--signs M] [--md NAME] [--pss] [--pcap-dir DIR] URI
 *
 * The parent opens URI with OSSL_STORE (providers tpmkms and default, in a
 * library context of its own unless --default-libctx) and, unless
 * --fork-first, signs once, so that it holds a TPM connection and a loaded
 * key when it forks.  It then forks N children that all run at once: each
 * child, and the parent meanwhile, makes M signatures with the same
 * EVP_PKEY, and verifies each with the public key in the default provider.
 * The parent waits for its children and signs once more on its own
 * connection.  --fork-first forks before the parent's first signature
 * (nginx's master loads keys, its workers sign).
 *
 * --pcap-dir DIR: each child sets TCTI_PCAP_FILE=DIR/child-<i>.pcap before
 * its first signature, so a child that opens its own connection (through
 * a pcap: TCTI) records its commands there; a child that sent over the
 * parent's connection would record them in the parent's file instead.
 *
 * Exit 0 when every signature in every process verified.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tpm_key_util.h"

#define MAX_CHILDREN 64

static int sign_n(OSSL_LIB_CTX *libctx, EVP_PKEY *key, EVP_PKEY *pub,
                  const char *md, int pss, int n, const char *who)
{
    unsigned char msg[128];
    int i, good = 0;

    for (i = 0; i < n; i++) {
        int len = snprintf((char *)msg, sizeof(msg), "%s pid %ld message %d",
                           who, (long)getpid(), i);

        good += tk_sign_verify(libctx, key, pub, md, pss, msg, (size_t)len,
                               who);
    }
    return good;
}

static void usage(void)
{
    fprintf(stderr, "usage: fork_then_sign [--default-libctx] [--fork-first] "
            "[--children N] [--signs M] [--md NAME] [--pss] "
            "[--pcap-dir DIR] URI\n");
    exit(2);
}

int main(int argc, char **argv)
{
    TK_PROVIDERS prov;
    EVP_PKEY *key = NULL, *pub = NULL;
    const char *md = "SHA256", *pcap_dir = NULL, *uri;
    int own_libctx = 1, fork_first = 0, children = 4, signs = 5, pss = 0;
    int i, good, failed = 0, argi, ret = 1;
    pid_t pids[MAX_CHILDREN];
    char who[64];

    for (argi = 1; argi < argc && strncmp(argv[argi], "--", 2) == 0; argi++) {
        const char *o = argv[argi];

        if (strcmp(o, "--default-libctx") == 0)
            own_libctx = 0;
        else if (strcmp(o, "--fork-first") == 0)
            fork_first = 1;
        else if (strcmp(o, "--pss") == 0)
            pss = 1;
        else if (strcmp(o, "--children") == 0 && argi + 1 < argc)
            children = atoi(argv[++argi]);
        else if (strcmp(o, "--signs") == 0 && argi + 1 < argc)
            signs = atoi(argv[++argi]);
        else if (strcmp(o, "--md") == 0 && argi + 1 < argc)
            md = argv[++argi];
        else if (strcmp(o, "--pcap-dir") == 0 && argi + 1 < argc)
            pcap_dir = argv[++argi];
        else
            usage();
    }
    if (argi + 1 != argc || children < 1 || children > MAX_CHILDREN
        || signs < 1)
        usage();
    uri = argv[argi];

    if (!tk_providers_load(&prov, own_libctx)
        || (key = tk_load_key(prov.libctx, uri)) == NULL
        || (pub = tk_public_key(prov.libctx, key)) == NULL)
        goto out;

    if (!fork_first) {
        if (sign_n(prov.libctx, key, pub, md, pss, 1, "parent") != 1)
            goto out;
        printf("parent %ld: signed before forking\n", (long)getpid());
    }

    fflush(NULL);
    for (i = 0; i < children; i++) {
        pids[i] = fork();
        if (pids[i] < 0) {
            fprintf(stderr, "fork: %s\n", strerror(errno));
            children = i;           /* wait for those already started */
            failed++;
            break;
        }
        if (pids[i] == 0) {
            if (pcap_dir != NULL) {
                char path[4096];

                snprintf(path, sizeof(path), "%s/child-%d.pcap", pcap_dir, i);
                setenv("TCTI_PCAP_FILE", path, 1);
            }
            snprintf(who, sizeof(who), "child %d", i);
            good = sign_n(prov.libctx, key, pub, md, pss, signs, who);
            printf("%s (pid %ld): %d of %d signatures verified\n", who,
                   (long)getpid(), good, signs);
            /* A normal exit: the child flushes what it loaded. */
            EVP_PKEY_free(key);
            EVP_PKEY_free(pub);
            tk_providers_unload(&prov);
            fflush(NULL);
            exit(good == signs ? 0 : 1);
        }
    }

    if (failed == 0) {
        good = sign_n(prov.libctx, key, pub, md, pss, signs, "parent");
        printf("parent %ld: %d of %d signatures verified while its "
               "children signed\n", (long)getpid(), good, signs);
        failed += good != signs;
    }

    for (i = 0; i < children; i++) {
        int status = 0;

        if (waitpid(pids[i], &status, 0) != pids[i]) {
            fprintf(stderr, "waitpid: %s\n", strerror(errno));
            failed++;
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "child %d (pid %ld) failed (%s %d)\n", i,
                    (long)pids[i], WIFEXITED(status) ? "exit" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status)
                                      : WTERMSIG(status));
            failed++;
        }
    }

    good = sign_n(prov.libctx, key, pub, md, pss, 1, "parent");
    printf("parent %ld: %s after its children exited\n", (long)getpid(),
           good == 1 ? "signed and verified" : "could NOT sign");
    failed += good != 1;

    if (failed != 0) {
        fprintf(stderr, "fork_then_sign: %d failure(s)\n", failed);
        goto out;
    }
    printf("fork_then_sign: all signatures verified (%d children x %d, "
           "parent %d)\n", children, signs, signs + (fork_first ? 1 : 2));
    ret = 0;
 out:
    EVP_PKEY_free(key);
    EVP_PKEY_free(pub);
    tk_providers_unload(&prov);
    return ret;
}
