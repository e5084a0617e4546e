/*
 * Key algorithms and hashes: names, sizes, and the names OpenSSL uses.
 * The hash table here is the library's one source of hash facts.
 */
#include <stddef.h>
#include <strings.h>
#include <openssl/obj_mac.h>
#include "pubkey.h"

int tpmkms_alg_is_rsa(tpmkms_alg alg)
{
    return alg == TPMKMS_ALG_RSA_2048 || alg == TPMKMS_ALG_RSA_3072;
}

int tpmkms_alg_is_ec(tpmkms_alg alg)
{
    return alg == TPMKMS_ALG_EC_P256 || alg == TPMKMS_ALG_EC_P384;
}

int tpmkms_alg_bits(tpmkms_alg alg)
{
    switch (alg) {
    case TPMKMS_ALG_EC_P256:
        return 256;
    case TPMKMS_ALG_EC_P384:
        return 384;
    case TPMKMS_ALG_RSA_2048:
        return 2048;
    case TPMKMS_ALG_RSA_3072:
        return 3072;
    default:
        return 0;
    }
}

/* NIST SP 800-57 part 1, table 2. */
int tpmkms_alg_security_bits(tpmkms_alg alg)
{
    switch (alg) {
    case TPMKMS_ALG_EC_P256:
        return 128;
    case TPMKMS_ALG_EC_P384:
        return 192;
    case TPMKMS_ALG_RSA_2048:
        return 112;
    case TPMKMS_ALG_RSA_3072:
        return 128;
    default:
        return 0;
    }
}

const char *tpmkms_alg_name(tpmkms_alg alg)
{
    switch (alg) {
    case TPMKMS_ALG_EC_P256:
        return "ec-p256";
    case TPMKMS_ALG_EC_P384:
        return "ec-p384";
    case TPMKMS_ALG_RSA_2048:
        return "rsa-2048";
    case TPMKMS_ALG_RSA_3072:
        return "rsa-3072";
    default:
        return NULL;
    }
}

tpmkms_alg tpmkms_alg_from_name(const char *s)
{
    static const tpmkms_alg all[] = {
        TPMKMS_ALG_EC_P256, TPMKMS_ALG_EC_P384,
        TPMKMS_ALG_RSA_2048, TPMKMS_ALG_RSA_3072
    };

    if (s == NULL)
        return TPMKMS_ALG_NONE;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcasecmp(s, tpmkms_alg_name(all[i])) == 0)
            return all[i];
    return TPMKMS_ALG_NONE;
}

const char *tpmkms_alg_group(tpmkms_alg alg)
{
    switch (alg) {
    case TPMKMS_ALG_EC_P256:
        return "P-256";
    case TPMKMS_ALG_EC_P384:
        return "P-384";
    default:
        return NULL;
    }
}

const char *tpmkms_alg_keytype(tpmkms_alg alg)
{
    if (tpmkms_alg_is_ec(alg))
        return "EC";
    if (tpmkms_alg_is_rsa(alg))
        return "RSA";
    return NULL;
}

/* DER length octets for a content of len bytes (len < 65536). */
static size_t der_len_size(size_t len)
{
    return len < 0x80 ? 1 : len < 0x100 ? 2 : 3;
}

/*
 * ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }: each INTEGER is
 * at most the order's size plus a 0x00 sign byte, plus tag and length;
 * the SEQUENCE adds its own tag and length.
 */
size_t tpmkms_ecdsa_der_max(size_t order_bytes)
{
    size_t integer = order_bytes + 1;
    size_t content = 2 * (1 + der_len_size(integer) + integer);

    return 1 + der_len_size(content) + content;
}

tpmkms_hash tpmkms_alg_default_hash(tpmkms_alg alg)
{
    return alg == TPMKMS_ALG_EC_P384 ? TPMKMS_HASH_SHA384 : TPMKMS_HASH_SHA256;
}

size_t tpmkms_alg_max_sig_size(tpmkms_alg alg)
{
    switch (alg) {
    case TPMKMS_ALG_EC_P256:
        return tpmkms_ecdsa_der_max(32);
    case TPMKMS_ALG_EC_P384:
        return tpmkms_ecdsa_der_max(48);
    case TPMKMS_ALG_RSA_2048:
        return 256;
    case TPMKMS_ALG_RSA_3072:
        return 384;
    default:
        return 0;
    }
}

/*
 * Indexed by tpmkms_hash - 1.  The aliases are every name libcrypto gives
 * these digests (test_pubkey checks them against EVP_MD_names_do_all).
 */
static const TPMKMS_HASH_INFO hashes[] = {
    { TPMKMS_HASH_SHA1, "SHA1", "SHA1",
      { "SHA-1", "SSL3-SHA1", "1.3.14.3.2.26" }, NID_sha1, 20,
      { 0x2b, 0x0e, 0x03, 0x02, 0x1a }, 5,
      { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01 }, 7, 5 },
    { TPMKMS_HASH_SHA256, "SHA256", "SHA2-256",
      { "SHA-256", "2.16.840.1.101.3.4.2.1" }, NID_sha256, 32,
      { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01 }, 9,
      { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 }, 8, 11 },
    { TPMKMS_HASH_SHA384, "SHA384", "SHA2-384",
      { "SHA-384", "2.16.840.1.101.3.4.2.2" }, NID_sha384, 48,
      { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02 }, 9,
      { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03 }, 8, 12 },
    { TPMKMS_HASH_SHA512, "SHA512", "SHA2-512",
      { "SHA-512", "2.16.840.1.101.3.4.2.3" }, NID_sha512, 64,
      { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03 }, 9,
      { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04 }, 8, 13 },
};
#define NHASHES (sizeof(hashes) / sizeof(hashes[0]))

const TPMKMS_HASH_INFO *tpmkms_hash_info(tpmkms_hash h)
{
    size_t i = (size_t)h - 1;

    return h != TPMKMS_HASH_NONE && i < NHASHES ? &hashes[i] : NULL;
}

const TPMKMS_HASH_INFO *tpmkms_hash_info_by_nid(int nid)
{
    for (size_t i = 0; i < NHASHES; i++)
        if (hashes[i].nid == nid)
            return &hashes[i];
    return NULL;
}

/* Our own names first: they are what callers pass most ("SHA256"). */
const TPMKMS_HASH_INFO *tpmkms_hash_info_by_name(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < NHASHES; i++)
        if (strcasecmp(name, hashes[i].name) == 0)
            return &hashes[i];
    for (size_t i = 0; i < NHASHES; i++) {
        if (strcasecmp(name, hashes[i].ossl_name) == 0)
            return &hashes[i];
        for (size_t j = 0; j < TPMKMS_HASH_ALIASES
                           && hashes[i].aliases[j] != NULL; j++)
            if (strcasecmp(name, hashes[i].aliases[j]) == 0)
                return &hashes[i];
    }
    return NULL;
}

const TPMKMS_HASH_INFO *tpmkms_hash_info_by_size(size_t size)
{
    for (size_t i = 0; i < NHASHES; i++)
        if (hashes[i].size == size)
            return &hashes[i];
    return NULL;
}

const char *tpmkms_hash_name(tpmkms_hash h)
{
    const TPMKMS_HASH_INFO *info = tpmkms_hash_info(h);

    return info != NULL ? info->name : NULL;
}

tpmkms_hash tpmkms_hash_from_name(const char *name)
{
    const TPMKMS_HASH_INFO *info = tpmkms_hash_info_by_name(name);

    return info != NULL ? info->hash : TPMKMS_HASH_NONE;
}
