/*
 * The OSSL_STORE loader (provider/store/store.c), driven through its
 * dispatch functions over a temporary key store and the fake backend:
 * what one tpmkms:name= URI yields (the key by reference with its
 * canonical URI, then its certificate), how a missing key and a bad URI
 * fail, and keyauth.h's one policy for a key with an auth value.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/x509.h>

/* The code under test, with its static functions. */
#include "../../provider/store/store.c"

#include "fake_backend.h"
#include "temp_store.h"
#include "test_util.h"

static TPMKMS_PROVCTX provctx;

/* What the object callback was handed. */
#define MAX_OBJECTS 4
static struct {
    int type;
    char data_type[16];
    char desc[256];
    TPMKMS_KEY *key;            /* own ref, as keymgmt's load takes */
    unsigned char *data;        /* OSSL_OBJECT_PARAM_DATA, copied */
    size_t data_len;
} objects[MAX_OBJECTS];
static int n_objects;

/* The passphrase callback: what it answers and what it was asked. */
static const char *pw_answer;   /* NULL: gives no answer */
static int pw_calls;
static char pw_info[256];

static int record_object(const OSSL_PARAM params[], void *arg)
{
    const OSSL_PARAM *p;
    const char *s = NULL;
    const void *ref = NULL;
    size_t ref_len = 0;

    (void)arg;
    assert_true(n_objects < MAX_OBJECTS);
    assert_non_null(p = OSSL_PARAM_locate_const(params, OSSL_OBJECT_PARAM_TYPE));
    assert_true(OSSL_PARAM_get_int(p, &objects[n_objects].type));
    if ((p = OSSL_PARAM_locate_const(params, OSSL_OBJECT_PARAM_DATA_TYPE)) != NULL
            && OSSL_PARAM_get_utf8_string_ptr(p, &s))
        snprintf(objects[n_objects].data_type, sizeof(objects[0].data_type),
                 "%s", s);
    if ((p = OSSL_PARAM_locate_const(params, OSSL_OBJECT_PARAM_DESC)) != NULL
            && OSSL_PARAM_get_utf8_string_ptr(p, &s))
        snprintf(objects[n_objects].desc, sizeof(objects[0].desc), "%s", s);
    if ((p = OSSL_PARAM_locate_const(params, OSSL_OBJECT_PARAM_REFERENCE)) != NULL) {
        assert_true(OSSL_PARAM_get_octet_string_ptr(p, &ref, &ref_len));
        assert_int_equal(ref_len, sizeof(TPMKMS_KEY *));
        memcpy(&objects[n_objects].key, ref, sizeof(TPMKMS_KEY *));
        assert_true(tpmkms_key_up_ref(objects[n_objects].key));
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_OBJECT_PARAM_DATA)) != NULL
            && (p->data_type == OSSL_PARAM_OCTET_STRING
                || p->data_type == OSSL_PARAM_UTF8_STRING)) {
        /* One spare NUL: a name reads as a string. */
        objects[n_objects].data = OPENSSL_zalloc(p->data_size + 1);
        memcpy(objects[n_objects].data, p->data, p->data_size);
        objects[n_objects].data_len = p->data_size;
    }
    n_objects++;
    return 1;
}

static int answer_pass(char *pass, size_t pass_size, size_t *pass_len,
                       const OSSL_PARAM params[], void *arg)
{
    const OSSL_PARAM *p;
    const char *info = NULL;

    (void)arg;
    pw_calls++;
    p = OSSL_PARAM_locate_const(params, OSSL_PASSPHRASE_PARAM_INFO);
    if (p != NULL && OSSL_PARAM_get_utf8_string_ptr(p, &info))
        snprintf(pw_info, sizeof(pw_info), "%s", info);
    if (pw_answer == NULL)
        return 0;
    *pass_len = strlen(pw_answer);
    assert_true(*pass_len <= pass_size);
    memcpy(pass, pw_answer, *pass_len);
    return 1;
}

static int setup(void **state)
{
    (void)state;
    if (temp_store_make("store") != 0)
        return -1;
    fake_backend_reset();
    ERR_clear_error();
    memset(objects, 0, sizeof(objects));
    n_objects = 0;
    pw_answer = NULL;
    pw_calls = 0;
    pw_info[0] = '\0';
    memset(&provctx, 0, sizeof(provctx));
    provctx.ctx = tpmkms_ctx_new(NULL, NULL, fake_backend_method());
    return provctx.ctx == NULL;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < n_objects; i++) {
        tpmkms_key_free(objects[i].key);
        OPENSSL_free(objects[i].data);
    }
    tpmkms_ctx_free(provctx.ctx);
    return temp_store_remove();
}

/* Creates a key record (and keeps nothing open); its public half in *pub. */
static void make_key(const char *text, TPMKMS_PUBLIC *pub)
{
    TPMKMS_URI *uri = NULL;
    TPMKMS_KEY *key = NULL;

    assert_int_equal(tpmkms_uri_parse(text, &uri), TPMKMS_R_OK);
    assert_int_equal(tpmkms_key_create(provctx.ctx, uri, TPMKMS_ALG_EC_P256,
                                       0, &key), TPMKMS_R_OK);
    if (pub != NULL)
        *pub = key->pub;
    tpmkms_key_free(key);
    tpmkms_uri_free(uri);
}

/* A self-signed certificate as PEM (the caller frees) and as DER. */
static char *make_cert(unsigned char **der, int *der_len)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    X509_NAME *name;
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem, *mem;
    long len;

    assert_non_null(pkey);
    assert_non_null(x);
    assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), 1));
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    name = X509_get_subject_name(x);
    assert_true(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                           (const unsigned char *)"web", -1,
                                           -1, 0));
    assert_true(X509_set_issuer_name(x, name));
    assert_true(X509_set_pubkey(x, pkey));
    assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);
    assert_true(PEM_write_bio_X509(bio, x));
    len = BIO_get_mem_data(bio, &mem);
    pem = OPENSSL_strndup(mem, (size_t)len);
    *der = NULL;
    *der_len = i2d_X509(x, der);
    assert_true(*der_len > 0);
    BIO_free(bio);
    X509_free(x);
    EVP_PKEY_free(pkey);
    return pem;
}

static void store_load_hands_out_one_pkey_named_by_its_canonical_uri(void **state)
{
    TPMKMS_PUBLIC pub;
    void *sctx;

    (void)state;
    make_key("tpmkms:name=web", &pub);
    fake_backend_reset();
    assert_non_null(sctx = tpmkms_store_open(&provctx, "tpmkms:name=web"));
    assert_int_equal(tpmkms_store_eof(sctx), 0);
    assert_int_equal(tpmkms_store_load(sctx, record_object, NULL, answer_pass,
                                       NULL), 1);
    assert_int_equal(n_objects, 1);
    assert_int_equal(objects[0].type, OSSL_OBJECT_PKEY);
    assert_string_equal(objects[0].data_type, "EC");
    assert_string_equal(objects[0].desc, "tpmkms:name=web;key-scope=user");
    assert_non_null(objects[0].key);
    assert_true(tpmkms_public_equal(&objects[0].key->pub, &pub));
    /* No certificate stored: that was all. */
    assert_int_equal(tpmkms_store_load(sctx, record_object, NULL, answer_pass,
                                       NULL), 0);
    assert_int_equal(n_objects, 1);
    assert_int_equal(tpmkms_store_eof(sctx), 1);
    assert_int_equal(tpmkms_store_close(sctx), 1);
    /* A key without an auth value asks for none; nothing went to the TPM. */
    assert_int_equal(pw_calls, 0);
    assert_int_equal(fake_counts.connects, 0);
    /* The reference outlives the store: keymgmt's load took its own. */
    assert_int_equal(objects[0].key->refcnt, 1);
}

static void store_load_yields_the_stored_certificate_after_the_key(void **state)
{
    unsigned char *der = NULL;
    int der_len = 0;
    char *pem = make_cert(&der, &der_len);
    void *sctx;

    (void)state;
    make_key("tpmkms:name=web", NULL);
    assert_int_equal(tpmkms_cert_save(ts_user_store, "web", pem, strlen(pem), 0),
                     TPMKMS_R_OK);
    assert_non_null(sctx = tpmkms_store_open(&provctx, "tpmkms:name=web"));
    while (!tpmkms_store_eof(sctx)
           && tpmkms_store_load(sctx, record_object, NULL, NULL, NULL))
        ;
    assert_int_equal(n_objects, 2);
    assert_int_equal(objects[0].type, OSSL_OBJECT_PKEY);
    assert_int_equal(objects[1].type, OSSL_OBJECT_CERT);
    assert_int_equal(objects[1].data_len, (size_t)der_len);
    assert_memory_equal(objects[1].data, der, (size_t)der_len);
    assert_int_equal(tpmkms_store_eof(sctx), 1);
    tpmkms_store_close(sctx);
    OPENSSL_free(der);
    OPENSSL_free(pem);
}

static void store_expecting_certificates_skips_the_key(void **state)
{
    unsigned char *der = NULL;
    int der_len = 0, expect = OSSL_STORE_INFO_CERT;
    char *pem = make_cert(&der, &der_len);
    OSSL_PARAM params[2];
    void *sctx;

    (void)state;
    make_key("tpmkms:name=web", NULL);
    assert_int_equal(tpmkms_cert_save(ts_user_store, "web", pem, strlen(pem), 0),
                     TPMKMS_R_OK);
    assert_non_null(sctx = tpmkms_store_open(&provctx, "tpmkms:name=web"));
    params[0] = OSSL_PARAM_construct_int(OSSL_STORE_PARAM_EXPECT, &expect);
    params[1] = OSSL_PARAM_construct_end();
    assert_int_equal(tpmkms_store_set_ctx_params(sctx, params), 1);
    assert_int_equal(tpmkms_store_load(sctx, record_object, NULL, NULL, NULL), 1);
    assert_int_equal(n_objects, 1);
    assert_int_equal(objects[0].type, OSSL_OBJECT_CERT);
    assert_memory_equal(objects[0].data, der, (size_t)der_len);
    tpmkms_store_close(sctx);
    OPENSSL_free(der);
    OPENSSL_free(pem);
}

static void store_open_of_a_missing_name_fails_with_key_not_found(void **state)
{
    (void)state;
    make_key("tpmkms:name=web", NULL);
    fake_backend_reset();
    assert_null(tpmkms_store_open(&provctx, "tpmkms:name=nosuchkey"));
    assert_int_equal(last_reason(), TPMKMS_R_KEY_NOT_FOUND);
    assert_non_null(strstr(last_message(), "nosuchkey"));
    assert_int_equal(fake_counts.connects, 0);
}

static void store_open_of_a_bad_uri_fails_with_bad_uri(void **state)
{
    (void)state;
    assert_null(tpmkms_store_open(&provctx, "tpmkms:name=web;key-scope=nowhere"));
    assert_int_equal(last_reason(), TPMKMS_R_BAD_URI);
    ERR_clear_error();
    assert_null(tpmkms_store_open(&provctx, "tpmkms:name=web;frobnicate=1"));
    assert_int_equal(last_reason(), TPMKMS_R_BAD_URI);
    assert_non_null(strstr(last_message(), "frobnicate"));
}

static void store_asks_the_passphrase_callback_for_a_keys_auth_value(void **state)
{
    unsigned char digest[32] = { 0 }, sig[TPMKMS_SIG_MAX];
    size_t siglen = sizeof(sig);
    void *sctx;

    (void)state;
    make_key("tpmkms:name=pinned;pin-value=1234", NULL);
    fake_backend_reset();
    pw_answer = "1234";
    assert_non_null(sctx = tpmkms_store_open(&provctx, "tpmkms:name=pinned"));
    assert_int_equal(tpmkms_store_load(sctx, record_object, NULL, answer_pass,
                                       NULL), 1);
    tpmkms_store_close(sctx);
    assert_int_equal(pw_calls, 1);
    assert_string_equal(pw_info, "tpmkms:name=pinned;key-scope=user");
    assert_int_equal(n_objects, 1);
    /* The answer is the key's auth value: it signs. */
    assert_int_equal(objects[0].key->ref.auth_len, 4);
    assert_memory_equal(objects[0].key->ref.auth, "1234", 4);
    assert_int_equal(tpmkms_key_sign(objects[0].key, TPMKMS_SCHEME_ECDSA,
                                     TPMKMS_HASH_SHA256, digest, sizeof(digest),
                                     sig, &siglen), TPMKMS_R_OK);
    assert_int_equal(fake_counts.signs, 1);
}

static void store_load_without_an_auth_value_fails_and_sends_nothing(void **state)
{
    void *sctx;

    (void)state;
    make_key("tpmkms:name=pinned;pin-value=1234", NULL);
    fake_backend_reset();

    /* A callback that gives no answer. */
    assert_non_null(sctx = tpmkms_store_open(&provctx, "tpmkms:name=pinned"));
    assert_int_equal(tpmkms_store_load(sctx, record_object, NULL, answer_pass,
                                       NULL), 0);
    assert_int_equal(pw_calls, 1);
    assert_int_equal(last_reason(), TPMKMS_R_AUTH_FAILED);
    assert_non_null(strstr(last_message(), "tpmkms:name=pinned;key-scope=user"));
    assert_non_null(strstr(last_message(), "nothing was sent to the TPM"));
    assert_int_equal(tpmkms_store_eof(sctx), 1);
    tpmkms_store_close(sctx);

    /* No callback at all. */
    ERR_clear_error();
    assert_non_null(sctx = tpmkms_store_open(&provctx, "tpmkms:name=pinned"));
    assert_int_equal(tpmkms_store_load(sctx, record_object, NULL, NULL, NULL), 0);
    assert_int_equal(last_reason(), TPMKMS_R_AUTH_FAILED);
    tpmkms_store_close(sctx);

    assert_int_equal(n_objects, 0);
    assert_int_equal(fake_counts.connects, 0);
    assert_int_equal(fake_counts.signs, 0);
}

static void store_without_a_name_lists_the_keys_as_uris(void **state)
{
    void *sctx;

    (void)state;
    make_key("tpmkms:name=alpha", NULL);
    make_key("tpmkms:name=beta;key-scope=machine", NULL);
    assert_non_null(sctx = tpmkms_store_open(&provctx, "tpmkms:"));
    while (!tpmkms_store_eof(sctx)
           && tpmkms_store_load(sctx, record_object, NULL, NULL, NULL))
        ;
    tpmkms_store_close(sctx);
    assert_int_equal(n_objects, 2);
    assert_int_equal(objects[0].type, OSSL_OBJECT_NAME);
    assert_int_equal(objects[1].type, OSSL_OBJECT_NAME);
    /* User store first, then machine; each name with its scope. */
    assert_string_equal((char *)objects[0].data,
                        "tpmkms:name=alpha;key-scope=user");
    assert_string_equal((char *)objects[1].data,
                        "tpmkms:name=beta;key-scope=machine");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(store_load_hands_out_one_pkey_named_by_its_canonical_uri),
        T(store_load_yields_the_stored_certificate_after_the_key),
        T(store_expecting_certificates_skips_the_key),
        T(store_open_of_a_missing_name_fails_with_key_not_found),
        T(store_open_of_a_bad_uri_fails_with_bad_uri),
        T(store_asks_the_passphrase_callback_for_a_keys_auth_value),
        T(store_load_without_an_auth_value_fails_and_sends_nothing),
        T(store_without_a_name_lists_the_keys_as_uris),
    };

    tpmkms_err_init_standalone();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
