/*
 * The TSS2 PRIVATE KEY format (TPMKey, see tss2key.h), DER and PEM.
 *
 * The DER is written and read by hand: the structure is small, and a
 * hand-written reader lets every refusal say exactly what is wrong
 * (policy keys, importable keys, a truncated file) instead of a generic
 * ASN.1 error.  The reader checks every length against what remains
 * before it moves, so any input is safe to feed it.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include "tss2key.h"

#define TAG_BOOLEAN 0x01
#define TAG_INTEGER 0x02
#define TAG_OCTET_STRING 0x04
#define TAG_OID 0x06
#define TAG_UTF8STRING 0x0c
#define TAG_SEQUENCE 0x30
#define TAG_CONTEXT(n) (0xa0 | (n))     /* [n] EXPLICIT, constructed */

/* 2.23.133.10.1.3, .4, .5 as DER OID contents. */
static const unsigned char oid_loadable[] = { 0x67, 0x81, 0x05, 0x0a, 0x01, 0x03 };
static const unsigned char oid_importable[] = { 0x67, 0x81, 0x05, 0x0a, 0x01, 0x04 };
static const unsigned char oid_sealed[] = { 0x67, 0x81, 0x05, 0x0a, 0x01, 0x05 };

/* ---- DER reading ---- */

typedef struct der_cursor_st {
    const unsigned char *p;
    size_t len;
} DER_CURSOR;

/*
 * Takes one TLV off c (single-byte tags only).  On failure *why says
 * what is wrong with the input.
 */
static int der_next(DER_CURSOR *c, unsigned char *tag,
                    DER_CURSOR *content, const char **why)
{
    size_t len, nlen;
    const unsigned char *p = c->p;
    size_t left = c->len;

    if (left < 2) {
        *why = "the DER is truncated";
        return 0;
    }
    *tag = p[0];
    if ((p[0] & 0x1f) == 0x1f) {
        *why = "a DER tag uses the multi-byte form, which TPMKey never has";
        return 0;
    }
    p += 2;
    left -= 2;
    if (c->p[1] < 0x80) {
        len = c->p[1];
    } else if (c->p[1] == 0x80) {
        *why = "a DER length uses the indefinite form";
        return 0;
    } else {
        nlen = c->p[1] & 0x7f;
        if (nlen > 4) {
            *why = "a DER length is too large";
            return 0;
        }
        if (left < nlen) {
            *why = "the DER is truncated inside a length";
            return 0;
        }
        len = 0;
        for (size_t i = 0; i < nlen; i++)
            len = (len << 8) | p[i];
        p += nlen;
        left -= nlen;
    }
    if (len > left) {
        *why = "the DER is truncated (a length exceeds the data)";
        return 0;
    }
    content->p = p;
    content->len = len;
    c->p = p + len;
    c->len = left - len;
    return 1;
}

static int der_peek_tag(const DER_CURSOR *c)
{
    return c->len > 0 ? c->p[0] : -1;
}

/* Renders OID contents in dotted form for messages. */
static void oid_to_text(const DER_CURSOR *oid, char *buf, size_t buflen)
{
    unsigned long long arc = 0;
    size_t used = 0;
    int first = 1;

    snprintf(buf, buflen, "(unprintable)");
    if (oid->len == 0 || (oid->p[oid->len - 1] & 0x80) != 0)
        return;
    for (size_t i = 0; i < oid->len; i++) {
        int n;

        if (arc > (ULLONG_MAX >> 7))
            goto unprintable;
        arc = (arc << 7) | (oid->p[i] & 0x7f);
        if (oid->p[i] & 0x80)
            continue;
        if (first) {
            unsigned long long top = arc < 40 ? 0 : arc < 80 ? 1 : 2;

            n = snprintf(buf + used, buflen - used, "%llu.%llu", top,
                         arc - 40 * top);
            first = 0;
        } else {
            n = snprintf(buf + used, buflen - used, ".%llu", arc);
        }
        if (n < 0 || (size_t)n >= buflen - used)
            goto unprintable;
        used += (size_t)n;
        arc = 0;
    }
    return;

unprintable:
    snprintf(buf, buflen, "(unprintable)");
}

static int oid_is(const DER_CURSOR *oid, const unsigned char *want, size_t len)
{
    return oid->len == len && memcmp(oid->p, want, len) == 0;
}

/* Checks that a TPM2B held in an OCTET STRING carries its own size. */
static int tpm2b_ok(const unsigned char *p, size_t len)
{
    return len >= 2 && (size_t)((p[0] << 8) | p[1]) == len - 2;
}

static tpmkms_rc bad(const char *what)
{
    TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE, "TSS2 PRIVATE KEY: %s", what);
    return TPMKMS_R_BAD_KEY_FILE;
}

/* Reads a [n] EXPLICIT BOOLEAN's content. */
static int read_explicit_bool(DER_CURSOR *content, int *value,
                              const char **why)
{
    unsigned char tag;
    DER_CURSOR b;

    if (!der_next(content, &tag, &b, why))
        return 0;
    if (tag != TAG_BOOLEAN || b.len != 1 || content->len != 0) {
        *why = "a tagged field is not a single BOOLEAN";
        return 0;
    }
    *value = b.p[0] != 0;
    return 1;
}

tpmkms_rc tpmkms_tss2key_from_der(const unsigned char *der, size_t der_len,
                                  TPMKMS_KEYBLOB *blob)
{
    DER_CURSOR all = { der, der_len }, seq, f;
    const char *why = NULL;
    unsigned char tag;
    int last_ctx = -1;
    int empty_auth = 0;
    uint32_t parent = 0;
    DER_CURSOR pub, priv;
    char oidtext[96];

    memset(blob, 0, sizeof(*blob));
    if (der == NULL || der_len == 0)
        return bad("the key file is empty");
    if (!der_next(&all, &tag, &seq, &why))
        return bad(why);
    if (tag != TAG_SEQUENCE)
        return bad("not a TPMKey (expected a SEQUENCE)");
    if (all.len != 0) {
        TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE,
                     "TSS2 PRIVATE KEY: %zu bytes of trailing data after the key",
                     all.len);
        return TPMKMS_R_BAD_KEY_FILE;
    }

    /* type */
    if (!der_next(&seq, &tag, &f, &why))
        return bad(why);
    if (tag != TAG_OID)
        return bad("the key type OID is missing");
    if (!oid_is(&f, oid_loadable, sizeof(oid_loadable))) {
        if (oid_is(&f, oid_importable, sizeof(oid_importable)))
            return bad("importable keys (OID 2.23.133.10.1.4) are not "
                       "supported; only loadable keys (2.23.133.10.1.3)");
        if (oid_is(&f, oid_sealed, sizeof(oid_sealed)))
            return bad("sealed data (OID 2.23.133.10.1.5) is not a key; "
                       "only loadable keys (2.23.133.10.1.3) are supported");
        oid_to_text(&f, oidtext, sizeof(oidtext));
        TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE,
                     "TSS2 PRIVATE KEY: unknown key type OID %s (only "
                     "loadable keys, 2.23.133.10.1.3, are supported)",
                     oidtext);
        return TPMKMS_R_BAD_KEY_FILE;
    }

    /* The optional [n] EXPLICIT fields, in increasing order. */
    while (der_peek_tag(&seq) >= TAG_CONTEXT(0)
           && der_peek_tag(&seq) <= TAG_CONTEXT(0x1e)) {
        int n = der_peek_tag(&seq) & 0x1f;
        int value = 0;

        if (n <= last_ctx)
            return bad("tagged fields are repeated or out of order");
        last_ctx = n;
        if (!der_next(&seq, &tag, &f, &why))
            return bad(why);
        switch (n) {
        case 0:
            if (!read_explicit_bool(&f, &value, &why))
                return bad(why);
            empty_auth = value;
            break;
        case 1:
            return bad("policy keys are not supported (the key has a "
                       "policy [1])");
        case 2:
            return bad("policy keys are not supported (the key has a "
                       "secret [2])");
        case 3:
            return bad("policy keys are not supported (the key has an "
                       "authPolicy [3])");
        case 4: {
            /* description: informational, checked and ignored */
            DER_CURSOR d;

            if (!der_next(&f, &tag, &d, &why))
                return bad(why);
            if (tag != TAG_UTF8STRING || f.len != 0)
                return bad("description [4] is not a UTF8String");
            break;
        }
        case 5:
            if (!read_explicit_bool(&f, &value, &why))
                return bad(why);
            if (value)
                return bad("keys under an RSA parent (rsaParent [5]) are "
                           "not supported");
            break;
        default:
            TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE,
                         "TSS2 PRIVATE KEY: unknown field [%d]", n);
            return TPMKMS_R_BAD_KEY_FILE;
        }
    }

    /* parent */
    if (!der_next(&seq, &tag, &f, &why))
        return bad(why);
    if (tag != TAG_INTEGER)
        return bad("the parent INTEGER is missing");
    if (f.len == 0)
        return bad("the parent INTEGER is empty");
    if (f.p[0] & 0x80)
        return bad("the parent handle is negative");
    while (f.len > 1 && f.p[0] == 0) {
        f.p++;
        f.len--;
    }
    if (f.len > 4)
        return bad("the parent handle does not fit in 32 bits");
    for (size_t i = 0; i < f.len; i++)
        parent = (parent << 8) | f.p[i];

    /* pubkey */
    if (!der_next(&seq, &tag, &pub, &why))
        return bad(why);
    if (tag != TAG_OCTET_STRING)
        return bad("the pubkey OCTET STRING is missing");
    if (!tpm2b_ok(pub.p, pub.len))
        return bad("pubkey is not a marshalled TPM2B_PUBLIC (its size "
                   "prefix does not match its length)");

    /* privkey */
    if (!der_next(&seq, &tag, &priv, &why))
        return bad(why);
    if (tag != TAG_OCTET_STRING)
        return bad("the privkey OCTET STRING is missing");
    if (!tpm2b_ok(priv.p, priv.len))
        return bad("privkey is not a marshalled TPM2B_PRIVATE (its size "
                   "prefix does not match its length)");
    if (seq.len != 0)
        return bad("unexpected data after privkey");

    blob->pub = OPENSSL_memdup(pub.p, pub.len);
    blob->priv = OPENSSL_memdup(priv.p, priv.len);
    if (blob->pub == NULL || blob->priv == NULL) {
        tpmkms_keyblob_clear(blob);
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory decoding a key file");
        return TPMKMS_R_INTERNAL;
    }
    blob->pub_len = pub.len;
    blob->priv_len = priv.len;
    blob->parent = parent;
    blob->empty_auth = empty_auth;
    return TPMKMS_R_OK;
}

/* ---- DER writing ---- */

static size_t der_hdr_size(size_t len)
{
    if (len < 0x80)
        return 2;
    if (len <= 0xff)
        return 3;
    if (len <= 0xffff)
        return 4;
    if (len <= 0xffffff)
        return 5;
    return 6;
}

static unsigned char *der_put_hdr(unsigned char *p, unsigned char tag,
                                  size_t len)
{
    size_t n = der_hdr_size(len) - 2;

    *p++ = tag;
    if (n == 0) {
        *p++ = (unsigned char)len;
        return p;
    }
    *p++ = (unsigned char)(0x80 | n);
    for (size_t i = n; i > 0; i--)
        *p++ = (unsigned char)(len >> (8 * (i - 1)));
    return p;
}

tpmkms_rc tpmkms_tss2key_to_der(const TPMKMS_KEYBLOB *blob,
                                unsigned char **der, size_t *der_len)
{
    unsigned char parent[5];
    size_t parent_len = 0, content, total;
    unsigned char *buf, *p;

    *der = NULL;
    *der_len = 0;
    if (blob->pub == NULL || !tpm2b_ok(blob->pub, blob->pub_len)
            || blob->priv == NULL || !tpm2b_ok(blob->priv, blob->priv_len)) {
        TPMKMS_raise(TPMKMS_R_INTERNAL,
                     "cannot encode a key blob whose public or private part "
                     "is not a sized TPM2B");
        return TPMKMS_R_INTERNAL;
    }

    /* The parent as a minimal positive INTEGER. */
    for (int shift = 24; shift >= 0; shift -= 8) {
        unsigned char b = (unsigned char)(blob->parent >> shift);

        if (parent_len == 0 && b == 0 && shift != 0)
            continue;
        if (parent_len == 0 && (b & 0x80))
            parent[parent_len++] = 0x00;
        parent[parent_len++] = b;
    }

    content = 2 + sizeof(oid_loadable)
              + 5
              + 2 + parent_len
              + der_hdr_size(blob->pub_len) + blob->pub_len
              + der_hdr_size(blob->priv_len) + blob->priv_len;
    total = der_hdr_size(content) + content;
    buf = OPENSSL_malloc(total);
    if (buf == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory encoding a key file");
        return TPMKMS_R_INTERNAL;
    }
    p = der_put_hdr(buf, TAG_SEQUENCE, content);
    p = der_put_hdr(p, TAG_OID, sizeof(oid_loadable));
    memcpy(p, oid_loadable, sizeof(oid_loadable));
    p += sizeof(oid_loadable);
    /*
     * emptyAuth always, FALSE too: tpm2-openssl 1.1 reads an absent
     * emptyAuth as TRUE and would never ask for the key's auth value.
     */
    p = der_put_hdr(p, TAG_CONTEXT(0), 3);
    p = der_put_hdr(p, TAG_BOOLEAN, 1);
    *p++ = blob->empty_auth ? 0xff : 0x00;
    p = der_put_hdr(p, TAG_INTEGER, parent_len);
    memcpy(p, parent, parent_len);
    p += parent_len;
    p = der_put_hdr(p, TAG_OCTET_STRING, blob->pub_len);
    memcpy(p, blob->pub, blob->pub_len);
    p += blob->pub_len;
    p = der_put_hdr(p, TAG_OCTET_STRING, blob->priv_len);
    memcpy(p, blob->priv, blob->priv_len);
    p += blob->priv_len;
    if ((size_t)(p - buf) != total) {
        OPENSSL_free(buf);
        TPMKMS_raise(TPMKMS_R_INTERNAL, "key file encoding length mismatch");
        return TPMKMS_R_INTERNAL;
    }
    *der = buf;
    *der_len = total;
    return TPMKMS_R_OK;
}

/* ---- PEM ---- */

tpmkms_rc tpmkms_tss2key_to_pem(const TPMKMS_KEYBLOB *blob, char **pem)
{
    unsigned char *der = NULL;
    size_t der_len = 0;
    BIO *bio = NULL;
    char *data, *out;
    long n;
    tpmkms_rc rc;

    *pem = NULL;
    rc = tpmkms_tss2key_to_der(blob, &der, &der_len);
    if (rc != TPMKMS_R_OK)
        return rc;
    rc = TPMKMS_R_INTERNAL;
    if (der_len > INT_MAX) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "key file too large to encode");
        goto out;
    }
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL
            || PEM_write_bio(bio, TPMKMS_TSS2_PEM_LABEL, "", der,
                             (long)der_len) <= 0
            || (n = BIO_get_mem_data(bio, &data)) <= 0) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot write the %s PEM block",
                     TPMKMS_TSS2_PEM_LABEL);
        goto out;
    }
    out = OPENSSL_malloc((size_t)n + 1);
    if (out == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory encoding a key file");
        goto out;
    }
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    *pem = out;
    rc = TPMKMS_R_OK;

out:
    BIO_free(bio);
    OPENSSL_free(der);
    return rc;
}

static const char *find_bytes(const char *hay, size_t haylen,
                              const char *needle, size_t nlen)
{
    if (nlen == 0 || haylen < nlen)
        return NULL;
    for (size_t i = 0; i + nlen <= haylen; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, nlen) == 0)
            return hay + i;
    return NULL;
}

tpmkms_rc tpmkms_tss2key_from_pem(const char *text, size_t len,
                                  TPMKMS_KEYBLOB *blob)
{
    static const char begin[] = "-----BEGIN " TPMKMS_TSS2_PEM_LABEL "-----";
    const char *start;
    BIO *bio = NULL;
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long dlen = 0;
    size_t left;
    tpmkms_rc rc;

    memset(blob, 0, sizeof(*blob));
    start = text == NULL ? NULL : find_bytes(text, len, begin, sizeof(begin) - 1);
    if (start == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE, "no %s PEM block found",
                     TPMKMS_TSS2_PEM_LABEL);
        return TPMKMS_R_BAD_KEY_FILE;
    }
    left = len - (size_t)(start - text);
    if (left > INT_MAX) {
        TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE, "the %s PEM text is too large",
                     TPMKMS_TSS2_PEM_LABEL);
        return TPMKMS_R_BAD_KEY_FILE;
    }
    bio = BIO_new_mem_buf(start, (int)left);
    if (bio == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory reading a key file");
        return TPMKMS_R_INTERNAL;
    }
    /* libcrypto's own PEM errors would only repeat ours. */
    ERR_set_mark();
    if (PEM_read_bio(bio, &name, &header, &data, &dlen) <= 0) {
        ERR_pop_to_mark();
        BIO_free(bio);
        TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE,
                     "the %s PEM block is malformed (bad base64 or no END line)",
                     TPMKMS_TSS2_PEM_LABEL);
        return TPMKMS_R_BAD_KEY_FILE;
    }
    ERR_clear_last_mark();
    BIO_free(bio);
    if (strcmp(name, TPMKMS_TSS2_PEM_LABEL) != 0) {
        TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE, "unexpected PEM label '%.40s'",
                     name);
        rc = TPMKMS_R_BAD_KEY_FILE;
    } else if (header != NULL && header[0] != '\0') {
        TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE,
                     "the %s PEM block has headers (encrypted PEM is not "
                     "supported)", TPMKMS_TSS2_PEM_LABEL);
        rc = TPMKMS_R_BAD_KEY_FILE;
    } else {
        rc = tpmkms_tss2key_from_der(data, (size_t)dlen, blob);
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    return rc;
}

/* ---- blobs ---- */

tpmkms_rc tpmkms_keyblob_copy(TPMKMS_KEYBLOB *dst, const TPMKMS_KEYBLOB *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->parent = src->parent;
    dst->empty_auth = src->empty_auth;
    if (src->pub != NULL) {
        dst->pub = OPENSSL_memdup(src->pub, src->pub_len);
        if (dst->pub == NULL)
            goto err;
        dst->pub_len = src->pub_len;
    }
    if (src->priv != NULL) {
        dst->priv = OPENSSL_memdup(src->priv, src->priv_len);
        if (dst->priv == NULL)
            goto err;
        dst->priv_len = src->priv_len;
    }
    return TPMKMS_R_OK;

err:
    tpmkms_keyblob_clear(dst);
    TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory copying a key blob");
    return TPMKMS_R_INTERNAL;
}

void tpmkms_keyblob_clear(TPMKMS_KEYBLOB *blob)
{
    if (blob == NULL)
        return;
    OPENSSL_free(blob->pub);
    OPENSSL_clear_free(blob->priv, blob->priv_len);
    memset(blob, 0, sizeof(*blob));
}
