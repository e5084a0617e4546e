/*
 * tpmkms attest-ca: the verifier's side of AK enrollment, in software (no
 * TPM): `challenge` makes a TPM2_MakeCredential for the request's EK and
 * AK name and keeps the secret in a state file; `issue` checks the
 * secret the device recovered with TPM2_ActivateCredential, grades the
 * EK and issues the AK certificate (docs/attestation.md, "AK
 * enrollment").  The checks and the certificate are the library's
 * (provider/attest/enroll.c, credential.c); this file reads the files,
 * loads the CA key through OSSL_STORE and says what happened.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/store.h>
#include <openssl/x509.h>
#include "attest/credential.h"
#include "attest/enroll.h"
#include "cli.h"
#include "lifecycle.h"
#include "platform/platform.h"

#define STATE_TAG "tpmkms-attest-ca-state-v1"
#define SECRET_LEN 32
#define STATE_LINE_MAX 256

/* attest-ca's exit codes (`tpmkms --help`, tpmkms(1)). */
enum {
    EXIT_BAD_REQUEST = 10,       /* request, state or response malformed */
    EXIT_NOT_AN_AK = 11,
    EXIT_AK_NAME = 12,
    EXIT_EK_CERT = 13,           /* EK certificate not of the EK */
    EXIT_STATE = 14,             /* state of another request */
    EXIT_ACTIVATION = 15,        /* the returned secret is wrong */
    EXIT_LEVEL = 16,             /* below --min-level */
    EXIT_UNSUPPORTED = 17        /* an EK no credential can be made for */
};

/* Prints the errors and gives attest-ca's exit code for rc. */
static int fail(tpmkms_rc rc)
{
    int r = cli_fail(rc);

    switch (rc) {
    case TPMKMS_R_BAD_REQUEST:
    case TPMKMS_R_BAD_TPM_PUBLIC:
    case TPMKMS_R_BAD_EK_CERT:
        return EXIT_BAD_REQUEST;
    case TPMKMS_R_NOT_AN_AK:
        return EXIT_NOT_AN_AK;
    case TPMKMS_R_AK_NAME_MISMATCH:
        return EXIT_AK_NAME;
    case TPMKMS_R_EK_MISMATCH:
        return EXIT_EK_CERT;
    case TPMKMS_R_STATE_MISMATCH:
        return EXIT_STATE;
    case TPMKMS_R_ACTIVATION_FAILED:
        return EXIT_ACTIVATION;
    case TPMKMS_R_LEVEL_TOO_LOW:
        return EXIT_LEVEL;
    case TPMKMS_R_UNSUPPORTED_ALGORITHM:
        return EXIT_UNSUPPORTED;
    default:
        return r;
    }
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int unhex(const char *s, size_t n, unsigned char *out)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned v = 0;

        if (sscanf(s + 2 * i, "%2x", &v) != 1
            || !((s[2 * i] >= '0' && s[2 * i] <= '9')
                 || (s[2 * i] >= 'a' && s[2 * i] <= 'f'))
            || !((s[2 * i + 1] >= '0' && s[2 * i + 1] <= '9')
                 || (s[2 * i + 1] >= 'a' && s[2 * i + 1] <= 'f')))
            return 0;
        out[i] = (unsigned char)v;
    }
    return 1;
}

/* Reads and checks the request; *sha256 gets the hash of its bytes. */
static tpmkms_rc read_request(OSSL_LIB_CTX *libctx, const char *path,
                              TPMKMS_ENROLL_REQUEST *req,
                              unsigned char sha256[32])
{
    char *data = NULL;
    size_t len = 0;
    unsigned int mdlen = 0;
    tpmkms_rc rc;

    memset(req, 0, sizeof(*req));
    if ((rc = tpmkms_read_file(path, &data, &len)) != TPMKMS_R_OK)
        return rc;
    if (!EVP_Digest(data, len, sha256, &mdlen, EVP_sha256(), NULL)) {
        OPENSSL_free(data);
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot hash %s", path);
        return TPMKMS_R_INTERNAL;
    }
    rc = tpmkms_enroll_request_parse(libctx, data, len, req);
    OPENSSL_free(data);
    return rc;
}

static void print_request(FILE *out, const TPMKMS_ENROLL_REQUEST *req)
{
    char desc[64], name[2 * TPMKMS_TPM_NAME_MAX + 1],
         h[2 * TPMKMS_EKPUB_HASH_LEN + 1], m[32], model[32], v[32];

    tpmkms_enroll_manufacturer(req, m, sizeof(m));
    tpmkms_enroll_model(req, model, sizeof(model));
    tpmkms_enroll_version(req, v, sizeof(v));
    fprintf(out, "  %-22s %s, model \"%s\", version %s\n", "TPM", m, model, v);
    fprintf(out, "  %-22s %s, name algorithm %s, %s\n", "EK",
            tpmkms_tpm_public_describe(&req->ek, desc, sizeof(desc)),
            tpmkms_tpm_hash_name(req->ek.name_alg) != NULL
            ? tpmkms_tpm_hash_name(req->ek.name_alg) : "?",
            req->ek_cert != NULL ? "with its certificate"
                                 : "no certificate");
    hex(req->ekpub_hash, sizeof(req->ekpub_hash), h);
    fprintf(out, "  %-22s %s\n", "EKPub hash (SHA-256)", h);
    hex(req->ak_name, req->ak_name_len, name);
    fprintf(out, "  %-22s %s, name %s\n", "AK",
            tpmkms_tpm_public_describe(&req->ak, desc, sizeof(desc)), name);
}

static int challenge(CLI *cli, int argc, char **argv)
{
    const char *request = NULL, *out_path = NULL, *state_path = NULL;
    const CLI_OPTION opts[] = {
        { "request", "REQ", &request, NULL },
        { "out", "CHALLENGE", &out_path, NULL },
        { "state", "STATE", &state_path, NULL },
        { NULL, NULL, NULL, NULL }
    };
    TPMKMS_ENROLL_REQUEST req;
    TPMKMS_CREDENTIAL cred;
    OSSL_LIB_CTX *libctx = NULL;
    unsigned char digest[32], secret[SECRET_LEN];
    unsigned char file[TPMKMS_CREDENTIAL_FILE_MAX];
    char line[STATE_LINE_MAX], dh[65], sh[2 * SECRET_LEN + 1];
    char *def_out = NULL, *def_state = NULL;
    size_t n;
    int npos, r;
    tpmkms_rc rc;

    memset(&req, 0, sizeof(req));
    if ((r = cli_parse(cli, argc, argv, opts, NULL, 0, &npos))
        != CLI_CONTINUE)
        return r;
    if (request == NULL)
        return cli_usage_error(cli, "--request REQ is required");
    if (out_path == NULL)
        out_path = def_out = tpmkms_path_fmt("%s.challenge", request);
    if (state_path == NULL)
        state_path = def_state = tpmkms_path_fmt("%s.state", request);
    if (out_path == NULL || state_path == NULL) {
        r = fail(TPMKMS_R_INTERNAL);
        goto out;
    }
    if ((rc = cli_libctx_new(&libctx)) != TPMKMS_R_OK
        || (rc = read_request(libctx, request, &req, digest)) != TPMKMS_R_OK)
        goto out_fail;
    if (RAND_bytes_ex(libctx, secret, sizeof(secret), 0) <= 0) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "no random bytes for the secret");
        rc = TPMKMS_R_INTERNAL;
        goto out_fail;
    }
    if ((rc = tpmkms_make_credential(libctx, &req.ek, req.ak_name,
                                     req.ak_name_len, secret, sizeof(secret),
                                     &cred)) != TPMKMS_R_OK)
        goto out_fail;
    /* The state first: a challenge never exists without its secret. */
    hex(digest, sizeof(digest), dh);
    hex(secret, sizeof(secret), sh);
    n = (size_t)snprintf(line, sizeof(line), "%s %s %s\n", STATE_TAG, dh, sh);
    rc = tpmkms_write_file_atomic(state_path, line, n, 0600);
    OPENSSL_cleanse(line, sizeof(line));
    OPENSSL_cleanse(sh, sizeof(sh));
    if (rc != TPMKMS_R_OK)
        goto out_fail;
    n = tpmkms_credential_encode(&cred, file);
    if ((rc = tpmkms_write_file_atomic(out_path, file, n, 0644))
        != TPMKMS_R_OK)
        goto out_fail;
    printf("challenge for the enrollment request %s\n", request);
    print_request(stdout, &req);
    printf("  %-22s %s (TPM2_MakeCredential: credentialBlob and secret, "
           "tpm2-tools format)\n", "challenge", out_path);
    printf("  %-22s %s (the expected secret; keep it for attest-ca issue)\n",
           "state", state_path);
    r = CLI_EXIT_OK;
    goto out;
 out_fail:
    r = fail(rc);
 out:
    OPENSSL_cleanse(secret, sizeof(secret));
    tpmkms_enroll_request_clear(&req);
    cli_libctx_free(libctx);
    OPENSSL_free(def_out);
    OPENSSL_free(def_state);
    return r;
}

/* The state line: tag, the request's SHA-256, the secret (hex). */
static tpmkms_rc read_state(const char *path, const unsigned char digest[32],
                            unsigned char secret[SECRET_LEN])
{
    unsigned char *line = NULL, want[32];
    size_t len = 0, tl = strlen(STATE_TAG);
    tpmkms_rc rc;
    int ok;

    if ((rc = tpmkms_platform_read_secret(path, "challenge state file",
                                          STATE_LINE_MAX,
                                          TPMKMS_R_BAD_REQUEST, &line, &len))
        != TPMKMS_R_OK)
        return rc;
    ok = len == tl + 1 + 64 + 1 + 2 * SECRET_LEN
         && memcmp(line, STATE_TAG, tl) == 0 && line[tl] == ' '
         && line[tl + 65] == ' '
         && unhex((const char *)line + tl + 1, 32, want)
         && unhex((const char *)line + tl + 66, SECRET_LEN, secret);
    OPENSSL_clear_free(line, len + 1);
    if (!ok) {
        TPMKMS_raise(TPMKMS_R_BAD_REQUEST, "%s is not a challenge state file "
                     "attest-ca challenge wrote", path);
        return TPMKMS_R_BAD_REQUEST;
    }
    if (memcmp(want, digest, 32) != 0) {
        TPMKMS_raise(TPMKMS_R_STATE_MISMATCH, "the challenge state %s was "
                     "made for another enrollment request than this one "
                     "(its SHA-256 differs): issue with the request the "
                     "challenge was made for", path);
        return TPMKMS_R_STATE_MISMATCH;
    }
    return TPMKMS_R_OK;
}

static tpmkms_rc check_response(const char *path,
                                const unsigned char secret[SECRET_LEN])
{
    char *data = NULL;
    size_t len = 0;
    int same;
    tpmkms_rc rc;

    if ((rc = tpmkms_read_file(path, &data, &len)) != TPMKMS_R_OK)
        return rc;
    same = len == SECRET_LEN && CRYPTO_memcmp(data, secret, SECRET_LEN) == 0;
    OPENSSL_clear_free(data, len);
    if (!same) {
        TPMKMS_raise(TPMKMS_R_ACTIVATION_FAILED, "the response %s is not the "
                     "secret of the challenge (%zu bytes; the %d bytes "
                     "TPM2_ActivateCredential recovers were expected): the "
                     "EK or the AK is not the request's, or the response "
                     "was not made from this challenge", path, len,
                     SECRET_LEN);
        return TPMKMS_R_ACTIVATION_FAILED;
    }
    return TPMKMS_R_OK;
}

/* The CA key: a tpmkms: URI or a file, through OSSL_STORE. */
static tpmkms_rc load_ca_key(CLI *cli, OSSL_LIB_CTX *libctx, const char *uri,
                             EVP_PKEY **out)
{
    OSSL_STORE_CTX *sc;
    OSSL_STORE_INFO *info;

    *out = NULL;
    if (strncmp(uri, "tpmkms:", 7) == 0) {
        /* The provider's TPM: the URI's tcti=, else --tcti, else
         * TPMKMS_TCTI (the provider reads it). */
        if (cli->tcti != NULL && setenv("TPMKMS_TCTI", cli->tcti, 1) != 0) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot set TPMKMS_TCTI");
            return TPMKMS_R_INTERNAL;
        }
        if (OSSL_PROVIDER_load(libctx, "tpmkms") == NULL) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "--ca-key %s: the tpmkms "
                         "provider cannot be loaded (is tpmkms.so in "
                         "OpenSSL's modules directory, or OPENSSL_MODULES?)",
                         uri);
            return TPMKMS_R_BAD_PARAMETER;
        }
    }
    sc = OSSL_STORE_open_ex(uri, libctx, NULL, NULL, NULL, NULL, NULL, NULL);
    if (sc != NULL && OSSL_STORE_expect(sc, OSSL_STORE_INFO_PKEY)) {
        while (*out == NULL && !OSSL_STORE_eof(sc)) {
            if ((info = OSSL_STORE_load(sc)) == NULL)
                break;
            if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
                *out = OSSL_STORE_INFO_get1_PKEY(info);
            OSSL_STORE_INFO_free(info);
        }
    }
    OSSL_STORE_close(sc);
    if (*out == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "--ca-key %s: no private key "
                     "could be loaded from it", uri);
        return TPMKMS_R_BAD_PARAMETER;
    }
    return TPMKMS_R_OK;
}

static tpmkms_rc write_cert(const char *path, X509 *cert)
{
    BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    tpmkms_rc rc = TPMKMS_R_OK;

    if (mem == NULL || !PEM_write_bio_X509(mem, cert)
        || (len = BIO_get_mem_data(mem, &data)) <= 0) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot encode the AK certificate");
        rc = TPMKMS_R_INTERNAL;
    } else if (path == NULL) {
        if (fwrite(data, 1, (size_t)len, stdout) != (size_t)len
            || fflush(stdout) != 0) {
            TPMKMS_raise(TPMKMS_R_STORE_IO, "cannot write the AK "
                         "certificate to standard output");
            rc = TPMKMS_R_STORE_IO;
        }
    } else {
        rc = tpmkms_write_file_atomic(path, data, (size_t)len, 0644);
    }
    BIO_free(mem);
    return rc;
}

static int issue(CLI *cli, int argc, char **argv)
{
    const char *request = NULL, *state = NULL, *response = NULL,
               *ca_key_uri = NULL, *ca_cert_path = NULL, *allow = NULL,
               *roots = NULL, *min_level = NULL, *days_s = NULL,
               *out_path = NULL;
    const CLI_OPTION opts[] = {
        { "request", "REQ", &request, NULL },
        { "state", "STATE", &state, NULL },
        { "response", "RESP", &response, NULL },
        { "ca-key", "URI|FILE", &ca_key_uri, NULL },
        { "ca-cert", "CERT", &ca_cert_path, NULL },
        { "ek-allow-list", "DIR", &allow, NULL },
        { "ek-roots", "DIR", &roots, NULL },
        { "min-level", "LEVEL", &min_level, NULL },
        { "days", "N", &days_s, NULL },
        { "out", "AKCERT", &out_path, NULL },
        { NULL, NULL, NULL, NULL }
    };
    TPMKMS_ENROLL_REQUEST req;
    OSSL_LIB_CTX *libctx = NULL;
    STACK_OF(X509) *ca_certs = NULL;
    EVP_PKEY *ca_key = NULL;
    X509 *akcert = NULL;
    unsigned char digest[32], secret[SECRET_LEN];
    tpmkms_ek_level level = TPMKMS_EK_LEVEL_NONE, min = TPMKMS_EK_LEVEL_LOW;
    char why[512];
    FILE *report;
    long days = 365;
    int npos, r;
    tpmkms_rc rc;

    memset(&req, 0, sizeof(req));
    if ((r = cli_parse(cli, argc, argv, opts, NULL, 0, &npos))
        != CLI_CONTINUE)
        return r;
    if (request == NULL || state == NULL || response == NULL
        || ca_key_uri == NULL || ca_cert_path == NULL)
        return cli_usage_error(cli, "--request, --state, --response, "
                               "--ca-key and --ca-cert are required");
    if (min_level != NULL
        && (min = tpmkms_ek_level_from_name(min_level))
           == TPMKMS_EK_LEVEL_NONE)
        return cli_usage_error(cli, "--min-level '%s' is invalid: use low, "
                               "medium or high", min_level);
    if (days_s != NULL) {
        char *end = NULL;

        days = strtol(days_s, &end, 10);
        if (end == days_s || *end != '\0' || days < 1 || days > 36500)
            return cli_usage_error(cli, "--days '%s' is invalid: give whole "
                                   "days, 1 to 36500", days_s);
    }
    report = out_path != NULL ? stdout : stderr;

    if ((rc = cli_libctx_new(&libctx)) != TPMKMS_R_OK
        || (rc = read_request(libctx, request, &req, digest)) != TPMKMS_R_OK
        || (rc = read_state(state, digest, secret)) != TPMKMS_R_OK
        || (rc = check_response(response, secret)) != TPMKMS_R_OK)
        goto out_fail;
    fprintf(report, "enrollment request %s: the device recovered the "
            "secret (credential activation)\n", request);
    print_request(report, &req);
    if ((rc = tpmkms_enroll_grade(libctx, &req, allow, roots, &level, why,
                                  sizeof(why))) != TPMKMS_R_OK)
        goto out_fail;
    fprintf(report, "  %-22s %s (%s): %s\n", "assurance level",
            tpmkms_ek_level_name(level), tpmkms_ek_level_oid(level), why);
    if (level < min) {
        TPMKMS_raise(TPMKMS_R_LEVEL_TOO_LOW, "the EK is graded %s, below "
                     "--min-level %s: no AK certificate issued",
                     tpmkms_ek_level_name(level), tpmkms_ek_level_name(min));
        rc = TPMKMS_R_LEVEL_TOO_LOW;
        goto out_fail;
    }
    if ((ca_certs = sk_X509_new_null()) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        rc = TPMKMS_R_INTERNAL;
        goto out_fail;
    }
    if ((rc = tpmkms_certs_read_file(ca_cert_path, ca_certs)) != TPMKMS_R_OK
        || (rc = load_ca_key(cli, libctx, ca_key_uri, &ca_key))
           != TPMKMS_R_OK
        || (rc = tpmkms_ak_cert_issue(libctx, NULL, &req, level,
                                      sk_X509_value(ca_certs, 0), ca_key,
                                      (int)days, &akcert)) != TPMKMS_R_OK
        || (rc = write_cert(out_path, akcert)) != TPMKMS_R_OK)
        goto out_fail;
    /* Single use: the same response cannot be replayed. */
    if (tpmkms_platform_remove(state) != TPMKMS_R_OK) {
        ERR_clear_error();
        fprintf(stderr, "tpmkms: note: the challenge state %s could not be "
                "removed: remove it, a challenge is for one issue\n", state);
    }
    fprintf(report, "  %-22s %s, %ld days, policy %s\n", "AK certificate",
            out_path != NULL ? out_path : "(standard output)", days,
            tpmkms_ek_level_oid(level));
    r = CLI_EXIT_OK;
    goto out;
 out_fail:
    r = fail(rc);
 out:
    OPENSSL_cleanse(secret, sizeof(secret));
    X509_free(akcert);
    EVP_PKEY_free(ca_key);
    sk_X509_pop_free(ca_certs, X509_free);
    tpmkms_enroll_request_clear(&req);
    cli_libctx_free(libctx);
    return r;
}

int cli_cmd_attest_ca(CLI *cli, int argc, char **argv)
{
    char **args;
    int i, r;

    if (argc < 2)
        return cli_usage_error(cli, "missing the subcommand (challenge or "
                               "issue)");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        char *help[] = { argv[0], argv[1] };
        int npos;

        return cli_parse(cli, 2, help, NULL, NULL, 0, &npos);
    }
    /* -o is --out, as in openssl's commands. */
    if ((args = OPENSSL_malloc(sizeof(*args) * (size_t)argc)) == NULL)
        return fail(TPMKMS_R_INTERNAL);
    for (i = 1; i < argc; i++)
        args[i - 1] = strcmp(argv[i], "-o") == 0 ? (char *)"--out" : argv[i];
    if (strcmp(argv[1], "challenge") == 0)
        r = challenge(cli, argc - 1, args);
    else if (strcmp(argv[1], "issue") == 0)
        r = issue(cli, argc - 1, args);
    else
        r = cli_usage_error(cli, "unknown subcommand '%s' (expected "
                            "challenge or issue)", argv[1]);
    OPENSSL_free(args);
    return r;
}
