/*
 * tpmkms create | list | show | delete: the key store as a person sees it.
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
#include "key.h"
#include "pubkey_evp.h"
#include "record.h"

#define ALG_CHOICES "ec-p256, ec-p384, rsa-2048 or rsa-3072"

/* The URI argument every key command but list takes, parsed. */
static int key_uri_arg(const CLI *cli, int npos, const char **pos,
                       TPMKMS_URI **uri)
{
    int r;

    if (npos < 1)
        return cli_usage_error(cli, "missing the key URI "
                               "(e.g. tpmkms:name=web)");
    if ((r = cli_parse_uri(cli, pos[0], uri)) != CLI_CONTINUE)
        return r;
    if ((*uri)->name == NULL) {
        tpmkms_uri_free(*uri);
        *uri = NULL;
        return cli_usage_error(cli, "the URI '%s' names no key: it needs "
                               "name=", pos[0]);
    }
    return CLI_CONTINUE;
}

/* ---- create ---------------------------------------------------------- */

int cli_cmd_create(CLI *cli, int argc, char **argv)
{
    const char *alg_name = NULL, *pos[1];
    int force = 0, npos, r, existed = 0;
    const CLI_OPTION opts[] = {
        { "alg", "ALG", &alg_name, NULL },
        { "force", NULL, NULL, &force },
        { NULL, NULL, NULL, NULL }
    };
    tpmkms_alg alg = TPMKMS_ALG_EC_P256;
    tpmkms_scope scope;
    TPMKMS_URI *uri = NULL;
    TPMKMS_CTX *ctx;
    char *canonical = NULL, *dir = NULL;
    tpmkms_rc rc;

    if ((r = cli_parse(cli, argc, argv, opts, pos, 1, &npos)) != CLI_CONTINUE)
        return r;
    if (alg_name != NULL) {
        alg = tpmkms_alg_from_name(alg_name);
        if (alg == TPMKMS_ALG_NONE)
            return cli_usage_error(cli, "unknown --alg '%s': expected "
                                   ALG_CHOICES, alg_name);
    }
    if ((r = key_uri_arg(cli, npos, pos, &uri)) != CLI_CONTINUE)
        return r;
    scope = tpmkms_uri_key_scope(uri);

    /* Only to say so afterwards: the core decides whether it may replace. */
    if (force) {
        tpmkms_err_set_mark();
        dir = tpmkms_store_dir(scope, uri->storage_directory);
        existed = dir != NULL && tpmkms_record_exists(dir, uri->name);
        tpmkms_err_pop_to_mark();
    }
    if ((rc = cli_ctx(cli, &ctx)) != TPMKMS_R_OK
        || (rc = tpmkms_key_create(ctx, uri, alg, force, NULL)) != TPMKMS_R_OK
        || (canonical = cli_canonical_uri(uri, scope)) == NULL) {
        r = cli_fail(rc != TPMKMS_R_OK ? rc : TPMKMS_R_INTERNAL);
        goto out;
    }
    if (existed)
        fprintf(stderr, "tpmkms: replaced the existing key %s\n", canonical);
    printf("%s\n", canonical);
    r = CLI_EXIT_OK;
 out:
    OPENSSL_free(canonical);
    OPENSSL_free(dir);
    tpmkms_uri_free(uri);
    return r;
}

/* ---- list ------------------------------------------------------------ */

typedef struct list_row_st {
    char *uri;
    const char *alg;
    char *created;
} LIST_ROW;

typedef struct list_state_st {
    LIST_ROW *rows;
    size_t n, cap;
    tpmkms_scope only;        /* UNSET: every record */
    char *storage_directory;  /* printed in the URIs when given */
    int failed;
} LIST_STATE;

static int list_add(const TPMKMS_RECORD *rec, void *arg)
{
    LIST_STATE *st = arg;
    TPMKMS_URI u = { 0 };
    LIST_ROW *row;

    if (st->only != TPMKMS_SCOPE_UNSET && rec->scope != st->only)
        return 0;
    if (st->n == st->cap) {
        size_t cap = st->cap == 0 ? 16 : st->cap * 2;
        LIST_ROW *rows = OPENSSL_realloc(st->rows, cap * sizeof(*rows));

        if (rows == NULL)
            goto out_nomem;
        st->rows = rows;
        st->cap = cap;
    }
    u.name = rec->name;
    u.key_scope = rec->scope;
    u.storage_directory = st->storage_directory;
    row = &st->rows[st->n];
    row->uri = tpmkms_uri_to_string(&u);
    row->alg = tpmkms_alg_name(rec->alg);
    row->created = OPENSSL_strdup(rec->created != NULL ? rec->created : "-");
    if (row->uri == NULL || row->created == NULL) {
        OPENSSL_free(row->uri);
        OPENSSL_free(row->created);
        goto out_nomem;
    }
    st->n++;
    return 0;
 out_nomem:
    TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory listing %s", rec->name);
    st->failed = 1;
    return 1;
}

int cli_cmd_list(CLI *cli, int argc, char **argv)
{
    const char *scope_name = NULL, *storage_dir = NULL;
    const CLI_OPTION opts[] = {
        { "scope", "SCOPE", &scope_name, NULL },
        { "storage-directory", "DIR", &storage_dir, NULL },
        { NULL, NULL, NULL, NULL }
    };
    LIST_STATE st = { 0 };
    tpmkms_scope scopes[2];
    size_t nscopes = 0, width = 0;
    int npos, r = CLI_EXIT_OK;
    tpmkms_rc rc;

    if ((r = cli_parse(cli, argc, argv, opts, NULL, 0, &npos)) != CLI_CONTINUE)
        return r;
    if (scope_name != NULL && !tpmkms_scope_from_string(scope_name, &st.only))
        return cli_usage_error(cli, "unknown --scope '%s': expected user or "
                               "machine", scope_name);
    if (storage_dir != NULL && storage_dir[0] != '/')
        return cli_usage_error(cli, "--storage-directory '%s' is not an "
                               "absolute path", storage_dir);

    if (storage_dir != NULL) {
        /* One directory: the records say their own scope. */
        scopes[nscopes++] = st.only != TPMKMS_SCOPE_UNSET
                            ? st.only : TPMKMS_SCOPE_USER;
        st.storage_directory = OPENSSL_strdup(storage_dir);
        if (st.storage_directory == NULL) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
            return cli_fail(TPMKMS_R_INTERNAL);
        }
    } else if (st.only != TPMKMS_SCOPE_UNSET) {
        scopes[nscopes++] = st.only;
    } else {
        scopes[nscopes++] = TPMKMS_SCOPE_USER;
        scopes[nscopes++] = TPMKMS_SCOPE_MACHINE;
    }

    for (size_t k = 0; k < nscopes; k++) {
        char *dir = tpmkms_store_dir(scopes[k], storage_dir);
        char why[512];

        if (dir == NULL) {
            if (ERR_peek_error() == 0)
                TPMKMS_raise(TPMKMS_R_STORE_IO, "cannot tell where the %s "
                             "key store is", tpmkms_scope_name(scopes[k]));
            r = cli_fail(TPMKMS_R_STORE_IO);
            goto out;
        }
        rc = tpmkms_record_list(dir, list_add, &st);
        if (st.failed) {
            OPENSSL_free(dir);
            r = cli_fail(TPMKMS_R_INTERNAL);
            goto out;
        }
        if (rc != TPMKMS_R_OK) {
            /* Unasked-for machine store: a note, the user's keys still list. */
            if (scopes[k] == TPMKMS_SCOPE_MACHINE && scope_name == NULL
                && storage_dir == NULL) {
                fprintf(stderr, "tpmkms: note: machine key store %s not "
                        "listed: %s\n", dir, cli_take_errors(why, sizeof(why)));
            } else {
                OPENSSL_free(dir);
                r = cli_fail(rc);
                goto out;
            }
        }
        OPENSSL_free(dir);
    }

    for (size_t k = 0; k < st.n; k++)
        if (strlen(st.rows[k].uri) > width)
            width = strlen(st.rows[k].uri);
    for (size_t k = 0; k < st.n; k++)
        printf("%-*s  %-8s  %s\n", (int)width, st.rows[k].uri,
               st.rows[k].alg, st.rows[k].created);
    r = CLI_EXIT_OK;
 out:
    for (size_t k = 0; k < st.n; k++) {
        OPENSSL_free(st.rows[k].uri);
        OPENSSL_free(st.rows[k].created);
    }
    OPENSSL_free(st.rows);
    OPENSSL_free(st.storage_directory);
    return r;
}

/* ---- show ------------------------------------------------------------ */

/* "subject ..., expires ..." of the first certificate in pem. */
static void describe_cert(const char *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO *out = BIO_new_fp(stdout, BIO_NOCLOSE);

    if (x != NULL && out != NULL) {
        BIO_printf(out, "  subject:           ");
        X509_NAME_print_ex(out, X509_get_subject_name(x), 0,
                           XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
        BIO_printf(out, "\n  not after:         ");
        ASN1_TIME_print(out, X509_get0_notAfter(x));
        BIO_printf(out, "\n");
    } else {
        /* Shown as stored; what it holds is for the certificate commands. */
        ERR_clear_error();
        printf("  (not a PEM certificate)\n");
    }
    BIO_free(out);
    X509_free(x);
    BIO_free(bio);
}

static tpmkms_rc print_public_pem(OSSL_LIB_CTX *libctx,
                                  const TPMKMS_PUBLIC *pub)
{
    EVP_PKEY *pkey = tpmkms_public_to_evp(libctx, pub);
    BIO *out;
    int ok;

    if (pkey == NULL)
        return TPMKMS_R_INTERNAL;
    out = BIO_new_fp(stdout, BIO_NOCLOSE);
    ok = out != NULL && PEM_write_bio_PUBKEY(out, pkey);
    BIO_free(out);
    EVP_PKEY_free(pkey);
    if (!ok) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot encode the public key");
        return TPMKMS_R_INTERNAL;
    }
    return TPMKMS_R_OK;
}

int cli_cmd_show(CLI *cli, int argc, char **argv)
{
    const char *pos[1];
    int npos, r;
    TPMKMS_URI *uri = NULL;
    TPMKMS_RECORD *rec = NULL;
    TPMKMS_BACKEND *backend = NULL;
    TPMKMS_CTX *ctx;
    TPMKMS_PUBLIC pub;
    char *dir = NULL, *canonical = NULL, *pem = NULL;
    size_t pem_len = 0;
    tpmkms_rc rc;

    if ((r = cli_parse(cli, argc, argv, NULL, pos, 1, &npos)) != CLI_CONTINUE)
        return r;
    if ((r = key_uri_arg(cli, npos, pos, &uri)) != CLI_CONTINUE)
        return r;

    memset(&pub, 0, sizeof(pub));
    if ((rc = tpmkms_record_resolve(uri, &rec, &dir)) != TPMKMS_R_OK
        || (rc = cli_ctx(cli, &ctx)) != TPMKMS_R_OK
        || (rc = cli_backend(cli, uri, &backend)) != TPMKMS_R_OK
        || (rc = tpmkms_backend_public_from_blob(backend, &rec->blob, &pub,
                                                 rec->name)) != TPMKMS_R_OK
        || (rc = tpmkms_cert_load(dir, rec->name, &pem, &pem_len))
           != TPMKMS_R_OK) {
        r = cli_fail(rc);
        goto out;
    }
    if ((canonical = cli_canonical_uri(uri, rec->scope)) == NULL) {
        r = cli_fail(TPMKMS_R_INTERNAL);
        goto out;
    }

    printf("uri:                 %s\n", canonical);
    printf("name:                %s\n", rec->name);
    printf("key-scope:           %s\n", tpmkms_scope_name(rec->scope));
    printf("algorithm:           %s\n", tpmkms_alg_name(rec->alg));
    printf("created:             %s\n", rec->created != NULL ? rec->created
                                                             : "unknown");
    if (rec->persistent != 0)
        printf("persistent handle:   0x%08x\n", (unsigned)rec->persistent);
    else
        printf("persistent handle:   none (loaded from its blob under "
               "the SRK)\n");
    printf("store directory:     %s\n", dir);
    printf("record:              %s/keys/%s.tpmkey\n", dir, rec->name);
    if (pem != NULL) {
        printf("certificate:         %s/certs/%s.pem\n", dir, rec->name);
        describe_cert(pem, pem_len);
    } else {
        printf("certificate:         none\n");
    }
    printf("public key:\n");
    fflush(stdout);
    if ((rc = print_public_pem(tpmkms_ctx_libctx(ctx), &pub)) != TPMKMS_R_OK) {
        r = cli_fail(rc);
        goto out;
    }
    r = CLI_EXIT_OK;
 out:
    OPENSSL_free(pem);
    OPENSSL_free(canonical);
    OPENSSL_free(dir);
    tpmkms_record_free(rec);
    tpmkms_backend_free(backend);
    tpmkms_uri_free(uri);
    return r;
}

/* ---- delete ---------------------------------------------------------- */

int cli_cmd_delete(CLI *cli, int argc, char **argv)
{
    const char *pos[1];
    int npos, r;
    TPMKMS_URI *uri = NULL;
    TPMKMS_RECORD *rec = NULL;
    TPMKMS_BACKEND *backend = NULL;
    char *dir = NULL, *canonical = NULL, why[1024];
    tpmkms_rc rc;

    if ((r = cli_parse(cli, argc, argv, NULL, pos, 1, &npos)) != CLI_CONTINUE)
        return r;
    if ((r = key_uri_arg(cli, npos, pos, &uri)) != CLI_CONTINUE)
        return r;

    if ((rc = tpmkms_record_resolve(uri, &rec, &dir)) != TPMKMS_R_OK) {
        r = cli_fail(rc);
        goto out;
    }
    if ((canonical = cli_canonical_uri(uri, rec->scope)) == NULL) {
        r = cli_fail(TPMKMS_R_INTERNAL);
        goto out;
    }
    /*
     * The record first: a key whose TPM is gone can still be forgotten.
     * The certificate is worthless without its key; a missing one is fine.
     */
    if ((rc = tpmkms_record_remove(dir, rec->name)) != TPMKMS_R_OK) {
        r = cli_fail(rc);
        goto out;
    }
    tpmkms_err_set_mark();
    rc = tpmkms_cert_remove(dir, rec->name);
    if (rc == TPMKMS_R_OK || rc == TPMKMS_R_KEY_NOT_FOUND) {
        tpmkms_err_pop_to_mark();
    } else {
        tpmkms_err_clear_last_mark();
        fprintf(stderr, "tpmkms: warning: certificate %s/certs/%s.pem not "
                "removed: %s\n", dir, rec->name,
                cli_take_errors(why, sizeof(why)));
    }

    if (rec->persistent != 0) {
        if ((rc = cli_backend(cli, uri, &backend)) == TPMKMS_R_OK)
            rc = tpmkms_backend_evict(backend, rec->persistent, canonical);
        if (rc == TPMKMS_R_KEY_NOT_FOUND) {
            /* Nothing is left behind, so the delete is complete. */
            fprintf(stderr, "tpmkms: note: persistent handle 0x%08x was not "
                    "in the TPM (%s): %s\n", (unsigned)rec->persistent,
                    tpmkms_backend_tcti(backend) != NULL
                    ? tpmkms_backend_tcti(backend) : "default TCTI",
                    cli_take_errors(why, sizeof(why)));
        } else if (rc != TPMKMS_R_OK) {
            cli_take_errors(why, sizeof(why));
            TPMKMS_raise(TPMKMS_R_PARTIAL_DELETE, "record removed, persistent "
                         "handle 0x%08x is still in the TPM: %s",
                         (unsigned)rec->persistent, why);
            r = cli_fail(TPMKMS_R_PARTIAL_DELETE);
            goto out;
        } else {
            printf("evicted persistent handle 0x%08x\n",
                   (unsigned)rec->persistent);
        }
    }
    printf("deleted %s\n", canonical);
    r = CLI_EXIT_OK;
 out:
    OPENSSL_free(canonical);
    OPENSSL_free(dir);
    tpmkms_record_free(rec);
    tpmkms_backend_free(backend);
    tpmkms_uri_free(uri);
    return r;
}
