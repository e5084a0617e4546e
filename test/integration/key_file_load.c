/*
 * Loads a key file the way servers do, so the scripts can see what a
 * server would log: nginx, openvpn and curl read their key with
 * PEM_read_bio_PrivateKey (OpenSSL's error queue then holds the
 * provider's own lines, which `openssl pkey -in FILE` does not print).
 *
 *   key_file_load [--pass PASS] [--der] FILE
 *
 * OPENSSL_CONF decides which providers are active.  Prints "loaded EC" or
 * "loaded RSA" and the public key (PEM) and exits 0, or prints the error
 * queue and exits 1.  Without --pass the passphrase callback answers
 * nothing, as a server without a password file does.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
    const char *pass = u;
    size_t len;

    (void)rwflag;
    if (pass == NULL)
        return -1;
    len = strlen(pass);
    if (len > (size_t)size)
        return -1;
    memcpy(buf, pass, len);
    return (int)len;
}

int main(int argc, char **argv)
{
    const char *pass = NULL, *file = NULL;
    int der = 0, i;
    BIO *in = NULL, *out = NULL;
    EVP_PKEY *pkey = NULL;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--pass") == 0 && i + 1 < argc)
            pass = argv[++i];
        else if (strcmp(argv[i], "--der") == 0)
            der = 1;
        else if (file == NULL)
            file = argv[i];
        else
            file = NULL, i = argc;
    }
    if (file == NULL) {
        fprintf(stderr, "usage: key_file_load [--pass PASS] [--der] FILE\n");
        return 2;
    }
    if ((in = BIO_new_file(file, "rb")) == NULL) {
        ERR_print_errors_fp(stdout);
        return 1;
    }
    if (der)
        pkey = d2i_PrivateKey_bio(in, NULL);
    else
        pkey = PEM_read_bio_PrivateKey(in, NULL, pass_cb, (void *)pass);
    BIO_free(in);
    if (pkey == NULL) {
        printf("cannot load %s\n", file);
        ERR_print_errors_fp(stdout);
        return 1;
    }
    printf("loaded %s\n", EVP_PKEY_get0_type_name(pkey));
    out = BIO_new_fp(stdout, BIO_NOCLOSE);
    if (out == NULL || !PEM_write_bio_PUBKEY(out, pkey)) {
        ERR_print_errors_fp(stdout);
        BIO_free(out);
        EVP_PKEY_free(pkey);
        return 1;
    }
    BIO_free(out);
    EVP_PKEY_free(pkey);
    return 0;
}
