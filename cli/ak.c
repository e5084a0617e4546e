/*
 * tpmkms ak create | list | show | delete: attestation keys (AKs); and
 * the device's side of AK enrollment (docs/attestation.md): ak
 * enroll-request, ak activate, ak cert-import.
 *
 * An AK is a restricted signing key: the TPM signs with it only what it
 * made itself (certifications of other keys, quotes), so a verifier can
 * trust that what an AK signed came from this TPM.  It is stored, scoped
 * and deleted exactly as keys are, by the same code (keys.c's *_kind
 * functions over the library's tpmkms_key_create_ex and
 * tpmkms_key_delete_kind), with kind: ak in its record.  The key
 * commands and the ak commands keep to their own kind: neither creates
 * over, shows or deletes the other's.
 *
 * Enrollment: enroll-request writes what attest-ca challenge reads (the
 * writer is provider/attest/enroll.c's, beside its parser); activate runs
 * TPM2_ActivateCredential through the seam's activate method with the
 * challenge attest-ca challenge wrote (tpm2-tools' credential file) and
 * writes the secret as attest-ca issue --response reads it; cert-import
 * stores the AK certificate as tpmkms cert import does for keys.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include "attest/credential.h"
#include "attest/ek.h"
#include "attest/enroll.h"
#include "cli.h"
#include "key.h"
#include "lifecycle.h"
#include "platform/platform.h"
#include "record.h"

/* The request's EKs: the low-range templates, whose policy (PolicyA)
 * ak activate satisfies. */
static const struct {
    const char *opt, *tmpl;
} ek_choices[] = {
    { "rsa", "L-1" },
    { "ecc", "L-2" },
};

/* Opens an AK by its URI: a key of kind ak with key material. */
static int open_ak(CLI *cli, const char *text, TPMKMS_URI **uri,
                   TPMKMS_KEY **key)
{
    TPMKMS_CTX *ctx;
    tpmkms_rc rc;
    int r;

    *key = NULL;
    if ((r = cli_parse_uri(cli, text, uri)) != CLI_CONTINUE)
        return r;
    if ((*uri)->name == NULL)
        return cli_usage_error(cli, "the URI '%s' names no AK: it needs "
                               "name=", text);
    if ((rc = cli_ctx(cli, &ctx)) != TPMKMS_R_OK
        || (rc = tpmkms_key_open(ctx, *uri, key)) != TPMKMS_R_OK)
        return cli_fail(rc);
    if ((*key)->kind != TPMKMS_KIND_AK) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s is a key, not an "
                     "attestation key: the ak commands take AKs (tpmkms ak "
                     "create)", (*key)->uri);
        return cli_fail(TPMKMS_R_BAD_PARAMETER);
    }
    if ((*key)->ref.key.format != TPMKMS_KEYFMT_TSS2_DER) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s: its record holds no key "
                     "material this backend reads", (*key)->uri);
        return cli_fail(TPMKMS_R_BAD_PARAMETER);
    }
    return CLI_CONTINUE;
}

/* The AK's public area and Name, from its record's key material. */
static tpmkms_rc ak_public(OSSL_LIB_CTX *libctx, const TPMKMS_KEY *key,
                           TPMKMS_ENROLL_REQUEST *req)
{
    TPMKMS_KEYBLOB blob;
    tpmkms_rc rc;

    memset(&blob, 0, sizeof(blob));
    if ((rc = tpmkms_keydata_to_blob(&key->ref.key, &blob, key->uri))
        == TPMKMS_R_OK
        && (rc = tpmkms_tpm2b_public_parse(blob.pub, blob.pub_len,
                                           "AK public area", &req->ak))
           == TPMKMS_R_OK)
        rc = tpmkms_tpm_name(libctx, &req->ak, "AK public area",
                             req->ak_name, &req->ak_name_len);
    tpmkms_keyblob_clear(&blob);
    return rc;
}

/*
 * The EK of template tmpl from the backend's list ("" : L-1 if there,
 * else L-2), its public area and its certificate (trimmed, checked
 * against the recomputed key by tpmkms_ek_examine).
 */
static tpmkms_rc pick_ek(OSSL_LIB_CTX *libctx, const TPMKMS_EK_LIST *list,
                         const char *tmpl, TPMKMS_ENROLL_REQUEST *req,
                         const char **chosen)
{
    const TPMKMS_EK *ek = NULL;
    TPMKMS_EK_INFO info;
    size_t i, k;
    tpmkms_rc rc;

    for (k = 0; k < sizeof(ek_choices) / sizeof(ek_choices[0]) && ek == NULL;
         k++) {
        if (tmpl[0] != '\0' && strcmp(tmpl, ek_choices[k].tmpl) != 0)
            continue;
        for (i = 0; i < list->n && ek == NULL; i++)
            if (strcmp(list->ek[i].tmpl, ek_choices[k].tmpl) == 0
                && list->ek[i].recomputed
                && list->ek[i].public_area.len > 0)
                ek = &list->ek[i];
    }
    if (ek == NULL) {
        TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND, "this TPM has no %s EK "
                     "(tpmkms ek lists its EKs; enrollment takes the "
                     "low-range EKs L-1 and L-2, whose policy tpmkms ak "
                     "activate satisfies)",
                     tmpl[0] == '\0' ? "L-1 or L-2"
                     : strcmp(tmpl, "L-1") == 0 ? "RSA 2048 (L-1)"
                     : "ECC P-256 (L-2)");
        return TPMKMS_R_KEY_NOT_FOUND;
    }
    *chosen = ek->tmpl;
    if ((rc = tpmkms_tpm2b_public_parse(ek->public_area.data,
                                        ek->public_area.len,
                                        "EK public area", &req->ek))
        != TPMKMS_R_OK)
        return rc;
    rc = tpmkms_ek_examine(libctx, ek, &info);
    if (rc == TPMKMS_R_OK && info.cert != NULL) {
        req->ek_cert = info.cert;
        info.cert = NULL;
    }
    tpmkms_ek_info_clear(&info);
    return rc;
}

static int ek_option(CLI *cli, const char *opt, const char **tmpl)
{
    size_t k;

    *tmpl = "";
    if (opt == NULL)
        return CLI_CONTINUE;
    for (k = 0; k < sizeof(ek_choices) / sizeof(ek_choices[0]); k++)
        if (strcmp(opt, ek_choices[k].opt) == 0) {
            *tmpl = ek_choices[k].tmpl;
            return CLI_CONTINUE;
        }
    return cli_usage_error(cli, "--ek '%s' is invalid (expected rsa or ecc)",
                           opt);
}

static int enroll_request(CLI *cli, int argc, char **argv)
{
    const char *pos[1], *out_path = NULL, *ek_opt = NULL, *tmpl = "",
               *chosen = "";
    const CLI_OPTION opts[] = {
        { "out", "REQ", &out_path, NULL },
        { "ek", "rsa|ecc", &ek_opt, NULL },
        { NULL, NULL, NULL, NULL }
    };
    TPMKMS_ENROLL_REQUEST req;
    TPMKMS_EK_LIST list = { NULL, 0 };
    TPMKMS_PROBE probe;
    TPMKMS_URI *uri = NULL;
    TPMKMS_KEY *key = NULL;
    BIO *mem = NULL;
    char comment[256];
    char *data = NULL;
    long len;
    int npos, r;
    tpmkms_rc rc;

    memset(&req, 0, sizeof(req));
    memset(&probe, 0, sizeof(probe));
    if ((r = cli_parse(cli, argc, argv, opts, pos, 1, &npos)) != CLI_CONTINUE)
        return r;
    if (npos < 1)
        return cli_usage_error(cli, "need the AK's URI");
    if ((r = ek_option(cli, ek_opt, &tmpl)) != CLI_CONTINUE
        || (r = open_ak(cli, pos[0], &uri, &key)) != CLI_CONTINUE)
        goto out;
    if (key == NULL) {          /* open_ak's CLI_CONTINUE gives a key */
        rc = TPMKMS_R_INTERNAL;
        goto out_fail;
    }
    if ((req.chain = sk_X509_new_null()) == NULL
        || (mem = BIO_new(BIO_s_mem())) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        rc = TPMKMS_R_INTERNAL;
        goto out_fail;
    }
    if ((rc = ak_public(key->libctx, key, &req)) != TPMKMS_R_OK
        || (rc = tpmkms_backend_probe(key->backend, &probe)) != TPMKMS_R_OK
        || (rc = tpmkms_backend_ek(key->backend, &list)) != TPMKMS_R_OK
        || (rc = pick_ek(key->libctx, &list, tmpl, &req, &chosen))
           != TPMKMS_R_OK)
        goto out_fail;
    req.manufacturer = probe.manufacturer_id;
    memcpy(req.vendor, probe.vendor_words, sizeof(req.vendor));
    req.firmware[0] = probe.fw_version1;
    req.firmware[1] = probe.fw_version2;
    snprintf(comment, sizeof(comment), "tpmkms ak enroll-request %s (EK %s)",
             key->uri, chosen);
    if ((rc = tpmkms_enroll_request_write(&req, comment, mem)) != TPMKMS_R_OK)
        goto out_fail;
    len = BIO_get_mem_data(mem, &data);
    if (out_path == NULL || strcmp(out_path, "-") == 0) {
        fwrite(data, 1, (size_t)len, stdout);
    } else {
        if ((rc = tpmkms_write_file_atomic(out_path, data, (size_t)len, 0644))
            != TPMKMS_R_OK)
            goto out_fail;
        fprintf(stderr, "tpmkms: wrote the enrollment request for %s (EK "
                "%s%s) to %s\n", key->uri, chosen,
                req.ek_cert != NULL ? ", with its certificate" : "",
                out_path);
    }
    r = CLI_EXIT_OK;
    goto out;
 out_fail:
    r = cli_fail(rc);
 out:
    BIO_free(mem);
    tpmkms_ek_list_clear(&list);
    tpmkms_enroll_request_clear(&req);
    tpmkms_key_free(key);
    tpmkms_uri_free(uri);
    return r;
}

static int activate(CLI *cli, int argc, char **argv)
{
    const char *pos[1], *out_path = NULL, *challenge = NULL, *ek_opt = NULL,
               *tmpl = "";
    const CLI_OPTION opts[] = {
        { "challenge", "CHALLENGE", &challenge, NULL },
        { "out", "RESPONSE", &out_path, NULL },
        { "ek", "rsa|ecc", &ek_opt, NULL },
        { NULL, NULL, NULL, NULL }
    };
    TPMKMS_CREDENTIAL cred;
    TPMKMS_BUF blob, seed, secret = { NULL, 0 };
    TPMKMS_URI *uri = NULL;
    TPMKMS_KEY *key = NULL;
    char *file = NULL;
    size_t file_len = 0;
    int npos, r;
    tpmkms_rc rc;

    memset(&cred, 0, sizeof(cred));
    if ((r = cli_parse(cli, argc, argv, opts, pos, 1, &npos)) != CLI_CONTINUE)
        return r;
    if (npos < 1)
        return cli_usage_error(cli, "need the AK's URI");
    if (challenge == NULL)
        return cli_usage_error(cli, "need --challenge CHALLENGE (what "
                               "tpmkms attest-ca challenge wrote)");
    if ((out_path == NULL || strcmp(out_path, "-") == 0)
        && isatty(STDOUT_FILENO))
        return cli_usage_error(cli, "the response is binary: give -o "
                               "RESPONSE or redirect stdout");
    if ((r = ek_option(cli, ek_opt, &tmpl)) != CLI_CONTINUE)
        return r;
    if ((rc = tpmkms_read_file(challenge, &file, &file_len)) != TPMKMS_R_OK
        || (rc = tpmkms_credential_decode((unsigned char *)file, file_len,
                                          &cred)) != TPMKMS_R_OK)
        goto out_fail;
    /* Which EK the challenge is for: an RSA 2048 EK's seed is the
     * 256-byte OAEP block, an ECC EK's an ephemeral point. */
    if (tmpl[0] == '\0')
        tmpl = cred.secret_len == 2 + 256 ? "L-1" : "L-2";
    if ((r = open_ak(cli, pos[0], &uri, &key)) != CLI_CONTINUE)
        goto out;
    if (key == NULL) {          /* open_ak's CLI_CONTINUE gives a key */
        rc = TPMKMS_R_INTERNAL;
        goto out_fail;
    }
    blob.data = cred.blob;
    blob.len = cred.blob_len;
    seed.data = cred.secret;
    seed.len = cred.secret_len;
    if ((rc = tpmkms_backend_activate(key->backend, &key->ref, tmpl, &blob,
                                      &seed, &secret)) != TPMKMS_R_OK)
        goto out_fail;
    if (out_path == NULL || strcmp(out_path, "-") == 0) {
        fwrite(secret.data, 1, secret.len, stdout);
    } else {
        if ((rc = tpmkms_write_file_atomic(out_path, secret.data, secret.len,
                                           0600)) != TPMKMS_R_OK)
            goto out_fail;
        fprintf(stderr, "tpmkms: activated the credential with %s and the "
                "EK %s: the %zu-byte response is in %s (for attest-ca issue "
                "--response)\n", key->uri, tmpl, secret.len, out_path);
    }
    r = CLI_EXIT_OK;
    goto out;
 out_fail:
    r = cli_fail(rc);
 out:
    if (secret.data != NULL)
        OPENSSL_cleanse(secret.data, secret.len);
    tpmkms_buf_clear(&secret);
    OPENSSL_free(file);
    tpmkms_key_free(key);
    tpmkms_uri_free(uri);
    return r;
}

/* ak cert-import URI CERT [CHAIN] [--force]: cert import, for an AK only. */
static int cert_import(CLI *cli, int argc, char **argv)
{
    TPMKMS_URI *uri = NULL;
    TPMKMS_KEY *key = NULL;
    int i, r;

    /* The URI is the first argument that is no option. */
    for (i = 1; i < argc; i++)
        if (argv[i][0] != '-')
            break;
    if (i < argc) {
        if ((r = open_ak(cli, argv[i], &uri, &key)) != CLI_CONTINUE)
            goto out;
    }
    r = cli_cert_import(cli, argc, argv);
 out:
    tpmkms_key_free(key);
    tpmkms_uri_free(uri);
    return r;
}

int cli_cmd_ak(CLI *cli, int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(CLI *cli, int argc, char **argv, tpmkms_key_kind kind);
        int (*run_ak)(CLI *cli, int argc, char **argv);
    } subs[] = {
        { "create", cli_create_kind, NULL },
        { "list", cli_list_kind, NULL },
        { "show", cli_show_kind, NULL },
        { "delete", cli_delete_kind, NULL },
        { "enroll-request", NULL, enroll_request },
        { "activate", NULL, activate },
        { "cert-import", NULL, cert_import },
    };
    char **args;
    int i, r = CLI_EXIT_OK, found = 0;

    if (argc < 2)
        return cli_usage_error(cli, "missing the subcommand (create, list, "
                               "show, delete, enroll-request, activate or "
                               "cert-import)");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        char *help[] = { argv[0], argv[1] };
        int npos;

        return cli_parse(cli, 2, help, NULL, NULL, 0, &npos);
    }
    /* -o is --out, as in attest-ca. */
    if ((args = OPENSSL_malloc(sizeof(*args) * (size_t)argc)) == NULL)
        return cli_fail(TPMKMS_R_INTERNAL);
    for (i = 1; i < argc; i++)
        args[i - 1] = strcmp(argv[i], "-o") == 0 ? (char *)"--out" : argv[i];
    for (size_t k = 0; k < sizeof(subs) / sizeof(subs[0]) && !found; k++)
        if (strcmp(argv[1], subs[k].name) == 0) {
            found = 1;
            r = subs[k].run != NULL
                ? subs[k].run(cli, argc - 1, args, TPMKMS_KIND_AK)
                : subs[k].run_ak(cli, argc - 1, args);
        }
    if (!found)
        r = cli_usage_error(cli, "unknown subcommand '%s' (expected create, "
                            "list, show, delete, enroll-request, activate or "
                            "cert-import)", argv[1]);
    OPENSSL_free(args);
    return r;
}
