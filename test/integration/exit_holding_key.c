/*
 * A program that signs with a TPM key and exits without freeing it, as
 * many do: the provider is torn down by OpenSSL's own exit handler
 * (OPENSSL_cleanup), and must flush what it loaded then, or the key stays
 * in a TPM without a resource manager, taking one of its few slots.
 *
 *   exit_holding_key --return|--exit URI
 *
 * --return returns from main, --exit calls exit() from a function below
 * it.  Either way the key, its store context and the providers are not
 * freed.  Prints "signed" and exits 0, or prints the error queue, exit 1.
 */
#include <string.h>
#include "tpm_key_util.h"

static const unsigned char msg[] = "left loaded?";

static int sign_and_keep(const char *uri, int call_exit)
{
    TK_PROVIDERS p;
    EVP_PKEY *key, *pub;

    if (!tk_providers_load(&p, 0)
        || (key = tk_load_key(NULL, uri)) == NULL
        || (pub = tk_public_key(NULL, key)) == NULL
        || !tk_sign_verify(NULL, key, pub, "SHA256", 0, msg, sizeof(msg),
                           uri))
        return 0;
    printf("signed\n");
    fflush(stdout);
    if (call_exit)
        exit(0);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "--return") != 0
                      && strcmp(argv[1], "--exit") != 0)) {
        fprintf(stderr, "usage: exit_holding_key --return|--exit URI\n");
        return 2;
    }
    return sign_and_keep(argv[2], strcmp(argv[1], "--exit") == 0) ? 0 : 1;
}
