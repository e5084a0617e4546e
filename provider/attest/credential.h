/*
 * TPM2_MakeCredential in software, for a verifier with no TPM: the
 * credential protection of TPM 2.0 Part 1 ("Protection of Credentials",
 * "Secret Sharing", KDFa and KDFe) and Part 3 (TPM2_MakeCredential,
 * TPM2_ActivateCredential), with OpenSSL only.
 *
 * Given an EK public area (its name algorithm, symmetric definition and
 * key) and an AK Name, it wraps a credential (a secret of at most the
 * name algorithm's digest size) so that only the TPM holding that EK,
 * and only for an object of that Name, gives it back with
 * TPM2_ActivateCredential:
 *
 *   seed        RSA EK: nameAlg-digest-size random bytes, sent as
 *                 RSA-OAEP(EK, seed, label "IDENTITY\0", hash nameAlg)
 *               ECC EK: Z = ECDH(ephemeral, EK).x, sent as the ephemeral
 *                 point; seed = KDFe(nameAlg, Z, "IDENTITY", ephemeral.x,
 *                 EK.x, digest bits)
 *   symKey      KDFa(nameAlg, seed, "STORAGE", AK name, -, EK sym bits)
 *   encIdentity CFB(symKey, IV 0, TPM2B_DIGEST(credential)), with the
 *               EK's symmetric algorithm (AES-128 for L-1/L-2, AES-256
 *               for H-3 ...)
 *   HMACkey     KDFa(nameAlg, seed, "INTEGRITY", -, -, digest bits)
 *   outerHMAC   HMAC_nameAlg(HMACkey, encIdentity || AK name)
 *   credentialBlob  TPM2B_ID_OBJECT(TPM2B_DIGEST(outerHMAC) || encIdentity)
 *   secret          TPM2B_ENCRYPTED_SECRET(the OAEP block or the point)
 */
#ifndef TPMKMS_ATTEST_CREDENTIAL_H
#define TPMKMS_ATTEST_CREDENTIAL_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>
#include "attest/tpmpublic.h"
#include "errors.h"

/* TPM2B_ID_OBJECT: size, TPM2B_DIGEST(HMAC), encIdentity (2 + digest) */
#define TPMKMS_CREDENTIAL_BLOB_MAX \
    (2 + 2 + TPMKMS_TPM_DIGEST_MAX + 2 + TPMKMS_TPM_DIGEST_MAX)
/* TPM2B_ENCRYPTED_SECRET: size, then an RSA block or a TPMS_ECC_POINT */
#define TPMKMS_CREDENTIAL_SECRET_MAX (2 + TPMKMS_TPM_RSA_MAX)
/* tpm2-tools' file: magic, version, the blob and the secret */
#define TPMKMS_CREDENTIAL_FILE_MAX \
    (8 + TPMKMS_CREDENTIAL_BLOB_MAX + TPMKMS_CREDENTIAL_SECRET_MAX)

typedef struct tpmkms_credential_st {
    unsigned char blob[TPMKMS_CREDENTIAL_BLOB_MAX];     /* marshalled */
    size_t blob_len;                                    /* with its size */
    unsigned char secret[TPMKMS_CREDENTIAL_SECRET_MAX]; /* marshalled */
    size_t secret_len;
} TPMKMS_CREDENTIAL;

/*
 * KDFa (Part 1, 11.4.10.2): SP 800-108 counter mode with HMAC_hash:
 * HMAC(key, [i]32 || label || 0x00 || contextU || contextV || [bits]32)
 * for i = 1, 2, ..., the output cut to bits (a partial first byte keeps
 * its low bits).  label is a C string; its terminating NUL is hashed.
 * contextU / contextV may be NULL with length 0.  Raises on failure.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_kdfa(OSSL_LIB_CTX *libctx, uint16_t hash_alg,
                      const unsigned char *key, size_t key_len,
                      const char *label,
                      const unsigned char *context_u, size_t u_len,
                      const unsigned char *context_v, size_t v_len,
                      size_t bits, unsigned char *out);

/*
 * KDFe (Part 1, 11.4.10.3): SP 800-56A concatenation KDF:
 * H([i]32 || Z || label || 0x00 || partyUInfo || partyVInfo) for
 * i = 1, 2, ..., cut to bits as KDFa.  Raises on failure.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_kdfe(OSSL_LIB_CTX *libctx, uint16_t hash_alg,
                      const unsigned char *z, size_t z_len,
                      const char *label,
                      const unsigned char *party_u, size_t u_len,
                      const unsigned char *party_v, size_t v_len,
                      size_t bits, unsigned char *out);

/*
 * TPM2_MakeCredential(ek, credential, name) as the TPM computes it, with
 * fresh randomness (the seed, or the ephemeral key).  ek must be a
 * restricted decryption key (an EK) with a symmetric algorithm tpmkms
 * has in CFB mode (AES, Camellia, SM4): else TPMKMS_R_UNSUPPORTED_
 * ALGORITHM or TPMKMS_R_BAD_TPM_PUBLIC, raised.  A credential larger
 * than the EK's name algorithm's digest: TPMKMS_R_BAD_PARAMETER (the TPM
 * refuses it too).
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_make_credential(OSSL_LIB_CTX *libctx,
                                 const TPMKMS_TPMT_PUBLIC *ek,
                                 const unsigned char *name, size_t name_len,
                                 const unsigned char *credential,
                                 size_t credential_len,
                                 TPMKMS_CREDENTIAL *out);

/*
 * The credential file tpm2-tools' tpm2_makecredential writes and
 * tpm2_activatecredential -i reads: 0xBADCC0DE, version 1 (both
 * big-endian 32-bit), then the TPM2B_ID_OBJECT and the
 * TPM2B_ENCRYPTED_SECRET.  encode returns the length (buf holds at least
 * TPMKMS_CREDENTIAL_FILE_MAX); decode raises TPMKMS_R_BAD_REQUEST naming
 * what is wrong.
 */
size_t tpmkms_credential_encode(const TPMKMS_CREDENTIAL *cred,
                                unsigned char *buf);
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_credential_decode(const unsigned char *buf, size_t len,
                                   TPMKMS_CREDENTIAL *out);

#endif
