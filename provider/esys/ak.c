/*
 * Attestation keys (AKs): the attestation group's ak_create, which
 * attest.c's method table names.
 *
 * An AK is a restricted signing key made under the SRK like any key
 * (TPM2_Create, keys.c's esys_create_under_srk), so that it is stored,
 * scoped, loaded and deleted as keys are.  Restricted means the TPM signs
 * with it only digests it made itself (TPM2_Certify, TPM2_Quote, ...):
 * TPM2_Sign of an outside digest needs a hash-check ticket that shows
 * the TPM hashed data not starting with TPM_GENERATED_VALUE, so an AK's
 * signature over a TPMS_ATTEST cannot be forged by signing a look-alike.
 *
 * The template follows what verifiers expect of an AK (the TCG's AK and
 * IAK templates, go-attestation's and tpm2_createak's defaults):
 *
 *   objectAttributes  fixedTPM | fixedParent | sensitiveDataOrigin |
 *                     userWithAuth | restricted | sign
 *                     and noDA when it has no auth value (as tpmkms keys:
 *                     with nothing to guess, wrong-auth attempts must not
 *                     count toward the TPM's lockout; go-attestation's AKs
 *                     have it too; with a PIN, dictionary-attack protection
 *                     guards the PIN)
 *   nameAlg           SHA-256; authPolicy empty
 *   ECC P-256         scheme ECDSA with SHA-256, kdf and symmetric null
 *   RSA-2048          scheme RSASSA with SHA-256, exponent 65537,
 *                     symmetric null
 *
 * A restricted signing key must carry its scheme (the TPM refuses a null
 * one), so an AK signs with exactly one scheme and hash: COSE ES256 or
 * RS256 in WebAuthn's terms.
 */
#include <stdio.h>
#include <string.h>
#include "debug.h"
#include "errors.h"
#include "esys.h"

#define ESYS_AK_ATTRS (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT       \
                       | TPMA_OBJECT_SENSITIVEDATAORIGIN                    \
                       | TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED  \
                       | TPMA_OBJECT_SIGN_ENCRYPT)

/* The AK template of alg: 1, or 0 for an algorithm an AK cannot have. */
static int ak_template(tpmkms_alg alg, int has_auth, TPM2B_PUBLIC *tmpl)
{
    TPMT_PUBLIC *p = &tmpl->publicArea;

    memset(tmpl, 0, sizeof(*tmpl));
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = ESYS_AK_ATTRS;
    if (!has_auth)
        p->objectAttributes |= TPMA_OBJECT_NODA;
    switch (alg) {
    case TPMKMS_ALG_EC_P256:
        p->type = TPM2_ALG_ECC;
        p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
        p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
        p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
        p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
        p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
        return 1;
    case TPMKMS_ALG_RSA_2048:
        p->type = TPM2_ALG_RSA;
        p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
        p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
        p->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
        p->parameters.rsaDetail.keyBits = 2048;
        p->parameters.rsaDetail.exponent = 0;
        return 1;
    default:
        return 0;
    }
}

tpmkms_rc esys_ak_create(void *state, const TPMKMS_CREATE_PARAMS *params,
                         TPMKMS_KEYDATA *key, TPMKMS_PUBLIC *pub)
{
    const char *label = params->label != NULL ? params->label : "new AK";
    const char *name = tpmkms_alg_name(params->alg);
    char desc[64];
    TPM2B_PUBLIC tmpl;

    if (!ak_template(params->alg, params->auth != NULL, &tmpl)) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: an attestation key is ec-p256 (ECDSA with SHA-256) "
                     "or rsa-2048 (RSASSA with SHA-256), not %s", label,
                     name != NULL ? name : "this algorithm");
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    snprintf(desc, sizeof(desc), "%s attestation key", name);
    return esys_create_under_srk(state, params, &tmpl, desc, key, pub);
}
