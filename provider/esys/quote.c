/*
 * The attestation group's quote: TPM2_Quote of a PCR selection by an AK,
 * and the values of those PCRs (TPM2_PCR_Read) for the verifier, who
 * recomputes the quote's pcrDigest from them.
 *
 * The AK is loaded for this one command (TPM2_Load under its parent, or
 * its persistent handle) and flushed after it, as a quote is rare and an
 * AK should not take one of the slots signing keys keep.  It signs with
 * its own scheme (an AK carries one: ECDSA or RSASSA with SHA-256), so
 * the quote's inScheme is TPM_ALG_NULL.
 *
 * The PCRs are read before and after the quote; the pcrUpdateCounter must
 * be the same both times (no PCR changed in between), else all three are
 * done again, up to QUOTE_TRIES times.  Without that a PCR extended
 * between the read and the quote would make a good quote fail to verify.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include "debug.h"
#include "errors.h"
#include "esys.h"

#define QUOTE_TRIES 3
#define QUOTE_PCRS 24

static void selection_of(TPM2_ALG_ID alg, uint32_t mask,
                         TPML_PCR_SELECTION *sel)
{
    memset(sel, 0, sizeof(*sel));
    sel->count = 1;
    sel->pcrSelections[0].hash = alg;
    sel->pcrSelections[0].sizeofSelect = 3;
    sel->pcrSelections[0].pcrSelect[0] = (BYTE)(mask & 0xff);
    sel->pcrSelections[0].pcrSelect[1] = (BYTE)((mask >> 8) & 0xff);
    sel->pcrSelections[0].pcrSelect[2] = (BYTE)((mask >> 16) & 0xff);
}

static uint32_t mask_of(const TPML_PCR_SELECTION *sel, TPM2_ALG_ID alg)
{
    uint32_t m = 0;

    for (UINT32 i = 0; i < sel->count && i < TPM2_NUM_PCR_BANKS; i++) {
        const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];

        if (s->hash != alg)
            continue;
        for (unsigned j = 0; j < s->sizeofSelect && j < 3; j++)
            m |= (uint32_t)s->pcrSelect[j] << (8 * j);
    }
    return m;
}

static size_t rank(uint32_t mask, unsigned i)
{
    size_t n = 0;

    for (uint32_t m = mask & ((1u << i) - 1); m != 0; m &= m - 1)
        n++;
    return n;
}

/*
 * The values of the PCRs in mask, ascending, into out (n * size bytes);
 * *counter: the pcrUpdateCounter of the first read.  TPM2_PCR_Read
 * answers at most eight digests at a time: it is asked again for the
 * rest.
 */
static tpmkms_rc pcr_read(ESYS_STATE *st, const struct esys_hash *h,
                          uint32_t mask, unsigned char *out,
                          uint32_t *counter, const char *label)
{
    uint32_t left = mask;
    int first = 1;

    while (left != 0) {
        TPML_PCR_SELECTION want, *got = NULL;
        TPML_DIGEST *values = NULL;
        UINT32 upd = 0;
        uint32_t got_mask;
        TSS2_RC rc;

        selection_of(h->alg, left, &want);
        TPMKMS_debug("TPM2_PCR_Read %s mask 0x%06x for %s", h->name,
                     (unsigned)left, label);
        ESYS_CALL(st, rc, Esys_PCR_Read, 0,
                  (st->ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &want),
                  (st->ctx, &upd, &got, &values));
        if (rc != TSS2_RC_SUCCESS)
            return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label,
                                  "TPM2_PCR_Read", h->name);
        got_mask = mask_of(got, h->alg) & left;
        if (first)
            *counter = upd;
        /* A counter that moved between two reads is a changed PCR too. */
        if (!first && upd != *counter)
            *counter = UINT32_MAX;
        first = 0;
        if (got_mask == 0) {
            Esys_Free(got);
            Esys_Free(values);
            TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                         "%s: TPM2_PCR_Read returned no value for the %s "
                         "PCRs 0x%06x: the TPM has no such PCR bank or PCRs",
                         label, h->name, (unsigned)left);
            return TPMKMS_R_UNSUPPORTED_ALGORITHM;
        }
        /* The TPM answers in ascending order within the selection. */
        for (UINT32 i = 0, v = 0; i < QUOTE_PCRS; i++) {
            if (!(got_mask & (1u << i)))
                continue;
            if (v >= values->count || values->digests[v].size != h->size) {
                Esys_Free(got);
                Esys_Free(values);
                TPMKMS_raise(TPMKMS_R_TPM_ERROR,
                             "%s: TPM2_PCR_Read returned fewer or other "
                             "digests than the selection it names", label);
                return TPMKMS_R_TPM_ERROR;
            }
            /* Its place: the number of selected PCRs below it. */
            memcpy(out + rank(mask, i) * h->size, values->digests[v].buffer,
                   h->size);
            v++;
        }
        left &= ~got_mask;
        Esys_Free(got);
        Esys_Free(values);
    }
    return TPMKMS_R_OK;
}

/* The AK's ESYS_TR: its persistent handle or loaded now (*flush: 1). */
static tpmkms_rc ak_tr(ESYS_STATE *st, TPMKMS_KEYREF *ak, ESYS_TR *tr,
                       int *flush)
{
    TPMKMS_KEYBLOB blob;
    tpmkms_rc r;

    *flush = 0;
    if (ak->persistent != 0) {
        TSS2_RC rc = esys_persistent_open(st, ak->persistent, 0, tr);

        if (esys_tpm_base(rc) == TPM2_RC_HANDLE) {
            TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND,
                         "%s: no persistent key at handle 0x%08x: 0x%08x (%s)",
                         ak->label, ak->persistent, (unsigned)rc,
                         Tss2_RC_Decode(rc));
            return TPMKMS_R_KEY_NOT_FOUND;
        }
        if (rc != TSS2_RC_SUCCESS)
            return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, ak->label,
                                  "TPM2_ReadPublic", NULL);
        esys_make_room(st, 1, 0);
        return TPMKMS_R_OK;
    }
    if ((r = esys_blob_of(&ak->key, &blob, ak->label)) == TPMKMS_R_OK)
        r = esys_load_blob(st, &blob, ak->label, 0, tr);
    tpmkms_keyblob_clear(&blob);
    if (r == TPMKMS_R_OK)
        *flush = 1;
    return r;
}

static tpmkms_rc set_ak_auth(ESYS_STATE *st, ESYS_TR tr,
                             const TPMKMS_KEYREF *ak, int clear)
{
    TPM2B_AUTH auth;
    TSS2_RC rc;

    memset(&auth, 0, sizeof(auth));
    if (!clear && ak->auth != NULL && ak->auth_len > 0) {
        if (ak->auth_len > sizeof(auth.buffer)) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                         "%s: the auth value has %zu bytes; at most %zu are "
                         "possible", ak->label, ak->auth_len,
                         sizeof(auth.buffer));
            return TPMKMS_R_BAD_PARAMETER;
        }
        auth.size = (UINT16)ak->auth_len;
        memcpy(auth.buffer, ak->auth, ak->auth_len);
    }
    rc = Esys_TR_SetAuth(st->ctx, tr, &auth);
    OPENSSL_cleanse(&auth, sizeof(auth));
    if (rc != TSS2_RC_SUCCESS && !clear)
        return esys_raise_tss(st, rc, TPMKMS_R_INTERNAL, ak->label,
                              "Esys_TR_SetAuth", NULL);
    return TPMKMS_R_OK;
}

static int put_buf(TPMKMS_BUF *out, const unsigned char *data, size_t len)
{
    if ((out->data = OPENSSL_memdup(data, len > 0 ? len : 1)) == NULL)
        return 0;
    out->len = len;
    return 1;
}

static tpmkms_rc quote_once(ESYS_STATE *st, TPMKMS_KEYREF *ak,
                            const struct esys_hash *h, uint32_t mask,
                            const TPM2B_DATA *qual, unsigned char *values,
                            TPM2B_ATTEST **quoted, TPMT_SIGNATURE **tsig,
                            int *stable)
{
    TPML_PCR_SELECTION sel;
    TPMT_SIG_SCHEME none;
    ESYS_TR tr = ESYS_TR_NONE;
    uint32_t before = 0, after = 0;
    unsigned char *again = NULL;
    size_t n = 0;
    int flush = 0;
    tpmkms_rc r;
    TSS2_RC rc;

    for (uint32_t m = mask; m != 0; m &= m - 1)
        n++;
    if ((r = pcr_read(st, h, mask, values, &before, ak->label)) != TPMKMS_R_OK)
        return r;
    if ((r = ak_tr(st, ak, &tr, &flush)) != TPMKMS_R_OK)
        return r;
    if (ak->auth != NULL && ak->auth_len > 0
        && (r = set_ak_auth(st, tr, ak, 0)) != TPMKMS_R_OK)
        goto out_flush;
    selection_of(h->alg, mask, &sel);
    memset(&none, 0, sizeof(none));
    none.scheme = TPM2_ALG_NULL;
    TPMKMS_debug("TPM2_Quote %s mask 0x%06x for %s", h->name, (unsigned)mask,
                 ak->label);
    ESYS_CALL(st, rc, Esys_Quote, 0,
              (st->ctx, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
               qual, &none, &sel),
              (st->ctx, quoted, tsig));
    if (ak->auth != NULL && ak->auth_len > 0)
        (void)set_ak_auth(st, tr, ak, 1);
    if (rc != TSS2_RC_SUCCESS) {
        r = esys_raise_tss(st, rc, TPMKMS_R_SIGN_FAILED, ak->label,
                           "TPM2_Quote", h->name);
        goto out_flush;
    }
    if ((again = OPENSSL_malloc(n * h->size)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: out of memory", ak->label);
        r = TPMKMS_R_INTERNAL;
        goto out_flush;
    }
    if ((r = pcr_read(st, h, mask, again, &after, ak->label)) != TPMKMS_R_OK)
        goto out_flush;
    *stable = before != UINT32_MAX && before == after
        && memcmp(values, again, n * h->size) == 0;
out_flush:
    OPENSSL_free(again);
    if (flush)
        esys_flush_tr(st, &tr);
    if (r != TPMKMS_R_OK) {
        Esys_Free(*quoted);
        Esys_Free(*tsig);
        *quoted = NULL;
        *tsig = NULL;
    }
    return r;
}

tpmkms_rc esys_quote(void *state, TPMKMS_KEYREF *ak, tpmkms_hash bank,
                     uint32_t pcr_mask, const unsigned char *nonce,
                     size_t nonce_len, TPMKMS_BUF *attest, TPMKMS_BUF *sig,
                     TPMKMS_BUF *pcrs)
{
    ESYS_STATE *st = state;
    const struct esys_hash *h = esys_hash_info(bank);
    TPM2B_ATTEST *quoted = NULL;
    TPMT_SIGNATURE *tsig = NULL;
    TPM2B_DATA qual;
    unsigned char *values = NULL, sigbuf[sizeof(TPMT_SIGNATURE)];
    size_t n = 0, siglen = 0;
    int stable = 0;
    tpmkms_rc r;

    if (h == NULL || pcr_mask == 0 || (pcr_mask >> QUOTE_PCRS) != 0) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: a quote needs a known PCR bank and PCRs 0 to 23",
                     ak->label);
        return TPMKMS_R_BAD_PARAMETER;
    }
    memset(&qual, 0, sizeof(qual));
    if (nonce_len > sizeof(qual.buffer)) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: the nonce has %zu bytes; a quote takes at most %zu",
                     ak->label, nonce_len, sizeof(qual.buffer));
        return TPMKMS_R_BAD_PARAMETER;
    }
    qual.size = (UINT16)nonce_len;
    if (nonce_len > 0)
        memcpy(qual.buffer, nonce, nonce_len);
    for (uint32_t m = pcr_mask; m != 0; m &= m - 1)
        n++;
    if ((values = OPENSSL_malloc(n * h->size)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: out of memory", ak->label);
        return TPMKMS_R_INTERNAL;
    }
    if ((r = esys_open(st, ak->label)) != TPMKMS_R_OK)
        goto out;
    for (int i = 0; i < QUOTE_TRIES && !stable; i++) {
        Esys_Free(quoted);
        Esys_Free(tsig);
        quoted = NULL;
        tsig = NULL;
        if ((r = quote_once(st, ak, h, pcr_mask, &qual, values, &quoted,
                            &tsig, &stable)) != TPMKMS_R_OK)
            goto out;
    }
    if (!stable) {
        TPMKMS_raise(TPMKMS_R_TPM_ERROR,
                     "%s: the selected PCRs changed during each of %d quotes; "
                     "try again when they stay still", ak->label, QUOTE_TRIES);
        r = TPMKMS_R_TPM_ERROR;
        goto out;
    }
    if (Tss2_MU_TPMT_SIGNATURE_Marshal(tsig, sigbuf, sizeof(sigbuf), &siglen)
        != TSS2_RC_SUCCESS) {
        TPMKMS_raise(TPMKMS_R_TPM_ERROR,
                     "%s: TPM2_Quote returned a signature that does not "
                     "marshal", ak->label);
        r = TPMKMS_R_TPM_ERROR;
        goto out;
    }
    if (!put_buf(attest, quoted->attestationData, quoted->size)
        || !put_buf(sig, sigbuf, siglen)
        || !put_buf(pcrs, values, n * h->size)) {
        tpmkms_buf_clear(attest);
        tpmkms_buf_clear(sig);
        tpmkms_buf_clear(pcrs);
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: out of memory", ak->label);
        r = TPMKMS_R_INTERNAL;
    }
out:
    Esys_Free(quoted);
    Esys_Free(tsig);
    OPENSSL_free(values);
    esys_release_if_shared(st);
    return r;
}
