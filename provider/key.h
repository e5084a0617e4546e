/*
 * TPMKMS_KEY: one TPM key as the provider sees it.  Refcounted; every
 * holder (store result, keymgmt, signature ctx, dupctx) takes its own ref.
 */
#ifndef TPMKMS_KEY_H
#define TPMKMS_KEY_H

#include <openssl/crypto.h>
#include "backend.h"
#include "ctx.h"
#include "pubkey.h"
#include "uri.h"

typedef struct tpmkms_key_st {
    int refcnt;
    CRYPTO_RWLOCK *refcnt_lock;
    TPMKMS_BACKEND *backend;    /* own ref */
    OSSL_LIB_CTX *libctx;
    char *uri;                  /* canonical, always with key-scope */
    char *name;                 /* NULL for handle= keys and key files */
    tpmkms_scope scope;
    char *store_dir;            /* where the record is; NULL if none */
    TPMKMS_PUBLIC pub;
    TPMKMS_KEYREF ref;          /* blob / persistent handle / auth */
} TPMKMS_KEY;

/* Takes its own backend ref. */
TPMKMS_KEY *tpmkms_key_new(TPMKMS_BACKEND *backend, OSSL_LIB_CTX *libctx);
int tpmkms_key_up_ref(TPMKMS_KEY *key);
void tpmkms_key_free(TPMKMS_KEY *key);

/*
 * Opens the key a URI names: the record (tpmkms_record_resolve) or the
 * persistent handle; the public half comes from the blob (no TPM command)
 * or, for handle=, from TPM2_ReadPublic.  The auth value comes from
 * pin-value/pin-source.  Raises and returns the reason on failure.
 */
tpmkms_rc tpmkms_key_open(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                          TPMKMS_KEY **out);

/* Makes a key of a TSS2 PRIVATE KEY blob (key files); label for errors. */
tpmkms_rc tpmkms_key_from_blob(TPMKMS_CTX *ctx, const TPMKMS_KEYBLOB *blob,
                               const char *label, TPMKMS_KEY **out);

/* Sets (copies) the auth value; NULL clears it. */
tpmkms_rc tpmkms_key_set_auth(TPMKMS_KEY *key, const void *auth, size_t len);

tpmkms_rc tpmkms_key_sign(TPMKMS_KEY *key, tpmkms_scheme scheme,
                          tpmkms_hash hash, const unsigned char *in,
                          size_t inlen, unsigned char *sig, size_t *siglen);

/*
 * Creates a key in the TPM and saves its record: the URI's name, scope
 * (tpmkms_uri_key_scope) and store.  overwrite: replace an existing record.
 * On success *out (may be NULL) is the opened key.
 */
tpmkms_rc tpmkms_key_create(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                            tpmkms_alg alg, int overwrite, TPMKMS_KEY **out);

#endif
