/*
 * tpmkms quote and tpmkms verify-quote (docs/attestation.md, "Quotes").
 *
 * quote: TPM2_Quote of a PCR selection by an AK over a verifier's nonce,
 * through the backend's quote method, which also reads the PCRs.  With
 * --out PREFIX it writes PREFIX.msg (the TPMS_ATTEST), PREFIX.sig (the
 * TPMT_SIGNATURE) and PREFIX.pcrs (tpm2-tools' serialized PCR file), the
 * three files tpm2_checkquote -m, -s and -f read.  The quote is checked
 * with the AK's public key before anything is written.
 *
 * verify-quote: the same checks in software (no TPM), the library's
 * tpmkms_quote_verify (provider/attest/quote.c), each failure its own
 * exit code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include "attest/quote.h"
#include "attest/tpmpublic.h"
#include "cli.h"
#include "key.h"
#include "platform/platform.h"
#include "pubkey_evp.h"

/* verify-quote's exit codes (`tpmkms --help`, tpmkms(1)). */
enum {
    EXIT_QUOTE_MALFORMED = 20,   /* msg, sig or pcrs file does not parse */
    EXIT_QUOTE_SIGNATURE = 21,
    EXIT_QUOTE_NONCE = 22,
    EXIT_QUOTE_SELECTION = 23,
    EXIT_QUOTE_DIGEST = 24
};

#define NONCE_MAX 64

static int quote_fail(tpmkms_rc rc)
{
    int r = cli_fail(rc);

    switch (rc) {
    case TPMKMS_R_BAD_QUOTE:
        return EXIT_QUOTE_MALFORMED;
    case TPMKMS_R_QUOTE_SIGNATURE:
        return EXIT_QUOTE_SIGNATURE;
    case TPMKMS_R_QUOTE_NONCE:
        return EXIT_QUOTE_NONCE;
    case TPMKMS_R_QUOTE_PCR_SELECTION:
        return EXIT_QUOTE_SELECTION;
    case TPMKMS_R_QUOTE_PCR_DIGEST:
        return EXIT_QUOTE_DIGEST;
    default:
        return r;
    }
}

static void print_hex(FILE *out, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%02x", b[i]);
}

/* HEX (upper or lower case, even length, 1..NONCE_MAX bytes) into out. */
static int parse_nonce(const char *s, unsigned char *out, size_t *len)
{
    size_t n = strlen(s);

    if (n == 0 || n % 2 != 0 || n / 2 > NONCE_MAX)
        return 0;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v = 0;

        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + (size_t)k];
            unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;

            if (d == 16)
                return 0;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    *len = n / 2;
    return 1;
}

static tpmkms_hash hash_of(uint16_t alg)
{
    switch (alg) {
    case TPMKMS_TPM_ALG_SHA1:
        return TPMKMS_HASH_SHA1;
    case TPMKMS_TPM_ALG_SHA256:
        return TPMKMS_HASH_SHA256;
    case TPMKMS_TPM_ALG_SHA384:
        return TPMKMS_HASH_SHA384;
    case TPMKMS_TPM_ALG_SHA512:
        return TPMKMS_HASH_SHA512;
    default:
        return TPMKMS_HASH_NONE;
    }
}

static const char *bank_name(uint16_t alg)
{
    switch (alg) {
    case TPMKMS_TPM_ALG_SHA1:
        return "sha1";
    case TPMKMS_TPM_ALG_SHA256:
        return "sha256";
    case TPMKMS_TPM_ALG_SHA384:
        return "sha384";
    case TPMKMS_TPM_ALG_SHA512:
        return "sha512";
    default:
        return "unknown";
    }
}

/* Each bank's PCRs and values, one per line. */
static void print_pcrs(const TPMKMS_PCR_VALUES *v)
{
    size_t k = 0;

    for (size_t i = 0; i < v->sel.count; i++) {
        printf("pcrs: %s\n", bank_name(v->sel.bank[i].hash));
        for (unsigned p = 0; p < 32 && k < v->n; p++) {
            if (!(v->sel.bank[i].mask & (1u << p)))
                continue;
            printf("  %2u: ", p);
            print_hex(stdout, v->value[k].v, v->value[k].size);
            printf("\n");
            k++;
        }
    }
}

static tpmkms_rc write_one(const char *prefix, const char *suffix,
                           const unsigned char *data, size_t len)
{
    size_t n = strlen(prefix) + strlen(suffix) + 1;
    char *path = OPENSSL_malloc(n);
    tpmkms_rc rc;

    if (path == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return TPMKMS_R_INTERNAL;
    }
    snprintf(path, n, "%s%s", prefix, suffix);
    rc = tpmkms_write_file_atomic(path, data, len, 0644);
    if (rc == TPMKMS_R_OK)
        printf("wrote %s\n", path);
    OPENSSL_free(path);
    return rc;
}

/* argv with -o spelled --out, for cli_parse (which knows long options). */
static char **long_out(int argc, char **argv)
{
    char **v = OPENSSL_zalloc(sizeof(*v) * ((size_t)argc + 1));

    if (v == NULL)
        return NULL;
    for (int i = 0; i < argc; i++)
        v[i] = strcmp(argv[i], "-o") == 0 ? (char *)"--out" : argv[i];
    return v;
}

int cli_cmd_quote(CLI *cli, int argc, char **argv)
{
    const char *pcrs_arg = NULL, *nonce_arg = NULL, *out = NULL;
    const CLI_OPTION opts[] = {
        { "pcrs", "SPEC", &pcrs_arg, NULL },
        { "nonce", "HEX", &nonce_arg, NULL },
        { "out", "PREFIX", &out, NULL },
        { NULL, NULL, NULL, NULL }
    };
    const char *pos[1];
    unsigned char nonce[NONCE_MAX], *file = NULL;
    size_t nonce_len = 0, file_len = 0;
    TPMKMS_BUF attest = { NULL, 0 }, sig = { NULL, 0 }, values = { NULL, 0 };
    TPMKMS_PCR_VALUES *pv = NULL;
    TPMKMS_URI *uri = NULL;
    TPMKMS_CTX *ctx = NULL;
    TPMKMS_KEY *key = NULL;
    EVP_PKEY *pub = NULL;
    char **args = long_out(argc, argv);
    uint16_t bank = 0;
    uint32_t mask = 0;
    int npos = 0, r;
    tpmkms_rc rc;

    if (args == NULL)
        return cli_fail(TPMKMS_R_INTERNAL);
    r = cli_parse(cli, argc, args, opts, pos, 1, &npos);
    OPENSSL_free(args);
    if (r != CLI_CONTINUE)
        return r;
    if (npos != 1)
        return cli_usage_error(cli, "expected one AK URI");
    if (pcrs_arg == NULL || !tpmkms_pcr_spec_parse(pcrs_arg, &bank, &mask))
        return cli_usage_error(cli, "--pcrs takes BANK:N,N,... (BANK sha1, "
                               "sha256, sha384 or sha512; N 0 to 23), e.g. "
                               "sha256:0,1,7");
    if (nonce_arg == NULL || !parse_nonce(nonce_arg, nonce, &nonce_len))
        return cli_usage_error(cli, "--nonce takes the verifier's nonce in "
                               "hex, 1 to %d bytes", NONCE_MAX);
    if ((r = cli_parse_uri(cli, pos[0], &uri)) != CLI_CONTINUE)
        return r;
    if ((rc = cli_ctx(cli, &ctx)) != TPMKMS_R_OK
        || (rc = tpmkms_key_open(ctx, uri, &key)) != TPMKMS_R_OK)
        goto out;
    if (key->kind != TPMKMS_KIND_AK) {
        TPMKMS_raise(TPMKMS_R_NOT_AN_AK, "%s is a key, not an attestation "
                     "key: only an AK quotes (tpmkms ak create)", key->uri);
        rc = TPMKMS_R_NOT_AN_AK;
        goto out;
    }
    if ((rc = tpmkms_backend_quote(key->backend, &key->ref, hash_of(bank),
                                   mask, nonce, nonce_len, &attest, &sig,
                                   &values)) != TPMKMS_R_OK
        || (rc = tpmkms_pcr_file_make(bank, mask, values.data, values.len,
                                      &file, &file_len)) != TPMKMS_R_OK)
        goto out;
    /* What the verifier will check, checked here first. */
    if ((pv = OPENSSL_malloc(sizeof(*pv))) == NULL
        || (pub = tpmkms_public_to_evp(tpmkms_ctx_libctx(ctx), &key->pub))
           == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: out of memory", key->uri);
        rc = TPMKMS_R_INTERNAL;
        goto out;
    }
    if ((rc = tpmkms_pcr_file_parse(file, file_len, pv)) != TPMKMS_R_OK
        || (rc = tpmkms_quote_verify(tpmkms_ctx_libctx(ctx), pub, attest.data,
                                     attest.len, sig.data, sig.len, pv,
                                     nonce, nonce_len, NULL)) != TPMKMS_R_OK)
        goto out;
    printf("quote by %s\nnonce: ", key->uri);
    print_hex(stdout, nonce, nonce_len);
    printf("\n");
    print_pcrs(pv);
    if (out != NULL) {
        if ((rc = write_one(out, ".msg", attest.data, attest.len))
                != TPMKMS_R_OK
            || (rc = write_one(out, ".sig", sig.data, sig.len)) != TPMKMS_R_OK
            || (rc = write_one(out, ".pcrs", file, file_len)) != TPMKMS_R_OK)
            goto out;
    } else {
        printf("msg: ");
        print_hex(stdout, attest.data, attest.len);
        printf("\nsig: ");
        print_hex(stdout, sig.data, sig.len);
        printf("\n");
    }
out:
    EVP_PKEY_free(pub);
    OPENSSL_free(pv);
    OPENSSL_free(file);
    tpmkms_buf_clear(&attest);
    tpmkms_buf_clear(&sig);
    tpmkms_buf_clear(&values);
    tpmkms_key_free(key);
    tpmkms_uri_free(uri);
    return rc == TPMKMS_R_OK ? CLI_EXIT_OK : cli_fail(rc);
}

/* The AK's public key: a PEM public key, or the key of a PEM certificate. */
static tpmkms_rc read_ak(OSSL_LIB_CTX *libctx, const char *pub_path,
                         const char *cert_path, EVP_PKEY **out)
{
    const char *path = pub_path != NULL ? pub_path : cert_path;
    BIO *bio = BIO_new_file(path, "r");
    X509 *cert = NULL;

    *out = NULL;
    if (bio != NULL && pub_path != NULL)
        *out = PEM_read_bio_PUBKEY_ex(bio, NULL, NULL, NULL, libctx, NULL);
    else if (bio != NULL && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL))
             != NULL)
        *out = X509_get_pubkey(cert);
    X509_free(cert);
    BIO_free(bio);
    if (*out == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s: %s", path,
                     bio == NULL ? "cannot be opened"
                     : pub_path != NULL ? "no PEM public key"
                     : "no PEM certificate with a public key");
        return TPMKMS_R_BAD_PARAMETER;
    }
    return TPMKMS_R_OK;
}

int cli_cmd_verify_quote(CLI *cli, int argc, char **argv)
{
    const char *ak_pub = NULL, *ak_cert = NULL, *msg_path = NULL,
        *sig_path = NULL, *pcrs_path = NULL, *nonce_arg = NULL;
    const CLI_OPTION opts[] = {
        { "ak-pub", "PEM", &ak_pub, NULL },
        { "ak-cert", "PEM", &ak_cert, NULL },
        { "msg", "FILE", &msg_path, NULL },
        { "sig", "FILE", &sig_path, NULL },
        { "pcrs", "FILE", &pcrs_path, NULL },
        { "nonce", "HEX", &nonce_arg, NULL },
        { NULL, NULL, NULL, NULL }
    };
    unsigned char nonce[NONCE_MAX];
    size_t nonce_len = 0, msg_len = 0, sig_len = 0, pcrs_len = 0;
    char *msg = NULL, *sig = NULL, *pcrs = NULL;
    TPMKMS_PCR_VALUES *pv = NULL;
    TPMKMS_QUOTE_INFO q;
    OSSL_LIB_CTX *libctx = NULL;
    EVP_PKEY *ak = NULL;
    int npos = 0, r;
    tpmkms_rc rc;

    if ((r = cli_parse(cli, argc, argv, opts, NULL, 0, &npos)) != CLI_CONTINUE)
        return r;
    if ((ak_pub == NULL) == (ak_cert == NULL))
        return cli_usage_error(cli, "give the AK's public key with one of "
                               "--ak-pub PEM and --ak-cert PEM");
    if (msg_path == NULL || sig_path == NULL || pcrs_path == NULL)
        return cli_usage_error(cli, "--msg, --sig and --pcrs name the three "
                               "files of the quote");
    if (nonce_arg == NULL || !parse_nonce(nonce_arg, nonce, &nonce_len))
        return cli_usage_error(cli, "--nonce takes the nonce the quote was "
                               "asked for, in hex, 1 to %d bytes", NONCE_MAX);
    if ((rc = cli_libctx_new(&libctx)) != TPMKMS_R_OK)
        goto out;
    if ((pv = OPENSSL_malloc(sizeof(*pv))) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        rc = TPMKMS_R_INTERNAL;
        goto out;
    }
    if ((rc = read_ak(libctx, ak_pub, ak_cert, &ak)) != TPMKMS_R_OK
        || (rc = tpmkms_read_file(msg_path, &msg, &msg_len)) != TPMKMS_R_OK
        || (rc = tpmkms_read_file(sig_path, &sig, &sig_len)) != TPMKMS_R_OK
        || (rc = tpmkms_read_file(pcrs_path, &pcrs, &pcrs_len)) != TPMKMS_R_OK
        || (rc = tpmkms_pcr_file_parse((unsigned char *)pcrs, pcrs_len, pv))
           != TPMKMS_R_OK
        || (rc = tpmkms_quote_verify(libctx, ak, (unsigned char *)msg,
                                     msg_len, (unsigned char *)sig, sig_len,
                                     pv, nonce, nonce_len, &q)) != TPMKMS_R_OK)
        goto out;
    printf("quote OK: signed by the AK, nonce ");
    print_hex(stdout, nonce, nonce_len);
    printf(", PCR digest matches the values below\n");
    printf("clock %llu, resets %u, restarts %u, safe %u, firmware 0x%016llx\n",
           (unsigned long long)q.clock, (unsigned)q.reset_count,
           (unsigned)q.restart_count, (unsigned)q.safe,
           (unsigned long long)q.firmware);
    print_pcrs(pv);
out:
    EVP_PKEY_free(ak);
    OPENSSL_free(pv);
    OPENSSL_free(msg);
    OPENSSL_free(sig);
    OPENSSL_free(pcrs);
    cli_libctx_free(libctx);
    return rc == TPMKMS_R_OK ? CLI_EXIT_OK : quote_fail(rc);
}
