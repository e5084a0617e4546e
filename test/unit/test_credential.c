/*
 * attest/tpmpublic.c and attest/credential.c without a TPM:
 *   - KDFa and KDFe against vectors computed independently, with Python's
 *     hmac and hashlib from the definitions of TPM 2.0 Part 1 11.4.10.2
 *     and 11.4.10.3 (the script is in the comment above the vectors);
 *   - TPM2B_PUBLIC areas tpm2-tools wrote on swtpm (an ECC P-256 AK, the
 *     H-3 ECC P-384 EK) parse, marshal back to the same bytes, and give
 *     the Names the TPM gave them;
 *   - truncated and oversized areas are refused, naming the field;
 *   - the AK attribute check names what is wrong;
 *   - a credential made for a software RSA "EK" unwraps, by the steps of
 *     TPM2_ActivateCredential done here with OpenSSL, to the secret.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/bio.h>
#include "attest/credential.h"
#include "attest/enroll.h"
#include "attest/tpmpublic.h"
#include "errors.h"
#include "test_util.h"

static int setup(void **state)
{
    (void)state;
    ERR_clear_error();
    return 0;
}

static size_t unhex(const char *s, unsigned char *out)
{
    size_t n = strlen(s) / 2, i;

    for (i = 0; i < n; i++) {
        unsigned v;

        assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
    return n;
}

static void assert_hex(const unsigned char *b, size_t n, const char *want)
{
    char got[1024];
    size_t i;

    assert_true(2 * n < sizeof(got));
    for (i = 0; i < n; i++)
        sprintf(got + 2 * i, "%02x", b[i]);
    assert_string_equal(got, want);
}

/*
 * The vectors, from Python 3:
 *   def kdfa(h, key, label, u, v, bits):
 *       out = b''; i = 1
 *       while len(out) * 8 < bits:
 *           out += hmac.new(key, struct.pack('>I', i) + label + b'\0' + u
 *                           + v + struct.pack('>I', bits), h).digest()
 *           i += 1
 *       out = out[:(bits + 7) // 8]
 *       if bits % 8:
 *           out = bytes([out[0] & ((1 << (bits % 8)) - 1)]) + out[1:]
 *       return out
 *   kdfe: the same with h(struct.pack('>I', i) + z + label + b'\0' + u + v)
 * key = bytes(range(32)) (SHA-384: range(48)); u = 000b || 0x11 * 32.
 */
static void kdfa_matches_independent_vectors(void **state)
{
    unsigned char key[48], u[34], out[80];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(key); i++)
        key[i] = (unsigned char)i;
    unhex("000b1111111111111111111111111111111111111111111111111111111111111111",
          u);
    assert_int_equal(tpmkms_kdfa(NULL, TPMKMS_TPM_ALG_SHA256, key, 32,
                                 "STORAGE", u, 34, NULL, 0, 128, out),
                     TPMKMS_R_OK);
    assert_hex(out, 16, "4b6977df7782a6d0312cc5f537456667");
    assert_int_equal(tpmkms_kdfa(NULL, TPMKMS_TPM_ALG_SHA256, key, 32,
                                 "INTEGRITY", NULL, 0, NULL, 0, 256, out),
                     TPMKMS_R_OK);
    assert_hex(out, 32, "bacf689f634ece301e1f1b15b072d9c8"
                        "7db6a69585db42b1a0cb8f73ebe2692e");
    assert_int_equal(tpmkms_kdfa(NULL, TPMKMS_TPM_ALG_SHA384, key, 48,
                                 "STORAGE", u, 34, NULL, 0, 256, out),
                     TPMKMS_R_OK);
    assert_hex(out, 32, "e14c57415278912f0fb5b68a8bd0a439"
                        "23f59bdab550f1f0c24d1091668620e7");
    /* Three blocks, both contexts. */
    assert_int_equal(tpmkms_kdfa(NULL, TPMKMS_TPM_ALG_SHA256, key, 32,
                                 "LONG", (const unsigned char *)"ab", 2,
                                 (const unsigned char *)"cd", 2, 600, out),
                     TPMKMS_R_OK);
    assert_hex(out, 75, "809b9e649940c330a95f4c99478091cc5b2a973eccefceb5bb"
                        "17faf4c547ceebff57cb41d11a166b0615606a8f377b0eca01"
                        "3fa00cf96cb337002841b54d52e26b8903e383b48fb06d84a1");
    /* 13 bits: the first byte keeps its low 5 bits. */
    assert_int_equal(tpmkms_kdfa(NULL, TPMKMS_TPM_ALG_SHA256, key, 32,
                                 "ODD", NULL, 0, NULL, 0, 13, out),
                     TPMKMS_R_OK);
    assert_hex(out, 2, "00e9");
}

static void kdfe_matches_independent_vectors(void **state)
{
    unsigned char z[48], pu[48], pv[48], out[80];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(z); i++)
        z[i] = (unsigned char)(i + 1);
    memset(pu, 0xaa, sizeof(pu));
    memset(pv, 0xbb, sizeof(pv));
    assert_int_equal(tpmkms_kdfe(NULL, TPMKMS_TPM_ALG_SHA256, z, 32,
                                 "IDENTITY", pu, 32, pv, 32, 256, out),
                     TPMKMS_R_OK);
    assert_hex(out, 32, "a052016ea47659e9c6d98ade30257506"
                        "942cc915f0077816188df53f6b65e4c6");
    assert_int_equal(tpmkms_kdfe(NULL, TPMKMS_TPM_ALG_SHA384, z, 48,
                                 "IDENTITY", pu, 48, pv, 48, 384, out),
                     TPMKMS_R_OK);
    assert_hex(out, 48, "41eb1ea2c603407d8116b0223d74b1f6b9c2432d17165d21"
                        "1d6b5c7e081f747c43d2596ee1703db72f5a03ce98ff0134");
    assert_int_equal(tpmkms_kdfe(NULL, TPMKMS_TPM_ALG_SHA256, z, 32, "X",
                                 NULL, 0, NULL, 0, 520, out),
                     TPMKMS_R_OK);
    assert_hex(out, 65, "1633ce8ff9997c9be918b4ad9b50533158ab7dcdc0aa8af579"
                        "4987a2173f743f7cc4bbbfe3c0b6302710a8602750150dd1b9"
                        "5bdcc6384f4521fa880318626e9cb7");
}

/* tpm2_createak -G ecc on swtpm: TPM2B_PUBLIC and the Name it printed. */
static const char ak_p256[] =
    "00580023000b00050072000000100018000b000300100020ac52d5e0d72088a11f31"
    "33a3355099698b76664dfb4d764fb6b0b311ecdf3c540020b515cb2aae925fbbadd4"
    "506db937455697dca2b11fafe6b766b86212487a8ee9";
static const char ak_p256_name[] =
    "000bddcedb08db1c7b02348fec9229dda24ffeb8cc208fd25def6918a02ff8ef962b";
/* tpm2_createek -G ecc384 (template H-3) and tpm2_readpublic -n. */
static const char ek_h3[] =
    "00aa0023000c000300f20030b26e7d28d11a50bc53d882bcf5fd3a1a074148bb35d3"
    "b4e4cb1c0ad9bde419cacb47ba09699646150f9fc000f3f80e120006010000430010"
    "000400100030592532d2dee4046305b47b002137ad4c74b85b6829392f256c717f12"
    "ab8421f1cf11cfb2865b4fc3cf865a4472f78d430030aa6cb53a74d4c51ffbcd62ec"
    "aa4089ef5344f7b97ac7337eb5d6b45a93fdd50bb211de7cd2af0f72eb659e67b608"
    "6ac9";
static const char ek_h3_name[] =
    "000cfdf8c4511d67a08379f8a8d7b07a83726209eeba85ed0fba3ef052660bd89f96"
    "b78d36214e5d1ab5521a27095eac606b";

static void round_trip(const char *hex, const char *name_hex,
                       TPMKMS_TPMT_PUBLIC *pub)
{
    unsigned char in[1024], out[1024], name[TPMKMS_TPM_NAME_MAX];
    size_t n = unhex(hex, in), m, name_len = 0;

    assert_int_equal(tpmkms_tpm2b_public_parse(in, n, "test area", pub),
                     TPMKMS_R_OK);
    m = tpmkms_tpmt_public_marshal(pub, out, sizeof(out));
    assert_int_equal(m, n - 2);
    assert_memory_equal(out, in + 2, m);
    assert_int_equal(tpmkms_tpmt_public_marshal(pub, NULL, 0), m);
    assert_int_equal(tpmkms_tpmt_public_marshal(pub, out, m - 1), 0);
    assert_int_equal(tpmkms_tpm_name(NULL, pub, "test area", name,
                                     &name_len), TPMKMS_R_OK);
    assert_hex(name, name_len, name_hex);
}

static void tpm_areas_round_trip_and_give_the_tpms_names(void **state)
{
    TPMKMS_TPMT_PUBLIC pub;
    EVP_PKEY *k = NULL;
    char desc[32];

    (void)state;
    round_trip(ak_p256, ak_p256_name, &pub);
    assert_int_equal(pub.type, TPMKMS_TPM_ALG_ECC);
    assert_int_equal(pub.name_alg, TPMKMS_TPM_ALG_SHA256);
    assert_int_equal(pub.attributes, 0x00050072);
    assert_int_equal(pub.scheme, TPMKMS_TPM_ALG_ECDSA);
    assert_int_equal(pub.scheme_hash, TPMKMS_TPM_ALG_SHA256);
    assert_int_equal(pub.curve, TPMKMS_TPM_ECC_NIST_P256);
    assert_int_equal(tpmkms_tpm_check_ak(&pub), TPMKMS_R_OK);
    assert_int_equal(tpmkms_tpm_public_to_evp(NULL, &pub, "AK", &k),
                     TPMKMS_R_OK);
    assert_int_equal(EVP_PKEY_get_bits(k), 256);
    EVP_PKEY_free(k);

    round_trip(ek_h3, ek_h3_name, &pub);
    assert_int_equal(pub.name_alg, TPMKMS_TPM_ALG_SHA384);
    assert_int_equal(pub.attributes, 0x000300f2);
    assert_int_equal(pub.auth_policy_len, 48);
    assert_int_equal(pub.sym_alg, TPMKMS_TPM_ALG_AES);
    assert_int_equal(pub.sym_bits, 256);
    assert_int_equal(pub.sym_mode, TPMKMS_TPM_ALG_CFB);
    assert_int_equal(pub.scheme, TPMKMS_TPM_ALG_NULL);
    assert_int_equal(pub.kdf, TPMKMS_TPM_ALG_NULL);
    assert_int_equal(pub.x_len, 48);
    assert_string_equal(tpmkms_tpm_public_describe(&pub, desc, sizeof(desc)),
                        "ECC NIST P-384");
    /* An EK is no AK: decrypt set, sign clear. */
    assert_int_equal(tpmkms_tpm_check_ak(&pub), TPMKMS_R_NOT_AN_AK);
    assert_non_null(strstr(last_message(), "sign clear, decrypt set"));
}

static void bad_areas_are_refused_naming_the_field(void **state)
{
    unsigned char in[1024];
    size_t n = unhex(ak_p256, in), cut;
    TPMKMS_TPMT_PUBLIC pub;

    (void)state;
    /* Every truncation of the TPMT_PUBLIC fails; none reads past it. */
    for (cut = 0; cut < n - 2; cut++) {
        size_t used = 0;

        assert_int_equal(tpmkms_tpmt_public_parse(in + 2, cut, "AK", &used,
                                                  &pub),
                         TPMKMS_R_BAD_TPM_PUBLIC);
        ERR_clear_error();
    }
    /* The TPM2B size must be the rest. */
    assert_int_equal(tpmkms_tpm2b_public_parse(in, n - 1, "AK", &pub),
                     TPMKMS_R_BAD_TPM_PUBLIC);
    assert_non_null(strstr(last_message(), "AK: the TPM2B_PUBLIC says 88 "
                                           "bytes, but 87 follow"));
    ERR_clear_error();
    /* A keyedhash object is neither RSA nor ECC. */
    in[3] = 0x08;
    assert_int_equal(tpmkms_tpm2b_public_parse(in, n, "AK", &pub),
                     TPMKMS_R_BAD_TPM_PUBLIC);
    assert_non_null(strstr(last_message(), "type 0x0008 is neither RSA"));
    ERR_clear_error();
    /* An ECC coordinate larger than any curve's. */
    n = unhex(ak_p256, in);
    in[2 + 20] = 0x00;
    in[2 + 21] = 0x81;      /* unique x size 129 */
    assert_int_equal(tpmkms_tpm2b_public_parse(in, n, "AK", &pub),
                     TPMKMS_R_BAD_TPM_PUBLIC);
    assert_non_null(strstr(last_message(), "unique x has 129 bytes, more "
                                           "than 128"));
}

/* An L-1-shaped TPMT_PUBLIC around a software RSA key. */
static EVP_PKEY *software_ek(TPMKMS_TPMT_PUBLIC *ek)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    BIGNUM *n = NULL;

    assert_non_null(k);
    assert_true(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n));
    memset(ek, 0, sizeof(*ek));
    ek->type = TPMKMS_TPM_ALG_RSA;
    ek->name_alg = TPMKMS_TPM_ALG_SHA256;
    ek->attributes = 0x000300b2;
    ek->sym_alg = TPMKMS_TPM_ALG_AES;
    ek->sym_bits = 128;
    ek->sym_mode = TPMKMS_TPM_ALG_CFB;
    ek->scheme = TPMKMS_TPM_ALG_NULL;
    ek->rsa_bits = 2048;
    ek->x_len = (size_t)BN_num_bytes(n);
    assert_int_equal(BN_bn2bin(n, ek->x), (int)ek->x_len);
    BN_free(n);
    return k;
}

/* TPM2_ActivateCredential's steps (Part 1 credential protection). */
static void credential_unwraps_to_the_secret(void **state)
{
    static const unsigned char label[] = "IDENTITY";
    TPMKMS_TPMT_PUBLIC ek;
    TPMKMS_CREDENTIAL cred, again;
    EVP_PKEY *k = software_ek(&ek);
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
    unsigned char secret[32], name[34], seed[512], sym[16], hkey[32],
                  mac[32], plain[34], file[TPMKMS_CREDENTIAL_FILE_MAX];
    size_t seedlen = sizeof(seed), maclen = 0, n;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int outl = 0;

    (void)state;
    memset(secret, 0x5a, sizeof(secret));
    unhex(ak_p256_name, name);
    assert_int_equal(tpmkms_make_credential(NULL, &ek, name, sizeof(name),
                                            secret, sizeof(secret), &cred),
                     TPMKMS_R_OK);
    assert_int_equal(cred.secret_len, 2 + 256);
    assert_int_equal(cred.blob_len, 2 + 2 + 32 + 2 + 32);

    /* seed = OAEP-decrypt(secret, "IDENTITY\0", SHA-256) */
    assert_true(EVP_PKEY_decrypt_init(pctx) > 0);
    assert_true(EVP_PKEY_CTX_set_rsa_padding(pctx,
                                             RSA_PKCS1_OAEP_PADDING) > 0);
    assert_true(EVP_PKEY_CTX_set_rsa_oaep_md_name(pctx, "SHA256", NULL) > 0);
    assert_true(EVP_PKEY_CTX_set0_rsa_oaep_label(
                    pctx, OPENSSL_memdup(label, sizeof(label)),
                    sizeof(label)) > 0);
    assert_true(EVP_PKEY_decrypt(pctx, seed, &seedlen, cred.secret + 2,
                                 256) > 0);
    assert_int_equal(seedlen, 32);

    /* the outer HMAC over encIdentity || name */
    assert_int_equal(tpmkms_kdfa(NULL, TPMKMS_TPM_ALG_SHA256, seed, 32,
                                 "INTEGRITY", NULL, 0, NULL, 0, 256, hkey),
                     TPMKMS_R_OK);
    {
        EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
        EVP_MAC_CTX *mc = EVP_MAC_CTX_new(m);
        OSSL_PARAM p[] = {
            OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
            OSSL_PARAM_construct_end()
        };

        assert_true(EVP_MAC_init(mc, hkey, 32, p));
        assert_true(EVP_MAC_update(mc, cred.blob + 2 + 2 + 32, 34));
        assert_true(EVP_MAC_update(mc, name, sizeof(name)));
        assert_true(EVP_MAC_final(mc, mac, &maclen, sizeof(mac)));
        EVP_MAC_CTX_free(mc);
        EVP_MAC_free(m);
    }
    assert_int_equal(cred.blob[2], 0);
    assert_int_equal(cred.blob[3], 32);
    assert_memory_equal(mac, cred.blob + 4, 32);

    /* encIdentity decrypts to TPM2B_DIGEST(secret) */
    assert_int_equal(tpmkms_kdfa(NULL, TPMKMS_TPM_ALG_SHA256, seed, 32,
                                 "STORAGE", name, sizeof(name), NULL, 0, 128,
                                 sym), TPMKMS_R_OK);
    assert_true(EVP_DecryptInit_ex2(c, EVP_aes_128_cfb128(), sym, NULL,
                                    NULL));
    assert_true(EVP_DecryptUpdate(c, plain, &outl, cred.blob + 36, 34));
    assert_int_equal(outl, 34);
    assert_int_equal(plain[0], 0);
    assert_int_equal(plain[1], 32);
    assert_memory_equal(plain + 2, secret, 32);

    /* the tpm2-tools file round trip */
    n = tpmkms_credential_encode(&cred, file);
    assert_int_equal(n, 8 + cred.blob_len + cred.secret_len);
    assert_int_equal(tpmkms_credential_decode(file, n, &again), TPMKMS_R_OK);
    assert_memory_equal(&again, &cred, sizeof(cred));
    assert_int_equal(tpmkms_credential_decode(file, n - 1, &again),
                     TPMKMS_R_BAD_REQUEST);

    /* A secret larger than the name algorithm's digest is refused. */
    assert_int_equal(tpmkms_make_credential(NULL, &ek, name, sizeof(name),
                                            file, 33, &cred),
                     TPMKMS_R_BAD_PARAMETER);
    EVP_CIPHER_CTX_free(c);
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(k);
}

/* What tpmkms ak enroll-request writes, attest-ca challenge reads back. */
static void enroll_request_writes_what_the_parser_reads(void **state)
{
    unsigned char in[1024];
    TPMKMS_ENROLL_REQUEST req, back;
    BIO *mem = BIO_new(BIO_s_mem());
    char *text = NULL;
    long len;
    size_t n;

    (void)state;
    memset(&req, 0, sizeof(req));
    memset(&back, 0, sizeof(back));
    assert_non_null(mem);
    req.manufacturer = 0x49424D00;
    req.vendor[0] = 0x53572020;
    req.vendor[1] = 0x2054504D;
    req.firmware[0] = 0x20191023;
    req.firmware[1] = 0x00163636;
    n = unhex(ak_p256, in);
    assert_int_equal(tpmkms_tpm2b_public_parse(in, n, "AK", &req.ak),
                     TPMKMS_R_OK);
    n = unhex(ek_h3, in);
    assert_int_equal(tpmkms_tpm2b_public_parse(in, n, "EK", &req.ek),
                     TPMKMS_R_OK);
    assert_int_equal(tpmkms_tpm_name(NULL, &req.ak, "AK", req.ak_name,
                                     &req.ak_name_len), TPMKMS_R_OK);
    assert_int_equal(tpmkms_enroll_request_write(&req, "a test", mem),
                     TPMKMS_R_OK);
    len = BIO_get_mem_data(mem, &text);
    assert_true(len > 0);
    assert_int_equal(strncmp(text, "# a test\ntpmkms-enrollment-request: 1\n"
                             "tpm-manufacturer: 49424D00\n", 64), 0);
    assert_int_equal(tpmkms_enroll_request_parse(NULL, text, (size_t)len,
                                                 &back), TPMKMS_R_OK);
    assert_int_equal(back.manufacturer, req.manufacturer);
    assert_memory_equal(back.vendor, req.vendor, sizeof(req.vendor));
    assert_memory_equal(back.firmware, req.firmware, sizeof(req.firmware));
    assert_memory_equal(&back.ak, &req.ak, sizeof(req.ak));
    assert_memory_equal(&back.ek, &req.ek, sizeof(req.ek));
    assert_int_equal(back.ak_name_len, req.ak_name_len);
    assert_memory_equal(back.ak_name, req.ak_name, req.ak_name_len);
    assert_null(back.ek_cert);
    assert_int_equal(sk_X509_num(back.chain), 0);
    tpmkms_enroll_request_clear(&back);
    BIO_free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(kdfa_matches_independent_vectors, setup),
        cmocka_unit_test_setup(kdfe_matches_independent_vectors, setup),
        cmocka_unit_test_setup(tpm_areas_round_trip_and_give_the_tpms_names,
                               setup),
        cmocka_unit_test_setup(bad_areas_are_refused_naming_the_field, setup),
        cmocka_unit_test_setup(credential_unwraps_to_the_secret, setup),
        cmocka_unit_test_setup(enroll_request_writes_what_the_parser_reads,
                               setup),
    };

    tpmkms_err_init_standalone();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
