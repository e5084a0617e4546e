/*
 * TPMT_PUBLIC, parsed and marshalled as TPM 2.0 Part 2 lays it out
 * (tpmpublic.h).  All integers are big-endian; a TPM2B is a 16-bit size
 * and that many bytes.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include "attest/tpmpublic.h"
#include "pubkey_evp.h"

/* ---- reading ---- */

typedef struct {
    const unsigned char *p;
    size_t left;
    const char *what;           /* "EK public area" */
    int failed;
} READER;

static int fail_at(READER *r, const char *field, const char *why)
{
    if (!r->failed)
        TPMKMS_raise(TPMKMS_R_BAD_TPM_PUBLIC, "%s: %s %s", r->what, field,
                     why);
    r->failed = 1;
    return 0;
}

static int get16(READER *r, const char *field, uint16_t *v)
{
    if (r->failed)
        return 0;
    if (r->left < 2)
        return fail_at(r, field, "is cut short");
    *v = (uint16_t)((r->p[0] << 8) | r->p[1]);
    r->p += 2;
    r->left -= 2;
    return 1;
}

static int get32(READER *r, const char *field, uint32_t *v)
{
    if (r->failed)
        return 0;
    if (r->left < 4)
        return fail_at(r, field, "is cut short");
    *v = ((uint32_t)r->p[0] << 24) | ((uint32_t)r->p[1] << 16)
         | ((uint32_t)r->p[2] << 8) | r->p[3];
    r->p += 4;
    r->left -= 4;
    return 1;
}

/* A TPM2B of at most max bytes. */
static int get2b(READER *r, const char *field, unsigned char *buf,
                 size_t max, size_t *len)
{
    uint16_t n;
    char why[64];

    if (!get16(r, field, &n))
        return 0;
    if (n > max) {
        snprintf(why, sizeof(why), "has %u bytes, more than %zu", n, max);
        return fail_at(r, field, why);
    }
    if (r->left < n)
        return fail_at(r, field, "is cut short");
    memcpy(buf, r->p, n);
    *len = n;
    r->p += n;
    r->left -= n;
    return 1;
}

const char *tpmkms_tpm_hash_name(uint16_t alg)
{
    switch (alg) {
    case TPMKMS_TPM_ALG_SHA1:
        return "SHA1";
    case TPMKMS_TPM_ALG_SHA256:
        return "SHA256";
    case TPMKMS_TPM_ALG_SHA384:
        return "SHA384";
    case TPMKMS_TPM_ALG_SHA512:
        return "SHA512";
    case TPMKMS_TPM_ALG_SM3_256:
        return "SM3";
    default:
        return NULL;
    }
}

size_t tpmkms_tpm_hash_size(uint16_t alg)
{
    switch (alg) {
    case TPMKMS_TPM_ALG_SHA1:
        return 20;
    case TPMKMS_TPM_ALG_SHA256:
    case TPMKMS_TPM_ALG_SM3_256:
        return 32;
    case TPMKMS_TPM_ALG_SHA384:
        return 48;
    case TPMKMS_TPM_ALG_SHA512:
        return 64;
    default:
        return 0;
    }
}

/* The scheme's details: none for NULL and RSAES, a hash for the others,
 * and a count after it for ECDAA (Part 2, 11.2.3 and 11.2.5). */
static int scheme_has_hash(uint16_t scheme)
{
    return scheme != TPMKMS_TPM_ALG_NULL && scheme != TPMKMS_TPM_ALG_RSAES;
}

tpmkms_rc tpmkms_tpmt_public_parse(const unsigned char *buf, size_t len,
                                   const char *what, size_t *used,
                                   TPMKMS_TPMT_PUBLIC *out)
{
    READER r = { buf, len, what, 0 };
    char why[64];

    memset(out, 0, sizeof(*out));
    if (!get16(&r, "type", &out->type))
        return TPMKMS_R_BAD_TPM_PUBLIC;
    if (out->type != TPMKMS_TPM_ALG_RSA && out->type != TPMKMS_TPM_ALG_ECC) {
        snprintf(why, sizeof(why), "0x%04x is neither RSA (0x0001) nor "
                 "ECC (0x0023)", out->type);
        fail_at(&r, "type", why);
        return TPMKMS_R_BAD_TPM_PUBLIC;
    }
    get16(&r, "nameAlg", &out->name_alg);
    get32(&r, "objectAttributes", &out->attributes);
    get2b(&r, "authPolicy", out->auth_policy, sizeof(out->auth_policy),
          &out->auth_policy_len);
    if (get16(&r, "symmetric algorithm", &out->sym_alg)
        && out->sym_alg != TPMKMS_TPM_ALG_NULL) {
        get16(&r, "symmetric keyBits", &out->sym_bits);
        get16(&r, "symmetric mode", &out->sym_mode);
    }
    if (get16(&r, "scheme", &out->scheme) && scheme_has_hash(out->scheme)) {
        get16(&r, "scheme hash", &out->scheme_hash);
        if (out->type == TPMKMS_TPM_ALG_ECC
            && out->scheme == TPMKMS_TPM_ALG_ECDAA)
            get16(&r, "scheme count", &out->scheme_count);
    }
    if (out->type == TPMKMS_TPM_ALG_RSA) {
        get16(&r, "keyBits", &out->rsa_bits);
        get32(&r, "exponent", &out->rsa_exponent);
        get2b(&r, "unique (modulus)", out->x, sizeof(out->x), &out->x_len);
    } else {
        get16(&r, "curveID", &out->curve);
        if (get16(&r, "kdf", &out->kdf) && out->kdf != TPMKMS_TPM_ALG_NULL)
            get16(&r, "kdf hash", &out->kdf_hash);
        get2b(&r, "unique x", out->x, TPMKMS_TPM_ECC_MAX, &out->x_len);
        get2b(&r, "unique y", out->y, sizeof(out->y), &out->y_len);
    }
    if (r.failed)
        return TPMKMS_R_BAD_TPM_PUBLIC;
    if (used != NULL)
        *used = len - r.left;
    return TPMKMS_R_OK;
}

tpmkms_rc tpmkms_tpm2b_public_parse(const unsigned char *buf, size_t len,
                                    const char *what,
                                    TPMKMS_TPMT_PUBLIC *out)
{
    size_t size, used = 0;
    tpmkms_rc rc;

    memset(out, 0, sizeof(*out));
    if (len < 2) {
        TPMKMS_raise(TPMKMS_R_BAD_TPM_PUBLIC, "%s: %zu bytes are no "
                     "TPM2B_PUBLIC", what, len);
        return TPMKMS_R_BAD_TPM_PUBLIC;
    }
    size = ((size_t)buf[0] << 8) | buf[1];
    if (size != len - 2) {
        TPMKMS_raise(TPMKMS_R_BAD_TPM_PUBLIC, "%s: the TPM2B_PUBLIC says "
                     "%zu bytes, but %zu follow its size", what, size,
                     len - 2);
        return TPMKMS_R_BAD_TPM_PUBLIC;
    }
    if ((rc = tpmkms_tpmt_public_parse(buf + 2, size, what, &used, out))
        != TPMKMS_R_OK)
        return rc;
    if (used != size) {
        TPMKMS_raise(TPMKMS_R_BAD_TPM_PUBLIC, "%s: %zu bytes after the "
                     "TPMT_PUBLIC", what, size - used);
        return TPMKMS_R_BAD_TPM_PUBLIC;
    }
    return TPMKMS_R_OK;
}

/* ---- writing ---- */

typedef struct {
    unsigned char *p;           /* NULL: count only */
    size_t len, n;
} WRITER;

static void put(WRITER *w, const void *b, size_t n)
{
    if (w->p != NULL && w->n + n <= w->len)
        memcpy(w->p + w->n, b, n);
    w->n += n;
}

static void put16(WRITER *w, uint16_t v)
{
    unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };

    put(w, b, 2);
}

static void put32(WRITER *w, uint32_t v)
{
    unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 8), (unsigned char)v };

    put(w, b, 4);
}

static void put2b(WRITER *w, const unsigned char *b, size_t n)
{
    put16(w, (uint16_t)n);
    put(w, b, n);
}

size_t tpmkms_tpmt_public_marshal(const TPMKMS_TPMT_PUBLIC *pub,
                                  unsigned char *buf, size_t len)
{
    WRITER w = { buf, len, 0 };

    put16(&w, pub->type);
    put16(&w, pub->name_alg);
    put32(&w, pub->attributes);
    put2b(&w, pub->auth_policy, pub->auth_policy_len);
    put16(&w, pub->sym_alg);
    if (pub->sym_alg != TPMKMS_TPM_ALG_NULL) {
        put16(&w, pub->sym_bits);
        put16(&w, pub->sym_mode);
    }
    put16(&w, pub->scheme);
    if (scheme_has_hash(pub->scheme)) {
        put16(&w, pub->scheme_hash);
        if (pub->type == TPMKMS_TPM_ALG_ECC
            && pub->scheme == TPMKMS_TPM_ALG_ECDAA)
            put16(&w, pub->scheme_count);
    }
    if (pub->type == TPMKMS_TPM_ALG_RSA) {
        put16(&w, pub->rsa_bits);
        put32(&w, pub->rsa_exponent);
        put2b(&w, pub->x, pub->x_len);
    } else {
        put16(&w, pub->curve);
        put16(&w, pub->kdf);
        if (pub->kdf != TPMKMS_TPM_ALG_NULL)
            put16(&w, pub->kdf_hash);
        put2b(&w, pub->x, pub->x_len);
        put2b(&w, pub->y, pub->y_len);
    }
    if (buf != NULL && w.n > len)
        return 0;
    return w.n;
}

/* ---- what follows from it ---- */

tpmkms_rc tpmkms_tpm_name(OSSL_LIB_CTX *libctx, const TPMKMS_TPMT_PUBLIC *pub,
                          const char *what,
                          unsigned char name[TPMKMS_TPM_NAME_MAX],
                          size_t *name_len)
{
    unsigned char area[TPMKMS_TPMT_PUBLIC_MAX];
    const char *mdname = tpmkms_tpm_hash_name(pub->name_alg);
    size_t n = tpmkms_tpmt_public_marshal(pub, area, sizeof(area));
    unsigned int mdlen = 0;
    EVP_MD *md = NULL;
    int ok;

    if (mdname == NULL) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM, "%s: name algorithm "
                     "0x%04x is not one tpmkms hashes (SHA-1, SHA-256, "
                     "SHA-384, SHA-512, SM3-256)", what, pub->name_alg);
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    md = EVP_MD_fetch(libctx, mdname, TPMKMS_SOFT_PROPQ);
    name[0] = (unsigned char)(pub->name_alg >> 8);
    name[1] = (unsigned char)pub->name_alg;
    ok = n > 0 && md != NULL
         && EVP_Digest(area, n, name + 2, &mdlen, md, NULL)
         && mdlen == tpmkms_tpm_hash_size(pub->name_alg);
    EVP_MD_free(md);
    if (!ok) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM, "%s: cannot compute "
                     "its Name with %s", what, mdname);
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    *name_len = 2 + (size_t)mdlen;
    return TPMKMS_R_OK;
}

static const char *curve_group(uint16_t curve, size_t *bytes)
{
    switch (curve) {
    case TPMKMS_TPM_ECC_NIST_P256:
        *bytes = 32;
        return "P-256";
    case TPMKMS_TPM_ECC_NIST_P384:
        *bytes = 48;
        return "P-384";
    case TPMKMS_TPM_ECC_NIST_P521:
        *bytes = 66;
        return "P-521";
    default:
        return NULL;
    }
}

char *tpmkms_tpm_public_describe(const TPMKMS_TPMT_PUBLIC *pub, char *buf,
                                 size_t len)
{
    size_t bytes;
    const char *g;

    if (pub->type == TPMKMS_TPM_ALG_RSA)
        snprintf(buf, len, "RSA %u", pub->rsa_bits);
    else if ((g = curve_group(pub->curve, &bytes)) != NULL)
        snprintf(buf, len, "ECC NIST %s", g);
    else
        snprintf(buf, len, "ECC curve 0x%04x", pub->curve);
    return buf;
}

tpmkms_rc tpmkms_tpm_public_to_evp(OSSL_LIB_CTX *libctx,
                                   const TPMKMS_TPMT_PUBLIC *pub,
                                   const char *what, EVP_PKEY **out)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    BIGNUM *n = NULL, *e = NULL;
    unsigned char point[1 + 2 * TPMKMS_TPM_ECC_MAX];
    const char *type, *group = NULL;
    size_t bytes = 0;
    int ok = 0;

    *out = NULL;
    if (pub->type == TPMKMS_TPM_ALG_RSA) {
        type = "RSA";
        n = BN_bin2bn(pub->x, (int)pub->x_len, NULL);
        e = BN_new();
        ok = bld != NULL && n != NULL && e != NULL && pub->x_len > 0
             && BN_set_word(e, pub->rsa_exponent != 0 ? pub->rsa_exponent
                                                      : 65537)
             && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n)
             && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
    } else {
        type = "EC";
        if ((group = curve_group(pub->curve, &bytes)) == NULL) {
            TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM, "%s: ECC curve "
                         "0x%04x is not NIST P-256, P-384 or P-521", what,
                         pub->curve);
            goto out_free;
        }
        /* The point at the curve's full size: x and y left-padded. */
        if (pub->x_len > bytes || pub->y_len > bytes) {
            TPMKMS_raise(TPMKMS_R_BAD_TPM_PUBLIC, "%s: the point is larger "
                         "than %s's coordinates", what, group);
            goto out_free;
        }
        memset(point, 0, sizeof(point));
        point[0] = 0x04;
        memcpy(point + 1 + bytes - pub->x_len, pub->x, pub->x_len);
        memcpy(point + 1 + 2 * bytes - pub->y_len, pub->y, pub->y_len);
        ok = bld != NULL
             && OSSL_PARAM_BLD_push_utf8_string(bld,
                                                OSSL_PKEY_PARAM_GROUP_NAME,
                                                group, 0)
             && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                                 point, 1 + 2 * bytes);
    }
    ok = ok && (params = OSSL_PARAM_BLD_to_param(bld)) != NULL
         && (pctx = EVP_PKEY_CTX_new_from_name(libctx, type,
                                               TPMKMS_SOFT_PROPQ)) != NULL
         && EVP_PKEY_fromdata_init(pctx) > 0
         && EVP_PKEY_fromdata(pctx, out, EVP_PKEY_PUBLIC_KEY, params) > 0;
    /* fromdata does not check an EC point is on the curve: check it. */
    if (ok && group != NULL) {
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(libctx, *out,
                                                         TPMKMS_SOFT_PROPQ);

        ok = check != NULL && EVP_PKEY_public_check(check) > 0;
        EVP_PKEY_CTX_free(check);
    }
    if (!ok) {
        EVP_PKEY_free(*out);
        *out = NULL;
        TPMKMS_raise(TPMKMS_R_BAD_TPM_PUBLIC, "%s: its unique field is no "
                     "%s public key OpenSSL accepts", what, type);
    }
 out_free:
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return *out != NULL ? TPMKMS_R_OK
           : group == NULL && pub->type == TPMKMS_TPM_ALG_ECC
             ? TPMKMS_R_UNSUPPORTED_ALGORITHM : TPMKMS_R_BAD_TPM_PUBLIC;
}

tpmkms_rc tpmkms_tpm_check_ak(const TPMKMS_TPMT_PUBLIC *pub)
{
    static const struct {
        uint32_t bit;
        int want;
        const char *name;
    } rules[] = {
        { TPMKMS_TPMA_RESTRICTED, 1, "restricted" },
        { TPMKMS_TPMA_SIGN, 1, "sign" },
        { TPMKMS_TPMA_DECRYPT, 0, "decrypt" },
        { TPMKMS_TPMA_FIXEDTPM, 1, "fixedTPM" },
        { TPMKMS_TPMA_FIXEDPARENT, 1, "fixedParent" },
        { TPMKMS_TPMA_SENSITIVEDATAORIGIN, 1, "sensitiveDataOrigin" },
    };
    char wrong[160] = "";
    size_t i, used = 0;

    for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        int set = (pub->attributes & rules[i].bit) != 0;

        if (set != rules[i].want && used < sizeof(wrong))
            used += (size_t)snprintf(wrong + used, sizeof(wrong) - used,
                                     "%s%s %s", used > 0 ? ", " : "",
                                     rules[i].name,
                                     rules[i].want ? "clear" : "set");
    }
    if (wrong[0] == '\0')
        return TPMKMS_R_OK;
    TPMKMS_raise(TPMKMS_R_NOT_AN_AK, "the AK public area (objectAttributes "
                 "0x%08x) is not a restricted signing key the TPM made and "
                 "keeps: %s (an AK has restricted, sign, fixedTPM, "
                 "fixedParent and sensitiveDataOrigin set, decrypt clear)",
                 pub->attributes, wrong);
    return TPMKMS_R_NOT_AN_AK;
}
