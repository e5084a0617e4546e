/*
 * The attestation group: the endorsement keys (EK) and their
 * certificates, as the TCG EK Credential Profile for TPM Family 2.0
 * (versions 2.4 to 2.6; docs/attestation.md names the sources) lays them
 * out, and credential activation with the low-range EKs (esys_activate,
 * below).  Certify and quote are not offered yet.
 *
 * What esys_ek does, in TPM commands:
 *
 *   - TPM2_GetCapability(HANDLES) from 0x01C00000: which EK certificate,
 *     template and nonce indices are defined; and from 0x81010000: which
 *     persistent objects sit in the endorsement range;
 *   - per EK certificate index: TPM2_NV_ReadPublic (its size and read
 *     attributes), then TPM2_NV_Read in chunks of TPM2_PT_NV_BUFFER_MAX
 *     (one TPM2_GetCapability) with the index's own (empty) auth value,
 *     or the owner's where only the owner may read it;
 *   - per template: TPM2_CreatePrimary under the endorsement hierarchy
 *     (empty auth), then TPM2_FlushContext at once: the EK's public key
 *     recomputed, to be checked against the certificate above the seam;
 *   - per persistent object in the range: TPM2_ReadPublic.
 *
 * Nothing stays loaded after the call; a persistent EK is only read.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include "debug.h"
#include "errors.h"
#include "esys.h"

#define EK_NV_FIRST 0x01C00000u          /* the EK index range ... */
#define EK_NV_LAST 0x01C07FFFu           /* ... of the TCG handle registry */
#define EK_PERSISTENT_FIRST 0x81010000u  /* endorsement primary objects */
#define EK_PERSISTENT_LAST 0x8101FFFFu
#define EK_MAX_NV 64
#define EK_MAX_PERSISTENT 16
#define EK_NV_CHUNK_DEFAULT 512u         /* if the TPM does not say */

/* The policy digests the profile's templates carry (its section B). */
typedef struct {
    UINT16 size;
    BYTE digest[64];
} EK_POLICY;

/* PolicyA: TPM2_PolicySecret(TPM_RH_ENDORSEMENT); checked by recomputing
 * it (docs/attestation.md shows how). */
static const EK_POLICY policy_a_sha256 = { 32, {
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8,
    0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
    0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64,
    0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa } };
/* PolicyB: TPM2_PolicyOR of PolicyA and the PolicyNV-based PolicyC. */
static const EK_POLICY policy_b_sha256 = { 32, {
    0xca, 0x3d, 0x0a, 0x99, 0xa2, 0xb9, 0x39, 0x06,
    0xf7, 0xa3, 0x34, 0x24, 0x14, 0xef, 0xcf, 0xb3,
    0xa3, 0x85, 0xd4, 0x4c, 0xd1, 0xfd, 0x45, 0x90,
    0x89, 0xd1, 0x9b, 0x50, 0x71, 0xc0, 0xb7, 0xa0 } };
static const EK_POLICY policy_b_sha384 = { 48, {
    0xb2, 0x6e, 0x7d, 0x28, 0xd1, 0x1a, 0x50, 0xbc,
    0x53, 0xd8, 0x82, 0xbc, 0xf5, 0xfd, 0x3a, 0x1a,
    0x07, 0x41, 0x48, 0xbb, 0x35, 0xd3, 0xb4, 0xe4,
    0xcb, 0x1c, 0x0a, 0xd9, 0xbd, 0xe4, 0x19, 0xca,
    0xcb, 0x47, 0xba, 0x09, 0x69, 0x96, 0x46, 0x15,
    0x0f, 0x9f, 0xc0, 0x00, 0xf3, 0xf8, 0x0e, 0x12 } };
static const EK_POLICY policy_b_sha512 = { 64, {
    0xb8, 0x22, 0x1c, 0xa6, 0x9e, 0x85, 0x50, 0xa4,
    0x91, 0x4d, 0xe3, 0xfa, 0xa6, 0xa1, 0x8c, 0x07,
    0x2c, 0xc0, 0x12, 0x08, 0x07, 0x3a, 0x92, 0x8d,
    0x5d, 0x66, 0xd5, 0x9e, 0xf7, 0x9e, 0x49, 0xa4,
    0x29, 0xc4, 0x1a, 0x6b, 0x26, 0x95, 0x71, 0xd5,
    0x7e, 0xdb, 0x25, 0xfb, 0xdb, 0x18, 0x38, 0x42,
    0x56, 0x08, 0xb4, 0x13, 0xcd, 0x61, 0x6a, 0x5f,
    0x6d, 0xb5, 0xb6, 0x07, 0x1a, 0xf9, 0x9b, 0xea } };
static const EK_POLICY policy_b_sm3_256 = { 32, {
    0x16, 0x78, 0x60, 0xa3, 0x5f, 0x2c, 0x5c, 0x35,
    0x67, 0xf9, 0xc9, 0x27, 0xac, 0x56, 0xc0, 0x32,
    0xf3, 0xb3, 0xa6, 0x46, 0x2f, 0x8d, 0x03, 0x79,
    0x98, 0xe7, 0xa1, 0x0f, 0x77, 0xfa, 0x45, 0x4a } };

/* Attributes of every template: a restricted decryption (storage) key
 * whose admin role needs the policy; the high range adds userWithAuth. */
#define EK_ATTRS_A (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT          \
                    | TPMA_OBJECT_SENSITIVEDATAORIGIN                       \
                    | TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED  \
                    | TPMA_OBJECT_DECRYPT)
#define EK_ATTRS_B (EK_ATTRS_A | TPMA_OBJECT_USERWITHAUTH)

typedef struct {
    const char *name;           /* the profile's name for it */
    const char *desc;
    uint32_t cert_index;
    uint32_t nonce_index;       /* low range only */
    uint32_t template_index;    /* low range only */
    tpmkms_alg alg;             /* NONE: a key tpmkms does not hold */
    TPM2_ALG_ID type, name_alg, sym;
    UINT16 sym_bits;
    TPMI_RSA_KEY_BITS rsa_bits;
    TPM2_ECC_CURVE curve;
    const EK_POLICY *policy;
    TPMA_OBJECT attrs;
    int low;                    /* unique zero-filled (L), else empty (H) */
} EK_TEMPLATE;

static const EK_TEMPLATE ek_templates[] = {
    { "L-1", "RSA 2048", 0x01C00002, 0x01C00003, 0x01C00004,
      TPMKMS_ALG_RSA_2048, TPM2_ALG_RSA, TPM2_ALG_SHA256, TPM2_ALG_AES, 128,
      2048, 0, &policy_a_sha256, EK_ATTRS_A, 1 },
    { "L-2", "ECC NIST P256", 0x01C0000A, 0x01C0000B, 0x01C0000C,
      TPMKMS_ALG_EC_P256, TPM2_ALG_ECC, TPM2_ALG_SHA256, TPM2_ALG_AES, 128,
      0, TPM2_ECC_NIST_P256, &policy_a_sha256, EK_ATTRS_A, 1 },
    { "H-1", "RSA 2048", 0x01C00012, 0, 0,
      TPMKMS_ALG_RSA_2048, TPM2_ALG_RSA, TPM2_ALG_SHA256, TPM2_ALG_AES, 128,
      2048, 0, &policy_b_sha256, EK_ATTRS_B, 0 },
    { "H-2", "ECC NIST P256", 0x01C00014, 0, 0,
      TPMKMS_ALG_EC_P256, TPM2_ALG_ECC, TPM2_ALG_SHA256, TPM2_ALG_AES, 128,
      0, TPM2_ECC_NIST_P256, &policy_b_sha256, EK_ATTRS_B, 0 },
    { "H-3", "ECC NIST P384", 0x01C00016, 0, 0,
      TPMKMS_ALG_EC_P384, TPM2_ALG_ECC, TPM2_ALG_SHA384, TPM2_ALG_AES, 256,
      0, TPM2_ECC_NIST_P384, &policy_b_sha384, EK_ATTRS_B, 0 },
    { "H-4", "ECC NIST P521", 0x01C00018, 0, 0,
      TPMKMS_ALG_NONE, TPM2_ALG_ECC, TPM2_ALG_SHA512, TPM2_ALG_AES, 256,
      0, TPM2_ECC_NIST_P521, &policy_b_sha512, EK_ATTRS_B, 0 },
    { "H-5", "ECC SM2 P256", 0x01C0001A, 0, 0,
      TPMKMS_ALG_NONE, TPM2_ALG_ECC, TPM2_ALG_SM3_256, TPM2_ALG_SM4, 128,
      0, TPM2_ECC_SM2_P256, &policy_b_sm3_256, EK_ATTRS_B, 0 },
    { "H-6", "RSA 3072", 0x01C0001C, 0, 0,
      TPMKMS_ALG_RSA_3072, TPM2_ALG_RSA, TPM2_ALG_SHA384, TPM2_ALG_AES, 256,
      3072, 0, &policy_b_sha384, EK_ATTRS_B, 0 },
    { "H-7", "RSA 4096", 0x01C0001E, 0, 0,
      TPMKMS_ALG_NONE, TPM2_ALG_RSA, TPM2_ALG_SHA384, TPM2_ALG_AES, 256,
      4096, 0, &policy_b_sha384, EK_ATTRS_B, 0 },
};

#define EK_NTEMPLATES (sizeof(ek_templates) / sizeof(ek_templates[0]))

/* What the TPM has in the EK ranges. */
typedef struct {
    uint32_t nv[EK_MAX_NV];
    size_t nnv;
    uint32_t persistent[EK_MAX_PERSISTENT];
    size_t npersistent;
    UINT16 nv_chunk;
} EK_SCAN;

static const char ek_label[] = "tpmkms ek";

/* The template as TPM2_CreatePrimary takes it (unique per the profile). */
static void ek_default_template(const EK_TEMPLATE *t, TPMT_PUBLIC *p)
{
    memset(p, 0, sizeof(*p));
    p->type = t->type;
    p->nameAlg = t->name_alg;
    p->objectAttributes = t->attrs;
    p->authPolicy.size = t->policy->size;
    memcpy(p->authPolicy.buffer, t->policy->digest, t->policy->size);
    if (t->type == TPM2_ALG_RSA) {
        TPMS_RSA_PARMS *r = &p->parameters.rsaDetail;

        r->symmetric.algorithm = t->sym;
        r->symmetric.keyBits.sym = t->sym_bits;
        r->symmetric.mode.sym = TPM2_ALG_CFB;
        r->scheme.scheme = TPM2_ALG_NULL;
        r->keyBits = t->rsa_bits;
        r->exponent = 0;
        if (t->low)             /* 256 zero bytes */
            p->unique.rsa.size = (UINT16)(t->rsa_bits / 8);
    } else {
        TPMS_ECC_PARMS *e = &p->parameters.eccDetail;

        e->symmetric.algorithm = t->sym;
        e->symmetric.keyBits.sym = t->sym_bits;
        e->symmetric.mode.sym = TPM2_ALG_CFB;
        e->scheme.scheme = TPM2_ALG_NULL;
        e->curveID = t->curve;
        e->kdf.scheme = TPM2_ALG_NULL;
        if (t->low) {           /* x and y: 32 zero bytes each */
            p->unique.ecc.x.size = 32;
            p->unique.ecc.y.size = 32;
        }
    }
}

static int scan_has_nv(const EK_SCAN *s, uint32_t index)
{
    size_t i;

    for (i = 0; i < s->nnv; i++)
        if (s->nv[i] == index)
            return 1;
    return 0;
}

/* The handles in [first, last] (TPM2_GetCapability HANDLES), in order. */
static tpmkms_rc list_handles(ESYS_STATE *st, uint32_t first, uint32_t last,
                              uint32_t *out, size_t max, size_t *n)
{
    uint32_t next = first;
    int calls;

    *n = 0;
    for (calls = 0; calls < 64; calls++) {
        TPMS_CAPABILITY_DATA *cap = NULL;
        TPMI_YES_NO more = 0;
        TPML_HANDLE *h;
        TSS2_RC rc;
        UINT32 k;
        int done = 0;

        TPMKMS_debug("TPM2_GetCapability(HANDLES, 0x%08x)", next);
        ESYS_CALL(st, rc, Esys_GetCapability, 0,
                  (st->ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                   TPM2_CAP_HANDLES, next, TPM2_MAX_CAP_HANDLES),
                  (st->ctx, &more, &cap));
        if (rc != TSS2_RC_SUCCESS)
            return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, ek_label,
                                  "TPM2_GetCapability(HANDLES)", NULL);
        h = &cap->data.handles;
        for (k = 0; k < h->count && !done; k++) {
            if (h->handle[k] > last)
                done = 1;
            else if (h->handle[k] >= first && *n < max)
                out[(*n)++] = h->handle[k];
        }
        if (h->count == 0 || h->handle[h->count - 1] >= last)
            done = 1;
        else
            next = h->handle[h->count - 1] + 1;
        Esys_Free(cap);
        if (done || !more)
            break;
    }
    return TPMKMS_R_OK;
}

/* TPM2_PT_NV_BUFFER_MAX: the most one TPM2_NV_Read returns. */
static tpmkms_rc nv_chunk_size(ESYS_STATE *st, UINT16 *chunk)
{
    TPMS_CAPABILITY_DATA *cap = NULL;
    TPMI_YES_NO more = 0;
    TSS2_RC rc;
    uint32_t v = EK_NV_CHUNK_DEFAULT;

    TPMKMS_debug("TPM2_GetCapability(TPM_PROPERTIES, NV_BUFFER_MAX)");
    ESYS_CALL(st, rc, Esys_GetCapability, 0,
              (st->ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
               TPM2_CAP_TPM_PROPERTIES, TPM2_PT_NV_BUFFER_MAX, 1),
              (st->ctx, &more, &cap));
    if (rc != TSS2_RC_SUCCESS)
        return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, ek_label,
                              "TPM2_GetCapability(TPM_PT_NV_BUFFER_MAX)",
                              NULL);
    if (cap->data.tpmProperties.count > 0
        && cap->data.tpmProperties.tpmProperty[0].property
           == TPM2_PT_NV_BUFFER_MAX
        && cap->data.tpmProperties.tpmProperty[0].value > 0)
        v = cap->data.tpmProperties.tpmProperty[0].value;
    Esys_Free(cap);
    if (v > sizeof(((TPM2B_MAX_NV_BUFFER *)NULL)->buffer))
        v = sizeof(((TPM2B_MAX_NV_BUFFER *)NULL)->buffer);
    *chunk = (UINT16)v;
    return TPMKMS_R_OK;
}

/*
 * The whole contents of an NV index.  An index defined but never written
 * reads as empty.  Read with the index's own auth value (empty) where
 * its attributes allow (TPMA_NV_AUTHREAD, as the profile asks of EK
 * indices), else with the owner's (TPMA_NV_OWNERREAD).
 */
static tpmkms_rc nv_read_all(ESYS_STATE *st, uint32_t index, UINT16 chunk,
                             TPMKMS_BUF *out)
{
    TPM2B_NV_PUBLIC *pub = NULL;
    ESYS_TR tr = ESYS_TR_NONE, auth;
    TPMA_NV attrs;
    char cmd[64];
    size_t size, off = 0;
    int owner = 0;
    tpmkms_rc r = TPMKMS_R_OK;
    TSS2_RC rc;

    memset(out, 0, sizeof(*out));
    snprintf(cmd, sizeof(cmd), "TPM2_NV_ReadPublic(0x%08x)", index);
    TPMKMS_debug("%s", cmd);
    ESYS_CALL(st, rc, Esys_TR_FromTPMPublic, 0,
              (st->ctx, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE),
              (st->ctx, &tr));
    if (rc == TSS2_RC_SUCCESS)
        ESYS_CALL(st, rc, Esys_NV_ReadPublic, 0,
                  (st->ctx, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE),
                  (st->ctx, &pub, NULL));
    if (rc != TSS2_RC_SUCCESS) {
        r = esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, ek_label, cmd, NULL);
        goto out;
    }
    attrs = pub->nvPublic.attributes;
    size = pub->nvPublic.dataSize;
    if ((attrs & TPMA_NV_WRITTEN) == 0 || size == 0)
        goto out;
    if ((attrs & TPMA_NV_AUTHREAD) != 0) {
        auth = tr;
    } else if ((attrs & TPMA_NV_OWNERREAD) != 0) {
        auth = ESYS_TR_RH_OWNER;
        owner = 1;
    } else {
        TPMKMS_raise(TPMKMS_R_TPM_ERROR,
                     "%s: the NV index 0x%08x may be read neither with its "
                     "own auth value nor the owner's (attributes 0x%08x)",
                     ek_label, index, (unsigned)attrs);
        r = TPMKMS_R_TPM_ERROR;
        goto out;
    }
    if ((out->data = OPENSSL_malloc(size)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        r = TPMKMS_R_INTERNAL;
        goto out;
    }
    while (off < size) {
        TPM2B_MAX_NV_BUFFER *data = NULL;
        UINT16 n = (UINT16)(size - off < chunk ? size - off : chunk);

        snprintf(cmd, sizeof(cmd), "TPM2_NV_Read(0x%08x, %u bytes at %zu)",
                 index, (unsigned)n, off);
        TPMKMS_debug("%s", cmd);
        if (owner && (r = esys_owner_auth_begin(st)) != TPMKMS_R_OK)
            goto out;
        ESYS_CALL(st, rc, Esys_NV_Read, 0,
                  (st->ctx, auth, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                   ESYS_TR_NONE, n, (UINT16)off),
                  (st->ctx, &data));
        if (owner)
            esys_owner_auth_end(st);
        if (rc != TSS2_RC_SUCCESS) {
            r = owner ? esys_raise_owner(st, rc, ek_label, cmd, NULL)
                      : esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, ek_label,
                                       cmd, NULL);
            goto out;
        }
        if (data->size == 0 || data->size > n) {
            TPMKMS_raise(TPMKMS_R_TPM_ERROR,
                         "%s: %s returned %u bytes", ek_label, cmd,
                         (unsigned)data->size);
            Esys_Free(data);
            r = TPMKMS_R_TPM_ERROR;
            goto out;
        }
        memcpy(out->data + off, data->buffer, data->size);
        off += data->size;
        Esys_Free(data);
    }
    out->len = size;
 out:
    if (r != TPMKMS_R_OK)
        tpmkms_buf_clear(out);
    Esys_Free(pub);
    if (tr != ESYS_TR_NONE)
        Esys_TR_Close(st->ctx, &tr);
    return r;
}

/*
 * The template TPM2_CreatePrimary gets for t.  In the low range the
 * profile lets the manufacturer replace the default: a TPMT_PUBLIC in the
 * template index, and a nonce whose bytes start the unique field (RSA:
 * nonce then zeros to 256 bytes; ECC: x is the nonce then zeros to 32
 * bytes, y 32 zeros).
 */
static tpmkms_rc ek_template(ESYS_STATE *st, const EK_SCAN *scan,
                             const EK_TEMPLATE *t, TPMT_PUBLIC *p,
                             TPMKMS_EK *ek)
{
    TPMKMS_BUF buf = { NULL, 0 };
    tpmkms_rc r;

    ek_default_template(t, p);
    if (t->template_index != 0 && scan_has_nv(scan, t->template_index)) {
        size_t off = 0;

        if ((r = nv_read_all(st, t->template_index, scan->nv_chunk, &buf))
            != TPMKMS_R_OK)
            return r;
        if (buf.len > 0) {
            TPMT_PUBLIC tmp;

            memset(&tmp, 0, sizeof(tmp));
            if (Tss2_MU_TPMT_PUBLIC_Unmarshal(buf.data, buf.len, &off, &tmp)
                != TSS2_RC_SUCCESS || off != buf.len) {
                TPMKMS_raise(TPMKMS_R_TPM_ERROR,
                             "%s: the EK template index 0x%08x (%zu bytes) "
                             "does not hold a TPMT_PUBLIC", ek_label,
                             t->template_index, buf.len);
                tpmkms_buf_clear(&buf);
                return TPMKMS_R_TPM_ERROR;
            }
            *p = tmp;
            ek->template_from_nv = 1;
        }
        tpmkms_buf_clear(&buf);
    }
    if (t->nonce_index != 0 && scan_has_nv(scan, t->nonce_index)) {
        if ((r = nv_read_all(st, t->nonce_index, scan->nv_chunk, &buf))
            != TPMKMS_R_OK)
            return r;
        if (buf.len > 0) {
            size_t room = p->type == TPM2_ALG_RSA ? sizeof(p->unique.rsa.buffer)
                                                  : 32;

            if (buf.len > room) {
                TPMKMS_raise(TPMKMS_R_TPM_ERROR,
                             "%s: the EK nonce index 0x%08x holds %zu bytes, "
                             "more than the template's unique field takes",
                             ek_label, t->nonce_index, buf.len);
                tpmkms_buf_clear(&buf);
                return TPMKMS_R_TPM_ERROR;
            }
            if (p->type == TPM2_ALG_RSA) {
                memset(&p->unique.rsa, 0, sizeof(p->unique.rsa));
                memcpy(p->unique.rsa.buffer, buf.data, buf.len);
                p->unique.rsa.size = 256;
            } else {
                memset(&p->unique.ecc, 0, sizeof(p->unique.ecc));
                memcpy(p->unique.ecc.x.buffer, buf.data, buf.len);
                p->unique.ecc.x.size = 32;
                p->unique.ecc.y.size = 32;
            }
            ek->nonce_from_nv = 1;
        }
        tpmkms_buf_clear(&buf);
    }
    return TPMKMS_R_OK;
}

/*
 * TPM2_CreatePrimary(endorsement, template), its public area; flushed at
 * once unless keep is not NULL, which then gets the EK's handle.
 */
static tpmkms_rc ek_create(ESYS_STATE *st, const EK_TEMPLATE *t,
                           const TPMT_PUBLIC *tmpl, TPMT_PUBLIC *out,
                           ESYS_TR *keep)
{
    TPM2B_SENSITIVE_CREATE sens;
    TPM2B_PUBLIC in, *pub = NULL;
    TPM2B_DATA outside;
    TPML_PCR_SELECTION pcrs;
    ESYS_SLOT_WAIT wait = ESYS_SLOT_WAIT_INIT;
    ESYS_TR tr = ESYS_TR_NONE;
    char cmd[96];
    TSS2_RC rc;

    memset(&sens, 0, sizeof(sens));
    memset(&in, 0, sizeof(in));
    memset(&outside, 0, sizeof(outside));
    memset(&pcrs, 0, sizeof(pcrs));
    in.publicArea = *tmpl;
    snprintf(cmd, sizeof(cmd), "TPM2_CreatePrimary(endorsement, EK template "
             "%s, %s)", t->name, t->desc);
    for (;;) {
        esys_make_room(st, 1, 0);
        TPMKMS_debug("%s", cmd);
        ESYS_CALL(st, rc, Esys_CreatePrimary, 1,
                  (st->ctx, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD,
                   ESYS_TR_NONE, ESYS_TR_NONE, &sens, &in, &outside, &pcrs),
                  (st->ctx, &tr, &pub, NULL, NULL, NULL));
        if (rc == TSS2_RC_SUCCESS)
            break;
        if (esys_tpm_base(rc) == TPM2_RC_OBJECT_MEMORY
            && esys_slot_wait(st, &wait, ek_label))
            continue;
        return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, ek_label, cmd,
                              esys_tpm_base(rc) == TPM2_RC_BAD_AUTH
                              || esys_tpm_base(rc) == TPM2_RC_AUTH_FAIL
                              ? "the endorsement hierarchy has an auth value; "
                                "tpmkms uses the empty one" : NULL);
    }
    *out = pub->publicArea;
    Esys_Free(pub);
    if (keep != NULL)
        *keep = tr;
    else
        esys_flush_tr(st, &tr);
    return TPMKMS_R_OK;
}

/* The TPM2B_PUBLIC of p as the TPM marshals it, into out. */
static tpmkms_rc ek_marshal(const TPMT_PUBLIC *p, TPMKMS_BUF *out)
{
    TPM2B_PUBLIC b;
    unsigned char buf[sizeof(TPM2B_PUBLIC)];
    size_t off = 0;

    memset(&b, 0, sizeof(b));
    b.publicArea = *p;
    if (Tss2_MU_TPM2B_PUBLIC_Marshal(&b, buf, sizeof(buf), &off)
        != TSS2_RC_SUCCESS) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: cannot marshal the EK's public "
                     "area", ek_label);
        return TPMKMS_R_INTERNAL;
    }
    if ((out->data = OPENSSL_memdup(buf, off)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return TPMKMS_R_INTERNAL;
    }
    out->len = off;
    return TPMKMS_R_OK;
}

static int same_key(const TPMKMS_PUBLIC *a, const TPMKMS_PUBLIC *b)
{
    if (a->alg == TPMKMS_ALG_NONE || a->alg != b->alg)
        return 0;
    if (tpmkms_alg_is_ec(a->alg))
        return a->ec_point_len == b->ec_point_len
            && memcmp(a->ec_point, b->ec_point, a->ec_point_len) == 0;
    return a->rsa_e == b->rsa_e && a->rsa_n_len == b->rsa_n_len
        && memcmp(a->rsa_n, b->rsa_n, a->rsa_n_len) == 0;
}

/* Whether a persistent key's public area has the shape of template t. */
static int shaped_like(const TPMT_PUBLIC *p, const EK_TEMPLATE *t)
{
    if (p->type != t->type || p->nameAlg != t->name_alg
        || p->objectAttributes != t->attrs
        || p->authPolicy.size != t->policy->size
        || memcmp(p->authPolicy.buffer, t->policy->digest,
                  t->policy->size) != 0)
        return 0;
    if (t->type == TPM2_ALG_RSA)
        return p->parameters.rsaDetail.keyBits == t->rsa_bits;
    return p->parameters.eccDetail.curveID == t->curve;
}

static TPMKMS_EK *ek_add(TPMKMS_EK_LIST *list, size_t cap)
{
    TPMKMS_EK *ek;

    if (list->n >= cap)
        return NULL;
    ek = &list->ek[list->n++];
    memset(ek, 0, sizeof(*ek));
    return ek;
}

/* One template's EK: certificate (if any) and the recomputed key. */
static tpmkms_rc ek_of_template(ESYS_STATE *st, const EK_SCAN *scan,
                                const EK_TEMPLATE *t, TPMKMS_EK *ek)
{
    TPMT_PUBLIC tmpl, made;
    tpmkms_rc r;

    snprintf(ek->tmpl, sizeof(ek->tmpl), "%s", t->name);
    snprintf(ek->key_desc, sizeof(ek->key_desc), "%s", t->desc);
    if (scan_has_nv(scan, t->cert_index)) {
        ek->cert_index = t->cert_index;
        if ((r = nv_read_all(st, t->cert_index, scan->nv_chunk, &ek->cert))
            != TPMKMS_R_OK)
            return r;
    }
    if (t->alg == TPMKMS_ALG_NONE)      /* P-521, SM2, RSA 4096 */
        return TPMKMS_R_OK;
    if ((r = ek_template(st, scan, t, &tmpl, ek)) != TPMKMS_R_OK
        || (r = ek_create(st, t, &tmpl, &made, NULL)) != TPMKMS_R_OK)
        return r;
    if ((r = esys_public_convert(&made, &ek->pub, ek_label)) != TPMKMS_R_OK
        || (r = ek_marshal(&made, &ek->public_area)) != TPMKMS_R_OK)
        return r;
    ek->recomputed = 1;
    return TPMKMS_R_OK;
}

static tpmkms_rc esys_ek(void *state, TPMKMS_EK_LIST *list)
{
    ESYS_STATE *st = state;
    EK_SCAN scan;
    int wanted[EK_NTEMPLATES];
    size_t i, j, cap = EK_NTEMPLATES + EK_MAX_PERSISTENT;
    int any_cert = 0;
    tpmkms_rc r;

    memset(&scan, 0, sizeof(scan));
    memset(list, 0, sizeof(*list));
    if ((r = esys_open(st, ek_label)) != TPMKMS_R_OK
        || (r = list_handles(st, EK_NV_FIRST, EK_NV_LAST, scan.nv, EK_MAX_NV,
                             &scan.nnv)) != TPMKMS_R_OK
        || (r = list_handles(st, EK_PERSISTENT_FIRST, EK_PERSISTENT_LAST,
                             scan.persistent, EK_MAX_PERSISTENT,
                             &scan.npersistent)) != TPMKMS_R_OK
        || (r = nv_chunk_size(st, &scan.nv_chunk)) != TPMKMS_R_OK)
        return r;
    if ((list->ek = OPENSSL_zalloc(cap * sizeof(*list->ek))) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return TPMKMS_R_INTERNAL;
    }

    /* Every template with a certificate; none: the low-range pair. */
    for (i = 0; i < EK_NTEMPLATES; i++) {
        wanted[i] = scan_has_nv(&scan, ek_templates[i].cert_index);
        any_cert |= wanted[i];
    }
    if (!any_cert)
        wanted[0] = wanted[1] = 1;
    /* And the template of each persistent key shaped like one. */
    for (j = 0; j < scan.npersistent; j++) {
        TPM2B_PUBLIC pub;
        ESYS_TR tr;
        TSS2_RC rc;
        char cmd[48];

        snprintf(cmd, sizeof(cmd), "TPM2_ReadPublic(0x%08x)",
                 scan.persistent[j]);
        if ((rc = esys_persistent_open(st, scan.persistent[j], 1, &tr))
            != TSS2_RC_SUCCESS
            || (rc = esys_tr_public(st, tr, &pub)) != TSS2_RC_SUCCESS)
            return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, ek_label, cmd,
                                  NULL);
        for (i = 0; i < EK_NTEMPLATES; i++)
            if (ek_templates[i].alg != TPMKMS_ALG_NONE
                && shaped_like(&pub.publicArea, &ek_templates[i]))
                wanted[i] = 1;
    }

    for (i = 0; i < EK_NTEMPLATES; i++) {
        TPMKMS_EK *ek;

        if (!wanted[i])
            continue;
        ek = ek_add(list, cap);
        if ((r = ek_of_template(st, &scan, &ek_templates[i], ek))
            != TPMKMS_R_OK)
            return r;
    }

    /* Persistent keys: the EK they hold, or one matching no template. */
    for (j = 0; j < scan.npersistent; j++) {
        TPMKMS_PUBLIC key;
        TPM2B_PUBLIC pub;
        ESYS_TR tr;
        TSS2_RC rc;
        int matched = 0;

        if ((rc = esys_persistent_open(st, scan.persistent[j], 0, &tr))
            != TSS2_RC_SUCCESS
            || (rc = esys_tr_public(st, tr, &pub)) != TSS2_RC_SUCCESS)
            return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, ek_label,
                                  "TPM2_ReadPublic", NULL);
        memset(&key, 0, sizeof(key));
        ERR_set_mark();
        if (esys_public_convert(&pub.publicArea, &key, ek_label)
            != TPMKMS_R_OK)
            memset(&key, 0, sizeof(key));   /* a key tpmkms does not hold */
        ERR_pop_to_mark();
        for (i = 0; i < list->n && !matched; i++)
            if (list->ek[i].recomputed && list->ek[i].persistent == 0
                && same_key(&list->ek[i].pub, &key)) {
                list->ek[i].persistent = scan.persistent[j];
                matched = 1;
            }
        if (!matched) {
            TPMKMS_EK *ek = ek_add(list, cap);

            if (ek == NULL)
                break;
            ek->persistent = scan.persistent[j];
            ek->pub = key;
            esys_describe_public(&pub.publicArea, ek->key_desc,
                                 sizeof(ek->key_desc));
        }
    }
    return TPMKMS_R_OK;
}

/* ------------------------------------------------ credential activation */

static const char activate_cmd[] = "TPM2_ActivateCredential";

/*
 * Why ActivateCredential failed, in the words of the protocol: the TPM
 * checks the credential's HMAC over the object's Name (TPM_RC_INTEGRITY:
 * made for another AK, or altered) after recovering the seed with the EK
 * (a seed another TPM's EK wrapped fails there, as TPM_RC_VALUE, _SIZE or
 * _INTEGRITY, or decrypts to a seed the HMAC then refuses).
 */
static tpmkms_rc activate_raise(ESYS_STATE *st, TSS2_RC rc, const char *label,
                                const char *tmpl)
{
    uint32_t base = esys_tpm_base(rc);
    char cmd[96];
    const char *why;

    snprintf(cmd, sizeof(cmd), "%s (EK template %s)", activate_cmd, tmpl);
    if (esys_rc_is_io(rc) || st->no_answer != NULL)
        return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label, cmd, NULL);
    if (base == TPM2_RC_INTEGRITY)
        why = "the credential's integrity check failed: the challenge was "
              "made for another AK name or another TPM's EK, or it was "
              "altered";
    else if (base == TPM2_RC_VALUE || base == TPM2_RC_SIZE
             || base == TPM2_RC_ECC_POINT || base == TPM2_RC_NO_RESULT
             || base == TPM2_RC_FAILURE)
        /* libtpms (swtpm) answers TPM_RC_FAILURE to a seed its RSA EK
         * cannot OAEP-decrypt, without entering failure mode. */
        why = "this TPM's EK cannot recover the challenge's seed: the "
              "challenge was made for another TPM's EK (or another of its "
              "EKs: see --ek)";
    else if (base == TPM2_RC_POLICY_FAIL || base == TPM2_RC_AUTH_FAIL
             || base == TPM2_RC_BAD_AUTH)
        why = "the EK's policy session or the AK's auth value was refused";
    else
        return esys_raise_tss(st, rc, TPMKMS_R_ACTIVATION_FAILED, label, cmd,
                              NULL);
    TPMKMS_raise(TPMKMS_R_ACTIVATION_FAILED, "%s: %s failed: 0x%08x (%s) — %s",
                 label, cmd, (unsigned)rc, Tss2_RC_Decode(rc), why);
    return TPMKMS_R_ACTIVATION_FAILED;
}

/* A policy session satisfied by TPM2_PolicySecret(TPM_RH_ENDORSEMENT):
 * the profile's PolicyA, which the low-range EKs carry. */
static tpmkms_rc policy_a_session(ESYS_STATE *st, const char *label,
                                  TPMI_ALG_HASH hash, ESYS_TR *session)
{
    TPMT_SYM_DEF sym;
    TPM2B_NONCE nonce_tpm;
    TPM2B_DIGEST cp_hash;
    TPM2B_NONCE policy_ref;
    TPM2B_TIMEOUT *timeout = NULL;
    TPMT_TK_AUTH *ticket = NULL;
    TSS2_RC rc;

    memset(&sym, 0, sizeof(sym));
    memset(&nonce_tpm, 0, sizeof(nonce_tpm));
    memset(&cp_hash, 0, sizeof(cp_hash));
    memset(&policy_ref, 0, sizeof(policy_ref));
    sym.algorithm = TPM2_ALG_NULL;
    TPMKMS_debug("TPM2_StartAuthSession(policy) for %s", label);
    ESYS_CALL(st, rc, Esys_StartAuthSession, 0,
              (st->ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
               ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym, hash),
              (st->ctx, session));
    if (rc != TSS2_RC_SUCCESS) {
        *session = ESYS_TR_NONE;
        return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label,
                              "TPM2_StartAuthSession (policy)", NULL);
    }
    TPMKMS_debug("TPM2_PolicySecret(TPM_RH_ENDORSEMENT) for %s", label);
    ESYS_CALL(st, rc, Esys_PolicySecret, 0,
              (st->ctx, ESYS_TR_RH_ENDORSEMENT, *session, ESYS_TR_PASSWORD,
               ESYS_TR_NONE, ESYS_TR_NONE, &nonce_tpm, &cp_hash, &policy_ref,
               0),
              (st->ctx, &timeout, &ticket));
    Esys_Free(timeout);
    Esys_Free(ticket);
    if (rc != TSS2_RC_SUCCESS)
        return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label,
                              "TPM2_PolicySecret(TPM_RH_ENDORSEMENT)",
                              esys_tpm_base(rc) == TPM2_RC_BAD_AUTH
                              || esys_tpm_base(rc) == TPM2_RC_AUTH_FAIL
                              ? "the endorsement hierarchy has an auth value; "
                                "tpmkms uses the empty one" : NULL);
    return TPMKMS_R_OK;
}

/* The AK as a transient object (its blob loaded under its parent) or its
 * persistent handle; *flush says whether the caller flushes it. */
static tpmkms_rc activate_ak(ESYS_STATE *st, TPMKMS_KEYREF *ak, ESYS_TR *tr,
                             int *flush)
{
    TPMKMS_KEYBLOB blob;
    tpmkms_rc r;
    TSS2_RC rc;

    *flush = 0;
    if (ak->persistent != 0) {
        rc = esys_persistent_open(st, ak->persistent, 0, tr);
        if (rc != TSS2_RC_SUCCESS)
            return esys_raise_tss(st, rc, TPMKMS_R_KEY_NOT_FOUND, ak->label,
                                  "TPM2_ReadPublic (the AK's handle)", NULL);
    } else {
        if ((r = esys_blob_of(&ak->key, &blob, ak->label)) != TPMKMS_R_OK)
            return r;
        r = esys_load_blob(st, &blob, ak->label, 1, tr);
        tpmkms_keyblob_clear(&blob);
        if (r != TPMKMS_R_OK)
            return r;
        *flush = 1;
    }
    if (ak->auth != NULL) {
        TPM2B_AUTH auth;

        memset(&auth, 0, sizeof(auth));
        if (ak->auth_len > sizeof(auth.buffer)) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s: the auth value is "
                         "longer than %zu bytes", ak->label,
                         sizeof(auth.buffer));
            return TPMKMS_R_BAD_PARAMETER;
        }
        auth.size = (UINT16)ak->auth_len;
        memcpy(auth.buffer, ak->auth, ak->auth_len);
        rc = Esys_TR_SetAuth(st->ctx, *tr, &auth);
        OPENSSL_cleanse(&auth, sizeof(auth));
        if (rc != TSS2_RC_SUCCESS)
            return esys_raise_tss(st, rc, TPMKMS_R_INTERNAL, ak->label,
                                  "Esys_TR_SetAuth", NULL);
    }
    return TPMKMS_R_OK;
}

/*
 * TPM2_ActivateCredential with the AK and the EK of template tmpl:
 *   - the EK: TPM2_CreatePrimary(endorsement) with the template (and the
 *     template and nonce indices of the low range, as esys_ek reads them);
 *   - its policy: a policy session, TPM2_PolicySecret(TPM_RH_ENDORSEMENT)
 *     with the endorsement hierarchy's (empty) auth: PolicyA, the
 *     low-range EKs' authPolicy.  The high-range templates' PolicyB needs
 *     TPM2_PolicyOR over PolicyA and PolicyC: refused here;
 *   - the AK loaded under its parent (the SRK), its auth value if any;
 *   - then the EK, the session and the AK are flushed, whatever happened.
 */
static tpmkms_rc esys_activate(void *state, TPMKMS_KEYREF *ak,
                               const char *tmpl, const TPMKMS_BUF *credential,
                               const TPMKMS_BUF *secret, TPMKMS_BUF *out)
{
    ESYS_STATE *st = state;
    const EK_TEMPLATE *t = NULL;
    const char *label = ak->label != NULL ? ak->label : "AK";
    TPM2B_ID_OBJECT blob;
    TPM2B_ENCRYPTED_SECRET seed;
    TPM2B_DIGEST *cert = NULL;
    TPMT_PUBLIC tmpl_pub, made;
    TPMKMS_EK ek;
    EK_SCAN scan;
    ESYS_TR ek_tr = ESYS_TR_NONE, ak_tr = ESYS_TR_NONE;
    ESYS_TR session = ESYS_TR_NONE;
    size_t i, off;
    int flush_ak = 0;
    tpmkms_rc r;
    TSS2_RC rc;

    memset(out, 0, sizeof(*out));
    memset(&ek, 0, sizeof(ek));
    memset(&scan, 0, sizeof(scan));
    memset(&blob, 0, sizeof(blob));
    memset(&seed, 0, sizeof(seed));
    for (i = 0; i < EK_NTEMPLATES; i++)
        if (tmpl != NULL && strcmp(ek_templates[i].name, tmpl) == 0)
            t = &ek_templates[i];
    if (t == NULL || t->alg == TPMKMS_ALG_NONE) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s: no EK template '%s'",
                     label, tmpl != NULL ? tmpl : "(none)");
        return TPMKMS_R_BAD_PARAMETER;
    }
    if (t->policy != &policy_a_sha256) {
        TPMKMS_raise(TPMKMS_R_NOT_SUPPORTED, "%s: credential activation "
                     "with the EK of template %s (%s) is not supported: its "
                     "policy is PolicyB (TPM2_PolicyOR), tpmkms satisfies "
                     "only the low-range EKs' PolicyA (templates L-1, L-2)",
                     label, t->name, t->desc);
        return TPMKMS_R_NOT_SUPPORTED;
    }
    off = 0;
    if (credential->data == NULL
        || Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(credential->data, credential->len,
                                             &off, &blob) != TSS2_RC_SUCCESS
        || off != credential->len) {
        TPMKMS_raise(TPMKMS_R_BAD_REQUEST, "%s: the credential blob is no "
                     "TPM2B_ID_OBJECT", label);
        return TPMKMS_R_BAD_REQUEST;
    }
    off = 0;
    if (secret->data == NULL
        || Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(secret->data, secret->len,
                                                    &off, &seed)
           != TSS2_RC_SUCCESS
        || off != secret->len) {
        TPMKMS_raise(TPMKMS_R_BAD_REQUEST, "%s: the credential's secret is "
                     "no TPM2B_ENCRYPTED_SECRET", label);
        return TPMKMS_R_BAD_REQUEST;
    }
    if ((r = esys_open(st, label)) != TPMKMS_R_OK
        || (r = list_handles(st, EK_NV_FIRST, EK_NV_LAST, scan.nv, EK_MAX_NV,
                             &scan.nnv)) != TPMKMS_R_OK
        || (r = nv_chunk_size(st, &scan.nv_chunk)) != TPMKMS_R_OK
        || (r = ek_template(st, &scan, t, &tmpl_pub, &ek)) != TPMKMS_R_OK)
        goto out;
    if ((r = activate_ak(st, ak, &ak_tr, &flush_ak)) != TPMKMS_R_OK
        || (r = ek_create(st, t, &tmpl_pub, &made, &ek_tr)) != TPMKMS_R_OK
        || (r = policy_a_session(st, label, t->name_alg, &session))
           != TPMKMS_R_OK)
        goto out;
    TPMKMS_debug("%s (EK %s) for %s", activate_cmd, t->name, label);
    ESYS_CALL(st, rc, Esys_ActivateCredential, 0,
              (st->ctx, ak_tr, ek_tr, ESYS_TR_PASSWORD, session, ESYS_TR_NONE,
               &blob, &seed),
              (st->ctx, &cert));
    if (rc != TSS2_RC_SUCCESS) {
        r = activate_raise(st, rc, label, t->name);
        goto out;
    }
    if ((out->data = OPENSSL_memdup(cert->buffer, cert->size)) == NULL
        && cert->size > 0) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        r = TPMKMS_R_INTERNAL;
        goto out;
    }
    out->len = cert->size;
    r = TPMKMS_R_OK;
 out:
    if (cert != NULL) {
        OPENSSL_cleanse(cert, sizeof(*cert));
        Esys_Free(cert);
    }
    if (session != ESYS_TR_NONE)
        esys_flush_tr(st, &session);
    if (ek_tr != ESYS_TR_NONE)
        esys_flush_tr(st, &ek_tr);
    if (ak_tr != ESYS_TR_NONE && flush_ak)
        esys_flush_tr(st, &ak_tr);
    tpmkms_buf_clear(&ek.cert);
    esys_release_if_shared(st);
    return r;
}

const TPMKMS_ATTEST_METHODS esys_attest = {
    esys_ek,
    esys_ak_create,             /* ak.c */
    NULL,                       /* certify */
    esys_quote,                 /* quote.c */
    esys_activate,
};
