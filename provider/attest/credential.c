/*
 * TPM2_MakeCredential in software (credential.h), written from TPM 2.0
 * Part 1 (KDFa, KDFe, secret sharing, credential protection) and Part 3
 * (TPM2_MakeCredential).
 */
#include <stdio.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include "attest/credential.h"
#include "pubkey_evp.h"

static void be32(unsigned char b[4], uint32_t v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

static tpmkms_rc hash_of(uint16_t hash_alg, const char **name, size_t *size)
{
    *name = tpmkms_tpm_hash_name(hash_alg);
    *size = tpmkms_tpm_hash_size(hash_alg);
    if (*name == NULL) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM, "hash algorithm 0x%04x "
                     "is not one tpmkms computes (SHA-1, SHA-256, SHA-384, "
                     "SHA-512, SM3-256)", hash_alg);
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    return TPMKMS_R_OK;
}

/* A partial first byte keeps its low bits (Part 1, 11.4.10.2). */
static void trim_bits(unsigned char *out, size_t bits)
{
    if (bits % 8 != 0)
        out[0] &= (unsigned char)((1u << (bits % 8)) - 1);
}

tpmkms_rc tpmkms_kdfa(OSSL_LIB_CTX *libctx, uint16_t hash_alg,
                      const unsigned char *key, size_t key_len,
                      const char *label,
                      const unsigned char *context_u, size_t u_len,
                      const unsigned char *context_v, size_t v_len,
                      size_t bits, unsigned char *out)
{
    unsigned char block[TPMKMS_TPM_DIGEST_MAX], counter[4], lbits[4];
    size_t want = (bits + 7) / 8, done = 0, dsize, mdlen;
    OSSL_PARAM params[2];
    EVP_MAC_CTX *ctx = NULL;
    EVP_MAC *mac = NULL;
    const char *mdname;
    uint32_t i;
    int ok = 1;
    tpmkms_rc rc;

    if ((rc = hash_of(hash_alg, &mdname, &dsize)) != TPMKMS_R_OK)
        return rc;
    memset(out, 0, want);
    mac = EVP_MAC_fetch(libctx, "HMAC", TPMKMS_SOFT_PROPQ);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *)mdname, 0);
    params[1] = OSSL_PARAM_construct_end();
    be32(lbits, (uint32_t)bits);
    ok = mac != NULL && (ctx = EVP_MAC_CTX_new(mac)) != NULL
         && bits > 0 && bits <= 0xffffffffu;
    for (i = 1; ok && done < want; i++) {
        be32(counter, i);
        ok = EVP_MAC_init(ctx, key, key_len, params)
             && EVP_MAC_update(ctx, counter, 4)
             && EVP_MAC_update(ctx, (const unsigned char *)label,
                               strlen(label) + 1)
             && (u_len == 0 || EVP_MAC_update(ctx, context_u, u_len))
             && (v_len == 0 || EVP_MAC_update(ctx, context_v, v_len))
             && EVP_MAC_update(ctx, lbits, 4)
             && EVP_MAC_final(ctx, block, &mdlen, sizeof(block))
             && mdlen == dsize;
        if (ok) {
            size_t n = want - done < dsize ? want - done : dsize;

            memcpy(out + done, block, n);
            done += n;
        }
    }
    OPENSSL_cleanse(block, sizeof(block));
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    if (!ok) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "KDFa with HMAC-%s (label %s) "
                     "failed", mdname, label);
        return TPMKMS_R_INTERNAL;
    }
    trim_bits(out, bits);
    return TPMKMS_R_OK;
}

tpmkms_rc tpmkms_kdfe(OSSL_LIB_CTX *libctx, uint16_t hash_alg,
                      const unsigned char *z, size_t z_len,
                      const char *label,
                      const unsigned char *party_u, size_t u_len,
                      const unsigned char *party_v, size_t v_len,
                      size_t bits, unsigned char *out)
{
    unsigned char block[TPMKMS_TPM_DIGEST_MAX], counter[4];
    size_t want = (bits + 7) / 8, done = 0, dsize;
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_MD *md = NULL;
    const char *mdname;
    uint32_t i;
    int ok;
    tpmkms_rc rc;

    if ((rc = hash_of(hash_alg, &mdname, &dsize)) != TPMKMS_R_OK) {
        EVP_MD_CTX_free(ctx);
        return rc;
    }
    memset(out, 0, want);
    md = EVP_MD_fetch(libctx, mdname, TPMKMS_SOFT_PROPQ);
    ok = ctx != NULL && md != NULL && bits > 0;
    for (i = 1; ok && done < want; i++) {
        be32(counter, i);
        ok = EVP_DigestInit_ex2(ctx, md, NULL)
             && EVP_DigestUpdate(ctx, counter, 4)
             && EVP_DigestUpdate(ctx, z, z_len)
             && EVP_DigestUpdate(ctx, label, strlen(label) + 1)
             && (u_len == 0 || EVP_DigestUpdate(ctx, party_u, u_len))
             && (v_len == 0 || EVP_DigestUpdate(ctx, party_v, v_len))
             && EVP_DigestFinal_ex(ctx, block, &mdlen)
             && mdlen == dsize;
        if (ok) {
            size_t n = want - done < dsize ? want - done : dsize;

            memcpy(out + done, block, n);
            done += n;
        }
    }
    OPENSSL_cleanse(block, sizeof(block));
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    if (!ok) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "KDFe with %s (label %s) failed",
                     mdname, label);
        return TPMKMS_R_INTERNAL;
    }
    trim_bits(out, bits);
    return TPMKMS_R_OK;
}

/* The CFB cipher of the EK's symmetric definition, e.g. "AES-128-CFB". */
static tpmkms_rc sym_cipher(const TPMKMS_TPMT_PUBLIC *ek, char *name,
                            size_t len)
{
    const char *family = NULL;

    switch (ek->sym_alg) {
    case TPMKMS_TPM_ALG_AES:
        family = "AES";
        break;
    case TPMKMS_TPM_ALG_CAMELLIA:
        family = "CAMELLIA";
        break;
    case TPMKMS_TPM_ALG_SM4:
        family = "SM4";
        break;
    default:
        break;
    }
    if (family == NULL || ek->sym_mode != TPMKMS_TPM_ALG_CFB
        || (ek->sym_bits != 128 && ek->sym_bits != 192
            && ek->sym_bits != 256)) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM, "the EK's symmetric "
                     "definition (algorithm 0x%04x, %u bits, mode 0x%04x) "
                     "is not AES, Camellia or SM4 in CFB mode: no "
                     "credential can be made for it", ek->sym_alg,
                     ek->sym_bits, ek->sym_mode);
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    if (ek->sym_alg == TPMKMS_TPM_ALG_SM4)
        snprintf(name, len, "SM4-CFB");
    else
        snprintf(name, len, "%s-%u-CFB", family, ek->sym_bits);
    return TPMKMS_R_OK;
}

/* RSA: seed random, secret = OAEP(EK, seed, "IDENTITY\0", nameAlg). */
static tpmkms_rc seed_rsa(OSSL_LIB_CTX *libctx, const TPMKMS_TPMT_PUBLIC *ek,
                          EVP_PKEY *key, const char *mdname,
                          unsigned char *seed, size_t seed_len,
                          unsigned char *secret, size_t *secret_len)
{
    static const char label[] = "IDENTITY";   /* with its NUL */
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(libctx, key,
                                                    TPMKMS_SOFT_PROPQ);
    unsigned char *l = OPENSSL_memdup(label, sizeof(label));
    size_t outlen = TPMKMS_TPM_RSA_MAX;
    int ok;

    ok = pctx != NULL && l != NULL
         && RAND_bytes_ex(libctx, seed, seed_len, 0) > 0
         && EVP_PKEY_encrypt_init(pctx) > 0
         && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) > 0
         && EVP_PKEY_CTX_set_rsa_oaep_md_name(pctx, mdname, NULL) > 0
         && EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, mdname, NULL) > 0
         && EVP_PKEY_CTX_set0_rsa_oaep_label(pctx, l, sizeof(label)) > 0;
    if (ok)
        l = NULL;               /* the context owns it now */
    ok = ok && EVP_PKEY_encrypt(pctx, secret + 2, &outlen, seed, seed_len) > 0
         && outlen <= TPMKMS_TPM_RSA_MAX;
    OPENSSL_free(l);
    EVP_PKEY_CTX_free(pctx);
    if (!ok) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "RSA-OAEP (%s, label IDENTITY) of "
                     "the seed to the RSA %u EK failed", mdname, ek->rsa_bits);
        return TPMKMS_R_INTERNAL;
    }
    secret[0] = (unsigned char)(outlen >> 8);
    secret[1] = (unsigned char)outlen;
    *secret_len = 2 + outlen;
    return TPMKMS_R_OK;
}

/*
 * ECC: an ephemeral key on the EK's curve, Z the x-coordinate of the
 * shared point, seed = KDFe(nameAlg, Z, "IDENTITY", ephemeral.x, EK.x),
 * secret = the ephemeral point (TPMS_ECC_POINT).
 */
static tpmkms_rc seed_ecc(OSSL_LIB_CTX *libctx, const TPMKMS_TPMT_PUBLIC *ek,
                          EVP_PKEY *key, unsigned char *seed,
                          size_t seed_len, unsigned char *secret,
                          size_t *secret_len)
{
    unsigned char z[TPMKMS_TPM_ECC_MAX], ex[TPMKMS_TPM_ECC_MAX],
                  ey[TPMKMS_TPM_ECC_MAX];
    char group[32];
    EVP_PKEY *eph = NULL;
    EVP_PKEY_CTX *dctx = NULL;
    BIGNUM *bx = NULL, *by = NULL;
    size_t zlen = sizeof(z), fsize = 0, n;
    int ok;
    tpmkms_rc rc = TPMKMS_R_INTERNAL;

    ok = EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
                                        group, sizeof(group), NULL)
         && (eph = EVP_PKEY_Q_keygen(libctx, TPMKMS_SOFT_PROPQ, "EC",
                                     group)) != NULL
         && (dctx = EVP_PKEY_CTX_new_from_pkey(libctx, eph,
                                               TPMKMS_SOFT_PROPQ)) != NULL
         && EVP_PKEY_derive_init(dctx) > 0
         && EVP_PKEY_derive_set_peer(dctx, key) > 0
         && EVP_PKEY_derive(dctx, z, &zlen) > 0
         && EVP_PKEY_get_bn_param(eph, OSSL_PKEY_PARAM_EC_PUB_X, &bx)
         && EVP_PKEY_get_bn_param(eph, OSSL_PKEY_PARAM_EC_PUB_Y, &by);
    /* ECDH gives Z at the field's size; the point goes at that size too. */
    fsize = zlen;
    ok = ok && fsize <= TPMKMS_TPM_ECC_MAX
         && BN_bn2binpad(bx, ex, (int)fsize) == (int)fsize
         && BN_bn2binpad(by, ey, (int)fsize) == (int)fsize;
    if (!ok) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "ECDH with an ephemeral key on the "
                     "EK's curve failed");
        goto out;
    }
    if ((rc = tpmkms_kdfe(libctx, ek->name_alg, z, zlen, "IDENTITY", ex,
                          fsize, ek->x, ek->x_len, seed_len * 8, seed))
        != TPMKMS_R_OK)
        goto out;
    n = 2 + fsize + 2 + fsize;
    secret[0] = (unsigned char)(n >> 8);
    secret[1] = (unsigned char)n;
    secret[2] = (unsigned char)(fsize >> 8);
    secret[3] = (unsigned char)fsize;
    memcpy(secret + 4, ex, fsize);
    secret[4 + fsize] = (unsigned char)(fsize >> 8);
    secret[5 + fsize] = (unsigned char)fsize;
    memcpy(secret + 6 + fsize, ey, fsize);
    *secret_len = 2 + n;
 out:
    OPENSSL_cleanse(z, sizeof(z));
    BN_free(bx);
    BN_free(by);
    EVP_PKEY_CTX_free(dctx);
    EVP_PKEY_free(eph);
    return rc;
}

tpmkms_rc tpmkms_make_credential(OSSL_LIB_CTX *libctx,
                                 const TPMKMS_TPMT_PUBLIC *ek,
                                 const unsigned char *name, size_t name_len,
                                 const unsigned char *credential,
                                 size_t credential_len,
                                 TPMKMS_CREDENTIAL *out)
{
    unsigned char seed[TPMKMS_TPM_DIGEST_MAX], sym[32];
    unsigned char hmac_key[TPMKMS_TPM_DIGEST_MAX];
    unsigned char plain[2 + TPMKMS_TPM_DIGEST_MAX];
    unsigned char enc[2 + TPMKMS_TPM_DIGEST_MAX];
    unsigned char mac_out[TPMKMS_TPM_DIGEST_MAX];
    char cipher_name[32];
    const char *mdname;
    size_t dsize, maclen = 0, p;
    EVP_PKEY *key = NULL;
    EVP_CIPHER *cipher = NULL;
    EVP_CIPHER_CTX *cctx = NULL;
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *mctx = NULL;
    OSSL_PARAM params[2];
    int outl = 0, finl = 0, ok;
    tpmkms_rc rc;

    memset(out, 0, sizeof(*out));
    if ((rc = hash_of(ek->name_alg, &mdname, &dsize)) != TPMKMS_R_OK)
        return rc;
    if ((ek->attributes & (TPMKMS_TPMA_RESTRICTED | TPMKMS_TPMA_DECRYPT))
        != (TPMKMS_TPMA_RESTRICTED | TPMKMS_TPMA_DECRYPT)) {
        TPMKMS_raise(TPMKMS_R_BAD_TPM_PUBLIC, "the EK public area "
                     "(objectAttributes 0x%08x) is not a restricted "
                     "decryption key: TPM2_ActivateCredential needs one",
                     ek->attributes);
        return TPMKMS_R_BAD_TPM_PUBLIC;
    }
    if (credential_len == 0 || credential_len > dsize) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "a credential of %zu bytes: "
                     "it must be 1 to %zu bytes (the EK name algorithm's "
                     "digest size)", credential_len, dsize);
        return TPMKMS_R_BAD_PARAMETER;
    }
    if (name_len < 2 || name_len > TPMKMS_TPM_NAME_MAX) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "an object Name of %zu bytes",
                     name_len);
        return TPMKMS_R_BAD_PARAMETER;
    }
    if ((rc = sym_cipher(ek, cipher_name, sizeof(cipher_name)))
        != TPMKMS_R_OK
        || (rc = tpmkms_tpm_public_to_evp(libctx, ek, "the EK public area",
                                          &key)) != TPMKMS_R_OK)
        return rc;

    /* The seed, and the secret that carries it to the TPM. */
    if (ek->type == TPMKMS_TPM_ALG_RSA)
        rc = seed_rsa(libctx, ek, key, mdname, seed, dsize, out->secret,
                      &out->secret_len);
    else
        rc = seed_ecc(libctx, ek, key, seed, dsize, out->secret,
                      &out->secret_len);
    if (rc != TPMKMS_R_OK)
        goto out;

    /* encIdentity = CFB(symKey, IV 0, TPM2B_DIGEST(credential)) */
    plain[0] = (unsigned char)(credential_len >> 8);
    plain[1] = (unsigned char)credential_len;
    memcpy(plain + 2, credential, credential_len);
    if ((rc = tpmkms_kdfa(libctx, ek->name_alg, seed, dsize, "STORAGE", name,
                          name_len, NULL, 0, ek->sym_bits, sym))
        != TPMKMS_R_OK
        || (rc = tpmkms_kdfa(libctx, ek->name_alg, seed, dsize, "INTEGRITY",
                             NULL, 0, NULL, 0, dsize * 8, hmac_key))
           != TPMKMS_R_OK)
        goto out;
    ok = (cipher = EVP_CIPHER_fetch(libctx, cipher_name,
                                    TPMKMS_SOFT_PROPQ)) != NULL
         && (cctx = EVP_CIPHER_CTX_new()) != NULL
         && EVP_EncryptInit_ex2(cctx, cipher, sym, NULL, NULL)
         && EVP_EncryptUpdate(cctx, enc, &outl, plain,
                              (int)(2 + credential_len))
         && EVP_EncryptFinal_ex(cctx, enc + outl, &finl)
         && (size_t)outl + (size_t)finl == 2 + credential_len;
    /* outerHMAC = HMAC(HMACkey, encIdentity || name) */
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *)mdname, 0);
    params[1] = OSSL_PARAM_construct_end();
    ok = ok && (mac = EVP_MAC_fetch(libctx, "HMAC",
                                    TPMKMS_SOFT_PROPQ)) != NULL
         && (mctx = EVP_MAC_CTX_new(mac)) != NULL
         && EVP_MAC_init(mctx, hmac_key, dsize, params)
         && EVP_MAC_update(mctx, enc, 2 + credential_len)
         && EVP_MAC_update(mctx, name, name_len)
         && EVP_MAC_final(mctx, mac_out, &maclen, sizeof(mac_out))
         && maclen == dsize;
    if (!ok) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s or HMAC-%s of the credential "
                     "failed", cipher_name, mdname);
        rc = TPMKMS_R_INTERNAL;
        goto out;
    }
    /* TPM2B_ID_OBJECT(TPM2B_DIGEST(outerHMAC) || encIdentity) */
    p = 2;
    out->blob[p++] = (unsigned char)(dsize >> 8);
    out->blob[p++] = (unsigned char)dsize;
    memcpy(out->blob + p, mac_out, dsize);
    p += dsize;
    memcpy(out->blob + p, enc, 2 + credential_len);
    p += 2 + credential_len;
    out->blob[0] = (unsigned char)((p - 2) >> 8);
    out->blob[1] = (unsigned char)(p - 2);
    out->blob_len = p;
    rc = TPMKMS_R_OK;
 out:
    OPENSSL_cleanse(seed, sizeof(seed));
    OPENSSL_cleanse(sym, sizeof(sym));
    OPENSSL_cleanse(hmac_key, sizeof(hmac_key));
    OPENSSL_cleanse(plain, sizeof(plain));
    EVP_MAC_CTX_free(mctx);
    EVP_MAC_free(mac);
    EVP_CIPHER_CTX_free(cctx);
    EVP_CIPHER_free(cipher);
    EVP_PKEY_free(key);
    if (rc != TPMKMS_R_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

#define CREDENTIAL_MAGIC 0xBADCC0DEu

size_t tpmkms_credential_encode(const TPMKMS_CREDENTIAL *cred,
                                unsigned char *buf)
{
    be32(buf, CREDENTIAL_MAGIC);
    be32(buf + 4, 1);
    memcpy(buf + 8, cred->blob, cred->blob_len);
    memcpy(buf + 8 + cred->blob_len, cred->secret, cred->secret_len);
    return 8 + cred->blob_len + cred->secret_len;
}

/* A TPM2B at buf[*off], at most max bytes with its size. */
static int take2b(const unsigned char *buf, size_t len, size_t *off,
                  unsigned char *dst, size_t max, size_t *dst_len)
{
    size_t n;

    if (len - *off < 2)
        return 0;
    n = 2 + (((size_t)buf[*off] << 8) | buf[*off + 1]);
    if (n > max || len - *off < n)
        return 0;
    memcpy(dst, buf + *off, n);
    *dst_len = n;
    *off += n;
    return 1;
}

tpmkms_rc tpmkms_credential_decode(const unsigned char *buf, size_t len,
                                   TPMKMS_CREDENTIAL *out)
{
    size_t off = 8;

    memset(out, 0, sizeof(*out));
    if (len < 8 || buf[0] != 0xBA || buf[1] != 0xDC || buf[2] != 0xC0
        || buf[3] != 0xDE || buf[4] != 0 || buf[5] != 0 || buf[6] != 0
        || buf[7] != 1) {
        TPMKMS_raise(TPMKMS_R_BAD_REQUEST, "the credential file does not "
                     "start with 0xBADCC0DE, version 1");
        return TPMKMS_R_BAD_REQUEST;
    }
    if (!take2b(buf, len, &off, out->blob, sizeof(out->blob),
                &out->blob_len)
        || !take2b(buf, len, &off, out->secret, sizeof(out->secret),
                   &out->secret_len)
        || off != len) {
        memset(out, 0, sizeof(*out));
        TPMKMS_raise(TPMKMS_R_BAD_REQUEST, "the credential file's "
                     "TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET do not "
                     "fill its %zu bytes", len);
        return TPMKMS_R_BAD_REQUEST;
    }
    return TPMKMS_R_OK;
}
