/*
 * Endorsement keys: the certificate trimmed and parsed, checked against
 * the recomputed EK, and the EKPub hash (ek.h).
 */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "attest/ek.h"
#include "errors.h"
#include "pubkey_evp.h"

int tpmkms_der_sequence_length(const unsigned char *buf, size_t len,
                               size_t *der_len)
{
    size_t hdr, body = 0, i, n;

    if (buf == NULL || len < 2 || buf[0] != 0x30)
        return 0;
    if (buf[1] < 0x80) {
        hdr = 2;
        body = buf[1];
    } else {
        n = buf[1] & 0x7f;      /* 0x80 (indefinite) is not DER */
        if (n == 0 || n > 4 || len < 2 + n || buf[2] == 0)
            return 0;
        for (i = 0; i < n; i++)
            body = (body << 8) | buf[2 + i];
        if (body < 0x80)        /* DER uses the short form then */
            return 0;
        hdr = 2 + n;
    }
    if (body > len - hdr)
        return 0;
    *der_len = hdr + body;
    return 1;
}

tpmkms_rc tpmkms_ekpub_hash(OSSL_LIB_CTX *libctx, EVP_PKEY *key,
                            unsigned char out[TPMKMS_EKPUB_HASH_LEN])
{
    unsigned char *der = NULL;
    unsigned int mdlen = 0;
    EVP_MD *md = NULL;
    int len, ok;

    len = i2d_PUBKEY(key, &der);
    md = EVP_MD_fetch(libctx, "SHA2-256", TPMKMS_SOFT_PROPQ);
    ok = len > 0 && md != NULL
        && EVP_Digest(der, (size_t)len, out, &mdlen, md, NULL)
        && mdlen == TPMKMS_EKPUB_HASH_LEN;
    EVP_MD_free(md);
    OPENSSL_free(der);
    if (!ok) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot compute the EKPub hash "
                     "(SHA-256 of the DER SubjectPublicKeyInfo)");
        return TPMKMS_R_INTERNAL;
    }
    return TPMKMS_R_OK;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The certificate in the index's bytes, trimmed to its DER length. */
static tpmkms_rc parse_cert(const TPMKMS_EK *ek, TPMKMS_EK_INFO *info)
{
    const unsigned char *p = ek->cert.data;
    size_t len;

    if (!tpmkms_der_sequence_length(ek->cert.data, ek->cert.len, &len)) {
        TPMKMS_raise(TPMKMS_R_BAD_EK_CERT,
                     "the EK certificate index 0x%08x (template %s) holds "
                     "%zu bytes that do not start with a DER SEQUENCE that "
                     "fits in them (first bytes %02x %02x): not an X.509 "
                     "certificate", ek->cert_index, ek->tmpl, ek->cert.len,
                     ek->cert.len > 0 ? ek->cert.data[0] : 0,
                     ek->cert.len > 1 ? ek->cert.data[1] : 0);
        return TPMKMS_R_BAD_EK_CERT;
    }
    info->cert = d2i_X509(NULL, &p, (long)len);
    if (info->cert == NULL || p != ek->cert.data + len) {
        X509_free(info->cert);
        info->cert = NULL;
        TPMKMS_raise(TPMKMS_R_BAD_EK_CERT,
                     "the EK certificate in index 0x%08x (template %s, %zu "
                     "DER bytes) does not parse as an X.509 certificate",
                     ek->cert_index, ek->tmpl, len);
        return TPMKMS_R_BAD_EK_CERT;
    }
    info->cert_len = len;
    info->padding = ek->cert.len - len;
    return TPMKMS_R_OK;
}

tpmkms_rc tpmkms_ek_examine(OSSL_LIB_CTX *libctx, const TPMKMS_EK *ek,
                            TPMKMS_EK_INFO *info)
{
    EVP_PKEY *cert_key = NULL;
    char a[2 * TPMKMS_EKPUB_HASH_LEN + 1], b[2 * TPMKMS_EKPUB_HASH_LEN + 1];
    tpmkms_rc r;

    memset(info, 0, sizeof(*info));
    info->check = ek->recomputed ? TPMKMS_EK_NO_CERT : TPMKMS_EK_NOT_RECOMPUTED;
    if (ek->pub.alg != TPMKMS_ALG_NONE) {
        if ((info->key = tpmkms_public_to_evp(libctx, &ek->pub)) == NULL)
            return TPMKMS_R_INTERNAL;
        if ((r = tpmkms_ekpub_hash(libctx, info->key, info->ekpub_hash))
            != TPMKMS_R_OK)
            return r;
    }
    if (ek->cert.len == 0)
        return TPMKMS_R_OK;
    if ((r = parse_cert(ek, info)) != TPMKMS_R_OK)
        return r;
    if ((cert_key = X509_get0_pubkey(info->cert)) == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_EK_CERT,
                     "the EK certificate in index 0x%08x (template %s) has a "
                     "public key OpenSSL cannot read", ek->cert_index,
                     ek->tmpl);
        return TPMKMS_R_BAD_EK_CERT;
    }
    if ((r = tpmkms_ekpub_hash(libctx, cert_key, info->cert_key_hash))
        != TPMKMS_R_OK)
        return r;
    if (!ek->recomputed) {
        /* Nothing to check it against: the certificate's key stands. */
        if (info->key == NULL) {
            if (!EVP_PKEY_up_ref(cert_key)) {
                TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
                return TPMKMS_R_INTERNAL;
            }
            info->key = cert_key;
            memcpy(info->ekpub_hash, info->cert_key_hash,
                   sizeof(info->ekpub_hash));
        }
        return TPMKMS_R_OK;
    }
    if (EVP_PKEY_eq(info->key, cert_key) == 1) {
        info->check = TPMKMS_EK_MATCH;
        return TPMKMS_R_OK;
    }
    info->check = TPMKMS_EK_MISMATCH;
    hex(info->cert_key_hash, TPMKMS_EKPUB_HASH_LEN, a);
    hex(info->ekpub_hash, TPMKMS_EKPUB_HASH_LEN, b);
    TPMKMS_raise(TPMKMS_R_EK_MISMATCH,
                 "the EK certificate in NV index 0x%08x is for the %s key "
                 "with EKPub hash %s, but this TPM's %s EK (template %s, "
                 "recomputed with TPM2_CreatePrimary) is the key with EKPub "
                 "hash %s: the certificate was written for another TPM or "
                 "another template, and does not vouch for this EK",
                 ek->cert_index, EVP_PKEY_get0_type_name(cert_key), a,
                 ek->key_desc, ek->tmpl, b);
    return TPMKMS_R_EK_MISMATCH;
}

void tpmkms_ek_info_clear(TPMKMS_EK_INFO *info)
{
    if (info == NULL)
        return;
    X509_free(info->cert);
    EVP_PKEY_free(info->key);
    memset(info, 0, sizeof(*info));
}
