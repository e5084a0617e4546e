/*
 * The key group's decrypt and derive: RSA decryption with TPM2_RSA_Decrypt
 * (the TPM removes the padding: RSAES-PKCS1-v1_5 or OAEP) and ECDH with
 * TPM2_ECDH_ZGen.  Loading, auth values and retries are keys.c's
 * (esys_key_prepare, esys_key_run), exactly as for a signature: a warm
 * decryption or key agreement is one TPM command.
 *
 * Both commands need the key's decrypt attribute and a scheme that allows
 * what is asked (tpmkms makes keys with a NULL scheme, so the command's
 * scheme decides); a key without the attribute is refused from its public
 * area, which is known before any command is sent.
 *
 * A ciphertext that does not decrypt fails with one message, whatever the
 * TPM found wrong with it: the TPM checks the padding, in its own time,
 * and the code here does not branch on anything but its answer.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include "debug.h"
#include "errors.h"
#include "esys.h"

/* ------------------------------------------------------ RSA decryption */

static const char *padding_name(tpmkms_padding pad)
{
    return pad == TPMKMS_PAD_OAEP ? "RSAES-OAEP" : "RSAES-PKCS1-v1_5";
}

/* "RSAES-OAEP with SHA256 on rsa-2048", for messages. */
static const char *decrypt_what(char *buf, size_t len,
                                const TPMKMS_DECRYPT_PARAMS *params,
                                const struct esys_hash *h,
                                const ESYS_KEYINFO *info)
{
    if (params->padding == TPMKMS_PAD_OAEP && h != NULL)
        snprintf(buf, len, "%s with %s and %s on %s",
                 padding_name(params->padding), h->name,
                 params->label_len > 0 ? "this label" : "no label",
                 esys_alg_name(info->alg));
    else
        snprintf(buf, len, "%s on %s", padding_name(params->padding),
                 esys_alg_name(info->alg));
    return buf;
}

static tpmkms_rc check_decrypt_request(const TPMKMS_KEYREF *key,
                                       const ESYS_KEYINFO *info,
                                       const TPMKMS_DECRYPT_PARAMS *params,
                                       const struct esys_hash *h,
                                       size_t inlen)
{
    if (info->alg != TPMKMS_ALG_RSA_2048 && info->alg != TPMKMS_ALG_RSA_3072) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: a %s key does not decrypt (RSA keys decrypt; EC "
                     "keys agree on a secret with ECDH)", key->label,
                     esys_alg_name(info->alg));
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    if (!info->can_decrypt) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: the key lacks the decrypt attribute (it was made "
                     "for signing only), so the TPM cannot decrypt with it; "
                     "nothing was sent to the TPM (tpmkms create makes keys "
                     "that sign and decrypt unless --usage sign is given)",
                     key->label);
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    if (params->padding != TPMKMS_PAD_PKCS1
        && params->padding != TPMKMS_PAD_OAEP) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: the TPM decrypts with RSAES-PKCS1-v1_5 or OAEP "
                     "padding only", key->label);
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    if (params->padding == TPMKMS_PAD_OAEP && h == NULL) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: OAEP needs SHA1, SHA256, SHA384 or SHA512",
                     key->label);
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    if (params->label_len > sizeof(((TPM2B_DATA *)NULL)->buffer)
        || (params->label_len > 0
            && params->label[params->label_len - 1] != 0)) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: the TPM takes an OAEP label only as a string ending "
                     "in a zero octet, of at most %zu bytes", key->label,
                     sizeof(((TPM2B_DATA *)NULL)->buffer));
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    if (inlen == 0 || inlen > info->size) {
        TPMKMS_raise(TPMKMS_R_DECRYPT_FAILED,
                     "%s: the ciphertext has %zu bytes; a ciphertext for "
                     "this key has the modulus size, %zu", key->label, inlen,
                     info->size);
        return TPMKMS_R_DECRYPT_FAILED;
    }
    return TPMKMS_R_OK;
}

/*
 * How a TPM says a ciphertext does not decrypt with the padding asked:
 * TPM_RC_VALUE (the reference implementation), TPM_RC_SIZE, or
 * TPM_RC_FAILURE (libtpms, so swtpm, passes OpenSSL's refusal on so; a TPM
 * in failure mode answers every command so, and the next one says it).
 */
static int refused_ciphertext(TSS2_RC rc)
{
    uint32_t base = esys_tpm_base(rc);

    return base == TPM2_RC_VALUE || base == TPM2_RC_SIZE
        || base == TPM2_RC_FAILURE;
}

struct decrypt_cmd {
    TPM2B_PUBLIC_KEY_RSA ct;
    TPMT_RSA_DECRYPT scheme;
    TPM2B_DATA label;
    const char *keylabel;
    TPM2B_PUBLIC_KEY_RSA *msg;
};

static TSS2_RC decrypt_cmd_run(ESYS_STATE *st, ESYS_TR tr, void *arg)
{
    struct decrypt_cmd *c = arg;
    TSS2_RC rc;

    TPMKMS_debug("TPM2_RSA_Decrypt (%s) for %s",
                 c->scheme.scheme == TPM2_ALG_OAEP ? "OAEP" : "RSAES",
                 c->keylabel);
    ESYS_CALL(st, rc, Esys_RSA_Decrypt, 0,
              (st->ctx, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
               &c->ct, &c->scheme, &c->label),
              (st->ctx, &c->msg));
    return rc;
}

static tpmkms_rc decrypt_with_key(ESYS_STATE *st, TPMKMS_KEYREF *key,
                                  const TPMKMS_DECRYPT_PARAMS *params,
                                  const unsigned char *in, size_t inlen,
                                  unsigned char *out, size_t *outlen)
{
    const struct esys_hash *h = params->padding == TPMKMS_PAD_OAEP
        ? esys_hash_info(params->hash) : NULL;
    struct decrypt_cmd c;
    char what[96];
    ESYS_KEY *ek;
    tpmkms_rc r;
    TSS2_RC rc = TSS2_RC_SUCCESS;

    if ((r = esys_key_prepare(st, key, &ek)) != TPMKMS_R_OK)
        return r;
    if ((r = check_decrypt_request(key, &ek->info, params, h, inlen))
        != TPMKMS_R_OK)
        return r;
    memset(&c, 0, sizeof(c));
    /* The TPM takes a ciphertext of the modulus size exactly. */
    c.ct.size = (UINT16)ek->info.size;
    if (!esys_put_padded(c.ct.buffer, ek->info.size, in, inlen))
        return TPMKMS_R_INTERNAL;   /* inlen was checked */
    if (params->padding == TPMKMS_PAD_OAEP) {
        c.scheme.scheme = TPM2_ALG_OAEP;
        c.scheme.details.oaep.hashAlg = h->alg;
    } else {
        c.scheme.scheme = TPM2_ALG_RSAES;
    }
    c.label.size = (UINT16)params->label_len;
    if (params->label_len > 0)
        memcpy(c.label.buffer, params->label, params->label_len);
    c.keylabel = key->label;
    if ((r = esys_key_run(st, key, ek, decrypt_cmd_run, &c, &rc))
        != TPMKMS_R_OK)
        return r;
    if (refused_ciphertext(rc)) {
        /* One message for every padding fault the TPM found. */
        TPMKMS_raise(TPMKMS_R_DECRYPT_FAILED,
                     "%s: TPM2_RSA_Decrypt refused the ciphertext: 0x%08x "
                     "(%s) — it was not encrypted to this key with this "
                     "padding (%s), or it is damaged", key->label,
                     (unsigned)rc, Tss2_RC_Decode(rc),
                     decrypt_what(what, sizeof(what), params, h, &ek->info));
        return TPMKMS_R_DECRYPT_FAILED;
    }
    if (rc != TSS2_RC_SUCCESS)
        return esys_raise_tss(st, rc, TPMKMS_R_DECRYPT_FAILED, key->label,
                              "TPM2_RSA_Decrypt",
                              decrypt_what(what, sizeof(what), params, h,
                                           &ek->info));
    r = TPMKMS_R_OK;
    if (c.msg->size > *outlen) {
        TPMKMS_raise(TPMKMS_R_DECRYPT_FAILED,
                     "%s: the decrypted message has %u bytes, more than the "
                     "%zu there is room for", key->label,
                     (unsigned)c.msg->size, *outlen);
        r = TPMKMS_R_DECRYPT_FAILED;
    } else {
        memcpy(out, c.msg->buffer, c.msg->size);
        *outlen = c.msg->size;
    }
    OPENSSL_cleanse(c.msg, sizeof(*c.msg));
    Esys_Free(c.msg);
    return r;
}

tpmkms_rc esys_decrypt(void *state, TPMKMS_KEYREF *key,
                       const TPMKMS_DECRYPT_PARAMS *params,
                       const unsigned char *in, size_t inlen,
                       unsigned char *out, size_t *outlen)
{
    ESYS_STATE *st = state;
    tpmkms_rc r = decrypt_with_key(st, key, params, in, inlen, out, outlen);

    esys_release_if_shared(st);
    return r;
}

/* ------------------------------------------------------------------ ECDH */

static tpmkms_rc check_derive_request(const TPMKMS_KEYREF *key,
                                      const ESYS_KEYINFO *info,
                                      const unsigned char *peer,
                                      size_t peer_len, size_t room)
{
    if (info->alg != TPMKMS_ALG_EC_P256 && info->alg != TPMKMS_ALG_EC_P384) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: a %s key does not do ECDH (EC keys do)",
                     key->label, esys_alg_name(info->alg));
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    if (!info->can_decrypt) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: the key lacks the decrypt attribute (it was made "
                     "for signing only), so the TPM cannot do ECDH with it; "
                     "nothing was sent to the TPM (tpmkms create makes keys "
                     "that sign and decrypt unless --usage sign is given)",
                     key->label);
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    if (peer_len != 1 + 2 * info->size || peer[0] != 0x04) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: the peer's public key is not an uncompressed point "
                     "of the key's curve %s (%zu bytes, 04||X||Y)", key->label,
                     esys_alg_name(info->alg), 1 + 2 * info->size);
        return TPMKMS_R_BAD_PARAMETER;
    }
    if (room < info->size) {
        TPMKMS_raise(TPMKMS_R_INTERNAL,
                     "%s: no room for the %zu-byte shared secret", key->label,
                     info->size);
        return TPMKMS_R_INTERNAL;
    }
    return TPMKMS_R_OK;
}

struct derive_cmd {
    TPM2B_ECC_POINT peer;
    const char *keylabel;
    TPM2B_ECC_POINT *z;
};

static TSS2_RC derive_cmd_run(ESYS_STATE *st, ESYS_TR tr, void *arg)
{
    struct derive_cmd *c = arg;
    TSS2_RC rc;

    TPMKMS_debug("TPM2_ECDH_ZGen for %s", c->keylabel);
    ESYS_CALL(st, rc, Esys_ECDH_ZGen, 0,
              (st->ctx, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
               &c->peer),
              (st->ctx, &c->z));
    return rc;
}

static tpmkms_rc derive_with_key(ESYS_STATE *st, TPMKMS_KEYREF *key,
                                 const unsigned char *peer, size_t peer_len,
                                 unsigned char *secret, size_t *secret_len)
{
    struct derive_cmd c;
    ESYS_KEY *ek;
    size_t n;
    tpmkms_rc r;
    TSS2_RC rc = TSS2_RC_SUCCESS;

    if ((r = esys_key_prepare(st, key, &ek)) != TPMKMS_R_OK)
        return r;
    if ((r = check_derive_request(key, &ek->info, peer, peer_len,
                                  *secret_len)) != TPMKMS_R_OK)
        return r;
    n = ek->info.size;
    memset(&c, 0, sizeof(c));
    c.peer.point.x.size = (UINT16)n;
    memcpy(c.peer.point.x.buffer, peer + 1, n);
    c.peer.point.y.size = (UINT16)n;
    memcpy(c.peer.point.y.buffer, peer + 1 + n, n);
    c.keylabel = key->label;
    if ((r = esys_key_run(st, key, ek, derive_cmd_run, &c, &rc))
        != TPMKMS_R_OK)
        return r;
    if (esys_tpm_base(rc) == TPM2_RC_ECC_POINT
        || esys_tpm_base(rc) == TPM2_RC_NO_RESULT) {
        TPMKMS_raise(TPMKMS_R_DERIVE_FAILED,
                     "%s: TPM2_ECDH_ZGen failed: 0x%08x (%s) — the peer's "
                     "public key is not a point of %s's curve",
                     key->label, (unsigned)rc, Tss2_RC_Decode(rc),
                     esys_alg_name(ek->info.alg));
        return TPMKMS_R_DERIVE_FAILED;
    }
    if (rc != TSS2_RC_SUCCESS)
        return esys_raise_tss(st, rc, TPMKMS_R_DERIVE_FAILED, key->label,
                              "TPM2_ECDH_ZGen", "ECDH");
    /* Z is the X coordinate of the product, at the field size. */
    if (esys_put_padded(secret, n, c.z->point.x.buffer, c.z->point.x.size)) {
        *secret_len = n;
    } else {
        TPMKMS_raise(TPMKMS_R_DERIVE_FAILED,
                     "%s: TPM2_ECDH_ZGen returned a point that does not fit "
                     "%s", key->label, esys_alg_name(ek->info.alg));
        r = TPMKMS_R_DERIVE_FAILED;
    }
    OPENSSL_cleanse(c.z, sizeof(*c.z));
    Esys_Free(c.z);
    return r;
}

tpmkms_rc esys_derive(void *state, TPMKMS_KEYREF *key,
                      const unsigned char *peer_point, size_t peer_len,
                      unsigned char *secret, size_t *secret_len)
{
    ESYS_STATE *st = state;
    tpmkms_rc r = derive_with_key(st, key, peer_point, peer_len, secret,
                                  secret_len);

    esys_release_if_shared(st);
    return r;
}
