/*
 * Key algorithms and the public half of a key, independent of the backend.
 */
#ifndef TPMKMS_PUBKEY_H
#define TPMKMS_PUBKEY_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    TPMKMS_ALG_NONE = 0,
    TPMKMS_ALG_EC_P256,
    TPMKMS_ALG_EC_P384,
    TPMKMS_ALG_RSA_2048,
    TPMKMS_ALG_RSA_3072
} tpmkms_alg;

typedef enum {
    TPMKMS_HASH_NONE = 0,
    TPMKMS_HASH_SHA1,
    TPMKMS_HASH_SHA256,
    TPMKMS_HASH_SHA384,
    TPMKMS_HASH_SHA512
} tpmkms_hash;

typedef enum {
    TPMKMS_SCHEME_ECDSA = 1,     /* out: r||s, each the curve's size       */
    TPMKMS_SCHEME_RSA_PKCS1,     /* out: the RSA signature (modulus size)  */
    TPMKMS_SCHEME_RSA_PSS,       /* salt = digest length (TPM's own rule)  */
    TPMKMS_SCHEME_RSA_RAW        /* in: an encoded block of modulus size;
                                    out: its raw private-key operation
                                    (TPM2_RSA_Decrypt, null scheme; needs a
                                    key with the decrypt attribute)        */
} tpmkms_scheme;

#define TPMKMS_EC_POINT_MAX 133   /* 04 || X || Y for P-521 */
#define TPMKMS_RSA_N_MAX 512      /* 4096 bits */
#define TPMKMS_SIG_MAX 512

typedef struct tpmkms_public_st {
    tpmkms_alg alg;
    unsigned char ec_point[TPMKMS_EC_POINT_MAX]; /* uncompressed, 04||X||Y */
    size_t ec_point_len;
    unsigned char rsa_n[TPMKMS_RSA_N_MAX];       /* big-endian modulus */
    size_t rsa_n_len;
    uint32_t rsa_e;                              /* 65537 */
    int can_sign;                                /* TPMA_OBJECT_sign */
    int can_decrypt;                             /* TPMA_OBJECT_decrypt */
} TPMKMS_PUBLIC;

int tpmkms_alg_is_rsa(tpmkms_alg alg);
int tpmkms_alg_is_ec(tpmkms_alg alg);
int tpmkms_alg_bits(tpmkms_alg alg);             /* 256, 384, 2048, 3072 */
int tpmkms_alg_security_bits(tpmkms_alg alg);    /* 128, 192, 112, 128 */
const char *tpmkms_alg_name(tpmkms_alg alg);     /* "ec-p256" ...  */
tpmkms_alg tpmkms_alg_from_name(const char *s);  /* NONE if unknown */
const char *tpmkms_alg_group(tpmkms_alg alg);    /* "P-256", "P-384", NULL */
const char *tpmkms_alg_keytype(tpmkms_alg alg);  /* "EC" or "RSA" */
/* Maximum signature size: DER ECDSA-Sig-Value or modulus bytes. */
size_t tpmkms_alg_max_sig_size(tpmkms_alg alg);
/* Name of the hash for OpenSSL ("SHA256"...). */
const char *tpmkms_hash_name(tpmkms_hash h);
tpmkms_hash tpmkms_hash_from_name(const char *name); /* NONE if unknown */

#endif
