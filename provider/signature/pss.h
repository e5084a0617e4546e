/*
 * EMSA-PSS encoding (RFC 8017, section 9.1.1) of a message digest, for
 * RSA-PSS signatures whose salt length the TPM's own RSAPSS scheme cannot
 * produce: the encoded block goes through the raw private-key operation.
 */
#ifndef TPMKMS_SIGNATURE_PSS_H
#define TPMKMS_SIGNATURE_PSS_H

#include <stddef.h>
#include <openssl/types.h>
#include "errors.h"

/*
 * Writes EM, left-padded with zero bytes to em_size (the modulus size),
 * for a key of mod_bits bits: emBits = mod_bits - 1, MGF1 over md, a
 * random salt of salt_len bytes.  mhash is md's digest of the message.
 * label names the key in error messages.  Raises on failure.
 */
tpmkms_rc tpmkms_pss_encode(OSSL_LIB_CTX *libctx, const EVP_MD *md,
                            const unsigned char *mhash, size_t mhash_len,
                            size_t salt_len, size_t mod_bits,
                            unsigned char *em, size_t em_size,
                            const char *label);

/* The largest salt for a mod_bits-bit key and an hlen-byte digest, or -1. */
long tpmkms_pss_max_salt(size_t mod_bits, size_t hlen);

#endif
