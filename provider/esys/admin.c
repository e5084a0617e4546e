/*
 * Administration: read a persistent handle, persist and evict keys, probe
 * what the TPM supports, persist the SRK (tpmkms setup), and name the TPM
 * by its SRK (tpm_identity).
 */
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include "debug.h"
#include "errors.h"
#include "esys.h"

tpmkms_rc esys_read_persistent(void *state, uint32_t handle,
                               TPMKMS_PUBLIC *pub)
{
    ESYS_STATE *st = state;
    TPM2B_PUBLIC tp;
    ESYS_TR tr;
    tpmkms_rc r;
    TSS2_RC rc;
    char label[48];

    snprintf(label, sizeof(label), "persistent handle 0x%08x", handle);
    if (!esys_handle_is_persistent(handle)) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "0x%08x is not a persistent handle (0x81xxxxxx)", handle);
        return TPMKMS_R_BAD_PARAMETER;
    }
    if ((r = esys_open(st, label)) != TPMKMS_R_OK)
        return r;
    rc = esys_persistent_open(st, handle, 1, &tr);
    if (esys_tpm_base(rc) == TPM2_RC_HANDLE) {
        TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND,
                     "%s: no key there: 0x%08x (%s)", label, (unsigned)rc,
                     Tss2_RC_Decode(rc));
        return TPMKMS_R_KEY_NOT_FOUND;
    }
    if (rc == TSS2_RC_SUCCESS)
        rc = esys_tr_public(st, tr, &tp);
    if (rc != TSS2_RC_SUCCESS)
        return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label,
                              "TPM2_ReadPublic", NULL);
    return esys_public_convert(&tp.publicArea, pub, label);
}

static tpmkms_rc check_persistent_target(uint32_t handle, const char *label)
{
    /* (TPM2_PLATFORM_PERSISTENT shifts a signed int into its sign bit.) */
    if (!esys_handle_is_persistent(handle) || handle >= 0x81800000u) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: 0x%08x is not an owner persistent handle "
                     "(0x81000000-0x817fffff)", label, handle);
        return TPMKMS_R_BAD_PARAMETER;
    }
    return TPMKMS_R_OK;
}

static tpmkms_rc esys_persist(void *state, const TPMKMS_KEYDATA *key,
                              uint32_t handle, const char *label)
{
    ESYS_STATE *st = state;
    TPMKMS_KEYBLOB blob;
    ESYS_TR tr = ESYS_TR_NONE, ptr = ESYS_TR_NONE, old;
    char cmd[64];
    tpmkms_rc r;
    TSS2_RC rc;

    if (label == NULL)
        label = "key";
    if ((r = check_persistent_target(handle, label)) != TPMKMS_R_OK
        || (r = esys_open(st, label)) != TPMKMS_R_OK)
        return r;
    if ((r = esys_blob_of(key, &blob, label)) == TPMKMS_R_OK)
        r = esys_load_blob(st, &blob, label, 0, &tr);
    tpmkms_keyblob_clear(&blob);
    if (r != TPMKMS_R_OK) {
        esys_release_if_shared(st);
        return r;
    }
    snprintf(cmd, sizeof(cmd), "TPM2_EvictControl (persist at 0x%08x)",
             handle);
    TPMKMS_debug("%s", cmd);
    r = esys_owner_evict_control(st, label, tr, handle, &ptr, &rc);
    esys_flush_tr(st, &tr);
    esys_release_if_shared(st);
    if (r != TPMKMS_R_OK)
        return r;
    if (rc != TSS2_RC_SUCCESS) {
        if (esys_tpm_base(rc) == TPM2_RC_NV_DEFINED) {
            TPMKMS_raise(TPMKMS_R_KEY_EXISTS,
                         "%s: %s failed: 0x%08x (%s) — the persistent handle "
                         "0x%08x is already in use", label, cmd, (unsigned)rc,
                         Tss2_RC_Decode(rc), handle);
            return TPMKMS_R_KEY_EXISTS;
        }
        return esys_raise_owner(st, rc, label, cmd, NULL);
    }
    /* Replace any stale entry for the handle by the new object. */
    if ((old = esys_persistent_find(st, handle)) != ESYS_TR_NONE) {
        esys_persistent_forget(st, handle);
        Esys_TR_Close(st->ctx, &old);
    }
    if (!esys_persistent_add(st, handle, ptr))
        Esys_TR_Close(st->ctx, &ptr);
    return TPMKMS_R_OK;
}

static tpmkms_rc esys_evict(void *state, uint32_t handle, const char *label)
{
    ESYS_STATE *st = state;
    ESYS_TR tr = ESYS_TR_NONE, none = ESYS_TR_NONE;
    char cmd[64];
    tpmkms_rc r;
    TSS2_RC rc;

    if (label == NULL)
        label = "key";
    if ((r = check_persistent_target(handle, label)) != TPMKMS_R_OK
        || (r = esys_open(st, label)) != TPMKMS_R_OK)
        return r;
    rc = esys_persistent_open(st, handle, 1, &tr);
    if (esys_tpm_base(rc) == TPM2_RC_HANDLE) {
        TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND,
                     "%s: no persistent object at 0x%08x: 0x%08x (%s)", label,
                     handle, (unsigned)rc, Tss2_RC_Decode(rc));
        return TPMKMS_R_KEY_NOT_FOUND;
    }
    if (rc != TSS2_RC_SUCCESS)
        return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label,
                              "TPM2_ReadPublic", NULL);
    snprintf(cmd, sizeof(cmd), "TPM2_EvictControl (evict 0x%08x)", handle);
    TPMKMS_debug("%s", cmd);
    if ((r = esys_owner_evict_control(st, label, tr, handle, &none, &rc))
        != TPMKMS_R_OK)
        return r;
    if (rc != TSS2_RC_SUCCESS)
        return esys_raise_owner(st, rc, label, cmd, NULL);
    esys_persistent_forget(st, handle);
    Esys_TR_Close(st->ctx, &tr);
    return TPMKMS_R_OK;
}

/* TPM properties, from TPM2_PT_FIXED on; usually one GetCapability. */
static tpmkms_rc probe_properties(ESYS_STATE *st, TPMKMS_PROBE *pr)
{
    uint32_t next = TPM2_PT_FIXED, vendor[4] = { 0, 0, 0, 0 };
    int calls, seen_var = 0, i;
    size_t n = 0;

    for (calls = 0; calls < 4 && next <= TPM2_PT_LOCKOUT_RECOVERY; calls++) {
        TPMS_CAPABILITY_DATA *cap = NULL;
        TPMI_YES_NO more = 0;
        TPML_TAGGED_TPM_PROPERTY *p;
        TSS2_RC rc;
        UINT32 k;

        TPMKMS_debug("TPM2_GetCapability(TPM_PROPERTIES, 0x%x)", next);
        ESYS_CALL(st, rc, Esys_GetCapability, 0,
                  (st->ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                   TPM2_CAP_TPM_PROPERTIES, next, TPM2_MAX_TPM_PROPERTIES),
                  (st->ctx, &more, &cap));
        if (rc != TSS2_RC_SUCCESS)
            return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, "tpmkms probe",
                                  "TPM2_GetCapability(TPM_PROPERTIES)", NULL);
        p = &cap->data.tpmProperties;
        for (k = 0; k < p->count; k++) {
            uint32_t prop = p->tpmProperty[k].property;
            uint32_t v = p->tpmProperty[k].value;

            switch (prop) {
            case TPM2_PT_LEVEL: pr->spec_level = v; break;
            case TPM2_PT_REVISION: pr->spec_revision = v; break;
            case TPM2_PT_YEAR: pr->spec_year = v; break;
            case TPM2_PT_MANUFACTURER:
                pr->manufacturer_id = v;
                for (i = 0; i < 4; i++)
                    pr->manufacturer[i] = (char)(v >> (24 - 8 * i));
                pr->manufacturer[4] = '\0';
                break;
            case TPM2_PT_VENDOR_STRING_1:
            case TPM2_PT_VENDOR_STRING_2:
            case TPM2_PT_VENDOR_STRING_3:
            case TPM2_PT_VENDOR_STRING_4:
                vendor[prop - TPM2_PT_VENDOR_STRING_1] = v;
                pr->vendor_words[prop - TPM2_PT_VENDOR_STRING_1] = v;
                break;
            case TPM2_PT_FIRMWARE_VERSION_1: pr->fw_version1 = v; break;
            case TPM2_PT_FIRMWARE_VERSION_2: pr->fw_version2 = v; break;
            case TPM2_PT_PERMANENT:
                pr->in_lockout = (v & TPMA_PERMANENT_INLOCKOUT) != 0;
                seen_var = 1;
                break;
            case TPM2_PT_LOCKOUT_COUNTER: pr->lockout_counter = v; break;
            case TPM2_PT_MAX_AUTH_FAIL: pr->max_auth_fail = v; break;
            case TPM2_PT_LOCKOUT_INTERVAL: pr->lockout_interval = v; break;
            case TPM2_PT_LOCKOUT_RECOVERY: pr->lockout_recovery = v; break;
            }
        }
        next = p->count > 0 ? p->tpmProperty[p->count - 1].property + 1
                            : TPM2_PT_LOCKOUT_RECOVERY + 1;
        Esys_Free(cap);
        if (!more) {
            if (seen_var || next > TPM2_PT_VAR)
                break;
            next = TPM2_PT_VAR;     /* a TPM that answers one group a time */
        }
    }
    /* Strip the padding of the 4-character strings. */
    for (i = 3; i >= 0 && (pr->manufacturer[i] == ' '
                           || pr->manufacturer[i] == '\0'); i--)
        pr->manufacturer[i] = '\0';
    for (i = 0; i < 16; i++) {
        char c = (char)(vendor[i / 4] >> (24 - 8 * (i % 4)));

        if (c != '\0' && n + 1 < sizeof(pr->vendor))
            pr->vendor[n++] = c;
    }
    while (n > 0 && pr->vendor[n - 1] == ' ')
        n--;
    pr->vendor[n] = '\0';
    return TPMKMS_R_OK;
}

static tpmkms_rc esys_probe(void *state, TPMKMS_PROBE *pr)
{
    static const TPMI_RSA_KEY_BITS rsa_bits[] = { 1024, 2048, 3072, 4096 };
    static const uint32_t rsa_flags[] = {
        TPMKMS_PROBE_RSA_1024, TPMKMS_PROBE_RSA_2048, TPMKMS_PROBE_RSA_3072,
        TPMKMS_PROBE_RSA_4096
    };
    ESYS_STATE *st = state;
    TPMS_CAPABILITY_DATA *cap = NULL;
    TPMI_YES_NO more = 0;
    TPM2B_PUBLIC pub;
    ESYS_TR tr;
    tpmkms_rc r;
    TSS2_RC rc;
    UINT32 k;
    size_t i;
    int have_rsa = 0;

    memset(pr, 0, sizeof(*pr));
    snprintf(pr->connection, sizeof(pr->connection), "%s",
             st->default_tcti ? "(TCTI loader default)" : st->tcti_name);
    if ((r = esys_open(st, "tpmkms probe")) != TPMKMS_R_OK
        || (r = probe_properties(st, pr)) != TPMKMS_R_OK)
        return r;

    TPMKMS_debug("TPM2_GetCapability(ECC_CURVES)");
    ESYS_CALL(st, rc, Esys_GetCapability, 0,
              (st->ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
               TPM2_CAP_ECC_CURVES, 0, TPM2_MAX_ECC_CURVES),
              (st->ctx, &more, &cap));
    if (rc != TSS2_RC_SUCCESS)
        return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, "tpmkms probe",
                              "TPM2_GetCapability(ECC_CURVES)", NULL);
    for (k = 0; k < cap->data.eccCurves.count; k++) {
        switch (cap->data.eccCurves.eccCurves[k]) {
        case TPM2_ECC_NIST_P256: pr->curves |= TPMKMS_PROBE_CURVE_P256; break;
        case TPM2_ECC_NIST_P384: pr->curves |= TPMKMS_PROBE_CURVE_P384; break;
        case TPM2_ECC_NIST_P521: pr->curves |= TPMKMS_PROBE_CURVE_P521; break;
        }
    }
    Esys_Free(cap);
    cap = NULL;

    TPMKMS_debug("TPM2_GetCapability(ALGS)");
    ESYS_CALL(st, rc, Esys_GetCapability, 0,
              (st->ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
               TPM2_CAP_ALGS, TPM2_ALG_FIRST, TPM2_MAX_CAP_ALGS),
              (st->ctx, &more, &cap));
    if (rc != TSS2_RC_SUCCESS)
        return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, "tpmkms probe",
                              "TPM2_GetCapability(ALGS)", NULL);
    for (k = 0; k < cap->data.algorithms.count; k++) {
        switch (cap->data.algorithms.algProperties[k].alg) {
        case TPM2_ALG_SHA1: pr->hashes |= TPMKMS_PROBE_HASH_SHA1; break;
        case TPM2_ALG_SHA256: pr->hashes |= TPMKMS_PROBE_HASH_SHA256; break;
        case TPM2_ALG_SHA384: pr->hashes |= TPMKMS_PROBE_HASH_SHA384; break;
        case TPM2_ALG_SHA512: pr->hashes |= TPMKMS_PROBE_HASH_SHA512; break;
        case TPM2_ALG_RSASSA: pr->sig_schemes |= TPMKMS_PROBE_SIG_RSASSA; break;
        case TPM2_ALG_RSAPSS: pr->sig_schemes |= TPMKMS_PROBE_SIG_RSAPSS; break;
        case TPM2_ALG_ECDSA: pr->sig_schemes |= TPMKMS_PROBE_SIG_ECDSA; break;
        case TPM2_ALG_RSA: have_rsa = 1; break;
        }
    }
    Esys_Free(cap);

    /* No capability lists RSA key sizes: ask with TPM2_TestParms. */
    for (i = 0; have_rsa && i < sizeof(rsa_bits) / sizeof(rsa_bits[0]); i++) {
        TPMT_PUBLIC_PARMS parms;

        memset(&parms, 0, sizeof(parms));
        parms.type = TPM2_ALG_RSA;
        parms.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
        parms.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
        parms.parameters.rsaDetail.keyBits = rsa_bits[i];
        TPMKMS_debug("TPM2_TestParms(RSA %u)", (unsigned)rsa_bits[i]);
        ESYS_CALL(st, rc, Esys_TestParms, 0,
                  (st->ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &parms),
                  (st->ctx));
        if (rc == TSS2_RC_SUCCESS)
            pr->rsa_sizes |= rsa_flags[i];
        else if (esys_tpm_base(rc) == 0)     /* not the TPM saying no */
            return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, "tpmkms probe",
                                  "TPM2_TestParms", NULL);
    }

    if (st->srk != ESYS_TR_NONE) {
        pr->srk_persistent = st->srk_persistent;
        return TPMKMS_R_OK;
    }
    rc = esys_persistent_open(st, TPMKMS_SRK_HANDLE, 0, &tr);
    if (rc == TSS2_RC_SUCCESS) {
        if ((rc = esys_tr_public(st, tr, &pub)) != TSS2_RC_SUCCESS)
            return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, "tpmkms probe",
                                  "TPM2_ReadPublic(0x81000001)", NULL);
        pr->srk_persistent = esys_srk_matches(&pub.publicArea);
    } else if (esys_tpm_base(rc) != TPM2_RC_HANDLE) {
        return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, "tpmkms probe",
                              "TPM2_ReadPublic(0x81000001)", NULL);
    }
    return TPMKMS_R_OK;
}

static tpmkms_rc esys_setup(void *state, tpmkms_setup_result *result)
{
    ESYS_STATE *st = state;
    const char *label = "tpmkms setup";
    TPM2B_PUBLIC pub;
    ESYS_TR tr = ESYS_TR_NONE, ptr = ESYS_TR_NONE;
    int ours = 0;
    tpmkms_rc r;
    TSS2_RC rc;

    if ((r = esys_open(st, label)) != TPMKMS_R_OK)
        return r;
    rc = esys_persistent_open(st, TPMKMS_SRK_HANDLE, 1, &tr);
    if (rc == TSS2_RC_SUCCESS) {
        if ((rc = esys_tr_public(st, tr, &pub)) != TSS2_RC_SUCCESS)
            return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label,
                                  "TPM2_ReadPublic(0x81000001)", NULL);
        if (!esys_srk_matches(&pub.publicArea))
            return esys_raise_wrong_srk(&pub.publicArea, label);
        if (esys_srk_is_transient(st))   /* the same key, now persistent */
            esys_flush_tr(st, &st->srk);
        st->srk = tr;
        st->srk_persistent = 1;
        *result = TPMKMS_SETUP_PRESENT;
        return TPMKMS_R_OK;
    }
    if (esys_tpm_base(rc) != TPM2_RC_HANDLE)
        return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label,
                              "TPM2_ReadPublic(0x81000001)", NULL);
    if (esys_srk_is_transient(st)) {
        tr = st->srk;
    } else {
        if ((r = esys_create_primary(st, label, &tr)) != TPMKMS_R_OK)
            return r;
        ours = 1;
    }
    TPMKMS_debug("TPM2_EvictControl(SRK -> 0x81000001)");
    if ((r = esys_owner_evict_control(st, label, tr, TPMKMS_SRK_HANDLE, &ptr,
                                      &rc)) != TPMKMS_R_OK) {
        if (ours)
            esys_flush_tr(st, &tr);
        return r;
    }
    if (rc != TSS2_RC_SUCCESS) {
        if (ours)
            esys_flush_tr(st, &tr);
        return esys_raise_owner(st, rc, label, "TPM2_EvictControl (persist "
                                "the SRK at 0x81000001)", NULL);
    }
    esys_flush_tr(st, &tr);
    if (!ours)
        st->srk = ESYS_TR_NONE;
    if (esys_persistent_add(st, TPMKMS_SRK_HANDLE, ptr)) {
        st->srk = ptr;
        st->srk_persistent = 1;
    } else {
        Esys_TR_Close(st->ctx, &ptr);
    }
    *result = TPMKMS_SETUP_CREATED;
    return TPMKMS_R_OK;
}

/*
 * The SRK's name, which ESYS computed when it read or created the SRK
 * (Esys_TR_GetName sends nothing): right after a create, or with the SRK
 * already at hand, no command at all; otherwise what esys_ensure_srk
 * costs, one TPM2_ReadPublic of 0x81000001 (a TPM2_CreatePrimary only
 * when no SRK is persistent there).  The SRK stays as esys_ensure_srk
 * leaves it, for the keys that follow.
 */
static tpmkms_rc esys_tpm_identity(void *state, TPMKMS_BUF *id)
{
    ESYS_STATE *st = state;
    const char *label = "identifying the TPM (its SRK's name)";
    tpmkms_rc r;

    /* Known once the SRK was used on this connection: no command then. */
    if (st->srk_name.size == 0) {
        if ((r = esys_open(st, label)) != TPMKMS_R_OK
            || (r = esys_ensure_srk(st, label)) != TPMKMS_R_OK)
            return r;
        esys_srk_remember_name(st);
        esys_release_if_shared(st);
    }
    if (st->srk_name.size == 0) {
        TPMKMS_raise(TPMKMS_R_TPM_ERROR, "%s: ESYS gave no name for the SRK",
                     label);
        return TPMKMS_R_TPM_ERROR;
    }
    if ((id->data = OPENSSL_memdup(st->srk_name.name, st->srk_name.size))
        == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return TPMKMS_R_INTERNAL;
    }
    id->len = st->srk_name.size;
    return TPMKMS_R_OK;
}

/*
 * The persistent handle range, as literals: tpm2-tss's TPM2_PERSISTENT_FIRST
 * shifts the int-promoted 0x81 by 24, which overflows int (UBSan).
 */
#define PERSISTENT_FIRST 0x81000000u
#define PERSISTENT_LAST  0x81FFFFFFu

/* TPM2_GetCapability(HANDLES) from PERSISTENT_FIRST, page by page. */
static tpmkms_rc esys_list_persistent(void *state, uint32_t **handles,
                                      size_t *count)
{
    ESYS_STATE *st = state;
    const char *label = "listing the TPM's persistent handles";
    uint32_t next = PERSISTENT_FIRST, *list = NULL;
    size_t n = 0, cap = 0;
    TPMI_YES_NO more = 1;
    tpmkms_rc r;
    TSS2_RC rc;

    if ((r = esys_open(st, label)) != TPMKMS_R_OK)
        return r;
    while (more && next <= PERSISTENT_LAST) {
        TPMS_CAPABILITY_DATA *data = NULL;
        TPML_HANDLE *h;

        TPMKMS_debug("TPM2_GetCapability(HANDLES, 0x%08x)", next);
        ESYS_CALL(st, rc, Esys_GetCapability, 0,
                  (st->ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                   TPM2_CAP_HANDLES, next, TPM2_MAX_CAP_HANDLES),
                  (st->ctx, &more, &data));
        if (rc != TSS2_RC_SUCCESS) {
            OPENSSL_free(list);
            return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label,
                                  "TPM2_GetCapability(HANDLES)", NULL);
        }
        h = &data->data.handles;
        if (h->count == 0)
            more = 0;
        for (UINT32 k = 0; k < h->count; k++) {
            if (h->handle[k] < PERSISTENT_FIRST
                    || h->handle[k] > PERSISTENT_LAST) {
                more = 0;           /* past the persistent range */
                break;
            }
            if (n == cap) {
                size_t ncap = cap == 0 ? 16 : cap * 2;
                uint32_t *nl = OPENSSL_realloc(list, ncap * sizeof(*nl));

                if (nl == NULL) {
                    Esys_Free(data);
                    OPENSSL_free(list);
                    TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
                    return TPMKMS_R_INTERNAL;
                }
                list = nl;
                cap = ncap;
            }
            list[n++] = h->handle[k];
            next = h->handle[k] + 1;
        }
        Esys_Free(data);
    }
    *handles = list;
    *count = n;
    return TPMKMS_R_OK;
}

const TPMKMS_ADMIN_METHODS esys_admin = {
    esys_read_persistent,
    esys_persist,
    esys_evict,
    esys_probe,
    esys_setup,
    esys_tpm_identity,
    esys_list_persistent,
};
