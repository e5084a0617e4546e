/*
 * tpmkms cert import, over the library's tpmkms_cert_import
 * (provider/lifecycle.c): this file parses the arguments, reads the
 * certificate files and prints what was done.
 *
 * A certificate chain is stored as PEM, leaf first, in certs/<name>.pem of
 * the store that store-location names (else the key's own store).  What is
 * stored is re-encoded from the parsed certificates, so nothing else that
 * sat in the input files (a private key, say) is ever copied into a store.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include "cli.h"
#include "lifecycle.h"

void cli_print_notes(const char *notes)
{
    const char *p = notes;

    while (p != NULL && *p != '\0') {
        const char *nl = strchr(p, '\n');
        int len = nl != NULL ? (int)(nl - p) : (int)strlen(p);

        fprintf(stderr, "tpmkms: note: %.*s\n", len, p);
        p = nl != NULL ? nl + 1 : NULL;
    }
}

int cli_cert_import(CLI *cli, int argc, char **argv)
{
    const char *pos[3];
    int force = 0, npos, r;
    const CLI_OPTION opts[] = {
        { "force", NULL, NULL, &force },
        { NULL, NULL, NULL, NULL }
    };
    TPMKMS_IMPORT_RESULT res;
    TPMKMS_URI *uri = NULL;
    TPMKMS_CTX *ctx;
    STACK_OF(X509) *certs = NULL;
    tpmkms_rc rc;

    memset(&res, 0, sizeof(res));
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
    if ((rc = tpmkms_certs_read_file(pos[1], certs)) != TPMKMS_R_OK
            || (npos > 2 && (rc = tpmkms_certs_read_file(pos[2], certs))
                            != TPMKMS_R_OK)
            || (rc = cli_ctx(cli, &ctx)) != TPMKMS_R_OK
            || (rc = tpmkms_cert_import(ctx, uri, certs, pos[1], force, &res))
               != TPMKMS_R_OK) {
        r = cli_fail(rc);
        if (rc == TPMKMS_R_KEY_EXISTS)
            fprintf(stderr, "tpmkms: --force replaces it\n");
        goto out;
    }
    printf("stored %d certificate%s for %s (subject %s) in %s/certs/%s.pem\n",
           res.count, res.count == 1 ? "" : "s", res.uri, res.subject,
           res.cert_dir, uri->name);
    r = CLI_EXIT_OK;
 out:
    tpmkms_import_result_clear(&res);
    sk_X509_pop_free(certs, X509_free);
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
        return cli_cert_import(cli, argc - 1, argv + 1);
    return cli_usage_error(cli, "unknown subcommand '%s' (expected import)",
                           argv[1]);
}
