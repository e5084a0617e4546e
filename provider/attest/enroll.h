/*
 * AK enrollment, the verifier's side (docs/attestation.md, "AK
 * enrollment"): the enrollment request a device sends, its checks, the
 * grading of its EK the way AD CS key attestation grades it, and the AK
 * certificate in the TCG / WebAuthn AK profile.  Software only: no TPM.
 *
 * The request is text, one "key: value" a line (blank lines and lines
 * starting with '#' are skipped):
 *
 *   tpmkms-enrollment-request: 1
 *   tpm-manufacturer: 49424D00                 TPM_PT_MANUFACTURER, hex
 *   tpm-vendor-strings: 53572020 2054504D 00000000 00000000
 *                                              TPM_PT_VENDOR_STRING_1..4
 *   tpm-firmware: 20191023 00163636            TPM_PT_FIRMWARE_VERSION_1, _2
 *   ek-public: BASE64                          the EK's TPM2B_PUBLIC
 *   ek-certificate: BASE64                     its certificate, DER (0 or 1)
 *   ek-chain-certificate: BASE64               intermediates, DER (any)
 *   ak-public: BASE64                          the AK's TPM2B_PUBLIC
 *   ak-name: HEX                               the AK's Name
 *
 * Every key but the certificates appears exactly once.
 */
#ifndef TPMKMS_ATTEST_ENROLL_H
#define TPMKMS_ATTEST_ENROLL_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>
#include <openssl/x509.h>
#include "attest/ek.h"
#include "attest/tpmpublic.h"
#include "errors.h"

#define TPMKMS_ENROLL_REQUEST_TAG "tpmkms-enrollment-request"

typedef enum {
    TPMKMS_EK_LEVEL_NONE = 0,
    TPMKMS_EK_LEVEL_LOW,        /* neither: 1.3.6.1.4.1.311.21.32 */
    TPMKMS_EK_LEVEL_MEDIUM,     /* EK certificate chain: ...21.31 */
    TPMKMS_EK_LEVEL_HIGH        /* EKPub in the allow list: ...21.30 */
} tpmkms_ek_level;

typedef struct tpmkms_enroll_request_st {
    uint32_t manufacturer;
    uint32_t vendor[4];
    uint32_t firmware[2];
    TPMKMS_TPMT_PUBLIC ek, ak;
    unsigned char ak_name[TPMKMS_TPM_NAME_MAX];
    size_t ak_name_len;
    X509 *ek_cert;              /* NULL: none sent */
    STACK_OF(X509) *chain;      /* never NULL after a parse */
    EVP_PKEY *ek_key, *ak_key;
    unsigned char ekpub_hash[TPMKMS_EKPUB_HASH_LEN];
} TPMKMS_ENROLL_REQUEST;

/*
 * Parses and checks a request: its syntax (TPMKMS_R_BAD_REQUEST naming
 * the line), both public areas (TPMKMS_R_BAD_TPM_PUBLIC), the AK's
 * attributes (TPMKMS_R_NOT_AN_AK), the AK name against the AK public
 * area (TPMKMS_R_AK_NAME_MISMATCH), the EK as a restricted decryption
 * key, the certificates (TPMKMS_R_BAD_EK_CERT) and the EK certificate's
 * key against the EK (TPMKMS_R_EK_MISMATCH).  All raised.  Clear out
 * with tpmkms_enroll_request_clear whatever the result.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_enroll_request_parse(OSSL_LIB_CTX *libctx, const char *text,
                                      size_t len, TPMKMS_ENROLL_REQUEST *out);
void tpmkms_enroll_request_clear(TPMKMS_ENROLL_REQUEST *req);

/*
 * Writes req in the format above (the device's side, tpmkms ak
 * enroll-request): the fields the parser reads, from req's manufacturer,
 * vendor, firmware, ek, ek_cert, chain (up to 8), ak and ak_name; the
 * public areas marshalled back as TPM2B_PUBLICs.  comment (NULL: none)
 * goes first as a '#' line.  What parses back is what was written.
 * Raises TPMKMS_R_INTERNAL if the BIO fails.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_enroll_request_write(const TPMKMS_ENROLL_REQUEST *req,
                                      const char *comment, BIO *out);

/*
 * The TPM's identity as the AK profile writes it (TCG EK Credential
 * Profile 3.2.9): "id:" and the manufacturer's 8 upper-case hex digits;
 * the model, the vendor strings' characters with NULs dropped and spaces
 * around them trimmed; "id:" and TPM_PT_FIRMWARE_VERSION_1 in 8 hex
 * digits.
 */
void tpmkms_enroll_manufacturer(const TPMKMS_ENROLL_REQUEST *req, char *buf,
                                size_t len);
void tpmkms_enroll_model(const TPMKMS_ENROLL_REQUEST *req, char *buf,
                         size_t len);
void tpmkms_enroll_version(const TPMKMS_ENROLL_REQUEST *req, char *buf,
                           size_t len);

/* "low", "medium", "high"; the AD CS issuance-policy OID of a level. */
const char *tpmkms_ek_level_name(tpmkms_ek_level level);
const char *tpmkms_ek_level_oid(tpmkms_ek_level level);
tpmkms_ek_level tpmkms_ek_level_from_name(const char *name); /* NONE */

/*
 * Grades the request's EK as AD CS does:
 *   high    a file named by its EKPub hash (hex, lower or upper case) is
 *           in allow_dir;
 *   medium  its certificate chains to a self-signed root among the
 *           certificates (PEM or DER files) in roots_dir, with the
 *           request's chain certificates and the others in roots_dir as
 *           intermediates;
 *   low     neither.
 * allow_dir and roots_dir may be NULL.  why gets a line saying why the
 * level is what it is (e.g. the chain's verify error).  A directory that
 * cannot be read: TPMKMS_R_STORE_IO, raised.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_enroll_grade(OSSL_LIB_CTX *libctx,
                              const TPMKMS_ENROLL_REQUEST *req,
                              const char *allow_dir, const char *roots_dir,
                              tpmkms_ek_level *level, char *why, size_t len);

/*
 * Issues the AK certificate (docs/attestation.md, "The AK certificate"):
 * version 3, a random serial, an empty subject, issuer ca_cert's subject,
 * valid from now for days days, the AK's public key, a critical SAN
 * holding a directoryName with tcg-at-tpmManufacturer, -Model, -Version,
 * EKU tcg-kp-AIKCertificate, critical basicConstraints CA:FALSE,
 * certificatePolicies with the level's OID, the authority and subject key
 * identifiers; signed by ca_key (any provider's key: a tpmkms key signs
 * in the TPM).  ca_key not ca_cert's key: TPMKMS_R_BAD_PARAMETER.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_ak_cert_issue(OSSL_LIB_CTX *libctx, const char *propq,
                               const TPMKMS_ENROLL_REQUEST *req,
                               tpmkms_ek_level level, X509 *ca_cert,
                               EVP_PKEY *ca_key, int days, X509 **out);

#endif
