/*
 * tpmkms cert import, and the certificate helpers the key commands share:
 * where a key's certificate lives, whether a stored certificate is the
 * key's, and removing it.
 *
 * A certificate chain is stored as PEM, leaf first, in certs/<name>.pem of
 * the store that store-location names (else the key's own store).  What is
 * stored is re-encoded from the parsed certificates, so nothing else that
 * sat in the input files (a private key, say) is ever copied into a store.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "cli.h"
#include "pubkey_evp.h"
#include "record.h"

EVP_PKEY *cli_key_public(CLI *cli, const TPMKMS_URI *uri,
                         const TPMKMS_RECORD *rec, const char *label)
{
    TPMKMS_BACKEND *backend = NULL;
    TPMKMS_PUBLIC pub;
    TPMKMS_CTX *ctx;
    EVP_PKEY *pkey = NULL;

    memset(&pub, 0, sizeof(pub));
    /* From the blob alone: no TPM command. */
    if (cli_ctx(cli, &ctx) == TPMKMS_R_OK
            && cli_backend(cli, uri, &backend) == TPMKMS_R_OK
            && tpmkms_backend_public_from_blob(backend, &rec->blob, &pub,
                                               label) == TPMKMS_R_OK)
        pkey = tpmkms_public_to_evp(tpmkms_ctx_libctx(ctx), &pub);
    tpmkms_backend_free(backend);
    return pkey;
}

/* Reads every PEM certificate in bio onto certs; returns how many. */
static int read_pem_certs(BIO *bio, STACK_OF(X509) *certs)
{
    X509 *x;
    int n = 0;

    /* Reading past the last certificate is not an error: mark it away. */
    ERR_set_mark();
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(certs, x)) {
            X509_free(x);
            break;
        }
        n++;
    }
    ERR_pop_to_mark();
    return n;
}

int cli_cert_matches(const char *pem, size_t len, EVP_PKEY *pub)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    STACK_OF(X509) *certs = sk_X509_new_null();
    int r = -1;

    if (bio != NULL && certs != NULL && read_pem_certs(bio, certs) > 0) {
        EVP_PKEY *leaf = X509_get0_pubkey(sk_X509_value(certs, 0));

        r = leaf != NULL && pub != NULL && EVP_PKEY_eq(leaf, pub) == 1;
        ERR_clear_error();   /* EVP_PKEY_eq of unlike types queues one */
    }
    sk_X509_pop_free(certs, X509_free);
    BIO_free(bio);
    return r;
}

/*
 * Appends "[; ]what path[ is still there: why]" to buf, a bounded
 * "; "-separated list.
 */
static void append(char *buf, size_t len, const char *what, const char *path,
                   const char *why)
{
    size_t used = strlen(buf);

    if (used < len)
        snprintf(buf + used, len - used, "%s%s%s%s%s",
                 used > 0 ? "; " : "", what, path,
                 why != NULL ? " is still there: " : "",
                 why != NULL ? why : "");
}

int cli_remove_key_certs(const TPMKMS_URI *uri, const char *name,
                         const char *key_dir, EVP_PKEY *pub,
                         char *removed, size_t removed_len,
                         char *left, size_t left_len)
{
    char *dirs[2] = { NULL, NULL };
    int ndirs = 0, failed = 0;

    if (key_dir != NULL)
        dirs[ndirs++] = OPENSSL_strdup(key_dir);
    if (uri->storage_directory == NULL) {
        /* The other store too: store-location may have put it there. */
        for (int s = TPMKMS_SCOPE_USER; s <= TPMKMS_SCOPE_MACHINE; s++) {
            char *d;

            tpmkms_err_set_mark();
            d = tpmkms_store_dir((tpmkms_scope)s, NULL);
            tpmkms_err_pop_to_mark();
            if (d == NULL)
                continue;
            if (key_dir != NULL && strcmp(d, key_dir) == 0) {
                OPENSSL_free(d);
                continue;
            }
            dirs[ndirs++] = d;
            break;
        }
    }
    for (int k = 0; k < ndirs; k++) {
        const char *dir = dirs[k];
        int own = key_dir != NULL && k == 0;
        char *pem = NULL, path[4096], why[512];
        size_t len = 0;
        int match;
        tpmkms_rc rc;

        if (dir == NULL)
            continue;
        snprintf(path, sizeof(path), "%s/certs/%s.pem", dir, name);
        tpmkms_err_set_mark();
        rc = tpmkms_cert_load(dir, name, &pem, &len);
        if (rc != TPMKMS_R_OK) {
            tpmkms_err_clear_last_mark();
            cli_take_errors(why, sizeof(why));
            if (own) {
                append(left, left_len, "certificate ", path, why);
                failed = 1;
            } else {
                fprintf(stderr, "tpmkms: note: %s not examined: %s\n", path,
                        why);
            }
            continue;
        }
        tpmkms_err_pop_to_mark();
        if (pem == NULL)
            continue;
        match = cli_cert_matches(pem, len, pub);
        OPENSSL_free(pem);
        /* Another key's certificate of the same name is not ours to take. */
        if (match == 0 || (match < 0 && !own)) {
            fprintf(stderr, "tpmkms: note: left %s: %s\n", path,
                    match == 0 ? "its certificate is for another key"
                               : "it holds no certificate this key could "
                                 "be checked against");
            continue;
        }
        tpmkms_err_set_mark();
        rc = tpmkms_cert_remove(dir, name);
        if (rc == TPMKMS_R_OK) {
            tpmkms_err_pop_to_mark();
            append(removed, removed_len, "", path, NULL);
        } else {
            tpmkms_err_clear_last_mark();
            append(left, left_len, "certificate ", path,
                   cli_take_errors(why, sizeof(why)));
            failed = 1;
        }
    }
    for (int k = 0; k < ndirs; k++)
        OPENSSL_free(dirs[k]);
    return failed ? 0 : 1;
}

/* ---- cert import ----------------------------------------------------- */

/* The certificates in a file: PEM (any number), else one DER. */
static tpmkms_rc read_cert_file(const char *file, STACK_OF(X509) *certs)
{
    BIO *bio = BIO_new_file(file, "rb");
    X509 *x;
    int n;

    if (bio == NULL) {
        char why[256];

        cli_take_errors(why, sizeof(why));
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "cannot read %s: %s", file, why);
        return TPMKMS_R_BAD_PARAMETER;
    }
    n = read_pem_certs(bio, certs);
    if (n == 0 && BIO_reset(bio) == 0) {
        ERR_set_mark();
        if ((x = d2i_X509_bio(bio, NULL)) != NULL && sk_X509_push(certs, x))
            n = 1;
        else
            X509_free(x);
        ERR_pop_to_mark();
    }
    BIO_free(bio);
    if (n == 0) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s holds no certificate (PEM or DER)", file);
        return TPMKMS_R_BAD_PARAMETER;
    }
    return TPMKMS_R_OK;
}

/* "CN=www.example.com" of a certificate, for messages. */
static void subject_of(X509 *x, char *buf, size_t len)
{
    BIO *b = BIO_new(BIO_s_mem());
    int n = 0;

    buf[0] = '\0';
    if (b != NULL
            && X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
                                  XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) >= 0)
        n = BIO_read(b, buf, (int)len - 1);
    buf[n > 0 ? n : 0] = '\0';
    BIO_free(b);
}

static int cert_import(CLI *cli, int argc, char **argv)
{
    const char *pos[3];
    int force = 0, npos, r;
    const CLI_OPTION opts[] = {
        { "force", NULL, NULL, &force },
        { NULL, NULL, NULL, NULL }
    };
    TPMKMS_URI *uri = NULL;
    TPMKMS_RECORD *rec = NULL;
    STACK_OF(X509) *certs = NULL;
    EVP_PKEY *pub = NULL;
    BIO *out = NULL;
    char *keydir = NULL, *certdir = NULL, *canonical = NULL, *pem = NULL;
    char subject[256];
    tpmkms_scope where;
    long pem_len;
    tpmkms_rc rc;

    if ((r = cli_parse(cli, argc, argv, opts, pos, 3, &npos)) != CLI_CONTINUE)
        return r;
    if (npos < 2)
        return cli_usage_error(cli, "need the key URI and the certificate "
                               "file (PEM or DER)");
    if ((r = cli_parse_uri(cli, pos[0], &uri)) != CLI_CONTINUE)
        return r;
    if (uri->name == NULL) {
        r = cli_usage_error(cli, "the URI '%s' names no key: it needs name=",
                            pos[0]);
        goto out;
    }

    if ((certs = sk_X509_new_null()) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        r = cli_fail(TPMKMS_R_INTERNAL);
        goto out;
    }
    if ((rc = tpmkms_record_resolve(uri, &rec, &keydir)) != TPMKMS_R_OK
            || (rc = read_cert_file(pos[1], certs)) != TPMKMS_R_OK
            || (npos > 2 && (rc = read_cert_file(pos[2], certs))
                            != TPMKMS_R_OK)) {
        r = cli_fail(rc);
        goto out;
    }
    if ((canonical = tpmkms_locate_canonical_uri(uri, rec->scope)) == NULL
            || (pub = cli_key_public(cli, uri, rec, canonical)) == NULL) {
        r = cli_fail(TPMKMS_R_INTERNAL);
        goto out;
    }
    /* The leaf must certify this key, or TLS fails later and obscurely. */
    subject_of(sk_X509_value(certs, 0), subject, sizeof(subject));
    if (EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(certs, 0)), pub) != 1) {
        ERR_clear_error();
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "the certificate in %s (subject %s) is for another "
                     "public key than %s: refusing it (the first certificate "
                     "must be the key's own, then its chain)", pos[1],
                     subject[0] != '\0' ? subject : "empty", canonical);
        r = cli_fail(TPMKMS_R_BAD_PARAMETER);
        goto out;
    }

    where = uri->store_location != TPMKMS_SCOPE_UNSET ? uri->store_location
                                                      : rec->scope;
    if ((certdir = tpmkms_locate_cert_dir(uri, rec->scope)) == NULL) {
        r = cli_fail(TPMKMS_R_STORE_IO);
        goto out;
    }
    if ((rc = tpmkms_store_check_writable(certdir, where, 1)) != TPMKMS_R_OK) {
        r = cli_fail(rc);
        goto out;
    }
    if ((out = BIO_new(BIO_s_mem())) == NULL) {
        r = cli_fail(TPMKMS_R_INTERNAL);
        goto out;
    }
    for (int k = 0; k < sk_X509_num(certs); k++)
        if (!PEM_write_bio_X509(out, sk_X509_value(certs, k))) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot encode certificate %d",
                         k + 1);
            r = cli_fail(TPMKMS_R_INTERNAL);
            goto out;
        }
    pem_len = BIO_get_mem_data(out, &pem);
    rc = tpmkms_cert_save(certdir, uri->name, pem, (size_t)pem_len, force);
    if (rc != TPMKMS_R_OK) {
        r = cli_fail(rc);
        if (rc == TPMKMS_R_KEY_EXISTS)
            fprintf(stderr, "tpmkms: --force replaces it\n");
        goto out;
    }
    printf("stored %d certificate%s for %s (subject %s) in %s/certs/%s.pem\n",
           sk_X509_num(certs), sk_X509_num(certs) == 1 ? "" : "s", canonical,
           subject, certdir, uri->name);
    r = CLI_EXIT_OK;
 out:
    BIO_free(out);
    EVP_PKEY_free(pub);
    sk_X509_pop_free(certs, X509_free);
    OPENSSL_free(canonical);
    OPENSSL_free(certdir);
    OPENSSL_free(keydir);
    tpmkms_record_free(rec);
    tpmkms_uri_free(uri);
    return r;
}

int cli_cmd_cert(CLI *cli, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(cli, "missing the subcommand (import)");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        char *help[] = { argv[0], argv[1] };
        int npos;

        return cli_parse(cli, 2, help, NULL, NULL, 0, &npos);
    }
    if (strcmp(argv[1], "import") == 0)
        return cert_import(cli, argc - 1, argv + 1);
    return cli_usage_error(cli, "unknown subcommand '%s' (expected import)",
                           argv[1]);
}
