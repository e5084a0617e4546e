/*
 * TPMT_PUBLIC above the seam: the public area of a TPM object as TPM 2.0
 * Part 2 marshals it (section 12.2.4), parsed and marshalled without
 * tpm2-tss, for a verifier that has no TPM (attest-ca) and for the checks
 * it makes on what a device sends: an EK's name algorithm and symmetric
 * definition (credential.c needs both), an AK's attributes, and the Name
 * of either, nameAlg || H_nameAlg(marshalled TPMT_PUBLIC) (Part 1,
 * "Names").
 *
 * Only the RSA and ECC types are understood, with every field those two
 * carry: type, nameAlg, objectAttributes, authPolicy, the parameters
 * (symmetric, scheme, keyBits and exponent, or curveID and kdf) and
 * unique.  Marshalling what was parsed gives back the same bytes
 * (test/fuzz/fuzz_tpmpublic.c checks it).
 */
#ifndef TPMKMS_ATTEST_TPMPUBLIC_H
#define TPMKMS_ATTEST_TPMPUBLIC_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>
#include "errors.h"

/* TPM_ALG_ID values (Part 2, 6.3) this file names. */
#define TPMKMS_TPM_ALG_RSA        0x0001
#define TPMKMS_TPM_ALG_SHA1       0x0004
#define TPMKMS_TPM_ALG_HMAC       0x0005
#define TPMKMS_TPM_ALG_AES        0x0006
#define TPMKMS_TPM_ALG_KEYEDHASH  0x0008
#define TPMKMS_TPM_ALG_SHA256     0x000B
#define TPMKMS_TPM_ALG_SHA384     0x000C
#define TPMKMS_TPM_ALG_SHA512     0x000D
#define TPMKMS_TPM_ALG_NULL       0x0010
#define TPMKMS_TPM_ALG_SM3_256    0x0012
#define TPMKMS_TPM_ALG_SM4        0x0013
#define TPMKMS_TPM_ALG_RSASSA     0x0014
#define TPMKMS_TPM_ALG_RSAES      0x0015
#define TPMKMS_TPM_ALG_RSAPSS     0x0016
#define TPMKMS_TPM_ALG_OAEP       0x0017
#define TPMKMS_TPM_ALG_ECDSA      0x0018
#define TPMKMS_TPM_ALG_ECDH       0x0019
#define TPMKMS_TPM_ALG_ECDAA      0x001A
#define TPMKMS_TPM_ALG_SM2        0x001B
#define TPMKMS_TPM_ALG_ECSCHNORR  0x001C
#define TPMKMS_TPM_ALG_ECMQV      0x001D
#define TPMKMS_TPM_ALG_ECC        0x0023
#define TPMKMS_TPM_ALG_SYMCIPHER  0x0025
#define TPMKMS_TPM_ALG_CAMELLIA   0x0026
#define TPMKMS_TPM_ALG_CFB        0x0043

/* TPM_ECC_CURVE (Part 2, 6.4) */
#define TPMKMS_TPM_ECC_NIST_P256  0x0003
#define TPMKMS_TPM_ECC_NIST_P384  0x0004
#define TPMKMS_TPM_ECC_NIST_P521  0x0005

/* TPMA_OBJECT bits (Part 2, 8.3) */
#define TPMKMS_TPMA_FIXEDTPM             0x00000002u
#define TPMKMS_TPMA_STCLEAR              0x00000004u
#define TPMKMS_TPMA_FIXEDPARENT          0x00000010u
#define TPMKMS_TPMA_SENSITIVEDATAORIGIN  0x00000020u
#define TPMKMS_TPMA_USERWITHAUTH         0x00000040u
#define TPMKMS_TPMA_ADMINWITHPOLICY      0x00000080u
#define TPMKMS_TPMA_NODA                 0x00000400u
#define TPMKMS_TPMA_RESTRICTED           0x00010000u
#define TPMKMS_TPMA_DECRYPT              0x00020000u
#define TPMKMS_TPMA_SIGN                 0x00040000u

#define TPMKMS_TPM_DIGEST_MAX   64    /* sizeof(TPMU_HA): SHA-512 */
#define TPMKMS_TPM_NAME_MAX     (2 + TPMKMS_TPM_DIGEST_MAX)
#define TPMKMS_TPM_RSA_MAX      512   /* TPM2_MAX_RSA_KEY_BYTES */
#define TPMKMS_TPM_ECC_MAX      128   /* TPM2_MAX_ECC_KEY_BYTES */
/* The largest TPMT_PUBLIC of either type, marshalled: type, nameAlg,
 * attributes, authPolicy, the larger parameters (ECC: 18 bytes), the
 * larger unique (RSA). */
#define TPMKMS_TPMT_PUBLIC_MAX  (8 + 2 + TPMKMS_TPM_DIGEST_MAX + 18 \
                                 + 2 + TPMKMS_TPM_RSA_MAX)

typedef struct tpmkms_tpmt_public_st {
    uint16_t type;              /* TPMKMS_TPM_ALG_RSA or _ECC */
    uint16_t name_alg;
    uint32_t attributes;        /* TPMA_OBJECT */
    unsigned char auth_policy[TPMKMS_TPM_DIGEST_MAX];
    size_t auth_policy_len;
    /* TPMT_SYM_DEF_OBJECT: keyBits and mode only when alg is not NULL */
    uint16_t sym_alg, sym_bits, sym_mode;
    /* TPMT_RSA_SCHEME / TPMT_ECC_SCHEME: hash (and ECDAA's count) only
     * when scheme is not NULL (RSAES has no hash) */
    uint16_t scheme, scheme_hash, scheme_count;
    /* RSA: TPMS_RSA_PARMS */
    uint16_t rsa_bits;
    uint32_t rsa_exponent;      /* 0: the default, 65537 */
    /* ECC: TPMS_ECC_PARMS; kdf_hash only when kdf is not NULL */
    uint16_t curve, kdf, kdf_hash;
    /* unique: RSA the modulus in x; ECC the point x, y */
    unsigned char x[TPMKMS_TPM_RSA_MAX];
    size_t x_len;
    unsigned char y[TPMKMS_TPM_ECC_MAX];
    size_t y_len;
} TPMKMS_TPMT_PUBLIC;

/*
 * Parses a TPMT_PUBLIC from the start of buf; *used (may be NULL) gets
 * the bytes it took.  Anything else than a well-formed RSA or ECC public
 * area: TPMKMS_R_BAD_TPM_PUBLIC, raised naming what (e.g. "EK public
 * area") and the field.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_tpmt_public_parse(const unsigned char *buf, size_t len,
                                   const char *what, size_t *used,
                                   TPMKMS_TPMT_PUBLIC *out);

/*
 * Parses a TPM2B_PUBLIC: a 16-bit size, then exactly that many bytes of
 * TPMT_PUBLIC, and nothing after them.  Raises as above.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_tpm2b_public_parse(const unsigned char *buf, size_t len,
                                    const char *what,
                                    TPMKMS_TPMT_PUBLIC *out);

/*
 * Marshals pub as a TPMT_PUBLIC into buf (NULL: only the length).
 * Returns the length, 0 when buf is too small (nothing raised).
 */
size_t tpmkms_tpmt_public_marshal(const TPMKMS_TPMT_PUBLIC *pub,
                                  unsigned char *buf, size_t len);

/* OpenSSL's name of a TPM hash algorithm ("SHA256"), NULL if unknown. */
const char *tpmkms_tpm_hash_name(uint16_t alg);
/* Its digest size in bytes, 0 if unknown. */
size_t tpmkms_tpm_hash_size(uint16_t alg);

/*
 * The Name of pub: nameAlg (2 bytes, big-endian) || H_nameAlg(its
 * marshalled TPMT_PUBLIC).  A name algorithm tpmkms cannot hash:
 * TPMKMS_R_UNSUPPORTED_ALGORITHM, raised naming what.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_tpm_name(OSSL_LIB_CTX *libctx, const TPMKMS_TPMT_PUBLIC *pub,
                          const char *what,
                          unsigned char name[TPMKMS_TPM_NAME_MAX],
                          size_t *name_len);

/*
 * The public key of pub as an EVP_PKEY (RSA n and e, or an EC point on
 * P-256, P-384 or P-521).  Another curve, or a key OpenSSL refuses:
 * TPMKMS_R_UNSUPPORTED_ALGORITHM / TPMKMS_R_BAD_TPM_PUBLIC, raised.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_tpm_public_to_evp(OSSL_LIB_CTX *libctx,
                                   const TPMKMS_TPMT_PUBLIC *pub,
                                   const char *what, EVP_PKEY **out);

/*
 * Whether pub may be an attestation key: restricted, sign, fixedTPM,
 * fixedParent and sensitiveDataOrigin set, decrypt clear (TCG "TPM 2.0
 * Keys for Device Identity and Attestation", the AK template).  Not:
 * TPMKMS_R_NOT_AN_AK, raised naming every attribute that is wrong.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_tpm_check_ak(const TPMKMS_TPMT_PUBLIC *pub);

/* "RSA 2048", "ECC NIST P-384", ... into buf; returns buf. */
char *tpmkms_tpm_public_describe(const TPMKMS_TPMT_PUBLIC *pub, char *buf,
                                 size_t len);

#endif
