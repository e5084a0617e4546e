/*
 * Quotes above the seam (quote.h): TPMS_ATTEST, TPMT_SIGNATURE and the
 * tpm2-tools PCR file, parsed without tpm2-tss, and the checks of
 * `tpmkms verify-quote` with OpenSSL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include "attest/quote.h"
#include "attest/tpmpublic.h"

/* ------------------------------------------------------------ reading */

typedef struct {
    const unsigned char *p;
    size_t left;
    const char *what;
    int failed;
} QREADER;

static int qfail(QREADER *r, const char *field, const char *why)
{
    if (!r->failed)
        TPMKMS_raise(TPMKMS_R_BAD_QUOTE, "%s: field %s: %s", r->what, field,
                     why);
    r->failed = 1;
    return 0;
}

static int qget(QREADER *r, const char *field, unsigned char *out, size_t n)
{
    if (r->failed)
        return 0;
    if (r->left < n)
        return qfail(r, field, "the bytes end before it");
    if (out != NULL)
        memcpy(out, r->p, n);
    r->p += n;
    r->left -= n;
    return 1;
}

static int qget_be(QREADER *r, const char *field, size_t n, uint64_t *v)
{
    unsigned char b[8];

    *v = 0;
    if (!qget(r, field, b, n))
        return 0;
    for (size_t i = 0; i < n; i++)
        *v = (*v << 8) | b[i];
    return 1;
}

static int qget16(QREADER *r, const char *field, uint16_t *v)
{
    uint64_t x;
    int ok = qget_be(r, field, 2, &x);

    *v = (uint16_t)x;
    return ok;
}

static int qget32(QREADER *r, const char *field, uint32_t *v)
{
    uint64_t x;
    int ok = qget_be(r, field, 4, &x);

    *v = (uint32_t)x;
    return ok;
}

static int qget2b(QREADER *r, const char *field, unsigned char *buf,
                  size_t max, size_t *len)
{
    uint16_t n;

    *len = 0;
    if (!qget16(r, field, &n))
        return 0;
    if (n > max) {
        char why[64];

        snprintf(why, sizeof(why), "%u bytes, more than the %zu it may have",
                 n, max);
        return qfail(r, field, why);
    }
    if (!qget(r, field, buf, n))
        return 0;
    *len = n;
    return 1;
}

/* TPML_PCR_SELECTION, big-endian as the TPM marshals it. */
static int qget_selection(QREADER *r, TPMKMS_PCR_SELECTION *sel)
{
    uint32_t count;

    if (!qget32(r, "pcrSelect.count", &count))
        return 0;
    if (count > TPMKMS_PCR_BANKS_MAX)
        return qfail(r, "pcrSelect.count", "more than 16 banks");
    sel->count = count;
    for (uint32_t i = 0; i < count; i++) {
        unsigned char bits[TPMKMS_PCR_SELECT_MAX];
        TPMKMS_PCR_BANK *b = &sel->bank[i];

        if (!qget16(r, "pcrSelect.hash", &b->hash)
            || !qget(r, "pcrSelect.sizeofSelect", &b->size_of_select, 1))
            return 0;
        if (b->size_of_select > TPMKMS_PCR_SELECT_MAX)
            return qfail(r, "pcrSelect.sizeofSelect", "more than 4 bytes");
        if (!qget(r, "pcrSelect.pcrSelect", bits, b->size_of_select))
            return 0;
        b->mask = 0;
        for (unsigned j = 0; j < b->size_of_select; j++)
            b->mask |= (uint32_t)bits[j] << (8 * j);
    }
    return 1;
}

tpmkms_rc tpmkms_quote_parse(const unsigned char *buf, size_t len,
                             TPMKMS_QUOTE_INFO *out)
{
    QREADER r = { buf, len, "quote (TPMS_ATTEST)", 0 };
    uint64_t v;
    char why[96];

    memset(out, 0, sizeof(*out));
    if (!qget32(&r, "magic", &out->magic))
        return TPMKMS_R_BAD_QUOTE;
    if (out->magic != TPMKMS_TPM_GENERATED_VALUE) {
        snprintf(why, sizeof(why), "0x%08x is not TPM_GENERATED_VALUE "
                 "(0xff544347): not made by a TPM", (unsigned)out->magic);
        qfail(&r, "magic", why);
        return TPMKMS_R_BAD_QUOTE;
    }
    if (!qget16(&r, "type", &out->type))
        return TPMKMS_R_BAD_QUOTE;
    if (out->type != TPMKMS_TPM_ST_ATTEST_QUOTE) {
        snprintf(why, sizeof(why), "0x%04x is not TPM_ST_ATTEST_QUOTE "
                 "(0x8018): not a quote", out->type);
        qfail(&r, "type", why);
        return TPMKMS_R_BAD_QUOTE;
    }
    qget2b(&r, "qualifiedSigner", out->signer, sizeof(out->signer),
           &out->signer_len);
    qget2b(&r, "extraData", out->extra, sizeof(out->extra), &out->extra_len);
    qget_be(&r, "clockInfo.clock", 8, &out->clock);
    qget32(&r, "clockInfo.resetCount", &out->reset_count);
    qget32(&r, "clockInfo.restartCount", &out->restart_count);
    qget(&r, "clockInfo.safe", &out->safe, 1);
    qget_be(&r, "firmwareVersion", 8, &v);
    out->firmware = v;
    qget_selection(&r, &out->pcrs);
    qget2b(&r, "pcrDigest", out->pcr_digest, sizeof(out->pcr_digest),
           &out->pcr_digest_len);
    if (!r.failed && r.left != 0) {
        snprintf(why, sizeof(why), "%zu bytes follow it", r.left);
        qfail(&r, "pcrDigest", why);
    }
    return r.failed ? TPMKMS_R_BAD_QUOTE : TPMKMS_R_OK;
}

/* ------------------------------------------------------------ writing */

typedef struct {
    unsigned char *p;
    size_t len, off;
} QWRITER;

static void qput(QWRITER *w, const void *b, size_t n)
{
    if (w->p != NULL && w->off + n <= w->len)
        memcpy(w->p + w->off, b, n);
    w->off += n;
}

static void qput_be(QWRITER *w, uint64_t v, size_t n)
{
    unsigned char b[8];

    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
    qput(w, b, n);
}

static void qput2b(QWRITER *w, const unsigned char *b, size_t n)
{
    qput_be(w, n, 2);
    qput(w, b, n);
}

size_t tpmkms_quote_marshal(const TPMKMS_QUOTE_INFO *q, unsigned char *buf,
                            size_t len)
{
    QWRITER w = { buf, len, 0 };

    qput_be(&w, q->magic, 4);
    qput_be(&w, q->type, 2);
    qput2b(&w, q->signer, q->signer_len);
    qput2b(&w, q->extra, q->extra_len);
    qput_be(&w, q->clock, 8);
    qput_be(&w, q->reset_count, 4);
    qput_be(&w, q->restart_count, 4);
    qput(&w, &q->safe, 1);
    qput_be(&w, q->firmware, 8);
    qput_be(&w, q->pcrs.count, 4);
    for (size_t i = 0; i < q->pcrs.count; i++) {
        const TPMKMS_PCR_BANK *b = &q->pcrs.bank[i];

        qput_be(&w, b->hash, 2);
        qput(&w, &b->size_of_select, 1);
        for (unsigned j = 0; j < b->size_of_select; j++) {
            unsigned char c = (unsigned char)(b->mask >> (8 * j));

            qput(&w, &c, 1);
        }
    }
    qput2b(&w, q->pcr_digest, q->pcr_digest_len);
    if (buf != NULL && w.off > len)
        return 0;
    return w.off;
}

/* ---------------------------------------------------------- signature */

tpmkms_rc tpmkms_tpmt_signature_parse(const unsigned char *buf, size_t len,
                                      TPMKMS_TPMT_SIGNATURE *out)
{
    QREADER r = { buf, len, "quote signature (TPMT_SIGNATURE)", 0 };
    char why[96];

    memset(out, 0, sizeof(*out));
    if (!qget16(&r, "sigAlg", &out->sig_alg) || !qget16(&r, "hash", &out->hash))
        return TPMKMS_R_BAD_QUOTE;
    switch (out->sig_alg) {
    case TPMKMS_TPM_ALG_ECDSA:
        qget2b(&r, "signatureR", out->a, sizeof(out->b), &out->a_len);
        qget2b(&r, "signatureS", out->b, sizeof(out->b), &out->b_len);
        break;
    case TPMKMS_TPM_ALG_RSASSA:
    case TPMKMS_TPM_ALG_RSAPSS:
        qget2b(&r, "sig", out->a, sizeof(out->a), &out->a_len);
        break;
    default:
        snprintf(why, sizeof(why), "0x%04x is none of ECDSA (0x0018), "
                 "RSASSA (0x0014), RSAPSS (0x0016)", out->sig_alg);
        qfail(&r, "sigAlg", why);
        return TPMKMS_R_BAD_QUOTE;
    }
    if (!r.failed && tpmkms_tpm_hash_name(out->hash) == NULL) {
        snprintf(why, sizeof(why), "0x%04x is no hash tpmkms knows",
                 out->hash);
        qfail(&r, "hash", why);
    }
    if (!r.failed && r.left != 0) {
        snprintf(why, sizeof(why), "%zu bytes follow it", r.left);
        qfail(&r, "signature", why);
    }
    return r.failed ? TPMKMS_R_BAD_QUOTE : TPMKMS_R_OK;
}

/* ----------------------------------------------------------- PCR file */

#define PCRF_SEL_SIZE     8                        /* TPMS_PCR_SELECTION */
#define PCRF_SELECTION    (4 + TPMKMS_PCR_BANKS_MAX * PCRF_SEL_SIZE)  /* 132 */
#define PCRF_DIGEST_SIZE  66                       /* TPM2B_DIGEST */
#define PCRF_DIGESTS      8                        /* per TPML_DIGEST */
#define PCRF_LIST         (4 + PCRF_DIGESTS * PCRF_DIGEST_SIZE)       /* 532 */

static void le_put(unsigned char *p, uint32_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t le_get(const unsigned char *p, size_t n)
{
    uint32_t v = 0;

    for (size_t i = n; i > 0; i--)
        v = (v << 8) | p[i - 1];
    return v;
}

static size_t popcount32(uint32_t m)
{
    size_t n = 0;

    for (; m != 0; m &= m - 1)
        n++;
    return n;
}

tpmkms_rc tpmkms_pcr_file_make(uint16_t hash, uint32_t mask,
                               const unsigned char *values, size_t values_len,
                               unsigned char **out, size_t *outlen)
{
    size_t size = tpmkms_tpm_hash_size(hash), n = popcount32(mask);
    size_t lists = (n + PCRF_DIGESTS - 1) / PCRF_DIGESTS;
    size_t total = PCRF_SELECTION + 4 + lists * PCRF_LIST;
    unsigned char *p;

    *out = NULL;
    *outlen = 0;
    if (size == 0 || n == 0 || values_len != n * size) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "PCR file: %zu bytes of values for "
                     "%zu PCRs of %zu bytes", values_len, n, size);
        return TPMKMS_R_INTERNAL;
    }
    if ((p = OPENSSL_zalloc(total)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "PCR file: out of memory");
        return TPMKMS_R_INTERNAL;
    }
    le_put(p, 1, 4);
    le_put(p + 4, hash, 2);
    p[6] = 3;
    le_put(p + 7, mask, 4);     /* pcrSelect[0..3], PCR n at bit n */
    le_put(p + PCRF_SELECTION, (uint32_t)lists, 4);
    for (size_t i = 0; i < n; i++) {
        unsigned char *list = p + PCRF_SELECTION + 4 + (i / 8) * PCRF_LIST;
        unsigned char *d = list + 4 + (i % 8) * PCRF_DIGEST_SIZE;
        size_t in_list = n - (i / 8) * 8;

        le_put(list, (uint32_t)(in_list > 8 ? 8 : in_list), 4);
        le_put(d, (uint32_t)size, 2);
        memcpy(d + 2, values + i * size, size);
    }
    *out = p;
    *outlen = total;
    return TPMKMS_R_OK;
}

static tpmkms_rc pcr_file_bad(const char *why)
{
    TPMKMS_raise(TPMKMS_R_BAD_QUOTE, "PCR file (tpm2-tools serialized "
                 "format): %s", why);
    return TPMKMS_R_BAD_QUOTE;
}

tpmkms_rc tpmkms_pcr_file_parse(const unsigned char *buf, size_t len,
                                TPMKMS_PCR_VALUES *out)
{
    uint32_t count, lists;
    size_t want = 0;
    char why[96];

    memset(out, 0, sizeof(*out));
    if (len < PCRF_SELECTION + 4)
        return pcr_file_bad("shorter than a PCR selection and a count");
    count = le_get(buf, 4);
    if (count == 0 || count > TPMKMS_PCR_BANKS_MAX)
        return pcr_file_bad("its selection names no bank, or more than 16");
    out->sel.count = count;
    for (uint32_t i = 0; i < count; i++) {
        const unsigned char *s = buf + 4 + i * PCRF_SEL_SIZE;
        TPMKMS_PCR_BANK *b = &out->sel.bank[i];

        b->hash = (uint16_t)le_get(s, 2);
        b->size_of_select = s[2];
        if (b->size_of_select > TPMKMS_PCR_SELECT_MAX)
            return pcr_file_bad("a selection of more than 4 bytes");
        for (unsigned j = 0; j < b->size_of_select; j++)
            b->mask |= (uint32_t)s[3 + j] << (8 * j);
        if (tpmkms_tpm_hash_size(b->hash) == 0) {
            snprintf(why, sizeof(why), "bank 0x%04x is no hash tpmkms knows",
                     b->hash);
            return pcr_file_bad(why);
        }
        want += popcount32(b->mask);
    }
    lists = le_get(buf + PCRF_SELECTION, 4);
    if (lists > TPMKMS_PCR_VALUES_MAX / PCRF_DIGESTS
        || len != PCRF_SELECTION + 4 + (size_t)lists * PCRF_LIST) {
        snprintf(why, sizeof(why), "%zu bytes, which are not %u digest lists",
                 len, (unsigned)lists);
        return pcr_file_bad(why);
    }
    for (uint32_t l = 0; l < lists; l++) {
        const unsigned char *list = buf + PCRF_SELECTION + 4 + l * PCRF_LIST;
        uint32_t k = le_get(list, 4);

        if (k > PCRF_DIGESTS)
            return pcr_file_bad("a digest list of more than 8 digests");
        for (uint32_t j = 0; j < k; j++) {
            const unsigned char *d = list + 4 + j * PCRF_DIGEST_SIZE;
            uint16_t size = (uint16_t)le_get(d, 2);

            if (size > 64)
                return pcr_file_bad("a digest of more than 64 bytes");
            out->value[out->n].size = size;
            memcpy(out->value[out->n].v, d + 2, size);
            out->n++;
        }
    }
    if (out->n != want) {
        snprintf(why, sizeof(why), "%zu PCR values for a selection of %zu "
                 "PCRs", out->n, want);
        return pcr_file_bad(why);
    }
    /* Each value has its bank's size. */
    for (size_t i = 0, v = 0; i < out->sel.count; i++) {
        size_t size = tpmkms_tpm_hash_size(out->sel.bank[i].hash);

        for (size_t k = popcount32(out->sel.bank[i].mask); k > 0; k--, v++)
            if (out->value[v].size != size) {
                snprintf(why, sizeof(why), "value %zu has %u bytes, not its "
                         "bank's %zu", v, out->value[v].size, size);
                return pcr_file_bad(why);
            }
    }
    return TPMKMS_R_OK;
}

int tpmkms_pcr_spec_parse(const char *spec, uint16_t *hash, uint32_t *mask)
{
    static const struct { const char *name; uint16_t alg; } banks[] = {
        { "sha1", TPMKMS_TPM_ALG_SHA1 },
        { "sha256", TPMKMS_TPM_ALG_SHA256 },
        { "sha384", TPMKMS_TPM_ALG_SHA384 },
        { "sha512", TPMKMS_TPM_ALG_SHA512 },
    };
    const char *colon = strchr(spec, ':'), *p;

    *hash = 0;
    *mask = 0;
    if (colon == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(banks) / sizeof(banks[0]); i++)
        if (strlen(banks[i].name) == (size_t)(colon - spec)
            && strncmp(spec, banks[i].name, (size_t)(colon - spec)) == 0)
            *hash = banks[i].alg;
    if (*hash == 0)
        return 0;
    for (p = colon + 1;;) {
        char *end;
        unsigned long n;

        if (*p < '0' || *p > '9')
            return 0;
        n = strtoul(p, &end, 10);
        if (n > 23 || end - p > 2)
            return 0;
        *mask |= 1u << n;
        if (*end == '\0')
            break;
        if (*end != ',')
            return 0;
        p = end + 1;
    }
    return 1;
}

/* ------------------------------------------------------------- verify */

static tpmkms_rc digest_of(OSSL_LIB_CTX *libctx, uint16_t alg,
                           const unsigned char *in, size_t inlen,
                           unsigned char *out, unsigned int *outlen)
{
    const char *name = tpmkms_tpm_hash_name(alg);
    EVP_MD *md = name != NULL ? EVP_MD_fetch(libctx, name, NULL) : NULL;
    int ok = md != NULL && EVP_Digest(in, inlen, out, outlen, md, NULL);

    EVP_MD_free(md);
    if (!ok) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "quote: cannot hash with TPM algorithm 0x%04x", alg);
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    return TPMKMS_R_OK;
}

/* ECDSA's r and s as the DER ECDSA-Sig-Value OpenSSL verifies. */
static unsigned char *ecdsa_der(const TPMKMS_TPMT_SIGNATURE *s, size_t *len)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(s->a, (int)s->a_len, NULL);
    BIGNUM *ss = BN_bin2bn(s->b, (int)s->b_len, NULL);
    unsigned char *der = NULL;
    int n;

    *len = 0;
    if (es == NULL || r == NULL || ss == NULL || !ECDSA_SIG_set0(es, r, ss)) {
        BN_free(r);
        BN_free(ss);
        ECDSA_SIG_free(es);
        return NULL;
    }
    n = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    if (n <= 0)
        return NULL;
    *len = (size_t)n;
    return der;
}

static tpmkms_rc verify_signature(OSSL_LIB_CTX *libctx, EVP_PKEY *ak,
                                  const TPMKMS_TPMT_SIGNATURE *s,
                                  const unsigned char *attest,
                                  size_t attest_len)
{
    const char *mdname = tpmkms_tpm_hash_name(s->hash);
    int is_ec = EVP_PKEY_is_a(ak, "EC");
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *der = NULL;
    const unsigned char *sig = s->a;
    size_t siglen = s->a_len;
    int ok = 0;

    if (is_ec != (s->sig_alg == TPMKMS_TPM_ALG_ECDSA)) {
        TPMKMS_raise(TPMKMS_R_QUOTE_SIGNATURE,
                     "the quote is signed with %s, but the AK is an %s key",
                     s->sig_alg == TPMKMS_TPM_ALG_ECDSA ? "ECDSA" : "RSA",
                     is_ec ? "EC" : "RSA");
        return TPMKMS_R_QUOTE_SIGNATURE;
    }
    if (is_ec && (der = ecdsa_der(s, &siglen)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "quote: cannot encode ECDSA r, s");
        return TPMKMS_R_INTERNAL;
    }
    if (is_ec)
        sig = der;
    if ((mctx = EVP_MD_CTX_new()) != NULL
        && EVP_DigestVerifyInit_ex(mctx, &pctx, mdname, libctx, NULL, ak,
                                   NULL) == 1) {
        if (s->sig_alg == TPMKMS_TPM_ALG_RSAPSS)
            ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0
                && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO)
                   > 0;
        else
            ok = 1;
        ok = ok && EVP_DigestVerify(mctx, sig, siglen, attest, attest_len) == 1;
    }
    EVP_MD_CTX_free(mctx);
    OPENSSL_free(der);
    if (!ok) {
        TPMKMS_raise(TPMKMS_R_QUOTE_SIGNATURE,
                     "the quote's %s signature with %s does not verify with "
                     "the AK's public key: the quote was changed, or another "
                     "key signed it",
                     s->sig_alg == TPMKMS_TPM_ALG_ECDSA ? "ECDSA"
                     : s->sig_alg == TPMKMS_TPM_ALG_RSAPSS ? "RSAPSS"
                     : "RSASSA", mdname);
        return TPMKMS_R_QUOTE_SIGNATURE;
    }
    return TPMKMS_R_OK;
}

static char *hex(const unsigned char *b, size_t n, char *out, size_t outlen)
{
    size_t i;

    for (i = 0; i < n && 2 * i + 2 < outlen; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    out[2 * i] = '\0';
    return out;
}

static int same_selection(const TPMKMS_PCR_SELECTION *a,
                          const TPMKMS_PCR_SELECTION *b)
{
    if (a->count != b->count)
        return 0;
    for (size_t i = 0; i < a->count; i++)
        if (a->bank[i].hash != b->bank[i].hash
            || a->bank[i].mask != b->bank[i].mask)
            return 0;
    return 1;
}

tpmkms_rc tpmkms_quote_verify(OSSL_LIB_CTX *libctx, EVP_PKEY *ak,
                              const unsigned char *attest, size_t attest_len,
                              const unsigned char *sig, size_t sig_len,
                              const TPMKMS_PCR_VALUES *pcrs,
                              const unsigned char *nonce, size_t nonce_len,
                              TPMKMS_QUOTE_INFO *info)
{
    TPMKMS_QUOTE_INFO q;
    TPMKMS_TPMT_SIGNATURE s;
    unsigned char *cat = NULL, digest[64];
    unsigned int dlen = 0;
    char h1[130], h2[130];
    size_t off = 0;
    tpmkms_rc r;

    if ((r = tpmkms_quote_parse(attest, attest_len, &q)) != TPMKMS_R_OK
        || (r = tpmkms_tpmt_signature_parse(sig, sig_len, &s)) != TPMKMS_R_OK)
        return r;
    if (info != NULL)
        *info = q;
    if ((r = verify_signature(libctx, ak, &s, attest, attest_len))
        != TPMKMS_R_OK)
        return r;
    if (q.extra_len != nonce_len
        || (nonce_len > 0 && CRYPTO_memcmp(q.extra, nonce, nonce_len) != 0)) {
        TPMKMS_raise(TPMKMS_R_QUOTE_NONCE,
                     "the quote's nonce (extraData) is %s, not the nonce "
                     "given, %s: a replayed or another verifier's quote",
                     q.extra_len > 0 ? hex(q.extra, q.extra_len, h1,
                                           sizeof(h1)) : "empty",
                     nonce_len > 0 ? hex(nonce, nonce_len, h2, sizeof(h2))
                                   : "empty");
        return TPMKMS_R_QUOTE_NONCE;
    }
    if (!same_selection(&q.pcrs, &pcrs->sel)) {
        TPMKMS_raise(TPMKMS_R_QUOTE_PCR_SELECTION,
                     "the quote covers other PCRs than the PCR file "
                     "holds values for (quote: %zu bank(s), first 0x%04x "
                     "mask 0x%06x; file: %zu bank(s), first 0x%04x mask "
                     "0x%06x)", q.pcrs.count,
                     q.pcrs.count > 0 ? q.pcrs.bank[0].hash : 0,
                     q.pcrs.count > 0 ? (unsigned)q.pcrs.bank[0].mask : 0,
                     pcrs->sel.count,
                     pcrs->sel.count > 0 ? pcrs->sel.bank[0].hash : 0,
                     pcrs->sel.count > 0 ? (unsigned)pcrs->sel.bank[0].mask
                                         : 0);
        return TPMKMS_R_QUOTE_PCR_SELECTION;
    }
    if ((cat = OPENSSL_malloc(pcrs->n * 64 + 1)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "quote: out of memory");
        return TPMKMS_R_INTERNAL;
    }
    for (size_t i = 0; i < pcrs->n; i++) {
        memcpy(cat + off, pcrs->value[i].v, pcrs->value[i].size);
        off += pcrs->value[i].size;
    }
    r = digest_of(libctx, s.hash, cat, off, digest, &dlen);
    OPENSSL_free(cat);
    if (r != TPMKMS_R_OK)
        return r;
    if (q.pcr_digest_len != dlen
        || CRYPTO_memcmp(q.pcr_digest, digest, dlen) != 0) {
        TPMKMS_raise(TPMKMS_R_QUOTE_PCR_DIGEST,
                     "the quote's PCR digest %s is not %s, the %s of the "
                     "PCR values shipped beside it: the PCR file was "
                     "changed, or the PCRs changed before the quote",
                     hex(q.pcr_digest, q.pcr_digest_len, h1, sizeof(h1)),
                     hex(digest, dlen, h2, sizeof(h2)),
                     tpmkms_tpm_hash_name(s.hash));
        return TPMKMS_R_QUOTE_PCR_DIGEST;
    }
    return TPMKMS_R_OK;
}
