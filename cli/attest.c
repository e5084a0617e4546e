/*
 * tpmkms ek: the TPM's endorsement keys and their certificates, each
 * certificate checked against the EK recomputed from its template, with
 * the EKPub hash an allow-list names (docs/attestation.md).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "attest/ek.h"
#include "cli.h"
#include "platform/platform.h"

#define ROW "  %-22s "

static void print_hex(const unsigned char *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        printf("%02x", b[i]);
}

static void print_name(BIO *out, const char *label, const X509_NAME *name)
{
    printf(ROW, label);
    fflush(stdout);
    if (X509_NAME_entry_count(name) == 0)
        BIO_printf(out, "(empty)");
    else
        X509_NAME_print_ex(out, name, 0,
                           XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
    BIO_printf(out, "\n");
    (void)BIO_flush(out);
}

static void print_cert(BIO *out, const TPMKMS_EK *ek,
                       const TPMKMS_EK_INFO *info)
{
    BIGNUM *serial;
    char *s = NULL;

    printf(ROW "NV index 0x%08x (%zu bytes", "certificate", ek->cert_index,
           info->cert_len);
    if (info->padding > 0)
        printf("; %zu bytes of padding after it in the index trimmed",
               info->padding);
    printf(")\n");
    print_name(out, "subject", X509_get_subject_name(info->cert));
    print_name(out, "issuer", X509_get_issuer_name(info->cert));
    serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(info->cert), NULL);
    if (serial != NULL)
        s = BN_bn2hex(serial);
    printf(ROW "0x%s\n", "serial", s != NULL ? s : "?");
    OPENSSL_free(s);
    BN_free(serial);
    printf(ROW, "not after");
    fflush(stdout);
    ASN1_TIME_print(out, X509_get0_notAfter(info->cert));
    BIO_printf(out, "\n");
    (void)BIO_flush(out);
}

static void print_template(const TPMKMS_EK *ek)
{
    if (ek->tmpl[0] == '\0')
        return;
    printf(ROW "%s (TCG EK Credential Profile)", "template", ek->tmpl);
    if (ek->template_from_nv)
        printf(", as the template index in NV gives it");
    if (ek->nonce_from_nv)
        printf(", unique from the nonce index in NV");
    printf("\n");
}

static void print_check(const TPMKMS_EK *ek, const TPMKMS_EK_INFO *info)
{
    const char *what;

    switch (info->check) {
    case TPMKMS_EK_MATCH:
        what = "the EK recomputed from the template is the certificate's key";
        break;
    case TPMKMS_EK_MISMATCH:
        what = "MISMATCH: the certificate is for another key (see below)";
        break;
    case TPMKMS_EK_NOT_RECOMPUTED:
        what = ek->tmpl[0] == '\0'
            ? "not an EK of any template tpmkms recomputed"
            : "not recomputed: tpmkms does not hold keys of this algorithm";
        break;
    case TPMKMS_EK_NO_CERT:
    default:
        what = "recomputed from the template; no certificate to check";
        break;
    }
    printf(ROW "%s\n", "EK key", what);
    if (info->check == TPMKMS_EK_MISMATCH) {
        printf(ROW, "certificate key hash");
        print_hex(info->cert_key_hash, sizeof(info->cert_key_hash));
        printf("\n");
    }
}

/* ek-<alg>.pem, ek-<alg>-<template>.pem for a second of one algorithm. */
static void file_base(const TPMKMS_EK_LIST *list, size_t i, char *buf,
                      size_t n)
{
    const TPMKMS_EK *ek = &list->ek[i];
    size_t j;
    int again = 0;
    char tmpl[8];

    for (j = 0; j < i; j++)
        if (list->ek[j].tmpl[0] != '\0'
            && list->ek[j].pub.alg == ek->pub.alg
            && strcmp(list->ek[j].key_desc, ek->key_desc) == 0)
            again = 1;
    for (j = 0; j + 1 < sizeof(tmpl) && ek->tmpl[j] != '\0'; j++)
        tmpl[j] = (char)tolower((unsigned char)ek->tmpl[j]);
    tmpl[j] = '\0';
    if (ek->pub.alg == TPMKMS_ALG_NONE)
        snprintf(buf, n, "ek-%s", tmpl);
    else if (again)
        snprintf(buf, n, "ek-%s-%s", tpmkms_alg_name(ek->pub.alg), tmpl);
    else
        snprintf(buf, n, "ek-%s", tpmkms_alg_name(ek->pub.alg));
}

static tpmkms_rc write_pem(const char *dir, const char *name, BIO *mem,
                           int (*fill)(BIO *, const void *), const void *obj)
{
    char path[4096];
    char *data = NULL;
    long len;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name)
        >= sizeof(path)) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "--out-dir %s: path too long",
                     dir);
        return TPMKMS_R_BAD_PARAMETER;
    }
    (void)BIO_reset(mem);
    if (!fill(mem, obj) || (len = BIO_get_mem_data(mem, &data)) <= 0) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot encode %s as PEM", path);
        return TPMKMS_R_INTERNAL;
    }
    /* Public material: 0644, replaced in one rename. */
    if (tpmkms_write_file_atomic(path, data, (size_t)len, 0644) != TPMKMS_R_OK)
        return TPMKMS_R_STORE_IO;
    printf(ROW "%s\n", "written", path);
    return TPMKMS_R_OK;
}

static int fill_pubkey(BIO *b, const void *k)
{
    return PEM_write_bio_PUBKEY(b, (EVP_PKEY *)k);
}

static int fill_cert(BIO *b, const void *c)
{
    return PEM_write_bio_X509(b, (X509 *)c);
}

static tpmkms_rc write_files(const char *dir, const TPMKMS_EK_LIST *list,
                             size_t i, const TPMKMS_EK_INFO *info)
{
    BIO *mem = BIO_new(BIO_s_mem());
    char base[64], name[96];
    tpmkms_rc r = TPMKMS_R_OK;

    if (mem == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return TPMKMS_R_INTERNAL;
    }
    file_base(list, i, base, sizeof(base));
    if (info->key != NULL) {
        snprintf(name, sizeof(name), "%s.pem", base);
        r = write_pem(dir, name, mem, fill_pubkey, info->key);
    }
    if (r == TPMKMS_R_OK && info->cert != NULL) {
        snprintf(name, sizeof(name), "%s-cert.pem", base);
        r = write_pem(dir, name, mem, fill_cert, info->cert);
    }
    BIO_free(mem);
    return r;
}

int cli_cmd_ek(CLI *cli, int argc, char **argv)
{
    const char *out_dir = NULL;
    const CLI_OPTION opts[] = {
        { "out-dir", "DIR", &out_dir, NULL },
        { NULL, NULL, NULL, NULL }
    };
    TPMKMS_BACKEND *backend = NULL;
    TPMKMS_EK_LIST list = { NULL, 0 };
    TPMKMS_PROBE probe;
    BIO *out = NULL;
    tpmkms_rc rc, first = TPMKMS_R_OK;
    size_t i, certs = 0;
    int npos, r;

    if ((r = cli_parse(cli, argc, argv, opts, NULL, 0, &npos)) != CLI_CONTINUE)
        return r;
    if (out_dir != NULL) {
        struct stat sb;

        if (stat(out_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return cli_usage_error(cli, "--out-dir '%s' is not a directory",
                                   out_dir);
    }
    if ((rc = cli_backend(cli, NULL, &backend)) != TPMKMS_R_OK
        || (rc = tpmkms_backend_probe(backend, &probe)) != TPMKMS_R_OK
        || (rc = tpmkms_backend_ek(backend, &list)) != TPMKMS_R_OK) {
        r = cli_fail(rc);
        goto out;
    }
    if ((out = BIO_new_fp(stdout, BIO_NOCLOSE)) == NULL) {
        r = cli_fail(TPMKMS_R_INTERNAL);
        goto out;
    }
    cli_print_tpm_identity(&probe);
    for (i = 0; i < list.n; i++) {
        const TPMKMS_EK *ek = &list.ek[i];
        TPMKMS_EK_INFO info;

        rc = tpmkms_ek_examine(NULL, ek, &info);
        if (ek->tmpl[0] != '\0')
            printf("\nEK %s (%s)\n", ek->tmpl, ek->key_desc);
        else
            printf("\nPersistent key in the EK range (%s)\n", ek->key_desc);
        if (info.cert != NULL) {
            print_cert(out, ek, &info);
            certs++;
        } else if (ek->cert_index != 0 && ek->cert.len == 0) {
            printf(ROW "NV index 0x%08x is defined but empty\n",
                   "certificate", ek->cert_index);
        } else if (ek->cert_index == 0 && ek->tmpl[0] != '\0') {
            printf(ROW "none provisioned\n", "certificate");
        }
        print_template(ek);
        if (ek->persistent != 0)
            printf(ROW "0x%08x\n", "persistent handle", ek->persistent);
        print_check(ek, &info);
        if (info.key != NULL) {
            printf(ROW, "EKPub hash (SHA-256)");
            print_hex(info.ekpub_hash, sizeof(info.ekpub_hash));
            printf("\n");
        }
        if (rc == TPMKMS_R_OK && out_dir != NULL)
            rc = write_files(out_dir, &list, i, &info);
        tpmkms_ek_info_clear(&info);
        if (rc != TPMKMS_R_OK && first == TPMKMS_R_OK)
            first = rc;
    }
    if (certs == 0 && first == TPMKMS_R_OK)
        printf("\nno EK certificate is provisioned in this TPM: the EK "
               "public keys above\nare recomputed from their templates; a "
               "CA can trust them only by their\nEKPub hashes "
               "(an allow-list), not by a certificate chain\n");
    fflush(stdout);
    r = first == TPMKMS_R_OK ? CLI_EXIT_OK : cli_fail(first);
 out:
    BIO_free(out);
    tpmkms_ek_list_clear(&list);
    tpmkms_backend_free(backend);
    return r;
}
