/*
 * Software keys in a TPMKMS_KEY: everything tpmkms does with them, in one
 * place.
 *
 * Why they exist: OpenSSL 3.0 fetches without a property query take the
 * first provider's implementation, in an order that depends on the
 * configuration.  With tpmkms activated globally before default, an
 * application's plain "EC"/"RSA" key management fetch (EVP_PKEY_Q_keygen,
 * EVP_PKEY_fromdata, libssl's ECDHE keys, legacy keys made provider-side)
 * returns our keymgmt, whose names must stay "EC" and "RSA" (libssl and
 * X.509 code ask EVP_PKEY_is_a(key, "EC")).  Such a key is held as
 * TPMKMS_KEY.soft: an ordinary EVP_PKEY in the provider's child library
 * context, owned by another provider (normally default) and always
 * fetched with TPMKMS_SOFT_PROPQ ("provider!=tpmkms"), so it never comes
 * back to us.  pub.alg is then NONE and backend NULL, so code that knows
 * only TPM keys refuses it.  query_operation_name cannot see the key, so
 * its signatures come to TPMKMS-ECDSA / TPMKMS-RSA too.
 *
 * This module forwards every operation on such a key to its own provider
 * through public EVP calls, as if tpmkms were not there: import,
 * generation, copies, has, match, validate, export (private part
 * included), parameters and their tables, sign/verify/digest operations
 * with their parameters, encryption, decryption and key exchange.  Nothing here reaches a TPM.  It needs
 * no provider dispatch, only libcrypto, so it lives in tpmkms_core beside
 * pubkey_evp.c (the unit tests that build signature.c link it from there).
 *
 * How the provider calls it -- one branch point per operation family:
 *
 *   keymgmt.c    every entry point that takes a key starts with
 *                `if (tpmkms_soft_is(key)) return tpmkms_soft_keymgmt_<op>`
 *                (the key is the only state; there is no init to decide
 *                at), import of anything but a TPM key and generation
 *                without a `uri` go here, and the software generator is a
 *                TPMKMS_SOFT_GEN the generation context carries.
 *   signature.c  init decides once: a software key's context gets a
 *                TPMKMS_SOFT_SIG (ctx->soft), and every later entry point
 *                forwards while that pointer is set -- a TPM key's
 *                signature pays one NULL test per call and nothing else.
 *   asymcipher.c the same for RSA encryption and decryption, and
 *   keyexch.c    for ECDH: init starts the other provider's EVP_PKEY_CTX
 *                (tpmkms_soft_op_new) and every later entry point
 *                forwards while ctx->soft is set.
 *
 * Every function below stands in for the OpenSSL entry point it is named
 * after and keeps that contract (1/0, or a new object / NULL), because its
 * answer is the other provider's: has, match and verify answer 0 for "no",
 * and a refusal by the other provider leaves that provider's error on the
 * queue, unraised.  Failures understood here (no other provider, out of
 * memory, an operation that was not started) are raised here, once.
 */
#ifndef TPMKMS_SOFTKEY_H
#define TPMKMS_SOFTKEY_H

#include <stddef.h>
#include <openssl/core.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/types.h>
#include "key.h"
#include "pubkey_evp.h"

/* 1 if key holds a software key (a pointer test: cheap on any path). */
static inline int tpmkms_soft_is(const TPMKMS_KEY *key)
{
    return key != NULL && key->soft != NULL;
}

/*
 * The parameters OpenSSL 3.0's default provider answers for its EC and RSA
 * keys, for the keymgmt tables that serve both kinds of key.
 */
#define TPMKMS_SOFT_EC_DOMAIN_PARAMS                                          \
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),              \
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),             \
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0), \
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_FIELD_TYPE, NULL, 0),           \
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_P, NULL, 0),                             \
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_A, NULL, 0),                             \
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_B, NULL, 0),                             \
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_EC_GENERATOR, NULL, 0),           \
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_ORDER, NULL, 0),                         \
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_COFACTOR, NULL, 0),                      \
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_EC_SEED, NULL, 0)

#define TPMKMS_SOFT_EC_KEY_PARAMS                                             \
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),                \
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0),                         \
    OSSL_PARAM_int(OSSL_PKEY_PARAM_USE_COFACTOR_ECDH, NULL),                  \
    OSSL_PARAM_int(OSSL_PKEY_PARAM_EC_INCLUDE_PUBLIC, NULL)

#define TPMKMS_SOFT_RSA_KEY_PARAMS                                            \
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),                            \
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),                            \
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_D, NULL, 0),                            \
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_FACTOR1, NULL, 0),                      \
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_FACTOR2, NULL, 0),                      \
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_EXPONENT1, NULL, 0),                    \
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_EXPONENT2, NULL, 0),                    \
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_COEFFICIENT1, NULL, 0)

/* ---- keymgmt: key is a software key unless said otherwise ------------- */

/* The parts selection names, as a new software key; NULL on failure. */
TPMKMS_KEY *tpmkms_soft_keymgmt_dup(const TPMKMS_KEY *key, int selection);

/*
 * A TPM EC key's domain parameters (its curve) as a new software key with
 * nothing else, for a copy of the parameters alone
 * (EVP_PKEY_copy_parameters, which CMS makes of a recipient's key to read
 * the originator's public key with); NULL, raised, on failure.
 */
TPMKMS_KEY *tpmkms_soft_keymgmt_params_of(const TPMKMS_KEY *tpm);

/* Whether the key has the parts selection names. */
int tpmkms_soft_keymgmt_has(const TPMKMS_KEY *key, int selection);

/*
 * Two keys of which at least one is a software key.  Against a TPM key the
 * public halves and parameters decide (the TPM's private half cannot be
 * compared); against an empty key the answer is 0.
 */
int tpmkms_soft_keymgmt_match(const TPMKMS_KEY *k1, const TPMKMS_KEY *k2,
                              int selection);

int tpmkms_soft_keymgmt_validate(const TPMKMS_KEY *key, int selection,
                                 int checktype);
int tpmkms_soft_keymgmt_get_params(const TPMKMS_KEY *key, OSSL_PARAM params[]);
int tpmkms_soft_keymgmt_set_params(TPMKMS_KEY *key, const OSSL_PARAM params[]);

/* Whatever selection asks, private part included: it is an ordinary key. */
int tpmkms_soft_keymgmt_export(const TPMKMS_KEY *key, int selection,
                               OSSL_CALLBACK *param_cb, void *cbarg);

/*
 * Makes key (empty, or a software key: never a TPM key) a software key of
 * keytype ("EC", "RSA") from params; into a software key, the parameters
 * given win over those it had.
 */
int tpmkms_soft_keymgmt_import(TPMKMS_KEY *key, const char *keytype,
                               int selection, const OSSL_PARAM params[]);

/* The settable parameters of a keytype's software keys. */
const OSSL_PARAM *tpmkms_soft_keymgmt_settable_params(const char *keytype);

/*
 * What a keytype's software key is imported from and exported to, for
 * selection (NULL: nothing); a TPM key exports the public part of it.
 */
const OSSL_PARAM *tpmkms_soft_keymgmt_types(const char *keytype, int selection);

/* ---- generation -------------------------------------------------------- */

/* The other provider's generator for a keytype, as generation goes. */
typedef struct tpmkms_soft_gen_st TPMKMS_SOFT_GEN;

/*
 * keytype is a static string ("EC", "RSA").  Without another provider for
 * keytype the generator is empty: it takes parameters silently and fails
 * (raised) only when asked for a software key.  NULL (raised): no memory.
 */
TPMKMS_SOFT_GEN *tpmkms_soft_gen_new(OSSL_LIB_CTX *libctx, const char *keytype,
                                     int selection);
void tpmkms_soft_gen_free(TPMKMS_SOFT_GEN *gen);

/*
 * Passes generation parameters on.  for_tpm: the key will be a TPM key, so
 * a refusal here does not count (and leaves no error); otherwise it fails
 * with the other provider's error.
 */
int tpmkms_soft_gen_set_params(TPMKMS_SOFT_GEN *gen, const OSSL_PARAM params[],
                               int for_tpm);

/* Sets the EC group (a TPM key given as template); 1 if there is no generator. */
int tpmkms_soft_gen_set_group(TPMKMS_SOFT_GEN *gen, const char *group);

/* A software key given as template: its domain parameters. */
int tpmkms_soft_gen_set_template(TPMKMS_SOFT_GEN *gen, const TPMKMS_KEY *templ);

/* Generates a software key, reporting progress through cb; NULL on failure. */
TPMKMS_KEY *tpmkms_soft_gen_generate(TPMKMS_SOFT_GEN *gen, OSSL_CALLBACK *cb,
                                     void *cbarg);

/* ---- signatures -------------------------------------------------------- */

/* A software key's signature operation, in its own provider. */
typedef struct tpmkms_soft_sig_st TPMKMS_SOFT_SIG;

/*
 * Starts signing (sign) or verifying with a software key: digest with
 * mdname (may be NULL: the key's default) as digest_sign/verify_init, else
 * as sign/verify_init; params as init got them.  NULL on failure.
 */
TPMKMS_SOFT_SIG *tpmkms_soft_sig_new(OSSL_LIB_CTX *libctx,
                                     const TPMKMS_KEY *key, int sign,
                                     int digest, const char *mdname,
                                     const OSSL_PARAM params[]);
/* A copy, state included; NULL (not raised: the caller knows what failed). */
TPMKMS_SOFT_SIG *tpmkms_soft_sig_dup(const TPMKMS_SOFT_SIG *soft);
void tpmkms_soft_sig_free(TPMKMS_SOFT_SIG *soft);

int tpmkms_soft_sig_sign(TPMKMS_SOFT_SIG *soft, unsigned char *sig,
                         size_t *siglen, size_t sigsize,
                         const unsigned char *tbs, size_t tbslen);
/* 1: the signature verifies; 0: it does not, or verifying failed. */
int tpmkms_soft_sig_verify(TPMKMS_SOFT_SIG *soft, const unsigned char *sig,
                           size_t siglen, const unsigned char *tbs,
                           size_t tbslen);
int tpmkms_soft_sig_digest_update(TPMKMS_SOFT_SIG *soft,
                                  const unsigned char *data, size_t datalen);
int tpmkms_soft_sig_digest_sign_final(TPMKMS_SOFT_SIG *soft, unsigned char *sig,
                                      size_t *siglen, size_t sigsize);
int tpmkms_soft_sig_digest_sign(TPMKMS_SOFT_SIG *soft, unsigned char *sig,
                                size_t *siglen, size_t sigsize,
                                const unsigned char *tbs, size_t tbslen);
int tpmkms_soft_sig_digest_verify_final(TPMKMS_SOFT_SIG *soft,
                                        const unsigned char *sig,
                                        size_t siglen);

/* The operation's parameters and tables, as its provider answers them. */
int tpmkms_soft_sig_get_params(TPMKMS_SOFT_SIG *soft, OSSL_PARAM params[]);
int tpmkms_soft_sig_set_params(TPMKMS_SOFT_SIG *soft, const OSSL_PARAM params[]);
const OSSL_PARAM *tpmkms_soft_sig_gettable_params(const TPMKMS_SOFT_SIG *soft);
const OSSL_PARAM *tpmkms_soft_sig_settable_params(const TPMKMS_SOFT_SIG *soft);

/* ---- asymmetric ciphers and key exchange ------------------------------ */

/*
 * Decryption, encryption and key exchange with a software key are the
 * other provider's, started in it with public EVP calls: an EVP_PKEY_CTX
 * of pkey (a software key's own EVP_PKEY; for encryption also a TPM
 * key's public half, tpmkms_public_to_evp) fetched with
 * TPMKMS_SOFT_PROPQ, so it never comes back here.  asymcipher.c and
 * keyexch.c decide at init, as signature.c does, and keep the context
 * while the operation lasts; EVP_PKEY_CTX_dup and EVP_PKEY_CTX_free copy
 * and free it.  Failures are the other provider's to explain: its errors
 * stay on the queue, unraised.
 */
enum { TPMKMS_SOFT_ENCRYPT = 1, TPMKMS_SOFT_DECRYPT, TPMKMS_SOFT_DERIVE };

EVP_PKEY_CTX *tpmkms_soft_op_new(OSSL_LIB_CTX *libctx, EVP_PKEY *pkey,
                                 int op, const OSSL_PARAM params[]);
/* encrypt or decrypt, as started; out NULL: *outlen gets the size needed. */
int tpmkms_soft_op_cipher(EVP_PKEY_CTX *pctx, int op, unsigned char *out,
                          size_t *outlen, size_t outsize,
                          const unsigned char *in, size_t inlen);
/*
 * The peer of a key exchange: a software key, or a TPM key's public half
 * (the other provider gets a software copy of it).
 */
int tpmkms_soft_op_set_peer(EVP_PKEY_CTX *pctx, const TPMKMS_KEY *peer);
int tpmkms_soft_op_derive(EVP_PKEY_CTX *pctx, unsigned char *secret,
                          size_t *secretlen, size_t outsize);

#endif
