/*
 * Many TPM keys in one process (driven by many_keys.sh).
 *
 *   many_keys [--rounds R] URI...
 *
 * Opens every URI with OSSL_STORE first (all keys held open at once, as a
 * server with many virtual hosts does), then signs with each in turn, R
 * rounds (2 by default), verifying every signature with the key's public
 * half in the default provider.  EC keys sign ECDSA with SHA-256, RSA keys
 * PKCS#1 v1.5 with SHA-256.  Exit 0 when all signatures verified.
 */
#include <stdlib.h>
#include <string.h>
#include "tpm_key_util.h"

int main(int argc, char **argv)
{
    TK_PROVIDERS prov;
    EVP_PKEY **keys, **pubs;
    int rounds = 2, argi = 1, n, i, r, good = 0, bad = 0;

    if (argc > 2 && strcmp(argv[1], "--rounds") == 0) {
        rounds = atoi(argv[2]);
        argi = 3;
    }
    n = argc - argi;
    if (n < 1 || rounds < 1) {
        fprintf(stderr, "usage: many_keys [--rounds R] URI...\n");
        return 2;
    }
    keys = calloc((size_t)n, sizeof(*keys));
    pubs = calloc((size_t)n, sizeof(*pubs));
    if (keys == NULL || pubs == NULL || !tk_providers_load(&prov, 1))
        return 1;
    for (i = 0; i < n; i++) {
        if ((keys[i] = tk_load_key(prov.libctx, argv[argi + i])) == NULL
            || (pubs[i] = tk_public_key(prov.libctx, keys[i])) == NULL)
            return 1;
    }
    printf("many_keys: %d keys open\n", n);
    for (r = 0; r < rounds; r++) {
        for (i = 0; i < n; i++) {
            unsigned char msg[64];
            char who[4200];
            int len = snprintf((char *)msg, sizeof(msg), "round %d key %d",
                               r, i);

            snprintf(who, sizeof(who), "round %d, %s", r, argv[argi + i]);
            if (tk_sign_verify(prov.libctx, keys[i], pubs[i], "SHA256", 0,
                               msg, (size_t)len, who))
                good++;
            else
                bad++;
        }
    }
    printf("many_keys: %d keys x %d rounds: %d signatures verified, %d "
           "failed\n", n, rounds, good, bad);
    for (i = 0; i < n; i++) {
        EVP_PKEY_free(keys[i]);
        EVP_PKEY_free(pubs[i]);
    }
    free(keys);
    free(pubs);
    tk_providers_unload(&prov);
    return bad == 0 && good == n * rounds ? 0 : 1;
}
