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
    int restricted;                              /* TPMA_OBJECT_restricted:
                                                    signs or decrypts only
                                                    what the TPM made (an
                                                    AK, a storage key) */
} TPMKMS_PUBLIC;

int tpmkms_alg_is_rsa(tpmkms_alg alg);
int tpmkms_alg_is_ec(tpmkms_alg alg);
int tpmkms_alg_bits(tpmkms_alg alg);             /* 256, 384, 2048, 3072 */
int tpmkms_alg_security_bits(tpmkms_alg alg);    /* 128, 192, 112, 128 */
const char *tpmkms_alg_name(tpmkms_alg alg);     /* "ec-p256" ...  */
tpmkms_alg tpmkms_alg_from_name(const char *s);  /* NONE if unknown */
const char *tpmkms_alg_group(tpmkms_alg alg);    /* "P-256", "P-384", NULL */
const char *tpmkms_alg_keytype(tpmkms_alg alg);  /* "EC" or "RSA" */
/* The digest a key signs with when none is asked: SHA384 on P-384,
 * else SHA256. */
tpmkms_hash tpmkms_alg_default_hash(tpmkms_alg alg);
/* Maximum signature size: DER ECDSA-Sig-Value or modulus bytes. */
size_t tpmkms_alg_max_sig_size(tpmkms_alg alg);
/*
 * The largest DER ECDSA-Sig-Value for a group order of order_bytes bytes:
 * r and s at full size with the top bit set (a 0x00 sign byte each).
 */
size_t tpmkms_ecdsa_der_max(size_t order_bytes);

/*
 * The one table of what the library knows about each hash.  The OIDs are
 * DER contents octets (no tag or length): id-shaN (RFC 4055 2.1, RFC 3279
 * 2.2.1), ecdsa-with-SHAN (RFC 5758 3.2, RFC 3279 2.2.3), and the last arc
 * of shaNWithRSAEncryption, 1.2.840.113549.1.1.N (RFC 4055 5).  Backends
 * keep their own mapping to native IDs (TPM2_ALG_*).
 */
#define TPMKMS_HASH_ALIASES 3
typedef struct tpmkms_hash_info_st {
    tpmkms_hash hash;
    const char *name;           /* "SHA256": messages, defaults, params */
    const char *ossl_name;      /* "SHA2-256": libcrypto's canonical name,
                                 * for EVP_MD_is_a and OSSL_PARAMs */
    const char *aliases[TPMKMS_HASH_ALIASES]; /* libcrypto's other names
                                 * for it; NULL-padded */
    int nid;                    /* NID_sha256 ... */
    size_t size;                /* digest bytes */
    unsigned char oid[9];
    size_t oid_len;
    unsigned char ecdsa_oid[8];
    size_t ecdsa_oid_len;
    unsigned char rsa_arc;
} TPMKMS_HASH_INFO;

/* Every name in the table, for messages; a unit test keeps it in step. */
#define TPMKMS_HASHES_TEXT "SHA1, SHA256, SHA384 or SHA512"

/* Each returns the table's entry, or NULL for one it does not hold. */
const TPMKMS_HASH_INFO *tpmkms_hash_info(tpmkms_hash h);
const TPMKMS_HASH_INFO *tpmkms_hash_info_by_nid(int nid);
const TPMKMS_HASH_INFO *tpmkms_hash_info_by_name(const char *name); /* any
                                                   * case, any alias */
const TPMKMS_HASH_INFO *tpmkms_hash_info_by_size(size_t size);
/* Name of the hash for OpenSSL ("SHA256"...). */
const char *tpmkms_hash_name(tpmkms_hash h);
tpmkms_hash tpmkms_hash_from_name(const char *name); /* NONE if unknown */

#endif
