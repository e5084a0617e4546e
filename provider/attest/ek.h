/*
 * Endorsement keys above the seam: what the backend read (TPMKMS_EK,
 * backend.h) checked and described with OpenSSL.  For each EK:
 *
 *   - its certificate, trimmed to the DER length its outer SEQUENCE
 *     gives (NV indices are often larger than the certificate and padded
 *     with zeros or 0xFF) and parsed;
 *   - whether the key TPM2_CreatePrimary recomputed from the EK's
 *     template equals the certificate's key: a certificate for another
 *     key is TPMKMS_R_EK_MISMATCH, naming both;
 *   - the EKPub hash: SHA-256 over the DER SubjectPublicKeyInfo of the EK
 *     public key (the bytes `openssl pkey -pubin -outform DER` writes),
 *     the name of the file an AD CS-style allow-list directory holds for
 *     a trusted EK (docs/attestation.md).
 */
#ifndef TPMKMS_ATTEST_EK_H
#define TPMKMS_ATTEST_EK_H

#include <stddef.h>
#include <openssl/types.h>
#include "backend.h"

#define TPMKMS_EKPUB_HASH_LEN 32   /* SHA-256 */

typedef enum {
    TPMKMS_EK_NO_CERT = 0,      /* no certificate provisioned */
    TPMKMS_EK_MATCH,            /* recomputed EK == certificate's key */
    TPMKMS_EK_MISMATCH,         /* ... differs (an error) */
    TPMKMS_EK_NOT_RECOMPUTED    /* a template tpmkms cannot hold
                                   (P-521, SM2, RSA 4096), or a
                                   persistent key matching no template */
} tpmkms_ek_check;

typedef struct tpmkms_ek_info_st {
    X509 *cert;                 /* the certificate, trimmed; NULL: none */
    size_t cert_len;            /* its DER length */
    size_t padding;             /* bytes after it in the NV index */
    EVP_PKEY *key;              /* the EK public key: recomputed, else the
                                   persistent key's, else the
                                   certificate's; NULL: none */
    unsigned char ekpub_hash[TPMKMS_EKPUB_HASH_LEN]; /* of key */
    unsigned char cert_key_hash[TPMKMS_EKPUB_HASH_LEN]; /* of the
                                   certificate's key, when there is one */
    tpmkms_ek_check check;
} TPMKMS_EK_INFO;

/*
 * The DER length of what starts at buf: the outer SEQUENCE's tag, its
 * length octets (short form, or long form of 1 to 4 octets) and the
 * contents.  1 and *der_len when that fits in len; 0 when buf does not
 * start with a definite-length SEQUENCE that fits.  No error raised.
 */
int tpmkms_der_sequence_length(const unsigned char *buf, size_t len,
                               size_t *der_len);

/* SHA-256 of the DER SubjectPublicKeyInfo of key.  Raises on failure. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_ekpub_hash(OSSL_LIB_CTX *libctx, EVP_PKEY *key,
                            unsigned char out[TPMKMS_EKPUB_HASH_LEN]);

/*
 * Fills info for ek (info is zeroed first; clear it with
 * tpmkms_ek_info_clear whatever the result).  A certificate that does not
 * parse: TPMKMS_R_BAD_EK_CERT.  One whose key is not the recomputed EK:
 * TPMKMS_R_EK_MISMATCH with info->check TPMKMS_EK_MISMATCH and the rest
 * filled in, so the caller can still show both.  Both raised.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_ek_examine(OSSL_LIB_CTX *libctx, const TPMKMS_EK *ek,
                            TPMKMS_EK_INFO *info);

void tpmkms_ek_info_clear(TPMKMS_EK_INFO *info);

#endif
