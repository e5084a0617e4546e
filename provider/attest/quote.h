/*
 * Quotes above the seam: the TPMS_ATTEST of a TPM2_Quote, the
 * TPMT_SIGNATURE over it and the PCR values shipped beside it, parsed and
 * checked with OpenSSL alone (no TPM, no tpm2-tss), as `tpmkms
 * verify-quote` and a CA written in C do; and the PCR file written the
 * way tpm2-tools writes it, so that `tpm2_checkquote -f` reads ours.
 *
 * Formats (TPM 2.0 Part 2; big-endian):
 *   TPMS_ATTEST   magic (TPM_GENERATED_VALUE 0xff544347), type
 *                 (TPM_ST_ATTEST_QUOTE 0x8018), qualifiedSigner
 *                 (TPM2B_NAME), extraData (TPM2B_DATA: the nonce),
 *                 clockInfo (clock u64, resetCount u32, restartCount u32,
 *                 safe u8), firmwareVersion u64, and for a quote
 *                 TPMS_QUOTE_INFO: pcrSelect (TPML_PCR_SELECTION: count
 *                 u32, then per bank hash u16, sizeofSelect u8, that many
 *                 bitmap bytes, PCR n = bit n%8 of byte n/8) and pcrDigest
 *                 (TPM2B_DIGEST).
 *   TPMT_SIGNATURE  sigAlg u16; ECDSA: hash u16, r and s (TPM2B each);
 *                 RSASSA / RSAPSS: hash u16, the signature (TPM2B).
 *   PCR file      tpm2-tools' "serialized" format (tpm2_quote -o, what
 *                 tpm2_checkquote -f reads by default): the C structures
 *                 tpm2-tss declares, dumped as x86-64 lays them out, each
 *                 integer little-endian: TPML_PCR_SELECTION (u32 count;
 *                 16 selections of 8 bytes: hash u16, sizeofSelect u8,
 *                 pcrSelect[4], one pad byte) = 132 bytes; u32 n; then n
 *                 TPML_DIGEST (u32 count; 8 TPM2B_DIGEST of 66 bytes:
 *                 size u16, buffer[64]) = 532 bytes each.  The values run
 *                 through the lists in order, in the selection's order
 *                 (bank by bank, ascending PCR).
 */
#ifndef TPMKMS_ATTEST_QUOTE_H
#define TPMKMS_ATTEST_QUOTE_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>
#include "errors.h"

#define TPMKMS_TPM_GENERATED_VALUE 0xff544347u
#define TPMKMS_TPM_ST_ATTEST_QUOTE 0x8018
#define TPMKMS_PCR_BANKS_MAX       16   /* TPM2_NUM_PCR_BANKS */
#define TPMKMS_PCR_SELECT_MAX      4    /* TPM2_PCR_SELECT_MAX */
#define TPMKMS_PCR_VALUES_MAX      (TPMKMS_PCR_BANKS_MAX * 32)

typedef struct {
    uint16_t hash;              /* TPM_ALG_ID of the bank */
    uint8_t size_of_select;     /* bitmap bytes */
    uint32_t mask;              /* bit n: PCR n */
} TPMKMS_PCR_BANK;

typedef struct {
    size_t count;
    TPMKMS_PCR_BANK bank[TPMKMS_PCR_BANKS_MAX];
} TPMKMS_PCR_SELECTION;

typedef struct {
    uint32_t magic;
    uint16_t type;
    unsigned char signer[2 + 64];   /* qualifiedSigner (a TPM name) */
    size_t signer_len;
    unsigned char extra[64];        /* extraData: the nonce */
    size_t extra_len;
    uint64_t clock;
    uint32_t reset_count, restart_count;
    uint8_t safe;
    uint64_t firmware;
    TPMKMS_PCR_SELECTION pcrs;
    unsigned char pcr_digest[64];
    size_t pcr_digest_len;
} TPMKMS_QUOTE_INFO;

typedef struct {
    uint16_t sig_alg;           /* TPM_ALG_ECDSA, _RSASSA, _RSAPSS */
    uint16_t hash;
    unsigned char a[512];       /* ECDSA r; RSA the signature */
    size_t a_len;
    unsigned char b[128];       /* ECDSA s */
    size_t b_len;
} TPMKMS_TPMT_SIGNATURE;

/* The PCR values shipped beside a quote (a parsed PCR file). */
typedef struct {
    TPMKMS_PCR_SELECTION sel;
    size_t n;
    struct {
        uint16_t size;
        unsigned char v[64];
    } value[TPMKMS_PCR_VALUES_MAX];
} TPMKMS_PCR_VALUES;

/*
 * Parses exactly len bytes as a quote's TPMS_ATTEST.  Bytes that are no
 * TPMS_ATTEST, a magic other than TPM_GENERATED_VALUE (not made by a TPM)
 * or a type other than TPM_ST_ATTEST_QUOTE: TPMKMS_R_BAD_QUOTE, raised
 * naming the field.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_quote_parse(const unsigned char *buf, size_t len,
                             TPMKMS_QUOTE_INFO *out);
/* Marshals q back (NULL buf: the length).  0 if buf is too small. */
size_t tpmkms_quote_marshal(const TPMKMS_QUOTE_INFO *q, unsigned char *buf,
                            size_t len);

/* Parses exactly len bytes as a TPMT_SIGNATURE; TPMKMS_R_BAD_QUOTE. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_tpmt_signature_parse(const unsigned char *buf, size_t len,
                                      TPMKMS_TPMT_SIGNATURE *out);

/*
 * A PCR file of one bank's PCRs in mask with their values (n digests of
 * that bank's size, ascending PCR order), into *out (OPENSSL_malloc'd).
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_pcr_file_make(uint16_t hash, uint32_t mask,
                               const unsigned char *values, size_t values_len,
                               unsigned char **out, size_t *outlen);
/* Parses a PCR file; TPMKMS_R_BAD_QUOTE naming what is wrong. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_pcr_file_parse(const unsigned char *buf, size_t len,
                                TPMKMS_PCR_VALUES *out);

/* "sha256:0,1,7" into *hash and *mask; 0 if it is none. */
int tpmkms_pcr_spec_parse(const char *spec, uint16_t *hash, uint32_t *mask);

/*
 * The checks of `tpmkms verify-quote`, in this order, each failure its
 * own reason (raised, saying what differs):
 *   1. attest parses as a quote (magic, type)   TPMKMS_R_BAD_QUOTE
 *      sig and the PCR values parse             TPMKMS_R_BAD_QUOTE
 *   2. sig verifies with ak over H(attest), H the signature's hash;
 *      ECDSA (r, s as DER) or RSASSA PKCS#1 v1.5, RSAPSS
 *                                               TPMKMS_R_QUOTE_SIGNATURE
 *   3. extraData == nonce                       TPMKMS_R_QUOTE_NONCE
 *   4. the quoted PCR selection == the values'  TPMKMS_R_QUOTE_PCR_SELECTION
 *   5. pcrDigest == H(the values, concatenated in selection order), H
 *      the signature's hash                     TPMKMS_R_QUOTE_PCR_DIGEST
 * *info (may be NULL) gets the parsed quote.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_quote_verify(OSSL_LIB_CTX *libctx, EVP_PKEY *ak,
                              const unsigned char *attest, size_t attest_len,
                              const unsigned char *sig, size_t sig_len,
                              const TPMKMS_PCR_VALUES *pcrs,
                              const unsigned char *nonce, size_t nonce_len,
                              TPMKMS_QUOTE_INFO *info);

#endif
