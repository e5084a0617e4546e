/*
 * Deleting a key through the library (lifecycle.c), over the fake
 * backend with a scripted TPM half: the record always goes first; an
 * eviction the TPM refuses is a partial delete, raised naming the handle
 * left and how to evict it; a handle that no longer holds the key leaves
 * a note and a complete delete; the key's certificate goes, another key's
 * stays.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "fake_backend.h"
#include "ctx.h"
#include "key.h"
#include "lifecycle.h"
#include "pubkey_evp.h"
#include "record.h"
#include "test_util.h"
#include "temp_store.h"


/* The scripted TPM half: what is at the persistent handle, and evict. */
static TPMKMS_BACKEND_METHOD method;
static TPMKMS_ADMIN_METHODS admin;
static TPMKMS_ATTEST_METHODS attest;     /* ak_create: the fake's create */
static int ak_creates;
static TPMKMS_PUBLIC at_handle;          /* alg NONE: nothing there */
static tpmkms_rc evict_fails_with;       /* 0: evict works */
static int evictions;
static int record_tpm;                   /* make_key writes tpm: */

static tpmkms_rc scripted_read_persistent(void *state, uint32_t handle,
                                          TPMKMS_PUBLIC *pub)
{
    if (at_handle.alg == TPMKMS_ALG_NONE) {
        TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND,
                     "no persistent key at handle 0x%08x", (unsigned)handle);
        return TPMKMS_R_KEY_NOT_FOUND;
    }
    *pub = at_handle;
    return TPMKMS_R_OK;
}

static tpmkms_rc scripted_evict(void *state, uint32_t handle,
                                const char *label)
{
    if (evict_fails_with != 0) {
        TPMKMS_raise(evict_fails_with, "%s: fake: the TPM refused the "
                     "eviction of 0x%08x", label, (unsigned)handle);
        return evict_fails_with;
    }
    evictions++;
    memset(&at_handle, 0, sizeof(at_handle));
    return TPMKMS_R_OK;
}

/* An AK, as far as the library can tell: the fake's key, made through
 * the attestation group. */
static tpmkms_rc scripted_ak_create(void *state,
                                    const TPMKMS_CREATE_PARAMS *params,
                                    TPMKMS_KEYDATA *key, TPMKMS_PUBLIC *pub)
{
    ak_creates++;
    return fake_backend_method()->keys->create(state, params, key, pub);
}

static int setup(void **state)
{
    (void)state;
    if (temp_store_make("lifecycle") != 0)
        return -1;
    fake_backend_reset();
    method = *fake_backend_method();
    admin = *method.admin;
    admin.read_persistent = scripted_read_persistent;
    admin.evict = scripted_evict;
    method.admin = &admin;
    memset(&attest, 0, sizeof(attest));
    attest.ak_create = scripted_ak_create;
    method.attest = &attest;
    ak_creates = 0;
    memset(&at_handle, 0, sizeof(at_handle));
    evict_fails_with = 0;
    evictions = 0;
    record_tpm = 1;
    ERR_clear_error();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return temp_store_remove();
}

/* Saves a record of a fresh fake key in dir; its public half in *pub. */
static void make_key(TPMKMS_CTX *ctx, const char *dir, const char *name,
                     tpmkms_scope scope, uint32_t persistent,
                     TPMKMS_PUBLIC *pub)
{
    TPMKMS_BACKEND *b = tpmkms_ctx_backend(ctx, NULL);
    TPMKMS_CREATE_PARAMS params = { TPMKMS_ALG_EC_P256, NULL, 0, name,
                                    TPMKMS_USAGE_BOTH };
    TPMKMS_RECORD rec;
    TPMKMS_KEYDATA made = { 0 };

    memset(&rec, 0, sizeof(rec));
    rec.version = TPMKMS_RECORD_VERSION;
    rec.name = (char *)name;
    rec.scope = scope;
    rec.alg = TPMKMS_ALG_EC_P256;
    rec.persistent = persistent;
    assert_int_equal(tpmkms_backend_create_key(b, &params, &made, pub),
                     TPMKMS_R_OK);
    assert_int_equal(tpmkms_keydata_to_blob(&made, &rec.blob, name),
                     TPMKMS_R_OK);
    if (record_tpm) {           /* as tpmkms_key_create does */
        TPMKMS_BUF id = { 0 };

        assert_int_equal(tpmkms_backend_tpm_identity(b, &id), TPMKMS_R_OK);
        rec.tpm_id = id.data;
        rec.tpm_id_len = id.len;
    }
    if (tpmkms_record_save(dir, &rec, 0) != TPMKMS_R_OK)
        fail_msg("save %s: %s", name, last_message());
    OPENSSL_free(rec.tpm_id);
    tpmkms_keyblob_clear(&rec.blob);
    tpmkms_keydata_clear(&made);
    tpmkms_backend_free(b);
}

/* A self-signed certificate for pub, stored as certs/<name>.pem in dir. */
static void store_cert(TPMKMS_CTX *ctx, const char *dir, const char *name,
                       const TPMKMS_PUBLIC *pub)
{
    EVP_PKEY *signer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *subject = tpmkms_public_to_evp(tpmkms_ctx_libctx(ctx), pub);
    X509 *x = X509_new();
    BIO *out = BIO_new(BIO_s_mem());
    char *pem;
    long len;

    assert_non_null(signer);
    assert_non_null(subject);
    assert_true(X509_set_pubkey(x, subject));
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)name, -1, -1, 0);
    assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
    assert_true(PEM_write_bio_X509(out, x));
    len = BIO_get_mem_data(out, &pem);
    assert_int_equal(tpmkms_cert_save(dir, name, pem, (size_t)len, 1),
                     TPMKMS_R_OK);
    BIO_free(out);
    X509_free(x);
    EVP_PKEY_free(subject);
    EVP_PKEY_free(signer);
}

static TPMKMS_URI *parse(const char *text)
{
    TPMKMS_URI *uri = NULL;

    if (tpmkms_uri_parse(text, &uri) != TPMKMS_R_OK)
        fail_msg("parse %s: %s", text, last_message());
    return uri;
}

static int cert_exists(const char *dir, const char *name)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/certs/%s.pem", dir, name);
    return access(path, F_OK) == 0;
}

static void delete_removes_record_and_its_certificate(void **state)
{
    TPMKMS_CTX *ctx = tpmkms_ctx_new(NULL, NULL, &method);
    TPMKMS_URI *uri = parse("tpmkms:name=web");
    TPMKMS_DELETE_RESULT res;
    TPMKMS_PUBLIC pub;

    make_key(ctx, ts_user_store, "web", TPMKMS_SCOPE_USER, 0, &pub);
    store_cert(ctx, ts_user_store, "web", &pub);
    assert_int_equal(tpmkms_key_delete(ctx, uri, &res), TPMKMS_R_OK);
    assert_string_equal(res.uri, "tpmkms:name=web;key-scope=user");
    assert_int_equal(res.evicted, 0);
    assert_non_null(strstr(res.removed, "/certs/web.pem"));
    assert_string_equal(res.left, "");
    assert_false(tpmkms_record_exists(ts_user_store, "web"));
    assert_false(cert_exists(ts_user_store, "web"));
    tpmkms_delete_result_clear(&res);
    /* Again: not found, nothing raised but that. */
    assert_int_equal(tpmkms_key_delete(ctx, uri, &res), TPMKMS_R_KEY_NOT_FOUND);
    tpmkms_delete_result_clear(&res);
    tpmkms_uri_free(uri);
    tpmkms_ctx_free(ctx);
}

static void delete_leaves_another_keys_certificate_with_a_note(void **state)
{
    TPMKMS_CTX *ctx = tpmkms_ctx_new(NULL, NULL, &method);
    TPMKMS_URI *uri = parse("tpmkms:name=web");
    TPMKMS_DELETE_RESULT res;
    TPMKMS_PUBLIC pub, other;

    make_key(ctx, ts_user_store, "web", TPMKMS_SCOPE_USER, 0, &pub);
    make_key(ctx, ts_machine_store, "web2", TPMKMS_SCOPE_MACHINE, 0, &other);
    store_cert(ctx, ts_machine_store, "web", &other);
    assert_int_equal(tpmkms_key_delete(ctx, uri, &res), TPMKMS_R_OK);
    assert_true(cert_exists(ts_machine_store, "web"));
    assert_non_null(strstr(res.notes, "its certificate is for another key"));
    tpmkms_delete_result_clear(&res);
    tpmkms_uri_free(uri);
    tpmkms_ctx_free(ctx);
}

static void delete_evicts_the_keys_persistent_handle(void **state)
{
    TPMKMS_CTX *ctx = tpmkms_ctx_new(NULL, NULL, &method);
    TPMKMS_URI *uri = parse("tpmkms:name=pk;key-scope=machine");
    TPMKMS_DELETE_RESULT res;

    make_key(ctx, ts_machine_store, "pk", TPMKMS_SCOPE_MACHINE, 0x81000010,
             &at_handle);
    assert_int_equal(tpmkms_key_delete(ctx, uri, &res), TPMKMS_R_OK);
    assert_int_equal(res.evicted, 0x81000010);
    assert_int_equal(evictions, 1);
    assert_false(tpmkms_record_exists(ts_machine_store, "pk"));
    tpmkms_delete_result_clear(&res);
    tpmkms_uri_free(uri);
    tpmkms_ctx_free(ctx);
}

static void delete_whose_eviction_fails_is_partial_and_removes_the_record(void **state)
{
    TPMKMS_CTX *ctx = tpmkms_ctx_new(NULL, NULL, &method);
    TPMKMS_URI *uri = parse("tpmkms:name=pa;key-scope=machine");
    TPMKMS_DELETE_RESULT res;

    make_key(ctx, ts_machine_store, "pa", TPMKMS_SCOPE_MACHINE, 0x81000012,
             &at_handle);
    store_cert(ctx, ts_machine_store, "pa", &at_handle);
    evict_fails_with = TPMKMS_R_TPM_UNAVAILABLE;
    assert_int_equal(tpmkms_key_delete(ctx, uri, &res),
                     TPMKMS_R_PARTIAL_DELETE);
    assert_int_equal(last_reason(), TPMKMS_R_PARTIAL_DELETE);
    assert_non_null(strstr(last_message(), "record removed, persistent handle "
                                           "0x81000012 is still in the TPM: "));
    assert_non_null(strstr(last_message(), "refused the eviction"));
    assert_non_null(strstr(last_message(),
                           "tpmkms delete 'tpmkms:handle=0x81000012'"));
    assert_int_equal(res.evicted, 0);
    assert_int_equal(evictions, 0);
    /* The record and the certificate are gone all the same. */
    assert_false(tpmkms_record_exists(ts_machine_store, "pa"));
    assert_false(cert_exists(ts_machine_store, "pa"));
    assert_non_null(strstr(res.removed, "/certs/pa.pem"));
    tpmkms_delete_result_clear(&res);
    ERR_clear_error();
    assert_int_equal(tpmkms_key_delete(ctx, uri, &res), TPMKMS_R_KEY_NOT_FOUND);
    tpmkms_delete_result_clear(&res);

    /* What was left goes with handle=. */
    evict_fails_with = 0;
    tpmkms_uri_free(uri);
    uri = parse("tpmkms:handle=0x81000012");
    assert_int_equal(tpmkms_key_delete(ctx, uri, &res), TPMKMS_R_OK);
    assert_int_equal(res.evicted, 0x81000012);
    assert_int_equal(evictions, 1);
    tpmkms_delete_result_clear(&res);
    tpmkms_uri_free(uri);
    tpmkms_ctx_free(ctx);
}

static void delete_whose_handle_holds_nothing_of_the_key_is_complete(void **state)
{
    TPMKMS_CTX *ctx = tpmkms_ctx_new(NULL, NULL, &method);
    TPMKMS_URI *uri = parse("tpmkms:name=gone;key-scope=machine");
    TPMKMS_DELETE_RESULT res;
    TPMKMS_PUBLIC pub;

    make_key(ctx, ts_machine_store, "gone", TPMKMS_SCOPE_MACHINE, 0x81000011,
             &pub);
    /* at_handle is empty: evicted behind our back. */
    assert_int_equal(tpmkms_key_delete(ctx, uri, &res), TPMKMS_R_OK);
    assert_non_null(strstr(res.notes, "persistent handle 0x81000011 was not "
                                      "in the TPM as this key, nothing to "
                                      "evict"));
    assert_int_equal(evictions, 0);
    assert_int_equal(ERR_peek_error(), 0);
    tpmkms_delete_result_clear(&res);
    tpmkms_uri_free(uri);
    tpmkms_ctx_free(ctx);
}

/*
 * Issue 20, defect 6: deleted through another TPM, the handle there is
 * empty or holds another key, which looked like "evicted behind our
 * back".  The record names the TPM that made the key: refused, naming
 * both TPMs, with nothing changed; through the right TPM it goes.
 */
static void delete_through_another_tpm_refuses_and_changes_nothing(void **state)
{
    TPMKMS_CTX *ctx = tpmkms_ctx_new(NULL, NULL, &method);
    TPMKMS_URI *uri = parse("tpmkms:name=pk;key-scope=machine");
    TPMKMS_DELETE_RESULT res;
    TPMKMS_PUBLIC pub;

    make_key(ctx, ts_machine_store, "pk", TPMKMS_SCOPE_MACHINE, 0x81000010,
             &pub);
    store_cert(ctx, ts_machine_store, "pk", &pub);
    at_handle = pub;
    fake_set_tpm(0xB2);                 /* another TPM */
    ERR_clear_error();
    assert_int_equal(tpmkms_key_delete(ctx, uri, &res), TPMKMS_R_WRONG_TPM);
    assert_int_equal(last_reason(), TPMKMS_R_WRONG_TPM);
    assert_non_null(strstr(last_message(), "tpmkms:name=pk;key-scope=machine "
                                           "was made by another TPM"));
    assert_non_null(strstr(last_message(), "SRK name is a1a1a1a1a1a1..."));
    assert_non_null(strstr(last_message(), "this TPM's is b2b2b2b2b2b2..."));
    assert_non_null(strstr(last_message(), "nothing was changed: the record "));
    assert_non_null(strstr(last_message(), "/keys/pk.tpmkey and persistent "
                                           "handle 0x81000010 stay"));
    assert_true(tpmkms_record_exists(ts_machine_store, "pk"));
    assert_true(cert_exists(ts_machine_store, "pk"));
    assert_int_equal(evictions, 0);
    assert_int_equal(res.evicted, 0);
    assert_true(tpmkms_public_equal(&at_handle, &pub));
    tpmkms_delete_result_clear(&res);
    ERR_clear_error();

    /* The TPM that made it: deleted, handle evicted. */
    fake_set_tpm(0xA1);
    assert_int_equal(tpmkms_key_delete(ctx, uri, &res), TPMKMS_R_OK);
    assert_int_equal(res.evicted, 0x81000010);
    assert_int_equal(evictions, 1);
    assert_false(tpmkms_record_exists(ts_machine_store, "pk"));
    assert_false(cert_exists(ts_machine_store, "pk"));
    tpmkms_delete_result_clear(&res);
    tpmkms_uri_free(uri);
    tpmkms_ctx_free(ctx);
}

/* A record without tpm: (older tpmkms) cannot be told apart: as before,
 * an empty handle on whatever TPM is connected makes a complete delete. */
static void delete_of_a_record_without_tpm_identity_is_as_before(void **state)
{
    TPMKMS_CTX *ctx = tpmkms_ctx_new(NULL, NULL, &method);
    TPMKMS_URI *uri = parse("tpmkms:name=old;key-scope=machine");
    TPMKMS_DELETE_RESULT res;
    TPMKMS_PUBLIC pub;

    record_tpm = 0;
    make_key(ctx, ts_machine_store, "old", TPMKMS_SCOPE_MACHINE, 0x81000010,
             &pub);
    fake_set_tpm(0xB2);
    fake_counts.identities = 0;
    assert_int_equal(tpmkms_key_delete(ctx, uri, &res), TPMKMS_R_OK);
    assert_int_equal(fake_counts.identities, 0);    /* not even asked */
    assert_non_null(strstr(res.notes, "persistent handle 0x81000010 was not "
                                      "in the TPM as this key"));
    assert_false(tpmkms_record_exists(ts_machine_store, "old"));
    tpmkms_delete_result_clear(&res);
    tpmkms_uri_free(uri);
    tpmkms_ctx_free(ctx);
}

/* A key without a persistent handle has nothing in any TPM: no check. */
static void delete_of_a_non_persistent_key_does_not_ask_the_tpm(void **state)
{
    TPMKMS_CTX *ctx = tpmkms_ctx_new(NULL, NULL, &method);
    TPMKMS_URI *uri = parse("tpmkms:name=web");
    TPMKMS_DELETE_RESULT res;
    TPMKMS_PUBLIC pub;

    make_key(ctx, ts_user_store, "web", TPMKMS_SCOPE_USER, 0, &pub);
    fake_set_tpm(0xB2);
    fake_counts.identities = 0;
    assert_int_equal(tpmkms_key_delete(ctx, uri, &res), TPMKMS_R_OK);
    assert_int_equal(fake_counts.identities, 0);
    assert_false(tpmkms_record_exists(ts_user_store, "web"));
    tpmkms_delete_result_clear(&res);
    tpmkms_uri_free(uri);
    tpmkms_ctx_free(ctx);
}

static void delete_by_handle_refuses_the_srk_and_a_recorded_handle(void **state)
{
    TPMKMS_CTX *ctx = tpmkms_ctx_new(NULL, NULL, &method);
    TPMKMS_URI *srk = parse("tpmkms:handle=0x81000001");
    TPMKMS_URI *owned = parse("tpmkms:handle=0x81000010");
    TPMKMS_DELETE_RESULT res;

    assert_int_equal(tpmkms_key_delete(ctx, srk, &res), TPMKMS_R_BAD_PARAMETER);
    assert_non_null(strstr(last_message(), "SRK"));
    make_key(ctx, ts_machine_store, "pk", TPMKMS_SCOPE_MACHINE, 0x81000010,
             &at_handle);
    assert_int_equal(tpmkms_key_delete(ctx, owned, &res),
                     TPMKMS_R_BAD_PARAMETER);
    assert_non_null(strstr(last_message(), "belongs to the machine key 'pk'"));
    assert_int_equal(evictions, 0);
    tpmkms_delete_result_clear(&res);
    tpmkms_uri_free(srk);
    tpmkms_uri_free(owned);
    tpmkms_ctx_free(ctx);
}

static void cert_import_stores_the_keys_chain_and_refuses_another_key(void **state)
{
    TPMKMS_CTX *ctx = tpmkms_ctx_new(NULL, NULL, &method);
    TPMKMS_URI *uri = parse("tpmkms:name=svc;store-location=machine");
    TPMKMS_IMPORT_RESULT res;
    TPMKMS_PUBLIC pub, other;
    STACK_OF(X509) *certs = sk_X509_new_null();
    char path[256];

    make_key(ctx, ts_user_store, "svc", TPMKMS_SCOPE_USER, 0, &pub);
    make_key(ctx, ts_user_store, "x", TPMKMS_SCOPE_USER, 0, &other);
    /* Another key's certificate first: refused. */
    store_cert(ctx, ts_user_store, "x", &other);
    snprintf(path, sizeof(path), "%s/certs/x.pem", ts_user_store);
    assert_int_equal(tpmkms_certs_read_file(path, certs), TPMKMS_R_OK);
    assert_int_equal(tpmkms_cert_import(ctx, uri, certs, path, 0, &res),
                     TPMKMS_R_BAD_PARAMETER);
    assert_non_null(strstr(last_message(), "is for another public key than "
                                           "tpmkms:name=svc;key-scope=user"));
    assert_false(cert_exists(ts_machine_store, "svc"));
    tpmkms_import_result_clear(&res);
    sk_X509_pop_free(certs, X509_free);

    /* Its own: stored where store-location says; again needs overwrite. */
    certs = sk_X509_new_null();
    store_cert(ctx, ts_user_store, "svc", &pub);
    snprintf(path, sizeof(path), "%s/certs/svc.pem", ts_user_store);
    assert_int_equal(tpmkms_certs_read_file(path, certs), TPMKMS_R_OK);
    assert_int_equal(tpmkms_cert_import(ctx, uri, certs, path, 0, &res),
                     TPMKMS_R_OK);
    assert_int_equal(res.count, 1);
    assert_string_equal(res.cert_dir, ts_machine_store);
    assert_string_equal(res.subject, "CN = svc");
    assert_true(cert_exists(ts_machine_store, "svc"));
    tpmkms_import_result_clear(&res);
    assert_int_equal(tpmkms_cert_import(ctx, uri, certs, path, 0, &res),
                     TPMKMS_R_KEY_EXISTS);
    assert_int_equal(tpmkms_cert_import(ctx, uri, certs, path, 1, &res),
                     TPMKMS_R_OK);
    tpmkms_import_result_clear(&res);
    sk_X509_pop_free(certs, X509_free);
    tpmkms_uri_free(uri);
    tpmkms_ctx_free(ctx);
}

/*
 * An attestation key: made through the attestation group, its record
 * kind: ak; a key cannot take its name (overwrite or not), delete of a
 * key refuses it and changes nothing, signing with it is refused before
 * the backend is asked, and deleting it as an AK works.
 */
static void attestation_keys_keep_apart_from_keys(void **state)
{
    TPMKMS_CTX *ctx = tpmkms_ctx_new(NULL, NULL, &method);
    TPMKMS_URI *uri = parse("tpmkms:name=ak1;key-scope=machine");
    TPMKMS_CREATE_OPTS co = { 0 };
    TPMKMS_DELETE_RESULT res;
    TPMKMS_RECORD *rec = NULL;
    TPMKMS_KEY *key = NULL;
    unsigned char dg[32] = { 0 }, sig[TPMKMS_SIG_MAX];
    size_t siglen = sizeof(sig);
    int creates;

    co.alg = TPMKMS_ALG_EC_P256;
    co.kind = TPMKMS_KIND_AK;
    assert_int_equal(tpmkms_key_create_ex(ctx, uri, &co, &key), TPMKMS_R_OK);
    assert_int_equal(ak_creates, 1);
    assert_int_equal(key->kind, TPMKMS_KIND_AK);
    assert_int_equal(tpmkms_record_load(ts_machine_store, "ak1", &rec),
                     TPMKMS_R_OK);
    assert_int_equal(rec->kind, TPMKMS_KIND_AK);
    assert_int_equal(rec->scope, TPMKMS_SCOPE_MACHINE);
    tpmkms_record_free(rec);

    /* Signing: refused, the backend never asked. */
    assert_int_equal(tpmkms_key_sign(key, TPMKMS_SCHEME_ECDSA,
                                     TPMKMS_HASH_SHA256, dg, sizeof(dg), sig,
                                     &siglen), TPMKMS_R_UNSUPPORTED_ALGORITHM);
    assert_non_null(strstr(last_message(), "tpmkms:name=ak1;key-scope=machine "
                           "is an attestation key (restricted): it signs only "
                           "TPM-made statements, not arbitrary data"));
    assert_int_equal(fake_counts.signs, 0);
    ERR_clear_error();
    tpmkms_key_free(key);

    /* A key over it: refused before the TPM is asked, overwrite or not. */
    creates = fake_counts.creates;
    co.kind = TPMKMS_KIND_KEY;
    for (co.overwrite = 0; co.overwrite <= 1; co.overwrite++) {
        assert_int_equal(tpmkms_key_create_ex(ctx, uri, &co, NULL),
                         TPMKMS_R_KEY_EXISTS);
        assert_non_null(strstr(last_message(), "is an existing attestation "
                               "key"));
        ERR_clear_error();
    }
    assert_int_equal(fake_counts.creates, creates);
    assert_int_equal(ak_creates, 1);

    /* Deleted as a key: refused, the record stays. */
    assert_int_equal(tpmkms_key_delete(ctx, uri, &res),
                     TPMKMS_R_BAD_PARAMETER);
    assert_non_null(strstr(last_message(), "is an attestation key, not a "
                           "key: use tpmkms ak delete"));
    ERR_clear_error();
    tpmkms_delete_result_clear(&res);
    assert_true(tpmkms_record_exists(ts_machine_store, "ak1"));
    assert_int_equal(tpmkms_key_delete_kind(ctx, uri, TPMKMS_KIND_AK, &res),
                     TPMKMS_R_OK);
    assert_string_equal(res.uri, "tpmkms:name=ak1;key-scope=machine");
    assert_false(tpmkms_record_exists(ts_machine_store, "ak1"));
    tpmkms_delete_result_clear(&res);
    tpmkms_uri_free(uri);
    tpmkms_ctx_free(ctx);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(delete_removes_record_and_its_certificate),
        T(delete_leaves_another_keys_certificate_with_a_note),
        T(delete_evicts_the_keys_persistent_handle),
        T(delete_whose_eviction_fails_is_partial_and_removes_the_record),
        T(delete_whose_handle_holds_nothing_of_the_key_is_complete),
        T(delete_through_another_tpm_refuses_and_changes_nothing),
        T(delete_of_a_record_without_tpm_identity_is_as_before),
        T(delete_of_a_non_persistent_key_does_not_ask_the_tpm),
        T(delete_by_handle_refuses_the_srk_and_a_recorded_handle),
        T(cert_import_stores_the_keys_chain_and_refuses_another_key),
        T(attestation_keys_keep_apart_from_keys),
    };

    tpmkms_err_init_standalone();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
