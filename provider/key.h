/*
 * TPMKMS_KEY: one TPM key as the provider sees it.  Refcounted; every
 * holder (store result, keymgmt, signature ctx, dupctx) takes its own ref.
 */
#ifndef TPMKMS_KEY_H
#define TPMKMS_KEY_H

#include <openssl/core.h>
#include <openssl/crypto.h>
#include <openssl/types.h>
#include "backend.h"
#include "ctx.h"
#include "pubkey.h"
#include "record.h"
#include "tss2key.h"
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
    TPMKMS_KEYREF ref;          /* material / persistent handle / auth */
    int needs_auth;             /* 1: has an auth value; 0: none;
                                   -1: unknown (handle=: the TPM decides) */
    tpmkms_key_kind kind;       /* its record's kind: (KEY for handle= keys
                                   and key files) */
    /*
     * Not a TPM key: a software key that OpenSSL put into our keymgmt (see
     * keymgmt.c), held by another provider in the child libctx.  pub.alg
     * is then NONE and backend NULL, so code that knows only TPM keys
     * refuses it.  Own ref, freed with the key.
     */
    EVP_PKEY *soft;
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
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_key_open(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                          TPMKMS_KEY **out);

/* Makes a key of a TSS2 PRIVATE KEY blob (key files); label for errors. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_key_from_blob(TPMKMS_CTX *ctx, const TPMKMS_KEYBLOB *blob,
                               const char *label, TPMKMS_KEY **out);

/*
 * Hands a key to OpenSSL as an OSSL_OBJECT_PKEY by reference (the key
 * pointer), as the store loader and the decoder do: keymgmt's load takes
 * its own reference during object_cb.  Returns object_cb's answer.
 */
int tpmkms_key_hand_out(TPMKMS_KEY *key, OSSL_CALLBACK *object_cb,
                        void *object_cbarg);

/*
 * Hands a key's public half to OpenSSL by value (DER SubjectPublicKeyInfo,
 * which libcrypto decodes into an ordinary public key), for a caller that
 * asked for the public key alone (OSSL_STORE_expect PUBKEY, a decoder
 * selecting the public key): OpenSSL 3.0 drops a key by reference there,
 * as it has a private half.  Needs no auth value and sends no TPM command.
 */
int tpmkms_key_hand_out_public(TPMKMS_KEY *key, OSSL_LIB_CTX *libctx,
                               OSSL_CALLBACK *object_cb, void *object_cbarg);

/*
 * Key records and key files hold a TSS2 PRIVATE KEY (tss2key.h); the
 * backend gets it as opaque material of format TPMKMS_KEYFMT_TSS2_DER.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_keydata_from_blob(const TPMKMS_KEYBLOB *blob,
                                   TPMKMS_KEYDATA *kd);
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_keydata_to_blob(const TPMKMS_KEYDATA *kd,
                                 TPMKMS_KEYBLOB *blob, const char *label);
/* What a blob describes (public half, auth), without a TPM. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_keyblob_info(const TPMKMS_BACKEND *backend,
                              const TPMKMS_KEYBLOB *blob,
                              TPMKMS_KEYINFO *info, const char *label);

/* Sets (copies) the auth value; NULL clears it. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_key_set_auth(TPMKMS_KEY *key, const void *auth, size_t len);

/*
 * Whether the key may sign data an application hands it: an attestation
 * key (kind ak) or another restricted key may not, as the TPM signs with
 * those only what it made itself; nor may a key without the sign
 * attribute.  TPMKMS_R_UNSUPPORTED_ALGORITHM
 * (raised, saying so) before any TPM command.  tpmkms_key_sign and the
 * signature operations' sign init ask it.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_key_check_signs_data(const TPMKMS_KEY *key);

TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_key_sign(TPMKMS_KEY *key, tpmkms_scheme scheme,
                          tpmkms_hash hash, const unsigned char *in,
                          size_t inlen, unsigned char *sig, size_t *siglen);

/*
 * RSA decryption (TPMKMS_DECRYPT_PARAMS, backend.h) and ECDH (peer_point
 * uncompressed on the key's curve; the secret is Z's X coordinate) with
 * the key's private half, as tpmkms_key_sign: a key that needs an auth
 * value and has none is refused before anything is sent.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_key_decrypt(TPMKMS_KEY *key,
                             const TPMKMS_DECRYPT_PARAMS *params,
                             const unsigned char *in, size_t inlen,
                             unsigned char *out, size_t *outlen);
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_key_derive(TPMKMS_KEY *key, const unsigned char *peer_point,
                            size_t peer_len, unsigned char *secret,
                            size_t *secret_len);

/*
 * Creates a key in the TPM and saves its record: the URI's name, scope
 * (tpmkms_uri_key_scope) and store.  overwrite: replace an existing record.
 * On success *out (may be NULL) is the opened key.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_key_create(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                            tpmkms_alg alg, int overwrite, TPMKMS_KEY **out);

/* What tpmkms_key_create_ex is asked to do, and what it did. */
typedef struct tpmkms_create_opts_st {
    tpmkms_alg alg;
    tpmkms_key_kind kind;       /* KEY (0): a signing key; AK: an
                                   attestation key (the backend's
                                   ak_create), its record kind: ak */
    tpmkms_usage usage;         /* TPMKMS_USAGE_BOTH (0): sign and decrypt */
    int overwrite;              /* replace an existing key of that name */
    uint32_t persistent;        /* 0, or make the key persistent at this
                                   owner handle 0x81000002..0x817FFFFF
                                   (machine scope only) */
    /* Set on return: */
    int replaced;               /* an existing record was replaced */
    uint32_t evicted;           /* the replaced key's persistent handle,
                                   now evicted; 0 if none */
    int settled;                /* a tpmkms_pending: what became of an
                                   interrupted create of that name found
                                   first (TPMKMS_PENDING_NONE: none) */
    uint32_t settled_handle;    /* the handle its pending record named */
} TPMKMS_CREATE_OPTS;

/*
 * tpmkms_key_create with a persistent handle.  The key is made in the
 * TPM first; then, with the store locked (tpmkms_store_lock): an
 * interrupted create of the name is settled (tpmkms_key_settle_pending),
 * a persistent key's record is written as a pending record, the replaced
 * key's persistent handle (overwrite) is evicted (tpmkms_key_evict), the
 * new key is made persistent, and the record takes its place in one
 * rename: the store holds the old record or the new one at every
 * instant, and a create killed at any point leaves no handle that no
 * record (or pending record) names.  A user-scope key cannot be
 * persistent (TPMKMS_R_BAD_PARAMETER); a handle another record names is
 * TPMKMS_R_KEY_EXISTS.  A name whose record is of the other kind (a key
 * over an attestation key, or the reverse) is TPMKMS_R_KEY_EXISTS even
 * with overwrite: neither replaces the other.  Certificates are not
 * touched.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_key_create_ex(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                               TPMKMS_CREATE_OPTS *opts, TPMKMS_KEY **out);

/* What tpmkms_key_settle_pending did with an interrupted create. */
typedef enum {
    TPMKMS_PENDING_NONE = 0,    /* no pending record of that name */
    TPMKMS_PENDING_COMPLETED,   /* its handle held its key: now its record */
    TPMKMS_PENDING_REMOVED      /* its handle did not: removed, the TPM
                                   untouched (an empty handle, or another
                                   key's, is left as it is) */
} tpmkms_pending;

/*
 * Settles the pending record of name in dir (record.h) that a create
 * killed between writing it and renaming it left, locking the store for
 * it (so a create still running is waited for, never settled).  Evicts
 * nothing: it reads the handle the pending record names (TPM2_ReadPublic)
 * and compares public keys.  Changes nothing, raised: this process may
 * not write the store (TPMKMS_R_REQUIRES_ELEVATION for the machine
 * store), backend is another TPM than the one that made the key
 * (TPMKMS_R_WRONG_TPM, tpmkms_key_check_tpm), the TPM does not answer.
 * *handle (may be NULL) gets the handle it named, 0 if none.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_key_settle_pending(TPMKMS_BACKEND *backend, const char *dir,
                                    const char *name, tpmkms_pending *what,
                                    uint32_t *handle);

/* 1 if a and b are the same public key (algorithm, point or modulus). */
int tpmkms_public_equal(const TPMKMS_PUBLIC *a, const TPMKMS_PUBLIC *b);

/*
 * Evicts the persistent object at handle if it is the key blob describes
 * (TPM2_ReadPublic, compared by public key), so that a handle reused for
 * another key is never destroyed.  TPMKMS_R_KEY_NOT_FOUND (raised, naming
 * what is there) when the handle is empty or holds another key: nothing of
 * this key is left in the TPM.  Any other failure: it may still be there.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_key_evict(TPMKMS_BACKEND *backend, uint32_t handle,
                           const TPMKMS_KEYBLOB *blob, const char *label);

/*
 * Whether backend's TPM is the one that made rec's key, before anything
 * of the key is evicted or replaced: TPMKMS_R_WRONG_TPM (raised, naming
 * label, both identities in short hex and then `left`, what the caller
 * leaves unchanged) when rec's tpm: differs from the connected TPM's
 * identity.  TPMKMS_R_OK when they agree, and when it cannot be told:
 * the record has no tpm: (written before it existed) or the backend has
 * no tpm_identity (nothing sent).  Any other failure (the TPM does not
 * answer): raised, as the backend said.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_key_check_tpm(TPMKMS_BACKEND *backend,
                               const TPMKMS_RECORD *rec, const char *label,
                               const char *left);

/* "1a2b3c4d5e6f..." of a TPM identity (a TPM name less its hash id). */
void tpmkms_tpm_id_short(const unsigned char *id, size_t len, char *buf,
                         size_t buflen);

#endif
