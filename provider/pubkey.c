/*
 * Key algorithms and hashes: names, sizes, and the names OpenSSL uses.
 */
#include <stddef.h>
#include <strings.h>
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

/*
 * ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }: each INTEGER is
 * at most the order's size plus a 0x00 sign byte, plus tag and length;
 * the SEQUENCE adds its own tag and length (one byte while < 128).
 */
static size_t der_ecdsa_max(size_t order_bytes)
{
    size_t integer = 2 + order_bytes + 1;
    size_t content = 2 * integer;

    return content + (content < 128 ? 2 : 3);
}

size_t tpmkms_alg_max_sig_size(tpmkms_alg alg)
{
    switch (alg) {
    case TPMKMS_ALG_EC_P256:
        return der_ecdsa_max(32);
    case TPMKMS_ALG_EC_P384:
        return der_ecdsa_max(48);
    case TPMKMS_ALG_RSA_2048:
        return 256;
    case TPMKMS_ALG_RSA_3072:
        return 384;
    default:
        return 0;
    }
}

const char *tpmkms_hash_name(tpmkms_hash h)
{
    switch (h) {
    case TPMKMS_HASH_SHA1:
        return "SHA1";
    case TPMKMS_HASH_SHA256:
        return "SHA256";
    case TPMKMS_HASH_SHA384:
        return "SHA384";
    case TPMKMS_HASH_SHA512:
        return "SHA512";
    default:
        return NULL;
    }
}

/* The spellings OpenSSL accepts for these digests, and their OIDs. */
static const struct {
    const char *name;
    tpmkms_hash hash;
} hash_aliases[] = {
    { "SHA1", TPMKMS_HASH_SHA1 },
    { "SHA-1", TPMKMS_HASH_SHA1 },
    { "SSL3-SHA1", TPMKMS_HASH_SHA1 },
    { "1.3.14.3.2.26", TPMKMS_HASH_SHA1 },
    { "SHA256", TPMKMS_HASH_SHA256 },
    { "SHA2-256", TPMKMS_HASH_SHA256 },
    { "SHA-256", TPMKMS_HASH_SHA256 },
    { "2.16.840.1.101.3.4.2.1", TPMKMS_HASH_SHA256 },
    { "SHA384", TPMKMS_HASH_SHA384 },
    { "SHA2-384", TPMKMS_HASH_SHA384 },
    { "SHA-384", TPMKMS_HASH_SHA384 },
    { "2.16.840.1.101.3.4.2.2", TPMKMS_HASH_SHA384 },
    { "SHA512", TPMKMS_HASH_SHA512 },
    { "SHA2-512", TPMKMS_HASH_SHA512 },
    { "SHA-512", TPMKMS_HASH_SHA512 },
    { "2.16.840.1.101.3.4.2.3", TPMKMS_HASH_SHA512 },
};

tpmkms_hash tpmkms_hash_from_name(const char *name)
{
    if (name == NULL)
        return TPMKMS_HASH_NONE;
    for (size_t i = 0; i < sizeof(hash_aliases) / sizeof(hash_aliases[0]); i++)
        if (strcasecmp(name, hash_aliases[i].name) == 0)
            return hash_aliases[i].hash;
    return TPMKMS_HASH_NONE;
}
