/*
 * EMSA-PSS-ENCODE (RFC 8017, section 9.1.1) with MGF1 (appendix B.2.1).
 * The TPM's RSAPSS scheme always uses salt = digest length; other salt
 * lengths are encoded here and signed with the raw private operation.
 */
#include <stdint.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "pss.h"

#define PSS_SALT_MAX 512

long tpmkms_pss_max_salt(size_t mod_bits, size_t hlen)
{
    size_t em_len;

    if (mod_bits < 2)
        return -1;
    em_len = (mod_bits - 1 + 7) / 8;
    if (em_len < hlen + 2)
        return -1;
    return (long)(em_len - hlen - 2);
}

/* out ^= MGF1(seed, out_len): T = Hash(seed || C) for C = 0, 1, ... */
static int pss_mgf1_xor(const EVP_MD *md, const unsigned char *seed,
                        size_t seed_len, unsigned char *out, size_t out_len)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    unsigned char block[EVP_MAX_MD_SIZE];
    unsigned int block_len;
    uint32_t counter = 0;
    size_t done = 0;
    int ok = 0;

    if (mctx == NULL)
        return 0;
    while (done < out_len) {
        unsigned char c[4] = {
            (unsigned char)(counter >> 24), (unsigned char)(counter >> 16),
            (unsigned char)(counter >> 8), (unsigned char)counter
        };

        if (!EVP_DigestInit_ex(mctx, md, NULL)
            || !EVP_DigestUpdate(mctx, seed, seed_len)
            || !EVP_DigestUpdate(mctx, c, sizeof(c))
            || !EVP_DigestFinal_ex(mctx, block, &block_len))
            goto out_free;
        for (unsigned int i = 0; i < block_len && done < out_len; i++)
            out[done++] ^= block[i];
        counter++;
    }
    ok = 1;
out_free:
    OPENSSL_cleanse(block, sizeof(block));
    EVP_MD_CTX_free(mctx);
    return ok;
}

tpmkms_rc tpmkms_pss_encode(OSSL_LIB_CTX *libctx, const EVP_MD *md,
                            const unsigned char *mhash, size_t mhash_len,
                            size_t salt_len, size_t mod_bits,
                            unsigned char *em, size_t em_size,
                            const char *label)
{
    static const unsigned char zeros[8] = { 0 };
    unsigned char salt[PSS_SALT_MAX];
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned int h_len = 0;
    size_t em_bits = mod_bits - 1, em_len, db_len, pad;
    long max_salt;
    unsigned char *db;
    EVP_MD_CTX *mctx = NULL;
    tpmkms_rc rc = TPMKMS_R_INTERNAL;

    if (md == NULL || mhash_len != (size_t)EVP_MD_get_size(md)) {
        TPMKMS_raise(TPMKMS_R_INTERNAL,
                     "%s: PSS encoding: digest length %zu does not match %s",
                     label, mhash_len, md == NULL ? "(none)" : EVP_MD_get0_name(md));
        return TPMKMS_R_INTERNAL;
    }
    max_salt = tpmkms_pss_max_salt(mod_bits, mhash_len);
    if (max_salt < 0 || salt_len > (size_t)max_salt || salt_len > sizeof(salt)) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: RSA-PSS salt length %zu is too large for a %zu-bit "
                     "key with %s (at most %ld)", label, salt_len, mod_bits,
                     EVP_MD_get0_name(md), max_salt < 0 ? 0 : max_salt);
        return TPMKMS_R_BAD_PARAMETER;
    }
    em_len = (em_bits + 7) / 8;
    if (em_size < em_len) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: PSS block of %zu bytes does not "
                     "fit %zu bytes", label, em_len, em_size);
        return TPMKMS_R_INTERNAL;
    }
    pad = em_size - em_len;
    db_len = em_len - mhash_len - 1;

    if (salt_len > 0 && RAND_bytes_ex(libctx, salt, salt_len, 0) <= 0) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: no random bytes for the PSS salt",
                     label);
        return TPMKMS_R_INTERNAL;
    }

    /* H = Hash(0x00 * 8 || mHash || salt) */
    if ((mctx = EVP_MD_CTX_new()) == NULL
        || !EVP_DigestInit_ex(mctx, md, NULL)
        || !EVP_DigestUpdate(mctx, zeros, sizeof(zeros))
        || !EVP_DigestUpdate(mctx, mhash, mhash_len)
        || !EVP_DigestUpdate(mctx, salt, salt_len)
        || !EVP_DigestFinal_ex(mctx, h, &h_len) || h_len != mhash_len) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: PSS encoding: %s failed", label,
                     EVP_MD_get0_name(md));
        goto out_cleanse;
    }

    /* EM = maskedDB || H || 0xbc, with DB = PS || 0x01 || salt. */
    memset(em, 0, em_size);
    db = em + pad;
    db[db_len - salt_len - 1] = 0x01;
    memcpy(db + db_len - salt_len, salt, salt_len);
    if (!pss_mgf1_xor(md, h, h_len, db, db_len)) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: PSS encoding: MGF1 with %s failed",
                     label, EVP_MD_get0_name(md));
        OPENSSL_cleanse(em, em_size);
        goto out_cleanse;
    }
    /* Clear the leftmost 8 * emLen - emBits bits. */
    db[0] &= (unsigned char)(0xff >> (8 * em_len - em_bits));
    memcpy(db + db_len, h, h_len);
    db[db_len + h_len] = 0xbc;
    rc = TPMKMS_R_OK;
out_cleanse:
    EVP_MD_CTX_free(mctx);
    OPENSSL_cleanse(salt, sizeof(salt));
    return rc;
}
