/*
 * A program that signs with a TPM key and exits without freeing it, as
 * many do: the provider is torn down by OpenSSL's own exit handler
 * (OPENSSL_cleanup), and must flush what it loaded then, or the key stays
 * in a TPM without a resource manager, taking one of its few slots.
 *
 *   exit_holding_key --return|--exit URI
 *
 * --return returns from main, --exit calls exit() from a function below
 * it.  Either way the key, its public key and the providers are not freed:
 * the program holds them in globals for its whole life, as a server holds
 * its key.  So they are still reachable at exit, and LeakSanitizer (in a
 * TPMKMS_SANITIZE build) reports only what is lost otherwise, such as
 * memory the provider's teardown drops without freeing.  Prints "signed"
 * and exits 0, or prints the error queue, exit 1.
 */
#include <string.h>
#include "tpm_key_util.h"

static const unsigned char msg[] = "left loaded?";

/* Held until exit, never freed.  volatile: the compiler may not drop the
 * stores, which nothing reads back. */
static TK_PROVIDERS held_providers;
static EVP_PKEY *volatile held_key, *volatile held_pub;

static int sign_and_keep(const char *uri, int call_exit)
{
    if (!tk_providers_load(&held_providers, 0)
        || (held_key = tk_load_key(NULL, uri)) == NULL
        || (held_pub = tk_public_key(NULL, held_key)) == NULL
        || !tk_sign_verify(NULL, held_key, held_pub, "SHA256", 0, msg,
                           sizeof(msg), uri))
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
