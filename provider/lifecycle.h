/*
 * A key's lifecycle beyond creation (tpmkms_key_create_ex in key.c):
 * deleting it, and storing its certificate chain.  Library functions, so a
 * program using tpmkms can do what the tpmkms command does; the command
 * only parses arguments and prints.  They return tpmkms_rc, raised once
 * where understood; what they did is filled into a result the caller
 * prints.
 */
#ifndef TPMKMS_LIFECYCLE_H
#define TPMKMS_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>
#include <openssl/x509.h>
#include "backend.h"
#include "ctx.h"
#include "errors.h"
#include "record.h"
#include "uri.h"

#define TPMKMS_RESULT_TEXT 2048

/* What a delete did; release with tpmkms_delete_result_clear. */
typedef struct tpmkms_delete_result_st {
    char *uri;                  /* the key's canonical URI; NULL for handle= */
    uint32_t evicted;           /* the persistent handle evicted, 0: none */
    char removed[TPMKMS_RESULT_TEXT];  /* certificate files removed,
                                          "; "-separated */
    char left[TPMKMS_RESULT_TEXT];     /* what of the key is still there:
                                          "certificate PATH is still there:
                                          WHY", "; "-separated */
    char notes[2 * TPMKMS_RESULT_TEXT]; /* what was left alone on purpose
                                           and why, one note per line */
} TPMKMS_DELETE_RESULT;

void tpmkms_delete_result_clear(TPMKMS_DELETE_RESULT *res);

/*
 * Deletes the key a URI names.
 *
 * name=: the record goes first; if that fails nothing was changed and
 * the reason is returned (KEY_NOT_FOUND, REQUIRES_ELEVATION, ...).  Then
 * the key's certificates (tpmkms_key_remove_certs) and its persistent
 * handle (tpmkms_key_evict: only if it still holds this key; one that is
 * gone or holds another key is a note, and the delete is complete).
 * What of those could not be removed makes TPMKMS_R_PARTIAL_DELETE,
 * raised as "record removed, <what is left>" with, for a handle, how to
 * evict it later; the record is gone either way.
 *
 * handle=: evicts a persistent handle a partial delete left: only an
 * owner handle no machine record names, never the SRK
 * (TPMKMS_R_BAD_PARAMETER); needs write access to the machine store.
 *
 * res is filled in either case (cleared first).
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_key_delete(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                            TPMKMS_DELETE_RESULT *res);

/*
 * tpmkms_key_delete of a record of one kind: a name= URI whose record is
 * of the other kind is refused before anything changes
 * (tpmkms_record_check_kind's TPMKMS_R_BAD_PARAMETER).  tpmkms_key_delete
 * is this with TPMKMS_KIND_KEY; attestation keys go with TPMKMS_KIND_AK
 * (name= only), under the same rules and results.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_key_delete_kind(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                                 tpmkms_key_kind kind,
                                 TPMKMS_DELETE_RESULT *res);

/*
 * Whether rec is of kind want: TPMKMS_R_BAD_PARAMETER (raised) if not,
 * naming uri, what it is and the command that handles it (`tpmkms ak
 * VERB` for an attestation key, `tpmkms VERB` for a key).
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_record_check_kind(const TPMKMS_RECORD *rec, const char *uri,
                                   tpmkms_key_kind want, const char *verb);

/*
 * Removes certs/<name>.pem where it is the certificate of the key whose
 * public half is pub (NULL: unknown, so nothing is proven to be ours):
 * in key_dir (also when it holds no certificate) and, unless the URI has
 * storage-directory, in the other store (store-location may have put it
 * there).  Another key's certificate of the same name is left, with a
 * note.  Appends to res->removed, res->left and res->notes.  Returns
 * TPMKMS_R_OK when nothing of the key's is left, else
 * TPMKMS_R_PARTIAL_DELETE, not raised (res->left says what).
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_key_remove_certs(const TPMKMS_URI *uri, const char *name,
                                  const char *key_dir, EVP_PKEY *pub,
                                  TPMKMS_DELETE_RESULT *res);

/* What a certificate import did; release with tpmkms_import_result_clear. */
typedef struct tpmkms_import_result_st {
    char *uri;                  /* the key's canonical URI */
    char *cert_dir;             /* the store whose certs/<name>.pem it is */
    char subject[256];          /* the leaf certificate's subject */
    int count;                  /* certificates stored */
} TPMKMS_IMPORT_RESULT;

void tpmkms_import_result_clear(TPMKMS_IMPORT_RESULT *res);

/*
 * Stores a certificate chain for the key a name= URI names, as PEM in
 * certs/<name>.pem of tpmkms_locate_cert_dir's store.  The first
 * certificate must certify the key (same public key), else
 * TPMKMS_R_BAD_PARAMETER naming source (where certs came from, for the
 * message) and the subject.  Only the certificates are written, re-encoded,
 * so nothing else that sat beside them can reach the store.  An existing
 * certificate is TPMKMS_R_KEY_EXISTS unless overwrite.  Writing needs
 * write access to that store (REQUIRES_ELEVATION for the machine's).
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_cert_import(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                             STACK_OF(X509) *certs, const char *source,
                             int overwrite, TPMKMS_IMPORT_RESULT *res);

/*
 * Appends the certificates in file to certs: PEM (any number), else one
 * DER.  TPMKMS_R_BAD_PARAMETER (raised, naming the file) when it cannot
 * be read or holds no certificate.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_certs_read_file(const char *file, STACK_OF(X509) *certs);

/*
 * The public half of a record's key, from its blob (no TPM command), as
 * an EVP_PKEY of ctx's library context.  NULL (raised) on failure.
 */
EVP_PKEY *tpmkms_record_public(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                               const TPMKMS_RECORD *rec, const char *label);

/*
 * What a record's key material is, checked against the record: the
 * backend's describe reads the public half from the blob (no TPM
 * command); a blob it cannot read is its error (raised, naming path);
 * an algorithm: field that is not the key's algorithm is
 * TPMKMS_R_BAD_RECORD (raised) naming path, the field and both
 * algorithms.  So list and show say what opening the key
 * would say.  info (may be NULL) gets what the blob describes.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_record_check_key(const TPMKMS_BACKEND *backend,
                                  const TPMKMS_RECORD *rec, const char *path,
                                  TPMKMS_KEYINFO *info);

/* 1: pem's first certificate is pub's; 0: another key's; -1: no cert. */
int tpmkms_cert_matches(const char *pem, size_t len, EVP_PKEY *pub);

#endif
