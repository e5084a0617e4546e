/*
 * The TSS2 PRIVATE KEY format of tpm2-openssl and openssl_tpm2_engine
 * (pure code, no TPM):
 *
 *   TPMKey ::= SEQUENCE {
 *       type        OBJECT IDENTIFIER,         -- 2.23.133.10.1.3 loadable key
 *       emptyAuth   [0] EXPLICIT BOOLEAN OPTIONAL,
 *       policy      [1] EXPLICIT SEQUENCE OF TPMPolicy OPTIONAL,  -- refused
 *       secret      [2] EXPLICIT OCTET STRING OPTIONAL,           -- refused
 *       parent      INTEGER,                   -- e.g. 0x40000001, 0x81000001
 *       pubkey      OCTET STRING,              -- marshalled TPM2B_PUBLIC
 *       privkey     OCTET STRING               -- marshalled TPM2B_PRIVATE
 *   }
 *
 * PEM label: "TSS2 PRIVATE KEY".
 */
#ifndef TPMKMS_TSS2KEY_H
#define TPMKMS_TSS2KEY_H

#include <stddef.h>
#include <stdint.h>
#include "errors.h"

#define TPMKMS_TSS2_PEM_LABEL "TSS2 PRIVATE KEY"
#define TPMKMS_TSS2_OID_LOADABLE "2.23.133.10.1.3"

#define TPMKMS_PARENT_OWNER 0x40000001u /* owner hierarchy: the SRK template */
#define TPMKMS_SRK_HANDLE 0x81000001u   /* TCG's persistent SRK */

typedef struct tpmkms_keyblob_st {
    uint32_t parent;
    int empty_auth;         /* 1: the key has no auth value */
    unsigned char *pub;     /* marshalled TPM2B_PUBLIC (with its size) */
    size_t pub_len;
    unsigned char *priv;    /* marshalled TPM2B_PRIVATE (with its size) */
    size_t priv_len;
} TPMKMS_KEYBLOB;

/* DER in both directions; decode raises TPMKMS_R_BAD_KEY_FILE. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_tss2key_to_der(const TPMKMS_KEYBLOB *blob,
                                unsigned char **der, size_t *der_len);
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_tss2key_from_der(const unsigned char *der, size_t der_len,
                                  TPMKMS_KEYBLOB *blob);
/* PEM text ("-----BEGIN TSS2 PRIVATE KEY-----..."), NUL terminated. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_tss2key_to_pem(const TPMKMS_KEYBLOB *blob, char **pem);
/* Finds the first TSS2 PRIVATE KEY PEM block anywhere in text. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_tss2key_from_pem(const char *text, size_t len,
                                  TPMKMS_KEYBLOB *blob);

void tpmkms_keyblob_clear(TPMKMS_KEYBLOB *blob); /* frees members, zeroes */

#endif
