/*
 * The TSS2 PRIVATE KEY format: exact DER, agreement with an independent
 * ASN.1 template definition and with `openssl asn1parse`, the refusals,
 * and that no truncation or bit flip of a valid key can crash the reader.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/asn1t.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/sha.h>
#include "tss2key.h"
#include "test_util.h"

/* ---- an independent definition of TPMKey with libcrypto's templates ---- */

typedef struct {
    ASN1_OBJECT *type;
    ASN1_BOOLEAN emptyAuth;
    ASN1_INTEGER *parent;
    ASN1_OCTET_STRING *pubkey;
    ASN1_OCTET_STRING *privkey;
} REF_TPMKEY;

DECLARE_ASN1_FUNCTIONS(REF_TPMKEY)

ASN1_SEQUENCE(REF_TPMKEY) = {
    ASN1_SIMPLE(REF_TPMKEY, type, ASN1_OBJECT),
    ASN1_EXP_OPT(REF_TPMKEY, emptyAuth, ASN1_BOOLEAN, 0),  /* as tpm2-openssl */
    ASN1_SIMPLE(REF_TPMKEY, parent, ASN1_INTEGER),
    ASN1_SIMPLE(REF_TPMKEY, pubkey, ASN1_OCTET_STRING),
    ASN1_SIMPLE(REF_TPMKEY, privkey, ASN1_OCTET_STRING)
} ASN1_SEQUENCE_END(REF_TPMKEY)

IMPLEMENT_ASN1_FUNCTIONS(REF_TPMKEY)

/* ---- helpers ---- */

static int setup(void **state)
{
    (void)state;
    ERR_clear_error();
    return 0;
}

static unsigned char small_pub[] = { 0x00, 0x02, 0xaa, 0xbb };
static unsigned char small_priv[] = { 0x00, 0x01, 0xcc };

static TPMKMS_KEYBLOB small_blob(uint32_t parent, int empty_auth)
{
    TPMKMS_KEYBLOB b;

    b.parent = parent;
    b.empty_auth = empty_auth;
    b.pub = small_pub;
    b.pub_len = sizeof(small_pub);
    b.priv = small_priv;
    b.priv_len = sizeof(small_priv);
    return b;
}

/* A blob shaped like a real one: TPM2B_PUBLIC ~ 90, TPM2B_PRIVATE ~ 126,
 * plus a big one so that 0x82 lengths occur. */
static TPMKMS_KEYBLOB sized_blob(size_t pub_len, size_t priv_len)
{
    TPMKMS_KEYBLOB b = { 0 };

    b.parent = TPMKMS_SRK_HANDLE;
    b.empty_auth = 1;
    b.pub_len = pub_len;
    b.priv_len = priv_len;
    b.pub = OPENSSL_malloc(pub_len);
    b.priv = OPENSSL_malloc(priv_len);
    assert_non_null(b.pub);
    assert_non_null(b.priv);
    for (size_t i = 0; i < pub_len; i++)
        b.pub[i] = (unsigned char)(i * 7 + 1);
    for (size_t i = 0; i < priv_len; i++)
        b.priv[i] = (unsigned char)(i * 13 + 5);
    b.pub[0] = (unsigned char)((pub_len - 2) >> 8);
    b.pub[1] = (unsigned char)(pub_len - 2);
    b.priv[0] = (unsigned char)((priv_len - 2) >> 8);
    b.priv[1] = (unsigned char)(priv_len - 2);
    return b;
}

static void assert_blob_equal(const TPMKMS_KEYBLOB *a, const TPMKMS_KEYBLOB *b)
{
    assert_int_equal(a->parent, b->parent);
    assert_int_equal(a->empty_auth, b->empty_auth);
    assert_int_equal(a->pub_len, b->pub_len);
    assert_memory_equal(a->pub, b->pub, a->pub_len);
    assert_int_equal(a->priv_len, b->priv_len);
    assert_memory_equal(a->priv, b->priv, a->priv_len);
}

static void to_der(const TPMKMS_KEYBLOB *b, unsigned char **der, size_t *len)
{
    assert_int_equal(tpmkms_tss2key_to_der(b, der, len), TPMKMS_R_OK);
    assert_non_null(*der);
}

/* A byte buffer for building DER by hand. */
typedef struct {
    unsigned char b[2048];
    size_t n;
} BUF;

static void put(BUF *buf, const void *p, size_t n)
{
    assert_true(buf->n + n <= sizeof(buf->b));
    memcpy(buf->b + buf->n, p, n);
    buf->n += n;
}

#define PUT(buf, ...) do {                                          \
        static const unsigned char bytes_[] = { __VA_ARGS__ };      \
        put((buf), bytes_, sizeof(bytes_));                         \
    } while (0)

/* Wraps content in a SEQUENCE (short or 0x81/0x82 length). */
static BUF seq(const BUF *content)
{
    BUF out = { .n = 0 };

    out.b[out.n++] = 0x30;
    if (content->n < 0x80) {
        out.b[out.n++] = (unsigned char)content->n;
    } else if (content->n <= 0xff) {
        out.b[out.n++] = 0x81;
        out.b[out.n++] = (unsigned char)content->n;
    } else {
        out.b[out.n++] = 0x82;
        out.b[out.n++] = (unsigned char)(content->n >> 8);
        out.b[out.n++] = (unsigned char)content->n;
    }
    put(&out, content->b, content->n);
    return out;
}

#define OID_LOADABLE 0x06, 0x06, 0x67, 0x81, 0x05, 0x0a, 0x01, 0x03
#define OID_IMPORTABLE 0x06, 0x06, 0x67, 0x81, 0x05, 0x0a, 0x01, 0x04
#define OID_SEALED 0x06, 0x06, 0x67, 0x81, 0x05, 0x0a, 0x01, 0x05
#define EMPTY_AUTH 0xa0, 0x03, 0x01, 0x01, 0xff
#define PARENT_OWNER 0x02, 0x04, 0x40, 0x00, 0x00, 0x01
#define PUB 0x04, 0x04, 0x00, 0x02, 0xaa, 0xbb
#define PRIV 0x04, 0x03, 0x00, 0x01, 0xcc

static void expect_bad(const unsigned char *der, size_t len, const char *word)
{
    TPMKMS_KEYBLOB b;

    ERR_clear_error();
    if (tpmkms_tss2key_from_der(der, len, &b) != TPMKMS_R_BAD_KEY_FILE)
        fail_msg("bad DER (expecting '%s') was accepted", word);
    assert_null(b.pub);
    assert_null(b.priv);
    assert_int_equal(last_reason(), TPMKMS_R_BAD_KEY_FILE);
    if (word != NULL && strstr(last_message(), word) == NULL)
        fail_msg("message lacks '%s': %s", word, last_message());
    ERR_clear_error();
}

static void expect_ok(const unsigned char *der, size_t len, TPMKMS_KEYBLOB *out)
{
    TPMKMS_KEYBLOB b;

    if (tpmkms_tss2key_from_der(der, len, &b) != TPMKMS_R_OK)
        fail_msg("good DER refused: %s", last_message());
    if (out != NULL)
        *out = b;
    else
        tpmkms_keyblob_clear(&b);
}

/* ---- encoding ---- */

static void der_matches_the_expected_bytes(void **state)
{
    static const unsigned char want[] = {
        0x30, 0x1e, OID_LOADABLE, EMPTY_AUTH, PARENT_OWNER, PUB, PRIV
    };
    TPMKMS_KEYBLOB b = small_blob(TPMKMS_PARENT_OWNER, 1);
    unsigned char *der;
    size_t len;

    to_der(&b, &der, &len);
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(der, want, sizeof(want));
    OPENSSL_free(der);
}

static void der_writes_srk_parent_as_positive_integer(void **state)
{
    static const unsigned char parent[] = { 0x02, 0x05, 0x00, 0x81, 0x00, 0x00, 0x01 };
    TPMKMS_KEYBLOB b = small_blob(TPMKMS_SRK_HANDLE, 0), back;
    unsigned char *der;
    size_t len;

    to_der(&b, &der, &len);
    /* OID, [0] BOOLEAN FALSE (written: tpm2-openssl reads absent as
     * TRUE), then the INTEGER. */
    static const unsigned char no_empty_auth[] = { 0xa0, 0x03, 0x01, 0x01, 0x00 };
    assert_memory_equal(der + 2 + 8, no_empty_auth, sizeof(no_empty_auth));
    assert_memory_equal(der + 2 + 8 + 5, parent, sizeof(parent));
    expect_ok(der, len, &back);
    assert_int_equal(back.parent, 0x81000001u);
    assert_int_equal(back.empty_auth, 0);
    tpmkms_keyblob_clear(&back);
    OPENSSL_free(der);
}

static void der_round_trips(void **state)
{
    static const uint32_t parents[] = { 0x40000001u, 0x81000001u, 0x81FFFFFFu,
                                        0x7fu, 0x80u, 0x0u, 0xffffffffu };
    size_t sizes[][2] = { { 4, 3 }, { 90, 126 }, { 2, 2 }, { 300, 700 },
                          { 600, 20000 } };

    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (size_t p = 0; p < sizeof(parents) / sizeof(parents[0]); p++) {
            TPMKMS_KEYBLOB b = sized_blob(sizes[s][0], sizes[s][1]), back;
            unsigned char *der;
            size_t len;

            b.parent = parents[p];
            b.empty_auth = (int)(p % 2);
            to_der(&b, &der, &len);
            expect_ok(der, len, &back);
            assert_blob_equal(&b, &back);
            tpmkms_keyblob_clear(&back);
            tpmkms_keyblob_clear(&b);
            OPENSSL_free(der);
        }
    }
}

static void der_refuses_to_encode_unsized_parts(void **state)
{
    static unsigned char unsized[] = { 0xaa, 0xbb, 0xcc };
    TPMKMS_KEYBLOB b = small_blob(TPMKMS_PARENT_OWNER, 1);
    unsigned char *der = (unsigned char *)1;
    size_t len = 1;

    b.pub = unsized;
    b.pub_len = sizeof(unsized);
    assert_int_equal(tpmkms_tss2key_to_der(&b, &der, &len), TPMKMS_R_INTERNAL);
    assert_null(der);
    b = small_blob(TPMKMS_PARENT_OWNER, 1);
    b.priv = NULL;
    assert_int_equal(tpmkms_tss2key_to_der(&b, &der, &len), TPMKMS_R_INTERNAL);
}

/* libcrypto's template reader sees the same fields we wrote, and its
 * writer produces byte-identical DER: the encoders agree. */
static void der_agrees_with_libcrypto_templates(void **state)
{
    for (int empty = 0; empty <= 1; empty++) {
        static const uint32_t parents[] = { 0x40000001u, 0x81000001u };

        for (size_t p = 0; p < 2; p++) {
            TPMKMS_KEYBLOB b = sized_blob(90, 126), back;
            unsigned char *der, *der2 = NULL;
            const unsigned char *in;
            size_t len;
            int len2;
            REF_TPMKEY *ref;
            char oid[64];

            b.parent = parents[p];
            b.empty_auth = empty;
            to_der(&b, &der, &len);
            in = der;
            ref = d2i_REF_TPMKEY(NULL, &in, (long)len);
            assert_non_null(ref);
            assert_ptr_equal(in, der + len);
            OBJ_obj2txt(oid, sizeof(oid), ref->type, 1);
            assert_string_equal(oid, TPMKMS_TSS2_OID_LOADABLE);
            assert_int_equal(ref->emptyAuth, empty ? 0xff : 0);
            assert_int_equal(ASN1_INTEGER_get(ref->parent), (long)parents[p]);
            assert_int_equal(ASN1_STRING_length(ref->pubkey), (int)b.pub_len);
            assert_memory_equal(ASN1_STRING_get0_data(ref->pubkey), b.pub,
                                b.pub_len);
            assert_memory_equal(ASN1_STRING_get0_data(ref->privkey), b.priv,
                                b.priv_len);
            len2 = i2d_REF_TPMKEY(ref, &der2);
            assert_int_equal(len2, (int)len);
            assert_memory_equal(der2, der, len);

            /* And a key written by libcrypto reads back. */
            ASN1_INTEGER_set(ref->parent, (long)parents[p]);
            OPENSSL_free(der2);
            der2 = NULL;
            len2 = i2d_REF_TPMKEY(ref, &der2);
            expect_ok(der2, (size_t)len2, &back);
            assert_blob_equal(&b, &back);

            tpmkms_keyblob_clear(&back);
            OPENSSL_free(der2);
            REF_TPMKEY_free(ref);
            tpmkms_keyblob_clear(&b);
            OPENSSL_free(der);
        }
    }
}

static void der_parses_with_openssl_asn1parse(void **state)
{
    TPMKMS_KEYBLOB b = small_blob(TPMKMS_SRK_HANDLE, 1);
    char path[] = "/tmp/tpmkms-der-XXXXXX";
    char cmd[128], out[4096];
    unsigned char *der;
    size_t len, got;
    FILE *f;
    int fd;

    to_der(&b, &der, &len);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, der, len), (ssize_t)len);
    close(fd);
    OPENSSL_free(der);
    snprintf(cmd, sizeof(cmd), "openssl asn1parse -inform DER -in %s 2>&1", path);
    f = popen(cmd, "r");
    assert_non_null(f);
    got = fread(out, 1, sizeof(out) - 1, f);
    out[got] = '\0';
    if (pclose(f) != 0)
        fail_msg("openssl asn1parse failed: %s", out);
    unlink(path);
    assert_non_null(strstr(out, ":2.23.133.10.1.3"));
    assert_non_null(strstr(out, "cont [ 0 ]"));
    assert_non_null(strstr(out, "BOOLEAN           :255"));
    assert_non_null(strstr(out, "INTEGER           :81000001"));
    assert_non_null(strstr(out, "[HEX DUMP]:0002AABB"));
    assert_non_null(strstr(out, "[HEX DUMP]:0001CC"));
}

/* ---- refusals ---- */

static void der_refuses_other_key_types(void **state)
{
    BUF c = { .n = 0 }, d;

    PUT(&c, OID_IMPORTABLE, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "importable");

    c.n = 0;
    PUT(&c, OID_SEALED, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "sealed");

    c.n = 0;
    PUT(&c, 0x06, 0x06, 0x67, 0x81, 0x05, 0x0a, 0x01, 0x09, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "2.23.133.10.1.9");

    c.n = 0;   /* rsaEncryption's arc */
    PUT(&c, 0x06, 0x06, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "1.2.840.113549");

    c.n = 0;   /* OID with an unterminated arc */
    PUT(&c, 0x06, 0x02, 0x67, 0x81, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "unknown key type OID");

    c.n = 0;
    PUT(&c, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "OID");
}

static void der_refuses_policy_keys(void **state)
{
    BUF c = { .n = 0 }, d;

    PUT(&c, OID_LOADABLE, EMPTY_AUTH, 0xa1, 0x02, 0x30, 0x00, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "policy keys are not supported");

    c.n = 0;
    PUT(&c, OID_LOADABLE, 0xa2, 0x04, 0x04, 0x02, 0x01, 0x02, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "policy keys are not supported");

    c.n = 0;
    PUT(&c, OID_LOADABLE, 0xa3, 0x02, 0x30, 0x00, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "policy keys are not supported");
}

static void der_accepts_description_and_software_parent(void **state)
{
    BUF c = { .n = 0 }, d;
    TPMKMS_KEYBLOB b;

    PUT(&c, OID_LOADABLE, EMPTY_AUTH, 0xa4, 0x05, 0x0c, 0x03, 'w', 'e', 'b',
        0xa5, 0x03, 0x01, 0x01, 0x00, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_ok(d.b, d.n, &b);
    assert_int_equal(b.empty_auth, 1);
    assert_int_equal(b.parent, TPMKMS_PARENT_OWNER);
    tpmkms_keyblob_clear(&b);

    c.n = 0;
    PUT(&c, OID_LOADABLE, 0xa5, 0x03, 0x01, 0x01, 0xff, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "rsaParent");

    c.n = 0;
    PUT(&c, OID_LOADABLE, 0xa4, 0x03, 0x02, 0x01, 0x00, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "description");
}

static void der_refuses_odd_tagged_fields(void **state)
{
    BUF c = { .n = 0 }, d;

    PUT(&c, OID_LOADABLE, 0xa6, 0x03, 0x01, 0x01, 0xff, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "unknown field [6]");

    c.n = 0;
    PUT(&c, OID_LOADABLE, 0xa4, 0x03, 0x0c, 0x01, 'x', EMPTY_AUTH, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "order");

    c.n = 0;
    PUT(&c, OID_LOADABLE, EMPTY_AUTH, EMPTY_AUTH, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "repeated");

    c.n = 0;
    PUT(&c, OID_LOADABLE, 0xa0, 0x03, 0x02, 0x01, 0x01, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "BOOLEAN");

    c.n = 0;   /* two values inside [0] */
    PUT(&c, OID_LOADABLE, 0xa0, 0x06, 0x01, 0x01, 0xff, 0x01, 0x01, 0xff,
        PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "BOOLEAN");
}

static void der_refuses_bad_parents(void **state)
{
    BUF c = { .n = 0 }, d;
    TPMKMS_KEYBLOB b;

    PUT(&c, OID_LOADABLE, 0x02, 0x04, 0x81, 0x00, 0x00, 0x01, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "negative");

    c.n = 0;
    PUT(&c, OID_LOADABLE, 0x02, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "32 bits");

    c.n = 0;
    PUT(&c, OID_LOADABLE, 0x02, 0x00, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "parent");

    c.n = 0;
    PUT(&c, OID_LOADABLE, PUB, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "parent");

    /* A non-minimal but positive parent still reads. */
    c.n = 0;
    PUT(&c, OID_LOADABLE, 0x02, 0x06, 0x00, 0x00, 0x81, 0x00, 0x00, 0x01, PUB, PRIV);
    d = seq(&c);
    expect_ok(d.b, d.n, &b);
    assert_int_equal(b.parent, 0x81000001u);
    tpmkms_keyblob_clear(&b);
}

static void der_refuses_unsized_tpm2b(void **state)
{
    BUF c = { .n = 0 }, d;

    PUT(&c, OID_LOADABLE, PARENT_OWNER, 0x04, 0x02, 0xaa, 0xbb, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "TPM2B_PUBLIC");

    c.n = 0;
    PUT(&c, OID_LOADABLE, PARENT_OWNER, PUB, 0x04, 0x03, 0x00, 0x05, 0xcc);
    d = seq(&c);
    expect_bad(d.b, d.n, "TPM2B_PRIVATE");

    c.n = 0;
    PUT(&c, OID_LOADABLE, PARENT_OWNER, PUB, 0x04, 0x00);
    d = seq(&c);
    expect_bad(d.b, d.n, "TPM2B_PRIVATE");
}

static void der_refuses_missing_and_extra_fields(void **state)
{
    BUF c = { .n = 0 }, d;

    PUT(&c, OID_LOADABLE, PARENT_OWNER, PUB);
    d = seq(&c);
    expect_bad(d.b, d.n, "truncated");

    c.n = 0;
    PUT(&c, OID_LOADABLE, PARENT_OWNER, PUB, 0x02, 0x01, 0x00);
    d = seq(&c);
    expect_bad(d.b, d.n, "privkey");

    c.n = 0;
    PUT(&c, OID_LOADABLE, PARENT_OWNER, PUB, PRIV, 0x04, 0x00);
    d = seq(&c);
    expect_bad(d.b, d.n, "after privkey");
}

static void der_refuses_trailing_garbage(void **state)
{
    TPMKMS_KEYBLOB b = small_blob(TPMKMS_PARENT_OWNER, 1);
    unsigned char *der, buf[64];
    size_t len;

    to_der(&b, &der, &len);
    memcpy(buf, der, len);
    buf[len] = 0x00;
    expect_bad(buf, len + 1, "trailing");
    memcpy(buf + len, der, len);
    expect_bad(buf, 2 * len, "trailing");
    OPENSSL_free(der);
}

static void der_refuses_bad_lengths(void **state)
{
    static const unsigned char not_seq[] = { 0x31, 0x03, 0x02, 0x01, 0x00 };
    static const unsigned char huge[] = { 0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x06 };
    static const unsigned char wide[] = { 0x30, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00 };
    static const unsigned char wider[] = { 0x30, 0x88, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0xff, 0xf0, 0x00 };
    static const unsigned char cut_len[] = { 0x30, 0x82, 0x01 };
    static const unsigned char indefinite[] = { 0x30, 0x80, OID_LOADABLE,
                                                PARENT_OWNER, PUB, PRIV, 0x00, 0x00 };
    static const unsigned char multibyte_tag[] = { 0x1f, 0x81, 0x00, 0x00 };
    BUF c = { .n = 0 }, d;

    expect_bad(NULL, 0, "empty");
    expect_bad(not_seq, sizeof(not_seq), "SEQUENCE");
    expect_bad(huge, sizeof(huge), "truncated");
    expect_bad(wide, sizeof(wide), "too large");
    expect_bad(wider, sizeof(wider), "too large");
    expect_bad(cut_len, sizeof(cut_len), "truncated");
    expect_bad(indefinite, sizeof(indefinite), "indefinite");
    expect_bad(multibyte_tag, sizeof(multibyte_tag), "multi-byte");

    /* An inner length that runs past the SEQUENCE. */
    PUT(&c, OID_LOADABLE, PARENT_OWNER, PUB, 0x04, 0x84, 0xff, 0xff, 0xff, 0xf0, 0x00);
    d = seq(&c);
    expect_bad(d.b, d.n, "truncated");
}

/* Every proper prefix fails cleanly; every single bit flip and many
 * random corruptions either parse or fail with BAD_KEY_FILE, never crash
 * (run under ASan to see reads out of bounds). */
static void der_survives_truncation_and_corruption(void **state)
{
    TPMKMS_KEYBLOB src = sized_blob(300, 150);
    unsigned char *der, *buf;
    size_t len;
    unsigned int seed = 1;

    to_der(&src, &der, &len);
    tpmkms_keyblob_clear(&src);

    for (size_t cut = 0; cut < len; cut++) {
        TPMKMS_KEYBLOB b;

        /* A fresh allocation of exactly cut bytes, so ASan sees overreads. */
        buf = malloc(cut > 0 ? cut : 1);
        assert_non_null(buf);
        memcpy(buf, der, cut);
        ERR_clear_error();
        assert_int_equal(tpmkms_tss2key_from_der(buf, cut, &b),
                         TPMKMS_R_BAD_KEY_FILE);
        assert_int_equal(last_reason(), TPMKMS_R_BAD_KEY_FILE);
        assert_null(b.pub);
        free(buf);
    }

    for (size_t bit = 0; bit < len * 8; bit++) {
        TPMKMS_KEYBLOB b;
        tpmkms_rc rc;

        buf = OPENSSL_memdup(der, len);
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        ERR_clear_error();
        rc = tpmkms_tss2key_from_der(buf, len, &b);
        if (rc == TPMKMS_R_OK) {
            assert_int_equal(ERR_peek_error(), 0);
            tpmkms_keyblob_clear(&b);
        } else {
            assert_int_equal(rc, TPMKMS_R_BAD_KEY_FILE);
            assert_int_equal(last_reason(), TPMKMS_R_BAD_KEY_FILE);
        }
        OPENSSL_free(buf);
    }

    for (int round = 0; round < 5000; round++) {
        TPMKMS_KEYBLOB b;
        size_t n = len;
        tpmkms_rc rc;

        buf = OPENSSL_memdup(der, len);
        for (int k = 0; k < 1 + round % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            buf[(seed >> 8) % len] = (unsigned char)(seed >> 20);
        }
        if (round % 3 == 0) {
            seed = seed * 1103515245u + 12345u;
            n = (seed >> 8) % (len + 1);
        }
        rc = tpmkms_tss2key_from_der(buf, n, &b);
        if (rc == TPMKMS_R_OK)
            tpmkms_keyblob_clear(&b);
        else
            assert_int_equal(rc, TPMKMS_R_BAD_KEY_FILE);
        ERR_clear_error();
        OPENSSL_free(buf);
    }
    OPENSSL_free(der);
}

/* ---- pinned behaviour (the encoder was rewritten on libcrypto's
 * templates: these fix what the hand-written code did) ---- */

/* Output of the hand-written encoder, captured before the rewrite:
 * tpm2-openssl interop depends on every byte (emptyAuth FALSE written). */
static void der_is_byte_identical_to_the_previous_encoder(void **state)
{
    static const struct {
        uint32_t parent;
        int empty_auth;
        const char *hex;
    } small[] = {
        { 0x0u, 0, "301b06066781050a0103a00301010002010004040002aabb04030001cc" },
        { 0x0u, 1, "301b06066781050a0103a0030101ff02010004040002aabb04030001cc" },
        { 0x7fu, 0, "301b06066781050a0103a00301010002017f04040002aabb04030001cc" },
        { 0x80u, 1, "301c06066781050a0103a0030101ff0202008004040002aabb04030001cc" },
        { 0x40000001u, 0, "301e06066781050a0103a00301010002044000000104040002aabb04030001cc" },
        { 0x40000001u, 1, "301e06066781050a0103a0030101ff02044000000104040002aabb04030001cc" },
        { 0x81000001u, 0, "301f06066781050a0103a0030101000205008100000104040002aabb04030001cc" },
        { 0xffffffffu, 1, "301f06066781050a0103a0030101ff020500ffffffff04040002aabb04030001cc" },
    };
    /* sized_blob(), parent 0x81000001: 0x81 and 0x82 lengths. */
    static const struct {
        size_t pub_len, priv_len;
        int empty_auth;
        size_t der_len;
        const char *sha256;
    } sized[] = {
        { 90, 126, 0, 243,
          "d05ed53a9a0bd162be246466889e6a51a02a2743504bfd7441fc9cbc5812b04a" },
        { 300, 700, 1, 1032,
          "60f3d1ba1c84af8940b0a77a10b18206940c2276cee1d82685e407b91a63a459" },
        { 600, 20000, 0, 20632,
          "fda2d0e142e4954330fdad941f33f23fd6f665165c8b2f4a0e69b63d9ee7a2a7" },
    };

    for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
        TPMKMS_KEYBLOB b = small_blob(small[i].parent, small[i].empty_auth);
        unsigned char *der;
        char *hex;
        size_t len;

        to_der(&b, &der, &len);
        hex = OPENSSL_malloc(2 * len + 1);
        assert_non_null(hex);
        for (size_t k = 0; k < len; k++)
            snprintf(hex + 2 * k, 3, "%02x", der[k]);
        assert_string_equal(hex, small[i].hex);
        OPENSSL_free(hex);
        OPENSSL_free(der);
    }
    for (size_t i = 0; i < sizeof(sized) / sizeof(sized[0]); i++) {
        TPMKMS_KEYBLOB b = sized_blob(sized[i].pub_len, sized[i].priv_len);
        unsigned char *der, md[SHA256_DIGEST_LENGTH];
        char hex[2 * SHA256_DIGEST_LENGTH + 1];
        size_t len;

        b.empty_auth = sized[i].empty_auth;
        to_der(&b, &der, &len);
        assert_int_equal(len, sized[i].der_len);
        assert_non_null(SHA256(der, len, md));
        for (size_t k = 0; k < sizeof(md); k++)
            snprintf(hex + 2 * k, 3, "%02x", md[k]);
        assert_string_equal(hex, sized[i].sha256);
        tpmkms_keyblob_clear(&b);
        OPENSSL_free(der);
    }
}

static void der_reads_empty_auth_absent_as_false_and_any_nonzero_as_true(void **state)
{
    BUF c = { .n = 0 }, d;
    TPMKMS_KEYBLOB b;

    PUT(&c, OID_LOADABLE, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_ok(d.b, d.n, &b);
    assert_int_equal(b.empty_auth, 0);
    tpmkms_keyblob_clear(&b);

    c.n = 0;   /* BER TRUE, as some writers put it */
    PUT(&c, OID_LOADABLE, 0xa0, 0x03, 0x01, 0x01, 0x01, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_ok(d.b, d.n, &b);
    assert_int_equal(b.empty_auth, 1);
    tpmkms_keyblob_clear(&b);

    c.n = 0;
    PUT(&c, OID_LOADABLE, 0xa0, 0x03, 0x01, 0x01, 0x00, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_ok(d.b, d.n, &b);
    assert_int_equal(b.empty_auth, 0);
    tpmkms_keyblob_clear(&b);

    c.n = 0;   /* a BOOLEAN is one byte */
    PUT(&c, OID_LOADABLE, 0xa0, 0x04, 0x01, 0x02, 0x00, 0xff, PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "BOOLEAN");
}

static void der_parent_fits_in_32_bits_or_is_refused(void **state)
{
    BUF c = { .n = 0 }, d;
    TPMKMS_KEYBLOB b;

    PUT(&c, OID_LOADABLE, 0x02, 0x05, 0x00, 0xff, 0xff, 0xff, 0xff, PUB, PRIV);
    d = seq(&c);
    expect_ok(d.b, d.n, &b);
    assert_int_equal(b.parent, 0xffffffffu);
    tpmkms_keyblob_clear(&b);

    c.n = 0;
    PUT(&c, OID_LOADABLE, 0x02, 0x05, 0x01, 0x00, 0x00, 0x00, 0x00, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "32 bits");

    c.n = 0;
    PUT(&c, OID_LOADABLE, 0x02, 0x01, 0xff, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "negative");

    c.n = 0;   /* a parent that is not an INTEGER */
    PUT(&c, OID_LOADABLE, 0x04, 0x01, 0x01, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "parent INTEGER is missing");
}

/* Long-form lengths where short ones would do are not DER, but key files
 * have always been read with them. */
static void der_reads_long_form_lengths_as_before(void **state)
{
    static const unsigned char outer[] = {
        0x30, 0x81, 0x1e, OID_LOADABLE, EMPTY_AUTH, PARENT_OWNER, PUB, PRIV
    };
    static const unsigned char inner[] = {
        0x30, 0x21, OID_LOADABLE, 0xa0, 0x81, 0x03, 0x01, 0x01, 0xff,
        PARENT_OWNER, 0x04, 0x82, 0x00, 0x04, 0x00, 0x02, 0xaa, 0xbb, PRIV
    };
    TPMKMS_KEYBLOB want = small_blob(TPMKMS_PARENT_OWNER, 1), b;

    expect_ok(outer, sizeof(outer), &b);
    assert_blob_equal(&want, &b);
    tpmkms_keyblob_clear(&b);
    expect_ok(inner, sizeof(inner), &b);
    assert_blob_equal(&want, &b);
    tpmkms_keyblob_clear(&b);
}

/* BER forms that a lenient reader would take, inside the key: refused. */
static void der_refuses_ber_forms_inside_the_key(void **state)
{
    BUF c = { .n = 0 }, d;

    PUT(&c, OID_LOADABLE, 0xa0, 0x80, 0x01, 0x01, 0xff, 0x00, 0x00,
        PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "indefinite");

    c.n = 0;   /* pubkey as a constructed OCTET STRING */
    PUT(&c, OID_LOADABLE, PARENT_OWNER, 0x24, 0x08, 0x04, 0x02, 0x00, 0x02,
        0x04, 0x02, 0xaa, 0xbb, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "pubkey OCTET STRING is missing");

    c.n = 0;   /* parent as a constructed INTEGER */
    PUT(&c, OID_LOADABLE, 0x22, 0x06, 0x04, 0x04, 0x40, 0x00, 0x00, 0x01, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "parent INTEGER is missing");

    c.n = 0;   /* INTEGER's tag in the multi-byte form */
    PUT(&c, OID_LOADABLE, 0x1f, 0x02, 0x04, 0x40, 0x00, 0x00, 0x01, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "multi-byte");

    c.n = 0;   /* a five-byte length */
    PUT(&c, OID_LOADABLE, PARENT_OWNER, 0x04, 0x85, 0x00, 0x00, 0x00, 0x00, 0x04,
        0x00, 0x02, 0xaa, 0xbb, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "too large");

    c.n = 0;   /* description as a constructed UTF8String */
    PUT(&c, OID_LOADABLE, 0xa4, 0x07, 0x2c, 0x05, 0x0c, 0x03, 'w', 'e', 'b',
        PARENT_OWNER, PUB, PRIV);
    d = seq(&c);
    expect_bad(d.b, d.n, "description");
}

/* ---- PEM ---- */

static void pem_round_trips_with_the_tss2_label(void **state)
{
    TPMKMS_KEYBLOB b = sized_blob(90, 126), back;
    char *pem = NULL;

    assert_int_equal(tpmkms_tss2key_to_pem(&b, &pem), TPMKMS_R_OK);
    assert_non_null(pem);
    assert_int_equal(strncmp(pem, "-----BEGIN TSS2 PRIVATE KEY-----\n", 33), 0);
    assert_non_null(strstr(pem, "\n-----END TSS2 PRIVATE KEY-----\n"));
    assert_int_equal(tpmkms_tss2key_from_pem(pem, strlen(pem), &back),
                     TPMKMS_R_OK);
    assert_blob_equal(&b, &back);
    tpmkms_keyblob_clear(&back);
    tpmkms_keyblob_clear(&b);
    OPENSSL_free(pem);
}

static void pem_is_found_after_a_text_header(void **state)
{
    TPMKMS_KEYBLOB b = small_blob(TPMKMS_SRK_HANDLE, 1), back;
    char *pem = NULL, text[2048];

    assert_int_equal(tpmkms_tss2key_to_pem(&b, &pem), TPMKMS_R_OK);
    snprintf(text, sizeof(text),
             "# tpmkms key record\nversion: 1\nname: web\n"
             "-----BEGIN CERTIFICATE-----\nnot this one\n"
             "-----END CERTIFICATE-----\n%strailing words\n", pem);
    assert_int_equal(tpmkms_tss2key_from_pem(text, strlen(text), &back),
                     TPMKMS_R_OK);
    assert_blob_equal(&b, &back);
    tpmkms_keyblob_clear(&back);
    /* len bounds the search: cut the text before the block ends. */
    ERR_clear_error();
    assert_int_equal(tpmkms_tss2key_from_pem(text, strlen(text) - strlen(pem),
                                             &back), TPMKMS_R_BAD_KEY_FILE);
    OPENSSL_free(pem);
}

static void pem_refuses_missing_or_broken_block(void **state)
{
    static const char none[] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    static const char broken[] = "-----BEGIN TSS2 PRIVATE KEY-----\n!!!!\n"
                                 "-----END TSS2 PRIVATE KEY-----\n";
    static const char unended[] = "-----BEGIN TSS2 PRIVATE KEY-----\nMAA=\n";
    static const char notkey[] = "-----BEGIN TSS2 PRIVATE KEY-----\nMAA=\n"
                                 "-----END TSS2 PRIVATE KEY-----\n";
    static const char encrypted[] = "-----BEGIN TSS2 PRIVATE KEY-----\n"
                                    "Proc-Type: 4,ENCRYPTED\n"
                                    "DEK-Info: AES-128-CBC,00000000000000000000000000000000\n\n"
                                    "MAA=\n-----END TSS2 PRIVATE KEY-----\n";
    TPMKMS_KEYBLOB b;

    ERR_clear_error();
    assert_int_equal(tpmkms_tss2key_from_pem(none, strlen(none), &b),
                     TPMKMS_R_BAD_KEY_FILE);
    assert_non_null(strstr(last_message(), "no TSS2 PRIVATE KEY"));
    ERR_clear_error();
    assert_int_equal(tpmkms_tss2key_from_pem(broken, strlen(broken), &b),
                     TPMKMS_R_BAD_KEY_FILE);
    assert_int_equal(last_reason(), TPMKMS_R_BAD_KEY_FILE);
    /* Only our error: libcrypto's PEM errors were popped. */
    assert_int_equal(ERR_GET_LIB(ERR_peek_error()), tpmkms_err_lib());
    ERR_clear_error();
    assert_int_equal(tpmkms_tss2key_from_pem(unended, strlen(unended), &b),
                     TPMKMS_R_BAD_KEY_FILE);
    ERR_clear_error();
    assert_int_equal(tpmkms_tss2key_from_pem(notkey, strlen(notkey), &b),
                     TPMKMS_R_BAD_KEY_FILE);
    assert_non_null(strstr(last_message(), "truncated"));
    ERR_clear_error();
    assert_int_equal(tpmkms_tss2key_from_pem(encrypted, strlen(encrypted), &b),
                     TPMKMS_R_BAD_KEY_FILE);
    assert_non_null(strstr(last_message(), "encrypted"));
    ERR_clear_error();
    assert_int_equal(tpmkms_tss2key_from_pem("", 0, &b), TPMKMS_R_BAD_KEY_FILE);
}

/* ---- blobs ---- */

static void keyblob_clear_frees_and_zeroes(void **state)
{
    TPMKMS_KEYBLOB a = sized_blob(40, 50);

    (void)state;
    assert_non_null(a.pub);
    tpmkms_keyblob_clear(&a);
    assert_null(a.pub);
    assert_null(a.priv);
    assert_int_equal(a.pub_len, 0);
    assert_int_equal(a.priv_len, 0);
    assert_int_equal(a.parent, 0);
    tpmkms_keyblob_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(der_matches_the_expected_bytes, setup),
        cmocka_unit_test_setup(der_writes_srk_parent_as_positive_integer, setup),
        cmocka_unit_test_setup(der_round_trips, setup),
        cmocka_unit_test_setup(der_refuses_to_encode_unsized_parts, setup),
        cmocka_unit_test_setup(der_agrees_with_libcrypto_templates, setup),
        cmocka_unit_test_setup(der_parses_with_openssl_asn1parse, setup),
        cmocka_unit_test_setup(der_refuses_other_key_types, setup),
        cmocka_unit_test_setup(der_refuses_policy_keys, setup),
        cmocka_unit_test_setup(der_accepts_description_and_software_parent, setup),
        cmocka_unit_test_setup(der_refuses_odd_tagged_fields, setup),
        cmocka_unit_test_setup(der_refuses_bad_parents, setup),
        cmocka_unit_test_setup(der_refuses_unsized_tpm2b, setup),
        cmocka_unit_test_setup(der_refuses_missing_and_extra_fields, setup),
        cmocka_unit_test_setup(der_refuses_trailing_garbage, setup),
        cmocka_unit_test_setup(der_refuses_bad_lengths, setup),
        cmocka_unit_test_setup(der_survives_truncation_and_corruption, setup),
        cmocka_unit_test_setup(der_is_byte_identical_to_the_previous_encoder, setup),
        cmocka_unit_test_setup(der_reads_empty_auth_absent_as_false_and_any_nonzero_as_true, setup),
        cmocka_unit_test_setup(der_parent_fits_in_32_bits_or_is_refused, setup),
        cmocka_unit_test_setup(der_reads_long_form_lengths_as_before, setup),
        cmocka_unit_test_setup(der_refuses_ber_forms_inside_the_key, setup),
        cmocka_unit_test_setup(pem_round_trips_with_the_tss2_label, setup),
        cmocka_unit_test_setup(pem_is_found_after_a_text_header, setup),
        cmocka_unit_test_setup(pem_refuses_missing_or_broken_block, setup),
        cmocka_unit_test_setup(keyblob_clear_frees_and_zeroes, setup),
    };

    tpmkms_err_init_standalone();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
