/*
 * tpmkms probe | setup: what the TPM is, and persisting its SRK.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "json.h"
#include "tss2key.h"

#define ROW "  %-22s "

typedef struct cap_name_st {
    uint32_t bit;
    const char *name;
} CAP_NAME;

static const CAP_NAME curves[] = {
    { TPMKMS_PROBE_CURVE_P256, "P-256" },
    { TPMKMS_PROBE_CURVE_P384, "P-384" },
    { TPMKMS_PROBE_CURVE_P521, "P-521" },
    { 0, NULL }
};
static const CAP_NAME rsa_sizes[] = {
    { TPMKMS_PROBE_RSA_1024, "1024" },
    { TPMKMS_PROBE_RSA_2048, "2048" },
    { TPMKMS_PROBE_RSA_3072, "3072" },
    { TPMKMS_PROBE_RSA_4096, "4096" },
    { 0, NULL }
};
static const CAP_NAME hashes[] = {
    { TPMKMS_PROBE_HASH_SHA1, "SHA-1" },
    { TPMKMS_PROBE_HASH_SHA256, "SHA-256" },
    { TPMKMS_PROBE_HASH_SHA384, "SHA-384" },
    { TPMKMS_PROBE_HASH_SHA512, "SHA-512" },
    { 0, NULL }
};
static const CAP_NAME sig_schemes[] = {
    { TPMKMS_PROBE_SIG_ECDSA, "ECDSA" },
    { TPMKMS_PROBE_SIG_RSASSA, "RSASSA-PKCS1-v1_5" },
    { TPMKMS_PROBE_SIG_RSAPSS, "RSASSA-PSS" },
    { 0, NULL }
};

/* "P-256 yes, P-384 yes, P-521 no": what is missing matters as much. */
static void print_caps(const char *label, uint32_t have, const CAP_NAME *names)
{
    printf(ROW, label);
    for (const CAP_NAME *c = names; c->name != NULL; c++)
        printf("%s%s %s", c == names ? "" : ", ", c->name,
               (have & c->bit) != 0 ? "yes" : "no");
    printf("\n");
}

/* Copies a fixed-size TPM string field, dropping NULs and trailing blanks. */
static void clean_string(char *dst, size_t dstlen, const char *src,
                         size_t srclen)
{
    size_t n = 0;

    for (size_t k = 0; k < srclen && src[k] != '\0' && n + 1 < dstlen; k++)
        dst[n++] = isprint((unsigned char)src[k]) ? src[k] : '?';
    while (n > 0 && dst[n - 1] == ' ')
        n--;
    dst[n] = '\0';
}

void cli_print_tpm_identity(const TPMKMS_PROBE *p)
{
    char manufacturer[sizeof(p->manufacturer) + 1];
    char vendor[sizeof(p->vendor) + 1];
    char tcti[sizeof(p->connection) + 1];

    clean_string(manufacturer, sizeof(manufacturer), p->manufacturer,
                 sizeof(p->manufacturer));
    clean_string(vendor, sizeof(vendor), p->vendor, sizeof(p->vendor));
    clean_string(tcti, sizeof(tcti), p->connection, sizeof(p->connection));

    printf("TPM\n");
    printf(ROW "%s\n", "connection (TCTI)", tcti[0] != '\0' ? tcti : "default");
    printf(ROW "%s\n", "manufacturer", manufacturer);
    printf(ROW "%s\n", "vendor", vendor[0] != '\0' ? vendor : "-");
    /* Vendors differ: Windows shows the 16-bit halves, tpm2-tools the hex. */
    printf(ROW "%u.%u.%u.%u (0x%08x 0x%08x)\n", "firmware",
           (unsigned)(p->fw_version1 >> 16), (unsigned)(p->fw_version1 & 0xffff),
           (unsigned)(p->fw_version2 >> 16), (unsigned)(p->fw_version2 & 0xffff),
           (unsigned)p->fw_version1, (unsigned)p->fw_version2);
}

static void print_probe(const TPMKMS_PROBE *p)
{
    cli_print_tpm_identity(p);
    printf(ROW "2.0, level %u, revision %u.%02u, %u\n", "specification",
           (unsigned)p->spec_level, (unsigned)(p->spec_revision / 100),
           (unsigned)(p->spec_revision % 100), (unsigned)p->spec_year);

    printf("\nAlgorithms\n");
    print_caps("ECC curves", p->curves, curves);
    print_caps("RSA key sizes", p->rsa_sizes, rsa_sizes);
    print_caps("hashes", p->hashes, hashes);
    print_caps("signature schemes", p->sig_schemes, sig_schemes);

    printf("\nDictionary-attack lockout\n");
    printf(ROW "%s\n", "state", p->in_lockout ? "LOCKED OUT" : "not locked out");
    printf(ROW "%u of %u\n", "failed authorizations",
           (unsigned)p->lockout_counter, (unsigned)p->max_auth_fail);
    printf(ROW "%u s (one failure forgiven per interval)\n",
           "recovery interval", (unsigned)p->lockout_interval);
    printf(ROW "%u s (after a failed lockout authorization)\n",
           "lockout recovery", (unsigned)p->lockout_recovery);

    printf("\nStorage root key (SRK)\n");
    printf(ROW "%s\n", "0x81000001", p->srk_persistent
           ? "persistent" : "not persistent");
    if (!p->srk_persistent)
        printf("\nrun `tpmkms setup` to persist the SRK: it saves a "
               "TPM2_CreatePrimary in every process\n");
}

/* The names of the capabilities in have, as a JSON array. */
static void json_caps(JSON *j, const char *key, uint32_t have,
                      const CAP_NAME *names)
{
    json_begin_array(j, key);
    for (const CAP_NAME *c = names; c->name != NULL; c++)
        if ((have & c->bit) != 0)
            json_string(j, NULL, c->name);
    json_end_array(j);
}

/* probe --json: the schema tpmkms.probe.v1 (docs/json.md). */
static void print_probe_json(const TPMKMS_PROBE *p)
{
    char manufacturer[sizeof(p->manufacturer) + 1];
    char vendor[sizeof(p->vendor) + 1];
    char tcti[sizeof(p->connection) + 1], buf[64];
    JSON j = { 0 };

    clean_string(manufacturer, sizeof(manufacturer), p->manufacturer,
                 sizeof(p->manufacturer));
    clean_string(vendor, sizeof(vendor), p->vendor, sizeof(p->vendor));
    clean_string(tcti, sizeof(tcti), p->connection, sizeof(p->connection));
    json_begin_object(&j, NULL);
    json_string(&j, "schema", "tpmkms.probe.v1");
    json_string(&j, "connection", tcti[0] != '\0' ? tcti : NULL);
    json_string(&j, "manufacturer", manufacturer);
    json_string(&j, "vendor", vendor);
    snprintf(buf, sizeof(buf), "%u.%u.%u.%u",
             (unsigned)(p->fw_version1 >> 16),
             (unsigned)(p->fw_version1 & 0xffff),
             (unsigned)(p->fw_version2 >> 16),
             (unsigned)(p->fw_version2 & 0xffff));
    json_string(&j, "firmware", buf);
    json_begin_object(&j, "specification");
    json_uint(&j, "level", p->spec_level);
    snprintf(buf, sizeof(buf), "%u.%02u", (unsigned)(p->spec_revision / 100),
             (unsigned)(p->spec_revision % 100));
    json_string(&j, "revision", buf);
    json_uint(&j, "year", p->spec_year);
    json_end_object(&j);
    json_begin_object(&j, "algorithms");
    json_caps(&j, "ecc_curves", p->curves, curves);
    json_caps(&j, "rsa_key_sizes", p->rsa_sizes, rsa_sizes);
    json_caps(&j, "hashes", p->hashes, hashes);
    json_caps(&j, "signature_schemes", p->sig_schemes, sig_schemes);
    json_end_object(&j);
    json_begin_object(&j, "lockout");
    json_bool(&j, "locked_out", p->in_lockout);
    json_uint(&j, "failed_authorizations", p->lockout_counter);
    json_uint(&j, "max_failed_authorizations", p->max_auth_fail);
    json_uint(&j, "recovery_interval_s", p->lockout_interval);
    json_uint(&j, "lockout_recovery_s", p->lockout_recovery);
    json_end_object(&j);
    json_bool(&j, "srk_persistent", p->srk_persistent);
    json_end_object(&j);
    json_finish(&j);
}

int cli_cmd_probe(CLI *cli, int argc, char **argv)
{
    TPMKMS_BACKEND *backend = NULL;
    TPMKMS_PROBE probe;
    int npos, r, json = 0;
    CLI_OPTION opts[] = {
        { "json", NULL, NULL, &json },
        { NULL, NULL, NULL, NULL }
    };
    tpmkms_rc rc;

    if ((r = cli_parse(cli, argc, argv, opts, NULL, 0, &npos)) != CLI_CONTINUE)
        return r;
    memset(&probe, 0, sizeof(probe));
    if ((rc = cli_backend(cli, NULL, &backend)) != TPMKMS_R_OK
        || (rc = tpmkms_backend_probe(backend, &probe)) != TPMKMS_R_OK) {
        r = cli_fail(rc);
        goto out;
    }
    if (json)
        print_probe_json(&probe);
    else
        print_probe(&probe);
    r = CLI_EXIT_OK;
 out:
    tpmkms_backend_free(backend);
    return r;
}

int cli_cmd_setup(CLI *cli, int argc, char **argv)
{
    TPMKMS_BACKEND *backend = NULL;
    tpmkms_setup_result result = 0;
    int npos, r;
    tpmkms_rc rc;

    if ((r = cli_parse(cli, argc, argv, NULL, NULL, 0, &npos)) != CLI_CONTINUE)
        return r;
    if ((rc = cli_backend(cli, NULL, &backend)) != TPMKMS_R_OK
        || (rc = tpmkms_backend_setup(backend, &result)) != TPMKMS_R_OK) {
        r = cli_fail(rc);
        goto out;
    }
    if (result == TPMKMS_SETUP_CREATED)
        printf("created the SRK at 0x%08x\n", TPMKMS_SRK_HANDLE);
    else
        printf("the SRK at 0x%08x is already in place\n", TPMKMS_SRK_HANDLE);
    r = CLI_EXIT_OK;
 out:
    tpmkms_backend_free(backend);
    return r;
}
