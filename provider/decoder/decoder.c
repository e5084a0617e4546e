/*
 * Decoders for TPM key files: TSS2 PRIVATE KEY (the format of tpm2-openssl
 * and openssl_tpm2_engine) to a tpmkms key, so a program that only knows
 * key files (nginx's ssl_certificate_key, curl --key, openssl -key) signs
 * with a TPM key once tpmkms is activated in its openssl.cnf.
 *
 *   EC, RSA   input=der: a TPMKey SEQUENCE.  The key object goes to the
 *             caller by reference (the TPMKMS_KEY pointer, as the store
 *             loader does); our keymgmt's load takes its own ref.
 *   DER       input=pem: the "TSS2 PRIVATE KEY" PEM block, anywhere in
 *             the text (a tpmkms key record ends with one), to DER.
 *             OpenSSL 3.0's own PEM-to-DER decoder passes only the labels
 *             it knows, so this one is needed for PEM key files.
 *   DER       input=der: the check.  It decodes a TSS2 key as the EC and
 *             RSA decoders do and fails, with the reason, when they would;
 *             a key that would load it passes over (1, no object), and
 *             the EC or RSA decoder makes the key.  When the caller selects
 *             the public key alone (openssl pkey -pubin), it neither asks
 *             for an auth value nor contacts the TPM, and outputs the key's
 *             SubjectPublicKeyInfo DER, which OpenSSL's own SPKI decoders
 *             turn into an ordinary public key (a key by reference would be
 *             dropped there by OpenSSL 3.0, as it has a private half); the
 *             EC and RSA decoders then pass.
 *
 * Why the check: OSSL_STORE's file: loader (openssl -key/-inkey/-in)
 * decodes a file in two rounds.  Its own decoder chain ends in DER handed
 * to ossl_store_handle_load_result, which decodes that DER into a key
 * with a second chain, between error marks that OpenSSL 3.0 pops when
 * the second chain fails, and raises its own "unsupported" instead: the
 * EC and RSA decoders' reason is lost there.  The check sits in the first
 * chain (it outputs DER, so the file: loader adds it), where a decoder
 * that returns 0 stops decoding with its error kept and on top, so
 * OSSL_DECODER_from_bio adds no "No supported data to decode" and the
 * file: loader pops nothing.  PEM_read_bio_PrivateKey and d2i_PrivateKey
 * (nginx, OpenVPN, curl) run it too, before the EC or RSA decoder.
 * The cost is decoding twice, with the key's passphrase asked twice of
 * the caller's callback (OpenSSL caches it); the TPM is checked once (the
 * EC or RSA decoder skips the check the check decoder just passed).
 *
 * What is not a TSS2 key is not an error here: the decoders return 1 with
 * no object and leave the error queue as it was, and OpenSSL tries the
 * other decoders.
 *
 * Decoding checks that the TPM answers and holds the key's parent, over a
 * connection of its own that is closed before returning: a server that
 * loads its key in a master process and signs in forked workers (nginx)
 * fails to start when its TPM is gone, and the master holds no TPM
 * connection (a TPM without resource manager serves one at a time).
 * Only for TCTIs that leave nothing behind in the process: the kernel
 * device (/dev/tpmrm0), swtpm and mssim.  tpm2-abrmd's TCTI keeps GLib's
 * D-Bus connection for the life of the process, and a child forked after
 * it was used cannot reach abrmd at all, so with tabrmd (or the TCTI
 * loader's default, which tries tabrmd first) a missing TPM shows at the
 * first signature instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/crypto.h>
#include "provider.h"
#include "key.h"
#include "keyauth.h"
#include "tss2key.h"
#include "errors.h"
#include "debug.h"

static OSSL_FUNC_decoder_newctx_fn tpmkms_decoder_newctx;
static OSSL_FUNC_decoder_freectx_fn tpmkms_decoder_freectx;
static OSSL_FUNC_decoder_does_selection_fn tpmkms_key_does_selection;
static OSSL_FUNC_decoder_does_selection_fn tpmkms_pem_does_selection;
static OSSL_FUNC_decoder_decode_fn tpmkms_ec_der_decode;
static OSSL_FUNC_decoder_decode_fn tpmkms_rsa_der_decode;
static OSSL_FUNC_decoder_decode_fn tpmkms_pem_decode;
static OSSL_FUNC_decoder_decode_fn tpmkms_check_decode;

/* A TSS2 key file is a few hundred bytes; anything this big is not one. */
#define DECODER_MAX_INPUT (64 * 1024)

typedef struct tpmkms_decoder_ctx_st {
    TPMKMS_PROVCTX *provctx;
} TPMKMS_DECODER_CTX;

typedef enum {
    DECODER_FAMILY_EC,
    DECODER_FAMILY_RSA,
    DECODER_FAMILY_ANY                  /* the check: EC or RSA */
} decoder_family;

static void *tpmkms_decoder_newctx(void *provctx)
{
    TPMKMS_DECODER_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return NULL;
    }
    ctx->provctx = provctx;
    return ctx;
}

static void tpmkms_decoder_freectx(void *vctx)
{
    OPENSSL_free(vctx);
}

/* A key file holds a key pair (its public half readable without the TPM). */
static int tpmkms_key_does_selection(void *provctx, int selection)
{
    return selection == 0 || (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0;
}

static int tpmkms_pem_does_selection(void *provctx, int selection)
{
    return 1;
}

/*
 * Reads all of cin, up to DECODER_MAX_INPUT bytes.  Returns 1 and the
 * bytes, 1 and NULL when the input is too big to be ours, 0 on failure.
 */
static int read_input(TPMKMS_DECODER_CTX *ctx, OSSL_CORE_BIO *cin,
                      unsigned char **data, size_t *len)
{
    BIO *in = BIO_new_from_core_bio(tpmkms_provctx_libctx(ctx->provctx), cin);
    unsigned char *buf = NULL;
    size_t have = 0;
    int n, ok = 0;

    *data = NULL;
    *len = 0;
    if (in == NULL || (buf = OPENSSL_malloc(DECODER_MAX_INPUT + 1)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory reading a key file");
        goto out;
    }
    while (have <= DECODER_MAX_INPUT
           && (n = BIO_read(in, buf + have,
                            (int)(DECODER_MAX_INPUT + 1 - have))) > 0)
        have += (size_t)n;
    ok = 1;
    if (have == 0 || have > DECODER_MAX_INPUT)
        goto out;
    *data = buf;
    *len = have;
    buf = NULL;
 out:
    OPENSSL_free(buf);
    BIO_free(in);
    return ok;
}

/* Does data contain needle?  (Bounded: key files may hold NULs.) */
static int contains(const unsigned char *data, size_t len,
                    const void *needle, size_t nlen)
{
    for (size_t i = 0; nlen <= len && i <= len - nlen; i++)
        if (memcmp(data + i, needle, nlen) == 0)
            return 1;
    return 0;
}

/*
 * Does this DER claim to be a TPMKey: a SEQUENCE whose first element is
 * the loadable-key OID (2.23.133.10.1.3)?  Such input that then fails to
 * parse is a damaged key file, not someone else's format.
 */
static int looks_like_tpmkey(const unsigned char *der, size_t len)
{
    static const unsigned char oid[] = {
        0x06, 0x06, 0x67, 0x81, 0x05, 0x0a, 0x01, 0x03
    };

    return len > 2 && der[0] == 0x30 && contains(der, len < 16 ? len : 16,
                                                  oid, sizeof(oid));
}

/*
 * 1: a TSS2 PRIVATE KEY.  0 and nothing raised: not one (other decoders
 * try).  -1: a damaged one, raised.
 */
static int parse_der(const unsigned char *der, size_t len,
                     TPMKMS_KEYBLOB *blob)
{
    tpmkms_rc rc;

    tpmkms_err_set_mark();
    rc = tpmkms_tss2key_from_der(der, len, blob);
    if (rc == TPMKMS_R_OK) {
        tpmkms_err_clear_last_mark();
        return 1;
    }
    if (looks_like_tpmkey(der, len)) {
        tpmkms_err_clear_last_mark();
        return -1;
    }
    tpmkms_err_pop_to_mark();
    return 0;
}

/*
 * Does the TPM answer, and hold the key's parent?  Over a connection of
 * its own, closed before returning (see the top of the file), and only
 * when the backend says such a connection leaves nothing behind in a
 * process that may fork next.  The backend raises what is missing.
 */
static tpmkms_rc check_tpm(TPMKMS_CTX *tctx, const TPMKMS_KEY *key)
{
    TPMKMS_BACKEND *shared = tpmkms_ctx_backend(tctx, NULL);
    TPMKMS_BACKEND *probe = NULL;
    tpmkms_rc rc;

    if (shared == NULL)
        return TPMKMS_R_INTERNAL;
    if (!tpmkms_backend_survives_fork(shared)) {
        tpmkms_backend_free(shared);
        TPMKMS_debug("%s: TPM not checked now (its connection would not "
                     "survive a fork)", key->uri);
        return TPMKMS_R_OK;
    }
    probe = tpmkms_backend_new(tpmkms_backend_method(shared),
                               tpmkms_backend_conn(shared));
    tpmkms_backend_free(shared);
    if (probe == NULL)
        return TPMKMS_R_INTERNAL;
    tpmkms_err_set_mark();
    rc = tpmkms_backend_check_key(probe, &key->ref);
    tpmkms_backend_free(probe);
    if (rc == TPMKMS_R_TPM_UNAVAILABLE || rc == TPMKMS_R_KEY_NOT_FOUND) {
        tpmkms_err_clear_last_mark();
        return rc;
    }
    /* Anything else (a parent we cannot describe, say) is for the load. */
    tpmkms_err_pop_to_mark();
    return TPMKMS_R_OK;
}

/*
 * The check decoder and then the EC or RSA decoder decode the same key
 * file in one load, on one thread, microseconds apart: the second one
 * skips the TPM check the first just passed (a connection and a
 * TPM2_ReadPublic saved per key file load).  A thread's last passed check,
 * by the SHA-256 of the key's DER, used once.  Anything else checks.
 */
static __thread unsigned char just_checked[SHA256_DIGEST_LENGTH];
static __thread int have_just_checked;

static void der_digest(const unsigned char *der, size_t len,
                       unsigned char md[SHA256_DIGEST_LENGTH])
{
    if (SHA256(der, len, md) == NULL)
        memset(md, 0, SHA256_DIGEST_LENGTH);
}

static tpmkms_rc check_tpm_once(TPMKMS_CTX *tctx, const TPMKMS_KEY *key,
                                const unsigned char *der, size_t len,
                                int remember)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    tpmkms_rc rc;

    der_digest(der, len, md);
    if (have_just_checked && CRYPTO_memcmp(md, just_checked, sizeof(md)) == 0) {
        have_just_checked = 0;
        TPMKMS_debug("%s: the TPM was checked for this key file just now",
                     key->uri);
        return TPMKMS_R_OK;
    }
    have_just_checked = 0;
    if ((rc = check_tpm(tctx, key)) == TPMKMS_R_OK && remember) {
        memcpy(just_checked, md, sizeof(md));
        have_just_checked = 1;
    }
    return rc;
}

static int family_has_alg(decoder_family family, tpmkms_alg alg)
{
    switch (family) {
    case DECODER_FAMILY_EC:
        return tpmkms_alg_is_ec(alg);
    case DECODER_FAMILY_RSA:
        return tpmkms_alg_is_rsa(alg);
    case DECODER_FAMILY_ANY:
        break;
    }
    return tpmkms_alg_is_ec(alg) || tpmkms_alg_is_rsa(alg);
}

/*
 * The key of a blob, if it is of this family; *key NULL (and nothing
 * raised) if it is not.
 */
static tpmkms_rc key_of_blob(TPMKMS_CTX *tctx, const TPMKMS_KEYBLOB *blob,
                             decoder_family family, TPMKMS_KEY **key)
{
    TPMKMS_BACKEND *backend;
    TPMKMS_KEYINFO info;
    char label[96];
    tpmkms_rc rc;

    *key = NULL;
    if ((backend = tpmkms_ctx_backend(tctx, NULL)) == NULL)
        return TPMKMS_R_INTERNAL;
    tpmkms_err_set_mark();
    rc = tpmkms_keyblob_info(backend, blob, &info, "TSS2 key file");
    tpmkms_backend_free(backend);
    if (rc != TPMKMS_R_OK || !family_has_alg(family, info.pub.alg)) {
        /*
         * Another family's decoder takes it, or it is bad for all: then
         * the RSA decoder and the check say so, once each.
         */
        if (rc == TPMKMS_R_OK || family == DECODER_FAMILY_EC) {
            tpmkms_err_pop_to_mark();
            return TPMKMS_R_OK;
        }
        tpmkms_err_clear_last_mark();
        return rc;
    }
    tpmkms_err_clear_last_mark();
    snprintf(label, sizeof(label), "TSS2 key file (%s, parent 0x%08x%s)",
             tpmkms_alg_name(info.pub.alg), (unsigned)blob->parent,
             blob->empty_auth ? "" : ", with auth value");
    return tpmkms_key_from_blob(tctx, blob, label, key);
}

/*
 * The usable key of a TSS2 key file's DER, if it is of this family: 1 and
 * the key, 1 and NULL when it is no TSS2 key or another family's (nothing
 * raised), 0 when it is a TSS2 key that cannot be used (raised: damaged,
 * no auth value given, TPM or parent missing).
 */
/* A selection of the public half without the private one. */
static int public_only(int selection)
{
    return selection != 0
           && (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) == 0;
}

static int decode_key(TPMKMS_DECODER_CTX *ctx, OSSL_CORE_BIO *cin,
                      int selection, decoder_family family,
                      OSSL_PASSPHRASE_CALLBACK *pw_cb,
                      void *pw_cbarg, TPMKMS_KEY **keyp)
{
    TPMKMS_CTX *tctx = tpmkms_provctx_ctx(ctx->provctx);
    TPMKMS_KEYBLOB blob = { 0 };
    TPMKMS_KEY *key = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0;
    int ok = 0, parsed;

    *keyp = NULL;
    if (!read_input(ctx, cin, &der, &der_len))
        return 0;
    parsed = der == NULL ? 0 : parse_der(der, der_len, &blob);
    if (parsed <= 0) {
        ok = parsed == 0;               /* not a TSS2 key: not ours */
        goto out;
    }
    if (key_of_blob(tctx, &blob, family, &key) != TPMKMS_R_OK)
        goto out;
    if (key == NULL) {
        ok = 1;                         /* the other family's */
        goto out;
    }
    /*
     * The key file's auth value, when it has one (emptyAuth false), is its
     * passphrase (openssl -passin/-pass, nginx ssl_password_file); none
     * fails the load before anything is sent to the TPM (keyauth.h).  A
     * caller that selects the public key alone (openssl pkey -pubin) needs
     * neither the auth value nor the TPM: the key file holds the public
     * half.
     */
    if (!public_only(selection)
            && (tpmkms_key_ask_auth(key, pw_cb, pw_cbarg) != TPMKMS_R_OK
                || check_tpm_once(tctx, key, der, der_len,
                                  family == DECODER_FAMILY_ANY)
                   != TPMKMS_R_OK))
        goto out;
    *keyp = key;
    key = NULL;
    ok = 1;
 out:
    tpmkms_key_free(key);
    tpmkms_keyblob_clear(&blob);
    OPENSSL_free(der);
    return ok;
}

static int der_decode(void *vctx, OSSL_CORE_BIO *cin, int selection,
                      OSSL_CALLBACK *object_cb, void *object_cbarg,
                      OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg,
                      decoder_family family)
{
    TPMKMS_KEY *key = NULL;
    int ok;

    /* The public half alone comes from the check decoder, as DER. */
    if (public_only(selection))
        return 1;
    if (!decode_key(vctx, cin, selection, family, pw_cb, pw_cbarg, &key))
        return 0;
    if (key == NULL)
        return 1;
    TPMKMS_debug("decoded %s", key->uri);
    /* keymgmt's load takes its own reference during the callback. */
    ok = tpmkms_key_hand_out(key, object_cb, object_cbarg);
    tpmkms_key_free(key);
    return ok;
}

static int tpmkms_ec_der_decode(void *vctx, OSSL_CORE_BIO *cin, int selection,
                                OSSL_CALLBACK *object_cb, void *object_cbarg,
                                OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    return der_decode(vctx, cin, selection, object_cb, object_cbarg, pw_cb,
                      pw_cbarg, DECODER_FAMILY_EC);
}

static int tpmkms_rsa_der_decode(void *vctx, OSSL_CORE_BIO *cin, int selection,
                                 OSSL_CALLBACK *object_cb, void *object_cbarg,
                                 OSSL_PASSPHRASE_CALLBACK *pw_cb,
                                 void *pw_cbarg)
{
    return der_decode(vctx, cin, selection, object_cb, object_cbarg, pw_cb,
                      pw_cbarg, DECODER_FAMILY_RSA);
}

/*
 * The check (see the top of the file): a TSS2 key that would not load
 * fails here, where OpenSSL keeps the reason; one that would passes over
 * to the EC or RSA decoder.  Anything else is not ours.
 */
static int tpmkms_check_decode(void *vctx, OSSL_CORE_BIO *cin, int selection,
                               OSSL_CALLBACK *data_cb, void *data_cbarg,
                               OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    TPMKMS_KEY *key = NULL;
    int ok = 1;

    if (!decode_key(vctx, cin, selection, DECODER_FAMILY_ANY, pw_cb, pw_cbarg,
                    &key))
        return 0;
    if (key != NULL && public_only(selection)) {
        /*
         * The public half alone (openssl pkey -pubin): a SubjectPublicKeyInfo
         * that the SPKI decoders after this one turn into an ordinary
         * public key; OpenSSL 3.0 would drop a key by reference there, as
         * it has a private half.
         */
        ok = tpmkms_key_hand_out_public(key,
                 tpmkms_provctx_libctx(((TPMKMS_DECODER_CTX *)vctx)->provctx),
                 data_cb, data_cbarg);
    } else if (key != NULL) {
        TPMKMS_debug("checked %s: the EC or RSA decoder loads it", key->uri);
    }
    tpmkms_key_free(key);
    return ok;
}

/*
 * PEM to DER for the TSS2 PRIVATE KEY label only.  The block may follow
 * other text (a tpmkms key record's header lines).
 */
static int tpmkms_pem_decode(void *vctx, OSSL_CORE_BIO *cin, int selection,
                             OSSL_CALLBACK *data_cb, void *data_cbarg,
                             OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    static const char pem_begin[] = "-----BEGIN " TPMKMS_TSS2_PEM_LABEL "-----";
    TPMKMS_DECODER_CTX *ctx = vctx;
    unsigned char *text = NULL;
    size_t text_len = 0;
    TPMKMS_KEYBLOB blob = { 0 };
    unsigned char *der = NULL;
    size_t der_len = 0;
    int object_type = OSSL_OBJECT_PKEY;
    OSSL_PARAM params[4];
    tpmkms_rc rc;
    int ok = 0;

    if (!read_input(ctx, cin, &text, &text_len))
        return 0;
    if (text == NULL) {
        ok = 1;
        goto out;
    }
    if (!contains(text, text_len, pem_begin, sizeof(pem_begin) - 1)) {
        ok = 1;                         /* no TSS2 key here: not ours */
        goto out;
    }
    /*
     * tpmkms_tss2key_from_pem finds the block and checks it is a TPMKey;
     * what it finds is written out again as DER for the key decoders.
     * A block that does not parse is a damaged key file: its error stays.
     */
    rc = tpmkms_tss2key_from_pem((const char *)text, text_len, &blob);
    if (rc == TPMKMS_R_OK)
        rc = tpmkms_tss2key_to_der(&blob, &der, &der_len);
    if (rc != TPMKMS_R_OK)
        goto out;
    params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &object_type);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA,
                                                  der, der_len);
    params[2] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_STRUCTURE,
                                                 "TSS2", 0);
    params[3] = OSSL_PARAM_construct_end();
    ok = data_cb(params, data_cbarg);
 out:
    tpmkms_keyblob_clear(&blob);
    OPENSSL_free(der);
    OPENSSL_free(text);
    return ok;
}

static const OSSL_DISPATCH tpmkms_ec_der_decoder_functions[] = {
    { OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))tpmkms_decoder_newctx },
    { OSSL_FUNC_DECODER_FREECTX, (void (*)(void))tpmkms_decoder_freectx },
    { OSSL_FUNC_DECODER_DOES_SELECTION,
      (void (*)(void))tpmkms_key_does_selection },
    { OSSL_FUNC_DECODER_DECODE, (void (*)(void))tpmkms_ec_der_decode },
    { 0, NULL }
};

static const OSSL_DISPATCH tpmkms_rsa_der_decoder_functions[] = {
    { OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))tpmkms_decoder_newctx },
    { OSSL_FUNC_DECODER_FREECTX, (void (*)(void))tpmkms_decoder_freectx },
    { OSSL_FUNC_DECODER_DOES_SELECTION,
      (void (*)(void))tpmkms_key_does_selection },
    { OSSL_FUNC_DECODER_DECODE, (void (*)(void))tpmkms_rsa_der_decode },
    { 0, NULL }
};

static const OSSL_DISPATCH tpmkms_pem_decoder_functions[] = {
    { OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))tpmkms_decoder_newctx },
    { OSSL_FUNC_DECODER_FREECTX, (void (*)(void))tpmkms_decoder_freectx },
    { OSSL_FUNC_DECODER_DOES_SELECTION,
      (void (*)(void))tpmkms_pem_does_selection },
    { OSSL_FUNC_DECODER_DECODE, (void (*)(void))tpmkms_pem_decode },
    { 0, NULL }
};

static const OSSL_DISPATCH tpmkms_check_decoder_functions[] = {
    { OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))tpmkms_decoder_newctx },
    { OSSL_FUNC_DECODER_FREECTX, (void (*)(void))tpmkms_decoder_freectx },
    { OSSL_FUNC_DECODER_DOES_SELECTION,
      (void (*)(void))tpmkms_pem_does_selection },
    { OSSL_FUNC_DECODER_DECODE, (void (*)(void))tpmkms_check_decode },
    { 0, NULL }
};

#define TPMKMS_EC_NAMES "EC:id-ecPublicKey:1.2.840.10045.2.1"
#define TPMKMS_RSA_NAMES "RSA:rsaEncryption:1.2.840.113549.1.1.1"

const OSSL_ALGORITHM tpmkms_decoder_algorithms[] = {
    { TPMKMS_EC_NAMES, TPMKMS_PROPS ",input=der,structure=TSS2",
      tpmkms_ec_der_decoder_functions, "EC TPM key file, TSS2 PRIVATE KEY DER" },
    { TPMKMS_RSA_NAMES, TPMKMS_PROPS ",input=der,structure=TSS2",
      tpmkms_rsa_der_decoder_functions, "RSA TPM key file, TSS2 PRIVATE KEY DER" },
    { "DER", TPMKMS_PROPS ",input=pem",
      tpmkms_pem_decoder_functions, "TSS2 PRIVATE KEY PEM to DER" },
    { "DER", TPMKMS_PROPS ",input=der,structure=TSS2",
      tpmkms_check_decoder_functions,
      "TSS2 PRIVATE KEY DER check: why a key file cannot be used" },
    { NULL, NULL, NULL, NULL }
};
