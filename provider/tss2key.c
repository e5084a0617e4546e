/*
 * The TSS2 PRIVATE KEY format (TPMKey, see tss2key.h), DER and PEM.
 *
 * libcrypto's ASN.1 templates read and write the DER (TSS2_TPMKEY below).
 * Around them, this file adds what templates do not say:
 *  - the checks on values (key type, policy, parent, TPM2B sizes), each
 *    with a message that says what is wrong;
 *  - when libcrypto refuses a key, tpmkey_walk() walks it with libcrypto's
 *    header reader to name the element that is wrong, so a truncated file
 *    or a policy key is said as such, not as a generic ASN.1 error;
 *  - libcrypto also reads BER.  A key it reads but would encode otherwise
 *    goes through tpmkey_walk() too, which keeps what key files have always
 *    been allowed (long-form lengths) and refuses the rest (indefinite
 *    lengths, constructed strings, multi-byte tags).
 */
#include <limits.h>
#include <string.h>
#include <openssl/asn1t.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include "tss2key.h"

#define TSS2_OID_IMPORTABLE "2.23.133.10.1.4"
#define TSS2_OID_SEALED "2.23.133.10.1.5"

/* ---- TPMKey as libcrypto templates ---- */

typedef struct tss2_tpmkey_st {
    ASN1_OBJECT *type;
    ASN1_BOOLEAN emptyAuth;             /* -1: absent */
    STACK_OF(ASN1_TYPE) *policy;        /* refused */
    ASN1_OCTET_STRING *secret;          /* refused (importable keys) */
    STACK_OF(ASN1_TYPE) *authPolicy;    /* refused */
    ASN1_UTF8STRING *description;       /* informational, ignored */
    ASN1_BOOLEAN rsaParent;             /* -1: absent; TRUE refused */
    ASN1_STRING *parent;                /* the INTEGER's content octets */
    ASN1_OCTET_STRING *pubkey;          /* marshalled TPM2B_PUBLIC */
    ASN1_OCTET_STRING *privkey;         /* marshalled TPM2B_PRIVATE */
} TSS2_TPMKEY;

/*
 * parent is an INTEGER read as its raw content octets (an OCTET STRING
 * under INTEGER's universal tag): libcrypto's ASN1_INTEGER refuses a
 * non-minimal INTEGER, which key files have always been allowed to carry,
 * and tpmkey_parent() below says what is wrong with a parent.
 */
ASN1_SEQUENCE(TSS2_TPMKEY) = {
    ASN1_SIMPLE(TSS2_TPMKEY, type, ASN1_OBJECT),
    ASN1_EXP_OPT(TSS2_TPMKEY, emptyAuth, ASN1_BOOLEAN, 0),
    ASN1_EXP_SEQUENCE_OF_OPT(TSS2_TPMKEY, policy, ASN1_ANY, 1),
    ASN1_EXP_OPT(TSS2_TPMKEY, secret, ASN1_OCTET_STRING, 2),
    ASN1_EXP_SEQUENCE_OF_OPT(TSS2_TPMKEY, authPolicy, ASN1_ANY, 3),
    ASN1_EXP_OPT(TSS2_TPMKEY, description, ASN1_UTF8STRING, 4),
    ASN1_EXP_OPT(TSS2_TPMKEY, rsaParent, ASN1_BOOLEAN, 5),
    ASN1_EX_TYPE(ASN1_TFLG_IMPTAG | ASN1_TFLG_UNIVERSAL, V_ASN1_INTEGER,
                 TSS2_TPMKEY, parent, ASN1_OCTET_STRING),
    ASN1_SIMPLE(TSS2_TPMKEY, pubkey, ASN1_OCTET_STRING),
    ASN1_SIMPLE(TSS2_TPMKEY, privkey, ASN1_OCTET_STRING)
} static_ASN1_SEQUENCE_END(TSS2_TPMKEY)

/* Frees key, cleansing the private part first. */
static void tpmkey_free(TSS2_TPMKEY *key)
{
    if (key == NULL)
        return;
    ASN1_STRING_clear_free(key->privkey);
    key->privkey = NULL;
    ASN1_item_free((ASN1_VALUE *)key, ASN1_ITEM_rptr(TSS2_TPMKEY));
}

/* ---- checks on values, shared by the reader and tpmkey_walk ---- */

static tpmkms_rc bad(const char *what)
{
    TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE, "TSS2 PRIVATE KEY: %s", what);
    return TPMKMS_R_BAD_KEY_FILE;
}

static tpmkms_rc bad_trailing(size_t n)
{
    TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE,
                 "TSS2 PRIVATE KEY: %zu bytes of trailing data after the key", n);
    return TPMKMS_R_BAD_KEY_FILE;
}

/* Only loadable keys. */
static tpmkms_rc tpmkey_check_type(const ASN1_OBJECT *type)
{
    char oid[96];
    int n;

    ERR_set_mark();
    n = OBJ_obj2txt(oid, sizeof(oid), type, 1);
    ERR_pop_to_mark();
    if (n <= 0 || n >= (int)sizeof(oid))
        strcpy(oid, "(unprintable)");
    if (strcmp(oid, TPMKMS_TSS2_OID_LOADABLE) == 0)
        return TPMKMS_R_OK;
    if (strcmp(oid, TSS2_OID_IMPORTABLE) == 0)
        return bad("importable keys (OID 2.23.133.10.1.4) are not "
                   "supported; only loadable keys (2.23.133.10.1.3)");
    if (strcmp(oid, TSS2_OID_SEALED) == 0)
        return bad("sealed data (OID 2.23.133.10.1.5) is not a key; "
                   "only loadable keys (2.23.133.10.1.3) are supported");
    TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE,
                 "TSS2 PRIVATE KEY: unknown key type OID %s (only "
                 "loadable keys, 2.23.133.10.1.3, are supported)", oid);
    return TPMKMS_R_BAD_KEY_FILE;
}

/* The refusal of tagged field [n]: present (1-3, 6-30) or TRUE (5). */
static tpmkms_rc tpmkey_refuse_field(int n)
{
    switch (n) {
    case 1:
        return bad("policy keys are not supported (the key has a "
                   "policy [1])");
    case 2:
        return bad("policy keys are not supported (the key has a "
                   "secret [2])");
    case 3:
        return bad("policy keys are not supported (the key has an "
                   "authPolicy [3])");
    case 5:
        return bad("keys under an RSA parent (rsaParent [5]) are "
                   "not supported");
    default:
        TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE,
                     "TSS2 PRIVATE KEY: unknown field [%d]", n);
        return TPMKMS_R_BAD_KEY_FILE;
    }
}

/* The parent handle from its INTEGER content: non-negative, 32 bits. */
static tpmkms_rc tpmkey_parent(const unsigned char *c, size_t len,
                               uint32_t *parent)
{
    *parent = 0;
    if (len == 0)
        return bad("the parent INTEGER is empty");
    if (c[0] & 0x80)
        return bad("the parent handle is negative");
    while (len > 1 && c[0] == 0) {
        c++;
        len--;
    }
    if (len > 4)
        return bad("the parent handle does not fit in 32 bits");
    for (; len > 0; c++, len--)
        *parent = (*parent << 8) | *c;
    return TPMKMS_R_OK;
}

/* Checks that a TPM2B held in an OCTET STRING carries its own size. */
static int tpm2b_ok(const unsigned char *p, size_t len)
{
    return len >= 2 && (size_t)((p[0] << 8) | p[1]) == len - 2;
}

/* field is "pubkey" (a TPM2B_PUBLIC) or "privkey" (a TPM2B_PRIVATE). */
static tpmkms_rc tpmkey_check_tpm2b(const char *field, const char *tpm2b,
                                    const unsigned char *p, size_t len)
{
    if (tpm2b_ok(p, len))
        return TPMKMS_R_OK;
    TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE,
                 "TSS2 PRIVATE KEY: %s is not a marshalled %s (its size "
                 "prefix does not match its length)", field, tpm2b);
    return TPMKMS_R_BAD_KEY_FILE;
}

/* ---- TPMKey element by element, for what templates cannot say ---- */

/* One element as libcrypto's header reader sees it. */
typedef struct der_elem_st {
    const unsigned char *content;
    long len;                           /* of the content */
    int tag, cls, cons;
} DER_ELEM;

/*
 * Takes the element at *p off [*p, end) and moves *p past it; returns
 * NULL, or what is wrong.  Forms that libcrypto's BER reader takes but
 * DER never has (TPMKey's tags are all single-byte, its lengths fit in
 * four bytes) are named before the header is read.
 */
static const char *der_next(const unsigned char **p, const unsigned char *end,
                            DER_ELEM *e)
{
    const unsigned char *q = *p;
    int ret;

    if (end - *p < 2)
        return "the DER is truncated";
    if (((*p)[0] & V_ASN1_PRIMITIVE_TAG) == V_ASN1_PRIMITIVE_TAG)
        return "a DER tag uses the multi-byte form, which TPMKey never has";
    if ((*p)[1] == 0x80)
        return "a DER length uses the indefinite form";
    if ((*p)[1] > 0x84)
        return "a DER length is too large";
    ERR_set_mark();
    ret = ASN1_get_object(&q, &e->len, &e->tag, &e->cls, (long)(end - *p));
    ERR_pop_to_mark();
    /* A header error: the length's octets, or one content byte, missing. */
    if (ret == 0x80 && q == *p && end - *p < 2 + ((*p)[1] & 0x7f))
        return "the DER is truncated inside a length";
    if (ret & 0x80)
        return "the DER is truncated (a length exceeds the data)";
    e->content = q;
    e->cons = (ret & V_ASN1_CONSTRUCTED) != 0;
    *p = q + e->len;
    return NULL;
}

static int der_is(const DER_ELEM *e, int cls, int tag, int cons)
{
    return e->cls == cls && e->tag == tag && e->cons == cons;
}

/* The content of e is exactly one primitive universal element of tag. */
static int der_holds_one(const DER_ELEM *e, int tag, DER_ELEM *inner,
                         const char **why)
{
    const unsigned char *p = e->content, *end = e->content + e->len;

    *why = der_next(&p, end, inner);
    return *why == NULL && p == end
           && der_is(inner, V_ASN1_UNIVERSAL, tag, 0);
}

/* Tagged field [n] of a TPMKey, as the reader before templates took it. */
static tpmkms_rc tpmkey_walk_field(const DER_ELEM *e)
{
    const char *why;
    DER_ELEM v;

    switch (e->tag) {
    case 0:
    case 5:
        if (!der_holds_one(e, V_ASN1_BOOLEAN, &v, &why) || v.len != 1)
            return bad(why != NULL ? why
                       : "a tagged field is not a single BOOLEAN");
        return e->tag == 5 && v.content[0] != 0 ? tpmkey_refuse_field(5)
                                                : TPMKMS_R_OK;
    case 4:
        if (!der_holds_one(e, V_ASN1_UTF8STRING, &v, &why))
            return bad(why != NULL ? why
                       : "description [4] is not a UTF8String");
        return TPMKMS_R_OK;
    default:
        return tpmkey_refuse_field(e->tag);
    }
}

/*
 * The reader's rules, element by element with ASN1_get_object: raises
 * TPMKMS_R_BAD_KEY_FILE for the first element out of place, or returns
 * TPMKMS_R_OK.  It says why libcrypto refused a key, and judges a key that
 * libcrypto read as BER.
 */
static tpmkms_rc tpmkey_walk(const unsigned char *der, size_t der_len)
{
    const unsigned char *p = der, *end = der + der_len;
    const char *why;
    ASN1_OBJECT *type;
    uint32_t parent;
    int last = -1;
    DER_ELEM e;
    tpmkms_rc rc;

    if ((why = der_next(&p, end, &e)) != NULL)
        return bad(why);
    if (!der_is(&e, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE, 1))
        return bad("not a TPMKey (expected a SEQUENCE)");
    if (p != end)
        return bad_trailing((size_t)(end - p));
    p = e.content;

    if ((why = der_next(&p, end, &e)) != NULL)
        return bad(why);
    if (!der_is(&e, V_ASN1_UNIVERSAL, V_ASN1_OBJECT, 0))
        return bad("the key type OID is missing");
    /*
     * Not decoded, so that an OID libcrypto refuses is still named.  Past
     * 255 octets it prints too long for a message anyway: "(unprintable)".
     */
    type = ASN1_OBJECT_create(NID_undef, (unsigned char *)e.content,
                              e.len <= 255 ? (int)e.len : 0, NULL, NULL);
    if (type == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory decoding a key file");
        return TPMKMS_R_INTERNAL;
    }
    rc = tpmkey_check_type(type);
    ASN1_OBJECT_free(type);
    if (rc != TPMKMS_R_OK)
        return rc;

    /* The optional [n] EXPLICIT fields (constructed, single-byte tags),
     * in increasing order. */
    while (p < end
           && (*p & (V_ASN1_PRIVATE | V_ASN1_CONSTRUCTED))
              == (V_ASN1_CONTEXT_SPECIFIC | V_ASN1_CONSTRUCTED)
           && (*p & V_ASN1_PRIMITIVE_TAG) != V_ASN1_PRIMITIVE_TAG) {
        if ((*p & V_ASN1_PRIMITIVE_TAG) <= last)
            return bad("tagged fields are repeated or out of order");
        last = *p & V_ASN1_PRIMITIVE_TAG;
        if ((why = der_next(&p, end, &e)) != NULL)
            return bad(why);
        if ((rc = tpmkey_walk_field(&e)) != TPMKMS_R_OK)
            return rc;
    }

    if ((why = der_next(&p, end, &e)) != NULL)
        return bad(why);
    if (!der_is(&e, V_ASN1_UNIVERSAL, V_ASN1_INTEGER, 0))
        return bad("the parent INTEGER is missing");
    if ((rc = tpmkey_parent(e.content, (size_t)e.len, &parent)) != TPMKMS_R_OK)
        return rc;
    if ((why = der_next(&p, end, &e)) != NULL)
        return bad(why);
    if (!der_is(&e, V_ASN1_UNIVERSAL, V_ASN1_OCTET_STRING, 0))
        return bad("the pubkey OCTET STRING is missing");
    rc = tpmkey_check_tpm2b("pubkey", "TPM2B_PUBLIC", e.content, (size_t)e.len);
    if (rc != TPMKMS_R_OK)
        return rc;
    if ((why = der_next(&p, end, &e)) != NULL)
        return bad(why);
    if (!der_is(&e, V_ASN1_UNIVERSAL, V_ASN1_OCTET_STRING, 0))
        return bad("the privkey OCTET STRING is missing");
    rc = tpmkey_check_tpm2b("privkey", "TPM2B_PRIVATE", e.content, (size_t)e.len);
    if (rc != TPMKMS_R_OK)
        return rc;
    if (p != end)
        return bad("unexpected data after privkey");
    return TPMKMS_R_OK;
}

/* ---- DER ---- */

/* Whether key encodes back to exactly der: DER has one encoding. */
static int tpmkey_is_der(const TSS2_TPMKEY *key, const unsigned char *der,
                         size_t der_len)
{
    unsigned char *again = NULL;
    int n, same;

    ERR_set_mark();
    n = ASN1_item_i2d((const ASN1_VALUE *)key, &again,
                      ASN1_ITEM_rptr(TSS2_TPMKEY));
    ERR_pop_to_mark();
    same = n > 0 && (size_t)n == der_len && memcmp(again, der, der_len) == 0;
    OPENSSL_clear_free(again, n > 0 ? (size_t)n : 0);
    return same;
}

/* The checks templates do not make, in the order of the fields. */
static tpmkms_rc tpmkey_to_blob(const TSS2_TPMKEY *key, TPMKMS_KEYBLOB *blob)
{
    const unsigned char *pub = ASN1_STRING_get0_data(key->pubkey);
    const unsigned char *priv = ASN1_STRING_get0_data(key->privkey);
    size_t pub_len = (size_t)ASN1_STRING_length(key->pubkey);
    size_t priv_len = (size_t)ASN1_STRING_length(key->privkey);
    uint32_t parent;
    tpmkms_rc rc;

    if ((rc = tpmkey_check_type(key->type)) != TPMKMS_R_OK)
        return rc;
    if (key->policy != NULL)
        return tpmkey_refuse_field(1);
    if (key->secret != NULL)
        return tpmkey_refuse_field(2);
    if (key->authPolicy != NULL)
        return tpmkey_refuse_field(3);
    if (key->rsaParent > 0)
        return tpmkey_refuse_field(5);
    rc = tpmkey_parent(ASN1_STRING_get0_data(key->parent),
                       (size_t)ASN1_STRING_length(key->parent), &parent);
    if (rc != TPMKMS_R_OK
            || (rc = tpmkey_check_tpm2b("pubkey", "TPM2B_PUBLIC", pub,
                                        pub_len)) != TPMKMS_R_OK
            || (rc = tpmkey_check_tpm2b("privkey", "TPM2B_PRIVATE", priv,
                                        priv_len)) != TPMKMS_R_OK)
        return rc;

    blob->pub = OPENSSL_memdup(pub, pub_len);
    blob->priv = OPENSSL_memdup(priv, priv_len);
    if (blob->pub == NULL || blob->priv == NULL) {
        tpmkms_keyblob_clear(blob);
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory decoding a key file");
        return TPMKMS_R_INTERNAL;
    }
    blob->pub_len = pub_len;
    blob->priv_len = priv_len;
    blob->parent = parent;
    blob->empty_auth = key->emptyAuth > 0;   /* absent: no */
    return TPMKMS_R_OK;
}

tpmkms_rc tpmkms_tss2key_from_der(const unsigned char *der, size_t der_len,
                                  TPMKMS_KEYBLOB *blob)
{
    const unsigned char *p = der;
    TSS2_TPMKEY *key;
    tpmkms_rc rc;

    memset(blob, 0, sizeof(*blob));
    if (der == NULL || der_len == 0)
        return bad("the key file is empty");
    /* libcrypto's ASN.1 errors would only be less precise than ours. */
    ERR_set_mark();
    key = (TSS2_TPMKEY *)ASN1_item_d2i(NULL, &p,
                                       der_len > LONG_MAX ? LONG_MAX : (long)der_len,
                                       ASN1_ITEM_rptr(TSS2_TPMKEY));
    ERR_pop_to_mark();
    if (key == NULL) {
        rc = tpmkey_walk(der, der_len);
        return rc != TPMKMS_R_OK ? rc
               : bad("the key file is not a well-formed TPMKey");
    }
    if (p != der + der_len)
        rc = bad_trailing((size_t)(der + der_len - p));
    else if (tpmkey_is_der(key, der, der_len)
               || (rc = tpmkey_walk(der, der_len)) == TPMKMS_R_OK)
        rc = tpmkey_to_blob(key, blob);
    tpmkey_free(key);
    return rc;
}

/* parent as INTEGER content octets: minimal, positive (as libcrypto
 * writes an ASN1_INTEGER; its i2c is not public). */
static int tpmkey_set_parent(ASN1_STRING *raw, uint32_t parent)
{
    unsigned char buf[5];
    int len = 0;

    for (int shift = 24; shift >= 0; shift -= 8) {
        unsigned char b = (unsigned char)(parent >> shift);

        if (len == 0 && b == 0 && shift != 0)
            continue;
        if (len == 0 && (b & 0x80))
            buf[len++] = 0x00;
        buf[len++] = b;
    }
    return ASN1_STRING_set(raw, buf, len);
}

tpmkms_rc tpmkms_tss2key_to_der(const TPMKMS_KEYBLOB *blob,
                                unsigned char **der, size_t *der_len)
{
    TSS2_TPMKEY *key;
    unsigned char *out = NULL;
    int n = 0;

    *der = NULL;
    *der_len = 0;
    if (blob->pub == NULL || !tpm2b_ok(blob->pub, blob->pub_len)
            || blob->priv == NULL || !tpm2b_ok(blob->priv, blob->priv_len)) {
        TPMKMS_raise(TPMKMS_R_INTERNAL,
                     "cannot encode a key blob whose public or private part "
                     "is not a sized TPM2B");
        return TPMKMS_R_INTERNAL;
    }
    key = (TSS2_TPMKEY *)ASN1_item_new(ASN1_ITEM_rptr(TSS2_TPMKEY));
    if (key != NULL) {
        ASN1_OBJECT_free(key->type);
        key->type = OBJ_txt2obj(TPMKMS_TSS2_OID_LOADABLE, 1);
        /*
         * emptyAuth always, FALSE too: tpm2-openssl 1.1 reads an absent
         * emptyAuth as TRUE and would never ask for the key's auth value.
         */
        key->emptyAuth = blob->empty_auth ? 0xff : 0x00;
    }
    /* A TPM2B is at most 2 + 0xffff bytes, so the lengths fit an int. */
    if (key != NULL && key->type != NULL
            && tpmkey_set_parent(key->parent, blob->parent)
            && ASN1_OCTET_STRING_set(key->pubkey, blob->pub, (int)blob->pub_len)
            && ASN1_OCTET_STRING_set(key->privkey, blob->priv,
                                     (int)blob->priv_len))
        n = ASN1_item_i2d((const ASN1_VALUE *)key, &out,
                          ASN1_ITEM_rptr(TSS2_TPMKEY));
    tpmkey_free(key);
    if (n <= 0) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory encoding a key file");
        return TPMKMS_R_INTERNAL;
    }
    *der = out;
    *der_len = (size_t)n;
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

void tpmkms_keyblob_clear(TPMKMS_KEYBLOB *blob)
{
    if (blob == NULL)
        return;
    OPENSSL_free(blob->pub);
    OPENSSL_clear_free(blob->priv, blob->priv_len);
    memset(blob, 0, sizeof(*blob));
}
