/*
 * A software EVP_PKEY holding only the public half of a TPM key, for the
 * code that needs OpenSSL's own public-key machinery (SubjectPublicKeyInfo
 * encoding, printing, verifying what the TPM signed).
 */
#ifndef TPMKMS_PUBKEY_EVP_H
#define TPMKMS_PUBKEY_EVP_H

#include <openssl/types.h>
#include "pubkey.h"

/*
 * Builds the key with EVP_PKEY_fromdata in libctx from any provider but
 * tpmkms (normally the default provider), so the result is an ordinary
 * public key.  NULL with an error raised on failure.  Free with
 * EVP_PKEY_free.
 */
EVP_PKEY *tpmkms_public_to_evp(OSSL_LIB_CTX *libctx, const TPMKMS_PUBLIC *pub);

#endif
