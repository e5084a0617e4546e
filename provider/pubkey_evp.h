/*
 * A software EVP_PKEY holding only the public half of a TPM key, for the
 * code that needs OpenSSL's own public-key machinery (SubjectPublicKeyInfo
 * encoding, printing, verifying what the TPM signed).
 */
#ifndef TPMKMS_PUBKEY_EVP_H
#define TPMKMS_PUBKEY_EVP_H

#include <openssl/core.h>
#include <openssl/types.h>
#include "pubkey.h"

/*
 * Builds the key with EVP_PKEY_fromdata in libctx from any provider but
 * tpmkms (normally the default provider), so the result is an ordinary
 * public key.  NULL with an error raised on failure.  Free with
 * EVP_PKEY_free.
 */
EVP_PKEY *tpmkms_public_to_evp(OSSL_LIB_CTX *libctx, const TPMKMS_PUBLIC *pub);

/*
 * The properties of tpmkms's EC and RSA key management that makes software
 * keys (keymgmt.c): it lacks provider=tpmkms, so that a query for
 * provider=tpmkms finds the TPM-only one instead.
 */
#define TPMKMS_SOFTKEYS_PROPS "tpmkms.software=yes"

/*
 * The property query for everything tpmkms hands to another provider:
 * the software copies above, and the software keys OpenSSL puts into our
 * keymgmt when tpmkms is activated globally (TPMKMS_KEY.soft; see
 * keymgmt.c), whose every operation is forwarded with it.  It keeps those
 * from ever coming back to tpmkms: provider!=tpmkms excludes everything
 * carrying TPMKMS_PROPS, and the second clause the key management above,
 * which has no provider property (OpenSSL reads a missing one as false,
 * which provider!=tpmkms accepts).
 */
#define TPMKMS_SOFT_PROPQ "provider!=tpmkms,tpmkms.software!=yes"

/*
 * Writes a software key (TPMKMS_KEY.soft) to cout as its own provider's
 * encoders do: output_type "DER", "PEM" or "TEXT", output_structure
 * ("SubjectPublicKeyInfo", "PrivateKeyInfo", "type-specific") or NULL,
 * selection as the encoder was asked, cipher (may be NULL) to encrypt a
 * private key with the passphrase from cb.  libctx must be the provider's
 * (it reads cout through the core).  1 on success.
 */
int tpmkms_soft_encode(OSSL_LIB_CTX *libctx, const EVP_PKEY *soft,
                       const char *output_type, const char *output_structure,
                       int selection, const char *cipher, OSSL_CORE_BIO *cout,
                       OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg);

#endif
