/*
 * The key group: create, sign, unload, forget, describe, check.  The
 * helpers every command on a key uses (key state, the key's ESYS_TR, its
 * auth value, the retry loop: esys_key_prepare, esys_key_run) live here,
 * next to sign_with_key, so that a warm signature stays one TPM command;
 * decrypt.c's decryption and ECDH run through the same two.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "debug.h"
#include "errors.h"
#include "esys.h"

/* ------------------------------------------------------- loaded keys */

static ESYS_KEY *key_state(ESYS_STATE *st, TPMKMS_KEYREF *key)
{
    ESYS_KEY *ek = key->loaded;

    if (ek != NULL && ek->conn_id != st->conn_id) {
        /* From a dropped connection: not loaded here. */
        OPENSSL_free(ek);
        key->loaded = ek = NULL;
    }
    if (ek == NULL) {
        if ((ek = OPENSSL_zalloc(sizeof(*ek))) == NULL) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: out of memory", key->label);
            return NULL;
        }
        ek->conn_id = st->conn_id;
        key->loaded = ek;
    }
    return ek;
}

static int key_is_loaded(const ESYS_STATE *st, const ESYS_KEY *ek)
{
    return ek->seq != 0 && ek->slot >= 0 && ek->slot < ESYS_MAX_KEYS
        && st->slots[ek->slot].seq == ek->seq;
}

/*
 * A handle can be reused for another key behind our back: signing with
 * whatever sits there would be signing with someone else's key.
 */
static tpmkms_rc check_same_public(const TPMKMS_KEYBLOB *blob,
                                   const TPM2B_PUBLIC *found,
                                   const TPMKMS_KEYREF *key)
{
    TPM2B_PUBLIC want;
    uint8_t a[sizeof(TPMT_PUBLIC)], b[sizeof(TPMT_PUBLIC)];
    size_t alen = 0, blen = 0;
    tpmkms_rc r;

    if ((r = esys_blob_unmarshal(blob, &want, NULL, key->label)) != TPMKMS_R_OK)
        return r;
    if (Tss2_MU_TPMT_PUBLIC_Marshal(&want.publicArea, a, sizeof(a), &alen)
            != TSS2_RC_SUCCESS
        || Tss2_MU_TPMT_PUBLIC_Marshal(&found->publicArea, b, sizeof(b), &blen)
            != TSS2_RC_SUCCESS
        || alen != blen || memcmp(a, b, alen) != 0) {
        TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND,
                     "%s: persistent handle 0x%08x holds another key than the "
                     "one this record was created with; refusing to sign with "
                     "it (delete the record, or recreate the key)",
                     key->label, key->persistent);
        return TPMKMS_R_KEY_NOT_FOUND;
    }
    return TPMKMS_R_OK;
}

/* What the key is, from the blob (no command) or its persistent handle. */
static tpmkms_rc key_info(ESYS_STATE *st, TPMKMS_KEYREF *key, ESYS_KEY *ek)
{
    TPMKMS_KEYBLOB blob;
    TPM2B_PUBLIC pub;
    tpmkms_rc r;

    if (ek->have_info)
        return TPMKMS_R_OK;
    if (key->persistent != 0) {
        ESYS_TR tr;
        TSS2_RC rc = esys_persistent_open(st, key->persistent, 0, &tr);

        if (esys_tpm_base(rc) == TPM2_RC_HANDLE) {
            TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND,
                         "%s: no persistent key at handle 0x%08x: 0x%08x (%s)",
                         key->label, key->persistent, (unsigned)rc,
                         Tss2_RC_Decode(rc));
            return TPMKMS_R_KEY_NOT_FOUND;
        }
        if (rc == TSS2_RC_SUCCESS)
            rc = esys_tr_public(st, tr, &pub);
        if (rc != TSS2_RC_SUCCESS)
            return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, key->label,
                                  "TPM2_ReadPublic", NULL);
        /* A record's persistent key: the handle must still hold it. */
        if (key->key.data != NULL) {
            if ((r = esys_blob_of(&key->key, &blob, key->label)) == TPMKMS_R_OK)
                r = check_same_public(&blob, &pub, key);
            tpmkms_keyblob_clear(&blob);
            if (r != TPMKMS_R_OK)
                return r;
        }
    } else {
        if ((r = esys_blob_of(&key->key, &blob, key->label)) == TPMKMS_R_OK)
            r = esys_blob_unmarshal(&blob, &pub, NULL, key->label);
        tpmkms_keyblob_clear(&blob);
        if (r != TPMKMS_R_OK)
            return r;
    }
    if ((r = esys_keyinfo_of(&pub.publicArea, &ek->info, key->label))
        != TPMKMS_R_OK)
        return r;
    ek->have_info = 1;
    return TPMKMS_R_OK;
}

/* The key's ESYS_TR, loading it if needed.  *fresh: loaded just now. */
static tpmkms_rc key_tr(ESYS_STATE *st, TPMKMS_KEYREF *key, ESYS_KEY *ek,
                        ESYS_TR *tr, int *fresh)
{
    TPMKMS_KEYBLOB blob;
    tpmkms_rc r;
    int i;

    *fresh = 0;
    if (key->persistent != 0) {
        TSS2_RC rc = esys_persistent_open(st, key->persistent, 0, tr);

        if (esys_tpm_base(rc) == TPM2_RC_HANDLE) {
            TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND,
                         "%s: no persistent key at handle 0x%08x: 0x%08x (%s)",
                         key->label, key->persistent, (unsigned)rc,
                         Tss2_RC_Decode(rc));
            return TPMKMS_R_KEY_NOT_FOUND;
        }
        if (rc != TSS2_RC_SUCCESS)
            return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, key->label,
                                  "TPM2_ReadPublic", NULL);
        return TPMKMS_R_OK;
    }
    if (key_is_loaded(st, ek)) {
        *tr = st->slots[ek->slot].tr;
        st->slots[ek->slot].last_use = ++st->clock;
        return TPMKMS_R_OK;
    }
    if ((r = esys_blob_of(&key->key, &blob, key->label)) == TPMKMS_R_OK)
        r = esys_load_blob(st, &blob, key->label, 1, tr);
    tpmkms_keyblob_clear(&blob);
    if (r != TPMKMS_R_OK)
        return r;
    for (i = 0; i < ESYS_MAX_KEYS && st->slots[i].seq != 0; i++)
        ;
    if (i == ESYS_MAX_KEYS) {   /* esys_make_room guarantees a free slot */
        esys_make_room(st, 0, 1);
        for (i = 0; i < ESYS_MAX_KEYS && st->slots[i].seq != 0; i++)
            ;
    }
    st->slots[i].tr = *tr;
    st->slots[i].seq = ++st->clock;
    st->slots[i].last_use = st->slots[i].seq;
    ek->slot = i;
    ek->seq = st->slots[i].seq;
    *fresh = 1;
    return TPMKMS_R_OK;
}

/*
 * Whether the key's auth value must be handed to ESYS for a command.  An
 * ESYS_TR's own copy is empty when it is made (Load, ReadPublic) and
 * emptied again after every command that used one, so a key without an
 * auth value needs neither call.
 */
static int has_auth(const TPMKMS_KEYREF *key)
{
    return key->auth != NULL && key->auth_len > 0;
}

static tpmkms_rc set_auth(ESYS_STATE *st, ESYS_TR tr, const TPMKMS_KEYREF *key)
{
    TPM2B_AUTH auth;
    TSS2_RC rc;

    memset(&auth, 0, sizeof(auth));
    if (key->auth_len > sizeof(auth.buffer)) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: the auth value has %zu bytes; at most %zu are "
                     "possible", key->label, key->auth_len,
                     sizeof(auth.buffer));
        return TPMKMS_R_BAD_PARAMETER;
    }
    if (key->auth != NULL && key->auth_len > 0) {
        auth.size = (UINT16)key->auth_len;
        memcpy(auth.buffer, key->auth, key->auth_len);
    }
    rc = Esys_TR_SetAuth(st->ctx, tr, &auth);
    OPENSSL_cleanse(&auth, sizeof(auth));
    if (rc != TSS2_RC_SUCCESS)
        return esys_raise_tss(st, rc, TPMKMS_R_INTERNAL, key->label,
                              "Esys_TR_SetAuth", NULL);
    return TPMKMS_R_OK;
}

/* Overwrites the copy ESYS keeps of the auth value. */
static void clear_auth(ESYS_STATE *st, ESYS_TR tr)
{
    TPM2B_AUTH empty;

    memset(&empty, 0, sizeof(empty));
    (void)Esys_TR_SetAuth(st->ctx, tr, &empty);
}

/* ------------------------------------------------------------- keys */

/*
 * The sensitive part of a new key: params's auth value, hashed with
 * SHA-256 when longer than 32 bytes (the TPM takes at most the nameAlg's
 * digest size; ESYS hashes longer values the same way when it uses them).
 */
static tpmkms_rc sensitive_of(const TPMKMS_CREATE_PARAMS *params,
                              const char *label, TPM2B_SENSITIVE_CREATE *sens)
{
    memset(sens, 0, sizeof(*sens));
    if (params->auth == NULL)
        return TPMKMS_R_OK;
    if (params->auth_len > sizeof(sens->sensitive.userAuth.buffer)) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: the auth value has %zu bytes; at most %zu are "
                     "possible", label, params->auth_len,
                     sizeof(sens->sensitive.userAuth.buffer));
        return TPMKMS_R_BAD_PARAMETER;
    }
    if (params->auth_len > 32) {
        unsigned int mdlen = 0;

        if (!EVP_Digest(params->auth, params->auth_len,
                        sens->sensitive.userAuth.buffer, &mdlen,
                        EVP_sha256(), NULL)) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: cannot hash the auth value",
                         label);
            return TPMKMS_R_INTERNAL;
        }
        sens->sensitive.userAuth.size = (UINT16)mdlen;
    } else {
        memcpy(sens->sensitive.userAuth.buffer, params->auth,
               params->auth_len);
        sens->sensitive.userAuth.size = (UINT16)params->auth_len;
    }
    return TPMKMS_R_OK;
}

tpmkms_rc esys_create_under_srk(ESYS_STATE *st,
                                const TPMKMS_CREATE_PARAMS *params,
                                const TPM2B_PUBLIC *tmpl, const char *desc,
                                TPMKMS_KEYDATA *key, TPMKMS_PUBLIC *pub)
{
    TPMKMS_KEYBLOB blob_, *blob = &blob_;
    const char *label = params->label != NULL ? params->label : "new key";
    TPM2B_SENSITIVE_CREATE sens;
    TPM2B_DATA outside;
    TPML_PCR_SELECTION pcrs;
    TPM2B_PRIVATE *out_priv = NULL;
    TPM2B_PUBLIC *out_pub = NULL;
    uint8_t pubbuf[sizeof(TPM2B_PUBLIC)], privbuf[sizeof(TPM2B_PRIVATE)];
    size_t publen = 0, privlen = 0;
    ESYS_SLOT_WAIT wait = ESYS_SLOT_WAIT_INIT;
    int tried_srk = 0;
    tpmkms_rc r;
    TSS2_RC rc;

    memset(blob, 0, sizeof(*blob));
    if ((r = sensitive_of(params, label, &sens)) != TPMKMS_R_OK)
        return r;
    memset(&outside, 0, sizeof(outside));
    memset(&pcrs, 0, sizeof(pcrs));
    if ((r = esys_open(st, label)) != TPMKMS_R_OK)
        goto out;
    for (;;) {
        if ((r = esys_ensure_srk(st, label)) != TPMKMS_R_OK)
            goto out;
        esys_make_room(st, 1 + st->srk_persistent, 0);
        TPMKMS_debug("TPM2_Create %s for %s", desc, label);
        ESYS_CALL(st, rc, Esys_Create, 1,
                  (st->ctx, st->srk, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                   ESYS_TR_NONE, &sens, tmpl, &outside, &pcrs),
                  (st->ctx, &out_priv, &out_pub, NULL, NULL, NULL));
        if (rc == TSS2_RC_SUCCESS)
            break;
        if (esys_tpm_base(rc) == TPM2_RC_OBJECT_MEMORY
            && esys_slot_wait(st, &wait, label))
            continue;
        if (esys_srk_is_transient(st) && esys_rc_is_stale_object(rc)
            && !tried_srk) {
            tried_srk = 1;
            Esys_TR_Close(st->ctx, &st->srk);
            st->srk = ESYS_TR_NONE;
            continue;
        }
        {
            char what[96];

            snprintf(what, sizeof(what), "creating %s", desc);
            r = esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label, "TPM2_Create",
                               what);
        }
        goto out;
    }
    if (Tss2_MU_TPM2B_PUBLIC_Marshal(out_pub, pubbuf, sizeof(pubbuf), &publen)
            != TSS2_RC_SUCCESS
        || Tss2_MU_TPM2B_PRIVATE_Marshal(out_priv, privbuf, sizeof(privbuf),
                                         &privlen) != TSS2_RC_SUCCESS) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: cannot marshal the new key",
                     label);
        r = TPMKMS_R_INTERNAL;
        goto out;
    }
    if ((r = esys_public_convert(&out_pub->publicArea, pub, label))
        != TPMKMS_R_OK)
        goto out;
    blob->pub = OPENSSL_memdup(pubbuf, publen);
    blob->priv = OPENSSL_memdup(privbuf, privlen);
    if (blob->pub == NULL || blob->priv == NULL) {
        OPENSSL_free(blob->pub);
        OPENSSL_free(blob->priv);
        memset(blob, 0, sizeof(*blob));
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: out of memory", label);
        r = TPMKMS_R_INTERNAL;
        goto out;
    }
    blob->pub_len = publen;
    blob->priv_len = privlen;
    blob->parent = st->srk_persistent ? TPMKMS_SRK_HANDLE
                                      : TPMKMS_PARENT_OWNER;
    blob->empty_auth = params->auth == NULL;
    memset(key, 0, sizeof(*key));
    r = tpmkms_tss2key_to_der(blob, &key->data, &key->len);
    tpmkms_keyblob_clear(blob);
    if (r == TPMKMS_R_OK)
        key->format = TPMKMS_KEYFMT_TSS2_DER;
 out:
    OPENSSL_cleanse(&sens, sizeof(sens));
    Esys_Free(out_priv);
    Esys_Free(out_pub);
    esys_srk_release(st);       /* needed again only for the next key */
    esys_release_if_shared(st);
    return r;
}

static tpmkms_rc esys_create_key(void *state,
                                 const TPMKMS_CREATE_PARAMS *params,
                                 TPMKMS_KEYDATA *key, TPMKMS_PUBLIC *pub)
{
    const struct esys_alg *a = esys_alg_info(params->alg);
    const char *label = params->label != NULL ? params->label : "new key";
    TPM2B_PUBLIC tmpl;
    TPMT_PUBLIC *p = &tmpl.publicArea;

    if (a == NULL) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: cannot create a key of algorithm %d: tpmkms creates "
                     "ec-p256, ec-p384, rsa-2048 and rsa-3072 keys; "
                     ESYS_PROBE_HINT, label, (int)params->alg);
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    memset(&tmpl, 0, sizeof(tmpl));
    p->type = a->type;
    p->nameAlg = TPM2_ALG_SHA256;
    /*
     * An unrestricted key with a NULL scheme may both sign and decrypt,
     * each command naming its scheme: TPM2_Sign (ECDSA, RSASSA, RSAPSS),
     * TPM2_RSA_Decrypt (RSAES, OAEP, and the raw operation RSA-PSS with
     * other salt lengths uses), TPM2_ECDH_ZGen.  Both is the default, as
     * with tpm2-openssl; --usage sign or decrypt leaves one out.
     */
    p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT
        | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH;
    if (params->usage != TPMKMS_USAGE_DECRYPT)
        p->objectAttributes |= TPMA_OBJECT_SIGN_ENCRYPT;
    if (params->usage != TPMKMS_USAGE_SIGN)
        p->objectAttributes |= TPMA_OBJECT_DECRYPT;
    if (params->auth == NULL)
        p->objectAttributes |= TPMA_OBJECT_NODA;
    if (a->type == TPM2_ALG_ECC) {
        p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
        p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
        p->parameters.eccDetail.curveID = a->curve;
        p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    } else {
        p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
        p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
        p->parameters.rsaDetail.keyBits = a->bits;
        p->parameters.rsaDetail.exponent = 0;
    }
    return esys_create_under_srk(state, params, &tmpl, a->name, key, pub);
}

static tpmkms_rc check_sign_request(const TPMKMS_KEYREF *key,
                                    const ESYS_KEYINFO *info,
                                    tpmkms_scheme scheme,
                                    const struct esys_hash *h,
                                    const unsigned char *in, size_t inlen)
{
    int is_ec = info->alg == TPMKMS_ALG_EC_P256
        || info->alg == TPMKMS_ALG_EC_P384;

    if (scheme < TPMKMS_SCHEME_ECDSA || scheme > TPMKMS_SCHEME_RSA_RAW
        || (scheme == TPMKMS_SCHEME_ECDSA) != is_ec) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: %s is not a scheme for this %s key", key->label,
                     esys_scheme_name(scheme), esys_alg_name(info->alg));
        return TPMKMS_R_BAD_PARAMETER;
    }
    if (scheme == TPMKMS_SCHEME_RSA_RAW) {
        if (!info->can_decrypt) {
            TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                         "%s: the key lacks the decrypt attribute, so the TPM "
                         "cannot do the raw RSA operation this padding (e.g. "
                         "RSA-PSS with a salt length other than the digest "
                         "length) needs", key->label);
            return TPMKMS_R_UNSUPPORTED_ALGORITHM;
        }
        if (inlen != info->size) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                         "%s: a raw RSA input must have the modulus size "
                         "(%zu bytes), not %zu", key->label, info->size,
                         inlen);
            return TPMKMS_R_BAD_PARAMETER;
        }
        if (memcmp(in, info->n, inlen) >= 0) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                         "%s: the raw RSA input is not below the modulus "
                         "(not an encoded block)", key->label);
            return TPMKMS_R_BAD_PARAMETER;
        }
        return TPMKMS_R_OK;
    }
    if (!info->can_sign) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: the key is not an unrestricted signing key",
                     key->label);
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    if (h == NULL) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: %s needs SHA-1, SHA-256, SHA-384 or SHA-512",
                     key->label, esys_scheme_name(scheme));
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    if (inlen != h->size) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: a %s digest has %zu bytes, not %zu", key->label,
                     h->name, h->size, inlen);
        return TPMKMS_R_BAD_PARAMETER;
    }
    return TPMKMS_R_OK;
}

/* Copies src right-aligned into a field of `size` bytes. */
int esys_put_padded(unsigned char *out, size_t size,
                    const unsigned char *src, size_t len)
{
    if (len > size)
        return 0;
    memset(out, 0, size - len);
    memcpy(out + size - len, src, len);
    return 1;
}

/* "ECDSA with SHA256 on ec-p256", for messages: built only when needed,
 * since a warm signature must cost as little as the TPM command itself. */
static const char *sign_what(char *buf, size_t len, tpmkms_scheme scheme,
                             const struct esys_hash *h, const ESYS_KEY *ek)
{
    if (scheme == TPMKMS_SCHEME_RSA_RAW)
        snprintf(buf, len, "raw RSA on %s", esys_alg_name(ek->info.alg));
    else
        snprintf(buf, len, "%s with %s on %s", esys_scheme_name(scheme),
                 h->name, esys_alg_name(ek->info.alg));
    return buf;
}

tpmkms_rc esys_key_prepare(ESYS_STATE *st, TPMKMS_KEYREF *key, ESYS_KEY **out)
{
    ESYS_KEY *ek;
    tpmkms_rc r;

    if ((ek = key_state(st, key)) == NULL)
        return TPMKMS_R_INTERNAL;
    /* A persistent key's public area comes from the TPM. */
    if (key->persistent != 0
        && (r = esys_open(st, key->label)) != TPMKMS_R_OK)
        return r;
    if ((r = key_info(st, key, ek)) != TPMKMS_R_OK)
        return r;
    *out = ek;
    return TPMKMS_R_OK;
}

tpmkms_rc esys_key_run(ESYS_STATE *st, TPMKMS_KEYREF *key, ESYS_KEY *ek,
                       esys_key_cmd_fn *cmd, void *arg, TSS2_RC *rc)
{
    ESYS_TR tr = ESYS_TR_NONE;
    ESYS_SLOT_WAIT wait = ESYS_SLOT_WAIT_INIT;
    int tried_stale = 0, fresh = 0;
    tpmkms_rc r;

    if ((r = esys_open(st, key->label)) != TPMKMS_R_OK)
        return r;
    for (;;) {
        if ((r = key_tr(st, key, ek, &tr, &fresh)) != TPMKMS_R_OK)
            return r;
        if (has_auth(key) && (r = set_auth(st, tr, key)) != TPMKMS_R_OK)
            return r;
        if (key->persistent != 0)   /* the TPM pulls it into a slot */
            esys_make_room(st, 1, 0);
        *rc = cmd(st, tr, arg);
        if (has_auth(key))
            clear_auth(st, tr);
        if (*rc == TSS2_RC_SUCCESS)
            return TPMKMS_R_OK;
        if (!tried_stale && key->persistent == 0 && !fresh
            && esys_rc_is_stale_object(*rc)) {
            /* Flushed behind our back (another program, a TPM reset). */
            tried_stale = 1;
            esys_slot_drop(st, ek->slot);
            continue;
        }
        /* A persistent key needs a slot for the command's length. */
        if (esys_tpm_base(*rc) == TPM2_RC_OBJECT_MEMORY
            && esys_slot_wait(st, &wait, key->label))
            continue;
        return TPMKMS_R_OK;
    }
}

/* One signature's command: its inputs, and what the TPM answered. */
struct sign_cmd {
    tpmkms_scheme scheme;
    const struct esys_hash *h;
    const unsigned char *in;
    size_t inlen;
    const ESYS_KEY *ek;
    const char *label;
    TPMT_SIGNATURE *tsig;       /* TPM2_Sign */
    TPM2B_PUBLIC_KEY_RSA *msg;  /* TPM2_RSA_Decrypt (raw) */
};

static TSS2_RC sign_cmd_run(ESYS_STATE *st, ESYS_TR tr, void *arg)
{
    struct sign_cmd *c = arg;
    char what[96];
    TSS2_RC rc;

    if (c->scheme == TPMKMS_SCHEME_RSA_RAW) {
        TPM2B_PUBLIC_KEY_RSA ct;
        TPMT_RSA_DECRYPT none;
        TPM2B_DATA no_label;

        memset(&none, 0, sizeof(none));
        memset(&no_label, 0, sizeof(no_label));
        none.scheme = TPM2_ALG_NULL;
        ct.size = (UINT16)c->inlen;
        memcpy(ct.buffer, c->in, c->inlen);
        TPMKMS_debug("TPM2_RSA_Decrypt (raw) for %s", c->label);
        ESYS_CALL(st, rc, Esys_RSA_Decrypt, 0,
                  (st->ctx, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                   ESYS_TR_NONE, &ct, &none, &no_label),
                  (st->ctx, &c->msg));
    } else {
        TPM2B_DIGEST digest;
        TPMT_SIG_SCHEME ts;
        TPMT_TK_HASHCHECK ticket;

        memset(&ts, 0, sizeof(ts));
        memset(&ticket, 0, sizeof(ticket));
        digest.size = (UINT16)c->inlen;
        memcpy(digest.buffer, c->in, c->inlen);
        ts.scheme = c->scheme == TPMKMS_SCHEME_ECDSA ? TPM2_ALG_ECDSA
            : c->scheme == TPMKMS_SCHEME_RSA_PSS ? TPM2_ALG_RSAPSS
            : TPM2_ALG_RSASSA;
        ts.details.any.hashAlg = c->h->alg;
        ticket.tag = TPM2_ST_HASHCHECK;
        ticket.hierarchy = TPM2_RH_NULL;
        TPMKMS_debug("TPM2_Sign %s for %s",
                     sign_what(what, sizeof(what), c->scheme, c->h, c->ek),
                     c->label);
        ESYS_CALL(st, rc, Esys_Sign, 0,
                  (st->ctx, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                   ESYS_TR_NONE, &digest, &ts, &ticket),
                  (st->ctx, &c->tsig));
    }
    return rc;
}

static tpmkms_rc sign_with_key(ESYS_STATE *st, TPMKMS_KEYREF *key,
                               tpmkms_scheme scheme, tpmkms_hash hash,
                               const unsigned char *in, size_t inlen,
                               unsigned char *sig, size_t *siglen)
{
    const struct esys_hash *h = esys_hash_info(hash);
    const char *cmd = scheme == TPMKMS_SCHEME_RSA_RAW ? "TPM2_RSA_Decrypt"
                                                      : "TPM2_Sign";
    struct sign_cmd c;
    char what[96];
    ESYS_KEY *ek;
    int ok;
    tpmkms_rc r;
    TSS2_RC rc = TSS2_RC_SUCCESS;

    if ((r = esys_key_prepare(st, key, &ek)) != TPMKMS_R_OK)
        return r;
    if ((r = check_sign_request(key, &ek->info, scheme, h, in, inlen))
        != TPMKMS_R_OK)
        return r;
    memset(&c, 0, sizeof(c));
    c.scheme = scheme;
    c.h = h;
    c.in = in;
    c.inlen = inlen;
    c.ek = ek;
    c.label = key->label;
    if ((r = esys_key_run(st, key, ek, sign_cmd_run, &c, &rc)) != TPMKMS_R_OK)
        return r;
    if (rc != TSS2_RC_SUCCESS)
        return esys_raise_tss(st, rc, TPMKMS_R_SIGN_FAILED, key->label, cmd,
                              sign_what(what, sizeof(what), scheme, h, ek));

    if (scheme == TPMKMS_SCHEME_RSA_RAW) {
        ok = esys_put_padded(sig, ek->info.size, c.msg->buffer, c.msg->size);
        *siglen = ek->info.size;
    } else if (scheme == TPMKMS_SCHEME_ECDSA) {
        size_t n = ek->info.size;
        const TPMS_SIGNATURE_ECC *e = &c.tsig->signature.ecdsa;

        ok = c.tsig->sigAlg == TPM2_ALG_ECDSA
            && esys_put_padded(sig, n, e->signatureR.buffer,
                               e->signatureR.size)
            && esys_put_padded(sig + n, n, e->signatureS.buffer,
                               e->signatureS.size);
        *siglen = 2 * n;
    } else {
        const TPM2B_PUBLIC_KEY_RSA *s = scheme == TPMKMS_SCHEME_RSA_PSS
            ? &c.tsig->signature.rsapss.sig : &c.tsig->signature.rsassa.sig;

        ok = (c.tsig->sigAlg == TPM2_ALG_RSAPSS
              || c.tsig->sigAlg == TPM2_ALG_RSASSA)
            && esys_put_padded(sig, ek->info.size, s->buffer, s->size);
        *siglen = ek->info.size;
    }
    Esys_Free(c.tsig);
    if (c.msg != NULL) {
        OPENSSL_cleanse(c.msg, sizeof(*c.msg));
        Esys_Free(c.msg);
    }
    if (!ok) {
        TPMKMS_raise(TPMKMS_R_SIGN_FAILED,
                     "%s: %s returned a result that does not fit %s (%s)",
                     key->label, cmd, esys_alg_name(ek->info.alg),
                     sign_what(what, sizeof(what), scheme, h, ek));
        return TPMKMS_R_SIGN_FAILED;
    }
    return TPMKMS_R_OK;
}

static tpmkms_rc esys_sign(void *state, TPMKMS_KEYREF *key,
                           tpmkms_scheme scheme, tpmkms_hash hash,
                           const unsigned char *in, size_t inlen,
                           unsigned char *sig, size_t *siglen)
{
    ESYS_STATE *st = state;
    tpmkms_rc r = sign_with_key(st, key, scheme, hash, in, inlen, sig,
                                siglen);

    esys_release_if_shared(st);
    return r;
}

static void esys_forget(TPMKMS_KEYREF *key)
{
    OPENSSL_free(key->loaded);
    key->loaded = NULL;
}

static void esys_unload(void *state, TPMKMS_KEYREF *key)
{
    ESYS_STATE *st = state;
    ESYS_KEY *ek = key->loaded;

    if (ek == NULL)
        return;
    /* Persistent keys stay: their TR is shared by handle, never flushed. */
    if (st != NULL && st->ctx != NULL && ek->conn_id == st->conn_id
        && key->persistent == 0 && key_is_loaded(st, ek))
        esys_slot_flush(st, ek->slot);
    esys_forget(key);
}

static tpmkms_rc esys_describe(const TPMKMS_KEYDATA *key,
                               TPMKMS_KEYINFO *info, const char *label)
{
    TPMKMS_KEYBLOB blob;
    TPM2B_PUBLIC tp;
    tpmkms_rc r;

    if (label == NULL)
        label = "key";
    if ((r = esys_blob_of(key, &blob, label)) == TPMKMS_R_OK
            && (r = esys_blob_unmarshal(&blob, &tp, NULL, label)) == TPMKMS_R_OK
            && (r = esys_public_convert(&tp.publicArea, &info->pub, label))
               == TPMKMS_R_OK)
        info->needs_auth = blob.empty_auth == 0;
    tpmkms_keyblob_clear(&blob);
    return r;
}

/*
 * Does this TPM hold the key's parent?  One TPM2_ReadPublic.  Under the
 * owner hierarchy (0x40000001) the parent is the SRK, persistent at
 * 0x81000001 or derived when needed, so only the TPM's answer counts.
 */
static tpmkms_rc esys_check(void *state, const TPMKMS_KEYREF *key)
{
    TPMKMS_KEYBLOB blob;
    TPMKMS_PUBLIC pub;
    int owner;
    tpmkms_rc r;

    if (key->persistent != 0)
        return esys_read_persistent(state, key->persistent, &pub);
    if ((r = esys_blob_of(&key->key, &blob, key->label)) != TPMKMS_R_OK)
        return r;
    owner = blob.parent == TPMKMS_PARENT_OWNER;
    tpmkms_err_set_mark();
    r = esys_read_persistent(state, owner ? TPMKMS_SRK_HANDLE : blob.parent,
                             &pub);
    tpmkms_keyblob_clear(&blob);
    if (r == TPMKMS_R_KEY_NOT_FOUND && owner) {
        tpmkms_err_pop_to_mark();
        return TPMKMS_R_OK;
    }
    tpmkms_err_clear_last_mark();
    if (r == TPMKMS_R_TPM_UNAVAILABLE || r == TPMKMS_R_KEY_NOT_FOUND)
        TPMKMS_raise(r, "%s: %s", key->label,
                     r == TPMKMS_R_KEY_NOT_FOUND
                     ? "the key's parent is not in this TPM: the key file "
                       "belongs to another TPM or its parent was evicted"
                     : "the TPM that holds this key cannot be reached");
    return r;
}

const TPMKMS_KEY_METHODS esys_keys = {
    esys_create_key,
    esys_sign,
    esys_unload,
    esys_forget,
    esys_describe,
    esys_check,
    esys_decrypt,               /* decrypt.c */
    esys_derive,                /* decrypt.c */
};
