/*
 * attest/quote.c without a TPM: a quote made here (a TPMS_ATTEST marshalled
 * from its fields, signed by a software P-256 key as a TPM signs, r and s
 * in a TPMT_SIGNATURE) verifies, and each changed part fails with its own
 * reason; the PCR file round-trips (values in lists of eight, as
 * tpm2-tools writes them); --pcrs specs parse or are refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include "attest/quote.h"
#include "attest/tpmpublic.h"
#include "errors.h"
#include "test_util.h"

static const unsigned char nonce[] = { 1, 2, 3, 4, 5, 6, 7, 8 };

typedef struct {
    EVP_PKEY *key;
    unsigned char attest[512], sig[256], *pcrs;
    size_t attest_len, sig_len, pcrs_len;
    TPMKMS_PCR_VALUES values;
} QUOTE;

static size_t put2b(unsigned char *p, const unsigned char *b, size_t n)
{
    p[0] = (unsigned char)(n >> 8);
    p[1] = (unsigned char)n;
    memcpy(p + 2, b, n);
    return n + 2;
}

/* A software TPM's quote of sha256 PCRs 0, 1 and 7 (values 0x00.., 0x11..,
 * 0x77..) over nonce, signed by q->key. */
static void make_quote(QUOTE *q, uint32_t mask)
{
    TPMKMS_QUOTE_INFO info;
    unsigned char values[3 * 32], der[80], r[32], s[32];
    const unsigned char *dp = der;
    size_t der_len = sizeof(der), n = 0;
    unsigned int dlen = 0;
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    ECDSA_SIG *es;

    memset(values, 0x00, 32);
    memset(values + 32, 0x11, 32);
    memset(values + 64, 0x77, 32);
    memset(&info, 0, sizeof(info));
    info.magic = TPMKMS_TPM_GENERATED_VALUE;
    info.type = TPMKMS_TPM_ST_ATTEST_QUOTE;
    info.signer_len = 34;
    info.extra_len = sizeof(nonce);
    memcpy(info.extra, nonce, sizeof(nonce));
    info.clock = 12345;
    info.safe = 1;
    info.pcrs.count = 1;
    info.pcrs.bank[0].hash = TPMKMS_TPM_ALG_SHA256;
    info.pcrs.bank[0].size_of_select = 3;
    info.pcrs.bank[0].mask = mask;
    assert_true(EVP_Digest(values, sizeof(values), info.pcr_digest, &dlen,
                           EVP_sha256(), NULL));
    info.pcr_digest_len = dlen;
    q->attest_len = tpmkms_quote_marshal(&info, q->attest, sizeof(q->attest));
    assert_true(q->attest_len > 0);

    if (q->key == NULL)
        q->key = EVP_EC_gen("P-256");
    assert_non_null(q->key);
    assert_non_null(mctx);
    assert_int_equal(EVP_DigestSignInit(mctx, NULL, EVP_sha256(), NULL,
                                        q->key), 1);
    assert_int_equal(EVP_DigestSign(mctx, der, &der_len, q->attest,
                                    q->attest_len), 1);
    EVP_MD_CTX_free(mctx);
    assert_non_null(es = d2i_ECDSA_SIG(NULL, &dp, (long)der_len));
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), r, 32), 32);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), s, 32), 32);
    ECDSA_SIG_free(es);
    q->sig[n++] = 0x00;                     /* sigAlg ECDSA */
    q->sig[n++] = 0x18;
    q->sig[n++] = 0x00;                     /* hash SHA-256 */
    q->sig[n++] = 0x0b;
    n += put2b(q->sig + n, r, 32);
    n += put2b(q->sig + n, s, 32);
    q->sig_len = n;

    assert_int_equal(tpmkms_pcr_file_make(TPMKMS_TPM_ALG_SHA256, 0x83, values,
                                          sizeof(values), &q->pcrs,
                                          &q->pcrs_len), TPMKMS_R_OK);
    assert_int_equal(tpmkms_pcr_file_parse(q->pcrs, q->pcrs_len, &q->values),
                     TPMKMS_R_OK);
}

static void free_quote(QUOTE *q)
{
    EVP_PKEY_free(q->key);
    OPENSSL_free(q->pcrs);
}

static tpmkms_rc verify(QUOTE *q)
{
    ERR_clear_error();
    return tpmkms_quote_verify(NULL, q->key, q->attest, q->attest_len,
                               q->sig, q->sig_len, &q->values, nonce,
                               sizeof(nonce), NULL);
}

static void quote_verifies_and_each_change_fails_on_its_own(void **state)
{
    static QUOTE q;             /* big: not on the stack */
    unsigned char other[sizeof(nonce)];
    QUOTE *other_key;

    (void)state;
    memset(&q, 0, sizeof(q));
    make_quote(&q, 0x83);
    assert_int_equal(verify(&q), TPMKMS_R_OK);

    /* A changed PCR value. */
    q.values.value[2].v[5] ^= 1;
    assert_int_equal(verify(&q), TPMKMS_R_QUOTE_PCR_DIGEST);
    assert_non_null(strstr(last_message(), "PCR values shipped beside it"));
    q.values.value[2].v[5] ^= 1;

    /* Another nonce. */
    memcpy(other, nonce, sizeof(other));
    other[0] ^= 0xff;
    ERR_clear_error();
    assert_int_equal(tpmkms_quote_verify(NULL, q.key, q.attest, q.attest_len,
                                         q.sig, q.sig_len, &q.values, other,
                                         sizeof(other), NULL),
                     TPMKMS_R_QUOTE_NONCE);
    assert_non_null(strstr(last_message(), "0102030405060708"));

    /* A changed quote: the signature. */
    q.attest[q.attest_len - 1] ^= 1;
    assert_int_equal(verify(&q), TPMKMS_R_QUOTE_SIGNATURE);
    q.attest[q.attest_len - 1] ^= 1;

    /* Other PCRs in the file than in the quote. */
    q.values.sel.bank[0].mask = 0x82;
    assert_int_equal(verify(&q), TPMKMS_R_QUOTE_PCR_SELECTION);
    q.values.sel.bank[0].mask = 0x83;

    /* Not made by a TPM. */
    q.attest[0] = 0;
    assert_int_equal(verify(&q), TPMKMS_R_BAD_QUOTE);
    assert_non_null(strstr(last_message(), "not made by a TPM"));
    q.attest[0] = 0xff;

    /* Trailing bytes, a truncated quote. */
    q.attest_len++;
    assert_int_equal(verify(&q), TPMKMS_R_BAD_QUOTE);
    q.attest_len -= 2;
    assert_int_equal(verify(&q), TPMKMS_R_BAD_QUOTE);
    q.attest_len++;
    assert_int_equal(verify(&q), TPMKMS_R_OK);

    /* Another key. */
    other_key = OPENSSL_zalloc(sizeof(*other_key));
    assert_non_null(other_key);
    make_quote(other_key, 0x83);
    ERR_clear_error();
    assert_int_equal(tpmkms_quote_verify(NULL, other_key->key, q.attest,
                                         q.attest_len, q.sig, q.sig_len,
                                         &q.values, nonce, sizeof(nonce),
                                         NULL), TPMKMS_R_QUOTE_SIGNATURE);
    free_quote(other_key);
    OPENSSL_free(other_key);
    free_quote(&q);
}

static void pcr_file_round_trips_in_lists_of_eight(void **state)
{
    static TPMKMS_PCR_VALUES v;
    unsigned char values[10 * 32], *file = NULL;
    size_t len = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(values); i++)
        values[i] = (unsigned char)(i / 32);
    assert_int_equal(tpmkms_pcr_file_make(TPMKMS_TPM_ALG_SHA256, 0x3ff, values,
                                          sizeof(values), &file, &len),
                     TPMKMS_R_OK);
    /* Selection, count, two TPML_DIGESTs. */
    assert_int_equal(len, 132 + 4 + 2 * 532);
    assert_int_equal(file[132], 2);
    assert_int_equal(file[136], 8);
    assert_int_equal(file[136 + 532], 2);
    assert_int_equal(tpmkms_pcr_file_parse(file, len, &v), TPMKMS_R_OK);
    assert_int_equal(v.n, 10);
    assert_int_equal(v.sel.count, 1);
    assert_int_equal(v.sel.bank[0].mask, 0x3ff);
    for (size_t i = 0; i < 10; i++) {
        assert_int_equal(v.value[i].size, 32);
        assert_memory_equal(v.value[i].v, values + 32 * i, 32);
    }
    /* One byte short, or a count that promises a third list. */
    assert_int_equal(tpmkms_pcr_file_parse(file, len - 1, &v),
                     TPMKMS_R_BAD_QUOTE);
    file[132] = 3;
    assert_int_equal(tpmkms_pcr_file_parse(file, len, &v), TPMKMS_R_BAD_QUOTE);
    OPENSSL_free(file);
}

static void pcr_specs_parse_or_are_refused(void **state)
{
    uint16_t h;
    uint32_t m;

    (void)state;
    assert_true(tpmkms_pcr_spec_parse("sha256:0,1,7", &h, &m));
    assert_int_equal(h, TPMKMS_TPM_ALG_SHA256);
    assert_int_equal(m, 0x83);
    assert_true(tpmkms_pcr_spec_parse("sha1:23", &h, &m));
    assert_int_equal(m, 1u << 23);
    assert_false(tpmkms_pcr_spec_parse("sha256:24", &h, &m));
    assert_false(tpmkms_pcr_spec_parse("sha256:", &h, &m));
    assert_false(tpmkms_pcr_spec_parse("sha256:1,,2", &h, &m));
    assert_false(tpmkms_pcr_spec_parse("sha256:1,", &h, &m));
    assert_false(tpmkms_pcr_spec_parse("md5:1", &h, &m));
    assert_false(tpmkms_pcr_spec_parse("sha256", &h, &m));
    assert_false(tpmkms_pcr_spec_parse("sha256:007", &h, &m));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quote_verifies_and_each_change_fails_on_its_own),
        cmocka_unit_test(pcr_file_round_trips_in_lists_of_eight),
        cmocka_unit_test(pcr_specs_parse_or_are_refused),
    };

    tpmkms_err_init_standalone();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
