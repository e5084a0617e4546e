/*
 * tpmkms registers two key managements for each of EC and RSA (see
 * keymgmt.c's dispatch tables): one without provider=tpmkms that an empty
 * property query finds and that makes software keys when no uri is given,
 * and a TPM-only one that provider=tpmkms finds.  This program, driven by
 * genpkey_creates_tpm_keys.sh, uses TPM keys held by either through
 * operations that fetch the other, in one process, and checks that no TPM
 * key ever turns into a software or public-only key on the way: every
 * signature is tpmkms's and verifies with the public key in the default
 * provider.
 *
 *   keymgmt_pair ORDER NEW_URI EXISTING_URI KEY_FILE
 *
 * ORDER (tpmkms-first, default-first) is the order in which the program
 * loads the two providers; with OPENSSL_CONF set (tpmkms activated there)
 * it loads none, and the configuration's order counts.
 *
 *   - EC generation with provider=tpmkms and no uri fails, naming the uri;
 *     without a property query it makes a software key whose private key
 *     can be read (libssl's ephemeral keys);
 *   - NEW_URI is made with provider=tpmkms (the TPM-only keymgmt);
 *   - EXISTING_URI is opened through OSSL_STORE, and KEY_FILE (a TSS2
 *     PRIVATE KEY PEM) through OSSL_DECODER, each with no property query
 *     and with provider=tpmkms;
 *   - each of those keys, and its EVP_PKEY_dup copy, signs in contexts
 *     made with no property query and with provider=tpmkms; the keys of
 *     one TPM key compare equal whichever keymgmt holds them.
 *
 * Exit 0 when everything held; every failure is printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/store.h>

#define TPMKMS_Q "provider=tpmkms"

static int failures;

static void failf(const char *what, const char *detail)
{
    fprintf(stderr, "keymgmt_pair: FAILED: %s%s%s\n", what,
            detail != NULL ? ": " : "", detail != NULL ? detail : "");
    ERR_print_errors_fp(stderr);
    failures++;
}

static const char *q_name(const char *propq)
{
    return propq != NULL ? propq : "no property query";
}

/* The public half in the default provider, through a PEM round trip. */
static EVP_PKEY *public_copy(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    EVP_PKEY *pub = NULL;

    if (bio != NULL && PEM_write_bio_PUBKEY(bio, key) == 1)
        pub = PEM_read_bio_PUBKEY_ex(bio, NULL, NULL, NULL, NULL,
                                     "provider=default");
    BIO_free(bio);
    return pub;
}

/*
 * key signs a SHA-256 digest in a context made with propq; the signature
 * is tpmkms's and verifies with the public half in the default provider.
 */
static void check_signs(const char *label, EVP_PKEY *key, const char *propq)
{
    unsigned char digest[32] = { 't', 'p', 'm' }, sig[1024];
    size_t siglen = sizeof(sig);
    EVP_PKEY_CTX *sctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, propq);
    EVP_PKEY_CTX *vctx = NULL;
    EVP_PKEY *pub = NULL;
    const OSSL_PROVIDER *prov;
    char what[256];

    snprintf(what, sizeof(what), "%s signs (context with %s)", label,
             q_name(propq));
    if (sctx == NULL || EVP_PKEY_sign_init(sctx) != 1
            || EVP_PKEY_CTX_set_signature_md(sctx, EVP_sha256()) != 1) {
        failf(what, "sign init");
        goto out;
    }
    prov = EVP_PKEY_CTX_get0_provider(sctx);
    if (prov == NULL || strcmp(OSSL_PROVIDER_get0_name(prov), "tpmkms") != 0) {
        failf(what, "the signature is not tpmkms's");
        goto out;
    }
    if (EVP_PKEY_sign(sctx, sig, &siglen, digest, sizeof(digest)) != 1) {
        failf(what, "sign");
        goto out;
    }
    if ((pub = public_copy(key)) == NULL
            || (vctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub,
                                                  "provider=default")) == NULL
            || EVP_PKEY_verify_init(vctx) != 1
            || EVP_PKEY_CTX_set_signature_md(vctx, EVP_sha256()) != 1
            || EVP_PKEY_verify(vctx, sig, siglen, digest, sizeof(digest)) != 1) {
        failf(what, "the signature does not verify with the public key");
        goto out;
    }
    printf("%s: tpmkms signature, verified\n", what);
 out:
    EVP_PKEY_CTX_free(sctx);
    EVP_PKEY_CTX_free(vctx);
    EVP_PKEY_free(pub);
}

/* key and its copy sign in contexts of both kinds. */
static void check_key(const char *label, EVP_PKEY *key)
{
    EVP_PKEY *dup;
    char dup_label[128];

    if (key == NULL) {
        failf(label, "no key");
        return;
    }
    printf("%s: held by \"%s\"\n", label, EVP_PKEY_get0_description(key));
    check_signs(label, key, NULL);
    check_signs(label, key, TPMKMS_Q);
    snprintf(dup_label, sizeof(dup_label), "%s (EVP_PKEY_dup)", label);
    if ((dup = EVP_PKEY_dup(key)) == NULL) {
        failf(dup_label, "no copy");
        return;
    }
    check_signs(dup_label, dup, NULL);
    check_signs(dup_label, dup, TPMKMS_Q);
    EVP_PKEY_free(dup);
}

static EVP_PKEY *generate(const char *propq, const char *uri)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", propq);
    EVP_PKEY *key = NULL;
    OSSL_PARAM params[3], *p = params;

    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                            (char *)"P-256", 0);
    if (uri != NULL)
        *p++ = OSSL_PARAM_construct_utf8_string("uri", (char *)uri, 0);
    *p = OSSL_PARAM_construct_end();
    if (pctx == NULL || EVP_PKEY_keygen_init(pctx) != 1
            || EVP_PKEY_CTX_set_params(pctx, params) != 1
            || EVP_PKEY_generate(pctx, &key) != 1)
        key = NULL;
    EVP_PKEY_CTX_free(pctx);
    return key;
}

static EVP_PKEY *open_uri(const char *uri, const char *propq)
{
    OSSL_STORE_CTX *store = OSSL_STORE_open_ex(uri, NULL, propq, NULL, NULL,
                                               NULL, NULL, NULL);
    EVP_PKEY *key = NULL;

    while (store != NULL && key == NULL && !OSSL_STORE_eof(store)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(store);

        if (info != NULL && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            key = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(store);
    return key;
}

static EVP_PKEY *decode_file(const char *path, const char *propq)
{
    EVP_PKEY *key = NULL;
    OSSL_DECODER_CTX *dctx;
    BIO *bio = BIO_new_file(path, "rb");

    dctx = OSSL_DECODER_CTX_new_for_pkey(&key, "PEM", NULL, NULL,
                                         OSSL_KEYMGMT_SELECT_KEYPAIR, NULL,
                                         propq);
    if (bio == NULL || dctx == NULL || OSSL_DECODER_from_bio(dctx, bio) != 1) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    OSSL_DECODER_CTX_free(dctx);
    BIO_free(bio);
    return key;
}

static void check_same(const char *what, EVP_PKEY *a, EVP_PKEY *b, int want)
{
    int eq;

    if (a == NULL || b == NULL)
        return;
    if ((eq = EVP_PKEY_eq(a, b)) != want) {
        char detail[64];

        snprintf(detail, sizeof(detail), "EVP_PKEY_eq is %d, not %d", eq, want);
        failf(what, detail);
        return;
    }
    printf("%s: EVP_PKEY_eq %d\n", what, eq);
}

static int load_providers(const char *order)
{
    const char *first, *second;

    /*
     * Not OSSL_PROVIDER_available: its look-up sorts OpenSSL's list of
     * providers by name, and fetches would then find default first.
     */
    if (getenv("OPENSSL_CONF") != NULL && *getenv("OPENSSL_CONF") != '\0')
        return 1;
    if (strcmp(order, "tpmkms-first") == 0) {
        first = "tpmkms";
        second = "default";
    } else if (strcmp(order, "default-first") == 0) {
        first = "default";
        second = "tpmkms";
    } else {
        fprintf(stderr, "keymgmt_pair: ORDER must be tpmkms-first or default-first\n");
        return 0;
    }
    if (OSSL_PROVIDER_load(NULL, first) == NULL
            || OSSL_PROVIDER_load(NULL, second) == NULL) {
        failf("loading the providers", order);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    EVP_PKEY *made, *soft, *store_plain, *store_q, *file_plain, *file_q;
    BIGNUM *priv = NULL;
    const char *errdata = NULL;
    int errflags = 0;

    if (argc != 5) {
        fprintf(stderr, "usage: keymgmt_pair ORDER NEW_URI EXISTING_URI KEY_FILE\n");
        return 2;
    }
    if (!load_providers(argv[1]))
        return 1;

    if ((soft = generate(TPMKMS_Q, NULL)) != NULL) {
        failf("EC generation with provider=tpmkms and no uri", "it made a key");
        EVP_PKEY_free(soft);
    } else if (ERR_peek_last_error_data(&errdata, &errflags) == 0
               || errdata == NULL || strstr(errdata, "-pkeyopt uri:") == NULL) {
        failf("EC generation with provider=tpmkms and no uri",
              "the error does not say to give -pkeyopt uri:");
    } else {
        printf("EC generation with provider=tpmkms and no uri: refused: %s\n",
               errdata);
        ERR_clear_error();
    }
    soft = generate(NULL, NULL);
    if (soft == NULL
            || EVP_PKEY_get_bn_param(soft, OSSL_PKEY_PARAM_PRIV_KEY, &priv) != 1)
        failf("EC generation without a property query or uri",
              "no software key with a readable private key");
    else
        printf("EC generation without a property query or uri: a software key "
               "(held by \"%s\")\n", EVP_PKEY_get0_description(soft));
    BN_clear_free(priv);
    EVP_PKEY_free(soft);

    made = generate(TPMKMS_Q, argv[2]);
    check_key("made with provider=tpmkms", made);
    store_plain = open_uri(argv[3], NULL);
    store_q = open_uri(argv[3], TPMKMS_Q);
    check_key("OSSL_STORE, no property query", store_plain);
    check_key("OSSL_STORE, provider=tpmkms", store_q);
    file_plain = decode_file(argv[4], NULL);
    file_q = decode_file(argv[4], TPMKMS_Q);
    check_key("key file, no property query", file_plain);
    check_key("key file, provider=tpmkms", file_q);

    check_same("the store's keys of both keymgmts", store_plain, store_q, 1);
    check_same("the store's key and the key file's", store_q, file_plain, 1);
    check_same("the key file's keys of both keymgmts", file_plain, file_q, 1);
    check_same("the made key and the store's", made, store_plain, 0);

    EVP_PKEY_free(made);
    EVP_PKEY_free(store_plain);
    EVP_PKEY_free(store_q);
    EVP_PKEY_free(file_plain);
    EVP_PKEY_free(file_q);
    if (failures != 0) {
        fprintf(stderr, "keymgmt_pair: %d failures\n", failures);
        return 1;
    }
    printf("keymgmt_pair: all held\n");
    return 0;
}
